#include "common/duration.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* The milliseconds in one of a unit, or 0 for no such unit. */
static uint64_t unit_ms(const char *u, unsigned flags)
{
	if (strcmp(u, "ms") == 0)
		return 1;
	if (strcmp(u, "s") == 0)
		return 1000;
	if (strcmp(u, "m") == 0)
		return 60000;
	if (*u == '\0' && !(flags & DURATION_UNIT))
		return 1000;
	return 0;
}

int duration_parse(const char *s, unsigned flags, uint64_t min_ms, uint64_t max_ms, uint64_t *ms)
{
	uint64_t whole = 0, frac = 0, scale = 1, unit, part, v;
	bool huge = false;
	const char *p = s;

	if (!is_digit(*p))
		return -EINVAL;
	/* The whole part saturates rather than wraps: a long number is too
	 * large (-ERANGE), never a small one. */
	for (; is_digit(*p); p++) {
		uint64_t d = (uint64_t)(*p - '0');

		if (huge || whole > (UINT64_MAX - d) / 10)
			huge = true;
		else
			whole = whole * 10 + d;
	}
	if (*p == '.') {
		if ((flags & DURATION_WHOLE) || !is_digit(p[1]))
			return -EINVAL;
		/* Six digits of fraction are finer than a millisecond in any unit
		 * but ms itself, where the fraction is dropped anyway. */
		for (p++; is_digit(*p); p++)
			if (scale < 1000000) {
				frac = frac * 10 + (uint64_t)(*p - '0');
				scale *= 10;
			}
	}
	unit = unit_ms(p, flags);
	if (unit == 0)
		return -EINVAL;
	part = frac * unit / scale; /* below unit: frac < scale */
	if (huge || whole > (UINT64_MAX - part) / unit)
		return -ERANGE;
	v = whole * unit + part;
	if (v < min_ms || v > max_ms)
		return -ERANGE;
	*ms = v;
	return 0;
}

const char *duration_fmt(uint64_t ms, char *buf, size_t size)
{
	if (ms && ms % 60000 == 0)
		snprintf(buf, size, "%llum", (unsigned long long)(ms / 60000));
	else if (ms % 1000 == 0)
		snprintf(buf, size, "%llus", (unsigned long long)(ms / 1000));
	else
		snprintf(buf, size, "%llums", (unsigned long long)ms);
	return buf;
}
