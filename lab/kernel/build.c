#include "kernel/build.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/fdio.h"
#include "common/log.h"
#include "common/mtime.h"
#include "kernel/childwatch.h"
#include "kernel/ct.h"
#include "model/impair.h"
#include "kernel/link.h"
#include "model/nat.h"
#include "kernel/netns.h"
#include "kernel/nft.h"
#include "kernel/delay_line.h"
#include "kernel/userfile.h"
#include "model/rulesfile.h"

struct lab {
	int n;
	struct netns **ns;
	struct link_ctx **lc;
	char **loss;    /* the loss table loaded on a node's uplink (impair.h), or NULL */
	struct delay_line **dl; /* a node's uplink as a delay line (no netem), or NULL */
	bool *netem;    /* netem is on a node's uplink (uplink_impair()) */
	struct nft_async **load; /* a router's generated ruleset, loading (routers_start()) */
	bool kept;      /* lab_keep() succeeded: the delay lines outlive us */
};

/* The jitter's PRNG seed of node i's delay line: fixed, so a lab's sequence
 * of samples is the same every run. Which frame gets which sample still
 * depends on timing, so no verdict may rest on it. */
/* How long lab_up() waits for its links to be operationally up: the kernel
 * takes well under a second even on a loaded machine; beyond this something
 * is wrong, said with the link's state. */
#define LINKS_UP_MS 5000

#define DELAY_SCHED_SEED 0x70756e63686c6162ULL   /* "punchlab" */

static void lab_err(char *err, size_t errsize, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void lab_err(char *err, size_t errsize, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errsize, fmt, ap);
	va_end(ap);
}

/* Read router nat's own rules file the way the lab loads it
 * (rulesfile.h): opened as the invoking user without blocking, still inside
 * the topology's tree (or an allowed path) once every link is followed, a
 * regular file of at most RULESFILE_MAX bytes, including nothing. Returns 0
 * with *text (malloc'd) and *len, or -errno with "FILE: why" in err. */
static int rules_read(const struct topo *t, const struct topo_nat *nat, char **text, size_t *len, char *err,
		      size_t errsize)
{
	const char *file = nat->rules_file;
	char msg[PATH_MAX + 160];
	int fd, rc, line;

	*text = NULL;
	fd = userfile_open(file);
	if (fd < 0) {
		lab_err(err, errsize, "rules file '%s': %s", file, strerror(-fd));
		return fd;
	}
	/* What was opened, not what was named: a link swapped in since the
	 * topology was read must not lead out of the tree. */
	rc = rulesfile_confine_fd(t->path, fd, file, msg, sizeof(msg));
	if (rc < 0) {
		lab_err(err, errsize, "%s", msg);
		goto cleanup;
	}
	rc = userfile_read_fd(fd, RULESFILE_MAX, text, len);
	if (rc == -EINVAL)
		lab_err(err, errsize, "rules file '%s' is not a regular file", file);
	else if (rc == -EFBIG)
		lab_err(err, errsize, "rules file '%s' is larger than %d bytes", file, RULESFILE_MAX);
	else if (rc < 0)
		lab_err(err, errsize, "rules file '%s': %s", file, strerror(-rc));
	if (rc == 0 && (rc = rulesfile_scan(*text, *len, &line, msg, sizeof(msg))) < 0) {
		lab_err(err, errsize, "%s:%d: %s", file, line, msg);
		free(*text);
		*text = NULL;
	}
cleanup:
	close(fd);
	return rc;
}

/* The names of router node n that a user's own ruleset gets as nft
 * variables: WAN, LAN, WANIP, LANNET and, when the lab has IPv6, WANIP6 and
 * LANNET6. One spelling, both for loading the file (nft_load_file()'s
 * NAME=VALUE) and for showing it (define lines). */
struct router_vars {
	char text[6][96];
	const char *vars[7]; /* NAME=VALUE..., NULL */
};

static void router_vars(const struct plan_node *n, struct router_vars *rv)
{
	int k = 0;

	snprintf(rv->text[k++], sizeof(rv->text[0]), "WAN=\"%s\"", n->uplink);
	snprintf(rv->text[k++], sizeof(rv->text[0]), "LAN=\"%s\"", n->lan_if);
	snprintf(rv->text[k++], sizeof(rv->text[0]), "WANIP=%s", n->ip);
	snprintf(rv->text[k++], sizeof(rv->text[0]), "LANNET=%s", n->lan_net);
	if (n->ip6[0]) {
		snprintf(rv->text[k++], sizeof(rv->text[0]), "WANIP6=%s", n->ip6);
		snprintf(rv->text[k++], sizeof(rv->text[0]), "LANNET6=%s", n->lan_net6);
	}
	for (int i = 0; i < k; i++)
		rv->vars[i] = rv->text[i];
	rv->vars[k] = NULL;
}

int lab_router_ruleset(const struct topo *t, const struct plan *p, int node, char **out, char *err,
		       size_t errsize)
{
	const struct plan_node *n = &p->nodes[node];
	const struct topo_nat *nat = &t->nats[n->index];
	struct nat_ifaces ifc = {
		.wan_if = n->uplink, .lan_if = n->lan_if, .wan_ip = n->ip, .lan_net = n->lan_net,
		/* ipv6 = yes: the firewall guards both families, with the same behaviour */
		.wan_ip6 = n->ip6[0] ? n->ip6 : NULL, .lan_net6 = n->lan_net6[0] ? n->lan_net6 : NULL,
		.seed = nat_router_seed(t->seed, nat->name),
	};
	struct router_vars rv;
	char *user, *text = NULL;
	size_t len = 0, ulen;
	FILE *m;
	int rc;

	*out = NULL;
	if (!nat->rules_file)
		return nat_ruleset(&nat->behavior, nat->nat, &ifc, out, err, errsize);
	/* The user's own ruleset: give it our names as nft variables. */
	rc = rules_read(t, nat, &user, &ulen, err, errsize);
	if (rc < 0)
		return rc;
	router_vars(n, &rv);
	m = open_memstream(&text, &len);
	if (!m) {
		free(user);
		return -ENOMEM;
	}
	fprintf(m, "# punchlab: names of router %s\n", nat->name);
	for (int i = 0; rv.vars[i]; i++) {
		const char *eq = strchr(rv.vars[i], '=');

		fprintf(m, "define %.*s = %s\n", (int)(eq - rv.vars[i]), rv.vars[i], eq + 1);
	}
	fprintf(m, "# %s\n%s", nat->rules_file, user);
	free(user);
	if (fclose(m) != 0) {
		free(text);
		return -ENOMEM;
	}
	*out = text;
	return 0;
}

