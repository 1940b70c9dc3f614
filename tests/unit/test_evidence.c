/* Unit tests for lab/model/evidence.c: the evidence rulesets against golden
 * files (tests/unit/golden/evidence/, rewrite with PUNCHLAB_UPDATE_GOLDEN=1
 * and review), the partner's addresses in every shape of network, the
 * verdict from delivered (not attempted) datagrams, the explanation, and the
 * reading of nft's JSON. Whether the rulesets load and count on a real kernel
 * is checked by tests/lab/punchlab-evidence.sh and punchlab-farnat-drop.sh. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "golden.h"
#include <json-c/json.h>

#include "model/evidence.h"
#include "model/plan.h"
#include "model/topo.h"

/* evidence_json()'s object as the compact text the tests search (and
 * the object released). */
static char *json_text(struct json_object *o)
{
	char *text;

	assert_non_null(o);
	text = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	assert_non_null(text);
	return text;
}

static const char *const two_cones =
	"[nat home-a]\npreset = port-restricted\n\n[nat home-b]\npreset = port-restricted\n\n"
	"[peer alice]\nbehind = home-a\n\n[peer bob]\nbehind = home-b\n";

/* transport = tcp: the direct path counts TCP on a connection only. */
static const char *const tcp_cones =
	"[lab]\ntransport = tcp\n\n[nat home-a]\npreset = port-restricted\n\n[nat home-b]\npreset = port-restricted\n\n"
	"[peer alice]\nbehind = home-a\n\n[peer bob]\nbehind = home-b\n";

static const char *const cgn =
	"[nat cgn]\npreset = port-restricted\nhairpin = yes\nlan = 100.64.0.0/10\n\n"
	"[nat home-a]\npreset = port-restricted\nbehind = cgn\n\n[nat home-b]\npreset = port-restricted\nbehind = cgn\n\n"
	"[peer alice]\nbehind = home-a\n\n[peer bob]\nbehind = home-b\n";

static const char *const same_lan =
	"[nat home]\npreset = port-restricted\nhairpin = yes\n\n[peer alice]\nbehind = home\n\n[peer bob]\nbehind = home\n";

static const char *const v6_firewalls =
	"[lab]\nipv6 = yes\n\n[nat fw-a]\npreset = firewall\n\n[nat fw-b]\npreset = firewall\n\n"
	"[peer alice]\nbehind = fw-a\n\n[peer bob]\nbehind = fw-b\n";

/* inbound-reply = new-mapping: admitted packets pass untracked (nat.c) */
static const char *const new_mapping =
	"[nat home-a]\npreset = port-restricted\n\n[nat home-b]\nmapping = address-and-port-dependent\n"
	"filtering = endpoint-independent\ninbound-reply = new-mapping\n\n"
	"[peer alice]\nbehind = home-a\n\n[peer bob]\nbehind = home-b\n";

static const char *const open_peer =
	"[nat home-b]\npreset = symmetric\n\n[peer alice]\nbehind = internet\n\n[peer bob]\nbehind = home-b\n";

struct net {
	struct topo *t;
	struct plan *p;
};

static struct net build(const char *text)
{
	struct net n = { NULL, NULL };
	char err[256];

	if (topo_parse_buffer("t.topo", text, strlen(text), &n.t, err, sizeof(err)) < 0)
		fail_msg("parse: %s\n%s", err, text);
	if (plan_build(n.t, &n.p, err, sizeof(err)) < 0)
		fail_msg("plan: %s", err);
	return n;
}

static void unbuild(struct net *n)
{
	plan_free(n->p);
	topo_free(n->t);
}

static void golden_peer(const char *topo, int k, bool wire, const char *name)
{
	struct net n = build(topo);
	char *text = NULL;

	assert_int_equal(evidence_peer_ruleset(n.t, n.p, k, wire, &text), 0);
	golden_check("evidence", name, text);
	free(text);
	unbuild(&n);
}

static void golden_router(const char *topo, int nat, const char *name)
{
	struct net n = build(topo);
	char *text = NULL;

	assert_int_equal(evidence_router_ruleset(n.t, n.p, nat, &text), 0);
	golden_check("evidence", name, text);
	free(text);
	unbuild(&n);
}

static void test_rulesets_golden(void **state)
{
	(void)state;
	golden_peer(two_cones, 0, true, "peer-alice-wire.nft");
	golden_peer(two_cones, 1, false, "peer-bob-any-program.nft");
	golden_router(two_cones, 1, "router-home-b.nft");
	golden_router(new_mapping, 1, "router-home-b-new-mapping.nft");
	golden_router(tcp_cones, 0, "router-home-a-tcp.nft");
	golden_peer(v6_firewalls, 0, true, "peer-alice-v6.nft");
	golden_router(v6_firewalls, 0, "router-fw-a-v6.nft");
	golden_peer(cgn, 0, true, "peer-alice-cgn.nft");
	golden_peer(tcp_cones, 0, true, "peer-alice-tcp.nft");
}

/* The relay is matched by WIRE_RELAY and the wire magic, and only for the built-in pair. */
static void test_relay_by_type(void **state)
{
	struct net n = build(two_cones);
	char *wire = NULL, *any = NULL, want[64];

	(void)state;
	assert_int_equal(evidence_peer_ruleset(n.t, n.p, 0, true, &wire), 0);
	assert_int_equal(evidence_peer_ruleset(n.t, n.p, 0, false, &any), 0);
	snprintf(want, sizeof(want), "@th,88,8 %d counter name relay", 48);
	assert_non_null(strstr(wire, want));
	assert_non_null(strstr(wire, "@th,64,16 0x504c"));
	assert_null(strstr(any, "@th"));
	assert_non_null(strstr(any, "counter relay { }")); /* still there, so every reader finds it */
	free(wire);
	free(any);
	unbuild(&n);
}

