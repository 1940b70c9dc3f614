/* punch-client: the I/O shell around the punching state machine (punch.c).
 *
 * It connects to the server over TCP, registers its UDP socket, waits for the
 * introduction (PEER), then feeds every datagram and every timeout to the
 * machine and sends what it queues, until the machine is done. The result is
 * one JSON object on stdout; human logs go to stderr. */
#include "client/defaults.h"
#include "client/predict.h"
#include "client/punch.h"
#include "client/tcppunch.h"
#include "common/addr.h"
#include "common/cli.h"
#include "common/duration.h"
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
#include <sys/random.h>
#include <sys/resource.h>
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
#define PREDICT_SEQ_PORTS CLIENT_PREDICT_SEQ_PORTS
#define PREDICT_BDAY_PORTS CLIENT_PREDICT_BDAY_PORTS
#define PREDICT_RATE CLIENT_PREDICT_RATE

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
	bool advertise_local;
	struct punch_config pc; /* the machine's tuning (learn, relay, messages, timers) */
	int timeout_ms;
	int keepalive_ms; /* 0: silent on UDP while waiting for the partner */
	bool probe_set;   /* --probe-interval given: no pacing from the measured RTT */
	bool tcp;         /* --tcp: punch TCP by simultaneous open from the control connection's port */
	/* --predict: port prediction (client/predict.h) */
	enum predict_method predict;
	bool have_server2;
	struct addr server2;      /* the server's second address, for the second observation */
	unsigned predict_ports;   /* 0: the method's default */
	unsigned predict_budget;  /* 0: twice the targets */
	unsigned predict_rate;
	uint16_t predict_lo, predict_hi;
	bool have_seed;
	uint64_t predict_seed;
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
	struct addr tcp_local;  /* --tcp: the port everything TCP is bound to */
	bool registered2;       /* --predict: the REG_ACK from the second address came */
	struct addr public2;    /* --predict: my endpoint as the second address saw it */
	unsigned reg2_sent;
	mtime_ms next_reg2;
	int *spray_fd;          /* --predict birthday, hard side: the extra sockets */
	unsigned n_spray_fd;
	int my_step, peer_step; /* --predict: the port steps of my NAT and of the partner's */
	bool have_my_step, have_peer_step;
	uint64_t seed;          /* --predict birthday: the seed the ports were drawn with */
	struct punch_config *pc; /* what punched, for the report */
	struct tp *tp;          /* --tcp: the punching sockets */
	enum punch_outcome outcome;
	char reason[256];
	int exit_code;
};

static void usage(FILE *f)
{
	char pt[DURATION_STRLEN], to[DURATION_STRLEN], pmin[DURATION_STRLEN], pmax[DURATION_STRLEN],
		linger[DURATION_STRLEN];

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
		"  --tcp                  punch TCP instead of UDP: simultaneous open from the port of the\n"
		"                         control connection (--local-port, else ephemeral), which the server\n"
		"                         observes and hands to the partner; both sides need --tcp; the\n"
		"                         relay fallback stays on UDP\n"
		"  --no-learn             do not probe addresses the partner is seen sending from\n"
		"  --no-relay             never fall back to the server's relay\n"
		"  --drop-direct          (testing) drop every packet not from the server\n"
		"  --messages N           DATA messages to exchange each way (default %d, max %d)\n"
		"  --punch-timeout DUR    give up on a direct path and relay after DUR (default %s)\n"
		"  --timeout DUR          fail when not done after DUR in all (default %s)\n"
		"  --probe-interval MIN[,MAX]  probe interval, growing from MIN to MAX (default: MIN from\n"
		"                         the measured server RTT x 1.5, at least 10ms, else %s; MAX %s)\n"
		"  --linger DUR           keep answering after BYE for up to DUR (default %s)\n"
		"  --keepalive DUR        while waiting for the partner, re-send REGISTER to the server\n"
		"                         every DUR (at least %dms) so that my NAT mapping stays alive\n"
		"                         (default: silent on UDP until the introduction)\n"
		"  --predict METHOD       port prediction for a partner behind an endpoint-dependent NAT\n"
		"                         (UDP; needs --server2): 'sequential' probes the next ports of\n"
		"                         its NAT by the step the server saw; 'birthday' probes random\n"
		"                         ports of its address (the easy side) or opens many mappings\n"
		"                         (the hard side): see punch-client(1) for what it costs\n"
		"  --server2 HOST[:PORT]  the server's second address (default port: the server's);\n"
		"                         a second REGISTER there shows my NAT's port step\n"
		"  --predict-ports N      targets or sockets (default %d sequential, %d birthday; max %d)\n"
		"  --predict-budget N     most prediction probes in all (default: twice the targets)\n"
		"  --predict-rate N       most prediction probes per second (default %d)\n"
		"  --predict-range LO-HI  the partner NAT's port range for birthday (default 1024-65535)\n"
		"  --predict-seed N       seed of the random ports (default: from getrandom)\n"
		"  -v, --verbose          debug logs;  -q, --quiet  warnings and errors only\n"
		"  -h, --help\n"
		"\n"
		"DUR is a number of seconds, or a number with the unit ms, s or m (\"500ms\", \"1.5s\").\n"
		"\n"
		"Exit status: 0 direct, 1 relayed, 2 failed (no partner, no path, messages lost),\n"
		"3 usage or configuration error, 4 server unreachable or protocol error.\n",
		DEFAULT_PORT, CLIENT_MESSAGES, PUNCH_MSG_MAX, duration_fmt(CLIENT_PUNCH_TIMEOUT_MS, pt, sizeof(pt)),
		duration_fmt(CLIENT_TIMEOUT_MS, to, sizeof(to)), duration_fmt(CLIENT_PROBE_MIN_MS, pmin, sizeof(pmin)),
		duration_fmt(CLIENT_PROBE_MAX_MS, pmax, sizeof(pmax)), duration_fmt(CLIENT_LINGER_MS, linger, sizeof(linger)),
		KEEPALIVE_MIN_MS, PREDICT_SEQ_PORTS, PREDICT_BDAY_PORTS, PREDICT_PORTS_MAX, PREDICT_RATE);
}


