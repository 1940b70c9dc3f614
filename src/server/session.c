/* The punch-server's session and pairing table. See session.h. */
#include "server/session.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/ratelim.h"
#include "common/siphash.h"
#include "common/theap.h"

#define REPLAY_WINDOW 64 /* RELAY seqs remembered behind the highest one */

/* Log classes, each with its own rate limit: a flood of connections must not
 * silence the pairing lines, nor the other way round. */
enum { LOGC_CONN, LOGC_SESS, LOGC_UDP, LOGC_N };
#define LOG_BURST 20
#define LOG_REFILL_MS 4000

struct sess_session;

/* A source of connections: one IP address, or one IPv6 /64. Kept while some
 * client comes from it. */
struct sess_src {
	uint8_t key[17]; /* family (4 or 6), then the address masked to the prefix */
	unsigned conns, unauth;
	struct sess_client *oldest, *newest; /* its clients, by age (IP sources only) */
	struct sess_src *next_in_bucket;
};

/* One client. Kept small, since a server holds tens of thousands waiting:
 * the observed endpoint is stored in wire form (20 bytes, not a 128-byte
 * sockaddr_storage). */
struct sess_client {
	uint32_t id;
	uint8_t slot; /* role - 1 */
	uint8_t flags;
	bool hello;
	bool registered;
	bool alt_registered; /* HELLO PREDICT: a REGISTER came on another socket too */
	uint8_t n_private;
	uint8_t reg_sock;
	uint16_t local_port;
	void *ctx;
	struct sess_session *sess;
	struct theap_node timer; /* the deadline, when queued */
	struct wire_endpoint observed;
	struct wire_endpoint tcp_observed; /* the control connection's source; family 0: unknown */
	struct wire_endpoint alt_observed; /* HELLO PREDICT: the source of the REGISTER on another socket */
	uint8_t token[WIRE_TOKEN_LEN];
	struct wire_endpoint private_eps[WIRE_MAX_PRIVATE];
	struct sess_src *src_ip, *src_net;
	struct sess_client *src_prev, *src_next;
	struct sess_client *next_by_id, *next_by_token;
	struct sess_client *prev, *next;
	struct sess_client *due_next; /* sess_tick's list of due clients */
};

/* The replay window of one direction of the relay. */
struct replay {
	uint32_t top;    /* highest seq accepted; 0: none yet */
	uint64_t bitmap; /* bit i: top - i was accepted */
};

struct sess_session {
	char name[WIRE_SESSION_MAX + 1];
	bool anon; /* empty name: pairs with the next anonymous client */
	bool introduced;
	uint32_t id;
	uint8_t secret[WIRE_KEY_LEN];
	struct sess_client *c[2];
	struct replay rw[2]; /* RELAYs from role 1, from role 2 */
	uint32_t relayed[2];
	uint32_t dropped;
	struct sess_session *next_by_id, *next_by_name;
	struct sess_session *prev, *next;
};

struct out_node {
	struct out_node *next;
	struct sess_out o;
};

struct sess_table {
	struct sess_config cfg;
	uint8_t hash_key[SIPHASH_KEY_LEN];
	size_t nbuckets; /* a power of two */
	struct sess_client **clients_by_id;
	struct sess_client **clients_by_token;
	struct sess_session **sessions_by_id;
	struct sess_session **sessions_by_name;
	struct sess_client *clients;   /* all clients */
	struct sess_session *sessions; /* all sessions */
	struct sess_session *anon_waiting;
	struct sess_src **srcs;
	struct sess_src *heaviest; /* the IP source with the most clients, nearly: see src_put() */
	uint32_t next_id;
	struct theap timers;
	struct ratelim rl[LOGC_N];
	struct out_node *out_head, **out_tail;
	struct sess_stats st;
};

/* An info line of class cls, unless its rate limit is spent; the first line
 * after a quiet spell says how many were left out, in the same line. */