static void test_partner_addrs(void **state)
{
	char a[EVIDENCE_MAX_ADDRS][PLAN_ADDR];
	struct net n;
	int c;

	(void)state;
	/* across the internet: own and the NAT's WAN */
	n = build(two_cones);
	c = evidence_partner_addrs(n.t, n.p, 1, a, EVIDENCE_MAX_ADDRS);
	assert_int_equal(c, 2);
	assert_string_equal(a[0], n.p->peers[1].ip);
	assert_string_equal(a[1], n.p->peers[1].public_ip);
	unbuild(&n);
	/* CGN: the home router's WAN (what the hairpin at the CGN does not
	 * change... the CGN snats to its own WAN) and the CGN's WAN, both listed */
	n = build(cgn);
	c = evidence_partner_addrs(n.t, n.p, 1, a, EVIDENCE_MAX_ADDRS);
	assert_int_equal(c, 3);
	assert_string_equal(a[1], n.p->nodes[plan_nat_node(n.p, 2)].ip);
	assert_string_equal(a[2], n.p->peers[1].public_ip);
	assert_string_equal(a[2], n.p->nodes[plan_nat_node(n.p, 0)].ip);
	unbuild(&n);
	/* same LAN: the private address (direct on the LAN) and the hairpin's WAN */
	n = build(same_lan);
	c = evidence_partner_addrs(n.t, n.p, 0, a, EVIDENCE_MAX_ADDRS);
	assert_int_equal(c, 2);
	assert_string_equal(a[0], n.p->peers[0].ip);
	assert_string_equal(a[1], n.p->peers[1].public_ip); /* the same WAN for both */
	unbuild(&n);
	/* a peer on the internet: its own address only */
	n = build(open_peer);
	c = evidence_partner_addrs(n.t, n.p, 0, a, EVIDENCE_MAX_ADDRS);
	assert_int_equal(c, 1);
	assert_string_equal(a[0], n.p->peers[0].public_ip);
	unbuild(&n);
	/* IPv6: no translation, its own address */
	n = build(v6_firewalls);
	c = evidence_partner_addrs(n.t, n.p, 0, a, EVIDENCE_MAX_ADDRS);
	assert_int_equal(c, 1);
	assert_string_equal(a[0], n.p->peers[0].ip6);
	unbuild(&n);
}

static void test_router_refusals(void **state)
{
	struct net n = build(two_cones);
	char untouched[] = "untouched", *text = untouched;

	(void)state;
	assert_int_equal(evidence_router_ruleset(n.t, n.p, 7, &text), -EINVAL);
	assert_null(text);
	assert_int_equal(evidence_router_ruleset(n.t, n.p, -1, &text), -EINVAL);
	snprintf(n.p->nodes[plan_nat_node(n.p, 0)].uplink, PLAN_IFNAME, "wan\" drop");
	assert_int_equal(evidence_router_ruleset(n.t, n.p, 0, &text), -EINVAL);
	snprintf(n.p->peers[1].ip, PLAN_ADDR, "10.0.0.1 } drop");
	assert_int_equal(evidence_peer_ruleset(n.t, n.p, 0, true, &text), -EINVAL);
	assert_null(text);
	unbuild(&n);
}

static struct evidence_elem elem(int n, const char *k0, const char *k1, const char *k2, const char *k3,
				 const char *k4, const char *k5, uint64_t packets)
{
	struct evidence_elem e = { .n_keys = n, .packets = packets, .expires_ms = -1, .first_ms = INT64_MIN };
	const char *k[6] = { k0, k1, k2, k3, k4, k5 };

	for (int i = 0; i < n; i++)
		snprintf(e.key[i], sizeof(e.key[i]), "%s", k[i]);
	return e;
}

/* Host k received packets from (from_addr, from_port) at its own endpoint
 * (at_addr, at_port): appended to its partner endpoints. */
static void host_got(struct evidence *e, int k, const char *from_addr, const char *from_port, const char *at_addr,
		     const char *at_port, uint64_t packets)
{
	struct evidence_peer *pk = &e->peers[k];

	pk->eps = realloc(pk->eps, (size_t)(pk->n_eps + 1) * sizeof(*pk->eps));
	assert_non_null(pk->eps);
	pk->eps[pk->n_eps++] = elem(4, from_addr, from_port, at_addr, at_port, NULL, NULL, packets);
	pk->from_partner += packets;
}

/* Router r passed packets from (from) that arrived at (to) into its LAN at (into). */
static void router_passed(struct evidence *e, int r, const char *from_addr, const char *from_port,
			  const char *to_addr, const char *to_port, const char *into_addr, const char *into_port,
			  uint64_t packets)
{
	struct evidence_router *er = &e->routers[r];

	er->deliv = realloc(er->deliv, (size_t)(er->n_deliv + 1) * sizeof(*er->deliv));
	assert_non_null(er->deliv);
	er->deliv[er->n_deliv++] = elem(6, from_addr, from_port, to_addr, to_port, into_addr, into_port, packets);
}

/* An evidence with one router per NAT of n, nothing counted. */
static struct evidence with_routers(const struct net *n, bool wire)
{
	struct evidence e = { .wire = wire };

	e.n_routers = n->t->n_nats;
	e.routers = calloc((size_t)e.n_routers, sizeof(*e.routers));
	assert_non_null(e.routers);
	for (int r = 0; r < e.n_routers; r++)
		e.routers[r].nat = r;
	return e;
}

