/*
 * reload.c: rotation without downtime, in the main thread.
 *
 * Triggers: SIGHUP, and any change to a cert, key, CA, CRL or password file
 * (inotify on their directories, so the atomic renames of cert-manager and
 * the SPIRE agent, and Kubernetes' ..data symlink swaps, are all seen).
 *
 * A reload re-reads the config file, loads each route's TLS material anew
 * beside the old, and hands what changed to every worker, which builds its
 * own context and swaps it in; live connections keep the context they
 * started with, and with reauthorize = close are re-checked against the new
 * CA, CRL and allow-list.  Anything that fails leaves that route's old
 * material serving, with the precise reason in the log and a failure
 * counted.  Keys other than TLS ones (listen, connect, ...) need a restart;
 * a reload that sees them changed says so.
 *
 * An hourly timer also warns of certificates that expire within 7 days (once
 * a day each) and of CRLs past their nextUpdate.
 */
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "proxy/daemon.h"
#include "proxy/log.h"
#include "proxy/reload.h"
#include "proxy/sdnotify.h"
#include "proxy/worker.h"

#define DEBOUNCE_MS	300		/* one reload for a burst of writes */
#define CHECK_EVERY_S	3600
#define EXPIRY_WARN_DAYS 7
#define MAX_WATCHES	64

struct reload {
	struct daemon *d;
	struct config *tls_cfg;		/* newest config read; d->cfg at start */
	int ifd;			/* inotify */
	struct event *ifd_ev;
	struct event *debounce;
	struct event *checker;
	int wd[MAX_WATCHES];
	char *names[MAX_WATCHES * 4];	/* basenames worth a reload */
	size_t nnames;
	time_t *expiry_logged;		/* per route: last expiry warning */
};

static const char *
route_paths(const struct route_config *rc, int i)
{
	const char *p[] = { rc->cert, rc->key, rc->ca, rc->crl, rc->key_password_file };

	return i < 5 ? p[i] : NULL;
}

static void
unwatch(struct reload *rl)
{
	for (int i = 0; i < MAX_WATCHES; i++) {
		if (rl->wd[i] >= 0)
			inotify_rm_watch(rl->ifd, rl->wd[i]);
		rl->wd[i] = -1;
	}
	for (size_t i = 0; i < rl->nnames; i++)
		free(rl->names[i]);
	rl->nnames = 0;
}

/* Watches the directory of every TLS file the config names. */
static void
watch(struct reload *rl)
{
	const struct config *cfg = rl->tls_cfg;
	int n = 0;

	unwatch(rl);
	for (size_t r = 0; r < cfg->nroutes; r++) {
		for (int i = 0; i < 5; i++) {
			const char *path = route_paths(&cfg->routes[r], i);
			char *a, *b;
			int wd;

			if (path == NULL || (a = strdup(path)) == NULL)
				continue;
			if ((b = strdup(path)) == NULL) {
				free(a);
				continue;
			}
			wd = inotify_add_watch(rl->ifd, dirname(a), IN_CLOSE_WRITE |
			    IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_ATTRIB);
			if (wd == -1)
				log_warn("event=watch path=%s", a);
			/* inotify returns the same wd for a directory twice. */
			bool seen = false;
			for (int j = 0; j < n; j++)
				seen |= rl->wd[j] == wd;
			if (wd >= 0 && !seen && n < MAX_WATCHES)
				rl->wd[n++] = wd;
			if (rl->nnames < sizeof(rl->names) / sizeof(rl->names[0]))
				rl->names[rl->nnames++] = strdup(basename(b));
			free(a);
			free(b);
		}
	}
}

/* Whether an event's file name can change what a route loads. */
static bool
interesting(const struct reload *rl, const char *name)
{
	/* Kubernetes swaps a "..data" symlink under the visible names. */
	if (strncmp(name, "..", 2) == 0)
		return true;
	for (size_t i = 0; i < rl->nnames; i++)
		if (rl->names[i] != NULL && strcmp(rl->names[i], name) == 0)
			return true;
	return false;
}

