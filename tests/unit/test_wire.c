/* Unit tests for the wire codec (src/proto/wire.c) and SipHash-2-4
 * (src/common/siphash.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/siphash.h"
#include "proto/wire.h"

static const uint8_t key[WIRE_KEY_LEN] = { 0x10, 0x21, 0x32, 0x43, 0x54, 0x65, 0x76, 0x87,
					   0x98, 0xa9, 0xba, 0xcb, 0xdc, 0xed, 0xfe, 0x0f };
static const uint8_t other_key[WIRE_KEY_LEN] = { 0x10, 0x21, 0x32, 0x43, 0x54, 0x65, 0x76, 0x87,
						 0x98, 0xa9, 0xba, 0xcb, 0xdc, 0xed, 0xfe, 0x0e };

/* ---- SipHash ----------------------------------------------------------- */

/* The 64 vectors of the reference implementation (veorq/SipHash vectors.h):
 * key 00 01 .. 0f, input 00 01 .. (i-1) for i = 0..63, output read as the
 * little-endian 64-bit number the reference writes. */
static const uint64_t sip_vectors[64] = {
	0x726fdb47dd0e0e31ULL, 0x74f839c593dc67fdULL, 0x0d6c8009d9a94f5aULL, 0x85676696d7fb7e2dULL,
	0xcf2794e0277187b7ULL, 0x18765564cd99a68dULL, 0xcbc9466e58fee3ceULL, 0xab0200f58b01d137ULL,
	0x93f5f5799a932462ULL, 0x9e0082df0ba9e4b0ULL, 0x7a5dbbc594ddb9f3ULL, 0xf4b32f46226bada7ULL,
	0x751e8fbc860ee5fbULL, 0x14ea5627c0843d90ULL, 0xf723ca908e7af2eeULL, 0xa129ca6149be45e5ULL,
	0x3f2acc7f57c29bdbULL, 0x699ae9f52cbe4794ULL, 0x4bc1b3f0968dd39cULL, 0xbb6dc91da77961bdULL,
	0xbed65cf21aa2ee98ULL, 0xd0f2cbb02e3b67c7ULL, 0x93536795e3a33e88ULL, 0xa80c038ccd5ccec8ULL,
	0xb8ad50c6f649af94ULL, 0xbce192de8a85b8eaULL, 0x17d835b85bbb15f3ULL, 0x2f2e6163076bcfadULL,
	0xde4daaaca71dc9a5ULL, 0xa6a2506687956571ULL, 0xad87a3535c49ef28ULL, 0x32d892fad841c342ULL,
	0x7127512f72f27cceULL, 0xa7f32346f95978e3ULL, 0x12e0b01abb051238ULL, 0x15e034d40fa197aeULL,
	0x314dffbe0815a3b4ULL, 0x027990f029623981ULL, 0xcadcd4e59ef40c4dULL, 0x9abfd8766a33735cULL,
	0x0e3ea96b5304a7d0ULL, 0xad0c42d6fc585992ULL, 0x187306c89bc215a9ULL, 0xd4a60abcf3792b95ULL,
	0xf935451de4f21df2ULL, 0xa9538f0419755787ULL, 0xdb9acddff56ca510ULL, 0xd06c98cd5c0975ebULL,
	0xe612a3cb9ecba951ULL, 0xc766e62cfcadaf96ULL, 0xee64435a9752fe72ULL, 0xa192d576b245165aULL,
	0x0a8787bf8ecb74b2ULL, 0x81b3e73d20b49b6fULL, 0x7fa8220ba3b2eceaULL, 0x245731c13ca42499ULL,
	0xb78dbfaf3a8d83bdULL, 0xea1ad565322a1a0bULL, 0x60e61c23a3795013ULL, 0x6606d7e446282b93ULL,
	0x6ca4ecb15c5f91e1ULL, 0x9f626da15c9625f3ULL, 0xe51b38608ef25f57ULL, 0x958a324ceb064572ULL,
};

static void test_siphash_vectors(void **state)
{
	uint8_t k[16], in[64];

	for (int i = 0; i < 16; i++)
		k[i] = (uint8_t)i;
	for (int i = 0; i < 64; i++)
		in[i] = (uint8_t)i;
	for (size_t len = 0; len < 64; len++) {
		/* Hash from a heap copy of exactly len bytes, so ASan sees any
		 * read past the end, and at an odd address for alignment. */
		uint8_t *copy = malloc(len + 1);

		assert_non_null(copy);
		memcpy(copy + 1, in, len);
		assert_int_equal(siphash24(k, copy + 1, len), sip_vectors[len]);
		free(copy);
	}
}

/* ---- sample messages --------------------------------------------------- */

static struct wire_endpoint ep4(uint8_t last, uint16_t port)
{
	struct wire_endpoint ep;

	memset(&ep, 0, sizeof(ep));
	ep.family = 4;
	ep.port = port;
	ep.addr[0] = 198;
	ep.addr[1] = 51;
	ep.addr[2] = 100;
	ep.addr[3] = last;
	return ep;
}

static struct wire_endpoint ep6(uint8_t last, uint16_t port)
{
	struct wire_endpoint ep;

	memset(&ep, 0, sizeof(ep));
	ep.family = 6;
	ep.port = port;
	ep.addr[0] = 0x20;
	ep.addr[1] = 0x01;
	ep.addr[2] = 0x0d;
	ep.addr[3] = 0xb8;
	ep.addr[15] = last;
	return ep;
}

