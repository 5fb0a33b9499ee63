/*
 * fuzz_record.c: the RX path of mtlsd's own record layer, tls_rec_open(),
 * on records made from the input.
 *
 * Keys: at start-up, real handshakes (tests' PKI, own_layer on, over a
 * socketpair) for six suites: TLS 1.3 AES-128-GCM, AES-256-GCM and
 * ChaCha20-Poly1305, TLS 1.2 ECDHE-ECDSA with the same three.  The server's
 * RX is handed to the own layer with tls_rec_start_rx(); its TX stays with
 * mbedTLS, so mbedTLS's session (and the exported secrets) stay, and before
 * every input the own layer's RX state is freed and started again: each
 * input begins at the same keys and sequence number.  The harness takes a
 * copy of those keys the supported way, tls_keys_derive() (the client's TX
 * keys), and seals records itself with libgcrypt; at start-up it checks
 * that its sealing is byte for byte what tls_rec_seal() makes and that
 * tls_rec_open() opens it.
 *
 * Input: byte 0 picks the session (low 3 bits, modulo 6) and, with bit 3,
 * raw mode: the rest is fed as received ciphertext, record after record.
 * Otherwise the rest is a list of record descriptions, each sealed validly
 * and then optionally mangled, opened one by one, each in a buffer exactly
 * its size:
 *
 *   flags   1 byte: 0x01 outer type follows, 0x02 version follows (2),
 *           0x04 length delta follows (2, added to the header's length,
 *           which the AEAD still covers), 0x08 flip follows (2 offset,
 *           1 xor, after sealing), 0x10 first open only a prefix (2),
 *           0x20 explicit nonce follows (8, TLS 1.2 AES-GCM),
 *           0x40 generated content (2 length, 1 fill byte) instead of
 *           1 length byte and the bytes, 0x80 TLS 1.3 zero padding (2)
 *   type    1 byte: the content type (TLS 1.3: inner, else outer)
 *   then the fields the flags announce, in that order: outer type,
 *   version, delta, flip, prefix, explicit nonce, the content, padding.
 *
 * Checked besides the sanitizers: results are data counts inside the
 * record, TLS_WANT_READ, TLS_EOF or TLS_ERR (with a reason); a prefix of a
 * record is TLS_WANT_READ; a record nobody mangled opens to exactly what
 * RFC 8446/5246 and tls.h say (its data, close_notify's EOF, user_canceled
 * ignored, other alerts, overflows and unexpected types refused), and
 * KeyUpdates are followed (the harness follows them too).
 * MTLSD_FUZZ_VERBOSE=1 prints each record's result.
 */
#include <errno.h>
#include <gcrypt.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <mbedtls/ssl_ciphersuites.h>

#include "tls/tls_int.h"
#include "tests/fuzz/fuzz.h"

#define HDR		TLS_REC_HEADER
#define TAG		16
#define MAX_RECORDS	16

struct sealer {
	struct tls_dir_keys k;
	gcry_cipher_hd_t h;
};

struct sess {
	const char *name;
	const int *suites;
	bool v12;
	struct tls_material *sm, *cm;
	struct tls_ctx *sctx, *cctx;
	struct tls_conn *srv, *cli;	/* srv's RX is what is fuzzed */
	int fd[2];
	struct tls_dir_keys k;		/* srv's RX keys after the handshake */
	struct sealer seal;
};

static const int s13_128[] = { MBEDTLS_TLS1_3_AES_128_GCM_SHA256, 0 };
static const int s13_256[] = { MBEDTLS_TLS1_3_AES_256_GCM_SHA384, 0 };
static const int s13_cha[] = { MBEDTLS_TLS1_3_CHACHA20_POLY1305_SHA256, 0 };
static const int s12_128[] = { MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, 0 };
static const int s12_256[] = { MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, 0 };
static const int s12_cha[] = { MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, 0 };

static struct sess sessions[] = {
	{ "TLS 1.3 AES-128-GCM", s13_128, false },
	{ "TLS 1.3 AES-256-GCM", s13_256, false },
	{ "TLS 1.3 ChaCha20-Poly1305", s13_cha, false },
	{ "TLS 1.2 AES-128-GCM", s12_128, true },
	{ "TLS 1.2 AES-256-GCM", s12_256, true },
	{ "TLS 1.2 ChaCha20-Poly1305", s12_cha, true },
};
#define NSESS (sizeof(sessions) / sizeof(sessions[0]))

