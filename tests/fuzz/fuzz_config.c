/*
 * fuzz_config.c: any bytes as an mtlsd config file, through config_load().
 *
 * config_load() takes a path, so each input is written to one file in a
 * scratch directory made at start-up.  That directory also holds empty
 * ca.crt, node.crt, node.key and crl.pem, so a config naming them gets past
 * the readability checks into the cross-key checks.  Messages go to
 * /dev/null.  Checked: a failed load wrote at least one message, every one
 * "PATH:LINE: ..." (or "PATH: ..." for the file itself); a loaded config's
 * routes are found by name and their key names, modes and layers resolve.
 * MTLSD_FUZZ_VERBOSE=1 prints each input's messages (to check seeds).
 */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config.h"
#include "tests/fuzz/fuzz.h"
#include "tests/unit/pki.h"

static char dir[PATH_MAX];
static char path[PATH_MAX + 16];

static void
cleanup(void)
{
	(void)pki_rm(dir);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char *const files[] = { "ca.crt", "node.crt", "node.key", "crl.pem" };
	const char *tmp = getenv("TMPDIR");

	(void)argc;
	(void)argv;
	snprintf(dir, sizeof(dir), "%s/mtlsd-fuzz-config-XXXXXX",
	    tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
	FUZZ_SETUP(mkdtemp(dir) != NULL, "mkdtemp %s", dir);
	atexit(cleanup);
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char f[PATH_MAX + 32];
		int fd;
		snprintf(f, sizeof(f), "%s/%s", dir, files[i]);
		fd = open(f, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		FUZZ_SETUP(fd != -1, "create %s", f);
		close(fd);
	}
	snprintf(path, sizeof(path), "%s/mtlsd.conf", dir);
	return 0;
}

/* Every message line starts with the path and a ':'. */
static void
check_messages(const char *msgs, size_t len)
{
	size_t plen = strlen(path);
	const char *p = msgs, *end = msgs + len;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		FUZZ_CHECK(nl != NULL, "message not ending in a newline: %.*s",
		    (int)(end - p), p);
		FUZZ_CHECK((size_t)(nl - p) > plen && memcmp(p, path, plen) == 0 &&
		    p[plen] == ':', "message without its file: %.*s", (int)(nl - p), p);
		p = nl + 1;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *msgs = NULL;
	size_t mlen = 0;
	FILE *f = fopen(path, "w"), *errs;
	struct config *cfg;

	FUZZ_SETUP(f != NULL, "cannot write %s", path);
	FUZZ_SETUP(size == 0 || fwrite(data, 1, size, f) == size, "short write");
	FUZZ_SETUP(fclose(f) == 0, "close %s", path);
	errs = open_memstream(&msgs, &mlen);
	FUZZ_SETUP(errs != NULL, "open_memstream");

	cfg = config_load(path, errs);
	fclose(errs);
	if (getenv("MTLSD_FUZZ_VERBOSE") != NULL)
		fprintf(stderr, "%.*s%s\n", (int)mlen, msgs, cfg != NULL ? "loaded" :
		    "refused");
	check_messages(msgs, mlen);
	if (cfg == NULL) {
		FUZZ_CHECK(mlen > 0, "config_load failed without a message");
	} else {
		FUZZ_CHECK(cfg->nroutes == 0 || cfg->routes != NULL, "routes missing");
		for (size_t i = 0; i < cfg->nroutes; i++) {
			const struct route_config *r = &cfg->routes[i];
			FUZZ_CHECK(config_route(cfg, r->name) == r, "route [%s] not found "
			    "by its name", r->name);
			FUZZ_CHECK(config_mode_name(r->mode) != NULL &&
			    strcmp(config_record_layer_name(r->record_layer), "?") != 0,
			    "route [%s]: bad mode or record layer", r->name);
			FUZZ_CHECK(r->n_allow_peers == 0 || r->allow_peers != NULL, "peers");
			FUZZ_CHECK(r->n_allow_cidr == 0 || r->allow_cidr != NULL, "cidrs");
			FUZZ_CHECK(r->n_allow_ports == 0 || r->allow_ports != NULL, "ports");
		}
		for (int k = 0; k < RK_COUNT; k++)
			FUZZ_CHECK(strcmp(config_key_name((enum route_key)k), "?") != 0,
			    "route key %d has no name", k);
		FUZZ_CHECK(config_route(cfg, "no such route, ever") == NULL, "lookup");
		config_free(cfg);
	}
	free(msgs);
	return 0;
}