static void test_verdict(void **state)
{
	struct net n = build(two_cones);
	struct evidence e = { .wire = true };

	(void)state;
	/* attempts both ways, nothing delivered: failed (the bridge counters said direct) */
	e.peers[0].to_partner = 60;
	e.peers[1].to_partner = 60;
	assert_int_equal(evidence_verdict(n.t, &e), OUTCOME_FAILED);
	/* one way only: not direct */
	e.peers[0].from_partner = 12;
	assert_int_equal(evidence_verdict(n.t, &e), OUTCOME_FAILED);
	/* both ways by the counters, but no delivery on any address pair known: not direct */
	e.peers[1].from_partner = 1;
	assert_int_equal(evidence_verdict(n.t, &e), OUTCOME_FAILED);
	/* relayed: RELAY delivered to both, not merely UDP from the server */
	e.peers[1].from_partner = 0;
	e.peers[0].from_server = e.peers[1].from_server = 5;
	assert_int_equal(evidence_verdict(n.t, &e), OUTCOME_FAILED);
	e.peers[0].relay = 3;
	assert_int_equal(evidence_verdict(n.t, &e), OUTCOME_FAILED);
	e.peers[1].relay = 3;
	assert_int_equal(evidence_verdict(n.t, &e), OUTCOME_RELAYED);
	/* a program whose protocol is unknown: any UDP from the server both ways */
	e.wire = false;
	e.peers[0].relay = e.peers[1].relay = 0;
	assert_int_equal(evidence_verdict(n.t, &e), OUTCOME_RELAYED);
	e.peers[1].from_server = 0;
	assert_int_equal(evidence_verdict(n.t, &e), OUTCOME_FAILED);
	unbuild(&n);
}

/* Two port-restricted cones: alice 192.168.1.10:40001 is a_pub:40001 towards
 * bob, bob 192.168.2.10:40002 is b_pub:40002 towards alice. Each router
 * passed the other's datagrams into its LAN and each host received them. */
static struct evidence delivered_both_ways(const struct net *n, const char *b_reply_port)
{
	struct evidence e = with_routers(n, true);
	const char *a_pub = n->p->peers[0].public_ip, *b_pub = n->p->peers[1].public_ip;
	const char *a_ip = n->p->peers[0].ip, *b_ip = n->p->peers[1].ip;

	/* alice -> bob: from a_pub:40001 to b_pub:40002, into bob's 40002 */
	router_passed(&e, 1, a_pub, "40001", b_pub, "40002", b_ip, "40002", 20);
	host_got(&e, 1, a_pub, "40001", b_ip, "40002", 20);
	/* bob -> alice: from b_pub:<b_reply_port> to a_pub:40001, into alice's 40001 */
	router_passed(&e, 0, b_pub, b_reply_port, a_pub, "40001", a_ip, "40001", 18);
	host_got(&e, 0, b_pub, b_reply_port, a_ip, "40001", 18);
	return e;
}

/* Deliveries both ways on one pair = direct; on different pairs (bob's NAT
 * answers from a new mapping, as inbound-reply = new-mapping does) = not;
 * one way only = not; via the server only = relayed. */
