/* The NAT behaviour vocabulary: RFC 4787's mapping, filtering and port
 * allocation behaviours as values, and the one name table that spells them.
 *
 * Shared by every layer that speaks of a NAT's behaviour: the topology
 * parser and the ruleset generator (lab/model), the classifier
 * (src/probe) and the reports. Pure: no I/O.
 *
 * Each value has a short name, used on command lines, in JSON and in file
 * names ("eim", "apdf", "random"), and a long name, the RFC's words, used in
 * topology files and in sentences ("endpoint-independent"). The parsers
 * accept both; filtering also accepts "none" for "open".
 */
#ifndef PUNCH_NAT_BEHAVIOR_H
#define PUNCH_NAT_BEHAVIOR_H

#include <stdbool.h>
#include <stdint.h>

/* RFC 4787 mapping behaviour (section 4.1). */
enum nat_mapping {
	MAP_NONE = 0,       /* no translation: an outbound-only firewall or an open router */
	MAP_EIM,            /* endpoint-independent */
	MAP_ADM,            /* address-dependent */
	MAP_APDM,           /* address-and-port-dependent ("symmetric") */
};

/* RFC 4787 filtering behaviour (section 5). */
enum nat_filtering {
	FILTER_OPEN = 0,    /* nothing filtered (no firewall at all) */
	FILTER_EIF,         /* endpoint-independent ("full cone") */
	FILTER_ADF,         /* address-dependent ("restricted cone") */
	FILTER_APDF,        /* address-and-port-dependent ("port-restricted") */
};

/* RFC 4787 section 4.2: how external ports are chosen. */
enum nat_ports {
	PORTS_PRESERVE = 0, /* keep the internal port when free (Linux masquerade default) */
	PORTS_RANDOM,       /* a random port per mapping */
	PORTS_SEQUENTIAL,   /* the next free port of a range */
	PORTS_BLOCK,        /* RFC 7422: each subscriber (internal address) a block, random within it */
};

/* Which mapping a reply to an admitted inbound packet leaves from. RFC 4787
 * does not say; NATs that keep sessions answer on the session the packet
 * arrived on (the newest one winning), per-destination mapping tables make a
 * mapping for the destination as for any outbound packet. */
enum nat_inbound_reply {
	INBOUND_REPLY_SESSION = 0, /* from the mapping the packet arrived on, newest session wins */
	INBOUND_REPLY_NEW_MAPPING, /* from the mapping towards the sender, made as for any packet */
};

/* RFC 5382 section 5 (REQ-4): what a NAT or firewall does with an
 * unsolicited inbound SYN (one that no mapping and no filtering admits). */
enum nat_tcp_unsolicited {
	TCP_UNSOL_DROP = 0, /* silently (REQ-4a; Linux's default) */
	TCP_UNSOL_RST,      /* a TCP reset at once: not conformant (REQ-4: nothing for 6 s) */
	TCP_UNSOL_ICMP,     /* ICMP port unreachable at once: not conformant either (REQ-4
			       allows it only after 6 s without an outbound SYN) */
};

/* Default external port range: every port above the well-known ones. */
#define NAT_PORT_MIN_DEFAULT 1024
#define NAT_PORT_MAX_DEFAULT 65535

/* The whole behaviour of one NAT or firewall. Presets are expressed in these terms. */
struct nat_behavior {
	enum nat_mapping mapping;
	enum nat_filtering filtering;
	enum nat_ports ports;
	bool hairpin;           /* RFC 4787 REQ-9: internal hosts reach each other via the external address */
	bool udp_blocked;       /* drop all forwarded UDP (overrides mapping/filtering for UDP) */
	uint32_t udp_timeout_ms; /* mapping lifetime; 0 = kernel default (30 s unreplied, 120 s replied) */
	uint16_t port_min;      /* external port range (port-range = LOW-HIGH); 0, 0: the defaults above */
	uint16_t port_max;
	uint16_t port_step;     /* sequential: distance between consecutive ports; 0: 1 */
	uint16_t port_start;    /* sequential: the first port; 0: a port drawn from the seed */
	uint16_t block_size;    /* ports = block: ports per subscriber; 0: NAT_BLOCK_SIZE_DEFAULT */
	enum nat_inbound_reply inbound_reply;
	bool icmp_unreachable;  /* answer unsolicited UDP from outside with ICMP port unreachable
				   instead of dropping it silently */
	/* TCP (RFC 5382). Mapping and filtering are UDP's unless declared apart. */
	bool tcp_mapping_own;   /* tcp_mapping was declared (tcp-mapping); else = mapping */
	enum nat_mapping tcp_mapping;
	bool tcp_filtering_own; /* tcp_filtering was declared (tcp-filtering); else = filtering */
	enum nat_filtering tcp_filtering;
	enum nat_tcp_unsolicited tcp_unsolicited;
	uint32_t tcp_timeout_ms; /* established idle timeout; 0 = kernel default (5 days) */
	uint32_t tcp_transitory_ms; /* SYN sent/received and closing states; 0 = kernel defaults */
};

/* The TCP mapping and filtering in effect: the declared TCP ones, else UDP's. */
enum nat_mapping nat_tcp_mapping(const struct nat_behavior *b);
enum nat_filtering nat_tcp_filtering(const struct nat_behavior *b);

/* RFC 7422's examples use blocks of a few hundred to a few thousand ports. */
#define NAT_BLOCK_SIZE_DEFAULT 512

/* Short names: "none" "eim" "adm" "apdm"; "open" "eif" "adf" "apdf";
 * "preserve" "random" "sequential". NULL for a value out of range. */
const char *nat_mapping_name(enum nat_mapping m);
const char *nat_filtering_name(enum nat_filtering f);
const char *nat_ports_name(enum nat_ports p);
/* "session" "new-mapping"; NULL for a value out of range. */
const char *nat_inbound_reply_name(enum nat_inbound_reply r);
/* "drop" "rst" "icmp"; NULL for a value out of range. */
const char *nat_tcp_unsolicited_name(enum nat_tcp_unsolicited u);

/* Long names, the RFC's words: "none" "endpoint-independent" "address-dependent"
 * "address-and-port-dependent" (mapping and filtering alike, filtering's first
 * being "open"); ports have one name. "?" for a value out of range. */
const char *nat_mapping_long(enum nat_mapping m);
const char *nat_filtering_long(enum nat_filtering f);

/* The value of a short or long name (case-insensitive), or -1 for none of them. */
int nat_mapping_parse(const char *s);
int nat_filtering_parse(const char *s);
int nat_ports_parse(const char *s);
int nat_inbound_reply_parse(const char *s);
int nat_tcp_unsolicited_parse(const char *s);

#endif
