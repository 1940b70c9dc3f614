/* punch-probe: NAT behaviour classification, RFC 5780 style.
 *
 *   punch-probe server   answers probes on two addresses x two ports
 *   punch-probe classify runs the tests from behind a NAT, prints one JSON
 *                        object and, given a declared behaviour, compares
 *
 * Both are thin shells: the message codec is probemsg.c, the decision from
 * observations is classify.c. One thread each, sleeping in poll/epoll until
 * the next packet or deadline. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/addr.h"
#include "common/log.h"
#include "common/num.h"
#include "common/svc.h"
#include "common/mtime.h"
#include "nat/behavior.h"
#include "probe/classify.h"
#include "probe/knock.h"
#include "probe/probemsg.h"

#define PROG "punch-probe"
#define PROG_VERSION "0.1"
#define DEFAULT_PORT 3479
#define DEFAULT_PORT2 3480
#define DEFAULT_TIMEOUT_MS 2000
#define DEFAULT_TRIES 5
#define RECV_BURST 64 /* datagrams read per wakeup and socket */
#define RECV_BUF 2048 /* anything larger than a probe message is dropped anyway */

/* Exit statuses */
#define EXIT_MISMATCH 3

static void usage(FILE *f)
{
	fprintf(f,
		"usage: " PROG " server --listen A1 --listen2 A2 [--port P1] [--port2 P2] [--ready-fd N]\n"
		"       " PROG " classify --server A1 --server2 A2 [--port P1] [--port2 P2] --bind IP\n"
		"                   [--local-port N] [--hairpin-bind IP] [--timeout-ms N] [--tries N]\n"
		"                   [--expect-mapping none|eim|adm|apdm] [--expect-filtering open|eif|adf|apdf]\n"
		"                   [--expect-ports preserve|random|sequential|block] [--expect-hairpin yes|no]\n"
		"                   [--expect-udp-blocked] [--expect-port-step N] [--expect-port-range LO-HI]\n"
		"                   [--expect-inbound-reply session|new-mapping] [--expect-block-size N]\n"
		"       " PROG " knock --to IP:PORT [--bind IP] [--timeout-ms N] [--tries N]\n"
		"                   [--expect-unsolicited drop|icmp-unreachable]\n"
		"Classifies the NAT between a host and a probe server (RFC 5780 / RFC 4787).\n"
		"\n"
		"  server:\n"
		"    --listen A1, --listen2 A2  the server's two IP addresses (same family)\n"
		"    --port P1, --port2 P2      its two UDP ports (default %d, %d)\n"
		"    --ready-fd N               write \"ready\\n\" to descriptor N once listening\n"
		"  classify:\n"
		"    --server A1, --server2 A2  the probe server's addresses; --port/--port2 its ports\n"
		"    --bind IP                  local address to test from (the host's LAN address)\n"
		"    --local-port N             local port of the mapping test (default: any)\n"
		"    --hairpin-bind IP          local address of the hairpin sender (default: --bind)\n"
		"    --timeout-ms N             how long to wait for an answer that may never\n"
		"                               come (default %d)\n"
		"    --tries N                  requests sent per question within it (default %d)\n"
		"    --expect-*                 the declared behaviour: compare, exit %d on mismatch\n"
		"  -v, --verbose  -q, --quiet  -h, --help  -V, --version\n",
		DEFAULT_PORT, DEFAULT_PORT2, DEFAULT_TIMEOUT_MS, DEFAULT_TRIES, EXIT_MISMATCH);
}

static int parse_ip(const char *s, struct addr *out)
{
	return addr_parse(s, 0, out) < 0 || addr_port(out) != 0 ? -EINVAL : 0;
}

