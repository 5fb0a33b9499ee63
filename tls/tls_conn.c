/*
 * tls_conn.c: one TLS session over a non-blocking fd, driven by the proxy.
 *
 * The BIO callbacks call recv()/send() on the raw fd (house rule 17, README): mbedTLS
 * reads straight into its record buffer and writes records straight from it,
 * so the only user-space copy per direction is mbedTLS's own, between its
 * record buffer and the proxy's direction buffer.  The exception is the
 * read-ahead of small reads (see bio_recv), on user-space connections only.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <mbedtls/net_sockets.h>
#include <mbedtls/ssl_ciphersuites.h>

#include "tls/tls_int.h"

/* Read-ahead: a read shorter than this (a record's 5-byte header, a small
 * record's body) asks the socket for this much, so a message of up to about
 * 2 KiB costs one recv() instead of two (header, then body). */
#define TLS_READ_AHEAD 2048
#define TLS_HEADER_LEN 5	/* a record's type, version and length */

/* Most a spill may hold: a record and an alert, with room to spare. */
#define SPILL_MAX (2 * (MBEDTLS_SSL_OUT_CONTENT_LEN + 512))

/* Sends spilled bytes: 1 when none are left, 0 when some are, -1 on error. */
static int
send_spill(struct tls_conn *c)
{
	while (c->spill_off < c->spill_len) {
		ssize_t n = send(c->fd, c->spill + c->spill_off,
		    c->spill_len - c->spill_off, MSG_NOSIGNAL);
		if (n > 0) {
			c->spill_off += (size_t)n;
		} else if (n == -1 && errno == EINTR) {
			continue;
		} else if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			return 0;
		} else {
			return -1;
		}
	}
	free(c->spill);
	c->spill = NULL;
	c->spill_off = c->spill_len = 0;
	return 1;
}

/* Keeps what the socket would not take, so mbedTLS sees it sent. */
static int
spill(struct tls_conn *c, const unsigned char *buf, size_t len)
{
	size_t have = c->spill_len - c->spill_off;
	unsigned char *grown;

	if (have + len > SPILL_MAX || (grown = malloc(have + len)) == NULL)
		return -1;
	if (have > 0)
		memcpy(grown, c->spill + c->spill_off, have);
	memcpy(grown + have, buf, len);
	free(c->spill);
	c->spill = grown;
	c->spill_off = 0;
	c->spill_len = have + len;
	return 0;
}

/*
 * Why the spill: a TLS 1.3 ticket read after the handshake runs a
 * handshake step, and every step first flushes mbedTLS's pending output (a
 * record a write left half-sent).  If the socket is full, the read cannot
 * go on until the peer reads; the peer may be waiting for us to read: a
 * deadlock (seen: a 64 MiB echo stalled with both sides' buffers full).  So
 * while reading, what the socket will not take is kept here instead, and
 * sent, in order, before any later record.
 */
static int
bio_send(void *p, const unsigned char *buf, size_t len)
{
	struct tls_conn *c = p;
	ssize_t n;

	if (c->spill != NULL) {
		int r = send_spill(c);
		if (r == -1)
			return errno == EPIPE || errno == ECONNRESET ?
			    MBEDTLS_ERR_NET_CONN_RESET : MBEDTLS_ERR_NET_SEND_FAILED;
		if (r == 0) {
			if (c->in_read && spill(c, buf, len) == 0)
				return (int)len;
			return MBEDTLS_ERR_SSL_WANT_WRITE;
		}
	}
	do
		n = send(c->fd, buf, len, MSG_NOSIGNAL);
	while (n == -1 && errno == EINTR);
	if (n == (ssize_t)len)
		return (int)n;
	if (c->in_read && (n >= 0 || errno == EAGAIN || errno == EWOULDBLOCK)) {
		size_t sent = n > 0 ? (size_t)n : 0;
		if (spill(c, buf + sent, len - sent) == 0)
			return (int)len;
	}
	if (n >= 0)
		return (int)n;
	if (errno == EAGAIN || errno == EWOULDBLOCK)
		return MBEDTLS_ERR_SSL_WANT_WRITE;
	if (errno == EPIPE || errno == ECONNRESET)
		return MBEDTLS_ERR_NET_CONN_RESET;
	return MBEDTLS_ERR_NET_SEND_FAILED;
}

