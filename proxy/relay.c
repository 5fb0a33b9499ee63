/*
 * relay.c: moving bytes between the plain and the TLS socket (see
 * relay.h): one pump per direction over tls/'s record operations, the
 * record layer's choice at the start, the idle timer, the counters.
 *
 * System calls per 16 KiB, steady state, 64 KiB buffers: on mtlsd's own
 * layer, up one readv() and one send() per three records, down one recv()
 * and one sendmsg() per about four; on mbedTLS's, up one send() per
 * record and a quarter of a recv(), down mbedTLS's two recv()s (header,
 * body) and a quarter of a send().  The fds' events are persistent and
 * change only when a direction starts or stops waiting, so a streaming
 * connection makes no epoll_ctl calls.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/event.h>

#include "proxy/conn.h"
#include "proxy/log.h"
#include "proxy/relay.h"
#include "proxy/worker.h"
#include "tls/tls.h"

static int
end_with(struct relay_end *end, const char *reason, const char *detail)
{
	snprintf(end->reason, sizeof(end->reason), "%s", reason);
	end->detail = detail;
	return -1;
}

/* "client" is the accepted side, "upstream" the side mtlsd connected. */
static const char *
side_name(const struct conn *c, bool tls_side)
{
	return c->server == tls_side ? "client" : "upstream";
}

/* The plain socket failed: <side>_reset or <side>_error. */
static int
fail_plain(struct conn *c, int err, struct relay_end *end)
{
	snprintf(end->reason, sizeof(end->reason), "%s_%s", side_name(c, false),
	    err == ECONNRESET || err == EPIPE ? "reset" : "error");
	end->detail = strerror(err);
	return -1;
}

/* tls/ reported an error: a reason of its own (key_limit, ktls_failed),
 * a reset of the TLS side, or tls_error. */
static int
fail_tls(struct conn *c, struct relay_end *end)
{
	const char *own = tls_conn_end_reason(c->tls);

	if (own != NULL) {
		snprintf(end->reason, sizeof(end->reason), "%s", own);
		if (strcmp(own, "key_limit") == 0)
			counter_add(&c->r->stats.key_limit_closes, 1);
	} else if (tls_conn_fail(c->tls) == TLS_FAIL_RESET) {
		snprintf(end->reason, sizeof(end->reason), "%s_reset", side_name(c, true));
	} else {
		snprintf(end->reason, sizeof(end->reason), "tls_error");
	}
	end->detail = tls_conn_fail_detail(c->tls);
	return -1;
}

/* The direction's buffer, or on kernel TLS its pipe, from the pools. */
static int
dir_hold(struct conn *c, struct dir *d, bool up, struct relay_end *end)
{
	if (tls_io_uses_pipe(c->tls, up)) {
		if (d->b.pipe[0] == -1 && pipepool_get(&c->r->w->pipes, d->b.pipe) == -1)
			return end_with(end, "out_of_descriptors", strerror(errno));
		return 0;
	}
	if (d->b.data == NULL) {
		if ((d->b.data = bufpool_get(&c->r->pool)) == NULL)
			return end_with(end, "out_of_memory", "no buffer for the relay");
		d->b.cap = c->r->pool.size;
	}
	return 0;
}

/* A drained direction gives its buffer and pipe back: idle connections
 * hold none. */
static void
dir_release_if_idle(struct conn *c, struct dir *d)
{
	if (!tls_buf_idle(&d->b))
		return;
	if (d->b.data != NULL) {
		bufpool_put(&c->r->pool, d->b.data);
		d->b.data = NULL;
		d->b.off = d->b.len = d->b.mark = d->b.part = 0;
	}
	pipepool_put(&c->r->w->pipes, d->b.pipe, 1);
}

static unsigned
tls_wait(ssize_t n)
{
	return n == TLS_WANT_WRITE ? WANT_TLS_WR : WANT_TLS_RD;
}

