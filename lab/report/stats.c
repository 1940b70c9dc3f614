/* Statistics over repeated runs (stats.h). */
#include "report/stats.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "common/num.h"
#include "report/textout.h"

#define COLOR_RED "\033[1;31m"
#define COLOR_GREEN "\033[32m"
#define COLOR_YELLOW "\033[33m"
#define COLOR_OFF "\033[0m"

void stats_wilson(unsigned k, unsigned n, double z, double *lo, double *hi)
{
	double p, z2, den, mid, half;

	if (n == 0) {
		*lo = 0;
		*hi = 1;
		return;
	}
	if (k > n)
		k = n;
	p = (double)k / n;
	z2 = z * z;
	den = 1 + z2 / n;
	mid = (p + z2 / (2.0 * n)) / den;
	half = z * sqrt(p * (1 - p) / n + z2 / (4.0 * n * n)) / den;
	*lo = mid - half < 0 ? 0 : mid - half;
	*hi = mid + half > 1 ? 1 : mid + half;
	/* At k == 0 and k == n the bound is exactly 0 or 1; rounding must not
	 * turn 1 into 0.9999999 and fail an expect-rate of 1. */
	if (k == 0)
		*lo = 0;
	if (k == n)
		*hi = 1;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

double stats_percentile(double *v, size_t n, double p)
{
	size_t rank;

	if (n == 0)
		return NAN;
	qsort(v, n, sizeof(*v), cmp_double);
	/* nearest rank: ceil(p/100 * n), 1-based */
	rank = (size_t)ceil(p / 100.0 * (double)n - 1e-9);
	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return v[rank - 1];
}

bool stats_rate_pass(unsigned k, unsigned n, double rate)
{
	double lo, hi;

	if (n == 0)
		return false;
	stats_wilson(k, n, STATS_Z95, &lo, &hi);
	return hi >= rate;
}

int stats_shard_parse(const char *s, unsigned *i, unsigned *n)
{
	const char *slash = strchr(s, '/');
	unsigned long a, b;
	char left[16];

	if (!slash || (size_t)(slash - s) >= sizeof(left))
		return -EINVAL;
	snprintf(left, sizeof(left), "%.*s", (int)(slash - s), s);
	if (num_parse_uint(left, 10000, &a) < 0 || num_parse_uint(slash + 1, 10000, &b) < 0 || a < 1 || a > b)
		return -EINVAL;
	*i = (unsigned)a;
	*n = (unsigned)b;
	return 0;
}

bool stats_shard_has(size_t index, unsigned i, unsigned n)
{
	return n > 0 && index % n == i - 1;
}

/* A peer's "direct_ms" from its JSON report, or -1. */
static double peer_direct_ms(const struct result_peer *p)
{
	struct json_object *v;

	if (!p->report || !json_object_is_type(p->report, json_type_object) ||
	    !json_object_object_get_ex(p->report, "direct_ms", &v) ||
	    !(json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double)))
		return -1;
	return json_object_get_double(v) >= 0 ? json_object_get_double(v) : -1;
}

double stats_direct_ms(const struct result *r)
{
	double a, b;

	if (r->actual != RESULT_DIRECT)
		return -1;
	a = peer_direct_ms(&r->peers[0]);
	b = peer_direct_ms(&r->peers[1]);
	return a > b ? a : b;
}

static void agg_add(struct stats_agg *a, const struct result *r)
{
	if (!a->first) {
		a->name = r->name;
		a->file = r->file;
		a->expected = r->expected;
		a->expect_rate = r->expect_rate;
		a->first = r;
	}
	a->runs++;
	a->passed += r->verdict == VERDICT_PASS;
	a->errors += r->verdict == VERDICT_ERROR;
	switch (r->actual) {
	case RESULT_DIRECT: a->direct++; break;
	case RESULT_RELAYED: a->relayed++; break;
	case RESULT_FAILED: a->failed++; break;
	default: a->other++; break;
	}
}

/* The verdict, interval, most frequent outcome and percentiles of a, whose
 * runs are the results named a->name in rs. */
