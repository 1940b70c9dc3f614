/* Unit tests for lab/model/nat.c: generated rulesets against golden files, refusals,
 * hostile names and addresses.
 *
 * Golden files live in tests/unit/golden/nat/<name>.nft. After an intended
 * change, rewrite them with PUNCHLAB_UPDATE_GOLDEN=1 and review the diff
 * before committing. Whether each ruleset loads and behaves is checked on a
 * real kernel by tests/lab/nat-rulesets.sh.
 */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "model/nat.h"

static const char *golden_dir(void)
{
	static char dir[512];
	const char *file = __FILE__; /* tests/unit/test_nat.c, relative to where make runs */
	const char *slash = strrchr(file, '/');
	int n = slash ? (int)(slash - file) : 1;

	snprintf(dir, sizeof(dir), "%.*s/golden/nat", n, slash ? file : ".");
	return dir;
}

static bool updating(void)
{
	const char *v = getenv("PUNCHLAB_UPDATE_GOLDEN");
	return v && strcmp(v, "1") == 0;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	long n;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
		buf = malloc((size_t)n + 1);
		if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
			free(buf);
			buf = NULL;
		} else if (buf) {
			buf[n] = '\0';
		}
	}
	fclose(f);
	return buf;
}

static const struct nat_ifaces ifc4 = {
	.wan_if = "wan0", .lan_if = "lan0", .wan_ip = "203.0.113.20", .lan_net = "10.0.1.0/24",
};

static const struct nat_ifaces ifc6 = {
	.wan_if = "wan0", .lan_if = "lan0", .wan_ip6 = "2001:db8::20", .lan_net6 = "2001:db8:1::/64",
};

static const struct nat_ifaces ifc46 = {
	.wan_if = "wan0", .lan_if = "lan0", .wan_ip = "203.0.113.20", .lan_net = "198.51.100.0/24",
	.wan_ip6 = "2001:db8::20", .lan_net6 = "2001:db8:1::/64",
};

/* Names of the golden files this run produced, to find stale ones. */
static char seen[256][96];
static int n_seen;

/* Properties every generated ruleset must have, whatever the behaviour. */
static void check_shape(const char *name, const char *text, bool v4, bool v6)
{
	static const char *const counters[] = {
		"counter udp_fwd_out { }", "counter udp_fwd_in { }", "counter udp_dropped_in { }",
		"counter udp_dropped_out { }", "counter udp_hairpin { }",
	};

	if (strncmp(text, "# ", 2) != 0)
		fail_msg("%s: does not start with a comment", name);
	if (strstr(text, "include") || strchr(text, '$'))
		fail_msg("%s: not self-contained", name);
	assert_int_equal(!!strstr(text, "table ip punchlab {"), v4);
	assert_int_equal(!!strstr(text, "table ip6 punchlab {"), v6);
	assert_null(strstr(text, "table inet"));
	for (size_t i = 0; i < sizeof(counters) / sizeof(counters[0]); i++)
		if (!strstr(text, counters[i]))
			fail_msg("%s: no \"%s\"", name, counters[i]);
	/* Pitfall 3: the router itself accepts nothing unsolicited. */
	if (!strstr(text, "type filter hook input priority filter; policy drop;"))
		fail_msg("%s: input chain does not drop by default", name);
	if (v6 && !strstr(text, "nd-neighbor-solicit"))
		fail_msg("%s: IPv6 without neighbour discovery", name);
}

static void golden(const char *name, const struct nat_behavior *b, bool nat, const struct nat_ifaces *ifc)
{
	char path[700], err[256];
	char *text = NULL, *want;
	int ret;

	ret = nat_ruleset(b, nat, ifc, &text, err, sizeof(err));
	if (ret != 0)
		fail_msg("%s: nat_ruleset returned %d: %s", name, ret, err);
	assert_non_null(text);
	check_shape(name, text, ifc->wan_ip != NULL, ifc->wan_ip6 != NULL); /* a NAT firewalls IPv6 too */
	assert_true(n_seen < (int)(sizeof(seen) / sizeof(seen[0])));
	snprintf(seen[n_seen++], sizeof(seen[0]), "%s.nft", name);

	snprintf(path, sizeof(path), "%s/%s.nft", golden_dir(), name);
	if (updating()) {
		FILE *f = fopen(path, "w");
		assert_non_null(f);
		assert_int_equal(fputs(text, f) >= 0, 1);
		assert_int_equal(fclose(f), 0);
	}
	want = slurp(path);
	if (!want) {
		free(text);
		fail_msg("%s: missing (PUNCHLAB_UPDATE_GOLDEN=1 writes it)", path);
	}
	if (strcmp(want, text) != 0) {
		size_t i = 0;
		while (want[i] && want[i] == text[i])
			i++;
		fprintf(stderr, "%s differs at byte %zu:\n--- golden\n%.80s\n--- generated\n%.80s\n", path, i,
			want + i, text + i);
		free(want);
		free(text);
		fail_msg("%s: generated ruleset differs from the golden file", name);
	}
	free(want);
	free(text);
}

/* Every NAT combination: either it builds and matches its golden file, or it
 * is refused with a reason. */
