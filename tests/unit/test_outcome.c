/* The expected-outcome rule, cell by cell, and the plan it runs on. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "model/outcome.h"
#include "model/plan.h"
#include "model/topo.h"

/* Build a two-peer topology text: each side is "internet", a preset, or a
 * "k=v,k=v" list of nat keys; extra is appended to [lab]. */
static char *topo_text(const char *a, const char *b, const char *extra)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	const char *sides[2] = { a, b };

	assert_non_null(f);
	fprintf(f, "[lab]\ndescription = test\n%s\n", extra ? extra : "");
	for (int k = 0; k < 2; k++) {
		if (strcmp(sides[k], "internet") == 0)
			continue;
		fprintf(f, "[nat r%d]\n", k);
		if (strchr(sides[k], '=')) {
			char *dup = strdup(sides[k]), *save = NULL;

			for (char *kv = strtok_r(dup, ",", &save); kv; kv = strtok_r(NULL, ",", &save))
				fprintf(f, "%s\n", kv);
			free(dup);
		} else {
			fprintf(f, "preset = %s\n", sides[k]);
		}
	}
	for (int k = 0; k < 2; k++)
		fprintf(f, "[peer p%d]\nbehind = %s\n", k, strcmp(sides[k], "internet") ? (k ? "r1" : "r0") : "internet");
	fclose(f);
	return text;
}

static enum outcome derive_text(const char *text, char *why, size_t whysize)
{
	struct topo *t = NULL;
	struct plan *p = NULL;
	char err[256];
	enum outcome o = OUTCOME_UNSET;

	if (topo_parse_buffer("test.topo", text, strlen(text), &t, err, sizeof(err)) < 0)
		fail_msg("parse: %s\n%s", err, text);
	if (plan_build(t, &p, err, sizeof(err)) < 0)
		fail_msg("plan: %s", err);
	assert_int_equal(outcome_derive(t, p, &outcome_punch_client, &o, why, whysize), 0);
	plan_free(p);
	topo_free(t);
	return o;
}

static enum outcome derive(const char *a, const char *b, const char *extra)
{
	char *text = topo_text(a, b, extra), why[256];
	enum outcome o = derive_text(text, why, sizeof(why));

	free(text);
	return o;
}

#define EXPECT_CELL(a, b, extra, want)                                                          \
	do {                                                                                    \
		enum outcome got_ = derive(a, b, extra);                                        \
		if (got_ != (want))                                                             \
			fail_msg("%s x %s (%s): derived %s, want %s", a, b, extra ? extra : "", \
				 topo_outcome_name(got_), topo_outcome_name(want));             \
		got_ = derive(b, a, extra);                                                     \
		if (got_ != (want))                                                             \
			fail_msg("%s x %s (%s): derived %s, want %s", b, a, extra ? extra : "", \
				 topo_outcome_name(got_), topo_outcome_name(want));             \
	} while (0)

static void classic_cells(void **state)
{
	(void)state;
	EXPECT_CELL("firewall", "firewall", NULL, OUTCOME_DIRECT);
	EXPECT_CELL("open", "firewall", NULL, OUTCOME_DIRECT);
	EXPECT_CELL("internet", "port-restricted", NULL, OUTCOME_DIRECT);
	EXPECT_CELL("port-restricted", "port-restricted", NULL, OUTCOME_DIRECT);
	EXPECT_CELL("full-cone", "port-restricted", NULL, OUTCOME_DIRECT);
	EXPECT_CELL("restricted-cone", "port-restricted", NULL, OUTCOME_DIRECT);
	EXPECT_CELL("full-cone", "symmetric", NULL, OUTCOME_DIRECT);
	EXPECT_CELL("restricted-cone", "symmetric", NULL, OUTCOME_DIRECT);
	EXPECT_CELL("port-restricted", "symmetric", NULL, OUTCOME_RELAYED);
	EXPECT_CELL("firewall", "symmetric", NULL, OUTCOME_RELAYED);
	EXPECT_CELL("symmetric", "symmetric", NULL, OUTCOME_RELAYED);
	EXPECT_CELL("symmetric", "symmetric", "relay = no", OUTCOME_FAILED);
	EXPECT_CELL("udp-blocked", "port-restricted", NULL, OUTCOME_FAILED);
	EXPECT_CELL("udp-blocked", "firewall", NULL, OUTCOME_FAILED);
	/* An open host can be reached by anyone who can send: even through a symmetric NAT. */
	EXPECT_CELL("open", "symmetric", NULL, OUTCOME_DIRECT);
}