static bool verbose;		/* MTLSD_FUZZ_VERBOSE: each record's result */

/* ---- the harness's own sealing (RFC 8446 5.2-5.3; RFC 5288, 7905) ---- */

static bool
explicit_nonce(const struct tls_dir_keys *k)
{
	return !k->v13 && k->aead != TLS_AEAD_CHACHA20_POLY1305;
}

static void
sealer_setkey(struct sealer *s)
{
	int algo = s->k.aead == TLS_AEAD_AES_128_GCM ? GCRY_CIPHER_AES128 :
	    s->k.aead == TLS_AEAD_AES_256_GCM ? GCRY_CIPHER_AES256 : GCRY_CIPHER_CHACHA20;
	int mode = s->k.aead == TLS_AEAD_CHACHA20_POLY1305 ? GCRY_CIPHER_MODE_POLY1305 :
	    GCRY_CIPHER_MODE_GCM;

	if (s->h == NULL)
		FUZZ_SETUP(gcry_cipher_open(&s->h, algo, mode, 0) == 0, "gcry_cipher_open");
	FUZZ_SETUP(gcry_cipher_setkey(s->h, s->k.key, s->k.key_len) == 0, "setkey");
}

/*
 * Seals into rec (HDR + [8] + ptlen + TAG bytes): hdr as given, the
 * explicit nonce (TLS 1.2 AES-GCM; NULL: the sequence number), pt
 * encrypted; TLS 1.2's additional data names type and ptlen.
 */
static void
seal(struct sealer *s, uint8_t *rec, const uint8_t hdr[HDR], const uint8_t *expl,
    const uint8_t *pt, size_t ptlen, uint8_t type12)
{
	const struct tls_dir_keys *k = &s->k;
	size_t pre = HDR + (explicit_nonce(k) ? 8 : 0);
	uint8_t n[12], aad[13];

	memcpy(rec, hdr, HDR);
	memcpy(n, k->iv, 12);
	if (explicit_nonce(k)) {
		for (int i = 0; i < 8; i++)
			rec[HDR + i] = expl != NULL ? expl[i] : (uint8_t)(k->seq >> (56 - 8 * i));
		memcpy(n + 4, rec + HDR, 8);
	} else {
		for (int i = 0; i < 8; i++)
			n[4 + i] ^= (uint8_t)(k->seq >> (56 - 8 * i));
	}
	for (int i = 0; i < 8; i++)
		aad[i] = (uint8_t)(k->seq >> (56 - 8 * i));
	aad[8] = type12;
	aad[9] = 3;
	aad[10] = 3;
	aad[11] = (uint8_t)(ptlen >> 8);
	aad[12] = (uint8_t)ptlen;
	if (ptlen > 0)
		memcpy(rec + pre, pt, ptlen);
	FUZZ_SETUP(gcry_cipher_setiv(s->h, n, 12) == 0 &&
	    gcry_cipher_authenticate(s->h, k->v13 ? rec : aad, k->v13 ? HDR : 13) == 0 &&
	    gcry_cipher_final(s->h) == 0 &&
	    gcry_cipher_encrypt(s->h, rec + pre, ptlen, NULL, 0) == 0 &&
	    gcry_cipher_gettag(s->h, rec + pre + ptlen, TAG) == 0, "sealing");
}

/* ---- sessions ---- */

static void
reset(struct sess *s)
{
	const char *why = NULL;

	tls_rec_free(s->srv);
	s->srv->rx_layer = TLS_LAYER_MBEDTLS;
	s->srv->fail = TLS_FAIL_NONE;
	s->srv->detail[0] = '\0';
	FUZZ_SETUP(tls_rec_start_rx(s->srv, &why) == 0, "%s: tls_rec_start_rx: %s",
	    s->name, why);
	s->seal.k = s->k;
	sealer_setkey(&s->seal);
}

