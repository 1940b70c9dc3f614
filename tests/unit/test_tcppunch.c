/* tcppunch.c on loopback, under the sanitizers: two sides on one port each,
 * the first message to an address starts a connection attempt (and is
 * dropped), the listener accepts, messages then travel framed on the stream
 * and arrive whole with the connection's remote address; an attempt to a
 * port nobody listens on is counted as refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client/tcppunch.h"
#include "common/addr.h"
#include "common/mtime.h"
#include "proto/wire.h"

struct got {
	unsigned n;
	struct addr from;
	struct wire_msg last;
};

static void deliver(void *arg, const uint8_t *buf, size_t len, const struct addr *from)
{
	struct got *g = arg;

	assert_int_equal(wire_parse(buf, len, &g->last), (int)len);
	g->from = *from;
	g->n++;
}

/* A free loopback port for TCP: bind to 0 and ask. */
static struct addr free_port(const char *ip)
{
	struct addr a;
	int fd;

	assert_int_equal(addr_parse(ip, 0, &a), 0);
	fd = tp_socket(&a);
	assert_true(fd >= 0);
	assert_int_equal(addr_local(fd, &a), 0);
	close(fd);
	return a;
}

/* Poll both sides, servicing each, until *watch reaches want (polled, no
 * fixed sleep; 5 s at most, then the caller's assertions say what is missing). */
static void spin(struct tp *x, struct got *gx, struct tp *y, struct got *gy, const unsigned *watch,
		 unsigned want)
{
	mtime_ms end = mtime_now() + 5000;

	while (*watch < want && mtime_now() < end) {
		struct pollfd p[2 * (TP_MAX_CONN + 1)];
		size_t nx = tp_pollfds(x, p, TP_MAX_CONN + 1), ny = tp_pollfds(y, p + nx, TP_MAX_CONN + 1);

		if (poll(p, (nfds_t)(nx + ny), 10) > 0) {
			tp_service(x, p, nx, deliver, gx);
			tp_service(y, p + nx, ny, deliver, gy);
		}
	}
}

static size_t message(uint8_t *buf, uint32_t id)
{
	struct wire_msg m;
	int n;

	memset(&m, 0, sizeof(m));
	m.type = WIRE_WELCOME; /* any untagged type will do: framing is what is tested */
	m.u.welcome.client_id = id;
	n = wire_build(buf, WIRE_MSG_MAX, &m, NULL);
	assert_true(n > 0);
	return (size_t)n;
}

static void test_connect_accept_and_framing(void **state)
{
	struct addr la = free_port("127.0.0.1"), lb = free_port("127.0.0.1");
	struct tp *a, *b;
	struct got ga = { 0 }, gb = { 0 };
	uint8_t buf[WIRE_MSG_MAX];
	size_t n;

	(void)state;
	assert_int_equal(tp_create(&la, &a), 0);
	assert_int_equal(tp_create(&lb, &b), 0);
	n = message(buf, 1);
	tp_send(a, &lb, buf, n); /* starts the attempt; dropped */
	spin(a, &ga, b, &gb, &tp_stats(a)->established, 1);
	spin(a, &ga, b, &gb, &tp_stats(b)->accepted, 1);
	assert_int_equal(tp_stats(a)->connects, 1);
	assert_int_equal(tp_stats(a)->established, 1);
	assert_int_equal(tp_stats(b)->accepted, 1);
	assert_int_equal(gb.n, 0);
	/* Three messages at once: the stream carries them one after the other. */
	for (uint32_t id = 10; id < 13; id++) {
		n = message(buf, id);
		tp_send(a, &lb, buf, n);
	}
	spin(a, &ga, b, &gb, &gb.n, 3);
	assert_int_equal(gb.n, 3);
	assert_int_equal(gb.last.u.welcome.client_id, 12);
	assert_true(addr_equal(&gb.from, &la)); /* the remote is a's own port: one port for all */
	/* and back, on the accepted connection, without a new attempt */
	n = message(buf, 20);
	tp_send(b, &la, buf, n);
	spin(a, &ga, b, &gb, &ga.n, 1);
	assert_int_equal(ga.n, 1);
	assert_int_equal(tp_stats(b)->connects, 0);
	tp_destroy(a);
	tp_destroy(b);
}

static void test_refused_counted(void **state)
{
	struct addr la = free_port("127.0.0.1"), nobody = free_port("127.0.0.1");
	struct tp *a;
	struct got ga = { 0 }, gx = { 0 };
	struct tp *x;
	struct addr lx = free_port("127.0.0.1");
	uint8_t buf[WIRE_MSG_MAX];
	size_t n = message(buf, 1);

	(void)state;
	assert_int_equal(tp_create(&la, &a), 0);
	assert_int_equal(tp_create(&lx, &x), 0);
	tp_send(a, &nobody, buf, n);
	spin(a, &ga, x, &gx, &tp_stats(a)->refused, 1);
	assert_int_equal(tp_stats(a)->connects, 1);
	assert_int_equal(tp_stats(a)->refused, 1);
	assert_int_equal(tp_stats(a)->established, 0);
	/* the next send tries again */
	tp_send(a, &nobody, buf, n);
	spin(a, &ga, x, &gx, &tp_stats(a)->refused, 2);
	assert_int_equal(tp_stats(a)->connects, 2);
	assert_int_equal(tp_stats(a)->refused, 2);
	tp_destroy(a);
	tp_destroy(x);
}

/* Bytes that are no message close the connection and are counted. */
static void test_garbage_closes(void **state)
{
	struct addr la = free_port("127.0.0.1");
	struct tp *a, *y;
	struct addr ly = free_port("127.0.0.1");
	struct got ga = { 0 }, gy = { 0 };
	int fd;

	(void)state;
	assert_int_equal(tp_create(&la, &a), 0);
	assert_int_equal(tp_create(&ly, &y), 0);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, &la.u.sa, la.len), 0);
	assert_int_equal(write(fd, "GET / HTTP/1.0\r\n\r\n", 18), 18);
	spin(a, &ga, y, &gy, &tp_stats(a)->rx_bad, 1);
	assert_int_equal(tp_stats(a)->accepted, 1);
	assert_int_equal(tp_stats(a)->rx_bad, 1);
	assert_int_equal(ga.n, 0);
	close(fd);
	tp_destroy(a);
	tp_destroy(y);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_connect_accept_and_framing),
		cmocka_unit_test(test_refused_counted),
		cmocka_unit_test(test_garbage_closes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
