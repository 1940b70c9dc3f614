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
};

/* The built-in punch-client's abilities. */
extern const struct outcome_abilities outcome_punch_client;

/* Derive the expected outcome of the pair in t (built as p). why receives a
 * one-line reason ("alice's symmetric NAT maps per destination and bob's
 * port-restricted cone only accepts the endpoint it sent to"). Returns 0, or
 * -EINVAL when the topology is outside what the rule models (then why says what). */
int outcome_derive(const struct topo *t, const struct plan *p, const struct outcome_abilities *ab,
		  enum outcome *out, char *why, size_t whysize);

#endif
