/* Unit tests for the reporters (lab/report.c): golden files for every format
 * over hostile strings, plus structural checks that do not trust the golden
 * files: TAP through perl's TAP::Parser and prove, XML well-formedness, JSON
 * parsed back, Markdown table shape.
 *
 * PUNCHLAB_UPDATE_GOLDEN=1 rewrites the golden files instead of comparing. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "golden.h"
#include <json-c/json.h>

#include "report/report.h"
#include "report/result.h"

typedef int (*list_fn)(FILE *, const struct result *, size_t);

static char s_name3[] = "evil \"quote\" <tag> & 'apos' # hash | pipe\nline2 \033[31mred caf\xc3\xa9 \xe2\x98\x95 bad\xff";
static char s_err3[] = "could not build: <script>&amp;</script>\nsecond line \x01 ctl";
static char s_detail2[] = "alice saw: bob at 203.0.113.7:40000 (observed)\n"
			  "bob saw: alice at 198.51.100.9:1024\n\tindented \"quoted\" \\ back";
static char s_detail4[] = "fence ``` inside ]]> and </failure> & \r\n"
			  "ansi \033[2J clear, c1 \xc2\x9b csi, nul-free, tab\tend\n";
static char s_json_ok[] = "{\"outcome\": \"direct\", \"rtt_ms\": 1.5, \"path\": [\"198.51.100.9:1024\"]}\n";
static char s_json_ok2[] = "{\"outcome\":\"relayed\",\"note\":\"caf\xc3\xa9 <&>\"}";
static char s_json_bad[] = "{not json";
static char s_json_arr[] = "[1, 2]";
static char s_json_trail[] = "{\"a\": 1} trailing";
static char s_stderr[] = "punch-client: warning: no direct path <after 3 s>\n";
static char s_desc[] = "Two homes behind cone NATs";
static char s_file1[] = "topologies/cone-cone.topo";
static char s_file2[] = "topologies/pr.cone-vs-symmetric.topo";
static char s_name1[] = "cone-vs-cone";
static char s_name2[] = "pr-cone-vs-symmetric";
static char s_name4[] = "detail `ticks`";

static struct result_router s_routers1[2] = {
	{ .name = "home-a", .family = 4, .checked = true, .observed_valid = true, .match = true,
	  .declared = { .nat = true, .mapping = MAP_EIM, .filtering = FILTER_APDF, .ports = PORTS_PRESERVE, .hairpin = 0 },
	  .observed = { .nat = true, .mapping = MAP_EIM, .filtering = FILTER_APDF, .ports = PORTS_PRESERVE, .hairpin = 0 } },
	{ .name = "fw", .family = 4, .checked = true, .observed_valid = true, .match = true,
	  .declared = { .nat = false, .mapping = MAP_NONE, .filtering = FILTER_APDF, .ports = PORTS_PRESERVE, .hairpin = 0 },
	  .observed = { .nat = false, .mapping = -1, .filtering = FILTER_APDF, .ports = -1, .hairpin = -1 } },
};

static struct result fixture[4];

/* The peer's report parsed as scenario.c parses it (result_peer_report). */
static void fill_peer(struct result_peer *p, const char *name, enum result_outcome outcome, int code,
		      const char *json, char *err)
{
	snprintf(p->name, sizeof(p->name), "%s", name);
	p->outcome = outcome;
	p->exit_code = code;
	p->report = result_peer_report(json);
	p->stderr_tail = err;
}

