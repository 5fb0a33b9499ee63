/*
 * test_parse.c: config/parse.c, the strict value parsers.
 *
 * Every parser must take the whole string or fail with a message; the
 * failure cases are the ones an operator types by mistake (a missing unit, a
 * space, a sign, an unbracketed IPv6 address, host bits in a prefix).  Each
 * parser has a table of accepted values with what they must give and one of
 * refused values (with the exact reason where it matters), and a driver that
 * names the row when it fails; a new case is one row.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "config/parse.h"
#include "tests/unit/table.h"

/* A refused value: why is the reason it must give, NULL for any. */
struct bad {
	const char *s, *why;
};

/* Checks a refusal: r is -1 and why a reason, the row's if it names one. */
static void
check_refused(int r, const char *why, const char *want)
{
	row_int_equal(r, -1);
	row_non_null(why);
	if (want != NULL)
		row_string_equal(why, want);
}

static const struct { const char *s; uint32_t ms; } duration_good[] = {
	{ "10s", 10000 },
	{ "5m", 300000 },
	{ "1h", 3600000 },
	{ "250ms", 250 },
	{ "0", 0 },
	{ "0s", 0 },
	{ "1193h", 1193u * 3600000u },
	{ "4294967295ms", 4294967295u },
};

static const struct bad duration_bad[] = {
	{ "", NULL },
	{ "10", "a duration needs a unit: ms, s, m or h" },	/* a bare number */
	{ "s", NULL },
	{ "ms", NULL },
	{ "-1s", NULL },
	{ "+1s", NULL },
	{ "1.5s", NULL },
	{ "10 s", NULL },
	{ " 10s", NULL },
	{ "10s ", NULL },
	{ "10sec", "unknown duration unit (use ms, s, m or h)" },
	{ "10S", NULL },		/* units are lower case */
	{ "10d", NULL },
	{ "1h30m", NULL },
	{ "9999999999h", "duration too long (at most 1193h)" },
	{ "1194h", NULL },		/* just past UINT32_MAX ms */
	{ "4294967296ms", NULL },
	{ "99999999999999999999999s", NULL },	/* overflows the reader */
};

static void
test_duration(void **state)
{
	(void)state;
	for (size_t i = 0; i < ROWS(duration_good); i++) {
		uint32_t ms = 0xdeadbeef;
		const char *why = NULL;

		row_at("duration '%s'", duration_good[i].s);
		if (parse_duration_ms(duration_good[i].s, &ms, &why) != 0)
			fail_msg("duration '%s' refused: %s", duration_good[i].s,
			    why ? why : "(no reason)");
		row_int_equal(ms, duration_good[i].ms);
	}
	for (size_t i = 0; i < ROWS(duration_bad); i++) {
		uint32_t ms = 0;
		const char *why = NULL;
		int r;

		row_at("duration '%s' (refused)", duration_bad[i].s);
		r = parse_duration_ms(duration_bad[i].s, &ms, &why);
		check_refused(r, why, duration_bad[i].why);
		row_true(why[0] != '\0');
	}
}

/* The refusals that name their reason give exactly it. */
static void
test_duration_messages(void **state)
{
	(void)state;
	for (size_t i = 0; i < ROWS(duration_bad); i++) {
		uint32_t ms;
		const char *why = NULL;
		int r;

		if (duration_bad[i].why == NULL)
			continue;
		row_at("duration '%s' (refused)", duration_bad[i].s);
		r = parse_duration_ms(duration_bad[i].s, &ms, &why);
		row_int_equal(r, -1);
		row_string_equal(why, duration_bad[i].why);
	}
}

static const struct { const char *s; uint64_t bytes; } size_good[] = {
	{ "65536", 65536 },
	{ "64K", 64 * 1024 },
	{ "64k", 64 * 1024 },
	{ "16M", 16ULL << 20 },
	{ "16m", 16ULL << 20 },
	{ "1G", 1ULL << 30 },
	{ "0", 0 },
	{ "16777215G", 16777215ULL << 30 },
	{ "18446744073709551615", UINT64_MAX },
};

