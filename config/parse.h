/*
 * parse.h: strict parsers for the value types of mtlsd's config file.
 *
 * Each parser reads the whole string or fails: trailing garbage, signs, empty
 * strings and out-of-range values are errors.  On failure the parser returns -1
 * and points *why at a static message suitable for "FILE:LINE: key: <why>".
 * None of them allocate.
 */
#ifndef MTLSD_CONFIG_PARSE_H
#define MTLSD_CONFIG_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sockaddr;

/* Where a route listens or connects: host:port, [v6]:port or unix:/path. */
enum addr_kind { ADDR_INET, ADDR_UNIX };

#define ADDR_HOST_MAX 256
#define ADDR_PATH_MAX 108	/* sizeof(sun_path) on Linux */

struct addr {
	enum addr_kind kind;
	char host[ADDR_HOST_MAX];	/* INET: name or literal, no brackets */
	uint16_t port;			/* INET: 1..65535 */
	char path[ADDR_PATH_MAX];	/* UNIX: absolute path */
	char text[ADDR_HOST_MAX + 16];	/* canonical form, for logs */
};

/* An IPv4 or IPv6 prefix.  An IPv4 prefix also matches IPv4-mapped IPv6. */
struct cidr {
	int family;		/* AF_INET or AF_INET6 */
	uint8_t addr[16];	/* network address, host bits zero */
	uint8_t prefix;		/* 0..32 or 0..128 */
};

/* "10s", "5m", "1h", "250ms" or "0" (off).  Bare numbers need a unit. */
int parse_duration_ms(const char *s, uint32_t *ms, const char **why);

/* "65536", "64K", "16M", "1G" (powers of 1024). */
int parse_size(const char *s, uint64_t *bytes, const char **why);

/* yes/no, true/false, on/off, 1/0 (case-insensitive). */
int parse_bool(const char *s, bool *b, const char **why);

/* A decimal integer in [min, max]. */
int parse_uint(const char *s, unsigned long min, unsigned long max,
    unsigned long *v, const char **why);

/* host:port, [v6]:port, or (when allow_unix) unix:/absolute/path. */
int parse_addr(const char *s, bool allow_unix, struct addr *a, const char **why);

/* True when the host part of an INET addr is an IPv4 or IPv6 literal. */
bool addr_is_literal(const struct addr *a);

/* "8080" or "29500-29599" (inclusive; 1..65535, low <= high). */
int parse_port_range(const char *s, uint16_t *lo, uint16_t *hi, const char **why);

/* "10.0.0.0/8", "fd00::/8", or a bare address (a /32 or /128). */
int parse_cidr(const char *s, struct cidr *c, const char **why);

/* Whether the address bytes (4 or 16 of them) fall inside c. */
bool cidr_match_bytes(const struct cidr *c, const uint8_t *ip, size_t len);

/* Whether an AF_INET or AF_INET6 socket address falls inside c. */
bool cidr_match_sockaddr(const struct cidr *c, const struct sockaddr *sa);

/* Formats a prefix as "a.b.c.d/n" or "v6/n" into buf. */
void cidr_format(const struct cidr *c, char *buf, size_t len);

#endif /* MTLSD_CONFIG_PARSE_H */
