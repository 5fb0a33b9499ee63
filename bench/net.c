/*
 * net.c: address parsing, resolution, listening and connecting (see bench.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "bench/bench.h"

int
net_parse_addr(const char *s, struct bench_addr *a, const char **why)
{
	const char *host, *hend, *port;
	struct in6_addr a6;
	size_t hlen;
	char *end;
	unsigned long n;

	memset(a, 0, sizeof(*a));
	if (strlen(s) >= sizeof(a->text)) {
		*why = "address too long";
		return -1;
	}
	strcpy(a->text, s);
	if (strncmp(s, "unix:", 5) == 0) {
		s += 5;
		if (*s == '\0' || strlen(s) >= sizeof(a->path)) {
			*why = "unix socket path empty or longer than 107 bytes";
			return -1;
		}
		a->is_unix = true;
		strcpy(a->path, s);
		return 0;
	}
	if (s[0] == '[') {
		host = s + 1;
		hend = strchr(host, ']');
		if (hend == NULL || hend[1] != ':') {
			*why = "expected [v6address]:port";
			return -1;
		}
	} else {
		host = s;
		hend = strrchr(s, ':');
		if (hend == NULL) {
			*why = "expected host:port, [v6]:port or unix:/path";
			return -1;
		}
		if (memchr(s, ':', (size_t)(hend - s)) != NULL) {
			*why = "an IPv6 address needs brackets: [v6]:port";
			return -1;
		}
	}
	hlen = (size_t)(hend - host);
	if (hlen == 0 || hlen >= sizeof(a->host)) {
		*why = "missing or overlong host";
		return -1;
	}
	memcpy(a->host, host, hlen);
	a->host[hlen] = '\0';
	if (s[0] == '[' && inet_pton(AF_INET6, a->host, &a6) != 1) {
		*why = "not a valid IPv6 address inside [ ]";
		return -1;
	}
	port = hend + (s[0] == '[' ? 2 : 1);
	errno = 0;
	n = strtoul(port, &end, 10);
	if (port[0] < '0' || port[0] > '9' || *end != '\0' || errno != 0 ||
	    n > 65535) {
		*why = "port must be a number from 0 to 65535";
		return -1;
	}
	snprintf(a->port, sizeof(a->port), "%lu", n);
	return 0;
}

int
net_resolve(const struct bench_addr *a, bool passive, struct bench_peer *p)
{
	struct addrinfo hints, *res = NULL, *ai;
	struct sockaddr_un *sun;
	int rc;

	memset(p, 0, sizeof(*p));
	p->text = a->text;
	if (a->is_unix) {
		sun = (struct sockaddr_un *)&p->ss[0];
		sun->sun_family = AF_UNIX;
		memcpy(sun->sun_path, a->path, strlen(a->path) + 1);
		p->len[0] = (socklen_t)sizeof(*sun);
		p->n = 1;
		return 0;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
	rc = getaddrinfo(a->host, a->port, &hints, &res);
	if (rc != 0) {
		bench_warnx("resolve %s: %s", a->host,
		    rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai != NULL && p->n < BENCH_MAX_AI; ai = ai->ai_next) {
		if (ai->ai_addrlen > sizeof(p->ss[0]))
			continue;
		memcpy(&p->ss[p->n], ai->ai_addr, ai->ai_addrlen);
		p->len[p->n] = ai->ai_addrlen;
		p->n++;
	}
	freeaddrinfo(res);
	if (p->n == 0) {
		bench_warnx("resolve %s: no usable address", a->host);
		return -1;
	}
	return 0;
}

static void
format_sockaddr(const struct sockaddr *sa, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN] = "?";

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		snprintf(buf, len, "%s:%u", host, ntohs(in->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		snprintf(buf, len, "[%s]:%u", host, ntohs(in6->sin6_port));
	} else
		snprintf(buf, len, "unix:%s",
		    ((const struct sockaddr_un *)sa)->sun_path);
}

/* Only a leftover socket is removed: a typo must not delete a real file. */
static void
unlink_stale(const char *path)
{
	struct stat st;

	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(path);
}

int
net_listen(const struct bench_addr *a, char *text, size_t textlen)
{
	struct bench_peer p;
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	int fd = -1, one = 1, saved = 0;

	if (net_resolve(a, true, &p) == -1)
		goto fail;
	if (a->is_unix)
		unlink_stale(a->path);
	for (int i = 0; i < p.n; i++) {
		fd = socket(p.ss[i].ss_family,
		    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd == -1) {
			saved = errno;
			continue;
		}
		if (!a->is_unix)
			setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, (struct sockaddr *)&p.ss[i], p.len[i]) == 0 &&
		    listen(fd, 4096) == 0)
			break;
		saved = errno;
		close(fd);
		fd = -1;
	}
	if (fd == -1) {
		errno = saved;
		bench_warn("listen %s", a->text);
		goto fail;
	}
	if (getsockname(fd, (struct sockaddr *)&ss, &sslen) == -1) {
		bench_warn("getsockname %s", a->text);
		goto fail_close;
	}
	format_sockaddr((struct sockaddr *)&ss, text, textlen);
	return fd;

fail_close:
	close(fd);
fail:
	return -1;
}

int
net_connect(const struct bench_peer *p, const char *who)
{
	int fd = -1, saved = 0;

	for (int i = 0; i < p->n; i++) {
		fd = socket(p->ss[i].ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd == -1) {
			saved = errno;
			continue;
		}
		if (connect(fd, (const struct sockaddr *)&p->ss[i], p->len[i]) == 0)
			return fd;
		saved = errno;
		close(fd);
		fd = -1;
	}
	errno = saved;
	if (who != NULL)
		bench_warn("%s: connect %s", who, p->text);
	else
		bench_warn("connect %s", p->text);
	return -1;
}

int
net_connect_start(const struct bench_peer *p, int i)
{
	int fd, saved;

	fd = socket(p->ss[i].ss_family,
	    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -1;
	if (connect(fd, (const struct sockaddr *)&p->ss[i], p->len[i]) == 0 ||
	    errno == EINPROGRESS)
		return fd;
	saved = errno;
	close(fd);
	errno = saved;
	return -1;
}

int
net_set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl == -1 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1) {
		bench_warn("fcntl O_NONBLOCK");
		return -1;
	}
	return 0;
}

void
net_nodelay(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int one = 1;

	if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0 &&
	    (ss.ss_family == AF_INET || ss.ss_family == AF_INET6))
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

void
net_timeouts(int fd, unsigned ms)
{
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

void
net_raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}
