/* nftables through libnftables inside a namespace. See nft.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/netlink.h>

#include <json-c/json.h>
#include <nftables/libnftables.h>

#include "common/fdio.h"
#include "common/log.h"
#include "kernel/nft.h"

#define NFT_IDENT_MAX 64

struct nft_call {
	const char *cmd;
	const char *path;               /* run this file instead of cmd */
	const char *const *vars;        /* "NAME=value" defines, NULL-terminated, or NULL */
	bool json;
	char *out;
	char *err;
};

/* On the netns_run thread, inside the namespace. */
static int nft_in_ns(void *arg)
{
	struct nft_call *c = arg;
	struct nft_ctx *ctx;
	const char *out, *err;
	int rc, s;

	/* libnftables 1.0.x calls exit() when it cannot open its netlink
	 * socket; find out first, and fail like a library should. */
	s = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
	if (s < 0)
		return -errno;
	close(s);

	ctx = nft_ctx_new(NFT_CTX_DEFAULT);
	if (ctx == NULL)
		return -ENOMEM;
	if (nft_ctx_buffer_output(ctx) < 0 || nft_ctx_buffer_error(ctx) < 0) {
		nft_ctx_free(ctx);
		return -ENOMEM;
	}
	if (c->json)
		nft_ctx_output_set_flags(ctx, nft_ctx_output_get_flags(ctx) | NFT_CTX_OUTPUT_JSON);
	for (const char *const *v = c->vars; v && *v; v++)
		if (nft_ctx_add_var(ctx, *v) < 0) {
			nft_ctx_free(ctx);
			return -EINVAL;
		}
	rc = c->path ? nft_run_cmd_from_filename(ctx, c->path) : nft_run_cmd_from_buffer(ctx, c->cmd);
	out = nft_ctx_get_output_buffer(ctx);
	err = nft_ctx_get_error_buffer(ctx);
	if (rc != 0) {
		c->err = (err && err[0]) ? strdup(err) : NULL;
	} else {
		c->out = strdup(out ? out : "");
		if (c->out == NULL)
			rc = -ENOMEM;
	}
	nft_ctx_free(ctx);
	if (rc == -ENOMEM)
		return -ENOMEM;
	return rc != 0 ? -EINVAL : 0;
}

static int nft_call_run(struct netns *ns, struct nft_call *c, char **errtext)
{
	int err;

	if (errtext)
		*errtext = NULL;
	err = netns_run(ns, nft_in_ns, c);
	if (err < 0) {
		if (errtext)
			*errtext = c->err;
		else
			free(c->err);
		c->err = NULL;
		free(c->out);
		c->out = NULL;
	}
	return err;
}

int nft_load(struct netns *ns, const char *ruleset, char **errtext)
{
	struct nft_call c = { .cmd = ruleset };
	int err;

	if (ruleset == NULL)
		return -EINVAL;
	err = nft_call_run(ns, &c, errtext);
	free(c.out);
	return err;
}

int nft_load_file(struct netns *ns, const char *path, const char *const *vars, char **errtext)
{
	struct nft_call c = { .path = path, .vars = vars };
	int err;

	if (path == NULL)
		return -EINVAL;
	err = nft_call_run(ns, &c, errtext);
	free(c.out);
	return err;
}

struct nft_async {
	pid_t pid;              /* the loader, or -1 when the load was done at once */
	int fd;                 /* its report: an int (0 or -errno), then libnftables' error text */
	int rc;                 /* the result of a load done at once */
	char *err;
};

/* The loader child: into ns, load, report on wfd, exit. It was forked from a
 * single-threaded process, so libnftables (with its process-wide state) runs
 * here as it would in its own program. */
static void loader_main(struct netns *ns, const char *ruleset, int wfd, pid_t parent)
{
	struct nft_call c = { .cmd = ruleset };
	int rc;

	/* Gone with the lab's process, never left behind loading (netns.c's holders do the same). */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
		_exit(1);
	rc = setns(netns_fd(ns), CLONE_NEWNET) < 0 ? -errno : 0;
	/* Nothing of the parent's held open meanwhile (its output pipes, other
	 * namespaces): only the report pipe. */
	if (wfd > 3)
		syscall(SYS_close_range, 3U, (unsigned)wfd - 1, 0U);
	syscall(SYS_close_range, (unsigned)wfd + 1, ~0U, 0U);
	if (rc == 0)
		rc = nft_in_ns(&c);
	if (fd_write_all(wfd, &rc, sizeof(rc)) == 0 && c.err)
		fd_write_all(wfd, c.err, strlen(c.err));
	_exit(0);
}

int nft_load_start(struct netns *ns, const char *ruleset, struct nft_async **out)
{
	struct nft_async *a = calloc(1, sizeof(*a));
	int pfd[2];
	pid_t parent;

	*out = NULL;
	if (a == NULL)
		return -ENOMEM;
	a->pid = -1;
	a->fd = -1;
	/* From the main thread only: PR_SET_PDEATHSIG follows the thread that
	 * forked, not the process. Elsewhere (or without a pipe), load now. */
	if (ruleset == NULL || gettid() != getpid() || pipe2(pfd, O_CLOEXEC) < 0) {
		a->rc = nft_load(ns, ruleset, &a->err);
		*out = a;
		return 0;
	}
	parent = getpid();
	a->pid = fork();
	if (a->pid == 0) {
		close(pfd[0]);
		loader_main(ns, ruleset, pfd[1], parent);
	}
	close(pfd[1]);
	if (a->pid < 0) {
		close(pfd[0]);
		a->pid = -1;
		a->rc = nft_load(ns, ruleset, &a->err);
	} else {
		a->fd = pfd[0];
	}
	*out = a;
	return 0;
}

