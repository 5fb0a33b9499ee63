/*
 * certs_make.c: keys and certificates for `mtlsd certs init-ca` and `issue`.
 *
 * Names go to mbedTLS as "OID=#<hex DER>" attributes rather than "CN=text".
 * That form carries any byte without escaping rules (mbedTLS 3.6 mis-reads
 * "\\," for one), and it keeps each attribute's string type, so a leaf's
 * issuer is byte for byte its CA's subject even when another tool made the
 * CA: verifiers chain certificates by comparing those names.  Every new
 * certificate is parsed back and verified against its CA before any file is
 * written.
 */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecp.h>
#include <mbedtls/entropy.h>
#include <mbedtls/oid.h>
#include <mbedtls/pem.h>
#include <mbedtls/pk.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/x509_crt.h>

#include "certs/certs_int.h"

#define DN_MAX		4096		/* a name in mbedTLS's string form */
#define DER_MAX		(64 * 1024)	/* room for 64 SANs of 253 bytes */
#define KEY_PEM_MAX	2048
#define CA_FILE_MAX	(1024 * 1024)
#define KEY_ID_MAX	64

struct rng {
	mbedtls_entropy_context entropy;
	mbedtls_ctr_drbg_context drbg;
};

/* What one certificate is made of.  Everything is borrowed. */
struct cert_spec {
	const char *subject;		/* mbedTLS string form */
	const char *issuer;
	mbedtls_pk_context *subject_key;
	mbedtls_pk_context *issuer_key;
	time_t not_before, not_after;
	bool is_ca;
	const struct certs_san *sans;
	size_t nsans;
	const mbedtls_x509_buf *ca_key_id;	/* the CA's SKI, or NULL */
};

static void
rng_init(struct rng *r)
{
	mbedtls_entropy_init(&r->entropy);
	mbedtls_ctr_drbg_init(&r->drbg);
}

static int
rng_seed(struct rng *r)
{
	static const char pers[] = "mtlsd certs";
	int ret;

	ret = mbedtls_ctr_drbg_seed(&r->drbg, mbedtls_entropy_func, &r->entropy,
	    (const unsigned char *)pers, sizeof(pers) - 1);
	if (ret != 0) {
		certs_warn_tls(ret, "cannot seed the random generator");
		return -1;
	}
	return 0;
}

static void
rng_free(struct rng *r)
{
	mbedtls_ctr_drbg_free(&r->drbg);
	mbedtls_entropy_free(&r->entropy);
}

static int
key_generate(mbedtls_pk_context *key, struct rng *r)
{
	int ret;

	ret = mbedtls_pk_setup(key, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY));
	if (ret == 0)
		ret = mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1,
		    mbedtls_pk_ec(*key), mbedtls_ctr_drbg_random, &r->drbg);
	if (ret != 0) {
		certs_warn_tls(ret, "cannot generate an EC P-256 key");
		return -1;
	}
	return 0;
}

/* Appends ",OID=#<tag><length><value>" (no comma first) to dn. */
static int
dn_append(char *dn, size_t size, size_t *off, const char *oid, int tag,
    const unsigned char *val, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	unsigned char hdr[4];
	size_t hlen = 0, i;
	int n;

	hdr[hlen++] = (unsigned char)tag;
	if (len < 0x80)
		hdr[hlen++] = (unsigned char)len;
	else if (len <= 0xff) {
		hdr[hlen++] = 0x81;
		hdr[hlen++] = (unsigned char)len;
	} else if (len <= 0xffff) {
		hdr[hlen++] = 0x82;
		hdr[hlen++] = (unsigned char)(len >> 8);
		hdr[hlen++] = (unsigned char)len;
	} else
		return -1;
	n = snprintf(dn + *off, size - *off, "%s%s=#", *off > 0 ? "," : "", oid);
	if (n < 0 || (size_t)n >= size - *off)
		return -1;
	*off += (size_t)n;
	if (*off + 2 * (hlen + len) >= size)
		return -1;
	for (i = 0; i < hlen + len; i++) {
		unsigned char c = i < hlen ? hdr[i] : val[i - hlen];

		dn[(*off)++] = hex[c >> 4];
		dn[(*off)++] = hex[c & 0xf];
	}
	dn[*off] = '\0';
	return 0;
}

