/*
 * tls_peer.c: who the peer is, whether it may connect, and why a handshake
 * failed.
 *
 * Policy runs inside mbedTLS's verify callback, at depth 0, after the chain,
 * validity, CRL and hostname checks: a peer outside allow_peers/expect_peers
 * fails the handshake with a bad_certificate alert before any application
 * byte moves.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/oid.h>
#include <mbedtls/sha256.h>

#include "tls/tls_int.h"

static const char *const fail_names[TLS_FAIL_COUNT] = {
	[TLS_FAIL_NONE] = "none",
	[TLS_FAIL_NO_CERT] = "no_cert",
	[TLS_FAIL_UNKNOWN_CA] = "unknown_ca",
	[TLS_FAIL_EXPIRED] = "expired",
	[TLS_FAIL_NOT_YET_VALID] = "not_yet_valid",
	[TLS_FAIL_REVOKED] = "revoked",
	[TLS_FAIL_CRL_STALE] = "crl_stale",
	[TLS_FAIL_NAME_MISMATCH] = "name_mismatch",
	[TLS_FAIL_DENIED] = "denied",
	[TLS_FAIL_BAD_CERT] = "bad_cert",
	[TLS_FAIL_PEER_ALERT] = "peer_alert",
	[TLS_FAIL_PROTOCOL] = "protocol",
	[TLS_FAIL_CLOSED] = "closed",
	[TLS_FAIL_RESET] = "reset",
	[TLS_FAIL_INTERNAL] = "internal",
};

const char *
tls_fail_name(enum tls_fail f)
{
	return (unsigned)f < TLS_FAIL_COUNT ? fail_names[f] : "?";
}

/* SAN entries keep their context tag: [2] dNSName, [6] URI, [7] iPAddress. */
static int
san_kind(const mbedtls_x509_buf *b)
{
	return b->tag & MBEDTLS_ASN1_TAG_VALUE_MASK;
}

static const mbedtls_x509_buf *
subject_cn(const mbedtls_x509_crt *crt)
{
	for (const mbedtls_x509_name *n = &crt->subject; n != NULL; n = n->next)
		if (n->oid.p != NULL && MBEDTLS_OID_CMP(MBEDTLS_OID_AT_CN, &n->oid) == 0)
			return &n->val;
	return NULL;
}

static size_t
copy_id(char *buf, size_t len, const unsigned char *p, size_t n)
{
	if (n >= len)
		n = len - 1;
	memcpy(buf, p, n);
	buf[n] = '\0';
	return n;
}

unsigned
tls_cert_ip_sans(const mbedtls_x509_crt *crt)
{
	unsigned n = 0;

	for (const mbedtls_x509_sequence *s = &crt->subject_alt_names; s != NULL;
	    s = s->next)
		n += s->buf.p != NULL && san_kind(&s->buf) == MBEDTLS_X509_SAN_IP_ADDRESS;
	return n;
}

size_t
tls_peer_identity(const mbedtls_x509_crt *crt, char *buf, size_t len)
{
	static const int order[] = { MBEDTLS_X509_SAN_UNIFORM_RESOURCE_IDENTIFIER,
	    MBEDTLS_X509_SAN_DNS_NAME };
	const mbedtls_x509_buf *cn;

	buf[0] = '\0';
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		for (const mbedtls_x509_sequence *s = &crt->subject_alt_names;
		    s != NULL; s = s->next) {
			if (s->buf.p != NULL && san_kind(&s->buf) == order[i])
				return copy_id(buf, len, s->buf.p, s->buf.len);
		}
	}
	if ((cn = subject_cn(crt)) != NULL)
		return copy_id(buf, len, cn->p, cn->len);
	return 0;
}

/*
 * A name mismatch's detail: the name expected and the names the
 * certificate has (its SANs as dns:/ip:/uri:, or its CN when it has none,
 * the one case where mbedTLS compares the CN), instead of mbedTLS's text,
 * which speaks of a CN whatever the certificate holds.
 */