static int setup(void **state)
{
	memset(fixture, 0, sizeof(fixture));
	fixture[0] = (struct result){ .name = s_name1, .file = s_file1, .description = s_desc,
				      .expected = OUTCOME_DIRECT, .actual = RESULT_DIRECT, .verdict = VERDICT_PASS,
				      .routers = s_routers1, .n_routers = 2, .selfcheck_ran = true,
				      .seconds = 1.234 };
	fill_peer(&fixture[0].peers[0], "alice", RESULT_DIRECT, 0, s_json_ok, NULL);
	fill_peer(&fixture[0].peers[1], "bob", RESULT_DIRECT, 0, s_json_ok2, NULL);
	fixture[1] = (struct result){ .name = s_name2, .file = s_file2, .expected = OUTCOME_DIRECT,
				      .actual = RESULT_RELAYED, .verdict = VERDICT_FAIL, .detail = s_detail2,
				      .seconds = 12.5 };
	fill_peer(&fixture[1].peers[0], "alice", RESULT_RELAYED, 0, s_json_bad, s_stderr);
	fill_peer(&fixture[1].peers[1], "bob", RESULT_RELAYED, 1, s_json_arr, NULL);
	fixture[2] = (struct result){ .name = s_name3, .expected = OUTCOME_RELAYED, .actual = RESULT_ERROR,
				      .verdict = VERDICT_ERROR, .error = s_err3, .seconds = 0.004 };
	fixture[3] = (struct result){ .name = s_name4, .file = s_file1, .expected = OUTCOME_FAILED,
				      .actual = RESULT_DIRECT, .verdict = VERDICT_FAIL, .detail = s_detail4,
				      .seconds = 3 };
	fill_peer(&fixture[3].peers[0], "carol", RESULT_NONE, -1, s_json_trail, s_detail4);
	return 0;
}

static int teardown(void **state)
{
	for (size_t i = 0; i < 4; i++)
		for (size_t k = 0; k < 2; k++)
			json_object_put(fixture[i].peers[k].report);
	return 0;
}

/* Render with a function into a NUL-terminated heap string. */
static char *render(int (*fn)(FILE *, const struct result *, size_t), size_t n)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	assert_int_equal(fn(f, fixture, n), 0);
	assert_int_equal(fclose(f), 0);
	return buf;
}

static char *render_live(bool color)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	for (size_t i = 0; i < 4; i++)
		assert_int_equal(report_live_line(f, &fixture[i], color), 0);
	assert_int_equal(fclose(f), 0);
	return buf;
}

static char *render_summary(bool color)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	assert_int_equal(report_summary(f, fixture, 4, color), 0);
	assert_int_equal(fclose(f), 0);
	return buf;
}

static void check_golden(const char *name, const char *got)
{
	golden_check("report", name, got);
}

static char *write_temp(const char *text)
{
	char *path = strdup("/tmp/test_report.XXXXXX");
	int fd;

	assert_non_null(path);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

static bool have(const char *prog)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", prog);
	return system(cmd) == 0;
}

/* Run a shell command, return its stdout (heap) and exit status. */
static char *run_cmd(const char *cmd, int *status)
{
	FILE *p = popen(cmd, "r");
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	char chunk[4096];
	size_t n;

	assert_non_null(p);
	assert_non_null(m);
	while ((n = fread(chunk, 1, sizeof(chunk), p)) > 0)
		fwrite(chunk, 1, n, m);
	*status = pclose(p);
	fclose(m);
	return buf;
}

/* ---- plain text ---------------------------------------------------------- */

static void test_live(void **state)
{
	char *plain = render_live(false), *color = render_live(true);

	check_golden("live.txt", plain);
	check_golden("live-color.txt", color);
	/* No escape sequence of a hostile string reaches the terminal. */
	assert_null(strchr(plain, '\033'));
	assert_null(strchr(plain, '\x01'));
	assert_non_null(strstr(plain, "PASS   cone-vs-cone "));
	assert_non_null(strstr(plain, "direct (expected direct)  1.23s\n"));
	assert_non_null(strstr(plain, "FAIL   pr-cone-vs-symmetric          relayed (expected direct)  12.50s\n"
				      "       alice saw: bob at 203.0.113.7:40000 (observed)\n"
				      "       bob saw:"));
	assert_non_null(strstr(plain, "       error: could not build"));
	assert_non_null(strstr(color, "\033[1;31mFAIL\033[0m"));
	assert_non_null(strstr(color, "\033[1;31mERROR\033[0m"));
	assert_non_null(strstr(color, "\033[32mPASS\033[0m"));
	free(plain);
	free(color);
}

