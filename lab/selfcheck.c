/* The self-check: punch-probe against every router before a scenario. See selfcheck.h. */
#include "selfcheck.h"

#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/argv.h"
#include "common/log.h"
#include "common/mtime.h"
#include "kernel/build.h"
#include "model/nat.h"
#include "kernel/netns.h"
#include "kernel/nft.h"
#include "kernel/run.h"

#define READY_MS 5000
/* A classification asks its questions one after the other; the slowest waits
 * out SELFCHECK_ABSENT_MS for each of a few absent answers. */
#define CLASSIFY_LIMIT_MS (24 * SELFCHECK_ABSENT_MS)
/* A knock's longest: its long wait on a lossy lab, and a start. */
#define KNOCK_LIMIT_MS (2 * SELFCHECK_ABSENT_MS + READY_MS)

int selfcheck_expect_args(const struct topo_nat *nat, const char *out[9])
{
	const struct nat_behavior *b = &nat->behavior;
	int n = 0;

	out[n++] = "--expect-mapping";
	out[n++] = nat_mapping_name(nat->nat ? b->mapping : MAP_NONE);
	out[n++] = "--expect-filtering";
	out[n++] = nat_filtering_name(b->filtering);
	out[n++] = "--expect-ports";
	out[n++] = nat_ports_name(nat->nat ? b->ports : PORTS_PRESERVE);
	out[n++] = "--expect-hairpin";
	out[n++] = b->hairpin ? "yes" : "no";
	if (b->udp_blocked)
		out[n++] = "--expect-udp-blocked";
	return n;
}

void selfcheck_describe_declared(const struct topo_nat *nat, char *buf, size_t size)
{
	const struct nat_behavior *b = &nat->behavior;
	const char *icmp = b->icmp_unreachable ? " unsolicited=icmp-unreachable" : "";

	if (b->udp_blocked)
		snprintf(buf, size, "udp-blocked%s", icmp);
	else if (!nat->nat)
		snprintf(buf, size, "firewall %s%s", nat_filtering_name(b->filtering), icmp);
	else
		snprintf(buf, size, "%s %s %s hairpin=%s%s", nat_mapping_name(b->mapping),
			 nat_filtering_name(b->filtering), nat_ports_name(b->ports), b->hairpin ? "yes" : "no", icmp);
}

void selfcheck_declared(const struct topo_nat *nat, struct result_behavior *out)
{
	const struct nat_behavior *b = &nat->behavior;

	*out = (struct result_behavior){ .nat = nat->nat, .udp_blocked = b->udp_blocked,
					 .mapping = nat->nat ? (int)b->mapping : MAP_NONE,
					 .filtering = (int)b->filtering,
					 .ports = nat->nat ? (int)b->ports : PORTS_PRESERVE, .hairpin = b->hairpin };
}

static const char *jstr(json_object *o, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static int jbool(json_object *o, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_boolean))
		return -1;
	return json_object_get_boolean(v);
}

int selfcheck_read_report(const char *json, struct selfcheck_nat *e)
{
	json_object *o = json ? json_tokener_parse(json) : NULL, *mis;
	const char *mapping, *filtering, *ports, *hairpin;
	int blocked, nat, match, rc = -EBADMSG;
	size_t len = 0;

	e->observed[0] = e->differs[0] = '\0';
	if (!o || !json_object_is_type(o, json_type_object))
		goto cleanup;
	mapping = jstr(o, "mapping");
	filtering = jstr(o, "filtering");
	ports = jstr(o, "ports");
	hairpin = jstr(o, "hairpin");
	blocked = jbool(o, "udp_blocked");
	nat = jbool(o, "nat");
	match = jbool(o, "match");
	if (!mapping || !filtering || !ports || !hairpin || blocked < 0 || nat < 0 || match < 0 ||
	    !json_object_object_get_ex(o, "mismatches", &mis) || !json_object_is_type(mis, json_type_array))
		goto cleanup;
	e->observed_b = (struct result_behavior){ .nat = nat, .udp_blocked = blocked,
						  .mapping = nat_mapping_parse(mapping),
						  .filtering = nat_filtering_parse(filtering),
						  .ports = nat_ports_parse(ports),
						  .hairpin = strcmp(hairpin, "yes") == 0 ? 1 : strcmp(hairpin, "no") == 0 ? 0 : -1 };
	if (blocked)
		snprintf(e->observed, sizeof(e->observed), "udp-blocked");
	else if (!nat)
		snprintf(e->observed, sizeof(e->observed), "firewall %s", filtering);
	else
		snprintf(e->observed, sizeof(e->observed), "%s %s %s hairpin=%s", mapping, filtering, ports, hairpin);
	for (size_t i = 0; i < json_object_array_length(mis); i++) {
		json_object *d = json_object_array_get_idx(mis, i);
		const char *prop = jstr(d, "property"), *dec = jstr(d, "declared"), *obs = jstr(d, "observed");
		int w;

		if (!prop || !dec || !obs)
			goto cleanup;
		w = snprintf(e->differs + len, sizeof(e->differs) - len, "%s%s declared %s, observed %s",
			     len ? "; " : "", prop, dec, obs);
		if (w < 0 || (size_t)w >= sizeof(e->differs) - len) {
			e->differs[len] = '\0'; /* whole entries only: the report has the rest */
			break;
		}
		len += (size_t)w;
	}
	/* "match" and the list must agree, or this is not punch-probe talking */
	if ((match != 0) != (json_object_array_length(mis) == 0))
		goto cleanup;
	e->match = match;
	e->observed_valid = true;
	rc = 0;
cleanup:
	if (rc < 0)
		snprintf(e->why, sizeof(e->why), "punch-probe's report is not what it documents: %.180s",
			 json ? json : "(nothing)");
	json_object_put(o);
	return rc;
}

bool selfcheck_fast_proven(const char *json, uint64_t dropped)
{
	json_object *o = json ? json_tokener_parse(json) : NULL, *v, *ob, *hp;
	bool ok = false;
	int blocked, refused;
	int64_t absent;

	if (!o || !json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, "absent_requests", &v) || !json_object_is_type(v, json_type_int))
		goto cleanup;
	absent = json_object_get_int64(v);
	blocked = jbool(o, "udp_blocked");
	refused = jbool(o, "hairpin_refused");
	if (absent < 0 || blocked < 0 || refused < 0 || (uint64_t)absent != dropped)
		goto cleanup;
	/* Unless UDP is blocked (then the hairpin is never tried), the hairpin
	 * packet came back hairpinned or was refused by the router's own stack:
	 * no drop counter sees it, so the ICMP error is its evidence. */
	if (!blocked && !refused &&
	    !(json_object_object_get_ex(o, "observations", &ob) && json_object_object_get_ex(ob, "hairpin", &hp) &&
	      json_object_is_type(hp, json_type_string) && strcmp(json_object_get_string(hp), "yes") == 0))
		goto cleanup;
	ok = true;
cleanup:
	json_object_put(o);
	return ok;
}

