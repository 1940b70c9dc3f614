#include "scenario.h"

#include <errno.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/argv.h"
#include "common/log.h"
#include "common/mtime.h"
#include "model/outcome.h"
#include "model/iniread.h"
#include "kernel/build.h"
#include "kernel/capture.h"
#include "kernel/ct.h"
#include "kernel/nft.h"
#include "kernel/netns.h"
#include "model/plan.h"
#include "client/predict.h"
#include "proto/wire.h"
#include "kernel/run.h"
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
	if (t->programs.server || t->programs.client)
		return "[programs]: running other programs under test is not implemented yet";
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
	argv_add(a, "--timeout");
	argv_add(a, "%ums", t->timeout_ms - t->peers[k].start_delay_ms);
	argv_add(a, "--punch-timeout");
	argv_add(a, "%ums", t->punch_timeout_ms);
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

/* Evidence from the network itself, counted on the internet's bridge: UDP
 * between the peers' public addresses (a direct path that crossed the
 * internet) and RELAY messages to and from the server (type byte 48 at
 * offset 3 of the UDP payload, see wire.h). Counted as frames enter the
 * bridge, so routed and bridged traffic both count once. With ipv6 = yes
 * the pair runs over IPv6, and the same counters match IPv6 headers. */
static char *evidence_ruleset(const struct topo *t, const struct plan *p)
{
	const char *fam = t->ipv6 ? "ip6" : "ip", *a = peer_public_ip(t, &p->peers[0]),
		   *b = peer_public_ip(t, &p->peers[1]), *srv = server_ip(t, p);
	/* A direct path is of the pair's transport; the relay is UDP for both.
	 * For TCP only what flows on a connection counts: neither a SYN that
	 * may have been dropped nor the RST a NAT answers one with. */
	const char *proto = t->tcp ? "tcp flags & (syn | rst) == 0" : "meta l4proto udp";
	char *text = NULL;

	if (asprintf(&text,
		     "# punchlab: what crosses the internet, to check what the programs claim\n"
		     "table bridge punchlab {\n"
		     "\tcounter direct_ab { }\n\tcounter direct_ba { }\n"
		     "\tcounter relay_up { }\n\tcounter relay_down { }\n"
		     "\tchain prerouting {\n"
		     "\t\ttype filter hook prerouting priority 0; policy accept;\n"
		     "\t\t%s saddr %s %s daddr %s %s counter name direct_ab\n"
		     "\t\t%s saddr %s %s daddr %s %s counter name direct_ba\n"
		     "\t\t%s daddr %s udp dport %u @th,88,8 48 counter name relay_up\n"
		     "\t\t%s saddr %s udp sport %u @th,88,8 48 counter name relay_down\n"
		     "\t}\n}\n",
		     fam, a, fam, b, proto, fam, b, fam, a, proto, fam, srv, p->server_port, fam, srv, p->server_port) < 0)
		return NULL;
	return text;
}

/* Do the peers' direct packets have to cross the internet? Not when they
 * share a router (same LAN, hairpinning, a carrier NAT). */
static bool direct_crosses_internet(const struct topo *t)
{
	for (int a = t->peers[0].behind, ga = 0; a >= 0 && ga <= t->n_nats; a = t->nats[a].uplink, ga++)
		for (int b = t->peers[1].behind, gb = 0; b >= 0 && gb <= t->n_nats; b = t->nats[b].uplink, gb++)
			if (a == b)
				return false;
	return true;
}

/* Does the network agree with what both clients said? NULL if it does, else why not. */
static char *evidence_check(const struct topo *t, struct lab *l, const char *claim)
{
	static const char *const names[] = { "direct_ab", "direct_ba", "relay_up", "relay_down" };
	uint64_t pk[4] = { 0 }, bytes;

	for (int k = 0; k < 4; k++) {
		int rc = nft_counter(lab_ns(l, 0), "bridge", "punchlab", names[k], &pk[k], &bytes);

		if (rc < 0)
			return xasprintf("reading counter %s on the internet: %s", names[k], strerror(-rc));
	}
	if (strcmp(claim, "direct") == 0 && direct_crosses_internet(t) && (pk[0] == 0 || pk[1] == 0))
		return xasprintf("both report direct, but the internet carried %" PRIu64 " and %" PRIu64
				 " %s packets between their public addresses",
				 pk[0], pk[1], t->tcp ? "TCP (on a connection)" : "UDP");
	if (strcmp(claim, "relayed") == 0 && (pk[2] == 0 || pk[3] == 0))
		return xasprintf("both report relayed, but the internet carried %" PRIu64 " RELAY messages to the "
				 "server and %" PRIu64 " from it",
				 pk[2], pk[3]);
	return NULL;
}

