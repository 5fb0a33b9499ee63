/*
 * tls_keys.c: the hand-over from mbedTLS to a faster record layer, shared
 * by kernel TLS (tls_ktls.c) and mtlsd's own layer (tls_rec.c).
 *
 * mbedTLS does the handshake; after it, each direction's records can be
 * sealed and opened elsewhere.  What must line up exactly:
 *   keys      TLS 1.3: the application traffic secrets, exported by mbedTLS,
 *             expanded with HKDF-Expand-Label("key"/"iv").  TLS 1.2: the key
 *             block from the master secret with the PRF.
 *   sequence  the next record number each way, read from mbedTLS's record
 *             counters at the switch (a server's NewSessionTickets were
 *             written inside mbedtls_ssl_handshake() and are counted).
 *   buffers   nothing may wait inside mbedTLS at the switch: it reads one
 *             record at a time, never ahead (read-ahead stays off), and a
 *             pending record or unsent output refuses the switch.
 * Once both directions have left mbedTLS, its session is freed; the
 * connection keeps its identity, names and the peer's certificate (DER),
 * which re-authorization needs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/hkdf.h>
#include <mbedtls/md.h>
#include <mbedtls/platform_util.h>

#include "tls/tls_int.h"

/* Secrets captured during the handshake, wiped at the switch. */
struct tls_export {
	unsigned char client[48], server[48];	/* TLS 1.3 traffic secrets */
	size_t secret_len;
	unsigned char master[48];		/* TLS 1.2 */
	unsigned char randbytes[64];		/* client_random || server_random */
	mbedtls_tls_prf_types prf;
	bool have13, have12;
};

bool
tls_keys_suite(int id, enum tls_aead *aead, size_t *key_len, int *md)
{
	switch (id) {
	case MBEDTLS_TLS1_3_AES_128_GCM_SHA256:
	case MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256:
	case MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256:
		*aead = TLS_AEAD_AES_128_GCM, *key_len = 16, *md = MBEDTLS_MD_SHA256;
		return true;
	case MBEDTLS_TLS1_3_AES_256_GCM_SHA384:
	case MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384:
	case MBEDTLS_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384:
		*aead = TLS_AEAD_AES_256_GCM, *key_len = 32, *md = MBEDTLS_MD_SHA384;
		return true;
	case MBEDTLS_TLS1_3_CHACHA20_POLY1305_SHA256:
	case MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256:
	case MBEDTLS_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256:
		*aead = TLS_AEAD_CHACHA20_POLY1305, *key_len = 32, *md = MBEDTLS_MD_SHA256;
		return true;
	default:
		return false;
	}
}

