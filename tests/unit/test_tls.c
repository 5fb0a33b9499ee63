/*
 * test_tls.c: tls/ in one process, no network.  Real certificates come from
 * `mtlsd certs` (certs_main, in-process) and, for CRLs and an encrypted key,
 * from OpenSSL's command line where it is installed.  Every handshake runs
 * between a server and a client tls_conn on the two ends of a non-blocking
 * AF_UNIX socketpair, driven in turn until both are done or one fails.
 *
 * TLS 1.3 note: the client's handshake ends when it has sent its Finished,
 * before the server has looked at the client's certificate.  A refusal by the
 * server shows on the server's side; the client learns of it on its next
 * read (the server's alert, or EOF).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

#include "certs/certs.h"
#include "config/peer_pattern.h"
#include "tls/tls.h"
#include "tls/tls_int.h"	/* to see the key bytes go */
#include "tests/unit/pki.h"
#include "tests/unit/table.h"

#define MAX_STEPS	200		/* handshake rounds before giving up */
#define MAX_RECORD	16384		/* TLS plaintext record limit */
#define BULK		100000		/* bytes moved each way in the bulk test */

static char dir[PATH_MAX];		/* our CA and everything it issued */
static char fdir[PATH_MAX];		/* a foreign CA and its client */
static bool have_openssl;		/* CRLs and the encrypted key exist */

/* ---- fixture helpers -------------------------------------------------- */

/* "d/name" (see pki_at). */
static const char *
at(const char *d, const char *name)
{
	const char *p = pki_at(d, name);

	assert_non_null(p);
	return p;
}

static int
write_file(const char *path, const char *text, mode_t mode)
{
	size_t len = strlen(text);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	ssize_t n;

	if (fd == -1)
		return -1;
	n = write(fd, text, len);
	close(fd);
	/* open()'s mode is filtered by the umask: set it exactly. */
	return n == (ssize_t)len && chmod(path, mode) == 0 ? 0 : -1;
}

static void
copy_file(const char *from, const char *to, mode_t mode)
{
	char buf[8192];
	ssize_t n;
	int in = open(from, O_RDONLY | O_CLOEXEC), out;

	assert_true(in != -1);
	out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(out != -1);
	while ((n = read(in, buf, sizeof(buf))) > 0)
		assert_int_equal(write(out, buf, (size_t)n), n);
	assert_int_equal(n, 0);
	close(in);
	close(out);
	assert_int_equal(chmod(to, mode), 0);
}

/* A shell command; 0 when it exited 0. */
static int
sh(const char *fmt, ...)
{
	char cmd[4 * PATH_MAX];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(cmd))
		return -1;
	return system(cmd);
}

/*
 * With OpenSSL's `ca`: revoke "revoked", then a current CRL (crl.pem) and one
 * past its nextUpdate (stale.pem, 2020-01-01 .. 2020-01-02) that lists the
 * same revocation.  Also client.key encrypted as PKCS#8 (enc.key) and the
 * files with its right and a wrong password.
 */
static int
make_openssl_fixtures(void)
{
	char cnf[2 * PATH_MAX + 256];

	snprintf(cnf, sizeof(cnf), "[ca]\ndefault_ca = d\n[d]\n"
	    "database = %s/index.txt\ncrlnumber = %s/crlnumber\n"
	    "default_md = sha256\ndefault_crl_days = 30\n", dir, dir);
	if (write_file(at(dir, "ca.cnf"), cnf, 0600) == -1 ||
	    write_file(at(dir, "index.txt"), "", 0600) == -1 ||
	    write_file(at(dir, "crlnumber"), "01\n", 0600) == -1)
		return -1;
	if (sh("cd '%s' && openssl ca -config ca.cnf -keyfile ca.key -cert ca.crt "
	    "-revoke revoked.crt >/dev/null 2>&1 && "
	    "openssl ca -config ca.cnf -keyfile ca.key -cert ca.crt -gencrl "
	    "-out crl.pem >/dev/null 2>&1 && "
	    "openssl ca -config ca.cnf -keyfile ca.key -cert ca.crt -gencrl "
	    "-crl_lastupdate 20200101000000Z -crl_nextupdate 20200102000000Z "
	    "-out stale.pem >/dev/null 2>&1 && "
	    "openssl pkcs8 -topk8 -v2 aes-256-cbc -in client.key -out enc.key "
	    "-passout pass:secret >/dev/null 2>&1 && chmod 600 enc.key && "
	    /* The same CRL in DER, and a PEM bundle: the foreign CA's CRL
	     * first, ours second. */
	    "openssl crl -in crl.pem -outform DER -out crl.der && "
	    "touch foreign/index.txt && echo 01 > foreign/crlnumber && "
	    "sed 's|%s|%s/foreign|g' ca.cnf > foreign/ca.cnf && "
	    "openssl ca -config foreign/ca.cnf -keyfile foreign/ca.key "
	    "-cert foreign/ca.crt -gencrl -out foreign/crl.pem >/dev/null 2>&1 && "
	    "cat foreign/crl.pem crl.pem > bundle.pem", dir, dir, dir) != 0)
		return -1;
	if (write_file(at(dir, "pw"), "secret\n", 0600) == -1 ||
	    write_file(at(dir, "pw.wrong"), "not-the-secret\n", 0600) == -1)
		return -1;
	return 0;
}

static int
group_setup(void **state)
{
	static const struct pki_cert issue[] = {
		{ "server", "dns:localhost,ip:127.0.0.1,uri:spiffe://t/server", NULL, NULL },
		{ "server2", "dns:localhost", NULL, NULL },	/* another key */
		{ "client", "uri:spiffe://t/client", NULL, NULL },
		{ "node7", "dns:node7.train.internal", NULL, NULL },
		{ "node_7", NULL, NULL, NULL },		/* not a host name: CN only */
		{ "ipclient", "ip:10.1.2.3", NULL, NULL },
		{ "revoked", "uri:spiffe://t/revoked", NULL, NULL },
		{ "expired", "uri:spiffe://t/expired", "-10d", "1" },
		{ "future", "uri:spiffe://t/future", "+2d", "30" },
	};
	/* Same identity as our client, signed by the wrong CA. */
	static const struct pki_cert impostor = { "client", "uri:spiffe://t/client", NULL, NULL };

	(void)state;
	if (tls_global_init() != 0 ||
	    pki_make(dir, sizeof(dir), "tls", issue, ROWS(issue)) != 0)
		return -1;
	if (snprintf(fdir, sizeof(fdir), "%s/foreign", dir) >= (int)sizeof(fdir) ||
	    mkdir(fdir, 0700) == -1 ||
	    pki_issue(fdir, "foreign CA", &impostor, 1) != 0 ||
	    write_file(at(dir, "garbage.crt"), "garbage\n", 0644) != 0)
		return -1;
	have_openssl = sh("openssl version >/dev/null 2>&1") == 0;
	if (have_openssl && make_openssl_fixtures() == -1) {
		fprintf(stderr, "test_tls: openssl is installed but the CRL or "
		    "encrypted-key fixtures failed\n");
		return -1;
	}
	return 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	return pki_rm(dir);
}

static void
need_openssl(void)
{
	if (!have_openssl)
		skip();
}

/* Parameters for a route with d/name's certificate (see pki_params),
 * trusting our CA. */
static struct tls_params
params(enum tls_role role, const char *d, const char *name)
{
	struct tls_params p = pki_params(role, d, name, dir);

	if (name != NULL) {
		assert_non_null(p.cert_file);
		assert_non_null(p.key_file);
	}
	assert_non_null(p.ca_file);
	return p;
}

static struct tls_material *
load(const struct tls_params *p)
{
	struct tls_error err;
	struct tls_material *m = tls_material_load(p, &err);

	if (m == NULL)
		fail_msg("tls_material_load: file %d: %s", (int)err.file, err.msg);
	return m;
}

/* Loads p, which must fail; returns the error. */
static struct tls_error
load_fails(const struct tls_params *p)
{
	struct tls_error err;
	struct tls_material *m = tls_material_load(p, &err);

	if (m != NULL) {
		tls_material_unref(m);
		fail_msg("tls_material_load succeeded where it should fail");
	}
	assert_true(err.msg[0] != '\0');
	return err;
}

static struct tls_material *
server_m(enum tls_auth auth)
{
	struct tls_params p = params(TLS_ROLE_SERVER, dir, "server");

	p.client_auth = auth;
	return load(&p);
}

/* A client with DIR/name's certificate (NULL: none) in d. */
static struct tls_material *
client_m(const char *d, const char *name)
{
	struct tls_params p = params(TLS_ROLE_CLIENT, d, name);

	return load(&p);
}

/* A server with one allow_peers pattern. */
static struct tls_material *
server_allow(const char *pattern)
{
	struct tls_params p = params(TLS_ROLE_SERVER, dir, "server");
	struct peer_pattern pat;
	const char *why = NULL;

	if (peer_pattern_parse(pattern, &pat, &why) != 0)
		fail_msg("peer_pattern_parse(%s): %s", pattern, why);
	p.peers = &pat;
	p.npeers = 1;
	return load(&p);
}

static struct tls_ctx *
ctx_of(const struct tls_material *m)
{
	struct tls_error err;
	struct tls_ctx *ctx = tls_ctx_new(m, &err);

	if (ctx == NULL)
		fail_msg("tls_ctx_new: %s", err.msg);
	return ctx;
}

