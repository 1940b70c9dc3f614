/* Unit tests of the punch-server's session table (src/server/session.c),
 * with a fake clock (plain numbers for "now") and deterministic randomness. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/log.h"
#include "common/ratelim.h"
#include "common/theap.h"
#include "server/session.h"

#define PAIR_MS 30000

struct fake_rand {
	uint8_t next;
	int fail;
};

static int fake_rand(void *arg, void *buf, size_t len)
{
	struct fake_rand *fr = arg;
	uint8_t *p = buf;

	if (fr->fail)
		return -EIO;
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(++fr->next * 37u + 11u);
	return 0;
}

struct fx {
	struct fake_rand fr;
	struct sess_table *t;
};

static int setup_n(void **state, unsigned max_clients)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	struct sess_config cfg = {
		.max_clients = max_clients,
		.pair_timeout = PAIR_MS,
		.rand = fake_rand,
	};

	cfg.rand_arg = &fx->fr;
	assert_int_equal(sess_create(&cfg, &fx->t), 0);
	*state = fx;
	return 0;
}

static int setup(void **state)
{
	return setup_n(state, 16);
}

static int setup_small(void **state)
{
	return setup_n(state, 2);
}

static int teardown(void **state)
{
	struct fx *fx = *state;

	sess_destroy(fx->t);
	free(fx);
	return 0;
}

static struct addr mkaddr(const char *s)
{
	struct addr a;

	assert_int_equal(addr_parse(s, 0, &a), 0);
	return a;
}

/* Pop the next output, which must exist and be of kind `kind`. */
static struct sess_out pop(struct fx *fx, enum sess_out_kind kind)
{
	struct sess_out o;

	assert_int_equal(sess_pop(fx->t, &o), 1);
	assert_int_equal(o.kind, kind);
	return o;
}

/* Pop a TCP message for client id and decode it; it must be of type `type`. */
static struct wire_msg pop_msg(struct fx *fx, uint32_t id, uint8_t type)
{
	struct sess_out o = pop(fx, SESS_OUT_TCP);
	struct wire_msg m;

	assert_int_equal(o.client_id, id);
	assert_int_equal(wire_parse(o.buf, o.len, &m), (int)o.len);
	assert_int_equal(m.type, type);
	return m;
}

static void assert_no_output(struct fx *fx)
{
	struct sess_out o;

	assert_int_equal(sess_pop(fx->t, &o), 0);
}

static void hello(struct fx *fx, mtime_ms now, uint32_t id, const char *name, uint8_t flags, uint16_t local_port)
{
	struct wire_msg m;

	memset(&m, 0, sizeof(m));
	m.type = WIRE_HELLO;
	m.u.hello.flags = flags;
	m.u.hello.local_port = local_port;
	snprintf(m.u.hello.session, sizeof(m.u.hello.session), "%s", name);
	m.u.hello.n_private = 1;
	m.u.hello.private_eps[0].family = 4;
	m.u.hello.private_eps[0].port = (uint16_t)(1000 + id);
	m.u.hello.private_eps[0].addr[0] = 10;
	m.u.hello.private_eps[0].addr[3] = (uint8_t)id;
	sess_client_msg(fx->t, now, id, &m);
}

/* Open a client and say HELLO; returns its id and fills its token from WELCOME. */
static uint32_t join(struct fx *fx, mtime_ms now, const char *name, uint8_t flags, uint8_t token[WIRE_TOKEN_LEN])
{
	uint32_t id = sess_client_open(fx->t, now, NULL, NULL);
	struct wire_msg m;

	assert_int_not_equal(id, 0);
	hello(fx, now, id, name, flags, 4000);
	m = pop_msg(fx, id, WIRE_WELCOME);
	assert_int_equal(m.u.welcome.client_id, id);
	memcpy(token, m.u.welcome.token, WIRE_TOKEN_LEN);
	return id;
}

static size_t build_register(uint8_t *buf, const uint8_t *token)
{
	struct wire_msg m;
	int n;

	memset(&m, 0, sizeof(m));
	m.type = WIRE_REGISTER;
	memcpy(m.u.reg.token, token, WIRE_TOKEN_LEN);
	n = wire_build(buf, WIRE_MSG_MAX, &m, NULL);
	assert_true(n > 0);
	return (size_t)n;
}

/* REGISTER from `from` on UDP socket sock and check the REG_ACK that must
 * come back to it from the same socket. */
static void do_register_sock(struct fx *fx, mtime_ms now, int sock, uint32_t id, const uint8_t *token,
			     const char *from)
{
	uint8_t buf[WIRE_MSG_MAX];
	struct addr a = mkaddr(from), seen;
	size_t n = build_register(buf, token);
	struct sess_out o;
	struct wire_msg m;

	sess_udp_input(fx->t, now, sock, &a, buf, n);
	o = pop(fx, SESS_OUT_UDP);
	assert_int_equal(o.sock, sock);
	assert_true(addr_equal(&o.to, &a));
	assert_true(o.len < n); /* never more bytes back than came in */
	assert_int_equal(wire_parse_datagram(o.buf, o.len, &m), 0);
	assert_int_equal(m.type, WIRE_REG_ACK);
	assert_int_equal(m.u.reg_ack.client_id, id);
	assert_int_equal(addr_from_wire(&seen, &m.u.reg_ack.observed), 0);
	assert_true(addr_equal(&seen, &a));
}

static void do_register(struct fx *fx, mtime_ms now, uint32_t id, const uint8_t *token, const char *from)
{
	do_register_sock(fx, now, 0, id, token, from);
}

static void assert_ep(const struct wire_endpoint *ep, const char *want)
{
	struct addr a, w = mkaddr(want);

	assert_int_equal(addr_from_wire(&a, ep), 0);
	assert_true(addr_equal(&a, &w));
}

struct pair {
	uint32_t a, b;
	uint8_t ta[WIRE_TOKEN_LEN], tb[WIRE_TOKEN_LEN];
	struct wire_msg pa, pb; /* the PEER messages */
};

