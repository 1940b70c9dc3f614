/* Unit tests for lab/model/impair.c: the loss ruleset against golden files,
 * refusals of what cannot be written safely, and the drop threshold for
 * every share the topology format can express at its edges.
 *
 * Golden files: tests/unit/golden/impair/<name>.nft (PUNCHLAB_UPDATE_GOLDEN=1
 * rewrites them; review the diff). Whether the ruleset loads and really
 * drops is checked on a real kernel by tests/lab/punchlab-loss.sh.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "golden.h"
#include "model/impair.h"

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
		n++;
	return n;
}

static void test_golden(void **state)
{
	static const struct {
		const char *name, *ifname;
		uint32_t ppm;
		unsigned dirs;
	} cases[] = {
		{ "both-2pct.nft", "wan0", 20000, IMPAIR_IN | IMPAIR_OUT },
		{ "in-only-100pct.nft", "eth0", 1000000, IMPAIR_IN },
		{ "out-only-1ppm.nft", "wan0", 1, IMPAIR_OUT },
	};

	(void)state;
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		char *text = NULL;

		assert_int_equal(impair_loss_ruleset(cases[k].ifname, cases[k].ppm, cases[k].dirs, &text), 0);
		assert_non_null(text);
		golden_check("impair", cases[k].name, text);
		free(text);
	}
}

/* The threshold is the share in parts per million, once per chain, and only
 * the chains asked for exist, each counting before it drops. */
static void test_threshold_and_directions(void **state)
{
	static const uint32_t ppms[] = { 1, 9999, 10000, 123456, 999999, 1000000 };
	char want[64], *text;

	(void)state;
	for (size_t k = 0; k < sizeof(ppms) / sizeof(ppms[0]); k++) {
		snprintf(want, sizeof(want), "numgen random mod 1000000 < %u counter", ppms[k]);

		assert_int_equal(impair_loss_ruleset("wan0", ppms[k], IMPAIR_IN | IMPAIR_OUT, &text), 0);
		assert_int_equal(count(text, want), 2);
		assert_int_equal(count(text, "hook ingress device \"wan0\""), 1);
		assert_int_equal(count(text, "hook egress device \"wan0\""), 1);
		assert_true(strstr(text, "counter name seen_in") < strstr(text, "counter name lost_in"));
		assert_true(strstr(text, "counter name seen_out") < strstr(text, "counter name lost_out"));
		free(text);

		assert_int_equal(impair_loss_ruleset("wan0", ppms[k], IMPAIR_IN, &text), 0);
		assert_int_equal(count(text, want), 1);
		assert_int_equal(count(text, "egress"), 0);
		assert_int_equal(count(text, "_out"), 0);
		free(text);

		assert_int_equal(impair_loss_ruleset("wan0", ppms[k], IMPAIR_OUT, &text), 0);
		assert_int_equal(count(text, want), 1);
		assert_int_equal(count(text, "ingress"), 0);
		assert_int_equal(count(text, "_in"), 0);
		free(text);
	}
}

static void test_refusals(void **state)
{
	static const char *const bad_names[] = {
		"", "sixteen-chars-xx", "wan 0", "wan\"0", "wan0\n}", "wan0;", "wan/0", "wan\\0", "wän0",
	};
	static char untouched[] = "untouched";
	char *text = untouched;

	(void)state;
	assert_int_equal(impair_loss_ruleset("wan0", 0, IMPAIR_IN, &text), -EINVAL);
	assert_null(text);
	text = untouched;
	assert_int_equal(impair_loss_ruleset("wan0", 1000001, IMPAIR_IN, &text), -EINVAL);
	assert_null(text);
	assert_int_equal(impair_loss_ruleset("wan0", UINT32_MAX, IMPAIR_IN, &text), -EINVAL);
	assert_int_equal(impair_loss_ruleset("wan0", 1000, 0, &text), -EINVAL);
	assert_int_equal(impair_loss_ruleset("wan0", 1000, 4, &text), -EINVAL);
	assert_int_equal(impair_loss_ruleset("wan0", 1000, IMPAIR_IN | 8, &text), -EINVAL);
	assert_int_equal(impair_loss_ruleset(NULL, 1000, IMPAIR_IN, &text), -EINVAL);
	assert_null(text);
	for (size_t k = 0; k < sizeof(bad_names) / sizeof(bad_names[0]); k++)
		assert_int_equal(impair_loss_ruleset(bad_names[k], 1000, IMPAIR_IN, &text), -EINVAL);
	/* The longest name the kernel takes is fine. */
	assert_int_equal(impair_loss_ruleset("fifteen-chars-x", 1000, IMPAIR_IN, &text), 0);
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_golden),
		cmocka_unit_test(test_threshold_and_directions),
		cmocka_unit_test(test_refusals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
