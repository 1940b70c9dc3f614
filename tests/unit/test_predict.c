/* predict.c: the step, the candidate ports, the PRNG, the birthday formula
 * (against a brute-force count and a Monte Carlo run of the same model) and
 * the probe budget under a fake clock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "client/predict.h"

static void test_method_names(void **state)
{
	enum predict_method m;

	(void)state;
	assert_int_equal(predict_method_parse("sequential", &m), 0);
	assert_int_equal(m, PREDICT_SEQUENTIAL);
	assert_string_equal(predict_method_name(m), "sequential");
	assert_int_equal(predict_method_parse("birthday", &m), 0);
	assert_int_equal(m, PREDICT_BIRTHDAY);
	assert_int_equal(predict_method_parse("none", &m), 0);
	assert_int_equal(m, PREDICT_NONE);
	assert_int_equal(predict_method_parse("Birthday", &m), -EINVAL);
	assert_int_equal(predict_method_parse("", &m), -EINVAL);
}

static void test_step(void **state)
{
	(void)state;
	assert_int_equal(predict_step(40000, 40000), 0);
	assert_int_equal(predict_step(40000, 40001), 1);
	assert_int_equal(predict_step(40000, 40002), 2);
	assert_int_equal(predict_step(40002, 40000), -2);
	/* across the top of the port space: the short way round */
	assert_int_equal(predict_step(65535, 1), 2);
	assert_int_equal(predict_step(1, 65535), -2);
}

static void test_sequential(void **state)
{
	uint16_t out[16];

	(void)state;
	assert_int_equal(predict_sequential(40001, 1, 4, 1024, 65535, out), 4);
	assert_int_equal(out[0], 40002);
	assert_int_equal(out[3], 40005);
	assert_int_equal(predict_sequential(40000, 3, 2, 1024, 65535, out), 2);
	assert_int_equal(out[0], 40003);
	assert_int_equal(out[1], 40006);
	assert_int_equal(predict_sequential(40000, -2, 2, 1024, 65535, out), 2);
	assert_int_equal(out[0], 39998);
	/* wraps within the NAT's range, not the port space */
	assert_int_equal(predict_sequential(2000, 1, 3, 1000, 2001, out), 3);
	assert_int_equal(out[0], 2001);
	assert_int_equal(out[1], 1000);
	assert_int_equal(out[2], 1001);
	/* a step that cycles through 2 ports of a range of 4 yields 2, no repeats */
	assert_int_equal(predict_sequential(100, 2, 8, 100, 103, out), 2);
	assert_int_equal(out[0], 102);
	assert_int_equal(out[1], 100);
	/* nothing to predict */
	assert_int_equal(predict_sequential(100, 0, 8, 100, 103, out), 0);
	assert_int_equal(predict_sequential(100, 1, 8, 200, 100, out), 0);
}

static void test_rng_and_birthday_ports(void **state)
{
	struct predict_rng r1, r2;
	uint16_t a[300], b[300];
	unsigned hist[10] = { 0 };

	(void)state;
	predict_rng_seed(&r1, 42);
	predict_rng_seed(&r2, 42);
	assert_int_equal(predict_birthday(&r1, 300, 1024, 65535, a), 300);
	assert_int_equal(predict_birthday(&r2, 300, 1024, 65535, b), 300);
	assert_memory_equal(a, b, sizeof(a)); /* the same seed, the same ports */
	for (int i = 0; i < 300; i++) {
		assert_true(a[i] >= 1024);
		for (int j = 0; j < i; j++)
			assert_int_not_equal(a[i], a[j]);
	}
	/* the whole of a small range, each once */
	assert_int_equal(predict_birthday(&r1, 50, 10, 19, a), 10);
	for (int i = 0; i < 10; i++)
		hist[a[i] - 10]++;
	for (int i = 0; i < 10; i++)
		assert_int_equal(hist[i], 1);
	/* roughly uniform: 100000 draws below 10, each bucket within 5% */
	memset(hist, 0, sizeof(hist));
	for (int i = 0; i < 100000; i++)
		hist[predict_rng_below(&r1, 10)]++;
	for (int i = 0; i < 10; i++)
		assert_true(hist[i] > 9500 && hist[i] < 10500);
}

/* C(R-m, n)/C(R, n) by counting, for small R: all n-subsets that miss a
 * fixed m-subset. */
