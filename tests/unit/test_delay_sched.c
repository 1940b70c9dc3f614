/* Unit tests for lab/model/delay_sched.c: release times with an injected clock and
 * injected random numbers, no overtaking, the bounded queue, the jitter
 * sample's range and spread, and the built-in PRNG's determinism. The
 * forwarder around it is tested on a real kernel in test_kernel.c and
 * tests/lab/punchlab-delay.sh. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "model/delay_sched.h"

/* Injected randomness: a script of 64-bit values, replayed in order. */
struct script {
	const uint64_t *v;
	size_t n, i;
};

static uint64_t scripted(void *arg)
{
	struct script *s = arg;

	assert_true(s->i < s->n);
	return s->v[s->i++];
}

/* The top 32 bits pick the sample: 0 is -jitter, all ones is +jitter. */
#define R_MIN 0ULL
#define R_MAX UINT64_MAX
#define R_MID (1ULL << 63)

static struct delay_sched *make(uint32_t delay_us, uint32_t jitter_us, uint32_t cap, struct script *s)
{
	struct delay_sched_cfg cfg = { .delay_us = delay_us, .jitter_us = jitter_us, .cap = cap, .seed = 42,
				 .rand = s ? scripted : NULL, .rand_arg = s };
	struct delay_sched *d = NULL;

	assert_int_equal(delay_sched_create(&cfg, &d), 0);
	assert_non_null(d);
	return d;
}

static void test_bad_config(void **state)
{
	struct delay_sched_cfg cfg = { .delay_us = 10, .jitter_us = 11, .cap = 10 };
	struct delay_sched *d = (struct delay_sched *)1;

	(void)state;
	assert_int_equal(delay_sched_create(&cfg, &d), -EINVAL);
	assert_null(d);
	cfg.jitter_us = 10;
	cfg.cap = 0;
	assert_int_equal(delay_sched_create(&cfg, &d), -EINVAL);
	cfg.cap = DELAY_SCHED_CAP_MAX + 1;
	assert_int_equal(delay_sched_create(&cfg, &d), -EINVAL);
	assert_int_equal(delay_sched_create(NULL, &d), -EINVAL);
	delay_sched_destroy(NULL);
}

/* A pure delay: each frame is due exactly delay after it arrived, not a
 * microsecond earlier, and comes out whole and in order. */
static void test_pure_delay(void **state)
{
	struct delay_sched *d = make(150000, 0, 10, NULL);
	unsigned char buf[DELAY_SCHED_FRAME_MAX];
	struct delay_sched_stats st;

	(void)state;
	assert_int_equal(delay_sched_next(d), UINT64_MAX);
	assert_int_equal(delay_sched_pop(d, 1000000, buf, sizeof(buf)), 0);
	assert_int_equal(delay_sched_push(d, 1000, "first", 5), 0);
	assert_int_equal(delay_sched_push(d, 2000, "second!", 7), 0);
	assert_int_equal(delay_sched_len(d), 2);
	assert_int_equal(delay_sched_next(d), 151000);
	assert_int_equal(delay_sched_pop(d, 150999, buf, sizeof(buf)), 0);
	assert_int_equal(delay_sched_pop(d, 151000, buf, sizeof(buf)), 5);
	assert_memory_equal(buf, "first", 5);
	assert_int_equal(delay_sched_next(d), 152000);
	assert_int_equal(delay_sched_pop(d, 151500, buf, sizeof(buf)), 0);
	assert_int_equal(delay_sched_pop(d, 999999, buf, sizeof(buf)), 7);
	assert_memory_equal(buf, "second!", 7);
	assert_int_equal(delay_sched_len(d), 0);
	delay_sched_get_stats(d, &st);
	assert_int_equal(st.queued, 2);
	assert_int_equal(st.released, 2);
	assert_int_equal(st.min_delay_us, 150000);
	assert_int_equal(st.max_delay_us, 150000);
	assert_int_equal(st.held, 0);
	delay_sched_destroy(d);
}

/* Jitter: release = arrival + delay + sample, the sample spanning exactly
 * [-jitter, +jitter]; a frame whose sample would take it past the one ahead
 * waits for it (held), and is never released before it. */
static void test_jitter_and_no_overtaking(void **state)
{
	static const uint64_t r[] = { R_MAX, R_MIN, R_MID, R_MIN };
	struct script s = { r, 4, 0 };
	struct delay_sched *d = make(150000, 20000, 10, &s);
	unsigned char buf[DELAY_SCHED_FRAME_MAX];
	struct delay_sched_stats st;

	(void)state;
	assert_int_equal(delay_sched_push(d, 0, "a", 1), 0);          /* 0 + 150 ms + 20 ms */
	assert_int_equal(delay_sched_next(d), 170000);
	assert_int_equal(delay_sched_push(d, 10000, "b", 1), 0);      /* 10 + 150 - 20 = 140 ms: held to 170 */
	assert_int_equal(delay_sched_push(d, 100000, "c", 1), 0);     /* 100 + 150 + 0 = 250 ms */
	assert_int_equal(delay_sched_pop(d, 169999, buf, sizeof(buf)), 0);
	assert_int_equal(delay_sched_pop(d, 170000, buf, sizeof(buf)), 1);
	assert_int_equal(buf[0], 'a');
	assert_int_equal(delay_sched_next(d), 170000);
	assert_int_equal(delay_sched_pop(d, 170000, buf, sizeof(buf)), 1);
	assert_int_equal(buf[0], 'b');
	assert_int_equal(delay_sched_next(d), 250000);
	assert_int_equal(delay_sched_pop(d, 250000, buf, sizeof(buf)), 1);
	assert_int_equal(buf[0], 'c');
	/* Alone in the line, the smallest sample is kept: delay - jitter. */
	assert_int_equal(delay_sched_push(d, 300000, "d", 1), 0);
	assert_int_equal(delay_sched_next(d), 430000);
	assert_int_equal(delay_sched_pop(d, 430000, buf, sizeof(buf)), 1);
	delay_sched_get_stats(d, &st);
	assert_int_equal(st.held, 1);
	assert_int_equal(st.min_delay_us, 130000);
	assert_int_equal(st.max_delay_us, 170000);
	assert_int_equal(s.i, 4);
	delay_sched_destroy(d);
}