static void
name_mismatch_detail(struct tls_conn *c, const mbedtls_x509_crt *crt)
{
	char names[sizeof(c->detail)], ip[INET6_ADDRSTRLEN];
	const mbedtls_x509_buf *cn;
	size_t o = 0;
	int n;

	names[0] = '\0';
	for (const mbedtls_x509_sequence *q = &crt->subject_alt_names;
	    q != NULL && o < sizeof(names); q = q->next) {
		const mbedtls_x509_buf *b = &q->buf;
		const char *sep = o > 0 ? ", " : "";

		if (b->p == NULL)
			continue;
		switch (san_kind(b)) {
		case MBEDTLS_X509_SAN_DNS_NAME:
			n = snprintf(names + o, sizeof(names) - o, "%sdns:%.*s", sep,
			    (int)b->len, (const char *)b->p);
			break;
		case MBEDTLS_X509_SAN_UNIFORM_RESOURCE_IDENTIFIER:
			n = snprintf(names + o, sizeof(names) - o, "%suri:%.*s", sep,
			    (int)b->len, (const char *)b->p);
			break;
		case MBEDTLS_X509_SAN_IP_ADDRESS:
			if ((b->len != 4 && b->len != 16) || inet_ntop(b->len == 4 ?
			    AF_INET : AF_INET6, b->p, ip, sizeof(ip)) == NULL)
				continue;
			n = snprintf(names + o, sizeof(names) - o, "%sip:%s", sep, ip);
			break;
		default:
			continue;
		}
		if (n < 0)
			break;
		o += (size_t)n;
	}
	if (o == 0 && (cn = subject_cn(crt)) != NULL)
		snprintf(names, sizeof(names), "cn:%.*s", (int)cn->len,
		    (const char *)cn->p);
	snprintf(c->detail, sizeof(c->detail), "server_name %s is not among the "
	    "certificate's names (%s)", c->server_name != NULL ? c->server_name : "-",
	    names[0] != '\0' ? names : "none");
}

/* Whether any pattern admits the certificate. */
static bool
peer_allowed(const struct tls_ctx *ctx, const mbedtls_x509_crt *crt)
{
	const mbedtls_x509_buf *cn = subject_cn(crt);

	for (size_t i = 0; i < ctx->npeers; i++) {
		const struct peer_pattern *p = &ctx->peers[i];

		if (p->kind == PEER_CN) {
			if (cn != NULL && peer_pattern_match(p, PEER_CN, cn->p, cn->len))
				return true;
			continue;
		}
		for (const mbedtls_x509_sequence *s = &crt->subject_alt_names;
		    s != NULL; s = s->next) {
			enum peer_kind kind;
			if (s->buf.p == NULL)
				continue;
			switch (san_kind(&s->buf)) {
			case MBEDTLS_X509_SAN_UNIFORM_RESOURCE_IDENTIFIER:
				kind = PEER_URI; break;
			case MBEDTLS_X509_SAN_DNS_NAME:
				kind = PEER_DNS; break;
			case MBEDTLS_X509_SAN_IP_ADDRESS:
				kind = PEER_IP; break;
			default:
				continue;
			}
			if (peer_pattern_match(p, kind, s->buf.p, s->buf.len))
				return true;
		}
	}
	return false;
}

/* mbedTLS's verify_info() ends each reason with a newline: one line. */
static void
verify_info_line(char *buf, size_t len, uint32_t flags)
{
	mbedtls_x509_crt_verify_info(buf, len, "", flags);
	for (char *p = buf; *p; p++)
		if (*p == '\n')
			*p = p[1] ? ';' : '\0';
}

