/* Timer heap. See theap.h. */
#include "common/theap.h"

#include <errno.h>
#include <stdlib.h>

static void place(struct theap *h, size_t i, struct theap_node *node)
{
	h->v[i] = node;
	node->idx = i + 1;
}

static void sift_up(struct theap *h, size_t i)
{
	struct theap_node *node = h->v[i];

	while (i > 0) {
		size_t parent = (i - 1) / 2;

		if (h->v[parent]->when <= node->when)
			break;
		place(h, i, h->v[parent]);
		i = parent;
	}
	place(h, i, node);
}

static void sift_down(struct theap *h, size_t i)
{
	struct theap_node *node = h->v[i];

	for (;;) {
		size_t l = 2 * i + 1, best = l;

		if (l >= h->n)
			break;
		if (l + 1 < h->n && h->v[l + 1]->when < h->v[l]->when)
			best = l + 1;
		if (node->when <= h->v[best]->when)
			break;
		place(h, i, h->v[best]);
		i = best;
	}
	place(h, i, node);
}

void theap_free(struct theap *h)
{
	for (size_t i = 0; i < h->n; i++)
		h->v[i]->idx = 0;
	free(h->v);
	h->v = NULL;
	h->n = h->cap = 0;
}

int theap_set(struct theap *h, struct theap_node *node, mtime_ms when)
{
	if (theap_queued(node)) {
		mtime_ms old = node->when;

		node->when = when;
		if (when < old)
			sift_up(h, node->idx - 1);
		else
			sift_down(h, node->idx - 1);
		return 0;
	}
	if (h->n == h->cap) {
		size_t cap = h->cap ? 2 * h->cap : 64;
		struct theap_node **v = realloc(h->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		h->v = v;
		h->cap = cap;
	}
	node->when = when;
	h->v[h->n] = node;
	sift_up(h, h->n++);
	return 0;
}

void theap_del(struct theap *h, struct theap_node *node)
{
	size_t i;
	struct theap_node *last;

	if (!theap_queued(node))
		return;
	i = node->idx - 1;
	node->idx = 0;
	last = h->v[--h->n];
	if (i == h->n)
		return;
	/* The last node fills the hole and moves whichever way it must. */
	h->v[i] = last;
	last->idx = i + 1;
	if (i > 0 && h->v[(i - 1) / 2]->when > last->when)
		sift_up(h, i);
	else
		sift_down(h, i);
}

struct theap_node *theap_min(const struct theap *h)
{
	return h->n ? h->v[0] : NULL;
}
