/* Golden files for the cmocka drivers: compare generated text with
 * tests/unit/golden/SUBDIR/NAME, or rewrite it when PUNCHLAB_UPDATE_GOLDEN=1
 * (then review the diff). Include after <cmocka.h>. */
#ifndef PUNCH_TEST_GOLDEN_H
#define PUNCH_TEST_GOLDEN_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A whole file, NUL-terminated, or NULL. */
static inline char *golden_slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
		buf = malloc((size_t)n + 1);
		if (buf && fread(buf, 1, (size_t)n, f) == (size_t)n) {
			buf[n] = '\0';
			*len = (size_t)n;
		} else {
			free(buf);
			buf = NULL;
		}
	}
	fclose(f);
	return buf;
}

static inline void golden_check(const char *subdir, const char *name, const char *got)
{
	/* This header's own path locates the golden directory beside it. */
	const char *here = __FILE__, *slash = strrchr(here, '/');
	const char *upd = getenv("PUNCHLAB_UPDATE_GOLDEN");
	char path[512], *want;
	size_t len = 0;

	snprintf(path, sizeof(path), "%.*s/golden/%s/%s", slash ? (int)(slash - here) : 1, slash ? here : ".",
		 subdir, name);
	if (upd && strcmp(upd, "1") == 0) {
		FILE *f = fopen(path, "wb");

		assert_non_null(f);
		assert_int_equal(fwrite(got, 1, strlen(got), f), strlen(got));
		assert_int_equal(fclose(f), 0);
		return;
	}
	want = golden_slurp(path, &len);
	if (!want)
		fail_msg("missing golden file %s (PUNCHLAB_UPDATE_GOLDEN=1 writes it)", path);
	if (len != strlen(got) || memcmp(want, got, len) != 0) {
		fprintf(stderr, "--- %s differs; got:\n%s\n", path, got);
		free(want);
		fail_msg("output differs from %s", path);
	}
	free(want);
}

#endif
