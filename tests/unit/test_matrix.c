/* Unit tests for matrix files (lab/model/matrix.c) and the matrix picture
 * (lab/report/matrix_report.c): the shipped matrices build, plan, derive and
 * generate rulesets for every cell (their derived expectations are a golden
 * file, so a change in model/outcome.c shows up here as a diff to look at); every
 * error names the matrix's own line; the pictures are golden files, and the
 * SVG is checked well-formed with xmllint when it is installed.
 *
 * PUNCHLAB_UPDATE_GOLDEN=1 rewrites the golden files instead of comparing. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "golden.h"

#include "model/outcome.h"
#include "model/matrix.h"
#include "report/matrix_report.h"
#include "model/nat.h"
#include "model/plan.h"
#include "model/topo.h"

static void src_path(char *out, size_t size, const char *rel)
{
	const char *src = __FILE__, *p = strstr(src, "tests/unit/");

	/* __FILE__ is relative to the top of the tree when built by the Makefile. */
	snprintf(out, size, "%.*s%s", p ? (int)(p - src) : 0, src, rel);
}

static void check_golden(const char *name, const char *got)
{
	golden_check("matrix", name, got);
}

static struct matrix *parse_ok(const char *text)
{
	struct matrix *m = NULL;
	char err[512] = "";

	if (matrix_parse_buffer("t.matrix", text, strlen(text), &m, err, sizeof(err)) != 0)
		fail_msg("parse failed: %s\n%s", err, text);
	assert_non_null(m);
	return m;
}

static void parse_err(const char *text, const char *want)
{
	struct matrix *m = (struct matrix *)1;
	char err[512] = "";

	assert_int_equal(matrix_parse_buffer("t.matrix", text, strlen(text), &m, err, sizeof(err)),
			 -EINVAL);
	assert_null(m);
	if (strcmp(err, want) != 0)
		fail_msg("for:\n%s\nwant: %s\ngot:  %s", text, want, err);
}

/* ---- the shipped matrices ---- */

/* Every cell: a topology, a plan, a derived expectation, and a ruleset for
 * every router. Writes "cell expectation: why" lines into *table. */
static struct matrix *check_shipped(const char *file, int profiles, char **table)
{
	char path[512], err[512];
	struct matrix *m = NULL;
	size_t len = 0;
	FILE *out = open_memstream(table, &len);