static void test_summary(void **state)
{
	char *plain = render_summary(false), *color = render_summary(true);
	char *last;

	check_golden("summary.txt", plain);
	check_golden("summary-color.txt", color);
	assert_null(strchr(plain, '\033'));
	/* The count line is exactly that, on its own line, last. */
	last = strstr(plain, "\n1 passed, 2 failed, 1 error\n");
	assert_non_null(last);
	assert_string_equal(last + 1, "1 passed, 2 failed, 1 error\n");
	free(plain);
	free(color);
}

static void test_summary_counts(void **state)
{
	struct result one = { .name = s_name1, .expected = OUTCOME_DIRECT, .actual = RESULT_DIRECT,
			      .verdict = VERDICT_PASS };
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_int_equal(report_summary(f, &one, 1, false), 0);
	assert_int_equal(report_summary(f, NULL, 0, false), 0);
	fclose(f);
	assert_non_null(strstr(buf, "\n1 passed, 0 failed\n"));
	assert_non_null(strstr(buf, "\n0 passed, 0 failed\n"));
	assert_null(strstr(buf, "error"));
	free(buf);
}

/* ---- TAP ------------------------------------------------------------------ */

static void test_tap(void **state)
{
	char *tap = render(report_tap, 4), *path, *out, cmd[512];
	int status;

	check_golden("report.tap", tap);
	if (!have("perl") || !have("prove")) {
		free(tap);
		skip();
	}
	path = write_temp(tap);
	/* TAP::Parser: counts, no parse errors, and the YAML detail reads back
	 * exactly as given. */
	snprintf(cmd, sizeof(cmd),
		 "perl -MTAP::Parser -e 'local $/; open my $fh, \"<\", $ARGV[0] or die; my $t = <$fh>;"
		 " my $p = TAP::Parser->new({ tap => $t }); my @y;"
		 " while (my $r = $p->next) { push @y, $r->data if $r->is_yaml }"
		 " printf \"passed=%%d failed=%%d planned=%%d errors=%%d yaml=%%d\\n\", scalar($p->passed),"
		 " scalar($p->failed), $p->tests_planned, scalar($p->parse_errors), scalar(@y);"
		 " print $y[0]{detail}, \"|\", $y[0]{actual}, \"|\", $y[0]{seconds}, \"\\n\";' %s",
		 path);
	out = run_cmd(cmd, &status);
	assert_int_equal(status, 0);
	assert_string_equal(out, "passed=1 failed=3 planned=4 errors=0 yaml=3\n"
				 "alice saw: bob at 203.0.113.7:40000 (observed)\n"
				 "bob saw: alice at 198.51.100.9:1024\n\tindented \"quoted\" \\ back|relayed|12.50\n");
	free(out);
	/* And prove itself: it must see 4 tests, 3 failing, and nothing malformed. */
	snprintf(cmd, sizeof(cmd), "prove -e cat %s 2>&1", path);
	out = run_cmd(cmd, &status);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) != 0);
	assert_non_null(strstr(out, "Failed 3/4 subtests"));
	assert_null(strstr(out, "Parse errors"));
	free(out);
	unlink(path);
	free(path);
	free(tap);
}

/* ---- JUnit ---------------------------------------------------------------- */

/* A small well-formedness check: valid UTF-8 without forbidden controls,
 * balanced and properly nested tags, quoted attributes, known entities
 * only, no raw '<' or '&' in text. Returns NULL or what is wrong. */
