/*
 * worker.h: one event-loop thread.  Each worker has its own event base, its
 * own listening sockets (SO_REUSEPORT), its own TLS contexts, buffer pools and
 * counters: nothing on the data path is shared or locked.  The main thread
 * talks to a worker only through worker_send().
 */
#ifndef MTLSD_PROXY_WORKER_H
#define MTLSD_PROXY_WORKER_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/queue.h>

#include "proxy/audit.h"
#include "proxy/bufpool.h"
#include "proxy/daemon.h"
#include "proxy/linger.h"
#include "proxy/pipepool.h"
#include "proxy/stats.h"

struct conn;
struct evconnlistener;
struct evdns_base;

/* One route as one worker sees it. */
struct wroute {
	struct worker *w;
	struct route_state *rs;
	const struct route_config *rc;
	struct evconnlistener *listener;
	int listen_fd;			/* until the listener owns it */
	struct tls_ctx *tls;		/* for new connections */
	unsigned tls_gen;		/* bumped at each swap */
	enum reauthorize reauthorize;	/* as of the newest reload */
	struct bufpool pool;
	struct route_stats stats;
	struct peer_stats peers;	/* per-identity series (metrics_peer_limit) */
	time_t refused_logged;		/* rate limit for refusal lines */
	time_t crl_stale_logged;	/* ... and for stale-CRL admissions */
	uint64_t refused_quiet;		/* refusals not logged since */
	int fd_cost;			/* descriptors a connection may hold */
	bool fd_paused;			/* not accepting: out of descriptors */
};

struct worker {
	unsigned index;
	struct daemon *d;
	pthread_t thread;
	bool started;
	struct event_base *base;
	struct evdns_base *dns;		/* created when a route needs names */
	int cmd_fd[2];			/* main -> worker commands */
	struct event *cmd_ev;
	struct wroute *routes;
	size_t nroutes;
	struct pipepool pipes;		/* for kernel-TLS connections */
	struct audit_buf audit;		/* this worker's audit lines */
	bool audit_on;
	struct event *audit_timer;	/* flushes them every second */
	TAILQ_HEAD(, conn) conns;
	size_t nconns;
	struct linger_list lingering;	/* finished TLS sockets (linger.h) */
	size_t nlingering;
	bool draining;
};

enum worker_cmd {
	WCMD_DRAIN,		/* stop accepting; end when the last conn closes */
	WCMD_EXIT,		/* close everything now and end */
	WCMD_SWAP_TLS,		/* build a context from a new material, swap it in */
};

/*
 * Sets up worker index of d: event base, TLS contexts from each route's
 * material, listeners on each route's listen_fds[index].  Runs in the main
 * thread before the worker starts.  Returns 0, or -1 with err filled.
 */
int worker_init(struct worker *w, struct daemon *d, unsigned index,
    char *err, size_t errlen);

/* Starts the thread.  Returns 0 or -1. */
int worker_start(struct worker *w);

/*
 * Queues a command for the worker (any thread).  WCMD_SWAP_TLS takes route
 * (an index), m, whose reference passes to the worker, and the route's
 * reauthorize setting from the config just read; the others take 0, NULL
 * and REAUTH_CLOSE.
 */
void worker_send(struct worker *w, enum worker_cmd cmd, size_t route,
    struct tls_material *m, enum reauthorize reauth);

/* Joins the thread (if started) and frees everything the worker owns. */
void worker_free(struct worker *w);

/* Appends an audit record when audit_log is on (worker thread only). */
void worker_audit(struct worker *w, const struct audit_record *r);

/* Microseconds on the worker's cached clock (no syscall). */
uint64_t worker_now_us(const struct worker *w);

/* Called by conn_free(): a connection of w ended. */
void worker_conn_gone(struct worker *w);

#endif /* MTLSD_PROXY_WORKER_H */
