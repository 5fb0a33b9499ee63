/*
 * tls_ticket.c: TLS 1.3 session resumption with tickets.
 *
 * Server routes issue one ticket per full handshake; client routes keep the
 * newest ticket per server name (shared by the route's workers; a transparent
 * route has one name per peer, up to TLS_TICKET_SLOTS, the least recently
 * used giving way) and offer it on the next connection to that name, so a
 * reconnect skips the certificate signatures and verifications (the key
 * exchange stays ephemeral: PSK with (EC)DHE, never plain PSK).
 *
 * Tickets are mtlsd's own format, sealed with AES-256-GCM under a key that
 * lives in the route's material:
 *   - every worker of a route shares it, so a reconnect that lands on
 *     another worker still resumes;
 *   - a reload that changes anything makes a new material and a new key,
 *     so no ticket outlives the CA, CRL or allow-list that admitted it;
 *   - the ticket carries the peer's identity and certificate, so a resumed
 *     connection is logged, re-authorized and reported to PROXY v2 backends
 *     like a full one, and never outlives that certificate.
 *
 *   ticket = name(4) | iv(12) | AES-GCM(issued(8) | not_after(8) | id_len(2)
 *            | id | der_len(2) | der | mbedTLS session) | tag(16)
 *
 * Why not mbedTLS's mbedtls_ssl_ticket (3.6), with mbedtls_ssl_ticket_rotate()
 * sharing one key between the workers: it seals the mbedTLS session alone,
 * under one lifetime for every ticket, and of what this format guarantees
 * it keeps only "void after a reload" (a new context per reload, a new
 * key).  The cap at the peer certificate's notAfter it cannot keep:
 * mbedtls_ssl_ticket_write() gives every ticket the context's lifetime,
 * and mbedtls_ssl_ticket_parse() checks the ticket's age only.  Enforcing
 * the cap around it means reading the restored session's certificate,
 * which has no public getter (the parse callback gets a session, not an
 * ssl context), or refusing after the handshake, which turns a ticket of
 * a since-renewed certificate into a failed connection instead of a full
 * handshake.  The shared key would not stay shared either: a context not
 * rotated again before its lifetime ends makes a random key of its own,
 * so every worker's context would need rotating, from the main thread,
 * on time, or reconnects to another worker would stop resuming.  And the
 * callbacks would still need the connection (tls_ticket_step()) for the
 * identity.  Ours is one AEAD call each way under a key the material
 * holds read-only; what it seals is what resumption must know.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <mbedtls/platform_util.h>

#include "tls/tls_int.h"

#define NAME_LEN	4
#define IV_LEN		12
#define TAG_LEN		16
#define LIFETIME_S	(2 * 3600)	/* a ticket is good for two hours at most */

/*
 * mbedTLS calls the ticket callbacks with the context's p_ticket only, not
 * with the session's connection, which they read and fill (identity,
 * certificate).  So tls_conn_handshake() names the connection here for
 * the length of its call into mbedTLS, where alone the callbacks run: per
 * thread, since each worker drives its own handshakes.  Nothing outlives
 * that call, and the context stays immutable.
 */
static _Thread_local struct tls_conn *stepping;

void
tls_ticket_step(struct tls_conn *c)
{
	stepping = c;
}

int
tls_ticket_material_init(struct tls_material *m)
{
	return getrandom(m->ticket_key, sizeof(m->ticket_key), 0) ==
	    (ssize_t)sizeof(m->ticket_key) &&
	    getrandom(m->ticket_name, sizeof(m->ticket_name), 0) ==
	    (ssize_t)sizeof(m->ticket_name) ? 0 : -1;
}

