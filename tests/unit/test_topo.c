/* Unit tests of the topology parser: good files give the right model, key by
 * key; every kind of error gives its "file:line: message"; presets, overrides
 * and limits. Runs under ASan, so a leak on any path fails the test. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "client/predict.h"
#include "model/rulesfile.h"
#include "model/topo.h"

/* Test inputs live next to this file, wherever make is run from. */
static const char *input(const char *name)
{
	static char path[4096];
	const char *src = __FILE__;
	const char *slash = strrchr(src, '/');

	snprintf(path, sizeof(path), "%.*s/topo/%s", slash ? (int)(slash - src) : 1,
		 slash ? src : ".", name);
	return path;
}

static struct topo *parse_ok(const char *text)
{
	struct topo *t = NULL;
	char err[512] = "";
	int rc = topo_parse_buffer("t.topo", text, strlen(text), &t, err, sizeof(err));

	if (rc != 0)
		fail_msg("unexpected error %d: %s\n--- input:\n%s", rc, err, text);
	assert_non_null(t);
	return t;
}

/* The parse must fail with -EINVAL, *out NULL, and err starting with
 * "t.topo:LINE: " and containing want. */
static void parse_bad(const char *text, int line, const char *want)
{
	struct topo *t = (struct topo *)1;
	char err[512] = "", prefix[32];
	int rc = topo_parse_buffer("t.topo", text, strlen(text), &t, err, sizeof(err));

	snprintf(prefix, sizeof(prefix), "t.topo:%d: ", line);
	if (rc != -EINVAL || t != NULL || strncmp(err, prefix, strlen(prefix)) != 0 ||
	    !strstr(err, want))
		fail_msg("rc %d, got \"%s\", wanted \"%s...%s\"\n--- input:\n%s", rc, err, prefix,
			 want, text);
}

#define PEERS "[peer alice]\nbehind = internet\n[peer bob]\nbehind = internet\n"

/* [programs] with every key, and a peer with its own program. */
static void test_programs(void **state)
{
	struct topo *t;

	(void)state;
	t = parse_ok("[programs]\nsetup = gen {workdir}\nserver = lh {server_port}\nclient = node {peer}\n"
		     "server-ready = stdout ^up( and running)?$\nclient-ready = port 4242/udp\n"
		     "check = ping 10.0.0.{other_role}\n"
		     "[peer alice]\nbehind = internet\nprogram = other-node --as {peer}\n"
		     "[peer bob]\nbehind = internet\n");
	assert_string_equal(t->programs.setup, "gen {workdir}");
	assert_string_equal(t->programs.check, "ping 10.0.0.{other_role}");
	assert_int_equal(t->programs.server_ready.kind, READY_STDOUT);
	assert_string_equal(t->programs.server_ready.pattern, "^up( and running)?$");
	assert_int_equal(t->programs.client_ready.kind, READY_PORT);
	assert_int_equal(t->programs.client_ready.port, 4242);
	assert_int_equal(t->programs.client_ready.proto, 17);
	assert_string_equal(t->peers[0].program, "other-node --as {peer}");
	assert_null(t->peers[1].program);
	topo_free(t);
	/* port alone: the program's own port, either protocol */
	t = parse_ok("[programs]\nclient = c\nclient-ready = port\n" PEERS);
	assert_int_equal(t->programs.client_ready.kind, READY_PORT);
	assert_int_equal(t->programs.client_ready.port, 0);
	assert_int_equal(t->programs.client_ready.proto, 0);
	topo_free(t);
	/* Each peer its own program, no client: a cross-implementation cell. */
	t = parse_ok("[peer a]\nbehind = internet\nprogram = impl-one\n[peer b]\nbehind = internet\n"
		     "program = impl-two\n");
	assert_null(t->programs.client);
	assert_string_equal(t->peers[1].program, "impl-two");
	topo_free(t);
}

static void test_full_file(void **state)
{
	struct topo *t = NULL;
	char err[512];
	const struct topo_nat *cgn, *a, *b;
	const struct topo_peer *alice, *bob;

	(void)state;
	assert_int_equal(topo_parse_file(input("full.topo"), &t, err, sizeof(err)), 0);
	assert_string_equal(t->path, input("full.topo"));
	assert_string_equal(t->description,
			    "Every key set: a CGN in front of a home, and a symmetric NAT");
	assert_int_equal(t->expect, OUTCOME_RELAYED);
	assert_string_equal(t->expect_why, "symmetric on one side, and the CGN adds a second mapping");
	assert_int_equal(t->mode, MODE_ADVERTISE_LOCAL);
	assert_true(t->relay);
	assert_int_equal(t->timeout_ms, 60000);
	assert_int_equal(t->punch_timeout_ms, 2500);
	assert_int_equal(t->messages, 1000);
	assert_false(t->ipv6);
	assert_string_equal(t->inet_subnet, "198.51.100.0/24");
	assert_string_equal(t->inet_subnet6, "2001:db8:1::/64");
	assert_string_equal(t->server.addr, "198.51.100.10");
	assert_string_equal(t->server.addr2, "198.51.100.11");
	assert_string_equal(t->programs.server, "/usr/bin/my-server --port {server_port}");
	assert_string_equal(t->programs.client, "/usr/bin/my-client {server} {session} {peer} {role}");

	assert_int_equal(t->n_nats, 3);
	cgn = &t->nats[0];
	a = &t->nats[1];
	b = &t->nats[2];
	assert_string_equal(cgn->name, "cgn");
	assert_int_equal(cgn->line, 24);
	assert_string_equal(cgn->preset, "port-restricted"); /* alias, stored canonical */
	assert_true(cgn->nat);
	assert_int_equal(cgn->behavior.mapping, MAP_EIM);
	assert_int_equal(cgn->behavior.filtering, FILTER_APDF);
	assert_int_equal(cgn->behavior.ports, PORTS_SEQUENTIAL);
	assert_false(cgn->behavior.hairpin);
	assert_false(cgn->behavior.udp_blocked);
	assert_int_equal(cgn->behavior.udp_timeout_ms, 120000);
	assert_int_equal(cgn->uplink, -1);
	assert_null(cgn->rules_file);
	assert_string_equal(cgn->wan_addr, "198.51.100.20");
	assert_string_equal(cgn->lan_subnet, "100.64.0.0/10");
	assert_int_equal(cgn->uplink_impair.delay_ms, 20);
	assert_int_equal(cgn->uplink_impair.jitter_ms, 5);
	assert_int_equal(cgn->uplink_impair.loss_ppm, 5000);

	assert_string_equal(a->name, "home-a");
	assert_string_equal(a->preset, "");
	assert_true(a->nat);
	assert_int_equal(a->behavior.mapping, MAP_ADM);
	assert_int_equal(a->behavior.filtering, FILTER_EIF);
	assert_int_equal(a->behavior.ports, PORTS_RANDOM);
	assert_true(a->behavior.hairpin);
	assert_false(a->behavior.udp_blocked);
	assert_int_equal(a->behavior.udp_timeout_ms, 0);
	assert_int_equal(a->uplink, 0);
	assert_string_equal(a->wan_addr, "100.64.0.20");
	assert_string_equal(a->lan_subnet, "10.0.1.0/24");

	assert_string_equal(b->preset, "symmetric");
	assert_int_equal(b->behavior.mapping, MAP_APDM);
	assert_int_equal(b->behavior.filtering, FILTER_ADF); /* override of the preset */
	assert_int_equal(b->behavior.ports, PORTS_RANDOM);
	assert_int_equal(b->uplink, -1);
	assert_int_equal(b->uplink_impair.loss_ppm, 1000000);
	assert_string_equal(b->wan_addr, "");

	assert_int_equal(t->n_peers, 2);
	alice = &t->peers[0];
	bob = &t->peers[1];
	assert_string_equal(alice->name, "alice");
	assert_int_equal(alice->behind, 1);
	assert_string_equal(alice->addr, "10.0.1.10");
	assert_int_equal(alice->uplink_impair.delay_ms, 1000);
	assert_true(alice->keepalive);
	assert_int_equal(alice->start_delay_ms, 500);
	assert_string_equal(bob->name, "bob");
	assert_int_equal(bob->behind, 2);
	assert_string_equal(bob->addr, "");
	assert_int_equal(bob->uplink_impair.loss_ppm, 10000);
	assert_false(bob->keepalive);
	topo_free(t);
}