/* Two clients in session `name`, registered from 198.51.100.1:5001 and
 * 203.0.113.2:6002, introduced. */
static void make_pair(struct fx *fx, struct pair *p, const char *name)
{
	p->a = join(fx, 0, name, 0, p->ta);
	p->b = join(fx, 10, name, 0, p->tb);
	assert_no_output(fx);
	do_register(fx, 20, p->a, p->ta, "198.51.100.1:5001");
	assert_no_output(fx);
	do_register(fx, 30, p->b, p->tb, "203.0.113.2:6002");
	p->pa = pop_msg(fx, p->a, WIRE_PEER);
	p->pb = pop_msg(fx, p->b, WIRE_PEER);
	assert_no_output(fx);
}

static void test_named_pair(void **state)
{
	struct fx *fx = *state;
	struct pair p;
	struct sess_stats st;

	make_pair(fx, &p, "alpha");
	assert_int_not_equal(p.a, p.b);
	assert_memory_not_equal(p.ta, p.tb, WIRE_TOKEN_LEN);
	assert_int_equal(p.pa.u.peer.role, 1);
	assert_int_equal(p.pb.u.peer.role, 2);
	assert_int_equal(p.pa.u.peer.session_id, p.pb.u.peer.session_id);
	assert_memory_equal(p.pa.u.peer.secret, p.pb.u.peer.secret, WIRE_KEY_LEN);
	assert_ep(&p.pa.u.peer.self_public, "198.51.100.1:5001");
	assert_ep(&p.pa.u.peer.peer_public, "203.0.113.2:6002");
	assert_ep(&p.pb.u.peer.self_public, "203.0.113.2:6002");
	assert_ep(&p.pb.u.peer.peer_public, "198.51.100.1:5001");
	/* Each gets the other's private endpoints from its HELLO. */
	assert_int_equal(p.pa.u.peer.n_private, 1);
	assert_int_equal(p.pa.u.peer.peer_private[0].port, 1000 + p.b);
	assert_int_equal(p.pb.u.peer.peer_private[0].port, 1000 + p.a);
	sess_get_stats(fx->t, &st);
	assert_int_equal(st.pairs, 1);
	assert_int_equal(st.introduced, 1);
	assert_int_equal(st.clients_now, 2);
	assert_int_equal(st.sessions_now, 1);
	/* Introduced clients have no deadline any more (the cached one may be
	 * early until a tick). */
	assert_true(sess_next_deadline(fx->t) <= PAIR_MS);
	sess_tick(fx->t, 40);
	assert_no_output(fx);
	assert_int_equal(sess_next_deadline(fx->t), -1);
}

static void test_anonymous_pairs_in_order(void **state)
{
	struct fx *fx = *state;
	uint8_t t1[16], t2[16], t3[16], t4[16];
	uint32_t c1 = join(fx, 0, "", 0, t1);
	uint32_t c2 = join(fx, 0, "", 0, t2);
	uint32_t c3 = join(fx, 0, "", 0, t3);
	struct wire_msg m;
	struct sess_stats st;

	sess_get_stats(fx->t, &st);
	assert_int_equal(st.pairs, 1);
	assert_int_equal(st.sessions_now, 2);
	do_register(fx, 1, c1, t1, "198.51.100.1:1");
	do_register(fx, 1, c3, t3, "198.51.100.3:3");
	assert_no_output(fx); /* c1 and c3 are not partners */
	do_register(fx, 1, c2, t2, "198.51.100.2:2");
	m = pop_msg(fx, c1, WIRE_PEER);
	assert_ep(&m.u.peer.peer_public, "198.51.100.2:2");
	m = pop_msg(fx, c2, WIRE_PEER);
	assert_ep(&m.u.peer.peer_public, "198.51.100.1:1");
	assert_no_output(fx);
	/* The fourth pairs with the third. */
	uint32_t c4 = join(fx, 2, "", 0, t4);
	do_register(fx, 3, c4, t4, "198.51.100.4:4");
	m = pop_msg(fx, c3, WIRE_PEER);
	assert_ep(&m.u.peer.peer_public, "198.51.100.4:4");
	assert_int_equal(m.u.peer.role, 1);
	pop_msg(fx, c4, WIRE_PEER);
}

static void test_third_client_refused(void **state)
{
	struct fx *fx = *state;
	uint8_t t1[16], t2[16];
	uint32_t c3;
	struct wire_msg m;
	struct sess_out o;
	struct sess_stats st;

	join(fx, 0, "full", 0, t1);
	join(fx, 0, "full", 0, t2);
	c3 = sess_client_open(fx->t, 0, NULL, NULL);
	hello(fx, 0, c3, "full", 0, 1);
	m = pop_msg(fx, c3, WIRE_ERROR); /* no WELCOME first */
	assert_int_equal(m.u.error.code, WIRE_ERR_SESSION);
	o = pop(fx, SESS_OUT_CLOSE);
	assert_int_equal(o.client_id, c3);
	assert_no_output(fx);
	sess_get_stats(fx->t, &st);
	assert_int_equal(st.refused_session, 1);
	assert_int_equal(st.clients_now, 2);
	/* A message for the closed client is ignored. */
	hello(fx, 0, c3, "other", 0, 1);
	assert_no_output(fx);
}

static void test_full(void **state)
{
	struct fx *fx = *state; /* max_clients = 2 */
	uint32_t a = sess_client_open(fx->t, 0, NULL, NULL);
	uint32_t b = sess_client_open(fx->t, 0, NULL, NULL);
	int ctx;
	uint32_t c = sess_client_open(fx->t, 0, &ctx, NULL);
	struct sess_out o;
	struct wire_msg m;
	struct sess_stats st;

	assert_true(a && b && c && a != b && b != c);
	m = pop_msg(fx, c, WIRE_ERROR);
	assert_int_equal(m.u.error.code, WIRE_ERR_FULL);
	o = pop(fx, SESS_OUT_CLOSE);
	assert_ptr_equal(o.ctx, &ctx);
	assert_no_output(fx);
	sess_get_stats(fx->t, &st);
	assert_int_equal(st.refused_full, 1);
	/* Room again once one leaves. */
	sess_client_closed(fx->t, 1, a, "test");
	c = sess_client_open(fx->t, 1, NULL, NULL);
	assert_no_output(fx);
	sess_get_stats(fx->t, &st);
	assert_int_equal(st.clients_now, 2);
}