/* "CN=cn" as a UTF8String, the type RFC 5280 asks new certificates to use. */
static int
dn_from_cn(char *dn, size_t size, const char *cn)
{
	size_t off = 0;

	dn[0] = '\0';
	return dn_append(dn, size, &off, "2.5.4.3", MBEDTLS_ASN1_UTF8_STRING,
	    (const unsigned char *)cn, strlen(cn));
}

/* A parsed name back to the string form, attribute by attribute, in order. */
static int
dn_from_name(char *dn, size_t size, const mbedtls_x509_name *name)
{
	char oid[64];
	size_t off = 0;

	dn[0] = '\0';
	for (; name != NULL; name = name->next) {
		if (name->oid.p == NULL)
			continue;
		if (mbedtls_oid_get_numeric_string(oid, sizeof(oid), &name->oid) < 0 ||
		    dn_append(dn, size, &off, oid, name->val.tag, name->val.p,
		    name->val.len) == -1)
			return -1;
	}
	return 0;
}

/* "YYYYMMDDhhmmss", as mbedtls_x509write_crt_set_validity() wants it. */
static int
validity_string(char *buf, size_t len, time_t t)
{
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(buf, len, "%Y%m%d%H%M%S", &tm) != 14)
		return -1;
	return 0;
}

/* AuthorityKeyIdentifier ::= SEQUENCE { [0] IMPLICIT KeyIdentifier }, with
 * the CA's own SKI: a CA made elsewhere may not derive it the way mbedTLS
 * does, and OpenSSL refuses a chain whose AKI and SKI differ. */
static int
set_aki(mbedtls_x509write_cert *w, const mbedtls_x509_buf *key_id)
{
	unsigned char val[4 + KEY_ID_MAX];

	val[0] = MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE;
	val[1] = (unsigned char)(key_id->len + 2);
	val[2] = MBEDTLS_ASN1_CONTEXT_SPECIFIC | 0;
	val[3] = (unsigned char)key_id->len;
	memcpy(val + 4, key_id->p, key_id->len);
	return mbedtls_x509write_crt_set_extension(w,
	    MBEDTLS_OID_AUTHORITY_KEY_IDENTIFIER,
	    MBEDTLS_OID_SIZE(MBEDTLS_OID_AUTHORITY_KEY_IDENTIFIER), 0, val,
	    key_id->len + 4);
}

