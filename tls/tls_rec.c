/*
 * tls_rec.c: mtlsd's own record layer (RFC 8446 section 5; RFC 5288 and
 * RFC 7905 for TLS 1.2), sealing and opening records in place with
 * libgcrypt's AEADs.
 *
 * mbedTLS does the handshake; its record ciphers seal 0.3-0.5 GB/s a core
 * here, libgcrypt's 3-6.  After the handshake each direction's keys are
 * taken over (tls_keys.c) and records are made and read here, in the
 * proxy's own buffer: the proxy receives plaintext where a record's payload
 * goes and sends the sealed records as they lie; it receives ciphertext
 * several records at a time and sends the plaintexts from where they were
 * opened.  No byte is copied here.
 *
 * Rules kept:
 *   - strict parsing: outer type, version and length; the inner type after
 *     the zero padding; zero-length data records are skipped, zero-length
 *     alerts and handshake records refused; anything but data, alerts,
 *     NewSessionTicket (dropped) and KeyUpdate is an unexpected_message;
 *   - a record that fails authentication gets bad_record_mac and closes;
 *   - a sequence number that would wrap closes: a nonce is never reused;
 *   - TLS 1.3 keys change both ways (KeyUpdate): the peer's is followed,
 *     answered when it asks, and our own is sent before a key has sealed
 *     key_update_records records;
 *   - keys are wiped when the connection ends (libgcrypt wipes its handle
 *     on close).
 * Our alerts and KeyUpdates ("control records") are sealed when they are
 * decided and sent after the records the proxy already sealed, in order.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <gcrypt.h>
#include <mbedtls/platform_util.h>

#include "tls/tls_int.h"

#define REC_CCS		20
#define REC_ALERT	21
#define REC_HANDSHAKE	22
#define REC_DATA	23
#define HS_NEW_SESSION_TICKET	4
#define HS_KEY_UPDATE		24

#define ALERT_WARNING	1
#define ALERT_FATAL	2
#define ALERT_CLOSE_NOTIFY		0
#define ALERT_UNEXPECTED_MESSAGE	10
#define ALERT_BAD_RECORD_MAC		20
#define ALERT_RECORD_OVERFLOW		22
#define ALERT_DECODE_ERROR		50
#define ALERT_ILLEGAL_PARAMETER		47
#define ALERT_USER_CANCELED		90

#define TAG_LEN		16
#define HDR_LEN		TLS_REC_HEADER
#define EXPLICIT_LEN	8		/* TLS 1.2 AES-GCM's explicit nonce */

/* Ciphertext limits: RFC 8446 5.2 and RFC 5246 6.2.3. */
#define MAX_CT13	(TLS_REC_PAYLOAD_MAX + 256)
#define MAX_CT12	(TLS_REC_PAYLOAD_MAX + 2048)

struct rec_dir {
	gcry_cipher_hd_t h;
	struct tls_dir_keys k;
	uint64_t records;		/* sealed or opened under this key */
};

struct tls_rec {
	struct rec_dir tx, rx;
	bool tx_on, rx_on;
	size_t owed;			/* sealed bytes the proxy has not sent */
	unsigned char ctrl[160];	/* our control records, sealed, in order */
	size_t ctrl_off, ctrl_len;
	bool close_queued;
	bool update_due;		/* a KeyUpdate waits for a record boundary */
	uint64_t updates;		/* KeyUpdates sent and received */
};

static pthread_once_t gcry_once = PTHREAD_ONCE_INIT;
static bool gcry_ok;

static void
gcry_setup(void)
{
	/* Checks the library against the headers, and marks it initialized;
	 * keys live in ordinary memory, wiped on close. */
	if (gcry_check_version(GCRYPT_VERSION) == NULL)
		return;
	gcry_control(GCRYCTL_DISABLE_SECMEM, 0);
	gcry_control(GCRYCTL_INITIALIZATION_FINISHED, 0);
	gcry_ok = true;
}

int
tls_rec_global_init(void)
{
	pthread_once(&gcry_once, gcry_setup);
	return gcry_ok ? 0 : -1;
}

const char *
tls_rec_library_version(void)
{
	return gcry_check_version(NULL);
}

