/* What every program's command line shares: -v, -q and -h, and for the
 * long-running ones --ready-fd. Each program's getopt loop handles its own
 * options and hands the rest to cli_opt(), so that these are spelled, and
 * their errors worded, once. */
#ifndef PUNCH_CLI_H
#define PUNCH_CLI_H

#include "common/log.h"

/* The rows of a struct option table for -v, -q and -h. */
#define CLI_OPTS_LOG                                  \
	{ "verbose", no_argument, NULL, 'v' },        \
	{ "quiet", no_argument, NULL, 'q' },          \
	{ "help", no_argument, NULL, 'h' }
/* The row for --ready-fd N (svc.h). */
#define CLI_OPT_READY_FD { "ready-fd", required_argument, NULL, CLI_READY_FD }

#define CLI_READY_FD 0x1000 /* getopt's value for --ready-fd: no short option */
#define CLI_HELP 1          /* cli_opt(): -h was given */

struct cli_common {
	enum log_level lvl;     /* -v: debug, -q: warnings and errors; else as set */
	int ready_fd;           /* --ready-fd, or -1 */
};

/* Handle getopt's answer c (with arg, its optarg) when it is one of the
 * shared options. Returns 0 when handled, CLI_HELP for -h, -ENOENT for an
 * option that is not shared, or -EINVAL after saying what is wrong (getopt
 * has already said it for '?' and ':'). */
int cli_opt(int c, const char *arg, struct cli_common *cc);
/* After getopt: the programs take options only. Returns 0 when argv has
 * nothing from optind on, or -EINVAL after naming the first operand. */
int cli_no_operands(int argc, char **argv);

#endif
