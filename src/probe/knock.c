/* punch-probe knock: what a NAT or firewall does with unsolicited UDP, seen
 * from outside. See knock.h. */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/addr.h"
#include "common/log.h"
#include "common/mtime.h"
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
	}
	return "?";
}

int knock(const struct addr *to, const struct addr *bind_to, int timeout_ms, int tries, enum knock_answer *out)
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
	return rc;
}

int knock_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "to", required_argument, NULL, 't' },
		{ "bind", required_argument, NULL, 'b' },
		{ "timeout-ms", required_argument, NULL, 'T' },
		{ "tries", required_argument, NULL, 'n' },
		{ "expect-unsolicited", required_argument, NULL, 'e' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct addr to, bind_to;
	bool have_to = false, have_bind = false;
	const char *expect = NULL;
	int timeout_ms = 1500, tries = 3, opt, rc;
	enum knock_answer got;
	char b[ADDR_STRLEN];

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 't':
			if (addr_parse(optarg, 0, &to) < 0 || addr_port(&to) == 0) {
				log_errx("--to %s: not IP:PORT", optarg);
				return 2;
			}
			have_to = true;
			break;
		case 'b':
			if (addr_parse(optarg, 0, &bind_to) < 0) {
				log_errx("--bind %s: not an address", optarg);
				return 2;
			}
			have_bind = true;
			break;
		case 'T':
		case 'n': {
			char *end;
			long v = strtol(optarg, &end, 10);

			if (*end || end == optarg || v < 1 || v > (opt == 'T' ? 60000 : 100)) {
				log_errx("--%s %s: out of range", opt == 'T' ? "timeout-ms" : "tries", optarg);
				return 2;
			}
			*(opt == 'T' ? &timeout_ms : &tries) = (int)v;
			break;
		}
		case 'e':
			if (strcmp(optarg, "drop") && strcmp(optarg, "icmp-unreachable")) {
				log_errx("--expect-unsolicited %s: drop or icmp-unreachable", optarg);
				return 2;
			}
			expect = optarg;
			break;
		case 'h':
			printf("usage: punch-probe knock --to IP:PORT [--bind IP] [--timeout-ms N] [--tries N]\n"
			       "                         [--expect-unsolicited drop|icmp-unreachable]\n");
			return 0;
		default:
			return 2;
		}
	}
	if (!have_to || optind != argc) {
		log_errx("usage: punch-probe knock --to IP:PORT [options]");
		return 2;
	}
	rc = knock(&to, have_bind ? &bind_to : NULL, timeout_ms, tries, &got);
	if (rc < 0) {
		log_errx("knock %s: %s", addr_fmt(&to, b, sizeof(b)), strerror(-rc));
		return 1;
	}
	printf("{\"to\":\"%s\",\"answer\":\"%s\"", addr_fmt(&to, b, sizeof(b)), knock_answer_name(got));
	if (expect) {
		bool match = strcmp(expect, "drop") == 0 ? got == KNOCK_SILENT : got == KNOCK_REFUSED;

		printf(",\"expected\":\"%s\",\"match\":%s}\n", expect, match ? "true" : "false");
		return match ? 0 : 3;
	}
	printf("}\n");
	return 0;
}
