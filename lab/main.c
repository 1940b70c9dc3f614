/* punchlab: build simulated internets from topology files, run a program pair
 * in each, and check the outcome against the expectation.
 *
 *   punchlab run [-j N] [--tap] [--junit F] [--json F] [--markdown F] FILE...
 *   punchlab check FILE...     validate only: no privileges, no kernel changes
 *   punchlab list FILE...      what a file will build
 *
 * Each scenario runs in a worker process of its own (so -j N runs N labs at
 * once); its lab's namespaces are held by the worker's children, which die
 * with it, and every worker dies with us (PR_SET_PDEATHSIG). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <json-c/json.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/fdio.h"
#include "common/log.h"
#include "common/num.h"
#include "kernel/build.h"
#include "kernel/ct.h"
#include "kernel/nft.h"
#include "model/nat.h"
#include "model/matrix.h"
#include "report/matrix_report.h"
#include "kernel/netns.h"
#include "model/plan.h"
#include "report/report.h"
#include "scenario.h"
#include "selfcheck.h"
#include "model/topo.h"

#define PUNCHLAB_VERSION "0.1.0"

enum { EXIT_PASS = 0, EXIT_MISMATCH = 1, EXIT_USAGE = 2, EXIT_SETUP = 3 };

struct opts {
	int jobs;
	bool tap;
	bool verbose;
	bool color;
	bool tty;
	bool keep;
	bool no_selfcheck;
	unsigned long long seed; /* the routers' port pools (--seed; else drawn, and printed) */
	const char *junit;
	const char *json;
	const char *markdown;
	const char *picture;
	char bindir[PATH_MAX];
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: punchlab run [options] FILE...   build each topology, run the pair, check the outcome\n"
		"                                        (FILE: a topology, *.topo, or a matrix, *.matrix)\n"
		"       punchlab check FILE...           validate files (no privileges, no kernel changes)\n"
		"       punchlab list FILE...            show what each file builds\n"
		"       punchlab classify FILE...        build each file's routers and classify them with\n"
		"                                        punch-probe (a matrix: each profile once)\n"
		"       punchlab shell NAME NODE [CMD...] a shell (or CMD) in a node of a kept lab\n"
		"       punchlab down NAME...            take kept labs down\n"
		"       punchlab rebind NAME ROUTER      a kept NAT forgets its mappings (NAT rebinding)\n"
		"\n"
		"run options:\n"
		"  -j, --jobs N        scenarios (classify: labs) in parallel (default: number of CPUs)\n"
		"      --tap           TAP version 13 on stdout (live lines go to stderr)\n"
		"      --junit FILE    JUnit XML report\n"
		"      --json FILE     JSON report, with each client's own report\n"
		"      --markdown FILE Markdown table (for CI job summaries)\n"
		"      --picture DIR   each matrix's picture as DIR/NAME.svg and DIR/NAME.md\n"
		"      --bindir DIR    where punch-server and punch-client are (default: beside punchlab)\n"
		"  -v, --verbose       programs log verbosely (their logs show in mismatch details);\n"
		"                      a RUN line as each scenario starts\n"
		"      --no-color      never colour the terminal output\n"
		"      --keep          leave each lab up afterwards, named after its file, for\n"
		"                      inspection (punchlab shell / ip netns exec punchlab-NAME.NODE)\n"
		"      --no-self-check do not classify the routers before the pair runs (faster;\n"
		"                      a router that does not behave as declared then goes unnoticed)\n"
		"      --seed N        the seed of the routers' port allocation (default: a fresh one,\n"
		"                      printed and recorded in every report): the same N, the same ports\n"
		"  -h, --help          this text;  --version  the version\n"
		"\n"
		"Exit status: 0 every verdict as expected, 1 some mismatch or error, 2 usage, 3 setup.\n"
		"Topology format: topologies/README.md. Runs as root, or rootless in a user namespace.\n");
}

/* --- results between a worker and us: one JSON object on a pipe --- */

static void jset_str(struct json_object *o, const char *k, const char *v)
{
	if (v)
		json_object_object_add(o, k, json_object_new_string(v));
}

static char *result_to_json(const struct report_scenario *r)
{
	struct json_object *o = json_object_new_object(), *peers = json_object_new_array();
	char *s;

	jset_str(o, "name", r->name);
	jset_str(o, "file", r->file);
	jset_str(o, "description", r->description);
	jset_str(o, "expected", r->expected);
	jset_str(o, "actual", r->actual);
	json_object_object_add(o, "pass", json_object_new_boolean(r->pass));
	jset_str(o, "error", r->error);
	jset_str(o, "detail", r->detail);
	jset_str(o, "selfcheck", r->selfcheck);
	jset_str(o, "conntrack", r->conntrack);
	json_object_object_add(o, "seconds", json_object_new_double(r->seconds));
	for (int k = 0; k < 2; k++) {
		struct json_object *p = json_object_new_object();

		jset_str(p, "name", r->peers[k].name);
		jset_str(p, "outcome", r->peers[k].outcome);
		json_object_object_add(p, "exit_code", json_object_new_int(r->peers[k].exit_code));
		jset_str(p, "json", r->peers[k].json);
		jset_str(p, "stderr", r->peers[k].stderr_tail);
		json_object_array_add(peers, p);
	}
	json_object_object_add(o, "peers", peers);
	s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return s;
}

