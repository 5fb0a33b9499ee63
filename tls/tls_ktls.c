/*
 * tls_ktls.c: handing a session's record crypto to the kernel (kTLS).
 *
 * mbedTLS does the handshake; its bulk AES-GCM is an order of magnitude
 * slower than the kernel's AES-NI code, so after the handshake the traffic
 * keys go to the socket (setsockopt SOL_TLS TLS_TX / TLS_RX) and the proxy
 * moves bytes with splice(): zero user-space copies.  AES-128-GCM,
 * AES-256-GCM and ChaCha20-Poly1305 (Linux 5.11 and later) are offloaded.
 *
 * The keys, sequence numbers and the switch's rules are tls_keys.c's.
 * After the switch, non-data records (alerts, post-handshake messages)
 * arrive through recvmsg() with TLS_GET_RECORD_TYPE, and close_notify
 * leaves through sendmsg() with TLS_SET_RECORD_TYPE.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/tls.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <mbedtls/platform_util.h>

#include "tls/tls_int.h"

#ifndef SOL_TLS
#define SOL_TLS 282
#endif
#ifndef TCP_ULP
#define TCP_ULP 31
#endif

#define REC_ALERT	21
#define REC_HANDSHAKE	22
#define REC_DATA	23
#define HS_NEW_SESSION_TICKET	4
#define HS_KEY_UPDATE		24

union ktls_info {
	struct tls_crypto_info info;
	struct tls12_crypto_info_aes_gcm_128 g128;
	struct tls12_crypto_info_aes_gcm_256 g256;
	struct tls12_crypto_info_chacha20_poly1305 cc;
};

static pthread_once_t probe_once = PTHREAD_ONCE_INIT;
static bool probe_ok;

/* A loopback TCP pair, then TCP_ULP "tls" on it: loads the module if the
 * kernel has one, and says whether it has. */
static void
probe(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	int l = -1, c = -1, a = -1;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    bind(l, (struct sockaddr *)&sa, sizeof(sa)) == -1 || listen(l, 1) == -1 ||
	    getsockname(l, (struct sockaddr *)&sa, &len) == -1 ||
	    (c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    connect(c, (struct sockaddr *)&sa, sizeof(sa)) == -1 ||
	    (a = accept4(l, NULL, NULL, SOCK_CLOEXEC)) == -1)
		goto out;
	probe_ok = setsockopt(c, SOL_TCP, TCP_ULP, "tls", sizeof("tls")) == 0;
out:
	if (a != -1)
		close(a);
	if (c != -1)
		close(c);
	if (l != -1)
		close(l);
}

bool
tls_ktls_available(void)
{
	pthread_once(&probe_once, probe);
	return probe_ok;
}

/* Where each AEAD's crypto_info (linux/tls.h) keeps its fields. */
struct ktls_layout {
	uint16_t cipher;
	socklen_t size;
	size_t key_len, key, iv, salt, rec_seq;	/* salt 0: none */
};
#define KTLS_GCM(type, cipher, key_len) { cipher, sizeof(struct type), key_len, \
	offsetof(struct type, key), offsetof(struct type, iv), \
	offsetof(struct type, salt), offsetof(struct type, rec_seq) }
static const struct ktls_layout layouts[] = {
	[TLS_AEAD_AES_128_GCM] = KTLS_GCM(tls12_crypto_info_aes_gcm_128,
	    TLS_CIPHER_AES_GCM_128, 16),
	[TLS_AEAD_AES_256_GCM] = KTLS_GCM(tls12_crypto_info_aes_gcm_256,
	    TLS_CIPHER_AES_GCM_256, 32),
	[TLS_AEAD_CHACHA20_POLY1305] = { TLS_CIPHER_CHACHA20_POLY1305,
	    sizeof(struct tls12_crypto_info_chacha20_poly1305), 32,
	    offsetof(struct tls12_crypto_info_chacha20_poly1305, key),
	    offsetof(struct tls12_crypto_info_chacha20_poly1305, iv), 0,
	    offsetof(struct tls12_crypto_info_chacha20_poly1305, rec_seq) },
};

