/* punchlab's commands, each behind one function that main.c dispatches to:
 * run (cmd_run.c), classify (cmd_classify.c), check and list (cmd_check.c),
 * up, shell, exec, down and rebind (cmd_kept.c), merge (cmd_merge.c), diff (cmd_diff.c);
 * the reports of a set of results, shared by run and merge (cmd_report.c).
 * Each returns the process's exit status. */
#ifndef PUNCH_COMMANDS_H
#define PUNCH_COMMANDS_H

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdint.h>

/* Exit statuses (documented in punchlab --help, README.md and punchlab(1)). */
enum {
	EXIT_PASS = 0,          /* every verdict as expected */
	EXIT_MISMATCH = 1,      /* some mismatch or error */
	EXIT_USAGE = 2,
	EXIT_SETUP = 3,         /* the lab could not be set up at all */
	EXIT_INTERRUPTED = 130, /* SIGINT, SIGTERM or SIGHUP: what finished is reported */
};

/* The command line's options. */
struct lab_opts {
	int jobs;
	bool tap;
	bool verbose;
	bool color;
	bool tty;
	bool keep;
	bool no_selfcheck;
	uint64_t seed;          /* the routers' port pools (--seed; else drawn, and printed) */
	const char *junit;
	const char *json;
	const char *markdown;
	const char *picture;
	char bindir[PATH_MAX];
	const char *pcap;       /* --pcap DIR */
	bool pcap_on_failure;
	unsigned long pcap_cap; /* --pcap-cap BYTES, 0: the default */
	int repeat;             /* --repeat N: each scenario N times (0 or 1: once) */
	unsigned shard_i, shard_n; /* --shard I/N (shard_n 0: all) */
	const char **only;      /* --only GLOB patterns (any may match), NULL-terminated, or NULL */
};

struct result;
struct matrix;

/* After a run or a merge: on live the summary (per run), the rate table
 * (when a scenario ran more than once or declares expect-rate), each
 * matrix's picture (results found by cell name; with --picture DIR also
 * DIR/NAME.svg and .md); --tap on stdout; the --junit, --json and
 * --markdown files. *not_passed: scenarios whose verdict over all their
 * runs (report/stats.h) is not pass. Returns how many outputs could not be
 * written. */
int cmd_reports(const struct lab_opts *o, FILE *live, const struct result *rs, size_t n,
		struct matrix *const *mats, int n_mats, int *not_passed);

/* Read the JSON report at path (report_json_read) into *out and *n (free
 * with report_results_free). Returns 0, or -errno after saying why. */
int cmd_report_load(const char *path, struct result **out, size_t *n);

/* Split "FILE.matrix:PATTERN" (a cell pattern) into the file, copied into
 * path, and *pattern (into arg; NULL without one). Returns 0 or -ENAMETOOLONG. */
int cmd_file_pattern(const char *arg, char *path, size_t size, const char **pattern);

/* Is path a matrix file (by its name, *.matrix)? */
bool cmd_is_matrix(const char *path);

/* punchlab run FILE...: every scenario -j at a time, a line for each as it
 * ends, then the summary, the matrix pictures and the reports. */
int cmd_run(int nfiles, char **files, const struct lab_opts *o);

/* punchlab merge [--json F] [--markdown F] [--junit F] [--picture DIR]
 * REPORT.json...: the JSON reports of the shards of one run as one report. */
int cmd_merge(int nfiles, char **files, const struct lab_opts *o);

/* punchlab diff BASE.json NEW.json: what regressed, improved or changed
 * rate beyond noise; 1 when something regressed (stats_change_is_bad). */
int cmd_diff(const char *base, const char *new, const struct lab_opts *o);

/* punchlab classify FILE...: each file's routers classified in a lab. */
int cmd_classify(int nfiles, char **files, const struct lab_opts *o);

/* punchlab check / list FILE: validate without the kernel; list also
 * describes what the file builds. Returns 0 or 1 for one file. */
int cmd_check_one(const char *path, bool describe);

/* punchlab shell NAME NODE [CMD...]: a shell (or CMD) in a node of a kept
 * lab; returns only on failure. */
int cmd_shell(int argc, char **argv);

/* punchlab exec NAME NODE CMD...: CMD in a node of a kept lab (a command
 * is required); returns only on failure. */
int cmd_exec(int argc, char **argv);

/* punchlab up FILE...: each topology's lab built, self-checked and kept,
 * no pair run ([programs] setup runs and its work directory stays). */
int cmd_up(int nfiles, char **files, const struct lab_opts *o);

/* punchlab down NAME...: take kept labs down, ending every process still
 * in their namespaces. */
int cmd_down(int argc, char **argv);

/* punchlab rebind NAME ROUTER: the kept router forgets every mapping. */
int cmd_rebind(int argc, char **argv);

#endif
