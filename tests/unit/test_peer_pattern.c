/*
 * test_peer_pattern.c: config/peer_pattern.c, the allow_peers / expect_peers
 * identity patterns.
 *
 * Matching is authorization, so the refusals matter as much as the matches:
 * '*' is exactly one whole segment or label, kinds never cross, and a value
 * with an embedded NUL (a certificate can carry "good.example\0.evil") never
 * matches anything.  Values are passed with their length, as tls/ does.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "config/peer_pattern.h"

static struct peer_pattern
pat(const char *s)
{
	struct peer_pattern p;
	const char *why = NULL;

	if (peer_pattern_parse(s, &p, &why) != 0)
		fail_msg("pattern '%s' refused: %s", s, why ? why : "(no reason)");
	return p;
}

static void
pat_bad(const char *s)
{
	struct peer_pattern p;
	const char *why = NULL;

	if (peer_pattern_parse(s, &p, &why) != -1)
		fail_msg("pattern '%s' accepted", s);
	assert_non_null(why);
	assert_true(why[0] != '\0');
}

/* Matches a NUL-terminated string value (length without the NUL). */
static bool
match(const char *pattern, enum peer_kind kind, const char *value)
{
	struct peer_pattern p = pat(pattern);

	return peer_pattern_match(&p, kind, value, strlen(value));
}

static void
test_parse_kinds(void **state)
{
	struct peer_pattern p;
	char buf[PEER_PATTERN_MAX + 8];

	(void)state;
	p = pat("uri:spiffe://train.example/worker/*");
	assert_int_equal(p.kind, PEER_URI);
	assert_string_equal(p.text, "spiffe://train.example/worker/*");
	peer_pattern_format(&p, buf, sizeof(buf));
	assert_string_equal(buf, "uri:spiffe://train.example/worker/*");

	p = pat("dns:*.train.internal");
	assert_int_equal(p.kind, PEER_DNS);
	assert_string_equal(p.text, "*.train.internal");

	p = pat("cn:node-7");
	assert_int_equal(p.kind, PEER_CN);
	assert_string_equal(p.text, "node-7");

	p = pat("ip:10.0.0.0/8");
	assert_int_equal(p.kind, PEER_IP);
	assert_int_equal(p.net.family, AF_INET);
	assert_int_equal(p.net.prefix, 8);
	peer_pattern_format(&p, buf, sizeof(buf));
	assert_string_equal(buf, "ip:10.0.0.0/8");

	p = pat("ip:fd00::/8");
	assert_int_equal(p.kind, PEER_IP);
	assert_int_equal(p.net.family, AF_INET6);
	assert_int_equal(p.net.prefix, 8);

	/* The kind is case-insensitive and formats in lower case. */
	p = pat("URI:spiffe://td/a");
	assert_int_equal(p.kind, PEER_URI);
	peer_pattern_format(&p, buf, sizeof(buf));
	assert_string_equal(buf, "uri:spiffe://td/a");
	assert_int_equal(pat("Dns:a.b").kind, PEER_DNS);
	assert_int_equal(pat("CN:x").kind, PEER_CN);
	assert_int_equal(pat("iP:1.2.3.4").kind, PEER_IP);

	/* Whole-segment and whole-label stars are fine anywhere. */
	pat("uri:spiffe://td/*");
	pat("uri:spiffe://td/ns/*/sa/*");
	pat("uri:spiffe://td");
	pat("dns:*.*.example.com");
	pat("dns:a.*.example.com");
	pat("cn:*");			/* a CN has no wildcards: a literal '*' */
}

