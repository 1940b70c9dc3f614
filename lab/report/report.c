/* Reporters: pure formatting of scenario results. The only shared
 * difficulty is hostile text, handled by one UTF-8 decoder and one escaper
 * per format (the terminal, Markdown-cell and XML ones in textout.c, which
 * the matrix picture uses too). */
#include "report/report.h"
#include "report/stats.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "report/textout.h"

#define COLOR_RED "\033[1;31m"
#define COLOR_GREEN "\033[32m"
#define COLOR_OFF "\033[0m"
#define NAME_WIDTH 28 /* live lines align on typical names; longer ones push on */

static int stream_status(FILE *f)
{
	return ferror(f) ? -EIO : 0;
}

static void count_verdict(const struct result *r, size_t *passed, size_t *failed, size_t *errors)
{
	if (r->verdict == VERDICT_ERROR)
		(*errors)++;
	else if (r->verdict == VERDICT_PASS)
		(*passed)++;
	else
		(*failed)++;
}

/* ---- terminal ----------------------------------------------------------- */

/* A colored word padded to width: the escapes must not count as columns. */
static void put_verdict(FILE *f, const struct result *s, bool color, size_t width)
{
	const char *v = report_verdict(s);
	const char *c = s->verdict != VERDICT_PASS ? COLOR_RED : COLOR_GREEN;

	fprintf(f, "%s%s%s", color ? c : "", v, color ? COLOR_OFF : "");
	text_pad(f, strlen(v), width);
}

const char *report_verdict(const struct result *s)
{
	return s->verdict == VERDICT_ERROR ? "ERROR" : s->verdict == VERDICT_PASS ? "PASS" : "FAIL";
}

char *report_evidence_line(const struct result *s)
{
	const struct result_evidence *e = &s->evidence;
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	if (!e->counted || !(f = open_memstream(&text, &len)))
		return NULL;
	fprintf(f, "network: %s", result_outcome_name(e->verdict));
	for (int k = 0; k < 2; k++) {
		const char *me = s->peers[k].name[0] ? s->peers[k].name : k ? "peer 2" : "peer 1";
		const char *other = s->peers[1 - k].name[0] ? s->peers[1 - k].name : k ? "peer 1" : "peer 2";

		fprintf(f, "; %s received %" PRIu64 " of %" PRIu64 " datagrams from %s", me,
			e->peers[k].from_partner, e->peers[1 - k].sent_to_partner, other);
		if (e->peers[k].endpoint[0])
			fprintf(f, " (%s)", e->peers[k].endpoint);
		fprintf(f, " and %" PRIu64 " relayed", e->peers[k].relayed);
	}
	if (fclose(f) != 0) {
		free(text);
		return NULL;
	}
	return text;
}

/* A multi-line text under a line, each line indented. */
static void put_block(FILE *f, const char *label, const char *text)
{
	const char *indent = "       ";

	fputs(indent, f);
	if (label)
		fputs(label, f);
	text_put_term(f, text, true, indent);
	if (!*text || text[strlen(text) - 1] != '\n')
		fputc('\n', f);
}

/* The name on a terminal, "#K" after it for the K-th of repeated runs;
 * returns the width written. */
static size_t put_name_term(FILE *f, const struct result *s)
{
	size_t w = text_put_term(f, s->name, false, "");

	if (s->repetition)
		w += (size_t)fprintf(f, "#%d", s->repetition);
	return w;
}

static size_t name_width(const struct result *s)
{
	char rep[16];

	return text_term_width(s->name) + (s->repetition ? (size_t)snprintf(rep, sizeof(rep), "#%d", s->repetition) : 0);
}

int report_live_line(FILE *f, const struct result *s, bool color)
{
	put_verdict(f, s, color, 7);
	text_pad(f, put_name_term(f, s), NAME_WIDTH);
	fputs("  ", f);
	text_put_term(f, result_outcome_name(s->actual), false, "");
	fputs(" (expected ", f);
	text_put_term(f, *result_expected_name(s) ? result_expected_name(s) : "-", false, "");
	fprintf(f, ")  %.2fs\n", s->seconds);
	if (s->verdict == VERDICT_ERROR)
		put_block(f, "error: ", text_str(s->error));
	else if (s->verdict == VERDICT_FAIL && s->detail)
		put_block(f, NULL, s->detail);
	if (s->verdict == VERDICT_FAIL && s->evidence.counted) {
		char *line = report_evidence_line(s);

		put_block(f, NULL, line ? line : "network: (no memory)");
		if (s->evidence.explanation && !(s->detail && strstr(s->detail, s->evidence.explanation)))
			put_block(f, NULL, s->evidence.explanation);
		free(line);
	}
	return stream_status(f);
}