/*
 * mbedTLS reads a record in two calls: its 5-byte header, then its body.
 * With read-ahead on, a short read takes up to TLS_READ_AHEAD bytes and
 * the surplus serves the next calls, so a small record costs one recv().
 * Not in a bulk stream: after a long body read, headers are read exactly
 * again, so full records go straight into mbedTLS's buffer, uncopied,
 * until a small record's body says the stream turned to small messages.
 */
static int
bio_recv(void *p, unsigned char *buf, size_t len)
{
	struct tls_conn *c = p;
	bool ahead;
	ssize_t n;

	if (len >= TLS_READ_AHEAD)
		c->ra_bulk = true;
	else if (len > TLS_HEADER_LEN)
		c->ra_bulk = false;	/* a small record's body */
	ahead = c->ra != NULL && !c->ra_bulk && len < TLS_READ_AHEAD;

	if (c->ra_off < c->ra_len) {
		n = (ssize_t)(len < c->ra_len - c->ra_off ? len : c->ra_len - c->ra_off);
		memcpy(buf, c->ra + c->ra_off, (size_t)n);
		c->ra_off += (size_t)n;
		return (int)n;
	}
	do
		n = ahead ? recv(c->fd, c->ra, TLS_READ_AHEAD, 0) : recv(c->fd, buf, len, 0);
	while (n == -1 && errno == EINTR);
	if (n > 0 && ahead) {
		c->ra_len = (size_t)n;
		c->ra_off = len < c->ra_len ? len : c->ra_len;
		memcpy(buf, c->ra, c->ra_off);
		return (int)c->ra_off;
	}
	if (n >= 0)
		return (int)n;
	if (errno == EAGAIN || errno == EWOULDBLOCK)
		return MBEDTLS_ERR_SSL_WANT_READ;
	if (errno == ECONNRESET)
		return MBEDTLS_ERR_NET_CONN_RESET;
	return MBEDTLS_ERR_NET_RECV_FAILED;
}

/* Once TX has left mbedTLS, mbedTLS must never write to the socket. */
static int
bio_send_refused(void *p, const unsigned char *buf, size_t len)
{
	(void)p;
	(void)buf;
	(void)len;
	return MBEDTLS_ERR_SSL_INTERNAL_ERROR;
}

void
tls_conn_bio_tx_off(struct tls_conn *c)
{
	mbedtls_ssl_set_bio(&c->ssl, c, bio_send_refused, bio_recv, NULL);
}

struct tls_conn *
tls_conn_new(struct tls_ctx *ctx, int fd, const char *server_name)
{
	struct tls_conn *c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->fd = fd;
	c->ctx = ctx;
	/* Only a client checks a name: the server's re-verification must not. */
	c->server_name = ctx->role == TLS_ROLE_CLIENT ? server_name : NULL;
	tls_ctx_ref(ctx);
	mbedtls_ssl_init(&c->ssl);
	if (mbedtls_ssl_setup(&c->ssl, &ctx->conf) != 0)
		goto fail;
	/* Clients always name the server: mbedTLS 3.6 refuses to verify a
	 * certificate without a hostname, and SNI needs it anyway. */
	if (ctx->role == TLS_ROLE_CLIENT &&
	    mbedtls_ssl_set_hostname(&c->ssl, server_name) != 0)
		goto fail;
	mbedtls_ssl_set_verify(&c->ssl, tls_peer_verify, c);
	mbedtls_ssl_set_bio(&c->ssl, c, bio_send, bio_recv, NULL);
	/* For the callbacks that get only the ssl context (SNI). */
	mbedtls_ssl_set_user_data_p(&c->ssl, c);
	c->key_limit = ctx->key_limit;
	if ((ctx->want_ktls || ctx->want_own) && tls_keys_watch(c) == -1)
		goto fail;
	if (tls_ticket_offer(c) == -1)
		goto fail;
	return c;
fail:
	tls_conn_free(c);
	return NULL;
}

void
tls_conn_free(struct tls_conn *c)
{
	if (c == NULL)
		return;
	tls_keys_forget(c);
	tls_rec_free(c);
	if (!c->ssl_freed)
		mbedtls_ssl_free(&c->ssl);
	free(c->spill);
	free(c->ra);
	free(c->peer_der);
	free(c->peer_issuer);
	free(c->sni);
	tls_ctx_unref(c->ctx);
	free(c);
}