static void test_defaults(void **state)
{
	struct topo *t = NULL;
	char err[512];

	(void)state;
	assert_int_equal(topo_parse_file(input("minimal.topo"), &t, err, sizeof(err)), 0);
	assert_null(t->description);
	assert_int_equal(t->expect, OUTCOME_UNSET);
	assert_null(t->expect_why);
	assert_int_equal(t->mode, MODE_RENDEZVOUS);
	assert_true(t->relay);
	assert_int_equal(t->timeout_ms, 10000);
	assert_int_equal(t->punch_timeout_ms, 3000);
	assert_int_equal(t->messages, 5);
	assert_false(t->ipv6);
	assert_string_equal(t->inet_subnet, "");
	assert_string_equal(t->inet_subnet6, "");
	assert_string_equal(t->server.addr, "");
	assert_null(t->programs.server);
	assert_null(t->programs.client);
	assert_int_equal(t->n_nats, 2);
	assert_int_equal(t->nats[1].uplink, -1);
	assert_int_equal(t->nats[1].line, 4);
	assert_int_equal(t->peers[0].behind, 0);
	assert_int_equal(t->peers[1].behind, 1);
	assert_int_equal(t->peers[1].line, 10);
	topo_free(t);
}

/* text's clients' timers (topo_client_timeouts()) must be punch and limit. */
static void client_timeouts_are(const char *text, uint32_t punch, uint32_t limit)
{
	struct topo *t = parse_ok(text);
	uint32_t got_punch, got_limit;

	topo_client_timeouts(t, &got_punch, &got_limit);
	topo_free(t);
	if (got_punch != punch || got_limit != limit)
		fail_msg("punch %u ms, limit %u ms; want %u, %u\n--- input:\n%s", (unsigned)got_punch,
			 (unsigned)got_limit, (unsigned)punch, (unsigned)limit, text);
}

/* The clients' timers: the lab's own where nothing delays or loses and the
 * file says nothing; what the file says, always. */
static void test_client_timeouts(void **state)
{
	static const char *const pair = "[nat a]\npreset = full-cone\n[nat b]\npreset = full-cone\n"
					"[peer x]\nbehind = a\n[peer y]\nbehind = b\n";
	char text[512];

	(void)state;
	client_timeouts_are(pair, TOPO_LAB_PUNCH_MS, TOPO_LAB_PUNCH_MS + TOPO_LAB_EXCHANGE_MS);
	/* given in the file: kept, the other one still the lab's */
	snprintf(text, sizeof(text), "[lab]\npunch-timeout = 2s\n%s", pair);
	client_timeouts_are(text, 2000, 2000 + TOPO_LAB_EXCHANGE_MS);
	snprintf(text, sizeof(text), "[lab]\ntimeout = 20s\n%s", pair);
	client_timeouts_are(text, TOPO_LAB_PUNCH_MS, 20000);
	/* a delay, a loss or a start-delay: the client's defaults */
	snprintf(text, sizeof(text), "%s%s", pair, "delay = 10ms\n");
	client_timeouts_are(text, 3000, 10000);
	snprintf(text, sizeof(text), "%s%s", pair, "loss = 1%\n");
	client_timeouts_are(text, 3000, 10000);
	snprintf(text, sizeof(text), "%s%s", pair, "start-delay = 1s\n");
	client_timeouts_are(text, 3000, 10000);
}

static void test_ipv6_fixed_port(void **state)
{
	struct topo *t = NULL;
	char err[512];

	(void)state;
	assert_int_equal(topo_parse_file(input("ipv6-firewalls.topo"), &t, err, sizeof(err)), 0);
	assert_true(t->ipv6);
	assert_int_equal(t->mode, MODE_FIXED_PORT);
	assert_false(t->relay); /* fixed-port has no server, so no relay */
	assert_false(t->nats[0].nat);
	assert_string_equal(t->nats[0].preset, "firewall");
	assert_int_equal(t->nats[0].behavior.mapping, MAP_NONE);
	assert_int_equal(t->nats[0].behavior.filtering, FILTER_APDF);
	assert_false(t->nats[1].nat);
	assert_int_equal(t->nats[1].behavior.filtering, FILTER_OPEN);
	assert_string_equal(t->peers[0].addr, "2001:db8:a::10");
	topo_free(t);
}

static void test_crlf_bom_same_lan(void **state)
{
	struct topo *t = NULL;
	char err[512];

	(void)state;
	assert_int_equal(topo_parse_file(input("crlf-same-lan.topo"), &t, err, sizeof(err)), 0);
	assert_string_equal(t->description, "CRLF line ends and a BOM");
	assert_int_equal(t->n_nats, 1);
	assert_true(t->nats[0].behavior.hairpin);
	assert_int_equal(t->peers[0].behind, 0);
	assert_int_equal(t->peers[1].behind, 0);
	topo_free(t);
}

static void test_bad_files(void **state)
{
	struct topo *t = (struct topo *)1;
	char err[512];
	char want[600];

	(void)state;
	assert_int_equal(topo_parse_file(input("bad-cycle.topo"), &t, err, sizeof(err)), -EINVAL);
	assert_null(t);
	snprintf(want, sizeof(want), "%s:6: behind = b makes a cycle", input("bad-cycle.topo"));
	assert_non_null(strstr(err, want));
	assert_int_equal(topo_parse_file(input("bad-one-peer.topo"), &t, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want), "%s:5: end of file: a topology needs exactly two [peer] "
		 "sections, found 1", input("bad-one-peer.topo"));
	assert_string_equal(err, want);
	assert_int_equal(topo_parse_file(input("bad-long-line.topo"), &t, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want), "%s:2: line too long", input("bad-long-line.topo"));
	assert_non_null(strstr(err, want));
	assert_int_equal(topo_parse_file(input("no-such.topo"), &t, err, sizeof(err)), -ENOENT);
	assert_null(t);
	assert_non_null(strstr(err, "no-such.topo: No such file or directory"));
	/* err may be NULL */
	assert_int_equal(topo_parse_file(input("bad-cycle.topo"), &t, NULL, 0), -EINVAL);
}

static void test_presets(void **state)
{
	static const struct {
		const char *name;
		bool nat;
		enum nat_mapping m;
		enum nat_filtering f;
		enum nat_ports p;
		bool blocked;
	} want[] = {
		{ "open", false, MAP_NONE, FILTER_OPEN, PORTS_PRESERVE, false },
		{ "firewall", false, MAP_NONE, FILTER_APDF, PORTS_PRESERVE, false },
		{ "outbound-only", false, MAP_NONE, FILTER_APDF, PORTS_PRESERVE, false },
		{ "full-cone", true, MAP_EIM, FILTER_EIF, PORTS_PRESERVE, false },
		{ "full", true, MAP_EIM, FILTER_EIF, PORTS_PRESERVE, false },
		{ "restricted-cone", true, MAP_EIM, FILTER_ADF, PORTS_PRESERVE, false },
		{ "address-restricted", true, MAP_EIM, FILTER_ADF, PORTS_PRESERVE, false },
		{ "port-restricted", true, MAP_EIM, FILTER_APDF, PORTS_PRESERVE, false },
		{ "Port-Restricted-Cone", true, MAP_EIM, FILTER_APDF, PORTS_PRESERVE, false },
		{ "symmetric", true, MAP_APDM, FILTER_APDF, PORTS_RANDOM, false },
		{ "udp-blocked", true, MAP_EIM, FILTER_APDF, PORTS_PRESERVE, true },
	};
	struct nat_behavior b;
	bool nat;

	(void)state;
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		memset(&b, 0xff, sizeof(b));
		assert_int_equal(topo_preset(want[i].name, &b, &nat), 0);
		assert_int_equal(nat, want[i].nat);
		assert_int_equal(b.mapping, want[i].m);
		assert_int_equal(b.filtering, want[i].f);
		assert_int_equal(b.ports, want[i].p);
		assert_int_equal(b.udp_blocked, want[i].blocked);
		assert_false(b.hairpin);
		assert_int_equal(b.udp_timeout_ms, 0);
	}
	assert_int_equal(topo_preset("cone", &b, &nat), -ENOENT);
	assert_int_equal(topo_preset("", &b, &nat), -ENOENT);
}