static void
test_parse_refused(void **state)
{
	char big[PEER_PATTERN_MAX + 16];
	struct peer_pattern p;
	const char *why = NULL;

	(void)state;
	pat_bad("");
	pat_bad("spiffe");			/* missing colon */
	pat_bad("node-7");
	pat_bad("email:a@b");			/* unknown kind */
	pat_bad("urn:x");
	pat_bad("uri :spiffe://td/a");
	pat_bad(":x");
	pat_bad("uri:");			/* empty */
	pat_bad("dns:");
	pat_bad("cn:");
	pat_bad("ip:");

	pat_bad("dns:foo*.x");			/* '*' inside a label */
	pat_bad("dns:*foo.x");
	pat_bad("dns:f*o.x");
	pat_bad("dns:**.x");
	pat_bad("dns:a..b");			/* empty label */
	pat_bad("dns:.a.b");
	pat_bad("dns:a.b.");
	pat_bad("dns:a_b.c");
	pat_bad("dns:a b.c");

	pat_bad("uri:spiffe://*/ns/a");		/* '*' in the authority */
	pat_bad("uri:spiffe://*.td/ns/a");
	pat_bad("uri:*://td/ns/a");
	pat_bad("uri:spiffe://td/ns/a*/b");	/* partial segment */
	pat_bad("uri:spiffe://td/ns/*a/b");
	pat_bad("uri:spiffe://td/ns/**/b");
	pat_bad("uri:spiffe://td/ns/a*");
	pat_bad("uri:spiffe:td/ns");		/* no "://" */
	pat_bad("uri:://td/ns");		/* no scheme */
	pat_bad("uri:spiffe:///ns");		/* no authority */

	pat_bad("ip:10.1.2.3/8");
	pat_bad("ip:10.0.0.0/33");
	pat_bad("ip:example.com");

	memset(big, 'a', sizeof(big));
	memcpy(big, "cn:", 3);
	big[3 + PEER_PATTERN_MAX] = '\0';	/* PEER_PATTERN_MAX characters */
	pat_bad(big);
	big[3 + PEER_PATTERN_MAX - 1] = '\0';	/* one fewer fits */
	pat(big);

	assert_int_equal(peer_pattern_parse("dns:foo*.x", &p, &why), -1);
	assert_string_equal(why, "dns: '*' must be a whole label, such as *.example.com");
	assert_int_equal(peer_pattern_parse("dns:a..b", &p, &why), -1);
	assert_string_equal(why, "dns: empty label in pattern");
	assert_int_equal(peer_pattern_parse("spiffe", &p, &why), -1);
	assert_string_equal(why, "peer pattern needs a kind: uri:, dns:, cn: or ip:");
	assert_int_equal(peer_pattern_parse("email:x", &p, &why), -1);
	assert_string_equal(why, "unknown peer pattern kind (use uri:, dns:, cn: or ip:)");
	assert_int_equal(peer_pattern_parse("uri:spiffe://td/ns/a*/b", &p, &why), -1);
	assert_string_equal(why, "uri: '*' must be a whole path segment, such as /ns/*/sa");
	assert_int_equal(peer_pattern_parse("uri:spiffe://*/ns", &p, &why), -1);
	assert_string_equal(why, "uri: '*' is allowed only as a whole path segment");
}

