/* punch-abuse: throws hostile input at a punch-server and checks that it
 * survives, answers nobody who has not proven anything, and keeps serving.
 *
 *   punch-abuse --server IP:PORT [--bind IP] [--loris N] [--rounds N]
 *   punch-abuse --server IP:PORT --limits MAX   (server runs with --max-clients MAX)
 *   punch-abuse --server IP:PORT --bind IP --flood N --seconds S
 *
 * --flood keeps N connections from one address busy for S seconds: a third
 * stall (connect, say nothing), a third send garbage once, a third flood the
 * server with garbage; each one the server closes comes straight back, and
 * garbage datagrams go to the UDP port all along. SIGTERM or SIGINT ends it
 * earlier (a test stops it once the server's log shows what it came for).
 * It checks nothing itself (the legitimate clients pairing meanwhile are the
 * check) and prints how many connections it made, in how long.
 *
 * Each check prints "ok - ..." or "not ok - ..."; the exit status is 0 only
 * when all passed. "No answer" is never judged by waiting an arbitrary time:
 * after the hostile datagrams, the same socket sends a valid REGISTER for a
 * marker client, and the first answer on that socket must be its REG_ACK.
 * Since the server handles one socket's datagrams in order, anything sent
 * back for the hostile ones would arrive first. */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/addr.h"
#include "common/mtime.h"
#include "proto/wire.h"

#define WAIT_MS 10000 /* generous: a loaded machine must not fail a check */

static struct addr server;
static struct addr bind_ip;
static int failures;
static unsigned name_seq;

