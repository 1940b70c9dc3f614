/* Evidence rulesets, the network's verdict and its explanation. See evidence.h. */
#include "model/evidence.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/nat.h"
#include "model/topo.h"
#include "nat/behavior.h"
#include "proto/wire.h"

/* The pair runs over IPv6 with ipv6 = yes (scenario.c), so the evidence
 * matches the family the pair uses. */
struct ev_family {
	const char *table;  /* "ip" / "ip6" */
	const char *type;   /* set key type of an address */
	int af;
};

static struct ev_family family_of(const struct topo *t)
{
	if (t->ipv6)
		return (struct ev_family){ "ip6", "ipv6_addr", AF_INET6 };
	return (struct ev_family){ "ip", "ipv4_addr", AF_INET };
}

/* Addresses are pasted into the ruleset text: only real ones go in. */
static bool valid_addr(int af, const char *s)
{
	unsigned char buf[16];

	return s && inet_pton(af, s, buf) == 1;
}

static int add_addr(char addrs[][PLAN_ADDR], int n, int max, const char *a)
{
	if (!a || !*a || n >= max)
		return n;
	for (int i = 0; i < n; i++)
		if (strcmp(addrs[i], a) == 0)
			return n;
	snprintf(addrs[n], PLAN_ADDR, "%s", a);
	return n + 1;
}

int evidence_partner_addrs(const struct topo *t, const struct plan *p, int k, char addrs[][PLAN_ADDR], int max)
{
	const struct plan_peer *pp = &p->peers[k];
	int n = 0;

	if (t->ipv6) /* no router translates IPv6 */
		return add_addr(addrs, n, max, pp->ip6);
	n = add_addr(addrs, n, max, pp->ip);
	for (int up = t->peers[k].behind, guard = 0; up >= 0 && guard <= t->n_nats; up = t->nats[up].uplink, guard++)
		if (t->nats[up].nat && plan_nat_node(p, up) >= 0)
			n = add_addr(addrs, n, max, p->nodes[plan_nat_node(p, up)].ip);
	return n;
}

/* "{ a, b }" of the addresses, or -EINVAL when one is not an address. */
static int put_addr_set(FILE *f, int af, char addrs[][PLAN_ADDR], int n)
{
	fputs("{ ", f);
	for (int i = 0; i < n; i++) {
		if (!valid_addr(af, addrs[i]))
			return -EINVAL;
		fprintf(f, "%s%s", i ? ", " : "", addrs[i]);
	}
	fputs(" }", f);
	return 0;
}

/* Close the memstream f writes to *text (fclose sets it), and hand it out. */
static int finish(FILE *f, char **text, int rc, char **out)
{
	if (fclose(f) != 0 && rc == 0)
		rc = -ENOMEM;
	if (rc < 0) {
		free(*text);
		return rc;
	}
	*out = *text;
	return 0;
}

/* No "table; delete table" to replace an older one: the delete waits for a
 * grace period (about 10 ms a load, four loads a scenario), and witness_arm()
 * loads into namespaces that have never had the table (fresh peers, routers
 * just after "flush ruleset"). */
static void put_head(FILE *f, const struct ev_family *fam)
{
	fprintf(f, "table %s " EVIDENCE_TABLE " {\n", fam->table);
}

static void put_set(FILE *f, const char *name, const char *type)
{
	fprintf(f, "\tset %s {\n\t\ttype %s\n\t\tsize %d\n\t\tflags dynamic,timeout\n\t\ttimeout %llds\n\t\tcounter\n\t}\n",
		name, type, EVIDENCE_SET_SIZE, EVIDENCE_TIMEOUT_MS / 1000);
}

int evidence_peer_ruleset(const struct topo *t, const struct plan *p, int k, bool wire, char **out)
{
	struct ev_family fam = family_of(t);
	const struct plan_node *srv = &p->nodes[p->server_node];
	const char *srv_ip = t->ipv6 ? p->server_ip6 : p->server_ip;
	char partner[EVIDENCE_MAX_ADDRS][PLAN_ADDR], server[2][PLAN_ADDR];
	int n_partner = evidence_partner_addrs(t, p, 1 - k, partner, EVIDENCE_MAX_ADDRS), n_server = 0, rc = 0;
	/* The direct path is of the pair's transport (the relay is UDP either
	 * way). For TCP only what flows on a connection counts: neither a SYN
	 * that a router may have dropped nor the RST it answers one with. */
	const char *direct = t->tcp ? "tcp flags & (syn | rst) == 0" : "meta l4proto udp";
	const char *sport = t->tcp ? "tcp sport" : "udp sport", *dport = t->tcp ? "tcp dport" : "udp dport";
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	*out = NULL;
	n_server = add_addr(server, n_server, 2, t->ipv6 ? srv->ip6 : srv->ip);
	n_server = add_addr(server, n_server, 2, t->ipv6 ? srv->ip2_6 : p->server_ip2);
	if (n_partner == 0 || n_server == 0 || !valid_addr(fam.af, srv_ip))
		return -EINVAL;
	f = open_memstream(&text, &len);
	if (!f)
		return -ENOMEM;
	fprintf(f, "# punchlab evidence for peer %s: the %s that reaches this host, counted on input after\n"
		   "# every router on the way translated and filtered it (deliveries, not attempts), and\n"
		   "# what it sent. The partner's addresses: its own and each translating router's on its way.\n",
		t->peers[k].name, t->tcp ? "UDP (from the partner: TCP on a connection, no SYN, no RST)" : "UDP");
	put_head(f, &fam);
	fputs("\tcounter from_partner { }\n\tcounter from_server { }\n\tcounter relay { }\n"
	      "\tcounter to_partner { }\n\tcounter to_server { }\n", f);
	{
		char type[64];

		snprintf(type, sizeof(type), "%s . inet_service . %s . inet_service", fam.type, fam.type);
		put_set(f, "partner_eps", type);
	}
	fputs("\tchain input {\n\t\ttype filter hook input priority filter + 10; policy accept;\n", f);
	if (wire) /* magic 'P' 'L' at payload byte 0, the type at byte 3 (wire.h) */
		fprintf(f, "\t\t%s saddr %s udp sport %u @th,64,16 0x%02x%02x @th,88,8 %d counter name relay\n",
			fam.table, srv_ip, p->server_port, WIRE_MAGIC0, WIRE_MAGIC1, WIRE_RELAY);
	fprintf(f, "\t\t%s saddr ", fam.table);
	rc = put_addr_set(f, fam.af, server, n_server);
	fputs(" meta l4proto udp counter name from_server\n", f);
	fprintf(f, "\t\t%s saddr ", fam.table);
	if (rc == 0)
		rc = put_addr_set(f, fam.af, partner, n_partner);
	fprintf(f, " %s counter name from_partner add @partner_eps { %s saddr . %s . %s daddr . %s }\n", direct,
		fam.table, sport, fam.table, dport);
	fputs("\t}\n\tchain output {\n\t\ttype filter hook output priority filter + 10; policy accept;\n", f);
	fprintf(f, "\t\t%s daddr ", fam.table);
	if (rc == 0)
		rc = put_addr_set(f, fam.af, server, n_server);
	fputs(" meta l4proto udp counter name to_server\n", f);
	fprintf(f, "\t\t%s daddr ", fam.table);
	if (rc == 0)
		rc = put_addr_set(f, fam.af, partner, n_partner);
	fprintf(f, " %s counter name to_partner\n\t}\n}\n", direct);
	return finish(f, &text, rc, out);
}

