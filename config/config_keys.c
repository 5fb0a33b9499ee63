/*
 * config_keys.c: the key table and the parsing of each key's value.
 *
 * Which keys exist, where each may be set ([global], routes or both), and
 * how its value is read into struct config.  config.c's reader calls in here
 * for every key line; cross-key checks are in config_check.c.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config/config.h"
#include "config/config_int.h"

static const struct key_def keys[] = {
	{ "workers",		SCOPE_GLOBAL, GK_WORKERS, false },
	{ "log_level",		SCOPE_GLOBAL, GK_LOG_LEVEL, false },
	{ "audit_log",		SCOPE_GLOBAL, GK_AUDIT_LOG, false },
	{ "admin_listen",	SCOPE_GLOBAL, GK_ADMIN_LISTEN, false },
	{ "user",		SCOPE_GLOBAL, GK_USER, false },
	{ "drain_timeout",	SCOPE_GLOBAL, GK_DRAIN_TIMEOUT, false },
	{ "drain_grace",	SCOPE_GLOBAL, GK_DRAIN_GRACE, false },
	{ "metrics_peer_limit",	SCOPE_GLOBAL, GK_METRICS_PEER_LIMIT, false },
	{ "readyz_upstream",	SCOPE_GLOBAL, GK_READYZ_UPSTREAM, false },
	{ "allow_inbound",	SCOPE_GLOBAL, GK_ALLOW_INBOUND, true },
	{ "sandbox",		SCOPE_GLOBAL, GK_SANDBOX, false },
	{ "mode",		SCOPE_ROUTE, RK_MODE, false },
	{ "listen",		SCOPE_ROUTE, RK_LISTEN, false },
	{ "connect",		SCOPE_ROUTE, RK_CONNECT, false },
	{ "cert",		SCOPE_BOTH, RK_CERT, false },
	{ "key",		SCOPE_BOTH, RK_KEY, false },
	{ "ca",			SCOPE_BOTH, RK_CA, false },
	{ "crl",		SCOPE_BOTH, RK_CRL, false },
	{ "key_password_file",	SCOPE_BOTH, RK_KEY_PASSWORD_FILE, false },
	{ "insecure_key_permissions", SCOPE_BOTH, RK_INSECURE_KEY_PERMISSIONS, false },
	{ "tls_min_version",	SCOPE_BOTH, RK_TLS_MIN_VERSION, false },
	{ "client_auth",	SCOPE_ROUTE, RK_CLIENT_AUTH, false },
	{ "allow_peers",	SCOPE_ROUTE, RK_ALLOW_PEERS, true },
	{ "expect_peers",	SCOPE_ROUTE, RK_EXPECT_PEERS, true },
	{ "server_name",	SCOPE_ROUTE, RK_SERVER_NAME, false },
	{ "allow_cidr",		SCOPE_ROUTE, RK_ALLOW_CIDR, true },
	{ "deny_cidr",		SCOPE_ROUTE, RK_DENY_CIDR, true },
	{ "handshake_timeout",	SCOPE_BOTH, RK_HANDSHAKE_TIMEOUT, false },
	{ "idle_timeout",	SCOPE_BOTH, RK_IDLE_TIMEOUT, false },
	{ "connect_timeout",	SCOPE_BOTH, RK_CONNECT_TIMEOUT, false },
	{ "max_connections",	SCOPE_BOTH, RK_MAX_CONNECTIONS, false },
	{ "ktls",		SCOPE_BOTH, RK_KTLS, false },
	{ "crl_stale",		SCOPE_BOTH, RK_CRL_STALE, false },
	{ "reauthorize",	SCOPE_BOTH, RK_REAUTHORIZE, false },
	{ "send_proxy",		SCOPE_ROUTE, RK_SEND_PROXY, false },
	{ "accept_proxy",	SCOPE_ROUTE, RK_ACCEPT_PROXY, false },
	{ "buffer_size",	SCOPE_BOTH, RK_BUFFER_SIZE, false },
	{ "session_resumption",	SCOPE_BOTH, RK_SESSION_RESUMPTION, false },
	{ "allow_ports",	SCOPE_ROUTE, RK_ALLOW_PORTS, true },
	{ "record_layer",	SCOPE_BOTH, RK_RECORD_LAYER, false },
	{ "key_update_records",	SCOPE_BOTH, RK_KEY_UPDATE_RECORDS, false },
	{ "backlog",		SCOPE_BOTH, RK_BACKLOG, false },
	{ "redirect",		SCOPE_ROUTE, RK_REDIRECT, true },
};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

const char *
config_key_name(enum route_key k)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (keys[i].scope != SCOPE_GLOBAL && keys[i].id == (int)k)
			return keys[i].name;
	return "?";
}

const char *
config_record_layer_name(enum record_layer l)
{
	static const char *const names[] = { "auto", "kernel", "libgcrypt", "mbedtls" };

	return (unsigned)l < 4 ? names[l] : "?";
}

const char *
config_mode_name(enum route_mode m)
{
	return m == MODE_SERVER ? "server" : m == MODE_CLIENT ? "client" : "transparent";
}

/* Picks one of names[] (case-insensitively); returns its index or -1. */
static int
pick(const char *v, const char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcasecmp(v, names[i]) == 0)
			return (int)i;
	return -1;
}
#define PICK(v, arr) pick((v), (arr), sizeof(arr) / sizeof((arr)[0]))