static int
dir_setkey(struct rec_dir *d)
{
	int algo = d->k.aead == TLS_AEAD_AES_128_GCM ? GCRY_CIPHER_AES128 :
	    d->k.aead == TLS_AEAD_AES_256_GCM ? GCRY_CIPHER_AES256 : GCRY_CIPHER_CHACHA20;
	int mode = d->k.aead == TLS_AEAD_CHACHA20_POLY1305 ? GCRY_CIPHER_MODE_POLY1305 :
	    GCRY_CIPHER_MODE_GCM;

	if (d->h == NULL && gcry_cipher_open(&d->h, algo, mode, 0) != 0)
		return -1;
	d->records = 0;
	return gcry_cipher_setkey(d->h, d->k.key, d->k.key_len) == 0 ? 0 : -1;
}

static void
dir_free(struct rec_dir *d)
{
	if (d->h != NULL)
		gcry_cipher_close(d->h);
	d->h = NULL;
	tls_dir_keys_wipe(&d->k);
}

void
tls_rec_free(struct tls_conn *c)
{
	if (c->rec == NULL)
		return;
	dir_free(&c->rec->tx);
	dir_free(&c->rec->rx);
	mbedtls_platform_zeroize(c->rec, sizeof(*c->rec));
	free(c->rec);
	c->rec = NULL;
}

static struct tls_rec *
rec_get(struct tls_conn *c)
{
	if (c->rec == NULL)
		c->rec = calloc(1, sizeof(*c->rec));
	return c->rec;
}

/* The record's nonce: TLS 1.3 and ChaCha20-Poly1305 XOR the sequence
 * number into the IV; TLS 1.2 AES-GCM is the salt and the explicit nonce. */
static void
nonce(const struct tls_dir_keys *k, const unsigned char *explicit8, unsigned char n[12])
{
	memcpy(n, k->iv, 12);
	if (!k->v13 && k->aead != TLS_AEAD_CHACHA20_POLY1305) {
		memcpy(n + 4, explicit8, 8);
		return;
	}
	for (int i = 0; i < 8; i++)
		n[4 + i] ^= (unsigned char)(k->seq >> (56 - 8 * i));
}

/* TLS 1.2's additional data: seq | type | version | plaintext length. */
static void
aad12(const struct tls_dir_keys *k, unsigned char type, size_t len, unsigned char a[13])
{
	tls_put_be64(a, k->seq);
	a[8] = type;
	a[9] = 3;
	a[10] = 3;
	a[11] = (unsigned char)(len >> 8);
	a[12] = (unsigned char)len;
}

void
tls_rec_frame(const struct tls_conn *c, size_t *pre, size_t *post)
{
	const struct tls_dir_keys *k = &c->rec->tx.k;
	bool explicit = !k->v13 && k->aead != TLS_AEAD_CHACHA20_POLY1305;

	*pre = HDR_LEN + (explicit ? EXPLICIT_LEN : 0);
	*post = TAG_LEN + (k->v13 ? 1 : 0);
}

/* Records why, once (the first cause is the real one).  TLS_ERR. */
static int
set_fail(struct tls_conn *c, enum tls_fail f, const char *why, const char *more)
{
	if (c->fail == TLS_FAIL_NONE) {
		c->fail = f;
		snprintf(c->detail, sizeof(c->detail), "%s%s%s", why, more ? ": " : "",
		    more ? more : "");
	}
	return TLS_ERR;
}

/*
 * Seals the record whose payload (type 'type', len bytes) lies at p, with
 * pre bytes before it and post after it free (tls_rec_frame).  Returns the
 * record's length, from p - pre, or TLS_ERR.
 */
