/* Packet capture of a scenario. See capture.h.
 *
 * The capture process is forked, not exec'd, from the main thread while no
 * other thread runs (netns_run's threads are joined), so it may use malloc
 * and stdio (libpcap does). It opens every handle first, entering each
 * interface's namespace with setns() (a packet socket stays bound to the
 * namespace it was made in), then keeps only those sockets and its two
 * pipes, opens the files and says it is ready. It is a single-threaded poll
 * loop over the handles and the control pipe; the control pipe's end of
 * file (we closed it to stop it, or we are gone) makes it drain every handle, write the
 * summary, close the files, answer with its totals and exit.
 *
 * Handles run in immediate mode: each frame can be read as soon as the
 * kernel has it, so the drain at the end takes everything up to then (in
 * the default block mode the last block would wait for its timeout).
 */
#include "kernel/capture.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pcap/pcap.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/fdio.h"
#include "common/log.h"
#include "common/mtime.h"
#include "kernel/build.h"
#include "kernel/netns.h"

#define CAPTURE_COMM "punchlab-pcap"    /* the capture process's name */
#define CAPTURE_BUFFER (1 << 20)        /* the kernel's ring per handle */
#define CAPTURE_READY_MS 10000          /* activating every handle takes less */
#define CAPTURE_STOP_MS 10000           /* so does draining and closing the files */
#define SUMMARY_FILE "capture.txt"
#define DIR_MAX 4096

/* What the capture process says on its status pipe: once when it is ready
 * (or could not be), once when it has stopped. One write each, smaller than
 * PIPE_BUF, so each arrives whole. */
struct capture_msg {
	int err;                        /* 0, or the errno of what failed */
	char why[512];                  /* what failed, for err */
	struct capture_stats st;        /* at the stop */
};

_Static_assert(sizeof(struct capture_msg) <= PIPE_BUF, "a status message must be one atomic pipe write");

struct capture {
	pid_t pid;
	int ctl;                        /* our end of the control pipe */
	int status;                     /* our end of the status pipe */
	char dir[DIR_MAX];
	struct capture_point pts[CAPTURE_MAX_POINTS];
	int n;
};

/* --- the pure parts --- */

static bool name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
	       c == '-';
}

int capture_file_name(const char *node, const char *ifname, char *buf, size_t size)
{
	int n = snprintf(buf, size, "%s-%s.pcap", node, ifname);

	if (n < 0 || (size_t)n >= size)
		return -ENAMETOOLONG;
	for (char *c = buf; *c; c++)
		if (!name_char(*c))
			*c = '_';
	if (buf[0] == '.')
		buf[0] = '_';
	return 0;
}

int capture_dir_name(const char *base, const char *scenario, char *buf, size_t size)
{
	size_t len;
	char *name;
	int n;

	if (!scenario[0])
		return -EINVAL;
	n = snprintf(buf, size, "%s/%s", base, scenario);
	if (n < 0 || (size_t)n >= size)
		return -ENAMETOOLONG;
	len = strlen(base);
	name = buf + len + 1;
	for (char *c = name; *c; c++)
		if (*c == '/')
			*c = '.';
		else if (!name_char(*c))
			*c = '_';
	if (name[0] == '.')
		name[0] = '_';
	return 0;
}

void capture_budget_init(struct capture_budget *b, uint64_t cap)
{
	memset(b, 0, sizeof(*b));
	b->cap = cap;
	b->used = CAPTURE_FILE_HDR;
}

bool capture_budget_admit(struct capture_budget *b, uint32_t caplen)
{
	uint64_t need = CAPTURE_REC_HDR + (uint64_t)caplen;

	if (b->dropped > 0 || b->used + need > b->cap) {
		b->dropped++;
		return false;
	}
	b->used += need;
	b->packets++;
	return true;
}

