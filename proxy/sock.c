/*
 * sock.c: socket plumbing (see sock.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "proxy/sock.h"

#define LISTEN_BACKLOG_MIN 1024

int
sock_resolve(const struct addr *a, bool passive, struct sockname *out,
    char *err, size_t errlen)
{
	struct addrinfo hints, *res = NULL;
	char port[8];
	int rc;

	memset(out, 0, sizeof(*out));
	if (a->kind == ADDR_UNIX) {
		struct sockaddr_un *sun = (struct sockaddr_un *)&out->ss;
		sun->sun_family = AF_UNIX;
		memcpy(sun->sun_path, a->path, strlen(a->path) + 1);
		out->len = (socklen_t)sizeof(*sun);
		return 0;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
	snprintf(port, sizeof(port), "%u", a->port);
	if ((rc = getaddrinfo(a->host, port, &hints, &res)) != 0) {
		snprintf(err, errlen, "%s: cannot resolve: %s", a->text, gai_strerror(rc));
		return -1;
	}
	memcpy(&out->ss, res->ai_addr, res->ai_addrlen);
	out->len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

static int
set_int(int fd, int level, int opt, int v)
{
	return setsockopt(fd, level, opt, &v, sizeof(v));
}

int
sock_default_backlog(void)
{
	FILE *f = fopen("/proc/sys/net/core/somaxconn", "re");
	int n = 0;

	if (f != NULL) {
		if (fscanf(f, "%d", &n) != 1)
			n = 0;
		fclose(f);
	}
	return n > LISTEN_BACKLOG_MIN ? n : LISTEN_BACKLOG_MIN;
}

/* backlog 0: bind only (the probe). */
static int
listen_one(const struct sockname *sn, bool reuseport, int backlog)
{
	int fd = socket(sn->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd == -1)
		return -1;
	if (sn->ss.ss_family != AF_UNIX) {
		if (set_int(fd, SOL_SOCKET, SO_REUSEADDR, 1) == -1 ||
		    (reuseport && set_int(fd, SOL_SOCKET, SO_REUSEPORT, 1) == -1))
			goto fail;
		/* "[::]" means IPv6 only; 0.0.0.0 is its own route. */
		if (sn->ss.ss_family == AF_INET6 &&
		    set_int(fd, IPPROTO_IPV6, IPV6_V6ONLY, 1) == -1)
			goto fail;
	}
	if (bind(fd, (const struct sockaddr *)&sn->ss, sn->len) == -1)
		goto fail;
	if (backlog > 0 && listen(fd, backlog) == -1)
		goto fail;
	return fd;
fail:
	{
		int saved = errno;
		close(fd);
		errno = saved;
	}
	return -1;
}

/* A unix socket file left by a dead process is removed; a live one is not. */
static int
clear_stale_unix(const struct sockname *sn, const char *path)
{
	struct stat st;
	int fd, rc;

	if (lstat(path, &st) == -1)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISSOCK(st.st_mode)) {
		errno = EEXIST;
		return -1;
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	rc = connect(fd, (const struct sockaddr *)&sn->ss, sn->len);
	close(fd);
	if (rc == 0) {
		errno = EADDRINUSE;
		return -1;
	}
	return unlink(path);
}

int
sock_listen_group(const struct addr *a, int n, int backlog, int *fds, char *err,
    size_t errlen)
{
	struct sockname sn;
	int i, probe;

	for (i = 0; i < n; i++)
		fds[i] = -1;
	if (sock_resolve(a, true, &sn, err, errlen) == -1) {
		/* "listen HOST:PORT: cannot resolve: ...", as its other errors. */
		char why[256];
		snprintf(why, sizeof(why), "%s", err);
		snprintf(err, errlen, "listen %s", why);
		return -1;
	}
	if (a->kind == ADDR_UNIX) {
		if (clear_stale_unix(&sn, a->path) == -1) {
			snprintf(err, errlen, "listen %s: %s", a->text, errno == EEXIST ?
			    "the path exists and is not a socket" : strerror(errno));
			return -1;
		}
		if ((fds[0] = listen_one(&sn, false, backlog)) == -1)
			goto fail;
		for (i = 1; i < n; i++)
			if ((fds[i] = fcntl(fds[0], F_DUPFD_CLOEXEC, 0)) == -1)
				goto fail;
		return 0;
	}
	if ((probe = listen_one(&sn, false, 0)) == -1)
		goto fail;
	close(probe);
	for (i = 0; i < n; i++)
		if ((fds[i] = listen_one(&sn, true, backlog)) == -1)
			goto fail;
	return 0;
fail:
	snprintf(err, errlen, "listen %s: %s", a->text, strerror(errno));
	for (i = 0; i < n; i++) {
		if (fds[i] != -1)
			close(fds[i]);
		fds[i] = -1;
	}
	return -1;
}

int
sock_connect(const struct sockname *sn)
{
	int fd = socket(sn->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd == -1)
		return -1;
	if (connect(fd, (const struct sockaddr *)&sn->ss, sn->len) == -1 &&
	    errno != EINPROGRESS) {
		int saved = errno;
		close(fd);
		/* A unix listener with a full backlog says EAGAIN: it refused. */
		errno = saved == EAGAIN ? ECONNREFUSED : saved;
		return -1;
	}
	return fd;
}

int
sock_connect_result(int fd)
{
	int e = 0;
	socklen_t len = sizeof(e);

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len) == -1)
		return errno;
	return e;
}

