/*
 * tls_x509.h: X.509 helpers that tls/ and certs/ share.  Both include
 * mbedTLS (DESIGN: only they do), so this header exposes its types;
 * proxy/ and config/ never include it.
 */
#ifndef MTLSD_TLS_TLS_X509_H
#define MTLSD_TLS_TLS_X509_H

#include <stddef.h>
#include <time.h>

#include <mbedtls/x509.h>

/* An X.509 time (always UTC) as seconds since the epoch. */
time_t tls_x509_time(const mbedtls_x509_time *t);

/*
 * The length to hand mbedTLS's parsers for len bytes at data, which must
 * be followed by a NUL: PEM wants the NUL counted (len + 1), DER must not
 * see it (len).
 */
size_t tls_x509_parse_len(const unsigned char *data, size_t len);

#endif /* MTLSD_TLS_TLS_X509_H */