static const struct bad size_bad[] = {
	{ "", NULL },
	{ "1T", NULL },
	{ "K", NULL },
	{ "-1", NULL },
	{ "+1", NULL },
	{ " 1K", NULL },
	{ "1 K", NULL },
	{ "1K ", NULL },
	{ "1KB", NULL },
	{ "1KiB", NULL },
	{ "1.5M", NULL },
	{ "17179869184G", NULL },		/* 2^64 bytes */
	{ "18446744073709551616", NULL },	/* UINT64_MAX + 1 */
	{ "99999999999999999999999K", NULL },
};

static void
test_size(void **state)
{
	(void)state;
	for (size_t i = 0; i < ROWS(size_good); i++) {
		uint64_t b = 0xdeadbeef;
		const char *why = NULL;

		row_at("size '%s'", size_good[i].s);
		if (parse_size(size_good[i].s, &b, &why) != 0)
			fail_msg("size '%s' refused: %s", size_good[i].s,
			    why ? why : "(no reason)");
		row_true(b == size_good[i].bytes);
	}
	for (size_t i = 0; i < ROWS(size_bad); i++) {
		uint64_t b = 0;
		const char *why = NULL;
		int r;

		row_at("size '%s' (refused)", size_bad[i].s);
		r = parse_size(size_bad[i].s, &b, &why);
		check_refused(r, why, size_bad[i].why);
	}
}

/* r: what parse_bool returns; b: the value, where r is 0. */
static const struct { const char *s; int r; bool b; } bools[] = {
	{ "yes", 0, true }, { "YES", 0, true }, { "Yes", 0, true },
	{ "true", 0, true }, { "TRUE", 0, true }, { "True", 0, true },
	{ "on", 0, true }, { "ON", 0, true }, { "On", 0, true }, { "1", 0, true },
	{ "no", 0, false }, { "NO", 0, false }, { "No", 0, false },
	{ "false", 0, false }, { "FALSE", 0, false }, { "fAlSe", 0, false },
	{ "off", 0, false }, { "OFF", 0, false }, { "Off", 0, false }, { "0", 0, false },
	{ "maybe", -1, 0 }, { "", -1, 0 }, { "y", -1, 0 }, { "n", -1, 0 },
	{ "2", -1, 0 }, { "yes ", -1, 0 }, { " no", -1, 0 }, { "01", -1, 0 },
	{ "truee", -1, 0 }, { "of", -1, 0 },
};

static void
test_bool(void **state)
{
	(void)state;
	for (size_t i = 0; i < ROWS(bools); i++) {
		const char *why = NULL;
		bool b = !bools[i].b;
		int r;

		row_at("bool '%s'", bools[i].s);
		r = parse_bool(bools[i].s, &b, &why);
		if (bools[i].r == 0) {
			if (r != 0)
				fail_msg("'%s' refused", bools[i].s);
			row_true(b == bools[i].b);
		} else
			check_refused(r, why, "expected yes or no");
	}
}

static const struct {
	const char *s;
	unsigned long min, max, v;
} uint_good[] = {
	{ "1", 1, 10, 1 },
	{ "10", 1, 10, 10 },
	{ "0", 0, 0, 0 },
	{ "007", 0, 10, 7 },
	{ "4294967296", 0, 0xffffffffffUL, 4294967296UL },
};

static const struct {
	const char *s;
	unsigned long min, max;
	const char *why;
} uint_bad[] = {
	{ "0", 1, 10, NULL },
	{ "11", 1, 10, "number out of range" },
	{ "", 0, 10, NULL },
	{ "5x", 0, 10, NULL },
	{ "5 ", 0, 10, NULL },
	{ " 5", 0, 10, NULL },
	{ "+5", 0, 10, NULL },
	{ "-5", 0, 10, NULL },
	{ "-0", 0, 10, NULL },
	{ "0x5", 0, 10, NULL },
	{ "5.0", 0, 10, NULL },
	{ "99999999999999999999999", 0, ~0UL, NULL },
	{ "1x", 1, 10, "expected a whole number" },
};

