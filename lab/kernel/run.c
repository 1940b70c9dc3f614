/* The process runner: fork, enter the namespace, hold at a start barrier,
 * exec; then one poll loop over every output pipe and pidfd of the group. */
#include "kernel/run.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <regex.h>
#include <sched.h>
#include <signal.h>
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
#include "kernel/childwatch.h"

/* After SIGKILL a process goes away at once unless it is stuck in the kernel
 * (uninterruptible sleep); do not hang forever on such a one. */
#define RUN_KILL_WAIT_MS 5000
#define RUN_READY_LINE 32
#define RUN_LINE_MAX 4096  /* stdout line matched against a ready pattern */
#define RUN_PORT_POLL_MS 20

/* Steps of the child's setup, reported to the parent over the status pipe. */
enum run_step {
	STEP_NONE = 0,
	STEP_PDEATHSIG,
	STEP_SETPGID,
	STEP_SETNS,
	STEP_DEVNULL,
	STEP_FDS,
	STEP_CHDIR,
	STEP_EXEC,
};

static const char *const step_names[] = {
	[STEP_NONE] = "setup",
	[STEP_PDEATHSIG] = "prctl(PR_SET_PDEATHSIG)",
	[STEP_SETPGID] = "setpgid",
	[STEP_SETNS] = "setns",
	[STEP_DEVNULL] = "open /dev/null",
	[STEP_FDS] = "arranging descriptors",
	[STEP_CHDIR] = "chdir",
	[STEP_EXEC] = "exec",
};

/* What a failing child writes on its status pipe; nothing at all means exec
 * succeeded (the pipe is close-on-exec). */
struct child_msg {
	int step;
	int err;
};

struct run_proc {
	char *name;
	char **argv;
	int netns_fd;
	int ready_child_fd;     /* descriptor number in the child, or -1 */
	bool background;
	char **env;             /* extra environment entries, or NULL */
	char **envp;            /* the child's whole environment, made by run_start() */
	char *dir;              /* working directory, or NULL */
	bool has_re;            /* ready by a stdout line matching re */
	regex_t re;
	char *line;             /* the stdout line so far, RUN_LINE_MAX + 1 */
	size_t line_len;
	uint16_t ready_port;    /* ready by a socket on this port, 0: not */
	int ready_proto;

	pid_t pid;
	int pidfd;
	int fd_out, fd_err, fd_ready, fd_status; /* parent ends, -1 once closed */

	char *out;              /* first RUN_OUT_MAX bytes, grown on demand */
	size_t out_len, out_cap, out_dropped;
	char *err;              /* 2 * RUN_ERR_MAX + 1: the tail is kept by sliding */
	size_t err_len, err_dropped;

	char ready_buf[RUN_READY_LINE];
	size_t ready_len;
	unsigned char status_buf[sizeof(struct child_msg)];
	size_t status_len;

	mtime_ms t_release, t_end;
	struct run_result res;
};

struct run_group {
	struct run_proc **procs;
	size_t n, cap;
	int barrier_r, barrier_w; /* the current barrier; -1 when none */
	int grace_ms;
};

static int xclose(int *fd)
{
	int r = 0;

	if (*fd >= 0)
		r = close(*fd);
	*fd = -1;
	return r;
}

int run_group_create(struct run_group **out)
{
	struct run_group *g = calloc(1, sizeof(*g));

	if (!g)
		return -ENOMEM;
	g->barrier_r = g->barrier_w = -1;
	g->grace_ms = RUN_GRACE_MS;
	*out = g;
	return 0;
}

void run_set_grace(struct run_group *g, int grace_ms)
{
	g->grace_ms = grace_ms < 0 ? 0 : grace_ms;
}

static void proc_free(struct run_proc *p)
{
	if (!p)
		return;
	if (p->argv)
		for (char **a = p->argv; *a; a++)
			free(*a);
	free(p->argv);
	for (char **e = p->env; e && *e; e++)
		free(*e);
	free(p->env);
	free(p->envp);
	free(p->dir);
	free(p->line);
	if (p->has_re)
		regfree(&p->re);
	free(p->name);
	free(p->out);
	free(p->err);
	free(p);
}

int run_add(struct run_group *g, const char *name, int netns_fd, const char *const argv[],
	    struct run_proc **proc)
{
	struct run_proc *p = NULL;
	size_t argc = 0;
	int r = -ENOMEM;