/* ipv6 = yes: only non-translating routers, derived on the dual-stack plan. */
static void ipv6_cells(void **state)
{
	(void)state;
	EXPECT_CELL("firewall", "firewall", "ipv6 = yes", OUTCOME_DIRECT);
	EXPECT_CELL("internet", "firewall", "ipv6 = yes", OUTCOME_DIRECT);
	EXPECT_CELL("open", "firewall", "ipv6 = yes", OUTCOME_DIRECT);
	EXPECT_CELL("mapping=none,filtering=eif", "firewall", "ipv6 = yes", OUTCOME_DIRECT);
	EXPECT_CELL("firewall", "firewall", "ipv6 = yes\nmode = fixed-port", OUTCOME_DIRECT);
	EXPECT_CELL("firewall", "preset=firewall,block-udp=yes", "ipv6 = yes", OUTCOME_FAILED);
	EXPECT_CELL("firewall", "preset=firewall,block-udp=yes", "ipv6 = yes\nrelay = no", OUTCOME_FAILED);
}

static void address_dependent_cells(void **state)
{
	(void)state;
	/* ADM + APDF against a port-restricted cone: the cone's filter drops the new port. */
	EXPECT_CELL("mapping=address-dependent,filtering=address-and-port-dependent", "port-restricted", NULL,
		    OUTCOME_RELAYED);
	/* ADM against a restricted cone: the cone accepts any port of an address it sent to. */
	EXPECT_CELL("mapping=address-dependent,filtering=address-dependent", "restricted-cone", NULL,
		    OUTCOME_DIRECT);
	/* An endpoint-dependent NAT with endpoint-independent filtering takes the cone's
	 * probe in on the mapping the server saw, and answers through that flow (measured:
	 * direct, for ADM and APDM, ports preserved or random). */
	EXPECT_CELL("mapping=address-dependent,filtering=endpoint-independent,ports=random", "port-restricted",
		    NULL, OUTCOME_DIRECT);
	EXPECT_CELL("mapping=address-and-port-dependent,filtering=endpoint-independent,ports=random",
		    "port-restricted", NULL, OUTCOME_DIRECT);
	EXPECT_CELL("mapping=address-and-port-dependent,filtering=address-dependent,ports=random",
		    "port-restricted", NULL, OUTCOME_RELAYED);
	/* Endpoint-independent filtering on the ADM side lets the first probe in. */
	EXPECT_CELL("mapping=address-dependent,filtering=endpoint-independent",
		    "mapping=address-dependent,filtering=address-dependent", NULL, OUTCOME_DIRECT);
}

static void learning_matters(void **state)
{
	struct outcome_abilities no_learn = { .learn = false, .privates = true };
	char *text = topo_text("full-cone", "symmetric", NULL), err[256], why[256];
	struct topo *t = NULL;
	struct plan *p = NULL;
	enum outcome o;

	(void)state;
	assert_int_equal(topo_parse_buffer("t.topo", text, strlen(text), &t, err, sizeof(err)), 0);
	assert_int_equal(plan_build(t, &p, err, sizeof(err)), 0);
	assert_int_equal(outcome_derive(t, p, &no_learn, &o, why, sizeof(why)), 0);
	assert_int_equal(o, OUTCOME_RELAYED);
	assert_int_equal(outcome_derive(t, p, &outcome_punch_client, &o, why, sizeof(why)), 0);
	assert_int_equal(o, OUTCOME_DIRECT);
	plan_free(p);
	topo_free(t);
	free(text);
}

static void classic_modes(void **state)
{
	(void)state;
	/* The fixed-port script works across port-preserving cones... */
	EXPECT_CELL("port-restricted", "port-restricted", "mode = fixed-port\nrelay = no", OUTCOME_DIRECT);
	/* ...and not when a NAT picks its own ports. */
	EXPECT_CELL("port-restricted", "symmetric", "mode = fixed-port\nrelay = no", OUTCOME_FAILED);
	/* Advertising the local port works only while ports are preserved. */
	EXPECT_CELL("port-restricted", "port-restricted", "mode = advertise-local\nrelay = no", OUTCOME_DIRECT);
	EXPECT_CELL("port-restricted", "mapping=endpoint-independent,filtering=address-and-port-dependent,ports=random",
		    "mode = advertise-local\nrelay = no", OUTCOME_FAILED);
}

static void shared_routers(void **state)
{
	char why[256];
	/* Two peers behind one NAT reach each other on the LAN, hairpin or not. */
	static const char same_lan[] = "[lab]\n[nat home]\npreset = symmetric\n"
				       "[peer a]\nbehind = home\n[peer b]\nbehind = home\n";
	/* Two subscribers of one carrier NAT, each behind its own home NAT: only the
	 * carrier NAT's hairpinning joins them. */
	static const char cgn[] = "[lab]\n[nat cgn]\npreset = port-restricted\nhairpin = %s\n"
				  "[nat h1]\npreset = port-restricted\nbehind = cgn\n"
				  "[nat h2]\npreset = port-restricted\nbehind = cgn\n"
				  "[peer a]\nbehind = h1\n[peer b]\nbehind = h2\n";
	char text[1024];

	(void)state;
	assert_int_equal(derive_text(same_lan, why, sizeof(why)), OUTCOME_DIRECT);
	snprintf(text, sizeof(text), cgn, "yes");
	assert_int_equal(derive_text(text, why, sizeof(why)), OUTCOME_DIRECT);
	snprintf(text, sizeof(text), cgn, "no");
	assert_int_equal(derive_text(text, why, sizeof(why)), OUTCOME_RELAYED);
}

