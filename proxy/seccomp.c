/*
 * seccomp.c: the running daemon's system-call allow-list (see seccomp.h).
 *
 * The filter is built at install time from three tables: the calls that
 * kill, the calls that are allowed, and two calls allowed only for some
 * arguments (socket by family, clone for threads).  Everything else traps:
 * the SIGSYS handler makes the call return -ENOSYS, marks its number, and
 * pokes an eventfd so that the main loop logs it once.  Linux (5.11 and
 * later) caches "always allowed" per call number, so the length of the
 * list costs the data path's read, write and splice nothing.
 *
 * The lists were taken from strace of every e2e test's daemon and the
 * sanitizer build's, and are kept honest by tests/e2e/lib.sh: a test
 * whose daemon logged a refusal fails.  Code that makes a new call after
 * start-up adds it to `allowed`, under its purpose.
 */
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/prctl.h>
#include <ucontext.h>
#include <unistd.h>

#include <event2/event.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/sched.h>
#include <linux/seccomp.h>

#include "proxy/log.h"
#include "proxy/seccomp.h"

#if defined(__x86_64__)
#define ARCH AUDIT_ARCH_X86_64
#define ARCH_NAME "x86_64"
#define SET_RETURN(uc, v) ((uc)->uc_mcontext.gregs[REG_RAX] = (v))
#elif defined(__aarch64__)
#define ARCH AUDIT_ARCH_AARCH64
#define ARCH_NAME "aarch64"
#define SET_RETURN(uc, v) ((uc)->uc_mcontext.regs[0] = (unsigned long long)(v))
#endif

/* Calls one architecture has and the other does not (aarch64 has only
 * the *at and p* forms): -1 leaves them out of the filter. */
#ifndef __NR_open
#define __NR_open -1
#endif
#ifndef __NR_access
#define __NR_access -1
#endif
#ifndef __NR_stat
#define __NR_stat -1
#endif
#ifndef __NR_lstat
#define __NR_lstat -1
#endif
#ifndef __NR_readlink
#define __NR_readlink -1
#endif
#ifndef __NR_unlink
#define __NR_unlink -1
#endif
#ifndef __NR_dup2
#define __NR_dup2 -1
#endif
#ifndef __NR_pipe
#define __NR_pipe -1
#endif
#ifndef __NR_poll
#define __NR_poll -1
#endif
#ifndef __NR_select
#define __NR_select -1
#endif
#ifndef __NR_epoll_create
#define __NR_epoll_create -1
#endif
#ifndef __NR_epoll_wait
#define __NR_epoll_wait -1
#endif
#ifndef __NR_time
#define __NR_time -1
#endif
#ifndef __NR_getrlimit
#define __NR_getrlimit -1
#endif
#ifndef __NR_iopl
#define __NR_iopl -1
#endif
#ifndef __NR_ioperm
#define __NR_ioperm -1
#endif
#ifndef __NR_uselib
#define __NR_uselib -1
#endif
#ifndef __NR_fork
#define __NR_fork -1
#endif
#ifndef __NR_vfork
#define __NR_vfork -1
#endif
#ifndef __NR_map_shadow_stack
#define __NR_map_shadow_stack -1
#endif
#ifndef __NR_epoll_pwait2
#define __NR_epoll_pwait2 -1
#endif
#ifndef __NR_faccessat2
#define __NR_faccessat2 -1
#endif
#ifndef __NR_rseq
#define __NR_rseq -1
#endif
#ifndef __NR_clone3
#define __NR_clone3 -1
#endif
#ifndef __NR_getdents
#define __NR_getdents -1
#endif

