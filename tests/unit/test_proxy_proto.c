/*
 * test_proxy_proto.c: proxy/proxy_proto.c, PROXY protocol v2 both ways.
 *
 * The parser faces whatever a load balancer, or someone pretending to be
 * one, sends: each refusal below is a header that must not get through, and
 * the fuzz loop runs every buffer from an exact-size allocation so that an
 * over-read shows up under ASan.  The builder is checked by parsing its
 * output and by walking the TLVs it wrote byte by byte.
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
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "proxy/proxy_proto.h"
#include "tests/unit/table.h"

static const uint8_t sig[PP2_SIG_LEN] = {
	0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A
};

/* A header under construction, for the hand-written cases. */
struct hb {
	uint8_t b[4 * PP2_HEADER_MAX];
	size_t n;
};

static void
hb_init(struct hb *h, uint8_t ver_cmd, uint8_t fam)
{
	memcpy(h->b, sig, sizeof(sig));
	h->b[12] = ver_cmd;
	h->b[13] = fam;
	h->b[14] = h->b[15] = 0;
	h->n = 16;
}

static void
hb_put(struct hb *h, const void *p, size_t n)
{
	assert_true(h->n + n <= sizeof(h->b));
	memcpy(h->b + h->n, p, n);
	h->n += n;
}

static void
hb_tlv(struct hb *h, uint8_t type, const void *v, size_t n)
{
	uint8_t t[3] = { type, (uint8_t)(n >> 8), (uint8_t)n };

	hb_put(h, t, 3);
	hb_put(h, v, n);
}

/* Sets the length field to cover everything put so far. */
static void
hb_done(struct hb *h)
{
	size_t l = h->n - 16;

	h->b[14] = (uint8_t)(l >> 8);
	h->b[15] = (uint8_t)l;
}

/* Parses buf[0..len) from an exact-size copy (so ASan sees over-reads). */
static ssize_t
parse_exact(const uint8_t *buf, size_t len, struct pp2_info *out,
    const char **why)
{
	uint8_t *copy = malloc(len > 0 ? len : 1);
	ssize_t r;

	assert_non_null(copy);
	if (len > 0)
		memcpy(copy, buf, len);
	r = pp2_parse(copy, len, out, why);
	free(copy);
	return r;
}

/* Fails unless the header is accepted whole; returns what was parsed. */
static void
parse_ok(const uint8_t *buf, size_t len, struct pp2_info *out)
{
	const char *why = NULL;
	ssize_t r = parse_exact(buf, len, out, &why);

	if (r != (ssize_t)len)
		fail_msg("parse gave %zd for a %zu-byte header: %s", r, len,
		    why ? why : "(no reason)");
}

/* Fails unless the buffer is refused with exactly the given reason. */
static void
parse_bad(const uint8_t *buf, size_t len, const char *want)
{
	struct pp2_info out;
	uint8_t fill[sizeof(out)];
	const char *why = NULL;
	ssize_t r;

	memset(&out, 0xa5, sizeof(out));
	memset(fill, 0xa5, sizeof(fill));
	r = parse_exact(buf, len, &out, &why);
	if (r != -1)
		fail_msg("parse gave %zd, wanted -1 (%s)", r, want);
	assert_non_null(why);
	assert_string_equal(why, want);
	/* A refusal leaves *out alone. */
	assert_memory_equal(&out, fill, sizeof(out));
}

static void
sin_set(struct sockaddr_in *s, const char *ip, uint16_t port)
{
	memset(s, 0, sizeof(*s));
	s->sin_family = AF_INET;
	s->sin_port = htons(port);
	assert_int_equal(inet_pton(AF_INET, ip, &s->sin_addr), 1);
}

static void
sin6_set(struct sockaddr_in6 *s, const char *ip, uint16_t port)
{
	memset(s, 0, sizeof(*s));
	s->sin6_family = AF_INET6;
	s->sin6_port = htons(port);
	assert_int_equal(inet_pton(AF_INET6, ip, &s->sin6_addr), 1);
}

/* Fails unless ss is ip:port of family AF_INET or AF_INET6. */
static void
check_ss(const struct sockaddr_storage *ss, socklen_t len, int family,
    const char *ip, uint16_t port)
{
	const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
	char text[INET6_ADDRSTRLEN];

	assert_int_equal(ss->ss_family, family);
	assert_int_equal(len, family == AF_INET ? sizeof(*s4) : sizeof(*s6));
	assert_non_null(inet_ntop(family, family == AF_INET ? (const void *)&s4->sin_addr :
	    (const void *)&s6->sin6_addr, text, sizeof(text)));
	assert_string_equal(text, ip);
	assert_int_equal(ntohs(family == AF_INET ? s4->sin_port : s6->sin6_port), port);
	if (family == AF_INET6) {
		assert_int_equal(s6->sin6_flowinfo, 0);
		assert_int_equal(s6->sin6_scope_id, 0);
	}
}

#define check_v4(ss, len, ip, port)	check_ss((ss), (len), AF_INET, (ip), (port))
#define check_v6(ss, len, ip, port)	check_ss((ss), (len), AF_INET6, (ip), (port))

/* Every proper prefix needs more bytes; the whole, and more, is one header. */
static void
check_incremental(const uint8_t *buf, size_t len)
{
	uint8_t more[PP2_HEADER_MAX + 64];
	const char *why;

	for (size_t i = 0; i < len; i++) {
		why = NULL;
		if (parse_exact(buf, i, NULL, &why) != 0)
			fail_msg("prefix of %zu/%zu bytes: not 0 (%s)", i, len,
			    why ? why : "");
	}
	parse_ok(buf, len, NULL);
	/* Application bytes after the header are not part of it. */
	assert_true(len + 64 <= sizeof(more));
	memcpy(more, buf, len);
	memset(more + len, 'G', 64);
	assert_int_equal(parse_exact(more, len + 64, NULL, NULL), (ssize_t)len);
}

