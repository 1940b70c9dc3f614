/* Unit tests for report/stats.c: the Wilson interval against values worked
 * out by hand from its formula, nearest-rank percentiles, the verdict of
 * repeated runs (every run must pass; with expect-rate, the interval must
 * reach the rate), shard selection as a partition, and the classification
 * of a change between two reports. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "report/stats.h"

#define near(a, b) assert_true(fabs((a) - (b)) < 5e-4)

static void test_wilson(void **state)
{
	double lo, hi;

	(void)state;
	/* 18 of 20: p = 0.9, z = 1.96: centre 0.8262..., half 0.1275... */
	stats_wilson(18, 20, STATS_Z95, &lo, &hi);
	near(lo, 0.6990);
	near(hi, 0.9721);
	/* 0 of 10: [0, z^2/(n+z^2)] = [0, 0.2775] */
	stats_wilson(0, 10, STATS_Z95, &lo, &hi);
	assert_true(lo == 0);
	near(hi, 0.2775);
	/* n of n: exactly 1 at the top, n/(n+z^2) at the bottom */
	stats_wilson(20, 20, STATS_Z95, &lo, &hi);
	assert_true(hi == 1);
	near(lo, 20 / (20 + STATS_Z95 * STATS_Z95));
	/* 1 of 1: the interval is wide */
	stats_wilson(1, 1, STATS_Z95, &lo, &hi);
	near(lo, 0.2065);
	/* nothing known */
	stats_wilson(0, 0, STATS_Z95, &lo, &hi);
	assert_true(lo == 0 && hi == 1);
	/* k > n is clamped */
	stats_wilson(5, 3, STATS_Z95, &lo, &hi);
	assert_true(hi == 1);
	/* symmetric: the interval of k failures mirrors that of k successes */
	for (unsigned k = 0; k <= 30; k++) {
		double l2, h2;

		stats_wilson(k, 30, STATS_Z95, &lo, &hi);
		stats_wilson(30 - k, 30, STATS_Z95, &l2, &h2);
		near(lo, 1 - h2);
		assert_true(lo <= (double)k / 30 && (double)k / 30 <= hi);
	}
}

static void test_percentile(void **state)
{
	double v[] = { 50, 10, 40, 20, 30 }, one[] = { 7 }, many[100];

	(void)state;
	assert_true(stats_percentile(v, 5, 50) == 30);
	assert_true(stats_percentile(v, 5, 95) == 50);
	assert_true(stats_percentile(v, 5, 20) == 10);
	assert_true(stats_percentile(v, 5, 21) == 20);
	assert_true(v[0] == 10 && v[4] == 50); /* sorted in place */
	assert_true(stats_percentile(one, 1, 95) == 7);
	assert_true(isnan(stats_percentile(one, 0, 50)));
	for (int i = 0; i < 100; i++)
		many[i] = 100 - i;
	assert_true(stats_percentile(many, 100, 95) == 95);
	assert_true(stats_percentile(many, 100, 50) == 50);
	assert_true(stats_percentile(many, 100, 100) == 100);
}

static void test_rate_pass(void **state)
{
	(void)state;
	/* 18/20 is consistent with 0.9 and with 0.95 (upper bound 0.972) */
	assert_true(stats_rate_pass(18, 20, 0.9));
	assert_true(stats_rate_pass(18, 20, 0.95));
	/* 12/20 (upper bound 0.78) shows the rate is below 0.9 */
	assert_false(stats_rate_pass(12, 20, 0.9));
	/* one failed run in one does not show a rate below 0.5, but below 0.9 */
	assert_true(stats_rate_pass(0, 1, 0.5));
	assert_false(stats_rate_pass(0, 1, 0.9));
	/* a rate of 1 needs every run */
	assert_true(stats_rate_pass(20, 20, 1));
	assert_false(stats_rate_pass(19, 20, 1));
	assert_false(stats_rate_pass(0, 0, 0.1));
}