static void test_pair_timeout(void **state)
{
	struct fx *fx = *state;
	uint8_t t1[16];
	uint32_t silent = sess_client_open(fx->t, 0, NULL, NULL);
	uint32_t lone = join(fx, 1000, "lonely", 0, t1);
	struct wire_msg m;
	struct sess_stats st;

	assert_int_equal(sess_next_deadline(fx->t), PAIR_MS);
	sess_tick(fx->t, PAIR_MS - 1);
	assert_no_output(fx);
	sess_tick(fx->t, PAIR_MS);
	m = pop_msg(fx, silent, WIRE_ERROR); /* never said HELLO */
	assert_int_equal(m.u.error.code, WIRE_ERR_TIMEOUT);
	pop(fx, SESS_OUT_CLOSE);
	assert_no_output(fx);
	/* The next deadline is the lone client's, counted from its connection. */
	assert_int_equal(sess_next_deadline(fx->t), 1000 + PAIR_MS);
	sess_tick(fx->t, 1000 + PAIR_MS);
	m = pop_msg(fx, lone, WIRE_ERROR);
	assert_int_equal(m.u.error.code, WIRE_ERR_TIMEOUT);
	pop(fx, SESS_OUT_CLOSE);
	sess_get_stats(fx->t, &st);
	assert_int_equal(st.timeouts, 2);
	assert_int_equal(st.clients_now, 0);
	assert_int_equal(st.sessions_now, 0);
	assert_int_equal(sess_next_deadline(fx->t), -1);
}

static void test_partner_never_registers(void **state)
{
	struct fx *fx = *state;
	uint8_t ta[16], tb[16], tc[16];
	uint32_t a = join(fx, 0, "s", 0, ta);
	uint32_t b = join(fx, 100, "s", 0, tb);
	struct wire_msg m;

	do_register(fx, 200, a, ta, "198.51.100.1:1");
	/* Pairing restarts both clients' clocks. */
	sess_tick(fx->t, 200);
	assert_no_output(fx);
	assert_int_equal(sess_next_deadline(fx->t), 100 + PAIR_MS);
	sess_tick(fx->t, 100 + PAIR_MS);
	/* Only b, which never registered, is dropped; a waits again. */
	m = pop_msg(fx, b, WIRE_ERROR);
	assert_int_equal(m.u.error.code, WIRE_ERR_TIMEOUT);
	pop(fx, SESS_OUT_CLOSE);
	assert_no_output(fx);
	/* A new partner gets role 2 and a fresh secret; a's registration still counts. */
	uint32_t c = join(fx, 200 + PAIR_MS, "s", 0, tc);
	do_register(fx, 200 + PAIR_MS, c, tc, "203.0.113.9:9");
	m = pop_msg(fx, a, WIRE_PEER);
	assert_int_equal(m.u.peer.role, 1);
	assert_ep(&m.u.peer.peer_public, "203.0.113.9:9");
	m = pop_msg(fx, c, WIRE_PEER);
	assert_int_equal(m.u.peer.role, 2);
}

static void test_partner_leaves_before_peer(void **state)
{
	struct fx *fx = *state;
	uint8_t t1[16], t2[16], t3[16], t4[16];
	uint32_t a = join(fx, 0, "", 0, t1);
	uint32_t b = join(fx, 0, "", 0, t2);
	uint32_t c = join(fx, 0, "", 0, t3); /* waits */
	struct wire_msg m;

	/* a leaves before registering: b pairs with the waiting anonymous c. */
	sess_client_closed(fx->t, 1, a, "test");
	assert_no_output(fx);
	do_register(fx, 2, b, t2, "198.51.100.2:2");
	do_register(fx, 2, c, t3, "198.51.100.3:3");
	m = pop_msg(fx, c, WIRE_PEER); /* c waited first: role 1 */
	assert_int_equal(m.u.peer.role, 1);
	assert_ep(&m.u.peer.peer_public, "198.51.100.2:2");
	m = pop_msg(fx, b, WIRE_PEER);
	assert_ep(&m.u.peer.peer_public, "198.51.100.3:3");
	/* Named: the one left waits and the next arrival pairs with it. */
	uint32_t d = join(fx, 3, "named", 0, t4);
	uint8_t t5[16], t6[16];
	uint32_t e = join(fx, 3, "named", 0, t5);

	sess_client_closed(fx->t, 4, d, "test");
	uint32_t f = join(fx, 5, "named", 0, t6);
	do_register(fx, 6, e, t5, "198.51.100.5:5");
	do_register(fx, 6, f, t6, "198.51.100.6:6");
	m = pop_msg(fx, e, WIRE_PEER);
	assert_int_equal(m.u.peer.role, 1);
	m = pop_msg(fx, f, WIRE_PEER);
	assert_int_equal(m.u.peer.role, 2);
	assert_no_output(fx);
}

