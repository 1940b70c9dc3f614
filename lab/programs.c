/* Programs under test: a work directory, a setup command, a server and two
 * peers' programs with readiness, a check, and time limits. */
#include "programs.h"

#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "common/log.h"
#include "common/mtime.h"
#include "kernel/build.h"
#include "kernel/netns.h"
#include "kernel/rebind.h"
#include "kernel/run.h"
#include "model/placeholders.h"

#define PROG_TAIL 4096          /* of each program's stdout and stderr, in the report */
#define SERVER_READY_MS 10000   /* a server that is not ready by then never will be */
#define SETUP_MS 60000

struct programs {
	char workdir[PATH_MAX];
	char dir[PATH_MAX];     /* of the topology file */
	char path_env[3 * PATH_MAX]; /* PATH=BINDIR:$PATH */
	char bindir[PATH_MAX];
};

bool programs_wanted(const struct topo *t)
{
	return t->programs.server || t->programs.client || (t->n_peers == 2 && (t->peers[0].program ||
										 t->peers[1].program));
}

bool programs_speak_punch(const struct topo *t)
{
	return !t->programs.client && !(t->n_peers == 2 && (t->peers[0].program || t->peers[1].program));
}

/* The last max bytes of s, from a line start where there is one. */
static char *tail(const char *s, size_t len, size_t dropped, size_t max)
{
	const char *start = s;
	char *out = NULL;

	if (!s || !len)
		return NULL;
	if (len > max) {
		const char *nl;

		start = s + len - max;
		nl = memchr(start, '\n', (size_t)(s + len - start));
		if (nl && nl + 1 < s + len)
			start = nl + 1;
		dropped += (size_t)(start - s);
	}
	if (dropped) {
		if (asprintf(&out, "[%zu bytes before this not kept]\n%s", dropped, start) < 0)
			out = NULL;
		return out;
	}
	return strdup(start);
}

/* Placeholder values of one program: the server's (k = -1) or peer k's. */
struct ph_bufs {
	char server[80], server_port[12], role[12], local_port[12], peer_port[12], other_role[12];
};

static void ph_fill(struct programs *pg, const struct topo *t, const struct plan *p, int k, const char *session,
		    struct ph_values *v, struct ph_bufs *b)
{
	const char *sip = t->ipv6 ? p->server_ip6 : p->server_ip;

	memset(v, 0, sizeof(*v));
	if (t->mode != MODE_FIXED_PORT) {
		snprintf(b->server, sizeof(b->server), strchr(sip, ':') ? "[%s]:%u" : "%s:%u", sip,
			 (unsigned)p->server_port);
		snprintf(b->server_port, sizeof(b->server_port), "%u", (unsigned)p->server_port);
		v->v[PH_SERVER] = b->server;
		v->v[PH_SERVER_IP] = sip;
		v->v[PH_SERVER_PORT] = b->server_port;
	}
	v->v[PH_SESSION] = session;
	v->v[PH_WORKDIR] = pg->workdir;
	v->v[PH_DIR] = pg->dir;
	if (k < 0)
		return;
	{
		const struct plan_peer *me = &p->peers[k], *other = &p->peers[1 - k];

		snprintf(b->role, sizeof(b->role), "%d", k + 1);
		snprintf(b->other_role, sizeof(b->other_role), "%d", 2 - k);
		snprintf(b->local_port, sizeof(b->local_port), "%u", (unsigned)me->local_port);
		snprintf(b->peer_port, sizeof(b->peer_port), "%u", (unsigned)other->local_port);
		v->v[PH_PEER] = t->peers[k].name;
		v->v[PH_ROLE] = b->role;
		v->v[PH_LOCAL_IP] = t->ipv6 ? me->ip6 : me->ip;
		v->v[PH_LOCAL_PORT] = b->local_port;
		v->v[PH_PEER_IP] = t->ipv6 ? other->public_ip6 : other->public_ip;
		v->v[PH_PEER_PORT] = b->peer_port;
		v->v[PH_OTHER] = t->peers[1 - k].name;
		v->v[PH_OTHER_ROLE] = b->other_role;
	}
}

