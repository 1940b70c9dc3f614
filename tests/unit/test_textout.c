/* Unit tests for the reporters' text output (lab/report/textout.c): the UTF-8
 * decoder on every kind of bad sequence, each escaper on hostile text
 * (escape sequences, control characters, markup, quotes, pipes, newlines,
 * invalid UTF-8) with exact expected bytes, and, over many random byte
 * strings, the properties the report formats rely on: the output is valid
 * UTF-8 and cannot break out of its terminal line, table cell or XML value. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "report/textout.h"

#define FFFD "\xef\xbf\xbd"

/* What one writer call put on a stream, as a NUL-terminated string (none of
 * the writers emits a NUL: the input is a C string). */
struct capture {
	FILE *f;
	char *buf;
	size_t len;
};

static void cap_open(struct capture *c)
{
	c->buf = NULL;
	c->len = 0;
	c->f = open_memstream(&c->buf, &c->len);
	assert_non_null(c->f);
}

static char *cap_close(struct capture *c)
{
	assert_int_equal(fclose(c->f), 0);
	assert_int_equal(strlen(c->buf), c->len);
	return c->buf;
}

static char *term(const char *s, bool keep_nl, const char *indent, size_t *cols)
{
	struct capture c;
	size_t n;

	cap_open(&c);
	n = text_put_term(c.f, s, keep_nl, indent);
	if (cols)
		*cols = n;
	return cap_close(&c);
}

static char *md(const char *s, bool keep_nl)
{
	struct capture c;

	cap_open(&c);
	text_put_md(c.f, s, keep_nl);
	return cap_close(&c);
}

static char *xml(const char *s, enum text_xml mode)
{
	struct capture c;

	cap_open(&c);
	text_put_xml(c.f, s, mode);
	return cap_close(&c);
}

#define assert_out(call, want) do { \
		char *got_ = (call); \
		assert_string_equal(got_, want); \
		free(got_); \
	} while (0)

/* Decode from a heap copy of exactly n bytes, so ASan sees any read past it. */
static size_t decode(const char *s, size_t n, uint32_t *cp)
{
	unsigned char *copy = malloc(n);
	size_t len;

	assert_non_null(copy);
	memcpy(copy, s, n);
	*cp = 0xdeadbeef;
	len = text_utf8_next(copy, n, cp);
	free(copy);
	return len;
}

static void test_utf8_valid(void **state)
{
	static const struct {
		const char *s;
		size_t n, len;
		uint32_t cp;
	} good[] = {
		{ "A", 1, 1, 'A' },
		{ "\x7f", 1, 1, 0x7f },
		{ "\xc2\x80", 2, 2, 0x80 },                   /* the shortest two-byte one */
		{ "\xc3\xa9z", 3, 2, 0xe9 },                  /* only the first character */
		{ "\xe2\x98\x95", 3, 3, 0x2615 },
		{ "\xef\xbf\xbf", 3, 3, 0xffff },              /* a noncharacter is still UTF-8 */
		{ "\xf0\x9f\x98\x80", 4, 4, 0x1f600 },
		{ "\xf4\x8f\xbf\xbf", 4, 4, 0x10ffff },
	};
	uint32_t cp;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(decode(good[i].s, good[i].n, &cp), good[i].len);
		assert_int_equal(cp, good[i].cp);
	}
}

static void test_utf8_invalid(void **state)
{
	static const struct {
		const char *s;
		size_t n;
	} bad[] = {
		{ "\x80", 1 },                  /* lone continuation byte */
		{ "\xbf", 1 },
		{ "\xf8\x88\x80\x80\x80", 5 },  /* five-byte lead */
		{ "\xfe", 1 },
		{ "\xff", 1 },
		{ "\xc0\xaf", 2 },              /* overlong '/' */
		{ "\xc1\xbf", 2 },
		{ "\xe0\x80\xaf", 3 },
		{ "\xf0\x80\x80\xaf", 4 },
		{ "\xed\xa0\x80", 3 },          /* surrogates */
		{ "\xed\xbf\xbf", 3 },
		{ "\xf4\x90\x80\x80", 4 },      /* above U+10FFFF */
		{ "\xc3", 1 },                  /* truncated by the end of the buffer */
		{ "\xe2\x98", 2 },
		{ "\xf0\x9f\x98", 3 },
		{ "\xc3(", 2 },                 /* bad continuation */
		{ "\xe2\x28\xa1", 3 },
		{ "\xf0\x9f\x98\x41", 4 },
	};
	uint32_t cp;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(decode(bad[i].s, bad[i].n, &cp), 0);
		assert_int_equal(cp, 0xdeadbeef); /* untouched on failure */
	}
}

