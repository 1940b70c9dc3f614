/* Unit tests for punch-probe's pure parts: the message codec
 * (src/probe/probemsg.c) and the classification (src/probe/classify.c),
 * decision table cell by cell. The same decisions are checked against real
 * NAT rulesets by tests/lab/classify-nats.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "model/nat.h"
#include "probe/classify.h"
#include "probe/probemsg.h"

/* ---- codec ------------------------------------------------------------- */

static struct wire_endpoint ep4(uint8_t last, uint16_t port)
{
	struct wire_endpoint ep;

	memset(&ep, 0, sizeof(ep));
	ep.family = 4;
	ep.port = port;
	ep.addr[0] = 203;
	ep.addr[1] = 0;
	ep.addr[2] = 113;
	ep.addr[3] = last;
	return ep;
}

static int build(uint8_t *buf, size_t size, uint8_t type, uint64_t txid, uint8_t flags)
{
	struct probemsg m = { .type = type, .txid = txid, .flags = flags };

	if (type == PROBEMSG_ANSWER) {
		m.observed = ep4(20, 61000);
		m.responder = ep4(31, 3480);
	}
	return probemsg_build(buf, size, &m);
}

static void test_roundtrip(void **state)
{
	static const uint8_t types[] = { PROBEMSG_REQUEST, PROBEMSG_ANSWER, PROBEMSG_HAIRPIN };
	static const int lens[] = { PROBEMSG_REQUEST_LEN, PROBEMSG_ANSWER_LEN, PROBEMSG_HAIRPIN_LEN };
	uint8_t buf[PROBEMSG_MAX + 8];
	struct probemsg m;

	for (int i = 0; i < 3; i++) {
		uint8_t flags = types[i] == PROBEMSG_HAIRPIN ? 0 : PROBEMSG_CHANGE_PORT;
		int n = build(buf, sizeof(buf), types[i], 0x0102030405060708ULL, flags);

		assert_int_equal(n, lens[i]);
		assert_int_equal(probemsg_parse(buf, (size_t)n, &m), 0);
		assert_int_equal(m.type, types[i]);
		assert_true(m.txid == 0x0102030405060708ULL);
		assert_int_equal(m.flags, flags);
		if (types[i] == PROBEMSG_ANSWER) {
			struct wire_endpoint o = ep4(20, 61000), r = ep4(31, 3480);

			assert_memory_equal(&m.observed, &o, sizeof(o));
			assert_memory_equal(&m.responder, &r, sizeof(r));
		}
		/* big-endian txid right after the header */
		assert_int_equal(buf[8], 0x01);
		assert_int_equal(buf[15], 0x08);
	}
}

/* The server answers only a REQUEST and never with more bytes than it got. */
static void test_no_amplification(void **state)
{
	assert_true(PROBEMSG_ANSWER_LEN < PROBEMSG_REQUEST_LEN);
	assert_int_equal(PROBEMSG_REQUEST_LEN, 68);
	assert_int_equal(PROBEMSG_ANSWER_LEN, 60);
	assert_int_equal(PROBEMSG_MAX, PROBEMSG_REQUEST_LEN);
}

/* Every prefix and every extension of a valid message is refused; the parser
 * reads from a heap copy of exactly len bytes so ASan sees any overread. */
static void test_lengths(void **state)
{
	static const uint8_t types[] = { PROBEMSG_REQUEST, PROBEMSG_ANSWER, PROBEMSG_HAIRPIN };
	uint8_t buf[PROBEMSG_MAX + 8];
	struct probemsg m;

	for (int i = 0; i < 3; i++) {
		int n = build(buf, sizeof(buf), types[i], 42, 0);

		assert_true(n > 0);
		for (size_t len = 0; len <= (size_t)n + 8; len++) {
			uint8_t *copy = malloc(len ? len : 1);

			assert_non_null(copy);
			memcpy(copy, buf, len);
			assert_int_equal(probemsg_parse(copy, len, &m), len == (size_t)n ? 0 : -1);
			free(copy);
		}
	}
	/* too small an output buffer */
	assert_int_equal(build(buf, PROBEMSG_REQUEST_LEN - 1, PROBEMSG_REQUEST, 1, 0), -1);
	assert_int_equal(build(buf, PROBEMSG_ANSWER_LEN - 1, PROBEMSG_ANSWER, 1, 0), -1);
	assert_int_equal(build(buf, PROBEMSG_HAIRPIN_LEN, PROBEMSG_HAIRPIN, 1, 0), PROBEMSG_HAIRPIN_LEN);
}

