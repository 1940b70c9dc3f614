/* The matrix picture. One grid is worked out first (which result sits in
 * which square, and in what state), then each format draws it. */
#include "report/matrix_report.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "report/textout.h"

#define COLOR_RED "\033[1;31m"
#define COLOR_GREEN "\033[32m"
#define COLOR_YELLOW "\033[33m"
#define COLOR_OFF "\033[0m"

enum state { ST_NONE, ST_PASS, ST_FAIL, ST_ERROR };

struct grid {
	int n;
	const struct result **at; /* n x n, upper triangle used */
	const struct stats_agg **agg; /* the same cells' runs, or NULL */
};

static void grid_free(struct grid *g)
{
	free(g->at);
	free(g->agg);
}

static int grid_build(const struct matrix_picture *p, struct grid *g)
{
	g->n = 0;
	g->at = NULL;
	g->agg = NULL;
	if (!p || p->n_profiles < 0 || p->n_cells < 0 || (p->n_profiles && !p->profiles) ||
	    (p->n_cells && !p->cells))
		return -EINVAL;
	g->n = p->n_profiles;
	if (g->n == 0)
		return 0;
	g->at = calloc((size_t)g->n * (size_t)g->n, sizeof(*g->at));
	g->agg = calloc((size_t)g->n * (size_t)g->n, sizeof(*g->agg));
	if (!g->at || !g->agg) {
		grid_free(g);
		return -ENOMEM;
	}
	for (int i = 0; i < p->n_cells; i++) {
		int r = p->cells[i].row, c = p->cells[i].col;

		if (r < 0 || c < 0 || r >= g->n || c >= g->n)
			continue;
		if (r > c) {
			int t = r;

			r = c;
			c = t;
		}
		g->at[r * g->n + c] = p->cells[i].result;
		g->agg[r * g->n + c] = p->cells[i].result ? p->cells[i].agg : NULL;
	}
	return 0;
}

static const struct result *grid_at(const struct grid *g, int r, int c)
{
	return g->at[r * g->n + c];
}

static enum state state_of(const struct result *s)
{
	if (!s)
		return ST_NONE;
	if (s->verdict == VERDICT_ERROR)
		return ST_ERROR;
	return s->verdict == VERDICT_PASS ? ST_PASS : ST_FAIL;
}

/* A cell's state: over all its runs when it has them. */
static enum state cell_state(const struct grid *g, int r, int c)
{
	const struct stats_agg *a = g->agg[r * g->n + c];

	if (a && a->runs)
		return a->verdict == VERDICT_ERROR ? ST_ERROR : a->verdict == VERDICT_PASS ? ST_PASS : ST_FAIL;
	return state_of(grid_at(g, r, c));
}

/* What happened in a cell: its most frequent outcome over its runs. */
static enum result_outcome cell_outcome(const struct grid *g, int r, int c)
{
	const struct stats_agg *a = g->agg[r * g->n + c];

	return a && a->runs ? a->outcome : grid_at(g, r, c)->actual;
}

/* The cell's runs when it ran more than once, else NULL. */
static const struct stats_agg *cell_rates(const struct grid *g, int r, int c)
{
	const struct stats_agg *a = g->agg[r * g->n + c];

	return a && a->runs > 1 ? a : NULL;
}

static int pct(unsigned k, unsigned n)
{
	return n ? (int)(100.0 * k / n + 0.5) : 0;
}

/* "D", "R", "F" for an outcome, "?" for anything else. */
static char letter(enum result_outcome o)
{
	switch (o) {
	case RESULT_DIRECT: return 'D';
	case RESULT_RELAYED: return 'R';
	case RESULT_FAILED: return 'F';
	default: return '?';
	}
}

/* An outcome word as shown: the three outcomes and "error", "?" for the rest. */
static const char *word(enum result_outcome o)
{
	return o == RESULT_DIRECT || o == RESULT_RELAYED || o == RESULT_FAILED || o == RESULT_ERROR ?
		       result_outcome_name(o) : "?";
}

/* The expectation as an outcome (NONE when it was not derived). */
static enum result_outcome expected_of(const struct result *s)
{
	return result_outcome_of(s->expected);
}

struct counts {
	int pass, fail, error, none;
};

static struct counts count(const struct grid *g)
{
	struct counts k = { 0, 0, 0, 0 };

	for (int r = 0; r < g->n; r++)
		for (int c = r; c < g->n; c++)
			switch (cell_state(g, r, c)) {
			case ST_PASS: k.pass++; break;
			case ST_FAIL: k.fail++; break;
			case ST_ERROR: k.error++; break;
			default: k.none++; break;
			}
	return k;
}

