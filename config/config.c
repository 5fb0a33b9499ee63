/*
 * config.c: reading the INI file with inih into struct config.
 *
 * inih does the tokenizing; this file owns the line reader (so every message
 * can name its line, and sections without keys are still seen) and the
 * sections.  The key table and value parsing are in config_keys.c,
 * inheritance and cross-key checks in config_check.c.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "config/config.h"
#include "config/config_int.h"

void
loader_error(struct loader *L, int line, const char *fmt, ...)
{
	va_list ap;

	fprintf(L->errs, "%s:%d: ", L->cfg->path, line);
	va_start(ap, fmt);
	vfprintf(L->errs, fmt, ap);
	va_end(ap);
	fputc('\n', L->errs);
	L->nerr++;
}

/* inih's callback: one key = value line (or a continuation of one). */
static int
on_key(void *user, const char *section, const char *name, const char *value)
{
	struct loader *L = user;
	const struct key_def *kd = config_find_key(name);
	struct route_config *r = L->cur;
	const char *why = NULL;
	int *line;

	(void)section;	/* the reader tracked the section already */
	if (!L->in_section) {
		loader_error(L, L->lineno, "'%s' is outside any section; "
		    "put it under [global] or a route", name);
		return 1;
	}
	if (kd == NULL) {
		config_unknown_key(L, name);
		return 1;
	}
	if (L->in_global && kd->scope == SCOPE_ROUTE) {
		loader_error(L, L->lineno, "'%s' belongs in a route section, "
		    "not [global]", name);
		return 1;
	}
	if (!L->in_global && kd->scope == SCOPE_GLOBAL) {
		loader_error(L, L->lineno, "'%s' belongs in [global]", name);
		return 1;
	}
	line = kd->scope == SCOPE_GLOBAL ? &L->cfg->global_line[kd->id] :
	    &r->line[kd->id];
	if (*line != 0 && !kd->list) {
		if (L->continuation)
			loader_error(L, L->lineno, "'%s' takes one value; this "
			    "indented line continues it", name);
		else
			loader_error(L, L->lineno, "'%s' is set twice (first at "
			    "line %d)", name, *line);
		return 1;
	}
	if (*value == '\0' && !(kd->scope == SCOPE_GLOBAL && (kd->id == GK_AUDIT_LOG ||
	    kd->id == GK_ADMIN_LISTEN || kd->id == GK_USER))) {
		loader_error(L, L->lineno, "%s: empty value", name);
		return 1;
	}
	if (*line == 0)
		*line = L->lineno;
	if (kd->scope == SCOPE_GLOBAL) {
		if (config_set_global_key(L, (enum global_key)kd->id, value, &why) == -1)
			loader_error(L, L->lineno, "%s: %s: '%s'", name, why, value);
	} else if (config_set_route_key(L, r, (enum route_key)kd->id, value, &why) == -1) {
		loader_error(L, L->lineno, "%s: %s: '%s'", name, why, value);
	}
	return 1;
}

static bool
valid_route_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= sizeof(((struct route_config *)0)->name))
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_' && *s != '.')
			return false;
	return true;
}

/* Keys of a refused section go nowhere: a fresh throwaway route each time,
 * so they are not mistaken for duplicates of another refused section's. */
static void
use_discard(struct loader *L)
{
	route_free_fields(&L->discard);
	route_init_defaults(&L->discard);
	L->cur = &L->discard;
}

/* A "[name]" line: starts a section, creating the route it names. */
static void
begin_section(struct loader *L, const char *name)
{
	struct route_config *grown;

	L->in_section = true;
	L->in_global = false;
	L->cur = NULL;
	if (strcmp(name, "global") == 0) {
		if (L->global_line != 0)
			loader_error(L, L->lineno, "[global] appears twice "
			    "(first at line %d)", L->global_line);
		L->global_line = L->lineno;
		L->in_global = true;
		L->cur = &L->cfg->defaults;
		return;
	}
	if (!valid_route_name(name)) {
		loader_error(L, L->lineno, "bad section name [%s]: a route name "
		    "is 1-63 letters, digits, '-', '_' or '.'", name);
		use_discard(L);
		return;
	}
	for (size_t i = 0; i < L->cfg->nroutes; i++) {
		if (strcmp(L->cfg->routes[i].name, name) == 0) {
			loader_error(L, L->lineno, "route [%s] appears twice "
			    "(first at line %d)", name, L->cfg->routes[i].section_line);
			use_discard(L);
			return;
		}
	}
	grown = realloc(L->cfg->routes, (L->cfg->nroutes + 1) * sizeof(*grown));
	if (grown == NULL) {
		loader_error(L, L->lineno, "out of memory");
		use_discard(L);
		return;
	}
	L->cfg->routes = grown;
	L->cur = &grown[L->cfg->nroutes++];
	route_init_defaults(L->cur);
	snprintf(L->cur->name, sizeof(L->cur->name), "%s", name);
	L->cur->section_line = L->lineno;
}

/*
 * inih's line reader.  Counting lines here is what lets every message name
 * its line (Debian's inih is built without INI_HANDLER_LINENO).  Lines longer
 * than inih's buffer are refused rather than silently split.
 */
