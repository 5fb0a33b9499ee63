/*
 * pki.c: the throwaway PKI of the unit tests and fuzz targets (see pki.h).
 */
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "certs/certs.h"
#include "tests/unit/pki.h"

#define MAX_ARGS	16

int
pki_mkdtemp(char *dir, size_t len, const char *tag)
{
	const char *tmp = getenv("TMPDIR");
	int n = snprintf(dir, len, "%s/mtlsd-%s-XXXXXX",
	    tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp", tag);

	if (n < 0 || (size_t)n >= len)
		return -1;
	return mkdtemp(dir) != NULL ? 0 : -1;
}

int
pki_certs(const char *out_path, const char *const *argv)
{
	char *args[MAX_ARGS];
	int argc = 0, status, saved, fd;

	args[argc++] = (char *)"certs";
	for (; argv[argc - 1] != NULL; argc++) {
		if (argc == MAX_ARGS - 1)
			return -1;
		args[argc] = (char *)(uintptr_t)argv[argc - 1];
	}
	args[argc] = NULL;
	fflush(stdout);
	fd = open(out_path != NULL ? out_path : "/dev/null",
	    O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd == -1)
		return -1;
	saved = dup(1);
	if (saved == -1) {
		close(fd);
		return -1;
	}
	dup2(fd, 1);
	close(fd);
	status = certs_main(argc, args);
	fflush(stdout);
	dup2(saved, 1);
	close(saved);
	return status;
}

int
pki_issue(const char *dir, const char *ca_name, const struct pki_cert *certs,
    size_t n)
{
	const char *ca[] = { "init-ca", "--dir", dir, ca_name ? "--name" : NULL,
	    ca_name, NULL };

	if (pki_certs(NULL, ca) != 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		const char *argv[MAX_ARGS];
		int k = 0;

		argv[k++] = "issue";
		argv[k++] = "--dir";
		argv[k++] = dir;
		argv[k++] = "--name";
		argv[k++] = certs[i].name;
		if (certs[i].san != NULL) {
			argv[k++] = "--san";
			argv[k++] = certs[i].san;
		}
		if (certs[i].not_before != NULL) {
			argv[k++] = "--not-before";
			argv[k++] = certs[i].not_before;
		}
		if (certs[i].days != NULL) {
			argv[k++] = "--days";
			argv[k++] = certs[i].days;
		}
		argv[k] = NULL;
		if (pki_certs(NULL, argv) != 0)
			return -1;
	}
	return 0;
}

int
pki_make(char *dir, size_t len, const char *tag, const struct pki_cert *certs,
    size_t n)
{
	if (pki_mkdtemp(dir, len, tag) == -1)
		return -1;
	return pki_issue(dir, NULL, certs, n);
}

const char *
pki_at(const char *d, const char *name)
{
	static char ring[64][PATH_MAX];
	static unsigned next;
	char *p = ring[next++ % 64];
	int n = snprintf(p, PATH_MAX, "%s/%s", d, name);

	return n >= 0 && n < PATH_MAX ? p : NULL;
}

struct tls_params
pki_params(enum tls_role role, const char *d, const char *name, const char *ca_dir)
{
	struct tls_params p;
	char file[NAME_MAX + 1];

	memset(&p, 0, sizeof(p));
	p.role = role;
	if (name != NULL) {
		snprintf(file, sizeof(file), "%s.crt", name);
		p.cert_file = pki_at(d, file);
		snprintf(file, sizeof(file), "%s.key", name);
		p.key_file = pki_at(d, file);
	}
	p.ca_file = pki_at(ca_dir, "ca.crt");
	p.key_owner_alt = (uid_t)-1;
	p.min_version = 13;
	p.client_auth = TLS_AUTH_REQUIRE;
	return p;
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

int
pki_rm(const char *dir)
{
	return nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}