static int
ticket_write(void *p, const mbedtls_ssl_session *session, unsigned char *start,
    const unsigned char *end, size_t *tlen, uint32_t *lifetime)
{
	struct tls_ctx *ctx = p;
	struct tls_conn *c = stepping != NULL && stepping->ctx == ctx ? stepping : NULL;
	const mbedtls_x509_crt *peer = c ? mbedtls_ssl_get_peer_cert(&c->ssl) : NULL;
	const unsigned char *der = peer ? peer->raw.p : c ? c->peer_der : NULL;
	size_t der_len = peer ? peer->raw.len : c ? c->peer_der_len : 0;
	unsigned char *pt = start + NAME_LEN + IV_LEN, *q = pt;
	time_t now = time(NULL), not_after = c ? c->peer_not_after : 0;
	size_t id_len = c ? c->peer_id_len : 0, olen;
	uint64_t life = LIFETIME_S;

	if (c == NULL || (size_t)(end - start) < NAME_LEN + IV_LEN + 20 + id_len +
	    der_len + TAG_LEN)
		return MBEDTLS_ERR_SSL_BUFFER_TOO_SMALL;
	memcpy(start, ctx->ticket_name, NAME_LEN);
	if (getrandom(start + NAME_LEN, IV_LEN, 0) != IV_LEN)
		return MBEDTLS_ERR_SSL_INTERNAL_ERROR;
	tls_put_be64(q, (uint64_t)now);
	tls_put_be64(q + 8, (uint64_t)not_after);
	q[16] = (unsigned char)(id_len >> 8);
	q[17] = (unsigned char)id_len;
	memcpy(q + 18, c->peer_id, id_len);
	q += 18 + id_len;
	q[0] = (unsigned char)(der_len >> 8);
	q[1] = (unsigned char)der_len;
	if (der_len > 0)
		memcpy(q + 2, der, der_len);
	q += 2 + der_len;
	if (mbedtls_ssl_session_save(session, q, (size_t)(end - q) - TAG_LEN, &olen) != 0)
		return MBEDTLS_ERR_SSL_BUFFER_TOO_SMALL;
	q += olen;
	if (mbedtls_gcm_crypt_and_tag(&ctx->ticket_gcm, MBEDTLS_GCM_ENCRYPT,
	    (size_t)(q - pt), start + NAME_LEN, IV_LEN, start, NAME_LEN, pt, pt,
	    TAG_LEN, q) != 0)
		return MBEDTLS_ERR_SSL_INTERNAL_ERROR;
	*tlen = (size_t)(q + TAG_LEN - start);
	if (not_after != 0 && (uint64_t)(not_after - now) < life)
		life = not_after > now ? (uint64_t)(not_after - now) : 0;
	*lifetime = (uint32_t)life;
	return 0;
}

static int
ticket_parse(void *p, mbedtls_ssl_session *session, unsigned char *buf, size_t len)
{
	struct tls_ctx *ctx = p;
	struct tls_conn *c = stepping != NULL && stepping->ctx == ctx ? stepping : NULL;
	unsigned char *pt = buf + NAME_LEN + IV_LEN, *q;
	size_t ptlen, id_len, der_len;
	uint64_t issued, not_after, now = (uint64_t)time(NULL);

	if (c == NULL || len < NAME_LEN + IV_LEN + 20 + TAG_LEN)
		return MBEDTLS_ERR_SSL_INVALID_MAC;
	/* Another key: an older material's ticket.  Not an error: a full
	 * handshake follows. */
	if (memcmp(buf, ctx->ticket_name, NAME_LEN) != 0)
		return MBEDTLS_ERR_SSL_SESSION_TICKET_EXPIRED;
	ptlen = len - NAME_LEN - IV_LEN - TAG_LEN;
	if (mbedtls_gcm_auth_decrypt(&ctx->ticket_gcm, ptlen, buf + NAME_LEN, IV_LEN,
	    buf, NAME_LEN, pt + ptlen, TAG_LEN, pt, pt) != 0)
		return MBEDTLS_ERR_SSL_INVALID_MAC;
	issued = tls_get_be64(pt);
	not_after = tls_get_be64(pt + 8);
	id_len = (size_t)pt[16] << 8 | pt[17];
	if (issued > now || now - issued > LIFETIME_S || (not_after != 0 && now >= not_after))
		return MBEDTLS_ERR_SSL_SESSION_TICKET_EXPIRED;
	if (18 + id_len + 2 > ptlen || id_len >= sizeof(c->peer_id))
		return MBEDTLS_ERR_SSL_INVALID_MAC;
	q = pt + 18 + id_len;
	der_len = (size_t)q[0] << 8 | q[1];
	if (18 + id_len + 2 + der_len > ptlen)
		return MBEDTLS_ERR_SSL_INVALID_MAC;
	if (mbedtls_ssl_session_load(session, q + 2 + der_len,
	    ptlen - (18 + id_len + 2 + der_len)) != 0)
		return MBEDTLS_ERR_SSL_INVALID_MAC;
	/* The session is the ticket's: so is the identity. */
	memcpy(c->peer_id, pt + 18, id_len);
	c->peer_id[id_len] = '\0';
	c->peer_id_len = id_len;
	c->peer_not_after = (time_t)not_after;
	free(c->peer_der);
	c->peer_der = NULL;
	c->peer_der_len = 0;
	if (der_len > 0 && (c->peer_der = malloc(der_len)) != NULL) {
		memcpy(c->peer_der, q + 2, der_len);
		c->peer_der_len = der_len;
	}
	c->resumed = true;
	return 0;
}

