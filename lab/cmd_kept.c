/* punchlab up, shell, exec, down and rebind: the kept labs (punchlab up, punchlab run --keep). */
#include "commands.h"

#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "kernel/build.h"
#include "kernel/netns.h"
#include "kernel/rebind.h"
#include "report/result.h"
#include "scenario.h"

/* punchlab shell NAME NODE [CMD...]: enter a kept node's namespace and exec. */
int cmd_shell(int argc, char **argv)
{
	char path[512];
	const char *shell = getenv("SHELL");
	char sh[PATH_MAX];
	char *sh_argv[] = { sh, NULL };
	int fd;

	snprintf(sh, sizeof(sh), "%s", shell && *shell ? shell : "/bin/sh");
	if (argc < 2) {
		log_errx("usage: punchlab shell NAME NODE [CMD...]  (NODE: inet, server, nat-X, peer-X, probe-X)");
		return EXIT_USAGE;
	}
	lab_kept_path(argv[0], argv[1], path, sizeof(path));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		log_err("%s (is lab '%s' kept? punchlab run --keep)", path, argv[0]);
		return EXIT_USAGE;
	}
	if (setns(fd, CLONE_NEWNET) < 0) {
		log_err("entering %s", path);
		return EXIT_SETUP;
	}
	close(fd);
	if (argc > 2) {
		execvp(argv[2], argv + 2);
		log_err("%s", argv[2]);
	} else {
		execv(sh_argv[0], sh_argv);
		log_err("%s", sh_argv[0]);
	}
	return EXIT_SETUP;
}

int cmd_exec(int argc, char **argv)
{
	if (argc < 3) {
		log_errx("usage: punchlab exec NAME NODE CMD...  (NODE: inet, server, nat-X, peer-X, probe-X)");
		return EXIT_USAGE;
	}
	return cmd_shell(argc, argv);
}

int cmd_up(int nfiles, char **files, const struct lab_opts *o)
{
	struct scenario_opts so = { .bindir = o->bindir, .verbose = o->verbose, .keep = true,
				    .no_selfcheck = o->no_selfcheck, .up_only = true };
	int rc = EXIT_PASS;

	for (int i = 0; i < nfiles; i++) {
		struct result res;

		if (cmd_is_matrix(files[i])) {
			log_errx("%s: up takes topology files (a matrix is many labs)", files[i]);
			rc = EXIT_USAGE;
			continue;
		}
		/* No pair runs, so there is no verdict: only an error counts. */
		if (scenario_run(files[i], &so, &res) < 0 || res.error) {
			log_errx("%s: %s", files[i], res.error ? res.error : "could not bring the lab up");
			rc = EXIT_MISMATCH;
		} else {
			printf("%s: lab '%s' is up%s; punchlab shell %s NODE, punchlab exec %s NODE CMD, "
			       "punchlab down %s\n",
			       files[i], res.name, so.no_selfcheck ? "" : " (self-check passed)", res.name, res.name,
			       res.name);
		}
		result_clear(&res);
	}
	return rc;
}

int cmd_down(int argc, char **argv)
{
	int rc = EXIT_PASS;

	if (argc < 1) {
		log_errx("usage: punchlab down NAME...");
		return EXIT_USAGE;
	}
	for (int i = 0; i < argc; i++) {
		int n = lab_unkeep(argv[i]);

		if (n < 0) {
			log_errx("%s: %s", argv[i], strerror(-n));
			rc = EXIT_SETUP;
		} else if (n == 0) {
			log_errx("%s: no kept lab of that name", argv[i]);
			rc = EXIT_MISMATCH;
		} else {
			log_info("%s: took down %d namespaces", argv[i], n);
		}
	}
	return rc;
}

/* punchlab rebind NAME ROUTER: the kept router forgets every mapping, as a
 * NAT that rebinds does: its learned mapping sets and its conntrack table
 * are flushed, so each flow's next packet takes a new external port. */
int cmd_rebind(int argc, char **argv)
{
	char path[512], node[64], *err = NULL;
	struct netns *ns = NULL;
	int n;

	if (argc != 2) {
		log_errx("usage: punchlab rebind NAME ROUTER  (ROUTER: a [nat] of the kept lab)");
		return EXIT_USAGE;
	}
	snprintf(node, sizeof(node), "nat-%s", argv[1]);
	lab_kept_path(argv[0], node, path, sizeof(path));
	if (netns_open_path(path, node, &ns) < 0) {
		log_err("%s (is lab '%s' kept, with a router '%s'?)", path, argv[0], argv[1]);
		return EXIT_USAGE;
	}
	n = rebind_router(ns, &err);
	if (n < 0)
		log_errx("%s: rebinding (is its ruleset the generated one?): %s", node, err ? err : strerror(-n));
	else
		log_info("%s rebound: %d learned mapping sets and its conntrack table flushed", node, n);
	free(err);
	netns_destroy(ns); /* opened by path: only closes our handle */
	return n < 0 ? EXIT_SETUP : EXIT_PASS;
}
