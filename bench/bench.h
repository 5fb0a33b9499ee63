/*
 * bench.h: mtlsd-bench, the plain-TCP load source, sink and echo that sits on
 * both ends of the proxies under test, and the AEAD timer of the benchmark.
 *
 * It never speaks TLS and links none of the daemon's data path: an
 * independent peer, so a bug in mtlsd cannot hide behind the same bug here.
 * It takes its addresses, sizes and counts with config/parse.c's parsers.
 * Every command returns 0 on success and -1 on failure, reported where it is
 * first detected.
 */
#ifndef MTLSD_BENCH_H
#define MTLSD_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "config/parse.h"

#define BENCH_BUF	(256u * 1024)	/* every read, and the default write */
#define BENCH_STALL_MS	30000		/* no progress this long is an error */
#define BENCH_MAX_AI	8		/* resolved addresses kept per name */

/* A resolved --connect or --listen: candidate socket addresses, in order. */
struct bench_peer {
	int n;
	struct sockaddr_storage ss[BENCH_MAX_AI];
	socklen_t len[BENCH_MAX_AI];
	const char *text;	/* borrowed from the struct addr */
};

/* What a client command does; see client.c. */
enum bench_mode { M_PUSH, M_SOURCE, M_RR, M_CONNRATE, M_IDLE };

/* Everything the command line sets; main fills it, commands only read. */
struct bench_opts {
	enum bench_mode mode;
	struct addr addr;	/* --listen or --connect */
	bool json;		/* one JSON object on stdout instead of text */
	uint64_t bytes;		/* push, source: bytes per stream */
	uint64_t chunk;		/* push, source: bytes per send() */
	uint64_t size;		/* rr: message size */
	unsigned long streams;	/* push, source: parallel connections */
	unsigned long count;	/* rr: recorded round trips */
	unsigned long warmup;	/* rr: unrecorded round trips first */
	unsigned long conns;	/* idle: connections to open and hold */
	unsigned long concurrency; /* connrate, idle: connecting threads */
	double seconds;		/* connrate: how long; aead: per figure */
	double hold;		/* idle: seconds to hold; < 0: until stdin ends */
};

/* "mtlsd-bench: <fmt>[: strerror(errno)]" on stderr. */
void bench_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void bench_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t bench_now_ns(void);

/*
 * The test stream: byte pos of stream seed is a wyrand-style hash of (seed,
 * pos / 8), so sender and verifier make any range on their own, and no layer
 * can compress it.  Not crypto.
 */
uint64_t pattern_seed(unsigned long stream);
void pattern_fill(uint64_t seed, uint64_t pos, uint8_t *buf, size_t len);

/* Resolves a (AI_PASSIVE when passive); -1 reported.  p->text borrows a. */
int net_resolve(const struct addr *a, bool passive, struct bench_peer *p);

/* A non-blocking listener on a; prints "listening ADDR".  fd or -1 reported. */
int net_listen(const struct addr *a);

/* Blocking connect to the first address of p that takes it, TCP_NODELAY and
 * SO_*TIMEO of ms set.  fd, or -1 with errno set (not reported). */
int net_connect(const struct bench_peer *p, unsigned ms);

/* RLIMIT_NOFILE's soft limit up to the hard one; best effort. */
void net_raise_nofile(void);

int srv_run(const struct bench_opts *o, bool echo);	/* servers.c */
int client_run(const struct bench_opts *o);		/* client.c */
int aead_run(const struct bench_opts *o);		/* aead.c */

#endif /* MTLSD_BENCH_H */
