/* The punchlab wire codec: pure functions over (buffer, length), see wire.h
 * for the format. Nothing here allocates, does I/O or keeps state.
 *
 * Decoding goes through a bounded reader that checks every length before it
 * reads and latches an error instead of reading past the end; encoding goes
 * through the mirror-image writer. Both check the same field rules, so what
 * wire_build() writes wire_parse() accepts, and a message that wire_parse()
 * accepts is rebuilt byte for byte. */
#include "proto/wire.h"

#include "common/siphash.h"

#include <string.h>

/* Fixed body sizes, and the fixed parts of the variable ones. */
#define P2P_HEAD_LEN 20 /* session_id 4 | role 1 | reserved 3 | seq 4 | ts 8 */
#define HELLO_FIXED (1 + 1 + 2 + 1)
#define WELCOME_LEN (4 + WIRE_TOKEN_LEN)
#define PEER_FIXED (4 + 1 + 1 + 2 + WIRE_KEY_LEN + 2 * WIRE_EP_LEN + 1 + 3)
#define ERROR_FIXED (2 + 1)
#define REGISTER_LEN (WIRE_TOKEN_LEN + WIRE_REGISTER_PAD)
#define REG_ACK_LEN (4 + WIRE_EP_LEN)
#define PROBE_LEN (P2P_HEAD_LEN + WIRE_EP_LEN + WIRE_TAG_LEN)
#define DATA_FIXED (P2P_HEAD_LEN + 2 + WIRE_TAG_LEN)
#define SHORT_P2P_LEN (P2P_HEAD_LEN + WIRE_TAG_LEN) /* DATA_ACK, KEEPALIVE, BYE */
#define RELAY_FIXED (4 + 1 + 3 + 4 + 2 + WIRE_TAG_LEN)
#define INNER_MIN (WIRE_HDR_LEN + SHORT_P2P_LEN)

_Static_assert(WIRE_INNER_MAX == WIRE_HDR_LEN + DATA_FIXED + WIRE_PAYLOAD_MAX,
	       "WIRE_INNER_MAX is the largest DATA message");
_Static_assert(WIRE_BODY_MAX == RELAY_FIXED + WIRE_INNER_MAX,
	       "WIRE_BODY_MAX is the largest RELAY body");
_Static_assert(WIRE_MSG_MAX < 0x7fff, "message sizes fit in an int");

/* ---- bounded reader ---------------------------------------------------- */

struct rd {
	const uint8_t *p;
	size_t left;
	bool bad; /* latched: a short read or an invalid field */
};

static const uint8_t *rd_take(struct rd *r, size_t n)
{
	const uint8_t *p;

	if (r->bad || r->left < n) {
		r->bad = true;
		return NULL;
	}
	p = r->p;
	r->p += n;
	r->left -= n;
	return p;
}

static uint8_t rd_u8(struct rd *r)
{
	const uint8_t *p = rd_take(r, 1);

	return p ? p[0] : 0;
}

static uint16_t rd_u16(struct rd *r)
{
	const uint8_t *p = rd_take(r, 2);

	return p ? (uint16_t)(p[0] << 8 | p[1]) : 0;
}

static uint32_t rd_u32(struct rd *r)
{
	const uint8_t *p = rd_take(r, 4);

	return p ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3] : 0;
}

static uint64_t rd_u64(struct rd *r)
{
	uint64_t hi = rd_u32(r);

	return hi << 32 | rd_u32(r);
}

static void rd_bytes(struct rd *r, void *dst, size_t n)
{
	const uint8_t *p = rd_take(r, n);

	if (p)
		memcpy(dst, p, n);
}

/* Reserved and padding bytes must be zero, so that they can be given a
 * meaning later without old peers misreading them. */
static void rd_zero(struct rd *r, size_t n)
{
	const uint8_t *p = rd_take(r, n);

	for (size_t i = 0; p && i < n; i++)
		if (p[i])
			r->bad = true;
}

static void rd_fail_if(struct rd *r, bool cond)
{
	if (cond)
		r->bad = true;
}

/* ---- bounded writer ---------------------------------------------------- */

struct wr {
	uint8_t *p;
	size_t left;
	bool bad;
};