	assert_non_null(out);
	src_path(path, sizeof(path), file);
	if (matrix_parse_file(path, &m, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_int_equal(matrix_n_profiles(m), profiles);
	assert_int_equal(matrix_n_cells(m), profiles * (profiles + 1) / 2);
	for (int i = 0; i < matrix_n_cells(m); i++) {
		struct topo *t = NULL;
		struct plan *p = NULL;
		char name[128], why[256];
		enum outcome o = OUTCOME_UNSET;

		assert_int_equal(matrix_cell_name(m, i, name, sizeof(name)), 0);
		if (matrix_cell_topo(m, i, &t, err, sizeof(err)) != 0)
			fail_msg("%s: %s", name, err);
		assert_int_equal(t->n_peers, 2);
		if (plan_build(t, &p, err, sizeof(err)) != 0)
			fail_msg("%s: plan: %s", name, err);
		if (outcome_derive(t, p, &outcome_punch_client, &o, why, sizeof(why)) != 0)
			fail_msg("%s: cannot derive: %s", name, why);
		for (int n = 0; n < t->n_nats; n++) {
			const struct plan_node *nd = &p->nodes[plan_nat_node(p, n)];
			struct nat_ifaces ifc = { .wan_if = nd->uplink, .lan_if = nd->lan_if,
						  .wan_ip = nd->ip, .lan_net = nd->lan_net };
			char *rules = NULL;

			if (nat_ruleset(&t->nats[n].behavior, t->nats[n].nat, &ifc, &rules, err,
					sizeof(err)) != 0)
				fail_msg("%s: [nat %s] has no ruleset: %s", name, t->nats[n].name, err);
			assert_non_null(strstr(rules, "table ip punchlab"));
			free(rules);
		}
		fprintf(out, "%-28s %-8s %s\n", name, topo_outcome_name(o), why);
		plan_free(p);
		topo_free(t);
	}
	assert_int_equal(fclose(out), 0);
	return m;
}

static void expect_cell(const char *table, const char *name, const char *outcome)
{
	char want[128];

	snprintf(want, sizeof(want), "\n%-28s %-8s ", name, outcome);
	if (!strstr(table, want) && strncmp(table, want + 1, strlen(want + 1)) != 0)
		fail_msg("%s should be %s", name, outcome);
}

static void test_shipped_rfc4787(void **state)
{
	char *table = NULL;
	struct matrix *m = check_shipped("matrices/rfc4787.matrix", 9, &table);

	assert_string_equal(matrix_name(m), "rfc4787");
	check_golden("expect-rfc4787.txt", table);
	/* RFC 4787 reasoning, independent of the golden file. */
	expect_cell(table, "rfc4787/eim-eif-x-apdm-apdf", "direct");   /* full cone takes anything */
	expect_cell(table, "rfc4787/eim-apdf-x-eim-apdf", "direct");   /* both map once */
	expect_cell(table, "rfc4787/eim-adf-x-apdm-apdf", "direct");   /* ADF allows B's new port */
	expect_cell(table, "rfc4787/eim-apdf-x-apdm-apdf", "relayed"); /* A never sent to B's new port */
	expect_cell(table, "rfc4787/apdm-apdf-x-apdm-apdf", "relayed");
	expect_cell(table, "rfc4787/adm-adf-x-adm-adf", "relayed");    /* each new mapping filters */
	free(table);
	matrix_free(m);
}

static void test_shipped_classic(void **state)
{
	char *table = NULL;
	struct matrix *m = check_shipped("matrices/classic.matrix", 6, &table);

	check_golden("expect-classic.txt", table);
	expect_cell(table, "classic/open-x-symmetric", "direct");
	expect_cell(table, "classic/full-cone-x-symmetric", "direct");
	expect_cell(table, "classic/restricted-x-symmetric", "direct");
	expect_cell(table, "classic/port-restr-x-symmetric", "relayed");
	expect_cell(table, "classic/firewall-x-symmetric", "relayed");
	expect_cell(table, "classic/symmetric-x-symmetric", "relayed");
	expect_cell(table, "classic/port-restr-x-port-restr", "direct");
	free(table);
	matrix_free(m);
}

/* RFC 5382: the TCP matrix, derived over each profile's TCP behaviour. */
static void test_shipped_tcp(void **state)
{
	char *table = NULL;
	struct matrix *m = check_shipped("matrices/tcp.matrix", 7, &table);

	check_golden("expect-tcp.txt", table);
	expect_cell(table, "tcp/eim-apdf-x-eim-apdf", "direct");
	expect_cell(table, "tcp/eim-apdf-x-adm-apdf", "relayed");
	expect_cell(table, "tcp/eim-apdf-x-apdm-apdf", "relayed");
	expect_cell(table, "tcp/eim-apdf-x-apdm-eif", "direct");
	free(table);
	matrix_free(m);
}

/* ---- cells ---- */

static void test_cells(void **state)
{
	struct matrix *m = parse_ok(
		"; cells of three profiles\n"
		"[matrix]\n"
		"description = three\n"
		"timeout = 20s\n"
		"relay = no\n"
		"expect-rate = 80%\n"
		"[profile internet]\n"
		"[profile sym]\n"
		"preset = symmetric\n"
		"delay = 10ms\n"
		"[profile pr]\n"
		"mapping = eim\n"
		"filtering = apdf\n"
		"[cell pr sym]\n"
		"expect = failed\n"
		"expect-why = relay is off\n");
	struct topo *t = NULL;
	char name[64], err[256];
	int r, c, seen[6] = { 0 };

	assert_int_equal(matrix_n_profiles(m), 3);
	assert_int_equal(matrix_n_cells(m), 6);
	assert_string_equal(matrix_profile_name(m, 1), "sym");
	assert_null(matrix_profile_name(m, 3));
	assert_string_equal(matrix_description(m), "three");
	assert_string_equal(matrix_name(m), "t");
	for (int i = 0; i < 6; i++) {
		assert_int_equal(matrix_cell_pos(m, i, &r, &c), 0);
		assert_true(r <= c);
		assert_int_equal(matrix_cell_index(m, r, c), i);
		assert_int_equal(matrix_cell_index(m, c, r), i);
		seen[i]++;
	}
	assert_int_equal(matrix_cell_pos(m, 6, &r, &c), -ERANGE);
	assert_int_equal(matrix_cell_pos(m, -1, &r, &c), -ERANGE);
	assert_int_equal(matrix_cell_index(m, 0, 3), -1);
	assert_int_equal(matrix_cell_name(m, 4, name, sizeof(name)), 0);
	assert_string_equal(name, "t/sym-x-pr");
	assert_int_equal(matrix_cell_name(m, 4, name, 5), -ENOSPC);

	/* internet x internet: no routers at all. */
	assert_int_equal(matrix_cell_topo(m, 0, &t, err, sizeof(err)), 0);
	assert_int_equal(t->n_nats, 0);
	assert_int_equal(t->peers[0].behind, -1);
	assert_int_equal(t->peers[1].behind, -1);
	assert_int_equal(t->timeout_ms, 20000);
	assert_false(t->relay);
	assert_true(t->expect_rate > 0.7999 && t->expect_rate < 0.8001); /* [matrix] expect-rate: every cell's */
	assert_string_equal(t->path, "t.matrix[internet x internet]");
	assert_string_equal(t->description, "internet x internet: three");
	topo_free(t);

	/* sym x sym: two NATs, the column's renamed. */
	assert_int_equal(matrix_cell_topo(m, 3, &t, err, sizeof(err)), 0);
	assert_int_equal(t->n_nats, 2);
	assert_string_equal(t->nats[0].name, "sym");
	assert_string_equal(t->nats[1].name, "sym-2");
	assert_string_equal(t->nats[1].preset, "symmetric");
	assert_int_equal(t->nats[1].uplink_impair.delay_ms, 10);
	assert_string_equal(t->peers[0].name, "alice");
	assert_int_equal(t->peers[0].behind, 0);
	assert_int_equal(t->peers[1].behind, 1);
	assert_int_equal(t->expect, OUTCOME_UNSET);
	topo_free(t);

	/* sym x pr carries the override; nat flags and behaviours as topo.c gives them. */
	assert_int_equal(matrix_cell_topo(m, 4, &t, err, sizeof(err)), 0);
	assert_int_equal(t->expect, OUTCOME_FAILED);
	assert_string_equal(t->expect_why, "relay is off");
	assert_true(t->nats[0].nat);
	assert_int_equal(t->nats[0].behavior.mapping, MAP_APDM);
	assert_int_equal(t->nats[0].behavior.ports, PORTS_RANDOM);
	assert_int_equal(t->nats[1].behavior.mapping, MAP_EIM);
	assert_int_equal(t->nats[1].behavior.filtering, FILTER_APDF);
	assert_string_equal(t->peers[1].name, "bob");
	assert_int_equal(t->peers[1].behind, 1);
	topo_free(t);

	/* internet x pr: one NAT, alice on the internet. */
	assert_int_equal(matrix_cell_topo(m, 2, &t, err, sizeof(err)), 0);
	assert_int_equal(t->n_nats, 1);
	assert_int_equal(t->peers[0].behind, -1);
	assert_int_equal(t->peers[1].behind, 0);
	topo_free(t);
	assert_int_equal(matrix_cell_topo(m, 9, &t, err, sizeof(err)), -ERANGE);
	assert_null(t);
	matrix_free(m);
	matrix_free(NULL);
}

static void test_file(void **state)
{
	struct matrix *m = (struct matrix *)1;
	char err[256];

	assert_int_equal(matrix_parse_file("/nonexistent/x.matrix", &m, err, sizeof(err)), -ENOENT);
	assert_null(m);
	assert_string_equal(err, "/nonexistent/x.matrix: No such file or directory");
}

/* ---- errors: each on the matrix's own line, in the matrix's own words ---- */

static void test_errors(void **state)
{
	/* Our own checks. */
	parse_err("", "t.matrix:1: end of file: a matrix needs at least one [profile NAME]");
	parse_err("[matrix]\nfoo = 1\n", "t.matrix:2: unknown key 'foo' in [matrix] (known: "
		  "description, mode, relay, timeout, punch-timeout, messages, ipv6, internet, internet6, expect-rate, transport)");
	parse_err("[matrix]\nexpect = direct\n", "t.matrix:2: expect belongs in a [cell A B] section: "
		  "each cell's expectation is derived, or overridden per cell");
	parse_err("[profile a]\npreset = open\nbehind = x\n", "t.matrix:3: behind is not a profile key: "
		  "a profile is one router straight on the internet with automatic addresses");
	parse_err("[profile a]\nfoo = 1\n", "t.matrix:2: unknown key 'foo' in [profile a] (known: "
		  "preset, mapping, filtering, ports, hairpin, udp-timeout, block-udp, rules, delay, "
		  "jitter, loss, port-range, port-step, port-start, block-size, inbound-reply, unsolicited, tcp-mapping, tcp-filtering, tcp-unsolicited, tcp-timeout, tcp-transitory-timeout)");
	parse_err("[profile a]\npreset = open\npreset = open\n",
		  "t.matrix:3: preset given twice in [profile a] (first on line 2)");
	parse_err("[profile a]\npreset = open\n[profile a]\n",
		  "t.matrix:3: [profile a] given twice (first on line 1)");
	parse_err("[profile alice]\n", "t.matrix:1: 'alice' is reserved (the peers of every cell are "
		  "alice and bob); choose another name");
	parse_err("[profile abcdefghijklmn]\n", "t.matrix:1: bad profile name 'abcdefghijklmn': 1 to "
		  "13 characters a-z, 0-9 and '-', not starting with '-'");
	parse_err("[profile]\n", "t.matrix:1: [profile] needs a name: [profile NAME]");
	parse_err("[profile internet]\npreset = open\n", "t.matrix:2: [profile internet] puts the peer "
		  "on the internet and takes no keys");
	parse_err("[matrix]\n[matrix]\n", "t.matrix:2: [matrix] given twice (first on line 1)");
	parse_err("[nat a]\n", "t.matrix:1: [nat] belongs in a topology file; a matrix has [matrix], "
		  "[profile NAME] and [cell NAME NAME] (see matrices/README.md)");
	parse_err("[bogus]\n", "t.matrix:1: unknown section type '[bogus]': expected [matrix], "
		  "[profile NAME], [cell NAME NAME], [server] or [programs]");
	parse_err("x = 1\n", "t.matrix:1: 'x' outside of any section (start with [matrix])");
	parse_err("[profile a]\npreset\n", "t.matrix:2: expected 'key = value', a [section] or a comment");
	parse_err("[profile a]\npreset = \n", "t.matrix:2: preset has an empty value (leave the key "
		  "out for the default)");
	parse_err("[profile a]\npreset = open\x01\n", "t.matrix:2: control character 0x01 (only tab "
		  "is allowed)");
	parse_err("[cell a]\n", "t.matrix:1: [cell] names two profiles: [cell PROFILE PROFILE]");
	parse_err("[cell a b c]\n", "t.matrix:1: [cell] names two profiles: [cell PROFILE PROFILE]");
	parse_err("[profile a]\npreset = open\n[cell a b]\nexpect = direct\nexpect-why = x\n",
		  "t.matrix:3: [cell a b]: there is no [profile b]");
	parse_err("[profile a]\npreset = open\n[cell a a]\nexpect = direct\n",
		  "t.matrix:4: [cell a a]: expect-why is required with expect (why the derived "
		  "expectation is overridden)");
	parse_err("[profile a]\npreset = open\n[cell a a]\nexpect-why = x\n",
		  "t.matrix:4: [cell a a]: expect-why without expect: it explains an expect = override");
	parse_err("[profile a]\npreset = open\n[cell a a]\n",
		  "t.matrix:3: [cell a a]: expect is required (the outcome this cell should have)");
	parse_err("[profile a]\npreset = open\n[cell a a]\nexpect = maybe\n",
		  "t.matrix:4: bad value 'maybe' for expect: expected direct | relayed | failed");
	parse_err("[profile a]\npreset = open\n[profile b]\npreset = open\n"
		  "[cell a b]\nexpect = direct\nexpect-why = x\n[cell b a]\nexpect = direct\nexpect-why = y\n",
		  "t.matrix:8: [cell b a]: this cell is already overridden on line 5");

	/* Values are checked by topo.c, on the matrix's own lines and in its words. */
	parse_err("[matrix]\ndescription = d\n\ntimeout = 10\n[profile a]\npreset = open\n",
		  "t.matrix:4: bad duration '10' for timeout: expected a whole number and a unit, "
		  "ms, s or m (e.g. 500ms, 3s, 1m)");
	parse_err("[profile a]\npreset = open\n\n[profile b]\n  ; indented comment\n"
		  "mapping = cone\nfiltering = eif\n",
		  "t.matrix:6: bad value 'cone' for mapping: expected none | endpoint-independent | "
		  "address-dependent | address-and-port-dependent | eim | adm | apdm");
	parse_err("[profile a]\nports = random\n",
		  "t.matrix:1: [profile a]: give a preset or mapping and filtering (see topologies/README.md)");
	parse_err("[profile b]\npreset = firewall\nports = random\n",
		  "t.matrix:3: [profile b]: ports needs a translating NAT (mapping is none)");
	parse_err("[matrix]\ntimeout = 1s\npunch-timeout = 2s\n[profile internet]\n",
		  "t.matrix:3: punch-timeout (2000ms) must be shorter than timeout (1000ms)");
	parse_err("[profile a]\npreset = open\nrules = no-such-file.nft\n",
		  "t.matrix:3: rules file 'no-such-file.nft': No such file or directory");
}

static void test_accepts(void **state)
{
	struct matrix *m;

	/* CRLF, a BOM, indentation, comments, [server] and [programs] passed through. */
	m = parse_ok("\xef\xbb\xbf[matrix]\r\n\ttimeout = 5s ; inline\r\n# comment\r\n"
		     "[server]\r\naddress = 203.0.113.5\r\n[profile fc]\r\n  preset = full-cone\r\n");
	{
		struct topo *t = NULL;
		char err[256];

		assert_int_equal(matrix_cell_topo(m, 0, &t, err, sizeof(err)), 0);
		assert_string_equal(t->server.addr, "203.0.113.5");
		assert_int_equal(t->timeout_ms, 5000);
		assert_null(t->expect_why);
		topo_free(t);
	}
	matrix_free(m);
	/* A value as long as a line allows still fits once written back. */
	{
		char text[512];

		snprintf(text, sizeof(text), "[matrix]\ndescription = %0180d\n[profile a]\n"
			 "preset                                                = open\n", 0);
		m = parse_ok(text);
		matrix_free(m);
	}
}

/* ---- the picture ---- */

static struct result res[6];

static const char *const prof[] = { "open", "sym<&>", "pr" };
static struct matrix_report_cell pic_cells[6];

static struct matrix_picture picture(void)
{
	static const enum outcome exp[] = { OUTCOME_DIRECT, OUTCOME_DIRECT, OUTCOME_DIRECT,
					    OUTCOME_RELAYED, OUTCOME_RELAYED, OUTCOME_DIRECT };
	static const enum result_outcome act[] = { RESULT_DIRECT, RESULT_RELAYED, RESULT_DIRECT,
						   RESULT_RELAYED, RESULT_ERROR, RESULT_DIRECT };

	for (int i = 0; i < 6; i++) {
		res[i].expected = exp[i];
		res[i].actual = act[i];
		res[i].verdict = result_outcome_of(exp[i]) == act[i] ? VERDICT_PASS : VERDICT_FAIL;
		res[i].error = NULL;
	}
	static char boom[] = "netns: \"boom\" <b>|\x1b[31m\xff";

	res[4].error = boom;
	res[4].verdict = VERDICT_ERROR;
	/* (0,0) (0,1) (0,2) (1,1) (2,1) given swapped, (2,2) not run. */
	pic_cells[0] = (struct matrix_report_cell){ 0, 0, &res[0], NULL };
	pic_cells[1] = (struct matrix_report_cell){ 0, 1, &res[1], NULL };
	pic_cells[2] = (struct matrix_report_cell){ 0, 2, &res[2], NULL };
	pic_cells[3] = (struct matrix_report_cell){ 1, 1, &res[3], NULL };
	pic_cells[4] = (struct matrix_report_cell){ 2, 1, &res[4], NULL };
	pic_cells[5] = (struct matrix_report_cell){ 7, 1, &res[5], NULL }; /* out of range: ignored */
	return (struct matrix_picture){ .title = "demo", .description = "a \"small\" & <odd> one",
					.profiles = prof, .n_profiles = 3, .cells = pic_cells,
					.n_cells = 6 };
}

static char *render(int which, bool color)
{
	struct matrix_picture p = picture();
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	if (which == 0)
		assert_int_equal(matrix_report_text(f, &p, color), 0);
	else if (which == 1)
		assert_int_equal(matrix_report_markdown(f, &p), 0);
	else
		assert_int_equal(matrix_report_svg(f, &p), 0);
	assert_int_equal(fclose(f), 0);
	return buf;
}

static void test_text(void **state)
{
	char *plain = render(0, false), *color = render(0, true);

	check_golden("picture.txt", plain);
	check_golden("picture-color.txt", color);
	assert_non_null(strstr(plain, "R!"));
	assert_null(strchr(plain, '\x1b'));
	assert_non_null(strstr(color, "\033[1;31mR!\033[0m"));
	assert_non_null(strstr(color, "\033[33mE\033[0m"));
	assert_non_null(strstr(plain, "open x sym<&>: relayed, expected direct"));
	assert_non_null(strstr(plain, "6 cells: 3 passed, 1 failed, 1 error, 1 not run"));
	free(plain);
	free(color);
}

static void test_markdown(void **state)
{
	char *md = render(1, false);

	check_golden("picture.md", md);
	assert_non_null(strstr(md, "| **sym&lt;&amp;&gt;** |"));
	assert_non_null(strstr(md, "❌ R≠D"));
	assert_non_null(strstr(md, "\\|"));
	assert_null(strchr(md, '\x1b'));
	free(md);
}

static bool have(const char *prog)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", prog);
	return system(cmd) == 0;
}

static void test_svg(void **state)
{
	char *svg = render(2, false);
	char path[] = "/tmp/test_matrix.XXXXXX", cmd[256];
	int fd;

	check_golden("picture.svg", svg);
	assert_non_null(strstr(svg, "sym&lt;&amp;&gt;"));
	assert_null(strstr(svg, "sym<&>"));
	assert_null(strchr(svg, '\x1b'));
	assert_non_null(strstr(svg, "exp. direct"));
	/* filled by what happened, not by whether it was expected: the
	 * passing direct and relayed cells differ, the mismatch is framed */
	assert_non_null(strstr(svg, "fill=\"#81c784\" stroke=\"#757575\" stroke-width=\"1\""));
	assert_non_null(strstr(svg, "fill=\"#90caf9\" stroke=\"#757575\" stroke-width=\"1\""));
	assert_non_null(strstr(svg, "fill=\"#90caf9\" stroke=\"#d50000\" stroke-width=\"4\""));
	assert_non_null(strstr(svg, "rows: alice's router"));
	assert_non_null(strstr(svg, "columns: bob's router"));
	assert_null(strstr(svg, "href"));       /* self-contained: nothing to fetch */
	if (have("xmllint")) {
		fd = mkstemp(path);
		assert_true(fd >= 0);
		assert_int_equal(write(fd, svg, strlen(svg)), (ssize_t)strlen(svg));
		close(fd);
		snprintf(cmd, sizeof(cmd), "xmllint --noout %s", path);
		assert_int_equal(system(cmd), 0);
		/* Check the checker. */
		fd = open(path, O_WRONLY | O_TRUNC);
		assert_true(fd >= 0);
		assert_int_equal(write(fd, "<a>&</a>", 8), 8);
		close(fd);
		snprintf(cmd, sizeof(cmd), "xmllint --noout %s 2>/dev/null", path);
		assert_int_not_equal(system(cmd), 0);
		unlink(path);
	}
	free(svg);
}

/* A repeated matrix: two cells over 20 runs each, one as expected 18
 * times (passes with expect-rate 0.9), one relayed 12 times where direct
 * was expected (fails). */
static void test_picture_rates(void **state)
{
	static const char *const two[] = { "eim", "apdm" };
	struct result r[2] = { { .expected = OUTCOME_DIRECT, .actual = RESULT_DIRECT, .verdict = VERDICT_PASS },
			       { .expected = OUTCOME_DIRECT, .actual = RESULT_RELAYED, .verdict = VERDICT_FAIL } };
	struct stats_agg a[2] = {
		{ .runs = 20, .passed = 18, .direct = 18, .failed = 2, .verdict = VERDICT_PASS,
		  .outcome = RESULT_DIRECT, .expect_rate = 0.9, .n_ms = 18, .p50_ms = 120, .p95_ms = 480 },
		{ .runs = 20, .passed = 8, .direct = 8, .relayed = 12, .verdict = VERDICT_FAIL,
		  .outcome = RESULT_RELAYED },
	};
	struct matrix_report_cell cells[2] = { { 0, 0, &r[0], &a[0] }, { 0, 1, &r[1], &a[1] } };
	struct matrix_picture p = { .title = "rates", .profiles = two, .n_profiles = 2, .cells = cells,
				    .n_cells = 2 };
	char *out[3] = { NULL, NULL, NULL };
	size_t len;

	for (int i = 0; i < 2; i++)
		stats_wilson(a[i].passed, a[i].runs, STATS_Z95, &a[i].lo, &a[i].hi);
	for (int i = 0; i < 3; i++) {
		FILE *f = open_memstream(&out[i], &len);

		assert_int_equal(i == 0 ? matrix_report_text(f, &p, false) :
				 i == 1 ? matrix_report_markdown(f, &p) : matrix_report_svg(f, &p), 0);
		assert_int_equal(fclose(f), 0);
	}
	check_golden("picture-rates.txt", out[0]);
	check_golden("picture-rates.md", out[1]);
	check_golden("picture-rates.svg", out[2]);
	assert_non_null(strstr(out[0], "D90%"));
	assert_non_null(strstr(out[0], "R!40%"));
	assert_non_null(strstr(out[0], "eim x apdm: 8 of 20 runs as expected (direct), D8 R12 F0"));
	assert_non_null(strstr(out[1], "✅ D 18/20"));
	assert_non_null(strstr(out[1], "❌ R≠D 8/20"));
	assert_non_null(strstr(out[2], "18/20 as exp."));
	assert_non_null(strstr(out[2], "8/20 as exp."));
	assert_non_null(strstr(out[2], "95% interval 70%-97%"));
	assert_non_null(strstr(out[2], "to direct p50 120 ms, p95 480 ms"));
	/* the failing cell: relayed fill, red frame; the passing one not framed */
	assert_non_null(strstr(out[2], "fill=\"#90caf9\" stroke=\"#d50000\""));
	assert_non_null(strstr(out[2], "fill=\"#81c784\" stroke=\"#757575\""));
	for (int i = 0; i < 3; i++)
		free(out[i]);
}

static void test_picture_edges(void **state)
{
	struct matrix_picture p = { .title = NULL, .n_profiles = 0 };
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_int_equal(matrix_report_text(f, &p, false), 0);
	assert_int_equal(matrix_report_markdown(f, &p), 0);
	assert_int_equal(matrix_report_svg(f, &p), 0);
	p.n_profiles = 2;       /* but no names */
	assert_int_equal(matrix_report_text(f, &p, false), -EINVAL);
	assert_int_equal(matrix_report_svg(f, &p), -EINVAL);
	p.n_profiles = -1;
	assert_int_equal(matrix_report_markdown(f, &p), -EINVAL);
	assert_int_equal(fclose(f), 0);
	assert_non_null(strstr(buf, "0 cells: 0 passed, 0 failed"));
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shipped_rfc4787),
		cmocka_unit_test(test_shipped_tcp),
		cmocka_unit_test(test_shipped_classic),
		cmocka_unit_test(test_cells),
		cmocka_unit_test(test_file),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_accepts),
		cmocka_unit_test(test_text),
		cmocka_unit_test(test_markdown),
		cmocka_unit_test(test_svg),
		cmocka_unit_test(test_picture_rates),
		cmocka_unit_test(test_picture_edges),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
