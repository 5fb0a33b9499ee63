/*
 * gcmspeed.c: the AEADs' own speed on one core, the references the benchmark
 * holds mtlsd's user-space record layers to: libgcrypt's AES-128-GCM,
 * AES-256-GCM and ChaCha20-Poly1305 (what record_layer = libgcrypt seals
 * with; AES-128-GCM is what it offers first), and mbedTLS's AES-128-GCM (the
 * figure issue 5's target names) and ChaCha20-Poly1305 (what record_layer =
 * mbedtls offers first).
 *
 *   gcmspeed [SECONDS]     (default 2 per figure)
 *
 * Times five loops over 16 KiB records (a full TLS record's plaintext), each
 * for SECONDS: mbedtls_gcm_crypt_and_tag (encrypt), mbedtls_gcm_auth_decrypt
 * (decrypt and check the tag), mbedtls_chachapoly_encrypt_and_tag and
 * mbedtls_chachapoly_auth_decrypt (the same for ChaCha20-Poly1305; what
 * mbedtls_cipher calls for that suite), and psa_aead_encrypt with GCM (the
 * path TLS 1.3 records take in mbedTLS 3.6 only when it is built with
 * MBEDTLS_USE_PSA_CRYPTO; otherwise they go through mbedtls_cipher, i.e. the
 * direct loops: bench/measure.sh's mbedtls_check tells which from
 * libmbedtls's symbols).
 * Prints one JSON object, bytes per second:
 * for each, the best 100 ms slice (what one core can do when nothing else
 * takes it; the figure the benchmark compares with) and the mean.  The GCM
 * keys (encrypt_Bps, decrypt_Bps, psa_encrypt_Bps and their _mean_Bps) keep
 * their names from before ChaCha20-Poly1305 was timed; its keys start with
 * chachapoly_.  Then, for SECONDS/2 each, one side of an X25519 and of a
 * P-256 key exchange through PSA (ecdhe_x25519_per_s, ecdhe_p256_per_s):
 * the cost a resumed handshake keeps, and why mtlsd offers P-256 first.
 * Then libgcrypt sealing 16 KiB records as tls/tls_rec.c's seal() does, in
 * place on one open handle: gcry_cipher_setiv, _authenticate (the 5-byte
 * record header as AAD), _final, _encrypt, _gettag per record
 * (gcry_aes128gcm_encrypt_Bps, gcry_aes256gcm_..., gcry_chachapoly_...,
 * each with _mean_Bps; libgcrypt: its version).
 *
 * Built by bench/run.sh, not by the Makefile: each .c file directly in
 * bench/ links into mtlsd-bench, which never links mbedTLS.
 */
#define _POSIX_C_SOURCE 200809L

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gcrypt.h>
#include <mbedtls/chachapoly.h>
#include <mbedtls/gcm.h>
#include <mbedtls/version.h>
#include <psa/crypto.h>

#define REC	16384
#define TAG	16

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#define SLICE	0.1	/* seconds per timed slice */

/* What one timed loop does per record; returns 0 or -1. */
typedef int (*op_fn)(void *arg, uint64_t n);

/* Runs op for secs in SLICE slices; *best and *mean in bytes per second. */
static int
timeit(op_fn op, void *arg, double secs, double *best, double *mean)
{
	double t0 = now(), ts, t;
	uint64_t n = 0, ns;

	*best = 0;
	do {
		ts = now();
		ns = 0;
		do {
			for (int k = 0; k < 8; k++, ns++)
				if (op(arg, n + ns) == -1)
					return -1;
		} while ((t = now() - ts) < SLICE);
		if ((double)ns * REC / t > *best)
			*best = (double)ns * REC / t;
		n += ns;
	} while (now() - t0 < secs);
	*mean = (double)n * REC / (now() - t0);
	return 0;
}

struct gcm_arg {
	mbedtls_gcm_context gcm;
	unsigned char *in, *out, *back, iv[12], tag[TAG];
};

static int
op_encrypt(void *arg, uint64_t n)
{
	struct gcm_arg *a = arg;

	a->iv[0] = (unsigned char)n;	/* a fresh nonce per record */
	return mbedtls_gcm_crypt_and_tag(&a->gcm, MBEDTLS_GCM_ENCRYPT, REC,
	    a->iv, sizeof(a->iv), NULL, 0, a->in, a->out, TAG, a->tag) == 0 ?
	    0 : -1;
}

