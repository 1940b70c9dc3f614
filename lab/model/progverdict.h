/* The path a program under test took, decided from what the network
 * delivered (pure: the counting is the witness's, kernel/witness.h, the
 * same as for the built-in pair; scenario.c's judge_by_network() reads it).
 *
 * The network's own verdict (evidence_verdict()) holds for a pair whose
 * protocol it knows. A program under test succeeded by its exit status or
 * check, and the counts must also show the path it took:
 *
 * direct:   UDP from each peer was delivered to the other's host (counted
 *           in each peer's namespace, whatever the network's shape);
 * relayed:  not direct, but each host received UDP from the server and sent
 *           it some, and a check passed in both peers (without a check,
 *           traffic with the server cannot be told from signalling), or
 *           punch's own RELAY messages were delivered to both (only when
 *           the peers speak punch's protocol: evidence.wire);
 * failed:   UDP between them was sent, but delivered one way at most;
 * unproven: nothing shows the peers reached each other.
 * Called only for programs that succeeded (exit status or check).
 */
#ifndef PUNCH_PROGVERDICT_H
#define PUNCH_PROGVERDICT_H

#include <stdbool.h>
#include <stddef.h>

#include "model/evidence.h"

/* The verdict word ("direct", "relayed", "failed", "unproven") for what e
 * counted for peers named a (peers[0]) and b; checked: a check passed in
 * both peers. why gets the reason with the numbers. */
const char *progverdict(const struct evidence *e, const char *a, const char *b, bool checked, char *why,
			size_t whysize);

#endif
