#include "model/outcome.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/topo.h"

const struct outcome_abilities outcome_punch_client = { .learn = true, .privates = true };

#define SIM_MAPS 64
#define SIM_CONTACTS 16
#define SIM_CANDS 8
#define SIM_ROUNDS 8
#define SIM_NODES 80 /* 2 + 2 * TOPO_MAX_NATS + 2: every node of the largest plan */

struct sim_ep {
	uint32_t ip;
	uint16_t port;
};

/* One NAT mapping, or for a non-translating firewall one internal endpoint's
 * flows (then ext = the internal port). contacted: the remote endpoints it sent to. */
struct sim_map {
	struct sim_ep in;
	struct sim_ep dst;      /* the part of the destination that keys the mapping */
	uint16_t ext;
	struct sim_ep contacted[SIM_CONTACTS];
	int n_contacted;
};

/* A session: once a flow exists, packets of it pass both ways with the same
 * external port, whatever the mapping and filtering rules would say of a new
 * flow. An outbound packet makes one (RFC 4787 section 4.1: the mapping it
 * used, section 5: what it opened). An inbound packet that the filtering
 * admits makes one only under the declared rule inbound-reply = session; with
 * new-mapping the reply is an outbound packet like any other. */
struct sim_flow {
	struct sim_ep in;
	struct sim_ep remote;
	uint16_t ext;
};

struct sim_node {
	enum plan_kind kind;
	uint32_t ip;            /* host address or router WAN address */
	int parent;             /* segment owner: inet or a router; -1 for inet */
	const struct topo_nat *nat;
	bool v6;                /* ipv6 = yes: the pair's packets are IPv6 */
	struct sim_map maps[SIM_MAPS];
	int n_maps;
	struct sim_flow flows[SIM_MAPS];
	int n_flows;
	uint16_t next_port;
	bool overflow;          /* more mappings than modelled */
};

struct sim_peer {
	int node;
	struct sim_ep local;
	struct sim_ep cands[SIM_CANDS];
	int n_cands;
	struct sim_ep probe_from[SIM_CANDS];
	int n_probe_from;
	struct sim_ep acked[SIM_CANDS]; /* candidates whose probe was answered from that same endpoint */
	int n_acked;
	bool registered;
	struct sim_ep observed;
	bool expired;           /* its mapping died while it waited for the partner */
};

struct sim {
	const struct topo *t;
	const struct plan *p;
	struct sim_node nodes[SIM_NODES];
	int n;
};

struct pkt {
	struct sim_ep src, dst;
};

static bool ep_eq(struct sim_ep a, struct sim_ep b)
{
	return a.ip == b.ip && a.port == b.port;
}

static bool ep_in(const struct sim_ep *set, int n, struct sim_ep e)
{
	for (int i = 0; i < n; i++)
		if (ep_eq(set[i], e))
			return true;
	return false;
}

static void ep_add(struct sim_ep *set, int *n, int max, struct sim_ep e)
{
	if (!ep_in(set, *n, e) && *n < max)
		set[(*n)++] = e;
}

static uint32_t ip_parse(const char *s)
{
	struct in_addr a;

	return inet_pton(AF_INET, s, &a) == 1 ? ntohl(a.s_addr) : 0;
}

/* With ipv6 = yes the pair meets over IPv6, which no router translates: a
 * dual-stack NAT only firewalls IPv6, with its filtering. */
static bool translating(const struct sim_node *n)
{
	return n->kind == PLAN_ROUTER && n->nat->nat && !n->v6;
}

static bool udp_blocked(const struct sim_node *n)
{
	return n->kind == PLAN_ROUTER && n->nat->behavior.udp_blocked;
}

static int find_in_segment(const struct sim *s, int seg, uint32_t ip, int depth);

/* The node on segment seg that takes a packet for ip: the host or router
 * WAN with that address, or a non-translating router whose LAN leads to it. */
static int find_in_segment(const struct sim *s, int seg, uint32_t ip, int depth)
{
	if (depth > SIM_NODES)
		return -1;
	for (int i = 0; i < s->n; i++)
		if (s->nodes[i].parent == seg && s->nodes[i].ip == ip)
			return i;
	for (int i = 0; i < s->n; i++)
		if (s->nodes[i].parent == seg && s->nodes[i].kind == PLAN_ROUTER && !translating(&s->nodes[i]) &&
		    find_in_segment(s, i, ip, depth + 1) >= 0)
			return i;
	return -1;
}

