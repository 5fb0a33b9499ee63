/*
 * audit.h: the audit trail, one JSON object a line for each connection event.
 *
 * Every accept, handshake_ok, handshake_fail, denied, refused and close
 * becomes one line, its keys always in this order, each present only when
 * known (examples/mtlsd-audit.schema.json is the JSON Schema):
 *
 *   {"ts":"2026-11-29T07:24:31.955Z","schema_version":1,"event":"close",
 *    "conn":42,"conn_id":"5f0c9a1e2b3d4c6f-42","host":"node-a","route":"api",
 *    "peer_addr":"10.0.0.7:51234","peer_id":"spiffe://x/y",
 *    "peer_serial":"1f03...","peer_fingerprint_sha256":"9b1c...",
 *    "peer_issuer":"CN=mesh CA","sni":"api.internal",
 *    "target":"10.0.0.9:29500","upstream":"127.0.0.1:8080",
 *    "tls_version":"TLSv1.3","cipher":"TLS_AES_128_GCM_SHA256",
 *    "bytes_in":1200,"bytes_out":5600,"duration_ms":3021,
 *    "reason":"eof","detail":"...","path":"ktls","record_layer":"kernel",
 *    "truncated":true}
 *
 * "schema_version" is AUDIT_SCHEMA_VERSION, in every record.  "host" is the
 * sink's (gethostname() at audit_open), filled in by audit_write.  "conn" is
 * this process's counter (1, 2, ...; restarts with the process) and
 * "conn_id" the caller's id unique across processes and restarts (conn.h);
 * both are left out when the record has none (conn 0: a refused connection
 * never got one).  "peer_serial" and "peer_fingerprint_sha256" are lowercase
 * hex; "sni" the name sent (client) or received (server); "target" a
 * tunnel's original destination (transparent routes and connect = original);
 * "upstream" the address mtlsd connected to.  "cipher" is the IANA name.
 * "ts" is RFC 3339 UTC with milliseconds.  A NULL string is left out; the
 * three counts are written only with has_counts.  "truncated": true appears
 * only when some string was shortened (see below).  Never key material,
 * never payload: the caller passes names and counts only.
 *
 * Strings are escaped so that any bytes make valid JSON: '"' '\\' and
 * \b \f \n \r \t as two-character escapes; the other C0 controls, DEL, the C1
 * controls U+0080..U+009F, U+2028/U+2029 (line breaks to JavaScript and to
 * splitlines()) and the bidirectional controls (U+200E/F, U+202A..E,
 * U+2066..9) as \u00XX / \uXXXX; valid UTF-8 otherwise passes through as is.
 * Each maximal ill-formed subsequence (a stray continuation byte, an overlong
 * form, an encoded surrogate, a code point above U+10FFFF, a truncated
 * sequence) becomes one \ufffd, as Python's decode("utf-8", "replace") does.
 * NUL bytes in peer_id (counted in peer_id_len) become \u0000.
 *
 * Truncation: at most AUDIT_STR_MAX bytes of each input string are used, cut
 * at a character boundary; a record that would not fit its buffer has its
 * longest strings shortened further, to equal lengths.  A shortened string
 * ends in "…" (U+2026) and the record gains "truncated":true.
 *
 * Threads: one audit_sink is shared by all workers; each worker has its own
 * audit_buf and is its only user.  The sink's fd is opened with O_APPEND and
 * each flush writes whole lines in one write(2), so lines from several
 * workers never interleave within a regular file.
 */
#ifndef MTLSD_PROXY_AUDIT_H
#define MTLSD_PROXY_AUDIT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "proxy/counter.h"

/* Input bytes used of each string at most. */
#define AUDIT_STR_MAX	1024

/* The smallest buffer audit_buf_init() accepts: room for any record. */
#define AUDIT_BUF_MIN	1024

/* The records' "schema_version": raised when a field changes meaning or
 * type, not when one is added. */
#define AUDIT_SCHEMA_VERSION	1

enum audit_event { AUDIT_ACCEPT, AUDIT_HANDSHAKE_OK, AUDIT_HANDSHAKE_FAIL,
	AUDIT_DENIED, AUDIT_REFUSED, AUDIT_CLOSE };

/* One event.  Borrowed pointers, only read while audit_write() runs. */
struct audit_record {
	enum audit_event event;
	uint64_t conn;			/* 0 = none (refused before a connection existed) */
	const char *conn_id;		/* NULL = omit, as for every string below */
	const char *host;		/* audit_write sets the sink's */
	const char *route;
	const char *peer_addr;
	const char *peer_id;		/* raw certificate bytes, any bytes, not NUL-terminated */
	size_t peer_id_len;		/* bytes of peer_id, embedded NULs included */
	const char *peer_serial;	/* the peer certificate's, lowercase hex */
	const char *peer_fingerprint;	/* SHA-256 of its DER, lowercase hex */
	const char *peer_issuer;	/* its issuer's DN */
	const char *sni;		/* the server name sent or received */
	const char *target;		/* tunnels: the original destination */
	const char *upstream;		/* where mtlsd connected to */
	const char *tls_version, *cipher, *reason, *detail, *path;
	const char *record_layer;	/* close: kernel, libgcrypt or mbedtls */
	bool has_counts;		/* then bytes_in, bytes_out, duration_ms are written */
	uint64_t bytes_in, bytes_out, duration_ms;
};

