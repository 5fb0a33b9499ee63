/*
 * push.c: the integrity and throughput client for an echo server.
 *
 * Each stream is one thread and one connection.  It sends the deterministic
 * pattern while reading the echo back on the same non-blocking socket: the
 * echo server stops reading while its echo is not taken, so sending all
 * first would deadlock as soon as the socket buffers fill.  The receive side
 * regenerates the pattern at the received offset and compares, so no copy of
 * what was sent is kept.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench/bench.h"

struct stream {
	const struct bench_opts *o;
	const struct bench_peer *peer;
	unsigned long id;
	pthread_t tid;
	bool started;		/* tid is valid */
	uint64_t seed;
	uint8_t *ebuf;		/* expected bytes, regenerated per read */

	/* Results, read by the main thread after the join. */
	bool net_error;		/* already reported on stderr */
	bool mismatch;
	uint64_t bad_off;	/* first differing offset */
	uint8_t bad_want, bad_got;
	uint64_t sent, echoed;
	uint64_t t_start, t_end;
	struct csum cs;
};

/* Hashes and verifies one received block at offset st->echoed. */
static void
stream_check(struct stream *st, const uint8_t *p, size_t n)
{
	uint64_t pos = st->echoed;
	size_t m;

	csum_update(&st->cs, p, n);
	st->echoed += n;
	if (st->mismatch || pos >= st->o->bytes)
		return;
	m = st->o->bytes - pos < n ? (size_t)(st->o->bytes - pos) : n;
	pattern_fill(st->seed, pos, st->ebuf, m);
	if (memcmp(st->ebuf, p, m) == 0)
		return;
	for (size_t i = 0; i < m; i++) {
		if (st->ebuf[i] != p[i]) {
			st->mismatch = true;
			st->bad_off = pos + i;
			st->bad_want = st->ebuf[i];
			st->bad_got = p[i];
			return;
		}
	}
}

/* Sends, receives and verifies until the echo's EOF; -1 on a network error. */
static int
stream_pump(struct stream *st, int fd, uint8_t *sbuf, uint8_t *rbuf,
    const char *who)
{
	const uint64_t bytes = st->o->bytes;
	size_t soff = 0, slen = 0;
	bool shut = false, progress;
	struct pollfd pfd;
	ssize_t n;

	for (;;) {
		progress = false;
		if (st->sent < bytes) {
			if (slen == 0) {
				slen = bytes - st->sent < st->o->chunk ?
				    (size_t)(bytes - st->sent) :
				    (size_t)st->o->chunk;
				pattern_fill(st->seed, st->sent, sbuf, slen);
				soff = 0;
			}
			n = send(fd, sbuf + soff, slen, MSG_NOSIGNAL);
			if (n > 0) {
				soff += (size_t)n;
				slen -= (size_t)n;
				st->sent += (uint64_t)n;
				progress = true;
			} else if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR) {
				bench_warn("%s: send", who);
				return -1;
			}
		}
		/* The half-close is what tells the echo server we are done. */
		if (st->sent == bytes && !shut) {
			if (shutdown(fd, SHUT_WR) == -1) {
				bench_warn("%s: shutdown", who);
				return -1;
			}
			shut = true;
		}
		n = recv(fd, rbuf, BENCH_BUF, 0);
		if (n > 0) {
			stream_check(st, rbuf, (size_t)n);
			progress = true;
		} else if (n == 0)
			return 0;
		else if (errno != EAGAIN && errno != EWOULDBLOCK &&
		    errno != EINTR) {
			bench_warn("%s: recv", who);
			return -1;
		}
		if (progress)
			continue;
		pfd.fd = fd;
		pfd.events = POLLIN | (st->sent < bytes ? POLLOUT : 0);
		n = poll(&pfd, 1, BENCH_STALL_MS);
		if (n == 0) {
			bench_warnx("%s: no progress for %d s (%" PRIu64
			    " bytes sent, %" PRIu64 " echoed)", who,
			    BENCH_STALL_MS / 1000, st->sent, st->echoed);
			return -1;
		}
		if (n == -1 && errno != EINTR) {
			bench_warn("%s: poll", who);
			return -1;
		}
	}
}

static void *
stream_main(void *arg)
{
	struct stream *st = arg;
	uint8_t *sbuf, *rbuf;
	char who[32];
	int fd;

	snprintf(who, sizeof(who), "stream %lu", st->id);
	st->t_start = bench_now_ns();
	st->net_error = true;	/* until the pump says otherwise */
	sbuf = malloc(st->o->chunk);
	rbuf = malloc(BENCH_BUF);
	st->ebuf = malloc(BENCH_BUF);
	if (sbuf == NULL || rbuf == NULL || st->ebuf == NULL) {
		bench_warn("%s: malloc", who);
		goto out;
	}
	fd = net_connect(st->peer, who);
	if (fd == -1)
		goto out;
	if (net_set_nonblock(fd) == 0 && stream_pump(st, fd, sbuf, rbuf,
	    who) == 0)
		st->net_error = false;
	close(fd);
out:
	st->t_end = bench_now_ns();
	free(st->ebuf);
	st->ebuf = NULL;
	free(rbuf);
	free(sbuf);
	return NULL;
}

