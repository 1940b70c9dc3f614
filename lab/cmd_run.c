/* punchlab run: the scenarios of every file, -j at a time in the job pool
 * (pool.h), each worker's result coming back through the one result codec
 * (report/result.h); a line as each ends, then the reports. */
#include "commands.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fdio.h"
#include "common/log.h"
#include "common/mtime.h"
#include "kernel/build.h"
#include "model/matrix.h"
#include "model/outcome.h"
#include "model/topo.h"
#include "pool.h"
#include "report/matrix_report.h"
#include "report/report.h"
#include "report/stats.h"
#include "scenario.h"

/* A job: a topology file, or one cell of a matrix file parsed once, here,
 * before the workers are forked (they inherit it). */
struct job {
	const char *path;
	int cell;               /* -1: path is a topology */
	int matrix;             /* index into the run's matrices, or -1 */
	char *name;
	int rep;                /* 1..--repeat, or 0 */
};

struct run {
	const struct lab_opts *o;
	struct job *jobs;
	int n_jobs;
	struct matrix **mats;
	char **mat_paths;       /* the file each of mats was parsed from */
	int n_mats;
	struct result *rs;      /* rs[i]: job i's result, once done[i] */
	bool *done;
	int n_done, failed;
	FILE *live;
	bool progress;          /* a progress line on a terminal */
	mtime_ms start;
};

bool cmd_is_matrix(const char *path)
{
	size_t len = strlen(path);

	return len > 7 && strcmp(path + len - 7, ".matrix") == 0;
}

static int job_add(struct run *r, int *cap, const char *path, int matrix, int cell, char *name)
{
	if (!name)
		return -ENOMEM;
	if (r->n_jobs == *cap) {
		struct job *nj = realloc(r->jobs, (size_t)(*cap = *cap ? 2 * *cap : 16) * sizeof(*nj));

		if (!nj) {
			free(name);
			return -ENOMEM;
		}
		r->jobs = nj;
	}
	r->jobs[r->n_jobs++] = (struct job){ .path = path, .cell = cell, .matrix = matrix, .name = name };
	return 0;
}

/* Does the scenario name pass --only (any pattern), and for a matrix cell
 * the file's cell pattern (against "ROW-x-COL" in either order)? */
static bool job_wanted(const struct lab_opts *o, const char *name, const char *cell_pattern)
{
	bool any = !o->only;

	for (int i = 0; o->only && o->only[i]; i++)
		any |= fnmatch(o->only[i], name, 0) == 0;
	if (any && cell_pattern) {
		const char *cell = strchr(name, '/') ? strchr(name, '/') + 1 : name;
		const char *x = strstr(cell, "-x-");
		char swapped[256];

		if (fnmatch(cell_pattern, cell, 0) == 0)
			return true;
		if (!x)
			return false;
		snprintf(swapped, sizeof(swapped), "%s-x-%.*s", x + 3, (int)(x - cell), cell);
		return fnmatch(cell_pattern, swapped, 0) == 0;
	}
	return any;
}

/* A wanted scenario: in this shard (counted over all wanted scenarios, so
 * that every shard sees the same order), then once per repetition. */
static int job_select(struct run *r, int *cap, size_t *seen, const char *path, int matrix, int cell, char *name)
{
	const struct lab_opts *o = r->o;
	int reps = o->repeat > 1 ? o->repeat : 1;

	if (!name)
		return -ENOMEM;
	if (o->shard_n && !stats_shard_has((*seen)++, o->shard_i, o->shard_n)) {
		free(name);
		return 0;
	}
	for (int k = 0; k < reps; k++) {
		char *copy = k + 1 < reps ? strdup(name) : name;

		if (job_add(r, cap, path, matrix, cell, copy) < 0) {
			if (copy != name)
				free(name);
			return -ENOMEM;
		}
		r->jobs[r->n_jobs - 1].rep = o->repeat > 1 ? k + 1 : 0;
	}
	return 0;
}

/* A topology's expect-rate, or the rate the model derives for it
 * (outcome_topo_rate()); 0 when none, or when it does not parse: the
 * worker reports that. */
static double topo_rate(const char *path)
{
	struct topo *t = NULL;
	char err[256];
	double rate = 0;

	if (topo_parse_file(path, &t, err, sizeof(err)) == 0)
		rate = outcome_topo_rate(t);
	topo_free(t);
	return rate;
}

