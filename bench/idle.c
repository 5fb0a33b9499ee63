/*
 * idle.c: opens many connections, proves each alive, and holds them.
 *
 * A connection counts as open only after one small echo round trip: through
 * a TLS proxy, connect() completes against the proxy long before the
 * handshake behind it does, and a failed handshake shows up only as a close.
 * Connections are set up IN_FLIGHT at a time so a slow handshake does not
 * serialise the run, yet the proxy is not hit by thousands at once.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench/bench.h"

#define IN_FLIGHT	64
#define PING_LEN	8
#define MAX_REPORTS	10	/* failures described one by one, then counted */

enum istate { I_CONNECT, I_SEND, I_RECV, I_OPEN, I_FAILED };

struct iconn {
	int fd;
	enum istate state;
	int ai;			/* which resolved address it is trying */
	size_t done;		/* ping bytes sent or received so far */
	uint64_t t0;		/* set-up start, for the stall limit */
	uint8_t ping[PING_LEN];
};

struct idle {
	const struct bench_peer *peer;
	struct iconn *c;
	unsigned long nfailed;
};

static void
idle_fail(struct idle *d, unsigned long i, const char *what, int err)
{
	struct iconn *c = &d->c[i];

	if (c->fd != -1)
		close(c->fd);
	c->fd = -1;
	c->state = I_FAILED;
	if (d->nfailed++ < MAX_REPORTS) {
		if (err != 0) {
			errno = err;
			bench_warn("idle: connection %lu: %s", i, what);
		} else
			bench_warnx("idle: connection %lu: %s", i, what);
	}
}

static void
idle_start(struct idle *d, unsigned long i)
{
	struct iconn *c = &d->c[i];

	c->fd = net_connect_start(d->peer, c->ai);
	if (c->fd == -1) {
		idle_fail(d, i, "connect", errno);
		return;
	}
	c->state = I_CONNECT;
	c->done = 0;
}

/* Advances connection i as far as its socket allows. */
static void
idle_step(struct idle *d, unsigned long i)
{
	struct iconn *c = &d->c[i];
	uint8_t echo[PING_LEN];
	socklen_t len = sizeof(int);
	ssize_t n;
	int err = 0;

	switch (c->state) {
	case I_CONNECT:
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
			err = errno;
		if (err == EINPROGRESS)
			return;
		if (err != 0 && c->ai + 1 < d->peer->n) {
			close(c->fd);
			c->ai++;
			idle_start(d, i);
			return;
		}
		if (err != 0) {
			idle_fail(d, i, "connect", err);
			return;
		}
		c->state = I_SEND;
		/* FALLTHROUGH */
	case I_SEND:
		n = send(c->fd, c->ping + c->done, PING_LEN - c->done,
		    MSG_NOSIGNAL);
		if (n < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR)
				idle_fail(d, i, "send", errno);
			return;
		}
		c->done += (size_t)n;
		if (c->done < PING_LEN)
			return;
		c->done = 0;
		c->state = I_RECV;
		return;
	case I_RECV:
		n = recv(c->fd, echo, PING_LEN - c->done, 0);
		if (n == 0) {
			idle_fail(d, i, "closed before the echo", 0);
			return;
		}
		if (n < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR)
				idle_fail(d, i, "recv", errno);
			return;
		}
		if (memcmp(echo, c->ping + c->done, (size_t)n) != 0) {
			idle_fail(d, i, "echo differs from what was sent", 0);
			return;
		}
		c->done += (size_t)n;
		if (c->done == PING_LEN)
			c->state = I_OPEN;
		return;
	case I_OPEN:
	case I_FAILED:
		return;
	}
}

