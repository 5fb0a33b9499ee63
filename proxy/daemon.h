/*
 * daemon.h: the running process ("mtlsd run"): config, routes, workers, and
 * the main thread's event loop, which owns signals, reload and the admin
 * endpoint while workers carry the traffic.
 */
#ifndef MTLSD_PROXY_DAEMON_H
#define MTLSD_PROXY_DAEMON_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "config/config.h"
#include "proxy/audit.h"
#include "proxy/fdbudget.h"
#include "proxy/sock.h"
#include "tls/tls.h"

struct admin;
struct event;
struct event_base;
struct reload;
struct sdnotify;
struct worker;

/* What all workers share about one route.  Immutable while workers run,
 * except the counters, which are atomic. */
struct route_state {
	const struct route_config *rc;
	size_t index;
	struct sockname upstream;	/* connect target, when resolved at start */
	bool upstream_static;		/* literal address or unix path */
	const char *server_name;	/* client routes: SNI and name to verify */
	atomic_ulong active;		/* live connections, for max_connections */
	struct tls_material *material;	/* current; main thread only */
	int *listen_fds;		/* one per worker, handed to them at start */
	bool listening;			/* listen_fds were opened by us */
	enum reauthorize reauthorize;	/* as last sent to the workers */
};

struct daemon {
	struct config *cfg;
	struct event_base *base;
	struct route_state *routes;
	size_t nroutes;
	struct worker *workers;
	unsigned nworkers;
	unsigned workers_running;
	int notify_fd[2];		/* workers tell the main thread they ended */
	struct event *notify_ev;
	struct event *sig_ev[4];
	struct event *drain_timer;
	struct event *grace_timer;	/* pending while drain_grace runs */
	int stopping;			/* 0 running, 1 draining, 2 exiting */
	atomic_uint_fast64_t next_conn_id;
	uint64_t run_id;		/* conn_run_id_new(): prefixes conn ids */
	struct reload *reload;		/* rotation state (reload.c) */
	struct admin *admin;		/* admin endpoint (admin.c) */
	struct sdnotify *sd;		/* systemd notification (sdnotify.c) */
	struct audit_sink audit;	/* fd -1 when audit_log is off */
	atomic_uint_fast64_t reloads_ok, reloads_failed;
	struct fd_budget fds;		/* descriptors connections may hold */
	/* Local ports of the sockets server routes opened to their apps, by
	 * count: a transparent route that is handed one of them has been
	 * handed mtlsd's own hand-off, redirected back to it (a loop). */
	atomic_uchar *handoff_ports;	/* 65536 counters */
	bool sandboxed;			/* sandbox.h applied */
};

/* "mtlsd run -c FILE": returns the exit status. */
int daemon_run(const char *config_path);

/*
 * Loads every route's TLS material from cfg; used by run and by check.
 * On failure prints "FILE:LINE: key: message" lines to errs and returns -1.
 */
int daemon_load_materials(const struct config *cfg, struct tls_material **out,
    FILE *errs);

/*
 * Loads one route's TLS material.  On failure returns NULL with
 * "FILE:LINE: key: message" in err.
 */
struct tls_material *daemon_route_material(const struct config *cfg,
    const struct route_config *rc, char *err, size_t errlen);

/* The route's TLS parameters as tls/ wants them. */
void daemon_tls_params(const struct route_config *rc, struct tls_params *p);

#endif /* MTLSD_PROXY_DAEMON_H */
