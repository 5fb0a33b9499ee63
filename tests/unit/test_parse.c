/*
 * test_parse.c: config/parse.c, the strict value parsers.
 *
 * Every parser must take the whole string or fail with a message; the
 * failure cases are the ones an operator types by mistake (a missing unit, a
 * space, a sign, an unbracketed IPv6 address, host bits in a prefix).
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

/* Fails the test unless parse_duration_ms(s) gives want. */
static void
duration_ok(const char *s, uint32_t want)
{
	uint32_t ms = 0xdeadbeef;
	const char *why = NULL;

	if (parse_duration_ms(s, &ms, &why) != 0)
		fail_msg("duration '%s' refused: %s", s, why ? why : "(no reason)");
	assert_int_equal(ms, want);
}

static void
duration_bad(const char *s)
{
	uint32_t ms = 0;
	const char *why = NULL;

	if (parse_duration_ms(s, &ms, &why) != -1)
		fail_msg("duration '%s' accepted as %u ms", s, (unsigned)ms);
	assert_non_null(why);
	assert_true(why[0] != '\0');
}

static void
test_duration(void **state)
{
	(void)state;
	duration_ok("10s", 10000);
	duration_ok("5m", 300000);
	duration_ok("1h", 3600000);
	duration_ok("250ms", 250);
	duration_ok("0", 0);
	duration_ok("0s", 0);
	duration_ok("1193h", 1193u * 3600000u);
	duration_ok("4294967295ms", 4294967295u);

	duration_bad("");
	duration_bad("10");		/* a bare number needs a unit */
	duration_bad("s");
	duration_bad("ms");
	duration_bad("-1s");
	duration_bad("+1s");
	duration_bad("1.5s");
	duration_bad("10 s");
	duration_bad(" 10s");
	duration_bad("10s ");
	duration_bad("10sec");
	duration_bad("10S");		/* units are lower case */
	duration_bad("10d");
	duration_bad("1h30m");
	duration_bad("9999999999h");
	duration_bad("1194h");		/* just past UINT32_MAX ms */
	duration_bad("4294967296ms");
	duration_bad("99999999999999999999999s");	/* overflows the reader */
}

static void
test_duration_messages(void **state)
{
	uint32_t ms;
	const char *why = NULL;

	(void)state;
	assert_int_equal(parse_duration_ms("10", &ms, &why), -1);
	assert_string_equal(why, "a duration needs a unit: ms, s, m or h");
	assert_int_equal(parse_duration_ms("10sec", &ms, &why), -1);
	assert_string_equal(why, "unknown duration unit (use ms, s, m or h)");
	assert_int_equal(parse_duration_ms("9999999999h", &ms, &why), -1);
	assert_string_equal(why, "duration too long (at most 1193h)");
}

static void
size_ok(const char *s, uint64_t want)
{
	uint64_t b = 0xdeadbeef;
	const char *why = NULL;

	if (parse_size(s, &b, &why) != 0)
		fail_msg("size '%s' refused: %s", s, why ? why : "(no reason)");
	assert_true(b == want);
}

static void
size_bad(const char *s)
{
	uint64_t b = 0;
	const char *why = NULL;

	if (parse_size(s, &b, &why) != -1)
		fail_msg("size '%s' accepted as %llu", s, (unsigned long long)b);
	assert_non_null(why);
}

static void
test_size(void **state)
{
	(void)state;
	size_ok("65536", 65536);
	size_ok("64K", 64 * 1024);
	size_ok("64k", 64 * 1024);
	size_ok("16M", 16ULL << 20);
	size_ok("16m", 16ULL << 20);
	size_ok("1G", 1ULL << 30);
	size_ok("0", 0);
	size_ok("16777215G", 16777215ULL << 30);
	size_ok("18446744073709551615", UINT64_MAX);

	size_bad("");
	size_bad("1T");
	size_bad("K");
	size_bad("-1");
	size_bad("+1");
	size_bad(" 1K");
	size_bad("1 K");
	size_bad("1K ");
	size_bad("1KB");
	size_bad("1KiB");
	size_bad("1.5M");
	size_bad("17179869184G");		/* 2^64 bytes */
	size_bad("18446744073709551616");	/* UINT64_MAX + 1 */
	size_bad("99999999999999999999999K");
}