static void
test_match_uri(void **state)
{
	const char *p = "uri:spiffe://td/ns/*/sa/worker";

	(void)state;
	assert_true(match(p, PEER_URI, "spiffe://td/ns/prod/sa/worker"));
	assert_true(match(p, PEER_URI, "spiffe://td/ns/x/sa/worker"));
	/* '*' is exactly one segment: not zero, not two, not empty. */
	assert_false(match(p, PEER_URI, "spiffe://td/ns/sa/worker"));
	assert_false(match(p, PEER_URI, "spiffe://td/ns//sa/worker"));
	assert_false(match(p, PEER_URI, "spiffe://td/ns/a/b/sa/worker"));
	/* ...and never a dot segment, which a resolver would collapse. */
	assert_false(match(p, PEER_URI, "spiffe://td/ns/./sa/worker"));
	assert_false(match(p, PEER_URI, "spiffe://td/ns/../sa/worker"));
	/* '*' takes SPIFFE's segment characters only: no encoded dots, no '?'. */
	assert_false(match(p, PEER_URI, "spiffe://td/ns/%2e%2e/sa/worker"));
	assert_false(match(p, PEER_URI, "spiffe://td/ns/a?b/sa/worker"));
	assert_true(match(p, PEER_URI, "spiffe://td/ns/a-b_c.d/sa/worker"));
	assert_true(match(p, PEER_URI, "spiffe://td/ns/.../sa/worker"));
	assert_true(match(p, PEER_URI, "spiffe://td/ns/.x/sa/worker"));
	/* Literal segments are exact; nothing may follow or be missing. */
	assert_false(match(p, PEER_URI, "spiffe://td/ns/prod/sa/worker2"));
	assert_false(match(p, PEER_URI, "spiffe://td/ns/prod/sa/worker/"));
	assert_false(match(p, PEER_URI, "spiffe://td/ns/prod/sa/worker/x"));
	assert_false(match(p, PEER_URI, "spiffe://td/ns/prod/sa"));
	assert_false(match(p, PEER_URI, "spiffe://td/xns/prod/sa/worker"));
	assert_false(match(p, PEER_URI, ""));
	/* Scheme and authority compare case-insensitively, the path does not. */
	assert_true(match(p, PEER_URI, "SPIFFE://TD/ns/prod/sa/worker"));
	assert_true(match("uri:SPIFFE://Td/ns/*/sa/worker", PEER_URI,
	    "spiffe://tD/ns/prod/sa/worker"));
	assert_false(match(p, PEER_URI, "spiffe://td/NS/prod/sa/worker"));
	assert_false(match(p, PEER_URI, "spiffe://td/ns/prod/SA/worker"));
	assert_false(match("uri:spiffe://td/ns/Prod", PEER_URI, "spiffe://td/ns/prod"));
	/* Another trust domain, a longer one, or another scheme. */
	assert_false(match(p, PEER_URI, "spiffe://td2/ns/prod/sa/worker"));
	assert_false(match(p, PEER_URI, "spiffe://t/ns/prod/sa/worker"));
	assert_false(match(p, PEER_URI, "spiffe://td.evil/ns/prod/sa/worker"));
	assert_false(match(p, PEER_URI, "https://td/ns/prod/sa/worker"));
	assert_false(match(p, PEER_URI, "spiffe:/td/ns/prod/sa/worker"));

	/* A trailing '*' is the last segment only. */
	p = "uri:spiffe://train.example/worker/*";
	assert_true(match(p, PEER_URI, "spiffe://train.example/worker/7"));
	assert_false(match(p, PEER_URI, "spiffe://train.example/worker/"));
	assert_false(match(p, PEER_URI, "spiffe://train.example/worker"));
	assert_false(match(p, PEER_URI, "spiffe://train.example/worker/7/8"));

	/* A pattern with no path matches the bare trust domain only. */
	p = "uri:spiffe://td";
	assert_true(match(p, PEER_URI, "spiffe://td"));
	assert_false(match(p, PEER_URI, "spiffe://td/"));
	assert_false(match(p, PEER_URI, "spiffe://td/x"));
}

static void
test_match_dns(void **state)
{
	const char *p = "dns:*.a.b";

	(void)state;
	assert_true(match(p, PEER_DNS, "x.a.b"));
	assert_true(match(p, PEER_DNS, "node-7.a.b"));
	assert_false(match(p, PEER_DNS, "a.b"));	/* zero labels */
	assert_false(match(p, PEER_DNS, ".a.b"));	/* an empty label */
	assert_false(match(p, PEER_DNS, "y.x.a.b"));	/* two labels */
	assert_false(match(p, PEER_DNS, "x.a.bc"));
	assert_false(match(p, PEER_DNS, "x.aa.b"));
	assert_false(match(p, PEER_DNS, "x.a.b.c"));
	assert_false(match(p, PEER_DNS, "xa.b"));
	assert_false(match(p, PEER_DNS, ""));
	/* Case-insensitive, in the pattern and in the value. */
	assert_true(match(p, PEER_DNS, "X.A.B"));
	assert_true(match("dns:*.Train.INTERNAL", PEER_DNS, "n1.train.internal"));
	/* One trailing dot is the same name; two are not. */
	assert_true(match(p, PEER_DNS, "x.a.b."));
	assert_false(match(p, PEER_DNS, "x.a.b.."));
	assert_false(match(p, PEER_DNS, "."));

	/* A label in the middle. */
	p = "dns:node.*.example.com";
	assert_true(match(p, PEER_DNS, "node.eu.example.com"));
	assert_false(match(p, PEER_DNS, "node.example.com"));
	assert_false(match(p, PEER_DNS, "node.eu.west.example.com"));
	assert_false(match(p, PEER_DNS, "nodes.eu.example.com"));

	/* No star: the whole name, exactly. */
	p = "dns:node2.train.internal";
	assert_true(match(p, PEER_DNS, "node2.train.internal"));
	assert_true(match(p, PEER_DNS, "NODE2.Train.Internal."));
	assert_false(match(p, PEER_DNS, "node2.train.internal.evil"));
	assert_false(match(p, PEER_DNS, "evil.node2.train.internal"));
	assert_false(match(p, PEER_DNS, "node2.train.interna"));
	assert_false(match(p, PEER_DNS, "node2-train.internal"));
}

