/*
 * seccomp.h: the running daemon's system calls, as an allow-list.
 *
 * Once installed (by sandbox_apply, before the worker threads exist, so
 * every thread has it), a system call is one of:
 *   allowed   what the running daemon uses (seccomp.c lists them by
 *             purpose: memory, threads, time, files for reloads and the
 *             audit log, inotify, sockets of the unix, inet and inet6
 *             families, epoll, splice and the kTLS setsockopts);
 *   killed    what only an attacker would call: execve, ptrace, mounts,
 *             modules, kexec, bpf, namespaces, keyrings, another
 *             architecture's or the x32 calls.  The whole process dies
 *             by SIGSYS (the sanitizer build keeps ptrace for
 *             LeakSanitizer);
 *   refused   anything else: the call fails with ENOSYS (a socket of
 *             another family with EAFNOSUPPORT, clone3 with ENOSYS so
 *             that the C library falls back to clone), and the first
 *             refusal of each call number is logged as
 *             "event=sandbox status=denied syscall=N" and counted in
 *             mtlsd_sandbox_denied_syscalls_total.  A refusal is a call
 *             the list lacks: the daemon runs on.
 */
#ifndef MTLSD_PROXY_SECCOMP_H
#define MTLSD_PROXY_SECCOMP_H

#include <stdint.h>

/* 1 in the AddressSanitizer build, whose LeakSanitizer stops the threads
 * at exit from a traced child process and reads /proc: that build's
 * sandbox keeps fork, ptrace and /proc for it (sandbox.c, seccomp.c). */
#if defined(__SANITIZE_ADDRESS__)
#define SECCOMP_FOR_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SECCOMP_FOR_LSAN 1
#endif
#endif
#ifndef SECCOMP_FOR_LSAN
#define SECCOMP_FOR_LSAN 0
#endif

struct event_base;

/* Installs the filter (no_new_privs must already be set).  With base,
 * refusals are logged from that loop; without, only counted.  0, or -1
 * with errno (ENOSYS on an architecture the filter does not know). */
int seccomp_install(struct event_base *base);

/* Frees what seccomp_install() added to its loop (the filter stays). */
void seccomp_close(void);

/* System calls refused so far. */
uint64_t seccomp_denied_total(void);

#endif /* MTLSD_PROXY_SECCOMP_H */
