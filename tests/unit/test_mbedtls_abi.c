/*
 * test_mbedtls_abi.c: the mbedTLS internals mtlsd reads (tls_int.h's
 * tls_mbed_* helpers, where every MBEDTLS_PRIVATE read lives) still are
 * what mtlsd takes them for.
 *
 * Each field is checked twice: at compile time (it exists, with the type
 * read; a release that renames or retypes it fails the build here), and at
 * run time against something public: bytes on the wire, what the peer
 * accepts, what mbedTLS's own API says.  Two raw mbedTLS sessions (a
 * pre-shared key, no certificates) talk over in-memory pipes whose room
 * and arrivals the test sets, so a half-sent record and a half-received
 * one can be made at will.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/ssl.h>
#include <mbedtls/ssl_ciphersuites.h>
#include <mbedtls/ssl_ticket.h>
#include <psa/crypto.h>

#include "tls/tls_int.h"

/* ---- compile time: the fields, with the types tls_int.h reads ----------- */

#define FIELD(f) (((mbedtls_ssl_context *)0)->MBEDTLS_PRIVATE(f))
_Static_assert(_Generic(FIELD(out_left), size_t: 1, default: 0),
    "mbedtls_ssl_context.out_left is no longer a size_t");
_Static_assert(_Generic(FIELD(in_left), size_t: 1, default: 0),
    "mbedtls_ssl_context.in_left is no longer a size_t");
_Static_assert(_Generic(FIELD(in_ctr), unsigned char *: 1, default: 0),
    "mbedtls_ssl_context.in_ctr is no longer a pointer to bytes");
_Static_assert(sizeof(FIELD(cur_out_ctr)) == 8,
    "mbedtls_ssl_context.cur_out_ctr is no longer 8 bytes");
_Static_assert(_Generic(FIELD(state), int: 1, default: 0),
    "mbedtls_ssl_context.state is no longer an int");

/* ---- in-memory pipes ---------------------------------------------------- */

struct pipe {
	unsigned char buf[1 << 16];
	size_t len;
	size_t room;		/* bytes a send may still add; SIZE_MAX: any */
	size_t arrive;		/* bytes a recv may still take; SIZE_MAX: any */
	size_t offered;		/* the length of the last send call */
};

struct end {
	mbedtls_ssl_context ssl;
	struct pipe *out, *in;
};

static int
pipe_send(void *p, const unsigned char *buf, size_t len)
{
	struct end *e = p;
	struct pipe *q = e->out;
	size_t n = len;

	q->offered = len;
	if (n > q->room)
		n = q->room;
	if (n > sizeof(q->buf) - q->len)
		n = sizeof(q->buf) - q->len;
	if (n == 0)
		return MBEDTLS_ERR_SSL_WANT_WRITE;
	memcpy(q->buf + q->len, buf, n);
	q->len += n;
	if (q->room != SIZE_MAX)
		q->room -= n;
	return (int)n;
}

static int
pipe_recv(void *p, unsigned char *buf, size_t len)
{
	struct end *e = p;
	struct pipe *q = e->in;
	size_t n = len;

	if (n > q->len)
		n = q->len;
	if (n > q->arrive)
		n = q->arrive;
	if (n == 0)
		return MBEDTLS_ERR_SSL_WANT_READ;
	memcpy(buf, q->buf, n);
	memmove(q->buf, q->buf + n, q->len - n);
	q->len -= n;
	if (q->arrive != SIZE_MAX)
		q->arrive -= n;
	return (int)n;
}

/* ---- two sessions ------------------------------------------------------- */

static const unsigned char psk[32] = "mtlsd test_mbedtls_abi psk 32 b";
static const unsigned char psk_id[] = "abi";
static const int suites13[] = { MBEDTLS_TLS1_3_AES_128_GCM_SHA256, 0 };
static const int suites12[] = { MBEDTLS_TLS_PSK_WITH_AES_128_GCM_SHA256, 0 };

struct duo {
	mbedtls_entropy_context entropy;
	mbedtls_ctr_drbg_context drbg;
	mbedtls_ssl_ticket_context ticket;
	mbedtls_ssl_config sconf, cconf;
	struct pipe c2s, s2c;
	struct end s, c;
};