static void p2p_head(struct wire_msg *m, uint8_t type)
{
	m->type = type;
	m->u.p2p.session_id = 0xa1b2c3d4;
	m->u.p2p.role = 2;
	m->u.p2p.seq = 0x01020304;
	m->u.p2p.ts = 0x1122334455667788ULL;
}

/* A valid, fully encoded message to wrap in a RELAY. */
static uint16_t make_inner(uint8_t *out, uint8_t type, uint16_t payload_len)
{
	struct wire_msg m;
	int n;

	memset(&m, 0, sizeof(m));
	p2p_head(&m, type);
	if (type == WIRE_DATA) {
		m.u.p2p.payload_len = payload_len;
		for (int i = 0; i < payload_len; i++)
			m.u.p2p.payload[i] = (uint8_t)(i * 7);
	}
	n = wire_build(out, WIRE_INNER_MAX, &m, key);
	assert_true(n > 0);
	return (uint16_t)n;
}

/* Sample i (0 <= i < N_SAMPLES) of every type, boundary sizes included.
 * Returns the expected encoded length. */
enum { N_SAMPLES = 22 };

static size_t sample(int i, struct wire_msg *m)
{
	memset(m, 0, sizeof(*m));
	switch (i) {
	case 0: /* smallest HELLO */
		m->type = WIRE_HELLO;
		return 8 + 5;
	case 1: /* largest HELLO */
		m->type = WIRE_HELLO;
		m->u.hello.flags = WIRE_HELLO_FLAGS; /* both defined bits */
		m->u.hello.local_port = 65535;
		memset(m->u.hello.session, 'x', WIRE_SESSION_MAX);
		memcpy(m->u.hello.session, "Az09._-", 7);
		m->u.hello.n_private = WIRE_MAX_PRIVATE;
		m->u.hello.private_eps[0] = ep4(1, 1);
		m->u.hello.private_eps[1] = ep6(2, 2);
		m->u.hello.private_eps[2] = ep4(3, 0);
		m->u.hello.private_eps[3] = ep6(4, 40000);
		return 8 + 5 + 64 + 80;
	case 2:
		m->type = WIRE_HELLO;
		strcpy(m->u.hello.session, "room-1");
		m->u.hello.local_port = 4000;
		m->u.hello.n_private = 1;
		m->u.hello.private_eps[0] = ep4(7, 4000);
		return 8 + 5 + 6 + 20;
	case 3:
		m->type = WIRE_WELCOME;
		m->u.welcome.client_id = 0xfedcba98;
		for (int k = 0; k < WIRE_TOKEN_LEN; k++)
			m->u.welcome.token[k] = (uint8_t)(0xf0 + k);
		return 8 + 20;
	case 4: /* PEER without private endpoints */
		m->type = WIRE_PEER;
		m->u.peer.session_id = 77;
		m->u.peer.role = 1;
		memcpy(m->u.peer.secret, key, WIRE_KEY_LEN);
		m->u.peer.self_public = ep4(10, 1000);
		m->u.peer.peer_public = ep6(11, 2000);
		return 8 + 68;
	case 5: /* largest PEER */
		m->type = WIRE_PEER;
		m->u.peer.session_id = 0xffffffff;
		m->u.peer.role = 2;
		m->u.peer.flags = 0xff;
		m->u.peer.peer_step = -32768;
		memcpy(m->u.peer.secret, other_key, WIRE_KEY_LEN);
		m->u.peer.self_public = ep6(12, 65535);
		m->u.peer.peer_public = ep4(13, 1);
		m->u.peer.n_private = WIRE_MAX_PRIVATE;
		for (int k = 0; k < WIRE_MAX_PRIVATE; k++)
			m->u.peer.peer_private[k] = k % 2 ? ep6((uint8_t)k, 5) : ep4((uint8_t)k, 6);
		return 8 + 68 + 80;
	case 6: /* ERROR with an empty reason */
		m->type = WIRE_ERROR;
		m->u.error.code = WIRE_ERR_FULL;
		return 8 + 3;
	case 7: /* ERROR with the longest reason, every printable character */
		m->type = WIRE_ERROR;
		m->u.error.code = 0xffff;
		for (int k = 0; k < WIRE_REASON_MAX; k++)
			m->u.error.reason[k] = (char)(0x20 + k % 95);
		return 8 + 3 + 200;
	case 8:
		m->type = WIRE_REGISTER;
		for (int k = 0; k < WIRE_TOKEN_LEN; k++)
			m->u.reg.token[k] = (uint8_t)(k * 17 + 1);
		return 8 + 64;
	case 9:
		m->type = WIRE_REG_ACK;
		m->u.reg_ack.client_id = 5;
		m->u.reg_ack.observed = ep4(200, 54321);
		return 8 + 24;
	case 10:
		m->type = WIRE_REG_ACK;
		m->u.reg_ack.observed = ep6(0xff, 3478);
		return 8 + 24;
	case 11:
		p2p_head(m, WIRE_PROBE);
		m->u.p2p.ep = ep4(2, 3000);
		return 8 + 48;
	case 12:
		p2p_head(m, WIRE_PROBE_ACK);
		m->u.p2p.ep = ep6(3, 3001);
		return 8 + 48;
	case 13: /* empty DATA */
		p2p_head(m, WIRE_DATA);
		m->u.p2p.role = 1;
		return 8 + 30;
	case 14: /* largest DATA */
		p2p_head(m, WIRE_DATA);
		m->u.p2p.payload_len = WIRE_PAYLOAD_MAX;
		for (int k = 0; k < WIRE_PAYLOAD_MAX; k++)
			m->u.p2p.payload[k] = (uint8_t)(k ^ 0x5a);
		return 8 + 30 + 1024;
	case 15:
		p2p_head(m, WIRE_DATA_ACK);
		return 8 + 28;
	case 16:
		p2p_head(m, WIRE_KEEPALIVE);
		m->u.p2p.ts = 0;
		return 8 + 28;
	case 17:
		p2p_head(m, WIRE_BYE);
		m->u.p2p.ts = UINT64_MAX;
		m->u.p2p.seq = UINT32_MAX;
		return 8 + 28;
	case 18: /* largest RELAY: the largest valid message */
		m->type = WIRE_RELAY;
		m->u.relay.session_id = 0xa1b2c3d4;
		m->u.relay.role = 2;
		m->u.relay.inner_len = make_inner(m->u.relay.inner, WIRE_DATA, WIRE_PAYLOAD_MAX);
		return WIRE_MSG_MAX;
	case 19:
		m->type = WIRE_RELAY;
		m->u.relay.session_id = 1;
		m->u.relay.role = 1;
		m->u.relay.seq = 0xfedcba98;
		m->u.relay.inner_len = make_inner(m->u.relay.inner, WIRE_DATA_ACK, 0);
		return 8 + 22 + 36;
	case 20:
		m->type = WIRE_RELAY;
		m->u.relay.role = 1;
		m->u.relay.inner_len = make_inner(m->u.relay.inner, WIRE_KEEPALIVE, 0);
		return 8 + 22 + 36;
	case 21:
		m->type = WIRE_RELAY;
		m->u.relay.role = 2;
		m->u.relay.seq = 1;
		m->u.relay.inner_len = make_inner(m->u.relay.inner, WIRE_BYE, 0);
		return 8 + 22 + 36;
	default:
		fail();
		return 0;
	}
}

