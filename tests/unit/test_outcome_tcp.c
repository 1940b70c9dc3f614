/* The expected-outcome rule for transport = tcp (RFC 5382), cell by cell:
 * TCP hole punching is simultaneous open, derived by the simulation over each
 * router's TCP behaviour (lab/model/outcome.c, outcome_tcp()). */
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
#include "outcome_derive.h"

/* outcome_derive()'s code for a x b (outcome_pair_text(), with transport =
 * tcp first in [lab]); *o and why as it leaves them. */
static int derive_ab(const char *a, const char *b, const char *extra, const struct outcome_abilities *ab,
		     enum outcome *o, char *why, size_t whysize)
{
	char *lab = NULL, *text;
	int rc;

	assert_true(asprintf(&lab, "transport = tcp\n%s", extra ? extra : "") > 0);
	text = outcome_pair_text(a, b, lab);
	rc = outcome_derive_text(text, ab, o, NULL, why, whysize);
	free(text);
	free(lab);
	return rc;
}

static enum outcome derive(const char *a, const char *b, const char *extra)
{
	enum outcome o = OUTCOME_UNSET;
	char why[256];

	if (derive_ab(a, b, extra, &outcome_punch_client, &o, why, sizeof(why)) != 0)
		fail_msg("%s x %s: not modelled: %s", a, b, why);
	return o;
}

/* Both orders: the rule must not depend on which peer is alice. */
#define EXPECT_CELL(a, b, extra, want)                                                          \
	do {                                                                                    \
		enum outcome got_ = derive(a, b, extra);                                        \
		if (got_ != (want))                                                             \
			fail_msg("%s x %s: derived %s, want %s", a, b, topo_outcome_name(got_), \
				 topo_outcome_name(want));                                      \
		got_ = derive(b, a, extra);                                                     \
		if (got_ != (want))                                                             \
			fail_msg("%s x %s: derived %s, want %s", b, a, topo_outcome_name(got_), \
				 topo_outcome_name(want));                                      \
	} while (0)

/* The profiles of matrices/tcp.matrix and RST-answering variants of three
 * (tcp-unsolicited = rst; the matrix leaves them out, as two of them facing
 * each other make a race: tests/lab/data/tcp-rst-vs-rst.topo). */
static const struct {
	const char *name, *keys;
} profiles[] = {
	{ "eim-eif", "mapping=eim,filtering=eif" },
	{ "eim-adf", "mapping=eim,filtering=adf" },
	{ "eim-apdf", "mapping=eim,filtering=apdf" },
	{ "eim-apdf-rst", "mapping=eim,filtering=apdf,tcp-unsolicited=rst" },
	{ "adm-apdf", "mapping=adm,filtering=apdf" },
	{ "apdm-eif", "mapping=apdm,filtering=eif" },
	{ "apdm-apdf", "mapping=apdm,filtering=apdf" },
	{ "apdm-apdf-rst", "mapping=apdm,filtering=apdf,tcp-unsolicited=rst" },
	{ "firewall", "preset=firewall" },
	{ "firewall-rst", "preset=firewall,tcp-unsolicited=rst" },
};

static const char *keys_of(const char *name)
{
	for (size_t i = 0; i < sizeof(profiles) / sizeof(profiles[0]); i++)
		if (strcmp(profiles[i].name, name) == 0)
			return profiles[i].keys;
	fail_msg("no profile %s", name);
	return NULL;
}

/* Reasons shared by many cells, in RFC 5382's terms. */
#define EIM_BOTH "REQ-1 both sides: each SYN leaves from the endpoint the server saw on the control " \
		 "connection, the one the partner connects to; each router admits the partner's SYN once " \
		 "its own SYN left (APDF: conntrack takes it as the answer, simultaneous open), EIF/ADF " \
		 "even before (the listener accepts it)"
#define ONE_LOUD "only one side answers an early SYN with a RST: the quiet side drops the partner's " \
		 "SYN, whose socket retransmits it, and punch-client connects again at its next probe; " \
		 "once both SYNs have left they cross (RFC 5382 section 5)"
#define BOTH_LOUD "both sides answer an early SYN with a RST at once (against REQ-4): each SYN is refused " \
		  "by the far router, whose own connection the earlier RST closed, unless two connect()s " \
		  "happen within a round trip of each other (a race, measured in some runs): relayed"
