/* One scenario's result as data, and its one JSON codec.
 *
 * A worker fills a struct result, encodes it (result_to_json) and writes it
 * on its pipe; the parent decodes it (result_from_json) into the same struct;
 * the reporters (report.h, matrix_report.h) read the struct; the --json
 * report is an array of the same objects. Outcomes and verdicts are enums,
 * the self-check is one record per router in the behaviour vocabulary of
 * nat/behavior.h, the network's evidence is numbers. Strings are what only
 * text can say: names, the error, the mismatch detail, a peer's log.
 *
 * The JSON object of one result (keys in this order; null where absent):
 *   name, file, description        strings
 *   expected                       "direct" | "relayed" | "failed" | null (not derived)
 *   actual                         result_outcome_name(): "direct" ... "error"
 *   verdict                        "pass" | "fail" | "error"
 *   pass                           boolean, verdict == "pass"
 *   error, detail                  strings
 *   selfcheck                      null (did not run) or [ router... ]:
 *       { name, family (4|6), checked, match, declared: behaviour,
 *         observed: behaviour | null, note }
 *       behaviour: { nat, udp_blocked, mapping, filtering, ports, hairpin }
 *       with the short names of nat/behavior.h, "unknown" (hairpin: null)
 *       where the probe could not tell
 *   evidence                       null (not counted) or
 *       { verdict: "direct" | "relayed" | "failed" (the network's), or
 *                  "unproven" (programs under test: model/progverdict.h),
 *         peers: [ { name, from_partner, from_server, relayed,
 *                    sent_to_partner, endpoint (string | null) } x2 ],
 *         explanation: string | null,
 *         detail: the per-peer, per-router object of evidence_json() | null }
 *   seed                           number: the run's seed (punchlab run --seed N replays its ports)
 *   conntrack                      string: each router's UDP conntrack entries after the
 *                                  pair ran, "ROUTER: ENTRY" lines; null when not taken
 *   seconds                        number, milliseconds' precision
 *   peers                          [ { name, outcome, exit_code, report, stderr_tail } ]
 *   repetition                     1..N with --repeat N, else null
 *   expect_rate                    the topology's expect-rate (0..1], else null
 *       report: the client's JSON object, or its text when it printed no
 *       single JSON object, or null
 */
#ifndef PUNCH_RESULT_H
#define PUNCH_RESULT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/model.h"
#include "nat/behavior.h"

struct json_object;

/* What happened: the model's three outcomes and what else a run can end in. */
enum result_outcome {
	RESULT_NONE = 0,        /* nothing: a peer printed no report, or the run never got that far */
	RESULT_DIRECT,
	RESULT_RELAYED,
	RESULT_FAILED,
	RESULT_MIXED,           /* the two peers reported different outcomes */
	RESULT_UNPROVEN,        /* programs under test succeeded, but the counts do not show a path */
	RESULT_ERROR,           /* the lab could not run the scenario */
	RESULT_UNKNOWN,         /* a peer reported a word that is none of these */
};

enum result_verdict {
	VERDICT_PASS = 0,
	VERDICT_FAIL,           /* ran to an outcome that is not the expected one */
	VERDICT_ERROR,          /* could not run: error says why */
};

/* A behaviour, declared or observed: the values of nat/behavior.h, -1 where
 * a classifier could not tell. */
struct result_behavior {
	bool nat;               /* translates addresses (false: a firewall or open router) */
	bool udp_blocked;
	int mapping;            /* enum nat_mapping, or -1 */
	int filtering;          /* enum nat_filtering, or -1 */
	int ports;              /* enum nat_ports, or -1 */
	int hairpin;            /* 1, 0, or -1 */
};

/* One router's self-check. */
struct result_router {
	char name[MODEL_NAME_MAX];
	int family;             /* 4, or 6: the same router classified over IPv6 */
	bool checked;           /* false: not classified (note says why) */
	bool observed_valid;    /* observed holds a classification */
	bool match;             /* observed as declared */
	struct result_behavior declared, observed;
	char note[384];         /* why it was not classified or the probe failed, or what differs; "" */
};

/* What one peer's host received, counted in its own namespace by the lab
 * (model/evidence.h, kernel/witness.h), not said by the programs. */
struct result_evidence_peer {
	uint64_t from_partner;  /* UDP from the partner delivered to this peer's host */
	uint64_t from_server;   /* UDP from the server delivered to it */
	uint64_t relayed;       /* of those, RELAY messages (the built-in pair; else 0) */
	uint64_t sent_to_partner; /* UDP this peer sent towards the partner (attempts) */
	char endpoint[64];      /* the partner endpoint it received most from, "IP:PORT" or "[IPv6]:PORT", or "" */
};

