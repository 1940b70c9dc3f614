#include "scenario.h"

#include <errno.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "model/argv.h"
#include "common/log.h"
#include "common/mtime.h"
#include "model/outcome.h"
#include "model/iniread.h"
#include "kernel/build.h"
#include "kernel/capture.h"
#include "kernel/ct.h"
#include "kernel/netns.h"
#include "model/plan.h"
#include "client/predict.h"
#include "model/progverdict.h"
#include "programs.h"
#include "proto/wire.h"
#include "kernel/rebind.h"
#include "kernel/run.h"
#include "kernel/witness.h"
#include "selfcheck.h"
#include "model/topo.h"

#define READY_MS 5000      /* the server must be listening within this */
#define GRACE_MS 3000      /* beyond the clients' own time limit, before they count as hung */
#define STDERR_TAIL 2048

char *scenario_name(const char *path)
{
	return iniread_stem(path, ".topo");
}

static char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	return s;
}

const char *scenario_unsupported(const struct topo *t)
{
	(void)t;
	return NULL;
}

int scenario_expectation(const struct topo *t, const struct plan *p, enum outcome *out, char *reason,
			 size_t reasonsize, char *err, size_t errsize)
{
	enum outcome derived = OUTCOME_UNSET;
	char why[256];
	int rc;

	rc = outcome_derive(t, p, &outcome_punch_client, &derived, why, sizeof(why));
	snprintf(reason, reasonsize, "%s", t->expect_why ? t->expect_why : rc == 0 ? why : "");
	if (t->expect == OUTCOME_UNSET) {
		if (rc < 0) {
			snprintf(err, errsize, "%s:1: no expect given, and none can be derived: %s", t->path, why);
			return -EINVAL;
		}
		*out = derived;
		return 0;
	}
	if (rc == 0 && derived != t->expect && !t->expect_why) {
		snprintf(err, errsize,
			 "%s:%d: expect = %s overrides the derived expectation (%s: %s); say why with expect-why",
			 t->path, t->expect_line > 0 ? t->expect_line : 1, topo_outcome_name(t->expect),
			 topo_outcome_name(derived), why);
		return -EINVAL;
	}
	*out = t->expect;
	return 0;
}

/* keepalive = yes: a third of the shortest UDP timeout of the routers on the
 * peer's way to the internet (the kernel's 30 s where none is set), so that
 * even a keepalive lost or held up by a loaded machine leaves one more
 * before the mapping dies. */
static uint32_t keepalive_ms(const struct topo *t, int k)
{
	uint32_t shortest = 30000;

	for (int n = t->peers[k].behind, hops = 0; n >= 0 && hops <= t->n_nats; n = t->nats[n].uplink, hops++)
		if (t->nats[n].behavior.udp_timeout_ms && t->nats[n].behavior.udp_timeout_ms < shortest)
			shortest = t->nats[n].behavior.udp_timeout_ms;
	return shortest / 3;
}


/* The addresses the pair runs over: IPv6 ones with ipv6 = yes (the plan is then dual-stack). */
static const char *server_ip(const struct topo *t, const struct plan *p)
{
	return t->ipv6 ? p->server_ip6 : p->server_ip;
}

static const char *peer_ip(const struct topo *t, const struct plan_peer *pp)
{
	return t->ipv6 ? pp->ip6 : pp->ip;
}

static const char *peer_public_ip(const struct topo *t, const struct plan_peer *pp)
{
	return t->ipv6 ? pp->public_ip6 : pp->public_ip;
}

/* IP:PORT, or [IPv6]:PORT. */
static void arg_endpoint(struct argv_buf *a, const char *ip, unsigned port)
{
	if (strchr(ip, ':'))
		argv_add(a, "[%s]:%u", ip, port);
	else
		argv_add(a, "%s:%u", ip, port);
}