/* Encode sample i into buf (WIRE_MSG_MAX bytes); returns its length. */
static size_t encode_sample(int i, uint8_t *buf, struct wire_msg *m)
{
	size_t want = sample(i, m);
	int n = wire_build(buf, WIRE_MSG_MAX, m, key);

	assert_int_equal(n, (int)want);
	return (size_t)n;
}

/* Write a fresh tag over buf[0..len), so that a test of a field rule is not
 * merely a test of the tag. */
static void retag(uint8_t *buf, size_t len)
{
	uint64_t t = siphash24(key, buf, len - WIRE_TAG_LEN);

	for (int i = 0; i < 8; i++)
		buf[len - 8 + i] = (uint8_t)(t >> (56 - 8 * i));
}

static void set_body_len(uint8_t *buf, size_t blen)
{
	buf[4] = (uint8_t)(blen >> 8);
	buf[5] = (uint8_t)blen;
}

/* ---- round trips ------------------------------------------------------- */

static void test_round_trip_every_sample(void **state)
{
	static uint8_t buf[WIRE_MSG_MAX], again[WIRE_MSG_MAX];
	static struct wire_msg m, back;
	bool seen[256] = { false };

	for (int i = 0; i < N_SAMPLES; i++) {
		size_t len = encode_sample(i, buf, &m);

		assert_int_equal(buf[0], WIRE_MAGIC0);
		assert_int_equal(buf[1], WIRE_MAGIC1);
		assert_int_equal(buf[2], WIRE_VERSION);
		assert_int_equal(buf[3], m.type);
		assert_int_equal((size_t)(buf[4] << 8 | buf[5]), len - WIRE_HDR_LEN);
		assert_int_equal(buf[6] | buf[7], 0);

		assert_int_equal(wire_parse(buf, len, &back), (int)len);
		assert_int_equal(wire_parse_datagram(buf, len, &back), 0);
		/* Both sides were zeroed before filling, so the whole decoded
		 * struct, unused parts included, must equal the original. */
		assert_memory_equal(&m, &back, sizeof(m));
		assert_int_equal(wire_build(again, sizeof(again), &back, key), (int)len);
		assert_memory_equal(buf, again, len);
		assert_int_equal(wire_verify(buf, len, key), wire_is_authenticated(m.type));
		seen[m.type] = true;
	}
	for (int t = 0; t < 256; t++)
		assert_int_equal(seen[t], wire_type_name((uint8_t)t)[0] != '?');
}

/* Exact bytes for two messages, written out by hand from the diagram in
 * wire.h, so the codec cannot agree with itself on a wrong layout. */