static void test_overrides(void **state)
{
	struct topo *t;

	(void)state;
	/* Explicit keys win over the preset whatever their order. */
	t = parse_ok("[nat n]\nmapping = endpoint-independent\npreset = symmetric\n"
		     "ports = preserve\n[peer a]\nbehind = n\n[peer b]\nbehind = n\n");
	assert_string_equal(t->nats[0].preset, "symmetric");
	assert_int_equal(t->nats[0].behavior.mapping, MAP_EIM);
	assert_int_equal(t->nats[0].behavior.filtering, FILTER_APDF);
	assert_int_equal(t->nats[0].behavior.ports, PORTS_PRESERVE);
	assert_true(t->nats[0].nat);
	topo_free(t);
	/* mapping = none on a NAT preset turns it into a firewall. */
	t = parse_ok("[nat n]\npreset = full-cone\nmapping = none\n" PEERS);
	assert_false(t->nats[0].nat);
	assert_int_equal(t->nats[0].behavior.filtering, FILTER_EIF);
	topo_free(t);
	/* Only mapping given: Linux conntrack's filtering (APDF); only filtering: EIM. */
	t = parse_ok("[nat n]\nmapping = APDM\n[nat m]\nfiltering = adf\nblock-udp = yes\n" PEERS);
	assert_int_equal(t->nats[0].behavior.mapping, MAP_APDM);
	assert_int_equal(t->nats[0].behavior.filtering, FILTER_APDF);
	assert_int_equal(t->nats[0].behavior.ports, PORTS_PRESERVE);
	assert_int_equal(t->nats[1].behavior.mapping, MAP_EIM);
	assert_int_equal(t->nats[1].behavior.filtering, FILTER_ADF);
	assert_true(t->nats[1].behavior.udp_blocked);
	topo_free(t);
	/* udp-blocked preset can be un-blocked. */
	t = parse_ok("[nat n]\npreset = udp-blocked\nblock-udp = no\n" PEERS);
	assert_false(t->nats[0].behavior.udp_blocked);
	topo_free(t);
}

static void test_values(void **state)
{
	static const struct {
		const char *text;
		uint32_t ms;
	} durations[] = {
		{ "100ms", 100 }, { "3s", 3000 }, { "1m", 60000 }, { "60m", 3600000 },
		{ "3600s", 3600000 }, { "0001s", 1000 },
	};
	static const struct {
		const char *text;
		uint32_t ppm;
	} losses[] = {
		{ "0%", 0 }, { "1%", 10000 }, { "0.5%", 5000 }, { "0.0001%", 1 }, { "12.25%", 122500 },
		{ "100%", 1000000 }, { "100.0%", 1000000 },
	};
	static const char *const trues[] = { "yes", "true", "on", "1", "YES", "True" };
	static const char *const falses[] = { "no", "false", "off", "0", "No" };
	char text[512];
	struct topo *t;

	(void)state;
	for (size_t i = 0; i < sizeof(durations) / sizeof(durations[0]); i++) {
		snprintf(text, sizeof(text), "[lab]\ntimeout = %s\npunch-timeout = 100ms\n" PEERS,
			 durations[i].text);
		if (durations[i].ms <= 100)
			snprintf(text, sizeof(text), "[lab]\npunch-timeout = %s\n" PEERS,
				 durations[i].text);
		t = parse_ok(text);
		assert_int_equal(durations[i].ms <= 100 ? t->punch_timeout_ms : t->timeout_ms,
				 durations[i].ms);
		topo_free(t);
	}
	for (size_t i = 0; i < sizeof(losses) / sizeof(losses[0]); i++) {
		snprintf(text, sizeof(text), "[peer a]\nbehind = internet\nloss = %s\n"
			 "[peer b]\nbehind = internet\n", losses[i].text);
		t = parse_ok(text);
		assert_int_equal(t->peers[0].uplink_impair.loss_ppm, losses[i].ppm);
		topo_free(t);
	}
	for (size_t i = 0; i < sizeof(trues) / sizeof(trues[0]); i++) {
		snprintf(text, sizeof(text), "[lab]\nrelay = %s\n" PEERS, trues[i]);
		t = parse_ok(text);
		assert_true(t->relay);
		topo_free(t);
	}
	for (size_t i = 0; i < sizeof(falses) / sizeof(falses[0]); i++) {
		snprintf(text, sizeof(text), "[lab]\nrelay = %s\n" PEERS, falses[i]);
		t = parse_ok(text);
		assert_false(t->relay);
		topo_free(t);
	}
	/* Whitespace, ':' separator, comments, blank lines and a missing final newline. */
	t = parse_ok("\n  ; comment\n\t# comment\n[ lab ]   ; comment\n  messages:1\n"
		     "description=  spaced out   ; and a comment\n"
		     "[peer   a  ]\nbehind = internet\n[peer b]\nbehind = internet");
	assert_int_equal(t->messages, 1);
	assert_string_equal(t->description, "spaced out");
	assert_string_equal(t->peers[0].name, "a");
	topo_free(t);
	/* Without whitespace before it, ';' is part of the value; '#' never starts an inline comment. */
	t = parse_ok("[lab]\ndescription = a;b # c\n" PEERS);
	assert_string_equal(t->description, "a;b # c");
	topo_free(t);
	/* Limits that are allowed. */
	t = parse_ok("[lab]\nmessages = 1000\ntimeout = 60m\n" PEERS);
	topo_free(t);
	t = parse_ok("[nat abcdefghijklmno]\npreset = open\n[peer a-1]\nbehind = abcdefghijklmno\n"
		     "[peer 0b]\nbehind = internet\n");
	assert_string_equal(t->nats[0].name, "abcdefghijklmno");
	topo_free(t);
}

static void test_syntax_errors(void **state)
{
	(void)state;
	parse_bad("[lab]\ndescription = x\nthis line has no separator\n" PEERS, 3,
		  "expected 'key = value', a [section] or a comment");
	parse_bad("[lab\n", 1, "section header without ']'");
	parse_bad("[lab] trailing\n", 1, "unexpected text after ']'");
	parse_bad("[router x]\n", 1, "unknown section type '[router x]'");
	parse_bad("[]\n", 1, "unknown section type '[]'");
	parse_bad("description = x\n", 1, "'description' outside of any section");
	parse_bad("[lab]\nfoo = 1\n", 2, "unknown key 'foo' in [lab] (known: description, expect,");
	parse_bad("[nat n]\npreset = open\nmaping = eim\n", 3, "unknown key 'maping' in [nat n]");
	parse_bad("[peer a]\nbehind = internet\nbehnd = x\n", 3, "unknown key 'behnd' in [peer a]");
	parse_bad("[server]\nport = 1\n", 2, "unknown key 'port' in [server]");
	parse_bad("[lab]\nmessages = 1\n\nmessages = 2\n", 4,
		  "messages given twice in [lab] (first on line 2)");
	parse_bad("[lab]\n[lab]\n", 2, "[lab] given twice");
	parse_bad("[server]\n[server]\n", 2, "[server] given twice");
	parse_bad("[programs]\n[programs]\n", 2, "[programs] given twice");
	parse_bad("[lab x]\n", 1, "[lab] takes no name");
	parse_bad("[nat]\n", 1, "[nat] needs a name: [nat NAME]");
	parse_bad("[peer   ]\n", 1, "[peer] needs a name");
	parse_bad("[nat a]\npreset = open\n[peer a]\n", 3,
		  "the name 'a' is already used on line 1");
	parse_bad("[peer a]\nbehind = internet\n[peer a]\n", 3, "the name 'a' is already used on line 1");
	parse_bad("[nat Home]\n", 1, "bad name 'Home'");
	parse_bad("[nat -a]\n", 1, "bad name '-a'");
	parse_bad("[nat a_b]\n", 1, "bad name 'a_b'");
	parse_bad("[nat abcdefghijklmnop]\n", 1, "bad name 'abcdefghijklmnop': names are 1 to 15");
	parse_bad("[nat two words]\n", 1, "bad name 'two words'");
	parse_bad("[nat internet]\n", 1, "'internet' is reserved");
	parse_bad("[lab]\ndescription =\n", 2, "description has an empty value");
	parse_bad("[lab]\ntimeout = ; nothing\n", 2, "timeout has an empty value");
	parse_bad(PEERS "[peer carol]\n", 5, "a third [peer]: a topology has exactly two peers");
	parse_bad("[lab]\n", 1, "end of file: a topology needs exactly two [peer] sections, found 0");
	parse_bad("", 1, "found 0");
	parse_bad("[lab]\ndescription = a\001b\n", 2, "control character 0x01");
	parse_bad("[lab]\r\ndescription = a\rb\r\n", 2, "control character 0x0d");
}

