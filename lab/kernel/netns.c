/* Network namespaces held by child processes that die with us. See netns.h.
 *
 * The holder is forked, not exec'd: it only makes system calls, so it is safe
 * to fork even from a process with other threads. It closes every fd it
 * inherited, so it never keeps another namespace (or a socket, or the
 * caller's stdout pipe) alive behind our back.
 */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/nsfs.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "kernel/childwatch.h"
#include "kernel/netns.h"

#define NETNS_NAME_MAX 64
#define SYSCTL_KEY_MAX 200

struct netns {
	char name[NETNS_NAME_MAX];
	pid_t pid;
	int pidfd;              /* -1 where pidfd_open() is not available */
	int fd;                 /* /proc/PID/ns/net */
	unsigned long inode;
};

static int sysctl_path(const char *key, char *path, size_t size);

/* What a holder writes in its namespace as it starts: sysctl files (paths
 * made by sysctl_path() before the fork) and their values. */
struct holder_sysctls {
	char (*paths)[SYSCTL_KEY_MAX + 32];
	const struct netns_sysctl_set *set;
	int n;
};

/* hs's sysctls written in the caller's namespace. Returns 0 or an errno,
 * with *failed the index of the key that failed. Plain system calls only. */
static int holder_sysctls(const struct holder_sysctls *hs, int *failed)
{
	for (int i = 0; hs && i < hs->n; i++) {
		size_t len = strlen(hs->set[i].value);
		int fd = open(hs->paths[i], O_WRONLY | O_CLOEXEC), err = 0;
		ssize_t n;

		if (fd < 0) {
			err = errno;
		} else {
			n = write(fd, hs->set[i].value, len);
			err = n < 0 ? errno : (size_t)n != len ? EIO : 0;
			close(fd);
		}
		if (err && !(err == ENOENT && hs->set[i].optional)) {
			*failed = i;
			return err;
		}
	}
	return 0;
}

/* The holder: everything here must be a plain system call (we may have been
 * forked from a multi-threaded process). Sets lo up and hs's sysctls, reports
 * 0 or an errno (and the index of a sysctl that failed, else -1) through wfd,
 * then waits for SIGKILL, from us or from the kernel when our parent dies. */
static void holder_main(int wfd, pid_t parent, const struct holder_sysctls *hs)
{
	int err = 0, report[2];
	int devnull, s;
	struct ifreq ifr;

	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
		_exit(1);
	/* The parent may have died between fork() and prctl(): then nobody
	 * would ever kill us. */
	if (getppid() != parent)
		_exit(1);

	/* Keep only the readiness pipe; point stdio at /dev/null so we do
	 * not hold the caller's terminal or output pipe open. */
	if (wfd != 3) {
		if (dup2(wfd, 3) < 0)
			_exit(1);
		wfd = 3;
	}
	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull >= 0) {
		dup2(devnull, 0);
		dup2(devnull, 1);
		dup2(devnull, 2);
	}
	if (syscall(SYS_close_range, 4U, ~0U, 0U) < 0) {
		for (int fd = 4; fd < 1024; fd++)
			close(fd);
	}
	/* Terminal signals (Ctrl-C) are for the orchestrator, which decides
	 * when namespaces go away. */
	setpgid(0, 0);

	if (unshare(CLONE_NEWNET) < 0) {
		err = errno;
		goto report;
	}
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0) {
		err = errno;
		goto report;
	}
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, "lo", 3);
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0) {
		err = errno;
	} else {
		ifr.ifr_flags |= IFF_UP;
		if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
			err = errno;
	}
	close(s);
	report[1] = -1;
	if (!err)
		err = holder_sysctls(hs, &report[1]);
report:
	report[0] = err;
	if (write(wfd, report, sizeof(report)) != (ssize_t)sizeof(report))
		_exit(1);
	close(wfd);
	if (err)
		_exit(1);
	for (;;)
		pause();
}