static void test_golden_encodings(void **state)
{
	static const uint8_t reg_ack[] = {
		0x50, 0x4c, 0x02, 17, 0x00, 24, 0x00, 0x00, /* header */
		0x00, 0x00, 0x00, 0x05,			    /* client_id */
		4,    0,    0xd4, 0x31,			    /* family, reserved, port 54321 */
		198,  51,   100,  200,  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	};
	uint8_t probe[] = {
		0x50, 0x4c, 0x02, 32, 0x00, 48, 0x00, 0x00, /* header */
		0xa1, 0xb2, 0xc3, 0xd4,			    /* session_id */
		2,    0,    0,	  0,			    /* role, reserved */
		0x01, 0x02, 0x03, 0x04,			    /* seq */
		0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, /* ts */
		4,    0,    0x0b, 0xb8,				/* family, port 3000 */
		198,  51,   100,  2,    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
		0, 0, 0, 0, 0, 0, 0, 0, /* tag, below */
	};
	uint8_t buf[WIRE_MSG_MAX];
	struct wire_msg m;
	uint64_t tag = siphash24(key, probe, sizeof(probe) - 8);

	for (int i = 0; i < 8; i++)
		probe[sizeof(probe) - 8 + i] = (uint8_t)(tag >> (56 - 8 * i));

	sample(9, &m);
	assert_int_equal(wire_build(buf, sizeof(buf), &m, NULL), (int)sizeof(reg_ack));
	assert_memory_equal(buf, reg_ack, sizeof(reg_ack));
	sample(11, &m);
	assert_int_equal(wire_build(buf, sizeof(buf), &m, key), (int)sizeof(probe));
	assert_memory_equal(buf, probe, sizeof(probe));
	assert_true(wire_verify(probe, sizeof(probe), key));
}

static void test_build_too_small(void **state)
{
	static uint8_t buf[WIRE_MSG_MAX];
	struct wire_msg m;

	for (int i = 0; i < N_SAMPLES; i++) {
		size_t len = encode_sample(i, buf, &m);

		/* Exactly sized heap buffers: ASan catches a write past size. */
		for (size_t size = 0; size < len; size++) {
			uint8_t *small = malloc(size ? size : 1);

			assert_non_null(small);
			assert_int_equal(wire_build(small, size, &m, key), -1);
			free(small);
		}
		uint8_t *exact = malloc(len);

		assert_non_null(exact);
		assert_int_equal(wire_build(exact, len, &m, key), (int)len);
		assert_memory_equal(exact, buf, len);
		free(exact);
	}
}

/* ---- truncation, extension, streams ------------------------------------ */

static void test_every_truncation(void **state)
{
	static uint8_t buf[WIRE_MSG_MAX];
	struct wire_msg m, out;

	for (int i = 0; i < N_SAMPLES; i++) {
		size_t len = encode_sample(i, buf, &m);

		for (size_t cut = 0; cut < len; cut++) {
			/* A heap copy of exactly cut bytes: reading past it is
			 * an ASan error, not a silent pass. */
			uint8_t *part = malloc(cut ? cut : 1);

			assert_non_null(part);
			memcpy(part, buf, cut);
			assert_int_equal(wire_parse(part, cut, &out), 0);
			assert_int_equal(wire_parse_datagram(part, cut, &out), -1);
			assert_false(wire_verify(part, cut, key));
			free(part);
		}
	}
}

static void test_trailing_bytes(void **state)
{
	static uint8_t buf[WIRE_MSG_MAX + 1];
	struct wire_msg m, out;

	for (int i = 0; i < N_SAMPLES; i++) {
		size_t len = encode_sample(i, buf, &m);

		buf[len] = 0;
		assert_int_equal(wire_parse(buf, len + 1, &out), (int)len);
		assert_int_equal(wire_parse_datagram(buf, len + 1, &out), -1);
		assert_false(wire_verify(buf, len + 1, key));
	}
}

static void test_stream_back_to_back(void **state)
{
	static uint8_t stream[3 * WIRE_MSG_MAX];
	struct wire_msg a, b, out;
	size_t la, lb;
	int n;

	la = encode_sample(2, stream, &a); /* HELLO */
	lb = encode_sample(18, stream + la, &b); /* the largest RELAY */

	n = wire_parse(stream, la + lb, &out);
	assert_int_equal(n, (int)la);
	assert_memory_equal(&out, &a, sizeof(out));
	n = wire_parse(stream + la, la + lb - (size_t)n, &out);
	assert_int_equal(n, (int)lb);
	assert_memory_equal(&out, &b, sizeof(out));

	/* The second message still arriving: the first parses, then "more". */
	for (size_t have = la; have < la + lb; have += 97) {
		assert_int_equal(wire_parse(stream, have, &out), (int)la);
		assert_int_equal(wire_parse(stream + la, have - la, &out), 0);
	}
	/* Garbage after a good message is only an error once it is reached. */
	stream[la] = 'X';
	assert_int_equal(wire_parse(stream, la + lb, &out), (int)la);
	assert_int_equal(wire_parse(stream + la, lb, &out), -1);
}

/* ---- header corruption ------------------------------------------------- */

/* Every single-byte change to the header of every sample, with the message
 * otherwise complete: magic, version and reserved bytes are always caught;
 * a changed type is caught by the parser, or for the tagged types whose
 * bodies have the same shape (DATA_ACK, KEEPALIVE, BYE) by the tag; a
 * changed length never yields a message of the original bytes. */
