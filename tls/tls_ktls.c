/*
 * tls_ktls.c: handing a session's record crypto to the kernel (kTLS).
 *
 * mbedTLS does the handshake; its bulk AES-GCM is an order of magnitude
 * slower than the kernel's AES-NI code, so after the handshake the traffic
 * keys go to the socket (setsockopt SOL_TLS TLS_TX / TLS_RX) and the proxy
 * moves bytes with splice(): zero user-space copies.  AES-128-GCM,
 * AES-256-GCM and ChaCha20-Poly1305 (Linux 5.11 and later) are offloaded.
 *
 * What must line up exactly:
 *   keys      TLS 1.3: the application traffic secrets, exported by mbedTLS,
 *             expanded with HKDF-Expand-Label("key"/"iv").  TLS 1.2: the key
 *             block from the master secret with the PRF.
 *   sequence  the next record number each way, read from mbedTLS's record
 *             counters at the switch (a server's NewSessionTickets were
 *             written inside mbedtls_ssl_handshake() and are counted).
 *   buffers   nothing may wait inside mbedTLS at the switch: it reads one
 *             record at a time, never ahead, and a pending record or
 *             unsent output refuses the switch.
 * After the switch, non-data records (alerts, post-handshake messages)
 * arrive through recvmsg() with TLS_GET_RECORD_TYPE, and close_notify
 * leaves through sendmsg() with TLS_SET_RECORD_TYPE.
 */
#include <errno.h>
#include <linux/tls.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <mbedtls/hkdf.h>
#include <mbedtls/md.h>
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

/* Secrets captured during the handshake, wiped once installed. */
struct tls_ktls_keys {
	unsigned char client[48], server[48];	/* TLS 1.3 traffic secrets */
	size_t secret_len;
	unsigned char master[48];		/* TLS 1.2 */
	unsigned char randbytes[64];		/* client_random || server_random */
	mbedtls_tls_prf_types prf;
	bool have13, have12;
};

union ktls_info {
	struct tls_crypto_info info;
	struct tls12_crypto_info_aes_gcm_128 g128;
	struct tls12_crypto_info_aes_gcm_256 g256;
	struct tls12_crypto_info_chacha20_poly1305 cc;
};

/* The record ciphers the kernel takes, and what each needs. */
enum ktls_cipher { KC_AES_GCM_128, KC_AES_GCM_256, KC_CHACHA20_POLY1305 };

struct ktls_suite {
	enum ktls_cipher cipher;
	size_t key_len;
	size_t fixed_iv_len;		/* TLS 1.2's implicit IV from the key block */
	mbedtls_md_type_t md;		/* TLS 1.3's key schedule hash */
};

/* The suite's kernel cipher; false if the kernel cannot take it. */
static bool
ktls_suite(int id, struct ktls_suite *s)
{
	switch (id) {
	case MBEDTLS_TLS1_3_AES_128_GCM_SHA256:
	case MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256:
	case MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256:
		*s = (struct ktls_suite){ KC_AES_GCM_128, 16, 4, MBEDTLS_MD_SHA256 };
		return true;
	case MBEDTLS_TLS1_3_AES_256_GCM_SHA384:
	case MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384:
	case MBEDTLS_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384:
		*s = (struct ktls_suite){ KC_AES_GCM_256, 32, 4, MBEDTLS_MD_SHA384 };
		return true;
	case MBEDTLS_TLS1_3_CHACHA20_POLY1305_SHA256:
	case MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256:
	case MBEDTLS_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256:
		*s = (struct ktls_suite){ KC_CHACHA20_POLY1305, 32, 12, MBEDTLS_MD_SHA256 };
		return true;
	default:
		return false;
	}
}

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

static void
on_export_keys(void *arg, mbedtls_ssl_key_export_type type,
    const unsigned char *secret, size_t len, const unsigned char client_random[32],
    const unsigned char server_random[32], mbedtls_tls_prf_types prf)
{
	struct tls_conn *c = arg;
	struct tls_ktls_keys *k = c->keys;

	if (k == NULL || len > sizeof(k->client))
		return;
	switch (type) {
	case MBEDTLS_SSL_KEY_EXPORT_TLS1_3_CLIENT_APPLICATION_TRAFFIC_SECRET:
		memcpy(k->client, secret, len);
		k->secret_len = len;
		break;
	case MBEDTLS_SSL_KEY_EXPORT_TLS1_3_SERVER_APPLICATION_TRAFFIC_SECRET:
		memcpy(k->server, secret, len);
		k->secret_len = len;
		k->have13 = true;
		break;
	case MBEDTLS_SSL_KEY_EXPORT_TLS12_MASTER_SECRET:
		if (len != sizeof(k->master))
			return;
		memcpy(k->master, secret, len);
		memcpy(k->randbytes, client_random, 32);
		memcpy(k->randbytes + 32, server_random, 32);
		k->prf = prf;
		k->have12 = true;
		break;
	default:
		break;
	}
}

