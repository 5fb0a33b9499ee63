/*
 * check.c: "mtlsd check": everything "run" validates before it serves, and
 * what its reloads will need as the user it becomes.  No port is taken
 * (addresses are tried on port 0), so it is safe beside a running daemon.
 */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "proxy/check.h"
#include "proxy/check_access.h"
#include "proxy/daemon.h"
#include "proxy/fdbudget.h"
#include "proxy/sock.h"

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

/* A unix listener: run creates the socket file (removing a stale one)
 * before privileges go, so as this user. */
static int
check_unix_listen(const struct config *cfg, const struct addr *a, int line,
    const char *pfx)
{
	char copy[sizeof(a->path)];
	const char *dir;
	struct stat st;

	if (lstat(a->path, &st) == 0 && !S_ISSOCK(st.st_mode)) {
		fprintf(stderr, "%s:%d: %slisten %s: the path exists and is not "
		    "a socket\n", cfg->path, line, pfx, a->text);
		return -1;
	}
	snprintf(copy, sizeof(copy), "%s", a->path);
	dir = dirname(copy);
	if (access(dir, W_OK | X_OK) == -1) {
		fprintf(stderr, "%s:%d: %slisten %s: cannot create the socket in "
		    "'%s': %s\n", cfg->path, line, pfx, a->text, dir, strerror(errno));
		return -1;
	}
	return 0;
}

/* run binds every listen address before it serves: a name that does not
 * resolve, or an address no interface here has, stops it.  Binding port 0
 * tries the address without taking the port a live daemon may hold.
 * Messages read as run's: "listen ADDR: why", after pfx. */
static int
check_listen(const struct config *cfg, const struct addr *a, int line,
    const char *pfx)
{
	struct sockname sn;
	char err[512];
	int fd;

	if (a->text[0] == '\0')
		return 0;
	if (a->kind == ADDR_UNIX)
		return check_unix_listen(cfg, a, line, pfx);
	if (sock_resolve(a, true, &sn, err, sizeof(err)) == -1) {
		fprintf(stderr, "%s:%d: %slisten %s\n", cfg->path, line, pfx, err);
		return -1;
	}
	if (sn.ss.ss_family == AF_INET)
		((struct sockaddr_in *)&sn.ss)->sin_port = 0;
	else if (sn.ss.ss_family == AF_INET6)
		((struct sockaddr_in6 *)&sn.ss)->sin6_port = 0;
	if ((fd = socket(sn.ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    bind(fd, (const struct sockaddr *)&sn.ss, sn.len) == -1) {
		int e = errno;
		fprintf(stderr, "%s:%d: %slisten %s: %s%s\n", cfg->path, line, pfx,
		    a->text, strerror(e), e == EADDRNOTAVAIL ?
		    " (no interface of this host has that address)" : "");
		if (fd != -1)
			close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

static int
check_listens(const struct config *cfg)
{
	int failed = 0;

	for (size_t i = 0; i < cfg->nroutes; i++)
		failed |= check_listen(cfg, &cfg->routes[i].listen,
		    cfg->routes[i].line[RK_LISTEN], "") == -1;
	if (cfg->admin_enabled)
		failed |= check_listen(cfg, &cfg->admin_listen,
		    cfg->global_line[GK_ADMIN_LISTEN], "admin_listen: ") == -1;
	return failed ? -1 : 0;
}

/* Upstream names are looked up for each connection, so one that does not
 * resolve is no reason to refuse the start; it is worth saying, though. */
static void
warn_connect_names(const struct config *cfg)
{
	for (size_t i = 0; i < cfg->nroutes; i++) {
		const struct route_config *rc = &cfg->routes[i];
		struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res = NULL;
		int e;

		if (rc->connect_original || rc->connect.kind != ADDR_INET ||
		    rc->connect.text[0] == '\0' || addr_is_literal(&rc->connect))
			continue;
		if ((e = getaddrinfo(rc->connect.host, NULL, &hints, &res)) == 0) {
			freeaddrinfo(res);
			continue;
		}
		fprintf(stderr, "%s:%d: warning: connect %s: the name does not "
		    "resolve now (%s); it is looked up for each connection, which "
		    "fails until it does\n", cfg->path, rc->line[RK_CONNECT],
		    rc->connect.text, gai_strerror(e));
	}
}

/* run opens the audit log before privileges go, creating it (0640). */
static int
check_audit_log(const struct config *cfg)
{
	const char *path = cfg->audit_log;
	int line = cfg->global_line[GK_AUDIT_LOG];
	char copy[PATH_MAX];
	const char *dir;
	struct stat st;

	if (path == NULL || strcmp(path, "-") == 0)
		return 0;
	if (stat(path, &st) == 0) {
		/* A FIFO is not opened here: its reader would see this
		 * writer come and go. */
		if (S_ISDIR(st.st_mode) || (!S_ISFIFO(st.st_mode) &&
		    access(path, W_OK) == -1)) {
			fprintf(stderr, "%s:%d: audit_log: cannot open '%s': %s\n",
			    cfg->path, line, path, S_ISDIR(st.st_mode) ?
			    strerror(EISDIR) : strerror(errno));
			return -1;
		}
		return 0;
	}
	if (errno != ENOENT) {
		fprintf(stderr, "%s:%d: audit_log: cannot open '%s': %s\n",
		    cfg->path, line, path, strerror(errno));
		return -1;
	}
	snprintf(copy, sizeof(copy), "%s", path);
	dir = dirname(copy);
	if (access(dir, W_OK | X_OK) == -1) {
		fprintf(stderr, "%s:%d: audit_log: cannot create '%s' in '%s': %s\n",
		    cfg->path, line, path, dir, strerror(errno));
		return -1;
	}
	return 0;
}

/* record_layer = kernel (ktls = on) insists on kTLS: run refuses to start
 * where the kernel has no tls ULP. */
static int
check_kernel_tls(const struct config *cfg)
{
	int failed = 0;

	for (size_t i = 0; i < cfg->nroutes; i++) {
		const struct route_config *rc = &cfg->routes[i];
		bool old = rc->line[RK_KTLS] != 0;

		if (rc->record_layer != RECORD_LAYER_KERNEL || tls_ktls_available())
			continue;
		fprintf(stderr, "%s:%d: %s: [%s]: %s, but this kernel offers no tls "
		    "ULP (try 'modprobe tls', or set record_layer = auto)\n",
		    cfg->path, old ? rc->line[RK_KTLS] : rc->line[RK_RECORD_LAYER],
		    old ? "ktls" : "record_layer", rc->name,
		    old ? "ktls = on" : "record_layer = kernel");
		failed = 1;
	}
	return failed ? -1 : 0;
}

int
check_run(const char *config_path)
{
	struct config *cfg;
	struct tls_material **m;
	int rc = 1;
	bool loaded, failed;

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
	/* Each reports every problem it finds; all of them run. */
	loaded = daemon_load_materials(cfg, m, stderr) == 0;
	failed = !loaded;
	failed |= check_kernel_tls(cfg) == -1;
	failed |= check_listens(cfg) == -1;
	failed |= check_audit_log(cfg) == -1;
	/* What does not load here would only fail again as the user. */
	if (loaded)
		failed |= check_access_as_user(cfg, stderr) == -1;
	if (!failed) {
		warn_expiry(cfg, m);
		warn_tunnel_names(cfg, m);
		warn_deprecated(cfg);
		warn_fd_budget(cfg);
		warn_redirect(cfg);
		warn_sandbox_links(cfg);
		warn_connect_names(cfg);
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
