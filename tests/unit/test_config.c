/*
 * test_config.c: config/config.c and config_check.c, loading whole INI files.
 *
 * Each test writes a file into a fresh mkdtemp() directory and calls
 * config_load() with its error stream captured, so a refusal is checked down
 * to its "FILE:LINE: message" text.  Line numbers are looked up in the test's
 * own text (line_of), so moving a line moves the expectation with it.  The
 * cert/key/ca files are empty: config_load checks only that they are
 * readable.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <grp.h>
#include <ini.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config/config.h"
#include "tests/unit/pki.h"
#include "tests/unit/table.h"

static char dir[PATH_MAX];	/* the temp dir, as realpath() names it */
static char cfgpath[PATH_MAX];	/* the config file last loaded */
static char *errtext;		/* what the last config_load wrote to errs */

#define GLOBAL_TLS \
	"[global]\n" \
	"cert = node.crt\n" \
	"key = node.key\n" \
	"ca = ca.crt\n"

/* A route section: its name, mode, listen and connect, a line each. */
#define ROUTE(name, mode, listen, connect) \
	"[" name "]\n" "mode = " mode "\n" "listen = " listen "\n" \
	"connect = " connect "\n"

/* dir/name in one of a few rotating buffers. */
static const char *
in_dir(const char *name)
{
	static char paths[8][PATH_MAX];
	static unsigned next;
	char *p = paths[next++ % 8];

	assert_true(snprintf(p, PATH_MAX, "%s/%s", dir, name) < PATH_MAX);
	return p;
}

static void
write_file(const char *name, const char *text)
{
	FILE *f = fopen(in_dir(name), "w");

	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

/* Loads path with errs captured into errtext. */
static struct config *
load_path(const char *path)
{
	struct config *cfg;
	size_t len;
	FILE *errs;

	free(errtext);
	errtext = NULL;
	assert_non_null(errs = open_memstream(&errtext, &len));
	cfg = config_load(path, errs);
	assert_int_equal(fclose(errs), 0);
	assert_non_null(errtext);
	return cfg;
}

/* Writes text as dir/name and loads it. */
static struct config *
load(const char *name, const char *text)
{
	write_file(name, text);
	snprintf(cfgpath, sizeof(cfgpath), "%s", in_dir(name));
	return load_path(cfgpath);
}

/* Loads a file that must be accepted, with nothing written to errs. */
static struct config *
load_ok(const char *name, const char *text)
{
	struct config *cfg = load(name, text);

	if (cfg == NULL)
		fail_msg("config refused:\n%s", errtext);
	assert_string_equal(errtext, "");
	return cfg;
}

/* Loads a file that must be refused; returns how many lines errs got. */
static int
load_bad(const char *name, const char *text)
{
	struct config *cfg = load(name, text);
	int n = 0;

	if (cfg != NULL) {
		config_free(cfg);
		fail_msg("config accepted:\n%s", text);
	}
	for (const char *p = errtext; *p; p++)
		n += *p == '\n';
	assert_true(n > 0);
	assert_int_equal(errtext[strlen(errtext) - 1], '\n');
	return n;
}

/* The 1-based line of text holding the nth (from 1) occurrence of needle. */
static int
nth_line_of(const char *text, const char *needle, int nth)
{
	const char *p = text;

	for (int i = 0; i < nth; i++) {
		if ((p = strstr(p, needle)) == NULL)
			fail_msg("'%s' not in the test's text", needle);
		if (i + 1 < nth)
			p++;
	}
	int line = 1;
	for (const char *q = text; q < p; q++)
		line += *q == '\n';
	return line;
}

static int
line_of(const char *text, const char *needle)
{
	return nth_line_of(text, needle, 1);
}

/* Fails unless errtext has the whole line "cfgpath:line: msg". */
static void
expect_error(int line, const char *fmt, ...)
{
	char want[2 * PATH_MAX + 512], msg[PATH_MAX + 256];
	va_list ap;
	size_t wl;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	wl = (size_t)snprintf(want, sizeof(want), "%s:%d: %s\n", cfgpath, line, msg);
	for (const char *p = errtext; *p; ) {
		if (strncmp(p, want, wl) == 0)
			return;
		p = strchr(p, '\n');
		if (p == NULL)
			break;
		p++;
	}
	fail_msg("expected the line\n  %s in\n%s", want, errtext);
}

static int
setup(void **state)
{
	char tmpl[] = "/tmp/test_config.XXXXXX";
	static const char *const files[] = {
		"node.crt", "node.key", "ca.crt", "other-ca.crt",
		"sub/other.crt", "sub/other.key", "sub/ca.crt",
	};

	(void)state;
	if (mkdtemp(tmpl) == NULL || realpath(tmpl, dir) == NULL)
		return -1;
	if (mkdir(in_dir("sub"), 0755) == -1)
		return -1;
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		FILE *f = fopen(in_dir(files[i]), "w");
		if (f == NULL || fclose(f) != 0)
			return -1;
	}
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	free(errtext);
	errtext = NULL;
	if (dir[0] != '\0' && pki_rm(dir) == -1)
		return -1;
	return 0;
}

/*
 * Good files
 */

static const char good_pair[] =
	"; mtlsd: a sidecar pair\n"
	"# both comment styles start a line\n"
	"[global]\n"
	"workers = 4\n"
	"log_level = debug ; inline comment\n"
	"cert = node.crt\n"
	"key = node.key\n"
	"ca = ca.crt\n"
	"\n"
	ROUTE("trainer-in", "server", "0.0.0.0:7443", "127.0.0.1:29500   ; the app")
	"allow_peers = uri:spiffe://train.example/worker/*,\n"
	"    dns:*.train.internal\n"
	"  ; a comment between continuation lines\n"
	"\t, cn:node-7\n"
	"allow_peers = ip:10.0.0.0/8\n"
	"\n"
	ROUTE("trainer-out", "client", "127.0.0.1:29501", "node2.train.internal:7443")
	"server_name = node2.train.internal\n"
	"ca = @/other-ca.crt\n"
	"cert = sub/other.crt\n"
	"key = sub/other.key\n"
	"tls_min_version = 1.2\n"
	"handshake_timeout = 3s\n"
	"expect_peers = uri:spiffe://train.example/node/2\n";

/* good_pair with '@' replaced by the temp dir. */
static char *
with_dir(const char *text)
{
	size_t n = strlen(text) + 1;
	char *out, *o;

	for (const char *p = text; *p; p++)
		n += *p == '@' ? strlen(dir) : 0;
	assert_non_null(out = o = malloc(n));
	for (const char *p = text; *p; p++) {
		if (*p == '@') {
			strcpy(o, dir);
			o += strlen(dir);
		} else
			*o++ = *p;
	}
	*o = '\0';
	return out;
}