static void
sess_init(struct sess *s)
{
	struct tls_params sp = fuzz_params(TLS_ROLE_SERVER, "server");
	struct tls_params cp = fuzz_params(TLS_ROLE_CLIENT, "client");
	struct tls_dir_keys ctx_k;
	unsigned char buf[HDR + 8 + 5 + TAG + 1], mine[sizeof(buf)], *data = NULL;
	const char *why = NULL;
	size_t pre, post, rl = 0;
	ssize_t n, r;

	sp.own_layer = cp.own_layer = true;
	sp.min_version = cp.min_version = 12;
	s->sm = fuzz_material(&sp);
	s->cm = fuzz_material(&cp);
	s->sctx = fuzz_ctx(s->sm);
	s->cctx = fuzz_ctx(s->cm);
	mbedtls_ssl_conf_ciphersuites(&s->cctx->conf, s->suites);
	if (s->v12)
		mbedtls_ssl_conf_max_tls_version(&s->cctx->conf, MBEDTLS_SSL_VERSION_TLS1_2);
	FUZZ_SETUP(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
	    s->fd) == 0, "socketpair");
	s->srv = tls_conn_new(s->sctx, s->fd[0], NULL);
	s->cli = tls_conn_new(s->cctx, s->fd[1], "localhost");
	FUZZ_SETUP(s->srv != NULL && s->cli != NULL, "tls_conn_new");
	fuzz_handshake_pair(s->srv, s->cli);
	FUZZ_SETUP(tls_keys_derive(s->srv, false, &s->k, &why) == 0, "%s: derive: %s",
	    s->name, why);
	FUZZ_SETUP(s->k.v13 == !s->v12, "%s: negotiated %s", s->name,
	    s->k.v13 ? "TLS 1.3" : "TLS 1.2");
	FUZZ_SETUP(tls_keys_derive(s->cli, true, &ctx_k, &why) == 0 &&
	    memcmp(ctx_k.key, s->k.key, sizeof(ctx_k.key)) == 0 &&
	    memcmp(ctx_k.iv, s->k.iv, sizeof(ctx_k.iv)) == 0 && ctx_k.seq == s->k.seq,
	    "%s: the client's TX keys are not the server's RX keys", s->name);
	tls_dir_keys_wipe(&ctx_k);
	reset(s);

	/* Self-test: the client seals "hello" on the own layer; ours must be
	 * the same bytes, and the server's own layer must open it. */
	FUZZ_SETUP(tls_rec_start_tx(s->cli, &why) == 0, "%s: start_tx: %s", s->name, why);
	tls_rec_frame(s->cli, &pre, &post);
	FUZZ_SETUP(pre + 5 + post <= sizeof(buf), "frame");
	memcpy(buf + pre, "hello", 5);
	n = tls_rec_seal(s->cli, buf + pre, 5);
	FUZZ_SETUP(n == (ssize_t)(pre + 5 + post), "%s: tls_rec_seal: %zd", s->name, n);
	{
		uint8_t hdr[HDR] = { 23, 3, 3, (uint8_t)((n - HDR) >> 8), (uint8_t)(n - HDR) };
		uint8_t pt[6] = { 'h', 'e', 'l', 'l', 'o', 23 };
		seal(&s->seal, mine, hdr, NULL, pt, s->k.v13 ? 6 : 5, 23);
	}
	FUZZ_SETUP(memcmp(buf, mine, (size_t)n) == 0, "%s: the harness seals "
	    "differently from tls_rec_seal", s->name);
	r = tls_rec_open(s->srv, buf, (size_t)n, &rl, &data);
	FUZZ_SETUP(r == 5 && rl == (size_t)n && memcmp(data, "hello", 5) == 0,
	    "%s: tls_rec_open of a sealed record: %zd (%s)", s->name, r,
	    tls_conn_fail_detail(s->srv));
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	verbose = getenv("MTLSD_FUZZ_VERBOSE") != NULL;
	(void)fuzz_pki_dir();
	for (size_t i = 0; i < NSESS; i++)
		sess_init(&sessions[i]);
	return 0;
}

/* ---- one input ---- */

/* What every result must look like. */
static void
check_result(struct sess *s, ssize_t r, const uint8_t *p, size_t avail, size_t rl,
    const unsigned char *data)
{
	FUZZ_CHECK(r >= 0 || r == TLS_WANT_READ || r == TLS_EOF || r == TLS_ERR,
	    "result %zd", r);
	if (r >= 0) {
		FUZZ_CHECK(rl >= HDR + TAG && rl <= avail, "record length %zu of %zu", rl,
		    avail);
		FUZZ_CHECK(data >= p + HDR && data + r <= p + rl, "data outside its record");
		FUZZ_CHECK(r <= TLS_REC_PAYLOAD_MAX, "%zd data bytes", r);
	}
	if (r == TLS_EOF)
		FUZZ_CHECK(rl >= HDR && rl <= avail, "record length %zu of %zu", rl, avail);
	if (r == TLS_ERR)
		FUZZ_CHECK(tls_conn_fail(s->srv) != TLS_FAIL_NONE &&
		    tls_conn_fail_detail(s->srv)[0] != '\0', "TLS_ERR without a reason");
	if (avail < HDR)
		FUZZ_CHECK(r == TLS_WANT_READ, "%zd on %zu bytes", r, avail);
}

