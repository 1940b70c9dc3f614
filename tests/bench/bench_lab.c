/* bench_lab: building and tearing down a lab, against a hand-written script.
 *
 * The baseline is what a user would write without punchlab: one `ip` or
 * `nft` command per step (ip netns add, ip link add ... type veth peer ...
 * netns ..., ip -n NS addr add, ip netns exec NS sysctl, ip netns exec NS
 * nft -f), generated from the very plan punchlab builds, so both sides build
 * the same namespaces, links, addresses, routes, sysctls and rulesets. Both
 * run in turn (A B A B ...) in the same process, so load hits both alike; the
 * result is the ratio of the medians.
 *
 * It also measures what the router ruleset's old preamble cost (`table ip
 * punchlab` + `delete table ip punchlab`, which made a load replace an older
 * table; nat.c no longer writes it, as the lab loads into fresh namespaces or
 * after `flush ruleset`): the first router's ruleset loaded into a fresh
 * namespace as generated, and with those two lines put back, in turn. The
 * difference is the kernel's wait for the deleted table to be released.
 *
 * Usage: bench_lab [TOPOLOGY [ROUNDS]]   (root; default the pr-cone pair, 9 rounds)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/mtime.h"
#include "kernel/build.h"
#include "kernel/netns.h"
#include "kernel/nft.h"
#include "model/plan.h"
#include "model/topo.h"
#include "bench.h"

#define NS_PREFIX "plbench"

static void script_node(FILE *f, const struct plan *p, int i)
{
	static const char *const sysctls[] = {
		"net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0",
		"net.ipv4.conf.all.send_redirects=0", "net.ipv4.conf.default.send_redirects=0",
		"net.ipv4.conf.all.accept_redirects=0", "net.ipv4.conf.default.accept_redirects=0",
		"net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0",
		"net.ipv6.conf.all.accept_redirects=0", "net.ipv6.conf.default.accept_redirects=0",
	};
	const struct plan_node *n = &p->nodes[i];

	/* One sysctl command per namespace, as a person would write it. */
	fprintf(f, "ip netns add %s-%d\nip -n %s-%d link set lo up\nip netns exec %s-%d sysctl -q", NS_PREFIX, i,
		NS_PREFIX, i, NS_PREFIX, i);
	for (size_t k = 0; k < sizeof(sysctls) / sizeof(sysctls[0]); k++)
		fprintf(f, " -w %s", sysctls[k]);
	if (n->forward)
		fprintf(f, " -w net.ipv4.ip_forward=1 -w net.ipv6.conf.all.forwarding=1");
	fprintf(f, "\n");
	if (n->has_bridge)
		fprintf(f, "ip netns exec %s-%d sysctl -q -w net.bridge.bridge-nf-call-iptables=0 "
			   "-w net.bridge.bridge-nf-call-ip6tables=0 -w net.bridge.bridge-nf-call-arptables=0 "
			   "2>/dev/null || true\n", NS_PREFIX, i);
	for (int k = 0; k < n->n_ifs; k++)
		if (n->ifs[k].bridge)
			fprintf(f, "ip -n %s-%d link add %s type bridge\n", NS_PREFIX, i, n->ifs[k].name);
}

static void script_ifaces(FILE *f, const struct plan *p, int i)
{
	const struct plan_node *n = &p->nodes[i];

	for (int k = 0; k < n->n_ifs; k++) {
		const struct plan_iface *fc = &n->ifs[k];
		const char *addrs[] = { fc->addr, fc->addr2, fc->addr6, fc->addr2_6 };

		if (fc->master[0])
			fprintf(f, "ip -n %s-%d link set %s master %s\n", NS_PREFIX, i, fc->name, fc->master);
		for (int a = 0; a < 4; a++)
			if (addrs[a][0])
				fprintf(f, "ip -n %s-%d addr add %s dev %s%s\n", NS_PREFIX, i, addrs[a], fc->name,
					a >= 2 ? " nodad" : "");
		fprintf(f, "ip -n %s-%d link set %s up\n", NS_PREFIX, i, fc->name);
	}
	for (int k = 0; k < n->n_routes; k++) {
		const struct plan_route *r = &n->routes[k];

		if (strcmp(r->dst, "default6") == 0)
			fprintf(f, "ip -n %s-%d -6 route add default via %s\n", NS_PREFIX, i, r->via);
		else
			fprintf(f, "ip -n %s-%d route add %s via %s\n", NS_PREFIX, i, r->dst, r->via);
	}
}

