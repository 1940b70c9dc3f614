/* libFuzzer harness for the wire codec: whatever the bytes, parsing must not
 * crash or read out of bounds, and whatever parses must rebuild to the very
 * same bytes (the codec has one encoding per message).
 *
 * With WIRE_FUZZ_WRITE_SEEDS defined this file instead builds a program that
 * writes one valid encoding of each type into a directory, the seed corpus in
 * tests/fuzz/corpus/fuzz_wire/:
 *   cc -DWIRE_FUZZ_WRITE_SEEDS -Isrc tests/fuzz/fuzz_wire.c src/proto/wire.c \
 *      src/common/siphash.c -o seeds && ./seeds tests/fuzz/corpus/fuzz_wire */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/wire.h"

/* The key the seeds are tagged with, so that mutations keep a valid tag
 * often enough for wire_verify()'s accepting path to be exercised too. */
static const uint8_t fuzz_key[WIRE_KEY_LEN] = { 'p', 'u', 'n', 'c', 'h', 'l', 'a', 'b',
						'-', 'f', 'u', 'z', 'z', 'k', 'e', 'y' };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_one(const uint8_t *data, size_t size, int n, const struct wire_msg *msg)
{
	static uint8_t out[WIRE_MSG_MAX];
	bool auth = wire_is_authenticated(msg->type);
	bool verified = wire_verify(data, (size_t)n, fuzz_key);
	int m;

	if (n < WIRE_HDR_LEN || (size_t)n > size || n > WIRE_MSG_MAX)
		abort();
	m = wire_build(out, sizeof(out), msg, fuzz_key);
	if (m != n)
		abort();
	/* The tag is recomputed with our key: it matches the input's exactly
	 * when the input verifies under that key. */
	if (memcmp(out, data, (size_t)n - (auth ? WIRE_TAG_LEN : 0)) != 0)
		abort();
	if (auth && (memcmp(out + n - WIRE_TAG_LEN, data + n - WIRE_TAG_LEN, WIRE_TAG_LEN) == 0) !=
			    verified)
		abort();
	if (!auth && verified)
		abort();
	/* Too small a buffer is refused, never overrun. */
	if (wire_build(out, (size_t)n - 1, msg, fuzz_key) != -1)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wire_msg msg;
	int n = wire_parse(data, size, &msg);
	int d;

	if (n > 0)
		check_one(data, size, n, &msg);
	else if (n != 0 && n != -1)
		abort();
	/* A datagram is accepted exactly when the stream parse used it all. */
	d = wire_parse_datagram(data, size, &msg);
	if ((d == 0) != (n > 0 && (size_t)n == size))
		abort();
	if (d != 0 && wire_verify(data, size, fuzz_key))
		abort();
	/* Every prefix of a valid message is "need more" on a stream. */
	if (n > 0) {
		struct wire_msg part;

		for (int cut = 0; cut < n; cut += 1 + cut / 8)
			if (wire_parse(data, (size_t)cut, &part) != 0)
				abort();
	}
	(void)wire_type_name(size ? data[0] : 0);
	return 0;
}

#ifdef WIRE_FUZZ_WRITE_SEEDS
#include <stdio.h>

static struct wire_endpoint seed_ep(uint8_t family, uint8_t last, uint16_t port)
{
	struct wire_endpoint ep;

	memset(&ep, 0, sizeof(ep));
	ep.family = family;
	ep.port = port;
	if (family == 4) {
		memcpy(ep.addr, (const uint8_t[]){ 203, 0, 113, last }, 4);
	} else {
		memcpy(ep.addr, (const uint8_t[]){ 0x20, 0x01, 0x0d, 0xb8 }, 4);
		ep.addr[15] = last;
	}
	return ep;
}

static int write_seed(const char *dir, const char *name, const struct wire_msg *m)
{
	uint8_t buf[WIRE_MSG_MAX];
	char path[4096];
	int n = wire_build(buf, sizeof(buf), m, fuzz_key);
	FILE *f;

	if (n < 0) {
		fprintf(stderr, "seed %s: does not build\n", name);
		return -1;
	}
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(buf, 1, (size_t)n, f) != (size_t)n || fclose(f) != 0) {
		perror(path);
		return -1;
	}
	return 0;
}

static void p2p(struct wire_msg *m, uint8_t type)
{
	memset(m, 0, sizeof(*m));
	m->type = type;
	m->u.p2p.session_id = 0x01020304;
	m->u.p2p.role = 1;
	m->u.p2p.seq = 7;
	m->u.p2p.ts = 123456789;
}