/* A full line drops the new frame and counts it; so does a frame that is
 * empty or too big. The ring wraps around. */
static void test_bounds(void **state)
{
	struct delay_sched *d = make(1000, 0, 3, NULL);
	static unsigned char big[DELAY_SCHED_FRAME_MAX + 1];
	unsigned char buf[DELAY_SCHED_FRAME_MAX];
	struct delay_sched_stats st;

	(void)state;
	for (int round = 0; round < 5; round++) {
		uint64_t t = (uint64_t)round * 10000;

		for (int k = 0; k < 3; k++)
			assert_int_equal(delay_sched_push(d, t, "xyz" + k, 1), 0);
		assert_int_equal(delay_sched_push(d, t, "w", 1), -ENOBUFS);
		for (int k = 0; k < 3; k++) {
			assert_int_equal(delay_sched_pop(d, t + 1000, buf, sizeof(buf)), 1);
			assert_int_equal(buf[0], "xyz"[k]);
		}
	}
	assert_int_equal(delay_sched_push(d, 90000, big, sizeof(big)), -EMSGSIZE);
	assert_int_equal(delay_sched_push(d, 90000, big, 0), -EMSGSIZE);
	assert_int_equal(delay_sched_push(d, 90000, big, DELAY_SCHED_FRAME_MAX), 0);
	/* A buffer too small for the head leaves it there. */
	assert_int_equal(delay_sched_pop(d, 91000, buf, 10), 0);
	assert_int_equal(delay_sched_pop(d, 91000, buf, sizeof(buf)), DELAY_SCHED_FRAME_MAX);
	delay_sched_get_stats(d, &st);
	assert_int_equal(st.queued, 16);
	assert_int_equal(st.released, 16);
	assert_int_equal(st.dropped_full, 5);
	assert_int_equal(st.dropped_size, 2);
	delay_sched_destroy(d);
}

/* The sample covers the whole range evenly: the ends are reached, nothing
 * lies outside, and each of 8 equal bins of 80000 samples gets its eighth
 * within 6 standard deviations (the PRNG and seed are fixed: this is the
 * same every run). */
static void test_jitter_range(void **state)
{
	const uint32_t j = 20000;
	uint64_t prng = 0x70756e63686c6162ULL;
	long bins[8] = { 0 };
	const long n = 80000;

	(void)state;
	assert_int_equal(delay_sched_jitter(0, j), -(int64_t)j);
	assert_int_equal(delay_sched_jitter(UINT64_MAX, j), (int64_t)j);
	assert_int_equal(delay_sched_jitter(R_MID, j), 0);
	assert_int_equal(delay_sched_jitter(12345, 0), 0);
	/* Beyond 32-bit spans (not reachable from a topology): still in range. */
	assert_true(delay_sched_jitter(UINT64_MAX, UINT32_MAX) >= -(int64_t)UINT32_MAX &&
		    delay_sched_jitter(UINT64_MAX, UINT32_MAX) <= (int64_t)UINT32_MAX);
	for (long i = 0; i < n; i++) {
		int64_t v;

		prng ^= prng >> 12;
		prng ^= prng << 25;
		prng ^= prng >> 27;
		v = delay_sched_jitter(prng * 0x2545F4914F6CDD1DULL, j);
		assert_true(v >= -(int64_t)j && v <= (int64_t)j);
		bins[(v + j) * 8 / (2 * j + 1)]++;
	}
	for (int b = 0; b < 8; b++)
		assert_true(bins[b] > n / 8 - 6 * 94 && bins[b] < n / 8 + 6 * 94);
}

/* The built-in PRNG: the same seed, the same release times. */
static void test_seed_determinism(void **state)
{
	struct delay_sched *d1 = make(50000, 10000, 100, NULL), *d2 = make(50000, 10000, 100, NULL);
	unsigned char buf[DELAY_SCHED_FRAME_MAX];
	int differ_from_delay = 0;

	(void)state;
	for (int k = 0; k < 50; k++) {
		uint64_t t = (uint64_t)k * 100000;

		assert_int_equal(delay_sched_push(d1, t, "p", 1), 0);
		assert_int_equal(delay_sched_push(d2, t, "p", 1), 0);
		assert_int_equal(delay_sched_next(d1), delay_sched_next(d2));
		differ_from_delay += delay_sched_next(d1) != t + 50000;
		assert_true(delay_sched_next(d1) >= t + 40000 && delay_sched_next(d1) <= t + 60000);
		assert_int_equal(delay_sched_pop(d1, t + 60000, buf, sizeof(buf)), 1);
		assert_int_equal(delay_sched_pop(d2, t + 60000, buf, sizeof(buf)), 1);
	}
	assert_true(differ_from_delay > 40);
	delay_sched_destroy(d1);
	delay_sched_destroy(d2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_config),
		cmocka_unit_test(test_pure_delay),
		cmocka_unit_test(test_jitter_and_no_overtaking),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_jitter_range),
		cmocka_unit_test(test_seed_determinism),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
