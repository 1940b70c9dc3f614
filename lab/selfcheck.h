/* The self-check: before a scenario runs, classify every router the lab
 * built with punch-probe (an RFC 5780-style behaviour test) and compare the
 * classification with the behaviour the topology declares for it.
 *
 * Where the probes run (plan.c places them):
 *  - the classifier on the router's probe host ("probe-NAME", on its LAN,
 *    two addresses: the second sends the hairpin test);
 *  - the probe server right outside the router: on the server node (its two
 *    public addresses) for a router on the internet, on the probe host of the
 *    router above for a router behind another one. So each router of a
 *    double NAT is classified on its own, not the pair as a whole.
 * Every router is classified at the same time: their probes share no router.
 * In an ipv6 = yes lab every router is classified over IPv4 and over IPv6.
 * A router with `self-check = no` (its own rules do what no declaration can
 * say) is not classified.
 *
 * The classification leaves state in the routers (NAT bindings, learned maps,
 * port counters); lab_reset_routers() removes it before the pair runs.
 *
 * selfcheck_run() is the thin shell; the argument building and the reading
 * of punch-probe's report are pure and unit-tested. */
#ifndef PUNCH_SELFCHECK_H
#define PUNCH_SELFCHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/model.h"
#include "model/plan.h"
#include "report/result.h"

#define SELFCHECK_PORT 3479  /* probe server ports: next to the rendezvous server's 3478 */
#define SELFCHECK_PORT2 3480
#define SELFCHECK_LOCAL_PORT 61000 /* the classifier's mapping socket: no peer uses it */
#define SELFCHECK_ABSENT_MS 1500 /* an answer still missing after this (and 5 requests) is "filtered" */
/* The short wait of a lab without delay or loss, where an answer is there
 * within a millisecond or dropped by the router: what is still missing after
 * it counts only when the router's drop counters account for every request
 * (selfcheck_fast_proven()); otherwise the router is classified again with
 * SELFCHECK_ABSENT_MS. */
#define SELFCHECK_FAST_MS 200
#define SELFCHECK_FAST_TRIES 4

/* Unsolicited UDP (unsolicited = drop | icmp-unreachable): seen from
 * outside, where an ICMP error goes, by punch-probe knock from the router's
 * probe server node to the router's external address, at a port no mapping
 * holds, before the classifier (beside it where the router has only the long
 * wait: a lab with loss or delay, a router with its own rules; neither
 * disturbs the other, and each has a long wait of its own to overlap). A
 * short knock first where the lab has
 * neither delay nor loss: its ICMP error is positive evidence; its silence
 * counts only from a router declared silent (an ICMP error merely late would
 * look the same), and only when the router's drop counters, read for the
 * classifier's own short wait, account for every knock too
 * (selfcheck_fast_proven() with the knocks' datagrams left out); otherwise
 * a knock with SELFCHECK_ABSENT_MS, whose silence is the answer. */
#define SELFCHECK_KNOCK_FAST_MS 50
#define SELFCHECK_KNOCK_FAST_TRIES 2

/* What a router did with a knock. */
enum selfcheck_unsolicited {
	SELFCHECK_UNSOL_DROP = 0,       /* nothing came back */
	SELFCHECK_UNSOL_ICMP,           /* ICMP port unreachable */
	SELFCHECK_UNSOL_ANSWERED,       /* a datagram came back: the port was mapped after all */
	SELFCHECK_UNSOL_RST,            /* TCP: a reset came back */
};

