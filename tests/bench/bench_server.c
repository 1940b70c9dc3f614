/* bench_server: punch-server against a thread-per-client baseline
 * (tests/bench/tpc-server.c), measured in the same run, on loopback.
 *
 *   bench_server [--long] [--idle N] [--hold N] [--seconds S] [--profile] [--only PHASE]
 *                [--no-pin] [--verbose] [--inflight N]
 *   (PHASE: pairs, hold or hostile)
 *
 * A single-threaded epoll load generator drives pairs of clients through the
 * whole rendezvous (connect, HELLO, WELCOME, REGISTER, PEER, close), 64 pairs
 * in flight (--inflight N), from 127.0.0.1 (no bind: fewer system calls for the load
 * generator; the servers run with no per-address limit) or, in the hostile
 * phase, from many 127.x.y.z addresses bound before connect, so that the
 * per-address limits do not bite the legitimate pairs. It reports:
 *   - pairs/s of punch-server and of the baseline, and their ratio;
 *   - pairs/s with N idle clients waiting (default 10,000) over pairs/s with none;
 *   - throughput over a longer run (20 s; 60 s with --long): last quarter over first;
 *   - server RSS per waiting client with --hold clients (default 50,000, or
 *     what the descriptor hard limit allows) waiting, the kernel's slab
 *     growth meanwhile, and the session table alone holding 50,000;
 *   - pairing success of legitimate pairs while 1,000 hostile connections
 *     from one address stall, flood and send garbage, and the server's log
 *     lines per minute meanwhile.
 * With two CPUs or more, each server runs on one CPU and the load generator
 * on another (--no-pin: not); why that is fair is written at main's
 * "pinned" line. --profile then runs each server alone for 10 s more under
 * `perf record` (when perf is there) and prints where its CPU went;
 * --verbose prints each slice.
 * Every figure is a ratio or a count measured in this run; nothing is
 * compared against a stored absolute time. Each phase is bounded in time,
 * and the whole run takes about 70 s (about 110 s with --long).
 * The process raises its own descriptor limit (inherited by the servers). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sched.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <malloc.h>

#include "common/addr.h"
#include "common/log.h"
#include "common/mtime.h"
#include "proto/wire.h"
#include "server/session.h"
#include "bench.h"

#define INFLIGHT 64 /* pairs in flight by default (--inflight N) */
#define INFLIGHT_MAX 2048
#define PAIR_TIMEOUT_MS 5000
#define REG_RETRY_MS 300
#define HOSTILE 1000
#define CONNECTS_IN_FLIGHT 1000
/* Descriptors left over when the hard limit caps the hold: this load
 * generator holds the other end of every client in the same limit, and
 * needs its pair slots' UDP sockets (two a slot) and a few more of its own. */
#define HOLD_SPARE (2 * n_inflight + 72)

static unsigned gen; /* makes session names unique across phases */
/* The CPU each server runs on, and the one this load generator runs on;
 * -1: not pinned (fewer than two CPUs allowed, or --no-pin). */
static int cpu_server = -1, cpu_load = -1;
static bool verbose; /* --verbose: a line per slice */
static int n_inflight = INFLIGHT;

static int pin_to(int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return 0;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set) < 0 ? -errno : 0;
}

/* --- servers --------------------------------------------------------------- */

struct server {
	const char *name;
	pid_t pid;
	uint16_t port;
	char log[4200];
	struct sockaddr_in tcp;
};

static int start_server(struct server *s, const char *path, const char *const *extra)
{
	const char *argv[40];
	int n = 0, pfd[2], logfd;
	char buf[256], rfd[16];
	FILE *f;

	snprintf(s->log, sizeof(s->log), "/tmp/bench-%s-%d.log", s->name, (int)getpid());
	logfd = open(s->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (logfd < 0 || pipe2(pfd, O_CLOEXEC) < 0)
		return -errno;
	snprintf(rfd, sizeof(rfd), "%d", 3);
	argv[n++] = path;
	if (strstr(path, "punch-server")) {
		argv[n++] = "--listen";
		argv[n++] = "127.0.0.1";
	}
	argv[n++] = "--port";
	argv[n++] = "0";
	argv[n++] = "--ready-fd";
	argv[n++] = rfd;
	for (int i = 0; extra && extra[i] && n < 38; i++)
		argv[n++] = extra[i];
	argv[n] = NULL;
	s->pid = fork();
	if (s->pid < 0)
		return -errno;
	if (s->pid == 0) {
		/* execv() wants writable strings: copy them. */
		static char store[40][4200];
		char *av[40];

		for (int i = 0; i <= n; i++)
			av[i] = argv[i] ? strncpy(store[i], argv[i], sizeof(store[i]) - 1) : NULL;
		dup2(logfd, 2);
		dup2(pfd[1], 3);
		if (pin_to(cpu_server) < 0)
			_exit(126);
		execv(path, av);
		_exit(127);
	}
	close(pfd[1]);
	close(logfd);
	n = (int)read(pfd[0], buf, sizeof(buf) - 1);
	close(pfd[0]);
	if (n <= 0) {
		fprintf(stderr, "bench_server: %s did not start (see %s)\n", path, s->log);
		return -EIO;
	}
	f = fopen(s->log, "r");
	s->port = 0;
	while (f && fgets(buf, sizeof(buf), f)) {
		char *p = strstr(buf, "listening on 127.0.0.1:");

		if (p)
			s->port = (uint16_t)atoi(p + strlen("listening on 127.0.0.1:"));
	}
	if (f)
		fclose(f);
	if (!s->port)
		return -EIO;
	memset(&s->tcp, 0, sizeof(s->tcp));
	s->tcp.sin_family = AF_INET;
	s->tcp.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s->tcp.sin_port = htons(s->port);
	return 0;
}

static void stop_server(struct server *s)
{
	mtime_ms end = mtime_now() + 10000;

	if (s->pid <= 0)
		return;
	kill(s->pid, SIGTERM);
	while (mtime_now() < end) {
		if (waitpid(s->pid, NULL, WNOHANG) == s->pid) {
			/* Stopped cleanly: its log has served (a server that
			 * dies or hangs keeps its log for a look). */
			unlink(s->log);
			s->pid = 0;
			return;
		}
		usleep(10000);
	}
	kill(s->pid, SIGKILL);
	waitpid(s->pid, NULL, 0);
	fprintf(stderr, "bench_server: %s did not stop on SIGTERM (log: %s)\n", s->name, s->log);
	s->pid = 0;
}

static long rss_kib(pid_t pid)
{
	char path[64], line[256];
	long kib = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	if (f)
		fclose(f);
	return kib;
}

/* CPU time of a process (all its threads, live and gone), in ms: *user in
 * its own code, *sys in the kernel on its behalf. Returns the sum, or -1. */
static double cpu_ms2(pid_t pid, double *user, double *sys)
{
	char path[64], buf[1024], *p;
	unsigned long ut = 0, st = 0;
	double tck = (double)sysconf(_SC_CLK_TCK);
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = '\0';
	fclose(f);
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return -1;
	if (user)
		*user = (double)ut * 1000.0 / tck;
	if (sys)
		*sys = (double)st * 1000.0 / tck;
	return (double)(ut + st) * 1000.0 / tck;
}

static double cpu_ms(pid_t pid)
{
	return cpu_ms2(pid, NULL, NULL);
}

/* The kernel's slab memory, in KiB: what sockets, files and epoll items cost. */
static long slab_kib(void)
{
	char line[256];
	long kib = -1;
	FILE *f = fopen("/proc/meminfo", "r");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "Slab: %ld kB", &kib) == 1)
			break;
	if (f)
		fclose(f);
	return kib;
}

