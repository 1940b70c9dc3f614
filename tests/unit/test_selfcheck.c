/* The self-check's pure parts: where the planner puts the probe hosts, the
 * declared behaviour as punch-probe arguments, and reading punch-probe's
 * report (a match, a mismatch, and reports that must not be believed). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "model/argv.h"
#include "model/plan.h"
#include "selfcheck.h"
#include "model/topo.h"

static struct topo *parse(const char *text)
{
	struct topo *t = NULL;
	char err[512] = "";

	if (topo_parse_buffer("t.topo", text, strlen(text), &t, err, sizeof(err)) != 0)
		fail_msg("parse: %s", err);
	return t;
}

static struct plan *plan(const struct topo *t)
{
	struct plan *p = NULL;
	char err[512] = "";

	if (plan_build(t, &p, err, sizeof(err)) != 0)
		fail_msg("plan: %s", err);
	return p;
}

static bool has_route(const struct plan_node *n, const char *dst, const char *via)
{
	for (int i = 0; i < n->n_routes; i++)
		if (strcmp(n->routes[i].dst, dst) == 0 && strcmp(n->routes[i].via, via) == 0)
			return true;
	return false;
}

/* A probe host per router, on its LAN, with two addresses nobody else has,
 * placed after the peers so that their addresses do not move. */
static void probes_placed(void **state)
{
	struct topo *t = parse("[nat cgn]\npreset = symmetric\n"
			       "[nat fw]\npreset = firewall\nbehind = cgn\n"
			       "[nat home]\npreset = full-cone\nbehind = cgn\n"
			       "[peer a]\nbehind = home\n[peer b]\nbehind = internet\n");
	struct plan *p = plan(t);
	int cgn = plan_nat_node(p, 0), fw = plan_nat_node(p, 1), home = plan_nat_node(p, 2);
	int pc = plan_probe_node(p, 0), pf = plan_probe_node(p, 1), ph = plan_probe_node(p, 2);

	(void)state;
	assert_true(pc >= 0 && pf >= 0 && ph >= 0);
	assert_string_equal(p->nodes[pc].name, "probe-cgn");
	assert_int_equal(p->nodes[pc].kind, PLAN_PROBE);
	assert_int_equal(p->nodes[pc].index, 0);
	/* peers first: a's address is the first automatic one of home's LAN */
	assert_string_equal(p->peers[0].ip, "192.168.1.10");
	assert_string_equal(p->nodes[ph].ip, "192.168.1.11");
	assert_string_equal(p->nodes[ph].ip2, "192.168.1.12");
	assert_string_equal(p->nodes[ph].ifs[0].addr2, "192.168.1.12/24");
	assert_true(pc > p->peers[0].node && pc > p->peers[1].node);
	/* on the carrier's LAN, beside the routers behind it, distinct from them */
	assert_string_equal(p->nodes[pc].routes[0].via, "100.64.1.1");
	for (int i = 0; i < p->n_nodes; i++)
		if (i != pc) {
			assert_string_not_equal(p->nodes[i].ip, p->nodes[pc].ip);
			assert_string_not_equal(p->nodes[i].ip, p->nodes[pc].ip2);
		}
	/* the firewall's routed LAN is reached through the firewall, as from the carrier router */
	assert_true(has_route(&p->nodes[cgn], p->nodes[fw].lan_net, p->nodes[fw].ip));
	assert_true(has_route(&p->nodes[pc], p->nodes[fw].lan_net, p->nodes[fw].ip));
	assert_false(has_route(&p->nodes[ph], p->nodes[fw].lan_net, p->nodes[fw].ip));
	(void)home;
	plan_free(p);
	topo_free(t);
}

/* A LAN with no room for two more addresses gets no probe host, and the plan still builds. */
static void probe_needs_room(void **state)
{
	struct topo *t = parse("[nat tiny]\npreset = full-cone\nlan = 10.9.0.0/29\n"
			       "[peer a]\nbehind = tiny\naddress = 10.9.0.5\n[peer b]\nbehind = tiny\naddress = 10.9.0.6\n");
	struct plan *p = plan(t);

	(void)state;
	/* hosts .1 (router) .5 .6 (peers); automatic numbers start at 10: none left in a /29 */
	assert_int_equal(plan_probe_node(p, 0), -1);
	assert_int_equal(p->n_nodes, 5);
	plan_free(p);
	topo_free(t);
}

