/*
 * aead.c: `mtlsd-bench aead`, the AEADs' own speed on one core: the ceilings
 * of mtlsd's user-space record layers and of the peers.
 *
 * Seals 16 KiB records (a full TLS record's plaintext), each figure for
 * --seconds: libgcrypt's AES-128-GCM, AES-256-GCM and ChaCha20-Poly1305 in
 * place on one open handle, the calls tls/tls_rec.c makes per record
 * (setiv, the 5-byte header as AAD, final, encrypt, gettag); mbedTLS's
 * AES-128-GCM and ChaCha20-Poly1305 (what its mbedtls_cipher record path
 * calls).  A figure is the best 100 ms slice: what one core does when
 * nothing else takes it.  Then, for half as long each, one side of an
 * X25519 and of a P-256 key exchange through PSA, the cost a resumed
 * handshake keeps.  One JSON object, bytes or exchanges per second.
 */
#include <stdio.h>
#include <string.h>

#include <gcrypt.h>
#include <mbedtls/chachapoly.h>
#include <mbedtls/gcm.h>
#include <mbedtls/version.h>
#include <psa/crypto.h>

#include "bench/bench.h"

#define REC	16384
#define TAG	16
#define SLICE	100000000u	/* ns per timed slice */

enum aead_kind { A_GCRY, A_MBED_GCM, A_MBED_CHACHA };

struct aead {
	enum aead_kind kind;
	gcry_cipher_hd_t h;
	mbedtls_gcm_context gcm;
	mbedtls_chachapoly_context cp;
	unsigned char in[REC], out[REC], iv[12], tag[TAG];
};

/* Seals record n (a fresh nonce each): 0 or -1. */
static int
seal(struct aead *a, uint64_t n)
{
	static const unsigned char hdr[5] = { 23, 3, 3, 0x40, 0x11 };

	a->iv[0] = (unsigned char)n;
	switch (a->kind) {
	case A_GCRY:
		return gcry_cipher_setiv(a->h, a->iv, sizeof(a->iv)) == 0 &&
		    gcry_cipher_authenticate(a->h, hdr, sizeof(hdr)) == 0 &&
		    gcry_cipher_final(a->h) == 0 &&
		    gcry_cipher_encrypt(a->h, a->in, REC, NULL, 0) == 0 &&
		    gcry_cipher_gettag(a->h, a->tag, TAG) == 0 ? 0 : -1;
	case A_MBED_GCM:
		return mbedtls_gcm_crypt_and_tag(&a->gcm, MBEDTLS_GCM_ENCRYPT,
		    REC, a->iv, sizeof(a->iv), hdr, sizeof(hdr), a->in, a->out,
		    TAG, a->tag) == 0 ? 0 : -1;
	case A_MBED_CHACHA:
		return mbedtls_chachapoly_encrypt_and_tag(&a->cp, REC, a->iv,
		    hdr, sizeof(hdr), a->in, a->out, a->tag) == 0 ? 0 : -1;
	}
	return -1;
}

/* The best slice's bytes per second over secs, or -1 if sealing failed. */
static double
best_Bps(struct aead *a, double secs)
{
	uint64_t t0 = bench_now_ns(), ts, t, n = 0, ns;
	double best = 0;

	do {
		ts = bench_now_ns();
		for (ns = 0; (t = bench_now_ns() - ts) < SLICE; )
			for (int k = 0; k < 8; k++, ns++)
				if (seal(a, n + ns) == -1)
					return -1;
		if ((double)ns * REC * 1e9 / t > best)
			best = (double)ns * REC * 1e9 / t;
		n += ns;
	} while (bench_now_ns() - t0 < secs * 1e9);
	return best;
}

static double
gcry_Bps(struct aead *a, int algo, int mode, size_t keylen, double secs)
{
	static const unsigned char key[32] = { 0x42 };
	double v = -1;

	a->kind = A_GCRY;
	if (gcry_cipher_open(&a->h, algo, mode, 0) != 0)
		return -1;
	if (gcry_cipher_setkey(a->h, key, keylen) == 0)
		v = best_Bps(a, secs);
	gcry_cipher_close(a->h);
	return v;
}

/* One side of a TLS 1.3 (EC)DHE exchange as mbedTLS's handshake makes it
 * through PSA: a key share made, exported, agreed with the peer's.  Per
 * second over secs, or 0 where the group is missing. */
