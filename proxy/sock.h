/*
 * sock.h: socket plumbing: listening groups, non-blocking connects, names.
 */
#ifndef MTLSD_PROXY_SOCK_H
#define MTLSD_PROXY_SOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
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
 * is an error.  backlog goes to listen(2).  Returns 0 with fds[0..n) set, or -1 with a message in err.
 */
int sock_listen_group(const struct addr *a, int n, int backlog, int *fds,
    char *err, size_t errlen);

/* The listen backlog when the config names none: the kernel's somaxconn,
 * and at least 1024 (the kernel caps any backlog at somaxconn). */
int sock_default_backlog(void);

/*
 * Starts a non-blocking connect to sn.  Returns the fd (connect done or in
 * progress: wait for writable, then sock_connect_result()), or -1 with errno.
 */
int sock_connect(const struct sockname *sn);

/* After a connecting fd turned writable: 0 if connected, else an errno. */
int sock_connect_result(int fd);

/* Sets TCP_NODELAY on TCP sockets; a no-op for unix sockets. */
void sock_nodelay(int fd);

/*
 * Where an accepted TCP connection was going before nftables redirected it
 * (SO_ORIGINAL_DST, or its IPv6 twin), from the connection's conntrack
 * entry.  Returns 0, or an errno (ENOENT: no NAT entry).
 */
int sock_original_dst(int fd, struct sockname *out);

/* The socket's own address (getsockname).  Returns 0 or an errno. */
int sock_local(int fd, struct sockname *out);

/* Whether two AF_INET/AF_INET6 addresses are the same host; an IPv4-mapped
 * IPv6 address equals its IPv4 form.  Ports are not compared. */
bool sock_same_host(const struct sockaddr *a, const struct sockaddr *b);

/* An IPv4-mapped IPv6 address (a dual-stack socket's view of IPv4) becomes
 * plain AF_INET; anything else is left alone. */
void sock_unmap_v4(struct sockname *sn);

/* The port of an AF_INET/AF_INET6 address (0 for others), and setting it. */
uint16_t sock_port(const struct sockaddr *sa);

/* Whether sa (AF_INET or AF_INET6) is one of this host's addresses: it
 * can be bound.  A few syscalls: for connection set-up, not the data path. */
bool sock_is_local_addr(const struct sockaddr *sa);
void sock_set_port(struct sockname *sn, uint16_t port);

/* The host alone: "1.2.3.4" or "::1" (an IPv4-mapped address in its IPv4
 * form), as a certificate's ip: SAN is checked against. */
void sock_format_host(const struct sockaddr *sa, char *buf, size_t buflen);

/* "1.2.3.4:5", "[::1]:5" or "unix:/path" into buf. */
void sock_format(const struct sockaddr *sa, socklen_t len, char *buf, size_t buflen);

#endif /* MTLSD_PROXY_SOCK_H */
