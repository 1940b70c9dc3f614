/* The process runner: starts a group of programs, each in its own network
 * namespace, releases them together, captures their output and reaps them.
 *
 * Life of a process:
 *   run_add()      registers it (nothing is forked yet);
 *   run_start()    forks it: the child dies with its parent (PR_SET_PDEATHSIG),
 *                  leads its own process group, enters the namespace, gets
 *                  stdin from /dev/null and stdout/stderr on pipes, then waits
 *                  at the group's start barrier;
 *   run_release()  lets every process waiting at the barrier exec at once;
 *   run_wait_ready(), run_wait(), run_stop()
 *                  wait for events (readiness, exit, deadline) without busy
 *                  waiting, reading all outputs meanwhile;
 *   run_group_destroy() kills and reaps whatever is left.
 *
 * Output is read only while one of the waiting functions runs: a chatty
 * program blocks on a full pipe in between, which is harmless.
 *
 * Children are watched through pidfds and reaped one by one with
 * waitid(P_PIDFD), never with waitpid(-1), so several groups (and other child
 * processes of the caller) can coexist, and SIGCHLD is left alone. There is no
 * global state. Times are absolute CLOCK_MONOTONIC milliseconds (mtime.h);
 * a deadline of -1 means none.
 */
#ifndef PUNCH_RUN_H
#define PUNCH_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/mtime.h"

#define RUN_OUT_MAX (1024 * 1024) /* stdout: the first 1 MiB is kept */
#define RUN_ERR_MAX (64 * 1024)   /* stderr: the last 64 KiB is kept */
#define RUN_GRACE_MS 1000         /* default SIGTERM-to-SIGKILL grace */
#define RUN_EXIT_SETUP 127        /* exit code of a child that could not exec */

struct run_group;
struct run_proc;

enum run_state {
	RUN_ADDED = 0,  /* registered, not forked */
	RUN_WAITING,    /* forked, holding at the start barrier */
	RUN_RUNNING,    /* released (exec'd, or failing to) */
	RUN_EXITED,     /* reaped; the result is final */
};

/* What happened to one process. Its pointers stay valid until the next run_
 * call on the group; once the process has exited, until the group is destroyed. */
struct run_result {
	enum run_state state;
	int exit_code;          /* 0..255 when it exited normally, else -1 */
	int signal;             /* the signal that killed it, else 0 */
	bool timed_out;         /* killed by run_wait() at its deadline */
	bool stopped;           /* ended by run_stop() */
	bool ready;             /* wrote "ready" on its ready fd */
	int setup_errno;        /* the child failed before its program ran: errno, else 0 */
	const char *setup_step; /* ... at this step ("setns", "exec", ...), else NULL */
	int64_t run_ms;         /* from release to exit (or to now, while running) */
	const char *out;        /* stdout, NUL-terminated, first RUN_OUT_MAX bytes */
	size_t out_len;
	size_t out_dropped;     /* bytes of stdout beyond the cap, not kept */
	const char *err;        /* stderr, NUL-terminated, last RUN_ERR_MAX bytes */
	size_t err_len;
	size_t err_dropped;     /* bytes from the start of stderr no longer kept */
};

/* Create an empty group. Returns 0 and *out, or -ENOMEM. */
int run_group_create(struct run_group **out);
/* Kill (SIGKILL to each process group) and reap every process still alive,
 * close everything and free the group with its results. NULL is fine. */
void run_group_destroy(struct run_group *g);
/* SIGTERM-to-SIGKILL grace used by run_wait() at the deadline and run_stop(). */
void run_set_grace(struct run_group *g, int grace_ms);

/* Register a process. name is a label for messages (copied); argv is a
 * NULL-terminated vector whose argv[0] is a path, exec'd without PATH search
 * (copied). netns_fd is a network namespace fd to setns() into, or -1 for the
 * current namespace; it is used only inside run_start() and must stay open
 * until then. Returns 0 and *proc (owned by the group), -EINVAL or -ENOMEM. */
int run_add(struct run_group *g, const char *name, int netns_fd, const char *const argv[],
	    struct run_proc **proc);

/* Give the child a readiness pipe at descriptor child_fd (>= 3; 3 is the
 * custom) on which the program writes "ready\n" once it serves (punch-server
 * --ready-fd 3). Before run_start() only. Returns 0 or -EINVAL. */
int run_set_ready_fd(struct run_proc *p, int child_fd);
/* Extra environment entries ("NAME=value", copied) on top of the runner's
 * own environment; an entry replaces one of the same name. Before
 * run_start() only. Returns 0, -EINVAL or -ENOMEM. */
