/*
 * sock.h: socket plumbing: listening groups, non-blocking connects, names.
 */
#ifndef MTLSD_PROXY_SOCK_H
#define MTLSD_PROXY_SOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "config/parse.h"

/* A resolved socket address. */
struct sockname {
	struct sockaddr_storage ss;
	socklen_t len;
};

/* Longest string sock_format() writes, with its NUL. */
#define SOCK_NAME_MAX 128

/*
 * Resolves a listen address (a literal, a name such as localhost, or a unix
 * path) to one socket address, synchronously: for start-up only.
 * Returns 0, or -1 with a message in err.
 */
int sock_resolve(const struct addr *a, bool passive, struct sockname *out,
    char *err, size_t errlen);

/*
 * Opens n listening sockets on a, one per worker.  TCP: n sockets with
 * SO_REUSEPORT, so the kernel spreads connections over the workers; before
 * that, a probe bind without SO_REUSEPORT makes sure no other process holds
 * the port (SO_REUSEPORT would otherwise quietly share it with them).  Unix:
 * one socket, duplicated; a stale socket file is removed first, a live one
 * is an error.  Returns 0 with fds[0..n) set, or -1 with a message in err.
 */
int sock_listen_group(const struct addr *a, int n, int *fds, char *err, size_t errlen);

/*
 * Starts a non-blocking connect to sn.  Returns the fd (connect done or in
 * progress: wait for writable, then sock_connect_result()), or -1 with errno.
 */
int sock_connect(const struct sockname *sn);

/* After a connecting fd turned writable: 0 if connected, else an errno. */
int sock_connect_result(int fd);

/* Sets TCP_NODELAY on TCP sockets; a no-op for unix sockets. */
void sock_nodelay(int fd);

/* "1.2.3.4:5", "[::1]:5" or "unix:/path" into buf. */
void sock_format(const struct sockaddr *sa, socklen_t len, char *buf, size_t buflen);

#endif /* MTLSD_PROXY_SOCK_H */
