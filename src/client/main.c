/* punch-client: the I/O shell around the punching state machine (punch.c).
 *
 * It connects to the server over TCP, registers its UDP socket, waits for the
 * introduction (PEER), then feeds every datagram and every timeout to the
 * machine and sends what it queues, until the machine is done. The result is
 * one JSON object on stdout; human logs go to stderr. */
#include "client/punch.h"
#include "common/addr.h"
#include "common/log.h"
#include "common/num.h"
#include "common/mtime.h"
#include "common/siphash.h"
#include "proto/wire.h"

#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <math.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Exit statuses, documented in --help and punch-client(1). */
#define EXIT_DIRECT 0
#define EXIT_RELAYED 1
#define EXIT_FAILED 2
#define EXIT_USAGE 3
#define EXIT_SERVER 4

#define DEFAULT_PORT 3478
#define REG_RTO_FIRST 100
#define REG_RTO_MAX 1000
#define EARLY_MAX 16 /* partner datagrams kept from before our own introduction */
#define KEEPALIVE_MIN_MS 100 /* --keepalive: no faster, each one costs the server an answer */
#define PROBE_FLOOR_MS 10    /* paced from the server RTT, but no faster than this */

/* The partner may be introduced a moment before us and probe at once; its
 * first probes are kept and fed to the machine when it starts, rather than
 * lost (which would cost a probe interval). */
struct early_dgram {
	struct addr from;
	size_t len;
	uint8_t buf[WIRE_MSG_MAX];
};

struct opts {
	bool have_server, have_peer, have_bind;
	struct addr server, peer, bind;
	const char *session;
	uint16_t local_port;
	bool advertise_local, learn, relay, drop_direct;
	unsigned messages;
	int punch_timeout_ms, timeout_ms, probe_min_ms, probe_max_ms, linger_ms;
	int keepalive_ms; /* 0: silent on UDP while waiting for the partner */
	bool probe_set;   /* --probe-interval given: no pacing from the measured RTT */
};

struct client {
	struct opts o;
	int tcp, udp;
	struct addr local;      /* the UDP socket's own address */
	struct addr server_udp; /* the server's UDP port: same IP and port number as TCP */
	mtime_ms start, deadline;
	uint8_t tcp_buf[2 * WIRE_MSG_MAX];
	size_t tcp_len;
	bool welcomed, registered, introduced;
	uint32_t client_id;
	uint8_t token[WIRE_TOKEN_LEN];
	struct addr public;     /* as observed by the server */
	bool have_public;
	struct wire_msg peer;   /* the PEER introduction */
	mtime_ms introduced_at;
	mtime_ms hello_at, reg_first_at; /* to measure the round trip to the server */
	unsigned reg_sent;
	mtime_ms srv_rtt;       /* -1: not measured */
	struct early_dgram early[EARLY_MAX];
	unsigned n_early;
	struct punch *punch;
	enum punch_outcome outcome;
	char reason[256];
	int exit_code;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: punch-client --server HOST[:PORT] [options]\n"
		"       punch-client --peer HOST:PORT --local-port N [options]\n"
		"\n"
		"Punches a UDP path to a partner introduced by punch-server, proves it works in both\n"
		"directions, exchanges messages over it (or through the server's relay when no direct\n"
		"path forms) and prints one JSON object describing the outcome on stdout.\n"
		"\n"
		"  --server HOST[:PORT]   rendezvous server (TCP and UDP, default port %d)\n"
		"  --session NAME         pair with the client using the same name (default: anyone)\n"
		"  --bind ADDR            local address for both sockets\n"
		"  --local-port N         local UDP port (default: ephemeral)\n"
		"  --peer HOST:PORT       no server: punch straight to this endpoint (the classic proof of\n"
		"                         concept); needs --local-port; the secret is derived from --session\n"
		"                         and is NOT secret\n"
		"  --advertise-local      ask the server to report my local port instead of the observed one\n"
		"  --no-learn             do not probe addresses the partner is seen sending from\n"
		"  --no-relay             never fall back to the server's relay\n"
		"  --drop-direct          (testing) drop every packet not from the server\n"
		"  --messages N           DATA messages to exchange each way (default 5, max %d)\n"
		"  --punch-timeout DUR    give up on a direct path and relay after DUR (default 3s)\n"
		"  --timeout DUR          fail when not done after DUR in all (default 10s)\n"
		"  --probe-interval MIN[,MAX]  probe interval, growing from MIN to MAX (default: MIN from\n"
		"                         the measured server RTT x 1.5, at least 10ms; MAX 200ms)\n"
		"  --linger DUR           keep answering after BYE for up to DUR (default 1s)\n"
		"  --keepalive DUR        while waiting for the partner, re-send REGISTER to the server\n"
		"                         every DUR (at least 100ms) so that my NAT mapping stays alive\n"
		"                         (default: silent on UDP until the introduction)\n"
		"  -v, --verbose          debug logs;  -q, --quiet  warnings and errors only\n"
		"  -h, --help\n"
		"\n"
		"DUR is a number of seconds, or a number with the unit ms or s (\"500ms\", \"1.5s\").\n"
		"\n"
		"Exit status: 0 direct, 1 relayed, 2 failed (no partner, no path, messages lost),\n"
		"3 usage or configuration error, 4 server unreachable or protocol error.\n",
		DEFAULT_PORT, PUNCH_MSG_MAX);
}