int run_set_env(struct run_proc *p, const char *const env[]);
/* The working directory of the child (copied). Returns 0 or -ENOMEM. */
int run_set_dir(struct run_proc *p, const char *dir);
/* Readiness by a line of stdout matching regex (POSIX extended), looked for
 * in every line as it comes (lines longer than 4 KiB are matched on their
 * first 4 KiB), beyond the stdout cap too. Returns 0, or -EINVAL for a bad
 * pattern. */
int run_set_ready_pattern(struct run_proc *p, const char *regex);
/* Readiness by a socket in the child's network namespace: a UDP socket bound
 * to port, or a TCP one listening on it (proto 17 or 6; 0: either). Looked up
 * in /proc/PID/net every 20 ms while run_wait_ready() waits. */
void run_set_ready_port(struct run_proc *p, uint16_t port, int proto);

/* Find program name on path (colon-separated; name with a '/' is taken as
 * it is) as an executable regular file. Returns 0 with the path in buf,
 * -ENOENT, -EACCES (found, not executable) or -ENAMETOOLONG. */
int run_which(const char *name, const char *path, char *buf, size_t size);

/* A background process (a server) is not waited for by run_wait(), and not
 * killed at its deadline: end it with run_stop(). Its output is still read. */
void run_set_background(struct run_proc *p, bool background);

/* Fork the process; it holds at the start barrier until run_release().
 * Returns 0, -EALREADY if already started, or -errno (pipe, fork, pidfd). */
int run_start(struct run_group *g, struct run_proc *p);
/* Release every process now waiting at the barrier, all at once. Processes
 * started later wait for the next run_release(). Returns how many were
 * released, or -errno. */
int run_release(struct run_group *g);

/* Wait until p is ready: it has written "ready" on its ready fd, printed a
 * line matching its pattern, or bound its port. Returns 0 when it is,
 * -ETIMEDOUT at the deadline, -ESRCH if it exited (or closed the ready fd)
 * first, -EINVAL if it has no way to say so or was not released, or -errno
 * from poll. */
int run_wait_ready(struct run_group *g, struct run_proc *p, mtime_ms deadline);

/* Wait until every started foreground process has exited, reading outputs
 * and reaping as they come (one still held at the barrier counts as running:
 * release it first, or it times out). At the deadline, the remaining ones are marked
 * timed out, their process groups get SIGTERM, and SIGKILL after the grace.
 * Returns the number of processes that timed out (0: all exited in time),
 * or -errno. */
int run_wait(struct run_group *g, mtime_ms deadline);

/* Let time pass until when, reading outputs and reaping processes that exit
 * meanwhile, but killing nothing: for starting a later program at its time
 * while the others run (punchlab's start-delay). Returns 0 at when, or -errno
 * from poll. */
int run_wait_until(struct run_group *g, mtime_ms when);

/* run_wait_until(), but over as soon as every started foreground process has
 * exited (a timed event while programs run: punchlab's rebind-after).
 * Returns 0 at when, 1 when they all exited first, or -errno from poll. */
int run_wait_until_done(struct run_group *g, mtime_ms when);

/* A background process (a server) started alone, released, and waited for
 * until it is ready (run_wait_ready()) or deadline. Returns 0 or -errno. */
int run_start_ready(struct run_group *g, struct run_proc *p, mtime_ms deadline);

/* A pair started together: each procs[k] whose delay_ms[k] is 0 forked,
 * then all released at one instant (*t0 = mtime_now() then), the others
 * (punchlab's start-delay) started and released at t0 + delay_ms[k], the
 * sooner one first, while the rest run. Returns 0, or -errno. */
int run_start_pair(struct run_group *g, struct run_proc *const procs[2], const uint32_t delay_ms[2], mtime_ms *t0);

/* Stop one process: SIGTERM to its process group, SIGKILL after the grace,
 * then reap it. A process not yet started or already exited is left as it
 * is. Returns 0 once it is reaped, or -errno. */
int run_stop(struct run_group *g, struct run_proc *p);

/* The result so far (final once state is RUN_EXITED); run_ms counts up to
 * now while the process runs. */
const struct run_result *run_result(struct run_proc *p);
const char *run_name(const struct run_proc *p);
/* The child's pid once started, else -1. */
int run_pid(const struct run_proc *p);

/* Describe how the process ended, for messages: "exited 0", "killed by
 * SIGKILL (timed out)", "could not start: exec /x: No such file or directory".
 * Writes into buf (always NUL-terminated) and returns buf. */
const char *run_describe(struct run_proc *p, char *buf, size_t size);

#endif
