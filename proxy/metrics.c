/*
 * metrics.c: the Prometheus text exposition of mtlsd's counters.
 *
 * Every counter is kept per worker and route by the worker alone (stats.h);
 * a scrape sums them here, in the main thread, with relaxed loads.  Nothing
 * is reset; Prometheus computes rates.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>

#include "proxy/daemon.h"
#include "proxy/metrics.h"
#include "proxy/seccomp.h"
#include "proxy/version.h"
#include "proxy/worker.h"

/* Appends a string literal (its length known at compile time). */
#define ADD(out, lit) evbuffer_add((out), (lit), sizeof(lit) - 1)

/*
 * Label values escape backslash, double quote and newline (the format's
 * own escapes).  A peer identity is bytes from a certificate: anything else
 * outside printable ASCII is percent-encoded, so a hostile name cannot
 * break the exposition (which must be valid UTF-8) or forge a line.
 */
static void
label(struct evbuffer *out, const char *s)
{
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '\\' || ch == '"')
			evbuffer_add_printf(out, "\\%c", ch);
		else if (ch == '\n')
			ADD(out, "\\n");
		else if (ch < 0x20 || ch >= 0x7f)
			evbuffer_add_printf(out, "%%%02X", ch);
		else
			evbuffer_add(out, s, 1);
	}
}

