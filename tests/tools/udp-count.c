/* udp-count: count UDP datagrams across a lossy lab link.
 *
 *   udp-count echo ADDR PORT        answer every datagram to where it came
 *                                   from; print "ready" once bound; run until
 *                                   killed
 *   udp-count send ADDR PORT N      send N numbered datagrams 2 ms apart, wait
 *                                   until 2 s after the last one for answers,
 *                                   print "sent N received R" (each number
 *                                   counted once)
 *   udp-count rtt ADDR PORT N [GAP] send N numbered datagrams GAP ms apart
 *                                   (default 100), and print "rtt SEQ
 *                                   MICROSECONDS" per answer, until all are
 *                                   answered or 2 s after the last one, then
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
	fprintf(stderr, "usage: udp-count echo ADDR PORT | udp-count send ADDR PORT N | udp-count rtt ADDR PORT N [GAP_MS]\n");
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

/* Datagram i sent gap_ms after datagram i - 1, every answer matched to its
 * datagram by its number, so several may be in flight: a delay line that
 * never reorders holds a frame back only behind one that came less than
 * 2 * jitter before it, so with gap_ms above that each sample is the line's
 * own, as if one at a time. Ends when every datagram is answered, or
 * DRAIN_MS after the last was sent (each had at least that long). */
static int do_rtt(int s, const struct sockaddr_in *sa, long n, long gap_ms)
{
	static long long sent_at[MAX_N]; /* µs, 0 once answered */
	long sent = 0, received = 0;
	long long min = -1, max = -1, next = now_us(), end = -1;

	if (connect(s, (const struct sockaddr *)sa, sizeof(*sa)) < 0) {
		perror("connect");
		return 1;
	}
	while (received < n && (end < 0 || now_us() < end)) {
		struct pollfd pfd = { .fd = s, .events = POLLIN };
		long long t = now_us(), wake = sent < n ? next : end;
		uint32_t seq;

		if (sent < n && t >= next) {
			/* the clock before the send: the answer may be in before send() returns */
			seq = htonl((uint32_t)sent);
			sent_at[sent] = now_us();
			if (send(s, &seq, sizeof(seq), 0) != sizeof(seq)) {
				perror("send");
				return 1;
			}
			next = sent_at[sent++] + gap_ms * 1000;
			if (sent == n)
				end = sent_at[n - 1] + DRAIN_MS * 1000LL;
			continue;
		}
		if (poll(&pfd, 1, (int)(wake > t ? (wake - t + 999) / 1000 : 0)) <= 0 || !(pfd.revents & POLLIN))
			continue;
		/* ICMP errors show up as ECONNREFUSED: not an answer. */
		if (recv(s, &seq, sizeof(seq), 0) != sizeof(seq))
			continue;
		seq = ntohl(seq);
		if (seq >= (uint32_t)sent || !sent_at[seq])
			continue;
		t = now_us() - sent_at[seq];
		sent_at[seq] = 0;
		printf("rtt %lu %lld\n", (unsigned long)seq, t);
		received++;
		if (min < 0 || t < min)
			min = t;
		if (t > max)
			max = t;
	}
	printf("sent %ld received %ld min %lld max %lld\n", n, received, min, max);
	return 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	char *end;
	long port, n = 0, gap = 100;
	int s, rcvbuf = 4 << 20;

	if (argc < 4 || inet_pton(AF_INET, argv[2], &sa.sin_addr) != 1)
		return usage();
	port = strtol(argv[3], &end, 10);
	if (*end || port < 1 || port > 65535)
		return usage();
	sa.sin_port = htons((uint16_t)port);
	if (strcmp(argv[1], "send") == 0 || strcmp(argv[1], "rtt") == 0) {
		if (argc != 5 + (strcmp(argv[1], "rtt") == 0 && argc == 6))
			return usage();
		n = strtol(argv[4], &end, 10);
		if (*end || n < 1 || n > MAX_N)
			return usage();
		if (argc == 6) {
			gap = strtol(argv[5], &end, 10);
			if (*end || gap < 1 || gap > 10000)
				return usage();
		}
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
		return do_rtt(s, &sa, n, gap);
	return n ? do_send(s, &sa, n) : do_echo(s, &sa);
}