int selfcheck_read_knock(const char *json, enum selfcheck_unsolicited *out, int *sent)
{
	json_object *o = json ? json_tokener_parse(json) : NULL, *v;
	const char *a = o && json_object_is_type(o, json_type_object) ? jstr(o, "answer") : NULL;
	int rc = 0;

	if (a && strcmp(a, "silent") == 0)
		*out = SELFCHECK_UNSOL_DROP;
	else if (a && strcmp(a, "refused") == 0)
		*out = SELFCHECK_UNSOL_ICMP;
	else if (a && strcmp(a, "answered") == 0)
		*out = SELFCHECK_UNSOL_ANSWERED;
	else if (a && strcmp(a, "reset") == 0)
		*out = SELFCHECK_UNSOL_RST;
	else
		rc = -EBADMSG;
	if (rc == 0 && (!json_object_object_get_ex(o, "sent", &v) || !json_object_is_type(v, json_type_int) ||
			json_object_get_int64(v) < 0 || json_object_get_int64(v) > 1000))
		rc = -EBADMSG;
	if (rc == 0)
		*sent = (int)json_object_get_int64(v);
	json_object_put(o);
	return rc;
}

enum selfcheck_knock_next selfcheck_knock_next(enum selfcheck_unsolicited seen, bool declared_icmp)
{
	if (seen != SELFCHECK_UNSOL_DROP)
		return SELFCHECK_KNOCK_FINAL;
	return declared_icmp ? SELFCHECK_KNOCK_AGAIN : SELFCHECK_KNOCK_COUNTS;
}

static const char *unsolicited_word(enum selfcheck_unsolicited u)
{
	return u == SELFCHECK_UNSOL_ICMP ? "icmp-unreachable" : u == SELFCHECK_UNSOL_ANSWERED ? "answered"
		: u == SELFCHECK_UNSOL_RST ? "rst" : "drop";
}

void selfcheck_note_unsolicited(struct selfcheck_nat *e, bool declared_icmp, enum selfcheck_unsolicited seen)
{
	enum selfcheck_unsolicited want = declared_icmp ? SELFCHECK_UNSOL_ICMP : SELFCHECK_UNSOL_DROP;
	size_t len = strlen(e->observed), dl = strlen(e->differs);

	e->unsolicited = (int)seen;
	if (seen != SELFCHECK_UNSOL_DROP)
		snprintf(e->observed + len, sizeof(e->observed) - len, " unsolicited=%s", unsolicited_word(seen));
	if (seen == want)
		return;
	e->match = false;
	snprintf(e->differs + dl, sizeof(e->differs) - dl, "%sunsolicited declared %s, observed %s", dl ? "; " : "",
		 unsolicited_word(want), unsolicited_word(seen));
}

bool selfcheck_tcp_wanted(const struct topo_nat *nat, bool tcp)
{
	const struct nat_behavior *b = &nat->behavior;

	return tcp || b->tcp_mapping_own || b->tcp_filtering_own || b->tcp_unsolicited != TCP_UNSOL_DROP;
}

enum selfcheck_knock_next selfcheck_tcp_knock_next(enum selfcheck_unsolicited seen, int declared, uint64_t counted)
{
	if (seen != SELFCHECK_UNSOL_DROP)
		return SELFCHECK_KNOCK_FINAL;
	/* Silence: the SYN met the router's rule, and that rule drops (a
	 * rejecting rule's answer may only be late). */
	return declared == TCP_UNSOL_DROP && counted >= 1 ? SELFCHECK_KNOCK_FINAL : SELFCHECK_KNOCK_AGAIN;
}

/* The words of the TCP knock's answers, as tcp-unsolicited spells them. */
static const char *tcp_word(enum selfcheck_unsolicited u)
{
	return u == SELFCHECK_UNSOL_ICMP ? "icmp" : u == SELFCHECK_UNSOL_RST ? "rst"
		: u == SELFCHECK_UNSOL_ANSWERED ? "answered" : "drop";
}

void selfcheck_note_tcp_unsolicited(struct selfcheck_nat *e, int declared, enum selfcheck_unsolicited seen)
{
	enum selfcheck_unsolicited want = declared == TCP_UNSOL_RST ? SELFCHECK_UNSOL_RST
					  : declared == TCP_UNSOL_ICMP ? SELFCHECK_UNSOL_ICMP : SELFCHECK_UNSOL_DROP;
	size_t len = strlen(e->observed), dl = strlen(e->differs), cl = strlen(e->declared);
	const char *dsep = strstr(e->declared, " tcp=") ? "/" : " tcp=", *osep = strstr(e->observed, " tcp=") ? "/" : " tcp=";

	e->tcp_unsolicited = (int)seen;
	snprintf(e->declared + cl, sizeof(e->declared) - cl, "%s%s", dsep, tcp_word(want));
	snprintf(e->observed + len, sizeof(e->observed) - len, "%s%s", osep, tcp_word(seen));
	if (seen == want)
		return;
	e->match = false;
	snprintf(e->differs + dl, sizeof(e->differs) - dl, "%stcp-unsolicited declared %s, observed %s",
		 dl ? "; " : "", tcp_word(want), tcp_word(seen));
}

int selfcheck_read_tcp_report(const char *json, const char *declared, struct selfcheck_nat *e, int *absent)
{
	json_object *o = json ? json_tokener_parse(json) : NULL, *mis, *v;
	const char *mapping = NULL, *filtering = NULL, *tr;
	int nat = -1, match = -1, rc = -EBADMSG;
	size_t len = strlen(e->differs), ol = strlen(e->observed), cl = strlen(e->declared);

	if (!o || !json_object_is_type(o, json_type_object))
		goto cleanup;
	tr = jstr(o, "transport");
	mapping = jstr(o, "mapping");
	filtering = jstr(o, "filtering");
	nat = jbool(o, "nat");
	match = jbool(o, "match");
	if (!tr || strcmp(tr, "tcp") != 0 || !mapping || !filtering || nat < 0 || match < 0 ||
	    (nat_mapping_parse(mapping) < 0 && strcmp(mapping, "unknown") != 0) ||
	    (nat_filtering_parse(filtering) < 0 && strcmp(filtering, "unknown") != 0) ||
	    !json_object_object_get_ex(o, "absent_backs", &v) || !json_object_is_type(v, json_type_int) ||
	    json_object_get_int64(v) < 0 || json_object_get_int64(v) > 2 ||
	    !json_object_object_get_ex(o, "mismatches", &mis) || !json_object_is_type(mis, json_type_array) ||
	    (match != 0) != (json_object_array_length(mis) == 0))
		goto cleanup;
	for (size_t i = 0; i < json_object_array_length(mis); i++) {
		json_object *d = json_object_array_get_idx(mis, i);

		if (!jstr(d, "property") || !jstr(d, "declared") || !jstr(d, "observed"))
			goto cleanup;
	}
	for (size_t i = 0; i < json_object_array_length(mis); i++) {
		json_object *d = json_object_array_get_idx(mis, i);
		int w = snprintf(e->differs + len, sizeof(e->differs) - len, "%s%s declared %s, observed %s",
				 len ? "; " : "", jstr(d, "property"), jstr(d, "declared"), jstr(d, "observed"));

		if (w < 0 || (size_t)w >= sizeof(e->differs) - len) {
			e->differs[len] = '\0'; /* whole entries only */
			break;
		}
		len += (size_t)w;
	}
	*absent = (int)json_object_get_int64(v);
	e->tcp_valid = true;
	e->tcp_mapping = nat_mapping_parse(mapping);
	e->tcp_filtering = nat_filtering_parse(filtering);
	if (!match)
		e->match = false;
	snprintf(e->declared + cl, sizeof(e->declared) - cl, " tcp=%s", declared);
	if (strcmp(mapping, "none") == 0)
		snprintf(e->observed + ol, sizeof(e->observed) - ol, " tcp=%s", filtering);
	else
		snprintf(e->observed + ol, sizeof(e->observed) - ol, " tcp=%s/%s", mapping, filtering);
	rc = 0;
cleanup:
	if (rc < 0)
		snprintf(e->why, sizeof(e->why), "punch-probe tcp-classify's report is not what it documents: %.160s",
			 json ? json : "(nothing)");
	json_object_put(o);
	return rc;
}

