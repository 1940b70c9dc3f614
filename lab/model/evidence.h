/* Evidence: what the network delivered, and the verdict it supports.
 *
 * Pure: nftables text out, numbers in, a verdict and an explanation out. The
 * kernel side (kernel/witness.c) loads the rulesets and reads them back.
 *
 * Where deliveries are counted: in each peer's own namespace, on the input
 * hook, i.e. after every router on the way has translated and filtered the
 * datagram and it has reached the peer's host. That place is the same for a
 * peer behind a NAT, behind a firewall and directly on the internet, and it
 * counts deliveries, not attempts. Nothing is parsed in the payload but, for
 * the built-in pair, the RELAY type byte (WIRE_RELAY), so the same counters
 * judge programs whose protocol is unknown.
 *
 * Who "the partner" is, as seen by a host: a datagram from the partner
 * carries, as its source, the address of the last translating router on the
 * partner's side that it crossed, or the partner's own address when it
 * crossed none:
 *   - across the internet: the partner's public address;
 *   - same LAN (advertise-local): the partner's own address;
 *   - hairpin or a carrier NAT both sit behind: that router snats to its WAN
 *     address (nat.c), which is on the partner's chain;
 *   - a partner behind nested NATs reached below its outer NAT (a CGN whose
 *     LAN holds the other peer): the WAN address of its inner NAT.
 * So the partner's addresses are its own and the WAN address of each
 * translating router on its way to the internet (evidence_partner_addrs).
 *
 * Verdict: direct when datagrams were delivered both ways on one address
 * pair of the two peers' public endpoints: a delivery to bob from endpoint X
 * addressed to endpoint Y, and one to alice from Y addressed to X (a path
 * both ways that did not go through the server, issue #8). Deliveries each
 * way on different pairs (a NAT whose replies leave from a new mapping,
 * inbound-reply = new-mapping) are no such path. Else relayed when each
 * received relayed data from the server (the built-in pair: RELAY messages;
 * programs whose protocol is unknown: any UDP from the server); else failed.
 *
 * The pair of a delivery: each host records its deliveries by source and its
 * own endpoint they reached; each router records what it passed into its
 * LAN by source, the destination it arrived with and the one it left with
 * (set "deliv": translated, the arrival was the router's WAN address; set
 * "deliv_plain": untranslated; set "deliv_sl": admitted statelessly by an
 * inbound-reply = new-mapping NAT, which leaves no conntrack entry, so the
 * port it arrived at is carried from prerouting in the packet's mark, which
 * never leaves the router's namespace). From a host's delivery (X, own
 * endpoint), walking up its chain of routers, each router that passed X's
 * datagrams to that endpoint gives the destination they arrived with; the
 * last one is the public endpoint they were addressed to
 * (evidence_delivered_pairs).
 *
 * The explanation, for a verdict that is not the expected one, comes from the
 * routers: each counts, per flow (source endpoint, destination endpoint as it
 * arrived on its WAN side), the UDP that arrived on its WAN interface and the
 * UDP it passed into its LAN; the difference is what it dropped (its filter,
 * or a user's rules). It also records each UDP mapping it created (a new
 * conntrack entry going out of its WAN side; its counter counts the
 * datagrams sent while the entry was still unanswered), and after the pair
 * its conntrack table tells which mappings had expired (evidence_mark_live).
 * Every set's elements are added, never refreshed, so when each was first
 * seen is known too (evidence_stamp).
 */
#ifndef PUNCH_EVIDENCE_H
#define PUNCH_EVIDENCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/model.h"
#include "model/plan.h"

/* The nftables table the evidence lives in, in every namespace that has one
 * (its family is "ip", or "ip6" when the pair runs over IPv6). */
#define EVIDENCE_TABLE "punchlab_evidence"
#define EVIDENCE_EP 64        /* "203.0.113.21:10815", "[2001:db8::10]:40001" */
#define EVIDENCE_MAX_ADDRS 34 /* own address and one per router on the way */
#define EVIDENCE_SET_SIZE 4096
/* Every dynamic set's element lifetime: longer than any scenario (at most an
 * hour). Elements are added, never updated, so what an element has left
 * tells when its first datagram was seen (evidence_stamp()). */
#define EVIDENCE_TIMEOUT_MS (86400LL * 1000)

struct json_object;