/* Does the router of NAT nat translate the pair's addresses (IPv4 NAT), and
 * does it admit inbound packets statelessly (inbound-reply = new-mapping:
 * nat.c's stateless_chain(), only for UDP and its own rules)? */
static bool translates(const struct topo *t, int nat)
{
	return t->nats[nat].nat && !t->ipv6;
}

static bool stateless(const struct topo *t, int nat)
{
	return translates(t, nat) && !t->tcp && !t->nats[nat].rules_file &&
	       nat_stateless_inbound(&t->nats[nat].behavior, t->nats[nat].nat);
}

int evidence_delivery_sets(const struct topo *t, int nat, const char *names[3], enum evidence_deliv_kind kinds[3])
{
	int n = 0;

	names[n] = "deliv_plain", kinds[n++] = EVIDENCE_DELIV_PLAIN;
	if (translates(t, nat))
		names[n] = "deliv", kinds[n++] = EVIDENCE_DELIV_NAT;
	if (stateless(t, nat))
		names[n] = "deliv_sl", kinds[n++] = EVIDENCE_DELIV_STATELESS;
	return n;
}

/* The sets of what the router passed into its LAN (evidence.h): source,
 * destination as it arrived, destination as it left. */
static void put_delivery_sets(FILE *f, const struct topo *t, const struct ev_family *fam, int nat)
{
	char type[160];

	snprintf(type, sizeof(type), "%s . inet_service . %s . inet_service", fam->type, fam->type);
	put_set(f, "deliv_plain", type);
	if (!translates(t, nat))
		return;
	/* five fields at most (see the mappings): the arrival address is the
	 * router's WAN address, left out */
	snprintf(type, sizeof(type), "%s . inet_service . inet_service . %s . inet_service", fam->type, fam->type);
	put_set(f, "deliv", type);
	if (stateless(t, nat)) {
		snprintf(type, sizeof(type), "%s . inet_service . mark . %s . inet_service", fam->type, fam->type);
		put_set(f, "deliv_sl", type);
	}
}

/* The rules filling them, in the postrouting chain (after every translation
 * and filter of the router). The destination a datagram arrived with is its
 * connection's: the original tuple's for one that started it (a DNAT map, a
 * hairpin), the reply tuple's for a reply; an untracked one (stateless) has
 * none, so prerouting put the port it arrived at in its mark. */
static void put_delivery_rules(FILE *f, const struct topo *t, const struct ev_family *fam, int nat,
			       const char *lan, const char *wan_ip)
{
	const char *l4 = t->tcp ? "tcp" : "udp", *x = fam->table;
	static const char *const dirs[] = { "original", "reply" };

	if (!translates(t, nat)) {
		fprintf(f, "\t\toifname \"%s\" meta l4proto %s add @deliv_plain { %s saddr . %s sport . %s daddr . %s "
			   "dport }\n", lan, l4, x, l4, x, l4);
		return;
	}
	for (int d = 0; d < 2; d++) {
		fprintf(f, "\t\toifname \"%s\" meta l4proto %s ct direction %s ct %s %s daddr %s add @deliv { %s saddr "
			   ". %s sport . ct %s proto-dst . %s daddr . %s dport }\n",
			lan, l4, dirs[d], dirs[d], x, wan_ip, x, l4, dirs[d], x, l4);
		fprintf(f, "\t\toifname \"%s\" meta l4proto %s ct direction %s ct %s %s daddr != %s add @deliv_plain "
			   "{ %s saddr . %s sport . %s daddr . %s dport }\n",
			lan, l4, dirs[d], dirs[d], x, wan_ip, x, l4, x, l4);
	}
	if (stateless(t, nat))
		fprintf(f, "\t\toifname \"%s\" meta l4proto udp ct state untracked add @deliv_sl { %s saddr . udp sport "
			   ". meta mark . %s daddr . udp dport }\n", lan, x, x);
}

int evidence_router_ruleset(const struct topo *t, const struct plan *p, int nat, char **out)
{
	struct ev_family fam = family_of(t);
	int node = nat >= 0 && nat < t->n_nats ? plan_nat_node(p, nat) : -1;
	const struct plan_node *r;
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	*out = NULL;
	if (node < 0)
		return -EINVAL;
	r = &p->nodes[node];
	if (!r->uplink[0] || !r->lan_if[0] || strpbrk(r->uplink, "\"\\ ") || strpbrk(r->lan_if, "\"\\ "))
		return -EINVAL;
	if (translates(t, nat) && !valid_addr(fam.af, r->ip))
		return -EINVAL;
	f = open_memstream(&text, &len);
	if (!f)
		return -ENOMEM;
	fprintf(f, "# punchlab evidence for router %s: UDP per flow as it arrived on \"%s\" (before any\n"
		   "# translation or filter), the same flows passed into \"%s\" (keyed by the destination\n"
		   "# they arrived with), and every UDP mapping it made going out. Arrived minus passed is\n"
		   "# what its filter dropped. The same the other way: UDP from the LAN to elsewhere, and\n"
		   "# what of it left by the WAN side (keyed by its source before translation). The deliv\n"
		   "# sets: what it passed into \"%s\" by source, destination as arrived and as passed.\n",
		t->nats[nat].name, r->uplink, r->lan_if, r->lan_if);
	put_head(f, &fam);
	{
		char key4[128], key6[256];

		snprintf(key4, sizeof(key4), "%s . inet_service . %s . inet_service", fam.type, fam.type);
		put_set(f, "wan_in", key4);
		put_set(f, "lan_out", key4);
		put_set(f, "lan_in", key4);
		put_set(f, "wan_out", key4);
		/* nft encodes a concatenation's types in 32 bits, six bits
		 * each: five fields at most (and six IPv6 ones would not fit
		 * its registers either). The external address is the
		 * router's WAN address, and no router translates IPv6, so
		 * those are left out (evidence_expand_mapping()). */
		if (t->ipv6)
			snprintf(key6, sizeof(key6), "%s", key4);
		else
			snprintf(key6, sizeof(key6), "%s . inet_service . inet_service . %s . inet_service",
				 fam.type, fam.type);
		put_set(f, "mappings", key6);
	}
	put_delivery_sets(f, t, &fam, nat);
	/* raw - 1: after the netdev loss (impair.c), before conntrack, NAT and
	 * filter, and before a stateless NAT rewrites the destination (its
	 * chain is at raw), whose port the mark then carries to postrouting */
	fprintf(f, "\tchain prerouting {\n\t\ttype filter hook prerouting priority raw - 1; policy accept;\n");
	if (stateless(t, nat))
		fprintf(f, "\t\tiifname \"%s\" %s daddr %s meta l4proto udp meta mark set @th,0,32 & 0x0000ffff\n",
			r->uplink, fam.table, r->ip);
	fprintf(f, "\t\tiifname \"%s\" meta l4proto udp add @wan_in { %s saddr . udp sport . %s daddr . udp dport }\n"
		   /* not to the router itself: that is hairpinning (its WAN address) or its own */
		   "\t\tiifname \"%s\" meta l4proto udp fib daddr type != local add @lan_in "
		   "{ %s saddr . udp sport . %s daddr . udp dport }\n"
		   "\t}\n",
		r->uplink, fam.table, fam.table, r->lan_if, fam.table, fam.table);
	/* srcnat + 20: after the ruleset's own srcnat and learning chains. A
	 * datagram let in as a reply had its destination translated back: the one
	 * it arrived with is the reply tuple's; one let in by a DNAT map started
	 * its connection, so it is the original tuple's. Going out, the source
	 * before translation is the original tuple's, or for an answer on a
	 * connection the far side started, the reply tuple's. A new connection
	 * going out of the WAN side is a mapping: internal endpoint (original
	 * source), external endpoint (the translated source) and the remote one. */
	fprintf(f, "\tchain postrouting {\n\t\ttype filter hook postrouting priority srcnat + 20; policy accept;\n"
		   "\t\tiifname \"%s\" oifname \"%s\" meta l4proto udp ct direction reply add @lan_out "
		   "{ %s saddr . udp sport . ct reply %s daddr . ct reply proto-dst }\n"
		   "\t\tiifname \"%s\" oifname \"%s\" meta l4proto udp ct direction original add @lan_out "
		   "{ %s saddr . udp sport . ct original %s daddr . ct original proto-dst }\n"
		   "\t\tiifname \"%s\" oifname \"%s\" meta l4proto udp ct direction original add @wan_out "
		   "{ ct original %s saddr . ct original proto-src . %s daddr . udp dport }\n"
		   "\t\tiifname \"%s\" oifname \"%s\" meta l4proto udp ct direction reply add @wan_out "
		   "{ ct reply %s saddr . ct reply proto-src . %s daddr . udp dport }\n"
		   "\t\toifname \"%s\" meta l4proto udp ct state new add @mappings { ct original %s saddr . "
		   "ct original proto-src . ",
		r->uplink, r->lan_if, fam.table, fam.table, r->uplink, r->lan_if, fam.table, fam.table, r->lan_if,
		r->uplink, fam.table, fam.table, r->lan_if, r->uplink, fam.table, fam.table, r->uplink, fam.table);
	if (!t->ipv6)
		fprintf(f, "udp sport . ");
	fprintf(f, "%s daddr . udp dport }\n", fam.table);
	put_delivery_rules(f, t, &fam, nat, r->lan_if, r->ip);
	fputs("\t}\n}\n", f);
	return finish(f, &text, 0, out);
}

