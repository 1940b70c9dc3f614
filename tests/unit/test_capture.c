/* The pure parts of the packet capture: which interfaces of a plan are
 * captured and into which files, the scenario's directory, and the byte
 * budget that caps each file. The capture process itself is covered by
 * tests/lab/punchlab-pcap.sh. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kernel/capture.h"
#include "model/plan.h"
#include "model/topo.h"

static struct plan *build(const char *text, struct topo **t)
{
	struct plan *p = NULL;
	char err[256];

	if (topo_parse_buffer("t.topo", text, strlen(text), t, err, sizeof(err)) < 0)
		fail_msg("parse: %s\n%s", err, text);
	if (plan_build(*t, &p, err, sizeof(err)) < 0)
		fail_msg("plan: %s", err);
	return p;
}

static const char double_nat[] = "[nat cgn]\npreset = port-restricted\nlan = 100.64.0.0/10\n"
				 "[nat home-a]\npreset = port-restricted\nbehind = cgn\n"
				 "[nat home-b]\npreset = symmetric\n"
				 "[peer alice]\nbehind = home-a\n[peer bob]\nbehind = home-b\n";

/* The internet's bridge, the server, and each router's LAN then WAN; no
 * peers, no probe hosts. */
static void points_double_nat(void **state)
{
	static const char *const files[] = {
		"inet-br0.pcap", "server-eth0.pcap", "nat-cgn-lan0.pcap", "nat-cgn-wan0.pcap",
		"nat-home-a-lan0.pcap", "nat-home-a-wan0.pcap", "nat-home-b-lan0.pcap", "nat-home-b-wan0.pcap",
	};
	struct topo *t = NULL;
	struct plan *p = build(double_nat, &t);
	struct capture_point pts[CAPTURE_MAX_POINTS];
	int n = capture_points(p, pts, CAPTURE_MAX_POINTS);
	bool seen[sizeof(files) / sizeof(files[0])] = { false };

	(void)state;
	assert_int_equal(n, 8);
	for (int i = 0; i < n; i++) {
		const struct plan_node *nd = &p->nodes[pts[i].node];
		size_t k;

		for (k = 0; k < sizeof(files) / sizeof(files[0]); k++)
			if (strcmp(pts[i].file, files[k]) == 0)
				break;
		if (k == sizeof(files) / sizeof(files[0]))
			fail_msg("unexpected capture file %s", pts[i].file);
		assert_false(seen[k]);
		seen[k] = true;
		/* Bridges are captured promiscuously, so that what they forward shows. */
		assert_int_equal(pts[i].promisc, strcmp(pts[i].ifname, "br0") == 0 || strcmp(pts[i].ifname, "lan0") == 0);
		if (nd->kind == PLAN_ROUTER)
			assert_true(strcmp(pts[i].ifname, nd->lan_if) == 0 || strcmp(pts[i].ifname, nd->uplink) == 0);
		else
			assert_true(nd->kind == PLAN_INTERNET || nd->kind == PLAN_SERVER);
	}
	/* A router's LAN comes before its WAN: the order a peer's datagram meets them. */
	for (int i = 0; i + 1 < n; i++)
		if (pts[i].node == pts[i + 1].node && p->nodes[pts[i].node].kind == PLAN_ROUTER)
			assert_string_equal(pts[i].ifname, "lan0");
	/* Too small an array is an error, never a silent cut. */
	assert_int_equal(capture_points(p, pts, 7), -ENOSPC);
	plan_free(p);
	topo_free(t);
}

/* Peers straight on the internet: only the internet and the server. */
static void points_no_router(void **state)
{
	struct topo *t = NULL;
	struct plan *p = build("[peer a]\nbehind = internet\n[peer b]\nbehind = internet\n", &t);
	struct capture_point pts[CAPTURE_MAX_POINTS];

	(void)state;
	assert_int_equal(capture_points(p, pts, CAPTURE_MAX_POINTS), 2);
	assert_string_equal(pts[0].file, "inet-br0.pcap");
	assert_true(pts[0].promisc);
	assert_string_equal(pts[1].file, "server-eth0.pcap");
	assert_false(pts[1].promisc);
	plan_free(p);
	topo_free(t);
}