static double
ecdhe_per_s(psa_ecc_family_t family, size_t bits, double secs)
{
	psa_key_attributes_t attr = PSA_KEY_ATTRIBUTES_INIT;
	psa_key_id_t peer, k;
	unsigned char pub[160], share[160], secret[80];
	size_t pub_len, share_len, secret_len;
	uint64_t n = 0, t0;
	int ok;

	psa_set_key_type(&attr, PSA_KEY_TYPE_ECC_KEY_PAIR(family));
	psa_set_key_bits(&attr, bits);
	psa_set_key_usage_flags(&attr, PSA_KEY_USAGE_DERIVE);
	psa_set_key_algorithm(&attr, PSA_ALG_ECDH);
	if (psa_generate_key(&attr, &peer) != PSA_SUCCESS)
		return 0;
	ok = psa_export_public_key(peer, pub, sizeof(pub), &pub_len) == PSA_SUCCESS;
	for (t0 = bench_now_ns(); ok && bench_now_ns() - t0 < secs * 1e9; n++) {
		if (psa_generate_key(&attr, &k) != PSA_SUCCESS)
			break;
		ok = psa_export_public_key(k, share, sizeof(share), &share_len) ==
		    PSA_SUCCESS && psa_raw_key_agreement(PSA_ALG_ECDH, k, pub,
		    pub_len, secret, sizeof(secret), &secret_len) == PSA_SUCCESS;
		psa_destroy_key(k);
	}
	psa_destroy_key(peer);
	return ok ? n * 1e9 / (bench_now_ns() - t0) : 0;
}

int
aead_run(const struct bench_opts *o)
{
	static struct aead a;
	static const unsigned char key[32] = { 0x42 };
	double s = o->seconds, g128, g256, gcp, mgcm = -1, mcp = -1, x, p;
	char ver[32];

	memset(a.in, 0x5a, sizeof(a.in));
	if (gcry_check_version(GCRYPT_VERSION) == NULL ||
	    psa_crypto_init() != PSA_SUCCESS) {
		bench_warnx("aead: libgcrypt or PSA did not initialize");
		return -1;
	}
	gcry_control(GCRYCTL_DISABLE_SECMEM, 0);
	gcry_control(GCRYCTL_INITIALIZATION_FINISHED, 0);
	g128 = gcry_Bps(&a, GCRY_CIPHER_AES128, GCRY_CIPHER_MODE_GCM, 16, s);
	g256 = gcry_Bps(&a, GCRY_CIPHER_AES256, GCRY_CIPHER_MODE_GCM, 32, s);
	gcp = gcry_Bps(&a, GCRY_CIPHER_CHACHA20, GCRY_CIPHER_MODE_POLY1305, 32, s);
	mbedtls_gcm_init(&a.gcm);
	a.kind = A_MBED_GCM;
	if (mbedtls_gcm_setkey(&a.gcm, MBEDTLS_CIPHER_ID_AES, key, 128) == 0)
		mgcm = best_Bps(&a, s);
	mbedtls_gcm_free(&a.gcm);
	mbedtls_chachapoly_init(&a.cp);
	a.kind = A_MBED_CHACHA;
	if (mbedtls_chachapoly_setkey(&a.cp, key) == 0)
		mcp = best_Bps(&a, s);
	mbedtls_chachapoly_free(&a.cp);
	x = ecdhe_per_s(PSA_ECC_FAMILY_MONTGOMERY, 255, s / 2);
	p = ecdhe_per_s(PSA_ECC_FAMILY_SECP_R1, 256, s / 2);
	mbedtls_psa_crypto_free();
	if (g128 < 0 || g256 < 0 || gcp < 0 || mgcm < 0 || mcp < 0) {
		bench_warnx("aead: a cipher failed");
		return -1;
	}
	mbedtls_version_get_string(ver);
	printf("{\"mbedtls\":\"%s\",\"libgcrypt\":\"%s\",\"record\":%d,"
	    "\"seconds\":%.1f,\"gcry_aes128gcm_Bps\":%.0f,"
	    "\"gcry_aes256gcm_Bps\":%.0f,\"gcry_chachapoly_Bps\":%.0f,"
	    "\"mbedtls_aes128gcm_Bps\":%.0f,\"mbedtls_chachapoly_Bps\":%.0f,"
	    "\"ecdhe_x25519_per_s\":%.0f,\"ecdhe_p256_per_s\":%.0f}\n", ver,
	    gcry_check_version(NULL), REC, s, g128, g256, gcp, mgcm, mcp, x, p);
	return 0;
}