/* ipv6 = yes: the server and the probe hosts get a second IPv6 address too,
 * mirroring their second IPv4 one, for classifying over IPv6. */
static void probes_ipv6(void **state)
{
	struct topo *t = parse("[lab]\nipv6 = yes\n[nat fw]\npreset = firewall\n"
			       "[peer a]\nbehind = fw\n[peer b]\nbehind = internet\n");
	struct plan *p = plan(t);
	int pr = plan_probe_node(p, 0);

	(void)state;
	assert_true(pr >= 0);
	assert_string_equal(p->nodes[p->server_node].ip2_6, "2001:db8::11");
	assert_string_equal(p->nodes[p->server_node].ifs[0].addr2_6, "2001:db8::11/64");
	assert_string_equal(p->nodes[pr].ip6, "2001:db8:1::11");
	assert_string_equal(p->nodes[pr].ip2_6, "2001:db8:1::12");
	plan_free(p);
	topo_free(t);
}

/* self-check = no: only for a router with its own rules, said where. */
static void self_check_key(void **state)
{
	static const char bad[] = "[nat n]\npreset = firewall\nself-check = no\n[peer a]\nbehind = n\n"
				   "[peer b]\nbehind = internet\n";
	struct topo *t = NULL;
	char err[512] = "";

	(void)state;
	assert_int_equal(topo_parse_buffer("t.topo", bad, strlen(bad), &t, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "t.topo:3: [nat n]: self-check = no is for a router with its own rules = FILE"));
	t = parse("[nat n]\npreset = port-restricted\nrules = tests/lab/data/own-pr-cone.nft\nself-check = no\n"
		  "[nat m]\npreset = firewall\n[peer a]\nbehind = n\n[peer b]\nbehind = m\n");
	assert_true(t->nats[0].unchecked);
	assert_false(t->nats[1].unchecked);
	topo_free(t);
}

static void expect_args(void **state)
{
	struct topo *t = parse("[nat n]\npreset = symmetric\n[nat f]\npreset = firewall\nfiltering = adf\n"
			       "[nat blk]\npreset = udp-blocked\n[nat h]\nmapping = eim\nfiltering = eif\nports = sequential\n"
			       "hairpin = yes\n[peer a]\nbehind = n\n[peer b]\nbehind = f\n");
	const char *a[9];
	char d[96];
	int n;

	(void)state;
	n = selfcheck_expect_args(&t->nats[0], a);
	assert_int_equal(n, 8);
	assert_string_equal(a[1], "apdm");
	assert_string_equal(a[3], "apdf");
	assert_string_equal(a[5], "random");
	assert_string_equal(a[7], "no");
	selfcheck_describe_declared(&t->nats[0], d, sizeof(d));
	assert_string_equal(d, "apdm apdf random hairpin=no");

	/* a firewall translates nothing: mapping none, ports kept */
	n = selfcheck_expect_args(&t->nats[1], a);
	assert_int_equal(n, 8);
	assert_string_equal(a[0], "--expect-mapping");
	assert_string_equal(a[1], "none");
	assert_string_equal(a[3], "adf");
	assert_string_equal(a[5], "preserve");
	selfcheck_describe_declared(&t->nats[1], d, sizeof(d));
	assert_string_equal(d, "firewall adf");

	n = selfcheck_expect_args(&t->nats[2], a);
	assert_int_equal(n, 9);
	assert_string_equal(a[8], "--expect-udp-blocked");
	selfcheck_describe_declared(&t->nats[2], d, sizeof(d));
	assert_string_equal(d, "udp-blocked");

	n = selfcheck_expect_args(&t->nats[3], a);
	assert_int_equal(n, 8);
	assert_string_equal(a[5], "sequential");
	assert_string_equal(a[7], "yes");
	topo_free(t);
}

#define REPORT(match, mis)                                                                               \
	"{\"udp_blocked\":false,\"nat\":true,\"mapping\":\"apdm\",\"filtering\":\"apdf\",\"ports\":\"random\"," \
	"\"hairpin\":\"no\",\"observations\":{},\"elapsed_ms\":1503,\"match\":" match ",\"mismatches\":[" mis "]}"

static void read_match(void **state)
{
	struct selfcheck_nat e = { 0 };

	(void)state;
	assert_int_equal(selfcheck_read_report(REPORT("true", ""), &e), 0);
	assert_true(e.match);
	assert_string_equal(e.observed, "apdm apdf random hairpin=no");
	assert_string_equal(e.differs, "");
}

