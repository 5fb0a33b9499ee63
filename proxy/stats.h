/*
 * stats.h: per-worker, per-route counters.
 *
 * Each counter has one writer, its worker thread (proxy/counter.h); the
 * admin endpoint reads them and sums over workers.
 */
#ifndef MTLSD_PROXY_STATS_H
#define MTLSD_PROXY_STATS_H

#include <stdint.h>

#include "tls/tls.h"
#include "proxy/counter.h"

/* Why a connection was turned away before any TLS work. */
enum refuse_reason { REFUSE_MAX_CONNECTIONS, REFUSE_CIDR, REFUSE_PROXY_HEADER,
	REFUSE_TUNNEL, REFUSE_FDS, REFUSE_COUNT };

/* Histogram buckets (seconds) for handshake and connect latency. */
#define STATS_NBUCKETS 12
extern const double stats_buckets[STATS_NBUCKETS];

struct histogram {
	counter_t bucket[STATS_NBUCKETS];	/* per bucket; summed when read */
	counter_t count;
	counter_t sum_us;
};

struct route_stats {
	counter_t conns_total;		/* accepted */
	counter_t conns_open;
	counter_t conns_ktls;		/* took the kernel TLS path */
	counter_t conns_own;		/* took mtlsd's own record layer */
	counter_t key_updates;		/* own layer: KeyUpdates sent and received */
	counter_t key_limit_closes;	/* ended at key_update_records (no rekey) */
	counter_t upstream_retries;	/* connect = original: refused connects retried */
	counter_t refused[REFUSE_COUNT];
	counter_t handshake_fail[TLS_FAIL_COUNT];
	counter_t handshake_timeout;
	counter_t handshakes_resumed;	/* sessions resumed from a ticket */
	counter_t upstream_fail;	/* connect refused, unreachable, timed out */
	counter_t bytes_in;		/* from the accepted side onward */
	counter_t bytes_out;		/* back to the accepted side */
	struct histogram handshake;
	struct histogram connect;
};

/*
 * Per-identity counters, bounded: the first `cap` identities a worker sees
 * on a route get their own series; later ones are counted in `others`.
 * Entries are written once, then published by a release store of n.
 */
#define PEER_STAT_ID_MAX 128

struct peer_stat {
	char id[PEER_STAT_ID_MAX];
	counter_t conns, bytes_in, bytes_out;
};

struct peer_stats {
	struct peer_stat *v;
	size_t cap;
	atomic_size_t n;
	counter_t others;		/* connections from identities past cap */
};

/* The entry for id (adding it while there is room), or NULL. */
struct peer_stat *peer_stats_get(struct peer_stats *ps, const char *id);

/* Records one observation of us microseconds. */
void histogram_observe(struct histogram *h, uint64_t us);

/* The reason's name for logs and metric labels. */
const char *refuse_reason_name(enum refuse_reason r);

#endif /* MTLSD_PROXY_STATS_H */