int report_summary(FILE *f, const struct result *s, size_t n, bool color)
{
	size_t wn = strlen("SCENARIO"), we = strlen("EXPECTED"), wa = strlen("ACTUAL");
	size_t passed = 0, failed = 0, errors = 0;

	for (size_t i = 0; i < n; i++) {
		size_t w;

		if ((w = name_width(&s[i])) > wn)
			wn = w;
		if ((w = text_term_width(result_expected_name(&s[i]))) > we)
			we = w;
		if ((w = text_term_width(result_outcome_name(s[i].actual))) > wa)
			wa = w;
	}
	fprintf(f, "%-*s  %-*s  %-*s  %-7s  %s\n", (int)wn, "SCENARIO", (int)we, "EXPECTED",
		(int)wa, "ACTUAL", "VERDICT", "TIME");
	for (size_t i = 0; i < n; i++) {
		text_pad(f, put_name_term(f, &s[i]), wn + 2);
		text_pad(f, text_put_term(f, result_expected_name(&s[i]), false, ""), we + 2);
		text_pad(f, text_put_term(f, result_outcome_name(s[i].actual), false, ""), wa + 2);
		put_verdict(f, &s[i], color, 9);
		fprintf(f, "%.2fs\n", s[i].seconds);
		count_verdict(&s[i], &passed, &failed, &errors);
	}
	fprintf(f, "\n%zu passed, %zu failed", passed, failed);
	if (errors)
		fprintf(f, ", %zu error%s", errors, errors == 1 ? "" : "s");
	fprintf(f, "\n");
	return stream_status(f);
}

/* ---- TAP ---------------------------------------------------------------- */

/* A test description: one line, and '#' escaped so it cannot start a directive. */
static void put_tap_char(FILE *f, uint32_t cp, const unsigned char *bytes, size_t len, bool last, void *ctx)
{
	(void)last;
	(void)ctx;
	if (cp == TEXT_INVALID)
		fputs(TEXT_REPLACEMENT, f);
	else if (cp == '#' || cp == '\\')
		fprintf(f, "\\%c", (char)cp);
	else if (text_is_control(cp))
		fputc(' ', f);
	else
		fwrite(bytes, 1, len, f);
}

static void put_tap_desc(FILE *f, const char *s)
{
	text_walk(f, s, put_tap_char, NULL);
}

/* A YAML double-quoted scalar. TAP::Parser's YAML reader knows \xNN but not
 * \uNNNN, so non-ASCII text is written as UTF-8. */
static void put_yaml_char(FILE *f, uint32_t cp, const unsigned char *bytes, size_t len, bool last, void *ctx)
{
	(void)last;
	(void)ctx;
	if (cp == '"' || cp == '\\')
		fprintf(f, "\\%c", (char)cp);
	else if (cp == '\n')
		fputs("\\n", f);
	else if (cp == '\t')
		fputs("\\t", f);
	else if (cp < 0x80 && text_is_control(cp))
		fprintf(f, "\\x%02x", (unsigned)cp);
	else if (cp == TEXT_INVALID || text_is_control(cp))
		fputs(TEXT_REPLACEMENT, f); /* C1 controls: not worth an escape */
	else
		fwrite(bytes, 1, len, f);
}

static void put_yaml_str(FILE *f, const char *s)
{
	fputc('"', f);
	text_walk(f, s, put_yaml_char, NULL);
	fputc('"', f);
}

/* The evidence as YAML keys of a scenario's block. */
static void put_tap_evidence(FILE *f, const struct result *c)
{
	const struct result_evidence *e = &c->evidence;

	if (!e->counted)
		return;
	fputs("  network: ", f);
	put_yaml_str(f, result_outcome_name(e->verdict));
	fputs("\n  evidence:\n", f);
	for (int k = 0; k < 2; k++) {
		fputs("    - peer: ", f);
		put_yaml_str(f, c->peers[k].name);
		fprintf(f,
			"\n      from_partner: %" PRIu64 "\n      from_server: %" PRIu64 "\n      relayed: %" PRIu64
			"\n      sent_to_partner: %" PRIu64 "\n      endpoint: ",
			e->peers[k].from_partner, e->peers[k].from_server, e->peers[k].relayed,
			e->peers[k].sent_to_partner);
		put_yaml_str(f, e->peers[k].endpoint);
		fputc('\n', f);
	}
	if (e->explanation) {
		fputs("  explanation: ", f);
		put_yaml_str(f, e->explanation);
		fputc('\n', f);
	}
}