static void test_register_rules(void **state)
{
	struct fx *fx = *state;
	uint8_t ta[16], tb[16], bogus[16] = { 1, 2, 3 }, buf[WIRE_MSG_MAX];
	uint32_t a = join(fx, 0, "r", 0, ta);
	uint32_t b = join(fx, 0, "r", 0, tb);
	struct addr x = mkaddr("192.0.2.66:666");
	struct sess_stats st;
	struct wire_msg m;
	size_t n;

	/* Unknown token, truncated, padded wrong, garbage: no answer at all. */
	n = build_register(buf, bogus);
	sess_udp_input(fx->t, 1, 0, &x, buf, n);
	n = build_register(buf, ta);
	sess_udp_input(fx->t, 1, 0, &x, buf, n - 1);
	buf[n - 1] = 1;
	sess_udp_input(fx->t, 1, 0, &x, buf, n);
	sess_udp_input(fx->t, 1, 0, &x, (const uint8_t *)"garbage", 7);
	sess_udp_input(fx->t, 1, 0, &x, buf, 0);
	assert_no_output(fx);
	sess_get_stats(fx->t, &st);
	assert_int_equal(st.reg_bad, 3);
	assert_int_equal(st.udp_dropped, 2);

	/* Before PEER the newest address wins. */
	do_register(fx, 2, a, ta, "198.51.100.1:1111");
	do_register(fx, 3, a, ta, "198.51.100.1:2222");
	do_register(fx, 3, a, ta, "198.51.100.1:2222"); /* idempotent */
	do_register(fx, 4, b, tb, "203.0.113.2:2");
	m = pop_msg(fx, a, WIRE_PEER);
	m = pop_msg(fx, b, WIRE_PEER);
	assert_ep(&m.u.peer.peer_public, "198.51.100.1:2222");
	assert_no_output(fx);

	/* After PEER: the same address is answered again, another is ignored. */
	do_register(fx, 5, a, ta, "198.51.100.1:2222");
	assert_no_output(fx);
	n = build_register(buf, ta);
	sess_udp_input(fx->t, 6, 0, &x, buf, n);
	x = mkaddr("198.51.100.1:2222");
	sess_udp_input(fx->t, 6, 1, &x, buf, n); /* right address, other server socket */
	assert_no_output(fx);
	sess_get_stats(fx->t, &st);
	assert_int_equal(st.reg_ignored, 2);
}

static void test_advertise_local(void **state)
{
	struct fx *fx = *state;
	uint8_t ta[16], tb[16];
	uint32_t a = join(fx, 0, "poc", WIRE_HELLO_ADVERTISE_LOCAL, ta); /* local_port 4000 */
	uint32_t b = join(fx, 0, "poc", 0, tb);
	struct wire_msg m;

	do_register(fx, 1, a, ta, "198.51.100.1:61000");
	do_register(fx, 1, b, tb, "203.0.113.2:62000");
	m = pop_msg(fx, a, WIRE_PEER);
	assert_ep(&m.u.peer.self_public, "198.51.100.1:61000");
	assert_ep(&m.u.peer.peer_public, "203.0.113.2:62000");
	m = pop_msg(fx, b, WIRE_PEER);
	/* b is told a's observed IP with the port a claimed: the classic flaw. */
	assert_ep(&m.u.peer.peer_public, "198.51.100.1:4000");
}

/* Open a client from a TCP source and say HELLO with flags; returns its id. */
static uint32_t join_from(struct fx *fx, mtime_ms now, const char *name, uint8_t flags, const char *src,
			  uint8_t token[WIRE_TOKEN_LEN])
{
	struct addr a = mkaddr(src);
	uint32_t id = sess_client_open(fx->t, now, NULL, &a);
	struct wire_msg m;

	hello(fx, now, id, name, flags, 4000);
	m = pop_msg(fx, id, WIRE_WELCOME);
	memcpy(token, m.u.welcome.token, WIRE_TOKEN_LEN);
	return id;
}

static void test_tcp_introduction(void **state)
{
	struct fx *fx = *state;
	uint8_t ta[16], tb[16], tc[16], td[16];
	uint32_t a = join_from(fx, 0, "tcp", WIRE_HELLO_TCP, "198.51.100.1:40001", ta);
	uint32_t b = join_from(fx, 0, "tcp", WIRE_HELLO_TCP, "203.0.113.2:40002", tb);
	uint32_t c, d;
	struct wire_msg m;

	/* Still introduced only after both REGISTERs (the relay needs them),
	 * but by the control connections' sources. */
	do_register(fx, 1, a, ta, "198.51.100.1:61000");
	assert_no_output(fx);
	do_register(fx, 1, b, tb, "203.0.113.2:62000");
	m = pop_msg(fx, a, WIRE_PEER);
	assert_int_equal(m.u.peer.flags, WIRE_PEER_TCP);
	assert_ep(&m.u.peer.self_public, "198.51.100.1:40001");
	assert_ep(&m.u.peer.peer_public, "203.0.113.2:40002");
	m = pop_msg(fx, b, WIRE_PEER);
	assert_int_equal(m.u.peer.flags, WIRE_PEER_TCP);
	assert_ep(&m.u.peer.peer_public, "198.51.100.1:40001");
	/* One TCP side and one UDP side: UDP endpoints, no TCP flag. */
	c = join_from(fx, 2, "mixed", WIRE_HELLO_TCP, "198.51.100.3:40003", tc);
	d = join_from(fx, 2, "mixed", 0, "203.0.113.4:40004", td);
	do_register(fx, 3, c, tc, "198.51.100.3:61003");
	do_register(fx, 3, d, td, "203.0.113.4:62004");
	m = pop_msg(fx, c, WIRE_PEER);
	assert_int_equal(m.u.peer.flags, 0);
	assert_ep(&m.u.peer.peer_public, "203.0.113.4:62004");
	m = pop_msg(fx, d, WIRE_PEER);
	assert_int_equal(m.u.peer.flags, 0);
	assert_ep(&m.u.peer.peer_public, "198.51.100.3:61003");
}