/* What only an attacker who runs code in mtlsd would call. */
static const int killed[] = {
	__NR_execve, __NR_execveat, __NR_fork, __NR_vfork,
#if !SECCOMP_FOR_LSAN
	__NR_ptrace,
#endif
	__NR_process_vm_readv, __NR_process_vm_writev,
	__NR_mount, __NR_umount2, __NR_pivot_root, __NR_chroot,
	__NR_unshare, __NR_setns,
	__NR_init_module, __NR_finit_module, __NR_delete_module,
	__NR_kexec_load, __NR_kexec_file_load, __NR_reboot,
	__NR_swapon, __NR_swapoff, __NR_bpf, __NR_perf_event_open,
	__NR_keyctl, __NR_add_key, __NR_request_key,
	__NR_open_by_handle_at, __NR_name_to_handle_at, __NR_userfaultfd,
	__NR_acct, __NR_settimeofday, __NR_clock_settime, __NR_adjtimex,
	__NR_clock_adjtime, __NR_sethostname, __NR_setdomainname,
	__NR_quotactl, __NR_fsopen, __NR_fsmount, __NR_move_mount,
	__NR_open_tree, __NR_fsconfig, __NR_fspick, __NR_personality,
	__NR_vhangup, __NR_iopl, __NR_ioperm, __NR_uselib,
};

/* What the running daemon uses, by purpose. */
static const int allowed[] = {
	/* the data path, first: relay, records, splice (kTLS) */
	__NR_read, __NR_write, __NR_readv, __NR_writev, __NR_recvfrom,
	__NR_sendto, __NR_recvmsg, __NR_sendmsg, __NR_splice, __NR_pipe2,
	__NR_pipe,
	/* events */
	__NR_epoll_wait, __NR_epoll_pwait, __NR_epoll_pwait2, __NR_epoll_ctl,
	__NR_epoll_create, __NR_epoll_create1, __NR_eventfd2, __NR_poll,
	__NR_ppoll, __NR_select, __NR_pselect6,
	/* sockets (socket itself below): accept, upstream connect, evdns,
	 * the admin listener, the kTLS setsockopts, sd_notify */
	__NR_accept, __NR_accept4, __NR_connect, __NR_bind, __NR_listen,
	__NR_socketpair, __NR_getsockname, __NR_getpeername,
	__NR_setsockopt, __NR_getsockopt, __NR_shutdown, __NR_sendmmsg,
	__NR_recvmmsg,
	/* files: reloads, the audit log and its SIGUSR1 reopen, inotify, the
	 * unix listeners' socket files at exit */
	__NR_openat, __NR_open, __NR_close, __NR_lseek, __NR_pread64,
	__NR_pwrite64, __NR_fstat, __NR_newfstatat, __NR_stat, __NR_lstat,
	__NR_statx, __NR_access, __NR_faccessat, __NR_faccessat2,
	__NR_readlink, __NR_readlinkat, __NR_getdents64, __NR_getcwd,
	__NR_fcntl, __NR_dup, __NR_dup2, __NR_dup3, __NR_unlink,
	__NR_unlinkat, __NR_fsync, __NR_fdatasync, __NR_ioctl,
	__NR_inotify_init1, __NR_inotify_add_watch, __NR_inotify_rm_watch,
	/* memory */
	__NR_brk, __NR_mmap, __NR_munmap, __NR_mremap, __NR_mprotect,
	__NR_madvise,
	/* threads (clone below) and their exit */
	__NR_futex, __NR_set_robust_list, __NR_get_robust_list, __NR_rseq,
	__NR_set_tid_address, __NR_sched_yield, __NR_sched_getaffinity,
	__NR_map_shadow_stack, __NR_gettid, __NR_getpid, __NR_tgkill,
	__NR_exit, __NR_exit_group, __NR_prctl,
	/* signals */
	__NR_rt_sigaction, __NR_rt_sigprocmask, __NR_rt_sigreturn,
	__NR_sigaltstack, __NR_restart_syscall,
	/* time (mostly the vDSO) */
	__NR_clock_gettime, __NR_clock_getres, __NR_gettimeofday, __NR_time,
	__NR_nanosleep, __NR_clock_nanosleep,
	/* who and where: a reload's user check, fd budget, entropy */
	__NR_getuid, __NR_geteuid, __NR_getgid, __NR_getegid,
	__NR_getgroups, __NR_getresuid, __NR_getresgid, __NR_uname,
	__NR_getrlimit, __NR_prlimit64, __NR_getrusage, __NR_getrandom,
#if SECCOMP_FOR_LSAN
	__NR_ptrace, __NR_wait4, __NR_waitid, __NR_getppid, __NR_kill,
	__NR_getdents,
	__NR_sched_getparam, __NR_sched_getscheduler,
#endif
};

