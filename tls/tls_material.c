/*
 * tls_material.c: reading a route's cert, key, CA and CRL files once, with
 * the checks an operator expects before any of it is used:
 *   - the key file is 0600 or 0400 and owned by the running user (as ssh
 *     insists), unless insecure_key_permissions says otherwise;
 *   - everything parses, the key matches the certificate, and our own
 *     certificate is inside its validity period.
 * The bytes are then shared read-only by every worker's tls_ctx_new().
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/platform_util.h>
#include <mbedtls/sha256.h>

#include "tls/tls_int.h"

#define MAX_PEM_FILE	(1 << 20)	/* certs, keys, CA bundles */
#define MAX_CRL_FILE	(64 << 20)	/* CRLs of big CAs */

/* Reads a whole regular file into b (NUL-terminated).  fd is consumed. */
static int
read_fd(int fd, const char *path, size_t max, struct tls_blob *b,
    enum tls_file which, struct tls_error *err)
{
	struct stat st;
	size_t got = 0;

	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		tls_error_set(err, which, 0, "'%s' is not a regular file", path);
		goto fail;
	}
	if ((size_t)st.st_size > max) {
		tls_error_set(err, which, 0, "'%s' is too large (%lld bytes)", path,
		    (long long)st.st_size);
		goto fail;
	}
	if ((b->data = malloc((size_t)st.st_size + 1)) == NULL) {
		tls_error_set(err, which, 0, "out of memory reading '%s'", path);
		goto fail;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, b->data + got, (size_t)st.st_size - got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			tls_error_set(err, which, 0, "cannot read '%s': %s", path,
			    n == 0 ? "file shrank while reading" : strerror(errno));
			goto fail;
		}
		got += (size_t)n;
	}
	if (got == 0) {
		tls_error_set(err, which, 0, "'%s' is empty", path);
		goto fail;
	}
	b->data[got] = '\0';
	b->len = got + 1;
	close(fd);
	return 0;
fail:
	if (b->data != NULL) {
		mbedtls_platform_zeroize(b->data, got);
		free(b->data);
		b->data = NULL;
	}
	close(fd);
	return -1;
}

static int
open_file(const char *path, enum tls_file which, struct tls_error *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

	if (fd == -1)
		tls_error_set(err, which, 0, "cannot open '%s': %s", path,
		    strerror(errno));
	return fd;
}

static int
read_file(const char *path, size_t max, struct tls_blob *b, enum tls_file which,
    struct tls_error *err)
{
	int fd = open_file(path, which, err);

	return fd == -1 ? -1 : read_fd(fd, path, max, b, which, err);
}

/*
 * Secrets must be private to their owner.  Checked on the open fd, so a file
 * swapped between the check and the read cannot slip through.
 */
static int
check_private(int fd, const char *path, const struct tls_params *p,
    enum tls_file which, struct tls_error *err)
{
	struct stat st;
	uid_t me = geteuid();
	mode_t mode;

	if (p->insecure_key_permissions)
		return 0;
	if (fstat(fd, &st) == -1) {
		tls_error_set(err, which, 0, "cannot stat '%s': %s", path, strerror(errno));
		return -1;
	}
	mode = st.st_mode & 07777;
	if (mode != 0600 && mode != 0400) {
		tls_error_set(err, which, 0, "'%s' has mode %04o; a private key must "
		    "be 0600 or 0400: run 'chmod 600 %s' (or set "
		    "insecure_key_permissions = yes)", path, (unsigned)mode, path);
		return -1;
	}
	if (st.st_uid != me && st.st_uid != p->key_owner_alt) {
		tls_error_set(err, which, 0, "'%s' is owned by uid %u, not by the "
		    "user mtlsd runs as (uid %u): run 'chown %u %s' (or set "
		    "insecure_key_permissions = yes)", path, (unsigned)st.st_uid,
		    (unsigned)me, (unsigned)me, path);
		return -1;
	}
	return 0;
}

static int
read_secret(const char *path, const struct tls_params *p, size_t max,
    struct tls_blob *b, enum tls_file which, struct tls_error *err)
{
	int fd = open_file(path, which, err);

	if (fd == -1)
		return -1;
	if (check_private(fd, path, p, which, err) == -1) {
		close(fd);
		return -1;
	}
	return read_fd(fd, path, max, b, which, err);
}

/* Our own certificate must be valid now: serving an expired one fails every
 * peer, so it is refused at start and on reload. */
