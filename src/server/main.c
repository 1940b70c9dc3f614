/* punch-server: the rendezvous server. A thin epoll shell around the pure
 * session table (session.c): it owns the sockets, frames the TCP streams,
 * and carries out what the table says to send. One thread, one loop, no
 * blocking call on a client's socket anywhere. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <netinet/tcp.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/addr.h"
#include "common/cli.h"
#include "common/duration.h"
#include "common/log.h"
#include "common/num.h"
#include "common/svc.h"
#include "common/mtime.h"
#include "common/ratelim.h"
#include "proto/wire.h"
#include "server/session.h"

#define PROG "punch-server"
#define PROG_VERSION "0.1"
#define DEFAULT_PORT 3478
#define MAX_LISTEN 8
#define CONN_OUT_MAX 4096   /* the server sends a client a few hundred bytes in all */
/* A client only ever sends one HELLO on its connection, and the largest HELLO
 * is this long: anything longer is an error, so no more is buffered. */
#define CONN_IN_MAX (WIRE_HDR_LEN + 5 + WIRE_SESSION_MAX + WIRE_MAX_PRIVATE * WIRE_EP_LEN)
#define LINGER_MS 2000      /* how long a closing connection may take to flush */
#define UDP_BURST 64        /* datagrams read per wakeup, so TCP is not starved */
#define ACCEPT_BURST 512    /* a burst of connections is taken in few wake-ups */
#define DEFAULT_BACKLOG 4096 /* the kernel caps it at net.core.somaxconn */
#define UDP_BUF 65536       /* any datagram fits, so an oversized one is read whole and dropped */
#define DEFAULT_MAX_CLIENTS 16384
#define DEFAULT_PER_IP 256
#define DEFAULT_PER_NET 1024
#define DEFAULT_UNAUTH_PER_IP 128
#define DEFAULT_HELLO_MS 5000
#define LOG_BURST 20     /* log lines of one kind at once... */
#define LOG_REFILL_MS 4000 /* ...then one per this many ms */

enum ev_kind { EV_TCP_LISTEN, EV_UDP, EV_CONN, EV_SIGNAL };

struct ev {
	enum ev_kind kind;
};

struct listener {
	struct ev ev;
	int fd;
	int idx; /* UDP socket number, as the session table knows it */
	struct addr a;
};

enum conn_state {
	CONN_OPEN,    /* the table knows the client */
	CONN_CLOSING, /* the table is done with it: flush, then close */
	CONN_DEAD,    /* to be freed after this batch of events */
};

/* One control connection. Small on purpose (a server holds tens of thousands
 * waiting): an input buffer (one HELLO long) exists only while a message
 * arrived in part, an output buffer only while the kernel did not take all
 * that was sent. */
struct conn {
	struct ev ev;
	int fd;
	uint32_t id;
	uint8_t state;      /* enum conn_state */
	bool table_gone;    /* the table forgot the client already */
	bool want_out;      /* EPOLLOUT registered */
	bool shut;          /* SHUT_WR done */
	uint8_t in_len;
	uint16_t out_len;
	const char *why;    /* why it died, for the table */
	mtime_ms linger_end;
	struct conn *prev, *next; /* in srv->open or, once closing, srv->closing */
	struct conn *dead_next;
	uint8_t *out;       /* NULL when nothing waits to be sent */
	uint8_t *in;        /* NULL unless a message arrived in part */
};
_Static_assert(CONN_IN_MAX < 256, "in_len is a uint8_t");
_Static_assert(sizeof(struct conn) <= 96, "a waiting client's connection record stays small");

/* A list of connections; the closing one is in linger_end order, since every
 * connection lingers equally long and time only goes forward. */
struct conn_list {
	struct conn *head, *tail;
};

struct server {
	int ep;
	int sigfd;
	int reserve_fd; /* kept to accept-and-close when out of descriptors */
	bool stop;
	struct ev sig_ev;
	struct listener tcp[MAX_LISTEN], udp[MAX_LISTEN];
	int nlisten;
	struct sess_table *t;
	struct conn_list open, closing;
	struct conn *dead; /* to be freed by reap() */
	unsigned nconns;
	int backlog;
	mtime_ms stats_every, next_stats; /* --stats; next_stats -1: off */
	struct ratelim rl_conn, rl_err;
	uint64_t accepted, accept_emfile, accept_errors, out_full, malformed;
	uint64_t udp_send_errors;
	struct sess_out out; /* one output at a time, as drain() carries it out */
	uint8_t udp_buf[UDP_BUF];
};

/* Random bytes from the kernel, drawn 4 KiB at a time: a pair needs four
 * draws (two tokens, a session id, a secret), and one system call for
 * many pairs instead of four per pair is measurable at thousands of pairs
 * a second. The pool holds getrandom() output only, used once each. */
