/*
 * connrate.c: new connections per second through a proxy pair to an echo.
 *
 * Each of --concurrency threads loops: connect, send one byte, read its echo,
 * close.  The echo is what makes a connection count: through a TLS proxy,
 * connect() completes against the local proxy at once, and only a byte that
 * came back proves the handshake behind it finished.  The time recorded per
 * connection runs from before connect() to the echo's arrival.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench/bench.h"

#define CR_STALL_MS	10000	/* one connection may take this long */
#define MAX_REPORTS	10	/* failures described one by one, then counted */

/* What every thread shares: read-only but for the report count. */
struct crshared {
	const struct bench_peer *peer;
	uint64_t deadline;	/* bench_now_ns() at which to stop starting */
	atomic_ulong reports;	/* failures described so far */
};

struct crthread {
	struct crshared *sh;
	pthread_t tid;
	bool started;
	uint64_t *samples;	/* ns per good connection, grown as needed */
	size_t nsamples, cap;
	unsigned long errors;
	bool nomem;
};

static void
cr_report(struct crshared *sh, const char *what, int err)
{
	if (atomic_fetch_add(&sh->reports, 1) >= MAX_REPORTS)
		return;
	if (err == EAGAIN || err == EWOULDBLOCK)
		bench_warnx("connrate: %s: no answer for %d s", what,
		    CR_STALL_MS / 1000);
	else if (err != 0) {
		errno = err;
		bench_warn("connrate: %s", what);
	} else
		bench_warnx("connrate: %s", what);
}

/* One connection: connect, one byte out, its echo back.  0 or -1. */
static int
cr_once(struct crshared *sh, uint8_t b)
{
	const struct bench_peer *peer = sh->peer;
	uint8_t in;
	ssize_t n;
	int fd, rc = -1;

	fd = -1;
	for (int i = 0; i < peer->n && fd == -1; i++) {
		fd = socket(peer->ss[i].ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd == -1)
			continue;
		if (connect(fd, (const struct sockaddr *)&peer->ss[i],
		    peer->len[i]) == 0)
			break;
		if (i + 1 == peer->n)
			cr_report(sh, "connect", errno);
		close(fd);
		fd = -1;
	}
	if (fd == -1)
		return -1;
	net_nodelay(fd);
	net_timeouts(fd, CR_STALL_MS);
	do
		n = send(fd, &b, 1, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n != 1) {
		cr_report(sh, "send", errno);
		goto out;
	}
	do
		n = recv(fd, &in, 1, 0);
	while (n < 0 && errno == EINTR);
	if (n == 0)
		cr_report(sh, "closed before the echo (handshake failed?)", 0);
	else if (n < 0)
		cr_report(sh, "recv", errno);
	else if (in != b)
		cr_report(sh, "echo differs from what was sent", 0);
	else
		rc = 0;
out:
	close(fd);
	return rc;
}

static void *
cr_main(void *arg)
{
	struct crthread *t = arg;
	uint64_t t0, t1;
	uint8_t b = 0;

	while ((t0 = bench_now_ns()) < t->sh->deadline) {
		if (cr_once(t->sh, b++) == -1) {
			t->errors++;
			continue;
		}
		t1 = bench_now_ns();
		if (t->nsamples == t->cap) {
			size_t cap = t->cap == 0 ? 4096 : t->cap * 2;
			uint64_t *s = realloc(t->samples, cap * sizeof(*s));

			if (s == NULL) {
				t->nomem = true;
				break;
			}
			t->samples = s;
			t->cap = cap;
		}
		t->samples[t->nsamples++] = t1 - t0;
	}
	return NULL;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile (in tenths of a percent) of sorted samples, in us. */
static double
pct_us(const uint64_t *s, size_t n, unsigned permille)
{
	size_t rank = (n * permille + 999) / 1000;

	if (n == 0)
		return 0;
	if (rank < 1)
		rank = 1;
	return (double)s[rank - 1] / 1000.0;
}

int
cmd_connrate(const struct bench_opts *o)
{
	struct bench_peer peer;
	struct crshared sh = { .peer = &peer };
	struct crthread *ts;
	uint64_t *all = NULL, t0, t1;
	size_t n = 0;
	unsigned long errors = 0, bad = 0;
	double secs, rate, p50, p99;
	int rc = -1, err;

	if (net_resolve(&o->addr, false, &peer) == -1)
		goto out;
	ts = calloc(o->concurrency, sizeof(*ts));
	if (ts == NULL) {
		bench_warn("calloc");
		goto out;
	}
	atomic_init(&sh.reports, 0);
	t0 = bench_now_ns();
	sh.deadline = t0 + (uint64_t)(o->seconds * 1e9);
	for (unsigned long i = 0; i < o->concurrency; i++) {
		ts[i].sh = &sh;
		err = pthread_create(&ts[i].tid, NULL, cr_main, &ts[i]);
		if (err != 0) {
			errno = err;
			bench_warn("connrate: thread %lu: pthread_create", i);
			bad++;
			continue;
		}
		ts[i].started = true;
	}
	for (unsigned long i = 0; i < o->concurrency; i++)
		if (ts[i].started)
			pthread_join(ts[i].tid, NULL);
	/* The last connections may end after the deadline: count their time. */
	t1 = bench_now_ns();

	for (unsigned long i = 0; i < o->concurrency; i++) {
		n += ts[i].nsamples;
		errors += ts[i].errors;
		if (ts[i].nomem)
			bad++;
	}
	if (n > 0 && (all = malloc(n * sizeof(*all))) == NULL) {
		bench_warn("malloc");
		goto out_free;
	}
	n = 0;
	for (unsigned long i = 0; i < o->concurrency; i++) {
		if (ts[i].nsamples > 0)
			memcpy(all + n, ts[i].samples,
			    ts[i].nsamples * sizeof(*all));
		n += ts[i].nsamples;
	}
	qsort(all, n, sizeof(*all), cmp_u64);
	secs = (double)(t1 - t0) / 1e9;
	rate = secs > 0 ? (double)n / secs : 0;
	p50 = pct_us(all, n, 500);
	p99 = pct_us(all, n, 990);
	if (o->json)
		printf("{\"concurrency\":%lu,\"seconds\":%.3f,\"conns\":%zu,"
		    "\"errors\":%lu,\"conns_per_s\":%.1f,\"p50_us\":%.1f,"
		    "\"p99_us\":%.1f,\"ok\":%s}\n", o->concurrency, secs, n,
		    errors, rate, p50, p99,
		    n > 0 && errors == 0 && bad == 0 ? "true" : "false");
	else
		printf("connrate: %lu threads, %.2f s: %zu connections "
		    "(%.1f/s), %lu errors, connect+echo p50 %.1f us, "
		    "p99 %.1f us\n", o->concurrency, secs, n, rate, errors,
		    p50, p99);
	fflush(stdout);
	if (errors > 0)
		bench_warnx("connrate: %lu connections failed", errors);
	if (bad > 0)
		bench_warnx("connrate: %lu threads failed", bad);
	if (n > 0 && errors == 0 && bad == 0)
		rc = 0;

out_free:
	free(all);
	for (unsigned long i = 0; i < o->concurrency; i++)
		free(ts[i].samples);
	free(ts);
out:
	return rc;
}
