/*
 * conn.c: a connection's life before and after the relay: accept, TLS
 * handshake, timers, and the one teardown (the way to the upstream is
 * conn_upstream.c's).
 *
 * Order on a server route: handshake first, and only a verified, allowed
 * peer makes mtlsd connect to the app; nothing of the app is reachable before.
 * On a client route: connect to the peer, then the handshake; the local
 * app's bytes wait in its socket until the handshake is done.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>

#include "proxy/conn.h"
#include "proxy/linger.h"
#include "proxy/log.h"
#include "proxy/relay.h"
#include "proxy/worker.h"
#include "tls/tls.h"

static void on_event(evutil_socket_t fd, short what, void *arg);

/* Whether the kernel seals c's records. */
static bool
conn_ktls(const struct conn *c)
{
	return c->tls_ready && tls_conn_tx_layer(c->tls) == TLS_LAYER_KERNEL;
}

/* The relay ended c and said why. */
static int
relay_ended(struct conn *c, const struct relay_end *end)
{
	conn_free(c, end->reason, end->detail);
	return -1;
}

int
conn_relay(struct conn *c)
{
	struct relay_end end;

	if (relay_start(c, &end) == -1)
		return relay_ended(c, &end);
	conn_update_events(c);
	return 0;
}
static void on_timer(evutil_socket_t fd, short what, void *arg);

/* Microseconds on the worker's cached clock (no syscall). */
static uint64_t
now_us(const struct conn *c)
{
	return worker_now_us(c->r->w);
}

uint64_t
conn_now_ms(const struct conn *c)
{
	return now_us(c) / 1000;
}

void
conn_arm_timer(struct conn *c, uint32_t ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	if (ms == 0)
		evtimer_del(c->timer);
	else
		evtimer_add(c->timer, &tv);
}

int
conn_make_events(struct conn *c, bool tls_side)
{
	struct event_base *base = c->r->w->base;
	int fd = tls_side ? c->tls_fd : c->plain_fd;
	struct event **rd = tls_side ? &c->ev_tls_rd : &c->ev_plain_rd;
	struct event **wr = tls_side ? &c->ev_tls_wr : &c->ev_plain_wr;

	*rd = event_new(base, fd, EV_READ | EV_PERSIST, on_event, c);
	*wr = event_new(base, fd, EV_WRITE | EV_PERSIST, on_event, c);
	return *rd != NULL && *wr != NULL ? 0 : -1;
}

void
conn_update_events(struct conn *c)
{
	struct event *evs[4] = { c->ev_tls_rd, c->ev_tls_wr, c->ev_plain_rd,
	    c->ev_plain_wr };
	unsigned want = c->up.wants | c->down.wants;

	if (c->state != CS_RELAY)
		want = c->up.wants;	/* before the relay, one wait at a time */
	for (int i = 0; i < 4; i++) {
		unsigned bit = 1u << i;
		if ((want & bit) == (c->events_on & bit) || evs[i] == NULL)
			continue;
		if (want & bit)
			event_add(evs[i], NULL);
		else
			event_del(evs[i]);
	}
	c->events_on = want;
}

/* Before the relay a single wait is kept in up.wants. */
void
conn_wait_for(struct conn *c, unsigned bit)
{
	c->up.wants = bit;
	conn_update_events(c);
}

uint64_t
conn_run_id_new(void)
{
	uint64_t v = 0;
	struct timespec ts;

	if (getrandom(&v, sizeof(v), GRND_NONBLOCK) == (ssize_t)sizeof(v))
		return v;
	/* Early boot, no entropy yet: unique enough to tell runs apart. */
	clock_gettime(CLOCK_REALTIME, &ts);
	v = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	return v ^ ((uint64_t)getpid() << 40) ^ 0x9e3779b97f4a7c15u;
}

/* NULL for "": the audit trail leaves the key out. */
static const char *
known(const char *s)
{
	return s != NULL && s[0] != '\0' ? s : NULL;
}

void
conn_audit(struct conn *c, enum audit_event ev, const char *reason, const char *detail)
{
	struct audit_record ar = {
		.event = ev, .conn = c->id, .conn_id = c->cid, .route = c->r->rc->name,
		.peer_addr = c->peer, .reason = reason, .detail = detail,
		.target = known(c->target), .upstream = known(c->upstream),
	};

	if (!c->r->w->audit_on)
		return;
	if (c->tls != NULL && tls_conn_peer_id_len(c->tls) > 0) {
		ar.peer_id = tls_conn_peer_id(c->tls);
		ar.peer_id_len = tls_conn_peer_id_len(c->tls);
	}
	if (c->tls != NULL) {
		ar.peer_serial = known(tls_conn_peer_serial(c->tls));
		ar.peer_fingerprint = known(tls_conn_peer_fingerprint(c->tls));
		ar.peer_issuer = known(tls_conn_peer_issuer(c->tls));
		ar.sni = known(tls_conn_sni(c->tls));
	}
	if (c->tls_ready) {
		ar.tls_version = tls_conn_version(c->tls);
		ar.cipher = tls_conn_cipher_iana(c->tls);
	}
	if (ev == AUDIT_CLOSE) {
		ar.has_counts = true;
		ar.bytes_in = conn_bytes_in(c);
		ar.bytes_out = conn_bytes_out(c);
		ar.duration_ms = conn_now_ms(c) - c->started_ms;
		ar.path = conn_ktls(c) ? "ktls" : "userspace";
		ar.record_layer = c->tls_ready ? tls_layer_name(tls_conn_tx_layer(c->tls)) : NULL;
	}
	worker_audit(c->r->w, &ar);
}

