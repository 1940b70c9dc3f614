/* The path of a program under test from the network's counts. */
#include "model/progverdict.h"

#include <inttypes.h>
#include <stdio.h>

const char *progverdict(const struct evidence *e, const char *a, const char *b, bool checked, char *why,
			size_t size)
{
	const struct evidence_peer *pa = &e->peers[0], *pb = &e->peers[1];
	bool server_both = pa->to_server && pa->from_server && pb->to_server && pb->from_server;

	if (pa->from_partner && pb->from_partner) {
		snprintf(why, size, "UDP from each peer was delivered to the other's host: %" PRIu64 " of %" PRIu64
			 " %s->%s, %" PRIu64 " of %" PRIu64 " %s->%s", pb->from_partner, pa->to_partner, a, b,
			 pa->from_partner, pb->to_partner, b, a);
		return "direct";
	}
	if (server_both && checked) {
		snprintf(why, size, "no direct path (%s->%s %" PRIu64 " sent, %" PRIu64 " delivered; %s->%s %" PRIu64
			 " sent, %" PRIu64 " delivered), but each peer exchanged UDP with the server (%s %" PRIu64 "/%"
			 PRIu64 ", %s %" PRIu64 "/%" PRIu64 " sent/received) and the check passed in both", a, b,
			 pa->to_partner, pb->from_partner, b, a, pb->to_partner, pa->from_partner, a, pa->to_server,
			 pa->from_server, b, pb->to_server, pb->from_server);
		return "relayed";
	}
	/* A program that speaks punch's own protocol (punch-client against a server of
	 * the user's): its RELAY messages are visible as such, as for the built-in pair. */
	if (e->wire && pa->relay && pb->relay) {
		snprintf(why, size, "no direct path, but RELAY messages from the server were delivered to both: %"
			 PRIu64 " to %s, %" PRIu64 " to %s", pa->relay, a, pb->relay, b);
		return "relayed";
	}
	if (pa->to_partner || pb->to_partner) {
		snprintf(why, size, "the programs exited 0, but UDP between them was delivered one way at most: %s->%s %"
			 PRIu64 " sent, %" PRIu64 " delivered; %s->%s %" PRIu64 " sent, %" PRIu64 " delivered", a, b,
			 pa->to_partner, pb->from_partner, b, a, pb->to_partner, pa->from_partner);
		return "failed";
	}
	if (server_both)
		snprintf(why, size, "the programs exited 0, but no UDP went between the peers, and traffic with "
			 "the server alone (%s %" PRIu64 "/%" PRIu64 ", %s %" PRIu64 "/%" PRIu64 " sent/received) cannot "
			 "be told from signalling: give a check that shows data arriving", a, pa->to_server,
			 pa->from_server, b, pb->to_server, pb->from_server);
	else
		snprintf(why, size, "the programs exited 0, but no UDP went between the peers and none was "
			 "exchanged with the server by both: nothing shows they reached each other");
	return "unproven";
}