/*
 * The kernel's crypto_info for one direction (tls_keys.c derived k).
 * AES-GCM's nonce is a 4-byte salt (iv[0..4)) and 8 more bytes: the rest
 * of TLS 1.3's IV, or TLS 1.2's explicit nonce, which is mbedTLS's and our
 * record number; ChaCha20-Poly1305's is iv[0..12) whole.
 */
static socklen_t
fill_info(union ktls_info *ci, const struct tls_dir_keys *k)
{
	unsigned char *p = (unsigned char *)ci, seq8[8];
	const struct ktls_layout *l;

	if ((size_t)k->aead >= sizeof(layouts) / sizeof(layouts[0]))
		return 0;
	l = &layouts[k->aead];
	tls_put_be64(seq8, k->seq);
	memset(ci, 0, sizeof(*ci));
	ci->info.version = k->v13 ? TLS_1_3_VERSION : TLS_1_2_VERSION;
	ci->info.cipher_type = l->cipher;
	memcpy(p + l->key, k->key, l->key_len);
	memcpy(p + l->rec_seq, seq8, 8);
	if (l->salt == 0) {
		memcpy(p + l->iv, k->iv, 12);
	} else {
		memcpy(p + l->salt, k->iv, 4);
		memcpy(p + l->iv, k->v13 ? k->iv + 4 : seq8, 8);
	}
	return l->size;
}

static int
ulp(int fd, const char **why)
{
	if (setsockopt(fd, SOL_TCP, TCP_ULP, "tls", sizeof("tls")) == 0 || errno == EEXIST)
		return 0;
	*why = errno == ENOENT ? "the kernel has no tls ULP" : strerror(errno);
	return -1;
}

/* One direction's keys into the socket: 0, or -1 with *why. */
static int
install(struct tls_conn *c, bool tx, const char **why)
{
	struct tls_dir_keys k;
	union ktls_info ci;
	socklen_t n;
	int rc = -1;

	if (tls_keys_derive(c, tx, &k, why) == -1)
		return -1;
	n = fill_info(&ci, &k);
	tls_dir_keys_wipe(&k);
	if (ulp(c->fd, why) == -1)
		goto out;
	if (setsockopt(c->fd, SOL_TLS, tx ? TLS_TX : TLS_RX, &ci, n) == -1) {
		*why = strerror(errno);
		goto out;
	}
	rc = 0;
out:
	mbedtls_platform_zeroize(&ci, sizeof(ci));
	return rc;
}

int
tls_ktls_start_tx(struct tls_conn *c, const char **why)
{
	return tls_keys_hand_over(c, true, TLS_LAYER_KERNEL, install, why);
}

int
tls_ktls_start_rx(struct tls_conn *c, const char **why)
{
	return tls_keys_hand_over(c, false, TLS_LAYER_KERNEL, install, why);
}

