/*
 * pipepool.h: pipes for splice(), pooled per worker.
 *
 * A kernel-TLS direction moves bytes socket -> pipe -> socket without
 * copying them to user space; it holds a pipe only while bytes sit in it,
 * so an idle connection holds none.  One thread only: no locks.
 */
#ifndef MTLSD_PROXY_PIPEPOOL_H
#define MTLSD_PROXY_PIPEPOOL_H

#include <stddef.h>

struct pipepool {
	int (*free)[2];		/* empty pipes kept for reuse */
	size_t nfree, keep;
	size_t out;		/* pipes handed out now */
};

/* An empty pool keeping up to keep pipes.  Returns 0 or -1. */
int pipepool_init(struct pipepool *p, size_t keep);

/* Fills fds with an empty pipe (non-blocking, close-on-exec).  Returns 0,
 * or -1 with errno (out of descriptors). */
int pipepool_get(struct pipepool *p, int fds[2]);

/* Returns a pipe.  empty says whether it holds no bytes: only empty pipes
 * are reused, others are closed. */
void pipepool_put(struct pipepool *p, int fds[2], int empty);

/* Closes every pooled pipe. */
void pipepool_drain(struct pipepool *p);

#endif /* MTLSD_PROXY_PIPEPOOL_H */
