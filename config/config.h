/*
 * config.h: mtlsd's INI configuration, read with inih into a validated,
 * immutable struct.
 *
 * [global] holds process settings and TLS defaults; every other section is a
 * route named by its section.  Route-level TLS keys override the defaults.
 * Relative file paths are resolved against the config file's directory.
 * Every problem is reported as "FILE:LINE: message" and loading fails; a
 * loaded config is never changed afterwards.
 */
#ifndef MTLSD_CONFIG_CONFIG_H
#define MTLSD_CONFIG_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "config/parse.h"
#include "config/peer_pattern.h"

/* transparent: a client route for outbound TCP that nftables redirected to
 * it; the original destination picks the peer (see conn_tunnel.c). */
enum route_mode { MODE_SERVER, MODE_CLIENT, MODE_TRANSPARENT };
enum client_auth { CLIENT_AUTH_REQUIRE, CLIENT_AUTH_OPTIONAL, CLIENT_AUTH_NONE };
enum ktls_mode { KTLS_AUTO, KTLS_ON, KTLS_OFF };	/* ktls: record_layer's old alias */
/* Who seals and opens records after the handshake: auto = the kernel where
 * it can, else libgcrypt (mtlsd's own layer); mbedtls = mbedTLS's own. */
enum record_layer {
	RECORD_LAYER_AUTO, RECORD_LAYER_KERNEL, RECORD_LAYER_LIBGCRYPT, RECORD_LAYER_MBEDTLS
};
enum crl_stale { CRL_STALE_WARN, CRL_STALE_REFUSE };
enum reauthorize { REAUTH_CLOSE, REAUTH_KEEP };
enum proxy_proto { PROXY_NONE, PROXY_V2 };

/* Keys a route can set; the order indexes route_config.line[]. */
enum route_key {
	RK_MODE, RK_LISTEN, RK_CONNECT, RK_CERT, RK_KEY, RK_CA, RK_CRL,
	RK_KEY_PASSWORD_FILE, RK_INSECURE_KEY_PERMISSIONS, RK_TLS_MIN_VERSION,
	RK_CLIENT_AUTH, RK_ALLOW_PEERS, RK_EXPECT_PEERS, RK_SERVER_NAME,
	RK_ALLOW_CIDR, RK_DENY_CIDR, RK_HANDSHAKE_TIMEOUT, RK_IDLE_TIMEOUT,
	RK_CONNECT_TIMEOUT, RK_MAX_CONNECTIONS, RK_KTLS, RK_CRL_STALE,
	RK_REAUTHORIZE, RK_SEND_PROXY, RK_ACCEPT_PROXY, RK_BUFFER_SIZE,
	RK_SESSION_RESUMPTION, RK_ALLOW_PORTS, RK_RECORD_LAYER,
	RK_KEY_UPDATE_RECORDS, RK_BACKLOG, RK_REDIRECT, RK_COUNT
};

/* allow_ports: an inclusive range of TCP ports. */
struct port_range {
	uint16_t lo, hi;
};

struct route_config {
	char name[64];
	int line[RK_COUNT];		/* where each key was set; 0 = default */
	int section_line;

	enum route_mode mode;
	struct addr listen;
	struct addr connect;
	/* connect = original (server routes: the port the sender's app dialed,
	 * on this node's address the tunnel came to) or original:PORT
	 * (transparent routes: the original destination's host, mtlsd's PORT) */
	bool connect_original;
	struct port_range *allow_ports;	/* connect = original: ports it may reach */
	size_t n_allow_ports;
	struct cidr *redirect;		/* transparent: the peer networks (mtlsd nft) */
	size_t n_redirect;

