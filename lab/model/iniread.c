#include "model/iniread.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct iniread {
	const char *p, *end;
	int *line;
	const struct iniread_ops *ops;
	void *user;
};

static void bad(struct iniread *r, const char *msg)
{
	r->ops->bad(r->user, *r->line, msg);
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

/* The ini_reader: one line per call, at most num - 1 bytes with its '\n'. */
static char *reader(char *buf, int num, void *stream)
{
	struct iniread *r = stream;
	const char *s, *eol, *e;
	char msg[96];
	size_t len;

	if (r->ops->failed(r->user) || r->p >= r->end || num < 3)
		return NULL;
	s = r->p;
	eol = memchr(s, '\n', (size_t)(r->end - s));
	e = eol ? eol : r->end;
	r->p = eol ? eol + 1 : r->end;
	(*r->line)++;
	if (*r->line == 1 && e - s >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0)
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
	if (len && *s == '[')
		/* inih sees a blank line: sections are ours */
		return r->ops->section(r->user, s, len) < 0 ? NULL : buf;
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

int iniread_parse(const char *text, size_t len, int *line, const struct iniread_ops *ops, void *user)
{
	struct iniread r = { .p = text, .end = text + len, .line = line, .ops = ops, .user = user };
	int rc = ini_parse_stream(reader, &r, handler, &r);

	if (!ops->failed(user) && rc > 0)
		ops->bad(user, rc, "expected 'key = value', a [section] or a comment");
	else if (!ops->failed(user) && rc < 0) {
		char msg[64];

		snprintf(msg, sizeof(msg), "the INI reader failed (%d)", rc);
		ops->bad(user, *line, msg);
	}
	return ops->failed(user) ? -EINVAL : 0;
}

int iniread_load(const char *path, size_t max, const char *what, char **text, size_t *len, char *err,
		 size_t errsize)
{
	/* Opened without blocking and checked to be a regular file first: a
	 * FIFO or a device named as a topology must not hang or feed us. */
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	struct stat st;
	FILE *f = NULL;
	char *buf = NULL;
	size_t n;
	int rc = 0;

	*text = NULL;
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
