/*
 * conn.h: one proxied connection: the accepted socket, the socket mtlsd
 * opened, the TLS session on whichever of the two is encrypted, their events,
 * one timer and the two directions of the relay.
 *
 *   server route:  tls_fd = accepted peer,   plain_fd = upstream (the app)
 *   client route:  plain_fd = accepted app,  tls_fd = upstream (peer mtlsd)
 *   transparent:   as a client route; the upstream is the app's original
 *                  destination's mtlsd (conn_tunnel.c)
 *
 *   up   = plain -> TLS (encrypt)     down = TLS -> plain (decrypt)
 *
 * Life: accept -> [handshake | connect] -> [connect | handshake] -> relay ->
 * conn_free().  conn_free() is the one teardown: it releases whatever is
 * set, writes the one close line and updates the counters.  A function that
 * may free the conn returns -1 when it did; its caller returns at once.
 */
#ifndef MTLSD_PROXY_CONN_H
#define MTLSD_PROXY_CONN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "proxy/audit.h"
#include "proxy/sock.h"
#include "tls/tls.h"

struct event;
struct evdns_getaddrinfo_request;
struct peer_stat;
struct tls_conn;
struct wroute;

enum conn_state {
	CS_PROXY_HEADER,	/* reading a PROXY v2 header (accept_proxy) */
	CS_HANDSHAKE,		/* TLS handshake on tls_fd */
	CS_TUNNEL_HEADER,	/* connect = original: reading the tunnel header */
	CS_RESOLVING,		/* upstream name lookup */
	CS_CONNECTING,		/* upstream TCP connect */
	CS_CONNECT_RETRY,	/* connect = original: refused, trying again soon */
	CS_RELAY,		/* bytes flow */
};

/* Event interest bits, per direction; the fds' events follow their union. */
enum {
	WANT_TLS_RD = 1, WANT_TLS_WR = 2, WANT_PLAIN_RD = 4, WANT_PLAIN_WR = 8,
};

/* One direction of the relay: a bounded buffer between two ends. */
struct dir {
	struct tls_buf b;	/* the records' buffer (or pipe), while in use */
	bool eof;		/* the source ended */
	bool shut;		/* the destination's write side was shut */
	unsigned wants;		/* WANT_* this direction waits for */
	uint64_t bytes;		/* delivered to the destination */
};

/* Longest conn id conn_accept() formats, with its NUL: 16 hex digits, '-',
 * at most 20 decimal ones. */
#define CONN_ID_MAX 40

struct conn {
	uint64_t id;			/* this process's counter: 1, 2, ... */
	char cid[CONN_ID_MAX];		/* "RUN-ID", unique across processes and
					 * restarts: the logs' conn= and the
					 * audit trail's conn_id */
	struct wroute *r;
	TAILQ_ENTRY(conn) link;
	enum conn_state state;
	bool server;			/* the route's mode, cached */
	int tls_fd, plain_fd;
	struct tls_conn *tls;
	bool tls_ready;			/* handshake done */
	uint64_t key_updates;		/* own layer: KeyUpdates counted so far */
	unsigned tls_gen;		/* the route's tls_gen when TLS began */
	struct peer_stat *pstat;	/* per-identity counters, or NULL */
	struct event *ev_tls_rd, *ev_tls_wr, *ev_plain_rd, *ev_plain_wr;
	unsigned events_on;		/* WANT_* bits whose event is added */
	struct event *timer;
	uint32_t idle_ms;		/* relay phase: idle timeout */
	uint64_t last_active_ms;	/* relay phase: last progress */
	struct evdns_getaddrinfo_request *dns_req;
	bool dns_inline;		/* evdns may answer inside the call */
	struct sockname dns_result;
	int dns_error;
	struct dir up, down;
	uint64_t started_ms;
	uint64_t phase_us;		/* start of the current phase */
	char peer[SOCK_NAME_MAX];	/* the client's address (PROXY's, if any) */
	char via[SOCK_NAME_MAX];	/* the load balancer's, with accept_proxy */
	struct sockname peer_sa;	/* the client's address */
	struct sockname local_sa;	/* where it connected to (PROXY's dst) */
	unsigned char *pp_buf;		/* PROXY header so far, while reading it */
	size_t pp_len;
	char target[SOCK_NAME_MAX];	/* tunnels: the original destination */
	char upstream[SOCK_NAME_MAX];	/* where mtlsd connected ("" before) */
	struct sockname retry_to;	/* connect = original: what to retry */
	uint64_t connect_deadline_ms;	/* ... until connect_timeout */
	uint32_t retry_ms;		/* ... after this long (doubling) */
	unsigned retries;
	uint16_t handoff_port;		/* server routes: the app socket's local port */
	char target_host[INET6_ADDRSTRLEN];	/* ... its host, to check the peer's
					 * certificate against (transparent) */
};

/* Bytes from the accepted side onward, and back to it. */
static inline uint64_t
conn_bytes_in(const struct conn *c)
{
	return c->server ? c->down.bytes : c->up.bytes;
}

