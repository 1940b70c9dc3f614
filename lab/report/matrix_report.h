/* The matrix picture: the results of a matrix run as one table, rows and
 * columns the profiles, one cell per unordered pair (upper triangle, the
 * diagonal included), as a terminal table, Markdown (CI job summaries) or a
 * self-contained SVG.
 *
 * Pure functions over plain values writing to a FILE*. Every string may be
 * hostile: terminal output replaces control characters, Markdown escapes its
 * punctuation and markup, the SVG escapes XML and replaces invalid UTF-8 and
 * characters XML cannot carry with U+FFFD. Each returns 0, or -EIO when the
 * stream reported an error, or -EINVAL for a picture that is not one (NULL
 * profiles with n_profiles > 0, a negative count).
 */
#ifndef PUNCH_MATRIX_REPORT_H
#define PUNCH_MATRIX_REPORT_H

#include <stdbool.h>
#include <stdio.h>

#include "report/report.h"
#include "report/stats.h"

/* One cell: the profiles it pairs (in either order) and its result, or NULL
 * while it has not run. Cells naming a profile out of range are ignored; of
 * two cells for one pair the later wins. */
struct matrix_report_cell {
	int row, col;
	const struct result *result;
	const struct stats_agg *agg;    /* all runs of the cell (--repeat), or NULL: result alone */
};

struct matrix_picture {
	const char *title;              /* the matrix's name, e.g. "rfc4787" */
	const char *description;        /* or NULL */
	const char *const *profiles;    /* names, in axis order */
	int n_profiles;
	const struct matrix_report_cell *cells;
	int n_cells;
};

/* The row's profile is alice's router, the column's bob's (matrix.h); every
 * format says so on its axes. A cell that ran more than once (agg with runs
 * > 1) shows its most frequent outcome and its pass rate.
 *
 * An aligned table: each cell D, R or F (direct, relayed, failed: what
 * happened), "!" after it when that was not the expectation, E when the lab
 * could not run the cell, "-" when it has not run, the pass rate in percent
 * after it when repeated; green, red and yellow when color. A legend, each
 * mismatch and error on its own line, and the count line follow. */
int matrix_report_text(FILE *f, const struct matrix_picture *p, bool color);

/* A Markdown heading and table (same cells, with marks), the legend, the
 * count line and a list of mismatches and errors. */
int matrix_report_markdown(FILE *f, const struct matrix_picture *p);

/* A standalone SVG document: title, profile names on both axes (saying whose
 * NAT each is), a square per cell filled by what happened (direct green,
 * relayed blue, failed grey, error yellow), a bar of the shares of each
 * outcome and the pass rate when repeated, a mismatch marked apart by a red
 * frame and a cross, a tooltip per cell and a legend. */
int matrix_report_svg(FILE *f, const struct matrix_picture *p);

#endif
