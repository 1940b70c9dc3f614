/* Reporters: scenario results as a live line, a summary table, TAP, JUnit
 * XML, JSON and Markdown.
 *
 * Pure functions over plain values, each writing one format to a FILE* (a
 * terminal, a file, or open_memstream() in the tests). Every string may be
 * hostile (quotes, markup, control characters, invalid UTF-8): each format
 * escapes what it must, replaces invalid UTF-8 with U+FFFD where the format
 * requires valid text, and never lets a string break its structure.
 * Each returns 0, or -EIO if the stream reported an error, or -ENOMEM.
 */
#ifndef PUNCH_REPORT_H
#define PUNCH_REPORT_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>
#include <stdio.h>

/* One program of a scenario; an empty name means the slot is unused. */
struct report_peer {
	char name[32];
	char outcome[16];       /* what the peer reported: "direct", "relayed", "failed" */
	int exit_code;          /* -1 if it did not exit normally */
	char *json;             /* the client's JSON report as it printed it, or NULL */
	char *stderr_tail;      /* the end of its stderr, or NULL */
};

struct report_scenario {
	char *name;             /* e.g. "pr-cone-vs-symmetric" */
	char *file;             /* topology file, or NULL */
	char *description;      /* or NULL */
	char expected[16];      /* "direct" | "relayed" | "failed" */
	char actual[16];        /* what happened, or "error" */
	bool pass;              /* verdict (ignored when error is set) */
	char *error;            /* the lab could not run the scenario, or NULL */
	char *detail;           /* on a mismatch: what each side saw (multi-line), or NULL */
	char *selfcheck;        /* the self-check, a line per router ("home-a: eim apdf preserve
				   hairpin=no, as declared"), or NULL when it did not run */
	double seconds;
	struct report_peer peers[2];
	uint64_t seed;          /* the run's seed: punchlab run --seed replays its ports */
	char *conntrack;        /* evidence: each router's UDP conntrack entries after the pair
				   ran, "ROUTER: ENTRY" lines, or NULL */
};

/* The verdict as a word: "ERROR" when error is set, else "PASS" or "FAIL". */
const char *report_verdict(const struct report_scenario *s);

/* One line as a scenario finishes, e.g.
 *   PASS   pr-cone-vs-symmetric        relayed (expected relayed)  1.23s
 * FAIL and ERROR in red when color; the error or the detail of a failure
 * follows, indented. */
int report_live_line(FILE *f, const struct report_scenario *s, bool color);

/* An aligned table (scenario, expected, actual, verdict, time), then the
 * count line "N passed, N failed" (", N error(s)" added when there are any). */
int report_summary(FILE *f, const struct report_scenario *s, size_t n, bool color);

/* TAP version 13: plan, "ok N - name" lines, a YAML block (expected,
 * actual, error, detail, seconds) under each failure. */
int report_tap(FILE *f, const struct report_scenario *s, size_t n);

/* JUnit XML: one <testsuites> with one <testsuite name="punchlab">; a
 * <testcase> per scenario with <failure> (mismatch) or <error> (could not
 * run), the peers' JSON reports in <system-out> and stderr tails in
 * <system-err>. */
int report_junit(FILE *f, const struct report_scenario *s, size_t n);

/* One JSON document: {"summary": {...}, "scenarios": [...]}; each peer's
 * report is embedded as an object when it parses as one, else as a string. */
int report_json(FILE *f, const struct report_scenario *s, size_t n);

/* A Markdown table for CI job summaries, the count line, and the detail of
 * each failure in a collapsed block. */
int report_markdown(FILE *f, const struct report_scenario *s, size_t n);

#endif