struct pair {
	int fd[2];
	struct tls_ctx *sctx, *cctx;
	struct tls_conn *s, *c;		/* server on fd[0], client on fd[1] */
	int sres, cres;			/* last handshake result of each */
};

static void
pair_open(struct pair *pr, const struct tls_material *sm,
    const struct tls_material *cm, const char *server_name)
{
	memset(pr, 0, sizeof(*pr));
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0, pr->fd), 0);
	pr->sctx = ctx_of(sm);
	pr->cctx = ctx_of(cm);
	pr->s = tls_conn_new(pr->sctx, pr->fd[0], NULL);
	pr->c = tls_conn_new(pr->cctx, pr->fd[1], server_name);
	assert_non_null(pr->s);
	assert_non_null(pr->c);
	pr->sres = pr->cres = TLS_WANT_READ;
}

/* Runs both handshakes in turn: 0 when both are done, -1 when one failed. */
static int
pair_drive(struct pair *pr)
{
	for (int i = 0; i < MAX_STEPS; i++) {
		if (pr->cres != TLS_OK) {
			pr->cres = tls_conn_handshake(pr->c);
			if (pr->cres == TLS_ERR)
				return -1;
		}
		if (pr->sres != TLS_OK) {
			pr->sres = tls_conn_handshake(pr->s);
			if (pr->sres == TLS_ERR)
				return -1;
		}
		if (pr->cres == TLS_OK && pr->sres == TLS_OK)
			return 0;
	}
	fail_msg("handshake stuck: server %d, client %d", pr->sres, pr->cres);
	return -1;
}

static void
pair_close(struct pair *pr)
{
	tls_conn_free(pr->s);
	tls_conn_free(pr->c);
	tls_ctx_unref(pr->sctx);
	tls_ctx_unref(pr->cctx);
	close(pr->fd[0]);
	close(pr->fd[1]);
	memset(pr, 0, sizeof(*pr));
}

/* Closes a pair and drops the two materials it was made from. */
static void
pair_done(struct pair *pr, struct tls_material *sm, struct tls_material *cm)
{
	pair_close(pr);
	tls_material_unref(sm);
	tls_material_unref(cm);
}

/* Opens and drives a pair that must come up. */
static void
pair_up(struct pair *pr, const struct tls_material *sm,
    const struct tls_material *cm, const char *server_name)
{
	pair_open(pr, sm, cm, server_name);
	if (pair_drive(pr) != 0)
		fail_msg("handshake failed: server %s (%s), client %s (%s)",
		    tls_fail_name(tls_conn_fail(pr->s)), tls_conn_fail_detail(pr->s),
		    tls_fail_name(tls_conn_fail(pr->c)), tls_conn_fail_detail(pr->c));
	assert_int_equal(tls_conn_fail(pr->s), TLS_FAIL_NONE);
	assert_int_equal(tls_conn_fail(pr->c), TLS_FAIL_NONE);
}

/*
 * A session up for a test (its setup and teardown): our server requiring
 * client certificates, our client, the handshake done.
 */
struct session {
	struct tls_material *sm, *cm;
	struct pair pr;
};

static int
session_up(void **state)
{
	struct session *se = calloc(1, sizeof(*se));

	assert_non_null(se);
	se->sm = server_m(TLS_AUTH_REQUIRE);
	se->cm = client_m(dir, "client");
	pair_up(&se->pr, se->sm, se->cm, "localhost");
	*state = se;
	return 0;
}

static int
session_down(void **state)
{
	struct session *se = *state;

	pair_done(&se->pr, se->sm, se->cm);
	free(se);
	return 0;
}

static struct pair *
session_pair(void **state)
{
	return &((struct session *)*state)->pr;
}

/*
 * How a side learns that its peer refused it: an error or EOF, never a wait
 * or data.  mbedTLS 3.6 sends that alert under keys the other side does not
 * expect (the server: after its Finished, still under its handshake keys,
 * Mbed-TLS/mbedtls#10877; the client: before its second flight), so here it
 * surfaces as a MAC failure, "protocol", rather than "peer_alert".
 */
static void
hears_refusal(struct tls_conn *c, int r)
{
	assert_true(r == TLS_ERR || r == TLS_EOF);
	if (r == TLS_ERR)
		assert_true(tls_conn_fail(c) == TLS_FAIL_PEER_ALERT ||
		    tls_conn_fail(c) == TLS_FAIL_PROTOCOL);
}

/* The server refused the client for reason want; the client hears of it. */
static void
refused_by_server(struct pair *pr, enum tls_fail want)
{
	char buf[64];

	assert_int_equal(pr->sres, TLS_ERR);
	assert_string_equal(tls_fail_name(tls_conn_fail(pr->s)), tls_fail_name(want));
	assert_true(tls_conn_fail_detail(pr->s)[0] != '\0');
	/* TLS 1.3: the client finished first and hears on its next read. */
	assert_int_equal(pr->cres, TLS_OK);
	hears_refusal(pr->c, (int)tls_conn_read(pr->c, buf, sizeof(buf)));
}

/* The client refused the server for reason want; the server hears of it. */
static void
refused_by_client(struct pair *pr, enum tls_fail want)
{
	int r = TLS_WANT_READ;

	assert_int_equal(pr->cres, TLS_ERR);
	assert_string_equal(tls_fail_name(tls_conn_fail(pr->c)), tls_fail_name(want));
	assert_true(tls_conn_fail_detail(pr->c)[0] != '\0');
	for (int i = 0; i < 4 && r == TLS_WANT_READ; i++)
		r = tls_conn_handshake(pr->s);
	hears_refusal(pr->s, r);
}

/*
 * A client made with mbedTLS directly, for certificates that
 * tls_material_load rightly refuses as our own (expired, not yet valid) but
 * that a peer may still present.
 */
struct raw_client {
	int fd;
	mbedtls_ssl_config conf;
	mbedtls_ssl_context ssl;
	mbedtls_x509_crt ca, crt;
	mbedtls_pk_context key;
	mbedtls_entropy_context entropy;
	mbedtls_ctr_drbg_context drbg;
};

static int
raw_send(void *arg, const unsigned char *buf, size_t len)
{
	ssize_t n = send(*(int *)arg, buf, len, MSG_NOSIGNAL);

	if (n >= 0)
		return (int)n;
	return errno == EAGAIN ? MBEDTLS_ERR_SSL_WANT_WRITE : MBEDTLS_ERR_NET_SEND_FAILED;
}

static int
raw_recv(void *arg, unsigned char *buf, size_t len)
{
	ssize_t n = recv(*(int *)arg, buf, len, 0);

	if (n >= 0)
		return (int)n;
	return errno == EAGAIN ? MBEDTLS_ERR_SSL_WANT_READ : MBEDTLS_ERR_NET_RECV_FAILED;
}

static void
raw_client_init(struct raw_client *rc, int fd, const char *name)
{
	char file[64];

	rc->fd = fd;
	mbedtls_ssl_config_init(&rc->conf);
	mbedtls_ssl_init(&rc->ssl);
	mbedtls_x509_crt_init(&rc->ca);
	mbedtls_x509_crt_init(&rc->crt);
	mbedtls_pk_init(&rc->key);
	mbedtls_entropy_init(&rc->entropy);
	mbedtls_ctr_drbg_init(&rc->drbg);
	assert_int_equal(mbedtls_ctr_drbg_seed(&rc->drbg, mbedtls_entropy_func,
	    &rc->entropy, NULL, 0), 0);
	assert_int_equal(mbedtls_x509_crt_parse_file(&rc->ca, at(dir, "ca.crt")), 0);
	snprintf(file, sizeof(file), "%s.crt", name);
	assert_int_equal(mbedtls_x509_crt_parse_file(&rc->crt, at(dir, file)), 0);
	snprintf(file, sizeof(file), "%s.key", name);
	assert_int_equal(mbedtls_pk_parse_keyfile(&rc->key, at(dir, file), NULL,
	    mbedtls_ctr_drbg_random, &rc->drbg), 0);
	assert_int_equal(mbedtls_ssl_config_defaults(&rc->conf, MBEDTLS_SSL_IS_CLIENT,
	    MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT), 0);
	mbedtls_ssl_conf_rng(&rc->conf, mbedtls_ctr_drbg_random, &rc->drbg);
	mbedtls_ssl_conf_authmode(&rc->conf, MBEDTLS_SSL_VERIFY_REQUIRED);
	mbedtls_ssl_conf_ca_chain(&rc->conf, &rc->ca, NULL);
	assert_int_equal(mbedtls_ssl_conf_own_cert(&rc->conf, &rc->crt, &rc->key), 0);
	assert_int_equal(mbedtls_ssl_setup(&rc->ssl, &rc->conf), 0);
	assert_int_equal(mbedtls_ssl_set_hostname(&rc->ssl, "localhost"), 0);
	mbedtls_ssl_set_bio(&rc->ssl, &rc->fd, raw_send, raw_recv, NULL);
}

static void
raw_client_free(struct raw_client *rc)
{
	mbedtls_ssl_free(&rc->ssl);
	mbedtls_ssl_config_free(&rc->conf);
	mbedtls_x509_crt_free(&rc->ca);
	mbedtls_x509_crt_free(&rc->crt);
	mbedtls_pk_free(&rc->key);
	mbedtls_ctr_drbg_free(&rc->drbg);
	mbedtls_entropy_free(&rc->entropy);
}