int report_tap(FILE *f, const struct result *s, size_t n)
{
	size_t passed = 0;

	fprintf(f, "TAP version 13\n1..%zu\n", n);
	if (n)
		fprintf(f, "# seed %llu\n", (unsigned long long)s[0].seed);
	for (size_t i = 0; i < n; i++) {
		const struct result *c = &s[i];
		bool ok = c->verdict == VERDICT_PASS;

		fprintf(f, "%sok %zu - ", ok ? "" : "not ", i + 1);
		put_tap_desc(f, c->name);
		if (c->repetition)
			fprintf(f, " (run %d)", c->repetition);
		fputc('\n', f);
		if (ok && c->evidence.counted) {
			fputs("  ---\n", f);
			put_tap_evidence(f, c);
			fputs("  ...\n", f);
		}
		if (ok) {
			passed++;
			continue;
		}
		fputs("  ---\n  expected: ", f);
		put_yaml_str(f, result_expected_name(c));
		fputs("\n  actual: ", f);
		put_yaml_str(f, result_outcome_name(c->actual));
		if (c->file) {
			fputs("\n  file: ", f);
			put_yaml_str(f, c->file);
		}
		if (c->error) {
			fputs("\n  error: ", f);
			put_yaml_str(f, c->error);
		}
		if (c->detail) {
			fputs("\n  detail: ", f);
			put_yaml_str(f, c->detail);
		}
		fprintf(f, "\n  seconds: %.2f\n", c->seconds);
		put_tap_evidence(f, c);
		fputs("  ...\n", f);
	}
	fprintf(f, "# %zu passed, %zu failed\n", passed, n - passed);
	return stream_status(f);
}

/* ---- JUnit XML ---------------------------------------------------------- */

/* "punchlab." and the topology file's base name without its extension,
 * so CI tools group scenarios by file. */
static void put_classname(FILE *f, const char *file)
{
	const char *base, *dot;
	char *name;

	if (!file || !*file) {
		fputs("punchlab", f);
		return;
	}
	base = strrchr(file, '/');
	base = base ? base + 1 : file;
	dot = strrchr(base, '.');
	name = strndup(base, dot && dot != base ? (size_t)(dot - base) : strlen(base));
	for (char *c = name; c && *c; c++)
		if (*c == '.')
			*c = '_';
	fputs("punchlab.", f);
	text_put_xml(f, name ? name : base, TEXT_XML_ATTR);
	free(name);
}

static bool has_peers(const struct result *c)
{
	return c->peers[0].name[0] || c->peers[1].name[0];
}

/* The network's evidence at the top of a testcase's <system-out>: the line,
 * the explanation, and everything counted as one JSON object. */
static void put_junit_evidence(FILE *f, const struct result *c)
{
	char *line;

	if (!c->evidence.counted)
		return;
	line = report_evidence_line(c);
	text_put_xml(f, line ? line : "network: (no memory)", TEXT_XML_DATA);
	fputc('\n', f);
	free(line);
	if (c->evidence.explanation) {
		text_put_xml(f, c->evidence.explanation, TEXT_XML_DATA);
		fputc('\n', f);
	}
	if (c->evidence.detail) {
		fputs("evidence: ", f);
		text_put_xml(f,
			     json_object_to_json_string_ext(c->evidence.detail,
							    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE),
			     TEXT_XML_DATA);
		fputc('\n', f);
	}
}