/* "3", "3s", "1.5s", "500ms" -> milliseconds. Returns 0 or -EINVAL. */
static int parse_duration(const char *s, int *ms)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || !isfinite(v) || v < 0)
		return -EINVAL;
	if (strcmp(end, "ms") == 0)
		;
	else if (*end == '\0' || strcmp(end, "s") == 0)
		v *= 1000;
	else
		return -EINVAL;
	if (v > 24.0 * 3600 * 1000)
		return -EINVAL;
	*ms = (int)v;
	return 0;
}

enum {
	OPT_SERVER = 256, OPT_SESSION, OPT_BIND, OPT_LOCAL_PORT, OPT_PEER, OPT_ADVERTISE, OPT_NO_LEARN,
	OPT_NO_RELAY, OPT_DROP_DIRECT, OPT_MESSAGES, OPT_PUNCH_TIMEOUT, OPT_TIMEOUT, OPT_PROBE, OPT_LINGER,
	OPT_KEEPALIVE,
};

/* Returns 0, 1 for --help, or -EINVAL after saying what is wrong. */
static int parse_opts(int argc, char **argv, struct opts *o, enum log_level *lvl)
{
	static const struct option longopts[] = {
		{ "server", required_argument, NULL, OPT_SERVER },
		{ "session", required_argument, NULL, OPT_SESSION },
		{ "bind", required_argument, NULL, OPT_BIND },
		{ "local-port", required_argument, NULL, OPT_LOCAL_PORT },
		{ "peer", required_argument, NULL, OPT_PEER },
		{ "advertise-local", no_argument, NULL, OPT_ADVERTISE },
		{ "no-learn", no_argument, NULL, OPT_NO_LEARN },
		{ "no-relay", no_argument, NULL, OPT_NO_RELAY },
		{ "drop-direct", no_argument, NULL, OPT_DROP_DIRECT },
		{ "messages", required_argument, NULL, OPT_MESSAGES },
		{ "punch-timeout", required_argument, NULL, OPT_PUNCH_TIMEOUT },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "probe-interval", required_argument, NULL, OPT_PROBE },
		{ "linger", required_argument, NULL, OPT_LINGER },
		{ "keepalive", required_argument, NULL, OPT_KEEPALIVE },
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned long v;
	int c;

	memset(o, 0, sizeof(*o));
	o->session = "";
	o->learn = o->relay = true;
	o->messages = 5;
	o->punch_timeout_ms = 3000;
	o->timeout_ms = 10000;
	o->probe_min_ms = 50;
	o->probe_max_ms = 200;
	o->linger_ms = 1000;
	while ((c = getopt_long(argc, argv, "vqh", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_SERVER:
			if (addr_parse(optarg, DEFAULT_PORT, &o->server) < 0 || !addr_port(&o->server)) {
				log_errx("--server %s: not a numeric IP[:PORT]", optarg);
				return -EINVAL;
			}
			o->have_server = true;
			break;
		case OPT_SESSION:
			if (strlen(optarg) > WIRE_SESSION_MAX ||
			    strspn(optarg, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") !=
				    strlen(optarg)) {
				log_errx("--session %s: at most %d of A-Z a-z 0-9 . _ -", optarg, WIRE_SESSION_MAX);
				return -EINVAL;
			}
			o->session = optarg;
			break;
		case OPT_BIND:
			if (addr_parse(optarg, 0, &o->bind) < 0 || addr_port(&o->bind)) {
				log_errx("--bind %s: not a numeric IP address (use --local-port for the port)", optarg);
				return -EINVAL;
			}
			o->have_bind = true;
			break;
		case OPT_LOCAL_PORT:
			if (num_parse_uint(optarg, 65535, &v) < 0) {
				log_errx("--local-port %s: not a port number", optarg);
				return -EINVAL;
			}
			o->local_port = (uint16_t)v;
			break;
		case OPT_PEER:
			if (addr_parse(optarg, 0, &o->peer) < 0 || !addr_port(&o->peer)) {
				log_errx("--peer %s: not a numeric IP:PORT", optarg);
				return -EINVAL;
			}
			o->have_peer = true;
			break;
		case OPT_ADVERTISE:
			o->advertise_local = true;
			break;
		case OPT_NO_LEARN:
			o->learn = false;
			break;
		case OPT_NO_RELAY:
			o->relay = false;
			break;
		case OPT_DROP_DIRECT:
			o->drop_direct = true;
			break;
		case OPT_MESSAGES:
			if (num_parse_uint(optarg, PUNCH_MSG_MAX, &v) < 0) {
				log_errx("--messages %s: a number from 0 to %d", optarg, PUNCH_MSG_MAX);
				return -EINVAL;
			}
			o->messages = (unsigned)v;
			break;
		case OPT_PUNCH_TIMEOUT:
		case OPT_TIMEOUT:
		case OPT_LINGER:
			if (parse_duration(optarg, c == OPT_PUNCH_TIMEOUT ? &o->punch_timeout_ms
						   : c == OPT_TIMEOUT     ? &o->timeout_ms
									  : &o->linger_ms) < 0) {
				log_errx("%s: not a duration (\"3\", \"3s\", \"500ms\")", optarg);
				return -EINVAL;
			}
			break;
		case OPT_KEEPALIVE:
			if (parse_duration(optarg, &o->keepalive_ms) < 0 || o->keepalive_ms < KEEPALIVE_MIN_MS) {
				log_errx("--keepalive %s: a duration of at least %dms", optarg, KEEPALIVE_MIN_MS);
				return -EINVAL;
			}
			break;
		case OPT_PROBE: {
			char *comma = strchr(optarg, ',');

			if (comma)
				*comma = '\0';
			if (parse_duration(optarg, &o->probe_min_ms) < 0 ||
			    (comma && parse_duration(comma + 1, &o->probe_max_ms) < 0) || o->probe_min_ms <= 0) {
				log_errx("--probe-interval: MIN[,MAX], durations above zero");
				return -EINVAL;
			}
			o->probe_set = true;
			if (!comma && o->probe_max_ms < o->probe_min_ms)
				o->probe_max_ms = o->probe_min_ms;
			if (o->probe_max_ms < o->probe_min_ms) {
				log_errx("--probe-interval: MAX is below MIN");
				return -EINVAL;
			}
			break;
		}
		case 'v':
			*lvl = LOG_LVL_DEBUG;
			break;
		case 'q':
			*lvl = LOG_LVL_WARN;
			break;
		case 'h':
			return 1;
		default:
			return -EINVAL;
		}
	}
	if (optind < argc) {
		log_errx("unexpected argument: %s", argv[optind]);
		return -EINVAL;
	}
	if (o->have_server == o->have_peer) {
		log_errx("give exactly one of --server and --peer");
		return -EINVAL;
	}
	if (o->have_peer && !o->local_port) {
		log_errx("--peer needs a fixed --local-port (the partner must know it)");
		return -EINVAL;
	}
	if (o->have_peer && o->advertise_local) {
		log_errx("--advertise-local needs a server");
		return -EINVAL;
	}
	if (o->keepalive_ms && !o->have_server) {
		log_errx("--keepalive needs a server (it keeps the mapping the server observed alive)");
		return -EINVAL;
	}
	if (o->timeout_ms <= 0) {
		log_errx("--timeout must be above zero");
		return -EINVAL;
	}
	{
		const struct addr *far = o->have_server ? &o->server : &o->peer;

		if (o->have_bind && addr_family(&o->bind) != addr_family(far)) {
			log_errx("--bind and the %s are of different address families",
				 o->have_server ? "server" : "peer");
			return -EINVAL;
		}
	}
	return 0;
}

/* The UDP socket, bound to --bind (or any) and --local-port (or ephemeral).
 * Returns the fd or -errno. */
static int open_udp(struct client *cl, int family)
{
	struct addr a;
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int fd, err;

	fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (cl->o.have_bind) {
		a = cl->o.bind;
		addr_set_port(&a, cl->o.local_port);
	} else {
		addr_any(&a, family, cl->o.local_port);
	}
	if (bind(fd, &a.u.sa, a.len) < 0 || getsockname(fd, (struct sockaddr *)&ss, &len) < 0) {
		err = -errno;
		goto cleanup;
	}
	if ((err = addr_from_sa(&cl->local, (struct sockaddr *)&ss, len)) < 0)
		goto cleanup;
	return fd;
cleanup:
	close(fd);
	return err;
}

/* Connect the control connection before the deadline. Returns the fd or -errno. */
static int open_tcp(struct client *cl)
{
	struct pollfd pfd;
	struct addr a;
	socklen_t elen = sizeof(int);
	int fd, err = 0, soerr = 0;

	fd = socket(addr_family(&cl->o.server), SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (cl->o.have_bind) {
		a = cl->o.bind;
		addr_set_port(&a, 0);
		if (bind(fd, &a.u.sa, a.len) < 0) {
			err = -errno;
			goto cleanup;
		}
	}
	if (connect(fd, &cl->o.server.u.sa, cl->o.server.len) < 0 && errno != EINPROGRESS) {
		err = -errno;
		goto cleanup;
	}
	pfd.fd = fd;
	pfd.events = POLLOUT;
	for (;;) {
		int n = poll(&pfd, 1, mtime_until(mtime_now(), cl->deadline));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = -errno;
			goto cleanup;
		}
		if (n == 0) {
			err = -ETIMEDOUT;
			goto cleanup;
		}
		break;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &elen) < 0) {
		err = -errno;
		goto cleanup;
	}
	if (soerr) {
		err = -soerr;
		goto cleanup;
	}
	return fd;
cleanup:
	close(fd);
	return err;
}

/* Send a whole small control message. Returns 0 or -errno. */
static int tcp_send(struct client *cl, const struct wire_msg *m)
{
	uint8_t buf[WIRE_MSG_MAX];
	int n = wire_build(buf, sizeof(buf), m, NULL);
	size_t off = 0;

	if (n < 0)
		return -EINVAL;
	while (off < (size_t)n) {
		ssize_t w = send(cl->tcp, buf + off, (size_t)n - off, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN) {
			struct pollfd pfd = { .fd = cl->tcp, .events = POLLOUT };

			if (poll(&pfd, 1, mtime_until(mtime_now(), cl->deadline)) <= 0)
				return -ETIMEDOUT;
			continue;
		}
		if (w < 0)
			return -errno;
		off += (size_t)w;
	}
	return 0;
}

static void udp_send(struct client *cl, const struct addr *to, const uint8_t *buf, size_t len)
{
	char s[ADDR_STRLEN];

	/* A send can fail for one candidate (an unroutable private address) and
	 * not for the others: say so and go on. */
	if (sendto(cl->udp, buf, len, 0, &to->u.sa, to->len) < 0)
		log_debug("sendto %s: %s", addr_fmt(to, s, sizeof(s)), strerror(errno));
}

static void send_register(struct client *cl)
{
	struct wire_msg m;
	uint8_t buf[WIRE_MSG_MAX];
	int n;

	memset(&m, 0, sizeof(m));
	m.type = WIRE_REGISTER;
	memcpy(m.u.reg.token, cl->token, sizeof(cl->token));
	n = wire_build(buf, sizeof(buf), &m, NULL);
	if (n > 0)
		udp_send(cl, &cl->server_udp, buf, (size_t)n);
}

static int send_hello(struct client *cl)
{
	struct wire_msg m;
	struct addr priv = cl->local;

	memset(&m, 0, sizeof(m));
	m.type = WIRE_HELLO;
	m.u.hello.flags = cl->o.advertise_local ? WIRE_HELLO_ADVERTISE_LOCAL : 0;
	m.u.hello.local_port = addr_port(&cl->local);
	snprintf(m.u.hello.session, sizeof(m.u.hello.session), "%s", cl->o.session);
	/* A wildcard-bound UDP socket has no address of its own to report; the
	 * control connection's local address is the one that reaches the server. */
	if (!cl->o.have_bind) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);

		if (getsockname(cl->tcp, (struct sockaddr *)&ss, &len) == 0 &&
		    addr_from_sa(&priv, (struct sockaddr *)&ss, len) == 0)
			addr_set_port(&priv, addr_port(&cl->local));
	}
	addr_to_wire(&priv, &m.u.hello.private_eps[0]);
	m.u.hello.n_private = 1;
	return tcp_send(cl, &m);
}

