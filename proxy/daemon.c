/*
 * daemon.c: "mtlsd run": start-up, signals, shutdown.
 *
 * Everything that can fail for a reason the operator must fix (config, files,
 * ports) fails here, before any worker starts, naming the file and line.
 * After that, the main thread only handles signals and tells workers what to
 * do; the workers carry the traffic.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "proxy/admin.h"
#include "proxy/conn.h"
#include "proxy/check_access.h"
#include "proxy/daemon.h"
#include "proxy/sandbox.h"
#include "proxy/seccomp.h"
#include "proxy/log.h"
#include "proxy/reload.h"
#include "proxy/sdnotify.h"
#include "proxy/worker.h"

static enum route_key
file_key(enum tls_file f)
{
	switch (f) {
	case TLS_FILE_CERT: return RK_CERT;
	case TLS_FILE_KEY: return RK_KEY;
	case TLS_FILE_CA: return RK_CA;
	case TLS_FILE_CRL: return RK_CRL;
	case TLS_FILE_KEY_PASSWORD: return RK_KEY_PASSWORD_FILE;
	case TLS_FILE_NONE: break;
	}
	return RK_COUNT;
}

void
daemon_tls_params(const struct route_config *rc, struct tls_params *p)
{
	memset(p, 0, sizeof(*p));
	p->role = rc->mode == MODE_SERVER ? TLS_ROLE_SERVER : TLS_ROLE_CLIENT;
	p->cert_file = rc->cert;
	p->key_file = rc->key;
	p->key_password_file = rc->key_password_file;
	p->ca_file = rc->mode == MODE_SERVER && rc->client_auth == CLIENT_AUTH_NONE ?
	    NULL : rc->ca;
	p->crl_file = rc->crl;
	p->insecure_key_permissions = rc->insecure_key_permissions;
	p->key_owner_alt = (uid_t)-1;
	p->min_version = rc->tls_min_version;
	p->client_auth = rc->client_auth == CLIENT_AUTH_REQUIRE ? TLS_AUTH_REQUIRE :
	    rc->client_auth == CLIENT_AUTH_OPTIONAL ? TLS_AUTH_OPTIONAL : TLS_AUTH_NONE;
	p->crl_stale_refuse = rc->crl_stale == CRL_STALE_REFUSE;
	p->ktls = rc->record_layer == RECORD_LAYER_AUTO ||
	    rc->record_layer == RECORD_LAYER_KERNEL;
	p->ktls_required = rc->record_layer == RECORD_LAYER_KERNEL;
	p->own_layer = rc->record_layer == RECORD_LAYER_AUTO ||
	    rc->record_layer == RECORD_LAYER_LIBGCRYPT;
	p->key_update_records = rc->key_update_records;
	p->resumption = rc->session_resumption;
	p->peers = rc->mode == MODE_SERVER ? rc->allow_peers : rc->expect_peers;
	p->npeers = rc->mode == MODE_SERVER ? rc->n_allow_peers : rc->n_expect_peers;
}

struct tls_material *
daemon_route_material(const struct config *cfg, const struct route_config *rc,
    char *err, size_t errlen)
{
	struct passwd *pw = cfg->user ? getpwnam(cfg->user) : NULL;
	struct tls_material *m;
	struct tls_params p;
	struct tls_error terr;
	enum route_key k;

	daemon_tls_params(rc, &p);
	/* Keys may belong to the user mtlsd drops to. */
	if (pw != NULL)
		p.key_owner_alt = pw->pw_uid;
	if ((m = tls_material_load(&p, &terr)) != NULL)
		return m;
	k = file_key(terr.file);
	if (k != RK_COUNT && rc->line[k] != 0)
		snprintf(err, errlen, "%s:%d: %s: %s", cfg->path, rc->line[k],
		    config_key_name(k), terr.msg);
	else
		snprintf(err, errlen, "%s:%d: [%s]: %s", cfg->path, rc->section_line,
		    rc->name, terr.msg);
	return NULL;
}

int
daemon_load_materials(const struct config *cfg, struct tls_material **out,
    FILE *errs)
{
	char err[1024];
	int failed = 0;

	for (size_t i = 0; i < cfg->nroutes; i++) {
		out[i] = daemon_route_material(cfg, &cfg->routes[i], err, sizeof(err));
		if (out[i] == NULL) {
			fprintf(errs, "%s\n", err);
			failed = 1;
		}
	}
	return failed ? -1 : 0;
}