/* Has the scenario already been selected? The same file (or cell) named
 * twice, e.g. by two cell patterns, runs once. Another file of the same
 * name runs, with a warning: its results share the name in rates, merge and
 * diff. */
static bool job_known(const struct run *r, const char *path, int matrix, int cell, const char *name)
{
	for (int j = 0; j < r->n_jobs; j++) {
		const struct job *k = &r->jobs[j];

		if (strcmp(k->name, name) != 0 || k->rep > 1)
			continue;
		if (matrix >= 0 ? k->matrix == matrix && k->cell == cell : k->matrix < 0 && strcmp(k->path, path) == 0)
			return true;
		log_warnx("%s and %s are both scenario '%s': their results are counted together in rates, "
			  "merge and diff", k->path, path, name);
		return false;
	}
	return false;
}

/* The matrix in path, parsed once however often it is named. Returns its
 * index, or -errno after saying why. */
static int matrix_get(struct run *r, const char *path)
{
	char err[1024];

	for (int i = 0; i < r->n_mats; i++)
		if (strcmp(r->mat_paths[i], path) == 0)
			return i;
	if (matrix_parse_file(path, &r->mats[r->n_mats], err, sizeof(err)) < 0) {
		log_errx("%s", err);
		return -EINVAL;
	}
	r->mat_paths[r->n_mats] = strdup(path);
	if (!r->mat_paths[r->n_mats]) {
		matrix_free(r->mats[r->n_mats]);
		return -ENOMEM;
	}
	return r->n_mats++;
}

/* Files into jobs; each matrix file is parsed here, once. A matrix may
 * carry a cell pattern, FILE.matrix:PATTERN; --only, --shard and --repeat
 * apply to all. */
static int jobs_expand(struct run *r, int nfiles, char **files)
{
	size_t seen = 0;
	int cap = 0;

	r->mats = calloc((size_t)nfiles, sizeof(*r->mats));
	r->mat_paths = calloc((size_t)nfiles, sizeof(*r->mat_paths));
	if (!r->mats || !r->mat_paths)
		return -ENOMEM;
	for (int f = 0; f < nfiles; f++) {
		char name[256], path[PATH_MAX];
		const char *pattern;
		struct matrix *m;
		int mi, matched = 0;

		if (cmd_file_pattern(files[f], path, sizeof(path), &pattern) < 0)
			return -ENAMETOOLONG;
		if (!cmd_is_matrix(path)) {
			char *sname = scenario_name(files[f]);

			if (sname && (!job_wanted(r->o, sname, NULL) || job_known(r, files[f], -1, -1, sname))) {
				free(sname);
				continue;
			}
			if (job_select(r, &cap, &seen, files[f], -1, -1, sname) < 0)
				return -ENOMEM;
			continue;
		}
		mi = matrix_get(r, path);
		if (mi < 0)
			return mi;
		m = r->mats[mi];
		for (int c = 0; c < matrix_n_cells(m); c++) {
			matrix_cell_name(m, c, name, sizeof(name));
			if (!job_wanted(r->o, name, pattern))
				continue;
			matched++;
			if (job_known(r, files[f], mi, c, name))
				continue;
			if (job_select(r, &cap, &seen, files[f], mi, c, strdup(name)) < 0)
				return -ENOMEM;
		}
		if (pattern && !matched && !r->o->only) {
			log_errx("%s: no cell matches '%s' (cells are ROW-x-COL: punchlab list %s)", path, pattern,
				 path);
			return -EINVAL;
		}
	}
	return 0;
}

/* In a worker: run job index, its result encoded on fd. */
static int run_body(int fd, int index, void *ctx)
{
	const struct run *r = ctx;
	const struct job *j = &r->jobs[index];
	struct scenario_opts so = { .bindir = r->o->bindir, .verbose = r->o->verbose, .keep = r->o->keep,
				    .no_selfcheck = r->o->no_selfcheck, .pcap_dir = r->o->pcap,
				    .pcap_on_failure = r->o->pcap_on_failure, .pcap_cap = r->o->pcap_cap,
				    .seed = r->o->seed };
	struct result res = { 0 };
	struct topo *t = NULL;
	char err[1024], *json, pcap[PATH_MAX];
	int rc;

	/* Each repetition its own capture directory, DIR/rK, so that none
	 * overwrites another's. */
	if (j->rep && so.pcap_dir) {
		snprintf(pcap, sizeof(pcap), "%s/r%d", so.pcap_dir, j->rep);
		if (mkdir(pcap, 0755) < 0 && errno != EEXIST)
			log_warn("%s", pcap);
		so.pcap_dir = pcap;
	}
	if (j->cell < 0)
		scenario_run(j->path, &so, &res);
	else if (matrix_cell_topo(r->mats[j->matrix], j->cell, &t, err, sizeof(err)) == 0)
		scenario_run_topo(t, j->name, &so, &res);
	else
		result_set_error(&res, j->name, j->path, err);
	if (t)
		res.expect_rate = outcome_topo_rate(t);
	else if (j->cell < 0)
		res.expect_rate = topo_rate(j->path);
	res.repetition = j->rep;
	topo_free(t);
	json = result_to_json(&res);
	rc = json && fd_write_all(fd, json, strlen(json)) == 0 ? 0 : 1;
	free(json);
	result_clear(&res);
	return rc;
}

