#include "client/punch.h"
#include "client/defaults.h"
#include "common/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PUNCH_QLEN 64     /* outgoing datagrams between two punch_pop() drains */
#define PUNCH_SENT_RING 256 /* probes remembered to match their answers */

enum punch_state { ST_PUNCH, ST_EXCHANGE, ST_LINGER, ST_DONE };
enum punch_path { PATH_NONE, PATH_DIRECT, PATH_RELAY };

struct punch_cand {
	struct addr a;
	unsigned sock;  /* the socket we reach it from (punch_tx.sock) */
	bool learned;
	bool got_probe; /* an authenticated PROBE came from here */
	bool got_ack;   /* a PROBE_ACK came from here for a probe sent here */
};

struct punch_sent {
	uint32_t seq; /* 0: slot unused */
	uint8_t cand;
	bool spray;    /* a prediction probe: to the partner's address at port, from sock */
	uint16_t port;
	uint16_t sock;
};

struct punch_out {
	bool acked;
	bool sent;
	mtime_ms next;
	int rto;
};

struct punch {
	struct punch_config cfg;
	enum punch_state st;
	enum punch_path path;
	enum punch_outcome outcome;
	char reason[128];
	int direct_cand;
	mtime_ms t0;
	mtime_ms next_probe;
	int probe_iv;
	mtime_ms punch_deadline; /* -1 once passed */
	mtime_ms linger_end;
	mtime_ms next_bye;
	uint32_t probe_seq;
	uint32_t relay_seq; /* RELAYs sent: the server forwards each seq once */
	struct punch_sent sent[PUNCH_SENT_RING];
	struct punch_cand cand[PUNCH_MAX_CAND];
	size_t n_cand;
	struct punch_out out[PUNCH_MSG_MAX + 1]; /* indexed by seq, 1..messages */
	uint8_t rx_seen[PUNCH_MSG_MAX / 8 + 1];  /* partner's DATA seqs received */
	unsigned n_acked;
	struct predict_budget spray_budget;
	size_t spray_next;       /* the next target of the current pass */
	mtime_ms next_spray;     /* when the next pass begins; -1: no spraying */
	struct punch_tx q[PUNCH_QLEN];
	size_t q_head, q_len;
	struct punch_stats stats;
};

void punch_config_defaults(struct punch_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->role = 1;
	cfg->learn = true;
	cfg->relay = true;
	cfg->messages = CLIENT_MESSAGES;
	cfg->probe_min_ms = CLIENT_PROBE_MIN_MS;
	cfg->probe_max_ms = CLIENT_PROBE_MAX_MS;
	cfg->punch_timeout_ms = CLIENT_PUNCH_TIMEOUT_MS;
	cfg->rto_ms = CLIENT_RTO_MS;
	cfg->linger_ms = CLIENT_LINGER_MS;
	cfg->deadline = -1;
}

const char *punch_outcome_name(enum punch_outcome o)
{
	switch (o) {
	case PUNCH_DIRECT:
		return "direct";
	case PUNCH_RELAYED:
		return "relayed";
	case PUNCH_FAILED:
		return "failed";
	case PUNCH_RUNNING:
		break;
	}
	return "running";
}

static uint8_t partner_role(const struct punch *p)
{
	return (uint8_t)(3 - p->cfg.role);
}

static void enqueue(struct punch *p, const struct addr *to, unsigned sock, const uint8_t *buf, size_t len)
{
	struct punch_tx *tx;

	if (p->q_len == PUNCH_QLEN) {
		p->stats.tx_overflow++;
		return;
	}
	tx = &p->q[(p->q_head + p->q_len) % PUNCH_QLEN];
	tx->to = *to;
	tx->sock = sock;
	tx->len = len;
	memcpy(tx->buf, buf, len);
	p->q_len++;
}

bool punch_pop(struct punch *p, struct punch_tx *tx)
{
	if (!p->q_len)
		return false;
	*tx = p->q[p->q_head];
	p->q_head = (p->q_head + 1) % PUNCH_QLEN;
	p->q_len--;
	return true;
}

