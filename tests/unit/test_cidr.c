/* Unit tests for the one ADDR/PREFIX parser (src/common/cidr.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "common/cidr.h"

static struct cidr ok(const char *s, int family, unsigned flags, int want_family, int want_plen)
{
	struct cidr c;

	if (cidr_parse(s, family, flags, &c) != 0)
		fail_msg("\"%s\" refused", s);
	assert_int_equal(c.family, want_family);
	assert_int_equal(c.plen, want_plen);
	return c;
}

static void bad(const char *s, int family, unsigned flags)
{
	struct cidr c;

	if (cidr_parse(s, family, flags, &c) != -EINVAL)
		fail_msg("\"%s\" taken", s);
}

static void test_parse(void **state)
{
	struct cidr c = ok("10.0.1.0/24", 0, 0, AF_INET, 24);
	uint8_t v4[4] = { 10, 0, 1, 0 }, v6[16];

	assert_memory_equal(c.a, v4, 4);
	c = ok("2001:db8::/32", 0, 0, AF_INET6, 32);
	inet_pton(AF_INET6, "2001:db8::", v6);
	assert_memory_equal(c.a, v6, 16);
	ok("0.0.0.0/0", 0, 0, AF_INET, 0);
	ok("192.0.2.1/32", 0, 0, AF_INET, 32);
	ok("::/0", 0, 0, AF_INET6, 0);
	ok("fc00::1/128", 0, 0, AF_INET6, 128);
	ok("10.0.0.0/008", 0, 0, AF_INET, 8);
	ok("::ffff:192.0.2.1/96", 0, 0, AF_INET6, 96);
}

static void test_family_and_bare(void **state)
{
	ok("10.0.0.0/8", AF_INET, 0, AF_INET, 8);
	bad("10.0.0.0/8", AF_INET6, 0);
	ok("2001:db8::/64", AF_INET6, 0, AF_INET6, 64);
	bad("2001:db8::/64", AF_INET, 0);
	/* A bare address only when asked for, as a host prefix. */
	bad("192.0.2.1", 0, 0);
	ok("192.0.2.1", 0, CIDR_BARE, AF_INET, 32);
	ok("2001:db8::1", 0, CIDR_BARE, AF_INET6, 128);
	ok("192.0.2.0/24", 0, CIDR_BARE, AF_INET, 24);
}

static void test_refused(void **state)
{
	static const char *const not_subnets[] = {
		"", "/", "/24", "10.0.0.0/", "10.0.0.0/33", "10.0.0.0/-1", "10.0.0.0/+8", "10.0.0.0/ 8",
		"10.0.0.0/8 ", " 10.0.0.0/8", "10.0.0.0/0x8", "10.0.0.0/1000", "10.0.0.0/0024", "10.0.0/8",
		"10.0.0.256/8", "10.0.0.0/8/8", "2001:db8::/129", "2001:db8:::/64", "host/24", "[2001:db8::]/64",
		"10.0.0.0\\8", "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255:1/64",
	};

	for (size_t i = 0; i < sizeof(not_subnets) / sizeof(not_subnets[0]); i++) {
		bad(not_subnets[i], 0, 0);
		bad(not_subnets[i], 0, CIDR_BARE);
	}
}

static void test_contains(void **state)
{
	struct cidr net = ok("172.16.0.0/12", 0, 0, AF_INET, 12), x;

	x = ok("172.31.255.255", 0, CIDR_BARE, AF_INET, 32);
	assert_true(cidr_contains(&net, &x));
	x = ok("172.32.0.0", 0, CIDR_BARE, AF_INET, 32);
	assert_false(cidr_contains(&net, &x));
	x = ok("172.16.0.0/16", 0, 0, AF_INET, 16);
	assert_true(cidr_contains(&net, &x));
	assert_false(cidr_contains(&x, &net)); /* wider than the container */
	x = ok("::ffff:172.16.0.1", 0, CIDR_BARE, AF_INET6, 128);
	assert_false(cidr_contains(&net, &x)); /* other family */
	net = ok("fc00::/7", 0, 0, AF_INET6, 7);
	x = ok("fdff::1", 0, CIDR_BARE, AF_INET6, 128);
	assert_true(cidr_contains(&net, &x));
	x = ok("fe00::1", 0, CIDR_BARE, AF_INET6, 128);
	assert_false(cidr_contains(&net, &x));
	net = ok("0.0.0.0/0", 0, 0, AF_INET, 0);
	assert_true(cidr_contains(&net, &net));
}

static void test_host_bits(void **state)
{
	struct cidr c = ok("10.0.1.0/24", 0, 0, AF_INET, 24);

	assert_false(cidr_host_bits(&c));
	c = ok("10.0.1.1/24", 0, 0, AF_INET, 24);
	assert_true(cidr_host_bits(&c));
	c = ok("10.0.1.128/25", 0, 0, AF_INET, 25);
	assert_false(cidr_host_bits(&c));
	c = ok("2001:db8::1/64", 0, 0, AF_INET6, 64);
	assert_true(cidr_host_bits(&c));
	c = ok("2001:db8::1", 0, CIDR_BARE, AF_INET6, 128);
	assert_false(cidr_host_bits(&c));
	assert_int_equal(cidr_bits(&c), 128);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_family_and_bare),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_contains),
		cmocka_unit_test(test_host_bits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