/* The file every worker writes to. */
struct audit_sink {
	int fd;			/* -1 closed; STDOUT_FILENO for "-"; only audit_reopen
				 * changes what it refers to (by an atomic dup3) */
	char *path;		/* owned copy of the file name; NULL for stdout */
	char host[256];		/* gethostname() at audit_open ("unknown" if none) */
};

/* One worker's buffer in front of the sink; that worker's thread only. */
struct audit_buf {
	struct audit_sink *sink;	/* shared, not owned */
	char *data;			/* cap bytes, owned; whole lines only */
	size_t cap;
	size_t off;			/* data[0..off) went out (a short write's head) */
	size_t len;			/* data[off..len) waits for audit_flush */
	size_t lines;			/* newlines in data[off..len) */
	bool broken;			/* a line's tail was dropped after its head
					 * went out: write "\n" before the next */
	bool failing;			/* the last flush failed (log once, not each time) */
	/* Written by this worker only; other threads may read (relaxed). */
	counter_t written;	/* lines that reached the sink */
	counter_t dropped;	/* lines lost: no room, write error, freed unwritten */
	counter_t truncated;	/* records written with a string shortened */
};

/*
 * Opens the sink: path is created if missing (mode 0640, less the umask)
 * and appended to, opened O_WRONLY|O_APPEND|O_CREAT|O_CLOEXEC, plus
 * O_NOCTTY and O_NONBLOCK (no effect on a regular file; a FIFO without a
 * reader fails with ENXIO instead of hanging).  The host name is read here,
 * once.  "-" means stdout, used as it
 * is: its flags are shared with whoever else holds it, so they are left
 * alone; if it is a non-blocking pipe a full pipe only delays lines, if a
 * blocking one a flush may wait for its reader.  s->fd is -1 until this
 * succeeds.  Returns 0, or -1 with errno (nothing is logged).
 */
int audit_open(struct audit_sink *s, const char *path);

/*
 * For logrotate (SIGUSR1, main thread): opens the path anew and dup3()s it
 * onto the sink's fd, so a worker writing at that moment writes its lines
 * whole to the old file or the new one, never loses or splits them.  No-op
 * for stdout.  Returns 0, or -1 with errno, the old file still in use.
 */
int audit_reopen(struct audit_sink *s);

/* Closes the sink's file (never stdout) and frees the path.  A sink that
 * audit_open() failed on, or one already closed, is a no-op. */
void audit_close(struct audit_sink *s);

/*
 * Prepares a buffer of cap bytes (at least AUDIT_BUF_MIN; 64 KiB suits a
 * busy worker) in front of s, which must outlive it.  Returns 0, or -1 with
 * errno (EINVAL: cap too small; ENOMEM), b then safe to audit_buf_free().
 */
int audit_buf_init(struct audit_buf *b, struct audit_sink *s, size_t cap);

/* Flushes once, counts what is still unwritten as dropped, frees the memory.
 * Safe on a buffer whose init failed, and twice. */
void audit_buf_free(struct audit_buf *b);

/*
 * Formats r, stamped now and with the sink's host, and appends it as one line; never writes unless
 * the buffer lacks room, then flushes first.  If a flush cannot make room
 * (EAGAIN on stdout) the record is dropped and counted.  A record longer
 * than the buffer has its longest strings shortened (still valid JSON).
 */
void audit_write(struct audit_buf *b, const struct audit_record *r);

/*
 * Writes the buffered lines in one writev(2), EINTR aside.  A short write or
 * EAGAIN keeps the rest for the next flush; any other error drops the
 * buffered lines, counts them and logs once until a flush works again.
 * Never blocks on a non-blocking fd, never loops.  Call it from a 1-second
 * timer and at exit.
 */
void audit_flush(struct audit_buf *b);

/* Lines written to the sink so far; any thread. */
uint64_t audit_buf_written(const struct audit_buf *b);

/* Lines lost so far (no room, write errors, unwritten at free); any thread. */
uint64_t audit_buf_dropped(const struct audit_buf *b);

/* Records whose strings were shortened so far; any thread. */
uint64_t audit_buf_truncated(const struct audit_buf *b);

/*
 * Formats r as one line, newline included, into dst (cap bytes, no NUL
 * written), stamped with ts (CLOCK_REALTIME).  Strings are shortened to fit
 * cap as described above; *truncated (may be NULL) says whether any was.
 * Returns the line's length, or 0 when cap is too small for even the
 * shortened record (never with cap >= AUDIT_BUF_MIN).
 */
size_t audit_format(char *dst, size_t cap, const struct audit_record *r,
    const struct timespec *ts, bool *truncated);

/* The event's name as written in "event": "accept", "handshake_ok", ... */
const char *audit_event_name(enum audit_event ev);

#endif /* MTLSD_PROXY_AUDIT_H */