static void test_nat_matrix(void **state)
{
	int built = 0, refused = 0;

	for (int m = MAP_EIM; m <= MAP_APDM; m++)
		for (int f = FILTER_EIF; f <= FILTER_APDF; f++)
			for (int p = PORTS_PRESERVE; p <= PORTS_SEQUENTIAL; p++)
				for (int h = 0; h < 2; h++) {
					/* A 16-port range keeps the golden files short; the
					 * default range's pool is in its own golden file. */
					struct nat_behavior b = { .mapping = (enum nat_mapping)m,
								  .filtering = (enum nat_filtering)f,
								  .ports = (enum nat_ports)p, .hairpin = h,
								  .port_min = 61000, .port_max = 61015 };
					char name[96], err[256];
					static char poison[1];
					char *text = poison; /* must be reset to NULL on failure */

					snprintf(name, sizeof(name), "%s-%s-%s%s", nat_mapping_name(b.mapping),
						 nat_filtering_name(b.filtering), nat_ports_name(b.ports),
						 h ? "-hairpin" : "");
					int ret = nat_ruleset(&b, true, &ifc4, &text, err, sizeof(err));
					if (ret == 0) {
						free(text);
						golden(name, &b, true, &ifc4);
						built++;
					} else {
						assert_int_equal(ret, -EINVAL);
						assert_null(text);
						if (strlen(err) < 20)
							fail_msg("%s: refused without a reason", name);
						refused++;
					}
				}
	/* What is supported is part of the contract (see nat.h): all 27 without
	 * hairpin; with hairpin EIM only (9). */
	assert_int_equal(built, 27 + 9);
	assert_int_equal(refused, 54 - 36);
}

static void test_variants(void **state)
{
	struct nat_behavior b;

	b = (struct nat_behavior){ .mapping = MAP_EIM, .filtering = FILTER_APDF, .udp_timeout_ms = 5000,
				   .port_min = 61000, .port_max = 61015 };
	golden("eim-apdf-preserve-t5", &b, true, &ifc4);
	b = (struct nat_behavior){ .mapping = MAP_EIM, .filtering = FILTER_EIF, .hairpin = true,
				   .udp_timeout_ms = 5000, .port_min = 61000, .port_max = 61015 };
	golden("eim-eif-preserve-hairpin-t5", &b, true, &ifc4);
	b = (struct nat_behavior){ .mapping = MAP_EIM, .filtering = FILTER_APDF, .udp_blocked = true };
	golden("eim-apdf-preserve-udpblocked", &b, true, &ifc4);
	b = (struct nat_behavior){ .mapping = MAP_APDM, .filtering = FILTER_APDF, .ports = PORTS_RANDOM,
				   .udp_blocked = true };
	golden("apdm-apdf-random-udpblocked", &b, true, &ifc4);
	/* inbound-reply = new-mapping: admitted packets pass untracked */
	b = (struct nat_behavior){ .mapping = MAP_APDM, .filtering = FILTER_EIF, .ports = PORTS_RANDOM,
				   .port_min = 61000, .port_max = 61015,
				   .inbound_reply = INBOUND_REPLY_NEW_MAPPING };
	golden("apdm-eif-random-new-mapping", &b, true, &ifc4);
	b.mapping = MAP_ADM;
	b.filtering = FILTER_ADF;
	golden("adm-adf-random-new-mapping", &b, true, &ifc4);
	/* mixed dual stack: NAT for IPv4, a firewall with the same filtering for IPv6 */
	b = (struct nat_behavior){ .mapping = MAP_EIM, .filtering = FILTER_ADF, .port_min = 61000,
				   .port_max = 61015 };
	golden("eim-adf-dual-stack", &b, true, &ifc46);
	/* unsolicited = icmp-unreachable: refused out loud, NAT and IPv6 firewall */
	b = (struct nat_behavior){ .mapping = MAP_EIM, .filtering = FILTER_APDF, .icmp_unreachable = true,
				   .port_min = 61000, .port_max = 61015 };
	golden("eim-apdf-icmp-unreachable", &b, true, &ifc4);
	b = (struct nat_behavior){ .mapping = MAP_NONE, .filtering = FILTER_APDF, .icmp_unreachable = true };
	golden("none-apdf-v6-icmp-unreachable", &b, false, &ifc6);
	/* ports = block: 4 blocks of 8 in a 32-port range */
	b = (struct nat_behavior){ .mapping = MAP_EIM, .filtering = FILTER_APDF, .ports = PORTS_BLOCK,
				   .block_size = 8, .port_min = 61000, .port_max = 61031 };
	golden("eim-apdf-block", &b, true, &ifc4);
	/* the default port range: a pool of NAT_POOL_MAX ports from 1024-65535 */
	b = (struct nat_behavior){ .mapping = MAP_APDM, .filtering = FILTER_EIF, .ports = PORTS_RANDOM };
	golden("apdm-eif-random-default-range", &b, true, &ifc4);

	/* No translation: firewalls and the open router, IPv4, IPv6 and both. */
	for (int f = FILTER_OPEN; f <= FILTER_APDF; f++) {
		char name[64];
		b = (struct nat_behavior){ .mapping = MAP_NONE, .filtering = (enum nat_filtering)f };
		snprintf(name, sizeof(name), "none-%s", nat_filtering_name(b.filtering));
		golden(name, &b, false, &ifc4);
		snprintf(name, sizeof(name), "none-%s-v6", nat_filtering_name(b.filtering));
		golden(name, &b, false, &ifc6);
	}
	b = (struct nat_behavior){ .mapping = MAP_NONE, .filtering = FILTER_APDF, .udp_timeout_ms = 30000 };
	golden("none-apdf-dual-t30", &b, false, &ifc46);
	b = (struct nat_behavior){ .mapping = MAP_NONE, .filtering = FILTER_APDF, .udp_blocked = true };
	golden("none-apdf-udpblocked", &b, false, &ifc46);
	/* hairpin needs no rules without NAT: same text as without it */
	b = (struct nat_behavior){ .mapping = MAP_NONE, .filtering = FILTER_APDF, .hairpin = true };
	golden("none-apdf", &b, false, &ifc4);
}