static void
test_match_cn(void **state)
{
	(void)state;
	assert_true(match("cn:node-7", PEER_CN, "node-7"));
	assert_false(match("cn:node-7", PEER_CN, "Node-7"));	/* byte for byte */
	assert_false(match("cn:node-7", PEER_CN, "node-70"));
	assert_false(match("cn:node-7", PEER_CN, "node-"));
	assert_false(match("cn:node-7", PEER_CN, "xnode-7"));
	assert_false(match("cn:node-7", PEER_CN, ""));
	/* No wildcards in a CN: '*' is literal. */
	assert_true(match("cn:*", PEER_CN, "*"));
	assert_false(match("cn:*", PEER_CN, "node-7"));
	assert_true(match("cn:Build Agent 7", PEER_CN, "Build Agent 7"));
	assert_false(match("cn:Build Agent 7", PEER_CN, "Build  Agent 7"));
}

static void
test_match_ip(void **state)
{
	struct peer_pattern p4 = pat("ip:10.0.0.0/8"), p6 = pat("ip:fd00::/8");
	struct peer_pattern one = pat("ip:192.0.2.1");
	uint8_t a4[4], a16[16];

	(void)state;
	assert_int_equal(inet_pton(AF_INET, "10.9.8.7", a4), 1);
	assert_true(peer_pattern_match(&p4, PEER_IP, a4, 4));
	assert_false(peer_pattern_match(&p6, PEER_IP, a4, 4));
	assert_int_equal(inet_pton(AF_INET, "11.9.8.7", a4), 1);
	assert_false(peer_pattern_match(&p4, PEER_IP, a4, 4));

	assert_int_equal(inet_pton(AF_INET6, "fd12::1", a16), 1);
	assert_true(peer_pattern_match(&p6, PEER_IP, a16, 16));
	assert_false(peer_pattern_match(&p4, PEER_IP, a16, 16));
	assert_int_equal(inet_pton(AF_INET6, "fe12::1", a16), 1);
	assert_false(peer_pattern_match(&p6, PEER_IP, a16, 16));

	/* A 16-byte IPv4-mapped value matches a v4 pattern. */
	assert_int_equal(inet_pton(AF_INET6, "::ffff:10.1.1.1", a16), 1);
	assert_true(peer_pattern_match(&p4, PEER_IP, a16, 16));

	assert_int_equal(inet_pton(AF_INET, "192.0.2.1", a4), 1);
	assert_true(peer_pattern_match(&one, PEER_IP, a4, 4));
	assert_int_equal(inet_pton(AF_INET, "192.0.2.2", a4), 1);
	assert_false(peer_pattern_match(&one, PEER_IP, a4, 4));

	/* Any other length is not an address. */
	assert_int_equal(inet_pton(AF_INET, "10.9.8.7", a4), 1);
	assert_false(peer_pattern_match(&p4, PEER_IP, a4, 3));
	assert_false(peer_pattern_match(&p4, PEER_IP, a4, 0));
	/* "10.9.8.7" as text is not the address 10.9.8.7. */
	assert_false(peer_pattern_match(&p4, PEER_IP, "10.9.8.7", 8));
}

