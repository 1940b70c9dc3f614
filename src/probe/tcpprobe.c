/* punch-probe's TCP mapping and filtering probe, both ends. See tcpprobe.h. */
#include "probe/tcpprobe.h"

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/cli.h"
#include "common/log.h"
#include "common/mtime.h"
#include "common/num.h"

#define BACK_MAX_MS 10000
#define REQ_WAIT_MS 2000 /* the server waits this long for a request line */

void tcpprobe_decide(const struct classify_mapped mapped[CLASSIFY_NDEST], bool filter_answered,
		     enum classify_tri change_port, enum classify_tri change_ip_port, struct classify_result *res)
{
	struct classify_obs obs = { 0 };

	for (int i = 0; i < CLASSIFY_NDEST; i++)
		obs.mapping[i] = mapped[i];
	obs.filter_same = filter_answered ? CLASSIFY_YES : CLASSIFY_UNKNOWN;
	obs.filter_change_port = filter_answered ? change_port : CLASSIFY_UNKNOWN;
	obs.filter_change_ip_port = filter_answered ? change_ip_port : CLASSIFY_UNKNOWN;
	classify_decide(&obs, res);
}

int tcpprobe_compare(enum nat_mapping mapping, enum nat_filtering filtering, const struct classify_result *res,
		     struct classify_diff diffs[2])
{
	enum nat_filtering want_f = filtering == FILTER_OPEN ? FILTER_EIF : filtering;
	/* T1 unanswered: nothing is known (TCP cannot be "blocked" here) */
	bool mk = res->mapping_known && !res->udp_blocked, fk = res->filtering_known && !res->udp_blocked;
	int n = 0;

	if (!mk || res->mapping != mapping)
		diffs[n++] = (struct classify_diff){ "tcp-mapping", nat_mapping_name(mapping),
						     mk ? nat_mapping_name(res->mapping) : "unknown" };
	if (!fk || res->filtering != want_f)
		diffs[n++] = (struct classify_diff){ "tcp-filtering", nat_filtering_name(want_f),
						     fk ? nat_filtering_name(res->filtering) : "unknown" };
	return n;
}

int tcpprobe_parse_line(const char *line, size_t len, struct addr *out)
{
	char buf[TCPPROBE_LINE];

	if (len == 0 || len >= sizeof(buf) || line[len - 1] != '\n' || memchr(line, '\0', len))
		return -EBADMSG;
	memcpy(buf, line, len - 1);
	buf[len - 1] = '\0';
	if (addr_parse(buf, 0, out) < 0 || addr_port(out) == 0)
		return -EBADMSG;
	return 0;
}

/* A TCP socket bound to a with SO_REUSEADDR and SO_REUSEPORT (a connection
 * and a listener share the port), non-blocking. Returns it or -errno. */
static int bound_socket(const struct addr *a)
{
	int one = 1, fd = socket(addr_family(a), SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), rc;

	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0 || bind(fd, &a->u.sa, a->len) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	return fd;
}

int tcpprobe_listen(const struct addr *a)
{
	int fd = bound_socket(a), rc;

	if (fd >= 0 && listen(fd, 64) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	return fd;
}

/* Wait for fd's events until deadline: 1 when they came, 0 at the deadline. */
static int wait_fd(int fd, short events, mtime_ms deadline)
{
	for (;;) {
		mtime_ms now = mtime_now();
		struct pollfd p = { .fd = fd, .events = events };
		int n;

		if (now >= deadline)
			return 0;
		n = poll(&p, 1, mtime_until(now, deadline));
		if (n < 0 && errno != EINTR)
			return -errno;
		if (n > 0)
			return 1;
	}
}

/* Read one line (up to '\n') from fd until deadline into buf. Returns its
 * length with the '\n', or -errno (-ETIMEDOUT). */
static ssize_t read_line(int fd, char *buf, size_t size, mtime_ms deadline)
{
	size_t len = 0;

	while (len < size) {
		ssize_t n;
		int w = wait_fd(fd, POLLIN, deadline);

		if (w <= 0)
			return w < 0 ? w : -ETIMEDOUT;
		n = read(fd, buf + len, 1); /* one byte: nothing after the line is taken */
		if (n == 0)
			return -ECONNRESET;
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			return -errno;
		}
		if (buf[len++] == '\n')
			return (ssize_t)len;
	}
	return -EMSGSIZE;
}

struct serve_job {
	int fd;
	struct addr a[4];
};

