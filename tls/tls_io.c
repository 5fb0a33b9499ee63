/*
 * tls_io.c: the relay's record operations, whichever layer carries the
 * records (tls.h, "Record operations"): the choice of layer after the
 * handshake, the window in which RX still waits in mbedTLS, and the
 * operations on mbedTLS's own record layer.  mtlsd's own layer's are in
 * tls_rec_io.c, the kernel's in tls_ktls.c; this file dispatches.
 *
 * mbedTLS's layer makes one user-space copy per direction, as its API
 * requires: plaintext is received into the proxy's buffer and
 * mbedtls_ssl_write() copies it into its record; mbedtls_ssl_read()
 * decrypts from its record buffer into the proxy's.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "tls/tls_int.h"

/* mbedTLS writes at most one record per call; its plaintext limit. */
#define MBEDTLS_RECORD_MAX 16384

/* A record at least this long is full: TLS 1.3 records from mbedTLS carry
 * 16383 bytes (its 16 KiB buffer also holds the inner content type). */
#define MBEDTLS_RECORD_FULL (MBEDTLS_RECORD_MAX - 1)

/* recv() from the plain side: > 0, 0 at EOF, TLS_WANT_READ, TLS_ERR_PLAIN. */
static ssize_t
plain_recv(int fd, void *p, size_t len, size_t *got)
{
	ssize_t n;

	do
		n = recv(fd, p, len, MSG_DONTWAIT);
	while (n == -1 && errno == EINTR);
	if (n > 0) {
		*got = (size_t)n;
		return n;
	}
	if (n == 0)
		return 0;
	return errno == EAGAIN || errno == EWOULDBLOCK ? TLS_WANT_READ : TLS_ERR_PLAIN;
}

/* A key at its record limit on a layer that cannot change it. */
int
tls_io_key_exhausted(struct tls_conn *c)
{
	c->end_reason = "key_limit";
	c->fail = TLS_FAIL_INTERNAL;
	snprintf(c->detail, sizeof(c->detail), "key_update_records reached on a "
	    "record layer that cannot change keys");
	return TLS_ERR;
}

/* ---- mbedTLS's layer --------------------------------------------------- */

static int
mbed_up_send(struct tls_conn *c, struct tls_buf *b, uint64_t *delivered)
{
	while (b->off < b->len) {
		size_t chunk = b->len - b->off;
		ssize_t n;

		if (c->tx_record_limit != 0 && c->tx_records >= c->tx_record_limit)
			return tls_io_key_exhausted(c);
		if (chunk > MBEDTLS_RECORD_MAX)
			chunk = MBEDTLS_RECORD_MAX;
		/* After WANT_* the retry repeats this exact call (mbedTLS's
		 * rule): off and len only move on success. */
		n = tls_conn_write(c, b->data + b->off, chunk);
		if (n <= 0)
			return (int)n;
		c->tx_records++;	/* one record per write */
		b->off += (size_t)n;
		*delivered += (uint64_t)n;
	}
	b->off = b->len = 0;
	return TLS_OK;
}

static ssize_t
mbed_up_fill(struct tls_buf *b, int plain_fd, unsigned *flags)
{
	size_t got = 0;
	ssize_t n = plain_recv(plain_fd, b->data + b->len, b->cap - b->len, &got);

	if (n > 0) {
		*flags = got == b->cap - b->len ? TLS_IO_MORE : 0;
		b->len += got;
	}
	return n;
}

/* Decrypts as many records as fit.  Reading on until WANT_READ also
 * empties what mbedTLS holds, for which no socket event would come. */