/* Where the probe server for router i runs: node and two addresses of the
 * family. -1 when the router above has no probe host. */
static int server_for(const struct topo *t, const struct plan *p, int i, int family, const char **ip,
		      const char **ip2)
{
	int up = t->nats[i].uplink, node = up < 0 ? p->server_node : plan_probe_node(p, up);

	if (node < 0)
		return -1;
	*ip = family == 6 ? p->nodes[node].ip6 : p->nodes[node].ip;
	*ip2 = family == 6 ? p->nodes[node].ip2_6 : p->nodes[node].ip2;
	return node;
}

static char *xstrdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* One self-check in progress: what its steps share. */
struct sc_run {
	const struct topo *t;
	const struct plan *p;
	struct lab *l;
	const char *bindir;
	bool verbose;
	struct selfcheck *sc;
	struct run_group *g;
	struct run_proc **srv;  /* [2 * node + (IPv6)]: the probe servers */
	struct run_proc **cls;  /* [entry]: the classifiers */
	struct run_proc **knk;  /* [entry]: the knocks (UDP, then TCP), beside a classifier of the slow */
	bool *early;            /* [entry]: classified with the long wait beside the first knocks */
	bool *slow;             /* [entry]: classify with the long waits (no evidence to end them early) */
	bool *pending;          /* [entry]: to classify in the next round */
	bool long_wait;         /* no short wait at all (selfcheck_run_wait()) */
	int *seen;              /* [entry]: enum selfcheck_unsolicited the knock showed, or -1 */
	uint64_t *knock_drops;  /* [entry]: of the router's udp_dropped_in, the knocks' (until a reset) */
	bool *kpend, *kslow;    /* [entry]: to knock in the next round; with the long wait */
	bool *kcounts;          /* [entry]: a short knock's silence, proven with the classifier's counts */
	char (*knock_why)[256]; /* [entry]: why the knock failed, or "" */
	bool *tpend, *tslow;    /* [entry]: to knock with a TCP SYN in the next round; with the long wait */
	uint64_t *tcount;       /* [entry]: the router's tcp_unsolicited_in before the short TCP knock */
	bool any_tcp;           /* some router's TCP is in question: the probe servers serve TCP too */
	char *err;
	size_t errsize;
};

static void probe_server_argv(struct argv_buf *a, const struct sc_run *c, const char *ip, const char *ip2)
{
	argv_init(a);
	argv_add(a, "%s/punch-probe", c->bindir);
	argv_add(a, "server");
	argv_add(a, "--listen");
	argv_add(a, "%s", ip);
	argv_add(a, "--listen2");
	argv_add(a, "%s", ip2);
	argv_add(a, "--port");
	argv_add(a, "%u", SELFCHECK_PORT);
	argv_add(a, "--port2");
	argv_add(a, "%u", SELFCHECK_PORT2);
	argv_add(a, "--ready-fd");
	argv_add(a, "3");
	if (c->any_tcp)
		argv_add(a, "--tcp");
	argv_add(a, c->verbose ? "-v" : "-q");
}

/* Entry k: which router and family, what it declares, whether it can be
 * classified (else why not). Returns the probe server's node, or -1. */
static int entry_init(struct sc_run *c, int k, const char **ip, const char **ip2)
{
	const struct topo *t = c->t;
	struct selfcheck_nat *e = &c->sc->nats[k];
	int i = k % t->n_nats, fam = k < t->n_nats ? 4 : 6, node = server_for(t, c->p, i, fam, ip, ip2);

	e->nat = i;
	e->family = fam;
	e->unsolicited = e->tcp_unsolicited = e->tcp_mapping = e->tcp_filtering = -1;
	selfcheck_describe_declared(&t->nats[i], e->declared, sizeof(e->declared));
	selfcheck_declared(&t->nats[i], &e->declared_b);
	if (t->nats[i].unchecked) {
		snprintf(e->why, sizeof(e->why), "self-check = no in the file");
		return -1;
	}
	if (plan_probe_node(c->p, i) < 0 || node < 0) {
		snprintf(e->why, sizeof(e->why), "no room for a probe host on the LAN of %s",
			 plan_probe_node(c->p, i) < 0 ? t->nats[i].name : t->nats[t->nats[i].uplink].name);
		return -1;
	}
	e->checked = true;
	return node;
}

/* Probe servers first: one per node that some router needs outside it. */
static int start_servers(struct sc_run *c)
{
	struct argv_buf a;
	int rc;

	for (int k = 0; k < c->sc->n; k++) {
		const char *ip = "", *ip2 = "";
		int node = entry_init(c, k, &ip, &ip2);
		struct run_proc **sp;

		if (node < 0)
			continue;
		sp = &c->srv[2 * node + (c->sc->nats[k].family == 6)];
		if (*sp)
			continue;
		probe_server_argv(&a, c, ip, ip2);
		rc = a.overflow ? -E2BIG : run_add(c->g, c->p->nodes[node].name, netns_fd(lab_ns(c->l, node)), a.v, sp);
		if (rc == 0)
			rc = run_set_ready_fd(*sp, 3);
		if (rc == 0) {
			run_set_background(*sp, true);
			rc = run_start(c->g, *sp);
		}
		if (rc < 0) {
			snprintf(c->err, c->errsize, "self-check: starting the probe server on %s: %s",
				 c->p->nodes[node].name, strerror(-rc));
			return rc;
		}
	}
	return 0;
}

static int wait_servers(struct sc_run *c)
{
	int rc = run_release(c->g);

	for (int s = 0; rc >= 0 && s < 2 * c->p->n_nodes; s++) {
		if (!c->srv[s])
			continue;
		rc = run_wait_ready(c->g, c->srv[s], mtime_now() + READY_MS);
		if (rc < 0) {
			char how[256];

			snprintf(c->err, c->errsize, "self-check: the probe server on %s did not become ready: %s (%s) %s",
				 c->p->nodes[s / 2].name, strerror(-rc), run_describe(c->srv[s], how, sizeof(how)),
				 run_result(c->srv[s])->err);
			return rc;
		}
	}
	if (rc < 0)
		snprintf(c->err, c->errsize, "self-check: %s", strerror(-rc));
	return rc < 0 ? rc : 0;
}

/* The declared behaviour as --expect-* options: over IPv6 a dual-stack NAT
 * is a firewall with its filtering; over IPv4 a NAT's inbound-reply rule and
 * port allocation are observed too. */
static void classifier_expect_argv(struct argv_buf *a, const struct topo_nat *nat, int fam)
{
	const struct nat_behavior *b = &nat->behavior;
	struct topo_nat as6 = *nat;
	const char *exp[9];
	int n;

	if (fam == 6 && as6.nat) {
		as6.nat = false;
		as6.behavior.mapping = MAP_NONE;
		as6.behavior.ports = PORTS_PRESERVE;
	}
	n = selfcheck_expect_args(fam == 6 ? &as6 : nat, exp);
	for (int x = 0; x < n; x++)
		argv_add(a, "%s", exp[x]);
	if (!nat->nat || fam == 6)
		return;
	argv_add(a, "--expect-inbound-reply");
	argv_add(a, "%s", nat_inbound_reply_name(b->inbound_reply));
	if (b->port_step) {
		argv_add(a, "--expect-port-step");
		argv_add(a, "%u", b->port_step);
	}
	if (b->ports == PORTS_BLOCK && b->block_size) {
		argv_add(a, "--expect-block-size");
		argv_add(a, "%u", b->block_size);
	}
	if (b->port_min) {
		argv_add(a, "--expect-port-range");
		argv_add(a, "%u-%u", b->port_min, b->port_max);
	}
}