/* Open a UDP socket bound to a. Returns the fd or -errno. */
static int udp_socket(const struct addr *a)
{
	int fd = socket(addr_family(a), SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), r;

	if (fd < 0)
		return -errno;
	if (bind(fd, &a->u.sa, a->len) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

static int local_addr(int fd, struct addr *out)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return -errno;
	return addr_from_sa(out, (struct sockaddr *)&ss, len);
}

/* --- server ---------------------------------------------------------------- */

struct probe_server {
	int fd[4]; /* address index * 2 + port index */
	struct addr a[4];
	int ep, sigfd;
	bool stop;
	unsigned long long answered, dropped, send_errors;
};

static void server_read(struct probe_server *s, int i)
{
	uint8_t buf[RECV_BUF], out[PROBEMSG_MAX];

	for (int k = 0; k < RECV_BURST; k++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		struct probemsg req, ans;
		struct addr from;
		char fb[ADDR_STRLEN];
		ssize_t n = recvfrom(s->fd[i], buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&ss, &len);
		int j, m;

		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNREFUSED)
				log_warn("recvfrom");
			return;
		}
		if (addr_from_sa(&from, (struct sockaddr *)&ss, len) < 0 ||
		    probemsg_parse(buf, (size_t)n, &req) < 0 || req.type != PROBEMSG_REQUEST) {
			s->dropped++;
			continue;
		}
		j = probemsg_answer_socket(i, req.flags);
		memset(&ans, 0, sizeof(ans));
		ans.type = PROBEMSG_ANSWER;
		ans.txid = req.txid;
		ans.flags = req.flags;
		addr_to_wire(&from, &ans.observed);
		addr_to_wire(&s->a[j], &ans.responder);
		m = probemsg_build(out, sizeof(out), &ans);
		/* Never more bytes to an unproven sender than it sent us. */
		if (m < 0 || m > n) {
			s->dropped++;
			continue;
		}
		log_debug("request from %s on socket %d, flags 0x%02x: answering from socket %d",
			  addr_fmt(&from, fb, sizeof(fb)), i, req.flags, j);
		if (sendto(s->fd[j], out, (size_t)m, MSG_DONTWAIT, &from.u.sa, from.len) < 0) {
			s->send_errors++;
			log_debug("sendto %s: %s", fb, strerror(errno));
			continue;
		}
		s->answered++;
	}
}