static void test_verdict_pairs(void **state)
{
	struct net n = build(two_cones);
	struct evidence e = delivered_both_ways(&n, "40002");
	char a[EVIDENCE_EP], b[EVIDENCE_EP], want[512], *text;
	const char *a_pub = n.p->peers[0].public_ip, *b_pub = n.p->peers[1].public_ip;

	(void)state;
	/* the same pair both ways */
	assert_int_equal(evidence_verdict(n.t, &e), OUTCOME_DIRECT);
	assert_true(evidence_direct_pair(n.t, &e, a, b));
	snprintf(want, sizeof(want), "%s:40001", a_pub);
	assert_string_equal(a, want);
	snprintf(want, sizeof(want), "%s:40002", b_pub);
	assert_string_equal(b, want);
	text = evidence_explain(n.t, n.p, &e);
	snprintf(want, sizeof(want), "both ways on one address pair: alice's %s:40001 and bob's %s:40002.", a_pub,
		 b_pub);
	if (!strstr(text, want))
		fail_msg("%s\nnot in\n%s", want, text);
	free(text);
	evidence_clear(&e);

	/* both ways, but bob's answers come from another external port: two pairs, neither both ways */
	e = delivered_both_ways(&n, "14504");
	e.peers[0].relay = e.peers[1].relay = 11;
	assert_false(evidence_direct_pair(n.t, &e, a, b));
	assert_string_equal(a, "");
	assert_int_equal(evidence_verdict(n.t, &e), OUTCOME_RELAYED);
	text = evidence_explain(n.t, n.p, &e);
	snprintf(want, sizeof(want), "never both ways on one address pair: alice received bob's from %s:14504 at "
		 "%s:40001 (18); bob received alice's from %s:40001 at %s:40002 (20)", b_pub, a_pub, a_pub, b_pub);
	if (!strstr(text, want))
		fail_msg("%s\nnot in\n%s", want, text);
	assert_non_null(strstr(text, "Their data went through the server (11 and 11 RELAY messages delivered)."));
	free(text);
	/* without the relay: failed */
	e.peers[0].relay = 0;
	assert_int_equal(evidence_verdict(n.t, &e), OUTCOME_FAILED);
	evidence_clear(&e);

	/* one way only: bob's datagrams never reached alice */
	e = delivered_both_ways(&n, "40002");
	e.peers[0].from_partner = 0;
	e.peers[0].eps[0].packets = 0;
	assert_false(evidence_direct_pair(n.t, &e, a, b));
	assert_int_equal(evidence_verdict(n.t, &e), OUTCOME_FAILED);
	/* ... and the router passed them, but they did not reach the host: still not */
	e.peers[0].from_partner = 3; /* from some other endpoint of bob's */
	e.peers[0].eps[0] = elem(4, n.p->peers[1].ip, "40002", n.p->peers[0].ip, "40001", NULL, NULL, 3);
	assert_int_equal(evidence_verdict(n.t, &e), OUTCOME_FAILED);
	evidence_clear(&e);

	/* a storm of pairs (each of bob's answers from a new mapping) and the one
	 * both-ways pair the smallest of all, after more than the JSON shows */
	e = delivered_both_ways(&n, "14504");
	for (int i = 0; i < 100; i++) {
		char port[16];

		snprintf(port, sizeof(port), "%d", 20000 + i);
		router_passed(&e, 0, b_pub, port, a_pub, "40001", n.p->peers[0].ip, "40001", 50);
		host_got(&e, 0, b_pub, port, n.p->peers[0].ip, "40001", 50);
	}
	assert_int_equal(evidence_verdict(n.t, &e), OUTCOME_FAILED);
	router_passed(&e, 0, b_pub, "40002", a_pub, "40001", n.p->peers[0].ip, "40001", 1);
	host_got(&e, 0, b_pub, "40002", n.p->peers[0].ip, "40001", 1);
	assert_int_equal(evidence_verdict(n.t, &e), OUTCOME_DIRECT);
	{
		struct evidence_pair top[3];

		assert_int_equal(evidence_delivered_pairs(n.t, &e, 0, top, 3), 3);
		assert_true(top[0].packets == 50 && top[2].packets == 50);
	}
	text = evidence_explain(n.t, n.p, &e);
	assert_non_null(strstr(text, "both ways on one address pair"));
	free(text);
	evidence_clear(&e);
	e = delivered_both_ways(&n, "14504");
	for (int i = 0; i < 5; i++) {
		char port[16];

		snprintf(port, sizeof(port), "%d", 20000 + i);
		host_got(&e, 0, b_pub, port, n.p->peers[0].ip, "40001", 1);
	}
	text = evidence_explain(n.t, n.p, &e);
	assert_non_null(strstr(text, " and on 3 more pairs; bob received"));
	free(text);
	evidence_clear(&e);

	/* via the server only */
	e = with_routers(&n, true);
	e.peers[0].relay = e.peers[0].from_server = 9;
	e.peers[1].relay = e.peers[1].from_server = 8;
	assert_int_equal(evidence_verdict(n.t, &e), OUTCOME_RELAYED);
	assert_int_equal(evidence_delivered_pairs(n.t, &e, 0, (struct evidence_pair[1]){ 0 }, 1), 0);
	evidence_clear(&e);
	unbuild(&n);
}

/* Nested NATs: the pair is the one at the outermost router the datagrams
 * came through; a hairpin (same LAN) one is the host's own address. */
static void test_pairs_nested(void **state)
{
	struct net n = build(cgn);
	struct evidence e = with_routers(&n, false);
	struct evidence_pair pairs[4];
	const char *cgn_wan = n.p->nodes[plan_nat_node(n.p, 0)].ip;
	const char *b_home_wan = n.p->nodes[plan_nat_node(n.p, 2)].ip;
	char want[EVIDENCE_EP];
	int np;

	(void)state;
	/* alice -> bob hairpinned by the cgn: from cgn:1111 to cgn:2222, into
	 * home-b's WAN :3333, into bob's 40002 */
	router_passed(&e, 0, cgn_wan, "1111", cgn_wan, "2222", b_home_wan, "3333", 5);
	router_passed(&e, 2, cgn_wan, "1111", b_home_wan, "3333", n.p->peers[1].ip, "40002", 5);
	host_got(&e, 1, cgn_wan, "1111", n.p->peers[1].ip, "40002", 5);
	/* another router's delivery of the same source elsewhere does not count */
	router_passed(&e, 1, cgn_wan, "1111", cgn_wan, "9999", n.p->peers[0].ip, "40001", 5);
	np = evidence_delivered_pairs(n.t, &e, 1, pairs, 4);
	assert_int_equal(np, 1);
	snprintf(want, sizeof(want), "%s:2222", cgn_wan);
	assert_string_equal(pairs[0].to, want);
	snprintf(want, sizeof(want), "%s:1111", cgn_wan);
	assert_string_equal(pairs[0].from, want);
	assert_int_equal(pairs[0].packets, 5);
	/* a delivery no router passed (the same LAN): the host's own endpoint */
	host_got(&e, 1, "100.64.0.99", "7", n.p->peers[1].ip, "40002", 2);
	np = evidence_delivered_pairs(n.t, &e, 1, pairs, 4);
	assert_int_equal(np, 2);
	snprintf(want, sizeof(want), "%s:40002", n.p->peers[1].ip);
	assert_string_equal(pairs[1].to, want);
	/* at most max pairs */
	assert_int_equal(evidence_delivered_pairs(n.t, &e, 1, pairs, 1), 1);
	evidence_clear(&e);
	unbuild(&n);
}