static void
test_crc32c(void **state)
{
	(void)state;
	assert_int_equal(pp2_crc32c("123456789", 9), 0xE3069283u);
	assert_int_equal(pp2_crc32c("", 0), 0);
	/* RFC 3720 B.4: 32 bytes of zeros, then of 0xff. */
	{
		uint8_t b[32];

		memset(b, 0, sizeof(b));
		assert_int_equal(pp2_crc32c(b, sizeof(b)), 0x8A9136AAu);
		memset(b, 0xff, sizeof(b));
		assert_int_equal(pp2_crc32c(b, sizeof(b)), 0x62A8AB43u);
	}
}

static void
test_roundtrip_v4(void **state)
{
	struct sockaddr_in s, d;
	struct pp2_info info;
	struct pp2_tls tls = {
		.version = "TLSv1.3",
		.cipher = "TLS1-3-AES-128-GCM-SHA256",
		.cn = "client",
		.peer_id = "spiffe://example.org/ns/default/sa/web",
		.cert_verified = true,
	};
	uint8_t buf[PP2_HEADER_MAX];
	ssize_t n;

	(void)state;
	sin_set(&s, "192.0.2.10", 51234);
	sin_set(&d, "198.51.100.7", 8443);

	n = pp2_build(buf, sizeof(buf), (struct sockaddr *)&s,
	    (struct sockaddr *)&d, NULL);
	assert_int_equal(n, 16 + 12);
	assert_memory_equal(buf, sig, PP2_SIG_LEN);
	assert_int_equal(buf[12], 0x21);
	assert_int_equal(buf[13], 0x11);
	parse_ok(buf, (size_t)n, &info);
	assert_false(info.local);
	check_v4(&info.src, info.src_len, "192.0.2.10", 51234);
	check_v4(&info.dst, info.dst_len, "198.51.100.7", 8443);
	assert_string_equal(info.authority, "");
	assert_string_equal(info.aws_vpce_id, "");
	check_incremental(buf, (size_t)n);

	n = pp2_build(buf, sizeof(buf), (struct sockaddr *)&s,
	    (struct sockaddr *)&d, &tls);
	assert_true(n > 16 + 12);
	memset(&info, 0, sizeof(info));
	parse_ok(buf, (size_t)n, &info);
	assert_false(info.local);
	check_v4(&info.src, info.src_len, "192.0.2.10", 51234);
	check_v4(&info.dst, info.dst_len, "198.51.100.7", 8443);
	check_incremental(buf, (size_t)n);
}

static void
test_roundtrip_v6(void **state)
{
	struct sockaddr_in6 s, d;
	struct pp2_info info;
	struct pp2_tls tls = { .version = "TLSv1.2", .cipher = "ECDHE-X" };
	uint8_t buf[PP2_HEADER_MAX];
	ssize_t n;

	(void)state;
	sin6_set(&s, "2001:db8::1", 1);
	sin6_set(&d, "2001:db8:ffff::abcd", 65535);

	n = pp2_build(buf, sizeof(buf), (struct sockaddr *)&s,
	    (struct sockaddr *)&d, NULL);
	assert_int_equal(n, 16 + 36);
	assert_int_equal(buf[13], 0x21);
	parse_ok(buf, (size_t)n, &info);
	assert_false(info.local);
	check_v6(&info.src, info.src_len, "2001:db8::1", 1);
	check_v6(&info.dst, info.dst_len, "2001:db8:ffff::abcd", 65535);
	check_incremental(buf, (size_t)n);

	n = pp2_build(buf, sizeof(buf), (struct sockaddr *)&s,
	    (struct sockaddr *)&d, &tls);
	assert_true(n > 16 + 36);
	parse_ok(buf, (size_t)n, &info);
	check_v6(&info.src, info.src_len, "2001:db8::1", 1);
	check_v6(&info.dst, info.dst_len, "2001:db8:ffff::abcd", 65535);
	check_incremental(buf, (size_t)n);
}

/* Mixed, UNIX or missing addresses: an UNSPEC header the parser accepts. */
static void
test_build_unspec(void **state)
{
	struct sockaddr_in s4;
	struct sockaddr_in6 s6;
	struct sockaddr_un su;
	struct pp2_info info;
	struct pp2_tls tls = { .version = "TLSv1.3", .peer_id = "id" };
	uint8_t buf[PP2_HEADER_MAX];
	ssize_t n;

	(void)state;
	sin_set(&s4, "192.0.2.1", 1000);
	sin6_set(&s6, "::1", 2000);
	memset(&su, 0, sizeof(su));
	su.sun_family = AF_UNIX;
	strcpy(su.sun_path, "/run/x.sock");

	n = pp2_build(buf, sizeof(buf), (struct sockaddr *)&s4,
	    (struct sockaddr *)&s6, NULL);
	assert_int_equal(n, 16);
	assert_int_equal(buf[12], 0x21);
	assert_int_equal(buf[13], 0x00);
	assert_int_equal(buf[14], 0);
	assert_int_equal(buf[15], 0);
	parse_ok(buf, (size_t)n, &info);
	assert_false(info.local);
	assert_int_equal(info.src.ss_family, AF_UNSPEC);
	assert_int_equal(info.dst.ss_family, AF_UNSPEC);
	assert_int_equal(info.src_len, 0);

	/* TLVs follow straight after the fixed part. */
	n = pp2_build(buf, sizeof(buf), (struct sockaddr *)&su,
	    (struct sockaddr *)&su, &tls);
	assert_true(n > 16);
	assert_int_equal(buf[13], 0x00);
	assert_int_equal(buf[16], PP2_TYPE_SSL);
	parse_ok(buf, (size_t)n, &info);
	assert_int_equal(info.src.ss_family, AF_UNSPEC);

	n = pp2_build(buf, sizeof(buf), NULL, (struct sockaddr *)&s4, NULL);
	assert_int_equal(n, 16);
	assert_int_equal(buf[13], 0x00);
}

