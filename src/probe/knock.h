/* punch-probe knock: send an unsolicited datagram (or with --tcp a SYN) from
 * outside to a NAT's or firewall's address and port, and tell whether it was
 * dropped silently, refused with ICMP port unreachable (or a RST), or answered. The self-check's view of
 * a router's "unsolicited" behaviour (drop | icmp-unreachable). */
#ifndef PUNCH_KNOCK_H
#define PUNCH_KNOCK_H

#include <stdbool.h>

#include "common/addr.h"

enum knock_answer {
	KNOCK_SILENT = 0, /* nothing came back within the timeout */
	KNOCK_REFUSED,    /* ICMP port unreachable (ECONNREFUSED on the connected socket) */
	KNOCK_ANSWERED,   /* a datagram came back (TCP: the connection was accepted) */
	KNOCK_RESET,      /* TCP: a RST came back */
};

/* "silent" "refused" "answered" "reset". */
const char *knock_answer_name(enum knock_answer a);

/* Send to `to` (from bind_to, or any address) `tries` times spread over
 * timeout_ms, and wait at most that long for an answer or a refusal.
 * Returns 0 with *out and, when sent is not NULL, how many datagrams left
 * (fewer than tries when the answer came first: the self-check counts the
 * router's drops against it), or -errno for a local failure. */
int knock(const struct addr *to, const struct addr *bind_to, int timeout_ms, int tries, enum knock_answer *out,
	  int *sent);

/* The same with a TCP SYN (RFC 5382 REQ-4): a connect() to `to`, whose
 * refusal is told apart by the ICMP error queued for it (IP_RECVERR): ICMP
 * port unreachable is KNOCK_REFUSED, a RST KNOCK_RESET. The kernel sends
 * the SYN again by itself within timeout_ms (after 1 s). */
int knock_tcp(const struct addr *to, const struct addr *bind_to, int timeout_ms, enum knock_answer *out);

/* punch-probe knock --to IP:PORT [--bind IP] [--timeout-ms N] [--tries N]
 * [--expect-unsolicited drop|icmp-unreachable] [--tcp]: prints one JSON line
 * ({"to":..,"answer":..,"sent":N (TCP: 1, one connect)[,"expected":..,"match":..]}), exit 0,
 * or 3 when the expectation does not hold, 1 on a local failure, 2 on usage. */
int knock_main(int argc, char **argv);

#endif
