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

static int on_section(void *user, const struct iniread_section *sec)
{
	struct rec *r = user;
	size_t n = strlen(r->log);

	snprintf(r->log + n, sizeof(r->log) - n, "%d:<%s><%s><%.*s>|", r->e.line, sec->type, sec->name,
		 sec->inner_len, sec->inner);
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
	assert_string_equal(r.log, "1:<a><b><a b>|2:k=v|4:<c><><c>|5:x=1|");
	assert_int_equal(r.e.line, 5);
	assert_int_equal(r.finish_calls, 1);
	assert_false(r.e.failed);
}

static void test_section_headers(void **state)
{
	struct rec r = { 0 };

	assert_int_equal(parse(&r, "  [ nat   home a  ]  ; note\n[peer]\t# x\n[averyveryverylongtype n]\n"), 0);
	assert_string_equal(r.log, "1:<nat><home a>< nat   home a  >|2:<peer><><peer>|"
			    "3:<averyveryverylo><n><averyveryverylongtype n>|");
	memset(&r, 0, sizeof(r));
	assert_int_equal(parse(&r, "[nat\n"), -EINVAL);
	assert_string_equal(r.e.msg, "t.ini:1: section header without ']'");
	memset(&r, 0, sizeof(r));
	assert_int_equal(parse(&r, "\n[nat a] x\n"), -EINVAL);
	assert_string_equal(r.e.msg, "t.ini:2: unexpected text after ']' (a comment starts with ';' or '#')");
	assert_string_equal(r.log, "");
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

/* A kind whose result is its key count: init, take and done are seen. */
struct counter {
	struct iniread_err e;
	int *keys;
	int done_calls;
};

static int count_key(void *user, const char *name, const char *value)
{
	struct counter *c = user;

	(*c->keys)++;
	return strcmp(value, "oom") ? 1 : (iniread_oom(&c->e), 0);
}

static int count_section(void *user, const struct iniread_section *sec)
{
	return 0;
}

static int count_init(void *state)
{
	struct counter *c = state;

	c->keys = calloc(1, sizeof(*c->keys));
	return c->keys ? 0 : iniread_oom(&c->e);
}

static void count_done(void *state)
{
	struct counter *c = state;

	c->done_calls++;
	free(c->keys); /* NULL once handed over */
}

static const struct iniread_kind counter_kind = {
	.size = sizeof(struct counter), .result = offsetof(struct counter, keys), .unnamed = "<counter>",
	.init = count_init, .done = count_done,
	.ops = { .section = count_section, .key = count_key },
};

static void test_text(void **state)
{
	static const char text[] = "[s]\na = 1\nb = 2\n";
	char err[128];
	int one = 1, *out = &one;

	assert_int_equal(iniread_text(&counter_kind, NULL, text, strlen(text), &out, err, sizeof(err)), 0);
	assert_int_equal(*out, 2);
	free(out);
	out = &one;
	assert_int_equal(iniread_text(&counter_kind, NULL, "a = 1\nb\n", 8, &out, err, sizeof(err)), -EINVAL);
	assert_null(out);
	assert_string_equal(err, "<counter>:2: expected 'key = value', a [section] or a comment");
	assert_int_equal(iniread_text(&counter_kind, "x.c", "a = oom\n", 8, &out, err, sizeof(err)), -ENOMEM);
	assert_null(out);
	assert_string_equal(err, "x.c:1: out of memory");
}

static void test_file(void **state)
{
	char path[] = "/tmp/test_iniread.XXXXXX", err[128];
	int *out = NULL, fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, "a = 1\n", 6), 6);
	close(fd);
	assert_int_equal(iniread_file(&counter_kind, path, 100, "thing", &out, err, sizeof(err)), 0);
	assert_int_equal(*out, 1);
	free(out);
	assert_int_equal(iniread_file(&counter_kind, path, 3, "thing", &out, err, sizeof(err)), -EFBIG);
	assert_null(out);
	assert_non_null(strstr(err, "larger than 3 bytes, not a thing"));
	/* No room for a message is fine. */
	assert_int_equal(iniread_file(&counter_kind, path, 3, "thing", &out, NULL, 0), -EFBIG);
	fd = open(path, O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "a\n", 2), 2);
	close(fd);
	assert_int_equal(iniread_file(&counter_kind, path, 100, "thing", &out, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, ":1: expected 'key = value'"));
	assert_int_equal(strncmp(err, path, strlen(path)), 0);
	unlink(path);
	assert_int_equal(iniread_file(&counter_kind, path, 100, "thing", &out, err, sizeof(err)), -ENOENT);
}

static void test_name_check(void **state)
{
	assert_int_equal(iniread_name_check("home-a", 15), 0);
	assert_int_equal(iniread_name_check("a", 1), 0);
	assert_int_equal(iniread_name_check("0-9", 15), 0);
	assert_int_equal(iniread_name_check("abcdefghijklmno", 15), 0);
	assert_int_equal(iniread_name_check("abcdefghijklmnop", 15), -EINVAL);
	assert_int_equal(iniread_name_check("", 15), -EINVAL);
	assert_int_equal(iniread_name_check("-a", 15), -EINVAL);
	assert_int_equal(iniread_name_check("Home", 15), -EINVAL);
	assert_int_equal(iniread_name_check("a_b", 15), -EINVAL);
	assert_int_equal(iniread_name_check("a b", 15), -EINVAL);
	assert_int_equal(iniread_name_check("a.b", 15), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lines_and_finish),
		cmocka_unit_test(test_section_headers),
		cmocka_unit_test(test_reader_errors),
		cmocka_unit_test(test_finish_errors),
		cmocka_unit_test(test_fail_oom_result),
		cmocka_unit_test(test_text),
		cmocka_unit_test(test_file),
		cmocka_unit_test(test_name_check),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