/* An absolute copy of a path from the config, relative ones under cfg->dir. */
static char *
resolve_path(const struct config *cfg, const char *v)
{
	char *out;

	if (v[0] == '/')
		return strdup(v);
	if (asprintf(&out, "%s/%s", cfg->dir, v) == -1)
		return NULL;
	return out;
}

static int
set_path(struct loader *L, char **dst, const char *v, const char **why)
{
	if (*v == '\0') {
		*why = "expected a file path";
		return -1;
	}
	free(*dst);
	if ((*dst = resolve_path(L->cfg, v)) == NULL) {
		*why = "out of memory";
		return -1;
	}
	return 0;
}

/* Appends each comma-separated item of v to a growing array. */
static int
add_list(void **arr, size_t *n, size_t elem, const char *v,
    int (*parse)(const char *, void *, const char **), const char **why)
{
	char item[PEER_PATTERN_MAX + 8];
	const char *p = v;

	while (*p != '\0') {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		while (len > 0 && isspace((unsigned char)*p)) {
			p++;
			len--;
		}
		while (len > 0 && isspace((unsigned char)p[len - 1]))
			len--;
		if (len >= sizeof(item)) {
			*why = "list item too long";
			return -1;
		}
		if (len > 0) {
			void *grown = realloc(*arr, (*n + 1) * elem);
			if (grown == NULL) {
				*why = "out of memory";
				return -1;
			}
			*arr = grown;
			memcpy(item, p, len);
			item[len] = '\0';
			if (parse(item, (char *)*arr + *n * elem, why) == -1)
				return -1;
			(*n)++;
		}
		if (end == NULL)
			break;
		p = end + 1;
	}
	return 0;
}

static int
parse_peer_item(const char *s, void *out, const char **why)
{
	return peer_pattern_parse(s, out, why);
}

static int
parse_cidr_item(const char *s, void *out, const char **why)
{
	return parse_cidr(s, out, why);
}

static int
parse_port_item(const char *s, void *out, const char **why)
{
	struct port_range *pr = out;

	return parse_port_range(s, &pr->lo, &pr->hi, why);
}

/* connect = original (server routes) or original:PORT (transparent routes):
 * the destination comes from each connection, not from the file. */
static int
parse_connect(struct route_config *r, const char *v, const char **why)
{
	r->connect_original = false;
	if (strcmp(v, "original") == 0) {
		memset(&r->connect, 0, sizeof(r->connect));
		r->connect.kind = ADDR_INET;
		snprintf(r->connect.host, sizeof(r->connect.host), "original");
		snprintf(r->connect.text, sizeof(r->connect.text), "original");
		r->connect_original = true;
		return 0;
	}
	if (parse_addr(v, true, &r->connect, why) == -1)
		return -1;
	r->connect_original = r->connect.kind == ADDR_INET &&
	    strcmp(r->connect.host, "original") == 0;
	return 0;
}