/* Walks the TLVs of a built header, checking what mtlsd promises backends. */
static void
test_build_tlvs(void **state)
{
	struct sockaddr_in s, d;
	struct pp2_tls tls = {
		.version = "TLSv1.3",
		.cipher = "TLS1-3-AES-128-GCM-SHA256",
		.cn = "web-client",
		.peer_id = "spiffe://example.org/web",
		.cert_verified = true,
	};
	uint8_t buf[PP2_HEADER_MAX];
	const uint8_t *p, *end, *sub, *subend;
	ssize_t n;
	int seen_ssl = 0, seen_id = 0, seen_ver = 0, seen_cn = 0, seen_ciph = 0;

	(void)state;
	sin_set(&s, "10.0.0.1", 40000);
	sin_set(&d, "10.0.0.2", 443);
	n = pp2_build(buf, sizeof(buf), (struct sockaddr *)&s,
	    (struct sockaddr *)&d, &tls);
	assert_true(n > 0);
	assert_int_equal((buf[14] << 8 | buf[15]) + 16, n);

	p = buf + 16 + 12;
	end = buf + n;
	while (p < end) {
		size_t l;

		assert_true(end - p >= 3);
		l = (size_t)(p[1] << 8 | p[2]);
		assert_true(l <= (size_t)(end - p - 3));
		if (p[0] == PP2_TYPE_SSL) {
			seen_ssl++;
			assert_true(l >= 5);
			assert_int_equal(p[3], PP2_CLIENT_SSL |
			    PP2_CLIENT_CERT_CONN | PP2_CLIENT_CERT_SESS);
			assert_memory_equal(p + 4, "\0\0\0\0", 4);
			sub = p + 8;
			subend = p + 3 + l;
			while (sub < subend) {
				size_t sl;

				assert_true(subend - sub >= 3);
				sl = (size_t)(sub[1] << 8 | sub[2]);
				assert_true(sl <= (size_t)(subend - sub - 3));
				switch (sub[0]) {
				case PP2_SUBTYPE_SSL_VERSION:
					seen_ver++;
					assert_int_equal(sl, 7);
					assert_memory_equal(sub + 3, "TLSv1.3", 7);
					break;
				case PP2_SUBTYPE_SSL_CN:
					seen_cn++;
					assert_int_equal(sl, 10);
					assert_memory_equal(sub + 3, "web-client", 10);
					break;
				case PP2_SUBTYPE_SSL_CIPHER:
					seen_ciph++;
					assert_int_equal(sl, strlen(tls.cipher));
					assert_memory_equal(sub + 3, tls.cipher, sl);
					break;
				default:
					fail_msg("unexpected SSL sub-TLV 0x%02x", sub[0]);
				}
				sub += 3 + sl;
			}
			assert_ptr_equal(sub, subend);
		} else if (p[0] == PP2_TYPE_MTLSD_PEER_ID) {
			seen_id++;
			assert_int_equal(l, strlen(tls.peer_id));
			assert_memory_equal(p + 3, tls.peer_id, l);
		} else {
			fail_msg("unexpected TLV 0x%02x", p[0]);
		}
		p += 3 + l;
	}
	assert_ptr_equal(p, end);
	assert_int_equal(seen_ssl, 1);
	assert_int_equal(seen_id, 1);
	assert_int_equal(seen_ver, 1);
	assert_int_equal(seen_cn, 1);
	assert_int_equal(seen_ciph, 1);

	/* No certificate: SSL only, verify non-zero, no CN, no identity. */
	tls.cert_verified = false;
	tls.cn = NULL;
	tls.peer_id = NULL;
	tls.cipher = NULL;
	n = pp2_build(buf, sizeof(buf), (struct sockaddr *)&s,
	    (struct sockaddr *)&d, &tls);
	assert_int_equal(n, 16 + 12 + 3 + 5 + 3 + 7);
	p = buf + 28;
	assert_int_equal(p[0], PP2_TYPE_SSL);
	assert_int_equal(p[1] << 8 | p[2], 5 + 3 + 7);
	assert_int_equal(p[3], PP2_CLIENT_SSL);
	assert_memory_equal(p + 4, "\0\0\0\1", 4);
	assert_int_equal(p[8], PP2_SUBTYPE_SSL_VERSION);
	assert_memory_equal(p + 11, "TLSv1.3", 7);
	parse_ok(buf, (size_t)n, NULL);
}

static void
test_build_cap(void **state)
{
	struct sockaddr_in6 s, d;
	struct pp2_tls tls = { .version = "TLSv1.3", .cn = "x",
	    .cipher = "c", .peer_id = "spiffe://a/b", .cert_verified = true };
	uint8_t buf[2 * PP2_HEADER_MAX], ref[PP2_HEADER_MAX];
	char *big;
	ssize_t n;

	(void)state;
	sin6_set(&s, "::1", 1);
	sin6_set(&d, "::2", 2);
	n = pp2_build(ref, sizeof(ref), (struct sockaddr *)&s,
	    (struct sockaddr *)&d, &tls);
	assert_true(n > 0);
	for (size_t cap = 0; cap < (size_t)n; cap++)
		assert_int_equal(pp2_build(buf, cap, (struct sockaddr *)&s,
		    (struct sockaddr *)&d, &tls), -1);
	assert_int_equal(pp2_build(buf, (size_t)n, (struct sockaddr *)&s,
	    (struct sockaddr *)&d, &tls), n);
	assert_memory_equal(buf, ref, (size_t)n);

	/* An identity that would push the header past the cap is refused. */
	big = malloc(PP2_HEADER_MAX + 1);
	assert_non_null(big);
	memset(big, 'a', PP2_HEADER_MAX);
	big[PP2_HEADER_MAX] = '\0';
	tls.peer_id = big;
	assert_int_equal(pp2_build(buf, sizeof(buf), (struct sockaddr *)&s,
	    (struct sockaddr *)&d, &tls), -1);
	/*
	 * The largest that fits still parses; one byte more is refused
	 * though buf could hold it: a backend would refuse it too.
	 */
	tls.peer_id = NULL;
	n = pp2_build(buf, sizeof(buf), (struct sockaddr *)&s,
	    (struct sockaddr *)&d, &tls);
	big[PP2_HEADER_MAX - (size_t)n - 3 + 1] = '\0';
	tls.peer_id = big;
	assert_int_equal(pp2_build(buf, sizeof(buf), (struct sockaddr *)&s,
	    (struct sockaddr *)&d, &tls), -1);
	big[PP2_HEADER_MAX - (size_t)n - 3] = '\0';
	n = pp2_build(buf, sizeof(buf), (struct sockaddr *)&s,
	    (struct sockaddr *)&d, &tls);
	assert_int_equal(n, PP2_HEADER_MAX);
	parse_ok(buf, (size_t)n, NULL);
	free(big);
}

