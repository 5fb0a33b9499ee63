/*
 * tls_rec_io.c: the relay's record operations on mtlsd's own layer
 * (tls_rec.c), where no byte is copied in user space in steady state.
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
 * The buffer (struct tls_buf): up, [off, len) are sealed bytes not yet
 * sent.  Down, [off, mark) are opened records, the first `part` bytes of
 * the first one's plaintext already sent, and [mark, len) ciphertext not
 * yet opened.  An opened record keeps, in its own 5 header bytes (no
 * longer needed), where its plaintext is: record length (2 bytes),
 * plaintext length (2) and the plaintext's offset in the record (1).
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "tls/tls_int.h"

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
tls_rec_up_send(struct tls_conn *c, struct tls_buf *b)
{
	while (b->off < b->len) {
		ssize_t n = tls_rec_send(c, b->data + b->off, b->len - b->off);
		if (n <= 0)
			return (int)n;
		b->off += (size_t)n;
	}
	b->off = b->len = 0;
	return TLS_OK;
}

ssize_t
tls_rec_up_fill(struct tls_conn *c, struct tls_buf *b, int plain_fd,
    uint64_t *delivered, unsigned *flags)
{
	struct iovec iov[SLOTS_MAX];
	size_t pre, post, slot, nslots, room, left;
	ssize_t n;

	tls_rec_frame(c, &pre, &post);
	slot = pre + TLS_REC_PAYLOAD_MAX + post;
	nslots = b->cap / slot < SLOTS_MAX ? b->cap / slot : SLOTS_MAX;
	/* No more records than the key may still seal. */
	room = tls_rec_tx_room(c);
	if (nslots > room)
		nslots = room;
	for (size_t i = 0; i < nslots; i++) {
		iov[i].iov_base = b->data + i * slot + pre;
		iov[i].iov_len = TLS_REC_PAYLOAD_MAX;
	}
	do
		n = readv(plain_fd, iov, (int)nslots);
	while (n == -1 && errno == EINTR);
	if (n == 0)
		return 0;
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? TLS_WANT_READ :
		    TLS_ERR_PLAIN;
	left = (size_t)n;
	*flags = left == nslots * TLS_REC_PAYLOAD_MAX ? TLS_IO_MORE : 0;
	for (size_t i = 0; left > 0; i++) {
		size_t len = left < TLS_REC_PAYLOAD_MAX ? left : TLS_REC_PAYLOAD_MAX;
		ssize_t r = tls_rec_seal(c, b->data + i * slot + pre, len);
		if (r < 0)
			return TLS_ERR;
		b->len += (size_t)r;
		*delivered += len;
		left -= len;
	}
	return n;
}

/* Every opened record was sent: a partial record moves to the front. */
static void
compact(struct tls_buf *b)
{
	if (b->off < b->mark || b->mark == 0)
		return;
	memmove(b->data, b->data + b->mark, b->len - b->mark);
	b->len -= b->mark;
	b->off = b->mark = b->part = 0;
}

ssize_t
tls_rec_down_send(struct tls_buf *b, int plain_fd)
{
	struct iovec iov[IOV_MAX_SEND];
	size_t at = b->off, part = b->part;
	int niov = 0;
	ssize_t n, sent;

	while (at < b->mark && niov < IOV_MAX_SEND) {
		unsigned char *rec = b->data + at;
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
		b->off = at;	/* only records without data */
		b->part = 0;
		compact(b);
		return 0;
	}
	do
		n = sendmsg(plain_fd, &(struct msghdr){ .msg_iov = iov,
		    .msg_iovlen = (size_t)niov }, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (n == -1 && errno == EINTR);
	if (n == -1)
		return errno == EAGAIN || errno == EWOULDBLOCK ? TLS_WANT_WRITE :
		    TLS_ERR_PLAIN;
	/* Step over what went, record by record. */
	sent = n;
	while (b->off < b->mark) {
		unsigned char *rec = b->data + b->off;
		size_t left = opened_data_len(rec) - b->part;
		if ((size_t)n < left) {
			b->part += (size_t)n;
			break;
		}
		n -= (ssize_t)left;
		b->off += opened_rec_len(rec);
		b->part = 0;
		if (n == 0 && b->off < b->mark && opened_data_len(b->data + b->off) > 0)
			break;
	}
	compact(b);
	return sent;
}

/* Opens the complete records in [mark, len).  Returns the plaintext bytes
 * they hold, or TLS_ERR; sets TLS_IO_EOF at close_notify. */
static ssize_t
open_records(struct tls_conn *c, struct tls_buf *b, unsigned *flags)
{
	size_t total = 0;

	while (b->mark < b->len) {
		unsigned char *rec = b->data + b->mark, *data;
		size_t rec_len = 0;
		ssize_t n = tls_rec_open(c, rec, b->len - b->mark, &rec_len, &data);
		if (n == TLS_WANT_READ)
			break;
		if (n == TLS_EOF) {
			/* close_notify: whatever follows it is ignored. */
			*flags |= TLS_IO_EOF;
			b->len = b->mark;
			break;
		}
		if (n < 0)
			return TLS_ERR;
		opened_put(rec, rec_len, (size_t)n, (size_t)(data - rec));
		b->mark += rec_len;
		total += (size_t)n;
	}
	return (ssize_t)total;
}

ssize_t
tls_rec_down_fill(struct tls_conn *c, struct tls_buf *b, unsigned *flags)
{
	ssize_t n = tls_rec_recv(c, b->data + b->len, b->cap - b->len), got;
	size_t asked = b->cap - b->len;

	if (n == TLS_EOF) {
		b->len = b->mark;	/* a partial record is dropped */
		*flags = TLS_IO_EOF;	/* truncated: tls_conn_truncated() */
		return 0;
	}
	if (n < 0)
		return n;
	b->len += (size_t)n;
	if ((got = open_records(c, b, flags)) < 0)
		return TLS_ERR;
	/* A short read emptied the socket; a full one may have left more.
	 * The buffer holds the largest record (TLS_OWN_MIN_BUFFER), so a
	 * full read always completes one. */
	if ((size_t)n == asked && !(*flags & TLS_IO_EOF))
		*flags |= TLS_IO_MORE;
	/* Records that carried nothing for the app (a ticket, a KeyUpdate)
	 * still count as progress: call again. */
	if (got == 0 && b->mark > 0 && !(*flags & TLS_IO_EOF))
		*flags |= TLS_IO_MORE;
	return got;
}
