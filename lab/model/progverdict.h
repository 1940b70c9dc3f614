/* The path a program under test took, decided from what the network
 * counted (pure: the counting is scenario.c's judge_by_network()).
 *
 * direct:   UDP between the peers' public addresses crossed the internet
 *           both ways and arrived both ways;
 * relayed:  it did not, but each peer exchanged UDP with the server both
 *           ways and a check passed in both peers (without a check, traffic
 *           with the server cannot be told from signalling), or punch's own
 *           RELAY messages crossed both ways;
 * failed:   UDP between them was sent, but arrived one way at most;
 * unproven: nothing shows the peers reached each other (or they share a
 *           router, where the internet's counters cannot see their path).
 * Called only for programs that succeeded (exit status or check).
 */
#ifndef PUNCH_PROGVERDICT_H
#define PUNCH_PROGVERDICT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Packets counted for a pair a (the first peer) and b. */
struct progverdict_counts {
	uint64_t sent_ab, sent_ba;   /* UDP a->b and b->a between public addresses, on the internet */
	uint64_t got_ab, got_ba;     /* of those, arrived at b (from a) and at a (from b) */
	uint64_t a_up, a_down, b_up, b_down; /* each peer's UDP to and from the server */
	uint64_t relay_up, relay_down;       /* punch's RELAY messages to and from the server */
};

/* The verdict word ("direct", "relayed", "failed", "unproven") for counts c
 * of peers named a and b; same_router: their path does not cross the
 * internet; checked: a check passed in both peers. why gets the reason with
 * the numbers. */
const char *progverdict(const struct progverdict_counts *c, const char *a, const char *b, bool same_router,
			bool checked, char *why, size_t whysize);

#endif