static void test_predict_step(void **state)
{
	struct fx *fx = *state;
	uint8_t ta[16], tb[16];
	uint32_t a = join(fx, 0, "pred", WIRE_HELLO_PREDICT, ta);
	uint32_t b = join(fx, 0, "pred", 0, tb);
	struct wire_msg m;

	do_register(fx, 1, a, ta, "198.51.100.1:40000");
	do_register(fx, 1, b, tb, "203.0.113.2:62000");
	/* a said it predicts: no introduction before its second registration */
	assert_no_output(fx);
	do_register_sock(fx, 2, 1, a, ta, "198.51.100.1:39998");
	m = pop_msg(fx, a, WIRE_PEER);
	assert_int_equal(m.u.peer.flags, 0); /* b did not predict */
	assert_int_equal(m.u.peer.peer_step, 0);
	assert_ep(&m.u.peer.self_public, "198.51.100.1:40000"); /* the first one stays */
	m = pop_msg(fx, b, WIRE_PEER);
	assert_int_equal(m.u.peer.flags, WIRE_PEER_PREDICT);
	assert_int_equal(m.u.peer.peer_step, -2);
	assert_ep(&m.u.peer.peer_public, "198.51.100.1:40000");
	assert_no_output(fx);
	/* a late one after the introduction changes nothing and gets no answer */
	{
		uint8_t buf[WIRE_MSG_MAX];
		struct addr x = mkaddr("198.51.100.1:39000");

		sess_udp_input(fx->t, 3, 1, &x, buf, build_register(buf, ta));
		assert_no_output(fx);
	}
	/* Without the flag a REGISTER on another socket moves the endpoint, as before. */
	{
		uint8_t tc[16], td[16];
		uint32_t c = join(fx, 4, "nopred", 0, tc), d = join(fx, 4, "nopred", 0, td);

		do_register(fx, 5, c, tc, "198.51.100.3:40000");
		do_register_sock(fx, 5, 1, c, tc, "198.51.100.3:40002");
		do_register(fx, 5, d, td, "203.0.113.4:40000");
		m = pop_msg(fx, c, WIRE_PEER);
		m = pop_msg(fx, d, WIRE_PEER);
		assert_int_equal(m.u.peer.flags, 0);
		assert_ep(&m.u.peer.peer_public, "198.51.100.3:40002");
	}
}

static size_t build_relay_seq(uint8_t *buf, const struct wire_msg *peer, uint8_t role, const uint8_t *key,
			      uint32_t seq)
{
	struct wire_msg inner, m;
	int n;

	memset(&inner, 0, sizeof(inner));
	inner.type = WIRE_DATA;
	inner.u.p2p.session_id = peer->u.peer.session_id;
	inner.u.p2p.role = role;
	inner.u.p2p.seq = 7;
	inner.u.p2p.payload_len = 5;
	memcpy(inner.u.p2p.payload, "hello", 5);
	memset(&m, 0, sizeof(m));
	m.type = WIRE_RELAY;
	m.u.relay.session_id = peer->u.peer.session_id;
	m.u.relay.role = role;
	m.u.relay.seq = seq;
	n = wire_build(m.u.relay.inner, sizeof(m.u.relay.inner), &inner, key);
	assert_true(n > 0);
	m.u.relay.inner_len = (uint16_t)n;
	n = wire_build(buf, WIRE_MSG_MAX, &m, key);
	assert_true(n > 0);
	return (size_t)n;
}

static size_t build_relay(uint8_t *buf, const struct wire_msg *peer, uint8_t role, const uint8_t *key)
{
	return build_relay_seq(buf, peer, role, key, 1);
}

static void test_relay(void **state)
{
	struct fx *fx = *state;
	struct pair p;
	uint8_t buf[WIRE_MSG_MAX], wrong_key[WIRE_KEY_LEN] = { 0 };
	struct addr a = mkaddr("198.51.100.1:5001"), b = mkaddr("203.0.113.2:6002");
	struct addr other = mkaddr("198.51.100.1:5002");
	struct sess_out o;
	struct sess_stats st;
	size_t n;

	make_pair(fx, &p, "relay");
	n = build_relay(buf, &p.pa, 1, p.pa.u.peer.secret);
	sess_udp_input(fx->t, 100, 0, &a, buf, n);
	o = pop(fx, SESS_OUT_UDP);
	assert_true(addr_equal(&o.to, &b));
	assert_int_equal(o.len, n);
	assert_memory_equal(o.buf, buf, n); /* forwarded unchanged */

	/* Replayed from another port, from the partner's address as role 1, on
	 * another server socket, with a bad tag, for an unknown session: dropped. */
	sess_udp_input(fx->t, 100, 0, &other, buf, n);
	sess_udp_input(fx->t, 100, 0, &b, buf, n);
	sess_udp_input(fx->t, 100, 1, &a, buf, n);
	n = build_relay(buf, &p.pa, 1, wrong_key);
	sess_udp_input(fx->t, 100, 0, &a, buf, n);
	p.pa.u.peer.session_id ^= 1;
	n = build_relay(buf, &p.pa, 1, p.pa.u.peer.secret);
	p.pa.u.peer.session_id ^= 1;
	sess_udp_input(fx->t, 100, 0, &a, buf, n);
	assert_no_output(fx);
	sess_get_stats(fx->t, &st);
	assert_int_equal(st.relayed, 1);
	assert_int_equal(st.relay_dropped, 5);

	/* The same RELAY again from the right endpoint is a replay: dropped.
	 * Newer seqs pass, older ones inside the window pass once. */
	n = build_relay_seq(buf, &p.pa, 1, p.pa.u.peer.secret, 1);
	sess_udp_input(fx->t, 110, 0, &a, buf, n);
	assert_no_output(fx);
	n = build_relay_seq(buf, &p.pa, 1, p.pa.u.peer.secret, 3);
	sess_udp_input(fx->t, 110, 0, &a, buf, n);
	pop(fx, SESS_OUT_UDP);
	n = build_relay_seq(buf, &p.pa, 1, p.pa.u.peer.secret, 2);
	sess_udp_input(fx->t, 110, 0, &a, buf, n);
	pop(fx, SESS_OUT_UDP);
	sess_udp_input(fx->t, 110, 0, &a, buf, n);
	assert_no_output(fx);
	n = build_relay_seq(buf, &p.pa, 1, p.pa.u.peer.secret, 1000); /* far ahead: fine */
	sess_udp_input(fx->t, 110, 0, &a, buf, n);
	pop(fx, SESS_OUT_UDP);
	n = build_relay_seq(buf, &p.pa, 1, p.pa.u.peer.secret, 1000 - 64); /* behind the window */
	sess_udp_input(fx->t, 110, 0, &a, buf, n);
	assert_no_output(fx);
	/* Each direction has its own window: b's seq 1 is new. */
	n = build_relay_seq(buf, &p.pb, 2, p.pb.u.peer.secret, 1);
	sess_udp_input(fx->t, 110, 0, &b, buf, n);
	o = pop(fx, SESS_OUT_UDP);
	assert_true(addr_equal(&o.to, &a));
	sess_get_stats(fx->t, &st);
	assert_int_equal(st.relay_replayed, 3);
	assert_int_equal(st.relayed, 5);

	/* The relay forwards only while both control connections live; the
	 * session ends with its last client (it used to linger for the relay). */
	sess_client_closed(fx->t, 200, p.a, "test");
	assert_no_output(fx);
	n = build_relay_seq(buf, &p.pb, 2, p.pb.u.peer.secret, 2);
	sess_udp_input(fx->t, 250, 0, &b, buf, n);
	assert_no_output(fx);
	sess_get_stats(fx->t, &st);
	assert_int_equal(st.relay_orphaned, 1);
	assert_int_equal(st.sessions_now, 1);
	/* A third client cannot take the empty slot of an introduced session. */
	uint32_t c = sess_client_open(fx->t, 260, NULL, NULL);
	hello(fx, 260, c, "relay", 0, 1);
	assert_int_equal(pop_msg(fx, c, WIRE_ERROR).u.error.code, WIRE_ERR_SESSION);
	pop(fx, SESS_OUT_CLOSE);
	sess_client_closed(fx->t, 300, p.b, "test");
	assert_no_output(fx);
	sess_get_stats(fx->t, &st);
	assert_int_equal(st.sessions_now, 0);
	assert_int_equal(st.expired, 1);
	assert_int_equal(sess_next_deadline(fx->t), -1);
	/* Replays from the old endpoints after both left go nowhere. */
	n = build_relay_seq(buf, &p.pa, 1, p.pa.u.peer.secret, 5000);
	sess_udp_input(fx->t, 400, 0, &a, buf, n);
	assert_no_output(fx);
	/* The name is free again. */
	uint8_t t[16];
	join(fx, 400, "relay", 0, t);
}