static const char *xml_check(const char *s)
{
	const char *stack[32];
	size_t stack_len[32], depth = 0;
	const unsigned char *u = (const unsigned char *)s;

	for (size_t i = 0; u[i]; i++)
		if (u[i] < 0x20 && u[i] != '\n' && u[i] != '\t' && u[i] != '\r')
			return "control character";
	if (strncmp(s, "<?xml ", 6) != 0)
		return "no declaration";
	s = strstr(s, "?>") + 2;
	while (*s) {
		if (*s == '&') {
			static const char *const ents[] = { "&amp;", "&lt;", "&gt;", "&quot;", "&apos;" };
			bool ok = false;

			for (size_t k = 0; k < 5; k++)
				ok |= strncmp(s, ents[k], strlen(ents[k])) == 0;
			if (s[1] == '#') {
				const char *e = s + 2;

				while (*e >= '0' && *e <= '9')
					e++;
				ok = e > s + 2 && *e == ';';
			}
			if (!ok)
				return "bad entity";
			s++;
		} else if (*s == '>') {
			return "raw >";
		} else if (*s == '<') {
			bool closing = s[1] == '/';
			const char *name = s + 1 + closing, *e = name;
			size_t len;

			while ((*e >= 'a' && *e <= 'z') || *e == '-')
				e++;
			len = (size_t)(e - name);
			if (!len)
				return "bad tag name";
			/* Attributes: name="value" where value has no raw < or ". */
			while (*e == ' ') {
				e++;
				while ((*e >= 'a' && *e <= 'z'))
					e++;
				if (e[0] != '=' || e[1] != '"')
					return "bad attribute";
				e += 2;
				while (*e && *e != '"') {
					if (*e == '<' || *e == '\n')
						return "raw < or newline in attribute";
					e++;
				}
				if (*e++ != '"')
					return "unterminated attribute";
			}
			if (closing) {
				if (*e != '>' || !depth || stack_len[depth - 1] != len ||
				    strncmp(stack[depth - 1], name, len) != 0)
					return "mismatched close tag";
				depth--;
			} else if (e[0] == '/' && e[1] == '>') {
				e++;
			} else if (*e != '>') {
				return "bad tag end";
			} else {
				if (depth == 32)
					return "too deep";
				stack[depth] = name;
				stack_len[depth++] = len;
			}
			s = e + 1;
			continue;
		}
		s++;
	}
	return depth ? "unclosed tag" : NULL;
}

static void test_junit(void **state)
{
	char *xml = render(report_junit, 4), *path, *out, cmd[512];
	const char *why;
	int status;

	check_golden("report.xml", xml);
	why = xml_check(xml);
	if (why)
		fail_msg("not well-formed: %s", why);
	assert_non_null(strstr(xml, "<testsuites name=\"punchlab\" tests=\"4\" failures=\"2\" errors=\"1\" time=\"16.738\">"));
	assert_non_null(strstr(xml, "classname=\"punchlab.pr_cone-vs-symmetric\""));
	assert_non_null(strstr(xml, "<failure message=\"expected direct, got relayed\" type=\"mismatch\">"));
	/* Check the checker: it must catch the mistakes escaping prevents. */
	assert_non_null(xml_check("<?xml version=\"1.0\"?>\n<a>x & y</a>"));
	assert_non_null(xml_check("<?xml version=\"1.0\"?>\n<a b=\"<\"></a>"));
	assert_non_null(xml_check("<?xml version=\"1.0\"?>\n<a><b></a></b>"));
	assert_non_null(xml_check("<?xml version=\"1.0\"?>\n<a>\x1b</a>"));
	assert_null(xml_check("<?xml version=\"1.0\"?>\n<a b=\"&quot;\"><c/>t&#10;</a>"));
	if (have("xmllint")) {
		path = write_temp(xml);
		/* The hostile name reads back exactly, control characters aside. */
		snprintf(cmd, sizeof(cmd), "xmllint --noout %s && xmllint --xpath 'string(//testcase[3]/@name)' %s",
			 path, path);
		out = run_cmd(cmd, &status);
		assert_int_equal(status, 0);
		assert_string_equal(out, "evil \"quote\" <tag> & 'apos' # hash | pipe\nline2 \xef\xbf\xbd[31mred caf\xc3\xa9 \xe2\x98\x95 bad\xef\xbf\xbd\n");
		free(out);
		unlink(path);
		free(path);
	}
	free(xml);
}