/* On a terminal: "[37/45] 1m12s elapsed, about 20s left" on a line of its
 * own that the next line overwrites. */
static void progress_clear(const struct run *r)
{
	if (r->progress)
		fputs("\r\033[K", r->live);
}

static void put_duration(FILE *f, long s)
{
	if (s >= 60)
		fprintf(f, "%ldm%02lds", s / 60, s % 60);
	else
		fprintf(f, "%lds", s);
}

static void progress_show(const struct run *r)
{
	long elapsed = (long)((mtime_now() - r->start) / 1000);

	if (!r->progress || r->n_done == r->n_jobs)
		return;
	fprintf(r->live, "[%d/%d] ", r->n_done, r->n_jobs);
	put_duration(r->live, elapsed);
	fputs(" elapsed", r->live);
	if (r->n_done > 0) {
		fputs(", about ", r->live);
		put_duration(r->live, elapsed * (r->n_jobs - r->n_done) / r->n_done);
		fputs(" left", r->live);
	}
	fflush(r->live);
}

/* While waiting: the progress line again, its times a second on. */
static void run_tick(void *ctx)
{
	const struct run *r = ctx;

	if (!r->progress)
		return;
	progress_clear(r);
	progress_show(r);
}

static void run_started(int index, void *ctx)
{
	struct run *r = ctx;

	/* On a terminal (or with -v), say what is running as it starts. */
	if (!r->o->tty && !r->o->verbose)
		return;
	progress_clear(r);
	fprintf(r->live, "RUN    %s", r->jobs[index].name);
	if (r->jobs[index].rep)
		fprintf(r->live, "#%d", r->jobs[index].rep);
	fputc('\n', r->live);
	progress_show(r);
	fflush(r->live);
}

/* A worker ended: its result, or an error result saying how it died. */
static void run_done(int index, int wstatus, char *out, size_t len, void *ctx)
{
	struct run *r = ctx;
	struct result *res = &r->rs[index];
	const struct job *j = &r->jobs[index];

	if (!out || result_from_json(out, len, res) < 0) {
		char why[160];

		snprintf(why, sizeof(why), "the worker process ended (%s %d) %s", WIFSIGNALED(wstatus) ? "signal" : "exit status",
			 WIFSIGNALED(wstatus) ? WTERMSIG(wstatus) : WEXITSTATUS(wstatus),
			 out ? "with a result that does not decode" : "without a result");
		result_set_error(res, j->name, j->path, why);
	}
	res->seed = r->o->seed; /* also on a result the worker could not write */
	free(out);
	r->done[index] = true;
	r->n_done++;
	if (res->verdict != VERDICT_PASS)
		r->failed++;
	progress_clear(r);
	if (r->progress)
		fprintf(r->live, "[%d/%d] ", r->n_done, r->n_jobs);
	report_live_line(r->live, res, r->o->color);
	progress_show(r);
	fflush(r->live);
}

/* Fail before an hour of labs, not after: can the reports be written? */
static int reports_writable(const struct lab_opts *o)
{
	const char *files[] = { o->junit, o->json, o->markdown };

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		FILE *f;

		if (!files[i])
			continue;
		f = fopen(files[i], "we");
		if (!f) {
			log_err("%s", files[i]);
			return -errno;
		}
		fclose(f);
	}
	if (o->picture && access(o->picture, W_OK) < 0) {
		log_err("--picture %s", o->picture);
		return -errno;
	}
	if (o->pcap) {
		struct stat sb;
		int e = 0;

		if (mkdir(o->pcap, 0755) < 0 && errno != EEXIST)
			e = errno;
		else if (stat(o->pcap, &sb) < 0 || access(o->pcap, W_OK) < 0)
			e = errno;
		else if (!S_ISDIR(sb.st_mode))
			e = ENOTDIR;
		if (e) {
			log_errx("--pcap %s: %s", o->pcap, strerror(e));
			return -e;
		}
	}
	return 0;
}

