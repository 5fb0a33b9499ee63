/*
 * source.c: one-direction throughput into a sink.
 *
 * Every stream sends the same pre-filled buffer, so no per-byte work is done
 * here.  The clock stops only when the sink's close arrives after our
 * half-close: close() on our side returns while data still sits in socket
 * buffers (and in the proxies), which would overstate the throughput.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench/bench.h"

struct source {
	const struct bench_opts *o;
	const struct bench_peer *peer;
	const uint8_t *buf;	/* o->chunk bytes, shared, read-only */
	unsigned long id;
	pthread_t tid;
	bool started;
	bool ok;
	uint64_t sent;
	uint64_t t_start, t_end;
};

/* Blocking calls under SO_*TIMEO: EAGAIN means the peer stalled. */
static void
warn_io(const char *who, const char *what)
{
	if (errno == EAGAIN || errno == EWOULDBLOCK)
		bench_warnx("%s: %s: no progress for %d s", who, what,
		    BENCH_STALL_MS / 1000);
	else
		bench_warn("%s: %s", who, what);
}

static int
source_pump(struct source *s, int fd, const char *who)
{
	uint8_t drain[4096];
	uint64_t left;
	ssize_t n;

	while (s->sent < s->o->bytes) {
		left = s->o->bytes - s->sent;
		n = send(fd, s->buf, left < s->o->chunk ? (size_t)left :
		    (size_t)s->o->chunk, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			warn_io(who, "send");
			return -1;
		}
		s->sent += (uint64_t)n;
	}
	if (shutdown(fd, SHUT_WR) == -1) {
		bench_warn("%s: shutdown", who);
		return -1;
	}
	for (;;) {
		n = recv(fd, drain, sizeof(drain), 0);
		if (n == 0)
			return 0;
		if (n < 0 && errno != EINTR) {
			warn_io(who, "waiting for the sink to close");
			return -1;
		}
	}
}

static void *
source_main(void *arg)
{
	struct source *s = arg;
	char who[32];
	int fd;

	snprintf(who, sizeof(who), "stream %lu", s->id);
	s->t_start = bench_now_ns();
	fd = net_connect(s->peer, who);
	if (fd != -1) {
		net_timeouts(fd, BENCH_STALL_MS);
		s->ok = source_pump(s, fd, who) == 0;
		close(fd);
	}
	s->t_end = bench_now_ns();
	return NULL;
}

int
cmd_source(const struct bench_opts *o)
{
	struct bench_peer peer;
	struct source *ss;
	uint8_t *buf;
	uint64_t t0 = UINT64_MAX, t1 = 0, total = 0;
	unsigned long bad = 0;
	double secs, gbps;
	int rc = -1, err;

	if (net_resolve(&o->addr, false, &peer) == -1)
		goto out;
	buf = malloc(o->chunk);
	if (buf == NULL) {
		bench_warn("malloc");
		goto out;
	}
	pattern_fill(pattern_seed(0), 0, buf, o->chunk);
	ss = calloc(o->streams, sizeof(*ss));
	if (ss == NULL) {
		bench_warn("calloc");
		goto out_buf;
	}
	for (unsigned long i = 0; i < o->streams; i++) {
		ss[i].o = o;
		ss[i].peer = &peer;
		ss[i].buf = buf;
		ss[i].id = i;
		err = pthread_create(&ss[i].tid, NULL, source_main, &ss[i]);
		if (err != 0) {
			errno = err;
			bench_warn("stream %lu: pthread_create", i);
			continue;
		}
		ss[i].started = true;
	}
	for (unsigned long i = 0; i < o->streams; i++) {
		if (!ss[i].started) {
			bad++;
			continue;
		}
		pthread_join(ss[i].tid, NULL);
		if (!ss[i].ok)
			bad++;
		total += ss[i].sent;
		if (ss[i].t_start < t0)
			t0 = ss[i].t_start;
		if (ss[i].t_end > t1)
			t1 = ss[i].t_end;
	}
	secs = t1 > t0 ? (double)(t1 - t0) / 1e9 : 0;
	gbps = secs > 0 ? (double)total * 8 / secs / 1e9 : 0;
	if (o->json)
		printf("{\"streams\":%lu,\"bytes\":%" PRIu64 ",\"bytes_per_stream\":%"
		    PRIu64 ",\"seconds\":%.6f,\"gbps\":%.3f,\"ok\":%s}\n",
		    o->streams, total, o->bytes, secs, gbps,
		    bad == 0 ? "true" : "false");
	else
		printf("source: %lu x %" PRIu64 " bytes: %" PRIu64 " bytes in "
		    "%.3f s: %.2f Gbit/s%s\n", o->streams, o->bytes, total, secs,
		    gbps, bad == 0 ? "" : ", FAILED");
	fflush(stdout);
	if (bad == 0)
		rc = 0;
	else
		bench_warnx("source: %lu of %lu streams failed", bad, o->streams);
	free(ss);
out_buf:
	free(buf);
out:
	return rc;
}
