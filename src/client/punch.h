/* The punching and message-exchange state machine of punch-client.
 *
 * Pure: it never touches a socket or reads a clock. The shell feeds it events
 * (a received datagram with its source address, or "time is now T") and then
 * drains the datagrams it wants sent (punch_pop()) and sleeps until
 * punch_deadline(). The same code therefore runs under a fake clock in the
 * unit tests and under the monotonic clock in the program.
 *
 * Life of a session:
 *  PUNCH     probe every candidate endpoint of the partner (its public one as
 *            the server saw it, its private ones, and any source address it is
 *            actually seen sending from) on a backing-off schedule, answer every
 *            authenticated probe to the address it came from, and answer a
 *            probe from a candidate that has not answered ours yet with a probe
 *            of our own at once (a triggered check). A path is direct
 *            once, on one remote address, a PROBE (or the partner's DATA, sent
 *            once it saw a path) arrived from it and a PROBE_ACK arrived from it
 *            for a probe sent to it.
 *  EXCHANGE  send the DATA messages over the path (direct, or wrapped in RELAY
 *            through the server after the punch timeout), retransmit until
 *            each is acknowledged, acknowledge the partner's by the path they came.
 *  LINGER    all sent and received: send BYE, keep answering retransmissions
 *            until the partner's BYE or a short deadline, so it finishes too.
 *  DONE      outcome direct, relayed or failed.
 */
#ifndef PUNCH_PUNCH_H
#define PUNCH_PUNCH_H

#include "client/predict.h"
#include "common/addr.h"
#include "common/mtime.h"
#include "proto/wire.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PUNCH_MAX_CAND 8     /* candidate endpoints, given and learned */
#define PUNCH_MSG_MAX 1000   /* most DATA messages one session exchanges */
#define PUNCH_WINDOW 8       /* DATA messages in flight at once */
#define PUNCH_RTO_MAX_MS 1000

struct punch_config {
	uint32_t session_id;
	uint8_t role;          /* mine: 1 or 2; the partner's messages must carry the other */
	bool any_role;         /* accept either role (the serverless --peer mode, where both
				  sides may compute the same role) */
	uint8_t secret[WIRE_KEY_LEN];
	struct addr cand[PUNCH_MAX_CAND]; /* the partner's endpoints, best first */
	size_t n_cand;
	bool have_server;      /* server is set: relay possible, its packets are not "direct" */
	struct addr server;    /* the server's UDP address */
	bool learn;            /* probe addresses the partner is seen sending from */
	bool relay;            /* fall back to the relay at the punch timeout */
	bool drop_direct;      /* test switch: drop every packet not from the server */
	unsigned messages;     /* DATA messages to send (and to expect), <= PUNCH_MSG_MAX */
	int probe_min_ms;      /* first probe interval */
	int probe_max_ms;      /* the interval grows by 5/4 each round up to this */
	int punch_timeout_ms;  /* from creation: give up on a direct path, relay */
	int rto_ms;            /* first DATA retransmission timeout; doubles up to PUNCH_RTO_MAX_MS */
	int linger_ms;         /* how long to keep answering after BYE */
	mtime_ms deadline;     /* absolute: fail when not finished by then */
	/* Port prediction (predict.h; off unless set): while punching, probe
	 * "spray targets" too, in passes one probe interval apart, within a
	 * budget and a rate. Targets are the partner's public address (cand[0])
	 * at each port of spray_ports (the easy side aiming at an endpoint-
	 * dependent NAT's next or random ports), then its public endpoint as it
	 * is from each of sockets 1..spray_socks (the hard side opening many
	 * mappings; the shell owns those sockets, see punch_tx.sock). */
	uint16_t spray_ports[PREDICT_PORTS_MAX];
	size_t n_spray;
	unsigned spray_socks;  /* <= PREDICT_PORTS_MAX */
	unsigned spray_budget; /* most spray probes in all */
	unsigned spray_rate;   /* most spray probes per second; 0: no limit */
};

/* Fill cfg with the defaults (client/defaults.h; learning and relay on); the
 * caller sets the session fields, candidates, server and deadline. */
void punch_config_defaults(struct punch_config *cfg);

enum punch_outcome { PUNCH_RUNNING = 0, PUNCH_DIRECT, PUNCH_RELAYED, PUNCH_FAILED };

