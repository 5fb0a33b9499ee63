/*
 * conn_pp2.c: PROXY protocol v2 on a connection (proxy_proto.c does the
 * bytes).
 *
 *   accept_proxy = yes  a network load balancer in front sends a v2 header
 *                       before the ClientHello; it is mandatory and strictly
 *                       parsed, and its source address becomes the peer's.
 *   send_proxy = v2     the backend gets a v2 header first: the client's
 *                       address, and the TLS session with the verified peer
 *                       identity (SSL TLV and TLV 0xE0).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "proxy/conn.h"
#include "proxy/proxy_proto.h"
#include "proxy/worker.h"
#include "tls/tls.h"

static int
refuse(struct conn *c, const char *why)
{
	counter_add(&c->r->stats.refused[REFUSE_PROXY_HEADER], 1);
	conn_free(c, "proxy_header", why);
	return -1;
}

int
conn_pp2_collect(struct conn *c,
    ssize_t (*rd)(struct conn *c, unsigned char *p, size_t len),
    int (*refuse_why)(struct conn *c, const char *why), struct pp2_info *info)
{
	const char *why = NULL;
	ssize_t n, hdr;
	size_t want;

	if (c->pp_buf == NULL && (c->pp_buf = malloc(PP2_HEADER_MAX)) == NULL) {
		conn_free(c, "out_of_memory", NULL);
		return -1;
	}
	for (;;) {
		want = pp2_want(c->pp_buf, c->pp_len);
		if (c->pp_len < want) {
			if ((n = rd(c, c->pp_buf + c->pp_len, want - c->pp_len)) <= 0)
				return (int)n;
			c->pp_len += (size_t)n;
		}
		if ((hdr = pp2_parse(c->pp_buf, c->pp_len, info, &why)) < 0)
			return refuse_why(c, why);
		if (hdr > 0)
			break;
	}
	free(c->pp_buf);
	c->pp_buf = NULL;
	c->pp_len = 0;
	return 1;
}

/* Straight from the socket: the TLS stream has not started. */
static ssize_t
read_socket(struct conn *c, unsigned char *p, size_t len)
{
	ssize_t n;

	do
		n = recv(c->tls_fd, p, len, 0);
	while (n == -1 && errno == EINTR);
	if (n > 0)
		return n;
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
		conn_wait_for(c, WANT_TLS_RD);
		return 0;
	}
	return refuse(c, n == 0 ? "closed before a complete PROXY header" :
	    strerror(errno));
}

/* The header is read exactly, so not one byte of the TLS stream behind it
 * is taken. */
int
conn_pp2_read(struct conn *c)
{
	struct pp2_info info;
	int r;

	if ((r = conn_pp2_collect(c, read_socket, refuse, &info)) <= 0)
		return r;
	/* LOCAL (a health check) keeps the socket's own addresses. */
	if (!info.local && info.src.ss_family != AF_UNSPEC) {
		memcpy(c->via, c->peer, sizeof(c->via));
		memcpy(&c->peer_sa.ss, &info.src, info.src_len);
		c->peer_sa.len = info.src_len;
		memcpy(&c->local_sa.ss, &info.dst, info.dst_len);
		c->local_sa.len = info.dst_len;
		sock_format((struct sockaddr *)&info.src, info.src_len, c->peer,
		    sizeof(c->peer));
	}
	return conn_handshake_start(c);
}

int
conn_pp2_send(struct conn *c)
{
	unsigned char hdr[PP2_HEADER_MAX];
	const char *id = tls_conn_peer_id(c->tls), *cn = tls_conn_peer_cn(c->tls);
	struct pp2_tls tls = {
		.version = tls_conn_version(c->tls),
		.cipher = tls_conn_cipher(c->tls),
		.cn = cn[0] ? cn : NULL,
		.peer_id = id[0] ? id : NULL,
		/* The handshake passed, so a certificate it carried was verified. */
		.cert_verified = id[0] != '\0',
	};
	ssize_t len, n;

	if (c->local_sa.len == 0) {
		c->local_sa.len = sizeof(c->local_sa.ss);
		if (getsockname(c->tls_fd, (struct sockaddr *)&c->local_sa.ss,
		    &c->local_sa.len) == -1)
			c->local_sa.len = 0;
	}
	len = pp2_build(hdr, sizeof(hdr), (struct sockaddr *)&c->peer_sa.ss,
	    c->local_sa.len ? (struct sockaddr *)&c->local_sa.ss : NULL, &tls);
	if (len < 0) {
		conn_free(c, "internal_error", "cannot build the PROXY header");
		return -1;
	}
	/* A fresh connection's empty send buffer takes a few hundred bytes
	 * whole; anything less is a broken upstream. */
	n = send(c->plain_fd, hdr, (size_t)len, MSG_NOSIGNAL);
	if (n != len) {
		conn_free(c, "upstream_error", n == -1 ? strerror(errno) :
		    "short write of the PROXY header");
		return -1;
	}
	return 0;
}