	if (!g || !name || !argv || !argv[0] || !argv[0][0])
		return -EINVAL;
	while (argv[argc])
		argc++;
	if (g->n == g->cap) {
		size_t cap = g->cap ? g->cap * 2 : 4;
		struct run_proc **np = realloc(g->procs, cap * sizeof(*np));

		if (!np)
			return -ENOMEM;
		g->procs = np;
		g->cap = cap;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		goto cleanup;
	p->pid = -1;
	p->pidfd = p->fd_out = p->fd_err = p->fd_ready = p->fd_status = -1;
	p->netns_fd = netns_fd;
	p->ready_child_fd = -1;
	p->res.exit_code = -1;
	p->name = strdup(name);
	p->argv = calloc(argc + 1, sizeof(*p->argv));
	p->err = malloc(2 * RUN_ERR_MAX + 1);
	if (!p->name || !p->argv || !p->err)
		goto cleanup;
	p->err[0] = '\0';
	for (size_t i = 0; i < argc; i++)
		if (!(p->argv[i] = strdup(argv[i])))
			goto cleanup;
	g->procs[g->n++] = p;
	*proc = p;
	p = NULL;
	r = 0;
cleanup:
	proc_free(p);
	return r;
}

int run_set_ready_fd(struct run_proc *p, int child_fd)
{
	/* 0-2 are stdio; the upper bound keeps the child's fd shuffle small. */
	if (child_fd < 3 || child_fd > 1000 || p->res.state != RUN_ADDED)
		return -EINVAL;
	p->ready_child_fd = child_fd;
	return 0;
}

int run_set_env(struct run_proc *p, const char *const env[])
{
	size_t n = 0;

	if (p->res.state != RUN_ADDED || p->env)
		return -EINVAL;
	while (env[n])
		if (!strchr(env[n++], '='))
			return -EINVAL;
	p->env = calloc(n + 1, sizeof(*p->env));
	if (!p->env)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		if (!(p->env[i] = strdup(env[i])))
			return -ENOMEM; /* proc_free() takes the partial vector */
	return 0;
}

int run_set_dir(struct run_proc *p, const char *dir)
{
	free(p->dir);
	p->dir = strdup(dir);
	return p->dir ? 0 : -ENOMEM;
}

int run_set_ready_pattern(struct run_proc *p, const char *regex)
{
	if (p->has_re || p->res.state != RUN_ADDED)
		return -EINVAL;
	p->line = malloc(RUN_LINE_MAX + 1);
	if (!p->line)
		return -ENOMEM;
	if (regcomp(&p->re, regex, REG_EXTENDED | REG_NOSUB) != 0)
		return -EINVAL;
	p->has_re = true;
	return 0;
}

void run_set_ready_port(struct run_proc *p, uint16_t port, int proto)
{
	p->ready_port = port;
	p->ready_proto = proto;
}

int run_which(const char *name, const char *path, char *buf, size_t size)
{
	struct stat st;
	int rc = -ENOENT;

	if (!name[0])
		return -ENOENT;
	if (strchr(name, '/')) {
		if (snprintf(buf, size, "%s", name) >= (int)size)
			return -ENAMETOOLONG;
		if (stat(buf, &st) < 0 || !S_ISREG(st.st_mode))
			return -ENOENT;
		return access(buf, X_OK) == 0 ? 0 : -EACCES;
	}
	for (const char *d = path ? path : "/usr/local/bin:/usr/bin:/bin"; d;) {
		const char *end = strchr(d, ':');
		int len = end ? (int)(end - d) : (int)strlen(d);

		if (snprintf(buf, size, "%.*s/%s", len, len ? d : ".", name) >= (int)size)
			return -ENAMETOOLONG;
		if (stat(buf, &st) == 0 && S_ISREG(st.st_mode)) {
			if (access(buf, X_OK) == 0)
				return 0;
			rc = -EACCES;
		}
		d = end ? end + 1 : NULL;
	}
	return rc;
}

void run_set_background(struct run_proc *p, bool background)
{
	p->background = background;
}

const char *run_name(const struct run_proc *p)
{
	return p->name;
}

int run_pid(const struct run_proc *p)
{
	return p->pid;
}

/* ---- the child ---------------------------------------------------------- */

/* Report a failed setup step on the status pipe and, readably, on msg_fd
 * (the stderr pipe), then exit with RUN_EXIT_SETUP. */
static _Noreturn void child_fail(int status_fd, enum run_step step, const struct run_proc *p,
				 int msg_fd)
{
	struct child_msg m = { .step = step, .err = errno };

	if (status_fd >= 0 && write(status_fd, &m, sizeof(m)) < 0) {
		/* Nothing more we can say; the exit code still tells. */
	}
	if (msg_fd >= 0)
		dprintf(msg_fd, "punchlab: %s: %s%s%s: %s\n", p->name, step_names[step],
			step == STEP_EXEC ? " " : "", step == STEP_EXEC ? p->argv[0] : "",
			strerror(m.err));
	_exit(RUN_EXIT_SETUP);
}

/* Runs in the forked child and never returns. Only async-signal-safe calls
 * matter here in principle; the parent is single-threaded, so the rest is
 * fine as well. */
static _Noreturn void run_child(const struct run_proc *p, pid_t parent, int barrier_r,
				int out_w, int err_w, int ready_w, int status_w)
{
	static const int reset[] = { SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGCHLD, SIGUSR1, SIGUSR2 };
	int top = p->ready_child_fd >= 0 ? p->ready_child_fd : 2;
	int fb = top + 1, fs = top + 2, hi = top + 3; /* barrier and status land here */
	int src[6], dst[6], n = 0, nul;
	sigset_t none;
	char go;
	ssize_t r;

	/* The program gets a clean signal state: nothing blocked, nothing ignored. */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (size_t i = 0; i < sizeof(reset) / sizeof(reset[0]); i++)
		signal(reset[i], SIG_DFL);

	/* Die with the runner; if it is already gone, do not run at all. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
		child_fail(status_w, STEP_PDEATHSIG, p, err_w);
	if (getppid() != parent)
		_exit(RUN_EXIT_SETUP);
	/* Our own process group, so the runner can signal the program's children too. */
	if (setpgid(0, 0) < 0)
		child_fail(status_w, STEP_SETPGID, p, err_w);
	if (p->netns_fd >= 0 && setns(p->netns_fd, CLONE_NEWNET) < 0)
		child_fail(status_w, STEP_SETNS, p, err_w);
	nul = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (nul < 0)
		child_fail(status_w, STEP_DEVNULL, p, err_w);

	/* Lay the descriptors out: 0-2 stdio, the ready fd, then barrier and
	 * status. First copy every source above the final layout so that no
	 * dup2() overwrites a source still to be copied. */
	src[n] = nul, dst[n++] = 0;
	src[n] = out_w, dst[n++] = 1;
	src[n] = err_w, dst[n++] = 2;
	if (ready_w >= 0)
		src[n] = ready_w, dst[n++] = p->ready_child_fd;
	src[n] = barrier_r, dst[n++] = fb;
	src[n] = status_w, dst[n++] = fs;
	for (int i = 0; i < n; i++) {
		int c = fcntl(src[i], F_DUPFD_CLOEXEC, hi);

		if (c < 0)
			child_fail(status_w, STEP_FDS, p, err_w);
		src[i] = c;
		if (dst[i] == fs)
			status_w = c;
	}
	for (int i = 0; i < n; i++) {
		if (dup2(src[i], dst[i]) < 0)
			child_fail(status_w, STEP_FDS, p, -1);
		if (dst[i] == fs)
			status_w = fs;
	}
	if (fcntl(fb, F_SETFD, FD_CLOEXEC) < 0 || fcntl(fs, F_SETFD, FD_CLOEXEC) < 0)
		child_fail(status_w, STEP_FDS, p, STDERR_FILENO);
	if (p->dir && chdir(p->dir) < 0)
		child_fail(status_w, STEP_CHDIR, p, STDERR_FILENO);
	/* Hold nothing else: in particular no other copy of the barrier's write
	 * end, nor other processes' pipes, nor the namespace fd. */
	if (top > 3 && close_range(3, (unsigned)top - 1, 0) < 0)
		child_fail(status_w, STEP_FDS, p, STDERR_FILENO);
	if (close_range((unsigned)hi, ~0U, 0) < 0)
		child_fail(status_w, STEP_FDS, p, STDERR_FILENO);

	/* The barrier: the runner writes one byte per waiting process. End of
	 * file instead means the runner went away without releasing us. */
	do
		r = read(fb, &go, 1);
	while (r < 0 && errno == EINTR);
	if (r != 1)
		_exit(RUN_EXIT_SETUP);
	close(fb);

	if (p->envp)
		execve(p->argv[0], p->argv, p->envp);
	else
		execv(p->argv[0], p->argv);
	child_fail(fs, STEP_EXEC, p, STDERR_FILENO);
}

/* ---- the parent --------------------------------------------------------- */

static int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

/* The child's environment: ours, with p->env's entries replacing those of
 * the same name. Made in the parent: the child only execs it. */
static int make_envp(struct run_proc *p)
{
	size_t n = 0, k = 0, m = 0;

	while (environ[n])
		n++;
	while (p->env[m])
		m++;
	p->envp = calloc(n + m + 1, sizeof(*p->envp));
	if (!p->envp)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		size_t len = strcspn(environ[i], "=");
		bool replaced = false;

		for (size_t j = 0; j < m && !replaced; j++)
			replaced = strncmp(p->env[j], environ[i], len + 1) == 0;
		if (!replaced)
			p->envp[k++] = environ[i];
	}
	for (size_t j = 0; j < m; j++)
		p->envp[k++] = p->env[j];
	return 0;
}