/* The leaf-only extensions: AKI, extKeyUsage, subjectAltName. */
static int
set_leaf_extensions(mbedtls_x509write_cert *w, const struct cert_spec *s,
    const char **what)
{
	mbedtls_x509_san_list san[CERTS_MAX_SANS];
	mbedtls_asn1_sequence eku[2];
	mbedtls_x509_buf *b;
	size_t i;
	int ret;

	*what = "authorityKeyIdentifier";
	if (s->ca_key_id != NULL && s->ca_key_id->len > 0 &&
	    s->ca_key_id->len <= KEY_ID_MAX)
		ret = set_aki(w, s->ca_key_id);
	else
		ret = mbedtls_x509write_crt_set_authority_key_identifier(w);
	if (ret != 0)
		return ret;

	/* One certificate is both the TLS server's and the TLS client's. */
	*what = "extKeyUsage";
	memset(eku, 0, sizeof(eku));
	eku[0].buf.tag = MBEDTLS_ASN1_OID;
	eku[0].buf.p = (unsigned char *)MBEDTLS_OID_SERVER_AUTH;
	eku[0].buf.len = MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH);
	eku[0].next = &eku[1];
	eku[1].buf.tag = MBEDTLS_ASN1_OID;
	eku[1].buf.p = (unsigned char *)MBEDTLS_OID_CLIENT_AUTH;
	eku[1].buf.len = MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH);
	if ((ret = mbedtls_x509write_crt_set_ext_key_usage(w, eku)) != 0)
		return ret;

	if (s->nsans == 0)
		return 0;
	*what = "subjectAltName";
	memset(san, 0, sizeof(san));
	for (i = 0; i < s->nsans; i++) {
		b = &san[i].node.san.unstructured_name;
		switch (s->sans[i].kind) {
		case CERTS_SAN_DNS:
			san[i].node.type = MBEDTLS_X509_SAN_DNS_NAME;
			b->tag = MBEDTLS_ASN1_IA5_STRING;
			break;
		case CERTS_SAN_IP:
			/* The writer takes the 4 or 16 address bytes, not text. */
			san[i].node.type = MBEDTLS_X509_SAN_IP_ADDRESS;
			b->tag = MBEDTLS_ASN1_OCTET_STRING;
			break;
		case CERTS_SAN_URI:
			san[i].node.type = MBEDTLS_X509_SAN_UNIFORM_RESOURCE_IDENTIFIER;
			b->tag = MBEDTLS_ASN1_IA5_STRING;
			break;
		}
		b->p = (unsigned char *)(uintptr_t)s->sans[i].p;
		b->len = s->sans[i].len;
		/* Linked last to first: the writer emits the list backwards. */
		san[i].next = i > 0 ? &san[i - 1] : NULL;
	}
	return mbedtls_x509write_crt_set_subject_alternative_name(w,
	    &san[s->nsans - 1]);
}

/* Builds and signs a certificate: *der (malloc'd) and *der_len. */
static int
cert_build(const struct cert_spec *s, struct rng *r, unsigned char **der,
    size_t *der_len)
{
	mbedtls_x509write_cert w;
	unsigned char serial[16], *buf = NULL;
	char nb[16], na[16];
	const char *what = "serial";
	int ret;

	mbedtls_x509write_crt_init(&w);
	if ((buf = malloc(DER_MAX)) == NULL) {
		certs_warn("cannot allocate");
		goto fail;
	}
	if (validity_string(nb, sizeof(nb), s->not_before) == -1 ||
	    validity_string(na, sizeof(na), s->not_after) == -1) {
		certs_warnx("validity out of range");
		goto fail;
	}
	if ((ret = mbedtls_ctr_drbg_random(&r->drbg, serial, sizeof(serial))) != 0)
		goto tls_fail;
	/* Clear the sign bit and set the next one: the DER INTEGER is then
	 * positive, non-zero and always 16 bytes, with 126 random bits. */
	serial[0] = (unsigned char)((serial[0] & 0x7f) | 0x40);

	mbedtls_x509write_crt_set_version(&w, MBEDTLS_X509_CRT_VERSION_3);
	mbedtls_x509write_crt_set_md_alg(&w, MBEDTLS_MD_SHA256);
	mbedtls_x509write_crt_set_subject_key(&w, s->subject_key);
	mbedtls_x509write_crt_set_issuer_key(&w, s->issuer_key);
	if ((ret = mbedtls_x509write_crt_set_serial_raw(&w, serial,
	    sizeof(serial))) != 0)
		goto tls_fail;
	what = "validity";
	if ((ret = mbedtls_x509write_crt_set_validity(&w, nb, na)) != 0)
		goto tls_fail;
	what = "subject";
	if ((ret = mbedtls_x509write_crt_set_subject_name(&w, s->subject)) != 0)
		goto tls_fail;
	what = "issuer";
	if ((ret = mbedtls_x509write_crt_set_issuer_name(&w, s->issuer)) != 0)
		goto tls_fail;
	what = "basicConstraints";
	/* pathlen 0: this CA signs leaves only, never another CA. */
	if ((ret = mbedtls_x509write_crt_set_basic_constraints(&w, s->is_ca,
	    s->is_ca ? 0 : -1)) != 0)
		goto tls_fail;
	what = "subjectKeyIdentifier";
	if ((ret = mbedtls_x509write_crt_set_subject_key_identifier(&w)) != 0)
		goto tls_fail;
	what = "keyUsage";
	if ((ret = mbedtls_x509write_crt_set_key_usage(&w, s->is_ca ?
	    MBEDTLS_X509_KU_KEY_CERT_SIGN | MBEDTLS_X509_KU_CRL_SIGN :
	    MBEDTLS_X509_KU_DIGITAL_SIGNATURE)) != 0)
		goto tls_fail;
	if (s->is_ca) {
		what = "authorityKeyIdentifier";
		ret = mbedtls_x509write_crt_set_authority_key_identifier(&w);
	} else
		ret = set_leaf_extensions(&w, s, &what);
	if (ret != 0)
		goto tls_fail;

	what = "signature";
	ret = mbedtls_x509write_crt_der(&w, buf, DER_MAX, mbedtls_ctr_drbg_random,
	    &r->drbg);
	if (ret < 0)
		goto tls_fail;
	/* The writer fills the buffer from its end. */
	memmove(buf, buf + DER_MAX - ret, (size_t)ret);
	*der = buf;
	*der_len = (size_t)ret;
	mbedtls_x509write_crt_free(&w);
	return 0;

tls_fail:
	certs_warn_tls(ret, "cannot make the certificate (%s)", what);
fail:
	free(buf);
	mbedtls_x509write_crt_free(&w);
	return -1;
}

