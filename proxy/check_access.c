/*
 * check_access.c: a reload tried as the user it will run as (see
 * check_access.h).  Shared by run and check, so both judge alike.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proxy/check_access.h"
#include "proxy/daemon.h"

/* The TLS files a route names, as reload.c watches them. */
static const enum route_key tls_keys[] = { RK_CERT, RK_KEY, RK_CA, RK_CRL,
    RK_KEY_PASSWORD_FILE };
#define NTLS_KEYS (sizeof(tls_keys) / sizeof(tls_keys[0]))

static const char *
tls_path(const struct route_config *rc, size_t i)
{
	const char *p[NTLS_KEYS] = { rc->cert, rc->key, rc->ca, rc->crl,
	    rc->key_password_file };

	return p[i];
}

static void
dir_of(const char *path, char *buf, size_t len)
{
	char copy[PATH_MAX];

	snprintf(copy, sizeof(copy), "%s", path);
	snprintf(buf, len, "%s", dirname(copy));
}

/* Whether the directory of route r's file i came up before it (each
 * directory is watched, and reported, once). */
static bool
dir_seen(const struct config *cfg, size_t r, size_t i, const char *dir)
{
	char other[PATH_MAX];

	for (size_t rr = 0; rr <= r; rr++)
		for (size_t ii = 0; ii < (rr == r ? i : NTLS_KEYS); ii++) {
			const char *p = tls_path(&cfg->routes[rr], ii);
			if (p == NULL)
				continue;
			dir_of(p, other, sizeof(other));
			if (strcmp(other, dir) == 0)
				return true;
		}
	return false;
}

/* reload.c watches each TLS file's directory with inotify, which needs
 * read access to it: without, files renamed in go unseen, and only SIGHUP
 * reloads.  reload.c carries on with a warning then; so does this. */
static void
try_watches(const struct config *cfg, FILE *ef)
{
	char dir[PATH_MAX];
	int ifd;

	if ((ifd = inotify_init1(IN_CLOEXEC)) == -1) {
		fprintf(ef, "%s: warning: cannot try watching the TLS files' "
		    "directories: inotify: %s\n", cfg->path, strerror(errno));
		return;
	}
	for (size_t r = 0; r < cfg->nroutes; r++) {
		const struct route_config *rc = &cfg->routes[r];
		for (size_t i = 0; i < NTLS_KEYS; i++) {
			const char *p = tls_path(rc, i);
			int wd;

			if (p == NULL)
				continue;
			dir_of(p, dir, sizeof(dir));
			if (dir_seen(cfg, r, i, dir))
				continue;
			if ((wd = inotify_add_watch(ifd, dir, IN_MOVED_TO |
			    IN_CREATE)) == -1) {
				fprintf(ef, "%s:%d: warning: %s: cannot watch '%s' "
				    "for rotated files (%s): only SIGHUP will reload "
				    "them\n", cfg->path, rc->line[tls_keys[i]],
				    config_key_name(tls_keys[i]), dir, strerror(errno));
			} else {
				inotify_rm_watch(ifd, wd);
			}
		}
	}
	close(ifd);
}

/* SIGUSR1 reopens the audit log (after logrotate moved it) as this user;
 * the sandbox, applied as this user too, must reach its directory. */
static int
try_audit(const struct config *cfg, FILE *ef)
{
	const char *path = cfg->audit_log;
	int line = cfg->global_line[GK_AUDIT_LOG], fd;
	char dir[PATH_MAX];

	if (path == NULL || strcmp(path, "-") == 0)
		return 0;
	dir_of(path, dir, sizeof(dir));
	if (cfg->sandbox) {
		if ((fd = open(dir, O_PATH | O_CLOEXEC)) == -1 && errno != ENOENT) {
			fprintf(ef, "%s:%d: audit_log: the sandbox cannot reach '%s': "
			    "%s\n", cfg->path, line, dir, strerror(errno));
			return -1;
		}
		if (fd != -1)
			close(fd);
	}
	if (access(path, W_OK) == 0 || access(dir, W_OK | X_OK) == 0)
		return 0;
	fprintf(ef, "%s:%d: warning: audit_log: neither '%s' nor its directory "
	    "is writable: SIGUSR1 (log rotation) reopens the log and will fail, "
	    "unless the rotation leaves a file writable here (logrotate's "
	    "create with this owner)\n", cfg->path, line, path);
	return 0;
}

/* What fails, for the closing line. */
#define FAIL_RELOAD	1
#define FAIL_SANDBOX	2