/* Flip every bit of every byte: only the txid, the two flag bits, the ports
 * and IPv4 address bytes may change and still parse. */
static void test_every_bit(void **state)
{
	uint8_t buf[PROBEMSG_MAX], copy[PROBEMSG_MAX];
	struct probemsg m;
	int n;

	n = build(buf, sizeof(buf), PROBEMSG_REQUEST, 7, 0);
	for (int i = 0; i < n; i++) {
		for (int b = 0; b < 8; b++) {
			bool may = (i >= 8 && i < 16) || (i == 16 && ((1 << b) & (PROBEMSG_CHANGE_IP | PROBEMSG_CHANGE_PORT)));

			memcpy(copy, buf, (size_t)n);
			copy[i] ^= (uint8_t)(1 << b);
			assert_int_equal(probemsg_parse(copy, (size_t)n, &m), may ? 0 : -1);
		}
	}
	n = build(buf, sizeof(buf), PROBEMSG_ANSWER, 7, 0);
	for (int i = 0; i < n; i++) {
		for (int b = 0; b < 8; b++) {
			int e = i >= 20 ? (i - 20) % WIRE_EP_LEN : -1; /* offset inside an endpoint */
			bool may = (i >= 8 && i < 16) || (i == 16 && ((1 << b) & (PROBEMSG_CHANGE_IP | PROBEMSG_CHANGE_PORT))) ||
				   (e >= 2 && e < 8) || (e == 0 && (4 ^ (1 << b)) == 6);
			int r;

			memcpy(copy, buf, (size_t)n);
			copy[i] ^= (uint8_t)(1 << b);
			r = probemsg_parse(copy, (size_t)n, &m);
			/* family 4 -> 6 is valid: the zero tail is a valid IPv6 address */
			assert_int_equal(r, may ? 0 : -1);
		}
	}
	n = build(buf, sizeof(buf), PROBEMSG_HAIRPIN, 7, 0);
	for (int i = 0; i < n; i++) {
		memcpy(copy, buf, (size_t)n);
		copy[i] ^= 0x02;
		assert_int_equal(probemsg_parse(copy, (size_t)n, &m), i >= 8 && i < 16 ? 0 : -1);
	}
}

static void test_refused(void **state)
{
	uint8_t buf[PROBEMSG_MAX];
	struct probemsg m = { .type = PROBEMSG_ANSWER };

	/* unknown types and flags are not built */
	assert_int_equal(build(buf, sizeof(buf), 0, 1, 0), -1);
	assert_int_equal(build(buf, sizeof(buf), 4, 1, 0), -1);
	assert_int_equal(build(buf, sizeof(buf), PROBEMSG_REQUEST, 1, 0x01), -1);
	assert_int_equal(build(buf, sizeof(buf), PROBEMSG_HAIRPIN, 1, PROBEMSG_CHANGE_IP), -1);
	/* an answer needs real endpoints */
	assert_int_equal(probemsg_build(buf, sizeof(buf), &m), -1);
	m.observed = ep4(1, 1);
	m.responder = ep4(2, 2);
	m.responder.addr[4] = 1; /* IPv4 with a non-zero tail */
	assert_int_equal(probemsg_build(buf, sizeof(buf), &m), -1);
	/* the wire protocol's messages are not probe messages */
	memset(buf, 0, sizeof(buf));
	buf[0] = 0x50;
	buf[1] = 0x4C;
	buf[2] = 1;
	buf[3] = PROBEMSG_REQUEST;
	buf[5] = PROBEMSG_REQUEST_LEN - PROBEMSG_HDR_LEN;
	assert_int_equal(probemsg_parse(buf, PROBEMSG_REQUEST_LEN, &m), -1);
	buf[1] = PROBEMSG_MAGIC1;
	assert_int_equal(probemsg_parse(buf, PROBEMSG_REQUEST_LEN, &m), 0);
	buf[5]++; /* body length disagreeing with the datagram */
	assert_int_equal(probemsg_parse(buf, PROBEMSG_REQUEST_LEN, &m), -1);
}