static void kill_and_reap(pid_t pid, int pidfd)
{
	siginfo_t si;

	if (pidfd >= 0) {
		/* A pidfd cannot hit a recycled PID even if someone else
		 * reaped our holder. */
		if (pidfd_send_signal(pidfd, SIGKILL, NULL, 0) < 0 && errno != ESRCH)
			log_warn("netns: pidfd_send_signal %d", (int)pid);
		while (waitid(P_PIDFD, pidfd, &si, WEXITED) < 0 && errno == EINTR)
			;
		close(pidfd);
		return;
	}
	if (kill(pid, SIGKILL) < 0 && errno != ESRCH)
		log_warn("netns: kill %d", (int)pid);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

/* A handle with nothing open yet. */
static struct netns *ns_alloc(const char *name)
{
	struct netns *ns = calloc(1, sizeof(*ns));

	if (ns) {
		ns->pid = -1;
		ns->pidfd = -1;
		ns->fd = -1;
		snprintf(ns->name, sizeof(ns->name), "%s", name);
	}
	return ns;
}

/* First half of netns_create(): the holder forked, *rfd the pipe on which it
 * reports. Returns 0 and *out (with a holder) or -errno. */
static int ns_spawn(const char *name, const struct holder_sysctls *hs, struct netns **out, int *rfd)
{
	struct netns *ns = NULL;
	int pipefd[2] = { -1, -1 };
	int err = 0;
	pid_t parent = getpid();

	*out = NULL;
	*rfd = -1;
	if (name == NULL || name[0] == '\0' || strlen(name) >= NETNS_NAME_MAX) {
		log_warnx("netns: bad namespace name");
		return -EINVAL;
	}
	if (gettid() != parent) {
		/* PR_SET_PDEATHSIG fires when the forking *thread* exits. */
		log_warnx("netns %s: netns_create must be called from the main thread", name);
		return -EINVAL;
	}
	ns = ns_alloc(name);
	if (ns == NULL)
		return -ENOMEM;

	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		err = -errno;
		log_warn("netns %s: pipe2", name);
		goto cleanup;
	}
	ns->pid = fork();
	if (ns->pid < 0) {
		err = -errno;
		log_warn("netns %s: fork", name);
		goto cleanup;
	}
	if (ns->pid == 0) {
		close(pipefd[0]);
		holder_main(pipefd[1], parent, hs);
		_exit(1);
	}
	close(pipefd[1]);
	pipefd[1] = -1;
	/* without pidfds (childwatch.h) the holder is killed and reaped by its PID */
	errno = ENOSYS;
	ns->pidfd = childwatch_fallback() ? -1 : pidfd_open(ns->pid, 0);
	if (ns->pidfd < 0 && errno != ENOSYS && errno != EPERM) {
		err = -errno;
		log_warn("netns %s: pidfd_open", name);
		goto cleanup;
	}
	*out = ns;
	*rfd = pipefd[0];
	return 0;
cleanup:
	if (pipefd[0] >= 0)
		close(pipefd[0]);
	if (pipefd[1] >= 0)
		close(pipefd[1]);
	netns_destroy(ns);
	return err;
}

/* Second half: the holder's report read from rfd (closed here), the
 * namespace opened. Returns 0, or -errno (ns is then still the caller's to
 * destroy). */
