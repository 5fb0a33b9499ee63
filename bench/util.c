/*
 * util.c: messages, the clock and the test stream (see bench.h).
 */
#include <endian.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "bench/bench.h"

static void
vwarn(int err, const char *fmt, va_list ap)
{
	fputs("mtlsd-bench: ", stderr);
	vfprintf(stderr, fmt, ap);
	if (err != 0)
		fprintf(stderr, ": %s", strerror(err));
	fputc('\n', stderr);
}

void
bench_warn(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	vwarn(saved, fmt, ap);
	va_end(ap);
	errno = saved;
}

void
bench_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vwarn(0, fmt, ap);
	va_end(ap);
}

uint64_t
bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

__extension__ typedef unsigned __int128 u128;

/* wyrand's step at counter i: one 64x64->128 multiply per word. */
static inline uint64_t
pattern_word(uint64_t seed, uint64_t i)
{
	uint64_t s = seed + (i + 1) * 0xa0761d6478bd642fULL;
	u128 t = (u128)s * (s ^ 0xe7037ed1a0b428dbULL);

	return (uint64_t)(t >> 64) ^ (uint64_t)t;
}

uint64_t
pattern_seed(unsigned long stream)
{
	/* A stream each, so a proxy that crosses two connections is caught. */
	return pattern_word(0x6d746c73642d6265ULL, stream);
}

void
pattern_fill(uint64_t seed, uint64_t pos, uint8_t *buf, size_t len)
{
	uint64_t w;

	/* Little-endian words, as the bytewise head and tail take them. */
	for (; len > 0 && (pos & 7) != 0; pos++, len--)
		*buf++ = (uint8_t)(pattern_word(seed, pos >> 3) >> (8 * (pos & 7)));
	for (; len >= 8; pos += 8, len -= 8, buf += 8) {
		w = htole64(pattern_word(seed, pos >> 3));
		memcpy(buf, &w, 8);
	}
	for (; len > 0; pos++, len--)
		*buf++ = (uint8_t)(pattern_word(seed, pos >> 3) >> (8 * (pos & 7)));
}