#define ED_SYN "the endpoint-dependent side's SYN leaves from a new port; the partner's filtering " \
	       "admits only the endpoint it sent to (APDF), and the partner's SYN goes to the port " \
	       "mapped for the server only: no connection, relayed"
#define ED_EIF "the partner's SYN goes to the port the server saw, and endpoint-independent " \
	       "filtering on that mapping admits it; the listener accepts and the SYN-ACK leaves on " \
	       "that connection (a reply to an admitted SYN is on its session)"
#define ED_LEARN "the endpoint-dependent side's SYN comes from a new port of its address; the " \
		 "partner's EIF/ADF filtering admits it (ADF: it sent to that address), the partner's " \
		 "listener accepts it and answers on that connection"

/* Every pair of those profiles, reasoned from RFC 5382 and written by hand
 * (not taken from runs): D direct, R relayed. For two RST-answering routers
 * R is the outcome of most runs, not of all (BOTH_LOUD). */
static const struct {
	const char *a, *b;
	char want;
	const char *why;
} tcp_table[] = {
	{ "eim-eif", "eim-eif", 'D', EIM_BOTH },
	{ "eim-eif", "eim-adf", 'D', EIM_BOTH },
	{ "eim-eif", "eim-apdf", 'D', EIM_BOTH },
	{ "eim-eif", "eim-apdf-rst", 'D', "the EIF side admits every SYN on its mapping: only one side refuses; "
					  ONE_LOUD },
	{ "eim-eif", "adm-apdf", 'D', ED_LEARN },
	{ "eim-eif", "apdm-eif", 'D', ED_EIF },
	{ "eim-eif", "apdm-apdf", 'D', ED_LEARN },
	{ "eim-eif", "apdm-apdf-rst", 'D', ED_LEARN },
	{ "eim-eif", "firewall", 'D', EIM_BOTH },
	{ "eim-eif", "firewall-rst", 'D', ONE_LOUD },
	{ "eim-adf", "eim-adf", 'D', EIM_BOTH },
	{ "eim-adf", "eim-apdf", 'D', EIM_BOTH },
	{ "eim-adf", "eim-apdf-rst", 'D', ONE_LOUD },
	{ "eim-adf", "adm-apdf", 'D', ED_LEARN },
	{ "eim-adf", "apdm-eif", 'D', ED_EIF },
	{ "eim-adf", "apdm-apdf", 'D', ED_LEARN },
	{ "eim-adf", "apdm-apdf-rst", 'D', ED_LEARN },
	{ "eim-adf", "firewall", 'D', EIM_BOTH },
	{ "eim-adf", "firewall-rst", 'D', ONE_LOUD },
	{ "eim-apdf", "eim-apdf", 'D', EIM_BOTH },
	{ "eim-apdf", "eim-apdf-rst", 'D', ONE_LOUD },
	{ "eim-apdf", "adm-apdf", 'R', ED_SYN },
	{ "eim-apdf", "apdm-eif", 'D', ED_EIF },
	{ "eim-apdf", "apdm-apdf", 'R', ED_SYN },
	{ "eim-apdf", "apdm-apdf-rst", 'R', ED_SYN },
	{ "eim-apdf", "firewall", 'D', EIM_BOTH },
	{ "eim-apdf", "firewall-rst", 'D', ONE_LOUD },
	{ "eim-apdf-rst", "eim-apdf-rst", 'R', BOTH_LOUD },
	{ "eim-apdf-rst", "adm-apdf", 'R', ED_SYN },
	{ "eim-apdf-rst", "apdm-eif", 'D', ED_EIF },
	{ "eim-apdf-rst", "apdm-apdf", 'R', ED_SYN },
	{ "eim-apdf-rst", "apdm-apdf-rst", 'R', ED_SYN },
	{ "eim-apdf-rst", "firewall", 'D', ONE_LOUD },
	{ "eim-apdf-rst", "firewall-rst", 'R', BOTH_LOUD },
	{ "adm-apdf", "adm-apdf", 'R', ED_SYN },
	{ "adm-apdf", "apdm-eif", 'D', ED_EIF },
	{ "adm-apdf", "apdm-apdf", 'R', ED_SYN },
	{ "adm-apdf", "apdm-apdf-rst", 'R', ED_SYN },
	{ "adm-apdf", "firewall", 'R', ED_SYN },
	{ "adm-apdf", "firewall-rst", 'R', ED_SYN },
	{ "apdm-eif", "apdm-eif", 'D', ED_EIF },
	{ "apdm-eif", "apdm-apdf", 'D', ED_EIF },
	{ "apdm-eif", "apdm-apdf-rst", 'D', ED_EIF },
	{ "apdm-eif", "firewall", 'D', ED_EIF },
	{ "apdm-eif", "firewall-rst", 'D', ED_EIF },
	{ "apdm-apdf", "apdm-apdf", 'R', ED_SYN },
	{ "apdm-apdf", "apdm-apdf-rst", 'R', ED_SYN },
	{ "apdm-apdf", "firewall", 'R', ED_SYN },
	{ "apdm-apdf", "firewall-rst", 'R', ED_SYN },
	{ "apdm-apdf-rst", "apdm-apdf-rst", 'R', ED_SYN },
	{ "apdm-apdf-rst", "firewall", 'R', ED_SYN },
	{ "apdm-apdf-rst", "firewall-rst", 'R', ED_SYN },
	{ "firewall", "firewall", 'D', "no translation: each SYN goes to the host's own endpoint, and each "
				       "firewall admits the partner's SYN once its own left" },
	{ "firewall", "firewall-rst", 'D', ONE_LOUD },
	{ "firewall-rst", "firewall-rst", 'R', BOTH_LOUD },
};

