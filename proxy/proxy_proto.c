/*
 * proxy_proto.c: PROXY protocol v2 parser and builder (see proxy_proto.h).
 *
 * The parser trusts nothing in the header: every length is checked against
 * what is left before it is used, and the header as a whole is capped at
 * PP2_HEADER_MAX, so the worst a hostile sender can do is be refused.
 */
#include <netinet/in.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "proxy/proxy_proto.h"

static const uint8_t pp2_sig[PP2_SIG_LEN] = {
	0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A
};

/* A v1 header starts with this text; worth a message of its own. */
static const char pp2_v1[] = "PROXY ";

/*
 * CRC32c, reflected polynomial 0x82F63B78, four bits at a time.  A constant
 * 16-entry table needs no initialisation (so no global state, no race
 * between workers) and is fast enough for one header per connection.
 */
static const uint32_t crc32c_nibble[16] = {
	0x00000000, 0x105ec76f, 0x20bd8ede, 0x30e349b1,
	0x417b1dbc, 0x5125dad3, 0x61c69362, 0x7198540d,
	0x82f63b78, 0x92a8fc17, 0xa24bb5a6, 0xb21572c9,
	0xc38d26c4, 0xd3d3e1ab, 0xe330a81a, 0xf36e6f75,
};

/* Feeds p[0..n) into a running (pre-inverted) CRC32c. */
static uint32_t
crc32c_update(uint32_t crc, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		crc ^= p[i];
		crc = (crc >> 4) ^ crc32c_nibble[crc & 0x0f];
		crc = (crc >> 4) ^ crc32c_nibble[crc & 0x0f];
	}
	return crc;
}

uint32_t
pp2_crc32c(const void *buf, size_t len)
{
	return crc32c_update(0xffffffffu, buf, len) ^ 0xffffffffu;
}

static size_t
get16(const uint8_t *p)
{
	return ((size_t)p[0] << 8) | p[1];
}

static uint32_t
get32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
	    ((uint32_t)p[2] << 8) | p[3];
}

static uint8_t *
put16(uint8_t *p, size_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
	return p + 2;
}

static uint8_t *
put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
	return p + 4;
}

/*
 * The address block length of a family/transport byte, or -1 for a
 * combination the spec does not let a PROXY command use for a stream.
 */
static int
addr_block_len(uint8_t fam)
{
	switch (fam) {
	case PP2_FAM_UNSPEC | PP2_TRANS_UNSPEC:
		return 0;
	case PP2_FAM_INET | PP2_TRANS_STREAM:
		return PP2_ADDR_LEN_INET;
	case PP2_FAM_INET6 | PP2_TRANS_STREAM:
		return PP2_ADDR_LEN_INET6;
	case PP2_FAM_UNIX | PP2_TRANS_STREAM:
		return PP2_ADDR_LEN_UNIX;
	default:
		return -1;
	}
}

/*
 * Copies a TLV's text value into dst[0..size) as a C string.  The values we
 * keep (a host name, an endpoint id) end up in logs, so anything but
 * printable ASCII, NUL included, is refused rather than passed on.
 */
static int
copy_text(char *dst, size_t size, const uint8_t *v, size_t n,
    const char *too_long, const char *bad_byte, const char **why)
{
	if (n >= size) {
		*why = too_long;
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		if (v[i] < 0x21 || v[i] > 0x7e) {
			*why = bad_byte;
			return -1;
		}
	}
	memcpy(dst, v, n);
	dst[n] = '\0';
	return 0;
}

/*
 * Walks the TLVs in h[off..total) into *info and checks a CRC32C TLV if one
 * is there.  A value we keep may appear once: two authorities would leave
 * the backend guessing which one the load balancer meant.
 */
static int
walk_tlvs(const uint8_t *h, size_t off, size_t total, struct pp2_info *info,
    const char **why)
{
	size_t crc_at = 0;
	bool seen_auth = false, seen_vpce = false;

	while (off < total) {
		const uint8_t *v;
		size_t vlen;

		if (total - off < 3) {
			*why = "trailing bytes too short for a TLV";
			return -1;
		}
		vlen = get16(h + off + 1);
		if (vlen > total - off - 3) {
			*why = "TLV overruns the header";
			return -1;
		}
		v = h + off + 3;
		switch (h[off]) {
		case PP2_TYPE_AUTHORITY:
			if (seen_auth) {
				*why = "duplicate AUTHORITY TLV";
				return -1;
			}
			seen_auth = true;
			if (copy_text(info->authority, sizeof(info->authority),
			    v, vlen, "authority too long",
			    "authority is not printable ASCII", why) == -1)
				return -1;
			break;
		case PP2_TYPE_CRC32C:
			if (crc_at != 0) {
				*why = "duplicate CRC32C TLV";
				return -1;
			}
			if (vlen != 4) {
				*why = "CRC32C TLV is not 4 bytes";
				return -1;
			}
			crc_at = off + 3;
			break;
		case PP2_TYPE_AWS:
			if (vlen < 1) {
				*why = "AWS TLV without a subtype";
				return -1;
			}
			if (v[0] != PP2_SUBTYPE_AWS_VPCE_ID)
				break;
			if (seen_vpce) {
				*why = "duplicate AWS VPC endpoint id";
				return -1;
			}
			seen_vpce = true;
			if (copy_text(info->aws_vpce_id,
			    sizeof(info->aws_vpce_id), v + 1, vlen - 1,
			    "AWS VPC endpoint id too long",
			    "AWS VPC endpoint id is not printable ASCII",
			    why) == -1)
				return -1;
			break;
		default:
			/* NOOP, ALPN, SSL, unique id, netns, unknown: not ours to judge. */
			break;
		}
		off += 3 + vlen;
	}

	if (crc_at != 0) {
		static const uint8_t zero[4];
		uint32_t crc = 0xffffffffu;

		/* The sender computed it with its own field zeroed. */
		crc = crc32c_update(crc, h, crc_at);
		crc = crc32c_update(crc, zero, sizeof(zero));
		crc = crc32c_update(crc, h + crc_at + 4, total - crc_at - 4);
		if ((crc ^ 0xffffffffu) != get32(h + crc_at)) {
			*why = "CRC32C mismatch";
			return -1;
		}
	}
	return 0;
}

