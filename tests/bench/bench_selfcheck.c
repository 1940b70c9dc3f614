/* bench_selfcheck: the self-check alone, with its short wait (proven by the
 * routers' drop counters) against the long wait only, as it was before.
 *
 * Both run on the same lab, freshly built for each (lab_up, the self-check,
 * lab_down; only the self-check is timed), in turn (A B A B ...) in the same
 * process, so load hits both alike; the result is the ratio of the medians.
 * Both must find the same behaviour for every router, or the bench fails:
 * a faster check that says something else is no faster check.
 *
 * Usage: bench_selfcheck [TOPOLOGY [ROUNDS]]   (root; default
 * topologies/pr-cone-vs-symmetric.topo, 5 rounds; the programs are taken
 * from the directory above this binary, $(O)/)
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/mtime.h"
#include "kernel/build.h"
#include "model/plan.h"
#include "model/topo.h"
#include "selfcheck.h"
#include "bench.h"

/* One self-check on a fresh lab: its time in *ms, what it observed of every
 * router into seen ("name observed; ..."). Returns 0, or -1 after saying why. */
static int one(const struct topo *t, const struct plan *p, const char *bindir, bool long_wait, double *ms,
	       char *seen, size_t seensize)
{
	struct lab *l = NULL;
	struct selfcheck *sc = NULL;
	char err[1024];
	mtime_ms t0;
	size_t len = 0;
	int rc;

	if (lab_up(t, p, &l, err, sizeof(err)) < 0) {
		fprintf(stderr, "bench_selfcheck: lab_up: %s\n", err);
		return -1;
	}
	t0 = mtime_now();
	rc = selfcheck_run_wait(t, p, l, bindir, false, long_wait, &sc, err, sizeof(err));
	*ms = (double)(mtime_now() - t0);
	lab_down(l);
	if (rc < 0) {
		fprintf(stderr, "bench_selfcheck: self-check: %s\n", err);
		return -1;
	}
	seen[0] = '\0';
	for (int i = 0; i < sc->n; i++) {
		const struct selfcheck_nat *e = &sc->nats[i];
		int w = snprintf(seen + len, seensize - len, "%s/%d %s%s; ", t->nats[e->nat].name, e->family,
				 e->checked ? e->observed : "-", e->match ? "" : " (mismatch)");

		if (w > 0 && (size_t)w < seensize - len)
			len += (size_t)w;
	}
	selfcheck_free(sc);
	return 0;
}

int main(int argc, char **argv)
{
	const char *path = argc > 1 ? argv[1] : "topologies/pr-cone-vs-symmetric.topo";
	int rounds = argc > 2 ? atoi(argv[2]) : 5;
	char bindir[PATH_MAX], err[512], first[2048] = "", seen[2048];
	struct topo *t = NULL;
	struct plan *p = NULL;
	double *fast = NULL, *slow = NULL;
	int rc = 1;

	if (geteuid() != 0) {
		printf("bench_selfcheck: SKIP (needs root to build namespaces)\n");
		return 0;
	}
	if (rounds < 1 || rounds > 1000)
		rounds = 5;
	fast = calloc((size_t)rounds, sizeof(*fast));
	slow = calloc((size_t)rounds, sizeof(*slow));
	if (!fast || !slow || bench_bindir(bindir, sizeof(bindir)) < 0)
		goto cleanup;
	if (topo_parse_file(path, &t, err, sizeof(err)) < 0 || plan_build(t, &p, err, sizeof(err)) < 0) {
		fprintf(stderr, "bench_selfcheck: %s\n", err);
		goto cleanup;
	}
	for (int r = 0; r < rounds; r++) {
		for (int k = 0; k < 2; k++) {
			if (one(t, p, bindir, k == 1, k ? &slow[r] : &fast[r], seen, sizeof(seen)) < 0)
				goto cleanup;
			if (!first[0]) {
				snprintf(first, sizeof(first), "%s", seen);
			} else if (strcmp(first, seen) != 0) {
				fprintf(stderr, "bench_selfcheck: FAIL: the %s wait observed\n  %s\nwhere before\n  %s\n",
					k ? "long" : "short", seen, first);
				goto cleanup;
			}
		}
	}
	{
		double a = bench_median(fast, rounds), b = bench_median(slow, rounds);

		printf("bench_selfcheck: %s, %d routers, %d rounds (medians, the same behaviour observed in every run)\n",
		       path, t->n_nats, rounds);
		printf("  %s\n", first);
		printf("  self-check, short wait proven by counters: %8.1f ms\n", a);
		printf("  self-check, long wait only (baseline):     %8.1f ms\n", b);
		printf("  ratio: the self-check is %.1fx faster\n", a > 0 ? b / a : 0.0);
	}
	rc = 0;
cleanup:
	plan_free(p);
	topo_free(t);
	free(fast);
	free(slow);
	return rc;
}
