/* Topology file parser.
 *
 * inih splits lines into key and value, strips whitespace and comments. It
 * does not tell its handler the line number, limits lines to 200 bytes
 * without saying so, calls the handler only for keys (an empty section would
 * go unnoticed) and treats indented lines as continuations. So inih reads
 * through our own reader, which counts lines, refuses long lines and control
 * characters, strips indentation (no line is ever a continuation) and
 * handles [section] headers itself; inih only ever sees comments, blank lines
 * and "key = value" lines.
 *
 * Checks that need the whole file (behind names, cycles, the two peers,
 * addresses against subnets) run after the last line, in file order, so the
 * first error reported is the first one a reader of the file would meet.
 */
#include "client/defaults.h"
#include "client/predict.h"
#include "common/cidr.h"
#include "common/duration.h"
#include "common/num.h"
#include "model/iniread.h"
#include "model/rulesfile.h"
#include "model/topo.h"
#include "model/placeholders.h"

#include <arpa/inet.h>
#include <regex.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_KEYS 32

/* ---- names ---- */

static const char *const outcome_names[] = {
	[OUTCOME_UNSET] = "unset", [OUTCOME_DIRECT] = "direct",
	[OUTCOME_RELAYED] = "relayed", [OUTCOME_FAILED] = "failed",
};
static const char *const mode_names[] = {
	[MODE_RENDEZVOUS] = "rendezvous", [MODE_ADVERTISE_LOCAL] = "advertise-local",
	[MODE_FIXED_PORT] = "fixed-port",
};

#define NAME_OF(tab, v) ((unsigned)(v) < sizeof(tab) / sizeof(tab[0]) ? tab[v] : "?")

const char *topo_outcome_name(enum outcome o)
{
	return NAME_OF(outcome_names, o);
}
const char *topo_mode_name(enum client_mode m)
{
	return NAME_OF(mode_names, m);
}

int topo_outcome_parse(const char *s, enum outcome *o)
{
	for (int i = OUTCOME_DIRECT; i <= OUTCOME_FAILED; i++) {
		if (strcasecmp(s, outcome_names[i]) == 0) {
			*o = (enum outcome)i;
			return 0;
		}
	}
	return -EINVAL;
}

/* A keyword and the enum value it stands for; aliases share a value. */
struct word {
	const char *name;
	int value;
};

static const struct word mode_words[] = {
	{ "rendezvous", MODE_RENDEZVOUS }, { "advertise-local", MODE_ADVERTISE_LOCAL },
	{ "fixed-port", MODE_FIXED_PORT }, { NULL, 0 },
};
static const struct word outcome_words[] = {
	{ "direct", OUTCOME_DIRECT }, { "relayed", OUTCOME_RELAYED }, { "failed", OUTCOME_FAILED },
	{ NULL, 0 },
};
static const struct word transport_words[] = {
	{ "udp", 0 }, { "tcp", 1 }, { NULL, 0 },
};
static const struct word predict_words[] = {
	{ "none", PREDICT_NONE }, { "sequential", PREDICT_SEQUENTIAL }, { "birthday", PREDICT_BIRTHDAY },
	{ NULL, 0 },
};
static const struct word bool_words[] = {
	{ "yes", 1 }, { "no", 0 }, { "true", 1 }, { "false", 0 }, { "on", 1 }, { "off", 0 },
	{ "1", 1 }, { "0", 0 }, { NULL, 0 },
};

static int word_find(const struct word *w, const char *s, int *value)
{
	for (; w->name; w++) {
		if (strcasecmp(w->name, s) == 0) {
			*value = w->value;
			return 0;
		}
	}
	return -EINVAL;
}

/* ---- presets ---- */

struct preset {
	const char *name;       /* canonical spelling */
	const char *alias[3];
	bool nat;
	struct nat_behavior b;
};

/* RFC 4787 terms. port-restricted is what Linux masquerade plus conntrack
 * gives by default; symmetric adds random ports (masquerade random). */
static const struct preset presets[] = {
	{ "open", { NULL }, false, { .mapping = MAP_NONE, .filtering = FILTER_OPEN } },
	{ "firewall", { "outbound-only", NULL }, false,
	  { .mapping = MAP_NONE, .filtering = FILTER_APDF } },
	{ "full-cone", { "full", "full-cone-nat", NULL }, true,
	  { .mapping = MAP_EIM, .filtering = FILTER_EIF } },
	{ "restricted-cone", { "restricted", "address-restricted-cone", "address-restricted" }, true,
	  { .mapping = MAP_EIM, .filtering = FILTER_ADF } },
	{ "port-restricted", { "port-restricted-cone", NULL }, true,
	  { .mapping = MAP_EIM, .filtering = FILTER_APDF } },
	{ "symmetric", { NULL }, true, { .mapping = MAP_APDM, .filtering = FILTER_APDF, .ports = PORTS_RANDOM } },
	{ "udp-blocked", { "blocked", NULL }, true,
	  { .mapping = MAP_EIM, .filtering = FILTER_APDF, .udp_blocked = true } },
};
#define N_PRESETS (sizeof(presets) / sizeof(presets[0]))

static const struct preset *preset_find(const char *name)
{
	for (size_t i = 0; i < N_PRESETS; i++) {
		if (strcasecmp(presets[i].name, name) == 0)
			return &presets[i];
		for (int a = 0; a < 3 && presets[i].alias[a]; a++)
			if (strcasecmp(presets[i].alias[a], name) == 0)
				return &presets[i];
	}
	return NULL;
}

int topo_preset(const char *name, struct nat_behavior *b, bool *nat)
{
	const struct preset *p = preset_find(name);

	if (!p)
		return -ENOENT;
	*b = p->b;
	*nat = p->nat;
	return 0;
}

/* ---- addresses ---- */

static bool net_overlap(const struct cidr *a, const struct cidr *b)
{
	return cidr_contains(a, b) || cidr_contains(b, a);
}

/* The host part of x within subnet p: all zero or (IPv4) all one? */
static bool net_is_edge(const struct cidr *p, const struct cidr *x, bool ones)
{
	int bits = cidr_bits(p);

	for (int i = p->plen; i < bits; i++) {
		int bit = (x->a[i / 8] >> (7 - i % 8)) & 1;

		if (bit != (ones ? 1 : 0))
			return false;
	}
	return p->plen < bits;
}

/* An address, IPv4 or IPv6, without a prefix length. */
static int ip_parse(const char *s, struct cidr *n)
{
	return strchr(s, '/') ? -EINVAL : cidr_parse(s, 0, CIDR_BARE, n);
}

/* Ranges a lab may use: documentation and private blocks only, so that no
 * address in a lab ever stands for a real host should a packet, a route or a
 * report leave the namespaces. */
static const char *const allowed_ranges[] = {
	"192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "10.0.0.0/8", "172.16.0.0/12",
	"192.168.0.0/16", "100.64.0.0/10", "2001:db8::/32", "fc00::/7",
};
#define ALLOWED_TEXT "192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 10.0.0.0/8, " \
	"172.16.0.0/12, 192.168.0.0/16, 100.64.0.0/10, 2001:db8::/32, fc00::/7"

static bool net_allowed(const struct cidr *n)
{
	for (size_t i = 0; i < sizeof(allowed_ranges) / sizeof(allowed_ranges[0]); i++) {
		struct cidr r;

		if (cidr_parse(allowed_ranges[i], 0, 0, &r) == 0 && cidr_contains(&r, n))
			return true;
	}
	return false;
}

/* ---- parser state ---- */

enum sect { SECT_NONE, SECT_LAB, SECT_SERVER, SECT_PROGRAMS, SECT_NAT, SECT_PEER };

struct parser;
typedef int (*key_fn)(struct parser *ps, const char *v);
struct key {
	const char *name;
	key_fn set;
};

enum { LK_DESCRIPTION, LK_EXPECT, LK_EXPECT_WHY, LK_MODE, LK_RELAY, LK_TIMEOUT, LK_PUNCH_TIMEOUT,
       LK_MESSAGES, LK_IPV6, LK_INTERNET, LK_INTERNET6, LK_EXPECT_RATE, LK_TRANSPORT, LK_PREDICT,
       LK_PREDICT_PORTS, LK_PREDICT_RANGE, LK_COUNT };
enum { SK_ADDRESS, SK_ADDRESS2, SK_COUNT };
enum { PK_SERVER, PK_CLIENT, PK_SETUP, PK_CHECK, PK_SERVER_READY, PK_CLIENT_READY, PK_COUNT };
enum { NK_PRESET, NK_MAPPING, NK_FILTERING, NK_PORTS, NK_HAIRPIN, NK_UDP_TIMEOUT, NK_BLOCK_UDP,
       NK_BEHIND, NK_WAN, NK_LAN, NK_RULES, NK_DELAY, NK_JITTER, NK_LOSS, NK_SELF_CHECK,
       NK_PORT_RANGE, NK_PORT_STEP, NK_PORT_START, NK_BLOCK_SIZE, NK_INBOUND_REPLY, NK_UNSOLICITED,
       NK_TCP_MAPPING, NK_TCP_FILTERING, NK_TCP_UNSOLICITED, NK_TCP_TIMEOUT, NK_TCP_TRANSITORY,
       NK_REBIND_AFTER, NK_COUNT };
_Static_assert(NK_COUNT <= MAX_KEYS, "struct node_aux lines[] too small for the [nat] keys");
enum { EK_BEHIND, EK_ADDRESS, EK_DELAY, EK_JITTER, EK_LOSS, EK_KEEPALIVE, EK_START_DELAY,
       EK_PROGRAM, EK_COUNT };

/* What the parser keeps about a router or peer beyond the model. */
struct node_aux {
	int lines[MAX_KEYS];    /* where each key was given, 0 = not given */
	char behind[MODEL_NAME_MAX];
	const struct preset *preset;
	struct nat_behavior explicit_b; /* fields whose key was given win over the preset */
};

struct parser {
	struct iniread_err e;   /* first (iniread.h): the file's name, the line, the first error */
	const char *dir;        /* directory of the name, for rules = FILE; NULL = as written */
	size_t dirlen;
	struct topo *t;

	enum sect sect;
	int sect_line;
	char label[MODEL_NAME_MAX + 16]; /* "[nat home-a]" */
	int cur;                /* index of the current nat or peer */
	int *lines;             /* key lines of the current section */
	const struct key *keys;

	bool seen_lab, seen_server, seen_programs;
	int lab_lines[MAX_KEYS], server_lines[MAX_KEYS], programs_lines[MAX_KEYS];
	struct node_aux nat_aux[TOPO_MAX_NATS];
	struct node_aux peer_aux[3];
};