static struct sim_map *map_find_ext(struct sim_node *r, uint16_t ext)
{
	for (int i = 0; i < r->n_maps; i++)
		if (r->maps[i].ext == ext)
			return &r->maps[i];
	return NULL;
}

static bool port_used(const struct sim_node *r, uint16_t port)
{
	for (int i = 0; i < r->n_maps; i++)
		if (r->maps[i].ext == port)
			return true;
	return false;
}

/* The newest matching flow. RFC 4787 does not say which mapping a reply to an
 * admitted inbound packet leaves from; the declared rule does: with
 * inbound-reply = session it leaves from the mapping the packet arrived on,
 * the newest session winning over an older mapping towards the same remote
 * endpoint (which is why the newest flow is found first). */
static struct sim_flow *flow_find(struct sim_node *r, struct sim_ep in, struct sim_ep remote, int ext)
{
	for (int i = r->n_flows - 1; i >= 0; i--)
		if (ep_eq(r->flows[i].remote, remote) &&
		    (ext >= 0 ? r->flows[i].ext == ext : ep_eq(r->flows[i].in, in)))
			return &r->flows[i];
	return NULL;
}

static bool flow_add(struct sim_node *r, struct sim_ep in, struct sim_ep remote, uint16_t ext)
{
	if (r->n_flows >= SIM_MAPS) {
		r->overflow = true;
		return false;
	}
	r->flows[r->n_flows++] = (struct sim_flow){ in, remote, ext };
	return true;
}

/* Outbound through router r: find or create the mapping (RFC 4787 section 4.1),
 * note the destination for filtering, rewrite the source. */
static bool outbound(struct sim_node *r, struct pkt *pk)
{
	const struct nat_behavior *b = &r->nat->behavior;
	enum nat_mapping mapping = translating(r) ? b->mapping : MAP_EIM;
	struct sim_ep key = { 0, 0 };
	struct sim_map *m = NULL;

	if (udp_blocked(r))
		return false;
	{
		struct sim_flow *f = flow_find(r, pk->src, pk->dst, -1);

		if (f) {
			if (translating(r)) {
				pk->src.ip = r->ip;
				pk->src.port = f->ext;
			}
			return true;
		}
	}
	if (mapping == MAP_ADM)
		key.ip = pk->dst.ip;
	else if (mapping == MAP_APDM)
		key = pk->dst;
	for (int i = 0; i < r->n_maps && !m; i++)
		if (ep_eq(r->maps[i].in, pk->src) && ep_eq(r->maps[i].dst, key))
			m = &r->maps[i];
	if (!m) {
		if (r->n_maps >= SIM_MAPS) {
			r->overflow = true;
			return false;
		}
		m = &r->maps[r->n_maps];
		memset(m, 0, sizeof(*m));
		m->in = pk->src;
		m->dst = key;
		if (!translating(r))
			m->ext = pk->src.port;
		else if (b->ports == PORTS_PRESERVE && !port_used(r, pk->src.port))
			m->ext = pk->src.port;
		else
			/* Random and sequential differ in the field, not for this rule:
			 * either way the port is new and unpredictable to the peer. */
			do
				m->ext = r->next_port++;
			while (port_used(r, m->ext));
		r->n_maps++;
	}
	if (m->n_contacted < SIM_CONTACTS && !ep_in(m->contacted, m->n_contacted, pk->dst))
		m->contacted[m->n_contacted++] = pk->dst;
	if (!flow_add(r, pk->src, pk->dst, m->ext))
		return false;
	if (translating(r)) {
		pk->src.ip = r->ip;
		pk->src.port = m->ext;
	}
	return true;
}

/* RFC 4787 section 5: may this inbound packet use mapping m? */
static bool filter_ok(const struct sim_node *r, const struct sim_map *m, struct sim_ep from)
{
	switch (r->nat->behavior.filtering) {
	case FILTER_OPEN:
	case FILTER_EIF:
		return true;
	case FILTER_ADF:
		for (int i = 0; i < m->n_contacted; i++)
			if (m->contacted[i].ip == from.ip)
				return true;
		return false;
	case FILTER_APDF:
		return ep_in(m->contacted, m->n_contacted, from);
	}
	return false;
}

