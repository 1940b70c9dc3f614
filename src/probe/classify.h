/* NAT behaviour classification (RFC 5780 / RFC 4787), pure: observations in,
 * classification out, and the comparison with a declared behaviour.
 *
 * The observations come from punch-probe's client (src/probe/main.c), which
 * makes them on the network:
 *  - mapping: one local socket asks the server at A1:P1, A2:P1 and A2:P2 for
 *    the source address it observed (T1, T2, T3 of RFC 5780 section 4.3);
 *  - port samples: fresh local sockets, one after the other, each ask A1:P1
 *    (port preservation and sequential allocation);
 *  - filtering: a fresh socket that only ever sent to A1:P1 asks for answers
 *    from A1:P1, from A1:P2 (change port) and from A2:P2 (change address and
 *    port) (section 4.4);
 *  - hairpin: a second local socket sends to the first one's mapping
 *    (section 4.5).
 * An answer counts as absent only after the client's deadline and several
 * retransmissions, so "not answered" here means "filtered", not "lost".
 */
#ifndef PUNCH_CLASSIFY_H
#define PUNCH_CLASSIFY_H

#include <stdbool.h>
#include <stddef.h>

#include <json-c/json.h>

#include "common/addr.h"
#include "nat/behavior.h"

#define CLASSIFY_SAMPLES 3 /* port samples besides the mapping socket */
#define CLASSIFY_MAX_DIFFS 8
#define CLASSIFY_MAX_STEP 16 /* a larger distance between fresh ports is not "sequential" */

enum classify_dest { CLASSIFY_A1P1 = 0, CLASSIFY_A2P1, CLASSIFY_A2P2, CLASSIFY_NDEST };

enum classify_tri { CLASSIFY_UNKNOWN = 0, CLASSIFY_NO, CLASSIFY_YES };

struct classify_mapped {
	bool answered;
	struct addr local;  /* the local socket's own address */
	struct addr mapped; /* the source address the server observed */
};

struct classify_obs {
	/* T1..T3 from one socket: .local is the same in all three */
	struct classify_mapped mapping[CLASSIFY_NDEST];
	/* fresh sockets asking A1:P1, in the order their mappings were made */
	struct classify_mapped samples[CLASSIFY_SAMPLES];
	int n_samples;
	/* filtering socket: answer from A1:P1 (the same), from A1:P2, from A2:P2 */
	enum classify_tri filter_same, filter_change_port, filter_change_ip_port;
	/* hairpin: tested only when T1 gave a mapping */
	enum classify_tri hairpin;
	bool hairpin_from_mapped; /* the hairpinned packet came from the sender's own mapping */
	/* inbound-reply: after an answer from another address (and port), or
	 * else another port, got in, the filtering socket asks that server
	 * socket directly; the mapping it saw (answered: false when not asked). */
	struct classify_mapped reply;
	bool reply_other_address; /* the admitted answer came from another address, not only port */
};

struct classify_result {
	bool udp_blocked;       /* T1 never answered: nothing else is known */
	bool translated;        /* T1 saw another address than the local one */
	bool mapping_known;
	enum nat_mapping mapping; /* MAP_NONE when not translated */
	bool filtering_known;
	enum nat_filtering filtering; /* never FILTER_OPEN: from inside, open looks like EIF */
	bool ports_known;
	enum nat_ports ports;
	/* Port allocation as seen: whether T1 kept its local port, the distance
	 * between the external ports of consecutive fresh sockets when it is the
	 * same each time (sequential; 0: none), and the lowest and highest
	 * external port that was not a preserved one, of the sockets on the
	 * mapping socket's address (n_alloc of them). */
	bool inbound_reply_known; /* only an endpoint-dependent mapping can show it */
	enum nat_inbound_reply inbound_reply;
	bool port_preserving;
	unsigned port_step;
	unsigned alloc_lo, alloc_hi;
	int n_alloc;
	enum classify_tri hairpin;
};

/* One property that differs between the declaration and the network. */
struct classify_diff {
	const char *property;   /* "udp_blocked" "nat" "mapping" "filtering" "ports" "hairpin" */
	const char *declared;   /* short names as in nat.h, "yes"/"no" */
	const char *observed;   /* the same, or "unknown" */
};

/* Classify observations. Never fails: what cannot be told is "unknown". */
void classify_decide(const struct classify_obs *obs, struct classify_result *res);

/* Compare a declared behaviour (nat false: a firewall or open router with
 * routed addresses) with a classification. For a translating NAT also the
 * port allocation: a sequential NAT's step (port-step, default 1) and every
 * allocated (not preserved) port inside the declared port-range. Declared filtering "open" is taken
 * as EIF, hairpin is compared for translating NATs only, and nothing but
 * udp_blocked is compared for a NAT declared or found to block UDP.
 * Fills diffs[0..n) (at most CLASSIFY_MAX_DIFFS) and returns n: 0 = matches.
 * Every pointer in diffs points at static strings. */
int classify_compare(const struct nat_behavior *declared, bool nat, const struct classify_result *res,
		     struct classify_diff *diffs);

/* One --expect-WHAT VALUE of punch-probe classify into b: "port-step" (1..
 * CLASSIFY_MAX_STEP), "port-range" (LO-HI), "block-size" (1..65535) or
 * "inbound-reply" (session | new-mapping). Returns 0, or -EINVAL for anything
 * else. A NAT declared ports = block matches random ports that all lie
 * within one block-size span. */
int classify_parse_expect(const char *what, const char *v, struct nat_behavior *b);

/* "preserve"... as nat.h names them, or "unknown". */
const char *classify_mapping_name(const struct classify_result *res);
const char *classify_filtering_name(const struct classify_result *res);
const char *classify_ports_name(const struct classify_result *res);
const char *classify_tri_name(enum classify_tri t); /* "yes" "no" "unknown" */
const char *classify_inbound_reply_name(const struct classify_result *res); /* or "unknown" */

/* The classification and the raw observations as one JSON object (see
 * punch-probe(1) for its fields). Returns a new object, or NULL when out of
 * memory. */
json_object *classify_to_json(const struct classify_obs *obs, const struct classify_result *res);

/* Add "expected", "match" and "mismatches" to a classify_to_json() object.
 * Returns 0 or -ENOMEM. */
int classify_json_add_compare(json_object *o, const struct nat_behavior *declared, bool nat,
			      const struct classify_diff *diffs, int n);

#endif