/* The network's evidence and verdict. Filled by witness_judge(). */
struct result_evidence {
	bool counted;           /* false: no numbers (not watched, or the run never got that far) */
	enum result_outcome verdict; /* the network's: DIRECT, RELAYED or FAILED; for programs under
					test also UNPROVEN (model/progverdict.h) */
	struct result_evidence_peer peers[2]; /* indexed like result.peers */
	char *explanation;      /* a sentence or two on what the network saw (the routers' drops), or NULL */
	struct json_object *detail; /* everything counted, per peer and per router (evidence_json()), or NULL */
};

/* One program of the pair; an empty name means the slot is unused. */
struct result_peer {
	char name[32];
	enum result_outcome outcome; /* what it reported (NONE, DIRECT, RELAYED, FAILED or UNKNOWN) */
	int exit_code;          /* -1 if it did not exit normally */
	struct json_object *report; /* its JSON report, parsed once (an object), or its text (a string), or NULL */
	char *stderr_tail;      /* the end of its stderr, or NULL */
};

struct result {
	char *name;             /* e.g. "pr-cone-vs-symmetric" */
	char *file;             /* topology or matrix file, or NULL */
	char *description;      /* or NULL */
	enum outcome expected;  /* OUTCOME_UNSET: not derived (an error came first) */
	enum result_outcome actual;
	enum result_verdict verdict;
	char *error;            /* VERDICT_ERROR: what went wrong; else NULL */
	char *detail;           /* on a mismatch: what each side saw (multi-line), or NULL */
	struct result_router *routers; /* the self-check, or NULL when it did not run */
	int n_routers;
	bool selfcheck_ran;
	struct result_evidence evidence;
	uint64_t seed;          /* the run's seed: punchlab run --seed replays its ports */
	char *conntrack;        /* evidence: each router's UDP conntrack entries after the pair
				   ran, "ROUTER: ENTRY" lines (the kernel's text), or NULL */
	double seconds;
	struct result_peer peers[2];
	int repetition;         /* 1..N of punchlab run --repeat N; 0: not repeated */
	double expect_rate;     /* the topology's expect-rate (report/stats.h); 0: none */
};

/* The words: "none" "direct" "relayed" "failed" "mixed" "unproven" "error"
 * "unknown"; and "pass" "fail" "error". */
const char *result_outcome_name(enum result_outcome o);
const char *result_verdict_name(enum result_verdict v);
/* The value of an outcome word, RESULT_UNKNOWN for any other. */
enum result_outcome result_outcome_parse(const char *s);
/* The model's outcome as a result outcome (UNSET: NONE). */
enum result_outcome result_outcome_of(enum outcome o);
/* The expected outcome as a word, "" when not derived. */
const char *result_expected_name(const struct result *r);

/* Set r to an error result for name/file: verdict ERROR, actual ERROR,
 * error the text (copied). Returns 0 or -ENOMEM. What r held is not freed
 * (it may be uninitialised): clear a filled result first. */
int result_set_error(struct result *r, const char *name, const char *file, const char *error);

/* A behaviour in words: "eim apdf preserve hairpin=no", "firewall adf",
 * "udp-blocked" ("unknown" for what could not be told) into buf. */
void result_behavior_describe(const struct result_behavior *b, char *buf, size_t size);

/* Encode r as a JSON object (a new reference), or NULL out of memory. */
struct json_object *result_to_object(const struct result *r);
/* Decode one result object into r (cleared first). Unknown keys are
 * ignored; a missing or mistyped required key (name, verdict, actual) or an
 * unknown word is -EBADMSG. r is left cleared on failure. */
int result_from_object(struct json_object *o, struct result *r);

/* The same as text: one line of compact JSON (malloc'd), or NULL. */
char *result_to_json(const struct result *r);
/* Parse text (exactly one JSON object, valid UTF-8: the encoder replaces
 * invalid bytes with U+FFFD, so what it wrote decodes) into r. -EBADMSG
 * when it is not one. */
int result_from_json(const char *text, size_t len, struct result *r);

/* A client's stdout parsed once: the JSON object when it is exactly one
 * (strict, valid UTF-8), else the text as a JSON string; NULL for NULL. */
struct json_object *result_peer_report(const char *text);
/* The outcome a peer's report states: NONE without a report or an
 * "outcome" string, UNKNOWN for a word that is not an outcome. */
enum result_outcome result_peer_outcome(struct json_object *report);
/* A peer's report as text: the object in compact JSON, or the text it
 * printed; NULL without one. Valid until the report changes. */
const char *result_peer_report_text(const struct result_peer *p);

/* Free what e holds and zero it. */
void result_evidence_clear(struct result_evidence *e);
/* Free what r holds and zero it. */
void result_clear(struct result *r);

#endif