static void file_names(void **state)
{
	char buf[CAPTURE_FILE_MAX];

	(void)state;
	assert_int_equal(capture_file_name("nat-home-a", "wan0", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "nat-home-a-wan0.pcap");
	/* Nothing that could leave the directory or trouble a shell. */
	assert_int_equal(capture_file_name("../x y", "a/b", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "_._x_y-a_b.pcap");
	assert_int_equal(capture_file_name("node", "if", buf, 12), -ENAMETOOLONG);
	assert_int_equal(capture_file_name("node", "if", buf, 13), 0);
	assert_string_equal(buf, "node-if.pcap");
}

static void dir_names(void **state)
{
	char buf[64];

	(void)state;
	assert_int_equal(capture_dir_name("out/pcap", "pr-cone-vs-pr-cone", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "out/pcap/pr-cone-vs-pr-cone");
	/* A matrix cell is one directory, not two. */
	assert_int_equal(capture_dir_name("d", "rfc4787/eim-eif-x-adm-adf", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "d/rfc4787.eim-eif-x-adm-adf");
	/* The base is the user's, as given; the name never climbs out of it. */
	assert_int_equal(capture_dir_name("../d", "..", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "../d/_.");
	assert_int_equal(capture_dir_name("d", "/etc", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "d/_etc");
	assert_int_equal(capture_dir_name("d", "a b*", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "d/a_b_");
	assert_int_equal(capture_dir_name("d", "", buf, sizeof(buf)), -EINVAL);
	assert_int_equal(capture_dir_name("d", "abcdef", buf, 8), -ENAMETOOLONG);
	assert_int_equal(capture_dir_name("d", "abcde", buf, 8), 0);
}

static void budget(void **state)
{
	struct capture_budget b;

	(void)state;
	/* The file header counts from the start: 24 + 2 * (16 + 100) = 256. */
	capture_budget_init(&b, 256);
	assert_int_equal(b.used, CAPTURE_FILE_HDR);
	assert_true(capture_budget_admit(&b, 100));
	assert_true(capture_budget_admit(&b, 100));
	assert_int_equal(b.used, 256);
	assert_int_equal(b.packets, 2);
	/* Full to the byte: not one more, however small. */
	assert_false(capture_budget_admit(&b, 0));
	assert_int_equal(b.used, 256);
	assert_int_equal(b.dropped, 1);

	/* One that does not fit is left out, and so is every later one, even
	 * one that would fit: the file ends where the cap was met. */
	capture_budget_init(&b, 200);
	assert_true(capture_budget_admit(&b, 60));   /* 24 + 76 = 100 */
	assert_false(capture_budget_admit(&b, 200)); /* 100 + 216 > 200 */
	assert_false(capture_budget_admit(&b, 10));  /* 100 + 26 would fit */
	assert_int_equal(b.used, 100);
	assert_int_equal(b.packets, 1);
	assert_int_equal(b.dropped, 2);

	/* A snap-length packet into the smallest cap allowed. */
	capture_budget_init(&b, CAPTURE_CAP_MIN);
	for (int i = 0; i < 10; i++)
		capture_budget_admit(&b, CAPTURE_SNAPLEN);
	assert_int_equal(b.packets, (CAPTURE_CAP_MIN - CAPTURE_FILE_HDR) / (CAPTURE_REC_HDR + CAPTURE_SNAPLEN));
	assert_int_equal(b.packets + b.dropped, 10);
	assert_true(b.used <= CAPTURE_CAP_MIN);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(points_double_nat),
		cmocka_unit_test(points_no_router),
		cmocka_unit_test(file_names),
		cmocka_unit_test(dir_names),
		cmocka_unit_test(budget),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
