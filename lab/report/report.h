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
#include <stddef.h>
#include <stdio.h>

#include "report/result.h"

/* The reporters read struct result (report/result.h): the one result type. */
/* The verdict as a word: "PASS", "FAIL" or "ERROR". */
const char *report_verdict(const struct result *s);

/* The network's evidence in one line, e.g. "network: failed; alice received
 * 54 of 108 datagrams from bob (203.0.113.21:40002) and 0 relayed; bob
 * received 0 of 162 datagrams from alice and 0 relayed" (of what the other
 * sent towards its addresses): a malloc'd text, or NULL when nothing was
 * counted (or no memory). */
char *report_evidence_line(const struct result *s);

/* One line as a scenario finishes, e.g.
 *   PASS   pr-cone-vs-symmetric        relayed (expected relayed)  1.23s
 * FAIL and ERROR in red when color; the error or the detail of a failure
 * follows, indented. */
int report_live_line(FILE *f, const struct result *s, bool color);

/* An aligned table (scenario, expected, actual, verdict, time), then the
 * count line "N passed, N failed" (", N error(s)" added when there are any). */
int report_summary(FILE *f, const struct result *s, size_t n, bool color);

/* TAP version 13: plan, "# seed N" (the run's, from the first result),
 * "ok N - name" lines, a YAML block (expected, actual, error, detail,
 * seconds) under each failure; the network's evidence (network, evidence,
 * explanation) in the block of every scenario where it was counted. */
int report_tap(FILE *f, const struct result *s, size_t n);

/* JUnit XML: one <testsuites> with one <testsuite name="punchlab"> whose
 * <properties> hold the run's seed; a
 * <testcase> per scenario with <failure> (mismatch) or <error> (could not
 * run), the peers' JSON reports in <system-out> and stderr tails in
 * <system-err>. */
int report_junit(FILE *f, const struct result *s, size_t n);

/* One JSON document: {"summary": {...}, "scenarios": [...]}, each scenario
 * the object of result_to_object() (the codec the workers use too); with
 * interrupted, "interrupted": true in the summary. */
int report_json(FILE *f, const struct result *s, size_t n);

/* Read a document report_json() wrote back into results (for merge and
 * diff): *out (free with report_results_free) and *n. Returns 0, or
 * -EBADMSG when the text is not one such document or a scenario does not
 * decode (result_from_object), or -ENOMEM; *out is NULL then. */
int report_json_read(const char *text, size_t len, struct result **out, size_t *n);
void report_results_free(struct result *rs, size_t n);

/* A Markdown table for CI job summaries, the count line, the run's seed,
 * and the detail of
 * each failure in a collapsed block. */
int report_markdown(FILE *f, const struct result *s, size_t n);

#endif