int nft_load_finish(struct nft_async *a, char **errtext)
{
	char *text = NULL;
	size_t len = 0;
	int rc, status;

	if (errtext)
		*errtext = NULL;
	if (a == NULL)
		return 0;
	if (a->pid < 0) {
		rc = a->rc;
		text = a->err;
	} else {
		FILE *m = open_memstream(&text, &len);
		char buf[4096];
		ssize_t n;
		size_t got = 0;

		rc = -ECHILD;   /* the loader died before it reported */
		while (m && ((n = read(a->fd, buf, sizeof(buf))) > 0 || (n < 0 && errno == EINTR))) {
			size_t skip = 0;

			if (n < 0)
				continue;
			for (; got < sizeof(rc) && skip < (size_t)n; skip++, got++)
				((char *)&rc)[got] = buf[skip];
			fwrite(buf + skip, 1, (size_t)n - skip, m);
		}
		if (m)
			fclose(m);
		if (got < sizeof(rc))
			rc = -ECHILD;
		close(a->fd);
		while (waitpid(a->pid, &status, 0) < 0 && errno == EINTR)
			;
		if (text && !text[0]) {
			free(text);
			text = NULL;
		}
	}
	if (errtext && rc < 0)
		*errtext = text;
	else
		free(text);
	free(a);
	return rc;
}

int nft_query(struct netns *ns, const char *cmd, bool json, char **out, char **errtext)
{
	struct nft_call c = { .cmd = cmd, .json = json };
	int err;

	*out = NULL;
	if (cmd == NULL)
		return -EINVAL;
	err = nft_call_run(ns, &c, errtext);
	if (err == 0)
		*out = c.out;
	return err;
}

static bool ident_ok(const char *s)
{
	size_t len = s ? strlen(s) : 0;

	if (len == 0 || len >= NFT_IDENT_MAX)
		return false;
	if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') || s[0] == '_'))
		return false;
	for (size_t i = 1; i < len; i++) {
		char ch = s[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		      ch == '_' || ch == '-' || ch == '.'))
			return false;
	}
	return true;
}

static bool family_ok(const char *f)
{
	static const char *const families[] = { "ip", "ip6", "inet", "arp", "bridge", "netdev" };

	if (f == NULL)
		return false;
	for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++)
		if (strcmp(f, families[i]) == 0)
			return true;
	return false;
}

/* A non-negative integer member of obj. */
static bool json_u64(struct json_object *obj, const char *key, uint64_t *v)
{
	struct json_object *m;
	int64_t x;

	if (!json_object_object_get_ex(obj, key, &m) || !json_object_is_type(m, json_type_int))
		return false;
	x = json_object_get_int64(m);
	if (x < 0)
		return false;
	*v = (uint64_t)x;
	return true;
}

/* {"nftables": [{"metainfo": {...}}, {"counter": {"name": ..., "packets": N, "bytes": N}}]} */
static int parse_counter(const char *text, const char *name, uint64_t *packets, uint64_t *bytes)
{
	struct json_object *root, *arr, *item, *ctr, *n;
	int err = -EBADMSG;
	size_t len;

	root = json_tokener_parse(text);
	if (root == NULL)
		return -EBADMSG;
	if (!json_object_object_get_ex(root, "nftables", &arr) ||
	    !json_object_is_type(arr, json_type_array))
		goto cleanup;
	len = json_object_array_length(arr);
	for (size_t i = 0; i < len; i++) {
		item = json_object_array_get_idx(arr, i);
		if (!json_object_is_type(item, json_type_object) ||
		    !json_object_object_get_ex(item, "counter", &ctr) ||
		    !json_object_is_type(ctr, json_type_object))
			continue;
		if (!json_object_object_get_ex(ctr, "name", &n) || !json_object_is_type(n, json_type_string) ||
		    strcmp(json_object_get_string(n), name) != 0)
			continue;
		if (json_u64(ctr, "packets", packets) && json_u64(ctr, "bytes", bytes))
			err = 0;
		break;
	}
cleanup:
	json_object_put(root);
	return err;
}

int nft_counter(struct netns *ns, const char *family, const char *table, const char *name,
		uint64_t *packets, uint64_t *bytes)
{
	char cmd[3 * NFT_IDENT_MAX + 32];
	char *out = NULL, *errtext = NULL;
	int err;

	*packets = 0;
	*bytes = 0;
	if (!family_ok(family) || !ident_ok(table) || !ident_ok(name))
		return -EINVAL;
	snprintf(cmd, sizeof(cmd), "list counter %s %s %s", family, table, name);
	err = nft_query(ns, cmd, true, &out, &errtext);
	if (err < 0) {
		/* libnftables reports a missing table or counter only as text. */
		if (errtext && strstr(errtext, "No such file or directory"))
			err = -ENOENT;
		else
			log_warnx("netns %s: nft %s: %s", netns_name(ns), cmd,
				  errtext ? errtext : strerror(-err));
		free(errtext);
		return err;
	}
	err = parse_counter(out, name, packets, bytes);
	if (err == -EBADMSG)
		log_warnx("netns %s: nft %s: unexpected output", netns_name(ns), cmd);
	free(out);
	return err;
}