static void test_str_and_control(void **state)
{
	const char *s = "x";

	assert_string_equal(text_str(NULL), "");
	assert_ptr_equal(text_str(s), s);
	assert_true(text_is_control(0));
	assert_true(text_is_control('\n'));
	assert_true(text_is_control(0x1b));
	assert_true(text_is_control(0x1f));
	assert_false(text_is_control(' '));
	assert_false(text_is_control('~'));
	assert_true(text_is_control(0x7f));
	assert_true(text_is_control(0x85));
	assert_true(text_is_control(0x9f));
	assert_false(text_is_control(0xa0));
	assert_false(text_is_control(0xfffd));
}

static void test_term(void **state)
{
	size_t cols;

	/* An escape sequence cannot reach the terminal: ESC and CSI become '?'. */
	assert_out(term("\033[31mred\033[0m", false, "", &cols), "?[31mred?[0m");
	assert_int_equal(cols, 12);
	assert_out(term("c1 \xc2\x9b" "2J", false, "", &cols), "c1 ?2J");
	assert_int_equal(cols, 6);
	/* Each invalid byte is one '?', and the valid text after it survives. */
	assert_out(term("bad\xff\xfe caf\xc3\xa9 \xe2\x98", false, "", &cols), "bad?? caf\xc3\xa9 ??");
	assert_int_equal(cols, 13);
	assert_out(term("a\nb\tc\rd\x7f", false, "", &cols), "a?b?c?d?");
	assert_int_equal(cols, 8);
	assert_out(term(NULL, false, "", &cols), "");
	assert_int_equal(cols, 0);
	assert_out(term("\"quotes\" <tags> & |pipes|", false, "", NULL), "\"quotes\" <tags> & |pipes|");
	/* keep_nl: newlines and tabs pass, the indent follows every newline but a last one. */
	assert_out(term("one\n\ttwo\nthree\n", true, "  > ", &cols), "one\n  > \ttwo\n  > three\n");
	assert_int_equal(cols, 15);
	assert_out(term("x\r\n\033", true, "  ", NULL), "x?\n  ?");
	assert_out(term("\n", true, NULL, NULL), "\n");
}

static void test_width_and_pad(void **state)
{
	struct capture c;

	assert_int_equal(text_term_width(NULL), 0);
	assert_int_equal(text_term_width(""), 0);
	assert_int_equal(text_term_width("caf\xc3\xa9 \xe2\x98\x95 \xf0\x9f\x98\x80"), 8);
	assert_int_equal(text_term_width("\xff\xc3(\xe2\x98"), 5);
	assert_int_equal(text_term_width("\033[0m"), 4);

	cap_open(&c);
	text_pad(c.f, 2, 5);
	fputc('|', c.f);
	text_pad(c.f, 5, 5);
	fputc('|', c.f);
	text_pad(c.f, 9, 5);
	fputc('|', c.f);
	text_pad(c.f, 0, 0);
	assert_out(cap_close(&c), "   |||");
}

static void test_md(void **state)
{
	assert_out(md("a | b", true), "a \\| b");
	assert_out(md("<script>&amp;</script>", true), "&lt;script&gt;&amp;amp;&lt;/script&gt;");
	assert_out(md("\\`*_[]|#!~$", true), "\\\\\\`\\*\\_\\[\\]\\|\\#\\!\\~\\$");
	assert_out(md("\"q\" 'a'", true), "\"q\" 'a'");
	assert_out(md("one\ntwo\r\n\tend", true), "one<br>two <br> end");
	assert_out(md("one\ntwo\r\n\tend", false), "one two   end");
	assert_out(md("\033[2J\xc2\x9b", false), " \\[2J ");
	assert_out(md("bad\xff caf\xc3\xa9 \xed\xa0\x80", true), "bad" FFFD " caf\xc3\xa9 " FFFD FFFD FFFD);
	assert_out(md(NULL, true), "");
}

static void test_xml(void **state)
{
	const char *ws = "a\nb\tc\rd";

	assert_out(xml("<a href=\"x\">&'</a>", TEXT_XML_DATA),
		   "&lt;a href=&quot;x&quot;&gt;&amp;&apos;&lt;/a&gt;");
	assert_out(xml(ws, TEXT_XML_DATA), "a\nb\tc&#13;d");
	assert_out(xml(ws, TEXT_XML_ATTR), "a&#10;b&#9;c&#13;d");
	assert_out(xml(ws, TEXT_XML_ATTR_NO_CR), "a&#10;b&#9;c" FFFD "d");
	/* What XML 1.0 cannot carry at all becomes U+FFFD; C1 and DEL it can. */
	assert_out(xml("\x01\033[1m\x1f\x7f", TEXT_XML_ATTR), FFFD FFFD "[1m" FFFD "\x7f");
	assert_out(xml("\xef\xbf\xbe\xef\xbf\xbf\xef\xbf\xbd\xc2\x85", TEXT_XML_DATA),
		   FFFD FFFD FFFD "\xc2\x85");
	assert_out(xml("]]> bad\xff\xc0\xaf caf\xc3\xa9", TEXT_XML_DATA),
		   "]]&gt; bad" FFFD FFFD FFFD " caf\xc3\xa9");
	assert_out(xml("| pipes |", TEXT_XML_ATTR), "| pipes |");
	assert_out(xml(NULL, TEXT_XML_ATTR), "");
}

