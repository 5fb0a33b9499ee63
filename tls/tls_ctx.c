/*
 * tls_ctx.c: per-thread TLS contexts built from a tls_material.
 *
 * A context is immutable once built (house rule 3, README): connections hold a
 * reference, a reload builds a new context beside the old one, and the old
 * one goes when its last connection does.  Keys are parsed per thread
 * because mbedTLS computes ECP tables lazily inside the key, unlocked.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/error.h>
#include <mbedtls/ssl_ciphersuites.h>
#include <mbedtls/version.h>
#include <psa/crypto.h>

#include "tls/tls_int.h"

/*
 * TLS 1.3's three AEAD suites, then TLS 1.2's ECDHE + AEAD suites, used only
 * when tls_min_version = 1.2.  Where the kernel or mtlsd's own layer
 * (libgcrypt) seals the records: AES-GCM first, the fastest of both
 * (AES-NI; libgcrypt ~6 GB/s a core here against ~3.3 for ChaCha20) and
 * offloaded by every kTLS kernel; ChaCha20-Poly1305 is offloaded from
 * Linux 5.11.
 */
static const int ciphersuites[] = {
	MBEDTLS_TLS1_3_AES_128_GCM_SHA256,
	MBEDTLS_TLS1_3_AES_256_GCM_SHA384,
	MBEDTLS_TLS1_3_CHACHA20_POLY1305_SHA256,
	MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	MBEDTLS_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	MBEDTLS_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	0
};

/* ktls = on: AES-GCM only, which every kernel with kTLS offloads
 * (ChaCha20-Poly1305 needs Linux 5.11). */
static const int ciphersuites_ktls[] = {
	MBEDTLS_TLS1_3_AES_128_GCM_SHA256,
	MBEDTLS_TLS1_3_AES_256_GCM_SHA384,
	MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	MBEDTLS_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	0
};

/*
 * Where mbedTLS's own record layer seals them: ChaCha20-Poly1305 first.  mbedTLS
 * seals 16 KiB records with it at 0.51 GB/s a core here, against 0.33 for
 * its AES-128-GCM (one block per call, GHASH apart), so the same CPU moves
 * half as much again.  A TLS 1.3 server takes the client's order.
 */
static const int ciphersuites_userspace[] = {
	MBEDTLS_TLS1_3_CHACHA20_POLY1305_SHA256,
	MBEDTLS_TLS1_3_AES_128_GCM_SHA256,
	MBEDTLS_TLS1_3_AES_256_GCM_SHA384,
	MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	MBEDTLS_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	MBEDTLS_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	0
};

/*
 * Key-exchange groups, P-256 first: mbedTLS computes a P-256 key share from
 * precomputed tables of the base point, so a P-256 exchange costs about a
 * fifth less CPU than an X25519 one (bench/gcmspeed times both).
 * That is most of the price of a resumed handshake.  A client offers a key
 * share for the first group only; a server takes the first share offered
 * that it supports, so an OpenSSL client's X25519 share costs no extra
 * round trip.
 */
static const uint16_t groups[] = {
	MBEDTLS_SSL_IANA_TLS_GROUP_SECP256R1,
	MBEDTLS_SSL_IANA_TLS_GROUP_X25519,
	MBEDTLS_SSL_IANA_TLS_GROUP_SECP384R1,
	MBEDTLS_SSL_IANA_TLS_GROUP_X448,
	MBEDTLS_SSL_IANA_TLS_GROUP_SECP521R1,
	MBEDTLS_SSL_IANA_TLS_GROUP_NONE
};

void
tls_error_set(struct tls_error *err, enum tls_file file, int ret,
    const char *fmt, ...)
{
	char why[160];
	va_list ap;
	int n;

	err->file = file;
	va_start(ap, fmt);
	n = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	if (ret != 0 && n >= 0 && (size_t)n < sizeof(err->msg)) {
		mbedtls_strerror(ret, why, sizeof(why));
		snprintf(err->msg + n, sizeof(err->msg) - (size_t)n, ": %s", why);
	}
}

int
tls_global_init(void)
{
	/* TLS 1.3's key schedule runs on PSA, even without MBEDTLS_USE_PSA_CRYPTO. */
	if (psa_crypto_init() != PSA_SUCCESS)
		return -1;
	return tls_rec_global_init();
}

/* A material's file as mbedTLS's parsers take it (its len counts the NUL). */
static size_t
blob_parse_len(const struct tls_blob *b)
{
	return tls_x509_parse_len(b->data, b->len - 1);
}

/* Every certificate of a PEM bundle (or the one DER) into chain: mbedTLS
 * skips those it cannot parse and counts them, and a skipped one is an
 * error here, named like the file's key ("certificate", "CA certificate"). */
