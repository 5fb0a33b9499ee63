/*
 * proxy_proto.h: HAProxy PROXY protocol version 2, read and written.
 *
 * Reading: a load balancer in front of mtlsd prepends a binary header that
 * names the real client; pp2_parse() validates it strictly (a hostile header
 * is refused, never over-read) and can be fed a growing buffer.  Writing:
 * mtlsd prepends a header to the backend stream that carries the client's
 * addresses and what the TLS handshake established, in the TLVs HAProxy
 * defines plus one of ours for the verified peer identity.
 *
 * Pure functions on byte buffers and sockaddrs: no sockets, no allocation,
 * no global state; safe from any thread.
 * Spec: https://www.haproxy.org/download/2.8/doc/proxy-protocol.txt
 */
#ifndef MTLSD_PROXY_PROXY_PROTO_H
#define MTLSD_PROXY_PROXY_PROTO_H

#include <sys/types.h>
#include <sys/socket.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PP2_SIG_LEN	12
#define PP2_HEADER_MIN	16
#define PP2_HEADER_MAX	(16 + 2048)	/* larger headers are refused: no load balancer sends more */

/* Byte 12: version (high nibble) and command (low nibble). */
#define PP2_VERSION		0x20
#define PP2_CMD_LOCAL		0x00
#define PP2_CMD_PROXY		0x01

/* Byte 13: address family (high nibble) and transport (low nibble). */
#define PP2_FAM_UNSPEC		0x00
#define PP2_FAM_INET		0x10
#define PP2_FAM_INET6		0x20
#define PP2_FAM_UNIX		0x30
#define PP2_TRANS_UNSPEC	0x00
#define PP2_TRANS_STREAM	0x01
#define PP2_TRANS_DGRAM		0x02

/* Address block sizes, by family. */
#define PP2_ADDR_LEN_INET	12
#define PP2_ADDR_LEN_INET6	36
#define PP2_ADDR_LEN_UNIX	216

/* TLV types. */
#define PP2_TYPE_ALPN		0x01
#define PP2_TYPE_AUTHORITY	0x02
#define PP2_TYPE_CRC32C		0x03
#define PP2_TYPE_NOOP		0x04
#define PP2_TYPE_UNIQUE_ID	0x05
#define PP2_TYPE_SSL		0x20
#define PP2_SUBTYPE_SSL_VERSION	0x21
#define PP2_SUBTYPE_SSL_CN	0x22
#define PP2_SUBTYPE_SSL_CIPHER	0x23
#define PP2_SUBTYPE_SSL_SIG_ALG	0x24
#define PP2_SUBTYPE_SSL_KEY_ALG	0x25
#define PP2_TYPE_NETNS		0x30
#define PP2_TYPE_AWS		0xEA
#define PP2_SUBTYPE_AWS_VPCE_ID	0x01
#define PP2_TYPE_MTLSD_PEER_ID	0xE0	/* ours, in the application range 0xE0-0xEF */

/* The PP2_TYPE_SSL client byte. */
#define PP2_CLIENT_SSL		0x01
#define PP2_CLIENT_CERT_CONN	0x02
#define PP2_CLIENT_CERT_SESS	0x04

/* What a received header says. */
struct pp2_info {
	bool local;			/* LOCAL command (health check): no addresses */
	struct sockaddr_storage src, dst; /* AF_INET/AF_INET6 when !local and family is INET/INET6; ss_family AF_UNSPEC otherwise */
	socklen_t src_len, dst_len;	/* 0 with AF_UNSPEC */
	char authority[256];		/* PP2_TYPE_AUTHORITY (SNI the LB saw), "" if absent */
	char aws_vpce_id[64];		/* PP2_TYPE_AWS (0xEA) subtype 0x01, "" if absent */
};

/*
 * Parses a v2 header at the start of buf[0..len).  Returns the header's total
 * length (> 0, <= len) when a complete, valid header is there, and fills *out
 * (which may be NULL).  Returns 0 when more bytes are needed and those so far
 * are a valid prefix: the signature so far matches, and from 16 bytes on the
 * version, command, family and length are already checked, so garbage fails
 * at once instead of waiting for the length it claims.  Returns -1 when
 * malformed, with *why (if why != NULL) a static message.  *out is written
 * only on success.  A PROXY v1 text header is refused.
 */
ssize_t pp2_parse(const uint8_t *buf, size_t len, struct pp2_info *out,
    const char **why);

/*
 * How many bytes the header at the start of buf[0..len) takes, as far as
 * they tell: PP2_HEADER_MIN until that many are in, then 16 plus the length
 * they announce, capped at PP2_HEADER_MAX (pp2_parse refuses more).  A
 * reader that must not take a byte past the header reads up to this.
 */
size_t pp2_want(const uint8_t *buf, size_t len);

/* What mtlsd tells the backend about the TLS session it terminated. */
struct pp2_tls {
	const char *version;	/* "TLSv1.3", or NULL to omit */
	const char *cipher;	/* "TLS1-3-AES-128-GCM-SHA256", or NULL to omit */
	const char *cn;		/* the client certificate's subject CN, or NULL */
	const char *peer_id;	/* the verified identity (SPIFFE URI / DNS SAN / CN), or NULL */
	bool cert_verified;	/* a client certificate was presented and verified */
};

/*
 * Builds a PROXY v2 "PROXY" header for a stream from src to dst into
 * buf[0..cap).  Both AF_INET or both AF_INET6 give an INET or INET6 address
 * block; anything else (mixed families, UNIX, NULL) gives an UNSPEC header
 * with no address block, as the spec allows.  When tls != NULL a
 * PP2_TYPE_SSL TLV follows (client flags, verify result, version, CN and
 * cipher sub-TLVs) and, when tls->peer_id != NULL, a PP2_TYPE_MTLSD_PEER_ID
 * TLV holding the identity's bytes.  Returns the header length, or -1 when
 * cap is too small or the header would exceed PP2_HEADER_MAX (nothing
 * useful is in buf then).
 */
ssize_t pp2_build(uint8_t *buf, size_t cap, const struct sockaddr *src,
    const struct sockaddr *dst, const struct pp2_tls *tls);

/* CRC32c (Castagnoli), as PP2_TYPE_CRC32C uses it: pp2_crc32c("123456789", 9) is 0xE3069283. */
uint32_t pp2_crc32c(const void *buf, size_t len);

#endif /* MTLSD_PROXY_PROXY_PROTO_H */