/* A peer-to-peer message of ours, with the session fields filled in. */
static void p2p_init(const struct punch *p, struct wire_msg *m, uint8_t type, uint32_t seq, uint64_t ts)
{
	memset(m, 0, sizeof(*m));
	m->type = type;
	m->u.p2p.session_id = p->cfg.session_id;
	m->u.p2p.role = p->cfg.role;
	m->u.p2p.seq = seq;
	m->u.p2p.ts = ts;
}

static void send_direct(struct punch *p, const struct wire_msg *m, const struct addr *to, unsigned sock)
{
	uint8_t buf[WIRE_MSG_MAX];
	int n = wire_build(buf, sizeof(buf), m, p->cfg.secret);

	if (n < 0) {
		/* Only our own messages are built here; this is a bug, not input. */
		log_warnx("cannot encode %s", wire_type_name(m->type));
		return;
	}
	enqueue(p, to, sock, buf, (size_t)n);
}

/* Wrap an authenticated message in a RELAY to the server, which forwards it
 * to the partner's registered endpoint. */
static void send_relayed(struct punch *p, const struct wire_msg *inner)
{
	struct wire_msg r;
	uint8_t buf[WIRE_MSG_MAX];
	int n = wire_build(r.u.relay.inner, sizeof(r.u.relay.inner), inner, p->cfg.secret);

	if (n < 0) {
		log_warnx("cannot encode %s", wire_type_name(inner->type));
		return;
	}
	r.type = WIRE_RELAY;
	r.u.relay.session_id = p->cfg.session_id;
	r.u.relay.role = p->cfg.role;
	r.u.relay.seq = ++p->relay_seq;
	r.u.relay.inner_len = (uint16_t)n;
	n = wire_build(buf, sizeof(buf), &r, p->cfg.secret);
	if (n < 0) {
		log_warnx("cannot encode RELAY");
		return;
	}
	p->stats.relayed_out++;
	enqueue(p, &p->cfg.server, 0, buf, (size_t)n);
}

/* Send on the session's path: the direct address, or through the relay. */
static void send_path(struct punch *p, const struct wire_msg *m)
{
	if (p->path == PATH_RELAY)
		send_relayed(p, m);
	else if (p->path == PATH_DIRECT)
		send_direct(p, m, &p->cand[p->direct_cand].a, p->cand[p->direct_cand].sock);
}

static void rtt_sample(struct punch *p, mtime_ms now, uint64_t ts)
{
	mtime_ms rtt;

	/* ts is our own clock echoed back; a value from the future is not ours. */
	if (ts > (uint64_t)now)
		return;
	rtt = now - (mtime_ms)ts;
	if (!p->stats.rtt_n || rtt < p->stats.rtt_min)
		p->stats.rtt_min = rtt;
	if (!p->stats.rtt_n || rtt > p->stats.rtt_max)
		p->stats.rtt_max = rtt;
	p->stats.rtt_sum += rtt;
	p->stats.rtt_n++;
}

static void send_probe(struct punch *p, mtime_ms now, size_t ci)
{
	struct wire_msg m;
	uint32_t seq = ++p->probe_seq;

	if (!seq) /* 0 marks an unused ring slot */
		seq = ++p->probe_seq;
	p2p_init(p, &m, WIRE_PROBE, seq, (uint64_t)now);
	addr_to_wire(&p->cand[ci].a, &m.u.p2p.ep);
	p->sent[seq % PUNCH_SENT_RING] = (struct punch_sent){ .seq = seq, .cand = (uint8_t)ci };
	p->stats.probes_sent++;
	send_direct(p, &m, &p->cand[ci].a, p->cand[ci].sock);
}

static int find_cand(const struct punch *p, const struct addr *a, unsigned sock)
{
	for (size_t i = 0; i < p->n_cand; i++)
		if (addr_equal(&p->cand[i].a, a) && p->cand[i].sock == sock)
			return (int)i;
	return -1;
}

/* Spray target i of n_spray + spray_socks: the partner's public address at
 * spray_ports[i], or its public endpoint from socket i - n_spray + 1. */