static char *jget_dup(struct json_object *o, const char *k)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return strdup(json_object_get_string(v));
}

static void jget_buf(struct json_object *o, const char *k, char *buf, size_t size)
{
	struct json_object *v;

	if (json_object_object_get_ex(o, k, &v) && json_object_is_type(v, json_type_string))
		snprintf(buf, size, "%s", json_object_get_string(v));
}

static int result_from_json(const char *text, struct report_scenario *r)
{
	struct json_object *o = json_tokener_parse(text), *v, *peers;

	if (!o)
		return -EINVAL;
	r->name = jget_dup(o, "name");
	r->file = jget_dup(o, "file");
	r->description = jget_dup(o, "description");
	jget_buf(o, "expected", r->expected, sizeof(r->expected));
	jget_buf(o, "actual", r->actual, sizeof(r->actual));
	r->pass = json_object_object_get_ex(o, "pass", &v) && json_object_get_boolean(v);
	r->error = jget_dup(o, "error");
	r->detail = jget_dup(o, "detail");
	r->selfcheck = jget_dup(o, "selfcheck");
	r->conntrack = jget_dup(o, "conntrack");
	if (json_object_object_get_ex(o, "seconds", &v))
		r->seconds = json_object_get_double(v);
	if (json_object_object_get_ex(o, "peers", &peers) && json_object_is_type(peers, json_type_array))
		for (size_t k = 0; k < 2 && k < json_object_array_length(peers); k++) {
			struct json_object *p = json_object_array_get_idx(peers, k);

			jget_buf(p, "name", r->peers[k].name, sizeof(r->peers[k].name));
			jget_buf(p, "outcome", r->peers[k].outcome, sizeof(r->peers[k].outcome));
			if (json_object_object_get_ex(p, "exit_code", &v))
				r->peers[k].exit_code = json_object_get_int(v);
			r->peers[k].json = jget_dup(p, "json");
			r->peers[k].stderr_tail = jget_dup(p, "stderr");
		}
	json_object_put(o);
	return 0;
}

/* --- jobs: a topology file, or one cell of a matrix file --- */

struct job {
	const char *path;
	int cell;               /* -1: path is a topology */
	int matrix;             /* index into the run's matrices, or -1 */
	char *name;
};

static bool is_matrix(const char *path)
{
	size_t len = strlen(path);

	return len > 7 && strcmp(path + len - 7, ".matrix") == 0;
}

/* Expand files into jobs; matrices[] receives each parsed matrix file. */
static int jobs_expand(int nfiles, char **files, struct job **jobs_out, int *n_out, struct matrix ***mats_out,
		       int *n_mats)
{
	struct job *jobs = NULL;
	struct matrix **mats = calloc((size_t)nfiles, sizeof(*mats));
	int n = 0, cap = 0;

	*n_mats = 0;
	if (!mats)
		return -ENOMEM;
	for (int f = 0; f < nfiles; f++) {
		int cells = 1, mi = -1;

		if (is_matrix(files[f])) {
			char err[1024];

			if (matrix_parse_file(files[f], &mats[*n_mats], err, sizeof(err)) < 0) {
				log_errx("%s", err);
				free(jobs);
				return -EINVAL;
			}
			mi = (*n_mats)++;
			cells = matrix_n_cells(mats[mi]);
		}
		for (int c = 0; c < cells; c++) {
			char name[256];

			if (n == cap) {
				struct job *nj = realloc(jobs, (size_t)(cap = cap ? 2 * cap : 16) * sizeof(*jobs));

				if (!nj) {
					free(jobs);
					return -ENOMEM;
				}
				jobs = nj;
			}
			if (mi >= 0)
				matrix_cell_name(mats[mi], c, name, sizeof(name));
			jobs[n] = (struct job){ .path = files[f], .cell = mi >= 0 ? c : -1, .matrix = mi };
			jobs[n].name = mi >= 0 ? strdup(name) : scenario_name(files[f]);
			n++;
		}
	}
	*jobs_out = jobs;
	*n_out = n;
	*mats_out = mats;
	return 0;
}

