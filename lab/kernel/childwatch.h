/* Watching a child process's exit from a poll loop, with or without pidfds.
 *
 * Where the kernel has pidfd_open() (Linux 5.3) the descriptor is the
 * child's pidfd: it polls readable once the child has exited, and the child
 * is reaped with waitid(P_PIDFD). Where it has not (ENOSYS, or EPERM from a
 * seccomp filter), or PUNCHLAB_NO_PIDFD is set in the environment (for the
 * tests), the descriptor is the read end of a pipe that a SIGCHLD handler
 * writes to on every child's exit; childwatch_exited() then asks
 * waitid(P_PID, WNOHANG | WNOWAIT) whether it was this child, and the child
 * is reaped with waitid(P_PID). Either way only the watched PID is ever
 * reaped (never waitpid(-1)), so other children of the caller are left
 * alone. Every watched child has its own pipe, so one poll loop draining
 * its wake-up never takes another loop's.
 *
 * The fallback installs a SIGCHLD handler (SA_RESTART, chaining to a
 * handler that was there before) when it is first used; its pipes are kept
 * for reuse, never closed while the handler could write to them.
 */
#ifndef PUNCH_CHILDWATCH_H
#define PUNCH_CHILDWATCH_H

#include <signal.h>
#include <stdbool.h>
#include <sys/types.h>

#define CHILDWATCH_MAX 64 /* children watched at once through the fallback */

/* Watch pid, a child of this process not yet reaped. Returns a descriptor
 * (close-on-exec) that polls readable (POLLIN) once pid may have exited, or
 * -errno (-EMFILE when CHILDWATCH_MAX fallback watches are in use). */
int childwatch_open(pid_t pid);

/* poll() said fd is readable: has pid exited? It is not reaped. A pidfd
 * says so for sure; the fallback drains its pipe first and then asks, so an
 * exit after the answer wakes the loop again. */
bool childwatch_exited(int fd, pid_t pid);

/* Reap pid, waiting until it exits. Returns 0 with *si (si_code CLD_EXITED,
 * CLD_KILLED or CLD_DUMPED, si_status), or -errno (-ECHILD when someone
 * else reaped it). */
int childwatch_reap(int fd, pid_t pid, siginfo_t *si);

/* Stop watching: a pidfd is closed, a fallback pipe kept for the next
 * watch. *fd is -1 afterwards; -1 is fine. */
void childwatch_close(int *fd);

/* Would childwatch_open() use the fallback now? */
bool childwatch_fallback(void);

#endif