static ssize_t
mbed_down_fill(struct tls_conn *c, struct tls_buf *b, unsigned *flags)
{
	size_t total = 0;
	ssize_t n;

	*flags = TLS_IO_MORE;
	for (;;) {
		if (b->len == b->cap)
			return (ssize_t)total;
		n = tls_conn_read(c, b->data + b->len, b->cap - b->len);
		if (n <= 0)
			break;
		b->len += (size_t)n;
		total += (size_t)n;
		/* A short record with nothing behind it in mbedTLS ends a
		 * message: send it now rather than spend a recv() learning the
		 * socket is empty (the event is level-triggered). */
		if (n < MBEDTLS_RECORD_FULL && !tls_conn_pending(c)) {
			*flags = 0;
			return (ssize_t)total;
		}
	}
	switch (n) {
	case TLS_EOF:
		*flags = TLS_IO_EOF;
		return (ssize_t)total;
	case TLS_WANT_READ:
		*flags = 0;
		return total > 0 ? (ssize_t)total : TLS_WANT_READ;
	case TLS_WANT_WRITE:
		return total > 0 ? (ssize_t)total : TLS_WANT_WRITE;
	default:
		return TLS_ERR;
	}
}

static ssize_t
mbed_down_send(struct tls_buf *b, int plain_fd)
{
	ssize_t n;

	if (b->off == b->len)
		return 0;
	do
		n = send(plain_fd, b->data + b->off, b->len - b->off,
		    MSG_NOSIGNAL | MSG_DONTWAIT);
	while (n == -1 && errno == EINTR);
	if (n > 0) {
		b->off += (size_t)n;
		if (b->off == b->len)
			b->off = b->len = 0;
		return n;
	}
	return n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK) ?
	    TLS_WANT_WRITE : TLS_ERR_PLAIN;
}

/* ---- the operations, by layer ----------------------------------------- */

bool
tls_io_uses_pipe(const struct tls_conn *c, bool up)
{
	return (up ? c->tx_layer : c->rx_layer) == TLS_LAYER_KERNEL;
}

bool
tls_buf_idle(const struct tls_buf *b)
{
	return b->len == 0 && b->in_pipe == 0;
}

int
tls_up_send(struct tls_conn *c, struct tls_buf *b, uint64_t *delivered)
{
	switch (c->tx_layer) {
	case TLS_LAYER_OWN:
		return tls_rec_up_send(c, b);
	case TLS_LAYER_KERNEL:
		return tls_ktls_up_send(c, b, delivered);
	case TLS_LAYER_MBEDTLS:
		break;
	}
	return mbed_up_send(c, b, delivered);
}

int
tls_up_ready(struct tls_conn *c)
{
	switch (c->tx_layer) {
	case TLS_LAYER_OWN:
		return tls_rec_tx_ready(c);
	case TLS_LAYER_KERNEL:
		return TLS_OK;
	case TLS_LAYER_MBEDTLS:
		break;
	}
	/* A read left bytes unsent (see tls_conn_spilled): they go first. */
	return tls_conn_flush(c);
}

bool
tls_up_pending(const struct tls_conn *c)
{
	if (c->tx_layer == TLS_LAYER_OWN)
		return tls_rec_tx_pending(c);
	return c->tx_layer == TLS_LAYER_MBEDTLS && tls_conn_spilled(c);
}

ssize_t
tls_up_fill(struct tls_conn *c, struct tls_buf *b, int plain_fd, uint64_t *delivered,
    unsigned *flags)
{
	*flags = 0;
	switch (c->tx_layer) {
	case TLS_LAYER_OWN:
		return tls_rec_up_fill(c, b, plain_fd, delivered, flags);
	case TLS_LAYER_KERNEL:
		return tls_ktls_up_fill(b, plain_fd, flags);
	case TLS_LAYER_MBEDTLS:
		break;
	}
	return mbed_up_fill(b, plain_fd, flags);
}

int
tls_up_close(struct tls_conn *c)
{
	int n = tls_conn_close_notify(c);

	if (n == TLS_OK)
		(void)shutdown(c->fd, SHUT_WR);
	return n;
}

ssize_t
tls_down_fill(struct tls_conn *c, struct tls_buf *b, unsigned *flags)
{
	*flags = 0;
	switch (c->rx_layer) {
	case TLS_LAYER_OWN:
		return tls_rec_down_fill(c, b, flags);
	case TLS_LAYER_KERNEL:
		return tls_ktls_down_fill(c, b, flags);
	case TLS_LAYER_MBEDTLS:
		break;
	}
	return mbed_down_fill(c, b, flags);
}

