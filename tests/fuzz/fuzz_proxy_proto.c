/*
 * fuzz_proxy_proto.c: the PROXY v2 parser on any bytes, and the builder's
 * headers read back by the parser.
 *
 * First byte even: the rest is a received header (in a buffer exactly its
 * size).  Checked, as proxy_proto.h promises: the result is -1 (with a
 * reason), 0 or a length within the buffer and PP2_HEADER_MAX that
 * pp2_want() agrees with; *out is written only on success, and then holds
 * printable, terminated strings and consistent addresses; every shorter
 * prefix of a valid or incomplete header answers 0 ("more"), and once a
 * prefix is refused every longer one is too.
 *
 * First byte odd: the rest describes addresses, TLS facts and a buffer
 * size for pp2_build(); a header it builds must parse, to its length and
 * addresses, also with a CRC32C TLV appended (and not with a wrong one);
 * it must fail only when the header would not fit.
 */
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "proxy/proxy_proto.h"
#include "tests/fuzz/fuzz.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	FUZZ_SETUP(pp2_crc32c("123456789", 9) == 0xE3069283u, "crc32c check value");
	return 0;
}

static void
check_info(const struct pp2_info *info)
{
	FUZZ_CHECK(memchr(info->authority, '\0', sizeof(info->authority)) != NULL &&
	    memchr(info->aws_vpce_id, '\0', sizeof(info->aws_vpce_id)) != NULL,
	    "unterminated TLV string");
	for (const char *s = info->authority; *s; s++)
		FUZZ_CHECK(*s > 0x20 && *s < 0x7f, "authority byte 0x%02x", (uint8_t)*s);
	for (const char *s = info->aws_vpce_id; *s; s++)
		FUZZ_CHECK(*s > 0x20 && *s < 0x7f, "vpce byte 0x%02x", (uint8_t)*s);
	FUZZ_CHECK((info->src.ss_family == AF_INET && info->src_len ==
	    sizeof(struct sockaddr_in)) || (info->src.ss_family == AF_INET6 &&
	    info->src_len == sizeof(struct sockaddr_in6)) ||
	    (info->src.ss_family == AF_UNSPEC && info->src_len == 0), "src family");
	FUZZ_CHECK(info->src.ss_family == info->dst.ss_family &&
	    info->src_len == info->dst_len, "src and dst differ in family");
	FUZZ_CHECK(!info->local || info->src.ss_family == AF_UNSPEC, "LOCAL with addresses");
}

static void
parse_mode(const uint8_t *data, size_t len)
{
	uint8_t *buf = malloc(len > 0 ? len : 1);
	struct pp2_info info, before;
	const char *why = NULL;
	ssize_t r, rm;
	bool refused = false;
	size_t top;

	FUZZ_SETUP(buf != NULL, "oom");
	if (len > 0)
		memcpy(buf, data, len);
	memset(&info, 0xa5, sizeof(info));
	before = info;
	r = pp2_parse(buf, len, &info, &why);
	FUZZ_CHECK(r == -1 || r == 0 || (r >= PP2_HEADER_MIN && (size_t)r <= len &&
	    r <= PP2_HEADER_MAX), "result %zd of %zu bytes", r, len);
	FUZZ_CHECK(r != -1 || (why != NULL && why[0] != '\0'), "refused without a reason");
	if (r <= 0) {
		FUZZ_CHECK(memcmp(&info, &before, sizeof(info)) == 0, "*out written "
		    "on result %zd", r);
	} else {
		check_info(&info);
		FUZZ_CHECK(pp2_want(buf, len) == (size_t)r, "pp2_want %zu, parse %zd",
		    pp2_want(buf, len), r);
		FUZZ_CHECK(pp2_parse(buf, (size_t)r, NULL, NULL) == r, "not the same "
		    "on exactly its bytes");
	}
	FUZZ_CHECK(pp2_want(buf, len < PP2_HEADER_MIN ? len : PP2_HEADER_MIN - 1) ==
	    PP2_HEADER_MIN, "pp2_want of a short buffer");
	/* Prefixes: the first 40 lengths, and the one just short. */
	top = len < 40 ? len : 40;
	for (size_t m = 0; m <= top + 1; m++) {
		size_t at = m <= top ? m : (r > 0 ? (size_t)r - 1 : len);
		if (at > len)
			continue;
		why = NULL;
		rm = pp2_parse(buf, at, NULL, &why);
		if (r > 0 && at < (size_t)r)
			FUZZ_CHECK(rm == 0, "prefix %zu of a %zd-byte header: %zd (%s)",
			    at, r, rm, why ? why : "");
		if (r == 0)
			FUZZ_CHECK(rm == 0, "prefix %zu of an incomplete header: %zd", at, rm);
		if (r == -1 && m <= top) {
			FUZZ_CHECK(rm == 0 || rm == -1, "prefix %zu of a refused header: %zd",
			    at, rm);
			FUZZ_CHECK(!refused || rm == -1, "prefix %zu accepted after a "
			    "shorter one was refused", at);
			refused |= rm == -1;
		}
	}
	free(buf);
}

/* A C string of up to 1500 bytes from the input (to its first NUL), or
 * NULL when the length byte says so. */
static char *
take_str(struct fuzz_in *in)
{
	uint16_t n = fuzz_u16(in);
	const uint8_t *p;
	size_t got;

	if (n & 0x8000)
		return NULL;
	p = fuzz_bytes(in, n % 1501, &got);
	return fuzz_strndup(p, strnlen((const char *)p, got));
}

static size_t
str_tlv(const char *s)
{
	return s != NULL ? 3 + strlen(s) : 0;
}