int
config_set_route_key(struct loader *L, struct route_config *r, enum route_key k,
    const char *v, const char **why)
{
	static const char *const modes[] = { "server", "client", "transparent" };
	static const char *const auths[] = { "require", "optional", "none" };
	static const char *const ktls[] = { "auto", "on", "off" };
	static const char *const layers[] = { "auto", "kernel", "libgcrypt", "mbedtls" };
	static const char *const stale[] = { "warn", "refuse" };
	static const char *const reauth[] = { "close", "keep" };
	static const char *const proxy[] = { "none", "v2" };
	unsigned long n;
	uint64_t size;
	int i;

	switch (k) {
	case RK_MODE:
		if ((i = PICK(v, modes)) < 0)
			return *why = "expected server, client or transparent", -1;
		r->mode = (enum route_mode)i;
		return 0;
	case RK_LISTEN:
		return parse_addr(v, true, &r->listen, why);
	case RK_CONNECT:
		return parse_connect(r, v, why);
	case RK_CERT:
		return set_path(L, &r->cert, v, why);
	case RK_KEY:
		return set_path(L, &r->key, v, why);
	case RK_CA:
		return set_path(L, &r->ca, v, why);
	case RK_CRL:
		return set_path(L, &r->crl, v, why);
	case RK_KEY_PASSWORD_FILE:
		return set_path(L, &r->key_password_file, v, why);
	case RK_INSECURE_KEY_PERMISSIONS:
		return parse_bool(v, &r->insecure_key_permissions, why);
	case RK_TLS_MIN_VERSION:
		if (strcmp(v, "1.3") == 0)
			r->tls_min_version = 13;
		else if (strcmp(v, "1.2") == 0)
			r->tls_min_version = 12;
		else
			return *why = "expected 1.2 or 1.3", -1;
		return 0;
	case RK_CLIENT_AUTH:
		if ((i = PICK(v, auths)) < 0)
			return *why = "expected require, optional or none", -1;
		r->client_auth = (enum client_auth)i;
		return 0;
	case RK_ALLOW_PEERS:
		return add_list((void **)&r->allow_peers, &r->n_allow_peers,
		    sizeof(*r->allow_peers), v, parse_peer_item, why);
	case RK_EXPECT_PEERS:
		return add_list((void **)&r->expect_peers, &r->n_expect_peers,
		    sizeof(*r->expect_peers), v, parse_peer_item, why);
	case RK_ALLOW_CIDR:
		return add_list((void **)&r->allow_cidr, &r->n_allow_cidr,
		    sizeof(*r->allow_cidr), v, parse_cidr_item, why);
	case RK_DENY_CIDR:
		return add_list((void **)&r->deny_cidr, &r->n_deny_cidr,
		    sizeof(*r->deny_cidr), v, parse_cidr_item, why);
	case RK_SERVER_NAME:
		if (*v == '\0' || strlen(v) > 253 || strpbrk(v, " \t/:") != NULL)
			return *why = "expected a host name", -1;
		free(r->server_name);
		if ((r->server_name = strdup(v)) == NULL)
			return *why = "out of memory", -1;
		return 0;
	case RK_HANDSHAKE_TIMEOUT:
		return parse_duration_ms(v, &r->handshake_timeout_ms, why);
	case RK_IDLE_TIMEOUT:
		return parse_duration_ms(v, &r->idle_timeout_ms, why);
	case RK_CONNECT_TIMEOUT:
		return parse_duration_ms(v, &r->connect_timeout_ms, why);
	case RK_MAX_CONNECTIONS:
		if (parse_uint(v, 1, 10000000, &n, why) == -1)
			return *why = "expected a number from 1 to 10000000", -1;
		r->max_connections = n;
		return 0;
	case RK_KTLS:
		if ((i = PICK(v, ktls)) < 0)
			return *why = "expected auto, on or off", -1;
		r->ktls = (enum ktls_mode)i;
		return 0;
	case RK_BACKLOG:
		if (parse_uint(v, 1, 65535, &n, why) == -1)
			return *why = "expected a number from 1 to 65535", -1;
		r->backlog = (int)n;
		return 0;
	case RK_RECORD_LAYER:
		if ((i = PICK(v, layers)) < 0)
			return *why = "expected auto, kernel, libgcrypt or mbedtls", -1;
		r->record_layer = (enum record_layer)i;
		return 0;
	case RK_KEY_UPDATE_RECORDS:
		/* A count, with K/M/G as powers of 1024 (8M = 2^23). */
		if (parse_size(v, &size, why) == -1 || size < 2 ||
		    size > CONFIG_DEFAULT_KEY_UPDATE_RECORDS * 2)
			return *why = "expected a number of records from 2 to 16M", -1;
		r->key_update_records = size;
		return 0;
	case RK_CRL_STALE:
		if ((i = PICK(v, stale)) < 0)
			return *why = "expected warn or refuse", -1;
		r->crl_stale = (enum crl_stale)i;
		return 0;
	case RK_REAUTHORIZE:
		if ((i = PICK(v, reauth)) < 0)
			return *why = "expected close or keep", -1;
		r->reauthorize = (enum reauthorize)i;
		return 0;
	case RK_SEND_PROXY:
		if ((i = PICK(v, proxy)) < 0)
			return *why = "expected none or v2", -1;
		r->send_proxy = (enum proxy_proto)i;
		return 0;
	case RK_ACCEPT_PROXY:
		return parse_bool(v, &r->accept_proxy, why);
	case RK_BUFFER_SIZE:
		if (parse_size(v, &size, why) == -1)
			return -1;
		if (size < 16 * 1024 + 256 || size > 16 * 1024 * 1024)
			return *why = "buffer_size must be from 16.25K to 16M", -1;
		r->buffer_size = size;
		return 0;
	case RK_SESSION_RESUMPTION:
		return parse_bool(v, &r->session_resumption, why);
	case RK_ALLOW_PORTS:
		return add_list((void **)&r->allow_ports, &r->n_allow_ports,
		    sizeof(*r->allow_ports), v, parse_port_item, why);
	case RK_REDIRECT:
		return add_list((void **)&r->redirect, &r->n_redirect,
		    sizeof(*r->redirect), v, parse_cidr_item, why);
	case RK_COUNT:
		break;
	}
	return *why = "internal: unhandled key", -1;
}

