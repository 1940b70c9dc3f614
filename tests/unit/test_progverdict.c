/* Unit tests for the path of a program under test (lab/model/progverdict.c):
 * the counts are what the witness reads from each peer's namespace
 * (struct evidence), set here by hand. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "model/progverdict.h"

static void expect(const struct evidence *e, bool checked, const char *verdict, const char *reason)
{
	char why[512] = "";
	const char *v = progverdict(e, "alice", "bob", checked, why, sizeof(why));

	assert_string_equal(v, verdict);
	if (!strstr(why, reason))
		fail_msg("reason '%s' lacks '%s'", why, reason);
}

static void test_direct(void **state)
{
	struct evidence e = { .peers = { { .to_partner = 12, .from_partner = 10 }, { .to_partner = 10, .from_partner = 9 } } };

	(void)state;
	expect(&e, false, "direct", "delivered to the other's host: 9 of 12 alice->bob, 10 of 10 bob->alice");
	/* Both sides punched, but no NAT let them in: attempts are not a path
	 * (with a relay check, relayed; else failed). */
	e.peers[0].from_partner = e.peers[1].from_partner = 0;
	expect(&e, false, "failed", "delivered one way at most: alice->bob 12 sent, 0 delivered; bob->alice 10 "
	       "sent, 0 delivered");
	e.peers[1].from_partner = 3;
	expect(&e, false, "failed", "alice->bob 12 sent, 3 delivered");
	/* Only what arrived counts: one side that received is not a path. */
	expect(&e, true, "failed", "one way at most");
}

static void test_relayed(void **state)
{
	struct evidence e = { .peers = { { .to_partner = 4, .to_server = 20, .from_server = 18 },
					 { .to_partner = 4, .to_server = 19, .from_server = 21 } } };

	(void)state;
	expect(&e, true, "relayed", "each peer exchanged UDP with the server (alice 20/18, bob 19/21 sent/received) "
	       "and the check passed");
	/* Without a check, traffic with the server is only signalling as far as anyone can see. */
	expect(&e, false, "failed", "delivered one way at most");
	e.peers[0].to_partner = e.peers[1].to_partner = 0;
	expect(&e, false, "unproven", "cannot be told from signalling: give a check");
	/* One peer never heard from the server: no relay. */
	e.peers[1].from_server = 0;
	expect(&e, true, "unproven", "nothing shows they reached each other");
	/* punch's RELAY messages are visible as such, when the peers speak punch. */
	e.peers[0].relay = e.peers[1].relay = 5;
	e.peers[1].from_server = 5;
	e.wire = true;
	expect(&e, false, "relayed", "RELAY messages from the server were delivered to both: 5 to alice, 5 to bob");
	e.peers[1].relay = 0;
	expect(&e, false, "unproven", "give a check");
	/* without wire no payload is read: relay counts are not believed */
	e.peers[1].relay = 5;
	e.wire = false;
	expect(&e, false, "unproven", "give a check");
}

static void test_nothing(void **state)
{
	struct evidence e = { 0 };

	(void)state;
	expect(&e, false, "unproven", "no UDP went between the peers and none was exchanged with the server");
	expect(&e, true, "unproven", "nothing shows they reached each other");
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
