/* Unit tests for socket addresses (src/common/addr.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/addr.h"
#include "proto/wire.h"

/* Parse s, expecting success, and check it formats back as want. */
static void parse_ok(const char *s, uint16_t def_port, int family, uint16_t port, const char *want)
{
	struct addr a;
	char buf[ADDR_STRLEN];

	assert_int_equal(addr_parse(s, def_port, &a), 0);
	assert_int_equal(addr_family(&a), family);
	assert_int_equal(addr_port(&a), port);
	assert_int_equal(a.len, family == AF_INET ? sizeof(struct sockaddr_in)
						 : sizeof(struct sockaddr_in6));
	assert_string_equal(addr_fmt(&a, buf, sizeof(buf)), want);
}

static void test_parse_ipv4(void **state)
{
	struct addr a;

	parse_ok("198.51.100.1:3478", 9, AF_INET, 3478, "198.51.100.1:3478");
	parse_ok("198.51.100.1", 9, AF_INET, 9, "198.51.100.1:9");
	parse_ok("203.0.113.255:65535", 0, AF_INET, 65535, "203.0.113.255:65535");
	parse_ok("192.0.2.7:0", 1, AF_INET, 0, "192.0.2.7:0");
	assert_int_equal(addr_parse("192.0.2.7:1", 0, &a), 0);
	/* network byte order in the sockaddr */
	assert_int_equal(ntohl(a.u.in.sin_addr.s_addr), 0xc0000207);
	assert_int_equal(a.u.in.sin_port, htons(1));
}

static void test_parse_ipv6(void **state)
{
	struct addr a;
	static const uint8_t want[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 };

	parse_ok("[2001:db8::1]:3478", 9, AF_INET6, 3478, "[2001:db8::1]:3478");
	parse_ok("[2001:db8::1]", 9, AF_INET6, 9, "[2001:db8::1]:9");
	parse_ok("2001:db8::1", 9, AF_INET6, 9, "[2001:db8::1]:9"); /* bare, no port */
	parse_ok("::", 5, AF_INET6, 5, "[::]:5");
	parse_ok("[::ffff:198.51.100.2]:7", 0, AF_INET6, 7, "[::ffff:198.51.100.2]:7");
	parse_ok("[2001:db8:0:0:0:0:0:2]:80", 0, AF_INET6, 80, "[2001:db8::2]:80");
	assert_int_equal(addr_parse("[2001:db8::1]:1", 0, &a), 0);
	assert_memory_equal(&a.u.in6.sin6_addr, want, 16);
}

static void test_parse_bad(void **state)
{
	static const char *const bad[] = {
		"",
		":",
		":80",
		"198.51.100.1:",
		"198.51.100.1:65536",
		"198.51.100.1:99999999999999999999",
		"198.51.100.1:-1",
		"198.51.100.1:+5",
		"198.51.100.1: 5",
		"198.51.100.1:5 ",
		"198.51.100.1:12a",
		"198.51.100.1:80:90",
		" 198.51.100.1",
		"198.51.100",
		"198.51.100.256",
		"198.51.100.1.5",
		"example.com:80",
		"localhost",
		"[2001:db8::1",
		"[2001:db8::1]x",
		"[2001:db8::1]:",
		"[2001:db8::1]:65536",
		"[]:80",
		"[]",
		"2001:db8::g",
		"2001:db8:::1",
		"[2001:db8::1]]:80",
		/* longer than any address: must not overflow the copy */
		"1111111111111111111111111111111111111111111111111111111111111111111111:1",
		"[1111111111111111111111111111111111111111111111111111111111111111111111]:1",
	};
	struct addr a;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = addr_parse(bad[i], 80, &a);

		if (rc != -EINVAL)
			fail_msg("addr_parse(\"%s\") = %d, want -EINVAL", bad[i], rc);
	}
}