static void read_mismatch(void **state)
{
	struct selfcheck_nat e = { 0 };

	(void)state;
	assert_int_equal(selfcheck_read_report(REPORT("false",
						      "{\"property\":\"mapping\",\"declared\":\"eim\",\"observed\":\"apdm\"},"
						      "{\"property\":\"ports\",\"declared\":\"preserve\",\"observed\":\"random\"}"),
					       &e),
			 0);
	assert_false(e.match);
	assert_string_equal(e.differs, "mapping declared eim, observed apdm; ports declared preserve, observed random");
}

static void read_other_kinds(void **state)
{
	struct selfcheck_nat e = { 0 };

	(void)state;
	assert_int_equal(selfcheck_read_report("{\"udp_blocked\":true,\"nat\":false,\"mapping\":\"unknown\","
					       "\"filtering\":\"unknown\",\"ports\":\"unknown\",\"hairpin\":\"unknown\","
					       "\"match\":true,\"mismatches\":[]}",
					       &e),
			 0);
	assert_string_equal(e.observed, "udp-blocked");
	assert_int_equal(selfcheck_read_report("{\"udp_blocked\":false,\"nat\":false,\"mapping\":\"none\","
					       "\"filtering\":\"eif\",\"ports\":\"preserve\",\"hairpin\":\"unknown\","
					       "\"match\":true,\"mismatches\":[]}",
					       &e),
			 0);
	assert_string_equal(e.observed, "firewall eif");
}

/* Reports that are not what punch-probe writes are not believed either way. */
static void read_rejects(void **state)
{
	static const char *const bad[] = {
		NULL,
		"",
		"not json",
		"[]",
		"{\"match\":true,\"mismatches\":[]}",            /* no classification */
		REPORT("true", "{\"property\":\"mapping\",\"declared\":\"eim\",\"observed\":\"apdm\"}"), /* says match, lists one */
		REPORT("false", ""),                              /* says mismatch, lists none */
		REPORT("true", "{\"property\":1}"),
		REPORT("\"yes\"", ""),
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct selfcheck_nat e = { .match = true };

		assert_int_equal(selfcheck_read_report(bad[i], &e), -EBADMSG);
		assert_true(strstr(e.why, "not what it documents") != NULL);
	}
}

/* A long list of differences is cut at a boundary, never mid-word. */
static void read_long_mismatch(void **state)
{
	char mis[4096] = "", json[8192];
	struct selfcheck_nat e = { 0 };
	size_t len;

	(void)state;
	for (int i = 0; i < 40; i++)
		snprintf(mis + strlen(mis), sizeof(mis) - strlen(mis), "%s{\"property\":\"p%d\",\"declared\":\"x\",\"observed\":\"y\"}",
			 i ? "," : "", i);
	snprintf(json, sizeof(json), REPORT("false", "%s"), mis);
	assert_int_equal(selfcheck_read_report(json, &e), 0);
	len = strlen(e.differs);
	assert_true(len > 0 && len < sizeof(e.differs));
	assert_string_equal(e.differs + len - 1, "y");
}

/* The short wait stands only when the router's drop counters account for
 * every unanswered request and the hairpin is answered or refused. */
#define FAST(blocked, absent, refused, hairpin)                                                    \
	"{\"udp_blocked\":" blocked ",\"absent_requests\":" absent ",\"hairpin_refused\":" refused \
	",\"observations\":{\"hairpin\":\"" hairpin "\"}}"

static void fast_proven(void **state)
{
	(void)state;
	/* APDF: both filtering questions' 4 requests dropped, hairpin refused by ICMP */
	assert_true(selfcheck_fast_proven(FAST("false", "8", "true", "no"), 8));
	/* one answer merely late: forwarded, not dropped */
	assert_false(selfcheck_fast_proven(FAST("false", "8", "true", "no"), 7));
	/* drops the classifier cannot account for */
	assert_false(selfcheck_fast_proven(FAST("false", "8", "true", "no"), 9));
	/* EIF with hairpin: nothing absent, nothing dropped */
	assert_true(selfcheck_fast_proven(FAST("false", "0", "false", "yes"), 0));
	/* a hairpin neither answered nor refused: no evidence it will not come */
	assert_false(selfcheck_fast_proven(FAST("false", "0", "false", "no"), 0));
	/* UDP blocked: T1's requests dropped on the way out, no hairpin tried */
	assert_true(selfcheck_fast_proven(FAST("true", "4", "false", "unknown"), 4));
	assert_false(selfcheck_fast_proven(FAST("true", "4", "false", "unknown"), 0));
	/* reports without the counts (an older punch-probe) prove nothing */
	assert_false(selfcheck_fast_proven(REPORT("true", ""), 0));
	assert_false(selfcheck_fast_proven(NULL, 0));
	assert_false(selfcheck_fast_proven("not json", 0));
	assert_false(selfcheck_fast_proven(FAST("false", "-1", "true", "no"), 0));
}