static ssize_t
seal(struct tls_conn *c, unsigned char type, unsigned char *p, size_t len)
{
	struct rec_dir *d = &c->rec->tx;
	struct tls_dir_keys *k = &d->k;
	size_t pre, post, body, ct_len;
	unsigned char n[12], a[13], *hdr, *explicit = NULL;
	gcry_error_t e;

	tls_rec_frame(c, &pre, &post);
	hdr = p - pre;
	if (k->seq == UINT64_MAX)
		return set_fail(c, TLS_FAIL_INTERNAL, "the record sequence "
		    "number would wrap: closing rather than reuse a nonce", NULL);
	if (k->v13)
		p[len] = type;		/* TLSInnerPlaintext's content type */
	body = len + (k->v13 ? 1 : 0);
	ct_len = (pre - HDR_LEN) + body + TAG_LEN;
	hdr[0] = k->v13 ? REC_DATA : type;
	hdr[1] = 3;
	hdr[2] = 3;
	hdr[3] = (unsigned char)(ct_len >> 8);
	hdr[4] = (unsigned char)ct_len;
	if (pre > HDR_LEN) {
		explicit = hdr + HDR_LEN;
		tls_put_be64(explicit, k->seq);
	}
	nonce(k, explicit, n);
	if (!k->v13)
		aad12(k, type, len, a);
	if ((e = gcry_cipher_setiv(d->h, n, 12)) != 0 ||
	    (e = gcry_cipher_authenticate(d->h, k->v13 ? hdr : a, k->v13 ? HDR_LEN : 13)) != 0 ||
	    (e = gcry_cipher_final(d->h)) != 0 ||
	    (e = gcry_cipher_encrypt(d->h, p, body, NULL, 0)) != 0 ||
	    (e = gcry_cipher_gettag(d->h, p + body, TAG_LEN)) != 0)
		return set_fail(c, TLS_FAIL_INTERNAL, "sealing a record",
		    gcry_strerror(e));
	k->seq++;
	d->records++;
	return (ssize_t)(HDR_LEN + ct_len);
}

ssize_t
tls_rec_seal(struct tls_conn *c, unsigned char *p, size_t len)
{
	ssize_t n;

	if (len > TLS_REC_PAYLOAD_MAX)
		return set_fail(c, TLS_FAIL_INTERNAL, "record payload too long", NULL);
	if ((n = seal(c, REC_DATA, p, len)) > 0)
		c->rec->owed += (size_t)n;
	return n;
}

/* Seals a control record (alert or KeyUpdate) into ctrl.  0 or TLS_ERR. */
static int
ctrl_seal(struct tls_conn *c, unsigned char type, const unsigned char *msg, size_t len)
{
	struct tls_rec *r = c->rec;
	size_t pre, post;
	ssize_t n;

	tls_rec_frame(c, &pre, &post);
	if (r->ctrl_off == r->ctrl_len)
		r->ctrl_off = r->ctrl_len = 0;
	if (r->ctrl_len + pre + len + post > sizeof(r->ctrl))
		return set_fail(c, TLS_FAIL_INTERNAL, "too many control records", NULL);
	memcpy(r->ctrl + r->ctrl_len + pre, msg, len);
	if ((n = seal(c, type, r->ctrl + r->ctrl_len + pre, len)) < 0)
		return TLS_ERR;
	r->ctrl_len += (size_t)n;
	return 0;
}

/* Sends what ctrl holds: TLS_OK, TLS_WANT_WRITE or TLS_ERR. */
static int
ctrl_flush(struct tls_conn *c)
{
	struct tls_rec *r = c->rec;

	while (r->ctrl_off < r->ctrl_len) {
		ssize_t n = send(c->fd, r->ctrl + r->ctrl_off, r->ctrl_len - r->ctrl_off,
		    MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			r->ctrl_off += (size_t)n;
		} else if (n == -1 && errno == EINTR) {
			continue;
		} else if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			return TLS_WANT_WRITE;
		} else {
			c->fail = errno == EPIPE || errno == ECONNRESET ?
			    TLS_FAIL_RESET : TLS_FAIL_INTERNAL;
			snprintf(c->detail, sizeof(c->detail), "send: %s", strerror(errno));
			return TLS_ERR;
		}
	}
	return TLS_OK;
}

/* Our KeyUpdate: sealed under the old key, which then changes.
 * 0 or TLS_ERR. */
static int
send_key_update(struct tls_conn *c, bool request)
{
	struct tls_rec *r = c->rec;
	unsigned char msg[5] = { HS_KEY_UPDATE, 0, 0, 1, request ? 1 : 0 };

	if (ctrl_seal(c, REC_HANDSHAKE, msg, sizeof(msg)) != 0)
		return TLS_ERR;
	if (tls_dir_keys_update(&r->tx.k) == -1 || dir_setkey(&r->tx) == -1)
		return set_fail(c, TLS_FAIL_INTERNAL, "KeyUpdate: cannot derive "
		    "the next key", NULL);
	r->update_due = false;
	r->updates++;
	return 0;
}