static void
conf_one(struct duo *d, mbedtls_ssl_config *conf, int endpoint, bool v13)
{
	mbedtls_ssl_config_init(conf);
	assert_int_equal(mbedtls_ssl_config_defaults(conf, endpoint,
	    MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT), 0);
	mbedtls_ssl_conf_rng(conf, mbedtls_ctr_drbg_random, &d->drbg);
	mbedtls_ssl_conf_min_tls_version(conf, v13 ? MBEDTLS_SSL_VERSION_TLS1_3 :
	    MBEDTLS_SSL_VERSION_TLS1_2);
	mbedtls_ssl_conf_max_tls_version(conf, v13 ? MBEDTLS_SSL_VERSION_TLS1_3 :
	    MBEDTLS_SSL_VERSION_TLS1_2);
	mbedtls_ssl_conf_ciphersuites(conf, v13 ? suites13 : suites12);
	mbedtls_ssl_conf_tls13_key_exchange_modes(conf,
	    MBEDTLS_SSL_TLS1_3_KEY_EXCHANGE_MODE_PSK_ALL);
	assert_int_equal(mbedtls_ssl_conf_psk(conf, psk, sizeof(psk), psk_id,
	    sizeof(psk_id) - 1), 0);
}

/* A finished handshake; with tickets, the TLS 1.3 server issues one. */
static void
duo_open(struct duo *d, bool v13, bool tickets)
{
	int sr = 1, cr = 1;

	memset(d, 0, sizeof(*d));
	assert_int_equal(psa_crypto_init(), PSA_SUCCESS);
	mbedtls_entropy_init(&d->entropy);
	mbedtls_ctr_drbg_init(&d->drbg);
	mbedtls_ssl_ticket_init(&d->ticket);
	assert_int_equal(mbedtls_ctr_drbg_seed(&d->drbg, mbedtls_entropy_func,
	    &d->entropy, NULL, 0), 0);
	conf_one(d, &d->sconf, MBEDTLS_SSL_IS_SERVER, v13);
	conf_one(d, &d->cconf, MBEDTLS_SSL_IS_CLIENT, v13);
	if (tickets) {
		assert_int_equal(mbedtls_ssl_ticket_setup(&d->ticket,
		    mbedtls_ctr_drbg_random, &d->drbg, MBEDTLS_CIPHER_AES_256_GCM,
		    3600), 0);
		mbedtls_ssl_conf_session_tickets_cb(&d->sconf, mbedtls_ssl_ticket_write,
		    mbedtls_ssl_ticket_parse, &d->ticket);
		mbedtls_ssl_conf_new_session_tickets(&d->sconf, 1);
		mbedtls_ssl_conf_tls13_enable_signal_new_session_tickets(&d->cconf,
		    MBEDTLS_SSL_TLS1_3_SIGNAL_NEW_SESSION_TICKETS_ENABLED);
	} else {
		mbedtls_ssl_conf_session_tickets(&d->cconf,
		    MBEDTLS_SSL_SESSION_TICKETS_DISABLED);
	}
	d->c2s.room = d->s2c.room = d->c2s.arrive = d->s2c.arrive = SIZE_MAX;
	d->s.out = &d->s2c, d->s.in = &d->c2s;
	d->c.out = &d->c2s, d->c.in = &d->s2c;
	mbedtls_ssl_init(&d->s.ssl);
	mbedtls_ssl_init(&d->c.ssl);
	assert_int_equal(mbedtls_ssl_setup(&d->s.ssl, &d->sconf), 0);
	assert_int_equal(mbedtls_ssl_setup(&d->c.ssl, &d->cconf), 0);
	mbedtls_ssl_set_bio(&d->s.ssl, &d->s, pipe_send, pipe_recv, NULL);
	mbedtls_ssl_set_bio(&d->c.ssl, &d->c, pipe_send, pipe_recv, NULL);
	/* Mid-handshake, a step is always due. */
	assert_false(tls_mbed_at_rest(&d->c.ssl));
	for (int i = 0; i < 100 && (sr != 0 || cr != 0); i++) {
		if (cr != 0)
			cr = mbedtls_ssl_handshake(&d->c.ssl);
		if (sr != 0)
			sr = mbedtls_ssl_handshake(&d->s.ssl);
		if (cr != 0 && cr != MBEDTLS_ERR_SSL_WANT_READ &&
		    cr != MBEDTLS_ERR_SSL_WANT_WRITE)
			fail_msg("client handshake: -0x%04x", (unsigned)-cr);
		if (sr != 0 && sr != MBEDTLS_ERR_SSL_WANT_READ &&
		    sr != MBEDTLS_ERR_SSL_WANT_WRITE)
			fail_msg("server handshake: -0x%04x", (unsigned)-sr);
	}
	assert_int_equal(cr, 0);
	assert_int_equal(sr, 0);
	assert_int_equal(mbedtls_ssl_get_version_number(&d->c.ssl),
	    v13 ? MBEDTLS_SSL_VERSION_TLS1_3 : MBEDTLS_SSL_VERSION_TLS1_2);
}

