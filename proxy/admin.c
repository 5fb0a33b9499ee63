/*
 * admin.c: the admin endpoint on admin_listen, served by libevent's evhttp
 * in the main thread (workers never wait on it).
 *
 *   /metrics   Prometheus text format (metrics.c)
 *   /healthz   200 while the process and its main loop run
 *   /readyz    200 when listeners are up, every route's certificate is
 *              valid now and, with readyz_upstream = yes, every server
 *              route's upstream accepts a TCP connection; 503 and the
 *              reasons otherwise
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

#include "proxy/admin.h"
#include "proxy/daemon.h"
#include "proxy/log.h"
#include "proxy/metrics.h"
#include "proxy/sock.h"

#define UPSTREAM_PROBE_MS 1000

struct admin {
	struct daemon *d;
	struct evhttp *http;
};

/* One /readyz request waiting for its upstream probes. */
struct readyz {
	struct evhttp_request *req;	/* NULL once the client went away */
	struct evbuffer *problems;
	int pending;
};

/* One upstream connect of a /readyz request. */
struct probe {
	struct readyz *rz;
	int fd;
	const char *route;
	const char *target;
};

static void
reply(struct evhttp_request *req, int code, const char *type, struct evbuffer *body)
{
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", type);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Cache-Control",
	    "no-store");
	evhttp_send_reply(req, code, code == 200 ? "OK" : code == 404 ? "Not Found" :
	    "Service Unavailable", body);
}

static void
on_metrics(struct evhttp_request *req, void *arg)
{
	struct admin *a = arg;
	struct evbuffer *body = evbuffer_new();

	if (body == NULL) {
		evhttp_send_error(req, 500, NULL);
		return;
	}
	metrics_render(a->d, body);
	reply(req, 200, "text/plain; version=0.0.4; charset=utf-8", body);
	evbuffer_free(body);
}

static void
on_healthz(struct evhttp_request *req, void *arg)
{
	struct evbuffer *body = evbuffer_new();

	(void)arg;
	if (body == NULL) {
		evhttp_send_error(req, 500, NULL);
		return;
	}
	evbuffer_add(body, "ok\n", 3);
	reply(req, 200, "text/plain", body);
	evbuffer_free(body);
}

static void
readyz_finish(struct readyz *rz)
{
	if (rz->req != NULL) {
		evhttp_connection_set_closecb(evhttp_request_get_connection(rz->req),
		    NULL, NULL);
		if (evbuffer_get_length(rz->problems) == 0) {
			evbuffer_add(rz->problems, "ready\n", 6);
			reply(rz->req, 200, "text/plain", rz->problems);
		} else {
			reply(rz->req, 503, "text/plain", rz->problems);
		}
	}
	evbuffer_free(rz->problems);
	free(rz);
}

static void
on_probe(evutil_socket_t fd, short what, void *arg)
{
	struct probe *p = arg;
	struct readyz *rz = p->rz;
	int err = what & EV_TIMEOUT ? ETIMEDOUT : sock_connect_result(fd);

	if (err != 0)
		evbuffer_add_printf(rz->problems, "route %s: upstream %s: %s\n",
		    p->route, p->target, strerror(err));
	close(fd);
	free(p);
	if (--rz->pending == 0)
		readyz_finish(rz);
}

/* The client hung up before the probes finished: reply to nobody. */
static void
on_readyz_gone(struct evhttp_connection *conn, void *arg)
{
	struct readyz *rz = arg;

	(void)conn;
	rz->req = NULL;
}

static void
probe_upstream(struct admin *a, struct readyz *rz, const struct route_state *rs)
{
	struct timeval tv = { 0, UPSTREAM_PROBE_MS * 1000 };
	struct probe *p;
	int fd;

	if ((fd = sock_connect(&rs->upstream)) == -1) {
		evbuffer_add_printf(rz->problems, "route %s: upstream %s: %s\n",
		    rs->rc->name, rs->rc->connect.text, strerror(errno));
		return;
	}
	if ((p = calloc(1, sizeof(*p))) == NULL) {
		close(fd);
		evbuffer_add_printf(rz->problems, "out of memory\n");
		return;
	}
	p->rz = rz;
	p->fd = fd;
	p->route = rs->rc->name;
	p->target = rs->rc->connect.text;
	rz->pending++;
	if (event_base_once(a->d->base, fd, EV_WRITE, on_probe, p, &tv) == -1) {
		rz->pending--;
		close(fd);
		free(p);
		evbuffer_add_printf(rz->problems, "route %s: cannot probe\n", rs->rc->name);
	}
}

