/* Matrix file parser.
 *
 * The same reading discipline as topo.c, for the same reasons: inih does not
 * count lines, silently cuts long lines, never reports empty sections and
 * treats indented lines as continuations. So inih reads through our own
 * reader, which counts lines, refuses long lines and control characters,
 * strips indentation and handles [section] headers itself; inih only splits
 * "key = value" lines and drops comments.
 *
 * This file knows which keys belong where, but not what they mean: every
 * value is checked by topo.c, by parsing the cell topology written from the
 * matrix (see matrix.h). Keys are kept as given, with their line, and
 * written back as "key=value" on the same line number of that text (never
 * longer than the line they came from, so topo.c's line limit cannot bite).
 */
#include "model/iniread.h"
#include "model/matrix.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/topo.h"

#define MSG_MAX INIREAD_MSG_MAX
#define MAX_KEYS 16
#define KEY_MAX 32

struct mkey {
	int line;
	char key[KEY_MAX];
	char *value;
};

/* A section as written: where its header is and its keys in file order. */
struct msect {
	int line;               /* 0 = not in the file */
	int n;
	struct mkey keys[MAX_KEYS];
};

struct mprofile {
	char name[MATRIX_NAME_LEN + 1];
	bool internet;          /* [profile internet]: the peer sits on the internet */
	struct msect s;
};

struct moverride {
	int line;
	char a[MATRIX_NAME_LEN + 1], b[MATRIX_NAME_LEN + 1];
	int cell;               /* resolved at the end of the file */
	enum outcome expect;
	char *why;
	int expect_line, why_line;
};

struct matrix {
	char *path;
	char *name;
	char *description;
	struct msect lab;       /* [matrix], description left out: it becomes the cells' [lab] */
	struct msect server, programs; /* passed through to every cell */
	struct mprofile *profiles;
	int n_profiles;
	struct moverride *overrides;
	int n_overrides;
	int n_lines;
};

enum sect { SECT_NONE, SECT_MATRIX, SECT_SERVER, SECT_PROGRAMS, SECT_PROFILE, SECT_CELL };

struct parser {
	struct iniread_err e;   /* first (iniread.h): the file's name, the line, the first error */
	struct matrix *m;
	enum sect sect;
	char label[64];
	struct msect *cur;      /* where keys of the current section go */
	const char *const *keys; /* the keys it may have (NULL-terminated) */
	int desc_line;
};

/* The keys of [lab] and [nat] that make sense for every cell. Addresses
 * (behind, wan-address, lan) do not: a profile paired with itself would get
 * the same address twice, and a profile is one router, not a chain. */
static const char *const matrix_keys[] = {
	"description", "mode", "relay", "timeout", "punch-timeout", "messages", "ipv6", "internet",
	"internet6", "expect-rate", "transport", NULL,
};
static const char *const profile_keys[] = {
	"preset", "mapping", "filtering", "ports", "hairpin", "udp-timeout", "block-udp", "rules",
	"delay", "jitter", "loss", "port-range", "port-step", "port-start", "block-size", "inbound-reply",
	"unsolicited", "tcp-mapping", "tcp-filtering", "tcp-unsolicited", "tcp-timeout",
	"tcp-transitory-timeout",
	NULL,
};
static const char *const cell_keys[] = { "expect", "expect-why", NULL };
static const char *const server_keys[] = { "address", "address2", NULL };
static const char *const programs_keys[] = { "server", "client", "setup", "check", "server-ready",
					      "client-ready", NULL };

/* An error on line of the file (iniread.c keeps the first). */
#define fail(ps, line, ...) iniread_fail(&(ps)->e, (line), __VA_ARGS__)
#define BAD(ps, ...) fail((ps), (ps)->e.line, __VA_ARGS__)

#define oom(ps) iniread_oom(&(ps)->e)

static int profile_find(const struct matrix *m, const char *name)
{
	for (int i = 0; i < m->n_profiles; i++)
		if (strcmp(m->profiles[i].name, name) == 0)
			return i;
	return -1;
}

/* ---- sections ---- */

static int open_single(struct parser *ps, enum sect s, struct msect *sect, const char *const *keys,
		       const char *type, const char *name)
{
	if (*name)
		return BAD(ps, "[%s] takes no name (found '%s')", type, name);
	if (sect->line)
		return BAD(ps, "[%s] given twice (first on line %d)", type, sect->line);
	sect->line = ps->e.line;
	ps->sect = s;
	ps->cur = sect;
	ps->keys = keys;
	snprintf(ps->label, sizeof(ps->label), "[%s]", type);
	return 0;
}