/* expect-rate: a share as a fraction or a percentage, 0.01 to 1. */
static void test_expect_rate(void **state)
{
	static const struct {
		const char *text;
		double rate;
	} ok[] = { { "0.9", 0.9 }, { "90%", 0.9 }, { "1", 1 }, { "100%", 1 }, { "0.01", 0.01 }, { "1%", 0.01 },
		   { "0.95", 0.95 }, { "97.5%", 0.975 }, { "1.0", 1 } };
	static const char *const bad[] = { "", "x", ".9", "0.", "0.999", "1.5", "2", "0", "0.00", "0.5%",
					   "101%", "-0.5", "0,9", "9e-1", "90 %", "1000" };
	char text[256];
	struct topo *t;

	(void)state;
	t = parse_ok(PEERS);
	assert_true(t->expect_rate == 0); /* none: every run must pass */
	topo_free(t);
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		snprintf(text, sizeof(text), "[lab]\nexpect-rate = %s\n" PEERS, ok[i].text);
		t = parse_ok(text);
		assert_true(fabs(t->expect_rate - ok[i].rate) < 1e-9);
		topo_free(t);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "[lab]\nexpect-rate = %s\n" PEERS, bad[i]);
		parse_bad(text, 2, "expect-rate");
	}
	parse_bad("[lab]\nexpect-rate = 0.001\n" PEERS, 2, "bad value '0.001' for expect-rate: a share of runs");
	parse_bad("[lab]\nexpect-rate = 0\n" PEERS, 2, "expect-rate = 0 is out of range: 0.01 to 1");
}

/* The port allocation, inbound-reply and unsolicited keys of [nat]. */
static void test_port_keys(void **state)
{
	struct topo *t;
	const struct nat_behavior *b;

	(void)state;
	t = parse_ok("[nat a]\npreset = symmetric\nports = sequential\nport-range = 20000-29999\n"
		     "port-step = 2\nport-start = 20100\ninbound-reply = new-mapping\n"
		     "unsolicited = icmp-unreachable\n[nat b]\npreset = port-restricted\nports = block\n"
		     "block-size = 256\n[peer alice]\nbehind = a\n[peer bob]\nbehind = b\n");
	b = &t->nats[0].behavior;
	assert_int_equal(b->port_min, 20000);
	assert_int_equal(b->port_max, 29999);
	assert_int_equal(b->port_step, 2);
	assert_int_equal(b->port_start, 20100);
	assert_int_equal(b->inbound_reply, INBOUND_REPLY_NEW_MAPPING);
	assert_true(b->icmp_unreachable);
	b = &t->nats[1].behavior;
	assert_int_equal(b->ports, PORTS_BLOCK);
	assert_int_equal(b->block_size, 256);
	assert_int_equal(b->port_min, 0); /* the default range */
	assert_int_equal(b->inbound_reply, INBOUND_REPLY_SESSION);
	assert_false(b->icmp_unreachable);
	topo_free(t);

	parse_bad("[nat a]\npreset = symmetric\nport-range = 20000\n", 3,
		  "bad value '20000' for port-range: expected LOW-HIGH");
	parse_bad("[nat a]\npreset = symmetric\nport-range = 0-100\n", 3, "bad value '0-100' for port-range");
	parse_bad("[nat a]\npreset = symmetric\nport-range = 100-70000\n", 3, "bad value");
	parse_bad("[nat a]\npreset = symmetric\nport-range = 300-200\n", 3, "LOW is above HIGH");
	parse_bad("[nat a]\npreset = symmetric\nport-step = 2\n" PEERS, 3,
		  "port-step and port-start are for ports = sequential");
	parse_bad("[nat a]\npreset = symmetric\nports = sequential\nport-range = 100-101\nport-step = 2\n" PEERS,
		  5, "port-step 2 is not smaller than the port range 100-101");
	parse_bad("[nat a]\npreset = symmetric\nports = sequential\nport-start = 80\n" PEERS, 4,
		  "port-start 80 is outside the port range 1024-65535");
	parse_bad("[nat a]\npreset = symmetric\nblock-size = 64\n" PEERS, 3, "block-size is for ports = block");
	parse_bad("[nat a]\npreset = symmetric\nports = block\nport-range = 2000-2099\nblock-size = 200\n" PEERS,
		  5, "block-size 200 is larger than the port range 2000-2099");
	parse_bad("[nat a]\npreset = firewall\nport-range = 2000-2099\n" PEERS, 3,
		  "port-range needs a translating NAT");
	parse_bad("[nat a]\npreset = symmetric\ninbound-reply = sometimes\n", 3,
		  "bad value 'sometimes' for inbound-reply: expected session | new-mapping");
	parse_bad("[nat a]\npreset = symmetric\nunsolicited = reject\n", 3,
		  "bad value 'reject' for unsolicited: expected drop | icmp-unreachable");
}

/* The TCP keys of [nat] (RFC 5382): UDP's mapping and filtering unless declared apart. */
static void test_tcp_keys(void **state)
{
	struct topo *t;
	const struct nat_behavior *b;

	(void)state;
	t = parse_ok("[nat a]\npreset = symmetric\ntcp-mapping = endpoint-independent\ntcp-filtering = eif\n"
		     "tcp-unsolicited = rst\ntcp-timeout = 124m\ntcp-transitory-timeout = 4m\n"
		     "[nat b]\npreset = port-restricted\n[peer alice]\nbehind = a\n[peer bob]\nbehind = b\n");
	b = &t->nats[0].behavior;
	assert_int_equal(b->mapping, MAP_APDM);
	assert_int_equal(nat_tcp_mapping(b), MAP_EIM);
	assert_int_equal(nat_tcp_filtering(b), FILTER_EIF);
	assert_int_equal(b->tcp_unsolicited, TCP_UNSOL_RST);
	assert_int_equal(b->tcp_timeout_ms, 7440000);
	assert_int_equal(b->tcp_transitory_ms, 240000);
	b = &t->nats[1].behavior;
	assert_false(b->tcp_mapping_own);
	assert_int_equal(nat_tcp_mapping(b), MAP_EIM);
	assert_int_equal(nat_tcp_filtering(b), FILTER_APDF);
	assert_int_equal(b->tcp_unsolicited, TCP_UNSOL_DROP);
	assert_int_equal(b->tcp_timeout_ms, 0);
	topo_free(t);

	parse_bad("[nat a]\npreset = symmetric\ntcp-unsolicited = reset\n", 3,
		  "bad value 'reset' for tcp-unsolicited: expected drop | rst | icmp");
	parse_bad("[nat a]\npreset = symmetric\ntcp-mapping = cone\n", 3, "bad value 'cone' for tcp-mapping");
	parse_bad("[nat a]\npreset = symmetric\ntcp-filtering = cone\n", 3, "bad value 'cone' for tcp-filtering");
	parse_bad("[nat a]\npreset = symmetric\ntcp-mapping = none\n" PEERS, 3,
		  "tcp-mapping = none with mapping = address-and-port-dependent: a router translates both");
	parse_bad("[nat a]\npreset = firewall\ntcp-mapping = eim\n" PEERS, 3, "translates both protocols or neither");
	parse_bad("[nat a]\npreset = symmetric\ntcp-filtering = none\n" PEERS, 3,
		  "tcp-filtering = none needs mapping = none");
	parse_bad("[nat a]\npreset = open\ntcp-filtering = apdf\n" PEERS, 3, "an open router (filtering = open)");
	parse_bad("[nat a]\npreset = symmetric\ntcp-timeout = 1500ms\n", 3, "conntrack timeouts are whole seconds");
	parse_bad("[nat a]\npreset = symmetric\ntcp-transitory-timeout = 0s\n", 3, "tcp-transitory-timeout");
}

