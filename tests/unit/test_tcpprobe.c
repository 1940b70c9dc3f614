/* Unit tests for punch-probe tcp-classify's pure parts (src/probe/tcpprobe.c):
 * the mapped endpoints and connect-backs into TCP mapping and filtering
 * (classify_decide()'s table, RFC 5382 sections 4.1 and 4.3), the comparison
 * with a declared TCP behaviour, and the server's line. The same against real
 * rulesets: tests/lab/punchlab-selfcheck.sh (the tcp-* labs, tcp.matrix and
 * tests/lab/data/wrong-tcp-declared.topo). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "probe/tcpprobe.h"

static struct addr at(const char *s)
{
	struct addr a;

	assert_int_equal(addr_parse(s, 0, &a), 0);
	return a;
}

/* T1 (A1:P1), T2 (A2:P1), T3 (A2:P2) seen from local 10.0.0.2:61010 */
static void mapped3(struct classify_mapped m[CLASSIFY_NDEST], const char *t1, const char *t2, const char *t3)
{
	const char *t[3] = { t1, t2, t3 };

	for (int i = 0; i < CLASSIFY_NDEST; i++)
		m[i] = (struct classify_mapped){ .answered = t[i] != NULL, .local = at("10.0.0.2:61010"),
						 .mapped = t[i] ? at(t[i]) : at("0.0.0.0:1") };
}

static void mapping(void **state)
{
	struct classify_mapped m[CLASSIFY_NDEST];
	struct classify_result r;

	(void)state;
	mapped3(m, "203.0.113.10:61010", "203.0.113.10:61010", "203.0.113.10:61010");
	tcpprobe_decide(m, true, CLASSIFY_NO, CLASSIFY_NO, &r);
	assert_true(r.translated);
	assert_true(r.mapping_known);
	assert_int_equal(r.mapping, MAP_EIM);
	/* another address, another port; the same address, the same port */
	mapped3(m, "203.0.113.10:61010", "203.0.113.10:40001", "203.0.113.10:40001");
	tcpprobe_decide(m, true, CLASSIFY_NO, CLASSIFY_NO, &r);
	assert_int_equal(r.mapping, MAP_ADM);
	mapped3(m, "203.0.113.10:61010", "203.0.113.10:40001", "203.0.113.10:40002");
	tcpprobe_decide(m, true, CLASSIFY_NO, CLASSIFY_NO, &r);
	assert_int_equal(r.mapping, MAP_APDM);
	assert_string_equal(classify_mapping_name(&r), "apdm");
	/* a firewall: the local endpoint itself */
	mapped3(m, "10.0.0.2:61010", "10.0.0.2:61010", "10.0.0.2:61010");
	tcpprobe_decide(m, true, CLASSIFY_NO, CLASSIFY_NO, &r);
	assert_false(r.translated);
	assert_int_equal(r.mapping, MAP_NONE);
	/* T1 unanswered: nothing known */
	mapped3(m, NULL, "203.0.113.10:61010", "203.0.113.10:61010");
	tcpprobe_decide(m, true, CLASSIFY_YES, CLASSIFY_YES, &r);
	assert_string_equal(classify_mapping_name(&r), "unknown");
}

static void filtering(void **state)
{
	struct classify_mapped m[CLASSIFY_NDEST];
	struct classify_result r;

	(void)state;
	mapped3(m, "203.0.113.10:61010", "203.0.113.10:61010", "203.0.113.10:61010");
	tcpprobe_decide(m, true, CLASSIFY_YES, CLASSIFY_YES, &r);
	assert_true(r.filtering_known);
	assert_int_equal(r.filtering, FILTER_EIF);
	tcpprobe_decide(m, true, CLASSIFY_YES, CLASSIFY_NO, &r);
	assert_int_equal(r.filtering, FILTER_ADF);
	tcpprobe_decide(m, true, CLASSIFY_NO, CLASSIFY_NO, &r);
	assert_true(r.filtering_known);
	assert_int_equal(r.filtering, FILTER_APDF);
	/* only the other address got in: EIF (RFC 5780 4.4 asks that first) */
	tcpprobe_decide(m, true, CLASSIFY_NO, CLASSIFY_YES, &r);
	assert_int_equal(r.filtering, FILTER_EIF);
	/* the filtering connection itself unanswered: unknown, whatever was seen */
	tcpprobe_decide(m, false, CLASSIFY_YES, CLASSIFY_YES, &r);
	assert_false(r.filtering_known);
	assert_string_equal(classify_filtering_name(&r), "unknown");
}

static void compare(void **state)
{
	struct classify_mapped m[CLASSIFY_NDEST];
	struct classify_result r;
	struct classify_diff d[2];

	(void)state;
	mapped3(m, "203.0.113.10:61010", "203.0.113.10:40001", "203.0.113.10:40002");
	tcpprobe_decide(m, true, CLASSIFY_NO, CLASSIFY_NO, &r);
	assert_int_equal(tcpprobe_compare(MAP_APDM, FILTER_APDF, &r, d), 0);
	assert_int_equal(tcpprobe_compare(MAP_EIM, FILTER_EIF, &r, d), 2);
	assert_string_equal(d[0].property, "tcp-mapping");
	assert_string_equal(d[0].declared, "eim");
	assert_string_equal(d[0].observed, "apdm");
	assert_string_equal(d[1].property, "tcp-filtering");
	assert_string_equal(d[1].declared, "eif");
	assert_string_equal(d[1].observed, "apdf");
	/* a firewall declared open is seen as EIF from inside */
	mapped3(m, "10.0.0.2:61010", "10.0.0.2:61010", "10.0.0.2:61010");
	tcpprobe_decide(m, true, CLASSIFY_YES, CLASSIFY_YES, &r);
	assert_int_equal(tcpprobe_compare(MAP_NONE, FILTER_OPEN, &r, d), 0);
	assert_int_equal(tcpprobe_compare(MAP_EIM, FILTER_EIF, &r, d), 1);
	assert_string_equal(d[0].observed, "none");
	/* unknown never matches */
	tcpprobe_decide(m, false, CLASSIFY_NO, CLASSIFY_NO, &r);
	assert_int_equal(tcpprobe_compare(MAP_NONE, FILTER_APDF, &r, d), 1);
	assert_string_equal(d[0].property, "tcp-filtering");
	assert_string_equal(d[0].observed, "unknown");
}

static void server_line(void **state)
{
	static const char *const bad[] = { "", "\n", "203.0.113.10:61010", "203.0.113.10\n", "203.0.113.10:0\n",
					   "nonsense\n", "203.0.113.10:61010\nmore\n" };
	struct addr a;

	(void)state;
	assert_int_equal(tcpprobe_parse_line("203.0.113.10:61010\n", 19, &a), 0);
	{
		struct addr want = at("203.0.113.10:61010");

		assert_true(addr_equal(&a, &want));
	}
	assert_int_equal(addr_port(&a), 61010);
	assert_int_equal(tcpprobe_parse_line("[2001:db8::10]:3479\n", 20, &a), 0);
	assert_int_equal(addr_family(&a), AF_INET6);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(tcpprobe_parse_line(bad[i], strlen(bad[i]), &a), -EBADMSG);
	assert_int_equal(tcpprobe_parse_line("203.0.113.10:61010\0\n", 20, &a), -EBADMSG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(mapping),
		cmocka_unit_test(filtering),
		cmocka_unit_test(compare),
		cmocka_unit_test(server_line),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