static void
test_uint(void **state)
{
	(void)state;
	for (size_t i = 0; i < ROWS(uint_good); i++) {
		unsigned long v = 12345;
		const char *why = NULL;

		row_at("uint '%s' in [%lu, %lu]", uint_good[i].s, uint_good[i].min,
		    uint_good[i].max);
		if (parse_uint(uint_good[i].s, uint_good[i].min, uint_good[i].max,
		    &v, &why) != 0)
			fail_msg("%s refused: %s", table_row, why);
		row_int_equal(v, uint_good[i].v);
	}
	for (size_t i = 0; i < ROWS(uint_bad); i++) {
		unsigned long v = 7;
		const char *why = NULL;
		int r;

		row_at("uint '%s' in [%lu, %lu] (refused)", uint_bad[i].s,
		    uint_bad[i].min, uint_bad[i].max);
		r = parse_uint(uint_bad[i].s, uint_bad[i].min, uint_bad[i].max,
		    &v, &why);
		check_refused(r, why, uint_bad[i].why);
		row_int_equal(v, 7);		/* untouched on failure */
	}
}

/* An accepted address: host for ADDR_INET, path for ADDR_UNIX. */
static const struct {
	const char *s;
	bool allow_unix;
	enum addr_kind kind;
	const char *host_or_path;
	uint16_t port;
	const char *text;	/* the canonical form */
	bool literal;
} addr_good[] = {
	{ "1.2.3.4:80", false, ADDR_INET, "1.2.3.4", 80, "1.2.3.4:80", true },
	{ "localhost:7443", false, ADDR_INET, "localhost", 7443, "localhost:7443", false },
	{ "node-2.train.internal:65535", false, ADDR_INET, "node-2.train.internal",
	    65535, "node-2.train.internal:65535", false },
	/* no brackets in host */
	{ "[::1]:443", false, ADDR_INET, "::1", 443, "[::1]:443", true },
	{ "[fe80::1]:1", false, ADDR_INET, "fe80::1", 1, "[fe80::1]:1", true },
	/* The port loses its leading zeros. */
	{ "localhost:07443", false, ADDR_INET, "localhost", 7443, "localhost:7443", false },
	{ "unix:/run/x.sock", true, ADDR_UNIX, "/run/x.sock", 0, "unix:/run/x.sock", false },
};

static void
test_addr_good(void **state)
{
	struct addr a;
	char path[ADDR_PATH_MAX];
	const char *why = NULL;

	(void)state;
	for (size_t i = 0; i < ROWS(addr_good); i++) {
		row_at("address '%s'", addr_good[i].s);
		if (parse_addr(addr_good[i].s, addr_good[i].allow_unix, &a, &why) != 0)
			fail_msg("address '%s' refused: %s", addr_good[i].s,
			    why ? why : "(no reason)");
		row_int_equal(a.kind, addr_good[i].kind);
		if (a.kind == ADDR_INET) {
			row_string_equal(a.host, addr_good[i].host_or_path);
			row_int_equal(a.port, addr_good[i].port);
		} else
			row_string_equal(a.path, addr_good[i].host_or_path);
		row_string_equal(a.text, addr_good[i].text);
		row_true(addr_is_literal(&a) == addr_good[i].literal);
	}

	/* The longest path sun_path holds with its NUL: 107 bytes. */
	memset(path, 'p', sizeof(path));
	path[0] = '/';
	path[ADDR_PATH_MAX - 1] = '\0';
	{
		char s[ADDR_PATH_MAX + 8];
		snprintf(s, sizeof(s), "unix:%s", path);
		if (parse_addr(s, true, &a, &why) != 0)
			fail_msg("the longest unix path refused: %s", why);
		assert_int_equal(strlen(a.path), ADDR_PATH_MAX - 1);
		assert_string_equal(a.text, s);
	}
	assert_int_equal(ADDR_PATH_MAX, sizeof(((struct sockaddr_un *)0)->sun_path));
}