static void test_format_edges(void **state)
{
	struct addr a;
	char *small;

	memset(&a, 0, sizeof(a));
	{
		char buf[ADDR_STRLEN];

		/* no family: a clear placeholder, not garbage */
		assert_string_equal(addr_fmt_ip(&a, buf, sizeof(buf)), "?");
		assert_int_equal(addr_port(&a), 0);
	}
	/* the longest IPv6 text fits ADDR_STRLEN */
	assert_int_equal(addr_parse("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535", 0, &a), 0);
	{
		char buf[ADDR_STRLEN];

		addr_fmt(&a, buf, sizeof(buf));
		assert_string_equal(buf, "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535");
	}
	/* too small a buffer: truncated and terminated, never overrun (an
	 * exactly sized heap buffer lets ASan see any overrun) */
	small = malloc(8);
	assert_non_null(small);
	addr_fmt(&a, small, 8);
	assert_int_equal(strlen(small), 7);
	assert_string_equal(addr_fmt_ip(&a, small, 8), "?");
	free(small);
	assert_int_equal(addr_parse("198.51.100.1:3478", 0, &a), 0);
	{
		char buf[ADDR_STRLEN];

		assert_string_equal(addr_fmt_ip(&a, buf, sizeof(buf)), "198.51.100.1");
	}
}

static void test_port_and_family(void **state)
{
	struct addr a;
	char buf[ADDR_STRLEN];

	assert_int_equal(addr_parse("198.51.100.1:1", 0, &a), 0);
	addr_set_port(&a, 65000);
	assert_int_equal(addr_port(&a), 65000);
	assert_string_equal(addr_fmt(&a, buf, sizeof(buf)), "198.51.100.1:65000");
	assert_int_equal(addr_parse("[2001:db8::5]:1", 0, &a), 0);
	addr_set_port(&a, 2);
	assert_string_equal(addr_fmt(&a, buf, sizeof(buf)), "[2001:db8::5]:2");
	assert_int_equal(addr_family(&a), AF_INET6);

	addr_any(&a, AF_INET, 3478);
	assert_string_equal(addr_fmt(&a, buf, sizeof(buf)), "0.0.0.0:3478");
	assert_int_equal(a.len, sizeof(struct sockaddr_in));
	addr_any(&a, AF_INET6, 3479);
	assert_string_equal(addr_fmt(&a, buf, sizeof(buf)), "[::]:3479");
	assert_int_equal(a.len, sizeof(struct sockaddr_in6));
}

static void test_equal(void **state)
{
	struct addr a, b;

	assert_int_equal(addr_parse("198.51.100.1:10", 0, &a), 0);
	assert_int_equal(addr_parse("198.51.100.1:10", 0, &b), 0);
	assert_true(addr_equal(&a, &b));
	assert_true(addr_equal_ip(&a, &b));
	addr_set_port(&b, 11);
	assert_false(addr_equal(&a, &b));
	assert_true(addr_equal_ip(&a, &b));
	assert_int_equal(addr_parse("198.51.100.2:10", 0, &b), 0);
	assert_false(addr_equal(&a, &b));
	assert_false(addr_equal_ip(&a, &b));
	/* an IPv4-mapped IPv6 address is a different address here */
	assert_int_equal(addr_parse("[::ffff:198.51.100.1]:10", 0, &b), 0);
	assert_false(addr_equal(&a, &b));
	assert_false(addr_equal_ip(&a, &b));

	assert_int_equal(addr_parse("[2001:db8::1]:10", 0, &a), 0);
	assert_int_equal(addr_parse("2001:db8:0::1", 10, &b), 0);
	assert_true(addr_equal(&a, &b));
	assert_int_equal(addr_parse("[2001:db8::1:0]:10", 0, &b), 0);
	assert_false(addr_equal_ip(&a, &b));

	/* unset addresses are equal to nothing, themselves included */
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	assert_false(addr_equal(&a, &b));
}