static void server_argv(struct argv_buf *a, const struct scenario_opts *o, const struct topo *t,
			const struct plan *p)
{
	argv_add(a, "%s/punch-server", o->bindir);
	argv_add(a, "--listen");
	argv_add(a, "%s", p->server_ip);
	if (t->ipv6) {
		argv_add(a, "--listen");
		argv_add(a, "%s", p->server_ip6);
	}
	if (t->predict) { /* the second observation of a predicting client */
		argv_add(a, "--listen");
		argv_add(a, "%s", p->server_ip2);
	}
	argv_add(a, "--port");
	argv_add(a, "%u", p->server_port);
	argv_add(a, "--ready-fd");
	argv_add(a, "3");
	if (o->verbose)
		argv_add(a, "-v");
}

static void client_argv(struct argv_buf *a, const struct scenario_opts *o, const struct topo *t,
			const struct plan *p, int k, const char *session)
{
	const struct plan_peer *me = &p->peers[k], *other = &p->peers[1 - k];
	uint32_t punch_ms, limit_ms;

	argv_add(a, "%s/punch-client", o->bindir);
	if (t->mode == MODE_FIXED_PORT) {
		argv_add(a, "--peer");
		arg_endpoint(a, peer_public_ip(t, other), other->local_port);
	} else {
		argv_add(a, "--server");
		arg_endpoint(a, server_ip(t, p), p->server_port);
	}
	argv_add(a, "--session");
	argv_add(a, "%s", session);
	argv_add(a, "--bind");
	argv_add(a, "%s", peer_ip(t, me));
	argv_add(a, "--local-port");
	argv_add(a, "%u", me->local_port);
	/* timeout is the whole scenario's: a client that starts later has that much less
	 * (the parser keeps every start-delay below timeout). */
	topo_client_timeouts(t, &punch_ms, &limit_ms);
	argv_add(a, "--timeout");
	argv_add(a, "%ums", limit_ms - t->peers[k].start_delay_ms);
	argv_add(a, "--punch-timeout");
	argv_add(a, "%ums", punch_ms);
	argv_add(a, "--messages");
	argv_add(a, "%u", t->messages);
	if (!t->relay || t->mode == MODE_FIXED_PORT)
		argv_add(a, "--no-relay");
	if (t->mode == MODE_ADVERTISE_LOCAL)
		argv_add(a, "--advertise-local");
	if (t->peers[k].keepalive && t->mode != MODE_FIXED_PORT) {
		argv_add(a, "--keepalive");
		argv_add(a, "%ums", keepalive_ms(t, k));
	}
	if (t->tcp)
		argv_add(a, "--tcp");
	if (t->predict) {
		argv_add(a, "--predict");
		argv_add(a, "%s", predict_method_name(t->predict));
		argv_add(a, "--server2");
		argv_add(a, "%s", p->server_ip2);
		if (t->predict_ports) {
			argv_add(a, "--predict-ports");
			argv_add(a, "%u", (unsigned)t->predict_ports);
		}
		if (t->predict_lo) {
			argv_add(a, "--predict-range");
			argv_add(a, "%u-%u", (unsigned)t->predict_lo, (unsigned)t->predict_hi);
		}
	}
	if (o->verbose)
		argv_add(a, "-v");
}

static char *tail(const char *s, size_t max)
{
	size_t len = s ? strlen(s) : 0;

	if (!s)
		return NULL;
	return strdup(len > max ? s + len - max : s);
}

static void peer_result(struct result_peer *rp, const char *name, struct run_proc *proc)
{
	const struct run_result *r = run_result(proc);

	snprintf(rp->name, sizeof(rp->name), "%s", name);
	/* the client's report, parsed once: the outcome and every report read it */
	rp->report = r->out && r->out_len ? result_peer_report(r->out) : NULL;
	rp->outcome = result_peer_outcome(rp->report);
	rp->exit_code = r->exit_code;
	rp->stderr_tail = tail(r->err, STDERR_TAIL);
}