/* TLS 1.2 cannot change keys; its ChaCha20-Poly1305 needs no limit (past
 * 2^64 records), its AES-GCM stops at key_limit. */
static bool
tx_unlimited(const struct tls_rec *r)
{
	return !r->tx.k.v13 && r->tx.k.aead == TLS_AEAD_CHACHA20_POLY1305;
}

size_t
tls_rec_tx_room(const struct tls_conn *c)
{
	const struct tls_rec *r = c->rec;
	/* TLS 1.3: the KeyUpdate itself is the old key's last record, so at
	 * most key_limit records go under one key. */
	uint64_t cap = r->tx.k.v13 ? c->key_limit - 1 : c->key_limit;

	if (tx_unlimited(r))
		return SIZE_MAX;
	return r->tx.records >= cap ? 0 : (size_t)(cap - r->tx.records);
}


int
tls_rec_tx_ready(struct tls_conn *c)
{
	struct tls_rec *r = c->rec;

	if (r->owed == 0 && (r->update_due || tls_rec_tx_room(c) == 0)) {
		if (!r->tx.k.v13)
			return tls_io_key_exhausted(c);	/* TLS 1.2 AES-GCM */
		if (send_key_update(c, false) != 0)
			return TLS_ERR;
	}
	return r->owed == 0 ? ctrl_flush(c) : TLS_OK;
}