int
tls_conn_read_ahead(struct tls_conn *c)
{
	if (c->ra == NULL && (c->ra = malloc(TLS_READ_AHEAD)) == NULL)
		return -1;
	return 0;
}

/*
 * A TLS 1.3 NewSessionTicket surfaced from mbedTLS: any of its entry points
 * may report one (read, but also write and handshake, which finish pending
 * post-handshake work first).  Keep it; the caller calls again (house rule 22).
 */
static bool
took_ticket(struct tls_conn *c, int ret)
{
	if (ret != MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET)
		return false;
	c->records_read++;
	tls_ticket_keep(c);
	return true;
}

/* Records why a session failed, once: the first cause is the real one. */
static int
fail(struct tls_conn *c, int ret)
{
	if (c->fail == TLS_FAIL_NONE)
		tls_peer_classify(c, ret);
	return TLS_ERR;
}

/* A failed handshake: its ticket, if it offered one, is not offered again. */
static int
handshake_failed(struct tls_conn *c, int ret)
{
	tls_ticket_drop(c);
	return ret == 0 ? TLS_ERR : fail(c, ret);
}

int
tls_conn_handshake(struct tls_conn *c)
{
	int ret;

	/* The ticket callbacks are the context's; they need the session. */
	tls_ticket_step(c);
	do
		ret = mbedtls_ssl_handshake(&c->ssl);
	while (took_ticket(c, ret));
	tls_ticket_step(NULL);

	switch (ret) {
	case 0:
		/* client_auth = optional: mbedTLS's VERIFY_OPTIONAL lets a
		 * certificate that failed verification through.  Optional means
		 * a certificate may be absent, never that a bad one will do. */
		if (c->ctx->role == TLS_ROLE_SERVER &&
		    mbedtls_ssl_get_peer_cert(&c->ssl) != NULL &&
		    mbedtls_ssl_get_verify_result(&c->ssl) != 0) {
			tls_peer_classify(c, MBEDTLS_ERR_X509_CERT_VERIFY_FAILED);
			(void)mbedtls_ssl_send_alert_message(&c->ssl,
			    MBEDTLS_SSL_ALERT_LEVEL_FATAL,
			    MBEDTLS_SSL_ALERT_MSG_BAD_CERT);
			return handshake_failed(c, 0);
		}
		/* A session without a certificate has no identity; the verify
		 * callback filled peer_id when there was one, the ticket when
		 * the session was resumed. */
		tls_ticket_settle(c);
		return TLS_OK;
	case MBEDTLS_ERR_SSL_WANT_READ:
		return TLS_WANT_READ;
	case MBEDTLS_ERR_SSL_WANT_WRITE:
		return TLS_WANT_WRITE;
	case MBEDTLS_ERR_SSL_INVALID_MAC:
		/* mbedTLS sends its refusal alert under keys the other side
		 * does not use yet, so here a refusal arrives as a record that
		 * fails to decrypt (Mbed-TLS/mbedtls#10877). */
		if (c->fail == TLS_FAIL_NONE) {
			c->fail = TLS_FAIL_PEER_ALERT;
			snprintf(c->detail, sizeof(c->detail), "the peer ended the "
			    "handshake (its alert could not be decrypted: likely a "
			    "refusal of our certificate)");
		}
		return handshake_failed(c, 0);
	default:
		return handshake_failed(c, ret);
	}
}

ssize_t
tls_conn_read(struct tls_conn *c, void *buf, size_t len)
{
	int ret, again = 0;

	for (;;) {
		c->in_read = true;
		ret = mbedtls_ssl_read(&c->ssl, buf, len);
		c->in_read = false;
		if (ret > 0) {
			c->records_read++;
			return ret;
		}
		switch (ret) {
		case MBEDTLS_ERR_SSL_WANT_READ:
			/* mbedTLS answers WANT_READ on first meeting a ticket,
			 * which it has read and keeps for the next call: no
			 * socket event would come for it.  Call again (once or
			 * twice; the ticket's step needs no more input). */
			if (mbedtls_ssl_check_pending(&c->ssl) && again++ < 4)
				continue;
			return TLS_WANT_READ;
		case MBEDTLS_ERR_SSL_WANT_WRITE:
			return TLS_WANT_WRITE;
		case MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET:
			/* Not data: keep it for the next connection, read on. */
			(void)took_ticket(c, ret);
			continue;
		case MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY:
			return TLS_EOF;
		case 0:
		case MBEDTLS_ERR_SSL_CONN_EOF:
			/* TCP FIN without close_notify: the stream may be cut
			 * short.  The proxy passes the EOF on, and logs it. */
			c->truncated = true;
			return TLS_EOF;
		default:
			return fail(c, ret);
		}
	}
}