/* What each side saw, for a mismatch. */
static char *mismatch_detail(const struct result *res, struct run_proc *procs[2], const char *why)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (!f)
		return NULL;
	if (why && *why)
		fprintf(f, "expectation: %s\n", why);
	for (int k = 0; k < 2; k++) {
		char how[256];
		const struct result_peer *rp = &res->peers[k];

		fprintf(f, "%s: %s, %s\n", rp->name, result_outcome_name(rp->outcome),
			run_describe(procs[k], how, sizeof(how)));
		if (rp->report)
			fprintf(f, "  report: %s\n", result_peer_report_text(rp));
		if (rp->stderr_tail && *rp->stderr_tail) {
			const char *last = rp->stderr_tail, *nl;
			int lines = 0;

			/* the last few lines of its log */
			for (nl = rp->stderr_tail + strlen(rp->stderr_tail); nl > rp->stderr_tail; nl--)
				if (nl[-1] == '\n' && ++lines > 12) {
					last = nl;
					break;
				}
			fprintf(f, "  log:\n");
			for (const char *line = last; *line;) {
				const char *end = strchrnul(line, '\n');

				fprintf(f, "    %.*s\n", (int)(end - line), line);
				line = *end ? end + 1 : end;
			}
		}
	}
	fclose(f);
	return text;
}

static char *routers_conntrack(const struct topo *t, const struct plan *p, struct lab *l,
			       const struct witness_ct *kept);

/* The path programs under test took, from the network alone (what they
 * printed is not trusted): the deliveries the witness counted in each
 * peer's namespace (witness_arm() ran before the programs), decided by
 * progverdict() (its header says how), into res->evidence and res->actual.
 * Read for programs that failed too (their actual is then failed, by the
 * caller): the evidence explains the failure. why gets the reason. */
static int judge_by_network(const struct topo *t, const struct plan *p, struct lab *l, bool wire,
			    const struct programs_result *pr, struct result *res, char *why, size_t size)
{
	struct evidence e;
	struct witness_ct kept;
	int rc;

	rc = witness_read(l, t, p, wire, pr->started, &e, &kept, why, size);
	if (rc < 0)
		return rc;
	res->actual = result_outcome_parse(progverdict(&e, t->peers[0].name, t->peers[1].name, pr->checked, why, size));
	rc = witness_fill(t, p, &e, &res->evidence);
	evidence_clear(&e);
	res->conntrack = routers_conntrack(t, p, l, &kept);
	witness_ct_free(&kept);
	/* What the counts support for programs whose protocol is not known is
	 * progverdict's (server traffic alone is not a relay), not the raw rule. */
	if (rc == 0)
		res->evidence.verdict = res->actual;
	if (rc < 0)
		snprintf(why, size, "evidence: %s", strerror(-rc));
	return rc;
}

/* The session name: the scenario's, in the protocol's alphabet (wire.h). */
static void session_name(const char *name, char *session, size_t size)
{
	snprintf(session, size, "%s", name);
	for (char *c = session; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '.' ||
		      *c == '_' || *c == '-'))
			*c = '.';
}

/* label, then the last 12 lines of text, each indented by four spaces;
 * nothing when text is empty. The reports keep the whole tail. */
static void put_indented(FILE *f, const char *label, const char *text)
{
	const char *from = text;
	int lines = 0;

	if (!text || !*text)
		return;
	for (const char *nl = text + strlen(text) - 1; nl > text; nl--)
		if (nl[-1] == '\n' && ++lines >= 12) {
			from = nl;
			break;
		}
	fprintf(f, "%s\n", label);
	if (from != text)
		fprintf(f, "    [...]\n");
	for (const char *line = from; *line;) {
		const char *end = strchrnul(line, '\n');

		fprintf(f, "    %.*s\n", (int)(end - line), line);
		line = *end ? end + 1 : end;
	}
}

/* The detail of a [programs] scenario: the expectation, the verdict's
 * reason, the explanation of the routers' drops, each program's own output,
 * indented, then what res->detail held. A malloc'd text or NULL. */
static char *programs_detail(const struct result *res, const char *expect_why, const char *why)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (!f)
		return NULL;
	if (expect_why && *expect_why)
		fprintf(f, "expectation: %s\n", expect_why);
	fprintf(f, "%s: %s\n", result_outcome_name(res->actual), why);
	if (res->evidence.explanation && *res->evidence.explanation)
		fprintf(f, "%s\n", res->evidence.explanation);
	for (int k = 0; k < 2; k++) {
		const struct result_peer *rp = &res->peers[k];

		if (rp->exit_code >= 0)
			fprintf(f, "%s: exit %d\n", rp->name, rp->exit_code);
		else
			fprintf(f, "%s: did not exit by itself\n", rp->name);
		put_indented(f, "  stdout:", result_peer_report_text(rp));
		put_indented(f, "  stderr:", rp->stderr_tail);
	}
	if (res->detail)
		fputs(res->detail, f); /* the server's and the checks' output (programs_run) */
	if (fclose(f) != 0) {
		free(text);
		return NULL;
	}
	return text;
}

