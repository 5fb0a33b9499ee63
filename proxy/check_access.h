/*
 * check_access.h: what every reload needs, tried as the user reloads run as.
 *
 * With user = NAME, run opens everything as root, then becomes NAME for
 * good; each later reload re-reads the config and every route's TLS files
 * as NAME, and watches their directories.  A key only root can read passes
 * at start and fails every reload after: rotation stops, silently.  So run
 * (right after the switch, before it serves) and check (in a child that
 * becomes NAME) both try exactly that, here.
 */
#ifndef MTLSD_PROXY_CHECK_ACCESS_H
#define MTLSD_PROXY_CHECK_ACCESS_H

#include <stdio.h>

#include "config/config.h"

/*
 * Tries, as the process is now, what a reload of cfg needs: reading cfg's
 * file again and loading each route's TLS material from what it reads
 * (errors); watching (inotify) each TLS file's directory, and reopening the
 * audit log for SIGUSR1 (warnings: both degrade, neither stops reloads),
 * unless the sandbox could not even reach the log's directory (an error).
 * Writes each problem to errs as "FILE:LINE: key: message (as user 'NAME',
 * ...)" and, on errors, one "FILE:LINE: user: ..." line naming the user.
 * Returns 0, or -1 if a reload would fail.
 */
int check_access_reload(const struct config *cfg, FILE *errs);

/*
 * check: the same as cfg->user, without becoming it: as root, a child
 * takes the identity run takes (uid, gid, that group alone) and tries; as
 * that user already, it is tried here.  Anyone else cannot try, and gets a
 * warning.  errs must be a stream on a descriptor (stderr): the child
 * writes to it too.  Returns 0 (also when it could not try), or -1 if a
 * reload would fail.
 */
int check_access_as_user(const struct config *cfg, FILE *errs);

#endif /* MTLSD_PROXY_CHECK_ACCESS_H */
