/*
 * relay_own.c: the data path on mtlsd's own record layer (tls/tls_rec.c),
 * where no byte is copied in user space in steady state.
 *
 *   up   (plain -> TLS): the direction buffer is cut into record slots of
 *        header + 16 KiB + tag.  One readv() puts the plaintext where the
 *        records' payloads go; each is sealed in place.  Full records fill
 *        their slots exactly, so the sealed records lie back to back and
 *        leave in one send().
 *   down (TLS -> plain): one recv() takes as much ciphertext as the buffer
 *        holds, several records at a time; each complete record is opened
 *        in place, and the plaintexts leave in one sendmsg() whose iovecs
 *        skip the headers and tags.  Only a partial record at the end of
 *        the buffer is ever moved (to its front).
 *
 * An opened record keeps, in its own 5 header bytes (no longer needed),
 * where its plaintext is: record length (2 bytes), plaintext length (2)
 * and the plaintext's offset in the record (1).
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "proxy/conn.h"
#include "proxy/relay.h"
#include "proxy/relay_int.h"
#include "proxy/worker.h"
#include "tls/tls.h"

/* Most records one readv() fills, and one sendmsg() sends. */
#define SLOTS_MAX	64
#define IOV_MAX_SEND	64

static void
opened_put(unsigned char *rec, size_t rec_len, size_t data_len, size_t data_off)
{
	rec[0] = (unsigned char)(rec_len >> 8);
	rec[1] = (unsigned char)rec_len;
	rec[2] = (unsigned char)(data_len >> 8);
	rec[3] = (unsigned char)data_len;
	rec[4] = (unsigned char)data_off;
}

static size_t
opened_rec_len(const unsigned char *rec)
{
	return (size_t)rec[0] << 8 | rec[1];
}

static size_t
opened_data_len(const unsigned char *rec)
{
	return (size_t)rec[2] << 8 | rec[3];
}

