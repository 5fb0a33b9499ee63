/*
 * bufpool.h: fixed-size direction buffers, pooled per worker and route.
 *
 * A connection takes a buffer when a direction has bytes to hold and gives it
 * back as soon as the direction is drained, so an idle connection holds
 * none.  Up to `keep` free buffers stay cached; the rest go back to malloc.
 * One thread only: no locks.
 */
#ifndef MTLSD_PROXY_BUFPOOL_H
#define MTLSD_PROXY_BUFPOOL_H

#include <stddef.h>

struct bufpool {
	size_t size;		/* bytes per buffer */
	size_t keep;		/* free buffers to cache */
	size_t nfree;
	size_t out;		/* buffers handed out now (for metrics, leaks) */
	void *free;		/* singly linked through each buffer's first word */
};

/* Prepares an empty pool of size-byte buffers. */
void bufpool_init(struct bufpool *p, size_t size, size_t keep);

/* A buffer of p->size bytes, or NULL when memory is exhausted. */
void *bufpool_get(struct bufpool *p);

/* Returns a buffer from bufpool_get(); NULL is a no-op. */
void bufpool_put(struct bufpool *p, void *buf);

/* Frees the cached buffers (those handed out must be returned first). */
void bufpool_drain(struct bufpool *p);

#endif /* MTLSD_PROXY_BUFPOOL_H */
