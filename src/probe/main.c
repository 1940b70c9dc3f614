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
#include <linux/errqueue.h>
#include <netinet/in.h>
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
#include "common/cli.h"
#include "common/log.h"
#include "common/num.h"
#include "common/svc.h"
#include "common/mtime.h"
#include "nat/behavior.h"
#include "probe/classify.h"
#include "probe/knock.h"
#include "probe/probemsg.h"
#include "probe/tcpprobe.h"

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
		"usage: " PROG " server --listen A1 --listen2 A2 [--port P1] [--port2 P2] [--tcp] [--ready-fd N]\n"
		"       " PROG " classify --server A1 --server2 A2 [--port P1] [--port2 P2] --bind IP\n"
		"                   [--local-port N] [--hairpin-bind IP] [--timeout-ms N] [--tries N]\n"
		"                   [--expect-mapping none|eim|adm|apdm] [--expect-filtering open|eif|adf|apdf]\n"
		"                   [--expect-ports preserve|random|sequential|block] [--expect-hairpin yes|no]\n"
		"                   [--expect-udp-blocked] [--expect-port-step N] [--expect-port-range LO-HI]\n"
		"                   [--expect-inbound-reply session|new-mapping] [--expect-block-size N]\n"
		"       " PROG " knock --to IP:PORT [--bind IP] [--timeout-ms N] [--tries N]\n"
		"                   [--expect-unsolicited drop|icmp-unreachable]\n"
		"       " PROG " tcp-classify --server A1 --server2 A2 [--port P1] [--port2 P2] --bind IP\n"
		"                   --local-port N [--timeout-ms N] [--expect-mapping M --expect-filtering F]\n"
		"Classifies the NAT between a host and a probe server (RFC 5780 / RFC 4787).\n"
		"\n"
		"  server:\n"
		"    --listen A1, --listen2 A2  the server's two IP addresses (same family)\n"
		"    --port P1, --port2 P2      its two UDP ports (default %d, %d)\n"
		"    --tcp                      also TCP on the four endpoints, for tcp-classify\n"
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

/* --- server ---------------------------------------------------------------- */

struct probe_server {
	int fd[4]; /* address index * 2 + port index */
	int tfd[4]; /* --tcp: the listening sockets, the same way (epoll data 5 + i) */
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

/* A UDP port option: 1 to 65535, or 0 too with allow_zero. Returns 0 or
 * -EINVAL after saying what is wrong. */
static int port_opt(const char *name, const char *arg, bool allow_zero, uint16_t *port)
{
	unsigned long v;

	if (num_parse_uint(arg, 65535, &v) < 0 || (v == 0 && !allow_zero)) {
		log_errx("--%s %s: not a port number", name, arg);
		return -EINVAL;
	}
	*port = (uint16_t)v;
	return 0;
}

/* The end of an options loop: hand what is not the program's own to
 * cli_opt(). Returns as cli_opt() does, with -ENOENT turned into -EINVAL. */
static int common_opt(int opt, const char *arg, struct cli_common *cc)
{
	int r = cli_opt(opt, arg, cc);

	if (r == -EINVAL || r == -ENOENT)
		fprintf(stderr, "try '" PROG " --help'\n");
	return r == -ENOENT ? -EINVAL : r;
}

/* The probe server's two addresses and two ports, as RFC 5780 needs them:
 * the addresses different and of one family, the ports different. */
static bool two_endpoints(const struct addr ip[2], const uint16_t port[2])
{
	return addr_family(&ip[0]) == addr_family(&ip[1]) && !addr_equal_ip(&ip[0], &ip[1]) && port[0] != port[1];
}

struct server_opts {
	struct addr ip[2];
	bool have[2];
	uint16_t port[2];
	bool tcp;               /* --tcp: serve tcp-classify too (tcpprobe.h) */
	struct cli_common cc;
};

/* Returns 0, CLI_HELP, or -EINVAL after saying what is wrong. */
static int server_parse(int argc, char **argv, struct server_opts *o)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "listen2", required_argument, NULL, 'L' },
		{ "port", required_argument, NULL, 'p' },
		{ "port2", required_argument, NULL, 'P' },
		{ "tcp", no_argument, NULL, 't' },
		CLI_OPT_READY_FD,
		CLI_OPTS_LOG,
		{ NULL, 0, NULL, 0 },
	};
	int opt, r;

	while ((opt = getopt_long(argc, argv, "vqh", opts, NULL)) != -1) {
		switch (opt) {
		case 'l':
		case 'L':
			if (parse_ip(optarg, &o->ip[opt == 'L']) < 0) {
				log_errx("--%s %s: not an IP address", opt == 'L' ? "listen2" : "listen", optarg);
				return -EINVAL;
			}
			o->have[opt == 'L'] = true;
			break;
		case 'p':
		case 'P':
			if (port_opt(opt == 'P' ? "port2" : "port", optarg, false, &o->port[opt == 'P']) < 0)
				return -EINVAL;
			break;
		case 't':
			o->tcp = true;
			break;
		default:
			if ((r = common_opt(opt, optarg, &o->cc)) != 0)
				return r;
		}
	}
	log_init(PROG, o->cc.lvl);
	if (cli_no_operands(argc, argv) < 0)
		return -EINVAL;
	if (!o->have[0] || !o->have[1] || !two_endpoints(o->ip, o->port)) {
		log_errx("server: needs --listen and --listen2, two different addresses of one family, "
			 "and two different ports");
		return -EINVAL;
	}
	return 0;
}

