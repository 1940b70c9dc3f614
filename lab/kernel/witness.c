/* Loading and reading the evidence rulesets. See witness.h. */
#include "kernel/witness.h"

#include <errno.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel/build.h"
#include "kernel/ct.h"
#include "kernel/nft.h"
#include "common/mtime.h"
#include "model/topo.h"

static const char *family(const struct topo *t)
{
	return t->ipv6 ? "ip6" : "ip";
}

static int load(struct lab *l, const struct plan *p, int node, char *text, int rc, char *err, size_t errsize)
{
	char *nfterr = NULL;

	if (rc == 0)
		rc = nft_load(lab_ns(l, node), text, &nfterr);
	if (rc < 0)
		snprintf(err, errsize, "%s: loading the evidence ruleset: %s", p->nodes[node].name,
			 nfterr ? nfterr : strerror(-rc));
	free(nfterr);
	free(text);
	return rc;
}

int witness_arm(struct lab *l, const struct topo *t, const struct plan *p, bool wire, char *err, size_t errsize)
{
	for (int k = 0; k < 2; k++) {
		char *text = NULL;
		int rc = evidence_peer_ruleset(t, p, k, wire, &text);

		rc = load(l, p, p->peers[k].node, text, rc, err, errsize);
		if (rc < 0)
			return rc;
	}
	for (int i = 0; i < t->n_nats; i++) {
		char *text = NULL;
		int rc = evidence_router_ruleset(t, p, i, &text);

		rc = load(l, p, plan_nat_node(p, i), text, rc, err, errsize);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* A set's elements, each stamped with the time of its first datagram
 * relative to started (the mtime the pair started at). */
static int read_set(struct lab *l, const struct topo *t, const struct plan *p, int node, const char *name,
		    mtime_ms started, struct evidence_elem **out, int *n, char *err, size_t errsize)
{
	char cmd[128], *text = NULL, *nfterr = NULL;
	mtime_ms listed;
	int rc;

	snprintf(cmd, sizeof(cmd), "list set %s " EVIDENCE_TABLE " %s", family(t), name);
	rc = nft_query(lab_ns(l, node), cmd, false, &text, &nfterr);
	/* The kernel computed what each element has left while nft dumped the
	 * set, near the end of the query (after its cache was fetched). */
	listed = mtime_now();
	if (rc == 0)
		rc = evidence_parse_set(text, out, n);
	if (rc == 0)
		evidence_stamp(*out, *n, listed - started);
	if (rc < 0)
		snprintf(err, errsize, "%s: %s: %s", p->nodes[node].name, cmd, nfterr ? nfterr : strerror(-rc));
	free(text);
	free(nfterr);
	return rc;
}

static int read_peer(struct lab *l, const struct topo *t, const struct plan *p, int k, mtime_ms started,
		     struct evidence_peer *ep, char *err, size_t errsize)
{
	static const char *const names[] = { "from_partner", "from_server", "relay", "to_partner", "to_server" };
	uint64_t *dst[] = { &ep->from_partner, &ep->from_server, &ep->relay, &ep->to_partner, &ep->to_server };
	int node = p->peers[k].node;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		uint64_t bytes;
		int rc = nft_counter(lab_ns(l, node), family(t), EVIDENCE_TABLE, names[i], dst[i], &bytes);

		if (rc < 0) {
			snprintf(err, errsize, "%s: reading counter %s: %s", p->nodes[node].name, names[i],
				 strerror(-rc));
			return rc;
		}
	}
	return read_set(l, t, p, node, "partner_eps", started, &ep->eps, &ep->n_eps, err, errsize);
}

void witness_ct_free(struct witness_ct *c)
{
	for (int i = 0; c->ct && i < c->n_nats; i++)
		free(c->ct[i]);
	free(c->ct);
	free(c->n);
	memset(c, 0, sizeof(*c));
}

/* Which mappings conntrack still holds now that the pair has ended; the
 * listing goes to *keep (when not NULL) rather than away. */
static int read_conntrack(struct lab *l, const struct topo *t, const struct plan *p, int node,
			  struct evidence_router *r, struct ct_udp **keep, int *keep_n, char *err, size_t errsize)
{
	struct ct_udp *ct = NULL;
	struct evidence_ct *v = NULL;
	int n = 0, rc;

	rc = ct_list_udp(lab_ns(l, node), t->ipv6 ? AF_INET6 : AF_INET, &ct, &n);
	if (rc == 0 && n > 0 && !(v = calloc((size_t)n, sizeof(*v))))
		rc = -ENOMEM;
	if (rc < 0) {
		snprintf(err, errsize, "%s: listing conntrack: %s", p->nodes[node].name, strerror(-rc));
		goto cleanup;
	}
	for (int i = 0; i < n; i++) {
		snprintf(v[i].src, sizeof(v[i].src), "%s", ct[i].orig_src);
		snprintf(v[i].dst, sizeof(v[i].dst), "%s", ct[i].orig_dst);
		snprintf(v[i].ext, sizeof(v[i].ext), "%s", ct[i].reply_dst);
		v[i].ext_port = ct[i].reply_dport;
		v[i].sport = ct[i].orig_sport;
		v[i].dport = ct[i].orig_dport;
		v[i].left_s = ct[i].timeout_s;
	}
	evidence_mark_live(r, v, n);
	if (keep) {
		*keep = ct;
		*keep_n = n;
		ct = NULL;
	}
cleanup:
	free(v);
	free(ct);
	return rc;
}

/* What router nat passed into its LAN, from each of its delivery sets
 * (evidence_delivery_sets()), expanded to one form into r->deliv. */
static int read_deliveries(struct lab *l, const struct topo *t, const struct plan *p, int nat, mtime_ms started,
			   struct evidence_router *r, char *err, size_t errsize)
{
	const char *names[3];
	enum evidence_deliv_kind kinds[3];
	int n_sets = evidence_delivery_sets(t, nat, names, kinds), node = plan_nat_node(p, nat);

	for (int s = 0; s < n_sets; s++) {
		struct evidence_elem *v = NULL, *all;
		int n = 0, rc = read_set(l, t, p, node, names[s], started, &v, &n, err, errsize);

		if (rc < 0)
			return rc;
		if (n == 0)
			continue;
		all = realloc(r->deliv, (size_t)(r->n_deliv + n) * sizeof(*all));
		if (!all) {
			free(v);
			snprintf(err, errsize, "%s: reading %s: %s", p->nodes[node].name, names[s], strerror(ENOMEM));
			return -ENOMEM;
		}
		r->deliv = all;
		for (int i = 0; i < n; i++) {
			evidence_expand_delivery(&v[i], kinds[s], p->nodes[node].ip);
			r->deliv[r->n_deliv++] = v[i];
		}
		free(v);
	}
	return 0;
}

int witness_read(struct lab *l, const struct topo *t, const struct plan *p, bool wire, mtime_ms started,
		 struct evidence *e, struct witness_ct *keep, char *err, size_t errsize)
{
	int rc;

	memset(e, 0, sizeof(*e));
	if (keep) {
		memset(keep, 0, sizeof(*keep));
		if (t->n_nats && (!(keep->ct = calloc((size_t)t->n_nats, sizeof(*keep->ct))) ||
				  !(keep->n = calloc((size_t)t->n_nats, sizeof(*keep->n))))) {
			witness_ct_free(keep);
			return -ENOMEM;
		}
		keep->n_nats = t->n_nats;
	}
	e->wire = wire;
	for (int k = 0; k < 2; k++) {
		rc = read_peer(l, t, p, k, started, &e->peers[k], err, errsize);
		if (rc < 0)
			goto cleanup;
	}
	if (t->n_nats) {
		e->routers = calloc((size_t)t->n_nats, sizeof(*e->routers));
		if (!e->routers) {
			rc = -ENOMEM;
			goto cleanup;
		}
	}
	for (int i = 0; i < t->n_nats; i++) {
		struct evidence_router *r = &e->routers[e->n_routers++];
		int node = plan_nat_node(p, i);

		r->nat = i;
		rc = read_set(l, t, p, node, "wan_in", started, &r->in, &r->n_in, err, errsize);
		if (rc == 0)
			rc = read_set(l, t, p, node, "lan_out", started, &r->out, &r->n_out, err, errsize);
		if (rc == 0)
			rc = read_set(l, t, p, node, "lan_in", started, &r->lan_in, &r->n_lan_in, err, errsize);
		if (rc == 0)
			rc = read_set(l, t, p, node, "wan_out", started, &r->wan_out, &r->n_wan_out, err, errsize);
		if (rc == 0)
			rc = read_set(l, t, p, node, "mappings", started, &r->maps, &r->n_maps, err, errsize);
		if (rc < 0)
			goto cleanup;
		for (int m = 0; m < r->n_maps; m++)
			evidence_expand_mapping(&r->maps[m], p->nodes[node].ip);
		rc = read_deliveries(l, t, p, i, started, r, err, errsize);
		if (rc < 0)
			goto cleanup;
		rc = read_conntrack(l, t, p, node, r, keep ? &keep->ct[i] : NULL, keep ? &keep->n[i] : NULL, err,
				    errsize);
		if (rc < 0)
			goto cleanup;
	}
	return 0;
cleanup:
	evidence_clear(e);
	if (keep)
		witness_ct_free(keep);
	return rc;
}

/* witness_fill() with the network's verdict v already worked out. */
static int fill(const struct topo *t, const struct plan *p, const struct evidence *e, enum outcome v,
		struct result_evidence *re)
{
	memset(re, 0, sizeof(*re));
	re->counted = true;
	re->verdict = result_outcome_of(v);
	for (int k = 0; k < 2; k++) {
		re->peers[k].from_partner = e->peers[k].from_partner;
		re->peers[k].from_server = e->peers[k].from_server;
		re->peers[k].relayed = e->peers[k].relay;
		re->peers[k].sent_to_partner = e->peers[k].to_partner;
		evidence_top_endpoint(e, k, re->peers[k].endpoint, sizeof(re->peers[k].endpoint));
	}
	re->explanation = evidence_explain(t, p, e);
	re->detail = evidence_json(t, e);
	if (!re->explanation || !re->detail) {
		result_evidence_clear(re);
		return -ENOMEM;
	}
	return 0;
}

int witness_fill(const struct topo *t, const struct plan *p, const struct evidence *e, struct result_evidence *re)
{
	return fill(t, p, e, evidence_verdict(t, e), re);
}

int witness_judge(struct lab *l, const struct topo *t, const struct plan *p, bool wire, mtime_ms started,
		  enum outcome *verdict, struct result_evidence *re, struct witness_ct *keep, char *err,
		  size_t errsize)
{
	struct evidence e;
	int rc;

	memset(re, 0, sizeof(*re));
	rc = witness_read(l, t, p, wire, started, &e, keep, err, errsize);
	if (rc < 0)
		return rc;
	*verdict = evidence_verdict(t, &e);
	rc = fill(t, p, &e, *verdict, re);
	evidence_clear(&e);
	if (rc < 0)
		snprintf(err, errsize, "evidence: %s", strerror(-rc));
	return rc;
}