/* The argument words seccomp_data shows, low 32 bits (little-endian). */
#define ARG_LO(i) ((uint32_t)(offsetof(struct seccomp_data, args) + 8 * (i)))
#define RET(action) BPF_STMT(BPF_RET | BPF_K, (action))
#define ERRNO(e) (SECCOMP_RET_ERRNO | ((e) & SECCOMP_RET_DATA))

/* Room for every table entry as a compare and a return, plus the fixed
 * parts; install() checks it. */
#define PROG_MAX 512

struct prog {
	struct sock_filter insn[PROG_MAX];
	unsigned n;
};

static void
put(struct prog *p, struct sock_filter f)
{
	if (p->n < PROG_MAX)
		p->insn[p->n] = f;
	p->n++;
}

static void
put_all(struct prog *p, const struct sock_filter *insn, size_t count)
{
	for (size_t i = 0; i < count; i++)
		put(p, insn[i]);
}

/* "if nr == NR: return ACTION", for each listed call this kernel has. */
static void
put_list(struct prog *p, const int *nrs, size_t count, uint32_t action)
{
	for (size_t i = 0; i < count; i++) {
		if (nrs[i] < 0)
			continue;
		put(p, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
		    (uint32_t)nrs[i], 0, 1));
		put(p, (struct sock_filter)RET(action));
	}
}

/* Sockets of the families a proxy uses: unix (listeners, sd_notify), inet
 * and inet6; others fail, as the systemd unit's RestrictAddressFamilies
 * has them fail (getaddrinfo goes on without its netlink socket). */
static void
put_socket_rule(struct prog *p)
{
	static const struct sock_filter rule[] = {
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_socket, 0, 6),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ARG_LO(0)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AF_UNIX, 3, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AF_INET, 2, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AF_INET6, 1, 0),
		RET(ERRNO(EAFNOSUPPORT)),
		RET(SECCOMP_RET_ALLOW),
	};
	put_all(p, rule, sizeof(rule) / sizeof(rule[0]));
}

/* clone for a thread only (a new process could do nothing useful here);
 * clone3 hides its flags in memory the filter cannot read, so it fails
 * with ENOSYS and the C library falls back to clone. */
static void
put_clone_rules(struct prog *p)
{
	static const struct sock_filter rule[] = {
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_clone, 0, 4),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ARG_LO(0)),
		BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, CLONE_THREAD, 0, 1),
		RET(SECCOMP_RET_ALLOW),
		RET(SECCOMP_RET_TRAP),
	};
	static const int clone3[] = { __NR_clone3 };

	put_list(p, clone3, 1, ERRNO(ENOSYS));
#if SECCOMP_FOR_LSAN
	static const int clone[] = { __NR_clone };
	put_list(p, clone, 1, SECCOMP_RET_ALLOW);
	(void)rule;
#else
	put_all(p, rule, sizeof(rule) / sizeof(rule[0]));
#endif
}

/* ---- refusals: counted in the handler, logged from the main loop -------- */

/* Globals (house rule 14's exception): the SIGSYS handler runs in
 * whichever thread made the call and can reach nothing else. */

#define NR_SEEN 512
static atomic_uint_fast64_t denied_total;
static atomic_uint_fast64_t seen[NR_SEEN / 64];
static uint64_t reported[NR_SEEN / 64];	/* main loop only */
static atomic_int report_fd = -1;
static struct event *report_ev;