#define SLOG(t, now, cls, fmt, ...)                                                                \
	do {                                                                                       \
		uint64_t sup_;                                                                     \
		if (ratelim_allow(&(t)->rl[cls], (now), &sup_)) {                                  \
			char sfx_[64] = "";                                                        \
			if (sup_)                                                                  \
				snprintf(sfx_, sizeof(sfx_), " (%llu similar lines left out before)",  \
					 (unsigned long long)sup_);                                \
			log_info(fmt "%s", ##__VA_ARGS__, sfx_);                                   \
		}                                                                                  \
	} while (0)

/* Compare secrets without an early exit, so timing says nothing of how much matched. */
static bool ct_equal(const uint8_t *a, const uint8_t *b, size_t len)
{
	uint8_t d = 0;

	for (size_t i = 0; i < len; i++)
		d |= a[i] ^ b[i];
	return d == 0;
}

/* Bucket of a key. Names and tokens come from the network, so the hash is
 * keyed with a secret: nobody can aim many names at one bucket. */
static size_t bucket(const struct sess_table *t, const void *key, size_t len)
{
	return (size_t)siphash24(t->hash_key, key, len) & (t->nbuckets - 1);
}

static size_t bucket_id(const struct sess_table *t, uint32_t id)
{
	return bucket(t, &id, sizeof(id));
}

/* --- outputs --------------------------------------------------------------- */

static struct sess_out *out_new(struct sess_table *t, enum sess_out_kind kind)
{
	struct out_node *n = malloc(sizeof(*n));

	if (!n) {
		t->st.out_dropped++;
		log_warnx("out of memory: dropping an output");
		return NULL;
	}
	memset(&n->o, 0, offsetof(struct sess_out, buf));
	n->next = NULL;
	n->o.kind = kind;
	*t->out_tail = n;
	t->out_tail = &n->next;
	return &n->o;
}

static void out_tcp(struct sess_table *t, uint32_t id, void *ctx, const struct wire_msg *msg)
{
	struct sess_out *o = out_new(t, SESS_OUT_TCP);
	int n;

	if (!o)
		return;
	o->client_id = id;
	o->ctx = ctx;
	n = wire_build(o->buf, sizeof(o->buf), msg, NULL);
	if (n < 0) {
		/* Only a bug here can build an invalid message; send nothing. */
		log_warnx("cannot encode %s for client %u", wire_type_name(msg->type), id);
		o->len = 0;
		return;
	}
	o->len = (size_t)n;
}

static void out_close(struct sess_table *t, uint32_t id, void *ctx, bool at_once)
{
	struct sess_out *o = out_new(t, SESS_OUT_CLOSE);

	if (!o)
		return;
	o->client_id = id;
	o->ctx = ctx;
	o->at_once = at_once;
}

static void out_udp(struct sess_table *t, int sock, const struct addr *to, const uint8_t *buf, size_t len)
{
	struct sess_out *o;

	if (len > sizeof(o->buf))
		return;
	o = out_new(t, SESS_OUT_UDP);
	if (!o)
		return;
	o->sock = sock;
	o->to = *to;
	memcpy(o->buf, buf, len);
	o->len = len;
}

static void out_error(struct sess_table *t, uint32_t id, void *ctx, uint16_t code, const char *reason)
{
	struct wire_msg m;

	memset(&m, 0, sizeof(m));
	m.type = WIRE_ERROR;
	m.u.error.code = code;
	strncpy(m.u.error.reason, reason, WIRE_REASON_MAX);
	out_tcp(t, id, ctx, &m);
	out_close(t, id, ctx, false);
}

int sess_pop(struct sess_table *t, struct sess_out *out)
{
	struct out_node *n = t->out_head;

	if (!n)
		return 0;
	t->out_head = n->next;
	if (!t->out_head)
		t->out_tail = &t->out_head;
	memcpy(out, &n->o, offsetof(struct sess_out, buf) + n->o.len);
	free(n);
	return 1;
}

/* Set or clear (when < 0) a client's deadline. */
static void client_deadline(struct sess_table *t, struct sess_client *c, mtime_ms when)
{
	if (when < 0) {
		theap_del(&t->timers, &c->timer);
		return;
	}
	if (theap_set(&t->timers, &c->timer, when) < 0)
		log_warnx("client %u: out of memory for its deadline; it has none", c->id);
}

static struct addr ep_addr(const struct wire_endpoint *ep)
{
	struct addr a;

	if (addr_from_wire(&a, ep) < 0)
		memset(&a, 0, sizeof(a));
	return a;
}

static bool ep_equal(const struct wire_endpoint *ep, const struct addr *a)
{
	struct wire_endpoint w;

	memset(&w, 0, sizeof(w));
	addr_to_wire(a, &w);
	return w.family == ep->family && w.port == ep->port && memcmp(w.addr, ep->addr, sizeof(w.addr)) == 0;
}

/* --- sources --------------------------------------------------------------- */

/* The key of a's IP address (plen 0) or of its IPv6 /64 (plen 64). */
static void src_key(const struct addr *a, bool net, uint8_t key[17])
{
	struct wire_endpoint ep;

	memset(&ep, 0, sizeof(ep));
	addr_to_wire(a, &ep);
	memset(key, 0, 17);
	/* An address with interface id 0 must not be taken for its /64. */
	key[0] = (uint8_t)(ep.family | (net ? 0x80 : 0));
	memcpy(key + 1, ep.addr, net ? 8 : 16);
}

static struct sess_src *src_find(const struct sess_table *t, const uint8_t key[17], size_t *b)
{
	struct sess_src *s;

	*b = bucket(t, key, 17);
	for (s = t->srcs[*b]; s; s = s->next_in_bucket)
		if (memcmp(s->key, key, 17) == 0)
			return s;
	return NULL;
}

/* The source entry for key, made when missing. NULL when out of memory. */
static struct sess_src *src_get(struct sess_table *t, const uint8_t key[17])
{
	size_t b;
	struct sess_src *s = src_find(t, key, &b);

	if (s)
		return s;
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	memcpy(s->key, key, 17);
	s->next_in_bucket = t->srcs[b];
	t->srcs[b] = s;
	t->st.sources_now++;
	return s;
}

static void src_put_if_unused(struct sess_table *t, struct sess_src *s)
{
	struct sess_src **pp;

	if (!s || s->conns)
		return;
	for (pp = &t->srcs[bucket(t, s->key, 17)]; *pp; pp = &(*pp)->next_in_bucket)
		if (*pp == s) {
			*pp = s->next_in_bucket;
			break;
		}
	if (t->heaviest == s)
		t->heaviest = NULL;
	t->st.sources_now--;
	free(s);
}

/* Count c against its sources. The heaviest source is tracked as it grows:
 * the one that floods is the one that keeps growing, so it takes the place
 * back at its next connection even after others shrank or left. */
static void src_attach(struct sess_table *t, struct sess_client *c, struct sess_src *ip, struct sess_src *net)
{
	c->src_ip = ip;
	c->src_net = net;
	if (net)
		net->conns++;
	if (!ip)
		return;
	ip->conns++;
	ip->unauth++;
	c->src_prev = ip->newest;
	c->src_next = NULL;
	if (ip->newest)
		ip->newest->src_next = c;
	else
		ip->oldest = c;
	ip->newest = c;
	if (!t->heaviest || ip->conns > t->heaviest->conns)
		t->heaviest = ip;
}

static void src_detach(struct sess_table *t, struct sess_client *c)
{
	struct sess_src *ip = c->src_ip;

	if (ip) {
		ip->conns--;
		if (!c->hello)
			ip->unauth--;
		if (c->src_prev)
			c->src_prev->src_next = c->src_next;
		else
			ip->oldest = c->src_next;
		if (c->src_next)
			c->src_next->src_prev = c->src_prev;
		else
			ip->newest = c->src_prev;
		src_put_if_unused(t, ip);
	}
	if (c->src_net) {
		c->src_net->conns--;
		src_put_if_unused(t, c->src_net);
	}
	c->src_ip = c->src_net = NULL;
}

/* --- clients --------------------------------------------------------------- */

static struct sess_client *client_find(const struct sess_table *t, uint32_t id)
{
	struct sess_client *c;

	for (c = t->clients_by_id[bucket_id(t, id)]; c; c = c->next_by_id)
		if (c->id == id)
			return c;
	return NULL;
}

static struct sess_client *client_find_token(const struct sess_table *t, const uint8_t *token)
{
	struct sess_client *c;

	for (c = t->clients_by_token[bucket(t, token, WIRE_TOKEN_LEN)]; c; c = c->next_by_token)
		if (c->hello && ct_equal(c->token, token, WIRE_TOKEN_LEN))
			return c;
	return NULL;
}

static uint32_t client_new_id(struct sess_table *t)
{
	/* Sequential ids; skip 0 and, after a wrap, ids still in use. */
	do {
		if (++t->next_id == 0)
			t->next_id = 1;
	} while (client_find(t, t->next_id));
	return t->next_id;
}

static void client_unlink_token(struct sess_table *t, struct sess_client *c)
{
	struct sess_client **pp;

	if (!c->hello)
		return;
	for (pp = &t->clients_by_token[bucket(t, c->token, WIRE_TOKEN_LEN)]; *pp; pp = &(*pp)->next_by_token)
		if (*pp == c) {
			*pp = c->next_by_token;
			return;
		}
}

static void client_free(struct sess_table *t, struct sess_client *c)
{
	struct sess_client **pp;

	for (pp = &t->clients_by_id[bucket_id(t, c->id)]; *pp; pp = &(*pp)->next_by_id)
		if (*pp == c) {
			*pp = c->next_by_id;
			break;
		}
	client_unlink_token(t, c);
	theap_del(&t->timers, &c->timer);
	src_detach(t, c);
	if (c->prev)
		c->prev->next = c->next;
	else
		t->clients = c->next;
	if (c->next)
		c->next->prev = c->prev;
	t->st.clients_now--;
	free(c);
}

/* --- sessions -------------------------------------------------------------- */

static struct sess_session *session_find(const struct sess_table *t, uint32_t id)
{
	struct sess_session *s;

	for (s = t->sessions_by_id[bucket_id(t, id)]; s; s = s->next_by_id)
		if (s->id == id)
			return s;
	return NULL;
}

static struct sess_session *session_find_name(const struct sess_table *t, const char *name)
{
	struct sess_session *s;

	for (s = t->sessions_by_name[bucket(t, name, strlen(name))]; s; s = s->next_by_name)
		if (strcmp(s->name, name) == 0)
			return s;
	return NULL;
}

static void session_unlink_id(struct sess_table *t, struct sess_session *s)
{
	struct sess_session **pp;

	for (pp = &t->sessions_by_id[bucket_id(t, s->id)]; *pp; pp = &(*pp)->next_by_id)
		if (*pp == s) {
			*pp = s->next_by_id;
			return;
		}
}

/* Give s a fresh random id, unique in the table. Returns 0 or -errno. */
static int session_new_id(struct sess_table *t, struct sess_session *s)
{
	uint32_t id;
	int r;

	do {
		r = t->cfg.rand(t->cfg.rand_arg, &id, sizeof(id));
		if (r < 0)
			return r;
	} while (id == 0 || session_find(t, id));
	if (s->id)
		session_unlink_id(t, s);
	s->id = id;
	s->next_by_id = t->sessions_by_id[bucket_id(t, id)];
	t->sessions_by_id[bucket_id(t, id)] = s;
	return 0;
}

static struct sess_session *session_new(struct sess_table *t, const char *name)
{
	struct sess_session *s = calloc(1, sizeof(*s));
	size_t b;

	if (!s)
		return NULL;
	if (session_new_id(t, s) < 0) {
		free(s);
		return NULL;
	}
	snprintf(s->name, sizeof(s->name), "%s", name);
	s->anon = name[0] == '\0';
	if (!s->anon) {
		b = bucket(t, name, strlen(name));
		s->next_by_name = t->sessions_by_name[b];
		t->sessions_by_name[b] = s;
	}
	s->next = t->sessions;
	if (s->next)
		s->next->prev = s;
	t->sessions = s;
	t->st.sessions_now++;
	return s;
}

static void session_free(struct sess_table *t, struct sess_session *s)
{
	struct sess_session **pp;

	session_unlink_id(t, s);
	if (!s->anon)
		for (pp = &t->sessions_by_name[bucket(t, s->name, strlen(s->name))]; *pp;
		     pp = &(*pp)->next_by_name)
			if (*pp == s) {
				*pp = s->next_by_name;
				break;
			}
	if (t->anon_waiting == s)
		t->anon_waiting = NULL;
	for (int i = 0; i < 2; i++)
		if (s->c[i])
			s->c[i]->sess = NULL;
	if (s->prev)
		s->prev->next = s->next;
	else
		t->sessions = s->next;
	if (s->next)
		s->next->prev = s->prev;
	t->st.sessions_now--;
	free(s);
}

/* How a session is named in the log. */
static const char *session_label(const struct sess_session *s, char *buf, size_t size)
{
	if (s->anon)
		snprintf(buf, size, "%08x (anonymous)", s->id);
	else
		snprintf(buf, size, "%08x '%s'", s->id, s->name);
	return buf;
}

/* Registered, and for a client predicting ports at the second address too. */
static bool client_ready(const struct sess_client *c)
{
	return c->registered && (!(c->flags & WIRE_HELLO_PREDICT) || c->alt_registered);
}

/* The partner's NAT's port step, from its two observations: set in m when it
 * registered at both addresses from the same IP address (from another, a
 * multi-address NAT, nothing can be predicted from ports alone). */
static void peer_step(const struct sess_client *other, struct wire_msg *m)
{
	int d;

	if (!(other->flags & WIRE_HELLO_PREDICT) || !other->alt_registered ||
	    other->alt_observed.family != other->observed.family ||
	    memcmp(other->alt_observed.addr, other->observed.addr, sizeof(other->observed.addr)))
		return;
	/* The short way round the 16-bit port space (client/predict.c does the same). */
	d = (int)other->alt_observed.port - (int)other->observed.port;
	if (d > 32767)
		d -= 65536;
	else if (d < -32767)
		d += 65536;
	m->u.peer.flags |= WIRE_PEER_PREDICT;
	m->u.peer.peer_step = (int16_t)d;
}

/* Both partners are there and registered: tell each the other's endpoints,
 * one right after the other in the same drain, so that both start punching
 * at the same instant. */
static void session_try_introduce(struct sess_table *t, mtime_ms now, struct sess_session *s)
{
	struct sess_client *a = s->c[0], *b = s->c[1];
	char lbl[96], ea[ADDR_STRLEN], eb[ADDR_STRLEN];
	struct addr oa, ob;
	bool tcp;

	if (s->introduced || !a || !b || !client_ready(a) || !client_ready(b))
		return;
	s->introduced = true;
	/* TCP punching needs both sides at it, and the endpoints they punch from:
	 * their control connections' sources. A pair with one TCP side gets the
	 * UDP endpoints and no TCP flag, and the TCP side says it cannot punch. */
	tcp = (a->flags & b->flags & WIRE_HELLO_TCP) && a->tcp_observed.family && b->tcp_observed.family;
	for (int i = 0; i < 2; i++) {
		struct sess_client *me = s->c[i], *other = s->c[!i];
		struct wire_msg m;

		memset(&m, 0, sizeof(m));
		m.type = WIRE_PEER;
		m.u.peer.session_id = s->id;
		m.u.peer.role = (uint8_t)(i + 1);
		memcpy(m.u.peer.secret, s->secret, WIRE_KEY_LEN);
		m.u.peer.flags = tcp ? WIRE_PEER_TCP : 0;
		m.u.peer.self_public = tcp ? me->tcp_observed : me->observed;
		m.u.peer.peer_public = tcp ? other->tcp_observed : other->observed;
		/* The classic proof of concept trusts the port the client says it
		 * bound; a client can ask for that behaviour, to show why it fails
		 * behind a NAT that rewrites ports. */
		if (other->flags & WIRE_HELLO_ADVERTISE_LOCAL)
			m.u.peer.peer_public.port = other->local_port;
		peer_step(other, &m);
		m.u.peer.n_private = other->n_private;
		memcpy(m.u.peer.peer_private, other->private_eps, sizeof(m.u.peer.peer_private));
		out_tcp(t, me->id, me->ctx, &m);
		client_deadline(t, me, -1);
	}
	t->st.introduced++;
	oa = ep_addr(tcp ? &a->tcp_observed : &a->observed);
	ob = ep_addr(tcp ? &b->tcp_observed : &b->observed);
	SLOG(t, now, LOGC_SESS, "session %s: introduced client %u (%s) and client %u (%s)%s%s",
	     session_label(s, lbl, sizeof(lbl)), a->id, addr_fmt(&oa, ea, sizeof(ea)), b->id,
	     addr_fmt(&ob, eb, sizeof(eb)), tcp ? " for TCP" : "",
	     (a->flags | b->flags) & WIRE_HELLO_ADVERTISE_LOCAL ? ", advertising local ports as asked" : "");
}

/* The session now has two clients: a new pair gets a fresh id and secret. */
static int session_pair(struct sess_table *t, mtime_ms now, struct sess_session *s)
{
	char lbl[96];
	int r;

	r = session_new_id(t, s);
	if (r == 0)
		r = t->cfg.rand(t->cfg.rand_arg, s->secret, sizeof(s->secret));
	if (r < 0)
		return r;
	for (int i = 0; i < 2; i++)
		client_deadline(t, s->c[i], now + t->cfg.pair_timeout);
	t->st.pairs++;
	SLOG(t, now, LOGC_SESS, "session %s: paired client %u (role 1) with client %u (role 2)",
	     session_label(s, lbl, sizeof(lbl)), s->c[0]->id, s->c[1]->id);
	session_try_introduce(t, now, s);
	return 0;
}

static void session_put(struct sess_session *s, struct sess_client *c)
{
	int slot = s->c[0] ? 1 : 0;

	s->c[slot] = c;
	c->sess = s;
	c->slot = (uint8_t)slot;
}

/* Put a client that said HELLO into its session; pair it if it completes one.
 * Returns 0, or -EBUSY when the named session is taken, -errno on a failure;
 * on error the client is in no session. */
static int client_join(struct sess_table *t, mtime_ms now, struct sess_client *c, const char *name)
{
	struct sess_session *s;
	char lbl[96];

	if (name[0] == '\0' && t->anon_waiting) {
		s = t->anon_waiting;
		t->anon_waiting = NULL;
	} else if (name[0] != '\0' && (s = session_find_name(t, name))) {
		if (s->introduced || (s->c[0] && s->c[1]))
			return -EBUSY;
	} else {
		s = session_new(t, name);
		if (!s)
			return -ENOMEM;
		if (s->anon)
			t->anon_waiting = s;
	}
	session_put(s, c);
	if (s->c[0] && s->c[1]) {
		int r = session_pair(t, now, s);

		if (r < 0) {
			s->c[c->slot] = NULL;
			c->sess = NULL;
			if (s->anon && !t->anon_waiting)
				t->anon_waiting = s;
			return r;
		}
	} else {
		SLOG(t, now, LOGC_SESS, "session %s: client %u waits for a partner",
		     session_label(s, lbl, sizeof(lbl)), c->id);
	}
	return 0;
}

/* c leaves its session (its connection is gone). */
static void client_leave(struct sess_table *t, mtime_ms now, struct sess_client *c)
{
	struct sess_session *s = c->sess;
	struct sess_client *other;
	char lbl[96];

	if (!s)
		return;
	s->c[c->slot] = NULL;
	c->sess = NULL;
	other = s->c[!c->slot];
	if (s->introduced) {
		/* The partner is told nothing: the pair may be talking directly.
		 * The relay stops now (it forwards only between two live control
		 * connections), and the session goes with its last client. */
		if (!other) {
			t->st.expired++;
			SLOG(t, now, LOGC_SESS, "session %s: both clients left; relayed %u from role 1, %u from role 2, dropped %u",
			     session_label(s, lbl, sizeof(lbl)), s->relayed[0], s->relayed[1], s->dropped);
			session_free(t, s);
		}
		return;
	}
	if (!other) {
		session_free(t, s);
		return;
	}
	/* Not introduced yet: the partner waits again. An anonymous one pairs
	 * with any other waiting anonymous client. */
	client_deadline(t, other, now + t->cfg.pair_timeout);
	if (s->anon) {
		s->c[other->slot] = NULL;
		other->sess = NULL;
		session_free(t, s);
		if (client_join(t, now, other, "") < 0)
			log_warnx("client %u: cannot rejoin the anonymous queue", other->id);
		return;
	}
	if (other->slot == 1) {
		/* Keep the waiting client in slot 0, so a newcomer gets role 2. */
		s->c[0] = other;
		s->c[1] = NULL;
		other->slot = 0;
	}
	SLOG(t, now, LOGC_SESS, "session %s: client %u waits for a new partner", session_label(s, lbl, sizeof(lbl)),
	     other->id);
}

/* Drop a client from the table, after its connection was closed or queued for closing. */
static void client_remove(struct sess_table *t, mtime_ms now, struct sess_client *c, const char *why)
{
	SLOG(t, now, LOGC_CONN, "client %u closed: %s", c->id, why);
	client_leave(t, now, c);
	client_free(t, c);
}

/* --- API ------------------------------------------------------------------- */

int sess_create(const struct sess_config *cfg, struct sess_table **out)
{
	struct sess_table *t;
	int r = -ENOMEM;

	if (!cfg || !cfg->rand || cfg->max_clients == 0 || cfg->pair_timeout < 0 || cfg->hello_timeout < 0)
		return -EINVAL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->cfg = *cfg;
	if (t->cfg.hello_timeout == 0 || t->cfg.hello_timeout > t->cfg.pair_timeout)
		t->cfg.hello_timeout = t->cfg.pair_timeout;
	t->out_tail = &t->out_head;
	for (int i = 0; i < LOGC_N; i++)
		ratelim_init(&t->rl[i], LOG_BURST, LOG_REFILL_MS);
	t->nbuckets = 64;
	while (t->nbuckets < cfg->max_clients && t->nbuckets < (1u << 20))
		t->nbuckets <<= 1;
	t->clients_by_id = calloc(t->nbuckets, sizeof(*t->clients_by_id));
	t->clients_by_token = calloc(t->nbuckets, sizeof(*t->clients_by_token));
	t->sessions_by_id = calloc(t->nbuckets, sizeof(*t->sessions_by_id));
	t->sessions_by_name = calloc(t->nbuckets, sizeof(*t->sessions_by_name));
	t->srcs = calloc(t->nbuckets, sizeof(*t->srcs));
	if (!t->clients_by_id || !t->clients_by_token || !t->sessions_by_id || !t->sessions_by_name || !t->srcs)
		goto cleanup;
	r = cfg->rand(cfg->rand_arg, t->hash_key, sizeof(t->hash_key));
	if (r < 0)
		goto cleanup;
	*out = t;
	return 0;
cleanup:
	sess_destroy(t);
	return r;
}

void sess_destroy(struct sess_table *t)
{
	struct out_node *n;

	if (!t)
		return;
	while (t->clients) {
		struct sess_client *c = t->clients;

		t->clients = c->next;
		free(c);
	}
	while (t->sessions) {
		struct sess_session *s = t->sessions;

		t->sessions = s->next;
		free(s);
	}
	while ((n = t->out_head)) {
		t->out_head = n->next;
		free(n);
	}
	for (size_t b = 0; t->srcs && b < t->nbuckets; b++)
		while (t->srcs[b]) {
			struct sess_src *s = t->srcs[b];

			t->srcs[b] = s->next_in_bucket;
			free(s);
		}
	t->timers.n = 0; /* the nodes are freed already */
	theap_free(&t->timers);
	free(t->clients_by_id);
	free(t->clients_by_token);
	free(t->sessions_by_id);
	free(t->sessions_by_name);
	free(t->srcs);
	free(t);
}

/* The table is full: push out the oldest client of the heaviest source, when
 * that source holds more than one client more than the newcomer's (so that
 * shedding moves the table toward an even share, and never just swaps one
 * client of a source for another of the same). Clients that have not said
 * HELLO go first. Returns true when room was made. */
static bool shed_one(struct sess_table *t, mtime_ms now, const struct sess_src *mine)
{
	struct sess_src *h = t->heaviest;
	struct sess_client *v;
	unsigned have = mine ? mine->conns : 0;
	int steps = 0;

	if (!h || h == mine || h->conns <= have + 1)
		return false;
	for (v = h->oldest; v && v->hello && steps < 64; v = v->src_next, steps++)
		;
	if (!v)
		v = h->oldest;
	if (!v)
		return false;
	t->st.shed++;
	out_error(t, v->id, v->ctx, WIRE_ERR_FULL, "server full: too many connections from your address");
	client_remove(t, now, v, "shed for a client from a lighter source");
	return true;
}

/* Refuse a connection just accepted: ERROR(FULL), then close at once. It
 * has sent nothing we must read first, and a flood of refused connections
 * must not hold a descriptor each for a linger time. */
static void refuse(struct sess_table *t, mtime_ms now, uint32_t id, void *ctx, const char *why)
{
	struct wire_msg m;

	SLOG(t, now, LOGC_CONN, "client %u refused: %s", id, why);
	memset(&m, 0, sizeof(m));
	m.type = WIRE_ERROR;
	m.u.error.code = WIRE_ERR_FULL;
	strncpy(m.u.error.reason, why, WIRE_REASON_MAX);
	out_tcp(t, id, ctx, &m);
	out_close(t, id, ctx, true);
}

uint32_t sess_client_open(struct sess_table *t, mtime_ms now, void *ctx, const struct addr *from)
{
	uint32_t id = client_new_id(t);
	struct sess_client *c = NULL;
	struct sess_src *ip = NULL, *net = NULL;
	uint8_t key[17];
	size_t b;

	if (from) {
		src_key(from, false, key);
		ip = src_get(t, key);
		if (ip && addr_family(from) == AF_INET6) {
			src_key(from, true, key);
			net = src_get(t, key);
		}
		if (!ip || (addr_family(from) == AF_INET6 && !net)) {
			src_put_if_unused(t, ip);
			t->st.refused_full++;
			refuse(t, now, id, ctx, "out of memory");
			return id;
		}
		if ((t->cfg.max_per_ip && ip->conns >= t->cfg.max_per_ip) ||
		    (t->cfg.max_unauth_per_ip && ip->unauth >= t->cfg.max_unauth_per_ip) ||
		    (net && t->cfg.max_per_net && net->conns >= t->cfg.max_per_net)) {
			t->st.refused_source++;
			refuse(t, now, id, ctx, "too many connections from your address");
			src_put_if_unused(t, ip);
			src_put_if_unused(t, net);
			return id;
		}
	}
	if (t->st.clients_now >= t->cfg.max_clients)
		shed_one(t, now, ip);
	if (t->st.clients_now < t->cfg.max_clients)
		c = calloc(1, sizeof(*c));
	if (!c) {
		t->st.refused_full++;
		refuse(t, now, id, ctx, t->st.clients_now < t->cfg.max_clients ? "out of memory" : "server full");
		src_put_if_unused(t, ip);
		src_put_if_unused(t, net);
		return id;
	}
	c->id = id;
	c->ctx = ctx;
	if (from)
		addr_to_wire(from, &c->tcp_observed);
	src_attach(t, c, ip, net);
	/* A client that never says HELLO, or says it slowly, is dropped soon. */
	client_deadline(t, c, now + t->cfg.hello_timeout);
	b = bucket_id(t, id);
	c->next_by_id = t->clients_by_id[b];
	t->clients_by_id[b] = c;
	c->next = t->clients;
	if (c->next)
		c->next->prev = c;
	t->clients = c;
	t->st.clients++;
	t->st.clients_now++;
	return id;
}

void sess_client_bad(struct sess_table *t, mtime_ms now, uint32_t id, const char *reason)
{
	struct sess_client *c = client_find(t, id);

	if (!c)
		return;
	t->st.protocol_errors++;
	out_error(t, id, c->ctx, WIRE_ERR_PROTOCOL, reason);
	client_remove(t, now, c, reason);
}

void sess_client_closed(struct sess_table *t, mtime_ms now, uint32_t id, const char *why)
{
	struct sess_client *c = client_find(t, id);

	if (c)
		client_remove(t, now, c, why);
}

static void client_hello(struct sess_table *t, mtime_ms now, struct sess_client *c, const struct wire_msg *msg)
{
	const char *name = msg->u.hello.session;
	struct sess_session *s;
	struct wire_msg m;
	char why[128];
	size_t b;
	int r;

	if (msg->u.hello.n_private > WIRE_MAX_PRIVATE || strnlen(name, sizeof(msg->u.hello.session)) > WIRE_SESSION_MAX) {
		sess_client_bad(t, now, c->id, "bad HELLO");
		return;
	}
	/* Names go into log lines: no control characters. */
	for (const char *p = name; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f) {
			sess_client_bad(t, now, c->id, "control character in session name");
			return;
		}
	/* Refuse a taken session before WELCOME, so the client gets one clear answer. */
	if (name[0] && (s = session_find_name(t, name)) && (s->introduced || (s->c[0] && s->c[1]))) {
		t->st.refused_session++;
		out_error(t, c->id, c->ctx, WIRE_ERR_SESSION, "session already has two clients");
		snprintf(why, sizeof(why), "session '%s' already has two clients", name);
		client_remove(t, now, c, why);
		return;
	}
	do {
		r = t->cfg.rand(t->cfg.rand_arg, c->token, sizeof(c->token));
	} while (r == 0 && client_find_token(t, c->token));
	if (r < 0) {
		errno = -r;
		log_warn("client %u: no random token", c->id);
		out_error(t, c->id, c->ctx, WIRE_ERR_PROTOCOL, "server error");
		client_remove(t, now, c, "no randomness");
		return;
	}
	c->hello = true;
	if (c->src_ip)
		c->src_ip->unauth--;
	/* The pair timeout counts from HELLO; the short HELLO deadline is over. */
	client_deadline(t, c, now + t->cfg.pair_timeout);
	b = bucket(t, c->token, WIRE_TOKEN_LEN);
	c->next_by_token = t->clients_by_token[b];
	t->clients_by_token[b] = c;
	c->flags = msg->u.hello.flags;
	c->local_port = msg->u.hello.local_port;
	c->n_private = msg->u.hello.n_private;
	memcpy(c->private_eps, msg->u.hello.private_eps, sizeof(c->private_eps));

	memset(&m, 0, sizeof(m));
	m.type = WIRE_WELCOME;
	m.u.welcome.client_id = c->id;
	memcpy(m.u.welcome.token, c->token, WIRE_TOKEN_LEN);
	out_tcp(t, c->id, c->ctx, &m);

	r = client_join(t, now, c, name);
	if (r < 0) {
		out_error(t, c->id, c->ctx, WIRE_ERR_PROTOCOL, "server error");
		client_remove(t, now, c, r == -EBUSY ? "session taken" : "cannot join a session");
	}
}

void sess_client_msg(struct sess_table *t, mtime_ms now, uint32_t id, const struct wire_msg *msg)
{
	struct sess_client *c = client_find(t, id);
	char why[64];

	if (!c)
		return;
	if (msg->type != WIRE_HELLO || c->hello) {
		snprintf(why, sizeof(why), "unexpected %s on the control connection", wire_type_name(msg->type));
		sess_client_bad(t, now, id, why);
		return;
	}
	client_hello(t, now, c, msg);
}

/* REG_ACK to a REGISTER's source: client id and the endpoint observed. */
static void reg_ack(struct sess_table *t, int sock, const struct addr *to, uint32_t id,
		    const struct wire_endpoint *observed)
{
	struct wire_msg m;
	uint8_t buf[WIRE_HDR_LEN + 4 + WIRE_EP_LEN];
	int n;

	memset(&m, 0, sizeof(m));
	m.type = WIRE_REG_ACK;
	m.u.reg_ack.client_id = id;
	m.u.reg_ack.observed = *observed;
	n = wire_build(buf, sizeof(buf), &m, NULL);
	if (n > 0)
		out_udp(t, sock, to, buf, (size_t)n);
}

static void udp_register(struct sess_table *t, mtime_ms now, int sock, const struct addr *from,
			 const struct wire_msg *msg)
{
	struct sess_client *c = client_find_token(t, msg->u.reg.token);
	char ea[ADDR_STRLEN], eb[ADDR_STRLEN];
	struct addr was;

	if (!c) {
		/* Unknown token: whoever sent it gets nothing back. */
		t->st.reg_bad++;
		log_debug("REGISTER with an unknown token from %s dropped", addr_fmt(from, ea, sizeof(ea)));
		return;
	}
	if (c->registered && sock != c->reg_sock && (c->flags & WIRE_HELLO_PREDICT)) {
		/* The second observation of a client predicting ports: kept apart,
		 * its endpoint stays the first one (the relay sends there). */
		if (c->sess && c->sess->introduced) {
			t->st.reg_ignored++;
			return;
		}
		if (!c->alt_registered)
			SLOG(t, now, LOGC_UDP, "client %u registered at a second address: observed %s", c->id,
			     addr_fmt(from, ea, sizeof(ea)));
		c->alt_registered = true;
		memset(&c->alt_observed, 0, sizeof(c->alt_observed));
		addr_to_wire(from, &c->alt_observed);
		t->st.registers++;
		reg_ack(t, sock, from, c->id, &c->alt_observed);
		if (c->sess)
			session_try_introduce(t, now, c->sess);
		return;
	}
	if (!c->registered) {
		SLOG(t, now, LOGC_UDP, "client %u registered: observed %s", c->id, addr_fmt(from, ea, sizeof(ea)));
	} else if (!ep_equal(&c->observed, from) || sock != c->reg_sock) {
		was = ep_addr(&c->observed);
		if (c->sess && c->sess->introduced) {
			/* The partner already has our endpoint; a late REGISTER from
			 * elsewhere is a replay or a NAT rebinding we cannot follow. */
			t->st.reg_ignored++;
			SLOG(t, now, LOGC_UDP, "client %u: REGISTER from %s ignored, already introduced with %s", c->id,
			     addr_fmt(from, ea, sizeof(ea)), addr_fmt(&was, eb, sizeof(eb)));
			return;
		}
		SLOG(t, now, LOGC_UDP, "client %u registered again: observed %s (was %s)", c->id,
		     addr_fmt(from, ea, sizeof(ea)), addr_fmt(&was, eb, sizeof(eb)));
	}
	c->registered = true;
	memset(&c->observed, 0, sizeof(c->observed));
	addr_to_wire(from, &c->observed);
	c->reg_sock = (uint8_t)sock;
	t->st.registers++;
	reg_ack(t, sock, from, c->id, &c->observed);
	if (c->sess)
		session_try_introduce(t, now, c->sess);
}

/* Accept seq once: true when it is new and inside the window (and mark it). */
static bool replay_check(struct replay *w, uint32_t seq)
{
	uint32_t back;

	if (seq == 0)
		return false;
	if (seq > w->top) {
		uint32_t shift = seq - w->top;

		w->bitmap = shift >= REPLAY_WINDOW ? 1 : (w->bitmap << shift) | 1;
		w->top = seq;
		return true;
	}
	back = w->top - seq;
	if (back >= REPLAY_WINDOW || (w->bitmap & ((uint64_t)1 << back)))
		return false;
	w->bitmap |= (uint64_t)1 << back;
	return true;
}

static void udp_relay(struct sess_table *t, mtime_ms now, int sock, const struct addr *from,
		      const uint8_t *buf, size_t len, const struct wire_msg *msg)
{
	struct sess_session *s = session_find(t, msg->u.relay.session_id);
	struct sess_client *src, *dst;
	struct addr to;
	char ea[ADDR_STRLEN];
	int from_slot = msg->u.relay.role - 1;

	/* Forward only what the session's secret vouches for, from exactly the
	 * endpoint that registered for that role, and only to the endpoint that
	 * registered for the other: the relay can be aimed at nobody else. And
	 * only while both control connections live: a pair that is gone has
	 * nobody to relay for, whatever its old endpoints still send. */
	if (!s || !s->introduced || (from_slot != 0 && from_slot != 1) || !wire_verify(buf, len, s->secret)) {
		t->st.relay_dropped++;
		if (s)
			s->dropped++;
		log_debug("RELAY from %s dropped", addr_fmt(from, ea, sizeof(ea)));
		return;
	}
	src = s->c[from_slot];
	dst = s->c[!from_slot];
	if (!src || !dst) {
		t->st.relay_dropped++;
		t->st.relay_orphaned++;
		s->dropped++;
		return;
	}
	if (!ep_equal(&src->observed, from) || sock != src->reg_sock) {
		t->st.relay_dropped++;
		s->dropped++;
		log_debug("RELAY from %s dropped", addr_fmt(from, ea, sizeof(ea)));
		return;
	}
	/* Checked last, so that only an authentic RELAY moves the window. */
	if (!replay_check(&s->rw[from_slot], msg->u.relay.seq)) {
		t->st.relay_dropped++;
		t->st.relay_replayed++;
		s->dropped++;
		return;
	}
	to = ep_addr(&dst->observed);
	out_udp(t, dst->reg_sock, &to, buf, len);
	s->relayed[from_slot]++;
	t->st.relayed++;
}

void sess_udp_input(struct sess_table *t, mtime_ms now, int sock, const struct addr *from, const uint8_t *buf,
		    size_t len)
{
	struct wire_msg msg;

	if (wire_parse_datagram(buf, len, &msg) < 0) {
		if (len >= 4 && buf[0] == WIRE_MAGIC0 && buf[1] == WIRE_MAGIC1 && buf[3] == WIRE_REGISTER)
			t->st.reg_bad++;
		else
			t->st.udp_dropped++;
		return;
	}
	switch (msg.type) {
	case WIRE_REGISTER:
		udp_register(t, now, sock, from, &msg);
		break;
	case WIRE_RELAY:
		udp_relay(t, now, sock, from, buf, len, &msg);
		break;
	default:
		t->st.udp_dropped++;
		break;
	}
}

void sess_tick(struct sess_table *t, mtime_ms now)
{
	struct sess_client *due = NULL, **tail = &due, *c, *cnext;
	struct theap_node *n;

	/* Take out what is due, cheapest first: only the due clients are looked at. */
	while ((n = theap_min(&t->timers)) && n->when <= now) {
		c = (struct sess_client *)((char *)n - offsetof(struct sess_client, timer));
		theap_del(&t->timers, n);
		c->due_next = NULL;
		*tail = c;
		tail = &c->due_next;
	}
	/* Two passes: first those at fault (no HELLO, no partner, not registered),
	 * so that a registered client whose partner never registered is not
	 * dropped with it but waits for a new partner. Leaving may give a due
	 * client a new deadline (its partner left): it is queued again, skip it. */
	for (int pass = 0; pass < 2; pass++) {
		struct sess_client **pp = &due;

		for (c = due; c; c = cnext) {
			bool paired = c->sess && c->sess->c[!c->slot];
			const char *why;

			cnext = c->due_next;
			if (theap_queued(&c->timer)) {
				*pp = cnext; /* rescheduled meanwhile */
				continue;
			}
			if (pass == 0 && paired && c->registered) {
				pp = &c->due_next;
				continue;
			}
			*pp = cnext;
			why = !c->hello ? "no HELLO in time"
			      : !paired ? "no partner in time"
			      : !c->registered ? "no REGISTER in time"
					       : "partner did not register in time";
			t->st.timeouts++;
			if (!c->hello)
				t->st.hello_timeouts++;
			out_error(t, c->id, c->ctx, WIRE_ERR_TIMEOUT, why);
			client_remove(t, now, c, why);
		}
	}
}

mtime_ms sess_next_deadline(const struct sess_table *t)
{
	const struct theap_node *n = theap_min(&t->timers);

	return n ? n->when : -1;
}

void sess_get_stats(const struct sess_table *t, struct sess_stats *st)
{
	*st = t->st;
	st->log_suppressed = 0;
	for (int i = 0; i < LOGC_N; i++)
		st->log_suppressed += t->rl[i].total_suppressed;
}