static ssize_t
open_copy(struct sess *s, const uint8_t *rec, size_t len, size_t *rl,
    unsigned char **data, uint8_t **copy)
{
	ssize_t r;

	*copy = malloc(len > 0 ? len : 1);
	FUZZ_SETUP(*copy != NULL, "oom");
	if (len > 0)
		memcpy(*copy, rec, len);
	*rl = SIZE_MAX;
	*data = NULL;
	r = tls_rec_open(s->srv, *copy, len, rl, data);
	check_result(s, r, *copy, len, *rl, *data);
	return r;
}

static void
raw_mode(struct sess *s, const uint8_t *p, size_t n)
{
	size_t off = 0;

	for (int i = 0; i < MAX_RECORDS; i++) {
		uint8_t *copy;
		unsigned char *data;
		size_t rl;
		ssize_t r = open_copy(s, p + off, n - off, &rl, &data, &copy);
		free(copy);
		if (r < 0)
			return;
		off += rl;
	}
}

/* The result a record nobody mangled must have, or NO_OPINION. */
#define NO_OPINION	(-100)
static ssize_t
expected(const struct sess *s, uint8_t type, const uint8_t *content, size_t clen,
    size_t ct_len)
{
	if (ct_len > (s->k.v13 ? (size_t)TLS_REC_PAYLOAD_MAX + 256 :
	    (size_t)TLS_REC_PAYLOAD_MAX + 2048))
		return TLS_ERR;			/* record_overflow */
	if (!s->k.v13 && type != 21 && type != 22 && type != 23)
		return TLS_ERR;			/* outer type */
	if (s->k.v13 && type == 0)
		return NO_OPINION;		/* the content's last byte decides */
	if (clen > TLS_REC_PAYLOAD_MAX)
		return TLS_ERR;
	switch (type) {
	case 23:
		return (ssize_t)clen;
	case 21:
		if (clen != 2)
			return TLS_ERR;
		if (content[1] == 0)
			return TLS_EOF;
		return content[0] == 1 && content[1] == 90 ? 0 : TLS_ERR;
	case 22:
		return !s->k.v13 || clen == 0 ? TLS_ERR : NO_OPINION;
	default:
		return TLS_ERR;
	}
}

