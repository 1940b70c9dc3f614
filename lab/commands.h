/* punchlab's commands, each behind one function that main.c dispatches to:
 * run (cmd_run.c), classify (cmd_classify.c), check and list (cmd_check.c),
 * up, shell, exec, down and rebind (cmd_kept.c).
 * Each returns the process's exit status. */
#ifndef PUNCH_COMMANDS_H
#define PUNCH_COMMANDS_H

#include <limits.h>
#include <stdbool.h>
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
};

/* Is path a matrix file (by its name, *.matrix)? */
bool cmd_is_matrix(const char *path);

/* punchlab run FILE...: every scenario -j at a time, a line for each as it
 * ends, then the summary, the matrix pictures and the reports. */
int cmd_run(int nfiles, char **files, const struct lab_opts *o);

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