static int point_add(const struct plan *p, int node, const char *ifname, bool promisc, struct capture_point *out,
		     int n, int max)
{
	struct capture_point *cp;

	if (!ifname[0])
		return n;
	if (n >= max)
		return -ENOSPC;
	cp = &out[n];
	memset(cp, 0, sizeof(*cp));
	cp->node = node;
	snprintf(cp->ifname, sizeof(cp->ifname), "%s", ifname);
	cp->promisc = promisc;
	if (capture_file_name(p->nodes[node].name, ifname, cp->file, sizeof(cp->file)) < 0)
		return -ENAMETOOLONG;
	return n + 1;
}

int capture_points(const struct plan *p, struct capture_point *out, int max)
{
	int n = 0;

	for (int i = 0; i < p->n_nodes && n >= 0; i++) {
		const struct plan_node *nd = &p->nodes[i];

		switch (nd->kind) {
		case PLAN_INTERNET:
			/* The internet is its bridge: promiscuous, it hands up a copy of
			 * every frame it forwards (the IP layer drops those, as
			 * addressed to another host, before any netfilter hook). */
			for (int k = 0; k < nd->n_ifs && n >= 0; k++)
				if (nd->ifs[k].bridge)
					n = point_add(p, i, nd->ifs[k].name, true, out, n, max);
			break;
		case PLAN_SERVER:
			n = point_add(p, i, nd->uplink, false, out, n, max);
			break;
		case PLAN_ROUTER:
			/* LAN first: the order a datagram from a peer meets them. */
			n = point_add(p, i, nd->lan_if, true, out, n, max);
			if (n >= 0)
				n = point_add(p, i, nd->uplink, false, out, n, max);
			break;
		default:
			break;
		}
	}
	return n;
}

/* --- the capture process --- */

struct cap_file {
	pcap_t *h;
	pcap_dumper_t *d;
	struct capture_budget b;
	const struct capture_point *pt;
	uint64_t kernel_drops;
	char failed[PCAP_ERRBUF_SIZE];  /* why the handle stopped early (its interface went away), or "" */
};

static void cap_packet(u_char *user, const struct pcap_pkthdr *hdr, const u_char *bytes)
{
	struct cap_file *f = (struct cap_file *)user;

	if (capture_budget_admit(&f->b, hdr->caplen))
		pcap_dump((u_char *)f->d, hdr, bytes);
}