static void check(bool ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void check(bool ok, const char *fmt, ...)
{
	va_list ap;

	printf("%s - ", ok ? "ok" : "not ok");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	if (!ok)
		failures++;
}

static void die(const char *what)
{
	fprintf(stderr, "punch-abuse: %s: %s\n", what, strerror(errno));
	exit(2);
}

static void fill_random(void *buf, size_t len)
{
	if (getrandom(buf, len, 0) != (ssize_t)len)
		die("getrandom");
}

/* --- TCP ------------------------------------------------------------------- */

struct tcp {
	int fd;
	size_t len;
	uint8_t buf[WIRE_MSG_MAX];
};

static void tcp_open(struct tcp *t)
{
	struct addr b = bind_ip;

	memset(t, 0, sizeof(*t));
	t->fd = socket(addr_family(&server), SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (t->fd < 0)
		die("socket");
	addr_set_port(&b, 0);
	if (bind_ip.len && bind(t->fd, &b.u.sa, b.len) < 0)
		die("bind");
	if (connect(t->fd, &server.u.sa, server.len) < 0)
		die("connect");
}

static void tcp_close(struct tcp *t)
{
	if (t->fd >= 0)
		close(t->fd);
	t->fd = -1;
}

static bool send_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

static bool tcp_send_msg(struct tcp *t, const struct wire_msg *m)
{
	uint8_t buf[WIRE_MSG_MAX];
	int n = wire_build(buf, sizeof(buf), m, NULL);

	return n > 0 && send_all(t->fd, buf, (size_t)n);
}

/* Read one message. Returns 1 with *m, 0 on EOF or reset, -1 on timeout or garbage. */
static int tcp_read_msg(struct tcp *t, struct wire_msg *m, int timeout_ms)
{
	mtime_ms end = mtime_now() + timeout_ms;

	for (;;) {
		int r = wire_parse(t->buf, t->len, m);
		struct pollfd pfd = { .fd = t->fd, .events = POLLIN };
		ssize_t n;

		if (r < 0)
			return -1;
		if (r > 0) {
			memmove(t->buf, t->buf + r, t->len - (size_t)r);
			t->len -= (size_t)r;
			return 1;
		}
		if (poll(&pfd, 1, mtime_until(mtime_now(), end)) <= 0)
			return -1;
		n = recv(t->fd, t->buf + t->len, sizeof(t->buf) - t->len, 0);
		if (n <= 0)
			return 0;
		t->len += (size_t)n;
	}
}

/* The server must close the connection: returns true when EOF or reset comes
 * in time; *err gets the code of an ERROR message seen before, or 0. */
static bool tcp_expect_close(struct tcp *t, int *err)
{
	mtime_ms end = mtime_now() + WAIT_MS;
	struct wire_msg m;

	*err = 0;
	for (;;) {
		int r = tcp_read_msg(t, &m, mtime_until(mtime_now(), end));

		if (r == 0)
			return true;
		if (r < 0) {
			/* Not a message: drain raw bytes until EOF. */
			struct pollfd pfd = { .fd = t->fd, .events = POLLIN };
			uint8_t sink[4096];
			ssize_t n;

			if (poll(&pfd, 1, mtime_until(mtime_now(), end)) <= 0)
				return false;
			n = recv(t->fd, sink, sizeof(sink), 0);
			if (n <= 0)
				return true;
			t->len = 0;
			continue;
		}
		if (m.type == WIRE_ERROR)
			*err = m.u.error.code;
	}
}

static void hello_msg(struct wire_msg *m, const char *name)
{
	memset(m, 0, sizeof(*m));
	m->type = WIRE_HELLO;
	snprintf(m->u.hello.session, sizeof(m->u.hello.session), "%s", name);
}

/* --- UDP ------------------------------------------------------------------- */

static int udp_open(struct addr *local)
{
	struct addr b = bind_ip;
	int fd = socket(addr_family(&server), SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		die("socket");
	if (!bind_ip.len)
		addr_any(&b, addr_family(&server), 0);
	addr_set_port(&b, 0);
	if (bind(fd, &b.u.sa, b.len) < 0)
		die("bind");
	/* Connected: the kernel fills in the source IP we need to compare. */
	if (connect(fd, &server.u.sa, server.len) < 0 || addr_local(fd, local) < 0)
		die("udp connect");
	return fd;
}

/* Receive one datagram within timeout_ms; returns its length or -1. */
static ssize_t udp_recv(int fd, uint8_t *buf, size_t size, int timeout_ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	if (poll(&pfd, 1, timeout_ms) <= 0)
		return -1;
	return recv(fd, buf, size, 0);
}

static size_t build_register(uint8_t *buf, const uint8_t *token)
{
	struct wire_msg m;

	memset(&m, 0, sizeof(m));
	m.type = WIRE_REGISTER;
	memcpy(m.u.reg.token, token, WIRE_TOKEN_LEN);
	return (size_t)wire_build(buf, WIRE_MSG_MAX, &m, NULL);
}

/* --- a legitimate client ----------------------------------------------------- */

struct client {
	struct tcp tcp;
	int udp;
	struct addr local;
	uint32_t id;
	uint8_t token[WIRE_TOKEN_LEN];
	struct wire_msg peer;
};

static bool client_hello(struct client *c, const char *name)
{
	struct wire_msg m;

	tcp_open(&c->tcp);
	c->udp = udp_open(&c->local);
	hello_msg(&m, name);
	if (!tcp_send_msg(&c->tcp, &m) || tcp_read_msg(&c->tcp, &m, WAIT_MS) != 1 || m.type != WIRE_WELCOME)
		return false;
	c->id = m.u.welcome.client_id;
	memcpy(c->token, m.u.welcome.token, WIRE_TOKEN_LEN);
	return true;
}

/* REGISTER from socket fd; true when the first answer is our REG_ACK with the right observed endpoint. */
static bool client_register_from(struct client *c, int fd, const struct addr *from)
{
	uint8_t buf[WIRE_MSG_MAX];
	size_t n = build_register(buf, c->token);
	struct wire_msg m;
	struct addr seen;
	ssize_t r;

	if (send(fd, buf, n, 0) != (ssize_t)n)
		return false;
	r = udp_recv(fd, buf, sizeof(buf), WAIT_MS);
	return r > 0 && wire_parse_datagram(buf, (size_t)r, &m) == 0 && m.type == WIRE_REG_ACK &&
	       m.u.reg_ack.client_id == c->id && addr_from_wire(&seen, &m.u.reg_ack.observed) == 0 &&
	       addr_equal(&seen, from);
}

static void client_close(struct client *c)
{
	tcp_close(&c->tcp);
	if (c->udp >= 0)
		close(c->udp);
	c->udp = -1;
}

/* A marker: a client that waits alone, whose token proves "the server answers
 * this socket" after hostile datagrams. */
static bool marker_open(struct client *mk)
{
	char name[32];

	snprintf(name, sizeof(name), "marker-%d-%u", (int)getpid(), ++name_seq);
	return client_hello(mk, name);
}

/* After hostile datagrams from fd: the first answer must be the marker's REG_ACK. */
static bool nothing_came_back(struct client *mk, int fd, const struct addr *from)
{
	return client_register_from(mk, fd, from);
}

static bool pair_up(struct client *a, struct client *b)
{
	char name[32];
	struct addr ap, bp;

	snprintf(name, sizeof(name), "abuse-%d-%u", (int)getpid(), ++name_seq);
	if (!client_hello(a, name) || !client_hello(b, name))
		return false;
	if (!client_register_from(a, a->udp, &a->local) || !client_register_from(b, b->udp, &b->local))
		return false;
	if (tcp_read_msg(&a->tcp, &a->peer, WAIT_MS) != 1 || a->peer.type != WIRE_PEER ||
	    tcp_read_msg(&b->tcp, &b->peer, WAIT_MS) != 1 || b->peer.type != WIRE_PEER)
		return false;
	return a->peer.u.peer.role == 1 && b->peer.u.peer.role == 2 &&
	       a->peer.u.peer.session_id == b->peer.u.peer.session_id &&
	       memcmp(a->peer.u.peer.secret, b->peer.u.peer.secret, WIRE_KEY_LEN) == 0 &&
	       addr_from_wire(&ap, &b->peer.u.peer.peer_public) == 0 && addr_equal(&ap, &a->local) &&
	       addr_from_wire(&bp, &a->peer.u.peer.peer_public) == 0 && addr_equal(&bp, &b->local);
}

static size_t build_relay(uint8_t *buf, const struct client *c, uint32_t seq, const uint8_t *key)
{
	struct wire_msg inner, m;
	int n;

	memset(&inner, 0, sizeof(inner));
	inner.type = WIRE_DATA;
	inner.u.p2p.session_id = c->peer.u.peer.session_id;
	inner.u.p2p.role = c->peer.u.peer.role;
	inner.u.p2p.seq = seq;
	inner.u.p2p.payload_len = 4;
	memcpy(inner.u.p2p.payload, "ping", 4);
	memset(&m, 0, sizeof(m));
	m.type = WIRE_RELAY;
	m.u.relay.session_id = c->peer.u.peer.session_id;
	m.u.relay.role = c->peer.u.peer.role;
	m.u.relay.seq = seq; /* the server forwards each seq once */
	n = wire_build(m.u.relay.inner, sizeof(m.u.relay.inner), &inner, key);
	if (n < 0)
		return 0;
	m.u.relay.inner_len = (uint16_t)n;
	n = wire_build(buf, WIRE_MSG_MAX, &m, key);
	return n < 0 ? 0 : (size_t)n;
}

/* --- the abuse ------------------------------------------------------------- */

static void abuse_udp(void)
{
	static uint8_t big[65507];
	uint8_t buf[WIRE_MSG_MAX], token[WIRE_TOKEN_LEN];
	struct client mk = { .udp = -1 };
	struct addr local;
	int fd = udp_open(&local);
	size_t n;

	if (!marker_open(&mk)) {
		check(false, "udp: marker client gets WELCOME");
		return;
	}
	fill_random(big, sizeof(big));
	send(fd, big, sizeof(big), 0); /* 64 KiB of garbage */
	send(fd, big, 1, 0);
	send(fd, big, 0, 0);
	fill_random(token, sizeof(token));
	n = build_register(buf, token);
	send(fd, buf, n, 0);     /* unknown token */
	send(fd, buf, n - 1, 0); /* truncated */
	send(fd, buf, 8, 0);     /* header only */
	memcpy(big, buf, n);
	send(fd, big, 4096, 0); /* REGISTER header with trailing junk */
	buf[2] = 9;
	send(fd, buf, n, 0); /* wrong version */
	buf[2] = WIRE_VERSION;
	buf[4] = 0xff, buf[5] = 0xff;
	send(fd, buf, n, 0); /* huge body length */
	check(nothing_came_back(&mk, fd, &local),
	      "udp: garbage, 64 KiB, truncated, unknown-token REGISTER get no answer and the server still answers");
	client_close(&mk);
	close(fd);
}

static void abuse_replay(void)
{
	struct client a = { .udp = -1 }, b = { .udp = -1 }, mk = { .udp = -1 };
	uint8_t reg[WIRE_MSG_MAX], relay[WIRE_MSG_MAX], got[WIRE_MSG_MAX], bad_key[WIRE_KEY_LEN];
	struct addr xl;
	int x;
	size_t rn, n;
	ssize_t r;

	if (!pair_up(&a, &b)) {
		check(false, "replay: a legitimate pair is introduced with observed endpoints");
		goto out;
	}
	check(true, "replay: a legitimate pair is introduced with observed endpoints");
	if (!marker_open(&mk)) {
		check(false, "replay: marker client gets WELCOME");
		goto out;
	}
	/* The captured REGISTER, resent from another port after PEER: ignored. */
	x = udp_open(&xl);
	rn = build_register(reg, a.token);
	send(x, reg, rn, 0);
	check(nothing_came_back(&mk, x, &xl), "replay: REGISTER replayed from another port after PEER gets no answer");
	check(client_register_from(&a, a.udp, &a.local), "replay: REGISTER repeated from the same address is answered");

	/* RELAY: the real one passes; replays from elsewhere and forgeries do not. */
	n = build_relay(relay, &a, 1, a.peer.u.peer.secret);
	send(a.udp, relay, n, 0);
	r = udp_recv(b.udp, got, sizeof(got), WAIT_MS);
	check(r == (ssize_t)n && memcmp(got, relay, n) == 0, "replay: a valid RELAY is forwarded unchanged");
	send(x, relay, n, 0);     /* replayed from another port */
	send(b.udp, relay, n, 0); /* reflected from the partner */
	send(a.udp, relay, n, 0); /* replayed from the right endpoint: seq 1 again */
	fill_random(bad_key, sizeof(bad_key));
	n = build_relay(relay, &a, 2, bad_key);
	send(a.udp, relay, n, 0); /* forged tag */
	n = build_relay(relay, &a, 3, a.peer.u.peer.secret);
	send(a.udp, relay, n, 0); /* the marker: must be the first thing b gets */
	r = udp_recv(b.udp, got, sizeof(got), WAIT_MS);
	check(r == (ssize_t)n && memcmp(got, relay, n) == 0,
	      "replay: replayed (from elsewhere and from the right endpoint), reflected and forged RELAYs are "
	      "dropped, the valid one after them passes");
	r = udp_recv(a.udp, got, sizeof(got), 0);
	check(r < 0, "replay: the RELAY reflected from the partner's address is not forwarded back");
	close(x);
out:
	client_close(&a);
	client_close(&b);
	client_close(&mk);
}

static void tcp_case(const char *what, const void *bytes, size_t len, int want_err)
{
	struct tcp t;
	int err;

	tcp_open(&t);
	send_all(t.fd, bytes, len);
	check(tcp_expect_close(&t, &err) && (want_err == 0 || err == want_err), "tcp: %s: closed by the server%s",
	      what, want_err ? " after an ERROR" : "");
	tcp_close(&t);
}

static void abuse_tcp(void)
{
	static uint8_t junk[1 << 20];
	uint8_t buf[WIRE_MSG_MAX];
	struct wire_msg m;
	struct tcp t;
	int n;

	fill_random(junk, sizeof(junk));
	junk[0] = 0; /* not the magic, whatever the random bytes were */
	tcp_case("random garbage", junk, 512, WIRE_ERR_PROTOCOL);
	tcp_case("1 MiB of garbage", junk, sizeof(junk), 0);
	memcpy(buf, (const uint8_t[]){ WIRE_MAGIC0, WIRE_MAGIC1, WIRE_VERSION, WIRE_HELLO, 0xff, 0xff, 0, 0 }, 8);
	tcp_case("HELLO header with a 64 KiB body length", buf, 8, WIRE_ERR_PROTOCOL);
	memset(&m, 0, sizeof(m));
	m.type = WIRE_REG_ACK;
	m.u.reg_ack.observed.family = 4;
	n = wire_build(buf, sizeof(buf), &m, NULL);
	tcp_case("a server-to-client message", buf, (size_t)n, WIRE_ERR_PROTOCOL);
	hello_msg(&m, "");
	n = wire_build(buf, sizeof(buf), &m, NULL);
	memcpy(buf + n, buf, (size_t)n);
	tcp_case("two HELLOs", buf, 2 * (size_t)n, WIRE_ERR_PROTOCOL);
	tcp_case("HELLO with a bad session name",
		 (const uint8_t[]){ WIRE_MAGIC0, WIRE_MAGIC1, WIRE_VERSION, WIRE_HELLO, 0, 7, 0, 0, 0, 0, 0, 0, 2, '\n', '!' },
		 15, WIRE_ERR_PROTOCOL);
	/* Truncated, then our side closes: nothing to check but survival, which
	 * the next checks prove. */
	tcp_open(&t);
	send_all(t.fd, buf, 5);
	tcp_close(&t);
}

/* Slow-loris: connections that send a valid HELLO a byte at a time, slower
 * than the pair timeout allows. The server must keep serving meanwhile and
 * drop them itself. */
struct loris {
	struct tcp *t;
	int n;
	uint8_t msg[WIRE_MSG_MAX];
	size_t len;
	size_t sent;
};

static void loris_start(struct loris *l, int n)
{
	struct wire_msg m;

	l->n = n;
	l->t = calloc((size_t)n, sizeof(*l->t));
	if (!l->t)
		die("calloc");
	hello_msg(&m, "loris");
	l->len = (size_t)wire_build(l->msg, sizeof(l->msg), &m, NULL);
	l->sent = 0;
	for (int i = 0; i < n; i++)
		tcp_open(&l->t[i]);
}

/* Send one more byte on each (never the last one). */
static void loris_step(struct loris *l)
{
	if (l->sent + 1 >= l->len)
		return;
	for (int i = 0; i < l->n; i++)
		if (l->t[i].fd >= 0)
			send(l->t[i].fd, l->msg + l->sent, 1, MSG_NOSIGNAL);
	l->sent++;
}

static void loris_finish(struct loris *l)
{
	int closed = 0, timeouts = 0;

	for (int i = 0; i < l->n; i++) {
		int err;

		if (tcp_expect_close(&l->t[i], &err))
			closed++;
		if (err == WIRE_ERR_TIMEOUT)
			timeouts++;
		tcp_close(&l->t[i]);
	}
	check(closed == l->n && timeouts == l->n, "loris: %d of %d slow connections dropped with ERROR(TIMEOUT)",
	      timeouts, l->n);
	free(l->t);
}

static void check_limits(unsigned max)
{
	struct tcp *t = calloc(max + 1, sizeof(*t));
	struct client a = { .udp = -1 }, b = { .udp = -1 }, c = { .udp = -1 };
	struct wire_msg m;
	char name[32];
	int err;
	mtime_ms start;

	if (!t || max < 3)
		die("--limits needs at least 3");
	snprintf(name, sizeof(name), "limits-%d", (int)getpid());
	check(client_hello(&a, name) && client_hello(&b, name), "limits: two clients join session %s", name);
	tcp_open(&c.tcp);
	hello_msg(&m, name);
	tcp_send_msg(&c.tcp, &m);
	check(tcp_expect_close(&c.tcp, &err) && err == WIRE_ERR_SESSION,
	      "limits: a third client for the session gets ERROR(SESSION) and is closed");
	client_close(&c);
	/* Fill the server up: a and b are connected, max - 2 more. Closing b
	 * instead would race: the server may see its FIN after the next connect. */
	for (unsigned i = 0; i < max - 2; i++) {
		tcp_open(&t[i]);
		hello_msg(&m, "");
		tcp_send_msg(&t[i], &m);
	}
	/* Wait until the server has taken them all: each gets WELCOME. */
	for (unsigned i = 0; i < max - 2; i++) {
		if (tcp_read_msg(&t[i], &m, WAIT_MS) != 1 || m.type != WIRE_WELCOME)
			check(false, "limits: client %u gets WELCOME", i);
	}
	tcp_open(&t[max - 2]);
	check(tcp_expect_close(&t[max - 2], &err) && err == WIRE_ERR_FULL,
	      "limits: client %u of %u gets ERROR(FULL) and is closed", max + 1, max);
	for (unsigned i = 0; i < max - 1; i++)
		tcp_close(&t[i]);
	/* a and b never register: the pair timeout drops them. */
	start = mtime_now();
	check(tcp_expect_close(&a.tcp, &err) && err == WIRE_ERR_TIMEOUT,
	      "limits: a client without partner gets ERROR(TIMEOUT) (after %lld ms)", (long long)(mtime_now() - start));
	client_close(&a);
	client_close(&b);
	free(t);
}

/* --- flood ------------------------------------------------------------------ */

/* A nonblocking connection from bind_ip, or -1: a full backlog must not hold the flood up. */
static int flood_connect(void)
{
	struct addr b = bind_ip;
	int fd = socket(addr_family(&server), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	addr_set_port(&b, 0);
	if ((bind_ip.len && bind(fd, &b.u.sa, b.len) < 0) ||
	    (connect(fd, &server.u.sa, server.len) < 0 && errno != EINPROGRESS)) {
		close(fd);
		return -1;
	}
	return fd;
}

static volatile sig_atomic_t flood_stop;

static void flood_on_signal(int sig)
{
	flood_stop = 1;
}

static void flood(int n, int seconds)
{
	struct sigaction sa = { .sa_handler = flood_on_signal }; /* no SA_RESTART: poll() returns */
	mtime_ms start = mtime_now();
	struct pollfd *p = calloc((size_t)n + 1, sizeof(*p));
	uint8_t *sent = calloc((size_t)n, 1);
	static uint8_t junk[8192], sink[4096];
	unsigned long conns = 0, closed = 0;
	mtime_ms end = start + (mtime_ms)seconds * 1000;
	int u;

	if (!p || !sent)
		die("calloc");
	fill_random(junk, sizeof(junk));
	u = socket(addr_family(&server), SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (u < 0)
		die("socket");
	if (bind_ip.len) {
		struct addr b = bind_ip;

		addr_set_port(&b, 0);
		if (bind(u, &b.u.sa, b.len) < 0)
			die("bind");
	}
	for (int i = 0; i < n; i++)
		p[i].fd = -1;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGTERM, &sa, NULL) < 0 || sigaction(SIGINT, &sa, NULL) < 0)
		die("sigaction");
	while (!flood_stop && mtime_now() < end) {
		for (int i = 0; i < n; i++) {
			if (p[i].fd >= 0)
				continue;
			p[i].fd = flood_connect();
			if (p[i].fd < 0)
				continue;
			p[i].events = POLLIN | (i % 3 ? POLLOUT : 0);
			sent[i] = 0;
			conns++;
		}
		for (int k = 0; k < 16; k++)
			(void)!sendto(u, junk + k, 40 + (size_t)k * 13, MSG_DONTWAIT, &server.u.sa, server.len);
		if (poll(p, (nfds_t)n, 10) <= 0)
			continue;
		for (int i = 0; i < n; i++) {
			if (p[i].revents & POLLOUT) {
				/* i % 3 == 1: garbage once; 2: garbage as fast as it goes. */
				(void)!send(p[i].fd, junk, i % 3 == 2 ? sizeof(junk) : 100, MSG_NOSIGNAL | MSG_DONTWAIT);
				if (i % 3 == 1)
					p[i].events = POLLIN;
			}
			if (p[i].revents & (POLLIN | POLLHUP | POLLERR)) {
				ssize_t r = recv(p[i].fd, sink, sizeof(sink), MSG_DONTWAIT);

				if (r == 0 || (r < 0 && errno != EAGAIN) || (p[i].revents & (POLLHUP | POLLERR))) {
					close(p[i].fd);
					p[i].fd = -1;
					closed++;
				}
			}
		}
	}
	for (int i = 0; i < n; i++)
		if (p[i].fd >= 0)
			close(p[i].fd);
	close(u);
	printf("flood: %lu connections from one address in %.1f s (%s), %lu closed by the server\n", conns,
	       (double)(mtime_now() - start) / 1000, flood_stop ? "stopped" : "its whole time", closed);
	free(p);
	free(sent);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: punch-abuse --server IP:PORT [--bind IP] [--loris N] [--rounds N]\n"
		   "       punch-abuse --server IP:PORT [--bind IP] --limits MAX\n"
		   "       punch-abuse --server IP:PORT --bind IP --flood N --seconds S\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "server", required_argument, NULL, 's' }, { "bind", required_argument, NULL, 'b' },
		{ "loris", required_argument, NULL, 'l' },  { "rounds", required_argument, NULL, 'r' },
		{ "limits", required_argument, NULL, 'L' }, { "help", no_argument, NULL, 'h' },
		{ "flood", required_argument, NULL, 'F' },  { "seconds", required_argument, NULL, 'S' },
		{ NULL, 0, NULL, 0 },
	};
	int opt, nloris = 32, rounds = 3, limits = 0, nflood = 0, seconds = 10;
	bool have_server = false;
	struct loris l;

	while ((opt = getopt_long(argc, argv, "s:b:l:r:L:h", opts, NULL)) != -1) {
		switch (opt) {
		case 's':
			if (addr_parse(optarg, 3478, &server) < 0) {
				fprintf(stderr, "punch-abuse: bad --server %s\n", optarg);
				return 2;
			}
			have_server = true;
			break;
		case 'b':
			if (addr_parse(optarg, 0, &bind_ip) < 0) {
				fprintf(stderr, "punch-abuse: bad --bind %s\n", optarg);
				return 2;
			}
			break;
		case 'l':
			nloris = atoi(optarg);
			break;
		case 'r':
			rounds = atoi(optarg);
			break;
		case 'L':
			limits = atoi(optarg);
			break;
		case 'F':
			nflood = atoi(optarg);
			break;
		case 'S':
			seconds = atoi(optarg);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!have_server || nloris < 0 || nloris > 1000 || rounds < 1) {
		usage(stderr);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if (nflood > 0) {
		flood(nflood, seconds);
		return 0;
	}
	if (limits) {
		check_limits((unsigned)limits);
	} else {
		loris_start(&l, nloris);
		for (int i = 0; i < rounds; i++) {
			loris_step(&l);
			abuse_tcp();
			loris_step(&l);
			abuse_udp();
			loris_step(&l);
			abuse_replay();
		}
		loris_finish(&l);
	}
	printf("%s: %d failed\n", failures ? "FAIL" : "PASS", failures);
	return failures ? 1 : 0;
}
