/*
 * worker.c: one event-loop thread: its listeners, its connections, and the
 * commands the main thread sends it.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "proxy/conn.h"
#include "proxy/log.h"
#include "proxy/worker.h"

/* Free buffers each route's pool keeps for reuse. */
#define POOL_KEEP 64

/* A refusal line at most this often per route; the rest are counted. */
#define REFUSE_LOG_INTERVAL 1

void
worker_audit(struct worker *w, const struct audit_record *r)
{
	if (w->audit_on)
		audit_write(&w->audit, r);
}

static void
on_audit_timer(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;

	(void)fd;
	(void)what;
	audit_flush(&w->audit);
}

static void
log_refusal(struct wroute *r, enum refuse_reason why, const char *peer)
{
	time_t now = time(NULL);
	struct audit_record ar = { .event = AUDIT_REFUSED, .route = r->rc->name,
	    .peer_addr = peer, .reason = refuse_reason_name(why) };

	counter_add(&r->stats.refused[why], 1);
	/* Every refusal is audited; only the operator's log is rate-limited. */
	worker_audit(r->w, &ar);
	if (now - r->refused_logged < REFUSE_LOG_INTERVAL) {
		r->refused_quiet++;
		return;
	}
	log_warnx("route=%s event=refused peer=%s reason=%s suppressed=%llu",
	    r->rc->name, peer, refuse_reason_name(why),
	    (unsigned long long)r->refused_quiet);
	r->refused_logged = now;
	r->refused_quiet = 0;
}

/*
 * The security-group check: deny_cidr wins over allow_cidr; with an
 * allow list, only what it names gets in.  Unix-socket peers have no
 * address and pass.
 */
static bool
source_allowed(const struct route_config *rc, const struct sockaddr *sa)
{
	if (sa->sa_family != AF_INET && sa->sa_family != AF_INET6)
		return true;
	for (size_t i = 0; i < rc->n_deny_cidr; i++)
		if (cidr_match_sockaddr(&rc->deny_cidr[i], sa))
			return false;
	if (rc->n_allow_cidr == 0)
		return true;
	for (size_t i = 0; i < rc->n_allow_cidr; i++)
		if (cidr_match_sockaddr(&rc->allow_cidr[i], sa))
			return true;
	return false;
}

static void
on_accept_resume(evutil_socket_t fd, short what, void *arg);

/* Out of descriptors: stop accepting until a connection of this worker
 * closes, or for a second (another worker's may close first). */
static void
pause_accepting(struct wroute *r)
{
	struct timeval tv = { 1, 0 };

	if (r->fd_paused || r->listener == NULL)
		return;
	r->fd_paused = true;
	evconnlistener_disable(r->listener);
	event_base_once(r->w->base, -1, EV_TIMEOUT, on_accept_resume, r, &tv);
}

static void
on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
    int salen, void *arg)
{
	struct wroute *r = arg;
	char peer[SOCK_NAME_MAX];

	(void)l;
	/* Before any TLS work: a refused address costs one accept, one close. */
	if (!source_allowed(r->rc, sa)) {
		sock_format(sa, (socklen_t)salen, peer, sizeof(peer));
		log_refusal(r, REFUSE_CIDR, peer);
		close(fd);
		return;
	}
	/* max_connections counts the route across all workers. */
	if (atomic_fetch_add(&r->rs->active, 1) >= r->rc->max_connections) {
		atomic_fetch_sub(&r->rs->active, 1);
		sock_format(sa, (socklen_t)salen, peer, sizeof(peer));
		log_refusal(r, REFUSE_MAX_CONNECTIONS, peer);
		close(fd);
		return;
	}
	/* The connection's whole cost in descriptors, or nobody's time: a
	 * handshake that could not open its upstream would be wasted. */
	if (!fd_budget_take(&r->w->d->fds, r->fd_cost)) {
		atomic_fetch_sub(&r->rs->active, 1);
		sock_format(sa, (socklen_t)salen, peer, sizeof(peer));
		log_refusal(r, REFUSE_FDS, peer);
		close(fd);
		pause_accepting(r);
		return;
	}
	conn_accept(r, fd, sa, (socklen_t)salen);
}

static void
on_accept_resume(evutil_socket_t fd, short what, void *arg)
{
	struct wroute *r = arg;

	(void)fd;
	(void)what;
	r->fd_paused = false;
	if (r->listener != NULL && !r->w->draining)
		evconnlistener_enable(r->listener);
}

/*
 * accept() failed.  Out of descriptors, the pending connection stays queued
 * and the listener would spin: pause it for a second instead.
 */
static void
on_accept_error(struct evconnlistener *l, void *arg)
{
	struct wroute *r = arg;
	int err = EVUTIL_SOCKET_ERROR();
	struct timeval tv = { 1, 0 };

	log_warnx("route=%s event=accept_error error=\"%s\"", r->rc->name,
	    strerror(err));
	if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
		evconnlistener_disable(l);
		event_base_once(r->w->base, -1, EV_TIMEOUT, on_accept_resume, r, &tv);
	}
}