/* Opens and checks every connection; returns how many are open. */
static unsigned long
idle_open_all(struct idle *d, unsigned long n)
{
	struct pollfd pfd[IN_FLIGHT];
	unsigned long act[IN_FLIGHT], nact = 0, next = 0, nopen = 0, k;
	uint64_t now;

	while (next < n || nact > 0) {
		while (nact < IN_FLIGHT && next < n) {
			struct iconn *c = &d->c[next];

			c->t0 = bench_now_ns();
			memcpy(c->ping, "idle", 4);
			for (int b = 0; b < 4; b++)
				c->ping[4 + b] = (uint8_t)(next >> (8 * b));
			idle_start(d, next);
			if (c->state != I_FAILED)
				act[nact++] = next;
			next++;
		}
		for (k = 0; k < nact; k++) {
			pfd[k].fd = d->c[act[k]].fd;
			pfd[k].events = d->c[act[k]].state == I_RECV ? POLLIN :
			    POLLOUT;
		}
		/* A short tick, so stalled set-ups are noticed without events. */
		if (nact > 0 && poll(pfd, nact, 1000) == -1 && errno != EINTR) {
			bench_warn("idle: poll");
			break;
		}
		now = bench_now_ns();
		for (k = 0; k < nact; ) {
			unsigned long i = act[k];
			struct iconn *c = &d->c[i];

			if (pfd[k].revents != 0)
				idle_step(d, i);
			if (c->state != I_OPEN && c->state != I_FAILED &&
			    now - c->t0 > (uint64_t)BENCH_STALL_MS * 1000000)
				idle_fail(d, i, "no echo within the stall limit", 0);
			if (c->state == I_OPEN)
				nopen++;
			if (c->state == I_OPEN || c->state == I_FAILED) {
				/* Swap-remove; pfd follows so revents stay paired. */
				act[k] = act[--nact];
				pfd[k] = pfd[nact];
				continue;
			}
			k++;
		}
	}
	return nopen;
}

/* Waits for the --hold time, SIGINT/SIGTERM, or (without --hold) stdin EOF. */
static int
idle_hold(double hold)
{
	struct pollfd pfd[2];
	sigset_t sigs;
	uint64_t end = 0, now;
	char junk[512];
	int sfd, ms, rc = -1;
	nfds_t n = 1;

	/* Blocked until exit, so a late signal cannot cut the close-down short. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	if (sigprocmask(SIG_BLOCK, &sigs, NULL) == -1) {
		bench_warn("sigprocmask");
		goto out;
	}
	sfd = signalfd(-1, &sigs, SFD_CLOEXEC);
	if (sfd == -1) {
		bench_warn("signalfd");
		goto out;
	}
	pfd[0].fd = sfd;
	pfd[0].events = POLLIN;
	if (hold < 0) {
		pfd[1].fd = STDIN_FILENO;
		pfd[1].events = POLLIN;
		n = 2;
	} else
		end = bench_now_ns() + (uint64_t)(hold * 1e9);
	for (;;) {
		ms = -1;
		if (hold >= 0) {
			now = bench_now_ns();
			if (now >= end)
				break;
			/* Rounded up, capped so a long --hold fits in an int. */
			ms = (end - now) / 1000000 + 1 > 3600000 ? 3600000 :
			    (int)((end - now) / 1000000 + 1);
		}
		if (poll(pfd, n, ms) == -1) {
			if (errno == EINTR)
				continue;
			bench_warn("idle: poll");
			goto out_sfd;
		}
		if (pfd[0].revents != 0) {
			/* Consumed, or it would kill us on unblocking. */
			struct signalfd_siginfo si;

			if (read(sfd, &si, sizeof(si)) == -1)
				bench_warn("signalfd read");
			break;
		}
		if (n == 2 && (pfd[1].revents & POLLNVAL))
			break;		/* no stdin at all: treat as EOF */
		if (n == 2 && pfd[1].revents != 0 &&
		    read(STDIN_FILENO, junk, sizeof(junk)) <= 0)
			break;
	}
	rc = 0;

out_sfd:
	close(sfd);
out:
	return rc;
}

int
cmd_idle(const struct bench_opts *o)
{
	struct bench_peer peer;
	struct idle d = { .peer = &peer };
	unsigned long nopen;
	int rc = -1;

	net_raise_nofile();
	if (net_resolve(&o->addr, false, &peer) == -1)
		goto out;
	d.c = calloc(o->conns, sizeof(*d.c));
	if (d.c == NULL) {
		bench_warn("calloc");
		goto out;
	}
	for (unsigned long i = 0; i < o->conns; i++)
		d.c[i].fd = -1;

	nopen = idle_open_all(&d, o->conns);
	if (o->json)
		printf("{\"conns\":%lu,\"ok\":%lu,\"failed\":%lu}\n", o->conns,
		    nopen, o->conns - nopen);
	else
		printf("idle: %lu connections open\n", nopen);
	fflush(stdout);
	if (nopen < o->conns)
		bench_warnx("idle: %lu of %lu connections failed",
		    o->conns - nopen, o->conns);

	if (idle_hold(o->hold) == 0 && nopen == o->conns)
		rc = 0;
	for (unsigned long i = 0; i < o->conns; i++)
		if (d.c[i].fd != -1)
			close(d.c[i].fd);
	free(d.c);
out:
	return rc;
}