static void
test_bool(void **state)
{
	static const char *const yes[] = {
		"yes", "YES", "Yes", "true", "TRUE", "True", "on", "ON", "On", "1",
	};
	static const char *const no[] = {
		"no", "NO", "No", "false", "FALSE", "fAlSe", "off", "OFF", "Off", "0",
	};
	static const char *const bad[] = {
		"maybe", "", "y", "n", "2", "yes ", " no", "01", "truee", "of",
	};
	const char *why;
	bool b;

	(void)state;
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		b = false;
		why = NULL;
		if (parse_bool(yes[i], &b, &why) != 0)
			fail_msg("'%s' refused", yes[i]);
		assert_true(b);
	}
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		b = true;
		why = NULL;
		if (parse_bool(no[i], &b, &why) != 0)
			fail_msg("'%s' refused", no[i]);
		assert_false(b);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		if (parse_bool(bad[i], &b, &why) != -1)
			fail_msg("'%s' accepted as a bool", bad[i]);
		assert_string_equal(why, "expected yes or no");
	}
}

static void
uint_ok(const char *s, unsigned long min, unsigned long max, unsigned long want)
{
	unsigned long v = 12345;
	const char *why = NULL;

	if (parse_uint(s, min, max, &v, &why) != 0)
		fail_msg("'%s' in [%lu, %lu] refused: %s", s, min, max, why);
	assert_int_equal(v, want);
}

static void
uint_bad(const char *s, unsigned long min, unsigned long max)
{
	unsigned long v = 0;
	const char *why = NULL;

	if (parse_uint(s, min, max, &v, &why) != -1)
		fail_msg("'%s' in [%lu, %lu] accepted as %lu", s, min, max, v);
	assert_non_null(why);
}

static void
test_uint(void **state)
{
	unsigned long v = 7;
	const char *why = NULL;

	(void)state;
	uint_ok("1", 1, 10, 1);
	uint_ok("10", 1, 10, 10);
	uint_ok("0", 0, 0, 0);
	uint_ok("007", 0, 10, 7);
	uint_ok("4294967296", 0, 0xffffffffffUL, 4294967296UL);

	uint_bad("0", 1, 10);
	uint_bad("11", 1, 10);
	uint_bad("", 0, 10);
	uint_bad("5x", 0, 10);
	uint_bad("5 ", 0, 10);
	uint_bad(" 5", 0, 10);
	uint_bad("+5", 0, 10);
	uint_bad("-5", 0, 10);
	uint_bad("-0", 0, 10);
	uint_bad("0x5", 0, 10);
	uint_bad("5.0", 0, 10);
	uint_bad("99999999999999999999999", 0, ~0UL);

	assert_int_equal(parse_uint("11", 1, 10, &v, &why), -1);
	assert_string_equal(why, "number out of range");
	assert_int_equal(v, 7);		/* untouched on failure */
	assert_int_equal(parse_uint("1x", 1, 10, &v, &why), -1);
	assert_string_equal(why, "expected a whole number");
}

static void
addr_ok(const char *s, bool allow_unix, struct addr *a)
{
	const char *why = NULL;

	if (parse_addr(s, allow_unix, a, &why) != 0)
		fail_msg("address '%s' refused: %s", s, why ? why : "(no reason)");
}

static void
addr_bad(const char *s, bool allow_unix)
{
	struct addr a;
	const char *why = NULL;

	if (parse_addr(s, allow_unix, &a, &why) != -1)
		fail_msg("address '%s' accepted as '%s'", s, a.text);
	assert_non_null(why);
}

