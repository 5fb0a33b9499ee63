/*
 * bench.h: shared declarations of mtlsd-bench, the plain-TCP load source and
 * sink that sits on both ends of the proxies under test.
 *
 * mtlsd-bench never speaks TLS and never links the daemon's modules: it is an
 * independent peer, so a bug in mtlsd cannot hide behind the same bug here.
 * Every command returns 0 on success and -1 on failure (main turns -1 into
 * exit status 1); each failure is reported where it is first detected.
 */
#ifndef MTLSD_BENCH_H
#define MTLSD_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Buffer size for every read and the default write size. */
#define BENCH_BUF	(256u * 1024)

/* A client gives up when a connection makes no progress for this long. */
#define BENCH_STALL_MS	30000

/* How many resolved addresses of one name are kept (tried in order). */
#define BENCH_MAX_AI	8

/* host:port, [v6]:port or unix:/path, as typed on the command line. */
struct bench_addr {
	bool is_unix;
	char host[256];		/* inet: name or literal, no brackets */
	char port[8];		/* inet: decimal, "0" allowed for --listen */
	char path[108];		/* unix: sizeof(sun_path) on Linux */
	char text[280];		/* as given, for messages */
};

/* The resolved form of a bench_addr: candidate socket addresses, in order. */
struct bench_peer {
	int n;
	struct sockaddr_storage ss[BENCH_MAX_AI];
	socklen_t len[BENCH_MAX_AI];
	const char *text;	/* borrowed from the bench_addr */
};

/* Everything the command line can set; main fills it, commands only read. */
struct bench_opts {
	struct bench_addr addr;	/* --listen or --connect */
	bool once;		/* echo/sink: exit after the first connection */
	bool json;		/* one JSON object on stdout instead of text */
	uint64_t bytes;		/* push/source: bytes per stream */
	uint64_t chunk;		/* push/source: bytes per send() */
	uint64_t size;		/* rr: message size */
	unsigned long streams;	/* push/source: parallel connections */
	unsigned long count;	/* rr: recorded round trips */
	unsigned long warmup;	/* rr: unrecorded round trips first */
	unsigned long conns;	/* idle: connections to open */
	double hold;		/* idle: seconds to hold; < 0 means until EOF/signal */
	double seconds;		/* connrate: how long to keep connecting */
	unsigned long concurrency; /* connrate: parallel connecting threads */
};

/* --- util.c ------------------------------------------------------------- */

/* "mtlsd-bench: <fmt>: <strerror(errno)>" on stderr; errno is preserved. */
void bench_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* "mtlsd-bench: <fmt>" on stderr. */
void bench_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t bench_now_ns(void);

/*
 * The deterministic test stream: byte `pos` of stream `seed` is byte pos % 8
 * (little-endian) of word pos / 8, a wyrand-style hash of (seed, pos / 8).
 * Counter-based, so any range can be regenerated independently by the sender
 * and the verifier; incompressible, so no layer can shrink it.  Not crypto.
 */
uint64_t pattern_seed(unsigned long stream);
void pattern_fill(uint64_t seed, uint64_t pos, uint8_t *buf, size_t len);

/*
 * Checksum shown next to each stream: four interleaved FNV-1a-64 lanes over
 * little-endian 64-bit words (a one-lane bytewise FNV would cap throughput),
 * folded together with the length.  Same bytes give the same value however
 * they are split across updates.
 */
struct csum {
	uint64_t lane[4];
	uint8_t part[32];
	size_t npart;
	uint64_t len;
};
void csum_init(struct csum *c);
void csum_update(struct csum *c, const uint8_t *p, size_t n);
uint64_t csum_final(const struct csum *c);

/* --- net.c -------------------------------------------------------------- */

/* Parses host:port, [v6]:port or unix:/path into *a; -1 with *why set. */
int net_parse_addr(const char *s, struct bench_addr *a, const char **why);

/*
 * Resolves *a (getaddrinfo; AI_PASSIVE when passive).  *p borrows a->text.
 * Reports the failure itself.
 */
int net_resolve(const struct bench_addr *a, bool passive, struct bench_peer *p);

/*
 * Binds and listens on the first usable address of *a (a stale unix socket
 * file is unlinked first), non-blocking.  Writes the bound address, with the
 * real port when 0 was asked for, into text.  Returns the fd or -1 (reported).
 */
int net_listen(const struct bench_addr *a, char *text, size_t textlen);

/*
 * Blocking connect to the first address of *p that accepts.  Returns the fd
 * (close-on-exec, blocking) or -1 after reporting "connect <addr>: <error>",
 * prefixed with `who` when not NULL.
 */
int net_connect(const struct bench_peer *p, const char *who);

/*
 * Starts a non-blocking connect to address i of *p.  Returns the fd (the
 * connect may still be in progress) or -1 with errno set; reports nothing.
 */
int net_connect_start(const struct bench_peer *p, int i);

/* Sets O_NONBLOCK; -1 (reported) on failure. */
int net_set_nonblock(int fd);

/* Sets TCP_NODELAY on inet sockets; a no-op on unix sockets. */
void net_nodelay(int fd);

/* Sets SO_RCVTIMEO and SO_SNDTIMEO so blocking calls cannot hang forever. */
void net_timeouts(int fd, unsigned ms);

/* Raises RLIMIT_NOFILE's soft limit to the hard limit; best effort. */
void net_raise_nofile(void);

/* --- commands ----------------------------------------------------------- */

int srv_echo(const struct bench_opts *o);	/* servers.c */
int srv_sink(const struct bench_opts *o);	/* servers.c */
int cmd_push(const struct bench_opts *o);	/* push.c */
int cmd_source(const struct bench_opts *o);	/* source.c */
int cmd_rr(const struct bench_opts *o);		/* rr.c */
int cmd_idle(const struct bench_opts *o);	/* idle.c */
int cmd_connrate(const struct bench_opts *o);	/* connrate.c */

#endif /* MTLSD_BENCH_H */