static int open_profile(struct parser *ps, const char *name)
{
	struct matrix *m = ps->m;
	struct mprofile *p;
	int i;

	if (!*name)
		return BAD(ps, "[profile] needs a name: [profile NAME]");
	if (iniread_name_check(name, MATRIX_NAME_LEN) < 0)
		return BAD(ps, "bad profile name '%s': 1 to %d characters a-z, 0-9 and '-', not "
			   "starting with '-'", name, MATRIX_NAME_LEN);
	if (strcmp(name, "alice") == 0 || strcmp(name, "bob") == 0)
		return BAD(ps, "'%s' is reserved (the peers of every cell are alice and bob); "
			   "choose another name", name);
	if ((i = profile_find(m, name)) >= 0)
		return BAD(ps, "[profile %s] given twice (first on line %d)", name,
			   m->profiles[i].s.line);
	if (m->n_profiles >= MATRIX_MAX_PROFILES)
		return BAD(ps, "too many [profile] sections (at most %d)", MATRIX_MAX_PROFILES);
	p = realloc(m->profiles, sizeof(*p) * (size_t)(m->n_profiles + 1));
	if (!p)
		return oom(ps);
	m->profiles = p;
	p = &m->profiles[m->n_profiles++];
	memset(p, 0, sizeof(*p));
	strcpy(p->name, name);
	p->internet = strcmp(name, "internet") == 0;
	p->s.line = ps->e.line;
	ps->sect = SECT_PROFILE;
	ps->cur = &p->s;
	ps->keys = profile_keys;
	snprintf(ps->label, sizeof(ps->label), "[profile %.13s]", name);
	return 0;
}

static int open_cell(struct parser *ps, char *names)
{
	struct matrix *m = ps->m;
	struct moverride *o;
	char *a = names, *b, *extra;

	for (b = a; *b && !isspace((unsigned char)*b); b++)
		;
	if (*b)
		*b++ = '\0';
	while (isspace((unsigned char)*b))
		b++;
	for (extra = b; *extra && !isspace((unsigned char)*extra); extra++)
		;
	if (*extra)
		*extra++ = '\0';
	while (isspace((unsigned char)*extra))
		extra++;
	if (!*a || !*b || *extra)
		return BAD(ps, "[cell] names two profiles: [cell PROFILE PROFILE]");
	for (int i = 0; i < 2; i++)
		if (iniread_name_check(i ? b : a, MATRIX_NAME_LEN) < 0)
			return BAD(ps, "bad profile name '%s' in [cell]", i ? b : a);
	o = realloc(m->overrides, sizeof(*o) * (size_t)(m->n_overrides + 1));
	if (!o)
		return oom(ps);
	m->overrides = o;
	o = &m->overrides[m->n_overrides++];
	memset(o, 0, sizeof(*o));
	o->line = ps->e.line;
	o->cell = -1;
	strcpy(o->a, a);
	strcpy(o->b, b);
	ps->sect = SECT_CELL;
	ps->cur = NULL;
	ps->keys = cell_keys;
	snprintf(ps->label, sizeof(ps->label), "[cell %.13s %.13s]", a, b);
	return 0;
}

static int section_finish(struct parser *ps)
{
	struct moverride *o;

	if (ps->sect == SECT_PROFILE) {
		const struct mprofile *p = &ps->m->profiles[ps->m->n_profiles - 1];

		if (p->internet && p->s.n)
			return fail(ps, p->s.keys[0].line, "[profile internet] puts the peer on the "
				    "internet and takes no keys");
	}
	if (ps->sect != SECT_CELL)
		return 0;
	o = &ps->m->overrides[ps->m->n_overrides - 1];
	if (!o->expect_line)
		return fail(ps, o->why_line ? o->why_line : o->line, "%s: %s", ps->label,
			    o->why_line ? "expect-why without expect: it explains an expect = override"
			    : "expect is required (the outcome this cell should have)");
	if (!o->why_line)
		return fail(ps, o->expect_line, "%s: expect-why is required with expect (why the "
			    "derived expectation is overridden)", ps->label);
	return 0;
}

