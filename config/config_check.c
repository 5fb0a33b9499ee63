/*
 * config_check.c: route defaults, inheritance from [global], and the checks
 * that need the whole file (missing keys, keys that do not fit the mode,
 * clashing listen addresses, unreadable files).
 */
#include <errno.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config/config.h"
#include "config/config_int.h"

void
route_init_defaults(struct route_config *r)
{
	memset(r, 0, sizeof(*r));
	r->mode = MODE_SERVER;
	r->tls_min_version = 13;
	r->client_auth = CLIENT_AUTH_REQUIRE;
	r->handshake_timeout_ms = CONFIG_DEFAULT_HANDSHAKE_TIMEOUT_MS;
	r->idle_timeout_ms = CONFIG_DEFAULT_IDLE_TIMEOUT_MS;
	r->connect_timeout_ms = CONFIG_DEFAULT_CONNECT_TIMEOUT_MS;
	r->max_connections = CONFIG_DEFAULT_MAX_CONNECTIONS;
	r->ktls = KTLS_AUTO;
	r->record_layer = RECORD_LAYER_AUTO;
	r->key_update_records = CONFIG_DEFAULT_KEY_UPDATE_RECORDS;
	r->crl_stale = CRL_STALE_WARN;
	r->reauthorize = REAUTH_CLOSE;
	r->send_proxy = PROXY_NONE;
	r->buffer_size = CONFIG_DEFAULT_BUFFER_SIZE;
	r->session_resumption = true;
}

void
route_free_fields(struct route_config *r)
{
	free(r->cert);
	free(r->key);
	free(r->ca);
	free(r->crl);
	free(r->key_password_file);
	free(r->server_name);
	free(r->allow_peers);
	free(r->expect_peers);
	free(r->allow_cidr);
	free(r->deny_cidr);
	free(r->allow_ports);
	free(r->redirect);
	memset(r, 0, sizeof(*r));
}

static char **
path_field(struct route_config *r, enum route_key k)
{
	switch (k) {
	case RK_CERT: return &r->cert;
	case RK_KEY: return &r->key;
	case RK_CA: return &r->ca;
	case RK_CRL: return &r->crl;
	case RK_KEY_PASSWORD_FILE: return &r->key_password_file;
	default: return NULL;
	}
}

/* Copies key k from [global]'s defaults d into route r. */
static int
inherit(struct route_config *r, const struct route_config *d, enum route_key k)
{
	char **dst = path_field(r, k);

	if (dst != NULL) {
		const char *src = *path_field((struct route_config *)d, k);
		if (src != NULL && (*dst = strdup(src)) == NULL)
			return -1;
	}
	switch (k) {
	case RK_INSECURE_KEY_PERMISSIONS:
		r->insecure_key_permissions = d->insecure_key_permissions; break;
	case RK_TLS_MIN_VERSION: r->tls_min_version = d->tls_min_version; break;
	case RK_HANDSHAKE_TIMEOUT: r->handshake_timeout_ms = d->handshake_timeout_ms; break;
	case RK_IDLE_TIMEOUT: r->idle_timeout_ms = d->idle_timeout_ms; break;
	case RK_CONNECT_TIMEOUT: r->connect_timeout_ms = d->connect_timeout_ms; break;
	case RK_MAX_CONNECTIONS: r->max_connections = d->max_connections; break;
	case RK_KTLS: r->ktls = d->ktls; break;
	case RK_RECORD_LAYER: r->record_layer = d->record_layer; break;
	case RK_KEY_UPDATE_RECORDS: r->key_update_records = d->key_update_records; break;
	case RK_CRL_STALE: r->crl_stale = d->crl_stale; break;
	case RK_REAUTHORIZE: r->reauthorize = d->reauthorize; break;
	case RK_BUFFER_SIZE: r->buffer_size = d->buffer_size; break;
	case RK_BACKLOG: r->backlog = d->backlog; break;
	case RK_SESSION_RESUMPTION: r->session_resumption = d->session_resumption; break;
	default: break;
	}
	r->line[k] = d->line[k];
	return 0;
}

static void
check_readable(struct loader *L, struct route_config *r, enum route_key k)
{
	const char *path = *path_field(r, k);

	if (path != NULL && access(path, R_OK) == -1)
		loader_error(L, r->line[k], "%s: cannot read '%s': %s",
		    config_key_name(k), path, strerror(errno));
}

/* A key that makes no sense for the route's mode is an error, not ignored. */
static void
refuse_key(struct loader *L, const struct route_config *r, enum route_key k,
    const char *why)
{
	if (r->line[k] != 0)
		loader_error(L, r->line[k], "[%s]: '%s' %s", r->name,
		    config_key_name(k), why);
}

