/*
 * pki.c: the test PKI and TLS helpers of the fuzz targets (see fuzz.h).
 */
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "certs/certs.h"
#include "tests/fuzz/fuzz.h"

static char pki_dir[PATH_MAX];

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void
pki_cleanup(void)
{
	if (pki_dir[0] != '\0')
		(void)nftw(pki_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* certs_main("certs", ...), its "wrote" lines sent to /dev/null. */
static int
certs(char **argv)
{
	int argc = 0, saved, fd, status;

	while (argv[argc] != NULL)
		argc++;
	fflush(stdout);
	saved = dup(1);
	fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (saved == -1 || fd == -1)
		return -1;
	dup2(fd, 1);
	close(fd);
	status = certs_main(argc, argv);
	fflush(stdout);
	dup2(saved, 1);
	close(saved);
	return status;
}

const char *
fuzz_pki_dir(void)
{
	const char *tmp = getenv("TMPDIR");

	if (pki_dir[0] != '\0')
		return pki_dir;
	FUZZ_SETUP(tls_global_init() == 0, "tls_global_init");
	snprintf(pki_dir, sizeof(pki_dir), "%s/mtlsd-fuzz-pki-XXXXXX",
	    tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
	FUZZ_SETUP(mkdtemp(pki_dir) != NULL, "mkdtemp %s", pki_dir);
	atexit(pki_cleanup);
	{
		char *ca[] = { "certs", "init-ca", "--dir", pki_dir, NULL };
		char *srv[] = { "certs", "issue", "--dir", pki_dir, "--name", "server",
		    "--san", "dns:localhost,uri:spiffe://t/server", NULL };
		char *cli[] = { "certs", "issue", "--dir", pki_dir, "--name", "client",
		    "--san", "uri:spiffe://t/client", NULL };
		FUZZ_SETUP(certs(ca) == 0 && certs(srv) == 0 && certs(cli) == 0,
		    "mtlsd certs in %s", pki_dir);
	}
	return pki_dir;
}

struct tls_params
fuzz_params(enum tls_role role, const char *name)
{
	static char paths[3][2][PATH_MAX];	/* server, client, ca */
	const char *d = fuzz_pki_dir();
	struct tls_params p;
	int slot = name != NULL && strcmp(name, "server") == 0 ? 0 : 1;

	memset(&p, 0, sizeof(p));
	p.role = role;
	if (name != NULL) {
		snprintf(paths[slot][0], PATH_MAX, "%s/%s.crt", d, name);
		snprintf(paths[slot][1], PATH_MAX, "%s/%s.key", d, name);
		p.cert_file = paths[slot][0];
		p.key_file = paths[slot][1];
	}
	snprintf(paths[2][0], PATH_MAX, "%s/ca.crt", d);
	p.ca_file = paths[2][0];
	p.key_owner_alt = (uid_t)-1;
	p.min_version = 13;
	p.client_auth = TLS_AUTH_REQUIRE;
	return p;
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