static void spray_target(const struct punch *p, size_t i, struct addr *to, unsigned *sock)
{
	*to = p->cfg.cand[0];
	if (i < p->cfg.n_spray) {
		addr_set_port(to, p->cfg.spray_ports[i]);
		*sock = 0;
	} else {
		*sock = (unsigned)(i - p->cfg.n_spray + 1);
	}
}

static void send_spray(struct punch *p, mtime_ms now, size_t i)
{
	struct wire_msg m;
	struct addr to;
	unsigned sock;
	uint32_t seq = ++p->probe_seq;

	if (!seq)
		seq = ++p->probe_seq;
	spray_target(p, i, &to, &sock);
	p2p_init(p, &m, WIRE_PROBE, seq, (uint64_t)now);
	addr_to_wire(&to, &m.u.p2p.ep);
	p->sent[seq % PUNCH_SENT_RING] = (struct punch_sent){
		.seq = seq, .spray = true, .port = addr_port(&to), .sock = (uint16_t)sock
	};
	p->stats.probes_sent++;
	p->stats.spray_sent++;
	send_direct(p, &m, &to, sock);
}

/* Send what the budget allows of the current pass; a pass done, the next
 * begins one probe interval later. No more once a direct path is found. */
static void spray_pump(struct punch *p, mtime_ms now)
{
	size_t n_targets = p->cfg.n_spray + p->cfg.spray_socks;
	unsigned allow;

	if (p->next_spray < 0 || p->path != PATH_NONE || p->st != ST_PUNCH || now < p->next_spray)
		return;
	/* At most half the queue per call: the shell drains it after each call. */
	allow = predict_budget_allow(&p->spray_budget, now, PUNCH_QLEN / 2);
	for (unsigned k = 0; k < allow; k++) {
		if (p->spray_next == 0)
			p->stats.spray_passes++;
		send_spray(p, now, p->spray_next);
		if (++p->spray_next == n_targets) {
			p->spray_next = 0;
			p->next_spray = now + p->probe_iv;
			predict_budget_spend(&p->spray_budget, k + 1);
			if (p->spray_budget.sent >= p->spray_budget.budget)
				p->next_spray = -1;
			return;
		}
	}
	predict_budget_spend(&p->spray_budget, allow);
	if (p->spray_budget.sent >= p->spray_budget.budget)
		p->next_spray = -1;
}

/* When spray_pump() next has something to do; -1: never. */
static mtime_ms spray_deadline(const struct punch *p)
{
	mtime_ms t;

	if (p->next_spray < 0 || p->path != PATH_NONE || p->st != ST_PUNCH)
		return -1;
	t = predict_budget_next(&p->spray_budget, p->next_spray);
	return t < 0 ? -1 : t < p->next_spray ? p->next_spray : t;
}

/* The partner was seen at an address we did not know (an endpoint-dependent
 * mapping on its side, or an answer from another port): probe it too. */
static int learn_cand(struct punch *p, mtime_ms now, const struct addr *a, unsigned sock, const char *how)
{
	char s[ADDR_STRLEN];

	if (!p->cfg.learn || p->st != ST_PUNCH || p->path != PATH_NONE)
		return -1;
	if (p->n_cand == PUNCH_MAX_CAND) {
		log_debug("no room to learn %s", addr_fmt(a, s, sizeof(s)));
		return -1;
	}
	p->cand[p->n_cand].a = *a;
	p->cand[p->n_cand].sock = sock;
	p->cand[p->n_cand].learned = true;
	p->n_cand++;
	p->stats.learned++;
	if (sock)
		log_info("learned partner endpoint %s on prediction socket %u (%s)", addr_fmt(a, s, sizeof(s)),
			 sock, how);
	else
		log_info("learned partner endpoint %s (%s)", addr_fmt(a, s, sizeof(s)), how);
	send_probe(p, now, p->n_cand - 1);
	return (int)p->n_cand - 1;
}