/*
 * Parses the new certificate back and verifies it against ca (NULL: it is
 * self-signed).  Only "expired" and "not yet valid" are let through, as
 * --not-before asks for those on purpose.
 */
static int
cert_check(const unsigned char *der, size_t len, mbedtls_x509_crt *ca,
    const char *path)
{
	mbedtls_x509_crt crt;
	char info[256], *nl;
	uint32_t flags = 0;
	int ret, rv = -1;

	mbedtls_x509_crt_init(&crt);
	if ((ret = mbedtls_x509_crt_parse_der(&crt, der, len)) != 0) {
		certs_warn_tls(ret, "%s: the new certificate does not parse", path);
		goto out;
	}
	if (ca != NULL && (crt.issuer_raw.len != ca->subject_raw.len ||
	    memcmp(crt.issuer_raw.p, ca->subject_raw.p, crt.issuer_raw.len) != 0)) {
		certs_warnx("%s: cannot copy the CA's subject into the issuer "
		    "exactly (multi-valued name?)", path);
		goto out;
	}
	ret = mbedtls_x509_crt_verify(&crt, ca != NULL ? ca : &crt, NULL, NULL,
	    &flags, NULL, NULL);
	flags &= ~(uint32_t)(MBEDTLS_X509_BADCERT_EXPIRED | MBEDTLS_X509_BADCERT_FUTURE);
	if (flags != 0) {
		mbedtls_x509_crt_verify_info(info, sizeof(info), "", flags);
		if ((nl = strchr(info, '\n')) != NULL)
			*nl = '\0';
		certs_warnx("%s: the new certificate does not verify: %s", path, info);
		goto out;
	}
	if (ret != 0 && ret != MBEDTLS_ERR_X509_CERT_VERIFY_FAILED) {
		certs_warn_tls(ret, "%s: cannot verify the new certificate", path);
		goto out;
	}
	rv = 0;
out:
	mbedtls_x509_crt_free(&crt);
	return rv;
}

