/* Unit tests for the result codec (lab/report/result.c): a full result
 * survives result_to_json -> result_from_json field for field (the worker
 * pipe), the --json report's scenario objects decode the same way, and
 * input that is not a result is refused, never half-read. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "report/report.h"
#include "report/result.h"

/* Everything set, hostile text included. */
static void fill(struct result *r)
{
	memset(r, 0, sizeof(*r));
	r->name = strdup("pr-cone \"x\" <y>\ncaf\xc3\xa9");
	r->file = strdup("matrices/rfc4787.matrix");
	r->description = strdup("two homes");
	r->expected = OUTCOME_RELAYED;
	r->actual = RESULT_UNPROVEN;
	r->verdict = VERDICT_FAIL;
	r->detail = strdup("both report relayed, but\n\tthe internet carried 0");
	r->selfcheck_ran = true;
	r->n_routers = 2;
	r->routers = calloc(2, sizeof(*r->routers));
	assert_non_null(r->routers);
	r->routers[0] = (struct result_router){
		.name = "home-a", .family = 4, .checked = true, .observed_valid = true, .match = false,
		.declared = { .nat = true, .mapping = MAP_EIM, .filtering = FILTER_APDF, .ports = PORTS_PRESERVE,
			      .hairpin = 1 },
		.observed = { .nat = true, .mapping = MAP_APDM, .filtering = -1, .ports = PORTS_RANDOM, .hairpin = -1 },
		.note = "mapping declared eim, observed apdm",
	};
	r->routers[1] = (struct result_router){
		.name = "fw", .family = 6, .checked = false,
		.declared = { .nat = false, .udp_blocked = true, .mapping = MAP_NONE, .filtering = FILTER_OPEN },
		.note = "self-check = no in the file",
	};
	r->evidence = (struct result_evidence){
		.counted = true,
		.verdict = RESULT_RELAYED,
		.peers = { { .from_partner = 0, .from_server = 9, .relayed = 7, .sent_to_partner = 5,
			     .endpoint = "198.51.100.1:4000" },
			   { .from_partner = UINT64_C(1) << 40, .from_server = 8, .relayed = 6,
			     .endpoint = "[2001:db8::2]:4001" } },
		.explanation = strdup("alice's router home-a (line 3) dropped 5 datagrams \"<&>\" caf\xc3\xa9"),
		.detail = json_tokener_parse("{\"routers\":[{\"name\":\"home-a\",\"line\":3,\"dropped\":5}]}"),
	};
	r->seed = UINT64_MAX; /* above INT64_MAX: the codec keeps all 64 bits */
	r->conntrack = strdup("home: udp      17 29 src=10.0.1.10 dst=203.0.113.10 sport=4000 dport=3478\n");
	r->seconds = 12.345;
	snprintf(r->peers[0].name, sizeof(r->peers[0].name), "alice");
	r->peers[0].outcome = RESULT_RELAYED;
	r->peers[0].exit_code = 0;
	r->peers[0].report = result_peer_report("{\"outcome\": \"relayed\", \"rtt_ms\": 1.5}\n");
	r->peers[0].stderr_tail = strdup("warning \xff bad byte\n");
	snprintf(r->peers[1].name, sizeof(r->peers[1].name), "bob");
	r->peers[1].outcome = RESULT_UNKNOWN;
	r->peers[1].exit_code = -1;
	r->peers[1].report = result_peer_report("{not json");
}

static void assert_same_behavior(const struct result_behavior *a, const struct result_behavior *b)
{
	assert_int_equal(a->nat, b->nat);
	assert_int_equal(a->udp_blocked, b->udp_blocked);
	assert_int_equal(a->mapping, b->mapping);
	assert_int_equal(a->filtering, b->filtering);
	assert_int_equal(a->ports, b->ports);
	assert_int_equal(a->hairpin, b->hairpin);
}