static void send_data(struct punch *p, mtime_ms now, unsigned seq)
{
	struct wire_msg m;
	struct punch_out *o = &p->out[seq];
	int n;

	p2p_init(p, &m, WIRE_DATA, seq, (uint64_t)now);
	n = snprintf((char *)m.u.p2p.payload, sizeof(m.u.p2p.payload), "hello %u from role %u", seq,
		     p->cfg.role);
	m.u.p2p.payload_len = (uint16_t)n;
	send_path(p, &m);
	p->stats.data_sent++;
	if (o->sent)
		o->rto = o->rto * 2 > PUNCH_RTO_MAX_MS ? PUNCH_RTO_MAX_MS : o->rto * 2;
	o->sent = true;
	o->next = now + o->rto;
}

/* Send (or resend) every due message of the window: the first PUNCH_WINDOW unacknowledged ones. */
static void pump_data(struct punch *p, mtime_ms now)
{
	unsigned inflight = 0;

	for (unsigned seq = 1; seq <= p->cfg.messages && inflight < PUNCH_WINDOW; seq++) {
		if (p->out[seq].acked)
			continue;
		inflight++;
		if (!p->out[seq].sent || now >= p->out[seq].next)
			send_data(p, now, seq);
	}
}

static void send_bye(struct punch *p, mtime_ms now)
{
	struct wire_msg m;

	p2p_init(p, &m, WIRE_BYE, p->cfg.messages, (uint64_t)now);
	send_path(p, &m);
	p->next_bye = now + p->cfg.rto_ms;
}

static void finish(struct punch *p, enum punch_outcome o, const char *reason)
{
	p->outcome = o;
	if (reason)
		snprintf(p->reason, sizeof(p->reason), "%s", reason);
}

static void check_finished(struct punch *p, mtime_ms now)
{
	if (p->st != ST_EXCHANGE || p->n_acked < p->cfg.messages ||
	    p->stats.messages_received < p->cfg.messages)
		return;
	log_info("all %u messages exchanged (%s); saying bye", p->cfg.messages,
		 p->path == PATH_DIRECT ? "direct" : "relayed");
	finish(p, p->path == PATH_DIRECT ? PUNCH_DIRECT : PUNCH_RELAYED, NULL);
	p->st = ST_LINGER;
	p->linger_end = now + p->cfg.linger_ms;
	if (p->cfg.deadline >= 0 && p->linger_end > p->cfg.deadline)
		p->linger_end = p->cfg.deadline;
	send_bye(p, now);
}

static void start_exchange(struct punch *p, mtime_ms now, enum punch_path path)
{
	p->path = path;
	p->st = ST_EXCHANGE;
	for (unsigned seq = 1; seq <= p->cfg.messages; seq++)
		p->out[seq].rto = p->cfg.rto_ms;
	pump_data(p, now);
	check_finished(p, now);
}

static void check_direct(struct punch *p, mtime_ms now, int ci)
{
	char s[ADDR_STRLEN];

	if (ci < 0 || !p->cand[ci].got_probe || !p->cand[ci].got_ack || p->stats.have_path)
		return;
	p->stats.have_path = true;
	p->stats.path = p->cand[ci].a;
	p->stats.direct_ms = now - p->t0;
	log_info("direct path to %s after %lld ms", addr_fmt(&p->cand[ci].a, s, sizeof(s)),
		 (long long)p->stats.direct_ms);
	if (p->st == ST_PUNCH && p->path == PATH_NONE) {
		p->direct_cand = ci;
		start_exchange(p, now, PATH_DIRECT);
	}
}

static void on_probe(struct punch *p, mtime_ms now, const struct wire_msg *m, const struct addr *from,
		     unsigned sock)
{
	struct wire_msg ack;
	int ci;

	p->stats.probes_received++;
	/* Answer to where it really came from: that is the hole the partner punched. */
	p2p_init(p, &ack, WIRE_PROBE_ACK, m->u.p2p.seq, m->u.p2p.ts);
	addr_to_wire(from, &ack.u.p2p.ep);
	p->stats.acks_sent++;
	send_direct(p, &ack, from, sock);

	ci = find_cand(p, from, sock);
	if (ci < 0) {
		/* learn_cand() probes the new address at once. */
		ci = learn_cand(p, now, from, sock, "probe source");
	} else if (!p->cand[ci].got_ack && p->st == ST_PUNCH && p->path == PATH_NONE) {
		/* A triggered check, as ICE does: the partner's probe got through,
		 * so its NAT is open toward us now; our probe sent before may have
		 * hit it closed. Probe back at once instead of waiting for the next
		 * round, which makes the punch take one round trip, not 1.5.
		 * One probe per probe received: no amplification. */
		send_probe(p, now, (size_t)ci);
	}
	if (ci < 0)
		return;
	p->cand[ci].got_probe = true;
	check_direct(p, now, ci);
}