int report_junit(FILE *f, const struct result *s, size_t n)
{
	size_t failures = 0, errors = 0;
	double total = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i].verdict == VERDICT_ERROR)
			errors++;
		else if (s[i].verdict == VERDICT_FAIL)
			failures++;
		total += s[i].seconds;
	}
	fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
	fprintf(f, "<testsuites name=\"punchlab\" tests=\"%zu\" failures=\"%zu\" errors=\"%zu\" time=\"%.3f\">\n",
		n, failures, errors, total);
	fprintf(f, "  <testsuite name=\"punchlab\" tests=\"%zu\" failures=\"%zu\" errors=\"%zu\" skipped=\"0\" time=\"%.3f\">\n",
		n, failures, errors, total);
	if (n)
		fprintf(f, "    <properties>\n      <property name=\"seed\" value=\"%llu\"/>\n    </properties>\n",
			(unsigned long long)s[0].seed);
	for (size_t i = 0; i < n; i++) {
		const struct result *c = &s[i];
		bool any_err = false;

		fputs("    <testcase name=\"", f);
		text_put_xml(f, c->name, TEXT_XML_ATTR);
		/* each repetition a test of its own name: CI systems merge equal names */
		if (c->repetition)
			fprintf(f, "#%d", c->repetition);
		fputs("\" classname=\"", f);
		put_classname(f, c->file);
		fprintf(f, "\" time=\"%.3f\"", c->seconds);
		if (c->verdict == VERDICT_PASS && !has_peers(c) && !c->evidence.counted) {
			fputs("/>\n", f);
			continue;
		}
		fputs(">\n", f);
		if (c->verdict == VERDICT_ERROR) {
			fputs("      <error message=\"", f);
			text_put_xml(f, text_str(c->error), TEXT_XML_ATTR);
			fputs("\" type=\"error\">", f);
			text_put_xml(f, text_str(c->error), TEXT_XML_DATA);
			fputs("</error>\n", f);
		} else if (c->verdict == VERDICT_FAIL) {
			fputs("      <failure message=\"expected ", f);
			text_put_xml(f, result_expected_name(c), TEXT_XML_ATTR);
			fputs(", got ", f);
			text_put_xml(f, result_outcome_name(c->actual), TEXT_XML_ATTR);
			fputs("\" type=\"mismatch\">", f);
			text_put_xml(f, c->detail ? c->detail : "", TEXT_XML_DATA);
			fputs("</failure>\n", f);
		}
		if (has_peers(c) || c->evidence.counted) {
			fputs("      <system-out>", f);
			put_junit_evidence(f, c);
			for (size_t k = 0; k < 2; k++) {
				const struct result_peer *p = &c->peers[k];
				const char *json = result_peer_report_text(p);

				if (!p->name[0])
					continue;
				fputs("peer ", f);
				text_put_xml(f, p->name, TEXT_XML_DATA);
				fprintf(f, " (exit %d, ", p->exit_code);
				text_put_xml(f, result_outcome_name(p->outcome), TEXT_XML_DATA);
				fputs("): ", f);
				text_put_xml(f, json ? json : "(no report)", TEXT_XML_DATA);
				if (!json || !*json || json[strlen(json) - 1] != '\n')
					fputc('\n', f);
				any_err |= p->stderr_tail && *p->stderr_tail;
			}
			fputs("</system-out>\n", f);
		}
		if (any_err) {
			fputs("      <system-err>", f);
			for (size_t k = 0; k < 2; k++) {
				const struct result_peer *p = &c->peers[k];

				if (!p->name[0] || !p->stderr_tail || !*p->stderr_tail)
					continue;
				fputs("== ", f);
				text_put_xml(f, p->name, TEXT_XML_DATA);
				fputc('\n', f);
				text_put_xml(f, p->stderr_tail, TEXT_XML_DATA);
				if (p->stderr_tail[strlen(p->stderr_tail) - 1] != '\n')
					fputc('\n', f);
			}
			fputs("</system-err>\n", f);
		}
		fputs("    </testcase>\n", f);
	}
	fputs("  </testsuite>\n</testsuites>\n", f);
	return stream_status(f);
}

/* ---- JSON --------------------------------------------------------------- */

static int jadd(struct json_object *obj, const char *key, struct json_object *val)
{
	return json_object_object_add(obj, key, val) == 0 ? 0 : -ENOMEM;
}

/* Seconds rounded to milliseconds, as result.c writes them. */
static struct json_object *jseconds(double secs)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%.3f", secs);
	return json_object_new_double_s(secs, buf);
}

/* A number, or null for NAN. */
static struct json_object *jnum(double v)
{
	return isnan(v) ? NULL : json_object_new_double(round(v * 1e4) / 1e4);
}

/* With repeated runs or a declared rate, "rates": each scenario over its
 * runs (report/stats.h). Informative: merge and diff work them out again
 * from the scenarios. Returns 0 or -ENOMEM. */