/* TCP (RFC 5382): where a router's TCP behaviour is in question (the lab's
 * transport is tcp, or the router declares tcp-mapping, tcp-filtering or a
 * tcp-unsolicited other than drop), punch-probe knock --tcp from the same
 * place as the UDP knock, after the classifier: an unsolicited SYN, whose
 * RST or ICMP error counts at once and whose silence counts when the
 * router's tcp_unsolicited_in counter rose by it and the router's rule drops
 * (tcp-unsolicited = drop); otherwise a knock with SELFCHECK_ABSENT_MS (the
 * kernel sends the SYN again after 1 s). Before the knock, TCP's mapping and
 * filtering: punch-probe tcp-classify on the probe host against the probe
 * server (started with --tcp then), from local ports SELFCHECK_TCP_LOCAL_PORT
 * and the next (two more on a second try); with the short wait where the lab
 * has neither delay nor loss, whose connect-backs that did not get in count
 * only when the router's tcp_unsolicited_in rose by exactly as many meanwhile
 * (each met the router's unsolicited-SYN rule; none was merely late), else
 * again with the long wait. A UDP-only lab's other routers get no TCP probe. */
#define SELFCHECK_TCP_KNOCK_FAST_MS 50
#define SELFCHECK_TCP_LOCAL_PORT 61010

struct lab;

struct selfcheck_nat {
	int nat;                /* index into topo.nats */
	int family;             /* 4, or 6: the same router again over IPv6 (ipv6 = yes labs) */
	bool checked;           /* false: not classified (self-check = no, or no room for a probe host: why) */
	bool match;             /* the network behaves as declared */
	char declared[96];      /* "eim apdf preserve hairpin=no", "firewall adf", "udp-blocked" */
	char observed[96];      /* the same words, "unknown" where the probe could not tell */
	char differs[384];      /* "mapping declared eim, observed apdm; ..." or "" */
	char why[256];          /* not checked, or the probe failed: what happened */
	char *report;           /* punch-probe's JSON report, or NULL */
	struct result_behavior declared_b; /* the same as values */
	struct result_behavior observed_b; /* valid when observed_valid */
	bool observed_valid;
	int unsolicited;        /* enum selfcheck_unsolicited observed, or -1: not knocked */
	int tcp_unsolicited;    /* what an unsolicited SYN got (enum selfcheck_unsolicited), or -1: not knocked */
	bool tcp_valid;         /* tcp-classify's report was read: tcp_mapping, tcp_filtering */
	int tcp_mapping;        /* enum nat_mapping observed for TCP, or -1: unknown */
	int tcp_filtering;      /* enum nat_filtering observed for TCP, or -1: unknown */
};

struct selfcheck {
	struct selfcheck_nat *nats;
	int n;                  /* topo.n_nats, twice that with ipv6 = yes: [n_nats + i] is router i over IPv6 */
	int elapsed_ms;
};

/* One router's declared behaviour in the words punch-probe uses: fills
 * out[0..n) with "--expect-..." arguments (at most 9 strings, static) and
 * returns n. */
int selfcheck_expect_args(const struct topo_nat *nat, const char *out[9]);
/* The declared behaviour as "eim apdf preserve hairpin=no" into buf. */
void selfcheck_describe_declared(const struct topo_nat *nat, char *buf, size_t size);

/* The declared behaviour as values (what selfcheck_describe_declared says). */
void selfcheck_declared(const struct topo_nat *nat, struct result_behavior *out);

/* Read punch-probe's JSON report (one object) into e: observed, match,
 * differs. Returns 0, or -EBADMSG (with e->why set) when it is not a report. */
int selfcheck_read_report(const char *json, struct selfcheck_nat *e);

/* Does a classification made with the short wait stand on evidence? json is
 * punch-probe's report, dropped the UDP packets its router counted as
 * dropped (udp_dropped_in + udp_dropped_out, nat.h). True when every request
 * of an unanswered question is one of those drops ("absent_requests" equals
 * dropped: no answer was merely late) and the hairpin packet came back
 * hairpinned or refused by ICMP (no counter sees it). */
bool selfcheck_fast_proven(const char *json, uint64_t dropped);

/* Read punch-probe knock's JSON report ({"to":..,"answer":"silent" |
 * "refused" | "answered" | "reset" (--tcp),"sent":N}) into *out and *sent. Returns 0 or
 * -EBADMSG. */
int selfcheck_read_knock(const char *json, enum selfcheck_unsolicited *out, int *sent);

/* What a short knock's answer is worth: final (an ICMP error, or an
 * answer), to be proven with the classifier's counts (silence from a router
 * declared silent), or to be knocked again with the long wait (silence from
 * a router declared to refuse: the ICMP error may only be late). */
