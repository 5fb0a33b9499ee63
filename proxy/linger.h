/*
 * linger.h: a graceful close for TLS sockets whose peer may still be sending.
 *
 * close() on a socket with unread bytes, or one that receives bytes after
 * it, makes the kernel answer with a reset.  A peer that reads our
 * close_notify but is still writing (a client route whose app's bytes
 * arrive after a server route refused its upstream) then sees a reset
 * instead of a clean end.  So, like a web server's lingering close, mtlsd
 * shuts its write side, reads and discards what the peer still sends, and
 * closes once the peer ends too, or after LINGER_MS of silence, or
 * LINGER_BYTES, whichever comes first.  A worker lingers on at most
 * LINGER_MAX sockets, each holding a descriptor of the fd budget; past
 * that, short of a descriptor, and while it drains, it closes at once.
 */
#ifndef MTLSD_PROXY_LINGER_H
#define MTLSD_PROXY_LINGER_H

#include <sys/queue.h>

struct event;
struct worker;

#define LINGER_MS	2000
#define LINGER_BYTES	(256 * 1024)
#define LINGER_MAX	1024

struct lingerer {
	struct worker *w;
	int fd;
	struct event *ev;
	size_t discarded;
	TAILQ_ENTRY(lingerer) link;
};

TAILQ_HEAD(linger_list, lingerer);

/* Takes ownership of fd (our close_notify sent): shuts its write side and
 * closes it when the peer has ended too, or at once if it cannot linger. */
void linger_close(struct worker *w, int fd);

/* Closes every lingering socket of w (the worker is ending). */
void linger_free_all(struct worker *w);

#endif /* MTLSD_PROXY_LINGER_H */