/*
 * What one handshake attempt came to, recorded before anything is freed, so
 * that a failed expectation reports it without leaking (ASan's leak check).
 */
struct outcome {
	int sres;			/* the server's handshake result */
	enum tls_fail sfail;
	char sdetail[160];
	char sid[256];			/* the server's tls_conn_peer_id */
	bool cok;			/* the client's handshake finished */
	bool heard;			/* ...and its next read reported the refusal */
};

/* Client "name" from d (NULL: no certificate) against server material sm. */
static void
attempt(struct tls_material *sm, const char *d, const char *name,
    struct outcome *o)
{
	struct tls_material *cm = client_m(d, name);
	char buf[64];
	struct pair pr;
	ssize_t n;

	memset(o, 0, sizeof(*o));
	pair_open(&pr, sm, cm, "localhost");
	(void)pair_drive(&pr);
	o->sres = pr.sres;
	o->sfail = tls_conn_fail(pr.s);
	snprintf(o->sdetail, sizeof(o->sdetail), "%s", tls_conn_fail_detail(pr.s));
	snprintf(o->sid, sizeof(o->sid), "%s", tls_conn_peer_id(pr.s));
	o->cok = pr.cres == TLS_OK;
	if (o->cok && o->sres == TLS_ERR) {
		n = tls_conn_read(pr.c, buf, sizeof(buf));
		o->heard = n == TLS_EOF || (n == TLS_ERR &&
		    (tls_conn_fail(pr.c) == TLS_FAIL_PEER_ALERT ||
		    tls_conn_fail(pr.c) == TLS_FAIL_PROTOCOL));
	}
	pair_close(&pr);
	tls_material_unref(cm);
}

/* The same with a raw mbedTLS client presenting DIR/name's certificate. */
static void
attempt_raw(struct tls_material *sm, const char *name, struct outcome *o)
{
	struct raw_client rc;
	struct tls_ctx *sctx = ctx_of(sm);
	struct tls_conn *s;
	unsigned char buf[64];
	int fd[2], cres = MBEDTLS_ERR_SSL_WANT_READ, i;

	memset(o, 0, sizeof(*o));
	o->sres = TLS_WANT_READ;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0, fd), 0);
	s = tls_conn_new(sctx, fd[0], NULL);
	assert_non_null(s);
	raw_client_init(&rc, fd[1], name);
	for (i = 0; i < MAX_STEPS && o->sres != TLS_OK && o->sres != TLS_ERR; i++) {
		if (cres == MBEDTLS_ERR_SSL_WANT_READ || cres == MBEDTLS_ERR_SSL_WANT_WRITE)
			cres = mbedtls_ssl_handshake(&rc.ssl);
		o->sres = tls_conn_handshake(s);
	}
	o->sfail = tls_conn_fail(s);
	snprintf(o->sdetail, sizeof(o->sdetail), "%s", tls_conn_fail_detail(s));
	snprintf(o->sid, sizeof(o->sid), "%s", tls_conn_peer_id(s));
	o->cok = cres == 0;
	if (o->cok && o->sres == TLS_ERR) {
		cres = mbedtls_ssl_read(&rc.ssl, buf, sizeof(buf));
		o->heard = cres == MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE ||
		    cres == MBEDTLS_ERR_SSL_INVALID_MAC;
	}
	raw_client_free(&rc);
	tls_conn_free(s);
	tls_ctx_unref(sctx);
	close(fd[0]);
	close(fd[1]);
}

/*
 * The server refused for reason want.  TLS 1.3: the client had finished
 * first and heard of it on its next read (see hears_refusal).
 */
static void
check_refused(const struct outcome *o, const char *who, enum tls_fail want)
{
	if (o->sres == TLS_OK)
		fail_msg("the server admitted %s; the session's peer_id is '%s'",
		    who, o->sid);
	assert_int_equal(o->sres, TLS_ERR);
	assert_string_equal(tls_fail_name(o->sfail), tls_fail_name(want));
	assert_true(o->sdetail[0] != '\0');
	assert_true(o->cok);
	assert_true(o->heard);
}

static void
check_admitted(const struct outcome *o, const char *who)
{
	if (o->sres != TLS_OK)
		fail_msg("the server refused %s: %s (%s)", who,
		    tls_fail_name(o->sfail), o->sdetail);
	assert_true(o->cok);
	assert_int_equal(o->sfail, TLS_FAIL_NONE);
}

/*
 * Moves total bytes from w to r: w writes until the socket is full
 * (TLS_WANT_WRITE, then retried with the same arguments), r reads until it
 * would block, and again.  Returns how many writes hit TLS_WANT_WRITE.
 */
static int
transfer(struct tls_conn *w, struct tls_conn *r, size_t total)
{
	unsigned char *src = malloc(total), *dst = malloc(total);
	size_t wo = 0, ro = 0;
	int blocked = 0;
	ssize_t n;

	assert_non_null(src);
	assert_non_null(dst);
	for (size_t i = 0; i < total; i++)
		src[i] = (unsigned char)(i * 131 + (i >> 9));
	memset(dst, 0, total);
	for (int round = 0; ro < total; round++) {
		assert_true(round < 10000);
		while (wo < total) {
			n = tls_conn_write(w, src + wo, total - wo);
			if (n == TLS_WANT_WRITE) {
				blocked++;
				break;
			}
			assert_true(n > 0);
			assert_true(n <= MAX_RECORD);
			wo += (size_t)n;
		}
		while (ro < total) {
			n = tls_conn_read(r, dst + ro, total - ro);
			if (n == TLS_WANT_READ)
				break;
			assert_true(n > 0);
			ro += (size_t)n;
		}
	}
	assert_int_equal(wo, total);
	assert_memory_equal(src, dst, total);
	free(src);
	free(dst);
	return blocked;
}

/* Reads exactly len bytes (the peer already sent them). */
static void
read_exact(struct tls_conn *c, char *buf, size_t len)
{
	size_t got = 0;

	for (int i = 0; got < len; i++) {
		ssize_t n = tls_conn_read(c, buf + got, len - got);
		assert_true(i < 100);
		if (n == TLS_WANT_READ)
			continue;
		assert_true(n > 0);
		got += (size_t)n;
	}
}

/* ---- 1. a good mutual-TLS session ----------------------------------- */

static void
test_mtls_ok(void **state)
{
	struct pair *pr = session_pair(state);

	assert_string_equal(tls_conn_version(pr->s), "TLSv1.3");
	assert_string_equal(tls_conn_version(pr->c), "TLSv1.3");
	assert_string_equal(tls_conn_cipher(pr->s), tls_conn_cipher(pr->c));
	assert_true(strstr(tls_conn_cipher(pr->s), "AES") != NULL ||
	    strstr(tls_conn_cipher(pr->s), "CHACHA") != NULL);
	/* The server certificate lists dns:, ip:, then uri:; the URI wins. */
	assert_string_equal(tls_conn_peer_id(pr->s), "spiffe://t/client");
	assert_string_equal(tls_conn_peer_id(pr->c), "spiffe://t/server");
	assert_false(tls_conn_pending(pr->s));
	assert_false(tls_conn_pending(pr->c));
	/* The audit trail's view: the IANA name of the same suite on both
	 * sides, the SNI sent and received, each certificate's facts. */
	assert_string_equal(tls_conn_cipher_iana(pr->s), tls_conn_cipher_iana(pr->c));
	assert_true(strcmp(tls_conn_cipher_iana(pr->s), "TLS_AES_128_GCM_SHA256") == 0 ||
	    strcmp(tls_conn_cipher_iana(pr->s), "TLS_AES_256_GCM_SHA384") == 0 ||
	    strcmp(tls_conn_cipher_iana(pr->s), "TLS_CHACHA20_POLY1305_SHA256") == 0);
	assert_string_equal(tls_conn_sni(pr->c), "localhost");
	assert_string_equal(tls_conn_sni(pr->s), "localhost");
	assert_int_equal(strlen(tls_conn_peer_fingerprint(pr->s)), 64);
	assert_int_equal(strlen(tls_conn_peer_fingerprint(pr->c)), 64);
	assert_string_not_equal(tls_conn_peer_fingerprint(pr->s),
	    tls_conn_peer_fingerprint(pr->c));
	assert_string_equal(tls_conn_peer_issuer(pr->s), tls_conn_peer_issuer(pr->c));
	assert_non_null(strstr(tls_conn_peer_issuer(pr->s), "CN="));
	assert_true(strlen(tls_conn_peer_serial(pr->s)) >= 2);
	assert_true(strspn(tls_conn_peer_serial(pr->s), "0123456789abcdef") ==
	    strlen(tls_conn_peer_serial(pr->s)));
}

/* The IANA names of the suites tls_ctx.c offers, by id. */
static void
test_cipher_iana(void **state)
{
	(void)state;
	assert_string_equal(tls_cipher_iana(0x1301), "TLS_AES_128_GCM_SHA256");
	assert_string_equal(tls_cipher_iana(0x1302), "TLS_AES_256_GCM_SHA384");
	assert_string_equal(tls_cipher_iana(0x1303), "TLS_CHACHA20_POLY1305_SHA256");
	assert_string_equal(tls_cipher_iana(0xc02b), "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256");
	assert_string_equal(tls_cipher_iana(0xc02c), "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384");
	assert_string_equal(tls_cipher_iana(0xc02f), "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256");
	assert_string_equal(tls_cipher_iana(0xc030), "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384");
	assert_string_equal(tls_cipher_iana(0xcca8), "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256");
	assert_string_equal(tls_cipher_iana(0xcca9), "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256");
	assert_null(tls_cipher_iana(0x009c));	/* not offered: RSA key exchange */
	assert_null(tls_cipher_iana(0));
}

