/* The planner's IPv6 side (ipv6 = yes): a dual-stack plan whose IPv6
 * addresses mirror the IPv4 host numbers, routed firewall LANs, given IPv6
 * addresses and LANs, and the errors for IPv6 values in an IPv4 lab. The
 * IPv4 addressing is covered by test_outcome.c's plan_* tests. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "model/plan.h"
#include "model/topo.h"

static struct topo *parse(const char *text)
{
	struct topo *t = NULL;
	char err[256];

	if (topo_parse_buffer("t.topo", text, strlen(text), &t, err, sizeof(err)) < 0)
		fail_msg("parse: %s\n%s", err, text);
	return t;
}

static struct plan *build(const struct topo *t)
{
	struct plan *p = NULL;
	char err[256];

	if (plan_build(t, &p, err, sizeof(err)) < 0)
		fail_msg("plan: %s", err);
	return p;
}

/* Does node n have route dst via via? */
static bool has_route(const struct plan_node *n, const char *dst, const char *via)
{
	for (int k = 0; k < n->n_routes; k++)
		if (strcmp(n->routes[k].dst, dst) == 0 && strcmp(n->routes[k].via, via) == 0)
			return true;
	return false;
}

static const char two_firewalls[] = "[lab]\nipv6 = yes\n[nat fw-a]\npreset = firewall\n[nat fw-b]\n"
				    "preset = firewall\n[peer a]\nbehind = fw-a\n[peer b]\nbehind = fw-b\n";

static void dual_stack(void **state)
{
	struct topo *t = parse(two_firewalls);
	struct plan *p = build(t);
	int a = plan_nat_node(p, 0), b = plan_nat_node(p, 1);

	(void)state;
	/* IPv4 exactly as without ipv6 = yes. */
	assert_string_equal(p->server_ip, "203.0.113.10");
	assert_string_equal(p->nodes[a].lan_net, "198.51.100.16/28");
	/* IPv6: the same host numbers, in the same digits. */
	assert_string_equal(p->nodes[0].ifs[0].addr6, "2001:db8::1/64");
	assert_string_equal(p->server_ip6, "2001:db8::10");
	assert_string_equal(p->nodes[p->server_node].ifs[0].addr6, "2001:db8::10/64");
	assert_string_equal(p->nodes[a].ip6, "2001:db8::20");
	assert_string_equal(p->nodes[b].ip6, "2001:db8::21");
	assert_string_equal(p->nodes[a].lan_net6, "2001:db8:1::/64");
	assert_string_equal(p->nodes[b].lan_net6, "2001:db8:2::/64");
	assert_string_equal(p->nodes[a].ifs[1].addr6, "2001:db8:1::1/64");
	assert_string_equal(p->peers[0].ip6, "2001:db8:1::10");
	assert_string_equal(p->peers[1].ip6, "2001:db8:2::10");
	/* No IPv6 NAT: the world sees the host's own address. */
	assert_string_equal(p->peers[0].public_ip6, p->peers[0].ip6);
	assert_string_equal(p->peers[1].public_ip6, p->peers[1].ip6);
	/* The internet routes each firewall's IPv6 LAN; every node has an IPv6 default route. */
	assert_true(has_route(&p->nodes[0], "2001:db8:1::/64", "2001:db8::20"));
	assert_true(has_route(&p->nodes[0], "2001:db8:2::/64", "2001:db8::21"));
	assert_true(has_route(&p->nodes[0], "198.51.100.16/28", "203.0.113.20"));
	assert_true(has_route(&p->nodes[a], "default6", "2001:db8::1"));
	assert_true(has_route(&p->nodes[p->server_node], "default6", "2001:db8::1"));
	assert_true(has_route(&p->nodes[p->peers[0].node], "default6", "2001:db8:1::1"));
	assert_true(has_route(&p->nodes[p->peers[1].node], "default", "198.51.100.33"));
	plan_free(p);
	topo_free(t);
}

/* Without ipv6 = yes nothing IPv6 is planned. */
static void ipv4_only(void **state)
{
	static const char text[] = "[lab]\n[nat fw-a]\npreset = firewall\n[nat fw-b]\npreset = firewall\n"
				   "[peer a]\nbehind = fw-a\n[peer b]\nbehind = fw-b\n";
	struct topo *t = parse(text);
	struct plan *p = build(t);

	(void)state;
	assert_string_equal(p->server_ip6, "");
	for (int i = 0; i < p->n_nodes; i++) {
		assert_string_equal(p->nodes[i].ip6, "");
		assert_string_equal(p->nodes[i].lan_net6, "");
		for (int k = 0; k < p->nodes[i].n_ifs; k++)
			assert_string_equal(p->nodes[i].ifs[k].addr6, "");
		for (int k = 0; k < p->nodes[i].n_routes; k++)
			assert_null(strchr(p->nodes[i].routes[k].dst, ':'));
	}
	assert_string_equal(p->peers[0].ip6, "");
	plan_free(p);
	topo_free(t);
}