static uint8_t *wr_take(struct wr *w, size_t n)
{
	uint8_t *p;

	if (w->bad || w->left < n) {
		w->bad = true;
		return NULL;
	}
	p = w->p;
	w->p += n;
	w->left -= n;
	return p;
}

static void wr_u8(struct wr *w, uint8_t v)
{
	uint8_t *p = wr_take(w, 1);

	if (p)
		p[0] = v;
}

static void wr_u16(struct wr *w, uint16_t v)
{
	uint8_t *p = wr_take(w, 2);

	if (p) {
		p[0] = (uint8_t)(v >> 8);
		p[1] = (uint8_t)v;
	}
}

static void wr_u32(struct wr *w, uint32_t v)
{
	uint8_t *p = wr_take(w, 4);

	if (p) {
		p[0] = (uint8_t)(v >> 24);
		p[1] = (uint8_t)(v >> 16);
		p[2] = (uint8_t)(v >> 8);
		p[3] = (uint8_t)v;
	}
}

static void wr_u64(struct wr *w, uint64_t v)
{
	wr_u32(w, (uint32_t)(v >> 32));
	wr_u32(w, (uint32_t)v);
}

static void wr_bytes(struct wr *w, const void *src, size_t n)
{
	uint8_t *p = wr_take(w, n);

	if (p && n)
		memcpy(p, src, n);
}

static void wr_zero(struct wr *w, size_t n)
{
	uint8_t *p = wr_take(w, n);

	if (p)
		memset(p, 0, n);
}

static void wr_fail_if(struct wr *w, bool cond)
{
	if (cond)
		w->bad = true;
}

/* ---- field rules, shared by both directions ---------------------------- */

static bool session_char_ok(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '-';
}

static bool reason_char_ok(uint8_t c)
{
	return c >= 0x20 && c <= 0x7e;
}

static bool text_ok(const uint8_t *s, size_t n, bool (*char_ok)(uint8_t))
{
	for (size_t i = 0; i < n; i++)
		if (!char_ok(s[i]))
			return false;
	return true;
}

static bool role_ok(uint8_t role)
{
	return role == 1 || role == 2;
}

/* Every endpoint on the wire is a real one: family 4 or 6, and an IPv4
 * address leaves the other 12 bytes zero so that one address has one
 * encoding (peers compare endpoints bytewise). */
static bool ep_ok(const struct wire_endpoint *ep)
{
	if (ep->family == 6)
		return true;
	if (ep->family != 4)
		return false;
	for (size_t i = 4; i < sizeof(ep->addr); i++)
		if (ep->addr[i])
			return false;
	return true;
}

/* Which body lengths a type can have at all; lets a stream reject a header
 * before waiting for a body that could never be valid. */
static bool body_len_possible(uint8_t type, size_t blen)
{
	switch (type) {
	case WIRE_HELLO:
		return blen >= HELLO_FIXED &&
		       blen <= HELLO_FIXED + WIRE_SESSION_MAX + WIRE_MAX_PRIVATE * WIRE_EP_LEN;
	case WIRE_WELCOME:
		return blen == WELCOME_LEN;
	case WIRE_PEER:
		return blen >= PEER_FIXED && (blen - PEER_FIXED) % WIRE_EP_LEN == 0 &&
		       (blen - PEER_FIXED) / WIRE_EP_LEN <= WIRE_MAX_PRIVATE;
	case WIRE_ERROR:
		return blen >= ERROR_FIXED && blen <= ERROR_FIXED + WIRE_REASON_MAX;
	case WIRE_REGISTER:
		return blen == REGISTER_LEN;
	case WIRE_REG_ACK:
		return blen == REG_ACK_LEN;
	case WIRE_PROBE:
	case WIRE_PROBE_ACK:
		return blen == PROBE_LEN;
	case WIRE_DATA:
		return blen >= DATA_FIXED && blen <= DATA_FIXED + WIRE_PAYLOAD_MAX;
	case WIRE_DATA_ACK:
	case WIRE_KEEPALIVE:
	case WIRE_BYE:
		return blen == SHORT_P2P_LEN;
	case WIRE_RELAY:
		return blen >= RELAY_FIXED + INNER_MIN && blen <= WIRE_BODY_MAX;
	default:
		return false;
	}
}