/* [programs]: the user's programs, judged by their exit status (or check)
 * for success and by the network for the path. */
static int run_user_programs(struct programs *pg, const struct topo *t, const struct plan *p, struct lab *l,
			     const struct scenario_opts *o, struct result *res, const char *expect_why)
{
	struct programs_result pr;
	char session[WIRE_SESSION_MAX + 1], why[600], *detail;
	int rc;

	session_name(res->name, session, sizeof(session));
	rc = programs_run(pg, t, p, l, o->verbose, session, res, &pr);
	if (rc < 0)
		return rc;
	/* The evidence is read whether they succeeded or not: the routers'
	 * drops explain a failure too. */
	rc = judge_by_network(t, p, l, programs_speak_punch(t), &pr, res, why, sizeof(why));
	if (rc < 0) {
		res->error = xasprintf("reading the evidence: %s", why);
		return rc;
	}
	if (!pr.success) {
		res->actual = RESULT_FAILED;
		snprintf(why, sizeof(why), "%s", pr.why);
	}
	res->verdict = res->actual == result_outcome_of(res->expected) ? VERDICT_PASS : VERDICT_FAIL;
	detail = programs_detail(res, expect_why, why);
	if (!detail)
		return -ENOMEM;
	free(res->detail);
	res->detail = detail;
	return 0;
}

static int run_pair(const struct topo *t, const struct plan *p, struct lab *l, const struct scenario_opts *o,
		    struct result *res, const char *why)
{
	struct run_group *g = NULL;
	struct run_proc *srv = NULL, *cli[2] = { NULL, NULL };
	struct witness_ct kept = { 0 };
	struct argv_buf a;
	char session[WIRE_SESSION_MAX + 1];
	uint32_t punch_ms, limit_ms;
	mtime_ms t0;
	int rc;

	rc = run_group_create(&g);
	if (rc < 0)
		goto cleanup;
	if (t->mode != MODE_FIXED_PORT) {
		argv_init(&a);
		server_argv(&a, o, t, p);
		rc = a.overflow ? -E2BIG : run_add(g, "server", netns_fd(lab_ns(l, p->server_node)), a.v, &srv);
		if (rc == 0)
			rc = run_set_ready_fd(srv, 3);
		if (rc < 0)
			goto cleanup;
		rc = run_start_ready(g, srv, mtime_now() + READY_MS);
		if (rc < 0) {
			char how[256];

			res->error = xasprintf("punch-server did not become ready: %s (%s)\n%s", strerror(-rc),
					       run_describe(srv, how, sizeof(how)), run_result(srv)->err);
			goto cleanup;
		}
	}
	session_name(res->name, session, sizeof(session));
	for (int k = 0; k < 2; k++) {
		argv_init(&a);
		client_argv(&a, o, t, p, k, session);
		rc = a.overflow ? -E2BIG : run_add(g, t->peers[k].name, netns_fd(lab_ns(l, p->peers[k].node)), a.v, &cli[k]);
		if (rc < 0)
			goto cleanup;
	}
	/* Both clients start at the same instant (the barrier); one with a
	 * start-delay at its time while the other runs. */
	{
		const uint32_t delay[2] = { t->peers[0].start_delay_ms, t->peers[1].start_delay_ms };

		rc = run_start_pair(g, cli, delay, &t0);
		if (rc < 0)
			goto cleanup;
	}
	topo_client_timeouts(t, &punch_ms, &limit_ms);
	{
		char rerr[512]; /* rebind-after: at its time while the pair runs */

		rc = rebind_timed(g, l, t, p, t0, res->name, rerr, sizeof(rerr));
		if (rc < 0) {
			res->error = xasprintf("%s", rerr);
			goto cleanup;
		}
	}
	rc = run_wait(g, t0 + limit_ms + GRACE_MS);
	if (rc < 0)
		goto cleanup;
	if (srv)
		run_stop(g, srv);
	for (int k = 0; k < 2; k++)
		peer_result(&res->peers[k], t->peers[k].name, cli[k]);