/* "addr:port" or "[addr]:port" (put_ep() below). */
static void put_ep(char *buf, size_t size, const char *addr, const char *port);

void evidence_expand_delivery(struct evidence_elem *d, enum evidence_deliv_kind kind, const char *wan_ip)
{
	if (kind == EVIDENCE_DELIV_PLAIN && d->n_keys == 4) { /* source, passed: arrived the same */
		memcpy(d->key[4], d->key[2], 2 * sizeof(d->key[0]));
		d->n_keys = 6;
		return;
	}
	if (kind == EVIDENCE_DELIV_PLAIN || d->n_keys != 5) {
		d->n_keys = 0;
		return;
	}
	if (kind == EVIDENCE_DELIV_STATELESS) {
		/* The mark is the transport header's first 32 bits masked to the
		 * destination port, in network order: nft prints the register as
		 * a host-order number, 0xLLHH0000 on a little-endian host,
		 * 0x0000HHLL on a big-endian one. */
		char *end;
		unsigned long m = strtoul(d->key[2], &end, 16);
		unsigned port = (m & 0xffff) ? (unsigned)(m & 0xffff) : (unsigned)(((m >> 24) & 0xff) | ((m >> 8) & 0xff00));

		if (*end || m > 0xffffffffUL || port == 0 || ((m & 0xffff) && (m >> 16))) {
			d->n_keys = 0;
			return;
		}
		snprintf(d->key[2], sizeof(d->key[2]), "%u", port);
	}
	/* source, arrived port, passed addr, port -> source, WAN addr, arrived port, passed */
	memmove(d->key[3], d->key[2], 3 * sizeof(d->key[0]));
	snprintf(d->key[2], sizeof(d->key[2]), "%s", wan_ip);
	d->n_keys = 6;
}

/* The evidence of NAT nat's router, or NULL when it was not read. */
static const struct evidence_router *router_of(const struct evidence *e, int nat)
{
	for (int r = 0; r < e->n_routers; r++)
		if (e->routers[r].nat == nat)
			return &e->routers[r];
	return NULL;
}

/* Where a datagram delivered from (saddr, sport) to (daddr, dport) below
 * router r was addressed when it arrived at r, into the endpoints to[] (at
 * most max, no duplicates): one per delivery of r's that passed it there
 * from that source; none when r passed nothing so (it did not come through
 * r). Returns how many. */
#define EV_TO_MAX 16

struct ev_ep {
	char addr[PLAN_ADDR], port[8];
};

static int arrived_as(const struct evidence_router *r, const char *saddr, const char *sport, const struct ev_ep *at,
		      struct ev_ep *to, int n, int max)
{
	for (int i = 0; i < r->n_deliv; i++) {
		const struct evidence_elem *d = &r->deliv[i];
		bool dup = false;

		if (d->n_keys != 6 || strcmp(d->key[0], saddr) || strcmp(d->key[1], sport) ||
		    strcmp(d->key[4], at->addr) || strcmp(d->key[5], at->port))
			continue;
		for (int j = 0; j < n && !dup; j++)
			dup = strcmp(to[j].addr, d->key[2]) == 0 && strcmp(to[j].port, d->key[3]) == 0;
		if (dup || n >= max)
			continue;
		snprintf(to[n].addr, sizeof(to[n].addr), "%s", d->key[2]);
		snprintf(to[n].port, sizeof(to[n].port), "%.7s", d->key[3]);
		n++;
	}
	return n;
}

/* The pairs of a peer's deliveries, as many as there are (a storm of new
 * mappings makes many): grown on the heap. */
struct pair_list {
	struct evidence_pair *v;
	int n, cap;
	bool oom;
};

/* Add (from, to, packets) to l, merging a pair already there. */
static void add_pair(struct pair_list *l, const char *from, const char *to, uint64_t packets)
{
	for (int i = 0; i < l->n; i++)
		if (strcmp(l->v[i].from, from) == 0 && strcmp(l->v[i].to, to) == 0) {
			l->v[i].packets += packets;
			return;
		}
	if (l->n == l->cap) {
		int cap = l->cap ? 2 * l->cap : 16;
		struct evidence_pair *v = realloc(l->v, (size_t)cap * sizeof(*v));

		if (!v) {
			l->oom = true;
			return;
		}
		l->v = v;
		l->cap = cap;
	}
	snprintf(l->v[l->n].from, sizeof(l->v[l->n].from), "%s", from);
	snprintf(l->v[l->n].to, sizeof(l->v[l->n].to), "%s", to);
	l->v[l->n++].packets = packets;
}