static void
on_export_keys(void *arg, mbedtls_ssl_key_export_type type,
    const unsigned char *secret, size_t len, const unsigned char client_random[32],
    const unsigned char server_random[32], mbedtls_tls_prf_types prf)
{
	struct tls_conn *c = arg;
	struct tls_export *k = c->keys;

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
tls_keys_watch(struct tls_conn *c)
{
	if ((c->keys = calloc(1, sizeof(*c->keys))) == NULL)
		return -1;
	mbedtls_ssl_set_export_keys_cb(&c->ssl, on_export_keys, c);
	return 0;
}

void
tls_keys_forget(struct tls_conn *c)
{
	if (c->keys != NULL) {
		mbedtls_platform_zeroize(c->keys, sizeof(*c->keys));
		free(c->keys);
		c->keys = NULL;
	}
}

void
tls_dir_keys_wipe(struct tls_dir_keys *k)
{
	mbedtls_platform_zeroize(k, sizeof(*k));
}

/* HKDF-Expand-Label(secret, label, "", out_len) of RFC 8446, 7.1. */
static int
expand_label(const mbedtls_md_info_t *md, const unsigned char *secret, size_t slen,
    const char *label, unsigned char *out, size_t out_len)
{
	unsigned char info[2 + 1 + 6 + 12 + 1];
	size_t llen = strlen(label), n = 0;

	if (llen > 12)
		return -1;
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

int
tls_dir_keys_from_secret(struct tls_dir_keys *k)
{
	const mbedtls_md_info_t *md = mbedtls_md_info_from_type((mbedtls_md_type_t)k->md);

	if (md == NULL ||
	    expand_label(md, k->secret, k->secret_len, "key", k->key, k->key_len) != 0 ||
	    expand_label(md, k->secret, k->secret_len, "iv", k->iv, 12) != 0)
		return -1;
	return 0;
}

int
tls_dir_keys_update(struct tls_dir_keys *k)
{
	const mbedtls_md_info_t *md = mbedtls_md_info_from_type((mbedtls_md_type_t)k->md);
	unsigned char next[48];

	/* RFC 8446, 7.2: application_traffic_secret_N+1 =
	 * HKDF-Expand-Label(application_traffic_secret_N, "traffic upd", "", Hash.length) */
	if (md == NULL || !k->v13 ||
	    expand_label(md, k->secret, k->secret_len, "traffic upd", next,
	    k->secret_len) != 0)
		return -1;
	memcpy(k->secret, next, k->secret_len);
	mbedtls_platform_zeroize(next, sizeof(next));
	k->seq = 0;
	return tls_dir_keys_from_secret(k);
}

int
tls_keys_derive(struct tls_conn *c, bool tx, struct tls_dir_keys *out, const char **why)
{
	struct tls_export *k = c->keys;
	bool client = c->ctx->role == TLS_ROLE_CLIENT;
	bool ours = tx == client;	/* the client's keys? */
	unsigned char block[2 * 32 + 2 * 12];
	int md;

	memset(out, 0, sizeof(*out));
	if (k == NULL) {
		*why = "keys were not exported for this session";
		return -1;
	}
	if (!tls_keys_suite(mbedtls_ssl_get_ciphersuite_id_from_ssl(&c->ssl),
	    &out->aead, &out->key_len, &md)) {
		*why = "ciphersuite not supported (AES-GCM and ChaCha20-Poly1305 are)";
		return -1;
	}
	out->md = md;
	out->seq = tls_mbed_seq(&c->ssl, tx);
	if (mbedtls_ssl_get_version_number(&c->ssl) == MBEDTLS_SSL_VERSION_TLS1_3) {
		if (!k->have13) {
			*why = "traffic secrets were not exported";
			return -1;
		}
		out->v13 = true;
		memcpy(out->secret, ours ? k->client : k->server, k->secret_len);
		out->secret_len = k->secret_len;
		if (tls_dir_keys_from_secret(out) == -1) {
			tls_dir_keys_wipe(out);
			*why = "key derivation failed";
			return -1;
		}
		return 0;
	}
	/* key_block = PRF(master, "key expansion", server_random ||
	 * client_random): client key, server key, client IV, server IV
	 * (AES-GCM: the nonce's 4-byte implicit part, RFC 5288; ChaCha20-
	 * Poly1305, RFC 7905: all 12 bytes, mixed with the record number). */
	{
		unsigned char rnd[64];
		size_t kl = out->key_len;
		size_t ivl = out->aead == TLS_AEAD_CHACHA20_POLY1305 ? 12 : 4;
		if (!k->have12) {
			*why = "master secret was not exported";
			return -1;
		}
		memcpy(rnd, k->randbytes + 32, 32);
		memcpy(rnd + 32, k->randbytes, 32);
		if (mbedtls_ssl_tls_prf(k->prf, k->master, sizeof(k->master),
		    "key expansion", rnd, sizeof(rnd), block, 2 * kl + 2 * ivl) != 0) {
			*why = "key derivation failed";
			return -1;
		}
		memcpy(out->key, block + (ours ? 0 : kl), kl);
		memcpy(out->iv, block + 2 * kl + (ours ? 0 : ivl), ivl);
		mbedtls_platform_zeroize(block, sizeof(block));
	}
	return 0;
}

bool
tls_conn_rx_ready(const struct tls_conn *c)
{
	return !c->ssl_freed && c->rx_layer == TLS_LAYER_MBEDTLS && c->ra == NULL &&
	    mbedtls_ssl_get_bytes_avail(&c->ssl) == 0 &&
	    !mbedtls_ssl_check_pending(&c->ssl) && tls_mbed_part_read(&c->ssl) == 0;
}

/* Whether TX may leave mbedTLS now: nothing of it unsent. */
static bool
tx_ready(const struct tls_conn *c, const char **why)
{
	if (c->keys == NULL) {
		*why = "keys were not exported for this session";
		return false;
	}
	if (tls_mbed_unsent(&c->ssl) != 0 || c->spill != NULL) {
		*why = "mbedTLS has unsent output";
		return false;
	}
	return true;
}

/* With both directions out of mbedTLS, its session has nothing left to
 * do: keep what logs and re-verification need, free the rest (tens of KiB
 * of record buffers per connection).  Whichever switch comes second. */
static void
drop_mbedtls(struct tls_conn *c)
{
	const mbedtls_x509_crt *peer;

	if (c->tx_layer == TLS_LAYER_MBEDTLS || c->rx_layer == TLS_LAYER_MBEDTLS ||
	    c->ssl_freed)
		return;
	peer = mbedtls_ssl_get_peer_cert(&c->ssl);
	snprintf(c->version, sizeof(c->version), "%s", mbedtls_ssl_get_version(&c->ssl));
	snprintf(c->cipher, sizeof(c->cipher), "%s", mbedtls_ssl_get_ciphersuite(&c->ssl));
	/* A resumed session's certificate came with its ticket, already kept. */
	if (peer != NULL && c->peer_der == NULL &&
	    (c->peer_der = malloc(peer->raw.len)) != NULL) {
		memcpy(c->peer_der, peer->raw.p, peer->raw.len);
		c->peer_der_len = peer->raw.len;
	}
	tls_keys_forget(c);
	mbedtls_ssl_free(&c->ssl);
	c->ssl_freed = true;
	free(c->ra);
	c->ra = NULL;
}

int
tls_keys_hand_over(struct tls_conn *c, bool tx, enum tls_layer layer,
    int (*take)(struct tls_conn *c, bool tx, const char **why), const char **why)
{
	if (tx ? !tx_ready(c, why) : !tls_conn_rx_ready(c)) {
		if (!tx)
			*why = "mbedTLS holds received bytes";
		return -1;
	}
	if (take(c, tx, why) == -1)
		return -1;
	if (tx) {
		/* From now on mbedTLS must never write to the socket. */
		tls_conn_bio_tx_off(c);
		c->tx_layer = layer;
	} else {
		c->rx_layer = layer;
	}
	drop_mbedtls(c);
	return 0;
}