	/* The verdict is the network's: what each host received (witness.h). */
	{
		enum outcome seen = OUTCOME_FAILED;
		mtime_ms read_start = mtime_now();
		char werr[512];

		rc = witness_judge(l, t, p, true, t0, &seen, &res->evidence, &kept, werr, sizeof(werr));
		if (rc < 0) {
			res->error = xasprintf("reading the evidence: %s", werr);
			goto cleanup;
		}
		res->conntrack = routers_conntrack(t, p, l, &kept);
		log_debug("%s: evidence read in %d ms", res->name, (int)(mtime_now() - read_start));
		res->actual = result_outcome_of(seen);
	}
	res->verdict = res->actual == result_outcome_of(res->expected) ? VERDICT_PASS : VERDICT_FAIL;
	if (res->verdict == VERDICT_PASS &&
	    (res->peers[0].outcome != res->actual || res->peers[1].outcome != res->actual)) {
		/* The built-in pair must also see what the network saw: a client
		 * that claims otherwise is wrong, whichever way. */
		res->verdict = VERDICT_FAIL;
		res->detail = xasprintf("the network saw %s, but %s reported %s and %s reported %s\n%s\n",
					result_outcome_name(res->actual), res->peers[0].name,
					result_outcome_name(res->peers[0].outcome), res->peers[1].name,
					result_outcome_name(res->peers[1].outcome), res->evidence.explanation);
	} else if (res->verdict != VERDICT_PASS) {
		char *sides = mismatch_detail(res, cli, why);

		res->detail = xasprintf("%s\n%s", res->evidence.explanation, sides ? sides : "");
		free(sides);
	}
	rc = 0;
cleanup:
	if (rc < 0 && !res->error)
		res->error = xasprintf("running the programs: %s", strerror(-rc));
	witness_ct_free(&kept);
	run_group_destroy(g);
	return rc;
}

/* Classify every router; refuse (res->error, -EPROTO) when one does not
 * behave as declared, else leave the routers as fresh as lab_up() made them. */
static int self_check(const struct topo *t, const struct plan *p, struct lab *l, const struct scenario_opts *o,
		      struct result *res, char *err, size_t errsize)
{
	struct selfcheck *sc = NULL;
	char *refusal;
	int rc;

	rc = selfcheck_run(t, p, l, o->bindir, o->verbose, &sc, err, errsize);
	if (rc < 0)
		return rc;
	for (int i = 0; i < sc->n; i++) {
		const struct selfcheck_nat *e = &sc->nats[i];

		if (!e->checked && !t->nats[e->nat].unchecked)
			log_warnx("%s: self-check: router %s%s not classified: %s", res->name, t->nats[e->nat].name,
				  e->family == 6 ? " over IPv6" : "", e->why);
	}
	if (selfcheck_to_result(t, sc, res) < 0) {
		selfcheck_free(sc);
		return -ENOMEM;
	}
	refusal = selfcheck_refusal(t, sc);
	if (refusal) {
		res->error = xasprintf("self-check: refusing to run the pair:\n%s", refusal);
		free(refusal);
		selfcheck_free(sc);
		return -EPROTO;
	}
	log_debug("%s: self-check: %d routers classified in %d ms", res->name, sc->n, sc->elapsed_ms);
	selfcheck_free(sc);
	return lab_reset_routers(l, t, p, err, errsize);
}

/* The programs of the scenario: the user's ([programs]) or the built-in pair. */
static int run_programs(const struct topo *t, const struct plan *p, struct lab *l, const struct scenario_opts *o,
			struct programs *pg, struct result *res, const char *why)
{
	return pg ? run_user_programs(pg, t, p, l, o, res, why) : run_pair(t, p, l, o, res, why);
}