static void test_expand_delivery(void **state)
{
	struct evidence_elem nat = elem(5, "203.0.113.20", "40001", "14504", "192.168.2.10", "40002", NULL, 3);
	struct evidence_elem le = elem(5, "203.0.113.20", "40001", "0x419c0000", "192.168.2.10", "40002", NULL, 3);
	struct evidence_elem be = elem(5, "203.0.113.20", "40001", "0x00009c41", "192.168.2.10", "40002", NULL, 3);
	struct evidence_elem plain = elem(4, "2001:db8::20", "40001", "2001:db8:2::10", "40002", NULL, NULL, 3);
	static const char *const want[] = { "203.0.113.20", "40001", "203.0.113.21", "40001", "192.168.2.10", "40002" };
	static const char *const bad[] = { "0x419c0001", "0x0", "zz", "0x1419c0000" };

	(void)state;
	evidence_expand_delivery(&nat, EVIDENCE_DELIV_NAT, "203.0.113.21");
	assert_int_equal(nat.n_keys, 6);
	assert_string_equal(nat.key[2], "203.0.113.21");
	assert_string_equal(nat.key[3], "14504");
	assert_string_equal(nat.key[4], "192.168.2.10");
	/* the mark (the port in network order) as a little- and a big-endian host prints it */
	evidence_expand_delivery(&le, EVIDENCE_DELIV_STATELESS, "203.0.113.21");
	evidence_expand_delivery(&be, EVIDENCE_DELIV_STATELESS, "203.0.113.21");
	for (int i = 0; i < 6; i++) {
		assert_string_equal(le.key[i], want[i]);
		assert_string_equal(be.key[i], want[i]);
	}
	evidence_expand_delivery(&plain, EVIDENCE_DELIV_PLAIN, "unused");
	assert_int_equal(plain.n_keys, 6);
	assert_string_equal(plain.key[2], "2001:db8:2::10");
	assert_string_equal(plain.key[3], "40002");
	assert_string_equal(plain.key[5], "40002");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct evidence_elem x = elem(5, "203.0.113.20", "40001", bad[i], "192.168.2.10", "40002", NULL, 1);

		evidence_expand_delivery(&x, EVIDENCE_DELIV_STATELESS, "203.0.113.21");
		if (x.n_keys != 0)
			fail_msg("accepted mark %s", bad[i]);
	}
	/* the wrong number of keys for its kind */
	plain = elem(5, "1", "2", "3", "4", "5", NULL, 1);
	evidence_expand_delivery(&plain, EVIDENCE_DELIV_PLAIN, "x");
	assert_int_equal(plain.n_keys, 0);
	nat = elem(4, "1", "2", "3", "4", NULL, NULL, 1);
	evidence_expand_delivery(&nat, EVIDENCE_DELIV_NAT, "x");
	assert_int_equal(nat.n_keys, 0);
}

/* alice -> bob all dropped by bob's router; bob -> alice delivered. */
static struct evidence far_nat_drops(const struct net *n, bool with_mapping)
{
	struct evidence e = with_routers(n, true);
	const char *a_pub = n->p->peers[0].public_ip, *b_pub = n->p->peers[1].public_ip;
	const char *b_ip = n->p->peers[1].ip;

	e.peers[0].from_partner = 30;
	e.peers[0].to_partner = 38;
	e.peers[1].to_partner = 30;
	e.peers[0].eps = calloc(1, sizeof(struct evidence_elem));
	e.peers[0].eps[0] = elem(4, b_pub, "40002", n->p->peers[0].ip, "40001", NULL, NULL, 30);
	e.peers[0].n_eps = 1;
	e.routers[1].in = calloc(2, sizeof(struct evidence_elem));
	e.routers[1].in[0] = elem(4, a_pub, "40001", b_pub, "40002", NULL, NULL, 38);
	e.routers[1].in[1] = elem(4, "203.0.113.10", "3478", b_pub, "40002", NULL, NULL, 4);
	e.routers[1].n_in = 2;
	e.routers[1].out = calloc(1, sizeof(struct evidence_elem));
	e.routers[1].out[0] = elem(4, "203.0.113.10", "3478", b_pub, "40002", NULL, NULL, 4);
	e.routers[1].n_out = 1;
	if (with_mapping) {
		e.routers[1].maps = calloc(1, sizeof(struct evidence_elem));
		e.routers[1].maps[0] = elem(6, b_ip, "40002", b_pub, "40002", a_pub, "40001", 30);
		e.routers[1].n_maps = 1;
	}
	return e;
}

static void test_explain_far_nat(void **state)
{
	struct net n = build(two_cones);
	struct evidence e = far_nat_drops(&n, false);
	char *text = evidence_explain(n.t, n.p, &e), want[256];

	(void)state;
	assert_null(strstr(text, " ms")); /* no time where none was read */
	assert_int_equal(evidence_verdict(n.t, &e), OUTCOME_FAILED);
	assert_non_null(text);
	snprintf(want, sizeof(want), "bob's router home-b (line 4) dropped 38 datagrams from %s:40001 to %s:40002",
		 n.p->peers[0].public_ip, n.p->peers[1].public_ip);
	if (!strstr(text, want))
		fail_msg("%s\nnot in\n%s", want, text);
	assert_non_null(strstr(text, "it had made no mapping there nor towards that address, so no mapping admits them "
				     "(filtering apdf)"));
	assert_non_null(strstr(text, "bob received none of alice's"));
	assert_non_null(strstr(text, "The server delivered 0 RELAY messages to alice and 0 to bob."));
	free(text);
	evidence_clear(&e);

	/* the same drop with a mapping towards that very endpoint: the rules, not the filtering model */
	e = far_nat_drops(&n, true);
	text = evidence_explain(n.t, n.p, &e);
	snprintf(want, sizeof(want), "it had a mapping there (from %s:40002) towards that very endpoint, so its rules "
		 "dropped them anyway", n.p->peers[1].ip);
	assert_non_null(strstr(text, want));
	free(text);
	/* a symmetric NAT's case: the port was mapped towards the server only, at +8 ms;
	 * the first datagram arrived at +7 ms */
	snprintf(e.routers[1].maps[0].key[4], PLAN_ADDR, "203.0.113.10");
	snprintf(e.routers[1].maps[0].key[5], PLAN_ADDR, "3478");
	e.routers[1].maps[0].first_ms = 8;
	e.routers[1].in[0].first_ms = 7;
	text = evidence_explain(n.t, n.p, &e);
	assert_non_null(strstr(text, "to 203.0.113.21:40002 (the first arrived at +7 ms); "));
	snprintf(want, sizeof(want), "its mapping there (from %s:40002, since +8 ms) was made towards 203.0.113.10:3478, "
		 "and no mapping admits %s:40001 (filtering apdf)", n.p->peers[1].ip, n.p->peers[0].public_ip);
	if (!strstr(text, want))
		fail_msg("%s\nnot in\n%s", want, text);
	free(text);
	evidence_clear(&e);
	unbuild(&n);
}