/* The four sockets (two addresses x two ports) and the signalfd, all in one
 * epoll set: socket i as i, the signalfd as 4. Returns 0, or -1 after
 * saying what failed. */
static int server_open(struct probe_server *s, const struct server_opts *o)
{
	struct epoll_event sig = { .events = EPOLLIN, .data.u32 = 4 };
	char buf[ADDR_STRLEN];
	int r;

	s->sigfd = svc_signalfd(0);
	if (s->sigfd < 0) {
		errno = -s->sigfd;
		log_err("signalfd");
		return -1;
	}
	s->ep = epoll_create1(EPOLL_CLOEXEC);
	if (s->ep < 0) {
		log_err("epoll_create1");
		return -1;
	}
	for (int i = 0; i < 4; i++) {
		struct epoll_event e = { .events = EPOLLIN, .data.u32 = (uint32_t)i };

		s->a[i] = o->ip[i >> 1];
		addr_set_port(&s->a[i], o->port[i & 1]);
		s->fd[i] = r = udp_socket(&s->a[i]);
		if (r < 0) {
			errno = -r;
			log_err("cannot bind %s", addr_fmt(&s->a[i], buf, sizeof(buf)));
			return -1;
		}
		if (epoll_ctl(s->ep, EPOLL_CTL_ADD, s->fd[i], &e) < 0) {
			log_err("epoll_ctl");
			return -1;
		}
		fprintf(stderr, PROG ": listening on %s udp\n", addr_fmt(&s->a[i], buf, sizeof(buf)));
		if (!o->tcp)
			continue;
		e.data.u32 = 5 + (uint32_t)i;
		s->tfd[i] = r = tcpprobe_listen(&s->a[i]);
		if (r < 0 || epoll_ctl(s->ep, EPOLL_CTL_ADD, s->tfd[i], &e) < 0) {
			errno = r < 0 ? -r : errno;
			log_err("cannot listen on %s tcp", addr_fmt(&s->a[i], buf, sizeof(buf)));
			return -1;
		}
	}
	if (epoll_ctl(s->ep, EPOLL_CTL_ADD, s->sigfd, &sig) < 0) {
		log_err("epoll_ctl");
		return -1;
	}
	return 0;
}

/* Answer requests until SIGTERM or SIGINT. Returns 0, or -1 after saying
 * what failed. */
