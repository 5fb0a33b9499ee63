/*
 * sdnotify.h: readiness, reload and status for systemd (Type=notify and
 * Type=notify-reload), without libsystemd.
 *
 * The protocol is one datagram per message to the AF_UNIX socket that
 * $NOTIFY_SOCKET names (a path, or "@name" for the abstract namespace):
 * newline-separated KEY=VALUE lines.  mtlsd sends
 *
 *   READY=1          once every listener is up, and again after a reload
 *   RELOADING=1      with MONOTONIC_USEC=, when a reload starts
 *   STOPPING=1       when SIGTERM or SIGINT starts the shutdown
 *   STATUS=...       with each of the above, and when the summary changes:
 *                    "N routes, M connections; reload ok at HH:MM:SS", or
 *                    "...; reload failed at HH:MM:SS: REASON" (local time,
 *                    as systemctl status shows the journal)
 *
 * Without $NOTIFY_SOCKET every call is a no-op.  Main thread only.
 */
#ifndef MTLSD_PROXY_SDNOTIFY_H
#define MTLSD_PROXY_SDNOTIFY_H

#include <stdint.h>

struct daemon;

/*
 * Connects to $NOTIFY_SOCKET, if set, and starts the status refresh timer
 * on d->base.  Call before privileges go and the sandbox closes in.  A
 * socket that cannot be used is logged and leaves notification off; the
 * result is 0, or -1 only when out of memory.
 */
int sdnotify_init(struct daemon *d);

/* READY=1 and the status line: the listeners are up. */
void sdnotify_ready(struct daemon *d);

/* RELOADING=1 and MONOTONIC_USEC=: a reload starts. */
void sdnotify_reloading(struct daemon *d);

/*
 * A reload ended: error NULL for success, else the first reason it failed
 * (kept for the status line until the next reload).  Sends READY=1 with
 * the new status.
 */
void sdnotify_reloaded(struct daemon *d, const char *error);

/*
 * STOPPING=1, a status saying why, and EXTEND_TIMEOUT_USEC= of extend_ms
 * (0: none) so that systemd's stop timeout covers drain_grace and
 * drain_timeout.
 */
void sdnotify_stopping(struct daemon *d, const char *why, uint64_t extend_ms);

/* Closes the socket and frees; a no-op before sdnotify_init(). */
void sdnotify_free(struct daemon *d);

#endif /* MTLSD_PROXY_SDNOTIFY_H */
