#include "model/outcome.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/defaults.h"
#include "client/predict.h"
#include "model/nat.h"
#include "model/topo.h"

const struct outcome_abilities outcome_punch_client = { .learn = true, .privates = true, .tcp_retry = true };

#define SIM_MAPS 64
#define SIM_CONTACTS 16
#define SIM_CANDS 32
#define SIM_PREDICTED 16 /* --predict sequential: the first predicted ports the simulation probes */
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
	uint32_t ip2;           /* the server's second address (predict), else 0 */
	int parent;             /* segment owner: inet or a router; -1 for inet */
	const struct topo_nat *nat;
	bool v6;                /* ipv6 = yes: the pair's packets are IPv6 */
	struct sim_map maps[SIM_MAPS];
	int n_maps;
	struct sim_flow flows[SIM_MAPS];
	int n_flows;
	uint16_t next_port;
	unsigned lo, hi, step;  /* ports = sequential: the range and the step */
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
	bool registered2;       /* predict: also registered at the server's second address */
	struct sim_ep observed2;
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
		if (s->nodes[i].parent == seg && (s->nodes[i].ip == ip || (s->nodes[i].ip2 && s->nodes[i].ip2 == ip)))
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

/* ports = sequential: the next free port from port-start (the range's
 * lowest when not declared) by port-step, round the range, as the
 * generated ruleset's pool hands them out (nat.c nat_port_pool()). Where
 * the run starts does not matter when the start is not declared: only the
 * differences between ports do, and the model refuses a prediction that
 * could wrap differently from the NAT (seq_predict()). */
static uint16_t next_sequential(struct sim_node *r)
{
	unsigned n = r->hi - r->lo + 1;

	for (unsigned tries = 0; tries < n; tries++) {
		uint16_t p = r->next_port;

		r->next_port = (uint16_t)(r->lo + (r->next_port - r->lo + r->step) % n);
		if (!port_used(r, p))
			return p;
	}
	r->overflow = true;
	return r->next_port;
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
		else if (b->ports == PORTS_SEQUENTIAL)
			m->ext = next_sequential(r);
		else
			/* random, block, or a preserving NAT whose port is taken: a new
			 * port the peer cannot know (prediction's chance of meeting it
			 * is worked out apart: seq_predict(), birthday_predict()). */
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
		if (n->kind == PLAN_ROUTER) {
			n->nat = &t->nats[p->nodes[i].index];
			nat_port_range(&n->nat->behavior, &n->lo, &n->hi);
			n->step = n->nat->behavior.port_step ? n->nat->behavior.port_step : 1;
			if (n->nat->behavior.ports == PORTS_SEQUENTIAL)
				n->next_port = (uint16_t)(n->nat->behavior.port_start ? n->nat->behavior.port_start : n->lo);
		}
	}
	if (t->predict && p->server_node >= 0 && p->server_node < p->n_nodes)
		s->nodes[p->server_node].ip2 = ip_parse(p->server_ip2);
	for (int k = 0; k < p->n_links; k++)
		s->nodes[p->links[k].b].parent = p->links[k].a;
}

/* One registration round trip from x to server: the request must arrive, and
 * the answer to the source the server saw (*seen) come back to x's socket. */
static bool sim_round_trip(struct sim *s, const struct sim_peer *x, struct sim_ep server, struct sim_ep *seen)
{
	struct pkt pk = { x->local, server };

	if (route(s, x->node, &pk) != s->p->server_node)
		return false;
	*seen = pk.src;
	pk = (struct pkt){ server, *seen };
	return route(s, s->p->server_node, &pk) == x->node && ep_eq(pk.dst, x->local);
}

/* Register with the server. */
static void sim_register(struct sim *s, struct sim_peer *x)
{
	struct sim_ep server = { ip_parse(s->p->server_ip), s->p->server_port };

	x->registered = sim_round_trip(s, x, server, &x->observed);
}