static int by_packets(const void *x, const void *y)
{
	const struct evidence_pair *a = x, *b = y;
	int c = strcmp(a->from, b->from);

	if (a->packets != b->packets)
		return a->packets < b->packets ? 1 : -1;
	return c ? c : strcmp(a->to, b->to);
}

/* Every pair peer k's deliveries came on, largest count first, into *l
 * (free l->v). Returns 0 or -ENOMEM (l empty). */
static int collect_pairs(const struct topo *t, const struct evidence *e, int k, struct pair_list *l)
{
	const struct evidence_peer *pk = &e->peers[k];

	memset(l, 0, sizeof(*l));
	for (int i = 0; i < pk->n_eps; i++) {
		const struct evidence_elem *h = &pk->eps[i];
		struct ev_ep cur[EV_TO_MAX], next[EV_TO_MAX];
		int n_cur = 1;
		char from[EVIDENCE_EP];

		if (h->n_keys != 4 || h->packets == 0)
			continue;
		snprintf(cur[0].addr, sizeof(cur[0].addr), "%s", h->key[2]);
		snprintf(cur[0].port, sizeof(cur[0].port), "%.7s", h->key[3]);
		/* up k's chain, innermost router first: each endpoint the
		 * datagrams reached below a router that passed them becomes the
		 * one they arrived at it with; one it did not pass them to stays */
		for (int up = t->peers[k].behind, guard = 0; up >= 0 && guard <= t->n_nats;
		     up = t->nats[up].uplink, guard++) {
			const struct evidence_router *r = router_of(e, up);
			int n_next = 0;

			for (int c = 0; r && c < n_cur; c++) {
				int before = n_next;

				n_next = arrived_as(r, h->key[0], h->key[1], &cur[c], next, n_next, EV_TO_MAX);
				if (n_next == before && n_next < EV_TO_MAX)
					next[n_next++] = cur[c];
			}
			if (r) {
				memcpy(cur, next, (size_t)n_next * sizeof(cur[0]));
				n_cur = n_next;
			}
		}
		put_ep(from, sizeof(from), h->key[0], h->key[1]);
		for (int c = 0; c < n_cur; c++) {
			char to[EVIDENCE_EP];

			put_ep(to, sizeof(to), cur[c].addr, cur[c].port);
			add_pair(l, from, to, h->packets);
		}
	}
	if (l->oom) {
		free(l->v);
		memset(l, 0, sizeof(*l));
		return -ENOMEM;
	}
	if (l->n)
		qsort(l->v, (size_t)l->n, sizeof(*l->v), by_packets);
	return 0;
}

int evidence_delivered_pairs(const struct topo *t, const struct evidence *e, int k, struct evidence_pair *pairs,
			     int max)
{
	struct pair_list l;
	int n;

	if (collect_pairs(t, e, k, &l) < 0)
		return -ENOMEM;
	n = l.n < max ? l.n : max;
	if (n > 0)
		memcpy(pairs, l.v, (size_t)n * sizeof(*pairs));
	free(l.v);
	return n;
}

#define EV_PAIRS_MAX 64 /* in the JSON detail */

bool evidence_direct_pair(const struct topo *t, const struct evidence *e, char *a, char *b)
{
	struct pair_list pa, pb;
	bool found = false;

	a[0] = b[0] = '\0';
	if (collect_pairs(t, e, 0, &pa) < 0)
		return false;
	if (collect_pairs(t, e, 1, &pb) < 0) {
		free(pa.v);
		return false;
	}
	/* to alice from Y at X, to bob from X at Y: the largest first */
	for (int i = 0; i < pa.n && !found; i++)
		for (int j = 0; j < pb.n && !found; j++)
			if (strcmp(pa.v[i].from, pb.v[j].to) == 0 && strcmp(pa.v[i].to, pb.v[j].from) == 0) {
				snprintf(a, EVIDENCE_EP, "%s", pa.v[i].to);
				snprintf(b, EVIDENCE_EP, "%s", pb.v[j].to);
				found = true;
			}
	free(pa.v);
	free(pb.v);
	return found;
}

enum outcome evidence_verdict(const struct topo *t, const struct evidence *e)
{
	const struct evidence_peer *a = &e->peers[0], *b = &e->peers[1];
	char pa[EVIDENCE_EP], pb[EVIDENCE_EP];

	if (a->from_partner > 0 && b->from_partner > 0 && evidence_direct_pair(t, e, pa, pb))
		return OUTCOME_DIRECT;
	if (e->wire ? a->relay > 0 && b->relay > 0 : a->from_server > 0 && b->from_server > 0)
		return OUTCOME_RELAYED;
	return OUTCOME_FAILED;
}

/* "addr:port" or "[addr]:port"; an address is at most 45 characters
 * (INET6_ADDRSTRLEN - 1) and a port 5, so EVIDENCE_EP always holds it. */
static void put_ep(char *buf, size_t size, const char *addr, const char *port)
{
	if (strchr(addr, ':'))
		snprintf(buf, size, "[%.45s]:%.5s", addr, port);
	else
		snprintf(buf, size, "%.45s:%.5s", addr, port);
}

void evidence_top_endpoint(const struct evidence *e, int k, char *buf, size_t size)
{
	const struct evidence_elem *best = NULL;

	for (int i = 0; i < e->peers[k].n_eps; i++)
		if (e->peers[k].eps[i].n_keys >= 2 && (!best || e->peers[k].eps[i].packets > best->packets))
			best = &e->peers[k].eps[i];
	if (best)
		put_ep(buf, size, best->key[0], best->key[1]);
	else if (size)
		buf[0] = '\0';
}

/* How many of the datagrams of flow in (an arrival) were passed on: found
 * among the n elements out by the same key. */
static uint64_t passed(const struct evidence_elem *out, int n, const struct evidence_elem *in)
{
	for (int i = 0; i < n; i++) {
		const struct evidence_elem *o = &out[i];
		bool same = o->n_keys == in->n_keys;

		for (int j = 0; same && j < in->n_keys; j++)
			same = strcmp(o->key[j], in->key[j]) == 0;
		if (same)
			return o->packets;
	}
	return 0;
}

/* How many of the datagrams of flow in, arrived on router r's WAN side, it
 * passed into its LAN: lan_out knows the tracked ones, the deliveries also
 * those a stateless NAT admitted (no conntrack entry, so none in lan_out). */
static uint64_t passed_in(const struct evidence_router *r, const struct evidence_elem *in)
{
	uint64_t got = passed(r->out, r->n_out, in), sum = 0;

	for (int i = 0; i < r->n_deliv; i++) {
		const struct evidence_elem *d = &r->deliv[i];
		bool same = d->n_keys == 6 && in->n_keys == 4;

		for (int j = 0; same && j < 4; j++)
			same = strcmp(d->key[j], in->key[j]) == 0;
		if (same)
			sum += d->packets;
	}
	return sum > got ? sum : got;
}

static bool in_list(char addrs[][PLAN_ADDR], int n, const char *a)
{
	for (int i = 0; i < n; i++)
		if (strcmp(addrs[i], a) == 0)
			return true;
	return false;
}