/* The 2 x 2 grid: index = address * 2 + port. */
static void test_answer_socket(void **state)
{
	for (int s = 0; s < 4; s++) {
		assert_int_equal(probemsg_answer_socket(s, 0), s);
		assert_int_equal(probemsg_answer_socket(s, PROBEMSG_CHANGE_PORT), s ^ 1);
		assert_int_equal(probemsg_answer_socket(s, PROBEMSG_CHANGE_IP), s ^ 2);
		assert_int_equal(probemsg_answer_socket(s, PROBEMSG_CHANGE_IP | PROBEMSG_CHANGE_PORT), s ^ 3);
	}
	assert_int_equal(probemsg_answer_socket(0, PROBEMSG_CHANGE_IP | PROBEMSG_CHANGE_PORT), 3);
}

/* ---- classification ---------------------------------------------------- */

static struct addr A(const char *s)
{
	struct addr a;

	assert_int_equal(addr_parse(s, 0, &a), 0);
	return a;
}

static void mapped(struct classify_mapped *m, const char *local, const char *seen)
{
	m->local = A(local);
	m->answered = seen != NULL;
	if (seen)
		m->mapped = A(seen);
}

/* Observations of a NAT at 203.0.113.20 for host 10.0.1.2:61000:
 * m1..m3 the mappings seen by A1:P1, A2:P1, A2:P2 (NULL: no answer),
 * s1..s3 the external ports of the samples (0: no answer; -1: preserved). */
static struct classify_obs obs_of(const char *m1, const char *m2, const char *m3, int s1, int s2, int s3,
				  enum classify_tri same, enum classify_tri port, enum classify_tri ipport,
				  enum classify_tri hairpin)
{
	static const char *locals[CLASSIFY_SAMPLES] = { "10.0.1.2:45001", "10.0.1.3:45100", "10.0.1.2:45007" };
	const int s[CLASSIFY_SAMPLES] = { s1, s2, s3 };
	struct classify_obs o;

	memset(&o, 0, sizeof(o));
	mapped(&o.mapping[CLASSIFY_A1P1], "10.0.1.2:61000", m1);
	mapped(&o.mapping[CLASSIFY_A2P1], "10.0.1.2:61000", m2);
	mapped(&o.mapping[CLASSIFY_A2P2], "10.0.1.2:61000", m3);
	o.n_samples = CLASSIFY_SAMPLES;
	for (int i = 0; i < CLASSIFY_SAMPLES; i++) {
		char seen[64];

		if (s[i] == -1)
			snprintf(seen, sizeof(seen), "203.0.113.20:%s", strchr(locals[i], ':') + 1);
		else
			snprintf(seen, sizeof(seen), "203.0.113.20:%d", s[i]);
		mapped(&o.samples[i], locals[i], s[i] ? seen : NULL);
	}
	o.filter_same = same;
	o.filter_change_port = port;
	o.filter_change_ip_port = ipport;
	o.hairpin = hairpin;
	return o;
}

#define Y CLASSIFY_YES
#define N CLASSIFY_NO
#define U CLASSIFY_UNKNOWN
#define W "203.0.113.20:"

static struct classify_result decide(struct classify_obs o)
{
	struct classify_result r;

	classify_decide(&o, &r);
	return r;
}

static void test_blocked(void **state)
{
	struct classify_result r = decide(obs_of(NULL, W "61000", W "61000", -1, -1, -1, Y, Y, Y, Y));

	assert_true(r.udp_blocked);
	assert_false(r.mapping_known);
	assert_false(r.filtering_known);
	assert_false(r.ports_known);
	assert_int_equal(r.hairpin, U);
	assert_string_equal(classify_mapping_name(&r), "unknown");
	assert_string_equal(classify_filtering_name(&r), "unknown");
	assert_string_equal(classify_ports_name(&r), "unknown");
}