static char *
read_line(char *str, int num, void *stream)
{
	struct loader *L = stream;
	ssize_t n = getline(&L->linebuf, &L->linecap, L->in);
	const char *p;

	if (n < 0)
		return NULL;
	L->lineno++;
	if (n > 0 && L->linebuf[n - 1] == '\n')
		L->linebuf[--n] = '\0';
	if (n > 0 && L->linebuf[n - 1] == '\r')
		L->linebuf[--n] = '\0';
	L->continuation = n > 0 && (L->linebuf[0] == ' ' || L->linebuf[0] == '\t');
	if (n + 2 > num) {
		loader_error(L, L->lineno, "line too long (at most %d characters); "
		    "split a list over several indented lines", num - 2);
		str[0] = '\0';
		return str;
	}
	memcpy(str, L->linebuf, (size_t)n);
	str[n] = '\n';
	str[n + 1] = '\0';

	/* Classify the line exactly as inih will, so both agree on it. */
	for (p = L->linebuf; isspace((unsigned char)*p); p++)
		;
	if (*p == '\0' || *p == ';' || *p == '#')
		return str;		/* blank or comment */
	/*
	 * Indented lines: a header or a "key = value" stays what it is (hand
	 * inih the unindented text, or it would take it for a continuation);
	 * anything else after a key continues that key's list.
	 */
	if (p > L->linebuf) {
		if (*p != '[' && strchr(p, '=') == NULL && L->prev_key)
			return str;	/* continues the previous key */
		memmove(str, p, strlen(p) + 1);
		strcat(str, "\n");
	}
	L->continuation = false;
	if (*p == '[') {
		const char *end = strchr(p, ']');
		char name[128];
		size_t len = end ? (size_t)(end - p - 1) : 0;

		L->prev_key = false;
		if (end == NULL || len >= sizeof(name)) {
			loader_error(L, L->lineno, "malformed section header");
			L->syntax_line = L->syntax_line ? L->syntax_line : L->lineno;
			L->in_section = true;
			L->in_global = false;
			use_discard(L);
		} else {
			memcpy(name, p + 1, len);
			name[len] = '\0';
			begin_section(L, name);
		}
	} else if (strpbrk(p, "=:") == NULL) {
		loader_error(L, L->lineno, "syntax error: expected [section] or "
		    "key = value");
		L->syntax_line = L->syntax_line ? L->syntax_line : L->lineno;
	} else {
		L->prev_key = true;
	}
	return str;
}

struct config *
config_load(const char *path, FILE *errs)
{
	struct loader L;
	struct config *cfg;
	char *slash;
	int rc;

	memset(&L, 0, sizeof(L));
	L.errs = errs;
	if ((cfg = calloc(1, sizeof(*cfg))) == NULL) {
		fprintf(errs, "%s: out of memory\n", path);
		return NULL;
	}
	L.cfg = cfg;
	cfg->log_level = LOG_LEVEL_INFO;
	cfg->drain_timeout_ms = CONFIG_DEFAULT_DRAIN_TIMEOUT_MS;
	cfg->drain_grace_ms = CONFIG_DEFAULT_DRAIN_GRACE_MS;
	cfg->sandbox = true;
	route_init_defaults(&cfg->defaults);
	route_init_defaults(&L.discard);
	if ((cfg->path = strdup(path)) == NULL)
		goto oom;
	if (path[0] == '/' || strchr(path, '/') != NULL) {
		char *copy = strdup(path);
		if (copy == NULL)
			goto oom;
		slash = strrchr(copy, '/');
		if (slash == copy)
			slash[1] = '\0';
		else
			*slash = '\0';
		cfg->dir = copy;
	} else {
		cfg->dir = strdup(".");
		if (cfg->dir == NULL)
			goto oom;
	}
	/* Relative dirs become absolute: paths must survive a later chdir. */
	if (cfg->dir[0] != '/') {
		char *abs = realpath(cfg->dir, NULL);
		if (abs != NULL) {
			free(cfg->dir);
			cfg->dir = abs;
		}
	}

	if ((L.in = fopen(path, "r")) == NULL) {
		fprintf(errs, "%s: cannot open: %s\n", path, strerror(errno));
		goto fail;
	}
	rc = ini_parse_stream(read_line, &L, on_key, &L);
	/* inih names only its first bad line; the reader reported each one. */
	if (rc > 0 && rc != L.syntax_line)
		loader_error(&L, rc, "syntax error: expected [section] or key = value");
	else if (rc < 0)
		loader_error(&L, 0, "read error");
	fclose(L.in);
	free(L.linebuf);
	L.linebuf = NULL;

	config_check(&L);
	route_free_fields(&L.discard);
	if (L.nerr > 0)
		goto fail;
	return cfg;
oom:
	fprintf(errs, "%s: out of memory\n", path);
fail:
	free(L.linebuf);
	route_free_fields(&L.discard);
	config_free(cfg);
	return NULL;
}

void
config_free(struct config *cfg)
{
	if (cfg == NULL)
		return;
	for (size_t i = 0; i < cfg->nroutes; i++)
		route_free_fields(&cfg->routes[i]);
	free(cfg->routes);
	route_free_fields(&cfg->defaults);
	free(cfg->path);
	free(cfg->dir);
	free(cfg->audit_log);
	free(cfg->user);
	free(cfg->allow_inbound);
	free(cfg);
}

const struct route_config *
config_route(const struct config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->nroutes; i++)
		if (strcmp(cfg->routes[i].name, name) == 0)
			return &cfg->routes[i];
	return NULL;
}