static int
op_decrypt(void *arg, uint64_t n)
{
	struct gcm_arg *a = arg;

	(void)n;	/* the same record each time: its tag must verify */
	if (mbedtls_gcm_auth_decrypt(&a->gcm, REC, a->iv, sizeof(a->iv), NULL,
	    0, a->tag, TAG, a->out, a->back) != 0) {
		fprintf(stderr, "gcmspeed: tag check failed\n");
		return -1;
	}
	return 0;
}

struct cp_arg {
	mbedtls_chachapoly_context cp;
	unsigned char *in, *out, *back, iv[12], tag[TAG];
};

static int
op_cp_encrypt(void *arg, uint64_t n)
{
	struct cp_arg *a = arg;

	a->iv[0] = (unsigned char)n;
	return mbedtls_chachapoly_encrypt_and_tag(&a->cp, REC, a->iv, NULL, 0,
	    a->in, a->out, a->tag) == 0 ? 0 : -1;
}

static int
op_cp_decrypt(void *arg, uint64_t n)
{
	struct cp_arg *a = arg;

	(void)n;
	if (mbedtls_chachapoly_auth_decrypt(&a->cp, REC, a->iv, NULL, 0, a->tag,
	    a->out, a->back) != 0) {
		fprintf(stderr, "gcmspeed: ChaCha20-Poly1305 tag check failed\n");
		return -1;
	}
	return 0;
}

struct psa_arg {
	psa_key_id_t kid;
	unsigned char *in, *out, iv[12];
};

static int
op_psa(void *arg, uint64_t n)
{
	struct psa_arg *a = arg;
	size_t olen;

	a->iv[0] = (unsigned char)n;
	return psa_aead_encrypt(a->kid, PSA_ALG_GCM, a->iv, sizeof(a->iv), NULL,
	    0, a->in, REC, a->out, REC + TAG, &olen) == PSA_SUCCESS ? 0 : -1;
}

struct gcry_arg {
	gcry_cipher_hd_t h;
	unsigned char *buf, iv[12], aad[5], tag[TAG];
};

/* One record sealed in place, the calls tls_rec.c's seal() makes. */
static int
op_gcry(void *arg, uint64_t n)
{
	struct gcry_arg *a = arg;

	a->iv[0] = (unsigned char)n;
	return gcry_cipher_setiv(a->h, a->iv, sizeof(a->iv)) == 0 &&
	    gcry_cipher_authenticate(a->h, a->aad, sizeof(a->aad)) == 0 &&
	    gcry_cipher_final(a->h) == 0 &&
	    gcry_cipher_encrypt(a->h, a->buf, REC, NULL, 0) == 0 &&
	    gcry_cipher_gettag(a->h, a->tag, TAG) == 0 ? 0 : -1;
}

/* libgcrypt's algo in mode with a keylen-byte key: best and mean, or -1. */
static int
gcry_time(int algo, int mode, const unsigned char *key, size_t keylen,
    unsigned char *buf, double secs, double *best, double *mean)
{
	struct gcry_arg a = { .buf = buf, .aad = { 23, 3, 3, 0x40, 0x11 } };
	int rc;

	memset(a.iv, 0x24, sizeof(a.iv));
	if (gcry_cipher_open(&a.h, algo, mode, 0) != 0)
		return -1;
	rc = gcry_cipher_setkey(a.h, key, keylen) == 0 ?
	    timeit(op_gcry, &a, secs, best, mean) : -1;
	gcry_cipher_close(a.h);
	return rc;
}

/*
 * One side of a TLS 1.3 (EC)DHE exchange, as mbedTLS's handshake does it
 * through PSA: make a key share, export it, agree with the peer's.  Returns
 * exchanges a second over secs, or 0 if the group is not there.
 */
