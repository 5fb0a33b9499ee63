/*
 * net.c: resolving, listening and connecting (see bench.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "bench/bench.h"

int
net_resolve(const struct addr *a, bool passive, struct bench_peer *p)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
	    .ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0) }, *res, *ai;
	struct sockaddr_un *sun = (struct sockaddr_un *)&p->ss[0];
	char port[8];
	int rc;

	memset(p, 0, sizeof(*p));
	p->text = a->text;
	if (a->kind == ADDR_UNIX) {
		sun->sun_family = AF_UNIX;
		memcpy(sun->sun_path, a->path, strlen(a->path) + 1);
		p->len[0] = sizeof(*sun);
		p->n = 1;
		return 0;
	}
	snprintf(port, sizeof(port), "%u", a->port);
	rc = getaddrinfo(a->host, port, &hints, &res);
	if (rc != 0) {
		bench_warnx("resolve %s: %s", a->host,
		    rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai != NULL && p->n < BENCH_MAX_AI; ai = ai->ai_next) {
		if (ai->ai_addrlen > sizeof(p->ss[0]))
			continue;
		memcpy(&p->ss[p->n], ai->ai_addr, ai->ai_addrlen);
		p->len[p->n++] = ai->ai_addrlen;
	}
	freeaddrinfo(res);
	if (p->n == 0)
		bench_warnx("resolve %s: no usable address", a->host);
	return p->n > 0 ? 0 : -1;
}

int
net_listen(const struct addr *a)
{
	struct bench_peer p;
	struct stat st;
	int fd = -1, one = 1;

	if (net_resolve(a, true, &p) == -1)
		return -1;
	/* Only a leftover socket is removed: a typo must not delete a file. */
	if (a->kind == ADDR_UNIX && lstat(a->path, &st) == 0 &&
	    S_ISSOCK(st.st_mode))
		unlink(a->path);
	for (int i = 0; i < p.n && fd == -1; i++) {
		fd = socket(p.ss[i].ss_family,
		    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd == -1)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, (struct sockaddr *)&p.ss[i], p.len[i]) == -1 ||
		    listen(fd, 4096) == -1) {
			close(fd);
			fd = -1;
		}
	}
	if (fd == -1) {
		bench_warn("listen %s", a->text);
		return -1;
	}
	printf("listening %s\n", a->text);
	fflush(stdout);
	return fd;
}

int
net_connect(const struct bench_peer *p, unsigned ms)
{
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = ms % 1000 * 1000 };
	int fd, one = 1, saved = EINVAL;

	for (int i = 0; i < p->n; i++) {
		fd = socket(p->ss[i].ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd == -1) {
			saved = errno;
			continue;
		}
		if (connect(fd, (const struct sockaddr *)&p->ss[i], p->len[i]) == 0) {
			/* rr and connrate measure latency, not Nagle. */
			if (p->ss[i].ss_family != AF_UNIX)
				setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
				    sizeof(one));
			setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
			setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
			return fd;
		}
		saved = errno;
		close(fd);
	}
	errno = saved;
	return -1;
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