static void tcp_matrix_cells(void **state)
{
	size_t n = sizeof(profiles) / sizeof(profiles[0]);

	(void)state;
	/* every unordered pair once */
	assert_int_equal(sizeof(tcp_table) / sizeof(tcp_table[0]), n * (n + 1) / 2);
	for (size_t i = 0; i < sizeof(tcp_table) / sizeof(tcp_table[0]); i++) {
		enum outcome want = tcp_table[i].want == 'D' ? OUTCOME_DIRECT : OUTCOME_RELAYED;
		const char *a = keys_of(tcp_table[i].a), *b = keys_of(tcp_table[i].b);

		for (int order = 0; order < 2; order++) {
			enum outcome got = derive(order ? b : a, order ? a : b, NULL);

			if (got != want)
				fail_msg("%s x %s: derived %s, want %s (%s)", tcp_table[i].a, tcp_table[i].b,
					 topo_outcome_name(got), topo_outcome_name(want), tcp_table[i].why);
		}
	}
}

/* TCP follows tcp-mapping / tcp-filtering where they differ from UDP's. */
static void tcp_declared_apart(void **state)
{
	(void)state;
	/* UDP a port-restricted cone, TCP symmetric: relayed over TCP... */
	EXPECT_CELL("preset=port-restricted,tcp-mapping=apdm", "preset=port-restricted", NULL, OUTCOME_RELAYED);
	/* UDP symmetric, TCP endpoint-independent (REQ-1 honoured for TCP only) */
	EXPECT_CELL("preset=symmetric,tcp-mapping=eim", "preset=port-restricted", NULL, OUTCOME_DIRECT);
	/* TCP filtering EIF admits the endpoint-dependent partner's SYN from its new port */
	EXPECT_CELL("preset=port-restricted,tcp-filtering=eif", "preset=symmetric", NULL, OUTCOME_DIRECT);
	EXPECT_CELL("preset=port-restricted", "preset=symmetric", NULL, OUTCOME_RELAYED);
	/* no relay: failed instead of relayed */
	EXPECT_CELL("preset=symmetric", "preset=symmetric", "relay = no", OUTCOME_FAILED);
	EXPECT_CELL("preset=port-restricted,tcp-unsolicited=rst", "preset=port-restricted,tcp-unsolicited=rst",
		    "relay = no", OUTCOME_FAILED);
	/* a RST from a router whose filtering admits the early SYN anyway changes nothing */
	EXPECT_CELL("preset=full-cone,tcp-unsolicited=rst", "preset=full-cone,tcp-unsolicited=rst", NULL,
		    OUTCOME_DIRECT);
	/* inbound-reply = new-mapping is UDP's: a SYN-ACK is on the SYN's connection */
	EXPECT_CELL("mapping=apdm,filtering=eif,inbound-reply=new-mapping", "preset=port-restricted", NULL,
		    OUTCOME_DIRECT);
	/* two hosts behind one RST-answering router reach each other on its LAN */
	{
		enum outcome o = OUTCOME_UNSET;
		char why[256];
		static const char text[] = "[lab]\ndescription = test\ntransport = tcp\n"
					   "[nat home]\npreset = port-restricted\ntcp-unsolicited = rst\n"
					   "[peer p0]\nbehind = home\n[peer p1]\nbehind = home\n";

		assert_int_equal(outcome_derive_text(text, &outcome_punch_client, &o, NULL, why, sizeof(why)), 0);
		assert_int_equal(o, OUTCOME_DIRECT);
	}
	/* a peer on the internet has no router to refuse anything */
	EXPECT_CELL("internet", "preset=firewall,tcp-unsolicited=rst", NULL, OUTCOME_DIRECT);
}

