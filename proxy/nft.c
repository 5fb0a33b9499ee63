/*
 * nft.c: "mtlsd nft -c FILE" (see nft.h).
 *
 * One table, inet mtlsd, for IPv4 and IPv6, replaced whole when loaded
 * (the "table; delete table" idiom makes a reload atomic and idempotent):
 *
 *   redirect_out  outbound TCP to the transparent routes' peer networks
 *                 (redirect = ...) goes into the route, so it leaves
 *                 encrypted.  Never redirected: this node's own addresses
 *                 (mtlsd hands each tunnel to the app there, and a
 *                 redirect would loop), the peers' mtlsd port (mtlsd's own
 *                 tunnels), and with user = the daemon's own connections.
 *   filter_in     new TCP from other hosts reaches only mtlsd's TLS
 *                 listeners and [global] allow_inbound; UDP from the peer
 *                 networks is dropped, since mtlsd carries TCP only.
 *
 * While mtlsd is down the redirected connections are refused (nothing
 * listens on the route's port) and the filter still drops: nothing goes
 * out or comes in in clear.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "proxy/version.h"
#include "proxy/nft.h"

static bool
is_v6_listen(const struct addr *a)
{
	return strchr(a->host, ':') != NULL;
}

static bool
is_loopback(const struct addr *a)
{
	return strncmp(a->host, "127.", 4) == 0 || strcmp(a->host, "::1") == 0 ||
	    strcmp(a->host, "localhost") == 0;
}

/* "{ p1, p2 }" of the prefixes of one family, or nothing (false). */
static bool
prefix_set(FILE *out, const struct cidr *v, size_t n, int family)
{
	bool any = false;

	for (size_t i = 0; i < n; i++) {
		char pfx[64];
		if (v[i].family != family)
			continue;
		cidr_format(&v[i], pfx, sizeof(pfx));
		fprintf(out, "%s%s", any ? ", " : "{ ", pfx);
		any = true;
	}
	if (any)
		fputs(" }", out);
	return any;
}

static void
redirects(const struct config *cfg, FILE *out)
{
	for (size_t i = 0; i < cfg->nroutes; i++) {
		const struct route_config *r = &cfg->routes[i];
		int fam = is_v6_listen(&r->listen) ? AF_INET6 : AF_INET;

		if (r->mode != MODE_TRANSPARENT)
			continue;
		fprintf(out, "\t\t# [%s]: the peers' mtlsd listens on %u\n\t\t%s daddr ",
		    r->name, r->connect.port, fam == AF_INET6 ? "ip6" : "ip");
		(void)prefix_set(out, r->redirect, r->n_redirect, fam);
		fprintf(out, " tcp dport != %u redirect to :%u\n", r->connect.port,
		    r->listen.port);
	}
}

/* The TCP ports other hosts may open: mtlsd's TLS listeners (server
 * routes), a non-loopback admin endpoint, and allow_inbound. */
static void
inbound_ports(const struct config *cfg, FILE *out)
{
	bool any = false;

	for (size_t i = 0; i < cfg->nroutes; i++) {
		const struct route_config *r = &cfg->routes[i];
		if (r->mode != MODE_SERVER || r->listen.kind == ADDR_UNIX ||
		    is_loopback(&r->listen))
			continue;
		fprintf(out, "%s%u", any ? ", " : "{ ", r->listen.port);
		any = true;
	}
	if (cfg->admin_enabled && cfg->admin_listen.kind != ADDR_UNIX &&
	    !is_loopback(&cfg->admin_listen)) {
		fprintf(out, "%s%u", any ? ", " : "{ ", cfg->admin_listen.port);
		any = true;
	}
	for (size_t i = 0; i < cfg->n_allow_inbound; i++) {
		const struct port_range *p = &cfg->allow_inbound[i];
		if (p->lo == p->hi)
			fprintf(out, "%s%u", any ? ", " : "{ ", p->lo);
		else
			fprintf(out, "%s%u-%u", any ? ", " : "{ ", p->lo, p->hi);
		any = true;
	}
	if (any)
		fputs(" }", out);
	else
		fputs("0", out);	/* nothing: port 0 matches no connection */
}

