/*
 * counter.h: single-writer counters.
 *
 * Each counter has one writer, the thread that owns it, which updates it
 * with a relaxed load and store (no locked instruction on the data path).
 * Readers in other threads (the admin endpoint) load relaxed.
 */
#ifndef MTLSD_PROXY_COUNTER_H
#define MTLSD_PROXY_COUNTER_H

#include <stdatomic.h>
#include <stdint.h>

typedef _Atomic uint64_t counter_t;

/* Adds n; only the owning thread calls it. */
static inline void
counter_add(counter_t *c, uint64_t n)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
	    memory_order_relaxed);
}

/* Subtracts n; only the owning thread calls it. */
static inline void
counter_sub(counter_t *c, uint64_t n)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) - n,
	    memory_order_relaxed);
}

/* The counter's value, from any thread.  C11's atomic_load takes a
 * non-const pointer; reading does not modify. */
static inline uint64_t
counter_get(const counter_t *c)
{
	return atomic_load_explicit((counter_t *)c, memory_order_relaxed);
}

#endif /* MTLSD_PROXY_COUNTER_H */