static bool type_known(uint8_t type)
{
	return wire_type_name(type)[0] != '?';
}

static bool relay_inner_type_ok(uint8_t type)
{
	return type == WIRE_DATA || type == WIRE_DATA_ACK || type == WIRE_BYE ||
	       type == WIRE_KEEPALIVE;
}

/* Check the header bytes present in buf[0..len), len possibly < WIRE_HDR_LEN.
 * Returns -1 if what is there already rules out a valid message, 0 if the
 * header is incomplete but could still be valid, else the total message length. */
static int header_check(const uint8_t *buf, size_t len)
{
	size_t blen;

	if ((len > 0 && buf[0] != WIRE_MAGIC0) || (len > 1 && buf[1] != WIRE_MAGIC1) ||
	    (len > 2 && buf[2] != WIRE_VERSION) || (len > 3 && !type_known(buf[3])) ||
	    (len > 6 && buf[6]) || (len > 7 && buf[7]))
		return -1;
	if (len < 6)
		return 0;
	blen = (size_t)buf[4] << 8 | buf[5];
	/* An impossible length is an error at once: a stream must not stall
	 * waiting for a body that can never be valid. */
	if (blen > WIRE_BODY_MAX || !body_len_possible(buf[3], blen))
		return -1;
	if (len < WIRE_HDR_LEN)
		return 0;
	return (int)(WIRE_HDR_LEN + blen);
}

/* ---- decoding ---------------------------------------------------------- */

static void rd_ep(struct rd *r, struct wire_endpoint *ep)
{
	ep->family = rd_u8(r);
	rd_zero(r, 1);
	ep->port = rd_u16(r);
	rd_bytes(r, ep->addr, sizeof(ep->addr));
	rd_fail_if(r, !r->bad && !ep_ok(ep));
}

/* A str8 into a NUL-terminated char array of max + 1 bytes. */
static void rd_str8(struct rd *r, char *dst, size_t max, bool (*char_ok)(uint8_t))
{
	size_t n = rd_u8(r);
	const uint8_t *p;

	if (n > max) {
		r->bad = true;
		return;
	}
	p = rd_take(r, n);
	if (!p)
		return;
	if (!text_ok(p, n, char_ok)) {
		r->bad = true;
		return;
	}
	memcpy(dst, p, n);
	dst[n] = '\0';
}

static void rd_p2p_head(struct rd *r, struct wire_msg *m)
{
	m->u.p2p.session_id = rd_u32(r);
	m->u.p2p.role = rd_u8(r);
	rd_fail_if(r, !role_ok(m->u.p2p.role));
	rd_zero(r, 3);
	m->u.p2p.seq = rd_u32(r);
	m->u.p2p.ts = rd_u64(r);
}

