/* Placeholders of [programs] commands: one tokenizer serves validation
 * (vals == NULL) and expansion, so the parser accepts exactly what the
 * runner can start. */
#include "model/placeholders.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const names[PH_COUNT] = {
	[PH_SERVER] = "server",     [PH_SERVER_IP] = "server_ip",   [PH_SERVER_PORT] = "server_port",
	[PH_SESSION] = "session",   [PH_WORKDIR] = "workdir",       [PH_DIR] = "dir",
	[PH_PEER] = "peer",         [PH_ROLE] = "role",             [PH_LOCAL_IP] = "local_ip",
	[PH_LOCAL_PORT] = "local_port", [PH_PEER_IP] = "peer_ip",   [PH_PEER_PORT] = "peer_port",
	[PH_OTHER] = "other",       [PH_OTHER_ROLE] = "other_role",
};

const char *ph_name(int id)
{
	return id >= 0 && id < PH_COUNT ? names[id] : NULL;
}

static int lookup(const char *s, size_t len)
{
	for (int i = 0; i < PH_COUNT; i++)
		if (strlen(names[i]) == len && strncmp(names[i], s, len) == 0)
			return i;
	return -1;
}

__attribute__((format(printf, 3, 4)))
static int bad(char *err, size_t errsize, const char *fmt, ...)
{
	va_list ap;

	if (errsize) {
		va_start(ap, fmt);
		vsnprintf(err, errsize, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

/* A growing word and a growing vector. */
struct words {
	char **v;
	size_t n, cap;
	char *w;
	size_t wlen, wcap;
	bool in_word;
};

static int word_add(struct words *ws, const char *s, size_t len)
{
	if (ws->wlen + len + 1 > ws->wcap) {
		size_t cap = ws->wcap ? ws->wcap : 64;
		char *nw;

		while (cap < ws->wlen + len + 1)
			cap *= 2;
		nw = realloc(ws->w, cap);
		if (!nw)
			return -ENOMEM;
		ws->w = nw;
		ws->wcap = cap;
	}
	memcpy(ws->w + ws->wlen, s, len);
	ws->wlen += len;
	ws->w[ws->wlen] = '\0';
	ws->in_word = true;
	return 0;
}

static int word_end(struct words *ws)
{
	char *copy;

	if (!ws->in_word)
		return 0;
	if (ws->n + 2 > ws->cap) {
		size_t cap = ws->cap ? ws->cap * 2 : 8;
		char **nv = realloc(ws->v, cap * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		ws->v = nv;
		ws->cap = cap;
	}
	copy = strndup(ws->w ? ws->w : "", ws->wlen);
	if (!copy)
		return -ENOMEM;
	ws->v[ws->n++] = copy;
	ws->v[ws->n] = NULL;
	ws->wlen = 0;
	ws->in_word = false;
	return 0;
}

void ph_argv_free(char **argv)
{
	if (!argv)
		return;
	for (char **a = argv; *a; a++)
		free(*a);
	free(argv);
}

static void expected_list(char *buf, size_t size, unsigned mask)
{
	size_t n = 0;

	buf[0] = '\0';
	for (int i = 0; i < PH_COUNT && n < size; i++)
		if (mask & (1u << i))
			n += (size_t)snprintf(buf + n, size - n, "%s{%s}", n ? " " : "", names[i]);
}

/* The tokenizer. vals == NULL: only validate against mask (ws may be NULL). */
static int scan(const char *cmd, unsigned mask, const struct ph_values *vals, struct words *ws, char *err,
		size_t errsize)
{
	char quote = 0;
	int nwords = 0;
	bool in_word = false;
	int rc;

	for (const char *p = cmd;; p++) {
		char c = *p;

		if (c == '\0') {
			if (quote)
				return bad(err, errsize, "unbalanced %c quote in '%s'", quote, cmd);
			break;
		}
		if (!quote && (c == ' ' || c == '\t')) {
			if (ws && (rc = word_end(ws)) < 0)
				return rc;
			in_word = false;
			continue;
		}
		if (!in_word)
			nwords++;
		in_word = true;
		if (c == '\'' || c == '"') {
			if (!quote) {
				quote = c;
				if (ws)
					ws->in_word = true; /* '' is an empty word */
				continue;
			}
			if (quote == c) {
				quote = 0;
				continue;
			}
		}
		if (c == '}')
			return bad(err, errsize, "'}' without '{' in '%s'", cmd);
		if (c == '{') {
			const char *close = strchr(p + 1, '}');
			char list[300];
			int id;

			if (!close)
				return bad(err, errsize, "'{' without '}' in '%s'", cmd);
			id = lookup(p + 1, (size_t)(close - p - 1));
			if (id < 0 || !(mask & (1u << id))) {
				expected_list(list, sizeof(list), mask);
				if (id >= 0)
					return bad(err, errsize, "placeholder '{%s}' is per peer, and this command is not: "
						   "expected %s", names[id], list);
				return bad(err, errsize, "unknown placeholder '%.*s': expected %s",
					   (int)(close - p + 1), p, list);
			}
			if (vals && !vals->v[id])
				return bad(err, errsize, "placeholder '{%s}' has no value here", names[id]);
			if (ws && (rc = word_add(ws, vals->v[id], strlen(vals->v[id]))) < 0)
				return rc;
			p = close;
			continue;
		}
		if (ws && (rc = word_add(ws, p, 1)) < 0)
			return rc;
	}
	if (nwords == 0)
		return bad(err, errsize, "empty command");
	if (ws && (rc = word_end(ws)) < 0)
		return rc;
	return 0;
}

int ph_check(const char *cmd, unsigned mask, char *err, size_t errsize)
{
	return scan(cmd, mask, NULL, NULL, err, errsize);
}

int ph_argv(const char *cmd, const struct ph_values *vals, char ***out, char *err, size_t errsize)
{
	struct words ws = { 0 };
	int rc = scan(cmd, PH_ALL_MASK, vals, &ws, err, errsize);

	free(ws.w);
	if (rc == 0 && ws.n == 0)
		rc = bad(err, errsize, "empty command");
	if (rc < 0) {
		ph_argv_free(ws.v);
		if (rc == -ENOMEM)
			bad(err, errsize, "out of memory");
		return rc;
	}
	*out = ws.v;
	return 0;
}

int ph_env(const struct ph_values *vals, char ***out)
{
	char **v = calloc(PH_COUNT + 1, sizeof(*v));
	size_t n = 0;

	if (!v)
		return -ENOMEM;
	for (int i = 0; i < PH_COUNT; i++) {
		char *e;

		if (!vals->v[i])
			continue;
		if (asprintf(&e, "PUNCHLAB_%s=%s", names[i], vals->v[i]) < 0) {
			ph_argv_free(v);
			return -ENOMEM;
		}
		for (char *c = e + 9; *c != '='; c++)
			*c = (char)toupper((unsigned char)*c);
		v[n++] = e;
	}
	*out = v;
	return 0;
}