/* In a worker: run one job. */
static void job_run(const struct job *j, const struct scenario_opts *so, struct report_scenario *res)
{
	struct matrix *m = NULL;
	struct topo *t = NULL;
	char err[1024];

	if (j->cell < 0) {
		scenario_run(j->path, so, res);
		return;
	}
	if (matrix_parse_file(j->path, &m, err, sizeof(err)) == 0 &&
	    matrix_cell_topo(m, j->cell, &t, err, sizeof(err)) == 0) {
		scenario_run_topo(t, j->name, so, res);
	} else {
		memset(res, 0, sizeof(*res));
		res->name = strdup(j->name);
		res->file = strdup(j->path);
		snprintf(res->actual, sizeof(res->actual), "error");
		res->error = strdup(err);
	}
	topo_free(t);
	matrix_free(m);
}

/* --- workers --- */

struct worker {
	pid_t pid;
	int fd;
	int index;
	char *buf;
	size_t len;
};

/* Fork a worker for job `index`: the child runs body(fd, arg), writing what
 * it has to say to fd, and exits with what body returns; it dies with us. */
static int worker_start(struct worker *w, int index, int (*body)(int fd, const void *arg), const void *arg)
{
	int p[2];
	pid_t parent = getpid();

	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	w->pid = fork();
	if (w->pid < 0) {
		int e = errno;

		close(p[0]);
		close(p[1]);
		return -e;
	}
	if (w->pid == 0) {
		close(p[0]);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(EXIT_SETUP);
		_exit(body(p[1], arg));
	}
	close(p[1]);
	w->fd = p[0];
	w->index = index;
	w->buf = NULL;
	w->len = 0;
	return 0;
}

struct run_arg {
	const struct job *job;
	const struct opts *o;
};

/* A `run` worker: one scenario, its result as JSON. */
static int run_body(int fd, const void *arg)
{
	const struct run_arg *a = arg;
	struct scenario_opts so = { .bindir = a->o->bindir, .verbose = a->o->verbose, .keep = a->o->keep,
				     .no_selfcheck = a->o->no_selfcheck, .seed = a->o->seed };
	struct report_scenario res;
	char *json;

	job_run(a->job, &so, &res);
	json = result_to_json(&res);
	return json && fd_write_all(fd, json, strlen(json)) == 0 ? 0 : 1;
}

/* Read what is there; returns 1 at EOF, 0 for more to come, -errno. */
static int worker_read(struct worker *w)
{
	char chunk[65536];
	ssize_t n = read(w->fd, chunk, sizeof(chunk));
	char *nb;

	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	if (n == 0)
		return 1;
	nb = realloc(w->buf, w->len + (size_t)n + 1);
	if (!nb)
		return -ENOMEM;
	w->buf = nb;
	memcpy(w->buf + w->len, chunk, (size_t)n);
	w->len += (size_t)n;
	w->buf[w->len] = '\0';
	return 0;
}

/* Wait until a running worker of ws[0..n) has output or has ended. Returns
 * poll()'s result: 0 with none running, -1 with errno (EINTR: call again). */
static int workers_wait(const struct worker *ws, int n, struct pollfd *pfd)
{
	int np = 0;

	for (int i = 0; i < n; i++)
		if (ws[i].pid > 0) {
			pfd[np].fd = ws[i].fd;
			pfd[np].events = POLLIN;
			np++;
		}
	return np ? poll(pfd, (nfds_t)np, -1) : 0;
}

/* Close and reap a worker whose output ended; returns its wait status. */
static int worker_reap(struct worker *w)
{
	int status = 0;

	close(w->fd);
	while (waitpid(w->pid, &status, 0) < 0 && errno == EINTR)
		;
	w->pid = 0;
	return status;
}

static void worker_finish(struct worker *w, const struct job *job, struct report_scenario *r)
{
	int status = worker_reap(w);

	memset(r, 0, sizeof(*r));
	if (!w->buf || result_from_json(w->buf, r) < 0) {
		r->name = strdup(job->name);
		r->file = strdup(job->path);
		snprintf(r->actual, sizeof(r->actual), "error");
		if (asprintf(&r->error, "the worker process died (%s %d) without a result",
			     WIFSIGNALED(status) ? "signal" : "exit status",
			     WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status)) < 0)
			r->error = NULL;
	}
	free(w->buf);
	w->buf = NULL;
}

static int write_report(const char *path, int (*fn)(FILE *, const struct report_scenario *, size_t),
			const struct report_scenario *rs, size_t n)
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

/* The pictures of each matrix of the run: on the terminal, and with
 * --picture DIR as DIR/NAME.svg and DIR/NAME.md. */