/* An error on line of the file (iniread.c keeps the first). */
#define fail(ps, line, ...) iniread_fail(&(ps)->e, (line), __VA_ARGS__)
#define BAD(ps, ...) fail((ps), (ps)->e.line, __VA_ARGS__)

static int word_key(struct parser *ps, const struct word *w, const char *key, const char *v,
		    int *value)
{
	char allowed[256];
	size_t n = 0;

	if (word_find(w, v, value) == 0)
		return 0;
	allowed[0] = '\0';
	for (; w->name && n < sizeof(allowed); w++)
		n += (size_t)snprintf(allowed + n, sizeof(allowed) - n, "%s%s", n ? " | " : "",
				      w->name);
	return BAD(ps, "bad value '%s' for %s: expected %s", v, key, allowed);
}

static int bool_key(struct parser *ps, const char *key, const char *v, bool *out)
{
	int b;

	if (word_find(bool_words, v, &b) < 0)
		return BAD(ps, "bad value '%s' for %s: expected yes | no (or true | false, on | off, 1 | 0)",
			   v, key);
	*out = b;
	return 0;
}

/* Durations: a whole number and its unit, ms, s or m (common/duration.h),
 * which a file must write out: "10" could mean either. */
static int duration_key(struct parser *ps, const char *key, const char *v, uint32_t min_ms,
			uint32_t max_ms, uint32_t *out)
{
	uint64_t ms;
	int rc = duration_parse(v, DURATION_UNIT | DURATION_WHOLE, min_ms, max_ms, &ms);

	if (rc == -ERANGE && duration_parse(v, DURATION_UNIT | DURATION_WHOLE, 0, UINT32_MAX, &ms) == 0) {
		char lo[24], hi[24];

		snprintf(lo, sizeof(lo), "%ums", (unsigned)min_ms);
		snprintf(hi, sizeof(hi), "%us", (unsigned)(max_ms / 1000));
		return BAD(ps, "%s = %s is out of range: %s to %s", key, v, lo, hi);
	}
	if (rc < 0)
		return BAD(ps, "bad duration '%s' for %s: expected a whole number and a unit, "
			   "ms, s or m (e.g. 500ms, 3s, 1m)", v, key);
	*out = (uint32_t)ms;
	return 0;
}

#define oom(ps) iniread_oom(&(ps)->e)

static int strdup_to(struct parser *ps, char **dst, const char *v)
{
	char *s = strdup(v);

	if (!s)
		return oom(ps);
	free(*dst);
	*dst = s;
	return 0;
}

static int address_key(struct parser *ps, const char *key, const char *v, char dst[48])
{
	struct cidr n;

	if (strchr(v, '/'))
		return BAD(ps, "%s = %s: expected an address without a prefix length", key, v);
	if (strlen(v) >= 48 || ip_parse(v, &n) < 0)
		return BAD(ps, "bad address '%s' for %s: expected an IPv4 or IPv6 address", v, key);
	if (!net_allowed(&n))
		return BAD(ps, "%s = %s is outside the ranges a lab may use (%s)", key, v,
			   ALLOWED_TEXT);
	strcpy(dst, v);
	return 0;
}

static int subnet_key(struct parser *ps, const char *key, const char *v, int family, char dst[48])
{
	struct cidr n;
	int max, min = family == AF_INET6 ? 16 : 8;

	if (strlen(v) >= 48 || cidr_parse(v, 0, 0, &n) < 0)
		return BAD(ps, "bad subnet '%s' for %s: expected ADDRESS/PREFIX, e.g. %s", v, key,
			   family == AF_INET6 ? "2001:db8::/64" : "10.0.1.0/24");
	if (family && n.family != family)
		return BAD(ps, "%s = %s: expected an %s subnet", key, v,
			   family == AF_INET ? "IPv4" : "IPv6");
	max = n.family == AF_INET ? 30 : 126;
	min = n.family == AF_INET ? 8 : 16;
	if (n.plen < min || n.plen > max)
		return BAD(ps, "%s = %s: prefix length must be %d to %d", key, v, min, max);
	if (cidr_host_bits(&n)) {
		struct cidr z = n;
		char buf[INET6_ADDRSTRLEN];

		for (int i = n.plen; i < cidr_bits(&n); i++)
			z.a[i / 8] &= (uint8_t)~(0x80 >> (i % 8));
		inet_ntop(n.family, z.a, buf, sizeof(buf));
		return BAD(ps, "%s = %s has host bits set (did you mean %s/%d?)", key, v, buf, n.plen);
	}
	if (!net_allowed(&n))
		return BAD(ps, "%s = %s is outside the ranges a lab may use (%s)", key, v,
			   ALLOWED_TEXT);
	strcpy(dst, v);
	return 0;
}

/* ---- [lab] ---- */

static int lab_description(struct parser *ps, const char *v)
{
	return strdup_to(ps, &ps->t->description, v);
}
static int lab_expect_why(struct parser *ps, const char *v)
{
	return strdup_to(ps, &ps->t->expect_why, v);
}

static int lab_expect(struct parser *ps, const char *v)
{
	int o = 0;

	if (word_key(ps, outcome_words, "expect", v, &o) < 0)
		return -EINVAL;
	ps->t->expect = (enum outcome)o;
	ps->t->expect_line = ps->e.line;
	return 0;
}

/* expect-rate = 0.9 or 90%: the share of runs that must end as expected
 * (report/stats.h has the rule), from 0.01 to 1, two decimals at most. */
static int lab_expect_rate(struct parser *ps, const char *v)
{
	size_t len = strlen(v), digits;
	bool pct = len > 0 && v[len - 1] == '%';
	unsigned whole = 0, frac = 0, scale = 1;
	const char *dot;

	if (pct)
		len--;
	dot = memchr(v, '.', len);
	digits = dot ? (size_t)(dot - v) : len;
	if (digits == 0 || digits > 3 || strspn(v, "0123456789") != digits ||
	    (dot && (len - digits - 1 == 0 || len - digits - 1 > 2 ||
		     strspn(dot + 1, "0123456789") != len - digits - 1)))
		return BAD(ps, "bad value '%s' for expect-rate: a share of runs such as 0.9 or 90%%", v);
	for (size_t i = 0; i < digits; i++)
		whole = whole * 10 + (unsigned)(v[i] - '0');
	for (size_t i = digits + 1; dot && i < len; i++, scale *= 10)
		frac = frac * 10 + (unsigned)(v[i] - '0');
	ps->t->expect_rate = (whole + (double)frac / scale) / (pct ? 100 : 1);
	if (!(ps->t->expect_rate >= 0.01 && ps->t->expect_rate <= 1))
		return BAD(ps, "expect-rate = %s is out of range: 0.01 to 1 (1%% to 100%%)", v);
	return 0;
}

static int lab_mode(struct parser *ps, const char *v)
{
	int m = 0;

	if (word_key(ps, mode_words, "mode", v, &m) < 0)
		return -EINVAL;
	ps->t->mode = (enum client_mode)m;
	return 0;
}

static int lab_relay(struct parser *ps, const char *v)
{
	return bool_key(ps, "relay", v, &ps->t->relay);
}
static int lab_ipv6(struct parser *ps, const char *v)
{
	return bool_key(ps, "ipv6", v, &ps->t->ipv6);
}

static int lab_timeout(struct parser *ps, const char *v)
{
	ps->t->timeout_set = true;
	return duration_key(ps, "timeout", v, 100, 3600 * 1000, &ps->t->timeout_ms);
}

static int lab_punch_timeout(struct parser *ps, const char *v)
{
	ps->t->punch_timeout_set = true;
	return duration_key(ps, "punch-timeout", v, 100, 3600 * 1000, &ps->t->punch_timeout_ms);
}

static int lab_messages(struct parser *ps, const char *v)
{
	unsigned n = 0;
	size_t len = strlen(v);

	if (len == 0 || len > 4 || strspn(v, "0123456789") != len)
		return BAD(ps, "bad value '%s' for messages: expected a whole number, 1 to 1000", v);
	for (const char *p = v; *p; p++)
		n = n * 10 + (unsigned)(*p - '0');
	if (n < 1 || n > 1000)
		return BAD(ps, "messages = %s is out of range: 1 to 1000", v);
	ps->t->messages = n;
	return 0;
}

static int lab_internet(struct parser *ps, const char *v)
{
	return subnet_key(ps, "internet", v, AF_INET, ps->t->inet_subnet);
}

static int lab_internet6(struct parser *ps, const char *v)
{
	return subnet_key(ps, "internet6", v, AF_INET6, ps->t->inet_subnet6);
}

static int lab_transport(struct parser *ps, const char *v)
{
	int tcp;

	if (word_key(ps, transport_words, "transport", v, &tcp) < 0)
		return -EINVAL;
	ps->t->tcp = tcp;
	return 0;
}

static int lab_predict(struct parser *ps, const char *v)
{
	return word_key(ps, predict_words, "predict", v, &ps->t->predict);
}

static int lab_predict_ports(struct parser *ps, const char *v)
{
	unsigned n = 0;
	size_t len = strlen(v);

	if (len == 0 || len > 4 || strspn(v, "0123456789") != len)
		return BAD(ps, "bad value '%s' for predict-ports: expected a whole number, 1 to %d", v,
			   PREDICT_PORTS_MAX);
	for (const char *p = v; *p; p++)
		n = n * 10 + (unsigned)(*p - '0');
	if (n < 1 || n > PREDICT_PORTS_MAX)
		return BAD(ps, "predict-ports = %s is out of range: 1 to %d", v, PREDICT_PORTS_MAX);
	ps->t->predict_ports = n;
	return 0;
}

static int port_number(const char *s, unsigned *out);

/* predict-range = LO-HI: the ports the client aims at (--predict-range). */
static int lab_predict_range(struct parser *ps, const char *v)
{
	char lo[8], hi[8];
	const char *dash = strchr(v, '-');
	unsigned a, b;

	if (!dash || (size_t)(dash - v) >= sizeof(lo) || strlen(dash + 1) >= sizeof(hi))
		return BAD(ps, "bad value '%s' for predict-range: expected LOW-HIGH, ports 1..65535", v);
	memcpy(lo, v, (size_t)(dash - v));
	lo[dash - v] = '\0';
	strcpy(hi, dash + 1);
	if (port_number(lo, &a) < 0 || port_number(hi, &b) < 0)
		return BAD(ps, "bad value '%s' for predict-range: expected LOW-HIGH, ports 1..65535", v);
	if (a > b)
		return BAD(ps, "predict-range = %s: LOW is above HIGH", v);
	ps->t->predict_lo = (uint16_t)a;
	ps->t->predict_hi = (uint16_t)b;
	return 0;
}

