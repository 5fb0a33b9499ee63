/*
 * version.c: "mtlsd version", after haproxy -vv: enough to tell which build
 * of which libraries is running, for a bug report or a fleet inventory.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <event2/event.h>

#include "tls/tls.h"
#include "proxy/version.h"

/* Baked in by the Makefile: git describe of the tree built, and inih's
 * version from pkg-config (inih has no run-time call that says it). */
#ifndef MTLSD_COMMIT
#define MTLSD_COMMIT "unknown"
#endif
#ifndef MTLSD_INIH_VERSION
#define MTLSD_INIH_VERSION "unknown"
#endif

/* The kernel's list of TCP upper-layer protocols ("mptcp tls"), for the
 * record: the probe itself is tls_ktls_available()'s setsockopt, which is
 * what run relies on (and which loads the tls module where there is one). */
static void
available_ulps(char *buf, size_t len)
{
	FILE *f = fopen("/proc/sys/net/ipv4/tcp_available_ulp", "r");

	snprintf(buf, len, "unknown");
	if (f == NULL)
		return;
	if (fgets(buf, (int)len, f) == NULL)
		snprintf(buf, len, "unknown");
	buf[strcspn(buf, "\n")] = '\0';
	if (buf[0] == '\0')
		snprintf(buf, len, "none");
	fclose(f);
}

int
version_print(FILE *f)
{
	bool ktls = tls_ktls_available();
	char ulps[128];

	/* After the probe: it may have loaded the module and so listed it. */
	available_ulps(ulps, sizeof(ulps));
	fprintf(f, "mtlsd %s\n", MTLSD_VERSION);
	fprintf(f, "commit: %s\n", MTLSD_COMMIT);
	fprintf(f, "mbedtls: %s (built with %s)\n", tls_library_version(),
	    tls_library_built_version());
	fprintf(f, "libevent: %s (built with %s)\n", event_get_version(),
	    LIBEVENT_VERSION);
	fprintf(f, "inih: %s (at build time; inih has no run-time version)\n",
	    MTLSD_INIH_VERSION);
	fprintf(f, "libgcrypt: %s\n", tls_rec_library_version());
	fprintf(f, "ktls: %s (TCP_ULP \"tls\" %s; tcp_available_ulp: %s)\n",
	    ktls ? "yes" : "no", ktls ? "accepted" : "refused", ulps);
	return 0;
}
