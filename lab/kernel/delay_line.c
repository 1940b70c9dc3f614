/* A TAP delay line and its forwarder. See delay_line.h.
 *
 * The forwarder is forked, not exec'd: it is forked from the main thread
 * while no other thread runs (netns_run's threads are joined), keeps only
 * its two TAP fds and its control socket, and is a single-threaded ppoll
 * loop that sleeps until a frame arrives, the head of the line is due, or
 * the parent says something. The control socket carries one byte per
 * request: 's' (answered with a struct delay_line_stats) and 'k' (detach,
 * answered with 'k'). Its end of file without a detach means our parent is
 * gone: exit.
 */
#include "kernel/delay_line.h"

#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/fdio.h"
#include "common/log.h"
#include "kernel/childwatch.h"

#define TUN_PATH "/dev/net/tun"
#define BURST 64                /* frames read per device per round, so neither way starves */

struct delay_line {
	pid_t pid;
	int ctl;                /* our end of the control socket */
	bool detached;
};

struct tap_open {
	const char *ifname;
	int fd;
	int err;                /* errno of the failing step */
	const char *step;
};

static int tap_open_in(void *arg)
{
	struct tap_open *t = arg;
	struct ifreq ifr;

	t->step = "opening " TUN_PATH;
	t->fd = open(TUN_PATH, O_RDWR | O_CLOEXEC | O_NONBLOCK);
	if (t->fd < 0) {
		t->err = errno;
		return -t->err;
	}
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", t->ifname);
	t->step = "TUNSETIFF";
	if (ioctl(t->fd, TUNSETIFF, &ifr) < 0) {
		t->err = errno;
		close(t->fd);
		t->fd = -1;
		return -t->err;
	}
	return 0;
}

/* A TAP device named ifname in ns; returns its fd or -errno with err set. */
static int tap_create(struct netns *ns, const char *ifname, char *err, size_t errsize)
{
	struct tap_open t = { .ifname = ifname, .fd = -1, .step = "entering the namespace" };
	int rc = netns_run(ns, tap_open_in, &t);

	if (rc == 0)
		return t.fd;
	if (rc == -ENOENT && t.fd < 0 && strcmp(t.step, "TUNSETIFF") != 0)
		snprintf(err, errsize, "TAP %s: %s: %s (the kernel needs CONFIG_TUN, module tun)", ifname,
			 TUN_PATH, strerror(-rc));
	else if ((rc == -EACCES || rc == -EPERM) && strcmp(t.step, "TUNSETIFF") != 0)
		snprintf(err, errsize, "TAP %s: %s: %s (only root may open it here: delay and jitter "
			 "without netem need root, not rootless mode)", ifname, TUN_PATH, strerror(-rc));
	else
		snprintf(err, errsize, "TAP %s: %s: %s", ifname, t.step, strerror(-rc));
	return rc;
}

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* The forwarder: fds 3 (the node's TAP), 4 (the peer's) and 5 (control). */
static void fwd_loop(struct delay_sched *d)
{
	enum { NODE = 3, PEER = 4, CTL = 5 };
	static unsigned char frame[DELAY_SCHED_FRAME_MAX];
	struct delay_line_stats st = { 0 };
	bool detached = false, ctl_open = true;

	for (;;) {
		struct pollfd pfd[3] = {
			{ .fd = NODE, .events = POLLIN }, { .fd = PEER, .events = POLLIN },
			{ .fd = ctl_open ? CTL : -1, .events = POLLIN },
		};
		uint64_t next = delay_sched_next(d), now = now_us();
		struct timespec ts, *tp = NULL;
		size_t len;

		if (next != UINT64_MAX) {
			uint64_t wait = next > now ? next - now : 0;

			ts.tv_sec = (time_t)(wait / 1000000u);
			ts.tv_nsec = (long)(wait % 1000000u) * 1000;
			tp = &ts;
		}
		if (ppoll(pfd, 3, tp, NULL) < 0 && errno != EINTR)
			_exit(1);
		now = now_us();
		/* Outbound: into the line. A full line drops (counted by the schedule). */
		for (int k = 0; k < BURST && (pfd[0].revents & POLLIN); k++) {
			ssize_t n = read(NODE, frame, sizeof(frame));

			if (n <= 0)
				break;
			delay_sched_push(d, now, frame, (size_t)n);
		}
		/* Inbound: straight on. */
		for (int k = 0; k < BURST && (pfd[1].revents & POLLIN); k++) {
			ssize_t n = read(PEER, frame, sizeof(frame));

			if (n <= 0)
				break;
			st.in++;
			if (write(NODE, frame, (size_t)n) != n)
				st.write_errors++;
		}
		while ((len = delay_sched_pop(d, now, frame, sizeof(frame))) > 0)
			if (write(PEER, frame, len) != (ssize_t)len)
				st.write_errors++;
		if (pfd[2].revents) {
			char c;
			ssize_t n = read(CTL, &c, 1);

			if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) {
				if (!detached)
					_exit(0);
				ctl_open = false;
			} else if (n == 1 && c == 's') {
				delay_sched_get_stats(d, &st.out);
				(void)fd_write_all(CTL, &st, sizeof(st));
			} else if (n == 1 && c == 'k') {
				/* --keep: live on after our parent, and away from its terminal. */
				prctl(PR_SET_PDEATHSIG, 0);
				setsid();
				detached = true;
				(void)fd_write_all(CTL, "k", 1);
			}
		}
	}
}