static const struct key lab_keys[] = {
	[LK_DESCRIPTION] = { "description", lab_description },
	[LK_EXPECT] = { "expect", lab_expect },
	[LK_EXPECT_WHY] = { "expect-why", lab_expect_why },
	[LK_MODE] = { "mode", lab_mode },
	[LK_RELAY] = { "relay", lab_relay },
	[LK_TIMEOUT] = { "timeout", lab_timeout },
	[LK_PUNCH_TIMEOUT] = { "punch-timeout", lab_punch_timeout },
	[LK_MESSAGES] = { "messages", lab_messages },
	[LK_IPV6] = { "ipv6", lab_ipv6 },
	[LK_INTERNET] = { "internet", lab_internet },
	[LK_INTERNET6] = { "internet6", lab_internet6 },
	[LK_EXPECT_RATE] = { "expect-rate", lab_expect_rate },
	[LK_TRANSPORT] = { "transport", lab_transport },
	[LK_PREDICT] = { "predict", lab_predict },
	[LK_PREDICT_PORTS] = { "predict-ports", lab_predict_ports },
	[LK_PREDICT_RANGE] = { "predict-range", lab_predict_range },
	[LK_COUNT] = { NULL, NULL },
};

/* ---- [server] and [programs] ---- */

static int server_address(struct parser *ps, const char *v)
{
	return address_key(ps, "address", v, ps->t->server.addr);
}
static int server_address2(struct parser *ps, const char *v)
{
	return address_key(ps, "address2", v, ps->t->server.addr2);
}

static const struct key server_keys[] = {
	[SK_ADDRESS] = { "address", server_address },
	[SK_ADDRESS2] = { "address2", server_address2 },
	[SK_COUNT] = { NULL, NULL },
};

/* A command with placeholders (model/placeholders.h); mask: which it may use. */
static int command_key(struct parser *ps, const char *key, const char *v, unsigned mask, char **dst)
{
	char why[400];

	if (ph_check(v, mask, why, sizeof(why)) < 0)
		return BAD(ps, "%s: %s", key, why);
	return strdup_to(ps, dst, v);
}

static int programs_server(struct parser *ps, const char *v)
{
	return command_key(ps, "server", v, PH_LAB_MASK, &ps->t->programs.server);
}
static int programs_client(struct parser *ps, const char *v)
{
	return command_key(ps, "client", v, PH_ALL_MASK, &ps->t->programs.client);
}
static int programs_setup(struct parser *ps, const char *v)
{
	return command_key(ps, "setup", v, PH_LAB_MASK, &ps->t->programs.setup);
}
static int programs_check(struct parser *ps, const char *v)
{
	return command_key(ps, "check", v, PH_ALL_MASK, &ps->t->programs.check);
}

/* stdout REGEX | port [N][/udp|/tcp] */
static int ready_key(struct parser *ps, const char *key, const char *v, struct topo_ready *r)
{
	if (strncmp(v, "stdout", 6) == 0 && (v[6] == ' ' || v[6] == '\t')) {
		const char *pat = v + 7;
		regex_t re;
		int rc;

		while (*pat == ' ' || *pat == '\t')
			pat++;
		rc = regcomp(&re, pat, REG_EXTENDED | REG_NOSUB);
		if (rc != 0) {
			char why[128];

			regerror(rc, &re, why, sizeof(why));
			return BAD(ps, "%s: bad pattern '%s': %s", key, pat, why);
		}
		regfree(&re);
		r->kind = READY_STDOUT;
		return strdup_to(ps, &r->pattern, pat);
	}
	if (strncmp(v, "port", 4) == 0 && (v[4] == '\0' || v[4] == ' ' || v[4] == '/')) {
		const char *p = v + 4;
		unsigned long port = 0;

		while (*p == ' ')
			p++;
		if (*p >= '0' && *p <= '9') {
			char *end;

			port = strtoul(p, &end, 10);
			if (port == 0 || port > 65535)
				return BAD(ps, "%s: port %lu is out of range: 1 to 65535", key, port);
			p = end;
		}
		r->proto = 0;
		if (strcmp(p, "/udp") == 0)
			r->proto = 17;
		else if (strcmp(p, "/tcp") == 0)
			r->proto = 6;
		else if (*p)
			return BAD(ps, "%s: bad value '%s': expected port, port N, port N/udp or port N/tcp", key, v);
		r->kind = READY_PORT;
		r->port = (uint16_t)port;
		return 0;
	}
	return BAD(ps, "bad value '%s' for %s: expected stdout PATTERN (a line the program prints when "
		   "ready) or port [N][/udp|/tcp] (a socket it binds)", v, key);
}
static int programs_server_ready(struct parser *ps, const char *v)
{
	return ready_key(ps, "server-ready", v, &ps->t->programs.server_ready);
}
static int programs_client_ready(struct parser *ps, const char *v)
{
	return ready_key(ps, "client-ready", v, &ps->t->programs.client_ready);
}

static const struct key programs_keys[] = {
	[PK_SERVER] = { "server", programs_server },
	[PK_CLIENT] = { "client", programs_client },
	[PK_SETUP] = { "setup", programs_setup },
	[PK_CHECK] = { "check", programs_check },
	[PK_SERVER_READY] = { "server-ready", programs_server_ready },
	[PK_CLIENT_READY] = { "client-ready", programs_client_ready },
	[PK_COUNT] = { NULL, NULL },
};

/* ---- impairments, shared by [nat] and [peer] ---- */

static struct impairment *cur_impair(struct parser *ps)
{
	if (ps->sect == SECT_NAT)
		return &ps->t->nats[ps->cur].uplink_impair;
	return &ps->t->peers[ps->cur].uplink_impair;
}

static int impair_delay(struct parser *ps, const char *v)
{
	return duration_key(ps, "delay", v, 0, 10000, &cur_impair(ps)->delay_ms);
}

static int impair_jitter(struct parser *ps, const char *v)
{
	return duration_key(ps, "jitter", v, 0, 10000, &cur_impair(ps)->jitter_ms);
}

/* Loss in percent with up to four decimals (1 ppm resolution): 1%, 0.5%. */
static int impair_loss(struct parser *ps, const char *v)
{
	uint32_t whole = 0, frac = 0;
	int wd = 0, fd = 0;
	const char *p = v;

	for (; *p >= '0' && *p <= '9' && wd < 4; p++, wd++)
		whole = whole * 10 + (uint32_t)(*p - '0');
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9' && fd < 5; p++, fd++)
			frac = frac * 10 + (uint32_t)(*p - '0');
	if (wd == 0 || wd > 3 || (p[-1] == '.') || fd > 4 || strcmp(p, "%") != 0)
		return BAD(ps, "bad value '%s' for loss: expected a percentage, e.g. 1%% or 0.5%%", v);
	for (; fd < 4; fd++)
		frac *= 10;
	if (whole * 10000 + frac > 1000000)
		return BAD(ps, "loss = %s is out of range: 0%% to 100%%", v);
	cur_impair(ps)->loss_ppm = whole * 10000 + frac;
	return 0;
}

static int behind_key(struct parser *ps, const char *v, struct node_aux *aux)
{
	if (strcmp(v, "internet") != 0 && iniread_name_check(v, TOPO_NAME_LEN) < 0)
		return BAD(ps, "bad value '%s' for behind: expected internet or the name of a [nat]", v);
	strcpy(aux->behind, v);
	return 0;
}

/* ---- [nat NAME] ---- */

#define NAT(ps) (&(ps)->t->nats[(ps)->cur])
#define NAUX(ps) (&(ps)->nat_aux[(ps)->cur])

static int nat_preset(struct parser *ps, const char *v)
{
	const struct preset *p = preset_find(v);

	if (!p)
		return BAD(ps, "unknown preset '%s': expected open | firewall | full-cone | "
			   "restricted-cone | port-restricted | symmetric | udp-blocked", v);
	NAUX(ps)->preset = p;
	snprintf(NAT(ps)->preset, sizeof(NAT(ps)->preset), "%s", p->name);
	return 0;
}

/* A behaviour value by any of its names (nat/behavior.h); the error lists the
 * long names, then the short ones that differ. */
static int behavior_key(struct parser *ps, const char *key, const char *v, int (*parse)(const char *),
			const char *(*lng)(int), const char *(*shrt)(int), int *value)
{
	char allowed[256];
	size_t n = 0;

	if ((*value = parse(v)) >= 0)
		return 0;
	allowed[0] = '\0';
	for (int pass = 0; pass < 2; pass++)
		for (int i = 0; lng(i) && n < sizeof(allowed); i++)
			if (pass == 0 || strcmp(shrt(i), lng(i)) != 0)
				n += (size_t)snprintf(allowed + n, sizeof(allowed) - n, "%s%s",
						      n ? " | " : "", pass ? shrt(i) : lng(i));
	return BAD(ps, "bad value '%s' for %s: expected %s", v, key, allowed);
}

static const char *mapping_long_of(int i)
{
	return i <= MAP_APDM ? nat_mapping_long((enum nat_mapping)i) : NULL;
}
static const char *mapping_short_of(int i)
{
	return nat_mapping_name((enum nat_mapping)i);
}
static const char *filtering_long_of(int i)
{
	return i <= FILTER_APDF ? nat_filtering_long((enum nat_filtering)i) : NULL;
}
static const char *filtering_short_of(int i)
{
	return nat_filtering_name((enum nat_filtering)i);
}
static const char *ports_name_of(int i)
{
	return nat_ports_name((enum nat_ports)i);
}

static int nat_mapping(struct parser *ps, const char *v)
{
	int m;

	if (behavior_key(ps, "mapping", v, nat_mapping_parse, mapping_long_of, mapping_short_of, &m) < 0)
		return -EINVAL;
	NAUX(ps)->explicit_b.mapping = (enum nat_mapping)m;
	return 0;
}

static int nat_filtering(struct parser *ps, const char *v)
{
	int f;

	if (behavior_key(ps, "filtering", v, nat_filtering_parse, filtering_long_of, filtering_short_of, &f) < 0)
		return -EINVAL;
	NAUX(ps)->explicit_b.filtering = (enum nat_filtering)f;
	return 0;
}

static int nat_ports(struct parser *ps, const char *v)
{
	int p;

	if (behavior_key(ps, "ports", v, nat_ports_parse, ports_name_of, ports_name_of, &p) < 0)
		return -EINVAL;
	NAUX(ps)->explicit_b.ports = (enum nat_ports)p;
	return 0;
}