/* One element of a dynamic set: its key fields as nft prints them, the
 * element's packet counter, and when it was first seen. */
struct evidence_elem {
	char key[6][PLAN_ADDR];
	int n_keys;
	uint64_t packets;
	int64_t expires_ms;     /* as read: ms the element has left (-1: none given) */
	int64_t first_ms;       /* after evidence_stamp(): when it was added, i.e. its first datagram,
				   in ms after the pair started; INT64_MIN: unknown */
	int32_t left_s;         /* mappings, once evidence_mark_live() ran: seconds its conntrack
				   entry had left when read, or -1: gone (expired) by then */
};

/* A conntrack entry: its original tuple (src: the internal endpoint, dst:
 * the remote one), the external endpoint (its reply tuple's destination),
 * and the seconds it has left. */
struct evidence_ct {
	char src[PLAN_ADDR], dst[PLAN_ADDR], ext[PLAN_ADDR];
	uint16_t sport, dport, ext_port;
	uint32_t left_s;
};

/* What peer k's host saw. */
struct evidence_peer {
	uint64_t from_partner;  /* UDP delivered from one of the partner's addresses */
	uint64_t from_server;   /* UDP delivered from the server */
	uint64_t relay;         /* of those, RELAY messages (only with wire) */
	uint64_t to_partner;    /* UDP it sent towards the partner's addresses (attempts) */
	uint64_t to_server;     /* UDP it sent to the server */
	struct evidence_elem *eps; /* partner endpoints delivered from: addr, port, and the
				      host's own endpoint they reached: addr, port */
	int n_eps;
};

/* What router NAT index nat saw. */
struct evidence_router {
	int nat;
	struct evidence_elem *in;   /* arrived on the WAN side: saddr, sport, daddr, dport */
	int n_in;
	struct evidence_elem *out;  /* of those, passed into the LAN (same key) */
	int n_out;
	struct evidence_elem *lan_in;  /* from the LAN to elsewhere: saddr, sport, daddr, dport */
	int n_lan_in;
	struct evidence_elem *wan_out; /* of those, left by the WAN side (source before translation) */
	int n_wan_out;
	struct evidence_elem *maps; /* mappings made: internal addr, port, external addr, port, remote addr, port
					(after evidence_expand_mapping()) */
	int n_maps;
	bool ct_read;           /* its conntrack table was read: left_s of the maps is set */
	struct evidence_elem *deliv; /* passed into its LAN (after evidence_expand_delivery()): source
					addr, port, destination as arrived addr, port, as passed addr, port */
	int n_deliv;
};

/* A delivery's address pair: where it came from, the public endpoint it was
 * addressed to, and how many datagrams its host received so. */
struct evidence_pair {
	char from[EVIDENCE_EP], to[EVIDENCE_EP];
	uint64_t packets;
};

/* How a router's delivery set keys its elements (evidence_expand_delivery()). */
enum evidence_deliv_kind {
	EVIDENCE_DELIV_NAT,       /* "deliv": source, arrived port (at the WAN address), passed addr, port */
	EVIDENCE_DELIV_PLAIN,     /* "deliv_plain": source, passed addr, port (arrived the same) */
	EVIDENCE_DELIV_STATELESS, /* "deliv_sl": as NAT, the arrived port as the mark nft prints */
};

struct evidence {
	bool wire;              /* the pair speaks the punchlab wire protocol (relay counted by type) */
	struct evidence_peer peers[2];
	struct evidence_router *routers;
	int n_routers;
};

/* The addresses peer k's datagrams may carry as their source (see above),
 * into addrs (at most EVIDENCE_MAX_ADDRS, no duplicates). Returns how many. */
int evidence_partner_addrs(const struct topo *t, const struct plan *p, int k,
			   char addrs[][PLAN_ADDR], int max);

/* The ruleset for peer k's own namespace: counters for UDP delivered from
 * its partner and from the server (and RELAY messages when wire), the
 * partner endpoints in a dynamic set, and what it sent. Returns 0 and a
 * malloc'd text, or -ENOMEM / -EINVAL (an address that is not one). */
int evidence_peer_ruleset(const struct topo *t, const struct plan *p, int k, bool wire, char **out);

/* The ruleset for the router node of NAT nat: per-flow arrivals on its WAN
 * side, deliveries into its LAN (per flow, and by the destination they
 * arrived with and left with: the deliv sets) and the mappings it made. Returns 0 and a
 * malloc'd text, or -ENOMEM / -EINVAL. */
