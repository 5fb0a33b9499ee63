/*
 * relay.c: moving bytes between the plain and the TLS socket (see relay.h):
 * the choice of record layer at the start, mbedTLS's pumps, the kernel's
 * splice() pumps, and what all of them share.  mtlsd's own layer's pumps
 * are relay_own.c's.
 *
 * Syscalls per 16 KiB record on mbedTLS's layer, steady state: up, one
 * send() per record plus a quarter of a recv() (a 64 KiB buffer feeds four
 * records); down, mbedTLS's two recv()s (header, body) plus a quarter of a
 * send().  A small record (up to about 2 KiB) costs one recv(): mbedTLS
 * connections read ahead.  The fds' events are persistent and change only
 * when a direction starts or stops waiting, so a streaming connection
 * makes no epoll_ctl calls.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <event2/event.h>

#include "proxy/conn.h"
#include "proxy/log.h"
#include "proxy/relay.h"
#include "proxy/relay_int.h"
#include "proxy/worker.h"
#include "tls/tls.h"

/* mbedTLS writes at most one record per call; its plaintext limit. */
#define TLS_RECORD_MAX 16384

/* A record at least this long is full: TLS 1.3 records from mbedTLS carry
 * 16383 bytes (its 16 KiB buffer also holds the inner content type). */
#define TLS_RECORD_FULL (TLS_RECORD_MAX - 1)

/* "client" is the accepted side, "upstream" the side mtlsd connected. */
static const char *
side_name(const struct conn *c, bool tls_side)
{
	return c->server == tls_side ? "client" : "upstream";
}

/* A socket error on one side: <side>_reset or <side>_error.  On a kernel
 * TLS socket, EBADMSG is a record that failed authentication. */
int
relay_fail_io(struct conn *c, bool tls_side, int err)
{
	char reason[32];

	if (tls_side && err == EBADMSG) {
		conn_free(c, "tls_error", "a record failed authentication");
		return -1;
	}
	snprintf(reason, sizeof(reason), "%s_%s", side_name(c, tls_side),
	    err == ECONNRESET || err == EPIPE ? "reset" : "error");
	conn_free(c, reason, strerror(err));
	return -1;
}

/* tls/ reported an error: a reset is the side's, the rest is TLS's. */
int
relay_fail_tls(struct conn *c)
{
	char reason[32];

	if (tls_conn_fail(c->tls) == TLS_FAIL_RESET)
		snprintf(reason, sizeof(reason), "%s_reset", side_name(c, true));
	else
		snprintf(reason, sizeof(reason), "tls_error");
	conn_free(c, reason, tls_conn_fail_detail(c->tls));
	return -1;
}

int
relay_dir_hold(struct conn *c, struct dir *d)
{
	if (d->buf != NULL)
		return 0;
	if ((d->buf = bufpool_get(&c->r->pool)) == NULL) {
		conn_free(c, "out_of_memory", "no buffer for the relay");
		return -1;
	}
	return 0;
}

/* An empty direction gives its buffer back: idle connections hold none. */
void
relay_dir_release_if_empty(struct conn *c, struct dir *d)
{
	if (d->buf != NULL && d->off == d->len) {
		bufpool_put(&c->r->pool, d->buf);
		d->buf = NULL;
		d->off = d->len = d->mark = d->part = 0;
	}
}

int
relay_close_notify(struct conn *c, struct dir *d)
{
	int n = tls_conn_close_notify(c->tls);

	if (n == TLS_WANT_WRITE || n == TLS_WANT_READ) {
		d->wants = n == TLS_WANT_WRITE ? WANT_TLS_WR : WANT_TLS_RD;
		return 0;
	}
	if (n != TLS_OK)
		return relay_fail_tls(c);
	(void)shutdown(c->tls_fd, SHUT_WR);
	d->shut = true;
	return 0;
}