static double
ecdhe_per_s(psa_ecc_family_t family, size_t bits, double secs)
{
	psa_key_attributes_t attr = PSA_KEY_ATTRIBUTES_INIT;
	psa_key_id_t peer, k;
	unsigned char pub[160], share[160], secret[80];
	size_t pub_len, share_len, secret_len;
	uint64_t n = 0;
	double t0;

	psa_set_key_type(&attr, PSA_KEY_TYPE_ECC_KEY_PAIR(family));
	psa_set_key_bits(&attr, bits);
	psa_set_key_usage_flags(&attr, PSA_KEY_USAGE_DERIVE);
	psa_set_key_algorithm(&attr, PSA_ALG_ECDH);
	if (psa_generate_key(&attr, &peer) != PSA_SUCCESS)
		return 0;
	if (psa_export_public_key(peer, pub, sizeof(pub), &pub_len) != PSA_SUCCESS) {
		psa_destroy_key(peer);
		return 0;
	}
	t0 = now();
	do {
		if (psa_generate_key(&attr, &k) != PSA_SUCCESS)
			break;
		if (psa_export_public_key(k, share, sizeof(share), &share_len) !=
		    PSA_SUCCESS || psa_raw_key_agreement(PSA_ALG_ECDH, k, pub,
		    pub_len, secret, sizeof(secret), &secret_len) != PSA_SUCCESS) {
			psa_destroy_key(k);
			break;
		}
		psa_destroy_key(k);
		n++;
	} while (now() - t0 < secs);
	psa_destroy_key(peer);
	return (double)n / (now() - t0);
}