/* Register one program: expand its command, find it on PATH, give it its
 * environment, directory and readiness. what names it in messages. */
static int prog_add(struct programs *pg, struct run_group *g, const char *what, int netns_fd, const char *cmd,
		    const struct ph_values *v, const struct topo_ready *ready, uint16_t own_port,
		    struct run_proc **out, char *err, size_t errsize)
{
	char **argv = NULL, **env = NULL, why[300], path[PATH_MAX];
	const char **envx = NULL;
	size_t n = 0;
	int rc;

	rc = ph_argv(cmd, v, &argv, why, sizeof(why));
	if (rc < 0) {
		snprintf(err, errsize, "%s: %s", what, why);
		goto cleanup;
	}
	rc = run_which(argv[0], pg->path_env + 5, path, sizeof(path));
	if (rc < 0) {
		snprintf(err, errsize, "%s: program '%s' %s", what, argv[0],
			 rc == -EACCES ? "is not executable" : strchr(argv[0], '/') ? "does not exist" :
			 "is not on PATH (nor in the lab's own directory)");
		goto cleanup;
	}
	free(argv[0]);
	if (!(argv[0] = strdup(path))) {
		rc = -ENOMEM;
		goto cleanup;
	}
	rc = ph_env(v, &env);
	if (rc < 0)
		goto cleanup;
	while (env[n])
		n++;
	envx = calloc(n + 2, sizeof(*envx));
	if (!envx) {
		rc = -ENOMEM;
		goto cleanup;
	}
	for (size_t i = 0; i < n; i++)
		envx[i] = env[i];
	envx[n] = pg->path_env;
	rc = run_add(g, what, netns_fd, (const char *const *)argv, out);
	if (rc == 0)
		rc = run_set_env(*out, envx);
	if (rc == 0)
		rc = run_set_dir(*out, pg->workdir);
	if (rc == 0 && ready && ready->kind == READY_STDOUT)
		rc = run_set_ready_pattern(*out, ready->pattern);
	if (rc == 0 && ready && ready->kind == READY_PORT)
		run_set_ready_port(*out, ready->port ? ready->port : own_port, ready->proto);
	if (rc < 0)
		snprintf(err, errsize, "%s: %s", what, strerror(-rc));
cleanup:
	ph_argv_free(argv);
	ph_argv_free(env);
	free(envx);
	return rc;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path) < 0 ? -1 : 0;
}

