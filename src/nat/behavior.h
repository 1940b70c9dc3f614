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
};

/* The whole behaviour of one NAT or firewall. Presets are expressed in these terms. */
struct nat_behavior {
	enum nat_mapping mapping;
	enum nat_filtering filtering;
	enum nat_ports ports;
	bool hairpin;           /* RFC 4787 REQ-9: internal hosts reach each other via the external address */
	bool udp_blocked;       /* drop all forwarded UDP (overrides mapping/filtering for UDP) */
	uint32_t udp_timeout_ms; /* mapping lifetime; 0 = kernel default (30 s unreplied, 120 s replied) */
};

/* Short names: "none" "eim" "adm" "apdm"; "open" "eif" "adf" "apdf";
 * "preserve" "random" "sequential". NULL for a value out of range. */
const char *nat_mapping_name(enum nat_mapping m);
const char *nat_filtering_name(enum nat_filtering f);
const char *nat_ports_name(enum nat_ports p);

/* Long names, the RFC's words: "none" "endpoint-independent" "address-dependent"
 * "address-and-port-dependent" (mapping and filtering alike, filtering's first
 * being "open"); ports have one name. "?" for a value out of range. */
const char *nat_mapping_long(enum nat_mapping m);
const char *nat_filtering_long(enum nat_filtering f);

/* The value of a short or long name (case-insensitive), or -1 for none of them. */
int nat_mapping_parse(const char *s);
int nat_filtering_parse(const char *s);
int nat_ports_parse(const char *s);

#endif