enum {
	OPT_SERVER = 256, OPT_SESSION, OPT_BIND, OPT_LOCAL_PORT, OPT_PEER, OPT_ADVERTISE, OPT_NO_LEARN,
	OPT_NO_RELAY, OPT_DROP_DIRECT, OPT_MESSAGES, OPT_PUNCH_TIMEOUT, OPT_TIMEOUT, OPT_PROBE, OPT_LINGER,
	OPT_KEEPALIVE, OPT_TCP, OPT_PREDICT, OPT_PREDICT_PORTS, OPT_PREDICT_BUDGET, OPT_PREDICT_RATE,
	OPT_PREDICT_RANGE, OPT_PREDICT_SEED, OPT_SERVER2,
};

/* A duration option (common/duration.h) of min_ms up to a day into *ms.
 * Returns 0, or -EINVAL after saying what is wrong. */
static int opt_duration(const char *name, const char *arg, int min_ms, int *ms)
{
	uint64_t v;

	if (duration_parse(arg, 0, (uint64_t)min_ms, 24 * 3600 * 1000, &v) < 0) {
		log_errx("--%s %s: not a duration from %dms to a day (\"3\", \"1.5s\", \"500ms\")", name, arg,
			 min_ms);
		return -EINVAL;
	}
	*ms = (int)v;
	return 0;
}

/* --probe-interval MIN[,MAX]: MAX defaults to the larger of MIN and the
 * default ceiling. Returns 0 or -EINVAL after saying what is wrong. */
static int opt_probe_interval(char *arg, struct punch_config *pc)
{
	char *comma = strchr(arg, ',');

	if (comma)
		*comma = '\0';
	if (opt_duration("probe-interval", arg, 1, &pc->probe_min_ms) < 0 ||
	    (comma && opt_duration("probe-interval", comma + 1, 1, &pc->probe_max_ms) < 0))
		return -EINVAL;
	if (!comma && pc->probe_max_ms < pc->probe_min_ms)
		pc->probe_max_ms = pc->probe_min_ms;
	if (pc->probe_max_ms < pc->probe_min_ms) {
		log_errx("--probe-interval: MAX is below MIN");
		return -EINVAL;
	}
	return 0;
}

/* The options that say whom to reach and from where. Returns 0, -ENOENT
 * for an option of another kind, or -EINVAL after saying what is wrong. */