static void
duo_close(struct duo *d)
{
	mbedtls_ssl_free(&d->s.ssl);
	mbedtls_ssl_free(&d->c.ssl);
	mbedtls_ssl_config_free(&d->sconf);
	mbedtls_ssl_config_free(&d->cconf);
	mbedtls_ssl_ticket_free(&d->ticket);
	mbedtls_ctr_drbg_free(&d->drbg);
	mbedtls_entropy_free(&d->entropy);
}

/* Reads on e until WANT_READ; returns the data bytes. */
static size_t
drain(struct end *e)
{
	unsigned char buf[256];
	size_t got = 0;
	int r;

	while ((r = mbedtls_ssl_read(&e->ssl, buf, sizeof(buf))) > 0 ||
	    r == MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET ||
	    (r == MBEDTLS_ERR_SSL_WANT_READ && mbedtls_ssl_check_pending(&e->ssl)))
		got += r > 0 ? (size_t)r : 0;
	assert_int_equal(r, MBEDTLS_ERR_SSL_WANT_READ);
	return got;
}

/* ---- run time ----------------------------------------------------------- */

/*
 * cur_out_ctr and in_ctr: the numbers the next record is sealed and opened
 * under.  A record decrypts only under the number it was sealed with, so
 * the sender's count before a write must equal the receiver's before the
 * read, and both move by one a record.  TLS 1.3 starts the application
 * keys at 0 (RFC 8446 5.3); TLS 1.2's Finished took 0 under the new keys
 * (RFC 5246 6.1), and its AES-GCM records carry the number on the wire as
 * their explicit nonce (RFC 5288 3: mbedTLS's choice, which kernel TLS and
 * mtlsd's own layer keep).
 */
static void
check_seq(bool v13)
{
	static const unsigned char msg[100] = "abi";
	struct duo d;
	uint64_t s0;

	duo_open(&d, v13, false);
	assert_int_equal(drain(&d.c), 0);
	s0 = tls_mbed_seq(&d.c.ssl, true);
	assert_int_equal(s0, v13 ? 0 : 1);
	assert_int_equal(tls_mbed_seq(&d.s.ssl, false), s0);
	for (uint64_t i = 0; i < 3; i++) {
		assert_int_equal(d.c2s.len, 0);
		assert_int_equal(mbedtls_ssl_write(&d.c.ssl, msg, sizeof(msg)),
		    sizeof(msg));
		if (!v13)
			assert_int_equal(tls_get_be64(d.c2s.buf + 5), s0 + i);
		assert_int_equal(tls_mbed_seq(&d.c.ssl, true), s0 + i + 1);
		assert_int_equal(tls_mbed_seq(&d.s.ssl, false), s0 + i);
		assert_int_equal(drain(&d.s), sizeof(msg));
		assert_int_equal(tls_mbed_seq(&d.s.ssl, false), s0 + i + 1);
	}
	/* The other way too, whatever the server sent after its Finished. */
	assert_int_equal(mbedtls_ssl_write(&d.s.ssl, msg, sizeof(msg)), sizeof(msg));
	assert_int_equal(drain(&d.c), sizeof(msg));
	assert_int_equal(tls_mbed_seq(&d.c.ssl, false), tls_mbed_seq(&d.s.ssl, true));
	assert_true(tls_mbed_seq(&d.s.ssl, true) >= (v13 ? 1 : 2));
	duo_close(&d);
}

