/*
 * sdnotify.c: the sd_notify protocol, spoken directly (see sdnotify.h).
 *
 * The socket is connected once, at start-up, while the process may still
 * reach it: after that neither the privilege drop nor the sandbox matters,
 * and each message is one send(2) from the main thread.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "proxy/daemon.h"
#include "proxy/log.h"
#include "proxy/sdnotify.h"

#define REFRESH_S	5		/* how often a changed status is sent */
#define REASON_MAX	200		/* bytes of a reload failure kept */

struct sdnotify {
	int fd;
	struct event *refresh;
	const char *phase;		/* NULL running; else what stopping does */
	char reload[REASON_MAX + 64];	/* the last reload's result; "" none yet */
	char status[512];		/* the last STATUS= sent */
	bool failing;			/* the last send failed (logged once) */
};

static void
notify_send(struct sdnotify *sn, const char *msg)
{
	size_t len = strlen(msg);
	ssize_t n;

	do
		n = send(sn->fd, msg, len, MSG_NOSIGNAL);
	while (n == -1 && errno == EINTR);
	if (n == -1 && !sn->failing)
		log_warn("event=sd_notify status=failed");
	else if (n != -1 && sn->failing)
		log_info("event=sd_notify status=ok");
	sn->failing = n == -1;
}

/* "N routes, M connections; reload ..." or, stopping, "PHASE: M connections". */
static void
status_line(const struct daemon *d, const struct sdnotify *sn, char *buf, size_t len)
{
	unsigned long conns = 0;

	for (size_t i = 0; i < d->nroutes; i++)
		conns += atomic_load_explicit(&d->routes[i].active, memory_order_relaxed);
	if (sn->phase != NULL)
		snprintf(buf, len, "%s: %lu connection%s open", sn->phase, conns,
		    conns == 1 ? "" : "s");
	else
		snprintf(buf, len, "%zu route%s, %lu connection%s%s%s", d->nroutes,
		    d->nroutes == 1 ? "" : "s", conns, conns == 1 ? "" : "s",
		    sn->reload[0] ? "; " : "", sn->reload);
}

/* Sends head (may be "") and the status line, or nothing if neither changed. */
static void
notify_status(struct daemon *d, const char *head)
{
	struct sdnotify *sn = d->sd;
	char status[sizeof(sn->status)], msg[sizeof(sn->status) + 128];

	status_line(d, sn, status, sizeof(status));
	if (head[0] == '\0' && strcmp(status, sn->status) == 0 && !sn->failing)
		return;
	snprintf(msg, sizeof(msg), "%sSTATUS=%s\n", head, status);
	memcpy(sn->status, status, sizeof(status));
	notify_send(sn, msg);
}

static void
on_refresh(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	notify_status(arg, "");
}

int
sdnotify_init(struct daemon *d)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct timeval every = { REFRESH_S, 0 }, wait = { 1, 0 };
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct sdnotify *sn;
	size_t len;
	socklen_t salen;
	int fd;

	if (path == NULL || path[0] == '\0')
		return 0;
	len = strlen(path);
	if ((path[0] != '/' && path[0] != '@') || len >= sizeof(sa.sun_path)) {
		log_warnx("event=sd_notify status=off socket=\"%.100s\": not a unix "
		    "socket path or @name", path);
		return 0;
	}
	memcpy(sa.sun_path, path, len);
	if (path[0] == '@')
		sa.sun_path[0] = '\0';		/* the abstract namespace */
	salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len +
	    (path[0] == '/'));
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1 ||
	    connect(fd, (struct sockaddr *)&sa, salen) == -1) {
		log_warn("event=sd_notify status=off socket=%s", path);
		if (fd != -1)
			close(fd);
		return 0;
	}
	/* The manager reads at once; never let a stuck one stall the loop. */
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &wait, sizeof(wait));
	if ((sn = calloc(1, sizeof(*sn))) == NULL) {
		close(fd);
		return -1;
	}
	sn->fd = fd;
	if ((sn->refresh = event_new(d->base, -1, EV_PERSIST, on_refresh, d)) == NULL ||
	    event_add(sn->refresh, &every) == -1) {
		if (sn->refresh != NULL)
			event_free(sn->refresh);
		close(fd);
		free(sn);
		return -1;
	}
	d->sd = sn;
	log_info("event=sd_notify status=on socket=%s", path);
	return 0;
}

void
sdnotify_ready(struct daemon *d)
{
	if (d->sd != NULL)
		notify_status(d, "READY=1\n");
}

void
sdnotify_reloading(struct daemon *d)
{
	struct timespec ts;
	char head[96];

	if (d->sd == NULL)
		return;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	/* Type=notify-reload matches the reload to its signal by this time. */
	snprintf(head, sizeof(head), "RELOADING=1\nMONOTONIC_USEC=%llu\n",
	    (unsigned long long)ts.tv_sec * 1000000ULL +
	    (unsigned long long)ts.tv_nsec / 1000);
	notify_send(d->sd, head);
}

void
sdnotify_reloaded(struct daemon *d, const char *error)
{
	struct sdnotify *sn = d->sd;
	char when[16], reason[REASON_MAX + 1];
	time_t now = time(NULL);
	struct tm tm;

	if (sn == NULL)
		return;
	localtime_r(&now, &tm);
	strftime(when, sizeof(when), "%H:%M:%S", &tm);
	if (error == NULL) {
		snprintf(sn->reload, sizeof(sn->reload), "reload ok at %s", when);
	} else {
		/* One line: a newline would start another KEY= of the message. */
		snprintf(reason, sizeof(reason), "%s", error);
		for (char *p = reason; *p; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				*p = ' ';
		snprintf(sn->reload, sizeof(sn->reload), "reload failed at %s: %s",
		    when, reason);
	}
	notify_status(d, "READY=1\n");
}

void
sdnotify_stopping(struct daemon *d, const char *why, uint64_t extend_ms)
{
	char head[96] = "STOPPING=1\n";

	if (d->sd == NULL)
		return;
	d->sd->phase = why;
	if (extend_ms > 0)
		snprintf(head, sizeof(head), "STOPPING=1\nEXTEND_TIMEOUT_USEC=%llu\n",
		    (unsigned long long)extend_ms * 1000ULL);
	notify_status(d, head);
}

void
sdnotify_free(struct daemon *d)
{
	struct sdnotify *sn = d->sd;

	if (sn == NULL)
		return;
	if (sn->refresh != NULL)
		event_free(sn->refresh);
	close(sn->fd);
	free(sn);
	d->sd = NULL;
}