static void
stop_workers(struct daemon *d, enum worker_cmd cmd)
{
	for (unsigned i = 0; i < d->nworkers; i++)
		worker_send(&d->workers[i], cmd, 0, NULL, REAUTH_CLOSE);
}

static struct timeval
ms_tv(uint32_t ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	return tv;
}

static void
on_drain_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;

	(void)fd;
	(void)what;
	log_warnx("event=shutdown phase=drain_timeout: closing what is left");
	d->stopping = 2;
	sdnotify_stopping(d, "drain timeout, closing", 0);
	stop_workers(d, WCMD_EXIT);
}

/* Stop accepting; live connections get drain_timeout to finish. */
static void
start_drain(struct daemon *d)
{
	struct timeval tv = ms_tv(d->cfg->drain_timeout_ms);

	log_info("event=shutdown phase=drain timeout_ms=%u", d->cfg->drain_timeout_ms);
	stop_workers(d, WCMD_DRAIN);
	evtimer_add(d->drain_timer, &tv);
}

static void
on_grace_end(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	sdnotify_stopping(arg, "draining", 0);
	start_drain(arg);
}

/*
 * The audit log's directory must let the running user create a file, or
 * logrotate's own "create" must make it for that user: else the reopen
 * after a rotation fails and records go on into the rotated file.
 */
static void
audit_rotation_hint(const struct daemon *d, const char *when)
{
	char dir[PATH_MAX];

	if (d->audit.fd == -1 || strcmp(d->cfg->audit_log, "-") == 0)
		return;
	snprintf(dir, sizeof(dir), "%s", d->cfg->audit_log);
	if (access(dirname(dir), W_OK | X_OK) == 0)
		return;
	log_warnx("event=audit_log %s path=%s uid=%u: the directory %s is not "
	    "writable by this user, so SIGUSR1 cannot create a new file after "
	    "a rotation: chown the directory to it (/var/log/mtlsd, as "
	    "LogsDirectory= does), or have logrotate create the file for it "
	    "(create 0640 USER GROUP)", when, d->cfg->audit_log,
	    (unsigned)getuid(), dir);
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *d = arg;
	struct timeval tv;
	uint64_t extend;

	(void)what;
	switch (sig) {
	case SIGTERM:
		if (d->stopping == 0) {
			/* From now on /readyz says 503, and reloads stop. */
			d->stopping = 1;
			/* systemd's stop timeout must cover both phases. */
			extend = (uint64_t)d->cfg->drain_grace_ms +
			    d->cfg->drain_timeout_ms + 5000;
			if (d->cfg->drain_grace_ms == 0) {
				sdnotify_stopping(d, "draining", extend);
				start_drain(d);
				return;
			}
			log_info("event=shutdown phase=grace grace_ms=%u: /readyz answers "
			    "503, listeners accept until the drain starts",
			    d->cfg->drain_grace_ms);
			sdnotify_stopping(d, "drain_grace: /readyz 503, still accepting",
			    extend);
			tv = ms_tv(d->cfg->drain_grace_ms);
			evtimer_add(d->grace_timer, &tv);
			return;
		}
		/* A second SIGTERM means now. */
		/* FALLTHROUGH */
	case SIGINT:
		log_info("event=shutdown phase=exit");
		d->stopping = 2;
		evtimer_del(d->grace_timer);
		sdnotify_stopping(d, "exiting", 0);
		stop_workers(d, WCMD_EXIT);
		return;
	case SIGHUP:
		reload_run(d, "sighup");
		return;
	case SIGUSR1:
		/* logrotate has moved the file: write to a new one. */
		if (d->audit.fd == -1)
			return;
		if (audit_reopen(&d->audit) == -1) {
			log_warn("event=audit_reopen path=%s action=kept_previous",
			    d->cfg->audit_log);
			if (errno == EACCES)
				audit_rotation_hint(d, "status=reopen_failed");
		} else {
			log_info("event=audit_reopen path=%s", d->cfg->audit_log);
		}
		return;
	default:
		return;
	}
}

static void
on_worker_done(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;
	unsigned char idx;

	(void)what;
	while (read(fd, &idx, 1) == 1) {
		if (d->workers_running > 0 && --d->workers_running == 0)
			event_base_loopexit(d->base, NULL);
	}
}