static int rand_bytes(void *arg, void *buf, size_t len)
{
	static uint8_t pool[4096];
	static size_t pos, end;
	uint8_t *p = buf;

	while (len > 0) {
		size_t n;

		if (pos == end) {
			ssize_t got = getrandom(pool, sizeof(pool), 0);

			if (got < 0) {
				if (errno == EINTR)
					continue;
				return -errno;
			}
			pos = 0;
			end = (size_t)got;
			continue;
		}
		n = len < end - pos ? len : end - pos;
		memcpy(p, pool + pos, n);
		explicit_bzero(pool + pos, n);
		pos += n;
		p += n;
		len -= n;
	}
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: " PROG " [options]\n"
		"The punchlab rendezvous server: pairs clients by session name, tells each\n"
		"its partner's endpoints as observed, and relays authenticated traffic.\n"
		"\n"
		"  -l, --listen ADDR          listen on this IP address (repeatable);\n"
		"                             default: 0.0.0.0 and ::\n"
		"  -p, --port N               TCP and UDP port (default %d; 0 = pick a free one,\n"
		"                             printed at start)\n"
		"      --pair-timeout SEC     drop a client with no partner after SEC (default 30)\n"
		"      --hello-timeout SEC    drop a connection that has not said HELLO after SEC\n"
		"                             (default 5, at most the pair timeout)\n"
		"      --session-timeout SEC  accepted for compatibility; a session now ends with\n"
		"                             its last client, and the relay with either\n"
		"      --max-clients N        connected clients at once (default %d); when full, a\n"
		"                             client from a lighter source pushes out the oldest\n"
		"                             client of the heaviest one\n"
		"      --max-per-ip N         connections per IP address (default %d; 0 = no limit)\n"
		"      --max-per-net N        connections per IPv6 /64 (default %d; 0 = no limit)\n"
		"      --max-unauth-per-ip N  connections per IP that have not said HELLO yet\n"
		"                             (default %d; 0 = no limit)\n"
		"      --backlog N            TCP listen backlog (default %d, capped by the kernel's\n"
		"                             net.core.somaxconn)\n"
		"      --stats SEC            log a line of counters every SEC (also on SIGUSR1)\n"
		"      --ready-fd N           write \"ready\\n\" to descriptor N once listening\n"
		"  -v, --verbose              log more (debug)\n"
		"  -q, --quiet                log warnings and errors only\n"
		"  -h, --help                 this help\n"
		"  -V, --version              print the version\n",
		DEFAULT_PORT, DEFAULT_MAX_CLIENTS, DEFAULT_PER_IP, DEFAULT_PER_NET, DEFAULT_UNAUTH_PER_IP,
		DEFAULT_BACKLOG);
}

static int ep_add(struct server *srv, int fd, uint32_t events, struct ev *ev)
{
	struct epoll_event e = { .events = events, .data.ptr = ev };

	return epoll_ctl(srv->ep, EPOLL_CTL_ADD, fd, &e) < 0 ? -errno : 0;
}

/* Open one socket bound to a:port, listening with `backlog` for TCP.
 * Returns the fd or -errno. */