static int ns_ready(struct netns *ns, int rfd, int *failed)
{
	int err = 0, report[2] = { 0, -1 }, cerr;
	char path[64];
	struct stat st;
	ssize_t n;

	do
		n = read(rfd, report, sizeof(report));
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof(report)) {
		err = n < 0 ? -errno : -ECHILD;
		log_warnx("netns %s: the holder process died before it was ready", ns->name);
		goto cleanup;
	}
	cerr = report[0];
	if (cerr != 0) {
		err = -cerr;
		errno = cerr;
		if (failed)
			*failed = report[1];
		if (report[1] < 0)
			log_warn("netns %s: creating the network namespace", ns->name);
		goto cleanup;
	}
	snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)ns->pid);
	ns->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (ns->fd < 0) {
		err = -errno;
		log_warn("netns %s: open %s", ns->name, path);
		goto cleanup;
	}
	if (fstat(ns->fd, &st) < 0) {
		err = -errno;
		log_warn("netns %s: fstat %s", ns->name, path);
		goto cleanup;
	}
	ns->inode = (unsigned long)st.st_ino;
	log_debug("netns %s: holder %d, net:[%lu]", ns->name, (int)ns->pid, ns->inode);
cleanup:
	close(rfd);
	return err;
}

int netns_create(const char *name, struct netns **out)
{
	struct netns *ns;
	int rfd, err = ns_spawn(name, NULL, &ns, &rfd);

	if (err < 0)
		return err;
	err = ns_ready(ns, rfd, NULL);
	if (err < 0) {
		netns_destroy(ns);
		return err;
	}
	*out = ns;
	return 0;
}

/* sys's keys as holder_sysctls (hs->paths malloc'd). Returns 0, or -EINVAL
 * with sys->failed the bad key's index. */
static int holder_sysctls_prepare(struct netns_sysctls *sys, const char *name, struct holder_sysctls *hs)
{
	hs->set = sys->set;
	hs->n = sys->n;
	hs->paths = calloc((size_t)sys->n + 1, sizeof(*hs->paths));
	if (!hs->paths)
		return -ENOMEM;
	for (int i = 0; i < sys->n; i++) {
		if (!sys->set[i].value || sysctl_path(sys->set[i].key, hs->paths[i], sizeof(hs->paths[i])) < 0) {
			log_warnx("netns %s: bad sysctl key \"%s\" (only net.* keys, no \"..\")", name,
				  sys->set[i].key ? sys->set[i].key : "(null)");
			sys->failed = i;
			return -EINVAL;
		}
	}
	return 0;
}

int netns_create_many_sysctl(const char *const *names, struct netns_sysctls *sys, int n, struct netns **out)
{
	int *rfd = calloc((size_t)n + 1, sizeof(*rfd)), err = 0, k;
	struct holder_sysctls *hs = calloc((size_t)n + 1, sizeof(*hs));

	if (!rfd || !hs) {
		free(rfd);
		free(hs);
		return -ENOMEM;
	}
	for (k = 0; k < n; k++) {
		out[k] = NULL;
		if (sys)
			sys[k].failed = -1;
	}
	for (k = 0; sys && k < n && err == 0; k++)
		err = holder_sysctls_prepare(&sys[k], names[k], &hs[k]);
	/* Every holder forked first: their unshare() calls (and sysctl writes) then run at once. */
	for (k = 0; k < n && err == 0; k++)
		err = ns_spawn(names[k], sys ? &hs[k] : NULL, &out[k], &rfd[k]);
	for (int i = 0; i < k; i++) {
		int r = out[i] ? ns_ready(out[i], rfd[i], sys ? &sys[i].failed : NULL) : 0;

		if (r < 0 && err == 0)
			err = r;
	}
	/* One failure: none of them. */
	for (int i = 0; err < 0 && i < n; i++) {
		netns_destroy(out[i]);
		out[i] = NULL;
	}
	for (int i = 0; i < n; i++)
		free(hs[i].paths);
	free(hs);
	free(rfd);
	return err;
}

int netns_create_many(const char *const *names, int n, struct netns **out)
{
	return netns_create_many_sysctl(names, NULL, n, out);
}