/* plain -> TLS.  Returns 0, or -1 when c was freed. */
static int
pump_up(struct conn *c)
{
	struct dir *d = &c->up;
	size_t cap = c->r->pool.size;
	bool maybe_more = true;	/* a short recv() means the socket is empty */
	ssize_t n;

	d->wants = 0;
	/* A read left bytes unsent (see tls_conn_spilled): they go first. */
	n = tls_conn_flush(c->tls);
	if (n == TLS_WANT_WRITE) {
		d->wants = WANT_TLS_WR;
		return 0;
	}
	if (n != TLS_OK)
		return relay_fail_tls(c);
	for (;;) {
		if (d->off < d->len) {
			size_t chunk = d->len - d->off;
			if (chunk > TLS_RECORD_MAX)
				chunk = TLS_RECORD_MAX;
			/* After WANT_* the retry repeats this exact call
			 * (STYLE rule 19): off and len only move on success. */
			n = tls_conn_write(c->tls, d->buf + d->off, chunk);
			if (n > 0) {
				c->tx_records++;	/* one record per write */
				d->off += (size_t)n;
				d->bytes += (uint64_t)n;
				if (d->off == d->len)
					d->off = d->len = 0;
				continue;
			}
			if (n == TLS_WANT_WRITE)
				d->wants = WANT_TLS_WR;
			else if (n == TLS_WANT_READ)
				d->wants = WANT_TLS_RD;
			else
				return relay_fail_tls(c);
			break;
		}
		if (d->eof) {
			if (!d->shut && relay_close_notify(c, d) == -1)
				return -1;
			break;
		}
		if (!maybe_more) {
			d->wants = WANT_PLAIN_RD;
			break;
		}
		if (relay_dir_hold(c, d) == -1)
			return -1;
		n = recv(c->plain_fd, d->buf + d->len, cap - d->len, 0);
		if (n > 0) {
			maybe_more = (size_t)n == cap - d->len;
			d->len += (size_t)n;
		} else if (n == 0) {
			d->eof = true;
		} else if (errno == EAGAIN || errno == EWOULDBLOCK) {
			d->wants = WANT_PLAIN_RD;
			break;
		} else if (errno != EINTR) {
			return relay_fail_io(c, false, errno);
		}
	}
	relay_dir_release_if_empty(c, d);
	return 0;
}

/* TLS -> plain.  Returns 0, or -1 when c was freed. */
static int
pump_down(struct conn *c)
{
	struct dir *d = &c->down;
	size_t cap = c->r->pool.size;
	bool tls_dry = false;	/* mbedTLS said WANT_READ: it holds nothing */
	ssize_t n;

	d->wants = 0;
	for (;;) {
		/* Decrypt as many records as fit, then send them in one go.
		 * Reading on until WANT_READ also empties what mbedTLS holds,
		 * for which no socket event would come (STYLE rule 18). */
		while (!d->eof && !tls_dry && d->len < cap) {
			if (relay_dir_hold(c, d) == -1)
				return -1;
			n = tls_conn_read(c->tls, d->buf + d->len, cap - d->len);
			if (n > 0) {
				d->len += (size_t)n;
				/* A short record with nothing behind it in mbedTLS
				 * ends a message: send it now rather than spend a
				 * recv() learning the socket is empty (the event is
				 * level-triggered: more bytes will still wake us). */
				if (n < TLS_RECORD_FULL && !tls_conn_pending(c->tls)) {
					tls_dry = true;
					d->wants |= WANT_TLS_RD;
				}
			} else if (n == TLS_WANT_READ) {
				tls_dry = true;
				d->wants |= WANT_TLS_RD;
			} else if (n == TLS_WANT_WRITE) {
				d->wants |= WANT_TLS_WR;
				break;
			} else if (n == TLS_EOF) {
				d->eof = true;
			} else {
				return relay_fail_tls(c);
			}
		}
		if (d->off < d->len) {
			n = send(c->plain_fd, d->buf + d->off, d->len - d->off, MSG_NOSIGNAL);
			if (n > 0) {
				d->off += (size_t)n;
				d->bytes += (uint64_t)n;
				if (d->off == d->len)
					d->off = d->len = 0;
				continue;
			}
			if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
				d->wants |= WANT_PLAIN_WR;
				break;
			}
			if (n == -1 && errno == EINTR)
				continue;
			return relay_fail_io(c, false, errno);
		}
		if (d->eof && !d->shut) {
			(void)shutdown(c->plain_fd, SHUT_WR);
			d->shut = true;
		}
		break;
	}
	relay_dir_release_if_empty(c, d);
	return 0;
}