/* The probability, over the binomial distribution of k passes in n runs at
 * true rate p, that the rule fails the declared rate. */
static double false_fail(double p, unsigned n, double rate)
{
	double sum = 0;

	for (unsigned k = 0; k <= n; k++)
		if (!stats_rate_pass(k, n, rate))
			sum += exp(lgamma(n + 1.0) - lgamma(k + 1.0) - lgamma(n - k + 1.0) + k * log(p) +
				   (n - k) * log1p(-p));
	return sum;
}

/* What the documentation (stats.h, topologies/README.md) promises about
 * flakiness, checked by exact sums: at the declared rate the rule misfires
 * in at most 9% of suite runs for 5 to 20 runs and at most 4% for 50 to 200;
 * 0.05 above it, in under 1.5% for 10 runs and under 0.7% for 20 to 100. */
static void test_rate_flakiness(void **state)
{
	static const double rates[] = { 0.3, 0.5, 0.6, 0.8, 0.9 };
	static const unsigned small[] = { 5, 10, 20 }, big[] = { 50, 100, 200 }, some[] = { 10, 20, 50, 100 };

	(void)state;
	for (size_t i = 0; i < sizeof(rates) / sizeof(rates[0]); i++) {
		double r = rates[i];

		for (size_t j = 0; j < 3; j++) {
			assert_true(false_fail(r, small[j], r) <= 0.09);
			assert_true(false_fail(r, big[j], r) <= 0.04);
		}
		for (size_t j = 0; j < 4; j++)
			assert_true(false_fail(r + 0.05, some[j], r) < (some[j] < 20 ? 0.015 : 0.007));
	}
	/* and a rate truly far below the declared one is caught */
	assert_true(false_fail(0.5, 20, 0.9) > 0.99);
	assert_true(false_fail(0.7, 50, 0.9) > 0.9);
}

static void test_shard(void **state)
{
	unsigned i, n;
	const char *bad[] = { "", "1", "0/3", "4/3", "1/0", "a/3", "1/3x", "/3", "1/", "-1/3", "1/10001",
			      "99999999999999999999/3" };

	(void)state;
	assert_int_equal(stats_shard_parse("2/3", &i, &n), 0);
	assert_true(i == 2 && n == 3);
	assert_int_equal(stats_shard_parse("1/1", &i, &n), 0);
	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++)
		assert_int_equal(stats_shard_parse(bad[k], &i, &n), -EINVAL);
	/* a partition: each index in exactly one shard, sizes within one */
	for (unsigned shards = 1; shards <= 7; shards++) {
		unsigned size[8] = { 0 };

		for (size_t idx = 0; idx < 45; idx++) {
			int in = 0;

			for (unsigned s = 1; s <= shards; s++)
				if (stats_shard_has(idx, s, shards)) {
					in++;
					size[s]++;
				}
			assert_int_equal(in, 1);
		}
		for (unsigned s = 1; s <= shards; s++)
			assert_true(size[s] == 45 / shards || size[s] == 45 / shards + 1);
	}
}

/* A result named name with a verdict and an outcome; direct_ms in both
 * peers' reports when ms >= 0. */
static void mk(struct result *r, const char *name, enum result_verdict v, enum result_outcome actual, int ms)
{
	memset(r, 0, sizeof(*r));
	r->name = strdup(name);
	r->verdict = v;
	r->actual = actual;
	r->expected = OUTCOME_DIRECT;
	if (v == VERDICT_ERROR)
		r->error = strdup("could not run");
	for (int k = 0; k < 2 && ms >= 0; k++) {
		snprintf(r->peers[k].name, sizeof(r->peers[k].name), "%s", k ? "bob" : "alice");
		r->peers[k].report = json_object_new_object();
		json_object_object_add(r->peers[k].report, "outcome", json_object_new_string("direct"));
		json_object_object_add(r->peers[k].report, "direct_ms", json_object_new_int(ms + k * 5));
	}
}