/* Mapping, RFC 5780 4.3, every cell. */
static void test_mapping(void **state)
{
	static const struct {
		const char *m1, *m2, *m3;
		bool known;
		enum nat_mapping want;
		bool translated;
	} cells[] = {
		{ W "61000", W "61000", W "61000", true, MAP_EIM, true },
		{ W "20001", W "20001", W "20001", true, MAP_EIM, true },
		{ W "61000", W "40017", W "40017", true, MAP_ADM, true },
		{ W "40001", W "40017", W "40017", true, MAP_ADM, true },
		{ W "61000", W "33333", W "44444", true, MAP_APDM, true },
		{ W "30000", W "30001", W "30002", true, MAP_APDM, true },
		/* equal for both addresses, not for the other port: still port-dependent */
		{ W "61000", W "61000", W "30002", true, MAP_APDM, true },
		/* another external address for the other server address (pooling "arbitrary") */
		{ W "61000", "203.0.113.21:61000", "203.0.113.21:61000", true, MAP_ADM, true },
		{ "10.0.1.2:61000", "10.0.1.2:61000", "10.0.1.2:61000", true, MAP_NONE, false },
		/* T2 or T3 lost for good: not known, never guessed */
		{ W "61000", NULL, W "61000", false, MAP_NONE, true },
		{ W "61000", W "61000", NULL, false, MAP_NONE, true },
		{ "10.0.1.2:61000", NULL, NULL, false, MAP_NONE, false },
	};

	for (size_t i = 0; i < sizeof(cells) / sizeof(cells[0]); i++) {
		struct classify_result r = decide(obs_of(cells[i].m1, cells[i].m2, cells[i].m3, 1, 2, 3, Y, N, N, N));

		assert_false(r.udp_blocked);
		assert_int_equal(r.translated, cells[i].translated);
		assert_int_equal(r.mapping_known, cells[i].known);
		if (cells[i].known) {
			assert_int_equal(r.mapping, cells[i].want);
			assert_string_equal(classify_mapping_name(&r), nat_mapping_name(cells[i].want));
		} else {
			assert_string_equal(classify_mapping_name(&r), "unknown");
		}
	}
}

/* Filtering, RFC 5780 4.4, every combination of the three answers. */
static void test_filtering(void **state)
{
	static const enum classify_tri v[3] = { U, N, Y };

	for (int a = 0; a < 3; a++) {
		for (int b = 0; b < 3; b++) {
			for (int c = 0; c < 3; c++) {
				struct classify_result r = decide(
					obs_of(W "61000", W "61000", W "61000", -1, -1, -1, v[a], v[b], v[c], N));
				bool known;
				enum nat_filtering want = FILTER_APDF;

				if (v[a] != Y)
					known = false;
				else if (v[c] == Y)
					known = true, want = FILTER_EIF;
				else if (v[c] == U)
					known = false;
				else if (v[b] == Y)
					known = true, want = FILTER_ADF;
				else
					known = v[b] == N;
				assert_int_equal(r.filtering_known, known);
				if (known)
					assert_int_equal(r.filtering, want);
				else
					assert_string_equal(classify_filtering_name(&r), "unknown");
			}
		}
	}
	/* the three named cells, spelled out */
	assert_int_equal(decide(obs_of(W "1", W "1", W "1", -1, -1, -1, Y, Y, Y, N)).filtering, FILTER_EIF);
	assert_int_equal(decide(obs_of(W "1", W "1", W "1", -1, -1, -1, Y, Y, N, N)).filtering, FILTER_ADF);
	assert_int_equal(decide(obs_of(W "1", W "1", W "1", -1, -1, -1, Y, N, N, N)).filtering, FILTER_APDF);
}

