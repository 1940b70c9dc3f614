/* nftables rulesets and counters, through libnftables, inside a namespace.
 *
 * Every call creates its nft context on a netns_run thread inside the
 * namespace (libnftables opens its netlink socket in nft_ctx_new(), so the
 * context belongs to the namespace it was made in) and frees it before
 * returning: a context never outlives the namespace, and the main thread
 * never leaves its own. Error texts are libnftables' own, verbatim.
 */
#ifndef PUNCH_NFT_H
#define PUNCH_NFT_H

#include <stdbool.h>
#include <stdint.h>

#include "kernel/netns.h"

/* Load a complete ruleset text into ns in one atomic transaction (all of it
 * or nothing). Returns 0, or -EINVAL (or -errno) with *errtext set to
 * libnftables' error text (malloc'd, caller frees; NULL if it gave none).
 * On success *errtext is NULL. errtext may be NULL. */
int nft_load(struct netns *ns, const char *ruleset, char **errtext);

/* Load a ruleset file (a user's own) the same way, with "NAME=value" defines
 * (NULL-terminated, may be NULL) available to it as $NAME, so that nft's error
 * messages point at the user's own file and line. */
int nft_load_file(struct netns *ns, const char *path, const char *const *vars, char **errtext);

/* A ruleset being loaded by nft_load_start(). */
struct nft_async;

/* Start loading ruleset into ns as nft_load() does, in a child process that
 * dies with this one, so that the caller can go on meanwhile (the kernel
 * work and libnftables' parsing then use another CPU). From a process with
 * other threads, or when fork() fails, the load is done at once. Returns 0
 * with *out, or -ENOMEM. Every start must be finished. */
int nft_load_start(struct netns *ns, const char *ruleset, struct nft_async **out);

/* Wait for the load started as a, and free a. Returns what nft_load() would
 * have (-ECHILD when the child died before it said), with *errtext as there. */
int nft_load_finish(struct nft_async *a, char **errtext);

/* Run one nft command in ns ("list ruleset", "list counters", ...), output
 * as JSON or as text into *out (malloc'd, "" when there is none). Returns 0,
 * or -EINVAL (or -errno) with *errtext as for nft_load; *out is then NULL. */
int nft_query(struct netns *ns, const char *cmd, bool json, char **out, char **errtext);

/* Read a named counter: family ("inet", "ip", ...), table and counter name
 * (identifiers: letters, digits, '_', '-', '.'). Returns 0, -ENOENT when
 * the table or the counter does not exist, -EINVAL for bad names, -EBADMSG
 * when nft's answer cannot be understood, or -errno. */
int nft_counter(struct netns *ns, const char *family, const char *table, const char *name,
		uint64_t *packets, uint64_t *bytes);

#endif