static void fail(struct client *cl, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fail(struct client *cl, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cl->reason, sizeof(cl->reason), fmt, ap);
	va_end(ap);
	cl->outcome = PUNCH_FAILED;
	cl->exit_code = code;
	log_warnx("%s", cl->reason);
}

/* A control message from the server. Returns 0 to go on, -1 when it ended the run. */
static int on_tcp_msg(struct client *cl, const struct wire_msg *m)
{
	char s1[ADDR_STRLEN], s2[ADDR_STRLEN];

	switch (m->type) {
	case WIRE_WELCOME:
		if (cl->welcomed)
			break;
		cl->welcomed = true;
		cl->client_id = m->u.welcome.client_id;
		memcpy(cl->token, m->u.welcome.token, sizeof(cl->token));
		/* HELLO to WELCOME is one round trip to the server. */
		cl->srv_rtt = mtime_now() - cl->hello_at;
		log_debug("welcome: client %u", (unsigned)cl->client_id);
		return 0;
	case WIRE_PEER:
		if (!cl->welcomed || cl->introduced)
			break;
		if (m->u.peer.role != 1 && m->u.peer.role != 2)
			break;
		cl->peer = *m;
		cl->introduced = true;
		cl->introduced_at = mtime_now();
		if (addr_from_wire(&cl->public, &m->u.peer.self_public) == 0)
			cl->have_public = true;
		{
			struct addr pp;

			addr_from_wire(&pp, &m->u.peer.peer_public);
			log_info("introduced: session %u, role %u, partner %s, me %s", (unsigned)m->u.peer.session_id,
				 m->u.peer.role, addr_fmt(&pp, s1, sizeof(s1)), addr_fmt(&cl->public, s2, sizeof(s2)));
		}
		return 0;
	case WIRE_ERROR:
		fail(cl, m->u.error.code == WIRE_ERR_TIMEOUT ? EXIT_FAILED : EXIT_SERVER, "server error %u: %s",
		     m->u.error.code, m->u.error.reason);
		return -1;
	default:
		break;
	}
	fail(cl, EXIT_SERVER, "protocol error: unexpected %s from the server", wire_type_name(m->type));
	return -1;
}