int run_start(struct run_group *g, struct run_proc *p)
{
	int po[2] = { -1, -1 }, pe[2] = { -1, -1 }, pr[2] = { -1, -1 }, ps[2] = { -1, -1 };
	pid_t pid, self = getpid();
	int r;

	if (p->res.state != RUN_ADDED)
		return -EALREADY;
	if (p->env && !p->envp && (r = make_envp(p)) < 0)
		return r;
	/* The barrier is made on the first start after a release. The runner
	 * keeps its read end too, so writing to it can never raise SIGPIPE. */
	if (g->barrier_w < 0) {
		int pb[2];

		if (pipe2(pb, O_CLOEXEC) < 0)
			return -errno;
		g->barrier_r = pb[0];
		g->barrier_w = pb[1];
	}
	if (pipe2(po, O_CLOEXEC) < 0 || pipe2(pe, O_CLOEXEC) < 0 || pipe2(ps, O_CLOEXEC) < 0 ||
	    (p->ready_child_fd >= 0 && pipe2(pr, O_CLOEXEC) < 0)) {
		r = -errno;
		goto cleanup;
	}
	if ((r = set_nonblock(po[0])) < 0 || (r = set_nonblock(pe[0])) < 0 ||
	    (r = set_nonblock(ps[0])) < 0 || (pr[0] >= 0 && (r = set_nonblock(pr[0])) < 0))
		goto cleanup;

	pid = fork();
	if (pid < 0) {
		r = -errno;
		goto cleanup;
	}
	if (pid == 0)
		run_child(p, self, g->barrier_r, po[1], pe[1], pr[1], ps[1]);

	/* Also set the group from here, so it exists whichever side runs first. */
	if (setpgid(pid, pid) < 0 && errno != EACCES && errno != ESRCH)
		log_warn("run %s: setpgid", p->name);
	/* a pidfd, or where the kernel has none a SIGCHLD pipe (childwatch.h) */
	p->pidfd = childwatch_open(pid);
	if (p->pidfd < 0) {
		r = p->pidfd;
		p->pidfd = -1;
		errno = -r;
		log_warn("run %s: watching its exit", p->name);
		kill(pid, SIGKILL);
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		goto cleanup;
	}
	p->pid = pid;
	p->fd_out = po[0], po[0] = -1;
	p->fd_err = pe[0], pe[0] = -1;
	p->fd_status = ps[0], ps[0] = -1;
	p->fd_ready = pr[0], pr[0] = -1;
	p->res.state = RUN_WAITING;
	r = 0;
cleanup:
	xclose(&po[0]), xclose(&po[1]);
	xclose(&pe[0]), xclose(&pe[1]);
	xclose(&pr[0]), xclose(&pr[1]);
	xclose(&ps[0]), xclose(&ps[1]);
	return r;
}

