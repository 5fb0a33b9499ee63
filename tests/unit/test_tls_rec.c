/*
 * test_tls_rec.c: mtlsd's own record layer (tls_rec.c, tls_keys.c).
 *
 *   1. known answers, RFC 8448 section 3: keys and IVs from the traffic
 *      secrets; the RFC's records opened and sealed byte for byte, by
 *      libgcrypt directly and by the own layer keyed through the real
 *      hand-over; KeyUpdate against an independent HKDF-Expand-Label;
 *   2. differential: one side on the own layer, the other on mbedTLS, 64 MiB
 *      in random-sized chunks, every byte checked, per suite and version;
 *   3. hostile records against tls_rec_open();
 *   4. KeyUpdate: ours after key_limit records, the peer's followed and,
 *      when asked, answered; control records wait for half-sent records.
 * Handshakes run between two tls_conns on a non-blocking AF_UNIX socketpair.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gcrypt.h>
#include <mbedtls/hkdf.h>
#include <mbedtls/md.h>
#include <mbedtls/ssl.h>

#include "tls/tls.h"
#include "tls/tls_int.h"	/* key_limit, the key-export hook, tls_dir_keys */
#include "tests/unit/pki.h"

#define STEPS	200			/* handshake rounds before giving up */
#define BULK	(UINT64_C(32) << 20)	/* bytes each way, per differential case: 64 MiB in all */
#define RBUF	(4 * 16384 + 4096)	/* a receive buffer: several records */
#define TBUF	(16384 + 2048 + 64)	/* one record with its frame */

static char dir[PATH_MAX];

/*
 * RFC 8448 section 3 (Simple 1-RTT Handshake, TLS_AES_128_GCM_SHA256), as
 * the RFC prints them, cross-checked against the copies in Botan's
 * src/tests/test_tls_cipher_state.cpp, Go's kTLS tests, rustls and others,
 * which agree byte for byte.  The records prove themselves: a wrong byte
 * anywhere fails the GCM tag.
 */
static const char *const rfc_master =
    "18df06843d13a08bf2a449844c5f8a478001bc4d4c627984d5a41da8d0402919";
static const char *const rfc_th_sfin =	/* transcript ClientHello..server Finished */
    "9608102a0f1ccc6db6250b7b7e417b1a000eaada3daae4777a7686c9ff83df13";
static const char *const rfc_c_ap =	/* client_application_traffic_secret_0 */
    "9e40646ce79a7f9dc05af8889bce6552875afa0b06df0087f792ebb7c17504a5";
static const char *const rfc_s_ap =	/* server_application_traffic_secret_0 */
    "a11af9f05531f856ad47116b45a950328204b4f44bfb6b3a4b4f1f3fcb631643";
static const char *const rfc_c_key = "17422dda596ed5d9acd890e3c63f5051";
static const char *const rfc_c_iv = "5b78923dee08579033e523d9";
static const char *const rfc_s_key = "9f02283b6c9c07efc26bb9f2ac92e356";
static const char *const rfc_s_iv = "cf782b88dd83549aadf1e984";
/* {server} NewSessionTicket: server application key, record 0 */
static const char *const rfc_s_nst =
    "17 03 03 00 de 3a 6b 8f 90 41 4a 97 d6 95 9c 34 87 68 0d e5 13 4a 2b 24"
    "0e 6c ff ac 11 6e 95 d4 1d 6a f8 f6 b5 80 dc f3 d1 1d 63 c7 58 db 28 9a"
    "01 59 40 25 2f 55 71 3e 06 1d c1 3e 07 88 91 a3 8e fb cf 57 53 ad 8e f1"
    "70 ad 3c 73 53 d1 6d 9d a7 73 b9 ca 7f 2b 9f a1 b6 c0 d4 a3 d0 3f 75 e0"
    "9c 30 ba 1e 62 97 2a c4 6f 75 f7 b9 81 be 63 43 9b 29 99 ce 13 06 46 15"
    "13 98 91 d5 e4 c5 b4 06 f1 6e 3f c1 81 a7 7c a4 75 84 00 25 db 2f 0a 77"
    "f8 1b 5a b0 5b 94 c0 13 46 75 5f 69 23 2c 86 51 9d 86 cb ee ac 87 aa c3"
    "47 d1 43 f9 60 5d 64 f6 50 db 4d 02 3e 70 e9 52 ca 49 fe 51 37 12 1c 74"
    "bc 26 97 68 7e 24 87 46 d6 df 35 30 05 f3 bc e1 86 96 12 9c 81 53 55 6b"
    "3b 6c 67 79 b3 7b f1 59 85 68 4f";
/* {client} application data 00..31: client key, record 0; close_notify, 1 */
static const char *const rfc_c_app =
    "17 03 03 00 43 a2 3f 70 54 b6 2c 94 d0 af fa fe 82 28 ba 55 cb ef ac ea"
    "42 f9 14 aa 66 bc ab 3f 2b 98 19 a8 a5 b4 6b 39 5b d5 4a 9a 20 44 1e 2b"
    "62 97 4e 1f 5a 62 92 a2 97 70 14 bd 1e 3d ea e6 3a ee bb 21 69 49 15 e4";
static const char *const rfc_c_alert =
    "17 03 03 00 13 c9 87 27 60 65 56 66 b7 4d 7f f1 15 3e fd 6d b6 d0 b0 e3";
/* {server} the same 50 bytes, record 1; close_notify, record 2 */
static const char *const rfc_s_app =
    "17 03 03 00 43 2e 93 7e 11 ef 4a c7 40 e5 38 ad 36 00 5f c4 a4 69 32 fc"
    "32 25 d0 5f 82 aa 1b 36 e3 0e fa f9 7d 90 e6 df fc 60 2d cb 50 1a 59 a8"
    "fc c4 9c 4b f2 e5 f0 a2 1c 00 47 c2 ab f3 32 54 0d d0 32 e1 67 c2 95 5d";
static const char *const rfc_s_alert =
    "17 03 03 00 13 b5 8f d6 71 66 eb f5 99 d2 47 20 cf be 7e fa 7a 88 64 a9";

/* ---- helpers ---------------------------------------------------------- */