static long count_lines(const char *path)
{
	FILE *f = fopen(path, "r");
	long n = 0;
	int c;

	if (!f)
		return -1;
	while ((c = getc(f)) != EOF)
		n += c == '\n';
	fclose(f);
	return n;
}

/* --- load generator ---------------------------------------------------------- */

enum kind { K_PAIR, K_IDLE, K_HOSTILE };

struct ev {
	enum kind kind;
};

struct lc {
	struct ev ev;
	int tcp, udp;
	bool connected, welcomed, done;
	uint8_t token[WIRE_TOKEN_LEN];
	size_t in_len;
	uint8_t in[512];
	struct pair *p;
};

struct pair {
	struct lc c[2];
	int slot;
	mtime_ms started, reg_at;
	char name[48];
};

struct idle {
	struct ev ev;
	int fd;
	bool welcomed;
	size_t in_len;
	uint8_t in[64];
};

enum hmode { H_STALL, H_FLOOD, H_GARBAGE };

struct hostile {
	struct ev ev;
	int fd;
	enum hmode mode;
	bool sent;
};

struct load {
	int ep;
	struct server *srv;
	struct pair *pairs; /* n_inflight of them */
	bool pairs_on;
	bool bind_sources; /* pairs from 127.1.x.y rather than 127.0.0.1 */
	uint64_t done, failed, resent;
	struct idle *idle;
	unsigned n_idle, idle_opened, idle_welcomed, idle_failed;
	struct hostile *hostile;
	unsigned n_hostile;
	uint64_t hostile_conns;
	int hostile_udp;
};

static uint32_t src_ip(unsigned net, unsigned k)
{
	return htonl(0x7f000000u | net << 16 | (k / 200) << 8 | (k % 200 + 1));
}

/* A nonblocking TCP connection from ip (0: 127.0.0.1, no bind, fewer
 * system calls for the load generator) to the server; -1 on failure. */
static int tcp_connect(const struct server *s, uint32_t ip)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = ip };
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	if (ip && (setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one)) < 0 ||
		   bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0)) {
		close(fd);
		return -1;
	}
	if (connect(fd, (const struct sockaddr *)&s->tcp, sizeof(s->tcp)) < 0 && errno != EINPROGRESS) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Close with a reset, as load generators do: no TIME_WAIT piling up. */
static void tcp_abort(int fd)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	if (fd < 0)
		return;
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
}

/* Send a HELLO for session `name`; returns 0 once the kernel took it all. */
static int send_hello(int fd, const char *name)
{
	struct wire_msg m;
	uint8_t buf[WIRE_MSG_MAX];
	int n;

	memset(&m, 0, sizeof(m));
	m.type = WIRE_HELLO;
	snprintf(m.u.hello.session, sizeof(m.u.hello.session), "%s", name);
	n = wire_build(buf, sizeof(buf), &m, NULL);
	return n > 0 && send(fd, buf, (size_t)n, MSG_NOSIGNAL) == n ? 0 : -1;
}

static void send_register(struct lc *c)
{
	struct wire_msg m;
	uint8_t buf[WIRE_MSG_MAX];
	int n;

	memset(&m, 0, sizeof(m));
	m.type = WIRE_REGISTER;
	memcpy(m.u.reg.token, c->token, WIRE_TOKEN_LEN);
	n = wire_build(buf, sizeof(buf), &m, NULL);
	if (n > 0 && send(c->udp, buf, (size_t)n, 0) < 0)
		return; /* retried */
}

static void pair_start(struct load *l, struct pair *p, mtime_ms now)
{
	static unsigned seq;

	snprintf(p->name, sizeof(p->name), "b%u-%u", gen, ++seq);
	p->started = now;
	p->reg_at = -1;
	for (int i = 0; i < 2; i++) {
		struct lc *c = &p->c[i];
		/* Edge-triggered: the connect completes once (one EPOLLOUT edge),
		 * and each recv takes all a server sends at once (two small
		 * messages at most): two system calls fewer per client. */
		struct epoll_event e = { .events = EPOLLIN | EPOLLOUT | EPOLLET, .data.ptr = &c->ev };

		c->ev.kind = K_PAIR;
		c->p = p;
		c->connected = c->welcomed = c->done = false;
		c->in_len = 0;
		c->tcp = tcp_connect(l->srv, l->bind_sources ? src_ip(1, (unsigned)(p->slot * 2 + i)) : 0);
		/* On loopback the handshake is over by the time connect()
		 * returns (it runs in its softirq): say HELLO at once, and
		 * wait for no EPOLLOUT. If the kernel is not there yet, the
		 * HELLO goes out on the EPOLLOUT edge instead. */
		if (c->tcp >= 0 && send_hello(c->tcp, p->name) == 0) {
			c->connected = true;
			e.events = EPOLLIN | EPOLLET;
		}
		if (c->tcp >= 0 && epoll_ctl(l->ep, EPOLL_CTL_ADD, c->tcp, &e) < 0) {
			close(c->tcp);
			c->tcp = -1;
		}
	}
}

static void pair_end(struct load *l, struct pair *p, bool ok, mtime_ms now)
{
	for (int i = 0; i < 2; i++) {
		tcp_abort(p->c[i].tcp);
		p->c[i].tcp = -1;
	}
	if (ok)
		l->done++;
	else
		l->failed++;
	if (l->pairs_on)
		pair_start(l, p, now);
}