static int jrates(struct json_object *root, const struct result *s, size_t n)
{
	struct stats_agg *a = NULL;
	struct json_object *arr;
	size_t na = 0;
	int r = -ENOMEM;

	if (stats_aggregate(s, n, &a, &na) < 0)
		return -ENOMEM;
	if (!stats_any_rates(a, na)) {
		free(a);
		return 0;
	}
	arr = json_object_new_array();
	if (!arr || jadd(root, "rates", arr))
		goto cleanup;
	for (size_t i = 0; i < na; i++) {
		struct json_object *o = json_object_new_object();

		if (!o || json_object_array_add(arr, o)) {
			json_object_put(o);
			goto cleanup;
		}
		if (jadd(o, "name", json_object_new_string(text_str(a[i].name))) ||
		    jadd(o, "verdict", json_object_new_string(result_verdict_name(a[i].verdict))) ||
		    jadd(o, "runs", json_object_new_int64(a[i].runs)) ||
		    jadd(o, "passed", json_object_new_int64(a[i].passed)) ||
		    jadd(o, "rate", jnum(a[i].runs ? (double)a[i].passed / a[i].runs : NAN)) ||
		    jadd(o, "interval", json_object_new_string("wilson-95")) ||
		    jadd(o, "lo", jnum(a[i].lo)) || jadd(o, "hi", jnum(a[i].hi)) ||
		    jadd(o, "expect_rate", a[i].expect_rate > 0 ? jnum(a[i].expect_rate) : NULL) ||
		    jadd(o, "direct", json_object_new_int64(a[i].direct)) ||
		    jadd(o, "relayed", json_object_new_int64(a[i].relayed)) ||
		    jadd(o, "failed", json_object_new_int64(a[i].failed)) ||
		    jadd(o, "other", json_object_new_int64(a[i].other)) ||
		    jadd(o, "direct_ms_p50", jnum(a[i].p50_ms)) || jadd(o, "direct_ms_p95", jnum(a[i].p95_ms)))
			goto cleanup;
	}
	r = 0;
cleanup:
	free(a);
	return r;
}

int report_json(FILE *f, const struct result *s, size_t n)
{
	struct json_object *root = json_object_new_object(), *sum = json_object_new_object();
	struct json_object *arr = json_object_new_array();
	size_t passed = 0, failed = 0, errors = 0;
	double total = 0;
	int r = -ENOMEM;

	if (!root || !sum || !arr)
		goto cleanup;
	for (size_t i = 0; i < n; i++) {
		struct json_object *c = result_to_object(&s[i]);

		if (!c || json_object_array_add(arr, c)) {
			json_object_put(c);
			goto cleanup;
		}
		count_verdict(&s[i], &passed, &failed, &errors);
		total += s[i].seconds;
	}
	if (jadd(sum, "total", json_object_new_int64((int64_t)n)) ||
	    jadd(sum, "passed", json_object_new_int64((int64_t)passed)) ||
	    jadd(sum, "failed", json_object_new_int64((int64_t)failed)) ||
	    jadd(sum, "errors", json_object_new_int64((int64_t)errors)) ||
	    jadd(sum, "seconds", jseconds(total)))
		goto cleanup;
	/* Whether or not the add succeeds, the value is no longer ours to free:
	 * a leak on allocation failure beats a double free. */
	r = jadd(root, "summary", sum);
	sum = NULL;
	if (r || (r = jadd(root, "scenarios", arr)) != 0) {
		arr = NULL;
		goto cleanup;
	}
	arr = NULL;
	if ((r = jrates(root, s, n)) != 0)
		goto cleanup;
	fputs(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
						   JSON_C_TO_STRING_NOSLASHESCAPE), f);
	fputc('\n', f);
	r = stream_status(f);
cleanup:
	json_object_put(sum);
	json_object_put(arr);
	json_object_put(root);
	return r;
}

int report_json_read(const char *text, size_t len, struct result **out, size_t *n)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *root = NULL, *arr;
	struct result *rs = NULL;
	size_t count = 0;
	int rc = -EBADMSG;

	*out = NULL;
	*n = 0;
	if (!tok)
		return -ENOMEM;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	if (len <= INT32_MAX)
		root = json_tokener_parse_ex(tok, text, (int)len);
	if (!root || json_tokener_get_error(tok) != json_tokener_success ||
	    json_tokener_get_parse_end(tok) != len || !json_object_is_type(root, json_type_object) ||
	    !json_object_object_get_ex(root, "scenarios", &arr) || !json_object_is_type(arr, json_type_array))
		goto cleanup;
	count = json_object_array_length(arr);
	rs = calloc(count + 1, sizeof(*rs));
	if (!rs) {
		rc = -ENOMEM;
		goto cleanup;
	}
	for (size_t i = 0; i < count; i++) {
		rc = result_from_object(json_object_array_get_idx(arr, i), &rs[i]);
		if (rc < 0) {
			report_results_free(rs, i);
			rs = NULL;
			goto cleanup;
		}
	}
	*out = rs;
	*n = count;
	rc = 0;
