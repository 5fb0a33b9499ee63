/*
 * certs.h: the `mtlsd certs` command: a private CA and node certificates,
 * made with mbedTLS.
 *
 *   mtlsd certs init-ca --dir DIR [--name NAME] [--days N] [--not-before WHEN] [--force]
 *   mtlsd certs issue --dir DIR --name NAME [--san dns:X,ip:Y,uri:Z] [--days N]
 *                     [--not-before WHEN] [--force]
 *   mtlsd certs show FILE
 *
 * Keys are ECDSA P-256, signatures ECDSA-SHA256.  One issued certificate
 * serves as both TLS client and TLS server.  Files are written atomically and
 * never replaced without --force.
 *
 * show prints, per certificate (a blank line between them), lines scripts
 * may rely on: "subject: ", "issuer: ", "serial: " (hex), "san: " (dns:X,
 * ip:Y,uri:Z comma-separated, or "none"), "not_before: " and "not_after: "
 * ("YYYY-MM-DD HH:MM:SSZ"), "days_left: N" (negative once expired),
 * "status: valid|expired|not yet valid", "validity: " (the same in words),
 * "ca: yes|no", "key: EC P-256" (or "RSA 2048", ...).
 */
#ifndef MTLSD_CERTS_CERTS_H
#define MTLSD_CERTS_CERTS_H

/*
 * Runs "mtlsd certs ..." (argv[0] is "certs"); returns the process exit
 * status: 0 ok, 1 failure, 2 usage error.  Writes results to stdout and one
 * "mtlsd certs: <what>: <why>" line per error to stderr.  argv is not
 * modified, and the call keeps no state, so it may be run more than once in
 * one process.
 */
int certs_main(int argc, char **argv);

#endif /* MTLSD_CERTS_CERTS_H */