/* The pool index -> port pairs of the ruleset's port_pool map, in order
 * (indices start at 1: numgen inc mod N offset 1). */
static int pool_ports(const char *text, unsigned *ports, int max)
{
	const char *p = strstr(text, "map port_pool {");
	int n = 0;
	unsigned i, port;
	int used;

	assert_non_null(p);
	p = strstr(p, "elements = {");
	assert_non_null(p);
	p += strlen("elements = {");
	while (n < max && sscanf(p, " %u : %u%n", &i, &port, &used) == 2) {
		assert_int_equal(i, (unsigned)n + 1);
		ports[n++] = port;
		p += used;
		if (*p == ',')
			p++;
	}
	return n;
}

/* Chi-square of n ports over 16 equal bins of [lo, hi]: below 37.7 (15
 * degrees of freedom, p = 0.001) for a uniform draw; a fixed 1024-port pool
 * in a 64k range lands in one bin and scores in the thousands. */
static double chi_square(const uint16_t *ports, size_t n, unsigned lo, unsigned hi)
{
	double bins[16] = { 0 }, e = (double)n / 16, x = 0;
	double width = (double)(hi - lo + 1) / 16;

	for (size_t i = 0; i < n; i++)
		bins[(int)((ports[i] - lo) / width)]++;
	for (int k = 0; k < 16; k++)
		x += (bins[k] - e) * (bins[k] - e) / e;
	return x;
}

/* ports = random: 200 mappings spread uniformly over the configured range,
 * all distinct (no two mappings meet on a port), different for another
 * seed, identical for the same seed; the ruleset's pool is that draw. */
static void test_random_pool(void **state)
{
	static uint16_t a[NAT_POOL_MAX], b2[NAT_POOL_MAX];
	struct nat_behavior b = { .mapping = MAP_APDM, .filtering = FILTER_APDF, .ports = PORTS_RANDOM };
	static const struct { uint16_t lo, hi; } ranges[] = { { 0, 0 }, { 20000, 29999 }, { 1024, 2047 } };
	(void)state;

	for (size_t r = 0; r < sizeof(ranges) / sizeof(ranges[0]); r++) {
		unsigned lo, hi;

		b.port_min = ranges[r].lo;
		b.port_max = ranges[r].hi;
		nat_port_range(&b, &lo, &hi);
		for (uint64_t seed = 1; seed <= 20; seed++) {
			ssize_t n = nat_port_pool(&b, nat_router_seed(seed, "home-a"), a, 200);
			bool taken[65536] = { false };

			assert_int_equal(n, 200);
			for (int i = 0; i < 200; i++) {
				assert_in_range(a[i], lo, hi);
				assert_false(taken[a[i]]);
				taken[a[i]] = true;
			}
			if (chi_square(a, 200, lo, hi) >= 37.7)
				fail_msg("range %u-%u seed %llu: chi-square %.1f, not uniform", lo, hi,
					 (unsigned long long)seed, chi_square(a, 200, lo, hi));
			/* the same seed: the same ports; another seed or router: others */
			assert_int_equal(nat_port_pool(&b, nat_router_seed(seed, "home-a"), b2, 200), 200);
			assert_memory_equal(a, b2, sizeof(a[0]) * 200);
			assert_int_equal(nat_port_pool(&b, nat_router_seed(seed + 1, "home-a"), b2, 200), 200);
			assert_memory_not_equal(a, b2, sizeof(a[0]) * 200);
			assert_int_equal(nat_port_pool(&b, nat_router_seed(seed, "home-b"), b2, 200), 200);
			assert_memory_not_equal(a, b2, sizeof(a[0]) * 200);
		}
	}
	/* a pool never holds more than NAT_POOL_MAX, nor more than the range */
	b.port_min = b.port_max = 0;
	assert_int_equal(nat_port_pool(&b, 7, a, NAT_POOL_MAX), NAT_POOL_MAX);
	b.port_min = 5000;
	b.port_max = 5009;
	assert_int_equal(nat_port_pool(&b, 7, a, NAT_POOL_MAX), 10);
	b.port_min = 6000;
	b.port_max = 5000;
	assert_int_equal(nat_port_pool(&b, 7, a, NAT_POOL_MAX), -EINVAL);
	/* the router seed depends on the name and the run seed only */
	assert_true(nat_router_seed(1, "home-a") == nat_router_seed(1, "home-a"));
	assert_true(nat_router_seed(1, "home-a") != nat_router_seed(1, "home-b"));
	assert_true(nat_router_seed(1, "home-a") != nat_router_seed(2, "home-a"));
}

/* b's NAT ruleset on ifc4 (free it); a refusal fails the test with the
 * generator's message. */
static char *gen4(const struct nat_behavior *b)
{
	char err[256], *text = NULL;
	int ret = nat_ruleset(b, true, &ifc4, &text, err, sizeof(err));

	if (ret != 0)
		fail_msg("nat_ruleset: %d: %s", ret, err);
	return text;
}

