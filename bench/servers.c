/*
 * servers.c: the echo and sink servers, one thread around one epoll set.
 *
 * Level-triggered and non-blocking.  An idle connection costs only its
 * struct: bytes are read into one shared scratch buffer and echoed at once,
 * and only what the socket did not take is kept, in a per-connection buffer
 * allocated the first time that happens.  While such bytes wait, reading
 * stops, so a client that does not read cannot make the server buffer more.
 */
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench/bench.h"

#define MAX_EVENTS	256
#define READS_PER_EVENT	4	/* then let other connections run */

struct sconn {
	int fd;
	bool rd_eof;		/* the client half-closed */
	uint32_t events;	/* what epoll watches now */
	uint8_t *pend;		/* echo the socket did not take (BENCH_BUF) */
	size_t poff, plen;	/* its unsent part */
	struct sconn *prev, *next;
};

struct srv {
	bool echo;		/* echo, or sink */
	bool once;		/* stop after the first connection ends */
	bool done;
	bool accepting;		/* false while out of descriptors */
	int lfd, ep, sfd;
	uint8_t *scratch;
	struct sconn *conns;	/* every open connection, to free on exit */
};

static void
conn_free(struct srv *s, struct sconn *c)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &s->lfd };

	close(c->fd);
	free(c->pend);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	free(c);
	/* A descriptor is free again: take the queued connections. */
	if (!s->accepting && epoll_ctl(s->ep, EPOLL_CTL_ADD, s->lfd, &ev) == 0)
		s->accepting = true;
	if (s->once)
		s->done = true;
}

/* The echo is complete: pass the EOF on, then close. */
static void
conn_finish(struct srv *s, struct sconn *c)
{
	shutdown(c->fd, SHUT_WR);
	conn_free(s, c);
}

static int
conn_watch(struct srv *s, struct sconn *c, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = c };

	if (c->events == events)
		return 0;
	if (epoll_ctl(s->ep, EPOLL_CTL_MOD, c->fd, &ev) == -1) {
		bench_warn("epoll_ctl");
		return -1;
	}
	c->events = events;
	return 0;
}

static void
on_accept(struct srv *s)
{
	struct epoll_event ev;
	struct sconn *c;
	int fd;

	for (int i = 0; i < MAX_EVENTS; i++) {
		fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			if (errno == ECONNABORTED || errno == EINTR)
				continue;
			bench_warn("accept");
			/* Out of something: wait until a connection closes. */
			if ((errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM) && s->conns != NULL &&
			    epoll_ctl(s->ep, EPOLL_CTL_DEL, s->lfd, NULL) == 0)
				s->accepting = false;
			return;
		}
		c = calloc(1, sizeof(*c));
		if (c == NULL) {
			bench_warn("accept: calloc");
			close(fd);
			return;
		}
		c->fd = fd;
		c->events = EPOLLIN;
		ev.events = EPOLLIN;
		ev.data.ptr = c;
		if (epoll_ctl(s->ep, EPOLL_CTL_ADD, fd, &ev) == -1) {
			bench_warn("epoll_ctl");
			close(fd);
			free(c);
			return;
		}
		if (s->echo)
			net_nodelay(fd);	/* rr measures latency, not Nagle */
		c->next = s->conns;
		if (c->next != NULL)
			c->next->prev = c;
		s->conns = c;
	}
}

/* Keeps the part of an echo the socket did not take, and waits to send it. */
static int
conn_stash(struct srv *s, struct sconn *c, const uint8_t *p, size_t n)
{
	if (c->pend == NULL && (c->pend = malloc(BENCH_BUF)) == NULL) {
		bench_warn("malloc");
		return -1;
	}
	memcpy(c->pend, p, n);
	c->poff = 0;
	c->plen = n;
	return conn_watch(s, c, EPOLLOUT);
}