int
nft_write(const struct config *cfg, FILE *out, FILE *errs)
{
	struct cidr *peers = NULL;
	size_t npeers = 0;
	int rc = 0;

	for (size_t i = 0; i < cfg->nroutes; i++) {
		const struct route_config *r = &cfg->routes[i];
		struct cidr *grown;

		if (r->mode != MODE_TRANSPARENT)
			continue;
		if (r->n_redirect == 0) {
			fprintf(errs, "%s:%d: [%s]: mtlsd nft needs redirect = the peer "
			    "networks (CIDR, ...) of this transparent route\n", cfg->path,
			    r->section_line, r->name);
			rc = -1;
			continue;
		}
		if ((grown = realloc(peers, (npeers + r->n_redirect) * sizeof(*peers))) == NULL) {
			fprintf(errs, "%s: out of memory\n", cfg->path);
			free(peers);
			return -1;
		}
		peers = grown;
		memcpy(peers + npeers, r->redirect, r->n_redirect * sizeof(*peers));
		npeers += r->n_redirect;
	}
	if (rc == -1) {
		free(peers);
		return -1;
	}
	fprintf(out,
	    "#!/usr/sbin/nft -f\n"
	    "# mtlsd's rules for this node, made by mtlsd %s from %s:\n"
	    "# regenerate with 'mtlsd nft -c FILE', do not edit.  Load them before\n"
	    "# mtlsd starts (nftables.service).  While mtlsd is down, redirected\n"
	    "# connections are refused and the inbound filter still drops: nothing\n"
	    "# crosses in clear.\n"
	    "table inet mtlsd\n"
	    "delete table inet mtlsd\n"
	    "table inet mtlsd {\n"
	    "\t# Outbound TCP to the peer networks goes into a transparent route.\n"
	    "\tchain redirect_out {\n"
	    "\t\ttype nat hook output priority -100; policy accept;\n"
	    "\t\t# This node's own addresses: mtlsd hands tunnels to the apps\n"
	    "\t\t# there, and a redirect would loop.\n"
	    "\t\tfib daddr type local return\n", MTLSD_VERSION, cfg->path);
	if (cfg->user != NULL)
		fprintf(out, "\t\t# The daemon's own connections (user = %s).\n"
		    "\t\tmeta skuid \"%s\" return\n", cfg->user, cfg->user);
	redirects(cfg, out);
	fprintf(out,
	    "\t}\n"
	    "\t# Inbound: other hosts reach this node only through mtlsd.\n"
	    "\tchain filter_in {\n"
	    "\t\ttype filter hook input priority 0; policy accept;\n"
	    "\t\tiif \"lo\" accept\n"
	    "\t\tct state established,related accept\n"
	    "\t\t# mtlsd's TLS listeners, and allow_inbound\n"
	    "\t\ttcp dport ");
	inbound_ports(cfg, out);
	fprintf(out, " accept\n"
	    "\t\t# Any other new TCP, IPv4 or IPv6, link-local included.\n"
	    "\t\tmeta l4proto tcp ct state new drop\n");
	if (npeers > 0) {
		fprintf(out, "\t\t# mtlsd carries TCP only: no UDP from the peer networks.\n");
		for (int f = 0; f < 2; f++) {
			int fam = f == 0 ? AF_INET : AF_INET6;
			bool have = false;

			/* One line a family, where that family has prefixes. */
			for (size_t i = 0; i < npeers; i++)
				have |= peers[i].family == fam;
			if (!have)
				continue;
			fprintf(out, "\t\t%s saddr ", fam == AF_INET ? "ip" : "ip6");
			(void)prefix_set(out, peers, npeers, fam);
			fprintf(out, " meta l4proto udp drop\n");
		}
	}
	fprintf(out, "\t}\n}\n");
	free(peers);
	return 0;
}

int
nft_run(const char *config_path)
{
	struct config *cfg = config_load(config_path, stderr);
	int rc;

	if (cfg == NULL)
		return 1;
	rc = nft_write(cfg, stdout, stderr) == 0 ? 0 : 1;
	config_free(cfg);
	return rc;
}
