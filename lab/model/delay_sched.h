/* A delay line's schedule: a bounded FIFO of frames, each released at its
 * arrival time plus a delay and a uniform jitter sample.
 *
 * Pure: no clock and no I/O. The caller passes the time (in µs, any
 * monotonic origin) to every call, and the jitter comes from a PRNG seeded
 * by the configuration, or from a function the caller injects (tests). The
 * forwarder (kernel/delay_line.c) moves the frames between two TAP devices.
 *
 * Semantics, those of netem's delay and jitter except one: a frame arriving
 * at t is released at t + delay + U, U uniform over the whole microseconds
 * of [-jitter, +jitter], but never before the frame ahead of it. netem would
 * let a frame with a small sample overtake one with a large sample; here the
 * line never reorders, so a later frame can only be held up, which makes
 * the spread of the delays a little smaller than netem's when frames come
 * closer together than 2 * jitter. A full line (cap frames) drops the new
 * frame and counts it, as a full qdisc would.
 */
#ifndef PUNCH_DLINE_H
#define PUNCH_DLINE_H

#include <stddef.h>
#include <stdint.h>

#define DELAY_SCHED_FRAME_MAX 2048    /* an Ethernet frame of a 1500-byte MTU, with room to spare */
#define DELAY_SCHED_CAP_MAX 100000

struct delay_sched_cfg {
	uint32_t delay_us;
	uint32_t jitter_us;     /* at most delay_us, so no frame leaves before it arrived */
	uint32_t cap;           /* frames queued at most, 1 to DELAY_SCHED_CAP_MAX */
	uint64_t seed;          /* of the built-in PRNG (xorshift64*); 0 is taken as 1 */
	/* Injected randomness: 64 random bits per call, or NULL for the PRNG. */
	uint64_t (*rand)(void *arg);
	void *rand_arg;
};

struct delay_sched_stats {
	uint64_t queued;        /* frames accepted */
	uint64_t released;      /* frames handed out by delay_sched_pop() */
	uint64_t dropped_full;  /* frames refused because the line was full */
	uint64_t dropped_size;  /* frames refused for being empty or over DELAY_SCHED_FRAME_MAX */
	uint64_t held;          /* frames released later than their sample, behind an earlier one */
	uint64_t min_delay_us;  /* scheduled delay (release - arrival) of the frames */
	uint64_t max_delay_us;  /* released so far; 0 before the first */
};

struct delay_sched;

/* Returns 0 and *out, -EINVAL for a bad configuration, or -ENOMEM. */
int delay_sched_create(const struct delay_sched_cfg *cfg, struct delay_sched **out);
/* NULL is fine. */
void delay_sched_destroy(struct delay_sched *d);

/* Queue a frame that arrived at now_us. Returns 0, -ENOBUFS when the line
 * is full or -EMSGSIZE for a frame of length 0 or over DELAY_SCHED_FRAME_MAX (the
 * frame is dropped and counted either way). now_us must not go backwards. */
int delay_sched_push(struct delay_sched *d, uint64_t now_us, const void *frame, size_t len);
/* The release time of the frame at the head, or UINT64_MAX when empty. */
uint64_t delay_sched_next(const struct delay_sched *d);
/* Take the head frame if it is due at now_us: copies it into buf (size at
 * least DELAY_SCHED_FRAME_MAX) and returns its length, or 0 if nothing is due. */
size_t delay_sched_pop(struct delay_sched *d, uint64_t now_us, void *buf, size_t size);
/* Frames queued now. */
uint32_t delay_sched_len(const struct delay_sched *d);
void delay_sched_get_stats(const struct delay_sched *d, struct delay_sched_stats *st);

/* One jitter sample: uniform over the whole numbers of [-jitter_us,
 * +jitter_us], from 64 random bits r (Lemire's multiply-shift, no modulo). */
int64_t delay_sched_jitter(uint64_t r, uint32_t jitter_us);

#endif
