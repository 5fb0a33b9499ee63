/*
 * client.c: every client command, threads around one exchange loop.
 *
 *   push     streams threads, one connection each: --bytes of the test
 *            stream out, the echo read back at once and checked byte by byte
 *   source   the same into a sink: one pre-filled buffer, nothing checked,
 *            the clock stopped by the sink's close after our half-close
 *            (close() returns while data still sits in the proxies)
 *   rr       one connection, --count round trips of --size after --warmup
 *   connrate --concurrency threads, each for --seconds: connect, one byte
 *            out, its echo back, close.  Through a TLS proxy connect()
 *            completes against the local side at once: only the echo proves
 *            the handshake behind it finished.
 *   idle     --concurrency threads open --conns connections, each proved
 *            alive by an 8-byte echo, and hold them
 *
 * exchange() is the one loop: a blocking send and recv where one direction
 * is enough, non-blocking both ways under poll() while an echo must be read
 * as it is sent (the echo server stops reading while its echo is not taken,
 * so sending everything first would deadlock once the buffers fill).
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/bench.h"

#define MAX_REPORTS	10	/* failures described one by one, then counted */
#define CONN_STALL_MS	10000	/* connrate, idle: one connection may take this */

/* One exchange on a connected socket: len bytes out from pos of the stream
 * seed (or fixed, again and again), and back what the peer sends. */
struct xfer {
	int fd;
	bool echo;		/* the peer echoes: check what comes back */
	bool shut;		/* half-close after the last byte, read to EOF */
	uint64_t seed, pos, len;
	const uint8_t *fixed;	/* source: sent as is, chunk bytes */
	size_t chunk;
	uint8_t *sbuf, *rbuf, *ebuf;	/* chunk, BENCH_BUF, BENCH_BUF */
	uint64_t sent, got;
	const char *why;	/* a failure: what, with err (0: none) */
	int err;
	char msg[96];		/* why, where it is made up */
};

struct job {
	const struct bench_opts *o;
	struct bench_peer peer;
	uint8_t *fixed;		/* source's buffer */
	uint64_t deadline;	/* connrate */
	atomic_ulong claimed;	/* idle: connections claimed by the threads */
	atomic_ulong reports;
	int *fds;		/* idle: the connections held */
};

struct worker {
	struct job *j;
	pthread_t tid;
	bool started, failed;
	unsigned long id, errors;
	uint64_t moved, t0, t1;	/* push, source */
	uint64_t *samples;	/* ns per round trip, grown as needed */
	size_t n, cap;
};

static int
xfer_fail(struct xfer *x, const char *why, int err)
{
	x->why = why;
	x->err = err;
	return -1;
}

/* Reads into x->rbuf and checks it; 1 at the end, 0 to go on, -1 failed. */
static int
xfer_recv(struct xfer *x, bool wait)
{
	uint64_t at = x->pos + x->got;
	ssize_t n = recv(x->fd, x->rbuf, BENCH_BUF, wait ? 0 : MSG_DONTWAIT);

	if (n == 0 && x->shut)
		return !x->echo || x->got == x->len ? 1 : xfer_fail(x,
		    x->got < x->len ? "the echo ended short" : "the echo ran long", 0);
	if (n == 0)
		return xfer_fail(x, "closed before the echo", 0);
	if (n < 0)
		return errno == EINTR || (!wait && errno == EAGAIN) ? 0 :
		    xfer_fail(x, errno == EAGAIN ? "no progress (stalled)" :
		    "recv", errno == EAGAIN ? 0 : errno);
	x->got += (uint64_t)n;
	if (x->echo && x->got <= x->len) {
		pattern_fill(x->seed, at, x->ebuf, (size_t)n);
		if (memcmp(x->ebuf, x->rbuf, (size_t)n) == 0)
			return !x->shut && x->got >= x->len;
		for (size_t i = 0; ; i++)
			if (x->ebuf[i] != x->rbuf[i]) {
				snprintf(x->msg, sizeof(x->msg), "the echo differs "
				    "at byte %" PRIu64 " (sent 0x%02x, got 0x%02x)",
				    at - x->pos + i, x->ebuf[i], x->rbuf[i]);
				return xfer_fail(x, x->msg, 0);
			}
	}
	return !x->shut && x->got >= x->len;
}