/* The persistent UDP socket of a pair slot's client, bound to its address. */
static int udp_open(const struct server *s, uint32_t ip)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = ip };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    connect(fd, (const struct sockaddr *)&s->tcp, sizeof(s->tcp)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void lc_event(struct load *l, struct lc *c, uint32_t events, mtime_ms now)
{
	struct pair *p = c->p;
	struct wire_msg m;
	ssize_t n;

	if (c->tcp < 0)
		return;
	if (!c->connected && (events & (EPOLLERR | EPOLLHUP))) {
		pair_end(l, p, false, now);
		return;
	}
	if (!c->connected && (events & EPOLLOUT)) {
		c->connected = true;
		if (send_hello(c->tcp, p->name) < 0) {
			pair_end(l, p, false, now);
			return;
		}
	}
	if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		return;
	n = recv(c->tcp, c->in + c->in_len, sizeof(c->in) - c->in_len, 0);
	if (n <= 0) {
		if (n < 0 && errno == EAGAIN)
			return;
		pair_end(l, p, false, now);
		return;
	}
	c->in_len += (size_t)n;
	for (;;) {
		int r = wire_parse(c->in, c->in_len, &m);

		if (r == 0)
			break;
		if (r < 0 || m.type == WIRE_ERROR) {
			pair_end(l, p, false, now);
			return;
		}
		memmove(c->in, c->in + r, c->in_len - (size_t)r);
		c->in_len -= (size_t)r;
		if (m.type == WIRE_WELCOME) {
			c->welcomed = true;
			memcpy(c->token, m.u.welcome.token, WIRE_TOKEN_LEN);
			send_register(c);
			if (p->reg_at < 0)
				p->reg_at = now;
		} else if (m.type == WIRE_PEER) {
			c->done = true;
			if (p->c[0].done && p->c[1].done) {
				pair_end(l, p, true, now);
				return;
			}
		}
	}
}

/* Once in a while: retry REGISTERs a loaded server may have dropped, and
 * give up on pairs that take too long. Only the 64 slots are looked at. */
static void pairs_sweep(struct load *l, mtime_ms now)
{
	for (int i = 0; i < n_inflight; i++) {
		struct pair *p = &l->pairs[i];

		if (p->c[0].tcp < 0 && p->c[1].tcp < 0) {
			if (l->pairs_on)
				pair_start(l, p, now);
			continue;
		}
		if (now - p->started > PAIR_TIMEOUT_MS) {
			pair_end(l, p, false, now);
			continue;
		}
		if (p->reg_at >= 0 && now - p->reg_at > REG_RETRY_MS) {
			for (int k = 0; k < 2; k++)
				if (p->c[k].welcomed && !p->c[k].done) {
					send_register(&p->c[k]);
					l->resent++;
				}
			p->reg_at = now;
		}
	}
}

static void idle_open_more(struct load *l)
{
	while (l->idle_opened < l->n_idle && l->idle_opened - l->idle_welcomed - l->idle_failed < CONNECTS_IN_FLIGHT) {
		struct idle *d = &l->idle[l->idle_opened];
		struct epoll_event e = { .events = EPOLLIN | EPOLLOUT, .data.ptr = &d->ev };

		d->ev.kind = K_IDLE;
		/* 50 per address: well under the per-address limit. */
		d->fd = tcp_connect(l->srv, src_ip(2 + l->idle_opened / 50000, l->idle_opened % 50000 / 50));
		l->idle_opened++;
		if (d->fd < 0 || epoll_ctl(l->ep, EPOLL_CTL_ADD, d->fd, &e) < 0) {
			if (d->fd >= 0)
				close(d->fd);
			d->fd = -1;
			l->idle_failed++;
		}
	}
}

static void idle_event(struct load *l, struct idle *d, uint32_t events)
{
	struct wire_msg m;
	char name[48];
	ssize_t n;

	if (d->fd < 0 || d->welcomed)
		return;
	if (events & EPOLLOUT) {
		struct epoll_event e = { .events = EPOLLIN, .data.ptr = &d->ev };

		snprintf(name, sizeof(name), "idle%u-%u", gen, (unsigned)(d - l->idle));
		epoll_ctl(l->ep, EPOLL_CTL_MOD, d->fd, &e);
		(void)send_hello(d->fd, name); /* if not, the client is counted as failed when the server drops it */
		return;
	}
	n = recv(d->fd, d->in + d->in_len, sizeof(d->in) - d->in_len, 0);
	if (n < 0 && errno == EAGAIN)
		return;
	if (n > 0)
		d->in_len += (size_t)n;
	if (n > 0 && wire_parse(d->in, d->in_len, &m) > 0 && m.type == WIRE_WELCOME) {
		/* Waiting from now on: no more events wanted. */
		d->welcomed = true;
		l->idle_welcomed++;
		epoll_ctl(l->ep, EPOLL_CTL_DEL, d->fd, NULL);
		return;
	}
	if (n <= 0 || d->in_len == sizeof(d->in)) {
		epoll_ctl(l->ep, EPOLL_CTL_DEL, d->fd, NULL);
		close(d->fd);
		d->fd = -1;
		l->idle_failed++;
	}
}

static void hostile_connect(struct load *l, struct hostile *h)
{
	struct epoll_event e = { .events = EPOLLIN | EPOLLOUT, .data.ptr = &h->ev };

	h->fd = tcp_connect(l->srv, htonl(0x7f420001)); /* 127.66.0.1, all of them */
	h->sent = false;
	l->hostile_conns++;
	if (h->fd >= 0 && epoll_ctl(l->ep, EPOLL_CTL_ADD, h->fd, &e) < 0) {
		close(h->fd);
		h->fd = -1;
	}
}

static void hostile_event(struct load *l, struct hostile *h, uint32_t events)
{
	static uint8_t junk[16384];
	uint8_t sink[4096];

	if (h->fd < 0)
		return;
	if ((events & EPOLLOUT) && h->mode != H_STALL) {
		if (!h->sent && junk[0] == 0 && getrandom(junk, sizeof(junk), 0) < 0)
			junk[0] = 1;
		/* Garbage once; a flood writes whenever it can. */
		if (h->mode == H_FLOOD || !h->sent)
			(void)!send(h->fd, junk, h->mode == H_FLOOD ? sizeof(junk) : 100, MSG_NOSIGNAL | MSG_DONTWAIT);
		h->sent = true;
		if (h->mode == H_GARBAGE) {
			struct epoll_event e = { .events = EPOLLIN, .data.ptr = &h->ev };

			epoll_ctl(l->ep, EPOLL_CTL_MOD, h->fd, &e);
		}
	} else if ((events & EPOLLOUT) && h->mode == H_STALL) {
		struct epoll_event e = { .events = EPOLLIN, .data.ptr = &h->ev };

		epoll_ctl(l->ep, EPOLL_CTL_MOD, h->fd, &e);
	}
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		ssize_t n = recv(h->fd, sink, sizeof(sink), MSG_DONTWAIT);

		if (n == 0 || (n < 0 && errno != EAGAIN) || (events & (EPOLLHUP | EPOLLERR))) {
			/* Thrown out: come straight back. */
			tcp_abort(h->fd);
			hostile_connect(l, h);
		}
	}
}

