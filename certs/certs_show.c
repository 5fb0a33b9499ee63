/*
 * certs_show.c: `mtlsd certs show FILE`.
 *
 * One "key: value" line per fact, in a fixed order and spelling, so that
 * scripts and tests can grep them; certificates in a bundle are separated by
 * a blank line.  Text taken from a certificate is printed with anything
 * unprintable as \xHH, so one certificate cannot forge another's lines.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <mbedtls/ecp.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>

#include "certs/certs_int.h"

#define SHOW_FILE_MAX	(16 * 1024 * 1024)
#define DAY		86400

static void
put_safe(const unsigned char *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (p[i] < 0x20 || p[i] >= 0x7f)
			printf("\\x%02x", p[i]);
		else
			putchar(p[i]);
	}
}

static void
put_name(const char *key, const mbedtls_x509_name *name)
{
	char buf[1024];

	if (mbedtls_x509_dn_gets(buf, sizeof(buf), name) < 0)
		snprintf(buf, sizeof(buf), "(too long)");
	printf("%s: ", key);
	put_safe((const unsigned char *)buf, strlen(buf));
	putchar('\n');
}

/* Hex without separators or leading zero bytes, as `openssl x509 -serial`. */
static void
put_serial(const mbedtls_x509_buf *serial)
{
	size_t i = 0;

	while (i + 1 < serial->len && serial->p[i] == 0)
		i++;
	printf("serial: ");
	for (; i < serial->len; i++)
		printf("%02X", serial->p[i]);
	putchar('\n');
}

/* One SAN item, in the syntax --san takes where there is one. */
static void
put_san(const mbedtls_x509_buf *raw)
{
	mbedtls_x509_subject_alternative_name san;
	const mbedtls_x509_buf *v = &san.san.unstructured_name;
	char buf[INET6_ADDRSTRLEN + 1];

	memset(&san, 0, sizeof(san));
	if (mbedtls_x509_parse_subject_alt_name(raw, &san) != 0) {
		printf("other:%d", raw->tag & MBEDTLS_ASN1_TAG_VALUE_MASK);
		return;
	}
	switch (san.type) {
	case MBEDTLS_X509_SAN_DNS_NAME:
		printf("dns:");
		put_safe(v->p, v->len);
		break;
	case MBEDTLS_X509_SAN_UNIFORM_RESOURCE_IDENTIFIER:
		printf("uri:");
		put_safe(v->p, v->len);
		break;
	case MBEDTLS_X509_SAN_RFC822_NAME:
		printf("email:");
		put_safe(v->p, v->len);
		break;
	case MBEDTLS_X509_SAN_IP_ADDRESS:
		if ((v->len == 4 && inet_ntop(AF_INET, v->p, buf, sizeof(buf))) ||
		    (v->len == 16 && inet_ntop(AF_INET6, v->p, buf, sizeof(buf))))
			printf("ip:%s", buf);
		else
			printf("ip:(%zu bytes)", v->len);
		break;
	case MBEDTLS_X509_SAN_DIRECTORY_NAME:
		printf("dirname");
		break;
	default:
		printf("other:%d", san.type);
		break;
	}
	/* Directory names own an allocated list. */
	mbedtls_x509_free_subject_alt_name(&san);
}

static void
put_sans(const mbedtls_x509_crt *crt)
{
	const mbedtls_x509_sequence *s = &crt->subject_alt_names;

	printf("san: ");
	if (!mbedtls_x509_crt_has_ext_type(crt, MBEDTLS_X509_EXT_SUBJECT_ALT_NAME) ||
	    s->buf.p == NULL) {
		printf("none\n");
		return;
	}
	for (; s != NULL; s = s->next) {
		put_san(&s->buf);
		if (s->next != NULL)
			putchar(',');
	}
	putchar('\n');
}

static const char *
plural(long n)
{
	return n == 1 ? "" : "s";
}

/*
 * days_left is whole days to not_after, rounded toward zero, but at most -1
 * once expired: negative means expired, whatever the hour.  "starts in"
 * rounds up, so a certificate valid from tomorrow noon starts "in 1 day".
 */