static int down(struct sim *s, int n, struct pkt *pk, int depth);

/* Deliver on the LAN of router r, after an inbound or hairpin translation. */
static int down_lan(struct sim *s, int r, struct pkt *pk, int depth)
{
	int next = find_in_segment(s, r, pk->dst.ip, 0);

	return next < 0 ? -1 : down(s, next, pk, depth + 1);
}

/* A packet reaches node n from its segment: hosts take it, routers filter it. */
static int down(struct sim *s, int n, struct pkt *pk, int depth)
{
	struct sim_node *r = &s->nodes[n];
	struct sim_map *m = NULL;

	if (depth > SIM_NODES)
		return -1;
	if (r->kind != PLAN_ROUTER)
		return n;
	if (udp_blocked(r))
		return -1;
	{
		struct sim_ep none = { 0, 0 };
		struct sim_flow *f = !translating(r)   ? flow_find(r, pk->dst, pk->src, -1)
				     : pk->dst.ip == r->ip ? flow_find(r, none, pk->src, pk->dst.port)
							   : NULL;

		if (f) { /* an established flow */
			pk->dst = f->in;
			return down_lan(s, n, pk, depth);
		}
	}
	if (translating(r)) {
		if (pk->dst.ip != r->ip || !(m = map_find_ext(r, pk->dst.port)))
			return -1;
	} else {
		for (int i = 0; i < r->n_maps && !m; i++)
			if (ep_eq(r->maps[i].in, pk->dst))
				m = &r->maps[i];
		if (!m)
			return r->nat->behavior.filtering == FILTER_OPEN ? down_lan(s, n, pk, depth) : -1;
	}
	if (!filter_ok(r, m, pk->src))
		return -1;
	/* inbound-reply: only a session makes the reply leave from this mapping;
	 * without translation there is only one external endpoint anyway. */
	if ((!translating(r) || r->nat->behavior.inbound_reply == INBOUND_REPLY_SESSION) &&
	    !flow_add(r, m->in, pk->src, m->ext))
		return -1;
	pk->dst = m->in;
	return down_lan(s, n, pk, depth);
}

/* Send pk from host `from`; returns the host that receives it, or -1. */
static int route(struct sim *s, int from, struct pkt *pk)
{
	int seg = s->nodes[from].parent;

	for (int depth = 0; depth < SIM_NODES && seg >= 0; depth++) {
		struct sim_node *r = &s->nodes[seg];
		int target = find_in_segment(s, seg, pk->dst.ip, 0);

		if (target >= 0)
			return down(s, target, pk, 0);
		if (r->kind != PLAN_ROUTER)
			return -1; /* the internet has no such address */
		if (pk->dst.ip == r->ip && translating(r)) {
			/* Hairpinning: in through the mapping, out with the sender's mapping
			 * (RFC 4787 REQ-9); endpoint-independent on this path. */
			struct sim_map *m;
			struct sim_ep to;

			if (!r->nat->behavior.hairpin || !(m = map_find_ext(r, pk->dst.port)))
				return -1;
			to = m->in;
			if (!outbound(r, pk))
				return -1;
			pk->dst = to;
			return down_lan(s, seg, pk, 0);
		}
		if (!outbound(r, pk))
			return -1;
		seg = r->parent;
	}
	return -1;
}

static void sim_init(struct sim *s, const struct topo *t, const struct plan *p)
{
	memset(s, 0, sizeof(*s));
	s->t = t;
	s->p = p;
	s->n = p->n_nodes;
	for (int i = 0; i < p->n_nodes; i++) {
		struct sim_node *n = &s->nodes[i];

		n->kind = p->nodes[i].kind;
		n->ip = ip_parse(p->nodes[i].ip);
		n->parent = -1;
		n->next_port = 20000;
		n->v6 = t->ipv6;
		if (n->kind == PLAN_ROUTER)
			n->nat = &t->nats[p->nodes[i].index];
	}
	for (int k = 0; k < p->n_links; k++)
		s->nodes[p->links[k].b].parent = p->links[k].a;
}