static void
test_good_pair(void **state)
{
	char *text = with_dir(good_pair);
	struct config *cfg = load_ok("pair.ini", text);
	const struct route_config *in, *out;

	(void)state;
	assert_string_equal(cfg->path, cfgpath);
	assert_string_equal(cfg->dir, dir);
	assert_int_equal(cfg->workers, 4);
	assert_int_equal(cfg->log_level, LOG_LEVEL_DEBUG);
	assert_int_equal(cfg->nroutes, 2);
	assert_int_equal(cfg->global_line[GK_WORKERS], line_of(text, "workers"));

	in = config_route(cfg, "trainer-in");
	out = config_route(cfg, "trainer-out");
	assert_non_null(in);
	assert_non_null(out);
	assert_ptr_equal(in, &cfg->routes[0]);
	assert_ptr_equal(out, &cfg->routes[1]);
	assert_null(config_route(cfg, "trainer"));
	assert_null(config_route(cfg, "Trainer-In"));
	assert_null(config_route(cfg, "global"));

	/* The server route: TLS files from [global], resolved against dir. */
	assert_string_equal(in->name, "trainer-in");
	assert_int_equal(in->section_line, line_of(text, "[trainer-in]"));
	assert_int_equal(in->mode, MODE_SERVER);
	assert_string_equal(in->listen.text, "0.0.0.0:7443");
	assert_string_equal(in->connect.text, "127.0.0.1:29500");
	assert_int_equal(in->connect.port, 29500);
	assert_string_equal(in->cert, in_dir("node.crt"));
	assert_string_equal(in->key, in_dir("node.key"));
	assert_string_equal(in->ca, in_dir("ca.crt"));
	assert_true(in->cert[0] == '/');
	assert_null(in->crl);
	assert_null(in->server_name);
	assert_int_equal(in->line[RK_CERT], line_of(text, "cert = node.crt"));
	assert_int_equal(in->line[RK_LISTEN], line_of(text, "0.0.0.0:7443"));
	assert_int_equal(in->tls_min_version, 13);
	assert_int_equal(in->client_auth, CLIENT_AUTH_REQUIRE);

	/* allow_peers: one key continued over lines, then the key again. */
	assert_int_equal(in->n_allow_peers, 4);
	assert_int_equal(in->allow_peers[0].kind, PEER_URI);
	assert_string_equal(in->allow_peers[0].text, "spiffe://train.example/worker/*");
	assert_int_equal(in->allow_peers[1].kind, PEER_DNS);
	assert_string_equal(in->allow_peers[1].text, "*.train.internal");
	assert_int_equal(in->allow_peers[2].kind, PEER_CN);
	assert_string_equal(in->allow_peers[2].text, "node-7");
	assert_int_equal(in->allow_peers[3].kind, PEER_IP);
	assert_int_equal(in->allow_peers[3].net.prefix, 8);
	assert_int_equal(in->line[RK_ALLOW_PEERS], line_of(text, "allow_peers"));
	assert_int_equal(in->n_expect_peers, 0);

	/* The client route overrides ca (absolute) and cert/key (relative). */
	assert_int_equal(out->mode, MODE_CLIENT);
	assert_string_equal(out->listen.text, "127.0.0.1:29501");
	assert_string_equal(out->connect.host, "node2.train.internal");
	assert_int_equal(out->connect.port, 7443);
	assert_string_equal(out->server_name, "node2.train.internal");
	assert_string_equal(out->ca, in_dir("other-ca.crt"));
	assert_string_equal(out->cert, in_dir("sub/other.crt"));
	assert_string_equal(out->key, in_dir("sub/other.key"));
	assert_int_equal(out->line[RK_CA], line_of(text, "ca = /"));
	assert_int_equal(out->tls_min_version, 12);
	assert_int_equal(out->handshake_timeout_ms, 3000);
	assert_int_equal(out->idle_timeout_ms, CONFIG_DEFAULT_IDLE_TIMEOUT_MS);
	assert_int_equal(out->n_expect_peers, 1);
	assert_string_equal(out->expect_peers[0].text, "spiffe://train.example/node/2");
	assert_int_equal(out->n_allow_peers, 0);

	/* [global]'s own copy is untouched by the route's override. */
	assert_string_equal(cfg->defaults.ca, in_dir("ca.crt"));
	assert_int_equal(cfg->defaults.tls_min_version, 13);

	config_free(cfg);
	free(text);
}

static void
test_defaults(void **state)
{
	static const char text[] =
		GLOBAL_TLS
		ROUTE("only", "server", "127.0.0.1:7443", "unix:/run/app.sock");
	struct config *cfg = load_ok("defaults.ini", text);
	const struct route_config *r = config_route(cfg, "only");

	(void)state;
	assert_non_null(r);
	assert_int_equal(cfg->workers, 0);
	assert_int_equal(cfg->log_level, LOG_LEVEL_INFO);
	assert_null(cfg->audit_log);
	assert_null(cfg->user);
	assert_false(cfg->admin_enabled);
	assert_int_equal(cfg->drain_timeout_ms, CONFIG_DEFAULT_DRAIN_TIMEOUT_MS);
	assert_int_equal(cfg->drain_grace_ms, 0);

	assert_int_equal(r->connect.kind, ADDR_UNIX);
	assert_string_equal(r->connect.path, "/run/app.sock");
	assert_int_equal(r->tls_min_version, 13);
	assert_int_equal(r->client_auth, CLIENT_AUTH_REQUIRE);
	assert_int_equal(r->handshake_timeout_ms, 10 * 1000);
	assert_int_equal(r->idle_timeout_ms, 5 * 60 * 1000);
	assert_int_equal(r->connect_timeout_ms, 5 * 1000);
	assert_int_equal(r->max_connections, 10000);
	assert_int_equal(r->buffer_size, 64 * 1024);
	assert_int_equal(r->ktls, KTLS_AUTO);
	assert_int_equal(r->crl_stale, CRL_STALE_WARN);
	assert_int_equal(r->reauthorize, REAUTH_CLOSE);
	assert_int_equal(r->send_proxy, PROXY_NONE);
	assert_false(r->accept_proxy);
	assert_false(r->insecure_key_permissions);
	assert_int_equal(r->n_allow_peers, 0);
	assert_int_equal(r->n_allow_cidr, 0);
	assert_int_equal(r->line[RK_HANDSHAKE_TIMEOUT], 0);
	assert_int_equal(r->line[RK_CLIENT_AUTH], 0);
	config_free(cfg);
}