static int
exchange(struct xfer *x)
{
	size_t soff = 0, slen = 0;
	struct pollfd pfd = { .fd = x->fd };
	bool both, progress;
	ssize_t n;
	int rc;

	x->sent = x->got = 0;
	for (;;) {
		both = x->echo && x->sent < x->len;
		progress = false;
		if (x->sent < x->len) {
			if (slen == 0) {
				slen = x->len - x->sent < x->chunk ?
				    (size_t)(x->len - x->sent) : x->chunk;
				if (x->fixed == NULL)
					pattern_fill(x->seed, x->pos + x->sent,
					    x->sbuf, slen);
				soff = 0;
			}
			n = send(x->fd, (x->fixed ? x->fixed : x->sbuf) + soff,
			    slen, MSG_NOSIGNAL | (both ? MSG_DONTWAIT : 0));
			if (n < 0 && errno != EINTR && (!both || errno != EAGAIN))
				return xfer_fail(x, errno == EAGAIN ?
				    "no progress (stalled)" : "send",
				    errno == EAGAIN ? 0 : errno);
			if (n > 0) {
				soff += (size_t)n;
				slen -= (size_t)n;
				x->sent += (uint64_t)n;
				progress = true;
			}
			if (x->sent == x->len && x->shut &&
			    shutdown(x->fd, SHUT_WR) == -1)
				return xfer_fail(x, "shutdown", errno);
		}
		/* Once all is sent, one blocking recv waits for the echo. */
		both = x->echo && x->sent < x->len;
		if (x->sent == x->len || both) {
			uint64_t got = x->got;

			if ((rc = xfer_recv(x, !both)) != 0)
				return rc == 1 ? 0 : -1;
			progress |= x->got > got;
		}
		if (!both || progress)
			continue;
		pfd.events = POLLIN | POLLOUT;
		if (poll(&pfd, 1, BENCH_STALL_MS) == 0)
			return xfer_fail(x, "no progress (stalled)", 0);
	}
}

static void
report(struct job *j, const char *who, unsigned long id, const struct xfer *x)
{
	if (atomic_fetch_add(&j->reports, 1) >= MAX_REPORTS)
		return;
	errno = x->err;
	if (x->err != 0)
		bench_warn("%s %lu: %s", who, id, x->why);
	else
		bench_warnx("%s %lu: %s", who, id, x->why);
}

static int
sample(struct worker *w, uint64_t ns)
{
	if (w->n == w->cap) {
		size_t cap = w->cap == 0 ? 4096 : w->cap * 2;
		uint64_t *s = realloc(w->samples, cap * sizeof(*s));

		if (s == NULL)
			return -1;
		w->samples = s;
		w->cap = cap;
	}
	w->samples[w->n++] = ns;
	return 0;
}

/* push, source: one stream of --bytes. */
static void
run_stream(struct worker *w, struct xfer *x)
{
	const struct bench_opts *o = w->j->o;

	x->seed = pattern_seed(w->id);
	x->len = o->bytes;
	x->shut = true;
	x->fixed = w->j->fixed;
	w->t0 = bench_now_ns();
	if ((x->fd = net_connect(&w->j->peer, BENCH_STALL_MS)) == -1)
		xfer_fail(x, "connect", errno);
	else if (exchange(x) == 0)
		w->moved = x->len;
	if (x->why != NULL) {
		w->failed = true;
		report(w->j, "stream", w->id, x);
	}
	w->t1 = bench_now_ns();
	if (x->fd != -1)
		close(x->fd);
}