static int nat_hairpin(struct parser *ps, const char *v)
{
	return bool_key(ps, "hairpin", v, &NAUX(ps)->explicit_b.hairpin);
}
static int nat_block_udp(struct parser *ps, const char *v)
{
	return bool_key(ps, "block-udp", v, &NAUX(ps)->explicit_b.udp_blocked);
}

static int nat_udp_timeout(struct parser *ps, const char *v)
{
	uint32_t ms;

	if (duration_key(ps, "udp-timeout", v, 1000, 24 * 3600 * 1000, &ms) < 0)
		return -EINVAL;
	/* conntrack timeouts are whole seconds; do not round behind the user's back. */
	if (ms % 1000)
		return BAD(ps, "udp-timeout = %s: conntrack timeouts are whole seconds", v);
	NAUX(ps)->explicit_b.udp_timeout_ms = ms;
	return 0;
}

static int nat_behind(struct parser *ps, const char *v)
{
	return behind_key(ps, v, NAUX(ps));
}
static int nat_wan(struct parser *ps, const char *v)
{
	return address_key(ps, "wan-address", v, NAT(ps)->wan_addr);
}
static int nat_lan(struct parser *ps, const char *v)
{
	return subnet_key(ps, "lan", v, 0, NAT(ps)->lan_subnet);
}

/* rules = FILE: only from the topology's own tree or an --allow-rules path,
 * a regular file within RULESFILE_MAX (rulesfile.h); checked here for a
 * file:line error, and again when it is read. Nothing is opened here. */
static int nat_rules(struct parser *ps, const char *v)
{
	char why[PATH_MAX + 160];
	struct stat st;
	char *path;
	int n;

	if (v[0] == '/' || !ps->dir)
		n = asprintf(&path, "%s", v);
	else
		n = asprintf(&path, "%.*s/%s", (int)ps->dirlen, ps->dir, v);
	if (n < 0)
		return oom(ps);
	if (rulesfile_confine(ps->e.name, path, why, sizeof(why)) < 0) {
		BAD(ps, "%s", why);
		free(path);
		return -EINVAL;
	}
	if (stat(path, &st) < 0) {
		int e = errno;

		BAD(ps, "rules file '%s': %s", path, strerror(e));
		free(path);
		return -EINVAL;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > RULESFILE_MAX) {
		if (!S_ISREG(st.st_mode))
			BAD(ps, "rules file '%s' is not a regular file", path);
		else
			BAD(ps, "rules file '%s' is larger than %d bytes", path, RULESFILE_MAX);
		free(path);
		return -EINVAL;
	}
	free(NAT(ps)->rules_file);
	NAT(ps)->rules_file = path;
	return 0;
}

static int nat_self_check(struct parser *ps, const char *v)
{
	bool on;

	if (bool_key(ps, "self-check", v, &on) < 0)
		return -EINVAL;
	NAT(ps)->unchecked = !on;
	return 0;
}

/* A port number 1..65535, nothing else on the value. */
static int port_number(const char *v, unsigned *out)
{
	unsigned long n;

	if (num_parse_uint(v, 65535, &n) < 0 || n == 0)
		return -1;
	*out = (unsigned)n;
	return 0;
}

static int nat_port_range_key(struct parser *ps, const char *v)
{
	char lo[8], hi[8];
	const char *dash = strchr(v, '-');
	unsigned a, b;

	if (!dash || (size_t)(dash - v) >= sizeof(lo) || strlen(dash + 1) >= sizeof(hi))
		return BAD(ps, "bad value '%s' for port-range: expected LOW-HIGH, ports 1..65535", v);
	memcpy(lo, v, (size_t)(dash - v));
	lo[dash - v] = '\0';
	strcpy(hi, dash + 1);
	if (port_number(lo, &a) < 0 || port_number(hi, &b) < 0)
		return BAD(ps, "bad value '%s' for port-range: expected LOW-HIGH, ports 1..65535", v);
	if (a > b)
		return BAD(ps, "port-range = %s: LOW is above HIGH", v);
	NAUX(ps)->explicit_b.port_min = (uint16_t)a;
	NAUX(ps)->explicit_b.port_max = (uint16_t)b;
	return 0;
}

static int nat_u16_key(struct parser *ps, const char *key, const char *v, uint16_t *out)
{
	unsigned n;

	if (port_number(v, &n) < 0)
		return BAD(ps, "bad value '%s' for %s: expected a number 1..65535", v, key);
	*out = (uint16_t)n;
	return 0;
}
static int nat_port_step(struct parser *ps, const char *v)
{
	return nat_u16_key(ps, "port-step", v, &NAUX(ps)->explicit_b.port_step);
}
static int nat_port_start(struct parser *ps, const char *v)
{
	return nat_u16_key(ps, "port-start", v, &NAUX(ps)->explicit_b.port_start);
}
static int nat_block_size(struct parser *ps, const char *v)
{
	return nat_u16_key(ps, "block-size", v, &NAUX(ps)->explicit_b.block_size);
}

static int nat_inbound_reply(struct parser *ps, const char *v)
{
	int r = nat_inbound_reply_parse(v);

	if (r < 0)
		return BAD(ps, "bad value '%s' for inbound-reply: expected session | new-mapping", v);
	NAUX(ps)->explicit_b.inbound_reply = (enum nat_inbound_reply)r;
	return 0;
}

static int nat_unsolicited(struct parser *ps, const char *v)
{
	if (strcmp(v, "drop") && strcmp(v, "icmp-unreachable"))
		return BAD(ps, "bad value '%s' for unsolicited: expected drop | icmp-unreachable", v);
	NAUX(ps)->explicit_b.icmp_unreachable = strcmp(v, "icmp-unreachable") == 0;
	return 0;
}

/* TCP (RFC 5382): the same vocabulary as UDP's keys, for TCP alone. */
static int nat_tcp_mapping_key(struct parser *ps, const char *v)
{
	int m;

	if (behavior_key(ps, "tcp-mapping", v, nat_mapping_parse, mapping_long_of, mapping_short_of, &m) < 0)
		return -EINVAL;
	NAUX(ps)->explicit_b.tcp_mapping = (enum nat_mapping)m;
	return 0;
}

static int nat_tcp_filtering_key(struct parser *ps, const char *v)
{
	int f;

	if (behavior_key(ps, "tcp-filtering", v, nat_filtering_parse, filtering_long_of, filtering_short_of,
			 &f) < 0)
		return -EINVAL;
	NAUX(ps)->explicit_b.tcp_filtering = (enum nat_filtering)f;
	return 0;
}

static int nat_tcp_unsolicited_key(struct parser *ps, const char *v)
{
	int u = nat_tcp_unsolicited_parse(v);

	if (u < 0)
		return BAD(ps, "bad value '%s' for tcp-unsolicited: expected drop | rst | icmp", v);
	NAUX(ps)->explicit_b.tcp_unsolicited = (enum nat_tcp_unsolicited)u;
	return 0;
}

/* A conntrack timeout: whole seconds, 1 s to a week (RFC 5382 REQ-5's
 * minima are not enforced: a non-conformant NAT is worth modelling). */
static int tcp_timeout_key(struct parser *ps, const char *key, const char *v, uint32_t *out)
{
	uint32_t ms;

	if (duration_key(ps, key, v, 1000, 7 * 24 * 3600 * 1000, &ms) < 0)
		return -EINVAL;
	if (ms % 1000)
		return BAD(ps, "%s = %s: conntrack timeouts are whole seconds", key, v);
	*out = ms;
	return 0;
}
static int nat_tcp_timeout(struct parser *ps, const char *v)
{
	return tcp_timeout_key(ps, "tcp-timeout", v, &NAUX(ps)->explicit_b.tcp_timeout_ms);
}
static int nat_tcp_transitory(struct parser *ps, const char *v)
{
	return tcp_timeout_key(ps, "tcp-transitory-timeout", v, &NAUX(ps)->explicit_b.tcp_transitory_ms);
}

/* A timed rebind, not a behaviour of RFC 4787's: the time after the pair's
 * start at which the router moves every mapping to a new port. */
static int nat_rebind_after(struct parser *ps, const char *v)
{
	return duration_key(ps, "rebind-after", v, 100, 3600 * 1000, &NAT(ps)->rebind_after_ms);
}

static const struct key nat_keys[] = {
	[NK_PRESET] = { "preset", nat_preset },
	[NK_MAPPING] = { "mapping", nat_mapping },
	[NK_FILTERING] = { "filtering", nat_filtering },
	[NK_PORTS] = { "ports", nat_ports },
	[NK_HAIRPIN] = { "hairpin", nat_hairpin },
	[NK_UDP_TIMEOUT] = { "udp-timeout", nat_udp_timeout },
	[NK_BLOCK_UDP] = { "block-udp", nat_block_udp },
	[NK_BEHIND] = { "behind", nat_behind },
	[NK_WAN] = { "wan-address", nat_wan },
	[NK_LAN] = { "lan", nat_lan },
	[NK_RULES] = { "rules", nat_rules },
	[NK_DELAY] = { "delay", impair_delay },
	[NK_JITTER] = { "jitter", impair_jitter },
	[NK_LOSS] = { "loss", impair_loss },
	[NK_SELF_CHECK] = { "self-check", nat_self_check },
	[NK_PORT_RANGE] = { "port-range", nat_port_range_key },
	[NK_PORT_STEP] = { "port-step", nat_port_step },
	[NK_PORT_START] = { "port-start", nat_port_start },
	[NK_BLOCK_SIZE] = { "block-size", nat_block_size },
	[NK_INBOUND_REPLY] = { "inbound-reply", nat_inbound_reply },
	[NK_UNSOLICITED] = { "unsolicited", nat_unsolicited },
	[NK_TCP_MAPPING] = { "tcp-mapping", nat_tcp_mapping_key },
	[NK_TCP_FILTERING] = { "tcp-filtering", nat_tcp_filtering_key },
	[NK_TCP_UNSOLICITED] = { "tcp-unsolicited", nat_tcp_unsolicited_key },
	[NK_TCP_TIMEOUT] = { "tcp-timeout", nat_tcp_timeout },
	[NK_TCP_TRANSITORY] = { "tcp-transitory-timeout", nat_tcp_transitory },
	[NK_REBIND_AFTER] = { "rebind-after", nat_rebind_after },
	[NK_COUNT] = { NULL, NULL },
};

/* The behaviour is the preset's (or Linux defaults: EIM, APDF, preserve)
 * with every explicitly given key on top, whatever the order of the keys. */