static void test_ports(void **state)
{
	struct classify_result r;

	/* everything kept its port */
	r = decide(obs_of(W "61000", W "61000", W "61000", -1, -1, -1, Y, N, N, N));
	assert_true(r.ports_known);
	assert_int_equal(r.ports, PORTS_PRESERVE);
	/* APDM that keeps the first flow's port: the later flows do not count */
	r = decide(obs_of(W "61000", W "33000", W "47000", -1, -1, -1, Y, N, N, N));
	assert_int_equal(r.ports, PORTS_PRESERVE);
	/* one socket of four not preserved: its port was held by another
	 * internal endpoint's mapping (the fallback of REQ-3), still preserving */
	r = decide(obs_of(W "61000", W "61000", W "61000", -1, 22222, -1, Y, N, N, N));
	assert_int_equal(r.ports, PORTS_PRESERVE);
	r = decide(obs_of(W "33333", W "33333", W "33333", -1, -1, -1, Y, N, N, N));
	assert_int_equal(r.ports, PORTS_PRESERVE);
	/* two of four not preserved: not a preserving NAT */
	r = decide(obs_of(W "61000", W "61000", W "61000", -1, 22222, 23456, Y, N, N, N));
	assert_int_equal(r.ports, PORTS_RANDOM);
	r = decide(obs_of(W "33333", W "33333", W "33333", -1, 22222, -1, Y, N, N, N));
	assert_int_equal(r.ports, PORTS_RANDOM);
	/* a random NAT that happened to keep one port */
	r = decide(obs_of(W "33333", W "33333", W "33333", 21000, -1, 47000, Y, N, N, N));
	assert_int_equal(r.ports, PORTS_RANDOM);
	/* mapping port changed, samples one apart */
	r = decide(obs_of(W "30000", W "30000", W "30000", 30001, 30002, 30003, Y, N, N, N));
	assert_true(r.ports_known);
	assert_int_equal(r.ports, PORTS_SEQUENTIAL);
	assert_string_equal(classify_ports_name(&r), "sequential");
	/* the pool wraps around */
	r = decide(obs_of(W "1", W "1", W "1", 65534, 65535, 0 /* lost */, Y, N, N, N));
	assert_int_equal(r.ports, PORTS_RANDOM); /* a lost sample: not enough to call it sequential */
	/* two apart, or down: random */
	r = decide(obs_of(W "30000", W "30000", W "30000", 30001, 30003, 30004, Y, N, N, N));
	assert_int_equal(r.ports, PORTS_RANDOM);
	r = decide(obs_of(W "30000", W "30000", W "30000", 30003, 30002, 30001, Y, N, N, N));
	assert_int_equal(r.ports, PORTS_RANDOM);
	r = decide(obs_of(W "21234", W "21234", W "21234", 27001, 20456, 29999, Y, N, N, N));
	assert_true(r.ports_known);
	assert_int_equal(r.ports, PORTS_RANDOM);
	/* the mapping port was not kept and only one sample came back: unknown */
	r = decide(obs_of(W "21234", W "21234", W "21234", 27001, 0, 0, Y, N, N, N));
	assert_false(r.ports_known);
	assert_string_equal(classify_ports_name(&r), "unknown");
	/* the step is reported: one apart, two apart (real NATs use both) */
	r = decide(obs_of(W "30000", W "30000", W "30000", 30001, 30002, 30003, Y, N, N, N));
	assert_int_equal(r.port_step, 1);
	assert_false(r.port_preserving);
	assert_int_equal(r.n_alloc, 5); /* not the sample from 10.0.1.3: another subscriber */
	assert_int_equal(r.alloc_lo, 30000);
	assert_int_equal(r.alloc_hi, 30003);
	r = decide(obs_of(W "30000", W "30000", W "30000", 30002, 30004, 30006, Y, N, N, N));
	assert_int_equal(r.ports, PORTS_SEQUENTIAL);
	assert_int_equal(r.port_step, 2);
	/* seventeen apart is too far to be a step: random */
	r = decide(obs_of(W "30000", W "30000", W "30000", 30017, 30034, 30051, Y, N, N, N));
	assert_int_equal(r.ports, PORTS_RANDOM);
	assert_int_equal(r.port_step, 0);
	/* preserving: T1 kept its port; the spread counts only allocated ports */
	r = decide(obs_of(W "61000", W "33000", W "47000", -1, -1, -1, Y, N, N, N));
	assert_true(r.port_preserving);
	assert_int_equal(r.n_alloc, 2);
	assert_int_equal(r.alloc_lo, 33000);
	assert_int_equal(r.alloc_hi, 47000);
	/* no translation: ports are the host's own */
	r = decide(obs_of("10.0.1.2:61000", "10.0.1.2:61000", "10.0.1.2:61000", 0, 0, 0, Y, N, N, Y));
	assert_true(r.ports_known);
	assert_int_equal(r.ports, PORTS_PRESERVE);
}

static void test_hairpin(void **state)
{
	assert_int_equal(decide(obs_of(W "1", W "1", W "1", -1, -1, -1, Y, N, N, Y)).hairpin, Y);
	assert_int_equal(decide(obs_of(W "1", W "1", W "1", -1, -1, -1, Y, N, N, N)).hairpin, N);
	assert_int_equal(decide(obs_of(W "1", W "1", W "1", -1, -1, -1, Y, N, N, U)).hairpin, U);
	assert_string_equal(classify_tri_name(Y), "yes");
	assert_string_equal(classify_tri_name(N), "no");
	assert_string_equal(classify_tri_name(U), "unknown");
}

/* ---- comparison with the declaration ------------------------------------ */

