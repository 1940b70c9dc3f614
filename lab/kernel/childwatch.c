/* A child's exit as a pollable descriptor: a pidfd, or a SIGCHLD pipe. See
 * childwatch.h. */
#include "kernel/childwatch.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* One fallback watch: a pipe the SIGCHLD handler writes to while active.
 * r and w are set before active and never change while a handler could
 * read them (see reset_inherited()). */
struct slot {
	int r, w;
	atomic_int active;
};

static struct slot slots[CHILDWATCH_MAX] = { [0 ... CHILDWATCH_MAX - 1] = { -1, -1, 0 } };
static pid_t slots_owner;               /* the process whose pipes these are */
static bool handler_on;
static struct sigaction old_action;     /* chained to, when it was a handler */
static atomic_bool no_pidfd;            /* the kernel said ENOSYS (or EPERM) once */

static void on_sigchld(int sig, siginfo_t *si, void *uc)
{
	int saved = errno;

	for (int i = 0; i < CHILDWATCH_MAX; i++)
		if (atomic_load(&slots[i].active)) {
			/* Full means readable already: EAGAIN is fine. */
			ssize_t n = write(slots[i].w, "", 1);

			(void)n;
		}
	if (old_action.sa_flags & SA_SIGINFO) {
		if (old_action.sa_sigaction)
			old_action.sa_sigaction(sig, si, uc);
	} else if (old_action.sa_handler != SIG_DFL && old_action.sa_handler != SIG_IGN) {
		old_action.sa_handler(sig);
	}
	errno = saved;
}

bool childwatch_fallback(void)
{
	const char *e = getenv("PUNCHLAB_NO_PIDFD");

	return (e && *e && strcmp(e, "0") != 0) || atomic_load(&no_pidfd);
}

/* A forked child inherits the parent's pipes: draining them would take the
 * parent's wake-ups. Drop them (SIGCHLD blocked, so the handler on this
 * thread cannot be writing) and make our own. */
static void reset_inherited(void)
{
	if (slots_owner == getpid())
		return;
	for (int i = 0; i < CHILDWATCH_MAX; i++) {
		atomic_store(&slots[i].active, 0);
		if (slots[i].r >= 0)
			close(slots[i].r);
		if (slots[i].w >= 0)
			close(slots[i].w);
		slots[i].r = slots[i].w = -1;
	}
	slots_owner = getpid();
}

static int install_handler(void)
{
	struct sigaction sa;

	if (handler_on)
		return 0;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigchld;
	sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_NOCLDSTOP;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGCHLD, &sa, &old_action) < 0)
		return -errno;
	handler_on = true;
	return 0;
}

/* Take a free slot (making its pipe on first use) for a new watch. */
static int fallback_open(void)
{
	sigset_t chld, old;
	int fd = -EMFILE, rc;

	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	pthread_sigmask(SIG_BLOCK, &chld, &old);
	reset_inherited();
	rc = install_handler();
	for (int i = 0; rc == 0 && i < CHILDWATCH_MAX; i++) {
		struct slot *s = &slots[i];
		char drain[64];

		if (atomic_load(&s->active))
			continue;
		if (s->r < 0) {
			int p[2];

			if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0) {
				fd = -errno;
				break;
			}
			s->r = p[0];
			s->w = p[1];
		}
		while (read(s->r, drain, sizeof(drain)) > 0)
			;
		/* Readable at once: the child may have exited before its watch
		 * began, and that SIGCHLD went to no pipe of its own. */
		if (write(s->w, "", 1) < 0 && errno != EAGAIN) {
			fd = -errno;
			break;
		}
		atomic_store(&s->active, 1);
		fd = s->r;
		break;
	}
	if (rc < 0)
		fd = rc;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return fd;
}

/* The active fallback slot whose descriptor fd is, or NULL (a pidfd). */
static struct slot *slot_of(int fd)
{
	if (fd < 0 || slots_owner != getpid())
		return NULL;
	for (int i = 0; i < CHILDWATCH_MAX; i++)
		if (slots[i].r == fd && atomic_load(&slots[i].active))
			return &slots[i];
	return NULL;
}

int childwatch_open(pid_t pid)
{
	int fd;

	if (pid <= 0)
		return -EINVAL;
	if (!childwatch_fallback()) {
		fd = (int)syscall(SYS_pidfd_open, pid, 0);
		if (fd >= 0) {
			/* pidfd_open gives no O_CLOEXEC flag; its pidfds are close-on-exec already. */
			return fd;
		}
		if (errno != ENOSYS && errno != EPERM)
			return -errno;
		atomic_store(&no_pidfd, true);
	}
	return fallback_open();
}

bool childwatch_exited(int fd, pid_t pid)
{
	struct slot *s = slot_of(fd);
	siginfo_t si;
	char drain[64];

	if (!s)
		return true;
	while (read(s->r, drain, sizeof(drain)) > 0)
		;
	memset(&si, 0, sizeof(si));
	while (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0) {
		if (errno != EINTR)
			return true; /* gone (ECHILD): the reap will say so */
	}
	return si.si_pid == pid;
}

int childwatch_reap(int fd, pid_t pid, siginfo_t *si)
{
	idtype_t type = slot_of(fd) || fd < 0 ? P_PID : (idtype_t)P_PIDFD;
	id_t id = type == P_PID ? (id_t)pid : (id_t)fd;

	memset(si, 0, sizeof(*si));
	while (waitid(type, id, si, WEXITED) < 0)
		if (errno != EINTR)
			return -errno;
	return 0;
}

void childwatch_close(int *fd)
{
	struct slot *s;

	if (*fd < 0)
		return;
	s = slot_of(*fd);
	if (s)
		atomic_store(&s->active, 0);
	else
		close(*fd);
	*fd = -1;
}
