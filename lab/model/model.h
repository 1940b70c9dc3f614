/* The topology model: what a topology file says, as plain values.
 *
 * Produced by the parser (topo.c), read by the planner, the NAT ruleset
 * generator and the expectation model. Holds no kernel state. One destructor:
 * topo_free() in topo.h frees the whole graph.
 */
#ifndef PUNCH_MODEL_H
#define PUNCH_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "nat/behavior.h"

#define MODEL_NAME_LEN 15 /* node names: [a-z0-9-], 1..15 chars (interface name limits) */
#define MODEL_NAME_MAX (MODEL_NAME_LEN + 1)

/* Link impairment on a node's uplink (netem). All zero: none. */
struct impairment {
	uint32_t delay_ms;
	uint32_t jitter_ms;
	uint32_t loss_ppm;      /* loss in parts per million (1% = 10000) */
};

enum outcome {
	OUTCOME_UNSET = 0,
	OUTCOME_DIRECT,
	OUTCOME_RELAYED,
	OUTCOME_FAILED,
};

/* How the clients find each other (the classic proofs of concept are modes). */
enum client_mode {
	MODE_RENDEZVOUS = 0,    /* through punch-server, endpoints as the server observed them */
	MODE_ADVERTISE_LOCAL,   /* through punch-server, but each client advertises its own local port */
	MODE_FIXED_PORT,        /* no server: both punch to the other's public address and a fixed port */
};

struct topo_nat {
	char name[MODEL_NAME_MAX];
	int line;               /* where the section starts, for messages */
	char preset[MODEL_NAME_MAX]; /* canonical preset name ("port-restricted"), "" when given by keys */
	struct nat_behavior behavior;
	bool nat;               /* translates addresses (false for firewall/open: hosts get routed public addresses) */
	int uplink;             /* index into topo.nats of the NAT this one sits behind, or -1: the internet */
	char *rules_file;       /* user's own ruleset (rules = FILE), resolved relative to the topology; NULL if none */
	char wan_addr[48];      /* "" = assign automatically */
	char lan_subnet[48];    /* "" = assign automatically */
	struct impairment uplink_impair;
	bool unchecked;         /* self-check = no: the user's rules do what no declaration can say */
	uint32_t rebind_after_ms; /* rebind-after: every mapping moves to a new port this long after
				   * the pair starts (as punchlab rebind does); 0 = never */
};

struct topo_peer {
	char name[MODEL_NAME_MAX];
	int line;
	int behind;             /* index into topo.nats, or -1: directly on the internet */
	char addr[48];          /* "" = assign automatically */
	struct impairment uplink_impair;
	bool keepalive;         /* send keepalives while idle (for mapping-timeout scenarios) */
	uint32_t start_delay_ms; /* start this peer later than the other (e.g. after a mapping expired) */
	char *program;          /* program = COMMAND: this peer's own program instead of [programs] client */
};

struct topo_server {
	char addr[48];          /* "" = assign automatically */
	char addr2[48];         /* second public address (behaviour probes); "" = automatic */
};

/* How a program under test says it is ready: a line of its stdout that
 * matches a pattern, or a socket bound to a port in its namespace. */
enum ready_kind {
	READY_NONE = 0,         /* not given: the default of its role */
	READY_STDOUT,           /* stdout REGEX (POSIX extended) */
	READY_PORT,             /* port [N][/udp|/tcp]: a UDP socket bound, or a TCP one listening */
};

struct topo_ready {
	enum ready_kind kind;
	char *pattern;          /* READY_STDOUT */
	uint16_t port;          /* READY_PORT; 0 = the program's own ({server_port}, {local_port}) */
	int proto;              /* READY_PORT: 0 either, 17 UDP, 6 TCP */
};

/* Programs under test; NULL = the built-in punch-server / punch-client.
 * Placeholders (model/placeholders.h) are expanded by the runner. */
struct topo_programs {
	char *server;
	char *client;
	char *setup;            /* run once in the work directory before the lab is built */
	char *check;            /* run in each peer once both are ready; its exit status is the verdict */
	struct topo_ready server_ready, client_ready;
};

struct topo {
	char *path;             /* the file it came from */
	char *description;
	enum outcome expect;    /* OUTCOME_UNSET = derive from the behaviours */
	int expect_line;        /* where expect was given, for messages (0: not given) */
	char *expect_why;       /* required when expect overrides a derived expectation */
	double expect_rate;     /* share of runs expected as expected (report/stats.h); 0: every run */
	enum client_mode mode;
	bool relay;             /* clients may fall back to the server's relay (default yes) */
	uint32_t timeout_ms;    /* scenario time limit (default 10 s) */
	uint32_t punch_timeout_ms; /* how long clients punch before relay fallback (default 3 s) */
	bool timeout_set, punch_timeout_set; /* given in the file (else the lab may pick its own: scenario.h) */
	uint32_t messages;      /* messages each client sends over the path (default 5) */
	bool ipv6;              /* run the pair over IPv6 (firewalls only: no IPv6 NAT) */
	char inet_subnet[48];   /* "" = 203.0.113.0/24 */
	char inet_subnet6[48];  /* "" = 2001:db8::/64 */
	bool tcp;               /* transport = tcp: the clients punch TCP (punch-client --tcp) */
	int predict;            /* predict = ...: an enum predict_method (client/predict.h), 0 = none */
	uint32_t predict_ports; /* predict-ports: 0 = the client's default */
	uint16_t predict_lo, predict_hi; /* predict-range: 0 = the client's default */
	struct topo_server server;
	struct topo_programs programs;
	struct topo_nat *nats;
	int n_nats;
	struct topo_peer *peers; /* exactly two for a scenario */
	int n_peers;
	uint64_t seed;          /* the run's seed (punchlab run --seed), not a key: each router's
				   port pool is drawn from nat_router_seed(seed, its name) */
};

#endif
