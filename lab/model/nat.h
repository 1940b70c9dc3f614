/* The NAT/firewall ruleset generator: a struct nat_behavior in, nftables text out.
 *
 * Pure: no I/O, no kernel. The text is self-contained (no include, no -D
 * defines) and is meant to be loaded in one atomic transaction into a fresh
 * router namespace. It uses one table per family, "table ip punchlab" and,
 * for IPv6 firewalls, "table ip6 punchlab", each holding these named counters
 * (always all of them, so a reader never has to know which behaviour it is):
 *
 *   udp_fwd_out        UDP forwarded from the LAN to the WAN
 *   udp_fwd_in         UDP forwarded from the WAN to the LAN (replies, or let in by the filtering)
 *   udp_dropped_in     UDP from the WAN dropped by the filtering or by udp_blocked, whether
 *                      it was to be forwarded or addressed to the router (a NAT's external
 *                      address without a mapping)
 *   udp_dropped_out    UDP from the LAN dropped (udp_blocked only)
 *   udp_hairpin        UDP hairpinned from the LAN back into the LAN (hairpin only)
 *
 * What each behaviour is built from (see doc/nat-notes.md):
 * Ports come from the router's pool (nat_port_pool: drawn from its seed, in
 * the port range), handed out in turn (numgen inc) and remembered per mapping:
 *   mapping EIM:  a pool port per internal endpoint (map eim_port), for every
 *                 destination; preserve = the endpoint's own port unless another
 *                 endpoint holds it (set busy_port), else a pool port
 *   mapping ADM:  a pool port per (internal ip, port, remote ip) (map adm_port);
 *                 preserve = the first remote address keeps the port when free
 *   mapping APDM: the next pool port per flow; preserve = the first flow of an
 *                 internal endpoint keeps its port when free
 *   ports block:  a subscriber (internal address) gets the next block of the
 *                 pool (map sub_block), and its mappings walk that block
 *   A pool port still in use (busy_idx) is never handed out again: the mapping
 *   then takes nf_nat's own random choice in the range.
 *   filtering APDF: conntrack only; ADF/EIF: a map learned after srcnat
 *                 (external port [. remote ip] -> internal endpoint) used for DNAT
 *   hairpin:      EIM only: the EIF map consulted for packets from the LAN
 *   EIF/ADF:      LAN flows keep their LAN-side tuple in conntrack zone 1, so an
 *                 admitted inbound session never clashes with them and nf_nat never
 *                 rewrites a remote endpoint (doc/nat-notes.md item 10); replies of a
 *                 (host, remote) pair with an admitted session ride that session
 *                 (set @sess: "newest session wins")
 * A NAT given IPv6 addresses too is a dual-stack router: NAT for IPv4, and for
 * IPv6 (there is no IPv6 NAT) the firewall with the NAT's filtering.
 * Not buildable (-EINVAL): hairpin with ADM or APDM, filtering "open" on a
 * NAT, ports other than preserve without a NAT, a NAT with only one of the
 * WAN IPv6 address and the LAN IPv6 subnet.
 */
#ifndef PUNCH_NAT_H
#define PUNCH_NAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "model/model.h"

/* Most ports a router's pool holds. The pool is a uniform sample without
 * replacement of the port range, drawn from the router's seed; a map of all
 * 64512 ports (and its inverse) took 0.5 s to load per router with nft 1.0.6,
 * one of 4096 about 30 ms (doc/nat-notes.md); rootless (in a user namespace,
 * where the netlink send buffer cannot be raised) a batch with two 4096-element
 * maps fails with EMSGSIZE, two of 2048 load. Past this many mappings in one
 * map lifetime the pool comes round, and a port still in use is skipped to
 * nf_nat's own random choice, never handed out twice.
 *
 * Why the pool is not as large as the range: measured again (nft 1.0.6, `nft
 * -f` of the two maps alone, on the shared 2-core machine under make lab):
 * 2048 ports 0.02 s and 7 MB, 8192 ports 0.12 s and 16 MB, all 64512 ports
 * 2.7 s and 99 MB. A router's ruleset is loaded at lab_up() and again by
 * every lab_reset_routers() (after the self-check, and before a slow
 * reclassification): a full-range pool would add seconds per router to every
 * scenario and 100 MB to each concurrent load, and would not load rootless at
 * all. What is lost past NAT_POOL_MAX live mappings is only the seed's
 * reproducibility of those ports: nf_nat's choice is uniform over exactly the
 * configured range and never takes a port in use (test_nat.c
 * test_pool_beyond). */