/* Read what the control connection has. Returns 0, or -1 when it ended the run
 * (before the introduction) or closed (after it: no longer needed). */
static int on_tcp_readable(struct client *cl)
{
	ssize_t n = recv(cl->tcp, cl->tcp_buf + cl->tcp_len, sizeof(cl->tcp_buf) - cl->tcp_len, 0);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n <= 0) {
		if (cl->introduced) {
			log_debug("server closed the control connection");
			return -1;
		}
		if (n < 0)
			fail(cl, EXIT_SERVER, "control connection: %s", strerror(errno));
		else
			fail(cl, EXIT_SERVER, "server closed the control connection");
		return -1;
	}
	cl->tcp_len += (size_t)n;
	for (;;) {
		struct wire_msg m;
		int used = wire_parse(cl->tcp_buf, cl->tcp_len, &m);

		if (used == 0)
			return 0;
		if (used < 0) {
			fail(cl, EXIT_SERVER, "protocol error: malformed message from the server");
			return -1;
		}
		memmove(cl->tcp_buf, cl->tcp_buf + used, cl->tcp_len - (size_t)used);
		cl->tcp_len -= (size_t)used;
		if (on_tcp_msg(cl, &m) < 0)
			return -1;
	}
}

/* Before the introduction the only datagram we want is REG_ACK. */
static void on_udp_before_peer(struct client *cl, const uint8_t *buf, size_t len, const struct addr *from,
			       mtime_ms now)
{
	struct wire_msg m;

	if (!addr_equal(from, &cl->server_udp)) {
		if (cl->n_early < EARLY_MAX && len <= sizeof(cl->early[0].buf)) {
			cl->early[cl->n_early].from = *from;
			cl->early[cl->n_early].len = len;
			memcpy(cl->early[cl->n_early].buf, buf, len);
			cl->n_early++;
		}
		return;
	}
	if (wire_parse_datagram(buf, len, &m) < 0 ||
	    m.type != WIRE_REG_ACK || m.u.reg_ack.client_id != cl->client_id)
		return;
	if (!cl->registered) {
		cl->registered = true;
		/* An answer to the only REGISTER sent is a clean sample; after a
		 * retransmission nobody knows which one it answers. */
		if (cl->reg_sent == 1 && (cl->srv_rtt < 0 || now - cl->reg_first_at < cl->srv_rtt))
			cl->srv_rtt = now - cl->reg_first_at;
		if (addr_from_wire(&cl->public, &m.u.reg_ack.observed) == 0)
			cl->have_public = true;
		log_debug("registered");
	} else {
		/* The answer to a keepalive: the server now has this endpoint. */
		struct addr seen;
		char s1[ADDR_STRLEN], s2[ADDR_STRLEN];

		if (addr_from_wire(&seen, &m.u.reg_ack.observed) == 0 && cl->have_public &&
		    !addr_equal(&seen, &cl->public)) {
			log_info("my mapping changed while waiting: %s, was %s", addr_fmt(&seen, s1, sizeof(s1)),
				 addr_fmt(&cl->public, s2, sizeof(s2)));
			cl->public = seen;
		}
	}
}