static void
require_key(struct loader *L, const struct route_config *r, enum route_key k,
    const char *why)
{
	if (r->line[k] == 0)
		loader_error(L, r->section_line, "[%s]: missing '%s'%s", r->name,
		    config_key_name(k), why);
}

static bool
is_wildcard(const char *host)
{
	return strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0;
}

/* Whether two listen addresses would compete for the same socket. */
static bool
addr_clash(const struct addr *a, const struct addr *b)
{
	if (a->kind != b->kind)
		return false;
	if (a->kind == ADDR_UNIX)
		return strcmp(a->path, b->path) == 0;
	if (a->port != b->port)
		return false;
	return strcasecmp(a->host, b->host) == 0 || is_wildcard(a->host) ||
	    is_wildcard(b->host);
}

/* A transparent route: where nftables redirects, and its peers' port. */
static void
check_transparent(struct loader *L, const struct route_config *r)
{
	if (r->line[RK_CONNECT] != 0 && (!r->connect_original || r->connect.port == 0))
		loader_error(L, r->line[RK_CONNECT], "[%s]: a transparent route "
		    "connects to original:PORT, PORT being the peers' mtlsd "
		    "server route", r->name);
	if (r->line[RK_LISTEN] != 0 && r->listen.kind == ADDR_UNIX)
		loader_error(L, r->line[RK_LISTEN], "[%s]: a transparent route "
		    "listens on TCP, where nftables redirects connections", r->name);
	/* nftables redirects IPv4 to 127.0.0.1 and IPv6 to ::1: each prefix
	 * needs the route to listen in its family. */
	for (size_t i = 0; r->line[RK_LISTEN] != 0 && r->listen.kind != ADDR_UNIX &&
	    i < r->n_redirect; i++) {
		bool v6 = r->redirect[i].family == AF_INET6;
		bool listen6 = strchr(r->listen.host, ':') != NULL;
		char pfx[64];
		if (v6 == listen6)
			continue;
		cidr_format(&r->redirect[i], pfx, sizeof(pfx));
		loader_error(L, r->line[RK_REDIRECT], "[%s]: redirect %s is %s, but "
		    "the route listens on %s: nftables redirects %s connections to "
		    "%s, so give that family its own transparent route", r->name, pfx,
		    v6 ? "IPv6" : "IPv4", r->listen.text, v6 ? "IPv6" : "IPv4",
		    v6 ? "[::1]" : "127.0.0.1");
	}
}

/* ktls is record_layer's old name: on = kernel, off = libgcrypt (user
 * space, which is mtlsd's own layer now).  One of the two, not both. */
static void
check_record_layer(struct loader *L, struct route_config *r)
{
	static const enum record_layer from_ktls[] = {
		[KTLS_AUTO] = RECORD_LAYER_AUTO, [KTLS_ON] = RECORD_LAYER_KERNEL,
		[KTLS_OFF] = RECORD_LAYER_LIBGCRYPT,
	};

	if (r->line[RK_KTLS] == 0)
		return;
	if (r->line[RK_RECORD_LAYER] != 0) {
		loader_error(L, r->line[RK_KTLS] > r->line[RK_RECORD_LAYER] ?
		    r->line[RK_KTLS] : r->line[RK_RECORD_LAYER], "[%s]: set "
		    "record_layer only; ktls is its deprecated alias", r->name);
		return;
	}
	r->record_layer = from_ktls[r->ktls];
}