static void
test_addr_good(void **state)
{
	struct addr a;
	char path[ADDR_PATH_MAX];

	(void)state;
	addr_ok("1.2.3.4:80", false, &a);
	assert_int_equal(a.kind, ADDR_INET);
	assert_string_equal(a.host, "1.2.3.4");
	assert_int_equal(a.port, 80);
	assert_string_equal(a.text, "1.2.3.4:80");
	assert_true(addr_is_literal(&a));

	addr_ok("localhost:7443", false, &a);
	assert_int_equal(a.kind, ADDR_INET);
	assert_string_equal(a.host, "localhost");
	assert_int_equal(a.port, 7443);
	assert_string_equal(a.text, "localhost:7443");
	assert_false(addr_is_literal(&a));

	addr_ok("node-2.train.internal:65535", false, &a);
	assert_string_equal(a.host, "node-2.train.internal");
	assert_int_equal(a.port, 65535);
	assert_false(addr_is_literal(&a));

	addr_ok("[::1]:443", false, &a);
	assert_int_equal(a.kind, ADDR_INET);
	assert_string_equal(a.host, "::1");	/* no brackets in host */
	assert_int_equal(a.port, 443);
	assert_string_equal(a.text, "[::1]:443");
	assert_true(addr_is_literal(&a));

	addr_ok("[fe80::1]:1", false, &a);
	assert_string_equal(a.host, "fe80::1");
	assert_int_equal(a.port, 1);
	assert_string_equal(a.text, "[fe80::1]:1");
	assert_true(addr_is_literal(&a));

	/* The text form is canonical: the port loses its leading zeros. */
	addr_ok("localhost:07443", false, &a);
	assert_int_equal(a.port, 7443);
	assert_string_equal(a.text, "localhost:7443");

	addr_ok("unix:/run/x.sock", true, &a);
	assert_int_equal(a.kind, ADDR_UNIX);
	assert_string_equal(a.path, "/run/x.sock");
	assert_string_equal(a.text, "unix:/run/x.sock");
	assert_false(addr_is_literal(&a));

	/* The longest path sun_path holds with its NUL: 107 bytes. */
	memset(path, 'p', sizeof(path));
	path[0] = '/';
	path[ADDR_PATH_MAX - 1] = '\0';
	{
		char s[ADDR_PATH_MAX + 8];
		snprintf(s, sizeof(s), "unix:%s", path);
		addr_ok(s, true, &a);
		assert_int_equal(strlen(a.path), ADDR_PATH_MAX - 1);
		assert_string_equal(a.text, s);
	}
	assert_int_equal(ADDR_PATH_MAX, sizeof(((struct sockaddr_un *)0)->sun_path));
}

static void
test_addr_bad(void **state)
{
	char s[ADDR_PATH_MAX + 16], host[300];
	struct addr a;
	const char *why = NULL;

	(void)state;
	addr_bad("1.2.3.4", false);		/* missing port */
	addr_bad("999.1.1.1:80", false);	/* digits and dots: must be IPv4 */
	addr_bad("1.2.3:80", false);
	addr_bad("localhost", false);
	addr_bad("localhost:", false);
	addr_bad("1.2.3.4:0", false);
	addr_bad("1.2.3.4:65536", false);
	addr_bad("1.2.3.4:-1", false);
	addr_bad("1.2.3.4:+80", false);
	addr_bad("1.2.3.4: 80", false);
	addr_bad("1.2.3.4:80 ", false);
	addr_bad("1.2.3.4:http", false);
	addr_bad("::1:80", false);		/* IPv6 needs brackets */
	addr_bad("fe80::1:443", false);
	addr_bad("[::1]", false);		/* no port */
	addr_bad("[::1]:", false);
	addr_bad("[::1]80", false);
	addr_bad("[::1:80", false);
	addr_bad("[]:80", false);
	addr_bad("[1.2.3.4]:80", false);	/* brackets are for IPv6 only */
	addr_bad("[localhost]:80", false);
	addr_bad("a_b:80", false);
	addr_bad("a b:80", false);
	addr_bad("-a:80", false);
	addr_bad("a.-b:80", false);
	addr_bad("a-.b:80", false);
	addr_bad("a..b:80", false);
	addr_bad(".a:80", false);
	addr_bad("a.:80", false);
	addr_bad(":80", false);
	addr_bad("", false);
	addr_bad("unix:/run/x.sock", false);	/* unix not allowed here */
	addr_bad("unix:run/x.sock", true);
	addr_bad("unix:", true);

	assert_int_equal(parse_addr("unix:/x", false, &a, &why), -1);
	assert_string_equal(why, "a unix socket is not allowed here");
	assert_int_equal(parse_addr("::1:80", false, &a, &why), -1);
	assert_string_equal(why, "an IPv6 address needs brackets: [v6]:port");
	assert_int_equal(parse_addr("a:0", false, &a, &why), -1);
	assert_string_equal(why, "port must be a number from 1 to 65535");

	/* One byte past sun_path. */
	memset(s, 'p', sizeof(s));
	memcpy(s, "unix:/", 6);
	s[5 + ADDR_PATH_MAX] = '\0';
	assert_int_equal(strlen(s) - 5, ADDR_PATH_MAX);
	addr_bad(s, true);

	/* A label of 64 characters, and a name over 253. */
	memset(host, 'a', 64);
	snprintf(host + 64, sizeof(host) - 64, ":80");
	addr_bad(host, false);
	memset(host, 0, sizeof(host));
	for (size_t i = 0; i < 254; i++)
		host[i] = (i % 2) ? '.' : 'a';
	host[253] = 'a';
	snprintf(host + 254, sizeof(host) - 254, ":80");
	addr_bad(host, false);
	/* ...whereas 63 characters is a fine label. */
	memset(host, 'a', 63);
	snprintf(host + 63, sizeof(host) - 63, ":80");
	addr_ok(host, false, &a);
}