/* Read what the UDP socket holds, at most 64 datagrams at a time so that a
 * flood cannot hold off the deadlines, and hand each to fn. */
static void udp_drain(struct client *cl, mtime_ms now,
		      void (*fn)(struct client *cl, const uint8_t *buf, size_t len, const struct addr *from,
				 mtime_ms now))
{
	static uint8_t buf[WIRE_MSG_MAX + 1];
	struct sockaddr_storage ss; /* addr_from_sa() must not copy onto itself */
	struct addr from;
	socklen_t flen;
	ssize_t r;

	for (int i = 0; i < 64; i++) {
		flen = sizeof(ss);
		r = recvfrom(cl->udp, buf, sizeof(buf), 0, (struct sockaddr *)&ss, &flen);
		if (r < 0)
			break;
		if (addr_from_sa(&from, (struct sockaddr *)&ss, flen) == 0)
			fn(cl, buf, (size_t)r, &from, now);
	}
}

/* Connect, say HELLO, register the UDP socket until REG_ACK, wait for PEER.
 * Returns 0 once introduced, -1 when the run ended (cl->outcome set). */
static int rendezvous(struct client *cl)
{
	mtime_ms next_reg = -1;
	int reg_rto = REG_RTO_FIRST, err;
	char s[ADDR_STRLEN];
	struct punch_keepalive ka;

	punch_keepalive_init(&ka, cl->o.keepalive_ms);
	cl->server_udp = cl->o.server;
	err = open_tcp(cl);
	if (err < 0) {
		fail(cl, EXIT_SERVER, "cannot connect to %s: %s", addr_fmt(&cl->o.server, s, sizeof(s)),
		     strerror(-err));
		return -1;
	}
	cl->tcp = err;
	cl->hello_at = mtime_now();
	if ((err = send_hello(cl)) < 0) {
		fail(cl, EXIT_SERVER, "sending HELLO: %s", strerror(-err));
		return -1;
	}
	while (!cl->introduced) {
		struct pollfd pfd[2] = { { .fd = cl->tcp, .events = POLLIN }, { .fd = cl->udp, .events = POLLIN } };
		mtime_ms now = mtime_now(), wake = cl->deadline;
		int n;

		if (now >= cl->deadline) {
			if (!cl->welcomed)
				fail(cl, EXIT_SERVER, "no WELCOME from the server before the timeout");
			else if (!cl->registered)
				fail(cl, EXIT_SERVER, "the server did not answer REGISTER before the timeout");
			else
				fail(cl, EXIT_FAILED, "no partner before the timeout");
			return -1;
		}
		if (cl->welcomed && !cl->registered) {
			if (next_reg < 0 || now >= next_reg) {
				if (cl->reg_sent++ == 0)
					cl->reg_first_at = now;
				send_register(cl);
				punch_keepalive_sent(&ka, now);
				next_reg = now + reg_rto;
				reg_rto = reg_rto * 2 > REG_RTO_MAX ? REG_RTO_MAX : reg_rto * 2;
			}
			if (next_reg < wake)
				wake = next_reg;
		} else if (cl->registered) {
			/* Registered and waiting: the server accepts a REGISTER again from
			 * the same endpoint and answers it, which keeps the mapping alive
			 * in both directions. Should the mapping have changed anyway, the
			 * server records the new endpoint before it introduces us. */
			if (punch_keepalive_due(&ka, now)) {
				log_debug("keepalive");
				send_register(cl);
				punch_keepalive_sent(&ka, now);
			}
			if (punch_keepalive_deadline(&ka) >= 0 && punch_keepalive_deadline(&ka) < wake)
				wake = punch_keepalive_deadline(&ka);
		}
		n = poll(pfd, 2, mtime_until(now, wake));
		if (n < 0 && errno != EINTR) {
			fail(cl, EXIT_SERVER, "poll: %s", strerror(errno));
			return -1;
		}
		if (n <= 0)
			continue;
		if ((pfd[0].revents & (POLLIN | POLLHUP | POLLERR)) && on_tcp_readable(cl) < 0)
			return -1;
		if (pfd[1].revents & POLLIN) {
			udp_drain(cl, mtime_now(), on_udp_before_peer);
		}
	}
	return 0;
}

