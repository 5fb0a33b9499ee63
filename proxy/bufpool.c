/*
 * bufpool.c: a free list of equal-sized buffers.
 */
#include <stdlib.h>

#include "proxy/bufpool.h"

void
bufpool_init(struct bufpool *p, size_t size, size_t keep)
{
	p->size = size;
	p->keep = keep;
	p->nfree = 0;
	p->out = 0;
	p->free = NULL;
}

void *
bufpool_get(struct bufpool *p)
{
	void *b = p->free;

	if (b != NULL) {
		p->free = *(void **)b;
		p->nfree--;
	} else if ((b = malloc(p->size)) == NULL) {
		return NULL;
	}
	p->out++;
	return b;
}

void
bufpool_put(struct bufpool *p, void *buf)
{
	if (buf == NULL)
		return;
	p->out--;
	if (p->nfree >= p->keep) {
		free(buf);
		return;
	}
	*(void **)buf = p->free;
	p->free = buf;
	p->nfree++;
}

void
bufpool_drain(struct bufpool *p)
{
	while (p->free != NULL) {
		void *next = *(void **)p->free;
		free(p->free);
		p->free = next;
	}
	p->nfree = 0;
}