static void test_value_errors(void **state)
{
	(void)state;
	parse_bad("[lab]\nexpect = works\n", 2,
		  "bad value 'works' for expect: expected direct | relayed | failed");
	parse_bad("[lab]\nmode = magic\n", 2,
		  "bad value 'magic' for mode: expected rendezvous | advertise-local | fixed-port");
	parse_bad("[lab]\nrelay = maybe\n", 2, "bad value 'maybe' for relay: expected yes | no");
	parse_bad("[lab]\nipv6 = 2\n", 2, "bad value '2' for ipv6");
	parse_bad("[lab]\ntimeout = 10\n", 2, "bad duration '10' for timeout: expected a whole "
		  "number and a unit, ms, s or m");
	parse_bad("[lab]\ntimeout = 1.5s\n", 2, "bad duration '1.5s'");
	parse_bad("[lab]\ntimeout = -1s\n", 2, "bad duration '-1s'");
	parse_bad("[lab]\ntimeout = 10 s\n", 2, "bad duration '10 s'");
	parse_bad("[lab]\ntimeout = 1h\n", 2, "bad duration '1h'");
	parse_bad("[lab]\ntimeout = 9999999999s\n", 2, "bad duration");
	parse_bad("[lab]\ntimeout = 99ms\n", 2, "timeout = 99ms is out of range: 100ms to 3600s");
	parse_bad("[lab]\ntimeout = 61m\n", 2, "timeout = 61m is out of range");
	parse_bad("[lab]\nmessages = 0\n", 2, "messages = 0 is out of range: 1 to 1000");
	parse_bad("[lab]\nmessages = 1001\n", 2, "messages = 1001 is out of range: 1 to 1000");
	parse_bad("[lab]\nmessages = 99999999999999999999\n", 2, "bad value '99999999999999999999' "
		  "for messages: expected a whole number, 1 to 1000");
	parse_bad("[lab]\nmessages = +5\n", 2, "bad value '+5' for messages");
	parse_bad("[lab]\ninternet = 203.0.113.0\n", 2, "bad subnet '203.0.113.0' for internet: "
		  "expected ADDRESS/PREFIX");
	parse_bad("[lab]\ninternet = 203.0.113.0/33\n", 2, "bad subnet");
	parse_bad("[lab]\ninternet = 203.0.113.0/31\n", 2, "prefix length must be 8 to 30");
	parse_bad("[lab]\ninternet = 203.0.113.0/x\n", 2, "bad subnet");
	parse_bad("[lab]\ninternet = 203.0.113.300/24\n", 2, "bad subnet");
	parse_bad("[lab]\ninternet = 203.0.113.1/24\n", 2,
		  "has host bits set (did you mean 203.0.113.0/24?)");
	parse_bad("[lab]\ninternet = 8.8.8.0/24\n", 2, "is outside the ranges a lab may use");
	parse_bad("[lab]\ninternet = 2001:db8::/64\n", 2, "expected an IPv4 subnet");
	parse_bad("[lab]\ninternet6 = 203.0.113.0/24\n", 2, "expected an IPv6 subnet");
	parse_bad("[lab]\ninternet6 = 2001:db8::/127\n", 2, "prefix length must be 16 to 126");
	parse_bad("[server]\naddress = 203.0.113.999\n", 2, "bad address '203.0.113.999' for address");
	parse_bad("[server]\naddress = 203.0.113.9/24\n", 2, "expected an address without a prefix");
	parse_bad("[server]\naddress = 1.1.1.1\n", 2, "outside the ranges a lab may use");
	parse_bad("[programs]\nclient = prog {srv}\n", 2, "client: unknown placeholder '{srv}'");
	parse_bad("[programs]\nserver = prog {server\n", 2, "server: '{' without '}'");
	parse_bad("[programs]\nserver = prog }\n", 2, "server: '}' without '{'");
	parse_bad("[nat n]\npreset = cone\n", 2, "unknown preset 'cone': expected open | firewall");
	parse_bad("[nat n]\nmapping = cone\n", 2, "bad value 'cone' for mapping: expected none | "
		  "endpoint-independent | address-dependent | address-and-port-dependent");
	parse_bad("[nat n]\nfiltering = x\n", 2, "bad value 'x' for filtering");
	parse_bad("[nat n]\nports = odd\n", 2,
		  "bad value 'odd' for ports: expected preserve | random | sequential");
	parse_bad("[nat n]\nudp-timeout = 1500ms\n", 2, "conntrack timeouts are whole seconds");
	parse_bad("[nat n]\nudp-timeout = 0s\n", 2, "udp-timeout = 0s is out of range");
	parse_bad("[nat n]\nbehind = Not-A-Name\n", 2, "bad value 'Not-A-Name' for behind");
	parse_bad("[nat n]\nlan = 10.0.0.0/7\n", 2, "prefix length must be 8 to 30");
	parse_bad("[nat n]\nloss = 1\n", 2, "bad value '1' for loss: expected a percentage");
	parse_bad("[nat n]\nloss = 1.%\n", 2, "bad value '1.%' for loss");
	parse_bad("[nat n]\nloss = .5%\n", 2, "bad value '.5%' for loss");
	parse_bad("[nat n]\nloss = 0.00001%\n", 2, "bad value '0.00001%' for loss");
	parse_bad("[nat n]\nloss = 100.5%\n", 2, "loss = 100.5% is out of range: 0% to 100%");
	parse_bad("[nat n]\nloss = 1000%\n", 2, "bad value '1000%' for loss");
	parse_bad("[peer a]\ndelay = 11s\n", 2, "delay = 11s is out of range");
	parse_bad("[peer a]\nkeepalive = sometimes\n", 2, "bad value 'sometimes' for keepalive");
}

/* transport, predict and predict-ports: values, defaults and what they exclude. */
static void test_transport_and_predict(void **state)
{
	struct topo *t;

	(void)state;
	t = parse_ok("[lab]\n" PEERS);
	assert_false(t->tcp);
	assert_int_equal(t->predict, PREDICT_NONE);
	assert_int_equal(t->predict_ports, 0);
	topo_free(t);
	t = parse_ok("[lab]\ntransport = tcp\n" PEERS);
	assert_true(t->tcp);
	topo_free(t);
	t = parse_ok("[lab]\npredict = birthday\npredict-ports = 400\n" PEERS);
	assert_int_equal(t->predict, PREDICT_BIRTHDAY);
	assert_int_equal(t->predict_ports, 400);
	topo_free(t);
	t = parse_ok("[lab]\npredict = sequential\n" PEERS);
	assert_int_equal(t->predict, PREDICT_SEQUENTIAL);
	topo_free(t);
	parse_bad("[lab]\ntransport = sctp\n", 2, "bad value 'sctp' for transport: expected udp | tcp");
	parse_bad("[lab]\npredict = guess\n", 2,
		  "bad value 'guess' for predict: expected none | sequential | birthday");
	parse_bad("[lab]\npredict = birthday\npredict-ports = 0\n", 3, "predict-ports = 0 is out of range: 1 to 1024");
	parse_bad("[lab]\npredict = birthday\npredict-ports = 1025\n", 3, "out of range");
	parse_bad("[lab]\npredict = birthday\npredict-ports = x\n", 3, "bad value 'x' for predict-ports");
	parse_bad("[lab]\npredict-ports = 8\n" PEERS, 2, "predict-ports without predict");
	parse_bad("[lab]\npredict = sequential\nmode = fixed-port\n" PEERS, 2, "mode = fixed-port runs no server");
	parse_bad("[lab]\ntransport = tcp\npredict = birthday\n" PEERS, 3, "predict is for UDP");
}