static void test_header_corruption(void **state)
{
	static uint8_t buf[WIRE_MSG_MAX + 64];
	struct wire_msg m, out;

	for (int i = 0; i < N_SAMPLES; i++) {
		size_t len = encode_sample(i, buf, &m);

		memset(buf + len, 0, 64);
		for (int pos = 0; pos < WIRE_HDR_LEN; pos++) {
			uint8_t orig = buf[pos];

			for (int v = 0; v < 256; v++) {
				int n;

				if (v == orig)
					continue;
				buf[pos] = (uint8_t)v;
				n = wire_parse(buf, len, &out);
				assert_int_equal(wire_parse_datagram(buf, len, &out) == 0, n == (int)len);
				if (pos == 3 && n > 0) {
					assert_true(wire_is_authenticated(orig));
					assert_true(wire_is_authenticated((uint8_t)v));
					assert_false(wire_verify(buf, len, key));
				} else if (pos == 4 || pos == 5) {
					/* Longer: wait for more (or impossible); shorter: bad. */
					assert_true(n == 0 || n == -1);
					assert_int_equal(wire_parse_datagram(buf, len, &out), -1);
					n = wire_parse(buf, len + 64, &out);
					assert_int_not_equal(n, (int)len);
				} else {
					assert_int_equal(n, -1);
				}
				/* The header alone is enough to reject bad magic,
				 * version, reserved bytes or an unknown type. */
				if (pos != 3 && pos != 4 && pos != 5)
					assert_int_equal(wire_parse(buf, WIRE_HDR_LEN, &out), -1);
				if (pos == 3 && wire_type_name((uint8_t)v)[0] == '?')
					assert_int_equal(wire_parse(buf, 4, &out), -1);
			}
			buf[pos] = orig;
		}
	}
}

static void test_impossible_lengths_fail_at_once(void **state)
{
	uint8_t hdr[WIRE_HDR_LEN] = { 0x50, 0x4c, WIRE_VERSION, WIRE_RELAY, 0, 0, 0, 0 };
	struct wire_msg out;

	set_body_len(hdr, WIRE_BODY_MAX + 1);
	assert_int_equal(wire_parse(hdr, 6, &out), -1);
	assert_int_equal(wire_parse(hdr, sizeof(hdr), &out), -1);
	set_body_len(hdr, 0xffff);
	assert_int_equal(wire_parse(hdr, sizeof(hdr), &out), -1);
	set_body_len(hdr, WIRE_BODY_MAX);
	assert_int_equal(wire_parse(hdr, sizeof(hdr), &out), 0);

	/* Fixed-size types: any other length is rejected from the header. */
	hdr[3] = WIRE_REGISTER;
	set_body_len(hdr, 63);
	assert_int_equal(wire_parse(hdr, sizeof(hdr), &out), -1);
	set_body_len(hdr, 65);
	assert_int_equal(wire_parse(hdr, sizeof(hdr), &out), -1);
	set_body_len(hdr, 64);
	assert_int_equal(wire_parse(hdr, sizeof(hdr), &out), 0);
	hdr[3] = WIRE_PEER; /* 68 + 20 n, n <= 4 */
	set_body_len(hdr, 69);
	assert_int_equal(wire_parse(hdr, sizeof(hdr), &out), -1);
	set_body_len(hdr, 68 + 5 * 20);
	assert_int_equal(wire_parse(hdr, sizeof(hdr), &out), -1);
	set_body_len(hdr, 68 + 4 * 20);
	assert_int_equal(wire_parse(hdr, sizeof(hdr), &out), 0);
	hdr[3] = WIRE_DATA;
	set_body_len(hdr, 30 + WIRE_PAYLOAD_MAX + 1);
	assert_int_equal(wire_parse(hdr, sizeof(hdr), &out), -1);
	set_body_len(hdr, 29);
	assert_int_equal(wire_parse(hdr, sizeof(hdr), &out), -1);
	hdr[3] = WIRE_HELLO;
	set_body_len(hdr, 5 + 64 + 80 + 1);
	assert_int_equal(wire_parse(hdr, sizeof(hdr), &out), -1);
	hdr[3] = WIRE_ERROR;
	set_body_len(hdr, 3 + 201);
	assert_int_equal(wire_parse(hdr, sizeof(hdr), &out), -1);
	assert_int_equal(wire_parse(NULL, 0, &out), 0);
}

/* ---- field rules ------------------------------------------------------- */

/* Encode sample i, set buf[off] = val, fix the tag, and expect rejection. */
static void expect_byte_rejected(int i, size_t off, uint8_t val)
{
	static uint8_t buf[WIRE_MSG_MAX];
	struct wire_msg m, out;
	size_t len = encode_sample(i, buf, &m);

	assert_true(off < len);
	buf[off] = val;
	if (wire_is_authenticated(m.type))
		retag(buf, len);
	assert_int_equal(wire_parse(buf, len, &out), -1);
	assert_int_equal(wire_parse_datagram(buf, len, &out), -1);
	assert_false(wire_verify(buf, len, key));
}

static void expect_build_rejected(const struct wire_msg *m)
{
	static uint8_t buf[WIRE_MSG_MAX];

	assert_int_equal(wire_build(buf, sizeof(buf), m, key), -1);
}

static void test_reserved_and_padding_bytes(void **state)
{
	/* PEER: peer_step without the PREDICT flag, reserved after n_private */
	expect_byte_rejected(4, 8 + 6, 1);
	expect_byte_rejected(4, 8 + 7, 0x80);
	expect_byte_rejected(4, 8 + 65, 1);
	expect_byte_rejected(4, 8 + 67, 1);
	{
		struct wire_msg m;

		sample(4, &m);
		m.u.peer.peer_step = 1;
		expect_build_rejected(&m);
	}
	/* REGISTER padding, every byte */
	for (size_t off = 8 + 16; off < 8 + 64; off++)
		expect_byte_rejected(8, off, 0x01);
	/* p2p reserved bytes of every tagged type */
	for (int i = 11; i <= 17; i++)
		for (size_t off = 8 + 5; off < 8 + 8; off++)
			expect_byte_rejected(i, off, 0xff);
	/* RELAY reserved */
	expect_byte_rejected(19, 8 + 5, 1);
	expect_byte_rejected(19, 8 + 7, 1);
	/* endpoint reserved byte: REG_ACK, PROBE, HELLO private, PEER public */
	expect_byte_rejected(9, 8 + 4 + 1, 1);
	expect_byte_rejected(11, 8 + 20 + 1, 1);
	expect_byte_rejected(2, 8 + 5 + 6 + 1, 1);
	expect_byte_rejected(4, 8 + 24 + 1, 1);
}