/* The start of a classifier's argv for entry k: punch-probe MODE against
 * the probe servers above its router, bound at its probe host. Returns the
 * probe host. */
static const struct plan_node *probe_client_argv(struct argv_buf *a, const struct sc_run *c, int k,
						 const char *mode)
{
	const struct selfcheck_nat *e = &c->sc->nats[k];
	const struct plan_node *probe = &c->p->nodes[plan_probe_node(c->p, e->nat)];
	const char *ip = "", *ip2 = "";

	server_for(c->t, c->p, e->nat, e->family, &ip, &ip2);
	argv_init(a);
	argv_add(a, "%s/punch-probe", c->bindir);
	argv_add(a, "%s", mode);
	argv_add(a, "--server");
	argv_add(a, "%s", ip);
	argv_add(a, "--server2");
	argv_add(a, "%s", ip2);
	argv_add(a, "--port");
	argv_add(a, "%u", SELFCHECK_PORT);
	argv_add(a, "--port2");
	argv_add(a, "%u", SELFCHECK_PORT2);
	argv_add(a, "--bind");
	argv_add(a, "%s", e->family == 6 ? probe->ip6 : probe->ip);
	return probe;
}

static void classifier_argv(struct argv_buf *a, const struct sc_run *c, int k, bool lossy, bool slow)
{
	int i = c->sc->nats[k].nat, fam = c->sc->nats[k].family;
	const struct plan_node *probe = probe_client_argv(a, c, k, "classify");

	argv_add(a, "--hairpin-bind");
	argv_add(a, "%s", fam == 6 ? probe->ip2_6 : probe->ip2);
	argv_add(a, "--local-port");
	argv_add(a, "%u", SELFCHECK_LOCAL_PORT);
	/* On a lossy lab, twice the wait and the requests: all of 5 round trips
	 * lost at 2% each way is 1e-7 per question, all of 10 is 1e-14. The
	 * short wait is only a first try: what it finds absent must be proven
	 * dropped by the router's counters (evidence_proven()). */
	argv_add(a, "--timeout-ms");
	argv_add(a, "%u", !slow ? SELFCHECK_FAST_MS : lossy ? 2 * SELFCHECK_ABSENT_MS : SELFCHECK_ABSENT_MS);
	argv_add(a, "--tries");
	argv_add(a, "%d", !slow ? SELFCHECK_FAST_TRIES : lossy ? 10 : 5);
	classifier_expect_argv(a, &c->t->nats[i], fam);
	if (c->verbose)
		argv_add(a, "-v");
}

/* Start argv a in node's namespace into *slot, held at the barrier until
 * the next release_wait(); on failure c->err says starting what, where. */
static int start_probe(struct sc_run *c, int node, const struct argv_buf *a, struct run_proc **slot,
		       const char *what)
{
	int rc = a->overflow ? -E2BIG : run_add(c->g, c->p->nodes[node].name, netns_fd(lab_ns(c->l, node)), a->v, slot);

	if (rc == 0)
		rc = run_start(c->g, *slot);
	if (rc < 0)
		snprintf(c->err, c->errsize, "self-check: starting the %s on %s: %s", what, c->p->nodes[node].name,
			 strerror(-rc));
	return rc;
}

/* Release the started probes and wait, at most limit_ms, until all have
 * ended; on failure c->err says waiting for what. */
static int release_wait(struct sc_run *c, mtime_ms limit_ms, const char *what)
{
	int rc = run_release(c->g);

	if (rc >= 0)
		rc = run_wait(c->g, mtime_now() + limit_ms);
	if (rc < 0) {
		snprintf(c->err, c->errsize, "self-check: waiting for the %s: %s", what, strerror(-rc));
		return rc;
	}
	return 0;
}

/* Is some node of the lab losing packets? Then every probe waits longer. */
static bool lab_lossy(const struct sc_run *c)
{
	for (int node = 0; node < c->p->n_nodes; node++)
		if (c->p->nodes[node].impair.loss_ppm)
			return true;
	return false;
}

/* Start every pending classifier (c->pending, with c->slow's wait); they
 * hold at the barrier until the next release_wait(). */
