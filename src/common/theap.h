/* A binary min-heap of timers, intrusive: the caller embeds a struct
 * theap_node in its object and keeps it in at most one heap. Adding, moving
 * and removing a timer cost O(log n), finding the earliest O(1), so a server
 * never walks all its clients to find what is due. Pure: no clock, no I/O. */
#ifndef PUNCH_THEAP_H
#define PUNCH_THEAP_H

#include <stdbool.h>
#include <stddef.h>

#include "common/mtime.h"

struct theap_node {
	mtime_ms when;
	size_t idx; /* position in the heap + 1; 0 when not queued */
};

struct theap {
	struct theap_node **v;
	size_t n, cap;
};

/* An empty heap needs no allocation: zero it. theap_free() releases the array. */
void theap_free(struct theap *h);
/* Queue node at `when`, or move it there if it is queued already.
 * Returns 0 or -ENOMEM (the node is then not queued). */
int theap_set(struct theap *h, struct theap_node *node, mtime_ms when);
/* Take node out of the heap; a node that is not queued is left alone. */
void theap_del(struct theap *h, struct theap_node *node);
/* The earliest node, or NULL when the heap is empty. */
struct theap_node *theap_min(const struct theap *h);
static inline bool theap_queued(const struct theap_node *node)
{
	return node->idx != 0;
}

#endif