/*
 * mbedTLS keeps one output buffer for everything.  When a write returns
 * WANT_WRITE its record stays there, half sent, and the caller retries with
 * the same data.  But a read that meets a post-handshake message (a ticket)
 * runs a handshake step, and every handshake step first flushes pending
 * output: the half-sent record goes out from under the write.  mbedTLS then
 * takes the retry for new data and sends the bytes a second time.  So the
 * pending record is tracked here, and a retry finding it gone is told the
 * bytes were sent.
 */
ssize_t
tls_conn_write(struct tls_conn *c, const void *buf, size_t len)
{
	bool ours = tls_mbed_at_rest(&c->ssl) && tls_mbed_unsent(&c->ssl) == 0;
	int ret, max;

	/* Checked before every attempt: the write itself may first finish a
	 * handshake step (a ticket), which flushes the record and then reports
	 * the ticket; writing again then would send the bytes twice. */
	for (;;) {
		if (c->write_pending && tls_mbed_unsent(&c->ssl) == 0) {
			c->write_pending = false;
			return (ssize_t)c->write_pending_len;
		}
		ret = mbedtls_ssl_write(&c->ssl, buf, len);
		if (!took_ticket(c, ret))
			break;
	}
	if (ret > 0) {
		c->write_pending = false;
		return ret;
	}
	switch (ret) {
	case MBEDTLS_ERR_SSL_WANT_READ:
	case MBEDTLS_ERR_SSL_WANT_WRITE:
		/* Went straight to the record layer: the record is ours. */
		if (ours && tls_mbed_unsent(&c->ssl) != 0) {
			max = mbedtls_ssl_get_max_out_record_payload(&c->ssl);
			c->write_pending = true;
			c->write_pending_len = max > 0 && len > (size_t)max ? (size_t)max : len;
		}
		return ret == MBEDTLS_ERR_SSL_WANT_READ ? TLS_WANT_READ : TLS_WANT_WRITE;
	default:
		return fail(c, ret);
	}
}

int
tls_conn_close_notify(struct tls_conn *c)
{
	int ret;

	if (c->tx_layer == TLS_LAYER_KERNEL)
		return tls_ktls_send_alert(c, MBEDTLS_SSL_ALERT_LEVEL_WARNING,
		    MBEDTLS_SSL_ALERT_MSG_CLOSE_NOTIFY);
	if (c->tx_layer == TLS_LAYER_OWN)
		return tls_rec_close_notify(c);
	/* As for writes: a flush by a read's handshake step may have sent the
	 * half-sent alert already; do not send a second one. */
	for (;;) {
		if (c->close_pending && tls_mbed_unsent(&c->ssl) == 0) {
			c->close_pending = false;
			return TLS_OK;
		}
		ret = mbedtls_ssl_close_notify(&c->ssl);
		if (!took_ticket(c, ret))
			break;
	}
	c->close_pending |= ret == MBEDTLS_ERR_SSL_WANT_WRITE &&
	    tls_mbed_unsent(&c->ssl) != 0;
	if (ret == 0)
		return TLS_OK;
	if (ret == MBEDTLS_ERR_SSL_WANT_WRITE)
		return TLS_WANT_WRITE;
	if (ret == MBEDTLS_ERR_SSL_WANT_READ)
		return TLS_WANT_READ;
	return fail(c, ret);
}

bool
tls_conn_pending(const struct tls_conn *c)
{
	if (c->ssl_freed)
		return false;
	return mbedtls_ssl_get_bytes_avail(&c->ssl) > 0 ||
	    mbedtls_ssl_check_pending(&c->ssl) || c->ra_off < c->ra_len;
}