/* ---- terminal ---- */

static void term_cell(FILE *f, const struct grid *g, int r, int c, bool color, size_t width)
{
	static const char *const on[] = { [ST_PASS] = COLOR_GREEN, [ST_FAIL] = COLOR_RED,
					   [ST_ERROR] = COLOR_YELLOW };
	enum state st = cell_state(g, r, c);
	const struct stats_agg *a = cell_rates(g, r, c);
	char text[16] = "-";

	if (st == ST_ERROR)
		strcpy(text, "E");
	else if (st != ST_NONE)
		snprintf(text, sizeof(text), "%c%s", letter(cell_outcome(g, r, c)), st == ST_FAIL ? "!" : "");
	if (a && st != ST_ERROR)
		snprintf(text + strlen(text), sizeof(text) - strlen(text), "%d%%", pct(a->passed, a->runs));
	if (color && st != ST_NONE)
		fprintf(f, "%s%s%s", on[st], text, COLOR_OFF);
	else
		fputs(text, f);
	text_pad(f, strlen(text), width);
}

static void put_problems(FILE *f, const struct matrix_picture *p, const struct grid *g,
			 bool markdown);

int matrix_report_text(FILE *f, const struct matrix_picture *p, bool color)
{
	struct grid g;
	struct counts k;
	size_t rw = 0, cw = 6;
	int rc = grid_build(p, &g);

	if (rc < 0)
		return rc;
	for (int i = 0; i < g.n; i++) {
		size_t w = text_term_width(p->profiles[i]);

		rw = w > rw ? w : rw;
		cw = w > cw ? w : cw;
	}
	text_put_term(f, p->title ? p->title : "matrix", false, "");
	if (p->description) {
		fputs(": ", f);
		text_put_term(f, p->description, false, "");
	}
	fputc('\n', f);
	text_pad(f, 0, rw + 2);
	for (int c = 0; c < g.n; c++) {
		text_pad(f, text_put_term(f, p->profiles[c], false, ""), c + 1 < g.n ? cw + 2 : 0);
	}
	fputc('\n', f);
	for (int r = 0; r < g.n; r++) {
		text_pad(f, text_put_term(f, p->profiles[r], false, ""), rw + 2);
		for (int c = 0; c < g.n; c++) {
			size_t w = c + 1 < g.n ? cw + 2 : 0;

			if (c < r)
				text_pad(f, 0, w);
			else
				term_cell(f, &g, r, c, color, w);
		}
		fputc('\n', f);
	}
	fputs("rows: alice's router, columns: bob's router\n"
	      "D direct, R relayed, F failed (what happened, the most frequent when repeated); "
	      "! not what was expected; N% runs as expected; E could not run; - not run\n", f);
	put_problems(f, p, &g, false);
	k = count(&g);
	fprintf(f, "%d cells: %d passed, %d failed", k.pass + k.fail + k.error + k.none, k.pass, k.fail);
	if (k.error)
		fprintf(f, ", %d error%s", k.error, k.error == 1 ? "" : "s");
	if (k.none)
		fprintf(f, ", %d not run", k.none);
	fputc('\n', f);
	grid_free(&g);
	return ferror(f) ? -EIO : 0;
}

/* Each mismatch and error, one per line (one list item in Markdown). */
static void put_problems(FILE *f, const struct matrix_picture *p, const struct grid *g,
			 bool markdown)
{
	for (int r = 0; r < g->n; r++) {
		for (int c = r; c < g->n; c++) {
			const struct result *s = grid_at(g, r, c);
			const struct stats_agg *a = cell_rates(g, r, c);
			enum state st = cell_state(g, r, c);

			if (st != ST_FAIL && st != ST_ERROR)
				continue;
			fputs(markdown ? "- " : "  ", f);
			if (markdown) {
				text_put_md(f, p->profiles[r], false);
				fputs(" × ", f);
				text_put_md(f, p->profiles[c], false);
			} else {
				text_put_term(f, p->profiles[r], false, "");
				fputs(" x ", f);
				text_put_term(f, p->profiles[c], false, "");
			}
			if (st == ST_FAIL && a) {
				fprintf(f, ": %u of %u runs as expected (%s), D%u R%u F%u\n", a->passed, a->runs,
					word(expected_of(s)), a->direct, a->relayed, a->failed);
				continue;
			}
			if (st == ST_FAIL) {
				fprintf(f, ": %s, expected %s\n", word(s->actual), word(expected_of(s)));
				continue;
			}
			fputs(": error: ", f);
			if (markdown)
				text_put_md(f, text_str(s->error), false);
			else
				text_put_term(f, text_str(s->error), false, "");
			fputc('\n', f);
		}
	}
}