static void hostile_udp_burst(struct load *l)
{
	uint8_t junk[200];

	for (int i = 0; i < 20; i++) {
		junk[0] = (uint8_t)i;
		if (i % 2) { /* a plausible header on half of them */
			junk[0] = WIRE_MAGIC0;
			junk[1] = WIRE_MAGIC1;
			junk[2] = WIRE_VERSION;
			junk[3] = (uint8_t)(i % 3 ? WIRE_RELAY : WIRE_REGISTER);
		}
		(void)!send(l->hostile_udp, junk, 20 + (size_t)i * 9, MSG_DONTWAIT);
	}
}

/* Run the loop until `until`; with per_second, record pairs done each second. */
static void run_loop(struct load *l, mtime_ms until, uint64_t *per_second, int nsec)
{
	struct epoll_event evs[256];
	mtime_ms now = mtime_now(), next_sweep = now + 50, t0 = now;

	while ((now = mtime_now()) < until) {
		int n = epoll_wait(l->ep, evs, 256, l->n_hostile ? 1 : 10);

		now = mtime_now();
		for (int i = 0; i < n; i++) {
			struct ev *ev = evs[i].data.ptr;

			if (ev->kind == K_PAIR)
				lc_event(l, (struct lc *)ev, evs[i].events, now);
			else if (ev->kind == K_IDLE)
				idle_event(l, (struct idle *)ev, evs[i].events);
			else
				hostile_event(l, (struct hostile *)ev, evs[i].events);
		}
		if (l->idle_opened < l->n_idle)
			idle_open_more(l);
		if (l->n_hostile)
			hostile_udp_burst(l);
		if (now >= next_sweep) {
			pairs_sweep(l, now);
			next_sweep = now + 50;
		}
		if (per_second) {
			int s = (int)((now - t0) / 1000);

			if (s < nsec)
				per_second[s] = l->done;
		}
	}
}

static int load_init(struct load *l, struct server *s)
{
	memset(l, 0, sizeof(*l));
	l->srv = s;
	l->ep = epoll_create1(EPOLL_CLOEXEC);
	l->hostile_udp = -1;
	l->pairs = calloc((size_t)n_inflight, sizeof(*l->pairs));
	if (l->ep < 0 || !l->pairs)
		return -ENOMEM;
	for (int i = 0; i < n_inflight; i++)
		l->pairs[i].c[0].tcp = l->pairs[i].c[1].tcp = l->pairs[i].c[0].udp = l->pairs[i].c[1].udp = -1;
	for (int i = 0; i < n_inflight; i++) {
		l->pairs[i].slot = i;
		for (int k = 0; k < 2; k++) {
			l->pairs[i].c[k].tcp = -1;
			l->pairs[i].c[k].udp = udp_open(s, src_ip(1, (unsigned)(i * 2 + k)));
			if (l->pairs[i].c[k].udp < 0)
				return -errno;
		}
	}
	return 0;
}

static void load_free(struct load *l)
{
	l->pairs_on = false;
	for (int i = 0; i < n_inflight; i++)
		for (int k = 0; k < 2; k++) {
			tcp_abort(l->pairs[i].c[k].tcp);
			if (l->pairs[i].c[k].udp >= 0)
				close(l->pairs[i].c[k].udp);
		}
	free(l->pairs);
	for (unsigned i = 0; i < l->idle_opened; i++)
		tcp_abort(l->idle[i].fd);
	free(l->idle);
	for (unsigned i = 0; i < l->n_hostile; i++)
		tcp_abort(l->hostile[i].fd);
	free(l->hostile);
	if (l->hostile_udp >= 0)
		close(l->hostile_udp);
	close(l->ep);
}

static int table_rand(void *arg, void *buf, size_t len)
{
	return getrandom(buf, len, 0) == (ssize_t)len ? 0 : -EIO;
}

/* The session table alone (the server's pure core, no sockets) holding n
 * waiting clients, each from its own address and in its own named session:
 * heap bytes per client. This part is not bound by the descriptor limit. */
static void table_hold(unsigned n)
{
	struct sess_config cfg = {
		.max_clients = n + 1000,
		.pair_timeout = 600000,
		.rand = table_rand,
	};
	struct sess_table *t;
	struct sess_out o;
	struct sess_stats st;
	struct wire_msg m;
	struct mallinfo2 m0, m1;

	m0 = mallinfo2();
	if (sess_create(&cfg, &t) < 0)
		return;
	for (unsigned i = 0; i < n; i++) {
		struct addr a;
		char ip[64];
		uint32_t id;

		snprintf(ip, sizeof(ip), "10.%u.%u.%u:4000", i >> 16 & 255, i >> 8 & 255, i & 255);
		if (addr_parse(ip, 0, &a) < 0)
			break;
		id = sess_client_open(t, 0, NULL, &a);
		memset(&m, 0, sizeof(m));
		m.type = WIRE_HELLO;
		snprintf(m.u.hello.session, sizeof(m.u.hello.session), "table-%u", i);
		m.u.hello.n_private = 1;
		m.u.hello.private_eps[0].family = 4;
		sess_client_msg(t, 0, id, &m);
		while (sess_pop(t, &o))
			;
	}
	m1 = mallinfo2();
	sess_get_stats(t, &st);
	printf("session table alone holding %u waiting clients (%u sessions): %.0f heap bytes per client; "
	       "punch-server adds a connection record of at most 96 bytes (the RSS above is the whole process)\n",
	       st.clients_now, st.sessions_now,
	       (double)(m1.uordblks - m0.uordblks) / (st.clients_now ? st.clients_now : 1));
	sess_destroy(t);
}

static long count_fds(pid_t pid)
{
	char path[64];
	struct dirent *e;
	long n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	d = opendir(path);
	if (!d)
		return -1;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* Whether this process may raise its hard limits (CAP_SYS_RESOURCE, bit 24). */
static bool have_sys_resource(void)
{
	char line[256];
	unsigned long long eff = 0;
	FILE *f = fopen("/proc/self/status", "r");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "CapEff: %llx", &eff) == 1)
			break;
	if (f)
		fclose(f);
	return eff >> 24 & 1;
}

