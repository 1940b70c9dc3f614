/* The path of a program under test from the network's counts. */
#include "model/progverdict.h"

#include <inttypes.h>
#include <stdio.h>

const char *progverdict(const struct progverdict_counts *c, const char *a, const char *b, bool same_router,
			bool checked, char *why, size_t size)
{
	bool server_both = c->a_up && c->a_down && c->b_up && c->b_down;

	if (same_router) {
		snprintf(why, size, "the programs succeeded, but the peers share a router, and the lab counts "
			 "only what crosses the internet: their path cannot be seen");
		return "unproven";
	}
	if (c->sent_ab && c->sent_ba && c->got_ab && c->got_ba) {
		snprintf(why, size, "UDP between their public addresses crossed the internet both ways and arrived: "
			 "%" PRIu64 " of %" PRIu64 " %s->%s, %" PRIu64 " of %" PRIu64 " %s->%s", c->got_ab, c->sent_ab,
			 a, b, c->got_ba, c->sent_ba, b, a);
		return "direct";
	}
	if (server_both && checked) {
		snprintf(why, size, "no direct path (%s->%s %" PRIu64 " sent, %" PRIu64 " arrived; %s->%s %" PRIu64
			 " sent, %" PRIu64 " arrived), but each peer exchanged UDP with the server (%s %" PRIu64 "/%"
			 PRIu64 ", %s %" PRIu64 "/%" PRIu64 " up/down) and the check passed in both", a, b, c->sent_ab,
			 c->got_ab, b, a, c->sent_ba, c->got_ba, a, c->a_up, c->a_down, b, c->b_up, c->b_down);
		return "relayed";
	}
	/* A program that speaks punch's own protocol (punch-client against a server of
	 * the user's): its RELAY messages are visible as such, as for the built-in pair. */
	if (c->relay_up && c->relay_down) {
		snprintf(why, size, "no direct path, but the internet carried %" PRIu64 " RELAY messages to the server "
			 "and %" PRIu64 " from it", c->relay_up, c->relay_down);
		return "relayed";
	}
	if (c->sent_ab || c->sent_ba) {
		snprintf(why, size, "the programs exited 0, but UDP between them arrived one way at most: %s->%s %"
			 PRIu64 " sent, %" PRIu64 " arrived; %s->%s %" PRIu64 " sent, %" PRIu64 " arrived", a, b,
			 c->sent_ab, c->got_ab, b, a, c->sent_ba, c->got_ba);
		return "failed";
	}
	if (server_both)
		snprintf(why, size, "the programs exited 0, but no UDP crossed between the peers, and traffic with "
			 "the server alone (%s %" PRIu64 "/%" PRIu64 ", %s %" PRIu64 "/%" PRIu64 " up/down) cannot be "
			 "told from signalling: give a check that shows data arriving", a, c->a_up, c->a_down, b,
			 c->b_up, c->b_down);
	else
		snprintf(why, size, "the programs exited 0, but the internet carried no UDP between the peers' "
			 "public addresses and none through the server both ways: nothing shows they reached each "
			 "other");
	return "unproven";
}