ssize_t
tls_down_send(struct tls_conn *c, struct tls_buf *b, int plain_fd)
{
	switch (c->rx_layer) {
	case TLS_LAYER_OWN:
		return tls_rec_down_send(b, plain_fd);
	case TLS_LAYER_KERNEL:
		return tls_ktls_down_send(b, plain_fd);
	case TLS_LAYER_MBEDTLS:
		break;
	}
	return mbed_down_send(b, plain_fd);
}

const char *
tls_conn_end_reason(const struct tls_conn *c)
{
	return c->end_reason;
}

/* ---- the switch --------------------------------------------------------- */

/* RX follows TX to layer, now.  0, or TLS_ERR (TX is gone already: the
 * connection must close). */
static int
rx_switch(struct tls_conn *c, enum tls_layer layer)
{
	const char *why;

	if ((layer == TLS_LAYER_KERNEL ? tls_ktls_start_rx(c, &why) :
	    tls_rec_start_rx(c, &why)) == 0) {
		c->rx_next = TLS_LAYER_MBEDTLS;
		return 0;
	}
	c->end_reason = layer == TLS_LAYER_KERNEL ? "ktls_failed" : NULL;
	c->fail = TLS_FAIL_INTERNAL;
	snprintf(c->detail, sizeof(c->detail), "%s", why);
	return TLS_ERR;
}

int
tls_conn_switch(struct tls_conn *c, struct tls_switch *s)
{
	enum tls_layer took = TLS_LAYER_MBEDTLS;

	s->kernel_why = s->own_why = NULL;
	/* Nothing changed yet if TX fails (a ChaCha20 suite the kernel lacks,
	 * or a peer that already sent its FIN, which the kernel's TLS layer
	 * refuses): the connection goes on with the next layer. */
	if (s->kernel && tls_ktls_available()) {
		if (tls_ktls_start_tx(c, &s->kernel_why) == 0)
			took = TLS_LAYER_KERNEL;
	}
	if (took == TLS_LAYER_MBEDTLS && s->own) {
		if (s->buf_cap < TLS_OWN_MIN_BUFFER)
			s->own_why = "buffer_size is below 18437 bytes, the largest record";
		else if (tls_rec_start_tx(c, &s->own_why) == 0)
			took = TLS_LAYER_OWN;
	}
	/* Layers that cannot change keys stop an AES-GCM key at the limit. */
	if (took != TLS_LAYER_OWN && strstr(tls_conn_cipher(c), "GCM") != NULL)
		c->tx_record_limit = c->key_limit;
	if (took == TLS_LAYER_MBEDTLS) {
		/* For good on mbedTLS's layer: small records in one recv() each. */
		if (tls_conn_read_ahead(c) == -1) {
			c->fail = TLS_FAIL_INTERNAL;
			snprintf(c->detail, sizeof(c->detail), "no read-ahead buffer");
			return TLS_ERR;
		}
		return 0;
	}
	/* A resuming client keeps RX in mbedTLS until the server's first
	 * record, which is its ticket when it sends one: mbedTLS must read
	 * that, a faster layer could only drop it.  So does a connection
	 * whose tunnel header shared a record with data still inside mbedTLS. */
	if (s->rx_waits || tls_conn_pending(c)) {
		c->rx_next = took;
		return 0;
	}
	return rx_switch(c, took);
}

int
tls_conn_rx_settle(struct tls_conn *c, const struct tls_buf *down, bool down_eof)
{
	if (c->rx_next == TLS_LAYER_MBEDTLS || c->records_read == 0 ||
	    !tls_buf_idle(down) || down_eof || !tls_conn_rx_ready(c))
		return 0;
	return rx_switch(c, c->rx_next) == 0 ? 1 : TLS_ERR;
}