/* What caps the number of waiting clients one punch-server holds, with the
 * numbers of this run, and what 50,000 would cost at the measured rates. */
static void hold_ceiling(pid_t pid, unsigned got, double rss_per_client, double kernel_per_client)
{
	struct rlimit rl = { 0, 0 };
	long fds = count_fds(pid), nr_open = -1;
	FILE *f = fopen("/proc/sys/fs/nr_open", "r");

	if (f) {
		if (fscanf(f, "%ld", &nr_open) != 1)
			nr_open = -1;
		fclose(f);
	}
	getrlimit(RLIMIT_NOFILE, &rl);
	printf("punch-server's descriptors: %ld (%u clients + %ld of its own); its limit: %lu (hard %lu); "
	       "CAP_SYS_RESOURCE here: %s; fs.nr_open %ld\n",
	       fds, got, fds - (long)got, (unsigned long)rl.rlim_cur, (unsigned long)rl.rlim_max,
	       have_sys_resource() ? "yes" : "no", nr_open);
	/* One descriptor per client is the protocol's: a client waits on its
	 * TCP control connection, and its UDP REGISTER needs the token the
	 * WELCOME on that connection gave it. RLIMIT_NOFILE belongs to a
	 * process, not to a namespace: a namespace of the benchmark's own
	 * does not lift it; only CAP_SYS_RESOURCE (or a higher limit given
	 * at start, as systemd's LimitNOFILE= does) does. */
	printf("ceiling: one process, one descriptor per waiting client: at most the hard RLIMIT_NOFILE (%lu) less "
	       "its own %ld; a deployment sets LimitNOFILE= (or ulimit -n) up to fs.nr_open and --max-clients; "
	       "50,000 waiting clients would take about %.0f MiB of server RSS and %.0f MiB of kernel memory at the "
	       "rates above\n",
	       (unsigned long)rl.rlim_max, fds - (long)got, 50000.0 * rss_per_client / 1048576.0,
	       50000.0 * kernel_per_client / 1048576.0);
}

struct slices {
	double pairs, ms, cpu, self_cpu;
};

/* A process's CPU time, in ms, split into its own code and the kernel's. */
struct split {
	double user, sys;
};

static void split_now(pid_t pid, struct split *s)
{
	if (cpu_ms2(pid, &s->user, &s->sys) < 0)
		s->user = s->sys = 0;
}

static void split_since(pid_t pid, const struct split *from, struct split *d)
{
	split_now(pid, d);
	d->user -= from->user;
	d->sys -= from->sys;
}

/* One server's line: pairs/s in its slices, CPU per pair over the phase
 * with the user/system split, and how busy its core was in its slices. */
static void print_server(const char *label, const struct load *l, const struct slices *sl, const struct split *c)
{
	double pairs = sl->pairs ? sl->pairs : 1, all = c->user + c->sys;

	printf("%s %8.0f pairs/s (%llu failed, %llu REGISTERs resent); server CPU %.0f ms per 1000 pairs: user %.0f, "
	       "system %.0f (%.0f%% in the kernel); %.0f%% of one core used in its slices\n",
	       label, sl->pairs * 1000.0 / sl->ms, (unsigned long long)l->failed, (unsigned long long)l->resent,
	       all * 1000.0 / pairs, c->user * 1000.0 / pairs, c->sys * 1000.0 / pairs, all > 0 ? 100.0 * c->sys / all : 0.0,
	       100.0 * sl->cpu / sl->ms);
}

/* Drive l alone for ms, adding pairs done, time and server CPU to *acc. */
static void slice(struct load *l, int ms, struct slices *acc)
{
	uint64_t d0 = l->done;
	mtime_ms t0 = mtime_now();
	double c0 = cpu_ms(l->srv->pid), s0 = cpu_ms(getpid());

	l->pairs_on = true;
	pairs_sweep(l, t0);
	run_loop(l, t0 + ms, NULL, 0);
	acc->pairs += (double)(l->done - d0);
	acc->ms += (double)(mtime_now() - t0);
	acc->cpu += cpu_ms(l->srv->pid) - c0;
	acc->self_cpu += cpu_ms(getpid()) - s0;
	if (verbose)
		fprintf(stderr, "slice %s: %.0f pairs/s, server %.0f%% busy, load %.0f%%\n", l->srv->name,
			(double)(l->done - d0) * 1000.0 / ms, (cpu_ms(l->srv->pid) - c0) * 100.0 / ms,
			(cpu_ms(getpid()) - s0) * 100.0 / ms);
}

/* Open n idle clients (HELLO, then wait); returns how many were welcomed. */
static unsigned open_idle(struct load *l, unsigned n, int max_ms)
{
	mtime_ms end = mtime_now() + max_ms;
	bool was_on = l->pairs_on;

	l->pairs_on = false;
	l->idle = realloc(l->idle, n * sizeof(*l->idle));
	memset(l->idle + l->n_idle, 0, (n - l->n_idle) * sizeof(*l->idle));
	l->n_idle = n;
	while (l->idle_welcomed + l->idle_failed < n && mtime_now() < end)
		run_loop(l, mtime_now() + 100, NULL, 0);
	l->pairs_on = was_on;
	return l->idle_welcomed;
}

/* Print the lines of `cmd`'s output that contain any of `keep` (NULL-ended),
 * but no comment lines (perf's tips start with '#'). */
static void print_filtered(const char *cmd, const char *const *keep)
{
	char line[512];
	FILE *f = popen(cmd, "r");

	while (f && fgets(line, sizeof(line), f))
		for (int i = 0; keep[i] && line[0] != '#'; i++)
			if (strstr(line, keep[i])) {
				fputs(line, stdout);
				break;
			}
	if (f)
		pclose(f);
}

/* --profile: drive one server alone for 10 s while `perf record` samples
 * it, then print where its CPU went: the kernel against its own code and
 * libc, and the kernel's share by system call (with what each call set off
 * in the kernel, the loopback delivery of what it sent included). Without
 * perf, the user/system split printed above is the profile. */
