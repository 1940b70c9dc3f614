/* Links, addresses, routes and qdiscs in one network namespace, through
 * libnl-route-3.
 *
 * Each link_ctx owns one rtnetlink socket that was opened inside its
 * namespace (on a netns_run thread), so every request it makes acts there,
 * whichever thread sends it. Errors: every function returns 0 or -errno, and
 * link_error() then holds the kernel's own extended-ack message when it sent
 * one, else libnl's description.
 */
#ifndef PUNCH_LINK_H
#define PUNCH_LINK_H

#include <stdbool.h>

#include "common/mtime.h"
#include "model/model.h"
#include "kernel/netns.h"

struct link_ctx;

/* Open an rtnetlink socket inside ns. lc keeps a pointer to ns: destroy ns
 * only after link_close(lc). Returns 0 or -errno. */
int link_open(struct netns *ns, struct link_ctx **out);
/* link_open() of ns[0..n) into out[0..n), every socket opened from one
 * thread (netns_run_each()). Returns 0, or -errno with every out[i] NULL. */
int link_open_many(struct netns *const *ns, int n, struct link_ctx **out);
/* NULL is fine. */
void link_close(struct link_ctx *lc);

/* Create a veth pair: name in lc's namespace, peer_name created straight
 * inside peer_ns (NULL: lc's own namespace), never in the host namespace.
 * Both ends start down. Returns 0, -EEXIST, or -errno. */
int link_veth(struct link_ctx *lc, const char *name, struct netns *peer_ns, const char *peer_name);
/* link_veth() with name up and in bridge master (NULL: none), in the one
 * request that makes the pair; peer_name goes into peer_lc's namespace, down
 * (the kernel cannot open it before the pair is joined). lc remembers name
 * as up and in master, so that link_up() and link_set_master() of it send
 * nothing. Returns 0, -EEXIST, or -errno. */
int link_veth_up(struct link_ctx *lc, const char *name, const char *master, struct link_ctx *peer_lc,
		 const char *peer_name);
/* Create a bridge, up. Returns 0 or -errno. */
int link_bridge(struct link_ctx *lc, const char *name);
/* Delete ifname (a veth takes its peer along: link_forget() it in the
 * peer's context). Returns 0, -ENODEV, or -errno. */
int link_delete(struct link_ctx *lc, const char *ifname);
/* Forget what lc knew of ifname (gone, or replaced behind lc's back). */
void link_forget(struct link_ctx *lc, const char *ifname);
/* Enslave ifname to bridge. Returns 0, -ENODEV if either is missing, or -errno. */
int link_set_master(struct link_ctx *lc, const char *ifname, const char *bridge);
/* Set ifname up. Returns 0, -ENODEV, or -errno. */
int link_up(struct link_ctx *lc, const char *ifname);
/* Add an address: cidr like "203.0.113.10/24" or "2001:db8::10/64" (IPv6 with
 * IFA_F_NODAD, so it is usable at once). Returns 0, -EINVAL for a bad cidr,
 * -ENODEV, or -errno. */
int link_addr(struct link_ctx *lc, const char *ifname, const char *cidr);
/* Add a route in the main table. dst: "default", "default6" (::/0) or a cidr;
 * via: gateway address or NULL; ifname: output device or NULL (at least one
 * of via and ifname). Returns 0, -EINVAL, -EEXIST, or -errno. */
int link_route(struct link_ctx *lc, const char *dst, const char *via, const char *ifname);
/* Put netem on ifname's root (replacing what is there): delay and jitter in
 * ms, loss in ppm. All zero: no-op. Returns 0, -EINVAL (loss over 1000000,
 * delay or jitter over 60 s), -EOPNOTSUPP when the kernel has no netem, or
 * -errno. */
int link_netem(struct link_ctx *lc, const char *ifname, const struct impairment *imp);
/* Read back the netem root qdisc on ifname. Returns 0, -ENOENT when the root
 * qdisc is not netem, or -errno. Values are rounded to whole ms and ppm. */
int link_netem_get(struct link_ctx *lc, const char *ifname, struct impairment *imp);
/* The ifindex of ifname in lc's namespace, or -ENODEV / -errno: always asked
 * of the kernel (whether the device is still there). */
int link_index(struct link_ctx *lc, const char *ifname);

#define LINK_MAC_LEN 6
/* The Ethernet address of ifname. Returns 0 or -errno. */
int link_mac(struct link_ctx *lc, const char *ifname, unsigned char mac[LINK_MAC_LEN]);
/* A permanent neighbour entry: ip (IPv4 or IPv6, no prefix) is at mac on
 * ifname, so the kernel never asks (ARP or neighbour discovery). Returns 0
 * or -errno. */
int link_neigh(struct link_ctx *lc, const char *ifname, const char *ip, const unsigned char mac[LINK_MAC_LEN]);

/* A link to wait for: ifname in lc's namespace; tap: a TAP device (its
 * operstate stays unknown, its carrier is the evidence). */
struct link_want {
	struct link_ctx *lc;
	const char *ifname;
	bool tap;
};
/* Wait until every link of want[0..n) can carry packets: operationally up
 * (RFC 2863) as the kernel announced it, which it does only once the device
 * has its queue (until then a veth end whose carrier came after it was
 * opened drops all it is given). Costs nothing when they are up already;
 * a link still pending is nudged once (an ethtool link query, which has the
 * kernel settle it at once). At most timeout_ms. Returns 0, or -ETIMEDOUT
 * or -errno with *bad the index of a link that is not up and
 * link_error(want[*bad].lc) saying its state. */
int link_wait_up(const struct link_want *want, int n, int timeout_ms, int *bad);

/* Has ifname joined the solicited-node multicast group of the IPv6 address
 * ip (RFC 4291 2.7.1: ff02::1:ffXX:XXXX, its last 24 bits), as igmp6 (the
 * text of a namespace's /proc/net/igmp6: "IDX DEV GROUP USERS FLAGS TIMER"
 * lines) says? Until it has, the kernel drops every neighbour solicitation
 * for ip: a neighbour asking for it gets no answer. false for a bad ip. */
bool link_solicited_joined(const char *igmp6, const char *ifname, const char *ip);

/* An IPv6 address to wait for: ip ("2001:db8::1", no prefix) on ifname. */
struct link_solicit {
	const char *ifname;
	const char *ip;
};
/* Wait until every address of want[0..n) in ns is answerable: its interface
 * has joined its solicited-node group (link_solicited_joined() of ns's
 * /proc/net/igmp6, read through its holder), polled every 2 ms until
 * deadline (mtime_now()). Nothing is read for n == 0. Returns 0, or
 * -ETIMEDOUT with *bad the index of an address not joined. */
int link_wait_solicited(const struct netns *ns, const struct link_solicit *want, int n, mtime_ms deadline,
			int *bad);

/* The last error text, "" if none. Valid until the next call on lc. */
const char *link_error(const struct link_ctx *lc);

#endif