/* A "[type name]" line. */
static int section_header(struct parser *ps, const struct iniread_section *sec)
{
	const char *type = sec->type;
	char name[sizeof(sec->name)];

	/* open_cell() cuts "A B" in place. */
	snprintf(name, sizeof(name), "%s", sec->name);
	if (section_finish(ps) < 0)
		return -EINVAL;
	ps->sect = SECT_NONE;
	if (strcmp(type, "matrix") == 0)
		return open_single(ps, SECT_MATRIX, &ps->m->lab, matrix_keys, "matrix", name);
	if (strcmp(type, "server") == 0)
		return open_single(ps, SECT_SERVER, &ps->m->server, server_keys, "server", name);
	if (strcmp(type, "programs") == 0)
		return open_single(ps, SECT_PROGRAMS, &ps->m->programs, programs_keys, "programs",
				   name);
	if (strcmp(type, "profile") == 0)
		return open_profile(ps, name);
	if (strcmp(type, "cell") == 0)
		return open_cell(ps, name);
	if (strcmp(type, "lab") == 0 || strcmp(type, "nat") == 0 || strcmp(type, "peer") == 0)
		return BAD(ps, "[%s] belongs in a topology file; a matrix has [matrix], [profile NAME] "
			   "and [cell NAME NAME] (see matrices/README.md)", type);
	return BAD(ps, "unknown section type '[%.*s]': expected [matrix], [profile NAME], "
		   "[cell NAME NAME], [server] or [programs]", sec->inner_len, sec->inner);
}

static int cell_key(struct parser *ps, const char *key, const char *value)
{
	struct moverride *o = &ps->m->overrides[ps->m->n_overrides - 1];

	if (strcmp(key, "expect") == 0) {
		if (o->expect_line)
			return BAD(ps, "expect given twice in %s (first on line %d)", ps->label,
				   o->expect_line);
		if (topo_outcome_parse(value, &o->expect) < 0)
			return BAD(ps, "bad value '%s' for expect: expected direct | relayed | failed",
				   value);
		o->expect_line = ps->e.line;
		return 0;
	}
	if (o->why_line)
		return BAD(ps, "expect-why given twice in %s (first on line %d)", ps->label,
			   o->why_line);
	o->why_line = ps->e.line;
	if (!(o->why = strdup(value)))
		return oom(ps);
	return 0;
}

static int handler(void *user, const char *name, const char *value)
{
	struct parser *ps = user;
	struct mkey *k;
	int i;

	if (ps->e.failed)
		return 0;
	if (ps->sect == SECT_NONE) {
		BAD(ps, "'%s' outside of any section (start with [matrix])", name);
		return 0;
	}
	for (i = 0; ps->keys[i]; i++)
		if (strcmp(ps->keys[i], name) == 0)
			break;
	if (!ps->keys[i]) {
		char known[256];
		size_t n = 0;

		if (ps->sect == SECT_PROFILE && (strcmp(name, "behind") == 0 ||
		    strcmp(name, "wan-address") == 0 || strcmp(name, "lan") == 0)) {
			BAD(ps, "%s is not a profile key: a profile is one router straight on the "
			    "internet with automatic addresses", name);
			return 0;
		}
		if (ps->sect == SECT_MATRIX && (strcmp(name, "expect") == 0 ||
		    strcmp(name, "expect-why") == 0)) {
			BAD(ps, "%s belongs in a [cell A B] section: each cell's expectation is "
			    "derived, or overridden per cell", name);
			return 0;
		}
		known[0] = '\0';
		for (int j = 0; ps->keys[j] && n < sizeof(known); j++)
			n += (size_t)snprintf(known + n, sizeof(known) - n, "%s%s", j ? ", " : "",
					      ps->keys[j]);
		BAD(ps, "unknown key '%s' in %s (known: %s)", name, ps->label, known);
		return 0;
	}
	if (!*value) {
		BAD(ps, "%s has an empty value (leave the key out for the default)", name);
		return 0;
	}
	if (ps->sect == SECT_CELL)
		return cell_key(ps, name, value) == 0;
	if (ps->sect == SECT_MATRIX && strcmp(name, "description") == 0) {
		if (ps->desc_line) {
			BAD(ps, "description given twice in [matrix] (first on line %d)", ps->desc_line);
			return 0;
		}
		ps->desc_line = ps->e.line;
		if (!(ps->m->description = strdup(value)))
			return oom(ps), 0;
		return 1;
	}
	for (int j = 0; j < ps->cur->n; j++)
		if (strcmp(ps->cur->keys[j].key, name) == 0) {
			BAD(ps, "%s given twice in %s (first on line %d)", name, ps->label,
			    ps->cur->keys[j].line);
			return 0;
		}
	/* Each key is known and at most once, so a section never has more than MAX_KEYS. */
	k = &ps->cur->keys[ps->cur->n];
	snprintf(k->key, sizeof(k->key), "%s", name);
	k->line = ps->e.line;
	if (!(k->value = strdup(value)))
		return oom(ps), 0;
	ps->cur->n++;
	return 1;
}



