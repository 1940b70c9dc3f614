#include "model/iniread.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct iniread {
	const char *p, *end;
	struct iniread_err *e;
	const struct iniread_ops *ops;
	void *user;
};

int iniread_fail(struct iniread_err *e, int line, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (e->failed)
		return -EINVAL;
	e->failed = true;
	n = snprintf(e->msg, sizeof(e->msg), "%s:%d: ", e->name, line);
	if (n < 0 || (size_t)n >= sizeof(e->msg))
		return -EINVAL;
	va_start(ap, fmt);
	vsnprintf(e->msg + n, sizeof(e->msg) - (size_t)n, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

int iniread_oom(struct iniread_err *e)
{
	if (!e->failed) {
		e->failed = true;
		e->nomem = true;
		snprintf(e->msg, sizeof(e->msg), "%s:%d: out of memory", e->name, e->line);
	}
	return -ENOMEM;
}

int iniread_result(const struct iniread_err *e, int rc, char *err, size_t errsize)
{
	if (!e->failed && rc == 0)
		return 0;
	if (err && errsize)
		snprintf(err, errsize, "%s", e->msg);
	return e->nomem ? -ENOMEM : rc < 0 ? rc : -EINVAL;
}

static void bad(struct iniread *r, const char *msg)
{
	iniread_fail(r->e, r->e->line, "%s", msg);
}

/* Would inih find '=' or ':' on this line before an inline comment? The same
 * scan as inih's find_chars_or_comment(), so that a line it would refuse gets
 * our own message, with what was expected. */
static bool has_separator(const char *s, size_t len)
{
	bool was_space = false;

	for (size_t i = 0; i < len; i++) {
		if (s[i] == '=' || s[i] == ':')
			return true;
		if (was_space && s[i] == ';')
			return false;
		was_space = isspace((unsigned char)s[i]);
	}
	return false;
}

/* A "[type name]" line (indentation already gone) into sec. Returns 0, or
 * -1 after reporting what is wrong with it. */
static int split_header(struct iniread *r, const char *s, size_t len, struct iniread_section *sec)
{
	const char *close = memchr(s, ']', len), *rest, *p, *q, *end;
	size_t tlen, nlen;

	if (!close)
		return bad(r, "section header without ']'"), -1;
	for (rest = close + 1; rest < s + len && isspace((unsigned char)*rest); rest++)
		;
	if (rest < s + len && *rest != ';' && *rest != '#')
		return bad(r, "unexpected text after ']' (a comment starts with ';' or '#')"), -1;
	if ((size_t)(close - s - 1) >= sizeof(sec->name))
		return bad(r, "section header too long"), -1;
	sec->inner = s + 1;
	sec->inner_len = (int)(close - s - 1);
	for (p = s + 1; p < close && isspace((unsigned char)*p); p++)
		;
	for (q = p; q < close && !isspace((unsigned char)*q); q++)
		;
	tlen = (size_t)(q - p) < sizeof(sec->type) ? (size_t)(q - p) : sizeof(sec->type) - 1;
	memcpy(sec->type, p, tlen);
	sec->type[tlen] = '\0';
	for (; q < close && isspace((unsigned char)*q); q++)
		;
	for (end = close; end > q && isspace((unsigned char)end[-1]); end--)
		;
	nlen = (size_t)(end - q);
	memcpy(sec->name, q, nlen);
	sec->name[nlen] = '\0';
	return 0;
}

/* The ini_reader: one line per call, at most num - 1 bytes with its '\n'. */
static char *reader(char *buf, int num, void *stream)
{
	struct iniread *r = stream;
	const char *s, *eol, *e;
	char msg[96];
	size_t len;

	if (r->e->failed || r->p >= r->end || num < 3)
		return NULL;
	s = r->p;
	eol = memchr(s, '\n', (size_t)(r->end - s));
	e = eol ? eol : r->end;
	r->p = eol ? eol + 1 : r->end;
	r->e->line++;
	if (r->e->line == 1 && e - s >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0)
		s += 3;
	if (e > s && e[-1] == '\r')
		e--;
	for (const char *c = s; c < e; c++) {
		if (*c == '\0') {
			bad(r, "NUL byte in the file (is it text?)");
			return NULL;
		}
		if (((unsigned char)*c < 0x20 && *c != '\t') || *c == 0x7f) {
			snprintf(msg, sizeof(msg), "control character 0x%02x (only tab is allowed)",
				 (unsigned char)*c);
			bad(r, msg);
			return NULL;
		}
	}
	while (s < e && (*s == ' ' || *s == '\t'))
		s++;
	len = (size_t)(e - s);
	if (len > (size_t)num - 2) {
		snprintf(msg, sizeof(msg), "line too long (at most %d characters without indentation)", num - 2);
		bad(r, msg);
		return NULL;
	}
	buf[0] = '\n';
	buf[1] = '\0';
	if (len && *s == '[') {
		struct iniread_section sec;

		/* inih sees a blank line: sections are ours */
		if (split_header(r, s, len, &sec) < 0 || r->ops->section(r->user, &sec) < 0)
			return NULL;
		return buf;
	}
	if (len && *s != ';' && *s != '#' && !has_separator(s, len)) {
		bad(r, "expected 'key = value', a [section] or a comment");
		return NULL;
	}
	memcpy(buf, s, len);
	buf[len] = '\n';
	buf[len + 1] = '\0';
	return buf;
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
	struct iniread *r = user;

	(void)section; /* the caller has it whole, from ops->section */
	return r->ops->key(r->user, name, value);
}

int iniread_parse(const char *text, size_t len, struct iniread_err *e, const struct iniread_ops *ops, void *user)
{
	struct iniread r = { .p = text, .end = text + len, .e = e, .ops = ops, .user = user };
	int rc = ini_parse_stream(reader, &r, handler, &r);

	if (rc > 0)
		iniread_fail(e, rc, "expected 'key = value', a [section] or a comment");
	else if (rc < 0)
		iniread_fail(e, e->line, "the INI reader failed (%d)", rc);
	if (!e->failed && ops->finish && ops->finish(user) < 0)
		return -EINVAL;
	return e->failed ? -EINVAL : 0;
}

int iniread_load(const char *path, size_t max, const char *what, char **text, size_t *len, char *err,
		 size_t errsize)
{
	/* Opened without blocking and checked to be a regular file first: a
	 * FIFO or a device named as a topology must not hang or feed us. */
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	struct stat st;
	FILE *f = NULL;
	char *buf = NULL, dummy[1];
	size_t n;
	int rc = 0;

	*text = NULL;
	if (!err || !errsize) {
		err = dummy;
		errsize = sizeof(dummy);
	}
	if (fd < 0 || fstat(fd, &st) < 0) {
		rc = -errno;
		snprintf(err, errsize, "%s: %s", path, strerror(-rc));
		if (fd >= 0)
			close(fd);
		return rc;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errsize, "%s: not a regular file, not a %s", path, what);
		close(fd);
		return -EINVAL;
	}
	f = fdopen(fd, "r");
	if (!f) {
		rc = -errno;
		snprintf(err, errsize, "%s: %s", path, strerror(-rc));
		close(fd);
		return rc;
	}
	buf = malloc(max + 2);
	if (!buf) {
		rc = -ENOMEM;
		snprintf(err, errsize, "%s: out of memory", path);
		goto cleanup;
	}
	/* One byte more than allowed tells a full file from a large one. */
	n = fread(buf, 1, max + 1, f);
	if (ferror(f)) {
		rc = -EIO;
		snprintf(err, errsize, "%s: read error", path);
	} else if (n > max) {
		rc = -EFBIG;
		snprintf(err, errsize, "%s: larger than %zu bytes, not a %s", path, max, what);
	} else {
		buf[n] = '\0';
		*text = buf;
		*len = n;
		buf = NULL;
	}
cleanup:
	free(buf);
	fclose(f);
	return rc;
}

int iniread_text(const struct iniread_kind *k, const char *name, const char *text, size_t len, void *out,
		 char *err, size_t errsize)
{
	struct iniread_err *e;
	void *result = NULL;
	int rc;

	memcpy(out, &result, sizeof(result));
	if (!name)
		name = k->unnamed;
	/* The state holds per-node bookkeeping (TOPO_MAX_NATS): heap, not stack. */
	e = calloc(1, k->size);
	if (!e) {
		if (err && errsize)
			snprintf(err, errsize, "%s: out of memory", name);
		return -ENOMEM;
	}
	e->name = name;
	rc = k->init(e);
	if (rc == 0)
		rc = iniread_parse(text, len, e, &k->ops, e);
	rc = iniread_result(e, rc, err, errsize);
	if (rc == 0) {
		/* Hand the result over: the caller's pointer gets it, the state's is cleared. */
		memcpy(out, (char *)e + k->result, sizeof(result));
		memset((char *)e + k->result, 0, sizeof(result));
	}
	k->done(e);
	free(e);
	return rc;
}

int iniread_file(const struct iniread_kind *k, const char *path, size_t max, const char *what, void *out,
		 char *err, size_t errsize)
{
	char *text = NULL, *none = NULL;
	size_t len = 0;
	int rc;

	memcpy(out, &none, sizeof(none));
	rc = iniread_load(path, max, what, &text, &len, err, errsize);
	if (rc == 0)
		rc = iniread_text(k, path, text, len, out, err, errsize);
	free(text);
	return rc;
}

int iniread_name_check(const char *s, size_t max)
{
	size_t len = strlen(s);

	if (len < 1 || len > max || s[0] == '-')
		return -EINVAL;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-'))
			return -EINVAL;
	return 0;
}

char *iniread_stem(const char *path, const char *suffix)
{
	const char *base = strrchr(path, '/');
	size_t len, slen = strlen(suffix);

	base = base ? base + 1 : path;
	len = strlen(base);
	if (len > slen && strcmp(base + len - slen, suffix) == 0)
		len -= slen;
	return strndup(base, len);
}
