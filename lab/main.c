/* punchlab: build simulated internets from topology files, run a program pair
 * in each, and check the outcome against the expectation.
 *
 *   punchlab run [-j N] [--tap] [--junit F] [--json F] [--markdown F] FILE...
 *   punchlab check FILE...     validate only: no privileges, no kernel changes
 *   punchlab list FILE...      what a file will build
 *   punchlab up FILE...        a lab built, self-checked and kept, no pair run
 *
 * This file is the command line and the dispatch; the commands are in
 * cmd_*.c (commands.h), their worker processes in pool.c. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/num.h"
#include "commands.h"
#include "kernel/capture.h"
#include "kernel/netns.h"
#include "report/stats.h"
#include "model/rulesfile.h"

#define PUNCHLAB_VERSION "0.1.0"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: punchlab run [options] FILE...   build each topology, run the pair, check the outcome\n"
		"                                        (FILE: a topology, *.topo, or a matrix, *.matrix)\n"
		"       punchlab check FILE...           validate files (no privileges, no kernel changes)\n"
		"       punchlab list FILE...            show what each file builds\n"
		"       punchlab classify FILE...        build each file's routers and classify them with\n"
		"                                        punch-probe (a matrix: each profile once)\n"
		"       punchlab up FILE...              build each lab, self-check it and keep it, running\n"
		"                                        no pair ([programs] setup runs, its work directory stays)\n"
		"       punchlab shell NAME NODE [CMD...] a shell (or CMD) in a node of a kept lab\n"
		"       punchlab exec NAME NODE CMD...   run CMD in a node of a kept lab\n"
		"       punchlab down NAME...            take kept labs down, with every process still\n"
		"                                        running in their nodes (named as they are ended)\n"
		"       punchlab merge [--json F] [--markdown F] [--junit F] [--picture DIR] REPORT.json...\n"
		"                                        join the JSON reports of shards into one report\n"
		"       punchlab diff BASE.json NEW.json what regressed, improved or changed rate beyond noise\n"
		"                                        (exit 1 when something regressed)\n"
		"       punchlab rebind NAME ROUTER      a kept NAT forgets its mappings (NAT rebinding)\n"
		"\n"
		"run options:\n"
		"  -j, --jobs N        scenarios (classify: labs) in parallel (default: 8 per CPU,\n"
		"                      as memory allows; scenarios mostly wait)\n"
		"      --tap           TAP version 13 on stdout (live lines go to stderr)\n"
		"      --junit FILE    JUnit XML report\n"
		"      --json FILE     JSON report, with each client's own report\n"
		"      --markdown FILE Markdown table (for CI job summaries)\n"
		"      --picture DIR   each matrix's picture as DIR/NAME.svg and DIR/NAME.md\n"
		"      --bindir DIR    where punch-server and punch-client are (default: beside punchlab)\n"
		"  -v, --verbose       programs log verbosely (their logs show in mismatch details);\n"
		"                      a RUN line as each scenario starts\n"
		"      --no-color      never colour the terminal output\n"
		"      --keep          leave each lab up afterwards, named after its file, for\n"
		"                      inspection (punchlab shell / ip netns exec punchlab-NAME.NODE)\n"
		"      --no-self-check do not classify the routers before the pair runs (faster;\n"
		"                      a router that does not behave as declared then goes unnoticed)\n"
		"      --seed N        the seed of the routers' port allocation (default: a fresh one,\n"
		"                      printed and recorded in every report): the same N, the same ports\n"
		"      --pcap DIR      capture the pair's run as DIR/SCENARIO/NODE-IFACE.pcap: the\n"
		"                      internet, the server, each router's LAN and WAN side (classic\n"
		"                      pcap, 256 bytes of each frame; tcpdump -r, Wireshark)\n"
		"      --pcap-on-failure  keep a capture only when the verdict is not the expected one\n"
		"      --pcap-cap BYTES   at most BYTES per capture file (default 8 MiB; K and M suffixes)\n"
		"      --repeat N      run each scenario N times, each in a fresh lab, and report its\n"
		"                      success rate with a 95%% Wilson interval and p50/p95 time to\n"
		"                      the direct path; a failed run is never retried\n"
		"      --only GLOB     only the scenarios whose name matches (e.g. 'rfc4787/eim-*');\n"
		"                      may be given more than once. FILE.matrix:PATTERN picks cells\n"
		"      --shard I/N     only the I-th of N deterministic parts of the scenarios (CI)\n"
		"      --allow-rules PATH  also take rules = FILE from PATH (a file, or a directory and\n"
		"                      all under it); by default only from the topology's own directory\n"
		"  -h, --help          this text;  --version  the version\n"
		"\n"
		"Exit status: 0 every verdict as expected, 1 some mismatch or error, 2 usage, 3 setup,\n"
		"130 interrupted (SIGINT, SIGTERM or SIGHUP: the running scenarios are stopped, and the\n"
		"summary and reports cover what finished).\n"
		"Topology format: topologies/README.md. Runs as root, or rootless in a user namespace.\n");
}

/* The default -j. A scenario mostly waits (on timers, on its programs): the
 * rfc4787 matrix used about 2.7 s of CPU in a 69 s run. So the number of
 * CPUs is not what limits it; the kernel's serialised lab building and
 * memory are. Measured on 2 cores (doc/punchlab.1): the matrix takes 16.4 s
 * at -j 2, 7.3 s at 6, 6.4 s at 8, 5.9 s at 12 and 16; the whole shipped set
 * 48 s at 2, 15 s at 8, 11 s at 16, with the same verdicts. Eight per CPU,
 * then, as long as memory holds JOBS_MEM_MIB per scenario (about 8 MiB was
 * measured: an eightfold margin), and at most JOBS_MAX. */