static void test_from_sa(void **state)
{
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;
	struct sockaddr_un sun;
	struct addr a;
	char buf[ADDR_STRLEN];

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(4242);
	inet_pton(AF_INET, "203.0.113.9", &sin.sin_addr);
	assert_int_equal(addr_from_sa(&a, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_string_equal(addr_fmt(&a, buf, sizeof(buf)), "203.0.113.9:4242");
	assert_int_equal(addr_from_sa(&a, (struct sockaddr *)&sin, sizeof(sin) - 1), -EAFNOSUPPORT);

	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	sin6.sin6_port = htons(4243);
	inet_pton(AF_INET6, "2001:db8::9", &sin6.sin6_addr);
	assert_int_equal(addr_from_sa(&a, (struct sockaddr *)&sin6, sizeof(sin6)), 0);
	assert_string_equal(addr_fmt(&a, buf, sizeof(buf)), "[2001:db8::9]:4243");
	assert_int_equal(a.len, sizeof(sin6));
	assert_int_equal(addr_from_sa(&a, (struct sockaddr *)&sin6, sizeof(sin)), -EAFNOSUPPORT);

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	assert_int_equal(addr_from_sa(&a, (struct sockaddr *)&sun, sizeof(sun)), -EAFNOSUPPORT);
}

/* What the kernel hands back from a real loopback socket converts cleanly. */
static void test_from_kernel(void **state)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	struct addr a, bound;
	char buf[ADDR_STRLEN];
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	assert_true(fd >= 0);
	assert_int_equal(addr_parse("127.0.0.1:0", 0, &bound), 0);
	assert_int_equal(bind(fd, &bound.u.sa, bound.len), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&ss, &sl), 0);
	close(fd);
	assert_int_equal(addr_from_sa(&a, (struct sockaddr *)&ss, sl), 0);
	assert_int_equal(addr_family(&a), AF_INET);
	assert_int_not_equal(addr_port(&a), 0);
	assert_true(addr_equal_ip(&a, &bound));
	addr_fmt(&a, buf, sizeof(buf));
	assert_memory_equal(buf, "127.0.0.1:", 10);
}

static void test_wire_conversion(void **state)
{
	struct addr a, back;
	struct wire_endpoint ep;
	struct wire_msg m;
	uint8_t buf[WIRE_MSG_MAX];
	static const uint8_t v4[4] = { 198, 51, 100, 77 };
	static const uint8_t zero[12];

	assert_int_equal(addr_parse("198.51.100.77:40001", 0, &a), 0);
	memset(&ep, 0xee, sizeof(ep));
	addr_to_wire(&a, &ep);
	assert_int_equal(ep.family, 4);
	assert_int_equal(ep.port, 40001);
	assert_memory_equal(ep.addr, v4, 4);
	assert_memory_equal(ep.addr + 4, zero, 12); /* as the wire format demands */
	assert_int_equal(addr_from_wire(&back, &ep), 0);
	assert_true(addr_equal(&a, &back));
	assert_int_equal(back.len, sizeof(struct sockaddr_in));

	/* the endpoint goes through the codec unchanged */
	memset(&m, 0, sizeof(m));
	m.type = WIRE_REG_ACK;
	m.u.reg_ack.observed = ep;
	assert_int_equal(wire_build(buf, sizeof(buf), &m, NULL), 32);
	memset(&m, 0, sizeof(m));
	assert_int_equal(wire_parse_datagram(buf, 32, &m), 0);
	assert_int_equal(addr_from_wire(&back, &m.u.reg_ack.observed), 0);
	assert_true(addr_equal(&a, &back));

	assert_int_equal(addr_parse("[2001:db8::77]:40002", 0, &a), 0);
	addr_to_wire(&a, &ep);
	assert_int_equal(ep.family, 6);
	assert_int_equal(ep.port, 40002);
	assert_memory_equal(ep.addr, &a.u.in6.sin6_addr, 16);
	assert_int_equal(addr_from_wire(&back, &ep), 0);
	assert_true(addr_equal(&a, &back));
	assert_int_equal(back.len, sizeof(struct sockaddr_in6));

	/* no address: family 0, which the codec refuses to send */
	memset(&a, 0, sizeof(a));
	addr_to_wire(&a, &ep);
	assert_int_equal(ep.family, 0);
	memset(&m, 0, sizeof(m));
	m.type = WIRE_REG_ACK;
	m.u.reg_ack.observed = ep;
	assert_int_equal(wire_build(buf, sizeof(buf), &m, NULL), -1);

	for (int fam = 0; fam < 256; fam++) {
		if (fam == 4 || fam == 6)
			continue;
		ep.family = (uint8_t)fam;
		assert_int_equal(addr_from_wire(&back, &ep), -EINVAL);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_ipv4),
		cmocka_unit_test(test_parse_ipv6),
		cmocka_unit_test(test_parse_bad),
		cmocka_unit_test(test_format_edges),
		cmocka_unit_test(test_port_and_family),
		cmocka_unit_test(test_equal),
		cmocka_unit_test(test_from_sa),
		cmocka_unit_test(test_from_kernel),
		cmocka_unit_test(test_wire_conversion),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
