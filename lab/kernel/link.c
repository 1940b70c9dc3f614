/* Links, addresses, routes and qdiscs through libnl-route-3. See link.h.
 *
 * libnl 3.7 does not decode netlink extended acks, so the socket asks for
 * them (NETLINK_EXT_ACK, with NETLINK_CAP_ACK so the kernel does not echo our
 * request back) and an error callback picks NLMSGERR_ATTR_MSG out of the
 * NLMSG_ERROR message itself, together with the kernel's exact errno (libnl
 * would only give us its own, coarser, error code).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/ethtool.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/pkt_sched.h>
#include <linux/sockios.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <netlink/attr.h>
#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/neighbour.h>
#include <netlink/route/qdisc.h>
#include <netlink/route/qdisc/netem.h>
#include <netlink/route/route.h>
#include <netlink/route/tc.h>

#include "common/cidr.h"
#include "common/log.h"
#include "common/mtime.h"
#include "kernel/link.h"

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

/* linux/if.h has these but clashes with net/if.h. */
#ifndef IFF_LOWER_UP
#define IFF_LOWER_UP 0x10000    /* carrier */
#endif
enum { OPER_UNKNOWN = 0, OPER_UP = 6 };  /* IF_OPER_* (RFC 2863) */

#define NETEM_MS_MAX 60000u     /* keeps delay/jitter in µs well inside an int */

/* Interfaces named in one namespace: room for a node's most (PLAN_MAX_IFS,
 * 40), lo and a few. */
#define LINK_IFS_MAX 64

/* One interface of the context's namespace, by name, in two parts.
 * What this context made or looked up: its index (0: not known yet),
 * whether we set it up, and the master we put it in (0: none known), so
 * that asking again costs no request. Each request that changes a link
 * takes the kernel's RTNL lock, for which every namespace on the machine
 * queues. link_forget() clears this part.
 * Its state as the kernel last announced it (RTM_NEWLINK/RTM_DELLINK on
 * the monitor socket): a name may come back as another device (a veth
 * replaced by a TAP of the same name), the last word counts. */
struct link_if {
	char name[IFNAMSIZ];
	int index;
	int master;
	bool up;
	bool seen;              /* announced: the fields below are the kernel's */
	unsigned flags;         /* ifi_flags: IFF_UP, IFF_LOWER_UP */
	unsigned char oper;     /* IFLA_OPERSTATE (RFC 2863) */
	bool gone;
};

struct link_ctx {
	struct netns *ns;
	struct nl_sock *sk;
	struct link_if ifs[LINK_IFS_MAX];
	int n_ifs;
	/* Subscribed to RTNLGRP_LINK as the namespace is opened, before any
	 * link of ours exists, so that no announcement is missed
	 * (link_wait_up()). -1: none. */
	int mon;
	int kerr;               /* errno of the kernel's last NLMSG_ERROR, 0 if none */
	char ext[256];          /* its extended-ack message, "" if none */
	char err[448];          /* what link_error() returns */
};

/* Called by libnl for every NLMSG_ERROR with a non-zero error. e points into
 * the received message right after its header; libnl has checked that the
 * message holds at least a whole struct nlmsgerr, and that nlmsg_len fits the
 * bytes received. */
static int on_nl_error(struct sockaddr_nl *nla, struct nlmsgerr *e, void *arg)
{
	static struct nla_policy policy[NLMSGERR_ATTR_MAX + 1] = {
		[NLMSGERR_ATTR_MSG] = { .type = NLA_STRING },
	};
	struct link_ctx *lc = arg;
	struct nlmsghdr *h = (struct nlmsghdr *)(void *)((char *)e - NLMSG_HDRLEN);
	struct nlattr *tb[NLMSGERR_ATTR_MAX + 1];
	size_t off, len = h->nlmsg_len;

	lc->kerr = -e->error;
	lc->ext[0] = '\0';
	if (!(h->nlmsg_flags & NLM_F_ACK_TLVS))
		return NL_STOP;
	off = NLMSG_HDRLEN + sizeof(*e);
	if (!(h->nlmsg_flags & NLM_F_CAPPED)) {
		/* The whole request is echoed before the attributes. */
		if (e->msg.nlmsg_len < NLMSG_HDRLEN || e->msg.nlmsg_len > len)
			return NL_STOP;
		off += e->msg.nlmsg_len - NLMSG_HDRLEN;
	}
	off = NLMSG_ALIGN(off);
	if (off >= len)
		return NL_STOP;
	if (nla_parse(tb, NLMSGERR_ATTR_MAX, (struct nlattr *)(void *)((char *)h + off),
		      (int)(len - off), policy) < 0)
		return NL_STOP;
	if (tb[NLMSGERR_ATTR_MSG])
		snprintf(lc->ext, sizeof(lc->ext), "%s", (const char *)nla_data(tb[NLMSGERR_ATTR_MSG]));
	/* NL_STOP: libnl returns its own code for e->error; we keep ours. */
	return NL_STOP;
}

static void lc_reset(struct link_ctx *lc)
{
	lc->kerr = 0;
	lc->ext[0] = '\0';
	lc->err[0] = '\0';
}