void
sock_nodelay(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0 &&
	    (ss.ss_family == AF_INET || ss.ss_family == AF_INET6))
		(void)set_int(fd, IPPROTO_TCP, TCP_NODELAY, 1);
}

/* <linux/netfilter_ipv4.h> and <linux/netfilter_ipv6/ip6_tables.h> define
 * these, but clash with the libc headers. */
#ifndef SO_ORIGINAL_DST
#define SO_ORIGINAL_DST 80
#endif
#ifndef IP6T_SO_ORIGINAL_DST
#define IP6T_SO_ORIGINAL_DST 80
#endif

int
sock_original_dst(int fd, struct sockname *out)
{
	struct sockname local;
	int e;

	if ((e = sock_local(fd, &local)) != 0)
		return e;
	memset(out, 0, sizeof(*out));
	out->len = sizeof(out->ss);
	if (local.ss.ss_family == AF_INET6 &&
	    !IN6_IS_ADDR_V4MAPPED(&((struct sockaddr_in6 *)&local.ss)->sin6_addr)) {
		if (getsockopt(fd, IPPROTO_IPV6, IP6T_SO_ORIGINAL_DST, &out->ss,
		    &out->len) == -1)
			return errno;
		return 0;
	}
	/* IPv4, also on a dual-stack socket: the conntrack entry is IPv4. */
	if (getsockopt(fd, IPPROTO_IP, SO_ORIGINAL_DST, &out->ss, &out->len) == -1)
		return errno;
	return 0;
}

int
sock_local(int fd, struct sockname *out)
{
	memset(out, 0, sizeof(*out));
	out->len = sizeof(out->ss);
	return getsockname(fd, (struct sockaddr *)&out->ss, &out->len) == -1 ? errno : 0;
}

/* The 4 or 16 address bytes of sa, IPv4-mapped IPv6 as IPv4; NULL for
 * other families. */
static const uint8_t *
host_bytes(const struct sockaddr *sa, size_t *len)
{
	if (sa->sa_family == AF_INET) {
		*len = 4;
		return (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
	}
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		if (IN6_IS_ADDR_V4MAPPED(a)) {
			*len = 4;
			return a->s6_addr + 12;
		}
		*len = 16;
		return a->s6_addr;
	}
	return NULL;
}

bool
sock_same_host(const struct sockaddr *a, const struct sockaddr *b)
{
	size_t la = 0, lb = 0;
	const uint8_t *pa = host_bytes(a, &la), *pb = host_bytes(b, &lb);

	return pa != NULL && pb != NULL && la == lb && memcmp(pa, pb, la) == 0;
}

void
sock_unmap_v4(struct sockname *sn)
{
	struct sockaddr_in6 in6;
	struct sockaddr_in *in = (struct sockaddr_in *)&sn->ss;

	if (sn->ss.ss_family != AF_INET6)
		return;
	memcpy(&in6, &sn->ss, sizeof(in6));
	if (!IN6_IS_ADDR_V4MAPPED(&in6.sin6_addr))
		return;
	memset(&sn->ss, 0, sizeof(sn->ss));
	in->sin_family = AF_INET;
	in->sin_port = in6.sin6_port;
	memcpy(&in->sin_addr, in6.sin6_addr.s6_addr + 12, 4);
	sn->len = sizeof(*in);
}

uint16_t
sock_port(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)sa)->sin_port);
	if (sa->sa_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
	return 0;
}

void
sock_set_port(struct sockname *sn, uint16_t port)
{
	if (sn->ss.ss_family == AF_INET)
		((struct sockaddr_in *)&sn->ss)->sin_port = htons(port);
	else if (sn->ss.ss_family == AF_INET6)
		((struct sockaddr_in6 *)&sn->ss)->sin6_port = htons(port);
}

void
sock_format_host(const struct sockaddr *sa, char *buf, size_t buflen)
{
	size_t len = 0;
	const uint8_t *p = host_bytes(sa, &len);

	if (p == NULL || inet_ntop(len == 4 ? AF_INET : AF_INET6, p, buf,
	    (socklen_t)buflen) == NULL)
		snprintf(buf, buflen, "?");
}

void
sock_format(const struct sockaddr *sa, socklen_t len, char *buf, size_t buflen)
{
	char host[INET6_ADDRSTRLEN];

	switch (sa->sa_family) {
	case AF_INET: {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		snprintf(buf, buflen, "%s:%u", host, ntohs(in->sin_port));
		return;
	}
	case AF_INET6: {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		snprintf(buf, buflen, "[%s]:%u", host, ntohs(in6->sin6_port));
		return;
	}
	case AF_UNIX: {
		const struct sockaddr_un *sun = (const struct sockaddr_un *)sa;
		if (len > offsetof(struct sockaddr_un, sun_path) && sun->sun_path[0])
			snprintf(buf, buflen, "unix:%.*s", (int)(len -
			    offsetof(struct sockaddr_un, sun_path)), sun->sun_path);
		else
			snprintf(buf, buflen, "unix");
		return;
	}
	default:
		snprintf(buf, buflen, "?");
	}
}

bool
sock_is_local_addr(const struct sockaddr *sa)
{
	struct sockname sn;
	bool local;
	int fd;

	if (sa->sa_family != AF_INET && sa->sa_family != AF_INET6)
		return false;
	if ((fd = socket(sa->sa_family, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		return false;
	sn.len = sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) :
	    sizeof(struct sockaddr_in);
	memcpy(&sn.ss, sa, sn.len);
	sock_set_port(&sn, 0);
	local = bind(fd, (struct sockaddr *)&sn.ss, sn.len) == 0;
	close(fd);
	return local;
}