static int open_socket(const struct addr *a, int type, int backlog)
{
	int fd, one = 1, r;

	fd = socket(addr_family(a), type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (type == SOCK_STREAM && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
		goto fail;
	/* The server writes whole messages, once each: no reason to let Nagle
	 * hold a PEER back behind an unacknowledged WELCOME. Accepted sockets
	 * inherit the option on Linux, which saves a call per connection. */
	if (type == SOCK_STREAM && setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
		goto fail;
	/* So that :: and 0.0.0.0 can both be bound on the same port. */
	if (addr_family(a) == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0)
		goto fail;
	if (bind(fd, &a->u.sa, a->len) < 0)
		goto fail;
	if (type == SOCK_STREAM && listen(fd, backlog) < 0)
		goto fail;
	return fd;
fail:
	r = -errno;
	close(fd);
	return r;
}

static void close_listeners(struct server *srv)
{
	for (int i = 0; i < srv->nlisten; i++) {
		if (srv->tcp[i].fd >= 0)
			close(srv->tcp[i].fd);
		if (srv->udp[i].fd >= 0)
			close(srv->udp[i].fd);
		srv->tcp[i].fd = srv->udp[i].fd = -1;
	}
	srv->nlisten = 0;
}

/* Bind TCP and UDP on every address with one port number for all. With
 * port 0 the first TCP socket picks it; if that number is taken for another
 * socket, start over with a new one. Returns 0 or -errno. */
static int open_listeners(struct server *srv, const struct addr *addrs, int n, uint16_t port, bool defaults)
{
	int r = 0;

	for (int attempt = 0; attempt < 32; attempt++) {
		uint16_t p = port;

		close_listeners(srv);
		for (int i = 0; i < n; i++) {
			struct addr a = addrs[i];
			struct listener *tl = &srv->tcp[srv->nlisten], *ul = &srv->udp[srv->nlisten];
			int tfd, ufd;

			addr_set_port(&a, p);
			tfd = open_socket(&a, SOCK_STREAM, srv->backlog);
			if (tfd == -EAFNOSUPPORT && defaults) {
				log_warnx("no IPv%d on this host; not listening on %s", addr_family(&a) == AF_INET6 ? 6 : 4,
					  addr_fmt_ip(&a, (char[ADDR_STRLEN]){ 0 }, ADDR_STRLEN));
				continue;
			}
			if (tfd < 0) {
				r = tfd;
				break;
			}
			if (p == 0) {
				struct addr got;

				r = addr_local(tfd, &got);
				if (r < 0) {
					close(tfd);
					break;
				}
				p = addr_port(&got);
				addr_set_port(&a, p);
			}
			ufd = open_socket(&a, SOCK_DGRAM, 0);
			if (ufd < 0) {
				r = ufd;
				close(tfd);
				break;
			}
			tl->ev.kind = EV_TCP_LISTEN;
			tl->fd = tfd;
			tl->a = a;
			ul->ev.kind = EV_UDP;
			ul->fd = ufd;
			ul->idx = srv->nlisten;
			ul->a = a;
			srv->nlisten++;
		}
		if (r == 0 && srv->nlisten > 0)
			return 0;
		if (r == 0)
			r = -EADDRNOTAVAIL;
		if (r != -EADDRINUSE || port != 0)
			break;
		r = 0;
	}
	close_listeners(srv);
	return r;
}

/* --- connections ----------------------------------------------------------- */

/* A rate-limited info (or warning) line of the shell's: under a flood of
 * connections the log says how many lines it left out, not each one. */
#define RLOG(rl, now, fn, fmt, ...)                                                                \
	do {                                                                                       \
		uint64_t sup_;                                                                     \
		if (ratelim_allow((rl), (now), &sup_)) {                                           \
			char sfx_[64] = "";                                                        \
			if (sup_)                                                                  \
				snprintf(sfx_, sizeof(sfx_), " (%llu similar lines left out before)",  \
					 (unsigned long long)sup_);                                \
			fn(fmt "%s", ##__VA_ARGS__, sfx_);                                         \
		}                                                                                  \
	} while (0)

static void list_add_tail(struct conn_list *l, struct conn *c)
{
	c->next = NULL;
	c->prev = l->tail;
	if (l->tail)
		l->tail->next = c;
	else
		l->head = c;
	l->tail = c;
}

static void list_del(struct conn_list *l, struct conn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		l->head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else
		l->tail = c->prev;
	c->prev = c->next = NULL;
}

/* Mark c for reap(), which is the only place a connection is freed. O(1). */
static void conn_kill(struct server *srv, struct conn *c, const char *why)
{
	if (c->state == CONN_DEAD)
		return;
	if (c->state == CONN_CLOSING)
		list_del(&srv->closing, c);
	else
		list_del(&srv->open, c);
	c->state = CONN_DEAD;
	if (!c->why)
		c->why = why;
	c->dead_next = srv->dead;
	srv->dead = c;
}

static void conn_update_events(struct server *srv, struct conn *c)
{
	bool want = c->out_len > 0;
	struct epoll_event e = { .events = EPOLLIN | (want ? EPOLLOUT : 0), .data.ptr = &c->ev };

	if (want == c->want_out)
		return;
	if (epoll_ctl(srv->ep, EPOLL_CTL_MOD, c->fd, &e) < 0) {
		log_warn("client %u: epoll_ctl", c->id);
		conn_kill(srv, c, "internal error");
		return;
	}
	c->want_out = want;
}

/* Send from buf; returns how much the kernel took, or -1 after killing c. */
static ssize_t conn_write(struct server *srv, struct conn *c, const uint8_t *buf, size_t len)
{
	size_t off = 0;

	while (off < len) {
		ssize_t n = send(c->fd, buf + off, len - off, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			conn_kill(srv, c, errno == EPIPE || errno == ECONNRESET ? "connection reset" : "send failed");
			return -1;
		}
		off += (size_t)n;
	}
	return (ssize_t)off;
}

/* Write what is buffered; on a closing connection, half-close once all is out. */
static void conn_flush(struct server *srv, struct conn *c)
{
	if (c->out_len > 0) {
		ssize_t n = conn_write(srv, c, c->out, c->out_len);

		if (n < 0)
			return;
		memmove(c->out, c->out + n, c->out_len - (size_t)n);
		c->out_len = (uint16_t)(c->out_len - n);
		if (c->out_len == 0) {
			free(c->out);
			c->out = NULL;
		}
	}
	/* FIN after the last byte, then read until the client closes: closing
	 * with unread input would send a reset that may destroy the ERROR we
	 * just sent before the client reads it. */
	if (c->state == CONN_CLOSING && c->out_len == 0 && !c->shut) {
		shutdown(c->fd, SHUT_WR);
		c->shut = true;
	}
	conn_update_events(srv, c);
}

static void conn_send(struct server *srv, struct conn *c, const uint8_t *buf, size_t len, mtime_ms now)
{
	ssize_t n = 0;

	if (c->state == CONN_DEAD || c->shut)
		return;
	/* Nothing queued: hand it to the kernel at once, which almost always
	 * takes it all, so no buffer is ever allocated. */
	if (c->out_len == 0) {
		n = conn_write(srv, c, buf, len);
		if (n < 0 || (size_t)n == len)
			return;
		buf += n;
		len -= (size_t)n;
	}
	if (len > (size_t)CONN_OUT_MAX - c->out_len) {
		/* A client that does not read cannot make the server hold more. */
		srv->out_full++;
		RLOG(&srv->rl_conn, now, log_info, "client %u: output buffer full, dropping it", c->id);
		conn_kill(srv, c, "output buffer full (client does not read)");
		return;
	}
	if (!c->out) {
		c->out = malloc(CONN_OUT_MAX);
		if (!c->out) {
			conn_kill(srv, c, "out of memory");
			return;
		}
	}
	memcpy(c->out + c->out_len, buf, len);
	c->out_len = (uint16_t)(c->out_len + len);
	conn_update_events(srv, c);
}

static void conn_close_gracefully(struct server *srv, struct conn *c, mtime_ms now)
{
	c->table_gone = true;
	if (c->state != CONN_OPEN)
		return;
	list_del(&srv->open, c);
	c->state = CONN_CLOSING;
	c->linger_end = now + LINGER_MS;
	list_add_tail(&srv->closing, c);
	conn_flush(srv, c);
}

/* Carry out everything the table queued. */
static void drain(struct server *srv, mtime_ms now)
{
	struct sess_out *o = &srv->out;
	char buf[ADDR_STRLEN];

	while (sess_pop(srv->t, o)) {
		struct conn *c = o->ctx;

		switch (o->kind) {
		case SESS_OUT_TCP:
			conn_send(srv, c, o->buf, o->len, now);
			break;
		case SESS_OUT_CLOSE:
			conn_close_gracefully(srv, c, now);
			/* Refused at accept: the ERROR went to the kernel (or never
			 * will), and the descriptor is wanted back now. */
			if (o->at_once)
				conn_kill(srv, c, "refused");
			break;
		case SESS_OUT_UDP:
			if (o->sock < 0 || o->sock >= srv->nlisten)
				break;
			if (sendto(srv->udp[o->sock].fd, o->buf, o->len, MSG_DONTWAIT, &o->to.u.sa, o->to.len) < 0) {
				/* UDP is lossy anyway; a full socket buffer drops one datagram. */
				srv->udp_send_errors++;
				log_debug("sendto %s: %s", addr_fmt(&o->to, buf, sizeof(buf)), strerror(errno));
			}
			break;
		}
	}
}

static void conn_read(struct server *srv, struct conn *c, mtime_ms now)
{
	uint8_t buf[CONN_IN_MAX];
	struct wire_msg msg;
	size_t len = c->in_len, off = 0;
	ssize_t n;

	if (c->state != CONN_OPEN) {
		/* Closing: discard input until the client closes too. */
		uint8_t sink[4096];

		n = recv(c->fd, sink, sizeof(sink), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			conn_kill(srv, c, "closed");
		return;
	}
	/* Read on the stack; only a message cut in two is kept, in a buffer
	 * of its own, so a waiting client costs no input buffer at all. */
	if (len)
		memcpy(buf, c->in, len);
	n = recv(c->fd, buf + len, sizeof(buf) - len, MSG_DONTWAIT);
	if (n == 0) {
		conn_kill(srv, c, "connection closed by client");
		return;
	}
	if (n < 0) {
		if (errno != EAGAIN && errno != EINTR)
			conn_kill(srv, c, errno == ECONNRESET ? "connection reset by client" : "receive failed");
		return;
	}
	len += (size_t)n;
	while (c->state == CONN_OPEN && off < len) {
		int r = wire_parse(buf + off, len - off, &msg);

		if (r == 0 && len < sizeof(buf))
			break; /* a partial message: wait for the rest */
		if (r <= 0) {
			srv->malformed++;
			RLOG(&srv->rl_conn, now, log_info, "client %u: malformed message, closing", c->id);
			sess_client_bad(srv->t, now, c->id, "malformed message");
			drain(srv, now);
			off = len;
			break;
		}
		off += (size_t)r;
		sess_client_msg(srv->t, now, c->id, &msg);
		drain(srv, now);
	}
	if (c->state != CONN_OPEN)
		off = len;
	c->in_len = (uint8_t)(len - off);
	if (c->in_len == 0) {
		free(c->in);
		c->in = NULL;
		return;
	}
	if (!c->in && !(c->in = malloc(CONN_IN_MAX))) {
		conn_kill(srv, c, "out of memory");
		return;
	}
	memmove(c->in, buf + off, c->in_len);
}

static void accept_conns(struct server *srv, struct listener *l, mtime_ms now)
{
	for (int i = 0; i < ACCEPT_BURST; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		struct addr peer;
		struct conn *c;
		char a[ADDR_STRLEN];
		int fd = accept4(l->fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			if (errno == EMFILE || errno == ENFILE) {
				/* Out of descriptors: take the connection with the
				 * reserve descriptor and close it at once, or the
				 * listening socket would wake us forever. Counted, and
				 * logged at a limited rate, not once per connection. */
				srv->accept_emfile++;
				RLOG(&srv->rl_err, now, log_warnx, "accept: out of descriptors (%llu connections refused so far)",
				     (unsigned long long)srv->accept_emfile);
				if (srv->reserve_fd < 0)
					return;
				close(srv->reserve_fd);
				fd = accept(l->fd, NULL, NULL);
				if (fd >= 0)
					close(fd);
				srv->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
				if (fd < 0)
					return;
				continue;
			}
			if (errno == ECONNABORTED || errno == EPROTO || errno == ENOBUFS || errno == ENOMEM)
				continue;
			srv->accept_errors++;
			RLOG(&srv->rl_err, now, log_warn, "accept");
			return;
		}
		srv->accepted++;
		c = calloc(1, sizeof(*c));
		if (!c) {
			RLOG(&srv->rl_err, now, log_warnx, "out of memory: refusing a connection");
			close(fd);
			continue;
		}
		c->ev.kind = EV_CONN;
		c->fd = fd;
		if (ep_add(srv, fd, EPOLLIN, &c->ev) < 0) {
			RLOG(&srv->rl_err, now, log_warn, "epoll_ctl");
			close(fd);
			free(c);
			continue;
		}
		list_add_tail(&srv->open, c);
		srv->nconns++;
		if (addr_from_sa(&peer, (struct sockaddr *)&ss, len) < 0) {
			c->id = sess_client_open(srv->t, now, c, NULL);
		} else {
			c->id = sess_client_open(srv->t, now, c, &peer);
			RLOG(&srv->rl_conn, now, log_info, "client %u connected from %s", c->id,
			     addr_fmt(&peer, a, sizeof(a)));
		}
		drain(srv, now);
	}
}

static void udp_read(struct server *srv, struct listener *l, mtime_ms now)
{
	uint8_t *dgram = srv->udp_buf;

	for (int i = 0; i < UDP_BURST; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		struct addr from;
		ssize_t n = recvfrom(l->fd, dgram, UDP_BUF, MSG_DONTWAIT, (struct sockaddr *)&ss, &len);

		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNREFUSED)
				RLOG(&srv->rl_err, now, log_warn, "recvfrom");
			return;
		}
		if (addr_from_sa(&from, (struct sockaddr *)&ss, len) < 0)
			continue;
		sess_udp_input(srv->t, now, l->idx, &from, dgram, (size_t)n);
		drain(srv, now);
	}
}

static void log_stats(const struct server *srv, const char *what);

static void read_signal(struct server *srv)
{
	struct signalfd_siginfo si;

	while (read(srv->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGUSR1) {
			log_stats(srv, "stats");
			continue;
		}
		log_info("signal %u: shutting down", si.ssi_signo);
		srv->stop = true;
	}
}

/* Free the dead connections, telling the table about the ones it still
 * knows, then end the lingering that ran out. That may make the table speak
 * to others (and kill them), so go on until nothing is left. Only the dead
 * and the expired are looked at: O(1) per connection, never a walk of all. */
static void reap(struct server *srv, mtime_ms now)
{
	for (;;) {
		struct conn *c;

		while (srv->closing.head && now >= srv->closing.head->linger_end)
			conn_kill(srv, srv->closing.head, "closed");
		if (!srv->dead)
			break;
		while ((c = srv->dead)) {
			srv->dead = c->dead_next;
			if (!c->table_gone)
				sess_client_closed(srv->t, now, c->id, c->why ? c->why : "closed");
			close(c->fd);
			free(c->out);
			free(c->in);
			free(c);
			srv->nconns--;
		}
		drain(srv, now);
	}
}

static long rss_kib(void)
{
	long pages = 0, rss = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (!f)
		return -1;
	if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
		rss = -1;
	fclose(f);
	return rss < 0 ? -1 : rss * (sysconf(_SC_PAGESIZE) / 1024);
}

/* One line with every counter: on SIGUSR1, every --stats interval, at exit. */
static void log_stats(const struct server *srv, const char *what)
{
	struct sess_stats st;

	sess_get_stats(srv->t, &st);
	log_info("%s: %llu clients, %llu pairs, %llu introduced, %llu ended; refused %llu full, %llu session, "
		 "%llu source limit, %llu shed; %llu timeouts (%llu before HELLO), %llu protocol errors; "
		 "REGISTER %llu answered, %llu bad, %llu ignored; relay %llu forwarded, %llu dropped "
		 "(%llu replays, %llu without both partners); %llu other datagrams dropped; %llu UDP send errors; "
		 "now %u clients, %u sessions, %u sources, %u connections; accepted %llu, %llu refused for "
		 "lack of descriptors; %llu malformed, %llu output overflows; %llu log lines left out; RSS %ld KiB",
		 what, (unsigned long long)st.clients, (unsigned long long)st.pairs,
		 (unsigned long long)st.introduced, (unsigned long long)st.expired,
		 (unsigned long long)st.refused_full, (unsigned long long)st.refused_session,
		 (unsigned long long)st.refused_source, (unsigned long long)st.shed,
		 (unsigned long long)st.timeouts, (unsigned long long)st.hello_timeouts,
		 (unsigned long long)st.protocol_errors, (unsigned long long)st.registers,
		 (unsigned long long)st.reg_bad, (unsigned long long)st.reg_ignored, (unsigned long long)st.relayed,
		 (unsigned long long)st.relay_dropped, (unsigned long long)st.relay_replayed,
		 (unsigned long long)st.relay_orphaned, (unsigned long long)st.udp_dropped,
		 (unsigned long long)srv->udp_send_errors, st.clients_now, st.sessions_now, st.sources_now,
		 srv->nconns, (unsigned long long)srv->accepted, (unsigned long long)srv->accept_emfile,
		 (unsigned long long)srv->malformed, (unsigned long long)srv->out_full,
		 (unsigned long long)(st.log_suppressed + srv->rl_conn.total_suppressed + srv->rl_err.total_suppressed),
		 rss_kib());
}

static int run(struct server *srv)
{
	struct epoll_event evs[256];

	while (!srv->stop) {
		mtime_ms now = mtime_now();
		mtime_ms dl = sess_next_deadline(srv->t);
		int n, timeout;

		/* Every deadline is O(1) to find: the table's heap top, the
		 * oldest closing connection, the next stats line. */
		dl = mtime_earliest(dl, srv->closing.head ? srv->closing.head->linger_end : -1);
		dl = mtime_earliest(dl, srv->next_stats);
		timeout = mtime_until(now, dl);
		n = epoll_wait(srv->ep, evs, (int)(sizeof(evs) / sizeof(evs[0])), timeout);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_err("epoll_wait");
			return -errno;
		}
		now = mtime_now();
		for (int i = 0; i < n; i++) {
			struct ev *ev = evs[i].data.ptr;

			switch (ev->kind) {
			case EV_TCP_LISTEN:
				accept_conns(srv, (struct listener *)ev, now);
				break;
			case EV_UDP:
				udp_read(srv, (struct listener *)ev, now);
				break;
			case EV_SIGNAL:
				read_signal(srv);
				break;
			case EV_CONN: {
				struct conn *c = (struct conn *)ev;

				/* Dead ones are freed only after the batch, so the
				 * pointer is still good here. */
				if (c->state == CONN_DEAD)
					break;
				/* A reset (or any error) ends the connection: no recv()
				 * to learn what epoll said already. Clients that are
				 * done usually leave this way, so it is one system
				 * call fewer for most of them. Input that came before
				 * the reset is dropped with it. */
				if (evs[i].events & EPOLLERR) {
					conn_kill(srv, c, c->state == CONN_OPEN ? "connection reset by client" : "closed");
					break;
				}
				if (evs[i].events & EPOLLOUT)
					conn_flush(srv, c);
				if (c->state != CONN_DEAD && (evs[i].events & (EPOLLIN | EPOLLHUP)))
					conn_read(srv, c, now);
				break;
			}
			}
		}
		dl = sess_next_deadline(srv->t);
		if (dl >= 0 && now >= dl) {
			sess_tick(srv->t, now);
			drain(srv, now);
		}
		reap(srv, now);
		if (srv->next_stats >= 0 && now >= srv->next_stats) {
			log_stats(srv, "stats");
			srv->next_stats = now + srv->stats_every;
		}
	}
	return 0;
}

static void raise_fd_limit(void)
{
	struct rlimit rl;

	/* Each client is a descriptor: use what the hard limit allows. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* What the command line says. */
struct srv_opts {
	struct sess_config cfg;
	mtime_ms stats_every;
	struct addr addrs[MAX_LISTEN];
	int naddrs;
	uint16_t port;
	int backlog;
	bool defaults;          /* no --listen: both wildcards */
	struct cli_common cc;
};

/* A duration option (--pair-timeout, --session-timeout, --hello-timeout,
 * --stats): the shared grammar, bare numbers are seconds. */
static int opt_duration(const char *name, const char *arg, mtime_ms *out)
{
	uint64_t ms;

	if (duration_parse(arg, 0, 1, 7 * 86400 * 1000, &ms) < 0) {
		log_errx("--%s %s: not a number of seconds (or a duration: 500ms, 1.5s, 2m) up to a week", name,
			 arg);
		return -EINVAL;
	}
	*out = (mtime_ms)ms;
	return 0;
}

/* A count option: --max-per-ip, --max-per-net, --max-unauth-per-ip,
 * --max-clients (min 1) and --backlog (min 1). */
static int opt_count(const char *name, const char *arg, unsigned long min, unsigned long max, unsigned *out)
{
	unsigned long v;

	if (num_parse_uint(arg, max, &v) < 0 || v < min) {
		log_errx("--%s %s: not a number from %lu to %lu", name, arg, min, max);
		return -EINVAL;
	}
	*out = (unsigned)v;
	return 0;
}

static int opt_listen(const char *arg, struct srv_opts *o)
{
	if (o->naddrs == MAX_LISTEN) {
		log_errx("at most %d --listen addresses", MAX_LISTEN);
		return -EINVAL;
	}
	if (addr_parse(arg, 0, &o->addrs[o->naddrs]) < 0 || addr_port(&o->addrs[o->naddrs]) != 0) {
		log_errx("--listen %s: not an IP address (give the port with --port)", arg);
		return -EINVAL;
	}
	o->naddrs++;
	return 0;
}

/* Returns 0 to run, 1 to exit 0 (--help, --version), -EINVAL to exit 2. */
static int parse_opts(int argc, char **argv, struct srv_opts *o)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "port", required_argument, NULL, 'p' },
		{ "pair-timeout", required_argument, NULL, 'P' },
		{ "session-timeout", required_argument, NULL, 'S' },
		{ "max-clients", required_argument, NULL, 'M' },
		{ "hello-timeout", required_argument, NULL, 'H' },
		{ "max-per-ip", required_argument, NULL, 'I' },
		{ "max-per-net", required_argument, NULL, 'N' },
		{ "max-unauth-per-ip", required_argument, NULL, 'U' },
		{ "backlog", required_argument, NULL, 'B' },
		{ "stats", required_argument, NULL, 'T' },
		CLI_OPT_READY_FD,
		CLI_OPTS_LOG,
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned port = DEFAULT_PORT, backlog = DEFAULT_BACKLOG;
	int opt, r = 0;

	while (r == 0 && (opt = getopt_long(argc, argv, "l:p:vqhV", opts, NULL)) != -1) {
		switch (opt) {
		case 'l': r = opt_listen(optarg, o); break;
		case 'p': r = opt_count("port", optarg, 0, 65535, &port); break;
		case 'P': r = opt_duration("pair-timeout", optarg, &o->cfg.pair_timeout); break;
		case 'S': /* accepted and checked, then ignored: sessions end with their last client */
			r = opt_duration("session-timeout", optarg, &(mtime_ms){ 0 });
			break;
		case 'H': r = opt_duration("hello-timeout", optarg, &o->cfg.hello_timeout); break;
		case 'T': r = opt_duration("stats", optarg, &o->stats_every); break;
		case 'I': r = opt_count("max-per-ip", optarg, 0, 1000000, &o->cfg.max_per_ip); break;
		case 'N': r = opt_count("max-per-net", optarg, 0, 1000000, &o->cfg.max_per_net); break;
		case 'U': r = opt_count("max-unauth-per-ip", optarg, 0, 1000000, &o->cfg.max_unauth_per_ip); break;
		case 'M': r = opt_count("max-clients", optarg, 1, 1000000, &o->cfg.max_clients); break;
		case 'B': r = opt_count("backlog", optarg, 1, 1 << 20, &backlog); break;
		case 'V':
			printf(PROG " " PROG_VERSION "\n");
			return 1;
		default:
			r = cli_opt(opt, optarg, &o->cc);
			if (r == CLI_HELP) {
				usage(stdout);
				return 1;
			}
			if (r < 0)
				usage(stderr);
		}
	}
	if (r < 0)
		return -EINVAL;
	if (cli_no_operands(argc, argv) < 0) {
		usage(stderr);
		return -EINVAL;
	}
	o->port = (uint16_t)port;
	o->backlog = (int)backlog;
	if (o->naddrs == 0) {
		addr_any(&o->addrs[o->naddrs++], AF_INET, 0);
		addr_any(&o->addrs[o->naddrs++], AF_INET6, 0);
		o->defaults = true;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static struct server srv; /* large (UDP buffer): not on the stack */
	static struct srv_opts o = {
		.cfg = {
			.max_clients = DEFAULT_MAX_CLIENTS,
			.pair_timeout = 30000,
			.hello_timeout = DEFAULT_HELLO_MS,
			.max_per_ip = DEFAULT_PER_IP,
			.max_per_net = DEFAULT_PER_NET,
			.max_unauth_per_ip = DEFAULT_UNAUTH_PER_IP,
			.rand = rand_bytes,
		},
		.cc = { .lvl = LOG_LVL_INFO, .ready_fd = -1 },
	};
	struct sess_config cfg;
	mtime_ms stats_every;
	int r, rc = 1;
	char buf[ADDR_STRLEN];

	log_init(PROG, o.cc.lvl);
	r = parse_opts(argc, argv, &o);
	if (r != 0)
		return r > 0 ? 0 : 2;
	log_init(PROG, o.cc.lvl);
	cfg = o.cfg;
	stats_every = o.stats_every;
	srv.backlog = o.backlog;

	srv.ep = srv.sigfd = srv.reserve_fd = -1;
	srv.stats_every = stats_every;
	srv.next_stats = stats_every > 0 ? mtime_now() + stats_every : -1;
	ratelim_init(&srv.rl_conn, LOG_BURST, LOG_REFILL_MS);
	ratelim_init(&srv.rl_err, LOG_BURST, LOG_REFILL_MS);
	for (int i = 0; i < MAX_LISTEN; i++)
		srv.tcp[i].fd = srv.udp[i].fd = -1;
	raise_fd_limit();
	srv.sigfd = svc_signalfd(SIGUSR1); /* SIGTERM and SIGINT stop the server, SIGUSR1 logs the counters */
	if (srv.sigfd < 0) {
		errno = -srv.sigfd;
		log_err("signalfd");
		goto cleanup;
	}
	srv.reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	srv.ep = epoll_create1(EPOLL_CLOEXEC);
	if (srv.ep < 0) {
		log_err("epoll_create1");
		goto cleanup;
	}
	r = sess_create(&cfg, &srv.t);
	if (r < 0) {
		errno = -r;
		log_err("session table");
		goto cleanup;
	}
	r = open_listeners(&srv, o.addrs, o.naddrs, o.port, o.defaults);
	if (r < 0) {
		errno = -r;
		log_err("cannot listen on port %u", o.port);
		goto cleanup;
	}
	srv.sig_ev.kind = EV_SIGNAL;
	if (ep_add(&srv, srv.sigfd, EPOLLIN, &srv.sig_ev) < 0)
		goto cleanup;
	for (int i = 0; i < srv.nlisten; i++) {
		if (ep_add(&srv, srv.tcp[i].fd, EPOLLIN, &srv.tcp[i].ev) < 0 ||
		    ep_add(&srv, srv.udp[i].fd, EPOLLIN, &srv.udp[i].ev) < 0) {
			log_err("epoll_ctl");
			goto cleanup;
		}
		/* Always printed, even with -q: tests read the port from here. */
		fprintf(stderr, PROG ": listening on %s tcp/udp\n", addr_fmt(&srv.tcp[i].a, buf, sizeof(buf)));
	}
	log_info("pair timeout %lld ms, HELLO timeout %lld ms, at most %u clients, %u per IP, %u per /64, "
		 "%u per IP before HELLO, backlog %d",
		 (long long)cfg.pair_timeout, (long long)(cfg.hello_timeout < cfg.pair_timeout ? cfg.hello_timeout
											: cfg.pair_timeout),
		 cfg.max_clients, cfg.max_per_ip, cfg.max_per_net, cfg.max_unauth_per_ip, srv.backlog);
	svc_ready(o.cc.ready_fd);
	if (run(&srv) == 0)
		rc = 0;
	log_stats(&srv, "totals");
cleanup:
	for (struct conn_list *l = &srv.open; l; l = l == &srv.open ? &srv.closing : NULL)
		while (l->head) {
			struct conn *c = l->head;

			list_del(l, c);
			close(c->fd);
			free(c->out);
			free(c->in);
			free(c);
		}
	while (srv.dead) {
		struct conn *c = srv.dead;

		srv.dead = c->dead_next;
		close(c->fd);
		free(c->out);
		free(c->in);
		free(c);
	}
	sess_destroy(srv.t);
	close_listeners(&srv);
	if (srv.ep >= 0)
		close(srv.ep);
	if (srv.sigfd >= 0)
		close(srv.sigfd);
	if (srv.reserve_fd >= 0)
		close(srv.reserve_fd);
	return rc;
}