int
tls_ktls_watch(struct tls_conn *c)
{
	if ((c->keys = calloc(1, sizeof(*c->keys))) == NULL)
		return -1;
	mbedtls_ssl_set_export_keys_cb(&c->ssl, on_export_keys, c);
	return 0;
}

void
tls_ktls_forget(struct tls_conn *c)
{
	if (c->keys != NULL) {
		mbedtls_platform_zeroize(c->keys, sizeof(*c->keys));
		free(c->keys);
		c->keys = NULL;
	}
}

/* HKDF-Expand-Label(secret, label, "", out_len) of RFC 8446, 7.1. */
static int
expand_label(const mbedtls_md_info_t *md, const unsigned char *secret, size_t slen,
    const char *label, unsigned char *out, size_t out_len)
{
	unsigned char info[2 + 1 + 6 + 8 + 1];
	size_t llen = strlen(label), n = 0;

	info[n++] = (unsigned char)(out_len >> 8);
	info[n++] = (unsigned char)out_len;
	info[n++] = (unsigned char)(6 + llen);
	memcpy(info + n, "tls13 ", 6);
	n += 6;
	memcpy(info + n, label, llen);
	n += llen;
	info[n++] = 0;		/* empty context */
	return mbedtls_hkdf_expand(md, secret, slen, info, n, out, out_len);
}

/*
 * The kernel's crypto_info for one direction.  AES-GCM's nonce is a 4-byte
 * salt (iv[0..4)) and 8 more bytes (explicit8: the rest of TLS 1.3's IV, or
 * TLS 1.2's explicit nonce); ChaCha20-Poly1305's is iv[0..12) whole.
 */
static socklen_t
fill_info(union ktls_info *ci, bool v13, enum ktls_cipher kc,
    const unsigned char *key, const unsigned char *iv,
    const unsigned char *explicit8, const unsigned char *seq8)
{
	memset(ci, 0, sizeof(*ci));
	ci->info.version = v13 ? TLS_1_3_VERSION : TLS_1_2_VERSION;
	switch (kc) {
	case KC_AES_GCM_128:
		ci->info.cipher_type = TLS_CIPHER_AES_GCM_128;
		memcpy(ci->g128.key, key, 16);
		memcpy(ci->g128.salt, iv, 4);
		memcpy(ci->g128.iv, explicit8, 8);
		memcpy(ci->g128.rec_seq, seq8, 8);
		return sizeof(ci->g128);
	case KC_AES_GCM_256:
		ci->info.cipher_type = TLS_CIPHER_AES_GCM_256;
		memcpy(ci->g256.key, key, 32);
		memcpy(ci->g256.salt, iv, 4);
		memcpy(ci->g256.iv, explicit8, 8);
		memcpy(ci->g256.rec_seq, seq8, 8);
		return sizeof(ci->g256);
	case KC_CHACHA20_POLY1305:
		ci->info.cipher_type = TLS_CIPHER_CHACHA20_POLY1305;
		memcpy(ci->cc.key, key, 32);
		memcpy(ci->cc.iv, iv, 12);
		memcpy(ci->cc.rec_seq, seq8, 8);
		return sizeof(ci->cc);
	}
	return 0;
}

/*
 * Derives one direction's crypto_info: tx (our writes) or rx (the peer's),
 * starting at record number seq8.  Returns its size, or 0 if the session
 * cannot be offloaded (*why says why).
 */
static socklen_t
derive(struct tls_conn *c, bool tx, const unsigned char *seq8, union ktls_info *ci,
    const char **why)
{
	struct tls_ktls_keys *k = c->keys;
	bool client = c->ctx->role == TLS_ROLE_CLIENT;
	bool ours = tx == client;	/* the client's keys? */
	unsigned char key[32], iv[12], block[2 * 32 + 2 * 12];
	struct ktls_suite s;
	socklen_t n = 0;

	if (!ktls_suite(mbedtls_ssl_get_ciphersuite_id_from_ssl(&c->ssl), &s)) {
		*why = "ciphersuite not offloadable (kTLS takes AES-GCM and "
		    "ChaCha20-Poly1305)";
		return 0;
	}
	if (mbedtls_ssl_get_version_number(&c->ssl) == MBEDTLS_SSL_VERSION_TLS1_3) {
		const mbedtls_md_info_t *md = mbedtls_md_info_from_type(s.md);
		const unsigned char *secret = ours ? k->client : k->server;
		if (!k->have13) {
			*why = "traffic secrets were not exported";
			return 0;
		}
		if (expand_label(md, secret, k->secret_len, "key", key, s.key_len) != 0 ||
		    expand_label(md, secret, k->secret_len, "iv", iv, 12) != 0) {
			*why = "key derivation failed";
			return 0;
		}
		n = fill_info(ci, true, s.cipher, key, iv, iv + 4, seq8);
	} else {
		/* key_block = PRF(master, "key expansion", server_random ||
		 * client_random): client key, server key, client IV, server IV
		 * (AES-GCM: the nonce's 4-byte implicit part; ChaCha20-Poly1305,
		 * RFC 7905: all 12 bytes, mixed with the record number). */
		unsigned char rnd[64];
		size_t kl = s.key_len, ivl = s.fixed_iv_len;
		if (!k->have12) {
			*why = "master secret was not exported";
			return 0;
		}
		memcpy(rnd, k->randbytes + 32, 32);
		memcpy(rnd + 32, k->randbytes, 32);
		if (mbedtls_ssl_tls_prf(k->prf, k->master, sizeof(k->master),
		    "key expansion", rnd, sizeof(rnd), block, 2 * kl + 2 * ivl) != 0) {
			*why = "key derivation failed";
			return 0;
		}
		/* mbedTLS's explicit nonce is the record number: so is ours. */
		n = fill_info(ci, false, s.cipher, block + (ours ? 0 : kl),
		    block + 2 * kl + (ours ? 0 : ivl), seq8, seq8);
	}
	mbedtls_platform_zeroize(key, sizeof(key));
	mbedtls_platform_zeroize(iv, sizeof(iv));
	mbedtls_platform_zeroize(block, sizeof(block));
	return n;
}

