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
#include "proto/wire.h"
#include "server/session.h"

#define PROG "punch-server"
#define PROG_VERSION "0.1"
#define DEFAULT_PORT 3478
#define MAX_LISTEN 8
#define CONN_OUT_MAX 4096   /* the server sends a client a few hundred bytes in all */
#define LINGER_MS 2000      /* how long a closing connection may take to flush */
#define UDP_BURST 64        /* datagrams read per wakeup, so TCP is not starved */
#define ACCEPT_BURST 64
#define UDP_BUF 65536       /* any datagram fits, so an oversized one is read whole and dropped */

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

struct conn {
	struct ev ev;
	int fd;
	uint32_t id;
	enum conn_state state;
	bool table_gone;    /* the table forgot the client already */
	bool want_out;      /* EPOLLOUT registered */
	bool shut;          /* SHUT_WR done */
	const char *why;    /* why it died, for the table */
	mtime_ms linger_end;
	struct addr peer;
	struct conn *prev, *next;
	size_t in_len, out_len;
	uint8_t in[WIRE_MSG_MAX];
	uint8_t out[CONN_OUT_MAX];
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
	struct conn *conns;
	uint64_t udp_send_errors;
	struct sess_out out; /* one output at a time, as drain() carries it out */
	uint8_t udp_buf[UDP_BUF];
};

static int rand_bytes(void *arg, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = getrandom(p, len, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
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
		"      --session-timeout SEC  forget a session SEC after both clients left and\n"
		"                             the relay went quiet (default 120)\n"
		"      --max-clients N        connected clients at once (default 1024)\n"
		"      --ready-fd N           write \"ready\\n\" to descriptor N once listening\n"
		"  -v, --verbose              log more (debug)\n"
		"  -q, --quiet                log warnings and errors only\n"
		"  -h, --help                 this help\n"
		"  -V, --version              print the version\n",
		DEFAULT_PORT);
}

static int ep_add(struct server *srv, int fd, uint32_t events, struct ev *ev)
{
	struct epoll_event e = { .events = events, .data.ptr = ev };

	return epoll_ctl(srv->ep, EPOLL_CTL_ADD, fd, &e) < 0 ? -errno : 0;
}