cleanup:
	json_object_put(root);
	json_tokener_free(tok);
	return rc;
}

void report_results_free(struct result *rs, size_t n)
{
	for (size_t i = 0; rs && i < n; i++)
		result_clear(&rs[i]);
	free(rs);
}

/* ---- Markdown ----------------------------------------------------------- */

/* A fenced block that the text cannot close: a fence one backtick longer
 * than the longest run of backticks inside. Control characters other than
 * newline and tab are replaced. */
static void put_block_char(FILE *f, uint32_t cp, const unsigned char *bytes, size_t len, bool last, void *ctx)
{
	(void)last;
	(void)ctx;
	if (cp == TEXT_INVALID || (text_is_control(cp) && cp != '\n' && cp != '\t'))
		fputs(TEXT_REPLACEMENT, f);
	else
		fwrite(bytes, 1, len, f);
}

static void put_md_block(FILE *f, const char *text)
{
	const unsigned char *p = (const unsigned char *)text_str(text);
	size_t n = strlen((const char *)p), run = 0, longest = 0;

	for (size_t i = 0; i < n; i++) {
		run = p[i] == '`' ? run + 1 : 0;
		if (run > longest)
			longest = run;
	}
	longest = longest < 3 ? 3 : longest + 1;
	for (size_t i = 0; i < longest; i++)
		fputc('`', f);
	fputc('\n', f);
	text_walk(f, text, put_block_char, NULL);
	if (!*text_str(text) || text_str(text)[strlen(text_str(text)) - 1] != '\n')
		fputc('\n', f);
	for (size_t i = 0; i < longest; i++)
		fputc('`', f);
	fputc('\n', f);
}

int report_markdown(FILE *f, const struct result *s, size_t n)
{
	size_t passed = 0, failed = 0, errors = 0;

	fputs("| Scenario | Expected | Actual | Verdict | Time |\n", f);
	fputs("| --- | --- | --- | --- | ---: |\n", f);
	for (size_t i = 0; i < n; i++) {
		const struct result *c = &s[i];
		const char *mark = c->verdict == VERDICT_ERROR ? "⚠️ ERROR" : c->verdict == VERDICT_PASS ? "✅ PASS" : "❌ FAIL";

		fputs("| ", f);
		text_put_md(f, c->name, true);
		if (c->repetition)
			fprintf(f, " #%d", c->repetition);
		fputs(" | ", f);
		text_put_md(f, result_expected_name(c), true);
		fputs(" | ", f);
		text_put_md(f, result_outcome_name(c->actual), true);
		fprintf(f, " | %s | %.2f s |\n", mark, c->seconds);
		count_verdict(c, &passed, &failed, &errors);
	}
	fprintf(f, "\n**%zu passed, %zu failed", passed, failed);
	if (errors)
		fprintf(f, ", %zu error%s", errors, errors == 1 ? "" : "s");
	fputs("**\n", f);
	if (n)
		fprintf(f, "\nSeed %llu (`punchlab run --seed %llu` hands out the same ports).\n",
			(unsigned long long)s[0].seed, (unsigned long long)s[0].seed);
	for (size_t i = 0; i < n; i++) {
		const struct result *c = &s[i];
		const char *text = c->verdict == VERDICT_ERROR ? c->error : c->detail;

		if (c->verdict == VERDICT_PASS || !text)
			continue;
		fputs("\n<details><summary>", f);
		text_put_md(f, c->name, true);
		if (c->repetition)
			fprintf(f, " #%d", c->repetition);
		fprintf(f, ": %s</summary>\n\n", c->verdict == VERDICT_ERROR ? "error" : "mismatch");
		put_md_block(f, text);
		if (c->verdict == VERDICT_FAIL && c->evidence.counted) {
			char *line = report_evidence_line(c), *both = NULL;

			if (asprintf(&both, "%s\n%s", line ? line : "network: (no memory)",
				     text_str(c->evidence.explanation)) < 0)
				both = NULL;
			fputc('\n', f);
			put_md_block(f, both ? both : "network: (no memory)");
			free(line);
			free(both);
		}
		fputs("\n</details>\n", f);
	}
	return stream_status(f);
}