/* ---- Markdown ---- */

int matrix_report_markdown(FILE *f, const struct matrix_picture *p)
{
	struct grid g;
	struct counts k;
	int rc = grid_build(p, &g);

	if (rc < 0)
		return rc;
	fputs("### Matrix ", f);
	text_put_md(f, p->title ? p->title : "matrix", false);
	if (p->description) {
		fputs(": ", f);
		text_put_md(f, p->description, false);
	}
	fputs("\n\n|  |", f);
	for (int c = 0; c < g.n; c++) {
		fputc(' ', f);
		text_put_md(f, p->profiles[c], false);
		fputs(" |", f);
	}
	fputs("\n| --- |", f);
	for (int c = 0; c < g.n; c++)
		fputs(" :-: |", f);
	fputc('\n', f);
	for (int r = 0; r < g.n; r++) {
		fputs("| **", f);
		text_put_md(f, p->profiles[r], false);
		fputs("** |", f);
		for (int c = 0; c < g.n; c++) {
			const struct result *s = c >= r ? grid_at(&g, r, c) : NULL;
			const struct stats_agg *a = c >= r && s ? cell_rates(&g, r, c) : NULL;

			switch (c < r ? -1 : (int)cell_state(&g, r, c)) {
			case ST_PASS:
				fprintf(f, " ✅ %c", letter(cell_outcome(&g, r, c)));
				if (a)
					fprintf(f, " %u/%u", a->passed, a->runs);
				fputs(" |", f);
				break;
			case ST_FAIL:
				fprintf(f, " ❌ %c≠%c", letter(cell_outcome(&g, r, c)), letter(expected_of(s)));
				if (a)
					fprintf(f, " %u/%u", a->passed, a->runs);
				fputs(" |", f);
				break;
			case ST_ERROR:
				fputs(" ⚠️ E |", f);
				break;
			case ST_NONE:
				fputs(" – |", f);
				break;
			default:
				fputs("  |", f);
				break;
			}
		}
		fputc('\n', f);
	}
	fputs("\nRows: alice's router, columns: bob's router. D direct, R relayed, F failed (the most frequent "
	      "when repeated, with runs as expected / runs); ✅ as expected, ❌ actual≠expected, ⚠️ E could not run, "
	      "– not run.\n\n", f);
	k = count(&g);
	fprintf(f, "**%d cells: %d passed, %d failed", k.pass + k.fail + k.error + k.none, k.pass, k.fail);
	if (k.error)
		fprintf(f, ", %d error%s", k.error, k.error == 1 ? "" : "s");
	if (k.none)
		fprintf(f, ", %d not run", k.none);
	fputs("**\n", f);
	if (k.fail || k.error) {
		fputc('\n', f);
		put_problems(f, p, &g, true);
	}
	grid_free(&g);
	return ferror(f) ? -EIO : 0;
}

/* ---- SVG ---- */

#define CELL 76
#define MARGIN 16
#define CHAR_W 7        /* a generous average width of a 12px sans-serif character */

/* A cell is filled by what happened, so that the picture answers "does it
 * punch?" at a glance; whether that was expected is drawn apart, as a red
 * frame and cross. */
enum fill { FILL_DIRECT, FILL_RELAYED, FILL_FAILED, FILL_ERROR, FILL_NONE, FILL_N };
static const char *const fills[FILL_N] = { "#81c784", "#90caf9", "#cfd8dc", "#fff176", "#ffffff" };
static const char *const fill_names[FILL_N] = { "direct", "relayed", "failed", "could not run", "not run" };

static enum fill fill_of(enum state st, enum result_outcome o)
{
	if (st == ST_NONE)
		return FILL_NONE;
	if (st == ST_ERROR)
		return FILL_ERROR;
	return o == RESULT_DIRECT ? FILL_DIRECT : o == RESULT_RELAYED ? FILL_RELAYED : FILL_FAILED;
}

/* The shares of direct, relayed and failed runs as a bar along the bottom. */
static void svg_bar(FILE *f, const struct stats_agg *a, int x, int y)
{
	unsigned parts[] = { a->direct, a->relayed, a->failed, a->other };
	int w = CELL - 12, at = x + 6;

	fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"8\" fill=\"#ffffff\" stroke=\"#616161\" "
		"stroke-width=\"0.5\"/>\n", at, y + CELL - 16, w);
	for (size_t i = 0; i < 4; i++) {
		int len = (int)((double)w * parts[i] / a->runs + 0.5);

		if (len > x + 6 + w - at)
			len = x + 6 + w - at;
		if (len > 0)
			fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"8\" fill=\"%s\"/>\n", at,
				y + CELL - 16, len, i < 3 ? fills[i] : fills[FILL_ERROR]);
		at += len;
	}
}

