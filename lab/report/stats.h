/* Statistics over repeated runs: success rates with a Wilson score interval,
 * percentiles of the time to a direct path, the verdict of a scenario that
 * ran several times (and of one with a declared expect-rate), shard
 * selection, and the classification of a change between two reports.
 *
 * Pure: numbers in, numbers out, and results (report/result.h) grouped by
 * scenario name. No kernel, no files. Used by punchlab run (--repeat,
 * --shard), punchlab merge and punchlab diff.
 *
 * The verdict of a scenario run n times, k of them as expected:
 * - any run that could not run (verdict error): error. The lab failing is
 *   never counted as a probabilistic miss.
 * - without expect-rate: pass only when every run passed (k == n). A
 *   deterministic scenario has no acceptable failure rate, and a failure is
 *   never retried away.
 * - with expect-rate = R: pass when the 95% Wilson interval of k/n reaches
 *   R (its upper bound >= R), i.e. when the runs do not show, at 95%
 *   confidence, that the true rate is below R. Exactly (binomial sums,
 *   tests/unit/test_stats.c): when the true rate is R itself, the check
 *   fails in at most 9% of suite runs for 5 to 20 runs, at most 4% for 50
 *   to 200 (Wilson's coverage is near, not at, nominal for few runs); when
 *   the true rate is 0.05 above R, in under 1.5% for 10 runs and under
 *   0.7% for 20 to 100, and less with more runs. An honest rule that fails only on evidence;
 *   a rate declared with a margin below what the scenario achieves does not
 *   flake. A rate truly below R fails more surely with a larger --repeat.
 */
#ifndef PUNCH_STATS_H
#define PUNCH_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "report/result.h"

/* z of a two-sided 95% interval. */
#define STATS_Z95 1.959963984540054

/* The Wilson score interval of k successes in n trials at z: [*lo, *hi],
 * within [0, 1]. n == 0 gives [0, 1] (nothing is known). k > n is
 * treated as k == n. */
void stats_wilson(unsigned k, unsigned n, double z, double *lo, double *hi);

/* The p-th percentile (0 < p <= 100) of v[0..n) by the nearest-rank method
 * (the smallest value with at least p% of the values at or below it: always
 * one of the values). Sorts v in place. Returns NAN when n == 0. */
double stats_percentile(double *v, size_t n, double p);

/* Does a scenario with k of n runs as expected pass its declared rate
 * (0 < rate <= 1)? The rule of the header comment: the Wilson upper bound
 * reaches the rate. n == 0 never passes. */
bool stats_rate_pass(unsigned k, unsigned n, double rate);

/* Parse "I/N" (1 <= I <= N <= 10000) into *i and *n. Returns 0 or -EINVAL. */
int stats_shard_parse(const char *s, unsigned *i, unsigned *n);
/* Is the index-th scenario (0-based, in the order of the command line's
 * files and their cells) in shard i of n? Round robin: index % n == i - 1.
 * Every index is in exactly one shard, and shards differ in size by at
 * most one. */
bool stats_shard_has(size_t index, unsigned i, unsigned n);

/* One scenario over all its runs. Strings are borrowed from the results. */
struct stats_agg {
	const char *name;
	const char *file;
	enum outcome expected;          /* of the first run */
	double expect_rate;             /* 0: none declared */
	unsigned runs, passed, errors;
	unsigned direct, relayed, failed, other; /* actual outcomes */
	double lo, hi;                  /* 95% Wilson interval of passed/runs */
	unsigned n_ms;                  /* runs with a time to the direct path */
	double p50_ms, p95_ms;          /* of those (NAN when n_ms == 0) */
	enum result_verdict verdict;    /* by the rule of the header comment */
	enum result_outcome outcome;    /* the most frequent actual outcome */
	const struct result *first;     /* the first run, for error text and pictures */
};

/* The time to the direct path of one run in milliseconds: the larger of the
 * peers' "direct_ms" (each peer's own time from start to its direct path,
 * in its JSON report), or -1 when the run did not end direct or no peer
 * reported the time. */
double stats_direct_ms(const struct result *r);

/* Group rs[0..n) by name, in the order names first appear, into *out
 * (free() it) and *n_out. Returns 0 or -ENOMEM. */
int stats_aggregate(const struct result *rs, size_t n, struct stats_agg **out, size_t *n_out);

/* Did any scenario run more than once, or declare a rate? (Then the rate
 * table is worth showing.) */
bool stats_any_rates(const struct stats_agg *a, size_t n);

/* The rate table: per scenario runs, rate with its interval, outcomes,
 * p50/p95 ms to direct, verdict; then the count line. Returns 0 or -EIO. */
int stats_table(FILE *f, const struct stats_agg *a, size_t n, bool color);
/* The same as a Markdown table. */
int stats_markdown(FILE *f, const struct stats_agg *a, size_t n);

/* What changed for one scenario between a base and a new report. */
enum stats_change {
	STATS_SAME = 0,
	STATS_REGRESSED,        /* passed in base, not in new */
	STATS_IMPROVED,         /* did not pass in base, passes in new */
	STATS_RATE_DOWN,        /* same verdict, rate lower beyond noise */
	STATS_RATE_UP,          /* same verdict, rate higher beyond noise */
	STATS_CHANGED,          /* same verdict, rate within noise, another outcome */
	STATS_NEW,              /* only in new */
	STATS_GONE,             /* only in base */
};

/* The word for a change: "same" "regressed" "improved" "rate-down"
 * "rate-up" "changed" "new" "gone". */
const char *stats_change_name(enum stats_change c);

/* Classify base -> new (either may be NULL: absent). "Beyond noise": the
 * two 95% Wilson intervals of the pass rates do not overlap, a stricter
 * test than a two-proportion test, so that noise is not reported as change. */
enum stats_change stats_diff_classify(const struct stats_agg *base, const struct stats_agg *new);

/* Does a change fail a CI job (regressed, rate-down)? */
bool stats_change_is_bad(enum stats_change c);

#endif