#define JOBS_PER_CPU 8
#define JOBS_MEM_MIB 64
#define JOBS_MAX 64

static int jobs_default(void)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN), pages = sysconf(_SC_AVPHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
	long jobs = (cpus > 0 ? cpus : 1) * JOBS_PER_CPU;

	if (pages > 0 && psize > 0 && pages / (JOBS_MEM_MIB * 1024L * 1024L / psize) < jobs)
		jobs = pages / (JOBS_MEM_MIB * 1024L * 1024L / psize);
	if (jobs > JOBS_MAX)
		jobs = JOBS_MAX;
	return jobs < 1 ? 1 : (int)jobs;
}

static int bindir_default(char *buf, size_t size)
{
	ssize_t n = readlink("/proc/self/exe", buf, size - 1);
	char *slash;

	if (n < 0)
		return -errno;
	buf[n] = '\0';
	slash = strrchr(buf, '/');
	if (slash)
		*slash = '\0';
	return 0;
}

static const struct option longopts[] = {
	{ "jobs", required_argument, NULL, 'j' },
	{ "tap", no_argument, NULL, 'T' },
	{ "junit", required_argument, NULL, 'J' },
	{ "json", required_argument, NULL, 'O' },
	{ "markdown", required_argument, NULL, 'M' },
	{ "bindir", required_argument, NULL, 'B' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "no-color", no_argument, NULL, 'C' },
	{ "keep", no_argument, NULL, 'K' },
	{ "no-self-check", no_argument, NULL, 'N' },
	{ "picture", required_argument, NULL, 'P' },
	{ "pcap", required_argument, NULL, 'p' },
	{ "pcap-on-failure", no_argument, NULL, 'F' },
	{ "pcap-cap", required_argument, NULL, 'Z' },
	{ "repeat", required_argument, NULL, 'X' },
	{ "shard", required_argument, NULL, 'S' },
	{ "only", required_argument, NULL, 'G' },
	{ "allow-rules", required_argument, NULL, 'R' },
	{ "seed", required_argument, NULL, 'E' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

/* --pcap-cap BYTES (K and M suffixes). Returns 0 or -EINVAL after saying why. */
static int opt_pcap_cap(const char *arg, unsigned long *out)
{
	size_t len = strlen(arg);
	unsigned long mult = 1, v;
	char num[32];

	if (len && (arg[len - 1] == 'K' || arg[len - 1] == 'M'))
		mult = arg[--len] == 'K' ? 1024 : 1024 * 1024;
	snprintf(num, sizeof(num), "%.*s", (int)len, arg);
	if (len >= sizeof(num) || num_parse_uint(num, CAPTURE_CAP_MAX / mult, &v) < 0 || v * mult < CAPTURE_CAP_MIN) {
		log_errx("--pcap-cap %s: bytes per file, from %d to %llu (K and M suffixes)", arg, CAPTURE_CAP_MIN,
			 (unsigned long long)CAPTURE_CAP_MAX);
		return -EINVAL;
	}
	*out = v * mult;
	return 0;
}

/* One more --only GLOB. Returns 0 or -E2BIG after saying so. */
static int opt_only(struct lab_opts *o, const char *glob)
{
	static const char *only[64];
	size_t n = 0;

	while (only[n])
		n++;
	if (n + 1 >= sizeof(only) / sizeof(only[0])) {
		log_errx("--only %s: at most %zu patterns", glob, sizeof(only) / sizeof(only[0]) - 1);
		return -E2BIG;
	}
	only[n] = glob;
	o->only = only;
	return 0;
}

/* --seed N: 0 to UINT64_MAX, decimal. Returns 0 or -EINVAL after saying why. */
static int opt_seed(const char *arg, uint64_t *out)
{
	unsigned long v;

	_Static_assert(sizeof(unsigned long) >= sizeof(uint64_t), "num_parse_uint must take a 64-bit seed");
	if (num_parse_uint(arg, UINT64_MAX, &v) < 0) {
		log_errx("--seed %s: a number from 0 to %" PRIu64, arg, UINT64_MAX);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

/* Returns -1 to go on, or an exit status. */
static int parse_opts(int argc, char **argv, struct lab_opts *o)
{
	int c;

	while ((c = getopt_long(argc, argv, "j:vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'j': {
			unsigned long v;

			if (num_parse_uint(optarg, 256, &v) < 0 || v < 1) {
				log_errx("-j %s: a number of jobs from 1 to 256", optarg);
				return EXIT_USAGE;
			}
			o->jobs = (int)v;
			break;
		}
		case 'T': o->tap = true; break;
		case 'J': o->junit = optarg; break;
		case 'O': o->json = optarg; break;
		case 'M': o->markdown = optarg; break;
		case 'B': snprintf(o->bindir, sizeof(o->bindir), "%s", optarg); break;
		case 'v': o->verbose = true; break;
		case 'C': o->color = false; break;
		case 'K': o->keep = true; break;
		case 'N': o->no_selfcheck = true; break;
		case 'P': o->picture = optarg; break;
		case 'p': o->pcap = optarg; break;
		case 'F': o->pcap_on_failure = true; break;
		case 'Z':
			if (opt_pcap_cap(optarg, &o->pcap_cap) < 0)
				return EXIT_USAGE;
			break;
		case 'X': {
			unsigned long v;

			if (num_parse_uint(optarg, 10000, &v) < 0 || v < 1) {
				log_errx("--repeat %s: a number of runs from 1 to 10000", optarg);
				return EXIT_USAGE;
			}
			o->repeat = (int)v;
			break;
		}
		case 'S':
			if (stats_shard_parse(optarg, &o->shard_i, &o->shard_n) < 0) {
				log_errx("--shard %s: I/N, the I-th of N parts (1 <= I <= N)", optarg);
				return EXIT_USAGE;
			}
			break;
		case 'G':
			if (opt_only(o, optarg) < 0)
				return EXIT_USAGE;
			break;
		case 'E':
			if (opt_seed(optarg, &o->seed) < 0)
				return EXIT_USAGE;
			break;
		case 'R': {
			int r = rulesfile_allow(optarg);

			if (r < 0) {
				log_errx("--allow-rules %s: %s", optarg, r == -ENOSPC ? "given too often" : strerror(-r));
				return EXIT_USAGE;
			}
			break;
		}
		case 'h': usage(stdout); return 0;
		case 'V': printf("punchlab %s\n", PUNCHLAB_VERSION); return 0;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	return -1;
}

int main(int argc, char **argv)
{
	struct lab_opts o = { .jobs = jobs_default() };
	const char *cmd;
	int rc = 0;

	log_init("punchlab", LOG_LVL_INFO);
	/* A fresh seed per run unless --seed gives one: ports differ run to run. */
	if (getrandom(&o.seed, sizeof(o.seed), 0) != (ssize_t)sizeof(o.seed))
		o.seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	o.tty = isatty(STDOUT_FILENO);
	o.color = o.tty && !getenv("NO_COLOR");
	if (bindir_default(o.bindir, sizeof(o.bindir)) < 0)
		snprintf(o.bindir, sizeof(o.bindir), ".");
	if (argc < 2 || argv[1][0] == '-') {
		/* punchlab --help, punchlab --version */
		rc = parse_opts(argc, argv, &o);
		if (rc < 0) {
			usage(stderr);
			return EXIT_USAGE;
		}
		return rc;
	}
	cmd = argv[1];
	if (strcmp(cmd, "shell") == 0)
		return cmd_shell(argc - 2, argv + 2);
	if (strcmp(cmd, "exec") == 0)
		return cmd_exec(argc - 2, argv + 2);
	if (strcmp(cmd, "down") == 0)
		return cmd_down(argc - 2, argv + 2);
	if (strcmp(cmd, "rebind") == 0)
		return cmd_rebind(argc - 2, argv + 2);
	if (strcmp(cmd, "run") && strcmp(cmd, "check") && strcmp(cmd, "list") && strcmp(cmd, "classify") &&
	    strcmp(cmd, "up") && strcmp(cmd, "merge") && strcmp(cmd, "diff")) {
		log_errx("unknown command '%s' (run, up, check, list, classify, shell, exec, down, rebind, merge, diff)", cmd);
		usage(stderr);
		return EXIT_USAGE;
	}
	rc = parse_opts(argc - 1, argv + 1, &o);
	if (rc >= 0)
		return rc;
	optind++; /* parse_opts saw argv + 1 */
	if (optind >= argc) {
		log_errx("%s: no %s given", cmd, strcmp(cmd, "merge") == 0 || strcmp(cmd, "diff") == 0 ? "reports" : "topology files");
		return EXIT_USAGE;
	}
	if ((o.pcap_on_failure || o.pcap_cap) && !o.pcap) {
		log_errx("--pcap-on-failure and --pcap-cap go with --pcap DIR");
		return EXIT_USAGE;
	}
	if (o.keep && o.repeat > 1) {
		log_errx("--keep keeps one lab per scenario: not with --repeat");
		return EXIT_USAGE;
	}
	if (strcmp(cmd, "merge") == 0)
		return cmd_merge(argc - optind, argv + optind, &o);
	if (strcmp(cmd, "diff") == 0) {
		if (argc - optind != 2) {
			log_errx("diff: BASE.json NEW.json");
			return EXIT_USAGE;
		}
		return cmd_diff(argv[optind], argv[optind + 1], &o);
	}
	if (strcmp(cmd, "check") == 0 || strcmp(cmd, "list") == 0) {
		rc = 0;
		for (int i = optind; i < argc; i++)
			rc |= cmd_check_one(argv[i], cmd[0] == 'l');
		return rc ? EXIT_MISMATCH : EXIT_PASS;
	}
	for (int i = optind; i < argc; i++) {
		char path[PATH_MAX];
		const char *pattern;

		/* FILE.matrix:PATTERN: the file must be there */
		if (cmd_file_pattern(argv[i], path, sizeof(path), &pattern) < 0 || access(path, R_OK) < 0) {
			log_err("%s", path);
			return EXIT_USAGE;
		}
	}
	if (geteuid() != 0) {
		char why[512];

		if (netns_userns_enter(why, sizeof(why)) < 0) {
			log_errx("not root, and rootless mode is not possible here: %s", why);
			return EXIT_SETUP;
		}
		log_info("not root: running rootless in a user namespace");
	}
	if (strcmp(cmd, "classify") == 0)
		return cmd_classify(argc - optind, argv + optind, &o);
	if (strcmp(cmd, "up") == 0)
		return cmd_up(argc - optind, argv + optind, &o);
	return cmd_run(argc - optind, argv + optind, &o);
}
