/* A user's own ruleset: where it may come from, what it may contain, what
 * of nft's errors may be shown. See rulesfile.h. */
#include "model/rulesfile.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The --allow-rules paths, resolved. Set from the command line before any
 * topology is read; process-wide so that every reader of topologies (run,
 * check, classify, the workers they fork) applies the same list. */
static char *allowed[RULESFILE_ALLOW_MAX];
static int n_allowed;

int rulesfile_allow(const char *path)
{
	char *real;

	if (n_allowed >= RULESFILE_ALLOW_MAX)
		return -ENOSPC;
	real = realpath(path, NULL);
	if (!real)
		return -errno;
	allowed[n_allowed++] = real;
	return 0;
}

bool rulesfile_under(const char *real, const char *root)
{
	size_t n = strlen(root);

	if (n == 0 || strncmp(real, root, n) != 0)
		return false;
	/* "/" holds everything; else the next byte must end a component. */
	return real[n] == '\0' || real[n] == '/' || root[n - 1] == '/';
}

/* path made absolute (from the working directory) with ".", ".." and
 * repeated slashes taken out as text, without asking the file system.
 * Returns 0, or -ENAMETOOLONG or -errno from getcwd(). */
static int normalize(const char *path, char *out, size_t size)
{
	char buf[2 * PATH_MAX];
	size_t n = 0;
	char *save = NULL, *comp;

	if (path[0] == '/') {
		if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
			return -ENAMETOOLONG;
	} else {
		char cwd[PATH_MAX];

		if (!getcwd(cwd, sizeof(cwd)))
			return -errno;
		if (snprintf(buf, sizeof(buf), "%s/%s", cwd, path) >= (int)sizeof(buf))
			return -ENAMETOOLONG;
	}
	if (size < 2)
		return -ENAMETOOLONG;
	for (comp = strtok_r(buf, "/", &save); comp; comp = strtok_r(NULL, "/", &save)) {
		size_t len = strlen(comp);

		if (strcmp(comp, ".") == 0)
			continue;
		if (strcmp(comp, "..") == 0) {
			while (n > 0 && out[n - 1] != '/')
				n--;
			if (n > 0)
				n--; /* the slash before it */
			continue;
		}
		if (n + 1 + len + 1 > size)
			return -ENAMETOOLONG;
		out[n++] = '/';
		memcpy(out + n, comp, len);
		n += len;
	}
	if (n == 0)
		out[n++] = '/';
	out[n] = '\0';
	return 0;
}

/* The check of rulesfile_confine() and rulesfile_confine_fd(): path is what
 * to resolve, shown how to name it; lexical: first refuse, without touching
 * the file system, a path that is outside the tree as written. */
static int confine(const char *topo_name, const char *path, const char *shown, bool lexical, char *err,
		   size_t errsize)
{
	const char *slash = strrchr(topo_name, '/');
	char dir[PATH_MAX], np[PATH_MAX], nd[PATH_MAX], *real = NULL, *root = NULL;
	int rc = 0;

	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else
		snprintf(dir, sizeof(dir), "%.*s", slash == topo_name ? 1 : (int)(slash - topo_name), topo_name);
	/* Without --allow-rules, /etc/shadow is refused before it is even
	 * looked at: no lstat, no "exists or not" for a log to tell. */
	if (lexical && n_allowed == 0 && normalize(path, np, sizeof(np)) == 0 &&
	    normalize(dir, nd, sizeof(nd)) == 0 && !rulesfile_under(np, nd)) {
		rc = -EACCES;
		snprintf(err, errsize, "rules file '%s' is outside the topology's directory %s (punchlab run "
			 "--allow-rules PATH allows rules files elsewhere)", np, nd);
		goto cleanup;
	}
	real = realpath(path, NULL);
	if (!real) {
		rc = -errno;
		snprintf(err, errsize, "rules file '%s': %s", shown, strerror(-rc));
		goto cleanup;
	}
	root = realpath(dir, NULL);
	if (!root) {
		rc = -errno;
		snprintf(err, errsize, "the topology's directory '%s': %s", dir, strerror(-rc));
		goto cleanup;
	}
	if (rulesfile_under(real, root))
		goto cleanup;
	for (int i = 0; i < n_allowed; i++)
		if (rulesfile_under(real, allowed[i]))
			goto cleanup;
	rc = -EACCES;
	snprintf(err, errsize,
		 "rules file '%s' is outside the topology's directory %s (punchlab run --allow-rules PATH allows "
		 "rules files elsewhere)", real, root);
cleanup:
	free(real);
	free(root);
	return rc;
}

int rulesfile_confine(const char *topo_name, const char *path, char *err, size_t errsize)
{
	return confine(topo_name, path, path, true, err, errsize);
}

int rulesfile_confine_fd(const char *topo_name, int fd, const char *shown, char *err, size_t errsize)
{
	char proc[64];

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	return confine(topo_name, proc, shown, false, err, errsize);
}