/* --keep of a name already kept would fail only after its run: say so now. */
static int keep_names_free(const struct run *r)
{
	for (int j = 0; r->o->keep && j < r->n_jobs; j++) {
		char path[512];

		lab_kept_path(r->jobs[j].name, "inet", path, sizeof(path));
		if (access(path, F_OK) == 0) {
			log_errx("--keep: a lab named '%s' is already kept: punchlab down %s first", r->jobs[j].name,
				 r->jobs[j].name);
			return -EEXIST;
		}
	}
	return 0;
}

/* Everything after the pool: the summary, pictures and reports of what
 * finished (in file order), by cmd_reports. Returns how many scenarios did
 * not pass over their runs plus how many outputs could not be written. */
static int run_reports(struct run *r, bool interrupted)
{
	struct result *fin = calloc((size_t)r->n_jobs + 1, sizeof(*fin));
	size_t n = 0;
	int bad, not_passed = 0;

	if (!fin)
		return 1;
	/* shallow copies: rs keeps ownership */
	for (int i = 0; i < r->n_jobs; i++)
		if (r->done[i])
			fin[n++] = r->rs[i];
	progress_clear(r);
	bad = cmd_reports(r->o, r->live, fin, n, r->mats, r->n_mats, &not_passed);
	if (interrupted)
		fprintf(r->live, "interrupted: %zu of %d %s finished, %zu not run or stopped\n", n, r->n_jobs,
			r->o->repeat > 1 ? "runs" : "scenarios", (size_t)r->n_jobs - n);
	free(fin);
	return bad + not_passed;
}

static void run_free(struct run *r)
{
	/* rs is not there yet when the jobs failed to expand or a kept name
	 * was taken */
	for (int i = 0; i < r->n_jobs; i++) {
		if (r->rs)
			result_clear(&r->rs[i]);
		free(r->jobs[i].name);
	}
	for (int i = 0; i < r->n_mats; i++) {
		matrix_free(r->mats[i]);
		free(r->mat_paths[i]);
	}
	free(r->mats);
	free(r->mat_paths);
	free(r->jobs);
	free(r->rs);
	free(r->done);
}

int cmd_run(int nfiles, char **files, const struct lab_opts *o)
{
	struct run r = { .o = o, .live = o->tap ? stderr : stdout };
	struct pool_ops ops = { .body = run_body, .started = run_started, .done = run_done, .tick = run_tick,
				.ctx = &r };
	bool interrupted = false;
	int rc, status = EXIT_USAGE;

	r.progress = isatty(fileno(r.live)) && o->tty;
	if (reports_writable(o) < 0)
		goto out;
	rc = jobs_expand(&r, nfiles, files);
	if (rc < 0 || keep_names_free(&r) < 0) {
		status = rc == -ENOMEM ? EXIT_SETUP : EXIT_USAGE;
		goto out;
	}
	r.rs = calloc((size_t)r.n_jobs + 1, sizeof(*r.rs));
	r.done = calloc((size_t)r.n_jobs + 1, sizeof(*r.done));
	status = EXIT_SETUP;
	if (!r.rs || !r.done) {
		log_errx("out of memory");
		goto out;
	}
	log_info("seed %llu (--seed %llu hands out the same ports again)", (unsigned long long)o->seed,
		 (unsigned long long)o->seed);
	r.start = mtime_now();
	rc = pool_run(r.n_jobs, o->jobs, &ops, &interrupted);
	if (rc < 0)
		log_errx("the job pool: %s", strerror(-rc));
	if (interrupted)
		log_warnx("interrupted (%s): the running scenarios were stopped",
			  pool_signal() ? strsignal(pool_signal()) : "signal");
	/* The verdict is over each scenario's runs (report/stats.h): a failed
	 * run of a scenario without expect-rate fails it. */
	r.failed = run_reports(&r, interrupted);
	status = interrupted ? EXIT_INTERRUPTED : rc < 0 ? EXIT_SETUP : r.failed ? EXIT_MISMATCH : EXIT_PASS;
out:
	run_free(&r);
	return status;
}