static void test_semantic_errors(void **state)
{
	(void)state;
	parse_bad("[nat n]\nports = random\nhairpin = yes\n" PEERS, 1,
		  "[nat n]: give a preset or mapping and filtering");
	parse_bad("[nat n]\nmapping = eim\nfiltering = none\n" PEERS, 3,
		  "[nat n]: filtering = none needs mapping = none");
	parse_bad("[nat n]\npreset = firewall\nports = random\n" PEERS, 3,
		  "[nat n]: ports needs a translating NAT");
	parse_bad("[nat n]\npreset = open\nhairpin = yes\n" PEERS, 3,
		  "[nat n]: hairpin needs a translating NAT");
	parse_bad("[nat n]\npreset = open\ndelay = 5ms\njitter = 6ms\n" PEERS, 4,
		  "[nat n]: jitter must not exceed delay");
	parse_bad("[peer a]\nbehind = internet\njitter = 1ms\n[peer b]\nbehind = internet\n", 3,
		  "[peer a]: jitter must not exceed delay");
	parse_bad("[peer a]\naddress = 203.0.113.5\n[peer b]\nbehind = internet\n", 1,
		  "[peer a]: behind is required");
	parse_bad("[nat n]\npreset = open\nbehind = m\n" PEERS, 3,
		  "behind = m: there is no [nat m] (known: internet, n)");
	parse_bad("[nat n]\npreset = open\n[peer a]\nbehind = x\n[peer b]\nbehind = n\n", 4,
		  "behind = x: there is no [nat x]");
	parse_bad("[nat n]\npreset = open\nbehind = n\n" PEERS, 3, "behind = n makes a cycle");
	parse_bad("[nat a]\npreset=open\nbehind=c\n[nat b]\npreset=open\nbehind=a\n"
		  "[nat c]\npreset=open\nbehind=b\n" PEERS, 3, "behind = c makes a cycle: [nat a]");
	/* ipv6 = yes with a NAT: a dual-stack router (NAT44, IPv6 firewall), accepted */
	topo_free(parse_ok("[lab]\nipv6 = yes\n[nat fw]\npreset = firewall\n[nat n]\n"
			   "preset = full-cone\n" PEERS));
	parse_bad("[lab]\nmode = fixed-port\nrelay = yes\n" PEERS, 3,
		  "relay = yes, but mode = fixed-port runs no server, so there is no relay");
	parse_bad("[lab]\nmode = fixed-port\n[programs]\nserver = x\n" PEERS, 4,
		  "mode = fixed-port runs no server");
	parse_bad("[lab]\nexpect-why = because\n" PEERS, 2, "expect-why without expect");
	/* [programs] beyond server and client */
	parse_bad("[programs]\nserver = srv {peer}\n", 2, "server: placeholder '{peer}' is per peer");
	parse_bad("[programs]\nsetup = gen {role}\n", 2, "setup: placeholder '{role}' is per peer");
	parse_bad("[programs]\nclient = c 'open\n", 2, "client: unbalanced ' quote");
	parse_bad("[programs]\nserver-ready = soon\n", 2, "bad value 'soon' for server-ready: expected stdout "
		  "PATTERN");
	parse_bad("[programs]\nserver-ready = stdout a(b\n", 2, "server-ready: bad pattern 'a(b'");
	parse_bad("[programs]\nclient-ready = port 70000\n", 2, "client-ready: port 70000 is out of range");
	parse_bad("[programs]\nclient-ready = port 9/sctp\n", 2, "client-ready: bad value 'port 9/sctp'");
	parse_bad("[programs]\ncheck = ping x\n" PEERS, 2,
		  "check belongs to programs under test, but there are none");
	parse_bad("[programs]\nserver = s\nserver-ready = port\ncheck = c\n" PEERS, 4,
		  "check without a client program");
	parse_bad("[programs]\nclient = c\nserver-ready = port\n" PEERS, 3, "server-ready without server");
	parse_bad("[peer alice]\nbehind = internet\nprogram = mine\n[peer bob]\nbehind = internet\n", 4,
		  "[peer bob] has no program, but [peer alice] has");
	parse_bad("[lab]\npunch-timeout = 10s\n" PEERS, 2,
		  "punch-timeout (10000ms) must be shorter than timeout (10000ms)");
	parse_bad("[lab]\ntimeout = 2s\n" PEERS, 2, "punch-timeout (3000ms) must be shorter");
	parse_bad("[peer a]\nbehind = internet\nstart-delay = 10s\n[peer b]\nbehind = internet\n",
		  3, "start-delay of [peer a] must be shorter than timeout");
	parse_bad("[nat n]\npreset = open\nrules = does-not-exist.nft\n" PEERS, 3,
		  "rules file 'does-not-exist.nft': No such file or directory");
	/* rebind-after: a translating router, a generated ruleset, within the run */
	topo_free(parse_ok("[nat n]\npreset = full-cone\nrebind-after = 3s\n" PEERS));
	parse_bad("[nat n]\npreset = firewall\nrebind-after = 3s\n" PEERS, 3,
		  "[nat n]: rebind-after needs a translating NAT");
	parse_bad("[nat n]\npreset = full-cone\nrebind-after = 10s\n" PEERS, 3,
		  "rebind-after of [nat n] (10000ms) must be shorter than timeout (10000ms)");
	parse_bad("[nat n]\npreset = full-cone\nrebind-after = 50ms\n" PEERS, 3,
		  "rebind-after = 50ms is out of range: 100ms to 3600s");
	parse_bad("[nat n]\npreset = full-cone\nrebind-after = soon\n" PEERS, 3,
		  "bad duration 'soon' for rebind-after");
	parse_bad("[nat n]\npreset = full-cone\nrebind-after = 2s\n[peer a]\nbehind = n\n"
		  "start-delay = 2s\n[peer b]\nbehind = internet\n", 3,
		  "rebind-after of [nat n] (2000ms) must be later than the start-delay of [peer a] (2000ms)");
}