static void
take_sockaddr(struct fuzz_in *in, struct sockaddr_storage *ss)
{
	uint8_t fam = fuzz_u8(in);
	size_t got;
	const uint8_t *p;

	memset(ss, 0, sizeof(*ss));
	if ((fam & 3) == 0) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
		s4->sin_family = AF_INET;
		p = fuzz_bytes(in, 6, &got);
		memcpy(&s4->sin_addr, p, got < 4 ? got : 4);
		if (got == 6)
			memcpy(&s4->sin_port, p + 4, 2);
	} else if ((fam & 3) == 1) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
		s6->sin6_family = AF_INET6;
		p = fuzz_bytes(in, 18, &got);
		memcpy(&s6->sin6_addr, p, got < 16 ? got : 16);
		if (got == 18)
			memcpy(&s6->sin6_port, p + 16, 2);
	} else {
		ss->ss_family = (fam & 3) == 2 ? AF_UNIX : AF_UNSPEC;
	}
}

static void
build_mode(struct fuzz_in *in)
{
	struct sockaddr_storage src, dst;
	struct pp2_tls tls;
	struct pp2_info info;
	uint8_t flags = fuzz_u8(in), *buf, *crc;
	size_t cap = fuzz_u16(in) % (PP2_HEADER_MAX + 64), want, alen = 0;
	bool with_tls = flags & 1, same;
	ssize_t n;

	take_sockaddr(in, &src);
	take_sockaddr(in, &dst);
	memset(&tls, 0, sizeof(tls));
	tls.cert_verified = flags & 2;
	tls.version = take_str(in);
	tls.cipher = take_str(in);
	tls.cn = take_str(in);
	tls.peer_id = take_str(in);

	same = src.ss_family == dst.ss_family &&
	    (src.ss_family == AF_INET || src.ss_family == AF_INET6);
	if (same)
		alen = src.ss_family == AF_INET ? PP2_ADDR_LEN_INET : PP2_ADDR_LEN_INET6;
	want = PP2_HEADER_MIN + alen;
	if (with_tls)
		want += 3 + 1 + 4 + str_tlv(tls.version) + str_tlv(tls.cn) +
		    str_tlv(tls.cipher) + str_tlv(tls.peer_id);

	buf = malloc(cap > 0 ? cap : 1);
	FUZZ_SETUP(buf != NULL, "oom");
	n = pp2_build(buf, cap, (flags & 4) ? NULL : (struct sockaddr *)&src,
	    (struct sockaddr *)&dst, with_tls ? &tls : NULL);
	if (flags & 4) {
		/* No source: an UNSPEC header. */
		want -= alen;
		same = false;
		alen = 0;
	}
	if (want > cap || want > PP2_HEADER_MAX) {
		FUZZ_CHECK(n == -1, "built %zd bytes, %zu needed, cap %zu", n, want, cap);
		goto out;
	}
	FUZZ_CHECK(n == (ssize_t)want, "built %zd bytes, %zu expected", n, want);
	memset(&info, 0, sizeof(info));
	FUZZ_CHECK(pp2_parse(buf, (size_t)n, &info, NULL) == n, "our own header "
	    "does not parse");
	check_info(&info);
	FUZZ_CHECK(!info.local, "our header is LOCAL");
	if (same) {
		size_t sl = src.ss_family == AF_INET ? sizeof(struct sockaddr_in) :
		    sizeof(struct sockaddr_in6);
		FUZZ_CHECK(info.src.ss_family == src.ss_family &&
		    memcmp(&info.src, &src, sl) == 0 && memcmp(&info.dst, &dst, sl) == 0,
		    "addresses do not survive the trip");
	} else {
		FUZZ_CHECK(info.src.ss_family == AF_UNSPEC, "UNSPEC expected");
	}

	/* With a CRC32C TLV appended, right and then wrong. */
	if ((size_t)n + 7 <= PP2_HEADER_MAX) {
		size_t total = (size_t)n + 7;
		uint32_t sum;
		crc = malloc(total);
		FUZZ_SETUP(crc != NULL, "oom");
		memcpy(crc, buf, (size_t)n);
		memcpy(crc + n, "\x03\x00\x04\x00\x00\x00\x00", 7);
		crc[14] = (uint8_t)((total - PP2_HEADER_MIN) >> 8);
		crc[15] = (uint8_t)(total - PP2_HEADER_MIN);
		sum = pp2_crc32c(crc, total);
		crc[n + 3] = (uint8_t)(sum >> 24);
		crc[n + 4] = (uint8_t)(sum >> 16);
		crc[n + 5] = (uint8_t)(sum >> 8);
		crc[n + 6] = (uint8_t)sum;
		FUZZ_CHECK(pp2_parse(crc, total, NULL, NULL) == (ssize_t)total,
		    "a right CRC32C is refused");
		/* One bit off in the sum or the address block: CRC32C sees
		 * every single-bit error. */
		{
			size_t pos = (size_t)(flags >> 3) % (4 + alen);
			size_t at = pos < 4 ? (size_t)n + 3 + pos : PP2_HEADER_MIN + pos - 4;
			crc[at] ^= (uint8_t)(1u << (flags & 7));
		}
		FUZZ_CHECK(pp2_parse(crc, total, NULL, NULL) == -1,
		    "a wrong CRC32C is accepted");
		free(crc);
	}
out:
	free(buf);
	free((char *)tls.version);
	free((char *)tls.cipher);
	free((char *)tls.cn);
	free((char *)tls.peer_id);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in;

	if (size < 1)
		return 0;
	if ((data[0] & 1) == 0) {
		parse_mode(data + 1, size - 1);
		return 0;
	}
	in.p = data + 1;
	in.n = size - 1;
	build_mode(&in);
	return 0;
}