static int setup_limits(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	struct sess_config cfg = {
		.max_clients = 16,
		.pair_timeout = PAIR_MS,
		.hello_timeout = 5000,
		.max_per_ip = 3,
		.max_per_net = 4,
		.max_unauth_per_ip = 2,
		.rand = fake_rand,
	};

	cfg.rand_arg = &fx->fr;
	assert_int_equal(sess_create(&cfg, &fx->t), 0);
	*state = fx;
	return 0;
}

/* Open a connection from `from`; returns its id and whether it was refused. */
static uint32_t open_from(struct fx *fx, mtime_ms now, const char *from, bool *refused)
{
	struct addr a = mkaddr(from);
	uint32_t id = sess_client_open(fx->t, now, NULL, &a);
	struct sess_out o;

	*refused = false;
	if (sess_pop(fx->t, &o)) {
		struct wire_msg m;

		assert_int_equal(o.kind, SESS_OUT_TCP);
		assert_int_equal(o.client_id, id);
		assert_int_equal(wire_parse(o.buf, o.len, &m), (int)o.len);
		assert_int_equal(m.type, WIRE_ERROR);
		assert_int_equal(m.u.error.code, WIRE_ERR_FULL);
		pop(fx, SESS_OUT_CLOSE);
		*refused = true;
	}
	return id;
}

static void test_hello_timeout(void **state)
{
	struct fx *fx = *state; /* hello_timeout 5000 */
	bool refused;
	uint32_t silent = open_from(fx, 0, "192.0.2.1:1000", &refused);
	uint8_t tk[16];
	struct sess_stats st;

	assert_false(refused);
	/* Saying HELLO in time ends the short deadline: the pair timeout counts. */
	uint32_t talker = sess_client_open(fx->t, 0, NULL, NULL);
	hello(fx, 4000, talker, "h", 0, 1);
	pop_msg(fx, talker, WIRE_WELCOME);
	memset(tk, 0, sizeof(tk));
	assert_int_equal(sess_next_deadline(fx->t), 5000);
	sess_tick(fx->t, 5000);
	assert_int_equal(pop_msg(fx, silent, WIRE_ERROR).u.error.code, WIRE_ERR_TIMEOUT);
	pop(fx, SESS_OUT_CLOSE);
	assert_no_output(fx);
	assert_int_equal(sess_next_deadline(fx->t), 4000 + PAIR_MS);
	sess_get_stats(fx->t, &st);
	assert_int_equal(st.hello_timeouts, 1);
	assert_int_equal(st.sources_now, 0);
}