bool
tls_conn_spilled(const struct tls_conn *c)
{
	return c->spill != NULL;
}

int
tls_conn_flush(struct tls_conn *c)
{
	int r = c->spill != NULL ? send_spill(c) : 1;

	if (r == 1)
		return TLS_OK;
	if (r == 0)
		return TLS_WANT_WRITE;
	c->fail = errno == EPIPE || errno == ECONNRESET ? TLS_FAIL_RESET : TLS_FAIL_INTERNAL;
	snprintf(c->detail, sizeof(c->detail), "send: %s", strerror(errno));
	return TLS_ERR;
}

bool
tls_conn_truncated(const struct tls_conn *c)
{
	return c->truncated;
}

void
tls_conn_note_truncated(struct tls_conn *c)
{
	c->truncated = true;
}

enum tls_fail
tls_conn_fail(const struct tls_conn *c)
{
	return c->fail;
}

const char *
tls_conn_fail_detail(const struct tls_conn *c)
{
	return c->detail;
}

const char *
tls_conn_peer_id(const struct tls_conn *c)
{
	return c->peer_id;
}

bool
tls_conn_resumed(const struct tls_conn *c)
{
	return c->resumed;
}

unsigned
tls_conn_records_read(const struct tls_conn *c)
{
	return c->records_read;
}

size_t
tls_conn_peer_id_len(const struct tls_conn *c)
{
	return c->peer_id_len;
}

bool
tls_conn_crl_stale(const struct tls_conn *c)
{
	return c->crl_stale;
}

const char *
tls_conn_peer_cn(const struct tls_conn *c)
{
	return c->peer_cn;
}

const char *
tls_conn_version(const struct tls_conn *c)
{
	return c->ssl_freed ? c->version : mbedtls_ssl_get_version(&c->ssl);
}

const char *
tls_conn_cipher(const struct tls_conn *c)
{
	const char *s = c->ssl_freed ? c->cipher : mbedtls_ssl_get_ciphersuite(&c->ssl);

	return s ? s : "-";
}

/* The suites tls_ctx.c offers, by id, with their IANA names (RFC 8446
 * B.4, RFC 5289, RFC 7905). */
static const struct {
	int id;
	const char *name;
} iana_suites[] = {
	{ 0x1301, "TLS_AES_128_GCM_SHA256" },
	{ 0x1302, "TLS_AES_256_GCM_SHA384" },
	{ 0x1303, "TLS_CHACHA20_POLY1305_SHA256" },
	{ 0xc02b, "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256" },
	{ 0xc02c, "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384" },
	{ 0xc02f, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256" },
	{ 0xc030, "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384" },
	{ 0xcca8, "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256" },
	{ 0xcca9, "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256" },
};

const char *
tls_cipher_iana(int id)
{
	for (size_t i = 0; i < sizeof(iana_suites) / sizeof(iana_suites[0]); i++)
		if (iana_suites[i].id == id)
			return iana_suites[i].name;
	return NULL;
}

const char *
tls_conn_cipher_iana(const struct tls_conn *c)
{
	const mbedtls_ssl_ciphersuite_t *cs;
	const char *name;
	int id;

	if (c->ssl_freed) {
		/* Only the name was kept: mbedTLS maps it back to the id. */
		cs = mbedtls_ssl_ciphersuite_from_string(c->cipher);
		id = cs != NULL ? mbedtls_ssl_ciphersuite_get_id(cs) : 0;
	} else {
		id = mbedtls_ssl_get_ciphersuite_id_from_ssl(&c->ssl);
	}
	name = tls_cipher_iana(id);
	return name != NULL ? name : tls_conn_cipher(c);
}

enum tls_layer
tls_conn_tx_layer(const struct tls_conn *c)
{
	return c->tx_layer;
}

enum tls_layer
tls_conn_rx_layer(const struct tls_conn *c)
{
	return c->rx_layer;
}

const char *
tls_layer_name(enum tls_layer l)
{
	switch (l) {
	case TLS_LAYER_KERNEL:
		return "kernel";
	case TLS_LAYER_OWN:
		return "libgcrypt";
	case TLS_LAYER_MBEDTLS:
		break;
	}
	return "mbedtls";
}