/* Given IPv6 values are used as written (canonical form), and the automatic
 * ones step around them: the internet, LANs and addresses. */
static void given_addresses(void **state)
{
	static const char text[] = "[lab]\nipv6 = yes\ninternet6 = 2001:db8:1::/64\n"
				   "[server]\naddress = 2001:db8:1::20\n"
				   "[nat fw-a]\npreset = firewall\nlan = 2001:db8:2::/64\n"
				   "[nat fw-b]\npreset = open\nlan = 198.51.100.64/28\n"
				   "[nat fw-c]\npreset = firewall\nbehind = fw-b\n"
				   "[peer a]\nbehind = fw-a\naddress = 2001:db8:2:0::00AB\n[peer b]\nbehind = fw-c\n";
	struct topo *t = parse(text);
	struct plan *p = build(t);
	int a = plan_nat_node(p, 0), b = plan_nat_node(p, 1), c = plan_nat_node(p, 2);

	(void)state;
	assert_string_equal(p->server_ip6, "2001:db8:1::20");
	assert_string_equal(p->server_ip, "203.0.113.10"); /* the IPv4 address stays automatic */
	assert_string_equal(p->nodes[0].ifs[0].addr6, "2001:db8:1::1/64");
	/* ::20 is the server's: the first router steps up. */
	assert_string_equal(p->nodes[a].ip6, "2001:db8:1::21");
	assert_string_equal(p->nodes[b].ip6, "2001:db8:1::22");
	assert_string_equal(p->nodes[a].lan_net6, "2001:db8:2::/64");
	/* 2001:db8:1:: is the internet, 2001:db8:2:: fw-a's. */
	assert_string_equal(p->nodes[b].lan_net6, "2001:db8:3::/64");
	assert_string_equal(p->nodes[b].lan_net, "198.51.100.64/28");
	assert_string_equal(p->nodes[c].lan_net6, "2001:db8:4::/64");
	assert_string_equal(p->peers[0].ip6, "2001:db8:2::ab");
	assert_string_equal(p->nodes[p->peers[0].node].ifs[0].addr6, "2001:db8:2::ab/64");
	/* fw-c sits behind fw-b: its LAN is routed by fw-b, and by the internet via fw-b. */
	assert_string_equal(p->nodes[c].ip6, "2001:db8:3::10");
	assert_true(has_route(&p->nodes[b], "2001:db8:4::/64", "2001:db8:3::10"));
	assert_true(has_route(&p->nodes[0], "2001:db8:4::/64", p->nodes[b].ip6));
	assert_true(has_route(&p->nodes[0], "2001:db8:3::/64", p->nodes[b].ip6));
	plan_free(p);
	topo_free(t);
}

static void plan_error(const char *text, const char *want)
{
	struct topo *t = parse(text);
	struct plan *p = NULL;
	char err[256] = "";

	assert_int_equal(plan_build(t, &p, err, sizeof(err)), -EINVAL);
	assert_null(p);
	if (!strstr(err, want) || strncmp(err, "t.topo:", 7) != 0)
		fail_msg("got \"%s\", want t.topo:...%s", err, want);
	topo_free(t);
}

static void errors(void **state)
{
	(void)state;
	/* IPv6 values in an IPv4 lab say what is missing. */
	plan_error("[lab]\n[nat fw]\npreset = firewall\nlan = 2001:db8:a::/64\n[peer a]\nbehind = fw\n"
		   "[peer b]\nbehind = internet\n",
		   "lan = 2001:db8:a::/64 is IPv6, but the lab is IPv4: add ipv6 = yes to [lab]");
	plan_error("[lab]\n[peer a]\nbehind = internet\naddress = 2001:db8::100\n[peer b]\nbehind = internet\n",
		   "address 2001:db8::100 is IPv6, but the lab is IPv4: add ipv6 = yes to [lab]");
	plan_error("[lab]\nipv6 = yes\n[server]\naddress2 = 2001:db8::11\n[peer a]\nbehind = internet\n"
		   "[peer b]\nbehind = internet\n",
		   "the second server address is IPv4 only");
	/* A /126 has no host 0x10 for an automatic peer. */
	plan_error("[lab]\nipv6 = yes\n[nat fw]\npreset = firewall\nlan = 2001:db8:a::/126\n[peer a]\n"
		   "behind = fw\n[peer b]\nbehind = internet\n",
		   "no room left in 2001:db8:a::/126 for peer-a");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(dual_stack),
		cmocka_unit_test(ipv4_only),
		cmocka_unit_test(given_addresses),
		cmocka_unit_test(errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
