/* Expectations as data: the outcome a pair of peers should reach, derived
 * from what the topology declares, not written by hand.
 *
 * The rule is a small simulation of the punching protocol over the declared
 * RFC 4787 behaviours (see topologies/README.md, "How the expected outcome is
 * derived"): both peers register with the server through their chains of
 * routers, learn the other's endpoint as the server observed it (or their own
 * local port in advertise-local mode, or a fixed port in fixed-port mode),
 * then probe every candidate (public and private) for several rounds,
 * answering each probe to the address it came from and, like punch-client,
 * adding that address to their candidates. Each router applies its mapping
 * (endpoint-independent, address-dependent, address-and-port-dependent; ports
 * preserved or not), its filtering, hairpinning and UDP blocking.
 *
 * The rules, in words. RFC 4787 section 4.1: an outbound packet uses the
 * mapping of its internal endpoint (EIM), of its internal endpoint and
 * destination address (ADM) or destination address and port (APDM); a new
 * mapping keeps the internal port when preserving and it is free, else takes
 * a new one. Section 5, applied to the mapping a packet arrives on: EIF
 * admits anything, ADF what comes from an address that mapping has sent to,
 * APDF from an address and port it has sent to. Every packet that passed
 * makes a session, which carries later packets of the same flow both ways.
 * Added to the RFC, declared per NAT (inbound-reply): a reply to an admitted
 * inbound packet leaves from the mapping it arrived on, the newest session
 * winning ("session"), or from the mapping any outbound packet to that
 * destination would use ("new-mapping"). tests/unit/test_outcome.c holds the
 * resulting table for every pair of the nine mapping x filtering NATs under
 * both rules, each cell with its reasoning.
 *
 * TCP (transport = tcp, RFC 5382): the same rules over each router's TCP
 * mapping and filtering (tcp-mapping, tcp-filtering; UDP's unless declared),
 * with a SYN as the probe and its SYN-ACK as the answer; outcome_tcp() below.
 *
 * A router with its own ruleset (rules = FILE) is taken at its declared
 * behaviour. The outcome is direct when each peer has both received a probe and had a
 * probe answered on the same remote address; otherwise relayed when both can
 * reach the server over UDP and relaying is allowed; otherwise failed.
 */
#ifndef PUNCH_OUTCOME_H
#define PUNCH_OUTCOME_H

#include <stdbool.h>
#include <stddef.h>

#include "model/model.h"
#include "model/plan.h"

/* What the client under test can do (punch-client can all of these). */
struct outcome_abilities {
	bool learn;     /* answers and probes a partner whose packets arrive from an unexpected address */
	bool privates;  /* also probes the partner's private endpoints */
	bool tcp_retry; /* transport = tcp: connects again after its SYN was refused (RST, ICMP) */
};

/* The built-in punch-client's abilities. */
extern const struct outcome_abilities outcome_punch_client;

/* Derive the expected outcome of the pair in t (built as p). why receives a
 * one-line reason ("alice's symmetric NAT maps per destination and bob's
 * port-restricted cone only accepts the endpoint it sent to"). Returns 0, or
 * -EINVAL when the topology is outside what the rule models (then why says what). */
int outcome_derive(const struct topo *t, const struct plan *p, const struct outcome_abilities *ab,
		  enum outcome *out, char *why, size_t whysize);

/* outcome_derive(), and in *rate the share of runs expected to end so: 1
 * for every outcome but a direct one through predict = birthday, whose
 * chance is outcome_birthday_p() of the topology's numbers (outcome.c says
 * how it follows from what the client and the lab's NAT do). */
int outcome_derive_rate(const struct topo *t, const struct plan *p, const struct outcome_abilities *ab,
			enum outcome *out, double *rate, char *why, size_t whysize);

/* The share of t's runs that must end as expected (report/stats.h): its
 * expect-rate, else the derived rate of predict = birthday when below 1
 * and expect (if given) is the derived outcome; 0 (every run) otherwise,
 * including a topology the model cannot derive (the run reports why). */
double outcome_topo_rate(const struct topo *t);

/* The birthday method's chance (punch-client --predict birthday): the easy
 * side aims at n distinct ports drawn uniformly from c_lo..c_hi, the hard
 * NAT's m mappings towards it are m distinct ports drawn uniformly from
 * r_lo..r_hi; the chance that a port is in both. Exact (hypergeometric, see
 * outcome.c); with equal ranges 1 - C(r - m, n) / C(r, n). 0 when n or m
 * is 0 or the ranges do not overlap. */
double outcome_birthday_p(unsigned n, unsigned m, unsigned c_lo, unsigned c_hi, unsigned r_lo, unsigned r_hi);

#endif
