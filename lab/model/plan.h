/* The plan: a topology turned into the concrete network that will be built.
 *
 * Pure: from a parsed topology, decide every namespace, link, address, route,
 * sysctl and ruleset, and how the programs will be started. The builder
 * (kernel/build.c) only carries the plan out, so everything that can be wrong about
 * addressing is unit-tested here without privileges.
 *
 * The shape: one "inet" namespace holds the internet segment (a bridge, and
 * the internet's router address, which routes to public subnets behind
 * non-translating firewalls); the server and every top-level router or peer
 * hang off that bridge. A router's LAN side is a bridge "lan0" inside the
 * router with one port per host behind it.
 *
 * With ipv6 = yes the same network is dual-stack: every interface that has an
 * IPv4 address also gets an IPv6 one (addr6), every node an IPv6 default
 * route, and the internet's router routes each firewall's IPv6 LAN. No router
 * translates IPv6 (the parser refuses a NAT with ipv6 = yes). Automatic IPv6
 * addresses mirror the IPv4 host numbers, written in the same digits:
 * 203.0.113.10 is 2001:db8::10, 198.51.100.18 (host 2 of a /28) is
 * 2001:db8:1::2. Without ipv6 = yes every *6 field is "".
 */
#ifndef PUNCH_PLAN_H
#define PUNCH_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/model.h"

#define PLAN_IFNAME 16
#define PLAN_ADDR 48
#define PLAN_MAX_IFS 40
/* A route per routed LAN (at most 32 routers), once per address family, and the defaults. */
#define PLAN_MAX_ROUTES 72

/* PLAN_PROBE: a host on a router's LAN for the self-check (selfcheck.c); its
 * index is the router's NAT index. */
enum plan_kind { PLAN_INTERNET, PLAN_SERVER, PLAN_ROUTER, PLAN_PEER, PLAN_PROBE };

struct plan_iface {
	char name[PLAN_IFNAME];
	char addr[PLAN_ADDR];   /* "203.0.113.10/24", or "" */
	char addr2[PLAN_ADDR];  /* a second address, or "" */
	bool bridge;            /* this interface is a bridge created in the node */
	char master[PLAN_IFNAME]; /* enslave to this bridge, or "" */
	char addr6[PLAN_ADDR];  /* ipv6 = yes: "2001:db8::10/64", else "" */
	char addr2_6[PLAN_ADDR]; /* ipv6 = yes: a second IPv6 address (probe hosts, the server), or "" */
};

struct plan_route {
	char dst[PLAN_ADDR];    /* "default", "default6" (::/0) or a cidr of either family */
	char via[PLAN_ADDR];
};

struct plan_node {
	char name[MODEL_NAME_MAX + 8]; /* "inet", "server", "nat-home-a", "peer-alice" */
	enum plan_kind kind;
	int index;              /* into topo nats or peers; -1 for inet and server */
	struct plan_iface ifs[PLAN_MAX_IFS];
	int n_ifs;
	struct plan_route routes[PLAN_MAX_ROUTES];
	int n_routes;
	bool forward;           /* ip_forward = 1 */
	bool has_bridge;        /* turn bridge netfilter off (NAT-NOTES pitfall 4) */
	char ip[PLAN_ADDR];     /* the node's main address, no prefix */
	char ip2[PLAN_ADDR];    /* probes: the second address, no prefix; else "" */
	char ip2_6[PLAN_ADDR];  /* ipv6 = yes, probes and the server: the second IPv6 address */
	char uplink[PLAN_IFNAME]; /* the interface towards the internet */
	char lan_if[PLAN_IFNAME]; /* routers: the LAN bridge */
	char lan_net[PLAN_ADDR];  /* routers: the LAN subnet, "10.0.1.0/24" */
	struct impairment impair; /* netem on uplink */
	char ip6[PLAN_ADDR];    /* ipv6 = yes: the node's main IPv6 address, no prefix */
	char lan_net6[PLAN_ADDR]; /* ipv6 = yes, routers: the IPv6 LAN, "2001:db8:1::/64" */
};

/* A veth pair: a_if in node a, b_if created straight in node b. */
struct plan_link {
	int a, b;
	char a_if[PLAN_IFNAME];
	char b_if[PLAN_IFNAME];
};

struct plan_peer {
	int node;               /* index into nodes */
	char ip[PLAN_ADDR];     /* own address */
	char public_ip[PLAN_ADDR]; /* the address the internet sees (outermost NAT's WAN, or own) */
	uint16_t local_port;    /* distinct per peer (NAT-NOTES pitfall 5) */
	char ip6[PLAN_ADDR];    /* ipv6 = yes: own IPv6 address */
	char public_ip6[PLAN_ADDR]; /* ipv6 = yes: the same (no IPv6 NAT) */
};

struct plan {
	struct plan_node *nodes;
	int n_nodes;
	struct plan_link *links;
	int n_links;
	int server_node;
	char server_ip[PLAN_ADDR];
	char server_ip2[PLAN_ADDR];
	uint16_t server_port;
	struct plan_peer peers[2];
	char server_ip6[PLAN_ADDR]; /* ipv6 = yes: the server's IPv6 address (it listens on both) */
};

/* Build the plan for t. Returns 0, or -EINVAL with "file:line: why" in err
 * (an address that does not fit, too many hosts behind one router...). */
int plan_build(const struct topo *t, struct plan **out, char *err, size_t errsize);
void plan_free(struct plan *p);
/* Index of the router node that holds NAT i of the topology, or -1. */
int plan_nat_node(const struct plan *p, int nat_index);
/* Index of the probe host on the LAN of NAT i, or -1 (no room on that LAN). */
int plan_probe_node(const struct plan *p, int nat_index);

#endif