/*
 * Where an INET or INET6 address block keeps its fields (source address,
 * destination address, source port, destination port) and where the
 * matching sockaddr keeps them.  Both hold network order, so moving a
 * field either way is a plain byte copy, which also spares us assumptions
 * about the caller's alignment.
 */
struct inet_layout {
	uint8_t fam;		/* the header's family/transport byte */
	sa_family_t af;
	size_t ip_len, ip_off, port_off;	/* offsets into the sockaddr */
	socklen_t sa_len;
};

static const struct inet_layout inet_layouts[] = {
	{ PP2_FAM_INET | PP2_TRANS_STREAM, AF_INET, 4,
	  offsetof(struct sockaddr_in, sin_addr),
	  offsetof(struct sockaddr_in, sin_port), sizeof(struct sockaddr_in) },
	{ PP2_FAM_INET6 | PP2_TRANS_STREAM, AF_INET6, 16,
	  offsetof(struct sockaddr_in6, sin6_addr),
	  offsetof(struct sockaddr_in6, sin6_port), sizeof(struct sockaddr_in6) },
};

/* The layout for a header family byte (fam != 0) or a sockaddr family. */
static const struct inet_layout *
inet_layout(uint8_t fam, int af)
{
	size_t i;

	for (i = 0; i < sizeof(inet_layouts) / sizeof(inet_layouts[0]); i++)
		if (fam != 0 ? inet_layouts[i].fam == fam :
		    inet_layouts[i].af == af)
			return &inet_layouts[i];
	return NULL;
}

static void
sa_from_block(struct sockaddr_storage *ss, socklen_t *len,
    const struct inet_layout *l, const uint8_t *ip, const uint8_t *port)
{
	memset(ss, 0, sizeof(*ss));
	ss->ss_family = l->af;
	memcpy((uint8_t *)ss + l->ip_off, ip, l->ip_len);
	memcpy((uint8_t *)ss + l->port_off, port, 2);
	*len = l->sa_len;
}

/* Fills info's addresses from an INET or INET6 address block at a. */
static void
read_addrs(const uint8_t *a, uint8_t fam, struct pp2_info *info)
{
	const struct inet_layout *l = inet_layout(fam, 0);
	size_t n;

	if (l == NULL)	/* UNIX and UNSPEC: the caller keeps the socket's */
		return;
	n = l->ip_len;
	sa_from_block(&info->src, &info->src_len, l, a, a + 2 * n);
	sa_from_block(&info->dst, &info->dst_len, l, a + n, a + 2 * n + 2);
}

size_t
pp2_want(const uint8_t *buf, size_t len)
{
	size_t want;

	if (len < PP2_HEADER_MIN)
		return PP2_HEADER_MIN;
	want = PP2_HEADER_MIN + ((size_t)buf[14] << 8 | buf[15]);
	return want > PP2_HEADER_MAX ? PP2_HEADER_MAX : want;
}