int
relay_up_own(struct conn *c)
{
	struct dir *d = &c->up;
	size_t cap = c->r->pool.size, pre, post, slot, nslots, use;
	bool maybe_more = true;	/* a short read means the socket is empty */
	struct iovec iov[SLOTS_MAX];
	ssize_t n;

	d->wants = 0;
	tls_rec_frame(c->tls, &pre, &post);
	slot = pre + TLS_REC_PAYLOAD_MAX + post;
	nslots = cap / slot < SLOTS_MAX ? cap / slot : SLOTS_MAX;
	for (;;) {
		if (d->off < d->len) {
			n = tls_rec_send(c->tls, d->buf + d->off, d->len - d->off);
			if (n > 0) {
				d->off += (size_t)n;
				if (d->off == d->len)
					d->off = d->len = 0;
				continue;
			}
			if (n == TLS_WANT_WRITE) {
				d->wants = WANT_TLS_WR;
				break;
			}
			return relay_fail_tls(c);
		}
		/* Every sealed byte is out: our control records (KeyUpdate)
		 * go now, before any record under the next key. */
		n = tls_rec_tx_ready(c->tls);
		if (n == TLS_WANT_WRITE) {
			d->wants = WANT_TLS_WR;
			break;
		}
		if (n != TLS_OK && tls_rec_tx_exhausted(c->tls))
			return relay_key_limit(c);
		if (n != TLS_OK)
			return relay_fail_tls(c);
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
		/* No more records than the key may still seal. */
		use = nslots < tls_rec_tx_room(c->tls) ? nslots : tls_rec_tx_room(c->tls);
		for (size_t i = 0; i < use; i++) {
			iov[i].iov_base = d->buf + i * slot + pre;
			iov[i].iov_len = TLS_REC_PAYLOAD_MAX;
		}
		n = readv(c->plain_fd, iov, (int)use);
		if (n > 0) {
			size_t left = (size_t)n;
			maybe_more = left == use * TLS_REC_PAYLOAD_MAX;
			for (size_t i = 0; left > 0; i++) {
				size_t len = left < TLS_REC_PAYLOAD_MAX ? left : TLS_REC_PAYLOAD_MAX;
				ssize_t r = tls_rec_seal(c->tls, d->buf + i * slot + pre, len);
				if (r < 0)
					return relay_fail_tls(c);
				d->len += (size_t)r;
				d->bytes += len;
				left -= len;
			}
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

/* Sends the opened plaintexts in [off, mark): 1 on progress, 0 when the
 * socket is full, -1 when c was freed. */
static int
send_opened(struct conn *c, struct dir *d)
{
	struct iovec iov[IOV_MAX_SEND];
	size_t at = d->off, part = d->part;
	int niov = 0;
	ssize_t n;

	while (at < d->mark && niov < IOV_MAX_SEND) {
		unsigned char *rec = d->buf + at;
		size_t dl = opened_data_len(rec);
		if (dl > part) {
			iov[niov].iov_base = rec + rec[4] + part;
			iov[niov].iov_len = dl - part;
			niov++;
		}
		part = 0;
		at += opened_rec_len(rec);
	}
	if (niov == 0) {
		d->off = at;	/* only records without data */
		d->part = 0;
		return 1;
	}
	do
		n = sendmsg(c->plain_fd, &(struct msghdr){ .msg_iov = iov,
		    .msg_iovlen = (size_t)niov }, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (n == -1 && errno == EINTR);
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return 0;
	if (n <= 0)
		return relay_fail_io(c, false, n == 0 ? EPIPE : errno);
	d->bytes += (uint64_t)n;
	/* Step over what went, record by record. */
	while (d->off < d->mark) {
		unsigned char *rec = d->buf + d->off;
		size_t left = opened_data_len(rec) - d->part;
		if ((size_t)n < left) {
			d->part += (size_t)n;
			break;
		}
		n -= (ssize_t)left;
		d->off += opened_rec_len(rec);
		d->part = 0;
		if (n == 0 && d->off < d->mark && opened_data_len(d->buf + d->off) > 0)
			break;
	}
	return 1;
}

/* Opens the complete records in [mark, len).  Returns 0, or -1 when c
 * was freed. */
static int
open_records(struct conn *c, struct dir *d)
{
	while (!d->eof && d->mark < d->len) {
		unsigned char *rec = d->buf + d->mark, *data;
		size_t rec_len = 0;
		ssize_t n = tls_rec_open(c->tls, rec, d->len - d->mark, &rec_len, &data);
		if (n == TLS_WANT_READ)
			break;
		if (n == TLS_EOF) {
			/* close_notify: whatever follows it is ignored. */
			d->eof = true;
			d->len = d->mark;
			break;
		}
		if (n < 0)
			return relay_fail_tls(c);
		opened_put(rec, rec_len, (size_t)n, (size_t)(data - rec));
		d->mark += rec_len;
	}
	return 0;
}

int
relay_down_own(struct conn *c)
{
	struct dir *d = &c->down;
	size_t cap = c->r->pool.size;
	ssize_t n;
	int r;

	d->wants = 0;
	for (;;) {
		if (d->off < d->mark) {
			if ((r = send_opened(c, d)) == -1)
				return -1;
			if (r == 0) {
				d->wants |= WANT_PLAIN_WR;
				break;
			}
			continue;
		}
		/* All sent: a partial record moves to the front. */
		if (d->mark > 0) {
			memmove(d->buf, d->buf + d->mark, d->len - d->mark);
			d->len -= d->mark;
			d->off = d->mark = 0;
		}
		if (d->eof) {
			if (!d->shut) {
				(void)shutdown(c->plain_fd, SHUT_WR);
				d->shut = true;
			}
			break;
		}
		if (relay_dir_hold(c, d) == -1)
			return -1;
		n = tls_rec_recv(c->tls, d->buf + d->len, cap - d->len);
		if (n > 0) {
			d->len += (size_t)n;
			if (open_records(c, d) == -1)
				return -1;
			if (d->mark == 0 && !d->eof) {
				/* Only part of a record, and a short read: the
				 * socket is empty (the buffer holds the largest
				 * record: RELAY_OWN_MIN_BUFFER). */
				d->wants |= WANT_TLS_RD;
				break;
			}
			continue;
		}
		if (n == TLS_WANT_READ) {
			d->wants |= WANT_TLS_RD;
			break;
		}
		if (n == TLS_EOF) {
			d->eof = true;		/* truncated: tls_conn_truncated() */
			d->len = d->mark;
			continue;
		}
		return relay_fail_tls(c);
	}
	relay_dir_release_if_empty(c, d);
	/* The peer asked for a KeyUpdate: the up direction answers it. */
	if (tls_rec_tx_pending(c->tls))
		c->up.wants |= WANT_TLS_WR;
	return 0;
}