static int agg_finish(struct stats_agg *a, const struct result *rs, size_t n)
{
	double *ms = calloc(a->runs + 1, sizeof(*ms));
	unsigned best = a->direct;

	if (!ms)
		return -ENOMEM;
	stats_wilson(a->passed, a->runs, STATS_Z95, &a->lo, &a->hi);
	if (a->errors)
		a->verdict = VERDICT_ERROR;
	else if (a->expect_rate > 0)
		a->verdict = stats_rate_pass(a->passed, a->runs, a->expect_rate) ? VERDICT_PASS : VERDICT_FAIL;
	else
		a->verdict = a->passed == a->runs ? VERDICT_PASS : VERDICT_FAIL;
	a->outcome = RESULT_DIRECT;
	if (a->relayed > best)
		best = a->relayed, a->outcome = RESULT_RELAYED;
	if (a->failed > best)
		best = a->failed, a->outcome = RESULT_FAILED;
	if (a->other > best)
		a->outcome = a->errors == a->runs ? RESULT_ERROR : a->first->actual;
	a->n_ms = 0;
	for (size_t i = 0; i < n; i++) {
		double v;

		if (strcmp(rs[i].name, a->name) == 0 && (v = stats_direct_ms(&rs[i])) >= 0)
			ms[a->n_ms++] = v;
	}
	a->p50_ms = stats_percentile(ms, a->n_ms, 50);
	a->p95_ms = stats_percentile(ms, a->n_ms, 95);
	free(ms);
	return 0;
}

int stats_aggregate(const struct result *rs, size_t n, struct stats_agg **out, size_t *n_out)
{
	struct stats_agg *a = calloc(n + 1, sizeof(*a));
	size_t k = 0;

	*out = NULL;
	*n_out = 0;
	if (!a)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		size_t j = 0;

		while (j < k && strcmp(a[j].name, rs[i].name) != 0)
			j++;
		if (j == k)
			k++;
		agg_add(&a[j], &rs[i]);
	}
	for (size_t j = 0; j < k; j++)
		if (agg_finish(&a[j], rs, n) < 0) {
			free(a);
			return -ENOMEM;
		}
	*out = a;
	*n_out = k;
	return 0;
}

bool stats_any_rates(const struct stats_agg *a, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (a[i].runs > 1 || a[i].expect_rate > 0)
			return true;
	return false;
}

/* A rate for people: %g, except that a derived rate within 1e-4 of 1 (the
 * birthday method's, outcome.h) shows its distance from 1 instead of
 * rounding to a 1 that means "every run". */
static const char *rate_text(double r, char *buf, size_t size)
{
	if (r < 1 && r > 0.9999)
		snprintf(buf, size, "1 - %.2g", 1 - r);
	else
		snprintf(buf, size, "%g", r);
	return buf;
}

/* "18/20 90% [69.9%, 97.2%]" */
static void put_rate(FILE *f, const struct stats_agg *a)
{
	fprintf(f, "%u/%u %.0f%% [%.1f%%, %.1f%%]", a->passed, a->runs, a->runs ? 100.0 * a->passed / a->runs : 0.0,
		100 * a->lo, 100 * a->hi);
}

static void put_ms(FILE *f, const struct stats_agg *a)
{
	if (a->n_ms)
		fprintf(f, "%.0f/%.0f ms", a->p50_ms, a->p95_ms);
	else
		fputs("-", f);
}

static const char *verdict_word(enum result_verdict v)
{
	return v == VERDICT_PASS ? "PASS" : v == VERDICT_FAIL ? "FAIL" : "ERROR";
}

static void put_counts(FILE *f, const struct stats_agg *a, size_t n, const char *open, const char *close)
{
	size_t pass = 0, fail = 0, err = 0;

	for (size_t i = 0; i < n; i++) {
		pass += a[i].verdict == VERDICT_PASS;
		fail += a[i].verdict == VERDICT_FAIL;
		err += a[i].verdict == VERDICT_ERROR;
	}
	fprintf(f, "%s%zu scenario%s over their runs: %zu passed, %zu failed", open, n, n == 1 ? "" : "s", pass, fail);
	if (err)
		fprintf(f, ", %zu error%s", err, err == 1 ? "" : "s");
	fprintf(f, "%s\n", close);
}