static void
test_bulk_both_ways(void **state)
{
	struct pair *pr = session_pair(state);
	int small = 4096;

	/* Small socket buffers, so writes hit TLS_WANT_WRITE mid-record. */
	assert_int_equal(setsockopt(pr->fd[0], SOL_SOCKET, SO_SNDBUF, &small,
	    sizeof(small)), 0);
	assert_int_equal(setsockopt(pr->fd[1], SOL_SOCKET, SO_SNDBUF, &small,
	    sizeof(small)), 0);
	assert_true(transfer(pr->c, pr->s, BULK) > 0);
	assert_true(transfer(pr->s, pr->c, BULK) > 0);
	assert_false(tls_conn_pending(pr->s));
	assert_false(tls_conn_pending(pr->c));
}

/*
 * The set-up both ticket regressions share: a pair with resumption, the
 * server's ticket waiting unread at the client, and the client's write side
 * blocked with a record half-sent (small send buffer).  Fills *sent with
 * the bytes the client's writes reported.
 */
static void
ticket_pair_blocked(struct pair *pr, struct tls_material **sm,
    struct tls_material **cm, const unsigned char *out, size_t outlen,
    size_t *sent)
{
	struct tls_params sp = params(TLS_ROLE_SERVER, dir, "server");
	struct tls_params cp = params(TLS_ROLE_CLIENT, dir, "client");
	ssize_t n = 0;
	int small = 4096;

	sp.resumption = cp.resumption = true;
	*sm = load(&sp);
	*cm = load(&cp);
	pair_up(pr, *sm, *cm, "localhost");
	assert_int_equal(setsockopt(pr->fd[1], SOL_SOCKET, SO_SNDBUF, &small,
	    sizeof(small)), 0);
	*sent = 0;
	for (int i = 0; i < 64 && (n = tls_conn_write(pr->c, out, outlen)) > 0; i++)
		*sent += (size_t)n;
	assert_int_equal(n, TLS_WANT_WRITE);
	assert_int_equal(tls_conn_records_read(pr->c), 0);
}

/* A ticket_pair_blocked() pair for a test (its setup and teardown). */
struct ticket {
	struct tls_material *sm, *cm;
	struct pair pr;
	size_t sent;		/* what the client's writes reported */
};
static unsigned char ticket_out[16384], ticket_in[65536];

static int
ticket_up(void **state)
{
	struct ticket *t = calloc(1, sizeof(*t));

	assert_non_null(t);
	memset(ticket_out, 'x', sizeof(ticket_out));
	ticket_pair_blocked(&t->pr, &t->sm, &t->cm, ticket_out, sizeof(ticket_out),
	    &t->sent);
	*state = t;
	return 0;
}

static int
ticket_down(void **state)
{
	struct ticket *t = *state;

	pair_done(&t->pr, t->sm, t->cm);
	free(t);
	return 0;
}

/* The client says close_notify; the server reads everything up to it. */
static size_t
close_and_drain(struct pair *pr, unsigned char *in, size_t inlen)
{
	size_t got = 0;
	ssize_t n = 0;

	for (int i = 0; i < 1000 && tls_conn_close_notify(pr->c) != TLS_OK; i++)
		while ((n = tls_conn_read(pr->s, in, inlen)) > 0)
			got += (size_t)n;
	for (int i = 0; i < 1000; i++) {
		n = tls_conn_read(pr->s, in, inlen);
		if (n > 0)
			got += (size_t)n;
		else if (n == TLS_EOF)
			break;
	}
	assert_int_equal(n, TLS_EOF);
	assert_false(tls_conn_spilled(pr->c));
	return got;
}

/*
 * Read-ahead: three small records and a large one, all in the socket at
 * once.  Each small record must come out whole, tls_conn_pending() must say
 * so while bytes wait in the read-ahead buffer (no socket event would come
 * for them), and the large record must come out intact behind them.
 */