static void test_address_errors(void **state)
{
	(void)state;
	parse_bad("[server]\naddress = 198.51.100.1\n" PEERS, 2,
		  "address = 198.51.100.1 is not inside the internet (203.0.113.0/24)");
	parse_bad("[server]\naddress = 203.0.113.0\n" PEERS, 2,
		  "address = 203.0.113.0 is the network address of 203.0.113.0/24");
	parse_bad("[server]\naddress = 203.0.113.255\n" PEERS, 2, "is the broadcast address");
	parse_bad("[lab]\ninternet = 198.51.100.0/24\n[server]\naddress2 = 203.0.113.1\n" PEERS, 4,
		  "address2 = 203.0.113.1 is not inside the internet (198.51.100.0/24)");
	parse_bad("[server]\naddress = 2001:db8:1::1\n" PEERS, 2,
		  "not inside the internet (2001:db8::/64)");
	parse_bad("[server]\naddress = 203.0.113.1\naddress2 = 203.0.113.1\n" PEERS, 3,
		  "address 203.0.113.1 is already used on line 2, on the same network");
	parse_bad("[server]\naddress = 203.0.113.1\n[peer a]\nbehind = internet\n"
		  "address = 203.0.113.1\n[peer b]\nbehind = internet\n", 5,
		  "address 203.0.113.1 is already used on line 2, on the same network");
	parse_bad("[nat n]\npreset = port-restricted\nlan = 10.0.0.0/24\n[peer a]\nbehind = n\n"
		  "address = 10.0.0.9\n[peer b]\nbehind = n\naddress = 10.0.0.9\n", 9,
		  "address 10.0.0.9 is already used on line 6, on the same network");
	parse_bad("[nat n]\npreset = open\nlan = 203.0.113.128/25\n" PEERS, 3,
		  "lan = 203.0.113.128/25 overlaps the internet (203.0.113.0/24)");
	parse_bad("[nat n]\npreset = port-restricted\nlan = 10.0.0.0/8\n"
		  "[nat m]\npreset = port-restricted\nbehind = n\nlan = 10.1.0.0/16\n" PEERS, 7,
		  "lan = 10.1.0.0/16 overlaps the lan of [nat n] (10.0.0.0/8), which it sits behind");
	parse_bad("[nat n]\npreset = firewall\nlan = 198.51.100.0/24\n"
		  "[nat m]\npreset = firewall\nlan = 198.51.100.0/25\n" PEERS, 6,
		  "routed (non-NAT) lans must be unique");
	parse_bad("[nat n]\npreset = port-restricted\n[nat m]\npreset = symmetric\nbehind = n\n"
		  "wan-address = 10.0.0.2\n" PEERS, 6,
		  "wan-address = 10.0.0.2 behind [nat n] needs lan in [nat n] to be given too");
	parse_bad("[nat n]\npreset = port-restricted\nlan = 10.0.0.0/24\n[nat m]\n"
		  "preset = symmetric\nbehind = n\nwan-address = 10.0.1.2\n" PEERS, 7,
		  "wan-address = 10.0.1.2 is not inside the lan of [nat n] (10.0.0.0/24)");
	parse_bad("[nat n]\npreset = port-restricted\nwan-address = 10.0.0.2\n" PEERS, 3,
		  "wan-address = 10.0.0.2 is not inside the internet (203.0.113.0/24)");
	parse_bad("[nat n]\npreset = port-restricted\n[peer a]\nbehind = n\naddress = 10.0.0.9\n"
		  "[peer b]\nbehind = n\n", 5, "address = 10.0.0.9 behind [nat n] needs lan");
	parse_bad("[nat n]\npreset = port-restricted\nlan = 10.0.0.0/24\n[peer a]\nbehind = n\n"
		  "address = 10.0.0.255\n[peer b]\nbehind = n\n", 6, "is the broadcast address");
	parse_bad("[peer a]\nbehind = internet\naddress = 10.0.0.9\n[peer b]\nbehind = internet\n",
		  3, "address = 10.0.0.9 is not inside the internet");
}

static void test_same_private_addresses(void **state)
{
	struct topo *t;

	(void)state;
	/* Two homes with the same private subnet and the same host address. */
	t = parse_ok("[nat home-a]\npreset = port-restricted\nlan = 192.168.1.0/24\n"
		     "[nat home-b]\npreset = port-restricted\nlan = 192.168.1.0/24\n"
		     "[peer alice]\nbehind = home-a\naddress = 192.168.1.10\n"
		     "[peer bob]\nbehind = home-b\naddress = 192.168.1.10\n");
	assert_string_equal(t->peers[0].addr, t->peers[1].addr);
	assert_string_equal(t->nats[0].lan_subnet, "192.168.1.0/24");
	topo_free(t);
}

static void test_rules_file(void **state)
{
	char dir[] = "/tmp/test_topo_XXXXXX", name[256], rules[256], text[512], err[512];
	struct topo *t = NULL;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(name, sizeof(name), "%s/lab.topo", dir);
	snprintf(rules, sizeof(rules), "%s/my-router.nft", dir);
	f = fopen(rules, "w");
	assert_non_null(f);
	fputs("table inet filter {}\n", f);
	fclose(f);
	/* Relative to the topology's directory, not the working directory. */
	snprintf(text, sizeof(text), "[nat n]\npreset = firewall\nrules = my-router.nft\n" PEERS);
	assert_int_equal(topo_parse_buffer(name, text, strlen(text), &t, err, sizeof(err)), 0);
	assert_string_equal(t->nats[0].rules_file, rules);
	topo_free(t);
	/* Absolute paths as written, inside the topology's tree. */
	snprintf(text, sizeof(text), "[nat n]\npreset = firewall\nrules = %s\n" PEERS, rules);
	assert_int_equal(topo_parse_buffer(name, text, strlen(text), &t, err, sizeof(err)), 0);
	assert_string_equal(t->nats[0].rules_file, rules);
	topo_free(t);
	/* A directory is not a ruleset; a missing file names the path it tried. */
	snprintf(text, sizeof(text), "[nat n]\npreset = firewall\nrules = .\n" PEERS);
	assert_int_equal(topo_parse_buffer(name, text, strlen(text), &t, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "is not a regular file"));
	snprintf(text, sizeof(text), "[nat n]\npreset = firewall\nrules = gone.nft\n" PEERS);
	assert_int_equal(topo_parse_buffer(name, text, strlen(text), &t, err, sizeof(err)), -EINVAL);
	assert_null(t);
	snprintf(text, sizeof(text), "%s:3: rules file '%s/gone.nft': No such file or directory",
		 name, dir);
	assert_string_equal(err, text);
	/* A file over the size limit is refused before it is parsed. */
	f = fopen(name, "w");
	assert_non_null(f);
	assert_int_equal(fseek(f, TOPO_MAX_FILE, SEEK_SET), 0);
	fputc('\n', f);
	fclose(f);
	assert_int_equal(topo_parse_file(name, &t, err, sizeof(err)), -EFBIG);
	assert_null(t);
	assert_non_null(strstr(err, "larger than 1048576 bytes"));
	unlink(name);
	unlink(rules);
	rmdir(dir);
}

/* A rules file outside the topology's directory tree is refused with
 * file:line, without being opened (/etc/shadow, "..", a link leading out),
 * until --allow-rules names it; a FIFO and an oversized file are refused
 * from their metadata. */
static void test_rules_confined(void **state)
{
	char dir[] = "/tmp/test_topo_XXXXXX", sub[64], name[128], path[128], text[1024], err[1024];
	struct topo *t = NULL;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(sub, sizeof(sub), "%s/sub", dir);
	assert_int_equal(mkdir(sub, 0700), 0);
	snprintf(name, sizeof(name), "%s/lab.topo", sub);
	snprintf(path, sizeof(path), "%s/outside.nft", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("table inet filter {}\n", f);
	fclose(f);

	snprintf(text, sizeof(text), "[nat n]\npreset = firewall\nrules = /etc/shadow\n" PEERS);
	assert_int_equal(topo_parse_buffer(name, text, strlen(text), &t, err, sizeof(err)), -EINVAL);
	assert_null(t);
	snprintf(text, sizeof(text), "%s:3: rules file '/etc/shadow' is outside the topology's directory %s "
		 "(punchlab run --allow-rules PATH allows rules files elsewhere)", name, sub);
	assert_string_equal(err, text);

	snprintf(text, sizeof(text), "[nat n]\npreset = firewall\nrules = ../outside.nft\n" PEERS);
	assert_int_equal(topo_parse_buffer(name, text, strlen(text), &t, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, ":3: rules file '"));
	assert_non_null(strstr(err, "/outside.nft' is outside the topology's directory"));

	/* A link inside the tree that leads out is followed, and refused. */
	snprintf(path, sizeof(path), "%s/link.nft", sub);
	assert_int_equal(symlink("/etc/shadow", path), 0);
	snprintf(text, sizeof(text), "[nat n]\npreset = firewall\nrules = link.nft\n" PEERS);
	assert_int_equal(topo_parse_buffer(name, text, strlen(text), &t, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "rules file '/etc/shadow' is outside"));
	unlink(path);

	/* A FIFO is refused from stat() alone: nothing blocks. */
	snprintf(path, sizeof(path), "%s/fifo.nft", sub);
	assert_int_equal(mkfifo(path, 0600), 0);
	snprintf(text, sizeof(text), "[nat n]\npreset = firewall\nrules = fifo.nft\n" PEERS);
	assert_int_equal(topo_parse_buffer(name, text, strlen(text), &t, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "fifo.nft' is not a regular file"));
	unlink(path);

	/* Over RULESFILE_MAX: refused from its size, not read. */
	snprintf(path, sizeof(path), "%s/big.nft", sub);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fseek(f, RULESFILE_MAX, SEEK_SET), 0);
	fputc('\n', f);
	fclose(f);
	snprintf(text, sizeof(text), "[nat n]\npreset = firewall\nrules = big.nft\n" PEERS);
	assert_int_equal(topo_parse_buffer(name, text, strlen(text), &t, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "big.nft' is larger than 1048576 bytes"));
	unlink(path);

	/* --allow-rules DIR lets a file under it in (for the rest of the process: last). */
	assert_int_equal(rulesfile_allow(dir), 0);
	snprintf(text, sizeof(text), "[nat n]\npreset = firewall\nrules = ../outside.nft\n" PEERS);
	assert_int_equal(topo_parse_buffer(name, text, strlen(text), &t, err, sizeof(err)), 0);
	topo_free(t);
	snprintf(path, sizeof(path), "%s/outside.nft", dir);
	unlink(path);
	rmdir(sub);
	rmdir(dir);
}