static void child_say(int fd, int err, struct capture_stats *st, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void child_say(int fd, int err, struct capture_stats *st, const char *fmt, ...)
{
	struct capture_msg m;
	va_list ap;

	memset(&m, 0, sizeof(m));
	m.err = err;
	if (st)
		m.st = *st;
	va_start(ap, fmt);
	vsnprintf(m.why, sizeof(m.why), fmt, ap);
	va_end(ap);
	(void)fd_write_all(fd, &m, sizeof(m));
}

/* Open, configure and activate a handle on pt in the namespace nsfd. */
static pcap_t *child_open(int nsfd, const struct capture_point *pt, const char *node, char *why, size_t whysize)
{
	char ebuf[PCAP_ERRBUF_SIZE] = "";
	pcap_t *h;
	int rc;

	if (setns(nsfd, CLONE_NEWNET) < 0) {
		snprintf(why, whysize, "%s: setns: %s", node, strerror(errno));
		return NULL;
	}
	h = pcap_create(pt->ifname, ebuf);
	if (!h) {
		snprintf(why, whysize, "%s %s: %s", node, pt->ifname, ebuf);
		return NULL;
	}
	if (pcap_set_snaplen(h, CAPTURE_SNAPLEN) || pcap_set_promisc(h, pt->promisc) ||
	    pcap_set_immediate_mode(h, 1) || pcap_set_buffer_size(h, CAPTURE_BUFFER)) {
		snprintf(why, whysize, "%s %s: setting up the handle: %s", node, pt->ifname, pcap_geterr(h));
		pcap_close(h);
		return NULL;
	}
	rc = pcap_activate(h);
	if (rc < 0) {
		/* pcap_geterr is empty for some errors; pcap_statustostr always says something. */
		snprintf(why, whysize, "%s %s: %s%s%s", node, pt->ifname, pcap_statustostr(rc),
			 pcap_geterr(h)[0] ? ": " : "", pcap_geterr(h));
		pcap_close(h);
		return NULL;
	}
	if (pcap_setnonblock(h, 1, ebuf) < 0) {
		snprintf(why, whysize, "%s %s: %s", node, pt->ifname, ebuf);
		pcap_close(h);
		return NULL;
	}
	return h;
}

static int cmp_int(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

/* Close every descriptor but those in keep (n of them, >= 3; sorted here). */
static void close_except(int *keep, int n)
{
	int from = 3;

	qsort(keep, (size_t)n, sizeof(*keep), cmp_int);
	for (int k = 0; k <= n; k++) {
		int to = k < n ? keep[k] - 1 : INT_MAX;

		if (to >= from && syscall(SYS_close_range, (unsigned)from, (unsigned)to, 0U) < 0)
			for (int fd = from; fd <= to && fd < 1024; fd++)
				close(fd);
		if (k < n && keep[k] + 1 > from)
			from = keep[k] + 1;
	}
}

/* Take what each handle has now. */
static void child_drain(struct cap_file *f, int n)
{
	for (int i = 0; i < n; i++)
		while (!f[i].failed[0] && pcap_dispatch(f[i].h, -1, cap_packet, (u_char *)&f[i]) > 0)
			;
}

/* The summary and the files' end; returns 0 or an errno, with why. */
static int child_finish(const char *dir, struct cap_file *f, int n, const char *const *nodes, uint64_t cap,
			struct capture_stats *st, char *why, size_t whysize)
{
	char path[DIR_MAX + 32];
	FILE *s;
	int err = 0;

	memset(st, 0, sizeof(*st));
	for (int i = 0; i < n; i++) {
		struct pcap_stat ps;

		if (pcap_stats(f[i].h, &ps) == 0)
			f[i].kernel_drops = ps.ps_drop;
		if (pcap_dump_flush(f[i].d) < 0 && !err) {
			err = errno ? errno : EIO;
			snprintf(why, whysize, "%.400s/%s: %s", dir, f[i].pt->file, strerror(err));
		}
		pcap_dump_close(f[i].d);
		f[i].d = NULL;
		st->files++;
		st->packets += f[i].b.packets;
		st->dropped_cap += f[i].b.dropped;
		st->dropped_kernel += f[i].kernel_drops;
	}
	snprintf(path, sizeof(path), "%s/%s", dir, SUMMARY_FILE);
	s = fopen(path, "we");
	if (!s) {
		if (!err) {
			err = errno;
			snprintf(why, whysize, "%.400s: %s", path, strerror(err));
		}
		return err;
	}
	fprintf(s, "# punchlab packet capture: classic pcap (libpcap), snap length %d bytes, at most %llu bytes per file\n",
		CAPTURE_SNAPLEN, (unsigned long long)cap);
	fprintf(s, "# file node interface packets bytes left-out-at-cap dropped-by-kernel\n");
	for (int i = 0; i < n; i++)
		fprintf(s, "%s %s %s %llu %llu %llu %llu\n", f[i].pt->file, nodes[i], f[i].pt->ifname,
			(unsigned long long)f[i].b.packets, (unsigned long long)f[i].b.used,
			(unsigned long long)f[i].b.dropped, (unsigned long long)f[i].kernel_drops);
	for (int i = 0; i < n; i++)
		if (f[i].failed[0])
			fprintf(s, "# %s: the capture stopped early: %s\n", f[i].pt->file, f[i].failed);
	if ((ferror(s) | fclose(s)) != 0 && !err) {
		err = EIO;
		snprintf(why, whysize, "%.400s: write error", path);
	}
	return err;
}

/* Runs in the forked child; never returns. nsfd[i] is the namespace of
 * pts[i], nodes[i] its node's name. */
static void child_main(pid_t parent, int ctl, int status, const char *dir, const struct capture_point *pts, int n,
		       const int *nsfd, const char *const *nodes, uint64_t cap)
{
	struct cap_file f[CAPTURE_MAX_POINTS];
	struct pollfd pfd[CAPTURE_MAX_POINTS + 1];
	int keep[CAPTURE_MAX_POINTS + 2];
	struct capture_stats st;
	char why[512] = "";
	int devnull, err;

	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
		_exit(1);
	prctl(PR_SET_NAME, CAPTURE_COMM);
	/* Ctrl-C is for the orchestrator, which stops us when the pair is done. */
	setpgid(0, 0);
	signal(SIGPIPE, SIG_IGN);
	memset(f, 0, sizeof(f));
	for (int i = 0; i < n; i++) {
		f[i].pt = &pts[i];
		capture_budget_init(&f[i].b, cap);
		f[i].h = child_open(nsfd[i], &pts[i], nodes[i], why, sizeof(why));
		if (!f[i].h) {
			child_say(status, EIO, NULL, "%s", why);
			_exit(1);
		}
	}
	/* Nothing of the caller's: not its namespaces (we must not keep them
	 * alive), not its sockets, not its output pipes. */
	for (int i = 0; i < n; i++)
		keep[i] = pcap_get_selectable_fd(f[i].h);
	keep[n] = ctl;
	keep[n + 1] = status;
	close_except(keep, n + 2);
	/* Not the caller's terminal or output pipe either, but a socket that
	 * got 0, 1 or 2 (the caller had closed them) stays. */
	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	for (int fd = 0; devnull >= 0 && fd <= 2; fd++) {
		bool kept = fd == devnull;

		for (int k = 0; k < n + 2; k++)
			kept = kept || keep[k] == fd;
		if (!kept)
			dup2(devnull, fd);
	}
	if (devnull > 2)
		close(devnull);
	for (int i = 0; i < n; i++) {
		char path[DIR_MAX + CAPTURE_FILE_MAX + 2];

		snprintf(path, sizeof(path), "%s/%s", dir, pts[i].file);
		f[i].d = pcap_dump_open(f[i].h, path);
		if (!f[i].d) {
			child_say(status, EIO, NULL, "%s", pcap_geterr(f[i].h));
			_exit(1);
		}
	}
	child_say(status, 0, NULL, "ready");

	for (;;) {
		int rc;

		/* A handle that failed is polled no more (its error would wake us forever). */
		for (int i = 0; i < n; i++)
			pfd[i] = (struct pollfd){ .fd = f[i].failed[0] ? -1 : pcap_get_selectable_fd(f[i].h),
						  .events = POLLIN };
		pfd[n] = (struct pollfd){ .fd = ctl, .events = POLLIN };
		rc = poll(pfd, (nfds_t)n + 1, -1);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc < 0)
			break;
		for (int i = 0; i < n; i++)
			if (pfd[i].revents && pcap_dispatch(f[i].h, -1, cap_packet, (u_char *)&f[i]) < 0)
				snprintf(f[i].failed, sizeof(f[i].failed), "%s", pcap_geterr(f[i].h));
		if (pfd[n].revents)
			break; /* a stop request, or our parent is gone */
	}
	child_drain(f, n);
	err = child_finish(dir, f, n, nodes, cap, &st, why, sizeof(why));
	child_say(status, err, &st, "%s", err ? why : "stopped");
	_exit(err ? 1 : 0);
}

/* --- our side --- */

/* Make dir (one level) if it is not there. */
static int mkdir_one(const char *dir, char *err, size_t errsize)
{
	struct stat sb;

	if (mkdir(dir, 0755) == 0 || (errno == EEXIST && stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode)))
		return 0;
	if (errno == EEXIST)
		errno = ENOTDIR;
	snprintf(err, errsize, "--pcap: %s: %s", dir, strerror(errno));
	return -errno;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* An earlier run's files in dir go: a file of a node this run does not
 * have would otherwise pass for one of this run. Only what we write. */
static int clear_old(const char *dir, char *err, size_t errsize)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int rc = 0;

	if (!d) {
		snprintf(err, errsize, "--pcap: %s: %s", dir, strerror(errno));
		return -errno;
	}
	while ((e = readdir(d)) != NULL)
		if ((ends_with(e->d_name, ".pcap") || strcmp(e->d_name, SUMMARY_FILE) == 0) &&
		    unlinkat(dirfd(d), e->d_name, 0) < 0 && errno != ENOENT) {
			rc = -errno;
			snprintf(err, errsize, "--pcap: %s/%s: %s", dir, e->d_name, strerror(errno));
			break;
		}
	closedir(d);
	return rc;
}