static void profile_server(struct load *l)
{
	char data[128], pidarg[16], cmd[512];
	struct split c0, c;
	uint64_t d0 = l->done;
	pid_t perf;
	int st = 0;

	snprintf(data, sizeof(data), "/tmp/bench-perf-%d.data", (int)getpid());
	snprintf(pidarg, sizeof(pidarg), "%d", (int)l->srv->pid);
	printf("profiling: %s (pid %d) alone, %d pairs in flight, 10 s under perf record\n", l->srv->name,
	       (int)l->srv->pid, n_inflight);
	fflush(stdout);
	perf = fork();
	if (perf == 0) {
		int devnull = open("/dev/null", O_WRONLY);

		dup2(devnull, 1);
		dup2(devnull, 2);
		execlp("perf", "perf", "record", "-q", "-F", "1999", "-g", "-p", pidarg, "-o", data, "--", "sleep", "10",
		       (char *)NULL);
		_exit(127);
	}
	split_now(l->srv->pid, &c0);
	l->pairs_on = true;
	pairs_sweep(l, mtime_now());
	run_loop(l, mtime_now() + 10000, NULL, 0);
	split_since(l->srv->pid, &c0, &c);
	if (perf > 0)
		waitpid(perf, &st, 0);
	printf("meanwhile: %llu pairs; server CPU %.0f ms per 1000 pairs, user %.0f, system %.0f\n",
	       (unsigned long long)(l->done - d0), (c.user + c.sys) * 1000.0 / (double)(l->done - d0 ? l->done - d0 : 1),
	       c.user * 1000.0 / (double)(l->done - d0 ? l->done - d0 : 1),
	       c.sys * 1000.0 / (double)(l->done - d0 ? l->done - d0 : 1));
	if (perf < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		printf("no perf profile (perf not installed, or not allowed): the user/system split is the profile\n");
		unlink(data);
		return;
	}
	printf("perf: share of %s's samples by where they ran ([kernel.kallsyms]: the kernel):\n", l->srv->name);
	snprintf(cmd, sizeof(cmd), "perf report -i %s --stdio --no-children --sort dso -g none 2>/dev/null", data);
	print_filtered(cmd, (const char *const[]){ "%", NULL });
	printf("perf: the kernel's share by system call, with all it set off (loopback delivery included; "
	       "send() is sendto):\n");
	snprintf(cmd, sizeof(cmd), "perf report -i %s --stdio --children --sort sym -g none 2>/dev/null", data);
	print_filtered(cmd, (const char *const[]){ "__x64_sys_", "asm_exc_page_fault", NULL });
	printf("perf: functions outside the kernel over 0.5%% of its samples:\n");
	snprintf(cmd, sizeof(cmd),
		 "perf report -i %s --stdio --no-children --sort sym -g none --percent-limit 0.5 2>/dev/null", data);
	print_filtered(cmd, (const char *const[]){ "[.]", NULL });
	unlink(data);
}

/* One CPU for the server under test, another for this load generator, when
 * two are allowed: each server's capacity on one core is what is measured,
 * and the load generator neither steals from it nor waits for it. */
static void choose_cpus(void)
{
	cpu_set_t set;
	int first = -1, second = -1;

	if (sched_getaffinity(0, sizeof(set), &set) < 0)
		return;
	for (int i = 0; i < CPU_SETSIZE && second < 0; i++)
		if (CPU_ISSET(i, &set)) {
			if (first < 0)
				first = i;
			else
				second = i;
		}
	if (second < 0 || pin_to(second) < 0)
		return;
	cpu_server = first;
	cpu_load = second;
}