/* Conntrack read at the end: the mapping towards the dropped endpoint is gone. */
static void test_mark_live(void **state)
{
	struct net n = build(two_cones);
	struct evidence e = far_nat_drops(&n, true);
	struct evidence_ct ct[2] = { 0 };
	char *text, *json;

	(void)state;
	/* an entry for another remote port, and one for the server */
	snprintf(ct[0].src, sizeof(ct[0].src), "%s", n.p->peers[1].ip);
	ct[0].sport = 40002;
	snprintf(ct[0].dst, sizeof(ct[0].dst), "%s", n.p->peers[0].public_ip);
	ct[0].dport = 40009;
	snprintf(ct[0].ext, sizeof(ct[0].ext), "%s", n.p->peers[1].public_ip);
	ct[0].ext_port = 40002;
	ct[0].left_s = 100;
	snprintf(ct[1].src, sizeof(ct[1].src), "%s", n.p->peers[1].ip);
	ct[1].sport = 40002;
	snprintf(ct[1].dst, sizeof(ct[1].dst), "203.0.113.10");
	ct[1].dport = 3478;
	ct[1].left_s = 20;
	evidence_mark_live(&e.routers[1], ct, 2);
	assert_true(e.routers[1].ct_read);
	assert_int_equal(e.routers[1].maps[0].left_s, -1);
	text = evidence_explain(n.t, n.p, &e);
	assert_non_null(strstr(text, "made towards that very endpoint) had expired by the end, gone from its conntrack"));
	json = json_text(evidence_json(n.t, &e));
	assert_non_null(strstr(json, "\"in_conntrack_at_end\":false"));
	free(text);
	free(json);
	/* now it is there, with 57 s left */
	ct[0].dport = 40001;
	ct[0].left_s = 57;
	evidence_mark_live(&e.routers[1], ct, 2);
	assert_int_equal(e.routers[1].maps[0].left_s, 57);
	text = evidence_explain(n.t, n.p, &e);
	assert_non_null(strstr(text, "towards that very endpoint, so its rules dropped them anyway"));
	/* made again on another external port: the one recorded is still gone */
	ct[0].ext_port = 10613;
	evidence_mark_live(&e.routers[1], ct, 2);
	assert_int_equal(e.routers[1].maps[0].left_s, -1);
	ct[0].ext_port = 40002;
	evidence_mark_live(&e.routers[1], ct, 2);
	json = json_text(evidence_json(n.t, &e));
	assert_non_null(strstr(json, "\"in_conntrack_at_end\":true,\"seconds_left\":57"));
	free(text);
	free(json);
	evidence_clear(&e);
	unbuild(&n);
}

/* bob's router blocks UDP: his datagrams die on their way out, towards the server. */
static void test_explain_outbound(void **state)
{
	struct net n = build("[nat home-a]\npreset = port-restricted\n\n[nat office-b]\npreset = udp-blocked\n\n"
			     "[peer alice]\nbehind = home-a\n\n[peer bob]\nbehind = office-b\n");
	struct evidence e = with_routers(&n, true);
	char *text, *json, want[256];

	(void)state;
	e.peers[1].to_server = 13;
	e.routers[1].lan_in = calloc(1, sizeof(struct evidence_elem));
	e.routers[1].lan_in[0] = elem(4, n.p->peers[1].ip, "40002", "203.0.113.10", "3478", NULL, NULL, 13);
	e.routers[1].lan_in[0].first_ms = 2;
	e.routers[1].n_lan_in = 1;
	text = evidence_explain(n.t, n.p, &e);
	snprintf(want, sizeof(want), "bob's router office-b (line 4) dropped 13 datagrams from %s:40002 to "
		 "203.0.113.10:3478 (the first arrived at +2 ms) on their way out (it blocks UDP); alice received "
		 "none of bob's.", n.p->peers[1].ip);
	if (!strstr(text, want))
		fail_msg("%s\nnot in\n%s", want, text);
	assert_non_null(strstr(text, "alice sent no UDP towards bob's addresses."));
	json = json_text(evidence_json(n.t, &e));
	assert_non_null(strstr(json, "\"outbound\":[{\"from\":"));
	assert_non_null(strstr(json, "\"arrived\":13,\"passed\":0,\"dropped\":13,\"first_ms\":2"));
	free(text);
	free(json);
	evidence_clear(&e);
	unbuild(&n);
}