static void
test_read_ahead(void **state)
{
	struct pair *pr = session_pair(state);
	static unsigned char big[16000], in[20000];
	const char *msgs[] = { "first", "second one", "third and last" };
	ssize_t n;
	size_t got = 0;

	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (unsigned char)(i * 7);
	assert_int_equal(tls_conn_read_ahead(pr->s), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(tls_conn_write(pr->c, msgs[i], strlen(msgs[i])),
		    (ssize_t)strlen(msgs[i]));
	for (size_t off = 0; off < sizeof(big); off += (size_t)n)
		assert_true((n = tls_conn_write(pr->c, big + off, sizeof(big) - off)) > 0);
	for (int i = 0; i < 3; i++) {
		/* The client's ticket and first records sit in the socket. */
		do
			n = tls_conn_read(pr->s, in, sizeof(in));
		while (n == TLS_WANT_READ && i == 0);
		assert_int_equal(n, (ssize_t)strlen(msgs[i]));
		assert_memory_equal(in, msgs[i], (size_t)n);
		assert_true(tls_conn_pending(pr->s));	/* more behind, read ahead */
	}
	while (got < sizeof(big)) {
		n = tls_conn_read(pr->s, in + got, sizeof(in) - got);
		assert_true(n > 0);
		got += (size_t)n;
	}
	assert_memory_equal(in, big, sizeof(big));
	assert_false(tls_conn_pending(pr->s));
	assert_int_equal(tls_conn_read(pr->s, in, sizeof(in)), TLS_WANT_READ);
}

/*
 * Regression: a client write left half-sent (WANT_WRITE), then a read that
 * takes the server's ticket.  mbedTLS's handshake step for the ticket
 * flushes the half-sent record; the write's retry must then count it as
 * sent, not send the same bytes again (seen as 16383 duplicated bytes in a
 * 64 MiB transfer under ASan timing).
 */
static void
test_write_pending_across_ticket(void **state)
{
	struct ticket *t = *state;
	struct pair *pr = &t->pr;
	size_t got = 0;
	ssize_t n = 0;

	/* The client reads (the ticket, whose handshake step flushes the
	 * half-sent record) while the server drains, until the ticket is in:
	 * the write is not retried meanwhile, as in the relay, where the two
	 * directions wait on different events. */
	for (int i = 0; i < 1000 && tls_conn_records_read(pr->c) == 0; i++) {
		while ((n = tls_conn_read(pr->s, ticket_in, sizeof(ticket_in))) > 0)
			got += (size_t)n;
		n = tls_conn_read(pr->c, ticket_in, sizeof(ticket_in));
		assert_true(n == TLS_WANT_READ || n == TLS_WANT_WRITE);
	}
	assert_true(tls_conn_records_read(pr->c) > 0);
	/* The retry, with the same arguments, until it reports the record. */
	for (int i = 0; i < 1000 && (n = tls_conn_write(pr->c, ticket_out, sizeof(ticket_out))) ==
	    TLS_WANT_WRITE; i++)
		while ((n = tls_conn_read(pr->s, ticket_in, sizeof(ticket_in))) > 0)
			got += (size_t)n;
	assert_true(n > 0);
	t->sent += (size_t)n;
	got += close_and_drain(pr, ticket_in, sizeof(ticket_in));
	assert_int_equal(got, t->sent);		/* not a byte twice */
}

/*
 * Regression: the same ticket, while the server is not reading (it waits
 * for us to read first, as a proxy whose own output is full does).  The
 * read must still deliver the server's data: mbedTLS's flush before the
 * ticket's handshake step cannot wait for the socket (a deadlock, seen as a
 * stalled 64 MiB echo), so the unsent bytes are kept aside and sent after.
 */
static void
test_read_while_write_blocked(void **state)
{
	struct ticket *t = *state;
	struct pair *pr = &t->pr;
	size_t got = 0;
	ssize_t n = 0;

	/* The server answers without reading a byte. */
	assert_int_equal(tls_conn_write(pr->s, "pong", 4), 4);
	n = tls_conn_read(pr->c, ticket_in, sizeof(ticket_in));
	assert_int_equal(n, 4);			/* not TLS_WANT_WRITE: no deadlock */
	assert_memory_equal(ticket_in, "pong", 4);
	assert_true(tls_conn_records_read(pr->c) >= 1);
	/* Then the write side catches up, every byte once. */
	for (int i = 0; i < 100000; i++) {
		while ((n = tls_conn_read(pr->s, ticket_in, sizeof(ticket_in))) > 0)
			got += (size_t)n;
		if (tls_conn_spilled(pr->c) && tls_conn_flush(pr->c) != TLS_OK)
			continue;
		if ((n = tls_conn_write(pr->c, ticket_out, sizeof(ticket_out))) > 0) {
			t->sent += (size_t)n;
			break;
		}
	}
	got += close_and_drain(pr, ticket_in, sizeof(ticket_in));
	assert_int_equal(got, t->sent);
}

static void
test_pending_partial_record(void **state)
{
	struct pair *pr = session_pair(state);
	char msg[100], buf[100];
	ssize_t n;

	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (char)('a' + i % 26);
	assert_int_equal(tls_conn_write(pr->c, msg, sizeof(msg)), (ssize_t)sizeof(msg));
	/* Nothing decrypted yet: the record is still in the socket. */
	assert_false(tls_conn_pending(pr->s));
	n = tls_conn_read(pr->s, buf, 10);
	assert_int_equal(n, 10);
	/* 90 decrypted bytes wait inside: no socket event will announce them. */
	assert_true(tls_conn_pending(pr->s));
	n = tls_conn_read(pr->s, buf + 10, sizeof(buf) - 10);
	assert_int_equal(n, 90);
	assert_memory_equal(msg, buf, sizeof(msg));
	assert_false(tls_conn_pending(pr->s));
	assert_int_equal(tls_conn_read(pr->s, buf, sizeof(buf)), TLS_WANT_READ);
}

/* ---- 2. ends of the stream ------------------------------------------ */

static void
test_close_notify_half_close(void **state)
{
	struct pair *pr = session_pair(state);
	char buf[32];

	assert_int_equal(tls_conn_close_notify(pr->c), TLS_OK);
	assert_int_equal(tls_conn_read(pr->s, buf, sizeof(buf)), TLS_EOF);
	assert_false(tls_conn_truncated(pr->s));
	/* The other direction runs on. */
	assert_int_equal(tls_conn_write(pr->s, "still here", 10), 10);
	read_exact(pr->c, buf, 10);
	assert_memory_equal(buf, "still here", 10);
	assert_int_equal(tls_conn_close_notify(pr->s), TLS_OK);
	assert_int_equal(tls_conn_read(pr->c, buf, sizeof(buf)), TLS_EOF);
	assert_false(tls_conn_truncated(pr->c));
	assert_int_equal(tls_conn_fail(pr->s), TLS_FAIL_NONE);
	assert_int_equal(tls_conn_fail(pr->c), TLS_FAIL_NONE);
}

static void
test_truncated_by_tcp_eof(void **state)
{
	struct pair *pr = session_pair(state);
	char buf[32];

	assert_int_equal(tls_conn_write(pr->c, "abc", 3), 3);
	assert_int_equal(shutdown(pr->fd[1], SHUT_WR), 0);
	/* What was sent before the FIN arrives intact, then the EOF. */
	read_exact(pr->s, buf, 3);
	assert_memory_equal(buf, "abc", 3);
	assert_int_equal(tls_conn_read(pr->s, buf, sizeof(buf)), TLS_EOF);
	assert_true(tls_conn_truncated(pr->s));
	assert_false(tls_conn_truncated(pr->c));
}

static void
test_eof_during_handshake(void **state)
{
	struct tls_material *sm = server_m(TLS_AUTH_REQUIRE);
	struct tls_material *cm = client_m(dir, "client");
	struct pair pr;
	int r = TLS_WANT_READ;

	(void)state;
	pair_open(&pr, sm, cm, "localhost");
	assert_int_equal(tls_conn_handshake(pr.c), TLS_WANT_READ);	/* ClientHello out */
	assert_int_equal(shutdown(pr.fd[1], SHUT_WR), 0);
	for (int i = 0; i < 4 && r != TLS_ERR; i++)
		r = tls_conn_handshake(pr.s);
	assert_int_equal(r, TLS_ERR);
	assert_string_equal(tls_fail_name(tls_conn_fail(pr.s)),
	    tls_fail_name(TLS_FAIL_CLOSED));
	pair_done(&pr, sm, cm);
}

/* ---- 3. refusals ----------------------------------------------------- */

static void
test_min_version_12_still_13(void **state)
{
	struct tls_params p = params(TLS_ROLE_SERVER, dir, "server");
	struct tls_material *sm, *cm, *cm12;
	struct pair pr;

	(void)state;
	p.min_version = 12;
	sm = load(&p);
	cm = client_m(dir, "client");
	pair_up(&pr, sm, cm, "localhost");
	assert_string_equal(tls_conn_version(pr.s), "TLSv1.3");
	assert_string_equal(tls_conn_version(pr.c), "TLSv1.3");
	pair_close(&pr);

	p = params(TLS_ROLE_CLIENT, dir, "client");
	p.min_version = 12;
	cm12 = load(&p);
	pair_up(&pr, sm, cm12, "localhost");
	assert_string_equal(tls_conn_version(pr.c), "TLSv1.3");
	pair_close(&pr);
	tls_material_unref(cm12);
	tls_material_unref(cm);
	tls_material_unref(sm);
}

/* ---- 4. identity and allow-lists on real certificates -------------- */

/* ---- 5. material checks --------------------------------------------- */

static void
test_material_key_permissions(void **state)
{
	struct tls_params p = params(TLS_ROLE_CLIENT, dir, "client");
	const char *k644 = at(dir, "k644.key"), *k400 = at(dir, "k400.key");
	const char *pw644 = at(dir, "pw644");
	struct tls_material *m;
	struct tls_error err;

	(void)state;
	copy_file(p.key_file, k644, 0644);
	copy_file(p.key_file, k400, 0400);
	p.key_file = k644;
	err = load_fails(&p);
	assert_int_equal(err.file, TLS_FILE_KEY);
	assert_non_null(strstr(err.msg, "chmod 600"));
	assert_non_null(strstr(err.msg, k644));
	p.insecure_key_permissions = true;
	m = load(&p);
	tls_material_unref(m);

	p.insecure_key_permissions = false;
	p.key_file = k400;
	m = load(&p);
	tls_material_unref(m);

	/* A password file is a secret too. */
	need_openssl();
	assert_int_equal(write_file(pw644, "secret\n", 0644), 0);
	p.key_file = at(dir, "enc.key");
	p.key_password_file = pw644;
	err = load_fails(&p);
	assert_int_equal(err.file, TLS_FILE_KEY_PASSWORD);
	assert_non_null(strstr(err.msg, "chmod 600"));
}

static void
test_material_encrypted_key(void **state)
{
	struct tls_params p = params(TLS_ROLE_CLIENT, dir, "client");
	struct tls_material *m, *sm;
	struct pair pr;

	(void)state;
	need_openssl();
	p.key_file = at(dir, "enc.key");
	p.key_password_file = at(dir, "pw");
	m = load(&p);
	/* And the decrypted key works in a handshake. */
	sm = server_m(TLS_AUTH_REQUIRE);
	pair_up(&pr, sm, m, "localhost");
	assert_string_equal(tls_conn_peer_id(pr.s), "spiffe://t/client");
	pair_close(&pr);
	tls_material_unref(sm);
	tls_material_unref(m);

}

static void
test_material_not_after(void **state)
{
	const char *out = at(dir, "show.out");
	struct tls_material *m = server_m(TLS_AUTH_REQUIRE);
	char text[4096], *line;
	struct tm tm;
	ssize_t n;
	int fd;

	(void)state;
	/* `certs show`'s not_after line, read independently of tls/. */
	assert_int_equal(pki_certs(out, (const char *[]){ "show", at(dir, "server.crt"), NULL }), 0);
	fd = open(out, O_RDONLY | O_CLOEXEC);
	assert_true(fd != -1);
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	assert_true(n > 0);
	text[n] = '\0';
	line = strstr(text, "\nnot_after: ");
	assert_non_null(line);
	memset(&tm, 0, sizeof(tm));
	assert_int_equal(sscanf(line, "\nnot_after: %d-%d-%d %d:%d:%dZ", &tm.tm_year,
	    &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec), 6);
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	assert_int_equal(tls_material_not_after(m), timegm(&tm));
	/* About a year from now (certs' default). */
	assert_true(tls_material_not_after(m) > time(NULL) + 360 * 86400);
	tls_material_unref(m);

	/* No certificate of our own: 0. */
	m = client_m(dir, NULL);
	assert_int_equal(tls_material_not_after(m), 0);
	tls_material_unref(m);
}

/*
 * Key hygiene: once the expected contexts are built, the key file's bytes
 * are gone from memory (wiped and freed), contexts built before still work,
 * and reload comparison (by digest) still tells equal keys from different.
 */
static void
test_key_bytes_wiped(void **state)
{
	struct tls_params p = params(TLS_ROLE_SERVER, dir, "server");
	struct tls_material *m = load(&p), *same = load(&p), *other;
	struct tls_error err;
	struct tls_ctx *c1, *c2;

	(void)state;
	assert_non_null(m->key.data);
	tls_material_expect_builds(m, 2);
	c1 = tls_ctx_new(m, &err);
	assert_non_null(c1);
	tls_material_built(m);
	assert_non_null(m->key.data);		/* one build still to come */
	c2 = tls_ctx_new(m, &err);
	assert_non_null(c2);
	tls_material_built(m);
	assert_null(m->key.data);		/* wiped after the last */
	assert_true(tls_material_equal(m, same));
	p = params(TLS_ROLE_SERVER, dir, "server2");
	other = load(&p);
	assert_false(tls_material_equal(m, other));
	tls_ctx_unref(c1);
	tls_ctx_unref(c2);
	tls_material_unref(m);
	tls_material_unref(same);
	tls_material_unref(other);
}

static void
test_material_equal(void **state)
{
	struct tls_params p = params(TLS_ROLE_SERVER, dir, "server");
	struct tls_material *a, *b, *c, *d, *e, *f;
	struct peer_pattern pat1, pat2;
	const char *why;

	(void)state;
	a = load(&p);
	b = load(&p);
	assert_true(tls_material_equal(a, b));
	assert_true(tls_material_equal(b, a));

	p.ca_file = at(fdir, "ca.crt");
	c = load(&p);
	assert_false(tls_material_equal(a, c));

	/* Patterns parsed separately into separate buffers compare equal. */
	p = params(TLS_ROLE_SERVER, dir, "server");
	assert_int_equal(peer_pattern_parse("uri:spiffe://t/client", &pat1, &why), 0);
	p.peers = &pat1;
	p.npeers = 1;
	d = load(&p);
	assert_false(tls_material_equal(a, d));
	memset(&pat2, 0xa5, sizeof(pat2));
	assert_int_equal(peer_pattern_parse("uri:spiffe://t/client", &pat2, &why), 0);
	p.peers = &pat2;
	e = load(&p);
	assert_true(tls_material_equal(d, e));

	p = params(TLS_ROLE_SERVER, dir, "server");
	p.client_auth = TLS_AUTH_OPTIONAL;
	f = load(&p);
	assert_false(tls_material_equal(a, f));

	tls_material_unref(a);
	tls_material_unref(b);
	tls_material_unref(c);
	tls_material_unref(d);
	tls_material_unref(e);
	tls_material_unref(f);
}

/* ---- 6. CRLs and re-verification ------------------------------------ */

static struct tls_material *
server_crl(const char *crl, bool stale_refuse)
{
	struct tls_params p = params(TLS_ROLE_SERVER, dir, "server");

	p.crl_file = at(dir, crl);
	p.crl_stale_refuse = stale_refuse;
	return load(&p);
}

/* A current CRL is not stale. */
static void
test_crl_current_not_stale(void **state)
{
	struct tls_material *sm, *cm;
	struct pair pr;

	(void)state;
	need_openssl();
	sm = server_crl("crl.pem", false);
	/* A current CRL is not stale. */
	cm = client_m(dir, "client");
	pair_up(&pr, sm, cm, "localhost");
	assert_false(tls_conn_crl_stale(pr.s));
	pair_close(&pr);
	tls_material_unref(cm);
	tls_material_unref(sm);
}

static void
test_crl_stale_warns(void **state)
{
	struct tls_material *sm, *cm;
	struct pair pr;

	(void)state;
	need_openssl();
	sm = server_crl("stale.pem", false);
	cm = client_m(dir, "client");
	pair_up(&pr, sm, cm, "localhost");
	assert_true(tls_conn_crl_stale(pr.s));
	assert_false(tls_conn_crl_stale(pr.c));	/* the client used no CRL */
	pair_close(&pr);
	tls_material_unref(cm);
	tls_material_unref(sm);
}

static void
test_crl_next_update(void **state)
{
	struct tls_material *m;
	time_t now = time(NULL);

	(void)state;
	need_openssl();
	m = server_crl("stale.pem", false);
	assert_int_equal(tls_material_crl_next_update(m), 1577923200);	/* 2020-01-02Z */
	tls_material_unref(m);
	m = server_crl("crl.pem", false);
	/* default_crl_days = 30 */
	assert_true(tls_material_crl_next_update(m) > now + 29 * 86400);
	assert_true(tls_material_crl_next_update(m) < now + 31 * 86400);
	tls_material_unref(m);
	m = server_m(TLS_AUTH_REQUIRE);
	assert_int_equal(tls_material_crl_next_update(m), 0);
	tls_material_unref(m);
}

/* After reverify refused a session, the peer gets a fatal alert. */
static void
peer_hears_alert(struct tls_conn *peer)
{
	char buf[32];
	ssize_t n = tls_conn_read(peer, buf, sizeof(buf));

	assert_int_equal(n, TLS_ERR);
	assert_string_equal(tls_fail_name(tls_conn_fail(peer)),
	    tls_fail_name(TLS_FAIL_PEER_ALERT));
}

static void
test_reverify(void **state)
{
	struct tls_material *sm = server_m(TLS_AUTH_REQUIRE), *sm2, *crl, *deny;
	struct tls_material *cm, *rm;
	struct tls_ctx *ctx;
	struct pair pr;

	(void)state;
	need_openssl();
	cm = client_m(dir, "client");
	rm = client_m(dir, "revoked");
	sm2 = server_m(TLS_AUTH_REQUIRE);
	crl = server_crl("crl.pem", false);
	deny = server_allow("uri:spiffe://t/someone-else");

	/* A revoked client got in before the CRL did. */
	pair_up(&pr, sm, rm, "localhost");
	assert_int_equal(tls_conn_reverify(pr.s, pr.sctx), 0);	/* unchanged */
	ctx = ctx_of(sm2);					/* same files, new ctx */
	assert_int_equal(tls_conn_reverify(pr.s, ctx), 0);
	tls_ctx_unref(ctx);
	assert_int_equal(tls_conn_fail(pr.s), TLS_FAIL_NONE);
	ctx = ctx_of(crl);
	assert_int_equal(tls_conn_reverify(pr.s, ctx), -1);
	tls_ctx_unref(ctx);
	assert_string_equal(tls_fail_name(tls_conn_fail(pr.s)),
	    tls_fail_name(TLS_FAIL_REVOKED));
	assert_true(tls_conn_fail_detail(pr.s)[0] != '\0');
	assert_null(strchr(tls_conn_fail_detail(pr.s), '\n'));
	peer_hears_alert(pr.c);
	pair_close(&pr);

	/* The allow-list changed under a live session. */
	pair_up(&pr, sm, cm, "localhost");
	ctx = ctx_of(crl);					/* not revoked: passes */
	assert_int_equal(tls_conn_reverify(pr.s, ctx), 0);
	tls_ctx_unref(ctx);
	ctx = ctx_of(deny);
	assert_int_equal(tls_conn_reverify(pr.s, ctx), -1);
	tls_ctx_unref(ctx);
	assert_string_equal(tls_fail_name(tls_conn_fail(pr.s)),
	    tls_fail_name(TLS_FAIL_DENIED));
	peer_hears_alert(pr.c);
	pair_close(&pr);

	tls_material_unref(deny);
	tls_material_unref(crl);
	tls_material_unref(sm2);
	tls_material_unref(rm);
	tls_material_unref(cm);
	tls_material_unref(sm);
}

static void
test_reverify_client_side(void **state)
{
	struct tls_material *sm = server_m(TLS_AUTH_REQUIRE);
	struct tls_material *cm = client_m(dir, "client"), *foreign;
	struct tls_params p = params(TLS_ROLE_CLIENT, dir, "client");
	struct tls_ctx *ctx;
	struct pair pr;

	(void)state;
	p.ca_file = at(fdir, "ca.crt");		/* the trust anchor changed */
	foreign = load(&p);
	pair_up(&pr, sm, cm, "localhost");
	assert_int_equal(tls_conn_reverify(pr.c, pr.cctx), 0);
	ctx = ctx_of(foreign);
	assert_int_equal(tls_conn_reverify(pr.c, ctx), -1);
	tls_ctx_unref(ctx);
	assert_string_equal(tls_fail_name(tls_conn_fail(pr.c)),
	    tls_fail_name(TLS_FAIL_UNKNOWN_CA));
	peer_hears_alert(pr.s);
	pair_close(&pr);
	tls_material_unref(foreign);
	tls_material_unref(cm);
	tls_material_unref(sm);
}

static void
test_reverify_without_client_cert(void **state)
{
	struct tls_material *opt = server_m(TLS_AUTH_OPTIONAL);
	struct tls_material *req = server_m(TLS_AUTH_REQUIRE);
	struct tls_material *cm = client_m(dir, NULL);
	struct tls_ctx *ctx;
	struct pair pr;

	(void)state;
	pair_up(&pr, opt, cm, "localhost");
	assert_int_equal(tls_conn_reverify(pr.s, pr.sctx), 0);
	/* The route now requires a certificate this session never had. */
	ctx = ctx_of(req);
	assert_int_equal(tls_conn_reverify(pr.s, ctx), -1);
	tls_ctx_unref(ctx);
	assert_string_equal(tls_fail_name(tls_conn_fail(pr.s)),
	    tls_fail_name(TLS_FAIL_NO_CERT));
	pair_close(&pr);
	tls_material_unref(cm);
	tls_material_unref(req);
	tls_material_unref(opt);
}

/* ---- 7. lifetimes ---------------------------------------------------- */

static void
test_ctx_outlives_its_creator(void **state)
{
	struct tls_material *sm = server_m(TLS_AUTH_REQUIRE);
	struct tls_material *cm = client_m(dir, "client");
	struct tls_ctx *sctx = ctx_of(sm), *cctx = ctx_of(cm);
	struct tls_conn *s1, *c1, *s2, *c2;
	int fd1[2], fd2[2];
	struct pair pr;
	char buf[8];

	(void)state;
	/* Materials may go as soon as the contexts are built. */
	tls_material_ref(sm);
	tls_material_unref(sm);
	tls_material_unref(sm);
	tls_material_unref(cm);
	tls_material_unref(NULL);
	tls_ctx_unref(NULL);
	tls_conn_free(NULL);

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fd1), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fd2), 0);
	s1 = tls_conn_new(sctx, fd1[0], NULL);
	c1 = tls_conn_new(cctx, fd1[1], "localhost");
	s2 = tls_conn_new(sctx, fd2[0], NULL);
	c2 = tls_conn_new(cctx, fd2[1], "localhost");
	assert_non_null(s1);
	assert_non_null(c1);
	assert_non_null(s2);
	assert_non_null(c2);
	/* The creator lets go: the connections keep the contexts alive. */
	tls_ctx_unref(sctx);
	tls_ctx_unref(cctx);

	memset(&pr, 0, sizeof(pr));
	pr.s = s1;
	pr.c = c1;
	pr.sres = pr.cres = TLS_WANT_READ;
	assert_int_equal(pair_drive(&pr), 0);
	tls_conn_free(s1);
	tls_conn_free(c1);

	/* One reference each is left, held by s2 and c2. */
	memset(&pr, 0, sizeof(pr));
	pr.s = s2;
	pr.c = c2;
	pr.sres = pr.cres = TLS_WANT_READ;
	assert_int_equal(pair_drive(&pr), 0);
	assert_string_equal(tls_conn_peer_id(s2), "spiffe://t/client");
	assert_int_equal(tls_conn_write(c2, "ping", 4), 4);
	read_exact(s2, buf, 4);
	assert_memory_equal(buf, "ping", 4);
	/* The last connections free the contexts (ASan's leak check). */
	tls_conn_free(s2);
	tls_conn_free(c2);
	close(fd1[0]);
	close(fd1[1]);
	close(fd2[0]);
	close(fd2[1]);
}