static const struct {
	const char *s;
	bool allow_unix;
	const char *why;
} addr_bad[] = {
	{ "1.2.3.4", false, NULL },		/* missing port */
	{ "999.1.1.1:80", false, NULL },	/* digits and dots: must be IPv4 */
	{ "1.2.3:80", false, NULL },
	{ "localhost", false, NULL },
	{ "localhost:", false, NULL },
	{ "1.2.3.4:0", false, NULL },
	{ "1.2.3.4:65536", false, NULL },
	{ "1.2.3.4:-1", false, NULL },
	{ "1.2.3.4:+80", false, NULL },
	{ "1.2.3.4: 80", false, NULL },
	{ "1.2.3.4:80 ", false, NULL },
	{ "1.2.3.4:http", false, NULL },
	{ "::1:80", false, "an IPv6 address needs brackets: [v6]:port" },
	{ "fe80::1:443", false, NULL },
	{ "[::1]", false, NULL },		/* no port */
	{ "[::1]:", false, NULL },
	{ "[::1]80", false, NULL },
	{ "[::1:80", false, NULL },
	{ "[]:80", false, NULL },
	{ "[1.2.3.4]:80", false, NULL },	/* brackets are for IPv6 only */
	{ "[localhost]:80", false, NULL },
	{ "a_b:80", false, NULL },
	{ "a b:80", false, NULL },
	{ "-a:80", false, NULL },
	{ "a.-b:80", false, NULL },
	{ "a-.b:80", false, NULL },
	{ "a..b:80", false, NULL },
	{ ".a:80", false, NULL },
	{ "a.:80", false, NULL },
	{ ":80", false, NULL },
	{ "", false, NULL },
	{ "unix:/run/x.sock", false, NULL },	/* unix not allowed here */
	{ "unix:run/x.sock", true, NULL },
	{ "unix:", true, NULL },
	{ "unix:/x", false, "a unix socket is not allowed here" },
	{ "a:0", false, "port must be a number from 1 to 65535" },
};

/* Fails unless parse_addr refuses s, with want if that is not NULL. */
static void
addr_refused(const char *s, bool allow_unix, const char *want)
{
	struct addr a;
	const char *why = NULL;
	int r;

	row_at("address '%.80s%s' (refused)", s, strlen(s) > 80 ? "..." : "");
	r = parse_addr(s, allow_unix, &a, &why);
	if (r == 0)
		fail_msg("%s accepted as '%s'", table_row, a.text);
	check_refused(r, why, want);
}

static void
test_addr_bad(void **state)
{
	char s[ADDR_PATH_MAX + 16], host[300];
	struct addr a;
	const char *why = NULL;

	(void)state;
	for (size_t i = 0; i < ROWS(addr_bad); i++)
		addr_refused(addr_bad[i].s, addr_bad[i].allow_unix, addr_bad[i].why);

	/* One byte past sun_path. */
	memset(s, 'p', sizeof(s));
	memcpy(s, "unix:/", 6);
	s[5 + ADDR_PATH_MAX] = '\0';
	assert_int_equal(strlen(s) - 5, ADDR_PATH_MAX);
	addr_refused(s, true, NULL);

	/* A label of 64 characters, and a name over 253. */
	memset(host, 'a', 64);
	snprintf(host + 64, sizeof(host) - 64, ":80");
	addr_refused(host, false, NULL);
	memset(host, 0, sizeof(host));
	for (size_t i = 0; i < 254; i++)
		host[i] = (i % 2) ? '.' : 'a';
	host[253] = 'a';
	snprintf(host + 254, sizeof(host) - 254, ":80");
	addr_refused(host, false, NULL);
	/* ...whereas 63 characters is a fine label. */
	memset(host, 'a', 63);
	snprintf(host + 63, sizeof(host) - 63, ":80");
	if (parse_addr(host, false, &a, &why) != 0)
		fail_msg("a 63-character label refused: %s", why);
}

