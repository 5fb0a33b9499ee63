/*
 * config_int.h: shared between config.c (reading), config_keys.c (the key
 * table and values) and config_check.c (inheritance and validation).  Not
 * for other modules.
 */
#ifndef MTLSD_CONFIG_CONFIG_INT_H
#define MTLSD_CONFIG_CONFIG_INT_H

#include <stdbool.h>
#include <stdio.h>

#include "config/config.h"

struct loader {
	struct config *cfg;
	FILE *in;
	FILE *errs;
	int nerr;
	int lineno;
	bool continuation;	/* current line is indented: continues a key */
	char *linebuf;
	size_t linecap;
	bool in_section;
	bool in_global;
	int global_line;	/* line of [global], 0 if none */
	int syntax_line;	/* first line the reader found malformed */
	bool prev_key;		/* a key line came since the section header */
	struct route_config *cur;	/* section being filled */
	struct route_config discard;	/* target for keys of a bad section */
};

enum key_scope {
	SCOPE_GLOBAL = 1,	/* [global] only */
	SCOPE_ROUTE = 2,	/* routes only */
	SCOPE_BOTH = 3,		/* a route key whose default [global] can set */
};

struct key_def {
	const char *name;
	enum key_scope scope;
	int id;			/* enum route_key, or enum global_key for SCOPE_GLOBAL */
	bool list;		/* may repeat and continue over lines */
};

/* config_keys.c: the key named name, or NULL. */
const struct key_def *config_find_key(const char *name);

/* config_keys.c: reports an unknown key, with a "did you mean" for a key
 * that differs only in case. */
void config_unknown_key(struct loader *L, const char *name);

/* config_keys.c: reads v into route r's key k, or [global]'s key k.
 * Return 0, or -1 with *why a static message. */
int config_set_route_key(struct loader *L, struct route_config *r,
    enum route_key k, const char *v, const char **why);
int config_set_global_key(struct loader *L, enum global_key k, const char *v,
    const char **why);

/* Prints "FILE:LINE: message" and counts the error. */
void loader_error(struct loader *L, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Built-in defaults for a route (or for [global]'s TLS defaults). */
void route_init_defaults(struct route_config *r);

/* Frees what a route owns, not the route itself. */
void route_free_fields(struct route_config *r);

/* Fills unset route keys from [global], then checks each route. */
void config_check(struct loader *L);

#endif /* MTLSD_CONFIG_CONFIG_INT_H */
