/*
 * fdbudget.h: file descriptors as a budget shared by the workers.
 *
 * Each connection costs a known number of descriptors: the accepted socket
 * and the one mtlsd opens, plus two pipes (four fds) where records may go
 * to kernel TLS.  A connection is accepted only if its whole cost fits, so
 * that running low never costs a full handshake that then fails to open
 * its upstream: the client is turned away at once, and the worker stops
 * accepting until descriptors come back.
 */
#ifndef MTLSD_PROXY_FDBUDGET_H
#define MTLSD_PROXY_FDBUDGET_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "config/config.h"

struct fd_budget {
	long limit;		/* RLIMIT_NOFILE, soft, after raising it */
	long reserve;		/* kept for everything that is not a connection */
	atomic_long used;	/* held by connections */
};

/*
 * Raises the soft RLIMIT_NOFILE to the hard limit (as nginx and haproxy
 * do) and sets the budget, keeping a reserve above the descriptors open
 * now.  Writes what it did to msg.  Returns 0, or -1 if the limit could
 * not be read.
 */
int fd_budget_init(struct fd_budget *b, char *msg, size_t len);

/* Descriptors one connection of the route may hold. */
int fd_budget_conn_cost(const struct route_config *rc);

/* What all routes' max_connections would hold at once. */
long fd_budget_needed(const struct config *cfg);

/* Takes n descriptors if they fit (true), or takes none (false). */
bool fd_budget_take(struct fd_budget *b, int n);
void fd_budget_give(struct fd_budget *b, int n);

#endif /* MTLSD_PROXY_FDBUDGET_H */