/* Runs in the forked child; never returns. */
static void fwd_main(int node_fd, int peer_fd, int ctl, pid_t parent, struct delay_sched *d)
{
	int devnull;

	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
		_exit(1);
	prctl(PR_SET_NAME, DELAY_LINE_COMM);
	/* 3, 4, 5 in order, without clobbering one another on the way. */
	if (node_fd < 6 || peer_fd < 6 || ctl < 6) {
		int a = fcntl(node_fd, F_DUPFD, 6), b = fcntl(peer_fd, F_DUPFD, 6), c = fcntl(ctl, F_DUPFD, 6);

		if (a < 0 || b < 0 || c < 0)
			_exit(1);
		node_fd = a;
		peer_fd = b;
		ctl = c;
	}
	if (dup2(node_fd, 3) < 0 || dup2(peer_fd, 4) < 0 || dup2(ctl, 5) < 0)
		_exit(1);
	/* Nothing of the caller's: not its output pipes (a kept forwarder would
	 * hold a $(...) open forever), not its namespaces' sockets. */
	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull >= 0) {
		dup2(devnull, 0);
		dup2(devnull, 1);
		dup2(devnull, 2);
	}
	if (syscall(SYS_close_range, 6U, ~0U, 0U) < 0)
		for (int fd = 6; fd < 1024; fd++)
			close(fd);
	/* Ctrl-C is for the orchestrator, which decides when the line goes. */
	setpgid(0, 0);
	signal(SIGPIPE, SIG_IGN);
	fwd_loop(d);
	_exit(0);
}