static void parse_body(struct rd *r, struct wire_msg *m)
{
	switch (m->type) {
	case WIRE_HELLO:
		m->u.hello.flags = rd_u8(r);
		rd_fail_if(r, m->u.hello.flags & ~WIRE_HELLO_FLAGS);
		m->u.hello.n_private = rd_u8(r);
		rd_fail_if(r, m->u.hello.n_private > WIRE_MAX_PRIVATE);
		m->u.hello.local_port = rd_u16(r);
		rd_str8(r, m->u.hello.session, WIRE_SESSION_MAX, session_char_ok);
		for (int i = 0; i < m->u.hello.n_private && !r->bad; i++)
			rd_ep(r, &m->u.hello.private_eps[i]);
		break;
	case WIRE_WELCOME:
		m->u.welcome.client_id = rd_u32(r);
		rd_bytes(r, m->u.welcome.token, WIRE_TOKEN_LEN);
		break;
	case WIRE_PEER:
		m->u.peer.session_id = rd_u32(r);
		m->u.peer.role = rd_u8(r);
		rd_fail_if(r, !role_ok(m->u.peer.role));
		m->u.peer.flags = rd_u8(r);
		m->u.peer.peer_step = (int16_t)rd_u16(r);
		rd_fail_if(r, !(m->u.peer.flags & WIRE_PEER_PREDICT) && m->u.peer.peer_step);
		rd_bytes(r, m->u.peer.secret, WIRE_KEY_LEN);
		rd_ep(r, &m->u.peer.self_public);
		rd_ep(r, &m->u.peer.peer_public);
		m->u.peer.n_private = rd_u8(r);
		rd_fail_if(r, m->u.peer.n_private > WIRE_MAX_PRIVATE);
		rd_zero(r, 3);
		for (int i = 0; i < m->u.peer.n_private && !r->bad; i++)
			rd_ep(r, &m->u.peer.peer_private[i]);
		break;
	case WIRE_ERROR:
		m->u.error.code = rd_u16(r);
		rd_str8(r, m->u.error.reason, WIRE_REASON_MAX, reason_char_ok);
		break;
	case WIRE_REGISTER:
		rd_bytes(r, m->u.reg.token, WIRE_TOKEN_LEN);
		rd_zero(r, WIRE_REGISTER_PAD);
		break;
	case WIRE_REG_ACK:
		m->u.reg_ack.client_id = rd_u32(r);
		rd_ep(r, &m->u.reg_ack.observed);
		break;
	case WIRE_PROBE:
	case WIRE_PROBE_ACK:
		rd_p2p_head(r, m);
		rd_ep(r, &m->u.p2p.ep);
		rd_take(r, WIRE_TAG_LEN);
		break;
	case WIRE_DATA:
		rd_p2p_head(r, m);
		m->u.p2p.payload_len = rd_u16(r);
		rd_fail_if(r, m->u.p2p.payload_len > WIRE_PAYLOAD_MAX);
		rd_bytes(r, m->u.p2p.payload, m->u.p2p.payload_len);
		rd_take(r, WIRE_TAG_LEN);
		break;
	case WIRE_DATA_ACK:
	case WIRE_KEEPALIVE:
	case WIRE_BYE:
		rd_p2p_head(r, m);
		rd_take(r, WIRE_TAG_LEN);
		break;
	case WIRE_RELAY: {
		struct wire_msg inner;
		const uint8_t *p;

		m->u.relay.session_id = rd_u32(r);
		m->u.relay.role = rd_u8(r);
		rd_fail_if(r, !role_ok(m->u.relay.role));
		rd_zero(r, 3);
		m->u.relay.seq = rd_u32(r);
		m->u.relay.inner_len = rd_u16(r);
		rd_fail_if(r, m->u.relay.inner_len > WIRE_INNER_MAX);
		p = rd_take(r, m->u.relay.inner_len);
		/* The inner message must fill its str16 exactly and be valid
		 * like any datagram. Its type is checked first, so a RELAY
		 * inside a RELAY never recurses. */
		if (p && (m->u.relay.inner_len < WIRE_HDR_LEN || !relay_inner_type_ok(p[3]) ||
			  wire_parse_datagram(p, m->u.relay.inner_len, &inner) < 0))
			r->bad = true;
		else if (p)
			memcpy(m->u.relay.inner, p, m->u.relay.inner_len);
		rd_take(r, WIRE_TAG_LEN);
		break;
	}
	default:
		r->bad = true;
		break;
	}
}

int wire_parse(const uint8_t *buf, size_t len, struct wire_msg *msg)
{
	struct rd r;
	int total = header_check(buf, len);

	if (total <= 0)
		return total;
	if (len < (size_t)total)
		return 0;
	memset(msg, 0, sizeof(*msg));
	msg->type = buf[3];
	r = (struct rd){ .p = buf + WIRE_HDR_LEN, .left = (size_t)total - WIRE_HDR_LEN };
	parse_body(&r, msg);
	/* The declared body length must be exactly what the fields use. */
	if (r.bad || r.left != 0)
		return -1;
	return total;
}

int wire_parse_datagram(const uint8_t *buf, size_t len, struct wire_msg *msg)
{
	int n = wire_parse(buf, len, msg);

	return n > 0 && (size_t)n == len ? 0 : -1;
}

/* ---- encoding ---------------------------------------------------------- */

static void wr_ep(struct wr *w, const struct wire_endpoint *ep)
{
	wr_fail_if(w, !ep_ok(ep));
	wr_u8(w, ep->family);
	wr_zero(w, 1);
	wr_u16(w, ep->port);
	wr_bytes(w, ep->addr, sizeof(ep->addr));
}