static void
test_fail_names(void **state)
{
	(void)state;
	assert_string_equal(tls_fail_name(TLS_FAIL_NONE), "none");
	assert_string_equal(tls_fail_name(TLS_FAIL_REVOKED), "revoked");
	assert_string_equal(tls_fail_name(TLS_FAIL_DENIED), "denied");
	assert_string_equal(tls_fail_name(TLS_FAIL_COUNT), "?");
	for (int f = 0; f < TLS_FAIL_COUNT; f++) {
		assert_non_null(tls_fail_name((enum tls_fail)f));
		for (int g = 0; g < f; g++)
			assert_string_not_equal(tls_fail_name((enum tls_fail)f),
			    tls_fail_name((enum tls_fail)g));
	}
}

/* ---- 8. tables: who is admitted, and material that is refused -------- */

/*
 * One handshake: a server with the row's client_auth, allow_peers pattern
 * and CRL, and a client with the row's certificate (from the foreign CA,
 * or presented by a raw mbedTLS client for what tls_material_load rightly
 * refuses as our own).  fail: the server's reason to refuse, or
 * TLS_FAIL_NONE for admitted, with id the peer_id it then reports.
 */
struct peer_row {
	const char *name;
	enum tls_auth auth;
	const char *allow;	/* one allow_peers pattern; NULL: none */
	const char *crl;	/* a CRL file of dir (needs openssl); NULL: none */
	bool stale_refuse;
	bool foreign, raw;
	const char *client;	/* NULL: no certificate */
	enum tls_fail fail;
	const char *id;		/* NULL: not checked */
};

