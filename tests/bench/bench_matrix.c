/* bench_matrix: the wall time of a whole matrix run, `punchlab run MATRIX`,
 * as a user runs it (the default -j), against two baselines run in turn
 * with it (A B C A B C ...), so that load hits all alike:
 *
 *   - the same with --no-self-check: the floor of what the matrix costs
 *     without classifying its routers; the ratio is what the self-check
 *     still adds;
 *   - the same at -j 2, the default of a 2-core machine before the default
 *     followed what the machine can hold rather than the number of CPUs; the
 *     ratio is what the concurrency default buys.
 *
 * Every run must give the same outcome in every cell (read back from its
 * --json report), or the bench fails: a faster run that says something else
 * is no faster run. Medians of the rounds; nothing is compared with a stored
 * absolute time.
 *
 * Usage: bench_matrix [MATRIX [ROUNDS]]   (root; default
 * matrices/rfc4787.matrix, 3 rounds; punchlab is taken from the directory
 * above this binary, $(O)/)
 */
#include <errno.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/mtime.h"
#include "bench.h"

#define NCONF 3

/* $(O)/punchlab: beside the parent of this binary's directory. */
static int punchlab_path(char *buf, size_t size)
{
	char dir[PATH_MAX];
	int rc = bench_bindir(dir, sizeof(dir));

	if (rc < 0)
		return rc;
	return snprintf(buf, size, "%s/punchlab", dir) < (int)size ? 0 : -ENAMETOOLONG;
}

/* Run punchlab with argv (its output to /dev/null); the wall time in *ms.
 * Returns its exit status, or -1. */
static int run(char *const argv[], double *ms)
{
	mtime_ms t0 = mtime_now();
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return -1;
	if (pid == 0) {
		if (!freopen("/dev/null", "w", stdout) || !freopen("/dev/null", "w", stderr))
			_exit(127);
		execv(argv[0], argv);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0)
		return -1;
	*ms = (double)(mtime_now() - t0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* "cell=outcome;..." from a --json report, into out (malloc'd). Returns 0 or -1. */
static int outcomes(const char *path, char **out)
{
	json_object *o = json_object_from_file(path), *sc;
	char *text = NULL;
	size_t len = 0;
	FILE *f;
	int rc = -1;

	if (!o || !json_object_object_get_ex(o, "scenarios", &sc) || !json_object_is_type(sc, json_type_array))
		goto cleanup;
	f = open_memstream(&text, &len);
	if (!f)
		goto cleanup;
	for (size_t i = 0; i < json_object_array_length(sc); i++) {
		json_object *s = json_object_array_get_idx(sc, i), *name, *actual, *verdict;

		if (json_object_object_get_ex(s, "name", &name) && json_object_object_get_ex(s, "actual", &actual) &&
		    json_object_object_get_ex(s, "verdict", &verdict))
			fprintf(f, "%s=%s/%s;", json_object_get_string(name), json_object_get_string(actual),
				json_object_get_string(verdict));
	}
	if (fclose(f) == 0 && len) {
		*out = text;
		text = NULL;
		rc = 0;
	}
cleanup:
	free(text);
	json_object_put(o);
	return rc;
}

int main(int argc, char **argv)
{
	static const char *const label[NCONF] = {
		"default -j, with the self-check",
		"default -j, --no-self-check (floor)",
		"-j 2, with the self-check (old default)",
	};
	static char default_matrix[] = "matrices/rfc4787.matrix", a_run[] = "run", a_json[] = "--json",
		    a_nsc[] = "--no-self-check", a_j[] = "-j", a_2[] = "2";
	char *matrix = argc > 1 ? argv[1] : default_matrix;
	int rounds = argc > 2 ? atoi(argv[2]) : 3, rc = 1;
	char prog[PATH_MAX], dir[] = "/tmp/bench_matrix.XXXXXX", json[PATH_MAX], *first = NULL;
	double *ms[NCONF] = { NULL };

	if (geteuid() != 0) {
		printf("bench_matrix: SKIP (needs root to build namespaces)\n");
		return 0;
	}
	if (rounds < 1 || rounds > 100)
		rounds = 3;
	for (int c = 0; c < NCONF; c++)
		if (!(ms[c] = calloc((size_t)rounds, sizeof(double))))
			goto cleanup;
	if (punchlab_path(prog, sizeof(prog)) < 0 || !mkdtemp(dir))
		goto cleanup;
	snprintf(json, sizeof(json), "%s/report.json", dir);
	for (int r = 0; r < rounds; r++) {
		for (int c = 0; c < NCONF; c++) {
			char *args[8] = { prog, a_run, a_json, json }, *got = NULL;
			int n = 4, st;

			if (c == 1)
				args[n++] = a_nsc;
			if (c == 2) {
				args[n++] = a_j;
				args[n++] = a_2;
			}
			args[n++] = matrix;
			args[n] = NULL;
			st = run(args, &ms[c][r]);
			if (st != 0 || outcomes(json, &got) < 0) {
				fprintf(stderr, "bench_matrix: FAIL: %s run %s exited %d\n", label[c], matrix, st);
				free(got);
				goto cleanup;
			}
			if (!first) {
				first = got;
				continue;
			}
			if (strcmp(first, got) != 0) {
				fprintf(stderr, "bench_matrix: FAIL: %s gave other outcomes:\n  %s\nwhere before\n  %s\n",
					label[c], got, first);
				free(got);
				goto cleanup;
			}
			free(got);
		}
	}
	{
		double m[NCONF];

		for (int c = 0; c < NCONF; c++)
			m[c] = bench_median(ms[c], rounds);
		printf("bench_matrix: %s, %d rounds (medians; every run gave the same outcome in every cell)\n", matrix,
		       rounds);
		for (int c = 0; c < NCONF; c++)
			printf("  %-40s %8.2f s\n", label[c], m[c] / 1000.0);
		printf("  ratio: the self-check adds %.2fx to the floor\n", m[1] > 0 ? m[0] / m[1] : 0.0);
		printf("  ratio: the default -j is %.1fx faster than -j 2\n", m[0] > 0 ? m[2] / m[0] : 0.0);
	}
	rc = 0;
cleanup:
	unlink(json);
	rmdir(dir);
	free(first);
	for (int c = 0; c < NCONF; c++)
		free(ms[c]);
	return rc;
}