int delay_line_start(struct netns *node_ns, const char *node_if, struct netns *peer_ns, const char *peer_if,
		  uint32_t delay_ms, uint32_t jitter_ms, uint64_t seed, struct delay_line **out, char *err,
		  size_t errsize)
{
	struct delay_sched_cfg cfg = { .delay_us = delay_ms * 1000u, .jitter_us = jitter_ms * 1000u,
				 .cap = DELAY_LINE_QUEUE, .seed = seed };
	struct delay_line *t = NULL;
	struct delay_sched *d = NULL;
	int node_fd = -1, peer_fd = -1, sv[2] = { -1, -1 };
	pid_t parent = getpid();
	int rc;

	*out = NULL;
	if (gettid() != parent) {
		snprintf(err, errsize, "delay line %s: must be started from the main thread", node_if);
		return -EINVAL;
	}
	if (delay_ms > 10000 || jitter_ms > delay_ms) {
		snprintf(err, errsize, "delay line %s: delay %u ms, jitter %u ms: want jitter <= delay <= 10 s",
			 node_if, delay_ms, jitter_ms);
		return -EINVAL;
	}
	/* Made here, before the fork: the child only uses it. */
	rc = delay_sched_create(&cfg, &d);
	if (rc < 0) {
		snprintf(err, errsize, "delay line %s: %s", node_if, strerror(-rc));
		goto cleanup;
	}
	t = calloc(1, sizeof(*t));
	if (t == NULL) {
		rc = -ENOMEM;
		snprintf(err, errsize, "delay line %s: out of memory", node_if);
		goto cleanup;
	}
	t->ctl = -1;
	node_fd = tap_create(node_ns, node_if, err, errsize);
	if (node_fd < 0) {
		rc = node_fd;
		goto cleanup;
	}
	peer_fd = tap_create(peer_ns, peer_if, err, errsize);
	if (peer_fd < 0) {
		rc = peer_fd;
		goto cleanup;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		rc = -errno;
		snprintf(err, errsize, "delay line %s: socketpair: %s", node_if, strerror(errno));
		goto cleanup;
	}
	t->pid = fork();
	if (t->pid < 0) {
		rc = -errno;
		snprintf(err, errsize, "delay line %s: fork: %s", node_if, strerror(errno));
		goto cleanup;
	}
	if (t->pid == 0)
		fwd_main(node_fd, peer_fd, sv[1], parent, d);
	t->ctl = sv[0];
	sv[0] = -1;
	log_debug("delay line %s -> %s: %u ms +/- %u ms, forwarder %d", node_if, peer_if, delay_ms, jitter_ms,
		  (int)t->pid);
	*out = t;
	t = NULL;
	rc = 0;
cleanup:
	/* The forwarder holds the devices now (or nobody does, and they go). */
	if (node_fd >= 0)
		close(node_fd);
	if (peer_fd >= 0)
		close(peer_fd);
	if (sv[0] >= 0)
		close(sv[0]);
	if (sv[1] >= 0)
		close(sv[1]);
	delay_sched_destroy(d);
	free(t);
	return rc;
}

pid_t delay_line_pid(const struct delay_line *t)
{
	return t->pid;
}

/* Send request c and read n bytes of answer. Returns 0 or -errno. */
static int ctl_ask(struct delay_line *t, char c, void *ans, size_t n)
{
	char *p = ans;

	if (write(t->ctl, &c, 1) != 1)
		return -EPIPE;
	while (n > 0) {
		ssize_t got = read(t->ctl, p, n);

		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return got < 0 ? -errno : -ECHILD;
		p += got;
		n -= (size_t)got;
	}
	return 0;
}

int delay_line_stats(struct delay_line *t, struct delay_line_stats *st)
{
	return ctl_ask(t, 's', st, sizeof(*st));
}

/* The PID file is written (whole, then renamed into place) before the
 * forwarder is told to detach: should punchlab die between the two, the
 * forwarder still dies with it and `down` finds a stale file, never a
 * detached forwarder that no file names. */
int delay_line_detach(struct delay_line *t, const char *pidfile, char *err, size_t errsize)
{
	char tmp[PATH_MAX], ack = 0;
	FILE *f;
	int rc;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", pidfile) >= (int)sizeof(tmp)) {
		snprintf(err, errsize, "%s: name too long", pidfile);
		return -ENAMETOOLONG;
	}
	errno = 0;
	f = fopen(tmp, "we");
	if (f == NULL || fprintf(f, "%d\n", (int)t->pid) < 0 || fclose(f) != 0 || rename(tmp, pidfile) < 0) {
		rc = errno ? -errno : -EIO;
		snprintf(err, errsize, "%s: %s", pidfile, strerror(-rc));
		unlink(tmp);
		return rc;
	}
	rc = ctl_ask(t, 'k', &ack, 1);
	if (rc < 0 || ack != 'k') {
		snprintf(err, errsize, "delay line forwarder %d: no answer to detach: %s", (int)t->pid,
			 strerror(rc < 0 ? -rc : EPROTO));
		unlink(pidfile);
		return rc < 0 ? rc : -EPROTO;
	}
	t->detached = true;
	return 0;
}