int netns_open_path(const char *path, const char *name, struct netns **out)
{
	struct netns *ns;
	struct stat st;
	int err;

	*out = NULL;
	if (path == NULL || name == NULL || name[0] == '\0' || strlen(name) >= NETNS_NAME_MAX)
		return -EINVAL;
	ns = ns_alloc(name);
	if (ns == NULL)
		return -ENOMEM;
	ns->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (ns->fd < 0) {
		err = -errno;
		log_warn("netns %s: open %s", name, path);
		goto cleanup;
	}
	/* Refuse anything setns(CLONE_NEWNET) would refuse later. */
	if (ioctl(ns->fd, NS_GET_NSTYPE) != CLONE_NEWNET) {
		err = -EINVAL;
		log_warnx("netns %s: %s is not a network namespace", name, path);
		goto cleanup;
	}
	if (fstat(ns->fd, &st) < 0) {
		err = -errno;
		goto cleanup;
	}
	ns->inode = (unsigned long)st.st_ino;
	*out = ns;
	return 0;
cleanup:
	netns_destroy(ns);
	return err;
}

void netns_destroy(struct netns *ns)
{
	if (ns == NULL)
		return;
	if (ns->fd >= 0)
		close(ns->fd);
	if (ns->pid > 0)
		kill_and_reap(ns->pid, ns->pidfd);
	else if (ns->pidfd >= 0)
		close(ns->pidfd);
	free(ns);
}

void netns_destroy_many(struct netns **ns, int n)
{
	/* Every holder killed first, then reaped: their exits (and the kernel's
	 * release of each namespace, which then goes on in the background)
	 * overlap instead of queueing behind one another. */
	for (int i = 0; i < n; i++) {
		if (!ns[i] || ns[i]->pid <= 0)
			continue;
		if (ns[i]->pidfd >= 0 ? pidfd_send_signal(ns[i]->pidfd, SIGKILL, NULL, 0) < 0
				      : kill(ns[i]->pid, SIGKILL) < 0) {
			if (errno != ESRCH)
				log_warn("netns: killing holder %d", (int)ns[i]->pid);
		}
	}
	for (int i = 0; i < n; i++)
		netns_destroy(ns[i]);
}

int netns_fd(const struct netns *ns)
{
	return ns->fd;
}

const char *netns_name(const struct netns *ns)
{
	return ns->name;
}

pid_t netns_pid(const struct netns *ns)
{
	return ns->pid;
}

unsigned long netns_inode(const struct netns *ns)
{
	return ns->inode;
}

struct run_call {
	int fd;
	int (*fn)(void *arg);
	void *arg;
	int ret;
};

static void *run_thread(void *p)
{
	struct run_call *rc = p;

	if (setns(rc->fd, CLONE_NEWNET) < 0) {
		rc->ret = -errno;
		return NULL;
	}
	rc->ret = rc->fn(rc->arg);
	return NULL;
}

/* start(arg) in a thread of its own, waited for: the thread may setns()
 * without moving the caller. name (NULL: none) is for the warning. Returns
 * 0 or -errno of pthread_create. */
static int thread_run(void *(*start)(void *), void *arg, const char *name)
{
	sigset_t all, old;
	pthread_t t;
	int err;

	/* Signals stay with the main thread: the helper starts with all of
	 * them blocked. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_create(&t, NULL, start, arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err != 0) {
		errno = err;
		log_warn("netns%s%s: pthread_create", name ? " " : "", name ? name : "");
		return -err;
	}
	pthread_join(t, NULL);
	return 0;
}

int netns_run(struct netns *ns, int (*fn)(void *arg), void *arg)
{
	struct run_call rc = { .fd = ns->fd, .fn = fn, .arg = arg, .ret = 0 };
	int err = thread_run(run_thread, &rc, ns->name);

	return err < 0 ? err : rc.ret;
}

struct run_each {
	struct netns *const *ns;
	int n;
	int (*fn)(void *arg, int i);
	void *arg;
	int ret;
};

static void *run_each_thread(void *p)
{
	struct run_each *re = p;

	for (int i = 0; i < re->n && re->ret == 0; i++) {
		if (setns(re->ns[i]->fd, CLONE_NEWNET) < 0)
			re->ret = -errno;
		else
			re->ret = re->fn(re->arg, i);
	}
	return NULL;
}

int netns_run_each(struct netns *const *ns, int n, int (*fn)(void *arg, int i), void *arg)
{
	struct run_each re = { .ns = ns, .n = n, .fn = fn, .arg = arg, .ret = 0 };
	int err;

	if (n <= 0)
		return 0;
	/* One thread for them all, as in netns_run(): under load every thread
	 * started and joined is a wait for the scheduler. */
	err = thread_run(run_each_thread, &re, NULL);
	return err < 0 ? err : re.ret;
}