/* Hex (spaces allowed) into out; returns the byte count. */
static size_t
unhex(const char *s, unsigned char *out, size_t cap)
{
	size_t n = 0;
	int hi = -1;

	for (; *s != '\0'; s++) {
		int v = *s >= '0' && *s <= '9' ? *s - '0' : *s >= 'a' && *s <= 'f' ?
		    *s - 'a' + 10 : -1;
		if (v < 0)
			continue;
		if (hi < 0) {
			hi = v;
			continue;
		}
		assert_true(n < cap);
		out[n++] = (unsigned char)(hi << 4 | v);
		hi = -1;
	}
	assert_int_equal(hi, -1);
	return n;
}

static void
assert_hex(const unsigned char *got, size_t len, const char *want)
{
	unsigned char w[512];

	assert_int_equal(unhex(want, w, sizeof(w)), len);
	assert_memory_equal(got, w, len);
}

/* HKDF-Expand-Label (RFC 8446 7.1) written here, apart from tls_keys.c;
 * label is the whole label, "tls13 " included. */
static void
xlabel(int md, const unsigned char *secret, size_t slen, const char *label,
    const unsigned char *ctx, size_t clen, unsigned char *out, size_t olen)
{
	unsigned char info[2 + 1 + 255 + 1 + 255];
	size_t n = 0, ll = strlen(label);

	info[n++] = (unsigned char)(olen >> 8);
	info[n++] = (unsigned char)olen;
	info[n++] = (unsigned char)ll;
	memcpy(info + n, label, ll);
	n += ll;
	info[n++] = (unsigned char)clen;
	if (clen > 0)
		memcpy(info + n, ctx, clen);
	assert_int_equal(mbedtls_hkdf_expand(mbedtls_md_info_from_type((mbedtls_md_type_t)md),
	    secret, slen, info, n + clen, out, olen), 0);
}

/* TLS 1.3 record protection done here, with libgcrypt directly: nonce = iv
 * XOR seq, AAD = the 5-byte header.  t_seal: the n bytes of inner plaintext
 * at rec + 5, in place; writes header and tag; the record's length.  t_open:
 * the inner plaintext's length, or -1 if the tag is wrong. */
static gcry_cipher_hd_t
t_cipher(const struct tls_dir_keys *k, uint64_t seq, const unsigned char *hdr)
{
	bool cc = k->aead == TLS_AEAD_CHACHA20_POLY1305;
	unsigned char n[12];
	gcry_cipher_hd_t h;

	assert_int_equal(gcry_cipher_open(&h, cc ? GCRY_CIPHER_CHACHA20 : k->key_len == 16 ?
	    GCRY_CIPHER_AES128 : GCRY_CIPHER_AES256, cc ? GCRY_CIPHER_MODE_POLY1305 :
	    GCRY_CIPHER_MODE_GCM, 0), 0);
	assert_int_equal(gcry_cipher_setkey(h, k->key, k->key_len), 0);
	memcpy(n, k->iv, 12);
	for (int i = 0; i < 8; i++)
		n[4 + i] ^= (unsigned char)(seq >> (56 - 8 * i));
	assert_int_equal(gcry_cipher_setiv(h, n, 12), 0);
	assert_int_equal(gcry_cipher_authenticate(h, hdr, 5), 0);
	assert_int_equal(gcry_cipher_final(h), 0);
	return h;
}

static size_t
t_seal(const struct tls_dir_keys *k, uint64_t seq, unsigned char *rec, size_t n)
{
	gcry_cipher_hd_t h;

	memcpy(rec, "\x17\x03\x03", 3);
	rec[3] = (unsigned char)((n + 16) >> 8), rec[4] = (unsigned char)(n + 16);
	h = t_cipher(k, seq, rec);
	assert_int_equal(gcry_cipher_encrypt(h, rec + 5, n, NULL, 0), 0);
	assert_int_equal(gcry_cipher_gettag(h, rec + 5 + n, 16), 0);
	gcry_cipher_close(h);
	return 5 + n + 16;
}

static ssize_t
t_open(const struct tls_dir_keys *k, uint64_t seq, unsigned char *rec, size_t len)
{
	gcry_cipher_hd_t h = t_cipher(k, seq, rec);
	size_t n = len - 5 - 16;
	gcry_error_t e;

	assert_int_equal((size_t)rec[3] << 8 | rec[4], len - 5);
	assert_int_equal(gcry_cipher_decrypt(h, rec + 5, n, NULL, 0), 0);
	e = gcry_cipher_checktag(h, rec + 5 + n, 16);
	gcry_cipher_close(h);
	return e == 0 ? (ssize_t)n : -1;
}

/* One direction's keys from an RFC 8448 secret, by tls_keys.c. */
static struct tls_dir_keys
rfc_keys(const char *secret)
{
	struct tls_dir_keys k;

	memset(&k, 0, sizeof(k));
	k.aead = TLS_AEAD_AES_128_GCM, k.v13 = true, k.key_len = 16;
	k.md = MBEDTLS_MD_SHA256;
	k.secret_len = unhex(secret, k.secret, sizeof(k.secret));
	assert_int_equal(tls_dir_keys_from_secret(&k), 0);
	return k;
}

/* ---- fixture and pairs ------------------------------------------------ */

static int
group_setup(void **state)
{
	static const struct pki_cert issue[] = {
		{ "server", "dns:localhost", NULL, NULL },
		{ "client", "uri:spiffe://t/client", NULL, NULL },
	};

	(void)state;
	if (tls_global_init() != 0 || pki_make(dir, sizeof(dir), "rec", issue, 2) != 0)
		return -1;
	return 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	return pki_rm(dir);
}

struct pair {
	int fd[2];
	struct tls_material *m[2];
	struct tls_ctx *ctx[2];
	struct tls_conn *s, *c;		/* server on fd[0], client on fd[1] */
};

/*
 * A handshaken pair, own_layer on, resumption off (no ticket follows the
 * handshake).  suites (static: mbedTLS keeps the pointer), NULL for the
 * default list, and v12 (TLS 1.2 at most) narrow the built configs here:
 * tls_params has neither a suite nor a maximum version.
 */
