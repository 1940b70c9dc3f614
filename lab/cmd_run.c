/* punchlab run: the scenarios of every file, -j at a time in the job pool
 * (pool.h), each worker's result coming back through the one result codec
 * (report/result.h); a line as each ends, then the reports. */
#include "commands.h"

#include <errno.h>
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
#include "model/topo.h"
#include "pool.h"
#include "report/matrix_report.h"
#include "report/report.h"
#include "scenario.h"

/* A job: a topology file, or one cell of a matrix file parsed once, here,
 * before the workers are forked (they inherit it). */
struct job {
	const char *path;
	int cell;               /* -1: path is a topology */
	int matrix;             /* index into the run's matrices, or -1 */
	char *name;
};

struct run {
	const struct lab_opts *o;
	struct job *jobs;
	int n_jobs;
	struct matrix **mats;
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

/* Files into jobs; each matrix file is parsed here, once. */
static int jobs_expand(struct run *r, int nfiles, char **files)
{
	int cap = 0;

	r->mats = calloc((size_t)nfiles, sizeof(*r->mats));
	if (!r->mats)
		return -ENOMEM;
	for (int f = 0; f < nfiles; f++) {
		char err[1024], name[256];
		struct matrix *m;
		int mi;

		if (!cmd_is_matrix(files[f])) {
			if (job_add(r, &cap, files[f], -1, -1, scenario_name(files[f])) < 0)
				return -ENOMEM;
			continue;
		}
		if (matrix_parse_file(files[f], &r->mats[r->n_mats], err, sizeof(err)) < 0) {
			log_errx("%s", err);
			return -EINVAL;
		}
		mi = r->n_mats++;
		m = r->mats[mi];
		for (int c = 0; c < matrix_n_cells(m); c++) {
			matrix_cell_name(m, c, name, sizeof(name));
			if (job_add(r, &cap, files[f], mi, c, strdup(name)) < 0)
				return -ENOMEM;
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
	char err[1024], *json;
	int rc;

	if (j->cell < 0)
		scenario_run(j->path, &so, &res);
	else if (matrix_cell_topo(r->mats[j->matrix], j->cell, &t, err, sizeof(err)) == 0)
		scenario_run_topo(t, j->name, &so, &res);
	else
		result_set_error(&res, j->name, j->path, err);
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
	fprintf(r->live, "RUN    %s\n", r->jobs[index].name);
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

static int write_report(const char *path, int (*fn)(FILE *, const struct result *, size_t),
			const struct result *rs, size_t n)
{
	FILE *f = fopen(path, "we");

	if (!f) {
		log_err("%s", path);
		return -errno;
	}
	if (fn(f, rs, n) < 0 || ferror(f)) {
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

/* One picture of matrix m to path by fn. */
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

/* Matrix mi's picture: on the terminal, and with --picture DIR as
 * DIR/NAME.svg and DIR/NAME.md. Cells that did not run show as such. */
static int matrix_picture(const struct run *r, int mi)
{
	struct matrix *m = r->mats[mi];
	int n = matrix_n_cells(m), k = 0, rc = 0;
	struct matrix_report_cell *cells = calloc((size_t)n + 1, sizeof(*cells));
	const char **names = calloc((size_t)matrix_n_profiles(m) + 1, sizeof(*names));
	struct matrix_picture pic;

	if (!cells || !names) {
		free(cells);
		free(names);
		return -ENOMEM;
	}
	for (int i = 0; i < matrix_n_profiles(m); i++)
		names[i] = matrix_profile_name(m, i);
	for (int j = 0; j < r->n_jobs; j++)
		if (r->jobs[j].matrix == mi && k < n) {
			matrix_cell_pos(m, r->jobs[j].cell, &cells[k].row, &cells[k].col);
			cells[k++].result = r->done[j] ? &r->rs[j] : NULL;
		}
	pic = (struct matrix_picture){ .title = matrix_name(m), .description = matrix_description(m),
				       .profiles = names, .n_profiles = matrix_n_profiles(m),
				       .cells = cells, .n_cells = k };
	fputc('\n', r->live);
	matrix_report_text(r->live, &pic, r->o->color);
	if (r->o->picture) {
		rc |= picture_write(r->o->picture, matrix_name(m), "svg", matrix_report_svg, &pic);
		rc |= picture_write(r->o->picture, matrix_name(m), "md", matrix_report_markdown, &pic);
	}
	free(cells);
	free(names);
	return rc ? -EIO : 0;
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
 * finished (in file order). Returns how many could not be written. */
static int run_reports(struct run *r, bool interrupted)
{
	struct result *fin = calloc((size_t)r->n_jobs + 1, sizeof(*fin));
	const struct lab_opts *o = r->o;
	size_t n = 0;
	int bad = 0;

	if (!fin)
		return 1;
	/* shallow copies: rs keeps ownership */
	for (int i = 0; i < r->n_jobs; i++)
		if (r->done[i])
			fin[n++] = r->rs[i];
	progress_clear(r);
	if (o->tap)
		report_tap(stdout, fin, n);
	report_summary(r->live, fin, n, o->color);
	if (interrupted)
		fprintf(r->live, "interrupted: %zu of %d scenarios finished, %zu not run or stopped\n", n, r->n_jobs,
			(size_t)r->n_jobs - n);
	for (int mi = 0; mi < r->n_mats; mi++)
		bad += matrix_picture(r, mi) < 0;
	if (o->junit)
		bad += write_report(o->junit, report_junit, fin, n) < 0;
	if (o->json)
		bad += write_report(o->json, report_json, fin, n) < 0;
	if (o->markdown)
		bad += write_report(o->markdown, report_markdown, fin, n) < 0;
	free(fin);
	return bad;
}

static void run_free(struct run *r)
{
	for (int i = 0; i < r->n_jobs; i++) {
		result_clear(&r->rs[i]);
		free(r->jobs[i].name);
	}
	for (int i = 0; i < r->n_mats; i++)
		matrix_free(r->mats[i]);
	free(r->mats);
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
	r.failed += run_reports(&r, interrupted);
	status = interrupted ? EXIT_INTERRUPTED : rc < 0 ? EXIT_SETUP : r.failed ? EXIT_MISMATCH : EXIT_PASS;
out:
	run_free(&r);
	return status;
}
