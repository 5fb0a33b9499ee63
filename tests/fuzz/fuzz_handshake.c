/*
 * fuzz_handshake.c: a server handshake (tls_conn_handshake) fed any bytes.
 *
 * The server: the tests' PKI, client certificates required, TLS 1.2 and
 * 1.3, session tickets on (so a ClientHello's PSK goes to tls_ticket.c),
 * built once.  Each input: a fresh tls_conn on one end of a socketpair, the
 * input written into the other end, the handshake driven (its output read
 * and dropped) until it fails or waits for more; then the peer's end is
 * shut for writing and the handshake driven once more (TCP EOF mid-way).
 * Checked: results are TLS_OK, TLS_WANT_* or TLS_ERR with a reason, and a
 * server never completes a handshake with a client that cannot have the
 * keys (the input is fixed bytes).
 *
 * MTLSD_FUZZ_VERBOSE=1 says how each input ended.
 * MTLSD_FUZZ_SEEDS=DIR writes seed ClientHellos from mtlsd's own client
 * (TLS 1.3, TLS 1.2 only, ChaCha20 only, one with a ticket) into DIR and
 * exits: how corpus/handshake/ was made.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <mbedtls/ssl_ciphersuites.h>

#include "tls/tls_int.h"
#include "tests/fuzz/fuzz.h"

static struct tls_material *server_m;
static struct tls_ctx *server_ctx;

static struct tls_params
server_params(void)
{
	struct tls_params p = fuzz_params(TLS_ROLE_SERVER, "server");

	p.min_version = 12;
	p.resumption = true;
	return p;
}

/* Reads and drops what the server wrote. */
static void
drain(int fd)
{
	unsigned char buf[16384];

	while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		;
}

/* ---- seeds ---- */

static void
write_seed(const char *dir, const char *name, const unsigned char *p, size_t n)
{
	char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	FUZZ_SETUP(f != NULL && fwrite(p, 1, n, f) == n && fclose(f) == 0,
	    "cannot write %s", path);
	printf("wrote %s (%zu bytes)\n", path, n);
}

/* The client's first flight under material m (with ctx tweaks). */
static void
client_hello(const char *dir, const char *name, struct tls_material *m,
    const int *suites, bool v12_only)
{
	struct tls_ctx *ctx = fuzz_ctx(m);
	struct tls_conn *c;
	unsigned char buf[16384];
	int fd[2];
	ssize_t n;

	if (suites != NULL)
		mbedtls_ssl_conf_ciphersuites(&ctx->conf, suites);
	if (v12_only)
		mbedtls_ssl_conf_max_tls_version(&ctx->conf, MBEDTLS_SSL_VERSION_TLS1_2);
	FUZZ_SETUP(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fd) == 0, "sp");
	c = tls_conn_new(ctx, fd[1], "localhost");
	FUZZ_SETUP(c != NULL && tls_conn_handshake(c) == TLS_WANT_READ, "client hello");
	n = recv(fd[0], buf, sizeof(buf), MSG_DONTWAIT);
	FUZZ_SETUP(n > 0, "nothing sent");
	write_seed(dir, name, buf, (size_t)n);
	tls_conn_free(c);
	tls_ctx_unref(ctx);
	close(fd[0]);
	close(fd[1]);
}

static void
make_seeds(const char *dir)
{
	static const int chacha[] = { MBEDTLS_TLS1_3_CHACHA20_POLY1305_SHA256, 0 };
	struct tls_params cp = fuzz_params(TLS_ROLE_CLIENT, "client");
	struct tls_material *cm;
	struct tls_ctx *cctx;
	struct tls_conn *s, *c;
	unsigned char buf[256];
	int fd[2];

	cp.min_version = 12;
	cm = fuzz_material(&cp);
	client_hello(dir, "clienthello-tls13", cm, NULL, false);
	client_hello(dir, "clienthello-tls12", cm, NULL, true);
	client_hello(dir, "clienthello-chacha", cm, chacha, false);
	tls_material_unref(cm);

	/* A ticket from our server, then the ClientHello that offers it. */
	cp.resumption = true;
	cm = fuzz_material(&cp);
	cctx = fuzz_ctx(cm);
	FUZZ_SETUP(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fd) == 0, "sp");
	s = tls_conn_new(server_ctx, fd[0], NULL);
	c = tls_conn_new(cctx, fd[1], "localhost");
	FUZZ_SETUP(s != NULL && c != NULL, "conn");
	fuzz_handshake_pair(s, c);
	for (int i = 0; i < 8 && tls_conn_read(c, buf, sizeof(buf)) != TLS_WANT_READ; i++)
		;
	tls_conn_free(s);
	tls_conn_free(c);
	tls_ctx_unref(cctx);
	close(fd[0]);
	close(fd[1]);
	client_hello(dir, "clienthello-ticket", cm, NULL, false);
	tls_material_unref(cm);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct tls_params p;
	const char *seeds = getenv("MTLSD_FUZZ_SEEDS");

	(void)argc;
	(void)argv;
	(void)fuzz_pki_dir();
	p = server_params();
	server_m = fuzz_material(&p);
	server_ctx = fuzz_ctx(server_m);
	if (seeds != NULL && seeds[0] != '\0') {
		make_seeds(seeds);
		exit(0);
	}
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tls_conn *c;
	size_t off = 0;
	bool shut = false;
	int fd[2], r = TLS_WANT_READ;

	FUZZ_SETUP(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
	    fd) == 0, "socketpair: %s", strerror(errno));
	c = tls_conn_new(server_ctx, fd[0], NULL);
	FUZZ_SETUP(c != NULL, "tls_conn_new");
	for (int step = 0; step < 64; step++) {
		if (off < size) {
			ssize_t n = send(fd[1], data + off, size - off,
			    MSG_DONTWAIT | MSG_NOSIGNAL);
			if (n > 0)
				off += (size_t)n;
		}
		r = tls_conn_handshake(c);
		drain(fd[1]);
		FUZZ_CHECK(r == TLS_OK || r == TLS_WANT_READ || r == TLS_WANT_WRITE ||
		    r == TLS_ERR, "handshake result %d", r);
		FUZZ_CHECK(r != TLS_OK, "a handshake completed on fixed input");
		if (r == TLS_ERR)
			break;
		if (r == TLS_WANT_READ && off == size) {
			if (shut)
				break;
			shutdown(fd[1], SHUT_WR);
			shut = true;
		}
	}
	if (r == TLS_ERR)
		FUZZ_CHECK(tls_conn_fail(c) != TLS_FAIL_NONE &&
		    tls_conn_fail(c) < TLS_FAIL_COUNT &&
		    tls_fail_name(tls_conn_fail(c)) != NULL &&
		    tls_conn_fail_detail(c) != NULL, "TLS_ERR without a reason");
	if (getenv("MTLSD_FUZZ_VERBOSE") != NULL)
		fprintf(stderr, "%zu of %zu bytes taken, result %d, %s: %s\n", off, size, r,
		    tls_fail_name(tls_conn_fail(c)), tls_conn_fail_detail(c));
	(void)tls_conn_peer_id(c);
	tls_conn_free(c);
	close(fd[0]);
	close(fd[1]);
	return 0;
}