static void test_explain_nothing_sent(void **state)
{
	struct net n = build(two_cones);
	struct evidence e = { .wire = false };
	char *text;

	(void)state;
	e.peers[1].to_partner = 9;
	text = evidence_explain(n.t, n.p, &e);
	assert_non_null(strstr(text, "alice sent no UDP towards bob's addresses."));
	assert_non_null(strstr(text, "bob sent 9 datagrams towards alice's addresses; none reached alice, and no "
				     "router dropped any of them on its way in."));
	assert_non_null(strstr(text, "The server delivered 0 datagrams to alice and 0 to bob."));
	free(text);
	unbuild(&n);
}

static void test_explain_direct_and_json(void **state)
{
	struct net n = build(two_cones);
	struct evidence e = far_nat_drops(&n, true);
	char *text, *json, want[256];

	(void)state;
	/* bob got 2 from alice's public endpoint, 5 from her own address (no router passed those) */
	host_got(&e, 1, n.p->peers[0].public_ip, "40001", n.p->peers[1].ip, "40002", 2);
	host_got(&e, 1, n.p->peers[0].ip, "40001", n.p->peers[1].ip, "40002", 5);
	router_passed(&e, 1, n.p->peers[0].public_ip, "40001", n.p->peers[1].public_ip, "40002", n.p->peers[1].ip,
		      "40002", 2);
	/* the 30 alice got from bob came through her router */
	router_passed(&e, 0, n.p->peers[1].public_ip, "40002", n.p->peers[0].public_ip, "40001", n.p->peers[0].ip,
		      "40001", 30);
	assert_int_equal(evidence_verdict(n.t, &e), OUTCOME_DIRECT);
	text = evidence_explain(n.t, n.p, &e);
	snprintf(want, sizeof(want), "bob 7 from alice at %s:40001", n.p->peers[0].ip);
	if (!strstr(text, want))
		fail_msg("%s\nnot in\n%s", want, text);
	evidence_top_endpoint(&e, 1, want, sizeof(want));
	assert_true(strncmp(want, n.p->peers[0].ip, strlen(n.p->peers[0].ip)) == 0);
	assert_string_equal(want + strlen(n.p->peers[0].ip), ":40001");
	json = json_text(evidence_json(n.t, &e));
	assert_non_null(json);
	assert_non_null(strstr(json, "\"verdict\":\"direct\""));
	/* the deliveries count as passed too (a stateless NAT leaves lan_out empty) */
	assert_non_null(strstr(json, "\"arrived\":38,\"passed\":2,\"dropped\":36"));
	assert_non_null(strstr(json, "\"name\":\"home-b\",\"line\":4"));
	snprintf(want, sizeof(want), "\"direct_pair\":[\"%s:40001\",\"%s:40002\"]", n.p->peers[0].public_ip,
		 n.p->peers[1].public_ip);
	if (!strstr(json, want))
		fail_msg("%s\nnot in\n%s", want, json);
	snprintf(want, sizeof(want), "\"delivered_pairs\":[{\"from\":\"%s:40001\",\"to\":\"%s:40002\",\"packets\":5}",
		 n.p->peers[0].ip, n.p->peers[1].ip);
	if (!strstr(json, want))
		fail_msg("%s\nnot in\n%s", want, json);
	snprintf(want, sizeof(want), "\"at\":\"%s:40001\"", n.p->peers[0].ip);
	assert_non_null(strstr(json, want));
	snprintf(want, sizeof(want), "\"delivered\":[{\"from\":\"%s:40001\",\"to\":\"%s:40002\",\"into\":\"%s:40002\","
		 "\"packets\":2}]", n.p->peers[0].public_ip, n.p->peers[1].public_ip, n.p->peers[1].ip);
	if (!strstr(json, want))
		fail_msg("%s\nnot in\n%s", want, json);
	snprintf(want, sizeof(want), "\"internal\":\"%s:40002\"", n.p->peers[1].ip);
	assert_non_null(strstr(json, want));
	free(text);
	free(json);
	evidence_clear(&e);
	unbuild(&n);
}