static int start_classifiers(struct sc_run *c)
{
	struct argv_buf a;
	bool lossy = lab_lossy(c);
	int rc;

	for (int k = 0; k < c->sc->n; k++) {
		int probe = plan_probe_node(c->p, c->sc->nats[k].nat);

		if (!c->pending[k])
			continue;
		classifier_argv(&a, c, k, lossy, c->slow[k]);
		rc = start_probe(c, probe, &a, &c->cls[k], "classifier");
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* Then every pending classifier at once; returns when all have ended. */
static int run_classifiers(struct sc_run *c)
{
	int rc = start_classifiers(c);

	return rc < 0 ? rc : release_wait(c, CLASSIFY_LIMIT_MS, "classifiers");
}

/* What classifier k said: its report read, or why there is none. */
static void read_classification(struct sc_run *c, int k)
{
	struct selfcheck_nat *e = &c->sc->nats[k];
	const struct run_result *r = run_result(c->cls[k]);
	char how[256];

	free(e->report);
	e->why[0] = '\0';
	e->observed_valid = e->match = false;
	e->report = r->out_len ? xstrdup(r->out) : NULL;
	if (r->exit_code != 0 && r->exit_code != 3) {
		const char *last = r->err ? r->err : "";
		size_t len = strlen(last);

		while (len && last[len - 1] == '\n')
			len--;
		snprintf(e->why, sizeof(e->why), "punch-probe %s: %.*s", run_describe(c->cls[k], how, sizeof(how)),
			 (int)(len > 160 ? 160 : len), len > 160 ? last + strlen(last) - 160 : last);
		return;
	}
	if (selfcheck_read_report(e->report, e) < 0)
		return;
	if (e->match != (r->exit_code == 0)) {
		snprintf(e->why, sizeof(e->why), "punch-probe exited %d but its report says match=%s",
			 r->exit_code, e->match ? "true" : "false");
		e->match = false;
	}
}

/* Can router entry k be classified with the short wait first? Only where
 * nothing but the router decides what arrives (no loss, no delay: an answer
 * is there at once or dropped) and the router's ruleset is the generated one,
 * whose drop counters nat.h documents. */
static bool fast_possible(const struct sc_run *c, int k)
{
	const struct topo_nat *nat = &c->t->nats[c->sc->nats[k].nat];

	for (int node = 0; node < c->p->n_nodes; node++) {
		const struct impairment *im = &c->p->nodes[node].impair;

		if (im->loss_ppm || im->delay_ms || im->jitter_ms)
			return false;
	}
	return !nat->rules_file;
}

/* Does the router's own count of dropped UDP account for every request the
 * short-wait classifier k left unanswered (selfcheck_fast_proven())? */
static bool evidence_proven(struct sc_run *c, int k)
{
	const struct selfcheck_nat *e = &c->sc->nats[k];
	static const char *const names[] = { "udp_dropped_in", "udp_dropped_out" };
	struct netns *ns = lab_ns(c->l, plan_nat_node(c->p, e->nat));
	uint64_t dropped = 0;

	if (e->why[0] || !e->report)
		return false;
	for (int x = 0; x < 2; x++) {
		uint64_t pk, bytes;

		if (nft_counter(ns, e->family == 6 ? "ip6" : "ip", "punchlab", names[x], &pk, &bytes) < 0)
			return false;
		dropped += pk;
	}
	/* The knocks went before the classifier: their datagrams are not its
	 * drops. Leaving out what they sent, the counts prove a silent knock
	 * as well (knock_end(): every datagram it sent was dropped). */
	dropped = dropped >= c->knock_drops[k] ? dropped - c->knock_drops[k] : 0;
	log_debug("self-check: router %s%s: %" PRIu64 " UDP packets dropped", c->t->nats[e->nat].name,
		  e->family == 6 ? " over IPv6" : "", dropped);
	return selfcheck_fast_proven(e->report, dropped);
}

/* A classification round: the pending classifiers, then their reports. */
static int classify_round(struct sc_run *c)
{
	int rc = run_classifiers(c);

	for (int k = 0; rc == 0 && k < c->sc->n; k++)
		if (c->pending[k])
			read_classification(c, k);
	return rc;
}

static int knock_start(struct sc_run *c);
static int knock_finish(struct sc_run *c, mtime_ms limit_ms);

/* First every router with the short wait where it can be proven; then, on
 * routers as fresh as lab_up() made them, the long wait for each router whose
 * short-wait answer the counters do not prove (a loaded machine's late
 * answer), and for those that could not try. */
static int classify_all(struct sc_run *c)
{
	bool again = false, kagain = false;
	int rc;

	for (int k = 0; k < c->sc->n; k++) {
		c->slow[k] = c->long_wait || !fast_possible(c, k);
		c->pending[k] = c->sc->nats[k].checked && !c->slow[k];
		if (c->early[k])
			read_classification(c, k);
	}
	rc = classify_round(c);
	for (int k = 0; rc == 0 && k < c->sc->n; k++) {
		bool redo = c->sc->nats[k].checked && !c->early[k] && (c->slow[k] || !evidence_proven(c, k));

		if (redo && !c->slow[k]) {
			log_debug("self-check: router %s%s: the short wait is not proven, classifying again",
				  c->t->nats[c->sc->nats[k].nat].name, c->sc->nats[k].family == 6 ? " over IPv6" : "");
			again = true;
		}
		c->slow[k] = redo;
		c->pending[k] = redo;
		/* The same counts proved a short knock's silence, or it goes
		 * again with the long wait, first on the reset router. */
		if (c->kcounts[k] && redo)
			c->kpend[k] = c->kslow[k] = kagain = true;
		c->kcounts[k] = false;
	}
	if (rc == 0 && again) {
		rc = lab_reset_routers(c->l, c->t, c->p, c->err, c->errsize);
		memset(c->knock_drops, 0, (size_t)c->sc->n * sizeof(*c->knock_drops)); /* counters reloaded */
	}
	if (rc == 0 && kagain)
		rc = knock_start(c);
	if (rc == 0 && kagain)
		rc = knock_finish(c, KNOCK_LIMIT_MS);
	if (rc == 0)
		rc = classify_round(c);
	return rc;
}

/* ---- unsolicited UDP: punch-probe knock from outside (selfcheck.h) ---- */

/* A port of the router's external address that no mapping holds: the knocks
 * go before the classifier, to routers as fresh as lab_up() made them, and
 * below the port range where there is room (no pool hands it out, and no host
 * of the lab binds it), so no mapping can answer in place of the router. */
static unsigned knock_port(const struct topo_nat *nat)
{
	unsigned lo, hi;

	nat_port_range(&nat->behavior, &lo, &hi);
	return lo > 1 ? lo - 1 : hi < 65535 ? hi + 1 : 9;
}

static void knock_argv(struct argv_buf *a, const struct sc_run *c, int k, bool lossy, bool slow, bool tcp)
{
	const struct selfcheck_nat *e = &c->sc->nats[k];
	const struct topo_nat *nat = &c->t->nats[e->nat];
	/* A NAT's unsolicited UDP is addressed to the NAT (its external
	 * address); a firewall's (and a dual-stack NAT's IPv6 side, a firewall)
	 * to a host behind it, here the probe host, which binds nothing yet. An
	 * open router lets that through: the router's own address then. */
	enum nat_filtering filt = tcp ? nat_tcp_filtering(&nat->behavior) : nat->behavior.filtering;
	bool through = (!nat->nat || e->family == 6) && filt != FILTER_OPEN;
	const struct plan_node *r = &c->p->nodes[through ? plan_probe_node(c->p, e->nat) : plan_nat_node(c->p, e->nat)];
	const char *ip = "", *ip2 = "", *to = e->family == 6 ? r->ip6 : r->ip;

	server_for(c->t, c->p, e->nat, e->family, &ip, &ip2);
	argv_init(a);
	argv_add(a, "%s/punch-probe", c->bindir);
	argv_add(a, "knock");
	argv_add(a, "--to");
	argv_add(a, e->family == 6 ? "[%s]:%u" : "%s:%u", to, knock_port(&c->t->nats[e->nat]));
	argv_add(a, "--bind");
	argv_add(a, "%s", ip);
	argv_add(a, "--timeout-ms");
	if (tcp) {
		/* One connect(): the kernel sends the SYN again after 1 s, 3 s, ... */
		argv_add(a, "%u", !slow ? SELFCHECK_TCP_KNOCK_FAST_MS : lossy ? 4 * SELFCHECK_ABSENT_MS : SELFCHECK_ABSENT_MS);
		argv_add(a, "--tcp");
	} else {
		argv_add(a, "%u", !slow ? SELFCHECK_KNOCK_FAST_MS : lossy ? 2 * SELFCHECK_ABSENT_MS : SELFCHECK_ABSENT_MS);
		argv_add(a, "--tries");
		argv_add(a, "%d", !slow ? SELFCHECK_KNOCK_FAST_TRIES : lossy ? 10 : 5);
	}
	argv_add(a, c->verbose ? "-v" : "-q");
}

/* Start the pending entries' knocks (c->kpend), each from its probe server's
 * node; they hold at the barrier until the next run_release(). */
static int knock_start(struct sc_run *c)
{
	bool lossy = lab_lossy(c);
	struct argv_buf a;

	for (int k = 0; k < c->sc->n; k++) {
		const char *ip, *ip2;
		int node, rc;

		if (!c->kpend[k])
			continue;
		node = server_for(c->t, c->p, c->sc->nats[k].nat, c->sc->nats[k].family, &ip, &ip2);
		knock_argv(&a, c, k, lossy, c->kslow[k], false);
		rc = start_probe(c, node, &a, &c->knk[k], "knock");
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* Knock k's report (knock --tcp's with tcp) into c->seen[k] and *sent; or,
 * when it failed or its report is unreadable, c->seen[k] = -1 and
 * c->knock_why[k] why. Returns whether it was read. */
static bool knock_result(struct sc_run *c, int k, bool tcp, int *sent)
{
	const struct run_result *r = run_result(c->knk[k]);
	enum selfcheck_unsolicited u;
	char how[256];

	if (r->exit_code != 0 || selfcheck_read_knock(r->out, &u, sent) < 0) {
		snprintf(c->knock_why[k], sizeof(c->knock_why[k]), "punch-probe knock%s %s: %.*s", tcp ? " --tcp" : "",
			 run_describe(c->knk[k], how, sizeof(how)), tcp ? 150 : 160, r->err_len ? r->err : r->out);
		c->seen[k] = -1;
		return false;
	}
	c->seen[k] = (int)u;
	return true;
}

/* Release the knocks, wait for them (and for whatever else was started
 * with them: so at most limit_ms), and read what each saw into c->seen[k]
 * (or c->knock_why[k] what went wrong); the datagrams each sent go to
 * c->knock_drops[k], which the router's drop counters hold too. */
static int knock_finish(struct sc_run *c, mtime_ms limit_ms)
{
	int rc = release_wait(c, limit_ms, "knocks");

	if (rc < 0)
		return rc;
	for (int k = 0; k < c->sc->n; k++) {
		int sent;

		if (!c->kpend[k])
			continue;
		c->kpend[k] = false;
		if (knock_result(c, k, false, &sent))
			c->knock_drops[k] += (uint64_t)sent;
	}
	return 0;
}

/* The first knocks, short where counters can prove silence: started with
 * the probe servers, so that their wait overlaps the servers' start
 * (wait_servers() releases both). */
static int knock_begin(struct sc_run *c)
{
	for (int k = 0; k < c->sc->n; k++) {
		c->seen[k] = -1;
		c->kslow[k] = c->long_wait || !fast_possible(c, k);
		c->kpend[k] = c->sc->nats[k].checked;
	}
	return knock_start(c);
}

/* The classifiers of the routers that have only the long wait (a lab with
 * loss or delay, a router with its own rules): started now, after the probe
 * servers are ready, to run beside the first knocks (knock_end() releases
 * them). A knock does not disturb a classification, nor the other way round:
 * the knock's port is one no mapping holds (knock_port()), and neither
 * depends on the router's counters with the long wait. */
static int early_classifiers(struct sc_run *c)
{
	int rc;

	for (int k = 0; k < c->sc->n; k++) {
		c->slow[k] = c->long_wait || !fast_possible(c, k);
		c->pending[k] = c->sc->nats[k].checked && c->slow[k];
	}
	rc = start_classifiers(c);
	for (int k = 0; rc == 0 && k < c->sc->n; k++)
		c->early[k] = c->pending[k];
	return rc;
}

/* Then, before the classifier, their answers: final, left to the
 * classifier's counts (c->kcounts), or knocked again with the long wait. */
static int knock_end(struct sc_run *c)
{
	bool again = false, early = false;
	int rc;

	for (int k = 0; k < c->sc->n; k++)
		early |= c->early[k];
	rc = knock_finish(c, early ? CLASSIFY_LIMIT_MS : KNOCK_LIMIT_MS);

	for (int k = 0; rc == 0 && k < c->sc->n; k++) {
		bool icmp = c->t->nats[c->sc->nats[k].nat].behavior.icmp_unreachable;
		enum selfcheck_knock_next next;

		if (c->kslow[k] || c->seen[k] < 0)
			continue;
		next = selfcheck_knock_next((enum selfcheck_unsolicited)c->seen[k], icmp);
		c->kcounts[k] = next == SELFCHECK_KNOCK_COUNTS;
		if (next == SELFCHECK_KNOCK_AGAIN) {
			log_debug("self-check: router %s%s: a short knock's silence proves nothing here, knocking again",
				  c->t->nats[c->sc->nats[k].nat].name, c->sc->nats[k].family == 6 ? " over IPv6" : "");
			c->kpend[k] = c->kslow[k] = again = true;
		}
	}
	if (rc == 0 && again)
		rc = knock_start(c);
	if (rc == 0 && again)
		rc = knock_finish(c, KNOCK_LIMIT_MS);
	return rc;
}

/* ---- unsolicited TCP: punch-probe knock --tcp (selfcheck.h) ---- */

/* The router's tcp_unsolicited_in count for entry k, or UINT64_MAX when it
 * cannot be read (a router with its own rules may have none). */
static uint64_t tcp_unsolicited_count(struct sc_run *c, int k)
{
	const struct selfcheck_nat *e = &c->sc->nats[k];
	uint64_t pk, bytes;

	if (nft_counter(lab_ns(c->l, plan_nat_node(c->p, e->nat)), e->family == 6 ? "ip6" : "ip", "punchlab",
			"tcp_unsolicited_in", &pk, &bytes) < 0)
		return UINT64_MAX;
	return pk;
}

/* How much entry k's tcp_unsolicited_in grew since c->tcount[k] was read,
 * or UINT64_MAX when either count is unknown or the counter went back. */
static uint64_t tcp_unsolicited_since(struct sc_run *c, int k)
{
	uint64_t now = tcp_unsolicited_count(c, k);

	return now == UINT64_MAX || c->tcount[k] == UINT64_MAX || now < c->tcount[k] ? UINT64_MAX : now - c->tcount[k];
}

/* One round of TCP knocks (c->tpend), all at once; each answer read into
 * c->seen / c->knock_why, a short one judged by the counter. Returns 0 and
 * *again when some must knock again with the long wait. */
static int tcp_knock_round(struct sc_run *c, bool *again)
{
	bool lossy = lab_lossy(c);
	struct argv_buf a;
	int rc;

	*again = false;
	for (int k = 0; k < c->sc->n; k++) {
		const char *ip, *ip2;
		int node;

		if (!c->tpend[k])
			continue;
		node = server_for(c->t, c->p, c->sc->nats[k].nat, c->sc->nats[k].family, &ip, &ip2);
		c->tcount[k] = c->tslow[k] ? 0 : tcp_unsolicited_count(c, k);
		knock_argv(&a, c, k, lossy, c->tslow[k], true);
		rc = start_probe(c, node, &a, &c->knk[k], "TCP knock");
		if (rc < 0)
			return rc;
	}
	rc = release_wait(c, 4 * SELFCHECK_ABSENT_MS + READY_MS, "TCP knocks");
	if (rc < 0)
		return rc;
	for (int k = 0; k < c->sc->n; k++) {
		uint64_t grew;
		int sent;

		if (!c->tpend[k])
			continue;
		c->tpend[k] = false;
		if (!knock_result(c, k, true, &sent) || c->tslow[k])
			continue;
		grew = tcp_unsolicited_since(c, k);
		if (selfcheck_tcp_knock_next((enum selfcheck_unsolicited)c->seen[k],
					     (int)c->t->nats[c->sc->nats[k].nat].behavior.tcp_unsolicited,
					     grew == UINT64_MAX ? 0 : grew) == SELFCHECK_KNOCK_AGAIN) {
			log_debug("self-check: router %s%s: a short TCP knock's silence is not proven, knocking again",
				  c->t->nats[c->sc->nats[k].nat].name, c->sc->nats[k].family == 6 ? " over IPv6" : "");
			c->tpend[k] = c->tslow[k] = *again = true;
		}
	}
	return 0;
}

/* ---- TCP mapping and filtering: punch-probe tcp-classify (selfcheck.h) ---- */

/* The declared TCP behaviour as tcp-classify's --expect-* words: over IPv6 a
 * dual-stack NAT is a firewall. */
static void tcp_declared(const struct topo_nat *nat, int fam, const char **mapping, const char **filtering)
{
	enum nat_filtering f = nat_tcp_filtering(&nat->behavior);

	*mapping = nat_mapping_name(nat->nat && fam == 4 ? nat_tcp_mapping(&nat->behavior) : MAP_NONE);
	*filtering = nat_filtering_name(f == FILTER_OPEN ? FILTER_EIF : f);
}

static void tcp_classifier_argv(struct argv_buf *a, const struct sc_run *c, int k, int attempt)
{
	const struct selfcheck_nat *e = &c->sc->nats[k];
	const char *m, *f;

	tcp_declared(&c->t->nats[e->nat], e->family, &m, &f);
	probe_client_argv(a, c, k, "tcp-classify");
	/* a second try from fresh ports: the first one's connections may linger */
	argv_add(a, "--local-port");
	argv_add(a, "%u", SELFCHECK_TCP_LOCAL_PORT + 2 * attempt);
	argv_add(a, "--timeout-ms");
	argv_add(a, "%u", !c->tslow[k] ? SELFCHECK_FAST_MS : lab_lossy(c) ? 2 * SELFCHECK_ABSENT_MS : SELFCHECK_ABSENT_MS);
	argv_add(a, "--expect-mapping");
	argv_add(a, "%s", m);
	argv_add(a, "--expect-filtering");
	argv_add(a, "%s", f);
	argv_add(a, c->verbose ? "-v" : "-q");
}

/* What TCP classifier k said, noted into its entry unless it was a short
 * one whose absent connect-backs the router's counter does not account for:
 * then false, and nothing noted. A failure goes to c->knock_why[k]. */
static bool tcp_classification(struct sc_run *c, int k)
{
	struct selfcheck_nat *e = &c->sc->nats[k], tmp = *e;
	const struct run_result *r = run_result(c->cls[k]);
	const char *m, *f;
	char how[256], dw[48];
	int absent;

	if (r->exit_code != 0 && r->exit_code != 3) {
		snprintf(c->knock_why[k], sizeof(c->knock_why[k]), "punch-probe tcp-classify %s: %.150s",
			 run_describe(c->cls[k], how, sizeof(how)), r->err_len ? r->err : r->out);
		return true;
	}
	/* into a copy: a report the counts do not prove is not noted */
	tcp_declared(&c->t->nats[e->nat], e->family, &m, &f);
	if (strcmp(m, "none") == 0)
		snprintf(dw, sizeof(dw), "%s", f);
	else
		snprintf(dw, sizeof(dw), "%s/%s", m, f);
	if (selfcheck_read_tcp_report(r->out, dw, &tmp, &absent) < 0) {
		snprintf(c->knock_why[k], sizeof(c->knock_why[k]), "%s", tmp.why);
		return true;
	}
	if (!c->tslow[k] && (absent < 0 || tcp_unsolicited_since(c, k) != (uint64_t)absent))
		return false;
	*e = tmp;
	return true;
}

/* One round of TCP classifiers (c->tpend), all at once, each report read;
 * a short one whose absent connect-backs the counter does not account for
 * is set to go again with the long wait (*again). */
static int tcp_classify_round(struct sc_run *c, int attempt, bool *again)
{
	struct argv_buf a;
	int rc;

	*again = false;
	for (int k = 0; k < c->sc->n; k++) {
		int probe = plan_probe_node(c->p, c->sc->nats[k].nat);

		if (!c->tpend[k])
			continue;
		c->tcount[k] = c->tslow[k] ? 0 : tcp_unsolicited_count(c, k);
		tcp_classifier_argv(&a, c, k, attempt);
		rc = start_probe(c, probe, &a, &c->cls[k], "TCP classifier");
		if (rc < 0)
			return rc;
	}
	/* tcp-classify's longest: four connections of timeout + 1 s each, and
	 * the connect-backs' timeout (tcpprobe.c) */
	rc = release_wait(c, 5 * (2 * SELFCHECK_ABSENT_MS + 1000) + READY_MS, "TCP classifiers");
	if (rc < 0)
		return rc;
	for (int k = 0; k < c->sc->n; k++) {
		if (!c->tpend[k])
			continue;
		c->tpend[k] = false;
		if (!tcp_classification(c, k)) {
			log_debug("self-check: router %s%s: the short TCP classification is not proven, again",
				  c->t->nats[c->sc->nats[k].nat].name, c->sc->nats[k].family == 6 ? " over IPv6" : "");
			c->tpend[k] = c->tslow[k] = *again = true;
		}
	}
	return 0;
}

/* Is entry k's TCP in question now: a router classified over UDP (no
 * reason against it so far) whose TCP the lab or its declaration asks about? */
static bool tcp_in_question(const struct sc_run *c, int k)
{
	const struct selfcheck_nat *e = &c->sc->nats[k];

	return e->checked && !e->why[0] && e->observed_valid && selfcheck_tcp_wanted(&c->t->nats[e->nat], c->t->tcp);
}

/* Set the first TCP round going: every entry whose TCP is in question
 * pending (c->tpend), short where counters can prove it (c->tslow), no why
 * yet. Returns whether any is pending. */
static bool tcp_begin(struct sc_run *c)
{
	bool any = false;

	for (int k = 0; k < c->sc->n; k++) {
		c->tpend[k] = tcp_in_question(c, k);
		c->tslow[k] = c->long_wait || !fast_possible(c, k);
		c->knock_why[k][0] = '\0';
		any |= c->tpend[k];
	}
	return any;
}

/* TCP's mapping and filtering of the routers whose TCP is in question. */
static int tcp_classify(struct sc_run *c)
{
	bool again = false;
	int rc;

	if (!tcp_begin(c))
		return 0;
	rc = tcp_classify_round(c, 0, &again);
	if (rc == 0 && again)
		rc = tcp_classify_round(c, 1, &again);
	for (int k = 0; rc == 0 && k < c->sc->n; k++) {
		struct selfcheck_nat *e = &c->sc->nats[k];

		if (tcp_in_question(c, k) && !e->tcp_valid)
			snprintf(e->why, sizeof(e->why), "%s",
				 c->knock_why[k][0] ? c->knock_why[k] : "TCP not classified");
	}
	return rc;
}

/* After the classifier (the UDP knocks' answers already noted, c->seen free
 * again): the TCP knocks of the routers whose TCP is in question, against
 * their tcp-unsolicited. */
static int tcp_knocks(struct sc_run *c)
{
	bool again = false;
	int rc;

	for (int k = 0; k < c->sc->n; k++)
		c->seen[k] = -1;
	if (!tcp_begin(c))
		return 0;
	rc = tcp_knock_round(c, &again);
	if (rc == 0 && again)
		rc = tcp_knock_round(c, &again);
	for (int k = 0; rc == 0 && k < c->sc->n; k++) {
		struct selfcheck_nat *e = &c->sc->nats[k];

		if (!tcp_in_question(c, k))
			continue;
		if (c->seen[k] < 0)
			snprintf(e->why, sizeof(e->why), "%s", c->knock_why[k][0] ? c->knock_why[k] : "not knocked");
		else
			selfcheck_note_tcp_unsolicited(e, (int)c->t->nats[e->nat].behavior.tcp_unsolicited,
						       (enum selfcheck_unsolicited)c->seen[k]);
	}
	return rc;
}

/* After the classifier: the knock's answer against the declaration. */
static void note_knocks(struct sc_run *c)
{
	for (int k = 0; k < c->sc->n; k++) {
		struct selfcheck_nat *e = &c->sc->nats[k];

		if (!e->checked || e->why[0] || !e->observed_valid)
			continue;
		if (c->seen[k] < 0) /* the knock failed: the router is not classified either */
			snprintf(e->why, sizeof(e->why), "%s", c->knock_why[k][0] ? c->knock_why[k] : "not knocked");
		else
			selfcheck_note_unsolicited(e, c->t->nats[e->nat].behavior.icmp_unreachable,
						   (enum selfcheck_unsolicited)c->seen[k]);
	}
}

int selfcheck_run(const struct topo *t, const struct plan *p, struct lab *l, const char *bindir, bool verbose,
		  struct selfcheck **out, char *err, size_t errsize)
{
	return selfcheck_run_wait(t, p, l, bindir, verbose, false, out, err, errsize);
}

int selfcheck_run_wait(const struct topo *t, const struct plan *p, struct lab *l, const char *bindir, bool verbose,
		       bool long_wait, struct selfcheck **out, char *err, size_t errsize)
{
	struct sc_run c = { .t = t, .p = p, .l = l, .bindir = bindir, .verbose = verbose, .long_wait = long_wait,
			    .err = err, .errsize = errsize };
	mtime_ms start = mtime_now();
	int rc = -ENOMEM;

	*out = NULL;
	err[0] = '\0';
	c.sc = calloc(1, sizeof(*c.sc));
	if (c.sc)
		c.sc->nats = calloc(2 * (size_t)t->n_nats + 1, sizeof(*c.sc->nats));
	c.srv = calloc(2 * (size_t)p->n_nodes, sizeof(*c.srv));
	c.cls = calloc(2 * (size_t)t->n_nats + 1, sizeof(*c.cls));
	c.knk = calloc(2 * (size_t)t->n_nats + 1, sizeof(*c.knk));
	c.early = calloc(2 * (size_t)t->n_nats + 1, sizeof(*c.early));
	c.slow = calloc(2 * (size_t)t->n_nats + 1, sizeof(*c.slow));
	c.pending = calloc(2 * (size_t)t->n_nats + 1, sizeof(*c.pending));
	c.seen = calloc(2 * (size_t)t->n_nats + 1, sizeof(*c.seen));
	c.knock_drops = calloc(2 * (size_t)t->n_nats + 1, sizeof(*c.knock_drops));
	c.kpend = calloc(2 * (size_t)t->n_nats + 1, sizeof(*c.kpend));
	c.kslow = calloc(2 * (size_t)t->n_nats + 1, sizeof(*c.kslow));
	c.kcounts = calloc(2 * (size_t)t->n_nats + 1, sizeof(*c.kcounts));
	c.knock_why = calloc(2 * (size_t)t->n_nats + 1, sizeof(*c.knock_why));
	c.tpend = calloc(2 * (size_t)t->n_nats + 1, sizeof(*c.tpend));
	c.tslow = calloc(2 * (size_t)t->n_nats + 1, sizeof(*c.tslow));
	c.tcount = calloc(2 * (size_t)t->n_nats + 1, sizeof(*c.tcount));
	if (!c.tpend || !c.tslow || !c.tcount || !c.knk || !c.early ||
	    !c.sc || !c.sc->nats || !c.srv || !c.cls || !c.slow || !c.pending || !c.seen || !c.knock_drops ||
	    !c.kpend || !c.kslow || !c.kcounts || !c.knock_why) {
		snprintf(err, errsize, "self-check: out of memory");
		goto cleanup;
	}
	c.sc->n = t->ipv6 ? 2 * t->n_nats : t->n_nats;
	for (int i = 0; i < t->n_nats; i++)
		c.any_tcp |= !t->nats[i].unchecked && selfcheck_tcp_wanted(&t->nats[i], t->tcp);
	rc = run_group_create(&c.g);
	if (rc < 0) {
		snprintf(err, errsize, "self-check: %s", strerror(-rc));
		goto cleanup;
	}
	rc = start_servers(&c);
	if (rc == 0)
		rc = knock_begin(&c);
	if (rc == 0)
		rc = wait_servers(&c);
	if (rc == 0)
		rc = early_classifiers(&c);
	if (rc == 0)
		rc = knock_end(&c);
	if (rc == 0)
		rc = classify_all(&c);
	if (rc < 0)
		goto cleanup;
	note_knocks(&c);
	rc = tcp_classify(&c);
	if (rc == 0)
		rc = tcp_knocks(&c);
	if (rc < 0)
		goto cleanup;
	for (int s = 0; s < 2 * p->n_nodes; s++)
		if (c.srv[s])
			run_stop(c.g, c.srv[s]);
	c.sc->elapsed_ms = (int)(mtime_now() - start);
	*out = c.sc;
	c.sc = NULL;
	rc = 0;
cleanup:
	run_group_destroy(c.g);
	selfcheck_free(c.sc);
	free(c.srv);
	free(c.cls);
	free(c.knk);
	free(c.early);
	free(c.slow);
	free(c.pending);
	free(c.seen);
	free(c.knock_drops);
	free(c.kpend);
	free(c.kslow);
	free(c.kcounts);
	free(c.knock_why);
	free(c.tpend);
	free(c.tslow);
	free(c.tcount);
	return rc;
}

void selfcheck_free(struct selfcheck *sc)
{
	if (!sc)
		return;
	for (int i = 0; sc->nats && i < sc->n; i++)
		free(sc->nats[i].report);
	free(sc->nats);
	free(sc);
}

int selfcheck_to_result(const struct topo *t, const struct selfcheck *sc, struct result *r)
{
	r->selfcheck_ran = true;
	r->n_routers = 0;
	if (sc->n == 0)
		return 0;
	r->routers = calloc((size_t)sc->n, sizeof(*r->routers));
	if (!r->routers)
		return -ENOMEM;
	for (int i = 0; i < sc->n; i++) {
		const struct selfcheck_nat *e = &sc->nats[i];
		struct result_router *rt = &r->routers[i];

		snprintf(rt->name, sizeof(rt->name), "%s", t->nats[e->nat].name);
		rt->family = e->family;
		rt->checked = e->checked;
		rt->declared = e->declared_b;
		rt->observed_valid = e->checked && !e->why[0] && e->observed_valid;
		rt->observed = e->observed_b;
		rt->match = rt->observed_valid && e->match;
		snprintf(rt->note, sizeof(rt->note), "%s", e->why[0] ? e->why : e->differs);
	}
	r->n_routers = sc->n;
	return 0;
}

char *selfcheck_refusal(const struct topo *t, const struct selfcheck *sc)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f;
	int bad = 0;

	f = open_memstream(&text, &len);
	if (!f)
		return NULL;
	for (int i = 0; i < sc->n; i++) {
		const struct selfcheck_nat *e = &sc->nats[i];
		const struct topo_nat *nat = &t->nats[e->nat];

		if (!e->checked)
			continue;
		const char *v6 = e->family == 6 ? " over IPv6" : "";

		if (e->why[0]) {
			fprintf(f, "%srouter %s (line %d)%s: could not be classified: %s", bad++ ? "\n" : "", nat->name,
				nat->line, v6, e->why);
		} else if (!e->match) {
			fprintf(f, "%srouter %s (line %d)%s does not behave as declared: %s (declared %s, observed %s)",
				bad++ ? "\n" : "", nat->name, nat->line, v6, e->differs, e->declared, e->observed);
		}
	}
	if (fclose(f) != 0 || !bad) {
		free(text);
		return NULL;
	}
	return text;
}
