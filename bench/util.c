/*
 * util.c: messages, the clock, the deterministic test stream and its checksum
 * (see bench.h).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "bench/bench.h"

#define FNV_BASIS	0xcbf29ce484222325ULL
#define FNV_PRIME	0x100000001b3ULL
#define GOLDEN		0x9e3779b97f4a7c15ULL

void
bench_warn(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	fputs("mtlsd-bench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, ": %s\n", strerror(saved));
	errno = saved;
}

void
bench_warnx(const char *fmt, ...)
{
	va_list ap;

	fputs("mtlsd-bench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

uint64_t
bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline uint64_t
mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

#ifdef __SIZEOF_INT128__
__extension__ typedef unsigned __int128 u128;

/* wyrand's step at counter i: one 64x64->128 multiply per word. */
static inline uint64_t
pattern_word(uint64_t seed, uint64_t i)
{
	uint64_t s = seed + (i + 1) * 0xa0761d6478bd642fULL;
	u128 t = (u128)s * (s ^ 0xe7037ed1a0b428dbULL);

	return (uint64_t)(t >> 64) ^ (uint64_t)t;
}
#else
static inline uint64_t
pattern_word(uint64_t seed, uint64_t i)
{
	return mix64(seed + (i + 1) * GOLDEN);
}
#endif

/* Explicit byte order, so both ends agree whatever the host's. */
static inline void
store_le64(uint8_t *p, uint64_t w)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	w = __builtin_bswap64(w);
#endif
	memcpy(p, &w, 8);
}

static inline uint64_t
load_le64(const uint8_t *p)
{
	uint64_t w;

	memcpy(&w, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	w = __builtin_bswap64(w);
#endif
	return w;
}

uint64_t
pattern_seed(unsigned long stream)
{
	/* Distinct streams so a proxy that crosses two connections is caught. */
	return mix64(0x6d746c73642d6265ULL ^ ((uint64_t)stream * GOLDEN));
}

void
pattern_fill(uint64_t seed, uint64_t pos, uint8_t *buf, size_t len)
{
	/* Receivers ask for ranges that start anywhere: align bytewise first. */
	while (len > 0 && (pos & 7) != 0) {
		*buf++ = (uint8_t)(pattern_word(seed, pos >> 3) >> (8 * (pos & 7)));
		pos++;
		len--;
	}
	for (uint64_t i = pos >> 3; len >= 8; i++) {
		store_le64(buf, pattern_word(seed, i));
		buf += 8;
		pos += 8;
		len -= 8;
	}
	for (; len > 0; pos++, len--)
		*buf++ = (uint8_t)(pattern_word(seed, pos >> 3) >> (8 * (pos & 7)));
}

void
csum_init(struct csum *c)
{
	memset(c, 0, sizeof(*c));
	for (int i = 0; i < 4; i++)
		c->lane[i] = FNV_BASIS + (uint64_t)i;
}

/* Lanes are passed by value: stores through c could alias p (uint8_t). */
static inline void
csum_blocks(uint64_t lane[4], const uint8_t *p, size_t nblocks)
{
	uint64_t a = lane[0], b = lane[1], c = lane[2], d = lane[3];

	for (; nblocks > 0; nblocks--, p += 32) {
		a = (a ^ load_le64(p)) * FNV_PRIME;
		b = (b ^ load_le64(p + 8)) * FNV_PRIME;
		c = (c ^ load_le64(p + 16)) * FNV_PRIME;
		d = (d ^ load_le64(p + 24)) * FNV_PRIME;
	}
	lane[0] = a;
	lane[1] = b;
	lane[2] = c;
	lane[3] = d;
}

void
csum_update(struct csum *c, const uint8_t *p, size_t n)
{
	c->len += n;
	if (c->npart > 0) {
		size_t take = sizeof(c->part) - c->npart;

		if (take > n)
			take = n;
		memcpy(c->part + c->npart, p, take);
		c->npart += take;
		p += take;
		n -= take;
		if (c->npart < sizeof(c->part))
			return;
		csum_blocks(c->lane, c->part, 1);
		c->npart = 0;
	}
	csum_blocks(c->lane, p, n / 32);
	p += n / 32 * 32;
	n %= 32;
	memcpy(c->part, p, n);
	c->npart = n;
}

uint64_t
csum_final(const struct csum *c)
{
	uint64_t lane0 = c->lane[0], h = FNV_BASIS;

	/* The tail that did not fill a block goes bytewise into lane 0. */
	for (size_t i = 0; i < c->npart; i++)
		lane0 = (lane0 ^ c->part[i]) * FNV_PRIME;
	h = (h ^ lane0) * FNV_PRIME;
	for (int i = 1; i < 4; i++)
		h = (h ^ c->lane[i]) * FNV_PRIME;
	h = (h ^ c->len) * FNV_PRIME;
	return mix64(h);
}