void
conn_accept(struct wroute *r, int fd, const struct sockaddr *sa, socklen_t salen)
{
	struct worker *w = r->w;
	struct conn *c;

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		log_warnx("route=%s event=refused reason=out_of_memory", r->rc->name);
		close(fd);
		atomic_fetch_sub(&r->rs->active, 1);
		fd_budget_give(&w->d->fds, r->fd_cost);
		return;
	}
	c->tls_fd = c->plain_fd = -1;
	c->up.b.pipe[0] = c->up.b.pipe[1] = c->down.b.pipe[0] = c->down.b.pipe[1] = -1;
	c->r = r;
	c->id = atomic_fetch_add(&w->d->next_conn_id, 1) + 1;
	snprintf(c->cid, sizeof(c->cid), "%016" PRIx64 "-%" PRIu64, w->d->run_id, c->id);
	c->server = r->rc->mode == MODE_SERVER;
	c->idle_ms = r->rc->idle_timeout_ms;
	TAILQ_INSERT_TAIL(&w->conns, c, link);
	w->nconns++;
	counter_add(&r->stats.conns_total, 1);
	counter_add(&r->stats.conns_open, 1);
	c->phase_us = now_us(c);
	c->started_ms = c->phase_us / 1000;
	sock_format(sa, salen, c->peer, sizeof(c->peer));
	memcpy(&c->peer_sa.ss, sa, salen);
	c->peer_sa.len = salen;
	sock_nodelay(fd);
	if (c->server)
		c->tls_fd = fd;
	else
		c->plain_fd = fd;
	if ((c->timer = evtimer_new(w->base, on_timer, c)) == NULL ||
	    conn_make_events(c, c->server) == -1) {
		conn_free(c, "out_of_memory", NULL);
		return;
	}
	log_debug("conn=%s route=%s event=accept peer=%s", c->cid, r->rc->name,
	    c->peer);
	conn_audit(c, AUDIT_ACCEPT, NULL, NULL);
	if (c->server && r->rc->accept_proxy) {
		/* The header comes before any TLS byte; the handshake timeout
		 * covers both. */
		c->state = CS_PROXY_HEADER;
		conn_arm_timer(c, r->rc->handshake_timeout_ms);
		(void)conn_pp2_read(c);
	} else if (c->server) {
		(void)conn_handshake_start(c);
	} else {
		(void)conn_upstream_connect(c);
	}
}

/* The peer's identity as a logfmt value, "-" for none. */
#define LOG_ID_MAX	(6 * 256 + 3)
static const char *
conn_log_id(const struct conn *c, char *buf, size_t len)
{
	size_t n = c->tls != NULL ? tls_conn_peer_id_len(c->tls) : 0;

	if (n == 0)
		return "-";
	return log_value(tls_conn_peer_id(c->tls), n, buf, len);
}

static void
handshake_done(struct conn *c)
{
	uint64_t now = now_us(c);

	histogram_observe(&c->r->stats.handshake, now - c->phase_us);
	if (tls_conn_resumed(c->tls))
		counter_add(&c->r->stats.handshakes_resumed, 1);
	/* A peer let in on a CRL past its nextUpdate (crl_stale = warn): say
	 * so where it happens, at most hourly, beside the main thread's check. */
	if (tls_conn_crl_stale(c->tls) &&
	    now / 1000000 - (uint64_t)c->r->crl_stale_logged >= 3600) {
		c->r->crl_stale_logged = (time_t)(now / 1000000);
		log_warnx("conn=%s route=%s event=crl_stale_used: a peer was admitted "
		    "on a CRL past its nextUpdate", c->cid, c->r->rc->name);
	}
	if ((c->pstat = peer_stats_get(&c->r->peers, tls_conn_peer_id(c->tls))) != NULL)
		counter_add(&c->pstat->conns, 1);
	if (log_enabled(LOG_LEVEL_DEBUG)) {
		char id[LOG_ID_MAX];
		log_debug("conn=%s route=%s event=handshake_ok peer=%s id=%s tls=%s "
		    "cipher=%s%s", c->cid, c->r->rc->name, c->peer,
		    conn_log_id(c, id, sizeof(id)), tls_conn_version(c->tls),
		    tls_conn_cipher(c->tls), tls_conn_resumed(c->tls) ? " resumed=yes" : "");
	}
	conn_audit(c, AUDIT_HANDSHAKE_OK, NULL, NULL);
	c->phase_us = now;
}