/* Past the pool: a range larger than NAT_POOL_MAX gets a pool of
 * NAT_POOL_MAX distinct ports of the range (nat.h says why no larger), and
 * the mapping that finds its pool port busy (the pool came round while the
 * port is still in use) falls to nf_nat's own random choice in exactly the
 * configured range, never outside it; a range that fits is the pool whole. */
static void test_pool_beyond(void **state)
{
	static uint16_t a[NAT_POOL_MAX];
	struct nat_behavior b = { .mapping = MAP_EIM, .filtering = FILTER_APDF, .ports = PORTS_RANDOM,
				  .port_min = 20000, .port_max = 29999 };
	static unsigned ports[NAT_POOL_MAX + 1];
	static bool taken[65536];
	char *text = NULL;
	int n;

	(void)state;
	text = gen4(&b);
	n = pool_ports(text, ports, NAT_POOL_MAX + 1);
	assert_int_equal(n, NAT_POOL_MAX);
	for (int i = 0; i < n; i++) {
		assert_true(ports[i] >= 20000 && ports[i] <= 29999);
		assert_false(taken[ports[i]]);
		taken[ports[i]] = true;
	}
	assert_non_null(strstr(text, "meta mark set numgen inc mod 2048 offset 1\n"));
	assert_non_null(strstr(text, "meta mark @busy_idx snat ip to 203.0.113.20 : 20000-29999 random\n"));
	free(text);
	/* 100 ports: the pool is the range, every port once */
	b.port_min = 40000;
	b.port_max = 40099;
	assert_int_equal(nat_port_pool(&b, 3, a, NAT_POOL_MAX), 100);
	memset(taken, 0, sizeof(taken));
	for (int i = 0; i < 100; i++) {
		assert_true(a[i] >= 40000 && a[i] <= 40099);
		assert_false(taken[a[i]]);
		taken[a[i]] = true;
	}
}

/* ports = sequential: port-step apart from port-start, round the range. */
static void test_sequential_pool(void **state)
{
	static uint16_t a[NAT_POOL_MAX];
	struct nat_behavior b = { .mapping = MAP_EIM, .filtering = FILTER_APDF, .ports = PORTS_SEQUENTIAL,
				  .port_min = 5000, .port_max = 5009, .port_start = 5006, .port_step = 2 };
	static const uint16_t want2[] = { 5006, 5008, 5000, 5002, 5004 };
	static const uint16_t want3[] = { 5006, 5009, 5002, 5005, 5008, 5001, 5004, 5007, 5000, 5003 };
	(void)state;

	assert_int_equal(nat_port_pool(&b, 1, a, NAT_POOL_MAX), 5);
	assert_memory_equal(a, want2, sizeof(want2));
	b.port_step = 3;
	assert_int_equal(nat_port_pool(&b, 1, a, NAT_POOL_MAX), 10);
	assert_memory_equal(a, want3, sizeof(want3));
	/* no start: one drawn from the seed, then step 1 */
	b.port_start = 0;
	b.port_step = 0;
	b.port_min = b.port_max = 0;
	assert_int_equal(nat_port_pool(&b, 99, a, NAT_POOL_MAX), NAT_POOL_MAX);
	for (int i = 1; i < NAT_POOL_MAX; i++)
		assert_int_equal(a[i], a[i - 1] == 65535 ? 1024 : a[i - 1] + 1);
}

/* ports = block (RFC 7422): whole aligned blocks of the range, each its
 * block-size ports once, in an order drawn from the seed; as many blocks as a
 * pool holds; others for another seed. */
static void test_block_pool(void **state)
{
	static uint16_t a[NAT_POOL_MAX], b2[NAT_POOL_MAX];
	struct nat_behavior b = { .mapping = MAP_EIM, .filtering = FILTER_APDF, .ports = PORTS_BLOCK,
				  .block_size = 64, .port_min = 20000, .port_max = 29999 };
	bool blk_used[10000 / 64] = { false };
	ssize_t n;
	(void)state;

	n = nat_port_pool(&b, 5, a, NAT_POOL_MAX);
	assert_int_equal(n, NAT_POOL_MAX); /* 32 of the 156 blocks */
	for (ssize_t k = 0; k < n / 64; k++) {
		unsigned base = (a[k * 64] - 20000) / 64 * 64 + 20000;
		bool got[64] = { false };
		bool ordered = true;

		assert_false(blk_used[(base - 20000) / 64]);
		blk_used[(base - 20000) / 64] = true;
		for (int i = 0; i < 64; i++) {
			unsigned p = a[k * 64 + i];

			assert_in_range(p, base, base + 63);
			assert_false(got[p - base]);
			got[p - base] = true;
			ordered = ordered && p == base + (unsigned)i;
		}
		assert_false(ordered); /* random within the block */
	}
	assert_int_equal(nat_port_pool(&b, 6, b2, NAT_POOL_MAX), NAT_POOL_MAX);
	assert_memory_not_equal(a, b2, sizeof(a));
	/* the range holds fewer blocks than the pool: all of them, the rest cut off */
	b.port_max = 20199; /* 3 whole blocks of 64, 8 ports left over */
	assert_int_equal(nat_port_pool(&b, 5, a, NAT_POOL_MAX), 192);
	for (int i = 0; i < 192; i++)
		assert_in_range(a[i], 20000, 20191);
	/* a block larger than the range, or than a pool */
	b.block_size = 300;
	assert_int_equal(nat_port_pool(&b, 5, a, NAT_POOL_MAX), -EINVAL);
	b.block_size = 8192;
	b.port_max = 0;
	b.port_min = 0;
	assert_int_equal(nat_port_pool(&b, 5, a, NAT_POOL_MAX), -EINVAL);
}

