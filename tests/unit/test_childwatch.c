/* Unit tests for lab/kernel/childwatch.c, on real child processes: the pidfd
 * way where this kernel has it, and the SIGCHLD fallback forced with
 * PUNCHLAB_NO_PIDFD (as on a kernel without pidfd_open); then the process
 * runner (run.c) on the fallback: exit codes, a deadline, run_stop(). No
 * root needed. */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/mtime.h"
#include "kernel/childwatch.h"
#include "kernel/run.h"

/* Generous: the machine may be loaded; only failures take this long. */
#define LONG_MS 20000

/* A child that exits with code once a byte arrives on the pipe it gets
 * (or at once when go is NULL). */
static pid_t child(int code, int go[2])
{
	pid_t pid = fork();
	char c;

	assert_true(pid >= 0);
	if (pid == 0) {
		if (go) {
			close(go[1]);
			while (read(go[0], &c, 1) < 0 && errno == EINTR)
				;
		}
		_exit(code);
	}
	if (go)
		close(go[0]);
	return pid;
}

static bool readable(int fd, int ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	int r;

	while ((r = poll(&pfd, 1, ms)) < 0 && errno == EINTR)
		;
	return r == 1;
}

/* Poll fd until childwatch_exited() says pid is gone, as run.c's loop does. */
static void wait_exit(int fd, pid_t pid)
{
	mtime_ms end = mtime_now() + LONG_MS;

	for (;;) {
		assert_true(mtime_now() < end);
		if (readable(fd, LONG_MS) && childwatch_exited(fd, pid))
			return;
	}
}

static void reap_expect(int fd, pid_t pid, int code)
{
	siginfo_t si;

	assert_int_equal(childwatch_reap(fd, pid, &si), 0);
	assert_int_equal(si.si_code, CLD_EXITED);
	assert_int_equal(si.si_status, code);
	assert_int_equal(si.si_pid, pid);
}

static void basic(void)
{
	int go[2], fd;
	pid_t pid;

	assert_int_equal(pipe(go), 0);
	pid = child(7, go);
	fd = childwatch_open(pid);
	assert_true(fd >= 0);
	/* Alive: either not readable, or readable and not exited. */
	if (readable(fd, 0))
		assert_false(childwatch_exited(fd, pid));
	assert_int_equal(write(go[1], "x", 1), 1);
	close(go[1]);
	wait_exit(fd, pid);
	reap_expect(fd, pid, 7);
	childwatch_close(&fd);
	assert_int_equal(fd, -1);
}

static void test_pidfd(void **state)
{
	(void)state;
	unsetenv("PUNCHLAB_NO_PIDFD");
	if (childwatch_fallback())
		skip(); /* this kernel has no pidfd_open: the fallback tests cover it */
	basic();
}

static void test_fallback_basic(void **state)
{
	(void)state;
	setenv("PUNCHLAB_NO_PIDFD", "1", 1);
	assert_true(childwatch_fallback());
	basic();
	/* A child that exited before its watch began is still seen. */
	{
		pid_t pid = child(3, NULL);
		siginfo_t si;
		int fd;

		memset(&si, 0, sizeof(si));
		assert_int_equal(waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT), 0);
		fd = childwatch_open(pid);
		assert_true(fd >= 0);
		wait_exit(fd, pid);
		reap_expect(fd, pid, 3);
		childwatch_close(&fd);
	}
}

/* Two watches: one exit wakes both, only the exited child says so, and a
 * loop that drains its own pipe takes no other loop's wake-up. */
