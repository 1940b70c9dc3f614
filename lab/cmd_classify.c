/* punchlab classify: each topology's routers, and each profile of a matrix
 * once, built in a lab of its own and classified with punch-probe, -j labs
 * at a time in the job pool; the output comes in the order of the files. */
#include "commands.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "kernel/build.h"
#include "model/matrix.h"
#include "model/plan.h"
#include "model/topo.h"
#include "pool.h"
#include "selfcheck.h"

/* Build t, classify its routers, print one line per router. Returns 0 when
 * every router behaves as declared, 1 when one does not (or could not be
 * classified), 3 when the lab could not be built or the probes not run. */
static int classify_topo(const struct topo *t, const char *label, const struct lab_opts *o)
{
	struct plan *p = NULL;
	struct lab *l = NULL;
	struct selfcheck *sc = NULL;
	char err[1024];
	int rc, status = EXIT_SETUP;
	struct topo seeded = *t; /* the run's seed for the routers' port pools */

	seeded.seed = o->seed;
	t = &seeded;
	printf("%s\n", label);
	fflush(stdout);
	rc = plan_build(t, &p, err, sizeof(err));
	if (rc == 0)
		rc = lab_up(t, p, &l, err, sizeof(err));
	if (rc == 0)
		rc = selfcheck_run(t, p, l, o->bindir, o->verbose, &sc, err, sizeof(err));
	if (rc < 0) {
		printf("  error: %s\n", err);
		goto cleanup;
	}
	if (sc->n == 0)
		printf("  (no routers)\n");
	status = EXIT_PASS;
	for (int i = 0; i < sc->n; i++) {
		const struct selfcheck_nat *e = &sc->nats[i];
		const char *verdict = !e->checked ? "not classified" : e->why[0] ? "ERROR" : e->match ? "ok" : "MISMATCH";
		bool bad = e->checked && (e->why[0] || !e->match);
		char name[MODEL_NAME_MAX + 8];

		snprintf(name, sizeof(name), "%s%s", t->nats[e->nat].name, e->family == 6 ? " (IPv6)" : "");
		printf("  %-16s declared %-32s observed %-32s %s%s%s%s%s\n", name, e->declared,
		       e->checked && !e->why[0] ? e->observed : "-", o->color && bad ? "\033[31m" : "", verdict,
		       o->color && bad ? "\033[0m" : "", e->why[0] || e->differs[0] ? ": " : "",
		       e->why[0] ? e->why : e->differs);
		if (o->verbose && e->report)
			printf("    %s\n", e->report);
		if (bad)
			status = EXIT_MISMATCH;
	}
cleanup:
	selfcheck_free(sc);
	lab_down(l);
	plan_free(p);
	return status;
}

struct classify_job {
	struct topo *t;
	char *label;
	int status;             /* exit status, once done */
	char *out;              /* what its worker printed */
	bool done;
};

struct classify {
	const struct lab_opts *o;
	struct classify_job *jobs;
	int n, shown, status;
};

/* A `classify` worker: one lab built and classified, its lines on fd. */
static int classify_body(int fd, int index, void *ctx)
{
	const struct classify *c = ctx;
	int rc;

	if (dup2(fd, STDOUT_FILENO) < 0)
		return EXIT_SETUP;
	rc = classify_topo(c->jobs[index].t, c->jobs[index].label, c->o);
	/* the worker ends in _exit(), which flushes nothing */
	return fflush(stdout) == 0 ? rc : EXIT_SETUP;
}

/* In order: each job as soon as it and all before it are done. */
static void classify_done(int index, int wstatus, char *out, size_t len, void *ctx)
{
	struct classify *c = ctx;
	struct classify_job *j = &c->jobs[index];

	(void)len;
	j->status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : EXIT_SETUP;
	j->out = out;
	if (!WIFEXITED(wstatus))
		fprintf(stderr, "%s: the worker process died without finishing\n", j->label);
	j->done = true;
	for (; c->shown < c->n && c->jobs[c->shown].done; c->shown++) {
		if (c->jobs[c->shown].out)
			fputs(c->jobs[c->shown].out, stdout);
		fflush(stdout);
		if (c->jobs[c->shown].status > c->status)
			c->status = c->jobs[c->shown].status;
	}
}

static int classify_add(struct classify *c, struct topo *t, const char *label)
{
	struct classify_job *nj = realloc(c->jobs, (size_t)(c->n + 1) * sizeof(*nj));

	if (!nj)
		return -ENOMEM;
	c->jobs = nj;
	nj[c->n] = (struct classify_job){ .t = t, .label = strdup(label) };
	if (!nj[c->n].label)
		return -ENOMEM;
	c->n++;
	return 0;
}

/* Each profile of matrix file path once: the cell of the profile with
 * itself holds it twice. */
static int classify_add_matrix(struct classify *c, const char *path)
{
	struct matrix *m = NULL;
	char err[1024];

	if (matrix_parse_file(path, &m, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		c->status = EXIT_MISMATCH;
		return 0;
	}
	for (int i = 0; i < matrix_n_profiles(m); i++) {
		char name[256], label[600];
		int cell = matrix_cell_index(m, i, i);
		struct topo *t = NULL;

		if (cell < 0 || matrix_cell_name(m, cell, name, sizeof(name)) < 0 ||
		    matrix_cell_topo(m, cell, &t, err, sizeof(err)) < 0) {
			fprintf(stderr, "%s: profile %s: %s\n", path, matrix_profile_name(m, i), err);
			c->status = EXIT_MISMATCH;
			continue;
		}
		snprintf(label, sizeof(label), "%s: profile %s", path, matrix_profile_name(m, i));
		if (classify_add(c, t, label) < 0) {
			topo_free(t);
			matrix_free(m);
			return -ENOMEM;
		}
	}
	matrix_free(m);
	return 0;
}

static int classify_add_file(struct classify *c, const char *path)
{
	struct topo *t = NULL;
	char err[1024];

	if (cmd_is_matrix(path))
		return classify_add_matrix(c, path);
	if (topo_parse_file(path, &t, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		c->status = EXIT_MISMATCH;
		return 0;
	}
	if (classify_add(c, t, path) < 0) {
		topo_free(t);
		return -ENOMEM;
	}
	return 0;
}

int cmd_classify(int nfiles, char **files, const struct lab_opts *o)
{
	struct classify c = { .o = o, .status = EXIT_PASS };
	struct pool_ops ops = { .body = classify_body, .done = classify_done, .ctx = &c };
	bool interrupted = false;
	int rc = 0;

	for (int f = 0; rc == 0 && f < nfiles; f++)
		rc = classify_add_file(&c, files[f]);
	if (rc == 0) {
		/* random port pools depend on it: a surprise is replayed with --seed */
		log_info("seed %llu (--seed %llu hands out the same ports again)", (unsigned long long)o->seed,
			 (unsigned long long)o->seed);
		rc = pool_run(c.n, o->jobs, &ops, &interrupted);
	}
	if (rc < 0) {
		log_errx("classify: %s", strerror(-rc));
		c.status = EXIT_SETUP;
	}
	if (interrupted) {
		/* what finished out of order is still worth its lines */
		for (int i = c.shown; i < c.n; i++)
			if (c.jobs[i].done && c.jobs[i].out)
				fputs(c.jobs[i].out, stdout);
		fflush(stdout);
		log_warnx("interrupted: the running labs were stopped");
		c.status = EXIT_INTERRUPTED;
	}
	for (int i = 0; i < c.n; i++) {
		topo_free(c.jobs[i].t);
		free(c.jobs[i].label);
		free(c.jobs[i].out);
	}
	free(c.jobs);
	return c.status;
}