/* "net.ipv4.ip_forward" or "net/ipv4/conf/all/rp_filter" to
 * "/proc/sys/net/...". Rejects anything outside net/ and any "."/".."/empty
 * component, so a key can never walk out of /proc/sys/net. */
static int sysctl_path(const char *key, char *path, size_t size)
{
	size_t len = key ? strlen(key) : 0;
	bool slashes = key && strchr(key, '/') != NULL;
	char sep = slashes ? '/' : '.';
	const char *comp;
	int n;

	if (len == 0 || len > SYSCTL_KEY_MAX)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		char c = key[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-' || c == '.' || c == '/'))
			return -EINVAL;
	}
	if (strncmp(key, slashes ? "net/" : "net.", 4) != 0)
		return -EINVAL;
	comp = key;
	for (;;) {
		const char *end = strchr(comp, sep);
		size_t clen = end ? (size_t)(end - comp) : strlen(comp);
		if (clen == 0 || (clen == 1 && comp[0] == '.') ||
		    (clen == 2 && comp[0] == '.' && comp[1] == '.'))
			return -EINVAL;
		if (end == NULL)
			break;
		comp = end + 1;
	}
	n = snprintf(path, size, "/proc/sys/%s", key);
	if (n < 0 || (size_t)n >= size)
		return -EINVAL;
	if (!slashes) {
		for (char *p = path + strlen("/proc/sys/"); *p; p++)
			if (*p == '.')
				*p = '/';
	}
	return 0;
}

struct sysctl_call {
	const char *path;
	const char *value;      /* write this, or */
	char *buf;              /* read into this */
	size_t size;
};

static int sysctl_in_ns(void *arg)
{
	struct sysctl_call *sc = arg;
	int fd, err = 0;
	ssize_t n;

	/* /proc/sys/net resolves against the calling thread's namespace,
	 * which is ns here. */
	fd = open(sc->path, (sc->value ? O_WRONLY : O_RDONLY) | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (sc->value) {
		size_t len = strlen(sc->value);
		n = write(fd, sc->value, len);
		if (n < 0)
			err = -errno;
		else if ((size_t)n != len)
			err = -EIO;
	} else {
		n = read(fd, sc->buf, sc->size - 1);
		if (n < 0) {
			err = -errno;
		} else {
			sc->buf[n] = '\0';
			while (n > 0 && sc->buf[n - 1] == '\n')
				sc->buf[--n] = '\0';
		}
	}
	close(fd);
	return err;
}

int netns_sysctl(struct netns *ns, const char *key, const char *value)
{
	char path[SYSCTL_KEY_MAX + 32];
	struct sysctl_call sc = { .path = path, .value = value };
	int err;

	if (value == NULL || sysctl_path(key, path, sizeof(path)) < 0) {
		log_warnx("netns %s: bad sysctl key \"%s\" (only net.* keys, no \"..\")",
			  ns->name, key ? key : "(null)");
		return -EINVAL;
	}
	err = netns_run(ns, sysctl_in_ns, &sc);
	if (err < 0) {
		errno = -err;
		log_warn("netns %s: sysctl %s = %s", ns->name, key, value);
	}
	return err;
}

int netns_sysctl_get(struct netns *ns, const char *key, char *buf, size_t size)
{
	char path[SYSCTL_KEY_MAX + 32];
	struct sysctl_call sc = { .path = path, .buf = buf, .size = size };
	int err;

	if (buf == NULL || size < 2 || sysctl_path(key, path, sizeof(path)) < 0)
		return -EINVAL;
	err = netns_run(ns, sysctl_in_ns, &sc);
	if (err < 0) {
		errno = -err;
		log_warn("netns %s: sysctl %s", ns->name, key);
	}
	return err;
}

/* ---- rootless ---- */

static int write_file(const char *path, const char *text)
{
	size_t len = strlen(text);
	int fd, err = 0;
	ssize_t n;

	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = write(fd, text, len);
	if (n < 0)
		err = -errno;
	else if ((size_t)n != len)
		err = -EIO;
	close(fd);
	return err;
}

/* The first line of a small file, or "" when it cannot be read. */
static void read_line(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "re");

	buf[0] = '\0';
	if (f == NULL)
		return;
	if (fgets(buf, (int)size, f) == NULL)
		buf[0] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	fclose(f);
}