/* Argument vectors: NULL-terminated; an argument that would be cut, or one
 * too many, marks the vector unusable instead of running something else. */
static void argv_limits(void **state)
{
	struct argv_buf a;
	char big[ARGV_LEN + 1];

	(void)state;
	argv_init(&a);
	argv_add(&a, "%s/punch-probe", "/usr/bin");
	argv_add(&a, "--port");
	argv_add(&a, "%u", 3479u);
	assert_int_equal(a.n, 3);
	assert_string_equal(a.v[0], "/usr/bin/punch-probe");
	assert_string_equal(a.v[2], "3479");
	assert_null(a.v[3]);
	assert_false(a.overflow);

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	argv_add(&a, "%s", big + 1); /* exactly ARGV_LEN - 1 bytes: fits */
	assert_false(a.overflow);
	argv_add(&a, "%s", big);     /* one more: would be cut */
	assert_true(a.overflow);
	assert_int_equal(a.n, 4);
	assert_null(a.v[4]);

	argv_init(&a);
	for (int i = 0; i < ARGV_MAX; i++)
		argv_add(&a, "%d", i);
	assert_false(a.overflow);
	argv_add(&a, "one too many");
	assert_true(a.overflow);
	assert_int_equal(a.n, ARGV_MAX);
	assert_null(a.v[ARGV_MAX]);
}

/* Unsolicited UDP: the knock's report read, its short-wait evidence, and the
 * comparison with the declaration. */
