#include "client/tcppunch.h"
#include "common/log.h"
#include "proto/wire.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define TP_TXBUF (16 * WIRE_MSG_MAX)

enum tp_state { TP_FREE = 0, TP_CONNECTING, TP_UP };

struct tp_conn {
	enum tp_state st;
	int fd;
	struct addr remote;
	size_t rx_len, tx_len;
	uint8_t rx[2 * WIRE_MSG_MAX];
	uint8_t tx[TP_TXBUF];
};

struct tp {
	struct addr local;
	int lfd;
	struct tp_conn c[TP_MAX_CONN];
	struct tp_stats st;
};

int tp_socket(const struct addr *local)
{
	int fd, one = 1, err;

	fd = socket(addr_family(local), SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	/* Both: SO_REUSEADDR lets a connecting socket share P with the connected
	 * control connection, SO_REUSEPORT lets it share P with the listener. */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0 ||
	    bind(fd, &local->u.sa, local->len) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

int tp_create(const struct addr *local, struct tp **out)
{
	struct tp *t;
	int err;

	*out = NULL;
	if (!addr_port(local))
		return -EINVAL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->local = *local;
	for (size_t i = 0; i < TP_MAX_CONN; i++)
		t->c[i].fd = -1;
	t->lfd = tp_socket(local);
	if (t->lfd < 0) {
		err = t->lfd;
		goto cleanup;
	}
	if (listen(t->lfd, 8) < 0) {
		err = -errno;
		close(t->lfd);
		goto cleanup;
	}
	*out = t;
	return 0;
cleanup:
	free(t);
	return err;
}

static void conn_close(struct tp_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->st = TP_FREE;
	c->rx_len = c->tx_len = 0;
}

void tp_destroy(struct tp *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < TP_MAX_CONN; i++)
		conn_close(&t->c[i]);
	close(t->lfd);
	free(t);
}

static struct tp_conn *conn_find(struct tp *t, const struct addr *a)
{
	for (size_t i = 0; i < TP_MAX_CONN; i++)
		if (t->c[i].st != TP_FREE && addr_equal(&t->c[i].remote, a))
			return &t->c[i];
	return NULL;
}

static struct tp_conn *conn_slot(struct tp *t)
{
	for (size_t i = 0; i < TP_MAX_CONN; i++)
		if (t->c[i].st == TP_FREE)
			return &t->c[i];
	return NULL;
}

/* Count how an attempt ended: the far network's answer to our SYN. */
static void count_error(struct tp *t, int err)
{
	switch (err) {
	case ECONNREFUSED:
	case ECONNRESET:
		t->st.refused++;
		break;
	case EHOSTUNREACH:
	case ENETUNREACH:
	case EACCES:
	case EPERM:
	case EPROTO:
		t->st.unreachable++;
		break;
	default:
		t->st.other_errors++;
		break;
	}
}

static void conn_start(struct tp *t, const struct addr *to)
{
	struct tp_conn *c = conn_slot(t);
	char s[ADDR_STRLEN];
	int fd;

	if (!c)
		return;
	fd = tp_socket(&t->local);
	if (fd < 0) {
		log_debug("tcp socket for %s: %s", addr_fmt(to, s, sizeof(s)), strerror(-fd));
		return;
	}
	t->st.connects++;
	if (connect(fd, &to->u.sa, to->len) < 0 && errno != EINPROGRESS) {
		/* EADDRNOTAVAIL: that 4-tuple is already a connection (one the
		 * listener accepted a moment ago); the rest is the network's answer. */
		log_debug("tcp connect to %s: %s", addr_fmt(to, s, sizeof(s)), strerror(errno));
		count_error(t, errno);
		close(fd);
		return;
	}
	c->fd = fd;
	c->remote = *to;
	c->st = TP_CONNECTING;
	log_debug("tcp connecting to %s", addr_fmt(to, s, sizeof(s)));
}

static void conn_write(struct tp_conn *c)
{
	while (c->tx_len) {
		ssize_t w = send(c->fd, c->tx, c->tx_len, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN)
			return;
		if (w < 0) {
			conn_close(c);
			return;
		}
		memmove(c->tx, c->tx + w, c->tx_len - (size_t)w);
		c->tx_len -= (size_t)w;
	}
}

void tp_send(struct tp *t, const struct addr *to, const uint8_t *buf, size_t len)
{
	struct tp_conn *c = conn_find(t, to);

	if (!c) {
		conn_start(t, to);
		return;
	}
	if (c->st != TP_UP)
		return; /* the SYN is on its way; the kernel retransmits it */
	if (c->tx_len + len > sizeof(c->tx)) {
		t->st.tx_dropped++;
		return;
	}
	memcpy(c->tx + c->tx_len, buf, len);
	c->tx_len += len;
	conn_write(c);
}

size_t tp_pollfds(const struct tp *t, struct pollfd *pfd, size_t max)
{
	size_t n = 0;

	if (n < max)
		pfd[n++] = (struct pollfd){ .fd = t->lfd, .events = POLLIN };
	for (size_t i = 0; i < TP_MAX_CONN && n < max; i++) {
		const struct tp_conn *c = &t->c[i];
		short ev = c->st == TP_CONNECTING ? POLLOUT : POLLIN;

		if (c->st == TP_UP && c->tx_len)
			ev |= POLLOUT;
		pfd[n++] = (struct pollfd){ .fd = c->st == TP_FREE ? -1 : c->fd, .events = ev };
	}
	return n;
}

static void do_accept(struct tp *t)
{
	for (;;) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		struct addr from;
		struct tp_conn *c;
		int fd = accept4(t->lfd, (struct sockaddr *)&ss, &len, SOCK_CLOEXEC | SOCK_NONBLOCK);
		char s[ADDR_STRLEN];

		if (fd < 0)
			return;
		if (addr_from_sa(&from, (struct sockaddr *)&ss, len) < 0) {
			close(fd);
			continue;
		}
		/* A pending attempt to the same address is a different 4-tuple
		 * only if it is not the one this connection completes; keep the
		 * working connection. */
		c = conn_find(t, &from);
		if (c && c->st == TP_UP) {
			close(fd);
			continue;
		}
		if (c)
			conn_close(c);
		else
			c = conn_slot(t);
		if (!c) {
			close(fd);
			continue;
		}
		t->st.accepted++;
		c->fd = fd;
		c->remote = from;
		c->st = TP_UP;
		log_info("tcp connection accepted from %s", addr_fmt(&from, s, sizeof(s)));
	}
}

