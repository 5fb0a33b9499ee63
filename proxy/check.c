/*
 * check.c: "mtlsd check": everything "run" validates before it binds, and
 * nothing more: no sockets are opened, so it is safe beside a running daemon.
 */
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "proxy/check.h"
#include "proxy/daemon.h"
#include "proxy/fdbudget.h"

/* A route certificate near its end is worth a warning (exit status stays
 * 0); an expired one was refused when its material was loaded. */
#define EXPIRY_WARN_DAYS 7

static void
warn_expiry(const struct config *cfg, struct tls_material **m)
{
	time_t now = time(NULL);

	for (size_t i = 0; i < cfg->nroutes; i++) {
		const struct route_config *rc = &cfg->routes[i];
		time_t end = tls_material_not_after(m[i]);
		char when[32];

		if (end == 0 || end - now >= EXPIRY_WARN_DAYS * 86400)
			continue;
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%SZ", gmtime(&end));
		fprintf(stderr, "%s:%d: warning: cert: [%s]'s certificate expires in "
		    "%ld day(s), on %s\n", cfg->path, rc->line[RK_CERT], rc->name,
		    (long)((end - now) / 86400), when);
	}
}

/* Transparent routes on other nodes check the address they dialed against
 * the certificate of the route that ends their tunnels here. */
static void
warn_tunnel_names(const struct config *cfg, struct tls_material **m)
{
	for (size_t i = 0; i < cfg->nroutes; i++) {
		const struct route_config *rc = &cfg->routes[i];

		if (rc->mode != MODE_SERVER || !rc->connect_original ||
		    tls_material_ip_sans(m[i]) > 0)
			continue;
		fprintf(stderr, "%s:%d: warning: cert: [%s]'s certificate has no "
		    "ip: SAN; transparent routes check the address they dialed "
		    "against it, so theirs will fail unless they set server_name\n",
		    cfg->path, rc->line[RK_CERT], rc->name);
	}
}

/* run raises the soft descriptor limit to the hard one: can every route's
 * max_connections be open at once under it? */
static void
warn_fd_budget(const struct config *cfg)
{
	struct rlimit rl;
	long needed = fd_budget_needed(cfg);

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1 || rl.rlim_max == RLIM_INFINITY ||
	    needed <= (long)rl.rlim_max)
		return;
	fprintf(stderr, "%s: warning: max_connections: the routes may hold %ld "
	    "descriptors at once, the limit here is %llu; past it new connections "
	    "are turned away (raise LimitNOFILE= or lower max_connections)\n",
	    cfg->path, needed, (unsigned long long)rl.rlim_max);
}

/* mtlsd nft derives the redirect from each transparent route's peer
 * networks. */
static void
warn_redirect(const struct config *cfg)
{
	for (size_t i = 0; i < cfg->nroutes; i++) {
		const struct route_config *rc = &cfg->routes[i];

		if (rc->mode == MODE_TRANSPARENT && rc->n_redirect == 0)
			fprintf(stderr, "%s:%d: warning: [%s] has no redirect = (the "
			    "peer networks): 'mtlsd nft' cannot make its rules\n",
			    cfg->path, rc->section_line, rc->name);
	}
}

/* The sandbox lets a reload read only the directories known at start: a
 * TLS file that is a symlink out of its directory works now, but a
 * rotation that re-points it at a third directory would fail. */
static void
warn_sandbox_links(const struct config *cfg)
{
	static const enum route_key keys[] = { RK_CERT, RK_KEY, RK_CA, RK_CRL,
	    RK_KEY_PASSWORD_FILE };

	if (!cfg->sandbox)
		return;
	for (size_t i = 0; i < cfg->nroutes; i++) {
		const struct route_config *rc = &cfg->routes[i];
		const char *files[] = { rc->cert, rc->key, rc->ca, rc->crl,
		    rc->key_password_file };
		for (size_t f = 0; f < sizeof(files) / sizeof(files[0]); f++) {
			char link[PATH_MAX], real[PATH_MAX], rdir[PATH_MAX];
			const char *ldir;
			size_t n;

			if (files[f] == NULL || realpath(files[f], real) == NULL)
				continue;
			snprintf(link, sizeof(link), "%s", files[f]);
			ldir = dirname(link);
			snprintf(rdir, sizeof(rdir), "%s", real);
			n = strlen(ldir);
			if (strncmp(dirname(rdir), ldir, n) == 0 &&
			    (rdir[n] == '\0' || rdir[n] == '/'))
				continue;
			fprintf(stderr, "%s:%d: warning: %s: '%s' leads to '%s', "
			    "outside its directory; the sandbox lets reloads read "
			    "only the directories known at start, so a rotation "
			    "that points it at another directory will fail until "
			    "mtlsd restarts\n", cfg->path, rc->line[keys[f]],
			    config_key_name(keys[f]), files[f], real);
		}
	}
}

/* ktls still works, as record_layer's old name. */
static void
warn_deprecated(const struct config *cfg)
{
	for (size_t i = 0; i < cfg->nroutes; i++) {
		const struct route_config *rc = &cfg->routes[i];

		if (rc->line[RK_KTLS] != 0)
			fprintf(stderr, "%s:%d: warning: ktls: deprecated; [%s] "
			    "takes it as record_layer = %s\n", cfg->path,
			    rc->line[RK_KTLS], rc->name,
			    config_record_layer_name(rc->record_layer));
	}
}

int
check_run(const char *config_path)
{
	struct config *cfg;
	struct tls_material **m;
	int rc = 1;

	if ((cfg = config_load(config_path, stderr)) == NULL)
		return 1;
	if (tls_global_init() == -1) {
		fprintf(stderr, "%s: cannot initialize PSA crypto\n", config_path);
		goto out;
	}
	if ((m = calloc(cfg->nroutes, sizeof(*m))) == NULL) {
		fprintf(stderr, "%s: out of memory\n", config_path);
		goto out;
	}
	if (daemon_load_materials(cfg, m, stderr) == 0) {
		warn_expiry(cfg, m);
		warn_tunnel_names(cfg, m);
		warn_deprecated(cfg);
		warn_fd_budget(cfg);
		warn_redirect(cfg);
		warn_sandbox_links(cfg);
		printf("%s: OK (%zu route%s)\n", config_path, cfg->nroutes,
		    cfg->nroutes == 1 ? "" : "s");
		rc = 0;
	}
	for (size_t i = 0; i < cfg->nroutes; i++)
		tls_material_unref(m[i]);
	free(m);
out:
	config_free(cfg);
	return rc;
}