/* What HAProxy sends for 192.168.1.10:56324 -> 10.0.0.1:443. */
static const uint8_t haproxy_v4[] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
	0x21, 0x11, 0x00, 0x0c,
	0xc0, 0xa8, 0x01, 0x0a,		/* 192.168.1.10 */
	0x0a, 0x00, 0x00, 0x01,		/* 10.0.0.1 */
	0xdc, 0x04,			/* 56324: byte order shows */
	0x01, 0xbb,			/* 443 */
};

/*
 * Hand-built headers: each row a header (version/command byte, family
 * byte, address block, TLVs, then raw tail bytes; the length field covers
 * them all) and what parsing it must give: refused with `why` (also at
 * only the first also_at bytes, where set), or accepted whole, with the
 * fields named.  Each row runs as a test of its own name.
 */
struct tlv {
	uint8_t type;
	const char *v;		/* NULL: n copies of fill */
	size_t n;
	char fill;
};
#define TLV(t, s)	{ (t), (s), sizeof(s) - 1, 0 }
#define FILL(t, c, n)	{ (t), NULL, (n), (c) }
#define BYTES(s)	(const uint8_t *)(s), sizeof(s) - 1
#define V4		haproxy_v4 + 16, 12	/* haproxy_v4's INET block */
#define VPCE		"vpce-08d2bf15fac5001c9"
#define A16		"aaaaaaaaaaaaaaaa"
#define A63		A16 A16 A16 "aaaaaaaaaaaaaaa"

/* [2001:db8::5]:258 to [2001:db8::6]:8443 */
static const uint8_t v6_block[36] = {
	0x20, 0x01, 0x0d, 0xb8, [15] = 5,
	[16] = 0x20, 0x01, 0x0d, 0xb8, [31] = 6,
	[32] = 0x01, 0x02, 0x20, 0xfb,
};
static const uint8_t unix_block[216] = "/tmp/a";

struct hdr_row {
	const char *name;
	uint8_t ver_cmd, fam;
	const uint8_t *block;
	size_t block_n;
	struct tlv tlv[6];
	const char *tail;
	size_t tail_n;
	const char *why;	/* refused with this reason; NULL: accepted */
	size_t also_at;
	bool local;
	bool unspec;		/* both addresses AF_UNSPEC */
	const char *src, *dst;	/* v4 for family 0x11, v6 for 0x21 */
	uint16_t sport, dport;
	const char *authority, *vpce;
	size_t authority_len, vpce_len;
};

static const struct hdr_row hdr_rows[] = {
	{ "haproxy: IPv6", 0x21, 0x21, v6_block, sizeof(v6_block),
	    .src = "2001:db8::5", .sport = 258, .dst = "2001:db8::6", .dport = 8443 },
	{ "haproxy: UNIX stream, addresses left to the caller", 0x21, 0x31,
	    unix_block, sizeof(unix_block), .unspec = true },
	/* AWS NLB and HAProxy health checks: LOCAL, family ignored. */
	{ "local: an INET block is not reported", 0x20, 0x11, V4,
	    .local = true, .unspec = true },
	{ "local: a family PROXY could not use is skipped", 0x20, 0x52,
	    BYTES("\x01\x02\x03"), .local = true },
	{ "local: the length must still fit the family", 0x20, 0x11,
	    BYTES("\0\0\0\0"), .why = "address block too short for its family",
	    .also_at = 16 },
	{ "aws: a VPC endpoint id", 0x21, 0x11, V4,
	    { TLV(PP2_TYPE_AWS, "\x01" VPCE) }, .vpce = VPCE,
	    .src = "192.168.1.10", .sport = 56324 },
	{ "aws: other subtypes are skipped", 0x21, 0x11, V4,
	    { TLV(PP2_TYPE_AWS, "\x02\x01\x02\x03") }, .vpce = "" },
	{ "aws: no subtype", 0x21, 0x11, V4, { TLV(PP2_TYPE_AWS, "") },
	    .why = "AWS TLV without a subtype" },
	{ "aws: 63 characters fit", 0x21, 0x11, V4,
	    { TLV(PP2_TYPE_AWS, "\x01" A63) }, .vpce_len = 63 },
	{ "aws: 64 do not", 0x21, 0x11, V4, { TLV(PP2_TYPE_AWS, "\x01" A63 "a") },
	    .why = "AWS VPC endpoint id too long" },
	{ "aws: a NUL in the id", 0x21, 0x11, V4,
	    { TLV(PP2_TYPE_AWS, "\x01" "aaaa" "\0" "aaaaa") },
	    .why = "AWS VPC endpoint id is not printable ASCII" },
	{ "aws: two ids", 0x21, 0x11, V4, { TLV(PP2_TYPE_AWS, "\x01" VPCE),
	    TLV(PP2_TYPE_AWS, "\x01" VPCE) }, .why = "duplicate AWS VPC endpoint id" },
	{ "authority: among TLVs to skip", 0x21, 0x11, V4, {
	    TLV(PP2_TYPE_NOOP, "\0\0\0"), TLV(PP2_TYPE_ALPN, "h2"),
	    TLV(PP2_TYPE_AUTHORITY, "api.example.com"), TLV(0x7f, "unknown"),
	    TLV(PP2_TYPE_NOOP, "") }, .authority = "api.example.com",
	    .dst = "10.0.0.1", .dport = 443 },
	{ "authority: found where it starts after long TLVs", 0x21, 0x11, V4, {
	    FILL(PP2_TYPE_NOOP, 0, 200), FILL(PP2_TYPE_UNIQUE_ID, 0, 128),
	    TLV(PP2_TYPE_AUTHORITY, "long.example") }, .authority = "long.example" },
	{ "authority: 255 characters fit", 0x21, 0x11, V4,
	    { FILL(PP2_TYPE_AUTHORITY, 'a', 255) }, .authority_len = 255 },
	{ "authority: 256 do not", 0x21, 0x11, V4,
	    { FILL(PP2_TYPE_AUTHORITY, 'a', 256) }, .why = "authority too long" },
	{ "authority: a NUL", 0x21, 0x11, V4,
	    { TLV(PP2_TYPE_AUTHORITY, "evil\0.com") },
	    .why = "authority is not printable ASCII" },
	{ "authority: a newline", 0x21, 0x11, V4,
	    { TLV(PP2_TYPE_AUTHORITY, "a.com\nkey=x") },
	    .why = "authority is not printable ASCII" },
	{ "authority: twice", 0x21, 0x11, V4, { TLV(PP2_TYPE_AUTHORITY, "a.com"),
	    TLV(PP2_TYPE_AUTHORITY, "b.com") }, .why = "duplicate AUTHORITY TLV" },
	/* A checksum field of another size is malformed. */
	{ "crc32c: 3 bytes", 0x21, 0x11, V4, { TLV(PP2_TYPE_CRC32C, "\0\0\0") },
	    .why = "CRC32C TLV is not 4 bytes" },
	{ "crc32c: 5 bytes", 0x21, 0x11, V4, { TLV(PP2_TYPE_CRC32C, "\0\0\0\0\0") },
	    .why = "CRC32C TLV is not 4 bytes" },
	/* Two checksums: refused, whichever is right. */
	{ "crc32c: twice", 0x21, 0x00, NULL, 0, { TLV(PP2_TYPE_CRC32C, "\0\0\0\0"),
	    TLV(PP2_TYPE_CRC32C, "\0\0\0\0") }, .why = "duplicate CRC32C TLV" },
	{ "tlv: claims one byte more than is left", 0x21, 0x11, V4,
	    .tail = "\x04\x00\x05" "abcd", .tail_n = 7, .why = "TLV overruns the header" },
	{ "tlv: claims 0xffff in a short header", 0x21, 0x11, V4,
	    .tail = "\x04\xff\xff" "abcd", .tail_n = 7, .why = "TLV overruns the header" },
	{ "tlv: the header ends one byte into a value", 0x21, 0x00, NULL, 0,
	    .tail = "\x02\x00\x02" "a", .tail_n = 4, .why = "TLV overruns the header" },
	/* One or two stray bytes cannot hold a TLV header; three can. */
	{ "tlv: one stray byte", 0x21, 0x11, V4, { TLV(PP2_TYPE_NOOP, "") },
	    .tail = "\x04", .tail_n = 1, .why = "trailing bytes too short for a TLV" },
	{ "tlv: two stray bytes", 0x21, 0x11, V4, { TLV(PP2_TYPE_NOOP, "") },
	    .tail = "\x04\x00", .tail_n = 2, .why = "trailing bytes too short for a TLV" },
	{ "tlv: an empty one", 0x21, 0x11, V4, .tail = "\x04\x00\x00", .tail_n = 3 },
	/* An SSL TLV from an upstream balancer is skipped, whatever it holds. */
	{ "tlv: an upstream SSL TLV", 0x21, 0x11, V4,
	    { TLV(PP2_TYPE_SSL, "\x01\0\0\0\0\x21\x00\x09" "garb") } },
};