static void
stop_listening(struct worker *w)
{
	for (size_t i = 0; i < w->nroutes; i++) {
		if (w->routes[i].listener != NULL) {
			evconnlistener_free(w->routes[i].listener);
			w->routes[i].listener = NULL;
		}
	}
}

static void
close_all(struct worker *w, const char *reason)
{
	struct conn *c;

	while ((c = TAILQ_FIRST(&w->conns)) != NULL)
		conn_free(c, reason, NULL);
}

/* What travels through the command pipe: small enough to be written
 * atomically (PIPE_BUF), so several threads may send at once. */
struct wcmd {
	uint8_t type;
	uint8_t reauth;			/* enum reauthorize */
	size_t route;
	struct tls_material *m;
};

/*
 * After a reload, live connections are held to the route's new CA, CRL and
 * allow-list (reauthorize = close): a peer that no longer passes is closed.
 */
static void
reauthorize(struct worker *w, struct wroute *r)
{
	struct conn *c, *next;

	for (c = TAILQ_FIRST(&w->conns); c != NULL; c = next) {
		next = TAILQ_NEXT(c, link);
		if (c->r == r && c->tls_ready)
			(void)conn_reauthorize(c);
	}
}

static void
swap_tls(struct worker *w, size_t route, struct tls_material *m,
    enum reauthorize reauth)
{
	struct wroute *r = &w->routes[route];
	struct tls_error err;
	struct tls_ctx *ctx = tls_ctx_new(m, &err);

	tls_material_built(m);
	tls_material_unref(m);
	if (ctx == NULL) {
		log_warnx("route=%s event=reload worker=%u status=failed error=\"%s\"",
		    r->rc->name, w->index, err.msg);
		return;
	}
	/* Connections keep the context they started with until they close. */
	tls_ctx_unref(r->tls);
	r->tls = ctx;
	r->tls_gen++;
	r->reauthorize = reauth;
	if (reauth == REAUTH_CLOSE)
		reauthorize(w, r);
}

static void
on_cmd(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	struct wcmd cmd;

	(void)what;
	while (read(fd, &cmd, sizeof(cmd)) == (ssize_t)sizeof(cmd)) {
		switch ((enum worker_cmd)cmd.type) {
		case WCMD_DRAIN:
			w->draining = true;
			stop_listening(w);
			if (w->nconns == 0)
				event_base_loopexit(w->base, NULL);
			break;
		case WCMD_EXIT:
			w->draining = true;
			stop_listening(w);
			close_all(w, "shutdown");
			event_base_loopexit(w->base, NULL);
			break;
		case WCMD_SWAP_TLS:
			swap_tls(w, cmd.route, cmd.m, (enum reauthorize)cmd.reauth);
			break;
		}
	}
}

uint64_t
worker_now_us(const struct worker *w)
{
	struct timeval tv;

	event_base_gettimeofday_cached(w->base, &tv);
	return (uint64_t)tv.tv_sec * 1000000 + (uint64_t)tv.tv_usec;
}

void
worker_conn_gone(struct worker *w)
{
	w->nconns--;
	if (w->draining && w->nconns == 0)
		event_base_loopexit(w->base, NULL);
	for (size_t i = 0; i < w->nroutes; i++)
		if (w->routes[i].fd_paused)
			on_accept_resume(-1, 0, &w->routes[i]);
}

static int
init_route(struct worker *w, struct wroute *r, struct route_state *rs,
    char *err, size_t errlen)
{
	struct tls_error terr;

	r->w = w;
	r->rs = rs;
	r->rc = rs->rc;
	r->reauthorize = rs->rc->reauthorize;
	r->listen_fd = rs->listen_fds[w->index];
	rs->listen_fds[w->index] = -1;
	bufpool_init(&r->pool, (size_t)r->rc->buffer_size, POOL_KEEP);
	r->fd_cost = fd_budget_conn_cost(r->rc);
	if (w->d->cfg->metrics_peer_limit > 0) {
		r->peers.cap = w->d->cfg->metrics_peer_limit;
		if ((r->peers.v = calloc(r->peers.cap, sizeof(*r->peers.v))) == NULL) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
	}
	r->tls = tls_ctx_new(rs->material, &terr);
	tls_material_built(rs->material);
	if (r->tls == NULL) {
		snprintf(err, errlen, "route [%s]: %s", r->rc->name, terr.msg);
		return -1;
	}
	/* Backlog 0: the socket listens already (sock.c, with the route's
	 * backlog); -1 would make libevent call listen(fd, 128) again. */
	r->listener = evconnlistener_new(w->base, on_accept, r,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, r->listen_fd);
	if (r->listener == NULL) {
		snprintf(err, errlen, "route [%s]: cannot watch the listener", r->rc->name);
		return -1;
	}
	r->listen_fd = -1;	/* the listener owns it now */
	evconnlistener_set_error_cb(r->listener, on_accept_error);
	return 0;
}