static int raise_nofile(rlim_t want)
{
	struct rlimit rl = { want, want };

	if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
		return 0;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	return -1;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "long", no_argument, NULL, 'L' },	     { "idle", required_argument, NULL, 'i' },
		{ "hold", required_argument, NULL, 'H' },   { "seconds", required_argument, NULL, 's' },
		{ "profile", no_argument, NULL, 'p' },	     { "only", required_argument, NULL, 'o' },
		{ "no-pin", no_argument, NULL, 'n' },	     { "verbose", no_argument, NULL, 'v' },
		{ "inflight", required_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};
	/* Sized for the run, as a deployment would be: the hash tables grow with --max-clients. */
	char maxc[32];
	const char *ps_args[] = { "-q", "--pair-timeout", "600", "--max-clients", maxc, "--max-per-ip", "0", NULL };
	const char *hostile_args[] = { "--pair-timeout", "30", NULL };
	unsigned n_idle = 10000, n_hold = 50000;
	int secs = 5, flat_secs = 20, opt, rc = 0;
	bool profile = false, pin = true;
	const char *only = NULL;
	struct server ps = { .name = "punch-server" }, tpc = { .name = "tpc-server" }, psi = { .name = "punch-idle" };
	char dir[4096], ps_path[4200], tpc_path[4200];
	struct load l, lt, li;
	double r_tpc, r_ps, r_idle, cpu_tpc = 0, cpu_ps = 0, cpu_idle = 0;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'L':
			flat_secs = 60;
			break;
		case 'i':
			n_idle = (unsigned)atoi(optarg);
			break;
		case 'H':
			n_hold = (unsigned)atoi(optarg);
			break;
		case 's':
			secs = atoi(optarg);
			break;
		case 'p':
			profile = true;
			break;
		case 'o':
			only = optarg;
			break;
		case 'n':
			pin = false;
			break;
		case 'v':
			verbose = true;
			break;
		case 'f':
			n_inflight = atoi(optarg);
			if (n_inflight < 1 || n_inflight > INFLIGHT_MAX) {
				fprintf(stderr, "bench_server: --inflight %s: not a number from 1 to %d\n", optarg,
					INFLIGHT_MAX);
				return 2;
			}
			break;
		default:
			fprintf(stderr, "usage: bench_server [--long] [--idle N] [--hold N] [--seconds S] [--profile] "
					"[--only PHASE] [--no-pin] [--verbose] [--inflight N]\n");
			return 2;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	if (pin)
		choose_cpus();
	log_init("bench_server", LOG_LVL_WARN); /* the session table measured in-process is quiet */
	/* $(O)/bench/bench_server: the servers are $(O)/punch-server and $(O)/bench/tpc-server. */
	if (bench_bindir(dir, sizeof(dir)) < 0) {
		fprintf(stderr, "bench_server: cannot tell where the programs are\n");
		return 1;
	}
	snprintf(ps_path, sizeof(ps_path), "%s/punch-server", dir);
	snprintf(tpc_path, sizeof(tpc_path), "%s/bench/tpc-server", dir);
	if (raise_nofile(4 * (rlim_t)(n_hold > n_idle ? n_hold : n_idle) + 20000) < 0) {
		struct rlimit rl;

		/* Without CAP_SYS_RESOURCE the hard limit is the ceiling, for
		 * the server (one process, one descriptor per client) and for
		 * this load generator alike. */
		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_max < n_hold + HOLD_SPARE) {
			printf("note: descriptor hard limit %lu cannot be raised here (no CAP_SYS_RESOURCE): holding %lu "
			       "clients, not %u\n",
			       (unsigned long)rl.rlim_max, (unsigned long)rl.rlim_max - HOLD_SPARE, n_hold);
			n_hold = (unsigned)rl.rlim_max - HOLD_SPARE;
		}
	}

	snprintf(maxc, sizeof(maxc), "%u", (n_hold > n_idle ? n_hold : n_idle) + 2000);
	printf("== server: punch-server vs thread-per-client (tpc-server), loopback, %d pairs in flight\n", n_inflight);
	/* Why pinned is fair: each server gets one whole core, the same one,
	 * and the load generator another, so neither steals CPU from the
	 * other and a server that needs less CPU per pair cannot win by
	 * leaving more of a shared core to the load generator. On loopback
	 * the kernel runs the receiving side of a packet in the sender's
	 * system call, so the handshake and the server side of a client's
	 * HELLO, REGISTER and reset are charged to the load generator's
	 * core, and the client side of WELCOME, REG_ACK and PEER to the
	 * server's: the same packets, so the same kernel work, for both
	 * servers. What differs is each server's own cost around it. */
	if (cpu_server >= 0)
		printf("pinned: each server on CPU %d, this load generator on CPU %d (--no-pin: not)\n", cpu_server,
		       cpu_load);
	else
		printf("not pinned: servers and load generator share the CPUs\n");
	if (only && strcmp(only, "pairs") != 0)
		goto hold;
	/* 1. pairs/s of the baseline, of punch-server, and of a second
	 * punch-server with n_idle clients waiting, in interleaved slices of
	 * half a second each: whatever else runs on the machine falls on all three
	 * alike, and the ratios stay meaningful. */
	gen++;
	if (start_server(&tpc, tpc_path, NULL) < 0 || load_init(&lt, &tpc) < 0)
		return 1;
	if (start_server(&ps, ps_path, ps_args) < 0 || load_init(&l, &ps) < 0)
		return 1;
	if (start_server(&psi, ps_path, ps_args) < 0 || load_init(&li, &psi) < 0)
		return 1;
	{
		mtime_ms t_open = mtime_now();
		unsigned got = open_idle(&li, n_idle, 30000);
		struct slices st = { 0 }, sp = { 0 }, si = { 0 };
		struct split ct0, cp0, ci0, ct, cp, ci;

		printf("%u idle clients connected, said HELLO and got WELCOME from the second punch-server in %lld ms\n",
		       got, (long long)(mtime_now() - t_open));
		/* Half-second slices: more of them average out the rest of the
		 * machine better. The server CPU per pair is taken over the
		 * whole phase, gaps included: between its slices a server still
		 * finishes what the load generator sent it last. */
		split_now(tpc.pid, &ct0);
		split_now(ps.pid, &cp0);
		split_now(psi.pid, &ci0);
		for (int r = 0; r < 2 * secs; r++) {
			slice(&lt, 500, &st);
			slice(&l, 500, &sp);
			slice(&li, 500, &si);
		}
		split_since(tpc.pid, &ct0, &ct);
		split_since(ps.pid, &cp0, &cp);
		split_since(psi.pid, &ci0, &ci);
		r_tpc = st.pairs * 1000.0 / st.ms;
		r_ps = sp.pairs * 1000.0 / sp.ms;
		r_idle = si.pairs * 1000.0 / si.ms;
		cpu_tpc = (ct.user + ct.sys) * 1000.0 / (st.pairs ? st.pairs : 1);
		cpu_ps = (cp.user + cp.sys) * 1000.0 / (sp.pairs ? sp.pairs : 1);
		cpu_idle = (ci.user + ci.sys) * 1000.0 / (si.pairs ? si.pairs : 1);
		print_server("tpc-server:  ", &lt, &st, &ct);
		print_server("punch-server:", &l, &sp, &cp);
		printf("ratio punch-server / tpc-server: %.2f in pairs/s (target >= 5); %.2f in server CPU per pair "
		       "(pairs per CPU-second of one core)\n",
		       r_ps / r_tpc, cpu_ps > 0 ? cpu_tpc / cpu_ps : 0.0);
		/* Pairs/s is a server's capacity only when its core was busy:
		 * if not, something else set the pace (the load generator, or
		 * the rest of the machine delaying every wake-up), and only
		 * the CPU per pair still compares the servers themselves. */
		if (st.cpu < 0.8 * st.ms || sp.cpu < 0.8 * sp.ms)
			printf("note: a server used under 80%% of a core (tpc-server %.0f%%, punch-server %.0f%%): the "
			       "pairs/s ratio is not a ratio of capacities here; the CPU per pair one is\n",
			       100.0 * st.cpu / st.ms, 100.0 * sp.cpu / sp.ms);
		/* The load generator's own cost says whether it, not the server, set the pace. */
		printf("load generator CPU per 1000 pairs: %.0f ms against tpc-server, %.0f against punch-server, %.0f "
		       "against punch-server with idle clients; it used %.0f%%, %.0f%%, %.0f%% of one core\n",
		       st.self_cpu * 1000.0 / (st.pairs ? st.pairs : 1), sp.self_cpu * 1000.0 / (sp.pairs ? sp.pairs : 1),
		       si.self_cpu * 1000.0 / (si.pairs ? si.pairs : 1), 100.0 * st.self_cpu / st.ms,
		       100.0 * sp.self_cpu / sp.ms, 100.0 * si.self_cpu / si.ms);
		printf("punch-server with %u idle clients waiting: %8.0f pairs/s (%llu failed), server CPU %.0f ms per "
		       "1000 pairs; ratio to none: %.2f in pairs/s (target >= 0.90), %.2f in CPU per pair\n",
		       got, r_idle, (unsigned long long)li.failed, cpu_idle, r_idle / r_ps,
		       cpu_idle > 0 ? cpu_ps / cpu_idle : 0.0);
	}
	if (profile) {
		profile_server(&lt);
		profile_server(&l);
	}
	load_free(&lt);
	stop_server(&tpc);
	load_free(&li);
	stop_server(&psi);
	/* 3. flat over a longer run, on a fresh server: the first quarter
	 * against the last, in pairs/s and in server CPU per pair; then the
	 * aged server against a fresh one in interleaved slices, which the
	 * rest of the machine cannot bias. */
	load_free(&l);
	stop_server(&ps);
	gen++;
	if (start_server(&ps, ps_path, ps_args) < 0 || load_init(&l, &ps) < 0)
		return 1;
	{
		struct slices q1 = { 0 }, mid = { 0 }, q4 = { 0 }, aged = { 0 }, fresh = { 0 };
		int q = flat_secs / 4;
		long rss0 = rss_kib(ps.pid);

		l.pairs_on = true;
		pairs_sweep(&l, mtime_now());
		slice(&l, q * 1000, &q1);
		slice(&l, (flat_secs - 2 * q) * 1000, &mid);
		slice(&l, q * 1000, &q4);
		printf("over %d s (%s): first %d s %.0f pairs/s at %.0f ms CPU per 1000, last %d s %.0f pairs/s at %.0f ms; "
		       "last/first: %.2f in pairs/s, %.2f in CPU per pair (flat: about 1); %llu failed; server RSS %ld -> %ld KiB "
		       "after %.0f pairs\n",
		       flat_secs, flat_secs == 60 ? "--long" : "shortened; --long for 60 s", q, q1.pairs * 1000.0 / q1.ms,
		       q1.cpu * 1000.0 / (q1.pairs ? q1.pairs : 1), q, q4.pairs * 1000.0 / q4.ms,
		       q4.cpu * 1000.0 / (q4.pairs ? q4.pairs : 1), (q4.pairs / q4.ms) / (q1.pairs / q1.ms),
		       (q1.cpu / (q1.pairs ? q1.pairs : 1)) / (q4.cpu / (q4.pairs ? q4.pairs : 1)),
		       (unsigned long long)l.failed, rss0, rss_kib(ps.pid), q1.pairs + mid.pairs + q4.pairs);
		if (start_server(&psi, ps_path, ps_args) < 0 || load_init(&li, &psi) < 0)
			return 1;
		for (int r = 0; r < 6; r++) {
			slice(&l, 500, &aged);
			slice(&li, 500, &fresh);
		}
		printf("after %d s of pairs against a fresh server, interleaved: %.0f vs %.0f pairs/s, ratio %.2f "
		       "(flat: about 1); %.2f in CPU per pair\n",
		       flat_secs + 3, aged.pairs * 1000.0 / aged.ms, fresh.pairs * 1000.0 / fresh.ms,
		       (aged.pairs / aged.ms) / (fresh.pairs / fresh.ms),
		       (fresh.cpu / (fresh.pairs ? fresh.pairs : 1)) / (aged.cpu / (aged.pairs ? aged.pairs : 1)));
		load_free(&li);
		stop_server(&psi);
	}
	load_free(&l);
	stop_server(&ps);