void programs_free(struct programs *pg, bool keep)
{
	if (!pg)
		return;
	if (pg->workdir[0] && !keep)
		nftw(pg->workdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	else if (pg->workdir[0])
		log_info("work directory kept: %s", pg->workdir);
	free(pg);
}

int programs_prepare(const struct topo *t, const struct plan *p, const char *name, const char *bindir,
		     struct programs **out, char *err, size_t errsize)
{
	struct programs *pg = calloc(1, sizeof(*pg));
	const char *tmp = getenv("TMPDIR"), *path = getenv("PATH");
	char base[PATH_MAX];
	int rc = -ENOMEM;

	if (!pg)
		goto cleanup;
	if (!realpath(bindir, pg->bindir))
		snprintf(pg->bindir, sizeof(pg->bindir), "%s", bindir);
	if (snprintf(pg->path_env, sizeof(pg->path_env), "PATH=%s:%s", pg->bindir,
		     path && *path ? path : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin") >=
	    (int)sizeof(pg->path_env)) {
		rc = -ENAMETOOLONG;
		snprintf(err, errsize, "PATH is too long");
		goto cleanup;
	}
	/* {dir}: a matrix cell's path is "FILE[row x col]". */
	snprintf(base, sizeof(base), "%s", t->path ? t->path : ".");
	if (strchr(base, '['))
		*strchr(base, '[') = '\0';
	if (strrchr(base, '/'))
		*strrchr(base, '/') = '\0';
	else
		snprintf(base, sizeof(base), ".");
	if (!realpath(base, pg->dir))
		snprintf(pg->dir, sizeof(pg->dir), "%s", base);
	snprintf(pg->workdir, sizeof(pg->workdir), "%s/punchlab-%s.XXXXXX", tmp && *tmp ? tmp : "/tmp", name);
	for (char *c = pg->workdir + strlen(tmp && *tmp ? tmp : "/tmp") + 1; *c; c++)
		if (*c == '/')
			*c = '_';
	if (!mkdtemp(pg->workdir)) {
		rc = -errno;
		snprintf(err, errsize, "work directory %s: %s", pg->workdir, strerror(errno));
		pg->workdir[0] = '\0';
		goto cleanup;
	}
	/* Every program must exist before a lab is built for it. */
	for (int k = -1; k < 2; k++) {
		const char *cmds[2] = { k < 0 ? t->programs.server : t->peers[k].program ? t->peers[k].program :
					t->programs.client, k < 0 ? NULL : t->programs.check };

		for (int c = 0; c < 2; c++) {
			struct ph_values v;
			struct ph_bufs b;
			char **argv = NULL, why[300], found[PATH_MAX];

			if (!cmds[c])
				continue;
			ph_fill(pg, t, p, k, name, &v, &b);
			rc = ph_argv(cmds[c], &v, &argv, why, sizeof(why));
			if (rc == 0 && (rc = run_which(argv[0], pg->path_env + 5, found, sizeof(found))) < 0)
				snprintf(why, sizeof(why), "program '%s' %s", argv[0],
					 rc == -EACCES ? "is not executable" : strchr(argv[0], '/') ? "does not exist" :
					 "is not on PATH (nor in the lab's own directory)");
			ph_argv_free(argv);
			if (rc < 0) {
				snprintf(err, errsize, "%s: %s", c ? "check" : k < 0 ? "server" : t->peers[k].name,
					 why);
				goto cleanup;
			}
		}
	}
	if (t->programs.setup) {
		struct run_group *g = NULL;
		struct run_proc *sp = NULL;
		struct ph_values v;
		struct ph_bufs b;
		char why[400], how[256];

		ph_fill(pg, t, p, -1, name, &v, &b);
		rc = run_group_create(&g);
		if (rc == 0)
			rc = prog_add(pg, g, "setup", -1, t->programs.setup, &v, NULL, 0, &sp, why, sizeof(why));
		if (rc == 0)
			rc = run_start(g, sp);
		if (rc >= 0)
			rc = run_release(g);
		if (rc >= 0)
			rc = run_wait(g, mtime_now() + SETUP_MS);
		if (rc >= 0 && (run_result(sp)->exit_code != 0 || rc > 0)) {
			const struct run_result *r = run_result(sp);
			char *et = tail(r->err, r->err_len, 0, 1024);

			snprintf(err, errsize, "setup failed: %s\n%s", run_describe(sp, how, sizeof(how)),
				 et ? et : "");
			free(et);
			rc = -ECANCELED;
		} else if (rc < 0 && why[0]) {
			snprintf(err, errsize, "%s", why);
		} else if (rc < 0) {
			snprintf(err, errsize, "setup: %s", strerror(-rc));
		}
		run_group_destroy(g);
		if (rc < 0)
			goto cleanup;
	}
	*out = pg;
	pg = NULL;
	rc = 0;
cleanup:
	programs_free(pg, false);
	return rc;
}

/* A program's stdout and stderr tails into a result's peer slot. */
static void fill_peer(struct result_peer *rp, const char *name, struct run_proc *proc)
{
	const struct run_result *r = run_result(proc);
	char *out;

	snprintf(rp->name, sizeof(rp->name), "%s", name);
	/* Not what it claims (nothing a program says is trusted): how it ended. */
	rp->outcome = RESULT_NONE;
	rp->exit_code = r->exit_code; /* -1: killed, or never started */
	json_object_put(rp->report);
	free(rp->stderr_tail);
	out = tail(r->out, r->out_len, 0, PROG_TAIL);
	if (out && r->out_dropped) {
		char *t2 = NULL;

		if (asprintf(&t2, "%s%s[%zu bytes after this not kept]\n", out, out[strlen(out) - 1] == '\n' ? "" : "\n",
			     r->out_dropped) >= 0) {
			free(out);
			out = t2;
		}
	}
	rp->report = result_peer_report(out);
	free(out);
	rp->stderr_tail = tail(r->err, r->err_len, r->err_dropped, PROG_TAIL);
}

/* Did the program succeed (exit 0, in time)? If not, why says how it ended. */
static bool prog_ok(struct run_proc *proc, const char *what, int limit_ms, char *why, size_t size)
{
	const struct run_result *r = run_result(proc);
	char how[256];

	if (r->state == RUN_EXITED && r->exit_code == 0 && !r->timed_out)
		return true;
	if (r->timed_out)
		snprintf(why, size, "%s did not finish within its time limit (%d ms): %s", what, limit_ms,
			 run_describe(proc, how, sizeof(how)));
	else
		snprintf(why, size, "%s %s", what, run_describe(proc, how, sizeof(how)));
	return false;
}

/* Start the server (t->programs.server, or punch-server as the built-in
 * pair runs it) in g and wait until it is ready. Returns 0 and *srv, or
 * -errno with res->error (its stderr and stdout included) or err set. */
static int start_server(struct programs *pg, const struct topo *t, const struct plan *p, struct lab *l,
			bool verbose, const char *session, struct run_group *g, struct run_proc **srvp,
			struct result *res, char *err, size_t errsize)
{
	struct topo_ready rd = t->programs.server_ready;
	const char *scmd = t->programs.server;
	struct run_proc *srv = NULL;
	struct ph_values v;
	struct ph_bufs b;
	char cmd[300], how[256];
	int rc;

	if (!scmd) {
		snprintf(cmd, sizeof(cmd), "punch-server --listen %s%s%s --port {server_port} --ready-fd 3%s",
			 p->server_ip, t->ipv6 ? " --listen " : "", t->ipv6 ? p->server_ip6 : "", verbose ? " -v" : "");
		scmd = cmd;
		rd.kind = READY_NONE;
	} else if (rd.kind == READY_NONE) {
		rd.kind = READY_PORT; /* by default: a socket on {server_port} */
	}
	ph_fill(pg, t, p, -1, session, &v, &b);
	rc = prog_add(pg, g, "server", netns_fd(lab_ns(l, p->server_node)), scmd, &v, &rd, p->server_port, &srv, err,
		      errsize);
	*srvp = srv;
	if (rc == 0 && !t->programs.server)
		rc = run_set_ready_fd(srv, 3);
	if (rc < 0)
		return rc;
	rc = run_start_ready(g, srv, mtime_now() + SERVER_READY_MS);
	if (rc < 0) {
		const struct run_result *r = run_result(srv);
		char *et = tail(r->err, r->err_len, 0, 1024), *ot = tail(r->out, r->out_len, 0, 512);

		if (rc == -ETIMEDOUT)
			snprintf(err, errsize, "server not ready within %d ms (%s); say how it shows it is ready "
				 "with server-ready = stdout PATTERN or port N", SERVER_READY_MS,
				 rd.kind == READY_PORT ? "no socket on its port" : "no stdout line matched");
		else
			snprintf(err, errsize, "server %s before it was ready", run_describe(srv, how, sizeof(how)));
		res->error = NULL;
		if (asprintf(&res->error, "%s\n%s%s%s%s", err, et ? "stderr:\n" : "", et ? et : "",
			     ot ? "stdout:\n" : "", ot ? ot : "") < 0)
			res->error = NULL;
		free(et);
		free(ot);
		return rc;
	}
	return 0;
}

/* Peer k's command when only a server of the user's runs: punch-client,
 * as the built-in pair runs it, into buf. Its exit status 1 is "relayed":
 * a success too (the network says which path). */
static const char *builtin_peer(const struct topo *t, int k, bool verbose, char *buf, size_t size)
{
	snprintf(buf, size, "sh -c 'punch-client --server {server} --session {session} --bind "
		 "{local_ip} --local-port {local_port} --timeout %ums --punch-timeout %ums --messages %u%s%s%s; "
		 "test $? -le 1'",
		 (unsigned)(t->timeout_ms - t->peers[k].start_delay_ms), (unsigned)t->punch_timeout_ms,
		 (unsigned)t->messages, t->relay ? "" : " --no-relay",
		 t->mode == MODE_ADVERTISE_LOCAL ? " --advertise-local" : "", verbose ? " -v" : "");
	return buf;
}

/* The server's and the checks' output (procs[0..n), NULL ones skipped), for
 * the report's detail: res->detail, when there is any. */
static void put_extra_output(struct run_proc *const *procs, size_t n, struct result *res)
{
	char *text = NULL, how[256];
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	for (size_t i = 0; f && i < n; i++) {
		const struct run_result *r;
		char *ot, *et;

		if (!procs[i])
			continue;
		r = run_result(procs[i]);
		ot = tail(r->out, r->out_len, 0, 1024);
		et = tail(r->err, r->err_len, r->err_dropped, 1024);
		fprintf(f, "%s: %s\n", run_name(procs[i]), run_describe(procs[i], how, sizeof(how)));
		for (int j = 0; j < 2; j++) {
			const char *txt = j ? et : ot;

			if (txt)
				fprintf(f, "  %s:\n", j ? "stderr" : "stdout");
			for (const char *line = txt; line && *line;) {
				const char *end = strchrnul(line, '\n');

				fprintf(f, "    %.*s\n", (int)(end - line), line);
				line = *end ? end + 1 : end;
			}
		}
		free(ot);
		free(et);
	}
	if (f && fclose(f) == 0 && len) {
		free(res->detail);
		res->detail = text;
	} else if (f) {
		free(text);
	}
}

/* Both peers' programs up (ready, if they say how), then the check in each
 * peer, released together. Returns 0 when the checks run, 1 when a program
 * was not ready by the time limit (out->why says which), or -errno with err
 * set. */
static int start_checks(struct programs *pg, const struct topo *t, const struct plan *p, struct lab *l,
			const char *session, struct run_group *g, struct run_proc *const cli[2],
			struct run_proc *chk[2], mtime_ms t0, struct programs_result *out, char *err, size_t errsize)
{
	struct ph_values v;
	struct ph_bufs b;
	char how[256], what[64];
	int rc;

	for (int k = 0; k < 2 && t->programs.client_ready.kind != READY_NONE; k++) {
		rc = run_wait_ready(g, cli[k], t0 + t->timeout_ms);
		if (rc < 0) {
			snprintf(what, sizeof(what), "%s's program", t->peers[k].name);
			if (rc == -ETIMEDOUT)
				snprintf(out->why, sizeof(out->why), "%s was not ready within the time limit (%u ms)",
					 what, (unsigned)t->timeout_ms);
			else
				snprintf(out->why, sizeof(out->why), "%s %s before it was ready", what,
					 run_describe(cli[k], how, sizeof(how)));
			return 1;
		}
	}
	for (int k = 0; k < 2; k++) {
		snprintf(what, sizeof(what), "check-%s", t->peers[k].name);
		ph_fill(pg, t, p, k, session, &v, &b);
		rc = prog_add(pg, g, what, netns_fd(lab_ns(l, p->peers[k].node)), t->programs.check, &v, NULL, 0,
			      &chk[k], err, errsize);
		if (rc >= 0)
			rc = run_start(g, chk[k]);
		if (rc < 0)
			return rc;
	}
	rc = run_release(g);
	return rc < 0 ? rc : 0;
}

int programs_run(struct programs *pg, const struct topo *t, const struct plan *p, struct lab *l, bool verbose,
		 const char *session, struct result *res, struct programs_result *out)
{
	struct run_group *g = NULL;
	struct run_proc *srv = NULL, *cli[2] = { NULL, NULL }, *chk[2] = { NULL, NULL };
	struct ph_values v;
	struct ph_bufs b;
	char err[700] = "", how[256], what[64];
	bool check = t->programs.check != NULL;
	mtime_ms t0;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = run_group_create(&g);
	if (rc < 0)
		goto cleanup;
	/* The server: the user's, or punch-server as the built-in pair runs it. */
	if (t->mode != MODE_FIXED_PORT) {
		rc = start_server(pg, t, p, l, verbose, session, g, &srv, res, err, sizeof(err));
		if (rc < 0)
			goto cleanup;
	}
	/* The peers: at the barrier together, a start-delay later at its time. */
	for (int k = 0; k < 2; k++) {
		const char *cmd = t->peers[k].program ? t->peers[k].program : t->programs.client;
		char builtin[300];

		if (!cmd)
			cmd = builtin_peer(t, k, verbose, builtin, sizeof(builtin));

		ph_fill(pg, t, p, k, session, &v, &b);
		rc = prog_add(pg, g, t->peers[k].name, netns_fd(lab_ns(l, p->peers[k].node)), cmd, &v,
			      &t->programs.client_ready, p->peers[k].local_port, &cli[k], err, sizeof(err));
		if (rc < 0)
			goto cleanup;
		/* With a check the programs are daemons (a VPN, a node): the check ends the run. */
		run_set_background(cli[k], check);
	}
	{
		const uint32_t delay[2] = { t->peers[0].start_delay_ms, t->peers[1].start_delay_ms };

		rc = run_start_pair(g, cli, delay, &t0);
		if (rc < 0)
			goto cleanup;
		out->started = t0;
	}
	if (check) {
		rc = start_checks(pg, t, p, l, session, g, cli, chk, t0, out, err, sizeof(err));
		if (rc < 0)
			goto cleanup;
		if (rc > 0) {
			rc = 0;
			goto judged; /* a program was not ready: out->why says which */
		}
	}
	/* rebind-after: at its time while the programs run. */
	rc = rebind_timed(g, l, t, p, t0, res->name, err, sizeof(err));
	if (rc >= 0)
		rc = run_wait(g, t0 + t->timeout_ms);
	if (rc < 0)
		goto cleanup;
	out->success = true;
	for (int k = 0; k < 2 && out->success; k++) {
		snprintf(what, sizeof(what), check ? "the check in %s" : "%s's program", t->peers[k].name);
		out->success = prog_ok(check ? chk[k] : cli[k], what, (int)t->timeout_ms, out->why, sizeof(out->why));
	}
	/* A daemon that died during the check did not succeed either. */
	for (int k = 0; k < 2 && out->success && check; k++) {
		const struct run_result *r = run_result(cli[k]);

		if (r->state == RUN_EXITED && r->exit_code != 0) {
			snprintf(out->why, sizeof(out->why), "%s's program %s during the check", t->peers[k].name,
				 run_describe(cli[k], how, sizeof(how)));
			out->success = false;
		}
	}
	out->checked = check && out->success;
	rc = 0;
judged:
	for (int k = 0; k < 2; k++)
		if (cli[k])
			run_stop(g, cli[k]);
	if (srv)
		run_stop(g, srv);
	for (int k = 0; k < 2; k++)
		fill_peer(&res->peers[k], t->peers[k].name, cli[k]);
	{
		struct run_proc *extra[] = { srv, chk[0], chk[1] };

		put_extra_output(extra, sizeof(extra) / sizeof(extra[0]), res);
	}
cleanup:
	if (rc < 0 && !res->error)
		res->error = strdup(err[0] ? err : strerror(-rc));
	run_group_destroy(g);
	return rc;
}