/* Is NAT nat on peer k's way to the internet? */
static bool on_chain(const struct topo *t, int k, int nat)
{
	for (int up = t->peers[k].behind, guard = 0; up >= 0 && guard <= t->n_nats; up = t->nats[up].uplink, guard++)
		if (up == nat)
			return true;
	return false;
}

/* The flow from sender k that routers dropped most of, coming in from their
 * WAN side or going out from their LAN side: router index, the arrival and
 * whether it was outbound; false when no router dropped any of k's. */
static bool worst_drop(const struct topo *t, const struct plan *p, const struct evidence *e, int k, int *ri,
		       const struct evidence_elem **flow, bool *outbound, uint64_t *dropped)
{
	char addrs[EVIDENCE_MAX_ADDRS][PLAN_ADDR];
	int n = evidence_partner_addrs(t, p, k, addrs, EVIDENCE_MAX_ADDRS);
	bool found = false;

	*dropped = 0;
	for (int r = 0; r < e->n_routers; r++)
		for (int dir = 0; dir < 2; dir++) {
			const struct evidence_router *er = &e->routers[r];
			const struct evidence_elem *arr = dir ? er->lan_in : er->in, *out = dir ? er->wan_out : er->out;
			int n_arr = dir ? er->n_lan_in : er->n_in, n_out = dir ? er->n_wan_out : er->n_out;

			for (int i = 0; i < n_arr; i++) {
				uint64_t got = dir ? passed(out, n_out, &arr[i]) : passed_in(er, &arr[i]);
				uint64_t d = arr[i].packets > got ? arr[i].packets - got : 0;

				if (arr[i].n_keys == 4 && d > *dropped && in_list(addrs, n, arr[i].key[0])) {
					*dropped = d;
					*ri = r;
					*flow = &arr[i];
					*outbound = dir == 1;
					found = true;
				}
			}
		}
	return found;
}

void evidence_expand_mapping(struct evidence_elem *m, const char *wan_ip)
{
	if (m->n_keys == 5) { /* internal addr, port, external port, remote addr, port */
		memmove(m->key[3], m->key[2], 3 * sizeof(m->key[0]));
		snprintf(m->key[2], sizeof(m->key[2]), "%s", wan_ip);
		m->n_keys = 6;
	} else if (m->n_keys == 4) { /* internal addr, port, remote addr, port */
		memcpy(m->key[4], m->key[2], 2 * sizeof(m->key[0]));
		memcpy(m->key[2], m->key[0], 2 * sizeof(m->key[0]));
		m->n_keys = 6;
	}
}

void evidence_mark_live(struct evidence_router *r, const struct evidence_ct *ct, int n)
{
	for (int i = 0; i < r->n_maps; i++) {
		struct evidence_elem *m = &r->maps[i];

		m->left_s = -1;
		if (m->n_keys != 6)
			continue;
		for (int j = 0; j < n; j++) {
			char sport[8], dport[8], eport[8];

			snprintf(sport, sizeof(sport), "%u", ct[j].sport);
			snprintf(dport, sizeof(dport), "%u", ct[j].dport);
			snprintf(eport, sizeof(eport), "%u", ct[j].ext_port);
			if (strcmp(ct[j].src, m->key[0]) == 0 && strcmp(sport, m->key[1]) == 0 &&
			    strcmp(ct[j].ext, m->key[2]) == 0 && strcmp(eport, m->key[3]) == 0 &&
			    strcmp(ct[j].dst, m->key[4]) == 0 && strcmp(dport, m->key[5]) == 0) {
				m->left_s = ct[j].left_s > INT32_MAX ? INT32_MAX : (int32_t)ct[j].left_s;
				break;
			}
		}
	}
	r->ct_read = true;
}

/* A mapping's internal, external and remote endpoint fields (index of the
 * address; the port follows), once expanded to six keys. */
static bool mapping_fields(const struct evidence_elem *m, int *in, int *ext, int *rem)
{
	*in = 0, *ext = 2, *rem = 4;
	return m->n_keys == 6;
}

/* ", since +N ms" (or what prefix says) when the time is known, else "". */
static const char *when(char *buf, size_t size, const char *prefix, int64_t ms)
{
	if (ms == INT64_MIN)
		return "";
	snprintf(buf, size, "%s%+" PRId64 " ms", prefix, ms);
	return buf;
}

static bool same_ep(const struct evidence_elem *m, int i, const struct evidence_elem *in, int j)
{
	return strcmp(m->key[i], in->key[j]) == 0 && strcmp(m->key[i + 1], in->key[j + 1]) == 0;
}

static bool gone(const struct evidence_router *r, const struct evidence_elem *m)
{
	return r->ct_read && m->left_s < 0;
}

/* Why router r may have dropped flow in (source key 0-1, destination as it
 * arrived key 2-3): the mapping that owned the destination, if any, and
 * whom it was made towards; whether it had expired by the end. */
static void put_mapping_reason(FILE *f, const struct topo *t, const struct evidence_router *r,
			       const struct evidence_elem *in)
{
	const struct topo_nat *nat = &t->nats[r->nat];
	const struct evidence_elem *at = NULL, *towards = NULL;
	char m_int[EVIDENCE_EP], m_ext[EVIDENCE_EP], m_rem[EVIDENCE_EP], src[EVIDENCE_EP], since[64];

	for (int i = 0; i < r->n_maps; i++) {
		const struct evidence_elem *m = &r->maps[i];

		if (m->n_keys != 6)
			continue;
		/* the mapping at the destination; one made towards the source first */
		if (same_ep(m, 2, in, 2) && (!at || (same_ep(m, 4, in, 0) && !same_ep(at, 4, in, 0))))
			at = m;
		if (!towards && strcmp(m->key[4], in->key[0]) == 0)
			towards = m;
	}
	put_ep(src, sizeof(src), in->key[0], in->key[1]);
	if (at) {
		put_ep(m_int, sizeof(m_int), at->key[0], at->key[1]);
		put_ep(m_ext, sizeof(m_ext), at->key[2], at->key[3]);
		put_ep(m_rem, sizeof(m_rem), at->key[4], at->key[5]);
		if (same_ep(at, 4, in, 0) && gone(r, at))
			fprintf(f, "; its mapping there (from %s%s, made towards that very endpoint) had expired by the "
				   "end, gone from its conntrack table",
				m_int, when(since, sizeof(since), ", since ", at->first_ms));
		else if (same_ep(at, 4, in, 0))
			fprintf(f, "; it had a mapping there (from %s%s) towards that very endpoint, so its rules dropped "
				   "them anyway",
				m_int, when(since, sizeof(since), ", since ", at->first_ms));
		else
			fprintf(f, "; its mapping there (from %s%s) was made towards %s%s, and no mapping admits %s", m_int,
				when(since, sizeof(since), ", since ", at->first_ms), m_rem,
				gone(r, at) ? " and had expired by the end" : "", src);
	} else if (towards) {
		put_ep(m_ext, sizeof(m_ext), towards->key[2], towards->key[3]);
		put_ep(m_rem, sizeof(m_rem), towards->key[4], towards->key[5]);
		fprintf(f, "; it had no mapping there (its mapping towards that address was %s -> %s%s), so no mapping "
			   "admits them",
			m_ext, m_rem, gone(r, towards) ? ", expired by the end" : "");
	} else {
		fprintf(f, "; it had made no mapping there nor towards that address, so no mapping admits them");
	}
	if (nat->rules_file)
		fprintf(f, " (its rules are the user's own)");
	else
		fprintf(f, " (filtering %s)", nat_filtering_name(nat->behavior.filtering));
}