static enum tls_fail
classify_flags(uint32_t flags)
{
	if (flags & MBEDTLS_X509_BADCERT_MISSING)
		return TLS_FAIL_NO_CERT;
	/* An untrusted chain makes its other flaws moot: name that first. */
	if (flags & MBEDTLS_X509_BADCERT_NOT_TRUSTED)
		return TLS_FAIL_UNKNOWN_CA;
	if (flags & MBEDTLS_X509_BADCERT_REVOKED)
		return TLS_FAIL_REVOKED;
	if (flags & MBEDTLS_X509_BADCRL_EXPIRED)
		return TLS_FAIL_CRL_STALE;
	if (flags & MBEDTLS_X509_BADCERT_EXPIRED)
		return TLS_FAIL_EXPIRED;
	if (flags & MBEDTLS_X509_BADCERT_FUTURE)
		return TLS_FAIL_NOT_YET_VALID;
	if (flags & MBEDTLS_X509_BADCERT_CN_MISMATCH)
		return TLS_FAIL_NAME_MISMATCH;
	return TLS_FAIL_BAD_CERT;
}

/*
 * The policy part of verification, shared by the handshake's callback and by
 * re-verification after a reload.  A CRL past its nextUpdate still lists
 * what it lists: unless told to refuse, use it and report it stale.
 */
static void
policy(const struct tls_ctx *ctx, const mbedtls_x509_crt *crt, int depth,
    uint32_t *flags, bool *denied, bool *crl_stale)
{
	if ((*flags & MBEDTLS_X509_BADCRL_EXPIRED) && !ctx->crl_stale_refuse) {
		*flags &= ~(uint32_t)MBEDTLS_X509_BADCRL_EXPIRED;
		*crl_stale = true;
	}
	if (depth == 0 && *flags == 0 && ctx->npeers > 0 && !peer_allowed(ctx, crt)) {
		*flags |= MBEDTLS_X509_BADCERT_OTHER;
		*denied = true;
	}
}

/* The longest issuer DN kept: past the audit trail's limit per string
 * (AUDIT_STR_MAX), so that its shortening shows there. */
#define ISSUER_MAX	2048
/* The longest server name kept from a ClientHello, likewise. */
#define SNI_MAX		2048

static void
hex(char *out, size_t cap, const unsigned char *p, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	size_t o = 0;

	for (size_t i = 0; i < n && o + 2 < cap; i++) {
		out[o++] = digits[p[i] >> 4];
		out[o++] = digits[p[i] & 15];
	}
	out[o] = '\0';
}

/* Fills the audit facts (tls_int.h) from the peer's certificate. */
static void
facts_fill(struct tls_conn *c, const mbedtls_x509_crt *crt)
{
	const unsigned char *sp = crt->serial.p;
	size_t sn = crt->serial.len;
	unsigned char digest[32];
	char dn[ISSUER_MAX + 1];
	int ret;

	/* The INTEGER's bytes without the sign padding: as OpenSSL prints it. */
	while (sn > 1 && sp[0] == 0) {
		sp++;
		sn--;
	}
	hex(c->peer_serial, sizeof(c->peer_serial), sp, sn);
	if (mbedtls_sha256(crt->raw.p, crt->raw.len, digest, 0) == 0)
		hex(c->peer_sha256, sizeof(c->peer_sha256), digest, sizeof(digest));
	else
		c->peer_sha256[0] = '\0';
	/* Too long for dn: what fits (a prefix, NUL-terminated), which the
	 * audit trail shortens further and marks. */
	dn[0] = '\0';
	ret = mbedtls_x509_dn_gets(dn, sizeof(dn), &crt->issuer);
	(void)ret;
	free(c->peer_issuer);
	c->peer_issuer = dn[0] != '\0' ? strdup(dn) : NULL;
	c->facts = true;
}

int
tls_peer_sni(void *p, mbedtls_ssl_context *ssl, const unsigned char *name,
    size_t len)
{
	struct tls_conn *c = mbedtls_ssl_get_user_data_p(ssl);

	(void)p;
	if (c == NULL || c->sni != NULL)
		return 0;
	if (len > SNI_MAX)
		len = SNI_MAX;
	/* Out of memory: the name is not known, the handshake goes on. */
	if ((c->sni = malloc(len + 1)) != NULL) {
		memcpy(c->sni, name, len);
		c->sni[len] = '\0';
	}
	return 0;
}

