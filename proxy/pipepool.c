/*
 * pipepool.c: a free list of empty pipes.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "proxy/pipepool.h"

/* Bytes a pipe holds: four 64 KiB batches per splice pair.  Pages are
 * allocated only while bytes sit in the pipe. */
#define PIPE_BYTES (256 * 1024)

int
pipepool_init(struct pipepool *p, size_t keep)
{
	p->nfree = 0;
	p->out = 0;
	p->keep = keep;
	p->free = keep ? calloc(keep, sizeof(*p->free)) : NULL;
	return keep && p->free == NULL ? -1 : 0;
}

int
pipepool_get(struct pipepool *p, int fds[2])
{
	if (p->nfree > 0) {
		p->nfree--;
		fds[0] = p->free[p->nfree][0];
		fds[1] = p->free[p->nfree][1];
	} else {
		if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) == -1)
			return -1;
		/* Larger batches, fewer syscalls; the default is fine too. */
		(void)fcntl(fds[1], F_SETPIPE_SZ, PIPE_BYTES);
	}
	p->out++;
	return 0;
}

void
pipepool_put(struct pipepool *p, int fds[2], int empty)
{
	if (fds[0] == -1)
		return;
	p->out--;
	if (empty && p->nfree < p->keep) {
		p->free[p->nfree][0] = fds[0];
		p->free[p->nfree][1] = fds[1];
		p->nfree++;
	} else {
		close(fds[0]);
		close(fds[1]);
	}
	fds[0] = fds[1] = -1;
}

void
pipepool_drain(struct pipepool *p)
{
	while (p->nfree > 0) {
		p->nfree--;
		close(p->free[p->nfree][0]);
		close(p->free[p->nfree][1]);
	}
	free(p->free);
	p->free = NULL;
}