static void on_probe_ack(struct punch *p, mtime_ms now, const struct wire_msg *m, const struct addr *from,
			 unsigned sock)
{
	const struct punch_sent *s = &p->sent[m->u.p2p.seq % PUNCH_SENT_RING];
	int ci;

	if (!m->u.p2p.seq || s->seq != m->u.p2p.seq) {
		p->stats.stray++; /* not an answer to a probe we remember */
		return;
	}
	p->stats.acks_received++;
	rtt_sample(p, now, m->u.p2p.ts);
	if (addr_from_wire(&p->stats.seen_self, &m->u.p2p.ep) == 0)
		p->stats.have_seen_self = true;
	if (s->spray) {
		/* A prediction probe hit: the answer from where it went, on the
		 * socket it left from, makes that a candidate with its answer. */
		struct addr to = p->cfg.cand[0];

		addr_set_port(&to, s->port);
		if (addr_equal(&to, from) && s->sock == sock) {
			ci = find_cand(p, from, sock);
			if (ci < 0)
				ci = learn_cand(p, now, from, sock, "prediction answered");
			if (ci >= 0) {
				p->cand[ci].got_ack = true;
				check_direct(p, now, ci);
			}
			return;
		}
	} else if (addr_equal(&p->cand[s->cand].a, from) && p->cand[s->cand].sock == sock) {
		p->cand[s->cand].got_ack = true;
		check_direct(p, now, s->cand);
		return;
	}
	/* Answered from elsewhere than we probed: not a crossing on one address
	 * pair, but the address it came from is worth probing. */
	p->stats.unexpected_acks++;
	ci = find_cand(p, from, sock);
	if (ci < 0)
		learn_cand(p, now, from, sock, "answer source");
	else if (p->st == ST_PUNCH)
		send_probe(p, now, (size_t)ci);
}

static void on_data(struct punch *p, mtime_ms now, const struct wire_msg *m, const struct addr *from,
		    unsigned sock, bool via_relay)
{
	struct wire_msg ack;
	uint32_t seq = m->u.p2p.seq;
	char s[ADDR_STRLEN];

	if (!seq || seq > PUNCH_MSG_MAX) {
		p->stats.stray++;
		return;
	}
	/* Answer by the way it came, so that a relayed partner is answered even
	 * when our own side could talk directly. */
	p2p_init(p, &ack, WIRE_DATA_ACK, seq, m->u.p2p.ts);
	if (via_relay)
		send_relayed(p, &ack);
	else
		send_direct(p, &ack, from, sock);
	/* The partner's own DATA straight from an address proves that way in as
	 * well as its PROBE would: it stopped probing once it saw a path, and a
	 * NAT may have answered our probes from that address while its probes
	 * left from another (a crossing that made the NAT pick a new port). */
	if (!via_relay) {
		int ci = find_cand(p, from, sock);

		if (ci >= 0) {
			p->cand[ci].got_probe = true;
			check_direct(p, now, ci);
		}
	}
	if (!(p->rx_seen[seq / 8] & (1u << (seq % 8)))) {
		p->rx_seen[seq / 8] |= (uint8_t)(1u << (seq % 8));
		p->stats.messages_received++;
		log_info("message %u from %s%s: \"%.*s\"", seq, addr_fmt(from, s, sizeof(s)),
			 via_relay ? " (relayed)" : "", (int)m->u.p2p.payload_len,
			 (const char *)m->u.p2p.payload);
	}
	/* The partner relays: it could not see a direct path, so it will not probe
	 * any more. Follow it through the relay rather than wait for the timeout. */
	if (via_relay && p->cfg.relay && p->cfg.have_server && p->path != PATH_RELAY &&
	    p->st <= ST_EXCHANGE) {
		log_info("partner relays; relaying too");
		if (p->st == ST_PUNCH) {
			start_exchange(p, now, PATH_RELAY);
		} else {
			p->path = PATH_RELAY;
			for (unsigned i = 1; i <= p->cfg.messages; i++)
				p->out[i].next = now; /* resend the unacknowledged ones that way now */
			pump_data(p, now);
		}
	}
	check_finished(p, now);
}