/* The ruleset hands out exactly the pool nat_port_pool() draws, through
 * numgen (never a hash or a fixed list), with the busy guard in front. */
static void test_pool_ports(void **state)
{
	static const enum nat_mapping maps[] = { MAP_EIM, MAP_ADM, MAP_APDM };
	static const enum nat_ports ports[] = { PORTS_PRESERVE, PORTS_RANDOM, PORTS_SEQUENTIAL };
	struct nat_ifaces ifc = ifc4;
	(void)state;

	ifc.seed = nat_router_seed(42, "cgn");
	for (size_t m = 0; m < 3; m++)
		for (size_t p = 0; p < 3; p++) {
			struct nat_behavior b = { .mapping = maps[m], .filtering = FILTER_APDF, .ports = ports[p],
						  .port_min = 20000, .port_max = 20999 };
			static unsigned got[NAT_POOL_MAX + 1];
			static uint16_t want[NAT_POOL_MAX];
			char err[256], *text = NULL, line[160];
			ssize_t n;

			assert_int_equal(nat_ruleset(&b, true, &ifc, &text, err, sizeof(err)), 0);
			assert_null(strstr(text, "jhash"));
			/* a preserving NAT's pool is smaller: it takes only the fallbacks */
			size_t cap = b.ports == PORTS_PRESERVE ? NAT_POOL_PRESERVE : NAT_POOL_MAX;

			n = nat_port_pool(&b, ifc.seed, want, cap);
			assert_int_equal(n, b.ports == PORTS_PRESERVE ? NAT_POOL_PRESERVE : 1000);
			assert_int_equal(pool_ports(text, got, NAT_POOL_MAX + 1), n);
			for (ssize_t i = 0; i < n; i++)
				assert_int_equal(got[i], want[i]);
			snprintf(line, sizeof(line), "meta mark set numgen inc mod %zd offset 1\n", n);
			assert_non_null(strstr(text, line));
			assert_non_null(strstr(text, "meta mark @busy_idx snat ip to 203.0.113.20 : 20000-20999 random"));
			free(text);
		}
}

/* Rebinding flushes the learned mapping state the listing holds, never the
 * busy sets nor anything else. */
static void test_rebind(void **state)
{
	const char *listing = "table ip punchlab {\n\tmap port_pool {\n\t\ttype mark : inet_service\n\t}\n"
			      "\tset busy_port {\n\t}\n\tmap eim_port {\n\t}\n\tset eim_keep {\n\t}\n"
			      "\tmap cone_eif {\n\t}\n\tset sess {\n\t}\n\tchain learn {\n\t}\n}\n";
	char *out = NULL;
	(void)state;

	assert_int_equal(nat_rebind_commands(listing, &out), 4);
	assert_string_equal(out, "flush map ip punchlab eim_port\nflush set ip punchlab eim_keep\n"
			    "flush map ip punchlab cone_eif\nflush set ip punchlab sess\n");
	free(out);
	assert_int_equal(nat_rebind_commands("table ip other {\n}\n", &out), 0);
	assert_string_equal(out, "");
	free(out);
}

static int refuse(const struct nat_behavior *b, bool nat, const struct nat_ifaces *ifc, const char *needle)
{
	static char poison[1];
	char err[256];
	char *text = poison; /* must be reset to NULL on failure */
	int ret = nat_ruleset(b, nat, ifc, &text, err, sizeof(err));

	assert_int_equal(ret, -EINVAL);
	assert_null(text);
	if (!strstr(err, needle))
		fail_msg("expected \"%s\" in \"%s\"", needle, err);
	return ret;
}

static void test_refusals(void **state)
{
	struct nat_behavior eim = { .mapping = MAP_EIM, .filtering = FILTER_APDF };
	struct nat_behavior fw = { .mapping = MAP_NONE, .filtering = FILTER_APDF };
	struct nat_behavior b;

	refuse(&fw, true, &ifc4, "needs a mapping");
	refuse(&eim, false, &ifc4, "needs address translation");
	b = fw;
	b.ports = PORTS_RANDOM;
	refuse(&b, false, &ifc4, "needs address translation");
	b = eim;
	b.filtering = FILTER_OPEN;
	refuse(&b, true, &ifc4, "not possible on a NAT");
	refuse(&eim, true, &ifc6, "WAN IPv4 address");
	{
		/* a dual-stack NAT needs its IPv6 firewall's LAN too */
		struct nat_ifaces half = ifc46;

		half.lan_net6 = NULL;
		refuse(&eim, true, &half, "both the WAN IPv6 address and the LAN IPv6 subnet");
	}
	b = eim;
	b.mapping = MAP_APDM;
	b.hairpin = true;
	refuse(&b, true, &ifc4, "hairpinning");
	b = eim;
	b.mapping = (enum nat_mapping)7;
	refuse(&b, true, &ifc4, "out of range");
	b = eim;
	b.filtering = (enum nat_filtering)-1;
	refuse(&b, true, &ifc4, "out of range");
	b = eim;
	b.ports = (enum nat_ports)4;
	refuse(&b, true, &ifc4, "out of range");
	/* port allocation keys that cannot be honoured */
	b = eim;
	b.port_min = 6000;
	b.port_max = 5000;
	refuse(&b, true, &ifc4, "is empty");
	b = eim;
	b.port_step = 2;
	refuse(&b, true, &ifc4, "port-step is for ports = sequential");
	b.ports = PORTS_SEQUENTIAL;
	b.port_min = 5000;
	b.port_max = 5001;
	refuse(&b, true, &ifc4, "not smaller than the port range");
	b.port_step = 1;
	b.port_start = 4000;
	refuse(&b, true, &ifc4, "outside the port range");
	struct nat_ifaces none = { .wan_if = "wan0", .lan_if = "lan0" };
	refuse(&fw, false, &none, "neither");
	refuse(NULL, true, &ifc4, "no behaviour");
	refuse(&eim, true, NULL, "no behaviour");
	assert_int_equal(nat_ruleset(&eim, true, &ifc4, NULL, NULL, 0), -EINVAL);
}