int run_release(struct run_group *g)
{
	size_t n = 0;
	char *go;
	mtime_ms now;
	int rc;

	if (g->barrier_w < 0)
		return 0;
	for (size_t i = 0; i < g->n; i++)
		if (g->procs[i]->res.state == RUN_WAITING)
			n++;
	go = malloc(n ? n : 1);
	if (!go)
		return -ENOMEM;
	memset(go, 'g', n ? n : 1);
	/* One write makes every byte visible at once (n is far below PIPE_BUF
	 * in practice); each waiting child takes one. */
	rc = fd_write_all(g->barrier_w, go, n);
	free(go);
	if (rc < 0)
		return rc;
	now = mtime_now();
	for (size_t i = 0; i < g->n; i++) {
		struct run_proc *p = g->procs[i];

		if (p->res.state == RUN_WAITING) {
			p->res.state = RUN_RUNNING;
			p->t_release = now;
		}
	}
	xclose(&g->barrier_w);
	xclose(&g->barrier_r);
	return (int)n;
}

/* Append to stdout: keep the head, count the rest. */
static void out_append(struct run_proc *p, const char *buf, size_t n)
{
	size_t room = RUN_OUT_MAX - p->out_len, take = n < room ? n : room;

	if (take && p->out_len + take + 1 > p->out_cap) {
		size_t cap = p->out_cap ? p->out_cap : 4096;
		char *nb;

		while (cap < p->out_len + take + 1)
			cap *= 2;
		if (cap > RUN_OUT_MAX + 1)
			cap = RUN_OUT_MAX + 1;
		nb = realloc(p->out, cap);
		if (!nb) {
			p->out_dropped += n;
			return;
		}
		p->out = nb;
		p->out_cap = cap;
	}
	if (take) {
		memcpy(p->out + p->out_len, buf, take);
		p->out_len += take;
		p->out[p->out_len] = '\0';
	}
	p->out_dropped += n - take;
}