int
config_set_global_key(struct loader *L, enum global_key k, const char *v, const char **why)
{
	static const char *const levels[] = { "error", "warn", "info", "debug" };
	struct config *cfg = L->cfg;
	unsigned long n;
	int i;

	switch (k) {
	case GK_WORKERS:
		if (strcasecmp(v, "auto") == 0) {
			cfg->workers = 0;
			return 0;
		}
		if (parse_uint(v, 1, 256, &n, why) == -1)
			return *why = "expected auto or a number from 1 to 256", -1;
		cfg->workers = (unsigned)n;
		return 0;
	case GK_LOG_LEVEL:
		if ((i = PICK(v, levels)) < 0)
			return *why = "expected error, warn, info or debug", -1;
		cfg->log_level = (enum log_level)i;
		return 0;
	case GK_AUDIT_LOG:
		free(cfg->audit_log);
		cfg->audit_log = NULL;
		if (*v == '\0')
			return 0;
		if (strcmp(v, "-") == 0)
			cfg->audit_log = strdup("-");
		else
			cfg->audit_log = resolve_path(cfg, v);
		return cfg->audit_log ? 0 : (*why = "out of memory", -1);
	case GK_ADMIN_LISTEN:
		cfg->admin_enabled = *v != '\0';
		return *v == '\0' ? 0 : parse_addr(v, false, &cfg->admin_listen, why);
	case GK_USER:
		free(cfg->user);
		cfg->user = NULL;
		if (*v == '\0')
			return 0;
		return (cfg->user = strdup(v)) ? 0 : (*why = "out of memory", -1);
	case GK_DRAIN_TIMEOUT:
		return parse_duration_ms(v, &cfg->drain_timeout_ms, why);
	case GK_DRAIN_GRACE:
		return parse_duration_ms(v, &cfg->drain_grace_ms, why);
	case GK_METRICS_PEER_LIMIT:
		if (parse_uint(v, 0, 1000, &n, why) == -1)
			return *why = "expected a number from 0 to 1000", -1;
		cfg->metrics_peer_limit = (unsigned)n;
		return 0;
	case GK_READYZ_UPSTREAM:
		return parse_bool(v, &cfg->readyz_upstream, why);
	case GK_SANDBOX:
		return parse_bool(v, &cfg->sandbox, why);
	case GK_ALLOW_INBOUND:
		return add_list((void **)&cfg->allow_inbound, &cfg->n_allow_inbound,
		    sizeof(*cfg->allow_inbound), v, parse_port_item, why);
	case GK_COUNT:
		break;
	}
	return *why = "internal: unhandled key", -1;
}

const struct key_def *
config_find_key(const char *name)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (strcmp(keys[i].name, name) == 0)
			return &keys[i];
	return NULL;
}

void
config_unknown_key(struct loader *L, const char *name)
{
	for (size_t i = 0; i < NKEYS; i++) {
		if (strcasecmp(keys[i].name, name) == 0) {
			loader_error(L, L->lineno, "unknown key '%s' (did you mean '%s'?)",
			    name, keys[i].name);
			return;
		}
	}
	loader_error(L, L->lineno, "unknown key '%s'", name);
}

