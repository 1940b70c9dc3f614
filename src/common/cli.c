#include "common/cli.h"

#include <errno.h>
#include <getopt.h>

#include "common/svc.h"

int cli_opt(int c, const char *arg, struct cli_common *cc)
{
	switch (c) {
	case 'v':
		cc->lvl = LOG_LVL_DEBUG;
		return 0;
	case 'q':
		cc->lvl = LOG_LVL_WARN;
		return 0;
	case 'h':
		return CLI_HELP;
	case CLI_READY_FD:
		if (svc_ready_fd_parse(arg, &cc->ready_fd) < 0) {
			log_errx("--ready-fd %s: not an open descriptor above 2", arg);
			return -EINVAL;
		}
		return 0;
	case '?':
	case ':':
		return -EINVAL;
	default:
		return -ENOENT;
	}
}

int cli_no_operands(int argc, char **argv)
{
	if (optind >= argc)
		return 0;
	log_errx("unexpected argument: %s", argv[optind]);
	return -EINVAL;
}