/* The connect-backs to peer from a[1] and a[3] for ms; each ends when
 * connected or at the deadline (the listener behind the router accepts it, or
 * the router drops or refuses the SYN). */
static void connect_back(const struct addr a[4], const struct addr *peer, int ms)
{
	static const int from[2] = { 1, 3 };
	mtime_ms deadline = mtime_now() + ms;
	struct pollfd p[2];
	char b[ADDR_STRLEN];

	for (int i = 0; i < 2; i++) {
		p[i].fd = bound_socket(&a[from[i]]);
		p[i].events = POLLOUT;
		if (p[i].fd >= 0 && connect(p[i].fd, &peer->u.sa, peer->len) < 0 && errno != EINPROGRESS) {
			log_debug("connect back from %s: %s", addr_fmt(&a[from[i]], b, sizeof(b)), strerror(errno));
			close(p[i].fd);
			p[i].fd = -1;
		}
	}
	while (p[0].fd >= 0 || p[1].fd >= 0) {
		mtime_ms now = mtime_now();
		int n;

		if (now >= deadline)
			break;
		n = poll(p, 2, mtime_until(now, deadline));
		if (n < 0 && errno != EINTR)
			break;
		for (int i = 0; n > 0 && i < 2; i++)
			if (p[i].fd >= 0 && p[i].revents) {
				close(p[i].fd); /* connected, or refused: done either way */
				p[i].fd = -1;
			}
	}
	for (int i = 0; i < 2; i++)
		if (p[i].fd >= 0)
			close(p[i].fd);
}

static void *serve_thread(void *arg)
{
	struct serve_job *j = arg;
	struct addr peer;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char req[32], line[TCPPROBE_LINE], b[ADDR_STRLEN];
	unsigned long ms = 0;
	ssize_t n;
	int len;

	if (getpeername(j->fd, (struct sockaddr *)&ss, &sl) < 0 || addr_from_sa(&peer, (struct sockaddr *)&ss, sl) < 0)
		goto done;
	n = read_line(j->fd, req, sizeof(req), mtime_now() + REQ_WAIT_MS);
	if (n <= 0)
		goto done;
	req[n - 1] = '\0';
	if (strcmp(req, "MAP") != 0 &&
	    (strncmp(req, "BACK ", 5) != 0 || num_parse_uint(req + 5, BACK_MAX_MS, &ms) < 0 || ms == 0))
		goto done;
	len = snprintf(line, sizeof(line), "%s\n", addr_fmt(&peer, b, sizeof(b)));
	if (write(j->fd, line, (size_t)len) != len)
		goto done;
	if (ms)
		connect_back(j->a, &peer, (int)ms);
done:
	close(j->fd);
	free(j);
	return NULL;
}

int tcpprobe_serve(int fd, const struct addr a[4])
{
	struct serve_job *j = malloc(sizeof(*j));
	pthread_attr_t attr;
	pthread_t th;
	int rc;

	if (!j) {
		close(fd);
		return -ENOMEM;
	}
	j->fd = fd;
	memcpy(j->a, a, sizeof(j->a));
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	rc = pthread_create(&th, &attr, serve_thread, j);
	pthread_attr_destroy(&attr);
	if (rc != 0) {
		close(fd);
		free(j);
		return -rc;
	}
	return 0;
}

/* Connect from local to server (deadline), send req, read the mapped
 * endpoint. Returns the connected socket (the caller closes it) with *mapped,
 * or -errno: -ETIMEDOUT, -ECONNREFUSED... (not answered). */
static int ask(const struct addr *local, const struct addr *server, const char *req, mtime_ms deadline,
	       struct addr *mapped)
{
	int fd = bound_socket(local), err = 0, w;
	socklen_t el = sizeof(err);
	char line[TCPPROBE_LINE];
	ssize_t n;