static void test_aggregate(void **state)
{
	struct result rs[8];
	struct stats_agg *a;
	size_t n;

	(void)state;
	/* lossy: 3 direct runs (one misses), flaky: a relayed miss, err: one error */
	mk(&rs[0], "lossy", VERDICT_PASS, RESULT_DIRECT, 100);
	mk(&rs[1], "flaky", VERDICT_PASS, RESULT_DIRECT, -1);
	mk(&rs[2], "lossy", VERDICT_PASS, RESULT_DIRECT, 300);
	mk(&rs[3], "flaky", VERDICT_FAIL, RESULT_RELAYED, -1);
	mk(&rs[4], "lossy", VERDICT_FAIL, RESULT_FAILED, 900); /* not direct: no time */
	mk(&rs[5], "err", VERDICT_PASS, RESULT_DIRECT, 10);
	mk(&rs[6], "err", VERDICT_ERROR, RESULT_ERROR, -1);
	mk(&rs[7], "lossy", VERDICT_PASS, RESULT_DIRECT, 200);
	for (int i = 0; i < 8; i++)
		rs[i].repetition = i + 1;
	rs[1].expect_rate = rs[3].expect_rate = 0.5;
	assert_int_equal(stats_aggregate(rs, 8, &a, &n), 0);
	assert_int_equal(n, 3);
	/* in order of first appearance */
	assert_string_equal(a[0].name, "lossy");
	assert_string_equal(a[1].name, "flaky");
	assert_string_equal(a[2].name, "err");
	/* without expect-rate one failed run fails the scenario */
	assert_true(a[0].runs == 4 && a[0].passed == 3 && a[0].direct == 3 && a[0].failed == 1);
	assert_int_equal(a[0].verdict, VERDICT_FAIL);
	assert_int_equal(a[0].outcome, RESULT_DIRECT);
	/* the time to direct is the later peer's: 105, 205, 305 */
	assert_int_equal(a[0].n_ms, 3);
	assert_true(a[0].p50_ms == 205 && a[0].p95_ms == 305);
	/* 1 of 2 with expect-rate 0.5 passes; no times */
	assert_int_equal(a[1].verdict, VERDICT_PASS);
	assert_true(a[1].expect_rate == 0.5);
	assert_int_equal(a[1].n_ms, 0);
	assert_true(isnan(a[1].p50_ms));
	/* an error is never a probabilistic miss */
	assert_int_equal(a[2].verdict, VERDICT_ERROR);
	assert_true(stats_any_rates(a, n));
	assert_false(stats_any_rates(a + 2, 0));
	free(a);
	for (int i = 0; i < 8; i++)
		result_clear(&rs[i]);
	/* nothing in, nothing out */
	assert_int_equal(stats_aggregate(NULL, 0, &a, &n), 0);
	assert_int_equal(n, 0);
	free(a);
}

/* An aggregate of k passes in n with a verdict and outcome. */
static struct stats_agg agg(unsigned k, unsigned n, enum result_verdict v, enum result_outcome o)
{
	struct stats_agg a = { .name = "x", .runs = n, .passed = k, .verdict = v, .outcome = o };

	stats_wilson(k, n, STATS_Z95, &a.lo, &a.hi);
	return a;
}