static struct classify_result res(bool blocked, bool translated, enum nat_mapping m, enum nat_filtering f,
				  enum nat_ports p, enum classify_tri h)
{
	struct classify_result r = {
		.udp_blocked = blocked, .translated = translated,
		.mapping_known = true, .mapping = m,
		.filtering_known = true, .filtering = f,
		.ports_known = true, .ports = p,
		.hairpin = h,
	};
	return r;
}

static const char *props(const struct classify_diff *d, int n)
{
	static char buf[256];

	buf[0] = '\0';
	for (int i = 0; i < n; i++) {
		if (i)
			strcat(buf, ",");
		strcat(buf, d[i].property);
	}
	return buf;
}

static void test_compare(void **state)
{
	struct nat_behavior b = { .mapping = MAP_EIM, .filtering = FILTER_APDF, .ports = PORTS_PRESERVE };
	struct classify_diff d[CLASSIFY_MAX_DIFFS];
	struct classify_result r = res(false, true, MAP_EIM, FILTER_APDF, PORTS_PRESERVE, N);
	int n;

	assert_int_equal(classify_compare(&b, true, &r, d), 0);
	/* one property at a time */
	r.mapping = MAP_APDM;
	n = classify_compare(&b, true, &r, d);
	assert_string_equal(props(d, n), "mapping");
	assert_string_equal(d[0].declared, "eim");
	assert_string_equal(d[0].observed, "apdm");
	r.mapping = MAP_EIM;
	r.filtering = FILTER_ADF;
	n = classify_compare(&b, true, &r, d);
	assert_string_equal(props(d, n), "filtering");
	assert_string_equal(d[0].declared, "apdf");
	assert_string_equal(d[0].observed, "adf");
	r.filtering = FILTER_APDF;
	r.ports = PORTS_SEQUENTIAL;
	n = classify_compare(&b, true, &r, d);
	assert_string_equal(props(d, n), "ports");
	r.ports = PORTS_PRESERVE;
	r.hairpin = Y;
	n = classify_compare(&b, true, &r, d);
	assert_string_equal(props(d, n), "hairpin");
	assert_string_equal(d[0].declared, "no");
	assert_string_equal(d[0].observed, "yes");
	/* unknown is never a match */
	r.hairpin = U;
	n = classify_compare(&b, true, &r, d);
	assert_string_equal(props(d, n), "hairpin");
	assert_string_equal(d[0].observed, "unknown");
	r.hairpin = N;
	r.mapping_known = false;
	r.ports_known = false;
	n = classify_compare(&b, true, &r, d);
	assert_string_equal(props(d, n), "mapping,ports");
	assert_string_equal(d[0].observed, "unknown");
	r.mapping_known = r.ports_known = true;
	/* port allocation: a sequential NAT's step, the declared range */
	b.ports = PORTS_SEQUENTIAL;
	r.ports = PORTS_SEQUENTIAL;
	r.port_step = 1;
	assert_int_equal(classify_compare(&b, true, &r, d), 0);
	b.port_step = 2;
	n = classify_compare(&b, true, &r, d);
	assert_string_equal(props(d, n), "port_step");
	assert_string_equal(d[0].declared, "2");
	assert_string_equal(d[0].observed, "1");
	r.port_step = 2;
	r.n_alloc = 3;
	r.alloc_lo = 20000;
	r.alloc_hi = 20004;
	assert_int_equal(classify_compare(&b, true, &r, d), 0);
	b.port_min = 20001;
	b.port_max = 29999;
	n = classify_compare(&b, true, &r, d);
	assert_string_equal(props(d, n), "port_range");
	assert_string_equal(d[0].observed, "outside");
	/* ports = block: random ports inside one block-size span */
	b = (struct nat_behavior){ .mapping = MAP_EIM, .filtering = FILTER_APDF, .ports = PORTS_BLOCK,
				   .block_size = 64 };
	r.ports = PORTS_RANDOM;
	r.port_step = 0;
	r.alloc_lo = 20003;
	r.alloc_hi = 20060;
	assert_int_equal(classify_compare(&b, true, &r, d), 0);
	r.alloc_hi = 20070;
	n = classify_compare(&b, true, &r, d);
	assert_string_equal(props(d, n), "ports");
	assert_string_equal(d[0].observed, "random, wider than a block");
	r.ports = PORTS_SEQUENTIAL;
	n = classify_compare(&b, true, &r, d);
	assert_string_equal(d[0].observed, "sequential");
	b = (struct nat_behavior){ .mapping = MAP_EIM, .filtering = FILTER_APDF, .ports = PORTS_PRESERVE };
	/* everything wrong at once */
	r = res(false, true, MAP_APDM, FILTER_EIF, PORTS_RANDOM, Y);
	n = classify_compare(&b, true, &r, d);
	assert_string_equal(props(d, n), "mapping,filtering,ports,hairpin");
	assert_true(n <= CLASSIFY_MAX_DIFFS);
}