/* ---- JSON ----------------------------------------------------------------- */

static struct json_object *jget(struct json_object *o, const char *path)
{
	char buf[128], *save = NULL;

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *k = strtok_r(buf, ".", &save); k && o; k = strtok_r(NULL, ".", &save)) {
		if (*k >= '0' && *k <= '9')
			o = json_object_array_get_idx(o, (size_t)atoi(k));
		else if (!json_object_object_get_ex(o, k, &o))
			return NULL;
	}
	return o;
}

static void test_json(void **state)
{
	char *js = render(report_json, 4);
	struct json_tokener *tok = json_tokener_new();
	struct json_object *root, *o;

	check_golden("report.json", js);
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	root = json_tokener_parse_ex(tok, js, (int)strlen(js));
	assert_int_equal(json_tokener_get_error(tok), json_tokener_success);
	json_tokener_free(tok);
	assert_int_equal(json_object_get_int(jget(root, "summary.total")), 4);
	assert_int_equal(json_object_get_int(jget(root, "summary.passed")), 1);
	assert_int_equal(json_object_get_int(jget(root, "summary.failed")), 2);
	assert_int_equal(json_object_get_int(jget(root, "summary.errors")), 1);
	assert_int_equal(json_object_array_length(jget(root, "scenarios")), 4);
	/* Peers' reports: objects embedded, anything else kept as text. */
	o = jget(root, "scenarios.0.peers.0.report");
	assert_true(json_object_is_type(o, json_type_object));
	assert_string_equal(json_object_get_string(jget(o, "outcome")), "direct");
	assert_string_equal(json_object_get_string(jget(root, "scenarios.0.peers.1.report.note")), "caf\xc3\xa9 <&>");
	o = jget(root, "scenarios.1.peers.0.report");
	assert_true(json_object_is_type(o, json_type_string));
	assert_string_equal(json_object_get_string(o), s_json_bad);
	assert_true(json_object_is_type(jget(root, "scenarios.1.peers.1.report"), json_type_string));
	assert_true(json_object_is_type(jget(root, "scenarios.3.peers.0.report"), json_type_string));
	/* Strings round-trip; invalid UTF-8 became U+FFFD; absent values are null. */
	assert_string_equal(json_object_get_string(jget(root, "scenarios.1.detail")), s_detail2);
	assert_string_equal(json_object_get_string(jget(root, "scenarios.3.detail")), s_detail4);
	assert_non_null(strstr(json_object_get_string(jget(root, "scenarios.2.name")), "bad\xef\xbf\xbd"));
	assert_string_equal(json_object_get_string(jget(root, "scenarios.2.verdict")), "error");
	assert_true(json_object_is_type(jget(root, "scenarios.2.file"), json_type_null));
	/* The self-check as data: a record per router, behaviours in the short names. */
	assert_int_equal(json_object_array_length(jget(root, "scenarios.0.selfcheck")), 2);
	assert_string_equal(json_object_get_string(jget(root, "scenarios.0.selfcheck.0.name")), "home-a");
	assert_string_equal(json_object_get_string(jget(root, "scenarios.0.selfcheck.0.declared.mapping")), "eim");
	assert_string_equal(json_object_get_string(jget(root, "scenarios.0.selfcheck.1.observed.mapping")), "unknown");
	assert_true(json_object_is_type(jget(root, "scenarios.0.selfcheck.1.observed.hairpin"), json_type_null));
	assert_true(json_object_is_type(jget(root, "scenarios.0.evidence"), json_type_null));
	assert_true(json_object_is_type(jget(root, "scenarios.1.selfcheck"), json_type_null));
	assert_int_equal(json_object_array_length(jget(root, "scenarios.2.peers")), 0);
	assert_true(json_object_get_double(jget(root, "scenarios.0.seconds")) == 1.234);
	json_object_put(root);
	free(js);
}

