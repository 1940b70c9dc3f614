/* Unit tests for model/rulesfile.c: the tree check, the include scan and the
 * cutting of nft's error text. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "model/rulesfile.h"

static void test_under(void **state)
{
	(void)state;
	assert_true(rulesfile_under("/a/b", "/a/b"));
	assert_true(rulesfile_under("/a/b/c.nft", "/a/b"));
	assert_true(rulesfile_under("/a/b/c/d.nft", "/a/b"));
	assert_true(rulesfile_under("/etc/x", "/"));
	assert_false(rulesfile_under("/a/bc", "/a/b"));
	assert_false(rulesfile_under("/a/bc/x.nft", "/a/b"));
	assert_false(rulesfile_under("/a", "/a/b"));
	assert_false(rulesfile_under("/etc/shadow", "/tmp/t"));
	assert_false(rulesfile_under("/a/b", ""));
}

/* Outside as written: refused from the text alone (these paths need not
 * exist); inside as written: the file system decides. */
static void test_confine_lexical(void **state)
{
	char cwd[4096], want[8192], err[8192];

	(void)state;
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(rulesfile_confine("t.topo", "/etc/shadow", err, sizeof(err)), -EACCES);
	snprintf(want, sizeof(want), "rules file '/etc/shadow' is outside the topology's directory %s "
		 "(punchlab run --allow-rules PATH allows rules files elsewhere)", strcmp(cwd, "/") ? cwd : "/");
	assert_string_equal(err, want);
	assert_int_equal(rulesfile_confine("/nonexistent-a/b/t.topo", "/nonexistent-a/b/./x/../../../etc/passwd",
					   err, sizeof(err)), -EACCES);
	assert_non_null(strstr(err, "rules file '/etc/passwd' is outside the topology's directory /nonexistent-a/b "));
	assert_int_equal(rulesfile_confine("/nonexistent-a//b/t.topo", "/nonexistent-a/b/../bc/x.nft", err,
					   sizeof(err)), -EACCES);
	assert_non_null(strstr(err, "'/nonexistent-a/bc/x.nft' is outside"));
	/* Inside as written: resolved, and here missing. */
	assert_int_equal(rulesfile_confine("/nonexistent-a/b/t.topo", "/nonexistent-a/b/c/../x.nft", err,
					   sizeof(err)), -ENOENT);
	assert_string_equal(err, "rules file '/nonexistent-a/b/c/../x.nft': No such file or directory");
}

static void test_scan(void **state)
{
	static const char ok[] = "# include \"/etc/shadow\" in a comment\n"
				 "table ip t { comment \"include me\"; }\n"
				 "define includes = 1\n"
				 "table ip x { chain included { } }\n";
	static const char inc[] = "table ip t {\n}\n  include \"/etc/shadow\"\n";
	static const char inner[] = "table ip t {\n\tchain c {\n\t\tinclude \"/etc/passwd\"\n\t}\n}\n";
	static const char afterstr[] = "table ip t { comment \"a\"; }; include \"x\"\n";
	static const char nul[] = "table ip t {}\n\0include\n";
	char err[256];
	int line = 0;

	(void)state;
	assert_int_equal(rulesfile_scan(ok, sizeof(ok) - 1, &line, err, sizeof(err)), 0);
	assert_int_equal(rulesfile_scan(inc, sizeof(inc) - 1, &line, err, sizeof(err)), -EINVAL);
	assert_int_equal(line, 3);
	assert_non_null(strstr(err, "include is not allowed"));
	assert_int_equal(rulesfile_scan(inner, sizeof(inner) - 1, &line, err, sizeof(err)), -EINVAL);
	assert_int_equal(line, 3);
	assert_int_equal(rulesfile_scan(afterstr, sizeof(afterstr) - 1, &line, err, sizeof(err)), -EINVAL);
	assert_int_equal(line, 1);
	/* The length is the length: the word at the end, without a newline. */
	assert_int_equal(rulesfile_scan("include", 7, &line, err, sizeof(err)), -EINVAL);
	assert_int_equal(rulesfile_scan("includ", 6, &line, err, sizeof(err)), 0);
	assert_int_equal(rulesfile_scan(nul, sizeof(nul) - 1, &line, err, sizeof(err)), -EINVAL);
	assert_int_equal(line, 2);
	assert_non_null(strstr(err, "NUL"));
}

