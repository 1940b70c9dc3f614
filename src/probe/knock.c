/* punch-probe knock: what a NAT or firewall does with unsolicited UDP, seen
 * from outside. See knock.h. */
#include <errno.h>
#include <getopt.h>
#include <time.h> /* before linux/errqueue.h, which uses struct timespec */
#include <linux/errqueue.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/addr.h"
#include "common/cli.h"
#include "common/log.h"
#include "common/mtime.h"
#include "common/num.h"
#include "probe/knock.h"

const char *knock_answer_name(enum knock_answer a)
{
	switch (a) {
	case KNOCK_SILENT:
		return "silent";
	case KNOCK_REFUSED:
		return "refused";
	case KNOCK_ANSWERED:
		return "answered";
	case KNOCK_RESET:
		return "reset";
	}
	return "?";
}

int knock(const struct addr *to, const struct addr *bind_to, int timeout_ms, int tries, enum knock_answer *out,
	  int *sent_out)
{
	static const char msg[] = "punch-probe knock";
	mtime_ms start = mtime_now(), deadline = start + timeout_ms;
	int fd, sent = 0, rc = 0;
	int interval = timeout_ms / (tries + 1);

	*out = KNOCK_SILENT;
	if (interval < 1)
		interval = 1;
	fd = socket(addr_family(to), SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* Connected: an ICMP port unreachable for what it sent comes back as
	 * ECONNREFUSED on the next receive (Linux, without IP_RECVERR). */
	if ((bind_to && bind(fd, &bind_to->u.sa, bind_to->len) < 0) || connect(fd, &to->u.sa, to->len) < 0) {
		rc = -errno;
		goto cleanup;
	}
	for (;;) {
		mtime_ms now = mtime_now(), wake = deadline;
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		char buf[64];

		while (sent < tries && now >= start + (mtime_ms)sent * interval) {
			if (send(fd, msg, sizeof(msg) - 1, 0) < 0 && errno == ECONNREFUSED) {
				*out = KNOCK_REFUSED;
				goto cleanup;
			}
			sent++;
		}
		if (sent < tries && start + (mtime_ms)sent * interval < wake)
			wake = start + (mtime_ms)sent * interval;
		if (now >= deadline)
			break;
		if (poll(&pfd, 1, mtime_until(now, wake)) < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			break;
		}
		if (!(pfd.revents & (POLLIN | POLLERR)))
			continue;
		if (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) >= 0) {
			*out = KNOCK_ANSWERED;
			break;
		}
		if (errno == ECONNREFUSED) {
			*out = KNOCK_REFUSED;
			break;
		}
	}
cleanup:
	close(fd);
	if (sent_out)
		*sent_out = sent;
	return rc;
}

/* After a refused connect(): was an ICMP error queued for it (IP_RECVERR)? */
static bool icmp_queued(int fd)
{
	char data[256], ctl[512];
	struct iovec iov = { data, sizeof(data) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof(ctl) };

	if (recvmsg(fd, &mh, MSG_ERRQUEUE | MSG_DONTWAIT) < 0)
		return false;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		const struct sock_extended_err *e = (const void *)CMSG_DATA(c);

		if ((c->cmsg_level == SOL_IP && c->cmsg_type == IP_RECVERR) ||
		    (c->cmsg_level == SOL_IPV6 && c->cmsg_type == IPV6_RECVERR))
			if (e->ee_origin == SO_EE_ORIGIN_ICMP || e->ee_origin == SO_EE_ORIGIN_ICMP6)
				return true;
	}
	return false;
}

int knock_tcp(const struct addr *to, const struct addr *bind_to, int timeout_ms, enum knock_answer *out)
{
	mtime_ms deadline = mtime_now() + timeout_ms;
	int fd, one = 1, rc = 0, err = 0;
	bool v6 = addr_family(to) == AF_INET6;
	socklen_t len = sizeof(err);

	*out = KNOCK_SILENT;
	fd = socket(addr_family(to), SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, v6 ? SOL_IPV6 : SOL_IP, v6 ? IPV6_RECVERR : IP_RECVERR, &one, sizeof(one)) < 0 ||
	    (bind_to && bind(fd, &bind_to->u.sa, bind_to->len) < 0)) {
		rc = -errno;
		goto cleanup;
	}
	if (connect(fd, &to->u.sa, to->len) == 0) {
		*out = KNOCK_ANSWERED;
		goto cleanup;
	}
	if (errno != EINPROGRESS) {
		err = errno;
		goto refused;
	}
	for (;;) {
		mtime_ms now = mtime_now();
		struct pollfd pfd = { .fd = fd, .events = POLLOUT };

		if (now >= deadline)
			goto cleanup;
		if (poll(&pfd, 1, mtime_until(now, deadline)) < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			goto cleanup;
		}
		if (pfd.revents)
			break;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) {
		rc = -errno;
		goto cleanup;
	}
	if (err == 0) {
		*out = KNOCK_ANSWERED;
		goto cleanup;
	}
refused:
	if (err == ECONNREFUSED)
		*out = icmp_queued(fd) ? KNOCK_REFUSED : KNOCK_RESET;
	else if (err == EHOSTUNREACH || err == ENETUNREACH)
		*out = KNOCK_REFUSED; /* another ICMP destination unreachable: still a refusal out loud */
	else
		rc = -err;