/* Append to stderr: keep the tail. The buffer holds two caps' worth and
 * slides only when full, so the copying stays linear. */
static void err_append(struct run_proc *p, const char *buf, size_t n)
{
	if (n > RUN_ERR_MAX) {
		p->err_dropped += p->err_len + (n - RUN_ERR_MAX);
		p->err_len = 0;
		buf += n - RUN_ERR_MAX;
		n = RUN_ERR_MAX;
	}
	if (p->err_len + n > 2 * RUN_ERR_MAX) {
		size_t keep = RUN_ERR_MAX - n, drop = p->err_len - keep;

		memmove(p->err, p->err + drop, keep);
		p->err_dropped += drop;
		p->err_len = keep;
	}
	memcpy(p->err + p->err_len, buf, n);
	p->err_len += n;
	p->err[p->err_len] = '\0';
}

/* Match each complete stdout line against the ready pattern. */
static void line_append(struct run_proc *p, const char *buf, size_t n)
{
	for (size_t i = 0; i < n && !p->res.ready; i++) {
		if (buf[i] == '\n') {
			p->line[p->line_len] = '\0';
			if (regexec(&p->re, p->line, 0, NULL, 0) == 0)
				p->res.ready = true;
			p->line_len = 0;
		} else if (p->line_len < RUN_LINE_MAX) {
			p->line[p->line_len++] = buf[i] ? buf[i] : ' ';
		}
	}
}

static void ready_append(struct run_proc *p, const char *buf, size_t n)
{
	for (size_t i = 0; i < n && !p->res.ready; i++) {
		char c = buf[i];

		if (c == '\n') {
			if (p->ready_len && p->ready_buf[p->ready_len - 1] == '\r')
				p->ready_len--;
			if (p->ready_len == 5 && memcmp(p->ready_buf, "ready", 5) == 0)
				p->res.ready = true;
			p->ready_len = 0;
		} else if (p->ready_len < sizeof(p->ready_buf)) {
			p->ready_buf[p->ready_len++] = c;
		}
	}
}

static void status_append(struct run_proc *p, const char *buf, size_t n)
{
	struct child_msg m;

	if (n > sizeof(p->status_buf) - p->status_len)
		n = sizeof(p->status_buf) - p->status_len;
	memcpy(p->status_buf + p->status_len, buf, n);
	p->status_len += n;
	if (p->status_len == sizeof(m)) {
		memcpy(&m, p->status_buf, sizeof(m));
		if (m.step > STEP_NONE && m.step <= STEP_EXEC) {
			p->res.setup_errno = m.err ? m.err : EIO;
			p->res.setup_step = step_names[m.step];
		}
	}
}

/* Read what is there on one descriptor, once or until it would block.
 * Closes it at end of file or on error. */
static void proc_read(struct run_proc *p, int *fd, bool drain)
{
	char buf[16384];

	while (*fd >= 0) {
		ssize_t r = read(*fd, buf, sizeof(buf));

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == EAGAIN)
			return;
		if (r <= 0) {
			if (r < 0)
				log_warn("run %s: read", p->name);
			if (fd == &p->fd_ready && p->ready_len == 5 &&
			    memcmp(p->ready_buf, "ready", 5) == 0)
				p->res.ready = true; /* "ready" without the newline */
			xclose(fd);
			return;
		}
		if (fd == &p->fd_out && p->has_re && !p->res.ready)
			line_append(p, buf, (size_t)r);
		if (fd == &p->fd_out)
			out_append(p, buf, (size_t)r);
		else if (fd == &p->fd_err)
			err_append(p, buf, (size_t)r);
		else if (fd == &p->fd_ready)
			ready_append(p, buf, (size_t)r);
		else
			status_append(p, buf, (size_t)r);
		if (!drain)
			return;
	}
}

