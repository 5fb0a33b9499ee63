/*
 * stats.c: histogram buckets and names for the counters in stats.h.
 */
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
		[REFUSE_DRAINING] = "draining",
	};
	return (unsigned)r < REFUSE_COUNT ? names[r] : "?";
}