static int nat_finish(struct parser *ps)
{
	struct topo_nat *n = NAT(ps);
	struct node_aux *a = NAUX(ps);
	const int *l = a->lines;
	struct nat_behavior b = { .mapping = MAP_EIM, .filtering = FILTER_APDF };

	if (!a->preset && !l[NK_MAPPING] && !l[NK_FILTERING])
		return fail(ps, ps->sect_line, "%s: give a preset or mapping and filtering "
			    "(see topologies/README.md)", ps->label);
	if (a->preset)
		b = a->preset->b;
	if (l[NK_MAPPING])
		b.mapping = a->explicit_b.mapping;
	if (l[NK_FILTERING])
		b.filtering = a->explicit_b.filtering;
	if (l[NK_PORTS])
		b.ports = a->explicit_b.ports;
	if (l[NK_HAIRPIN])
		b.hairpin = a->explicit_b.hairpin;
	if (l[NK_BLOCK_UDP])
		b.udp_blocked = a->explicit_b.udp_blocked;
	if (l[NK_UDP_TIMEOUT])
		b.udp_timeout_ms = a->explicit_b.udp_timeout_ms;
	if (l[NK_PORT_RANGE]) {
		b.port_min = a->explicit_b.port_min;
		b.port_max = a->explicit_b.port_max;
	}
	if (l[NK_PORT_STEP])
		b.port_step = a->explicit_b.port_step;
	if (l[NK_PORT_START])
		b.port_start = a->explicit_b.port_start;
	if (l[NK_BLOCK_SIZE])
		b.block_size = a->explicit_b.block_size;
	if (l[NK_INBOUND_REPLY])
		b.inbound_reply = a->explicit_b.inbound_reply;
	if (l[NK_UNSOLICITED])
		b.icmp_unreachable = a->explicit_b.icmp_unreachable;
	if (l[NK_TCP_MAPPING]) {
		b.tcp_mapping_own = true;
		b.tcp_mapping = a->explicit_b.tcp_mapping;
	}
	if (l[NK_TCP_FILTERING]) {
		b.tcp_filtering_own = true;
		b.tcp_filtering = a->explicit_b.tcp_filtering;
	}
	if (l[NK_TCP_UNSOLICITED])
		b.tcp_unsolicited = a->explicit_b.tcp_unsolicited;
	if (l[NK_TCP_TIMEOUT])
		b.tcp_timeout_ms = a->explicit_b.tcp_timeout_ms;
	if (l[NK_TCP_TRANSITORY])
		b.tcp_transitory_ms = a->explicit_b.tcp_transitory_ms;
	n->behavior = b;
	n->nat = b.mapping != MAP_NONE;
	if (n->nat && b.filtering == FILTER_OPEN)
		return fail(ps, l[NK_FILTERING] ? l[NK_FILTERING] : ps->sect_line,
			    "%s: filtering = none needs mapping = none: a NAT cannot forward what it "
			    "has no mapping for (use endpoint-independent)", ps->label);
	if ((nat_tcp_mapping(&b) == MAP_NONE) != (b.mapping == MAP_NONE))
		return fail(ps, l[NK_TCP_MAPPING], "%s: tcp-mapping = %s with mapping = %s: a router translates "
			    "both protocols or neither", ps->label, nat_mapping_long(nat_tcp_mapping(&b)),
			    nat_mapping_long(b.mapping));
	if (b.mapping != MAP_NONE && nat_tcp_filtering(&b) == FILTER_OPEN)
		return fail(ps, l[NK_TCP_FILTERING], "%s: tcp-filtering = none needs mapping = none: a NAT "
			    "cannot forward what it has no mapping for (use endpoint-independent)", ps->label);
	if (b.filtering == FILTER_OPEN && nat_tcp_filtering(&b) != FILTER_OPEN)
		return fail(ps, l[NK_TCP_FILTERING], "%s: an open router (filtering = open) with tcp-filtering = %s "
			    "is not built: make it a firewall (filtering) with tcp-filtering = open instead", ps->label,
			    nat_filtering_long(nat_tcp_filtering(&b)));
	if (!n->nat && l[NK_PORTS])
		return fail(ps, l[NK_PORTS], "%s: ports needs a translating NAT (mapping is none)",
			    ps->label);
	{
		/* The allocation keys, checked where they were written. */
		unsigned lo = b.port_min ? b.port_min : NAT_PORT_MIN_DEFAULT;
		unsigned hi = b.port_max ? b.port_max : NAT_PORT_MAX_DEFAULT;
		static const int akeys[] = { NK_PORT_RANGE, NK_PORT_STEP, NK_PORT_START, NK_BLOCK_SIZE };

		for (size_t i = 0; i < sizeof(akeys) / sizeof(akeys[0]); i++)
			if (!n->nat && l[akeys[i]])
				return fail(ps, l[akeys[i]], "%s: %s needs a translating NAT (mapping is none)",
					    ps->label, nat_keys[akeys[i]].name);
		if ((l[NK_PORT_STEP] || l[NK_PORT_START]) && b.ports != PORTS_SEQUENTIAL)
			return fail(ps, l[NK_PORT_STEP] ? l[NK_PORT_STEP] : l[NK_PORT_START],
				    "%s: port-step and port-start are for ports = sequential", ps->label);
		if (l[NK_BLOCK_SIZE] && b.ports != PORTS_BLOCK)
			return fail(ps, l[NK_BLOCK_SIZE], "%s: block-size is for ports = block", ps->label);
		if (b.port_step && b.port_step >= hi - lo + 1)
			return fail(ps, l[NK_PORT_STEP], "%s: port-step %u is not smaller than the port range "
				    "%u-%u", ps->label, b.port_step, lo, hi);
		if (b.port_start && (b.port_start < lo || b.port_start > hi))
			return fail(ps, l[NK_PORT_START], "%s: port-start %u is outside the port range %u-%u",
				    ps->label, b.port_start, lo, hi);
		if (b.block_size && b.block_size > hi - lo + 1)
			return fail(ps, l[NK_BLOCK_SIZE], "%s: block-size %u is larger than the port range %u-%u",
				    ps->label, b.block_size, lo, hi);
	}
	if (!n->nat && b.hairpin)
		return fail(ps, l[NK_HAIRPIN], "%s: hairpin needs a translating NAT (mapping is none)",
			    ps->label);
	if (!n->nat && l[NK_REBIND_AFTER])
		return fail(ps, l[NK_REBIND_AFTER], "%s: rebind-after needs a translating NAT (mapping is "
			    "none): a router without mappings has nothing to rebind", ps->label);
	if (n->rules_file && l[NK_REBIND_AFTER])
		return fail(ps, l[NK_REBIND_AFTER], "%s: rebind-after needs the generated ruleset: which sets "
			    "of your rules = FILE hold mappings is not known", ps->label);
	if (n->uplink_impair.jitter_ms > n->uplink_impair.delay_ms)
		return fail(ps, l[NK_JITTER], "%s: jitter must not exceed delay", ps->label);
	if (n->unchecked && !n->rules_file)
		return fail(ps, l[NK_SELF_CHECK], "%s: self-check = no is for a router with its own rules = FILE "
			    "(a generated ruleset always behaves as declared, and is checked)", ps->label);
	return 0;
}

/* ---- [peer NAME] ---- */

#define PEER(ps) (&(ps)->t->peers[(ps)->cur])
#define PAUX(ps) (&(ps)->peer_aux[(ps)->cur])

static int peer_behind(struct parser *ps, const char *v)
{
	return behind_key(ps, v, PAUX(ps));
}
static int peer_address(struct parser *ps, const char *v)
{
	return address_key(ps, "address", v, PEER(ps)->addr);
}
static int peer_keepalive(struct parser *ps, const char *v)
{
	return bool_key(ps, "keepalive", v, &PEER(ps)->keepalive);
}

static int peer_start_delay(struct parser *ps, const char *v)
{
	return duration_key(ps, "start-delay", v, 0, 3600 * 1000, &PEER(ps)->start_delay_ms);
}

static int peer_program(struct parser *ps, const char *v)
{
	return command_key(ps, "program", v, PH_ALL_MASK, &PEER(ps)->program);
}

static const struct key peer_keys[] = {
	[EK_BEHIND] = { "behind", peer_behind },
	[EK_ADDRESS] = { "address", peer_address },
	[EK_DELAY] = { "delay", impair_delay },
	[EK_JITTER] = { "jitter", impair_jitter },
	[EK_LOSS] = { "loss", impair_loss },
	[EK_KEEPALIVE] = { "keepalive", peer_keepalive },
	[EK_START_DELAY] = { "start-delay", peer_start_delay },
	[EK_PROGRAM] = { "program", peer_program },
	[EK_COUNT] = { NULL, NULL },
};

static int peer_finish(struct parser *ps)
{
	const int *l = PAUX(ps)->lines;

	if (!l[EK_BEHIND])
		return fail(ps, ps->sect_line, "%s: behind is required (internet or a [nat] name)",
			    ps->label);
	if (PEER(ps)->uplink_impair.jitter_ms > PEER(ps)->uplink_impair.delay_ms)
		return fail(ps, l[EK_JITTER], "%s: jitter must not exceed delay", ps->label);
	return 0;
}

/* ---- sections ---- */

static int lab_finish(struct parser *ps)
{
	if (ps->lab_lines[LK_EXPECT_WHY] && !ps->lab_lines[LK_EXPECT])
		return fail(ps, ps->lab_lines[LK_EXPECT_WHY],
			    "expect-why without expect: it explains an expect = override");
	return 0;
}

static int section_finish(struct parser *ps)
{
	switch (ps->sect) {
	case SECT_LAB:
		return lab_finish(ps);
	case SECT_NAT:
		return nat_finish(ps);
	case SECT_PEER:
		return peer_finish(ps);
	default:
		return 0;
	}
}

static bool name_taken(const struct parser *ps, const char *name, int *line)
{
	for (int i = 0; i < ps->t->n_nats; i++)
		if (strcmp(ps->t->nats[i].name, name) == 0)
			return *line = ps->t->nats[i].line, true;
	for (int i = 0; i < ps->t->n_peers; i++)
		if (strcmp(ps->t->peers[i].name, name) == 0)
			return *line = ps->t->peers[i].line, true;
	return false;
}