cleanup:
	close(fd);
	return rc;
}

/* knock's command line. */
struct knock_opts {
	struct addr to, bind_to;
	bool have_to, have_bind;
	int timeout_ms, tries;
	const char *expect;     /* --expect-unsolicited, or NULL */
	bool tcp;               /* --tcp: a SYN instead of a datagram */
};

/* knock's own options (--to, --bind, --timeout-ms, --tries,
 * --expect-unsolicited). Returns 0, -ENOENT for another option, or -EINVAL
 * after saying what is wrong. */
static int knock_opt(int opt, const char *arg, struct knock_opts *o)
{
	unsigned long v;

	switch (opt) {
	case 't':
	case 'b':
		if (addr_parse(arg, 0, opt == 't' ? &o->to : &o->bind_to) < 0 ||
		    (opt == 't' && addr_port(&o->to) == 0)) {
			log_errx("--%s %s: not %s", opt == 't' ? "to" : "bind", arg, opt == 't' ? "IP:PORT" : "an address");
			return -EINVAL;
		}
		*(opt == 't' ? &o->have_to : &o->have_bind) = true;
		return 0;
	case 'T':
	case 'n':
		if (num_parse_uint(arg, opt == 'T' ? 60000 : 100, &v) < 0 || v < 1) {
			log_errx("--%s %s: not a number from 1 to %d", opt == 'T' ? "timeout-ms" : "tries", arg,
				 opt == 'T' ? 60000 : 100);
			return -EINVAL;
		}
		*(opt == 'T' ? &o->timeout_ms : &o->tries) = (int)v;
		return 0;
	case 'e':
		/* checked against --tcp once all options are read */
		o->expect = arg;
		return 0;
	case 'p':
		o->tcp = true;
		return 0;
	default:
		return -ENOENT;
	}
}

int knock_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "to", required_argument, NULL, 't' },
		{ "bind", required_argument, NULL, 'b' },
		{ "timeout-ms", required_argument, NULL, 'T' },
		{ "tries", required_argument, NULL, 'n' },
		{ "expect-unsolicited", required_argument, NULL, 'e' },
		{ "tcp", no_argument, NULL, 'p' },
		CLI_OPTS_LOG,
		{ NULL, 0, NULL, 0 },
	};
	struct knock_opts o = { .timeout_ms = 1500, .tries = 3 };
	struct cli_common cc = { .lvl = LOG_LVL_INFO, .ready_fd = -1 };
	int opt, rc;
	enum knock_answer got;
	char b[ADDR_STRLEN];
	int sent = 0;

	while ((opt = getopt_long(argc, argv, "vqh", opts, NULL)) != -1) {
		rc = knock_opt(opt, optarg, &o);
		if (rc == -ENOENT)
			rc = cli_opt(opt, optarg, &cc);
		if (rc == CLI_HELP) {
			printf("usage: punch-probe knock --to IP:PORT [--bind IP] [--timeout-ms N] [--tries N]\n"
			       "                         [--expect-unsolicited drop|icmp-unreachable] [-v|-q]\n"
			       "       punch-probe knock --tcp --to IP:PORT [--bind IP] [--timeout-ms N]\n"
			       "                         [--expect-unsolicited drop|rst|icmp] [-v|-q]\n");
			return 0;
		}
		if (rc != 0)
			return 2;
	}
	log_init("punch-probe", cc.lvl);
	if (cli_no_operands(argc, argv) < 0)
		return 2;
	if (!o.have_to) {
		log_errx("usage: punch-probe knock --to IP:PORT [options]");
		return 2;
	}
	if (o.expect && (o.tcp ? strcmp(o.expect, "drop") && strcmp(o.expect, "rst") && strcmp(o.expect, "icmp")
			       : strcmp(o.expect, "drop") && strcmp(o.expect, "icmp-unreachable"))) {
		log_errx("--expect-unsolicited %s: %s", o.expect, o.tcp ? "drop, rst or icmp (with --tcp)"
									 : "drop or icmp-unreachable");
		return 2;
	}
	sent = 1; /* TCP: one connect(), whose SYNs the kernel repeats */
	rc = o.tcp ? knock_tcp(&o.to, o.have_bind ? &o.bind_to : NULL, o.timeout_ms, &got)
		   : knock(&o.to, o.have_bind ? &o.bind_to : NULL, o.timeout_ms, o.tries, &got, &sent);
	if (rc < 0) {
		log_errx("knock %s: %s", addr_fmt(&o.to, b, sizeof(b)), strerror(-rc));
		return 1;
	}
	printf("{\"to\":\"%s\",\"answer\":\"%s\",\"sent\":%d", addr_fmt(&o.to, b, sizeof(b)),
	       knock_answer_name(got), sent);
	if (o.expect) {
		bool match = strcmp(o.expect, "drop") == 0  ? got == KNOCK_SILENT
			     : strcmp(o.expect, "rst") == 0 ? got == KNOCK_RESET
							    : got == KNOCK_REFUSED;

		printf(",\"expected\":\"%s\",\"match\":%s}\n", o.expect, match ? "true" : "false");
		return match ? 0 : 3;
	}
	printf("}\n");
	return 0;
}