/* Largest batch one splice() moves into a pipe. */
#define SPLICE_CHUNK (256 * 1024)

/*
 * A non-data record is next on the kernel-TLS socket (splice() said EINVAL):
 * read it whole.  Returns 0 to go on, or -1 when c was freed.
 */
static int
ktls_control(struct conn *c, struct dir *d)
{
	unsigned char rec[16384 + 256];
	ssize_t n = tls_ktls_recv(c->tls, rec, sizeof(rec));
	struct iovec iov = { rec, (size_t)n };

	if (n == TLS_RETRY || n == TLS_WANT_READ)
		return 0;
	if (n == TLS_EOF) {
		d->eof = true;
		return 0;
	}
	if (n < 0)
		return relay_fail_tls(c);
	/* Data after all: into the (empty) pipe, then on as usual. */
	if (vmsplice(d->pipe[1], &iov, 1, 0) != n) {
		conn_free(c, "internal_error", "vmsplice");
		return -1;
	}
	d->in_pipe += (size_t)n;
	return 0;
}

/*
 * One direction of a kernel-TLS connection: src -> pipe -> dst with
 * splice(); the kernel encrypts on the way into the TLS socket and decrypts
 * on the way out of it.  Returns 0, or -1 when c was freed.
 */
static int
pump_splice(struct conn *c, struct dir *d, bool up)
{
	struct pipepool *pool = &c->r->w->pipes;
	int src = up ? c->plain_fd : c->tls_fd, dst = up ? c->tls_fd : c->plain_fd;
	bool maybe_more = true;	/* a short splice() means the socket is empty */
	ssize_t n;

	d->wants = 0;
	for (;;) {
		if (d->in_pipe > 0) {
			n = splice(d->pipe[0], NULL, dst, NULL, d->in_pipe,
			    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
			if (n > 0) {
				/* The kernel makes at most one record per 16 KiB
				 * of one call: an upper bound of its count. */
				if (up)
					c->tx_records += ((uint64_t)n + 16383) / 16384;
				d->in_pipe -= (size_t)n;
				d->bytes += (uint64_t)n;
				continue;
			}
			if (n == -1 && errno == EINTR)
				continue;
			if (n == -1 && errno == EAGAIN) {
				d->wants = up ? WANT_TLS_WR : WANT_PLAIN_WR;
				break;
			}
			return relay_fail_io(c, up, errno);
		}
		if (d->eof) {
			if (d->shut)
				break;
			if (up) {
				if (relay_close_notify(c, d) == -1)
					return -1;
				break;
			}
			(void)shutdown(c->plain_fd, SHUT_WR);
			d->shut = true;
			break;
		}
		if (!maybe_more) {
			d->wants = up ? WANT_PLAIN_RD : WANT_TLS_RD;
			break;
		}
		if (d->pipe[0] == -1 && pipepool_get(pool, d->pipe) == -1) {
			conn_free(c, "out_of_descriptors", strerror(errno));
			return -1;
		}
		n = splice(src, NULL, d->pipe[1], NULL, SPLICE_CHUNK,
		    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (n > 0) {
			d->in_pipe += (size_t)n;
			/* kTLS hands over one record per call: only a short one
			 * says the stream paused. */
			maybe_more = up ? n == SPLICE_CHUNK : n >= TLS_RECORD_FULL;
		} else if (n == 0) {
			/* TCP EOF.  On the TLS side a clean end is close_notify,
			 * which arrives as a control record instead. */
			if (!up)
				tls_conn_note_truncated(c->tls);
			d->eof = true;
		} else if (errno == EAGAIN) {
			d->wants = up ? WANT_PLAIN_RD : WANT_TLS_RD;
			break;
		} else if (errno == EINVAL && !up) {
			if (ktls_control(c, d) == -1)
				return -1;
		} else if (errno != EINTR) {
			return relay_fail_io(c, !up, errno);
		}
	}
	if (d->in_pipe == 0)
		pipepool_put(pool, d->pipe, 1);
	return 0;
}

/* TX has left mbedTLS already: from here on, failing means closing.
 * Returns 0, or -1 when c was freed. */
static int
switch_rx(struct conn *c)
{
	const char *why;

	if ((c->ktls ? tls_ktls_start_rx(c->tls, &why) :
	    tls_rec_start_rx(c->tls, &why)) == -1) {
		conn_free(c, c->ktls ? "ktls_failed" : "tls_error", why);
		return -1;
	}
	c->rx_pending = false;
	relay_dir_release_if_empty(c, &c->down);
	return 0;
}

/* Whether RX must stay in mbedTLS for now.  A resuming client keeps it
 * until the server's first record, which is its ticket when it sends one:
 * mbedTLS must read that, a faster layer could only drop it.  So does a
 * connection whose tunnel header shared a record with data still inside
 * mbedTLS. */
static bool
rx_waits(const struct conn *c)
{
	return (!c->server && c->r->rc->session_resumption) || tls_conn_pending(c->tls);
}

/* Kernel TLS, where the route allows it and the kernel has it.  Returns
 * 1 when the connection took it, 0 when it goes on without (nothing
 * changed), -1 when c was freed. */
static int
kernel_switch(struct conn *c)
{
	enum record_layer want = c->r->rc->record_layer;
	const char *why;

	if ((want != RECORD_LAYER_AUTO && want != RECORD_LAYER_KERNEL) ||
	    !tls_ktls_available())
		return 0;
	/* Nothing changed yet if TX fails (a ChaCha20 suite the kernel lacks,
	 * or a peer that already sent its FIN, which the kernel's TLS layer
	 * refuses): the connection goes on in user space, and says so. */
	if (tls_ktls_start_tx(c->tls, &why) == -1) {
		(want == RECORD_LAYER_KERNEL ? log_warnx : log_debug)("conn=%llu "
		    "route=%s event=ktls status=fallback path=userspace reason=\"%s\"",
		    (unsigned long long)c->id, c->r->rc->name, why);
		return 0;
	}
	c->ktls = true;
	counter_add(&c->r->stats.conns_ktls, 1);
	return 1;
}

/* mtlsd's own record layer, unless the route keeps mbedTLS's.  Returns 1
 * when the connection took it, 0 when it stays on mbedTLS's. */
static int
own_switch(struct conn *c)
{
	enum record_layer want = c->r->rc->record_layer;
	const char *why = NULL;

	if (want == RECORD_LAYER_MBEDTLS)
		return 0;
	if (c->r->pool.size < RELAY_OWN_MIN_BUFFER)
		why = "buffer_size is below 18437 bytes, the largest record";
	else if (tls_rec_start_tx(c->tls, &why) == 0)
		why = NULL;
	if (why != NULL) {
		(want == RECORD_LAYER_LIBGCRYPT ? log_warnx : log_debug)("conn=%llu "
		    "route=%s event=record_layer status=fallback layer=mbedtls "
		    "reason=\"%s\"", (unsigned long long)c->id, c->r->rc->name, why);
		return 0;
	}
	c->own = true;
	counter_add(&c->r->stats.conns_own, 1);
	return 1;
}

/* Hands the records to the kernel or to mtlsd's own layer, as the route
 * and the kernel allow.  Returns 0 (whichever layer was taken), or -1 when
 * c was freed. */
static int
layer_switch(struct conn *c)
{
	int r = kernel_switch(c);

	if (r == 0)
		r = own_switch(c);
	if (r <= 0)
		return r;
	if (rx_waits(c)) {
		c->rx_pending = true;
		return 0;
	}
	return switch_rx(c);
}

int
relay_key_limit(struct conn *c)
{
	counter_add(&c->r->stats.key_limit_closes, 1);
	conn_free(c, "key_limit", "key_update_records reached on a record "
	    "layer that cannot change keys");
	return -1;
}

/* The pumps of the layer each direction is on. */
static int
pump_up_any(struct conn *c)
{
	if (c->ktls)
		return pump_splice(c, &c->up, true);
	return c->own ? relay_up_own(c) : pump_up(c);
}

static int
pump_down_any(struct conn *c)
{
	if (c->rx_pending || (!c->ktls && !c->own))
		return pump_down(c);
	return c->ktls ? pump_splice(c, &c->down, false) : relay_down_own(c);
}

int
relay_run(struct conn *c, unsigned fired)
{
	struct route_stats *st = &c->r->stats;
	uint64_t up0 = c->up.bytes, down0 = c->down.bytes, ku;

	if ((c->up.wants & fired) && pump_up_any(c) == -1)
		return -1;
	if (c->down.wants & fired) {
		if (pump_down_any(c) == -1)
			return -1;
		/* The ticket (or the first record) is in, nothing is left in
		 * mbedTLS or in the buffer: RX leaves mbedTLS too. */
		if (c->rx_pending && tls_conn_records_read(c->tls) > 0 &&
		    c->down.off == c->down.len && !c->down.eof &&
		    tls_conn_rx_ready(c->tls)) {
			if (switch_rx(c) == -1)
				return -1;
			c->down.wants = WANT_TLS_RD;
		}
	}
	if (c->up.bytes != up0 || c->down.bytes != down0) {
		/* "in" flows from the accepted side onward. */
		uint64_t up = c->up.bytes - up0, down = c->down.bytes - down0;
		counter_add(&st->bytes_in, c->server ? down : up);	/* see conn_bytes_in() */
		counter_add(&st->bytes_out, c->server ? up : down);
		c->last_active_ms = conn_now_ms(c);
	}
	/* mbedTLS and the kernel cannot change keys: at the limit an AES-GCM
	 * connection ends rather than overrun its key (RFC 8446 5.5). */
	if (c->tx_record_limit != 0 && c->tx_records >= c->tx_record_limit)
		return relay_key_limit(c);
	if (c->own && (ku = tls_conn_key_updates(c->tls)) != c->key_updates) {
		counter_add(&st->key_updates, ku - c->key_updates);
		c->key_updates = ku;
	}
	/* Spilled bytes wait for the socket: the up pump sends them. */
	if (!c->ktls && !c->own && tls_conn_spilled(c->tls))
		c->up.wants |= WANT_TLS_WR;
	if (c->up.shut && c->down.shut) {
		conn_free(c, "eof", tls_conn_truncated(c->tls) ?
		    "peer closed TCP without close_notify" : NULL);
		return -1;
	}
	conn_update_events(c);
	return 0;
}

int
relay_start(struct conn *c)
{
	if (layer_switch(c) == -1)
		return -1;
	/* For good on mbedTLS's layer: small records in one recv() each. */
	if (!c->ktls && !c->own && tls_conn_read_ahead(c->tls) == -1) {
		conn_free(c, "out_of_memory", "no read-ahead buffer");
		return -1;
	}
	if (!c->own && strstr(tls_conn_cipher(c->tls), "GCM") != NULL)
		c->tx_record_limit = c->r->rc->key_update_records;
	c->state = CS_RELAY;
	c->last_active_ms = conn_now_ms(c);
	if (c->idle_ms > 0) {
		struct timeval tv = { c->idle_ms / 1000, (c->idle_ms % 1000) * 1000 };
		evtimer_add(c->timer, &tv);
	} else {
		evtimer_del(c->timer);
	}
	/* The peer's first records may have arrived with the handshake. */
	c->up.wants = WANT_PLAIN_RD;
	c->down.wants = WANT_TLS_RD;
	return relay_run(c, WANT_PLAIN_RD | WANT_TLS_RD);
}

int
relay_on_timer(struct conn *c)
{
	uint64_t idle = conn_now_ms(c) - c->last_active_ms;
	uint64_t left;
	struct timeval tv;

	if (idle >= c->idle_ms) {
		conn_free(c, "idle_timeout", NULL);
		return -1;
	}
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
	bufpool_put(&c->r->pool, c->up.buf);
	bufpool_put(&c->r->pool, c->down.buf);
	c->up.buf = c->down.buf = NULL;
	/* A pipe still holding bytes is closed, not reused. */
	pipepool_put(&c->r->w->pipes, c->up.pipe, c->up.in_pipe == 0);
	pipepool_put(&c->r->w->pipes, c->down.pipe, c->down.in_pipe == 0);
}