static void
sealed_mode(struct sess *s, struct fuzz_in *in)
{
	for (int i = 0; i < MAX_RECORDS && in->n > 0; i++) {
		uint8_t flags = fuzz_u8(in), type = fuzz_u8(in);
		uint8_t otype = s->k.v13 ? 23 : type, xor = 0, expl[8], fill = 0;
		uint16_t version = 0x0303, delta = 0, flip_at = 0, prefix = 0, pad = 0;
		size_t clen, got, ptlen, ct_len, total, rl;
		const uint8_t *cp = NULL;
		uint8_t *content, *pt, *rec, *copy, hdr[HDR];
		unsigned char *data;
		uint64_t updates = tls_conn_key_updates(s->srv);
		bool clean;
		ssize_t r, want;

		if (flags & 0x01)
			otype = fuzz_u8(in);
		if (flags & 0x02)
			version = fuzz_u16(in);
		if (flags & 0x04)
			delta = fuzz_u16(in);
		if (flags & 0x08) {
			flip_at = fuzz_u16(in);
			xor = fuzz_u8(in);
			xor = xor != 0 ? xor : 1;
		}
		if (flags & 0x10)
			prefix = fuzz_u16(in);
		if (flags & 0x20) {
			const uint8_t *e = fuzz_bytes(in, 8, &got);
			memset(expl, 0, sizeof(expl));
			memcpy(expl, e, got);
		}
		if (flags & 0x40) {
			clen = fuzz_u16(in) % (TLS_REC_PAYLOAD_MAX + 320);
			fill = fuzz_u8(in);
		} else {
			clen = fuzz_u8(in);
			cp = fuzz_bytes(in, clen, &clen);
		}
		if ((flags & 0x80) && s->k.v13)
			pad = fuzz_u16(in) % 1024;

		content = malloc(clen > 0 ? clen : 1);
		FUZZ_SETUP(content != NULL, "oom");
		if (cp != NULL)
			memcpy(content, cp, clen);
		else
			memset(content, fill, clen);
		/* TLSInnerPlaintext: content, type, zeros; TLS 1.2: content. */
		ptlen = clen + (s->k.v13 ? 1u + pad : 0u);
		pt = calloc(1, ptlen > 0 ? ptlen : 1);
		FUZZ_SETUP(pt != NULL, "oom");
		memcpy(pt, content, clen);
		if (s->k.v13)
			pt[clen] = type;
		ct_len = (explicit_nonce(&s->k) ? 8 : 0) + ptlen + TAG;
		total = HDR + ct_len;
		hdr[0] = otype;
		hdr[1] = (uint8_t)(version >> 8);
		hdr[2] = (uint8_t)version;
		hdr[3] = (uint8_t)((ct_len + delta) >> 8);
		hdr[4] = (uint8_t)(ct_len + delta);
		rec = malloc(total);
		FUZZ_SETUP(rec != NULL, "oom");
		seal(&s->seal, rec, hdr, (flags & 0x20) ? expl : NULL, pt, ptlen, otype);
		if (flags & 0x08)
			rec[flip_at % total] ^= xor;
		clean = otype == (s->k.v13 ? 23 : type) && version == 0x0303 && delta == 0 &&
		    !(flags & 0x08);

		if (flags & 0x10) {
			/* A prefix: "more" while the header (as it now lies) is
			 * acceptable and announces more than the prefix holds. */
			size_t part = prefix % total, said = (size_t)rec[3] << 8 | rec[4];
			bool hdr_ok = rec[1] == 3 && rec[2] == 3 && (s->k.v13 ? rec[0] == 23 :
			    rec[0] >= 21 && rec[0] <= 23) && said <= (s->k.v13 ?
			    TLS_REC_PAYLOAD_MAX + 256u : TLS_REC_PAYLOAD_MAX + 2048u);
			r = open_copy(s, rec, part, &rl, &data, &copy);
			free(copy);
			if (part < HDR || (hdr_ok && part < HDR + said))
				FUZZ_CHECK(r == TLS_WANT_READ, "%s: %zu of a %zu-byte record: "
				    "%zd (%s)", s->name, part, total, r,
				    tls_conn_fail_detail(s->srv));
			if (r != TLS_WANT_READ)
				goto done;
		}
		r = open_copy(s, rec, total, &rl, &data, &copy);
		if (verbose)
			fprintf(stderr, "%s: record %d, type %u, %zu bytes%s: %zd %s\n", s->name,
			    i, type, clen, clean ? "" : " (mangled)", r,
			    r == TLS_ERR ? tls_conn_fail_detail(s->srv) : "");
		if (clean) {
			want = expected(s, type, content, clen, ct_len);
			FUZZ_CHECK(want == NO_OPINION || r == want, "%s: record %d (type %u, %zu "
			    "bytes, %u padding): %zd, expected %zd (%s)", s->name, i, type,
			    clen, pad, r, want, tls_conn_fail_detail(s->srv));
			FUZZ_CHECK(r < 0 || rl == total, "%s: record length %zu of %zu",
			    s->name, rl, total);
			if (r >= 0 && r == want && type == 23)
				FUZZ_CHECK(memcmp(data, content, clen) == 0, "%s: data differ",
				    s->name);
		}
		free(copy);
		if (r < 0)
			goto done;
		/* Opened: the next record is the next number, maybe a new key. */
		s->seal.k.seq++;
		if (tls_conn_key_updates(s->srv) != updates) {
			FUZZ_CHECK(tls_conn_key_updates(s->srv) == updates + 1 && s->k.v13,
			    "%s: key updates jumped", s->name);
			FUZZ_SETUP(tls_dir_keys_update(&s->seal.k) == 0, "key update");
			sealer_setkey(&s->seal);
		}
		free(content);
		free(pt);
		free(rec);
		continue;
done:
		free(content);
		free(pt);
		free(rec);
		return;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sess *s;
	struct fuzz_in in;

	if (size < 1)
		return 0;
	s = &sessions[(data[0] & 7) % NSESS];
	reset(s);
	if (data[0] & 8) {
		raw_mode(s, data + 1, size - 1);
	} else {
		in.p = data + 1;
		in.n = size - 1;
		sealed_mode(s, &in);
	}
	return 0;
}
