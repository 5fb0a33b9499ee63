/*
 * relay_int.h: what relay.c shares with the pumps of the other record
 * layers (relay_own.c).  Not for the rest of proxy/.
 */
#ifndef MTLSD_PROXY_RELAY_INT_H
#define MTLSD_PROXY_RELAY_INT_H

#include <stdbool.h>

struct conn;
struct dir;

/* A key at its limit on a layer that cannot change it: closes c with
 * reason=key_limit, counted.  Returns -1 (c was freed). */
int relay_key_limit(struct conn *c);

/* The smallest direction buffer the own record layer runs in: it must
 * hold the largest record a peer may send (TLS 1.2: 5 + 2^14 + 2048). */
#define RELAY_OWN_MIN_BUFFER (5 + 16384 + 2048)

/* Failures: close c with the side's reason.  Return -1 (c was freed). */
int relay_fail_io(struct conn *c, bool tls_side, int err);
int relay_fail_tls(struct conn *c);

/* The direction's buffer from the route's pool (0), or close (-1). */
int relay_dir_hold(struct conn *c, struct dir *d);
/* An empty direction gives its buffer back. */
void relay_dir_release_if_empty(struct conn *c, struct dir *d);

/* The source ended: close_notify, then shutdown(SHUT_WR) on the TLS side
 * (d->shut), or a wait for the socket.  Returns 0, or -1 when c was freed. */
int relay_close_notify(struct conn *c, struct dir *d);

/* relay_own.c: the two directions on mtlsd's own record layer.  Return 0,
 * or -1 when c was freed. */
int relay_up_own(struct conn *c);
int relay_down_own(struct conn *c);

#endif /* MTLSD_PROXY_RELAY_INT_H */