static bool word_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
	       c == '-' || c == '.' || c == '$' || c == '/';
}

int rulesfile_scan(const char *text, size_t len, int *line, char *err, size_t errsize)
{
	bool comment = false, quoted = false;

	*line = 1;
	for (size_t i = 0; i < len; i++) {
		char c = text[i];

		if (c == '\0') {
			snprintf(err, errsize, "a NUL byte (is it text?)");
			return -EINVAL;
		}
		if (c == '\n') {
			(*line)++;
			comment = quoted = false; /* nft's comments and strings end with the line */
			continue;
		}
		if (comment)
			continue;
		if (c == '"') {
			quoted = !quoted;
			continue;
		}
		if (quoted)
			continue;
		if (c == '#') {
			comment = true;
			continue;
		}
		/* A whole word "include", however it is surrounded. */
		if (c == 'i' && (i == 0 || !word_char(text[i - 1])) && len - i >= 7 &&
		    memcmp(text + i, "include", 7) == 0 && (len - i == 7 || !word_char(text[i + 7]))) {
			snprintf(err, errsize, "include is not allowed in a rules file (nft would read the "
				 "named file as root): put everything in the one file");
			return -EINVAL;
		}
	}
	return 0;
}

/* Append s[0..n) to m, control characters (but tab) as '?'. */
static void put_clean(FILE *m, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		fputc((c < 0x20 && c != '\t') || c == 0x7f ? '?' : c, m);
	}
}

/* Line number lineno (1-based) of text: its start and length, or NULL. */
static const char *text_line(const char *text, size_t len, long lineno, size_t *n)
{
	const char *p = text, *end = text + len, *eol;

	if (!text || lineno < 1)
		return NULL;
	for (long l = 1; l < lineno; l++) {
		eol = memchr(p, '\n', (size_t)(end - p));
		if (!eol)
			return NULL;
		p = eol + 1;
	}
	if (p >= end)
		return NULL;
	eol = memchr(p, '\n', (size_t)(end - p));
	*n = (size_t)((eol ? eol : end) - p);
	return p;
}

/* Is the line [s, s + n) nothing but an error marker (blanks, '^', '~')? */
static bool marker_line(const char *s, size_t n)
{
	bool mark = false;

	for (size_t i = 0; i < n; i++) {
		if (s[i] == '^' || s[i] == '~')
			mark = true;
		else if (s[i] != ' ' && s[i] != '\t')
			return false;
	}
	return mark;
}

/* Write the header line [s, s + n) whose location starts after the loaded
 * name, then the line it points at and the marker after it (at next). */
static void put_located(FILE *m, const char *s, size_t n, const char *next, const char *shown_name,
			const char *text, size_t len)
{
	const char *at = s, *src, *eol;
	size_t srclen = 0, cap = RULESFILE_LINE_SHOWN;
	long lineno = strtol(at + 1, NULL, 10);

	fputs(shown_name, m);
	put_clean(m, at, n < 2 * cap ? n : 2 * cap);
	src = text_line(text, len, lineno, &srclen);
	if (!src)
		return;
	fputc('\n', m);
	put_clean(m, src, srclen < cap ? srclen : cap);
	if (srclen > cap)
		fputs("...", m);
	/* nft's marker, after its own copy of the line (next is the header's end) */
	if (!next || !(next = strchr(next + 1, '\n')))
		return;
	next++;
	eol = strchr(next, '\n');
	n = eol ? (size_t)(eol - next) : strlen(next);
	if (marker_line(next, n)) {
		fputc('\n', m);
		fwrite(next, 1, n < cap ? n : cap, m);
	}
}

char *rulesfile_nft_error(const char *nfterr, const char *loaded_name, const char *shown_name, const char *text,
			  size_t len)
{
	size_t lname = strlen(loaded_name), outlen = 0;
	const char *p = nfterr ? nfterr : "";
	char *out = NULL;
	FILE *m = open_memstream(&out, &outlen);

	if (!m)
		return NULL;
	while (*p) {
		const char *eol = strchr(p, '\n');
		size_t n = eol ? (size_t)(eol - p) : strlen(p);

		if (n > lname && strncmp(p, loaded_name, lname) == 0 && p[lname] == ':' &&
		    p[lname + 1] >= '0' && p[lname + 1] <= '9') {
			put_located(m, p + lname, n - lname, eol, shown_name, text, len);
			break;
		}
		if (memmem(p, n, "Error:", 6)) {
			/* No location in the file: the message alone. */
			put_clean(m, p, n < 2 * RULESFILE_LINE_SHOWN ? n : 2 * RULESFILE_LINE_SHOWN);
			break;
		}
		if (!eol)
			break;
		p = eol + 1;
	}
	if (fclose(m) != 0) {
		free(out);
		return NULL;
	}
	return out;
}
