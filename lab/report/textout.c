/* Text output shared by the reporters. Every writer is a per-character
 * rule handed to text_walk(), the one loop over the string. */
#include "report/textout.h"

#include <string.h>

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

size_t text_walk(FILE *f, const char *s, text_put_fn *put, void *ctx)
{
	const unsigned char *p = (const unsigned char *)text_str(s);
	size_t n = strlen((const char *)p), count = 0;

	while (n) {
		uint32_t cp = TEXT_INVALID;
		size_t len = text_utf8_next(p, n, &cp);

		if (len == 0) {
			cp = TEXT_INVALID;
			len = 1;
		}
		if (put)
			put(f, cp, p, len, len == n, ctx);
		count++;
		p += len;
		n -= len;
	}
	return count;
}

/* ---- terminal ----------------------------------------------------------- */

struct term_ctx {
	bool keep_nl;
	const char *indent;
};

static void put_term(FILE *f, uint32_t cp, const unsigned char *bytes, size_t len, bool last, void *ctx)
{
	const struct term_ctx *c = ctx;

	if (cp == '\n' && c->keep_nl) {
		fputc('\n', f);
		if (!last)
			fputs(text_str(c->indent), f);
	} else if (cp == '\t' && c->keep_nl) {
		fputc('\t', f);
	} else if (cp == TEXT_INVALID || text_is_control(cp)) {
		fputc('?', f);
	} else {
		fwrite(bytes, 1, len, f);
	}
}

size_t text_put_term(FILE *f, const char *s, bool keep_nl, const char *indent)
{
	struct term_ctx c = { keep_nl, indent };

	return text_walk(f, s, put_term, &c);
}

size_t text_term_width(const char *s)
{
	return text_walk(NULL, s, NULL, NULL);
}

void text_pad(FILE *f, size_t have, size_t want)
{
	while (have++ < want)
		fputc(' ', f);
}

/* ---- Markdown ----------------------------------------------------------- */

static void put_md(FILE *f, uint32_t cp, const unsigned char *bytes, size_t len, bool last, void *ctx)
{
	bool keep_nl = *(const bool *)ctx;

	(void)last;
	if (cp == TEXT_INVALID)
		fputs(TEXT_REPLACEMENT, f);
	else if (cp == '&')
		fputs("&amp;", f);
	else if (cp == '<')
		fputs("&lt;", f);
	else if (cp == '>')
		fputs("&gt;", f);
	else if (cp == '\n' && keep_nl)
		fputs("<br>", f);
	else if (text_is_control(cp))
		fputc(' ', f);
	else if (cp < 0x80 && strchr("\\`*_[]|#!~$", (int)cp))
		fprintf(f, "\\%c", (char)cp);
	else
		fwrite(bytes, 1, len, f);
}

void text_put_md(FILE *f, const char *s, bool keep_nl)
{
	text_walk(f, s, put_md, &keep_nl);
}

/* ---- XML ---------------------------------------------------------------- */

/* Newline, tab and CR: in attribute values a parser turns them into spaces
 * (attribute-value normalisation) and everywhere it turns CR LF into LF, so
 * only a character reference keeps them. */
static void put_xml_space(FILE *f, uint32_t cp, enum text_xml mode)
{
	if (cp == '\r' && mode == TEXT_XML_ATTR_NO_CR)
		fputs(TEXT_REPLACEMENT, f);
	else if (cp == '\r' || mode != TEXT_XML_DATA)
		fprintf(f, "&#%u;", (unsigned)cp);
	else
		fputc((int)cp, f);
}

static void put_xml(FILE *f, uint32_t cp, const unsigned char *bytes, size_t len, bool last, void *ctx)
{
	(void)last;
	if (cp == '&')
		fputs("&amp;", f);
	else if (cp == '<')
		fputs("&lt;", f);
	else if (cp == '>')
		fputs("&gt;", f);
	else if (cp == '"')
		fputs("&quot;", f);
	else if (cp == '\'')
		fputs("&apos;", f);
	else if (cp == '\n' || cp == '\t' || cp == '\r')
		put_xml_space(f, cp, *(const enum text_xml *)ctx);
	else if (cp == TEXT_INVALID || cp < 0x20 || cp == 0xfffe || cp == 0xffff)
		fputs(TEXT_REPLACEMENT, f);
	else
		fwrite(bytes, 1, len, f);
}

void text_put_xml(FILE *f, const char *s, enum text_xml mode)
{
	text_walk(f, s, put_xml, &mode);
}
