/* Unit tests for the job pool (lab/pool.c), with real worker processes but
 * no privileges: a slot is refilled as soon as its worker ends (a worker
 * that can only end after a later job has been reported proves it), a
 * worker's whole output arrives however long, a worker that dies is
 * reported with its wait status, and a signal stops the pool with the
 * running workers killed and the rest never started. */
#include <errno.h>
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

#include "pool.h"

#define BIG (300 * 1024)

struct ctx {
	int gate[2];            /* job 0 waits for a byte here */
	int order[8], n_done, n_started;
	int wstatus[8];
	size_t len[8];
	char first[8];
	bool big_ok;
};

static int body(int fd, int index, void *arg)
{
	struct ctx *c = arg;
	char b;

	switch (index) {
	case 0: /* ends only after job 1 has been reported */
		close(c->gate[1]);
		if (read(c->gate[0], &b, 1) != 1)
			return 9;
		return write(fd, "zero", 4) == 4 ? 0 : 1;
	case 2: { /* more than a pipe holds */
		char *big = malloc(BIG);

		if (!big)
			return 1;
		memset(big, 'x', BIG);
		for (size_t off = 0; off < BIG;) {
			ssize_t n = write(fd, big + off, BIG - off);

			if (n <= 0)
				return 1;
			off += (size_t)n;
		}
		free(big);
		return 0;
	}
	case 3:
		raise(SIGKILL);
		return 0;
	default:
		return write(fd, "one", 3) == 3 ? 7 : 1;
	}
}

static void started(int index, void *arg)
{
	struct ctx *c = arg;

	(void)index;
	c->n_started++;
}

static void done(int index, int wstatus, char *out, size_t len, void *arg)
{
	struct ctx *c = arg;

	c->order[c->n_done++] = index;
	c->wstatus[index] = wstatus;
	c->len[index] = len;
	c->first[index] = out ? out[0] : 0;
	if (index == 2) {
		c->big_ok = out && len == BIG;
		for (size_t i = 0; c->big_ok && i < len; i++)
			c->big_ok = out[i] == 'x';
	}
	if (index == 1)
		assert_int_equal(write(c->gate[1], "g", 1), 1);
	free(out);
}

static void test_refill_and_status(void **state)
{
	struct ctx c = { 0 };
	struct pool_ops ops = { .body = body, .started = started, .done = done, .ctx = &c };
	bool interrupted = true;

	(void)state;
	assert_int_equal(pipe(c.gate), 0);
	assert_int_equal(pool_run(4, 2, &ops, &interrupted), 0);
	assert_false(interrupted);
	assert_int_equal(c.n_started, 4);
	assert_int_equal(c.n_done, 4);
	/* job 1 first; job 0 could not end before it */
	assert_int_equal(c.order[0], 1);
	assert_true(WIFEXITED(c.wstatus[1]) && WEXITSTATUS(c.wstatus[1]) == 7);
	assert_int_equal(c.len[1], 3);
	assert_true(WIFEXITED(c.wstatus[0]) && WEXITSTATUS(c.wstatus[0]) == 0);
	assert_int_equal(c.first[0], 'z');
	assert_true(c.big_ok);
	assert_true(WIFSIGNALED(c.wstatus[3]) && WTERMSIG(c.wstatus[3]) == SIGKILL);
	assert_int_equal(c.len[3], 0);
	close(c.gate[0]);
	close(c.gate[1]);
}

/* Every worker sends us SIGTERM and then waits forever. */
static int body_signal(int fd, int index, void *arg)
{
	(void)fd;
	(void)arg;
	if (index == 0)
		kill(getppid(), SIGTERM);
	pause();
	return 0;
}

static void done_count(int index, int wstatus, char *out, size_t len, void *arg)
{
	(void)index;
	(void)wstatus;
	(void)len;
	free(out);
	(*(int *)arg)++;
}

static void test_interrupt(void **state)
{
	int n_done = 0;
	struct pool_ops ops = { .body = body_signal, .done = done_count, .ctx = &n_done };
	bool interrupted = false;

	(void)state;
	assert_int_equal(pool_run(5, 2, &ops, &interrupted), 0);
	assert_true(interrupted);
	assert_int_equal(pool_signal(), SIGTERM);
	assert_int_equal(n_done, 0);            /* the killed workers are not results */
	assert_int_equal(waitpid(-1, NULL, WNOHANG), -1); /* every worker reaped */
	assert_int_equal(errno, ECHILD);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_refill_and_status),
		cmocka_unit_test(test_interrupt),
	};

	/* A pool that waits for the whole batch would deadlock on job 0: fail, do not hang. */
	alarm(60);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