static inline uint64_t
conn_bytes_out(const struct conn *c)
{
	return c->server ? c->up.bytes : c->down.bytes;
}

/*
 * A random 64-bit id for this run of the daemon (getrandom(2); a clock and
 * pid mix if the kernel has no entropy yet), called once at start.  Every
 * connection id is this in 16 hex digits, '-', and the connection's number
 * in this run, so ids never repeat across processes or restarts.
 */
uint64_t conn_run_id_new(void);

/* The listener accepted fd on route r: takes ownership of fd. */
void conn_accept(struct wroute *r, int fd, const struct sockaddr *sa, socklen_t salen);

/*
 * The one teardown: logs "event=close" with reason (a fixed token such as
 * "eof" or "idle_timeout") and detail (free text or NULL), releases all.
 */
void conn_free(struct conn *c, const char *reason, const char *detail);

/*
 * Re-checks an established connection's peer against its route's current
 * TLS context; closes it (reason reauth_<why>) if it no longer passes.
 * Returns 0, or -1 when c was freed.
 */
int conn_reauthorize(struct conn *c);

/* Starts the TLS handshake on tls_fd.  Returns 0, or -1 when c was freed. */
int conn_handshake_start(struct conn *c);

/* Connects to the upstream sn, under connect_timeout; a tunnel-ending
 * route (connect = original) retries a refused connect, with backoff,
 * until then.  Returns 0, or -1 when c was freed. */
int conn_connect(struct conn *c, const struct sockname *sn);

/* One audit record about c (a no-op when audit_log is off). */
void conn_audit(struct conn *c, enum audit_event ev, const char *reason,
    const char *detail);

/* Waits for one event: the single WANT_* bit before the relay. */
void conn_wait_for(struct conn *c, unsigned bit);

/* conn_pp2.c: reads the PROXY v2 header (accept_proxy = yes), then starts
 * the handshake.  Returns 0, or -1 when c was freed. */
int conn_pp2_read(struct conn *c);

/*
 * conn_pp2.c: collects a PROXY v2 header in pp_buf, exactly: 16 bytes,
 * then the length they announce, never a byte of what follows; from the
 * socket (accept_proxy) or, on tunnels, from TLS.  rd reads up to len
 * bytes: a count > 0, 0 (it set what to wait for), or -1 (it freed c).
 * A malformed header goes to refuse, which frees c.  Returns 1 (*info
 * holds the header; pp_buf is gone), 0 (wait), or -1 when c was freed.
 */
struct pp2_info;
int conn_pp2_collect(struct conn *c,
    ssize_t (*rd)(struct conn *c, unsigned char *p, size_t len),
    int (*refuse)(struct conn *c, const char *why), struct pp2_info *info);

/* conn_pp2.c: sends the PROXY v2 header to the upstream (send_proxy = v2).
 * Returns 0, or -1 when c was freed. */
int conn_pp2_send(struct conn *c);

/* conn_tunnel.c, transparent routes: where the app was going, with the
 * port replaced by the peers' mtlsd port (connect = original:PORT); sets
 * target and target_host.  Returns 0, or -1 when c was freed (not
 * redirected, or a redirect loop). */
int conn_tunnel_target(struct conn *c, struct sockname *out);

/* conn_tunnel.c, transparent routes: after the handshake, sends the tunnel
 * header.  Returns 0, or -1 when c was freed. */
int conn_tunnel_send(struct conn *c);

/* conn_tunnel.c, server routes with connect = original: after the
 * handshake, reads the tunnel header, checks it and connects.  Returns 0,
 * or -1 when c was freed. */
int conn_tunnel_read(struct conn *c);

/* Enters the relay; returns 0, or -1 when c was freed. */
int conn_relay(struct conn *c);

/* Arms c's one timer for ms (0: disarms it). */
void conn_arm_timer(struct conn *c, uint32_t ms);

/* Creates the persistent read and write events of c's TLS side (tls_side)
 * or plain side.  Returns 0, or -1 out of memory. */
int conn_make_events(struct conn *c, bool tls_side);

/* conn_upstream.c: looks up (if need be) and connects to c's upstream, the
 * app on server routes, the peer on client routes.  Returns 0, or -1 when
 * c was freed. */
int conn_upstream_connect(struct conn *c);

/* conn_upstream.c: the upstream socket became writable: the connect's
 * result.  Returns 0, or -1 when c was freed. */
int conn_upstream_connected(struct conn *c);

/* conn_upstream.c: the retry backoff ran out: connects again, under what
 * is left of connect_timeout. */
void conn_upstream_retry(struct conn *c);

/* conn_upstream.c: forgets c's hand-off port, if any. */
void conn_handoff_clear(struct conn *c);

/* Makes the four fd events match the union of both directions' wants. */
void conn_update_events(struct conn *c);

/* Milliseconds on the worker's cached clock. */
uint64_t conn_now_ms(const struct conn *c);

#endif /* MTLSD_PROXY_CONN_H */
