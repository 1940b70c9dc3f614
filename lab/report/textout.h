/* Text output shared by the reporters (report.c, matrix_report.c): one UTF-8
 * decoder and one escaper per target (terminal, Markdown table cell, XML).
 *
 * Every string may be hostile (control characters, escape sequences, markup,
 * invalid UTF-8) and NULL reads as "". Nothing here allocates; the writers
 * leave stream errors to the caller's ferror() check.
 */
#ifndef PUNCH_TEXTOUT_H
#define PUNCH_TEXTOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Returns s, or "" for NULL. */
const char *text_str(const char *s);

/* Decodes one UTF-8 sequence from s (n > 0 bytes left). Returns its length
 * (1 to 4) with the code point in *cp, or 0 (and *cp untouched) for an
 * invalid, overlong, surrogate, out-of-range or truncated sequence. */
size_t text_utf8_next(const unsigned char *s, size_t n, uint32_t *cp);

#define TEXT_REPLACEMENT "\xef\xbf\xbd" /* U+FFFD in UTF-8: what invalid bytes become */

/* What text_walk() gives for a byte that starts no valid UTF-8 sequence. */
#define TEXT_INVALID UINT32_MAX

/* Writes one character of a string: its code point cp and its UTF-8 bytes
 * (len of them), or cp TEXT_INVALID for one invalid byte; last is true for
 * the string's last character. */
typedef void text_put_fn(FILE *f, uint32_t cp, const unsigned char *bytes, size_t len, bool last, void *ctx);

/* Walks s (NULL reads as "") one character at a time, so an invalid byte is
 * dealt with on its own and never swallows the bytes after it, calling put
 * for each (put may be NULL: only count). Returns the number of characters. */
size_t text_walk(FILE *f, const char *s, text_put_fn *put, void *ctx);

/* Returns whether cp is a C0 or C1 control character, DEL included. */
bool text_is_control(uint32_t cp);

/* Writes s for a terminal: control characters (so escape sequences too) and
 * invalid bytes become '?'. With keep_nl, newlines and tabs pass and each
 * newline that is not the last character is followed by indent. Returns the
 * columns written, one per character (see text_term_width). */
size_t text_put_term(FILE *f, const char *s, bool keep_nl, const char *indent);

/* Returns the columns text_put_term(f, s, false, "") writes: one per
 * character, one per invalid byte. Wide characters are not told apart. */
size_t text_term_width(const char *s);

/* Writes spaces from column have up to column want; nothing when have >= want. */
void text_pad(FILE *f, size_t have, size_t want);

/* Writes s as the text of a Markdown table cell, list item or heading: &, <
 * and > as entities (GitHub renders HTML), Markdown punctuation
 * backslash-escaped, control characters as spaces, invalid bytes as U+FFFD,
 * so the text stays on its line and cannot end the cell. With keep_nl,
 * newlines become <br> (a line break inside the cell) instead of spaces. */
void text_put_md(FILE *f, const char *s, bool keep_nl);

/* How text_put_xml writes newline, tab and carriage return, which XML
 * parsers normalise away unless they are character references. */
enum text_xml {
	TEXT_XML_DATA,          /* character data: newline and tab as they are, CR as &#13; */
	TEXT_XML_ATTR,          /* attribute value: newline, tab and CR as references */
	TEXT_XML_ATTR_NO_CR,    /* newline and tab as references, CR as U+FFFD (the matrix SVG) */
};

/* Writes s as XML character data or an attribute value: the five markup
 * characters as entities; what XML 1.0 cannot carry at all (other C0
 * controls, U+FFFE, U+FFFF, invalid UTF-8) as U+FFFD; newline, tab and CR
 * as mode says. */
void text_put_xml(FILE *f, const char *s, enum text_xml mode);

#endif
