/*
 * certs_int.h: what the files of certs/ share.  Nothing outside certs/
 * includes this header.
 *
 *   certs.c       the command line: options, SANs, times, usage, errors
 *   certs_make.c  keys and certificates (init-ca, issue)
 *   certs_file.c  reading inputs, writing key and certificate atomically
 *   certs_show.c  show
 */
#ifndef MTLSD_CERTS_CERTS_INT_H
#define MTLSD_CERTS_CERTS_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include <mbedtls/x509.h>

#include "tls/tls_x509.h"	/* tls_x509_time, tls_x509_parse_len */

#define CERTS_MAX_SANS	64
#define CERTS_NAME_MAX	64	/* bytes; RFC 5280's upper bound for a CN */
#define CERTS_DAYS_MAX	36500

enum certs_san_kind { CERTS_SAN_DNS, CERTS_SAN_IP, CERTS_SAN_URI };

/* One subjectAltName entry.  dns and uri point into argv; ip holds the
 * address in network order (4 or 16 bytes) and p points at it. */
struct certs_san {
	enum certs_san_kind kind;
	const char *p;
	size_t len;
	unsigned char ip[16];
};

/* A checked command line.  Strings are borrowed from argv. */
struct certs_opts {
	const char *dir;
	const char *name;		/* init-ca: the CA's CN; issue: CN and file name */
	struct certs_san sans[CERTS_MAX_SANS];
	size_t nsans;
	bool san_given;			/* --san was on the command line */
	int days;			/* 1..CERTS_DAYS_MAX, default filled in */
	time_t not_before;		/* now - 5 min unless --not-before */
	bool force;			/* replace existing files */
};

/*
 * Error lines on stderr: "mtlsd certs: " and the message, then
 * ": strerror(errno)" (certs_warn), ": mbedTLS's text for ret" (certs_warn_tls)
 * or nothing (certs_warnx).
 */
void certs_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void certs_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void certs_warn_tls(int ret, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Whether p[0..len) is a DNS host name (RFC 1123 labels, last label not all
 * digits); with wildcard, a leading "*." label is accepted too. */
bool certs_dns_name_ok(const char *p, size_t len, bool wildcard);

/* Writes t as "YYYY-MM-DD HH:MM:SSZ" into buf (at least 32 bytes); returns buf. */
const char *certs_fmt_time(char *buf, size_t len, time_t t);

/* certs_make.c.  Each returns 0, or -1 after printing why. */
int certs_init_ca(const struct certs_opts *o);
int certs_issue(const struct certs_opts *o);

/* certs_show.c: prints every certificate in file (PEM bundle or one DER).
 * Returns 0, or -1 after printing why. */
int certs_show(const char *file);

/* certs_file.c */

/* Joins dir, "/" (unless dir ends in one) and file into buf.  Returns 0, or
 * -1 after printing that the path is too long. */
int certs_path(char *buf, size_t len, const char *dir, const char *file);

/* Creates dir and any missing parents, mode 0755.  Returns 0 or -1. */
int certs_mkdirs(const char *dir);

/*
 * Reads the regular file path (at most max bytes) into a new buffer with a
 * NUL after the last byte: *data (free with certs_read_free) and *len (not
 * counting the NUL).  Returns 0, or -1 after printing why.
 */
int certs_read(const char *path, size_t max, unsigned char **data, size_t *len);

/* Zeroes and frees what certs_read returned; NULL is a no-op. */
void certs_read_free(unsigned char *data, size_t len);

/* Returns 0 if path does not exist, or -1 after printing that it does (and
 * that --force replaces it) or why it cannot be checked. */
int certs_check_absent(const char *path);

/*
 * Writes dir/base.key (0600) then dir/base.crt (0644), each atomically
 * through a temporary file in dir.  Without force an existing file is never
 * replaced, even one created while we run; if the certificate cannot be put
 * in place, the new key is removed again.  Prints one "wrote" line per file.
 * Returns 0, or -1 after printing why.  The buffers stay the caller's.
 */
int certs_write_pair(const char *dir, const char *base,
    const unsigned char *key, size_t keylen,
    const unsigned char *crt, size_t crtlen, bool force);

#endif /* MTLSD_CERTS_CERTS_INT_H */