struct netns *lab_ns(struct lab *l, int node)
{
	return l->ns[node];
}

/* ---- processes left in a lab's namespaces ---- */

#define SWEEP_MAX 256
#define SWEEP_GRACE_MS 1000

/* One network namespace of a lab, by its nsfs inode, and what to call it. */
struct sweep_ns {
	dev_t dev;
	ino_t ino;
	char node[64];
};

/* Without a pidfd (childwatch.h: no pidfd_open, or PUNCHLAB_NO_PIDFD): has
 * pid left namespace n (exited: a zombie has no namespace link either) by
 * deadline? Polled every 10 ms. Only a process still in it is killed after,
 * so a recycled PID elsewhere is not. */
static bool sweep_gone_by(int pid, const struct sweep_ns *n, mtime_ms deadline)
{
	char path[64];
	struct stat st;

	snprintf(path, sizeof(path), "/proc/%d/ns/net", pid);
	for (;;) {
		if (stat(path, &st) < 0 || st.st_dev != n->dev || st.st_ino != n->ino)
			return true;
		if (mtime_now() >= deadline)
			return false;
		poll(NULL, 0, 10);
	}
}

/* End every process whose network namespace is one of ns[0..n), except the
 * pids in skip (the holders): SIGTERM, then SIGKILL to those still there
 * after a grace, waited for through pidfds (or by polling /proc without). A program a user started by hand
 * in a kept lab, or a daemon that left its process group, would otherwise
 * keep the namespace alive after the lab is gone. say(node, pid, comm) names
 * each one found. Returns how many were found. */
static int sweep_netns(const struct sweep_ns *ns, int n, const pid_t *skip, int nskip,
		       void (*say)(const char *node, int pid, const char *comm))
{
	int pids[SWEEP_MAX], fds[SWEEP_MAX], in[SWEEP_MAX], found = 0;
	bool no_pidfd = childwatch_fallback();
	DIR *d = opendir("/proc");
	struct dirent *e;

	if (!d)
		return 0;
	while ((e = readdir(d)) && found < SWEEP_MAX) {
		char path[64], comm[64] = "?";
		struct stat st;
		int pid = atoi(e->d_name), i, k;
		FILE *f;

		if (pid <= 0 || pid == getpid())
			continue;
		for (k = 0; k < nskip && skip[k] != pid; k++)
			;
		if (k < nskip)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/ns/net", pid);
		if (stat(path, &st) < 0)
			continue;
		for (i = 0; i < n && !(ns[i].dev == st.st_dev && ns[i].ino == st.st_ino); i++)
			;
		if (i == n)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/comm", pid);
		if ((f = fopen(path, "re"))) {
			if (fgets(comm, sizeof(comm), f))
				comm[strcspn(comm, "\n")] = '\0';
			fclose(f);
		}
		if (say)
			say(ns[i].node, pid, comm);
		fds[found] = no_pidfd ? -1 : (int)syscall(SYS_pidfd_open, pid, 0);
		in[found] = i;
		pids[found++] = pid;
		kill(pid, SIGTERM);
	}
	closedir(d);
	/* Wait for them (a pidfd turns readable when its process exits), then kill what is left. */
	for (int i = 0; i < found; i++) {
		struct pollfd pf = { .fd = fds[i], .events = POLLIN };
		int grace = SWEEP_GRACE_MS / (found < 10 ? 1 : found / 10 + 1);

		if (fds[i] < 0) {
			if (!sweep_gone_by(pids[i], &ns[in[i]], mtime_now() + grace))
				kill(pids[i], SIGKILL);
			continue;
		}
		if (poll(&pf, 1, grace) != 1)
			kill(pids[i], SIGKILL);
		close(fds[i]);
	}
	return found;
}

static void sweep_log(const char *node, int pid, const char *comm)
{
	log_debug("lab: ending %s (pid %d), left in %s", comm, pid, node);
}

void lab_down(struct lab *l)
{
	if (!l)
		return;
	/* A loader still at work in a namespace is waited for, not left behind. */
	for (int i = 0; l->load && i < l->n; i++)
		nft_load_finish(l->load[i], NULL);
	/* Anything a program under test left in our namespaces (one that left its process
	 * group), unless the lab is kept: then what runs in it is the user's until down. */
	if (!l->kept && l->n > 0) {
		struct sweep_ns *ns = calloc((size_t)l->n, sizeof(*ns));
		pid_t *holders = calloc((size_t)l->n, sizeof(*holders));
		int k = 0;

		for (int i = 0; ns && holders && i < l->n; i++) {
			char path[64];
			struct stat st;

			holders[i] = netns_pid(l->ns[i]);
			snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)holders[i]);
			if (holders[i] > 0 && stat(path, &st) == 0) {
				ns[k].dev = st.st_dev;
				ns[k].ino = st.st_ino;
				snprintf(ns[k++].node, sizeof(ns[0].node), "node %d", i);
			}
		}
		if (k)
			sweep_netns(ns, k, holders, l->n, sweep_log);
		free(ns);
		free(holders);
	}
	/* The forwarders first: they hold the TAP devices (and with them references to the namespaces). */
	for (int i = 0; l->dl && i < l->n; i++) {
		if (l->kept)
			delay_line_leave(l->dl[i]);
		else
			delay_line_stop(l->dl[i]);
	}
	for (int i = l->n - 1; i >= 0; i--) {
		link_close(l->lc[i]);
		free(l->loss[i]);
	}
	netns_destroy_many(l->ns, l->n);
	free(l->ns);
	free(l->lc);
	free(l->loss);
	free(l->dl);
	free(l->netem);
	free(l->load);
	free(l);
}