static void
check_addr(uint8_t fam, const struct sockaddr_storage *ss, socklen_t len,
    const char *ip, uint16_t port)
{
	if (fam == 0x21)
		check_v6(ss, len, ip, port);
	else
		check_v4(ss, len, ip, port);
}

static void
test_header(void **state)
{
	const struct hdr_row *r = *state;
	struct pp2_info info;
	struct hb h;

	hb_init(&h, r->ver_cmd, r->fam);
	if (r->block != NULL)
		hb_put(&h, r->block, r->block_n);
	for (size_t i = 0; i < ROWS(r->tlv) && r->tlv[i].type != 0; i++) {
		char fill[PP2_HEADER_MAX];

		assert_true(r->tlv[i].n <= sizeof(fill));
		memset(fill, r->tlv[i].fill, r->tlv[i].n);
		hb_tlv(&h, r->tlv[i].type, r->tlv[i].v != NULL ? r->tlv[i].v : fill,
		    r->tlv[i].n);
	}
	if (r->tail != NULL)
		hb_put(&h, r->tail, r->tail_n);
	hb_done(&h);
	if (r->why != NULL) {
		parse_bad(h.b, h.n, r->why);
		if (r->also_at != 0)
			parse_bad(h.b, r->also_at, r->why);
		return;
	}
	memset(&info, 0x5a, sizeof(info));
	parse_ok(h.b, h.n, &info);
	assert_true(info.local == r->local);
	if (r->unspec) {
		assert_int_equal(info.src.ss_family, AF_UNSPEC);
		assert_int_equal(info.dst.ss_family, AF_UNSPEC);
	}
	if (r->src != NULL)
		check_addr(r->fam, &info.src, info.src_len, r->src, r->sport);
	if (r->dst != NULL)
		check_addr(r->fam, &info.dst, info.dst_len, r->dst, r->dport);
	if (r->authority != NULL)
		assert_string_equal(info.authority, r->authority);
	if (r->authority_len != 0)
		assert_int_equal(strlen(info.authority), r->authority_len);
	if (r->vpce != NULL)
		assert_string_equal(info.aws_vpce_id, r->vpce);
	if (r->vpce_len != 0)
		assert_int_equal(strlen(info.aws_vpce_id), r->vpce_len);
	check_incremental(h.b, h.n);
}

static void
test_parse_haproxy(void **state)
{
	struct pp2_info info;

	(void)state;
	parse_ok(haproxy_v4, sizeof(haproxy_v4), &info);
	assert_false(info.local);
	check_v4(&info.src, info.src_len, "192.168.1.10", 56324);
	check_v4(&info.dst, info.dst_len, "10.0.0.1", 443);
	check_incremental(haproxy_v4, sizeof(haproxy_v4));
}