/* Write DIR/up.sh and DIR/down.sh for plan p, with each router's ruleset in
 * DIR/N.nft. Returns 0 or -errno. */
static int write_scripts(const struct topo *t, const struct plan *p, const char *dir)
{
	char path[512];
	FILE *up, *down;

	snprintf(path, sizeof(path), "%s/up.sh", dir);
	up = fopen(path, "we");
	snprintf(path, sizeof(path), "%s/down.sh", dir);
	down = fopen(path, "we");
	if (!up || !down) {
		if (up)
			fclose(up);
		if (down)
			fclose(down);
		return -errno;
	}
	fprintf(up, "set -e\n");
	for (int i = 0; i < p->n_nodes; i++)
		script_node(up, p, i);
	for (int k = 0; k < p->n_links; k++) {
		const struct plan_link *lk = &p->links[k];

		fprintf(up, "ip -n %s-%d link add %s type veth peer name %s netns %s-%d\n", NS_PREFIX, lk->a,
			lk->a_if, lk->b_if, NS_PREFIX, lk->b);
	}
	for (int i = 0; i < p->n_nodes; i++)
		script_ifaces(up, p, i);
	for (int i = 0; i < p->n_nodes; i++) {
		char *rules = NULL, err[256];
		FILE *rf;

		if (p->nodes[i].kind != PLAN_ROUTER)
			continue;
		if (lab_router_ruleset(t, p, i, &rules, err, sizeof(err)) < 0) {
			fprintf(stderr, "bench_lab: ruleset of %s: %s\n", p->nodes[i].name, err);
			continue;
		}
		snprintf(path, sizeof(path), "%s/%d.nft", dir, i);
		rf = fopen(path, "we");
		if (rf) {
			fputs(rules, rf);
			fclose(rf);
		}
		free(rules);
		fprintf(up, "ip netns exec %s-%d nft -f %s\n", NS_PREFIX, i, path);
	}
	for (int i = 0; i < p->n_nodes; i++)
		fprintf(down, "ip netns del %s-%d\n", NS_PREFIX, i);
	fclose(up);
	fclose(down);
	return 0;
}

/* text with "table F punchlab" + "delete table F punchlab" before each
 * "table F punchlab {" line, as nat.c wrote it before (malloc'd). */
static char *add_preamble(const char *text)
{
	char *out = NULL;
	size_t size = 0;
	FILE *m = open_memstream(&out, &size);
	const char *r = text;

	if (!m)
		return NULL;
	while (*r) {
		const char *nl = strchrnul(r, '\n'), *next = *nl ? nl + 1 : nl;
		size_t len = (size_t)(nl - r);

		for (const char *const *f = (const char *const[]){ "ip", "ip6", NULL }; *f; f++) {
			char head[32];

			snprintf(head, sizeof(head), "table %s punchlab {", *f);
			if (len == strlen(head) && strncmp(r, head, len) == 0)
				fprintf(m, "table %s punchlab\ndelete table %s punchlab\n", *f, *f);
		}
		fwrite(r, 1, (size_t)(next - r), m);
		r = next;
	}
	if (fclose(m) != 0) {
		free(out);
		return NULL;
	}
	return out;
}

/* One load of text into a fresh namespace: its time in *ms. Returns 0 or -1. */
static int load_once(const char *text, double *ms)
{
	struct netns *ns = NULL;
	char *nfterr = NULL;
	mtime_ms t0;
	int rc;

	if (netns_create("plbench-nft", &ns) < 0)
		return -1;
	t0 = mtime_now();
	rc = nft_load(ns, text, &nfterr);
	*ms = (double)(mtime_now() - t0);
	if (rc < 0)
		fprintf(stderr, "bench_lab: nft: %s\n", nfterr ? nfterr : strerror(-rc));
	free(nfterr);
	netns_destroy(ns);
	return rc < 0 ? -1 : 0;
}