/* Names and addresses end up in the ruleset text: anything that could break
 * out of a string or a statement must be refused. */
static void test_hostile_ifaces(void **state)
{
	static const char *const bad_if[] = {
		"", "wan\"0", "wan0; flush ruleset", "0123456789abcdef", "wan 0", "wan0\n", "w$an", "lan0",
	};
	static const char *const bad_ip[] = {
		"", "203.0.113", "203.0.113.256", "203.0.113.20 ", "203.0.113.20/24", "2001:db8::1",
		"203.0.113.20; flush ruleset",
		"1111111111111111111111111111111111111111111111111111111111111111111111111111111",
	};
	static const char *const bad_net[] = {
		"10.0.1.0", "10.0.1.0/33", "10.0.1.0/-1", "10.0.1.0/", "/24", "10.0.1.0/24x", "10.0.1.0/ 24",
		"10.0.1.0/24/24", "2001:db8::/64", "10.0.1.0/99999999999999999999",
	};
	struct nat_behavior eim = { .mapping = MAP_EIM, .filtering = FILTER_EIF, .hairpin = true };
	struct nat_behavior fw6 = { .mapping = MAP_NONE, .filtering = FILTER_APDF };
	struct nat_ifaces i;

	for (size_t k = 0; k < sizeof(bad_if) / sizeof(bad_if[0]); k++) {
		i = ifc4;
		i.wan_if = bad_if[k];
		refuse(&eim, true, &i, "interface");
	}
	i = ifc4;
	i.lan_if = NULL;
	refuse(&eim, true, &i, "LAN interface");
	for (size_t k = 0; k < sizeof(bad_ip) / sizeof(bad_ip[0]); k++) {
		i = ifc4;
		i.wan_ip = bad_ip[k];
		refuse(&eim, true, &i, "WAN address");
	}
	for (size_t k = 0; k < sizeof(bad_net) / sizeof(bad_net[0]); k++) {
		i = ifc4;
		i.lan_net = bad_net[k];
		refuse(&eim, true, &i, "LAN subnet");
	}
	i = ifc6;
	i.wan_ip6 = "203.0.113.20";
	refuse(&fw6, false, &i, "WAN IPv6");
	i = ifc6;
	i.lan_net6 = "2001:db8:1::/129";
	refuse(&fw6, false, &i, "LAN IPv6");
	/* a NULL err buffer is allowed */
	i = ifc4;
	i.wan_if = "bad\"";
	char *text = NULL;
	assert_int_equal(nat_ruleset(&eim, true, &i, &text, NULL, 0), -EINVAL);
	assert_null(text);
}

static void test_timeouts(void **state)
{
	struct nat_behavior b = { .mapping = MAP_EIM, .filtering = FILTER_EIF, .udp_timeout_ms = 1500 };
	char *text = NULL;

	/* rounded up to whole seconds, and the learned maps age with the flows */
	text = gen4(&b);
	assert_non_null(strstr(text, "policy = { unreplied : 2, replied : 2 }"));
	assert_non_null(strstr(text, "ct timeout set \"udp_timeout\""));
	assert_null(strstr(text, "timeout 120s"));
	assert_non_null(strstr(text, "timeout 2s"));
	free(text);

	b.udp_timeout_ms = 0;
	text = gen4(&b);
	assert_null(strstr(text, "ct timeout"));
	assert_non_null(strstr(text, "timeout 120s"));
	free(text);

	b.udp_timeout_ms = NAT_MAX_TIMEOUT_MS;
	text = gen4(&b);
	assert_non_null(strstr(text, "unreplied : 86400,"));
	free(text);
	b.udp_timeout_ms = NAT_MAX_TIMEOUT_MS + 1;
	refuse(&b, true, &ifc4, "timeout");
	b.udp_timeout_ms = UINT32_MAX;
	refuse(&b, true, &ifc4, "timeout");
}

/* TCP (RFC 5382): its own sets and chains beside UDP's, what an unsolicited
 * SYN gets, and the ct timeout policy. */
