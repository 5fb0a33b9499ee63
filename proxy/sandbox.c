/*
 * sandbox.c: the daemon's confinement after start-up (see sandbox.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <linux/landlock.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "proxy/log.h"
#include "proxy/sandbox.h"
#include "proxy/seccomp.h"

int
sandbox_landlock_abi(void)
{
#ifdef SYS_landlock_create_ruleset
	long v = syscall(SYS_landlock_create_ruleset, NULL, 0,
	    LANDLOCK_CREATE_RULESET_VERSION);
	return v > 0 ? (int)v : 0;
#else
	return 0;
#endif
}

/* ---- Landlock ------------------------------------------------------------ */

#define FS_READ (LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR)
#define FS_FILE_READ LANDLOCK_ACCESS_FS_READ_FILE
#define FS_WRITE (LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_MAKE_REG | \
	LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR)
#define FS_UNLINK (LANDLOCK_ACCESS_FS_REMOVE_FILE | LANDLOCK_ACCESS_FS_READ_DIR)

/* Everything ABI 1 can restrict, plus REFER (2) and TRUNCATE (3). */
static uint64_t
handled(int abi)
{
	uint64_t fs = LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE |
	    LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR |
	    LANDLOCK_ACCESS_FS_REMOVE_DIR | LANDLOCK_ACCESS_FS_REMOVE_FILE |
	    LANDLOCK_ACCESS_FS_MAKE_CHAR | LANDLOCK_ACCESS_FS_MAKE_DIR |
	    LANDLOCK_ACCESS_FS_MAKE_REG | LANDLOCK_ACCESS_FS_MAKE_SOCK |
	    LANDLOCK_ACCESS_FS_MAKE_FIFO | LANDLOCK_ACCESS_FS_MAKE_BLOCK |
	    LANDLOCK_ACCESS_FS_MAKE_SYM;

#ifdef LANDLOCK_ACCESS_FS_REFER
	if (abi >= 2)
		fs |= LANDLOCK_ACCESS_FS_REFER;
#endif
#ifdef LANDLOCK_ACCESS_FS_TRUNCATE
	if (abi >= 3)
		fs |= LANDLOCK_ACCESS_FS_TRUNCATE;
#endif
	return fs;
}

/* Allows access beneath path (a missing path is skipped: nothing there to
 * protect or to need).  0, or -1 with errno. */
static int
allow(int ruleset, const char *path, uint64_t access)
{
	struct landlock_path_beneath_attr pb = { .allowed_access = access };
	int fd = open(path, O_PATH | O_CLOEXEC), rc;

	if (fd == -1)
		return errno == ENOENT ? 0 : -1;
	pb.parent_fd = fd;
	rc = (int)syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH,
	    &pb, 0);
	close(fd);
	return rc;
}

/* Read access to the directory of path, and of where it really is. */
static int
allow_dir_of(int ruleset, const char *path, uint64_t access)
{
	char buf[PATH_MAX], real[PATH_MAX];

	if (path == NULL)
		return 0;
	snprintf(buf, sizeof(buf), "%s", path);
	if (allow(ruleset, dirname(buf), access) == -1)
		return -1;
	if (realpath(path, real) != NULL && allow(ruleset, dirname(real), access) == -1)
		return -1;
	return 0;
}

static int
landlock(const struct config *cfg, int abi)
{
	struct landlock_ruleset_attr attr = { .handled_access_fs = handled(abi) };
	static const char *const accounts[] = { "/etc/passwd", "/etc/group",
	    "/etc/nsswitch.conf", "/etc/localtime" };
	int ruleset, rc = -1;

	ruleset = (int)syscall(SYS_landlock_create_ruleset, &attr, sizeof(attr), 0);
	if (ruleset == -1)
		return -1;
	if (allow_dir_of(ruleset, cfg->path, FS_READ) == -1)
		goto out;
	for (size_t i = 0; i <= cfg->nroutes; i++) {
		const struct route_config *r = i < cfg->nroutes ? &cfg->routes[i] :
		    &cfg->defaults;
		const char *files[] = { r->cert, r->key, r->ca, r->crl,
		    r->key_password_file };
		for (size_t f = 0; f < sizeof(files) / sizeof(files[0]); f++)
			if (allow_dir_of(ruleset, files[f], FS_READ) == -1)
				goto out;
		if (i < cfg->nroutes && r->listen.kind == ADDR_UNIX &&
		    allow_dir_of(ruleset, r->listen.path, FS_UNLINK) == -1)
			goto out;
	}
	for (size_t i = 0; i < sizeof(accounts) / sizeof(accounts[0]); i++)
		if (allow(ruleset, accounts[i], FS_FILE_READ) == -1)
			goto out;
#if SECCOMP_FOR_LSAN
	/* LeakSanitizer reads /proc/self/maps and task/ at exit. */
	if (allow(ruleset, "/proc", FS_READ) == -1)
		goto out;
#endif
	if (cfg->audit_log != NULL && strcmp(cfg->audit_log, "-") != 0 &&
	    allow_dir_of(ruleset, cfg->audit_log, FS_WRITE) == -1)
		goto out;
	rc = (int)syscall(SYS_landlock_restrict_self, ruleset, 0);
out:
	close(ruleset);
	return rc;
}

int
sandbox_apply(const struct config *cfg, struct event_base *base, char *err,
    size_t errlen)
{
	int abi = sandbox_landlock_abi();

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1) {
		snprintf(err, errlen, "no-new-privileges: %s", strerror(errno));
		return -1;
	}
	if (abi == 0) {
		log_warnx("event=sandbox landlock=unavailable: this kernel has no "
		    "Landlock; the filesystem is not confined");
	} else if (landlock(cfg, abi) == -1) {
		snprintf(err, errlen, "landlock: %s", strerror(errno));
		return -1;
	}
	if (seccomp_install(base) == -1) {
		snprintf(err, errlen, "seccomp: %s", strerror(errno));
		return -1;
	}
	if (abi > 0)
		log_info("event=sandbox no_new_privs=yes landlock=abi%d seccomp=yes", abi);
	else
		log_info("event=sandbox no_new_privs=yes landlock=off seccomp=yes");
	return 0;
}
