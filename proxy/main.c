/*
 * main.c: mtlsd's command line.
 *
 *   mtlsd run -c FILE        run in the foreground, log to stderr
 *   mtlsd check -c FILE      validate config, certificates and keys
 *   mtlsd nft -c FILE        print the node's nftables rules
 *   mtlsd certs ...          make a CA and node certificates
 *   mtlsd version            (-V, --version) versions of mtlsd and its libraries
 */
#include <stdio.h>
#include <string.h>

#include "certs/certs.h"
#include "proxy/check.h"
#include "proxy/daemon.h"
#include "proxy/nft.h"
#include "proxy/version.h"

static int
usage(FILE *f)
{
	fprintf(f,
	    "usage: mtlsd run -c FILE        run in the foreground\n"
	    "       mtlsd check -c FILE      validate config, certificates, keys\n"
	    "       mtlsd nft -c FILE        print this node's nftables rules\n"
	    "       mtlsd certs init-ca --dir DIR [--name NAME] [--days N]\n"
	    "       mtlsd certs issue --dir DIR --name NAME [--san dns:X,ip:Y,uri:Z] [--days N]\n"
	    "       mtlsd certs show FILE\n"
	    "       mtlsd version            (also -V, --version)\n");
	return f == stderr ? 2 : 0;
}

/* Finds "-c FILE" (or --config FILE) after the command word. */
static const char *
config_arg(int argc, char **argv)
{
	if (argc == 3 && (strcmp(argv[1], "-c") == 0 ||
	    strcmp(argv[1], "--config") == 0))
		return argv[2];
	return NULL;
}

int
main(int argc, char **argv)
{
	const char *cfg;

	if (argc < 2)
		return usage(stderr);
	if (strcmp(argv[1], "run") == 0 || strcmp(argv[1], "check") == 0) {
		if ((cfg = config_arg(argc - 1, argv + 1)) == NULL)
			return usage(stderr);
		return argv[1][0] == 'r' ? daemon_run(cfg) : check_run(cfg);
	}
	if (strcmp(argv[1], "nft") == 0) {
		if ((cfg = config_arg(argc - 1, argv + 1)) == NULL)
			return usage(stderr);
		return nft_run(cfg);
	}
	if (strcmp(argv[1], "certs") == 0)
		return certs_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0 ||
	    strcmp(argv[1], "-V") == 0)
		return version_print(stdout);
	if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "--help") == 0)
		return usage(stdout);
	fprintf(stderr, "mtlsd: unknown command '%s'\n", argv[1]);
	return usage(stderr);
}
