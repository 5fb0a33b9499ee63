/*
 * metrics.h: Prometheus text format for /metrics.
 */
#ifndef MTLSD_PROXY_METRICS_H
#define MTLSD_PROXY_METRICS_H

struct daemon;
struct evbuffer;

/* Appends every metric, summed over workers, to out (main thread). */
void metrics_render(const struct daemon *d, struct evbuffer *out);

#endif /* MTLSD_PROXY_METRICS_H */