	if (fd < 0)
		return fd;
	if (connect(fd, &server->u.sa, server->len) < 0 && errno != EINPROGRESS) {
		err = errno;
		goto fail;
	}
	w = wait_fd(fd, POLLOUT, deadline);
	if (w <= 0) {
		err = w < 0 ? -w : ETIMEDOUT;
		goto fail;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0)
		err = errno;
	if (err)
		goto fail;
	if (write(fd, req, strlen(req)) != (ssize_t)strlen(req)) {
		err = errno ? errno : EIO;
		goto fail;
	}
	n = read_line(fd, line, sizeof(line), deadline);
	if (n < 0) {
		err = (int)-n;
		goto fail;
	}
	if (tcpprobe_parse_line(line, (size_t)n, mapped) < 0) {
		err = EBADMSG;
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return -err;
}

struct tcls_opts {
	struct addr server[2], bind;
	bool have[3];
	uint16_t port[2], local_port;
	int timeout_ms;
	const char *expect_mapping, *expect_filtering;
	struct cli_common cc;
};

static int tcls_parse(int argc, char **argv, struct tcls_opts *o)
{
	static const struct option opts[] = {
		{ "server", required_argument, NULL, 's' },   { "server2", required_argument, NULL, 'S' },
		{ "bind", required_argument, NULL, 'b' },     { "port", required_argument, NULL, 'p' },
		{ "port2", required_argument, NULL, 'P' },    { "local-port", required_argument, NULL, 'l' },
		{ "timeout-ms", required_argument, NULL, 'T' }, { "expect-mapping", required_argument, NULL, 'm' },
		{ "expect-filtering", required_argument, NULL, 'f' }, CLI_OPTS_LOG, { NULL, 0, NULL, 0 },
	};
	unsigned long v;
	int opt, r;

	while ((opt = getopt_long(argc, argv, "vqh", opts, NULL)) != -1) {
		switch (opt) {
		case 's':
		case 'S':
		case 'b':
			if (addr_parse(optarg, 0, opt == 's' ? &o->server[0] : opt == 'S' ? &o->server[1] : &o->bind) < 0) {
				log_errx("%s: not an IP address", optarg);
				return -EINVAL;
			}
			o->have[opt == 's' ? 0 : opt == 'S' ? 1 : 2] = true;
			break;
		case 'p':
		case 'P':
		case 'l':
		case 'T':
			if (num_parse_uint(optarg, opt == 'T' ? BACK_MAX_MS : 65534, &v) < 0 || v < 1) {
				log_errx("%s: not a number from 1 to %d", optarg, opt == 'T' ? BACK_MAX_MS : 65534);
				return -EINVAL;
			}
			if (opt == 'T')
				o->timeout_ms = (int)v;
			else
				*(opt == 'p' ? &o->port[0] : opt == 'P' ? &o->port[1] : &o->local_port) = (uint16_t)v;
			break;
		case 'm':
			o->expect_mapping = optarg;
			break;
		case 'f':
			o->expect_filtering = optarg;
			break;
		default:
			r = cli_opt(opt, optarg, &o->cc);
			if (r == CLI_HELP)
				printf("usage: punch-probe tcp-classify --server A1 --server2 A2 [--port P1 --port2 P2]\n"
				       "         --bind IP --local-port N [--timeout-ms N]\n"
				       "         [--expect-mapping M --expect-filtering F] [-v|-q]\n");
			if (r != 0)
				return r;
		}
	}
	log_init("punch-probe", o->cc.lvl);
	if (cli_no_operands(argc, argv) < 0)
		return -EINVAL;
	if (!o->have[0] || !o->have[1] || !o->have[2] || !o->local_port || o->port[0] == o->port[1] ||
	    addr_family(&o->server[0]) != addr_family(&o->server[1]) ||
	    addr_family(&o->server[0]) != addr_family(&o->bind) || addr_equal_ip(&o->server[0], &o->server[1]) ||
	    (!o->expect_mapping != !o->expect_filtering) ||
	    (o->expect_mapping && (nat_mapping_parse(o->expect_mapping) < 0 ||
				   nat_filtering_parse(o->expect_filtering) < 0))) {
		log_errx("tcp-classify: needs --server, --server2 (two addresses of --bind's family), two ports, "
			 "--local-port, and both or neither of --expect-mapping and --expect-filtering (known names)");
		return -EINVAL;
	}
	return 0;
}

/* The observations: mapping from local port N, filtering from N+1. Returns
 * 0, or -errno for a local failure. */
static int tcls_observe(const struct tcls_opts *o, struct classify_mapped m[CLASSIFY_NDEST], bool *f_answered,
			enum classify_tri *cp, enum classify_tri *cip, int *absent)
{
	static const int dest[CLASSIFY_NDEST][2] = { [CLASSIFY_A1P1] = { 0, 0 }, [CLASSIFY_A2P1] = { 1, 0 },
						     [CLASSIFY_A2P2] = { 1, 1 } };
	struct addr local = o->bind, flocal = o->bind, a12 = o->server[0], a22 = o->server[1], fm;
	char req[32];
	int lfd, cfd;

