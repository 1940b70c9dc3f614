/* The job pool: n jobs, at most `slots` at a time, each in a worker process
 * of its own that writes what it has to say on a pipe. The one loop that
 * `run` and `classify` share.
 *
 * Lifetimes: every worker dies with the pool's process (PR_SET_PDEATHSIG),
 * and everything a worker starts dies with the worker the same way (the
 * process runner, the namespace holders and the delay lines each set their
 * own death signal), so a kill -9 of punchlab alone takes the whole run with
 * it at once, namespaces included.
 *
 * Interruption: SIGINT, SIGTERM and SIGHUP reach the pool through a
 * signalfd. The first stops it starting work, kills the running workers
 * (SIGKILL: their children die with them) and returns with *interrupted
 * set; what finished before is reported to done() as usual.
 *
 * A slot is refilled as soon as its worker's pipe ends: the loop reads only
 * the pipes poll() says are ready, so one slow worker holds up nothing. */
#ifndef PUNCH_POOL_H
#define PUNCH_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* What the pool calls; ctx is passed to each. */
struct pool_ops {
	/* In the worker: run job index, write the result to fd; the return is
	 * the worker's exit status. Signals are as at program start. */
	int (*body)(int fd, int index, void *ctx);
	/* In the pool's process, as job index starts (may be NULL). */
	void (*started)(int index, void *ctx);
	/* In the pool's process, as job index ends: its wait status (as from
	 * waitpid) and all it wrote (out, malloc'd, NUL-terminated, len bytes;
	 * NULL when nothing), which done() now owns. */
	void (*done)(int index, int wstatus, char *out, size_t len, void *ctx);
	/* In the pool's process, about once a second while nothing else
	 * happens (may be NULL): e.g. to refresh a progress line. */
	void (*tick)(void *ctx);
	void *ctx;
};

/* Run jobs 0..n-1 with at most slots workers at a time, each started in
 * index order. Returns 0 when every job ran (or was interrupted: then
 * *interrupted is true and the jobs not done were never reported), or
 * -errno when the pool itself failed (fork, poll); running workers are
 * killed and reaped either way. */
int pool_run(int n, int slots, const struct pool_ops *ops, bool *interrupted);

/* The signal that interrupted the last pool_run(), or 0. */
int pool_signal(void);

#endif