static void knock_unsolicited(void **state)
{
	struct topo *t = parse("[nat n]\npreset = port-restricted\nunsolicited = icmp-unreachable\n[nat f]\n"
			       "preset = firewall\nunsolicited = icmp-unreachable\n[peer a]\nbehind = n\n[peer b]\nbehind = f\n");
	static const char *const bad[] = { NULL, "", "[]", "{}", "{\"answer\":1}", "{\"answer\":\"maybe\"}",
					   "{\"answer\":\"silent\"", "\"silent\"", "{\"answer\":\"silent\"}",
					   "{\"answer\":\"silent\",\"sent\":-1}", "{\"answer\":\"silent\",\"sent\":\"2\"}" };
	enum selfcheck_unsolicited u = SELFCHECK_UNSOL_ANSWERED;
	struct selfcheck_nat e = { 0 };
	int sent = -1;
	char d[96];

	(void)state;
	selfcheck_describe_declared(&t->nats[0], d, sizeof(d));
	assert_string_equal(d, "eim apdf preserve hairpin=no unsolicited=icmp-unreachable");
	selfcheck_describe_declared(&t->nats[1], d, sizeof(d));
	assert_string_equal(d, "firewall apdf unsolicited=icmp-unreachable");

	assert_int_equal(selfcheck_read_knock("{\"to\":\"203.0.113.20:1023\",\"answer\":\"silent\",\"sent\":2}", &u,
					      &sent), 0);
	assert_int_equal(u, SELFCHECK_UNSOL_DROP);
	assert_int_equal(sent, 2);
	assert_int_equal(selfcheck_read_knock("{\"answer\":\"refused\",\"sent\":1,\"expected\":\"drop\",\"match\":false}",
					      &u, &sent), 0);
	assert_int_equal(u, SELFCHECK_UNSOL_ICMP);
	assert_int_equal(sent, 1);
	assert_int_equal(selfcheck_read_knock("{\"answer\":\"answered\",\"sent\":0}", &u, &sent), 0);
	assert_int_equal(u, SELFCHECK_UNSOL_ANSWERED);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(selfcheck_read_knock(bad[i], &u, &sent), -EBADMSG);

	/* an ICMP error or an answer is final; silence is proven by the
	 * classifier's counts where the router is declared silent, and knocked
	 * again with the long wait where it is declared to refuse (a late ICMP
	 * error looks the same) */
	assert_int_equal(selfcheck_knock_next(SELFCHECK_UNSOL_ICMP, false), SELFCHECK_KNOCK_FINAL);
	assert_int_equal(selfcheck_knock_next(SELFCHECK_UNSOL_ICMP, true), SELFCHECK_KNOCK_FINAL);
	assert_int_equal(selfcheck_knock_next(SELFCHECK_UNSOL_ANSWERED, false), SELFCHECK_KNOCK_FINAL);
	assert_int_equal(selfcheck_knock_next(SELFCHECK_UNSOL_DROP, false), SELFCHECK_KNOCK_COUNTS);
	assert_int_equal(selfcheck_knock_next(SELFCHECK_UNSOL_DROP, true), SELFCHECK_KNOCK_AGAIN);

	/* as declared: nothing added but the observed word */
	assert_int_equal(selfcheck_read_report(REPORT("true", ""), &e), 0);
	selfcheck_note_unsolicited(&e, true, SELFCHECK_UNSOL_ICMP);
	assert_true(e.match);
	assert_string_equal(e.observed, "apdm apdf random hairpin=no unsolicited=icmp-unreachable");
	assert_string_equal(e.differs, "");
	assert_int_equal(selfcheck_read_report(REPORT("true", ""), &e), 0);
	selfcheck_note_unsolicited(&e, false, SELFCHECK_UNSOL_DROP);
	assert_true(e.match);
	assert_string_equal(e.observed, "apdm apdf random hairpin=no");
	/* otherwise: a mismatch, after any the classifier found */
	assert_int_equal(selfcheck_read_report(REPORT("true", ""), &e), 0);
	selfcheck_note_unsolicited(&e, true, SELFCHECK_UNSOL_DROP);
	assert_false(e.match);
	assert_string_equal(e.differs, "unsolicited declared icmp-unreachable, observed drop");
	assert_int_equal(selfcheck_read_report(REPORT("false", "{\"property\":\"mapping\",\"declared\":\"eim\","
						      "\"observed\":\"apdm\"}"), &e), 0);
	selfcheck_note_unsolicited(&e, false, SELFCHECK_UNSOL_ANSWERED);
	assert_false(e.match);
	assert_string_equal(e.observed, "apdm apdf random hairpin=no unsolicited=answered");
	assert_string_equal(e.differs, "mapping declared eim, observed apdm; unsolicited declared drop, observed answered");
	topo_free(t);
}

/* Unsolicited TCP: which routers are knocked with a SYN, the reset read
 * from the knock's report, when a short knock's silence counts, and the
 * comparison with tcp-unsolicited. */
