/*
 * parse.c: strict value parsers for the config file (see parse.h).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "config/parse.h"

/* Reads an unsigned decimal prefix; *end points past it.  No sign, no space. */
static int
read_decimal(const char *s, unsigned long long *v, const char **end)
{
	unsigned long long n = 0;
	const char *p = s;

	if (!isdigit((unsigned char)*p))
		return -1;
	for (; isdigit((unsigned char)*p); p++) {
		unsigned d = (unsigned)(*p - '0');
		if (n > (~0ULL - d) / 10)
			return -1;
		n = n * 10 + d;
	}
	*v = n;
	*end = p;
	return 0;
}

int
parse_duration_ms(const char *s, uint32_t *ms, const char **why)
{
	unsigned long long n, mult;
	const char *u;

	if (read_decimal(s, &n, &u) == -1) {
		*why = "expected a duration such as 10s, 5m, 1h or 250ms";
		return -1;
	}
	if (*u == '\0') {
		if (n != 0) {
			*why = "a duration needs a unit: ms, s, m or h";
			return -1;
		}
		mult = 0;
	} else if (strcmp(u, "ms") == 0)
		mult = 1;
	else if (strcmp(u, "s") == 0)
		mult = 1000;
	else if (strcmp(u, "m") == 0)
		mult = 60 * 1000;
	else if (strcmp(u, "h") == 0)
		mult = 3600 * 1000;
	else {
		*why = "unknown duration unit (use ms, s, m or h)";
		return -1;
	}
	if (mult != 0 && n > UINT32_MAX / mult) {
		*why = "duration too long (at most 1193h)";
		return -1;
	}
	*ms = (uint32_t)(n * mult);
	return 0;
}

int
parse_size(const char *s, uint64_t *bytes, const char **why)
{
	unsigned long long n, mult = 1;
	const char *u;

	if (read_decimal(s, &n, &u) == -1) {
		*why = "expected a size such as 65536, 64K, 16M or 1G";
		return -1;
	}
	if (*u != '\0') {
		if (u[1] != '\0') {
			*why = "unknown size unit (use K, M or G)";
			return -1;
		}
		switch (*u) {
		case 'K': case 'k': mult = 1ULL << 10; break;
		case 'M': case 'm': mult = 1ULL << 20; break;
		case 'G': case 'g': mult = 1ULL << 30; break;
		default:
			*why = "unknown size unit (use K, M or G)";
			return -1;
		}
	}
	if (n > UINT64_MAX / mult) {
		*why = "size too large";
		return -1;
	}
	*bytes = n * mult;
	return 0;
}

int
parse_bool(const char *s, bool *b, const char **why)
{
	static const char *yes[] = { "yes", "true", "on", "1" };
	static const char *no[] = { "no", "false", "off", "0" };

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*b = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*b = false;
			return 0;
		}
	}
	*why = "expected yes or no";
	return -1;
}

int
parse_uint(const char *s, unsigned long min, unsigned long max,
    unsigned long *v, const char **why)
{
	unsigned long long n;
	const char *end;

	if (read_decimal(s, &n, &end) == -1 || *end != '\0') {
		*why = "expected a whole number";
		return -1;
	}
	if (n < min || n > max) {
		*why = "number out of range";
		return -1;
	}
	*v = (unsigned long)n;
	return 0;
}

int
parse_port_range(const char *s, uint16_t *lo, uint16_t *hi, const char **why)
{
	unsigned long long a, b;
	const char *end;

	if (read_decimal(s, &a, &end) == -1 || (*end != '\0' && *end != '-'))
		return *why = "expected a port or a range such as 29500-29599", -1;
	b = a;
	if (*end == '-' && (read_decimal(end + 1, &b, &end) == -1 || *end != '\0'))
		return *why = "expected a port or a range such as 29500-29599", -1;
	if (a < 1 || b > 65535)
		return *why = "ports go from 1 to 65535", -1;
	if (a > b)
		return *why = "a range goes from low to high", -1;
	*lo = (uint16_t)a;
	*hi = (uint16_t)b;
	return 0;
}

/* RFC 1123 host name: dot-separated labels of letters, digits and hyphens. */
static bool
valid_hostname(const char *h)
{
	size_t label = 0, total = strlen(h);

	if (total == 0 || total > 253)
		return false;
	for (const char *p = h; ; p++) {
		if (*p == '.' || *p == '\0') {
			if (label == 0 || label > 63 || p[-1] == '-')
				return false;
			if (*p == '\0')
				return true;
			label = 0;
			continue;
		}
		if (!isalnum((unsigned char)*p) && *p != '-')
			return false;
		if (label == 0 && *p == '-')
			return false;
		label++;
	}
}