/* Why router r may have dropped datagrams going out. */
static void put_outbound_reason(FILE *f, const struct topo *t, const struct evidence_router *r)
{
	const struct topo_nat *nat = &t->nats[r->nat];

	if (nat->rules_file)
		fprintf(f, " on their way out (its rules are the user's own)");
	else if (nat->behavior.udp_blocked)
		fprintf(f, " on their way out (it blocks UDP)");
	else
		fprintf(f, " on their way out");
}

/* Deliveries both ways, but on no one address pair: the pairs each way. */
static void put_no_common_pair(FILE *f, const struct topo *t, const struct evidence *e)
{
	fprintf(f, "Each host received the other's datagrams, but never both ways on one address pair:");
	for (int k = 0; k < 2; k++) {
		struct pair_list l;
		int n = collect_pairs(t, e, k, &l) < 0 ? 0 : l.n;

		fprintf(f, "%s %s received %s's", k ? ";" : "", t->peers[k].name, t->peers[1 - k].name);
		for (int i = 0; i < n && i < 3; i++)
			fprintf(f, "%s from %s at %s (%" PRIu64 ")", i ? "," : "", l.v[i].from, l.v[i].to,
				l.v[i].packets);
		if (n > 3)
			fprintf(f, " and on %d more pair%s", n - 3, n - 3 == 1 ? "" : "s");
		free(l.v);
	}
	fprintf(f, "; no reply came back on the pair it answered.");
}

char *evidence_explain(const struct topo *t, const struct plan *p, const struct evidence *e)
{
	enum outcome v = evidence_verdict(t, e);
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (!f)
		return NULL;
	if (v == OUTCOME_DIRECT) {
		char ep[2][EVIDENCE_EP];

		char at[2][64];

		for (int k = 0; k < 2; k++) {
			const struct evidence_elem *first = NULL;

			evidence_top_endpoint(e, k, ep[k], sizeof(ep[k]));
			for (int i = 0; i < e->peers[k].n_eps; i++)
				if (e->peers[k].eps[i].first_ms != INT64_MIN &&
				    (!first || e->peers[k].eps[i].first_ms < first->first_ms))
					first = &e->peers[k].eps[i];
			at[k][0] = '\0';
			if (first)
				when(at[k], sizeof(at[k]), " (the first at ", first->first_ms);
			if (at[k][0])
				strncat(at[k], ")", sizeof(at[k]) - strlen(at[k]) - 1);
		}
		fprintf(f, "%s received %" PRIu64 " datagrams from %s at %s%s and %s %" PRIu64 " from %s at %s%s, "
			   "without the server",
			t->peers[0].name, e->peers[0].from_partner, t->peers[1].name, ep[0], at[0], t->peers[1].name,
			e->peers[1].from_partner, t->peers[0].name, ep[1], at[1]);
		evidence_direct_pair(t, e, ep[0], ep[1]);
		fprintf(f, ", both ways on one address pair: %s's %s and %s's %s.", t->peers[0].name, ep[0],
			t->peers[1].name, ep[1]);
	} else if (e->peers[0].from_partner > 0 && e->peers[1].from_partner > 0) {
		put_no_common_pair(f, t, e);
	}
	for (int k = 0; k < 2 && v != OUTCOME_DIRECT; k++) {
		const char *me = t->peers[k].name, *other = t->peers[1 - k].name;
		const struct evidence_elem *in = NULL;
		bool outbound = false;
		uint64_t dropped;
		int r = -1;

		if (e->peers[1 - k].from_partner > 0)
			continue;
		fflush(f); /* len is the text so far only after a flush */
		if (len)
			fputc(' ', f);
		if (worst_drop(t, p, e, k, &r, &in, &outbound, &dropped)) {
			const struct evidence_router *er = &e->routers[r];
			char src[EVIDENCE_EP], dst[EVIDENCE_EP];
			const char *side = on_chain(t, 1 - k, er->nat) ? other : on_chain(t, k, er->nat) ? me : NULL;

			put_ep(src, sizeof(src), in->key[0], in->key[1]);
			put_ep(dst, sizeof(dst), in->key[2], in->key[3]);
			if (side)
				fprintf(f, "%s's router %s (line %d)", side, t->nats[er->nat].name, t->nats[er->nat].line);
			else
				fprintf(f, "router %s (line %d)", t->nats[er->nat].name, t->nats[er->nat].line);
			char first[64];

			fprintf(f, " dropped %" PRIu64 " datagram%s from %s to %s", dropped, dropped == 1 ? "" : "s",
				src, dst);
			if (*when(first, sizeof(first), " (the first arrived at ", in->first_ms))
				fprintf(f, "%s)", first);
			if (outbound)
				put_outbound_reason(f, t, er);
			else
				put_mapping_reason(f, t, er, in);
			fprintf(f, "; %s received none of %s's.", other, me);
		} else if (e->peers[k].to_partner == 0) {
			fprintf(f, "%s sent no UDP towards %s's addresses.", me, other);
		} else {
			fprintf(f, "%s sent %" PRIu64 " datagrams towards %s's addresses; none reached %s, and no router "
				   "dropped any of them on its way in.",
				me, e->peers[k].to_partner, other, other);
		}
	}
	if (v == OUTCOME_FAILED) {
		if (e->wire)
			fprintf(f, " The server delivered %" PRIu64 " RELAY messages to %s and %" PRIu64 " to %s.",
				e->peers[0].relay, t->peers[0].name, e->peers[1].relay, t->peers[1].name);
		else
			fprintf(f, " The server delivered %" PRIu64 " datagrams to %s and %" PRIu64 " to %s.",
				e->peers[0].from_server, t->peers[0].name, e->peers[1].from_server, t->peers[1].name);
	} else if (v == OUTCOME_RELAYED) {
		fprintf(f, " Their data went through the server (%" PRIu64 " and %" PRIu64 " %s delivered).",
			e->wire ? e->peers[0].relay : e->peers[0].from_server,
			e->wire ? e->peers[1].relay : e->peers[1].from_server, e->wire ? "RELAY messages" : "datagrams");
	}
	if (fclose(f) != 0) {
		free(text);
		return NULL;
	}
	return text;
}

static struct json_object *jep(const char *addr, const char *port)
{
	char buf[EVIDENCE_EP];

	put_ep(buf, sizeof(buf), addr, port);
	return json_object_new_string(buf);
}

static struct json_object *jcount(uint64_t n)
{
	return json_object_new_uint64(n);
}