static const struct {
	enum addr_kind kind;
	const char *host;
	bool literal;
} literals[] = {
	{ ADDR_INET, "10.0.0.1", true },
	{ ADDR_INET, "2001:db8::1", true },
	{ ADDR_INET, "example.com", false },
	{ ADDR_INET, "1.2.3", false },		/* a valid host name, not an address */
	{ ADDR_UNIX, "10.0.0.1", false },	/* host is meaningless for unix */
};

static void
test_addr_is_literal(void **state)
{
	struct addr a;

	(void)state;
	for (size_t i = 0; i < ROWS(literals); i++) {
		row_at("addr_is_literal(%s, '%s')", literals[i].kind == ADDR_UNIX ?
		    "unix" : "inet", literals[i].host);
		memset(&a, 0, sizeof(a));
		a.kind = literals[i].kind;
		strcpy(a.host, literals[i].host);
		row_true(addr_is_literal(&a) == literals[i].literal);
	}
}

static void
test_port_range(void **state)
{
	static const struct { const char *s; uint16_t lo, hi; } good[] = {
		{ "1", 1, 1 }, { "8080", 8080, 8080 }, { "65535", 65535, 65535 },
		{ "29500-29599", 29500, 29599 }, { "1-65535", 1, 65535 },
		{ "443-443", 443, 443 },
	};
	static const struct bad bad[] = {
		{ "", "expected a port or a range such as 29500-29599" },
		{ "0", "ports go from 1 to 65535" },
		{ "65536", "ports go from 1 to 65535" },
		{ "1-70000", "ports go from 1 to 65535" },
		{ "9000-8000", "a range goes from low to high" },
		{ "80-", "expected a port or a range such as 29500-29599" },
		{ "-80", "expected a port or a range such as 29500-29599" },
		{ "80x", "expected a port or a range such as 29500-29599" },
		{ "1-2-3", "expected a port or a range such as 29500-29599" },
		{ " 80", "expected a port or a range such as 29500-29599" },
		{ "99999999999999999999999", "expected a port or a range such as 29500-29599" },
	};
	const char *why;
	uint16_t lo, hi;

	(void)state;
	for (size_t i = 0; i < ROWS(good); i++) {
		row_at("port range '%s'", good[i].s);
		if (parse_port_range(good[i].s, &lo, &hi, &why) != 0)
			fail_msg("'%s' refused: %s", good[i].s, why);
		row_int_equal(lo, good[i].lo);
		row_int_equal(hi, good[i].hi);
	}
	for (size_t i = 0; i < ROWS(bad); i++) {
		int r;

		why = NULL;
		row_at("port range '%s' (refused)", bad[i].s);
		r = parse_port_range(bad[i].s, &lo, &hi, &why);
		check_refused(r, why, bad[i].why);
	}
}

/* An accepted prefix; text, where given, is what cidr_format writes. */
static const struct {
	const char *s;
	int family;
	unsigned prefix;
	uint8_t addr[16];
	const char *text;
} cidr_good[] = {
	{ "10.0.0.0/8", AF_INET, 8, { 10 }, "10.0.0.0/8" },
	{ "1.2.3.4", AF_INET, 32, { 1, 2, 3, 4 }, NULL },
	{ "0.0.0.0/0", AF_INET, 0, { 0 }, NULL },
	{ "fd00::/8", AF_INET6, 8, { 0xfd }, "fd00::/8" },
	{ "::1", AF_INET6, 128, { [15] = 1 }, NULL },
	{ "::/0", AF_INET6, 0, { 0 }, NULL },
	{ "172.16.0.0/12", AF_INET, 12, { 172, 16 }, NULL },
};