/* Resolves literal and unix upstreams now; names are looked up per connect. */
static int
setup_route(struct daemon *d, size_t i, char *err, size_t errlen)
{
	struct route_state *rs = &d->routes[i];
	const struct route_config *rc = &d->cfg->routes[i];

	rs->rc = rc;
	rs->index = i;
	rs->reauthorize = rc->reauthorize;
	atomic_init(&rs->active, 0);
	if (rc->connect_original) {
		/* Each connection names its destination (conn_tunnel.c). */
	} else if (rc->connect.kind == ADDR_UNIX || addr_is_literal(&rc->connect)) {
		if (sock_resolve(&rc->connect, false, &rs->upstream, err, errlen) == -1)
			return -1;
		rs->upstream_static = true;
	}
	/* A transparent route checks each peer against the address it was
	 * dialed at, unless server_name names one identity for all. */
	if (rc->mode == MODE_CLIENT)
		rs->server_name = rc->server_name ? rc->server_name : rc->connect.host;
	else if (rc->mode == MODE_TRANSPARENT)
		rs->server_name = rc->server_name;
	if (rc->record_layer == RECORD_LAYER_KERNEL && !tls_ktls_available()) {
		snprintf(err, errlen, "%s, but this kernel offers no tls ULP "
		    "(try 'modprobe tls', or set record_layer = auto)",
		    rc->line[RK_KTLS] ? "ktls = on" : "record_layer = kernel");
		return -1;
	}
	if ((rs->listen_fds = malloc(d->nworkers * sizeof(int))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (sock_listen_group(&rc->listen, (int)d->nworkers, rc->backlog > 0 ?
	    rc->backlog : sock_default_backlog(), rs->listen_fds, err, errlen) == -1)
		return -1;
	rs->listening = true;
	return 0;
}

/*
 * user = NAME: after every socket is bound and every file opened, become
 * NAME for good (groups too), and forbid regaining privileges.  Reloads then
 * read files as NAME: keys must be readable, and owned, by it.
 */
static int
drop_privileges(struct daemon *d, char *err, size_t errlen)
{
	const char *name = d->cfg->user;
	struct passwd *pw;
	struct stat st;

	if (name == NULL)
		return 0;
	if ((pw = getpwnam(name)) == NULL) {
		snprintf(err, errlen, "user: no such user '%s'", name);
		return -1;
	}
	if (geteuid() == pw->pw_uid)
		return 0;
	if (geteuid() != 0) {
		snprintf(err, errlen, "user: switching to '%s' needs root", name);
		return -1;
	}
	for (size_t i = 0; i < d->nroutes; i++) {
		const struct route_config *rc = d->routes[i].rc;
		/* So the socket file can be removed at exit. */
		if (rc->listen.kind == ADDR_UNIX &&
		    chown(rc->listen.path, pw->pw_uid, pw->pw_gid) == -1)
			log_warn("route=%s event=chown path=%s", rc->name, rc->listen.path);
	}
	/* A root-owned audit log becomes the user's (its group stays), as
	 * logrotate's "create" makes the next ones: logrotate's "su" must
	 * read it to compress it. */
	if (d->audit.fd != -1 && strcmp(d->cfg->audit_log, "-") != 0 &&
	    fstat(d->audit.fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == 0 &&
	    fchown(d->audit.fd, pw->pw_uid, (gid_t)-1) == -1)
		log_warn("event=chown path=%s", d->cfg->audit_log);
	if (setgroups(1, &pw->pw_gid) == -1 || setgid(pw->pw_gid) == -1 ||
	    setuid(pw->pw_uid) == -1) {
		snprintf(err, errlen, "user: cannot become '%s': %s", name, strerror(errno));
		return -1;
	}
	if (setuid(0) != -1) {
		snprintf(err, errlen, "user: privileges could be regained after the switch");
		return -1;
	}
	(void)prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	log_info("event=privileges_dropped user=%s uid=%u gid=%u", name,
	    (unsigned)pw->pw_uid, (unsigned)pw->pw_gid);
	return 0;
}

static int
setup_signals(struct daemon *d)
{
	static const int sigs[4] = { SIGTERM, SIGINT, SIGHUP, SIGUSR1 };

	for (int i = 0; i < 4; i++) {
		d->sig_ev[i] = evsignal_new(d->base, sigs[i], on_signal, d);
		if (d->sig_ev[i] == NULL || evsignal_add(d->sig_ev[i], NULL) == -1)
			return -1;
	}
	d->drain_timer = evtimer_new(d->base, on_drain_timeout, d);
	d->grace_timer = evtimer_new(d->base, on_grace_end, d);
	return d->drain_timer && d->grace_timer ? 0 : -1;
}

/* Workers block every signal: the main thread's loop handles them. */
static int
start_workers(struct daemon *d, unsigned *ninit, char *err, size_t errlen)
{
	sigset_t all, old;
	int rc = 0;

	for (*ninit = 0; *ninit < d->nworkers; (*ninit)++)
		if (worker_init(&d->workers[*ninit], d, *ninit, err, errlen) == -1) {
			(*ninit)++;	/* partly set up: worker_free() undoes it */
			return -1;
		}
	/* Everything is open and bound: confine the process before any
	 * worker thread exists, so they all inherit it. */
	if (d->cfg->sandbox) {
		if (sandbox_apply(d->cfg, d->base, err, errlen) == -1)
			return -1;
		d->sandboxed = true;
	} else {
		log_warnx("event=sandbox status=off: sandbox = no in the config");
	}
	sigfillset(&all);
	/* Except SIGSYS: seccomp's trap must reach its handler in the
	 * thread that made the call (a blocked one would kill the process). */
	sigdelset(&all, SIGSYS);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (unsigned i = 0; i < d->nworkers; i++) {
		if (worker_start(&d->workers[i]) == -1) {
			snprintf(err, errlen, "cannot start worker thread: %s",
			    strerror(errno));
			rc = -1;
			break;
		}
		d->workers_running++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return rc;
}

static void
daemon_free(struct daemon *d, unsigned ninit)
{
	reload_free(d);
	admin_stop(d);
	for (unsigned i = 0; i < ninit; i++)
		worker_free(&d->workers[i]);
	free(d->workers);
	seccomp_close();
	if (d->audit.fd != -1)
		audit_close(&d->audit);
	for (size_t i = 0; d->routes != NULL && i < d->nroutes; i++) {
		struct route_state *rs = &d->routes[i];
		for (unsigned j = 0; rs->listen_fds != NULL && j < d->nworkers; j++)
			if (rs->listen_fds[j] != -1)
				close(rs->listen_fds[j]);
		free(rs->listen_fds);
		tls_material_unref(rs->material);
		/* Only a socket file this process created is removed. */
		if (rs->listening && rs->rc->listen.kind == ADDR_UNIX)
			unlink(rs->rc->listen.path);
	}
	free(d->routes);
	for (int i = 0; i < 4; i++)
		if (d->sig_ev[i] != NULL)
			event_free(d->sig_ev[i]);
	/* Freeing the events restored the default actions: a late SIGTERM
	 * (a supervisor repeating itself) must not kill a clean exit. */
	signal(SIGTERM, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGUSR1, SIG_IGN);
	if (d->drain_timer != NULL)
		event_free(d->drain_timer);
	if (d->grace_timer != NULL)
		event_free(d->grace_timer);
	sdnotify_free(d);
	if (d->notify_ev != NULL)
		event_free(d->notify_ev);
	for (int i = 0; i < 2; i++)
		if (d->notify_fd[i] != -1)
			close(d->notify_fd[i]);
	if (d->base != NULL)
		event_base_free(d->base);
	config_free(d->cfg);
}

int
daemon_run(const char *config_path)
{
	struct daemon d;
	struct tls_material **materials = NULL;
	char err[512];
	unsigned ninit = 0;
	int status = 1;
	long ncpu;

	memset(&d, 0, sizeof(d));
	d.notify_fd[0] = d.notify_fd[1] = -1;
	d.audit.fd = -1;
	d.run_id = conn_run_id_new();
	if ((d.cfg = config_load(config_path, stderr)) == NULL)
		return 1;
	log_set_level(d.cfg->log_level);
	signal(SIGPIPE, SIG_IGN);
	if (tls_global_init() == -1) {
		log_error("event=start error=\"cannot initialize PSA crypto\"");
		goto out;
	}
	if ((d.handoff_ports = calloc(65536, sizeof(*d.handoff_ports))) == NULL) {
		log_error("event=start error=\"out of memory\"");
		goto out;
	}
	if (fd_budget_init(&d.fds, err, sizeof(err)) == -1) {
		log_error("event=start error=\"cannot read RLIMIT_NOFILE\"");
		goto out;
	}
	log_info("event=fd_budget %s reserve=%ld", err, d.fds.reserve);
	if (fd_budget_needed(d.cfg) > d.fds.limit)
		log_warnx("event=fd_budget status=short needed=%ld limit=%ld: the "
		    "routes' max_connections cannot all be open at once; past the "
		    "limit new connections are turned away (reason=out_of_descriptors)",
		    fd_budget_needed(d.cfg), d.fds.limit - d.fds.reserve);
	ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	d.nworkers = d.cfg->workers ? d.cfg->workers : (unsigned)(ncpu > 0 ? ncpu : 1);
	d.nroutes = d.cfg->nroutes;
	d.routes = calloc(d.nroutes, sizeof(*d.routes));
	d.workers = calloc(d.nworkers, sizeof(*d.workers));
	materials = calloc(d.nroutes, sizeof(*materials));
	if (d.routes == NULL || d.workers == NULL || materials == NULL) {
		log_error("event=start error=\"out of memory\"");
		goto out;
	}
	if (daemon_load_materials(d.cfg, materials, stderr) == -1)
		goto out;
	for (size_t i = 0; i < d.nroutes; i++) {
		d.routes[i].material = materials[i];
		tls_material_expect_builds(materials[i], (int)d.nworkers);
		materials[i] = NULL;
		if (setup_route(&d, i, err, sizeof(err)) == -1) {
			const struct route_config *rc = &d.cfg->routes[i];
			fprintf(stderr, "%s:%d: %s\n", d.cfg->path, strstr(err, "ULP") ?
			    (rc->line[RK_KTLS] ? rc->line[RK_KTLS] : rc->line[RK_RECORD_LAYER]) :
			    rc->line[RK_LISTEN], err);
			goto out;
		}
	}
	if ((d.base = event_base_new()) == NULL || setup_signals(&d) == -1 ||
	    pipe2(d.notify_fd, O_NONBLOCK | O_CLOEXEC) == -1) {
		log_error("event=start error=\"cannot set up the main loop\"");
		goto out;
	}
	d.notify_ev = event_new(d.base, d.notify_fd[0], EV_READ | EV_PERSIST,
	    on_worker_done, &d);
	if (d.notify_ev == NULL || event_add(d.notify_ev, NULL) == -1)
		goto out;
	/* Opened before privileges go: /var/log is not the service user's. */
	if (d.cfg->audit_log != NULL && audit_open(&d.audit, d.cfg->audit_log) == -1) {
		fprintf(stderr, "%s:%d: audit_log: cannot open '%s': %s\n", d.cfg->path,
		    d.cfg->global_line[GK_AUDIT_LOG], d.cfg->audit_log, strerror(errno));
		goto out;
	}
	if (admin_start(&d, err, sizeof(err)) == -1) {
		fprintf(stderr, "%s:%d: admin_listen: %s\n", d.cfg->path,
		    d.cfg->global_line[GK_ADMIN_LISTEN], err);
		goto out;
	}
	if (sdnotify_init(&d) == -1) {
		log_error("event=start error=\"out of memory\"");
		goto out;
	}
	if (drop_privileges(&d, err, sizeof(err)) == -1) {
		fprintf(stderr, "%s:%d: %s\n", d.cfg->path, d.cfg->global_line[GK_USER], err);
		goto out;
	}
	/* Every reload runs as user from here on: refuse to serve if one would fail. */
	if (d.cfg->user != NULL && check_access_reload(d.cfg, stderr) == -1) {
		log_error("event=start status=refused user=%s error=\"as this "
		    "user, reloads (or the sandbox) would fail: see above\"",
		    d.cfg->user);
		goto out;
	}
	audit_rotation_hint(&d, "status=rotation_blocked");
	if (start_workers(&d, &ninit, err, sizeof(err)) == -1) {
		log_error("event=start error=\"%s\"", err);
		stop_workers(&d, WCMD_EXIT);
		goto out;
	}
	for (size_t i = 0; i < d.nroutes; i++) {
		const struct route_config *rc = &d.cfg->routes[i];
		log_info("route=%s event=listening mode=%s listen=%s connect=%s",
		    rc->name, config_mode_name(rc->mode),
		    rc->listen.text, rc->connect.text);
	}
	if (reload_init(&d) == -1) {
		log_error("event=start error=\"cannot set up certificate reload\"");
		stop_workers(&d, WCMD_EXIT);
		goto out;
	}
	log_info("event=started routes=%zu workers=%u run=%016llx", d.nroutes,
	    d.nworkers, (unsigned long long)d.run_id);
	sdnotify_ready(&d);
	event_base_dispatch(d.base);
	log_info("event=stopped");
	status = 0;
out:
	free(d.handoff_ports);
	if (materials != NULL) {
		for (size_t i = 0; i < d.nroutes; i++)
			tls_material_unref(materials[i]);
		free(materials);
	}
	daemon_free(&d, ninit);
	return status;
}
