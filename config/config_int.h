/*
 * config_int.h: shared between config.c (reading) and config_check.c
 * (inheritance and validation).  Not for other modules.
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
