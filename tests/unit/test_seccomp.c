/*
 * test_seccomp.c: proxy/seccomp.c's filter, installed for real.
 *
 * Each row runs in a child process that sets no_new_privs, installs the
 * filter and makes its calls: it exits 0 when every call behaved as the
 * row says, or with the failing line's number; a row that expects the
 * kernel to kill the child checks that it died by SIGSYS.  The sanitizer
 * build's filter lets LeakSanitizer's tracer fork and ptrace: its rows for
 * those check that they work there.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "proxy/seccomp.h"
#include "tests/unit/table.h"

/* In the child: the line of the first expectation that failed. */
#define EXPECT(c) do { if (!(c)) _exit(__LINE__ & 0xff ? __LINE__ & 0xff : 1); } while (0)

static void *
thread_main(void *arg)
{
	return arg;
}

static void
allowed_calls_work(void)
{
	int fds[2];
	char c = 'x';

	EXPECT(getpid() > 0);
	EXPECT(pipe2(fds, O_CLOEXEC) == 0);
	EXPECT(write(fds[1], &c, 1) == 1 && read(fds[0], &c, 1) == 1);
	int s = socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK, 0);
	EXPECT(s >= 0 && close(s) == 0);
	s = socket(AF_UNIX, SOCK_DGRAM, 0);
	EXPECT(s >= 0 && close(s) == 0);
	EXPECT(seccomp_denied_total() == 0);
}

static void
unlisted_call_fails_enosys(void)
{
	errno = 0;
	EXPECT(syscall(SYS_msgget, 0, 0) == -1 && errno == ENOSYS);
	EXPECT(seccomp_denied_total() == 1);
	EXPECT(syscall(SYS_msgget, 0, 0) == -1 && errno == ENOSYS);
	EXPECT(seccomp_denied_total() == 2);
	/* and the process goes on making allowed calls */
	EXPECT(getpid() > 0);
}

static void
other_socket_family_refused(void)
{
	errno = 0;
	EXPECT(socket(AF_ALG, SOCK_SEQPACKET, 0) == -1 && errno == EAFNOSUPPORT);
	EXPECT(socket(AF_PACKET, SOCK_RAW, 0) == -1 && errno == EAFNOSUPPORT);
	EXPECT(socket(AF_NETLINK, SOCK_RAW, 0) == -1 && errno == EAFNOSUPPORT);
	EXPECT(seccomp_denied_total() == 0);
}

static void
threads_start(void)
{
	pthread_t t;
	void *ret = NULL;
	static int token;

	errno = 0;
	EXPECT(syscall(SYS_clone3, NULL, 0) == -1 && errno == ENOSYS);
	EXPECT(pthread_create(&t, NULL, thread_main, &token) == 0);
	EXPECT(pthread_join(t, &ret) == 0 && ret == &token);
}

/* The sanitizer build lets LeakSanitizer's tracer process be made: there,
 * fork works and is not counted as a refusal. */
static void
no_new_process(void)
{
	pid_t pid;
	int status;

	errno = 0;
	pid = fork();
	if (SECCOMP_FOR_LSAN) {
		if (pid == 0)
			_exit(0);
		EXPECT(pid > 0 && waitpid(pid, &status, 0) == pid);
		EXPECT(seccomp_denied_total() == 0);
		return;
	}
	EXPECT(pid == -1 && errno == ENOSYS);
	EXPECT(seccomp_denied_total() == 1);
}

static void
execve_kills(void)
{
	char *argv[] = { "true", NULL };

	execv("/bin/true", argv);
	_exit(2);	/* not killed: the row fails */
}

/* Killed, but for the sanitizer build, which keeps ptrace for LSan. */
static void
ptrace_kills(void)
{
	long rc = ptrace(PTRACE_TRACEME, 0, NULL, NULL);

	_exit(SECCOMP_FOR_LSAN && rc == 0 ? 0 : 2);
}

static void
mount_kills(void)
{
	(void)mount("none", "/", "tmpfs", 0, NULL);
	_exit(2);
}

static void
x32_call_kills(void)
{
#ifdef __x86_64__
	(void)syscall(0x40000000 | SYS_getpid);
	_exit(2);
#else
	(void)raise(SIGSYS);	/* no x32 here: as killed */
#endif
}

struct row {
	const char *name;
	void (*calls)(void);
	bool killed;		/* the kernel kills the child by SIGSYS */
	bool lsan_differs;	/* the sanitizer build allows it, for LSan */
};

static const struct row rows[] = {
	{ "seccomp: allowed calls work", allowed_calls_work, false, false },
	{ "seccomp: a call off the list fails with ENOSYS, is counted, and the "
	    "process runs on", unlisted_call_fails_enosys, false, false },
	{ "seccomp: a socket family off the list fails with EAFNOSUPPORT",
	    other_socket_family_refused, false, false },
	{ "seccomp: threads start (clone3 fails with ENOSYS, clone falls back)",
	    threads_start, false, false },
	{ "seccomp: no new process (fork fails with ENOSYS; the sanitizer build "
	    "allows it)", no_new_process, false, true },
	{ "seccomp: execve kills the process", execve_kills, true, false },
	{ "seccomp: ptrace kills the process (the sanitizer build allows it)",
	    ptrace_kills, true, true },
	{ "seccomp: mount kills the process", mount_kills, true, false },
	{ "seccomp: an x32 call kills the process", x32_call_kills, true, false },
};

static void
run_row(void **state)
{
	const struct row *r = *state;
	int status;
	pid_t pid;

	bool killed = r->killed && !(SECCOMP_FOR_LSAN && r->lsan_differs);

	row_at("%s%s", r->name, SECCOMP_FOR_LSAN && r->lsan_differs ?
	    " (sanitizer build: allowed)" : "");
	pid = fork();
	row_true(pid >= 0);
	if (pid == 0) {
		EXPECT(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0);
		EXPECT(seccomp_install(NULL) == 0);
		r->calls();
		_exit(0);
	}
	row_int_equal(waitpid(pid, &status, 0), pid);
	if (killed) {
		row_true(WIFSIGNALED(status));
		row_int_equal(WTERMSIG(status), SIGSYS);
	} else {
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			print_error("# child: %s %d (an exit status is the failing line, mod 256)\n",
			    WIFEXITED(status) ? "exit" : "signal",
			    WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
		row_true(WIFEXITED(status));
		row_int_equal(WEXITSTATUS(status), 0);
	}
}

int
main(void)
{
	struct CMUnitTest tests[ROWS(rows)];
	size_t n = 0;

	ROW_TESTS(tests, n, rows, run_row);
	return _cmocka_run_group_tests("seccomp", tests, n, NULL, NULL);
}