int
tls_peer_verify(void *conn, mbedtls_x509_crt *crt, int depth, uint32_t *flags)
{
	struct tls_conn *c = conn;

	if (depth == 0) {
		const mbedtls_x509_buf *cn = subject_cn(crt);
		c->saw_cert = true;
		facts_fill(c, crt);
		c->name_detail = false;
		if (*flags & MBEDTLS_X509_BADCERT_CN_MISMATCH) {
			name_mismatch_detail(c, crt);
			c->name_detail = true;
		}
		c->peer_id_len = tls_peer_identity(crt, c->peer_id, sizeof(c->peer_id));
		c->peer_not_after = tls_x509_time(&crt->valid_to);
		c->peer_cn[0] = '\0';
		if (cn != NULL)
			copy_id(c->peer_cn, sizeof(c->peer_cn), cn->p, cn->len);
	}
	policy(c->ctx, crt, depth, flags, &c->denied, &c->crl_stale);
	return 0;
}

struct reverify {
	const struct tls_ctx *ctx;
	bool denied, crl_stale;
};

static int
reverify_cb(void *arg, mbedtls_x509_crt *crt, int depth, uint32_t *flags)
{
	struct reverify *rv = arg;

	policy(rv->ctx, crt, depth, flags, &rv->denied, &rv->crl_stale);
	return 0;
}

/* The peer's chain: from mbedTLS's session, or, once kernel TLS freed
 * that (or for a resumed session), parsed again from the leaf kept. */
static mbedtls_x509_crt *
peer_chain(struct tls_conn *c, mbedtls_x509_crt *scratch)
{
	const mbedtls_x509_crt *live = c->ssl_freed ? NULL :
	    mbedtls_ssl_get_peer_cert(&c->ssl);

	/* A resumed session has no certificate of its own: its ticket's. */
	if (live != NULL)
		return (mbedtls_x509_crt *)live;
	if (c->peer_der == NULL ||
	    mbedtls_x509_crt_parse_der(scratch, c->peer_der, c->peer_der_len) != 0)
		return NULL;
	return scratch;
}

int
tls_conn_reverify(struct tls_conn *c, struct tls_ctx *ctx)
{
	mbedtls_x509_crt scratch;
	mbedtls_x509_crt *chain;
	struct reverify rv = { .ctx = ctx };
	uint32_t flags = 0;
	unsigned char alert;
	int authmode = ctx->authmode;

	if (ctx->role == TLS_ROLE_SERVER && authmode == MBEDTLS_SSL_VERIFY_NONE)
		return 0;
	mbedtls_x509_crt_init(&scratch);
	if ((chain = peer_chain(c, &scratch)) == NULL) {
		mbedtls_x509_crt_free(&scratch);
		/* No certificate: fine only where none is required. */
		if (ctx->role == TLS_ROLE_SERVER && authmode != MBEDTLS_SSL_VERIFY_REQUIRED)
			return 0;
		c->fail = TLS_FAIL_NO_CERT;
		snprintf(c->detail, sizeof(c->detail), "no certificate to re-check");
		return -1;
	}
	(void)mbedtls_x509_crt_verify_with_profile(chain, &ctx->ca,
	    ctx->crl.version != 0 ? &ctx->crl : NULL,
	    &mbedtls_x509_crt_profile_default, c->server_name, &flags,
	    reverify_cb, &rv);
	if (flags != 0) {
		c->fail = rv.denied ? TLS_FAIL_DENIED : classify_flags(flags);
		if (c->fail == TLS_FAIL_NAME_MISMATCH)
			name_mismatch_detail(c, chain);
		else
			verify_info_line(c->detail, sizeof(c->detail), flags);
	}
	mbedtls_x509_crt_free(&scratch);
	if (flags == 0)
		return 0;
	/* Tell the peer why, with a fatal alert, rather than a bare close that
	 * could pass for the end of the stream.  Best effort. */
	alert = c->fail == TLS_FAIL_REVOKED ? MBEDTLS_SSL_ALERT_MSG_CERT_REVOKED :
	    c->fail == TLS_FAIL_EXPIRED ? MBEDTLS_SSL_ALERT_MSG_CERT_EXPIRED :
	    c->fail == TLS_FAIL_UNKNOWN_CA ? MBEDTLS_SSL_ALERT_MSG_UNKNOWN_CA :
	    MBEDTLS_SSL_ALERT_MSG_ACCESS_DENIED;
	if (c->tx_layer == TLS_LAYER_KERNEL)
		(void)tls_ktls_send_alert(c, MBEDTLS_SSL_ALERT_LEVEL_FATAL, alert);
	else if (c->tx_layer == TLS_LAYER_OWN)
		tls_rec_alert(c, MBEDTLS_SSL_ALERT_LEVEL_FATAL, alert);
	else
		(void)mbedtls_ssl_send_alert_message(&c->ssl,
		    MBEDTLS_SSL_ALERT_LEVEL_FATAL, alert);
	return -1;
}

