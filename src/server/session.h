/* The punch-server's session and pairing table: a pure core, no I/O.
 *
 * The table knows clients (one per TCP control connection) and sessions (a
 * pair of clients, or what is left of one for the relay). The shell feeds it
 * what arrived, decoded TCP messages and raw UDP datagrams, each with the
 * current monotonic time, and then drains sess_pop() for what to send: TCP
 * messages to a client, a close of a client's connection, or a UDP datagram
 * to an address on one of the server's UDP sockets. Time only advances when
 * the shell calls sess_tick(); randomness comes from a function the shell
 * passes in, so unit tests run it with a fake clock and fake randomness.
 *
 * Rules it enforces: the public endpoint of a client is the source address of
 * its first REGISTER as observed (for a pair that both said HELLO with the TCP flag,
 * the source of its control connection, as sess_client_open() was told); a
 * client that said HELLO with the PREDICT flag is introduced only once it
 * registered on a second UDP socket too, and its partner learns the port step
 * between the two observations (PEER peer_step); the table only ever sends UDP to an address that
 * proved it holds a token (REG_ACK) or that registered for a session (relay);
 * an unknown or malformed datagram gets no answer at all. The relay forwards
 * only while both partners' control connections live, and each RELAY seq at
 * most once; a session is freed the moment its last client leaves.
 *
 * Costs: every event is O(1) or O(log n) in the number of clients. Deadlines
 * live in a timer heap, so neither a tick nor the next deadline walks the
 * clients; lookups go through keyed hash tables.
 *
 * Sources: each client counts against its IP address and, for IPv6, its /64.
 * A source over its limit (connections, or connections that have not said
 * HELLO yet) is refused at once. When the table is full, a newcomer from a
 * lighter source pushes out the oldest client of the heaviest one, so that
 * one address cannot lock everyone else out.
 */
#ifndef PUNCH_SESSION_H
#define PUNCH_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "common/addr.h"
#include "common/mtime.h"
#include "proto/wire.h"

struct sess_table;

/* Fill buf with len random bytes; return 0 or -errno. */
typedef int (*sess_rand_fn)(void *arg, void *buf, size_t len);

struct sess_config {
	unsigned max_clients;     /* connected clients at once; more get ERROR(FULL) */
	mtime_ms pair_timeout;    /* ms a client may wait for a partner and its registration */
	mtime_ms hello_timeout;   /* ms a new connection has to say HELLO; 0: pair_timeout */
	unsigned max_per_ip;      /* connections per IP address; 0: no limit */
	unsigned max_per_net;     /* connections per IPv6 /64; 0: no limit */
	unsigned max_unauth_per_ip; /* connections per IP that have not said HELLO yet; 0: no limit */
	sess_rand_fn rand;
	void *rand_arg;
};

enum sess_out_kind {
	SESS_OUT_TCP,   /* send buf on client's connection */
	SESS_OUT_CLOSE, /* flush what was queued for client, then close its connection
			   (after the client closes too, or at once when at_once) */
	SESS_OUT_UDP,   /* send buf to `to` from UDP socket number `sock` */
};

struct sess_out {
	enum sess_out_kind kind;
	uint32_t client_id; /* TCP, CLOSE */
	void *ctx;          /* TCP, CLOSE: the ctx given to sess_client_open() */
	bool at_once;       /* CLOSE: a refused connection; close without lingering */
	int sock;           /* UDP */
	struct addr to;     /* UDP */
	size_t len;
	uint8_t buf[WIRE_MSG_MAX];
};

/* Counters, for the log and for tests. */
struct sess_stats {
	uint64_t clients;         /* connections accepted into the table */
	uint64_t refused_full;    /* ERROR(FULL) */
	uint64_t refused_session; /* ERROR(SESSION) */
	uint64_t timeouts;        /* ERROR(TIMEOUT) */
	uint64_t protocol_errors; /* closed for a bad or unexpected message */
	uint64_t pairs;           /* pairs formed */
	uint64_t introduced;      /* sessions that got their PEER messages */
	uint64_t expired;         /* introduced sessions ended (both clients gone) */
	uint64_t registers;       /* REGISTERs answered */
	uint64_t reg_bad;         /* REGISTERs with no known token, or malformed */
	uint64_t reg_ignored;     /* REGISTERs from a new address after PEER */
	uint64_t relayed;         /* RELAY datagrams forwarded */
	uint64_t relay_dropped;   /* RELAY datagrams dropped (unknown, bad tag, wrong source, no partner) */
	uint64_t udp_dropped;     /* other datagrams dropped (garbage, wrong type) */
	uint64_t out_dropped;     /* outputs lost to an allocation failure */
	uint64_t refused_source;  /* refused: the source address or /64 is over its limit */
	uint64_t shed;            /* pushed out of a full table for a client from a lighter source */
	uint64_t hello_timeouts;  /* closed for not saying HELLO in time (also in timeouts) */
	uint64_t relay_replayed;  /* RELAYs dropped as replays (also in relay_dropped) */
	uint64_t relay_orphaned;  /* RELAYs dropped: a partner's control connection is gone (also in relay_dropped) */
	uint64_t log_suppressed;  /* log lines left out by the rate limit */
	unsigned clients_now;
	unsigned sessions_now;
	unsigned sources_now;     /* distinct source addresses and /64s with a client */
};

/* Create an empty table. cfg is copied; cfg->rand is required.
 * Returns 0 and sets *out, or -EINVAL / -ENOMEM. */
int sess_create(const struct sess_config *cfg, struct sess_table **out);
/* Free the table and everything in it, including undrained outputs. NULL is fine. */
void sess_destroy(struct sess_table *t);

/* A TCP connection was accepted from `from` (NULL: unknown, not counted
 * against any source). Returns its client id (never 0). When the table is
 * full and no heavier source can give way, or the source is over a limit, it
 * queues ERROR(FULL) and CLOSE for that id and keeps nothing. ctx is the
 * shell's handle for the connection, echoed in every output for it. */
uint32_t sess_client_open(struct sess_table *t, mtime_ms now, void *ctx, const struct addr *from);

/* A complete, decoded TCP message arrived from client id. Anything but one
 * HELLO queues ERROR(PROTOCOL) and CLOSE. */
void sess_client_msg(struct sess_table *t, mtime_ms now, uint32_t id, const struct wire_msg *msg);

/* The client's byte stream could not be decoded: queue ERROR(PROTOCOL, reason)
 * and CLOSE, and forget the client. */
void sess_client_bad(struct sess_table *t, mtime_ms now, uint32_t id, const char *reason);

/* The connection of client id is gone (peer closed it, or the shell dropped
 * it). Queues nothing for that client. Unknown ids are ignored. */
void sess_client_closed(struct sess_table *t, mtime_ms now, uint32_t id, const char *why);

/* A datagram arrived on UDP socket number sock from `from`. */
void sess_udp_input(struct sess_table *t, mtime_ms now, int sock, const struct addr *from,
		    const uint8_t *buf, size_t len);

/* Expire what is due at now. */
void sess_tick(struct sess_table *t, mtime_ms now);

/* The earliest time sess_tick() has something to do, or -1 for none. O(1). */
mtime_ms sess_next_deadline(const struct sess_table *t);

/* Take the oldest queued output into *out. Returns 1 if there was one, 0 if not. */
int sess_pop(struct sess_table *t, struct sess_out *out);

void sess_get_stats(const struct sess_table *t, struct sess_stats *st);

#endif