static void test_parse_set(void **state)
{
	/* as nft 1.0.6 prints it, counters and expiry in either order */
	static const char *const good =
		"table ip punchlab_evidence {\n\tset wan_in {\n"
		"\t\ttype ipv4_addr . inet_service . ipv4_addr . inet_service\n\t\tsize 4096\n"
		"\t\tflags dynamic,timeout\n\t\tcounter\n\t\ttimeout 1d\n"
		"\t\telements = { 127.0.0.1 . 5555 . 127.0.0.1 . 9998 counter packets 1 bytes 29 expires 23h59m59s988ms,\n"
		"\t\t\t     2001:db8::1 . 5555 . 2001:db8::2 . 9999 expires 1d counter packets 3 bytes 87,\n"
		"\t\t\t     10.0.0.1 . 1 timeout 2h expires 484ms,\n"
		"\t\t\t     10.9.9.9 }\n\t}\n}\n";
	struct evidence_elem *v = NULL;
	int n = -1;

	(void)state;
	assert_int_equal(evidence_parse_set(good, &v, &n), 0);
	assert_int_equal(n, 4);
	assert_int_equal(v[0].n_keys, 4);
	assert_string_equal(v[0].key[0], "127.0.0.1");
	assert_string_equal(v[0].key[3], "9998");
	assert_int_equal(v[0].packets, 1);
	assert_int_equal(v[0].expires_ms, 86399988);
	assert_string_equal(v[1].key[0], "2001:db8::1");
	assert_string_equal(v[1].key[2], "2001:db8::2");
	assert_int_equal(v[1].packets, 3);
	assert_int_equal(v[1].expires_ms, 86400000);
	assert_int_equal(v[2].n_keys, 2);
	assert_int_equal(v[2].packets, 0);
	assert_int_equal(v[2].expires_ms, 484);
	assert_int_equal(v[3].n_keys, 1);
	assert_string_equal(v[3].key[0], "10.9.9.9");
	assert_int_equal(v[3].expires_ms, -1);
	/* first seen: listed 5000 ms after the start, 12 ms of the day gone */
	evidence_stamp(v, n, 5000);
	assert_int_equal(v[0].first_ms, 4988);
	assert_int_equal(v[1].first_ms, 5000);
	assert_true(v[2].first_ms < -1000000); /* far before the start: kept, not hidden */
	assert_true(v[3].first_ms == INT64_MIN);
	/* a tick's rounding just before the start is the start; more is kept */
	v[0].expires_ms = 86399988;
	evidence_stamp(v, 1, 10);
	assert_int_equal(v[0].first_ms, 0);
	evidence_stamp(v, 1, -30);
	assert_int_equal(v[0].first_ms, -42);
	free(v);
	/* an empty set */
	assert_int_equal(evidence_parse_set("table ip t {\n\tset x {\n\t\ttype ipv4_addr\n\t}\n}\n", &v, &n), 0);
	assert_int_equal(n, 0);
	assert_null(v);
	/* not an answer to list set, or elements that are not ours */
	static const char *const bad[] = {
		"", "table ip t {\n}\n", "\tset x {\n\t\telements = { 1.2.3.4 . }\n",
		"\tset x {\n\t\telements = { 1.2.3.4 counter packets x bytes 1 }\n",
		"\tset x {\n\t\telements = { 1.2.3.4 counter packets 1 }\n",
		"\tset x {\n\t\telements = { 1.2.3.4 expires 5 }\n",
		"\tset x {\n\t\telements = { 1.2.3.4 expires 5x }\n",
		"\tset x {\n\t\telements = { 1.2.3.4 expires 99999999999999999d }\n",
		"\tset x {\n\t\telements = { 1 . 2 . 3 . 4 . 5 . 6 . 7 }\n",
		"\tset x {\n\t\telements = { stun . 1 }\n",
		"\tset x {\n\t\telements = { 1.2.3.4, }\n",
		"\tset x {\n\t\telements = { 1.2.3.4 1.2.3.5 }\n",
		"\tset x {\n\t\telements = { 1.2.3.4",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (evidence_parse_set(bad[i], &v, &n) != -EBADMSG)
			fail_msg("accepted: %s", bad[i]);
		assert_null(v);
		assert_int_equal(n, 0);
	}
	assert_int_equal(evidence_parse_set(NULL, &v, &n), -EBADMSG);
	/* a mark as nft prints it (deliv_sl): a key like any other, "0x" and all */
	assert_int_equal(evidence_parse_set("\tset deliv_sl {\n\t\telements = { 203.0.113.20 . 54889 . 0xd4540000 . "
					    "192.168.2.10 . 40002 counter packets 8 bytes 400 }\n", &v, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(v[0].n_keys, 5);
	assert_string_equal(v[0].key[2], "0xd4540000");
	evidence_expand_delivery(&v[0], EVIDENCE_DELIV_STATELESS, "203.0.113.21");
	assert_int_equal(v[0].n_keys, 6);
	assert_string_equal(v[0].key[3], "21716"); /* 0x54d4 */
	free(v);
	assert_int_equal(evidence_parse_set("\tset x {\n\t\telements = { 0xzz }\n", &v, &n), -EBADMSG);
}

static void test_expand_mapping(void **state)
{
	struct evidence_elem v4 = elem(5, "10.0.2.10", "40002", "40002", "203.0.113.21", "40001", NULL, 3);
	struct evidence_elem v6 = elem(4, "2001:db8:2::10", "40002", "2001:db8::21", "40001", NULL, NULL, 3);
	struct evidence_elem odd = elem(2, "1.2.3.4", "5", NULL, NULL, NULL, NULL, 1);
	static const char *const want4[] = { "10.0.2.10", "40002", "198.51.100.9", "40002", "203.0.113.21", "40001" };
	static const char *const want6[] = { "2001:db8:2::10", "40002", "2001:db8:2::10", "40002", "2001:db8::21", "40001" };

	(void)state;
	evidence_expand_mapping(&v4, "198.51.100.9");
	evidence_expand_mapping(&v6, "unused");
	evidence_expand_mapping(&odd, "unused");
	assert_int_equal(v4.n_keys, 6);
	assert_int_equal(v6.n_keys, 6);
	for (int i = 0; i < 6; i++) {
		assert_string_equal(v4.key[i], want4[i]);
		assert_string_equal(v6.key[i], want6[i]);
	}
	assert_int_equal(odd.n_keys, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rulesets_golden),   cmocka_unit_test(test_relay_by_type),
		cmocka_unit_test(test_partner_addrs),     cmocka_unit_test(test_router_refusals),
		cmocka_unit_test(test_verdict),           cmocka_unit_test(test_explain_far_nat),
		cmocka_unit_test(test_explain_nothing_sent), cmocka_unit_test(test_explain_direct_and_json),
		cmocka_unit_test(test_parse_set),         cmocka_unit_test(test_expand_mapping),
		cmocka_unit_test(test_mark_live),         cmocka_unit_test(test_explain_outbound),
		cmocka_unit_test(test_verdict_pairs),     cmocka_unit_test(test_pairs_nested),
		cmocka_unit_test(test_expand_delivery),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