/* Valid UTF-8 all through. */
static bool valid_utf8(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s);

	while (n) {
		uint32_t cp;
		size_t len = text_utf8_next(p, n, &cp);

		if (len == 0)
			return false;
		p += len;
		n -= len;
	}
	return true;
}

/* Every '&' starts one of the entities or references the escapers write. */
static bool entities_ok(const char *s)
{
	static const char *const ok[] = { "&amp;", "&lt;", "&gt;", "&quot;", "&apos;",
					  "&#9;", "&#10;", "&#13;" };

	for (const char *a = strchr(s, '&'); a; a = strchr(a + 1, '&')) {
		bool found = false;

		for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]) && !found; i++)
			found = strncmp(a, ok[i], strlen(ok[i])) == 0;
		if (!found)
			return false;
	}
	return true;
}

/* A '|' not escaped by a backslash would end a Markdown table cell, a raw
 * newline the table row; '<' only as the <br> the escaper writes. */
static bool md_cell_ok(const char *s)
{
	for (const char *p = s; *p; p++) {
		if (*p == '\\' && p[1]) {
			p++;
			continue;
		}
		if (strncmp(p, "<br>", 4) == 0) {
			p += 3;
			continue;
		}
		if (*p == '|' || *p == '\n' || *p == '\r' || *p == '<' || *p == '>')
			return false;
	}
	return true;
}

static void test_random_bytes(void **state)
{
	static const unsigned char pool[] = { '\n', '\r', '\t', 0x1b, '[', '|', '\\', '<', '>', '&',
					      '"', '\'', '`', 'a', ' ', 0x7f, 0xc2, 0x85, 0x9b,
					      0xc3, 0xa9, 0xe2, 0x98, 0x95, 0xed, 0xa0, 0xef, 0xbf,
					      0xbe, 0xf0, 0x9f, 0xf4, 0x90, 0x80, 0xff, 0x01 };
	unsigned seed = 20240601;
	char s[48];

	for (int round = 0; round < 4000; round++) {
		size_t n = (size_t)(rand_r(&seed) % (sizeof(s) - 1)), cols;
		char *out;

		for (size_t i = 0; i < n; i++)
			s[i] = (char)(rand_r(&seed) % 3 ? pool[rand_r(&seed) % sizeof(pool)]
							: 1 + rand_r(&seed) % 255);
		s[n] = '\0';

		/* Terminal: no control byte at all, one column per character. */
		out = term(s, false, "", &cols);
		assert_int_equal(cols, text_term_width(s));
		for (const unsigned char *p = (const unsigned char *)out; *p; p++)
			assert_false(*p < 0x20 || *p == 0x7f);
		assert_true(valid_utf8(out));
		free(out);
		out = term(s, true, "    ", &cols);
		assert_int_equal(cols, text_term_width(s));
		for (const unsigned char *p = (const unsigned char *)out; *p; p++)
			assert_false((*p < 0x20 && *p != '\n' && *p != '\t') || *p == 0x7f);
		free(out);

		for (int keep = 0; keep < 2; keep++) {
			out = md(s, keep);
			assert_true(valid_utf8(out));
			assert_true(md_cell_ok(out));
			free(out);
		}

		for (int mode = TEXT_XML_DATA; mode <= TEXT_XML_ATTR_NO_CR; mode++) {
			out = xml(s, (enum text_xml)mode);
			assert_true(valid_utf8(out));
			assert_true(entities_ok(out));
			assert_null(strpbrk(out, "<>\"'\r"));
			for (const unsigned char *p = (const unsigned char *)out; *p; p++)
				assert_false(*p < 0x20 && !(mode == TEXT_XML_DATA && (*p == '\n' || *p == '\t')));
			assert_null(strstr(out, "\xef\xbf\xbe"));
			assert_null(strstr(out, "\xef\xbf\xbf"));
			free(out);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_utf8_valid),
		cmocka_unit_test(test_utf8_invalid),
		cmocka_unit_test(test_str_and_control),
		cmocka_unit_test(test_term),
		cmocka_unit_test(test_width_and_pad),
		cmocka_unit_test(test_md),
		cmocka_unit_test(test_xml),
		cmocka_unit_test(test_random_bytes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