static void finish_connect(struct tp *t, struct tp_conn *c)
{
	int soerr = 0;
	socklen_t elen = sizeof(soerr);
	char s[ADDR_STRLEN];

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &elen) < 0)
		soerr = errno;
	if (soerr) {
		log_debug("tcp connect to %s: %s", addr_fmt(&c->remote, s, sizeof(s)), strerror(soerr));
		count_error(t, soerr);
		conn_close(c);
		return;
	}
	t->st.established++;
	c->st = TP_UP;
	log_info("tcp connection to %s established", addr_fmt(&c->remote, s, sizeof(s)));
}

/* Read what arrived and hand over every whole message. */
static void conn_read(struct tp *t, struct tp_conn *c,
		      void (*deliver)(void *arg, const uint8_t *buf, size_t len, const struct addr *from), void *arg)
{
	for (;;) {
		ssize_t r = recv(c->fd, c->rx + c->rx_len, sizeof(c->rx) - c->rx_len, 0);
		struct wire_msg m;
		int used;

		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (r <= 0) {
			conn_close(c); /* the partner closed (after BYE) or the connection broke */
			return;
		}
		c->rx_len += (size_t)r;
		while ((used = wire_parse(c->rx, c->rx_len, &m)) > 0) {
			struct addr from = c->remote;

			deliver(arg, c->rx, (size_t)used, &from);
			if (c->st != TP_UP)
				return;
			memmove(c->rx, c->rx + used, c->rx_len - (size_t)used);
			c->rx_len -= (size_t)used;
		}
		if (used < 0) {
			/* Not a message stream: nothing on it can be trusted to resync. */
			t->st.rx_bad++;
			conn_close(c);
			return;
		}
	}
}

void tp_service(struct tp *t, const struct pollfd *pfd, size_t n,
		void (*deliver)(void *arg, const uint8_t *buf, size_t len, const struct addr *from), void *arg)
{
	if (n && pfd[0].fd == t->lfd && (pfd[0].revents & POLLIN))
		do_accept(t);
	for (size_t i = 0; i + 1 < n && i < TP_MAX_CONN; i++) {
		struct tp_conn *c = &t->c[i];
		short re = pfd[i + 1].revents;

		if (c->st == TP_FREE || pfd[i + 1].fd != c->fd || !re)
			continue;
		if (c->st == TP_CONNECTING) {
			finish_connect(t, c);
			continue;
		}
		if (re & (POLLIN | POLLHUP | POLLERR))
			conn_read(t, c, deliver, arg);
		if (c->st == TP_UP && c->tx_len)
			conn_write(c);
	}
	/* What the machine queued while we read goes out now, not at the next poll. */
	for (size_t i = 0; i < TP_MAX_CONN; i++)
		if (t->c[i].st == TP_UP && t->c[i].tx_len)
			conn_write(&t->c[i]);
}

const struct tp_stats *tp_stats(const struct tp *t)
{
	return &t->st;
}
