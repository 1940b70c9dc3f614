/* libFuzzer harness for the result codec (report/result.h), which reads a
 * worker's pipe and, later, report files: any bytes give a result or
 * -EBADMSG, never a crash or a leak; a result that decodes encodes again
 * and decodes to the same verdict and outcomes (the codec is its own
 * inverse on what it accepts). The same bytes go to the reader of a whole
 * --json report (report_json_read), and what it reads to the statistics of
 * punchlab merge and diff (report/stats.h): hostile repetitions, rates and
 * peer reports must give sane numbers, never a crash. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "report/report.h"
#include "report/result.h"
#include "report/stats.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What merge and diff do with a report read back: aggregate, tabulate,
 * and compare with itself (which must be the same). */
static void stats_check(const struct result *rs, size_t n)
{
	struct stats_agg *a = NULL;
	size_t na = 0, runs = 0, len = 0;
	char *buf = NULL;
	FILE *f;

	if (stats_aggregate(rs, n, &a, &na) < 0)
		return;
	for (size_t i = 0; i < na; i++) {
		runs += a[i].runs;
		if (a[i].passed > a[i].runs || a[i].lo < 0 || a[i].hi > 1 || a[i].lo > a[i].hi ||
		    stats_diff_classify(&a[i], &a[i]) != STATS_SAME)
			abort();
	}
	if (runs != n)
		abort();
	f = open_memstream(&buf, &len);
	if (f) {
		stats_table(f, a, na, true);
		stats_markdown(f, a, na);
		fclose(f);
	}
	free(buf);
	free(a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct result r, again, *list = NULL;
	size_t n = 0;
	char *text;
	int rc = report_json_read((const char *)data, size, &list, &n);

	/* the same bytes as a whole --json report */
	if (rc != 0 && rc != -EBADMSG && rc != -ENOMEM)
		abort();
	if (rc != 0 && (list || n))
		abort();
	if (rc == 0)
		stats_check(list, n);
	report_results_free(list, n);
	rc = result_from_json((const char *)data, size, &r);

	if (rc == -EBADMSG || rc == -ENOMEM) {
		if (r.name || r.routers)
			abort(); /* refused input leaves nothing behind */
		return 0;
	}
	if (rc != 0)
		abort();
	text = result_to_json(&r);
	if (text) {
		if (result_from_json(text, strlen(text), &again) != 0 || again.verdict != r.verdict ||
		    again.actual != r.actual || again.expected != r.expected || again.n_routers != r.n_routers)
			abort();
		result_clear(&again);
		free(text);
	}
	result_clear(&r);
	return 0;
}