static void svg_title(FILE *f, const struct matrix_picture *p, const struct grid *g, int r, int c)
{
	const struct result *s = grid_at(g, r, c);
	const struct stats_agg *a = s ? cell_rates(g, r, c) : NULL;
	enum state st = s ? cell_state(g, r, c) : ST_NONE;

	fputs("<title>alice behind ", f);
	text_put_xml(f, p->profiles[r], TEXT_XML_ATTR_NO_CR);
	fputs(", bob behind ", f);
	text_put_xml(f, p->profiles[c], TEXT_XML_ATTR_NO_CR);
	if (st == ST_NONE)
		fputs(": not run", f);
	else if (st == ST_ERROR && !a) {
		fputs(": error: ", f);
		text_put_xml(f, text_str(s->error), TEXT_XML_ATTR_NO_CR);
	} else if (a) {
		fprintf(f, ": %u of %u runs as expected (%s), 95%% interval %.0f%%-%.0f%%; direct %u, relayed %u, "
			"failed %u, other %u", a->passed, a->runs, word(expected_of(s)), 100 * a->lo, 100 * a->hi,
			a->direct, a->relayed, a->failed, a->other);
		if (a->n_ms)
			fprintf(f, "; to direct p50 %.0f ms, p95 %.0f ms", a->p50_ms, a->p95_ms);
	} else {
		fprintf(f, ": %s, expected %s", word(s->actual), word(expected_of(s)));
	}
	fputs("</title>\n", f);
}

static void svg_cell(FILE *f, const struct matrix_picture *p, const struct grid *g, int r, int c, int x, int y)
{
	const struct result *s = grid_at(g, r, c);
	const struct stats_agg *a = s ? cell_rates(g, r, c) : NULL;
	enum state st = s ? cell_state(g, r, c) : ST_NONE;
	enum fill fl = fill_of(st, s ? cell_outcome(g, r, c) : RESULT_NONE);
	int cx = x + CELL / 2;

	fputs("<g class=\"cell\">", f);
	svg_title(f, p, g, r, c);
	fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"%s\" stroke=\"%s\" "
		"stroke-width=\"%d\"%s/>\n", x + 2, y + 2, CELL - 4, CELL - 4, fills[fl],
		st == ST_FAIL ? "#d50000" : "#757575", st == ST_FAIL ? 4 : 1,
		st == ST_NONE ? " stroke-dasharray=\"4 3\"" : "");
	if (st == ST_FAIL)
		fprintf(f, "<path d=\"M%d %dl8 8m0 -8l-8 8\" stroke=\"#d50000\" stroke-width=\"2\"/>\n",
			x + CELL - 16, y + 8);
	if (st == ST_NONE) {
		fprintf(f, "<text x=\"%d\" y=\"%d\" class=\"small\">not run</text>\n", cx, y + 36);
	} else {
		fprintf(f, "<text x=\"%d\" y=\"%d\" class=\"big%s\">%s</text>\n", cx, y + (a ? 26 : 32),
			st == ST_FAIL ? " bad" : "", st == ST_ERROR && !a ? "error" : word(cell_outcome(g, r, c)));
		if (a)
			fprintf(f, "<text x=\"%d\" y=\"%d\" class=\"small%s\">%u/%u as exp.</text>\n", cx, y + 42,
				st == ST_FAIL ? " bad" : "", a->passed, a->runs);
		else
			fprintf(f, "<text x=\"%d\" y=\"%d\" class=\"small%s\">%s%s</text>\n", cx, y + 50,
				st == ST_FAIL ? " bad" : "", st == ST_PASS ? "as expected" : "exp. ",
				st == ST_PASS ? "" : word(expected_of(s)));
		if (a)
			svg_bar(f, a, x, y);
	}
	fputs("</g>\n", f);
}