static void
test_inheritance(void **state)
{
	static const char text[] =
		GLOBAL_TLS
		"tls_min_version = 1.2\n"
		"handshake_timeout = 2s\n"
		"idle_timeout = 1m\n"
		"connect_timeout = 750ms\n"
		"max_connections = 5\n"
		"buffer_size = 128K\n"
		"ktls = off\n"
		"insecure_key_permissions = yes\n"
		"\n"
		ROUTE("a", "server", "127.0.0.1:7001", "127.0.0.1:8001")
		"\n"
		ROUTE("b", "server", "127.0.0.1:7002", "127.0.0.1:8002")
		"cert = sub/other.crt\n"
		"key = sub/other.key\n"
		"ca = sub/ca.crt\n"
		"tls_min_version = 1.3\n"
		"idle_timeout = 30s\n"
		"max_connections = 7\n"
		"buffer_size = 1M\n"
		"ktls = on\n";
	struct config *cfg = load_ok("inherit.ini", text);
	const struct route_config *a = config_route(cfg, "a");
	const struct route_config *b = config_route(cfg, "b");

	(void)state;
	assert_non_null(a);
	assert_non_null(b);
	assert_string_equal(a->cert, in_dir("node.crt"));
	assert_string_equal(a->ca, in_dir("ca.crt"));
	assert_int_equal(a->tls_min_version, 12);
	assert_int_equal(a->handshake_timeout_ms, 2000);
	assert_int_equal(a->idle_timeout_ms, 60000);
	assert_int_equal(a->connect_timeout_ms, 750);
	assert_int_equal(a->max_connections, 5);
	assert_int_equal(a->buffer_size, 128 * 1024);
	assert_int_equal(a->ktls, KTLS_OFF);
	assert_true(a->insecure_key_permissions);
	/* An inherited key remembers the [global] line that set it. */
	assert_int_equal(a->line[RK_IDLE_TIMEOUT], line_of(text, "idle_timeout = 1m"));
	assert_int_equal(a->line[RK_CA], line_of(text, "ca = ca.crt"));

	assert_string_equal(b->cert, in_dir("sub/other.crt"));
	assert_string_equal(b->key, in_dir("sub/other.key"));
	assert_string_equal(b->ca, in_dir("sub/ca.crt"));
	assert_int_equal(b->tls_min_version, 13);
	assert_int_equal(b->handshake_timeout_ms, 2000);	/* inherited */
	assert_int_equal(b->idle_timeout_ms, 30000);
	assert_int_equal(b->max_connections, 7);
	assert_int_equal(b->buffer_size, 1024 * 1024);
	assert_int_equal(b->ktls, KTLS_ON);
	assert_int_equal(b->line[RK_IDLE_TIMEOUT], line_of(text, "idle_timeout = 30s"));
	config_free(cfg);
}

/* A config named by a relative path still yields absolute file paths. */
static void
test_relative_config_path(void **state)
{
	static const char text[] =
		"[global]\n"
		"cert = other.crt\n"
		"key = ./other.key\n"
		"ca = ../ca.crt\n"
		ROUTE("r", "server", "127.0.0.1:7443", "127.0.0.1:8443");
	static const char text2[] =
		GLOBAL_TLS
		ROUTE("r", "server", "127.0.0.1:7443", "127.0.0.1:8443");
	char cwd[PATH_MAX], want[PATH_MAX];
	struct config *cfg;
	const struct route_config *r;

	(void)state;
	write_file("sub/nested.ini", text);
	write_file("top.ini", text2);
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(dir), 0);

	snprintf(cfgpath, sizeof(cfgpath), "sub/nested.ini");
	cfg = load_path(cfgpath);
	if (cfg == NULL) {
		assert_int_equal(chdir(cwd), 0);
		fail_msg("refused:\n%s", errtext);
	}
	assert_string_equal(errtext, "");
	assert_string_equal(cfg->path, "sub/nested.ini");
	assert_string_equal(cfg->dir, in_dir("sub"));
	assert_non_null(r = config_route(cfg, "r"));
	assert_string_equal(r->cert, in_dir("sub/other.crt"));
	snprintf(want, sizeof(want), "%s/./other.key", in_dir("sub"));
	assert_string_equal(r->key, want);
	snprintf(want, sizeof(want), "%s/../ca.crt", in_dir("sub"));
	assert_string_equal(r->ca, want);
	config_free(cfg);

	/* No directory at all: the current one, made absolute. */
	snprintf(cfgpath, sizeof(cfgpath), "top.ini");
	cfg = load_path(cfgpath);
	assert_int_equal(chdir(cwd), 0);
	if (cfg == NULL)
		fail_msg("refused:\n%s", errtext);
	assert_string_equal(cfg->dir, dir);
	assert_non_null(r = config_route(cfg, "r"));
	assert_string_equal(r->cert, in_dir("node.crt"));
	assert_true(r->ca[0] == '/');
	config_free(cfg);
}

static void
test_lists(void **state)
{
	static const char text[] =
		GLOBAL_TLS
		ROUTE("s", "server", "[::1]:7443", "localhost:8443")
		"allow_peers = dns:a.example ,dns:b.example,, cn:x y\n"
		"  cn:c;d\n"
		"allow_cidr = 10.0.0.0/8, fd00::/8\n"
		"deny_cidr = 10.9.0.0/16\n"
		"deny_cidr = 192.0.2.7\n"
		"allow_peers = uri:spiffe://td/a\n";
	struct config *cfg = load_ok("lists.ini", text);
	const struct route_config *r = config_route(cfg, "s");

	(void)state;
	assert_non_null(r);
	assert_string_equal(r->listen.text, "[::1]:7443");
	assert_int_equal(r->n_allow_peers, 5);
	assert_string_equal(r->allow_peers[0].text, "a.example");
	assert_string_equal(r->allow_peers[1].text, "b.example");
	assert_string_equal(r->allow_peers[2].text, "x y");
	/* ';' without a space before it is not a comment. */
	assert_string_equal(r->allow_peers[3].text, "c;d");
	assert_int_equal(r->allow_peers[4].kind, PEER_URI);
	assert_int_equal(r->n_allow_cidr, 2);
	assert_int_equal(r->allow_cidr[1].prefix, 8);
	assert_int_equal(r->n_deny_cidr, 2);
	assert_int_equal(r->deny_cidr[1].prefix, 32);
	assert_int_equal(r->line[RK_DENY_CIDR], line_of(text, "deny_cidr"));
	config_free(cfg);
}

/*
 * Refusals: each a row, run as a test of its own name.  The file must be
 * refused with exactly `lines` lines on errs (0: any number), among them
 * each "PATH:LINE: msg" of errs[]: LINE is that of the nth (default first)
 * line of the text holding `at`, or, with at NULL, errs holds only
 * "PATH: msg".  In text and msg '@' stands for the temp dir, and in msg
 * "{needle}" for the line of the text holding needle first.
 */

#define SECTION_WHY	"a route name is 1-63 letters, digits, '-', '_' or '.'"

struct refusal {
	const char *name, *file, *text;
	int lines;
	struct { const char *at; int nth; const char *msg; } errs[10];
};