static void test_endpoint_rules(void **state)
{
	struct wire_msg m;

	/* family must be 4 or 6, wherever an endpoint appears */
	for (int fam = 0; fam < 256; fam++) {
		if (fam == 4 || fam == 6)
			continue;
		expect_byte_rejected(9, 8 + 4, (uint8_t)fam);       /* REG_ACK observed */
		expect_byte_rejected(11, 8 + 20, (uint8_t)fam);     /* PROBE to */
		expect_byte_rejected(12, 8 + 20, (uint8_t)fam);     /* PROBE_ACK seen_from */
		expect_byte_rejected(4, 8 + 24, (uint8_t)fam);      /* PEER self_public */
		expect_byte_rejected(4, 8 + 44, (uint8_t)fam);      /* PEER peer_public */
		expect_byte_rejected(5, 8 + 68 + 60, (uint8_t)fam); /* PEER 4th private */
		expect_byte_rejected(1, 8 + 5 + 64 + 20, (uint8_t)fam); /* HELLO 2nd private */
	}
	/* IPv4: the 12 address bytes after the first 4 must be zero */
	for (size_t k = 4; k < 16; k++) {
		expect_byte_rejected(9, 8 + 4 + 4 + k, 1);
		expect_byte_rejected(11, 8 + 20 + 4 + k, 1);
	}
	/* ...which the same bytes need not be for IPv6 */
	{
		static uint8_t buf[WIRE_MSG_MAX];
		struct wire_msg out;
		size_t len = encode_sample(10, buf, &m);

		buf[8 + 4 + 4 + 9] = 0x42;
		assert_int_equal(wire_parse_datagram(buf, len, &out), 0);
		assert_int_equal(out.u.reg_ack.observed.addr[9], 0x42);
	}

	sample(9, &m);
	m.u.reg_ack.observed.family = 0;
	expect_build_rejected(&m);
	m.u.reg_ack.observed.family = 5;
	expect_build_rejected(&m);
	m.u.reg_ack.observed = ep4(1, 1);
	m.u.reg_ack.observed.addr[15] = 1;
	expect_build_rejected(&m);
	sample(4, &m);
	m.u.peer.peer_public.family = 0;
	expect_build_rejected(&m);
	sample(4, &m);
	m.u.peer.self_public.family = 0;
	expect_build_rejected(&m);
	sample(11, &m);
	m.u.p2p.ep.family = 0;
	expect_build_rejected(&m);
	sample(12, &m);
	m.u.p2p.ep.family = 0;
	expect_build_rejected(&m);
	sample(2, &m);
	m.u.hello.private_eps[0].family = 0;
	expect_build_rejected(&m);
	/* an unused private slot beyond n_private is not encoded, so not checked */
	sample(2, &m);
	m.u.hello.private_eps[1].family = 9;
	{
		static uint8_t buf[WIRE_MSG_MAX];

		assert_int_equal(wire_build(buf, sizeof(buf), &m, NULL), 8 + 5 + 6 + 20);
	}
}

static void test_role_rules(void **state)
{
	static const uint8_t bad_roles[] = { 0, 3, 0xff };
	struct wire_msg m;

	for (size_t r = 0; r < sizeof(bad_roles); r++) {
		expect_byte_rejected(4, 8 + 4, bad_roles[r]); /* PEER */
		for (int i = 11; i <= 17; i++)		      /* PROBE..BYE */
			expect_byte_rejected(i, 8 + 4, bad_roles[r]);
		expect_byte_rejected(19, 8 + 4, bad_roles[r]); /* RELAY */
		/* a bad role inside the relayed message */
		expect_byte_rejected(19, 22 + 8 + 4, bad_roles[r]);

		sample(4, &m);
		m.u.peer.role = bad_roles[r];
		expect_build_rejected(&m);
		sample(13, &m);
		m.u.p2p.role = bad_roles[r];
		expect_build_rejected(&m);
		sample(19, &m);
		m.u.relay.role = bad_roles[r];
		expect_build_rejected(&m);
	}
}

