/*
 * servers.c: the echo and sink servers, one thread around one epoll set.
 *
 * Level-triggered and non-blocking.  An idle connection costs only its
 * struct: bytes are read into one shared scratch buffer and echoed at once,
 * and only what the socket did not take is kept, in a buffer allocated the
 * first time that happens.  While such bytes wait, reading stops, so a
 * client that does not read cannot make the server buffer more.  It runs
 * until it is killed: the kernel closes what is open.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "bench/bench.h"

#define MAX_EVENTS	256
#define READS_PER_EVENT	4	/* then let other connections run */

struct sconn {
	int fd;
	bool rd_eof;		/* the client half-closed */
	uint8_t *pend;		/* echo the socket did not take (BENCH_BUF) */
	size_t poff, plen;	/* its unsent part */
};

struct srv {
	bool echo;		/* echo, or sink */
	bool paused;		/* out of descriptors: not accepting */
	int lfd, ep, nconns;
	uint8_t scratch[BENCH_BUF];
};

static int
watch(struct srv *s, int op, int fd, uint32_t events, void *ptr)
{
	struct epoll_event ev = { .events = events, .data.ptr = ptr };

	return epoll_ctl(s->ep, op, fd, &ev);
}

/* eof: the echo is complete, so the EOF is passed on first. */
static void
conn_free(struct srv *s, struct sconn *c, bool eof)
{
	if (eof)
		shutdown(c->fd, SHUT_WR);
	close(c->fd);
	free(c->pend);
	free(c);
	s->nconns--;
	/* A descriptor is free again: take the queued connections. */
	if (s->paused && watch(s, EPOLL_CTL_ADD, s->lfd, EPOLLIN, s) == 0)
		s->paused = false;
}

static void
on_accept(struct srv *s)
{
	struct sconn *c;
	int fd;

	for (int i = 0; i < MAX_EVENTS; i++) {
		fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1 && (errno == ECONNABORTED || errno == EINTR))
			continue;
		if (fd == -1) {
			if (errno == EAGAIN)
				return;
			bench_warn("accept");
			/* Out of something: wait until a connection closes. */
			if (s->nconns > 0 &&
			    epoll_ctl(s->ep, EPOLL_CTL_DEL, s->lfd, NULL) == 0)
				s->paused = true;
			return;
		}
		if ((c = calloc(1, sizeof(*c))) == NULL ||
		    watch(s, EPOLL_CTL_ADD, fd, EPOLLIN, c) == -1) {
			bench_warn("accept");
			close(fd);
			free(c);
			return;
		}
		c->fd = fd;
		s->nconns++;
	}
}

static void
on_readable(struct srv *s, struct sconn *c)
{
	ssize_t n, w;

	for (int i = 0; i < READS_PER_EVENT; i++) {
		n = recv(c->fd, s->scratch, BENCH_BUF, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			conn_free(s, c, n == 0);	/* EOF, or reset */
			return; /* c freed */
		}
		if (s->echo) {
			w = send(c->fd, s->scratch, (size_t)n, MSG_NOSIGNAL);
			if (w < 0 && errno != EAGAIN) {
				conn_free(s, c, false);
				return; /* c freed */
			}
			if (w < 0)
				w = 0;
			if (w < n) {
				/* Kept until the socket takes it. */
				if ((c->pend == NULL &&
				    (c->pend = malloc(BENCH_BUF)) == NULL) ||
				    watch(s, EPOLL_CTL_MOD, c->fd, EPOLLOUT, c) == -1) {
					bench_warn("echo");
					conn_free(s, c, false);
					return; /* c freed */
				}
				memcpy(c->pend, s->scratch + w, (size_t)(n - w));
				c->poff = 0;
				c->plen = (size_t)(n - w);
				return;
			}
		}
		/* A short read means the socket is drained: skip the EAGAIN. */
		if ((size_t)n < BENCH_BUF)
			return;
	}
}

static void
on_writable(struct srv *s, struct sconn *c)
{
	ssize_t w = send(c->fd, c->pend + c->poff, c->plen, MSG_NOSIGNAL);

	if (w < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (w < 0) {
		conn_free(s, c, false);
		return; /* c freed */
	}
	c->poff += (size_t)w;
	c->plen -= (size_t)w;
	if (c->plen == 0 && watch(s, EPOLL_CTL_MOD, c->fd, EPOLLIN, c) == -1)
		conn_free(s, c, false);
}

int
srv_run(const struct bench_opts *o, bool echo)
{
	struct epoll_event evs[MAX_EVENTS];
	struct srv *s;
	int n;

	net_raise_nofile();
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		bench_warn("calloc");
		return -1;
	}
	s->echo = echo;
	if ((s->lfd = net_listen(&o->addr)) == -1)
		return -1;
	if ((s->ep = epoll_create1(EPOLL_CLOEXEC)) == -1 ||
	    watch(s, EPOLL_CTL_ADD, s->lfd, EPOLLIN, s) == -1) {
		bench_warn("epoll");
		return -1;
	}
	for (;;) {
		n = epoll_wait(s->ep, evs, MAX_EVENTS, -1);
		if (n == -1 && errno != EINTR) {
			bench_warn("epoll_wait");
			return -1;
		}
		for (int i = 0; i < n; i++) {
			struct sconn *c = evs[i].data.ptr;

			if (evs[i].data.ptr == s)
				on_accept(s);
			else if (c->plen > 0)
				on_writable(s, c);
			else
				on_readable(s, c);
		}
	}
}