static const struct refusal refusals[] = {
	{ "test_unknown_key", "unknown.ini",
		GLOBAL_TLS
		"verbose = yes\n"
		"[r]\n"
		"mode = server\n"
		"Listen = 127.0.0.1:7443\n"
		"listen = 127.0.0.1:7443\n"
		"connect = 127.0.0.1:8443\n"
		"lissen = 127.0.0.1:1\n", 3, {
		{ "verbose", 0, "unknown key 'verbose'" },
		{ "Listen", 0, "unknown key 'Listen' (did you mean 'listen'?)" },
		{ "lissen", 0, "unknown key 'lissen'" } } },
	{ "test_unknown_values", "values.ini",
		GLOBAL_TLS
		"log_level = loud\n"
		"tls_min_version = 1.1\n"
		ROUTE("r", "proxy", "127.0.0.1:7443", "127.0.0.1:8443")
		"client_auth = maybe\n"
		"ktls = sometimes\n"
		"insecure_key_permissions = perhaps\n"
		"max_connections = 0\n"
		"buffer_size = 4K\n", 8, {
		{ "loud", 0, "log_level: expected error, warn, info or debug: 'loud'" },
		{ "1.1", 0, "tls_min_version: expected 1.2 or 1.3: '1.1'" },
		{ "proxy", 0, "mode: expected server, client or transparent: 'proxy'" },
		{ "maybe", 0, "client_auth: expected require, optional or none: 'maybe'" },
		{ "sometimes", 0, "ktls: expected auto, on or off: 'sometimes'" },
		{ "perhaps", 0, "insecure_key_permissions: expected yes or no: 'perhaps'" },
		{ "max_conn", 0, "max_connections: expected a number from 1 to 10000000: '0'" },
		{ "buffer_size", 0, "buffer_size: buffer_size must be from 16.25K to 16M: '4K'" } } },
	{ "test_bad_duration", "duration.ini",
		GLOBAL_TLS
		"handshake_timeout = 10\n"
		"drain_timeout = 1.5s\n"
		ROUTE("r", "server", "127.0.0.1:7443", "127.0.0.1:8443")
		"idle_timeout = 5 m\n", 3, {
		{ "handshake", 0, "handshake_timeout: a duration needs a unit: ms, s, m or h: '10'" },
		{ "drain", 0, "drain_timeout: unknown duration unit (use ms, s, m or h): '1.5s'" },
		{ "idle", 0, "idle_timeout: unknown duration unit (use ms, s, m or h): '5 m'" } } },
	{ "test_missing_keys", "missing.ini",
		GLOBAL_TLS
		"[no-listen]\n"
		"mode = server\n"
		"connect = 127.0.0.1:8443\n"
		"\n"
		"[no-connect]\n"
		"mode = client\n"
		"listen = 127.0.0.1:7001\n"
		"\n"
		"[no-mode]\n"
		"listen = 127.0.0.1:7002\n"
		"connect = 127.0.0.1:8002\n", 3, {
		{ "[no-listen]", 0, "[no-listen]: missing 'listen'" },
		{ "[no-connect]", 0, "[no-connect]: missing 'connect'" },
		{ "[no-mode]", 0, "[no-mode]: missing 'mode' (server, client or transparent)" } } },
	{ "test_listen_clash", "clash1.ini",
		GLOBAL_TLS
		ROUTE("a", "server", "127.0.0.1:7443", "127.0.0.1:8001")
		ROUTE("b", "server", "127.0.0.1:7443", "127.0.0.1:8002"), 1, {
		{ "listen", 2, "listen 127.0.0.1:7443 clashes with route [a] (line {listen})" } } },
	{ "test_listen_clash_wildcards", "clash2.ini",
		GLOBAL_TLS
		ROUTE("a", "server", "0.0.0.0:7443", "127.0.0.1:8001")
		ROUTE("b", "client", "127.0.0.1:7443", "127.0.0.1:8002")
		"[c]\n"
		"mode = server\n"
		"listen = 127.0.0.1:7444\n"	/* another port: fine */
		"connect = 127.0.0.1:8003\n"
		"[d]\n"
		"mode = server\n"
		"listen = [::]:7444\n"		/* v6 wildcard, after c */
		"connect = 127.0.0.1:8004\n", 2, {
		{ "127.0.0.1:7443", 0, "listen 127.0.0.1:7443 clashes with route [a] (line {0.0.0.0:7443})" },
		{ "[::]:7444", 0, "listen [::]:7444 clashes with route [c] (line {127.0.0.1:7444})" } } },
	{ "test_listen_clash_unix", "clash3.ini",
		GLOBAL_TLS
		ROUTE("a", "client", "unix:/run/a.sock", "127.0.0.1:8001")
		ROUTE("b", "client", "unix:/run/a.sock", "127.0.0.1:8002"), 1, {
		{ "listen", 2, "listen unix:/run/a.sock clashes with route [a] (line {listen})" } } },
	{ "test_key_twice", "twice.ini",
		GLOBAL_TLS
		"ca = ca.crt\n"
		ROUTE("r", "server", "127.0.0.1:7443", "127.0.0.1:8443")
		"connect = 127.0.0.1:9443\n", 2, {
		{ "ca = ", 2, "'ca' is set twice (first at line {ca = })" },
		{ "connect", 2, "'connect' is set twice (first at line {connect})" } } },
	{ "test_continued_single_value", "cont.ini",
		GLOBAL_TLS
		ROUTE("r", "server", "127.0.0.1:7443", "127.0.0.1:8443")
		"   127.0.0.1:9443\n", 1, {
		{ "   127", 0, "'connect' takes one value; this indented line continues it" } } },
	{ "test_wrong_scope", "scope.ini",
		GLOBAL_TLS
		"listen = 127.0.0.1:7000\n"
		"allow_peers = cn:x\n"
		ROUTE("r", "server", "127.0.0.1:7443", "127.0.0.1:8443")
		"workers = 2\n"
		"admin_listen = 127.0.0.1:9901\n", 4, {
		{ "7000", 0, "'listen' belongs in a route section, not [global]" },
		{ "allow_peers", 0, "'allow_peers' belongs in a route section, not [global]" },
		{ "workers", 0, "'workers' belongs in [global]" },
		{ "admin_listen", 0, "'admin_listen' belongs in [global]" } } },
	{ "test_outside_section", "outside.ini",
		"; no section yet\n"
		"workers = 2\n"
		GLOBAL_TLS
		ROUTE("r", "server", "127.0.0.1:7443", "127.0.0.1:8443"), 1, {
		{ "workers", 0, "'workers' is outside any section; put it under [global] or a route" } } },
	{ "test_duplicate_section", "dupsec.ini",
		GLOBAL_TLS
		ROUTE("r", "server", "127.0.0.1:7443", "127.0.0.1:8443")
		ROUTE("r", "server", "127.0.0.1:7444", "127.0.0.1:8444")
		"[global]\n"
		"workers = 2\n", 2, {
		{ "[r]", 2, "route [r] appears twice (first at line {[r]})" },
		{ "[global]", 2, "[global] appears twice (first at line {[global]})" } } },
	{ "test_bad_section_name", "badsec.ini",
		GLOBAL_TLS
		"[a/b]\n"
		"mode = server\n"
		"[]\n"
		"[this-name-is-sixty-four-characters-long-which-is-one-too-many-xy]\n"
		"[unclosed\n"
		ROUTE("ok_name-1.x", "server", "127.0.0.1:7443", "127.0.0.1:8443"), 4, {
		{ "[a/b]", 0, "bad section name [a/b]: " SECTION_WHY },
		{ "[]", 0, "bad section name []: " SECTION_WHY },
		{ "[this-name", 0, "bad section name "
		    "[this-name-is-sixty-four-characters-long-which-is-one-too-many-xy]: "
		    SECTION_WHY },
		{ "[unclosed", 0, "malformed section header" } } },
	/* Keys under a refused section are still checked, but each bad section
	 * is its own: the same key under two of them is not "set twice". */
	{ "test_bad_sections_independent", "badsecs.ini",
		GLOBAL_TLS
		"[a/b]\n"
		"mode = server\n"
		"listen = 127.0.0.1:7001\n"
		"[c d]\n"
		"mode = server\n"
		"listen = 127.0.0.1:7002\n"
		ROUTE("ok", "server", "127.0.0.1:7443", "127.0.0.1:8443")
		"[ok]\n"
		"mode = server\n", 3, {
		{ "[a/b]", 0, "bad section name [a/b]: " SECTION_WHY },
		{ "[c d]", 0, "bad section name [c d]: " SECTION_WHY },
		{ "[ok]", 2, "route [ok] appears twice (first at line {[ok]})" } } },
	/* Lines that are neither a section, a key nor a comment: each
	 * reported; 'listen' is then missing. */
	{ "test_syntax_errors_all_reported", "syntax.ini",
		GLOBAL_TLS
		"[a]\n"
		"mode = server\n"
		"listen 127.0.0.1\n"
		"connect = 127.0.0.1:8001\n"
		"this line is not a key\n", 3, {
		{ "listen 127", 0, "syntax error: expected [section] or key = value" },
		{ "this line", 0, "syntax error: expected [section] or key = value" },
		{ "[a]", 0, "[a]: missing 'listen'" } } },
	{ "test_unreadable_missing", "missing-file.ini",
		"[global]\n"
		"cert = node.crt\n"
		"key = node.key\n"
		"ca = no-such-ca.crt\n"
		ROUTE("r", "server", "127.0.0.1:7443", "127.0.0.1:8443")
		"cert = @/nope/missing.crt\n", 2, {
		{ "no-such-ca", 0, "ca: cannot read '@/no-such-ca.crt': No such file or directory" },
		{ "missing.crt", 0, "cert: cannot read '@/nope/missing.crt': No such file or directory" } } },
	{ "test_server_needs_cert_key_ca", "nocert.ini",
		ROUTE("s", "server", "127.0.0.1:7443", "127.0.0.1:8443")
		"\n"
		ROUTE("lb", "server", "127.0.0.1:7444", "127.0.0.1:8444")
		"client_auth = none\n"
		"cert = node.crt\n"
		"key = node.key\n", 3, {
		{ "[s]", 0, "[s]: missing 'cert': a server route presents a certificate" },
		{ "[s]", 0, "[s]: missing 'key': a server route needs the certificate's key" },
		{ "[s]", 0, "[s]: missing 'ca': it verifies client certificates "
		    "(or set client_auth = none)" } } },
	{ "test_client_needs_ca", "noca.ini",
		ROUTE("c", "client", "127.0.0.1:7443", "node2.example:7443")
		ROUTE("c2", "client", "127.0.0.1:7444", "unix:/run/peer.sock")
		"ca = ca.crt\n"
		"cert = node.crt\n", 3, {
		{ "[c]", 0, "[c]: missing 'ca': a client route always verifies the server" },
		{ "[c2]", 0, "[c2]: 'cert' and 'key' go together" },
		{ "[c2]", 0, "[c2]: missing 'server_name': connect is a unix socket, so "
		    "there is no host name to check the server's certificate against" } } },
	{ "test_keys_for_other_mode", "othermode.ini",
		GLOBAL_TLS
		ROUTE("c", "client", "127.0.0.1:7443", "node2.example:7443")
		"client_auth = require\n"
		"allow_peers = cn:x\n"
		"send_proxy = v2\n"
		ROUTE("s", "server", "127.0.0.1:7444", "127.0.0.1:8444")
		"server_name = node2.example\n"
		"expect_peers = cn:y\n", 5, {
		{ "client_auth", 0, "[c]: 'client_auth' applies to server routes only" },
		{ "allow_peers", 0, "[c]: 'allow_peers' applies to server routes only "
		    "(client routes use expect_peers)" },
		{ "send_proxy", 0, "[c]: 'send_proxy' applies to server routes only" },
		{ "server_name", 0, "[s]: 'server_name' applies to client routes only" },
		{ "expect_peers", 0, "[s]: 'expect_peers' applies to client routes only "
		    "(server routes use allow_peers)" } } },
	{ "test_allow_peers_auth_none", "authnone.ini",
		GLOBAL_TLS
		ROUTE("s", "server", "127.0.0.1:7443", "127.0.0.1:8443")
		"allow_peers = dns:*.example\n"
		"client_auth = none\n", 1, {
		{ "allow_peers", 0, "[s]: 'allow_peers' needs client certificates; it "
		    "cannot be used with client_auth = none" } } },
	{ "test_bad_list_item", "badlist.ini",
		GLOBAL_TLS
		ROUTE("s", "server", "127.0.0.1:7443", "127.0.0.1:8443")
		"allow_peers = dns:ok.example, dns:foo*.x\n"
		"allow_cidr = 10.1.2.3/8\n", 2, {
		{ "allow_peers", 0, "allow_peers: dns: '*' must be a whole label, such "
		    "as *.example.com: 'dns:ok.example, dns:foo*.x'" },
		{ "allow_cidr", 0, "allow_cidr: address has bits set beyond the prefix "
		    "length: '10.1.2.3/8'" } } },
	/* One mistake, one message: a bad listen value must not also be
	 * reported as "port 0" or as clashing with another bad listen. */
	{ "test_bad_listen_reported_once", "badlisten.ini",
		GLOBAL_TLS
		ROUTE("a", "server", "127.0.0.1:0", "127.0.0.1:8443")
		ROUTE("b", "server", "::1:7443", "127.0.0.1:8444")
		ROUTE("c", "server", "7445", "127.0.0.1:8445"), 3, {
		{ "127.0.0.1:0", 0, "listen: port must be a number from 1 to 65535: '127.0.0.1:0'" },
		{ "::1:7443", 0, "listen: an IPv6 address needs brackets: [v6]:port: '::1:7443'" },
		{ "= 7445", 0, "listen: expected host:port, [v6]:port or unix:/path: '7445'" } } },
	{ "test_admin_listen_unix", "admin1.ini",
		GLOBAL_TLS
		"admin_listen = unix:/run/admin.sock\n"
		ROUTE("s", "server", "127.0.0.1:7443", "127.0.0.1:8443"), 1, {
		{ "admin_listen", 0, "admin_listen: a unix socket is not allowed here: "
		    "'unix:/run/admin.sock'" } } },
	{ "test_admin_listen_clash", "admin2.ini",
		GLOBAL_TLS
		"admin_listen = 127.0.0.1:9901\n"
		ROUTE("s", "server", "0.0.0.0:9901", "127.0.0.1:8443"), 1, {
		{ "listen = 0.0.0.0", 0, "listen 0.0.0.0:9901 clashes with admin_listen "
		    "(line {admin_listen})" } } },
	{ "test_global_keys_bad", "globals-bad.ini",
		GLOBAL_TLS
		"workers = 257\n"
		"user = no-such-user-mtlsd-test\n"
		"metrics_peer_limit = 1001\n"
		"readyz_upstream = sometimes\n"
		"drain_grace = 15\n"
		ROUTE("s", "server", "127.0.0.1:7443", "127.0.0.1:8443"), 5, {
		{ "workers", 0, "workers: expected auto or a number from 1 to 256: '257'" },
		{ "user", 0, "user: no such user 'no-such-user-mtlsd-test'" },
		{ "metrics_peer_limit", 0, "metrics_peer_limit: expected a number from 0 to 1000: '1001'" },
		{ "readyz", 0, "readyz_upstream: expected yes or no: 'sometimes'" },
		{ "drain_grace", 0, "drain_grace: a duration needs a unit: ms, s, m or h: '15'" } } },
	{ "test_empty_value", "emptyval.ini",
		GLOBAL_TLS
		"[s]\n"
		"mode = server\n"
		"listen = 127.0.0.1:7443\n"
		"connect =\n", 0, {
		{ "connect", 0, "connect: empty value" } } },
	/* loud, bogus, 10, b clashes, client_auth, [a] twice, c: listen,
	 * connect, cert, key: ten lines, one per problem. */
	{ "test_several_errors", "several.ini",
		"[global]\n"
		"log_level = loud\n"
		"ca = ca.crt\n"
		ROUTE("a", "server", "127.0.0.1:7443", "127.0.0.1:8443")
		"cert = node.crt\n"
		"key = node.key\n"
		"bogus = 1\n"
		"idle_timeout = 10\n"
		ROUTE("b", "client", "127.0.0.1:7443", "node2.example:7443")
		"client_auth = none\n"
		"[a]\n"
		"[c]\n"
		"mode = server\n", 10, {
		{ "loud", 0, "log_level: expected error, warn, info or debug: 'loud'" },
		{ "bogus", 0, "unknown key 'bogus'" },
		{ "idle_timeout", 0, "idle_timeout: a duration needs a unit: ms, s, m or h: '10'" },
		{ "listen", 2, "listen 127.0.0.1:7443 clashes with route [a] (line {listen})" },
		{ "client_auth", 0, "[b]: 'client_auth' applies to server routes only" },
		{ "[a]", 2, "route [a] appears twice (first at line {[a]})" },
		{ "[c]", 0, "[c]: missing 'listen'" },
		{ "[c]", 0, "[c]: missing 'connect'" },
		{ "[c]", 0, "[c]: missing 'cert': a server route presents a certificate" },
		{ "[c]", 0, "[c]: missing 'key': a server route needs the certificate's key" } } },
	{ "test_no_routes", "empty.ini", "", 1, {
		{ NULL, 0, "no routes: add a section such as [name] with mode, listen and connect" } } },
	{ "test_no_routes_global_only", "globalonly.ini", "; nothing\n" GLOBAL_TLS, 1, {
		{ NULL, 0, "no routes: add a section such as [name] with mode, listen and connect" } } },
	{ "test_transparent_refused", "transparent-bad.ini",
		GLOBAL_TLS
		ROUTE("t-fixed", "transparent", "127.0.0.1:15001", "10.0.0.2:7443")
		ROUTE("t-unix", "transparent", "unix:/run/t.sock", "original:7443")
		ROUTE("s-open", "server", "127.0.0.1:7443", "original")
		ROUTE("s-port", "server", "127.0.0.1:7444", "original:80")
		"allow_ports = 80\n"
		ROUTE("s-fixed", "server", "127.0.0.1:7445", "127.0.0.1:80")
		"allow_ports = 80\n"
		ROUTE("c-orig", "client", "127.0.0.1:7446", "original:7443")
		ROUTE("bad-ports", "server", "127.0.0.1:7447", "original")
		"allow_ports = 9000-8000, 0, 70000, 80x\n", 0, {
		{ "10.0.0.2:7443", 0, "[t-fixed]: a transparent route connects to "
		    "original:PORT, PORT being the peers' mtlsd server route" },
		{ "unix:/run", 0, "[t-unix]: a transparent route listens on TCP, where "
		    "nftables redirects connections" },
		{ "[s-open]", 0, "[s-open]: missing 'allow_ports': connect = original "
		    "reaches the ports that peers name, so list the ones they may reach" },
		{ "original:80", 0, "[s-port]: connect = original takes no port on a "
		    "server route: each tunnel names its own, within allow_ports" },
		{ "allow_ports = 80", 2, "[s-fixed]: 'allow_ports' applies to connect = "
		    "original only" },
		{ "original:7443", 2, "[c-orig]: connect = original:PORT is for "
		    "transparent routes" },
		{ "9000-8000", 0, "allow_ports: a range goes from low to high: "
		    "'9000-8000, 0, 70000, 80x'" } } },
};