static void test_source_limits(void **state)
{
	struct fx *fx = *state; /* 3 per IP, 2 before HELLO per IP, 4 per /64 */
	bool refused;
	uint32_t ids[4];
	struct sess_stats st;

	/* Two silent connections from one IP; a third before HELLO is refused. */
	ids[0] = open_from(fx, 0, "192.0.2.1:1000", &refused);
	assert_false(refused);
	ids[1] = open_from(fx, 0, "192.0.2.1:1001", &refused);
	assert_false(refused);
	open_from(fx, 0, "192.0.2.1:1002", &refused);
	assert_true(refused);
	/* Once one says HELLO, another may come: 3 per IP in all. */
	hello(fx, 1, ids[0], "", 0, 1);
	pop_msg(fx, ids[0], WIRE_WELCOME);
	ids[2] = open_from(fx, 1, "192.0.2.1:1003", &refused);
	assert_false(refused);
	hello(fx, 1, ids[1], "", 0, 1); /* pairs with ids[0] */
	pop_msg(fx, ids[1], WIRE_WELCOME);
	hello(fx, 1, ids[2], "x", 0, 1);
	pop_msg(fx, ids[2], WIRE_WELCOME);
	open_from(fx, 1, "192.0.2.1:1004", &refused);
	assert_true(refused);
	/* Another IPv4 address is another source. */
	open_from(fx, 1, "192.0.2.2:1000", &refused);
	assert_false(refused);
	/* IPv6: addresses in one /64 share its limit of 4; another /64 does not. */
	open_from(fx, 2, "[2001:db8:0:1::1]:1", &refused);
	assert_false(refused);
	open_from(fx, 2, "[2001:db8:0:1::2]:1", &refused);
	assert_false(refused);
	open_from(fx, 2, "[2001:db8:0:1:ffff::3]:1", &refused);
	assert_false(refused);
	open_from(fx, 2, "[2001:db8:0:1::4]:1", &refused);
	assert_false(refused);
	open_from(fx, 2, "[2001:db8:0:1::5]:1", &refused); /* fifth in the /64 */
	assert_true(refused);
	open_from(fx, 2, "[2001:db8:0:2::1]:1", &refused);
	assert_false(refused);
	sess_get_stats(fx->t, &st);
	assert_int_equal(st.refused_source, 3);
	assert_int_equal(st.clients_now, 9);
	/* The sources go with their clients. */
	sess_tick(fx->t, 10 * PAIR_MS);
	sess_get_stats(fx->t, &st);
	assert_int_equal(st.clients_now, 1); /* the anonymous partner left waits again */
	sess_tick(fx->t, 12 * PAIR_MS);
	while (sess_pop(fx->t, &(struct sess_out){ 0 }))
		;
	sess_get_stats(fx->t, &st);
	assert_int_equal(st.clients_now, 0);
	assert_int_equal(st.sources_now, 0);
}

static void test_shed_heaviest(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	struct sess_config cfg = {
		.max_clients = 6,
		.pair_timeout = PAIR_MS,
		.rand = fake_rand,
	};
	struct sess_stats st;
	bool refused;
	uint32_t flood[6];
	char from[64];

	cfg.rand_arg = &fx->fr;
	assert_int_equal(sess_create(&cfg, &fx->t), 0);
	/* One address fills the table (no per-source limit configured). */
	for (int i = 0; i < 6; i++) {
		snprintf(from, sizeof(from), "198.51.100.66:%d", 1000 + i);
		flood[i] = open_from(fx, i, from, &refused);
		assert_false(refused);
	}
	/* The flooder's next one is refused: it is its own heaviest source. */
	open_from(fx, 10, "198.51.100.66:2000", &refused);
	assert_true(refused);
	/* A legitimate pair from elsewhere gets in, pushing out the flooder's oldest. */
	uint32_t a = sess_client_open(fx->t, 20, NULL, &(struct addr){ 0 });
	(void)a;
	while (sess_pop(fx->t, &(struct sess_out){ 0 }))
		;
	struct addr la = mkaddr("203.0.113.1:1"), lb = mkaddr("203.0.113.2:1");
	uint32_t ca = sess_client_open(fx->t, 30, NULL, &la);
	assert_int_equal(pop_msg(fx, flood[1], WIRE_ERROR).u.error.code, WIRE_ERR_FULL);
	pop(fx, SESS_OUT_CLOSE);
	assert_no_output(fx);
	uint32_t cb = sess_client_open(fx->t, 30, NULL, &lb);
	assert_int_equal(pop_msg(fx, flood[2], WIRE_ERROR).u.error.code, WIRE_ERR_FULL);
	pop(fx, SESS_OUT_CLOSE);
	hello(fx, 31, ca, "legit", 0, 1);
	pop_msg(fx, ca, WIRE_WELCOME);
	hello(fx, 31, cb, "legit", 0, 1);
	pop_msg(fx, cb, WIRE_WELCOME);
	assert_no_output(fx);
	sess_get_stats(fx->t, &st);
	assert_int_equal(st.shed, 3); /* the third went for the unknown-address client */
	assert_int_equal(st.pairs, 1);
	assert_int_equal(st.clients_now, 6);
	sess_destroy(fx->t);
	free(fx);
}

static void test_many_deadlines(void **state)
{
	struct fx *fx = *state;
	struct sess_stats st;
	uint32_t ids[16];
	mtime_ms when[16];

	/* Clients open at scrambled times; they time out in deadline order. */
	for (int i = 0; i < 16; i++) {
		when[i] = (i * 7) % 16 * 100;
		ids[i] = sess_client_open(fx->t, when[i], NULL, NULL);
	}
	for (mtime_ms tnow = 0; tnow < 16 * 100; tnow += 100) {
		assert_int_equal(sess_next_deadline(fx->t), tnow + PAIR_MS);
		sess_tick(fx->t, tnow + PAIR_MS);
		for (int i = 0; i < 16; i++)
			if (when[i] == tnow) {
				assert_int_equal(pop_msg(fx, ids[i], WIRE_ERROR).u.error.code, WIRE_ERR_TIMEOUT);
				pop(fx, SESS_OUT_CLOSE);
			}
		assert_no_output(fx);
	}
	sess_get_stats(fx->t, &st);
	assert_int_equal(st.clients_now, 0);
	assert_int_equal(sess_next_deadline(fx->t), -1);
}