/* run_programs(), with --pcap captured from before the programs start until after
 * they end; with --pcap-on-failure the capture of a verdict as expected goes. */
static int capture_pair(const struct topo *t, const struct plan *p, struct lab *l, const struct scenario_opts *o,
			struct programs *pg, struct result *res, const char *why, char *err, size_t errsize)
{
	struct capture *cap = NULL;
	struct capture_stats st;
	int rc, crc;

	if (!o->pcap_dir)
		return run_programs(t, p, l, o, pg, res, why);
	rc = capture_start(l, p, o->pcap_dir, res->name, o->pcap_cap ? o->pcap_cap : CAPTURE_CAP_DEFAULT, &cap, err,
			   errsize);
	if (rc < 0)
		return rc;
	rc = run_programs(t, p, l, o, pg, res, why);
	crc = capture_stop(cap, o->pcap_on_failure && rc == 0 && res->verdict == VERDICT_PASS, &st, err, errsize);
	if (crc < 0 && rc == 0 && !res->error)
		res->error = xasprintf("%s", err); /* the capture asked for is not there */
	else if (crc == 0 && (st.dropped_cap || st.dropped_kernel))
		log_warnx("%s: capture: %" PRIu64 " packets left out at the cap, %" PRIu64
			  " dropped by the kernel (capture.txt)",
			  res->name, st.dropped_cap, st.dropped_kernel);
	if (crc == 0 && (rc < 0 || res->verdict != VERDICT_PASS)) {
		/* Where to look, in the detail of the scenario that needs looking at. */
		char dir[1024];

		if (capture_dir_name(o->pcap_dir, res->name, dir, sizeof(dir)) == 0) {
			const char *old = res->detail ? res->detail : "";
			size_t len = strlen(old);
			char *d = xasprintf("%s%spacket capture: %s/\n", old, len && old[len - 1] != '\n' ? "\n" : "", dir);

			if (d) {
				free(res->detail);
				res->detail = d;
			}
		}
	}
	return rc < 0 ? rc : crc;
}

/* Evidence: what each router's conntrack holds after the pair ran, the
 * IPv4 UDP mappings as the kernel made them, one "ROUTER: ENTRY" line each in
 * the kernel's own notation ("udp 17 TTL src= dst= sport= dport= src= dst=
 * sport= dport= [ASSURED] [zone=N]", as conntrack -L writes them), or NULL.
 * A router's IPv4 listing the witness already made (kept, for a pair over
 * IPv4) is used as it is: a listing walks the kernel's whole conntrack table,
 * every namespace's, the dearest call of a scenario (a fifth of make lab's
 * CPU, two per router). */
static char *routers_conntrack(const struct topo *t, const struct plan *p, struct lab *l,
			       const struct witness_ct *kept)
{
	char *text = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&text, &len);

	if (!m)
		return NULL;
	for (int i = 0; i < p->n_nodes; i++) {
		struct ct_udp *ct = NULL, *mine = NULL;
		int n = 0, nat = p->nodes[i].index;

		if (p->nodes[i].kind != PLAN_ROUTER)
			continue;
		if (kept && !t->ipv6 && nat >= 0 && nat < kept->n_nats && plan_nat_node(p, nat) == i) {
			ct = kept->ct[nat];
			n = kept->n[nat];
		} else if (ct_list_udp(lab_ns(l, i), AF_INET, &mine, &n) == 0) {
			ct = mine;
		} else {
			continue;
		}
		for (int j = 0; j < n; j++) {
			const struct ct_udp *e = &ct[j];

			fprintf(m, "%s: udp      17 %u src=%s dst=%s sport=%u dport=%u src=%s dst=%s sport=%u dport=%u%s",
				p->nodes[i].name, (unsigned)e->timeout_s, e->orig_src, e->orig_dst, e->orig_sport,
				e->orig_dport, e->reply_src, e->reply_dst, e->reply_sport, e->reply_dport,
				e->assured ? " [ASSURED]" : "");
			if (e->zone)
				fprintf(m, " zone=%u", (unsigned)e->zone);
			fputc('\n', m);
		}
		free(mine);
	}
	if (fclose(m) != 0) {
		free(text);
		return NULL;
	}
	return text;
}

