/* Connection tracking in a lab namespace, through ctnetlink (libnl-3 core).
 *
 * The NAT bindings of a router live in its conntrack table. The self-check
 * (selfcheck.c) makes mappings of its own; flushing them afterwards gives the
 * pair under test a router as fresh as one that was never probed. */
#ifndef PUNCH_CT_H
#define PUNCH_CT_H

#include <stdbool.h>
#include <stdint.h>

struct netns;

/* One UDP conntrack entry: the original tuple (as the first packet had it)
 * and the reply tuple (what an answer must look like: after NAT, its
 * destination is the mapping's external endpoint). Addresses as text. */
struct ct_udp {
	char orig_src[48], orig_dst[48], reply_src[48], reply_dst[48];
	uint16_t orig_sport, orig_dport, reply_sport, reply_dport;
	uint32_t timeout_s;     /* seconds left before it expires */
	bool assured;           /* seen both ways */
	uint16_t zone;          /* its conntrack zone (CTA_ZONE), 0 for the default zone */
};

/* Delete every conntrack entry (both families) in ns. Returns 0 or -errno. */
int ct_flush(struct netns *ns);

/* The UDP entries of family AF_INET or AF_INET6 in ns, into *out (malloc'd,
 * NULL when none; free it) and *n. Returns 0, or -errno. */
int ct_list_udp(struct netns *ns, int family, struct ct_udp **out, int *n);

#endif