/* A NUL-terminated string held in a char array of max + 1 bytes. */
static void wr_str8(struct wr *w, const char *s, size_t max, bool (*char_ok)(uint8_t))
{
	size_t n = strnlen(s, max + 1);

	if (n > max || !text_ok((const uint8_t *)s, n, char_ok)) {
		w->bad = true;
		return;
	}
	wr_u8(w, (uint8_t)n);
	wr_bytes(w, s, n);
}

static void wr_p2p_head(struct wr *w, const struct wire_msg *m)
{
	wr_fail_if(w, !role_ok(m->u.p2p.role));
	wr_u32(w, m->u.p2p.session_id);
	wr_u8(w, m->u.p2p.role);
	wr_zero(w, 3);
	wr_u32(w, m->u.p2p.seq);
	wr_u64(w, m->u.p2p.ts);
}

static void build_body(struct wr *w, const struct wire_msg *m)
{
	switch (m->type) {
	case WIRE_HELLO:
		wr_fail_if(w, m->u.hello.flags & ~WIRE_HELLO_FLAGS);
		wr_fail_if(w, m->u.hello.n_private > WIRE_MAX_PRIVATE);
		wr_u8(w, m->u.hello.flags);
		wr_u8(w, m->u.hello.n_private);
		wr_u16(w, m->u.hello.local_port);
		wr_str8(w, m->u.hello.session, WIRE_SESSION_MAX, session_char_ok);
		for (int i = 0; i < m->u.hello.n_private && !w->bad; i++)
			wr_ep(w, &m->u.hello.private_eps[i]);
		break;
	case WIRE_WELCOME:
		wr_u32(w, m->u.welcome.client_id);
		wr_bytes(w, m->u.welcome.token, WIRE_TOKEN_LEN);
		break;
	case WIRE_PEER:
		wr_fail_if(w, !role_ok(m->u.peer.role));
		wr_fail_if(w, m->u.peer.n_private > WIRE_MAX_PRIVATE);
		wr_u32(w, m->u.peer.session_id);
		wr_u8(w, m->u.peer.role);
		wr_u8(w, m->u.peer.flags);
		wr_fail_if(w, !(m->u.peer.flags & WIRE_PEER_PREDICT) && m->u.peer.peer_step);
		wr_u16(w, (uint16_t)m->u.peer.peer_step);
		wr_bytes(w, m->u.peer.secret, WIRE_KEY_LEN);
		wr_ep(w, &m->u.peer.self_public);
		wr_ep(w, &m->u.peer.peer_public);
		wr_u8(w, m->u.peer.n_private);
		wr_zero(w, 3);
		for (int i = 0; i < m->u.peer.n_private && !w->bad; i++)
			wr_ep(w, &m->u.peer.peer_private[i]);
		break;
	case WIRE_ERROR:
		wr_u16(w, m->u.error.code);
		wr_str8(w, m->u.error.reason, WIRE_REASON_MAX, reason_char_ok);
		break;
	case WIRE_REGISTER:
		wr_bytes(w, m->u.reg.token, WIRE_TOKEN_LEN);
		wr_zero(w, WIRE_REGISTER_PAD);
		break;
	case WIRE_REG_ACK:
		wr_u32(w, m->u.reg_ack.client_id);
		wr_ep(w, &m->u.reg_ack.observed);
		break;
	case WIRE_PROBE:
	case WIRE_PROBE_ACK:
		wr_p2p_head(w, m);
		wr_ep(w, &m->u.p2p.ep);
		break;
	case WIRE_DATA:
		wr_fail_if(w, m->u.p2p.payload_len > WIRE_PAYLOAD_MAX);
		wr_p2p_head(w, m);
		wr_u16(w, m->u.p2p.payload_len);
		if (!w->bad)
			wr_bytes(w, m->u.p2p.payload, m->u.p2p.payload_len);
		break;
	case WIRE_DATA_ACK:
	case WIRE_KEEPALIVE:
	case WIRE_BYE:
		wr_p2p_head(w, m);
		break;
	case WIRE_RELAY: {
		struct wire_msg inner;

		wr_fail_if(w, !role_ok(m->u.relay.role));
		wr_fail_if(w, m->u.relay.inner_len > WIRE_INNER_MAX);
		if (w->bad || m->u.relay.inner_len < WIRE_HDR_LEN ||
		    !relay_inner_type_ok(m->u.relay.inner[3]) ||
		    wire_parse_datagram(m->u.relay.inner, m->u.relay.inner_len, &inner) < 0) {
			w->bad = true;
			break;
		}
		wr_u32(w, m->u.relay.session_id);
		wr_u8(w, m->u.relay.role);
		wr_zero(w, 3);
		wr_u32(w, m->u.relay.seq);
		wr_u16(w, m->u.relay.inner_len);
		wr_bytes(w, m->u.relay.inner, m->u.relay.inner_len);
		break;
	}
	default:
		w->bad = true;
		break;
	}
}

