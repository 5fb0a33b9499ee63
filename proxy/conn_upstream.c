/*
 * conn_upstream.c: a connection's way to its upstream: the name lookup
 * (evdns), the non-blocking connect and its result, and, on routes that
 * end a tunnel (connect = original), retrying a refused connect with
 * backoff.  Server routes also mark the upstream socket's local port as a
 * hand-off of mtlsd's own (daemon.handoff_ports), so that a transparent
 * route never captures it again.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>

#include "proxy/log.h"
#include "proxy/worker.h"
#include "proxy/conn.h"

/* Backoff between connect attempts of a tunnel-ending route. */
#define RETRY_FIRST_MS	25
#define RETRY_MAX_MS	1000

/*
 * A tunnel's app may not listen yet: a job's rank that starts before the
 * one it dials would see ECONNREFUSED and retry over plain TCP, but through
 * mtlsd its connect already succeeded (to mtlsd).  So a connect = original
 * route retries a refused upstream within connect_timeout, the TLS side
 * waiting meanwhile.  Returns 1 if a retry is scheduled.
 */
static int
retry_later(struct conn *c, int err)
{
	uint64_t now = conn_now_ms(c);
	uint32_t wait = c->retry_ms ? c->retry_ms : RETRY_FIRST_MS;

	if (err != ECONNREFUSED || !c->server || !c->r->rc->connect_original ||
	    now + wait >= c->connect_deadline_ms)
		return 0;
	c->retry_ms = wait * 2 < RETRY_MAX_MS ? wait * 2 : RETRY_MAX_MS;
	c->retries++;
	counter_add(&c->r->stats.upstream_retries, 1);
	if (c->ev_plain_rd != NULL) {
		event_free(c->ev_plain_rd);
		event_free(c->ev_plain_wr);
		c->ev_plain_rd = c->ev_plain_wr = NULL;
		c->events_on &= ~(unsigned)(WANT_PLAIN_RD | WANT_PLAIN_WR);
	}
	if (c->plain_fd != -1) {
		close(c->plain_fd);
		c->plain_fd = -1;
	}
	conn_handoff_clear(c);
	conn_wait_for(c, 0);
	c->state = CS_CONNECT_RETRY;
	conn_arm_timer(c, wait);
	return 1;
}

/* Names the connect failure from its errno. */
static int
upstream_failed(struct conn *c, int err)
{
	const char *reason;
	char detail[96];

	if (retry_later(c, err))
		return 0;

	switch (err) {
	case ECONNREFUSED:
		reason = "upstream_refused";
		break;
	case EHOSTUNREACH:
	case ENETUNREACH:
	case ENOENT:		/* unix socket path missing */
		reason = "upstream_unreachable";
		break;
	default:
		reason = "upstream_error";
		break;
	}
	counter_add(&c->r->stats.upstream_fail, 1);
	snprintf(detail, sizeof(detail), "%s%s", strerror(err), c->retries > 0 ?
	    " (retried until connect_timeout)" : "");
	conn_free(c, reason, detail);
	return -1;
}

/* Server routes: the app socket's local port is mtlsd's (see
 * daemon.handoff_ports), until the socket closes. */
static void
handoff_mark(struct conn *c, int fd)
{
	struct sockname me;

	if (sock_local(fd, &me) != 0)
		return;
	c->handoff_port = sock_port((struct sockaddr *)&me.ss);
	if (c->handoff_port != 0)
		atomic_fetch_add(&c->r->w->d->handoff_ports[c->handoff_port], 1);
}

void
conn_handoff_clear(struct conn *c)
{
	if (c->handoff_port != 0)
		atomic_fetch_sub(&c->r->w->d->handoff_ports[c->handoff_port], 1);
	c->handoff_port = 0;
}

static int
connect_to(struct conn *c, const struct sockname *sn)
{
	int fd;

	/* Named also when the connect fails: the close line says where to. */
	sock_format((const struct sockaddr *)&sn->ss, sn->len, c->upstream,
	    sizeof(c->upstream));
	if ((fd = sock_connect(sn)) == -1)
		return upstream_failed(c, errno);
	if (c->server) {
		c->plain_fd = fd;
		handoff_mark(c, fd);
	} else {
		c->tls_fd = fd;
	}
	if (conn_make_events(c, !c->server) == -1) {
		conn_free(c, "out_of_memory", NULL);
		return -1;
	}
	c->state = CS_CONNECTING;
	conn_wait_for(c, c->server ? WANT_PLAIN_WR : WANT_TLS_WR);
	return 0;
}