static void
pair_up(struct pair *pr, const int *suites, bool v12)
{
	int res[2] = { TLS_WANT_READ, TLS_WANT_READ }, i;
	struct tls_conn **conn[2] = { &pr->s, &pr->c };
	struct tls_error err;

	memset(pr, 0, sizeof(*pr));
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0, pr->fd), 0);
	for (i = 0; i < 2; i++) {
		struct tls_params p = pki_params(i ? TLS_ROLE_CLIENT : TLS_ROLE_SERVER,
		    dir, i ? "client" : "server", dir);

		p.min_version = v12 ? 12 : 13;
		p.own_layer = true;
		if ((pr->m[i] = tls_material_load(&p, &err)) == NULL ||
		    (pr->ctx[i] = tls_ctx_new(pr->m[i], &err)) == NULL)
			fail_msg("material or context: %s", err.msg);
		if (suites != NULL)
			mbedtls_ssl_conf_ciphersuites(&pr->ctx[i]->conf, suites);
		if (v12)
			mbedtls_ssl_conf_max_tls_version(&pr->ctx[i]->conf,
			    MBEDTLS_SSL_VERSION_TLS1_2);
		*conn[i] = tls_conn_new(pr->ctx[i], pr->fd[i], i ? "localhost" : NULL);
		assert_non_null(*conn[i]);
	}
	for (i = 0; i < STEPS && (res[0] != TLS_OK || res[1] != TLS_OK); i++)
		for (int j = 1; j >= 0; j--)
			if (res[j] != TLS_OK && (res[j] = tls_conn_handshake(*conn[j])) == TLS_ERR)
				fail_msg("handshake: %s", tls_conn_fail_detail(*conn[j]));
	assert_true(i < STEPS);
	if (suites != NULL)
		for (i = 0; i < 2; i++)
			assert_int_equal(mbedtls_ssl_get_ciphersuite_id_from_ssl(&(*conn[i])->ssl),
			    suites[0]);
	assert_string_equal(tls_conn_version(pr->c), v12 ? "TLSv1.2" : "TLSv1.3");
}

static void
pair_close(struct pair *pr)
{
	tls_conn_free(pr->s);
	tls_conn_free(pr->c);
	for (int i = 0; i < 2; i++) {
		tls_ctx_unref(pr->ctx[i]);
		tls_material_unref(pr->m[i]);
		close(pr->fd[i]);
	}
}

/* Both directions of c to the own layer, TX first. */
static void
go_own(struct tls_conn *c)
{
	const char *why = NULL;

	assert_true(tls_conn_rx_ready(c));
	if (tls_rec_start_tx(c, &why) != 0 || tls_rec_start_rx(c, &why) != 0)
		fail_msg("own layer refused: %s", why);
	assert_int_equal(tls_conn_tx_layer(c), TLS_LAYER_OWN);
	assert_int_equal(tls_conn_rx_layer(c), TLS_LAYER_OWN);
	assert_true(c->ssl_freed);	/* mbedTLS's session and the secrets: gone */
	assert_null(c->keys);
}

/* Seals len bytes (pl) as one data record on c's own layer, into rec, and
 * sends it; returns its length. */
static size_t
seal_send(struct tls_conn *c, const void *pl, size_t len, unsigned char *rec)
{
	size_t pre, post;
	ssize_t n;

	tls_rec_frame(c, &pre, &post);
	assert_int_equal(tls_rec_tx_ready(c), TLS_OK);
	memcpy(rec + pre, pl, len);
	n = tls_rec_seal(c, rec + pre, len);
	assert_int_equal(n, pre + len + post);
	assert_int_equal(tls_rec_send(c, rec, (size_t)n), n);
	return (size_t)n;
}

/* Exactly len raw bytes from c's socket, through tls_rec_recv. */
static void
recv_all(struct tls_conn *c, unsigned char *p, size_t len)
{
	for (size_t have = 0; have < len;) {
		ssize_t n = tls_rec_recv(c, p + have, len - have);
		assert_true(n > 0);
		have += (size_t)n;
	}
}

/* ---- 1. known answers ------------------------------------------------- */

static void
test_kat_keys(void **state)
{
	unsigned char ms[32], th[32], out[32];
	struct tls_dir_keys c = rfc_keys(rfc_c_ap), s = rfc_keys(rfc_s_ap);

	(void)state;
	assert_hex(c.key, 16, rfc_c_key);
	assert_hex(c.iv, 12, rfc_c_iv);
	assert_hex(s.key, 16, rfc_s_key);
	assert_hex(s.iv, 12, rfc_s_iv);
	/* The independent HKDF-Expand-Label that the KeyUpdate test trusts, on
	 * the RFC's Derive-Secret(master, "c/s ap traffic", transcript). */
	unhex(rfc_master, ms, sizeof(ms));
	unhex(rfc_th_sfin, th, sizeof(th));
	xlabel(MBEDTLS_MD_SHA256, ms, 32, "tls13 c ap traffic", th, 32, out, 32);
	assert_hex(out, 32, rfc_c_ap);
	xlabel(MBEDTLS_MD_SHA256, ms, 32, "tls13 s ap traffic", th, 32, out, 32);
	assert_hex(out, 32, rfc_s_ap);
	xlabel(MBEDTLS_MD_SHA256, s.secret, 32, "tls13 iv", NULL, 0, out, 12);
	assert_hex(out, 12, rfc_s_iv);
}

