/* Unit tests for the options every program shares (src/common/cli.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <unistd.h>

#include "common/cli.h"

static void test_log_and_help(void **state)
{
	struct cli_common cc = { .lvl = LOG_LVL_INFO, .ready_fd = -1 };

	assert_int_equal(cli_opt('v', NULL, &cc), 0);
	assert_int_equal(cc.lvl, LOG_LVL_DEBUG);
	assert_int_equal(cli_opt('q', NULL, &cc), 0);
	assert_int_equal(cc.lvl, LOG_LVL_WARN);
	assert_int_equal(cli_opt('h', NULL, &cc), CLI_HELP);
	assert_int_equal(cc.ready_fd, -1);
}

static void test_not_shared(void **state)
{
	struct cli_common cc = { .lvl = LOG_LVL_INFO, .ready_fd = -1 };

	/* getopt's own complaints are errors; anything else is the caller's. */
	assert_int_equal(cli_opt('?', NULL, &cc), -EINVAL);
	assert_int_equal(cli_opt(':', NULL, &cc), -EINVAL);
	assert_int_equal(cli_opt('l', "x", &cc), -ENOENT);
	assert_int_equal(cli_opt(256, "x", &cc), -ENOENT);
	assert_int_equal(cc.lvl, LOG_LVL_INFO);
}

static void test_ready_fd(void **state)
{
	struct cli_common cc = { .lvl = LOG_LVL_INFO, .ready_fd = -1 };
	char arg[16];
	int p[2];

	assert_int_equal(pipe(p), 0);
	assert_true(p[1] > 2);
	snprintf(arg, sizeof(arg), "%d", p[1]);
	assert_int_equal(cli_opt(CLI_READY_FD, arg, &cc), 0);
	assert_int_equal(cc.ready_fd, p[1]);
	close(p[0]);
	close(p[1]);
	cc.ready_fd = -1;
	/* Closed, standard, negative or not a number: refused, left as it was. */
	assert_int_equal(cli_opt(CLI_READY_FD, arg, &cc), -EINVAL);
	assert_int_equal(cli_opt(CLI_READY_FD, "2", &cc), -EINVAL);
	assert_int_equal(cli_opt(CLI_READY_FD, "-5", &cc), -EINVAL);
	assert_int_equal(cli_opt(CLI_READY_FD, "5x", &cc), -EINVAL);
	assert_int_equal(cc.ready_fd, -1);
}

/* The rows: a table made of them gives getopt_long the shared options. */
static void test_rows(void **state)
{
	static const struct option opts[] = { CLI_OPT_READY_FD, CLI_OPTS_LOG, { NULL, 0, NULL, 0 } };
	char a0[] = "prog", a1[] = "--quiet", a2[] = "--ready-fd", a3[] = "7", a4[] = "--help";
	char *argv[] = { a0, a1, a2, a3, a4, NULL };
	int want[] = { 'q', CLI_READY_FD, 'h' }, c, n = 0;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(5, argv, "vqh", opts, NULL)) != -1) {
		assert_true(n < 3);
		assert_int_equal(c, want[n]);
		if (c == CLI_READY_FD)
			assert_string_equal(optarg, "7");
		n++;
	}
	assert_int_equal(n, 3);
}

static void test_no_operands(void **state)
{
	char a0[] = "prog", a1[] = "-v", a2[] = "stray";
	char *argv[] = { a0, a1, a2, NULL };

	optind = 2;
	assert_int_equal(cli_no_operands(2, argv), 0);
	assert_int_equal(cli_no_operands(3, argv), -EINVAL);
	optind = 3;
	assert_int_equal(cli_no_operands(3, argv), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_log_and_help),
		cmocka_unit_test(test_not_shared),
		cmocka_unit_test(test_ready_fd),
		cmocka_unit_test(test_rows),
		cmocka_unit_test(test_no_operands),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