static void test_diff(void **state)
{
	struct stats_agg pass1 = agg(1, 1, VERDICT_PASS, RESULT_DIRECT);
	struct stats_agg fail1 = agg(0, 1, VERDICT_FAIL, RESULT_RELAYED);
	struct stats_agg err1 = agg(0, 1, VERDICT_ERROR, RESULT_ERROR);
	struct stats_agg hi = agg(19, 20, VERDICT_PASS, RESULT_DIRECT);
	struct stats_agg lo = agg(6, 20, VERDICT_PASS, RESULT_DIRECT);
	struct stats_agg mid = agg(16, 20, VERDICT_PASS, RESULT_DIRECT);
	struct stats_agg failed1 = agg(0, 1, VERDICT_FAIL, RESULT_FAILED);

	(void)state;
	assert_int_equal(stats_diff_classify(&pass1, &pass1), STATS_SAME);
	assert_int_equal(stats_diff_classify(&pass1, &fail1), STATS_REGRESSED);
	assert_int_equal(stats_diff_classify(&pass1, &err1), STATS_REGRESSED);
	assert_int_equal(stats_diff_classify(&fail1, &pass1), STATS_IMPROVED);
	assert_int_equal(stats_diff_classify(NULL, &pass1), STATS_NEW);
	assert_int_equal(stats_diff_classify(&pass1, NULL), STATS_GONE);
	/* 19/20 -> 6/20: the intervals [0.76,0.99] and [0.15,0.52] are apart */
	assert_int_equal(stats_diff_classify(&hi, &lo), STATS_RATE_DOWN);
	assert_int_equal(stats_diff_classify(&lo, &hi), STATS_RATE_UP);
	/* 19/20 -> 16/20 is noise */
	assert_int_equal(stats_diff_classify(&hi, &mid), STATS_SAME);
	/* failing the same way is the same; failing another way is a change */
	assert_int_equal(stats_diff_classify(&fail1, &fail1), STATS_SAME);
	assert_int_equal(stats_diff_classify(&fail1, &failed1), STATS_CHANGED);
	assert_int_equal(stats_diff_classify(&fail1, &err1), STATS_CHANGED);
	assert_true(stats_change_is_bad(STATS_REGRESSED) && stats_change_is_bad(STATS_RATE_DOWN));
	assert_false(stats_change_is_bad(STATS_IMPROVED) || stats_change_is_bad(STATS_CHANGED) ||
		     stats_change_is_bad(STATS_NEW) || stats_change_is_bad(STATS_GONE) ||
		     stats_change_is_bad(STATS_SAME) || stats_change_is_bad(STATS_RATE_UP));
	assert_string_equal(stats_change_name(STATS_RATE_DOWN), "rate-down");
	assert_string_equal(stats_change_name((enum stats_change)99), "?");
}

static void test_tables(void **state)
{
	struct stats_agg a[2] = { agg(18, 20, VERDICT_PASS, RESULT_DIRECT), agg(3, 20, VERDICT_FAIL, RESULT_RELAYED) };
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	(void)state;
	a[0].name = "lossy-link";
	a[0].direct = 18;
	a[0].failed = 2;
	a[0].expect_rate = 0.9;
	a[0].n_ms = 18;
	a[0].p50_ms = 120;
	a[0].p95_ms = 480;
	a[1].name = "a|b";
	a[1].relayed = 20;
	a[1].p50_ms = a[1].p95_ms = NAN;
	f = open_memstream(&buf, &len);
	assert_int_equal(stats_table(f, a, 2, false), 0);
	fclose(f);
	assert_non_null(strstr(buf, "PASS   lossy-link  18/20 90% [69.9%, 97.2%] (expect-rate 0.9)  D18 R0 F2  120/480 ms"));
	assert_non_null(strstr(buf, "FAIL   a|b"));
	assert_non_null(strstr(buf, "2 scenarios over their runs: 1 passed, 1 failed"));
	free(buf);
	f = open_memstream(&buf, &len);
	assert_int_equal(stats_markdown(f, a, 2), 0);
	fclose(f);
	assert_non_null(strstr(buf, "| lossy-link | PASS | 18/20 | 69.9% – 97.2% | 0.9 | 18 | 0 | 2 | 0 | 120/480 ms |"));
	assert_non_null(strstr(buf, "| a\\|b | FAIL | 3/20 |")); /* the pipe escaped */
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wilson),   cmocka_unit_test(test_percentile), cmocka_unit_test(test_rate_pass),
		cmocka_unit_test(test_rate_flakiness),
		cmocka_unit_test(test_shard),    cmocka_unit_test(test_aggregate),  cmocka_unit_test(test_diff),
		cmocka_unit_test(test_tables),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