static void test_tcp_variants(void **state)
{
	struct nat_behavior b;

	/* a port-restricted cone refusing SYNs with a RST, REQ-5's minimum timeouts */
	b = (struct nat_behavior){ .mapping = MAP_EIM, .filtering = FILTER_APDF, .port_min = 61000,
				   .port_max = 61015, .tcp_unsolicited = TCP_UNSOL_RST,
				   .tcp_timeout_ms = 7440000, .tcp_transitory_ms = 240000 };
	golden("eim-apdf-tcp-rst-t7440", &b, true, &ifc4);
	/* symmetric with EIF: admitted SYNs, zones and sessions for TCP too */
	b = (struct nat_behavior){ .mapping = MAP_APDM, .filtering = FILTER_EIF, .ports = PORTS_RANDOM,
				   .port_min = 61000, .port_max = 61015 };
	golden("apdm-eif-random-tcp", &b, true, &ifc4);
	/* TCP declared apart: a full cone for UDP, address-dependent for TCP */
	b = (struct nat_behavior){ .mapping = MAP_EIM, .filtering = FILTER_EIF, .port_min = 61000,
				   .port_max = 61015, .tcp_mapping_own = true, .tcp_mapping = MAP_ADM,
				   .tcp_filtering_own = true, .tcp_filtering = FILTER_ADF,
				   .tcp_unsolicited = TCP_UNSOL_ICMP };
	golden("eim-eif-tcp-adm-adf-icmp", &b, true, &ifc4);
	/* firewalls: TCP filtering of their own, IPv4 and IPv6 */
	b = (struct nat_behavior){ .mapping = MAP_NONE, .filtering = FILTER_APDF, .tcp_filtering_own = true,
				   .tcp_filtering = FILTER_EIF, .tcp_unsolicited = TCP_UNSOL_ICMP };
	golden("none-apdf-tcp-eif-icmp-dual", &b, false, &ifc46);
	b.tcp_filtering = FILTER_ADF;
	b.tcp_unsolicited = TCP_UNSOL_RST;
	golden("none-apdf-tcp-adf-rst-v6", &b, false, &ifc6);
	b.tcp_filtering = FILTER_OPEN;
	golden("none-apdf-tcp-open", &b, false, &ifc4);
}

/* The TCP rules, statement by statement, where a golden file would hide a
 * regression in a large diff. */
static void test_tcp_rules(void **state)
{
	struct nat_behavior b = { .mapping = MAP_EIM, .filtering = FILTER_APDF };
	char *text = NULL;

	text = gen4(&b);
	/* EIM for TCP (REQ-1): a known internal endpoint keeps its port; a new one its own when free */
	assert_non_null(strstr(text, "ip saddr . tcp sport @tcp_eim snat ip to 203.0.113.20 : ip saddr . tcp sport "
				     "map @tcp_eim"));
	assert_non_null(strstr(text, "tcp sport != @tcp_busy snat ip to 203.0.113.20 : tcp sport"));
	assert_non_null(strstr(text, "priority srcnat - 1;"));
	/* the default: an unsolicited SYN dropped silently (REQ-4a), counted */
	assert_non_null(strstr(text, "tcp flags & (syn | ack) == syn counter name \"tcp_unsolicited_in\" drop"));
	/* APDF: no cone map, conntrack alone admits the partner's SYN (simultaneous open) */
	assert_null(strstr(text, "tcp_cone_"));
	assert_null(strstr(text, "ct timeout tcp_timeout"));
	/* never an untranslated packet onto the WAN */
	assert_non_null(strstr(text, "meta l4proto tcp ct state invalid drop"));
	free(text);

	b.mapping = MAP_APDM;
	b.ports = PORTS_RANDOM;
	b.tcp_unsolicited = TCP_UNSOL_RST;
	b.tcp_timeout_ms = 3000;
	text = gen4(&b);
	assert_null(strstr(text, "@tcp_eim"));
	assert_null(strstr(text, "@tcp_busy snat"));
	assert_non_null(strstr(text, "meta l4proto tcp snat ip to 203.0.113.20 : 1024-65535 random"));
	assert_non_null(strstr(text, "counter name \"tcp_unsolicited_in\" reject with tcp reset"));
	assert_non_null(strstr(text, "policy = { established : 3 }"));
	assert_non_null(strstr(text, "ct timeout set \"tcp_timeout\""));
	assert_non_null(strstr(text, "timeout 3s"));
	free(text);

	/* TCP's own declaration wins over UDP's */
	b = (struct nat_behavior){ .mapping = MAP_EIM, .filtering = FILTER_APDF, .tcp_filtering_own = true,
				   .tcp_filtering = FILTER_EIF, .tcp_transitory_ms = 240000 };
	assert_int_equal(nat_tcp_filtering(&b), FILTER_EIF);
	assert_int_equal(nat_tcp_mapping(&b), MAP_EIM);
	text = gen4(&b);
	assert_non_null(strstr(text, "tcp flags & (syn | ack) == syn dnat ip to tcp dport map @tcp_cone_eif"));
	assert_null(strstr(text, "map cone_eif {")); /* UDP stays port-restricted */
	assert_non_null(strstr(text, "policy = { syn_sent : 240, syn_recv : 240, fin_wait : 240, close_wait : 240, "
				     "last_ack : 240, time_wait : 240 }"));
	free(text);

	/* refused */
	b = (struct nat_behavior){ .mapping = MAP_EIM, .filtering = FILTER_APDF, .tcp_mapping_own = true,
				   .tcp_mapping = MAP_NONE };
	refuse(&b, true, &ifc4, "both protocols or neither");
	b = (struct nat_behavior){ .mapping = MAP_EIM, .filtering = FILTER_APDF, .tcp_filtering_own = true,
				   .tcp_filtering = FILTER_OPEN };
	refuse(&b, true, &ifc4, "TCP filtering \"open\"");
	b = (struct nat_behavior){ .mapping = MAP_NONE, .filtering = FILTER_OPEN, .tcp_filtering_own = true,
				   .tcp_filtering = FILTER_APDF };
	refuse(&b, false, &ifc4, "open router");
	b = (struct nat_behavior){ .mapping = MAP_EIM, .filtering = FILTER_APDF,
				   .tcp_unsolicited = (enum nat_tcp_unsolicited)3 };
	refuse(&b, true, &ifc4, "out of range");
	b = (struct nat_behavior){ .mapping = MAP_EIM, .filtering = FILTER_APDF, .tcp_timeout_ms = UINT32_MAX };
	refuse(&b, true, &ifc4, "more than a week");
}