/* Sends one alert record through kernel TLS. */
int
tls_ktls_send_alert(struct tls_conn *c, unsigned char level, unsigned char desc)
{
	unsigned char alert[2] = { level, desc };
	char cbuf[CMSG_SPACE(sizeof(unsigned char))];
	struct iovec iov = { alert, sizeof(alert) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
	    .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
	ssize_t n;

	memset(cbuf, 0, sizeof(cbuf));
	cm->cmsg_level = SOL_TLS;
	cm->cmsg_type = TLS_SET_RECORD_TYPE;
	cm->cmsg_len = CMSG_LEN(sizeof(unsigned char));
	*CMSG_DATA(cm) = REC_ALERT;
	do
		n = sendmsg(c->fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
	while (n == -1 && errno == EINTR);
	if (n == 2)
		return TLS_OK;
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return TLS_WANT_WRITE;
	c->fail = errno == EPIPE || errno == ECONNRESET ? TLS_FAIL_RESET : TLS_FAIL_INTERNAL;
	snprintf(c->detail, sizeof(c->detail), "sending an alert: %s", strerror(errno));
	return TLS_ERR;
}

/* A post-handshake handshake record: NewSessionTickets are dropped (a
 * resumption ticket is no use once mbedTLS is gone); anything else, a
 * KeyUpdate above all, cannot be followed by the kernel's fixed keys. */
static ssize_t
handshake_record(struct tls_conn *c, const unsigned char *p, size_t n)
{
	while (n >= 4) {
		size_t len = (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3];
		if (p[0] != HS_NEW_SESSION_TICKET || len > n - 4) {
			c->fail = TLS_FAIL_PROTOCOL;
			snprintf(c->detail, sizeof(c->detail), p[0] == HS_KEY_UPDATE ?
			    "KeyUpdate is not supported on a kernel-TLS connection" :
			    "unexpected post-handshake message type %u", p[0]);
			return TLS_ERR;
		}
		p += 4 + len;
		n -= 4 + len;
	}
	if (n != 0) {
		c->fail = TLS_FAIL_PROTOCOL;
		snprintf(c->detail, sizeof(c->detail), "truncated handshake message");
		return TLS_ERR;
	}
	return TLS_RETRY;
}

ssize_t
tls_ktls_recv(struct tls_conn *c, void *buf, size_t len)
{
	char cbuf[CMSG_SPACE(sizeof(unsigned char))];
	struct iovec iov = { buf, len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
	    .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	unsigned char type = REC_DATA;
	const unsigned char *p = buf;
	ssize_t n;

	do
		n = recvmsg(c->fd, &msg, MSG_DONTWAIT);
	while (n == -1 && errno == EINTR);
	if (n == -1) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return TLS_WANT_READ;
		c->fail = errno == ECONNRESET ? TLS_FAIL_RESET : TLS_FAIL_PROTOCOL;
		snprintf(c->detail, sizeof(c->detail), "%s", errno == EBADMSG ?
		    "record failed authentication" : strerror(errno));
		return TLS_ERR;
	}
	if (n == 0) {
		c->truncated = true;
		return TLS_EOF;
	}
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm))
		if (cm->cmsg_level == SOL_TLS && cm->cmsg_type == TLS_GET_RECORD_TYPE)
			type = *CMSG_DATA(cm);
	switch (type) {
	case REC_DATA:
		return n;
	case REC_ALERT:
		if (n == 2 && p[1] == MBEDTLS_SSL_ALERT_MSG_CLOSE_NOTIFY)
			return TLS_EOF;
		c->fail = TLS_FAIL_PEER_ALERT;
		snprintf(c->detail, sizeof(c->detail), "alert %u received",
		    n == 2 ? p[1] : 0);
		return TLS_ERR;
	case REC_HANDSHAKE:
		return handshake_record(c, p, (size_t)n);
	default:
		c->fail = TLS_FAIL_PROTOCOL;
		snprintf(c->detail, sizeof(c->detail), "unexpected record type %u", type);
		return TLS_ERR;
	}
}

/* ---- the relay's record operations on kernel TLS (tls.h) --------------- */

/* Largest batch one splice() moves into a pipe. */
#define SPLICE_CHUNK (256 * 1024)

/* A record at least this long is full: kTLS hands over one record per
 * splice(), and only a short one says the stream paused. */
#define KTLS_RECORD_FULL (16384 - 1)