/* Settings every node gets before its interfaces exist, so that "default"
 * applies to them. Bridge netfilter would send bridged frames through our
 * NAT hooks (NAT-NOTES pitfall 4); rp_filter is inherited from the host and
 * would drop asymmetric lab traffic; the internet router must not redirect.
 * Fills set (room for NODE_SYSCTL_MAX) and returns how many. */
#define NODE_SYSCTL_MAX 16
static int node_sysctls(const struct plan_node *n, struct netns_sysctl_set *set)
{
	static const char *const common[] = {
		"net.ipv4.conf.all.rp_filter", "net.ipv4.conf.default.rp_filter",
		"net.ipv4.conf.all.send_redirects", "net.ipv4.conf.default.send_redirects",
		"net.ipv4.conf.all.accept_redirects", "net.ipv4.conf.default.accept_redirects",
		"net.ipv6.conf.all.accept_dad", "net.ipv6.conf.default.accept_dad",
		/* IPv6 has no send_redirects: hosts ignore redirects instead, so that
		 * traffic keeps going through the internet's router as planned. */
		"net.ipv6.conf.all.accept_redirects", "net.ipv6.conf.default.accept_redirects",
	};
	static const char *const bridge[] = {
		"net.bridge.bridge-nf-call-iptables",
		"net.bridge.bridge-nf-call-ip6tables",
		"net.bridge.bridge-nf-call-arptables",
	};
	int n_set = 0;

	/* A key the kernel lacks (IPv6 off) is no error; ENOENT for bridge
	 * netfilter means br_netfilter is not loaded, nothing to turn off. */
	for (size_t k = 0; k < sizeof(common) / sizeof(common[0]); k++)
		set[n_set++] = (struct netns_sysctl_set){ common[k], "0", true };
	if (n->has_bridge)
		for (size_t k = 0; k < sizeof(bridge) / sizeof(bridge[0]); k++)
			set[n_set++] = (struct netns_sysctl_set){ bridge[k], "0", true };
	if (n->forward) {
		set[n_set++] = (struct netns_sysctl_set){ "net.ipv4.ip_forward", "1", false };
		set[n_set++] = (struct netns_sysctl_set){ "net.ipv6.conf.all.forwarding", "1", false };
	}
	return n_set;
}

/* Load router node i's own rules file: read as rules_read() says, handed
 * to nft from memory (a memfd, named /proc/self/fd/N: nft reads exactly the
 * text that was checked, and its line numbers are the file's), and nft's
 * error cut down to the line it points at (rulesfile_nft_error()). */
static int router_load_own(struct lab *l, const struct topo *t, const struct plan *p, int i, char *err,
			   size_t errsize)
{
	const struct plan_node *n = &p->nodes[i];
	const struct topo_nat *nat = &t->nats[n->index];
	char name[64], msg[512], *text = NULL, *nfterr = NULL, *shown = NULL;
	struct router_vars rv;
	size_t len = 0;
	int rc, mfd;

	rc = rules_read(t, nat, &text, &len, msg, sizeof(msg));
	if (rc < 0) {
		lab_err(err, errsize, "%s: %s", n->name, msg);
		return rc;
	}
	mfd = memfd_create("punchlab-rules", MFD_CLOEXEC);
	rc = mfd < 0 ? -errno : fd_write_all(mfd, text, len);
	if (rc < 0) {
		lab_err(err, errsize, "%s: rules file '%s': memfd: %s", n->name, nat->rules_file, strerror(-rc));
		goto cleanup;
	}
	snprintf(name, sizeof(name), "/proc/self/fd/%d", mfd);
	router_vars(n, &rv);
	rc = nft_load_file(l->ns[i], name, rv.vars, &nfterr);
	if (rc < 0) {
		shown = nfterr ? rulesfile_nft_error(nfterr, name, nat->rules_file, text, len) : NULL;
		lab_err(err, errsize, "%s: loading the ruleset %s: %s", n->name, nat->rules_file,
			shown && shown[0] ? shown : strerror(-rc));
	}
cleanup:
	if (mfd >= 0)
		close(mfd);
	free(shown);
	free(nfterr);
	free(text);
	return rc;
}

/* Generate and load the ruleset of router node i: the generated one in one
 * transaction, or the user's own file with variables for its names. */
static int router_load(struct lab *l, const struct topo *t, const struct plan *p, int i, char *err,
		       size_t errsize)
{
	const struct plan_node *n = &p->nodes[i];
	char msg[512], *nfterr = NULL, *ruleset = NULL;
	int rc;

	if (t->nats[n->index].rules_file)
		return router_load_own(l, t, p, i, err, errsize);
	rc = lab_router_ruleset(t, p, i, &ruleset, msg, sizeof(msg));
	if (rc < 0) {
		lab_err(err, errsize, "%s: ruleset: %s", n->name, msg);
		return rc;
	}
	rc = nft_load(l->ns[i], ruleset, &nfterr);
	free(ruleset);
	if (rc < 0)
		lab_err(err, errsize, "%s: loading the ruleset: %s", n->name, nfterr ? nfterr : strerror(-rc));
	free(nfterr);
	return rc;
}

/* Every router's generated ruleset, loading in the background while the
 * links are made: it names interfaces only by name (iifname/oifname), so it
 * loads before they exist. A user's own file waits for routers_finish(). */