static void test_names(void **state)
{
	assert_string_equal(nat_mapping_name(MAP_APDM), "apdm");
	assert_string_equal(nat_filtering_name(FILTER_OPEN), "open");
	assert_string_equal(nat_ports_name(PORTS_SEQUENTIAL), "sequential");
	assert_null(nat_mapping_name((enum nat_mapping)4));
	assert_null(nat_filtering_name((enum nat_filtering)4));
	assert_string_equal(nat_ports_name(PORTS_BLOCK), "block");
	assert_null(nat_ports_name((enum nat_ports)4));
	assert_string_equal(nat_inbound_reply_name(INBOUND_REPLY_NEW_MAPPING), "new-mapping");
	assert_int_equal(nat_inbound_reply_parse("session"), INBOUND_REPLY_SESSION);
	assert_int_equal(nat_inbound_reply_parse("sessions"), -1);
	assert_null(nat_inbound_reply_name((enum nat_inbound_reply)2));
	assert_string_equal(nat_tcp_unsolicited_name(TCP_UNSOL_RST), "rst");
	assert_int_equal(nat_tcp_unsolicited_parse("ICMP"), TCP_UNSOL_ICMP);
	assert_int_equal(nat_tcp_unsolicited_parse("reset"), -1);
	assert_null(nat_tcp_unsolicited_name((enum nat_tcp_unsolicited)3));
}

/* Runs last: every golden file must have been produced by some case above. */
static void test_no_stale_golden(void **state)
{
	DIR *d = opendir(golden_dir());
	struct dirent *e;
	int files = 0;

	assert_non_null(d);
	while ((e = readdir(d))) {
		size_t n = strlen(e->d_name);
		bool found = false;
		if (n < 5 || strcmp(e->d_name + n - 4, ".nft") != 0)
			continue;
		files++;
		for (int i = 0; i < n_seen && !found; i++)
			found = strcmp(seen[i], e->d_name) == 0;
		if (!found) {
			char name[256]; /* e points into d: copy before closing it */

			snprintf(name, sizeof(name), "%s", e->d_name);
			closedir(d);
			fail_msg("stale golden file %s/%s: no test case produces it", golden_dir(), name);
		}
	}
	closedir(d);
	assert_true(files > 40);
}

/* Short names and their values, both ways; the long names and the alias
 * "none" for open filtering parse too, in any case; nothing else is a name. */
static void test_name_parse(void **state)
{
	(void)state;
	for (int v = MAP_NONE; v <= MAP_APDM; v++)
		assert_int_equal(nat_mapping_parse(nat_mapping_name((enum nat_mapping)v)), v);
	for (int v = FILTER_OPEN; v <= FILTER_APDF; v++)
		assert_int_equal(nat_filtering_parse(nat_filtering_name((enum nat_filtering)v)), v);
	for (int v = PORTS_PRESERVE; v <= PORTS_SEQUENTIAL; v++)
		assert_int_equal(nat_ports_parse(nat_ports_name((enum nat_ports)v)), v);
	assert_int_equal(nat_mapping_parse("EIM"), MAP_EIM);
	assert_int_equal(nat_mapping_parse("address-and-port-dependent"), MAP_APDM);
	assert_int_equal(nat_filtering_parse("none"), FILTER_OPEN);
	assert_int_equal(nat_filtering_parse("Endpoint-Independent"), FILTER_EIF);
	assert_string_equal(nat_mapping_long(MAP_ADM), "address-dependent");
	assert_string_equal(nat_filtering_long(FILTER_OPEN), "open");
	assert_null(nat_mapping_name((enum nat_mapping)7));
	assert_int_equal(nat_mapping_parse(NULL), -1);
	assert_int_equal(nat_mapping_parse("endpoint"), -1);
	assert_int_equal(nat_mapping_parse(""), -1);
	assert_int_equal(nat_filtering_parse("eim"), -1);
	assert_int_equal(nat_ports_parse("preserve "), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_name_parse),
		cmocka_unit_test(test_nat_matrix),
		cmocka_unit_test(test_variants),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_pool_ports),
		cmocka_unit_test(test_random_pool),
		cmocka_unit_test(test_block_pool),
		cmocka_unit_test(test_rebind),
		cmocka_unit_test(test_pool_beyond),
		cmocka_unit_test(test_sequential_pool),
		cmocka_unit_test(test_hostile_ifaces),
		cmocka_unit_test(test_timeouts),
		cmocka_unit_test(test_tcp_variants),
		cmocka_unit_test(test_tcp_rules),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_no_stale_golden),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