/* Read one whole message from the capture process by deadline. Returns 0,
 * -ETIMEDOUT, or -ECHILD when it closed the pipe without one. */
static int read_msg(int fd, struct capture_msg *m, mtime_ms deadline)
{
	size_t got = 0;

	while (got < sizeof(*m)) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		mtime_ms now = mtime_now();
		ssize_t r;
		int rc;

		if (now >= deadline)
			return -ETIMEDOUT;
		rc = poll(&pfd, 1, (int)(deadline - now));
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc < 0)
			return -errno;
		if (rc == 0)
			continue;
		r = read(fd, (char *)m + got, sizeof(*m) - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r < 0 ? -errno : -ECHILD;
		got += (size_t)r;
	}
	return 0;
}

static void reap(struct capture *c, bool kill_it)
{
	if (c->pid <= 0)
		return;
	if (kill_it)
		kill(c->pid, SIGKILL);
	while (waitpid(c->pid, NULL, 0) < 0 && errno == EINTR)
		;
	c->pid = -1;
}

static void capture_free(struct capture *c)
{
	if (!c)
		return;
	reap(c, true);
	if (c->ctl >= 0)
		close(c->ctl);
	if (c->status >= 0)
		close(c->status);
	free(c);
}

int capture_start(struct lab *l, const struct plan *p, const char *base, const char *scenario, uint64_t cap,
		  struct capture **out, char *err, size_t errsize)
{
	struct capture *c = NULL;
	int ctl[2] = { -1, -1 }, status[2] = { -1, -1 };
	int nsfd[CAPTURE_MAX_POINTS];
	const char *nodes[CAPTURE_MAX_POINTS];
	pid_t parent = getpid();
	struct capture_msg m;
	int rc;