/* rr, connrate, idle: round trips, each timed. */
static void
run_trips(struct worker *w, struct xfer *x)
{
	const struct bench_opts *o = w->j->o;
	struct job *j = w->j;
	unsigned long idx = 0, warmup = o->mode == M_RR ? o->warmup : 0;
	uint64_t t;

	x->seed = pattern_seed(w->id);
	x->len = o->mode == M_RR ? o->size : o->mode == M_IDLE ? 8 : 1;
	x->fd = -1;
	for (uint64_t i = 0;; i++) {
		if (o->mode == M_RR ? i >= warmup + o->count :
		    o->mode == M_CONNRATE ? bench_now_ns() >= j->deadline :
		    (idx = atomic_fetch_add(&j->claimed, 1)) >= o->conns)
			break;
		x->pos = i * x->len;	/* a new message each time */
		x->why = NULL;
		t = bench_now_ns();
		if (x->fd == -1 && (x->fd = net_connect(&j->peer,
		    o->mode == M_RR ? BENCH_STALL_MS : CONN_STALL_MS)) == -1)
			xfer_fail(x, "connect", errno);
		else
			exchange(x);
		t = bench_now_ns() - t;
		if (x->why != NULL) {
			w->errors++;
			report(j, o->mode == M_IDLE ? "connection" : "round trip",
			    (unsigned long)i, x);
			if (x->fd != -1)
				close(x->fd);
			x->fd = -1;
			if (o->mode == M_RR)
				break;
			continue;
		}
		if (i >= warmup && sample(w, t) == -1) {
			w->failed = true;
			break;
		}
		if (o->mode == M_IDLE)
			j->fds[idx] = x->fd;
		else if (o->mode == M_CONNRATE)
			close(x->fd);
		if (o->mode != M_RR)
			x->fd = -1;
	}
	if (x->fd != -1)
		close(x->fd);
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	const struct bench_opts *o = w->j->o;
	struct xfer x = { .echo = o->mode != M_SOURCE, .chunk = o->chunk };

	x.sbuf = malloc(o->chunk);
	x.rbuf = malloc(BENCH_BUF);
	x.ebuf = malloc(BENCH_BUF);
	if (x.sbuf == NULL || x.rbuf == NULL || x.ebuf == NULL) {
		bench_warn("malloc");
		w->failed = true;
	} else if (o->mode == M_PUSH || o->mode == M_SOURCE)
		run_stream(w, &x);
	else
		run_trips(w, &x);
	free(x.sbuf);
	free(x.rbuf);
	free(x.ebuf);
	return NULL;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of n sorted samples, in microseconds. */
static double
pct_us(const uint64_t *s, size_t n, unsigned permille)
{
	size_t rank = (n * permille + 999) / 1000;

	return n == 0 ? 0 : (double)s[rank > 0 ? rank - 1 : 0] / 1000.0;
}

/* rr, connrate, idle: one line of percentiles over every thread's samples. */
static int
report_trips(const struct bench_opts *o, struct worker *ws, unsigned long nw,
    double secs, unsigned long errors, bool failed)
{
	static const char *names[] = { [M_RR] = "rr", [M_CONNRATE] = "connrate",
	    [M_IDLE] = "idle" };
	uint64_t *all;
	size_t n = 0;
	bool ok;

	for (unsigned long i = 0; i < nw; i++)
		n += ws[i].n;
	if ((all = malloc((n + 1) * sizeof(*all))) == NULL) {
		bench_warn("malloc");
		return -1;
	}
	n = 0;
	for (unsigned long i = 0; i < nw; i++) {
		if (ws[i].n > 0)
			memcpy(all + n, ws[i].samples, ws[i].n * sizeof(*all));
		n += ws[i].n;
	}
	qsort(all, n, sizeof(*all), cmp_u64);
	ok = n > 0 && errors == 0 && !failed;
	printf(o->json ? "{\"mode\":\"%s\",\"threads\":%lu,\"size\":%" PRIu64
	    ",\"seconds\":%.3f,\"count\":%zu,\"errors\":%lu,\"per_s\":%.1f,"
	    "\"p50_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,\"max_us\":%.1f,"
	    "\"ok\":%s}\n" : "%s: %lu threads, %" PRIu64 " B, %.2f s: %zu ok, "
	    "%lu errors, %.1f/s; us p50 %.1f, p99 %.1f, p99.9 %.1f, max %.1f, "
	    "%s\n", names[o->mode], nw, o->mode == M_RR ? o->size :
	    o->mode == M_IDLE ? 8 : 1, secs, n, errors, secs > 0 ? n / secs : 0,
	    pct_us(all, n, 500), pct_us(all, n, 990), pct_us(all, n, 999),
	    n > 0 ? all[n - 1] / 1000.0 : 0, ok ? "true" : "false");
	fflush(stdout);
	free(all);
	return ok ? 0 : -1;
}

/* Waits --hold seconds, or without it until stdin ends. */
static void
hold(double secs)
{
	char junk[512];

	if (secs >= 0) {
		for (uint64_t end = bench_now_ns() + (uint64_t)(secs * 1e9);
		    bench_now_ns() < end; )
			usleep(100000);
		return;
	}
	while (read(STDIN_FILENO, junk, sizeof(junk)) > 0)
		;
}

int
client_run(const struct bench_opts *o)
{
	bool stream = o->mode == M_PUSH || o->mode == M_SOURCE, failed = false;
	unsigned long nw = stream ? o->streams : o->mode == M_RR ? 1 :
	    o->concurrency, errors = 0;
	struct job j = { .o = o };
	struct worker *ws = calloc(nw, sizeof(*ws));
	uint64_t t0 = bench_now_ns(), t1 = 0, moved = 0;
	double secs;
	int err, rc = -1;

	if (o->mode == M_IDLE)
		net_raise_nofile();
	if (ws == NULL || (o->mode == M_SOURCE &&
	    (j.fixed = malloc(o->chunk)) == NULL) || (o->mode == M_IDLE &&
	    (j.fds = malloc(o->conns * sizeof(*j.fds))) == NULL)) {
		bench_warn("malloc");
		goto out;
	}
	if (net_resolve(&o->addr, false, &j.peer) == -1)
		goto out;
	if (j.fixed != NULL)
		pattern_fill(pattern_seed(0), 0, j.fixed, o->chunk);
	for (unsigned long i = 0; i < o->conns && j.fds != NULL; i++)
		j.fds[i] = -1;
	j.deadline = t0 + (uint64_t)(o->seconds * 1e9);
	for (unsigned long i = 0; i < nw; i++) {
		ws[i].j = &j;
		ws[i].id = i;
		err = pthread_create(&ws[i].tid, NULL, worker_main, &ws[i]);
		ws[i].started = err == 0;
		if (err != 0) {
			errno = err;
			bench_warn("thread %lu: pthread_create", i);
			failed = true;
		}
	}
	for (unsigned long i = 0; i < nw; i++) {
		if (ws[i].started)
			pthread_join(ws[i].tid, NULL);
		failed |= ws[i].failed;
		errors += ws[i].errors;
		moved += ws[i].moved;
		t0 = ws[i].t0 != 0 && ws[i].t0 < t0 ? ws[i].t0 : t0;
		t1 = ws[i].t1 > t1 ? ws[i].t1 : t1;
	}
	if (!stream) {
		/* The last connections may end after the deadline: their time
		 * counts. */
		secs = (bench_now_ns() - t0) / 1e9;
		rc = report_trips(o, ws, nw, secs, errors, failed);
		if (o->mode == M_IDLE)
			hold(o->hold);
		goto out;
	}
	secs = t1 > t0 ? (t1 - t0) / 1e9 : 0;
	if (o->json)
		printf("{\"streams\":%lu,\"bytes\":%" PRIu64 ",\"seconds\":%.6f,"
		    "\"gbps\":%.3f,\"ok\":%s}\n", nw, moved, secs,
		    secs > 0 ? moved * 8 / secs / 1e9 : 0, failed ? "false" : "true");
	else
		printf("total: %lu streams, %" PRIu64 " bytes in %.3f s: %.2f "
		    "Gbit/s%s, %s\n", nw, moved, secs,
		    secs > 0 ? moved * 8 / secs / 1e9 : 0,
		    o->mode == M_PUSH ? " each way" : "", failed ? "FAILED" :
		    o->mode == M_PUSH ? "integrity OK" : "ok");
	fflush(stdout);
	rc = failed ? -1 : 0;
out:
	for (unsigned long i = 0; ws != NULL && i < nw; i++)
		free(ws[i].samples);
	for (unsigned long i = 0; j.fds != NULL && i < o->conns; i++)
		if (j.fds[i] != -1)
			close(j.fds[i]);
	free(j.fds);
	free(j.fixed);
	free(ws);
	return rc;
}
