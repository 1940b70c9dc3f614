/* NAT rebinding: a router forgets every mapping, so that each flow's next
 * outbound packet takes a new external port, as a carrier NAT that reassigns
 * ports (or a router that restarts its NAT table) does. On demand (punchlab
 * rebind, kept labs) and timed (rebind-after: the scenario runner's). */
#ifndef PUNCH_REBIND_H
#define PUNCH_REBIND_H

#include <stddef.h>

#include "common/mtime.h"
#include "model/model.h"
#include "model/plan.h"

struct netns;
struct lab;
struct run_group;

/* Rebind the router whose namespace is ns: flush its learned mapping sets
 * (nat_rebind_commands() on its generated ruleset) and its conntrack table.
 * The busy-port sets stay, so no old port is handed out again at once.
 * Returns how many sets were flushed, or -errno with *errtext set to
 * libnftables' text where it gave one (malloc'd; NULL otherwise). */
int rebind_router(struct netns *ns, char **errtext);

/* The timed rebinds of t: while the programs of g run, wait until
 * t0 + rebind_after_ms of each router that has one (earliest first) and
 * rebind it then, logging the moment; stop early when every foreground
 * program of g has exited (no flow is left to move: that router is not
 * rebound). name labels the messages. Returns how many routers were
 * rebound, or -errno with err set. */
int rebind_timed(struct run_group *g, struct lab *l, const struct topo *t, const struct plan *p, mtime_ms t0,
		 const char *name, char *err, size_t errsize);

#endif
