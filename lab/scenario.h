/* One scenario: a topology file built into a lab, the program pair run in it,
 * the outcome compared with the expectation, the lab torn down. */
#ifndef PUNCH_SCENARIO_H
#define PUNCH_SCENARIO_H

#include <stdbool.h>
#include <stdint.h>

#include "model/model.h"
#include "report/result.h"

struct plan;

struct scenario_opts {
	const char *bindir;     /* where punch-server and punch-client are */
	bool verbose;           /* pass -v to the programs, keep their stderr */
	bool keep;              /* leave the lab up afterwards (lab_keep) */
	bool no_selfcheck;      /* skip classifying the routers before the pair runs */
	const char *pcap_dir;   /* --pcap DIR: capture the pair's run (kernel/capture.h), or NULL */
	bool pcap_on_failure;   /* ... and keep it only when the verdict is not the expected one */
	uint64_t pcap_cap;      /* bytes per capture file; 0: CAPTURE_CAP_DEFAULT */
	uint64_t seed;          /* the run's seed: each router's port pool (nat_router_seed) */
	bool up_only;           /* punchlab up: build, self-check and keep the lab, run no pair */
};

/* The expected outcome of t built as p: the topology's own, or the derived
 * one, and in reason why (expect-why, or the derivation's reason). Fails
 * (-EINVAL, "file:line: ..." in err) when an expectation overrides the
 * derived one without expect-why, or none can be derived. */
int scenario_expectation(const struct topo *t, const struct plan *p, enum outcome *out, char *reason,
			 size_t reasonsize, char *err, size_t errsize);

/* What in t punchlab cannot run yet (a sentence), or NULL. */
const char *scenario_unsupported(const struct topo *t);

/* Run the topology in file path and fill res (all strings malloc'd). Returns
 * 0 when the scenario ran to a verdict (pass or not), or -errno when the lab
 * could not run (res->error says why). Free it with result_clear(). */
int scenario_run(const char *path, const struct scenario_opts *o, struct result *res);

/* The same for a topology already parsed (a matrix cell), named name. */
int scenario_run_topo(const struct topo *t, const char *name, const struct scenario_opts *o,
		      struct result *res);

/* The scenario's name: the file's base name without ".topo" (malloc'd). */
char *scenario_name(const char *path);

#endif