static int
check_own_validity(struct tls_material *m, const struct tls_ctx *ctx,
    const char *path, struct tls_error *err)
{
	const mbedtls_x509_crt *crt = &ctx->own_chain;
	time_t now = time(NULL), from = tls_x509_time(&crt->valid_from);
	char when[32];

	m->not_after = tls_x509_time(&crt->valid_to);
	m->own_ip_sans = tls_cert_ip_sans(crt);
	if (now > m->not_after) {
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%SZ", gmtime(&m->not_after));
		tls_error_set(err, TLS_FILE_CERT, 0, "certificate '%s' expired on %s",
		    path, when);
		return -1;
	}
	if (now < from) {
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%SZ", gmtime(&from));
		tls_error_set(err, TLS_FILE_CERT, 0, "certificate '%s' is not valid "
		    "before %s", path, when);
		return -1;
	}
	return 0;
}

struct tls_material *
tls_material_load(const struct tls_params *p, struct tls_error *err)
{
	struct tls_material *m;
	struct tls_blob pw = { 0 };
	struct tls_ctx *probe;

	memset(err, 0, sizeof(*err));
	if ((m = calloc(1, sizeof(*m))) == NULL) {
		tls_error_set(err, TLS_FILE_NONE, 0, "out of memory");
		return NULL;
	}
	atomic_init(&m->refs, 1);
	pthread_mutex_init(&m->ticket_lock, NULL);
	m->role = p->role;
	m->min_version = p->min_version;
	m->client_auth = p->client_auth;
	m->crl_stale_refuse = p->crl_stale_refuse;
	m->want_ktls = p->ktls;
	m->want_own = p->own_layer;
	m->key_limit = p->key_update_records ? p->key_update_records :
	    TLS_KEY_UPDATE_RECORDS_DEFAULT;
	m->resumption = p->resumption;
	if (m->resumption && m->role == TLS_ROLE_SERVER &&
	    tls_ticket_material_init(m) == -1) {
		tls_error_set(err, TLS_FILE_NONE, 0, "no randomness for the ticket key");
		goto fail;
	}
	m->ktls_required = p->ktls_required;
	if (p->npeers > 0) {
		if ((m->peers = malloc(p->npeers * sizeof(*m->peers))) == NULL) {
			tls_error_set(err, TLS_FILE_NONE, 0, "out of memory");
			goto fail;
		}
		memcpy(m->peers, p->peers, p->npeers * sizeof(*m->peers));
		m->npeers = p->npeers;
	}
	if ((p->cert_file == NULL) != (p->key_file == NULL)) {
		tls_error_set(err, p->cert_file ? TLS_FILE_KEY : TLS_FILE_CERT, 0,
		    "cert and key go together");
		goto fail;
	}
	if (p->cert_file != NULL) {
		if (read_file(p->cert_file, MAX_PEM_FILE, &m->cert, TLS_FILE_CERT, err) == -1 ||
		    read_secret(p->key_file, p, MAX_PEM_FILE, &m->key, TLS_FILE_KEY, err) == -1)
			goto fail;
	}
	if (p->key_password_file != NULL) {
		if (read_secret(p->key_password_file, p, 4096, &pw,
		    TLS_FILE_KEY_PASSWORD, err) == -1)
			goto fail;
		/* One trailing newline is the editor's, not the password's. */
		size_t n = strlen((char *)pw.data);
		while (n > 0 && (pw.data[n - 1] == '\n' || pw.data[n - 1] == '\r'))
			pw.data[--n] = '\0';
		m->password = (char *)pw.data;
	}
	if (p->ca_file != NULL &&
	    read_file(p->ca_file, MAX_PEM_FILE, &m->ca, TLS_FILE_CA, err) == -1)
		goto fail;
	if (p->crl_file != NULL &&
	    read_file(p->crl_file, MAX_CRL_FILE, &m->crl, TLS_FILE_CRL, err) == -1)
		goto fail;

	/* Parse it all once here, so a bad file fails now and names itself. */
	if ((probe = tls_ctx_new(m, err)) == NULL) {
		if (err->file == TLS_FILE_CERT || err->file == TLS_FILE_KEY ||
		    err->file == TLS_FILE_CA || err->file == TLS_FILE_CRL ||
		    err->file == TLS_FILE_KEY_PASSWORD) {
			const char *path = err->file == TLS_FILE_CERT ? p->cert_file :
			    err->file == TLS_FILE_KEY ? p->key_file :
			    err->file == TLS_FILE_CA ? p->ca_file :
			    err->file == TLS_FILE_CRL ? p->crl_file : p->key_password_file;
			char msg[sizeof(err->msg)];
			snprintf(msg, sizeof(msg), "%s", err->msg);
			if (snprintf(err->msg, sizeof(err->msg), "'%s': %s", path,
			    msg) >= (int)sizeof(err->msg))
				err->msg[sizeof(err->msg) - 2] = '~';	/* cut short */
		}
		goto fail;
	}
	if (p->cert_file != NULL &&
	    check_own_validity(m, probe, p->cert_file, err) == -1) {
		tls_ctx_unref(probe);
		goto fail;
	}
	/* Reloads compare secrets by digest: the bytes go once parsed. */
	{
		mbedtls_sha256_context sha;
		mbedtls_sha256_init(&sha);
		mbedtls_sha256_starts(&sha, 0);
		if (m->key.data != NULL)
			mbedtls_sha256_update(&sha, m->key.data, m->key.len);
		if (m->password != NULL)
			mbedtls_sha256_update(&sha, (const unsigned char *)m->password,
			    strlen(m->password) + 1);
		mbedtls_sha256_finish(&sha, m->secret_digest);
		mbedtls_sha256_free(&sha);
	}
	for (const mbedtls_x509_crl *crl = &probe->crl; crl != NULL; crl = crl->next) {
		time_t next;
		if (crl->version == 0)
			continue;
		next = tls_x509_time(&crl->next_update);
		if (m->crl_next_update == 0 || next < m->crl_next_update)
			m->crl_next_update = next;
	}
	tls_ctx_unref(probe);
	return m;
fail:
	tls_material_unref(m);
	return NULL;
}