static int opt_endpoint(int c, const char *arg, struct opts *o)
{
	unsigned long v;

	switch (c) {
	case OPT_SERVER:
		if (addr_parse(arg, DEFAULT_PORT, &o->server) < 0 || !addr_port(&o->server)) {
			log_errx("--server %s: not a numeric IP[:PORT]", arg);
			return -EINVAL;
		}
		o->have_server = true;
		return 0;
	case OPT_SESSION:
		if (strlen(arg) > WIRE_SESSION_MAX ||
		    strspn(arg, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") != strlen(arg)) {
			log_errx("--session %s: at most %d of A-Z a-z 0-9 . _ -", arg, WIRE_SESSION_MAX);
			return -EINVAL;
		}
		o->session = arg;
		return 0;
	case OPT_BIND:
		if (addr_parse(arg, 0, &o->bind) < 0 || addr_port(&o->bind)) {
			log_errx("--bind %s: not a numeric IP address (use --local-port for the port)", arg);
			return -EINVAL;
		}
		o->have_bind = true;
		return 0;
	case OPT_LOCAL_PORT:
		if (num_parse_uint(arg, 65535, &v) < 0) {
			log_errx("--local-port %s: not a port number", arg);
			return -EINVAL;
		}
		o->local_port = (uint16_t)v;
		return 0;
	case OPT_PEER:
		if (addr_parse(arg, 0, &o->peer) < 0 || !addr_port(&o->peer)) {
			log_errx("--peer %s: not a numeric IP:PORT", arg);
			return -EINVAL;
		}
		o->have_peer = true;
		return 0;
	case OPT_ADVERTISE:
		o->advertise_local = true;
		return 0;
	case OPT_TCP:
		o->tcp = true;
		return 0;
	default:
		return -ENOENT;
	}
}

/* The options that tune the punching machine. Returns 0, -ENOENT for an
 * option of another kind, or -EINVAL after saying what is wrong. */
static int opt_tuning(int c, char *arg, struct opts *o)
{
	unsigned long v;

	switch (c) {
	case OPT_NO_LEARN:
		o->pc.learn = false;
		return 0;
	case OPT_NO_RELAY:
		o->pc.relay = false;
		return 0;
	case OPT_DROP_DIRECT:
		o->pc.drop_direct = true;
		return 0;
	case OPT_MESSAGES:
		if (num_parse_uint(arg, PUNCH_MSG_MAX, &v) < 0) {
			log_errx("--messages %s: a number from 0 to %d", arg, PUNCH_MSG_MAX);
			return -EINVAL;
		}
		o->pc.messages = (unsigned)v;
		return 0;
	case OPT_PUNCH_TIMEOUT:
		return opt_duration("punch-timeout", arg, 0, &o->pc.punch_timeout_ms);
	case OPT_TIMEOUT:
		return opt_duration("timeout", arg, 1, &o->timeout_ms);
	case OPT_LINGER:
		return opt_duration("linger", arg, 0, &o->pc.linger_ms);
	case OPT_KEEPALIVE:
		return opt_duration("keepalive", arg, KEEPALIVE_MIN_MS, &o->keepalive_ms);
	case OPT_PROBE:
		o->probe_set = true;
		return opt_probe_interval(arg, &o->pc);
	default:
		return -ENOENT;
	}
}

/* The port prediction options. Returns 0, -ENOENT for an option of another
 * kind, or -EINVAL after saying what is wrong. */
static int opt_predict(int c, const char *arg, struct opts *o)
{
	unsigned long v, lo, hi;
	char *end;

	switch (c) {
	case OPT_PREDICT:
		if (predict_method_parse(arg, &o->predict) < 0) {
			log_errx("--predict %s: sequential, birthday or none", arg);
			return -EINVAL;
		}
		return 0;
	case OPT_PREDICT_PORTS:
		if (num_parse_uint(arg, PREDICT_PORTS_MAX, &v) < 0 || !v) {
			log_errx("--predict-ports %s: a number from 1 to %d", arg, PREDICT_PORTS_MAX);
			return -EINVAL;
		}
		o->predict_ports = (unsigned)v;
		return 0;
	case OPT_PREDICT_BUDGET:
		if (num_parse_uint(arg, 100000, &v) < 0 || !v) {
			log_errx("--predict-budget %s: a number from 1 to 100000", arg);
			return -EINVAL;
		}
		o->predict_budget = (unsigned)v;
		return 0;
	case OPT_PREDICT_RATE:
		if (num_parse_uint(arg, 100000, &v) < 0 || !v) {
			log_errx("--predict-rate %s: probes per second, 1 to 100000", arg);
			return -EINVAL;
		}
		o->predict_rate = (unsigned)v;
		return 0;
	case OPT_PREDICT_RANGE:
		errno = 0;
		lo = strtoul(arg, &end, 10);
		hi = *end == '-' ? strtoul(end + 1, &end, 10) : 0;
		if (errno || *end || !lo || lo > hi || hi > 65535) {
			log_errx("--predict-range %s: LO-HI, ports from 1 to 65535", arg);
			return -EINVAL;
		}
		o->predict_lo = (uint16_t)lo;
		o->predict_hi = (uint16_t)hi;
		return 0;
	case OPT_PREDICT_SEED:
		errno = 0;
		o->predict_seed = strtoull(arg, &end, 0);
		if (errno || end == arg || *end) {
			log_errx("--predict-seed %s: a number", arg);
			return -EINVAL;
		}
		o->have_seed = true;
		return 0;
	case OPT_SERVER2:
		if (addr_parse(arg, 0, &o->server2) < 0) {
			log_errx("--server2 %s: not a numeric IP[:PORT]", arg);
			return -EINVAL;
		}
		o->have_server2 = true;
		return 0;
	default:
		return -ENOENT;
	}
}

/* What no single option can say wrong. Returns 0 or -EINVAL after saying what. */
static int opts_check(const struct opts *o)
{
	const struct addr *far = o->have_server ? &o->server : &o->peer;

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
	if (o->predict && (!o->have_server || !o->have_server2)) {
		log_errx("--predict needs --server and --server2 (two observations of my mapping)");
		return -EINVAL;
	}
	if (o->predict && o->tcp) {
		log_errx("--predict is for UDP only");
		return -EINVAL;
	}
	if (o->have_server2 && o->have_server && addr_family(&o->server2) != addr_family(&o->server)) {
		log_errx("--server2 and --server are of different address families");
		return -EINVAL;
	}
	if (o->have_bind && addr_family(&o->bind) != addr_family(far)) {
		log_errx("--bind and the %s are of different address families", o->have_server ? "server" : "peer");
		return -EINVAL;
	}
	return 0;
}

/* Returns 0, 1 for --help, or -EINVAL after saying what is wrong. */
static int parse_opts(int argc, char **argv, struct opts *o, struct cli_common *cc)
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
		{ "tcp", no_argument, NULL, OPT_TCP },
		{ "predict", required_argument, NULL, OPT_PREDICT },
		{ "predict-ports", required_argument, NULL, OPT_PREDICT_PORTS },
		{ "predict-budget", required_argument, NULL, OPT_PREDICT_BUDGET },
		{ "predict-rate", required_argument, NULL, OPT_PREDICT_RATE },
		{ "predict-range", required_argument, NULL, OPT_PREDICT_RANGE },
		{ "predict-seed", required_argument, NULL, OPT_PREDICT_SEED },
		{ "server2", required_argument, NULL, OPT_SERVER2 },
		CLI_OPTS_LOG,
		{ NULL, 0, NULL, 0 },
	};
	int c, r;

	memset(o, 0, sizeof(*o));
	o->session = "";
	punch_config_defaults(&o->pc);
	o->timeout_ms = CLIENT_TIMEOUT_MS;
	o->predict_rate = PREDICT_RATE;
	o->predict_lo = CLIENT_PREDICT_LO;
	o->predict_hi = CLIENT_PREDICT_HI;
	while ((c = getopt_long(argc, argv, "vqh", longopts, NULL)) != -1) {
		r = opt_endpoint(c, optarg, o);
		if (r == -ENOENT)
			r = opt_predict(c, optarg, o);
		if (r == -ENOENT)
			r = opt_tuning(c, optarg, o);
		if (r == -ENOENT)
			r = cli_opt(c, optarg, cc);
		if (r != 0)
			return r;
	}
	if (cli_no_operands(argc, argv) < 0)
		return -EINVAL;
	if (o->have_server2 && !addr_port(&o->server2) && o->have_server)
		addr_set_port(&o->server2, addr_port(&o->server));
	return opts_check(o);
}

