/* Unit tests for the INI plumbing topo.c and matrix.c share (lab/model/iniread.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model/iniread.h"

struct rec {
	struct iniread_err e;
	char log[512];
	int finish_calls;
	int finish_rc;          /* what finish returns */
	bool finish_fails;      /* finish reports an error first */
};

static int on_section(void *user, const char *s, size_t len)
{
	struct rec *r = user;
	size_t n = strlen(r->log);

	snprintf(r->log + n, sizeof(r->log) - n, "%d:%.*s|", r->e.line, (int)len, s);
	return 0;
}

static int on_key(void *user, const char *name, const char *value)
{
	struct rec *r = user;
	size_t n = strlen(r->log);

	snprintf(r->log + n, sizeof(r->log) - n, "%d:%s=%s|", r->e.line, name, value);
	return 1;
}

static int on_finish(void *user)
{
	struct rec *r = user;

	r->finish_calls++;
	if (r->finish_fails)
		return iniread_fail(&r->e, 1, "finish says no"), -1;
	return r->finish_rc;
}

static const struct iniread_ops ops = { .section = on_section, .key = on_key, .finish = on_finish };

static int parse(struct rec *r, const char *text)
{
	r->e.name = "t.ini";
	return iniread_parse(text, strlen(text), &r->e, &ops, r);
}

static void test_lines_and_finish(void **state)
{
	struct rec r = { 0 };

	assert_int_equal(parse(&r, "\xef\xbb\xbf[a b]\r\n  k = v ; c\n\n[c]\nx=1\n"), 0);
	assert_string_equal(r.log, "1:[a b]|2:k=v|4:[c]|5:x=1|");
	assert_int_equal(r.e.line, 5);
	assert_int_equal(r.finish_calls, 1);
	assert_false(r.e.failed);
}

static void test_reader_errors(void **state)
{
	struct rec r = { 0 };

	assert_int_equal(parse(&r, "[a]\nno separator here\n"), -EINVAL);
	assert_string_equal(r.e.msg, "t.ini:2: expected 'key = value', a [section] or a comment");
	assert_int_equal(r.finish_calls, 0); /* not after a failure */
	memset(&r, 0, sizeof(r));
	assert_int_equal(parse(&r, "k = v\x01\n"), -EINVAL);
	assert_string_equal(r.e.msg, "t.ini:1: control character 0x01 (only tab is allowed)");
}

static void test_finish_errors(void **state)
{
	struct rec r = { .finish_fails = true };
	char err[64];

	assert_int_equal(parse(&r, "k = v\n"), -EINVAL);
	assert_int_equal(iniread_result(&r.e, -EINVAL, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "t.ini:1: finish says no");
	/* A finish that fails without a message still fails the parse. */
	memset(&r, 0, sizeof(r));
	r.finish_rc = -1;
	assert_int_equal(parse(&r, "k = v\n"), -EINVAL);
	assert_false(r.e.failed);
}

static void test_fail_oom_result(void **state)
{
	struct iniread_err e = { .name = "f.topo", .line = 7 };
	char err[64] = "untouched";

	assert_int_equal(iniread_result(&e, 0, err, sizeof(err)), 0);
	assert_string_equal(err, "untouched");
	assert_int_equal(iniread_fail(&e, 3, "bad %s", "thing"), -EINVAL);
	assert_int_equal(iniread_fail(&e, 4, "second"), -EINVAL); /* the first error wins */
	assert_string_equal(e.msg, "f.topo:3: bad thing");
	assert_int_equal(iniread_oom(&e), -ENOMEM);
	assert_false(e.nomem); /* already failed: the first stays */
	assert_int_equal(iniread_result(&e, -EINVAL, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "f.topo:3: bad thing");
	assert_int_equal(iniread_result(&e, -EINVAL, NULL, 0), -EINVAL);

	memset(&e, 0, sizeof(e));
	e.name = "f.topo";
	e.line = 9;
	assert_int_equal(iniread_oom(&e), -ENOMEM);
	assert_int_equal(iniread_result(&e, -EINVAL, err, sizeof(err)), -ENOMEM);
	assert_string_equal(err, "f.topo:9: out of memory");
}

static int text_len(const char *name, const char *text, size_t len, void *out, char *err, size_t errsize)
{
	*(size_t *)out = len;
	return strcmp(text, "fail\n") == 0 ? (snprintf(err, errsize, "%s: failed", name), -EINVAL) : 0;
}

static void test_parse_file(void **state)
{
	char path[] = "/tmp/test_iniread.XXXXXX", err[128];
	size_t got = 0;
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, "abc\n", 4), 4);
	close(fd);
	assert_int_equal(iniread_parse_file(path, 100, "thing", text_len, &got, err, sizeof(err)), 0);
	assert_int_equal(got, 4);
	assert_int_equal(iniread_parse_file(path, 3, "thing", text_len, &got, err, sizeof(err)), -EFBIG);
	assert_non_null(strstr(err, "larger than 3 bytes, not a thing"));
	/* No room for a message is fine. */
	assert_int_equal(iniread_parse_file(path, 3, "thing", text_len, &got, NULL, 0), -EFBIG);
	fd = open(path, O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "fail\n", 5), 5);
	close(fd);
	assert_int_equal(iniread_parse_file(path, 100, "thing", text_len, &got, err, sizeof(err)), -EINVAL);
	assert_string_equal(strchr(err, ':'), ": failed");
	unlink(path);
	assert_int_equal(iniread_parse_file(path, 100, "thing", text_len, &got, err, sizeof(err)), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lines_and_finish),
		cmocka_unit_test(test_reader_errors),
		cmocka_unit_test(test_finish_errors),
		cmocka_unit_test(test_fail_oom_result),
		cmocka_unit_test(test_parse_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