/* "Seccomp:\t2" in /proc/self/status means a filter is installed. */
static bool seccomp_filtered(void)
{
	char line[128];
	bool filtered = false;
	FILE *f = fopen("/proc/self/status", "re");

	if (f == NULL)
		return false;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "Seccomp:", 8) == 0) {
			filtered = atoi(line + 8) != 0;
			break;
		}
	}
	fclose(f);
	return filtered;
}

static void userns_disabled(int e, char *why, size_t whysize)
{
	snprintf(why, whysize, "unshare(CLONE_NEWUSER): %s: user namespaces are disabled "
		 "(user.max_user_namespaces = 0); enable them with "
		 "`sysctl -w user.max_user_namespaces=10000`, or run as root", strerror(e));
}

bool netns_apparmor_why(const char *restrict_value, const char *step, int e, char *why, size_t whysize)
{
	if (!restrict_value || strcmp(restrict_value, "1") != 0)
		return false;
	snprintf(why, whysize, "%s: %s: AppArmor restricts unprivileged user namespaces "
		 "(kernel.apparmor_restrict_unprivileged_userns = 1, as on Ubuntu 23.10 and later and "
		 "GitHub's hosted runners); run punchlab as root (sudo), or lift the restriction with "
		 "`sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0`, or load an AppArmor "
		 "profile granting `userns,` to punchlab", step, strerror(e));
	return true;
}

/* netns_apparmor_why with this kernel's setting. */
static bool explain_apparmor(const char *step, int e, char *why, size_t whysize)
{
	char v[64];

	read_line("/proc/sys/kernel/apparmor_restrict_unprivileged_userns", v, sizeof(v));
	return netns_apparmor_why(v, step, e, why, whysize);
}