/* The UDP socket, bound to --bind (or any) and --local-port (or ephemeral).
 * Returns the fd or -errno. */
static int open_udp(struct client *cl, int family)
{
	struct addr a;
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
	if (bind(fd, &a.u.sa, a.len) < 0) {
		err = -errno;
		goto cleanup;
	}
	if ((err = addr_local(fd, &cl->local)) < 0)
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

	if (cl->o.tcp) {
		/* The control connection leaves from the port we punch from, so
		 * that its source, as the server sees it, is our TCP mapping. */
		fd = tp_socket(&cl->tcp_local);
		if (fd < 0)
			return fd;
		if ((err = addr_local(fd, &cl->tcp_local)) < 0)
			goto cleanup;
	} else if ((fd = socket(addr_family(&cl->o.server), SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) < 0) {
		return -errno;
	} else if (cl->o.have_bind) {
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

static void send_register_to(struct client *cl, const struct addr *to)
{
	struct wire_msg m;
	uint8_t buf[WIRE_MSG_MAX];
	int n;

	memset(&m, 0, sizeof(m));
	m.type = WIRE_REGISTER;
	memcpy(m.u.reg.token, cl->token, sizeof(cl->token));
	n = wire_build(buf, sizeof(buf), &m, NULL);
	if (n > 0)
		udp_send(cl, to, buf, (size_t)n);
}

static void send_register(struct client *cl)
{
	send_register_to(cl, &cl->server_udp);
}

/* --predict: once registered at the first address, register at the second
 * until it answers; the same socket, so a NAT that maps per destination gives
 * it a new port. Returns when it wants to run again, or -1. */
static mtime_ms register2_step(struct client *cl, mtime_ms now)
{
	if (!cl->o.predict || !cl->registered || cl->registered2)
		return -1;
	if (!cl->reg2_sent || now >= cl->next_reg2) {
		int rto = REG_RTO_FIRST << (cl->reg2_sent < 4 ? cl->reg2_sent : 4);

		cl->reg2_sent++;
		send_register_to(cl, &cl->o.server2);
		cl->next_reg2 = now + (rto > REG_RTO_MAX ? REG_RTO_MAX : rto);
	}
	return cl->next_reg2;
}

static int send_hello(struct client *cl)
{
	struct wire_msg m;
	struct addr priv = cl->local;

	memset(&m, 0, sizeof(m));
	m.type = WIRE_HELLO;
	m.u.hello.flags = (cl->o.advertise_local ? WIRE_HELLO_ADVERTISE_LOCAL : 0) | (cl->o.tcp ? WIRE_HELLO_TCP : 0) |
			  (cl->o.predict ? WIRE_HELLO_PREDICT : 0);
	m.u.hello.local_port = addr_port(cl->o.tcp ? &cl->tcp_local : &cl->local);
	snprintf(m.u.hello.session, sizeof(m.u.hello.session), "%s", cl->o.session);
	/* A wildcard-bound UDP socket has no address of its own to report; the
	 * control connection's local address is the one that reaches the server. */
	if (!cl->o.have_bind && addr_local(cl->tcp, &priv) == 0)
		addr_set_port(&priv, addr_port(&cl->local));
	if (cl->o.tcp)
		addr_set_port(&priv, addr_port(&cl->tcp_local));
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

	if (cl->o.predict && addr_equal(from, &cl->o.server2)) {
		if (wire_parse_datagram(buf, len, &m) == 0 && m.type == WIRE_REG_ACK &&
		    m.u.reg_ack.client_id == cl->client_id && !cl->registered2 &&
		    addr_from_wire(&cl->public2, &m.u.reg_ack.observed) == 0) {
			cl->registered2 = true;
			log_debug("registered at the second address");
		}
		return;
	}
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
		/* With --tcp "public" is the TCP endpoint the introduction brings;
		 * the UDP mapping only serves the relay. */
		if (!cl->o.tcp && !cl->introduced && addr_from_wire(&cl->public, &m.u.reg_ack.observed) == 0)
			cl->have_public = true;
		log_debug("registered");
	} else if (!cl->o.tcp) {
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
			else if (cl->o.predict && !cl->registered2)
				fail(cl, EXIT_SERVER, "the server did not answer REGISTER at its second address (--server2)");
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
			{
				mtime_ms r2 = register2_step(cl, now);

				if (r2 >= 0 && r2 < wake)
					wake = r2;
			}
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

	/* With --tcp everything for the partner goes on TCP; the server (the
	 * relay) is still reached on UDP. */
	while (punch_pop(cl->punch, &tx)) {
		if (tx.sock) {
			if (tx.sock <= cl->n_spray_fd &&
			    sendto(cl->spray_fd[tx.sock - 1], tx.buf, tx.len, 0, &tx.to.u.sa, tx.to.len) < 0)
				log_debug("sendto on prediction socket %u: %s", tx.sock, strerror(errno));
			continue;
		}
		if (cl->tp && !(cl->o.have_server && addr_equal(&tx.to, &cl->server_udp)))
			tp_send(cl->tp, &tx.to, tx.buf, tx.len);
		else
			udp_send(cl, &tx.to, tx.buf, tx.len);
	}
}

/* A whole message arrived on a TCP connection to the partner. */
static void on_tcp_punching(void *arg, const uint8_t *buf, size_t len, const struct addr *from)
{
	struct client *cl = arg;

	punch_input(cl->punch, mtime_now(), buf, len, from);
	flush_tx(cl);
}

static void on_udp_punching(struct client *cl, const uint8_t *buf, size_t len, const struct addr *from,
			    mtime_ms now)
{
	punch_input(cl->punch, now, buf, len, from);
	flush_tx(cl);
}

/* Read what prediction socket i (1-based) holds, at most 16 datagrams. */
static void spray_drain(struct client *cl, unsigned i, mtime_ms now)
{
	static uint8_t buf[WIRE_MSG_MAX + 1];
	struct sockaddr_storage ss;
	struct addr from;
	socklen_t flen;
	ssize_t r;

	for (int k = 0; k < 16; k++) {
		flen = sizeof(ss);
		r = recvfrom(cl->spray_fd[i - 1], buf, sizeof(buf), 0, (struct sockaddr *)&ss, &flen);
		if (r < 0)
			break;
		if (addr_from_sa(&from, (struct sockaddr *)&ss, flen) == 0) {
			punch_input_sock(cl->punch, now, buf, (size_t)r, &from, i);
			flush_tx(cl);
		}
	}
}

/* Drive the machine until it is done. */
static int punch_loop(struct client *cl, const struct punch_config *pc)
{
	bool tcp_open = cl->tcp >= 0;
	struct pollfd *pfd;
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
	pfd = calloc(2 + TP_MAX_CONN + 1 + cl->n_spray_fd, sizeof(*pfd));
	if (!pfd) {
		fail(cl, EXIT_FAILED, "out of memory");
		return -1;
	}
	while (punch_outcome(cl->punch, NULL) == PUNCH_RUNNING) {
		size_t ntp, base;
		mtime_ms now = mtime_now();
		int n;

		pfd[0] = (struct pollfd){ .fd = cl->udp, .events = POLLIN };
		pfd[1] = (struct pollfd){ .fd = tcp_open ? cl->tcp : -1, .events = POLLIN };
		ntp = cl->tp ? tp_pollfds(cl->tp, pfd + 2, TP_MAX_CONN + 1) : 0;
		base = 2 + ntp;
		for (unsigned i = 0; i < cl->n_spray_fd; i++)
			pfd[base + i] = (struct pollfd){ .fd = cl->spray_fd[i], .events = POLLIN };
		n = poll(pfd, (nfds_t)(base + cl->n_spray_fd), mtime_until(now, punch_deadline(cl->punch)));

		if (n < 0 && errno != EINTR) {
			fail(cl, EXIT_FAILED, "poll: %s", strerror(errno));
			free(pfd);
			return -1;
		}
		now = mtime_now();
		if (n > 0 && (pfd[0].revents & POLLIN)) {
			udp_drain(cl, now, on_udp_punching);
		}
		if (n > 0 && ntp)
			tp_service(cl->tp, pfd + 2, ntp, on_tcp_punching, cl);
		for (unsigned i = 0; n > 0 && i < cl->n_spray_fd; i++)
			if (pfd[base + i].revents & POLLIN)
				spray_drain(cl, i + 1, now);
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
	free(pfd);
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

/* --predict birthday, hard side: n more UDP sockets, each of which the NAT
 * maps to a port of its own when it sends to the partner. Raises the soft
 * descriptor limit when n needs it. Returns 0 or -errno. */
static int open_spray_sockets(struct client *cl, unsigned n)
{
	struct rlimit rl;
	struct addr a;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < n + 64 && rl.rlim_max >= n + 64) {
		rl.rlim_cur = n + 64;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	cl->spray_fd = calloc(n, sizeof(*cl->spray_fd));
	if (!cl->spray_fd)
		return -ENOMEM;
	if (cl->o.have_bind)
		a = cl->o.bind;
	else
		addr_any(&a, addr_family(&cl->local), 0);
	addr_set_port(&a, 0);
	for (; cl->n_spray_fd < n; cl->n_spray_fd++) {
		int fd = socket(addr_family(&a), SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

		if (fd < 0)
			return -errno;
		if (bind(fd, &a.u.sa, a.len) < 0) {
			int err = -errno;

			close(fd);
			return err;
		}
		cl->spray_fd[cl->n_spray_fd] = fd;
	}
	return 0;
}

/* --predict: from my two observations and the partner's step (PEER), what
 * to spray: the partner's next ports (sequential), random ports of its
 * address when its NAT maps per destination and mine does not (birthday,
 * easy side), or many sockets of my own when mine does (birthday, hard
 * side). Returns 0, or -1 when the run ended (cl set). */
static int predict_setup(struct client *cl, struct punch_config *pc)
{
	const struct opts *o = &cl->o;
	unsigned n = o->predict_ports ? o->predict_ports
			 : o->predict == PREDICT_SEQUENTIAL ? PREDICT_SEQ_PORTS : PREDICT_BDAY_PORTS;
	int err;

	if (cl->have_public && cl->registered2 && addr_family(&cl->public) == addr_family(&cl->public2)) {
		struct addr x = cl->public2;

		addr_set_port(&x, addr_port(&cl->public));
		if (addr_equal(&x, &cl->public)) {
			cl->have_my_step = true;
			cl->my_step = predict_step(addr_port(&cl->public), addr_port(&cl->public2));
		}
	}
	if (cl->peer.u.peer.flags & WIRE_PEER_PREDICT) {
		cl->have_peer_step = true;
		cl->peer_step = cl->peer.u.peer.peer_step;
	}
	if (!pc->n_cand)
		return 0;
	if (o->predict == PREDICT_SEQUENTIAL && cl->peer_step) {
		/* Its two observations were port and port + step: the mapping
		 * toward us comes next. */
		uint16_t last = (uint16_t)(addr_port(&pc->cand[0]) + cl->peer_step);

		pc->n_spray = predict_sequential(last, cl->peer_step, n, o->predict_lo, o->predict_hi, pc->spray_ports);
	} else if (o->predict == PREDICT_BIRTHDAY) {
		if (cl->peer_step && !cl->my_step) {
			struct predict_rng r;

			cl->seed = o->predict_seed;
			if (!o->have_seed && getrandom(&cl->seed, sizeof(cl->seed), 0) != sizeof(cl->seed))
				cl->seed = (uint64_t)mtime_now() ^ (uint64_t)getpid() << 32;
			predict_rng_seed(&r, cl->seed);
			pc->n_spray = predict_birthday(&r, n, o->predict_lo, o->predict_hi, pc->spray_ports);
		}
		if (cl->my_step) {
			if ((err = open_spray_sockets(cl, n)) < 0) {
				fail(cl, EXIT_FAILED, "cannot open %u prediction sockets (%u opened): %s", n,
				     cl->n_spray_fd, strerror(-err));
				return -1;
			}
			pc->spray_socks = n;
		}
	}
	pc->spray_budget = o->predict_budget ? o->predict_budget : 2 * (unsigned)(pc->n_spray + pc->spray_socks);
	pc->spray_rate = o->predict_rate;
	log_info("prediction %s: my step %d, partner's step %d: %zu target ports, %u sockets, budget %u at %u/s",
		 predict_method_name(o->predict), cl->my_step, cl->peer_step, pc->n_spray, pc->spray_socks,
		 pc->spray_budget, pc->spray_rate);
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

/* The "predict" object of the report: what was aimed at, what it cost, and
 * for birthday the chance the formula gives for the pair (the partner
 * assumed to use the same --predict-ports and range). */
static json_object *json_predict(const struct client *cl, const struct punch_stats *st)
{
	json_object *o = json_object_new_object();
	const struct punch_config *pc = cl->pc;
	unsigned n = pc ? (unsigned)(pc->n_spray + pc->spray_socks) : 0;

	/* The budget may stop a side before all its targets: it uses fewer. */
	if (pc && n > pc->spray_budget)
		n = pc->spray_budget;
	bool pair = cl->have_my_step && cl->have_peer_step && (!cl->my_step) != (!cl->peer_step);

	json_object_object_add(o, "method", json_object_new_string(predict_method_name(cl->o.predict)));
	json_object_object_add(o, "my_step", cl->have_my_step ? json_object_new_int(cl->my_step) : NULL);
	json_object_object_add(o, "peer_step", cl->have_peer_step ? json_object_new_int(cl->peer_step) : NULL);
	json_object_object_add(o, "targets", json_object_new_int64(pc ? (int64_t)pc->n_spray : 0));
	json_object_object_add(o, "sockets", json_object_new_int64(pc ? pc->spray_socks : 0));
	json_object_object_add(o, "budget", json_object_new_int64(pc ? pc->spray_budget : 0));
	json_object_object_add(o, "rate", json_object_new_int64(pc ? pc->spray_rate : 0));
	json_object_object_add(o, "sent", json_object_new_int64(st ? st->spray_sent : 0));
	json_object_object_add(o, "passes", json_object_new_int64(st ? st->spray_passes : 0));
	json_object_object_add(o, "seed", pc && pc->n_spray && cl->o.predict == PREDICT_BIRTHDAY
						  ? json_object_new_uint64(cl->seed) : NULL);
	json_object_object_add(o, "p_expected",
			       cl->o.predict == PREDICT_BIRTHDAY && pair && n
				       ? json_object_new_double(predict_birthday_p(
						 n, n, (unsigned)cl->o.predict_hi - cl->o.predict_lo + 1))
				       : NULL);
	return o;
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
	json_object_object_add(o, "transport", json_object_new_string(cl->o.tcp ? "tcp" : "udp"));
	json_object_object_add(o, "session", json_object_new_string(cl->o.session));
	json_object_object_add(o, "session_id",
			       cl->introduced ? json_object_new_int64(cl->peer.u.peer.session_id) : NULL);
	json_object_object_add(o, "role", cl->introduced ? json_object_new_int(cl->peer.u.peer.role) : NULL);
	json_object_object_add(o, "local", cl->o.tcp ? json_addr(&cl->tcp_local, addr_port(&cl->tcp_local))
						       : json_addr(&cl->local, cl->udp >= 0));
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
	json_object_object_add(o, "messages", json_object_new_int64(cl->o.pc.messages));
	json_object_object_add(o, "messages_sent", json_object_new_int64(st ? st->messages_sent : 0));
	json_object_object_add(o, "messages_received", json_object_new_int64(st ? st->messages_received : 0));
	json_object_object_add(o, "data_sent", json_object_new_int64(st ? st->data_sent : 0));
	json_object_object_add(o, "relayed_out", json_object_new_int64(st ? st->relayed_out : 0));
	json_object_object_add(o, "relayed_in", json_object_new_int64(st ? st->relayed_in : 0));
	if (cl->tp) {
		/* How the far network answered our SYNs: RST, ICMP or nothing. */
		const struct tp_stats *ts = tp_stats(cl->tp);
		json_object *t = json_object_new_object();

		json_object_object_add(t, "connects", json_object_new_int64(ts->connects));
		json_object_object_add(t, "established", json_object_new_int64(ts->established));
		json_object_object_add(t, "accepted", json_object_new_int64(ts->accepted));
		json_object_object_add(t, "refused", json_object_new_int64(ts->refused));
		json_object_object_add(t, "unreachable", json_object_new_int64(ts->unreachable));
		json_object_object_add(t, "other_errors", json_object_new_int64(ts->other_errors));
		json_object_object_add(o, "tcp", t);
	}
	if (cl->o.predict)
		json_object_object_add(o, "predict", json_predict(cl, st));
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

/* --tcp: the address everything TCP is bound to: the same port number as
 * UDP when --local-port is given, else one the kernel picks when the control
 * connection binds (or, without a server, the --local-port). */
static void tcp_local_init(struct client *cl)
{
	if (cl->o.have_bind)
		cl->tcp_local = cl->o.bind;
	else
		addr_any(&cl->tcp_local, addr_family(&cl->local), 0);
	addr_set_port(&cl->tcp_local, cl->o.local_port);
}

/* --tcp: the listener and the connection attempts' home, on tcp_local.
 * Returns 0, or -1 when the run ended (cl set). */
static int tcp_start(struct client *cl)
{
	char s[ADDR_STRLEN];
	int err = tp_create(&cl->tcp_local, &cl->tp);

	if (err < 0) {
		fail(cl, cl->o.have_server ? EXIT_SERVER : EXIT_USAGE, "cannot listen on TCP %s: %s",
		     addr_fmt(&cl->tcp_local, s, sizeof(s)), strerror(-err));
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static struct client cl;
	struct punch_config pc;
	struct cli_common cc = { .lvl = LOG_LVL_INFO, .ready_fd = -1 };
	int r, err;

	log_init("punch-client", LOG_LVL_INFO);
	r = parse_opts(argc, argv, &cl.o, &cc);
	if (r == CLI_HELP) {
		usage(stdout);
		return 0;
	}
	if (r < 0) {
		fprintf(stderr, "try: punch-client --help\n");
		return EXIT_USAGE;
	}
	log_init("punch-client", cc.lvl);
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
	if (cl.o.tcp)
		tcp_local_init(&cl);

	pc = cl.o.pc;
	pc.deadline = cl.deadline;

	if (cl.o.have_server) {
		if (rendezvous(&cl) < 0)
			goto out;
		if (cl.o.tcp && !(cl.peer.u.peer.flags & WIRE_PEER_TCP)) {
			fail(&cl, EXIT_FAILED, "the partner does not punch TCP (both sides need --tcp)");
			goto out;
		}
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
	if (cl.o.predict && predict_setup(&cl, &pc) < 0)
		goto out;
	cl.pc = &pc;
	if (cl.o.tcp && tcp_start(&cl) < 0)
		goto out;
	punch_loop(&cl, &pc);
out:
	print_result(&cl);
	if (cl.outcome == PUNCH_FAILED)
		log_info("failed: %s", cl.reason);
	else
		log_info("%s", punch_outcome_name(cl.outcome));
	punch_destroy(cl.punch);
	tp_destroy(cl.tp);
	for (unsigned i = 0; i < cl.n_spray_fd; i++)
		close(cl.spray_fd[i]);
	free(cl.spray_fd);
	if (cl.tcp >= 0)
		close(cl.tcp);
	if (cl.udp >= 0)
		close(cl.udp);
	return cl.exit_code;
}