/* A time in ms after the pair started, when known. */
static void jfirst(struct json_object *o, const char *key, int64_t ms)
{
	if (ms != INT64_MIN)
		json_object_object_add(o, key, json_object_new_int64(ms));
}

/* Each arrival of arr: from, to, how many arrived, were passed on, dropped, and the first's time. */
static void put_flows(struct json_object *flows, const struct evidence_elem *arr, int n_arr,
		      const struct evidence_elem *out, int n_out, const struct evidence_router *inbound)
{
	for (int i = 0; i < n_arr; i++) {
		const struct evidence_elem *in = &arr[i];
		uint64_t got = inbound ? passed_in(inbound, in) : passed(out, n_out, in);
		struct json_object *x;

		if (in->n_keys != 4)
			continue;
		x = json_object_new_object();
		json_object_object_add(x, "from", jep(in->key[0], in->key[1]));
		json_object_object_add(x, "to", jep(in->key[2], in->key[3]));
		json_object_object_add(x, "arrived", jcount(in->packets));
		json_object_object_add(x, "passed", jcount(got));
		json_object_object_add(x, "dropped", jcount(in->packets > got ? in->packets - got : 0));
		jfirst(x, "first_ms", in->first_ms);
		json_object_array_add(flows, x);
	}
}

/* The address pairs peer k's deliveries came on: from, to (the public
 * endpoint they were addressed to), how many. */
static struct json_object *jpairs(const struct topo *t, const struct evidence *e, int k)
{
	struct evidence_pair pairs[EV_PAIRS_MAX];
	int n = evidence_delivered_pairs(t, e, k, pairs, EV_PAIRS_MAX);
	struct json_object *a = json_object_new_array();

	for (int i = 0; a && i < n; i++) {
		struct json_object *x = json_object_new_object();

		json_object_object_add(x, "from", json_object_new_string(pairs[i].from));
		json_object_object_add(x, "to", json_object_new_string(pairs[i].to));
		json_object_object_add(x, "packets", jcount(pairs[i].packets));
		json_object_array_add(a, x);
	}
	return a;
}

/* What router er passed into its LAN: from, arrived as, passed as, how many. */
static struct json_object *jdeliv(const struct evidence_router *er)
{
	struct json_object *a = json_object_new_array();

	for (int i = 0; a && i < er->n_deliv; i++) {
		const struct evidence_elem *d = &er->deliv[i];
		struct json_object *x;

		if (d->n_keys != 6)
			continue;
		x = json_object_new_object();
		json_object_object_add(x, "from", jep(d->key[0], d->key[1]));
		json_object_object_add(x, "to", jep(d->key[2], d->key[3]));
		json_object_object_add(x, "into", jep(d->key[4], d->key[5]));
		json_object_object_add(x, "packets", jcount(d->packets));
		jfirst(x, "first_ms", d->first_ms);
		json_object_array_add(a, x);
	}
	return a;
}

struct json_object *evidence_json(const struct topo *t, const struct evidence *e)
{
	struct json_object *o = json_object_new_object(), *peers = json_object_new_array(),
			   *routers = json_object_new_array();

	if (!o || !peers || !routers) {
		json_object_put(o);
		o = NULL;
		goto cleanup;
	}
	json_object_object_add(o, "verdict", json_object_new_string(topo_outcome_name(evidence_verdict(t, e))));
	{
		char a[EVIDENCE_EP], b[EVIDENCE_EP];

		if (evidence_direct_pair(t, e, a, b)) {
			struct json_object *pair = json_object_new_array();

			json_object_array_add(pair, json_object_new_string(a));
			json_object_array_add(pair, json_object_new_string(b));
			json_object_object_add(o, "direct_pair", pair);
		}
	}
	json_object_object_add(o, "times", json_object_new_string("ms after the programs started"));
	json_object_object_add(o, "relay_counted_by", json_object_new_string(e->wire ? "RELAY type" : "any UDP from the server"));
	for (int k = 0; k < 2; k++) {
		const struct evidence_peer *pk = &e->peers[k];
		struct json_object *j = json_object_new_object(), *eps = json_object_new_array();

		json_object_object_add(j, "name", json_object_new_string(t->peers[k].name));
		json_object_object_add(j, "from_partner", jcount(pk->from_partner));
		json_object_object_add(j, "from_server", jcount(pk->from_server));
		if (e->wire)
			json_object_object_add(j, "relay", jcount(pk->relay));
		json_object_object_add(j, "sent_to_partner", jcount(pk->to_partner));
		json_object_object_add(j, "sent_to_server", jcount(pk->to_server));
		for (int i = 0; i < pk->n_eps; i++) {
			struct json_object *x = json_object_new_object();

			if (pk->eps[i].n_keys < 2)
				continue;
			json_object_object_add(x, "from", jep(pk->eps[i].key[0], pk->eps[i].key[1]));
			if (pk->eps[i].n_keys == 4)
				json_object_object_add(x, "at", jep(pk->eps[i].key[2], pk->eps[i].key[3]));
			json_object_object_add(x, "packets", jcount(pk->eps[i].packets));
			jfirst(x, "first_ms", pk->eps[i].first_ms);
			json_object_array_add(eps, x);
		}
		json_object_object_add(j, "partner_endpoints", eps);
		json_object_object_add(j, "delivered_pairs", jpairs(t, e, k));
		json_object_array_add(peers, j);
	}
	json_object_object_add(o, "peers", peers);
	peers = NULL;
	for (int r = 0; r < e->n_routers; r++) {
		const struct evidence_router *er = &e->routers[r];
		struct json_object *j = json_object_new_object(), *flows = json_object_new_array(),
				   *outflows = json_object_new_array(), *maps = json_object_new_array();

		json_object_object_add(j, "name", json_object_new_string(t->nats[er->nat].name));
		json_object_object_add(j, "line", json_object_new_int(t->nats[er->nat].line));
		put_flows(flows, er->in, er->n_in, er->out, er->n_out, er);
		put_flows(outflows, er->lan_in, er->n_lan_in, er->wan_out, er->n_wan_out, NULL);
		for (int i = 0; i < er->n_maps; i++) {
			const struct evidence_elem *m = &er->maps[i];
			struct json_object *x;
			int mi = 0, me = 0, mr = 0;

			if (!mapping_fields(m, &mi, &me, &mr))
				continue;
			x = json_object_new_object();
			json_object_object_add(x, "internal", jep(m->key[mi], m->key[mi + 1]));
			json_object_object_add(x, "external", jep(m->key[me], m->key[me + 1]));
			json_object_object_add(x, "remote", jep(m->key[mr], m->key[mr + 1]));
			json_object_object_add(x, "sent_before_reply", jcount(m->packets));
			jfirst(x, "made_ms", m->first_ms);
			if (er->ct_read) {
				json_object_object_add(x, "in_conntrack_at_end", json_object_new_boolean(m->left_s >= 0));
				if (m->left_s >= 0)
					json_object_object_add(x, "seconds_left", json_object_new_int(m->left_s));
			}
			json_object_array_add(maps, x);
		}
		json_object_object_add(j, "inbound", flows);
		json_object_object_add(j, "outbound", outflows);
		json_object_object_add(j, "mappings", maps);
		json_object_object_add(j, "delivered", jdeliv(er));
		json_object_array_add(routers, j);
	}
	json_object_object_add(o, "routers", routers);
	routers = NULL;
cleanup:
	json_object_put(peers);
	json_object_put(routers);
	return o;
}

