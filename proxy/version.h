/*
 * version.h: "mtlsd version": what was built, from what, and what this
 * kernel offers.
 */
#ifndef MTLSD_PROXY_VERSION_H
#define MTLSD_PROXY_VERSION_H

#include <stdio.h>

/* The release; the Debian package's version (scripts/deb/changelog) is this. */
#define MTLSD_VERSION "0.1.0"

/*
 * Prints to f, one "name: value" line each after the first ("mtlsd 0.1.0"):
 * the git commit baked in at build time, the run-time versions of mbedTLS,
 * libevent and libgcrypt (and those built against where the headers tell),
 * inih's version at build time, and whether the kernel offers kernel TLS.
 * Returns 0.
 */
int version_print(FILE *f);

#endif /* MTLSD_PROXY_VERSION_H */