/* ---- the cell's topology text ---- */

struct item {
	int line;
	const char *a, *b;      /* written as a then b ("[nat " "x]"), or "key" "=value" */
	const char *sep;
};

struct items {
	struct item v[4 * MAX_KEYS + 8];
	int n;
};

static void item_add(struct items *it, int line, const char *a, const char *sep, const char *b)
{
	it->v[it->n++] = (struct item){ .line = line, .a = a, .sep = sep, .b = b };
}

static void items_sect(struct items *it, const struct msect *s, const char *header)
{
	if (!s->line)
		return;
	item_add(it, s->line, header, "", "");
	for (int i = 0; i < s->n; i++)
		item_add(it, s->keys[i].line, s->keys[i].key, "=", s->keys[i].value);
}

static int item_cmp(const void *x, const void *y)
{
	const struct item *a = x, *b = y;

	return (a->line > b->line) - (a->line < b->line);
}

/* The topology for profiles r and c, every key on its matrix line; what
 * has no line of its own (a diagonal cell's second NAT, the peers) comes
 * after the end of the file. Returns a malloc'd text or NULL. */
static char *cell_text(const struct matrix *m, int r, int c, size_t *len)
{
	const struct mprofile *pr = &m->profiles[r], *pc = &m->profiles[c];
	char hr[64], hc[64], nr[MODEL_NAME_MAX], nc[MODEL_NAME_MAX];
	struct items *it = calloc(1, sizeof(*it));
	char *text = NULL;
	FILE *f;
	int line = 1;

	if (!it)
		return NULL;
	snprintf(nr, sizeof(nr), "%s", pr->name);
	snprintf(nc, sizeof(nc), "%s%s", pc->name, r == c ? "-2" : "");
	snprintf(hr, sizeof(hr), "[nat %s]", nr);
	snprintf(hc, sizeof(hc), "[nat %s]", nc);
	items_sect(it, &m->lab, "[lab]");
	items_sect(it, &m->server, "[server]");
	items_sect(it, &m->programs, "[programs]");
	if (!pr->internet)
		items_sect(it, &pr->s, hr);
	if (!pc->internet && r != c)
		items_sect(it, &pc->s, hc);
	qsort(it->v, (size_t)it->n, sizeof(it->v[0]), item_cmp);

	f = open_memstream(&text, len);
	if (!f)
		goto cleanup;
	for (int i = 0; i < it->n; i++) {
		for (; line < it->v[i].line; line++)
			fputc('\n', f);
		fprintf(f, "%s%s%s\n", it->v[i].a, it->v[i].sep, it->v[i].b);
		line++;
	}
	for (; line <= m->n_lines; line++)
		fputc('\n', f);
	if (!pc->internet && r == c) {
		fprintf(f, "%s\n", hc);
		for (int i = 0; i < pc->s.n; i++)
			fprintf(f, "%s=%s\n", pc->s.keys[i].key, pc->s.keys[i].value);
	}
	fprintf(f, "[peer alice]\nbehind=%s\n[peer bob]\nbehind=%s\n",
		pr->internet ? "internet" : nr, pc->internet ? "internet" : nc);
	if (fclose(f) != 0) {
		free(text);
		text = NULL;
	}
cleanup:
	free(it);
	return text;
}