/* AWS NLB and HAProxy health checks: LOCAL, family ignored. */
static void
test_parse_local(void **state)
{
	static const uint8_t nlb_local[] = {
		0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49,
		0x54, 0x0a, 0x20, 0x00, 0x00, 0x00,
	};
	struct pp2_info info;

	(void)state;
	memset(&info, 0x5a, sizeof(info));
	parse_ok(nlb_local, sizeof(nlb_local), &info);
	assert_true(info.local);
	assert_int_equal(info.src.ss_family, AF_UNSPEC);
	assert_int_equal(info.dst.ss_family, AF_UNSPEC);
	assert_int_equal(info.src_len, 0);
	assert_int_equal(info.dst_len, 0);
	assert_string_equal(info.authority, "");
	assert_string_equal(info.aws_vpce_id, "");
	check_incremental(nlb_local, sizeof(nlb_local));
}

/* A header with a CRC32C TLV, computed by an independent (Python) CRC. */
static const uint8_t crc_hdr[] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
	0x21, 0x11, 0x00, 0x26, 0x0a, 0x01, 0x02, 0x03, 0x0a, 0x04, 0x05, 0x06,
	0x30, 0x39, 0x20, 0xfb, 0x02, 0x00, 0x0b, 0x73, 0x76, 0x63, 0x2e, 0x65,
	0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x03, 0x00, 0x04, 0xb8, 0x49, 0xa2,
	0xf0, 0x04, 0x00, 0x02, 0x00, 0x00,
};
#define CRC_HDR_AT 45	/* the checksum's offset in crc_hdr */

static void
test_crc32c_tlv(void **state)
{
	uint8_t b[sizeof(crc_hdr)];
	struct pp2_info info;
	struct hb h;
	uint32_t crc;

	(void)state;
	parse_ok(crc_hdr, sizeof(crc_hdr), &info);
	assert_string_equal(info.authority, "svc.example");
	check_v4(&info.src, info.src_len, "10.1.2.3", 12345);
	check_v4(&info.dst, info.dst_len, "10.4.5.6", 8443);
	check_incremental(crc_hdr, sizeof(crc_hdr));

	/*
	 * Any changed bit in a value (addresses, ports, authority, the
	 * checksum, NOOP padding) leaves the framing intact: only the CRC
	 * can catch it.  An authority byte may first turn unprintable.
	 */
	{
		static const struct { size_t from, to; } vals[] = {
			{ 16, 28 }, { 31, 42 }, { 45, 49 }, { 52, 54 },
		};

		for (size_t s = 0; s < sizeof(vals) / sizeof(vals[0]); s++) {
			for (size_t i = vals[s].from; i < vals[s].to; i++) {
				for (int bit = 0; bit < 8; bit++) {
					const char *why = NULL;

					memcpy(b, crc_hdr, sizeof(b));
					b[i] ^= (uint8_t)(1u << bit);
					assert_int_equal(parse_exact(b, sizeof(b),
					    NULL, &why), -1);
					if (s != 1 || strcmp(why,
					    "authority is not printable ASCII") != 0)
						assert_string_equal(why,
						    "CRC32C mismatch");
				}
			}
		}
	}
	memcpy(b, crc_hdr, sizeof(b));
	b[CRC_HDR_AT + 3] ^= 1;
	parse_bad(b, sizeof(b), "CRC32C mismatch");
	memcpy(b, crc_hdr, sizeof(b));
	b[16] ^= 0x80;		/* the source address */
	parse_bad(b, sizeof(b), "CRC32C mismatch");

	/* Our own CRC, over the header with the field zeroed, agrees. */
	memcpy(b, crc_hdr, sizeof(b));
	memset(b + CRC_HDR_AT, 0, 4);
	crc = pp2_crc32c(b, sizeof(b));
	assert_int_equal(crc, 0xb849a2f0u);

	/* A CRC made here for an UNSPEC header with a TLV after it. */
	hb_init(&h, 0x21, 0x00);
	hb_tlv(&h, PP2_TYPE_CRC32C, "\0\0\0\0", 4);
	hb_tlv(&h, PP2_TYPE_AUTHORITY, "x.y", 3);
	hb_done(&h);
	crc = pp2_crc32c(h.b, h.n);
	h.b[19] = (uint8_t)(crc >> 24);
	h.b[20] = (uint8_t)(crc >> 16);
	h.b[21] = (uint8_t)(crc >> 8);
	h.b[22] = (uint8_t)crc;
	parse_ok(h.b, h.n, &info);
	assert_string_equal(info.authority, "x.y");
	h.b[h.n - 1] = 'z';
	parse_bad(h.b, h.n, "CRC32C mismatch");
}

/* Each byte of the signature, changed to any other value, is refused at once. */
static void
test_signature(void **state)
{
	uint8_t b[sizeof(haproxy_v4)];

	(void)state;
	for (size_t i = 0; i < PP2_SIG_LEN; i++) {
		for (int v = 0; v < 256; v++) {
			if (v == sig[i])
				continue;
			memcpy(b, haproxy_v4, sizeof(b));
			b[i] = (uint8_t)v;
			/* as soon as the bad byte is in, and with the whole header */
			if (i == 0 && v == 'P') {
				parse_bad(b, i + 1,
				    "PROXY v1 is not accepted; configure v2");
				parse_bad(b, sizeof(b), "not a PROXY v2 header");
				continue;
			}
			parse_bad(b, i + 1, "not a PROXY v2 header");
			parse_bad(b, sizeof(b), "not a PROXY v2 header");
		}
	}
	/* TLS ClientHello and HTTP, as a misconfigured client would send. */
	parse_bad((const uint8_t *)"\x16\x03\x01\x02\x00", 5, "not a PROXY v2 header");
	parse_bad((const uint8_t *)"GET / HTTP/1.1\r\n", 16, "not a PROXY v2 header");
	assert_int_equal(pp2_parse(haproxy_v4, 0, NULL, NULL), 0);
}

static void
test_v1_refused(void **state)
{
	static const char *v1[] = {
		"PROXY TCP4 192.168.1.10 10.0.0.1 56324 443\r\n",
		"PROXY TCP6 2001:db8::1 2001:db8::2 1 2\r\n",
		"PROXY UNKNOWN\r\n",
		"PROXY ",
		"PROX",
		"P",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(v1) / sizeof(v1[0]); i++)
		parse_bad((const uint8_t *)v1[i], strlen(v1[i]),
		    "PROXY v1 is not accepted; configure v2");
	parse_bad((const uint8_t *)"PROXYX", 6, "not a PROXY v2 header");
}

