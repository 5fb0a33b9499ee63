/*
 * admin.h: the admin HTTP endpoint (/metrics, /healthz, /readyz).
 */
#ifndef MTLSD_PROXY_ADMIN_H
#define MTLSD_PROXY_ADMIN_H

#include <stddef.h>

struct daemon;

/* Binds admin_listen (if set) and serves it from d's main loop.  Call once
 * the workers are set up.  Returns 0, or -1 with err filled. */
int admin_start(struct daemon *d, char *err, size_t errlen);

/* Stops serving; a no-op when not started. */
void admin_stop(struct daemon *d);

#endif /* MTLSD_PROXY_ADMIN_H */
