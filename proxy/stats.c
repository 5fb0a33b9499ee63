/*
 * stats.c: histogram buckets and names for the counters in stats.h.
 */
#include <stdio.h>
#include <string.h>

#include "proxy/stats.h"

const double stats_buckets[STATS_NBUCKETS] = {
	0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5,
};

void
histogram_observe(struct histogram *h, uint64_t us)
{
	double s = (double)us / 1e6;

	/* Buckets are counted non-cumulatively here and summed when read. */
	for (int i = 0; i < STATS_NBUCKETS; i++) {
		if (s <= stats_buckets[i]) {
			counter_add(&h->bucket[i], 1);
			break;
		}
	}
	counter_add(&h->count, 1);
	counter_add(&h->sum_us, us);
}

const char *
refuse_reason_name(enum refuse_reason r)
{
	static const char *const names[REFUSE_COUNT] = {
		[REFUSE_MAX_CONNECTIONS] = "max_connections",
		[REFUSE_CIDR] = "source_address",
		[REFUSE_PROXY_HEADER] = "proxy_header",
		[REFUSE_TUNNEL] = "tunnel",
		[REFUSE_FDS] = "out_of_descriptors",
	};
	return (unsigned)r < REFUSE_COUNT ? names[r] : "?";
}

struct peer_stat *
peer_stats_get(struct peer_stats *ps, const char *id)
{
	size_t n = atomic_load_explicit(&ps->n, memory_order_relaxed);
	struct peer_stat *e;

	if (ps->cap == 0 || id[0] == '\0')
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (strncmp(ps->v[i].id, id, sizeof(ps->v[i].id) - 1) == 0)
			return &ps->v[i];
	if (n == ps->cap) {
		counter_add(&ps->others, 1);
		return NULL;
	}
	e = &ps->v[n];
	snprintf(e->id, sizeof(e->id), "%s", id);
	/* Readers see the id before they see the entry. */
	atomic_store_explicit(&ps->n, n + 1, memory_order_release);
	return e;
}
