/* Log rate limiting. See ratelim.h. */
#include "common/ratelim.h"

void ratelim_init(struct ratelim *r, int burst, int refill_ms)
{
	r->burst = burst > 0 ? burst : 1;
	r->refill_ms = refill_ms > 0 ? refill_ms : 1;
	r->tokens = r->burst;
	r->last = -1;
	r->suppressed = r->total_suppressed = 0;
}

bool ratelim_allow(struct ratelim *r, mtime_ms now, uint64_t *suppressed_before)
{
	if (r->last < 0 || now < r->last) {
		r->last = now;
	} else if (now - r->last >= r->refill_ms) {
		mtime_ms n = (now - r->last) / r->refill_ms;

		r->tokens = n >= r->burst - r->tokens ? r->burst : r->tokens + (int)n;
		r->last += n * r->refill_ms;
	}
	if (r->tokens == 0) {
		r->suppressed++;
		r->total_suppressed++;
		return false;
	}
	r->tokens--;
	*suppressed_before = r->suppressed;
	r->suppressed = 0;
	return true;
}