static int
parse_certs(mbedtls_x509_crt *chain, const struct tls_blob *b, enum tls_file file,
    const char *what, struct tls_error *err)
{
	int ret = mbedtls_x509_crt_parse(chain, b->data, blob_parse_len(b));

	if (ret < 0)
		tls_error_set(err, file, ret, "cannot parse %s", what);
	else if (ret > 0)
		tls_error_set(err, file, 0, "%d %s(s) in the file could not be "
		    "parsed", ret, what);
	return ret == 0 ? 0 : -1;
}

static int
load_own(struct tls_ctx *ctx, const struct tls_material *m, struct tls_error *err)
{
	const char *pw = m->password;
	int ret;

	if (parse_certs(&ctx->own_chain, &m->cert, TLS_FILE_CERT, "certificate", err) == -1)
		return -1;
	ret = mbedtls_pk_parse_key(&ctx->own_key, m->key.data, blob_parse_len(&m->key),
	    (const unsigned char *)pw, pw ? strlen(pw) : 0,
	    mbedtls_ctr_drbg_random, &ctx->drbg);
	if (ret == MBEDTLS_ERR_PK_PASSWORD_REQUIRED) {
		tls_error_set(err, TLS_FILE_KEY, 0, "the key is encrypted; set "
		    "key_password_file");
		return -1;
	}
	/* A wrong password usually fails the padding check (MISMATCH); about
	 * one time in 256 the garbage it decrypts to pads correctly and fails
	 * as ASN.1 instead.  With a password given, both mean the same. */
	if (ret == MBEDTLS_ERR_PK_PASSWORD_MISMATCH || (ret != 0 && pw != NULL)) {
		tls_error_set(err, TLS_FILE_KEY_PASSWORD, 0,
		    ret == MBEDTLS_ERR_PK_PASSWORD_MISMATCH ? "wrong password for "
		    "the key" : "the key does not decrypt with this password (a "
		    "wrong password, or a damaged key)");
		return -1;
	}
	if (ret != 0) {
		tls_error_set(err, TLS_FILE_KEY, ret, "cannot parse private key");
		return -1;
	}
	ret = mbedtls_pk_check_pair(&ctx->own_chain.pk, &ctx->own_key,
	    mbedtls_ctr_drbg_random, &ctx->drbg);
	if (ret != 0) {
		tls_error_set(err, TLS_FILE_KEY, 0, "the key does not match the "
		    "certificate");
		return -1;
	}
	ret = mbedtls_ssl_conf_own_cert(&ctx->conf, &ctx->own_chain, &ctx->own_key);
	if (ret != 0) {
		tls_error_set(err, TLS_FILE_CERT, ret, "cannot use certificate");
		return -1;
	}
	return 0;
}

static int
load_trust(struct tls_ctx *ctx, const struct tls_material *m, struct tls_error *err)
{
	int ret;

	if (parse_certs(&ctx->ca, &m->ca, TLS_FILE_CA, "CA certificate", err) == -1)
		return -1;
	if (m->crl.data != NULL) {
		ret = mbedtls_x509_crl_parse(&ctx->crl, m->crl.data, blob_parse_len(&m->crl));
		if (ret != 0) {
			tls_error_set(err, TLS_FILE_CRL, ret, "cannot parse CRL");
			return -1;
		}
	}
	mbedtls_ssl_conf_ca_chain(&ctx->conf, &ctx->ca,
	    m->crl.data != NULL ? &ctx->crl : NULL);
	return 0;
}

static int
authmode(const struct tls_material *m)
{
	if (m->role == TLS_ROLE_CLIENT)
		return MBEDTLS_SSL_VERIFY_REQUIRED;
	switch (m->client_auth) {
	case TLS_AUTH_NONE:
		return MBEDTLS_SSL_VERIFY_NONE;
	case TLS_AUTH_OPTIONAL:
		/* An allow-list cannot match a peer without a certificate. */
		return m->npeers > 0 ? MBEDTLS_SSL_VERIFY_REQUIRED :
		    MBEDTLS_SSL_VERIFY_OPTIONAL;
	case TLS_AUTH_REQUIRE:
		break;
	}
	/* Set explicitly: mbedTLS's server default is VERIFY_NONE. */
	return MBEDTLS_SSL_VERIFY_REQUIRED;
}