int
parse_addr(const char *s, bool allow_unix, struct addr *a, const char **why)
{
	const char *host, *colon, *hend;
	unsigned long port;
	size_t hlen;
	struct in6_addr a6;

	memset(a, 0, sizeof(*a));
	if (strncmp(s, "unix:", 5) == 0) {
		if (!allow_unix) {
			*why = "a unix socket is not allowed here";
			return -1;
		}
		s += 5;
		if (s[0] != '/') {
			*why = "a unix socket path must be absolute (unix:/path)";
			return -1;
		}
		if (strlen(s) >= sizeof(a->path)) {
			*why = "unix socket path too long (at most 107 bytes)";
			return -1;
		}
		a->kind = ADDR_UNIX;
		strcpy(a->path, s);
		snprintf(a->text, sizeof(a->text), "unix:%s", s);
		return 0;
	}

	if (s[0] == '[') {
		host = s + 1;
		hend = strchr(host, ']');
		if (hend == NULL || hend[1] != ':') {
			*why = "expected [v6address]:port";
			return -1;
		}
		colon = hend + 1;
	} else {
		host = s;
		colon = strrchr(s, ':');
		if (colon == NULL) {
			*why = "expected host:port, [v6]:port or unix:/path";
			return -1;
		}
		hend = colon;
		if (memchr(s, ':', (size_t)(colon - s)) != NULL) {
			*why = "an IPv6 address needs brackets: [v6]:port";
			return -1;
		}
	}
	hlen = (size_t)(hend - host);
	if (hlen == 0 || hlen >= sizeof(a->host)) {
		*why = "missing or overlong host";
		return -1;
	}
	memcpy(a->host, host, hlen);
	a->host[hlen] = '\0';
	if (parse_uint(colon + 1, 1, 65535, &port, why) == -1) {
		*why = "port must be a number from 1 to 65535";
		return -1;
	}
	if (s[0] == '[') {
		if (inet_pton(AF_INET6, a->host, &a6) != 1) {
			*why = "not a valid IPv6 address inside [ ]";
			return -1;
		}
	} else if (strspn(a->host, "0123456789.") == hlen) {
		/* All digits and dots: an IPv4 literal or a typo, never a name. */
		struct in_addr a4;
		if (inet_pton(AF_INET, a->host, &a4) != 1) {
			*why = "not a valid IPv4 address";
			return -1;
		}
	} else if (!valid_hostname(a->host)) {
		*why = "not a valid host name or IPv4 address";
		return -1;
	}
	a->kind = ADDR_INET;
	a->port = (uint16_t)port;
	if (s[0] == '[')
		snprintf(a->text, sizeof(a->text), "[%s]:%u", a->host, a->port);
	else
		snprintf(a->text, sizeof(a->text), "%s:%u", a->host, a->port);
	return 0;
}

bool
addr_is_literal(const struct addr *a)
{
	unsigned char buf[16];

	return a->kind == ADDR_INET && (inet_pton(AF_INET, a->host, buf) == 1 ||
	    inet_pton(AF_INET6, a->host, buf) == 1);
}

int
parse_cidr(const char *s, struct cidr *c, const char **why)
{
	char host[64];
	const char *slash = strchr(s, '/');
	size_t hlen = slash ? (size_t)(slash - s) : strlen(s);
	unsigned long prefix;
	unsigned max;

	memset(c, 0, sizeof(*c));
	if (hlen == 0 || hlen >= sizeof(host)) {
		*why = "expected an address prefix such as 10.0.0.0/8 or fd00::/8";
		return -1;
	}
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	if (inet_pton(AF_INET, host, c->addr) == 1) {
		c->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, host, c->addr) == 1) {
		c->family = AF_INET6;
		max = 128;
	} else {
		*why = "not an IPv4 or IPv6 address";
		return -1;
	}
	prefix = max;
	if (slash != NULL && parse_uint(slash + 1, 0, max, &prefix, why) == -1) {
		*why = c->family == AF_INET ? "prefix length must be 0..32" :
		    "prefix length must be 0..128";
		return -1;
	}
	c->prefix = (uint8_t)prefix;
	/* Host bits set (10.1.2.3/8) usually mean a typo: refuse rather than guess. */
	for (unsigned bit = c->prefix; bit < max; bit++) {
		if (c->addr[bit / 8] & (0x80 >> (bit % 8))) {
			*why = "address has bits set beyond the prefix length";
			return -1;
		}
	}
	return 0;
}

bool
cidr_match_bytes(const struct cidr *c, const uint8_t *ip, size_t len)
{
	static const uint8_t v4mapped[12] = { 0,0,0,0,0,0,0,0,0,0,0xff,0xff };
	unsigned full, rest;

	if (c->family == AF_INET && len == 16 && memcmp(ip, v4mapped, 12) == 0) {
		ip += 12;
		len = 4;
	}
	if ((c->family == AF_INET && len != 4) || (c->family == AF_INET6 && len != 16))
		return false;
	full = c->prefix / 8;
	rest = c->prefix % 8;
	if (memcmp(c->addr, ip, full) != 0)
		return false;
	if (rest == 0)
		return true;
	uint8_t mask = (uint8_t)(0xff00 >> rest);
	return (c->addr[full] & mask) == (ip[full] & mask);
}

bool
cidr_match_sockaddr(const struct cidr *c, const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		return cidr_match_bytes(c, (const uint8_t *)&in->sin_addr, 4);
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		return cidr_match_bytes(c, in6->sin6_addr.s6_addr, 16);
	}
	return false;
}

void
cidr_format(const struct cidr *c, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN];

	inet_ntop(c->family, c->addr, host, sizeof(host));
	snprintf(buf, len, "%s/%u", host, c->prefix);
}
