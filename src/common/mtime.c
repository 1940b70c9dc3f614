#include "common/mtime.h"

#include <time.h>

mtime_ms mtime_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (mtime_ms)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int mtime_until(mtime_ms now, mtime_ms deadline)
{
	if (deadline < 0)
		return -1;
	if (deadline <= now)
		return 0;
	if (deadline - now > INT32_MAX)
		return INT32_MAX;
	return (int)(deadline - now);
}

mtime_ms mtime_earliest(mtime_ms a, mtime_ms b)
{
	if (a < 0)
		return b;
	if (b < 0)
		return a;
	return a < b ? a : b;
}