	addr_set_port(&local, o->local_port);
	addr_set_port(&flocal, (uint16_t)(o->local_port + 1));
	for (int i = 0; i < CLASSIFY_NDEST; i++) {
		struct addr to = o->server[dest[i][0]];
		int fd;

		addr_set_port(&to, o->port[dest[i][1]]);
		m[i] = (struct classify_mapped){ .local = local };
		fd = ask(&local, &to, "MAP\n", mtime_now() + o->timeout_ms + 1000, &m[i].mapped);
		if (fd == -EADDRINUSE || fd == -EADDRNOTAVAIL)
			return fd;
		m[i].answered = fd >= 0;
		if (fd >= 0)
			close(fd);
	}
	*cp = *cip = CLASSIFY_UNKNOWN;
	*absent = 0;
	lfd = tcpprobe_listen(&flocal);
	if (lfd < 0)
		return lfd;
	snprintf(req, sizeof(req), "BACK %d\n", o->timeout_ms);
	cfd = ask(&flocal, &o->server[0], req, mtime_now() + o->timeout_ms + 1000, &fm);
	*f_answered = cfd >= 0;
	if (cfd >= 0) {
		mtime_ms deadline = mtime_now() + o->timeout_ms;
		bool port = false, ipport = false;

		addr_set_port(&a12, o->port[1]);
		addr_set_port(&a22, o->port[1]);
		while (!(port && ipport) && wait_fd(lfd, POLLIN, deadline) > 0) {
			struct sockaddr_storage ss;
			socklen_t sl = sizeof(ss);
			struct addr from;
			int afd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC);

			if (afd < 0)
				continue;
			if (addr_from_sa(&from, (struct sockaddr *)&ss, sl) == 0) {
				port |= addr_equal(&from, &a12);
				ipport |= addr_equal(&from, &a22);
			}
			close(afd);
		}
		*cp = port ? CLASSIFY_YES : CLASSIFY_NO;
		*cip = ipport ? CLASSIFY_YES : CLASSIFY_NO;
		*absent = !port + !ipport;
		close(cfd);
	}
	close(lfd);
	return 0;
}

int tcpprobe_classify_main(int argc, char **argv)
{
	struct tcls_opts o = { .port = { 3479, 3480 }, .timeout_ms = 1500, .cc = { LOG_LVL_INFO, -1 } };
	struct classify_mapped m[CLASSIFY_NDEST];
	struct classify_result res;
	struct classify_diff d[2];
	enum classify_tri cp, cip;
	bool fa = false;
	int absent, rc = tcls_parse(argc, argv, &o), n = 0;
	char b[3][ADDR_STRLEN];

	if (rc == CLI_HELP)
		return 0;
	if (rc < 0)
		return 2;
	addr_set_port(&o.server[0], o.port[0]);
	rc = tcls_observe(&o, m, &fa, &cp, &cip, &absent);
	if (rc < 0) {
		log_errx("tcp-classify: %s", strerror(-rc));
		return 1;
	}
	tcpprobe_decide(m, fa, cp, cip, &res);
	printf("{\"transport\":\"tcp\",\"nat\":%s,\"mapping\":\"%s\",\"filtering\":\"%s\",\"mapped\":[\"%s\",\"%s\","
	       "\"%s\"],\"absent_backs\":%d", res.translated ? "true" : "false", classify_mapping_name(&res),
	       classify_filtering_name(&res), m[0].answered ? addr_fmt(&m[0].mapped, b[0], sizeof(b[0])) : "",
	       m[1].answered ? addr_fmt(&m[1].mapped, b[1], sizeof(b[1])) : "",
	       m[2].answered ? addr_fmt(&m[2].mapped, b[2], sizeof(b[2])) : "", absent);
	if (o.expect_mapping) {
		n = tcpprobe_compare((enum nat_mapping)nat_mapping_parse(o.expect_mapping),
				     (enum nat_filtering)nat_filtering_parse(o.expect_filtering), &res, d);
		printf(",\"match\":%s,\"mismatches\":[", n ? "false" : "true");
		for (int i = 0; i < n; i++)
			printf("%s{\"property\":\"%s\",\"declared\":\"%s\",\"observed\":\"%s\"}", i ? "," : "",
			       d[i].property, d[i].declared, d[i].observed);
		printf("]");
	}
	printf("}\n");
	return n ? 3 : 0;
}