/* The old preamble's cost, on the first router of p. Returns 0 or -1. */
static int bench_preamble(const struct topo *t, const struct plan *p, int rounds)
{
	char *with = NULL, *without = NULL, err[256];
	double *a = calloc((size_t)rounds, sizeof(double)), *b = calloc((size_t)rounds, sizeof(double));
	int rc = -1, node = -1;

	for (int i = 0; i < p->n_nodes && node < 0; i++)
		if (p->nodes[i].kind == PLAN_ROUTER)
			node = i;
	if (!a || !b || node < 0 || lab_router_ruleset(t, p, node, &without, err, sizeof(err)) < 0 ||
	    !(with = add_preamble(without)) || strcmp(with, without) == 0)
		goto cleanup;
	for (int r = 0; r < rounds; r++)
		if (load_once(with, &a[r]) < 0 || load_once(without, &b[r]) < 0)
			goto cleanup;
	{
		double ma = bench_median(a, rounds), mb = bench_median(b, rounds);

		printf("  router ruleset load (%s), as generated:      %8.1f ms\n", p->nodes[node].name, mb);
		printf("  the same with the old table/delete preamble:  %8.1f ms  (the preamble cost %.1f ms a load)\n",
		       ma, ma - mb);
	}
	rc = 0;
cleanup:
	free(with);
	free(without);
	free(a);
	free(b);
	return rc;
}

static int sh(const char *dir, const char *script)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "sh %s/%s", dir, script);
	return system(cmd) == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
	const char *path = argc > 1 ? argv[1] : "topologies/pr-cone-vs-pr-cone.topo";
	int rounds = argc > 2 ? atoi(argv[2]) : 9;
	char dir[] = "/tmp/bench_lab.XXXXXX", err[512];
	struct topo *t = NULL;
	struct plan *p = NULL;
	double *ours, *theirs, *up, *down;
	int rc = 1;

	if (geteuid() != 0) {
		printf("bench_lab: SKIP (needs root to build namespaces)\n");
		return 0;
	}
	if (rounds < 1 || rounds > 1000)
		rounds = 9;
	ours = calloc((size_t)rounds, sizeof(*ours));
	theirs = calloc((size_t)rounds, sizeof(*theirs));
	up = calloc((size_t)rounds, sizeof(*up));
	down = calloc((size_t)rounds, sizeof(*down));
	if (!ours || !theirs || !up || !down || !mkdtemp(dir))
		goto cleanup;
	if (topo_parse_file(path, &t, err, sizeof(err)) < 0 || plan_build(t, &p, err, sizeof(err)) < 0) {
		fprintf(stderr, "bench_lab: %s\n", err);
		goto cleanup;
	}
	if (write_scripts(t, p, dir) < 0) {
		fprintf(stderr, "bench_lab: writing scripts in %s failed\n", dir);
		goto cleanup;
	}
	for (int r = 0; r < rounds; r++) {
		struct lab *l = NULL;
		mtime_ms t0 = mtime_now(), t1;

		if (lab_up(t, p, &l, err, sizeof(err)) < 0) {
			fprintf(stderr, "bench_lab: lab_up: %s\n", err);
			goto cleanup;
		}
		t1 = mtime_now();
		lab_down(l);
		ours[r] = (double)(mtime_now() - t0);
		up[r] = (double)(t1 - t0);
		down[r] = (double)(mtime_now() - t1);

		t0 = mtime_now();
		if (sh(dir, "up.sh") < 0) {
			sh(dir, "down.sh");
			fprintf(stderr, "bench_lab: the hand-written script failed (see above)\n");
			goto cleanup;
		}
		if (sh(dir, "down.sh") < 0)
			goto cleanup;
		theirs[r] = (double)(mtime_now() - t0);
	}
	{
		double a = bench_median(ours, rounds), b = bench_median(theirs, rounds);

		printf("bench_lab: %s, %d nodes, %d links, %d rounds (medians)\n", path, p->n_nodes, p->n_links,
		       rounds);
		printf("  punchlab lab_up + lab_down:           %8.1f ms  (up %.1f, down %.1f)\n", a,
		       bench_median(up, rounds), bench_median(down, rounds));
		printf("  hand-written ip/nft script, up + down: %8.1f ms  (baseline, %s/up.sh)\n", b, dir);
		printf("  ratio: punchlab is %.1fx faster\n", a > 0 ? b / a : 0.0);
	}
	if (bench_preamble(t, p, rounds) < 0) {
		fprintf(stderr, "bench_lab: measuring the ruleset preamble failed\n");
		goto cleanup;
	}
	rc = 0;
cleanup:
	if (dir[0] && strcmp(dir, "/tmp/bench_lab.XXXXXX") != 0) {
		char cmd[600];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "bench_lab: could not remove %s\n", dir);
	}
	plan_free(p);
	topo_free(t);
	free(ours);
	free(theirs);
	free(up);
	free(down);
	return rc;
}
