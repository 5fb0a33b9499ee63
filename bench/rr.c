/*
 * rr.c: request/response latency over one connection to an echo server.
 *
 * The fast path is two syscalls per round trip: a non-blocking send that
 * takes the whole message, then a blocking recv.  Only a message larger than
 * the socket buffers falls back to poll(), reading while it still sends, so
 * the echo can never deadlock against us.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench/bench.h"

/* One message out, its full echo back into in; -1 (reported) on error. */
static int
round_trip(int fd, const uint8_t *out, uint8_t *in, size_t size)
{
	size_t sent = 0, got = 0;
	struct pollfd pfd = { .fd = fd };
	ssize_t n;
	int flags;

	while (got < size) {
		if (sent < size) {
			n = send(fd, out + sent, size - sent,
			    MSG_NOSIGNAL | MSG_DONTWAIT);
			if (n > 0)
				sent += (size_t)n;
			else if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR) {
				bench_warn("rr: send");
				return -1;
			}
		}
		flags = sent < size ? MSG_DONTWAIT : 0;
		n = recv(fd, in + got, size - got, flags);
		if (n > 0) {
			got += (size_t)n;
			continue;
		}
		if (n == 0) {
			bench_warnx("rr: echo closed the connection after %zu of "
			    "%zu bytes", got, size);
			return -1;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			bench_warn("rr: recv");
			return -1;
		}
		if (flags == 0) {
			bench_warnx("rr: no echo for %d s", BENCH_STALL_MS / 1000);
			return -1;
		}
		pfd.events = POLLIN | POLLOUT;
		if (poll(&pfd, 1, BENCH_STALL_MS) == 0) {
			bench_warnx("rr: no progress for %d s",
			    BENCH_STALL_MS / 1000);
			return -1;
		}
	}
	return 0;
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

	if (rank < 1)
		rank = 1;
	return (double)s[rank - 1] / 1000.0;
}

int
cmd_rr(const struct bench_opts *o)
{
	struct bench_peer peer;
	uint8_t *out = NULL, *in = NULL;
	uint64_t *samples, t;
	size_t size = (size_t)o->size, n = o->count;
	double p50, p99, p999, max;
	int fd, rc = -1;

	if (net_resolve(&o->addr, false, &peer) == -1)
		goto out;
	samples = malloc(n * sizeof(*samples));
	out = malloc(size);
	in = malloc(size);
	if (samples == NULL || out == NULL || in == NULL) {
		bench_warn("malloc");
		goto out_free;
	}
	fd = net_connect(&peer, NULL);
	if (fd == -1)
		goto out_free;
	net_nodelay(fd);
	net_timeouts(fd, BENCH_STALL_MS);

	for (size_t i = 0; i < o->warmup + n; i++) {
		/* A different message each time, so a stale echo cannot pass. */
		pattern_fill(pattern_seed(0), (uint64_t)i * size, out, size);
		t = bench_now_ns();
		if (round_trip(fd, out, in, size) == -1)
			goto out_close;
		t = bench_now_ns() - t;
		if (memcmp(out, in, size) != 0) {
			bench_warnx("rr: echo of message %zu differs from what "
			    "was sent", i);
			goto out_close;
		}
		if (i >= o->warmup)
			samples[i - o->warmup] = t;
	}

	qsort(samples, n, sizeof(*samples), cmp_u64);
	p50 = pct_us(samples, n, 500);
	p99 = pct_us(samples, n, 990);
	p999 = pct_us(samples, n, 999);
	max = (double)samples[n - 1] / 1000.0;
	if (o->json)
		printf("{\"count\":%zu,\"size\":%zu,\"p50_us\":%.1f,"
		    "\"p99_us\":%.1f,\"p999_us\":%.1f,\"max_us\":%.1f}\n",
		    n, size, p50, p99, p999, max);
	else
		printf("rr: %zu x %zu B: p50 %.1f us, p99 %.1f us, p99.9 %.1f us,"
		    " max %.1f us\n", n, size, p50, p99, p999, max);
	fflush(stdout);
	rc = 0;

out_close:
	close(fd);
out_free:
	free(in);
	free(out);
	free(samples);
out:
	return rc;
}