/* ---- Markdown ------------------------------------------------------------- */

static void test_markdown(void **state)
{
	char *md = render(report_markdown, 4), *line, *save = NULL;
	size_t rows = 0;

	check_golden("report.md", md);
	/* Every table row has exactly six unescaped pipes (five cells). */
	for (line = strtok_r(md, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		size_t pipes = 0;

		if (line[0] != '|')
			continue;
		for (size_t i = 0; line[i]; i++) {
			if (line[i] == '\\' && line[i + 1]) {
				i++;
				continue;
			}
			pipes += line[i] == '|';
		}
		assert_int_equal(pipes, 6);
		rows++;
	}
	assert_int_equal(rows, 2 + 4);
	free(md);
}

static void test_stream_error(void **state)
{
	FILE *f = fopen("/dev/null", "r");

	assert_non_null(f);
	assert_int_equal(report_tap(f, fixture, 4), -EIO);
	assert_int_equal(report_markdown(f, fixture, 4), -EIO);
	fclose(f);
}

/* Two scenarios with the network's evidence: one that passed, one whose
 * explanation holds hostile text; every format must carry the numbers and
 * the explanation, and the result codec (the workers' hand-over) must give
 * back what it got. */
static struct result ev_fixture[2];

static void ev_setup(void)
{
	static char n1[] = "pr-cone-vs-pr-cone", n2[] = "far-nat-drops";
	static char why[] = "bob's router home-b (line 15) dropped 108 datagrams from 203.0.113.20:40001 to "
			    "203.0.113.21:40002; <b>&amp;</b> \"q\" # ]]>";
	static char detail[] = "expectation: deliberately wrong";
	struct result *a = &ev_fixture[0], *b = &ev_fixture[1];

	memset(ev_fixture, 0, sizeof(ev_fixture));
	*a = (struct result){ .name = n1, .expected = OUTCOME_DIRECT, .actual = RESULT_DIRECT,
			      .verdict = VERDICT_PASS, .seconds = 1.75 };
	fill_peer(&a->peers[0], "alice", RESULT_DIRECT, 0, NULL, NULL);
	fill_peer(&a->peers[1], "bob", RESULT_DIRECT, 0, NULL, NULL);
	a->evidence = (struct result_evidence){
		.counted = true,
		.verdict = RESULT_DIRECT,
		.peers = { { .from_partner = 13, .from_server = 1, .sent_to_partner = 14, .endpoint = "203.0.113.21:40002" },
			   { .from_partner = 12, .from_server = 1, .sent_to_partner = 16, .endpoint = "203.0.113.20:40001" } },
	};

	*b = (struct result){ .name = n2, .expected = OUTCOME_DIRECT, .actual = RESULT_FAILED,
			      .verdict = VERDICT_FAIL, .detail = detail, .seconds = 4.5 };
	fill_peer(&b->peers[0], "alice", RESULT_FAILED, 2, NULL, NULL);
	fill_peer(&b->peers[1], "bob", RESULT_FAILED, 2, NULL, NULL);
	b->evidence = (struct result_evidence){
		.counted = true,
		.verdict = RESULT_FAILED,
		.peers = { { .from_partner = 54, .sent_to_partner = 162, .endpoint = "203.0.113.21:40002" },
			   { .sent_to_partner = 108 } },
		.explanation = why,
		.detail = json_tokener_parse("{\"verdict\":\"failed\",\"routers\":[{\"name\":\"home-b\",\"line\":15}]}"),
	};
	assert_non_null(b->evidence.detail);
}

static void ev_teardown(void)
{
	json_object_put(ev_fixture[1].evidence.detail);
	memset(ev_fixture, 0, sizeof(ev_fixture));
}

static char *ev_render(list_fn fn)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	if (fn) {
		assert_int_equal(fn(f, ev_fixture, 2), 0);
	} else {
		for (size_t i = 0; i < 2; i++)
			assert_int_equal(report_live_line(f, &ev_fixture[i], false), 0);
	}
	assert_int_equal(fclose(f), 0);
	return buf;
}