int
tls_ticket_ctx_init(struct tls_ctx *ctx, const struct tls_material *m)
{
	if (m->role == TLS_ROLE_SERVER) {
		memcpy(ctx->ticket_name, m->ticket_name, NAME_LEN);
		if (mbedtls_gcm_setkey(&ctx->ticket_gcm, MBEDTLS_CIPHER_ID_AES,
		    m->ticket_key, 256) != 0)
			return -1;
		mbedtls_ssl_conf_session_tickets_cb(&ctx->conf, ticket_write,
		    ticket_parse, ctx);
		mbedtls_ssl_conf_new_session_tickets(&ctx->conf, 1);
	} else {
		/* The ticket lives in the material, which every worker's
		 * context of the route shares. */
		tls_material_ref((struct tls_material *)m);
		ctx->m = (struct tls_material *)m;
		mbedtls_ssl_conf_session_tickets(&ctx->conf,
		    MBEDTLS_SSL_SESSION_TICKETS_ENABLED);
		/* mbedtls_ssl_read() reports each ticket, so we can keep it. */
		mbedtls_ssl_conf_tls13_enable_signal_new_session_tickets(&ctx->conf,
		    MBEDTLS_SSL_TLS1_3_SIGNAL_NEW_SESSION_TICKETS_ENABLED);
	}
	/* Resumption keeps forward secrecy: PSK with (EC)DHE only. */
	mbedtls_ssl_conf_tls13_key_exchange_modes(&ctx->conf,
	    MBEDTLS_SSL_TLS1_3_KEY_EXCHANGE_MODE_PSK_EPHEMERAL |
	    MBEDTLS_SSL_TLS1_3_KEY_EXCHANGE_MODE_EPHEMERAL);
	ctx->resumption = true;
	return 0;
}

/* The slot holding name's ticket; with make, else a free or the least
 * recently used one, emptied and renamed.  NULL if none (or no memory).
 * Called with ticket_lock held. */
static struct tls_ticket_slot *
ticket_slot(struct tls_material *m, const char *name, bool make)
{
	struct tls_ticket_slot *s, *lru = NULL;

	if (m->tickets == NULL && (!make ||
	    (m->tickets = calloc(TLS_TICKET_SLOTS, sizeof(*m->tickets))) == NULL))
		return NULL;
	for (size_t i = 0; i < TLS_TICKET_SLOTS; i++) {
		s = &m->tickets[i];
		if (s->blob != NULL && strcmp(s->name, name) == 0)
			return s;
		if (lru == NULL || (lru->blob != NULL && (s->blob == NULL ||
		    s->used < lru->used)))
			lru = s;
	}
	if (!make)
		return NULL;
	if (lru->blob != NULL) {
		mbedtls_platform_zeroize(lru->blob, lru->len);
		free(lru->blob);
	}
	memset(lru, 0, sizeof(*lru));
	snprintf(lru->name, sizeof(lru->name), "%s", name);
	return lru;
}

/* Client: offer the newest ticket for this server name, and remember who it
 * was for. */