static void assert_same(const struct result *a, const struct result *b)
{
	assert_string_equal(a->name, b->name);
	assert_string_equal(a->file, b->file);
	assert_string_equal(a->description, b->description);
	assert_int_equal(a->expected, b->expected);
	assert_int_equal(a->actual, b->actual);
	assert_int_equal(a->verdict, b->verdict);
	assert_true((a->error == NULL) == (b->error == NULL));
	assert_string_equal(a->detail, b->detail);
	assert_int_equal(a->selfcheck_ran, b->selfcheck_ran);
	assert_int_equal(a->n_routers, b->n_routers);
	for (int i = 0; i < a->n_routers; i++) {
		const struct result_router *x = &a->routers[i], *y = &b->routers[i];

		assert_string_equal(x->name, y->name);
		assert_int_equal(x->family, y->family);
		assert_int_equal(x->checked, y->checked);
		assert_int_equal(x->match, y->match);
		assert_int_equal(x->observed_valid, y->observed_valid);
		assert_same_behavior(&x->declared, &y->declared);
		if (x->observed_valid)
			assert_same_behavior(&x->observed, &y->observed);
		assert_string_equal(x->note, y->note);
	}
	assert_int_equal(a->evidence.counted, b->evidence.counted);
	assert_int_equal(a->evidence.verdict, b->evidence.verdict);
	for (int k = 0; k < 2; k++) {
		const struct result_evidence_peer *x = &a->evidence.peers[k], *y = &b->evidence.peers[k];

		assert_true(x->from_partner == y->from_partner);
		assert_true(x->from_server == y->from_server);
		assert_true(x->relayed == y->relayed);
		assert_true(x->sent_to_partner == y->sent_to_partner);
		assert_string_equal(x->endpoint, y->endpoint);
	}
	assert_string_equal(a->evidence.explanation, b->evidence.explanation);
	assert_true(json_object_equal(a->evidence.detail, b->evidence.detail));
	assert_true(a->seed == b->seed);
	if (a->conntrack || b->conntrack)
		assert_string_equal(a->conntrack, b->conntrack);
	assert_true(a->seconds > b->seconds - 0.0005 && a->seconds < b->seconds + 0.0005);
	assert_int_equal(a->repetition, b->repetition);
	assert_true(a->expect_rate == b->expect_rate);
	for (int k = 0; k < 2; k++) {
		assert_string_equal(a->peers[k].name, b->peers[k].name);
		assert_int_equal(a->peers[k].outcome, b->peers[k].outcome);
		assert_int_equal(a->peers[k].exit_code, b->peers[k].exit_code);
		assert_true(json_object_equal(a->peers[k].report, b->peers[k].report));
	}
}

static void test_roundtrip(void **state)
{
	struct result a, b;
	char *text;

	(void)state;
	fill(&a);
	a.repetition = 7;
	a.expect_rate = 0.85;
	text = result_to_json(&a);
	assert_non_null(text);
	assert_null(strchr(text, '\n')); /* one line on the pipe */
	assert_int_equal(result_from_json(text, strlen(text), &b), 0);
	/* invalid UTF-8 was replaced on the way out, so compare through one more round */
	assert_non_null(strstr(b.name, "caf\xc3\xa9"));
	assert_non_null(strstr(b.peers[0].stderr_tail, "\xef\xbf\xbd"));
	assert_same(&a, &b);
	/* the client's report stays an object, the bad one its text */
	assert_true(json_object_is_type(b.peers[0].report, json_type_object));
	assert_string_equal(json_object_get_string(b.peers[1].report), "{not json");
	assert_int_equal(result_peer_outcome(b.peers[0].report), RESULT_RELAYED);
	free(text);
	result_clear(&a);
	result_clear(&b);
}

/* The --json report's scenario objects are the codec's: they decode too. */
static void test_report_decodes(void **state)
{
	struct result rs[2], back;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	struct json_object *root, *arr;

	(void)state;
	fill(&rs[0]);
	assert_int_equal(result_set_error(&rs[1], "broken", NULL, "netns: boom"), 0);
	assert_int_equal(report_json(f, rs, 2), 0);
	fclose(f);
	root = json_tokener_parse(buf);
	assert_non_null(root);
	assert_true(json_object_object_get_ex(root, "scenarios", &arr));
	assert_int_equal(result_from_object(json_object_array_get_idx(arr, 0), &back), 0);
	assert_same(&rs[0], &back);
	result_clear(&back);
	assert_int_equal(result_from_object(json_object_array_get_idx(arr, 1), &back), 0);
	assert_int_equal(back.verdict, VERDICT_ERROR);
	assert_int_equal(back.actual, RESULT_ERROR);
	assert_int_equal(back.expected, OUTCOME_UNSET);
	assert_string_equal(back.error, "netns: boom");
	assert_false(back.selfcheck_ran);
	assert_false(back.evidence.counted);
	result_clear(&back);
	json_object_put(root);
	free(buf);
	result_clear(&rs[0]);
	result_clear(&rs[1]);
}

/* A whole --json report reads back into the results it was written from. */
static void test_report_read(void **state)
{
	struct result rs[2], *back = NULL;
	char *buf = NULL;
	size_t len = 0, n = 99;
	FILE *f = open_memstream(&buf, &len);

	(void)state;
	fill(&rs[0]);
	assert_int_equal(result_set_error(&rs[1], "broken", "x.topo", "netns: boom"), 0);
	assert_int_equal(report_json(f, rs, 2), 0);
	fclose(f);
	assert_int_equal(report_json_read(buf, len, &back, &n), 0);
	assert_int_equal(n, 2);
	assert_same(&rs[0], &back[0]);
	assert_string_equal(back[1].error, "netns: boom");
	report_results_free(back, n);
	/* not a report, or a report with a scenario that does not decode */
	assert_int_equal(report_json_read("{\"scenarios\": 1}", 16, &back, &n), -EBADMSG);
	assert_null(back);
	assert_int_equal(n, 0);
	assert_int_equal(report_json_read("{\"scenarios\": [{\"name\": \"x\"}]}", 30, &back, &n), -EBADMSG);
	assert_null(back);
	assert_int_equal(report_json_read(buf, len - 3, &back, &n), -EBADMSG);
	free(buf);
	result_clear(&rs[0]);
	result_clear(&rs[1]);
}

