/* The reports of a set of results, for punchlab run (what finished) and
 * punchlab merge (what the shards' reports hold): one code path, so that a
 * merged report is written exactly as an unsharded one. */
#include "commands.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "model/matrix.h"
#include "report/matrix_report.h"
#include "report/report.h"
#include "report/stats.h"

int cmd_file_pattern(const char *arg, char *path, size_t size, const char **pattern)
{
	const char *colon = strstr(arg, ".matrix:");
	size_t len = colon ? (size_t)(colon - arg) + 7 : strlen(arg);

	*pattern = colon ? colon + 8 : NULL;
	if (len >= size)
		return -ENAMETOOLONG;
	memcpy(path, arg, len);
	path[len] = '\0';
	return 0;
}

static int write_report(const char *path, int (*fn)(FILE *, const struct result *, size_t),
			const struct result *rs, size_t n, const struct stats_agg *a, size_t na)
{
	FILE *f = fopen(path, "we");

	if (!f) {
		log_err("%s", path);
		return -errno;
	}
	/* Markdown gets the rate table too: it is the CI job summary. */
	if (fn(f, rs, n) < 0 || (fn == report_markdown && stats_any_rates(a, na) && stats_markdown(f, a, na) < 0) ||
	    ferror(f)) {
		log_errx("%s: could not write the report", path);
		fclose(f);
		return -EIO;
	}
	if (fclose(f) != 0) {
		log_err("%s", path);
		return -EIO;
	}
	return 0;
}

static int picture_write(const char *dir, const char *name, const char *ext,
			 int (*fn)(FILE *, const struct matrix_picture *), const struct matrix_picture *pic)
{
	char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s.%s", dir, name, ext);
	f = fopen(path, "we");
	if (!f || fn(f, pic) < 0 || fclose(f) != 0) {
		log_err("%s", path);
		return -EIO;
	}
	return 0;
}

/* Matrix m's picture, each cell the scenario of its name over all its
 * runs; cells with no result show as not run. */
static int matrix_picture(const struct lab_opts *o, FILE *live, const struct matrix *m, const struct stats_agg *a,
			  size_t na)
{
	int n = matrix_n_cells(m), k = 0, rc = 0;
	struct matrix_report_cell *cells = calloc((size_t)n + 1, sizeof(*cells));
	const char **names = calloc((size_t)matrix_n_profiles(m) + 1, sizeof(*names));
	struct matrix_picture pic;
	char name[256];

	if (!cells || !names) {
		free(cells);
		free(names);
		return -ENOMEM;
	}
	for (int i = 0; i < matrix_n_profiles(m); i++)
		names[i] = matrix_profile_name(m, i);
	for (int c = 0; c < n; c++) {
		matrix_cell_pos(m, c, &cells[k].row, &cells[k].col);
		matrix_cell_name(m, c, name, sizeof(name));
		for (size_t j = 0; j < na; j++)
			if (strcmp(a[j].name, name) == 0) {
				cells[k].result = a[j].first;
				cells[k].agg = &a[j];
			}
		k++;
	}
	pic = (struct matrix_picture){ .title = matrix_name(m), .description = matrix_description(m),
				       .profiles = names, .n_profiles = matrix_n_profiles(m),
				       .cells = cells, .n_cells = k };
	fputc('\n', live);
	matrix_report_text(live, &pic, o->color);
	if (o->picture) {
		rc |= picture_write(o->picture, matrix_name(m), "svg", matrix_report_svg, &pic);
		rc |= picture_write(o->picture, matrix_name(m), "md", matrix_report_markdown, &pic);
	}
	free(cells);
	free(names);
	return rc ? -EIO : 0;
}

int cmd_reports(const struct lab_opts *o, FILE *live, const struct result *rs, size_t n,
		struct matrix *const *mats, int n_mats, int *not_passed)
{
	struct stats_agg *a = NULL;
	size_t na = 0;
	int bad = 0;

	*not_passed = 0;
	if (stats_aggregate(rs, n, &a, &na) < 0) {
		log_errx("out of memory");
		*not_passed = 1;
		return 1;
	}
	for (size_t i = 0; i < na; i++)
		*not_passed += a[i].verdict != VERDICT_PASS;
	if (o->tap)
		report_tap(stdout, rs, n);
	report_summary(live, rs, n, o->color);
	if (stats_any_rates(a, na))
		stats_table(live, a, na, o->color);
	for (int mi = 0; mi < n_mats; mi++)
		bad += matrix_picture(o, live, mats[mi], a, na) < 0;
	if (o->junit)
		bad += write_report(o->junit, report_junit, rs, n, a, na) < 0;
	if (o->json)
		bad += write_report(o->json, report_json, rs, n, a, na) < 0;
	if (o->markdown)
		bad += write_report(o->markdown, report_markdown, rs, n, a, na) < 0;
	free(a);
	return bad;
}