static void test_text_rules(void **state)
{
	static const char bad_session_chars[] = " /:@\t\x7f\x80!";
	struct wire_msg m, out;

	/* HELLO "room-1": session bytes at 8 + 5 .. */
	for (size_t c = 0; c < sizeof(bad_session_chars) - 1; c++) {
		expect_byte_rejected(2, 8 + 5 + 2, (uint8_t)bad_session_chars[c]);
		sample(2, &m);
		m.u.hello.session[2] = bad_session_chars[c];
		expect_build_rejected(&m);
	}
	expect_byte_rejected(2, 8 + 5, 0); /* NUL inside the name */
	/* a session of 65 bytes: the longest valid HELLO body, with one more
	 * name byte in place of a private endpoint, is still rejected */
	{
		uint8_t hello[8 + 5 + 65];

		memset(hello, 'a', sizeof(hello));
		memcpy(hello, (const uint8_t[]){ 0x50, 0x4c, WIRE_VERSION, WIRE_HELLO, 0, 70, 0, 0, 0, 0, 0, 0, 65 },
		       13);
		assert_int_equal(wire_parse(hello, sizeof(hello), &out), -1);
		hello[12] = 64; /* 64 is fine, with one byte too many in the body */
		assert_int_equal(wire_parse(hello, sizeof(hello), &out), -1);
		set_body_len(hello, 69);
		assert_int_equal(wire_parse(hello, sizeof(hello) - 1, &out), (int)sizeof(hello) - 1);
		assert_int_equal(strlen(out.u.hello.session), 64);
	}
	/* ERROR reason: printable ASCII only */
	for (int c = 0; c < 256; c++) {
		if (c >= 0x20 && c <= 0x7e)
			continue;
		expect_byte_rejected(7, 8 + 3 + 100, (uint8_t)c);
		sample(7, &m);
		m.u.error.reason[100] = (char)c;
		if (c != 0) /* a NUL merely ends the string early */
			expect_build_rejected(&m);
	}
	/* strings without a terminator within their arrays */
	sample(1, &m);
	memset(m.u.hello.session, 'a', sizeof(m.u.hello.session));
	expect_build_rejected(&m);
	sample(7, &m);
	memset(m.u.error.reason, 'a', sizeof(m.u.error.reason));
	expect_build_rejected(&m);
	/* str8 length that runs past the body */
	expect_byte_rejected(6, 8 + 2, 1);
	expect_byte_rejected(2, 8 + 4, 7);
	expect_byte_rejected(2, 8 + 4, 5);
}

static void test_count_and_length_rules(void **state)
{
	static uint8_t buf[WIRE_MSG_MAX];
	struct wire_msg m, out;
	size_t len;

	/* n_private beyond 4, and n_private disagreeing with the body length */
	sample(1, &m);
	m.u.hello.n_private = WIRE_MAX_PRIVATE + 1;
	expect_build_rejected(&m);
	sample(5, &m);
	m.u.peer.n_private = WIRE_MAX_PRIVATE + 1;
	expect_build_rejected(&m);
	expect_byte_rejected(1, 8 + 1, 5);
	/* five endpoints that the body really holds (an empty session name
	 * leaves room for them within the largest HELLO length) */
	{
		uint8_t hello[8 + 5 + 5 * WIRE_EP_LEN];

		memset(hello, 0, sizeof(hello));
		memcpy(hello, (const uint8_t[]){ 0x50, 0x4c, WIRE_VERSION, WIRE_HELLO }, 4);
		for (int k = 0; k < 5; k++) {
			hello[8 + 5 + k * WIRE_EP_LEN] = 4;
			hello[8 + 5 + k * WIRE_EP_LEN + 4] = 192;
		}
		set_body_len(hello, 5 + 5 * WIRE_EP_LEN);
		hello[8 + 1] = 5;
		assert_int_equal(wire_parse(hello, sizeof(hello), &out), -1);
		/* the same with four is valid */
		set_body_len(hello, 5 + 4 * WIRE_EP_LEN);
		hello[8 + 1] = 4;
		assert_int_equal(wire_parse(hello, sizeof(hello), &out), (int)sizeof(hello) - WIRE_EP_LEN);
		assert_int_equal(out.u.hello.n_private, 4);
	}
	expect_byte_rejected(1, 8 + 1, 3);
	expect_byte_rejected(2, 8 + 1, 0);
	expect_byte_rejected(2, 8 + 1, 2);
	expect_byte_rejected(5, 8 + 64, 5);
	expect_byte_rejected(5, 8 + 64, 3);
	expect_byte_rejected(4, 8 + 64, 1);
	/* HELLO flags: only the defined bits (ADVERTISE_LOCAL, TCP, PREDICT) */
	for (int bit = 3; bit < 8; bit++) {
		expect_byte_rejected(2, 8, (uint8_t)(1 << bit));
		sample(2, &m);
		m.u.hello.flags = (uint8_t)(1 << bit);
		expect_build_rejected(&m);
	}
	/* DATA payload length: more than the body holds, less, and too big */
	expect_byte_rejected(14, 8 + 20, 0x03);
	expect_byte_rejected(14, 8 + 21, 0x01);
	expect_byte_rejected(14, 8 + 21, 0xff);
	expect_byte_rejected(13, 8 + 21, 1);
	sample(14, &m);
	m.u.p2p.payload_len = WIRE_PAYLOAD_MAX + 1;
	expect_build_rejected(&m);
	/* a DATA whose declared body is one byte short of its payload */
	len = encode_sample(14, buf, &m);
	set_body_len(buf, len - 8 - 1);
	assert_int_equal(wire_parse(buf, len - 1, &out), -1);
	/* unknown type */
	memset(&m, 0, sizeof(m));
	m.type = 5;
	expect_build_rejected(&m);
	m.type = 0;
	expect_build_rejected(&m);
	/* tagged types need a key */
	sample(13, &m);
	assert_int_equal(wire_build(buf, sizeof(buf), &m, NULL), -1);
	sample(3, &m);
	assert_int_equal(wire_build(buf, sizeof(buf), &m, NULL), 8 + 20);
}

