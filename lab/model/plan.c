#include "model/plan.h"
#include "common/cidr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SERVER_PORT 3478
#define PEER_PORT_BASE 40001

struct subnet {
	uint32_t base; /* host byte order */
	int prefix;
};

static void plan_err(char *err, size_t errsize, const struct topo *t, int line, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static void plan_err(char *err, size_t errsize, const struct topo *t, int line, const char *fmt, ...)
{
	va_list ap;
	int n;

	n = snprintf(err, errsize, "%s:%d: ", t->path ? t->path : "topology", line);
	if (n < 0 || (size_t)n >= errsize)
		return;
	va_start(ap, fmt);
	vsnprintf(err + n, errsize - (size_t)n, fmt, ap);
	va_end(ap);
}

/* "ADDR/PREFIX" with the parser's IPv4 prefix range, 8 to 30. */
static int subnet_parse(const char *s, struct subnet *sn)
{
	struct cidr c;
	uint32_t a;

	if (cidr_parse(s, AF_INET, 0, &c) < 0 || c.plen < 8 || c.plen > 30)
		return -EINVAL;
	memcpy(&a, c.a, sizeof(a));
	sn->prefix = c.plen;
	sn->base = ntohl(a) & (0xffffffffu << (32 - c.plen));
	return 0;
}

static void ip_fmt(uint32_t ip, char *buf, size_t size)
{
	struct in_addr a = { .s_addr = htonl(ip) };

	inet_ntop(AF_INET, &a, buf, (socklen_t)size);
}

/* Host number h of the subnet as "a.b.c.d/prefix" (cidr) or "a.b.c.d" (ip);
 * -ERANGE when h does not fit. */
static int subnet_host(const struct subnet *sn, uint32_t h, char *ip, char *cidr)
{
	uint32_t size = 1u << (32 - sn->prefix);

	if (h == 0 || h >= size - 1)
		return -ERANGE;
	ip_fmt(sn->base + h, ip, PLAN_ADDR);
	snprintf(cidr, PLAN_ADDR, "%s/%d", ip, sn->prefix);
	return 0;
}

/* A user-given address: must lie inside the segment's subnet. */
static int subnet_given(const struct subnet *sn, const char *given, char *ip, char *cidr)
{
	struct in_addr a;
	uint32_t h, mask = 0xffffffffu << (32 - sn->prefix);

	if (inet_pton(AF_INET, given, &a) != 1)
		return -EINVAL;
	h = ntohl(a.s_addr);
	if ((h & mask) != sn->base)
		return -ERANGE;
	return subnet_host(sn, h - sn->base, ip, cidr);
}

static void subnet_fmt(const struct subnet *sn, char *buf)
{
	char ip[INET_ADDRSTRLEN];

	ip_fmt(sn->base, ip, sizeof(ip));
	snprintf(buf, PLAN_ADDR, "%s/%d", ip, sn->prefix);
}

/* ---- IPv6 (ipv6 = yes): the same segments, dual-stack ---- */

struct subnet6 {
	uint8_t base[16];
	int prefix;
};

static bool is_v6(const char *s)
{
	return s && strchr(s, ':');
}

/* "ADDR/PREFIX" with the parser's IPv6 prefix range, 16 to 126. */
static int subnet6_parse(const char *s, struct subnet6 *sn)
{
	struct cidr c;

	if (cidr_parse(s, AF_INET6, 0, &c) < 0 || c.plen < 16 || c.plen > 126)
		return -EINVAL;
	memcpy(sn->base, c.a, sizeof(sn->base));
	sn->prefix = c.plen;
	for (int i = sn->prefix; i < 128; i++)
		sn->base[i / 8] &= (uint8_t)~(0x80 >> (i % 8));
	return 0;
}

static bool subnet6_contains(const struct subnet6 *sn, const uint8_t a[16])
{
	for (int i = 0; i < sn->prefix; i++)
		if (((sn->base[i / 8] ^ a[i / 8]) >> (7 - i % 8)) & 1)
			return false;
	return true;
}

static bool subnet6_overlap(const struct subnet6 *a, const struct subnet6 *b)
{
	return subnet6_contains(a->prefix < b->prefix ? a : b, a->prefix < b->prefix ? b->base : a->base);
}

static void subnet6_fmt(const struct subnet6 *sn, char *buf)
{
	char ip[INET6_ADDRSTRLEN];

	inet_ntop(AF_INET6, sn->base, ip, sizeof(ip));
	snprintf(buf, PLAN_ADDR, "%s/%d", ip, sn->prefix);
}

static void ip6_out(const uint8_t a[16], const struct subnet6 *sn, char *ip, char *cidr)
{
	inet_ntop(AF_INET6, a, ip, PLAN_ADDR);
	if (snprintf(cidr, PLAN_ADDR, "%s/%d", ip, sn->prefix) >= PLAN_ADDR)
		cidr[0] = '\0'; /* cannot happen: at most 39 + 4 characters */
}

/* Host number h (in the low 64 bits) of the subnet; -ERANGE when it does not fit. */
static int subnet6_host(const struct subnet6 *sn, uint64_t h, char *ip, char *cidr)
{
	int hostbits = 128 - sn->prefix;
	uint8_t a[16];

	if (h == 0 || (hostbits < 64 && h >> hostbits))
		return -ERANGE;
	memcpy(a, sn->base, sizeof(a));
	for (int i = 15; i >= 8; i--, h >>= 8)
		a[i] |= (uint8_t)(h & 0xff); /* the host bits of base are zero */
	ip6_out(a, sn, ip, cidr);
	return 0;
}

/* A user-given IPv6 address: inside the subnet, not its subnet-router anycast (all-zero host) address. */
static int subnet6_given(const struct subnet6 *sn, const char *given, char *ip, char *cidr)
{
	uint8_t a[16];

	if (inet_pton(AF_INET6, given, a) != 1)
		return -EINVAL;
	if (!subnet6_contains(sn, a) || memcmp(a, sn->base, sizeof(a)) == 0)
		return -ERANGE;
	ip6_out(a, sn, ip, cidr);
	return 0;
}

/* IPv4 host number 10 becomes IPv6 host 0x10, so that 203.0.113.10 is 2001:db8::10. */
static uint64_t host6_of(uint32_t h)
{
	uint64_t v = 0, scale = 1;

	do {
		v += (uint64_t)(h % 10) * scale;
		scale *= 16;
		h /= 10;
	} while (h);
	return v;
}

static bool ip6_equal(const char *a, const char *b)
{
	uint8_t x[16], y[16];

	return inet_pton(AF_INET6, a, x) == 1 && inet_pton(AF_INET6, b, y) == 1 && memcmp(x, y, 16) == 0;
}

/* Is this IPv6 address written in the file, or already some node's? */
static bool ip6_taken(const struct plan *p, const struct topo *t, int ni, const char *ip)
{
	if (ip6_equal(t->server.addr, ip) || ip6_equal(t->server.addr2, ip))
		return true;
	for (int k = 0; k < t->n_nats; k++)
		if (ip6_equal(t->nats[k].wan_addr, ip))
			return true;
	for (int k = 0; k < t->n_peers; k++)
		if (ip6_equal(t->peers[k].addr, ip))
			return true;
	for (int i = 0; i < p->n_nodes; i++)
		if (i != ni && (ip6_equal(p->nodes[i].ip6, ip) || ip6_equal(p->nodes[i].ip2_6, ip)))
			return true;
	return false;
}

static struct plan_node *node_add(struct plan *p, const char *prefix, const char *name,
				  enum plan_kind kind, int index)
{
	struct plan_node *n = &p->nodes[p->n_nodes++];

	memset(n, 0, sizeof(*n));
	snprintf(n->name, sizeof(n->name), "%s%s", prefix, name);
	n->kind = kind;
	n->index = index;
	return n;
}

static struct plan_iface *iface_add(struct plan_node *n, const char *name)
{
	struct plan_iface *i;

	if (n->n_ifs >= PLAN_MAX_IFS)
		return NULL;
	i = &n->ifs[n->n_ifs++];
	memset(i, 0, sizeof(*i));
	snprintf(i->name, sizeof(i->name), "%s", name);
	return i;
}

static int route_add(struct plan_node *n, const char *dst, const char *via)
{
	struct plan_route *r;

	if (n->n_routes >= PLAN_MAX_ROUTES)
		return -ENOSPC;
	r = &n->routes[n->n_routes++];
	snprintf(r->dst, sizeof(r->dst), "%s", dst);
	snprintf(r->via, sizeof(r->via), "%s", via);
	return 0;
}

/* The segment a node hangs off: the internet (inet node) or a router's LAN. */
struct segment {
	int node;            /* inet or router node index */
	struct subnet net;
	char gw[PLAN_ADDR];  /* the segment's gateway: inet router or the router's LAN address */
	const char *bridge;  /* "br0" in inet, "lan0" in routers */
	uint32_t next_host;  /* next automatic host number */
	struct subnet6 net6; /* ipv6 = yes: the segment's IPv6 subnet */
	char gw6[PLAN_ADDR]; /* and its IPv6 gateway */
};

/* Is ip written somewhere in the file, for some node? Automatic addresses step around those. */
static bool ip_given(const struct topo *t, const char *ip)
{
	if (strcmp(t->server.addr, ip) == 0 || strcmp(t->server.addr2, ip) == 0)
		return true;
	for (int k = 0; k < t->n_nats; k++)
		if (strcmp(t->nats[k].wan_addr, ip) == 0)
			return true;
	for (int k = 0; k < t->n_peers; k++)
		if (strcmp(t->peers[k].addr, ip) == 0)
			return true;
	return false;
}

/* The next automatic host address of segment seg: skips host numbers taken
 * by nodes other than ni or written in the file. -ERANGE when none is left. */
static int auto_host(const struct plan *p, struct segment *seg, const struct topo *t, int ni, char *ip_out,
		     char *cidr_out)
{
	for (;;) {
		char ip[PLAN_ADDR], cidr[PLAN_ADDR];
		bool taken;

		if (subnet_host(&seg->net, seg->next_host++, ip, cidr) < 0)
			return -ERANGE;
		taken = ip_given(t, ip);
		for (int i = 0; i < p->n_nodes; i++)
			if (i != ni && (strcmp(p->nodes[i].ip, ip) == 0 || strcmp(p->nodes[i].ip2, ip) == 0))
				taken = true;
		if (!taken) {
			snprintf(ip_out, PLAN_ADDR, "%s", ip);
			snprintf(cidr_out, PLAN_ADDR, "%s", cidr);
			return 0;
		}
	}
}

/* The IPv6 side of attach(): node ni's uplink up gets the given IPv6
 * address, or the one that mirrors its IPv4 host number (stepping up past
 * addresses that are taken), and an IPv6 default route. */
static int attach6(struct plan *p, struct segment *seg, int ni, struct plan_iface *up, const char *given,
		   char *err, size_t errsize, const struct topo *t, int line)
{
	struct plan_node *n = &p->nodes[ni];
	char net[PLAN_ADDR];
	struct in_addr a4;

	subnet6_fmt(&seg->net6, net);
	if (is_v6(given)) {
		if (subnet6_given(&seg->net6, given, n->ip6, up->addr6) < 0) {
			plan_err(err, errsize, t, line, "address %s is not a host address of %s", given, net);
			return -EINVAL;
		}
		for (int i = 0; i < p->n_nodes; i++)
			if (i != ni && ip6_equal(p->nodes[i].ip6, n->ip6)) {
				plan_err(err, errsize, t, line, "address %s is used twice", n->ip6);
				return -EINVAL;
			}
	} else if (inet_pton(AF_INET, n->ip, &a4) == 1) {
		uint64_t h = host6_of(ntohl(a4.s_addr) - seg->net.base);

		for (;; h++) {
			if (subnet6_host(&seg->net6, h, n->ip6, up->addr6) < 0) {
				plan_err(err, errsize, t, line, "no room left in %s for %s", net, n->name);
				return -EINVAL;
			}
			if (!ip6_taken(p, t, ni, n->ip6))
				break;
		}
	} else {
		plan_err(err, errsize, t, line, "%s has no IPv4 address to number its IPv6 address by", n->name);
		return -EINVAL;
	}
	return route_add(n, "default6", seg->gw6);
}

/* ipv6 = yes: node ni's second IPv6 address on its uplink (the self-check's
 * second probe address), mirroring its second IPv4 one as attach6() does. */
static int second6(struct plan *p, struct segment *seg, int ni, char *err, size_t errsize, const struct topo *t,
		   int line)
{
	struct plan_node *n = &p->nodes[ni];
	struct in_addr a4;
	uint64_t h;

	if (inet_pton(AF_INET, n->ip2, &a4) != 1) {
		plan_err(err, errsize, t, line, "%s has no second IPv4 address to number its IPv6 one by", n->name);
		return -EINVAL;
	}
	for (h = host6_of(ntohl(a4.s_addr) - seg->net.base);; h++) {
		if (subnet6_host(&seg->net6, h, n->ip2_6, n->ifs[0].addr2_6) < 0) {
			plan_err(err, errsize, t, line, "no room left for a second IPv6 address of %s", n->name);
			return -EINVAL;
		}
		if (!ip6_taken(p, t, ni, n->ip2_6) && !ip6_equal(n->ip6, n->ip2_6))
			return 0;
	}
}

/* Attach node n (index ni) to segment seg with uplink name upname; the
 * segment side is a bridge port. Gives n its address (given or automatic). */
static int attach(struct plan *p, struct segment *seg, int ni, const char *upname, const char *given,
		  char *err, size_t errsize, const struct topo *t, int line)
{
	struct plan_node *n = &p->nodes[ni], *s = &p->nodes[seg->node];
	struct plan_link *l = &p->links[p->n_links++];
	struct plan_iface *up, *port;
	char portname[PLAN_IFNAME];
	const char *given6 = given;
	int rc;

	/* An IPv6 address given in the file is attach6()'s; the IPv4 one is then automatic. */
	if (is_v6(given)) {
		if (!t->ipv6) {
			plan_err(err, errsize, t, line, "address %s is IPv6, but the lab is IPv4: add ipv6 = yes "
				 "to [lab]", given);
			return -EINVAL;
		}
		given = NULL;
	}

	snprintf(portname, sizeof(portname), "%s%d", seg->bridge[0] == 'b' ? "p" : "lp", ni);
	up = iface_add(n, upname);
	port = iface_add(s, portname);
	if (!up || !port) {
		plan_err(err, errsize, t, line, "too many hosts on one segment");
		return -EINVAL;
	}
	snprintf(port->master, sizeof(port->master), "%s", seg->bridge);
	l->a = seg->node;
	l->b = ni;
	snprintf(l->a_if, sizeof(l->a_if), "%s", portname);
	snprintf(l->b_if, sizeof(l->b_if), "%s", upname);
	snprintf(n->uplink, sizeof(n->uplink), "%s", upname);
	if (given && *given) {
		rc = subnet_given(&seg->net, given, n->ip, up->addr);
		if (rc < 0) {
			char net[PLAN_ADDR];

			subnet_fmt(&seg->net, net);
			plan_err(err, errsize, t, line, "address %s is not a host address of %s", given, net);
			return -EINVAL;
		}
	} else {
		if (auto_host(p, seg, t, ni, n->ip, up->addr) < 0) {
			char net[PLAN_ADDR];

			subnet_fmt(&seg->net, net);
			plan_err(err, errsize, t, line, "no room left in %s for %s", net, n->name);
			return -EINVAL;
		}
	}
	for (int i = 0; i < p->n_nodes; i++)
		if (i != ni && (strcmp(p->nodes[i].ip, n->ip) == 0 || strcmp(p->nodes[i].ip2, n->ip) == 0)) {
			plan_err(err, errsize, t, line, "address %s is used twice", n->ip);
			return -EINVAL;
		}
	rc = route_add(n, "default", seg->gw);
	if (rc == 0 && t->ipv6)
		rc = attach6(p, seg, ni, up, given6, err, errsize, t, line);
	return rc;
}

static bool nat_has_child_router(const struct topo *t, int i)
{
	for (int j = 0; j < t->n_nats; j++)
		if (t->nats[j].uplink == i)
			return true;
	return false;
}

/* Is some ancestor of NAT i (i itself excluded) translating? */
static bool nat_behind_translator(const struct topo *t, int i)
{
	for (int up = t->nats[i].uplink, guard = 0; up >= 0 && guard <= t->n_nats;
	     up = t->nats[up].uplink, guard++)
		if (t->nats[up].nat)
			return true;
	return false;
}

static bool subnet_overlap(const struct subnet *a, const struct subnet *b)
{
	int prefix = a->prefix < b->prefix ? a->prefix : b->prefix;
	uint32_t mask = 0xffffffffu << (32 - prefix);

	return (a->base & mask) == (b->base & mask);
}

/* Is sn free: not overlapping the internet, a LAN given in the file, or a LAN
 * chosen before (lans[0..n_lans))? */
static bool subnet_free(const struct topo *t, const struct subnet *inet, const struct subnet *lans, int n_lans,
			const struct subnet *sn)
{
	struct subnet given;

	if (subnet_overlap(sn, inet))
		return false;
	for (int k = 0; k < n_lans; k++)
		if (subnet_overlap(sn, &lans[k]))
			return false;
	for (int k = 0; k < t->n_nats; k++)
		if (t->nats[k].lan_subnet[0] && subnet_parse(t->nats[k].lan_subnet, &given) == 0 &&
		    subnet_overlap(sn, &given))
			return false;
	return true;
}

/* The LAN of router i: as given, or the first free one of its kind: a /28 of
 * 198.51.100.0/24 for firewalls with routed public addresses, 100.64.N.0/24
 * (RFC 6598) for carrier NATs, 192.168.N.0/24 for home NATs, 10.N.0.0/24 for
 * firewalls behind a NAT. */
static int lan_subnet(const struct topo *t, int i, const struct subnet *inet, const struct subnet *lans, int n_lans,
		      struct subnet *sn, char *err, size_t errsize)
{
	const struct topo_nat *nat = &t->nats[i];
	char buf[PLAN_ADDR];

	if (is_v6(nat->lan_subnet) && !t->ipv6) {
		plan_err(err, errsize, t, nat->line, "lan = %s is IPv6, but the lab is IPv4: add ipv6 = yes to [lab]",
			 nat->lan_subnet);
		return -EINVAL;
	}
	if (nat->lan_subnet[0] && !is_v6(nat->lan_subnet)) { /* an IPv6 lan is lan_subnet6()'s */
		if (subnet_parse(nat->lan_subnet, sn) < 0) {
			plan_err(err, errsize, t, nat->line, "lan = %s: not an IPv4 subnet with a /8../30 prefix",
				 nat->lan_subnet);
			return -EINVAL;
		}
		return 0;
	}
	for (int k = 1; k < 255; k++) {
		if (!nat->nat && !nat_behind_translator(t, i) && k < 16)
			snprintf(buf, sizeof(buf), "198.51.100.%d/28", 16 * k);
		else if (nat->nat && nat_has_child_router(t, i))
			snprintf(buf, sizeof(buf), "100.64.%d.0/24", k);
		else if (nat->nat)
			snprintf(buf, sizeof(buf), "192.168.%d.0/24", k);
		else
			snprintf(buf, sizeof(buf), "10.%d.0.0/24", k);
		if (subnet_parse(buf, sn) == 0 && subnet_free(t, inet, lans, n_lans, sn))
			return 0;
	}
	plan_err(err, errsize, t, nat->line, "no free subnet left for the LAN of %s: give one with lan =", nat->name);
	return -EINVAL;
}

/* The IPv6 LAN of router i (ipv6 = yes): as given, or the first
 * 2001:db8:N::/64 (N = 1, 2, ...) that overlaps neither the internet, nor a
 * LAN given in the file, nor one chosen before (lans[0..n_lans)). Every
 * router is non-translating then, so every LAN is routed. */
static int lan_subnet6(const struct topo *t, int i, const struct subnet6 *inet, const struct subnet6 *lans,
		       int n_lans, struct subnet6 *sn, char *err, size_t errsize)
{
	const struct topo_nat *nat = &t->nats[i];
	char buf[PLAN_ADDR];

	if (is_v6(nat->lan_subnet)) {
		if (subnet6_parse(nat->lan_subnet, sn) < 0) {
			plan_err(err, errsize, t, nat->line, "lan = %s: not an IPv6 subnet with a /16../126 prefix",
				 nat->lan_subnet);
			return -EINVAL;
		}
		return 0;
	}
	for (unsigned k = 1; k <= 0xffff; k++) {
		bool free_ = true;

		snprintf(buf, sizeof(buf), "2001:db8:%x::/64", k);
		if (subnet6_parse(buf, sn) < 0 || subnet6_overlap(sn, inet))
			continue;
		for (int j = 0; j < n_lans && free_; j++)
			free_ = !subnet6_overlap(sn, &lans[j]);
		for (int j = 0; j < t->n_nats && free_; j++) {
			struct subnet6 given;

			if (is_v6(t->nats[j].lan_subnet) && subnet6_parse(t->nats[j].lan_subnet, &given) == 0)
				free_ = !subnet6_overlap(sn, &given);
		}
		if (free_)
			return 0;
	}
	plan_err(err, errsize, t, nat->line, "no free IPv6 subnet left for the LAN of %s: give one with lan =",
		 nat->name);
	return -EINVAL;
}

/* Routers are placed so that every router comes after the one it sits behind. */
static int nat_order(const struct topo *t, int *order)
{
	int n = 0;
	bool *done = calloc((size_t)t->n_nats + 1, sizeof(*done));

	if (!done)
		return -ENOMEM;
	while (n < t->n_nats) {
		int before = n;

		for (int i = 0; i < t->n_nats; i++)
			if (!done[i] && (t->nats[i].uplink < 0 || done[t->nats[i].uplink])) {
				done[i] = true;
				order[n++] = i;
			}
		if (n == before)
			break; /* a cycle: the parser refuses these */
	}
	free(done);
	return n == t->n_nats ? 0 : -EINVAL;
}

static int node_of(const struct plan *p, enum plan_kind kind, int index)
{
	for (int i = 0; i < p->n_nodes; i++)
		if (p->nodes[i].kind == kind && p->nodes[i].index == index)
			return i;
	return -1;
}

int plan_nat_node(const struct plan *p, int nat_index)
{
	return node_of(p, PLAN_ROUTER, nat_index);
}

int plan_probe_node(const struct plan *p, int nat_index)
{
	return node_of(p, PLAN_PROBE, nat_index);
}

/* What the phases of plan_build() share. */
struct builder {
	const struct topo *t;
	struct plan *p;
	struct segment *segs; /* [0] = internet, [1 + i] = LAN of NAT i */
	int *order;           /* the NATs, parents first */
	char *err;
	size_t errsize;
};

/* The internet: a bridge, and the internet's router address on it. */
static int build_internet(struct builder *b)
{
	const struct topo *t = b->t;
	struct segment *seg = &b->segs[0];
	struct plan_node *inet = node_add(b->p, "", "inet", PLAN_INTERNET, -1);
	struct plan_iface *br;

	inet->forward = true;
	inet->has_bridge = true;
	if (subnet_parse(t->inet_subnet[0] ? t->inet_subnet : "203.0.113.0/24", &seg->net) < 0) {
		plan_err(b->err, b->errsize, t, 1, "internet = %s: not an IPv4 subnet with a /8../30 prefix",
			 t->inet_subnet);
		return -EINVAL;
	}
	br = iface_add(inet, "br0"); /* a node's first interface: never NULL */
	if (!br)
		return -EINVAL;
	br->bridge = true;
	if (subnet_host(&seg->net, 1, inet->ip, br->addr) < 0) {
		plan_err(b->err, b->errsize, t, 1, "internet subnet too small");
		return -EINVAL;
	}
	seg->node = 0;
	seg->bridge = "br0";
	snprintf(seg->gw, sizeof(seg->gw), "%s", inet->ip);
	seg->next_host = 20;
	if (t->ipv6) {
		if (subnet6_parse(t->inet_subnet6[0] ? t->inet_subnet6 : "2001:db8::/64", &seg->net6) < 0 ||
		    subnet6_host(&seg->net6, 1, inet->ip6, br->addr6) < 0) {
			plan_err(b->err, b->errsize, t, 1, "internet6 = %s: not an IPv6 subnet with a /16../126 prefix",
				 t->inet_subnet6);
			return -EINVAL;
		}
		snprintf(seg->gw6, sizeof(seg->gw6), "%s", inet->ip6);
	}
	return 0;
}

/* The server's second IPv4 address (for the probe's CHANGE-REQUEST): as
 * given, or the next host number that nothing else has or is given. */
static int server_second_ip(struct builder *b, struct plan_node *srv)
{
	const struct topo *t = b->t;
	struct plan *p = b->p;
	char cidr[PLAN_ADDR];
	int r2;

	if (is_v6(t->server.addr2)) {
		plan_err(b->err, b->errsize, t, 1, "address2 = %s: the second server address is IPv4 only (it is "
			 "for probing IPv4 NATs)", t->server.addr2);
		return -EINVAL;
	}
	if (t->server.addr2[0]) {
		r2 = subnet_given(&b->segs[0].net, t->server.addr2, p->server_ip2, cidr);
	} else {
		uint32_t h = 11;

		do
			r2 = subnet_host(&b->segs[0].net, h++, p->server_ip2, cidr);
		while (r2 == 0 && (strcmp(p->server_ip2, p->server_ip) == 0 || ip_given(t, p->server_ip2)));
	}
	if (r2 < 0 || strcmp(p->server_ip2, p->server_ip) == 0) {
		plan_err(b->err, b->errsize, t, 1, "no usable second server address");
		return -EINVAL;
	}
	snprintf(srv->ifs[0].addr2, sizeof(srv->ifs[0].addr2), "%s", cidr);
	snprintf(srv->ip2, sizeof(srv->ip2), "%s", p->server_ip2);
	return 0;
}

/* The server, at .10 and .11 unless given. */
static int build_server(struct builder *b)
{
	struct plan *p = b->p;
	struct plan_node *srv = node_add(p, "", "server", PLAN_SERVER, -1);
	uint32_t keep = b->segs[0].next_host;

	p->server_node = 1;
	p->server_port = SERVER_PORT;
	b->segs[0].next_host = 10;
	if (attach(p, &b->segs[0], 1, "eth0", b->t->server.addr, b->err, b->errsize, b->t, 1) < 0)
		return -EINVAL;
	b->segs[0].next_host = keep;
	snprintf(p->server_ip, sizeof(p->server_ip), "%s", srv->ip);
	snprintf(p->server_ip6, sizeof(p->server_ip6), "%s", srv->ip6);
	if (server_second_ip(b, srv) < 0)
		return -EINVAL;
	if (b->t->ipv6 && second6(p, &b->segs[0], 1, b->err, b->errsize, b->t, 1) < 0)
		return -EINVAL;
	return 0;
}

/* Router k (in parent-first order)'s LAN segment: a subnet apart from the
 * internet's and from those of the routers placed before it, the router's
 * lan0 on it as the gateway. */
static int router_lan(struct builder *b, int k, struct plan_node *r)
{
	const struct topo *t = b->t;
	int i = b->order[k], line = t->nats[i].line;
	struct segment *lan = &b->segs[i + 1];
	struct subnet chosen[256];
	struct subnet6 chosen6[256];
	int n_chosen = 0;
	struct plan_iface *lif;
	char lan_ip[PLAN_ADDR];

	for (int j = 0; j < k && n_chosen < 256; j++, n_chosen++) {
		chosen[n_chosen] = b->segs[b->order[j] + 1].net;
		chosen6[n_chosen] = b->segs[b->order[j] + 1].net6;
	}
	if (lan_subnet(t, i, &b->segs[0].net, chosen, n_chosen, &lan->net, b->err, b->errsize) < 0)
		return -EINVAL;
	lif = iface_add(r, "lan0");
	if (!lif)
		return -EINVAL;
	lif->bridge = true;
	if (subnet_host(&lan->net, 1, lan_ip, lif->addr) < 0) {
		plan_err(b->err, b->errsize, t, line, "LAN subnet too small");
		return -EINVAL;
	}
	snprintf(r->lan_if, sizeof(r->lan_if), "lan0");
	subnet_fmt(&lan->net, r->lan_net);
	lan->node = (int)(r - b->p->nodes);
	lan->bridge = "lan0";
	snprintf(lan->gw, sizeof(lan->gw), "%s", lan_ip);
	lan->next_host = 10;
	if (!t->ipv6)
		return 0;
	if (lan_subnet6(t, i, &b->segs[0].net6, chosen6, n_chosen, &lan->net6, b->err, b->errsize) < 0)
		return -EINVAL;
	if (subnet6_host(&lan->net6, 1, lan->gw6, lif->addr6) < 0) {
		plan_err(b->err, b->errsize, t, line, "IPv6 LAN subnet too small");
		return -EINVAL;
	}
	subnet6_fmt(&lan->net6, r->lan_net6);
	return 0;
}

/* A non-translating router's LAN must be routed to from above: on every
 * ancestor up to the first translating one, or the internet. With ipv6 = yes
 * every IPv6 LAN, a NAT's too (a dual-stack NAT only firewalls IPv6), up to
 * the internet. */
static int route_from_above(struct builder *b, const struct topo_nat *nat, const struct plan_node *r)
{
	const struct topo *t = b->t;
	struct plan *p = b->p;
	const char *hop = r->ip, *hop6 = r->ip6;
	int anc = nat->uplink;
	bool v4 = !nat->nat;

	for (;;) {
		int an = anc < 0 ? 0 : plan_nat_node(p, anc);

		if (an < 0 || (v4 && route_add(&p->nodes[an], r->lan_net, hop) < 0) ||
		    (t->ipv6 && route_add(&p->nodes[an], r->lan_net6, hop6) < 0)) {
			plan_err(b->err, b->errsize, t, nat->line, "too many routes");
			return -EINVAL;
		}
		if (anc >= 0 && t->nats[anc].nat)
			v4 = false;
		if (anc < 0 || (!v4 && !t->ipv6))
			return 0;
		hop = p->nodes[an].ip;
		hop6 = p->nodes[an].ip6;
		anc = t->nats[anc].uplink;
	}
}

/* Router k in parent-first order: its WAN on its uplink segment, its LAN. */
static int build_router(struct builder *b, int k)
{
	int i = b->order[k], ni = b->p->n_nodes;
	const struct topo_nat *nat = &b->t->nats[i];
	struct segment *up = &b->segs[nat->uplink < 0 ? 0 : nat->uplink + 1];
	struct plan_node *r = node_add(b->p, "nat-", nat->name, PLAN_ROUTER, i);

	r->forward = true;
	r->has_bridge = true;
	r->impair = nat->uplink_impair;
	if (attach(b->p, up, ni, "wan0", nat->wan_addr, b->err, b->errsize, b->t, nat->line) < 0 ||
	    router_lan(b, k, r) < 0)
		return -EINVAL;
	if (!nat->nat || b->t->ipv6)
		return route_from_above(b, nat, r);
	return 0;
}

/* Peer k on the segment it is behind; its public address is the WAN address
 * of the outermost translating NAT above it. */
static int build_peer(struct builder *b, int k)
{
	const struct topo *t = b->t;
	struct plan *p = b->p;
	const struct topo_peer *peer = &t->peers[k];
	struct segment *seg = &b->segs[peer->behind < 0 ? 0 : peer->behind + 1];
	int ni = p->n_nodes;
	struct plan_node *n = node_add(p, "peer-", peer->name, PLAN_PEER, k);
	struct plan_peer *pp = &p->peers[k];

	if (peer->behind < 0 && seg->next_host < 100)
		seg->next_host = 100;
	n->impair = peer->uplink_impair;
	if (attach(p, seg, ni, "eth0", peer->addr, b->err, b->errsize, t, peer->line) < 0)
		return -EINVAL;
	pp->node = ni;
	pp->local_port = (uint16_t)(PEER_PORT_BASE + k);
	snprintf(pp->ip, sizeof(pp->ip), "%s", n->ip);
	snprintf(pp->public_ip, sizeof(pp->public_ip), "%s", n->ip);
	snprintf(pp->ip6, sizeof(pp->ip6), "%s", n->ip6);
	snprintf(pp->public_ip6, sizeof(pp->public_ip6), "%s", n->ip6); /* no IPv6 NAT */
	for (int up = peer->behind, guard = 0; up >= 0 && guard <= t->n_nats; up = t->nats[up].uplink, guard++)
		if (t->nats[up].nat)
			snprintf(pp->public_ip, sizeof(pp->public_ip), "%s", p->nodes[plan_nat_node(p, up)].ip);
	return 0;
}

/* The probe host on router k's LAN (parent-first order), for the self-check
 * (selfcheck.c), with two addresses: the second sends the hairpin test, and
 * serves as the second probe server address for routers behind this one. A
 * LAN without two free addresses gets none; its router is then not
 * classified. */
static int build_probe(struct builder *b, int k)
{
	const struct topo *t = b->t;
	struct plan *p = b->p;
	int i = b->order[k], ni = p->n_nodes;
	struct segment *lan = &b->segs[i + 1];
	const struct plan_node *r = &p->nodes[plan_nat_node(p, i)];
	char ip[PLAN_ADDR], cidr[PLAN_ADDR], ip2[PLAN_ADDR], cidr2[PLAN_ADDR];
	struct plan_node *n;

	if (auto_host(p, lan, t, -1, ip, cidr) < 0 || auto_host(p, lan, t, -1, ip2, cidr2) < 0 ||
	    strcmp(ip, ip2) == 0)
		return 0;
	n = node_add(p, "probe-", t->nats[i].name, PLAN_PROBE, i);
	if (attach(p, lan, ni, "eth0", ip, b->err, b->errsize, t, t->nats[i].line) < 0)
		return -EINVAL;
	snprintf(n->ip2, sizeof(n->ip2), "%s", ip2);
	snprintf(n->ifs[0].addr2, sizeof(n->ifs[0].addr2), "%s", cidr2);
	if (t->ipv6 && second6(p, lan, ni, b->err, b->errsize, t, t->nats[i].line) < 0)
		return -EINVAL;
	/* the LANs of firewalls right behind this router are reached via them, not the router */
	for (int j = 0; j < r->n_routes; j++)
		if (strncmp(r->routes[j].dst, "default", 7) != 0 && /* "default" and "default6" */
		    route_add(n, r->routes[j].dst, r->routes[j].via) < 0) {
			plan_err(b->err, b->errsize, t, t->nats[i].line, "too many routes");
			return -EINVAL;
		}
	return 0;
}

/* The phases, in an order that fixes every automatic address: the internet,
 * the server, the routers parents first, the peers, and last the probe
 * hosts, so that they never move anyone else's automatic address. */
static int build_all(struct builder *b)
{
	if (build_internet(b) < 0 || build_server(b) < 0)
		return -EINVAL;
	if (nat_order(b->t, b->order) < 0) {
		plan_err(b->err, b->errsize, b->t, 1, "the routers' behind = chains form a cycle");
		return -EINVAL;
	}
	for (int k = 0; k < b->t->n_nats; k++)
		if (build_router(b, k) < 0)
			return -EINVAL;
	for (int k = 0; k < b->t->n_peers; k++)
		if (build_peer(b, k) < 0)
			return -EINVAL;
	for (int k = 0; k < b->t->n_nats; k++)
		if (build_probe(b, k) < 0)
			return -EINVAL;
	return 0;
}

int plan_build(const struct topo *t, struct plan **out, char *err, size_t errsize)
{
	struct builder b = { .t = t, .err = err, .errsize = errsize };
	int rc = -EINVAL, max_nodes = 2 + 2 * t->n_nats + t->n_peers;

	*out = NULL;
	if (t->n_peers != 2) {
		plan_err(err, errsize, t, 1, "a scenario needs exactly two peers, not %d", t->n_peers);
		return -EINVAL;
	}
	b.p = calloc(1, sizeof(*b.p));
	b.segs = calloc((size_t)t->n_nats + 1, sizeof(*b.segs));
	b.order = calloc((size_t)t->n_nats + 1, sizeof(*b.order));
	if (b.p) {
		b.p->nodes = calloc((size_t)max_nodes, sizeof(*b.p->nodes));
		b.p->links = calloc((size_t)max_nodes, sizeof(*b.p->links));
	}
	if (!b.p || !b.segs || !b.order || !b.p->nodes || !b.p->links) {
		rc = -ENOMEM;
		snprintf(err, errsize, "out of memory");
		goto cleanup;
	}
	if (build_all(&b) < 0)
		goto cleanup;
	*out = b.p;
	b.p = NULL;
	rc = 0;
cleanup:
	plan_free(b.p);
	free(b.segs);
	free(b.order);
	return rc;
}

void plan_free(struct plan *p)
{
	if (!p)
		return;
	free(p->nodes);
	free(p->links);
	free(p);
}