ssize_t
tls_rec_send(struct tls_conn *c, const unsigned char *p, size_t len)
{
	struct tls_rec *r = c->rec;
	ssize_t n;

	do
		n = send(c->fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (n == -1 && errno == EINTR);
	if (n > 0) {
		r->owed -= (size_t)n < r->owed ? (size_t)n : r->owed;
		return n;
	}
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return TLS_WANT_WRITE;
	c->fail = n == -1 && (errno == EPIPE || errno == ECONNRESET) ?
	    TLS_FAIL_RESET : TLS_FAIL_INTERNAL;
	snprintf(c->detail, sizeof(c->detail), "send: %s",
	    n == -1 ? strerror(errno) : "sent nothing");
	return TLS_ERR;
}

/* An alert of ours, best effort where it cannot wait: sent at once when
 * no sealed record of the proxy's is half-sent, else dropped. */
static void
alert_now(struct tls_conn *c, unsigned char level, unsigned char desc)
{
	unsigned char msg[2] = { level, desc };

	if (c->rec == NULL || !c->rec->tx_on || c->rec->owed != 0)
		return;
	if (ctrl_seal(c, REC_ALERT, msg, sizeof(msg)) == 0)
		(void)ctrl_flush(c);
}

void
tls_rec_alert(struct tls_conn *c, unsigned char level, unsigned char desc)
{
	alert_now(c, level, desc);
}

int
tls_rec_close_notify(struct tls_conn *c)
{
	struct tls_rec *r = c->rec;
	unsigned char msg[2] = { ALERT_WARNING, ALERT_CLOSE_NOTIFY };

	if (r->owed != 0)
		return TLS_WANT_WRITE;
	if (!r->close_queued) {
		if (ctrl_seal(c, REC_ALERT, msg, sizeof(msg)) != 0)
			return TLS_ERR;
		r->close_queued = true;
	}
	return ctrl_flush(c);
}

ssize_t
tls_rec_recv(struct tls_conn *c, unsigned char *p, size_t len)
{
	ssize_t n;

	do
		n = recv(c->fd, p, len, MSG_DONTWAIT);
	while (n == -1 && errno == EINTR);
	if (n > 0)
		return n;
	if (n == 0) {
		c->truncated = true;	/* no close_notify came first */
		return TLS_EOF;
	}
	if (errno == EAGAIN || errno == EWOULDBLOCK)
		return TLS_WANT_READ;
	c->fail = errno == ECONNRESET ? TLS_FAIL_RESET : TLS_FAIL_INTERNAL;
	snprintf(c->detail, sizeof(c->detail), "recv: %s", strerror(errno));
	return TLS_ERR;
}

/* A fatal problem with the peer's records: our alert, then close. */
static ssize_t
refuse(struct tls_conn *c, unsigned char alert, const char *why)
{
	set_fail(c, TLS_FAIL_PROTOCOL, why, NULL);
	alert_now(c, ALERT_FATAL, alert);
	return TLS_ERR;
}

/* Post-handshake messages, whole within the record: NewSessionTickets are
 * dropped (mbedTLS, which could use them, is gone), KeyUpdate is followed;
 * anything else is unexpected.  TLS_OK (nothing for the app) or TLS_ERR. */
static ssize_t
handshake(struct tls_conn *c, const unsigned char *p, size_t n)
{
	struct tls_rec *r = c->rec;

	if (!r->rx.k.v13)
		return refuse(c, ALERT_UNEXPECTED_MESSAGE, "a handshake message after "
		    "a TLS 1.2 handshake (renegotiation is off)");
	while (n > 0) {
		size_t len;
		if (n < 4)
			return refuse(c, ALERT_UNEXPECTED_MESSAGE, "a post-handshake "
			    "message split across records");
		len = (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3];
		if (len > n - 4)
			return refuse(c, ALERT_UNEXPECTED_MESSAGE, "a post-handshake "
			    "message split across records");
		switch (p[0]) {
		case HS_NEW_SESSION_TICKET:
			break;
		case HS_KEY_UPDATE:
			if (len != 1)
				return refuse(c, ALERT_DECODE_ERROR, "KeyUpdate of the wrong length");
			if (p[4] > 1)
				return refuse(c, ALERT_ILLEGAL_PARAMETER, "KeyUpdate with a bad "
				    "request_update");
			/* RFC 8446 5.1: it must end the record (a key change). */
			if (n != 5)
				return refuse(c, ALERT_UNEXPECTED_MESSAGE, "data after a "
				    "KeyUpdate in the same record");
			if (tls_dir_keys_update(&r->rx.k) == -1 || dir_setkey(&r->rx) == -1)
				return set_fail(c, TLS_FAIL_INTERNAL, "KeyUpdate: "
				    "cannot derive the next key", NULL);
			r->updates++;
			/* Asked to: answer, before our next record. */
			if (p[4] == 1)
				r->update_due = true;
			break;
		default:
			return refuse(c, ALERT_UNEXPECTED_MESSAGE, "an unexpected "
			    "post-handshake message");
		}
		p += 4 + len;
		n -= 4 + len;
	}
	return TLS_OK;
}

ssize_t
tls_rec_open(struct tls_conn *c, unsigned char *p, size_t avail, size_t *rec_len,
    unsigned char **data)
{
	struct rec_dir *d = &c->rec->rx;
	struct tls_dir_keys *k = &d->k;
	bool explicit = !k->v13 && k->aead != TLS_AEAD_CHACHA20_POLY1305;
	size_t ct_len, body;
	unsigned char n[12], a[13], type;
	unsigned char *ct;
	gcry_error_t e;

	if (avail < HDR_LEN)
		return TLS_WANT_READ;
	ct_len = (size_t)p[3] << 8 | p[4];
	if (p[1] != 3 || p[2] != 3)
		return refuse(c, ALERT_DECODE_ERROR, "a record with a bad version");
	if (ct_len > (k->v13 ? MAX_CT13 : MAX_CT12))
		return refuse(c, ALERT_RECORD_OVERFLOW, "a record longer than the limit");
	if (k->v13 ? p[0] != REC_DATA :
	    p[0] != REC_DATA && p[0] != REC_ALERT && p[0] != REC_HANDSHAKE)
		return refuse(c, ALERT_UNEXPECTED_MESSAGE, "a record of an unexpected "
		    "outer type");
	if (avail < HDR_LEN + ct_len)
		return TLS_WANT_READ;
	*rec_len = HDR_LEN + ct_len;
	if (ct_len < (size_t)(TAG_LEN + (explicit ? EXPLICIT_LEN : 0) + (k->v13 ? 1 : 0)))
		return refuse(c, ALERT_BAD_RECORD_MAC, "a record too short to be sealed");
	if (k->seq == UINT64_MAX)
		return refuse(c, ALERT_UNEXPECTED_MESSAGE, "the peer's record sequence "
		    "number would wrap");
	ct = p + HDR_LEN + (explicit ? EXPLICIT_LEN : 0);
	body = ct_len - TAG_LEN - (explicit ? EXPLICIT_LEN : 0);
	nonce(k, p + HDR_LEN, n);
	if (!k->v13)
		aad12(k, p[0], body, a);
	if ((e = gcry_cipher_setiv(d->h, n, 12)) != 0 ||
	    (e = gcry_cipher_authenticate(d->h, k->v13 ? p : a, k->v13 ? HDR_LEN : 13)) != 0 ||
	    (e = gcry_cipher_final(d->h)) != 0 ||
	    (e = gcry_cipher_decrypt(d->h, ct, body, NULL, 0)) != 0)
		return set_fail(c, TLS_FAIL_INTERNAL, "opening a record",
		    gcry_strerror(e));
	if (gcry_cipher_checktag(d->h, ct + body, TAG_LEN) != 0)
		return refuse(c, ALERT_BAD_RECORD_MAC, "a record failed authentication");
	k->seq++;
	d->records++;
	type = p[0];
	if (k->v13) {
		/* The content type is the last non-zero byte; zeros are padding. */
		while (body > 0 && ct[body - 1] == 0)
			body--;
		if (body == 0)
			return refuse(c, ALERT_UNEXPECTED_MESSAGE, "a record with no "
			    "content type");
		type = ct[--body];
	}
	if (body > TLS_REC_PAYLOAD_MAX)
		return refuse(c, ALERT_RECORD_OVERFLOW, "a record's plaintext longer "
		    "than 16 KiB");
	*data = ct;
	switch (type) {
	case REC_DATA:
		return (ssize_t)body;	/* 0 is allowed, and means nothing */
	case REC_ALERT:
		if (body != 2)
			return refuse(c, ALERT_DECODE_ERROR, "a malformed alert");
		if (ct[1] == ALERT_CLOSE_NOTIFY)
			return TLS_EOF;
		if (ct[1] == ALERT_USER_CANCELED && ct[0] == ALERT_WARNING)
			return 0;
		c->fail = TLS_FAIL_PEER_ALERT;
		snprintf(c->detail, sizeof(c->detail), "alert %u received", ct[1]);
		return TLS_ERR;
	case REC_HANDSHAKE:
		if (body == 0)
			return refuse(c, ALERT_UNEXPECTED_MESSAGE, "an empty handshake record");
		return handshake(c, ct, body) == TLS_OK ? 0 : TLS_ERR;
	default:
		return refuse(c, ALERT_UNEXPECTED_MESSAGE, "a record of an unexpected "
		    "content type");
	}
}

static int
start(struct tls_conn *c, bool tx, const char **why)
{
	struct tls_rec *r = rec_get(c);
	struct rec_dir *d;

	if (r == NULL) {
		*why = "out of memory";
		return -1;
	}
	d = tx ? &r->tx : &r->rx;
	if (tls_rec_global_init() == -1) {
		*why = "libgcrypt did not initialize";
		return -1;
	}
	if (tls_keys_derive(c, tx, &d->k, why) == -1)
		return -1;
	if (dir_setkey(d) == -1) {
		*why = "libgcrypt refused the key";
		dir_free(d);
		return -1;
	}
	if (tx)
		r->tx_on = true;
	else
		r->rx_on = true;
	return 0;
}

int
tls_rec_start_tx(struct tls_conn *c, const char **why)
{
	return tls_keys_hand_over(c, true, TLS_LAYER_OWN, start, why);
}

int
tls_rec_start_rx(struct tls_conn *c, const char **why)
{
	return tls_keys_hand_over(c, false, TLS_LAYER_OWN, start, why);
}

bool
tls_rec_tx_pending(const struct tls_conn *c)
{
	const struct tls_rec *r = c->rec;

	return r != NULL && r->tx_on && (r->update_due || r->ctrl_off < r->ctrl_len);
}

uint64_t
tls_conn_key_updates(const struct tls_conn *c)
{
	return c->rec != NULL ? c->rec->updates : 0;
}