static void test_refused(void **state)
{
	static const char *const bad[] = {
		"",
		"[]",
		"{\"name\": \"x\"}",                                               /* no verdict */
		"{\"name\": \"x\", \"actual\": \"direct\", \"verdict\": \"maybe\"}",
		"{\"name\": \"x\", \"actual\": \"sideways\", \"verdict\": \"pass\"}",
		"{\"name\": \"x\", \"actual\": \"direct\", \"verdict\": \"pass\", \"expected\": \"none\"}",
		"{\"name\": \"x\", \"actual\": \"error\", \"verdict\": \"error\"}", /* error without text */
		"{\"name\": \"x\", \"actual\": \"direct\", \"verdict\": \"pass\", \"seconds\": \"1\"}",
		"{\"name\": \"x\", \"actual\": \"direct\", \"verdict\": \"pass\", \"selfcheck\": [1]}",
		"{\"name\": \"x\", \"actual\": \"direct\", \"verdict\": \"pass\", \"selfcheck\": "
		"[{\"name\": \"r\", \"declared\": {\"mapping\": \"sideways\"}}]}",
		"{\"name\": \"x\", \"actual\": \"direct\", \"verdict\": \"pass\", \"peers\": [{\"report\": 5}]}",
		"{\"name\": \"x\", \"actual\": \"direct\", \"verdict\": \"pass\"} trailing",
		"{\"name\": \"\xff\", \"actual\": \"direct\", \"verdict\": \"pass\"}", /* not UTF-8 */
		"{\"name\": \"x\", \"actual\": \"direct\", \"verdict\": \"pass\", \"peers\": "
		"[{\"name\": \"a-name-much-longer-than-thirty-one-characters\"}]}",
		"{\"name\": \"x\", \"actual\": \"direct\", \"verdict\": \"pass\", \"repetition\": 0}",
		"{\"name\": \"x\", \"actual\": \"direct\", \"verdict\": \"pass\", \"repetition\": 1.5}",
		"{\"name\": \"x\", \"actual\": \"direct\", \"verdict\": \"pass\", \"expect_rate\": 0}",
		"{\"name\": \"x\", \"actual\": \"direct\", \"verdict\": \"pass\", \"expect_rate\": 1.01}",
		"{\"name\": \"x\", \"actual\": \"direct\", \"verdict\": \"pass\", \"expect_rate\": \"0.9\"}",
	};
	struct result r;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&r, 0x5a, sizeof(r));
		assert_int_equal(result_from_json(bad[i], strlen(bad[i]), &r), -EBADMSG);
		assert_null(r.name); /* cleared, nothing half-read */
		assert_null(r.routers);
	}
	{
		static const char ok[] = "{\"name\": \"x\", \"actual\": \"direct\", \"verdict\": \"pass\"}";

		assert_int_equal(result_from_json(ok, strlen(ok), &r), 0);
	}
	assert_int_equal(r.verdict, VERDICT_PASS);
	result_clear(&r);
}

static void test_words(void **state)
{
	char buf[96];
	struct result_behavior b = { .nat = true, .mapping = MAP_APDM, .filtering = FILTER_ADF, .ports = -1,
				     .hairpin = 0 };

	(void)state;
	for (int o = RESULT_NONE; o <= RESULT_UNKNOWN; o++)
		assert_int_equal(result_outcome_parse(result_outcome_name((enum result_outcome)o)), o);
	assert_int_equal(result_outcome_parse("sideways"), RESULT_UNKNOWN);
	assert_int_equal(result_outcome_of(OUTCOME_FAILED), RESULT_FAILED);
	assert_int_equal(result_outcome_of(OUTCOME_UNSET), RESULT_NONE);
	result_behavior_describe(&b, buf, sizeof(buf));
	assert_string_equal(buf, "apdm adf unknown hairpin=no");
	b.nat = false;
	result_behavior_describe(&b, buf, sizeof(buf));
	assert_string_equal(buf, "firewall adf");
	assert_null(result_peer_report(NULL));
	assert_int_equal(result_peer_outcome(NULL), RESULT_NONE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_report_decodes),
		cmocka_unit_test(test_report_read),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_words),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