static void put_tag(uint8_t *dst, uint64_t tag)
{
	for (int i = 0; i < WIRE_TAG_LEN; i++)
		dst[i] = (uint8_t)(tag >> (56 - 8 * i));
}

int wire_build(uint8_t *buf, size_t size, const struct wire_msg *msg, const uint8_t *key)
{
	bool auth = wire_is_authenticated(msg->type);
	struct wr w = { .p = buf, .left = size };
	size_t total;

	if (!type_known(msg->type) || (auth && !key))
		return -1;
	wr_u8(&w, WIRE_MAGIC0);
	wr_u8(&w, WIRE_MAGIC1);
	wr_u8(&w, WIRE_VERSION);
	wr_u8(&w, msg->type);
	wr_u16(&w, 0); /* body length, patched below */
	wr_zero(&w, 2);
	build_body(&w, msg);
	if (auth)
		wr_zero(&w, WIRE_TAG_LEN);
	if (w.bad)
		return -1;
	total = size - w.left;
	/* The field rules above bound every body, so this only guards them. */
	if (!body_len_possible(msg->type, total - WIRE_HDR_LEN))
		return -1;
	buf[4] = (uint8_t)((total - WIRE_HDR_LEN) >> 8);
	buf[5] = (uint8_t)(total - WIRE_HDR_LEN);
	if (auth)
		put_tag(buf + total - WIRE_TAG_LEN, siphash24(key, buf, total - WIRE_TAG_LEN));
	return (int)total;
}

/* ---- tags and names ---------------------------------------------------- */

bool wire_verify(const uint8_t *buf, size_t len, const uint8_t *key)
{
	struct wire_msg m;
	uint8_t want[WIRE_TAG_LEN];
	uint8_t diff = 0;

	/* Only a well-formed message of an authenticated type has a tag at all. */
	if (!key || wire_parse_datagram(buf, len, &m) < 0 || !wire_is_authenticated(m.type))
		return false;
	put_tag(want, siphash24(key, buf, len - WIRE_TAG_LEN));
	/* Compare without an early exit, so the time taken says nothing about
	 * how many leading tag bytes an attacker guessed right. */
	for (size_t i = 0; i < WIRE_TAG_LEN; i++)
		diff |= (uint8_t)(want[i] ^ buf[len - WIRE_TAG_LEN + i]);
	return diff == 0;
}

bool wire_is_authenticated(uint8_t type)
{
	switch (type) {
	case WIRE_PROBE:
	case WIRE_PROBE_ACK:
	case WIRE_DATA:
	case WIRE_DATA_ACK:
	case WIRE_KEEPALIVE:
	case WIRE_BYE:
	case WIRE_RELAY:
		return true;
	default:
		return false;
	}
}

const char *wire_type_name(uint8_t type)
{
	switch (type) {
	case WIRE_HELLO:
		return "HELLO";
	case WIRE_WELCOME:
		return "WELCOME";
	case WIRE_PEER:
		return "PEER";
	case WIRE_ERROR:
		return "ERROR";
	case WIRE_REGISTER:
		return "REGISTER";
	case WIRE_REG_ACK:
		return "REG_ACK";
	case WIRE_PROBE:
		return "PROBE";
	case WIRE_PROBE_ACK:
		return "PROBE_ACK";
	case WIRE_DATA:
		return "DATA";
	case WIRE_DATA_ACK:
		return "DATA_ACK";
	case WIRE_KEEPALIVE:
		return "KEEPALIVE";
	case WIRE_BYE:
		return "BYE";
	case WIRE_RELAY:
		return "RELAY";
	default:
		return "?";
	}
}
