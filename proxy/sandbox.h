/*
 * sandbox.h: after start-up the daemon confines itself.
 *
 *   no-new-privileges  always (it also lets an unprivileged process use
 *                      the two below);
 *   Landlock           the filesystem: read the config's directory and
 *                      each TLS file's directory (where rotation renames
 *                      new files in), the accounts files a reload's user
 *                      check reads; write the audit log's directory
 *                      (SIGUSR1 reopens it); remove the unix listeners'
 *                      socket files at exit.  Nothing else: a reload can
 *                      no longer read a file in a directory it did not
 *                      know at start.
 *   seccomp            an allow-list of the calls the running daemon
 *                      makes; running programs (execve), tracing, mounts,
 *                      modules, kexec, bpf, namespaces and keyrings kill
 *                      the process, any other call fails (seccomp.h).
 * Applied in the main thread before the workers start, so every thread
 * has it.  A kernel without Landlock gets the rest, and a log line.
 */
#ifndef MTLSD_PROXY_SANDBOX_H
#define MTLSD_PROXY_SANDBOX_H

#include "config/config.h"

struct event_base;

/* Confines the process as above; seccomp's refusals are logged from
 * base's loop.  Returns 0 (logging what it could and could not apply), or
 * -1 with err filled if a step the kernel offers failed. */
int sandbox_apply(const struct config *cfg, struct event_base *base, char *err,
    size_t errlen);

/* Landlock's ABI version here, 0 if the kernel has none. */
int sandbox_landlock_abi(void);

#endif /* MTLSD_PROXY_SANDBOX_H */
