/*
 * fuzz_parse.c: config/parse.h's value parsers on any string.
 *
 * The first byte picks the parser, the rest is the string (NUL-terminated,
 * in a buffer exactly its size).  Checked, as parse.h promises: a failure
 * sets *why to a message; a parsed address's canonical text and a parsed
 * prefix's formatted form parse again to the same value; a port range is
 * ordered and in 1..65535; a prefix contains its own network address (also
 * as an IPv4-mapped IPv6 address, and as a sockaddr) and its range's edges.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "config/parse.h"
#include "tests/fuzz/fuzz.h"

#define FAILED(rc, why) \
	FUZZ_CHECK((rc) == 0 || ((rc) == -1 && (why) != NULL && (why)[0] != '\0'), \
	    "rc %d without a message", (rc))

static void
check_addr(const char *s, bool allow_unix)
{
	struct addr a, b;
	const char *why = NULL;
	int rc = parse_addr(s, allow_unix, &a, &why);

	FAILED(rc, why);
	if (rc != 0)
		return;
	FUZZ_CHECK(a.kind == ADDR_UNIX ? allow_unix && a.path[0] == '/' :
	    a.port >= 1 && a.host[0] != '\0', "parsed addr out of range");
	FUZZ_CHECK(memchr(a.text, '\0', sizeof(a.text)) != NULL, "text unterminated");
	why = NULL;
	rc = parse_addr(a.text, allow_unix, &b, &why);
	FUZZ_CHECK(rc == 0, "canonical text '%s' of '%s' does not parse: %s", a.text,
	    s, why);
	FUZZ_CHECK(a.kind == b.kind && a.port == b.port && strcmp(a.host, b.host) == 0 &&
	    strcmp(a.path, b.path) == 0 && strcmp(a.text, b.text) == 0,
	    "'%s' and its text '%s' differ", s, a.text);
	(void)addr_is_literal(&a);
	FUZZ_CHECK(a.kind == ADDR_INET || !addr_is_literal(&a), "unix literal");
}

static void
check_cidr(const char *s)
{
	struct cidr c, d;
	const char *why = NULL;
	char text[64];
	uint8_t ip[16], mapped[16] = { 0,0,0,0,0,0,0,0,0,0,0xff,0xff };
	size_t alen;
	int rc = parse_cidr(s, &c, &why);

	FAILED(rc, why);
	if (rc != 0)
		return;
	alen = c.family == AF_INET ? 4 : 16;
	FUZZ_CHECK((c.family == AF_INET && c.prefix <= 32) ||
	    (c.family == AF_INET6 && c.prefix <= 128), "bad prefix");
	cidr_format(&c, text, sizeof(text));
	why = NULL;
	rc = parse_cidr(text, &d, &why);
	FUZZ_CHECK(rc == 0, "formatted '%s' of '%s' does not parse: %s", text, s, why);
	FUZZ_CHECK(c.family == d.family && c.prefix == d.prefix &&
	    memcmp(c.addr, d.addr, 16) == 0, "'%s' and '%s' differ", s, text);

	/* The network address, and the last address of the range. */
	memcpy(ip, c.addr, alen);
	FUZZ_CHECK(cidr_match_bytes(&c, ip, alen), "%s misses its own address", text);
	for (unsigned bit = c.prefix; bit < alen * 8; bit++)
		ip[bit / 8] |= (uint8_t)(0x80 >> (bit % 8));
	FUZZ_CHECK(cidr_match_bytes(&c, ip, alen), "%s misses its last address", text);
	if (c.prefix > 0) {
		/* Flip the last bit of the prefix: outside. */
		ip[(c.prefix - 1) / 8] ^= (uint8_t)(0x80 >> ((c.prefix - 1) % 8));
		FUZZ_CHECK(!cidr_match_bytes(&c, ip, alen), "%s matches outside", text);
	}
	FUZZ_CHECK(!cidr_match_bytes(&c, c.addr, alen == 4 ? 16 : 4),
	    "%s matched an address of the other length", text);
	if (c.family == AF_INET) {
		struct sockaddr_in sin;
		memcpy(mapped + 12, c.addr, 4);
		FUZZ_CHECK(cidr_match_bytes(&c, mapped, 16), "%s misses v4-mapped", text);
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		memcpy(&sin.sin_addr, c.addr, 4);
		FUZZ_CHECK(cidr_match_sockaddr(&c, (struct sockaddr *)&sin), "sockaddr");
	} else {
		struct sockaddr_in6 sin6;
		memset(&sin6, 0, sizeof(sin6));
		sin6.sin6_family = AF_INET6;
		memcpy(&sin6.sin6_addr, c.addr, 16);
		FUZZ_CHECK(cidr_match_sockaddr(&c, (struct sockaddr *)&sin6), "sockaddr6");
	}
	/* Formatting into small buffers stays inside them. */
	for (size_t len = 1; len < 8; len++) {
		char *small = malloc(len);
		FUZZ_SETUP(small != NULL, "oom");
		cidr_format(&c, small, len);
		free(small);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *why = NULL;
	char *s;
	int rc;

	if (size < 1)
		return 0;
	s = fuzz_strndup(data + 1, size - 1);
	switch (data[0] % 8) {
	case 0: {
		uint32_t ms;
		rc = parse_duration_ms(s, &ms, &why);
		FAILED(rc, why);
		break;
	}
	case 1: {
		uint64_t b;
		rc = parse_size(s, &b, &why);
		FAILED(rc, why);
		break;
	}
	case 2: {
		bool b;
		rc = parse_bool(s, &b, &why);
		FAILED(rc, why);
		break;
	}
	case 3: {
		unsigned long v, lo = data[0] >> 3, hi = lo * 1000 + 65535;
		rc = parse_uint(s, lo, hi, &v, &why);
		FAILED(rc, why);
		FUZZ_CHECK(rc != 0 || (v >= lo && v <= hi), "%lu outside [%lu, %lu]", v,
		    lo, hi);
		why = NULL;
		rc = parse_uint(s, 0, ~0UL, &v, &why);
		FAILED(rc, why);
		break;
	}
	case 4:
		check_addr(s, (data[0] & 0x80) != 0);
		break;
	case 5: {
		uint16_t lo, hi;
		rc = parse_port_range(s, &lo, &hi, &why);
		FAILED(rc, why);
		FUZZ_CHECK(rc != 0 || (lo >= 1 && lo <= hi), "range %u-%u", lo, hi);
		break;
	}
	case 6:
		check_cidr(s);
		break;
	default:
		/* Raw bytes against every address family's matcher. */
		{
			struct cidr c;
			if (parse_cidr(s, &c, &why) == 0)
				break;
			memset(&c, 0, sizeof(c));
			c.family = (data[0] & 0x80) ? AF_INET6 : AF_INET;
			c.prefix = (uint8_t)(size % (c.family == AF_INET ? 33 : 129));
			memcpy(c.addr, s, size - 1 < 16 ? size - 1 : 16);
			(void)cidr_match_bytes(&c, (const uint8_t *)s, size - 1);
		}
		break;
	}
	free(s);
	return 0;
}
