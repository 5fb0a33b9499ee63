/*
 * relay.h: the data path, on whichever record layer the connection took
 * at relay_start(): mtlsd's own (relay_own.c: no user-space copy), the
 * kernel's (splice through a pipe: none either) or mbedTLS's (one copy per
 * direction, as its API requires:
 *   up   (plain -> TLS): recv() into the direction buffer; tls_conn_write()
 *        from it (mbedTLS copies into its record and encrypts in place).
 *   down (TLS -> plain): mbedTLS reads the record into its own buffer;
 *        tls_conn_read() decrypts into the direction buffer; send() from it.)
 * Buffers come from the route's pool and go back when drained.  A full
 * buffer stops its reader (backpressure).  EOF on one side becomes
 * close_notify or shutdown(SHUT_WR) on the other; the opposite direction
 * runs on until it ends too.
 */
#ifndef MTLSD_PROXY_RELAY_H
#define MTLSD_PROXY_RELAY_H

struct conn;

/* Enters the relay phase (both ends connected, handshake done) and moves
 * whatever is already waiting.  Returns 0, or -1 when c was freed. */
int relay_start(struct conn *c);

/* Runs the directions waiting for one of the fired WANT_* bits.
 * Returns 0, or -1 when c was freed. */
int relay_run(struct conn *c, unsigned fired);

/* The idle timer fired: closes c if nothing moved for idle_ms, else
 * re-arms.  Returns 0, or -1 when c was freed. */
int relay_on_timer(struct conn *c);

/* Returns both directions' buffers to the pool (for conn_free). */
void relay_release(struct conn *c);

#endif /* MTLSD_PROXY_RELAY_H */