/* plain -> TLS.  Returns 0, or -1 with *end filled. */
static int
pump_up(struct conn *c, struct relay_end *end)
{
	struct dir *d = &c->up;
	unsigned flags = TLS_IO_MORE;
	ssize_t n;

	d->wants = 0;
	for (;;) {
		/* What the buffer holds goes first; then the layer's own
		 * records (a KeyUpdate, bytes a read left unsent). */
		if ((n = tls_up_send(c->tls, &d->b, &d->bytes)) == TLS_OK)
			n = tls_up_ready(c->tls);
		if (n == TLS_WANT_WRITE || n == TLS_WANT_READ) {
			d->wants = tls_wait(n);
			break;
		}
		if (n != TLS_OK)
			return fail_tls(c, end);
		if (d->eof) {
			if (d->shut)
				break;
			if ((n = tls_up_close(c->tls)) == TLS_OK)
				d->shut = true;
			else if (n == TLS_WANT_WRITE || n == TLS_WANT_READ)
				d->wants = tls_wait(n);
			else
				return fail_tls(c, end);
			break;
		}
		if (!(flags & TLS_IO_MORE)) {
			d->wants = WANT_PLAIN_RD;
			break;
		}
		if (dir_hold(c, d, true, end) == -1)
			return -1;
		n = tls_up_fill(c->tls, &d->b, c->plain_fd, &d->bytes, &flags);
		if (n > 0)
			continue;
		if (n == 0) {
			d->eof = true;
		} else if (n == TLS_WANT_READ) {
			d->wants = WANT_PLAIN_RD;
			break;
		} else if (n == TLS_ERR_PLAIN) {
			return fail_plain(c, errno, end);
		} else {
			return fail_tls(c, end);
		}
	}
	dir_release_if_idle(c, d);
	return 0;
}

/* TLS -> plain.  Returns 0, or -1 with *end filled. */
static int
pump_down(struct conn *c, struct relay_end *end)
{
	struct dir *d = &c->down;
	unsigned flags = TLS_IO_MORE;
	ssize_t n;

	d->wants = 0;
	for (;;) {
		n = tls_down_send(c->tls, &d->b, c->plain_fd);
		if (n > 0) {
			d->bytes += (uint64_t)n;
			continue;
		}
		if (n == TLS_WANT_WRITE) {
			d->wants |= WANT_PLAIN_WR;
			break;
		}
		if (n != 0)
			return fail_plain(c, errno, end);
		if (d->eof) {
			if (!d->shut) {
				(void)shutdown(c->plain_fd, SHUT_WR);
				d->shut = true;
			}
			break;
		}
		if (!(flags & TLS_IO_MORE)) {
			d->wants |= WANT_TLS_RD;
			break;
		}
		if (dir_hold(c, d, false, end) == -1)
			return -1;
		n = tls_down_fill(c->tls, &d->b, &flags);
		if (flags & TLS_IO_EOF)
			d->eof = true;
		if (n >= 0)
			continue;
		if (n == TLS_WANT_READ || n == TLS_WANT_WRITE) {
			d->wants |= tls_wait(n);
			break;
		}
		return fail_tls(c, end);
	}
	dir_release_if_idle(c, d);
	/* The read made the layer owe the peer bytes (a KeyUpdate's answer,
	 * a half-sent record): the up direction sends them. */
	if (tls_up_pending(c->tls))
		c->up.wants |= WANT_TLS_WR;
	return 0;
}

int
relay_run(struct conn *c, unsigned fired, struct relay_end *end)
{
	struct route_stats *st = &c->r->stats;
	uint64_t up0 = c->up.bytes, down0 = c->down.bytes, ku;
	int r;

	if ((c->up.wants & fired) && pump_up(c, end) == -1)
		return -1;
	if (c->down.wants & fired) {
		if (pump_down(c, end) == -1)
			return -1;
		/* The ticket (or the first record) is in and nothing is left
		 * in mbedTLS or the buffer: RX follows TX out of mbedTLS. */
		if ((r = tls_conn_rx_settle(c->tls, &c->down.b, c->down.eof)) == TLS_ERR)
			return fail_tls(c, end);
		if (r == 1)
			c->down.wants = WANT_TLS_RD;
	}
	if (c->up.bytes != up0 || c->down.bytes != down0) {
		/* "in" flows from the accepted side onward. */
		uint64_t up = c->up.bytes - up0, down = c->down.bytes - down0;
		counter_add(&st->bytes_in, c->server ? down : up);	/* see conn_bytes_in() */
		counter_add(&st->bytes_out, c->server ? up : down);
		c->last_active_ms = worker_now_us(c->r->w) / 1000;
	}
	if ((ku = tls_conn_key_updates(c->tls)) != c->key_updates) {
		counter_add(&st->key_updates, ku - c->key_updates);
		c->key_updates = ku;
	}
	if (c->up.shut && c->down.shut)
		return end_with(end, "eof", tls_conn_truncated(c->tls) ?
		    "peer closed TCP without close_notify" : NULL);
	return 0;
}