static int routers_start(struct lab *l, const struct topo *t, const struct plan *p, char *err, size_t errsize)
{
	for (int i = 0; i < p->n_nodes; i++) {
		char msg[512], *ruleset = NULL;
		int rc;

		if (p->nodes[i].kind != PLAN_ROUTER || t->nats[p->nodes[i].index].rules_file)
			continue;
		rc = lab_router_ruleset(t, p, i, &ruleset, msg, sizeof(msg));
		if (rc == 0)
			rc = nft_load_start(l->ns[i], ruleset, &l->load[i]);
		else
			lab_err(err, errsize, "%s: ruleset: %s", p->nodes[i].name, msg);
		free(ruleset);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* The loads routers_start() began, waited for; then each user's own file. */
static int routers_finish(struct lab *l, const struct topo *t, const struct plan *p, char *err, size_t errsize)
{
	int rc = 0;

	for (int i = 0; i < p->n_nodes; i++) {
		char *nfterr = NULL;
		int r;

		if (!l->load[i])
			continue;
		r = nft_load_finish(l->load[i], &nfterr);
		l->load[i] = NULL;
		if (r < 0 && rc == 0) {
			lab_err(err, errsize, "%s: loading the ruleset: %s", p->nodes[i].name,
				nfterr ? nfterr : strerror(-r));
			rc = r;
		}
		free(nfterr);
	}
	for (int i = 0; rc == 0 && i < p->n_nodes; i++)
		if (p->nodes[i].kind == PLAN_ROUTER && t->nats[p->nodes[i].index].rules_file)
			rc = router_load_own(l, t, p, i, err, errsize);
	return rc;
}

/* Router node i's generated ruleset loaded afresh: everything flushed, the
 * loss table and the ruleset, in one transaction. Returns 0 or -errno with
 * err set. */
static int router_reload(struct lab *l, const struct topo *t, const struct plan *p, int i, char *err,
			 size_t errsize)
{
	char msg[512], *nfterr = NULL, *ruleset = NULL, *text = NULL;
	int rc = lab_router_ruleset(t, p, i, &ruleset, msg, sizeof(msg));

	if (rc < 0) {
		lab_err(err, errsize, "%s: ruleset: %s", p->nodes[i].name, msg);
		return rc;
	}
	if (asprintf(&text, "%s%s", l->loss[i] ? l->loss[i] : "flush ruleset\n", ruleset) < 0) {
		text = NULL;
		rc = -ENOMEM;
	} else {
		rc = nft_load(l->ns[i], text, &nfterr);
	}
	if (rc < 0)
		lab_err(err, errsize, "%s: loading the ruleset afresh: %s", p->nodes[i].name,
			nfterr ? nfterr : strerror(-rc));
	free(nfterr);
	free(text);
	free(ruleset);
	return rc;
}

int lab_reset_routers(struct lab *l, const struct topo *t, const struct plan *p, char *err, size_t errsize)
{
	for (int i = 0; i < p->n_nodes; i++) {
		char *nfterr = NULL;
		int rc;

		if (p->nodes[i].kind != PLAN_ROUTER)
			continue;
		/* Everything the lab loaded here is its own: the ruleset and the loss
		 * table. Flush it all (the loss table comes back in the same
		 * transaction, so the uplink is never lossless), then the ruleset:
		 * a generated one in that transaction too (one commit, not two). */
		if (!t->nats[p->nodes[i].index].rules_file) {
			rc = router_reload(l, t, p, i, err, errsize);
		} else {
			rc = nft_load(l->ns[i], l->loss[i] ? l->loss[i] : "flush ruleset\n", &nfterr);
			if (rc < 0) {
				lab_err(err, errsize, "%s: removing the ruleset: %s", p->nodes[i].name,
					nfterr ? nfterr : strerror(-rc));
				free(nfterr);
				return rc;
			}
			rc = router_load(l, t, p, i, err, errsize);
		}
		if (rc < 0)
			return rc;
		rc = ct_flush(l->ns[i]);
		if (rc < 0) {
			lab_err(err, errsize, "%s: flushing connection tracking: %s", p->nodes[i].name, strerror(-rc));
			return rc;
		}
	}
	return 0;
}

/* The loss on node n's uplink that netem does not do: where netem is on it
 * (uplink_impair()) it drops outbound packets and an nftables ingress chain
 * drops the same share of inbound ones, so that `loss` means the same on
 * every kernel: each direction of the link loses that share. Without netem,
 * nftables does both ways (impair.h). */
static int uplink_loss(struct lab *l, const struct plan_node *n, int i, char *err, size_t errsize)
{
	const struct impairment *imp = &n->impair;
	unsigned dirs = IMPAIR_IN;
	char *text = NULL, *nfterr = NULL;
	int rc;

	if (!l->netem[i]) {
		log_debug("%s: no netem: %u ppm loss on %s with nftables, both ways%s", n->name, imp->loss_ppm,
			  n->uplink, l->dl[i] ? ", behind a delay line" : "");
		dirs = IMPAIR_IN | IMPAIR_OUT;
	}
	rc = impair_loss_ruleset(n->uplink, imp->loss_ppm, dirs, &text);
	if (rc < 0) {
		lab_err(err, errsize, "%s: loss on %s: %s", n->name, n->uplink, strerror(-rc));
		return rc;
	}
	rc = nft_load(l->ns[i], text, &nfterr);
	if (rc < 0)
		lab_err(err, errsize, "%s: loading the loss rules for %s: %s", n->name, n->uplink,
			nfterr ? nfterr : strerror(-rc));
	free(nfterr);
	/* kept for lab_reset_routers(), prefixed with the flush it goes with */
	if (rc == 0 && asprintf(&l->loss[i], "flush ruleset\n%s", text) < 0) {
		l->loss[i] = NULL;
		lab_err(err, errsize, "out of memory");
		rc = -ENOMEM;
	}
	free(text);
	return rc;
}

/* Link lk, a veth just made, when it is the uplink of an impaired node: netem
 * on the node's end where the kernel has it (delay, jitter and the outbound
 * loss; uplink_loss() adds the inbound loss). Where it has none, loss is left
 * to nftables both ways (uplink_loss()), and delay or jitter make the link a
 * delay line instead, under the same names, so that the rest of lab_up()
 * does not see a difference. Asking the kernel is the only sure test for
 * netem, and it needs a device. */
/* The node whose uplink link lk is, or -1. */
static int uplink_node(const struct plan *p, const struct plan_link *lk)
{
	return strcmp(p->nodes[lk->b].uplink, lk->b_if) == 0 ? lk->b :
	       strcmp(p->nodes[lk->a].uplink, lk->a_if) == 0 ? lk->a : -1;
}

static int uplink_impair(struct lab *l, const struct plan *p, const struct plan_link *lk, char *err,
			 size_t errsize)
{
	int node = uplink_node(p, lk);
	const struct plan_node *n = node >= 0 ? &p->nodes[node] : NULL;
	int other = node == lk->b ? lk->a : lk->b;
	const char *other_if = node == lk->b ? lk->a_if : lk->b_if;
	int rc;

	if (!n || (n->impair.delay_ms == 0 && n->impair.jitter_ms == 0 && n->impair.loss_ppm == 0))
		return 0;
	rc = link_netem(l->lc[node], n->uplink, &n->impair);
	l->netem[node] = rc == 0;
	if (rc != -EOPNOTSUPP || (n->impair.delay_ms == 0 && n->impair.jitter_ms == 0)) {
		if (rc < 0 && rc != -EOPNOTSUPP) {
			lab_err(err, errsize, "%s: %s", n->name, link_error(l->lc[node]));
			return rc;
		}
		return 0;
	}
	log_debug("%s: no netem: %s becomes a delay line", n->name, n->uplink);
	link_forget(l->lc[other], other_if); /* the peer goes too; taps take both names */
	rc = link_delete(l->lc[node], n->uplink);
	if (rc < 0) {
		lab_err(err, errsize, "%s: %s", n->name, link_error(l->lc[node]));
		return rc;
	}
	rc = delay_line_start(l->ns[node], n->uplink, l->ns[other], other_if, n->impair.delay_ms,
			   n->impair.jitter_ms, DELAY_SCHED_SEED + (uint64_t)node, &l->dl[node], err, errsize);
	if (rc < 0) {
		char msg[512];

		snprintf(msg, sizeof(msg), "%s", err);
		lab_err(err, errsize, "%s: delay on %s: no netem in this kernel, and no delay line: %s", n->name,
			n->uplink, msg);
	}
	return rc;
}

/* The interface of node ni named name, or NULL. */
static const struct plan_iface *node_iface(const struct plan *p, int ni, const char *name)
{
	for (int k = 0; k < p->nodes[ni].n_ifs; k++)
		if (strcmp(p->nodes[ni].ifs[k].name, name) == 0)
			return &p->nodes[ni].ifs[k];
	return NULL;
}

/* Teach every node on the internet segment where the others are: permanent
 * neighbour entries on its uplink (and on the internet's bridge) for every
 * address of every other member. A real NAT's next hop is a router whose
 * link-layer address it already knows; without this the first datagram
 * between two NATs waits a round trip for ARP on the flat internet subnet,
 * an artefact of the lab (nat-notes 12). */
static int inet_neighbours(struct lab *l, const struct plan *p, char *err, size_t errsize)
{
	struct member {
		int node;
		const struct plan_iface *f;  /* the member's interface on the segment */
		unsigned char mac[LINK_MAC_LEN];
	} *m;
	int inet = -1, n_m = 0, rc = 0;

	for (int i = 0; i < p->n_nodes; i++)
		if (p->nodes[i].kind == PLAN_INTERNET)
			inet = i;
	if (inet < 0)
		return 0;
	m = calloc((size_t)p->n_links + 1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m[n_m++] = (struct member){ inet, node_iface(p, inet, "br0"), { 0 } };
	for (int k = 0; k < p->n_links; k++) {
		const struct plan_link *lk = &p->links[k];

		if (lk->a == inet)
			m[n_m++] = (struct member){ lk->b, node_iface(p, lk->b, lk->b_if), { 0 } };
		else if (lk->b == inet)
			m[n_m++] = (struct member){ lk->a, node_iface(p, lk->a, lk->a_if), { 0 } };
	}
	for (int i = 0; i < n_m && rc == 0; i++) {
		if (!m[i].f)
			continue;
		rc = link_mac(l->lc[m[i].node], m[i].f->name, m[i].mac);
		if (rc < 0)
			lab_err(err, errsize, "%s: %s", p->nodes[m[i].node].name, link_error(l->lc[m[i].node]));
	}
	for (int i = 0; i < n_m && rc == 0; i++) {
		for (int j = 0; j < n_m && rc == 0 && m[i].f; j++) {
			const char *addrs[4];

			if (i == j || !m[j].f)
				continue;
			addrs[0] = m[j].f->addr, addrs[1] = m[j].f->addr2;
			addrs[2] = m[j].f->addr6, addrs[3] = m[j].f->addr2_6;
			for (int a = 0; a < 4 && rc == 0; a++) {
				char ip[PLAN_ADDR], *slash;

				if (!addrs[a][0])
					continue;
				snprintf(ip, sizeof(ip), "%s", addrs[a]);
				if ((slash = strchr(ip, '/')))
					*slash = '\0';
				rc = link_neigh(l->lc[m[i].node], m[i].f->name, ip, m[j].mac);
				if (rc < 0)
					lab_err(err, errsize, "%s: %s", p->nodes[m[i].node].name,
						link_error(l->lc[m[i].node]));
			}
		}
	}
	free(m);
	return rc;
}

/* Is interface name of node ni one end of a delay line (a TAP)? */
static bool iface_is_tap(const struct lab *l, const struct plan *p, int ni, const char *name)
{
	for (int k = 0; k < p->n_links; k++) {
		const struct plan_link *lk = &p->links[k];
		int up = uplink_node(p, lk);

		if (((lk->a == ni && strcmp(lk->a_if, name) == 0) || (lk->b == ni && strcmp(lk->b_if, name) == 0)))
			return up >= 0 && l->dl[up] != NULL;
	}
	return false;
}

/* Has bridge name of node ni a port in the plan? One without stays without
 * carrier, as a real one would: nothing to wait for. */
static bool bridge_has_port(const struct plan_node *n, const char *name)
{
	for (int k = 0; k < n->n_ifs; k++)
		if (strcmp(n->ifs[k].master, name) == 0)
			return true;
	return false;
}

/* Every link lab_up() made, operationally up (link_wait_up()): the first
 * packets must not be lost to a queue the kernel has not given the device
 * yet, an artefact no real network has. */
static int links_wait_up(struct lab *l, const struct plan *p, char *err, size_t errsize)
{
	struct link_want *want;
	int *node, n = 0, bad, rc;
	mtime_ms t0 = mtime_now();

	for (int i = 0; i < p->n_nodes; i++)
		n += p->nodes[i].n_ifs;
	want = calloc((size_t)n + 1, sizeof(*want));
	node = calloc((size_t)n + 1, sizeof(*node));
	if (!want || !node) {
		free(want);
		free(node);
		lab_err(err, errsize, "out of memory");
		return -ENOMEM;
	}
	/* The bridges last: a bridge gets its carrier only once a port is
	 * operationally up, so settling the ports first lets the bridge be
	 * settled in the same pass. */
	n = 0;
	for (int pass = 0; pass < 2; pass++) {
		for (int i = 0; i < p->n_nodes; i++) {
			const struct plan_node *pn = &p->nodes[i];

			for (int k = 0; k < pn->n_ifs; k++) {
				const struct plan_iface *f = &pn->ifs[k];

				if (f->bridge != (pass == 1) || (f->bridge && !bridge_has_port(pn, f->name)))
					continue;
				node[n] = i;
				want[n++] = (struct link_want){ l->lc[i], f->name, iface_is_tap(l, p, i, f->name) };
			}
		}
	}
	rc = link_wait_up(want, n, LINKS_UP_MS, &bad);
	if (rc < 0)
		lab_err(err, errsize, "%s: %s", p->nodes[node[bad]].name, link_error(want[bad].lc));
	else
		log_debug("lab: %d links operationally up after %lld ms", n, (long long)(mtime_now() - t0));
	free(want);
	free(node);
	return rc;
}

/* Every IPv6 address lab_up() gave, answerable: its interface has joined its
 * solicited-node group. The kernel joins it in its address-configuration
 * work, after the link is up, and on a machine whose netlink lock is busy
 * that can take seconds; until then it drops every neighbour solicitation
 * for the address, so a neighbour's first datagrams to it are lost after
 * three unanswered solicitations, an artefact no real network has. */
static int ip6_wait_joined(struct lab *l, const struct plan *p, char *err, size_t errsize)
{
	mtime_ms t0 = mtime_now(), deadline = t0 + LINKS_UP_MS;
	struct link_solicit want[PLAN_MAX_IFS * 2];
	char ip[PLAN_MAX_IFS * 2][PLAN_ADDR];

	for (int i = 0; i < p->n_nodes; i++) {
		const struct plan_node *pn = &p->nodes[i];
		int n = 0, bad, rc;

		for (int k = 0; k < pn->n_ifs; k++) {
			const char *addrs[2] = { pn->ifs[k].addr6, pn->ifs[k].addr2_6 };

			for (int a = 0; a < 2; a++) {
				if (!addrs[a][0])
					continue;
				snprintf(ip[n], sizeof(ip[n]), "%.*s", (int)strcspn(addrs[a], "/"), addrs[a]);
				want[n] = (struct link_solicit){ pn->ifs[k].name, ip[n] };
				n++;
			}
		}
		rc = link_wait_solicited(l->ns[i], want, n, deadline, &bad);
		if (rc < 0) {
			lab_err(err, errsize, "%s: %s: IPv6 address %s not answerable after %d ms (its solicited-node "
				"group not joined)", pn->name, want[bad].ifname, want[bad].ip, LINKS_UP_MS);
			return rc;
		}
	}
	log_debug("lab: IPv6 addresses answerable after %lld ms", (long long)(mtime_now() - t0));
	return 0;
}

/* One netlink step of node n (index i); link_error() already says which
 * operation failed on what, with the kernel's own message. */
#define STEP(call)                                                                              \
	do {                                                                                    \
		rc = (call);                                                                    \
		if (rc < 0) {                                                                   \
			lab_err(err, errsize, "%s: %s", n->name, link_error(l->lc[i]));         \
			goto cleanup;                                                           \
		}                                                                               \
	} while (0)

/* Every node's namespace, made side by side with its sysctls
 * (netns_create_many_sysctl()). */
static int create_namespaces(struct lab *l, const struct plan *p, char *err, size_t errsize)
{
	const char **names = calloc((size_t)p->n_nodes + 1, sizeof(*names));
	struct netns_sysctls *sys = calloc((size_t)p->n_nodes + 1, sizeof(*sys));
	struct netns_sysctl_set (*set)[NODE_SYSCTL_MAX] = calloc((size_t)p->n_nodes + 1, sizeof(*set));
	int rc = -ENOMEM;

	if (!names || !sys || !set) {
		lab_err(err, errsize, "out of memory");
		goto cleanup;
	}
	for (int i = 0; i < p->n_nodes; i++) {
		names[i] = p->nodes[i].name;
		sys[i].set = set[i];
		sys[i].n = node_sysctls(&p->nodes[i], set[i]);
	}
	rc = netns_create_many_sysctl(names, sys, p->n_nodes, l->ns);
	if (rc < 0) {
		int i = 0;

		while (i < p->n_nodes && sys[i].failed < 0)
			i++;
		if (i < p->n_nodes)
			lab_err(err, errsize, "%s: sysctl %s: %s", p->nodes[i].name, set[i][sys[i].failed].key,
				strerror(-rc));
		else
			lab_err(err, errsize, "creating the %d network namespaces: %s", p->n_nodes, strerror(-rc));
		goto cleanup;
	}
	rc = link_open_many(l->ns, p->n_nodes, l->lc);
	if (rc < 0)
		lab_err(err, errsize, "opening netlink in the namespaces: %s", strerror(-rc));
cleanup:
	free(names);
	free(sys);
	free(set);
	return rc;
}

int lab_up(const struct topo *t, const struct plan *p, struct lab **out, char *err, size_t errsize)
{
	struct lab *l;
	int rc = -ENOMEM;

	*out = NULL;
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->ns = calloc((size_t)p->n_nodes, sizeof(*l->ns));
	l->lc = calloc((size_t)p->n_nodes, sizeof(*l->lc));
	l->loss = calloc((size_t)p->n_nodes, sizeof(*l->loss));
	l->dl = calloc((size_t)p->n_nodes, sizeof(*l->dl));
	l->netem = calloc((size_t)p->n_nodes, sizeof(*l->netem));
	l->load = calloc((size_t)p->n_nodes, sizeof(*l->load));
	if (!l->ns || !l->lc || !l->loss || !l->dl || !l->netem || !l->load) {
		lab_err(err, errsize, "out of memory");
		goto cleanup;
	}
	l->n = p->n_nodes;

	rc = create_namespaces(l, p, err, errsize);
	if (rc == 0)
		rc = routers_start(l, t, p, err, errsize);
	if (rc < 0)
		goto cleanup;
	for (int i = 0; i < p->n_nodes; i++) {
		const struct plan_node *n = &p->nodes[i];

		for (int k = 0; k < n->n_ifs; k++)
			if (n->ifs[k].bridge)
				STEP(link_bridge(l->lc[i], n->ifs[k].name));
	}
	for (int k = 0; k < p->n_links; k++) {
		const struct plan_link *lk = &p->links[k];
		int i = lk->a;
		const struct plan_node *n = &p->nodes[i];
		const struct plan_iface *fa = node_iface(p, i, lk->a_if);

		STEP(link_veth_up(l->lc[i], lk->a_if, fa && fa->master[0] ? fa->master : NULL, l->lc[lk->b],
				  lk->b_if));
		rc = uplink_impair(l, p, lk, err, errsize);
		if (rc < 0)
			goto cleanup;
	}
	for (int i = 0; i < p->n_nodes; i++) {
		const struct plan_node *n = &p->nodes[i];

		for (int k = 0; k < n->n_ifs; k++) {
			const struct plan_iface *f = &n->ifs[k];

			if (f->master[0])
				STEP(link_set_master(l->lc[i], f->name, f->master));
			if (f->addr[0])
				STEP(link_addr(l->lc[i], f->name, f->addr));
			if (f->addr2[0])
				STEP(link_addr(l->lc[i], f->name, f->addr2));
			if (f->addr6[0])
				STEP(link_addr(l->lc[i], f->name, f->addr6));
			if (f->addr2_6[0])
				STEP(link_addr(l->lc[i], f->name, f->addr2_6));
			STEP(link_up(l->lc[i], f->name));
		}
		for (int k = 0; k < n->n_routes; k++)
			STEP(link_route(l->lc[i], n->routes[k].dst, n->routes[k].via, NULL));
		if (n->impair.loss_ppm) {
			rc = uplink_loss(l, n, i, err, errsize);
			if (rc < 0)
				goto cleanup;
		}
	}
	rc = inet_neighbours(l, p, err, errsize);
	if (rc == 0)
		rc = links_wait_up(l, p, err, errsize);
	if (rc == 0)
		rc = ip6_wait_joined(l, p, err, errsize);
	if (rc < 0)
		goto cleanup;
	rc = routers_finish(l, t, p, err, errsize);
	if (rc < 0)
		goto cleanup;
	*out = l;
	return 0;
cleanup:
	lab_down(l);
	return rc < 0 ? rc : -EIO;
}

#define KEEP_DIR "/run/netns"
#define KEEP_PREFIX "punchlab-"
/* Kept delay lines' forwarder PIDs, NAME.NODE.dline: not in KEEP_DIR, where
 * `ip netns` would take every file for a namespace. */
#define KEEP_PID_DIR "/run/punchlab"
#define KEEP_PID_SUFFIX ".dline"

/* What a kept lab leaves, one file per node: DIR/PREFIX NAME.NODE SUFFIX,
 * the name as a file name (a matrix cell's "classic/open-x-open" becomes
 * "classic_open-x-open"). Node names have no dot, so "a." files are a's
 * nodes and not those of "a.b". */
struct kept_kind {
	const char *dir, *prefix, *suffix;
};

static const struct kept_kind KEPT_NS = { KEEP_DIR, KEEP_PREFIX, "" };
static const struct kept_kind KEPT_PID = { KEEP_PID_DIR, "", KEEP_PID_SUFFIX };

static void keep_name(const char *name, char *buf, size_t size)
{
	snprintf(buf, size, "%s", name);
	for (char *c = buf; *c; c++)
		if (*c == '/')
			*c = '_';
}

static void kept_path(const struct kept_kind *k, const char *name, const char *node, char *buf, size_t size)
{
	char n[256];

	keep_name(name, n, sizeof(n));
	snprintf(buf, size, "%s/%s%s.%s%s", k->dir, k->prefix, n, node, k->suffix);
}

void lab_kept_path(const char *name, const char *node, char *buf, size_t size)
{
	kept_path(&KEPT_NS, name, node, buf, size);
}

/* fn(path) for each file that lab `name` left of kind k. Returns how many,
 * 0 when the directory is not there, or the first -errno (of fn too). */
static int kept_each(const struct kept_kind *k, const char *name, int (*fn)(const char *path))
{
	char prefix[600], path[512];
	size_t pl, sl = strlen(k->suffix);
	DIR *d = opendir(k->dir);
	struct dirent *e;
	int n = 0, rc = 0;

	if (!d)
		return errno == ENOENT ? 0 : -errno;
	keep_name(name, path, sizeof(path));
	snprintf(prefix, sizeof(prefix), "%s%s.", k->prefix, path);
	pl = strlen(prefix);
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name);

		if (len <= pl + sl || strncmp(e->d_name, prefix, pl) != 0 ||
		    strcmp(e->d_name + len - sl, k->suffix) != 0 || memchr(e->d_name + pl, '.', len - pl - sl))
			continue;
		snprintf(path, sizeof(path), "%s/%s", k->dir, e->d_name);
		rc = fn(path);
		if (rc < 0)
			break;
		n++;
	}
	closedir(d);
	return rc < 0 ? rc : n;
}

/* Make /run/netns a shared mount point, as iproute2 does, so that pins made
 * here are seen by `ip netns` in every mount namespace. */
static int keep_dir_ready(void)
{
	if (mkdir(KEEP_DIR, 0755) < 0 && errno != EEXIST)
		return -errno;
	if (mount("", KEEP_DIR, "none", MS_SHARED | MS_REC, NULL) == 0)
		return 0;
	if (errno != EINVAL)
		return -errno;
	if (mount(KEEP_DIR, KEEP_DIR, "none", MS_BIND | MS_REC, NULL) < 0)
		return -errno;
	return mount("", KEEP_DIR, "none", MS_SHARED | MS_REC, NULL) < 0 ? -errno : 0;
}

static int unpin(const char *path)
{
	if (umount2(path, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
		return -errno;
	return unlink(path) < 0 && errno != ENOENT ? -errno : 0;
}

int lab_keep(struct lab *l, const struct plan *p, const char *name, char *err, size_t errsize)
{
	char path[512], src[64];
	int rc = keep_dir_ready(), i;

	if (rc < 0) {
		lab_err(err, errsize, "%s: %s", KEEP_DIR, strerror(-rc));
		return rc;
	}
	for (i = 0; i < p->n_nodes; i++) {
		int fd;

		lab_kept_path(name, p->nodes[i].name, path, sizeof(path));
		fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
		if (fd < 0) {
			rc = -errno;
			lab_err(err, errsize, "%s: %s%s", path, strerror(errno),
				errno == EEXIST ? " (a lab of that name is kept: punchlab down it first)" : "");
			goto undo;
		}
		close(fd);
		snprintf(src, sizeof(src), "/proc/%d/ns/net", (int)netns_pid(l->ns[i]));
		if (mount(src, path, "none", MS_BIND, NULL) < 0) {
			rc = -errno;
			lab_err(err, errsize, "pinning %s at %s: %s", p->nodes[i].name, path, strerror(errno));
			unlink(path);
			goto undo;
		}
	}
	/* The delay lines' forwarders, last: until lab_down() leaves them
	 * (l->kept), a failure anywhere still takes them down. */
	for (int k = 0; k < p->n_nodes; k++) {
		if (!l->dl[k])
			continue;
		if (mkdir(KEEP_PID_DIR, 0755) < 0 && errno != EEXIST) {
			rc = -errno;
			lab_err(err, errsize, "%s: %s", KEEP_PID_DIR, strerror(errno));
			goto undo;
		}
		kept_path(&KEPT_PID, name, p->nodes[k].name, path, sizeof(path));
		rc = delay_line_detach(l->dl[k], path, err, errsize);
		if (rc < 0)
			goto undo;
	}
	l->kept = true;
	return 0;
undo:
	for (int k = 0; k < p->n_nodes; k++) {
		kept_path(&KEPT_PID, name, p->nodes[k].name, path, sizeof(path));
		if (l->dl[k])
			unlink(path);
	}
	while (--i >= 0) {
		lab_kept_path(name, p->nodes[i].name, path, sizeof(path));
		unpin(path);
	}
	return rc;
}

/* lab_unkeep() collects the kept namespaces here before it unpins them
 * (kept_each() passes only a path; punchlab down is single-threaded). */
static struct {
	struct sweep_ns ns[64];
	int n;
} kept_sweep;

static int kept_collect(const char *path)
{
	struct stat st;
	const char *base = strrchr(path, '/'), *dot = base ? strrchr(base, '.') : NULL;

	if (kept_sweep.n < 64 && stat(path, &st) == 0) {
		kept_sweep.ns[kept_sweep.n].dev = st.st_dev;
		kept_sweep.ns[kept_sweep.n].ino = st.st_ino;
		snprintf(kept_sweep.ns[kept_sweep.n++].node, sizeof(kept_sweep.ns[0].node), "%s",
			 dot ? dot + 1 : path);
	}
	return 0;
}

static void sweep_say(const char *node, int pid, const char *comm)
{
	log_info("ending %s (pid %d), still running in node %s", comm, pid, node);
}

int lab_unkeep(const char *name)
{
	int n, rc;

	/* First what still runs in the lab's namespaces: once unpinned, they
	 * would vanish from `ip netns list` and live on with those processes. */
	kept_sweep.n = 0;
	kept_each(&KEPT_NS, name, kept_collect);
	if (kept_sweep.n)
		sweep_netns(kept_sweep.ns, kept_sweep.n, NULL, 0, sweep_say);
	n = kept_each(&KEPT_NS, name, unpin);

	if (n < 0)
		return n;
	/* The kept delay lines' forwarders, by the PIDs they left. */
	rc = kept_each(&KEPT_PID, name, delay_line_kill_kept);
	rmdir(KEEP_PID_DIR);    /* when no other kept lab has a delay line */
	return rc < 0 ? rc : n;
}