static void
on_inotify(evutil_socket_t fd, short what, void *arg)
{
	struct reload *rl = arg;
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	struct timeval tv = { 0, DEBOUNCE_MS * 1000 };
	bool hit = false;
	ssize_t n;

	(void)what;
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n; ) {
			struct inotify_event *ev = (struct inotify_event *)p;
			if (ev->len > 0 && interesting(rl, ev->name))
				hit = true;
			p += sizeof(*ev) + ev->len;
		}
	}
	if (hit)
		evtimer_add(rl->debounce, &tv);
}

static void
on_debounce(evutil_socket_t fd, short what, void *arg)
{
	struct reload *rl = arg;

	(void)fd;
	(void)what;
	reload_run(rl->d, "file_change");
}

/* Names the keys whose change a reload cannot apply. */
static void
restart_keys(const struct route_config *a, const struct route_config *b,
    char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
#define DIFF(cond, name) do { if ((cond) && n < len) \
	n += (size_t)snprintf(buf + n, len - n, "%s%s", n ? "," : "", name); } while (0)
	DIFF(a->mode != b->mode, "mode");
	DIFF(strcmp(a->listen.text, b->listen.text) != 0, "listen");
	DIFF(strcmp(a->connect.text, b->connect.text) != 0, "connect");
	DIFF((a->server_name == NULL) != (b->server_name == NULL) ||
	    (a->server_name && strcmp(a->server_name, b->server_name) != 0), "server_name");
	DIFF(a->n_allow_cidr != b->n_allow_cidr || (a->n_allow_cidr &&
	    memcmp(a->allow_cidr, b->allow_cidr, a->n_allow_cidr * sizeof(*a->allow_cidr))),
	    "allow_cidr");
	DIFF(a->n_deny_cidr != b->n_deny_cidr || (a->n_deny_cidr &&
	    memcmp(a->deny_cidr, b->deny_cidr, a->n_deny_cidr * sizeof(*a->deny_cidr))),
	    "deny_cidr");
	DIFF(a->handshake_timeout_ms != b->handshake_timeout_ms, "handshake_timeout");
	DIFF(a->idle_timeout_ms != b->idle_timeout_ms, "idle_timeout");
	DIFF(a->connect_timeout_ms != b->connect_timeout_ms, "connect_timeout");
	DIFF(a->max_connections != b->max_connections, "max_connections");
	DIFF(a->buffer_size != b->buffer_size, "buffer_size");
	DIFF(a->ktls != b->ktls, "ktls");
	DIFF(a->send_proxy != b->send_proxy, "send_proxy");
	DIFF(a->accept_proxy != b->accept_proxy, "accept_proxy");
	DIFF(a->n_allow_ports != b->n_allow_ports || (a->n_allow_ports &&
	    memcmp(a->allow_ports, b->allow_ports, a->n_allow_ports *
	    sizeof(*a->allow_ports)) != 0), "allow_ports");
#undef DIFF
}

/* A file the sandbox keeps out of reach: say so, and what to do. */
static const char *
sandbox_hint(const struct daemon *d, const char *error)
{
	if (!d->sandboxed || strstr(error, strerror(EACCES)) == NULL)
		return "";
	return " hint=\"mtlsd runs sandboxed: a reload reads only the "
	    "directories known at start; restart mtlsd to use a new one\"";
}

/* Loads one route's new material; hands it to the workers if it changed.
 * Returns 1 changed, 0 unchanged, -1 failed (old material kept, and the
 * reason in why unless why already holds an earlier one). */
