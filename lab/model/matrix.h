/* Matrix files: several NAT profiles, and a topology for every unordered
 * pair of them (a profile with itself included), so one file checks a whole
 * table of behaviours. matrices/README.md is the format reference.
 *
 * A cell is an ordinary struct topo (model.h) with two NATs and two peers:
 * peer "alice" behind the row's profile, peer "bob" behind the column's (or
 * directly on the internet for the profile `internet`). The NATs are named
 * after their profiles; in a cell of a profile with itself the column's NAT
 * gets "-2" appended. Each cell is built by writing the topology text that
 * the matrix stands for, with every key on the line the matrix file has it,
 * and parsing that with topo_parse_buffer(): the topology parser stays the
 * one authority on what a [nat] or [lab] key means, and its "file:line"
 * messages point at the matrix file's own lines.
 *
 * Pure apart from reading the file (and topo.c checking that a rules = FILE
 * exists): no kernel state, no logging.
 */
#ifndef PUNCH_MATRIX_H
#define PUNCH_MATRIX_H

#include <stddef.h>

#include "model/model.h"

#define MATRIX_MAX_PROFILES 32  /* 528 cells */
#define MATRIX_NAME_LEN 13      /* profile names: [a-z0-9-], 1..13 chars ("-2" must still fit a node name) */

struct matrix;

/* Parse the matrix file at path. Returns 0 and a new matrix in *out (free it
 * with matrix_free), or -errno with *out = NULL and err = "path:line: what":
 * -EINVAL for a bad file, -EFBIG for one over TOPO_MAX_FILE, -ENOMEM, or the
 * error of opening or reading it. Every profile and every [cell] override is
 * checked by building its cell, so a matrix that parses gives cells that do. */
int matrix_parse_file(const char *path, struct matrix **out, char *err, size_t errsize);

/* Parse len bytes of text (need not be NUL-terminated); name is used in
 * messages and for rules = FILE as in topo_parse_buffer(). Returns as
 * matrix_parse_file(). */
int matrix_parse_buffer(const char *name, const char *text, size_t len, struct matrix **out,
			char *err, size_t errsize);

/* Free a matrix, NULL included. */
void matrix_free(struct matrix *m);

/* Its name: the base name of the file it came from, without ".matrix". */
const char *matrix_name(const struct matrix *m);
/* The [matrix] description, or NULL. */
const char *matrix_description(const struct matrix *m);

/* Profiles in file order; names stay valid until matrix_free(). */
int matrix_n_profiles(const struct matrix *m);
const char *matrix_profile_name(const struct matrix *m, int i);

/* Cells: n(n+1)/2 for n profiles, row by row over the upper triangle
 * (row <= col), so cell 0 is profile 0 with itself. */
int matrix_n_cells(const struct matrix *m);

/* Row and column (profile indexes, row <= col) of cell i. Returns 0, or
 * -ERANGE for an i out of range. */
int matrix_cell_pos(const struct matrix *m, int i, int *row, int *col);

/* The index of the cell of profiles a and b in either order, or -1. */
int matrix_cell_index(const struct matrix *m, int a, int b);

/* The cell's scenario name, "<matrix>/<row>-x-<col>", in buf. Returns 0,
 * -ERANGE for i out of range, or -ENOSPC when buf is too small. */
int matrix_cell_name(const struct matrix *m, int i, char *buf, size_t size);

/* Cell i as a complete topology: path "FILE[row x col]", description
 * "row x col: <matrix description>", expect and expect-why from its [cell]
 * override or OUTCOME_UNSET (derive it). Returns 0 and a new graph in *out
 * (free it with topo_free), or -errno with err = "file:line: what" (only when
 * the file system changed since parsing, e.g. a rules file went away). */
int matrix_cell_topo(const struct matrix *m, int i, struct topo **out, char *err, size_t errsize);

#endif