static int section_open_node(struct parser *ps, bool nat, const char *name)
{
	int line;

	if (iniread_name_check(name, TOPO_NAME_LEN) < 0)
		return BAD(ps, "bad name '%s': names are 1 to %d characters a-z, 0-9 and '-', "
			   "not starting with '-'", name, TOPO_NAME_LEN);
	if (strcmp(name, "internet") == 0)
		return BAD(ps, "'internet' is reserved (behind = internet); choose another name");
	if (name_taken(ps, name, &line))
		return BAD(ps, "the name '%s' is already used on line %d (names of [nat] and [peer] "
			   "sections must be unique)", name, line);
	if (nat) {
		struct topo_nat *n;

		if (ps->t->n_nats >= TOPO_MAX_NATS)
			return BAD(ps, "too many [nat] sections (at most %d)", TOPO_MAX_NATS);
		n = realloc(ps->t->nats, sizeof(*n) * (size_t)(ps->t->n_nats + 1));
		if (!n)
			return oom(ps);
		ps->t->nats = n;
		ps->cur = ps->t->n_nats++;
		n = &ps->t->nats[ps->cur];
		memset(n, 0, sizeof(*n));
		strcpy(n->name, name);
		n->line = ps->e.line;
		n->uplink = -1;
		ps->lines = ps->nat_aux[ps->cur].lines;
		ps->keys = nat_keys;
	} else {
		struct topo_peer *p;

		if (ps->t->n_peers >= 2)
			return BAD(ps, "a third [peer]: a topology has exactly two peers");
		p = realloc(ps->t->peers, sizeof(*p) * (size_t)(ps->t->n_peers + 1));
		if (!p)
			return oom(ps);
		ps->t->peers = p;
		ps->cur = ps->t->n_peers++;
		p = &ps->t->peers[ps->cur];
		memset(p, 0, sizeof(*p));
		strcpy(p->name, name);
		p->line = ps->e.line;
		p->behind = -1;
		ps->lines = ps->peer_aux[ps->cur].lines;
		ps->keys = peer_keys;
	}
	snprintf(ps->label, sizeof(ps->label), "[%s %.15s]", nat ? "nat" : "peer", name);
	return 0;
}

static int section_open_single(struct parser *ps, enum sect s, bool *seen, int *lines,
			       const struct key *keys, const char *type, const char *name)
{
	if (*name)
		return BAD(ps, "[%s] takes no name (found '%s')", type, name);
	if (*seen)
		return BAD(ps, "[%s] given twice", type);
	*seen = true;
	ps->sect = s;
	ps->lines = lines;
	ps->keys = keys;
	snprintf(ps->label, sizeof(ps->label), "[%s]", type);
	return 0;
}

/* A "[type name]" line. */
static int section_header(struct parser *ps, const struct iniread_section *sec)
{
	const char *type = sec->type, *name = sec->name;

	if (section_finish(ps) < 0)
		return -EINVAL;
	ps->sect = SECT_NONE;
	ps->sect_line = ps->e.line;
	if (strcmp(type, "lab") == 0)
		return section_open_single(ps, SECT_LAB, &ps->seen_lab, ps->lab_lines, lab_keys,
					   "lab", name);
	if (strcmp(type, "server") == 0)
		return section_open_single(ps, SECT_SERVER, &ps->seen_server, ps->server_lines,
					   server_keys, "server", name);
	if (strcmp(type, "programs") == 0)
		return section_open_single(ps, SECT_PROGRAMS, &ps->seen_programs,
					   ps->programs_lines, programs_keys, "programs", name);
	if (strcmp(type, "nat") == 0 || strcmp(type, "peer") == 0) {
		bool nat = type[0] == 'n';

		if (!*name)
			return BAD(ps, "[%s] needs a name: [%s NAME]", type, type);
		if (section_open_node(ps, nat, name) < 0)
			return -EINVAL;
		ps->sect = nat ? SECT_NAT : SECT_PEER;
		return 0;
	}
	return BAD(ps, "unknown section type '[%.*s]': expected [lab], [server], [programs], "
		   "[nat NAME] or [peer NAME]", sec->inner_len, sec->inner);
}

static int handler(void *user, const char *name, const char *value)
{
	struct parser *ps = user;
	int k;

	if (ps->e.failed)
		return 0;
	if (ps->sect == SECT_NONE) {
		BAD(ps, "'%s' outside of any section (start with [lab])", name);
		return 0;
	}
	for (k = 0; ps->keys[k].name; k++)
		if (strcmp(ps->keys[k].name, name) == 0)
			break;
	if (!ps->keys[k].name) {
		char known[256];
		size_t n = 0;

		known[0] = '\0';
		for (int i = 0; ps->keys[i].name && n < sizeof(known); i++)
			n += (size_t)snprintf(known + n, sizeof(known) - n, "%s%s", i ? ", " : "",
					      ps->keys[i].name);
		BAD(ps, "unknown key '%s' in %s (known: %s)", name, ps->label, known);
		return 0;
	}
	if (ps->lines[k]) {
		BAD(ps, "%s given twice in %s (first on line %d)", name, ps->label, ps->lines[k]);
		return 0;
	}
	ps->lines[k] = ps->e.line;
	if (!*value) {
		BAD(ps, "%s has an empty value (leave the key out for the default)", name);
		return 0;
	}
	return ps->keys[k].set(ps, value) == 0;
}



/* ---- whole-file checks ---- */

static int nat_index(const struct topo *t, const char *name)
{
	for (int i = 0; i < t->n_nats; i++)
		if (strcmp(t->nats[i].name, name) == 0)
			return i;
	return -1;
}

static int resolve_behind(struct parser *ps, const struct node_aux *a, int line_of_key,
			  int *out)
{
	char known[256] = "";
	size_t n = 0;

	if (!line_of_key || strcmp(a->behind, "internet") == 0) {
		*out = -1;
		return 0;
	}
	*out = nat_index(ps->t, a->behind);
	if (*out >= 0)
		return 0;
	for (int i = 0; i < ps->t->n_nats && n < sizeof(known); i++)
		n += (size_t)snprintf(known + n, sizeof(known) - n, ", %s", ps->t->nats[i].name);
	return fail(ps, line_of_key, "behind = %s: there is no [nat %s] (known: internet%s)",
		    a->behind, a->behind, known);
}

static int check_graph(struct parser *ps)
{
	struct topo *t = ps->t;

	for (int i = 0; i < t->n_nats; i++)
		if (resolve_behind(ps, &ps->nat_aux[i], ps->nat_aux[i].lines[NK_BEHIND],
				   &t->nats[i].uplink) < 0)
			return -EINVAL;
	for (int i = 0; i < t->n_peers; i++)
		if (resolve_behind(ps, &ps->peer_aux[i], ps->peer_aux[i].lines[EK_BEHIND],
				   &t->peers[i].behind) < 0)
			return -EINVAL;
	/* A chain longer than the number of NATs has gone round a cycle. */
	for (int i = 0; i < t->n_nats; i++) {
		int j = t->nats[i].uplink, steps = 0;

		while (j >= 0 && steps <= t->n_nats && j != i) {
			j = t->nats[j].uplink;
			steps++;
		}
		if (j == i)
			return fail(ps, ps->nat_aux[i].lines[NK_BEHIND],
				    "behind = %s makes a cycle: [nat %s] would sit behind itself",
				    ps->nat_aux[i].behind, t->nats[i].name);
	}
	if (t->n_peers != 2)
		return fail(ps, ps->e.line > 0 ? ps->e.line : 1,
			    "end of file: a topology needs exactly two [peer] sections, found %d",
			    t->n_peers);
	return 0;
}

/* transport and predict against the rest of [lab]. */
static int check_lab_client(struct parser *ps)
{
	const struct topo *t = ps->t;

	if (t->predict && t->mode == MODE_FIXED_PORT)
		return fail(ps, ps->lab_lines[LK_PREDICT], "predict needs the server's two addresses; "
			    "mode = fixed-port runs no server");
	if (t->predict && t->tcp)
		return fail(ps, ps->lab_lines[LK_PREDICT], "predict is for UDP; transport = tcp");
	if (t->predict && t->ipv6)
		return fail(ps, ps->lab_lines[LK_PREDICT], "predict is for IPv4 NATs; ipv6 = yes has none");
	if (ps->lab_lines[LK_PREDICT_PORTS] && !t->predict)
		return fail(ps, ps->lab_lines[LK_PREDICT_PORTS], "predict-ports without predict");
	if (ps->lab_lines[LK_PREDICT_RANGE] && !t->predict)
		return fail(ps, ps->lab_lines[LK_PREDICT_RANGE], "predict-range without predict");
	/* The model derives the birthday method's rate (outcome.h); a declared
	 * one would be a second, unchecked expectation. */
	if (t->predict == PREDICT_BIRTHDAY && ps->lab_lines[LK_EXPECT_RATE])
		return fail(ps, ps->lab_lines[LK_EXPECT_RATE], "expect-rate with predict = birthday: "
			    "the rate is derived from the birthday formula");
	return 0;
}

/* [programs]: the keys that only mean something with a program under test,
 * and a program for each peer once any peer has one. */
static int programs_finish(struct parser *ps)
{
	struct topo *t = ps->t;
	const int *l = ps->programs_lines;
	bool any = t->programs.client || t->peers[0].program || t->peers[1].program;

	if (!any && !t->programs.server) {
		static const int extra[] = { PK_SETUP, PK_CHECK, PK_SERVER_READY, PK_CLIENT_READY };

		for (size_t i = 0; i < sizeof(extra) / sizeof(extra[0]); i++)
			if (l[extra[i]])
				return fail(ps, l[extra[i]], "%s belongs to programs under test, but there are none: "
					    "give client (or server) in [programs]", programs_keys[extra[i]].name);
		return 0;
	}
	if (l[PK_SERVER_READY] && !t->programs.server)
		return fail(ps, l[PK_SERVER_READY], "server-ready without server: the built-in punch-server "
			    "says it is ready by itself");
	if (!any && (l[PK_CHECK] || l[PK_CLIENT_READY]))
		return fail(ps, l[PK_CHECK] ? l[PK_CHECK] : l[PK_CLIENT_READY], "%s without a client program: "
			    "give client in [programs]", l[PK_CHECK] ? "check" : "client-ready");
	for (int k = 0; any && k < 2; k++)
		if (!t->programs.client && !t->peers[k].program)
			return fail(ps, t->peers[k].line, "[peer %s] has no program, but [peer %s] has: give "
				    "client in [programs], or program in [peer %s]", t->peers[k].name,
				    t->peers[1 - k].name, t->peers[k].name);
	return 0;
}