/* Signal the process's whole group while the leader is unreaped (so the
 * group id cannot have been reused), or the leader itself when there is no
 * such group (it could not be made). Not both: the leader would get the
 * signal twice, and a TERM trap ran twice under load (test_run's "bye"). */
static void proc_kill(struct run_proc *p, int sig)
{
	if (p->pid <= 0 || p->res.state == RUN_EXITED || p->res.state == RUN_ADDED)
		return;
	if (kill(-p->pid, sig) < 0)
		kill(p->pid, sig);
}

/* The pidfd said the leader exited: take its stragglers down, reap it, and
 * collect everything it wrote before it went. */
static void proc_reap(struct run_proc *p)
{
	siginfo_t si;

	kill(-p->pid, SIGKILL);
	if (childwatch_reap(p->pidfd, p->pid, &si) < 0) {
		/* Someone else reaped it (a waitpid(-1) elsewhere in the caller). */
		log_warn("run %s: waitid", p->name);
		si.si_code = 0;
	}
	if (si.si_code == CLD_EXITED) {
		p->res.exit_code = si.si_status;
	} else if (si.si_code == CLD_KILLED || si.si_code == CLD_DUMPED) {
		p->res.signal = si.si_status;
	}
	p->t_end = mtime_now();
	p->res.state = RUN_EXITED;
	childwatch_close(&p->pidfd);
	/* A straggler that left the group may still hold the pipes: take what is
	 * buffered and close, rather than wait for an end of file. */
	proc_read(p, &p->fd_status, true);
	proc_read(p, &p->fd_out, true);
	proc_read(p, &p->fd_err, true);
	proc_read(p, &p->fd_ready, true);
	xclose(&p->fd_status);
	xclose(&p->fd_out);
	xclose(&p->fd_err);
	xclose(&p->fd_ready);
}

typedef bool (*run_done_fn)(const struct run_group *g, const struct run_proc *p);

/* The event loop: poll every open descriptor of the group until done()
 * holds. Returns 0, -ETIMEDOUT at the deadline, -ECHILD when nothing is
 * left that could change anything, or -errno from poll. */
static int run_pump(struct run_group *g, mtime_ms deadline, run_done_fn done, const struct run_proc *arg)
{
	struct pollfd *pfd;
	int **slot;
	struct run_proc **owner;
	int r = 0;

	pfd = calloc(g->n * 5 + 1, sizeof(*pfd));
	slot = calloc(g->n * 5 + 1, sizeof(*slot));
	owner = calloc(g->n * 5 + 1, sizeof(*owner));
	if (!pfd || !slot || !owner) {
		r = -ENOMEM;
		goto cleanup;
	}
	for (;;) {
		size_t n = 0;
		mtime_ms now;
		int pr;

		if (done(g, arg))
			break;
		for (size_t i = 0; i < g->n; i++) {
			struct run_proc *p = g->procs[i];
			int *fds[] = { &p->pidfd, &p->fd_status, &p->fd_out, &p->fd_err, &p->fd_ready };

			for (size_t k = 0; k < 5; k++) {
				if (*fds[k] < 0)
					continue;
				pfd[n].fd = *fds[k];
				pfd[n].events = POLLIN;
				pfd[n].revents = 0;
				slot[n] = fds[k];
				owner[n++] = p;
			}
		}
		if (n == 0) {
			r = -ECHILD;
			break;
		}
		now = mtime_now();
		if (deadline >= 0 && now >= deadline) {
			r = -ETIMEDOUT;
			break;
		}
		pr = poll(pfd, n, mtime_until(now, deadline));
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr < 0) {
			r = -errno;
			break;
		}
		for (size_t i = 0; i < n; i++) {
			struct run_proc *p = owner[i];

			if (!pfd[i].revents || *slot[i] != pfd[i].fd)
				continue; /* closed meanwhile by a reap */
			if (slot[i] == &p->pidfd) {
				if (childwatch_exited(p->pidfd, p->pid))
					proc_reap(p);
			} else {
				proc_read(p, slot[i], false);
			}
		}
	}
cleanup:
	free(pfd);
	free(slot);
	free(owner);
	return r;
}

static bool proc_live(const struct run_proc *p)
{
	return p->res.state == RUN_WAITING || p->res.state == RUN_RUNNING;
}

static bool done_foreground(const struct run_group *g, const struct run_proc *unused)
{
	for (size_t i = 0; i < g->n; i++)
		if (!g->procs[i]->background && proc_live(g->procs[i]))
			return false;
	return true;
}

static bool done_timed_out(const struct run_group *g, const struct run_proc *unused)
{
	for (size_t i = 0; i < g->n; i++)
		if (g->procs[i]->res.timed_out && proc_live(g->procs[i]))
			return false;
	return true;
}