/* Register with the server: the request must arrive, and the answer come back. */
static void sim_register(struct sim *s, struct sim_peer *x)
{
	struct sim_ep server = { ip_parse(s->p->server_ip), s->p->server_port };
	struct pkt pk = { x->local, server };

	if (route(s, x->node, &pk) != s->p->server_node)
		return;
	x->observed = pk.src;
	pk = (struct pkt){ server, x->observed };
	if (route(s, s->p->server_node, &pk) == x->node && ep_eq(pk.dst, x->local))
		x->registered = true;
}

/* The kernel's lifetime of a registration's mapping when no udp-timeout is
 * set: one request and its answer within 2 s leave a UDP conntrack entry at
 * the unreplied timeout, 30 s. */
#define SIM_KERNEL_UDP_TIMEOUT_MS 30000

/* Peer k registered, then sent nothing on UDP until its partner, started
 * start-delay later, was introduced: idle that long. None with keepalive, nor
 * without a server (fixed-port peers probe from the start). */
static uint32_t sim_idle_ms(const struct topo *t, int k)
{
	uint32_t me = t->peers[k].start_delay_ms, other = t->peers[1 - k].start_delay_ms;

	if (t->mode == MODE_FIXED_PORT || t->peers[k].keepalive || other <= me)
		return 0;
	return other - me;
}

/* The routers on x's way out forget what an idle x had: every router whose
 * UDP timeout is at most half the idle time loses its mappings and flows
 * (only x has used it so far: the later peer registers after this). What x
 * sends next makes new mappings: a new port for random or sequential ports,
 * the same one again with preserve (outbound() does both). Linux reuses the
 * port of an expired, not yet collected conntrack entry for flows to other
 * destinations when an endpoint-independent NAT picks random ports; when the
 * garbage collector runs is not predictable, so that case is refused, like
 * an idle time within a factor of two of the timeout (either side of it).
 * Returns 0, or -EINVAL with why set. */
static int sim_expire(struct sim *s, const struct topo *t, struct sim_peer *x, int k, char *why, size_t whysize)
{
	uint32_t idle = sim_idle_ms(t, k);
	int hops = 0;

	if (!idle)
		return 0;
	for (int n = s->nodes[x->node].parent; n >= 0 && s->nodes[n].kind == PLAN_ROUTER && hops++ < SIM_NODES;
	     n = s->nodes[n].parent) {
		struct sim_node *r = &s->nodes[n];
		const struct nat_behavior *b = &r->nat->behavior;
		uint32_t to = b->udp_timeout_ms ? b->udp_timeout_ms : SIM_KERNEL_UDP_TIMEOUT_MS;

		if ((uint64_t)idle * 2 <= to)
			continue; /* alive, with a margin */
		if (idle < (uint64_t)to * 2) {
			snprintf(why, whysize, "%s waits %u ms for its partner, too close to the %u ms UDP timeout "
				 "of %s to tell whether its mapping survives (keep a factor of two either way)",
				 t->peers[k].name, idle, to, r->nat->name);
			return -EINVAL;
		}
		if (translating(r) && b->mapping == MAP_EIM && b->ports == PORTS_RANDOM) {
			snprintf(why, whysize, "%s's mapping on %s expires while it waits, and whether Linux gives "
				 "its next flows the same random port again depends on when conntrack collects the "
				 "expired entry: not modelled", t->peers[k].name, r->nat->name);
			return -EINVAL;
		}
		r->n_maps = 0;
		r->n_flows = 0;
		x->expired = true;
	}
	return 0;
}

/* After an expiry: is the endpoint the server recorded for x still x's own,
 * both ways? The relay forwards only between recorded endpoints. */
static bool sim_still_registered(struct sim *s, struct sim_peer *x)
{
	struct sim_ep server = { ip_parse(s->p->server_ip), s->p->server_port };
	struct pkt pk = { x->local, server };

	if (route(s, x->node, &pk) != s->p->server_node || !ep_eq(pk.src, x->observed))
		return false;
	pk = (struct pkt){ server, x->observed };
	return route(s, s->p->server_node, &pk) == x->node && ep_eq(pk.dst, x->local);
}