/* Key and certificate as PEM, then both files. */
static int
write_outputs(const struct certs_opts *o, const char *base,
    mbedtls_pk_context *key, const unsigned char *der, size_t der_len)
{
	unsigned char keypem[KEY_PEM_MAX], *pem = NULL;
	size_t pem_size = der_len * 2 + 128, olen;
	int ret, rv = -1;

	if ((ret = mbedtls_pk_write_key_pem(key, keypem, sizeof(keypem))) != 0) {
		certs_warn_tls(ret, "cannot encode the key");
		goto out;
	}
	if ((pem = malloc(pem_size)) == NULL) {
		certs_warn("cannot allocate");
		goto out;
	}
	ret = mbedtls_pem_write_buffer("-----BEGIN CERTIFICATE-----\n",
	    "-----END CERTIFICATE-----\n", der, der_len, pem, pem_size, &olen);
	if (ret != 0) {
		certs_warn_tls(ret, "cannot encode the certificate");
		goto out;
	}
	rv = certs_write_pair(o->dir, base, keypem, strlen((char *)keypem),
	    pem, strlen((char *)pem), o->force);
out:
	mbedtls_platform_zeroize(keypem, sizeof(keypem));
	free(pem);
	return rv;
}

/* Refuses to overwrite DIR/base.key or DIR/base.crt before any work is done;
 * certs_write_pair() checks again, atomically. */
static int
check_targets(const struct certs_opts *o, const char *base)
{
	char path[PATH_MAX], file[CERTS_NAME_MAX + 8];
	const char *ext[] = { ".key", ".crt" };
	size_t i;

	for (i = 0; i < 2 && !o->force; i++) {
		snprintf(file, sizeof(file), "%s%s", base, ext[i]);
		if (certs_path(path, sizeof(path), o->dir, file) == -1 ||
		    certs_check_absent(path) == -1)
			return -1;
	}
	return 0;
}

int
certs_init_ca(const struct certs_opts *o)
{
	char crtpath[PATH_MAX], dn[DN_MAX];
	unsigned char *der = NULL;
	size_t der_len = 0;
	struct cert_spec spec;
	mbedtls_pk_context key;
	struct rng rng;
	int rv = -1;

	rng_init(&rng);
	mbedtls_pk_init(&key);
	if (check_targets(o, "ca") == -1 ||
	    certs_path(crtpath, sizeof(crtpath), o->dir, "ca.crt") == -1 ||
	    certs_mkdirs(o->dir) == -1 || rng_seed(&rng) == -1 ||
	    key_generate(&key, &rng) == -1)
		goto out;
	if (dn_from_cn(dn, sizeof(dn), o->name) == -1) {
		certs_warnx("--name: too long");
		goto out;
	}
	memset(&spec, 0, sizeof(spec));
	spec.subject = spec.issuer = dn;
	spec.subject_key = spec.issuer_key = &key;
	spec.not_before = o->not_before;
	spec.not_after = o->not_before + (time_t)o->days * 86400;
	spec.is_ca = true;
	if (cert_build(&spec, &rng, &der, &der_len) == -1 ||
	    cert_check(der, der_len, NULL, crtpath) == -1 ||
	    write_outputs(o, "ca", &key, der, der_len) == -1)
		goto out;
	rv = 0;
out:
	free(der);
	mbedtls_pk_free(&key);
	rng_free(&rng);
	return rv;
}

