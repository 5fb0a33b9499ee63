/*
 * check.c: "mtlsd check": everything "run" validates before it binds, and
 * nothing more: no sockets are opened, so it is safe beside a running daemon.
 */
#include <stdio.h>
#include <stdlib.h>

#include "proxy/check.h"
#include "proxy/daemon.h"

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
