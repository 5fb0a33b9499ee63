/*
 * pki.h: a throwaway PKI for the unit tests and the fuzz targets, made with
 * `mtlsd certs` (certs_main, in-process) in a fresh temporary directory.
 * Plain C without cmocka, so that the fuzz build links it too: each call
 * returns 0 or -1 (a pointer or NULL) and the caller decides how to fail.
 */
#ifndef MTLSD_TESTS_UNIT_PKI_H
#define MTLSD_TESTS_UNIT_PKI_H

#include <stddef.h>

#include "tls/tls.h"

/* One certificate to issue: NAME.crt and NAME.key; san and not_before /
 * days as `mtlsd certs issue` takes them, NULL for its defaults. */
struct pki_cert {
	const char *name, *san, *not_before, *days;
};

/* Makes $TMPDIR/mtlsd-TAG-XXXXXX (TMPDIR unset: /tmp) into dir[len]. */
int pki_mkdtemp(char *dir, size_t len, const char *tag);

/* In the existing directory dir: a CA (ca_name NULL: certs' default name),
 * then each of the n certificates, issued by it. */
int pki_issue(const char *dir, const char *ca_name, const struct pki_cert *certs,
    size_t n);

/* pki_mkdtemp(), then pki_issue() there with certs' default CA name. */
int pki_make(char *dir, size_t len, const char *tag, const struct pki_cert *certs,
    size_t n);

/* Runs certs_main("certs", argv...); argv ends with NULL.  Its stdout goes
 * to out_path (NULL: /dev/null); its stderr stays, to explain a failure. */
int pki_certs(const char *out_path, const char *const *argv);

/* "d/name", from a ring of 64 buffers: valid for the next 63 calls. */
const char *pki_at(const char *d, const char *name);

/* Parameters for a route: d/name.crt and d/name.key (none if name is NULL),
 * trusting ca_dir/ca.crt, TLS 1.3, client certificates required.  The
 * paths are pki_at()'s. */
struct tls_params pki_params(enum tls_role role, const char *d, const char *name,
    const char *ca_dir);

/* Removes dir and everything under it. */
int pki_rm(const char *dir);

#endif /* MTLSD_TESTS_UNIT_PKI_H */
