/* Unit tests for the path of a program under test (lab/model/progverdict.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "model/progverdict.h"

static void expect(const struct progverdict_counts *c, bool same_router, bool checked, const char *verdict,
		   const char *reason)
{
	char why[512] = "";
	const char *v = progverdict(c, "alice", "bob", same_router, checked, why, sizeof(why));

	assert_string_equal(v, verdict);
	if (!strstr(why, reason))
		fail_msg("reason '%s' lacks '%s'", why, reason);
}

static void test_direct(void **state)
{
	struct progverdict_counts c = { .sent_ab = 12, .sent_ba = 10, .got_ab = 9, .got_ba = 10 };

	(void)state;
	expect(&c, false, false, "direct", "crossed the internet both ways and arrived: 9 of 12 alice->bob, "
	       "10 of 10 bob->alice");
	/* Both sides punched, the packets crossed the internet, but no NAT let them in:
	 * attempts are not a path (with a relay check, relayed; else failed). */
	c.got_ab = c.got_ba = 0;
	expect(&c, false, false, "failed", "arrived one way at most: alice->bob 12 sent, 0 arrived; bob->alice 10 "
	       "sent, 0 arrived");
	c.got_ab = 3;
	expect(&c, false, false, "failed", "alice->bob 12 sent, 3 arrived");
	/* A shared router: nothing of theirs crosses the internet. */
	expect(&c, true, true, "unproven", "share a router");
}

static void test_relayed(void **state)
{
	struct progverdict_counts c = { .sent_ab = 4, .sent_ba = 4, .a_up = 20, .a_down = 18, .b_up = 19,
					.b_down = 21 };

	(void)state;
	expect(&c, false, true, "relayed", "each peer exchanged UDP with the server (alice 20/18, bob 19/21 up/down) "
	       "and the check passed");
	/* Without a check, traffic with the server is only signalling as far as anyone can see. */
	expect(&c, false, false, "failed", "arrived one way at most");
	c.sent_ab = c.sent_ba = 0;
	expect(&c, false, false, "unproven", "cannot be told from signalling: give a check");
	/* One peer never heard from the server: no relay. */
	c.b_down = 0;
	expect(&c, false, true, "unproven", "nothing shows they reached each other");
	/* punch's RELAY messages are visible as such. */
	c.relay_up = 5;
	c.relay_down = 5;
	expect(&c, false, false, "relayed", "carried 5 RELAY messages to the server and 5 from it");
	c.relay_down = 0;
	expect(&c, false, false, "unproven", "nothing shows");
}

static void test_nothing(void **state)
{
	struct progverdict_counts c = { 0 };

	(void)state;
	expect(&c, false, false, "unproven", "the internet carried no UDP between the peers' public addresses");
	expect(&c, false, true, "unproven", "nothing shows they reached each other");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_direct),
		cmocka_unit_test(test_relayed),
		cmocka_unit_test(test_nothing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