void evidence_clear(struct evidence *e)
{
	for (int k = 0; k < 2; k++)
		free(e->peers[k].eps);
	for (int r = 0; r < e->n_routers; r++) {
		free(e->routers[r].in);
		free(e->routers[r].out);
		free(e->routers[r].maps);
		free(e->routers[r].lan_in);
		free(e->routers[r].wan_out);
		free(e->routers[r].deliv);
	}
	free(e->routers);
	memset(e, 0, sizeof(*e));
}

/* nft's text listing, split into words: a run of anything but blanks and
 * ",{}", or one of ",{}" alone. Returns the word's length, 0 at the end. */
static size_t next_word(const char **p)
{
	const char *s = *p;
	size_t n = 0;

	while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
		s++;
	*p = s;
	if (!*s)
		return 0;
	if (*s == ',' || *s == '{' || *s == '}')
		return 1;
	while (s[n] && !strchr(" \t\n\r,{}", s[n]))
		n++;
	return n;
}

static bool word_is(const char *w, size_t n, const char *lit)
{
	return strlen(lit) == n && memcmp(w, lit, n) == 0;
}

/* An address or a port as nft prints them numerically. */
static bool key_word(const char *w, size_t n, char *buf, size_t size)
{
	size_t i = n > 2 && w[0] == '0' && w[1] == 'x' ? 2 : 0; /* a mark: 0x419c0000 */

	if (n == 0 || n >= size)
		return false;
	for (; i < n; i++)
		if (!strchr("0123456789abcdefABCDEF:.", w[i]))
			return false;
	memcpy(buf, w, n);
	buf[n] = '\0';
	return true;
}

static bool count_word(const char *w, size_t n, uint64_t *v)
{
	uint64_t x = 0;

	if (n == 0 || n > 19)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (w[i] < '0' || w[i] > '9')
			return false;
		x = x * 10 + (uint64_t)(w[i] - '0');
	}
	*v = x;
	return true;
}

/* "23h59m58s688ms", "1d", "484ms": milliseconds. */
static bool duration_word(const char *w, size_t n, int64_t *ms)
{
	int64_t total = 0;
	size_t i = 0;

	if (n == 0)
		return false;
	while (i < n) {
		int64_t v = 0, unit;
		size_t digits = 0;

		while (i < n && w[i] >= '0' && w[i] <= '9' && digits < 12) {
			v = v * 10 + (w[i++] - '0');
			digits++;
		}
		if (digits == 0 || i >= n)
			return false;
		if (w[i] == 'm' && i + 1 < n && w[i + 1] == 's')
			unit = 1, i += 2;
		else if (w[i] == 'd')
			unit = 86400000, i++;
		else if (w[i] == 'h')
			unit = 3600000, i++;
		else if (w[i] == 'm')
			unit = 60000, i++;
		else if (w[i] == 's')
			unit = 1000, i++;
		else
			return false;
		total += v * unit;
		if (total > EVIDENCE_TIMEOUT_MS * 10)
			return false;
	}
	*ms = total;
	return true;
}

/* One element: key words joined by ".", then "counter packets N bytes N",
 * "expires DURATION", "timeout DURATION" in any order. Leaves *p after it. */
static bool parse_text_elem(const char **p, struct evidence_elem *el)
{
	const char *w;
	size_t n;

	memset(el, 0, sizeof(*el));
	el->expires_ms = -1;
	for (;;) {
		if (el->n_keys == 6)
			return false;
		n = next_word(p);
		if (!key_word(*p, n, el->key[el->n_keys], sizeof(el->key[0])))
			return false;
		el->n_keys++;
		*p += n;
		w = *p;
		n = next_word(&w);
		if (!word_is(w, n, "."))
			break;
		*p = w + n;
	}
	for (;;) {
		uint64_t bytes;

		w = *p;
		n = next_word(&w);
		if (word_is(w, n, ",") || word_is(w, n, "}"))
			return true;
		*p = w + n;
		if (word_is(w, n, "counter")) {
			n = next_word(p);
			if (!word_is(*p, n, "packets"))
				return false;
			*p += n;
			n = next_word(p);
			if (!count_word(*p, n, &el->packets))
				return false;
			*p += n;
			n = next_word(p);
			if (!word_is(*p, n, "bytes"))
				return false;
			*p += n;
			n = next_word(p);
			if (!count_word(*p, n, &bytes))
				return false;
			*p += n;
		} else if (word_is(w, n, "expires") || word_is(w, n, "timeout")) {
			int64_t ms;
			bool expires = word_is(w, n, "expires");

			n = next_word(p);
			if (!duration_word(*p, n, &ms))
				return false;
			*p += n;
			if (expires)
				el->expires_ms = ms;
		} else {
			return false;
		}
	}
}

int evidence_parse_set(const char *text, struct evidence_elem **out, int *n)
{
	struct evidence_elem *v = NULL;
	const char *p;
	int count = 0, cap = 0, rc = -EBADMSG;
	size_t w;

	*out = NULL;
	*n = 0;
	/* "set NAME {" at the start of a line, then maybe "elements = { ... }" */
	if (!text || !(p = strstr(text, "\tset ")))
		return -EBADMSG;
	p = strstr(p, "elements = {");
	if (!p)
		return 0;
	p += strlen("elements = {");
	for (;;) {
		if (count == cap) {
			struct evidence_elem *nv;

			if (cap == EVIDENCE_SET_SIZE)
				goto cleanup; /* more than the set can hold: not ours */
			cap = cap ? 4 * cap : 16;
			nv = realloc(v, (size_t)cap * sizeof(*v));
			if (!nv) {
				rc = -ENOMEM;
				goto cleanup;
			}
			v = nv;
		}
		if (!parse_text_elem(&p, &v[count++]))
			goto cleanup;
		w = next_word(&p);
		if (word_is(p, w, "}"))
			break;
		if (!word_is(p, w, ","))
			goto cleanup;
		p += w;
	}
	*out = v;
	*n = count;
	v = NULL;
	rc = 0;
cleanup:
	free(v);
	return rc;
}

#define EVIDENCE_TICK_SLACK_MS 20

void evidence_stamp(struct evidence_elem *v, int n, int64_t listed_ms)
{
	for (int i = 0; i < n; i++) {
		int64_t first = listed_ms - (EVIDENCE_TIMEOUT_MS - v[i].expires_ms);

		/* The kernel keeps an element's timeout and expiry in jiffies, so
		 * the time left reads up to a tick short and a datagram of the
		 * first milliseconds can come out a few ms before the start,
		 * which nothing can be (the sets are armed before the programs
		 * run): such a time is the start, to within that tick (a tick is
		 * at most 10 ms, HZ >= 100, and the reading rounds twice). */
		if (first < 0 && first >= -EVIDENCE_TICK_SLACK_MS)
			first = 0;
		v[i].first_ms = v[i].expires_ms >= 0 ? first : INT64_MIN;
	}
}