void
tls_material_ref(struct tls_material *m)
{
	atomic_fetch_add(&m->refs, 1);
}

static void
blob_free(struct tls_blob *b, bool secret)
{
	if (b->data != NULL && secret)
		mbedtls_platform_zeroize(b->data, b->len);
	free(b->data);
	b->data = NULL;
}

void
tls_material_unref(struct tls_material *m)
{
	if (m == NULL || atomic_fetch_sub(&m->refs, 1) > 1)
		return;
	blob_free(&m->cert, false);
	blob_free(&m->key, true);
	blob_free(&m->ca, false);
	blob_free(&m->crl, false);
	if (m->password != NULL) {
		mbedtls_platform_zeroize(m->password, strlen(m->password));
		free(m->password);
	}
	mbedtls_platform_zeroize(m->ticket_key, sizeof(m->ticket_key));
	for (size_t i = 0; m->tickets != NULL && i < TLS_TICKET_SLOTS; i++) {
		if (m->tickets[i].blob != NULL) {
			mbedtls_platform_zeroize(m->tickets[i].blob, m->tickets[i].len);
			free(m->tickets[i].blob);
		}
	}
	free(m->tickets);
	pthread_mutex_destroy(&m->ticket_lock);
	free(m->peers);
	free(m);
}

unsigned
tls_material_ip_sans(const struct tls_material *m)
{
	return m->own_ip_sans;
}

time_t
tls_material_not_after(const struct tls_material *m)
{
	return m->not_after;
}

static bool
blob_equal(const struct tls_blob *a, const struct tls_blob *b)
{
	return a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

void
tls_material_expect_builds(struct tls_material *m, int n)
{
	atomic_store(&m->builders, n);
}

/* The last context built: the key's bytes (and the password's) are wiped,
 * leaving the parsed keys inside the contexts only. */
void
tls_material_built(struct tls_material *m)
{
	if (atomic_fetch_sub(&m->builders, 1) != 1)
		return;
	blob_free(&m->key, true);
	if (m->password != NULL) {
		mbedtls_platform_zeroize(m->password, strlen(m->password));
		free(m->password);
		m->password = NULL;
	}
}

bool
tls_material_equal(const struct tls_material *a, const struct tls_material *b)
{
	return a->role == b->role && a->min_version == b->min_version &&
	    a->client_auth == b->client_auth &&
	    a->crl_stale_refuse == b->crl_stale_refuse &&
	    a->want_ktls == b->want_ktls && a->ktls_required == b->ktls_required &&
	    a->want_own == b->want_own && a->key_limit == b->key_limit &&
	    a->resumption == b->resumption &&
	    blob_equal(&a->cert, &b->cert) && blob_equal(&a->ca, &b->ca) &&
	    blob_equal(&a->crl, &b->crl) &&
	    memcmp(a->secret_digest, b->secret_digest, sizeof(a->secret_digest)) == 0 &&
	    a->npeers == b->npeers && (a->npeers == 0 ||
	    memcmp(a->peers, b->peers, a->npeers * sizeof(*a->peers)) == 0);
}

time_t
tls_material_crl_next_update(const struct tls_material *m)
{
	return m->crl_next_update;
}
