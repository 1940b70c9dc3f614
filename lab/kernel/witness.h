/* The network as a witness: the evidence rulesets (model/evidence.h) loaded
 * into the peers' and routers' namespaces of a lab, read back after the pair
 * ran, and turned into a verdict with its evidence.
 *
 * Two calls around a run: witness_arm() before the programs start (after the
 * self-check, whose own traffic must not count), witness_judge() after they
 * exited. Both work for any pair of programs: only wire (the built-in pair)
 * lets relayed data be told from other UDP from the server by its type.
 */
#ifndef PUNCH_WITNESS_H
#define PUNCH_WITNESS_H

#include <stdbool.h>
#include <stddef.h>

#include "common/mtime.h"
#include "model/evidence.h"
#include "model/model.h"
#include "model/plan.h"
#include "report/result.h"

struct lab;
struct ct_udp;

/* The routers' UDP conntrack entries as witness_read() listed them (the
 * family the pair ran over), kept for a caller that reports them too: each
 * listing walks the kernel's whole conntrack table (every namespace's), so it
 * is made once. ct[i] holds n[i] entries of [nat] i; free with witness_ct_free(). */
struct witness_ct {
	int n_nats;
	struct ct_udp **ct;
	int *n;
};

/* Free what c holds and empty it. */
void witness_ct_free(struct witness_ct *c);

/* Load the evidence ruleset into both peers' namespaces and into every
 * router's. Returns 0, or -errno with "node: what nft said" in err. */
int witness_arm(struct lab *l, const struct topo *t, const struct plan *p, bool wire, char *err, size_t errsize);

/* Read every counter and set witness_arm() loaded, and the routers'
 * conntrack, into *e (free with evidence_clear()); times are in ms after
 * started (the mtime_now() at which the programs were released). The
 * conntrack listings go to *keep too when it is not NULL (empty on error).
 * Returns 0, or -errno with err set. */
int witness_read(struct lab *l, const struct topo *t, const struct plan *p, bool wire, mtime_ms started,
		 struct evidence *e, struct witness_ct *keep, char *err, size_t errsize);

/* What e says into *re, the result's evidence: the network's verdict, the
 * numbers, the endpoints, the explanation and the JSON detail
 * (result_evidence_clear() frees it). Returns 0 or -ENOMEM (*re empty). */
int witness_fill(const struct topo *t, const struct plan *p, const struct evidence *e, struct result_evidence *re);

/* witness_read() (keep as there), then the verdict, the numbers, the
 * endpoints, the explanation and the JSON detail into *re, the result's
 * evidence (result_evidence_clear() frees it); *verdict is the network's
 * verdict. Returns 0, or -errno with err set (*re is then empty). */
int witness_judge(struct lab *l, const struct topo *t, const struct plan *p, bool wire, mtime_ms started,
		  enum outcome *verdict, struct result_evidence *re, struct witness_ct *keep, char *err,
		  size_t errsize);

#endif