static int check_lab(struct parser *ps)
{
	struct topo *t = ps->t;

	/* ipv6 = yes with a translating [nat]: a dual-stack router, NAT for IPv4
	 * and a stateful firewall with the same filtering for IPv6 (there is no
	 * IPv6 NAT); the pair meets over IPv6. */
	if (t->mode == MODE_FIXED_PORT) {
		if (ps->lab_lines[LK_RELAY] && t->relay)
			return fail(ps, ps->lab_lines[LK_RELAY], "relay = yes, but mode = fixed-port "
				    "runs no server, so there is no relay");
		if (t->programs.server)
			return fail(ps, ps->programs_lines[PK_SERVER], "mode = fixed-port runs no "
				    "server; remove server from [programs]");
		t->relay = false;
	}
	if (programs_finish(ps) < 0)
		return -EINVAL;
	if (t->punch_timeout_ms >= t->timeout_ms)
		return fail(ps, ps->lab_lines[LK_PUNCH_TIMEOUT] ? ps->lab_lines[LK_PUNCH_TIMEOUT]
			    : ps->lab_lines[LK_TIMEOUT], "punch-timeout (%ums) must be shorter than "
			    "timeout (%ums)", (unsigned)t->punch_timeout_ms, (unsigned)t->timeout_ms);
	for (int i = 0; i < t->n_peers; i++)
		if (t->peers[i].start_delay_ms >= t->timeout_ms)
			return fail(ps, ps->peer_aux[i].lines[EK_START_DELAY], "start-delay of [peer %s] "
				    "must be shorter than timeout (%ums)", t->peers[i].name,
				    (unsigned)t->timeout_ms);
	for (int i = 0; i < t->n_nats; i++) {
		const struct topo_nat *n = &t->nats[i];
		int line = ps->nat_aux[i].lines[NK_REBIND_AFTER];

		/* The rebind is timed from the pair's start: it must fall while
		 * the pair runs, after both peers have started. */
		if (n->rebind_after_ms && n->rebind_after_ms >= t->timeout_ms)
			return fail(ps, line, "rebind-after of [nat %s] (%ums) must be shorter than timeout "
				    "(%ums): the scenario ends before it", n->name, (unsigned)n->rebind_after_ms,
				    (unsigned)t->timeout_ms);
		for (int k = 0; n->rebind_after_ms && k < t->n_peers; k++)
			if (t->peers[k].start_delay_ms >= n->rebind_after_ms)
				return fail(ps, line, "rebind-after of [nat %s] (%ums) must be later than the "
					    "start-delay of [peer %s] (%ums)", n->name,
					    (unsigned)n->rebind_after_ms, t->peers[k].name,
					    (unsigned)t->peers[k].start_delay_ms);
	}
	return check_lab_client(ps);
}

/* An explicit host address, where it was given, for the duplicate check. */
struct host {
	struct cidr n;
	int line;
	int segment;            /* -1: the internet, else the index of the router whose lan */
	const char *text;
};

/* A host address inside the subnet it must sit on, and not its network or
 * broadcast address. where = "the internet (203.0.113.0/24)" etc. */
static int check_in(struct parser *ps, int line, const char *key, const char *addr,
		    const struct cidr *sub, const char *sub_text, const char *where)
{
	struct cidr a;

	ip_parse(addr, &a);
	if (!cidr_contains(sub, &a))
		return fail(ps, line, "%s = %s is not inside %s (%s)", key, addr, where, sub_text);
	if (net_is_edge(sub, &a, false) || (a.family == AF_INET && net_is_edge(sub, &a, true)))
		return fail(ps, line, "%s = %s is the %s address of %s", key, addr,
			    net_is_edge(sub, &a, false) ? "network" : "broadcast", sub_text);
	return 0;
}

static int check_addresses(struct parser *ps)
{
	struct topo *t = ps->t;
	const char *in4 = t->inet_subnet[0] ? t->inet_subnet : "203.0.113.0/24";
	const char *in6 = t->inet_subnet6[0] ? t->inet_subnet6 : "2001:db8::/64";
	struct cidr inet4, inet6, lans[TOPO_MAX_NATS];
	struct host hosts[2 + TOPO_MAX_NATS + 2];
	int nh = 0;

	cidr_parse(in4, 0, 0, &inet4);
	cidr_parse(in6, 0, 0, &inet6);
	for (int i = 0; i < t->n_nats; i++)
		if (t->nats[i].lan_subnet[0])
			cidr_parse(t->nats[i].lan_subnet, 0, 0, &lans[i]);

#define ON_INTERNET(line, key, addr) do { \
		struct cidr _a; \
		ip_parse((addr), &_a); \
		if (check_in(ps, (line), (key), (addr), _a.family == AF_INET ? &inet4 : &inet6, \
			     _a.family == AF_INET ? in4 : in6, "the internet") < 0) \
			return -EINVAL; \
	} while (0)

	if (t->server.addr[0]) {
		ON_INTERNET(ps->server_lines[SK_ADDRESS], "address", t->server.addr);
		hosts[nh++] = (struct host){ .line = ps->server_lines[SK_ADDRESS], .segment = -1,
					     .text = t->server.addr };
	}
	if (t->server.addr2[0]) {
		ON_INTERNET(ps->server_lines[SK_ADDRESS2], "address2", t->server.addr2);
		hosts[nh++] = (struct host){ .line = ps->server_lines[SK_ADDRESS2], .segment = -1,
					     .text = t->server.addr2 };
	}
	for (int i = 0; i < t->n_nats; i++) {
		struct topo_nat *n = &t->nats[i];
		const int *l = ps->nat_aux[i].lines;

		if (n->lan_subnet[0]) {
			const struct cidr *inet = lans[i].family == AF_INET ? &inet4 : &inet6;

			if (net_overlap(&lans[i], inet))
				return fail(ps, l[NK_LAN], "lan = %s overlaps the internet (%s)",
					    n->lan_subnet, lans[i].family == AF_INET ? in4 : in6);
			for (int u = n->uplink, steps = 0; u >= 0 && steps < t->n_nats;
			     u = t->nats[u].uplink, steps++)
				if (t->nats[u].lan_subnet[0] && net_overlap(&lans[i], &lans[u]))
					return fail(ps, l[NK_LAN], "lan = %s overlaps the lan of [nat %s] "
						    "(%s), which it sits behind", n->lan_subnet,
						    t->nats[u].name, t->nats[u].lan_subnet);
			/* Behind a firewall hosts are routed, so its lan must be unique. */
			for (int j = 0; j < i; j++)
				if (t->nats[j].lan_subnet[0] && (!n->nat || !t->nats[j].nat) &&
				    net_overlap(&lans[i], &lans[j]))
					return fail(ps, l[NK_LAN], "lan = %s overlaps the lan of [nat %s] "
						    "(%s), and routed (non-NAT) lans must be unique",
						    n->lan_subnet, t->nats[j].name, t->nats[j].lan_subnet);
		}
		if (!n->wan_addr[0])
			continue;
		if (n->uplink < 0) {
			ON_INTERNET(l[NK_WAN], "wan-address", n->wan_addr);
		} else {
			const struct topo_nat *u = &t->nats[n->uplink];
			char where[64];

			if (!u->lan_subnet[0])
				return fail(ps, l[NK_WAN], "wan-address = %s behind [nat %s] needs lan in "
					    "[nat %s] to be given too", n->wan_addr, u->name, u->name);
			snprintf(where, sizeof(where), "the lan of [nat %s]", u->name);
			if (check_in(ps, l[NK_WAN], "wan-address", n->wan_addr, &lans[n->uplink],
				     u->lan_subnet, where) < 0)
				return -EINVAL;
		}
		hosts[nh++] = (struct host){ .line = l[NK_WAN], .segment = n->uplink,
					     .text = n->wan_addr };
	}
	for (int i = 0; i < t->n_peers; i++) {
		struct topo_peer *p = &t->peers[i];
		int line = ps->peer_aux[i].lines[EK_ADDRESS];

		if (!p->addr[0])
			continue;
		if (p->behind < 0) {
			ON_INTERNET(line, "address", p->addr);
		} else {
			const struct topo_nat *u = &t->nats[p->behind];
			char where[64];

			if (!u->lan_subnet[0])
				return fail(ps, line, "address = %s behind [nat %s] needs lan in "
					    "[nat %s] to be given too", p->addr, u->name, u->name);
			snprintf(where, sizeof(where), "the lan of [nat %s]", u->name);
			if (check_in(ps, line, "address", p->addr, &lans[p->behind], u->lan_subnet,
				     where) < 0)
				return -EINVAL;
		}
		hosts[nh++] = (struct host){ .line = line, .segment = p->behind, .text = p->addr };
	}
#undef ON_INTERNET
	/* Two homes may well use the same private addresses (a classic trap for
	 * clients that try private endpoints first), so an address need only be
	 * unique on its own segment: the internet, or one router's lan. */
	for (int i = 0; i < nh; i++)
		ip_parse(hosts[i].text, &hosts[i].n);
	for (int i = 1; i < nh; i++)
		for (int j = 0; j < i; j++)
			if (hosts[i].segment == hosts[j].segment &&
			    hosts[i].n.family == hosts[j].n.family &&
			    memcmp(hosts[i].n.a, hosts[j].n.a, 16) == 0)
				return fail(ps, hosts[i].line, "address %s is already used on line %d, "
					    "on the same network", hosts[i].text, hosts[j].line);
	return 0;
}

/* The glue to iniread.c. */
static int on_section(void *user, const struct iniread_section *sec)
{
	return section_header(user, sec) < 0 ? -1 : 0;
}

/* The checks of the whole file, once it is read. */
static int on_finish(void *user)
{
	struct parser *ps = user;

	if (section_finish(ps) < 0 || check_graph(ps) < 0 || check_lab(ps) < 0 || check_addresses(ps) < 0)
		return -1;
	return 0;
}

/* ---- entry points ---- */

void topo_free(struct topo *t)
{
	if (!t)
		return;
	for (int i = 0; i < t->n_nats; i++)
		free(t->nats[i].rules_file);
	free(t->nats);
	for (int i = 0; i < t->n_peers; i++)
		free(t->peers[i].program);
	free(t->peers);
	free(t->programs.server);
	free(t->programs.client);
	free(t->programs.setup);
	free(t->programs.check);
	free(t->programs.server_ready.pattern);
	free(t->programs.client_ready.pattern);
	free(t->description);
	free(t->expect_why);
	free(t->path);
	free(t);
}

/* Before the first line: the model, with what a file may leave out. */
static int parser_init(void *state)
{
	struct parser *ps = state;
	const char *slash = strrchr(ps->e.name, '/');

	if (slash) {
		ps->dir = ps->e.name;
		ps->dirlen = slash == ps->e.name ? 1 : (size_t)(slash - ps->e.name);
	}
	ps->t = calloc(1, sizeof(*ps->t));
	if (!ps->t || !(ps->t->path = strdup(ps->e.name)))
		return oom(ps);
	ps->t->relay = true;
	ps->t->mode = MODE_RENDEZVOUS;
	/* A key left out of [lab] means what punch-client does when not told. */
	ps->t->timeout_ms = CLIENT_TIMEOUT_MS;
	ps->t->punch_timeout_ms = CLIENT_PUNCH_TIMEOUT_MS;
	ps->t->messages = CLIENT_MESSAGES;
	return 0;
}

