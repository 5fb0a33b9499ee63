// peer_pattern.h: identity patterns for allow_peers and expect_peers.
//
//   uri:spiffe://td/ns/*/sa/worker   a URI SAN; '*' is one path segment
//   dns:*.train.internal             a DNS SAN; '*' is one label
//   cn:node-7                        the subject's common name, exactly
//   ip:10.0.0.0/8                    an IP SAN inside the prefix
//
/*
 * '*' only ever stands for one whole label or segment, never part of one and
 * never more than one.  DNS names and a URI's scheme and authority compare
 * case-insensitively; a URI's path and a CN compare byte for byte.
 * This module knows nothing of certificates: tls/ extracts the SANs and asks.
 */
#ifndef MTLSD_CONFIG_PEER_PATTERN_H
#define MTLSD_CONFIG_PEER_PATTERN_H

#include <stdbool.h>
#include <stddef.h>

#include "config/parse.h"

enum peer_kind { PEER_URI, PEER_DNS, PEER_CN, PEER_IP };

#define PEER_PATTERN_MAX 512

struct peer_pattern {
	enum peer_kind kind;
	char text[PEER_PATTERN_MAX];	/* URI, DNS, CN: the pattern after "kind:" */
	struct cidr net;		/* IP */
};

/* Parses "kind:pattern".  Returns 0, or -1 with *why set. */
int peer_pattern_parse(const char *s, struct peer_pattern *p, const char **why);

/* Whether a value of the given kind matches p (false when kinds differ).
 * For PEER_IP, value is 4 or 16 raw address bytes. */
bool peer_pattern_match(const struct peer_pattern *p, enum peer_kind kind,
    const void *value, size_t len);

/* The pattern as written in the config, into buf. */
void peer_pattern_format(const struct peer_pattern *p, char *buf, size_t len);

#endif /* MTLSD_CONFIG_PEER_PATTERN_H */