static void
on_sigsys(int sig, siginfo_t *si, void *ctx)
{
	int saved = errno;
	unsigned nr = (unsigned)si->si_syscall;

	(void)sig;
	atomic_fetch_add(&denied_total, 1);
	if (nr < NR_SEEN) {
		uint64_t bit = UINT64_C(1) << (nr % 64);
		int fd = atomic_load(&report_fd);
		if (!(atomic_fetch_or(&seen[nr / 64], bit) & bit) && fd != -1) {
			uint64_t one = 1;
			(void)!write(fd, &one, sizeof(one));
		}
	}
#ifdef SET_RETURN
	SET_RETURN((ucontext_t *)ctx, -ENOSYS);
#else
	(void)ctx;
#endif
	errno = saved;
}

static void
on_report(evutil_socket_t fd, short what, void *arg)
{
	uint64_t n;

	(void)what;
	(void)arg;
	(void)!read(fd, &n, sizeof(n));
	for (unsigned w = 0; w < NR_SEEN / 64; w++) {
		uint64_t fresh = atomic_load(&seen[w]) & ~reported[w];
		reported[w] |= fresh;
		for (unsigned b = 0; fresh != 0; b++, fresh >>= 1)
			if (fresh & 1)
				log_warnx("event=sandbox status=denied syscall=%u arch=%s "
				    "hint=\"the seccomp allow-list lacks this call, which "
				    "failed with ENOSYS; please report it (sandbox = no "
				    "turns the sandbox off)\"", w * 64 + b, ARCH_NAME);
	}
}

int
seccomp_install(struct event_base *base)
{
#ifdef ARCH
	static struct prog p;	/* 4 KiB: not on the stack */
	struct sock_fprog fprog;
	struct sigaction sa;

	p.n = 0;
	put(&p, (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
	    offsetof(struct seccomp_data, arch)));
	/* Another architecture's numbers mean other calls. */
	put(&p, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ARCH, 1, 0));
	put(&p, (struct sock_filter)RET(SECCOMP_RET_KILL_PROCESS));
	put(&p, (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
	    offsetof(struct seccomp_data, nr)));
#ifdef __x86_64__
	/* x32 calls share the numbers, with bit 30 set. */
	put(&p, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000, 0, 1));
	put(&p, (struct sock_filter)RET(SECCOMP_RET_KILL_PROCESS));
#endif
	put_list(&p, killed, sizeof(killed) / sizeof(killed[0]),
	    SECCOMP_RET_KILL_PROCESS);
	put_socket_rule(&p);
	put_clone_rules(&p);
	put_list(&p, allowed, sizeof(allowed) / sizeof(allowed[0]), SECCOMP_RET_ALLOW);
	put(&p, (struct sock_filter)RET(SECCOMP_RET_TRAP));
	if (p.n > PROG_MAX) {
		errno = E2BIG;
		return -1;
	}

	if (base != NULL && report_ev == NULL) {
		int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (fd == -1)
			return -1;
		atomic_store(&report_fd, fd);
		report_ev = event_new(base, fd, EV_READ | EV_PERSIST, on_report, NULL);
		if (report_ev == NULL || event_add(report_ev, NULL) == -1) {
			seccomp_close();
			errno = ENOMEM;
			return -1;
		}
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigsys;
	sa.sa_flags = SA_SIGINFO;
	sigfillset(&sa.sa_mask);
	if (sigaction(SIGSYS, &sa, NULL) == -1)
		return -1;
	fprog.len = (unsigned short)p.n;
	fprog.filter = p.insn;
	return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fprog, 0, 0);
#else
	(void)base;
	errno = ENOSYS;
	return -1;
#endif
}

void
seccomp_close(void)
{
	int fd;

	if (report_ev != NULL)
		event_free(report_ev);
	report_ev = NULL;
	if ((fd = atomic_exchange(&report_fd, -1)) != -1)
		close(fd);
}

uint64_t
seccomp_denied_total(void)
{
	return atomic_load(&denied_total);
}
