/* Unit tests for the process runner (lab/kernel/run.c), on real processes in the
 * current network namespace (netns_fd = -1); no root needed. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/mtime.h"
#include "kernel/run.h"

/* Generous: the machine may be loaded; only failures take this long. */
#define LONG_MS 20000

static struct run_proc *add_sh(struct run_group *g, const char *name, const char *script)
{
	const char *argv[] = { "/bin/sh", "-c", script, NULL };
	struct run_proc *p = NULL;

	assert_int_equal(run_add(g, name, -1, argv, &p), 0);
	return p;
}

static int pidfd_of(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

/* Wait until a process we hold a pidfd to has gone (exited, reaped or not). */
static bool gone_within(int pidfd, int ms)
{
	struct pollfd pfd = { .fd = pidfd, .events = POLLIN };

	return poll(&pfd, 1, ms) == 1;
}

/* True while pid sits in read(2); /proc/PID/syscall starts with the number. */
static bool in_read(pid_t pid)
{
	char path[64], buf[128] = "";
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/syscall", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return false;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = '\0';
	fclose(f);
	return strncmp(buf, "0 ", 2) == 0;
}

static int64_t realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Nothing runs before run_release(), and everything runs after it. */
static void test_barrier(void **state)
{
	char dir[] = "/tmp/test_run.XXXXXX", script[512], path[600];
	struct run_group *g;
	struct run_proc *p[3];
	int64_t released;
	mtime_ms until;

	assert_non_null(mkdtemp(dir));
	assert_int_equal(run_group_create(&g), 0);
	for (int i = 0; i < 3; i++) {
		char name[16];

		snprintf(name, sizeof(name), "p%d", i);
		snprintf(script, sizeof(script), "date +%%s%%N > %s/%s", dir, name);
		p[i] = add_sh(g, name, script);
		assert_int_equal(run_start(g, p[i]), 0);
		assert_int_equal(run_result(p[i])->state, RUN_WAITING);
		assert_true(run_pid(p[i]) > 0);
	}
	/* Wait (with a deadline) until every child is blocked reading the
	 * barrier: from then on only our write can move them. */
	until = mtime_now() + LONG_MS;
	for (int i = 0; i < 3; i++)
		while (!in_read(run_pid(p[i]))) {
			assert_true(mtime_now() < until);
			poll(NULL, 0, 5);
		}
	for (int i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/p%d", dir, i);
		assert_int_equal(access(path, F_OK), -1);
	}
	released = realtime_ns();
	assert_int_equal(run_release(g), 3);
	assert_int_equal(run_wait(g, mtime_now() + LONG_MS), 0);
	for (int i = 0; i < 3; i++) {
		const struct run_result *r = run_result(p[i]);
		long long stamp = 0;
		FILE *f;

		assert_int_equal(r->state, RUN_EXITED);
		assert_int_equal(r->exit_code, 0);
		snprintf(path, sizeof(path), "%s/p%d", dir, i);
		f = fopen(path, "r");
		assert_non_null(f);
		assert_int_equal(fscanf(f, "%lld", &stamp), 1);
		fclose(f);
		assert_true(stamp >= released);
		unlink(path);
	}
	rmdir(dir);
	run_group_destroy(g);
}

/* A process started after a release waits for the next one. */
static void test_barrier_generations(void **state)
{
	struct run_group *g;
	struct run_proc *a, *b;

	assert_int_equal(run_group_create(&g), 0);
	a = add_sh(g, "a", "exit 4");
	b = add_sh(g, "b", "exit 5");
	assert_int_equal(run_start(g, a), 0);
	assert_int_equal(run_start(g, a), -EALREADY);
	assert_int_equal(run_release(g), 1);
	/* b holds at a new barrier; keep it out of the first wait. */
	run_set_background(b, true);
	assert_int_equal(run_start(g, b), 0);
	assert_int_equal(run_wait(g, mtime_now() + LONG_MS), 0);
	assert_int_equal(run_result(a)->exit_code, 4);
	assert_int_equal(run_result(b)->state, RUN_WAITING);
	assert_int_equal(run_release(g), 1);
	run_set_background(b, false);
	assert_int_equal(run_wait(g, mtime_now() + LONG_MS), 0);
	assert_int_equal(run_result(b)->exit_code, 5);
	run_group_destroy(g);
}

/* stdout and stderr arrive separately, with the exit code. */
static void test_capture(void **state)
{
	struct run_group *g;
	struct run_proc *p;
	const struct run_result *r;
	char buf[128];

	assert_int_equal(run_group_create(&g), 0);
	p = add_sh(g, "cap", "echo to-out; echo to-err >&2; printf 'no newline'; exit 3");
	assert_int_equal(run_start(g, p), 0);
	assert_int_equal(run_release(g), 1);
	assert_int_equal(run_wait(g, mtime_now() + LONG_MS), 0);
	r = run_result(p);
	assert_int_equal(r->state, RUN_EXITED);
	assert_int_equal(r->exit_code, 3);
	assert_int_equal(r->signal, 0);
	assert_false(r->timed_out);
	assert_string_equal(r->out, "to-out\nno newline");
	assert_int_equal(r->out_len, strlen("to-out\nno newline"));
	assert_string_equal(r->err, "to-err\n");
	assert_int_equal(r->out_dropped, 0);
	assert_int_equal(r->err_dropped, 0);
	assert_null(r->setup_step);
	assert_string_equal(run_describe(p, buf, sizeof(buf)), "exited 3");
	assert_string_equal(run_name(p), "cap");
	run_group_destroy(g);
}

/* The first 1 MiB of stdout and the last 64 KiB of stderr are kept. */
static void test_capture_bounded(void **state)
{
	struct run_group *g;
	struct run_proc *p;
	const struct run_result *r;

	assert_int_equal(run_group_create(&g), 0);
	p = add_sh(g, "big",
		   "printf HEAD; head -c 3000000 /dev/zero | tr '\\000' o;"
		   "printf start >&2; head -c 200000 /dev/zero | tr '\\000' e >&2; printf END >&2");
	assert_int_equal(run_start(g, p), 0);
	assert_int_equal(run_release(g), 1);
	assert_int_equal(run_wait(g, mtime_now() + LONG_MS), 0);
	r = run_result(p);
	assert_int_equal(r->exit_code, 0);
	assert_int_equal(r->out_len, RUN_OUT_MAX);
	assert_int_equal(r->out_dropped, 3000004 - RUN_OUT_MAX);
	assert_memory_equal(r->out, "HEADooo", 7);
	assert_int_equal(strlen(r->out), RUN_OUT_MAX);
	assert_int_equal(r->err_len, RUN_ERR_MAX);
	assert_int_equal(r->err_dropped, 5 + 200000 + 3 - RUN_ERR_MAX);
	assert_int_equal(strlen(r->err), RUN_ERR_MAX);
	assert_string_equal(r->err + RUN_ERR_MAX - 6, "eeeEND");
	assert_null(strstr(r->err, "start"));
	run_group_destroy(g);
}

static void test_signal(void **state)
{
	struct run_group *g;
	struct run_proc *p;
	const struct run_result *r;
	char buf[128];

	assert_int_equal(run_group_create(&g), 0);
	p = add_sh(g, "sig", "kill -USR1 $$");
	assert_int_equal(run_start(g, p), 0);
	assert_int_equal(run_release(g), 1);
	assert_int_equal(run_wait(g, mtime_now() + LONG_MS), 0);
	r = run_result(p);
	assert_int_equal(r->signal, SIGUSR1);
	assert_int_equal(r->exit_code, -1);
	assert_false(r->timed_out);
	assert_string_equal(run_describe(p, buf, sizeof(buf)), "killed by SIGUSR1");
	run_group_destroy(g);
}

/* run_wait_until: time passes, outputs are read and exits reaped, nothing is
 * killed; a process started afterwards is released on its own. */
static void test_wait_until(void **state)
{
	struct run_group *g;
	struct run_proc *quick, *slow, *late;
	mtime_ms t0, t1;

	(void)state;
	assert_int_equal(run_group_create(&g), 0);
	quick = add_sh(g, "quick", "echo early; exit 3");
	slow = add_sh(g, "slow", "exec /bin/sleep 1000");
	late = add_sh(g, "late", "echo late");
	assert_int_equal(run_start(g, quick), 0);
	assert_int_equal(run_start(g, slow), 0);
	assert_int_equal(run_release(g), 2);
	t0 = mtime_now();
	assert_int_equal(run_wait_until(g, t0 + 300), 0);
	t1 = mtime_now();
	assert_true(t1 - t0 >= 300);
	assert_true(t1 - t0 < 300 + 5000);
	assert_int_equal(run_result(quick)->state, RUN_EXITED); /* reaped meanwhile */
	assert_int_equal(run_result(quick)->exit_code, 3);
	assert_string_equal(run_result(quick)->out, "early\n");
	assert_int_equal(run_result(slow)->state, RUN_RUNNING); /* not killed */
	assert_false(run_result(slow)->timed_out);
	assert_int_equal(run_start(g, late), 0);
	assert_int_equal(run_release(g), 1);
	assert_int_equal(run_wait(g, mtime_now() + 300), 1); /* only slow times out */
	assert_string_equal(run_result(late)->out, "late\n");
	assert_true(run_result(slow)->timed_out);
	run_group_destroy(g);

	/* With nothing to watch it still waits until the time. */
	assert_int_equal(run_group_create(&g), 0);
	t0 = mtime_now();
	assert_int_equal(run_wait_until(g, t0 + 100), 0);
	assert_true(mtime_now() - t0 >= 100);
	run_group_destroy(g);
}

/* At the deadline: SIGTERM to the group, SIGKILL after the grace. */
static void test_deadline(void **state)
{
	const char *sleep_argv[] = { "/bin/sleep", "1000", NULL };
	struct run_group *g;
	struct run_proc *s, *stubborn, *quick;
	const struct run_result *r;
	mtime_ms t0, t1;
	char buf[128];

	assert_int_equal(run_group_create(&g), 0);
	run_set_grace(g, 300);
	assert_int_equal(run_add(g, "sleeper", -1, sleep_argv, &s), 0);
	/* Ignores SIGTERM, and so does its child sleep. */
	stubborn = add_sh(g, "stubborn", "trap '' TERM; /bin/sleep 1000; echo never");
	quick = add_sh(g, "quick", "exit 0");
	assert_int_equal(run_start(g, s), 0);
	assert_int_equal(run_start(g, stubborn), 0);
	assert_int_equal(run_start(g, quick), 0);
	assert_int_equal(run_release(g), 3);
	t0 = mtime_now();
	assert_int_equal(run_wait(g, t0 + 400), 2);
	t1 = mtime_now();
	assert_true(t1 - t0 >= 400);
	assert_true(t1 - t0 < 400 + 300 + 5000); /* promptly, not after 1000 s */

	r = run_result(s);
	assert_true(r->timed_out);
	assert_int_equal(r->signal, SIGTERM);
	assert_true(r->run_ms >= 400);
	assert_string_equal(run_describe(s, buf, sizeof(buf)), "killed by SIGTERM (timed out)");
	r = run_result(stubborn);
	assert_true(r->timed_out);
	assert_int_equal(r->signal, SIGKILL);
	assert_null(strstr(r->out, "never"));
	r = run_result(quick);
	assert_false(r->timed_out);
	assert_int_equal(r->exit_code, 0);
	run_group_destroy(g);
}

/* The ready-fd handshake, a background server and run_stop(). */
static void test_ready(void **state)
{
	struct run_group *g;
	struct run_proc *srv, *cli, *silent, *quitter, *fd5;
	const struct run_result *r;
	char buf[128];

	assert_int_equal(run_group_create(&g), 0);
	run_set_grace(g, 5000);
	srv = add_sh(g, "srv", "trap 'echo bye; exit 0' TERM; echo ready >&3; "
			       "while :; do /bin/sleep 1 & wait $!; done");
	silent = add_sh(g, "silent", "exec /bin/sleep 1000");
	quitter = add_sh(g, "quitter", "echo not-ready >&3; exit 2");
	/* "ready" without its newline counts once the fd is closed. */
	fd5 = add_sh(g, "fd5", "printf ready >&5; exec 5>&-; exec /bin/sleep 1000");
	cli = add_sh(g, "cli", "exit 0");
	assert_int_equal(run_set_ready_fd(srv, 3), 0);
	assert_int_equal(run_set_ready_fd(silent, 3), 0);
	assert_int_equal(run_set_ready_fd(quitter, 3), 0);
	assert_int_equal(run_set_ready_fd(fd5, 5), 0);
	assert_int_equal(run_set_ready_fd(cli, 2), -EINVAL);
	run_set_background(srv, true);
	run_set_background(silent, true);
	run_set_background(fd5, true);

	assert_int_equal(run_wait_ready(g, srv, mtime_now() + 10), -EINVAL); /* not started */
	assert_int_equal(run_start(g, srv), 0);
	assert_int_equal(run_wait_ready(g, srv, mtime_now() + 10), -EINVAL); /* not released */
	assert_int_equal(run_start(g, silent), 0);
	assert_int_equal(run_start(g, quitter), 0);
	assert_int_equal(run_start(g, fd5), 0);
	assert_int_equal(run_release(g), 4);
	assert_int_equal(run_wait_ready(g, srv, mtime_now() + LONG_MS), 0);
	assert_true(run_result(srv)->ready);
	assert_int_equal(run_wait_ready(g, fd5, mtime_now() + LONG_MS), 0);
	/* Closing the fd without "ready" is enough; its exit is reaped by run_wait() below. */
	assert_int_equal(run_wait_ready(g, quitter, mtime_now() + LONG_MS), -ESRCH);
	assert_int_equal(run_wait_ready(g, silent, mtime_now() + 200), -ETIMEDOUT);
	assert_false(run_result(silent)->ready);
	assert_int_equal(run_wait_ready(g, cli, mtime_now() + 10), -EINVAL);

	/* The clients run while the server stays up. */
	assert_int_equal(run_start(g, cli), 0);
	assert_int_equal(run_release(g), 1);
	assert_int_equal(run_wait(g, mtime_now() + LONG_MS), 0);
	assert_int_equal(run_result(cli)->exit_code, 0);
	assert_int_equal(run_result(quitter)->exit_code, 2);
	assert_false(run_result(quitter)->ready);
	assert_int_equal(run_result(srv)->state, RUN_RUNNING);

	assert_int_equal(run_stop(g, srv), 0);
	r = run_result(srv);
	assert_int_equal(r->state, RUN_EXITED);
	assert_true(r->stopped);
	assert_false(r->timed_out);
	assert_int_equal(r->exit_code, 0);
	assert_string_equal(r->out, "bye\n");
	assert_string_equal(run_describe(srv, buf, sizeof(buf)), "exited 0 (stopped)");
	assert_int_equal(run_stop(g, srv), 0); /* again: nothing to do */
	/* silent and fd5 are left to run_group_destroy(). */
	run_group_destroy(g);
}

/* Readiness by a stdout line matching a pattern (also past the stdout cap),
 * and by a bound UDP port; extra environment and working directory. */
static void test_ready_pattern_port(void **state)
{
	struct run_group *g;
	struct run_proc *pat, *late, *never, *port, *env;
	const char *const extra[] = { "PUNCHLAB_PEER=alice", "HOME=/nowhere", NULL };
	char path[256];

	(void)state;
	assert_int_equal(run_group_create(&g), 0);
	/* 2 MiB of noise first: the line is found beyond RUN_OUT_MAX. */
	pat = add_sh(g, "pat", "head -c 2097152 /dev/zero | tr '\\0' x; echo; echo 'Nebula interface is active'; "
			       "exec /bin/sleep 1000");
	late = add_sh(g, "late", "printf 'partial up'; exec /bin/sleep 1000");
	never = add_sh(g, "never", "echo starting; exit 4");
	port = add_sh(g, "port", "exec python3 -c 'import socket,time; s=socket.socket(socket.AF_INET,"
				 "socket.SOCK_DGRAM); s.bind((\"127.0.0.1\", 0)); print(s.getsockname()[1], flush=True); "
				 "time.sleep(1000)'");
	env = add_sh(g, "env", "echo \"$PUNCHLAB_PEER $HOME $(pwd)\"");
	assert_int_equal(run_set_ready_pattern(pat, "^Nebula interface is (active|up)$"), 0);
	assert_int_equal(run_set_ready_pattern(late, "up$"), 0);
	assert_int_equal(run_set_ready_pattern(never, "ready"), 0);
	assert_int_equal(run_set_ready_pattern(env, "a(b"), -EINVAL);
	assert_int_equal(run_set_env(env, extra), 0);
	assert_int_equal(run_set_dir(env, "/tmp"), 0);
	for (struct run_proc *p, **pp = (struct run_proc *[]){ pat, late, never, port, env, NULL }; (p = *pp); pp++) {
		run_set_background(p, p != env);
		assert_int_equal(run_start(g, p), 0);
	}
	assert_int_equal(run_release(g), 5);
	assert_int_equal(run_wait_ready(g, pat, mtime_now() + LONG_MS), 0);
	assert_int_equal(run_result(pat)->out_len, RUN_OUT_MAX); /* the cap still holds */
	/* Only a complete line counts. */
	assert_int_equal(run_wait_ready(g, late, mtime_now() + 300), -ETIMEDOUT);
	assert_int_equal(run_wait_ready(g, never, mtime_now() + LONG_MS), -ESRCH);
	/* The port: learn which one it bound from its first line, then wait for it. */
	while (!strchr(run_result(port)->out, '\n'))
		assert_int_equal(run_wait_until(g, mtime_now() + 20), 0);
	run_set_ready_port(port, (uint16_t)atoi(run_result(port)->out), 17);
	assert_int_equal(run_wait_ready(g, port, mtime_now() + LONG_MS), 0);
	assert_int_equal(run_wait(g, mtime_now() + LONG_MS), 0);
	assert_string_equal(run_result(env)->out, "alice /nowhere /tmp\n");
	run_group_destroy(g);

	/* A port nobody binds: -ETIMEDOUT, no earlier. */
	assert_int_equal(run_group_create(&g), 0);
	never = add_sh(g, "never", "exec /bin/sleep 1000");
	run_set_ready_port(never, 9, 6);
	run_set_background(never, true);
	assert_int_equal(run_start(g, never), 0);
	assert_int_equal(run_release(g), 1);
	{
		mtime_ms t0 = mtime_now();

		assert_int_equal(run_wait_ready(g, never, t0 + 200), -ETIMEDOUT);
		assert_true(mtime_now() >= t0 + 200);
	}
	run_group_destroy(g);

	assert_int_equal(run_which("sh", "/nonexistent:/bin", path, sizeof(path)), 0);
	assert_string_equal(path, "/bin/sh");
	assert_int_equal(run_which("punchlab-no-such", "/bin:/usr/bin", path, sizeof(path)), -ENOENT);
	assert_int_equal(run_which("/etc/passwd", NULL, path, sizeof(path)), -EACCES);
	assert_int_equal(run_which("/no/such", NULL, path, sizeof(path)), -ENOENT);
}

/* A child that cannot exec says so, with exit code 127. */
static void test_exec_fails(void **state)
{
	const char *argv[] = { "/nonexistent/punch-prog", "--x", NULL };
	struct run_group *g;
	struct run_proc *p, *q;
	const struct run_result *r;
	char buf[256];
	int nul;

	assert_int_equal(run_group_create(&g), 0);
	assert_int_equal(run_add(g, "ghost", -1, argv, &p), 0);
	/* Not a namespace fd: setns() fails with EINVAL. */
	nul = open("/dev/null", O_RDONLY | O_CLOEXEC);
	assert_true(nul >= 0);
	assert_int_equal(run_add(g, "nons", nul, (const char *[]){ "/bin/true", NULL }, &q), 0);
	assert_int_equal(run_start(g, p), 0);
	assert_int_equal(run_start(g, q), 0);
	close(nul);
	assert_int_equal(run_release(g), 2);
	assert_int_equal(run_wait(g, mtime_now() + LONG_MS), 0);

	r = run_result(p);
	assert_int_equal(r->exit_code, RUN_EXIT_SETUP);
	assert_int_equal(r->setup_errno, ENOENT);
	assert_string_equal(r->setup_step, "exec");
	assert_non_null(strstr(r->err, "ghost: exec /nonexistent/punch-prog: No such file or directory"));
	assert_string_equal(run_describe(p, buf, sizeof(buf)),
			    "could not start: exec /nonexistent/punch-prog: No such file or directory");
	r = run_result(q);
	assert_int_equal(r->exit_code, RUN_EXIT_SETUP);
	assert_int_equal(r->setup_errno, EINVAL);
	assert_string_equal(r->setup_step, "setns");
	assert_non_null(strstr(r->err, "nons: setns: Invalid argument"));
	run_group_destroy(g);
}

static void test_add_invalid(void **state)
{
	struct run_group *g;
	struct run_proc *p;
	const char *empty[] = { NULL };
	const char *blank[] = { "", NULL };

	assert_int_equal(run_group_create(&g), 0);
	assert_int_equal(run_add(g, "x", -1, empty, &p), -EINVAL);
	assert_int_equal(run_add(g, "x", -1, blank, &p), -EINVAL);
	assert_int_equal(run_add(g, NULL, -1, (const char *[]){ "/bin/true", NULL }, &p), -EINVAL);
	/* Nothing started: nothing to wait for, nothing to release. */
	assert_int_equal(run_release(g), 0);
	assert_int_equal(run_wait(g, mtime_now() + 10), 0);
	run_group_destroy(g);
	run_group_destroy(NULL);
}

/* When the leader exits, what it left running in its group is killed. */
static void test_stragglers(void **state)
{
	struct run_group *g;
	struct run_proc *p;
	int pid = 0, pidfd;

	assert_int_equal(run_group_create(&g), 0);
	p = add_sh(g, "bg", "/bin/sleep 1000 & echo $!");
	assert_int_equal(run_start(g, p), 0);
	assert_int_equal(run_release(g), 1);
	assert_int_equal(run_wait(g, mtime_now() + LONG_MS), 0);
	assert_int_equal(run_result(p)->exit_code, 0);
	assert_int_equal(sscanf(run_result(p)->out, "%d", &pid), 1);
	pidfd = pidfd_of(pid);
	if (pidfd >= 0) {
		assert_true(gone_within(pidfd, LONG_MS));
		close(pidfd);
	} else {
		assert_int_equal(errno, ESRCH);
	}
	run_group_destroy(g);
}

/* run_group_destroy() kills and reaps, including processes at the barrier. */
static void test_destroy_kills(void **state)
{
	const char *argv[] = { "/bin/sleep", "1000", NULL };
	struct run_group *g;
	struct run_proc *run, *held;
	int fd_run, fd_held;

	assert_int_equal(run_group_create(&g), 0);
	assert_int_equal(run_add(g, "run", -1, argv, &run), 0);
	assert_int_equal(run_add(g, "held", -1, argv, &held), 0);
	assert_int_equal(run_start(g, run), 0);
	assert_int_equal(run_release(g), 1);
	assert_int_equal(run_start(g, held), 0);
	fd_run = pidfd_of(run_pid(run));
	fd_held = pidfd_of(run_pid(held));
	assert_true(fd_run >= 0 && fd_held >= 0);
	run_group_destroy(g);
	/* Reaped: the pidfds are readable at once, and the pids are no children of ours. */
	assert_true(gone_within(fd_run, 0));
	assert_true(gone_within(fd_held, 0));
	assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
	close(fd_run);
	close(fd_held);
}

/* A runner killed with SIGKILL takes its children with it, released or not. */
static void test_pdeathsig(void **state)
{
	int pp[2], pids[2] = { 0, 0 }, fds[2];
	pid_t runner;
	int status;

	assert_int_equal(pipe2(pp, O_CLOEXEC), 0);
	runner = fork();
	assert_true(runner >= 0);
	if (runner == 0) {
		const char *argv[] = { "/bin/sleep", "1000", NULL };
		struct run_group *g;
		struct run_proc *a, *b;
		char go;

		close(pp[0]);
		if (run_group_create(&g) || run_add(g, "a", -1, argv, &a) || run_add(g, "b", -1, argv, &b) ||
		    run_start(g, a) || run_release(g) != 1 || run_start(g, b))
			_exit(1);
		pids[0] = run_pid(a);
		pids[1] = run_pid(b);
		if (write(pp[1], pids, sizeof(pids)) != sizeof(pids))
			_exit(1);
		/* Block until killed. */
		while (read(pp[1], &go, 1) != 0)
			pause();
		_exit(1);
	}
	close(pp[1]);
	assert_int_equal(read(pp[0], pids, sizeof(pids)), sizeof(pids));
	close(pp[0]);
	/* Open the pidfds while the runner still holds them as its children. */
	fds[0] = pidfd_of(pids[0]);
	fds[1] = pidfd_of(pids[1]);
	assert_true(fds[0] >= 0 && fds[1] >= 0);
	assert_int_equal(kill(runner, SIGKILL), 0);
	assert_int_equal(waitpid(runner, &status, 0), runner);
	assert_true(WIFSIGNALED(status));
	assert_true(gone_within(fds[0], LONG_MS));
	assert_true(gone_within(fds[1], LONG_MS));
	close(fds[0]);
	close(fds[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_barrier),
		cmocka_unit_test(test_barrier_generations),
		cmocka_unit_test(test_capture),
		cmocka_unit_test(test_capture_bounded),
		cmocka_unit_test(test_signal),
		cmocka_unit_test(test_deadline),
		cmocka_unit_test(test_ready),
		cmocka_unit_test(test_ready_pattern_port),
		cmocka_unit_test(test_exec_fails),
		cmocka_unit_test(test_add_invalid),
		cmocka_unit_test(test_stragglers),
		cmocka_unit_test(test_destroy_kills),
		cmocka_unit_test(test_pdeathsig),
		cmocka_unit_test(test_wait_until),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