/* The file the lab loaded: secrets on every line but the third. */
static const char secret_text[] = "# SECRET-1 password=hunter2\n"
				  "table ip t {\n"
				  "  chain c { junk here }\n"
				  "}\n"
				  "SECRET-5 token=abcdef\n";

static void test_nft_error_located(void **state)
{
	/* nft 1.0.6's own text for that file, loaded as /proc/self/fd/7: three
	 * errors, and the last echoes line 5 for a location on line 6. */
	static const char nfterr[] = "/proc/self/fd/7:3:19-19: Error: syntax error, unexpected '}'\n"
				     "  chain c { junk here }\n"
				     "                  ^\n"
				     "/proc/self/fd/7:5:1-8: Error: syntax error, unexpected string\n"
				     "SECRET-5 token=abcdef\n"
				     "^^^^^^^^\n"
				     "/proc/self/fd/7:6:1-1: Error: syntax error, unexpected end of file\n"
				     "SECRET-5 token=abcdef\n"
				     "^\n";
	char *s = rulesfile_nft_error(nfterr, "/proc/self/fd/7", "t/mine.nft", secret_text,
				      sizeof(secret_text) - 1);

	(void)state;
	assert_non_null(s);
	assert_string_equal(s, "t/mine.nft:3:19-19: Error: syntax error, unexpected '}'\n"
			       "  chain c { junk here }\n"
			       "                  ^");
	assert_null(strstr(s, "SECRET"));
	free(s);
}

static void test_nft_error_own_line(void **state)
{
	/* The line shown is the lab's own copy of the line nft points at, not
	 * nft's echo; a marker that is not one is dropped; control characters
	 * do not reach a terminal. */
	static const char nfterr[] = "F:2:1-3: Error: bad\nSECRET-1 echoed\nnot a marker\n";
	static const char text[] = "SECRET-1\nx\033[2Jy\nSECRET-3\n";
	char *s = rulesfile_nft_error(nfterr, "F", "mine.nft", text, sizeof(text) - 1);

	(void)state;
	assert_string_equal(s, "mine.nft:2:1-3: Error: bad\nx?[2Jy");
	free(s);
	/* A location past the end of the text: the header alone. */
	s = rulesfile_nft_error("F:9:1-1: Error: syntax error, unexpected end of file\nSECRET-3\n^\n", "F",
				"mine.nft", text, sizeof(text) - 1);
	assert_string_equal(s, "mine.nft:9:1-1: Error: syntax error, unexpected end of file");
	free(s);
	/* A name that only begins like the loaded one is not a location. */
	s = rulesfile_nft_error("F1:1:1-1: Error: x\nSECRET-1\n^\n", "F", "mine.nft", text, sizeof(text) - 1);
	assert_string_equal(s, "F1:1:1-1: Error: x");
	free(s);
}

static void test_nft_error_long_line(void **state)
{
	char text[2 * RULESFILE_LINE_SHOWN + 2], *s;

	(void)state;
	memset(text, 'a', sizeof(text) - 2);
	text[sizeof(text) - 2] = '\n';
	text[sizeof(text) - 1] = '\0';
	s = rulesfile_nft_error("F:1:1-1: Error: x\n", "F", "m", text, strlen(text));
	assert_non_null(s);
	/* header, newline, RULESFILE_LINE_SHOWN bytes and "..." */
	assert_int_equal(strlen(s), strlen("m:1:1-1: Error: x\n") + RULESFILE_LINE_SHOWN + 3);
	free(s);
}

static void test_nft_error_unlocated(void **state)
{
	char *s;

	(void)state;
	s = rulesfile_nft_error("netlink: Error: Could not process rule: No such file\nsomething\n", "F", "m",
				"", 0);
	assert_string_equal(s, "netlink: Error: Could not process rule: No such file");
	free(s);
	s = rulesfile_nft_error("nothing useful\n", "F", "m", "", 0);
	assert_string_equal(s, "");
	free(s);
	s = rulesfile_nft_error(NULL, "F", "m", "", 0);
	assert_string_equal(s, "");
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_under),
		cmocka_unit_test(test_confine_lexical),
		cmocka_unit_test(test_scan),
		cmocka_unit_test(test_nft_error_located),
		cmocka_unit_test(test_nft_error_own_line),
		cmocka_unit_test(test_nft_error_long_line),
		cmocka_unit_test(test_nft_error_unlocated),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