static void
on_readyz(struct evhttp_request *req, void *arg)
{
	struct admin *a = arg;
	struct daemon *d = a->d;
	struct readyz *rz = calloc(1, sizeof(*rz));
	time_t now = time(NULL);

	if (rz == NULL || (rz->problems = evbuffer_new()) == NULL) {
		free(rz);
		evhttp_send_error(req, 500, NULL);
		return;
	}
	rz->req = req;
	/* During drain_grace the listeners still accept: the load balancer
	 * learns here that it should stop sending. */
	if (d->stopping)
		evbuffer_add_printf(rz->problems, "shutting down%s\n",
		    d->grace_timer && evtimer_pending(d->grace_timer, NULL) ?
		    " (drain_grace: still accepting)" : "");
	if (d->workers_running != d->nworkers)
		evbuffer_add_printf(rz->problems, "%u of %u workers running\n",
		    d->workers_running, d->nworkers);
	for (size_t i = 0; i < d->nroutes; i++) {
		const struct route_state *rs = &d->routes[i];
		time_t end = rs->material ? tls_material_not_after(rs->material) : 0;
		if (end != 0 && end <= now)
			evbuffer_add_printf(rz->problems, "route %s: certificate expired\n",
			    rs->rc->name);
	}
	rz->pending = 1;	/* held until every probe has started */
	if (d->cfg->readyz_upstream && !d->stopping) {
		for (size_t i = 0; i < d->nroutes; i++)
			if (d->routes[i].rc->mode == MODE_SERVER && d->routes[i].upstream_static)
				probe_upstream(a, rz, &d->routes[i]);
	}
	evhttp_connection_set_closecb(evhttp_request_get_connection(req),
	    on_readyz_gone, rz);
	if (--rz->pending == 0)
		readyz_finish(rz);
}

static void
on_other(struct evhttp_request *req, void *arg)
{
	struct evbuffer *body = evbuffer_new();

	(void)arg;
	if (body != NULL)
		evbuffer_add_printf(body, "not found: try /metrics, /healthz or /readyz\n");
	reply(req, 404, "text/plain", body);
	if (body != NULL)
		evbuffer_free(body);
}

int
admin_start(struct daemon *d, char *err, size_t errlen)
{
	struct admin *a;
	int fd;

	if (!d->cfg->admin_enabled)
		return 0;
	if (sock_listen_group(&d->cfg->admin_listen, 1, 128, &fd, err, errlen) == -1)
		return -1;
	if ((a = calloc(1, sizeof(*a))) == NULL || (a->http = evhttp_new(d->base)) == NULL) {
		free(a);
		close(fd);
		snprintf(err, errlen, "admin: out of memory");
		return -1;
	}
	a->d = d;
	d->admin = a;
	evhttp_set_allowed_methods(a->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
	evhttp_set_timeout(a->http, 10);
	evhttp_set_max_headers_size(a->http, 8192);
	evhttp_set_max_body_size(a->http, 0);
	evhttp_set_cb(a->http, "/metrics", on_metrics, a);
	evhttp_set_cb(a->http, "/healthz", on_healthz, a);
	evhttp_set_cb(a->http, "/readyz", on_readyz, a);
	evhttp_set_gencb(a->http, on_other, a);
	if (evhttp_accept_socket_with_handle(a->http, fd) == NULL) {
		close(fd);
		snprintf(err, errlen, "admin: cannot serve %s", d->cfg->admin_listen.text);
		admin_stop(d);
		return -1;
	}
	log_info("event=admin_listening listen=%s", d->cfg->admin_listen.text);
	return 0;
}

void
admin_stop(struct daemon *d)
{
	struct admin *a = d->admin;

	if (a == NULL)
		return;
	if (a->http != NULL)
		evhttp_free(a->http);
	free(a);
	d->admin = NULL;
}