/* Returns 0, or -1 when c was freed. */
static int
handshake_step(struct conn *c)
{
	int rc = tls_conn_handshake(c->tls);
	enum tls_fail f;

	switch (rc) {
	case TLS_WANT_READ:
		conn_wait_for(c, WANT_TLS_RD);
		return 0;
	case TLS_WANT_WRITE:
		conn_wait_for(c, WANT_TLS_WR);
		return 0;
	case TLS_OK:
		c->tls_ready = true;
		handshake_done(c);
		/* A reload during the handshake: hold it to the new policy. */
		if (c->tls_gen != c->r->tls_gen &&
		    c->r->reauthorize == REAUTH_CLOSE && conn_reauthorize(c) == -1)
			return -1;
		if (c->server)
			return c->r->rc->connect_original ? conn_tunnel_read(c) :
			    conn_upstream_connect(c);
		if (c->r->rc->mode == MODE_TRANSPARENT && conn_tunnel_send(c) == -1)
			return -1;
		return conn_relay(c);
	default:
		f = tls_conn_fail(c->tls);
		counter_add(&c->r->stats.handshake_fail[f], 1);
		conn_audit(c, f == TLS_FAIL_DENIED ? AUDIT_DENIED : AUDIT_HANDSHAKE_FAIL,
		    tls_fail_name(f), tls_conn_fail_detail(c->tls));
		conn_free(c, tls_fail_name(f), tls_conn_fail_detail(c->tls));
		return -1;
	}
}

int
conn_handshake_start(struct conn *c)
{
	struct wroute *r = c->r;

	/* A transparent route checks the peer against where the app was
	 * going, unless server_name says otherwise. */
	c->tls = tls_conn_new(r->tls, c->tls_fd, r->rs->server_name ?
	    r->rs->server_name : c->target_host);
	c->tls_gen = r->tls_gen;
	if (c->tls == NULL) {
		conn_free(c, "out_of_memory", "cannot start TLS");
		return -1;
	}
	c->state = CS_HANDSHAKE;
	c->phase_us = now_us(c);
	conn_arm_timer(c, r->rc->handshake_timeout_ms);
	return handshake_step(c);
}

int
conn_reauthorize(struct conn *c)
{
	char reason[40];

	if (tls_conn_reverify(c->tls, c->r->tls) == 0)
		return 0;
	snprintf(reason, sizeof(reason), "reauth_%s", tls_fail_name(tls_conn_fail(c->tls)));
	conn_audit(c, AUDIT_DENIED, reason, tls_conn_fail_detail(c->tls));
	conn_free(c, reason, tls_conn_fail_detail(c->tls));
	return -1;
}

static void
on_event(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	struct relay_end end;
	bool tls_side = fd == c->tls_fd;
	unsigned fired = tls_side ? (what & EV_READ ? WANT_TLS_RD : WANT_TLS_WR) :
	    (what & EV_READ ? WANT_PLAIN_RD : WANT_PLAIN_WR);

	switch (c->state) {
	case CS_PROXY_HEADER:
		(void)conn_pp2_read(c);
		return;
	case CS_HANDSHAKE:
		(void)handshake_step(c);
		return;
	case CS_TUNNEL_HEADER:
		(void)conn_tunnel_read(c);
		return;
	case CS_CONNECTING:
		(void)conn_upstream_connected(c);
		return;
	case CS_RELAY:
		if (relay_run(c, fired, &end) == -1)
			(void)relay_ended(c, &end);
		else
			conn_update_events(c);
		return;
	case CS_RESOLVING:
	case CS_CONNECT_RETRY:
		break;
	}
}

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	struct relay_end end;

	(void)fd;
	(void)what;
	switch (c->state) {
	case CS_PROXY_HEADER:
		counter_add(&c->r->stats.refused[REFUSE_PROXY_HEADER], 1);
		conn_free(c, "proxy_header", "no complete PROXY header before "
		    "handshake_timeout");
		return;
	case CS_HANDSHAKE:
		counter_add(&c->r->stats.handshake_timeout, 1);
		conn_audit(c, AUDIT_HANDSHAKE_FAIL, "handshake_timeout", NULL);
		conn_free(c, "handshake_timeout", NULL);
		return;
	case CS_TUNNEL_HEADER:
		counter_add(&c->r->stats.refused[REFUSE_TUNNEL], 1);
		conn_audit(c, AUDIT_DENIED, "tunnel_header", "no complete tunnel "
		    "header before handshake_timeout");
		conn_free(c, "tunnel_header", "no complete tunnel header before "
		    "handshake_timeout");
		return;
	case CS_CONNECT_RETRY:
		conn_upstream_retry(c);
		return;
	case CS_RESOLVING:
	case CS_CONNECTING:
		counter_add(&c->r->stats.upstream_fail, 1);
		conn_free(c, "connect_timeout", NULL);
		return;
	case CS_RELAY:
		if (relay_on_timer(c, &end) == -1)
			(void)relay_ended(c, &end);
		return;
	}
}