/* inbound-reply: the filtering socket's answer to the server socket whose
 * packet got in leaves from its own mapping (session) or another one. */
static void test_inbound_reply(void **state)
{
	struct classify_obs o;
	struct classify_result r;
	struct nat_behavior b = { .mapping = MAP_APDM, .filtering = FILTER_EIF, .ports = PORTS_RANDOM };
	struct classify_diff d[CLASSIFY_MAX_DIFFS];
	int n;

	(void)state;
	/* APDM + EIF: sample 0 (the filtering socket) at :30001 */
	o = obs_of(W "30000", W "30004", W "30005", 30001, 41234, 22222, Y, Y, Y, N);
	mapped(&o.reply, "10.0.1.2:45001", W "30001");
	o.reply_other_address = true;
	r = decide(o);
	assert_true(r.inbound_reply_known);
	assert_int_equal(r.inbound_reply, INBOUND_REPLY_SESSION);
	assert_int_equal(classify_compare(&b, true, &r, d), 0);
	mapped(&o.reply, "10.0.1.2:45001", W "30006");
	r = decide(o);
	assert_int_equal(r.inbound_reply, INBOUND_REPLY_NEW_MAPPING);
	assert_string_equal(classify_inbound_reply_name(&r), "new-mapping");
	n = classify_compare(&b, true, &r, d);
	assert_string_equal(props(d, n), "inbound_reply");
	assert_string_equal(d[0].declared, "session");
	/* not asked: unknown, and unknown is no mismatch (EIM cannot show it) */
	o.reply.answered = false;
	r = decide(o);
	assert_false(r.inbound_reply_known);
	assert_string_equal(classify_inbound_reply_name(&r), "unknown");
	/* ADM, answer from another port only: the mapping towards that address
	 * is the same either way, so it cannot tell */
	o = obs_of(W "30000", W "30004", W "30004", 30001, 30002, 30003, Y, Y, N, N);
	mapped(&o.reply, "10.0.1.2:45001", W "30001");
	o.reply_other_address = false;
	r = decide(o);
	assert_int_equal(r.mapping, MAP_ADM);
	assert_false(r.inbound_reply_known);
	/* EIM: never */
	o = obs_of(W "30000", W "30000", W "30000", 30001, 30002, 30003, Y, Y, Y, N);
	mapped(&o.reply, "10.0.1.2:45001", W "30001");
	o.reply_other_address = true;
	r = decide(o);
	assert_false(r.inbound_reply_known);
}

static void test_compare_special(void **state)
{
	struct nat_behavior fw = { .mapping = MAP_NONE, .filtering = FILTER_OPEN, .ports = PORTS_PRESERVE };
	struct nat_behavior nat = { .mapping = MAP_EIM, .filtering = FILTER_EIF, .ports = PORTS_RANDOM, .hairpin = true };
	struct classify_diff d[CLASSIFY_MAX_DIFFS];
	struct classify_result r;
	int n;

	/* an open router looks like EIF from inside; hairpin means nothing behind a firewall */
	r = res(false, false, MAP_NONE, FILTER_EIF, PORTS_PRESERVE, Y);
	assert_int_equal(classify_compare(&fw, false, &r, d), 0);
	r.hairpin = N;
	assert_int_equal(classify_compare(&fw, false, &r, d), 0);
	/* firewall declared, translation found */
	r = res(false, true, MAP_EIM, FILTER_EIF, PORTS_PRESERVE, N);
	n = classify_compare(&fw, false, &r, d);
	assert_string_equal(props(d, n), "nat,mapping");
	assert_string_equal(d[0].declared, "no");
	assert_string_equal(d[0].observed, "yes");
	/* NAT declared, none found */
	r = res(false, false, MAP_NONE, FILTER_EIF, PORTS_PRESERVE, Y);
	n = classify_compare(&nat, true, &r, d);
	assert_string_equal(props(d, n), "nat,mapping,ports");
	/* UDP blocked: declared and found, nothing else compared */
	nat.udp_blocked = true;
	memset(&r, 0, sizeof(r));
	r.udp_blocked = true;
	assert_int_equal(classify_compare(&nat, true, &r, d), 0);
	/* declared blocked, not found so */
	r = res(false, true, MAP_EIM, FILTER_EIF, PORTS_RANDOM, Y);
	n = classify_compare(&nat, true, &r, d);
	assert_string_equal(props(d, n), "udp_blocked");
	assert_string_equal(d[0].declared, "yes");
	assert_string_equal(d[0].observed, "no");
	/* found blocked, not declared so */
	nat.udp_blocked = false;
	memset(&r, 0, sizeof(r));
	r.udp_blocked = true;
	n = classify_compare(&nat, true, &r, d);
	assert_string_equal(props(d, n), "udp_blocked");
	assert_string_equal(d[0].observed, "yes");
}