/* topo.c speaks of [lab] and [nat NAME]; the user wrote [matrix] and [profile NAME]. */
static void rewrite_msg(char *msg, size_t size)
{
	static const char *const from[] = { "[nat ", "[lab]" }, *const to[] = { "[profile ", "[matrix]" };
	char out[MSG_MAX];
	size_t o = 0;

	for (const char *p = msg; *p && o + 1 < sizeof(out);) {
		size_t k;

		for (k = 0; k < 2; k++)
			if (strncmp(p, from[k], strlen(from[k])) == 0)
				break;
		if (k < 2) {
			o += (size_t)snprintf(out + o, sizeof(out) - o, "%s", to[k]);
			p += strlen(from[k]);
		} else {
			out[o++] = *p++;
		}
		if (o >= sizeof(out))
			o = sizeof(out) - 1;
	}
	out[o] = '\0';
	snprintf(msg, size, "%s", out);
}

static int cell_parse(const struct matrix *m, int r, int c, const char *name, struct topo **out,
		      char *err, size_t errsize)
{
	size_t len = 0;
	char *text = cell_text(m, r, c, &len);
	int rc;

	*out = NULL;
	if (!text) {
		if (err && errsize)
			snprintf(err, errsize, "%s: out of memory", name);
		return -ENOMEM;
	}
	rc = topo_parse_buffer(name, text, len, out, err, errsize);
	if (rc < 0 && err && errsize)
		rewrite_msg(err, errsize);
	free(text);
	return rc;
}

/* ---- cells ---- */

int matrix_n_cells(const struct matrix *m)
{
	return m->n_profiles * (m->n_profiles + 1) / 2;
}

int matrix_cell_pos(const struct matrix *m, int i, int *row, int *col)
{
	int r = 0;

	if (i < 0 || i >= matrix_n_cells(m))
		return -ERANGE;
	/* Row r holds n - r cells. */
	while (i >= m->n_profiles - r) {
		i -= m->n_profiles - r;
		r++;
	}
	*row = r;
	*col = r + i;
	return 0;
}

int matrix_cell_index(const struct matrix *m, int a, int b)
{
	int n = m->n_profiles;

	if (a < 0 || b < 0 || a >= n || b >= n)
		return -1;
	if (a > b) {
		int t = a;

		a = b;
		b = t;
	}
	/* Rows before a hold n + (n-1) + ... + (n-a+1) cells. */
	return a * n - a * (a - 1) / 2 + (b - a);
}

int matrix_cell_name(const struct matrix *m, int i, char *buf, size_t size)
{
	int r, c, n;

	if (matrix_cell_pos(m, i, &r, &c) < 0)
		return -ERANGE;
	n = snprintf(buf, size, "%s/%s-x-%s", m->name, m->profiles[r].name, m->profiles[c].name);
	return n < 0 || (size_t)n >= size ? -ENOSPC : 0;
}

int matrix_cell_topo(const struct matrix *m, int i, struct topo **out, char *err, size_t errsize)
{
	char *path = NULL, *desc = NULL;
	struct topo *t = NULL;
	int r, c, rc;

	*out = NULL;
	if (matrix_cell_pos(m, i, &r, &c) < 0) {
		if (err && errsize)
			snprintf(err, errsize, "%s: no cell %d", m->path, i);
		return -ERANGE;
	}
	if (asprintf(&path, "%s[%s x %s]", m->path, m->profiles[r].name, m->profiles[c].name) < 0) {
		path = NULL;
		rc = -ENOMEM;
		goto cleanup;
	}
	rc = cell_parse(m, r, c, path, &t, err, errsize);
	if (rc < 0)
		goto cleanup;
	if (asprintf(&desc, "%s x %s%s%s", m->profiles[r].name, m->profiles[c].name,
		     m->description ? ": " : "", m->description ? m->description : "") < 0) {
		desc = NULL;
		rc = -ENOMEM;
		goto cleanup;
	}
	free(t->description);
	t->description = desc;
	desc = NULL;
	for (int k = 0; k < m->n_overrides; k++) {
		const struct moverride *o = &m->overrides[k];

		if (o->cell != i)
			continue;
		t->expect = o->expect;
		free(t->expect_why);
		if (!(t->expect_why = strdup(o->why))) {
			rc = -ENOMEM;
			goto cleanup;
		}
	}
	*out = t;
	t = NULL;
	rc = 0;

cleanup:
	if (rc == -ENOMEM && err && errsize)
		snprintf(err, errsize, "%s: out of memory", m->path);
	topo_free(t);
	free(path);
	free(desc);
	return rc;
}

/* ---- whole-file checks ---- */