int
tls_ticket_offer(struct tls_conn *c)
{
	struct tls_material *m = c->ctx->m;
	struct tls_ticket_slot *s;
	mbedtls_ssl_session session;
	unsigned char *blob = NULL;
	size_t len = 0;

	if (!c->ctx->resumption || c->ctx->role != TLS_ROLE_CLIENT || m == NULL ||
	    c->server_name == NULL || strlen(c->server_name) >= sizeof(s->name))
		return 0;
	pthread_mutex_lock(&m->ticket_lock);
	if ((s = ticket_slot(m, c->server_name, false)) != NULL &&
	    (blob = malloc(s->len)) != NULL) {
		memcpy(blob, s->blob, s->len);
		len = s->len;
		memcpy(c->offered_id, s->id, sizeof(c->offered_id));
		c->offered_id_len = s->id_len;
		s->used = ++m->ticket_clock;
	}
	pthread_mutex_unlock(&m->ticket_lock);
	if (blob == NULL)
		return 0;
	mbedtls_ssl_session_init(&session);
	/* A session that will not load or set: a full handshake, then. */
	c->offered = mbedtls_ssl_session_load(&session, blob, len) == 0 &&
	    mbedtls_ssl_set_session(&c->ssl, &session) == 0;
	mbedtls_ssl_session_free(&session);
	mbedtls_platform_zeroize(blob, len);
	free(blob);
	return 0;
}

/* Client: the handshake that offered a ticket failed.  The ticket goes,
 * so the next connection tries a full handshake: a server that changed
 * (one that now speaks only TLS 1.2 refuses a TLS 1.3-only resumption)
 * must not keep the route failing. */
void
tls_ticket_drop(struct tls_conn *c)
{
	struct tls_material *m = c->ctx->m;
	struct tls_ticket_slot *s;

	if (!c->offered || m == NULL || c->server_name == NULL ||
	    strlen(c->server_name) >= sizeof(s->name))
		return;
	pthread_mutex_lock(&m->ticket_lock);
	if ((s = ticket_slot(m, c->server_name, false)) != NULL) {
		mbedtls_platform_zeroize(s->blob, s->len);
		free(s->blob);
		memset(s, 0, sizeof(*s));
	}
	pthread_mutex_unlock(&m->ticket_lock);
	c->offered = false;
}

/* Client: a ticket arrived on c; it becomes the newest for its server name. */
void
tls_ticket_keep(struct tls_conn *c)
{
	struct tls_material *m = c->ctx->m;
	struct tls_ticket_slot *s;
	mbedtls_ssl_session session;
	unsigned char *blob = NULL, *old = NULL;
	size_t len = 0, old_len = 0;

	if (m == NULL || c->server_name == NULL ||
	    strlen(c->server_name) >= sizeof(s->name))
		return;
	mbedtls_ssl_session_init(&session);
	if (mbedtls_ssl_get_session(&c->ssl, &session) != 0 ||
	    mbedtls_ssl_session_save(&session, NULL, 0, &len) !=
	    MBEDTLS_ERR_SSL_BUFFER_TOO_SMALL || (blob = malloc(len)) == NULL ||
	    mbedtls_ssl_session_save(&session, blob, len, &len) != 0) {
		free(blob);
		mbedtls_ssl_session_free(&session);
		return;
	}
	mbedtls_ssl_session_free(&session);
	pthread_mutex_lock(&m->ticket_lock);
	if ((s = ticket_slot(m, c->server_name, true)) != NULL) {
		old = s->blob;
		old_len = s->len;
		s->blob = blob;
		s->len = len;
		memcpy(s->id, c->peer_id, sizeof(s->id));
		s->id_len = c->peer_id_len;
		s->used = ++m->ticket_clock;
		blob = NULL;
	}
	pthread_mutex_unlock(&m->ticket_lock);
	if (blob != NULL) {		/* no slot: no memory for the table */
		mbedtls_platform_zeroize(blob, len);
		free(blob);
	}
	if (old != NULL) {
		mbedtls_platform_zeroize(old, old_len);
		free(old);
	}
}

/* Client: after the handshake, a server that sent no certificate resumed
 * the offered session: it is the server that ticket came from.  (mbedTLS
 * restores the old certificate with the session, so ask the verify
 * callback, which only a full handshake calls.) */
void
tls_ticket_settle(struct tls_conn *c)
{
	if (c->ctx->role != TLS_ROLE_CLIENT || !c->offered || c->saw_cert)
		return;
	memcpy(c->peer_id, c->offered_id, sizeof(c->peer_id));
	c->peer_id_len = c->offered_id_len;
	c->resumed = true;
}

void
tls_ticket_ctx_free(struct tls_ctx *ctx)
{
	tls_material_unref(ctx->m);
	ctx->m = NULL;
	mbedtls_gcm_free(&ctx->ticket_gcm);
	mbedtls_platform_zeroize(ctx->ticket_name, sizeof(ctx->ticket_name));
}
