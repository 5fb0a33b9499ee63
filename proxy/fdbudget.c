/*
 * fdbudget.c: file descriptors as a budget (see fdbudget.h).
 */
#include <dirent.h>
#include <stdio.h>
#include <sys/resource.h>

#include "proxy/fdbudget.h"
#include "tls/tls.h"

/* Listeners, epoll, pipes, logs, DNS, the admin endpoint, a reload's
 * files, lingering sockets beyond the count: room above the fds open now. */
#define FD_RESERVE 64

static long
open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	long n = 0;

	if (d == NULL)
		return 0;
	while (readdir(d) != NULL)
		n++;
	closedir(d);
	return n > 3 ? n - 3 : 0;	/* ".", "..", the DIR's own fd */
}

int
fd_budget_init(struct fd_budget *b, char *msg, size_t len)
{
	struct rlimit rl;
	rlim_t before;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return -1;
	before = rl.rlim_cur;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
			rl.rlim_cur = before;
	}
	b->limit = rl.rlim_cur == RLIM_INFINITY ? 1L << 30 : (long)rl.rlim_cur;
	b->reserve = open_fds() + FD_RESERVE;
	atomic_store(&b->used, 0);
	snprintf(msg, len, "nofile=%ld raised_from=%llu", b->limit,
	    (unsigned long long)before);
	return 0;
}

int
fd_budget_conn_cost(const struct route_config *rc)
{
	bool kernel = (rc->record_layer == RECORD_LAYER_AUTO ||
	    rc->record_layer == RECORD_LAYER_KERNEL) && tls_ktls_available();

	return kernel ? 6 : 2;
}

long
fd_budget_needed(const struct config *cfg)
{
	long n = 0;

	for (size_t i = 0; i < cfg->nroutes; i++)
		n += (long)cfg->routes[i].max_connections *
		    fd_budget_conn_cost(&cfg->routes[i]);
	return n;
}

bool
fd_budget_take(struct fd_budget *b, int n)
{
	long room = b->limit - b->reserve;

	if (atomic_fetch_add(&b->used, n) + n <= room)
		return true;
	atomic_fetch_sub(&b->used, n);
	return false;
}

void
fd_budget_give(struct fd_budget *b, int n)
{
	atomic_fetch_sub(&b->used, n);
}