static void test_theap(void **state)
{
	enum { N = 500 };
	static struct theap_node nodes[N];
	struct theap h = { 0 };
	mtime_ms last = -1;
	unsigned x = 12345;

	for (int i = 0; i < N; i++) {
		x = x * 1103515245u + 12345u;
		assert_int_equal(theap_set(&h, &nodes[i], (mtime_ms)(x % 10000)), 0);
	}
	/* Move some, remove some. */
	for (int i = 0; i < N; i += 3) {
		x = x * 1103515245u + 12345u;
		assert_int_equal(theap_set(&h, &nodes[i], (mtime_ms)(x % 10000)), 0);
	}
	for (int i = 1; i < N; i += 5)
		theap_del(&h, &nodes[i]);
	for (int i = 1; i < N; i += 5)
		assert_false(theap_queued(&nodes[i]));
	while (theap_min(&h)) {
		struct theap_node *n = theap_min(&h);

		assert_true(n->when >= last);
		last = n->when;
		theap_del(&h, n);
	}
	assert_int_equal(h.n, 0);
	theap_free(&h);
}

static void test_ratelim(void **state)
{
	struct ratelim r;
	uint64_t sup = 99;
	int allowed = 0;

	ratelim_init(&r, 3, 1000);
	for (int i = 0; i < 10; i++)
		allowed += ratelim_allow(&r, 0, &sup);
	assert_int_equal(allowed, 3);
	assert_false(ratelim_allow(&r, 999, &sup));
	assert_true(ratelim_allow(&r, 1000, &sup));
	assert_int_equal(sup, 8); /* the 7 of the burst plus the one at 999 */
	assert_false(ratelim_allow(&r, 1000, &sup));
	/* A long quiet spell refills to the burst, no more. */
	allowed = 0;
	for (int i = 0; i < 10; i++)
		allowed += ratelim_allow(&r, 100000, &sup);
	assert_int_equal(allowed, 3);
	assert_int_equal(r.total_suppressed, 16);
}

static void test_protocol_errors(void **state)
{
	struct fx *fx = *state;
	uint8_t t1[16];
	uint32_t a = join(fx, 0, "x", 0, t1);
	uint32_t b = sess_client_open(fx->t, 0, NULL, NULL);
	struct wire_msg m;
	struct sess_stats st;

	hello(fx, 1, a, "x", 0, 1); /* a second HELLO */
	assert_int_equal(pop_msg(fx, a, WIRE_ERROR).u.error.code, WIRE_ERR_PROTOCOL);
	assert_int_equal(pop(fx, SESS_OUT_CLOSE).client_id, a);
	memset(&m, 0, sizeof(m));
	m.type = WIRE_PEER; /* server-to-client type from a client */
	sess_client_msg(fx->t, 1, b, &m);
	assert_int_equal(pop_msg(fx, b, WIRE_ERROR).u.error.code, WIRE_ERR_PROTOCOL);
	pop(fx, SESS_OUT_CLOSE);
	uint32_t c = sess_client_open(fx->t, 1, NULL, NULL);
	sess_client_bad(fx->t, 1, c, "bad bytes");
	m = pop_msg(fx, c, WIRE_ERROR);
	assert_string_equal(m.u.error.reason, "bad bytes");
	pop(fx, SESS_OUT_CLOSE);
	assert_no_output(fx);
	sess_get_stats(fx->t, &st);
	assert_int_equal(st.protocol_errors, 3);
	assert_int_equal(st.clients_now, 0);
	assert_int_equal(st.sessions_now, 0);
}

static void test_no_randomness(void **state)
{
	struct fx *fx = *state;
	uint32_t a = sess_client_open(fx->t, 0, NULL, NULL);
	struct sess_stats st;

	fx->fr.fail = 1;
	hello(fx, 0, a, "r", 0, 1);
	assert_int_equal(pop_msg(fx, a, WIRE_ERROR).u.error.code, WIRE_ERR_PROTOCOL);
	pop(fx, SESS_OUT_CLOSE);
	sess_get_stats(fx->t, &st);
	assert_int_equal(st.clients_now, 0);
}

/* Many clients and sessions left behind: destroy frees them (ASan checks). */
static void test_destroy_with_state(void **state)
{
	struct fx *fx = *state;
	uint8_t t[16];
	struct pair p;

	make_pair(fx, &p, "keep");
	for (int i = 0; i < 5; i++)
		join(fx, 0, "", 0, t);
	sess_client_open(fx->t, 0, NULL, NULL);
	hello(fx, 0, sess_client_open(fx->t, 0, NULL, NULL), "pending", 0, 1); /* WELCOME left queued */
}

static void test_create_rejects(void **state)
{
	struct sess_config cfg = { .max_clients = 1, .pair_timeout = 1 };
	struct sess_table *t = NULL;
	struct fake_rand fr = { .fail = 1 };

	assert_int_equal(sess_create(&cfg, &t), -EINVAL); /* no rand */
	cfg.rand = fake_rand;
	cfg.rand_arg = &fr;
	assert_int_equal(sess_create(&cfg, &t), -EIO);
	cfg.max_clients = 0;
	assert_int_equal(sess_create(&cfg, &t), -EINVAL);
	assert_null(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_named_pair, setup, teardown),
		cmocka_unit_test_setup_teardown(test_anonymous_pairs_in_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_third_client_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_full, setup_small, teardown),
		cmocka_unit_test_setup_teardown(test_pair_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_partner_never_registers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_partner_leaves_before_peer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_register_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(test_advertise_local, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tcp_introduction, setup, teardown),
		cmocka_unit_test_setup_teardown(test_predict_step, setup, teardown),
		cmocka_unit_test_setup_teardown(test_relay, setup, teardown),
		cmocka_unit_test_setup_teardown(test_protocol_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_randomness, setup, teardown),
		cmocka_unit_test_setup_teardown(test_destroy_with_state, setup, teardown),
		cmocka_unit_test(test_create_rejects),
		cmocka_unit_test_setup_teardown(test_hello_timeout, setup_limits, teardown),
		cmocka_unit_test_setup_teardown(test_source_limits, setup_limits, teardown),
		cmocka_unit_test(test_shed_heaviest),
		cmocka_unit_test_setup_teardown(test_many_deadlines, setup, teardown),
		cmocka_unit_test(test_theap),
		cmocka_unit_test(test_ratelim),
	};

	log_init("test_session", LOG_LVL_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
