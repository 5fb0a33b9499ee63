/*
 * certs_file.c: reading inputs and writing key and certificate files.
 *
 * A file is written to a temporary name in its final directory, with its
 * final mode from the start, synced, and only then given its name: a crash
 * leaves the old file or the new one, never half of one, and a key is never
 * readable by others, not even for a moment.  Without --force the name is
 * taken with a no-replace rename (or link()), so a file that appeared after
 * our check is still not clobbered.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mbedtls/platform_util.h>

#include "certs/certs_int.h"

/* One file on its way to its name. */
struct staged {
	const char *path;
	char tmp[PATH_MAX];		/* "" once it has been renamed or removed */
};

int
certs_path(char *buf, size_t len, const char *dir, const char *file)
{
	size_t dlen = strlen(dir);
	const char *sep = dlen > 0 && dir[dlen - 1] == '/' ? "" : "/";
	int n;

	n = snprintf(buf, len, "%s%s%s", dir, sep, file);
	if (n < 0 || (size_t)n >= len) {
		certs_warnx("%s%s%s: path too long", dir, sep, file);
		return -1;
	}
	return 0;
}

int
certs_mkdirs(const char *dir)
{
	char path[PATH_MAX];
	size_t len = strlen(dir), i;

	if (len >= sizeof(path)) {
		certs_warnx("%s: path too long", dir);
		return -1;
	}
	memcpy(path, dir, len + 1);
	/* Each prefix ending before a '/', then the whole path. */
	for (i = 1; i <= len; i++) {
		if (path[i] != '/' && path[i] != '\0')
			continue;
		path[i] = '\0';
		/* Exactly 0755 whatever the umask, like the files' modes: the
		 * service reading ca.crt may run as another user. */
		if (mkdir(path, 0755) == 0)
			chmod(path, 0755);
		else if (errno != EEXIST) {
			certs_warn("%s: cannot create directory", path);
			return -1;
		}
		if (i < len)
			path[i] = '/';
	}
	return 0;
}

int
certs_read(const char *path, size_t max, unsigned char **data, size_t *len)
{
	unsigned char *buf = NULL;
	struct stat st;
	size_t size = 0, got = 0;
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		certs_warn("%s", path);
		return -1;
	}
	if (fstat(fd, &st) == -1) {
		certs_warn("%s", path);
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		certs_warnx("%s: not a regular file", path);
		goto fail;
	}
	if ((size_t)st.st_size > max) {
		certs_warnx("%s: larger than %zu bytes", path, max);
		goto fail;
	}
	size = (size_t)st.st_size;
	if ((buf = malloc(size + 1)) == NULL) {
		certs_warn("%s", path);
		goto fail;
	}
	while (got < size) {
		n = read(fd, buf + got, size - got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			certs_warn("%s: read", path);
			goto fail;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	buf[got] = '\0';
	close(fd);
	*data = buf;
	*len = got;
	return 0;

fail:
	certs_read_free(buf, size);
	close(fd);
	return -1;
}

void
certs_read_free(unsigned char *data, size_t len)
{
	if (data == NULL)
		return;
	/* The buffer may have held a private key. */
	mbedtls_platform_zeroize(data, len + 1);
	free(data);
}

int
certs_check_absent(const char *path)
{
	struct stat st;

	if (lstat(path, &st) == 0) {
		certs_warnx("%s exists; use --force to replace it", path);
		return -1;
	}
	if (errno != ENOENT) {
		certs_warn("%s", path);
		return -1;
	}
	return 0;
}

static int
write_all(int fd, const unsigned char *p, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Writes data to a new temporary file beside s->path, with mode set before
 * the first byte goes in, and syncs it. */
static int
stage(struct staged *s, const unsigned char *data, size_t len, mode_t mode)
{
	int fd, n;

	n = snprintf(s->tmp, sizeof(s->tmp), "%s.tmpXXXXXX", s->path);
	if (n < 0 || (size_t)n >= sizeof(s->tmp)) {
		s->tmp[0] = '\0';
		certs_warnx("%s: path too long", s->path);
		return -1;
	}
	/* mkostemp() opens with O_CREAT|O_EXCL and mode 0600. */
	if ((fd = mkostemp(s->tmp, O_CLOEXEC)) == -1) {
		certs_warn("%s: cannot create a temporary file", s->path);
		s->tmp[0] = '\0';
		return -1;
	}
	/* fchmod, not open's mode: the umask must not change a key's mode. */
	if (fchmod(fd, mode) == -1 || write_all(fd, data, len) == -1 ||
	    fsync(fd) == -1) {
		certs_warn("%s: write", s->tmp);
		close(fd);
		return -1;
	}
	if (close(fd) == -1) {
		certs_warn("%s: close", s->tmp);
		return -1;
	}
	return 0;
}

/* Gives the staged file its name: replacing (force) or not. */
static int
commit(struct staged *s, bool force)
{
	if (force) {
		if (rename(s->tmp, s->path) == -1) {
			certs_warn("%s: cannot replace", s->path);
			return -1;
		}
		s->tmp[0] = '\0';
		return 0;
	}
	if (renameat2(AT_FDCWD, s->tmp, AT_FDCWD, s->path, RENAME_NOREPLACE) == 0) {
		s->tmp[0] = '\0';
		return 0;
	}
	/* Some file systems lack RENAME_NOREPLACE; link() never replaces either. */
	if (errno == EINVAL || errno == ENOSYS) {
		if (link(s->tmp, s->path) == 0) {
			unlink(s->tmp);
			s->tmp[0] = '\0';
			return 0;
		}
	}
	if (errno == EEXIST)
		certs_warnx("%s exists; use --force to replace it", s->path);
	else
		certs_warn("%s: cannot create", s->path);
	return -1;
}

static void
unstage(struct staged *s)
{
	if (s->tmp[0] != '\0')
		unlink(s->tmp);
	s->tmp[0] = '\0';
}

/* Makes the new names durable; failure is only worth a warning, as the
 * files themselves are complete. */
static void
sync_dir(const char *dir)
{
	int fd;

	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1 ||
	    fsync(fd) == -1)
		certs_warn("warning: %s: cannot sync directory", dir);
	if (fd != -1)
		close(fd);
}

int
certs_write_pair(const char *dir, const char *base,
    const unsigned char *key, size_t keylen,
    const unsigned char *crt, size_t crtlen, bool force)
{
	char keypath[PATH_MAX], crtpath[PATH_MAX], file[PATH_MAX];
	struct staged k = { keypath, "" }, c = { crtpath, "" };

	snprintf(file, sizeof(file), "%s.key", base);
	if (certs_path(keypath, sizeof(keypath), dir, file) == -1)
		return -1;
	snprintf(file, sizeof(file), "%s.crt", base);
	if (certs_path(crtpath, sizeof(crtpath), dir, file) == -1)
		return -1;

	/* Both complete on disk before either takes its name. */
	if (stage(&k, key, keylen, 0600) == -1 ||
	    stage(&c, crt, crtlen, 0644) == -1)
		goto fail;
	if (commit(&k, force) == -1)
		goto fail;
	if (commit(&c, force) == -1) {
		/* A key without its certificate is of no use to anyone. */
		unlink(keypath);
		goto fail;
	}
	sync_dir(dir);
	printf("wrote %s\n", crtpath);
	printf("wrote %s (mode 0600)\n", keypath);
	return 0;

fail:
	unstage(&k);
	unstage(&c);
	return -1;
}
