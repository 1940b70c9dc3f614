/* tpc-server: the baseline for bench_server, a rendezvous server of the
 * classic design: one thread per client, blocking calls, one lock.
 *
 *   tpc-server --port N (0: pick one) [--ready-fd FD]
 *
 * It speaks enough of the punchlab wire protocol to pair clients: HELLO ->
 * WELCOME on TCP, REGISTER -> REG_ACK on UDP, then PEER to both partners of
 * a named session once both registered. No relay, no limits, no timeouts
 * beyond a 30 s wait for the partner. It exists only to be measured against
 * punch-server in the same run, so it is written the way such servers
 * usually are, not made slow on purpose: a hash table for sessions and
 * tokens, a condition variable per session, TCP_NODELAY, small thread
 * stacks that glibc reuses. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/addr.h"
#include "common/siphash.h"
#include "proto/wire.h"

#define NBUCKETS 65536
#define TPC_STACK (64 * 1024)

struct tsess;

struct tclient {
	int fd;
	uint32_t id;
	uint8_t token[WIRE_TOKEN_LEN];
	struct wire_msg hello;
	bool registered;
	struct addr observed;
	struct tsess *sess;
	int slot;
	struct tclient *next_by_token;
};

struct tsess {
	char name[WIRE_SESSION_MAX + 1];
	struct tclient *c[2];
	int refs;
	bool introduced;
	uint32_t id;
	uint8_t secret[WIRE_KEY_LEN];
	pthread_cond_t cv;
	struct tsess *next;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct tsess *sessions[NBUCKETS];
static struct tclient *by_token[NBUCKETS];
static uint8_t hkey[SIPHASH_KEY_LEN];
static uint32_t next_id;
static int udp_fd;

static size_t hash(const void *p, size_t len)
{
	return (size_t)siphash24(hkey, p, len) & (NBUCKETS - 1);
}

static int read_msg(int fd, uint8_t *buf, size_t size, struct wire_msg *m)
{
	size_t len = 0;

	for (;;) {
		ssize_t n = recv(fd, buf + len, size - len, 0);
		int r;

		if (n <= 0)
			return -1;
		len += (size_t)n;
		r = wire_parse(buf, len, m);
		if (r > 0)
			return 0;
		if (r < 0 || len == size)
			return -1;
	}
}

static void send_msg(int fd, const struct wire_msg *m)
{
	uint8_t buf[WIRE_MSG_MAX];
	int n = wire_build(buf, sizeof(buf), m, NULL);

	if (n > 0 && send(fd, buf, (size_t)n, MSG_NOSIGNAL) < 0)
		return;
}

static void unlink_token(struct tclient *c)
{
	struct tclient **pp;

	for (pp = &by_token[hash(c->token, WIRE_TOKEN_LEN)]; *pp; pp = &(*pp)->next_by_token)
		if (*pp == c) {
			*pp = c->next_by_token;
			return;
		}
}

static void sess_release(struct tsess *s)
{
	struct tsess **pp;

	if (--s->refs > 0)
		return;
	for (pp = &sessions[hash(s->name, strlen(s->name))]; *pp; pp = &(*pp)->next)
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	pthread_cond_destroy(&s->cv);
	free(s);
}

static void *client_thread(void *arg)
{
	struct tclient *c = arg;
	uint8_t buf[WIRE_MSG_MAX];
	struct wire_msg m;
	struct tsess *s;
	struct timespec until;
	size_t b;

	if (read_msg(c->fd, buf, sizeof(buf), &c->hello) < 0 || c->hello.type != WIRE_HELLO)
		goto out_nolock;
	if (getrandom(c->token, sizeof(c->token), 0) != sizeof(c->token))
		goto out_nolock;
	pthread_mutex_lock(&lock);
	c->id = ++next_id;
	b = hash(c->token, WIRE_TOKEN_LEN);
	c->next_by_token = by_token[b];
	by_token[b] = c;
	b = hash(c->hello.u.hello.session, strlen(c->hello.u.hello.session));
	for (s = sessions[b]; s; s = s->next)
		if (strcmp(s->name, c->hello.u.hello.session) == 0)
			break;
	if (s && (s->c[0] && s->c[1])) {
		pthread_mutex_unlock(&lock);
		goto out;
	}
	if (!s) {
		s = calloc(1, sizeof(*s));
		if (!s) {
			pthread_mutex_unlock(&lock);
			goto out;
		}
		snprintf(s->name, sizeof(s->name), "%s", c->hello.u.hello.session);
		pthread_cond_init(&s->cv, NULL);
		s->next = sessions[b];
		sessions[b] = s;
	}
	s->refs++;
	c->slot = s->c[0] ? 1 : 0;
	s->c[c->slot] = c;
	c->sess = s;
	if (s->c[0] && s->c[1]) {
		s->id = next_id;
		if (getrandom(s->secret, sizeof(s->secret), 0) < 0)
			memset(s->secret, 0, sizeof(s->secret));
	}
	pthread_mutex_unlock(&lock);

	memset(&m, 0, sizeof(m));
	m.type = WIRE_WELCOME;
	m.u.welcome.client_id = c->id;
	memcpy(m.u.welcome.token, c->token, WIRE_TOKEN_LEN);
	send_msg(c->fd, &m);

	/* Wait for the partner and both registrations. */
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 30;
	pthread_mutex_lock(&lock);
	while (!(s->c[0] && s->c[1] && s->c[0]->registered && s->c[1]->registered))
		if (pthread_cond_timedwait(&s->cv, &lock, &until) == ETIMEDOUT)
			break;
	if (s->c[0] && s->c[1] && s->c[0]->registered && s->c[1]->registered) {
		struct tclient *o = s->c[!c->slot];

		memset(&m, 0, sizeof(m));
		m.type = WIRE_PEER;
		m.u.peer.session_id = s->id;
		m.u.peer.role = (uint8_t)(c->slot + 1);
		memcpy(m.u.peer.secret, s->secret, WIRE_KEY_LEN);
		addr_to_wire(&c->observed, &m.u.peer.self_public);
		addr_to_wire(&o->observed, &m.u.peer.peer_public);
		s->introduced = true;
		pthread_mutex_unlock(&lock);
		send_msg(c->fd, &m);
		/* Block until the client goes. */
		while (recv(c->fd, buf, sizeof(buf), 0) > 0)
			;
		pthread_mutex_lock(&lock);
	}
	s->c[c->slot] = NULL;
	unlink_token(c);
	sess_release(s);
	pthread_mutex_unlock(&lock);
	goto out_nolock;