static void test_hostile_bytes(void **state)
{
	struct topo *t = (struct topo *)1;
	char err[64];
	static const char nul[] = "[lab]\ndescription = a\0b\n";
	char big[4096];

	(void)state;
	/* The length is the length: an embedded NUL is an error, not the end. */
	assert_int_equal(topo_parse_buffer("t.topo", nul, sizeof(nul) - 1, &t, err, sizeof(err)),
			 -EINVAL);
	assert_null(t);
	assert_string_equal(err, "t.topo:2: NUL byte in the file (is it text?)");
	/* Not NUL-terminated: the parser must stop at len (ASan checks). */
	memset(big, 'x', sizeof(big));
	memcpy(big, "[lab]\ndescription = ", 20);
	assert_int_equal(topo_parse_buffer("t.topo", big, 300, &t, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "t.topo:2: line too long (at most 198 characters without indenta");
	/* A tiny error buffer truncates, never overflows. */
	assert_int_equal(topo_parse_buffer("t.topo", "[x]", 3, &t, err, 4), -EINVAL);
	assert_string_equal(err, "t.t");
	/* Exactly at the line limit is fine. */
	memset(big, 'x', sizeof(big));
	memcpy(big, "[lab]\ndescription = ", 20);
	memcpy(big + 6 + 198, "\n" PEERS, sizeof(PEERS) + 1);
	t = parse_ok(big);
	assert_int_equal(strlen(t->description), 198 - 14);
	topo_free(t);
}

static void test_names(void **state)
{
	enum outcome o;

	(void)state;
	assert_string_equal(topo_outcome_name(OUTCOME_UNSET), "unset");
	assert_string_equal(topo_outcome_name(OUTCOME_DIRECT), "direct");
	assert_string_equal(topo_outcome_name(OUTCOME_RELAYED), "relayed");
	assert_string_equal(topo_outcome_name(OUTCOME_FAILED), "failed");
	assert_string_equal(topo_outcome_name((enum outcome)99), "?");
	assert_string_equal(nat_mapping_long(MAP_NONE), "none");
	assert_string_equal(nat_mapping_long(MAP_EIM), "endpoint-independent");
	assert_string_equal(nat_mapping_long(MAP_ADM), "address-dependent");
	assert_string_equal(nat_mapping_long(MAP_APDM), "address-and-port-dependent");
	assert_string_equal(nat_filtering_long(FILTER_OPEN), "open");
	assert_string_equal(nat_filtering_long(FILTER_EIF), "endpoint-independent");
	assert_string_equal(nat_filtering_long(FILTER_ADF), "address-dependent");
	assert_string_equal(nat_filtering_long(FILTER_APDF), "address-and-port-dependent");
	assert_string_equal(nat_ports_name(PORTS_PRESERVE), "preserve");
	assert_string_equal(nat_ports_name(PORTS_RANDOM), "random");
	assert_string_equal(nat_ports_name(PORTS_SEQUENTIAL), "sequential");
	assert_null(nat_ports_name((enum nat_ports)-1));
	assert_string_equal(topo_mode_name(MODE_RENDEZVOUS), "rendezvous");
	assert_string_equal(topo_mode_name(MODE_ADVERTISE_LOCAL), "advertise-local");
	assert_string_equal(topo_mode_name(MODE_FIXED_PORT), "fixed-port");
	assert_int_equal(topo_outcome_parse("direct", &o), 0);
	assert_int_equal(o, OUTCOME_DIRECT);
	assert_int_equal(topo_outcome_parse("Relayed", &o), 0);
	assert_int_equal(o, OUTCOME_RELAYED);
	assert_int_equal(topo_outcome_parse("failed", &o), 0);
	assert_int_equal(o, OUTCOME_FAILED);
	assert_int_equal(topo_outcome_parse("unset", &o), -EINVAL);
	assert_int_equal(topo_outcome_parse("", &o), -EINVAL);
	/* Each name parses back through the file format. */
	for (int m = MAP_NONE; m <= MAP_APDM; m++) {
		char text[256];
		struct topo *t;

		snprintf(text, sizeof(text), "[nat n]\nmapping = %s\nfiltering = %s\n" PEERS,
			 nat_mapping_long((enum nat_mapping)m),
			 nat_filtering_long(m ? (enum nat_filtering)m : FILTER_OPEN));
		t = parse_ok(text);
		assert_int_equal(t->nats[0].behavior.mapping, m);
		topo_free(t);
	}
}

static void test_describe(void **state)
{
	struct topo *t = NULL;
	char err[512], *buf = NULL;
	size_t size = 0;
	FILE *f;

	(void)state;
	assert_int_equal(topo_parse_file(input("full.topo"), &t, err, sizeof(err)), 0);
	f = open_memstream(&buf, &size);
	assert_non_null(f);
	assert_int_equal(topo_describe(t, f), 0);
	fclose(f);
	assert_non_null(strstr(buf, ": Every key set: a CGN in front of a home, and a symmetric NAT\n"));
	assert_non_null(strstr(buf, "  expect relayed: symmetric on one side"));
	assert_non_null(strstr(buf, "  mode advertise-local, relay yes, timeout 1m, punch-timeout "
				    "2500ms, 1000 messages, IPv4\n"));
	assert_non_null(strstr(buf, "    server: address 198.51.100.10, second address 198.51.100.11\n"));
	assert_non_null(strstr(buf, "\n    nat cgn (port-restricted): mapping endpoint-independent, "
				    "filtering address-and-port-dependent, ports sequential, hairpin no, "
				    "UDP timeout 2m; wan 198.51.100.20, lan 100.64.0.0/10, uplink delay "
				    "20ms +/- 5ms, uplink loss 0.5%\n"));
	/* home-a sits behind cgn: indented under it; alice under home-a. */
	assert_non_null(strstr(buf, "\n      nat home-a: mapping address-dependent"));
	assert_non_null(strstr(buf, "\n        peer alice: address 10.0.1.10, keepalive, starts "
				    "500ms late, uplink delay 1s\n"));
	assert_non_null(strstr(buf, "\n      peer bob: address auto, uplink loss 1%\n"));
	free(buf);
	topo_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_file),
		cmocka_unit_test(test_programs),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_client_timeouts),
		cmocka_unit_test(test_ipv6_fixed_port),
		cmocka_unit_test(test_crlf_bom_same_lan),
		cmocka_unit_test(test_bad_files),
		cmocka_unit_test(test_presets),
		cmocka_unit_test(test_overrides),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_syntax_errors),
		cmocka_unit_test(test_expect_rate),
		cmocka_unit_test(test_value_errors),
		cmocka_unit_test(test_port_keys),
		cmocka_unit_test(test_tcp_keys),
		cmocka_unit_test(test_semantic_errors),
		cmocka_unit_test(test_transport_and_predict),
		cmocka_unit_test(test_address_errors),
		cmocka_unit_test(test_same_private_addresses),
		cmocka_unit_test(test_rules_file),
		cmocka_unit_test(test_rules_confined),
		cmocka_unit_test(test_hostile_bytes),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_describe),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
