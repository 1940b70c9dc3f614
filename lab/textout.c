/* Text output shared by the reporters. Each writer walks the string one
 * character at a time through text_utf8_next, so an invalid byte is dealt
 * with on its own and can never swallow the bytes after it. */
#include "textout.h"

#include <string.h>

#define REPLACEMENT "\xef\xbf\xbd" /* U+FFFD in UTF-8 */

const char *text_str(const char *s)
{
	return s ? s : "";
}

size_t text_utf8_next(const unsigned char *s, size_t n, uint32_t *cp)
{
	uint32_t c = s[0], min;
	size_t len;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if ((c & 0xe0) == 0xc0)
		len = 2, c &= 0x1f, min = 0x80;
	else if ((c & 0xf0) == 0xe0)
		len = 3, c &= 0x0f, min = 0x800;
	else if ((c & 0xf8) == 0xf0)
		len = 4, c &= 0x07, min = 0x10000;
	else
		return 0;
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

bool text_is_control(uint32_t cp)
{
	return cp < 0x20 || (cp >= 0x7f && cp < 0xa0);
}

/* ---- terminal ----------------------------------------------------------- */

size_t text_put_term(FILE *f, const char *s, bool keep_nl, const char *indent)
{
	const unsigned char *p = (const unsigned char *)text_str(s);
	size_t n = strlen((const char *)p), cols = 0;

	while (n) {
		uint32_t cp;
		size_t len = text_utf8_next(p, n, &cp);

		if (len == 0) {
			fputc('?', f);
			len = 1;
		} else if (cp == '\n' && keep_nl) {
			fputc('\n', f);
			if (n > 1)
				fputs(text_str(indent), f);
		} else if (cp == '\t' && keep_nl) {
			fputc('\t', f);
		} else if (text_is_control(cp)) {
			fputc('?', f);
		} else {
			fwrite(p, 1, len, f);
		}
		cols++;
		p += len;
		n -= len;
	}
	return cols;
}

size_t text_term_width(const char *s)
{
	const unsigned char *p = (const unsigned char *)text_str(s);
	size_t n = strlen((const char *)p), cols = 0;

	while (n) {
		uint32_t cp;
		size_t len = text_utf8_next(p, n, &cp);

		len = len ? len : 1;
		cols++;
		p += len;
		n -= len;
	}
	return cols;
}

void text_pad(FILE *f, size_t have, size_t want)
{
	while (have++ < want)
		fputc(' ', f);
}

/* ---- Markdown ----------------------------------------------------------- */

void text_put_md(FILE *f, const char *s, bool keep_nl)
{
	const unsigned char *p = (const unsigned char *)text_str(s);
	size_t n = strlen((const char *)p);

	while (n) {
		uint32_t cp;
		size_t len = text_utf8_next(p, n, &cp);

		if (len == 0) {
			fputs(REPLACEMENT, f);
			len = 1;
		} else if (cp == '&') {
			fputs("&amp;", f);
		} else if (cp == '<') {
			fputs("&lt;", f);
		} else if (cp == '>') {
			fputs("&gt;", f);
		} else if (cp == '\n' && keep_nl) {
			fputs("<br>", f);
		} else if (text_is_control(cp)) {
			fputc(' ', f);
		} else if (cp < 0x80 && strchr("\\`*_[]|#!~$", (int)cp)) {
			fprintf(f, "\\%c", (char)cp);
		} else {
			fwrite(p, 1, len, f);
		}
		p += len;
		n -= len;
	}
}

/* ---- XML ---------------------------------------------------------------- */

/* Newline, tab and CR: in attribute values a parser turns them into spaces
 * (attribute-value normalisation) and everywhere it turns CR LF into LF, so
 * only a character reference keeps them. */
static void put_xml_space(FILE *f, uint32_t cp, enum text_xml mode)
{
	if (cp == '\r' && mode == TEXT_XML_ATTR_NO_CR)
		fputs(REPLACEMENT, f);
	else if (cp == '\r' || mode != TEXT_XML_DATA)
		fprintf(f, "&#%u;", (unsigned)cp);
	else
		fputc((int)cp, f);
}

void text_put_xml(FILE *f, const char *s, enum text_xml mode)
{
	const unsigned char *p = (const unsigned char *)text_str(s);
	size_t n = strlen((const char *)p);

	while (n) {
		uint32_t cp;
		size_t len = text_utf8_next(p, n, &cp);

		if (len == 0) {
			fputs(REPLACEMENT, f);
			len = 1;
		} else if (cp == '&') {
			fputs("&amp;", f);
		} else if (cp == '<') {
			fputs("&lt;", f);
		} else if (cp == '>') {
			fputs("&gt;", f);
		} else if (cp == '"') {
			fputs("&quot;", f);
		} else if (cp == '\'') {
			fputs("&apos;", f);
		} else if (cp == '\n' || cp == '\t' || cp == '\r') {
			put_xml_space(f, cp, mode);
		} else if (cp < 0x20 || cp == 0xfffe || cp == 0xffff) {
			fputs(REPLACEMENT, f);
		} else {
			fwrite(p, 1, len, f);
		}
		p += len;
		n -= len;
	}
}