static int
ulp(int fd, const char **why)
{
	if (setsockopt(fd, SOL_TCP, TCP_ULP, "tls", sizeof("tls")) == 0 || errno == EEXIST)
		return 0;
	*why = errno == ENOENT ? "the kernel has no tls ULP" : strerror(errno);
	return -1;
}

/* Once TX belongs to the kernel, mbedTLS must never write to the socket. */
static int
bio_send_refused(void *p, const unsigned char *buf, size_t len)
{
	(void)p;
	(void)buf;
	(void)len;
	return MBEDTLS_ERR_SSL_INTERNAL_ERROR;
}

int
tls_ktls_start_tx(struct tls_conn *c, const char **why)
{
	union ktls_info ci;
	socklen_t n;

	if (c->keys == NULL) {
		*why = "kTLS was not prepared for this session";
		return -1;
	}
	if (c->ssl.MBEDTLS_PRIVATE(out_left) != 0 || c->spill != NULL) {
		*why = "mbedTLS has unsent output";
		return -1;
	}
	if ((n = derive(c, true, c->ssl.MBEDTLS_PRIVATE(cur_out_ctr), &ci, why)) == 0 ||
	    ulp(c->fd, why) == -1)
		return -1;
	if (setsockopt(c->fd, SOL_TLS, TLS_TX, &ci, n) == -1) {
		mbedtls_platform_zeroize(&ci, sizeof(ci));
		*why = strerror(errno);
		return -1;
	}
	mbedtls_platform_zeroize(&ci, sizeof(ci));
	mbedtls_ssl_set_bio(&c->ssl, c, bio_send_refused,
	    c->ssl.MBEDTLS_PRIVATE(f_recv), NULL);
	c->ktls_tx = true;
	return 0;
}

bool
tls_ktls_rx_ready(const struct tls_conn *c)
{
	return !c->ktls_rx && c->ra == NULL && mbedtls_ssl_get_bytes_avail(&c->ssl) == 0 &&
	    !mbedtls_ssl_check_pending(&c->ssl) && c->ssl.MBEDTLS_PRIVATE(in_left) == 0;
}

/* With both directions in the kernel, mbedTLS's session has nothing left
 * to do: keep what logs and re-verification need, free the rest (tens of
 * KiB of record buffers per connection). */
static void
drop_mbedtls(struct tls_conn *c)
{
	const mbedtls_x509_crt *peer = mbedtls_ssl_get_peer_cert(&c->ssl);

	snprintf(c->version, sizeof(c->version), "%s", mbedtls_ssl_get_version(&c->ssl));
	snprintf(c->cipher, sizeof(c->cipher), "%s", mbedtls_ssl_get_ciphersuite(&c->ssl));
	/* A resumed session's certificate came with its ticket, already kept. */
	if (peer != NULL && c->peer_der == NULL &&
	    (c->peer_der = malloc(peer->raw.len)) != NULL) {
		memcpy(c->peer_der, peer->raw.p, peer->raw.len);
		c->peer_der_len = peer->raw.len;
	}
	tls_ktls_forget(c);
	mbedtls_ssl_free(&c->ssl);
	c->ssl_freed = true;
}

int
tls_ktls_start_rx(struct tls_conn *c, const char **why)
{
	union ktls_info ci;
	socklen_t n;

	if (!tls_ktls_rx_ready(c)) {
		*why = "mbedTLS holds received bytes";
		return -1;
	}
	if ((n = derive(c, false, c->ssl.MBEDTLS_PRIVATE(in_ctr), &ci, why)) == 0 ||
	    ulp(c->fd, why) == -1)
		return -1;
	if (setsockopt(c->fd, SOL_TLS, TLS_RX, &ci, n) == -1) {
		mbedtls_platform_zeroize(&ci, sizeof(ci));
		*why = strerror(errno);
		return -1;
	}
	mbedtls_platform_zeroize(&ci, sizeof(ci));
	c->ktls_rx = true;
	if (c->ktls_tx)
		drop_mbedtls(c);
	return 0;
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