static const struct peer_row peer_rows[] = {
	{ "test_refuse_no_client_cert", .fail = TLS_FAIL_NO_CERT },
	/* Same URI SAN as the good client, from another CA. */
	{ "test_refuse_unknown_ca", .foreign = true, .client = "client",
	    .fail = TLS_FAIL_UNKNOWN_CA },
	{ "test_refuse_expired", .raw = true, .client = "expired", .fail = TLS_FAIL_EXPIRED },
	{ "test_refuse_not_yet_valid", .raw = true, .client = "future",
	    .fail = TLS_FAIL_NOT_YET_VALID },
	{ "test_auth_optional_without_cert", TLS_AUTH_OPTIONAL, .id = "" },
	/* A client that has a valid certificate is still identified. */
	{ "test_auth_optional_with_cert", TLS_AUTH_OPTIONAL, .client = "client",
	    .id = "spiffe://t/client" },
	{ "test_auth_optional_with_allow_list_needs_cert", TLS_AUTH_OPTIONAL,
	    "uri:spiffe://t/client", .fail = TLS_FAIL_NO_CERT },
	{ "test_auth_optional_with_allow_list_admits", TLS_AUTH_OPTIONAL,
	    "uri:spiffe://t/client", .client = "client" },
	/*
	 * "optional" means the certificate may be absent, not that a bad one
	 * is fine: a presented certificate that does not verify must still be
	 * refused, or its unverified identity becomes the session's peer_id
	 * (logs, audit, per-peer metrics) -- and the first reload's
	 * re-verification would then drop a session the handshake let in.
	 */
	{ "test_auth_optional_unknown_ca_refused", TLS_AUTH_OPTIONAL, .foreign = true,
	    .client = "client", .fail = TLS_FAIL_UNKNOWN_CA },
	{ "test_auth_optional_expired_refused", TLS_AUTH_OPTIONAL, .raw = true,
	    .client = "expired", .fail = TLS_FAIL_EXPIRED },
	{ "test_auth_none_without_cert", TLS_AUTH_NONE, .id = "" },
	/* No certificate is asked for, so none is seen even if the client has one. */
	{ "test_auth_none_with_cert", TLS_AUTH_NONE, .client = "client", .id = "" },
	/* Identity order: URI SAN, else DNS SAN, else the subject CN. */
	{ "test_identity_dns", .client = "node7", .id = "node7.train.internal" },
	{ "test_identity_cn", .client = "node_7", .id = "node_7" },
	/* An IP SAN is not an identity: the CN. */
	{ "test_identity_ip_is_not", .client = "ipclient", .id = "ipclient" },
	{ "allow_peers = dns:*.train.internal, node7", .allow = "dns:*.train.internal",
	    .client = "node7" },
	{ "allow_peers = dns:*.train.internal, node_7", .allow = "dns:*.train.internal",
	    .client = "node_7", .fail = TLS_FAIL_DENIED },
	/* '*' is one label */
	{ "allow_peers = dns:*.internal, node7", .allow = "dns:*.internal",
	    .client = "node7", .fail = TLS_FAIL_DENIED },
	{ "allow_peers = cn:node_7, node_7", .allow = "cn:node_7", .client = "node_7" },
	{ "allow_peers = cn:node_7, node7", .allow = "cn:node_7", .client = "node7",
	    .fail = TLS_FAIL_DENIED },
	/* CN, whatever the SANs */
	{ "allow_peers = cn:client, client", .allow = "cn:client", .client = "client" },
	{ "allow_peers = ip:10.0.0.0/8, ipclient", .allow = "ip:10.0.0.0/8",
	    .client = "ipclient" },
	{ "allow_peers = ip:10.1.2.3/32, ipclient", .allow = "ip:10.1.2.3/32",
	    .client = "ipclient" },
	{ "allow_peers = ip:192.168.0.0/16, ipclient", .allow = "ip:192.168.0.0/16",
	    .client = "ipclient", .fail = TLS_FAIL_DENIED },
	{ "allow_peers = uri:spiffe://t/*, client", .allow = "uri:spiffe://t/*",
	    .client = "client" },
	{ "allow_peers = uri:spiffe://t/*, node7", .allow = "uri:spiffe://t/*",
	    .client = "node7", .fail = TLS_FAIL_DENIED },
	/* authority: any case; path: exact */
	{ "allow_peers = uri:spiffe://T/client, client", .allow = "uri:spiffe://T/client",
	    .client = "client" },
	{ "allow_peers = uri:spiffe://t/Client, client", .allow = "uri:spiffe://t/Client",
	    .client = "client", .fail = TLS_FAIL_DENIED },
	{ "test_crl_revoked", .crl = "crl.pem", .client = "revoked", .fail = TLS_FAIL_REVOKED },
	{ "test_crl_admits", .crl = "crl.pem", .client = "client", .id = "spiffe://t/client" },
	/* crl = FILE takes DER, and PEM files holding several CRLs. */
	{ "test_crl_der_revoked", .crl = "crl.der", .client = "revoked",
	    .fail = TLS_FAIL_REVOKED },
	{ "test_crl_der_admits", .crl = "crl.der", .client = "client" },
	{ "test_crl_bundle_revoked", .crl = "bundle.pem", .client = "revoked",
	    .fail = TLS_FAIL_REVOKED },
	{ "test_crl_bundle_admits", .crl = "bundle.pem", .client = "client" },
	/* Stale, but what it lists is still revoked. */
	{ "test_crl_stale_still_revokes", .crl = "stale.pem", .client = "revoked",
	    .fail = TLS_FAIL_REVOKED },
	{ "test_crl_stale_refused", .crl = "stale.pem", .stale_refuse = true,
	    .client = "client", .fail = TLS_FAIL_CRL_STALE },
};

static void
test_peer(void **state)
{
	const struct peer_row *r = *state;
	struct tls_params p = params(TLS_ROLE_SERVER, dir, "server");
	struct tls_material *sm;
	struct peer_pattern pat;
	const char *why = NULL;
	struct outcome o;

	if (r->crl != NULL) {
		need_openssl();
		p.crl_file = at(dir, r->crl);
		p.crl_stale_refuse = r->stale_refuse;
	}
	p.client_auth = r->auth;
	if (r->allow != NULL) {
		assert_int_equal(peer_pattern_parse(r->allow, &pat, &why), 0);
		p.peers = &pat;
		p.npeers = 1;
	}
	sm = load(&p);
	if (r->raw)
		attempt_raw(sm, r->client, &o);
	else
		attempt(sm, r->foreign ? fdir : dir, r->client, &o);
	tls_material_unref(sm);
	if (r->fail != TLS_FAIL_NONE) {
		check_refused(&o, r->name, r->fail);
		return;
	}
	check_admitted(&o, r->name);
	if (r->id != NULL)
		assert_string_equal(o.sid, r->id);
}