static void
test_addr_is_literal(void **state)
{
	struct addr a;

	(void)state;
	memset(&a, 0, sizeof(a));
	a.kind = ADDR_INET;
	strcpy(a.host, "10.0.0.1");
	assert_true(addr_is_literal(&a));
	strcpy(a.host, "2001:db8::1");
	assert_true(addr_is_literal(&a));
	strcpy(a.host, "example.com");
	assert_false(addr_is_literal(&a));
	strcpy(a.host, "1.2.3");		/* a valid host name, not an address */
	assert_false(addr_is_literal(&a));
	strcpy(a.host, "10.0.0.1");
	a.kind = ADDR_UNIX;			/* host is meaningless for unix */
	assert_false(addr_is_literal(&a));
}

static void
cidr_ok(const char *s, struct cidr *c)
{
	const char *why = NULL;

	if (parse_cidr(s, c, &why) != 0)
		fail_msg("prefix '%s' refused: %s", s, why ? why : "(no reason)");
}

static void
cidr_bad(const char *s)
{
	struct cidr c;
	const char *why = NULL;

	if (parse_cidr(s, &c, &why) != -1)
		fail_msg("prefix '%s' accepted", s);
	assert_non_null(why);
}

static void
test_port_range(void **state)
{
	static const struct { const char *s; uint16_t lo, hi; } good[] = {
		{ "1", 1, 1 }, { "8080", 8080, 8080 }, { "65535", 65535, 65535 },
		{ "29500-29599", 29500, 29599 }, { "1-65535", 1, 65535 },
		{ "443-443", 443, 443 },
	};
	static const struct { const char *s, *why; } bad[] = {
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
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		if (parse_port_range(good[i].s, &lo, &hi, &why) != 0)
			fail_msg("'%s' refused: %s", good[i].s, why);
		assert_int_equal(lo, good[i].lo);
		assert_int_equal(hi, good[i].hi);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		if (parse_port_range(bad[i].s, &lo, &hi, &why) != -1)
			fail_msg("'%s' accepted", bad[i].s);
		assert_string_equal(why, bad[i].why);
	}
}