static void knock_tcp_unsolicited(void **state)
{
	struct topo *t = parse("[nat plain]\npreset = port-restricted\n[nat rst]\npreset = port-restricted\n"
			       "tcp-unsolicited = rst\n[nat map]\npreset = port-restricted\ntcp-mapping = apdm\n"
			       "[nat filt]\npreset = port-restricted\ntcp-filtering = eif\n"
			       "[peer a]\nbehind = plain\n[peer b]\nbehind = rst\n");
	enum selfcheck_unsolicited u = SELFCHECK_UNSOL_DROP;
	struct selfcheck_nat e = { 0 };
	int sent = -1;

	(void)state;
	/* a UDP lab knocks only the routers whose TCP differs from UDP's; a
	 * TCP lab every router */
	assert_false(selfcheck_tcp_wanted(&t->nats[0], false));
	assert_true(selfcheck_tcp_wanted(&t->nats[0], true));
	assert_true(selfcheck_tcp_wanted(&t->nats[1], false));
	assert_true(selfcheck_tcp_wanted(&t->nats[2], false));
	assert_true(selfcheck_tcp_wanted(&t->nats[3], false));

	assert_int_equal(selfcheck_read_knock("{\"to\":\"203.0.113.20:1023\",\"answer\":\"reset\",\"sent\":1}", &u,
					      &sent), 0);
	assert_int_equal(u, SELFCHECK_UNSOL_RST);
	assert_int_equal(sent, 1);

	/* a reset, an ICMP error or an accepted connection is final; silence
	 * only from a dropping router whose counter saw the SYN */
	assert_int_equal(selfcheck_tcp_knock_next(SELFCHECK_UNSOL_RST, TCP_UNSOL_DROP, 0), SELFCHECK_KNOCK_FINAL);
	assert_int_equal(selfcheck_tcp_knock_next(SELFCHECK_UNSOL_ICMP, TCP_UNSOL_RST, 0), SELFCHECK_KNOCK_FINAL);
	assert_int_equal(selfcheck_tcp_knock_next(SELFCHECK_UNSOL_ANSWERED, TCP_UNSOL_DROP, 0), SELFCHECK_KNOCK_FINAL);
	assert_int_equal(selfcheck_tcp_knock_next(SELFCHECK_UNSOL_DROP, TCP_UNSOL_DROP, 1), SELFCHECK_KNOCK_FINAL);
	assert_int_equal(selfcheck_tcp_knock_next(SELFCHECK_UNSOL_DROP, TCP_UNSOL_DROP, 0), SELFCHECK_KNOCK_AGAIN);
	assert_int_equal(selfcheck_tcp_knock_next(SELFCHECK_UNSOL_DROP, TCP_UNSOL_RST, 1), SELFCHECK_KNOCK_AGAIN);
	assert_int_equal(selfcheck_tcp_knock_next(SELFCHECK_UNSOL_DROP, TCP_UNSOL_ICMP, 3), SELFCHECK_KNOCK_AGAIN);

	/* as declared: the tcp word on both sides, nothing differs */
	assert_int_equal(selfcheck_read_report(REPORT("true", ""), &e), 0);
	snprintf(e.declared, sizeof(e.declared), "apdm apdf random hairpin=no");
	selfcheck_note_tcp_unsolicited(&e, TCP_UNSOL_RST, SELFCHECK_UNSOL_RST);
	assert_true(e.match);
	assert_int_equal(e.tcp_unsolicited, SELFCHECK_UNSOL_RST);
	assert_string_equal(e.declared, "apdm apdf random hairpin=no tcp=rst");
	assert_string_equal(e.observed, "apdm apdf random hairpin=no tcp=rst");
	assert_string_equal(e.differs, "");
	/* otherwise a mismatch, after the UDP ones */
	assert_int_equal(selfcheck_read_report(REPORT("false", "{\"property\":\"mapping\",\"declared\":\"eim\","
						      "\"observed\":\"apdm\"}"), &e), 0);
	snprintf(e.declared, sizeof(e.declared), "eim apdf random hairpin=no");
	selfcheck_note_tcp_unsolicited(&e, TCP_UNSOL_DROP, SELFCHECK_UNSOL_ICMP);
	assert_false(e.match);
	assert_string_equal(e.declared, "eim apdf random hairpin=no tcp=drop");
	assert_string_equal(e.observed, "apdm apdf random hairpin=no tcp=icmp");
	assert_string_equal(e.differs, "mapping declared eim, observed apdm; tcp-unsolicited declared drop, observed icmp");
	assert_int_equal(selfcheck_read_report(REPORT("true", ""), &e), 0);
	selfcheck_note_tcp_unsolicited(&e, TCP_UNSOL_ICMP, SELFCHECK_UNSOL_DROP);
	assert_false(e.match);
	assert_string_equal(e.differs, "tcp-unsolicited declared icmp, observed drop");
	topo_free(t);
}

/* tcp-classify's report read: the tcp= words on both sides, its mismatches
 * after the UDP ones, the connect-backs that did not get in; the TCP knock's
 * word then joins the same tcp= word. */