static void
close_fd(int *fd)
{
	if (*fd != -1) {
		close(*fd);
		*fd = -1;
	}
}

static void
log_close(struct conn *c, const char *reason, const char *detail)
{
	uint64_t in = conn_bytes_in(c), out = conn_bytes_out(c);
	char id[LOG_ID_MAX], safe_detail[512];
	bool relayed = c->state == CS_RELAY;
	enum log_level lvl = relayed && strcmp(reason, "eof") == 0 ?
	    LOG_LEVEL_INFO : LOG_LEVEL_WARN;

	if (!log_enabled(lvl))
		return;
	if (detail != NULL)
		log_value(detail, strlen(detail), safe_detail, sizeof(safe_detail));
	(lvl == LOG_LEVEL_INFO ? log_info : log_warnx)(
	    "conn=%s route=%s event=close peer=%s%s%s%s%s%s%s id=%s tls=%s cipher=%s%s "
	    "bytes_in=%llu bytes_out=%llu duration_ms=%llu layer=%s path=%s "
	    "reason=%s%s%s",
	    c->cid, c->r->rc->name, c->peer,
	    c->via[0] ? " via=" : "", c->via, c->upstream[0] ? " upstream=" : "",
	    c->upstream, c->target[0] ? " target=" : "", c->target,
	    conn_log_id(c, id, sizeof(id)),
	    c->tls_ready ? tls_conn_version(c->tls) : "-",
	    c->tls_ready ? tls_conn_cipher(c->tls) : "-",
	    c->tls_ready && tls_conn_resumed(c->tls) ? " resumed=yes" : "",
	    (unsigned long long)in, (unsigned long long)out,
	    (unsigned long long)(conn_now_ms(c) - c->started_ms),
	    c->tls_ready ? tls_layer_name(tls_conn_tx_layer(c->tls)) : "-",
	    conn_ktls(c) ? "ktls" : "userspace", reason,
	    detail ? " detail=" : "", detail ? safe_detail : "");
}

void
conn_free(struct conn *c, const char *reason, const char *detail)
{
	struct wroute *r = c->r;
	struct event **evs[4] = { &c->ev_tls_rd, &c->ev_tls_wr, &c->ev_plain_rd,
	    &c->ev_plain_wr };

	log_close(c, reason, detail);
	conn_audit(c, AUDIT_CLOSE, reason, detail);
	if (c->pstat != NULL) {
		counter_add(&c->pstat->bytes_in, conn_bytes_in(c));
		counter_add(&c->pstat->bytes_out, conn_bytes_out(c));
	}
	/* A peer with a live session learns of the end by close_notify, not
	 * by a bare FIN; best effort, never after a TLS error (house rule 22).  If
	 * the peer may still be sending, its socket lingers (linger.h), so
	 * that it sees the close_notify and a FIN, never a reset. */
	if (c->tls_ready && !c->up.shut && tls_conn_fail(c->tls) == TLS_FAIL_NONE)
		c->up.shut = tls_conn_close_notify(c->tls) == TLS_OK;
	if (c->dns_req != NULL)
		evdns_getaddrinfo_cancel(c->dns_req);
	for (int i = 0; i < 4; i++) {
		if (*evs[i] != NULL) {
			event_free(*evs[i]);
			*evs[i] = NULL;
		}
	}
	if (c->timer != NULL)
		event_free(c->timer);
	if (c->up.shut && !c->down.eof && tls_conn_fail(c->tls) == TLS_FAIL_NONE &&
	    c->tls_fd != -1) {
		linger_close(r->w, c->tls_fd);
		c->tls_fd = -1;
	}
	tls_conn_free(c->tls);
	close_fd(&c->tls_fd);
	close_fd(&c->plain_fd);
	conn_handoff_clear(c);
	relay_release(c);
	free(c->pp_buf);
	counter_sub(&r->stats.conns_open, 1);
	atomic_fetch_sub(&r->rs->active, 1);
	fd_budget_give(&r->w->d->fds, r->fd_cost);
	TAILQ_REMOVE(&r->w->conns, c, link);
	free(c);
	worker_conn_gone(r->w);
}
