/* TCP simultaneous open for punch-client (--tcp): the sockets under the
 * punching machine (punch.c), which stays the same for both transports.
 *
 * Everything happens from one local port P, the port the control connection
 * to the server was opened from, so that an endpoint-independent NAT maps the
 * partner's connection to the same public port the server observed: every
 * socket here is bound to P with SO_REUSEADDR and SO_REUSEPORT (Linux lets
 * several sockets share a port then, as long as their 4-tuples differ).
 *
 *  - a listener on P: a SYN that reaches us while we are not connecting to
 *    its sender (loopback, no NAT on our side, our SYN sent too late) is
 *    accepted rather than answered with a RST;
 *  - one connection attempt per partner candidate: the machine's PROBE to an
 *    address with no connection starts a connect() from P to it. That SYN
 *    opens our NAT and firewall for the partner's SYN, which crosses ours:
 *    the simultaneous open of RFC 793 section 3.4 (or the partner's SYN
 *    meets our listener). A failed attempt (RST: refused; ICMP: unreachable;
 *    no answer) is closed and the next PROBE retries, so the SYNs are paced
 *    like the UDP probes, no faster.
 *
 * Which endpoint the server hands the partner: the source of the control
 * connection, not a separate TCP registration. That connection already
 * leaves from P, so its source as the server sees it is the NAT's mapping of
 * P, at no cost; the handshake has proved the source address, so it needs no
 * token as a UDP REGISTER does; and a second connection from P to the same
 * server address and port would be the same 4-tuple as the first, so a
 * registration would need yet another server port for what an endpoint-
 * independent NAT maps the same way anyway.
 *
 * Once a connection is up, the machine's messages travel on it framed as on
 * the control connection (wire_parse() finds the boundaries) and everything
 * that arrives on it is handed back with the connection's remote address as
 * its source, exactly as a datagram would be. */
#ifndef PUNCH_TCPPUNCH_H
#define PUNCH_TCPPUNCH_H

#include "common/addr.h"

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TP_MAX_CONN 16 /* connections and attempts at once */

struct tp;

/* What the sockets saw, for the JSON report: how the far side's network
 * answered our SYNs is the evidence of how its NAT or firewall treats an
 * unsolicited one (RFC 5382 section 6: drop, RST or ICMP). */
struct tp_stats {
	unsigned connects;     /* connect() attempts (SYNs sent, not counting the kernel's retries) */
	unsigned established;  /* attempts that completed (simultaneous open or a plain one) */
	unsigned accepted;     /* connections accepted on the listener */
	unsigned refused;      /* attempts answered with a RST (ECONNREFUSED, ECONNRESET) */
	unsigned unreachable;  /* attempts answered with ICMP (EHOSTUNREACH, ENETUNREACH, ...) */
	unsigned other_errors; /* attempts failed otherwise (ETIMEDOUT: the kernel gave up) */
	unsigned tx_dropped;   /* messages not queued: the connection's buffer was full */
	unsigned rx_bad;       /* connections closed for bytes that are no message */
};

/* Open a socket bound to local (address and port P) with the reuse options
 * set, not yet connected or listening. Returns the fd or -errno. */
int tp_socket(const struct addr *local);

/* Start with a listener on local (its port must be set). Returns 0, -errno. */
int tp_create(const struct addr *local, struct tp **out);
void tp_destroy(struct tp *t);

/* Send one message to `to`: on the connection to it when there is one, else
 * start a connection attempt (when none is pending) and drop the message:
 * the machine sends again. */
void tp_send(struct tp *t, const struct addr *to, const uint8_t *buf, size_t len);

/* Fill up to max pollfds (TP_MAX_CONN + 1 is enough) for the caller's poll();
 * returns how many. */
size_t tp_pollfds(const struct tp *t, struct pollfd *pfd, size_t max);

/* After poll(): accept, finish connects, read and write. Each complete
 * message that arrived goes to deliver with the connection's remote address. */
void tp_service(struct tp *t, const struct pollfd *pfd, size_t n,
		void (*deliver)(void *arg, const uint8_t *buf, size_t len, const struct addr *from), void *arg);

const struct tp_stats *tp_stats(const struct tp *t);

#endif
