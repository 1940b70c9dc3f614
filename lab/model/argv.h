/* A program's argument vector built piece by piece (printf-style), in one
 * fixed block: no allocation, nothing to free. */
#ifndef PUNCH_ARGV_H
#define PUNCH_ARGV_H

#include <stdbool.h>

#define ARGV_MAX 48   /* arguments, argv[0] included */
#define ARGV_LEN 128  /* bytes per argument, NUL included */

struct argv_buf {
	const char *v[ARGV_MAX + 1]; /* NULL-terminated, for run_add() */
	int n;
	bool overflow;              /* an argument did not fit, or there were too many: do not run it */
	char store[ARGV_MAX][ARGV_LEN];
};

/* Start an empty vector. */
void argv_init(struct argv_buf *a);
/* Append one argument. On overflow nothing is appended and a->overflow is set. */
void argv_add(struct argv_buf *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
