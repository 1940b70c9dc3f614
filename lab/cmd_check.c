/* punchlab check and list: validate a file without the kernel (parse, plan,
 * derive the expectation, generate every router's ruleset); list also says
 * what it builds. */
#include "commands.h"

#include <stdio.h>
#include <stdlib.h>

#include "kernel/build.h"
#include "model/matrix.h"
#include "model/outcome.h"
#include "model/plan.h"
#include "model/topo.h"
#include "scenario.h"

/* Validate without the kernel: parse, plan, derive the expectation, generate
 * every router's ruleset. */
static int check_topo(struct topo *t, const char *path, bool describe)
{
	struct plan *p = NULL;
	enum outcome expected;
	char err[1024], why[256];
	int rc;

	rc = plan_build(t, &p, err, sizeof(err));
	if (rc == 0)
		rc = scenario_expectation(t, p, &expected, why, sizeof(why), err, sizeof(err));
	for (int i = 0; rc == 0 && i < p->n_nodes; i++) {
		char *ruleset = NULL, msg[512];

		if (p->nodes[i].kind != PLAN_ROUTER)
			continue;
		rc = lab_router_ruleset(t, p, i, &ruleset, msg, sizeof(msg));
		if (rc < 0)
			snprintf(err, sizeof(err), "%s:%d: router %s: %s", path, t->nats[p->nodes[i].index].line,
				 t->nats[p->nodes[i].index].name, msg);
		free(ruleset);
	}
	if (rc < 0) {
		fprintf(stderr, "%s\n", err);
		goto cleanup;
	}
	if (!describe) {
		double rate = t->expect_rate > 0 ? 0 : outcome_topo_rate(t);

		if (rate > 0) /* predict = birthday: a chance, judged over --repeat */
			printf("%s: ok (expect %s, derived rate %.7g)\n", path, topo_outcome_name(expected), rate);
		else
			printf("%s: ok (expect %s)\n", path, topo_outcome_name(expected));
		if (scenario_unsupported(t))
			printf("%s: note: valid, but punchlab run refuses it: %s\n", path, scenario_unsupported(t));
		goto cleanup;
	}
	topo_describe(t, stdout);
	printf("expected outcome: %s%s%s%s\n", topo_outcome_name(expected), t->expect ? "" : " (derived)",
	       why[0] ? ": " : "", why);
	printf("namespaces:\n");
	for (int i = 0; i < p->n_nodes; i++) {
		const struct plan_node *n = &p->nodes[i];

		printf("  %-20s", n->name);
		for (int k = 0; k < n->n_ifs; k++)
			if (n->ifs[k].addr[0])
				printf(" %s=%s%s%s%s%s%s%s", n->ifs[k].name, n->ifs[k].addr, n->ifs[k].addr2[0] ? "," : "",
				       n->ifs[k].addr2, n->ifs[k].addr6[0] ? "," : "", n->ifs[k].addr6,
				       n->ifs[k].addr2_6[0] ? "," : "", n->ifs[k].addr2_6);
		for (int k = 0; k < n->n_routes; k++)
			printf(" route %s via %s", n->routes[k].dst, n->routes[k].via);
		printf("\n");
	}
	for (int k = 0; k < 2; k++)
		printf("peer %s: %s port %u, seen on the internet as %s\n", t->peers[k].name,
		       t->ipv6 ? p->peers[k].ip6 : p->peers[k].ip, p->peers[k].local_port,
		       t->ipv6 ? p->peers[k].public_ip6 : p->peers[k].public_ip);
cleanup:
	plan_free(p);
	return rc < 0 ? 1 : 0;
}

/* check/list one file: a topology, or every cell of a matrix. */
int cmd_check_one(const char *path, bool describe)
{
	struct topo *t = NULL;
	struct matrix *m = NULL;
	char err[1024];
	int rc = 0;

	if (!cmd_is_matrix(path)) {
		if (topo_parse_file(path, &t, err, sizeof(err)) < 0) {
			fprintf(stderr, "%s\n", err);
			return 1;
		}
		rc = check_topo(t, path, describe);
		topo_free(t);
		return rc;
	}
	if (matrix_parse_file(path, &m, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	for (int c = 0; c < matrix_n_cells(m); c++) {
		char name[256];

		matrix_cell_name(m, c, name, sizeof(name));
		if (matrix_cell_topo(m, c, &t, err, sizeof(err)) < 0) {
			fprintf(stderr, "%s\n", err);
			rc = 1;
			continue;
		}
		if (describe)
			printf("== %s\n", name);
		rc |= check_topo(t, name, describe);
		topo_free(t);
		t = NULL;
	}
	matrix_free(m);
	return rc;
}