/*
 * Handshakes one side refuses on what it checks of the other: the server
 * its allow_peers, the client its expect_peers and the name it connects
 * to.  fail: the refusing side's reason (TLS_FAIL_NONE: the pair comes
 * up); id: the identity the refusing side still records of its peer.
 */
struct refusal_row {
	const char *name;
	const char *allow, *expect;	/* one pattern each; NULL: none */
	const char *server_name;
	bool by_client;
	enum tls_fail fail;
	const char *id;
	const char *detail;		/* a part of the refusing side's detail */
};

static const struct refusal_row refusal_rows[] = {
	/* The detail names the name expected and the certificate's names,
	 * not mbedTLS's "expected CN". */
	{ "test_refuse_name_mismatch", .server_name = "wrong.example", .by_client = true,
	    .fail = TLS_FAIL_NAME_MISMATCH, .id = "spiffe://t/server",
	    .detail = "server_name wrong.example is not among the certificate's "
	    "names (dns:localhost, ip:127.0.0.1, uri:spiffe://t/server)" },
	/* The identity presented is reported even when denied. */
	{ "test_refuse_server_allow_list", .allow = "uri:spiffe://t/someone-else",
	    .fail = TLS_FAIL_DENIED, .id = "spiffe://t/client" },
	{ "test_refuse_client_expect_peers", .expect = "uri:spiffe://t/other",
	    .by_client = true, .fail = TLS_FAIL_DENIED, .id = "spiffe://t/server" },
	/* The same client expecting the server's real identity connects. */
	{ "test_client_expect_peers_admits", .expect = "uri:spiffe://t/server" },
};

/* params with one peer pattern, parsed into *pat. */
static struct tls_material *
load_with_peer(struct tls_params p, const char *pattern, struct peer_pattern *pat)
{
	const char *why = NULL;

	if (pattern != NULL) {
		assert_int_equal(peer_pattern_parse(pattern, pat, &why), 0);
		p.peers = pat;
		p.npeers = 1;
	}
	return load(&p);
}

static void
test_refusal(void **state)
{
	const struct refusal_row *r = *state;
	struct peer_pattern spat, cpat;
	struct tls_material *sm = load_with_peer(params(TLS_ROLE_SERVER, dir,
	    "server"), r->allow, &spat);
	struct tls_material *cm = load_with_peer(params(TLS_ROLE_CLIENT, dir,
	    "client"), r->expect, &cpat);
	const char *sni = r->server_name != NULL ? r->server_name : "localhost";
	struct pair pr;

	if (r->fail == TLS_FAIL_NONE) {
		pair_up(&pr, sm, cm, sni);
		pair_done(&pr, sm, cm);
		return;
	}
	pair_open(&pr, sm, cm, sni);
	assert_int_equal(pair_drive(&pr), -1);
	if (r->by_client)
		refused_by_client(&pr, r->fail);
	else
		refused_by_server(&pr, r->fail);
	assert_string_equal(tls_conn_peer_id(r->by_client ? pr.c : pr.s), r->id);
	if (r->detail != NULL &&
	    strstr(tls_conn_fail_detail(r->by_client ? pr.c : pr.s), r->detail) == NULL)
		fail_msg("%s: detail \"%s\"", r->name,
		    tls_conn_fail_detail(r->by_client ? pr.c : pr.s));
	/* The refused certificate's facts are on record, for the audit trail. */
	assert_int_equal(strlen(tls_conn_peer_fingerprint(r->by_client ? pr.c : pr.s)), 64);
	assert_true(strlen(tls_conn_peer_serial(r->by_client ? pr.c : pr.s)) >= 2);
	assert_non_null(strstr(tls_conn_peer_issuer(r->by_client ? pr.c : pr.s), "CN="));
	assert_string_equal(tls_conn_sni(pr.c), sni);
	assert_string_equal(tls_conn_sni(pr.s), sni);
	pair_done(&pr, sm, cm);
}

/*
 * Material tls_material_load must refuse: the route's certificate d/NAME
 * with its files overridden by names in dir (key "": none), and the file
 * the error must name, with text its message must hold.
 */
struct material_row {
	const char *name;
	enum tls_role role;
	const char *cert;
	const char *crt, *key, *ca, *pw;
	bool openssl;
	enum tls_file file;
	const char *has[2];
};

static const struct material_row material_rows[] = {
	{ "test_material_key_of_another_cert", TLS_ROLE_SERVER, "server",
	    .key = "client.key", .file = TLS_FILE_KEY, .has = { "does not match" } },
	{ "test_material_not_a_cert", TLS_ROLE_SERVER, "server", .crt = "garbage.crt",
	    .file = TLS_FILE_CERT, .has = { "garbage.crt" } },
	{ "test_material_no_ca_file", TLS_ROLE_SERVER, "server", .ca = "no-such-ca.crt",
	    .file = TLS_FILE_CA, .has = { "cannot open", "no-such-ca.crt" } },
	{ "test_material_ca_not_a_cert", TLS_ROLE_SERVER, "server", .ca = "garbage.crt",
	    .file = TLS_FILE_CA },
	/* Our own certificate out of its validity period. */
	{ "test_material_own_cert_expired", TLS_ROLE_CLIENT, "expired",
	    .file = TLS_FILE_CERT, .has = { "expired on" } },
	{ "test_material_own_cert_not_yet_valid", TLS_ROLE_CLIENT, "future",
	    .file = TLS_FILE_CERT, .has = { "not valid before" } },
	{ "test_material_cert_without_key", TLS_ROLE_CLIENT, "client", .key = "",
	    .file = TLS_FILE_KEY },
	{ "test_material_wrong_password", TLS_ROLE_CLIENT, "client", .key = "enc.key",
	    .pw = "pw.wrong", .openssl = true, .file = TLS_FILE_KEY_PASSWORD },
	{ "test_material_encrypted_without_password", TLS_ROLE_CLIENT, "client",
	    .key = "enc.key", .openssl = true, .file = TLS_FILE_KEY, .has = { "encrypted" } },
};

static void
test_material_refused(void **state)
{
	const struct material_row *r = *state;
	struct tls_params p = params(r->role, dir, r->cert);
	struct tls_error err;

	if (r->openssl)
		need_openssl();
	if (r->crt != NULL)
		p.cert_file = at(dir, r->crt);
	if (r->key != NULL)
		p.key_file = r->key[0] != '\0' ? at(dir, r->key) : NULL;
	if (r->ca != NULL)
		p.ca_file = at(dir, r->ca);
	if (r->pw != NULL)
		p.key_password_file = at(dir, r->pw);
	err = load_fails(&p);
	assert_int_equal(err.file, r->file);
	for (size_t i = 0; i < ROWS(r->has) && r->has[i] != NULL; i++)
		assert_non_null(strstr(err.msg, r->has[i]));
}

int
main(void)
{
	static const struct CMUnitTest fixed[] = {
		cmocka_unit_test_setup_teardown(test_mtls_ok, session_up, session_down),
		cmocka_unit_test(test_cipher_iana),
		cmocka_unit_test_setup_teardown(test_bulk_both_ways, session_up, session_down),
		cmocka_unit_test_setup_teardown(test_read_ahead, session_up, session_down),
		cmocka_unit_test_setup_teardown(test_write_pending_across_ticket, ticket_up, ticket_down),
		cmocka_unit_test_setup_teardown(test_read_while_write_blocked, ticket_up, ticket_down),
		cmocka_unit_test_setup_teardown(test_pending_partial_record, session_up, session_down),
		cmocka_unit_test_setup_teardown(test_close_notify_half_close, session_up, session_down),
		cmocka_unit_test_setup_teardown(test_truncated_by_tcp_eof, session_up, session_down),
		cmocka_unit_test(test_eof_during_handshake),
		cmocka_unit_test(test_min_version_12_still_13),
		cmocka_unit_test(test_material_key_permissions),
		cmocka_unit_test(test_material_encrypted_key),
		cmocka_unit_test(test_material_not_after),
		cmocka_unit_test(test_material_equal),
		cmocka_unit_test(test_key_bytes_wiped),
		cmocka_unit_test(test_crl_current_not_stale),
		cmocka_unit_test(test_crl_stale_warns),
		cmocka_unit_test(test_crl_next_update),
		cmocka_unit_test(test_reverify),
		cmocka_unit_test(test_reverify_client_side),
		cmocka_unit_test(test_reverify_without_client_cert),
		cmocka_unit_test(test_ctx_outlives_its_creator),
		cmocka_unit_test(test_fail_names),
	};

	struct CMUnitTest tests[ROWS(fixed) + ROWS(peer_rows) + ROWS(refusal_rows) +
	    ROWS(material_rows)];
	size_t n = 0;

	TESTS_APPEND(tests, n, fixed);
	ROW_TESTS(tests, n, peer_rows, test_peer);
	ROW_TESTS(tests, n, refusal_rows, test_refusal);
	ROW_TESTS(tests, n, material_rows, test_material_refused);
	return _cmocka_run_group_tests("tls", tests, n, group_setup, group_teardown);
}