void delay_line_stop(struct delay_line *t)
{
	if (t == NULL)
		return;
	if (kill(t->pid, SIGKILL) < 0 && errno != ESRCH)
		log_warn("delay line: kill %d", (int)t->pid);
	while (waitpid(t->pid, NULL, 0) < 0 && errno == EINTR)
		;
	delay_line_leave(t);
}

void delay_line_leave(struct delay_line *t)
{
	if (t == NULL)
		return;
	if (t->ctl >= 0)
		close(t->ctl);
	free(t);
}

/* Is pid a forwarder (by its name)? */
static bool is_forwarder(int pid)
{
	char path[64], comm[64] = "";
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/comm", pid);
	f = fopen(path, "re");
	if (f) {
		if (fgets(comm, sizeof(comm), f))
			comm[strcspn(comm, "\n")] = '\0';
		fclose(f);
	}
	return strcmp(comm, DELAY_LINE_COMM) == 0;
}

/* Gone, or a zombie (which holds no device), by /proc/PID/stat's state. */
static bool pid_gone(int pid)
{
	char path[64], state = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "re");
	if (!f)
		return true;
	if (fscanf(f, "%*d (%*[^)]) %c", &state) != 1)
		state = 0;
	fclose(f);
	return state == 'Z' || state == 'X';
}

/* Without pidfd_open (ENOSYS, or EPERM from a seccomp filter): by the PID
 * alone, which could in principle be recycled between the name check and
 * the kill; then poll /proc until it is gone (2 s at most). Returns 1 when
 * a forwarder was killed, else 0. */
static int kill_kept_by_pid(int pid)
{
	if (!is_forwarder(pid) || kill(pid, SIGKILL) < 0)
		return 0;
	for (int i = 0; i < 200 && !pid_gone(pid); i++)
		poll(NULL, 0, 10);
	return 1;
}

int delay_line_kill_kept(const char *pidfile)
{
	FILE *f = fopen(pidfile, "re");
	int pid = 0, rc = 0, pidfd;

	if (f == NULL)
		return errno == ENOENT ? 0 : -errno;
	if (fscanf(f, "%d", &pid) != 1 || pid <= 1)
		pid = 0;
	fclose(f);
	/* A pidfd first, then the name: the PID may have been recycled since,
	 * and only a forwarder is killed; the pidfd then still means the process
	 * whose name we read, and tells us when it is gone. */
	pidfd = -1;
	errno = ENOSYS; /* as the kernel says it, also for PUNCHLAB_NO_PIDFD (childwatch.h) */
	if (pid > 0 && !childwatch_fallback())
		pidfd = pidfd_open(pid, 0);
	if (pidfd < 0 && pid > 0 && (errno == ENOSYS || errno == EPERM))
		rc = kill_kept_by_pid(pid);
	if (pidfd >= 0) {
		if (is_forwarder(pid) && pidfd_send_signal(pidfd, SIGKILL, NULL, 0) == 0) {
			struct pollfd pfd = { .fd = pidfd, .events = POLLIN };

			/* Gone, with its TAP devices, before `punchlab down` returns. */
			while (poll(&pfd, 1, 2000) < 0 && errno == EINTR)
				;
			rc = 1;
		}
		close(pidfd);
	}
	if (unlink(pidfile) < 0 && errno != ENOENT)
		return -errno;
	return rc;
}