static void
test_seq_tls13(void **state)
{
	(void)state;
	check_seq(true);
}

static void
test_seq_tls12(void **state)
{
	(void)state;
	check_seq(false);
}

/* out_left: what a write left unsent is what the pipe was last offered
 * and refused; the retry with the same bytes sends the rest. */
static void
test_unsent(void **state)
{
	static const unsigned char msg[300] = "abi";
	struct duo d;

	(void)state;
	duo_open(&d, true, false);
	assert_int_equal(tls_mbed_unsent(&d.c.ssl), 0);
	d.c2s.room = 10;
	assert_int_equal(mbedtls_ssl_write(&d.c.ssl, msg, sizeof(msg)),
	    MBEDTLS_ERR_SSL_WANT_WRITE);
	/* The pipe took 10 bytes; mbedTLS offered the rest again, in vain. */
	assert_int_equal(d.c2s.len, 10);
	assert_int_equal(tls_mbed_unsent(&d.c.ssl), d.c2s.offered);
	assert_true(10 + d.c2s.offered > sizeof(msg));	/* header, tag, type */
	d.c2s.room = SIZE_MAX;
	assert_int_equal(mbedtls_ssl_write(&d.c.ssl, msg, sizeof(msg)), sizeof(msg));
	assert_int_equal(tls_mbed_unsent(&d.c.ssl), 0);
	assert_int_equal(drain(&d.s), sizeof(msg));
	duo_close(&d);
}

/* in_left: a record that arrived in part is held, and the public
 * mbedtls_ssl_check_pending() does not say so (why it is read). */
static void
test_part_read(void **state)
{
	static const unsigned char msg[300] = "abi";
	unsigned char buf[sizeof(msg)];
	struct duo d;

	(void)state;
	duo_open(&d, true, false);
	assert_int_equal(mbedtls_ssl_write(&d.c.ssl, msg, sizeof(msg)), sizeof(msg));
	assert_int_equal(tls_mbed_part_read(&d.s.ssl), 0);
	d.c2s.arrive = 5 + 3;		/* the header and three bytes of body */
	assert_int_equal(mbedtls_ssl_read(&d.s.ssl, buf, sizeof(buf)),
	    MBEDTLS_ERR_SSL_WANT_READ);
	assert_int_equal(tls_mbed_part_read(&d.s.ssl), 5 + 3);
	assert_int_equal(mbedtls_ssl_check_pending(&d.s.ssl), 0);
	assert_int_equal(mbedtls_ssl_get_bytes_avail(&d.s.ssl), 0);
	d.c2s.arrive = SIZE_MAX;
	assert_int_equal(mbedtls_ssl_read(&d.s.ssl, buf, sizeof(buf)), sizeof(msg));
	assert_memory_equal(buf, msg, sizeof(msg));
	assert_int_equal(tls_mbed_part_read(&d.s.ssl), 0);
	duo_close(&d);
}

/* state: at rest after the handshake; while a NewSessionTicket waits for
 * its step, not at rest, though mbedtls_ssl_is_handshake_over() says the
 * handshake is over (why the field is read). */
static void
test_at_rest(void **state)
{
	unsigned char buf[64];
	struct duo d;

	(void)state;
	duo_open(&d, true, true);
	assert_true(tls_mbed_at_rest(&d.c.ssl));
	assert_true(tls_mbed_at_rest(&d.s.ssl));
	assert_true(d.s2c.len > 0);		/* the server's ticket */
	assert_int_equal(mbedtls_ssl_read(&d.c.ssl, buf, sizeof(buf)),
	    MBEDTLS_ERR_SSL_WANT_READ);
	assert_false(tls_mbed_at_rest(&d.c.ssl));
	assert_true(mbedtls_ssl_is_handshake_over(&d.c.ssl));
	assert_true(mbedtls_ssl_check_pending(&d.c.ssl));
	assert_int_equal(mbedtls_ssl_read(&d.c.ssl, buf, sizeof(buf)),
	    MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET);
	assert_true(tls_mbed_at_rest(&d.c.ssl));
	duo_close(&d);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seq_tls13),
		cmocka_unit_test(test_seq_tls12),
		cmocka_unit_test(test_unsent),
		cmocka_unit_test(test_part_read),
		cmocka_unit_test(test_at_rest),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
