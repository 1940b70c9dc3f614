/* A delay line's schedule. See delay_sched.h. */
#include "model/delay_sched.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct slot {
	uint64_t arrival, release;
	uint32_t len;
	unsigned char frame[DELAY_SCHED_FRAME_MAX];
};

struct delay_sched {
	struct delay_sched_cfg cfg;
	uint64_t prng;
	uint64_t last_release;  /* of the newest frame queued: nobody leaves before it */
	uint32_t head, n;
	struct delay_sched_stats st;
	struct slot *slots;     /* a ring of cfg.cap */
};

/* xorshift64* (Vigna): plenty for jitter, and the same sequence for a seed. */
static uint64_t prng_next(void *arg)
{
	uint64_t *s = arg;

	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1DULL;
}

int64_t delay_sched_jitter(uint64_t r, uint32_t jitter_us)
{
	uint64_t span = 2 * (uint64_t)jitter_us + 1;

	/* The top 32 bits scaled to [0, span): the product fits 64 bits while
	 * span fits 32 (jitter under 35 minutes); beyond, a modulo will do. */
	if (span <= UINT32_MAX)
		return (int64_t)(((r >> 32) * span) >> 32) - (int64_t)jitter_us;
	return (int64_t)(r % span) - (int64_t)jitter_us;
}

int delay_sched_create(const struct delay_sched_cfg *cfg, struct delay_sched **out)
{
	struct delay_sched *d;

	*out = NULL;
	if (cfg == NULL || cfg->jitter_us > cfg->delay_us || cfg->cap == 0 || cfg->cap > DELAY_SCHED_CAP_MAX)
		return -EINVAL;
	d = calloc(1, sizeof(*d));
	if (d == NULL)
		return -ENOMEM;
	d->slots = calloc(cfg->cap, sizeof(*d->slots));
	if (d->slots == NULL) {
		free(d);
		return -ENOMEM;
	}
	d->cfg = *cfg;
	d->prng = cfg->seed ? cfg->seed : 1;
	*out = d;
	return 0;
}

void delay_sched_destroy(struct delay_sched *d)
{
	if (d == NULL)
		return;
	free(d->slots);
	free(d);
}

int delay_sched_push(struct delay_sched *d, uint64_t now_us, const void *frame, size_t len)
{
	struct slot *s;
	uint64_t r, release;

	if (len == 0 || len > DELAY_SCHED_FRAME_MAX) {
		d->st.dropped_size++;
		return -EMSGSIZE;
	}
	if (d->n == d->cfg.cap) {
		d->st.dropped_full++;
		return -ENOBUFS;
	}
	/* Draw a sample only with jitter, so a pure delay consumes no randomness. */
	release = now_us + d->cfg.delay_us;
	if (d->cfg.jitter_us) {
		r = d->cfg.rand ? d->cfg.rand(d->cfg.rand_arg) : prng_next(&d->prng);
		release = (uint64_t)((int64_t)release + delay_sched_jitter(r, d->cfg.jitter_us));
	}
	/* jitter <= delay: release >= now_us already. No overtaking: */
	if (d->n > 0 && release < d->last_release) {
		release = d->last_release;
		d->st.held++;
	}
	s = &d->slots[(d->head + d->n) % d->cfg.cap];
	s->arrival = now_us;
	s->release = release;
	s->len = (uint32_t)len;
	memcpy(s->frame, frame, len);
	d->last_release = release;
	d->n++;
	d->st.queued++;
	return 0;
}

uint64_t delay_sched_next(const struct delay_sched *d)
{
	return d->n ? d->slots[d->head].release : UINT64_MAX;
}

size_t delay_sched_pop(struct delay_sched *d, uint64_t now_us, void *buf, size_t size)
{
	struct slot *s;
	uint64_t took;

	if (d->n == 0 || d->slots[d->head].release > now_us)
		return 0;
	s = &d->slots[d->head];
	if (size < s->len)
		return 0;
	memcpy(buf, s->frame, s->len);
	took = s->release - s->arrival;
	if (d->st.released == 0 || took < d->st.min_delay_us)
		d->st.min_delay_us = took;
	if (took > d->st.max_delay_us)
		d->st.max_delay_us = took;
	d->st.released++;
	d->head = (d->head + 1) % d->cfg.cap;
	d->n--;
	return s->len;
}

uint32_t delay_sched_len(const struct delay_sched *d)
{
	return d->n;
}

void delay_sched_get_stats(const struct delay_sched *d, struct delay_sched_stats *st)
{
	*st = d->st;
}