/* msg with '@' the temp dir and "{needle}" the line of needle in text. */
static void
expand(const char *msg, const char *text, char *out, size_t len)
{
	size_t o = 0;

	for (const char *p = msg; *p != '\0' && o + 1 < len; p++) {
		if (*p == '@') {
			o += (size_t)snprintf(out + o, len - o, "%s", dir);
		} else if (*p == '{') {
			char needle[128];
			const char *end = strchr(p, '}');

			assert_non_null(end);
			assert_true((size_t)(end - p) < sizeof(needle));
			memcpy(needle, p + 1, (size_t)(end - p - 1));
			needle[end - p - 1] = '\0';
			o += (size_t)snprintf(out + o, len - o, "%d", line_of(text, needle));
			p = end;
		} else
			out[o++] = *p;
	}
	out[o < len ? o : len - 1] = '\0';
}

static void
test_refusal(void **state)
{
	const struct refusal *r = *state;
	char *text = with_dir(r->text), msg[2 * PATH_MAX + 512];
	int n = load_bad(r->file, text);

	if (r->lines != 0)
		assert_int_equal(n, r->lines);
	for (size_t i = 0; i < ROWS(r->errs) && r->errs[i].msg != NULL; i++) {
		expand(r->errs[i].msg, text, msg, sizeof(msg));
		if (r->errs[i].at == NULL) {
			char want[sizeof(msg) + PATH_MAX + 8];

			snprintf(want, sizeof(want), "%s: %s\n", cfgpath, msg);
			assert_string_equal(errtext, want);
		} else
			expect_error(nth_line_of(text, r->errs[i].at,
			    r->errs[i].nth > 0 ? r->errs[i].nth : 1), "%s", msg);
	}
	free(text);
}