static void
head(struct evbuffer *out, const char *name, const char *type, const char *help)
{
	evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Sums one counter (at byte offset off in struct route_stats) over workers. */
static uint64_t
sum(const struct daemon *d, size_t route, size_t off)
{
	uint64_t total = 0;

	for (unsigned w = 0; w < d->nworkers; w++) {
		struct route_stats *st = &d->workers[w].routes[route].stats;
		total += counter_get((counter_t *)((char *)st + off));
	}
	return total;
}

#define SUM(d, r, field) sum((d), (r), offsetof(struct route_stats, field))

static void
per_route(struct evbuffer *out, const struct daemon *d, const char *name,
    const char *type, const char *help, size_t off)
{
	head(out, name, type, help);
	for (size_t r = 0; r < d->nroutes; r++) {
		evbuffer_add_printf(out, "%s{route=\"", name);
		label(out, d->routes[r].rc->name);
		evbuffer_add_printf(out, "\"} %llu\n", (unsigned long long)sum(d, r, off));
	}
}

static void
histogram(struct evbuffer *out, const struct daemon *d, const char *name,
    const char *help, size_t off)
{
	head(out, name, "histogram", help);
	for (size_t r = 0; r < d->nroutes; r++) {
		uint64_t cum = 0;
		for (int b = 0; b < STATS_NBUCKETS; b++) {
			cum += sum(d, r, off + offsetof(struct histogram, bucket) +
			    (size_t)b * sizeof(counter_t));
			evbuffer_add_printf(out, "%s_bucket{route=\"", name);
			label(out, d->routes[r].rc->name);
			evbuffer_add_printf(out, "\",le=\"%g\"} %llu\n", stats_buckets[b],
			    (unsigned long long)cum);
		}
		evbuffer_add_printf(out, "%s_bucket{route=\"", name);
		label(out, d->routes[r].rc->name);
		evbuffer_add_printf(out, "\",le=\"+Inf\"} %llu\n%s_sum{route=\"",
		    (unsigned long long)sum(d, r, off + offsetof(struct histogram, count)),
		    name);
		label(out, d->routes[r].rc->name);
		evbuffer_add_printf(out, "\"} %.6f\n%s_count{route=\"",
		    (double)sum(d, r, off + offsetof(struct histogram, sum_us)) / 1e6, name);
		label(out, d->routes[r].rc->name);
		evbuffer_add_printf(out, "\"} %llu\n", (unsigned long long)
		    sum(d, r, off + offsetof(struct histogram, count)));
	}
}

static void
reasons(struct evbuffer *out, const struct daemon *d, const char *name,
    const char *help, size_t off, int n, const char *(*reason_name)(int), int skip)
{
	head(out, name, "counter", help);
	for (size_t r = 0; r < d->nroutes; r++) {
		for (int i = 0; i < n; i++) {
			if (i == skip)
				continue;
			evbuffer_add_printf(out, "%s{route=\"", name);
			label(out, d->routes[r].rc->name);
			evbuffer_add_printf(out, "\",reason=\"%s\"} %llu\n", reason_name(i),
			    (unsigned long long)sum(d, r, off + (size_t)i * sizeof(counter_t)));
		}
	}
}

static const char *
fail_name(int i)
{
	return tls_fail_name((enum tls_fail)i);
}

static const char *
refuse_name(int i)
{
	return refuse_reason_name((enum refuse_reason)i);
}

/* Per-identity series: merged over workers by identity. */
static void
peers(struct evbuffer *out, const struct daemon *d)
{
	static const char *const names[3] = { "mtlsd_peer_connections_total",
	    "mtlsd_peer_bytes_in_total", "mtlsd_peer_bytes_out_total" };
	static const size_t offs[3] = { offsetof(struct peer_stat, conns),
	    offsetof(struct peer_stat, bytes_in), offsetof(struct peer_stat, bytes_out) };

	if (d->cfg->metrics_peer_limit == 0)
		return;
	for (int k = 0; k < 3; k++) {
		head(out, names[k], "counter", k == 0 ? "Connections per verified "
		    "peer identity (bounded by metrics_peer_limit)." :
		    "Bytes per verified peer identity, counted at close.");
		for (size_t r = 0; r < d->nroutes; r++) {
			/* Identities of all workers, each printed once. */
			for (unsigned w = 0; w < d->nworkers; w++) {
				struct peer_stats *ps = &d->workers[w].routes[r].peers;
				size_t n = atomic_load_explicit(&ps->n, memory_order_acquire);
				for (size_t i = 0; i < n; i++) {
					const char *id = ps->v[i].id;
					uint64_t total = 0;
					bool dup = false;
					for (unsigned v = 0; v < w && !dup; v++) {
						struct peer_stats *q = &d->workers[v].routes[r].peers;
						size_t qn = atomic_load_explicit(&q->n, memory_order_acquire);
						for (size_t j = 0; j < qn && !dup; j++)
							dup = strcmp(q->v[j].id, id) == 0;
					}
					if (dup)
						continue;
					for (unsigned v = 0; v < d->nworkers; v++) {
						struct peer_stats *q = &d->workers[v].routes[r].peers;
						size_t qn = atomic_load_explicit(&q->n, memory_order_acquire);
						for (size_t j = 0; j < qn; j++)
							if (strcmp(q->v[j].id, id) == 0)
								total += counter_get((counter_t *)
								    ((char *)&q->v[j] + offs[k]));
					}
					evbuffer_add_printf(out, "%s{route=\"", names[k]);
					label(out, d->routes[r].rc->name);
					ADD(out, "\",peer_id=\"");
					label(out, id);
					evbuffer_add_printf(out, "\"} %llu\n", (unsigned long long)total);
				}
			}
		}
	}
	head(out, "mtlsd_peer_others_connections_total", "counter",
	    "Connections from identities beyond metrics_peer_limit.");
	for (size_t r = 0; r < d->nroutes; r++) {
		uint64_t total = 0;
		for (unsigned w = 0; w < d->nworkers; w++)
			total += counter_get(&d->workers[w].routes[r].peers.others);
		ADD(out, "mtlsd_peer_others_connections_total{route=\"");
		label(out, d->routes[r].rc->name);
		evbuffer_add_printf(out, "\"} %llu\n", (unsigned long long)total);
	}
}

/* The audit trail's own health, summed over the workers' buffers (all 0
 * when audit_log is off).  A record is dropped when the sink fails (a full
 * disk) or stays full (a FIFO nobody reads); truncated when a string was
 * shortened (audit.h).  Alert on either moving. */
static void
audit(struct evbuffer *out, const struct daemon *d)
{
	static const char *const names[3] = { "mtlsd_audit_records_written_total",
	    "mtlsd_audit_records_dropped_total", "mtlsd_audit_records_truncated_total" };
	static const char *const helps[3] = { "Audit records written to audit_log.",
	    "Audit records lost: audit_log failed or stayed full.",
	    "Audit records written with a string shortened (marked truncated)." };
	uint64_t (*const get[3])(const struct audit_buf *) = { audit_buf_written,
	    audit_buf_dropped, audit_buf_truncated };

	for (int k = 0; k < 3; k++) {
		uint64_t total = 0;
		for (unsigned w = 0; w < d->nworkers; w++)
			total += get[k](&d->workers[w].audit);
		head(out, names[k], "counter", helps[k]);
		evbuffer_add_printf(out, "%s %llu\n", names[k], (unsigned long long)total);
	}
}

void
metrics_render(const struct daemon *d, struct evbuffer *out)
{
	time_t now = time(NULL);

	head(out, "mtlsd_build_info", "gauge", "mtlsd's version.");
	evbuffer_add_printf(out, "mtlsd_build_info{version=\"%s\"} 1\n", MTLSD_VERSION);
	head(out, "mtlsd_workers", "gauge", "Event-loop threads.");
	evbuffer_add_printf(out, "mtlsd_workers %u\n", d->nworkers);

	per_route(out, d, "mtlsd_connections_total", "counter",
	    "Connections accepted.", offsetof(struct route_stats, conns_total));
	per_route(out, d, "mtlsd_connections_open", "gauge",
	    "Connections open now.", offsetof(struct route_stats, conns_open));
	per_route(out, d, "mtlsd_connections_ktls_total", "counter",
	    "Connections whose records the kernel encrypted (kTLS).",
	    offsetof(struct route_stats, conns_ktls));
	per_route(out, d, "mtlsd_connections_libgcrypt_total", "counter",
	    "Connections whose records mtlsd's own layer (libgcrypt) sealed.",
	    offsetof(struct route_stats, conns_own));
	per_route(out, d, "mtlsd_key_updates_total", "counter",
	    "TLS 1.3 KeyUpdates sent and received (mtlsd's own record layer).",
	    offsetof(struct route_stats, key_updates));
	per_route(out, d, "mtlsd_upstream_retries_total", "counter",
	    "Refused upstream connects a tunnel-ending route (connect = original) "
	    "tried again within connect_timeout.",
	    offsetof(struct route_stats, upstream_retries));
	per_route(out, d, "mtlsd_key_limit_closes_total", "counter",
	    "AES-GCM connections on mbedTLS's or the kernel's records closed at "
	    "key_update_records, since those layers cannot change keys.",
	    offsetof(struct route_stats, key_limit_closes));
	reasons(out, d, "mtlsd_connections_refused_total", "Connections turned "
	    "away before any TLS work, by reason.",
	    offsetof(struct route_stats, refused), REFUSE_COUNT, refuse_name, -1);
	reasons(out, d, "mtlsd_handshake_failures_total", "Failed TLS handshakes, "
	    "by reason.", offsetof(struct route_stats, handshake_fail),
	    TLS_FAIL_COUNT, fail_name, TLS_FAIL_NONE);
	per_route(out, d, "mtlsd_handshake_timeouts_total", "counter",
	    "Handshakes cut at handshake_timeout.",
	    offsetof(struct route_stats, handshake_timeout));
	per_route(out, d, "mtlsd_handshakes_resumed_total", "counter",
	    "Handshakes that resumed a session from a ticket.",
	    offsetof(struct route_stats, handshakes_resumed));
	per_route(out, d, "mtlsd_upstream_failures_total", "counter",
	    "Upstream connects refused, unreachable or timed out.",
	    offsetof(struct route_stats, upstream_fail));
	per_route(out, d, "mtlsd_bytes_in_total", "counter",
	    "Bytes from the accepted side toward the upstream.",
	    offsetof(struct route_stats, bytes_in));
	per_route(out, d, "mtlsd_bytes_out_total", "counter",
	    "Bytes from the upstream back to the accepted side.",
	    offsetof(struct route_stats, bytes_out));
	histogram(out, d, "mtlsd_handshake_duration_seconds",
	    "TLS handshake time.", offsetof(struct route_stats, handshake));
	histogram(out, d, "mtlsd_upstream_connect_duration_seconds",
	    "Upstream TCP connect time.", offsetof(struct route_stats, connect));

	head(out, "mtlsd_reloads_total", "counter", "Certificate reloads, by result.");
	evbuffer_add_printf(out, "mtlsd_reloads_total{result=\"ok\"} %llu\n"
	    "mtlsd_reloads_total{result=\"failed\"} %llu\n",
	    (unsigned long long)atomic_load(&d->reloads_ok),
	    (unsigned long long)atomic_load(&d->reloads_failed));

	audit(out, d);

	head(out, "mtlsd_sandbox_denied_syscalls_total", "counter",
	    "System calls the seccomp allow-list refused (each failed with ENOSYS).");
	evbuffer_add_printf(out, "mtlsd_sandbox_denied_syscalls_total %llu\n",
	    (unsigned long long)seccomp_denied_total());

	head(out, "mtlsd_certificate_expiry_seconds", "gauge",
	    "Seconds until the route's own certificate expires.");
	for (size_t r = 0; r < d->nroutes; r++) {
		time_t end = d->routes[r].material ?
		    tls_material_not_after(d->routes[r].material) : 0;
		if (end == 0)
			continue;
		ADD(out, "mtlsd_certificate_expiry_seconds{route=\"");
		label(out, d->routes[r].rc->name);
		evbuffer_add_printf(out, "\"} %lld\n", (long long)(end - now));
	}
	peers(out, d);
}