static void flush_tx(struct client *cl)
{
	static struct punch_tx tx;

	while (punch_pop(cl->punch, &tx))
		udp_send(cl, &tx.to, tx.buf, tx.len);
}

static void on_udp_punching(struct client *cl, const uint8_t *buf, size_t len, const struct addr *from,
			    mtime_ms now)
{
	punch_input(cl->punch, now, buf, len, from);
	flush_tx(cl);
}

/* Drive the machine until it is done. */
static int punch_loop(struct client *cl, const struct punch_config *pc)
{
	bool tcp_open = cl->tcp >= 0;
	int err;

	if ((err = punch_create(pc, mtime_now(), &cl->punch)) < 0) {
		fail(cl, EXIT_SERVER, "cannot start punching: %s", strerror(-err));
		return -1;
	}
	flush_tx(cl);
	for (unsigned i = 0; i < cl->n_early; i++) {
		punch_input(cl->punch, mtime_now(), cl->early[i].buf, cl->early[i].len, &cl->early[i].from);
		flush_tx(cl);
	}
	while (punch_outcome(cl->punch, NULL) == PUNCH_RUNNING) {
		struct pollfd pfd[2] = { { .fd = cl->udp, .events = POLLIN },
					 { .fd = tcp_open ? cl->tcp : -1, .events = POLLIN } };
		mtime_ms now = mtime_now();
		int n = poll(pfd, 2, mtime_until(now, punch_deadline(cl->punch)));

		if (n < 0 && errno != EINTR) {
			fail(cl, EXIT_FAILED, "poll: %s", strerror(errno));
			return -1;
		}
		now = mtime_now();
		if (n > 0 && (pfd[0].revents & POLLIN)) {
			udp_drain(cl, now, on_udp_punching);
		}
		if (n > 0 && tcp_open && (pfd[1].revents & (POLLIN | POLLHUP | POLLERR))) {
			/* After the introduction the control connection is not needed;
			 * a server that closes it or sends more is only worth a note. */
			if (on_tcp_readable(cl) < 0) {
				tcp_open = false;
				if (cl->outcome == PUNCH_FAILED) {
					log_warnx("control connection: %s (carrying on)", cl->reason);
					cl->outcome = PUNCH_RUNNING;
					cl->reason[0] = '\0';
				}
			}
		}
		punch_timer(cl->punch, now);
		flush_tx(cl);
	}
	flush_tx(cl); /* the last BYE */
	{
		const char *why;

		cl->outcome = punch_outcome(cl->punch, &why);
		if (why)
			snprintf(cl->reason, sizeof(cl->reason), "%s", why);
		cl->exit_code = cl->outcome == PUNCH_DIRECT ? EXIT_DIRECT
				: cl->outcome == PUNCH_RELAYED ? EXIT_RELAYED
							      : EXIT_FAILED;
	}
	return 0;
}

/* The serverless mode's session fields, derived from the session name with
 * SipHash under a fixed, public key: both sides agree, nobody else is
 * authenticated against. Not a secret. */
static void derive_peer_session(const char *name, struct punch_config *pc)
{
	static const uint8_t fixed[SIPHASH_KEY_LEN] = "punchlab-peer-v1";
	char buf[WIRE_SESSION_MAX + 16];
	uint64_t h;

	for (int i = 0; i < 3; i++) {
		int n = snprintf(buf, sizeof(buf), "%d:%s", i, name);

		h = siphash24(fixed, buf, (size_t)n);
		if (i < 2)
			memcpy(pc->secret + 8 * i, &h, 8);
		else
			pc->session_id = (uint32_t)h;
	}
}