/*
 * An indented "[name]" after a key: inih reads it as a continuation of that
 * key, so the loader must not also start a section there.  Either reading
 * is defensible; what is not is doing both, which turns "[b]" into a value
 * of 'connect' and every key under [b] into "takes one value".
 */
static void
test_indented_section_header(void **state)
{
	static const char text[] =
		GLOBAL_TLS
		ROUTE("a", "server", "127.0.0.1:7001", "127.0.0.1:8001")
		"  [b]\n"
		"  mode = server\n"
		"  listen = 127.0.0.1:7002\n"
		"  connect = 127.0.0.1:8002\n";
	struct config *cfg = load("indented.ini", text);

	(void)state;
	if (cfg != NULL) {
		/* Read as a section: then all of it. */
		const struct route_config *b = config_route(cfg, "b");
		assert_non_null(b);
		assert_int_equal(b->listen.port, 7002);
		assert_int_equal(config_route(cfg, "a")->connect.port, 8001);
		config_free(cfg);
		return;
	}
	/* Refused: then with one message at the indented header. */
	if (strstr(errtext, "connect: ") != NULL ||
	    strstr(errtext, "takes one value") != NULL ||
	    strstr(errtext, "[b]: missing") != NULL)
		fail_msg("indented [b] read both as a value and as a section:\n%s",
		    errtext);
	{
		char want[PATH_MAX + 32];
		int n = snprintf(want, sizeof(want), "%s:%d: ", cfgpath,
		    line_of(text, "  [b]"));
		assert_int_equal(strncmp(errtext, want, (size_t)n), 0);
	}
	assert_int_equal(strchr(errtext, '\n') - errtext + 1, (long)strlen(errtext));
}