/* Open one socket bound to a:port. Returns the fd or -errno. */
static int open_socket(const struct addr *a, int type)
{
	int fd, one = 1, r;

	fd = socket(addr_family(a), type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (type == SOCK_STREAM && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
		goto fail;
	/* So that :: and 0.0.0.0 can both be bound on the same port. */
	if (addr_family(a) == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0)
		goto fail;
	if (bind(fd, &a->u.sa, a->len) < 0)
		goto fail;
	if (type == SOCK_STREAM && listen(fd, 128) < 0)
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
			tfd = open_socket(&a, SOCK_STREAM);
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
				struct sockaddr_storage ss;
				socklen_t len = sizeof(ss);
				struct addr got;

				if (getsockname(tfd, (struct sockaddr *)&ss, &len) < 0 ||
				    addr_from_sa(&got, (struct sockaddr *)&ss, len) < 0) {
					r = -errno;
					close(tfd);
					break;
				}
				p = addr_port(&got);
				addr_set_port(&a, p);
			}
			ufd = open_socket(&a, SOCK_DGRAM);
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

static void conn_kill(struct conn *c, const char *why)
{
	if (c->state == CONN_DEAD)
		return;
	c->state = CONN_DEAD;
	if (!c->why)
		c->why = why;
}

static void conn_update_events(struct server *srv, struct conn *c)
{
	bool want = c->out_len > 0;
	struct epoll_event e = { .events = EPOLLIN | (want ? EPOLLOUT : 0), .data.ptr = &c->ev };

	if (want == c->want_out)
		return;
	if (epoll_ctl(srv->ep, EPOLL_CTL_MOD, c->fd, &e) < 0) {
		log_warn("client %u: epoll_ctl", c->id);
		conn_kill(c, "internal error");
		return;
	}
	c->want_out = want;
}

/* Write what is buffered; on a closing connection, half-close once all is out. */
static void conn_flush(struct server *srv, struct conn *c)
{
	while (c->out_len > 0) {
		ssize_t n = send(c->fd, c->out, c->out_len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			conn_kill(c, errno == EPIPE || errno == ECONNRESET ? "connection reset" : "send failed");
			return;
		}
		memmove(c->out, c->out + n, c->out_len - (size_t)n);
		c->out_len -= (size_t)n;
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

static void conn_send(struct server *srv, struct conn *c, const uint8_t *buf, size_t len)
{
	if (c->state == CONN_DEAD || c->shut)
		return;
	if (len > sizeof(c->out) - c->out_len) {
		/* A client that does not read cannot make the server hold more. */
		log_info("client %u: output buffer full, dropping it", c->id);
		conn_kill(c, "output buffer full (client does not read)");
		return;
	}
	memcpy(c->out + c->out_len, buf, len);
	c->out_len += len;
	conn_flush(srv, c);
}

static void conn_close_gracefully(struct server *srv, struct conn *c, mtime_ms now)
{
	c->table_gone = true;
	if (c->state != CONN_OPEN)
		return;
	c->state = CONN_CLOSING;
	c->linger_end = now + LINGER_MS;
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
			conn_send(srv, c, o->buf, o->len);
			break;
		case SESS_OUT_CLOSE:
			conn_close_gracefully(srv, c, now);
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
	struct wire_msg msg;
	ssize_t n;

	if (c->state != CONN_OPEN) {
		/* Closing: discard input until the client closes too. */
		uint8_t sink[4096];

		n = recv(c->fd, sink, sizeof(sink), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			conn_kill(c, "closed");
		return;
	}
	n = recv(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len, MSG_DONTWAIT);
	if (n == 0) {
		conn_kill(c, "connection closed by client");
		return;
	}
	if (n < 0) {
		if (errno != EAGAIN && errno != EINTR)
			conn_kill(c, errno == ECONNRESET ? "connection reset by client" : "receive failed");
		return;
	}
	c->in_len += (size_t)n;
	while (c->state == CONN_OPEN && c->in_len > 0) {
		int r = wire_parse(c->in, c->in_len, &msg);

		if (r == 0 && c->in_len < sizeof(c->in))
			break; /* a partial message: wait for the rest */
		if (r <= 0) {
			char a[ADDR_STRLEN];

			log_info("client %u (%s): malformed message, closing", c->id, addr_fmt(&c->peer, a, sizeof(a)));
			sess_client_bad(srv->t, now, c->id, "malformed message");
			drain(srv, now);
			break;
		}
		memmove(c->in, c->in + r, c->in_len - (size_t)r);
		c->in_len -= (size_t)r;
		sess_client_msg(srv->t, now, c->id, &msg);
		drain(srv, now);
	}
}

static void accept_conns(struct server *srv, struct listener *l, mtime_ms now)
{
	for (int i = 0; i < ACCEPT_BURST; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		struct conn *c;
		char a[ADDR_STRLEN];
		int fd = accept4(l->fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			if ((errno == EMFILE || errno == ENFILE) && srv->reserve_fd >= 0) {
				/* Out of descriptors: take the connection and close it at
				 * once, or the listening socket would wake us forever. */
				log_warn("accept");
				close(srv->reserve_fd);
				fd = accept(l->fd, NULL, NULL);
				if (fd >= 0)
					close(fd);
				srv->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
				return;
			}
			if (errno == ECONNABORTED || errno == EPROTO || errno == ENOBUFS || errno == ENOMEM)
				continue;
			log_warn("accept");
			return;
		}
		c = calloc(1, sizeof(*c));
		if (!c) {
			log_warnx("out of memory: refusing a connection");
			close(fd);
			continue;
		}
		c->ev.kind = EV_CONN;
		c->fd = fd;
		if (addr_from_sa(&c->peer, (struct sockaddr *)&ss, len) < 0)
			memset(&c->peer, 0, sizeof(c->peer));
		if (ep_add(srv, fd, EPOLLIN, &c->ev) < 0) {
			log_warn("epoll_ctl");
			close(fd);
			free(c);
			continue;
		}
		c->next = srv->conns;
		if (c->next)
			c->next->prev = c;
		srv->conns = c;
		c->id = sess_client_open(srv->t, now, c);
		log_info("client %u connected from %s", c->id, addr_fmt(&c->peer, a, sizeof(a)));
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
				log_warn("recvfrom");
			return;
		}
		if (addr_from_sa(&from, (struct sockaddr *)&ss, len) < 0)
			continue;
		sess_udp_input(srv->t, now, l->idx, &from, dgram, (size_t)n);
		drain(srv, now);
	}
}

static void read_signal(struct server *srv)
{
	struct signalfd_siginfo si;
	ssize_t n = read(srv->sigfd, &si, sizeof(si));

	if (n == (ssize_t)sizeof(si)) {
		log_info("signal %u: shutting down", si.ssi_signo);
		srv->stop = true;
	}
}

/* Free dead connections, telling the table about the ones it still knows.
 * That may make the table speak to others, so drain until nothing is left. */
static void reap(struct server *srv, mtime_ms now)
{
	bool again = true;

	while (again) {
		struct conn *c, *next;

		again = false;
		for (c = srv->conns; c; c = next) {
			next = c->next;
			if (c->state == CONN_CLOSING && now >= c->linger_end)
				conn_kill(c, "closed");
			if (c->state != CONN_DEAD)
				continue;
			if (!c->table_gone) {
				sess_client_closed(srv->t, now, c->id, c->why ? c->why : "closed");
				again = true;
			}
			if (c->prev)
				c->prev->next = c->next;
			else
				srv->conns = c->next;
			if (c->next)
				c->next->prev = c->prev;
			close(c->fd);
			free(c);
		}
		drain(srv, now);
	}
}

static mtime_ms next_linger(const struct server *srv)
{
	mtime_ms best = -1;

	for (const struct conn *c = srv->conns; c; c = c->next)
		if (c->state == CONN_CLOSING && (best < 0 || c->linger_end < best))
			best = c->linger_end;
	return best;
}

static void log_stats(const struct server *srv)
{
	struct sess_stats st;

	sess_get_stats(srv->t, &st);
	log_info("totals: %llu clients, %llu pairs, %llu introduced, %llu expired; refused %llu full, %llu session; "
		 "%llu timeouts, %llu protocol errors; REGISTER %llu answered, %llu bad, %llu ignored; "
		 "relay %llu forwarded, %llu dropped; %llu other datagrams dropped; %llu UDP send errors",
		 (unsigned long long)st.clients, (unsigned long long)st.pairs, (unsigned long long)st.introduced,
		 (unsigned long long)st.expired, (unsigned long long)st.refused_full,
		 (unsigned long long)st.refused_session, (unsigned long long)st.timeouts,
		 (unsigned long long)st.protocol_errors, (unsigned long long)st.registers,
		 (unsigned long long)st.reg_bad, (unsigned long long)st.reg_ignored, (unsigned long long)st.relayed,
		 (unsigned long long)st.relay_dropped, (unsigned long long)st.udp_dropped,
		 (unsigned long long)srv->udp_send_errors);
}

static int run(struct server *srv)
{
	struct epoll_event evs[64];

	while (!srv->stop) {
		mtime_ms now = mtime_now();
		mtime_ms dl = sess_next_deadline(srv->t), lg = next_linger(srv);
		int n, timeout;

		if (lg >= 0 && (dl < 0 || lg < dl))
			dl = lg;
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

				if (c->state == CONN_DEAD)
					break;
				if (evs[i].events & EPOLLOUT)
					conn_flush(srv, c);
				if (c->state != CONN_DEAD && (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
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

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "port", required_argument, NULL, 'p' },
		{ "pair-timeout", required_argument, NULL, 'P' },
		{ "session-timeout", required_argument, NULL, 'S' },
		{ "max-clients", required_argument, NULL, 'M' },
		CLI_OPT_READY_FD,
		CLI_OPTS_LOG,
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	static struct server srv; /* large (UDP buffer): not on the stack */
	struct sess_config cfg = {
		.max_clients = 1024,
		.pair_timeout = 30000,
		.session_timeout = 120000,
		.rand = rand_bytes,
	};
	struct addr addrs[MAX_LISTEN];
	int naddrs = 0, opt, r, rc = 1;
	struct cli_common cc = { .lvl = LOG_LVL_INFO, .ready_fd = -1 };
	unsigned long v;
	uint64_t ms;
	uint16_t port = DEFAULT_PORT;
	bool defaults = false;
	char buf[ADDR_STRLEN];

	log_init(PROG, cc.lvl);
	while ((opt = getopt_long(argc, argv, "l:p:vqhV", opts, NULL)) != -1) {
		switch (opt) {
		case 'l':
			if (naddrs == MAX_LISTEN) {
				log_errx("at most %d --listen addresses", MAX_LISTEN);
				return 2;
			}
			if (addr_parse(optarg, 0, &addrs[naddrs]) < 0 || addr_port(&addrs[naddrs]) != 0) {
				log_errx("--listen %s: not an IP address (give the port with --port)", optarg);
				return 2;
			}
			naddrs++;
			break;
		case 'p':
			if (num_parse_uint(optarg, 65535, &v) < 0) {
				log_errx("--port %s: not a port number", optarg);
				return 2;
			}
			port = (uint16_t)v;
			break;
		case 'P':
		case 'S':
			if (duration_parse(optarg, 0, 1, 7 * 86400 * 1000, &ms) < 0) {
				log_errx("--%s %s: not a number of seconds (or a duration: 500ms, 1.5s, 2m) up to a week",
					 opt == 'P' ? "pair-timeout" : "session-timeout", optarg);
				return 2;
			}
			*(opt == 'P' ? &cfg.pair_timeout : &cfg.session_timeout) = (mtime_ms)ms;
			break;
		case 'M':
			if (num_parse_uint(optarg, 1000000, &v) < 0 || v == 0) {
				log_errx("--max-clients %s: not a number from 1 to 1000000", optarg);
				return 2;
			}
			cfg.max_clients = (unsigned)v;
			break;
		case 'V':
			printf(PROG " " PROG_VERSION "\n");
			return 0;
		default:
			r = cli_opt(opt, optarg, &cc);
			if (r == CLI_HELP) {
				usage(stdout);
				return 0;
			}
			if (r < 0) {
				usage(stderr);
				return 2;
			}
		}
	}
	if (cli_no_operands(argc, argv) < 0) {
		usage(stderr);
		return 2;
	}
	log_init(PROG, cc.lvl);
	if (naddrs == 0) {
		addr_any(&addrs[naddrs++], AF_INET, 0);
		addr_any(&addrs[naddrs++], AF_INET6, 0);
		defaults = true;
	}

	srv.ep = srv.sigfd = srv.reserve_fd = -1;
	for (int i = 0; i < MAX_LISTEN; i++)
		srv.tcp[i].fd = srv.udp[i].fd = -1;
	raise_fd_limit();
	srv.sigfd = svc_signalfd();
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
	r = open_listeners(&srv, addrs, naddrs, port, defaults);
	if (r < 0) {
		errno = -r;
		log_err("cannot listen on port %u", port);
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
	log_info("pair timeout %lld ms, session timeout %lld ms, at most %u clients", (long long)cfg.pair_timeout,
		 (long long)cfg.session_timeout, cfg.max_clients);
	svc_ready(cc.ready_fd);
	if (run(&srv) == 0)
		rc = 0;
	log_stats(&srv);
cleanup:
	while (srv.conns) {
		struct conn *c = srv.conns;

		srv.conns = c->next;
		close(c->fd);
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