static int
reload_route(struct daemon *d, struct route_state *rs,
    const struct config *cfg, const struct route_config *rc,
    char *why, size_t whylen)
{
	char err[1024], ignored[256];
	struct tls_material *m;

	restart_keys(rs->rc, rc, ignored, sizeof(ignored));
	if (ignored[0] != '\0')
		log_warnx("route=%s event=reload ignored=%s: restart mtlsd to apply "
		    "these", rc->name, ignored);
	if ((m = daemon_route_material(cfg, rc, err, sizeof(err))) == NULL) {
		log_error("route=%s event=reload status=failed error=\"%s\" "
		    "action=kept_previous%s", rc->name, err, sandbox_hint(d, err));
		if (why[0] == '\0')
			snprintf(why, whylen, "%.400s", err);
		return -1;
	}
	/* reauthorize travels with the swap, so a change to it alone counts. */
	if (rs->material != NULL && tls_material_equal(m, rs->material) &&
	    rc->reauthorize == rs->reauthorize) {
		tls_material_unref(m);
		return 0;
	}
	rs->reauthorize = rc->reauthorize;
	tls_material_expect_builds(m, (int)d->nworkers);
	for (unsigned i = 0; i < d->nworkers; i++) {
		tls_material_ref(m);
		worker_send(&d->workers[i], WCMD_SWAP_TLS, rs->index, m, rc->reauthorize);
	}
	tls_material_unref(rs->material);
	rs->material = m;
	log_info("route=%s event=reload status=ok", rc->name);
	return 1;
}

/* Warns of an own certificate near its end and of a stale CRL; at start
 * and reload (force), of a tunnel-ending route whose certificate names no
 * address, which the dialing transparent routes would fail to match. */
static void
check_route_lifecycle(struct reload *rl, size_t i, bool force)
{
	const struct route_state *rs = &rl->d->routes[i];
	/* The policy is the newest config's, as the material is. */
	const struct route_config *rc = config_route(rl->tls_cfg, rs->rc->name);
	time_t now = time(NULL), end, next;
	char when[32];

	if (rs->material == NULL || rc == NULL)
		return;
	end = tls_material_not_after(rs->material);
	if (end != 0 && end - now < EXPIRY_WARN_DAYS * 86400 &&
	    (force || now - rl->expiry_logged[i] >= 86400)) {
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime(&end));
		log_warnx("route=%s event=cert_expiring days_left=%ld not_after=%s: "
		    "rotate the certificate; mtlsd picks the new one up by itself",
		    rs->rc->name, (long)((end - now) / 86400), when);
		rl->expiry_logged[i] = now;
	}
	if (force && rc->mode == MODE_SERVER && rc->connect_original &&
	    tls_material_ip_sans(rs->material) == 0)
		log_warnx("route=%s event=cert_no_ip_san: transparent routes check "
		    "the address they dialed against this certificate, and it has "
		    "no ip: SAN; theirs will fail unless they set server_name",
		    rs->rc->name);
	next = tls_material_crl_next_update(rs->material);
	if (next != 0 && now > next) {
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime(&next));
		if (rc->crl_stale == CRL_STALE_REFUSE)
			log_error("route=%s event=crl_stale next_update=%s policy=refuse: "
			    "every peer is refused until a fresh CRL is loaded",
			    rs->rc->name, when);
		else
			log_warnx("route=%s event=crl_stale next_update=%s policy=warn: "
			    "the CRL is still used, but revocations since are unknown",
			    rs->rc->name, when);
	}
}

static void
on_check(evutil_socket_t fd, short what, void *arg)
{
	struct reload *rl = arg;

	(void)fd;
	(void)what;
	for (size_t i = 0; i < rl->d->nroutes; i++)
		check_route_lifecycle(rl, i, false);
}