	*out = NULL;
	if (gettid() != parent) {
		snprintf(err, errsize, "--pcap: the capture must be started from the main thread");
		return -EINVAL;
	}
	if (cap < CAPTURE_CAP_MIN || cap > CAPTURE_CAP_MAX) {
		snprintf(err, errsize, "--pcap: a cap of %llu bytes per file: want %d to %llu",
			 (unsigned long long)cap, CAPTURE_CAP_MIN, (unsigned long long)CAPTURE_CAP_MAX);
		return -EINVAL;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		snprintf(err, errsize, "--pcap: out of memory");
		return -ENOMEM;
	}
	c->pid = -1;
	c->ctl = c->status = -1;
	rc = capture_points(p, c->pts, CAPTURE_MAX_POINTS);
	if (rc < 0) {
		snprintf(err, errsize, "--pcap: the lab's capture points: %s", strerror(-rc));
		goto cleanup;
	}
	c->n = rc;
	rc = capture_dir_name(base, scenario, c->dir, sizeof(c->dir));
	if (rc < 0) {
		snprintf(err, errsize, "--pcap: %s/%s: %s", base, scenario, strerror(-rc));
		goto cleanup;
	}
	rc = mkdir_one(base, err, errsize);
	if (rc == 0)
		rc = mkdir_one(c->dir, err, errsize);
	if (rc == 0)
		rc = clear_old(c->dir, err, errsize);
	if (rc < 0)
		goto cleanup;
	for (int i = 0; i < c->n; i++) {
		nsfd[i] = netns_fd(lab_ns(l, c->pts[i].node));
		nodes[i] = p->nodes[c->pts[i].node].name;
	}
	if (pipe2(ctl, O_CLOEXEC) < 0 || pipe2(status, O_CLOEXEC) < 0) {
		rc = -errno;
		snprintf(err, errsize, "--pcap: pipe: %s", strerror(errno));
		goto cleanup;
	}
	fflush(NULL); /* nothing buffered is written twice */
	c->pid = fork();
	if (c->pid < 0) {
		rc = -errno;
		snprintf(err, errsize, "--pcap: fork: %s", strerror(errno));
		goto cleanup;
	}
	if (c->pid == 0)
		child_main(parent, ctl[0], status[1], c->dir, c->pts, c->n, nsfd, nodes, cap);
	c->ctl = ctl[1];
	c->status = status[0];
	ctl[1] = status[0] = -1;
	close(ctl[0]);
	close(status[1]);
	ctl[0] = status[1] = -1;
	/* Ready: every handle active, every file open. No packet is missed after this. */
	rc = read_msg(c->status, &m, mtime_now() + CAPTURE_READY_MS);
	if (rc < 0) {
		snprintf(err, errsize, "--pcap: the capture process did not get ready: %s", strerror(-rc));
		goto cleanup;
	}
	if (m.err) {
		rc = -m.err;
		snprintf(err, errsize, "--pcap: %s", m.why);
		goto cleanup;
	}
	log_debug("capture: %d interfaces into %s, process %d", c->n, c->dir, (int)c->pid);
	*out = c;
	c = NULL;
	rc = 0;
cleanup:
	for (int k = 0; k < 2; k++) {
		if (ctl[k] >= 0)
			close(ctl[k]);
		if (status[k] >= 0)
			close(status[k]);
	}
	capture_free(c);
	return rc;
}

