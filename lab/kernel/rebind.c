/* NAT rebinding (rebind.h). */
#include "kernel/rebind.h"

#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "kernel/build.h"
#include "kernel/ct.h"
#include "kernel/nft.h"
#include "kernel/run.h"
#include "model/nat.h"

int rebind_router(struct netns *ns, char **errtext)
{
	char *listing = NULL, *cmds = NULL;
	int n, rc;

	*errtext = NULL;
	rc = nft_query(ns, "list table ip punchlab", false, &listing, errtext);
	if (rc < 0)
		goto cleanup;
	n = nat_rebind_commands(listing, &cmds);
	if (n < 0) {
		rc = n;
		goto cleanup;
	}
	if (n > 0) {
		rc = nft_load(ns, cmds, errtext);
		if (rc < 0)
			goto cleanup;
	}
	/* The conntrack entries hold the translations themselves: without
	 * flushing them a flow keeps its port whatever the sets say. */
	rc = ct_flush(ns);
	if (rc == 0)
		rc = n;
cleanup:
	free(listing);
	free(cmds);
	return rc;
}

/* The router with the earliest rebind-after later than after_ms (ties: the
 * first in the file), or -1. */
static int next_rebind(const struct topo *t, uint32_t after_ms, int after_i)
{
	int best = -1;

	for (int i = 0; i < t->n_nats; i++) {
		uint32_t ms = t->nats[i].rebind_after_ms;

		if (!ms || ms < after_ms || (ms == after_ms && i <= after_i))
			continue;
		if (best < 0 || ms < t->nats[best].rebind_after_ms)
			best = i;
	}
	return best;
}

int rebind_timed(struct run_group *g, struct lab *l, const struct topo *t, const struct plan *p, mtime_ms t0,
		 const char *name, char *err, size_t errsize)
{
	int done = 0;

	for (int i = next_rebind(t, 0, -1); i >= 0; i = next_rebind(t, t->nats[i].rebind_after_ms, i)) {
		const struct topo_nat *n = &t->nats[i];
		char *errtext = NULL;
		struct timespec wall0, wall;
		mtime_ms at;
		int rc = run_wait_until_done(g, t0 + n->rebind_after_ms);

		if (rc < 0) {
			snprintf(err, errsize, "waiting to rebind %s: %s", n->name, strerror(-rc));
			return rc;
		}
		if (rc == 1) {
			log_info("%s: the programs ended before %s's rebind-after (%u ms): not rebound", name,
				 n->name, (unsigned)n->rebind_after_ms);
			return done;
		}
		at = mtime_now();
		clock_gettime(CLOCK_REALTIME, &wall0);
		rc = rebind_router(lab_ns(l, plan_nat_node(p, i)), &errtext);
		if (rc < 0) {
			snprintf(err, errsize, "rebinding %s: %s", n->name, errtext ? errtext : strerror(-rc));
			free(errtext);
			return rc;
		}
		/* The wall clock too, from before the flush to after it: the time
		 * base of --pcap's captures, so the port change can be placed. */
		clock_gettime(CLOCK_REALTIME, &wall);
		log_info("%s: %s rebound %d ms after the start (rebind-after %u ms, wall clock %lld.%06ld to "
			 "%lld.%06ld): %d mapping sets and its conntrack table flushed", name, n->name,
			 (int)(at - t0), (unsigned)n->rebind_after_ms, (long long)wall0.tv_sec,
			 wall0.tv_nsec / 1000, (long long)wall.tv_sec, wall.tv_nsec / 1000, rc);
		done++;
	}
	return done;
}