static void on_data_ack(struct punch *p, mtime_ms now, const struct wire_msg *m)
{
	uint32_t seq = m->u.p2p.seq;

	if (!seq || seq > p->cfg.messages || !p->out[seq].sent) {
		p->stats.stray++;
		return;
	}
	rtt_sample(p, now, m->u.p2p.ts);
	if (p->out[seq].acked)
		return;
	p->out[seq].acked = true;
	p->n_acked++;
	p->stats.messages_sent = p->n_acked;
	if (p->st == ST_EXCHANGE)
		pump_data(p, now);
	check_finished(p, now);
}

static void on_bye(struct punch *p, mtime_ms now)
{
	log_debug("partner said bye");
	if (p->st == ST_LINGER) {
		p->st = ST_DONE;
		return;
	}
	if (p->st != ST_EXCHANGE)
		return;
	/* A BYE means the partner received all our messages: acknowledgements
	 * lost on the way need no retransmission any more. */
	for (unsigned seq = 1; seq <= p->cfg.messages; seq++)
		p->out[seq].acked = true;
	p->n_acked = p->cfg.messages;
	p->stats.messages_sent = p->n_acked;
	if (p->stats.messages_received < p->cfg.messages)
		return; /* should not happen with the same --messages on both sides */
	check_finished(p, now);
	p->st = ST_DONE; /* the partner has finished; our one BYE lets it stop lingering */
}

/* An authenticated peer-to-peer message with the right session and role. */
static void on_p2p(struct punch *p, mtime_ms now, const struct wire_msg *m, const struct addr *from,
		   unsigned sock, bool via_relay)
{
	switch (m->type) {
	case WIRE_PROBE:
		if (via_relay)
			break;
		on_probe(p, now, m, from, sock);
		return;
	case WIRE_PROBE_ACK:
		if (via_relay)
			break;
		on_probe_ack(p, now, m, from, sock);
		return;
	case WIRE_DATA:
		on_data(p, now, m, from, sock, via_relay);
		return;
	case WIRE_DATA_ACK:
		on_data_ack(p, now, m);
		return;
	case WIRE_BYE:
		on_bye(p, now);
		return;
	case WIRE_KEEPALIVE:
		return;
	default:
		break;
	}
	p->stats.stray++;
}

static bool session_ok(const struct punch *p, uint32_t session_id, uint8_t role)
{
	if (session_id != p->cfg.session_id)
		return false;
	if (p->cfg.any_role)
		return role == 1 || role == 2;
	return role == partner_role(p);
}

/* Check a whole authenticated datagram: tag, then session and role.
 * Returns 0, or counts it and returns -1. */
static int authenticate(struct punch *p, const uint8_t *buf, size_t len, const struct wire_msg *m)
{
	uint32_t sid;
	uint8_t role;

	if (!wire_is_authenticated(m->type)) {
		p->stats.stray++;
		return -1;
	}
	if (!wire_verify(buf, len, p->cfg.secret)) {
		p->stats.forged++;
		return -1;
	}
	if (m->type == WIRE_RELAY) {
		sid = m->u.relay.session_id;
		role = m->u.relay.role;
	} else {
		sid = m->u.p2p.session_id;
		role = m->u.p2p.role;
	}
	if (!session_ok(p, sid, role)) {
		p->stats.stray++;
		return -1;
	}
	return 0;
}