int
main(int argc, char **argv)
{
	static unsigned char in[REC], out[REC + TAG], back[REC];
	static struct gcm_arg g;
	static struct cp_arg c;
	struct psa_arg pa = { .in = in, .out = out };
	psa_key_attributes_t attr = PSA_KEY_ATTRIBUTES_INIT;
	unsigned char key[32];	/* AES-128 takes the first 16 bytes */
	double secs = argc > 1 ? atof(argv[1]) : 2.0;
	double enc, enc_m, dec, dec_m, cenc, cenc_m, cdec, cdec_m;
	double psa = 0, psa_m = 0, x25519 = 0, p256 = 0;
	double g128, g128_m, g256, g256_m, gcp, gcp_m;
	char ver[32];

	if (secs <= 0)
		secs = 2.0;
	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (unsigned char)(i * 131 + 7);
	memset(key, 0x42, sizeof(key));
	g.in = c.in = in;
	g.out = c.out = out;
	g.back = c.back = back;
	memset(g.iv, 0x24, sizeof(g.iv));
	memcpy(c.iv, g.iv, sizeof(c.iv));
	memcpy(pa.iv, g.iv, sizeof(pa.iv));
	mbedtls_gcm_init(&g.gcm);
	if (mbedtls_gcm_setkey(&g.gcm, MBEDTLS_CIPHER_ID_AES, key, 128) != 0) {
		fprintf(stderr, "gcmspeed: mbedtls_gcm_setkey failed\n");
		return 1;
	}

	/* Encrypt: the sending proxy's work per record. */
	if (timeit(op_encrypt, &g, secs, &enc, &enc_m) == -1)
		return 1;
	/* Decrypt and verify: the receiving proxy's; one known-good record. */
	if (op_encrypt(&g, 0) == -1 ||
	    timeit(op_decrypt, &g, secs, &dec, &dec_m) == -1)
		return 1;
	if (memcmp(in, back, REC) != 0) {
		fprintf(stderr, "gcmspeed: decrypt gave other bytes\n");
		return 1;
	}
	mbedtls_gcm_free(&g.gcm);

	/* The same two for ChaCha20-Poly1305; back is cleared so that its
	 * decrypt is checked on its own. */
	memset(back, 0, sizeof(back));
	mbedtls_chachapoly_init(&c.cp);
	if (mbedtls_chachapoly_setkey(&c.cp, key) != 0) {
		fprintf(stderr, "gcmspeed: mbedtls_chachapoly_setkey failed\n");
		return 1;
	}
	if (timeit(op_cp_encrypt, &c, secs, &cenc, &cenc_m) == -1 ||
	    op_cp_encrypt(&c, 0) == -1 ||
	    timeit(op_cp_decrypt, &c, secs, &cdec, &cdec_m) == -1)
		return 1;
	if (memcmp(in, back, REC) != 0) {
		fprintf(stderr, "gcmspeed: ChaCha20-Poly1305 decrypt gave other bytes\n");
		return 1;
	}
	mbedtls_chachapoly_free(&c.cp);

	/* PSA AEAD, as TLS 1.3 records are protected with MBEDTLS_USE_PSA_CRYPTO. */
	if (psa_crypto_init() == PSA_SUCCESS) {
		psa_set_key_usage_flags(&attr, PSA_KEY_USAGE_ENCRYPT);
		psa_set_key_algorithm(&attr, PSA_ALG_GCM);
		psa_set_key_type(&attr, PSA_KEY_TYPE_AES);
		psa_set_key_bits(&attr, 128);
		if (psa_import_key(&attr, key, 16, &pa.kid) == PSA_SUCCESS) {
			if (timeit(op_psa, &pa, secs, &psa, &psa_m) == -1)
				psa = psa_m = 0;
			psa_destroy_key(pa.kid);
		}
		/* The key exchange a resumed handshake still makes: mtlsd
		 * offers P-256 first for it. */
		x25519 = ecdhe_per_s(PSA_ECC_FAMILY_MONTGOMERY, 255, secs / 2);
		p256 = ecdhe_per_s(PSA_ECC_FAMILY_SECP_R1, 256, secs / 2);
		mbedtls_psa_crypto_free();
	}

	/* libgcrypt, initialized as tls_rec.c does; in is sealed in place. */
	if (gcry_check_version(GCRYPT_VERSION) == NULL) {
		fprintf(stderr, "gcmspeed: libgcrypt is older than its headers\n");
		return 1;
	}
	gcry_control(GCRYCTL_DISABLE_SECMEM, 0);
	gcry_control(GCRYCTL_INITIALIZATION_FINISHED, 0);
	if (gcry_time(GCRY_CIPHER_AES128, GCRY_CIPHER_MODE_GCM, key, 16, in,
	    secs, &g128, &g128_m) == -1 ||
	    gcry_time(GCRY_CIPHER_AES256, GCRY_CIPHER_MODE_GCM, key, 32, in,
	    secs, &g256, &g256_m) == -1 ||
	    gcry_time(GCRY_CIPHER_CHACHA20, GCRY_CIPHER_MODE_POLY1305, key, 32,
	    in, secs, &gcp, &gcp_m) == -1) {
		fprintf(stderr, "gcmspeed: a libgcrypt cipher failed\n");
		return 1;
	}

	mbedtls_version_get_string(ver);
	printf("{\"mbedtls\":\"%s\",\"record\":%d,\"seconds\":%.1f,"
	    "\"slice\":%.1f,\"encrypt_Bps\":%.0f,\"decrypt_Bps\":%.0f,"
	    "\"psa_encrypt_Bps\":%.0f,\"encrypt_mean_Bps\":%.0f,"
	    "\"decrypt_mean_Bps\":%.0f,\"psa_encrypt_mean_Bps\":%.0f,"
	    "\"chachapoly_encrypt_Bps\":%.0f,\"chachapoly_decrypt_Bps\":%.0f,"
	    "\"chachapoly_encrypt_mean_Bps\":%.0f,"
	    "\"chachapoly_decrypt_mean_Bps\":%.0f,"
	    "\"ecdhe_x25519_per_s\":%.0f,\"ecdhe_p256_per_s\":%.0f,"
	    "\"libgcrypt\":\"%s\",\"gcry_aes128gcm_encrypt_Bps\":%.0f,"
	    "\"gcry_aes128gcm_encrypt_mean_Bps\":%.0f,"
	    "\"gcry_aes256gcm_encrypt_Bps\":%.0f,"
	    "\"gcry_aes256gcm_encrypt_mean_Bps\":%.0f,"
	    "\"gcry_chachapoly_encrypt_Bps\":%.0f,"
	    "\"gcry_chachapoly_encrypt_mean_Bps\":%.0f}\n",
	    ver, REC, secs, SLICE, enc, dec, psa, enc_m, dec_m, psa_m,
	    cenc, cdec, cenc_m, cdec_m, x25519, p256, gcry_check_version(NULL),
	    g128, g128_m, g256, g256_m, gcp, gcp_m);
	return 0;
}