static void
put_validity(const mbedtls_x509_crt *crt, time_t now)
{
	time_t from = tls_x509_time(&crt->valid_from);
	time_t to = tls_x509_time(&crt->valid_to);
	char buf[32];
	long left, ago, starts;

	printf("not_before: %s\n", certs_fmt_time(buf, sizeof(buf), from));
	printf("not_after: %s\n", certs_fmt_time(buf, sizeof(buf), to));
	if (now > to) {
		ago = (long)((now - to) / DAY);
		left = ago > 0 ? -ago : -1;
		printf("days_left: %ld\nstatus: expired\n", left);
		if (ago == 0)
			printf("validity: EXPIRED less than a day ago\n");
		else
			printf("validity: EXPIRED %ld day%s ago\n", ago, plural(ago));
		return;
	}
	left = (long)((to - now) / DAY);
	printf("days_left: %ld\n", left);
	if (now < from) {
		starts = (long)((from - now + DAY - 1) / DAY);
		printf("status: not yet valid\n");
		printf("validity: not yet valid (starts in %ld day%s)\n", starts,
		    plural(starts));
		return;
	}
	printf("status: valid\n");
	if (left == 0)
		printf("validity: expires in less than a day\n");
	else
		printf("validity: expires in %ld day%s\n", left, plural(left));
}

static void
put_key(const mbedtls_pk_context *pk)
{
	const mbedtls_ecp_curve_info *curve;
	mbedtls_ecp_group_id id;

	switch (mbedtls_pk_get_type(pk)) {
	case MBEDTLS_PK_RSA:
	case MBEDTLS_PK_RSASSA_PSS:
		printf("key: RSA %zu\n", mbedtls_pk_get_bitlen(pk));
		return;
	case MBEDTLS_PK_ECKEY:
	case MBEDTLS_PK_ECKEY_DH:
	case MBEDTLS_PK_ECDSA:
		id = mbedtls_ecp_keypair_get_group_id(mbedtls_pk_ec(*pk));
		/* The NIST names are the ones operators and OpenSSL use. */
		if (id == MBEDTLS_ECP_DP_SECP256R1)
			printf("key: EC P-256\n");
		else if (id == MBEDTLS_ECP_DP_SECP384R1)
			printf("key: EC P-384\n");
		else if (id == MBEDTLS_ECP_DP_SECP521R1)
			printf("key: EC P-521\n");
		else if ((curve = mbedtls_ecp_curve_info_from_grp_id(id)) != NULL)
			printf("key: EC %s\n", curve->name);
		else
			printf("key: EC\n");
		return;
	default:
		printf("key: %s\n", mbedtls_pk_get_name(pk));
		return;
	}
}

static void
show_one(const mbedtls_x509_crt *crt, time_t now)
{
	put_name("subject", &crt->subject);
	put_name("issuer", &crt->issuer);
	put_serial(&crt->serial);
	put_sans(crt);
	put_validity(crt, now);
	printf("ca: %s\n", mbedtls_x509_crt_get_ca_istrue(crt) == 1 ? "yes" : "no");
	put_key(&crt->pk);
}

int
certs_show(const char *file)
{
	const mbedtls_x509_crt *c;
	mbedtls_x509_crt chain;
	unsigned char *data = NULL;
	size_t len = 0;
	time_t now = time(NULL);
	int ret, rv = -1;

	mbedtls_x509_crt_init(&chain);
	if (certs_read(file, SHOW_FILE_MAX, &data, &len) == -1)
		goto out;
	/* A partly readable bundle: show what parsed, then fail. */
	ret = mbedtls_x509_crt_parse(&chain, data, tls_x509_parse_len(data, len));
	if (ret < 0) {
		certs_warn_tls(ret, "%s: no certificate found", file);
		goto out;
	}
	for (c = &chain; c != NULL && c->raw.p != NULL; c = c->next) {
		if (c != &chain)
			putchar('\n');
		show_one(c, now);
	}
	if (ret > 0) {
		certs_warnx("%s: %d certificate(s) could not be parsed", file, ret);
		goto out;
	}
	rv = 0;
out:
	fflush(stdout);
	certs_read_free(data, len);
	mbedtls_x509_crt_free(&chain);
	return rv;
}