int matrix_report_svg(FILE *f, const struct matrix_picture *p)
{
	struct grid g;
	struct counts k;
	size_t longest = 4;
	int rc = grid_build(p, &g), left, top, width, height, x, y;

	if (rc < 0)
		return rc;
	for (int i = 0; i < g.n; i++) {
		size_t w = text_term_width(p->profiles[i]);

		longest = w > longest ? w : longest;
	}
	if (longest > 40)
		longest = 40;   /* longer names overflow the picture rather than stretch it */
	left = MARGIN + (int)longest * CHAR_W + 8;
	if (left < MARGIN + 150)
		left = MARGIN + 150;    /* room for "rows: alice's router" */
	/* Column names stand at 45 degrees: they need about 0.71 of their length upwards. */
	top = 84 + (int)longest * CHAR_W * 71 / 100 + 8;
	width = left + g.n * CELL + MARGIN + (int)longest * CHAR_W * 71 / 100;
	if (width < 560)
		width = 560;
	height = top + g.n * CELL + 100;
	if (width < 760)
		width = 760;    /* the legend's width */

	fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
		"viewBox=\"0 0 %d %d\" font-family=\"DejaVu Sans, Verdana, sans-serif\">\n",
		width, height, width, height);
	fputs("<style>\n"
	      "text { font-size: 12px; fill: #212121; }\n"
	      ".title { font-size: 18px; font-weight: bold; }\n"
	      ".desc { font-size: 13px; fill: #424242; }\n"
	      ".big { font-size: 13px; font-weight: bold; text-anchor: middle; }\n"
	      ".small { font-size: 10px; text-anchor: middle; }\n"
	      ".bad { fill: #b71c1c; }\n"
	      ".row { text-anchor: end; }\n"
	      ".axis { font-size: 12px; font-style: italic; fill: #424242; }\n"
	      "</style>\n", f);
	fprintf(f, "<rect width=\"%d\" height=\"%d\" fill=\"#ffffff\"/>\n", width, height);
	fprintf(f, "<text x=\"%d\" y=\"28\" class=\"title\">", MARGIN);
	text_put_xml(f, p->title ? p->title : "matrix", TEXT_XML_ATTR_NO_CR);
	fputs("</text>\n", f);
	if (p->description) {
		fprintf(f, "<text x=\"%d\" y=\"48\" class=\"desc\">", MARGIN);
		text_put_xml(f, p->description, TEXT_XML_ATTR_NO_CR);
		fputs("</text>\n", f);
	}
	fprintf(f, "<text x=\"%d\" y=\"%d\" class=\"axis\">rows: alice's router</text>\n", MARGIN, top - 6);
	fprintf(f, "<text x=\"%d\" y=\"%d\" class=\"axis\">columns: bob's router</text>\n", left, 72);
	for (int c = 0; c < g.n; c++) {
		x = left + c * CELL + CELL / 2;
		fprintf(f, "<text transform=\"translate(%d %d) rotate(-45)\">", x, top - 6);
		text_put_xml(f, p->profiles[c], TEXT_XML_ATTR_NO_CR);
		fputs("</text>\n", f);
	}
	for (int r = 0; r < g.n; r++) {
		y = top + r * CELL;
		fprintf(f, "<text x=\"%d\" y=\"%d\" class=\"row\">", left - 8, y + CELL / 2 + 4);
		text_put_xml(f, p->profiles[r], TEXT_XML_ATTR_NO_CR);
		fputs("</text>\n", f);
		for (int c = r; c < g.n; c++)
			svg_cell(f, p, &g, r, c, left + c * CELL, y);
	}
	y = top + g.n * CELL + 24;
	x = MARGIN;
	for (int i = 0; i < FILL_N; i++) {
		fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"14\" height=\"14\" fill=\"%s\" stroke=\"#757575\"/>\n",
			x, y - 11, fills[i]);
		fprintf(f, "<text x=\"%d\" y=\"%d\">%s</text>\n", x + 20, y, fill_names[i]);
		x += 20 + (int)strlen(fill_names[i]) * CHAR_W + 16;
	}
	fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"14\" height=\"14\" fill=\"#ffffff\" stroke=\"#d50000\" "
		"stroke-width=\"3\"/>\n<text x=\"%d\" y=\"%d\">not as expected</text>\n", x, y - 11, x + 20, y);
	k = count(&g);
	fprintf(f, "<text x=\"%d\" y=\"%d\">%d cells: %d passed, %d failed, %d error%s, %d not run.</text>\n"
		"<text x=\"%d\" y=\"%d\">Fill and big word: what happened (when repeated: the most frequent outcome, "
		"and the bar:</text>\n<text x=\"%d\" y=\"%d\">the shares of each); small: what was expected, or the "
		"runs as expected.</text>\n",
		MARGIN, y + 24,
		k.pass + k.fail + k.error + k.none, k.pass, k.fail, k.error, k.error == 1 ? "" : "s",
		k.none, MARGIN, y + 42, MARGIN, y + 58);
	fputs("</svg>\n", f);
	grid_free(&g);
	return ferror(f) ? -EIO : 0;
}