static int matrix_pictures(struct matrix **mats, int n_mats, const struct job *jobs, int n_jobs,
			   const struct report_scenario *rs, const struct opts *o, FILE *live)
{
	int rc = 0;

	for (int mi = 0; mi < n_mats; mi++) {
		struct matrix *m = mats[mi];
		int n = matrix_n_cells(m), k = 0;
		struct matrix_report_cell *cells = calloc((size_t)n, sizeof(*cells));
		const char **names = calloc((size_t)matrix_n_profiles(m), sizeof(*names));
		struct matrix_picture pic;

		if (!cells || !names) {
			free(cells);
			free(names);
			return -ENOMEM;
		}
		for (int i = 0; i < matrix_n_profiles(m); i++)
			names[i] = matrix_profile_name(m, i);
		for (int j = 0; j < n_jobs; j++)
			if (jobs[j].matrix == mi && k < n) {
				matrix_cell_pos(m, jobs[j].cell, &cells[k].row, &cells[k].col);
				cells[k++].result = &rs[j];
			}
		pic = (struct matrix_picture){ .title = matrix_name(m), .description = matrix_description(m),
					       .profiles = names, .n_profiles = matrix_n_profiles(m),
					       .cells = cells, .n_cells = k };
		fputc('\n', live);
		matrix_report_text(live, &pic, o->color);
		if (o->picture) {
			char path[PATH_MAX];
			FILE *f;

			snprintf(path, sizeof(path), "%s/%s.svg", o->picture, matrix_name(m));
			f = fopen(path, "we");
			if (!f || matrix_report_svg(f, &pic) < 0 || fclose(f) != 0) {
				log_err("%s", path);
				rc = -EIO;
			}
			snprintf(path, sizeof(path), "%s/%s.md", o->picture, matrix_name(m));
			f = fopen(path, "we");
			if (!f || matrix_report_markdown(f, &pic) < 0 || fclose(f) != 0) {
				log_err("%s", path);
				rc = -EIO;
			}
		}
		free(cells);
		free(names);
	}
	return rc;
}

/* Fail before an hour of labs, not after: can the reports be written? */
static int reports_writable(const struct opts *o)
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
	return 0;
}

static int cmd_run(int nfiles, char **files, const struct opts *o)
{
	struct job *jobs = NULL;
	struct matrix **mats = NULL;
	int n_jobs = 0, n_mats = 0;
	struct report_scenario *rs;
	struct worker *ws = calloc((size_t)o->jobs, sizeof(*ws));
	struct pollfd *pfd = calloc((size_t)o->jobs, sizeof(*pfd));
	FILE *live = o->tap ? stderr : stdout;
	int next = 0, done = 0, failed = 0;

	if (reports_writable(o) < 0)
		return EXIT_USAGE;
	if (jobs_expand(nfiles, files, &jobs, &n_jobs, &mats, &n_mats) < 0)
		return EXIT_USAGE;
	/* --keep of a name already kept would fail only after its run: say so now. */
	for (int j = 0; o->keep && j < n_jobs; j++) {
		char path[512];

		lab_kept_path(jobs[j].name, "inet", path, sizeof(path));
		if (access(path, F_OK) == 0) {
			log_errx("--keep: a lab named '%s' is already kept: punchlab down %s first", jobs[j].name,
				 jobs[j].name);
			return EXIT_USAGE;
		}
	}
	rs = calloc((size_t)n_jobs + 1, sizeof(*rs));
	if (!rs || !ws || !pfd) {
		log_errx("out of memory");
		return EXIT_SETUP;
	}
	log_info("seed %llu (--seed %llu hands out the same ports again)", o->seed, o->seed);
	while (done < n_jobs) {
		for (int i = 0; i < o->jobs && next < n_jobs; i++)
			if (ws[i].pid == 0) {
				struct run_arg arg = { &jobs[next], o };
				int rc = worker_start(&ws[i], next, run_body, &arg);

				if (rc < 0) {
					log_errx("starting a worker: %s", strerror(-rc));
					return EXIT_SETUP;
				}
				/* On a terminal (or with -v), say what is running as it starts. */
				if (o->tty || o->verbose) {
					fprintf(live, "RUN    %s\n", jobs[next].name);
					fflush(live);
				}
				next++;
			}
		if (workers_wait(ws, o->jobs, pfd) < 0) {
			if (errno == EINTR)
				continue;
			log_err("poll");
			return EXIT_SETUP;
		}
		for (int i = 0; i < o->jobs; i++) {
			struct worker *w = &ws[i];
			int rc;

			if (w->pid <= 0)
				continue;
			rc = worker_read(w);
			if (rc == 0)
				continue;
			worker_finish(w, &jobs[w->index], &rs[w->index]);
			rs[w->index].seed = o->seed;
			report_live_line(live, &rs[w->index], o->color);
			fflush(live);
			if (!rs[w->index].pass || rs[w->index].error)
				failed++;
			done++;
		}
	}
	if (o->tap)
		report_tap(stdout, rs, (size_t)n_jobs);
	report_summary(live, rs, (size_t)n_jobs, o->color);
	if (matrix_pictures(mats, n_mats, jobs, n_jobs, rs, o, live) < 0)
		failed++;
	if (o->junit && write_report(o->junit, report_junit, rs, (size_t)n_jobs) < 0)
		failed++;
	if (o->json && write_report(o->json, report_json, rs, (size_t)n_jobs) < 0)
		failed++;
	if (o->markdown && write_report(o->markdown, report_markdown, rs, (size_t)n_jobs) < 0)
		failed++;
	for (int i = 0; i < n_jobs; i++) {
		scenario_result_clear(&rs[i]);
		free(jobs[i].name);
	}
	for (int i = 0; i < n_mats; i++)
		matrix_free(mats[i]);
	free(mats);
	free(jobs);
	free(rs);
	free(ws);
	free(pfd);
	return failed ? EXIT_MISMATCH : EXIT_PASS;
}