static ssize_t
splice_in(int src, struct tls_buf *b)
{
	ssize_t n;

	do
		n = splice(src, NULL, b->pipe[1], NULL, SPLICE_CHUNK,
		    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
	while (n == -1 && errno == EINTR);
	if (n > 0)
		b->in_pipe += (size_t)n;
	return n;
}

static ssize_t
splice_out(struct tls_buf *b, int dst)
{
	ssize_t n;

	do
		n = splice(b->pipe[0], NULL, dst, NULL, b->in_pipe,
		    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
	while (n == -1 && errno == EINTR);
	if (n > 0)
		b->in_pipe -= (size_t)n;
	return n;
}

ssize_t
tls_ktls_up_fill(struct tls_buf *b, int plain_fd, unsigned *flags)
{
	ssize_t n = splice_in(plain_fd, b);

	if (n > 0) {
		*flags = n == SPLICE_CHUNK ? TLS_IO_MORE : 0;
		return n;
	}
	if (n == 0)
		return 0;
	return errno == EAGAIN ? TLS_WANT_READ : TLS_ERR_PLAIN;
}

int
tls_ktls_up_send(struct tls_conn *c, struct tls_buf *b, uint64_t *delivered)
{
	while (b->in_pipe > 0) {
		ssize_t n;

		if (c->tx_record_limit != 0 && c->tx_records >= c->tx_record_limit)
			return tls_io_key_exhausted(c);
		if ((n = splice_out(b, c->fd)) > 0) {
			/* The kernel makes at most one record per 16 KiB of one
			 * call: an upper bound of its count. */
			c->tx_records += ((uint64_t)n + 16383) / 16384;
			*delivered += (uint64_t)n;
			continue;
		}
		if (n == -1 && errno == EAGAIN)
			return TLS_WANT_WRITE;
		c->fail = n == -1 && (errno == EPIPE || errno == ECONNRESET) ?
		    TLS_FAIL_RESET : TLS_FAIL_INTERNAL;
		snprintf(c->detail, sizeof(c->detail), "splice: %s",
		    n == -1 ? strerror(errno) : "sent nothing");
		return TLS_ERR;
	}
	return TLS_OK;
}

/* A non-data record is next (splice() said EINVAL): read it whole. */
static ssize_t
control_record(struct tls_conn *c, struct tls_buf *b, unsigned *flags)
{
	unsigned char rec[16384 + 256];
	ssize_t n = tls_ktls_recv(c, rec, sizeof(rec));
	struct iovec iov = { rec, (size_t)n };

	*flags = TLS_IO_MORE;
	if (n == TLS_RETRY)
		return 0;
	if (n == TLS_EOF) {
		*flags = TLS_IO_EOF;
		return 0;
	}
	if (n < 0)
		return n;
	/* Data after all: into the (empty) pipe, then on as usual. */
	if (vmsplice(b->pipe[1], &iov, 1, 0) != n) {
		c->fail = TLS_FAIL_INTERNAL;
		snprintf(c->detail, sizeof(c->detail), "vmsplice: %s", strerror(errno));
		return TLS_ERR;
	}
	b->in_pipe += (size_t)n;
	return n;
}

ssize_t
tls_ktls_down_fill(struct tls_conn *c, struct tls_buf *b, unsigned *flags)
{
	ssize_t n = splice_in(c->fd, b);

	if (n > 0) {
		*flags = n >= KTLS_RECORD_FULL ? TLS_IO_MORE : 0;
		return n;
	}
	if (n == 0) {
		/* TCP EOF.  A clean end is close_notify, which arrives as a
		 * control record instead. */
		c->truncated = true;
		*flags = TLS_IO_EOF;
		return 0;
	}
	if (errno == EAGAIN)
		return TLS_WANT_READ;
	if (errno == EINVAL)
		return control_record(c, b, flags);
	c->fail = errno == ECONNRESET || errno == EPIPE ? TLS_FAIL_RESET :
	    TLS_FAIL_PROTOCOL;
	snprintf(c->detail, sizeof(c->detail), "%s", errno == EBADMSG ?
	    "a record failed authentication" : strerror(errno));
	return TLS_ERR;
}

ssize_t
tls_ktls_down_send(struct tls_buf *b, int plain_fd)
{
	ssize_t n;

	if (b->in_pipe == 0)
		return 0;
	if ((n = splice_out(b, plain_fd)) > 0)
		return n;
	return n == -1 && errno == EAGAIN ? TLS_WANT_WRITE : TLS_ERR_PLAIN;
}