/* x probes every candidate; y answers each probe it gets, to where it came from. */
static void sim_round(struct sim *s, struct sim_peer *x, struct sim_peer *y, const struct outcome_abilities *ab)
{
	for (int c = 0; c < x->n_cands; c++) {
		struct pkt pk = { x->local, x->cands[c] }, ack;
		struct sim_ep from;

		if (route(s, x->node, &pk) != y->node || !ep_eq(pk.dst, y->local))
			continue;
		from = pk.src;
		ep_add(y->probe_from, &y->n_probe_from, SIM_CANDS, from);
		if (ab->learn)
			ep_add(y->cands, &y->n_cands, SIM_CANDS, from);
		ack = (struct pkt){ y->local, from };
		if (route(s, y->node, &ack) == x->node && ep_eq(ack.dst, x->local) && ep_eq(ack.src, x->cands[c]))
			ep_add(x->acked, &x->n_acked, SIM_CANDS, x->cands[c]);
	}
}

static bool sim_direct(const struct sim_peer *x)
{
	for (int i = 0; i < x->n_acked; i++)
		if (ep_in(x->probe_from, x->n_probe_from, x->acked[i]))
			return true;
	return false;
}

static void set_why(char *why, size_t whysize, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void set_why(char *why, size_t whysize, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, whysize, fmt, ap);
	va_end(ap);
}

/* outcome_derive() on the simulation s, which it initialises. */
static int derive(struct sim *s, const struct topo *t, const struct plan *p, const struct outcome_abilities *ab,
		  enum outcome *out, char *why, size_t whysize)
{
	struct sim_peer peers[2];
	bool direct;

	/* ipv6 = yes: no router translates IPv6 (a dual-stack NAT firewalls it
	 * with its filtering: translating() is false then), and the plan is
	 * dual-stack over the same routers, whose rulesets give both families
	 * the same filtering (nat.c). The IPv4 side of the plan, walked below
	 * with every router taken as non-translating, therefore has the IPv6
	 * pair's outcome. */
	sim_init(s, t, p);
	memset(peers, 0, sizeof(peers));
	for (int k = 0; k < 2; k++) {
		peers[k].node = p->peers[k].node;
		peers[k].local.ip = ip_parse(p->peers[k].ip);
		peers[k].local.port = p->peers[k].local_port;
	}
	if (t->mode != MODE_FIXED_PORT) {
		/* The earlier peer first: its mappings may expire before the other registers. */
		int first = t->peers[1].start_delay_ms < t->peers[0].start_delay_ms ? 1 : 0;

		for (int i = 0; i < 2; i++) {
			int k = i ? 1 - first : first;

			sim_register(s, &peers[k]);
			if (sim_expire(s, t, &peers[k], k, why, whysize) < 0)
				return -EINVAL;
		}
	}
	for (int k = 0; k < 2; k++) {
		struct sim_peer *x = &peers[k], *y = &peers[1 - k];

		if (t->mode == MODE_FIXED_PORT) {
			struct sim_ep e = { ip_parse(p->peers[1 - k].public_ip), y->local.port };

			ep_add(x->cands, &x->n_cands, SIM_CANDS, e);
			continue;
		}
		if (!x->registered || !y->registered)
			continue;
		if (t->mode == MODE_ADVERTISE_LOCAL) {
			struct sim_ep e = { y->observed.ip, y->local.port };

			ep_add(x->cands, &x->n_cands, SIM_CANDS, e);
		} else {
			ep_add(x->cands, &x->n_cands, SIM_CANDS, y->observed);
		}
		if (ab->privates)
			ep_add(x->cands, &x->n_cands, SIM_CANDS, y->local);
	}
	for (int r = 0; r < SIM_ROUNDS; r++) {
		sim_round(s, &peers[0], &peers[1], ab);
		sim_round(s, &peers[1], &peers[0], ab);
	}
	for (int i = 0; i < s->n; i++)
		if (s->nodes[i].overflow) {
			set_why(why, whysize, "too many mappings on %s: not modelled", p->nodes[i].name);
			return -EINVAL;
		}
	direct = sim_direct(&peers[0]) && sim_direct(&peers[1]);
	for (int k = 0; k < 2; k++)
		if (!direct && peers[k].expired && peers[k].registered && !sim_still_registered(s, &peers[k])) {
			/* The server introduced a dead endpoint, and relays only to it. */
			peers[k].registered = false;
			set_why(why, whysize, "%s's mapping expired while it waited for its partner; its new one is "
				"not the endpoint the server saw, so neither a direct path nor the relay reaches it",
				t->peers[k].name);
			*out = OUTCOME_FAILED;
			return 0;
		}
	if (direct) {
		*out = OUTCOME_DIRECT;
		set_why(why, whysize, "each peer's probes reach the other and are answered on the same endpoints");
		return 0;
	}
	if (t->mode != MODE_FIXED_PORT && t->relay && peers[0].registered && peers[1].registered) {
		*out = OUTCOME_RELAYED;
		set_why(why, whysize, "no endpoint pair passes both routers' mapping and filtering; the server relays");
		return 0;
	}
	*out = OUTCOME_FAILED;
	if (t->mode == MODE_FIXED_PORT)
		set_why(why, whysize, "the fixed ports do not get through both routers, and there is no server to relay");
	else if (!peers[0].registered || !peers[1].registered)
		set_why(why, whysize, "%s cannot reach the server over UDP",
			!peers[0].registered ? t->peers[0].name : t->peers[1].name);
	else
		set_why(why, whysize, "no direct path, and relaying is off");
	return 0;
}