static double brute_miss(unsigned n, unsigned m, unsigned range)
{
	unsigned long total = 0, miss = 0;

	for (unsigned long set = 0; set < (1ul << range); set++) {
		if ((unsigned)__builtin_popcountl(set) != n)
			continue;
		total++;
		if (!(set & ((1ul << m) - 1)))
			miss++;
	}
	return (double)miss / (double)total;
}

static void test_birthday_formula(void **state)
{
	(void)state;
	for (unsigned n = 1; n <= 6; n++)
		for (unsigned m = 1; m <= 6; m++)
			if (n + m <= 14)
				assert_float_equal(predict_birthday_p(n, m, 14), 1 - brute_miss(n, m, 14), 1e-12);
	assert_float_equal(predict_birthday_p(0, 5, 100), 0, 0);
	assert_float_equal(predict_birthday_p(5, 0, 100), 0, 0);
	assert_float_equal(predict_birthday_p(60, 41, 100), 1, 0);
	/* The approximation is close for n, m << R, and never above the exact
	 * value (sampling without replacement hits more often). */
	assert_float_equal(predict_birthday_p(385, 385, 64512), predict_birthday_approx(385, 385, 64512), 0.005);
	assert_true(predict_birthday_p(385, 385, 64512) >= predict_birthday_approx(385, 385, 64512));
	assert_true(predict_birthday_p(385, 385, 64512) > 0.9);
	assert_true(predict_birthday_p(300, 300, 64512) < 0.9);
}

/* The formula against the model it describes: random n and m port sets over
 * R, seeded, 20000 trials; the hit rate within 4 standard errors. */
static void test_birthday_monte_carlo(void **state)
{
	struct predict_rng r;
	uint16_t a[64], b[64];
	unsigned hits = 0, trials = 20000;
	double p = predict_birthday_p(40, 30, 2000), se = sqrt(p * (1 - p) / trials);

	(void)state;
	predict_rng_seed(&r, 7);
	for (unsigned t = 0; t < trials; t++) {
		bool hit = false;

		predict_birthday(&r, 40, 1, 2000, a);
		predict_birthday(&r, 30, 1, 2000, b);
		for (int i = 0; i < 40 && !hit; i++)
			for (int j = 0; j < 30 && !hit; j++)
				hit = a[i] == b[j];
		hits += hit;
	}
	assert_true(fabs((double)hits / trials - p) < 4 * se);
}

static void test_budget(void **state)
{
	struct predict_budget b;
	unsigned total = 0;

	(void)state;
	/* 100 per second, 250 in all: 10 at once (a tenth of a second's worth),
	 * then one every 10 ms, and never more than 250. */
	predict_budget_init(&b, 250, 100);
	assert_int_equal(predict_budget_next(&b, 0), 0);
	assert_int_equal(predict_budget_allow(&b, 0, 1000), 10);
	predict_budget_spend(&b, 10);
	assert_int_equal(predict_budget_allow(&b, 0, 1000), 0);
	assert_int_equal(predict_budget_next(&b, 0), 10);
	assert_int_equal(predict_budget_allow(&b, 10, 1000), 1);
	predict_budget_spend(&b, 1);
	total = 11;
	for (int64_t now = 11; now < 10000; now++) {
		unsigned n = predict_budget_allow(&b, now, 1000);

		predict_budget_spend(&b, n);
		total += n;
		/* the rate: by time t at most the burst plus t/10 */
		assert_true(total <= 10 + (unsigned)(now / 10) + 1);
	}
	assert_int_equal(total, 250);
	assert_int_equal(b.sent, 250);
	assert_int_equal(predict_budget_next(&b, 10000), -1);
	/* no rate: the budget only */
	predict_budget_init(&b, 5, 0);
	assert_int_equal(predict_budget_allow(&b, 0, 3), 3);
	predict_budget_spend(&b, 3);
	assert_int_equal(predict_budget_allow(&b, 0, 3), 2);
	predict_budget_spend(&b, 2);
	assert_int_equal(predict_budget_allow(&b, 0, 3), 0);
	/* a zero budget sends nothing */
	predict_budget_init(&b, 0, 100);
	assert_int_equal(predict_budget_allow(&b, 0, 3), 0);
	assert_int_equal(predict_budget_next(&b, 0), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_method_names),
		cmocka_unit_test(test_step),
		cmocka_unit_test(test_sequential),
		cmocka_unit_test(test_rng_and_birthday_ports),
		cmocka_unit_test(test_birthday_formula),
		cmocka_unit_test(test_birthday_monte_carlo),
		cmocka_unit_test(test_budget),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