/* DIR/ca.crt (first certificate) and DIR/ca.key, checked to belong together. */
static int
load_ca(const char *crtpath, const char *keypath, mbedtls_x509_crt *ca,
    mbedtls_pk_context *ca_key, struct rng *r)
{
	unsigned char *data = NULL;
	size_t len = 0;
	int ret;

	if (certs_read(crtpath, CA_FILE_MAX, &data, &len) == -1)
		return -1;
	ret = mbedtls_x509_crt_parse(ca, data, tls_x509_parse_len(data, len));
	certs_read_free(data, len);
	if (ret != 0) {
		if (ret > 0)
			certs_warnx("%s: %d certificate(s) could not be parsed",
			    crtpath, ret);
		else
			certs_warn_tls(ret, "%s: cannot parse certificate", crtpath);
		return -1;
	}
	if (mbedtls_x509_crt_get_ca_istrue(ca) != 1) {
		certs_warnx("%s: not a CA certificate (no basicConstraints "
		    "CA:TRUE)", crtpath);
		return -1;
	}
	if (mbedtls_x509_crt_check_key_usage(ca, MBEDTLS_X509_KU_KEY_CERT_SIGN) != 0) {
		certs_warnx("%s: its keyUsage does not allow signing "
		    "certificates", crtpath);
		return -1;
	}

	if (certs_read(keypath, CA_FILE_MAX, &data, &len) == -1)
		return -1;
	ret = mbedtls_pk_parse_key(ca_key, data, tls_x509_parse_len(data, len),
	    NULL, 0, mbedtls_ctr_drbg_random, &r->drbg);
	certs_read_free(data, len);
	if (ret == MBEDTLS_ERR_PK_PASSWORD_REQUIRED) {
		certs_warnx("%s: encrypted keys are not supported", keypath);
		return -1;
	}
	if (ret != 0) {
		certs_warn_tls(ret, "%s: cannot parse private key", keypath);
		return -1;
	}
	if (mbedtls_pk_check_pair(&ca->pk, ca_key, mbedtls_ctr_drbg_random,
	    &r->drbg) != 0) {
		certs_warnx("%s: does not match %s (the key is not the "
		    "certificate's)", keypath, crtpath);
		return -1;
	}
	return 0;
}

int
certs_issue(const struct certs_opts *o)
{
	char crtpath[PATH_MAX], ca_crt[PATH_MAX], ca_key[PATH_MAX];
	char file[CERTS_NAME_MAX + 8], subject[DN_MAX], issuer[DN_MAX], when[32];
	unsigned char *der = NULL;
	size_t der_len = 0;
	struct cert_spec spec;
	mbedtls_x509_crt ca;
	mbedtls_pk_context key, cakey;
	struct rng rng;
	int rv = -1;

	rng_init(&rng);
	mbedtls_x509_crt_init(&ca);
	mbedtls_pk_init(&cakey);
	mbedtls_pk_init(&key);
	snprintf(file, sizeof(file), "%s.crt", o->name);
	if (check_targets(o, o->name) == -1 ||
	    certs_path(crtpath, sizeof(crtpath), o->dir, file) == -1 ||
	    certs_path(ca_crt, sizeof(ca_crt), o->dir, "ca.crt") == -1 ||
	    certs_path(ca_key, sizeof(ca_key), o->dir, "ca.key") == -1 ||
	    rng_seed(&rng) == -1 ||
	    load_ca(ca_crt, ca_key, &ca, &cakey, &rng) == -1 ||
	    key_generate(&key, &rng) == -1)
		goto out;
	if (dn_from_cn(subject, sizeof(subject), o->name) == -1 ||
	    dn_from_name(issuer, sizeof(issuer), &ca.subject) == -1) {
		certs_warnx("%s: subject name too long", ca_crt);
		goto out;
	}
	memset(&spec, 0, sizeof(spec));
	spec.subject = subject;
	spec.issuer = issuer;
	spec.subject_key = &key;
	spec.issuer_key = &cakey;
	spec.not_before = o->not_before;
	spec.not_after = o->not_before + (time_t)o->days * 86400;
	spec.sans = o->sans;
	spec.nsans = o->nsans;
	spec.ca_key_id = &ca.subject_key_id;
	if (cert_build(&spec, &rng, &der, &der_len) == -1 ||
	    cert_check(der, der_len, &ca, crtpath) == -1 ||
	    write_outputs(o, o->name, &key, der, der_len) == -1)
		goto out;
	/* Verifiers refuse the certificate once its CA has expired. */
	if (spec.not_after > tls_x509_time(&ca.valid_to))
		printf("note: %s outlives its CA, which expires %s\n", crtpath,
		    certs_fmt_time(when, sizeof(when),
		    tls_x509_time(&ca.valid_to)));
	rv = 0;
out:
	free(der);
	mbedtls_pk_free(&key);
	mbedtls_pk_free(&cakey);
	mbedtls_x509_crt_free(&ca);
	rng_free(&rng);
	return rv;
}
