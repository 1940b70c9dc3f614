/* The NAT behaviour vocabulary's one name table. See behavior.h. */
#include "nat/behavior.h"

#include <stddef.h>
#include <strings.h>

struct spelling {
	const char *name;  /* short */
	const char *lng;   /* long, the RFC's words */
	const char *alias; /* accepted when parsing, never written; NULL: none */
};

static const struct spelling mappings[] = {
	[MAP_NONE] = { "none", "none", NULL },
	[MAP_EIM] = { "eim", "endpoint-independent", NULL },
	[MAP_ADM] = { "adm", "address-dependent", NULL },
	[MAP_APDM] = { "apdm", "address-and-port-dependent", NULL },
};

static const struct spelling filterings[] = {
	[FILTER_OPEN] = { "open", "open", "none" },
	[FILTER_EIF] = { "eif", "endpoint-independent", NULL },
	[FILTER_ADF] = { "adf", "address-dependent", NULL },
	[FILTER_APDF] = { "apdf", "address-and-port-dependent", NULL },
};

static const struct spelling ports[] = {
	[PORTS_PRESERVE] = { "preserve", "preserve", NULL },
	[PORTS_RANDOM] = { "random", "random", NULL },
	[PORTS_SEQUENTIAL] = { "sequential", "sequential", NULL },
	[PORTS_BLOCK] = { "block", "block", NULL },
};

static const struct spelling inbound_replies[] = {
	[INBOUND_REPLY_SESSION] = { "session", "session", NULL },
	[INBOUND_REPLY_NEW_MAPPING] = { "new-mapping", "new-mapping", NULL },
};

static const struct spelling tcp_unsolicited[] = {
	[TCP_UNSOL_DROP] = { "drop", "drop", NULL },
	[TCP_UNSOL_RST] = { "rst", "rst", NULL },
	[TCP_UNSOL_ICMP] = { "icmp", "icmp", NULL },
};

#define COUNT(t) (sizeof(t) / sizeof((t)[0]))

static const struct spelling *spelling_of(const struct spelling *t, size_t n, int v)
{
	return v >= 0 && (size_t)v < n ? &t[v] : NULL;
}

static int spelling_parse(const struct spelling *t, size_t n, const char *s)
{
	if (!s)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (strcasecmp(s, t[i].name) == 0 || strcasecmp(s, t[i].lng) == 0 ||
		    (t[i].alias && strcasecmp(s, t[i].alias) == 0))
			return (int)i;
	return -1;
}

#define NAME(t, v) (spelling_of(t, COUNT(t), (int)(v)) ? t[(int)(v)].name : NULL)
#define LONG(t, v) (spelling_of(t, COUNT(t), (int)(v)) ? t[(int)(v)].lng : "?")

const char *nat_mapping_name(enum nat_mapping m) { return NAME(mappings, m); }
const char *nat_filtering_name(enum nat_filtering f) { return NAME(filterings, f); }
const char *nat_ports_name(enum nat_ports p) { return NAME(ports, p); }
const char *nat_inbound_reply_name(enum nat_inbound_reply r) { return NAME(inbound_replies, r); }
const char *nat_mapping_long(enum nat_mapping m) { return LONG(mappings, m); }
const char *nat_filtering_long(enum nat_filtering f) { return LONG(filterings, f); }
int nat_mapping_parse(const char *s) { return spelling_parse(mappings, COUNT(mappings), s); }
int nat_filtering_parse(const char *s) { return spelling_parse(filterings, COUNT(filterings), s); }
int nat_ports_parse(const char *s) { return spelling_parse(ports, COUNT(ports), s); }
int nat_inbound_reply_parse(const char *s) { return spelling_parse(inbound_replies, COUNT(inbound_replies), s); }
const char *nat_tcp_unsolicited_name(enum nat_tcp_unsolicited u) { return NAME(tcp_unsolicited, u); }
int nat_tcp_unsolicited_parse(const char *s) { return spelling_parse(tcp_unsolicited, COUNT(tcp_unsolicited), s); }

enum nat_mapping nat_tcp_mapping(const struct nat_behavior *b)
{
	return b->tcp_mapping_own ? b->tcp_mapping : b->mapping;
}

enum nat_filtering nat_tcp_filtering(const struct nat_behavior *b)
{
	return b->tcp_filtering_own ? b->tcp_filtering : b->filtering;
}
