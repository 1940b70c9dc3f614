/* The job pool: fork, poll, reap. See pool.h. */
#include "pool.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#define POOL_EXIT_ORPHAN 3 /* a worker whose parent died before it could run */

struct slot {
	pid_t pid;              /* 0: free */
	int fd;                 /* the read end of the worker's pipe */
	int index;
	char *buf;
	size_t len;
};

static int last_signal;

int pool_signal(void)
{
	return last_signal;
}

/* In the new worker: die with the pool, take signals as at program start
 * (but leave the terminal's Ctrl-C to the pool, which decides what stops),
 * run the job. Never returns. */
static void worker_main(int wfd, int sfd, pid_t parent, const sigset_t *old, int index,
			const struct pool_ops *ops)
{
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
		_exit(POOL_EXIT_ORPHAN);
	close(sfd);
	signal(SIGINT, SIG_IGN);
	sigprocmask(SIG_SETMASK, old, NULL);
	_exit(ops->body(wfd, index, ops->ctx));
}

static int slot_start(struct slot *w, int index, int sfd, const sigset_t *old, const struct pool_ops *ops)
{
	pid_t parent = getpid();
	int p[2];

	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	/* nothing buffered may be written twice, once by each process */
	fflush(stdout);
	fflush(stderr);
	w->pid = fork();
	if (w->pid < 0) {
		int e = errno;

		w->pid = 0;
		close(p[0]);
		close(p[1]);
		return -e;
	}
	if (w->pid == 0) {
		close(p[0]);
		worker_main(p[1], sfd, parent, old, index, ops);
	}
	close(p[1]);
	*w = (struct slot){ .pid = w->pid, .fd = p[0], .index = index };
	if (ops->started)
		ops->started(index, ops->ctx);
	return 0;
}

/* Read what is there (poll said something is); returns 1 at the end of
 * the worker's output (EOF, or an error: the worker is done talking), else 0. */
static int slot_read(struct slot *w)
{
	char chunk[65536];
	ssize_t n = read(w->fd, chunk, sizeof(chunk));
	char *nb;

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (n <= 0)
		return 1;
	nb = realloc(w->buf, w->len + (size_t)n + 1);
	if (!nb)
		return 1;
	w->buf = nb;
	memcpy(w->buf + w->len, chunk, (size_t)n);
	w->len += (size_t)n;
	w->buf[w->len] = '\0';
	return 0;
}

static int slot_reap(struct slot *w)
{
	int status = 0;

	close(w->fd);
	while (waitpid(w->pid, &status, 0) < 0 && errno == EINTR)
		;
	w->pid = 0;
	return status;
}

/* Its output ended: reap it and hand the result over. */
static void slot_finish(struct slot *w, const struct pool_ops *ops)
{
	int status = slot_reap(w);

	ops->done(w->index, status, w->buf, w->len, ops->ctx);
	w->buf = NULL;
	w->len = 0;
}

/* Kill every worker still running and forget what it said. */
static void slots_kill(struct slot *ws, int slots)
{
	for (int i = 0; i < slots; i++)
		if (ws[i].pid > 0)
			kill(ws[i].pid, SIGKILL);
	for (int i = 0; i < slots; i++)
		if (ws[i].pid > 0) {
			slot_reap(&ws[i]);
			free(ws[i].buf);
			ws[i].buf = NULL;
		}
}

/* pfd[0] the signals, then each running worker; map[k] its slot. */
static nfds_t poll_set(const struct slot *ws, int slots, int sfd, struct pollfd *pfd, int *map)
{
	nfds_t np = 1;

	pfd[0] = (struct pollfd){ .fd = sfd, .events = POLLIN };
	for (int i = 0; i < slots; i++)
		if (ws[i].pid > 0) {
			pfd[np] = (struct pollfd){ .fd = ws[i].fd, .events = POLLIN };
			map[np++] = i;
		}
	return np;
}

/* One round: fill free slots, wait, take what is ready. Returns 1 when a
 * signal came, 0 to go on, -errno. */
static int pool_round(struct slot *ws, int slots, int n, int *next, int *running, int sfd,
		      const sigset_t *old, const struct pool_ops *ops, struct pollfd *pfd, int *map)
{
	nfds_t np;
	int ready;

	for (int i = 0; i < slots && *next < n; i++)
		if (ws[i].pid == 0) {
			int rc = slot_start(&ws[i], *next, sfd, old, ops);

			if (rc < 0)
				return rc;
			(*next)++;
			(*running)++;
		}
	np = poll_set(ws, slots, sfd, pfd, map);
	ready = poll(pfd, np, ops->tick ? 1000 : -1);
	if (ready < 0)
		return errno == EINTR ? 0 : -errno;
	if (ready == 0) {
		ops->tick(ops->ctx);
		return 0;
	}
	if (pfd[0].revents) {
		struct signalfd_siginfo si;

		if (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
			last_signal = (int)si.ssi_signo;
		return 1;
	}
	for (nfds_t k = 1; k < np; k++)
		if (pfd[k].revents && slot_read(&ws[map[k]]) == 1) {
			slot_finish(&ws[map[k]], ops);
			(*running)--;
		}
	return 0;
}

int pool_run(int n, int slots, const struct pool_ops *ops, bool *interrupted)
{
	struct slot *ws = calloc((size_t)slots, sizeof(*ws));
	struct pollfd *pfd = calloc((size_t)slots + 1, sizeof(*pfd));
	int *map = calloc((size_t)slots + 1, sizeof(*map));
	int next = 0, running = 0, rc = 0, sfd = -1;
	bool blocked = false;
	sigset_t set, old;

	*interrupted = false;
	last_signal = 0;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	if (!ws || !pfd || !map) {
		rc = -ENOMEM;
		goto cleanup;
	}
	if (sigprocmask(SIG_BLOCK, &set, &old) < 0) {
		rc = -errno;
		goto cleanup;
	}
	blocked = true;
	sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0) {
		rc = -errno;
		goto cleanup;
	}
	while (rc == 0 && (next < n || running > 0))
		rc = pool_round(ws, slots, n, &next, &running, sfd, &old, ops, pfd, map);
	if (rc == 1) {
		*interrupted = true;
		rc = 0;
	}
	slots_kill(ws, slots);
cleanup:
	if (sfd >= 0)
		close(sfd);
	if (blocked)
		sigprocmask(SIG_SETMASK, &old, NULL);
	free(ws);
	free(pfd);
	free(map);
	return rc;
}