static void
on_readable(struct srv *s, struct sconn *c)
{
	ssize_t n, w;

	for (int i = 0; i < READS_PER_EVENT; i++) {
		n = recv(c->fd, s->scratch, BENCH_BUF, 0);
		if (n == 0) {
			c->rd_eof = true;
			conn_finish(s, c);
			return; /* c freed */
		}
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			if (errno == EINTR)
				continue;
			conn_free(s, c);	/* reset by the client */
			return; /* c freed */
		}
		if (s->echo) {
			w = send(c->fd, s->scratch, (size_t)n, MSG_NOSIGNAL);
			if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
				w = 0;
			if (w < 0) {
				conn_free(s, c);
				return; /* c freed */
			}
			if (w < n) {
				if (conn_stash(s, c, s->scratch + w,
				    (size_t)(n - w)) == -1)
					conn_free(s, c);
				return; /* c may be freed */
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
	ssize_t w;

	w = send(c->fd, c->pend + c->poff, c->plen, MSG_NOSIGNAL);
	if (w < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return;
		conn_free(s, c);
		return; /* c freed */
	}
	c->poff += (size_t)w;
	c->plen -= (size_t)w;
	if (c->plen > 0)
		return;
	if (c->rd_eof) {
		conn_finish(s, c);
		return; /* c freed */
	}
	if (conn_watch(s, c, EPOLLIN) == -1)
		conn_free(s, c);
}

static int
srv_run(const struct bench_opts *o, bool echo)
{
	struct srv s = { .echo = echo, .once = o->once, .accepting = true,
	    .lfd = -1, .ep = -1, .sfd = -1 };
	struct epoll_event ev, evs[MAX_EVENTS];
	sigset_t sigs;
	char text[300];
	int n, rc = -1;

	net_raise_nofile();
	s.scratch = malloc(BENCH_BUF);
	if (s.scratch == NULL) {
		bench_warn("malloc");
		goto out;
	}
	/*
	 * SIGINT/SIGTERM arrive as events, so the exit path frees everything.
	 * They stay blocked until exit: a second one, or one still pending,
	 * must not kill the process halfway through that cleanup.
	 */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	if (sigprocmask(SIG_BLOCK, &sigs, NULL) == -1) {
		bench_warn("sigprocmask");
		goto out_free;
	}
	s.sfd = signalfd(-1, &sigs, SFD_NONBLOCK | SFD_CLOEXEC);
	if (s.sfd == -1) {
		bench_warn("signalfd");
		goto out_free;
	}
	s.ep = epoll_create1(EPOLL_CLOEXEC);
	if (s.ep == -1) {
		bench_warn("epoll_create1");
		goto out_sfd;
	}
	s.lfd = net_listen(&o->addr, text, sizeof(text));
	if (s.lfd == -1)
		goto out_ep;
	ev.events = EPOLLIN;
	ev.data.ptr = &s.lfd;
	if (epoll_ctl(s.ep, EPOLL_CTL_ADD, s.lfd, &ev) == -1) {
		bench_warn("epoll_ctl");
		goto out_lfd;
	}
	ev.data.ptr = &s.sfd;
	if (epoll_ctl(s.ep, EPOLL_CTL_ADD, s.sfd, &ev) == -1) {
		bench_warn("epoll_ctl");
		goto out_lfd;
	}
	printf("listening %s\n", text);
	fflush(stdout);

	while (!s.done) {
		n = epoll_wait(s.ep, evs, MAX_EVENTS, -1);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			bench_warn("epoll_wait");
			goto out_conns;
		}
		for (int i = 0; i < n && !s.done; i++) {
			void *p = evs[i].data.ptr;
			struct sconn *c = p;

			if (p == &s.sfd) {
				/* Consumed, or it would kill us on unblocking. */
				struct signalfd_siginfo si;

				if (read(s.sfd, &si, sizeof(si)) == -1 &&
				    errno != EAGAIN)
					bench_warn("signalfd read");
				s.done = true;
			} else if (p == &s.lfd)
				on_accept(&s);
			else if (c->plen > 0)
				on_writable(&s, c);
			else
				on_readable(&s, c);
		}
	}
	rc = 0;

out_conns:
	s.once = false;
	while (s.conns != NULL)
		conn_free(&s, s.conns);
	if (o->addr.is_unix)
		unlink(o->addr.path);
out_lfd:
	close(s.lfd);
out_ep:
	close(s.ep);
out_sfd:
	close(s.sfd);
out_free:
	free(s.scratch);
out:
	return rc;
}

int
srv_echo(const struct bench_opts *o)
{
	return srv_run(o, true);
}

int
srv_sink(const struct bench_opts *o)
{
	return srv_run(o, false);
}