static void test_relay_inner_rules(void **state)
{
	static uint8_t buf[WIRE_MSG_MAX];
	struct wire_msg m, probe, out;
	size_t len;

	/* the inner message must be DATA, DATA_ACK, KEEPALIVE or BYE */
	for (int i = 0; i < N_SAMPLES; i++) {
		uint8_t inner[WIRE_MSG_MAX];
		size_t ilen = encode_sample(i, inner, &probe);
		bool ok = probe.type == WIRE_DATA || probe.type == WIRE_DATA_ACK ||
			  probe.type == WIRE_KEEPALIVE || probe.type == WIRE_BYE;

		if (ilen > WIRE_INNER_MAX) {
			assert_false(ok);
			continue;
		}
		sample(19, &m);
		memcpy(m.u.relay.inner, inner, ilen);
		m.u.relay.inner_len = (uint16_t)ilen;
		len = sample(19, &out) - 36 + ilen;
		assert_int_equal(wire_build(buf, sizeof(buf), &m, key), ok ? (int)len : -1);
		if (ok) {
			assert_int_equal(wire_parse_datagram(buf, len, &out), 0);
			assert_memory_equal(out.u.relay.inner, inner, ilen);
		}
	}
	/* The same, forged on the wire: a PROBE (56 bytes) where a
	 * DATA_ACK (36) sat, with every length adjusted. */
	{
		uint8_t inner[WIRE_MSG_MAX];
		size_t ilen = encode_sample(11, inner, &probe);

		encode_sample(19, buf, &m);
		memcpy(buf + 22, inner, ilen);
		len = 8 + 22 + ilen;
		set_body_len(buf, len - 8);
		buf[20] = 0;
		buf[21] = (uint8_t)ilen;
		retag(buf, len);
		assert_int_equal(wire_parse(buf, len, &out), -1);
		/* the same bytes with the inner type turned to DATA_ACK fail its
		 * length check; as a real DATA_ACK it would pass */
		buf[22 + 3] = WIRE_DATA_ACK;
		retag(buf, len);
		assert_int_equal(wire_parse(buf, len, &out), -1);
	}
	/* inner length one short and one long of the inner message */
	expect_byte_rejected(19, 21, 35);
	expect_byte_rejected(19, 21, 37);
	/* inner message itself malformed: bad magic, inner reserved byte */
	expect_byte_rejected(19, 22, 'Q');
	expect_byte_rejected(19, 22 + 6, 1);
	/* build: inner_len beyond the array, or not matching the inner message */
	sample(19, &m);
	m.u.relay.inner_len = WIRE_INNER_MAX + 1;
	expect_build_rejected(&m);
	sample(19, &m);
	m.u.relay.inner_len--;
	expect_build_rejected(&m);
	sample(19, &m);
	m.u.relay.inner_len++;
	expect_build_rejected(&m);
	sample(19, &m);
	m.u.relay.inner_len = 0;
	expect_build_rejected(&m);
	/* a RELAY inside a RELAY */
	{
		uint8_t inner[WIRE_MSG_MAX];
		size_t ilen = encode_sample(19, inner, &probe);

		sample(19, &m);
		memcpy(m.u.relay.inner, inner, ilen);
		m.u.relay.inner_len = (uint16_t)ilen;
		expect_build_rejected(&m);
	}
}

/* ---- tags -------------------------------------------------------------- */

static void test_tags(void **state)
{
	static uint8_t buf[WIRE_MSG_MAX];
	struct wire_msg m;

	for (int i = 0; i < N_SAMPLES; i++) {
		size_t len = encode_sample(i, buf, &m);
		bool auth = wire_is_authenticated(m.type);

		assert_int_equal(wire_verify(buf, len, key), auth);
		assert_false(wire_verify(buf, len, other_key));
		assert_false(wire_verify(buf, len, NULL));
		if (!auth)
			continue;
		/* Any flipped bit anywhere, tag included, fails verification
		 * (whether by the parser or by the tag). */
		for (size_t bit = 0; bit < len * 8; bit++) {
			buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
			assert_false(wire_verify(buf, len, key));
			buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		}
		assert_true(wire_verify(buf, len, key));
		/* The tag covers the header: with the tag recomputed over a
		 * changed header under the other key, the real key still fails. */
		{
			uint64_t t = siphash24(other_key, buf, len - 8);

			for (int k = 0; k < 8; k++)
				buf[len - 8 + k] = (uint8_t)(t >> (56 - 8 * k));
			assert_true(wire_verify(buf, len, other_key));
			assert_false(wire_verify(buf, len, key));
		}
	}
	assert_true(wire_is_authenticated(WIRE_RELAY));
	assert_false(wire_is_authenticated(WIRE_REGISTER));
	assert_false(wire_is_authenticated(0));
	assert_string_equal(wire_type_name(WIRE_PROBE_ACK), "PROBE_ACK");
	assert_string_equal(wire_type_name(200), "?");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_siphash_vectors),
		cmocka_unit_test(test_round_trip_every_sample),
		cmocka_unit_test(test_golden_encodings),
		cmocka_unit_test(test_build_too_small),
		cmocka_unit_test(test_every_truncation),
		cmocka_unit_test(test_trailing_bytes),
		cmocka_unit_test(test_stream_back_to_back),
		cmocka_unit_test(test_header_corruption),
		cmocka_unit_test(test_impossible_lengths_fail_at_once),
		cmocka_unit_test(test_reserved_and_padding_bytes),
		cmocka_unit_test(test_endpoint_rules),
		cmocka_unit_test(test_role_rules),
		cmocka_unit_test(test_text_rules),
		cmocka_unit_test(test_count_and_length_rules),
		cmocka_unit_test(test_relay_inner_rules),
		cmocka_unit_test(test_tags),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