static void
test_kind_mismatch(void **state)
{
	struct peer_pattern u = pat("uri:spiffe://td/a");
	struct peer_pattern d = pat("dns:node-7");
	struct peer_pattern c = pat("cn:node-7");
	struct peer_pattern i = pat("ip:0.0.0.0/0");
	static const uint8_t addr[4] = { 1, 2, 3, 4 };

	(void)state;
	/* Each value would match its own kind... */
	assert_true(peer_pattern_match(&u, PEER_URI, "spiffe://td/a", 13));
	assert_true(peer_pattern_match(&d, PEER_DNS, "node-7", 6));
	assert_true(peer_pattern_match(&c, PEER_CN, "node-7", 6));
	assert_true(peer_pattern_match(&i, PEER_IP, addr, 4));
	/* ...and never another. */
	assert_false(peer_pattern_match(&u, PEER_DNS, "spiffe://td/a", 13));
	assert_false(peer_pattern_match(&u, PEER_CN, "spiffe://td/a", 13));
	assert_false(peer_pattern_match(&d, PEER_CN, "node-7", 6));
	assert_false(peer_pattern_match(&d, PEER_URI, "node-7", 6));
	assert_false(peer_pattern_match(&c, PEER_DNS, "node-7", 6));
	assert_false(peer_pattern_match(&c, PEER_URI, "node-7", 6));
	assert_false(peer_pattern_match(&i, PEER_DNS, addr, 4));
	assert_false(peer_pattern_match(&i, PEER_CN, addr, 4));
	assert_false(peer_pattern_match(&d, PEER_IP, addr, 4));
}

/* A certificate value with a NUL inside: the length covers all of it. */
static void
test_embedded_nul(void **state)
{
	static const char dns[] = "good.example\0.evil";
	static const char dns_tail[] = "good.example\0";
	static const char dns_star[] = "evil\0.example.com";
	static const char dns_dot[] = "good.example\0.";
	static const char cn[] = "node-7\0evil";
	static const char uri[] = "spiffe://td/ns/a\0/sa";
	static const char uri_seg[] = "spiffe://td/ns/a\0b";
	struct peer_pattern p;

	(void)state;
	/* Sanity: the same bytes up to the NUL do match. */
	assert_true(match("dns:good.example", PEER_DNS, dns));
	assert_true(match("cn:node-7", PEER_CN, cn));

	p = pat("dns:good.example");
	assert_false(peer_pattern_match(&p, PEER_DNS, dns, sizeof(dns) - 1));
	assert_false(peer_pattern_match(&p, PEER_DNS, dns_tail, sizeof(dns_tail) - 1));
	assert_false(peer_pattern_match(&p, PEER_DNS, dns_dot, sizeof(dns_dot) - 1));
	p = pat("dns:*.example.com");
	assert_false(peer_pattern_match(&p, PEER_DNS, dns_star, sizeof(dns_star) - 1));
	p = pat("dns:*.evil");
	assert_false(peer_pattern_match(&p, PEER_DNS, dns, sizeof(dns) - 1));

	p = pat("cn:node-7");
	assert_false(peer_pattern_match(&p, PEER_CN, cn, sizeof(cn) - 1));
	assert_false(peer_pattern_match(&p, PEER_CN, "node-7", 7));	/* NUL last */

	p = pat("uri:spiffe://td/ns/a");
	assert_false(peer_pattern_match(&p, PEER_URI, uri, sizeof(uri) - 1));
	p = pat("uri:spiffe://td/ns/*/sa");
	assert_false(peer_pattern_match(&p, PEER_URI, uri, sizeof(uri) - 1));
	p = pat("uri:spiffe://td/ns/*");
	assert_false(peer_pattern_match(&p, PEER_URI, uri_seg, sizeof(uri_seg) - 1));
	assert_false(peer_pattern_match(&p, PEER_URI, "spiffe://td/ns/a", 17));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_kinds),
		cmocka_unit_test(test_parse_refused),
		cmocka_unit_test(test_match_uri),
		cmocka_unit_test(test_match_dns),
		cmocka_unit_test(test_match_cn),
		cmocka_unit_test(test_match_ip),
		cmocka_unit_test(test_kind_mismatch),
		cmocka_unit_test(test_embedded_nul),
	};

	return cmocka_run_group_tests_name("config/peer_pattern", tests, NULL, NULL);
}
