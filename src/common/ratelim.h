/* Log rate limiting: a token bucket per class of log line. Under a flood a
 * server must say "N lines suppressed" once in a while, not write one line
 * per hostile event. Pure: the caller passes the time. */
#ifndef PUNCH_RATELIM_H
#define PUNCH_RATELIM_H

#include <stdbool.h>
#include <stdint.h>

#include "common/mtime.h"

struct ratelim {
	int burst;         /* lines allowed at once */
	int refill_ms;     /* one more line allowed per refill_ms */
	int tokens;
	mtime_ms last;     /* when tokens were last refilled */
	uint64_t suppressed; /* lines refused since the last allowed one */
	uint64_t total_suppressed;
};

/* Start full: burst lines may go out at once. */
void ratelim_init(struct ratelim *r, int burst, int refill_ms);
/* True when a line may be written at now. *suppressed_before gets how many
 * lines were refused since the last allowed one (the caller says so). */
bool ratelim_allow(struct ratelim *r, mtime_ms now, uint64_t *suppressed_before);

#endif
