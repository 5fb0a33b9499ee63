/*
 * relay.h: the data path.  One pump per direction, the same whichever
 * record layer the connection took at relay_start(): the layer's
 * operations are tls/'s (tls.h, "Record operations"): mtlsd's own
 * (no user-space copy), the kernel's (splice through a pipe: none either)
 * or mbedTLS's (one copy per direction, as its API requires).
 *
 * Buffers (or, on kernel TLS, pipes) come from the route's and worker's
 * pools and go back when a direction drains.  A full buffer stops its
 * reader (backpressure).  EOF on one side becomes close_notify or
 * shutdown(SHUT_WR) on the other; the opposite direction runs on until it
 * ends too.
 *
 * The relay calls nothing of conn.c's: it moves bytes and sets each
 * direction's wants; conn.c watches the events they name, and when the
 * relay ends a connection it says why in *end and returns -1, and conn.c
 * tears down (as spiped's pipes report to their conn).
 */
#ifndef MTLSD_PROXY_RELAY_H
#define MTLSD_PROXY_RELAY_H

struct conn;

/* Why the relay ended a connection: conn_free()'s reason and detail. */
struct relay_end {
	char reason[32];
	const char *detail;	/* NULL, or valid until the conn is freed */
};

/* Enters the relay phase (both ends connected, handshake done), picks the
 * record layer and moves whatever is already waiting.  Returns 0, or -1
 * with *end filled (the caller frees c). */
int relay_start(struct conn *c, struct relay_end *end);

/* Runs the directions waiting for one of the fired WANT_* bits; their
 * wants say which events the caller should watch next.  Returns 0, or -1
 * with *end filled. */
int relay_run(struct conn *c, unsigned fired, struct relay_end *end);

/* The idle timer fired: -1 with *end filled if nothing moved for idle_ms,
 * else re-arms and returns 0. */
int relay_on_timer(struct conn *c, struct relay_end *end);

/* Returns both directions' buffers and pipes to the pools (for conn_free). */
void relay_release(struct conn *c);

#endif /* MTLSD_PROXY_RELAY_H */
