/* Connection tracking in a lab namespace, through ctnetlink (libnl-3 core).
 *
 * The NAT bindings of a router live in its conntrack table. The self-check
 * (selfcheck.c) makes mappings of its own; flushing them afterwards gives the
 * pair under test a router as fresh as one that was never probed. */
#ifndef PUNCH_CT_H
#define PUNCH_CT_H

struct netns;

/* Delete every conntrack entry (both families) in ns. Returns 0 or -errno. */
int ct_flush(struct netns *ns);

/* The IPv4 UDP conntrack entries of ns, one line each as the kernel's
 * nf_conntrack file writes them ("udp 17 29 src=... dst=... sport=... dport=...
 * src=... dst=... sport=... dport=... [zone=N]"), in *out (malloc'd, "" when
 * none). Returns 0 or -errno. */
int ct_dump_udp(struct netns *ns, char **out);

#endif