/* own[k]: the route set key k itself (not inherited from [global]). */
static void
check_route(struct loader *L, struct route_config *r, const bool *own)
{
	require_key(L, r, RK_MODE, " (server, client or transparent)");
	require_key(L, r, RK_LISTEN, "");
	require_key(L, r, RK_CONNECT, "");

	if (r->mode == MODE_SERVER) {
		require_key(L, r, RK_CERT, ": a server route presents a certificate");
		require_key(L, r, RK_KEY, ": a server route needs the certificate's key");
		if (r->client_auth != CLIENT_AUTH_NONE)
			require_key(L, r, RK_CA, ": it verifies client certificates "
			    "(or set client_auth = none)");
		if (r->client_auth == CLIENT_AUTH_NONE && r->n_allow_peers > 0)
			refuse_key(L, r, RK_ALLOW_PEERS, "needs client certificates; "
			    "it cannot be used with client_auth = none");
		refuse_key(L, r, RK_SERVER_NAME, "applies to client routes only");
		refuse_key(L, r, RK_REDIRECT, "applies to transparent routes only");
		refuse_key(L, r, RK_EXPECT_PEERS, "applies to client routes only "
		    "(server routes use allow_peers)");
		if (r->connect_original && r->connect.port != 0)
			loader_error(L, r->line[RK_CONNECT], "[%s]: connect = original "
			    "takes no port on a server route: each tunnel names its "
			    "own, within allow_ports", r->name);
		if (r->connect_original)
			require_key(L, r, RK_ALLOW_PORTS, ": connect = original "
			    "reaches the ports that peers name, so list the ones "
			    "they may reach");
		else
			refuse_key(L, r, RK_ALLOW_PORTS, "applies to connect = "
			    "original only");
	} else {
		require_key(L, r, RK_CA, ": a client route always verifies the server");
		if ((r->line[RK_CERT] == 0) != (r->line[RK_KEY] == 0))
			loader_error(L, r->section_line, "[%s]: 'cert' and 'key' go "
			    "together", r->name);
		refuse_key(L, r, RK_CLIENT_AUTH, "applies to server routes only");
		refuse_key(L, r, RK_ALLOW_PEERS, "applies to server routes only "
		    "(client routes use expect_peers)");
		refuse_key(L, r, RK_SEND_PROXY, "applies to server routes only");
		refuse_key(L, r, RK_ACCEPT_PROXY, "applies to server routes only");
		refuse_key(L, r, RK_ALLOW_PORTS, "applies to server routes only");
		if (r->mode == MODE_CLIENT && r->connect_original)
			loader_error(L, r->line[RK_CONNECT], "[%s]: connect = "
			    "original:PORT is for transparent routes", r->name);
		if (r->mode == MODE_CLIENT && r->server_name == NULL &&
		    r->line[RK_CONNECT] != 0 &&
		    r->connect.kind == ADDR_UNIX)
			loader_error(L, r->section_line, "[%s]: missing 'server_name': "
			    "connect is a unix socket, so there is no host name to "
			    "check the server's certificate against", r->name);
		if (r->mode == MODE_TRANSPARENT)
			check_transparent(L, r);
		else
			refuse_key(L, r, RK_REDIRECT, "applies to transparent routes only");
	}
	if (r->key_password_file != NULL && r->key == NULL)
		refuse_key(L, r, RK_KEY_PASSWORD_FILE, "needs 'key'");
	check_record_layer(L, r);

	/* Files the route set itself; inherited ones were checked once. */
	for (enum route_key k = RK_CERT; k <= RK_KEY_PASSWORD_FILE; k++)
		if (own[k])
			check_readable(L, r, k);
}

void
config_check(struct loader *L)
{
	struct config *cfg = L->cfg;
	struct route_config *d = &cfg->defaults;

	if (cfg->nroutes == 0 && L->nerr == 0) {
		fprintf(L->errs, "%s: no routes: add a section such as [name] with "
		    "mode, listen and connect\n", cfg->path);
		L->nerr++;
		return;
	}
	for (enum route_key k = RK_CERT; k <= RK_KEY_PASSWORD_FILE; k++)
		if (d->line[k] != 0)
			check_readable(L, d, k);
	if (cfg->user != NULL && getpwnam(cfg->user) == NULL)
		loader_error(L, cfg->global_line[GK_USER], "user: no such user '%s'",
		    cfg->user);

	for (size_t i = 0; i < cfg->nroutes; i++) {
		struct route_config *r = &cfg->routes[i];
		bool own[RK_COUNT];

		for (enum route_key k = 0; k < RK_COUNT; k++) {
			own[k] = r->line[k] != 0;
			if (r->line[k] == 0 && d->line[k] != 0 &&
			    inherit(r, d, k) == -1) {
				loader_error(L, r->section_line, "out of memory");
				return;
			}
		}
		check_route(L, r, own);
		for (size_t j = 0; j < i; j++) {
			const struct route_config *o = &cfg->routes[j];
			/* A listen that failed to parse was reported already. */
			if (r->listen.text[0] && o->listen.text[0] &&
			    addr_clash(&r->listen, &o->listen))
				loader_error(L, r->line[RK_LISTEN], "listen %s clashes "
				    "with route [%s] (line %d)", r->listen.text,
				    o->name, o->line[RK_LISTEN]);
		}
		if (cfg->admin_enabled && r->listen.text[0] &&
		    cfg->admin_listen.text[0] &&
		    addr_clash(&r->listen, &cfg->admin_listen))
			loader_error(L, r->line[RK_LISTEN], "listen %s clashes with "
			    "admin_listen (line %d)", r->listen.text,
			    cfg->global_line[GK_ADMIN_LISTEN]);
	}
}
