/*
 * pki.c: the test PKI and TLS helpers of the fuzz targets (see fuzz.h), on
 * tests/unit/pki.c's.
 */
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>

#include "tests/fuzz/fuzz.h"
#include "tests/unit/pki.h"

static char pki_dir[PATH_MAX];

static void
pki_cleanup(void)
{
	if (pki_dir[0] != '\0')
		(void)pki_rm(pki_dir);
}

const char *
fuzz_pki_dir(void)
{
	static const struct pki_cert issue[] = {
		{ "server", "dns:localhost,uri:spiffe://t/server", NULL, NULL },
		{ "client", "uri:spiffe://t/client", NULL, NULL },
	};

	if (pki_dir[0] != '\0')
		return pki_dir;
	FUZZ_SETUP(tls_global_init() == 0, "tls_global_init");
	atexit(pki_cleanup);
	FUZZ_SETUP(pki_make(pki_dir, sizeof(pki_dir), "fuzz-pki", issue, 2) == 0,
	    "mtlsd certs in %s", pki_dir);
	return pki_dir;
}

struct tls_params
fuzz_params(enum tls_role role, const char *name)
{
	const char *d = fuzz_pki_dir();

	return pki_params(role, d, name, d);
}

struct tls_material *
fuzz_material(const struct tls_params *p)
{
	struct tls_error err;
	struct tls_material *m = tls_material_load(p, &err);

	FUZZ_SETUP(m != NULL, "tls_material_load: %s", err.msg);
	return m;
}

struct tls_ctx *
fuzz_ctx(const struct tls_material *m)
{
	struct tls_error err;
	struct tls_ctx *ctx = tls_ctx_new(m, &err);

	FUZZ_SETUP(ctx != NULL, "tls_ctx_new: %s", err.msg);
	return ctx;
}

void
fuzz_handshake_pair(struct tls_conn *s, struct tls_conn *c)
{
	int sres = TLS_WANT_READ, cres = TLS_WANT_READ;

	for (int i = 0; i < 200; i++) {
		if (cres != TLS_OK)
			cres = tls_conn_handshake(c);
		if (sres != TLS_OK)
			sres = tls_conn_handshake(s);
		FUZZ_SETUP(cres != TLS_ERR && sres != TLS_ERR, "handshake failed: "
		    "server %s (%s), client %s (%s)", tls_fail_name(tls_conn_fail(s)),
		    tls_conn_fail_detail(s), tls_fail_name(tls_conn_fail(c)),
		    tls_conn_fail_detail(c));
		if (cres == TLS_OK && sres == TLS_OK)
			return;
	}
	FUZZ_SETUP(false, "handshake stuck");
}