static int run_pair(const struct topo *t, const struct plan *p, struct lab *l, const struct scenario_opts *o,
		    struct result *res, const char *why)
{
	struct run_group *g = NULL;
	struct run_proc *srv = NULL, *cli[2] = { NULL, NULL };
	struct argv_buf a;
	char session[WIRE_SESSION_MAX + 1];
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
		run_set_background(srv, true);
		rc = run_start(g, srv);
		if (rc >= 0)
			rc = run_release(g);
		if (rc >= 0)
			rc = run_wait_ready(g, srv, mtime_now() + READY_MS);
		if (rc < 0) {
			char how[256];

			res->error = xasprintf("punch-server did not become ready: %s (%s)\n%s", strerror(-rc),
					       run_describe(srv, how, sizeof(how)), run_result(srv)->err);
			goto cleanup;
		}
	}
	/* The session name: the scenario's, in the protocol's alphabet (wire.h). */
	snprintf(session, sizeof(session), "%s", res->name);
	for (char *c = session; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '.' ||
		      *c == '_' || *c == '-'))
			*c = '.';
	for (int k = 0; k < 2; k++) {
		argv_init(&a);
		client_argv(&a, o, t, p, k, session);
		rc = a.overflow ? -E2BIG : run_add(g, t->peers[k].name, netns_fd(lab_ns(l, p->peers[k].node)), a.v, &cli[k]);
		if (rc < 0)
			goto cleanup;
		if (t->peers[k].start_delay_ms)
			continue; /* forked at its time, below */
		rc = run_start(g, cli[k]);
		if (rc < 0)
			goto cleanup;
	}
	/* Both clients start at the same instant: the barrier. */
	rc = run_release(g);
	if (rc < 0)
		goto cleanup;
	t0 = mtime_now();
	/* start-delay: the other client runs meanwhile; the sooner one first. */
	for (int i = 0; i < 2; i++) {
		int k = t->peers[0].start_delay_ms > t->peers[1].start_delay_ms ? 1 - i : i;

		if (!t->peers[k].start_delay_ms)
			continue;
		rc = run_wait_until(g, t0 + t->peers[k].start_delay_ms);
		if (rc >= 0)
			rc = run_start(g, cli[k]);
		if (rc >= 0)
			rc = run_release(g);
		if (rc < 0)
			goto cleanup;
	}
	rc = run_wait(g, t0 + t->timeout_ms + GRACE_MS);
	if (rc < 0)
		goto cleanup;
	if (srv)
		run_stop(g, srv);
	for (int k = 0; k < 2; k++)
		peer_result(&res->peers[k], t->peers[k].name, cli[k]);

	/* The verdict: both sides must report the expected outcome. */
	res->actual = res->peers[0].outcome == res->peers[1].outcome ? res->peers[0].outcome : RESULT_MIXED;
	res->verdict = res->actual == result_outcome_of(res->expected) ? VERDICT_PASS : VERDICT_FAIL;
	if (res->verdict != VERDICT_PASS) {
		res->detail = mismatch_detail(res, cli, why);
	} else {
		char *disagree = evidence_check(t, l, result_outcome_name(res->actual));

		/* A verdict counts only if the network produced it. */
		if (disagree) {
			res->verdict = VERDICT_FAIL;
			res->actual = RESULT_UNPROVEN;
			res->detail = disagree;
		}
	}
	rc = 0;
cleanup:
	if (rc < 0 && !res->error)
		res->error = xasprintf("running the programs: %s", strerror(-rc));
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

/* run_pair, with --pcap captured from before the programs start until after
 * they end; with --pcap-on-failure the capture of a verdict as expected goes. */
static int capture_pair(const struct topo *t, const struct plan *p, struct lab *l, const struct scenario_opts *o,
			struct result *res, const char *why, char *err, size_t errsize)
{
	struct capture *cap = NULL;
	struct capture_stats st;
	int rc, crc;

	if (!o->pcap_dir)
		return run_pair(t, p, l, o, res, why);
	rc = capture_start(l, p, o->pcap_dir, res->name, o->pcap_cap ? o->pcap_cap : CAPTURE_CAP_DEFAULT, &cap, err,
			   errsize);
	if (rc < 0)
		return rc;
	rc = run_pair(t, p, l, o, res, why);
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
 * mappings as the kernel made them ("ROUTER: ENTRY" lines), or NULL. */
static char *routers_conntrack(const struct plan *p, struct lab *l)
{
	char *text = NULL, *ct, *save = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&text, &len);

	if (!m)
		return NULL;
	for (int i = 0; i < p->n_nodes; i++) {
		if (p->nodes[i].kind != PLAN_ROUTER || ct_dump_udp(lab_ns(l, i), &ct) < 0)
			continue;
		for (char *line = strtok_r(ct, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
			fprintf(m, "%s: %s\n", p->nodes[i].name, line);
		free(ct);
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
	{
		char *ev = evidence_ruleset(t, p), *nfterr = NULL;

		rc = ev ? nft_load(lab_ns(l, 0), ev, &nfterr) : -ENOMEM;
		if (rc < 0)
			snprintf(err, errsize, "inet: loading the evidence counters: %s",
				 nfterr ? nfterr : strerror(-rc));
		free(ev);
		free(nfterr);
		if (rc < 0)
			goto done;
	}
	rc = capture_pair(t, p, l, o, res, why, err, errsize);
	res->conntrack = routers_conntrack(p, l);
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