static void
test_version_command(void **state)
{
	uint8_t b[sizeof(haproxy_v4)];

	(void)state;
	for (int ver = 0; ver < 16; ver++) {
		if (ver == 2)
			continue;
		memcpy(b, haproxy_v4, sizeof(b));
		b[12] = (uint8_t)(ver << 4 | 1);
		parse_bad(b, 13, "unsupported version");
		parse_bad(b, sizeof(b), "unsupported version");
	}
	for (int cmd = 2; cmd < 16; cmd++) {
		memcpy(b, haproxy_v4, sizeof(b));
		b[12] = (uint8_t)(0x20 | cmd);
		parse_bad(b, 13, "unknown command");
		parse_bad(b, sizeof(b), "unknown command");
	}
}

static void
test_family(void **state)
{
	uint8_t b[16 + 216];
	int accepted = 0;

	(void)state;
	for (int fam = 0; fam < 256; fam++) {
		const char *why = NULL;
		ssize_t r;

		memset(b, 0, sizeof(b));
		memcpy(b, sig, sizeof(sig));
		b[12] = 0x21;
		b[13] = (uint8_t)fam;
		b[14] = 0;
		b[15] = 216;
		r = parse_exact(b, sizeof(b), NULL, &why);
		if (fam == 0x00 || fam == 0x11 || fam == 0x21 || fam == 0x31) {
			/* UNSPEC: 216 zero bytes are 72 TLVs of type 0, length 0 */
			assert_int_equal(r, (ssize_t)sizeof(b));
			accepted++;
			continue;
		}
		assert_int_equal(r, -1);
		/* refused as soon as the family byte is in */
		assert_int_equal(parse_exact(b, 14, NULL, &why), -1);
		if ((fam >> 4) > 3)
			assert_string_equal(why, "bad address family");
		else
			assert_string_equal(why, "bad transport protocol for the family");
	}
	assert_int_equal(accepted, 4);
}

static void
test_length(void **state)
{
	static const struct { uint8_t fam; size_t need; } fams[] = {
		{ 0x11, 12 }, { 0x21, 36 }, { 0x31, 216 },
	};
	uint8_t b[PP2_HEADER_MAX + 16];
	struct hb h;

	(void)state;
	memset(b, 0, sizeof(b));
	memcpy(b, sig, sizeof(sig));
	b[12] = 0x21;
	for (size_t f = 0; f < sizeof(fams) / sizeof(fams[0]); f++) {
		b[13] = fams[f].fam;
		for (size_t l = 0; l < fams[f].need; l++) {
			b[14] = (uint8_t)(l >> 8);
			b[15] = (uint8_t)l;
			/* at 16 bytes already, and with the bytes there */
			parse_bad(b, 16, "address block too short for its family");
			parse_bad(b, 16 + l, "address block too short for its family");
		}
		b[14] = 0;
		b[15] = (uint8_t)fams[f].need;
		assert_int_equal(parse_exact(b, 16 + fams[f].need, NULL, NULL),
		    (ssize_t)(16 + fams[f].need));
	}

	/* Past PP2_HEADER_MAX: refused at 16 bytes, without waiting. */
	b[13] = 0x11;
	b[14] = 0x08;
	b[15] = 0x01;		/* 2049 */
	parse_bad(b, 16, "header too long");
	parse_bad(b, sizeof(b), "header too long");
	b[14] = b[15] = 0xff;
	parse_bad(b, 16, "header too long");

	/* Exactly PP2_HEADER_MAX: one big NOOP after the INET block. */
	{
		static uint8_t pad[2048 - 12 - 3];

		hb_init(&h, 0x21, 0x11);
		hb_put(&h, haproxy_v4 + 16, 12);
		hb_tlv(&h, PP2_TYPE_NOOP, pad, sizeof(pad));
		hb_done(&h);
		assert_int_equal(h.n, PP2_HEADER_MAX);
		parse_ok(h.b, h.n, NULL);
		assert_int_equal(parse_exact(h.b, h.n - 1, NULL, NULL), 0);
	}
}

/* Neither 0 nor -1 may write *out. */
static void
test_out_untouched(void **state)
{
	struct pp2_info info, before;
	const char *why = "unset";

	(void)state;
	memset(&info, 0x3c, sizeof(info));
	before = info;
	assert_int_equal(pp2_parse(haproxy_v4, 20, &info, &why), 0);
	assert_string_equal(why, "unset");
	assert_memory_equal(&info, &before, sizeof(info));
	assert_int_equal(pp2_parse((const uint8_t *)"xxxxxxxxxxxxxxxxxx", 18,
	    &info, &why), -1);
	assert_memory_equal(&info, &before, sizeof(info));
	assert_int_equal(pp2_parse(haproxy_v4, sizeof(haproxy_v4), NULL, NULL),
	    (ssize_t)sizeof(haproxy_v4));
}

/* xorshift64*: the same buffers on every machine and libc. */
static uint64_t
rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1DULL;
}

