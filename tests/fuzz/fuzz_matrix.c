/* libFuzzer harness for the matrix parser: any bytes must give either a
 * matrix or a "name:line: message" error, never a crash, a leak or a hang.
 * A parsed matrix also has every cell built as a topology (which must have
 * two peers) and named, and its picture drawn, so the cell builder and the
 * reporters see fuzzed profiles. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/matrix.h"
#include "report/matrix_report.h"
#include "model/topo.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static FILE *devnull;
	static const char *names[MATRIX_MAX_PROFILES];
	static struct matrix_report_cell cells[MATRIX_MAX_PROFILES * (MATRIX_MAX_PROFILES + 1) / 2];
	struct result res = { .expected = OUTCOME_DIRECT, .actual = RESULT_RELAYED, .verdict = VERDICT_FAIL };
	struct matrix *m = NULL;
	char err[512];
	int rc;

	if (!devnull)
		devnull = fopen("/dev/null", "w");
	/* No directory in the name: rules = FILE is only stat()ed in the working directory. */
	rc = matrix_parse_buffer("fuzz.matrix", (const char *)data, size, &m, err, sizeof(err));
	if (rc != 0) {
		if (m || (rc != -ENOMEM && strncmp(err, "fuzz.matrix:", 12) != 0))
			abort();
		return 0;
	}
	for (int i = 0; i < matrix_n_cells(m); i++) {
		struct topo *t = NULL;
		char name[64];
		int r, c;

		if (matrix_cell_pos(m, i, &r, &c) != 0 || matrix_cell_index(m, r, c) != i ||
		    matrix_cell_name(m, i, name, sizeof(name)) != 0)
			abort();
		/* The cells of a matrix that parsed must build (the file system aside). */
		if (matrix_cell_topo(m, i, &t, err, sizeof(err)) != 0 || t->n_peers != 2)
			abort();
		topo_free(t);
		cells[i] = (struct matrix_report_cell){ r, c, i % 2 ? &res : NULL, NULL };
	}
	for (int i = 0; i < matrix_n_profiles(m); i++)
		names[i] = matrix_profile_name(m, i);
	if (devnull) {
		struct matrix_picture p = { matrix_name(m), matrix_description(m), names,
					    matrix_n_profiles(m), cells, matrix_n_cells(m) };

		matrix_report_text(devnull, &p, true);
		matrix_report_markdown(devnull, &p);
		matrix_report_svg(devnull, &p);
	}
	matrix_free(m);
	return 0;
}