void
reload_run(struct daemon *d, const char *trigger)
{
	struct reload *rl = d->reload;
	struct config *cfg;
	char *errs = NULL, why[512] = "";
	size_t errlen = 0;
	FILE *ef;
	int changed = 0, unchanged = 0, failed = 0;

	if (rl == NULL || d->stopping)
		return;
	sdnotify_reloading(d);
	if ((ef = open_memstream(&errs, &errlen)) == NULL) {
		log_warn("event=reload status=failed");
		atomic_fetch_add(&d->reloads_failed, 1);
		sdnotify_reloaded(d, strerror(errno));
		return;
	}
	cfg = config_load(d->cfg->path, ef);
	fclose(ef);
	if (cfg == NULL) {
		for (char *line = strtok(errs, "\n"); line; line = strtok(NULL, "\n")) {
			log_error("event=reload status=failed trigger=%s error=\"%s\" "
			    "action=kept_previous%s", trigger, line, sandbox_hint(d, line));
			if (why[0] == '\0')
				snprintf(why, sizeof(why), "%s", line);
		}
		free(errs);
		atomic_fetch_add(&d->reloads_failed, 1);
		sdnotify_reloaded(d, why[0] ? why : "the config could not be read");
		return;
	}
	free(errs);
	for (size_t i = 0; i < d->nroutes; i++) {
		struct route_state *rs = &d->routes[i];
		const struct route_config *rc = config_route(cfg, rs->rc->name);
		int r;

		if (rc == NULL) {
			log_warnx("route=%s event=reload ignored=removed: restart mtlsd "
			    "to remove a route", rs->rc->name);
			continue;
		}
		r = reload_route(d, rs, cfg, rc, why, sizeof(why));
		changed += r == 1;
		unchanged += r == 0;
		failed += r == -1;
	}
	for (size_t i = 0; i < cfg->nroutes; i++)
		if (config_route(d->cfg, cfg->routes[i].name) == NULL)
			log_warnx("route=%s event=reload ignored=added: restart mtlsd "
			    "to add a route", cfg->routes[i].name);
	log_set_level(cfg->log_level);
	if (rl->tls_cfg != d->cfg)
		config_free(rl->tls_cfg);
	rl->tls_cfg = cfg;
	watch(rl);
	for (size_t i = 0; i < d->nroutes; i++)
		check_route_lifecycle(rl, i, true);
	atomic_fetch_add(failed ? &d->reloads_failed : &d->reloads_ok, 1);
	log_info("event=reload trigger=%s status=%s changed=%d unchanged=%d failed=%d",
	    trigger, failed ? "partial" : "ok", changed, unchanged, failed);
	sdnotify_reloaded(d, failed ? why : NULL);
}

int
reload_init(struct daemon *d)
{
	struct reload *rl;
	struct timeval every = { CHECK_EVERY_S, 0 };

	if ((rl = calloc(1, sizeof(*rl))) == NULL)
		return -1;
	rl->d = d;
	rl->tls_cfg = d->cfg;
	for (int i = 0; i < MAX_WATCHES; i++)
		rl->wd[i] = -1;
	rl->expiry_logged = calloc(d->nroutes ? d->nroutes : 1, sizeof(time_t));
	rl->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	rl->debounce = evtimer_new(d->base, on_debounce, rl);
	rl->checker = event_new(d->base, -1, EV_PERSIST, on_check, rl);
	if (rl->expiry_logged == NULL || rl->debounce == NULL || rl->checker == NULL)
		goto fail;
	d->reload = rl;
	if (rl->ifd == -1) {
		log_warn("event=watch status=off: reload only on SIGHUP");
	} else {
		rl->ifd_ev = event_new(d->base, rl->ifd, EV_READ | EV_PERSIST, on_inotify, rl);
		if (rl->ifd_ev == NULL || event_add(rl->ifd_ev, NULL) == -1)
			goto fail;
		watch(rl);
	}
	event_add(rl->checker, &every);
	for (size_t i = 0; i < d->nroutes; i++)
		check_route_lifecycle(rl, i, true);	/* at start, say it all */
	return 0;
fail:
	d->reload = rl;
	reload_free(d);
	return -1;
}

void
reload_free(struct daemon *d)
{
	struct reload *rl = d->reload;

	if (rl == NULL)
		return;
	if (rl->ifd != -1) {
		unwatch(rl);
		close(rl->ifd);
	}
	if (rl->ifd_ev != NULL)
		event_free(rl->ifd_ev);
	if (rl->debounce != NULL)
		event_free(rl->debounce);
	if (rl->checker != NULL)
		event_free(rl->checker);
	if (rl->tls_cfg != d->cfg)
		config_free(rl->tls_cfg);
	free(rl->expiry_logged);
	free(rl);
	d->reload = NULL;
}