ssize_t
pp2_parse(const uint8_t *buf, size_t len, struct pp2_info *out,
    const char **why)
{
	struct pp2_info info;
	const char *msg;
	size_t total, n;
	int alen = -1;
	bool local = false;

	if (len == 0)
		return 0;

	n = len < PP2_SIG_LEN ? len : PP2_SIG_LEN;
	if (memcmp(buf, pp2_sig, n) != 0) {
		n = len < sizeof(pp2_v1) - 1 ? len : sizeof(pp2_v1) - 1;
		if (memcmp(buf, pp2_v1, n) == 0)
			msg = "PROXY v1 is not accepted; configure v2";
		else
			msg = "not a PROXY v2 header";
		goto bad;
	}

	/* Check each fixed byte as soon as it arrives: garbage fails early. */
	if (len > 12) {
		if ((buf[12] & 0xf0) != PP2_VERSION) {
			msg = "unsupported version";
			goto bad;
		}
		switch (buf[12] & 0x0f) {
		case PP2_CMD_LOCAL:
			local = true;
			break;
		case PP2_CMD_PROXY:
			break;
		default:
			msg = "unknown command";
			goto bad;
		}
	}
	if (len > 13) {
		alen = addr_block_len(buf[13]);
		/*
		 * The spec has LOCAL's family ignored; a health check must not
		 * be refused over it.  Its block is then skipped unread.
		 */
		if (alen == -1 && !local) {
			if ((buf[13] >> 4) > (PP2_FAM_UNIX >> 4))
				msg = "bad address family";
			else
				msg = "bad transport protocol for the family";
			goto bad;
		}
	}
	if (len < PP2_HEADER_MIN)
		return 0;

	total = PP2_HEADER_MIN + get16(buf + 14);
	if (total > PP2_HEADER_MAX) {
		msg = "header too long";
		goto bad;
	}
	if (alen > 0 && total - PP2_HEADER_MIN < (size_t)alen) {
		msg = "address block too short for its family";
		goto bad;
	}
	if (len < total)
		return 0;

	memset(&info, 0, sizeof(info));
	info.src.ss_family = info.dst.ss_family = AF_UNSPEC;
	info.local = local;
	if (alen >= 0) {
		if (!local)
			read_addrs(buf + PP2_HEADER_MIN, buf[13], &info);
		if (walk_tlvs(buf, PP2_HEADER_MIN + (size_t)alen, total,
		    &info, &msg) == -1)
			goto bad;
	}
	if (out != NULL)
		*out = info;
	return (ssize_t)total;

bad:
	if (why != NULL)
		*why = msg;
	return -1;
}

/* The size of a TLV carrying string s, 0 when s is NULL. */
static size_t
str_tlv_len(const char *s)
{
	/* Bounded so that adding a few never wraps; the total check refuses it. */
	return s == NULL ? 0 : 3 + strnlen(s, PP2_HEADER_MAX);
}

/* Writes a TLV of the given type holding s (not NULL), returns the end. */
static uint8_t *
put_str_tlv(uint8_t *p, uint8_t type, const char *s)
{
	size_t n = strlen(s);

	*p++ = type;
	p = put16(p, n);
	memcpy(p, s, n);
	return p + n;
}

ssize_t
pp2_build(uint8_t *buf, size_t cap, const struct sockaddr *src,
    const struct sockaddr *dst, const struct pp2_tls *tls)
{
	const struct inet_layout *l = NULL;
	size_t alen = 0, ssl_len = 0, total;
	uint8_t fam = PP2_FAM_UNSPEC | PP2_TRANS_UNSPEC;
	uint8_t *p;

	if (src != NULL && dst != NULL && src->sa_family == dst->sa_family)
		l = inet_layout(0, src->sa_family);
	if (l != NULL) {
		fam = l->fam;
		alen = 2 * l->ip_len + 4;
	}

	total = PP2_HEADER_MIN + alen;
	if (tls != NULL) {
		/* client byte, verify word, then the sub-TLVs */
		ssl_len = 1 + 4 + str_tlv_len(tls->version) +
		    str_tlv_len(tls->cn) + str_tlv_len(tls->cipher);
		total += 3 + ssl_len + str_tlv_len(tls->peer_id);
	}
	/* Past the cap pp2_parse (ours or the backend's) would refuse it. */
	if (total > PP2_HEADER_MAX || total > cap)
		return -1;

	p = buf;
	memcpy(p, pp2_sig, PP2_SIG_LEN);
	p += PP2_SIG_LEN;
	*p++ = PP2_VERSION | PP2_CMD_PROXY;
	*p++ = fam;
	p = put16(p, total - PP2_HEADER_MIN);

	if (l != NULL) {
		const uint8_t *s = (const uint8_t *)src, *d = (const uint8_t *)dst;
		size_t n = l->ip_len;

		memcpy(p, s + l->ip_off, n);
		memcpy(p + n, d + l->ip_off, n);
		memcpy(p + 2 * n, s + l->port_off, 2);
		memcpy(p + 2 * n + 2, d + l->port_off, 2);
		p += alen;
	}

	if (tls != NULL) {
		uint8_t client = PP2_CLIENT_SSL;

		if (tls->cert_verified)
			client |= PP2_CLIENT_CERT_CONN | PP2_CLIENT_CERT_SESS;
		*p++ = PP2_TYPE_SSL;
		p = put16(p, ssl_len);
		*p++ = client;
		/* The spec's verify field: zero only for a verified certificate. */
		p = put32(p, tls->cert_verified ? 0 : 1);
		if (tls->version != NULL)
			p = put_str_tlv(p, PP2_SUBTYPE_SSL_VERSION, tls->version);
		if (tls->cn != NULL)
			p = put_str_tlv(p, PP2_SUBTYPE_SSL_CN, tls->cn);
		if (tls->cipher != NULL)
			p = put_str_tlv(p, PP2_SUBTYPE_SSL_CIPHER, tls->cipher);
		if (tls->peer_id != NULL)
			p = put_str_tlv(p, PP2_TYPE_MTLSD_PEER_ID, tls->peer_id);
	}
	return (ssize_t)(p - buf);
}
