/* punchlab merge: the JSON reports of the shards of one run (punchlab run
 * --shard I/N --json F) joined into one report, written by the same code
 * as an unsharded run's (cmd_reports), so that merging the N shards gives
 * the report of the whole: the same scenarios and the same verdicts. */
#include "commands.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "model/matrix.h"
#include "report/report.h"
#include "report/stats.h"

/* A whole file into *text (malloc'd, NUL-terminated) and *len. Returns 0 or
 * -errno after saying why. */
static int slurp(const char *path, char **text, size_t *len)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t cap = 0, n = 0;

	*text = NULL;
	if (!f) {
		log_err("%s", path);
		return -errno;
	}
	for (;;) {
		if (n + 4096 + 1 > cap) {
			char *nb = realloc(buf, cap = cap ? 2 * cap : 65536);

			if (!nb) {
				free(buf);
				fclose(f);
				log_errx("%s: out of memory", path);
				return -ENOMEM;
			}
			buf = nb;
		}
		size_t got = fread(buf + n, 1, cap - n - 1, f);

		n += got;
		if (got == 0)
			break;
	}
	if (ferror(f)) {
		log_errx("%s: could not be read", path);
		free(buf);
		fclose(f);
		return -EIO;
	}
	fclose(f);
	buf[n] = '\0';
	*text = buf;
	*len = n;
	return 0;
}

int cmd_report_load(const char *path, struct result **out, size_t *n)
{
	char *text;
	size_t len = 0;
	int rc = slurp(path, &text, &len);

	*out = NULL;
	*n = 0;
	if (rc < 0)
		return rc;
	rc = report_json_read(text, len, out, n);
	free(text);
	if (rc == -EBADMSG)
		log_errx("%s: not a punchlab JSON report (punchlab run --json FILE writes one)", path);
	else if (rc < 0)
		log_errx("%s: %s", path, strerror(-rc));
	return rc;
}

/* The same scenario and repetition twice means overlapping shards (or a
 * report given twice): the merge would count runs twice. */
static int check_unique(const struct result *rs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n; j++)
			if (rs[i].repetition == rs[j].repetition && strcmp(rs[i].name, rs[j].name) == 0) {
				log_errx("%s%s%d is in two of the reports: shards must not overlap (the same "
					 "files and --repeat, --shard 1/N to N/N)", rs[i].name,
					 rs[i].repetition ? " run " : "", rs[i].repetition);
				return -EINVAL;
			}
	return 0;
}

/* The matrix file a result came from: a cell's file is "FILE.matrix[ROW x
 * COL]" (matrix_cell_topo). Returns false for a topology. */
static bool matrix_file_of(const char *file, char *path, size_t size)
{
	const char *end = file ? strstr(file, ".matrix[") : NULL;

	if (!end || (size_t)(end - file) + 8 > size)
		return false;
	snprintf(path, size, "%.*s", (int)(end - file) + 7, file);
	return true;
}

/* The matrix files the results name, each parsed once, for the pictures
 * (when a file is not there, its picture is left out with a warning). */
static int load_matrices(const struct result *rs, size_t n, struct matrix ***mats, int *n_mats)
{
	char (*seen)[PATH_MAX] = calloc(n + 1, sizeof(*seen));

	*mats = calloc(n + 1, sizeof(**mats));
	*n_mats = 0;
	if (!*mats || !seen) {
		free(seen);
		return -ENOMEM;
	}
	for (size_t i = 0, n_seen = 0; i < n; i++) {
		char err[1024], path[PATH_MAX];
		bool dup = false;

		if (!matrix_file_of(rs[i].file, path, sizeof(path)))
			continue;
		for (size_t j = 0; j < n_seen && !dup; j++)
			dup = strcmp(seen[j], path) == 0;
		if (dup)
			continue;
		memcpy(seen[n_seen++], path, sizeof(path));
		if (matrix_parse_file(path, &(*mats)[*n_mats], err, sizeof(err)) < 0)
			log_warnx("no picture of %s: %s", path, err);
		else
			(*n_mats)++;
	}
	free(seen);
	return 0;
}

int cmd_merge(int nfiles, char **files, const struct lab_opts *o)
{
	struct result *all = NULL;
	struct matrix **mats = NULL;
	size_t n = 0;
	int n_mats = 0, status = EXIT_USAGE, not_passed = 0, bad;

	for (int f = 0; f < nfiles; f++) {
		struct result *rs, *grown;
		size_t k;

		if (cmd_report_load(files[f], &rs, &k) < 0)
			goto cleanup;
		grown = realloc(all, (n + k + 1) * sizeof(*all));
		if (!grown) {
			report_results_free(rs, k);
			log_errx("out of memory");
			goto cleanup;
		}
		all = grown;
		/* the results move: their strings and reports are now all's */
		memcpy(all + n, rs, k * sizeof(*rs));
		n += k;
		free(rs);
	}
	if (check_unique(all, n) < 0 || load_matrices(all, n, &mats, &n_mats) < 0)
		goto cleanup;
	bad = cmd_reports(o, o->tap ? stderr : stdout, all, n, mats, n_mats, &not_passed);
	status = bad || not_passed ? EXIT_MISMATCH : EXIT_PASS;
cleanup:
	for (int i = 0; i < n_mats; i++)
		matrix_free(mats[i]);
	free(mats);
	report_results_free(all, n);
	return status;
}