/* predict: once registered, register at the server's second address too,
 * from the same socket (punch-client --server2): the two observed ports
 * show the NAT's step. */
static void sim_register2(struct sim *s, struct sim_peer *x)
{
	struct sim_ep server2;

	if (!x->registered || s->p->server_node < 0 || !(server2.ip = s->nodes[s->p->server_node].ip2))
		return;
	server2.port = s->p->server_port;
	x->registered2 = sim_round_trip(s, x, server2, &x->observed2);
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
	struct sim_ep server = { ip_parse(s->p->server_ip), s->p->server_port }, seen;

	return sim_round_trip(s, x, server, &seen) && ep_eq(seen, x->observed);
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

/* ---- Port prediction (punch-client --predict, client/predict.h) ----
 *
 * What the client does, in the model's terms. Each peer registers at the
 * server's two addresses from one socket; the difference of the two observed
 * ports is its NAT's step (0 for an endpoint-independent mapping), which the
 * server passes to the partner.
 *
 * sequential: a peer whose partner's step is not 0 also probes the partner's
 * address at the next ports, second observation + step, + 2 step, ... (n of
 * them, wrapped in the client's range). The simulation adds those
 * candidates and lets the NAT of the partner allocate its ports by its
 * declared start and step, so whether the partner's mapping towards us lands
 * on a predicted port comes out of the same rounds as everything else. A
 * NAT that draws ports afresh (random, preserve's second mapping, block) is
 * met only by chance: under 1% is taken as a miss, more is refused.
 *
 * birthday: the side whose step is 0 (easy) aims at n ports drawn uniformly,
 * without repeats, from the client's range C (predict-range, default
 * 1024-65535); the other (hard) opens n more sockets, each sending to the
 * easy side's observed endpoint, so that with its first socket m = n + 1 of
 * its NAT's mappings point at the easy side. The generated ruleset hands out
 * a uniform sample of the NAT's port-range R without replacement (nat.c
 * nat_port_pool()), so those m ports are, whatever else the NAT allocated
 * (registrations, a probe to a private address), a uniform m-subset of R,
 * independent of the easy side's draw. One common port is a path: the easy
 * side's datagram to it opened its own filter for that endpoint, and the
 * hard NAT's mapping there was made towards the easy side. Let c = |C|,
 * r = |R|, o = |C & R| and j the easy ports that fall in R, hypergeometric:
 *     P(j) = C(o, j) C(c - o, n - j) / C(c, n)
 * Given j, none of them is one of the m (the hypergeometric chance of no
 * common element of a j-subset and an m-subset of r):
 *     P(miss | j) = C(r - m, j) / C(r, j) = prod_{i<j} (r - m - i) / (r - i)
 * and so
 *     P(direct) = 1 - sum_j P(j) P(miss | j)
 * With C = R this is predict_birthday_p(n, m, r), ~ 1 - exp(-n m / r). It
 * assumes that the easy side's first pass and the hard side's sockets are
 * all out before either relays (the lab's punch timeout allows for both
 * passes of the budget: topo_predict_ms()), and no loss. */

double outcome_birthday_p(unsigned n, unsigned m, unsigned c_lo, unsigned c_hi, unsigned r_lo, unsigned r_hi)
{
	unsigned c, r, o, lo, hi;
	double miss = 0, lcn;

	if (c_lo > c_hi || r_lo > r_hi || !n || !m)
		return 0;
	c = c_hi - c_lo + 1;
	r = r_hi - r_lo + 1;
	lo = c_lo > r_lo ? c_lo : r_lo;
	hi = c_hi < r_hi ? c_hi : r_hi;
	o = lo <= hi ? hi - lo + 1 : 0;
	if (n > c)
		n = c; /* the client draws at most its whole range */
	if (m > r)
		m = r;
	lcn = lgamma(c + 1.0) - lgamma(n + 1.0) - lgamma(c - n + 1.0);
	for (unsigned j = 0; j <= n && j <= o; j++) {
		double lpj, lmiss = 0;

		if (n - j > c - o)
			continue;
		if (j + m > r)
			continue; /* j ports of r cannot all avoid m of them */
		lpj = lgamma(o + 1.0) - lgamma(j + 1.0) - lgamma(o - j + 1.0) + lgamma(c - o + 1.0) -
		      lgamma(n - j + 1.0) - lgamma(c - o - (n - j) + 1.0) - lcn;
		for (unsigned i = 0; i < j; i++)
			lmiss += log((double)(r - m - i)) - log((double)(r - i));
		miss += exp(lpj + lmiss);
	}
	return miss >= 1 ? 0 : 1 - miss;
}

/* The one translating router on peer k's way out whose mapping depends on
 * the destination (*hard, -1: none), and how many translate (*nats). */
static void peer_nats(const struct topo *t, int k, int *hard, int *nats)
{
	*hard = -1;
	*nats = 0;
	for (int n = t->peers[k].behind, hops = 0; n >= 0 && hops <= t->n_nats; n = t->nats[n].uplink, hops++) {
		if (!t->nats[n].nat)
			continue;
		(*nats)++;
		if (t->nats[n].behavior.mapping != MAP_EIM)
			*hard = n;
	}
}

/* The ports the client predicts within: predict-range or its default. */
static void client_range(const struct topo *t, unsigned *lo, unsigned *hi)
{
	*lo = t->predict_lo ? t->predict_lo : CLIENT_PREDICT_LO;
	*hi = t->predict_lo ? t->predict_hi : CLIENT_PREDICT_HI;
}

/* Each peer's step as the server saw it (0: not registered twice). */
static void peer_steps(const struct sim_peer peers[2], int steps[2])
{
	for (int k = 0; k < 2; k++)
		steps[k] = peers[k].registered && peers[k].registered2
				   ? predict_step(peers[k].observed.port, peers[k].observed2.port)
				   : 0;
}

/* The only hard peer's NAT, with nested NATs refused. Returns its index,
 * or -EINVAL with why set. */
static int hard_nat(const struct topo *t, int k, char *why, size_t whysize)
{
	int hard, nats;

	peer_nats(t, k, &hard, &nats);
	if (hard < 0 || nats != 1) {
		set_why(why, whysize, "%s's port step comes from %d translating routers: prediction through nested "
			"NATs is not modelled", t->peers[k].name, nats);
		return -EINVAL;
	}
	return hard;
}

/* predict = sequential: add each peer's predicted candidates (see above).
 * note receives why a prediction misses. Returns 0, or -EINVAL with why set. */
static int seq_predict(const struct topo *t, struct sim_peer peers[2], char *note, size_t notesize, char *why,
		       size_t whysize)
{
	unsigned clo, chi, rlo, rhi, n = topo_predict_ports(t);
	int steps[2];

	client_range(t, &clo, &chi);
	peer_steps(peers, steps);
	if (steps[0] && steps[1]) {
		set_why(why, whysize, "both peers' NATs map per destination: whether their sequential predictions meet "
			"depends on the order of their probes: not modelled");
		return -EINVAL;
	}
	for (int k = 0; k < 2; k++) {
		struct sim_peer *x = &peers[k], *y = &peers[1 - k];
		const struct nat_behavior *b;
		uint16_t ports[SIM_PREDICTED];
		size_t got;
		int h;

		if (!steps[1 - k] || !x->registered)
			continue;
		if ((h = hard_nat(t, 1 - k, why, whysize)) < 0)
			return h;
		b = &t->nats[h].behavior;
		nat_port_range(b, &rlo, &rhi);
		if (b->ports != PORTS_SEQUENTIAL) {
			/* A port drawn afresh from size ports is one of n predictions
			 * with a chance of about n / size. */
			unsigned size = b->ports == PORTS_BLOCK ? (b->block_size ? b->block_size : NAT_BLOCK_SIZE_DEFAULT)
								: rhi - rlo + 1;
			double chance = size > 3 ? (double)n / (size - 3) : 1;

			if (chance > 0.01) {
				set_why(why, whysize, "%s's NAT %s hands out %s ports among %u: the %u sequential "
					"predictions meet its mapping with a chance of about %.2g: not modelled",
					t->peers[1 - k].name, t->nats[h].name, nat_ports_name(b->ports), size, n, chance);
				return -EINVAL;
			}
			set_why(note, notesize, "%s's NAT %s hands out %s ports: %s's %u sequential predictions meet "
				"its mapping with a chance under %.2g, taken as a miss",
				t->peers[1 - k].name, t->nats[h].name, nat_ports_name(b->ports), t->peers[k].name, n,
				chance);
			continue;
		}
		if (!b->port_start && (rlo != clo || rhi != chi)) {
			set_why(why, whysize, "%s's NAT %s wraps its ports in %u-%u and the client predicts in %u-%u: "
				"where it starts decides the outcome (give port-start, or predict-range = %u-%u)",
				t->peers[1 - k].name, t->nats[h].name, rlo, rhi, clo, chi, rlo, rhi);
			return -EINVAL;
		}
		/* The client's own arithmetic (predict.c): the next ports after
		 * the second observation. The first few decide: the partner's
		 * mapping towards us is among its next allocations. */
		got = predict_sequential(y->observed2.port, steps[1 - k], n < SIM_PREDICTED ? n : SIM_PREDICTED,
					 (uint16_t)clo, (uint16_t)chi, ports);
		for (size_t i = 0; i < got; i++)
			ep_add(x->cands, &x->n_cands, SIM_CANDS, (struct sim_ep){ y->observed.ip, ports[i] });
		set_why(note, notesize, "%s also probes %s's next %u ports by the step %d of %s (sequential)",
			t->peers[k].name, t->peers[1 - k].name, n, steps[1 - k], t->nats[h].name);
	}
	return 0;
}

static bool lossy(const struct topo *t)
{
	for (int i = 0; i < t->n_nats; i++)
		if (t->nats[i].uplink_impair.loss_ppm)
			return true;
	for (int k = 0; k < t->n_peers; k++)
		if (t->peers[k].uplink_impair.loss_ppm)
			return true;
	return false;
}

/* predict = birthday, when the simulation found no direct path: the
 * chance that the two sides' ports meet (see above). Sets *rate and
 * *direct when they may; note says why. Returns 0, or -EINVAL with why set. */
static int birthday_predict(const struct topo *t, const struct sim_peer peers[2], bool *direct, double *rate,
			    char *note, size_t notesize, char *why, size_t whysize)
{
	unsigned clo, chi, rlo, rhi, n = topo_predict_ports(t);
	uint32_t punch_ms, limit_ms;
	const struct nat_behavior *b;
	int steps[2], hard, easy, h;
	double pr;

	peer_steps(peers, steps);
	if (!steps[0] && !steps[1])
		return 0; /* nothing maps per destination: the simulation's outcome stands */
	if (steps[0] && steps[1]) {
		set_why(note, notesize, "both NATs map per destination: with --predict birthday each side opens "
			"sockets and neither aims at ports, so nothing meets");
		return 0;
	}
	hard = steps[0] ? 0 : 1;
	easy = 1 - hard;
	if ((h = hard_nat(t, hard, why, whysize)) < 0)
		return h;
	b = &t->nats[h].behavior;
	if (b->ports != PORTS_RANDOM) {
		set_why(why, whysize, "birthday against %s's NAT %s with ports = %s: the formula needs ports drawn "
			"uniformly from the range (ports = random)", t->peers[hard].name, t->nats[h].name,
			nat_ports_name(b->ports));
		return -EINVAL;
	}
	if (lossy(t)) {
		set_why(why, whysize, "birthday with loss: which probes arrive changes the chance; not modelled");
		return -EINVAL;
	}
	topo_client_timeouts(t, &punch_ms, &limit_ms);
	if (punch_ms < topo_predict_ms(t) || limit_ms < punch_ms) {
		set_why(why, whysize, "punch-timeout %u ms (time limit %u ms) is shorter than the prediction's two "
			"passes, %u ms at %d probes/s: how many go out before relaying is not modelled",
			punch_ms, limit_ms, topo_predict_ms(t), CLIENT_PREDICT_RATE);
		return -EINVAL;
	}
	client_range(t, &clo, &chi);
	nat_port_range(b, &rlo, &rhi);
	pr = outcome_birthday_p(n, n + 1, clo, chi, rlo, rhi);
	if (pr <= 0) {
		set_why(note, notesize, "%s aims at %u-%u and %s's NAT %s hands out %u-%u: they never meet", t->peers[easy].name, clo, chi, t->peers[hard].name, t->nats[h].name, rlo, rhi);
		return 0;
	}
	*direct = true;
	*rate = pr;
	set_why(note, notesize, "birthday: %s aims at %u random ports of %u-%u; %s's NAT %s gives his %u "
		"mappings towards %s random ports of %u-%u: one in both is a path, P = %.7g (a miss %.2g)",
		t->peers[easy].name, n, clo, chi, t->peers[hard].name, t->nats[h].name, n + 1, t->peers[easy].name,
		rlo, rhi, pr, 1 - pr);
	return 0;
}

/* outcome_derive() on the simulation s, which it initialises. */
static int derive(struct sim *s, const struct topo *t, const struct plan *p, const struct outcome_abilities *ab,
		  enum outcome *out, double *rate, char *why, size_t whysize)
{
	struct sim_peer peers[2];
	char note[256] = "";
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
			if (t->predict)
				sim_register2(s, &peers[k]);
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
	if (t->predict == PREDICT_SEQUENTIAL && seq_predict(t, peers, note, sizeof(note), why, whysize) < 0)
		return -EINVAL;
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
	if (!direct && t->predict == PREDICT_BIRTHDAY &&
	    birthday_predict(t, peers, &direct, rate, note, sizeof(note), why, whysize) < 0)
		return -EINVAL;
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
		if (*rate < 1) /* the birthday note says it all */
			set_why(why, whysize, "%s", note);
		else
			set_why(why, whysize, "%s%seach peer's probes reach the other and are answered on the same "
				"endpoints", note, *note ? "; " : "");
		return 0;
	}
	if (t->mode != MODE_FIXED_PORT && t->relay && peers[0].registered && peers[1].registered) {
		*out = OUTCOME_RELAYED;
		set_why(why, whysize, "%s%sno endpoint pair passes both routers' mapping and filtering; the server relays",
			note, *note ? "; " : "");
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

/* The kernel's established TCP timeout (nf_conntrack_tcp_timeout_established). */
#define SIM_KERNEL_TCP_TIMEOUT_MS (432000U * 1000U)

/* Does a router with behaviour b refuse a partner's early SYN out loud? */
static bool tcp_refuses(const struct nat_behavior *b)
{
	enum nat_filtering f = nat_tcp_filtering(b);

	return b->tcp_unsolicited != TCP_UNSOL_DROP && (f == FILTER_ADF || f == FILTER_APDF);
}

/* Is router i between peer k and the internet? */
static bool tcp_on_path_of(const struct topo *t, int k, int i)
{
	for (int n = t->peers[k].behind, hops = 0; n >= 0 && hops <= t->n_nats; hops++, n = t->nats[n].uplink)
		if (n == i)
			return true;
	return false;
}

/* Is router i between a peer and the internet? */
static bool tcp_on_path(const struct topo *t, int i)
{
	return t->n_peers >= 2 && (tcp_on_path_of(t, 0, i) || tcp_on_path_of(t, 1, i));
}

/* The peer whose way out alone crosses router i (0 or 1), or -1: neither
 * peer's, or both (SYNs between two hosts behind one router do not cross it
 * from outside). */
static int tcp_side_of(const struct topo *t, int i)
{
	bool a, b;

	if (t->n_peers < 2)
		return -1;
	a = tcp_on_path_of(t, 0, i);
	b = tcp_on_path_of(t, 1, i);
	return a == b ? -1 : a ? 0 : 1;
}

/* Does a router on peer k's side alone refuse SYNs out loud? */
static bool tcp_side_refuses(const struct topo *t, int k)
{
	for (int i = 0; i < t->n_nats; i++)
		if (tcp_side_of(t, i) == k && tcp_refuses(&t->nats[i].behavior))
			return true;
	return false;
}

static int tcp_prepare(const struct topo *t, const struct outcome_abilities *ab, struct topo *tt,
		       struct topo_nat *nats, char *why, size_t whysize)
{
	*tt = *t;
	tt->nats = nats;
	for (int i = 0; i < t->n_nats; i++) {
		struct nat_behavior *b = &nats[i].behavior;

		nats[i] = t->nats[i];
		if (b->udp_blocked && tcp_on_path(t, i)) {
			set_why(why, whysize, "%s blocks UDP and transport = tcp: TCP passes where the UDP relay "
				"cannot, not modelled", t->nats[i].name);
			return -EINVAL;
		}
		if (tcp_refuses(b) && tcp_side_of(t, i) >= 0 &&
		    (!ab->tcp_retry || b->tcp_unsolicited == TCP_UNSOL_ICMP)) {
			set_why(why, whysize, "%s answers an unsolicited SYN at once %s: which SYN leaves first "
				"decides, not modelled", t->nats[i].name, ab->tcp_retry ? "with ICMP, which leaves "
				"the far connection half-open" : "and the client does not connect again");
			return -EINVAL;
		}
		b->mapping = nat_tcp_mapping(b);
		b->filtering = nat_tcp_filtering(b);
		b->inbound_reply = INBOUND_REPLY_SESSION;
		b->hairpin = false; /* hairpinning is built for UDP only (nat.c) */
		b->udp_timeout_ms = b->tcp_timeout_ms ? b->tcp_timeout_ms : SIM_KERNEL_TCP_TIMEOUT_MS;
	}
	return 0;
}

/* transport = tcp (RFC 5382). TCP hole punching is simultaneous open (RFC 793
 * section 3.4, RFC 5382 section 5): each client connect()s from the port its
 * control connection to the server left from, to the endpoint the server saw
 * for the partner's control connection, and keeps a listener on that port.
 * It is UDP hole punching with a SYN as the probe and the SYN-ACK as its
 * answer, so it is derived by the same simulation over each router's TCP
 * behaviour:
 * - mapping and filtering: tcp-mapping and tcp-filtering (UDP's unless
 *   declared apart). REQ-1 asks for endpoint-independent mapping: then the
 *   SYN to the partner leaves from the port the server saw. With an
 *   endpoint-dependent mapping it leaves from another port, the partner's SYN
 *   goes to one mapped for the server only, and no connection forms.
 * - filtering applies to the SYN: APDF admits the partner's SYN once our own
 *   SYN to it has left (conntrack takes it as the answer: simultaneous open);
 *   EIF and ADF also admit an earlier one, which the listener accepts.
 * - a reply to an admitted SYN is its SYN-ACK, on the connection the SYN
 *   made: always inbound-reply = session.
 * - the relay is UDP's, and TCP is not blocked where UDP is: a lab with
 *   block-udp is not modelled (the relay would be unreachable while TCP passes).
 * - an unsolicited SYN answered at once (tcp-unsolicited = rst or icmp,
 *   against REQ-4's 6 s of silence) by a router whose filtering refuses the
 *   partner's early SYN (ADF, APDF) aborts the connect() of whichever side's
 *   SYN came first (tcp_refuses()). With a RST the refused side's own router
 *   sees the RST and closes its connection, so the partner's SYN that follows
 *   is no answer to anything there:
 *   - one side refuses loudly: the quiet side drops the partner's SYN, the
 *     partner's socket keeps retransmitting it, and a client that connects
 *     again at its next probe (tcp_retry, punch-client) crosses it once both
 *     SYNs have left: the outcome of drop.
 *   - both sides refuse loudly: each side's SYN is answered with a RST by the
 *     other's router, whose own connection the earlier RST closed, round after
 *     round; only two connect()s within one round trip of each other cross
 *     (the first ones may: both clients are introduced at once). relayed, as
 *     in most runs but not all: a scenario of two such routers declares an
 *     expect-rate (tests/lab/data/tcp-rst-vs-rst.topo).
 *   - ICMP leaves the refused side's router with a half-open connection, and
 *   whether the partner's SYN meets a new connect() or the listener is a race
 *   (measured both ways): not modelled. So is a client that gives up after a
 *   refused SYN (no tcp_retry): which SYN leaves first decides.
 * - the idle time a peer waits for its partner is held against the
 *   established timeout (tcp-timeout, else the kernel's 5 days). */

/* outcome_derive() for transport = tcp: the simulation over a copy of the
 * topology whose routers behave as they do for TCP (tcp_prepare()). */
static int outcome_tcp(struct sim *s, const struct topo *t, const struct plan *p,
		       const struct outcome_abilities *ab, enum outcome *out, double *rate, char *why, size_t whysize)
{
	struct topo tt;
	struct topo_nat *nats = calloc(t->n_nats ? (size_t)t->n_nats : 1, sizeof(*nats));
	int rc;

	if (!nats) {
		set_why(why, whysize, "out of memory");
		return -ENOMEM;
	}
	rc = tcp_prepare(t, ab, &tt, nats, why, whysize);
	if (rc == 0)
		rc = derive(s, &tt, p, ab, out, rate, why, whysize);
	free(nats);
	if (rc == 0 && *out == OUTCOME_DIRECT && tcp_side_refuses(t, 0) && tcp_side_refuses(t, 1)) {
		bool relay = t->mode != MODE_FIXED_PORT && t->relay;

		*out = relay ? OUTCOME_RELAYED : OUTCOME_FAILED;
		set_why(why, whysize, "both sides' routers answer an unsolicited SYN with a RST at once (RFC 5382 "
			"REQ-4 asks for 6 s of silence): each SYN is refused by the other's router, whose own "
			"connection the earlier RST closed (unless two connects cross within a round trip: a race)%s",
			relay ? "; the server relays" : ", and there is no relay");
	}
	return rc;
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
	double rate;

	return outcome_derive_rate(t, p, ab, out, &rate, why, whysize);
}

double outcome_topo_rate(const struct topo *t)
{
	struct plan *p = NULL;
	enum outcome o;
	double rate = 0;
	char buf[256];

	if (t->expect_rate > 0)
		return t->expect_rate;
	if (t->predict != PREDICT_BIRTHDAY || plan_build(t, &p, buf, sizeof(buf)) < 0)
		return 0;
	/* An expectation written over the derived one (expect-why) is not
	 * the derived one's rate: every run must then end as written. */
	if (outcome_derive_rate(t, p, &outcome_punch_client, &o, &rate, buf, sizeof(buf)) < 0 || rate >= 1 ||
	    (t->expect != OUTCOME_UNSET && t->expect != o))
		rate = 0;
	plan_free(p);
	return rate;
}

int outcome_derive_rate(const struct topo *t, const struct plan *p, const struct outcome_abilities *ab,
			enum outcome *out, double *rate, char *why, size_t whysize)
{
	struct sim *s;
	int rc;

	*out = OUTCOME_UNSET;
	if (rebind_outside_pair(t, why, whysize) < 0)
		return -EINVAL;
	*rate = 1;
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
	rc = t->tcp ? outcome_tcp(s, t, p, ab, out, rate, why, whysize)
		    : derive(s, t, p, ab, out, rate, why, whysize);
	free(s);
	return rc;
}