/* Validate without the kernel: parse, plan, derive the expectation, generate
 * every router's ruleset. */
static int check_topo(struct topo *t, const char *path, bool describe)
{
	struct plan *p = NULL;
	enum outcome expected;
	char err[1024], why[256];
	int rc;

	rc = plan_build(t, &p, err, sizeof(err));
	if (rc == 0)
		rc = scenario_expectation(t, p, &expected, why, sizeof(why), err, sizeof(err));
	for (int i = 0; rc == 0 && i < p->n_nodes; i++) {
		char *ruleset = NULL, msg[512];

		if (p->nodes[i].kind != PLAN_ROUTER)
			continue;
		rc = lab_router_ruleset(t, p, i, &ruleset, msg, sizeof(msg));
		if (rc < 0)
			snprintf(err, sizeof(err), "%s:%d: router %s: %s", path, t->nats[p->nodes[i].index].line,
				 t->nats[p->nodes[i].index].name, msg);
		free(ruleset);
	}
	if (rc < 0) {
		fprintf(stderr, "%s\n", err);
		goto cleanup;
	}
	if (!describe) {
		printf("%s: ok (expect %s)\n", path, topo_outcome_name(expected));
		if (scenario_unsupported(t))
			printf("%s: note: valid, but punchlab run refuses it: %s\n", path, scenario_unsupported(t));
		goto cleanup;
	}
	topo_describe(t, stdout);
	printf("expected outcome: %s%s%s%s\n", topo_outcome_name(expected), t->expect ? "" : " (derived)",
	       why[0] ? ": " : "", why);
	printf("namespaces:\n");
	for (int i = 0; i < p->n_nodes; i++) {
		const struct plan_node *n = &p->nodes[i];

		printf("  %-20s", n->name);
		for (int k = 0; k < n->n_ifs; k++)
			if (n->ifs[k].addr[0])
				printf(" %s=%s%s%s%s%s%s%s", n->ifs[k].name, n->ifs[k].addr, n->ifs[k].addr2[0] ? "," : "",
				       n->ifs[k].addr2, n->ifs[k].addr6[0] ? "," : "", n->ifs[k].addr6,
				       n->ifs[k].addr2_6[0] ? "," : "", n->ifs[k].addr2_6);
		for (int k = 0; k < n->n_routes; k++)
			printf(" route %s via %s", n->routes[k].dst, n->routes[k].via);
		printf("\n");
	}
	for (int k = 0; k < 2; k++)
		printf("peer %s: %s port %u, seen on the internet as %s\n", t->peers[k].name,
		       t->ipv6 ? p->peers[k].ip6 : p->peers[k].ip, p->peers[k].local_port,
		       t->ipv6 ? p->peers[k].public_ip6 : p->peers[k].public_ip);
cleanup:
	plan_free(p);
	return rc < 0 ? 1 : 0;
}