/* ---- JSON ------------------------------------------------------------------ */

static const char *jstr(json_object *o, const char *path1, const char *path2)
{
	json_object *v;

	assert_true(json_object_object_get_ex(o, path1, &v));
	if (path2)
		assert_true(json_object_object_get_ex(v, path2, &v));
	return v ? json_object_get_string(v) : NULL;
}

static void test_json(void **state)
{
	struct classify_obs o = obs_of(W "61000", W "40017", NULL, -1, -1, 0, Y, Y, N, N);
	struct nat_behavior b = { .mapping = MAP_EIM, .filtering = FILTER_ADF, .ports = PORTS_PRESERVE };
	struct classify_diff d[CLASSIFY_MAX_DIFFS];
	struct classify_result r;
	json_object *j, *v, *back;
	int n;

	classify_decide(&o, &r);
	j = classify_to_json(&o, &r);
	assert_non_null(j);
	assert_string_equal(jstr(j, "mapping", NULL), "unknown");
	assert_string_equal(jstr(j, "filtering", NULL), "adf");
	assert_string_equal(jstr(j, "ports", NULL), "preserve");
	assert_string_equal(jstr(j, "hairpin", NULL), "no");
	assert_true(json_object_object_get_ex(j, "nat", &v));
	assert_true(json_object_get_boolean(v));
	assert_true(json_object_object_get_ex(j, "observations", &v));
	assert_string_equal(jstr(v, "local", NULL), "10.0.1.2:61000");
	assert_string_equal(jstr(v, "mapping", "a1p1"), W "61000");
	assert_string_equal(jstr(v, "mapping", "a2p1"), W "40017");
	assert_null(jstr(v, "mapping", "a2p2")); /* JSON null: no answer */
	assert_string_equal(jstr(v, "filtering", "change_port"), "yes");
	assert_true(json_object_object_get_ex(v, "port_samples", &v));
	assert_int_equal(json_object_array_length(v), CLASSIFY_SAMPLES);
	assert_string_equal(jstr(json_object_array_get_idx(v, 0), "mapped", NULL), W "45001");
	assert_null(jstr(json_object_array_get_idx(v, 2), "mapped", NULL));

	n = classify_compare(&b, true, &r, d);
	assert_int_equal(n, 1);
	assert_int_equal(classify_json_add_compare(j, &b, true, d, n), 0);
	assert_true(json_object_object_get_ex(j, "match", &v));
	assert_false(json_object_get_boolean(v));
	assert_true(json_object_object_get_ex(j, "mismatches", &v));
	assert_string_equal(jstr(json_object_array_get_idx(v, 0), "property", NULL), "mapping");
	assert_string_equal(jstr(json_object_array_get_idx(v, 0), "observed", NULL), "unknown");
	assert_string_equal(jstr(j, "expected", "filtering"), "adf");
	/* what is printed parses back */
	back = json_tokener_parse(json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN));
	assert_non_null(back);
	assert_string_equal(jstr(back, "expected", "mapping"), "eim");
	json_object_put(back);
	json_object_put(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_no_amplification),
		cmocka_unit_test(test_lengths),
		cmocka_unit_test(test_every_bit),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_answer_socket),
		cmocka_unit_test(test_blocked),
		cmocka_unit_test(test_mapping),
		cmocka_unit_test(test_filtering),
		cmocka_unit_test(test_ports),
		cmocka_unit_test(test_hairpin),
		cmocka_unit_test(test_inbound_reply),
		cmocka_unit_test(test_compare),
		cmocka_unit_test(test_compare_special),
		cmocka_unit_test(test_json),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