static int server_loop(struct probe_server *s)
{
	while (!s->stop) {
		struct epoll_event evs[8];
		int n = epoll_wait(s->ep, evs, 8, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_err("epoll_wait");
			return -1;
		}
		for (int k = 0; k < n; k++) {
			if (evs[k].data.u32 < 4) {
				server_read(s, (int)evs[k].data.u32);
			} else if (evs[k].data.u32 >= 5) {
				int c = accept4(s->tfd[evs[k].data.u32 - 5], NULL, NULL, SOCK_CLOEXEC);

				if (c >= 0 && tcpprobe_serve(c, s->a) < 0)
					log_warnx("tcp: cannot serve a connection");
			} else {
				struct signalfd_siginfo si;

				if (read(s->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
					log_info("signal %u: shutting down", si.ssi_signo);
					s->stop = true;
				}
			}
		}
	}
	return 0;
}

static int server_main(int argc, char **argv)
{
	struct server_opts o = { .port = { DEFAULT_PORT, DEFAULT_PORT2 }, .cc = { LOG_LVL_INFO, -1 } };
	struct probe_server s = { .ep = -1, .sigfd = -1, .fd = { -1, -1, -1, -1 }, .tfd = { -1, -1, -1, -1 } };
	int r, rc = 1;

	r = server_parse(argc, argv, &o);
	if (r == CLI_HELP)
		usage(stdout);
	if (r != 0)
		return r == CLI_HELP ? 0 : 2;
	if (server_open(&s, &o) < 0)
		goto cleanup;
	svc_ready(o.cc.ready_fd);
	if (server_loop(&s) < 0)
		goto cleanup;
	rc = 0;
	log_info("totals: %llu answered, %llu dropped, %llu send errors", s.answered, s.dropped, s.send_errors);
cleanup:
	for (int i = 0; i < 4; i++) {
		if (s.fd[i] >= 0)
			close(s.fd[i]);
		if (s.tfd[i] >= 0)
			close(s.tfd[i]);
	}
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
	/* Requests whose question went unanswered: each answer (or, for udp
	 * blocked, the request itself) must have been dropped somewhere. The lab
	 * holds this against its routers' drop counters (selfcheck.c). */
	unsigned long absent_requests;
	bool hairpin_refused;   /* the hairpin packet came back as ICMP port unreachable */
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
	bool refused;          /* done, but by an ICMP port unreachable: positively not answered */
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

/* The ICMP errors queued on socket sk (IP_RECVERR): a port unreachable
 * quoting a pending question's own message ends that question as refused.
 * A router that hands a packet to its own stack instead of hairpinning it
 * says so at once, so the classifier need not wait for what cannot come. */
static void client_errqueue(struct probe_client *cl, int sk, struct question *qs, int nq)
{
	for (int k = 0; k < RECV_BURST; k++) {
		uint8_t buf[RECV_BUF];
		union {
			char buf[512];
			struct cmsghdr align;
		} ctl;
		struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
				     .msg_controllen = sizeof(ctl.buf) };
		const struct sock_extended_err *ee = NULL;
		struct probemsg m;
		ssize_t n = recvmsg(cl->fd[sk], &mh, MSG_ERRQUEUE | MSG_DONTWAIT);

		if (n < 0)
			return;
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
			if ((c->cmsg_level == SOL_IP && c->cmsg_type == IP_RECVERR) ||
			    (c->cmsg_level == SOL_IPV6 && c->cmsg_type == IPV6_RECVERR))
				ee = (const struct sock_extended_err *)CMSG_DATA(c);
		if (!ee || ee->ee_errno != ECONNREFUSED ||
		    (ee->ee_origin != SO_EE_ORIGIN_ICMP && ee->ee_origin != SO_EE_ORIGIN_ICMP6) ||
		    probemsg_parse(buf, (size_t)n, &m) < 0)
			continue;
		for (int i = 0; i < nq; i++) {
			struct question *q = &qs[i];

			if (q->done || q->send_sk != sk || q->txid != m.txid || q->type != m.type)
				continue;
			q->done = q->refused = true;
			break;
		}
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
		if (!pending || now >= deadline) {
			for (int i = 0; i < nq; i++)
				if (!qs[i].done && qs[i].type == PROBEMSG_ANSWER)
					cl->absent_requests += (unsigned long)qs[i].sent;
			return 0;
		}
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
		for (int i = 0; i < SK_N; i++) {
			if (pfd[i].revents & POLLERR)
				client_errqueue(cl, i, qs, nq);
			if (pfd[i].revents & (POLLIN | POLLERR))
				client_recv(cl, i, qs, nq);
		}
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
	obs->hairpin = tri(q[nq - 1].done && !q[nq - 1].refused);
	cl->hairpin_refused = q[nq - 1].refused;
	obs->hairpin_from_mapped = obs->hairpin == CLASSIFY_YES && obs->samples[1].answered &&
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

struct classify_opts {
	struct addr ip[2], bind_ip, hair_ip;
	bool have[2], have_bind, have_hair;
	uint16_t port[2], local_port;
	bool expect;            /* some --expect-* given: compare with want */
	struct nat_behavior want;
	struct cli_common cc;
};

/* --server, --server2, --bind, --hairpin-bind, --port, --port2,
 * --local-port. Returns 0, -ENOENT for another option, or -EINVAL after
 * saying what is wrong. */
static int classify_opt_where(int opt, const char *arg, struct classify_opts *o)
{
	struct addr *a;
	bool *have;

	switch (opt) {
	case 's':
	case 'S':
	case 'b':
	case 'H':
		a = opt == 's' ? &o->ip[0] : opt == 'S' ? &o->ip[1] : opt == 'b' ? &o->bind_ip : &o->hair_ip;
		have = opt == 's' ? &o->have[0] : opt == 'S' ? &o->have[1] : opt == 'b' ? &o->have_bind : &o->have_hair;
		if (parse_ip(arg, a) < 0) {
			log_errx("%s: not an IP address", arg);
			return -EINVAL;
		}
		*have = true;
		return 0;
	case 'p':
	case 'P':
		return port_opt(opt == 'P' ? "port2" : "port", arg, false, &o->port[opt == 'P']);
	case 'l':
		return port_opt("local-port", arg, true, &o->local_port);
	default:
		return -ENOENT;
	}
}

/* --expect-*: the declared behaviour. Returns 0, -ENOENT for another
 * option, or -EINVAL after saying what is wrong. */
static int classify_opt_expect(int opt, const char *arg, struct classify_opts *o)
{
	int x;

	switch (opt) {
	case 'm':
		x = nat_mapping_parse(arg);
		o->want.mapping = (enum nat_mapping)x;
		break;
	case 'f':
		x = nat_filtering_parse(arg);
		o->want.filtering = (enum nat_filtering)x;
		break;
	case 'o':
		x = nat_ports_parse(arg);
		o->want.ports = (enum nat_ports)x;
		break;
	case 'a':
		x = strcmp(arg, "yes") == 0 ? 1 : strcmp(arg, "no") == 0 ? 0 : -1;
		o->want.hairpin = x == 1;
		break;
	case 'U':
		x = 0;
		o->want.udp_blocked = true;
		break;
	case 'W':
	case 'X':
	case 'Y':
	case 'Z': {
		const char *what = opt == 'W' ? "block-size" : opt == 'X' ? "inbound-reply" : opt == 'Y' ? "port-range"
													 : "port-step";

		if (classify_parse_expect(what, arg, &o->want) < 0) {
			log_errx("--expect-%s %s: not %s", what, arg,
				 opt == 'X' ? "session or new-mapping" : opt == 'Y' ? "LO-HI" : "a number in range");
			return -EINVAL;
		}
		o->expect = true;
		return 0;
	}
	default:
		return -ENOENT;
	}
	if (x < 0) {
		log_errx("--expect-%s %s: unknown value",
			 opt == 'm' ? "mapping" : opt == 'f' ? "filtering" : opt == 'o' ? "ports" : "hairpin", arg);
		return -EINVAL;
	}
	o->expect = true;
	return 0;
}

/* --timeout-ms and --tries, into the client. Returns 0, -ENOENT for
 * another option, or -EINVAL after saying what is wrong. */
static int classify_opt_timing(int opt, const char *arg, struct probe_client *cl)
{
	unsigned long v;

	switch (opt) {
	case 't':
		if (num_parse_uint(arg, 600000, &v) < 0 || v < 10) {
			log_errx("--timeout-ms %s: not a number from 10 to 600000", arg);
			return -EINVAL;
		}
		cl->timeout_ms = (int)v;
		return 0;
	case 'n':
		if (num_parse_uint(arg, 100, &v) < 0 || v == 0) {
			log_errx("--tries %s: not a number from 1 to 100", arg);
			return -EINVAL;
		}
		cl->tries = (int)v;
		return 0;
	default:
		return -ENOENT;
	}
}

/* Returns 0, CLI_HELP, or -EINVAL after saying what is wrong. */
static int classify_parse(int argc, char **argv, struct classify_opts *o, struct probe_client *cl)
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
		CLI_OPTS_LOG,
		{ NULL, 0, NULL, 0 },
	};
	int opt, r;

	while ((opt = getopt_long(argc, argv, "vqh", opts, NULL)) != -1) {
		r = classify_opt_where(opt, optarg, o);
		if (r == -ENOENT)
			r = classify_opt_expect(opt, optarg, o);
		if (r == -ENOENT)
			r = classify_opt_timing(opt, optarg, cl);
		if (r == -ENOENT)
			r = common_opt(opt, optarg, &o->cc);
		if (r != 0)
			return r;
	}
	log_init(PROG, o->cc.lvl);
	if (cli_no_operands(argc, argv) < 0)
		return -EINVAL;
	if (!o->have[0] || !o->have[1] || !o->have_bind) {
		log_errx("classify: needs --server, --server2 and --bind");
		return -EINVAL;
	}
	if (!two_endpoints(o->ip, o->port) || addr_family(&o->ip[0]) != addr_family(&o->bind_ip) ||
	    (o->have_hair && addr_family(&o->hair_ip) != addr_family(&o->bind_ip))) {
		log_errx("classify: the server needs two different addresses and two different ports, "
			 "all of the family of --bind");
		return -EINVAL;
	}
	return 0;
}

/* Queue ICMP errors on socket fd (read by client_errqueue). Returns 0 or -errno. */
static int recv_errors(int fd, int family)
{
	int on = 1;

	if (family == AF_INET6 ? setsockopt(fd, SOL_IPV6, IPV6_RECVERR, &on, sizeof(on))
			       : setsockopt(fd, SOL_IP, IP_RECVERR, &on, sizeof(on)))
		return -errno;
	return 0;
}

/* The server's four endpoints and the client's sockets. Returns 0, or -1
 * after saying what failed. */
static int classify_open(struct probe_client *cl, const struct classify_opts *o)
{
	char buf[ADDR_STRLEN];
	int r;

	for (int i = 0; i < 4; i++) {
		cl->srv[i] = o->ip[i >> 1];
		addr_set_port(&cl->srv[i], o->port[i & 1]);
	}
	for (int i = 0; i < SK_N; i++) {
		struct addr a = i == SK_HAIR && o->have_hair ? o->hair_ip : o->bind_ip;

		addr_set_port(&a, i == SK_MAP ? o->local_port : 0);
		cl->fd[i] = r = udp_socket(&a);
		if (r >= 0)
			r = recv_errors(cl->fd[i], addr_family(&a));
		if (r < 0 || (r = addr_local(cl->fd[i], &cl->local[i])) < 0) {
			errno = -r;
			log_err("cannot bind %s", addr_fmt(&a, buf, sizeof(buf)));
			return -1;
		}
	}
	return 0;
}

/* Decide from obs, print the JSON object and, with --expect-*, compare.
 * Returns the exit status: 0, EXIT_MISMATCH, or 1 after saying what failed. */
static int classify_report(const struct probe_client *cl, const struct classify_opts *o,
			   const struct classify_obs *obs, mtime_ms elapsed)
{
	struct classify_result res;
	struct classify_diff diffs[CLASSIFY_MAX_DIFFS];
	bool nat = o->want.mapping != MAP_NONE;
	json_object *out;
	char buf[ADDR_STRLEN];
	int ndiff = 0, rc = 1;

	classify_decide(obs, &res);
	out = classify_to_json(obs, &res);
	if (!out ||
	    json_object_object_add(out, "server", json_object_new_string(addr_fmt(&cl->srv[0], buf, sizeof(buf)))) < 0 ||
	    json_object_object_add(out, "server2", json_object_new_string(addr_fmt(&cl->srv[3], buf, sizeof(buf)))) < 0 ||
	    json_object_object_add(out, "elapsed_ms", json_object_new_int64(elapsed)) < 0 ||
	    json_object_object_add(out, "requests_sent", json_object_new_int64((int64_t)cl->requests)) < 0 ||
	    json_object_object_add(out, "answers", json_object_new_int64((int64_t)cl->answers)) < 0 ||
	    json_object_object_add(out, "absent_requests", json_object_new_int64((int64_t)cl->absent_requests)) < 0 ||
	    json_object_object_add(out, "hairpin_refused", json_object_new_boolean(cl->hairpin_refused)) < 0)
		goto nomem;
	if (o->expect) {
		ndiff = classify_compare(&o->want, nat, &res, diffs);
		if (classify_json_add_compare(out, &o->want, nat, diffs, ndiff) < 0)
			goto nomem;
		for (int i = 0; i < ndiff; i++)
			log_warnx("mismatch: %s declared %s, observed %s", diffs[i].property, diffs[i].declared,
				  diffs[i].observed);
	}
	printf("%s\n", json_object_to_json_string_ext(out, JSON_C_TO_STRING_PLAIN));
	if (fflush(stdout) != 0)
		log_err("stdout");
	else
		rc = ndiff ? EXIT_MISMATCH : 0;
	json_object_put(out);
	return rc;
nomem:
	log_errx("out of memory");
	json_object_put(out);
	return 1;
}

static int classify_main(int argc, char **argv)
{
	static struct probe_client cl;
	struct classify_opts o = {
		.want = { .mapping = MAP_EIM, .filtering = FILTER_APDF, .ports = PORTS_PRESERVE },
		.port = { DEFAULT_PORT, DEFAULT_PORT2 },
		.cc = { LOG_LVL_INFO, -1 },
	};
	struct classify_obs obs;
	mtime_ms t0;
	int r, rc = 1;

	cl.timeout_ms = DEFAULT_TIMEOUT_MS;
	cl.tries = DEFAULT_TRIES;
	for (int i = 0; i < SK_N; i++)
		cl.fd[i] = -1;
	r = classify_parse(argc, argv, &o, &cl);
	if (r == CLI_HELP)
		usage(stdout);
	if (r != 0)
		return r == CLI_HELP ? 0 : 2;
	if (classify_open(&cl, &o) < 0)
		goto cleanup;
	t0 = mtime_now();
	if ((r = classify_run(&cl, &obs)) < 0) {
		errno = -r;
		log_err("classify");
		goto cleanup;
	}
	rc = classify_report(&cl, &o, &obs, mtime_now() - t0);
cleanup:
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
	if (argc >= 2 && strcmp(argv[1], "tcp-classify") == 0)
		return tcpprobe_classify_main(argc - 1, argv + 1);
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