/* The route's record_layer, as tls_conn_switch() takes it; and what it
 * says of a layer the route allowed that did not take the connection. */
static int
layer_switch(struct conn *c, struct relay_end *end)
{
	enum record_layer want = c->r->rc->record_layer;
	struct tls_switch s = {
		.kernel = want == RECORD_LAYER_AUTO || want == RECORD_LAYER_KERNEL,
		.own = want == RECORD_LAYER_AUTO || want == RECORD_LAYER_LIBGCRYPT,
		.rx_waits = !c->server && c->r->rc->session_resumption,
		.buf_cap = c->r->pool.size,
	};

	if (tls_conn_switch(c->tls, &s) == TLS_ERR)
		return fail_tls(c, end);
	if (s.kernel_why != NULL)
		(want == RECORD_LAYER_KERNEL ? log_warnx : log_debug)("conn=%s "
		    "route=%s event=ktls status=fallback path=userspace reason=\"%s\"",
		    c->cid, c->r->rc->name, s.kernel_why);
	if (s.own_why != NULL)
		(want == RECORD_LAYER_LIBGCRYPT ? log_warnx : log_debug)("conn=%s "
		    "route=%s event=record_layer status=fallback layer=mbedtls "
		    "reason=\"%s\"", c->cid, c->r->rc->name, s.own_why);
	switch (tls_conn_tx_layer(c->tls)) {
	case TLS_LAYER_KERNEL:
		counter_add(&c->r->stats.conns_ktls, 1);
		break;
	case TLS_LAYER_OWN:
		counter_add(&c->r->stats.conns_own, 1);
		break;
	case TLS_LAYER_MBEDTLS:
		break;
	}
	return 0;
}

int
relay_start(struct conn *c, struct relay_end *end)
{
	if (layer_switch(c, end) == -1)
		return -1;
	c->state = CS_RELAY;
	c->last_active_ms = worker_now_us(c->r->w) / 1000;
	if (c->idle_ms > 0) {
		struct timeval tv = { c->idle_ms / 1000, (c->idle_ms % 1000) * 1000 };
		evtimer_add(c->timer, &tv);
	} else {
		evtimer_del(c->timer);
	}
	/* The peer's first records may have arrived with the handshake. */
	c->up.wants = WANT_PLAIN_RD;
	c->down.wants = WANT_TLS_RD;
	return relay_run(c, WANT_PLAIN_RD | WANT_TLS_RD, end);
}

int
relay_on_timer(struct conn *c, struct relay_end *end)
{
	uint64_t idle = worker_now_us(c->r->w) / 1000 - c->last_active_ms;
	uint64_t left;
	struct timeval tv;

	if (idle >= c->idle_ms)
		return end_with(end, "idle_timeout", NULL);
	/* Progress re-arms nothing on the data path; the timer catches up. */
	left = c->idle_ms - idle;
	tv.tv_sec = (time_t)(left / 1000);
	tv.tv_usec = (suseconds_t)((left % 1000) * 1000);
	evtimer_add(c->timer, &tv);
	return 0;
}

void
relay_release(struct conn *c)
{
	bufpool_put(&c->r->pool, c->up.b.data);
	bufpool_put(&c->r->pool, c->down.b.data);
	c->up.b.data = c->down.b.data = NULL;
	/* A pipe still holding bytes is closed, not reused. */
	pipepool_put(&c->r->w->pipes, c->up.b.pipe, c->up.b.in_pipe == 0);
	pipepool_put(&c->r->w->pipes, c->down.b.pipe, c->down.b.in_pipe == 0);
}