struct punch_stats {
	unsigned probes_sent, probes_received;
	unsigned acks_sent, acks_received;         /* PROBE_ACKs */
	unsigned data_sent;                        /* DATA transmissions, retransmissions included */
	unsigned messages_sent;                    /* my DATA messages acknowledged */
	unsigned messages_received;                /* distinct DATA messages of the partner */
	unsigned relayed_in, relayed_out;          /* RELAY-wrapped messages */
	unsigned stray;                            /* malformed, wrong session/role/type/sender */
	unsigned forged;                           /* bad tag */
	unsigned dropped;                          /* --drop-direct */
	unsigned learned;                          /* candidates added from observed sources */
	unsigned unexpected_acks;                  /* PROBE_ACK from elsewhere than probed */
	unsigned tx_overflow;                      /* datagrams not queued: queue full */
	unsigned spray_sent;                       /* prediction probes (also in probes_sent) */
	unsigned spray_passes;                     /* passes over the targets begun (one sent at least) */
	bool have_path;                            /* direct path found (even if relay carried) */
	struct addr path;                          /* the partner endpoint used directly */
	mtime_ms direct_ms;                        /* creation to direct path */
	bool have_seen_self;
	struct addr seen_self;                     /* my endpoint as the partner saw it */
	unsigned rtt_n;
	mtime_ms rtt_min, rtt_max, rtt_sum;
};

struct punch;

/* One datagram the machine wants sent. */
struct punch_tx {
	unsigned sock; /* 0: the main socket; 1..spray_socks: the prediction sockets */
	struct addr to;
	size_t len;
	uint8_t buf[WIRE_MSG_MAX];
};

/* Create the machine at time now and queue its first probes.
 * Returns 0, -EINVAL for a bad configuration, or -ENOMEM. */
int punch_create(const struct punch_config *cfg, mtime_ms now, struct punch **out);
void punch_destroy(struct punch *p);

/* A datagram arrived on the UDP socket from "from". Any content is safe. */
void punch_input(struct punch *p, mtime_ms now, const uint8_t *buf, size_t len,
		 const struct addr *from);
/* The same for a datagram that arrived on socket sock (see punch_tx.sock):
 * its answers leave from that socket, and a partner address seen on two
 * sockets is two candidates. */
void punch_input_sock(struct punch *p, mtime_ms now, const uint8_t *buf, size_t len,
		      const struct addr *from, unsigned sock);
/* Time has come to now: run whatever is due (probes, retransmissions, fallback, deadlines). */
void punch_timer(struct punch *p, mtime_ms now);
/* The absolute time punch_timer() next wants to run; -1 when done. */
mtime_ms punch_deadline(const struct punch *p);
/* Take the next datagram to send; returns false when none is queued. */
bool punch_pop(struct punch *p, struct punch_tx *tx);

/* PUNCH_RUNNING until done; then the outcome, with a reason for PUNCH_FAILED. */
enum punch_outcome punch_outcome(const struct punch *p, const char **reason);
const struct punch_stats *punch_stats(const struct punch *p);
const char *punch_outcome_name(enum punch_outcome o);

/* Keepalives to the server while the client waits for its partner
 * (--keepalive). Between REG_ACK and the introduction a client has nothing
 * to send on UDP, and a NAT drops an idle mapping after its UDP timeout: the
 * endpoint the server observed (and will hand to the partner) would be dead
 * by the time the partner arrives. A keepalive is due one interval after the
 * last datagram sent to the server, whatever it was. After the introduction
 * probes (every 200 ms at most), messages and their retransmissions keep the
 * mapping busy, so the machine above needs none. Pure, like the machine. */
struct punch_keepalive {
	int interval_ms; /* 0: keepalives off */
	mtime_ms next;   /* -1: off, or nothing sent yet */
};

/* interval_ms 0 turns keepalives off; negative counts as 0. */
void punch_keepalive_init(struct punch_keepalive *k, int interval_ms);
/* A datagram to the server went out at now: the next keepalive is one interval later. */
void punch_keepalive_sent(struct punch_keepalive *k, mtime_ms now);
/* True when a keepalive is due at now (never when off or before the first send). */
bool punch_keepalive_due(const struct punch_keepalive *k, mtime_ms now);
/* When the next one is due, for the caller's poll; -1 when none is planned. */
mtime_ms punch_keepalive_deadline(const struct punch_keepalive *k);

#endif
