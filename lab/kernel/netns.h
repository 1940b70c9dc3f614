/* Network namespaces held by child processes that die with us.
 *
 * A namespace lives exactly as long as something references it. Here that
 * something is a tiny holder process per namespace: it asks the kernel to
 * SIGKILL it when its parent dies (PR_SET_PDEATHSIG), so even `kill -9` of
 * the orchestrator takes every namespace, and with it every link, address,
 * route, qdisc and ruleset inside, down with it. Nothing is ever mounted or
 * named in /run/netns.
 *
 * The main thread never leaves its own namespace: work inside a namespace
 * runs on a short-lived thread that setns()'d into it (netns_run), and the
 * sockets it opens stay bound to that namespace afterwards.
 */
#ifndef PUNCH_NETNS_H
#define PUNCH_NETNS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct netns;

/* Create a new network namespace held by a child process, with lo up.
 * name is for messages only (at most 63 bytes). Call it from the main thread:
 * the holder's death signal is tied to the thread that forked it, so a
 * holder forked by a thread that exits would take its namespace along.
 * Returns 0 and *out, or -errno (-EINVAL for a bad name or a call from
 * another thread; the holder's own failure, e.g. -EPERM from unshare). */
int netns_create(const char *name, struct netns **out);

/* netns_create() for n names at once: every holder is forked before any is
 * waited for, so the kernel builds the namespaces side by side. Fills
 * out[0..n) and returns 0, or returns the first failure's -errno with every
 * out[i] NULL (none is left). */
int netns_create_many(const char *const *names, int n, struct netns **out);

/* One sysctl to write (keys as for netns_sysctl()). An optional key may be
 * missing (-ENOENT: e.g. bridge netfilter not loaded). */
struct netns_sysctl_set {
	const char *key;
	const char *value;
	bool optional;
};

/* netns_create_many(), with sys[i]'s sysctls written by namespace i's
 * holder as soon as it has made it: the namespaces' settings too are
 * written side by side, with no thread sent into each. sys may be NULL. On
 * failure sys[i].failed is the index of namespace i's key that failed (a
 * bad key gives -EINVAL), else -1. */
struct netns_sysctls {
	const struct netns_sysctl_set *set;
	int n;
	int failed;
};
int netns_create_many_sysctl(const char *const *names, struct netns_sysctls *sys, int n, struct netns **out);

/* Open an existing network namespace by path (e.g. /run/netns/NAME, or
 * /proc/PID/ns/net) without a holder: destroying it only closes our fd.
 * Returns 0 or -errno (-EINVAL if path is not a network namespace). */
int netns_open_path(const char *path, const char *name, struct netns **out);

/* netns_destroy() of ns[0..n) (NULL entries skipped), every holder killed
 * before any is waited for. */
void netns_destroy_many(struct netns **ns, int n);

/* Kill and reap the holder and close our handle on the namespace. The
 * namespace disappears once nothing else (a socket opened in it, another
 * process) references it. NULL is fine. */
void netns_destroy(struct netns *ns);

/* An O_CLOEXEC fd for the namespace (/proc/PID/ns/net of the holder), valid
 * until netns_destroy(). */
int netns_fd(const struct netns *ns);
const char *netns_name(const struct netns *ns);
/* The holder's PID, or -1 for netns_open_path(). */
pid_t netns_pid(const struct netns *ns);
/* The namespace's inode number (what `ls -l /proc/PID/ns/net` shows). */
unsigned long netns_inode(const struct netns *ns);

/* Run fn(arg) on a short-lived thread that has setns()'d into ns. Sockets fn
 * opens stay in ns. Returns fn's return value, or -errno if the thread could
 * not be started or could not enter ns (fn is then not called). */
int netns_run(struct netns *ns, int (*fn)(void *arg), void *arg);

/* fn(arg, i) inside ns[i] for i = 0..n-1 in turn, all on one short-lived
 * thread. Stops at the first failure and returns it (fn's, or -errno of
 * entering ns[i]); 0 when every call returned 0. */
int netns_run_each(struct netns *const *ns, int n, int (*fn)(void *arg, int i), void *arg);

/* Write a sysctl inside ns. key: "net.ipv4.ip_forward" (dots become slashes)
 * or "net/ipv4/conf/all/rp_filter" (taken as is, for names with dots). Only
 * net.* keys are accepted: other sysctls are not per-namespace and would
 * change the host. Returns 0, -EINVAL for a bad key, or -errno of the write. */
int netns_sysctl(struct netns *ns, const char *key, const char *value);


/* Read a sysctl inside ns into buf (trailing newline removed). Same keys as
 * netns_sysctl. Returns 0 or -errno. */
int netns_sysctl_get(struct netns *ns, const char *key, char *buf, size_t size);

/* For rootless use: enter a new user namespace in which our uid and gid map
 * to root, so network namespaces can be created without privileges. Call it
 * once, first thing, while the process is still single-threaded. Afterwards
 * it checks that a network namespace can really be created there (a forked
 * probe), because some systems allow the user namespace but deny what it is
 * for. Returns 0, or -errno with why (a sentence or two: what the kernel
 * refused, the setting responsible if one can be identified, and what the
 * user can do). */
int netns_userns_enter(char *why, size_t whysize);

/* AppArmor's restriction of unprivileged user namespaces (Ubuntu 23.10 and
 * later, GitHub's hosted runners): creating one still succeeds, but the
 * process is confined to a profile without capabilities in it, so the id
 * maps or the network namespace fail. Given the value of
 * /proc/sys/kernel/apparmor_restrict_unprivileged_userns (NULL or "" when
 * absent), the step that failed and its errno: when the restriction is on,
 * writes why (the setting and the ways out: sudo, or the sysctl = 0) and
 * returns true; else returns false and leaves why alone. Pure. */
bool netns_apparmor_why(const char *restrict_value, const char *step, int e, char *why, size_t whysize);

#endif