static void
test_cidr_parse(void **state)
{
	static const uint8_t ten[4] = { 10, 0, 0, 0 };
	static const uint8_t one234[4] = { 1, 2, 3, 4 };
	static const uint8_t fd00[16] = { 0xfd };
	static const uint8_t lo6[16] = { [15] = 1 };
	struct cidr c;
	char buf[64];
	const char *why = NULL;

	(void)state;
	cidr_ok("10.0.0.0/8", &c);
	assert_int_equal(c.family, AF_INET);
	assert_int_equal(c.prefix, 8);
	assert_memory_equal(c.addr, ten, 4);
	cidr_format(&c, buf, sizeof(buf));
	assert_string_equal(buf, "10.0.0.0/8");

	cidr_ok("1.2.3.4", &c);
	assert_int_equal(c.family, AF_INET);
	assert_int_equal(c.prefix, 32);
	assert_memory_equal(c.addr, one234, 4);

	cidr_ok("0.0.0.0/0", &c);
	assert_int_equal(c.prefix, 0);

	cidr_ok("fd00::/8", &c);
	assert_int_equal(c.family, AF_INET6);
	assert_int_equal(c.prefix, 8);
	assert_memory_equal(c.addr, fd00, 16);
	cidr_format(&c, buf, sizeof(buf));
	assert_string_equal(buf, "fd00::/8");

	cidr_ok("::1", &c);
	assert_int_equal(c.family, AF_INET6);
	assert_int_equal(c.prefix, 128);
	assert_memory_equal(c.addr, lo6, 16);

	cidr_ok("::/0", &c);
	assert_int_equal(c.prefix, 0);
	cidr_ok("172.16.0.0/12", &c);
	assert_int_equal(c.prefix, 12);

	cidr_bad("10.1.2.3/8");			/* host bits set */
	cidr_bad("172.17.0.0/12");
	cidr_bad("fd00::1/8");
	cidr_bad("10.0.0.0/33");
	cidr_bad("::/129");
	cidr_bad("10.0.0.0/");
	cidr_bad("10.0.0.0/-1");
	cidr_bad("10.0.0.0/+8");
	cidr_bad("10.0.0.0/8 ");
	cidr_bad("10.0.0.0 /8");
	cidr_bad("10.0.0.0/x");
	cidr_bad("/8");
	cidr_bad("");
	cidr_bad("garbage");
	cidr_bad("10.0.0/8");
	cidr_bad("256.0.0.0/8");
	cidr_bad("[::1]/128");
	cidr_bad("example.com/24");

	assert_int_equal(parse_cidr("10.1.2.3/8", &c, &why), -1);
	assert_string_equal(why, "address has bits set beyond the prefix length");
	assert_int_equal(parse_cidr("10.0.0.0/33", &c, &why), -1);
	assert_string_equal(why, "prefix length must be 0..32");
	assert_int_equal(parse_cidr("::/129", &c, &why), -1);
	assert_string_equal(why, "prefix length must be 0..128");
}

static void
v6(const char *s, uint8_t out[16])
{
	assert_int_equal(inet_pton(AF_INET6, s, out), 1);
}

