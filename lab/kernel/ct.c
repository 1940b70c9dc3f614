/* Conntrack flush over ctnetlink. See ct.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>

#include <netlink/errno.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>

#include "kernel/ct.h"
#include "kernel/netns.h"

/* On the netns_run thread, inside the namespace: IPCTNL_MSG_CT_DELETE without
 * a tuple is a flush, and family AF_UNSPEC flushes IPv4 and IPv6 alike (the
 * same request `conntrack -F` sends). */
static int flush_in_ns(void *arg)
{
	struct nfgenmsg hdr = { .nfgen_family = AF_UNSPEC, .version = NFNETLINK_V0, .res_id = 0 };
	struct nl_sock *sk = nl_socket_alloc();
	struct nl_msg *msg = NULL;
	int rc;

	(void)arg;
	if (!sk)
		return -ENOMEM;
	rc = nl_connect(sk, NETLINK_NETFILTER);
	if (rc < 0) {
		rc = -EPROTONOSUPPORT;
		goto cleanup;
	}
	msg = nlmsg_alloc_simple((NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_DELETE, NLM_F_REQUEST | NLM_F_ACK);
	if (!msg || nlmsg_append(msg, &hdr, sizeof(hdr), NLMSG_ALIGNTO) < 0) {
		rc = -ENOMEM;
		goto cleanup;
	}
	rc = nl_send_auto(sk, msg);
	if (rc >= 0)
		rc = nl_wait_for_ack(sk);
	/* libnl answers with its own codes (netlink/errno.h), not errnos */
	if (rc == -NLE_PERM)
		rc = -EPERM;
	else if (rc == -NLE_OBJ_NOTFOUND)
		rc = 0; /* nothing tracked (older kernels say ENOENT for an empty table) */
	else if (rc < 0)
		rc = -EIO;
cleanup:
	nlmsg_free(msg);
	nl_socket_free(sk);
	return rc;
}

/* On the netns_run thread: /proc/thread-self/net is this thread's namespace
 * (/proc/self/net would be the process's). */
static int dump_in_ns(void *arg)
{
	char **out = arg, line[512];
	size_t len = 0;
	FILE *f = fopen("/proc/thread-self/net/nf_conntrack", "re"), *m;
	int rc = 0;

	*out = NULL;
	if (!f)
		return -errno;
	m = open_memstream(out, &len);
	if (!m) {
		fclose(f);
		return -ENOMEM;
	}
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, "ipv4", 4) == 0 && strstr(line, " udp "))
			fputs(line + strspn(line, "ipv4 2"), m);
	if (ferror(f))
		rc = -EIO;
	fclose(f);
	if (fclose(m) != 0 && rc == 0)
		rc = -ENOMEM;
	if (rc < 0) {
		free(*out);
		*out = NULL;
	}
	return rc;
}

int ct_dump_udp(struct netns *ns, char **out)
{
	return netns_run(ns, dump_in_ns, out);
}

int ct_flush(struct netns *ns)
{
	return netns_run(ns, flush_in_ns, NULL);
}