static void parser_done(void *state)
{
	topo_free(((struct parser *)state)->t);
}

static const struct iniread_kind topo_kind = {
	.size = sizeof(struct parser), .result = offsetof(struct parser, t), .unnamed = "<topology>",
	.init = parser_init, .done = parser_done,
	.ops = { .section = on_section, .key = handler, .finish = on_finish },
};

int topo_parse_buffer(const char *name, const char *text, size_t len, struct topo **out,
		      char *err, size_t errsize)
{
	return iniread_text(&topo_kind, name, text, len, out, err, errsize);
}

int topo_parse_file(const char *path, struct topo **out, char *err, size_t errsize)
{
	return iniread_file(&topo_kind, path, TOPO_MAX_FILE, "topology", out, err, errsize);
}

/* ---- description ---- */

static void describe_impair(const struct impairment *im, FILE *out)
{
	char d[24], j[24];

	if (im->delay_ms) {
		fprintf(out, ", uplink delay %s", duration_fmt(im->delay_ms, d, sizeof(d)));
		if (im->jitter_ms)
			fprintf(out, " +/- %s", duration_fmt(im->jitter_ms, j, sizeof(j)));
	}
	if (im->loss_ppm) {
		unsigned frac = im->loss_ppm % 10000;
		int digits = 4;

		while (frac && frac % 10 == 0) {
			frac /= 10;
			digits--;
		}
		if (frac)
			fprintf(out, ", uplink loss %u.%0*u%%", (unsigned)(im->loss_ppm / 10000),
				digits, frac);
		else
			fprintf(out, ", uplink loss %u%%", (unsigned)(im->loss_ppm / 10000));
	}
}

static void describe_node(const struct topo *t, int nat, int depth, FILE *out)
{
	for (int i = 0; i < t->n_nats; i++) {
		const struct topo_nat *n = &t->nats[i];
		const struct nat_behavior *b = &n->behavior;
		char tmo[24];

		if (n->uplink != nat || depth > t->n_nats)
			continue;
		fprintf(out, "%*s%s %s", 2 * depth + 2, "", n->nat ? "nat" : "router", n->name);
		if (n->preset[0])
			fprintf(out, " (%s)", n->preset);
		fprintf(out, ": ");
		if (n->nat)
			fprintf(out, "mapping %s, filtering %s, ports %s, hairpin %s",
				nat_mapping_long(b->mapping), nat_filtering_long(b->filtering),
				nat_ports_name(b->ports), b->hairpin ? "yes" : "no");
		else if (b->filtering == FILTER_OPEN)
			fprintf(out, "no translation, no filtering (open router)");
		else
			fprintf(out, "no translation, filtering %s (firewall)",
				nat_filtering_long(b->filtering));
		if (b->udp_blocked)
			fprintf(out, ", all UDP blocked");
		/* the allocation and inbound-reply keys, when given */
		if (n->nat && b->port_min)
			fprintf(out, ", port-range %u-%u", b->port_min, b->port_max);
		if (n->nat && b->port_step)
			fprintf(out, ", port-step %u", b->port_step);
		if (n->nat && b->port_start)
			fprintf(out, ", port-start %u", b->port_start);
		if (n->nat && b->ports == PORTS_BLOCK)
			fprintf(out, ", block-size %u", b->block_size ? b->block_size : NAT_BLOCK_SIZE_DEFAULT);
		if (n->nat && b->inbound_reply != INBOUND_REPLY_SESSION)
			fprintf(out, ", inbound-reply %s", nat_inbound_reply_name(b->inbound_reply));
		if (b->icmp_unreachable)
			fprintf(out, ", unsolicited UDP answered with ICMP port unreachable");
		if (n->rebind_after_ms)
			fprintf(out, ", rebinds %s after the start", duration_fmt(n->rebind_after_ms, tmo, sizeof(tmo)));
		fprintf(out, ", UDP timeout %s", b->udp_timeout_ms ?
			duration_fmt(b->udp_timeout_ms, tmo, sizeof(tmo)) : "kernel default");
		/* TCP only where it was declared apart from UDP's */
		if (b->tcp_mapping_own || b->tcp_filtering_own)
			fprintf(out, ", TCP mapping %s, filtering %s", nat_mapping_long(nat_tcp_mapping(b)),
				nat_filtering_long(nat_tcp_filtering(b)));
		if (b->tcp_unsolicited != TCP_UNSOL_DROP)
			fprintf(out, ", unsolicited SYN answered with %s at once",
				b->tcp_unsolicited == TCP_UNSOL_RST ? "RST" : "ICMP port unreachable");
		if (b->tcp_timeout_ms)
			fprintf(out, ", TCP established timeout %s", duration_fmt(b->tcp_timeout_ms, tmo, sizeof(tmo)));
		if (b->tcp_transitory_ms)
			fprintf(out, ", TCP transitory timeout %s",
				duration_fmt(b->tcp_transitory_ms, tmo, sizeof(tmo)));
		fprintf(out, "; wan %s, lan %s", n->wan_addr[0] ? n->wan_addr : "auto",
			n->lan_subnet[0] ? n->lan_subnet : "auto");
		if (n->rules_file)
			fprintf(out, "; own ruleset %s", n->rules_file);
		describe_impair(&n->uplink_impair, out);
		fprintf(out, "\n");
		describe_node(t, i, depth + 1, out);
	}
	for (int i = 0; i < t->n_peers; i++) {
		const struct topo_peer *p = &t->peers[i];
		char sd[24];

		if (p->behind != nat)
			continue;
		fprintf(out, "%*speer %s: address %s", 2 * depth + 2, "", p->name,
			p->addr[0] ? p->addr : "auto");
		if (p->keepalive)
			fprintf(out, ", keepalive");
		if (p->start_delay_ms)
			fprintf(out, ", starts %s late", duration_fmt(p->start_delay_ms, sd, sizeof(sd)));
		describe_impair(&p->uplink_impair, out);
		fprintf(out, "\n");
	}
}

static bool impaired(const struct impairment *im)
{
	return im->delay_ms || im->jitter_ms || im->loss_ppm;
}

unsigned topo_predict_ports(const struct topo *t)
{
	if (!t->predict)
		return 0;
	if (t->predict_ports)
		return t->predict_ports;
	return t->predict == PREDICT_SEQUENTIAL ? CLIENT_PREDICT_SEQ_PORTS : CLIENT_PREDICT_BDAY_PORTS;
}

uint32_t topo_predict_ms(const struct topo *t)
{
	/* The client sends a pass of n probes at its rate and its budget is
	 * two passes (punch-client(1)); both must fit before it relays. */
	return (uint32_t)(2 * (((uint64_t)topo_predict_ports(t) * 1000 + CLIENT_PREDICT_RATE - 1) / CLIENT_PREDICT_RATE));
}

void topo_client_timeouts(const struct topo *t, uint32_t *punch_ms, uint32_t *limit_ms)
{
	bool quick = true;

	for (int i = 0; i < t->n_nats; i++)
		quick = quick && !impaired(&t->nats[i].uplink_impair);
	for (int k = 0; k < t->n_peers; k++)
		quick = quick && !impaired(&t->peers[k].uplink_impair) && !t->peers[k].start_delay_ms;
	*punch_ms = quick && !t->punch_timeout_set ? TOPO_LAB_PUNCH_MS + topo_predict_ms(t) : t->punch_timeout_ms;
	*limit_ms = quick && !t->timeout_set ? *punch_ms + TOPO_LAB_EXCHANGE_MS : t->timeout_ms;
	if (*limit_ms > t->timeout_ms)
		*limit_ms = t->timeout_ms;
}

int topo_describe(const struct topo *t, FILE *out)
{
	char a[24], b[24];
	uint32_t punch_ms, limit_ms;

	fprintf(out, "%s: %s\n", t->path ? t->path : "topology",
		t->description ? t->description : "(no description)");
	if (t->expect != OUTCOME_UNSET)
		fprintf(out, "  expect %s%s%s\n", topo_outcome_name(t->expect),
			t->expect_why ? ": " : "", t->expect_why ? t->expect_why : "");
	else
		fprintf(out, "  expect: derived from the behaviours\n");
	if (t->expect_rate > 0)
		fprintf(out, "  expect-rate %g: passes while the runs' 95%% Wilson interval reaches it\n",
			t->expect_rate);
	topo_client_timeouts(t, &punch_ms, &limit_ms);
	fprintf(out, "  mode %s, relay %s, timeout %s, punch-timeout %s%s, %u messages, %s\n",
		topo_mode_name(t->mode), t->relay ? "yes" : "no", duration_fmt(limit_ms, a, sizeof(a)),
		duration_fmt(punch_ms, b, sizeof(b)),
		punch_ms != t->punch_timeout_ms || limit_ms != t->timeout_ms ? " (the lab's: no delay or loss)" : "",
		(unsigned)t->messages, t->ipv6 ? "IPv6" : "IPv4");
	if (t->tcp || t->predict)
		fprintf(out, "  transport %s%s%s\n", t->tcp ? "tcp" : "udp",
			t->predict ? ", port prediction " : "", t->predict ? predict_method_name(t->predict) : "");
	if (t->programs.server || t->programs.client || t->peers[0].program || t->peers[1].program) {
		fprintf(out, "  programs: server %s; client %s\n",
			t->mode == MODE_FIXED_PORT ? "none (fixed-port)" :
			t->programs.server ? t->programs.server : "punch-server (built in)",
			t->programs.client ? t->programs.client : "per peer");
		for (int k = 0; k < t->n_peers; k++)
			if (t->peers[k].program)
				fprintf(out, "    %s runs: %s\n", t->peers[k].name, t->peers[k].program);
		if (t->programs.setup)
			fprintf(out, "    setup: %s\n", t->programs.setup);
		if (t->programs.check)
			fprintf(out, "    check: %s\n", t->programs.check);
	}
	fprintf(out, "  internet %s, %s\n", t->inet_subnet[0] ? t->inet_subnet : "203.0.113.0/24",
		t->inet_subnet6[0] ? t->inet_subnet6 : "2001:db8::/64");
	if (t->mode != MODE_FIXED_PORT)
		fprintf(out, "    server: address %s, second address %s\n",
			t->server.addr[0] ? t->server.addr : "auto",
			t->server.addr2[0] ? t->server.addr2 : "auto");
	describe_node(t, -1, 1, out);
	fflush(out);
	return ferror(out) ? -EIO : 0;
}