/* Runs config_load as the nobody user; errtext gets errs. Returns -1 if it
 * could not drop privileges, else whether the config loaded (1) or not (0). */
static int
load_as_nobody(const char *path)
{
	char buf[4096];
	int fds[2], status, loaded = 0;
	size_t got = 0;
	ssize_t n;
	pid_t pid;

	assert_int_equal(pipe(fds), 0);
	assert_true((pid = fork()) != -1);
	if (pid == 0) {
		struct config *cfg;
		char *text = NULL;
		size_t len;
		FILE *errs;

		close(fds[0]);
		if (setgroups(0, NULL) == -1 || setgid(65534) == -1 ||
		    setuid(65534) == -1 || getuid() == 0)
			_exit(77);
		errs = open_memstream(&text, &len);
		if (errs == NULL)
			_exit(1);
		cfg = config_load(path, errs);
		fclose(errs);
		if (write(fds[1], cfg ? "1" : "0", 1) != 1 ||
		    write(fds[1], text, len) != (ssize_t)len)
			_exit(1);
		_exit(0);
	}
	close(fds[1]);
	while ((n = read(fds[0], buf + got, sizeof(buf) - 1 - got)) > 0)
		got += (size_t)n;
	close(fds[0]);
	buf[got] = '\0';
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == 77)
		return -1;
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_true(got >= 1);
	loaded = buf[0] == '1';
	free(errtext);
	assert_non_null(errtext = strdup(buf + 1));
	return loaded;
}

static void
test_unreadable_mode000(void **state)
{
	static const char text[] =
		GLOBAL_TLS
		ROUTE("r", "server", "127.0.0.1:7443", "127.0.0.1:8443")
		"key = locked.key\n";
	int loaded;

	(void)state;
	write_file("locked.key", "");
	assert_int_equal(chmod(in_dir("locked.key"), 0), 0);
	write_file("mode000.ini", text);
	snprintf(cfgpath, sizeof(cfgpath), "%s", in_dir("mode000.ini"));
	if (geteuid() != 0) {
		struct config *cfg = load_path(cfgpath);
		config_free(cfg);
		loaded = cfg != NULL;
	} else {
		/* root reads anything: check as nobody, which needs a path it can walk. */
		static const char *const files[] = {
			"mode000.ini", "node.crt", "node.key", "ca.crt",
		};
		struct stat st;

		assert_int_equal(stat(dir, &st), 0);
		assert_int_equal(chmod(dir, 0755), 0);
		for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
			assert_int_equal(chmod(in_dir(files[i]), 0644), 0);
		loaded = load_as_nobody(cfgpath);
		assert_int_equal(chmod(dir, st.st_mode & 07777), 0);
		if (loaded == -1)
			skip();	/* running as root and cannot become nobody */
	}
	assert_int_equal(loaded, 0);
	expect_error(line_of(text, "locked.key"),
	    "key: cannot read '%s': Permission denied", in_dir("locked.key"));
	assert_int_equal(strchr(errtext, '\n') - errtext + 1, (long)strlen(errtext));
}

static void
test_long_line(void **state)
{
	/* The reader hands inih lines of at most INI_MAX_LINE - 2 characters. */
	enum { MAX = INI_MAX_LINE - 2 };
	char text[4096], line[INI_MAX_LINE + 8];
	struct config *cfg;
	int len;

	(void)state;
	/* Exactly MAX characters: accepted. */
	len = snprintf(line, sizeof(line), "allow_peers = cn:");
	memset(line + len, 'x', (size_t)(MAX - len));
	line[MAX] = '\0';
	snprintf(text, sizeof(text), GLOBAL_TLS "[r]\nmode = server\n"
	    "listen = 127.0.0.1:7443\nconnect = 127.0.0.1:8443\n%s\n", line);
	cfg = load_ok("maxline.ini", text);
	assert_int_equal(config_route(cfg, "r")->n_allow_peers, 1);
	assert_int_equal(strlen(config_route(cfg, "r")->allow_peers[0].text),
	    MAX - strlen("allow_peers = cn:"));
	config_free(cfg);

	/* One more: refused at its line, not split into two. */
	line[MAX] = 'x';
	line[MAX + 1] = '\0';
	snprintf(text, sizeof(text), GLOBAL_TLS "[r]\nmode = server\n"
	    "listen = 127.0.0.1:7443\nconnect = 127.0.0.1:8443\n%s\n", line);
	assert_int_equal(load_bad("longline.ini", text), 1);
	expect_error(line_of(text, "allow_peers"),
	    "line too long (at most %d characters); split a list over several "
	    "indented lines", MAX);

	/* Much longer, and a comment at that. */
	memset(text, 0, sizeof(text));
	strcpy(text, GLOBAL_TLS "[r]\nmode = server\n;");
	memset(text + strlen(text), 'c', 3000);
	strcat(text, "\nlisten = 127.0.0.1:7443\nconnect = 127.0.0.1:8443\n");
	assert_int_equal(load_bad("longcomment.ini", text), 1);
	expect_error(line_of(text, ";c"),
	    "line too long (at most %d characters); split a list over several "
	    "indented lines", MAX);
}

/* A file saved with CRLF endings reads the same, limits and all. */
static void
test_crlf(void **state)
{
	enum { MAX = INI_MAX_LINE - 2 };
	char text[4096], line[INI_MAX_LINE];
	struct config *cfg;
	const struct route_config *r;
	int len;

	(void)state;
	len = snprintf(line, sizeof(line), "allow_peers = cn:");
	memset(line + len, 'y', (size_t)(MAX - len));
	line[MAX] = '\0';
	snprintf(text, sizeof(text),
	    "[global]\r\ncert = node.crt\r\nkey = node.key\r\nca = ca.crt\r\n"
	    "[r]\r\nmode = server\r\nlisten = 127.0.0.1:7443\r\n"
	    "connect = 127.0.0.1:8443\r\n"
	    "%s\r\n"
	    "  , dns:a.example\r\n", line);
	cfg = load_ok("crlf.ini", text);
	assert_non_null(r = config_route(cfg, "r"));
	assert_string_equal(r->cert, in_dir("node.crt"));
	assert_int_equal(r->connect.port, 8443);
	assert_int_equal(r->n_allow_peers, 2);
	assert_int_equal(strlen(r->allow_peers[0].text), MAX - strlen("allow_peers = cn:"));
	assert_string_equal(r->allow_peers[1].text, "a.example");
	config_free(cfg);
}