/* What the rule does not decide, with the reason. */
static void tcp_not_modelled(void **state)
{
	struct outcome_abilities no_retry = outcome_punch_client;
	enum outcome o;
	char why[256];

	(void)state;
	/* ICMP leaves the refused connection half-open on the refused side's router */
	assert_int_equal(derive_ab("preset=port-restricted,tcp-unsolicited=icmp", "preset=port-restricted", NULL,
				   &outcome_punch_client, &o, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "ICMP"));
	/* a client that gives up after a RST: which SYN leaves first decides */
	no_retry.tcp_retry = false;
	assert_int_equal(derive_ab("preset=port-restricted,tcp-unsolicited=rst", "preset=port-restricted", NULL,
				   &no_retry, &o, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "does not connect again"));
	/* ...but with quiet routers it does not matter */
	assert_int_equal(derive_ab("preset=port-restricted", "preset=port-restricted", NULL, &no_retry, &o, why,
				   sizeof(why)), 0);
	assert_int_equal(o, OUTCOME_DIRECT);
	/* UDP blocked: TCP passes, the UDP relay would not */
	assert_int_equal(derive_ab("preset=port-restricted,block-udp=yes", "preset=port-restricted", NULL,
				   &outcome_punch_client, &o, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "blocks UDP"));
}

/* The TCP established timeout, not UDP's, decides whether a waiting peer's
 * mapping survives (REQ-5: at least 2 h 4 min; the kernel keeps 5 days).
 * p0 registers, then waits 30 s for p1. */
static int derive_wait(const char *transport, const char *timeouts, enum outcome *o, char *why, size_t whysize)
{
	char text[512];

	snprintf(text, sizeof(text), "[lab]\ndescription = test\ntransport = %s\ntimeout = 60s\n"
		 "[nat r0]\npreset = port-restricted\nports = random\n%s\n[nat r1]\npreset = port-restricted\n"
		 "[peer p0]\nbehind = r0\n[peer p1]\nbehind = r1\nstart-delay = 30s\n", transport, timeouts);
	return outcome_derive_text(text, &outcome_punch_client, o, NULL, why, whysize);
}

static void tcp_timeouts(void **state)
{
	enum outcome o;
	char why[256];

	(void)state;
	/* over UDP the 10 s mapping dies while p0 waits, and a random EIM port's
	 * reuse is not modelled... */
	assert_int_equal(derive_wait("udp", "udp-timeout = 10s", &o, why, sizeof(why)), -EINVAL);
	/* ...over TCP the udp-timeout is not TCP's: the established connection lives on */
	assert_int_equal(derive_wait("tcp", "udp-timeout = 10s", &o, why, sizeof(why)), 0);
	assert_int_equal(o, OUTCOME_DIRECT);
	/* a non-conformant 10 s established timeout (REQ-5) expires it like UDP's */
	assert_int_equal(derive_wait("tcp", "tcp-timeout = 10s", &o, why, sizeof(why)), -EINVAL);
	/* REQ-5's minimum keeps it */
	assert_int_equal(derive_wait("tcp", "tcp-timeout = 124m", &o, why, sizeof(why)), 0);
	assert_int_equal(o, OUTCOME_DIRECT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(tcp_matrix_cells),
		cmocka_unit_test(tcp_declared_apart),
		cmocka_unit_test(tcp_not_modelled),
		cmocka_unit_test(tcp_timeouts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