static int check_overrides(struct parser *ps)
{
	struct matrix *m = ps->m;

	for (int k = 0; k < m->n_overrides; k++) {
		struct moverride *o = &m->overrides[k];
		int a = profile_find(m, o->a), b = profile_find(m, o->b);

		if (a < 0 || b < 0)
			return fail(ps, o->line, "[cell %s %s]: there is no [profile %s]", o->a, o->b,
				    a < 0 ? o->a : o->b);
		o->cell = matrix_cell_index(m, a, b);
		for (int j = 0; j < k; j++)
			if (m->overrides[j].cell == o->cell)
				return fail(ps, o->line, "[cell %s %s]: this cell is already overridden "
					    "on line %d", o->a, o->b, m->overrides[j].line);
	}
	return 0;
}

/* Build each profile's diagonal cell: every [matrix], [server], [programs]
 * and profile key goes through topo.c once, on its own line. A pair of two
 * valid profiles is valid too (nothing in a profile depends on the other). */
static int check_cells(struct parser *ps)
{
	struct matrix *m = ps->m;

	if (m->n_profiles == 0)
		return fail(ps, ps->e.line > 0 ? ps->e.line : 1,
			    "end of file: a matrix needs at least one [profile NAME]");
	for (int i = 0; i < m->n_profiles; i++) {
		struct topo *t = NULL;
		int rc = cell_parse(m, i, i, ps->e.name, &t, ps->e.msg, sizeof(ps->e.msg));

		topo_free(t);
		if (rc < 0) {
			ps->e.failed = true;
			ps->e.nomem = rc == -ENOMEM;
			return rc;
		}
	}
	return 0;
}

/* ---- entry points ---- */

/* The glue to iniread.c. */
static int on_section(void *user, const struct iniread_section *sec)
{
	return section_header(user, sec) < 0 ? -1 : 0;
}

/* The checks of the whole file, once it is read. */
static int on_finish(void *user)
{
	struct parser *ps = user;

	ps->m->n_lines = ps->e.line;
	if (section_finish(ps) < 0 || check_overrides(ps) < 0 || check_cells(ps) < 0)
		return -1;
	return 0;
}

static void sect_free(struct msect *s)
{
	for (int i = 0; i < s->n; i++)
		free(s->keys[i].value);
}

void matrix_free(struct matrix *m)
{
	if (!m)
		return;
	sect_free(&m->lab);
	sect_free(&m->server);
	sect_free(&m->programs);
	for (int i = 0; i < m->n_profiles; i++)
		sect_free(&m->profiles[i].s);
	free(m->profiles);
	for (int i = 0; i < m->n_overrides; i++)
		free(m->overrides[i].why);
	free(m->overrides);
	free(m->description);
	free(m->name);
	free(m->path);
	free(m);
}

/* Before the first line: the matrix, named after its file. */
static int parser_init(void *state)
{
	struct parser *ps = state;

	ps->m = calloc(1, sizeof(*ps->m));
	if (!ps->m || !(ps->m->path = strdup(ps->e.name)) || !(ps->m->name = iniread_stem(ps->e.name, ".matrix")))
		return oom(ps);
	return 0;
}

static void parser_done(void *state)
{
	matrix_free(((struct parser *)state)->m);
}

static const struct iniread_kind matrix_kind = {
	.size = sizeof(struct parser), .result = offsetof(struct parser, m), .unnamed = "<matrix>",
	.init = parser_init, .done = parser_done,
	.ops = { .section = on_section, .key = handler, .finish = on_finish },
};

int matrix_parse_buffer(const char *name, const char *text, size_t len, struct matrix **out,
			char *err, size_t errsize)
{
	return iniread_text(&matrix_kind, name, text, len, out, err, errsize);
}

int matrix_parse_file(const char *path, struct matrix **out, char *err, size_t errsize)
{
	return iniread_file(&matrix_kind, path, TOPO_MAX_FILE, "matrix", out, err, errsize);
}

/* ---- accessors ---- */

const char *matrix_name(const struct matrix *m)
{
	return m->name;
}

const char *matrix_description(const struct matrix *m)
{
	return m->description;
}

int matrix_n_profiles(const struct matrix *m)
{
	return m->n_profiles;
}

const char *matrix_profile_name(const struct matrix *m, int i)
{
	return i >= 0 && i < m->n_profiles ? m->profiles[i].name : NULL;
}