static void explain_unshare(int e, char *why, size_t whysize)
{
	char v[64];

	if (e == EINVAL) {
		snprintf(why, whysize, "unshare(CLONE_NEWUSER): %s: the process is multi-threaded, or "
			 "the kernel lacks user namespaces (CONFIG_USER_NS); run as root instead",
			 strerror(e));
		return;
	}
	if (e == ENOSPC || e == EUSERS) {
		read_line("/proc/sys/user/max_user_namespaces", v, sizeof(v));
		if (strcmp(v, "0") == 0)
			userns_disabled(e, why, whysize);
		else
			snprintf(why, whysize, "unshare(CLONE_NEWUSER): %s: the user namespace limit "
				 "(user.max_user_namespaces = %s) or the nesting depth (32) is reached; "
				 "raise the limit or run as root", strerror(e), v[0] ? v : "?");
		return;
	}
	read_line("/proc/sys/kernel/unprivileged_userns_clone", v, sizeof(v));
	if (strcmp(v, "0") == 0) {
		snprintf(why, whysize, "unshare(CLONE_NEWUSER): %s: unprivileged user namespaces are "
			 "disabled (kernel.unprivileged_userns_clone = 0); enable them with "
			 "`sysctl -w kernel.unprivileged_userns_clone=1`, or run as root", strerror(e));
		return;
	}
	read_line("/proc/sys/user/max_user_namespaces", v, sizeof(v));
	if (strcmp(v, "0") == 0) {
		userns_disabled(e, why, whysize);
		return;
	}
	if (explain_apparmor("unshare(CLONE_NEWUSER)", e, why, whysize))
		return;
	if (seccomp_filtered()) {
		snprintf(why, whysize, "unshare(CLONE_NEWUSER): %s: a seccomp filter is installed on "
			 "this process (a container runtime or sandbox?) and probably denies it; run "
			 "punchlab as root, or without that filter (e.g. docker --security-opt "
			 "seccomp=unconfined)", strerror(e));
		return;
	}
	snprintf(why, whysize, "unshare(CLONE_NEWUSER): %s: the kernel does not allow this user to "
		 "create user namespaces (in a chroot, or a security module denies it); run as root",
		 strerror(e));
}

/* Fork a child that tries to create a network namespace in our new user
 * namespace, and report its errno (0: it works). */
static int probe_netns(void)
{
	pid_t pid;
	int status;

	pid = fork();
	if (pid < 0)
		return errno;
	if (pid == 0)
		_exit(unshare(CLONE_NEWNET) < 0 ? (errno & 0x7f) : 0);
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			return errno;
	}
	if (!WIFEXITED(status))
		return ECHILD;
	return WEXITSTATUS(status);
}

int netns_userns_enter(char *why, size_t whysize)
{
	uid_t uid = geteuid();
	gid_t gid = getegid();
	char map[64];
	int err, e;

	snprintf(why, whysize, "ok");
	if (unshare(CLONE_NEWUSER) < 0) {
		e = errno;
		explain_unshare(e, why, whysize);
		return -e;
	}
	/* Without "deny" an unprivileged process may not write gid_map. */
	err = write_file("/proc/self/setgroups", "deny");
	if (err < 0 && err != -ENOENT) {
		if (!explain_apparmor("writing /proc/self/setgroups", -err, why, whysize))
			snprintf(why, whysize, "writing /proc/self/setgroups: %s", strerror(-err));
		return err;
	}
	snprintf(map, sizeof(map), "0 %u 1\n", (unsigned)uid);
	err = write_file("/proc/self/uid_map", map);
	if (err < 0) {
		if (!explain_apparmor("writing /proc/self/uid_map", -err, why, whysize))
			snprintf(why, whysize, "writing /proc/self/uid_map \"0 %u 1\": %s; a security module "
				 "may deny id mapping; run as root", (unsigned)uid, strerror(-err));
		return err;
	}
	snprintf(map, sizeof(map), "0 %u 1\n", (unsigned)gid);
	err = write_file("/proc/self/gid_map", map);
	if (err < 0 && explain_apparmor("writing /proc/self/gid_map", -err, why, whysize))
		return err;
	if (err < 0) {
		snprintf(why, whysize, "writing /proc/self/gid_map \"0 %u 1\": %s; run as root",
			 (unsigned)gid, strerror(-err));
		return err;
	}
	e = probe_netns();
	if (e != 0) {
		if (explain_apparmor("a user namespace was created but not a network namespace in it", e,
				     why, whysize))
			return -e;
		if (seccomp_filtered())
			snprintf(why, whysize, "a user namespace was created but a network namespace "
				 "cannot be made in it (%s): a seccomp filter on this process probably "
				 "denies unshare(CLONE_NEWNET); run as root", strerror(e));
		else
			snprintf(why, whysize, "a user namespace was created but a network namespace "
				 "cannot be made in it (%s); run as root", strerror(e));
		return -e;
	}
	return 0;
}