int
conn_connect(struct conn *c, const struct sockname *sn)
{
	c->phase_us = worker_now_us(c->r->w);
	conn_arm_timer(c, c->r->rc->connect_timeout_ms);
	c->connect_deadline_ms = conn_now_ms(c) + c->r->rc->connect_timeout_ms;
	c->retry_to = *sn;
	return connect_to(c, sn);
}

void
conn_upstream_retry(struct conn *c)
{
	uint64_t now = conn_now_ms(c);

	conn_arm_timer(c, (uint32_t)(c->connect_deadline_ms > now ?
	    c->connect_deadline_ms - now : 1));
	(void)connect_to(c, &c->retry_to);
}

int
conn_upstream_connected(struct conn *c)
{
	int fd = c->server ? c->plain_fd : c->tls_fd;
	int err = sock_connect_result(fd);
	uint64_t now;

	if (err != 0)
		return upstream_failed(c, err);
	now = worker_now_us(c->r->w);
	histogram_observe(&c->r->stats.connect, now - c->phase_us);
	c->phase_us = now;
	sock_nodelay(fd);
	conn_wait_for(c, 0);
	if (!c->server)
		return conn_handshake_start(c);
	if (c->r->rc->send_proxy == PROXY_V2 && conn_pp2_send(c) == -1)
		return -1;
	return conn_relay(c);
}

static void
on_resolved(int result, struct evutil_addrinfo *res, void *arg)
{
	struct conn *c = arg;

	/* A cancelled lookup belongs to a conn that is already gone. */
	if (result == EVUTIL_EAI_CANCEL) {
		if (res != NULL)
			evutil_freeaddrinfo(res);
		return;
	}
	c->dns_req = NULL;
	c->dns_error = result;
	if (result == 0 && res != NULL) {
		memcpy(&c->dns_result.ss, res->ai_addr, res->ai_addrlen);
		c->dns_result.len = (socklen_t)res->ai_addrlen;
	} else if (result == 0) {
		c->dns_error = EVUTIL_EAI_FAIL;
	}
	if (res != NULL)
		evutil_freeaddrinfo(res);
	if (c->dns_inline)
		return;		/* conn_upstream_connect() carries on */
	if (c->dns_error != 0) {
		counter_add(&c->r->stats.upstream_fail, 1);
		conn_free(c, "resolve_failed", evutil_gai_strerror(c->dns_error));
		return;
	}
	(void)connect_to(c, &c->dns_result);
}

int
conn_upstream_connect(struct conn *c)
{
	struct route_state *rs = c->r->rs;
	struct evutil_addrinfo hints;
	char port[8];

	c->phase_us = worker_now_us(c->r->w);
	conn_arm_timer(c, c->r->rc->connect_timeout_ms);
	if (rs->upstream_static)
		return connect_to(c, &rs->upstream);
	if (rs->rc->connect_original) {		/* a transparent route */
		struct sockname sn;
		if (conn_tunnel_target(c, &sn) == -1)
			return -1;
		return connect_to(c, &sn);
	}

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = EVUTIL_AI_ADDRCONFIG;
	snprintf(port, sizeof(port), "%u", rs->rc->connect.port);
	c->state = CS_RESOLVING;
	c->dns_inline = true;
	c->dns_error = -1;
	c->dns_req = evdns_getaddrinfo(c->r->w->dns, rs->rc->connect.host, port,
	    &hints, on_resolved, c);
	c->dns_inline = false;
	if (c->dns_error == -1)
		return 0;	/* the answer comes later, to on_resolved() */
	c->dns_req = NULL;
	if (c->dns_error != 0) {
		counter_add(&c->r->stats.upstream_fail, 1);
		conn_free(c, "resolve_failed", evutil_gai_strerror(c->dns_error));
		return -1;
	}
	return connect_to(c, &c->dns_result);
}