#define NAT_POOL_MAX 2048

/* The pool of a NAT with ports = preserve: it hands out only what the
 * preserving rule cannot (a port another internal endpoint holds; with an
 * endpoint-dependent mapping, each endpoint's flows after its first), so a
 * smaller one serves, and it is most of a router's load time (22 ms with
 * 2048 ports against 5 ms with 256, tests/bench/bench_lab.c). Past it the
 * same as past NAT_POOL_MAX: nf_nat's uniform choice, not the seed's. */
#define NAT_POOL_PRESERVE 256

/* Longest udp_timeout_ms accepted: a day (the kernel keeps timeouts in jiffies). */
#define NAT_MAX_TIMEOUT_MS (86400U * 1000U)

/* Default lifetime of learned maps and sets: the stock replied UDP conntrack timeout. */
#define NAT_DEFAULT_MAP_TIMEOUT_S 120

/* Default lifetime of learned TCP maps: the stock established TCP conntrack
 * timeout (5 days; RFC 5382 REQ-5 asks for at least 2 h 4 min). */
#define NAT_TCP_DEFAULT_MAP_TIMEOUT_S 432000

struct nat_ifaces {
	const char *wan_if;   /* e.g. "wan0" */
	const char *lan_if;   /* e.g. "lan0" */
	const char *wan_ip;   /* the router's WAN IPv4 address, e.g. "203.0.113.20" (NULL for IPv6-only) */
	const char *lan_net;  /* the LAN IPv4 subnet, e.g. "10.0.1.0/24" */
	const char *wan_ip6;  /* optional, for IPv6 firewalls */
	const char *lan_net6; /* optional */
	uint64_t seed;        /* this router's seed (nat_router_seed): its port pool */
};

/* A router's seed from the run's seed and the router's name: independent of
 * the order routers are built in, different for every router and run. */
uint64_t nat_router_seed(uint64_t run_seed, const char *name);

/* The external port range of b: port-range, or NAT_PORT_{MIN,MAX}_DEFAULT. */
void nat_port_range(const struct nat_behavior *b, unsigned *lo, unsigned *hi);

/* The ports a NAT with behaviour b hands out, in order, for seed: random and
 * preserve (its fallback) a uniform sample without replacement of the range;
 * sequential every port-step-th from port-start (or a port drawn from the
 * seed) round the range. At most max; returns how many, or -EINVAL for an
 * empty range or a bad step/start, -ENOMEM. */
ssize_t nat_port_pool(const struct nat_behavior *b, uint64_t seed, uint16_t *out, size_t max);

/* Does the ruleset of a router with behaviour b ("nat" as for nat_ruleset())
 * admit inbound UDP statelessly on its IPv4 side: inbound-reply = new-mapping
 * with EIF or ADF filtering, the admitted packets rewritten and taken out of
 * conntrack before it (its "inbound" chain)? The IPv6 side never does. */
bool nat_stateless_inbound(const struct nat_behavior *b, bool nat);

/* NAT rebinding: the nft commands that make a router forget every mapping it
 * made, from its listing ("nft list table ip punchlab"): a flush of each
 * learned mapping set and map it holds (eim_port, adm_port, cone maps,
 * sessions, port blocks...). The busy sets are kept, so a flow's next packet
 * (after conntrack is flushed too) gets a mapping with another port. *out is
 * malloc'd ("" when there is nothing to flush). Returns the number of sets
 * flushed, or -ENOMEM. */
int nat_rebind_commands(const char *listing, char **out);

/* Generate the complete ruleset for a router with behaviour b ("nat" false = no
 * translation: firewall or open router; hosts behind it have routed public
 * addresses). Returns 0 and a malloc'd NUL-terminated text in *out (free it),
 * -EINVAL with a message in err for a combination that cannot be built or a
 * malformed name/address, or -ENOMEM. udp_timeout_ms is rounded up to whole
 * seconds (the unit of nftables ct timeout policies). For a firewall, hairpin is
 * accepted and needs no rules: its hosts have their own routed addresses. */
int nat_ruleset(const struct nat_behavior *b, bool nat, const struct nat_ifaces *ifc, char **out,
		char *err, size_t errsize);

#endif
