/* Conntrack flush and listing over ctnetlink. See ct.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>

#include <netlink/errno.h>
#include <netlink/msg.h>
#include <netlink/attr.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>

#include "kernel/ct.h"
#include "kernel/netns.h"

/* libnl's codes (netlink/errno.h) as errnos: what a caller can act on. */
static int nl_errno(int rc)
{
	if (rc == -NLE_PERM)
		return -EPERM;
	return rc < 0 ? -EIO : 0;
}

/* A ctnetlink socket with one request (message type, flags beyond
 * NLM_F_REQUEST, for family) sent on it; each answer goes to cb (when not
 * NULL). Returns 0 and *skp (free with nl_socket_free()), or -errno. On the
 * netns_run thread, so inside the namespace. */
static int ct_request(uint8_t family, int type, int flags, nl_recvmsg_msg_cb_t cb, void *arg, struct nl_sock **skp)
{
	struct nfgenmsg hdr = { .nfgen_family = family, .version = NFNETLINK_V0, .res_id = 0 };
	struct nl_sock *sk = nl_socket_alloc();
	struct nl_msg *msg = NULL;
	int rc;

	*skp = NULL;
	if (!sk)
		return -ENOMEM;
	rc = nl_connect(sk, NETLINK_NETFILTER);
	if (rc < 0) {
		rc = -EPROTONOSUPPORT;
		goto cleanup;
	}
	if (cb)
		nl_socket_modify_cb(sk, NL_CB_VALID, NL_CB_CUSTOM, cb, arg);
	msg = nlmsg_alloc_simple((NFNL_SUBSYS_CTNETLINK << 8) | type, NLM_F_REQUEST | flags);
	if (!msg || nlmsg_append(msg, &hdr, sizeof(hdr), NLMSG_ALIGNTO) < 0) {
		rc = -ENOMEM;
		goto cleanup;
	}
	rc = nl_errno(nl_send_auto(sk, msg));
cleanup:
	nlmsg_free(msg);
	if (rc < 0)
		nl_socket_free(sk);
	else
		*skp = sk;
	return rc;
}

/* IPCTNL_MSG_CT_DELETE without a tuple is a flush, and family AF_UNSPEC
 * flushes IPv4 and IPv6 alike (the same request `conntrack -F` sends). */
static int flush_in_ns(void *arg)
{
	struct nl_sock *sk;
	int rc;

	(void)arg;
	rc = ct_request(AF_UNSPEC, IPCTNL_MSG_CT_DELETE, NLM_F_ACK, NULL, NULL, &sk);
	if (rc < 0)
		return rc;
	rc = nl_wait_for_ack(sk);
	nl_socket_free(sk);
	if (rc == -NLE_OBJ_NOTFOUND)
		return 0; /* nothing tracked (older kernels say ENOENT for an empty table) */
	return nl_errno(rc);
}

int ct_flush(struct netns *ns)
{
	return netns_run(ns, flush_in_ns, NULL);
}

struct ct_list {
	int family;
	struct ct_udp *v;
	int n, cap;
	int err;
};

/* Address and ports of a CTA_TUPLE_* attribute; false if it is not UDP of the family. */
static bool parse_tuple(struct nlattr *tuple, int family, char *src, char *dst, uint16_t *sport, uint16_t *dport)
{
	struct nlattr *t[CTA_TUPLE_MAX + 1], *ip[CTA_IP_MAX + 1], *pr[CTA_PROTO_MAX + 1];
	int a_src = family == AF_INET ? CTA_IP_V4_SRC : CTA_IP_V6_SRC;
	int a_dst = family == AF_INET ? CTA_IP_V4_DST : CTA_IP_V6_DST;
	int len = family == AF_INET ? 4 : 16;

	if (!tuple || nla_parse_nested(t, CTA_TUPLE_MAX, tuple, NULL) < 0 || !t[CTA_TUPLE_IP] || !t[CTA_TUPLE_PROTO])
		return false;
	if (nla_parse_nested(ip, CTA_IP_MAX, t[CTA_TUPLE_IP], NULL) < 0 ||
	    nla_parse_nested(pr, CTA_PROTO_MAX, t[CTA_TUPLE_PROTO], NULL) < 0)
		return false;
	if (!ip[a_src] || !ip[a_dst] || nla_len(ip[a_src]) != len || nla_len(ip[a_dst]) != len ||
	    !pr[CTA_PROTO_NUM] || nla_get_u8(pr[CTA_PROTO_NUM]) != IPPROTO_UDP || !pr[CTA_PROTO_SRC_PORT] ||
	    !pr[CTA_PROTO_DST_PORT])
		return false;
	if (!inet_ntop(family, nla_data(ip[a_src]), src, 48) || !inet_ntop(family, nla_data(ip[a_dst]), dst, 48))
		return false;
	*sport = ntohs(nla_get_u16(pr[CTA_PROTO_SRC_PORT]));
	*dport = ntohs(nla_get_u16(pr[CTA_PROTO_DST_PORT]));
	return true;
}

static int on_entry(struct nl_msg *msg, void *arg)
{
	struct ct_list *l = arg;
	struct nlattr *tb[CTA_MAX + 1];
	struct ct_udp e = { 0 };

	if (nlmsg_parse(nlmsg_hdr(msg), sizeof(struct nfgenmsg), tb, CTA_MAX, NULL) < 0)
		return NL_SKIP;
	if (!parse_tuple(tb[CTA_TUPLE_ORIG], l->family, e.orig_src, e.orig_dst, &e.orig_sport, &e.orig_dport) ||
	    !parse_tuple(tb[CTA_TUPLE_REPLY], l->family, e.reply_src, e.reply_dst, &e.reply_sport, &e.reply_dport))
		return NL_SKIP;
	if (tb[CTA_TIMEOUT])
		e.timeout_s = ntohl(nla_get_u32(tb[CTA_TIMEOUT]));
	if (tb[CTA_STATUS])
		e.assured = (ntohl(nla_get_u32(tb[CTA_STATUS])) & IPS_ASSURED) != 0;
	if (tb[CTA_ZONE])
		e.zone = ntohs(nla_get_u16(tb[CTA_ZONE]));
	if (l->n == l->cap) {
		int cap = l->cap ? 2 * l->cap : 16;
		struct ct_udp *v = realloc(l->v, (size_t)cap * sizeof(*v));

		if (!v) {
			l->err = -ENOMEM;
			return NL_STOP;
		}
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = e;
	return NL_OK;
}

/* On the netns_run thread: one dump request (IPCTNL_MSG_CT_GET with
 * NLM_F_DUMP, what `conntrack -L` sends) and its answers. */
static int list_in_ns(void *arg)
{
	struct ct_list *l = arg;
	struct nl_sock *sk;
	int rc;

	rc = ct_request((uint8_t)l->family, IPCTNL_MSG_CT_GET, NLM_F_DUMP, on_entry, l, &sk);
	if (rc < 0)
		return rc;
	rc = nl_errno(nl_recvmsgs_default(sk));
	nl_socket_free(sk);
	return rc < 0 ? rc : l->err;
}

int ct_list_udp(struct netns *ns, int family, struct ct_udp **out, int *n)
{
	struct ct_list l = { .family = family };
	int rc;

	*out = NULL;
	*n = 0;
	if (family != AF_INET && family != AF_INET6)
		return -EINVAL;
	rc = netns_run(ns, list_in_ns, &l);
	if (rc < 0) {
		free(l.v);
		return rc;
	}
	*out = l.v;
	*n = l.n;
	return 0;
}