static int server_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "listen2", required_argument, NULL, 'L' },
		{ "port", required_argument, NULL, 'p' },
		{ "port2", required_argument, NULL, 'P' },
		{ "ready-fd", required_argument, NULL, 'R' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct probe_server s = { .ep = -1, .sigfd = -1, .fd = { -1, -1, -1, -1 } };
	struct addr ip[2];
	bool have[2] = { false, false };
	unsigned long v;
	uint16_t port[2] = { DEFAULT_PORT, DEFAULT_PORT2 };
	int ready_fd = -1, opt, r, rc = 1;
	enum log_level lvl = LOG_LVL_INFO;
	char buf[ADDR_STRLEN];

	while ((opt = getopt_long(argc, argv, "vqh", opts, NULL)) != -1) {
		switch (opt) {
		case 'l':
		case 'L':
			if (parse_ip(optarg, &ip[opt == 'L']) < 0) {
				log_errx("--%s %s: not an IP address", opt == 'L' ? "listen2" : "listen", optarg);
				return 2;
			}
			have[opt == 'L'] = true;
			break;
		case 'p':
		case 'P':
			if (num_parse_uint(optarg, 65535, &v) < 0 || v == 0) {
				log_errx("--%s %s: not a port number", opt == 'P' ? "port2" : "port", optarg);
				return 2;
			}
			port[opt == 'P'] = (uint16_t)v;
			break;
		case 'R':
			if (svc_ready_fd_parse(optarg, &ready_fd) < 0) {
				log_errx("--ready-fd %s: not an open descriptor above 2", optarg);
				return 2;
			}
			break;
		case 'v':
			lvl = LOG_LVL_DEBUG;
			break;
		case 'q':
			lvl = LOG_LVL_WARN;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			fprintf(stderr, "try '" PROG " --help'\n");
			return 2;
		}
	}
	log_init(PROG, lvl);
	if (optind < argc) {
		log_errx("unexpected argument: %s", argv[optind]);
		return 2;
	}
	if (!have[0] || !have[1] || addr_family(&ip[0]) != addr_family(&ip[1]) || addr_equal_ip(&ip[0], &ip[1]) ||
	    port[0] == port[1]) {
		log_errx("server: needs --listen and --listen2, two different addresses of one family, "
			 "and two different ports");
		return 2;
	}
	s.sigfd = svc_signalfd();
	if (s.sigfd < 0) {
		errno = -s.sigfd;
		log_err("signalfd");
		goto cleanup;
	}
	s.ep = epoll_create1(EPOLL_CLOEXEC);
	if (s.ep < 0) {
		log_err("epoll_create1");
		goto cleanup;
	}
	for (int i = 0; i < 4; i++) {
		struct epoll_event e = { .events = EPOLLIN, .data.u32 = (uint32_t)i };

		s.a[i] = ip[i >> 1];
		addr_set_port(&s.a[i], port[i & 1]);
		s.fd[i] = r = udp_socket(&s.a[i]);
		if (r < 0) {
			errno = -r;
			log_err("cannot bind %s", addr_fmt(&s.a[i], buf, sizeof(buf)));
			goto cleanup;
		}
		if (epoll_ctl(s.ep, EPOLL_CTL_ADD, s.fd[i], &e) < 0) {
			log_err("epoll_ctl");
			goto cleanup;
		}
		fprintf(stderr, PROG ": listening on %s udp\n", addr_fmt(&s.a[i], buf, sizeof(buf)));
	}
	{
		struct epoll_event e = { .events = EPOLLIN, .data.u32 = 4 };

		if (epoll_ctl(s.ep, EPOLL_CTL_ADD, s.sigfd, &e) < 0) {
			log_err("epoll_ctl");
			goto cleanup;
		}
	}
	svc_ready(ready_fd);
	while (!s.stop) {
		struct epoll_event evs[8];
		int n = epoll_wait(s.ep, evs, 8, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_err("epoll_wait");
			goto cleanup;
		}
		for (int k = 0; k < n; k++) {
			if (evs[k].data.u32 < 4) {
				server_read(&s, (int)evs[k].data.u32);
			} else {
				struct signalfd_siginfo si;

				if (read(s.sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
					log_info("signal %u: shutting down", si.ssi_signo);
					s.stop = true;
				}
			}
		}
	}
	rc = 0;
	log_info("totals: %llu answered, %llu dropped, %llu send errors", s.answered, s.dropped, s.send_errors);
cleanup:
	for (int i = 0; i < 4; i++)
		if (s.fd[i] >= 0)
			close(s.fd[i]);
	if (s.ep >= 0)
		close(s.ep);
	if (s.sigfd >= 0)
		close(s.sigfd);
	return rc;
}

/* --- classify -------------------------------------------------------------- */

/* The client's local sockets. */
enum { SK_MAP, SK_FILT, SK_HAIR, SK_SAMPLE, SK_N };

struct probe_client {
	int fd[SK_N];
	struct addr local[SK_N];
	struct addr srv[4]; /* address index * 2 + port index */
	int timeout_ms;
	int tries;
	unsigned long requests, answers, strays;
};

/* One question: a message sent from one socket, retransmitted, until the
 * answer arrives on another (or the same) socket, or the deadline passes. */
struct question {
	int send_sk, recv_sk;
	struct addr to;
	struct addr want_from; /* where the answer must come from; family 0 = anywhere */
	uint8_t type;          /* the type of the answer */
	uint64_t txid;
	uint8_t msg[PROBEMSG_MAX];
	int len;
	int sent;
	bool done;
	struct probemsg ans;
	struct addr from;
};

static int rand_txid(uint64_t *out)
{
	while (getrandom(out, sizeof(*out), 0) != (ssize_t)sizeof(*out))
		if (errno != EINTR)
			return -errno;
	return 0;
}

/* Prepare a REQUEST from socket sk to server socket g with flags. */
static int q_request(struct probe_client *cl, struct question *q, int sk, int g, uint8_t flags)
{
	struct probemsg m = { .type = PROBEMSG_REQUEST, .flags = flags };
	int r;

	memset(q, 0, sizeof(*q));
	if ((r = rand_txid(&m.txid)) < 0)
		return r;
	q->send_sk = q->recv_sk = sk;
	q->to = cl->srv[g];
	q->want_from = cl->srv[probemsg_answer_socket(g, flags)];
	q->type = PROBEMSG_ANSWER;
	q->txid = m.txid;
	q->len = probemsg_build(q->msg, sizeof(q->msg), &m);
	return q->len < 0 ? -EINVAL : 0;
}

/* Prepare a HAIRPIN from socket from_sk to endpoint `to`, expected on to_sk. */
static int q_hairpin(struct question *q, int from_sk, int to_sk, const struct addr *to)
{
	struct probemsg m = { .type = PROBEMSG_HAIRPIN };
	int r;

	memset(q, 0, sizeof(*q));
	if ((r = rand_txid(&m.txid)) < 0)
		return r;
	q->send_sk = from_sk;
	q->recv_sk = to_sk;
	q->to = *to;
	q->type = PROBEMSG_HAIRPIN;
	q->txid = m.txid;
	q->len = probemsg_build(q->msg, sizeof(q->msg), &m);
	return q->len < 0 ? -EINVAL : 0;
}

static void client_recv(struct probe_client *cl, int sk, struct question *qs, int nq)
{
	uint8_t buf[RECV_BUF];

	for (int k = 0; k < RECV_BURST; k++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		struct probemsg m;
		struct addr from;
		ssize_t n = recvfrom(cl->fd[sk], buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&ss, &len);
		bool matched = false;

		if (n < 0)
			return;
		if (addr_from_sa(&from, (struct sockaddr *)&ss, len) < 0 || probemsg_parse(buf, (size_t)n, &m) < 0) {
			cl->strays++;
			continue;
		}
		for (int i = 0; i < nq && !matched; i++) {
			struct question *q = &qs[i];

			/* The txid is 64 random bits: an off-path sender cannot
			 * answer for the server; the source must still be right. */
			if (q->done || q->recv_sk != sk || q->txid != m.txid || q->type != m.type)
				continue;
			if (addr_family(&q->want_from) && !addr_equal(&q->want_from, &from))
				continue;
			q->done = true;
			q->ans = m;
			q->from = from;
			cl->answers++;
			matched = true;
		}
		if (!matched)
			cl->strays++; /* late duplicates of answered questions, mostly */
	}
}

/* Ask questions qs[0..nq) at once: each is sent `tries` times spread over
 * the timeout, and counts as unanswered only once the timeout has passed.
 * Returns 0 or -errno (a local failure, not an unanswered question). */
static int ask(struct probe_client *cl, struct question *qs, int nq)
{
	mtime_ms start = mtime_now(), deadline = start + cl->timeout_ms;
	int interval = cl->timeout_ms / (cl->tries + 1);

	if (interval < 1)
		interval = 1;
	for (;;) {
		mtime_ms now = mtime_now(), wake = deadline;
		struct pollfd pfd[SK_N];
		bool pending = false;
		int r;

		for (int i = 0; i < nq; i++) {
			struct question *q = &qs[i];

			if (q->done)
				continue;
			pending = true;
			while (q->sent < cl->tries && now >= start + (mtime_ms)q->sent * interval) {
				char b[ADDR_STRLEN];

				if (sendto(cl->fd[q->send_sk], q->msg, (size_t)q->len, 0, &q->to.u.sa, q->to.len) < 0)
					log_debug("sendto %s: %s", addr_fmt(&q->to, b, sizeof(b)), strerror(errno));
				q->sent++;
				cl->requests++;
			}
			if (q->sent < cl->tries && start + (mtime_ms)q->sent * interval < wake)
				wake = start + (mtime_ms)q->sent * interval;
		}
		if (!pending || now >= deadline)
			return 0;
		for (int i = 0; i < SK_N; i++) {
			pfd[i].fd = cl->fd[i];
			pfd[i].events = POLLIN;
			pfd[i].revents = 0;
		}
		r = poll(pfd, SK_N, mtime_until(now, wake));
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (int i = 0; i < SK_N; i++)
			if (pfd[i].revents & (POLLIN | POLLERR))
				client_recv(cl, i, qs, nq);
	}
}

static void take_mapped(struct classify_mapped *m, const struct question *q, const struct addr *local)
{
	m->local = *local;
	m->answered = q->done;
	if (q->done && addr_from_wire(&m->mapped, &q->ans.observed) < 0)
		m->answered = false;
}

static enum classify_tri tri(bool b)
{
	return b ? CLASSIFY_YES : CLASSIFY_NO;
}

/* Run the tests; fills obs. Returns 0 or -errno. */
static int classify_run(struct probe_client *cl, struct classify_obs *obs)
{
	struct question q[5];
	const int sample_sk[CLASSIFY_SAMPLES] = { SK_FILT, SK_HAIR, SK_SAMPLE };
	int r, nq = 0;

	memset(obs, 0, sizeof(*obs));
	for (int i = 0; i < CLASSIFY_NDEST; i++)
		obs->mapping[i].local = cl->local[SK_MAP];

	/* T1 first and alone: it makes the mapping the others are compared with,
	 * and its port tells whether ports are preserved. */
	if ((r = q_request(cl, &q[0], SK_MAP, 0, 0)) < 0 || (r = ask(cl, q, 1)) < 0)
		return r;
	take_mapped(&obs->mapping[CLASSIFY_A1P1], &q[0], &cl->local[SK_MAP]);
	if (!obs->mapping[CLASSIFY_A1P1].answered)
		return 0; /* UDP blocked, or no server: nothing else can be learned */

	/* Fresh sockets one after the other, so that their mappings are made in
	 * a known order (sequential port allocation). The first is also the
	 * filtering socket's own first contact, the second the hairpin sender's. */
	obs->n_samples = CLASSIFY_SAMPLES;
	for (int i = 0; i < CLASSIFY_SAMPLES; i++) {
		if ((r = q_request(cl, &q[0], sample_sk[i], 0, 0)) < 0 || (r = ask(cl, q, 1)) < 0)
			return r;
		take_mapped(&obs->samples[i], &q[0], &cl->local[sample_sk[i]]);
	}
	obs->filter_same = tri(obs->samples[0].answered);

	/* The rest at once: the mapping towards the other address (T2) and its
	 * other port (T3), the answers from elsewhere to the filtering socket,
	 * and the hairpin. All that can wait only for a deadline runs in parallel. */
	if ((r = q_request(cl, &q[nq++], SK_MAP, 2, 0)) < 0 || (r = q_request(cl, &q[nq++], SK_MAP, 3, 0)) < 0)
		return r;
	if (obs->samples[0].answered) {
		if ((r = q_request(cl, &q[nq++], SK_FILT, 0, PROBEMSG_CHANGE_PORT)) < 0 ||
		    (r = q_request(cl, &q[nq++], SK_FILT, 0, PROBEMSG_CHANGE_IP | PROBEMSG_CHANGE_PORT)) < 0)
			return r;
	}
	if ((r = q_hairpin(&q[nq++], SK_HAIR, SK_MAP, &obs->mapping[CLASSIFY_A1P1].mapped)) < 0)
		return r;
	if ((r = ask(cl, q, nq)) < 0)
		return r;
	take_mapped(&obs->mapping[CLASSIFY_A2P1], &q[0], &cl->local[SK_MAP]);
	take_mapped(&obs->mapping[CLASSIFY_A2P2], &q[1], &cl->local[SK_MAP]);
	if (obs->samples[0].answered) {
		obs->filter_change_port = tri(q[2].done);
		obs->filter_change_ip_port = tri(q[3].done);
	}
	obs->hairpin = tri(q[nq - 1].done);
	obs->hairpin_from_mapped = q[nq - 1].done && obs->samples[1].answered &&
				   addr_equal(&q[nq - 1].from, &obs->samples[1].mapped);
	/* inbound-reply: answer the server socket whose packet got in (classify.h) */
	if (obs->filter_change_ip_port == CLASSIFY_YES || obs->filter_change_port == CLASSIFY_YES) {
		obs->reply_other_address = obs->filter_change_ip_port == CLASSIFY_YES;
		if ((r = q_request(cl, &q[0], SK_FILT, obs->reply_other_address ? 3 : 1, 0)) < 0 ||
		    (r = ask(cl, q, 1)) < 0)
			return r;
		take_mapped(&obs->reply, &q[0], &cl->local[SK_FILT]);
	}
	return 0;
}

static int classify_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "server", required_argument, NULL, 's' },
		{ "server2", required_argument, NULL, 'S' },
		{ "port", required_argument, NULL, 'p' },
		{ "port2", required_argument, NULL, 'P' },
		{ "bind", required_argument, NULL, 'b' },
		{ "local-port", required_argument, NULL, 'l' },
		{ "hairpin-bind", required_argument, NULL, 'H' },
		{ "timeout-ms", required_argument, NULL, 't' },
		{ "tries", required_argument, NULL, 'n' },
		{ "expect-mapping", required_argument, NULL, 'm' },
		{ "expect-filtering", required_argument, NULL, 'f' },
		{ "expect-ports", required_argument, NULL, 'o' },
		{ "expect-hairpin", required_argument, NULL, 'a' },
		{ "expect-udp-blocked", no_argument, NULL, 'U' },
		{ "expect-port-step", required_argument, NULL, 'Z' },
		{ "expect-port-range", required_argument, NULL, 'Y' },
		{ "expect-inbound-reply", required_argument, NULL, 'X' },
		{ "expect-block-size", required_argument, NULL, 'W' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static struct probe_client cl;
	struct nat_behavior want = { .mapping = MAP_EIM, .filtering = FILTER_APDF, .ports = PORTS_PRESERVE };
	struct classify_obs obs;
	struct classify_result res;
	struct classify_diff diffs[CLASSIFY_MAX_DIFFS];
	struct addr ip[2], bind_ip, hair_ip;
	bool have[2] = { false, false }, have_bind = false, have_hair = false, expect = false;
	uint16_t port[2] = { DEFAULT_PORT, DEFAULT_PORT2 }, local_port = 0;
	enum log_level lvl = LOG_LVL_INFO;
	json_object *out = NULL;
	unsigned long v;
	mtime_ms t0;
	int opt, r, rc = 1, ndiff = 0, x;
	char buf[ADDR_STRLEN];

	cl.timeout_ms = DEFAULT_TIMEOUT_MS;
	cl.tries = DEFAULT_TRIES;
	for (int i = 0; i < SK_N; i++)
		cl.fd[i] = -1;
	while ((opt = getopt_long(argc, argv, "vqh", opts, NULL)) != -1) {
		switch (opt) {
		case 's':
		case 'S':
		case 'b':
		case 'H': {
			struct addr *a = opt == 's' ? &ip[0] : opt == 'S' ? &ip[1] : opt == 'b' ? &bind_ip : &hair_ip;

			if (parse_ip(optarg, a) < 0) {
				log_errx("%s: not an IP address", optarg);
				return 2;
			}
			if (opt == 's' || opt == 'S')
				have[opt == 'S'] = true;
			else if (opt == 'b')
				have_bind = true;
			else
				have_hair = true;
			break;
		}
		case 'p':
		case 'P':
		case 'l':
			if (num_parse_uint(optarg, 65535, &v) < 0 || (v == 0 && opt != 'l')) {
				log_errx("%s: not a port number", optarg);
				return 2;
			}
			if (opt == 'l')
				local_port = (uint16_t)v;
			else
				port[opt == 'P'] = (uint16_t)v;
			break;
		case 't':
			if (num_parse_uint(optarg, 600000, &v) < 0 || v < 10) {
				log_errx("--timeout-ms %s: not a number from 10 to 600000", optarg);
				return 2;
			}
			cl.timeout_ms = (int)v;
			break;
		case 'n':
			if (num_parse_uint(optarg, 100, &v) < 0 || v == 0) {
				log_errx("--tries %s: not a number from 1 to 100", optarg);
				return 2;
			}
			cl.tries = (int)v;
			break;
		case 'm':
		case 'f':
		case 'o':
			x = opt == 'm' ? nat_mapping_parse(optarg) : opt == 'f' ? nat_filtering_parse(optarg)
								 : nat_ports_parse(optarg);
			if (x < 0) {
				log_errx("--expect-%s %s: unknown value",
					 opt == 'm' ? "mapping" : opt == 'f' ? "filtering" : "ports", optarg);
				return 2;
			}
			if (opt == 'm')
				want.mapping = (enum nat_mapping)x;
			else if (opt == 'f')
				want.filtering = (enum nat_filtering)x;
			else
				want.ports = (enum nat_ports)x;
			expect = true;
			break;
		case 'a':
			if (strcmp(optarg, "yes") && strcmp(optarg, "no")) {
				log_errx("--expect-hairpin %s: yes or no", optarg);
				return 2;
			}
			want.hairpin = strcmp(optarg, "yes") == 0;
			expect = true;
			break;
		case 'U':
			want.udp_blocked = true;
			expect = true;
			break;
		case 'W':
		case 'X':
		case 'Y':
		case 'Z': {
			const char *what = opt == 'W'	? "block-size"
					   : opt == 'X' ? "inbound-reply"
					   : opt == 'Y' ? "port-range"
							: "port-step";

			if (classify_parse_expect(what, optarg, &want) < 0) {
				log_errx("--expect-%s %s: not %s", what, optarg,
					 opt == 'X' ? "session or new-mapping" : opt == 'Y' ? "LO-HI" : "a number in range");
				return 2;
			}
			expect = true;
			break;
		}
		case 'v':
			lvl = LOG_LVL_DEBUG;
			break;
		case 'q':
			lvl = LOG_LVL_WARN;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			fprintf(stderr, "try '" PROG " --help'\n");
			return 2;
		}
	}
	log_init(PROG, lvl);
	if (optind < argc) {
		log_errx("unexpected argument: %s", argv[optind]);
		return 2;
	}
	if (!have[0] || !have[1] || !have_bind) {
		log_errx("classify: needs --server, --server2 and --bind");
		return 2;
	}
	if (addr_family(&ip[0]) != addr_family(&ip[1]) || addr_family(&ip[0]) != addr_family(&bind_ip) ||
	    (have_hair && addr_family(&hair_ip) != addr_family(&bind_ip)) || addr_equal_ip(&ip[0], &ip[1]) ||
	    port[0] == port[1]) {
		log_errx("classify: the server needs two different addresses and two different ports, "
			 "all of the family of --bind");
		return 2;
	}
	for (int i = 0; i < 4; i++) {
		cl.srv[i] = ip[i >> 1];
		addr_set_port(&cl.srv[i], port[i & 1]);
	}
	for (int i = 0; i < SK_N; i++) {
		struct addr a = i == SK_HAIR && have_hair ? hair_ip : bind_ip;

		addr_set_port(&a, i == SK_MAP ? local_port : 0);
		cl.fd[i] = r = udp_socket(&a);
		if (r < 0 || (r = local_addr(cl.fd[i], &cl.local[i])) < 0) {
			errno = -r;
			log_err("cannot bind %s", addr_fmt(&a, buf, sizeof(buf)));
			goto cleanup;
		}
	}
	t0 = mtime_now();
	if ((r = classify_run(&cl, &obs)) < 0) {
		errno = -r;
		log_err("classify");
		goto cleanup;
	}
	classify_decide(&obs, &res);
	out = classify_to_json(&obs, &res);
	if (!out)
		goto nomem;
	if (json_object_object_add(out, "server", json_object_new_string(addr_fmt(&cl.srv[0], buf, sizeof(buf)))) < 0 ||
	    json_object_object_add(out, "server2", json_object_new_string(addr_fmt(&cl.srv[3], buf, sizeof(buf)))) < 0 ||
	    json_object_object_add(out, "elapsed_ms", json_object_new_int64(mtime_now() - t0)) < 0 ||
	    json_object_object_add(out, "requests_sent", json_object_new_int64((int64_t)cl.requests)) < 0 ||
	    json_object_object_add(out, "answers", json_object_new_int64((int64_t)cl.answers)) < 0)
		goto nomem;
	if (expect) {
		bool nat = want.mapping != MAP_NONE;

		ndiff = classify_compare(&want, nat, &res, diffs);
		if (classify_json_add_compare(out, &want, nat, diffs, ndiff) < 0)
			goto nomem;
		for (int i = 0; i < ndiff; i++)
			log_warnx("mismatch: %s declared %s, observed %s", diffs[i].property, diffs[i].declared,
				  diffs[i].observed);
	}
	printf("%s\n", json_object_to_json_string_ext(out, JSON_C_TO_STRING_PLAIN));
	if (fflush(stdout) != 0) {
		log_err("stdout");
		goto cleanup;
	}
	rc = ndiff ? EXIT_MISMATCH : 0;
	goto cleanup;
nomem:
	log_errx("out of memory");
cleanup:
	json_object_put(out);
	for (int i = 0; i < SK_N; i++)
		if (cl.fd[i] >= 0)
			close(cl.fd[i]);
	return rc;
}

int main(int argc, char **argv)
{
	log_init(PROG, LOG_LVL_INFO);
	if (argc >= 2 && strcmp(argv[1], "server") == 0)
		return server_main(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "classify") == 0)
		return classify_main(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "knock") == 0)
		return knock_main(argc - 1, argv + 1);
	if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		usage(stdout);
		return 0;
	}
	if (argc >= 2 && (strcmp(argv[1], "-V") == 0 || strcmp(argv[1], "--version") == 0)) {
		printf(PROG " " PROG_VERSION "\n");
		return 0;
	}
	usage(stderr);
	return 2;
}