int
worker_init(struct worker *w, struct daemon *d, unsigned index, char *err,
    size_t errlen)
{
	bool need_dns = false;

	memset(w, 0, sizeof(*w));
	w->index = index;
	w->d = d;
	w->cmd_fd[0] = w->cmd_fd[1] = -1;
	TAILQ_INIT(&w->conns);
	TAILQ_INIT(&w->lingering);
	if ((w->routes = calloc(d->nroutes, sizeof(*w->routes))) == NULL)
		goto oom;
	for (size_t i = 0; i < d->nroutes; i++)
		w->routes[i].listen_fd = -1;
	if ((w->base = event_base_new()) == NULL || pipepool_init(&w->pipes, POOL_KEEP) == -1)
		goto oom;
	if (pipe2(w->cmd_fd, O_NONBLOCK | O_CLOEXEC) == -1) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		return -1;
	}
	w->cmd_ev = event_new(w->base, w->cmd_fd[0], EV_READ | EV_PERSIST, on_cmd, w);
	if (w->cmd_ev == NULL || event_add(w->cmd_ev, NULL) == -1)
		goto oom;
	for (size_t i = 0; i < d->nroutes; i++)
		need_dns |= !d->routes[i].upstream_static &&
		    !d->routes[i].rc->connect_original;
	if (need_dns) {
		w->dns = evdns_base_new(w->base, EVDNS_BASE_INITIALIZE_NAMESERVERS |
		    EVDNS_BASE_DISABLE_WHEN_INACTIVE);
		if (w->dns == NULL) {
			snprintf(err, errlen, "cannot start the DNS resolver");
			return -1;
		}
	}
	if (d->audit.fd != -1) {
		struct timeval every = { 1, 0 };
		if (audit_buf_init(&w->audit, &d->audit, 64 * 1024) == -1)
			goto oom;
		w->audit_on = true;
		w->audit_timer = event_new(w->base, -1, EV_PERSIST, on_audit_timer, w);
		if (w->audit_timer == NULL || event_add(w->audit_timer, &every) == -1)
			goto oom;
	}
	w->nroutes = d->nroutes;
	for (size_t i = 0; i < d->nroutes; i++)
		if (init_route(w, &w->routes[i], &d->routes[i], err, errlen) == -1)
			return -1;
	return 0;
oom:
	snprintf(err, errlen, "out of memory");
	return -1;
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	unsigned char done = (unsigned char)w->index;

	event_base_dispatch(w->base);
	close_all(w, "shutdown");
	stop_listening(w);
	if (w->audit_on)
		audit_flush(&w->audit);
	/* Tell the main thread; it joins and frees. */
	while (write(w->d->notify_fd[1], &done, 1) == -1 && errno == EINTR)
		;
	return NULL;
}

int
worker_start(struct worker *w)
{
	int rc = pthread_create(&w->thread, NULL, worker_main, w);

	if (rc != 0) {
		errno = rc;
		return -1;
	}
	w->started = true;
	return 0;
}

void
worker_send(struct worker *w, enum worker_cmd type, size_t route,
    struct tls_material *m, enum reauthorize reauth)
{
	struct wcmd cmd = { .type = (uint8_t)type, .reauth = (uint8_t)reauth,
	    .route = route, .m = m };

	_Static_assert(sizeof(cmd) <= PIPE_BUF, "command must be written atomically");
	while (write(w->cmd_fd[1], &cmd, sizeof(cmd)) == -1 && errno == EINTR)
		;
}

void
worker_free(struct worker *w)
{
	if (w->started) {
		pthread_join(w->thread, NULL);
		w->started = false;
	}
	close_all(w, "shutdown");
	linger_free_all(w);
	stop_listening(w);
	for (size_t i = 0; w->routes != NULL && i < w->nroutes; i++) {
		struct wroute *r = &w->routes[i];
		tls_ctx_unref(r->tls);
		bufpool_drain(&r->pool);
		free(r->peers.v);
		if (r->listen_fd != -1)
			close(r->listen_fd);
	}
	free(w->routes);
	w->routes = NULL;
	pipepool_drain(&w->pipes);
	/* Commands that arrived too late still hold material references. */
	if (w->cmd_fd[0] != -1) {
		struct wcmd cmd;
		while (read(w->cmd_fd[0], &cmd, sizeof(cmd)) == (ssize_t)sizeof(cmd))
			tls_material_unref(cmd.m);
	}
	if (w->cmd_ev != NULL)
		event_free(w->cmd_ev);
	if (w->audit_timer != NULL)
		event_free(w->audit_timer);
	if (w->audit_on)
		audit_buf_free(&w->audit);
	if (w->dns != NULL)
		evdns_base_free(w->dns, 0);
	if (w->base != NULL)
		event_base_free(w->base);
	for (int i = 0; i < 2; i++)
		if (w->cmd_fd[i] != -1)
			close(w->cmd_fd[i]);
	memset(w, 0, sizeof(*w));
}