static const struct bad cidr_bad[] = {
	{ "10.1.2.3/8", "address has bits set beyond the prefix length" },
	{ "172.17.0.0/12", NULL },
	{ "fd00::1/8", NULL },
	{ "10.0.0.0/33", "prefix length must be 0..32" },
	{ "::/129", "prefix length must be 0..128" },
	{ "10.0.0.0/", NULL },
	{ "10.0.0.0/-1", NULL },
	{ "10.0.0.0/+8", NULL },
	{ "10.0.0.0/8 ", NULL },
	{ "10.0.0.0 /8", NULL },
	{ "10.0.0.0/x", NULL },
	{ "/8", NULL },
	{ "", NULL },
	{ "garbage", NULL },
	{ "10.0.0/8", NULL },
	{ "256.0.0.0/8", NULL },
	{ "[::1]/128", NULL },
	{ "example.com/24", NULL },
};

/* Fails unless parse_cidr accepts s (the prefix of a row being checked). */
static void
cidr_ok(const char *s, struct cidr *c)
{
	const char *why = NULL;

	if (parse_cidr(s, c, &why) != 0)
		fail_msg("prefix '%s' refused: %s", s, why ? why : "(no reason)");
}

static void
test_cidr_parse(void **state)
{
	struct cidr c;
	char buf[64];

	(void)state;
	for (size_t i = 0; i < ROWS(cidr_good); i++) {
		row_at("prefix '%s'", cidr_good[i].s);
		cidr_ok(cidr_good[i].s, &c);
		row_int_equal(c.family, cidr_good[i].family);
		row_int_equal(c.prefix, cidr_good[i].prefix);
		row_memory_equal(c.addr, cidr_good[i].addr,
		    c.family == AF_INET ? 4 : 16);
		if (cidr_good[i].text != NULL) {
			cidr_format(&c, buf, sizeof(buf));
			row_string_equal(buf, cidr_good[i].text);
		}
	}
	for (size_t i = 0; i < ROWS(cidr_bad); i++) {
		const char *why = NULL;
		int r;

		row_at("prefix '%s' (refused)", cidr_bad[i].s);
		r = parse_cidr(cidr_bad[i].s, &c, &why);
		check_refused(r, why, cidr_bad[i].why);
	}
}

/* An address as bytes, 4 for IPv4 text and 16 for IPv6; returns the count. */
static size_t
ip_bytes(const char *ip, uint8_t out[16])
{
	bool six = strchr(ip, ':') != NULL;

	row_int_equal(inet_pton(six ? AF_INET6 : AF_INET, ip, out), 1);
	return six ? 16 : 4;
}

/* Whether an address in a prefix matches. */
static const struct {
	const char *prefix, *ip;
	bool match;
} matches[] = {
	{ "10.0.0.0/8", "10.1.2.3", true },
	{ "10.0.0.0/8", "10.255.255.255", true },
	{ "10.0.0.0/8", "11.0.0.0", false },
	{ "10.0.0.0/8", "9.255.255.255", false },
	/* A prefix that ends inside a byte. */
	{ "172.16.0.0/12", "172.31.255.255", true },
	{ "172.16.0.0/12", "172.32.0.0", false },
	{ "172.16.0.0/12", "172.15.255.255", false },
	/* A v4 prefix matches the IPv4-mapped IPv6 form of its addresses... */
	{ "10.0.0.0/8", "::ffff:10.1.2.3", true },
	{ "10.0.0.0/8", "::ffff:11.1.2.3", false },
	/* ...but not the same bytes in any other v6 address. */
	{ "10.0.0.0/8", "::10.1.2.3", false },
	{ "10.0.0.0/8", "2001:db8::a01:203", false },
	/* /32 is one address. */
	{ "1.2.3.4", "1.2.3.4", true },
	{ "1.2.3.4", "1.2.3.5", false },
	/* /0 matches every address of its family. */
	{ "0.0.0.0/0", "255.255.255.255", true },
	{ "0.0.0.0/0", "0.0.0.0", true },
	{ "::/0", "2001:db8::1", true },
	{ "::/0", "::", true },
	/* A v6 prefix never matches a 4-byte address, even ::/0. */
	{ "::/0", "10.1.2.3", false },
	{ "::ffff:0.0.0.0/96", "10.1.2.3", false },
	/* v6 prefixes, whole and partial bytes. */
	{ "fd00::/8", "fd12:3456::1", true },
	{ "fd00::/8", "fe00::1", false },
	{ "fe80::/10", "febf::1", true },
	{ "fe80::/10", "fec0::1", false },
	/* Addresses a server route meets on its sockets. */
	{ "192.168.0.0/16", "192.168.7.9", true },
	{ "2001:db8::/32", "192.168.7.9", false },
	{ "192.168.0.0/16", "192.169.7.9", false },
	{ "2001:db8::/32", "2001:db8:1::7", true },
	{ "192.168.0.0/16", "2001:db8:1::7", false },
	{ "2001:db8::/32", "2001:db9::7", false },
	{ "192.168.0.0/16", "::ffff:192.168.1.1", true },
	{ "2001:db8::/32", "::ffff:192.168.1.1", false },
	{ "::1", "::1", true },
	{ "::1", "::2", false },
};