	/* TLS, inheritable from [global] */
	char *cert, *key, *ca, *crl, *key_password_file;	/* absolute paths or NULL */
	bool insecure_key_permissions;
	int tls_min_version;		/* 12 or 13 */
	enum client_auth client_auth;	/* server routes */
	char *server_name;		/* client routes: SNI and name check */
	struct peer_pattern *allow_peers;	/* server routes */
	size_t n_allow_peers;
	struct peer_pattern *expect_peers;	/* client routes */
	size_t n_expect_peers;
	struct cidr *allow_cidr, *deny_cidr;
	size_t n_allow_cidr, n_deny_cidr;
	uint32_t handshake_timeout_ms, idle_timeout_ms, connect_timeout_ms;
	unsigned long max_connections;
	enum ktls_mode ktls;		/* as written; record_layer says what counts */
	enum record_layer record_layer;
	uint64_t key_update_records;	/* own layer: KeyUpdate after this many */
	enum crl_stale crl_stale;
	enum reauthorize reauthorize;
	enum proxy_proto send_proxy;	/* server routes: to the backend */
	bool accept_proxy;		/* expect a PROXY v2 header on accept */
	uint64_t buffer_size;		/* bytes per direction buffer */
	int backlog;			/* listen(2); 0 = sock_default_backlog() */
	bool session_resumption;	/* TLS 1.3 tickets */
};

/* Keys only [global] can set; the order indexes config.global_line[]. */
enum global_key {
	GK_WORKERS, GK_LOG_LEVEL, GK_AUDIT_LOG, GK_ADMIN_LISTEN, GK_USER,
	GK_DRAIN_TIMEOUT, GK_METRICS_PEER_LIMIT, GK_READYZ_UPSTREAM,
	GK_ALLOW_INBOUND, GK_SANDBOX, GK_DRAIN_GRACE, GK_COUNT
};

enum log_level { LOG_LEVEL_ERROR, LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };

struct config {
	char *path;			/* the file as given */
	char *dir;			/* its directory, for relative paths */

	unsigned workers;		/* 0 = auto (online CPUs) */
	enum log_level log_level;
	char *audit_log;		/* NULL = off, "-" = stdout */
	bool admin_enabled;
	struct addr admin_listen;
	char *user;			/* drop privileges to; NULL = stay */
	uint32_t drain_timeout_ms;
	uint32_t drain_grace_ms;		/* SIGTERM: keep accepting this long, /readyz 503 */
	unsigned metrics_peer_limit;	/* per-identity series per route; 0 = off */
	bool readyz_upstream;		/* /readyz also connects to upstreams */
	bool sandbox;			/* confine the daemon after start-up */
	struct port_range *allow_inbound;	/* mtlsd nft: ports open to other hosts */
	size_t n_allow_inbound;
	int global_line[GK_COUNT];	/* where each global key was set */

	struct route_config defaults;	/* [global]'s TLS defaults */
	struct route_config *routes;
	size_t nroutes;
};

/*
 * Reads and validates path.  On success returns a config the caller frees with
 * config_free().  On failure returns NULL after writing every problem found,
 * one "FILE:LINE: message" per line, to errs.
 */
struct config *config_load(const char *path, FILE *errs);

/* Frees a config; NULL is a no-op. */
void config_free(struct config *cfg);

/* The name of a route key ("cert", "listen", ...). */
const char *config_key_name(enum route_key k);

/* "server", "client" or "transparent". */
const char *config_mode_name(enum route_mode m);

/* The route named name, or NULL. */
const struct route_config *config_route(const struct config *cfg, const char *name);

/* Default values, exported for the README and tests. */
#define CONFIG_DEFAULT_HANDSHAKE_TIMEOUT_MS	(10 * 1000)
#define CONFIG_DEFAULT_IDLE_TIMEOUT_MS		(5 * 60 * 1000)
#define CONFIG_DEFAULT_CONNECT_TIMEOUT_MS	(5 * 1000)
#define CONFIG_DEFAULT_DRAIN_TIMEOUT_MS		(30 * 1000)
#define CONFIG_DEFAULT_DRAIN_GRACE_MS		0
#define CONFIG_DEFAULT_MAX_CONNECTIONS		10000
#define CONFIG_DEFAULT_BUFFER_SIZE		(64 * 1024)
#define CONFIG_DEFAULT_KEY_UPDATE_RECORDS	(UINT64_C(1) << 23)

/* "auto", "kernel", "libgcrypt" or "mbedtls". */
const char *config_record_layer_name(enum record_layer l);

#endif /* MTLSD_CONFIG_CONFIG_H */