static void test_fallback_two(void **state)
{
	int ga[2], gb[2], fa, fb;
	pid_t a, b;

	(void)state;
	setenv("PUNCHLAB_NO_PIDFD", "1", 1);
	assert_int_equal(pipe(ga), 0);
	assert_int_equal(pipe(gb), 0);
	a = child(1, ga);
	b = child(2, gb);
	fa = childwatch_open(a);
	fb = childwatch_open(b);
	assert_true(fa >= 0 && fb >= 0 && fa != fb);
	/* Drain the initial wake-ups: both alive. */
	assert_true(readable(fa, LONG_MS));
	assert_false(childwatch_exited(fa, a));
	assert_true(readable(fb, LONG_MS));
	assert_false(childwatch_exited(fb, b));
	assert_false(readable(fa, 0));

	assert_int_equal(write(gb[1], "x", 1), 1); /* b exits */
	wait_exit(fb, b);
	/* fa woke too, but a is alive. */
	assert_true(readable(fa, LONG_MS));
	assert_false(childwatch_exited(fa, a));
	reap_expect(fb, b, 2);
	childwatch_close(&fb);

	assert_int_equal(write(ga[1], "x", 1), 1); /* a exits */
	wait_exit(fa, a);
	reap_expect(fa, a, 1);
	childwatch_close(&fa);
	close(ga[1]);
	close(gb[1]);
}

/* The slots come back: more watches over time than CHILDWATCH_MAX. */
static void test_fallback_reuse(void **state)
{
	(void)state;
	setenv("PUNCHLAB_NO_PIDFD", "1", 1);
	for (int i = 0; i < CHILDWATCH_MAX + 8; i++) {
		pid_t pid = child(i & 0x7f, NULL);
		int fd = childwatch_open(pid);

		assert_true(fd >= 0);
		wait_exit(fd, pid);
		reap_expect(fd, pid, i & 0x7f);
		childwatch_close(&fd);
	}
}

static struct run_proc *add_sh(struct run_group *g, const char *name, const char *script)
{
	const char *argv[] = { "/bin/sh", "-c", script, NULL };
	struct run_proc *p = NULL;

	assert_int_equal(run_add(g, name, -1, argv, &p), 0);
	return p;
}

/* The process runner on a kernel without pidfd_open: exit codes, a program
 * killed at its deadline, a background program stopped. */
static void test_run_fallback(void **state)
{
	struct run_group *g;
	struct run_proc *a, *b, *slow, *bg;
	const struct run_result *r;

	(void)state;
	setenv("PUNCHLAB_NO_PIDFD", "1", 1);
	assert_int_equal(run_group_create(&g), 0);
	run_set_grace(g, 200);
	a = add_sh(g, "a", "exit 3");
	b = add_sh(g, "b", "echo out; exit 0");
	bg = add_sh(g, "bg", "exec sleep 60");
	run_set_background(bg, true);
	assert_int_equal(run_start(g, a), 0);
	assert_int_equal(run_start(g, b), 0);
	assert_int_equal(run_start(g, bg), 0);
	assert_int_equal(run_release(g), 3);
	assert_int_equal(run_wait(g, mtime_now() + LONG_MS), 0);
	r = run_result(a);
	assert_int_equal(r->state, RUN_EXITED);
	assert_int_equal(r->exit_code, 3);
	r = run_result(b);
	assert_int_equal(r->exit_code, 0);
	assert_string_equal(r->out, "out\n");

	slow = add_sh(g, "slow", "exec sleep 60");
	assert_int_equal(run_start(g, slow), 0);
	assert_int_equal(run_release(g), 1);
	assert_int_equal(run_wait(g, mtime_now() + 300), 1);
	r = run_result(slow);
	assert_int_equal(r->state, RUN_EXITED);
	assert_true(r->timed_out);
	assert_int_equal(r->signal, SIGTERM);

	assert_int_equal(run_stop(g, bg), 0);
	r = run_result(bg);
	assert_int_equal(r->state, RUN_EXITED);
	assert_true(r->stopped);
	assert_int_equal(r->signal, SIGTERM);
	run_group_destroy(g);
	unsetenv("PUNCHLAB_NO_PIDFD");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pidfd),
		cmocka_unit_test(test_fallback_basic),
		cmocka_unit_test(test_fallback_two),
		cmocka_unit_test(test_fallback_reuse),
		cmocka_unit_test(test_run_fallback),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
