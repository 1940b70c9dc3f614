/* The NAT/firewall ruleset generator. See nat.h for what each behaviour is
 * built from; the techniques and their pitfalls were measured on Linux 6.18
 * with nftables 1.0.6 (doc/nat-notes.md, numbered pitfalls below).
 *
 * Everything is generated into one table per family so that a reader of the
 * counters finds them in one place. The text creates the table: load it where
 * there is none (a fresh namespace, or after "flush ruleset").
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/nat.h"
#include "common/cidr.h"

/* A growing text buffer. Allocation failure is remembered and reported once
 * at the end, so the emitters need not check every call. */
struct nat_text {
	char *p;
	size_t len;
	size_t cap;
	bool oom;
};

static void put(struct nat_text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct nat_text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (t->oom)
		return;
	for (;;) {
		size_t room = t->cap - t->len;

		va_start(ap, fmt);
		n = vsnprintf(t->p ? t->p + t->len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0) {
			t->oom = true;
			return;
		}
		if ((size_t)n < room) {
			t->len += (size_t)n;
			return;
		}
		size_t ncap = t->cap ? t->cap : 4096;
		while (ncap - t->len <= (size_t)n)
			ncap *= 2;
		char *np = realloc(t->p, ncap);
		if (!np) {
			t->oom = true;
			return;
		}
		t->p = np;
		t->cap = ncap;
	}
}

/* One address family's spelling. Only the firewall is generated for IPv6:
 * there is no IPv6 NAT in the model. */
struct nat_family {
	const char *table;     /* "ip" / "ip6" */
	const char *sel;       /* payload selector: "ip" ("ip saddr") or "ip6" */
	const char *addr_type; /* set key type */
	const char *wan_ip;
	const char *lan_net;
};

struct nat_gen {
	struct nat_text t;
	const struct nat_behavior *b;
	bool nat;
	const char *wan; /* interface names, already validated */
	const char *lan;
	unsigned timeout_s;     /* ct timeout for new UDP flows, 0 = kernel default */
	unsigned map_timeout_s; /* lifetime of learned maps and sets */
	bool eif_map;           /* external port -> internal endpoint, learned after srcnat */
	bool eif_from_wan;      /* ... and used for unsolicited inbound traffic (EIF) */
	bool adf_map;           /* external port . remote ip -> internal endpoint (ADF) */
	bool udp_nat;           /* UDP gets its own mapping rules (not blocked) */
	uint16_t *pool;         /* the external ports in the order they are handed out */
	unsigned bs;            /* ports = block: the block size (the pool is whole blocks) */
	size_t npool;
	unsigned lo, hi;        /* the port range */
	bool zoned;             /* inbound sessions admitted by the filtering: LAN flows in zone 1 */
	bool sess;              /* ... and replies ride an admitted session (set @sess) */
	bool stateless;         /* inbound-reply new-mapping: admitted packets pass untracked */
	/* TCP (RFC 5382), its own sets and chains (tcp_*), named apart from UDP's. */
	enum nat_mapping tmap;  /* nat_tcp_mapping(b) */
	enum nat_filtering tfilt; /* nat_tcp_filtering(b) */
	bool tcp_nat;           /* TCP gets the declared mapping (IPv4 table of a NAT) */
	bool tcp_eif, tcp_adf;  /* ... and unsolicited SYNs admitted through learned cone maps */
	bool tcp_zoned;         /* ... with a non-EIM mapping: LAN connections in zone 1, sessions (tcp_sess) */
	unsigned tcp_est_s, tcp_tr_s; /* ct timeout policy, 0 = kernel default */
	unsigned tcp_map_s;     /* lifetime of the learned TCP maps */
};

/* The common name of a combination, "" when it has none. */
static const char *nickname(const struct nat_behavior *b, bool nat)
{
	if (!nat)
		return b->filtering == FILTER_OPEN ? " (open router)" : " (outbound-only firewall)";
	if (b->mapping == MAP_EIM && b->filtering == FILTER_EIF)
		return " (full cone)";
	if (b->mapping == MAP_EIM && b->filtering == FILTER_ADF)
		return " (restricted cone)";
	if (b->mapping == MAP_EIM && b->filtering == FILTER_APDF)
		return " (port-restricted cone)";
	if (b->mapping == MAP_APDM && b->filtering == FILTER_APDF)
		return " (symmetric)";
	return "";
}

/* Names and addresses are pasted into the ruleset text, so anything that could
 * end a string or a statement is refused rather than escaped. */
static bool valid_ifname(const char *s)
{
	size_t n;

	if (!s)
		return false;
	n = strnlen(s, 16);
	if (n == 0 || n > 15)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.'))
			return false;
	}
	return true;
}

static bool valid_addr(int af, const char *s)
{
	unsigned char buf[16];

	if (!s || strnlen(s, 64) >= 64)
		return false;
	return inet_pton(af, s, buf) == 1;
}

/* "address/prefix", prefix in range for the family. */
static bool valid_net(int af, const char *s)
{
	struct cidr c;

	return s && cidr_parse(s, af, 0, &c) == 0;
}