hold:
	if (only && strcmp(only, "hold") != 0)
		goto hostile;
	/* 4. memory: RSS per waiting client, and how many are held */
	gen++;
	if (start_server(&ps, ps_path, ps_args) < 0 || load_init(&l, &ps) < 0)
		return 1;
	{
		long before = rss_kib(ps.pid), after, slab0 = slab_kib(), slab1;
		unsigned got = open_idle(&l, n_hold, 60000);

		after = rss_kib(ps.pid);
		slab1 = slab_kib();
		printf("punch-server holding %u of %u waiting clients: RSS %ld -> %ld KiB, %.0f bytes per client "
		       "(target <= 1024)\n",
		       got, n_hold, before, after, got ? (double)(after - before) * 1024.0 / got : 0.0);
		/* Both ends of each loopback connection live in this kernel; the
		 * server's end is about half (socket, file, epoll item). */
		printf("kernel slab meanwhile: %ld -> %ld KiB, %.0f bytes per connection, both ends; about %.0f per "
		       "server socket (not in the RSS above)\n",
		       slab0, slab1, got ? (double)(slab1 - slab0) * 1024.0 / got : 0.0,
		       got ? (double)(slab1 - slab0) * 512.0 / got : 0.0);
		hold_ceiling(ps.pid, got, got ? (double)(after - before) * 1024.0 / got : 0.0,
			     got ? (double)(slab1 - slab0) * 512.0 / got : 0.0);
		if (got < n_hold)
			rc = 1;
		if (waitpid(ps.pid, NULL, WNOHANG) == ps.pid) {
			printf("punch-server DIED during the hold (log: %s)\n", ps.log);
			ps.pid = 0;
			return 1;
		}
	}
	table_hold(50000);
	load_free(&l);
	stop_server(&ps);

hostile:
	if (only && strcmp(only, "hostile") != 0)
		return rc;
	/* 5. hostile: 1,000 connections from one address, legitimate pairs from others */
	gen++;
	if (start_server(&ps, ps_path, hostile_args) < 0 || load_init(&l, &ps) < 0)
		return 1;
	{
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f420001) };
		long lines0, lines1;
		mtime_ms t0;
		uint64_t d0, f0;
		const int hostile_ms = 20000;

		l.bind_sources = true; /* legitimate pairs from many addresses, under the per-address limits */
		l.hostile = calloc(HOSTILE, sizeof(*l.hostile));
		l.n_hostile = HOSTILE;
		l.hostile_udp = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (!l.hostile || l.hostile_udp < 0 || bind(l.hostile_udp, (struct sockaddr *)&a, sizeof(a)) < 0 ||
		    connect(l.hostile_udp, (struct sockaddr *)&ps.tcp, sizeof(ps.tcp)) < 0)
			return 1;
		for (unsigned i = 0; i < HOSTILE; i++) {
			l.hostile[i].ev.kind = K_HOSTILE;
			l.hostile[i].mode = (enum hmode)(i % 3);
			hostile_connect(&l, &l.hostile[i]);
		}
		run_loop(&l, mtime_now() + 1000, NULL, 0); /* the attack is under way */
		lines0 = count_lines(ps.log);
		d0 = l.done;
		f0 = l.failed;
		t0 = mtime_now();
		l.pairs_on = true;
		pairs_sweep(&l, t0);
		run_loop(&l, t0 + hostile_ms, NULL, 0);
		lines1 = count_lines(ps.log);
		{
			uint64_t ok = l.done - d0, bad = l.failed - f0;
			double secs_run = (double)(mtime_now() - t0) / 1000.0;

			printf("under attack (%u hostile connections from 127.66.0.1 stalling, flooding, sending garbage; "
			       "%llu connection attempts): %llu legitimate pairs, %llu failed: %.2f%% paired (target >= 99%%); "
			       "%.0f pairs/s\n",
			       HOSTILE, (unsigned long long)l.hostile_conns, (unsigned long long)ok,
			       (unsigned long long)bad, ok + bad ? 100.0 * (double)ok / (double)(ok + bad) : 0.0,
			       (double)ok / secs_run);
			printf("server log meanwhile: %ld lines in %.0f s = %.0f lines/minute (target: a few hundred at most)\n",
			       lines1 - lines0, secs_run, (double)(lines1 - lines0) * 60.0 / secs_run);
		}
	}
	load_free(&l);
	stop_server(&ps);
	unlink(ps.log);
	unlink(tpc.log);
	return rc;
}
