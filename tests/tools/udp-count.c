/* udp-count: count UDP datagrams across a lossy lab link.
 *
 *   udp-count echo ADDR PORT        answer every datagram to where it came
 *                                   from; print "ready" once bound; run until
 *                                   killed
 *   udp-count send ADDR PORT N      send N numbered datagrams 2 ms apart, wait
 *                                   until 2 s after the last one for answers,
 *                                   print "sent N received R" (each number
 *                                   counted once)
 *   udp-count rtt ADDR PORT N       send N numbered datagrams one at a time,
 *                                   each 100 ms after the previous answer
 *                                   (or 2 s without one), and print
 *                                   "rtt SEQ MICROSECONDS" per answer, then
 *                                   "sent N received R min US max US"
 *
 * tests/lab/punchlab-loss.sh compares R with the loss table's counters;
 * tests/lab/punchlab-delay.sh measures a delay line with rtt.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_N 100000
#define GAP_MS 2
#define DRAIN_MS 2000

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long long now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int usage(void)
{
	fprintf(stderr, "usage: udp-count echo ADDR PORT | udp-count send|rtt ADDR PORT N\n");
	return 2;
}

static int do_echo(int s, const struct sockaddr_in *sa)
{
	uint8_t buf[2048];

	if (bind(s, (const struct sockaddr *)sa, sizeof(*sa)) < 0) {
		perror("bind");
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		struct sockaddr_in from;
		socklen_t flen = sizeof(from);
		ssize_t r = recvfrom(s, buf, sizeof(buf), 0, (struct sockaddr *)&from, &flen);

		if (r < 0 && errno != EINTR) {
			perror("recvfrom");
			return 1;
		}
		if (r > 0)
			sendto(s, buf, (size_t)r, 0, (struct sockaddr *)&from, flen);
	}
}

static int do_send(int s, const struct sockaddr_in *sa, long n)
{
	static uint8_t seen[MAX_N];
	long sent = 0, received = 0;
	long long next = now_ms(), end = -1;

	if (connect(s, (const struct sockaddr *)sa, sizeof(*sa)) < 0) {
		perror("connect");
		return 1;
	}
	while (end < 0 || now_ms() < end) {
		struct pollfd pfd = { .fd = s, .events = POLLIN };
		long long t = now_ms(), wake = sent < n ? next : end;
		uint32_t seq;

		if (sent < n && t >= next) {
			seq = htonl((uint32_t)sent);
			if (send(s, &seq, sizeof(seq), 0) == sizeof(seq))
				sent++;
			next = t + GAP_MS;
			if (sent == n)
				end = t + DRAIN_MS;
			continue;
		}
		if (poll(&pfd, 1, (int)(wake > t ? wake - t : 0)) > 0 && (pfd.revents & POLLIN)) {
			/* ICMP errors show up as ECONNREFUSED: not an answer. */
			if (recv(s, &seq, sizeof(seq), 0) == sizeof(seq)) {
				seq = ntohl(seq);
				if (seq < (uint32_t)n && !seen[seq]) {
					seen[seq] = 1;
					received++;
				}
			}
		}
	}
	printf("sent %ld received %ld\n", sent, received);
	return 0;
}

/* One datagram in flight at a time, so every answer is that datagram's (a
 * late answer to an earlier one is told apart by its number). */
static int do_rtt(int s, const struct sockaddr_in *sa, long n)
{
	long received = 0;
	long long min = -1, max = -1;

	if (connect(s, (const struct sockaddr *)sa, sizeof(*sa)) < 0) {
		perror("connect");
		return 1;
	}
	for (long i = 0; i < n; i++) {
		uint32_t seq = htonl((uint32_t)i), got;
		long long t0 = now_us(), end = t0 + DRAIN_MS * 1000LL, t;

		if (send(s, &seq, sizeof(seq), 0) != sizeof(seq)) {
			perror("send");
			return 1;
		}
		while ((t = now_us()) < end) {
			struct pollfd pfd = { .fd = s, .events = POLLIN };

			if (poll(&pfd, 1, (int)((end - t + 999) / 1000)) <= 0 || !(pfd.revents & POLLIN))
				continue;
			if (recv(s, &got, sizeof(got), 0) != sizeof(got) || got != seq)
				continue;
			t = now_us() - t0;
			printf("rtt %ld %lld\n", i, t);
			received++;
			if (min < 0 || t < min)
				min = t;
			if (t > max)
				max = t;
			break;
		}
		usleep(100000);
	}
	printf("sent %ld received %ld min %lld max %lld\n", n, received, min, max);
	return 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	char *end;
	long port, n = 0;
	int s, rcvbuf = 4 << 20;

	if (argc < 4 || inet_pton(AF_INET, argv[2], &sa.sin_addr) != 1)
		return usage();
	port = strtol(argv[3], &end, 10);
	if (*end || port < 1 || port > 65535)
		return usage();
	sa.sin_port = htons((uint16_t)port);
	if (strcmp(argv[1], "send") == 0 || strcmp(argv[1], "rtt") == 0) {
		if (argc != 5)
			return usage();
		n = strtol(argv[4], &end, 10);
		if (*end || n < 1 || n > MAX_N)
			return usage();
	} else if (strcmp(argv[1], "echo") != 0 || argc != 4) {
		return usage();
	}
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0) {
		perror("socket");
		return 1;
	}
	/* Room for every datagram of a run (1000 take about 0.8 MiB of buffer)
	 * even when this process is not scheduled for a while on a loaded
	 * machine: only the lab's loss rules may lose any. Past rmem_max only as
	 * root (SO_RCVBUFFORCE); otherwise what the system allows. */
	if (setsockopt(s, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) < 0)
		setsockopt(s, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (n && strcmp(argv[1], "rtt") == 0)
		return do_rtt(s, &sa, n);
	return n ? do_send(s, &sa, n) : do_echo(s, &sa);
}