/* check/list one file: a topology, or every cell of a matrix. */
static int check_one(const char *path, bool describe)
{
	struct topo *t = NULL;
	struct matrix *m = NULL;
	char err[1024];
	int rc = 0;

	if (!is_matrix(path)) {
		if (topo_parse_file(path, &t, err, sizeof(err)) < 0) {
			fprintf(stderr, "%s\n", err);
			return 1;
		}
		rc = check_topo(t, path, describe);
		topo_free(t);
		return rc;
	}
	if (matrix_parse_file(path, &m, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	for (int c = 0; c < matrix_n_cells(m); c++) {
		char name[256];

		matrix_cell_name(m, c, name, sizeof(name));
		if (matrix_cell_topo(m, c, &t, err, sizeof(err)) < 0) {
			fprintf(stderr, "%s\n", err);
			rc = 1;
			continue;
		}
		if (describe)
			printf("== %s\n", name);
		rc |= check_topo(t, name, describe);
		topo_free(t);
		t = NULL;
	}
	matrix_free(m);
	return rc;
}

/* --- punchlab classify ----------------------------------------------------- */

/* Build t, classify its routers, print one line per router. Returns 0 when
 * every router behaves as declared, 1 when one does not (or could not be
 * classified), 3 when the lab could not be built or the probes not run. */
static int classify_topo(const struct topo *t, const char *label, const struct opts *o)
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

struct classify_arg {
	const struct classify_job *job;
	const struct opts *o;
};

/* A `classify` worker: one lab built and classified, its lines on fd. */
static int classify_body(int fd, const void *arg)
{
	const struct classify_arg *a = arg;

	int rc;

	if (dup2(fd, STDOUT_FILENO) < 0)
		return EXIT_SETUP;
	rc = classify_topo(a->job->t, a->job->label, a->o);
	/* the worker ends in _exit(), which flushes nothing */
	return fflush(stdout) == 0 ? rc : EXIT_SETUP;
}

static int classify_add(struct classify_job **jobs, int *n, struct topo *t, const char *label)
{
	struct classify_job *nj = realloc(*jobs, (size_t)(*n + 1) * sizeof(**jobs));

	if (!nj)
		return -ENOMEM;
	*jobs = nj;
	nj[*n] = (struct classify_job){ .t = t, .label = strdup(label) };
	if (!nj[*n].label)
		return -ENOMEM;
	(*n)++;
	return 0;
}

/* Every topology, and each profile of a matrix once (the cell of the profile
 * with itself holds it twice), classified -j at a time in their own labs;
 * the output comes in the order of the files. */
static int cmd_classify(int nfiles, char **files, const struct opts *o)
{
	struct classify_job *jobs = NULL;
	struct worker *ws = calloc((size_t)o->jobs, sizeof(*ws));
	struct pollfd *pfd = calloc((size_t)o->jobs, sizeof(*pfd));
	int status = EXIT_PASS, n = 0, next = 0, shown = 0;

	if (!ws || !pfd)
		goto nomem;
	for (int f = 0; f < nfiles; f++) {
		struct topo *t = NULL;
		struct matrix *m = NULL;
		char err[1024];

		if (!is_matrix(files[f])) {
			if (topo_parse_file(files[f], &t, err, sizeof(err)) < 0) {
				fprintf(stderr, "%s\n", err);
				status = EXIT_MISMATCH;
			} else if (classify_add(&jobs, &n, t, files[f]) < 0) {
				topo_free(t);
				goto nomem;
			}
			continue;
		}
		if (matrix_parse_file(files[f], &m, err, sizeof(err)) < 0) {
			fprintf(stderr, "%s\n", err);
			status = EXIT_MISMATCH;
			continue;
		}
		for (int i = 0; i < matrix_n_profiles(m); i++) {
			char name[256], label[600];
			int c = matrix_cell_index(m, i, i);

			t = NULL;
			if (c < 0 || matrix_cell_name(m, c, name, sizeof(name)) < 0 ||
			    matrix_cell_topo(m, c, &t, err, sizeof(err)) < 0) {
				fprintf(stderr, "%s: profile %s: %s\n", files[f], matrix_profile_name(m, i), err);
				status = EXIT_MISMATCH;
				continue;
			}
			snprintf(label, sizeof(label), "%s: profile %s", files[f], matrix_profile_name(m, i));
			if (classify_add(&jobs, &n, t, label) < 0) {
				topo_free(t);
				matrix_free(m);
				goto nomem;
			}
		}
		matrix_free(m);
	}
	while (shown < n) {
		for (int i = 0; i < o->jobs && next < n; i++)
			if (ws[i].pid == 0) {
				struct classify_arg arg = { &jobs[next], o };
				int rc;

				fflush(stdout); /* nothing buffered may be printed twice */
				rc = worker_start(&ws[i], next, classify_body, &arg);
				if (rc < 0) {
					log_errx("starting a worker: %s", strerror(-rc));
					status = EXIT_SETUP;
					goto out;
				}
				next++;
			}
		if (workers_wait(ws, o->jobs, pfd) < 0 && errno != EINTR) {
			log_err("poll");
			status = EXIT_SETUP;
			goto out;
		}
		for (int i = 0; i < o->jobs; i++) {
			struct worker *w = &ws[i];
			struct classify_job *j;
			int rc, ws_status;

			if (w->pid <= 0 || (rc = worker_read(w)) == 0)
				continue;
			j = &jobs[w->index];
			ws_status = worker_reap(w);
			j->status = WIFEXITED(ws_status) ? WEXITSTATUS(ws_status) : EXIT_SETUP;
			j->out = w->buf;
			w->buf = NULL;
			if (rc < 0 || !WIFEXITED(ws_status))
				fprintf(stderr, "%s: the worker process died without finishing\n", j->label);
			j->done = true;
		}
		/* in order: each job as soon as it and all before it are done */
		for (; shown < n && jobs[shown].done; shown++) {
			if (jobs[shown].out)
				fputs(jobs[shown].out, stdout);
			fflush(stdout);
			if (jobs[shown].status > status)
				status = jobs[shown].status;
		}
	}
out:
	for (int i = 0; ws && i < o->jobs; i++)
		if (ws[i].pid > 0) {
			kill(ws[i].pid, SIGKILL);
			worker_reap(&ws[i]);
			free(ws[i].buf);
		}
	for (int i = 0; i < n; i++) {
		topo_free(jobs[i].t);
		free(jobs[i].label);
		free(jobs[i].out);
	}
	free(jobs);
	free(ws);
	free(pfd);
	return status;
nomem:
	log_errx("out of memory");
	status = EXIT_SETUP;
	goto out;
}

static int bindir_default(char *buf, size_t size)
{
	ssize_t n = readlink("/proc/self/exe", buf, size - 1);
	char *slash;

	if (n < 0)
		return -errno;
	buf[n] = '\0';
	slash = strrchr(buf, '/');
	if (slash)
		*slash = '\0';
	return 0;
}

/* punchlab shell NAME NODE [CMD...]: enter a kept node's namespace and exec. */
static int cmd_shell(int argc, char **argv)
{
	char path[512];
	const char *shell = getenv("SHELL");
	char sh[PATH_MAX];
	char *sh_argv[] = { sh, NULL };
	int fd;

	snprintf(sh, sizeof(sh), "%s", shell && *shell ? shell : "/bin/sh");
	if (argc < 2) {
		log_errx("usage: punchlab shell NAME NODE [CMD...]  (NODE: inet, server, nat-X, peer-X, probe-X)");
		return EXIT_USAGE;
	}
	lab_kept_path(argv[0], argv[1], path, sizeof(path));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		log_err("%s (is lab '%s' kept? punchlab run --keep)", path, argv[0]);
		return EXIT_USAGE;
	}
	if (setns(fd, CLONE_NEWNET) < 0) {
		log_err("entering %s", path);
		return EXIT_SETUP;
	}
	close(fd);
	if (argc > 2) {
		execvp(argv[2], argv + 2);
		log_err("%s", argv[2]);
	} else {
		execv(sh_argv[0], sh_argv);
		log_err("%s", sh_argv[0]);
	}
	return EXIT_SETUP;
}

/* punchlab rebind NAME ROUTER: the kept router forgets every mapping, as a
 * NAT that rebinds does: its learned mapping sets and its conntrack table
 * are flushed, so each flow's next packet takes a new external port. */
static int cmd_rebind(int argc, char **argv)
{
	char path[512], node[64], *listing = NULL, *cmds = NULL, *err = NULL;
	struct netns *ns = NULL;
	int n, rc = EXIT_SETUP;

	if (argc != 2) {
		log_errx("usage: punchlab rebind NAME ROUTER  (ROUTER: a [nat] of the kept lab)");
		return EXIT_USAGE;
	}
	snprintf(node, sizeof(node), "nat-%s", argv[1]);
	lab_kept_path(argv[0], node, path, sizeof(path));
	if (netns_open_path(path, node, &ns) < 0) {
		log_err("%s (is lab '%s' kept, with a router '%s'?)", path, argv[0], argv[1]);
		return EXIT_USAGE;
	}
	if (nft_query(ns, "list table ip punchlab", false, &listing, &err) < 0) {
		log_errx("%s: no generated NAT ruleset to rebind: %s", node, err ? err : "?");
		goto cleanup;
	}
	n = nat_rebind_commands(listing, &cmds);
	if (n < 0 || (n > 0 && nft_load(ns, cmds, &err) < 0) || ct_flush(ns) < 0) {
		log_errx("%s: rebinding: %s", node, err ? err : "failed");
		goto cleanup;
	}
	log_info("%s rebound: %d learned mapping sets and its conntrack table flushed", node, n);
	rc = EXIT_PASS;
cleanup:
	free(listing);
	free(cmds);
	free(err);
	netns_destroy(ns); /* opened by path: only closes our handle */
	return rc;
}

static int cmd_down(int argc, char **argv)
{
	int rc = EXIT_PASS;

	if (argc < 1) {
		log_errx("usage: punchlab down NAME...");
		return EXIT_USAGE;
	}
	for (int i = 0; i < argc; i++) {
		int n = lab_unkeep(argv[i]);

		if (n < 0) {
			log_errx("%s: %s", argv[i], strerror(-n));
			rc = EXIT_SETUP;
		} else if (n == 0) {
			log_errx("%s: no kept lab of that name", argv[i]);
			rc = EXIT_MISMATCH;
		} else {
			log_info("%s: took down %d namespaces", argv[i], n);
		}
	}
	return rc;
}

static const struct option longopts[] = {
	{ "jobs", required_argument, NULL, 'j' },
	{ "tap", no_argument, NULL, 'T' },
	{ "junit", required_argument, NULL, 'J' },
	{ "json", required_argument, NULL, 'O' },
	{ "markdown", required_argument, NULL, 'M' },
	{ "bindir", required_argument, NULL, 'B' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "no-color", no_argument, NULL, 'C' },
	{ "keep", no_argument, NULL, 'K' },
	{ "no-self-check", no_argument, NULL, 'N' },
	{ "picture", required_argument, NULL, 'P' },
	{ "seed", required_argument, NULL, 'S' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

/* Returns -1 to go on, or an exit status. */
static int parse_opts(int argc, char **argv, struct opts *o)
{
	int c;

	while ((c = getopt_long(argc, argv, "j:vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'j': {
			unsigned long v;

			if (num_parse_uint(optarg, 256, &v) < 0 || v < 1) {
				log_errx("-j %s: a number of jobs from 1 to 256", optarg);
				return EXIT_USAGE;
			}
			o->jobs = (int)v;
			break;
		}
		case 'T': o->tap = true; break;
		case 'J': o->junit = optarg; break;
		case 'O': o->json = optarg; break;
		case 'M': o->markdown = optarg; break;
		case 'B': snprintf(o->bindir, sizeof(o->bindir), "%s", optarg); break;
		case 'v': o->verbose = true; break;
		case 'C': o->color = false; break;
		case 'K': o->keep = true; break;
		case 'N': o->no_selfcheck = true; break;
		case 'P': o->picture = optarg; break;
		case 'S': {
			char *end;

			errno = 0;
			o->seed = strtoull(optarg, &end, 10);
			if (errno || *end || end == optarg || optarg[0] == '-') {
				log_errx("--seed %s: a number from 0 to 18446744073709551615", optarg);
				return EXIT_USAGE;
			}
			break;
		}
		case 'h': usage(stdout); return 0;
		case 'V': printf("punchlab %s\n", PUNCHLAB_VERSION); return 0;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	return -1;
}

int main(int argc, char **argv)
{
	struct opts o = { .jobs = (int)sysconf(_SC_NPROCESSORS_ONLN) };
	uint64_t drawn;
	const char *cmd;
	int rc = 0;

	log_init("punchlab", LOG_LVL_INFO);
	/* A fresh seed per run unless --seed gives one: ports differ run to run. */
	if (getrandom(&drawn, sizeof(drawn), 0) != (ssize_t)sizeof(drawn))
		drawn = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	o.seed = drawn;
	o.tty = isatty(STDOUT_FILENO);
	o.color = o.tty && !getenv("NO_COLOR");
	if (bindir_default(o.bindir, sizeof(o.bindir)) < 0)
		snprintf(o.bindir, sizeof(o.bindir), ".");
	if (argc < 2 || argv[1][0] == '-') {
		/* punchlab --help, punchlab --version */
		rc = parse_opts(argc, argv, &o);
		if (rc < 0) {
			usage(stderr);
			return EXIT_USAGE;
		}
		return rc;
	}
	cmd = argv[1];
	if (strcmp(cmd, "shell") == 0)
		return cmd_shell(argc - 2, argv + 2);
	if (strcmp(cmd, "down") == 0)
		return cmd_down(argc - 2, argv + 2);
	if (strcmp(cmd, "rebind") == 0)
		return cmd_rebind(argc - 2, argv + 2);
	if (strcmp(cmd, "run") && strcmp(cmd, "check") && strcmp(cmd, "list") && strcmp(cmd, "classify")) {
		log_errx("unknown command '%s' (run, check, list, classify, shell, down)", cmd);
		usage(stderr);
		return EXIT_USAGE;
	}
	rc = parse_opts(argc - 1, argv + 1, &o);
	if (rc >= 0)
		return rc;
	optind++; /* parse_opts saw argv + 1 */
	if (optind >= argc) {
		log_errx("%s: no topology files given", cmd);
		return EXIT_USAGE;
	}
	if (strcmp(cmd, "check") == 0 || strcmp(cmd, "list") == 0) {
		rc = 0;
		for (int i = optind; i < argc; i++)
			rc |= check_one(argv[i], cmd[0] == 'l');
		return rc ? EXIT_MISMATCH : EXIT_PASS;
	}
	for (int i = optind; i < argc; i++)
		if (access(argv[i], R_OK) < 0) {
			log_err("%s", argv[i]);
			return EXIT_USAGE;
		}
	if (geteuid() != 0) {
		char why[512];

		if (netns_userns_enter(why, sizeof(why)) < 0) {
			log_errx("not root, and rootless mode is not possible here: %s", why);
			return EXIT_SETUP;
		}
		log_info("not root: running rootless in a user namespace");
	}
	if (strcmp(cmd, "classify") == 0)
		return cmd_classify(argc - optind, argv + optind, &o);
	return cmd_run(argc - optind, argv + optind, &o);
}