struct tls_ctx *
tls_ctx_new(const struct tls_material *m, struct tls_error *err)
{
	static const char pers[] = "mtlsd tls_ctx";
	struct tls_ctx *ctx;
	int ret;

	memset(err, 0, sizeof(*err));
	if ((ctx = calloc(1, sizeof(*ctx))) == NULL) {
		tls_error_set(err, TLS_FILE_NONE, 0, "out of memory");
		return NULL;
	}
	ctx->refs = 1;
	ctx->role = m->role;
	ctx->crl_stale_refuse = m->crl_stale_refuse;
	ctx->want_ktls = m->want_ktls;
	ctx->want_own = m->want_own;
	ctx->key_limit = m->key_limit;
	mbedtls_ssl_config_init(&ctx->conf);
	mbedtls_x509_crt_init(&ctx->own_chain);
	mbedtls_pk_init(&ctx->own_key);
	mbedtls_x509_crt_init(&ctx->ca);
	mbedtls_x509_crl_init(&ctx->crl);
	mbedtls_entropy_init(&ctx->entropy);
	mbedtls_ctr_drbg_init(&ctx->drbg);
	mbedtls_gcm_init(&ctx->ticket_gcm);

	if (m->npeers > 0) {
		ctx->peers = malloc(m->npeers * sizeof(*ctx->peers));
		if (ctx->peers == NULL) {
			tls_error_set(err, TLS_FILE_NONE, 0, "out of memory");
			goto fail;
		}
		memcpy(ctx->peers, m->peers, m->npeers * sizeof(*ctx->peers));
		ctx->npeers = m->npeers;
	}
	ret = mbedtls_ctr_drbg_seed(&ctx->drbg, mbedtls_entropy_func, &ctx->entropy,
	    (const unsigned char *)pers, sizeof(pers) - 1);
	if (ret != 0) {
		tls_error_set(err, TLS_FILE_NONE, ret, "cannot seed the RNG");
		goto fail;
	}
	ret = mbedtls_ssl_config_defaults(&ctx->conf, m->role == TLS_ROLE_SERVER ?
	    MBEDTLS_SSL_IS_SERVER : MBEDTLS_SSL_IS_CLIENT,
	    MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT);
	if (ret != 0) {
		tls_error_set(err, TLS_FILE_NONE, ret, "cannot set TLS defaults");
		goto fail;
	}
	mbedtls_ssl_conf_rng(&ctx->conf, mbedtls_ctr_drbg_random, &ctx->drbg);
	mbedtls_ssl_conf_min_tls_version(&ctx->conf, m->min_version == 12 ?
	    MBEDTLS_SSL_VERSION_TLS1_2 : MBEDTLS_SSL_VERSION_TLS1_3);
	mbedtls_ssl_conf_max_tls_version(&ctx->conf, MBEDTLS_SSL_VERSION_TLS1_3);
	mbedtls_ssl_conf_ciphersuites(&ctx->conf, m->ktls_required ? ciphersuites_ktls :
	    m->want_own || (m->want_ktls && tls_ktls_available()) ? ciphersuites :
	    ciphersuites_userspace);
	mbedtls_ssl_conf_groups(&ctx->conf, groups);
	ctx->authmode = authmode(m);
	mbedtls_ssl_conf_authmode(&ctx->conf, ctx->authmode);
	mbedtls_ssl_conf_renegotiation(&ctx->conf, MBEDTLS_SSL_RENEGOTIATION_DISABLED);
	/* Servers keep the name a client asks for, for the audit trail; the
	 * certificate stays the route's whatever the name. */
	if (m->role == TLS_ROLE_SERVER)
		mbedtls_ssl_conf_sni(&ctx->conf, tls_peer_sni, NULL);
	/* Without resumption, a client asks for no tickets (a server sends
	 * none: it has no ticket callbacks). */
	if (m->role == TLS_ROLE_CLIENT && !m->resumption)
		mbedtls_ssl_conf_session_tickets(&ctx->conf,
		    MBEDTLS_SSL_SESSION_TICKETS_DISABLED);
	if (m->resumption && tls_ticket_ctx_init(ctx, m) == -1) {
		tls_error_set(err, TLS_FILE_NONE, 0, "cannot set up session tickets");
		goto fail;
	}
	if (m->cert.data != NULL && load_own(ctx, m, err) == -1)
		goto fail;
	if (m->ca.data != NULL && load_trust(ctx, m, err) == -1)
		goto fail;
	return ctx;
fail:
	tls_ctx_unref(ctx);
	return NULL;
}

void
tls_ctx_ref(struct tls_ctx *ctx)
{
	ctx->refs++;
}

void
tls_ctx_unref(struct tls_ctx *ctx)
{
	if (ctx == NULL || --ctx->refs > 0)
		return;
	mbedtls_ssl_config_free(&ctx->conf);
	mbedtls_x509_crt_free(&ctx->own_chain);
	mbedtls_pk_free(&ctx->own_key);
	mbedtls_x509_crt_free(&ctx->ca);
	mbedtls_x509_crl_free(&ctx->crl);
	mbedtls_ctr_drbg_free(&ctx->drbg);
	mbedtls_entropy_free(&ctx->entropy);
	tls_ticket_ctx_free(ctx);
	free(ctx->peers);
	free(ctx);
}

static pthread_once_t version_once = PTHREAD_ONCE_INIT;
static char version_full[32];	/* mbedTLS asks for at least 18 bytes */

static void
version_get(void)
{
	mbedtls_version_get_string_full(version_full);
}

const char *
tls_library_version(void)
{
	pthread_once(&version_once, version_get);
	return version_full;
}

const char *
tls_library_built_version(void)
{
	return MBEDTLS_VERSION_STRING;
}
