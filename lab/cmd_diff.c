/* punchlab diff BASE.json NEW.json: each scenario of either report over
 * all its runs (report/stats.h), classified base -> new, the changes
 * listed; exit 1 when one is bad for CI (a regression, or a pass rate lower
 * beyond noise), 0 otherwise, 2 when a report cannot be read. */
#include "commands.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "report/report.h"
#include "report/stats.h"

static const struct stats_agg *find(const struct stats_agg *a, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(a[i].name, name) == 0)
			return &a[i];
	return NULL;
}

/* "pass 20/20 direct" or "-" */
static void side(FILE *f, const struct stats_agg *a)
{
	if (!a) {
		fputs("-", f);
		return;
	}
	fprintf(f, "%s %u/%u %s", result_verdict_name(a->verdict), a->passed, a->runs, result_outcome_name(a->outcome));
	if (a->runs > 1)
		fprintf(f, " [%.0f%%-%.0f%%]", 100 * a->lo, 100 * a->hi);
}

static void line(FILE *f, enum stats_change c, const char *name, const struct stats_agg *b,
		 const struct stats_agg *n)
{
	fprintf(f, "%-10s %s: ", stats_change_name(c), name);
	side(f, b);
	fputs(" -> ", f);
	side(f, n);
	fputc('\n', f);
}

int cmd_diff(const char *base, const char *new, const struct lab_opts *o)
{
	struct result *rb = NULL, *rn = NULL;
	struct stats_agg *ab = NULL, *an = NULL;
	size_t nb = 0, nn = 0, kb = 0, kn = 0;
	unsigned counts[STATS_GONE + 1] = { 0 };
	int status = EXIT_USAGE, worst = 0;

	if (cmd_report_load(base, &rb, &nb) < 0 || cmd_report_load(new, &rn, &nn) < 0)
		goto cleanup;
	if (stats_aggregate(rb, nb, &ab, &kb) < 0 || stats_aggregate(rn, nn, &an, &kn) < 0) {
		log_errx("out of memory");
		goto cleanup;
	}
	/* the new report's order, then what is only in the base */
	for (size_t i = 0; i < kn; i++) {
		const struct stats_agg *b = find(ab, kb, an[i].name);
		enum stats_change c = stats_diff_classify(b, &an[i]);

		counts[c]++;
		worst |= stats_change_is_bad(c);
		if (c != STATS_SAME)
			line(stdout, c, an[i].name, b, &an[i]);
	}
	for (size_t i = 0; i < kb; i++)
		if (!find(an, kn, ab[i].name)) {
			counts[STATS_GONE]++;
			line(stdout, STATS_GONE, ab[i].name, &ab[i], NULL);
		}
	printf("%zu scenarios: %u regressed, %u rate down, %u improved, %u rate up, %u changed, %u new, %u gone, "
	       "%u same\n", kn + counts[STATS_GONE], counts[STATS_REGRESSED], counts[STATS_RATE_DOWN],
	       counts[STATS_IMPROVED], counts[STATS_RATE_UP], counts[STATS_CHANGED], counts[STATS_NEW],
	       counts[STATS_GONE], counts[STATS_SAME]);
	(void)o;
	status = worst ? EXIT_MISMATCH : EXIT_PASS;
cleanup:
	free(ab);
	free(an);
	report_results_free(rb, nb);
	report_results_free(rn, nn);
	return status;
}