/* What reload.c does, printing what fails, unadorned; FAIL_* bits. */
static int
try_reload(const struct config *cfg, FILE *ef)
{
	struct config *again;
	char err[1024];
	int failed = 0;

	if ((again = config_load(cfg->path, ef)) == NULL)
		return FAIL_RELOAD;
	for (size_t i = 0; i < again->nroutes; i++) {
		struct tls_material *m;

		m = daemon_route_material(again, &again->routes[i], err, sizeof(err));
		if (m == NULL) {
			fprintf(ef, "%s\n", err);
			failed |= FAIL_RELOAD;
		}
		tls_material_unref(m);
	}
	try_watches(again, ef);
	if (try_audit(cfg, ef) == -1)
		failed |= FAIL_SANDBOX;
	config_free(again);
	return failed;
}

int
check_access_reload(const struct config *cfg, FILE *errs)
{
	const char *user = cfg->user;
	char *buf = NULL, *save = NULL;
	size_t len = 0;
	FILE *ef;
	int failed;

	if (user == NULL)
		return 0;
	if ((ef = open_memstream(&buf, &len)) == NULL) {
		fprintf(errs, "%s: cannot try a reload as '%s': %s\n", cfg->path,
		    user, strerror(errno));
		return -1;
	}
	failed = try_reload(cfg, ef);
	fclose(ef);
	for (char *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
		fprintf(errs, "%s (as user '%s', which mtlsd runs as after "
		    "start-up)\n", l, user);
	free(buf);
	if (failed & FAIL_RELOAD)
		fprintf(errs, "%s:%d: user: mtlsd runs as '%s' after start-up, and "
		    "every reload would fail as above, so certificates could not "
		    "be rotated: make what is named above readable by '%s' (a "
		    "key owned by it, mode 0600), or change user\n", cfg->path,
		    cfg->global_line[GK_USER], user, user);
	else if (failed & FAIL_SANDBOX)
		fprintf(errs, "%s:%d: user: mtlsd runs as '%s' after start-up, and "
		    "the sandbox would fail as above: let '%s' reach it, or set "
		    "sandbox = no\n", cfg->path, cfg->global_line[GK_USER], user,
		    user);
	return failed ? -1 : 0;
}

int
check_access_as_user(const struct config *cfg, FILE *errs)
{
	struct passwd *pw;
	uid_t uid;
	gid_t gid;
	pid_t pid;
	int status;

	if (cfg->user == NULL || (pw = getpwnam(cfg->user)) == NULL)
		return 0;	/* config_check() reported an unknown user */
	uid = pw->pw_uid;
	gid = pw->pw_gid;
	if (geteuid() == uid)
		return check_access_reload(cfg, errs);
	if (geteuid() != 0) {
		fprintf(errs, "%s:%d: warning: user: check runs as uid %u, not "
		    "root, so it cannot try what '%s' can read: run it as root "
		    "to know that reloads will work\n", cfg->path,
		    cfg->global_line[GK_USER], (unsigned)geteuid(), cfg->user);
		return 0;
	}
	fflush(NULL);
	if ((pid = fork()) == -1) {
		fprintf(errs, "%s:%d: warning: user: cannot try reloads as '%s': "
		    "fork: %s\n", cfg->path, cfg->global_line[GK_USER], cfg->user,
		    strerror(errno));
		return 0;
	}
	if (pid == 0) {
		int rc;
		/* The identity drop_privileges() (daemon.c) takes: the user's
		 * own group only, as the daemon has. */
		if (setgroups(1, &gid) == -1 || setgid(gid) == -1 ||
		    setuid(uid) == -1) {
			fprintf(errs, "%s:%d: user: cannot become '%s': %s\n",
			    cfg->path, cfg->global_line[GK_USER], cfg->user,
			    strerror(errno));
			fflush(errs);
			_exit(1);
		}
		rc = check_access_reload(cfg, errs);
		fflush(errs);
		_exit(rc == 0 ? 0 : 1);
	}
	while (waitpid(pid, &status, 0) == -1)
		if (errno != EINTR) {
			status = -1;
			break;
		}
	if (status != -1 && WIFEXITED(status) && WEXITSTATUS(status) <= 1)
		return WEXITSTATUS(status) == 0 ? 0 : -1;
	fprintf(errs, "%s:%d: warning: user: the try of reloads as '%s' ended "
	    "abnormally (status %d)\n", cfg->path, cfg->global_line[GK_USER],
	    cfg->user, status);
	return 0;
}
