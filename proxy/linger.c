/*
 * linger.c: the graceful close of a finished TLS socket (see linger.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "proxy/daemon.h"
#include "proxy/linger.h"
#include "proxy/worker.h"

static void
linger_end(struct lingerer *l)
{
	TAILQ_REMOVE(&l->w->lingering, l, link);
	l->w->nlingering--;
	fd_budget_give(&l->w->d->fds, 1);
	event_free(l->ev);
	close(l->fd);
	free(l);
}

/* Readable or timed out: discard what came; end at EOF, error or silence.
 * MSG_TRUNC makes TCP drop the bytes without copying them. */
static void
on_linger(evutil_socket_t fd, short what, void *arg)
{
	struct lingerer *l = arg;
	ssize_t n;

	if (what & EV_TIMEOUT) {
		linger_end(l);
		return;
	}
	do
		n = recv(fd, NULL, 64 * 1024, MSG_TRUNC | MSG_DONTWAIT);
	while (n == -1 && errno == EINTR);
	if (n > 0 && (l->discarded += (size_t)n) < LINGER_BYTES)
		return;
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return;
	linger_end(l);
}

void
linger_close(struct worker *w, int fd)
{
	struct timeval tv = { LINGER_MS / 1000, (LINGER_MS % 1000) * 1000 };
	struct lingerer *l = NULL;

	(void)shutdown(fd, SHUT_WR);
	/* A lingering socket holds a descriptor of the budget (fdbudget.h):
	 * short of one, the socket closes at once. */
	if (w->draining || w->nlingering >= LINGER_MAX ||
	    !fd_budget_take(&w->d->fds, 1))
		goto now;
	if ((l = calloc(1, sizeof(*l))) == NULL) {
		fd_budget_give(&w->d->fds, 1);
		goto now;
	}
	/* EV_PERSIST with a timeout: silence for LINGER_MS ends it. */
	l->ev = event_new(w->base, fd, EV_READ | EV_PERSIST, on_linger, l);
	if (l->ev == NULL || event_add(l->ev, &tv) == -1) {
		fd_budget_give(&w->d->fds, 1);
		goto now;
	}
	l->w = w;
	l->fd = fd;
	TAILQ_INSERT_TAIL(&w->lingering, l, link);
	w->nlingering++;
	return;
now:
	if (l != NULL && l->ev != NULL)
		event_free(l->ev);
	free(l);
	close(fd);
}

void
linger_free_all(struct worker *w)
{
	struct lingerer *l;

	while ((l = TAILQ_FIRST(&w->lingering)) != NULL)
		linger_end(l);
}
