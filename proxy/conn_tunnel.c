/*
 * conn_tunnel.c: transparent routes, and the server routes that end their
 * tunnels (connect = original).
 *
 *   node A: app --nftables redirect--> [transparent route]
 *           ==mTLS, tunnel header first==> node B: [server route,
 *           connect = original] --plain--> node B's app
 *
 * The transparent route reads where the app was going (SO_ORIGINAL_DST),
 * connects to that host's mtlsd (connect = original:PORT) and checks the
 * peer's certificate against the destination's address (an ip: SAN), or
 * server_name when one is set.  Its first application bytes are a PROXY v2
 * header: the app's source and original destination.
 *
 * The server route reads that header out of the TLS stream, exactly, and
 * connects only when the destination is this node's address that the
 * tunnel came in on, and its port is in allow_ports.  So a peer the policy
 * admits reaches the listed ports of this node, and nothing else: no other
 * host, no other port.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/conn.h"
#include "proxy/proxy_proto.h"
#include "proxy/worker.h"
#include "tls/tls.h"

/* A tunnel refused by policy: counted, audited as denied, closed. */
static int
refuse(struct conn *c, const char *reason, const char *detail)
{
	counter_add(&c->r->stats.refused[REFUSE_TUNNEL], 1);
	conn_audit(c, AUDIT_DENIED, reason, detail);
	conn_free(c, reason, detail);
	return -1;
}

int
conn_tunnel_target(struct conn *c, struct sockname *out)
{
	const struct route_config *rc = c->r->rc;
	struct sockname local;
	char detail[200];
	int e;

	if ((e = sock_original_dst(c->plain_fd, out)) != 0 ||
	    (e = sock_local(c->plain_fd, &local)) != 0) {
		snprintf(detail, sizeof(detail), "no original destination (%s): "
		    "was the connection redirected by nftables?", strerror(e));
		return refuse(c, "not_redirected", detail);
	}
	sock_unmap_v4(out);
	sock_unmap_v4(&local);
	sock_format((struct sockaddr *)&out->ss, out->len, c->target, sizeof(c->target));
	/* Without a redirect the original destination is the listener itself,
	 * and mtlsd would tunnel to itself. */
	if (sock_same_host((struct sockaddr *)&out->ss, (struct sockaddr *)&local.ss) &&
	    sock_port((struct sockaddr *)&out->ss) == sock_port((struct sockaddr *)&local.ss))
		return refuse(c, "not_redirected", "the connection came straight to "
		    "the listener: only redirected connections are tunneled");
	/* mtlsd's own hand-off to an app on this node, redirected back into
	 * the transparent route: tunneling it would loop without end. */
	if (c->r->w->d->handoff_ports[sock_port((struct sockaddr *)&c->peer_sa.ss)] > 0 &&
	    sock_is_local_addr((struct sockaddr *)&out->ss))
		return refuse(c, "redirect_loop", "the connection is mtlsd's own "
		    "hand-off to an app on this node, redirected back: this node's "
		    "own addresses must not be redirected ('fib daddr type local "
		    "return' first, as mtlsd nft writes)");
	/* mtlsd's own connection to a peer, redirected back to itself. */
	if (sock_port((struct sockaddr *)&out->ss) == rc->connect.port) {
		snprintf(detail, sizeof(detail), "the destination is the peers' "
		    "mtlsd port: exclude it from the redirect (tcp dport != %u)",
		    rc->connect.port);
		return refuse(c, "redirect_loop", detail);
	}
	sock_format_host((struct sockaddr *)&out->ss, c->target_host,
	    sizeof(c->target_host));
	memcpy(&c->local_sa, out, sizeof(c->local_sa));
	sock_unmap_v4(&c->peer_sa);
	sock_set_port(out, rc->connect.port);
	return 0;
}

int
conn_tunnel_send(struct conn *c)
{
	unsigned char hdr[PP2_HEADER_MAX];
	ssize_t len, n;

	len = pp2_build(hdr, sizeof(hdr), (struct sockaddr *)&c->peer_sa.ss,
	    (struct sockaddr *)&c->local_sa.ss, NULL);
	if (len < 0) {
		conn_free(c, "internal_error", "cannot build the tunnel header");
		return -1;
	}
	/* One small record on a socket that has just flushed the handshake:
	 * it goes at once, or the upstream is broken. */
	n = tls_conn_write(c->tls, hdr, (size_t)len);
	if (n != len) {
		conn_free(c, "upstream_error", n == TLS_ERR ?
		    tls_conn_fail_detail(c->tls) : "cannot send the tunnel header");
		return -1;
	}
	return 0;
}

static bool
port_allowed(const struct route_config *rc, uint16_t port)
{
	for (size_t i = 0; i < rc->n_allow_ports; i++)
		if (port >= rc->allow_ports[i].lo && port <= rc->allow_ports[i].hi)
			return true;
	return false;
}

/* From the TLS stream: the app's bytes behind the header stay in mbedTLS
 * for the relay. */
static ssize_t
read_tls(struct conn *c, unsigned char *p, size_t len)
{
	ssize_t n = tls_conn_read(c->tls, p, len);

	if (n > 0)
		return n;
	if (n == TLS_WANT_READ || n == TLS_WANT_WRITE) {
		conn_wait_for(c, n == TLS_WANT_READ ? WANT_TLS_RD : WANT_TLS_WR);
		return 0;
	}
	if (n == TLS_EOF)
		return refuse(c, "tunnel_header", "closed before a complete tunnel "
		    "header");
	conn_free(c, "tls_error", tls_conn_fail_detail(c->tls));
	return -1;
}

static int
refuse_header(struct conn *c, const char *why)
{
	return refuse(c, "tunnel_header", why);
}

/* The handshake timeout, still running, covers the header. */
int
conn_tunnel_read(struct conn *c)
{
	struct pp2_info info;
	struct sockname local, target;
	char detail[200];
	int r;

	c->state = CS_TUNNEL_HEADER;
	if ((r = conn_pp2_collect(c, read_tls, refuse_header, &info)) <= 0)
		return r;
	if (info.local || info.dst.ss_family == AF_UNSPEC)
		return refuse(c, "tunnel_header", "the tunnel header names no "
		    "destination");
	sock_format((struct sockaddr *)&info.dst, info.dst_len, c->target,
	    sizeof(c->target));
	if (sock_local(c->tls_fd, &local) != 0 || !sock_same_host(
	    (struct sockaddr *)&info.dst, (struct sockaddr *)&local.ss))
		return refuse(c, "tunnel_target", "the destination is not this "
		    "node's address that the tunnel came in on");
	if (!port_allowed(c->r->rc, sock_port((struct sockaddr *)&info.dst))) {
		snprintf(detail, sizeof(detail), "port %u is not in allow_ports",
		    sock_port((struct sockaddr *)&info.dst));
		return refuse(c, "port_denied", detail);
	}
	/* The app here sees (with send_proxy = v2) the app on the sender. */
	memcpy(&c->peer_sa.ss, &info.src, info.src_len);
	c->peer_sa.len = info.src_len;
	memcpy(&target, &local, sizeof(target));
	sock_set_port(&target, sock_port((struct sockaddr *)&info.dst));
	memcpy(&c->local_sa, &target, sizeof(c->local_sa));
	return conn_connect(c, &target);
}
