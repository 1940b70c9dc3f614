/* Argument vectors. See argv.h. */
#include "model/argv.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void argv_init(struct argv_buf *a)
{
	memset(a, 0, sizeof(*a));
}

void argv_add(struct argv_buf *a, const char *fmt, ...)
{
	va_list ap;
	int len;

	if (a->n >= ARGV_MAX) {
		a->overflow = true;
		return;
	}
	va_start(ap, fmt);
	len = vsnprintf(a->store[a->n], sizeof(a->store[a->n]), fmt, ap);
	va_end(ap);
	if (len < 0 || len >= ARGV_LEN) {
		a->overflow = true; /* a cut address or path would run something else */
		return;
	}
	a->v[a->n] = a->store[a->n];
	a->v[++a->n] = NULL;
}