/* A pair where p0 waits behind r0 (the given nat keys) with the given peer
 * keys, and p1, behind a port-restricted cone, starts start-delay later.
 * Returns outcome_derive()'s code; *o and why as it leaves them. */
static int derive_wait(const char *r0, const char *p0_keys, const char *delay, const char *extra, enum outcome *o,
		       char *why, size_t whysize)
{
	struct topo *t = NULL;
	struct plan *p = NULL;
	char err[256], *text = NULL;
	int rc;

	assert_true(asprintf(&text,
			     "[lab]\ntimeout = 2m\n%s\n[nat r0]\n%s\n[nat r1]\npreset = port-restricted\n"
			     "[peer p0]\nbehind = r0\n%s\n[peer p1]\nbehind = r1\nstart-delay = %s\n",
			     extra, r0, p0_keys, delay) > 0);
	if (topo_parse_buffer("test.topo", text, strlen(text), &t, err, sizeof(err)) < 0)
		fail_msg("parse: %s\n%s", err, text);
	if (plan_build(t, &p, err, sizeof(err)) < 0)
		fail_msg("plan: %s", err);
	*o = OUTCOME_UNSET;
	rc = outcome_derive(t, p, &outcome_punch_client, o, why, whysize);
	plan_free(p);
	topo_free(t);
	free(text);
	return rc;
}

#define APDM_EIF_T2 "mapping = apdm\nfiltering = eif\nports = random\nudp-timeout = 2s"

/* A mapping that expires while its peer waits for the partner. */
static void mapping_timeout(void **state)
{
	char why[256];
	enum outcome o;

	(void)state;
	/* Alive (5 s idle is at most half of 30 s, or kept alive): the symmetric
	 * side's endpoint-independent filtering lets the cone's probes in on the
	 * endpoint the server saw, and the answers go back by that flow. */
	assert_int_equal(derive_wait("mapping = apdm\nfiltering = eif\nports = random\nudp-timeout = 30s", "",
				     "5s", "", &o, why, sizeof(why)), 0);
	assert_int_equal(o, OUTCOME_DIRECT);
	assert_int_equal(derive_wait(APDM_EIF_T2, "keepalive = yes", "5s", "", &o, why, sizeof(why)), 0);
	assert_int_equal(o, OUTCOME_DIRECT);
	/* Expired: the server hands out a dead endpoint, and relays only to it. */
	assert_int_equal(derive_wait(APDM_EIF_T2, "", "5s", "", &o, why, sizeof(why)), 0);
	assert_int_equal(o, OUTCOME_FAILED);
	assert_non_null(strstr(why, "p0's mapping expired"));
	assert_int_equal(derive_wait(APDM_EIF_T2, "", "5s", "relay = no", &o, why, sizeof(why)), 0);
	assert_int_equal(o, OUTCOME_FAILED);
	/* The waiting peer is the later one: nothing expires. */
	assert_int_equal(derive_wait(APDM_EIF_T2, "start-delay = 5s", "1s", "", &o, why, sizeof(why)), 0);
	assert_int_equal(o, OUTCOME_DIRECT);
	/* Ports preserved: the new mapping takes the same port again, and the
	 * port-restricted pair punches as if nothing had happened. */
	assert_int_equal(derive_wait("preset = port-restricted\nudp-timeout = 2s", "", "5s", "", &o, why,
				     sizeof(why)), 0);
	assert_int_equal(o, OUTCOME_DIRECT);
	/* Sequential ports: a new port, which the partner's cone does not accept;
	 * the relay cannot reach the new one either. */
	assert_int_equal(derive_wait("preset = port-restricted\nports = sequential\nudp-timeout = 2s", "", "5s",
				     "", &o, why, sizeof(why)), 0);
	assert_int_equal(o, OUTCOME_FAILED);
	/* The kernel's default lifetime (30 s) without udp-timeout. */
	assert_int_equal(derive_wait("mapping = apdm\nfiltering = eif\nports = random", "", "61s", "", &o, why,
				     sizeof(why)), 0);
	assert_int_equal(o, OUTCOME_FAILED);
	/* Too close to call, either side of the timeout. */
	assert_int_equal(derive_wait(APDM_EIF_T2, "", "1500ms", "", &o, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "too close"));
	assert_int_equal(derive_wait(APDM_EIF_T2, "", "3s", "", &o, why, sizeof(why)), -EINVAL);
	/* Endpoint-independent random ports: Linux may give the old port again. */
	assert_int_equal(derive_wait("preset = port-restricted\nports = random\nudp-timeout = 2s", "", "5s", "",
				     &o, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "not modelled"));
}

