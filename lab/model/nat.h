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
 *   mapping EIM:  preserve = masquerade; random = masquerade into NAT_EIM_RANDOM_*;
 *                 sequential = the next port of the NAT_SEQ_* pool for a new internal
 *                 endpoint (numgen), later flows re-use it (nf_nat find_appropriate_src)
 *   mapping ADM:  random = a port per (internal ip, port, remote ip), taken in turn
 *                 from the scattered pool (NAT_SCATTER_*) and remembered in a
 *                 dynamic map; sequential = the same from the NAT_SEQ_* pool in order;
 *                 preserve = as random, except that the first remote address of an
 *                 internal endpoint keeps its port
 *   mapping APDM: random = the next port of the scattered pool per flow (numgen);
 *                 sequential = the same from the NAT_SEQ_* pool; preserve = first flow
 *                 of an internal endpoint keeps the port, later ones as random
 *   filtering APDF: conntrack only; ADF/EIF: a map learned after srcnat
 *                 (external port [. remote ip] -> internal endpoint) used for DNAT
 *   hairpin:      EIM only: the EIF map consulted for packets from the LAN
 *   EIF/ADF:      LAN flows keep their LAN-side tuple in conntrack zone 1, so an
 *                 admitted inbound session never clashes with them and nf_nat never
 *                 rewrites a remote endpoint (doc/nat-notes.md item 10); replies of a
 *                 (host, remote) pair with an admitted session ride that session
 *                 (set @sess: "newest session wins")
 * Not buildable (-EINVAL): hairpin with ADM or APDM, any
 * translation with IPv6, filtering "open" on a NAT, ports other than preserve
 * without a NAT.
 */
#ifndef PUNCH_NAT_H
#define PUNCH_NAT_H

#include <stdbool.h>
#include <stddef.h>

#include "model/model.h"

/* External port pools, outside the Linux default ephemeral range 32768-60999
 * and the lab's peer ports (40001 up), so a translated port is visibly not an
 * internal one and never meets one. */
#define NAT_SCATTER_BASE   10000 /* ADM, APDM random: 10000..10000+NAT_POOL_SIZE-1 */
#define NAT_EIM_RANDOM_MIN 20000
#define NAT_EIM_RANDOM_MAX 29999
#define NAT_SEQ_BASE       30000 /* sequential: 30000..30000+NAT_POOL_SIZE-1 */
#define NAT_POOL_SIZE      1024
/* Step through a scattered pool: odd, so i -> i * step mod size visits every
 * port once per lap; far from 1, so neighbours in time are not in port. */
#define NAT_POOL_STRIDE    613

/* Longest udp_timeout_ms accepted: a day (the kernel keeps timeouts in jiffies). */
#define NAT_MAX_TIMEOUT_MS (86400U * 1000U)

/* Default lifetime of learned maps and sets: the stock replied UDP conntrack timeout. */
#define NAT_DEFAULT_MAP_TIMEOUT_S 120

struct nat_ifaces {
	const char *wan_if;   /* e.g. "wan0" */
	const char *lan_if;   /* e.g. "lan0" */
	const char *wan_ip;   /* the router's WAN IPv4 address, e.g. "203.0.113.20" (NULL for IPv6-only) */
	const char *lan_net;  /* the LAN IPv4 subnet, e.g. "10.0.1.0/24" */
	const char *wan_ip6;  /* optional, for IPv6 firewalls */
	const char *lan_net6; /* optional */
};

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
