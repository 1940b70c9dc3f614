/* Unit tests for the one duration grammar (src/common/duration.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>

#include "common/duration.h"

#define ANY 0, UINT64_MAX

static uint64_t ok(const char *s, unsigned flags)
{
	uint64_t ms = 12345;

	assert_int_equal(duration_parse(s, flags, ANY, &ms), 0);
	return ms;
}

static void bad(const char *s, unsigned flags, int want)
{
	uint64_t ms = 777;

	assert_int_equal(duration_parse(s, flags, ANY, &ms), want);
	assert_int_equal(ms, 777); /* untouched on failure */
}

static void test_units(void **state)
{
	assert_int_equal(ok("500ms", 0), 500);
	assert_int_equal(ok("3s", 0), 3000);
	assert_int_equal(ok("2m", 0), 120000);
	assert_int_equal(ok("0ms", 0), 0);
	assert_int_equal(ok("0s", 0), 0);
	/* A bare number is seconds (the command lines' old "3" and "30"). */
	assert_int_equal(ok("3", 0), 3000);
	assert_int_equal(ok("007", 0), 7000);
	assert_int_equal(ok("60m", DURATION_UNIT | DURATION_WHOLE), 3600000);
}

static void test_fractions(void **state)
{
	assert_int_equal(ok("1.5s", 0), 1500);
	assert_int_equal(ok("1.5", 0), 1500);
	assert_int_equal(ok("0.25m", 0), 15000);
	assert_int_equal(ok("0.001", 0), 1);
	/* Finer than a millisecond is dropped, not rounded up. */
	assert_int_equal(ok("0.0009s", 0), 0);
	assert_int_equal(ok("2.9ms", 0), 2);
	assert_int_equal(ok("1.123456789s", 0), 1123);
	assert_int_equal(ok("1.0000000000000000000000001s", 0), 1000);
}

static void test_syntax(void **state)
{
	static const char *const not_durations[] = {
		"", "s", "ms", ".5s", "1.s", "1.", "-1s", "+1s", " 1s", "1s ", "1 s", "1h", "1S",
		"1e3", "0x10", "1,5s", "1.5.5s", "1sms", "1mss", "inf", "nan", "1..2",
	};

	for (size_t i = 0; i < sizeof(not_durations) / sizeof(not_durations[0]); i++) {
		uint64_t ms = 777;

		if (duration_parse(not_durations[i], 0, ANY, &ms) != -EINVAL)
			fail_msg("\"%s\" taken for a duration", not_durations[i]);
		assert_int_equal(ms, 777);
	}
}

static void test_flags(void **state)
{
	bad("10", DURATION_UNIT, -EINVAL);
	bad("1.5", DURATION_UNIT, -EINVAL);
	assert_int_equal(ok("1.5s", DURATION_UNIT), 1500);
	bad("1.5s", DURATION_WHOLE, -EINVAL);
	assert_int_equal(ok("10", DURATION_WHOLE), 10000);
	bad("10", DURATION_UNIT | DURATION_WHOLE, -EINVAL);
	bad("1.5ms", DURATION_UNIT | DURATION_WHOLE, -EINVAL);
}

static void test_range(void **state)
{
	uint64_t ms = 777;

	assert_int_equal(duration_parse("99ms", 0, 100, 3600000, &ms), -ERANGE);
	assert_int_equal(duration_parse("61m", 0, 100, 3600000, &ms), -ERANGE);
	assert_int_equal(ms, 777);
	assert_int_equal(duration_parse("100ms", 0, 100, 3600000, &ms), 0);
	assert_int_equal(ms, 100);
	assert_int_equal(duration_parse("60m", 0, 100, 3600000, &ms), 0);
	assert_int_equal(ms, 3600000);
	/* Numbers too large for 64 bits saturate to "too large", never wrap to small. */
	bad("18446744073709551616ms", 0, -ERANGE);
	bad("99999999999999999999999999999999s", 0, -ERANGE);
	bad("307445734561825861m", 0, -ERANGE);
	assert_int_equal(ok("18446744073709551615ms", 0), UINT64_MAX);
	assert_int_equal(duration_parse("9999999999s", 0, 0, 3600000, &ms), -ERANGE);
}

static void test_fmt_round_trip(void **state)
{
	static const uint64_t values[] = { 0, 1, 999, 1000, 1500, 59000, 60000, 61000, 120000, 3600000,
					   86400000, UINT64_MAX };
	char buf[DURATION_STRLEN];

	assert_string_equal(duration_fmt(0, buf, sizeof(buf)), "0s");
	assert_string_equal(duration_fmt(1500, buf, sizeof(buf)), "1500ms");
	assert_string_equal(duration_fmt(3000, buf, sizeof(buf)), "3s");
	assert_string_equal(duration_fmt(120000, buf, sizeof(buf)), "2m");
	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		uint64_t back = 0;

		duration_fmt(values[i], buf, sizeof(buf));
		assert_int_equal(duration_parse(buf, DURATION_UNIT | DURATION_WHOLE, ANY, &back), 0);
		assert_int_equal(back, values[i]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_units),
		cmocka_unit_test(test_fractions),
		cmocka_unit_test(test_syntax),
		cmocka_unit_test(test_flags),
		cmocka_unit_test(test_range),
		cmocka_unit_test(test_fmt_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