static void check_evidence_json(const char *out)
{
	struct json_object *root = json_tokener_parse(out), *e, *v;

	assert_non_null(root);
	e = json_object_array_get_idx(jget(root, "scenarios"), 1);
	assert_true(json_object_object_get_ex(e, "evidence", &e));
	assert_true(json_object_object_get_ex(e, "verdict", &v));
	assert_string_equal(json_object_get_string(v), "failed");
	assert_true(json_object_object_get_ex(e, "detail", &v));
	assert_true(json_object_is_type(v, json_type_object)); /* embedded, not a string */
	assert_true(json_object_object_get_ex(e, "peers", &v));
	assert_int_equal(json_object_get_int(jget(json_object_array_get_idx(v, 0), "from_partner")), 54);
	json_object_put(root);
}

static void test_evidence_formats(void **state)
{
	static const struct {
		list_fn fn;
		const char *golden;
	} formats[] = {
		{ NULL, "evidence-live.txt" }, { report_tap, "evidence.tap" }, { report_junit, "evidence.xml" },
		{ report_json, "evidence.json" }, { report_markdown, "evidence.md" },
	};

	(void)state;
	ev_setup();
	for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
		char *out = ev_render(formats[i].fn);

		check_golden(formats[i].golden, out);
		/* the failure's explanation, in some escaping, and the numbers */
		assert_non_null(strstr(out, "home-b (line 15) dropped 108 datagrams from 203.0.113.20:40001"));
		assert_non_null(strstr(out, "203.0.113.21:40002"));
		if (formats[i].fn == report_json)
			check_evidence_json(out);
		free(out);
	}
	ev_teardown();
}

/* The evidence crosses the worker pipe in the one result codec. */
static void test_evidence_handover(void **state)
{
	struct result back;
	char *text;

	(void)state;
	ev_setup();
	text = result_to_json(&ev_fixture[1]);
	assert_non_null(text);
	assert_int_equal(result_from_json(text, strlen(text), &back), 0);
	assert_true(back.evidence.counted);
	assert_int_equal(back.evidence.verdict, RESULT_FAILED);
	assert_true(back.evidence.peers[0].from_partner == 54);
	assert_true(back.evidence.peers[0].sent_to_partner == 162);
	assert_true(back.evidence.peers[1].sent_to_partner == 108);
	assert_string_equal(back.evidence.peers[0].endpoint, "203.0.113.21:40002");
	assert_string_equal(back.evidence.peers[1].endpoint, "");
	assert_string_equal(back.evidence.explanation, ev_fixture[1].evidence.explanation);
	assert_true(json_object_equal(back.evidence.detail, ev_fixture[1].evidence.detail));
	result_clear(&back);
	assert_null(back.evidence.explanation);
	free(text);
	/* an outcome word that is not one of the network's three verdicts does not decode */
	text = result_to_json(&ev_fixture[0]);
	assert_non_null(text);
	{
		char *at = strstr(text, "\"verdict\":\"direct\",\"peers\"");

		assert_non_null(at);
		memcpy(at + strlen("\"verdict\":\""), "mixed\" ", 7);
		assert_int_equal(result_from_json(text, strlen(text), &back), -EBADMSG);
		assert_false(back.evidence.counted);
	}
	free(text);
	ev_teardown();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_live),
		cmocka_unit_test(test_summary),
		cmocka_unit_test(test_summary_counts),
		cmocka_unit_test(test_tap),
		cmocka_unit_test(test_junit),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_markdown),
		cmocka_unit_test(test_stream_error),
		cmocka_unit_test(test_evidence_formats),
		cmocka_unit_test(test_evidence_handover),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
