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

/* One cell: the profiles it pairs (in either order) and its result, or NULL
 * while it has not run. Cells naming a profile out of range are ignored; of
 * two cells for one pair the later wins. */
struct matrix_report_cell {
	int row, col;
	const struct result *result;
};

struct matrix_picture {
	const char *title;              /* the matrix's name, e.g. "rfc4787" */
	const char *description;        /* or NULL */
	const char *const *profiles;    /* names, in axis order */
	int n_profiles;
	const struct matrix_report_cell *cells;
	int n_cells;
};

/* An aligned table: each cell D, R or F (direct, relayed, failed: what
 * happened), "!" after it when that was not the expectation, E when the lab
 * could not run the cell, "-" when it has not run; green, red and yellow when
 * color. A legend, each mismatch and error on its own line, and the count
 * line follow. */
int matrix_report_text(FILE *f, const struct matrix_picture *p, bool color);

/* A Markdown heading and table (same cells, with marks), the legend, the
 * count line and a list of mismatches and errors. */
int matrix_report_markdown(FILE *f, const struct matrix_picture *p);

/* A standalone SVG document: title, profile names on both axes, a coloured
 * square per cell with the outcome and the expectation (mismatches with a
 * red frame and a cross), a tooltip per cell and a legend. */
int matrix_report_svg(FILE *f, const struct matrix_picture *p);

#endif