static int nlerr_errno(int nlerr)
{
	switch (nlerr < 0 ? -nlerr : nlerr) {
	case NLE_NOMEM: return ENOMEM;
	case NLE_EXIST: return EEXIST;
	case NLE_INVAL: return EINVAL;
	case NLE_RANGE: return ERANGE;
	case NLE_OPNOTSUPP: return EOPNOTSUPP;
	case NLE_OBJ_NOTFOUND: return ENOENT;
	case NLE_NODEV: return ENODEV;
	case NLE_PERM: return EPERM;
	case NLE_BUSY: return EBUSY;
	case NLE_AGAIN: return EAGAIN;
	case NLE_NOACCESS: return EACCES;
	case NLE_AF_NOSUPPORT: return EAFNOSUPPORT;
	case NLE_MSGSIZE: return EMSGSIZE;
	default: return EIO;
	}
}

/* Record a failure: the kernel's errno and extack text if it sent an error,
 * else libnl's. Returns -errno. */
static int lc_fail(struct link_ctx *lc, int nlerr, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int lc_fail(struct link_ctx *lc, int nlerr, const char *fmt, ...)
{
	char what[160];
	va_list ap;
	int e = lc->kerr ? lc->kerr : nlerr_errno(nlerr);

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (lc->ext[0])
		snprintf(lc->err, sizeof(lc->err), "%s: %s", what, lc->ext);
	else if (lc->kerr)
		snprintf(lc->err, sizeof(lc->err), "%s: %s", what, strerror(lc->kerr));
	else
		snprintf(lc->err, sizeof(lc->err), "%s: %s", what, nl_geterror(nlerr));
	log_debug("netns %s: %s", netns_name(lc->ns), lc->err);
	return -e;
}

/* A failure found before talking to the kernel. */
static int lc_invalid(struct link_ctx *lc, int e, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int lc_invalid(struct link_ctx *lc, int e, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(lc->err, sizeof(lc->err), fmt, ap);
	va_end(ap);
	log_debug("netns %s: %s", netns_name(lc->ns), lc->err);
	return -e;
}

/* The monitor socket: link announcements of this namespace, queued until
 * link_wait_up() reads them. A node's links make a few dozen announcements
 * of a few kB each: room for them (more where we may, FORCE as root); an
 * overflow is noticed (ENOBUFS) and made good with a dump. */
static int mon_open(struct link_ctx *lc)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_groups = RTMGRP_LINK };
	int size = 1 << 20;

	lc->mon = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE);
	if (lc->mon < 0 || bind(lc->mon, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		snprintf(lc->err, sizeof(lc->err), "link monitor socket: %s", strerror(errno));
		return -errno;
	}
	if (setsockopt(lc->mon, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0)
		setsockopt(lc->mon, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	return 0;
}

static int open_in_ns(void *arg)
{
	struct link_ctx *lc = arg;
	int one = 1, err;

	lc->sk = nl_socket_alloc();
	if (lc->sk == NULL)
		return -ENOMEM;
	err = nl_connect(lc->sk, NETLINK_ROUTE);
	if (err < 0) {
		snprintf(lc->err, sizeof(lc->err), "nl_connect: %s", nl_geterror(err));
		return -nlerr_errno(err);
	}
	/* Best effort: older kernels just do without. */
	setsockopt(nl_socket_get_fd(lc->sk), SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
	setsockopt(nl_socket_get_fd(lc->sk), SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
	err = nl_socket_modify_err_cb(lc->sk, NL_CB_CUSTOM, on_nl_error, lc);
	if (err < 0)
		return -nlerr_errno(err);
	return mon_open(lc);
}

int link_open(struct netns *ns, struct link_ctx **out)
{
	struct link_ctx *lc;
	int err;

	*out = NULL;
	lc = calloc(1, sizeof(*lc));
	if (lc == NULL)
		return -ENOMEM;
	lc->ns = ns;
	lc->mon = -1;
	err = netns_run(ns, open_in_ns, lc);
	if (err < 0) {
		errno = -err;
		log_warn("netns %s: opening an rtnetlink socket%s%s", netns_name(ns),
			 lc->err[0] ? ": " : "", lc->err);
		link_close(lc);
		return err;
	}
	*out = lc;
	return 0;
}

struct open_many {
	struct netns *const *ns;
	struct link_ctx **lc;
};

static int open_one(void *arg, int i)
{
	struct open_many *om = arg;
	struct link_ctx *lc = calloc(1, sizeof(*lc));
	int err;

	if (lc == NULL)
		return -ENOMEM;
	lc->ns = om->ns[i];
	lc->mon = -1;
	err = open_in_ns(lc);
	if (err < 0) {
		errno = -err;
		log_warn("netns %s: opening an rtnetlink socket%s%s", netns_name(lc->ns), lc->err[0] ? ": " : "",
			 lc->err);
		link_close(lc);
		return err;
	}
	om->lc[i] = lc;
	return 0;
}

int link_open_many(struct netns *const *ns, int n, struct link_ctx **out)
{
	struct open_many om = { .ns = ns, .lc = out };
	int err;

	for (int i = 0; i < n; i++)
		out[i] = NULL;
	err = netns_run_each(ns, n, open_one, &om);
	for (int i = 0; err < 0 && i < n; i++) {
		link_close(out[i]);
		out[i] = NULL;
	}
	return err;
}

void link_close(struct link_ctx *lc)
{
	if (lc == NULL)
		return;
	nl_socket_free(lc->sk);
	if (lc->mon >= 0)
		close(lc->mon);
	free(lc);
}

const char *link_error(const struct link_ctx *lc)
{
	return lc->err;
}

static bool ifname_ok(const char *name)
{
	size_t len = name ? strlen(name) : 0;

	if (len == 0 || len >= IFNAMSIZ)
		return false;
	for (size_t i = 0; i < len; i++)
		if (name[i] == '/' || name[i] == ':' || name[i] <= ' ' || name[i] == 0x7f)
			return false;
	return strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
}

static struct link_if *if_find(struct link_ctx *lc, const char *name)
{
	for (int i = 0; i < lc->n_ifs; i++)
		if (strcmp(lc->ifs[i].name, name) == 0)
			return &lc->ifs[i];
	return NULL;
}

/* name's entry, made if there is none (NULL when the table is full: then
 * nothing is remembered and every call asks the kernel). */
static struct link_if *if_add(struct link_ctx *lc, const char *name)
{
	struct link_if *k = if_find(lc, name);

	if (k || lc->n_ifs == LINK_IFS_MAX)
		return k;
	k = &lc->ifs[lc->n_ifs++];
	memset(k, 0, sizeof(*k));
	snprintf(k->name, sizeof(k->name), "%s", name);
	return k;
}

void link_forget(struct link_ctx *lc, const char *ifname)
{
	struct link_if *k = if_find(lc, ifname);

	if (k) {
		k->index = 0;
		k->master = 0;
		k->up = false;
	}
}

/* The ifindex of name; records the failure in lc. */
static int lookup_index(struct link_ctx *lc, const char *name)
{
	struct rtnl_link *link = NULL;
	struct link_if *k;
	int err, idx;

	if (!ifname_ok(name))
		return lc_invalid(lc, EINVAL, "bad interface name \"%s\"", name ? name : "(null)");
	k = if_find(lc, name);
	if (k && k->index > 0)
		return k->index;
	err = rtnl_link_get_kernel(lc->sk, 0, name, &link);
	if (err < 0) {
		if (lc->kerr == ENODEV || err == -NLE_OBJ_NOTFOUND || err == -NLE_NODEV) {
			lc->kerr = ENODEV;
			return lc_fail(lc, err, "interface %s", name);
		}
		return lc_fail(lc, err, "looking up interface %s", name);
	}
	idx = rtnl_link_get_ifindex(link);
	rtnl_link_put(link);
	if (idx > 0 && (k = if_add(lc, name)))
		k->index = idx;
	return idx;
}

int link_index(struct link_ctx *lc, const char *ifname)
{
	struct link_if *k;

	lc_reset(lc);
	/* Asked of the kernel: this is how a caller finds out whether a device
	 * is still there, e.g. after its peer's namespace went away. */
	if (ifname_ok(ifname) && (k = if_find(lc, ifname)))
		k->index = 0;
	return lookup_index(lc, ifname);
}

/* The veth pair name/peer_name, peer_name made straight inside peer_ns
 * (IFLA_NET_NS_FD inside VETH_INFO_PEER; NULL: a bad call). With up, name is
 * up and in bridge master (NULL: none) in the request that makes it, and lc
 * remembers so. */
static int veth_add(struct link_ctx *lc, const char *name, const char *master, bool up, struct netns *peer_ns,
		    const char *peer_name)
{
	struct rtnl_link *link = NULL, *peer = NULL;
	struct link_if *k;
	int err, midx = 0;

	lc_reset(lc);
	if (!ifname_ok(name) || !ifname_ok(peer_name) || peer_ns == NULL)
		return lc_invalid(lc, EINVAL, "bad veth names \"%s\"/\"%s\"", name ? name : "(null)",
				  peer_name ? peer_name : "(null)");
	if (master && (midx = lookup_index(lc, master)) < 0)
		return midx;
	link = rtnl_link_veth_alloc();
	if (link == NULL)
		return lc_invalid(lc, ENOMEM, "veth %s: out of memory", name);
	peer = rtnl_link_veth_get_peer(link);
	rtnl_link_set_name(link, name);
	rtnl_link_set_name(peer, peer_name);
	/* Not the peer up: the kernel would open it before the pair is joined
	 * (ENOTCONN). */
	if (up)
		rtnl_link_set_flags(link, IFF_UP);
	if (midx > 0)
		rtnl_link_set_master(link, midx);
	if (peer_ns != lc->ns)
		rtnl_link_set_ns_fd(peer, netns_fd(peer_ns));
	err = rtnl_link_add(lc->sk, link, NLM_F_CREATE | NLM_F_EXCL);
	if (err < 0) {
		err = lc_fail(lc, err, "creating veth %s (peer %s in %s)%s%s", name, peer_name, netns_name(peer_ns),
			      master ? " in bridge " : "", master ? master : "");
	} else if (up && (k = if_add(lc, name))) {
		k->up = true;
		k->master = midx;
	}
	rtnl_link_put(peer);
	rtnl_link_put(link);
	return err;
}

int link_veth(struct link_ctx *lc, const char *name, struct netns *peer_ns, const char *peer_name)
{
	return veth_add(lc, name, NULL, false, peer_ns ? peer_ns : lc->ns, peer_name);
}

int link_veth_up(struct link_ctx *lc, const char *name, const char *master, struct link_ctx *peer_lc,
		 const char *peer_name)
{
	return veth_add(lc, name, master, true, peer_lc ? peer_lc->ns : NULL, peer_name);
}

int link_bridge(struct link_ctx *lc, const char *name)
{
	struct rtnl_link *link;
	int err;

	lc_reset(lc);
	if (!ifname_ok(name))
		return lc_invalid(lc, EINVAL, "bad bridge name \"%s\"", name ? name : "(null)");
	link = rtnl_link_alloc();
	if (link == NULL)
		return lc_invalid(lc, ENOMEM, "bridge %s: out of memory", name);
	rtnl_link_set_name(link, name);
	rtnl_link_set_flags(link, IFF_UP);      /* up as it is made: no second request */
	err = rtnl_link_set_type(link, "bridge");
	if (err >= 0)
		err = rtnl_link_add(lc->sk, link, NLM_F_CREATE | NLM_F_EXCL);
	if (err < 0) {
		err = lc_fail(lc, err, "creating bridge %s", name);
	} else {
		struct link_if *k = if_add(lc, name);

		if (k)
			k->up = true;
	}
	rtnl_link_put(link);
	return err;
}

int link_delete(struct link_ctx *lc, const char *ifname)
{
	struct rtnl_link *link;
	int idx, err;

	lc_reset(lc);
	idx = lookup_index(lc, ifname);
	if (idx < 0)
		return idx;
	link = rtnl_link_alloc();
	if (link == NULL)
		return lc_invalid(lc, ENOMEM, "deleting %s: out of memory", ifname);
	rtnl_link_set_ifindex(link, idx);
	err = rtnl_link_delete(lc->sk, link);
	if (err < 0)
		err = lc_fail(lc, err, "deleting %s", ifname);
	link_forget(lc, ifname);
	rtnl_link_put(link);
	return err;
}

int link_set_master(struct link_ctx *lc, const char *ifname, const char *bridge)
{
	struct link_if *k;
	int idx, master, err;

	lc_reset(lc);
	k = ifname_ok(ifname) ? if_find(lc, ifname) : NULL;
	/* One we put in a bridge as it was made (link_veth_up()) needs no
	 * lookup of its own index to be found already there. */
	idx = k && k->master > 0 ? 0 : lookup_index(lc, ifname);
	if (idx < 0)
		return idx;
	master = lookup_index(lc, bridge);
	if (master < 0)
		return master;
	k = if_find(lc, ifname);
	if (k && k->master == master)
		return 0;
	if (idx == 0 && (idx = lookup_index(lc, ifname)) < 0)
		return idx;
	err = rtnl_link_enslave_ifindex(lc->sk, master, idx);
	if (err < 0)
		return lc_fail(lc, err, "adding %s to bridge %s", ifname, bridge);
	if ((k = if_add(lc, ifname)))
		k->master = master;
	return 0;
}

int link_up(struct link_ctx *lc, const char *ifname)
{
	struct rtnl_link *orig = NULL, *change = NULL;
	struct link_if *k;
	int idx, err;

	lc_reset(lc);
	k = ifname_ok(ifname) ? if_find(lc, ifname) : NULL;
	if (k && k->up)
		return 0;
	idx = lookup_index(lc, ifname);
	if (idx < 0)
		return idx;
	orig = rtnl_link_alloc();
	change = rtnl_link_alloc();
	if (orig == NULL || change == NULL) {
		err = lc_invalid(lc, ENOMEM, "%s up: out of memory", ifname);
		goto cleanup;
	}
	rtnl_link_set_ifindex(orig, idx);
	rtnl_link_set_flags(change, IFF_UP);
	err = rtnl_link_change(lc->sk, orig, change, 0);
	if (err < 0)
		err = lc_fail(lc, err, "setting %s up", ifname);
	else if ((k = if_add(lc, ifname)))
		k->up = true;
cleanup:
	if (orig)
		rtnl_link_put(orig);
	if (change)
		rtnl_link_put(change);
	return err;
}

/* "ADDR/PREFIX" (prefix required) or, with prefix_opt, a bare address (full
 * length prefix). Returns a new nl_addr or NULL. */
static struct nl_addr *parse_cidr(const char *text, bool prefix_opt)
{
	struct cidr c;
	struct nl_addr *a;

	if (text == NULL || cidr_parse(text, 0, prefix_opt ? CIDR_BARE : 0, &c) < 0)
		return NULL;
	a = nl_addr_build(c.family, c.a, c.family == AF_INET ? 4 : 16);
	if (a)
		nl_addr_set_prefixlen(a, c.plen);
	return a;
}

int link_addr(struct link_ctx *lc, const char *ifname, const char *cidr)
{
	struct nl_addr *local = NULL;
	struct rtnl_addr *addr = NULL;
	int idx, err;

	lc_reset(lc);
	local = parse_cidr(cidr, false);
	if (local == NULL)
		return lc_invalid(lc, EINVAL, "bad address \"%s\" (want ADDR/PREFIX)",
				  cidr ? cidr : "(null)");
	idx = lookup_index(lc, ifname);
	if (idx < 0) {
		err = idx;
		goto cleanup;
	}
	addr = rtnl_addr_alloc();
	if (addr == NULL) {
		err = lc_invalid(lc, ENOMEM, "address %s: out of memory", cidr);
		goto cleanup;
	}
	rtnl_addr_set_ifindex(addr, idx);
	err = rtnl_addr_set_local(addr, local);
	if (err >= 0 && nl_addr_get_family(local) == AF_INET6)
		rtnl_addr_set_flags(addr, IFA_F_NODAD);   /* usable at once, no tentative phase */
	if (err >= 0)
		err = rtnl_addr_add(lc->sk, addr, NLM_F_EXCL);
	if (err < 0)
		err = lc_fail(lc, err, "adding %s to %s", cidr, ifname);
cleanup:
	if (addr)
		rtnl_addr_put(addr);
	nl_addr_put(local);
	return err;
}

int link_route(struct link_ctx *lc, const char *dst, const char *via, const char *ifname)
{
	struct nl_addr *daddr = NULL, *gw = NULL;
	struct rtnl_route *route = NULL;
	struct rtnl_nexthop *nh = NULL;
	int idx = 0, err, family;

	lc_reset(lc);
	if (dst == NULL || (via == NULL && ifname == NULL))
		return lc_invalid(lc, EINVAL, "route needs a destination and a gateway or a device");
	if (strcmp(dst, "default") == 0)
		daddr = parse_cidr("0.0.0.0/0", false);
	else if (strcmp(dst, "default6") == 0)
		daddr = parse_cidr("::/0", false);
	else
		daddr = parse_cidr(dst, false);
	if (daddr == NULL)
		return lc_invalid(lc, EINVAL, "bad route destination \"%s\"", dst);
	family = nl_addr_get_family(daddr);
	if (via) {
		gw = parse_cidr(via, true);
		if (gw == NULL || nl_addr_get_family(gw) != family ||
		    nl_addr_get_prefixlen(gw) != (family == AF_INET ? 32 : 128)) {
			err = lc_invalid(lc, EINVAL, "bad gateway \"%s\" for %s", via, dst);
			goto cleanup;
		}
	}
	if (ifname) {
		idx = lookup_index(lc, ifname);
		if (idx < 0) {
			err = idx;
			goto cleanup;
		}
	}
	route = rtnl_route_alloc();
	nh = rtnl_route_nh_alloc();
	if (route == NULL || nh == NULL) {
		err = lc_invalid(lc, ENOMEM, "route %s: out of memory", dst);
		goto cleanup;
	}
	rtnl_route_set_family(route, (uint8_t)family);
	rtnl_route_set_table(route, RT_TABLE_MAIN);
	rtnl_route_set_protocol(route, RTPROT_STATIC);
	rtnl_route_set_type(route, RTN_UNICAST);
	rtnl_route_set_scope(route, via ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK);
	err = rtnl_route_set_dst(route, daddr);
	if (err < 0) {
		err = lc_fail(lc, err, "route %s", dst);
		goto cleanup;
	}
	if (gw)
		rtnl_route_nh_set_gateway(nh, gw);
	if (idx > 0)
		rtnl_route_nh_set_ifindex(nh, idx);
	rtnl_route_add_nexthop(route, nh);
	nh = NULL;              /* owned by route now */
	err = rtnl_route_add(lc->sk, route, NLM_F_EXCL);
	if (err < 0)
		err = lc_fail(lc, err, "adding route %s%s%s%s%s", dst, via ? " via " : "", via ? via : "",
			      ifname ? " dev " : "", ifname ? ifname : "");
cleanup:
	if (nh)
		rtnl_route_nh_free(nh);
	if (route)
		rtnl_route_put(route);
	if (gw)
		nl_addr_put(gw);
	nl_addr_put(daddr);
	return err;
}

int link_netem(struct link_ctx *lc, const char *ifname, const struct impairment *imp)
{
	struct rtnl_qdisc *q = NULL;
	int idx, err;

	lc_reset(lc);
	if (imp->delay_ms == 0 && imp->jitter_ms == 0 && imp->loss_ppm == 0)
		return 0;
	if (imp->delay_ms > NETEM_MS_MAX || imp->jitter_ms > NETEM_MS_MAX || imp->loss_ppm > 1000000)
		return lc_invalid(lc, EINVAL, "netem on %s: delay/jitter over %u ms or loss over 100%%",
				  ifname, NETEM_MS_MAX);
	idx = lookup_index(lc, ifname);
	if (idx < 0)
		return idx;
	q = rtnl_qdisc_alloc();
	if (q == NULL)
		return lc_invalid(lc, ENOMEM, "netem on %s: out of memory", ifname);
	rtnl_tc_set_ifindex(TC_CAST(q), idx);
	rtnl_tc_set_parent(TC_CAST(q), TC_H_ROOT);
	err = rtnl_tc_set_kind(TC_CAST(q), "netem");
	if (err < 0) {
		err = lc_fail(lc, err, "netem on %s", ifname);
		goto cleanup;
	}
	if (imp->delay_ms)
		rtnl_netem_set_delay(q, (int)(imp->delay_ms * 1000));
	if (imp->jitter_ms)
		rtnl_netem_set_jitter(q, (int)(imp->jitter_ms * 1000));
	if (imp->loss_ppm) {
		/* netem's loss is a fraction of 2^32 - 1. */
		uint32_t loss = (uint32_t)((uint64_t)imp->loss_ppm * UINT32_MAX / 1000000u);
		rtnl_netem_set_loss(q, (int)loss);
	}
	err = rtnl_qdisc_add(lc->sk, q, NLM_F_CREATE | NLM_F_REPLACE);
	if (err < 0 && lc->kerr == ENOENT) {
		/* The kernel's answer to an unknown qdisc kind. */
		lc->kerr = EOPNOTSUPP;
		err = lc_fail(lc, err, "netem on %s: this kernel has no netem qdisc "
			      "(CONFIG_NET_SCH_NETEM, module sch_netem)", ifname);
	} else if (err < 0)
		err = lc_fail(lc, err, "netem on %s (delay %u ms, jitter %u ms, loss %u ppm)", ifname,
			      imp->delay_ms, imp->jitter_ms, imp->loss_ppm);
cleanup:
	rtnl_qdisc_put(q);
	return err;
}

int link_netem_get(struct link_ctx *lc, const char *ifname, struct impairment *imp)
{
	struct nl_cache *cache = NULL;
	struct rtnl_qdisc *q = NULL;
	const char *kind;
	int idx, err, v;

	lc_reset(lc);
	memset(imp, 0, sizeof(*imp));
	idx = lookup_index(lc, ifname);
	if (idx < 0)
		return idx;
	err = rtnl_qdisc_alloc_cache(lc->sk, &cache);
	if (err < 0)
		return lc_fail(lc, err, "listing qdiscs");
	q = rtnl_qdisc_get_by_parent(cache, idx, TC_H_ROOT);
	kind = q ? rtnl_tc_get_kind(TC_CAST(q)) : NULL;
	if (kind == NULL || strcmp(kind, "netem") != 0) {
		err = lc_invalid(lc, ENOENT, "no netem root qdisc on %s", ifname);
		goto cleanup;
	}
	v = rtnl_netem_get_delay(q);
	if (v > 0)
		imp->delay_ms = (uint32_t)(v + 500) / 1000;
	v = rtnl_netem_get_jitter(q);
	if (v > 0)
		imp->jitter_ms = (uint32_t)(v + 500) / 1000;
	v = rtnl_netem_get_loss(q);
	if (v != -NLE_NOATTR) {
		uint64_t raw = (uint32_t)v;
		imp->loss_ppm = (uint32_t)((raw * 1000000u + UINT32_MAX / 2) / UINT32_MAX);
	}
	err = 0;
cleanup:
	if (q)
		rtnl_qdisc_put(q);
	nl_cache_free(cache);
	return err;
}

int link_mac(struct link_ctx *lc, const char *ifname, unsigned char mac[LINK_MAC_LEN])
{
	struct rtnl_link *link = NULL;
	struct nl_addr *a;
	int err;

	lc_reset(lc);
	if (!ifname_ok(ifname))
		return lc_invalid(lc, EINVAL, "bad interface name \"%s\"", ifname ? ifname : "(null)");
	err = rtnl_link_get_kernel(lc->sk, 0, ifname, &link);
	if (err < 0)
		return lc_fail(lc, err, "looking up interface %s", ifname);
	a = rtnl_link_get_addr(link);
	if (a == NULL || nl_addr_get_len(a) != LINK_MAC_LEN) {
		err = lc_invalid(lc, EINVAL, "%s has no Ethernet address", ifname);
	} else {
		memcpy(mac, nl_addr_get_binary_addr(a), LINK_MAC_LEN);
		err = 0;
	}
	rtnl_link_put(link);
	return err;
}

int link_neigh(struct link_ctx *lc, const char *ifname, const char *ip, const unsigned char mac[LINK_MAC_LEN])
{
	struct nl_addr *dst = NULL, *ll = NULL;
	struct rtnl_neigh *n = NULL;
	int idx, err;

	lc_reset(lc);
	dst = parse_cidr(ip, true);
	if (dst == NULL)
		return lc_invalid(lc, EINVAL, "bad neighbour address \"%s\"", ip ? ip : "(null)");
	idx = lookup_index(lc, ifname);
	if (idx < 0) {
		err = idx;
		goto cleanup;
	}
	ll = nl_addr_build(AF_LLC, mac, LINK_MAC_LEN);
	n = rtnl_neigh_alloc();
	if (ll == NULL || n == NULL) {
		err = lc_invalid(lc, ENOMEM, "neighbour %s: out of memory", ip);
		goto cleanup;
	}
	rtnl_neigh_set_ifindex(n, idx);
	rtnl_neigh_set_family(n, nl_addr_get_family(dst));
	err = rtnl_neigh_set_dst(n, dst);
	if (err >= 0) {
		rtnl_neigh_set_lladdr(n, ll);
		rtnl_neigh_set_state(n, NUD_PERMANENT);
		err = rtnl_neigh_add(lc->sk, n, NLM_F_CREATE | NLM_F_REPLACE);
	}
	if (err < 0)
		err = lc_fail(lc, err, "neighbour %s on %s", ip, ifname);
cleanup:
	if (n)
		rtnl_neigh_put(n);
	nl_addr_put(ll);
	nl_addr_put(dst);
	return err;
}

/* ---- waiting for links to carry packets (link_wait_up()) ---- */

/* name's entry if the kernel has announced it, else NULL. */
static struct link_if *seen_find(struct link_ctx *lc, const char *name)
{
	struct link_if *s = if_find(lc, name);

	return s && s->seen ? s : NULL;
}

/* One message from the monitor socket: an announcement or a dump's answer. */
static void mon_note(struct link_ctx *lc, struct nlmsghdr *h)
{
	struct nlattr *tb[IFLA_MAX + 1];
	struct ifinfomsg *ifi;
	struct link_if *s;

	if ((h->nlmsg_type != RTM_NEWLINK && h->nlmsg_type != RTM_DELLINK) ||
	    nlmsg_parse(h, sizeof(*ifi), tb, IFLA_MAX, NULL) < 0 || !tb[IFLA_IFNAME])
		return;
	ifi = nlmsg_data(h);
	s = if_add(lc, nla_get_string(tb[IFLA_IFNAME]));
	if (!s)
		return;
	s->seen = true;
	s->gone = h->nlmsg_type == RTM_DELLINK;
	s->flags = ifi->ifi_flags;
	s->oper = tb[IFLA_OPERSTATE] ? nla_get_u8(tb[IFLA_OPERSTATE]) : OPER_UNKNOWN;
}

/* Ask for every link's state: after an overflow of the monitor socket, its
 * answers (RTM_NEWLINK each) come in on it like announcements. */
static int mon_dump(struct link_ctx *lc)
{
	struct {
		struct nlmsghdr h;
		struct ifinfomsg i;
	} req = {
		.h = { .nlmsg_len = sizeof(req), .nlmsg_type = RTM_GETLINK, .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP },
		.i = { .ifi_family = AF_UNSPEC },
	};

	log_debug("netns %s: link announcements overflowed: asking for every link's state", netns_name(lc->ns));
	return send(lc->mon, &req, sizeof(req), 0) < 0 ? -errno : 0;
}

/* Read everything the monitor socket holds. Returns 0 or -errno. */
static int mon_drain(struct link_ctx *lc)
{
	union {
		struct nlmsghdr h;
		char b[32768];
	} buf;

	for (;;) {
		ssize_t n = recv(lc->mon, buf.b, sizeof(buf.b), MSG_DONTWAIT);
		int len;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n < 0 && errno == ENOBUFS) {
			int rc = mon_dump(lc);

			if (rc < 0)
				return rc;
			continue;
		}
		if (n < 0)
			return -errno;
		len = (int)n;
		for (struct nlmsghdr *h = &buf.h; NLMSG_OK(h, len); h = NLMSG_NEXT(h, len))
			mon_note(lc, h);
	}
}

/* Does the kernel's last word on w's link prove that it carries packets?
 * A veth or a bridge: operationally up (RFC 2863). The kernel sets that in
 * the same step of its link watch (linkwatch_do_dev()) that gives the device
 * its queue (dev_activate()), and announces it after: until then an end
 * whose carrier came after it was opened has the noop qdisc, which drops
 * everything it is given. A TAP's operstate stays unknown (no carrier event
 * after it was made, which also means it had its queue when it was opened):
 * up with carrier is its evidence. */
static bool seen_running(struct link_ctx *lc, const struct link_want *w)
{
	struct link_if *s = seen_find(lc, w->ifname);

	if (!s || s->gone || !(s->flags & IFF_UP) || !(s->flags & IFF_LOWER_UP))
		return false;
	return s->oper == OPER_UP || (w->tap && s->oper == OPER_UNKNOWN);
}

/* Have the kernel do now what its link watch has pending for ifname: the
 * ethtool link query runs it (linkwatch_sync_dev()) rather than wait for
 * its work, which batches events and defers those it does not deem urgent
 * by up to a second, and waits for the RTNL lock behind every other
 * namespace's requests. Its answer does not matter: the announcement that
 * follows is the evidence. A kernel without the sync just answers. */
static void link_nudge(struct link_ctx *lc, const char *ifname)
{
	struct ethtool_value ev = { .cmd = ETHTOOL_GLINK };
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	ifr.ifr_data = (void *)&ev;
	if (ioctl(nl_socket_get_fd(lc->sk), SIOCETHTOOL, &ifr) < 0)
		log_debug("netns %s: ethtool link query of %s: %s", netns_name(lc->ns), ifname, strerror(errno));
}

static const char *oper_name(unsigned char oper)
{
	static const char *const names[] = { "unknown", "notpresent", "down", "lowerlayerdown", "testing",
					     "dormant", "up" };

	return oper < sizeof(names) / sizeof(names[0]) ? names[oper] : "?";
}

/* Why w's link is not running, into its context's error. */
static int not_running(const struct link_want *w, int timeout_ms)
{
	struct link_if *s = seen_find(w->lc, w->ifname);

	if (!s)
		return lc_invalid(w->lc, ETIMEDOUT, "%s: not announced by the kernel within %d ms", w->ifname,
				  timeout_ms);
	return lc_invalid(w->lc, ETIMEDOUT, "%s: not operationally up after %d ms: %s%s%s, operstate %s",
			  w->ifname, timeout_ms, s->gone ? "deleted" : s->flags & IFF_UP ? "up" : "down",
			  s->gone ? "" : s->flags & IFF_LOWER_UP ? ", carrier" : ", no carrier",
			  w->tap ? " (TAP)" : "", oper_name(s->oper));
}

int link_wait_up(const struct link_want *want, int n, int timeout_ms, int *bad)
{
	mtime_ms deadline = mtime_now() + timeout_ms;
	struct pollfd *pfd = calloc((size_t)n + 1, sizeof(*pfd));
	bool nudged = false;
	int rc = 0, first;

	*bad = -1;
	if (!pfd)
		return -ENOMEM;
	for (;;) {
		int64_t left;

		for (int i = 0; rc == 0 && i < n; i++) {
			rc = mon_drain(want[i].lc);
			if (rc < 0) {
				*bad = i;
				lc_invalid(want[i].lc, -rc, "reading link announcements: %s", strerror(-rc));
			}
		}
		if (rc < 0)
			break;
		for (first = 0; first < n && seen_running(want[first].lc, &want[first]); first++)
			;
		if (first == n)
			break;
		if (!nudged) {
			for (int i = first; i < n; i++)
				if (!seen_running(want[i].lc, &want[i])) {
					log_debug("netns %s: %s not yet up: settling it", netns_name(want[i].lc->ns),
						  want[i].ifname);
					link_nudge(want[i].lc, want[i].ifname);
				}
			nudged = true;
			continue;
		}
		left = deadline - mtime_now();
		if (left <= 0) {
			*bad = first;
			rc = not_running(&want[first], timeout_ms);
			break;
		}
		for (int i = 0; i < n; i++)
			pfd[i] = (struct pollfd){ .fd = want[i].lc->mon, .events = POLLIN };
		if (poll(pfd, (nfds_t)n, (int)left) < 0 && errno != EINTR) {
			rc = -errno;
			*bad = first;
			lc_invalid(want[first].lc, -rc, "waiting for link announcements: %s", strerror(-rc));
			break;
		}
	}
	free(pfd);
	return rc;
}

bool link_solicited_joined(const char *igmp6, const char *ifname, const char *ip)
{
	struct in6_addr a;
	char want[33], dev[IFNAMSIZ + 1], group[33];
	const char *line = igmp6;

	if (!igmp6 || !ifname || !ip || inet_pton(AF_INET6, ip, &a) != 1)
		return false;
	snprintf(want, sizeof(want), "ff0200000000000000000001ff%02x%02x%02x", a.s6_addr[13], a.s6_addr[14],
		 a.s6_addr[15]);
	while (line && *line) {
		int idx;

		if (sscanf(line, "%d %16s %32s", &idx, dev, group) == 3 && strcmp(dev, ifname) == 0 &&
		    strcmp(group, want) == 0)
			return true;
		line = strchr(line, '\n');
		if (line)
			line++;
	}
	return false;
}

/* ns's /proc/net/igmp6, read through its holder (a process in the
 * namespace): a malloc'd string, or NULL. */
static char *ns_igmp6(const struct netns *ns)
{
	char path[64], *text = NULL;
	size_t len = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/net/igmp6", (int)netns_pid(ns));
	f = fopen(path, "re");
	if (!f)
		return NULL;
	if (getdelim(&text, &len, '\0', f) < 0) {
		free(text);
		text = NULL;
	}
	fclose(f);
	return text;
}

int link_wait_solicited(const struct netns *ns, const struct link_solicit *want, int n, mtime_ms deadline,
			int *bad)
{
	*bad = -1;
	for (;;) {
		char *text;
		int i = 0;

		if (n <= 0)
			return 0;
		text = ns_igmp6(ns);
		while (i < n && link_solicited_joined(text, want[i].ifname, want[i].ip))
			i++;
		free(text);
		if (i == n)
			return 0;
		if (mtime_now() >= deadline) {
			*bad = i;
			return -ETIMEDOUT;
		}
		poll(NULL, 0, 2);
	}
}