static void
test_cannot_open(void **state)
{
	char want[PATH_MAX + 128];
	const char *path = in_dir("does-not-exist.ini");

	(void)state;
	assert_null(load_path(path));
	snprintf(want, sizeof(want), "%s: cannot open: No such file or directory\n",
	    path);
	assert_string_equal(errtext, want);
}

static void
test_transparent_routes(void **state)
{
	static const char text[] =
		GLOBAL_TLS
		ROUTE("mesh-out", "transparent", "127.0.0.1:15001", "original:7443")
		"expect_peers = uri:spiffe://mesh/node/*\n"
		ROUTE("mesh-in", "server", "0.0.0.0:7443", "original")
		"allow_ports = 29500, 40000-40010,\n"
		"  8080\n";
	struct config *cfg = load_ok("transparent.ini", text);
	const struct route_config *out = config_route(cfg, "mesh-out");
	const struct route_config *in = config_route(cfg, "mesh-in");

	(void)state;
	assert_int_equal(out->mode, MODE_TRANSPARENT);
	assert_true(out->connect_original);
	assert_int_equal(out->connect.port, 7443);
	assert_string_equal(config_mode_name(out->mode), "transparent");
	assert_true(out->session_resumption);	/* a ticket per peer */
	assert_int_equal(in->mode, MODE_SERVER);
	assert_true(in->connect_original);
	assert_true(in->session_resumption);
	assert_int_equal(in->n_allow_ports, 3);
	assert_int_equal(in->allow_ports[0].lo, 29500);
	assert_int_equal(in->allow_ports[0].hi, 29500);
	assert_int_equal(in->allow_ports[1].lo, 40000);
	assert_int_equal(in->allow_ports[1].hi, 40010);
	assert_int_equal(in->allow_ports[2].lo, 8080);
	config_free(cfg);
}

static void
test_route_lookup_and_free(void **state)
{
	static const char text[] =
		GLOBAL_TLS
		"[one]\nmode = server\nlisten = 127.0.0.1:7001\nconnect = 127.0.0.1:8001\n"
		"[two]\nmode = server\nlisten = 127.0.0.1:7002\nconnect = 127.0.0.1:8002\n"
		"[three]\nmode = server\nlisten = 127.0.0.1:7003\nconnect = 127.0.0.1:8003\n";
	struct config *cfg = load_ok("lookup.ini", text);

	(void)state;
	assert_int_equal(cfg->nroutes, 3);
	assert_ptr_equal(config_route(cfg, "one"), &cfg->routes[0]);
	assert_ptr_equal(config_route(cfg, "two"), &cfg->routes[1]);
	assert_ptr_equal(config_route(cfg, "three"), &cfg->routes[2]);
	assert_int_equal(config_route(cfg, "three")->listen.port, 7003);
	assert_null(config_route(cfg, "four"));
	assert_null(config_route(cfg, ""));
	assert_null(config_route(cfg, "tw"));
	assert_string_equal(config_key_name(RK_ALLOW_PEERS), "allow_peers");
	assert_string_equal(config_key_name(RK_BUFFER_SIZE), "buffer_size");
	config_free(cfg);
	config_free(NULL);
}

/* 63 characters is a good route name (64 is refused, above). */
static void
test_section_name_63(void **state)
{
	struct config *cfg;

	(void)state;
	assert_int_equal(strlen("this-name-is-sixty-four-characters-long-which-is-one-too-many-xy"),
	    64);
	cfg = load_ok("name63.ini",
	    GLOBAL_TLS
	    "[this-name-is-sixty-three-characters-long-which-is-just-allowedx]\n"
	    "mode = server\n"
	    "listen = 127.0.0.1:7443\n"
	    "connect = 127.0.0.1:8443\n");
	assert_non_null(config_route(cfg,
	    "this-name-is-sixty-three-characters-long-which-is-just-allowedx"));
	config_free(cfg);
}

/* allow_peers with client_auth = optional (none is refused, above). */
static void
test_allow_peers_auth_optional(void **state)
{
	static const char optional[] =
		GLOBAL_TLS
		ROUTE("s", "server", "127.0.0.1:7443", "127.0.0.1:8443")
		"allow_peers = dns:*.example\n"
		"client_auth = OPTIONAL\n";
	struct config *cfg;

	(void)state;
	cfg = load_ok("authopt.ini", optional);
	assert_int_equal(config_route(cfg, "s")->client_auth, CLIENT_AUTH_OPTIONAL);
	config_free(cfg);
}

/* An empty admin_listen turns the admin endpoint off. */
static void
test_admin_listen_off(void **state)
{
	static const char off[] =
		GLOBAL_TLS
		"admin_listen =\n"
		"audit_log = -\n"
		ROUTE("s", "server", "0.0.0.0:9901", "127.0.0.1:8443");
	struct config *cfg;

	(void)state;
	cfg = load_ok("admin3.ini", off);
	assert_false(cfg->admin_enabled);
	assert_string_equal(cfg->audit_log, "-");
	config_free(cfg);
}

static void
test_global_keys(void **state)
{
	static const char good[] =
		GLOBAL_TLS
		"workers = auto\n"
		"user = root\n"
		"drain_timeout = 2m\n"
		"drain_grace = 15s\n"
		"audit_log = audit/log.jsonl\n"
		"metrics_peer_limit = 1000\n"
		"readyz_upstream = yes\n"
		ROUTE("s", "server", "127.0.0.1:7443", "127.0.0.1:8443");
	struct config *cfg;

	(void)state;
	cfg = load_ok("globals.ini", good);
	assert_int_equal(cfg->workers, 0);
	assert_string_equal(cfg->user, "root");
	assert_int_equal(cfg->drain_timeout_ms, 120000);
	assert_int_equal(cfg->drain_grace_ms, 15000);
	assert_string_equal(cfg->audit_log, in_dir("audit/log.jsonl"));
	assert_int_equal(cfg->metrics_peer_limit, 1000);
	assert_true(cfg->readyz_upstream);
	config_free(cfg);
}

int
main(void)
{
	static const struct CMUnitTest files[] = {
		cmocka_unit_test(test_good_pair),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_inheritance),
		cmocka_unit_test(test_relative_config_path),
		cmocka_unit_test(test_lists),
		cmocka_unit_test(test_section_name_63),
		cmocka_unit_test(test_indented_section_header),
		cmocka_unit_test(test_unreadable_mode000),
		cmocka_unit_test(test_long_line),
		cmocka_unit_test(test_crlf),
		cmocka_unit_test(test_allow_peers_auth_optional),
		cmocka_unit_test(test_admin_listen_off),
		cmocka_unit_test(test_global_keys),
		cmocka_unit_test(test_cannot_open),
		cmocka_unit_test(test_route_lookup_and_free),
		cmocka_unit_test(test_transparent_routes),
	};
	struct CMUnitTest tests[ROWS(files) + ROWS(refusals)];
	size_t n = 0;

	TESTS_APPEND(tests, n, files);
	ROW_TESTS(tests, n, refusals, test_refusal);
	return _cmocka_run_group_tests("config", tests, n, setup, teardown);
}