/* rebind-after, with the built-in pair. RFC 4787 has no word for a NAT that
 * moves a mapping in use; to the hosts it is the mapping lost and a new one
 * made: the next outbound packet of the flow finds no mapping and gets a new
 * one (section 4.1) on a new port (the old one is still busy). Then:
 *  - the partner still sends to the old external endpoint, which no mapping
 *    holds any more: dropped (or refused with ICMP), whatever the filtering;
 *  - the partner's NAT admits the peer's packets from the new port only if it
 *    filters endpoint-independently, or address-dependently (same address);
 *    address-and-port-dependent filtering drops them (section 5);
 *  - punch-client follows a partner's new source only while it punches, not
 *    once it has chosen a path, and the server relays only between the
 *    endpoints it recorded.
 * So a rebind that falls while the pair punches, exchanges its messages or
 * relays breaks it, and whether it falls there or after the exchange is done
 * is the machine's speed (the pair is done in milliseconds when unloaded):
 * not derivable, refused. A rebind after the pair's time limit (the clients'
 * --timeout), with a second's margin for a loaded machine's late start,
 * cannot change what the pair did: the outcome is the one without it (and
 * the runner does not rebind a router once the programs are gone).
 * Returns 0, or -EINVAL with why set. */
#define OUTCOME_REBIND_MARGIN_MS 1000

static int rebind_outside_pair(const struct topo *t, char *why, size_t whysize)
{
	uint32_t punch_ms, limit_ms;

	topo_client_timeouts(t, &punch_ms, &limit_ms);
	for (int i = 0; i < t->n_nats; i++) {
		uint32_t at = t->nats[i].rebind_after_ms;

		if (at && at < limit_ms + OUTCOME_REBIND_MARGIN_MS) {
			snprintf(why, whysize, "%s rebinds %u ms in, within the pair's %u ms and a second: whether "
				 "the pair is done first is the machine's speed (not modelled); give rebind-after >= "
				 "%u ms, or expect and expect-why", t->nats[i].name, (unsigned)at, (unsigned)limit_ms,
				 (unsigned)(limit_ms + OUTCOME_REBIND_MARGIN_MS));
			return -EINVAL;
		}
	}
	return 0;
}

int outcome_derive(const struct topo *t, const struct plan *p, const struct outcome_abilities *ab,
		  enum outcome *out, char *why, size_t whysize)
{
	struct sim *s;
	int rc;

	*out = OUTCOME_UNSET;
	if (rebind_outside_pair(t, why, whysize) < 0)
		return -EINVAL;
	if (p->n_nodes > SIM_NODES) {
		set_why(why, whysize, "more than %d nodes: not modelled", SIM_NODES);
		return -EINVAL;
	}
	/* Large (mappings for every router): on the heap, one per call, so that
	 * derivations need not take turns. */
	s = calloc(1, sizeof(*s));
	if (!s) {
		set_why(why, whysize, "out of memory");
		return -ENOMEM;
	}
	rc = derive(s, t, p, ab, out, why, whysize);
	free(s);
	return rc;
}