static void on_relay(struct punch *p, mtime_ms now, const uint8_t *buf, size_t len, const struct wire_msg *m,
		     const struct addr *from)
{
	struct wire_msg inner;

	if (authenticate(p, buf, len, m) < 0)
		return;
	if (wire_parse_datagram(m->u.relay.inner, m->u.relay.inner_len, &inner) < 0 ||
	    inner.type == WIRE_RELAY) {
		p->stats.stray++;
		return;
	}
	if (authenticate(p, m->u.relay.inner, m->u.relay.inner_len, &inner) < 0)
		return;
	p->stats.relayed_in++;
	on_p2p(p, now, &inner, from, 0, true);
}

void punch_input(struct punch *p, mtime_ms now, const uint8_t *buf, size_t len, const struct addr *from)
{
	punch_input_sock(p, now, buf, len, from, 0);
}

void punch_input_sock(struct punch *p, mtime_ms now, const uint8_t *buf, size_t len, const struct addr *from,
		      unsigned sock)
{
	/* Large (about 1 KiB payload plus relay copy) but bounded; kept off the
	 * shell's stack frame by living here only for the call. */
	struct wire_msg m;
	bool from_server = sock == 0 && p->cfg.have_server && addr_equal(from, &p->cfg.server);

	if (p->st == ST_DONE)
		return;
	if (!from_server && p->cfg.drop_direct) {
		p->stats.dropped++;
		return;
	}
	if (wire_parse_datagram(buf, len, &m) < 0) {
		p->stats.stray++;
		return;
	}
	if (from_server) {
		if (m.type == WIRE_REG_ACK)
			return; /* a late answer to a retransmitted REGISTER */
		if (m.type == WIRE_RELAY) {
			on_relay(p, now, buf, len, &m, from);
			return;
		}
		p->stats.stray++;
		return;
	}
	if (m.type == WIRE_RELAY || authenticate(p, buf, len, &m) < 0) {
		if (m.type == WIRE_RELAY)
			p->stats.stray++;
		return;
	}
	on_p2p(p, now, &m, from, sock, false);
}

void punch_timer(struct punch *p, mtime_ms now)
{
	char reason[128];

	if (p->st == ST_DONE)
		return;
	if (p->cfg.deadline >= 0 && now >= p->cfg.deadline) {
		if (p->st == ST_PUNCH) {
			finish(p, PUNCH_FAILED,
			       p->cfg.relay && p->cfg.have_server ? "no direct path before the timeout"
								   : "no direct path (no relay)");
		} else if (p->st == ST_EXCHANGE) {
			snprintf(reason, sizeof(reason),
				 "timeout exchanging messages (%u/%u delivered, %u/%u received)", p->n_acked,
				 p->cfg.messages, p->stats.messages_received, p->cfg.messages);
			finish(p, PUNCH_FAILED, reason);
		}
		p->st = ST_DONE;
		return;
	}
	switch (p->st) {
	case ST_PUNCH:
		if (p->punch_deadline >= 0 && now >= p->punch_deadline) {
			p->punch_deadline = -1;
			if (p->cfg.relay && p->cfg.have_server) {
				log_info("no direct path after %d ms; relaying through the server",
					 p->cfg.punch_timeout_ms);
				start_exchange(p, now, PATH_RELAY);
				return;
			}
			log_info("no direct path after %d ms; relay disabled, still trying",
				 p->cfg.punch_timeout_ms);
		}
		if (now >= p->next_probe) {
			for (size_t i = 0; i < p->n_cand; i++)
				send_probe(p, now, i);
			p->next_probe = now + p->probe_iv;
			p->probe_iv = p->probe_iv * 5 / 4;
			if (p->probe_iv > p->cfg.probe_max_ms)
				p->probe_iv = p->cfg.probe_max_ms;
		}
		spray_pump(p, now);
		break;
	case ST_EXCHANGE:
		pump_data(p, now);
		break;
	case ST_LINGER:
		if (now >= p->linger_end) {
			p->st = ST_DONE;
			break;
		}
		if (now >= p->next_bye)
			send_bye(p, now);
		break;
	case ST_DONE:
		break;
	}
}

