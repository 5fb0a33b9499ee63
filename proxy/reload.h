/*
 * reload.h: certificate rotation without downtime (see reload.c).
 */
#ifndef MTLSD_PROXY_RELOAD_H
#define MTLSD_PROXY_RELOAD_H

struct daemon;

/* Starts watching the TLS files and the hourly expiry/CRL check.  Call once
 * the workers run.  Returns 0 or -1. */
int reload_init(struct daemon *d);

/* Reloads now (trigger names why, for the log). */
void reload_run(struct daemon *d, const char *trigger);

/* Stops watching and frees; a no-op before reload_init(). */
void reload_free(struct daemon *d);

#endif /* MTLSD_PROXY_RELOAD_H */