/* Without a server each side picks its role by comparing the two endpoints
 * it knows (port first, then address); both sides behind NATs can disagree,
 * which is why the peer mode accepts either role. */
static uint8_t peer_role(const struct addr *local, const struct addr *peer)
{
	struct wire_endpoint a, b;

	addr_to_wire(local, &a);
	addr_to_wire(peer, &b);
	if (a.port != b.port)
		return a.port < b.port ? 1 : 2;
	return memcmp(a.addr, b.addr, sizeof(a.addr)) <= 0 ? 1 : 2;
}

static json_object *json_addr(const struct addr *a, bool have)
{
	char s[ADDR_STRLEN];

	return have ? json_object_new_string(addr_fmt(a, s, sizeof(s))) : NULL;
}

static void print_result(const struct client *cl)
{
	const struct punch_stats *st = cl->punch ? punch_stats(cl->punch) : NULL;
	json_object *o = json_object_new_object(), *privs, *rtt;
	const char *mode = cl->o.have_peer ? "peer" : cl->o.advertise_local ? "advertise-local" : "server";
	struct addr a;

	json_object_object_add(o, "outcome", json_object_new_string(punch_outcome_name(cl->outcome)));
	json_object_object_add(o, "reason",
			       cl->outcome == PUNCH_FAILED ? json_object_new_string(cl->reason) : NULL);
	json_object_object_add(o, "mode", json_object_new_string(mode));
	json_object_object_add(o, "session", json_object_new_string(cl->o.session));
	json_object_object_add(o, "session_id",
			       cl->introduced ? json_object_new_int64(cl->peer.u.peer.session_id) : NULL);
	json_object_object_add(o, "role", cl->introduced ? json_object_new_int(cl->peer.u.peer.role) : NULL);
	json_object_object_add(o, "local", json_addr(&cl->local, cl->udp >= 0));
	json_object_object_add(o, "public", json_addr(&cl->public, cl->have_public));
	json_object_object_add(o, "public_seen_by_peer",
			       st ? json_addr(&st->seen_self, st->have_seen_self) : NULL);
	json_object_object_add(o, "peer_public",
			       cl->introduced && addr_from_wire(&a, &cl->peer.u.peer.peer_public) == 0
				       ? json_addr(&a, true)
				       : NULL);
	privs = json_object_new_array();
	for (unsigned i = 0; cl->introduced && i < cl->peer.u.peer.n_private && i < WIRE_MAX_PRIVATE; i++)
		if (addr_from_wire(&a, &cl->peer.u.peer.peer_private[i]) == 0)
			json_object_array_add(privs, json_addr(&a, true));
	json_object_object_add(o, "peer_private", privs);
	json_object_object_add(o, "peer_used", st ? json_addr(&st->path, st->have_path) : NULL);
	json_object_object_add(o, "direct_ms",
			       st && st->have_path ? json_object_new_int64(st->direct_ms) : NULL);
	json_object_object_add(o, "elapsed_ms", json_object_new_int64(mtime_now() - cl->start));
	json_object_object_add(o, "probes_sent", json_object_new_int64(st ? st->probes_sent : 0));
	json_object_object_add(o, "probes_received", json_object_new_int64(st ? st->probes_received : 0));
	json_object_object_add(o, "acks_sent", json_object_new_int64(st ? st->acks_sent : 0));
	json_object_object_add(o, "acks_received", json_object_new_int64(st ? st->acks_received : 0));
	json_object_object_add(o, "learned", json_object_new_int64(st ? st->learned : 0));
	json_object_object_add(o, "stray", json_object_new_int64(st ? st->stray : 0));
	json_object_object_add(o, "forged", json_object_new_int64(st ? st->forged : 0));
	json_object_object_add(o, "dropped", json_object_new_int64(st ? st->dropped : 0));
	json_object_object_add(o, "messages", json_object_new_int64(cl->o.messages));
	json_object_object_add(o, "messages_sent", json_object_new_int64(st ? st->messages_sent : 0));
	json_object_object_add(o, "messages_received", json_object_new_int64(st ? st->messages_received : 0));
	json_object_object_add(o, "data_sent", json_object_new_int64(st ? st->data_sent : 0));
	json_object_object_add(o, "relayed_out", json_object_new_int64(st ? st->relayed_out : 0));
	json_object_object_add(o, "relayed_in", json_object_new_int64(st ? st->relayed_in : 0));
	if (st && st->rtt_n) {
		double avg = round(10.0 * (double)st->rtt_sum / st->rtt_n) / 10;
		char avg_s[32];

		/* One decimal, written as such: json-c would print 0.20000000000000001. */
		snprintf(avg_s, sizeof(avg_s), "%.1f", avg);
		rtt = json_object_new_object();
		json_object_object_add(rtt, "min", json_object_new_int64(st->rtt_min));
		json_object_object_add(rtt, "avg", json_object_new_double_s(avg, avg_s));
		json_object_object_add(rtt, "max", json_object_new_int64(st->rtt_max));
		json_object_object_add(o, "rtt_ms", rtt);
	} else {
		json_object_object_add(o, "rtt_ms", NULL);
	}
	printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	fflush(stdout);
	json_object_put(o);
}