static int fail(char *err, size_t errsize, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errsize, const char *fmt, ...)
{
	va_list ap;

	if (err && errsize) {
		va_start(ap, fmt);
		vsnprintf(err, errsize, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

/* Every combination that cannot be built is refused here, with the reason. */
static int check(const struct nat_behavior *b, bool nat, const struct nat_ifaces *ifc, char *err,
		 size_t errsize)
{
	if (!nat_mapping_name(b->mapping) || !nat_filtering_name(b->filtering) ||
	    !nat_ports_name(b->ports))
		return fail(err, errsize, "behaviour value out of range (mapping %d, filtering %d, ports %d)",
			    (int)b->mapping, (int)b->filtering, (int)b->ports);
	if (!valid_ifname(ifc->wan_if))
		return fail(err, errsize, "WAN interface name missing or not [A-Za-z0-9._-]{1,15}");
	if (!valid_ifname(ifc->lan_if))
		return fail(err, errsize, "LAN interface name missing or not [A-Za-z0-9._-]{1,15}");
	if (strcmp(ifc->wan_if, ifc->lan_if) == 0)
		return fail(err, errsize, "WAN and LAN interface are both \"%s\"", ifc->wan_if);
	if (ifc->wan_ip && !valid_addr(AF_INET, ifc->wan_ip))
		return fail(err, errsize, "WAN address is not an IPv4 address");
	if (ifc->lan_net && !valid_net(AF_INET, ifc->lan_net))
		return fail(err, errsize, "LAN subnet is not IPv4 address/prefix");
	if (ifc->wan_ip6 && !valid_addr(AF_INET6, ifc->wan_ip6))
		return fail(err, errsize, "WAN IPv6 address is not an IPv6 address");
	if (ifc->lan_net6 && !valid_net(AF_INET6, ifc->lan_net6))
		return fail(err, errsize, "LAN IPv6 subnet is not IPv6 address/prefix");

	{
		unsigned lo, hi;

		nat_port_range(b, &lo, &hi);
		if (lo == 0 || lo > hi)
			return fail(err, errsize, "port range %u-%u is empty", lo, hi);
		if (b->port_step && b->ports != PORTS_SEQUENTIAL)
			return fail(err, errsize, "port-step is for ports = sequential, not %s",
				    nat_ports_name(b->ports));
		if (b->port_start && b->ports != PORTS_SEQUENTIAL)
			return fail(err, errsize, "port-start is for ports = sequential, not %s",
				    nat_ports_name(b->ports));
		if (b->port_step >= hi - lo + 1 && hi > lo)
			return fail(err, errsize, "port-step %u is not smaller than the port range %u-%u",
				    b->port_step, lo, hi);
		if (b->port_start && (b->port_start < lo || b->port_start > hi))
			return fail(err, errsize, "port-start %u is outside the port range %u-%u", b->port_start,
				    lo, hi);
		if (b->block_size && b->ports != PORTS_BLOCK)
			return fail(err, errsize, "block-size is for ports = block, not %s", nat_ports_name(b->ports));
		if (b->ports == PORTS_BLOCK) {
			unsigned bs = b->block_size ? b->block_size : NAT_BLOCK_SIZE_DEFAULT;

			if (bs > hi - lo + 1)
				return fail(err, errsize, "block-size %u is larger than the port range %u-%u", bs, lo,
					    hi);
			if (bs > NAT_POOL_MAX)
				return fail(err, errsize, "block-size %u is larger than a router's pool (%d ports)", bs,
					    NAT_POOL_MAX);
		}
		if (!nat_inbound_reply_name(b->inbound_reply))
			return fail(err, errsize, "inbound-reply value %d out of range", (int)b->inbound_reply);
	}
	if (!nat_mapping_name(nat_tcp_mapping(b)) || !nat_filtering_name(nat_tcp_filtering(b)) ||
	    !nat_tcp_unsolicited_name(b->tcp_unsolicited))
		return fail(err, errsize, "TCP behaviour value out of range (mapping %d, filtering %d, "
			    "unsolicited %d)", (int)nat_tcp_mapping(b), (int)nat_tcp_filtering(b),
			    (int)b->tcp_unsolicited);
	if ((nat_tcp_mapping(b) == MAP_NONE) != (b->mapping == MAP_NONE))
		return fail(err, errsize, "TCP mapping %s with UDP mapping %s: a router translates both "
			    "protocols or neither", nat_mapping_long(nat_tcp_mapping(b)), nat_mapping_long(b->mapping));
	if (!nat && b->filtering == FILTER_OPEN && nat_tcp_filtering(b) != FILTER_OPEN)
		return fail(err, errsize, "an open router (filtering open) with TCP filtering %s is not built: "
			    "declare the router a firewall and open UDP or TCP instead",
			    nat_filtering_long(nat_tcp_filtering(b)));
	if (nat && nat_tcp_filtering(b) == FILTER_OPEN)
		return fail(err, errsize, "TCP filtering \"open\" is not possible on a NAT");
	if (b->tcp_timeout_ms > 7 * NAT_MAX_TIMEOUT_MS || b->tcp_transitory_ms > 7 * NAT_MAX_TIMEOUT_MS)
		return fail(err, errsize, "a TCP timeout is more than a week");
	if (b->udp_timeout_ms > NAT_MAX_TIMEOUT_MS)
		return fail(err, errsize, "UDP timeout %u ms is more than a day", b->udp_timeout_ms);

	if (!nat) {
		if (b->mapping != MAP_NONE)
			return fail(err, errsize, "mapping %s needs address translation: a router without NAT "
				    "has no mapping", nat_mapping_name(b->mapping));
		if (b->ports != PORTS_PRESERVE)
			return fail(err, errsize, "ports %s needs address translation: without NAT the "
				    "hosts' own ports are used", nat_ports_name(b->ports));
		if (!ifc->wan_ip && !ifc->wan_ip6)
			return fail(err, errsize, "neither an IPv4 nor an IPv6 WAN address given");
		return 0;
	}

	if (b->mapping == MAP_NONE)
		return fail(err, errsize, "a NAT needs a mapping behaviour (eim, adm or apdm); "
			    "use a firewall or an open router for no translation");
	if (b->filtering == FILTER_OPEN)
		return fail(err, errsize, "filtering \"open\" is not possible on a NAT: unsolicited "
			    "traffic has no mapping to follow; endpoint-independent filtering is the "
			    "most open a NAT can be");
	if (!ifc->wan_ip || !ifc->lan_net)
		return fail(err, errsize, "a NAT needs the WAN IPv4 address and the LAN IPv4 subnet");
	if (!ifc->wan_ip6 != !ifc->lan_net6)
		return fail(err, errsize, "a dual-stack NAT needs both the WAN IPv6 address and the LAN "
			    "IPv6 subnet (there is no IPv6 NAT: IPv6 is firewalled with the same filtering)");
	if (b->hairpin && b->mapping != MAP_EIM)
		return fail(err, errsize, "hairpinning is built only for endpoint-independent mapping: "
			    "it sends LAN traffic through the learned external-port map and re-uses the "
			    "sender's existing mapping, which with %s mapping is not the one its peer saw",
			    nat_mapping_long(b->mapping));
	return 0;
}

static void header(struct nat_gen *g, const struct nat_ifaces *ifc)
{
	const struct nat_behavior *b = g->b;
	struct nat_text *t = &g->t;

	put(t, "# punchlab router ruleset, generated by lab/nat.c from a nat_behavior: do not edit.\n");
	if (g->nat) {
		put(t, "# NAT%s: mapping %s, filtering %s, ports %s, hairpin %s%s.\n", nickname(b, true),
		    nat_mapping_long(b->mapping), nat_filtering_long(b->filtering), nat_ports_name(b->ports),
		    b->hairpin ? "yes" : "no", b->udp_blocked ? ", all forwarded UDP dropped" : "");
	} else {
		put(t, "# No NAT%s: hosts behind it use their own routed addresses; filtering %s%s.\n",
		    nickname(b, false), nat_filtering_long(b->filtering),
		    b->udp_blocked ? ", all forwarded UDP dropped" : "");
	}
	if (b->icmp_unreachable)
		put(t, "# Unsolicited UDP from outside is answered with ICMP port unreachable, not dropped silently.\n");
	if (g->udp_nat) {
		put(t, "# UDP ports: ");
		if (b->ports == PORTS_SEQUENTIAL)
			put(t, "sequential from %u, step %u, in %u-%u", g->pool[0], b->port_step ? b->port_step : 1,
			    g->lo, g->hi);
		else if (b->ports == PORTS_BLOCK)
			put(t, "a block of %u per subscriber (RFC 7422), %zu blocks, random within each, in %u-%u",
			    g->bs, g->npool / g->bs, g->lo, g->hi);
		else
			put(t, "%s%s, uniform in %u-%u", b->ports == PORTS_PRESERVE ? "preserved when free, else " : "",
			    "random", g->lo, g->hi);
		put(t, " (a pool of %zu drawn from seed %016llx); a port still in use is never handed out again.\n",
		    g->npool, (unsigned long long)ifc->seed);
	}
	if (g->zoned || g->stateless)
		put(t, "# A reply to an admitted inbound packet: inbound-reply %s.\n",
		    nat_inbound_reply_name(b->inbound_reply));
	if (g->timeout_s)
		put(t, "# UDP mapping lifetime %u s (ct timeout object on new flows; learned maps match).\n",
		    g->timeout_s);
	else
		put(t, "# UDP mapping lifetime: kernel default (30 s unreplied, 120 s replied); learned "
		    "maps %u s.\n", g->map_timeout_s);
	put(t, "# TCP (RFC 5382): ");
	if (g->nat)
		put(t, "mapping %s, filtering %s, ports %s; ", nat_mapping_long(g->tmap), nat_filtering_long(g->tfilt),
		    b->ports == PORTS_PRESERVE ? "preserved when free, else random" : "random");
	else
		put(t, "filtering %s; ", nat_filtering_long(g->tfilt));
	put(t, "an unsolicited SYN %s", b->tcp_unsolicited == TCP_UNSOL_RST    ? "answered with RST at once"
				    : b->tcp_unsolicited == TCP_UNSOL_ICMP ? "answered with ICMP port unreachable at once"
									   : "dropped silently");
	if (g->tcp_est_s || g->tcp_tr_s)
		put(t, "; timeouts (ct timeout object): established %s%u s, transitory %s%u s",
		    g->tcp_est_s ? "" : "kernel default ", g->tcp_est_s ? g->tcp_est_s : 432000,
		    g->tcp_tr_s ? "" : "kernel default ", g->tcp_tr_s ? g->tcp_tr_s : 120);
	else
		put(t, "; timeouts: kernel defaults (established 5 days)");
	put(t, ".\n");
	put(t, "# WAN \"%s\"", g->wan);
	if (ifc->wan_ip)
		put(t, " %s", ifc->wan_ip);
	if (ifc->wan_ip6)
		put(t, " %s", ifc->wan_ip6);
	put(t, ", LAN \"%s\"", g->lan);
	if (ifc->lan_net)
		put(t, " %s", ifc->lan_net);
	if (ifc->lan_net6)
		put(t, " %s", ifc->lan_net6);
	put(t, ".\n");
	put(t, "# The router's input chain drops what it did not ask for (NAT-NOTES pitfall 3).\n");
}

static void objects(struct nat_gen *g, const struct nat_family *f)
{
	static const char *const counters[] = {
		"udp_fwd_out", "udp_fwd_in", "udp_dropped_in", "udp_dropped_out", "udp_hairpin",
	};
	struct nat_text *t = &g->t;

	for (size_t i = 0; i < sizeof(counters) / sizeof(counters[0]); i++)
		put(t, "\tcounter %s { }\n", counters[i]);
	if (g->timeout_s) {
		put(t, "\tct timeout udp_timeout {\n\t\tprotocol udp\n\t\tl3proto %s\n"
		    "\t\tpolicy = { unreplied : %u, replied : %u }\n\t}\n", f->table, g->timeout_s,
		    g->timeout_s);
	}
}

static void dynset(struct nat_text *t, const char *kind, const char *name, const char *type,
		   unsigned timeout_s)
{
	put(t, "\t%s %s {\n\t\ttype %s\n\t\tflags dynamic,timeout\n\t\ttimeout %us\n\t}\n", kind, name,
	    type, timeout_s);
}

/* The sets and maps in which a router learns its mappings, sessions, port
 * blocks and what its cone filtering admits: the one list both the generator
 * declares them from (learned_set()) and nat_rebind_commands() flushes. The
 * busy sets and a firewall's fw_* sets are no mapping state and stay out. */
enum learned {
	L_EIM_PORT,
	L_EIM_KEEP,
	L_ADM_PORT,
	L_MAP_SEEN,
	L_MAP_FIRST,
	L_SESS,
	L_SUB_BLOCK,
	L_OUT_REV,
	L_CONE_EIF,
	L_CONE_EIF_OWN,
	L_CONE_EIF_IP,
	L_CONE_EIF_PORT,
	L_CONE_ADF,
	L_CONE_ADF_OWN,
	L_CONE_ADF_IP,
	L_CONE_ADF_PORT,
	L_TCP_EIM,
	L_TCP_ADM,
	L_TCP_SEEN,
	L_TCP_SESS,
	L_TCP_CONE_EIF,
	L_TCP_CONE_ADF,
	L_COUNT
};

static const struct {
	const char *kind, *name, *type;
} learned[L_COUNT] = {
	[L_EIM_PORT] = { "map", "eim_port", "ipv4_addr . inet_service : mark" },
	[L_EIM_KEEP] = { "set", "eim_keep", "ipv4_addr . inet_service" },
	[L_ADM_PORT] = { "map", "adm_port", "ipv4_addr . inet_service . ipv4_addr : mark" },
	[L_MAP_SEEN] = { "set", "map_seen", "ipv4_addr . inet_service" },
	[L_MAP_FIRST] = { "set", "map_first", "ipv4_addr . inet_service . ipv4_addr" },
	[L_SESS] = { "set", "sess", "ipv4_addr . inet_service . ipv4_addr . inet_service" },
	[L_SUB_BLOCK] = { "map", "sub_block", "ipv4_addr : mark" },
	[L_OUT_REV] = { "set", "out_rev", "inet_service . ipv4_addr . inet_service" },
	[L_CONE_EIF] = { "map", "cone_eif", "inet_service : ipv4_addr . inet_service" },
	[L_CONE_EIF_OWN] = { "set", "cone_eif_own", "inet_service . ipv4_addr . inet_service" },
	[L_CONE_EIF_IP] = { "map", "cone_eif_ip", "inet_service : ipv4_addr" },
	[L_CONE_EIF_PORT] = { "map", "cone_eif_port", "inet_service : inet_service" },
	[L_CONE_ADF] = { "map", "cone_adf", "inet_service . ipv4_addr : ipv4_addr . inet_service" },
	[L_CONE_ADF_OWN] = { "set", "cone_adf_own", "inet_service . ipv4_addr . ipv4_addr . inet_service" },
	[L_CONE_ADF_IP] = { "map", "cone_adf_ip", "inet_service . ipv4_addr : ipv4_addr" },
	[L_CONE_ADF_PORT] = { "map", "cone_adf_port", "inet_service . ipv4_addr : inet_service" },
	[L_TCP_EIM] = { "map", "tcp_eim", "ipv4_addr . inet_service : inet_service" },
	[L_TCP_ADM] = { "map", "tcp_adm", "ipv4_addr . inet_service . ipv4_addr : inet_service" },
	[L_TCP_SEEN] = { "set", "tcp_seen", "ipv4_addr . inet_service" },
	[L_TCP_SESS] = { "set", "tcp_sess", "ipv4_addr . inet_service . ipv4_addr . inet_service" },
	[L_TCP_CONE_EIF] = { "map", "tcp_cone_eif", "inet_service : ipv4_addr . inet_service" },
	[L_TCP_CONE_ADF] = { "map", "tcp_cone_adf", "inet_service . ipv4_addr : ipv4_addr . inet_service" },
};

static void learned_set(struct nat_text *t, enum learned l, unsigned timeout_s)
{
	dynset(t, learned[l].kind, learned[l].name, learned[l].type, timeout_s);
}

/* A firewall's set for filtering filt of one protocol (pfx "" for UDP, "tcp_"
 * for TCP): <pfx>fw_eif of inside endpoints, <pfx>fw_adf of inside endpoint
 * and remote address; none for other filterings. */
static void fw_set(struct nat_text *t, const char *addr_type, enum nat_filtering filt, const char *pfx,
		   unsigned timeout_s)
{
	char name[16], type[64];

	if (filt == FILTER_EIF)
		snprintf(type, sizeof(type), "%s . inet_service", addr_type);
	else if (filt == FILTER_ADF)
		snprintf(type, sizeof(type), "%s . inet_service . %s", addr_type, addr_type);
	else
		return;
	snprintf(name, sizeof(name), "%sfw_%s", pfx, filt == FILTER_EIF ? "eif" : "adf");
	dynset(t, "set", name, type, timeout_s);
}

/* splitmix64: a small, well-mixed generator; the run's seed makes every
 * router's ports, and the same seed makes them again. */
static uint64_t mix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Uniform in [0, n): multiply-and-reject, so no port is more likely than another. */
static uint32_t below(uint64_t *state, uint32_t n)
{
	uint64_t limit = UINT64_MAX - UINT64_MAX % n;
	uint64_t x;

	do
		x = mix64(state);
	while (x >= limit);
	return (uint32_t)(x % n);
}

uint64_t nat_router_seed(uint64_t run_seed, const char *name)
{
	uint64_t h = 0xcbf29ce484222325ULL, st;

	for (const char *c = name ? name : ""; *c; c++)
		h = (h ^ (unsigned char)*c) * 0x100000001b3ULL;
	st = run_seed ^ h;
	return mix64(&st);
}

void nat_port_range(const struct nat_behavior *b, unsigned *lo, unsigned *hi)
{
	*lo = b->port_min ? b->port_min : NAT_PORT_MIN_DEFAULT;
	*hi = b->port_max ? b->port_max : NAT_PORT_MAX_DEFAULT;
}

static unsigned gcd(unsigned a, unsigned b)
{
	while (b) {
		unsigned r = a % b;
		a = b;
		b = r;
	}
	return a;
}

ssize_t nat_port_pool(const struct nat_behavior *b, uint64_t seed, uint16_t *out, size_t max)
{
	unsigned lo, hi, n;
	uint64_t st = seed;
	size_t k;

	nat_port_range(b, &lo, &hi);
	if (lo > hi || lo == 0)
		return -EINVAL;
	n = hi - lo + 1;
	if (b->ports == PORTS_SEQUENTIAL) {
		unsigned step = b->port_step ? b->port_step : 1, start;

		if (step >= n && n > 1)
			return -EINVAL;
		start = b->port_start ? b->port_start : lo + below(&st, n);
		if (start < lo || start > hi)
			return -EINVAL;
		/* Every step-th port from the start, round the range: n / gcd
		 * distinct ports before the first comes again. */
		k = n / gcd(n, step % n ? step % n : n);
		if (k > max)
			k = max;
		for (size_t i = 0; i < k; i++)
			out[i] = (uint16_t)(lo + (start - lo + (uint64_t)i * step) % n);
		return (ssize_t)k;
	}
	if (b->ports == PORTS_BLOCK) {
		unsigned bs = b->block_size ? b->block_size : NAT_BLOCK_SIZE_DEFAULT, nblk = n / bs, use;
		uint32_t *blk;

		if (bs == 0 || nblk == 0 || bs > max)
			return -EINVAL;
		/* RFC 7422: the range cut into aligned blocks of bs ports; as many
		 * blocks as the pool holds, drawn from the seed, each block's
		 * ports in an order drawn from the seed. */
		use = (unsigned)(max / bs) < nblk ? (unsigned)(max / bs) : nblk;
		blk = malloc(nblk * sizeof(*blk));
		if (!blk)
			return -ENOMEM;
		for (unsigned i = 0; i < nblk; i++)
			blk[i] = i;
		for (unsigned i = 0; i < use; i++) {
			unsigned j = i + below(&st, nblk - i), base;
			uint32_t tmp = blk[i];

			blk[i] = blk[j];
			blk[j] = tmp;
			base = lo + blk[i] * bs;
			for (unsigned p = 0; p < bs; p++)
				out[i * bs + p] = (uint16_t)(base + p);
			for (unsigned p = 0; p + 1 < bs; p++) {
				unsigned q = p + below(&st, bs - p);
				uint16_t x = out[i * bs + p];

				out[i * bs + p] = out[i * bs + q];
				out[i * bs + q] = x;
			}
		}
		free(blk);
		return (ssize_t)use * bs;
	}
	/* A uniform sample without replacement: the first k of a Fisher-Yates
	 * shuffle of the whole range. */
	uint16_t *all = malloc((size_t)n * sizeof(*all));
	if (!all)
		return -ENOMEM;
	for (unsigned i = 0; i < n; i++)
		all[i] = (uint16_t)(lo + i);
	k = n < max ? n : max;
	for (size_t i = 0; i < k; i++) {
		size_t j = i + below(&st, (uint32_t)(n - i));
		uint16_t tmp = all[i];
		all[i] = all[j];
		all[j] = tmp;
		out[i] = all[i];
	}
	free(all);
	return (ssize_t)k;
}

/* The pool as two maps: index (1-based, as a mark: nft 1.0.6 writes numgen
 * results in host byte order, so they cannot be a port themselves, pitfall 6)
 * -> port, and port -> index, through which the learn chain marks the index
 * of every external port in use as busy. */
static void port_pool(struct nat_gen *g)
{
	struct nat_text *t = &g->t;

	put(t, "\tmap port_pool {\n\t\ttype mark : inet_service\n\t\telements = {");
	for (size_t i = 0; i < g->npool; i++)
		put(t, "%s%s%zu : %u", i ? "," : "", i % 8 ? " " : "\n\t\t\t", i + 1, g->pool[i]);
	put(t, "\n\t\t}\n\t}\n");
	put(t, "\tmap port_idx {\n\t\ttype inet_service : mark\n\t\telements = {");
	for (size_t i = 0; i < g->npool; i++)
		put(t, "%s%s%u : %zu", i ? "," : "", i % 8 ? " " : "\n\t\t\t", g->pool[i], i + 1);
	put(t, "\n\t\t}\n\t}\n");
}

static void nat_sets(struct nat_gen *g)
{
	const struct nat_behavior *b = g->b;
	struct nat_text *t = &g->t;
	unsigned to = g->map_timeout_s;

	if (!g->udp_nat)
		return;
	port_pool(g);
	/* External ports in use, by port and by pool index, for as long as
	 * their flows send (refreshed by the learn chain in both directions). */
	dynset(t, "set", "busy_port", "inet_service", to);
	dynset(t, "set", "busy_idx", "mark", to);
	if (b->ports == PORTS_BLOCK)
		learned_set(t, L_SUB_BLOCK, to);
	if (b->mapping == MAP_EIM)
		learned_set(t, L_EIM_PORT, to);
	if (b->mapping == MAP_EIM && b->ports == PORTS_PRESERVE)
		learned_set(t, L_EIM_KEEP, to);
	if (b->mapping == MAP_ADM)
		learned_set(t, L_ADM_PORT, to);
	if (b->mapping == MAP_ADM && b->ports == PORTS_PRESERVE) {
		learned_set(t, L_MAP_SEEN, to);
		learned_set(t, L_MAP_FIRST, to);
	}
	if (b->mapping == MAP_APDM && b->ports == PORTS_PRESERVE)
		learned_set(t, L_MAP_SEEN, to);
	if (g->eif_map) {
		learned_set(t, L_CONE_EIF, to);
		learned_set(t, L_CONE_EIF_OWN, to);
	}
	if (g->stateless) {
		learned_set(t, L_OUT_REV, to);
		if (g->eif_map) {
			learned_set(t, L_CONE_EIF_IP, to);
			learned_set(t, L_CONE_EIF_PORT, to);
		}
		if (g->adf_map) {
			learned_set(t, L_CONE_ADF_IP, to);
			learned_set(t, L_CONE_ADF_PORT, to);
		}
	}
	if (g->sess)
		learned_set(t, L_SESS, to);
	if (g->adf_map) {
		learned_set(t, L_CONE_ADF, to);
		learned_set(t, L_CONE_ADF_OWN, to);
	}
}

/* ct timeout policies can only be attached to unconfirmed entries: after
 * conntrack (priority -200), before confirmation (pitfall 7). */
static void ct_timeout_chain(struct nat_gen *g)
{
	if (!g->timeout_s)
		return;
	put(&g->t, "\tchain ct_timeout {\n\t\ttype filter hook prerouting priority filter; policy accept;\n"
	    "\t\tct state new meta l4proto udp ct timeout set \"udp_timeout\"\n\t}\n");
}

/* Remote endpoints are never rewritten (doc/nat-notes.md item 10). An inbound
 * session that the filtering admits (DNAT through a cone map) has the inside
 * tuple "host:port -> remote:port" as its reply direction; when the host
 * already has an outbound flow to that very remote endpoint (another mapping,
 * with ADM or APDM), that tuple is the outbound flow's original direction,
 * and nf_nat's null binding at postrouting resolves the clash by giving the
 * *remote* side a new source port. So every flow the LAN starts keeps its
 * original (LAN-side) tuple in conntrack zone 1 ("ct original zone": its reply
 * tuple stays in zone 0, where the WAN's packets are looked up), while an
 * inbound session lives in zone 0 in both directions: the two tuples are in
 * different zones and never clash. A LAN packet is looked up in zone 1 first
 * (its own outbound flow), then in zone 0 as a reply (an admitted session).
 *
 * Which of the two a reply to an admitted packet takes is the declared
 * inbound-reply rule; with "session" (a reply leaves from the mapping the
 * packet arrived on, the newest session winning), a LAN packet of a pair with
 * an admitted session (set @sess) stays in zone 0 and so only finds the
 * session. With EIM both are the same mapping, so no set is needed. */
static void zone_chain(struct nat_gen *g)
{
	struct nat_text *t = &g->t;

	if (!g->zoned)
		return;
	put(t, "\tchain zone {\n\t\ttype filter hook prerouting priority raw; policy accept;\n");
	if (g->sess)
		put(t, "\t\tiifname \"%s\" meta l4proto udp ip saddr . udp sport . ip daddr . udp dport @sess "
		    "update @sess { ip saddr . udp sport . ip daddr . udp dport } return\n", g->lan);
	put(t, "\t\tiifname \"%s\" meta l4proto udp ct original zone set 1\n", g->lan);
	put(t, "\t}\n");
}

/* inbound-reply = new-mapping: a packet the filtering admits makes no
 * session, so the host's reply is an outbound packet like any other and takes
 * the mapping towards its destination. Before conntrack (priority raw) a
 * packet from the WAN that is no reply of a LAN flow (set @out_rev) and that
 * the cone map admits is taken out of connection tracking and its destination
 * rewritten to the internal endpoint, statelessly: no conntrack entry, so no
 * LAN packet can ever match one, and nf_nat never sees (or rewrites) the
 * remote endpoint. */
static void stateless_chain(struct nat_gen *g, const char *wan_ip)
{
	struct nat_text *t = &g->t;
	char pfx[96];

	if (!g->stateless)
		return;
	snprintf(pfx, sizeof(pfx), "iifname \"%s\" ip daddr %s meta l4proto udp", g->wan, wan_ip);
	put(t, "\tchain inbound {\n\t\ttype filter hook prerouting priority raw; policy accept;\n");
	put(t, "\t\t%s udp dport . ip saddr . udp sport @out_rev return\n", pfx);
	if (g->eif_from_wan)
		put(t, "\t\t%s udp dport @cone_eif notrack ip daddr set udp dport map @cone_eif_ip "
		    "udp dport set udp dport map @cone_eif_port\n", pfx);
	if (g->adf_map)
		put(t, "\t\t%s udp dport . ip saddr @cone_adf notrack ip daddr set udp dport . ip saddr map "
		    "@cone_adf_ip udp dport set udp dport . ip saddr map @cone_adf_port\n", pfx);
	put(t, "\t}\n");
}

static void prerouting(struct nat_gen *g, const char *wan_ip)
{
	struct nat_text *t = &g->t;

	if (!g->eif_from_wan && !g->adf_map && !(g->eif_map && g->b->hairpin))
		return;
	put(t, "\tchain prerouting {\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n");
	if (g->eif_from_wan)
		put(t, "\t\tiifname \"%s\" ip daddr %s meta l4proto udp dnat ip to udp dport map @cone_eif\n",
		    g->wan, wan_ip);
	if (g->adf_map)
		put(t, "\t\tiifname \"%s\" ip daddr %s meta l4proto udp dnat ip to udp dport . ip saddr "
		    "map @cone_adf\n", g->wan, wan_ip);
	if (g->eif_map && g->b->hairpin)
		put(t, "\t\tiifname \"%s\" ip daddr %s meta l4proto udp dnat ip to udp dport map @cone_eif\n",
		    g->lan, wan_ip);
	put(t, "\t}\n");
}

/* A new mapping: the next index of the pool (numgen inc, the same order for
 * the same seed), its port unless that port is still in use (the pool came
 * round, or another rule holds it): then nf_nat's own random choice in the
 * range, which never takes a port in use. A one-port "snat to" whose port is
 * taken would lose the packet at conntrack confirmation; the busy check
 * keeps the pool from ever asking for one. add: a statement remembering the
 * index for the mapping's key, or "". reread: what reads the index back from
 * that map, or "": two first packets of one mapping can cross the router on
 * two CPUs at once (a loaded machine defers a veth's packets to ksoftirqd),
 * both miss the lookup and both draw; "add" keeps the element that was
 * first, so reading it back gives the loser the winner's port instead of a
 * second mapping (an EIM or ADM router seen as APDM). */
static void alloc(struct nat_gen *g, const char *pfx, const char *wan_ip, const char *add, const char *reread)
{
	struct nat_text *t = &g->t;

	if (g->b->ports == PORTS_BLOCK) {
		/* A subscriber (internal address) gets the next block and keeps
		 * it (map sub_block); within block k its own counter (a numgen per
		 * rule) walks the block's part of the pool, and a port in use
		 * falls to nf_nat's random choice inside the block. The ct mark
		 * holds the block only until the last rule sets the pool index. */
		size_t nb = g->npool / g->bs;

		put(t, "\t\t%s ip saddr != @sub_block meta mark set numgen inc mod %zu offset 1 add @sub_block "
		    "{ ip saddr : meta mark }\n", pfx, nb);
		put(t, "\t\t%s ct mark set ip saddr map @sub_block\n", pfx);
		for (size_t k = 0; k < nb; k++) {
			unsigned blo = 65535, bhi = 0;

			for (size_t i = k * g->bs; i < (k + 1) * g->bs; i++) {
				blo = g->pool[i] < blo ? g->pool[i] : blo;
				bhi = g->pool[i] > bhi ? g->pool[i] : bhi;
			}
			put(t, "\t\t%s ct mark %zu meta mark set numgen inc mod %u offset %zu\n", pfx, k + 1, g->bs,
			    k * g->bs + 1);
			put(t, "\t\t%s ct mark %zu meta mark @busy_idx snat ip to %s : %u-%u random\n", pfx, k + 1,
			    wan_ip, blo, bhi);
		}
		put(t, "\t\t%s %s%sct mark set meta mark snat ip to %s : meta mark map @port_pool\n", pfx, add, reread,
		    wan_ip);
		return;
	}
	put(t, "\t\t%s meta mark set numgen inc mod %zu offset 1\n", pfx, g->npool);
	put(t, "\t\t%s meta mark @busy_idx snat ip to %s : %u-%u random\n", pfx, wan_ip, g->lo, g->hi);
	put(t, "\t\t%s %s%sct mark set meta mark snat ip to %s : meta mark map @port_pool\n", pfx, add, reread, wan_ip);
}

/* The source NAT. UDP gets the mapping behaviour; everything else (TCP, ICMP)
 * falls through to plain masquerade, random for a symmetric NAT. */
static void postrouting(struct nat_gen *g, const char *wan_ip, const char *lan_net)
{
	const struct nat_behavior *b = g->b;
	struct nat_text *t = &g->t;
	const char *w = g->wan;
	char pfx[64];

	snprintf(pfx, sizeof(pfx), "oifname \"%s\" meta l4proto udp", w);
	put(t, "\tchain postrouting {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n");
	if (b->hairpin) {
		/* Hairpinned traffic leaves on the LAN with the sender's external
		 * address: with no port given, nf_nat's find_appropriate_src() re-uses
		 * the sender's existing mapping (RFC 4787 REQ-9). */
		put(t, "\t\toifname \"%s\" ip saddr %s ct status dnat snat ip to %s\n", g->lan, lan_net, wan_ip);
	}
	if (g->zoned) {
		/* An admitted inbound flow keeps the remote endpoint: a one-port
		 * source "translation" to itself, which nf_nat never moves. Should
		 * its tuple clash after all (not in any case the zones leave), the
		 * packet is dropped at confirmation (conntrack insert_failed)
		 * instead of reaching the host from an endpoint that does not exist. */
		put(t, "\t\tiifname \"%s\" oifname \"%s\" meta l4proto udp ct status dnat snat ip to ip saddr : "
		    "udp sport\n", w, g->lan);
	}
	if (g->udp_nat) {
		switch (b->mapping) {
		case MAP_EIM:
			/* A known internal endpoint keeps its pool port for every
			 * destination (RFC 4787 REQ-1); preserve: its own port. */
			put(t, "\t\t%s ip saddr . udp sport @eim_port meta mark set ip saddr . udp sport map @eim_port "
			    "ct mark set meta mark snat ip to %s : meta mark map @port_pool\n", pfx, wan_ip);
			if (b->ports == PORTS_PRESERVE) {
				put(t, "\t\t%s ip saddr . udp sport @eim_keep snat ip to %s : udp sport\n", pfx, wan_ip);
				/* A new endpoint keeps its port unless another internal
				 * endpoint holds it (no port overloading, REQ-3), else
				 * it falls back to a random port of the pool. */
				put(t, "\t\t%s udp sport != @busy_port add @eim_keep { ip saddr . udp sport } snat ip to "
				    "%s : udp sport\n", pfx, wan_ip);
			}
			alloc(g, pfx, wan_ip, "add @eim_port { ip saddr . udp sport : meta mark } ",
			      "meta mark set ip saddr . udp sport map @eim_port ");
			break;
		case MAP_ADM:
			if (b->ports == PORTS_PRESERVE) {
				/* The first remote address of an internal endpoint keeps its
				 * port (a one-port range, so nf_nat cannot pick another),
				 * unless another internal endpoint holds it; others take a
				 * pool port. */
				put(t, "\t\t%s ip saddr . udp sport . ip daddr @map_first snat ip to %s : udp sport\n",
				    pfx, wan_ip);
				put(t, "\t\t%s ip saddr . udp sport != @map_seen udp sport != @busy_port add @map_seen "
				    "{ ip saddr . udp sport } add @map_first { ip saddr . udp sport . ip daddr } snat ip to "
				    "%s : udp sport\n", pfx, wan_ip);
			}
			/* One pool index per (internal endpoint, remote address),
			 * remembered (also in the ct mark, so that the learn chain can
			 * put it back should the element expire first). Distinct
			 * endpoints never share a port towards one remote address. */
			put(t, "\t\t%s ip saddr . udp sport . ip daddr @adm_port meta mark set ip saddr . "
			    "udp sport . ip daddr map @adm_port ct mark set meta mark snat ip to %s : "
			    "meta mark map @port_pool\n", pfx, wan_ip);
			alloc(g, pfx, wan_ip, "add @adm_port { ip saddr . udp sport . ip daddr : meta mark } ",
			      "meta mark set ip saddr . udp sport . ip daddr map @adm_port ");
			break;
		case MAP_APDM:
			/* Every flow the next pool port: never the port of another
			 * live flow, and the same ports for the same seed. Preserve: the
			 * first flow of an internal endpoint keeps its port when free
			 * (port-preserving symmetric NAT). */
			if (b->ports == PORTS_PRESERVE)
				put(t, "\t\t%s ip saddr . udp sport != @map_seen udp sport != @busy_port add @map_seen "
				    "{ ip saddr . udp sport } snat ip to %s : udp sport\n", pfx, wan_ip);
			alloc(g, pfx, wan_ip, "", "");
			break;
		case MAP_NONE:
			break;
		}
	}
	if (b->mapping == MAP_APDM && b->ports == PORTS_RANDOM)
		put(t, "\t\toifname \"%s\" masquerade random\n", w);
	else
		put(t, "\t\toifname \"%s\" masquerade\n", w);
	put(t, "\t}\n");
}

/* One learning chain for one cone map and one conntrack direction. "update"
 * never replaces the data of an existing element (pitfall 2), so an ownership
 * set lets only the owner refresh an entry; a stale one (the port now used by
 * another host) ages out, and then the new owner's "add" takes it. */
static void learn_chain(struct nat_gen *g, const char *map, const char *key, const char *dir)
{
	struct nat_text *t = &g->t;
	char val[96];

	char upd[256] = "", add[256] = "";

	snprintf(val, sizeof(val), "ct %s ip saddr . ct %s proto-src", dir, dir);
	if (g->stateless) {
		/* The same entry as two maps, address and port, for the stateless
		 * rewrite of admitted packets (a concatenation cannot be set). */
		snprintf(upd, sizeof(upd), " update @%s_ip { %s : ct %s ip saddr } update @%s_port { %s : ct %s "
			 "proto-src }", map, key, dir, map, key, dir);
		snprintf(add, sizeof(add), " add @%s_ip { %s : ct %s ip saddr } add @%s_port { %s : ct %s "
			 "proto-src }", map, key, dir, map, key, dir);
	}
	put(t, "\tchain learn_%s_%s {\n", map + 5, dir);
	put(t, "\t\t%s . %s @%s_own update @%s { %s : %s } update @%s_own { %s . %s }%s return\n", key, val,
	    map, map, key, val, map, key, val, upd);
	put(t, "\t\t%s != @%s add @%s { %s : %s } add @%s_own { %s . %s }%s", key, map, map, key, val, map,
	    key, val, add);
	put(t, "\n\t}\n");
}

/* Learning happens at srcnat + 10, after the source NAT, where udp sport is
 * the external port; inside srcnat it is still the internal one (pitfall 1). */
static void learn(struct nat_gen *g)
{
	const struct nat_behavior *b = g->b;
	struct nat_text *t = &g->t;
	const char *w = g->wan;
	bool seen = g->udp_nat && b->mapping != MAP_EIM && b->ports == PORTS_PRESERVE;
	bool adm = g->udp_nat && b->mapping == MAP_ADM;
	const char *o = "meta l4proto udp ct direction original";

	if (!g->eif_map && !g->adf_map && !g->udp_nat)
		return;
	put(t, "\tchain learn {\n\t\ttype filter hook postrouting priority srcnat + 10; policy accept;\n");
	if (g->udp_nat) {
		/* Every external port in use is busy for as long as its flow sends
		 * either way: outbound it is the source port after the NAT, inbound
		 * the reply tuple's destination. */
		put(t, "\t\toifname \"%s\" %s update @busy_port { udp sport }\n", w, o);
		put(t, "\t\toifname \"%s\" %s meta mark set udp sport map @port_idx update @busy_idx { meta mark }\n",
		    w, o);
		put(t, "\t\toifname \"%s\" meta l4proto udp ct direction reply update @busy_port "
		    "{ ct reply proto-dst }\n", g->lan);
		put(t, "\t\toifname \"%s\" meta l4proto udp ct direction reply meta mark set ct reply proto-dst "
		    "map @port_idx update @busy_idx { meta mark }\n", g->lan);
	}
	if (g->udp_nat && b->ports == PORTS_BLOCK)
		/* A subscriber keeps its block for as long as it sends (the data
		 * is the element's: update never replaces it). */
		put(t, "\t\toifname \"%s\" %s ct original ip saddr @sub_block update @sub_block "
		    "{ ct original ip saddr : ct mark }\n", w, o);
	if (g->stateless)
		/* What a reply of a LAN flow looks like from the WAN: conntrack's. */
		put(t, "\t\toifname \"%s\" %s update @out_rev { udp sport . ip daddr . udp dport }\n", w, o);
	if (g->udp_nat && b->mapping == MAP_EIM) {
		/* An internal endpoint keeps its port for as long as it sends; the
		 * data is that of the element (update never replaces it), the ct
		 * mark only fills it in should the element have expired between the
		 * lookup and the update. */
		put(t, "\t\toifname \"%s\" %s ct original ip saddr . ct original proto-src @eim_port update "
		    "@eim_port { ct original ip saddr . ct original proto-src : ct mark }\n", w, o);
		if (b->ports == PORTS_PRESERVE)
			put(t, "\t\toifname \"%s\" %s ct original ip saddr . ct original proto-src @eim_keep update "
			    "@eim_keep { ct original ip saddr . ct original proto-src }\n", w, o);
	}
	if (adm)
		/* The same per (internal endpoint, remote address). */
		put(t, "\t\toifname \"%s\" %s ct original ip saddr . ct original proto-src . ip daddr @adm_port "
		    "update @adm_port { ct original ip saddr . ct original proto-src . ip daddr : ct mark }\n", w, o);
	if (seen) {
		/* Keep "this internal endpoint has a mapping" alive for as long as
		 * the endpoint sends, not just from its first flow. */
		put(t, "\t\toifname \"%s\" %s update @map_seen { ct original ip saddr . ct original proto-src }\n",
		    w, o);
		if (b->mapping == MAP_ADM)
			put(t, "\t\toifname \"%s\" %s ct original ip saddr . ct original proto-src . ip daddr "
			    "@map_first update @map_first { ct original ip saddr . ct original proto-src . ip daddr }\n",
			    w, o);
	}
	for (int i = 0; i < 2; i++) {
		const char *map = i ? "cone_adf" : "cone_eif";
		if (!(i ? g->adf_map : g->eif_map))
			continue;
		put(t, "\t\toifname \"%s\" meta l4proto udp ct direction original jump learn_%s_original\n", w,
		    map + 5);
		put(t, "\t\toifname \"%s\" meta l4proto udp ct direction reply ct status dnat jump "
		    "learn_%s_reply\n", w, map + 5);
	}
	put(t, "\t}\n");
	if (g->eif_map) {
		learn_chain(g, "cone_eif", "udp sport", "original");
		learn_chain(g, "cone_eif", "udp sport", "reply");
	}
	if (g->adf_map) {
		learn_chain(g, "cone_adf", "udp sport . ip daddr", "original");
		learn_chain(g, "cone_adf", "udp sport . ip daddr", "reply");
	}
}

/* ---- TCP (RFC 5382) ----
 *
 * TCP gets the declared mapping and filtering with its own sets, maps and
 * chains, all named tcp_*, so that a UDP and a TCP mapping of the same port
 * numbers never meet. What differs from UDP and why:
 * - ports: preserved when free (not held by another internal endpoint), else
 *   nf_nat's random choice in the port range; sequential and block pools are
 *   UDP's (port prediction is a UDP technique), TCP takes random there.
 * - a reply to an admitted SYN is the SYN-ACK of the connection the SYN made:
 *   always inbound-reply = session (new-mapping cannot be a TCP connection).
 * - the nat chains run at srcnat - 1 and dstnat - 1, before UDP's: the first
 *   chain that binds a connection's NAT wins, so UDP's catch-all masquerade
 *   never sees a TCP connection.
 * - an unsolicited SYN (one no connection and no filtering admits) is dropped,
 *   or answered at once (tcp-unsolicited, RFC 5382 REQ-4). */

static void tcp_objects(struct nat_gen *g, const struct nat_family *f)
{
	struct nat_text *t = &g->t;
	const struct nat_behavior *b = g->b;

	put(t, "\tcounter tcp_fwd_in { }\n\tcounter tcp_unsolicited_in { }\n");
	if (g->tcp_est_s || g->tcp_tr_s) {
		put(t, "\tct timeout tcp_timeout {\n\t\tprotocol tcp\n\t\tl3proto %s\n\t\tpolicy = { ", f->table);
		if (g->tcp_est_s)
			put(t, "established : %u%s", g->tcp_est_s, g->tcp_tr_s ? ", " : "");
		if (g->tcp_tr_s)
			put(t, "syn_sent : %u, syn_recv : %u, fin_wait : %u, close_wait : %u, last_ack : %u, "
			    "time_wait : %u", g->tcp_tr_s, g->tcp_tr_s, g->tcp_tr_s, g->tcp_tr_s, g->tcp_tr_s, g->tcp_tr_s);
		put(t, " }\n\t}\n");
	}
	if (!g->nat) {
		/* A firewall's own sets, as UDP's fw_eif/fw_adf. */
		fw_set(t, f->addr_type, g->tfilt, "tcp_", g->tcp_map_s);
		return;
	}
	if (!g->tcp_nat)
		return;
	dynset(t, "set", "tcp_busy", "inet_service", g->tcp_map_s);
	if (g->tmap == MAP_EIM)
		learned_set(t, L_TCP_EIM, g->tcp_map_s);
	if (g->tmap == MAP_ADM)
		learned_set(t, L_TCP_ADM, g->tcp_map_s);
	if (g->tmap != MAP_EIM && b->ports == PORTS_PRESERVE)
		learned_set(t, L_TCP_SEEN, g->tcp_map_s);
	if (g->tcp_eif)
		learned_set(t, L_TCP_CONE_EIF, g->tcp_map_s);
	if (g->tcp_adf)
		learned_set(t, L_TCP_CONE_ADF, g->tcp_map_s);
	if (g->tcp_zoned)
		learned_set(t, L_TCP_SESS, g->tcp_map_s);
}

/* The ct timeout policy on new TCP connections (as UDP's, pitfall 7), and
 * for a NAT with a non-EIM mapping and admitted SYNs the zones of zone_chain():
 * a LAN connection's original tuple in zone 1, unless it is the reply side of
 * an admitted session (tcp_sess: the session wins, inbound-reply = session). */
static void tcp_pre_chains(struct nat_gen *g)
{
	struct nat_text *t = &g->t;

	if (g->tcp_est_s || g->tcp_tr_s)
		put(t, "\tchain tcp_ct_timeout {\n\t\ttype filter hook prerouting priority filter; policy accept;\n"
		    "\t\tct state new meta l4proto tcp ct timeout set \"tcp_timeout\"\n\t}\n");
	if (!g->tcp_zoned)
		return;
	put(t, "\tchain tcp_zone {\n\t\ttype filter hook prerouting priority raw; policy accept;\n");
	/* A SYN from the LAN opens a connection of its own, never a session's
	 * reply; a session that ended (its host answered RST) must not capture
	 * the host's next connect() to the same remote endpoint. */
	put(t, "\t\tiifname \"%s\" tcp flags & (syn | ack) == syn ct original zone set 1 return\n", g->lan);
	/* A RST ends the session: it leaves on it, and the host's next packets
	 * to that remote endpoint belong to its own connections again. */
	put(t, "\t\tiifname \"%s\" tcp flags rst ip saddr . tcp sport . ip daddr . tcp dport @tcp_sess "
	    "delete @tcp_sess { ip saddr . tcp sport . ip daddr . tcp dport } return\n", g->lan);
	put(t, "\t\tiifname \"%s\" meta l4proto tcp ip saddr . tcp sport . ip daddr . tcp dport @tcp_sess "
	    "update @tcp_sess { ip saddr . tcp sport . ip daddr . tcp dport } return\n", g->lan);
	put(t, "\t\tiifname \"%s\" meta l4proto tcp ct original zone set 1\n", g->lan);
	put(t, "\t}\n");
}

/* An unsolicited SYN admitted by the filtering: to the internal endpoint the
 * learned cone map names. Only SYNs: a connection exists from its SYN on. */
static void tcp_prerouting(struct nat_gen *g, const char *wan_ip)
{
	struct nat_text *t = &g->t;

	if (!g->tcp_eif && !g->tcp_adf)
		return;
	put(t, "\tchain tcp_prerouting {\n\t\ttype nat hook prerouting priority dstnat - 1; policy accept;\n");
	if (g->tcp_eif)
		put(t, "\t\tiifname \"%s\" ip daddr %s tcp flags & (syn | ack) == syn dnat ip to tcp dport "
		    "map @tcp_cone_eif\n", g->wan, wan_ip);
	if (g->tcp_adf)
		put(t, "\t\tiifname \"%s\" ip daddr %s tcp flags & (syn | ack) == syn dnat ip to tcp dport . "
		    "ip saddr map @tcp_cone_adf\n", g->wan, wan_ip);
	put(t, "\t}\n");
}

/* The TCP mapping (RFC 5382 REQ-1 for EIM): a known internal endpoint (EIM),
 * endpoint and remote address (ADM) keeps its external port; a new one keeps
 * its own port when no other endpoint holds it (ports = preserve; for ADM and
 * APDM only its first mapping), else gets nf_nat's random choice. */
static void tcp_postrouting(struct nat_gen *g, const char *wan_ip)
{
	struct nat_text *t = &g->t;
	char pfx[64];

	if (!g->tcp_nat)
		return;
	snprintf(pfx, sizeof(pfx), "oifname \"%s\" meta l4proto tcp", g->wan);
	put(t, "\tchain tcp_postrouting {\n\t\ttype nat hook postrouting priority srcnat - 1; policy accept;\n");
	if (g->tcp_zoned)
		/* An admitted connection keeps the remote endpoint (as UDP's zoned rule). */
		put(t, "\t\tiifname \"%s\" oifname \"%s\" meta l4proto tcp ct status dnat snat ip to ip saddr : "
		    "tcp sport\n", g->wan, g->lan);
	if (g->tmap == MAP_EIM)
		put(t, "\t\t%s ip saddr . tcp sport @tcp_eim snat ip to %s : ip saddr . tcp sport map @tcp_eim\n",
		    pfx, wan_ip);
	if (g->tmap == MAP_ADM)
		put(t, "\t\t%s ip saddr . tcp sport . ip daddr @tcp_adm snat ip to %s : ip saddr . tcp sport . "
		    "ip daddr map @tcp_adm\n", pfx, wan_ip);
	if (g->b->ports == PORTS_PRESERVE)
		put(t, "\t\t%s %stcp sport != @tcp_busy snat ip to %s : tcp sport\n", pfx,
		    g->tmap == MAP_EIM ? "" : "ip saddr . tcp sport != @tcp_seen ", wan_ip);
	put(t, "\t\t%s snat ip to %s : %u-%u random\n", pfx, wan_ip, g->lo, g->hi);
	put(t, "\t}\n");
}

/* After the source NAT (srcnat + 10, where tcp sport is the external port):
 * remember the mapping, the ports in use and what the filtering admits. */
static void tcp_learn(struct nat_gen *g)
{
	struct nat_text *t = &g->t;
	const char *w = g->wan, *o = "meta l4proto tcp ct direction original";
	const char *in = "ct original ip saddr . ct original proto-src";

	if (!g->tcp_nat)
		return;
	put(t, "\tchain tcp_learn {\n\t\ttype filter hook postrouting priority srcnat + 10; policy accept;\n");
	put(t, "\t\toifname \"%s\" %s update @tcp_busy { tcp sport }\n", w, o);
	put(t, "\t\toifname \"%s\" meta l4proto tcp ct direction reply update @tcp_busy { ct reply proto-dst }\n",
	    g->lan);
	/* Outbound connections only: an admitted one is the remote's mapping, not ours. */
	put(t, "\t\toifname \"%s\" %s ct status dnat return\n", w, o);
	if (g->tmap == MAP_EIM)
		put(t, "\t\toifname \"%s\" %s update @tcp_eim { %s : tcp sport }\n", w, o, in);
	if (g->tmap == MAP_ADM)
		put(t, "\t\toifname \"%s\" %s update @tcp_adm { %s . ip daddr : tcp sport }\n", w, o, in);
	if (g->tmap != MAP_EIM && g->b->ports == PORTS_PRESERVE)
		put(t, "\t\toifname \"%s\" %s update @tcp_seen { %s }\n", w, o, in);
	if (g->tcp_eif)
		put(t, "\t\toifname \"%s\" %s update @tcp_cone_eif { tcp sport : %s }\n", w, o, in);
	if (g->tcp_adf)
		put(t, "\t\toifname \"%s\" %s update @tcp_cone_adf { tcp sport . ip daddr : %s }\n", w, o, in);
	put(t, "\t}\n");
}

/* Firewall without NAT, endpoint-independent or address-dependent filtering
 * filt of proto ("udp" or "tcp", its sets fw_set()'s with prefix pfx, its
 * counter <proto>_fwd_in): addresses are not translated, so plain sets of what
 * the inside sent out do. */
static void fw_learn_rules(struct nat_gen *g, const struct nat_family *f, enum nat_filtering filt,
			   const char *proto, const char *pfx)
{
	struct nat_text *t = &g->t;
	const char *w = g->wan, *l = g->lan;

	if (filt == FILTER_EIF) {
		put(t, "\t\tiifname \"%s\" oifname \"%s\" meta l4proto %s update @%sfw_eif { %s saddr . %s sport }\n",
		    l, w, proto, pfx, f->sel, proto);
		put(t, "\t\tiifname \"%s\" meta l4proto %s %s daddr . %s dport @%sfw_eif counter name "
		    "\"%s_fwd_in\" accept\n", w, proto, f->sel, proto, pfx, proto);
	} else if (filt == FILTER_ADF) {
		put(t, "\t\tiifname \"%s\" oifname \"%s\" meta l4proto %s update @%sfw_adf { %s saddr . "
		    "%s sport . %s daddr }\n", l, w, proto, pfx, f->sel, proto, f->sel);
		put(t, "\t\tiifname \"%s\" meta l4proto %s %s daddr . %s dport . %s saddr @%sfw_adf counter "
		    "name \"%s_fwd_in\" accept\n", w, proto, f->sel, proto, f->sel, pfx, proto);
	}
}

/* The forward chain's TCP rules before its LAN accept: admitted SYNs, and a
 * firewall's own filtering (addresses are not translated: plain sets). */
static void tcp_forward(struct nat_gen *g, const struct nat_family *f)
{
	struct nat_text *t = &g->t;
	const char *w = g->wan, *l = g->lan;

	if (g->tcp_zoned) {
		put(t, "\t\tiifname \"%s\" tcp flags rst ct direction original ct status dnat delete @tcp_sess "
		    "{ ct reply ip saddr . ct reply proto-src . ct reply ip daddr . ct reply proto-dst }\n", w);
		put(t, "\t\tiifname \"%s\" tcp flags & rst == 0 ct direction original ct status dnat update @tcp_sess "
		    "{ ct reply ip saddr . ct reply proto-src . ct reply ip daddr . ct reply proto-dst }\n", w);
	}
	if (g->tcp_eif || g->tcp_adf)
		put(t, "\t\tiifname \"%s\" meta l4proto tcp ct status dnat counter name \"tcp_fwd_in\" accept\n", w);
	if (g->nat) {
		/* Conntrack skips NAT for a packet it finds invalid (out of window,
		 * e.g. a listener's SYN-ACK on a connection a refused connect()
		 * began): it must not leave untranslated. */
		put(t, "\t\tiifname \"%s\" oifname \"%s\" meta l4proto tcp ct state invalid drop\n", l, w);
		return;
	}
	if (g->tfilt == FILTER_OPEN)
		put(t, "\t\tiifname \"%s\" meta l4proto tcp counter name \"tcp_fwd_in\" accept\n", w);
	else
		fw_learn_rules(g, f, g->tfilt, "tcp", "tcp_");
}

/* What the router does with an unsolicited SYN from outside: for a NAT it is
 * addressed to the router itself (input), for a firewall to a host (forward). */
static void tcp_unsolicited(struct nat_gen *g, bool v6)
{
	static const char *const verdict[][2] = {
		[TCP_UNSOL_DROP] = { "drop", "drop" },
		[TCP_UNSOL_RST] = { "reject with tcp reset", "reject with tcp reset" },
		[TCP_UNSOL_ICMP] = { "reject with icmp type port-unreachable",
				     "reject with icmpv6 type port-unreachable" },
	};

	put(&g->t, "\t\tiifname \"%s\" tcp flags & (syn | ack) == syn counter name \"tcp_unsolicited_in\" %s\n",
	    g->wan, verdict[g->b->tcp_unsolicited][v6]);
}

static void input(struct nat_gen *g, const struct nat_family *f)
{
	struct nat_text *t = &g->t;
	bool v6 = f->table[2] == '6';

	put(t, "\tchain input {\n\t\ttype filter hook input priority filter; policy drop;\n");
	put(t, "\t\tiif \"lo\" accept\n");
	put(t, "\t\tct state established,related accept\n");
	if (v6) {
		/* Without neighbour discovery nothing works; router advertisements
		 * and MLD are not needed by static lab addressing. */
		put(t, "\t\ticmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-solicit, "
		    "nd-router-advert } ip6 hoplimit 255 accept\n");
	}
	put(t, "\t\tiifname \"%s\" accept\n", g->lan);
	put(t, v6 ? "\t\ticmpv6 type echo-request accept\n" : "\t\ticmp type echo-request accept\n");
	/* Unsolicited UDP to a NAT's external address ends here, not in forward:
	 * dropped by the policy, or refused out loud (unsolicited = icmp-unreachable). */
	put(t, "\t\tiifname \"%s\" meta l4proto udp counter name \"udp_dropped_in\"%s\n", g->wan,
	    !g->b->icmp_unreachable ? "" : v6 ? " reject with icmpv6 type port-unreachable"
					       : " reject with icmp type port-unreachable");
	tcp_unsolicited(g, v6);
	put(t, "\t}\n");
}

static void forward(struct nat_gen *g, const struct nat_family *f)
{
	const struct nat_behavior *b = g->b;
	struct nat_text *t = &g->t;
	const char *w = g->wan, *l = g->lan;
	bool v6 = f->table[2] == '6';
	bool open = !g->nat && b->filtering == FILTER_OPEN;

	put(t, "\tchain forward {\n\t\ttype filter hook forward priority filter; policy %s;\n",
	    open ? "accept" : "drop");
	if (b->udp_blocked) {
		put(t, "\t\tiifname \"%s\" meta l4proto udp counter name \"udp_dropped_in\" drop\n", w);
		put(t, "\t\tmeta l4proto udp counter name \"udp_dropped_out\" drop\n");
	}
	if (open) {
		put(t, "\t\tiifname \"%s\" meta l4proto udp counter name \"udp_fwd_in\" accept\n", w);
		put(t, "\t\tiifname \"%s\" meta l4proto udp counter name \"udp_fwd_out\" accept\n", l);
		put(t, "\t}\n");
		return;
	}
	if (g->nat && b->hairpin)
		put(t, "\t\tiifname \"%s\" oifname \"%s\" meta l4proto udp ct status dnat counter name "
		    "\"udp_hairpin\" accept\n", l, l);
	if (g->sess)
		/* An admitted session's (host, remote) pair, for as long as the remote sends. */
		put(t, "\t\tiifname \"%s\" meta l4proto udp ct direction original ct status dnat update @sess "
		    "{ ct reply ip saddr . ct reply proto-src . ct reply ip daddr . ct reply proto-dst }\n", w);
	put(t, "\t\tiifname \"%s\" meta l4proto udp ct state established,related counter name "
	    "\"udp_fwd_in\" accept\n", w);
	if (g->stateless)
		/* Admitted, rewritten and untracked before conntrack (stateless_chain). */
		put(t, "\t\tiifname \"%s\" meta l4proto udp ct state untracked counter name \"udp_fwd_in\" accept\n",
		    w);
	if (g->eif_from_wan || g->adf_map) {
		/* New inbound flows that the cone map DNAT-ed were let in by the filtering. */
		put(t, "\t\tiifname \"%s\" meta l4proto udp ct status dnat counter name \"udp_fwd_in\" accept\n", w);
	}
	if (!g->nat && !b->udp_blocked)
		fw_learn_rules(g, f, b->filtering, "udp", "");
	tcp_forward(g, f);
	put(t, "\t\tiifname \"%s\" oifname \"%s\" meta l4proto udp counter name \"udp_fwd_out\" accept\n", l, w);
	put(t, "\t\tct state established,related accept\n");
	if (v6) {
		/* RFC 4890: errors that belong to no flow still carry path MTU news. */
		put(t, "\t\ticmpv6 type { destination-unreachable, packet-too-big, time-exceeded, "
		    "parameter-problem } accept\n");
	}
	put(t, "\t\tiifname \"%s\" accept\n", l);
	put(t, "\t\tiifname \"%s\" meta l4proto udp counter name \"udp_dropped_in\" %s\n", w,
	    !b->icmp_unreachable ? "drop" : v6 ? "reject with icmpv6 type port-unreachable"
					   : "reject with icmp type port-unreachable");
	tcp_unsolicited(g, v6);
	put(t, "\t}\n");
}

static void table(struct nat_gen *g, const struct nat_family *f)
{
	struct nat_text *t = &g->t;
	const struct nat_behavior *b = g->b;

	/* No "table; delete table" preamble: the delete waits for a grace period
	 * (9-16 ms a load, nat-notes), and a lab loads this only into a fresh
	 * namespace or after "flush ruleset" (lab_reset_routers()). */
	put(t, "\ntable %s punchlab {\n", f->table);
	objects(g, f);
	tcp_objects(g, f);
	if (g->nat)
		nat_sets(g);
	if (!g->nat && !b->udp_blocked)
		fw_set(t, f->addr_type, b->filtering, "", g->map_timeout_s);
	ct_timeout_chain(g);
	zone_chain(g);
	tcp_pre_chains(g);
	if (g->nat)
		stateless_chain(g, f->wan_ip);
	if (g->nat) {
		prerouting(g, f->wan_ip);
		postrouting(g, f->wan_ip, f->lan_net);
		learn(g);
		tcp_prerouting(g, f->wan_ip);
		tcp_postrouting(g, f->wan_ip);
		tcp_learn(g);
	}
	input(g, f);
	forward(g, f);
	put(t, "}\n");
}

bool nat_stateless_inbound(const struct nat_behavior *b, bool nat)
{
	return nat && !b->udp_blocked && (b->filtering == FILTER_EIF || b->filtering == FILTER_ADF) &&
	       b->inbound_reply == INBOUND_REPLY_NEW_MAPPING;
}

int nat_rebind_commands(const char *listing, char **out)
{
	struct nat_text t = { 0 };
	int n = 0;

	*out = NULL;
	for (const char *line = listing; line && *line;) {
		const char *end = strchr(line, '\n'), *p = line;
		size_t len = end ? (size_t)(end - line) : strlen(line);
		char kind[8], name[32];

		while (*p == '\t' || *p == ' ')
			p++;
		if (sscanf(p, "%7s %31s {", kind, name) == 2 && (!strcmp(kind, "set") || !strcmp(kind, "map")))
			for (size_t i = 0; i < L_COUNT; i++)
				if (!strcmp(name, learned[i].name)) {
					put(&t, "flush %s ip punchlab %s\n", kind, name);
					n++;
				}
		line += len + (end ? 1 : 0);
	}
	put(&t, "%s", "");
	if (t.oom) {
		free(t.p);
		return -ENOMEM;
	}
	*out = t.p;
	return n;
}

int nat_ruleset(const struct nat_behavior *b, bool nat, const struct nat_ifaces *ifc, char **out,
		char *err, size_t errsize)
{
	struct nat_gen g;
	int ret;

	if (err && errsize)
		err[0] = '\0';
	if (!out)
		return -EINVAL;
	*out = NULL;
	if (!b || !ifc)
		return fail(err, errsize, "no behaviour or no interfaces given");
	ret = check(b, nat, ifc, err, errsize);
	if (ret < 0)
		return ret;

	memset(&g, 0, sizeof(g));
	g.b = b;
	g.nat = nat;
	g.wan = ifc->wan_if;
	g.lan = ifc->lan_if;
	/* Whole seconds, rounded up: the unit of ct timeout policies. */
	g.timeout_s = (unsigned)((b->udp_timeout_ms + 999ULL) / 1000);
	g.map_timeout_s = g.timeout_s ? g.timeout_s : NAT_DEFAULT_MAP_TIMEOUT_S;
	g.udp_nat = nat && !b->udp_blocked;
	g.eif_map = g.udp_nat && (b->filtering == FILTER_EIF || b->hairpin);
	g.eif_from_wan = g.udp_nat && b->filtering == FILTER_EIF;
	g.adf_map = g.udp_nat && b->filtering == FILTER_ADF;
	g.zoned = (g.eif_from_wan || g.adf_map) && b->inbound_reply == INBOUND_REPLY_SESSION;
	g.sess = g.zoned && b->mapping != MAP_EIM;
	g.stateless = nat_stateless_inbound(b, nat);

	g.tmap = nat_tcp_mapping(b);
	g.tfilt = nat_tcp_filtering(b);
	g.tcp_nat = nat;
	g.tcp_eif = nat && g.tfilt == FILTER_EIF;
	g.tcp_adf = nat && g.tfilt == FILTER_ADF;
	g.tcp_zoned = (g.tcp_eif || g.tcp_adf) && g.tmap != MAP_EIM;
	g.tcp_est_s = b->tcp_timeout_ms / 1000;
	g.tcp_tr_s = b->tcp_transitory_ms / 1000;
	g.tcp_map_s = g.tcp_est_s ? g.tcp_est_s : NAT_TCP_DEFAULT_MAP_TIMEOUT_S;
	nat_port_range(b, &g.lo, &g.hi);
	g.bs = b->block_size ? b->block_size : NAT_BLOCK_SIZE_DEFAULT;
	if (g.udp_nat) {
		ssize_t k;

		size_t cap = b->ports == PORTS_PRESERVE ? NAT_POOL_PRESERVE : NAT_POOL_MAX;

		g.pool = malloc(cap * sizeof(*g.pool));
		if (!g.pool)
			return -ENOMEM;
		k = nat_port_pool(b, ifc->seed, g.pool, cap);
		if (k <= 0) {
			free(g.pool);
			return k < 0 ? (int)k : -EINVAL;
		}
		g.npool = (size_t)k;
	}
	header(&g, ifc);
	if (ifc->wan_ip) {
		struct nat_family f4 = { "ip", "ip", "ipv4_addr", ifc->wan_ip, ifc->lan_net };
		table(&g, &f4);
	}
	if (ifc->wan_ip6) {
		struct nat_family f6 = { "ip6", "ip6", "ipv6_addr", ifc->wan_ip6, ifc->lan_net6 };

		/* A NAT's IPv6 side: no translation (there is no IPv6 NAT), a
		 * stateful firewall with the NAT's filtering, as on dual-stack
		 * routers (NAT44 and an IPv6 firewall). */
		g.nat = false;
		g.udp_nat = g.eif_map = g.eif_from_wan = g.adf_map = false;
		g.zoned = g.sess = g.stateless = false;
		g.tcp_nat = g.tcp_eif = g.tcp_adf = g.tcp_zoned = false;
		table(&g, &f6);
	}
	free(g.pool);
	if (g.t.oom) {
		free(g.t.p);
		return -ENOMEM;
	}
	*out = g.t.p;
	return 0;
}