mtime_ms punch_deadline(const struct punch *p)
{
	mtime_ms d = p->cfg.deadline;
	unsigned inflight = 0;

	switch (p->st) {
	case ST_PUNCH:
		if (p->n_cand)
			d = mtime_earliest(d, p->next_probe);
		d = mtime_earliest(d, p->punch_deadline);
		d = mtime_earliest(d, spray_deadline(p));
		break;
	case ST_EXCHANGE:
		for (unsigned seq = 1; seq <= p->cfg.messages && inflight < PUNCH_WINDOW; seq++) {
			if (p->out[seq].acked)
				continue;
			inflight++;
			d = mtime_earliest(d, p->out[seq].sent ? p->out[seq].next : 0);
		}
		break;
	case ST_LINGER:
		d = mtime_earliest(d, p->linger_end);
		d = mtime_earliest(d, p->next_bye);
		break;
	case ST_DONE:
		return -1;
	}
	return d;
}

enum punch_outcome punch_outcome(const struct punch *p, const char **reason)
{
	if (reason)
		*reason = p->outcome == PUNCH_FAILED ? p->reason : NULL;
	return p->st == ST_DONE ? p->outcome : PUNCH_RUNNING;
}

const struct punch_stats *punch_stats(const struct punch *p)
{
	return &p->stats;
}

int punch_create(const struct punch_config *cfg, mtime_ms now, struct punch **out)
{
	struct punch *p;

	*out = NULL;
	if ((cfg->role != 1 && cfg->role != 2) || cfg->n_cand > PUNCH_MAX_CAND ||
	    cfg->messages > PUNCH_MSG_MAX || cfg->probe_min_ms <= 0 || cfg->probe_max_ms < cfg->probe_min_ms ||
	    cfg->rto_ms <= 0 || cfg->linger_ms < 0 || cfg->punch_timeout_ms < 0)
		return -EINVAL;
	if (cfg->n_cand == 0 && !(cfg->relay && cfg->have_server))
		return -EINVAL;
	if (cfg->n_spray > PREDICT_PORTS_MAX || cfg->spray_socks > PREDICT_PORTS_MAX ||
	    ((cfg->n_spray || cfg->spray_socks) && cfg->n_cand == 0))
		return -EINVAL;
	for (size_t i = 0; i < cfg->n_cand; i++)
		if (addr_family(&cfg->cand[i]) != AF_INET && addr_family(&cfg->cand[i]) != AF_INET6)
			return -EINVAL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->cfg = *cfg;
	p->t0 = now;
	p->st = ST_PUNCH;
	p->direct_cand = -1;
	p->probe_iv = cfg->probe_min_ms;
	p->next_probe = now;
	p->punch_deadline = now + cfg->punch_timeout_ms;
	predict_budget_init(&p->spray_budget, cfg->spray_budget, cfg->spray_rate);
	p->next_spray = (cfg->n_spray || cfg->spray_socks) && cfg->spray_budget ? now : -1;
	/* Candidates may repeat (a private endpoint equal to the public one when
	 * there is no NAT); probe each once. */
	for (size_t i = 0; i < cfg->n_cand; i++) {
		if (find_cand(p, &cfg->cand[i], 0) >= 0)
			continue;
		p->cand[p->n_cand++].a = cfg->cand[i];
	}
	*out = p;
	punch_timer(p, now);
	return 0;
}

void punch_destroy(struct punch *p)
{
	free(p);
}

void punch_keepalive_init(struct punch_keepalive *k, int interval_ms)
{
	k->interval_ms = interval_ms > 0 ? interval_ms : 0;
	k->next = -1;
}

void punch_keepalive_sent(struct punch_keepalive *k, mtime_ms now)
{
	if (k->interval_ms)
		k->next = now + k->interval_ms;
}

bool punch_keepalive_due(const struct punch_keepalive *k, mtime_ms now)
{
	return k->next >= 0 && now >= k->next;
}

mtime_ms punch_keepalive_deadline(const struct punch_keepalive *k)
{
	return k->next;
}