static void read_tcp(void **state)
{
#define TCPREP(nat, m, f, absent, match, mis)                                                          \
	"{\"transport\":\"tcp\",\"nat\":" nat ",\"mapping\":\"" m "\",\"filtering\":\"" f "\","            \
	"\"mapped\":[\"203.0.113.10:61010\",\"\",\"\"],\"absent_backs\":" absent ",\"match\":" match \
	",\"mismatches\":[" mis "]}"
	static const char *const bad[] = {
		NULL, "", "[]", "{}",
		/* not TCP's report: UDP's */
		REPORT("true", ""),
		TCPREP("true", "eim", "apdf", "3", "true", ""),
		TCPREP("true", "eim", "apdf", "-1", "true", ""),
		TCPREP("true", "sideways", "apdf", "0", "true", ""),
		TCPREP("true", "eim", "apdf", "0", "false", ""),
		TCPREP("true", "eim", "apdf", "0", "true", "{\"property\":\"tcp-mapping\",\"declared\":\"eim\","
							     "\"observed\":\"apdm\"}"),
		TCPREP("true", "eim", "apdf", "0", "false", "{\"property\":\"tcp-mapping\"}"),
		"{\"transport\":\"udp\",\"nat\":true,\"mapping\":\"eim\",\"filtering\":\"apdf\",\"absent_backs\":0,"
		"\"match\":true,\"mismatches\":[]}",
	};
	struct selfcheck_nat e;
	int absent = -1;

	(void)state;
	memset(&e, 0, sizeof(e));
	assert_int_equal(selfcheck_read_report(REPORT("true", ""), &e), 0);
	snprintf(e.declared, sizeof(e.declared), "apdm apdf random hairpin=no");
	assert_int_equal(selfcheck_read_tcp_report(TCPREP("true", "apdm", "apdf", "2", "true", ""), "apdm/apdf", &e,
						   &absent), 0);
	assert_true(e.match);
	assert_true(e.tcp_valid);
	assert_int_equal(e.tcp_mapping, MAP_APDM);
	assert_int_equal(e.tcp_filtering, FILTER_APDF);
	assert_int_equal(absent, 2);
	assert_string_equal(e.declared, "apdm apdf random hairpin=no tcp=apdm/apdf");
	assert_string_equal(e.observed, "apdm apdf random hairpin=no tcp=apdm/apdf");
	selfcheck_note_tcp_unsolicited(&e, TCP_UNSOL_DROP, SELFCHECK_UNSOL_DROP);
	assert_string_equal(e.declared, "apdm apdf random hairpin=no tcp=apdm/apdf/drop");
	assert_string_equal(e.observed, "apdm apdf random hairpin=no tcp=apdm/apdf/drop");
	assert_true(e.match);

	/* a firewall: only the filtering; a mismatch after the UDP ones */
	assert_int_equal(selfcheck_read_report(REPORT("false", "{\"property\":\"hairpin\",\"declared\":\"yes\","
						      "\"observed\":\"no\"}"), &e), 0);
	e.declared[0] = '\0';
	assert_int_equal(selfcheck_read_tcp_report(TCPREP("false", "none", "apdf", "2", "false",
							  "{\"property\":\"tcp-filtering\",\"declared\":\"eif\","
							  "\"observed\":\"apdf\"}"), "eif", &e, &absent), 0);
	assert_false(e.match);
	assert_int_equal(e.tcp_mapping, MAP_NONE);
	assert_string_equal(e.declared, " tcp=eif");
	assert_string_equal(e.observed, "apdm apdf random hairpin=no tcp=apdf");
	assert_string_equal(e.differs, "hairpin declared yes, observed no; tcp-filtering declared eif, observed apdf");
	/* unknown words are words */
	assert_int_equal(selfcheck_read_report(REPORT("true", ""), &e), 0);
	assert_int_equal(selfcheck_read_tcp_report(TCPREP("true", "unknown", "unknown", "0", "false",
							  "{\"property\":\"tcp-mapping\",\"declared\":\"eim\","
							  "\"observed\":\"unknown\"}"), "eim/apdf", &e, &absent), 0);
	assert_int_equal(e.tcp_mapping, -1);
	assert_false(e.match);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&e, 0, sizeof(e));
		e.match = true;
		assert_int_equal(selfcheck_read_tcp_report(bad[i], "eim/apdf", &e, &absent), -EBADMSG);
		assert_false(e.tcp_valid);
		assert_true(e.match);
		assert_string_equal(e.observed, "");
		assert_string_equal(e.differs, "");
		assert_non_null(strstr(e.why, "tcp-classify"));
	}
#undef TCPREP
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(probes_placed),   cmocka_unit_test(probe_needs_room), cmocka_unit_test(expect_args),
		cmocka_unit_test(probes_ipv6),     cmocka_unit_test(self_check_key),   cmocka_unit_test(argv_limits),
		cmocka_unit_test(read_match),      cmocka_unit_test(read_mismatch),    cmocka_unit_test(read_other_kinds),
		cmocka_unit_test(read_rejects),    cmocka_unit_test(read_long_mismatch), cmocka_unit_test(fast_proven),
		cmocka_unit_test(knock_unsolicited), cmocka_unit_test(knock_tcp_unsolicited), cmocka_unit_test(read_tcp),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