out:
	pthread_mutex_lock(&lock);
	unlink_token(c);
	pthread_mutex_unlock(&lock);
out_nolock:
	close(c->fd);
	free(c);
	return NULL;
}

static void *udp_thread(void *arg)
{
	uint8_t buf[2048], out[128];
	struct wire_msg m, ack;

	for (;;) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		ssize_t n = recvfrom(udp_fd, buf, sizeof(buf), 0, (struct sockaddr *)&ss, &len);
		struct tclient *c;
		struct addr from;
		int k;

		if (n < 0 || wire_parse_datagram(buf, (size_t)n, &m) < 0 || m.type != WIRE_REGISTER ||
		    addr_from_sa(&from, (struct sockaddr *)&ss, len) < 0)
			continue;
		pthread_mutex_lock(&lock);
		for (c = by_token[hash(m.u.reg.token, WIRE_TOKEN_LEN)]; c; c = c->next_by_token)
			if (memcmp(c->token, m.u.reg.token, WIRE_TOKEN_LEN) == 0)
				break;
		if (c) {
			c->registered = true;
			c->observed = from;
			memset(&ack, 0, sizeof(ack));
			ack.type = WIRE_REG_ACK;
			ack.u.reg_ack.client_id = c->id;
			addr_to_wire(&from, &ack.u.reg_ack.observed);
			if (c->sess)
				pthread_cond_broadcast(&c->sess->cv);
		}
		pthread_mutex_unlock(&lock);
		if (c && (k = wire_build(out, sizeof(out), &ack, NULL)) > 0)
			sendto(udp_fd, out, (size_t)k, 0, (struct sockaddr *)&ss, len);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	int lfd, one = 1, ready_fd = -1;
	pthread_attr_t attr;
	pthread_t th;

	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--port") == 0)
			sa.sin_port = htons((uint16_t)atoi(argv[i + 1]));
		else if (strcmp(argv[i], "--ready-fd") == 0)
			ready_fd = atoi(argv[i + 1]);
	}
	signal(SIGPIPE, SIG_IGN);
	if (getrandom(hkey, sizeof(hkey), 0) != sizeof(hkey))
		return 1;
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	udp_fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || udp_fd < 0)
		return 1;
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 4096) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&sa, &len) < 0 || bind(udp_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror("tpc-server: listen");
		return 1;
	}
	fprintf(stderr, "tpc-server: listening on 127.0.0.1:%u tcp/udp\n", ntohs(sa.sin_port));
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	/* A small stack, as servers with a thread per client set: the
	 * default 8 MiB is never touched beyond a few pages, and glibc then
	 * keeps freed stacks for reuse (it caches 40 MiB of them) instead
	 * of mapping and protecting a new one for every client. */
	pthread_attr_setstacksize(&attr, TPC_STACK);
	if (pthread_create(&th, &attr, udp_thread, NULL) != 0)
		return 1;
	if (ready_fd >= 0) {
		if (write(ready_fd, "ready\n", 6) != 6)
			return 1;
		close(ready_fd);
	}
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		struct tclient *c;

		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE)
				usleep(1000);
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			continue;
		}
		c->fd = fd;
		if (pthread_create(&th, &attr, client_thread, c) != 0) {
			close(fd);
			free(c);
		}
	}
}
