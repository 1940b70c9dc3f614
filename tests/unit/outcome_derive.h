/* Shared by the drivers of the expected-outcome model (test_outcome*.c):
 * a two-peer topology text, and the outcome derived from a topology text.
 * Include after <cmocka.h>. */
#ifndef PUNCH_TEST_OUTCOME_DERIVE_H
#define PUNCH_TEST_OUTCOME_DERIVE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/outcome.h"
#include "model/plan.h"
#include "model/topo.h"

/* A two-peer topology text (free it): each side is "internet", a preset, or
 * a "k=v,k=v" list of nat keys; extra is appended to [lab]. */
static inline char *outcome_pair_text(const char *a, const char *b, const char *extra)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	const char *sides[2] = { a, b };

	assert_non_null(f);
	fprintf(f, "[lab]\ndescription = test\n%s\n", extra ? extra : "");
	for (int k = 0; k < 2; k++) {
		if (strcmp(sides[k], "internet") == 0)
			continue;
		fprintf(f, "[nat r%d]\n", k);
		if (strchr(sides[k], '=')) {
			char *dup = strdup(sides[k]), *save = NULL;

			for (char *kv = strtok_r(dup, ",", &save); kv; kv = strtok_r(NULL, ",", &save))
				fprintf(f, "%s\n", kv);
			free(dup);
		} else {
			fprintf(f, "preset = %s\n", sides[k]);
		}
	}
	for (int k = 0; k < 2; k++)
		fprintf(f, "[peer p%d]\nbehind = %s\n", k, strcmp(sides[k], "internet") ? (k ? "r1" : "r0") : "internet");
	fclose(f);
	return text;
}

/* Parse text (a parse or plan error fails the test) and derive its outcome
 * for a client with abilities ab. Returns outcome_derive_rate()'s code;
 * *o, *rate (when not NULL) and why as it leaves them. */
static inline int outcome_derive_text(const char *text, const struct outcome_abilities *ab, enum outcome *o,
				      double *rate, char *why, size_t whysize)
{
	struct topo *t = NULL;
	struct plan *p = NULL;
	char err[256];
	double r;
	int rc;

	if (topo_parse_buffer("test.topo", text, strlen(text), &t, err, sizeof(err)) < 0)
		fail_msg("parse: %s\n%s", err, text);
	if (plan_build(t, &p, err, sizeof(err)) < 0)
		fail_msg("plan: %s", err);
	rc = outcome_derive_rate(t, p, ab, o, rate ? rate : &r, why, whysize);
	plan_free(p);
	topo_free(t);
	return rc;
}

#endif