int main(int argc, char **argv)
{
	static struct client cl;
	struct punch_config pc;
	enum log_level lvl = LOG_LVL_INFO;
	int r, err;

	log_init("punch-client", LOG_LVL_INFO);
	r = parse_opts(argc, argv, &cl.o, &lvl);
	if (r == 1) {
		usage(stdout);
		return 0;
	}
	if (r < 0) {
		fprintf(stderr, "try: punch-client --help\n");
		return EXIT_USAGE;
	}
	log_init("punch-client", lvl);
	cl.tcp = cl.udp = -1;
	cl.srv_rtt = -1;
	cl.start = mtime_now();
	cl.deadline = cl.start + cl.o.timeout_ms;
	cl.outcome = PUNCH_FAILED;
	cl.exit_code = EXIT_FAILED;

	err = open_udp(&cl, addr_family(cl.o.have_server ? &cl.o.server : &cl.o.peer));
	if (err < 0) {
		log_errx("cannot open the UDP socket: %s", strerror(-err));
		return EXIT_USAGE; /* a bad --bind or a busy --local-port */
	}
	cl.udp = err;

	punch_config_defaults(&pc);
	pc.learn = cl.o.learn;
	pc.relay = cl.o.relay;
	pc.drop_direct = cl.o.drop_direct;
	pc.messages = cl.o.messages;
	pc.probe_min_ms = cl.o.probe_min_ms;
	pc.probe_max_ms = cl.o.probe_max_ms;
	pc.punch_timeout_ms = cl.o.punch_timeout_ms;
	pc.linger_ms = cl.o.linger_ms;
	pc.deadline = cl.deadline;

	if (cl.o.have_server) {
		if (rendezvous(&cl) < 0)
			goto out;
		pc.session_id = cl.peer.u.peer.session_id;
		pc.role = cl.peer.u.peer.role;
		memcpy(pc.secret, cl.peer.u.peer.secret, sizeof(pc.secret));
		pc.have_server = true;
		pc.server = cl.server_udp;
		/* Pace the probes by the round trip measured to the server rather
		 * than a fixed 50 ms: the partner's answer comes about as fast, so a
		 * round that got nothing back is retried after about one RTT. */
		if (!cl.o.probe_set && cl.srv_rtt >= 0) {
			mtime_ms iv = cl.srv_rtt * 3 / 2;

			pc.probe_min_ms = (int)(iv < PROBE_FLOOR_MS ? PROBE_FLOOR_MS : iv > 200 ? 200 : iv);
			if (pc.probe_max_ms < pc.probe_min_ms)
				pc.probe_max_ms = pc.probe_min_ms;
			log_debug("server RTT %lld ms: probing every %d ms at first", (long long)cl.srv_rtt,
				  pc.probe_min_ms);
		}
		if (addr_from_wire(&pc.cand[pc.n_cand], &cl.peer.u.peer.peer_public) == 0)
			pc.n_cand++;
		for (unsigned i = 0; i < cl.peer.u.peer.n_private && i < WIRE_MAX_PRIVATE; i++)
			if (addr_from_wire(&pc.cand[pc.n_cand], &cl.peer.u.peer.peer_private[i]) == 0 &&
			    pc.n_cand < PUNCH_MAX_CAND)
				pc.n_cand++;
		/* Keep to the family of our socket: the other family cannot be reached from it. */
		for (size_t i = 0; i < pc.n_cand;) {
			if (addr_family(&pc.cand[i]) != addr_family(&cl.local))
				pc.cand[i] = pc.cand[--pc.n_cand];
			else
				i++;
		}
	} else {
		derive_peer_session(cl.o.session, &pc);
		pc.role = peer_role(&cl.local, &cl.o.peer);
		pc.any_role = true;
		pc.relay = false;
		pc.cand[pc.n_cand++] = cl.o.peer;
		cl.introduced = true;
		cl.introduced_at = mtime_now();
		memset(&cl.peer, 0, sizeof(cl.peer));
		cl.peer.type = WIRE_PEER;
		cl.peer.u.peer.session_id = pc.session_id;
		cl.peer.u.peer.role = pc.role;
		addr_to_wire(&cl.o.peer, &cl.peer.u.peer.peer_public);
		log_info("punching to %s as role %u (no server)", addr_fmt(&cl.o.peer, cl.reason, sizeof(cl.reason)),
			 pc.role);
		cl.reason[0] = '\0';
	}
	punch_loop(&cl, &pc);
out:
	print_result(&cl);
	if (cl.outcome == PUNCH_FAILED)
		log_info("failed: %s", cl.reason);
	else
		log_info("%s", punch_outcome_name(cl.outcome));
	punch_destroy(cl.punch);
	if (cl.tcp >= 0)
		close(cl.tcp);
	if (cl.udp >= 0)
		close(cl.udp);
	return cl.exit_code;
}