static void
test_cidr_match_bytes(void **state)
{
	static const size_t odd_len[] = { 0, 5, 15 };
	struct cidr c;
	uint8_t ip[16];

	(void)state;
	for (size_t i = 0; i < ROWS(matches); i++) {
		size_t len;

		row_at("%s in %s", matches[i].ip, matches[i].prefix);
		cidr_ok(matches[i].prefix, &c);
		len = ip_bytes(matches[i].ip, ip);
		row_true(cidr_match_bytes(&c, ip, len) == matches[i].match);
	}

	/* Lengths other than 4 and 16 never match. */
	cidr_ok("0.0.0.0/0", &c);
	for (size_t i = 0; i < ROWS(odd_len); i++) {
		row_at("an address of %zu bytes", odd_len[i]);
		row_false(cidr_match_bytes(&c, ip, odd_len[i]));
	}
}

static void
test_cidr_match_sockaddr(void **state)
{
	struct sockaddr_storage ss;
	struct sockaddr_un sun;
	struct cidr c;

	(void)state;
	for (size_t i = 0; i < ROWS(matches); i++) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
		uint8_t ip[16];

		row_at("%s in %s, as a sockaddr", matches[i].ip, matches[i].prefix);
		cidr_ok(matches[i].prefix, &c);
		memset(&ss, 0, sizeof(ss));
		if (ip_bytes(matches[i].ip, ip) == 4) {
			sin->sin_family = AF_INET;
			sin->sin_port = htons(443);
			memcpy(&sin->sin_addr, ip, 4);
		} else {
			/* A v4 client on a dual-stack socket arrives IPv4-mapped. */
			sin6->sin6_family = AF_INET6;
			sin6->sin6_port = htons(443);
			memcpy(sin6->sin6_addr.s6_addr, ip, 16);
		}
		row_true(cidr_match_sockaddr(&c, (struct sockaddr *)&ss) ==
		    matches[i].match);
	}

	/* Other families never match, whatever their bytes. */
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, "\xc0\xa8\x07\x09", 4);
	cidr_ok("0.0.0.0/0", &c);
	assert_false(cidr_match_sockaddr(&c, (struct sockaddr *)&sun));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_duration),
		cmocka_unit_test(test_duration_messages),
		cmocka_unit_test(test_size),
		cmocka_unit_test(test_bool),
		cmocka_unit_test(test_uint),
		cmocka_unit_test(test_addr_good),
		cmocka_unit_test(test_addr_bad),
		cmocka_unit_test(test_addr_is_literal),
		cmocka_unit_test(test_port_range),
		cmocka_unit_test(test_cidr_parse),
		cmocka_unit_test(test_cidr_match_bytes),
		cmocka_unit_test(test_cidr_match_sockaddr),
	};

	return cmocka_run_group_tests_name("config/parse", tests, NULL, NULL);
}