int evidence_router_ruleset(const struct topo *t, const struct plan *p, int nat, char **out);

/* The verdict the counters support (see above). */
enum outcome evidence_verdict(const struct topo *t, const struct evidence *e);

/* The address pairs peer k's deliveries from its partner came on (see
 * above), at most max into pairs, one per distinct (from, to), largest count
 * first. Returns how many, or -ENOMEM. */
int evidence_delivered_pairs(const struct topo *t, const struct evidence *e, int k, struct evidence_pair *pairs,
			     int max);

/* The pair both ways that makes the verdict direct: alice's public endpoint
 * into a, bob's into b (each EVIDENCE_EP). Returns false (a, b empty) when
 * no delivery to alice from Y to X has one to bob from X to Y (or out of
 * memory: then the verdict is not direct, a false negative, never a false
 * direct). */
bool evidence_direct_pair(const struct topo *t, const struct evidence *e, char *a, char *b);

/* The partner endpoint peer k received most from, as "addr:port" or
 * "[addr]:port", into buf ("" when none). */
void evidence_top_endpoint(const struct evidence *e, int k, char *buf, size_t size);

/* One or two sentences on why the network's verdict is what it is, from what
 * the routers dropped and the hosts received, e.g. "bob's router home-b
 * (line 9) dropped 38 datagrams from 203.0.113.21:40001 to 198.51.100.20:40002;
 * it had made no mapping towards that endpoint (filtering apdf)." Returns a
 * malloc'd text, or NULL on allocation failure. */
char *evidence_explain(const struct topo *t, const struct plan *p, const struct evidence *e);

/* The whole evidence as one JSON object (per peer, per router, the dropped
 * flows and mappings): a new reference, or NULL out of memory. */
struct json_object *evidence_json(const struct topo *t, const struct evidence *e);

/* Parse nft's text answer to "list set FAMILY TABLE NAME" into elements
 * (key fields as nft prints them numerically; packets from the element's
 * counter, 0 without one; expires_ms, -1 without one). Returns 0 with *out
 * (malloc'd, NULL when the set is empty) and *n, or -EBADMSG for text that
 * is not such an answer, or -ENOMEM. (Text, not JSON: nft's JSON gives an
 * element's expiry in whole seconds only.) */
int evidence_parse_set(const char *text, struct evidence_elem **out, int *n);

/* Set first_ms of the n elements from their expires_ms, read listed_ms after
 * the pair started: listed_ms - (EVIDENCE_TIMEOUT_MS - expires_ms), accurate
 * to a kernel tick; a time up to 20 ms before the start (the tick's rounding)
 * is the start. */
void evidence_stamp(struct evidence_elem *v, int n, int64_t listed_ms);

/* A mappings element as read (five keys: internal addr, port, external
 * port, remote addr, port; four where nothing translates: internal addr,
 * port, remote addr, port) expanded in place to six: internal, external
 * (the router's wan_ip), remote. Others are left alone. */
void evidence_expand_mapping(struct evidence_elem *m, const char *wan_ip);

/* The delivery sets the router of NAT nat has (evidence_router_ruleset()):
 * their names and kinds into names[] and kinds[] (3 at most). Returns how
 * many. */
int evidence_delivery_sets(const struct topo *t, int nat, const char *names[3], enum evidence_deliv_kind kinds[3]);

/* A delivery element as read from the set of kind (see enum
 * evidence_deliv_kind) expanded in place to six keys: source addr, port,
 * destination as arrived addr, port (the arrived address of a translated
 * one is wan_ip), as passed addr, port. One that is not such an element is
 * left with n_keys 0. */
void evidence_expand_delivery(struct evidence_elem *d, enum evidence_deliv_kind kind, const char *wan_ip);

/* Mark each of r's mappings (expanded) with the seconds its conntrack entry
 * has left, found among the n entries ct by all three endpoints (a mapping
 * made again after one expired has the same internal and remote endpoints
 * but, with random ports, another external one), or -1 when none is left:
 * the mapping expired (or was deleted) before the table was read. Sets
 * r->ct_read. */
void evidence_mark_live(struct evidence_router *r, const struct evidence_ct *ct, int n);

/* Free the arrays inside e (not e itself) and zero it. */
void evidence_clear(struct evidence *e);

#endif
