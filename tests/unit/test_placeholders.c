/* Unit tests for [programs] placeholders (lab/model/placeholders.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "model/placeholders.h"

static struct ph_values values(void)
{
	struct ph_values v = { { NULL } };

	v.v[PH_SERVER] = "203.0.113.10:3478";
	v.v[PH_SERVER_IP] = "203.0.113.10";
	v.v[PH_SERVER_PORT] = "3478";
	v.v[PH_SESSION] = "lab";
	v.v[PH_WORKDIR] = "/tmp/punchlab-x.abc";
	v.v[PH_DIR] = "/src/topologies";
	v.v[PH_PEER] = "alice";
	v.v[PH_ROLE] = "1";
	v.v[PH_LOCAL_IP] = "192.168.1.10";
	v.v[PH_LOCAL_PORT] = "40001";
	v.v[PH_PEER_IP] = "203.0.113.21";
	v.v[PH_PEER_PORT] = "40002";
	v.v[PH_OTHER] = "bob";
	v.v[PH_OTHER_ROLE] = "2";
	return v;
}

static void expect_argv(const char *cmd, const char *const want[])
{
	struct ph_values v = values();
	char **argv = NULL, err[256] = "";
	size_t n = 0;

	assert_int_equal(ph_argv(cmd, &v, &argv, err, sizeof(err)), 0);
	for (; want[n]; n++) {
		assert_non_null(argv[n]);
		assert_string_equal(argv[n], want[n]);
	}
	assert_null(argv[n]);
	ph_argv_free(argv);
}

static void test_split_expand(void **state)
{
	(void)state;
	expect_argv("my-peer --server {server} --name {peer}",
		    (const char *const[]){ "my-peer", "--server", "203.0.113.10:3478", "--name", "alice", NULL });
	/* Blanks and tabs separate; runs of them make no empty words. */
	expect_argv("  a \t b  ", (const char *const[]){ "a", "b", NULL });
	/* Quotes group, are removed, and placeholders inside are expanded. */
	expect_argv("sh -c 'ping -c 1 10.99.0.{other_role} && echo \"{other} ok\"'",
		    (const char *const[]){ "sh", "-c", "ping -c 1 10.99.0.2 && echo \"bob ok\"", NULL });
	expect_argv("x \"a b\"'c d'e", (const char *const[]){ "x", "a bc de", NULL });
	expect_argv("x '' y", (const char *const[]){ "x", "", "y", NULL });
	/* A value never splits a word, and glues to its neighbours. */
	expect_argv("{dir}/run.sh {workdir}/cfg-{role}.yml",
		    (const char *const[]){ "/src/topologies/run.sh", "/tmp/punchlab-x.abc/cfg-1.yml", NULL });
	expect_argv("p {local_ip}:{local_port} {peer_ip}:{peer_port} {session} {server_ip} {server_port}",
		    (const char *const[]){ "p", "192.168.1.10:40001", "203.0.113.21:40002", "lab", "203.0.113.10",
					   "3478", NULL });
}

static void check_bad(const char *cmd, unsigned mask, const char *want)
{
	char err[512] = "";

	assert_int_equal(ph_check(cmd, mask, err, sizeof(err)), -EINVAL);
	if (!strstr(err, want))
		fail_msg("'%s': got '%s', want '%s'", cmd, err, want);
}

static void test_check(void **state)
{
	(void)state;
	assert_int_equal(ph_check("prog {server} {workdir} {dir} {session}", PH_LAB_MASK, NULL, 0), 0);
	assert_int_equal(ph_check("prog {peer} {other_role}", PH_ALL_MASK, NULL, 0), 0);
	check_bad("prog {srv}", PH_ALL_MASK, "unknown placeholder '{srv}': expected {server} {server_ip}");
	check_bad("prog {}", PH_ALL_MASK, "unknown placeholder '{}'");
	check_bad("prog {peer}", PH_LAB_MASK, "placeholder '{peer}' is per peer, and this command is not: "
		  "expected {server} {server_ip} {server_port} {session} {workdir} {dir}");
	check_bad("prog {server", PH_ALL_MASK, "'{' without '}'");
	check_bad("prog }", PH_ALL_MASK, "'}' without '{'");
	check_bad("prog 'a b", PH_ALL_MASK, "unbalanced ' quote");
	check_bad("prog \"a b", PH_ALL_MASK, "unbalanced \" quote");
	check_bad("   ", PH_ALL_MASK, "empty command");
	check_bad("", PH_ALL_MASK, "empty command");
}

static void test_missing_value(void **state)
{
	struct ph_values v = values();
	char **argv = (char **)1, err[256];

	(void)state;
	v.v[PH_SERVER] = NULL; /* fixed-port: no server */
	assert_int_equal(ph_argv("p {server}", &v, &argv, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "placeholder '{server}' has no value here");
	assert_true(argv == (char **)1); /* untouched on failure */
}

static void test_env(void **state)
{
	struct ph_values v = { { NULL } };
	char **env = NULL;

	(void)state;
	v.v[PH_SERVER_IP] = "203.0.113.10";
	v.v[PH_OTHER_ROLE] = "2";
	v.v[PH_WORKDIR] = "/tmp/w";
	assert_int_equal(ph_env(&v, &env), 0);
	assert_string_equal(env[0], "PUNCHLAB_SERVER_IP=203.0.113.10");
	assert_string_equal(env[1], "PUNCHLAB_WORKDIR=/tmp/w");
	assert_string_equal(env[2], "PUNCHLAB_OTHER_ROLE=2");
	assert_null(env[3]);
	ph_argv_free(env);
	for (int i = 0; i < PH_COUNT; i++)
		assert_non_null(ph_name(i));
	assert_null(ph_name(PH_COUNT));
	assert_null(ph_name(-1));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split_expand),
		cmocka_unit_test(test_check),
		cmocka_unit_test(test_missing_value),
		cmocka_unit_test(test_env),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