int stats_table(FILE *f, const struct stats_agg *a, size_t n, bool color)
{
	size_t w = 8;

	for (size_t i = 0; i < n; i++) {
		size_t l = text_term_width(a[i].name);

		w = l > w ? l : w;
	}
	fputs("\nrates (95% Wilson interval; time to direct p50/p95):\n", f);
	for (size_t i = 0; i < n; i++) {
		const struct stats_agg *s = &a[i];
		/* a single run of a scenario with no expect-rate has no rate to
		 * show: its line above says it all, and a matrix would bury the few
		 * that do (the summary below still counts every scenario) */
		if (s->runs <= 1 && !(s->expect_rate > 0))
			continue;
		const char *on = s->verdict == VERDICT_PASS ? COLOR_GREEN :
				 s->verdict == VERDICT_FAIL ? COLOR_RED : COLOR_YELLOW;
		char rate[64] = "", num[32];

		fprintf(f, "%s%-5s%s  ", color ? on : "", verdict_word(s->verdict), color ? COLOR_OFF : "");
		text_pad(f, text_put_term(f, s->name, false, ""), w + 2);
		put_rate(f, s);
		if (s->expect_rate > 0)
			snprintf(rate, sizeof(rate), " (expect-rate %s)", rate_text(s->expect_rate, num, sizeof(num)));
		fprintf(f, "%s  D%u R%u F%u", rate, s->direct, s->relayed, s->failed);
		if (s->other)
			fprintf(f, " other%u", s->other);
		fputs("  ", f);
		put_ms(f, s);
		fputc('\n', f);
	}
	put_counts(f, a, n, "", "");
	return ferror(f) ? -EIO : 0;
}

int stats_markdown(FILE *f, const struct stats_agg *a, size_t n)
{
	fputs("\n### Rates\n\n| scenario | verdict | as expected | 95% interval | expect-rate | direct | relayed "
	      "| failed | other | to direct p50 / p95 |\n| --- | --- | --: | --- | --: | --: | --: | --: | --: | --: |\n",
	      f);
	for (size_t i = 0; i < n; i++) {
		const struct stats_agg *s = &a[i];

		fputs("| ", f);
		text_put_md(f, s->name, false);
		fprintf(f, " | %s | %u/%u | %.1f%% – %.1f%% | ", verdict_word(s->verdict), s->passed, s->runs,
			100 * s->lo, 100 * s->hi);
		char num[32];

		if (s->expect_rate > 0)
			fputs(rate_text(s->expect_rate, num, sizeof(num)), f);
		else
			fputs("–", f);
		fprintf(f, " | %u | %u | %u | %u | ", s->direct, s->relayed, s->failed, s->other);
		put_ms(f, s);
		fputs(" |\n", f);
	}
	fputc('\n', f);
	put_counts(f, a, n, "**", "**");
	return ferror(f) ? -EIO : 0;
}

const char *stats_change_name(enum stats_change c)
{
	static const char *const names[] = { [STATS_SAME] = "same", [STATS_REGRESSED] = "regressed",
					     [STATS_IMPROVED] = "improved", [STATS_RATE_DOWN] = "rate-down",
					     [STATS_RATE_UP] = "rate-up", [STATS_CHANGED] = "changed",
					     [STATS_NEW] = "new", [STATS_GONE] = "gone" };

	return (unsigned)c < sizeof(names) / sizeof(names[0]) ? names[c] : "?";
}

enum stats_change stats_diff_classify(const struct stats_agg *base, const struct stats_agg *new)
{
	if (!base && !new)
		return STATS_SAME;
	if (!base)
		return STATS_NEW;
	if (!new)
		return STATS_GONE;
	if (base->verdict == VERDICT_PASS && new->verdict != VERDICT_PASS)
		return STATS_REGRESSED;
	if (base->verdict != VERDICT_PASS && new->verdict == VERDICT_PASS)
		return STATS_IMPROVED;
	if (new->hi < base->lo)
		return STATS_RATE_DOWN;
	if (new->lo > base->hi)
		return STATS_RATE_UP;
	if (base->outcome != new->outcome || base->verdict != new->verdict)
		return STATS_CHANGED;
	return STATS_SAME;
}

bool stats_change_is_bad(enum stats_change c)
{
	return c == STATS_REGRESSED || c == STATS_RATE_DOWN;
}