int main(int argc, char **argv)
{
	struct wire_msg m, d;
	int rc = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	memset(&m, 0, sizeof(m));
	m.type = WIRE_HELLO;
	m.u.hello.flags = WIRE_HELLO_ADVERTISE_LOCAL;
	m.u.hello.local_port = 40000;
	strcpy(m.u.hello.session, "lab-1");
	m.u.hello.n_private = 2;
	m.u.hello.private_eps[0] = seed_ep(4, 10, 40000);
	m.u.hello.private_eps[1] = seed_ep(6, 10, 40000);
	rc |= write_seed(argv[1], "hello", &m);
	m.u.hello.flags = WIRE_HELLO_TCP;
	rc |= write_seed(argv[1], "hello_tcp", &m);

	memset(&m, 0, sizeof(m));
	m.type = WIRE_WELCOME;
	m.u.welcome.client_id = 42;
	memset(m.u.welcome.token, 0xab, WIRE_TOKEN_LEN);
	rc |= write_seed(argv[1], "welcome", &m);

	memset(&m, 0, sizeof(m));
	m.type = WIRE_PEER;
	m.u.peer.session_id = 9;
	m.u.peer.role = 2;
	memcpy(m.u.peer.secret, fuzz_key, WIRE_KEY_LEN);
	m.u.peer.self_public = seed_ep(4, 1, 1024);
	m.u.peer.peer_public = seed_ep(4, 2, 2048);
	m.u.peer.n_private = 1;
	m.u.peer.peer_private[0] = seed_ep(6, 3, 4096);
	rc |= write_seed(argv[1], "peer", &m);
	m.u.peer.flags = WIRE_PEER_TCP;
	rc |= write_seed(argv[1], "peer_tcp", &m);
	m.u.peer.flags = WIRE_PEER_PREDICT;
	m.u.peer.peer_step = -2;
	rc |= write_seed(argv[1], "peer_predict", &m);

	memset(&m, 0, sizeof(m));
	m.type = WIRE_ERROR;
	m.u.error.code = WIRE_ERR_TIMEOUT;
	strcpy(m.u.error.reason, "no partner arrived in time");
	rc |= write_seed(argv[1], "error", &m);

	memset(&m, 0, sizeof(m));
	m.type = WIRE_REGISTER;
	memset(m.u.reg.token, 0xab, WIRE_TOKEN_LEN);
	rc |= write_seed(argv[1], "register", &m);

	memset(&m, 0, sizeof(m));
	m.type = WIRE_REG_ACK;
	m.u.reg_ack.client_id = 42;
	m.u.reg_ack.observed = seed_ep(4, 77, 62000);
	rc |= write_seed(argv[1], "reg_ack", &m);

	p2p(&m, WIRE_PROBE);
	m.u.p2p.ep = seed_ep(4, 2, 2048);
	rc |= write_seed(argv[1], "probe", &m);
	p2p(&m, WIRE_PROBE_ACK);
	m.u.p2p.ep = seed_ep(6, 1, 1024);
	rc |= write_seed(argv[1], "probe_ack", &m);
	p2p(&m, WIRE_DATA);
	m.u.p2p.payload_len = 12;
	memcpy(m.u.p2p.payload, "hello, peer!", 12);
	rc |= write_seed(argv[1], "data", &m);
	p2p(&m, WIRE_DATA_ACK);
	rc |= write_seed(argv[1], "data_ack", &m);
	p2p(&m, WIRE_KEEPALIVE);
	rc |= write_seed(argv[1], "keepalive", &m);
	p2p(&m, WIRE_BYE);
	rc |= write_seed(argv[1], "bye", &m);

	p2p(&d, WIRE_DATA);
	d.u.p2p.payload_len = 5;
	memcpy(d.u.p2p.payload, "relay", 5);
	memset(&m, 0, sizeof(m));
	m.type = WIRE_RELAY;
	m.u.relay.session_id = 0x01020304;
	m.u.relay.role = 1;
	m.u.relay.seq = 1;
	{
		int n = wire_build(m.u.relay.inner, sizeof(m.u.relay.inner), &d, fuzz_key);

		if (n < 0)
			return 1;
		m.u.relay.inner_len = (uint16_t)n;
	}
	rc |= write_seed(argv[1], "relay", &m);

	/* The largest of each variable-size type, so that mutations start
	 * from the limits too. */
	memset(&m, 0, sizeof(m));
	m.type = WIRE_HELLO;
	memset(m.u.hello.session, 'z', WIRE_SESSION_MAX);
	m.u.hello.n_private = WIRE_MAX_PRIVATE;
	for (int i = 0; i < WIRE_MAX_PRIVATE; i++)
		m.u.hello.private_eps[i] = seed_ep(i % 2 ? 6 : 4, (uint8_t)i, 50000);
	rc |= write_seed(argv[1], "hello_max", &m);
	memset(&m, 0, sizeof(m));
	m.type = WIRE_PEER;
	m.u.peer.role = 1;
	m.u.peer.self_public = seed_ep(6, 1, 1);
	m.u.peer.peer_public = seed_ep(6, 2, 2);
	m.u.peer.n_private = WIRE_MAX_PRIVATE;
	for (int i = 0; i < WIRE_MAX_PRIVATE; i++)
		m.u.peer.peer_private[i] = seed_ep(i % 2 ? 4 : 6, (uint8_t)i, 60000);
	rc |= write_seed(argv[1], "peer_max", &m);
	memset(&m, 0, sizeof(m));
	m.type = WIRE_ERROR;
	m.u.error.code = WIRE_ERR_PROTOCOL;
	memset(m.u.error.reason, '~', WIRE_REASON_MAX);
	rc |= write_seed(argv[1], "error_max", &m);
	p2p(&d, WIRE_DATA);
	d.u.p2p.payload_len = WIRE_PAYLOAD_MAX;
	for (int i = 0; i < WIRE_PAYLOAD_MAX; i++)
		d.u.p2p.payload[i] = (uint8_t)i;
	rc |= write_seed(argv[1], "data_max", &d);
	m.type = WIRE_RELAY;
	m.u.relay.session_id = 0x01020304;
	m.u.relay.role = 2;
	m.u.relay.seq = 0xfffffffe;
	{
		int n = wire_build(m.u.relay.inner, sizeof(m.u.relay.inner), &d, fuzz_key);

		if (n < 0)
			return 1;
		m.u.relay.inner_len = (uint16_t)n;
	}
	rc |= write_seed(argv[1], "relay_max", &m);
	return rc ? 1 : 0;
}
#endif
