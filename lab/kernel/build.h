/* The lab: a plan carried out on the kernel. Every node is a network
 * namespace held by a child process of ours (netns.c), so the whole lab goes
 * away with us, even on kill -9. lab_up() builds everything or nothing: on
 * failure it tears down what it made and says which node and step failed. */
#ifndef PUNCH_LAB_H
#define PUNCH_LAB_H

#include <stddef.h>

#include "model/model.h"
#include "model/plan.h"

struct lab;
struct netns;

/* Build plan p (made from t) on the kernel. Returns 0 and *out, or -errno
 * with "node: step: what the kernel or nft said" in err. */
int lab_up(const struct topo *t, const struct plan *p, struct lab **out, char *err, size_t errsize);
/* Make every router as fresh as when lab_up() built it: flush its ruleset
 * and load it again (counters, learned maps and port counters start again;
 * so do a lossy uplink's loss counters) and flush its connection tracking
 * (its NAT bindings). Returns 0, or -errno with err set. */
int lab_reset_routers(struct lab *l, const struct topo *t, const struct plan *p, char *err, size_t errsize);
/* Tear the lab down (kill the holders; the namespaces and all in them go). NULL ok. */
void lab_down(struct lab *l);
/* The namespace of node i of the plan. */
struct netns *lab_ns(struct lab *l, int node);

/* --keep: pin every namespace of the lab at /run/netns/punchlab-NAME.NODE (as
 * `ip netns add` does) so that it outlives us, for `ip netns exec` or
 * `punchlab shell NAME NODE`; `punchlab down NAME` removes them. Returns 0,
 * -EEXIST when a lab of that name is already kept, or -errno with err set.
 * On failure nothing stays pinned. */
int lab_keep(struct lab *l, const struct plan *p, const char *name, char *err, size_t errsize);
/* Remove the pins of kept lab NAME; returns how many were removed, or -errno. */
int lab_unkeep(const char *name);
/* The path of kept node NODE of lab NAME into buf. */
void lab_kept_path(const char *name, const char *node, char *buf, size_t size);

/* The ruleset for router node i: generated from the behaviour, or the user's
 * own file with defines for its names prepended (the same names lab_up()
 * gives it as variables when it loads the file itself, so that nft's
 * errors point into the user's file). Pure but for reading the user's
 * file. Returns 0 and a malloc'd text, or -errno with a message. */
int lab_router_ruleset(const struct topo *t, const struct plan *p, int node, char **out, char *err,
		       size_t errsize);

#endif