enum selfcheck_knock_next {
	SELFCHECK_KNOCK_FINAL = 0,
	SELFCHECK_KNOCK_COUNTS,
	SELFCHECK_KNOCK_AGAIN,
};
enum selfcheck_knock_next selfcheck_knock_next(enum selfcheck_unsolicited seen, bool declared_icmp);

/* Compare what the knock showed with the declaration: the observed words get
 * " unsolicited=icmp-unreachable" (or "=answered") where not silent, a
 * difference clears e->match and is added to e->differs as
 * "unsolicited declared X, observed Y". */
void selfcheck_note_unsolicited(struct selfcheck_nat *e, bool declared_icmp, enum selfcheck_unsolicited seen);

/* Is router nat's TCP behaviour checked (see SELFCHECK_TCP_KNOCK_FAST_MS)?
 * tcp: the lab's transport is tcp. */
bool selfcheck_tcp_wanted(const struct topo_nat *nat, bool tcp);

/* What a short TCP knock's answer is worth: final (a RST, an ICMP error, an
 * accepted connection, or silence from a router whose rule drops the SYN and
 * whose tcp_unsolicited_in counter rose by `counted` >= 1 meanwhile), else to
 * be knocked again with the long wait. */
enum selfcheck_knock_next selfcheck_tcp_knock_next(enum selfcheck_unsolicited seen, int declared, uint64_t counted);

/* Read punch-probe tcp-classify's JSON report ({"transport":"tcp","nat":..,
 * "mapping":..,"filtering":..,"absent_backs":N,"match":..,"mismatches":[..]})
 * into e: tcp_mapping, tcp_filtering, " tcp=MAPPING/FILTERING" (a router that
 * does not translate: " tcp=FILTERING") added to e->observed, and declared
 * (the same words) to e->declared, each mismatch added to e->differs and
 * clearing e->match; *absent the connect-backs that did not get in. Returns
 * 0, or -EBADMSG (e->why set) when it is not such a report. */
int selfcheck_read_tcp_report(const char *json, const char *declared, struct selfcheck_nat *e, int *absent);

/* Compare what the TCP knock showed with the declared tcp-unsolicited
 * (enum nat_tcp_unsolicited): " tcp=drop|rst|icmp|answered" goes to the
 * observed words (and the declared word to e->declared; "/WORD" after a
 * " tcp=" the TCP classifier wrote), a difference clears
 * e->match and is added to e->differs as "tcp-unsolicited declared X,
 * observed Y". */
void selfcheck_note_tcp_unsolicited(struct selfcheck_nat *e, int declared, enum selfcheck_unsolicited seen);

/* Classify every router of lab l (built from t as p) with the programs in
 * bindir. Returns 0 and *out (free with selfcheck_free) when every router
 * could be classified or skipped; a router that does not behave as declared
 * is a result (match false), not an error. -errno with err set when the
 * probes could not be run at all. */
int selfcheck_run(const struct topo *t, const struct plan *p, struct lab *l, const char *bindir, bool verbose,
		  struct selfcheck **out, char *err, size_t errsize);
/* The same, with long_wait: every router with the long wait only, as before
 * the short one existed (for tests/bench/bench_selfcheck.c's baseline). */
int selfcheck_run_wait(const struct topo *t, const struct plan *p, struct lab *l, const char *bindir, bool verbose,
		       bool long_wait, struct selfcheck **out, char *err, size_t errsize);
void selfcheck_free(struct selfcheck *sc);

/* The self-check as data into r->routers (r->selfcheck_ran set): one record
 * per entry of sc. Returns 0 or -ENOMEM. */
int selfcheck_to_result(const struct topo *t, const struct selfcheck *sc, struct result *r);

/* Every mismatch and probe failure as "router NAME: ..." lines (malloc'd),
 * or NULL when every checked router behaves as declared. */
char *selfcheck_refusal(const struct topo *t, const struct selfcheck *sc);

#endif