static void plan_addresses(void **state)
{
	static const char text[] = "[lab]\n[nat fw]\npreset = firewall\n[nat home]\npreset = port-restricted\n"
				   "[peer a]\nbehind = fw\n[peer b]\nbehind = home\n";
	struct topo *t = NULL;
	struct plan *p = NULL;
	char err[256];
	int fw, home;

	(void)state;
	assert_int_equal(topo_parse_buffer("t.topo", text, sizeof(text) - 1, &t, err, sizeof(err)), 0);
	assert_int_equal(plan_build(t, &p, err, sizeof(err)), 0);
	assert_string_equal(p->nodes[0].name, "inet");
	assert_string_equal(p->server_ip, "203.0.113.10");
	assert_string_equal(p->server_ip2, "203.0.113.11");
	fw = plan_nat_node(p, 0);
	home = plan_nat_node(p, 1);
	assert_true(fw > 0 && home > 0);
	assert_string_equal(p->nodes[fw].lan_net, "198.51.100.16/28");
	assert_string_equal(p->nodes[home].lan_net, "192.168.1.0/24");
	/* The firewall's hosts are public: the internet routes to them, and they are what the world sees. */
	assert_string_equal(p->nodes[0].routes[0].dst, "198.51.100.16/28");
	assert_string_equal(p->nodes[0].routes[0].via, p->nodes[fw].ip);
	assert_string_equal(p->peers[0].public_ip, p->peers[0].ip);
	assert_string_equal(p->peers[1].public_ip, p->nodes[home].ip);
	assert_int_not_equal(p->peers[0].local_port, p->peers[1].local_port);
	plan_free(p);
	topo_free(t);
}

/* Automatic addresses step around the ones the file gives. */
static void plan_steps_around_given(void **state)
{
	static const char text[] = "[lab]\n[nat fw1]\npreset = firewall\n[nat fw2]\npreset = firewall\n"
				   "lan = 198.51.100.16/28\nwan-address = 203.0.113.20\n"
				   "[peer a]\nbehind = fw1\n[peer b]\nbehind = internet\naddress = 203.0.113.10\n";
	struct topo *t = NULL;
	struct plan *p = NULL;
	char err[256];

	(void)state;
	assert_int_equal(topo_parse_buffer("t.topo", text, sizeof(text) - 1, &t, err, sizeof(err)), 0);
	if (plan_build(t, &p, err, sizeof(err)) < 0)
		fail_msg("%s", err);
	assert_string_equal(p->nodes[plan_nat_node(p, 0)].lan_net, "198.51.100.32/28");
	assert_string_equal(p->nodes[plan_nat_node(p, 1)].lan_net, "198.51.100.16/28");
	assert_string_equal(p->nodes[plan_nat_node(p, 0)].ip, "203.0.113.21");
	assert_string_equal(p->nodes[plan_nat_node(p, 1)].ip, "203.0.113.20");
	assert_string_equal(p->server_ip, "203.0.113.11");
	assert_string_equal(p->server_ip2, "203.0.113.12");
	assert_string_equal(p->peers[1].ip, "203.0.113.10");
	plan_free(p);
	topo_free(t);
}

static void plan_rejects(void **state)
{
	static const char text[] = "[lab]\n[nat home]\npreset = port-restricted\nlan = 10.9.0.0/30\n"
				   "[peer a]\nbehind = home\naddress = 10.9.0.1\n[peer b]\nbehind = home\n";
	struct topo *t = NULL;
	struct plan *p = NULL;
	char err[256];

	(void)state;
	assert_int_equal(topo_parse_buffer("t.topo", text, sizeof(text) - 1, &t, err, sizeof(err)), 0);
	assert_int_equal(plan_build(t, &p, err, sizeof(err)), -EINVAL);
	assert_null(p);
	assert_non_null(strstr(err, "t.topo:"));
	topo_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(classic_cells),     cmocka_unit_test(address_dependent_cells),
		cmocka_unit_test(learning_matters),  cmocka_unit_test(classic_modes),
		cmocka_unit_test(shared_routers),    cmocka_unit_test(plan_addresses),
		cmocka_unit_test(plan_rejects),      cmocka_unit_test(plan_steps_around_given),
		cmocka_unit_test(mapping_timeout),
		cmocka_unit_test(ipv6_cells),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