static bool
stream_ok(const struct stream *st)
{
	return !st->net_error && !st->mismatch && st->sent == st->o->bytes &&
	    st->echoed == st->o->bytes;
}

/* One line per stream; failures go to stderr when stdout carries JSON. */
static void
stream_report(const struct stream *st, bool json)
{
	FILE *f = json ? stderr : stdout;
	uint64_t bytes = st->o->bytes;
	char what[160];

	if (json && stream_ok(st))
		return;
	if (!st->started)
		snprintf(what, sizeof(what), "FAILED (not started)");
	else if (st->mismatch)
		snprintf(what, sizeof(what), "MISMATCH at offset %" PRIu64
		    " (sent 0x%02x, got 0x%02x)", st->bad_off, st->bad_want,
		    st->bad_got);
	else if (st->net_error)
		snprintf(what, sizeof(what), "FAILED (network error above)");
	else if (st->sent < bytes)
		snprintf(what, sizeof(what), "FAILED (echo closed after %"
		    PRIu64 " of %" PRIu64 " bytes sent)", st->sent, bytes);
	else if (st->echoed < bytes)
		snprintf(what, sizeof(what), "SHORT by %" PRIu64 " bytes",
		    bytes - st->echoed);
	else if (st->echoed > bytes)
		snprintf(what, sizeof(what), "LONG by %" PRIu64 " bytes",
		    st->echoed - bytes);
	else
		snprintf(what, sizeof(what), "match");
	fprintf(f, "stream %lu: %" PRIu64 " bytes sent, %" PRIu64
	    " echoed, %s, checksum 0x%016" PRIx64 "\n", st->id, st->sent,
	    st->echoed, what, csum_final(&st->cs));
}

int
cmd_push(const struct bench_opts *o)
{
	struct bench_peer peer;
	struct stream *sts;
	uint64_t t0 = UINT64_MAX, t1 = 0, total = 0;
	unsigned long bad = 0;
	double secs, gbps;
	int rc = -1, err;

	if (net_resolve(&o->addr, false, &peer) == -1)
		goto out;
	sts = calloc(o->streams, sizeof(*sts));
	if (sts == NULL) {
		bench_warn("calloc");
		goto out;
	}
	for (unsigned long i = 0; i < o->streams; i++) {
		sts[i].o = o;
		sts[i].peer = &peer;
		sts[i].id = i;
		sts[i].seed = pattern_seed(i);
		sts[i].net_error = true;
		csum_init(&sts[i].cs);
		err = pthread_create(&sts[i].tid, NULL, stream_main, &sts[i]);
		if (err != 0) {
			errno = err;
			bench_warn("stream %lu: pthread_create", i);
			continue;
		}
		sts[i].started = true;
	}
	for (unsigned long i = 0; i < o->streams; i++) {
		if (!sts[i].started)
			continue;
		pthread_join(sts[i].tid, NULL);
		if (sts[i].t_start < t0)
			t0 = sts[i].t_start;
		if (sts[i].t_end > t1)
			t1 = sts[i].t_end;
	}
	for (unsigned long i = 0; i < o->streams; i++) {
		stream_report(&sts[i], o->json);
		if (!sts[i].started || !stream_ok(&sts[i]))
			bad++;
		/* What really made the round trip, so a failure shows no rate. */
		total += sts[i].echoed < o->bytes ? sts[i].echoed : o->bytes;
	}
	secs = t1 > t0 ? (double)(t1 - t0) / 1e9 : 0;
	gbps = secs > 0 ? (double)total * 8 / secs / 1e9 : 0;
	if (o->json)
		printf("{\"streams\":%lu,\"bytes\":%" PRIu64 ",\"bytes_per_stream\":%"
		    PRIu64 ",\"seconds\":%.6f,\"gbps_each_way\":%.3f,\"ok\":%s}\n",
		    o->streams, total, o->bytes, secs, gbps,
		    bad == 0 ? "true" : "false");
	else if (bad == 0)
		printf("total: %" PRIu64 " bytes each way in %.3f s: %.2f Gbit/s"
		    " each way, integrity OK\n", total, secs, gbps);
	else
		printf("total: %" PRIu64 " bytes each way in %.3f s: %.2f Gbit/s"
		    " each way, integrity FAILED (%lu of %lu streams)\n", total,
		    secs, gbps, bad, o->streams);
	fflush(stdout);
	if (bad == 0)
		rc = 0;
	free(sts);
out:
	return rc;
}