void
tls_peer_classify(struct tls_conn *c, int ret)
{
	uint32_t flags = mbedtls_ssl_get_verify_result(&c->ssl);
	char why[128];

	if (c->denied) {
		c->fail = TLS_FAIL_DENIED;
		snprintf(c->detail, sizeof(c->detail), "identity not in the allow-list");
		return;
	}
	if (flags != 0 && flags != (uint32_t)-1 &&
	    flags != MBEDTLS_X509_BADCERT_SKIP_VERIFY) {
		c->fail = classify_flags(flags);
		/* The verify callback wrote a better one for a name mismatch. */
		if (c->fail != TLS_FAIL_NAME_MISMATCH || !c->name_detail)
			verify_info_line(c->detail, sizeof(c->detail), flags);
		return;
	}
	switch (ret) {
	case MBEDTLS_ERR_SSL_NO_CLIENT_CERTIFICATE:
		c->fail = TLS_FAIL_NO_CERT;
		break;
	case MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE:
		c->fail = TLS_FAIL_PEER_ALERT;
		break;
	case MBEDTLS_ERR_NET_CONN_RESET:
		c->fail = TLS_FAIL_RESET;
		break;
	case MBEDTLS_ERR_SSL_CONN_EOF:
	case 0:
		c->fail = TLS_FAIL_CLOSED;
		break;
	case MBEDTLS_ERR_SSL_ALLOC_FAILED:
	case MBEDTLS_ERR_SSL_INTERNAL_ERROR:
	case MBEDTLS_ERR_NET_SEND_FAILED:
	case MBEDTLS_ERR_NET_RECV_FAILED:
		c->fail = TLS_FAIL_INTERNAL;
		break;
	default:
		c->fail = TLS_FAIL_PROTOCOL;
		break;
	}
	mbedtls_strerror(ret, why, sizeof(why));
	snprintf(c->detail, sizeof(c->detail), "%s", why);
}

/* A resumed session's facts come from the certificate it kept; asked for
 * only by the audit trail, so the resumption itself pays nothing. */
static void
facts_settle(struct tls_conn *c)
{
	mbedtls_x509_crt scratch;
	mbedtls_x509_crt *chain;

	if (c->facts)
		return;
	mbedtls_x509_crt_init(&scratch);
	if ((chain = peer_chain(c, &scratch)) != NULL)
		facts_fill(c, chain);
	mbedtls_x509_crt_free(&scratch);
}

const char *
tls_conn_peer_serial(struct tls_conn *c)
{
	facts_settle(c);
	return c->peer_serial;
}

const char *
tls_conn_peer_fingerprint(struct tls_conn *c)
{
	facts_settle(c);
	return c->peer_sha256;
}

const char *
tls_conn_peer_issuer(struct tls_conn *c)
{
	facts_settle(c);
	return c->peer_issuer != NULL ? c->peer_issuer : "";
}

const char *
tls_conn_sni(const struct tls_conn *c)
{
	if (c->ctx->role == TLS_ROLE_CLIENT)
		return c->server_name != NULL ? c->server_name : "";
	return c->sni != NULL ? c->sni : "";
}