static void
test_cidr_match_bytes(void **state)
{
	struct cidr c;
	uint8_t a4[4], a16[16];

	(void)state;
	cidr_ok("10.0.0.0/8", &c);
	memcpy(a4, (uint8_t[4]){ 10, 1, 2, 3 }, 4);
	assert_true(cidr_match_bytes(&c, a4, 4));
	memcpy(a4, (uint8_t[4]){ 10, 255, 255, 255 }, 4);
	assert_true(cidr_match_bytes(&c, a4, 4));
	memcpy(a4, (uint8_t[4]){ 11, 0, 0, 0 }, 4);
	assert_false(cidr_match_bytes(&c, a4, 4));
	memcpy(a4, (uint8_t[4]){ 9, 255, 255, 255 }, 4);
	assert_false(cidr_match_bytes(&c, a4, 4));

	/* A prefix that ends inside a byte. */
	cidr_ok("172.16.0.0/12", &c);
	memcpy(a4, (uint8_t[4]){ 172, 31, 255, 255 }, 4);
	assert_true(cidr_match_bytes(&c, a4, 4));
	memcpy(a4, (uint8_t[4]){ 172, 32, 0, 0 }, 4);
	assert_false(cidr_match_bytes(&c, a4, 4));
	memcpy(a4, (uint8_t[4]){ 172, 15, 255, 255 }, 4);
	assert_false(cidr_match_bytes(&c, a4, 4));

	/* A v4 prefix matches the IPv4-mapped IPv6 form of its addresses. */
	cidr_ok("10.0.0.0/8", &c);
	v6("::ffff:10.1.2.3", a16);
	assert_true(cidr_match_bytes(&c, a16, 16));
	v6("::ffff:11.1.2.3", a16);
	assert_false(cidr_match_bytes(&c, a16, 16));
	/* ...but not the same bytes in any other v6 address. */
	v6("::10.1.2.3", a16);
	assert_false(cidr_match_bytes(&c, a16, 16));
	v6("2001:db8::a01:203", a16);
	assert_false(cidr_match_bytes(&c, a16, 16));

	/* /32 is one address. */
	cidr_ok("1.2.3.4", &c);
	memcpy(a4, (uint8_t[4]){ 1, 2, 3, 4 }, 4);
	assert_true(cidr_match_bytes(&c, a4, 4));
	memcpy(a4, (uint8_t[4]){ 1, 2, 3, 5 }, 4);
	assert_false(cidr_match_bytes(&c, a4, 4));

	/* /0 matches every address of its family. */
	cidr_ok("0.0.0.0/0", &c);
	memcpy(a4, (uint8_t[4]){ 255, 255, 255, 255 }, 4);
	assert_true(cidr_match_bytes(&c, a4, 4));
	memcpy(a4, (uint8_t[4]){ 0, 0, 0, 0 }, 4);
	assert_true(cidr_match_bytes(&c, a4, 4));
	cidr_ok("::/0", &c);
	v6("2001:db8::1", a16);
	assert_true(cidr_match_bytes(&c, a16, 16));
	v6("::", a16);
	assert_true(cidr_match_bytes(&c, a16, 16));

	/* A v6 prefix never matches a 4-byte address, even ::/0. */
	memcpy(a4, (uint8_t[4]){ 10, 1, 2, 3 }, 4);
	assert_false(cidr_match_bytes(&c, a4, 4));
	cidr_ok("::ffff:0.0.0.0/96", &c);
	assert_false(cidr_match_bytes(&c, a4, 4));

	/* v6 prefixes, whole and partial bytes. */
	cidr_ok("fd00::/8", &c);
	v6("fd12:3456::1", a16);
	assert_true(cidr_match_bytes(&c, a16, 16));
	v6("fe00::1", a16);
	assert_false(cidr_match_bytes(&c, a16, 16));
	cidr_ok("fe80::/10", &c);
	v6("febf::1", a16);
	assert_true(cidr_match_bytes(&c, a16, 16));
	v6("fec0::1", a16);
	assert_false(cidr_match_bytes(&c, a16, 16));
	cidr_ok("::1", &c);
	v6("::1", a16);
	assert_true(cidr_match_bytes(&c, a16, 16));
	v6("::2", a16);
	assert_false(cidr_match_bytes(&c, a16, 16));

	/* Lengths other than 4 and 16 never match. */
	cidr_ok("0.0.0.0/0", &c);
	assert_false(cidr_match_bytes(&c, a16, 0));
	assert_false(cidr_match_bytes(&c, a16, 5));
	assert_false(cidr_match_bytes(&c, a16, 15));
}

static void
test_cidr_match_sockaddr(void **state)
{
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;
	struct sockaddr_un sun;
	struct cidr c4, c6;

	(void)state;
	cidr_ok("192.168.0.0/16", &c4);
	cidr_ok("2001:db8::/32", &c6);

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(443);
	assert_int_equal(inet_pton(AF_INET, "192.168.7.9", &sin.sin_addr), 1);
	assert_true(cidr_match_sockaddr(&c4, (struct sockaddr *)&sin));
	assert_false(cidr_match_sockaddr(&c6, (struct sockaddr *)&sin));
	assert_int_equal(inet_pton(AF_INET, "192.169.7.9", &sin.sin_addr), 1);
	assert_false(cidr_match_sockaddr(&c4, (struct sockaddr *)&sin));

	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	sin6.sin6_port = htons(443);
	v6("2001:db8:1::7", sin6.sin6_addr.s6_addr);
	assert_true(cidr_match_sockaddr(&c6, (struct sockaddr *)&sin6));
	assert_false(cidr_match_sockaddr(&c4, (struct sockaddr *)&sin6));
	v6("2001:db9::7", sin6.sin6_addr.s6_addr);
	assert_false(cidr_match_sockaddr(&c6, (struct sockaddr *)&sin6));
	/* A v4 client on a dual-stack socket arrives IPv4-mapped. */
	v6("::ffff:192.168.1.1", sin6.sin6_addr.s6_addr);
	assert_true(cidr_match_sockaddr(&c4, (struct sockaddr *)&sin6));
	assert_false(cidr_match_sockaddr(&c6, (struct sockaddr *)&sin6));

	/* Other families never match, whatever their bytes. */
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, "\xc0\xa8\x07\x09", 4);
	cidr_ok("0.0.0.0/0", &c4);
	assert_false(cidr_match_sockaddr(&c4, (struct sockaddr *)&sun));
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