static bool done_exited(const struct run_group *g, const struct run_proc *p)
{
	return !proc_live(p);
}

static bool done_ready(const struct run_group *g, const struct run_proc *p)
{
	return p->res.ready || !proc_live(p) || (p->ready_child_fd >= 0 && p->fd_ready < 0);
}

/* Is a socket on the port in one of /proc/PID/net/{udp,udp6,tcp,tcp6}? The
 * files are those of the process's own network namespace. A UDP socket
 * counts once bound, a TCP one once listening (state 0A). */
static bool port_bound(pid_t pid, uint16_t port, int proto)
{
	static const struct {
		const char *file;
		int proto;
	} files[] = { { "udp", 17 }, { "udp6", 17 }, { "tcp", 6 }, { "tcp6", 6 } };

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char path[64], line[512];
		FILE *f;
		bool found = false;

		if (proto && proto != files[i].proto)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/net/%s", (int)pid, files[i].file);
		f = fopen(path, "re");
		if (!f)
			continue;
		while (!found && fgets(line, sizeof(line), f)) {
			unsigned lport, state;
			char *colon = strchr(line, ':');

			/* "  sl  local_address rem_address   st ...": "0: 0A00A8C0:1092 00000000:0000 07" */
			colon = colon ? strchr(colon + 1, ':') : NULL;
			if (!colon || sscanf(colon + 1, "%x %*s %x", &lport, &state) != 2)
				continue;
			found = lport == port && (files[i].proto == 17 || state == 0x0A);
		}
		fclose(f);
		if (found)
			return true;
	}
	return false;
}

int run_wait_ready(struct run_group *g, struct run_proc *p, mtime_ms deadline)
{
	int r;

	if ((p->ready_child_fd < 0 && !p->has_re && !p->ready_port) || p->res.state == RUN_ADDED ||
	    p->res.state == RUN_WAITING)
		return -EINVAL;
	for (;;) {
		mtime_ms now = mtime_now(), until = deadline;

		/* No event says a socket was bound: look every RUN_PORT_POLL_MS. */
		if (p->ready_port) {
			if (proc_live(p) && port_bound(p->pid, p->ready_port, p->ready_proto))
				p->res.ready = true;
			if (!p->res.ready && (deadline < 0 || now + RUN_PORT_POLL_MS < deadline))
				until = now + RUN_PORT_POLL_MS;
		}
		r = run_pump(g, until, done_ready, p);
		if (p->res.ready)
			return 0;
		if (r == -ETIMEDOUT && until != deadline)
			continue;
		if (r == -ETIMEDOUT || (r < 0 && r != -ECHILD))
			return r;
		return -ESRCH;
	}
}

int run_wait(struct run_group *g, mtime_ms deadline)
{
	int r, late = 0;

	r = run_pump(g, deadline, done_foreground, NULL);
	if (r == 0 || r == -ECHILD)
		return 0;
	if (r != -ETIMEDOUT)
		return r;
	for (size_t i = 0; i < g->n; i++) {
		struct run_proc *p = g->procs[i];

		if (!p->background && proc_live(p)) {
			p->res.timed_out = true;
			late++;
			proc_kill(p, SIGTERM);
		}
	}
	r = run_pump(g, mtime_now() + g->grace_ms, done_timed_out, NULL);
	if (r == -ETIMEDOUT) {
		for (size_t i = 0; i < g->n; i++)
			if (g->procs[i]->res.timed_out)
				proc_kill(g->procs[i], SIGKILL);
		r = run_pump(g, mtime_now() + RUN_KILL_WAIT_MS, done_timed_out, NULL);
	}
	if (r < 0 && r != -ECHILD)
		return r;
	return late;
}

static bool done_never(const struct run_group *g, const struct run_proc *unused)
{
	return false;
}

int run_wait_until(struct run_group *g, mtime_ms when)
{
	int r = run_pump(g, when, done_never, NULL);

	if (r == -ECHILD) {
		/* Nothing left to watch: the time still has to pass. */
		for (mtime_ms now = mtime_now(); now < when; now = mtime_now())
			if (poll(NULL, 0, mtime_until(now, when)) < 0 && errno != EINTR)
				return -errno;
		return 0;
	}
	return r == -ETIMEDOUT ? 0 : r;
}

int run_wait_until_done(struct run_group *g, mtime_ms when)
{
	int r = run_pump(g, when, done_foreground, NULL);

	if (r == 0 || r == -ECHILD)
		return 1;
	return r == -ETIMEDOUT ? 0 : r;
}