/* Everything after parsing: t is the caller's. */
static int run_topo(const struct topo *t, const struct scenario_opts *o, struct result *res, char *err,
		    size_t errsize)
{
	struct plan *p = NULL;
	struct lab *l = NULL;
	struct programs *pg = NULL;
	enum outcome expected;
	char why[256] = "";
	struct topo seeded = *t; /* the run's seed for the routers' port pools */
	int rc;

	seeded.seed = o->seed;
	t = &seeded;
	res->seed = o->seed;
	res->description = t->description ? strdup(t->description) : NULL;
	rc = plan_build(t, &p, err, errsize);
	if (rc < 0)
		goto done;
	rc = scenario_expectation(t, p, &expected, why, sizeof(why), err, errsize);
	if (rc < 0)
		goto done;
	res->expected = expected;
	if (scenario_unsupported(t)) {
		snprintf(err, errsize, "%s: %s", t->path, scenario_unsupported(t));
		rc = -ENOTSUP;
		goto done;
	}
	if (programs_wanted(t)) {
		char session[WIRE_SESSION_MAX + 1];

		session_name(res->name, session, sizeof(session));
		rc = programs_prepare(t, p, session, o->bindir, &pg, err, errsize);
		if (rc < 0)
			goto done;
	}
	rc = lab_up(t, p, &l, err, errsize);
	if (rc < 0)
		goto done;
	if (!o->no_selfcheck) {
		rc = self_check(t, p, l, o, res, err, errsize);
		if (rc < 0 && res->error)
			goto keep; /* refused: a kept lab lets the user see why */
		if (rc < 0)
			goto done;
	}
	if (o->up_only) {
		rc = 0; /* punchlab up: the lab is the user's now, nothing is counted */
		goto keep;
	}
	/* After the self-check, whose probes must not count. Only the built-in
	 * protocol's RELAY messages can be told from other UDP by their type. */
	rc = witness_arm(l, t, p, programs_speak_punch(t), err, errsize);
	if (rc < 0)
		goto done;
	rc = capture_pair(t, p, l, o, pg, res, why, err, errsize);
	if (!res->conntrack) /* not read with the evidence: an error came first */
		res->conntrack = routers_conntrack(t, p, l, NULL);
keep:
	if (o->keep) {
		int krc = lab_keep(l, p, res->name, err, errsize);

		if (krc < 0 && !res->error)
			res->error = xasprintf("--keep: %s", err);
		else if (krc == 0)
			log_info("kept lab '%s': punchlab shell %s NODE; punchlab down %s", res->name, res->name,
				 res->name);
	}
	err[0] = '\0';
done:
	lab_down(l);
	programs_free(pg, o->keep);
	plan_free(p);
	return rc;
}

int scenario_run_topo(const struct topo *t, const char *name, const struct scenario_opts *o,
		      struct result *res)
{
	char err[1024] = "";
	mtime_ms start = mtime_now();
	int rc;

	memset(res, 0, sizeof(*res));
	res->name = strdup(name);
	res->file = t->path ? strdup(t->path) : NULL;
	res->actual = RESULT_ERROR;
	res->verdict = VERDICT_ERROR;
	rc = run_topo(t, o, res, err, sizeof(err));
	if (rc < 0 && !res->error)
		res->error = strdup(err[0] ? err : strerror(-rc));
	if (res->error)
		res->verdict = VERDICT_ERROR;
	res->seconds = (double)(mtime_now() - start) / 1000.0;
	return rc < 0 ? rc : 0;
}

int scenario_run(const char *path, const struct scenario_opts *o, struct result *res)
{
	struct topo *t = NULL;
	char err[1024], *name = scenario_name(path);
	int rc;

	rc = topo_parse_file(path, &t, err, sizeof(err));
	if (rc == 0) {
		rc = scenario_run_topo(t, name ? name : path, o, res);
	} else {
		memset(res, 0, sizeof(*res));
		result_set_error(res, name ? name : path, path, err);
	}
	free(name);
	topo_free(t);
	return rc;
}