static void
test_fuzz(void **state)
{
	static const uint8_t fams[] = { 0x00, 0x11, 0x21, 0x31, 0x12, 0x40 };
	struct sockaddr_in6 s6, d6;
	struct pp2_tls tls = { .version = "TLSv1.3", .cipher = "C", .cn = "cn",
	    .peer_id = "spiffe://x/y", .cert_verified = true };
	uint8_t ref[PP2_HEADER_MAX];
	uint64_t seed = 0x6d746c7364ULL;
	size_t reflen, counts[3] = { 0, 0, 0 };
	ssize_t r;

	(void)state;
	sin6_set(&s6, "2001:db8::1", 1234);
	sin6_set(&d6, "2001:db8::2", 443);
	r = pp2_build(ref, sizeof(ref), (struct sockaddr *)&s6,
	    (struct sockaddr *)&d6, &tls);
	assert_true(r > 0);
	reflen = (size_t)r;

	for (int iter = 0; iter < 200000; iter++) {
		uint64_t x = rnd(&seed);
		size_t len, i;
		uint8_t *b;
		const char *why = NULL;
		struct pp2_info info;

		switch (x % 4) {
		case 0:		/* random bytes */
			len = (size_t)(rnd(&seed) % 96);
			break;
		case 1:		/* a mutated valid header */
			len = reflen + (size_t)(rnd(&seed) % 16) - 8;
			break;
		default:	/* a valid signature, plausible fields */
			len = 16 + (size_t)(rnd(&seed) % (x & 0x100 ? 2200 : 300));
			break;
		}
		b = malloc(len > 0 ? len : 1);
		assert_non_null(b);
		for (i = 0; i < len; i++)
			b[i] = (uint8_t)rnd(&seed);
		if (x % 4 == 1) {
			memcpy(b, ref, len < reflen ? len : reflen);
			for (int k = (int)(rnd(&seed) % 3); k >= 0; k--)
				b[rnd(&seed) % len] ^= (uint8_t)(1u << (rnd(&seed) % 8));
		} else if (x % 4 >= 2) {
			size_t body = len - 16;
			uint64_t y = rnd(&seed);

			memcpy(b, sig, sizeof(sig));
			b[12] = (y & 1) ? 0x21 : (y & 2) ? 0x20 : (uint8_t)y;
			b[13] = fams[(y >> 8) % sizeof(fams)];
			/* usually a length that fits the buffer, sometimes not */
			if ((y >> 16) % 4 != 0 && body > 0)
				body = (size_t)((y >> 24) % (body + 1));
			else
				body = (size_t)((y >> 24) % 0x10000);
			b[14] = (uint8_t)(body >> 8);
			b[15] = (uint8_t)body;
			/* sprinkle TLV-shaped bytes after a plausible block */
			if ((y >> 40) % 2 && len > 16 + 36 + 3) {
				size_t at = 16 + (b[13] == 0x21 ? 36 : 12);
				static const uint8_t types[] = { 0x02, 0x03, 0x04, 0xEA, 0x20 };

				b[at] = types[(y >> 44) % sizeof(types)];
				b[at + 1] = 0;
				b[at + 2] = (uint8_t)((y >> 48) % 32);
				if (b[at] == 0xEA && at + 3 < len)
					b[at + 3] = 0x01;
			}
		}

		r = pp2_parse(b, len, &info, &why);
		if (r == -1) {
			counts[0]++;
			assert_non_null(why);
			assert_true(why[0] != '\0');
		} else if (r == 0) {
			size_t n = len < PP2_SIG_LEN ? len : PP2_SIG_LEN;

			counts[1]++;
			/* "more" only for a consistent prefix */
			assert_true(n == 0 || memcmp(b, sig, n) == 0);
			assert_true(len < 16 ||
			    len < 16 + (size_t)(b[14] << 8 | b[15]));
		} else {
			counts[2]++;
			assert_true(r >= 16 && (size_t)r <= len);
			assert_int_equal((size_t)r, 16 + (size_t)(b[14] << 8 | b[15]));
			assert_int_equal(info.src.ss_family, info.dst.ss_family);
			assert_true(info.src.ss_family == AF_UNSPEC ||
			    (!info.local && (info.src.ss_family == AF_INET ||
			    info.src.ss_family == AF_INET6)));
			assert_true(strlen(info.authority) < sizeof(info.authority));
			assert_true(strlen(info.aws_vpce_id) < sizeof(info.aws_vpce_id));
			/* the same header alone, and one byte short of it */
			assert_int_equal(pp2_parse(b, (size_t)r, NULL, NULL), r);
			assert_int_equal(pp2_parse(b, (size_t)r - 1, NULL, NULL), 0);
		}
		free(b);
	}
	/* Each outcome is exercised, or the loop proves little. */
	print_message("# fuzz: %zu refused, %zu need more, %zu accepted\n",
	    counts[0], counts[1], counts[2]);
	assert_true(counts[0] > 10000);
	assert_true(counts[1] > 1000);
	assert_true(counts[2] > 1000);
}

static void
test_want(void **state)
{
	uint8_t h[16] = { 0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55,
	    0x49, 0x54, 0x0A, 0x21, 0x11, 0x00, 0x0C };

	(void)state;
	assert_int_equal(pp2_want(h, 0), PP2_HEADER_MIN);
	assert_int_equal(pp2_want(h, 15), PP2_HEADER_MIN);
	assert_int_equal(pp2_want(h, 16), 16 + 12);	/* the INET block */
	h[14] = 0x01;					/* 0x010C: 268 */
	assert_int_equal(pp2_want(h, 16), 16 + 268);
	h[14] = 0xFF;					/* past the cap */
	assert_int_equal(pp2_want(h, 16), PP2_HEADER_MAX);
}

int
main(void)
{
	static const struct CMUnitTest fixed[] = {
		cmocka_unit_test(test_want),
		cmocka_unit_test(test_crc32c),
		cmocka_unit_test(test_roundtrip_v4),
		cmocka_unit_test(test_roundtrip_v6),
		cmocka_unit_test(test_build_unspec),
		cmocka_unit_test(test_build_tlvs),
		cmocka_unit_test(test_build_cap),
		cmocka_unit_test(test_parse_haproxy),
		cmocka_unit_test(test_parse_local),
		cmocka_unit_test(test_crc32c_tlv),
		cmocka_unit_test(test_signature),
		cmocka_unit_test(test_v1_refused),
		cmocka_unit_test(test_version_command),
		cmocka_unit_test(test_family),
		cmocka_unit_test(test_length),
		cmocka_unit_test(test_out_untouched),
		cmocka_unit_test(test_fuzz),
	};

	struct CMUnitTest tests[ROWS(fixed) + ROWS(hdr_rows)];
	size_t n = 0;

	TESTS_APPEND(tests, n, fixed);
	ROW_TESTS(tests, n, hdr_rows, test_header);
	return _cmocka_run_group_tests("proxy/proxy_proto", tests, n, NULL, NULL);
}