/* Remove what c wrote, and its directory. */
static int capture_discard(const struct capture *c, char *err, size_t errsize)
{
	int dfd = open(c->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = 0;

	if (dfd < 0) {
		snprintf(err, errsize, "--pcap: %s: %s", c->dir, strerror(errno));
		return -errno;
	}
	for (int i = 0; i <= c->n && rc == 0; i++) {
		const char *name = i < c->n ? c->pts[i].file : SUMMARY_FILE;

		if (unlinkat(dfd, name, 0) < 0 && errno != ENOENT) {
			rc = -errno;
			snprintf(err, errsize, "--pcap: %s/%s: %s", c->dir, name, strerror(errno));
		}
	}
	close(dfd);
	if (rc == 0 && rmdir(c->dir) < 0) {
		rc = -errno;
		snprintf(err, errsize, "--pcap: %s: %s", c->dir, strerror(errno));
	}
	return rc;
}

int capture_stop(struct capture *c, bool discard, struct capture_stats *st, char *err, size_t errsize)
{
	struct capture_msg m;
	int rc;

	if (!c)
		return 0;
	if (st)
		memset(st, 0, sizeof(*st));
	/* Its end of file is the request: a close, unlike a write, cannot
	 * raise SIGPIPE when the process has died. */
	close(c->ctl);
	c->ctl = -1;
	rc = read_msg(c->status, &m, mtime_now() + CAPTURE_STOP_MS);
	if (rc < 0) {
		snprintf(err, errsize, "--pcap: the capture process did not stop cleanly: %s", strerror(-rc));
	} else if (m.err) {
		rc = -m.err;
		snprintf(err, errsize, "--pcap: %s", m.why);
	} else if (st) {
		*st = m.st;
	}
	/* A capture that did not stop by itself is killed (capture_free). */
	reap(c, rc < 0);
	if (rc == 0 && discard)
		rc = capture_discard(c, err, errsize);
	capture_free(c);
	return rc;
}