/* tls_dir_keys_update(), three generations, against "tls13 traffic upd". */
static void
test_kat_key_update(void **state)
{
	static const struct { enum tls_aead aead; size_t key_len, slen; int md; } kinds[] = {
		{ TLS_AEAD_AES_128_GCM, 16, 32, MBEDTLS_MD_SHA256 },
		{ TLS_AEAD_AES_256_GCM, 32, 48, MBEDTLS_MD_SHA384 },
		{ TLS_AEAD_CHACHA20_POLY1305, 32, 32, MBEDTLS_MD_SHA256 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		struct tls_dir_keys k = rfc_keys(rfc_c_ap);
		unsigned char sec[48], next[48], key[32], iv[12];

		k.aead = kinds[i].aead, k.key_len = kinds[i].key_len, k.md = kinds[i].md;
		k.secret_len = kinds[i].slen;
		for (size_t j = 32; j < k.secret_len; j++)
			k.secret[j] = (unsigned char)(0xa0 + j);
		assert_int_equal(tls_dir_keys_from_secret(&k), 0);
		memcpy(sec, k.secret, k.secret_len);
		for (int gen = 1; gen <= 3; gen++) {
			xlabel(k.md, sec, k.secret_len, "tls13 traffic upd", NULL, 0, next,
			    k.secret_len);
			memcpy(sec, next, k.secret_len);
			xlabel(k.md, sec, k.secret_len, "tls13 key", NULL, 0, key, k.key_len);
			xlabel(k.md, sec, k.secret_len, "tls13 iv", NULL, 0, iv, 12);
			k.seq = 1000;
			assert_int_equal(tls_dir_keys_update(&k), 0);
			assert_memory_equal(k.secret, sec, k.secret_len);
			assert_memory_equal(k.key, key, k.key_len);
			assert_memory_equal(k.iv, iv, 12);
			assert_int_equal(k.seq, 0);
		}
		k.v13 = false;		/* TLS 1.2 has no KeyUpdate */
		assert_int_equal(tls_dir_keys_update(&k), -1);
	}
}

/* The RFC's records in order; seq: the index within its sender's. */
static const struct { bool server; unsigned char type; const char *const *hex; } rfc_recs[] = {
	{ false, 23, &rfc_c_app }, { false, 21, &rfc_c_alert },
	{ true, 22, &rfc_s_nst }, { true, 23, &rfc_s_app }, { true, 21, &rfc_s_alert },
};

/* libgcrypt, with the keys tls_keys.c derived, opens each RFC record and
 * seals it back to the same bytes. */
static void
test_kat_records_gcrypt(void **state)
{
	struct tls_dir_keys k[2] = { rfc_keys(rfc_c_ap), rfc_keys(rfc_s_ap) };
	uint64_t seq[2] = { 0, 0 };

	(void)state;
	for (size_t i = 0; i < sizeof(rfc_recs) / sizeof(rfc_recs[0]); i++) {
		unsigned char rec[512], orig[512];
		size_t len = unhex(*rfc_recs[i].hex, rec, sizeof(rec));
		int who = rfc_recs[i].server;
		uint64_t sq = seq[who]++;
		ssize_t n;

		memcpy(orig, rec, len);
		n = t_open(&k[who], sq, rec, len);
		assert_true(n > 0);
		assert_int_equal(rec[5 + n - 1], rfc_recs[i].type);
		if (rfc_recs[i].type == 23) {
			assert_int_equal(n, 51);
			for (int j = 0; j < 50; j++)
				assert_int_equal(rec[5 + j], j);
		} else if (rfc_recs[i].type == 21) {
			assert_int_equal(n, 3);
			assert_hex(rec + 5, 2, "01 00");	/* warning, close_notify */
		} else {
			assert_int_equal(n, 4 + 0xc9 + 1);
			assert_hex(rec + 5, 4, "04 00 00 c9");	/* NewSessionTicket */
		}
		assert_int_equal(t_seal(&k[who], sq, rec, (size_t)n), len);
		assert_memory_equal(rec, orig, len);
	}
}

/* Feeds RFC 8448's traffic secrets to the key-export callback tls_keys.c
 * installed on c, over the handshake's own. */
static void
inject_rfc_secrets(struct tls_conn *c)
{
	unsigned char cs[32], ss[32], rnd[32] = { 0 };
	mbedtls_ssl_export_keys_t *f = c->ssl.MBEDTLS_PRIVATE(f_export_keys);
	void *arg = c->ssl.MBEDTLS_PRIVATE(p_export_keys);

	assert_non_null(f);
	unhex(rfc_c_ap, cs, sizeof(cs));
	unhex(rfc_s_ap, ss, sizeof(ss));
	f(arg, MBEDTLS_SSL_KEY_EXPORT_TLS1_3_CLIENT_APPLICATION_TRAFFIC_SECRET, cs, 32,
	    rnd, rnd, MBEDTLS_SSL_TLS_PRF_SHA256);
	f(arg, MBEDTLS_SSL_KEY_EXPORT_TLS1_3_SERVER_APPLICATION_TRAFFIC_SECRET, ss, 32,
	    rnd, rnd, MBEDTLS_SSL_TLS_PRF_SHA256);
}

/* The own layer, keyed with the RFC's secrets through the real hand-over
 * (tls_keys_derive, tls_rec_start_*), seals the RFC's records byte for byte
 * through tls_rec_seal/close_notify and opens the other side's. */
static void
test_kat_records_own_layer(void **state)
{
	static const int aes128[] = { MBEDTLS_TLS1_3_AES_128_GCM_SHA256, 0 };
	unsigned char pl[50], rec[TBUF], wire[512], nst[512], *data;
	size_t n, rl, dummy;
	struct pair pr;

	(void)state;
	for (int i = 0; i < 50; i++)
		pl[i] = (unsigned char)i;
	pair_up(&pr, aes128, false);
	inject_rfc_secrets(pr.c);
	inject_rfc_secrets(pr.s);
	go_own(pr.c);
	go_own(pr.s);
	/* Client: record 0, the data; record 1, close_notify. */
	assert_int_equal(seal_send(pr.c, pl, 50, rec), 72);
	assert_hex(rec, 72, rfc_c_app);
	assert_int_equal(tls_conn_close_notify(pr.c), TLS_OK);
	recv_all(pr.s, wire, 72 + 24);
	assert_hex(wire, 72, rfc_c_app);
	assert_hex(wire + 72, 24, rfc_c_alert);
	assert_int_equal(tls_rec_open(pr.s, wire, 96, &rl, &data), 50);
	assert_int_equal(rl, 72);
	assert_memory_equal(data, pl, 50);
	assert_int_equal(tls_rec_open(pr.s, wire + 72, 24, &rl, &data), TLS_EOF);
	/* Server: record 0 is the RFC's ticket, which the own layer does not
	 * seal: a byte of data stands in.  Record 1, the data; 2, close_notify. */
	dummy = seal_send(pr.s, "x", 1, rec);
	assert_int_equal(seal_send(pr.s, pl, 50, rec), 72);
	assert_hex(rec, 72, rfc_s_app);
	assert_int_equal(tls_conn_close_notify(pr.s), TLS_OK);
	recv_all(pr.c, wire, dummy + 72 + 24);
	assert_hex(wire + dummy, 72, rfc_s_app);
	assert_hex(wire + dummy + 72, 24, rfc_s_alert);
	/* The client opens the RFC's record 0, a ticket: dropped. */
	n = unhex(rfc_s_nst, nst, sizeof(nst));
	assert_int_equal(tls_rec_open(pr.c, nst, n, &rl, &data), 0);
	assert_int_equal(rl, n);
	assert_int_equal(tls_rec_open(pr.c, wire + dummy, 96, &rl, &data), 50);
	assert_memory_equal(data, pl, 50);
	assert_int_equal(tls_rec_open(pr.c, wire + dummy + 72, 24, &rl, &data), TLS_EOF);
	assert_int_equal(tls_conn_fail(pr.c), TLS_FAIL_NONE);
	assert_int_equal(tls_conn_fail(pr.s), TLS_FAIL_NONE);
	pair_close(&pr);
}

/* ---- a transfer engine: own-layer and mbedTLS ends -------------------- */

static uint64_t
mix(uint64_t z)
{
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* Byte i of the stream named seed. */
static unsigned char
sbyte(uint64_t seed, uint64_t i)
{
	return (unsigned char)(mix(seed ^ (i >> 3) * UINT64_C(0x9e3779b97f4a7c15)) >> (8 * (i & 7)));
}

/* 1..16384 (at most left): half uniform, half spread over powers of two. */
static size_t
chunk(uint64_t *rng, uint64_t left)
{
	uint64_t r = mix(*rng += UINT64_C(0x9e3779b97f4a7c15));
	size_t n = 1 + (size_t)(r >> 8) % (r & 1 ? TLS_REC_PAYLOAD_MAX :
	    (size_t)1 << (r >> 1) % 15);

	return n < left ? n : (size_t)left;
}

struct end {
	const char *name;
	struct tls_conn *c;
	bool own, eof;
	uint64_t rng, records;		/* records: data records sealed (own) */
	uint64_t tx_seed, tx_pos, tx_total, rx_seed, rx_pos, rx_total;
	size_t toff, tlen;		/* own: sealed bytes unsent; mbedTLS: the chunk */
	size_t rstart, rhave;
	unsigned char tbuf[TBUF], rbuf[RBUF];
};

static void
verify(struct end *e, const unsigned char *p, size_t n)
{
	if (e->rx_pos + n > e->rx_total)
		fail_msg("%s: %zu bytes past the stream's end", e->name, n);
	for (size_t i = 0; i < n; i++)
		if (p[i] != sbyte(e->rx_seed, e->rx_pos + i))
			fail_msg("%s: byte %llu differs", e->name,
			    (unsigned long long)(e->rx_pos + i));
	e->rx_pos += n;
}

/* Sends what it can: own, sealed with the header room before the payload
 * and sent with tls_rec_send; mbedTLS, tls_conn_write.  Whether it moved. */
static bool
tx(struct end *e)
{
	bool moved = false;
	size_t pre = 0, post = 0;
	ssize_t r;

	for (;; moved = true) {
		if (e->own && e->toff < e->tlen) {
			if ((r = tls_rec_send(e->c, e->tbuf + e->toff, e->tlen - e->toff)) ==
			    TLS_WANT_WRITE)
				return moved;
			assert_true(r > 0);
			e->toff += (size_t)r;
			continue;
		}
		if (e->toff == e->tlen) {
			if (e->tx_pos == e->tx_total) {
				if (e->own && tls_rec_tx_pending(e->c))
					assert_int_not_equal(tls_rec_tx_ready(e->c), TLS_ERR);
				return moved;
			}
			if (e->own && (r = tls_rec_tx_ready(e->c)) != TLS_OK) {
				if (r != TLS_WANT_WRITE)
					fail_msg("%s: %s", e->name, tls_conn_fail_detail(e->c));
				return moved;
			}
			if (e->own)
				tls_rec_frame(e->c, &pre, &post);
			e->toff = 0;
			e->tlen = chunk(&e->rng, e->tx_total - e->tx_pos);
			for (size_t i = 0; i < e->tlen; i++)
				e->tbuf[pre + i] = sbyte(e->tx_seed, e->tx_pos + i);
		}
		if (e->own) {
			r = tls_rec_seal(e->c, e->tbuf + pre, e->tlen);
			assert_int_equal(r, pre + e->tlen + post);
			e->tx_pos += e->tlen, e->records++;
			e->tlen = (size_t)r;
			continue;
		}
		r = tls_conn_write(e->c, e->tbuf + e->toff, e->tlen - e->toff);
		if (r == TLS_WANT_WRITE || r == TLS_WANT_READ)
			return moved;
		if (r <= 0 || (size_t)r > e->tlen - e->toff)
			fail_msg("%s: write %zd: %s", e->name, r, tls_conn_fail_detail(e->c));
		e->toff += (size_t)r, e->tx_pos += (uint64_t)r;
	}
}

/* Receives what it can: own, tls_rec_recv (now and then a few bytes, so
 * records arrive in pieces) and tls_rec_open in place; mbedTLS,
 * tls_conn_read into random sizes. */
static bool
rx(struct end *e)
{
	bool moved = false;
	size_t rl;
	ssize_t r;

	for (; !e->eof; moved = true) {
		unsigned char *p = e->rbuf + e->rstart, *data = NULL;
		if (!e->own) {
			r = tls_conn_read(e->c, e->rbuf, chunk(&e->rng, TLS_REC_PAYLOAD_MAX));
			if (r == TLS_WANT_READ || r == TLS_WANT_WRITE)
				return moved;
			data = e->rbuf;
		} else if (e->rstart < e->rhave && (r = tls_rec_open(e->c, p,
		    e->rhave - e->rstart, &rl, &data)) != TLS_WANT_READ) {
			if (r < 0 && r != TLS_EOF)
				fail_msg("%s: open: %s", e->name, tls_conn_fail_detail(e->c));
			assert_true(rl > TLS_REC_HEADER && rl <= e->rhave - e->rstart);
			assert_true(r <= 0 || (data >= p + TLS_REC_HEADER && data + r <= p + rl));
			e->rstart += rl;
		} else {
			size_t want = RBUF - (e->rhave - e->rstart);
			memmove(e->rbuf, p, e->rhave - e->rstart);
			e->rhave -= e->rstart, e->rstart = 0;
			if (chunk(&e->rng, 8) == 1)
				want = chunk(&e->rng, 7);
			if ((r = tls_rec_recv(e->c, e->rbuf + e->rhave, want)) == TLS_WANT_READ)
				return moved;
			if (r <= 0)
				fail_msg("%s: recv %zd: %s", e->name, r, tls_conn_fail_detail(e->c));
			e->rhave += (size_t)r;
			continue;
		}
		if (r == TLS_EOF)
			e->eof = true;
		else if (r < 0)
			fail_msg("%s: read: %s", e->name, tls_conn_fail_detail(e->c));
		else
			verify(e, data, (size_t)r);
	}
	return moved;
}

/* a's stream to b and b's to a until both are in; then each sends
 * close_notify and the other must see it. */
static void
transfer(struct end *a, struct end *b, uint64_t seed)
{
	int idle = 0;

	a->rng = seed, b->rng = ~seed;
	a->tx_seed = b->rx_seed = seed * 3 + 1;
	b->tx_seed = a->rx_seed = seed * 5 + 2;
	a->rx_total = b->tx_total, b->rx_total = a->tx_total;
	while (a->rx_pos < a->rx_total || b->rx_pos < b->rx_total ||
	    (a->own && tls_rec_tx_pending(a->c)) || (b->own && tls_rec_tx_pending(b->c))) {
		bool m = tx(a);
		m |= rx(b), m |= tx(b), m |= rx(a);
		if ((idle = m ? 0 : idle + 1) > 100)
			fail_msg("stuck: %s has %llu of %llu, %s %llu of %llu", a->name,
			    (unsigned long long)a->rx_pos, (unsigned long long)a->rx_total,
			    b->name, (unsigned long long)b->rx_pos, (unsigned long long)b->rx_total);
	}
	assert_int_equal(tls_conn_close_notify(a->c), TLS_OK);
	assert_int_equal(tls_conn_close_notify(b->c), TLS_OK);
	for (int i = 0; i < 100 && !(a->eof && b->eof); i++)
		rx(a), rx(b);
	assert_true(a->eof && b->eof);
	assert_false(tls_conn_truncated(a->c) || tls_conn_truncated(b->c));
}

static struct end *
end_new(const char *name, struct tls_conn *c, bool own, uint64_t tx_total)
{
	struct end *e = calloc(1, sizeof(*e));

	assert_non_null(e);
	e->name = name, e->c = c, e->own = own, e->tx_total = tx_total;
	return e;
}

/* ---- 2. differential: own layer against mbedTLS ----------------------- */

static struct diffcase {
	int suites[2];
	bool v12, own_server;
} diff[] = {
	{ { MBEDTLS_TLS1_3_AES_128_GCM_SHA256, 0 }, false, true },
	{ { MBEDTLS_TLS1_3_AES_128_GCM_SHA256, 0 }, false, false },
	{ { MBEDTLS_TLS1_3_AES_256_GCM_SHA384, 0 }, false, false },
	{ { MBEDTLS_TLS1_3_CHACHA20_POLY1305_SHA256, 0 }, false, true },
	{ { MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, 0 }, true, true },
	{ { MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, 0 }, true, false },
	{ { MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, 0 }, true, true },
};

static void
test_differential(void **state)
{
	const struct diffcase *dc = *state;
	struct pair pr;
	struct end *s, *c;

	pair_up(&pr, dc->suites, dc->v12);
	go_own(dc->own_server ? pr.s : pr.c);
	assert_int_equal(tls_conn_tx_layer(dc->own_server ? pr.c : pr.s), TLS_LAYER_MBEDTLS);
	/* What logs need survives mbedTLS's session. */
	assert_string_equal(tls_conn_version(pr.s), dc->v12 ? "TLSv1.2" : "TLSv1.3");
	assert_string_equal(tls_conn_cipher(pr.s), tls_conn_cipher(pr.c));
	s = end_new("server", pr.s, dc->own_server, BULK);
	c = end_new("client", pr.c, !dc->own_server, BULK);
	transfer(s, c, (uint64_t)(dc - diff) + 1);
	assert_true(s->rx_pos == BULK && c->rx_pos == BULK);
	assert_int_equal(tls_conn_key_updates(dc->own_server ? pr.s : pr.c), 0);
	free(s);
	free(c);
	pair_close(&pr);
}

/* ---- 3. hostile records ----------------------------------------------- */

enum hkind { H_FLIP, H_REPLAY, H_TRUNC, H_LONG, H_TYPE, H_VERSION, H_ZEROS, H_SHORT,
	H_KU_BAD, H_KU_TAIL, H_HS_OTHER, H_INNER_CCS, H_PLAIN_LONG, H_PADDED };

static struct hostile {
	enum hkind kind;
	const char *detail;	/* in tls_conn_fail_detail(); NULL: no failure */
} hostiles[] = {
	{ H_FLIP, "authentication" }, { H_REPLAY, "authentication" }, { H_TRUNC, NULL },
	{ H_LONG, "longer than the limit" }, { H_TYPE, "outer type" },
	{ H_VERSION, "version" }, { H_ZEROS, "no content type" }, { H_SHORT, "too short" },
	{ H_KU_BAD, "request_update" }, { H_KU_TAIL, "after a KeyUpdate" },
	{ H_HS_OTHER, "unexpected post-handshake" }, { H_INNER_CCS, "unexpected content" },
	{ H_PLAIN_LONG, "longer than 16 KiB" }, { H_PADDED, NULL },
};

/* Inner plaintext (content type, then padding, last) sealed under k. */
static size_t
craft(const struct tls_dir_keys *k, uint64_t seq, unsigned char *rec, const char *inner)
{
	return t_seal(k, seq, rec, unhex(inner, rec + 5, TBUF - 64));
}

/*
 * The client is on the own layer; the server's records are made here with
 * the server's TX keys (tls_keys_derive).  A good record 0 opens, then the
 * case's record 1 must fail as the table says, and our alert must reach
 * the server (mbedTLS reads it as fatal).
 */
static void
test_hostile(void **state)
{
	const struct hostile *h = *state;
	unsigned char rec[TBUF], copy[TBUF], *data;
	struct tls_dir_keys k;
	const char *why = NULL;
	size_t len, rl;
	ssize_t r;
	struct pair pr;

	pair_up(&pr, NULL, false);
	assert_int_equal(tls_keys_derive(pr.s, true, &k, &why), 0);
	go_own(pr.c);
	len = craft(&k, 0, rec, "68 65 6c 6c 6f 17");		/* "hello", data */
	assert_int_equal(tls_rec_open(pr.c, rec, len, &rl, &data), 5);
	assert_memory_equal(data, "hello", 5);
	len = craft(&k, 1, rec, "77 6f 72 6c 64 17");		/* "world" */
	switch (h->kind) {
	case H_FLIP: rec[5 + 2] ^= 0x10; break;
	case H_REPLAY:
		memcpy(copy, rec, len);
		assert_int_equal(tls_rec_open(pr.c, copy, len, &rl, &data), 5);
		break;
	case H_TRUNC:
		for (size_t avail = 0; avail < len; avail++)
			assert_int_equal(tls_rec_open(pr.c, rec, avail, &rl, &data),
			    TLS_WANT_READ);
		break;
	case H_LONG:	/* 2^14 + 256 is a length to wait for; one more is not */
		rec[3] = (16384 + 256) >> 8, rec[4] = (16384 + 256) & 0xff;
		assert_int_equal(tls_rec_open(pr.c, rec, 5, &rl, &data), TLS_WANT_READ);
		rec[4]++, len = 5;
		break;
	case H_TYPE: rec[0] = 22; break;
	case H_VERSION: rec[1] = 3, rec[2] = 1; break;
	case H_ZEROS: len = craft(&k, 1, rec, "00 00 00 00 00 00 00 00"); break;
	case H_SHORT: rec[3] = 0, rec[4] = 16, len = 5 + 16; break;
	case H_KU_BAD: len = craft(&k, 1, rec, "18 00 00 01 02 16"); break;
	case H_KU_TAIL: len = craft(&k, 1, rec, "18 00 00 01 00 04 00 00 00 16"); break;
	case H_HS_OTHER: len = craft(&k, 1, rec, "01 00 00 00 16"); break;	/* ClientHello */
	case H_INNER_CCS: len = craft(&k, 1, rec, "01 14"); break;
	case H_PLAIN_LONG:	/* 16385 bytes of data: inside 2^14 + 256, not 2^14 */
		memset(rec + 5, 'a', 16385);
		rec[5 + 16385] = 23;
		len = t_seal(&k, 1, rec, 16385 + 1);
		break;
	case H_PADDED: len = craft(&k, 1, rec, "77 6f 72 6c 64 17 00 00 00 00 00 00"); break;
	}
	r = tls_rec_open(pr.c, rec, len, &rl, &data);
	if (h->detail == NULL) {
		assert_int_equal(r, 5);
		assert_memory_equal(data, "world", 5);
		assert_int_equal(tls_conn_fail(pr.c), TLS_FAIL_NONE);
	} else {
		char buf[64];
		assert_int_equal(r, TLS_ERR);
		assert_int_equal(tls_conn_fail(pr.c), TLS_FAIL_PROTOCOL);
		if (strstr(tls_conn_fail_detail(pr.c), h->detail) == NULL)
			fail_msg("detail \"%s\" lacks \"%s\"", tls_conn_fail_detail(pr.c),
			    h->detail);
		assert_int_equal(tls_conn_read(pr.s, buf, sizeof(buf)), TLS_ERR);
	}
	tls_dir_keys_wipe(&k);
	pair_close(&pr);
}

/* ---- 4. KeyUpdate ----------------------------------------------------- */

/* Ours: the client's key_limit is 3 records (its KeyUpdate the third);
 * the server follows; data in
 * both directions stays whole. */
static void
test_key_update_ours(void **state)
{
	struct pair pr;
	struct end *s, *c;
	uint64_t want;

	(void)state;
	pair_up(&pr, NULL, false);
	go_own(pr.c);
	go_own(pr.s);
	pr.c->key_limit = 3;
	c = end_new("client", pr.c, true, 1 << 20);
	s = end_new("server", pr.s, true, 1 << 18);
	transfer(c, s, 42);
	/* At most 3 records per key, the KeyUpdate itself included: one
	 * before data records 3, 5, 7, ... */
	want = (c->records - 1) / 2;
	assert_true(want >= 10);
	assert_int_equal(tls_conn_key_updates(pr.c), want);
	assert_int_equal(tls_conn_key_updates(pr.s), want);
	free(s);
	free(c);
	pair_close(&pr);
}

/* The peer's, update_requested: followed, then answered (not requested
 * back) before our next record.  The test plays the server, with both
 * directions' keys from tls_keys_derive. */
static void
test_key_update_requested(void **state)
{
	unsigned char rec[TBUF], wire[256], *data;
	struct tls_dir_keys ks, kc;
	const char *why = NULL;
	size_t len, rl;
	struct pair pr;

	(void)state;
	pair_up(&pr, NULL, false);
	assert_int_equal(tls_keys_derive(pr.s, true, &ks, &why), 0);
	assert_int_equal(tls_keys_derive(pr.c, true, &kc, &why), 0);
	go_own(pr.c);
	len = craft(&ks, 0, rec, "70 69 6e 67 17");		/* "ping" */
	assert_int_equal(tls_rec_open(pr.c, rec, len, &rl, &data), 4);
	len = craft(&ks, 1, rec, "18 00 00 01 01 16");		/* KeyUpdate, requested */
	assert_int_equal(tls_rec_open(pr.c, rec, len, &rl, &data), 0);
	assert_int_equal(tls_conn_key_updates(pr.c), 1);
	assert_true(tls_rec_tx_pending(pr.c));
	assert_int_equal(tls_dir_keys_update(&ks), 0);		/* the peer's next key */
	len = craft(&ks, 0, rec, "70 69 6e 67 17");
	assert_int_equal(tls_rec_open(pr.c, rec, len, &rl, &data), 4);
	assert_memory_equal(data, "ping", 4);
	seal_send(pr.c, "pong", 4, rec);
	assert_int_equal(tls_conn_key_updates(pr.c), 2);
	assert_false(tls_rec_tx_pending(pr.c));
	for (size_t got = 0; got < 27 + 26;) {
		ssize_t n = recv(pr.fd[0], wire + got, sizeof(wire) - got, 0);
		assert_true(n > 0 && got + (size_t)n <= 27 + 26);
		got += (size_t)n;
	}
	assert_int_equal(t_open(&kc, 0, wire, 27), 6);		/* our old key */
	assert_hex(wire + 5, 6, "18 00 00 01 00 16");
	assert_int_equal(tls_dir_keys_update(&kc), 0);
	assert_int_equal(t_open(&kc, 0, wire + 27, 26), 5);	/* our new key */
	assert_memory_equal(wire + 27 + 5, "pong\x17", 5);
	assert_int_equal(tls_conn_fail(pr.c), TLS_FAIL_NONE);
	tls_dir_keys_wipe(&ks);
	tls_dir_keys_wipe(&kc);
	pair_close(&pr);
}

/* Control records wait for the records the caller sealed and has not all
 * sent: neither a due KeyUpdate nor close_notify cuts into a half-sent one. */
static void
test_control_waits(void **state)
{
	unsigned char rec[TBUF], wire[256], pl[100], *data;
	size_t pre, post, rl;
	ssize_t n;
	struct pair pr;

	(void)state;
	pair_up(&pr, NULL, false);
	go_own(pr.c);
	go_own(pr.s);
	pr.c->key_limit = 2;
	memset(pl, 'a', sizeof(pl));
	tls_rec_frame(pr.c, &pre, &post);
	assert_int_equal(tls_rec_tx_ready(pr.c), TLS_OK);
	memcpy(rec + pre, pl, sizeof(pl));
	n = tls_rec_seal(pr.c, rec + pre, sizeof(pl));
	assert_int_equal(n, pre + sizeof(pl) + post);
	assert_int_equal(tls_rec_send(pr.c, rec, 10), 10);
	/* Due (a record under this key), but 10 bytes of one are out. */
	assert_int_equal(tls_rec_tx_ready(pr.c), TLS_OK);
	assert_int_equal(tls_conn_key_updates(pr.c), 0);
	assert_int_equal(tls_conn_close_notify(pr.c), TLS_WANT_WRITE);
	assert_int_equal(tls_rec_send(pr.c, rec + 10, (size_t)n - 10), n - 10);
	assert_int_equal(tls_rec_tx_ready(pr.c), TLS_OK);
	assert_int_equal(tls_conn_key_updates(pr.c), 1);
	assert_int_equal(tls_conn_close_notify(pr.c), TLS_OK);
	/* The server: the data, the KeyUpdate, close_notify under the new key. */
	recv_all(pr.s, wire, (size_t)n + 27 + 24);
	assert_int_equal(tls_rec_open(pr.s, wire, (size_t)n + 51, &rl, &data), 100);
	assert_memory_equal(data, pl, sizeof(pl));
	assert_int_equal(tls_rec_open(pr.s, wire + n, 51, &rl, &data), 0);
	assert_int_equal(rl, 27);
	assert_int_equal(tls_conn_key_updates(pr.s), 1);
	assert_int_equal(tls_rec_open(pr.s, wire + n + 27, 24, &rl, &data), TLS_EOF);
	pair_close(&pr);
}

#define DIFF(i, what) { "differential: " what, test_differential, NULL, NULL, &diff[i] }
#define HOSTILE(i, what) { "hostile: " what, test_hostile, NULL, NULL, &hostiles[i] }

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kat_keys),
		cmocka_unit_test(test_kat_key_update),
		cmocka_unit_test(test_kat_records_gcrypt),
		cmocka_unit_test(test_kat_records_own_layer),
		DIFF(0, "TLS 1.3 AES-128-GCM, own layer on the server"),
		DIFF(1, "TLS 1.3 AES-128-GCM, own layer on the client"),
		DIFF(2, "TLS 1.3 AES-256-GCM, own layer on the client"),
		DIFF(3, "TLS 1.3 ChaCha20-Poly1305, own layer on the server"),
		DIFF(4, "TLS 1.2 ECDHE-ECDSA AES-128-GCM, own layer on the server"),
		DIFF(5, "TLS 1.2 ECDHE-ECDSA AES-256-GCM, own layer on the client"),
		DIFF(6, "TLS 1.2 ECDHE-ECDSA ChaCha20-Poly1305, own layer on the server"),
		HOSTILE(0, "a flipped ciphertext bit"),
		HOSTILE(1, "a replayed record"),
		HOSTILE(2, "a truncated record waits"),
		HOSTILE(3, "an oversized length field"),
		HOSTILE(4, "a wrong outer type"),
		HOSTILE(5, "wrong version bytes"),
		HOSTILE(6, "an all-zero inner plaintext"),
		HOSTILE(7, "a record too short for its tag"),
		HOSTILE(8, "a KeyUpdate with request_update 2"),
		HOSTILE(9, "a KeyUpdate not ending its record"),
		HOSTILE(10, "a ClientHello after the handshake"),
		HOSTILE(11, "an inner change_cipher_spec"),
		HOSTILE(12, "16385 bytes of plaintext"),
		HOSTILE(13, "zero padding is not data"),
		cmocka_unit_test(test_key_update_ours),
		cmocka_unit_test(test_key_update_requested),
		cmocka_unit_test(test_control_waits),
	};

	return cmocka_run_group_tests_name("tls_rec", tests, group_setup, group_teardown);
}