int run_start_ready(struct run_group *g, struct run_proc *p, mtime_ms deadline)
{
	int rc;

	run_set_background(p, true);
	rc = run_start(g, p);
	if (rc >= 0)
		rc = run_release(g);
	if (rc >= 0)
		rc = run_wait_ready(g, p, deadline);
	return rc < 0 ? rc : 0;
}

/* The later starts of run_start_pair(). */
static int start_delayed(struct run_group *g, struct run_proc *const procs[2], const uint32_t delay_ms[2], mtime_ms t0)
{
	for (int i = 0; i < 2; i++) {
		int k = delay_ms[0] > delay_ms[1] ? 1 - i : i, rc;

		if (!delay_ms[k])
			continue;
		rc = run_wait_until(g, t0 + delay_ms[k]);
		if (rc >= 0)
			rc = run_start(g, procs[k]);
		if (rc >= 0)
			rc = run_release(g);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int run_start_pair(struct run_group *g, struct run_proc *const procs[2], const uint32_t delay_ms[2], mtime_ms *t0)
{
	int rc;

	for (int k = 0; k < 2; k++) {
		if (delay_ms[k])
			continue; /* forked at its time */
		rc = run_start(g, procs[k]);
		if (rc < 0)
			return rc;
	}
	rc = run_release(g);
	if (rc < 0)
		return rc;
	*t0 = mtime_now();
	return start_delayed(g, procs, delay_ms, *t0);
}

int run_stop(struct run_group *g, struct run_proc *p)
{
	int r;

	if (!proc_live(p))
		return 0;
	p->res.stopped = true;
	/* Still at the barrier there is no program to ask nicely. */
	proc_kill(p, p->res.state == RUN_WAITING ? SIGKILL : SIGTERM);
	r = run_pump(g, mtime_now() + g->grace_ms, done_exited, p);
	if (r == -ETIMEDOUT) {
		proc_kill(p, SIGKILL);
		r = run_pump(g, mtime_now() + RUN_KILL_WAIT_MS, done_exited, p);
	}
	if (r == -ECHILD)
		r = 0;
	return r;
}

const struct run_result *run_result(struct run_proc *p)
{
	struct run_result *res = &p->res;
	size_t off = p->err_len > RUN_ERR_MAX ? p->err_len - RUN_ERR_MAX : 0;

	res->out = p->out ? p->out : "";
	res->out_len = p->out_len;
	res->out_dropped = p->out_dropped;
	res->err = p->err + off;
	res->err_len = p->err_len - off;
	res->err_dropped = p->err_dropped + off;
	if (!p->t_release)
		res->run_ms = 0;
	else if (res->state == RUN_EXITED)
		res->run_ms = p->t_end - p->t_release;
	else
		res->run_ms = mtime_now() - p->t_release;
	return res;
}

const char *run_describe(struct run_proc *p, char *buf, size_t size)
{
	const struct run_result *r = run_result(p);
	const char *why = r->timed_out ? " (timed out)" : r->stopped ? " (stopped)" : "";

	if (!size)
		return buf;
	if (r->state == RUN_ADDED)
		snprintf(buf, size, "not started");
	else if (r->state != RUN_EXITED)
		snprintf(buf, size, "running");
	else if (r->setup_errno)
		snprintf(buf, size, "could not start: %s%s%s: %s", r->setup_step,
			 strcmp(r->setup_step, "exec") ? "" : " ",
			 strcmp(r->setup_step, "exec") ? "" : p->argv[0], strerror(r->setup_errno));
	else if (r->signal)
		snprintf(buf, size, "killed by SIG%s%s",
			 sigabbrev_np(r->signal) ? sigabbrev_np(r->signal) : "?", why);
	else if (r->exit_code >= 0)
		snprintf(buf, size, "exited %d%s", r->exit_code, why);
	else
		snprintf(buf, size, "ended, status unknown%s", why);
	return buf;
}

void run_group_destroy(struct run_group *g)
{
	if (!g)
		return;
	/* No grace here: this is the cleanup path. Closing the barrier lets
	 * anything still waiting at it exit on its own as well. */
	xclose(&g->barrier_w);
	xclose(&g->barrier_r);
	for (size_t i = 0; i < g->n; i++)
		proc_kill(g->procs[i], SIGKILL);
	for (size_t i = 0; i < g->n; i++) {
		struct run_proc *p = g->procs[i];

		if (p->pidfd >= 0)
			proc_reap(p);
		proc_free(p);
	}
	free(g->procs);
	free(g);
}
