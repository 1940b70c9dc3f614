/* Monotonic time in milliseconds. Pure code takes "now" as an argument;
 * only the thin I/O shells call mtime_now(). */
#ifndef PUNCH_MTIME_H
#define PUNCH_MTIME_H

#include <stdint.h>

typedef int64_t mtime_ms;

/* CLOCK_MONOTONIC in milliseconds. */
mtime_ms mtime_now(void);
/* Milliseconds from now until deadline, clamped to [0, INT32_MAX]; -1 if deadline < 0 (none). */
int mtime_until(mtime_ms now, mtime_ms deadline);
/* The earlier of two deadlines, where a negative one means none. */
mtime_ms mtime_earliest(mtime_ms a, mtime_ms b);

#endif
