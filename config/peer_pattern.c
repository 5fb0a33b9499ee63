/*
 * peer_pattern.c: parsing and matching of allow_peers / expect_peers entries.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "config/peer_pattern.h"

static const char *const kind_names[] = {
	[PEER_URI] = "uri", [PEER_DNS] = "dns", [PEER_CN] = "cn", [PEER_IP] = "ip",
};

/* Checks that every '*' in s[0..len) is a whole token between separators. */
static bool
stars_are_whole(const char *s, size_t len, char sep)
{
	for (size_t i = 0; i < len; i++) {
		if (s[i] != '*')
			continue;
		if ((i > 0 && s[i - 1] != sep) || (i + 1 < len && s[i + 1] != sep))
			return false;
	}
	return true;
}

/*
 * Matches value against pattern token by token, tokens split at sep.  A
 * pattern token "*" matches exactly one non-empty value token of letters,
 * digits, '.', '-' and '_', other than "." and ".."; any other token must be
 * equal (case-insensitively if asked).
 */
static bool
match_tokens(const char *pat, size_t plen, const char *val, size_t vlen,
    char sep, bool nocase)
{
	size_t pi = 0, vi = 0;

	for (;;) {
		size_t pe = pi, ve = vi;
		while (pe < plen && pat[pe] != sep)
			pe++;
		while (ve < vlen && val[ve] != sep)
			ve++;
		size_t pt = pe - pi, vt = ve - vi;
		if (pt == 1 && pat[pi] == '*') {
			if (vt == 0 || (vt == 1 && val[vi] == '.') ||
			    (vt == 2 && val[vi] == '.' && val[vi + 1] == '.'))
				return false;
			/* A wildcard segment holds SPIFFE's characters only:
			 * no percent-encoding to smuggle "..", '?' or '#'. */
			for (size_t k = vi; k < ve; k++)
				if (!isalnum((unsigned char)val[k]) && val[k] != '.' &&
				    val[k] != '-' && val[k] != '_')
					return false;
		} else if (pt != vt ||
		    (nocase ? strncasecmp(pat + pi, val + vi, pt) :
		    memcmp(pat + pi, val + vi, pt)) != 0) {
			return false;
		}
		/* Both must end together: same number of tokens. */
		if (pe == plen || ve == vlen)
			return pe == plen && ve == vlen;
		pi = pe + 1;
		vi = ve + 1;
	}
}

/* Length of "scheme://authority" in a URI, or 0 when it has no "://". */
static size_t
uri_prefix_len(const char *s, size_t len)
{
	const char *sep = memmem(s, len, "://", 3);
	const char *slash;

	if (sep == NULL || sep == s)
		return 0;
	slash = memchr(sep + 3, '/', len - (size_t)(sep + 3 - s));
	return slash ? (size_t)(slash - s) : len;
}

static int
parse_uri(const char *s, const char **why)
{
	size_t len = strlen(s), pre = uri_prefix_len(s, len);

	if (pre == 0 || pre == (size_t)(strstr(s, "://") - s) + 3) {
		*why = "uri: pattern must look like scheme://authority/path";
		return -1;
	}
	if (memchr(s, '*', pre) != NULL) {
		*why = "uri: '*' is allowed only as a whole path segment";
		return -1;
	}
	if (!stars_are_whole(s + pre, len - pre, '/')) {
		*why = "uri: '*' must be a whole path segment, such as /ns/*/sa";
		return -1;
	}
	return 0;
}

static int
parse_dns(const char *s, const char **why)
{
	size_t len = strlen(s);

	if (len == 0 || len > 253) {
		*why = "dns: pattern must be a host name such as *.example.com";
		return -1;
	}
	for (const char *p = s; *p; p++) {
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '.' && *p != '*') {
			*why = "dns: pattern may hold only letters, digits, '-', '.' and '*'";
			return -1;
		}
	}
	if (s[0] == '.' || s[len - 1] == '.' || strstr(s, "..") != NULL) {
		*why = "dns: empty label in pattern";
		return -1;
	}
	if (!stars_are_whole(s, len, '.')) {
		*why = "dns: '*' must be a whole label, such as *.example.com";
		return -1;
	}
	return 0;
}

int
peer_pattern_parse(const char *s, struct peer_pattern *p, const char **why)
{
	const char *colon = strchr(s, ':');
	const char *v;
	size_t klen;

	memset(p, 0, sizeof(*p));
	if (colon == NULL) {
		*why = "peer pattern needs a kind: uri:, dns:, cn: or ip:";
		return -1;
	}
	klen = (size_t)(colon - s);
	v = colon + 1;
	if (klen == 3 && strncasecmp(s, "uri", 3) == 0)
		p->kind = PEER_URI;
	else if (klen == 3 && strncasecmp(s, "dns", 3) == 0)
		p->kind = PEER_DNS;
	else if (klen == 2 && strncasecmp(s, "cn", 2) == 0)
		p->kind = PEER_CN;
	else if (klen == 2 && strncasecmp(s, "ip", 2) == 0)
		p->kind = PEER_IP;
	else {
		*why = "unknown peer pattern kind (use uri:, dns:, cn: or ip:)";
		return -1;
	}
	if (*v == '\0') {
		*why = "empty peer pattern";
		return -1;
	}
	if (strlen(v) >= sizeof(p->text)) {
		*why = "peer pattern too long";
		return -1;
	}
	switch (p->kind) {
	case PEER_URI:
		if (parse_uri(v, why) == -1)
			return -1;
		break;
	case PEER_DNS:
		if (parse_dns(v, why) == -1)
			return -1;
		break;
	case PEER_CN:
		break;
	case PEER_IP:
		if (parse_cidr(v, &p->net, why) == -1)
			return -1;
		break;
	}
	strcpy(p->text, v);
	return 0;
}

bool
peer_pattern_match(const struct peer_pattern *p, enum peer_kind kind,
    const void *value, size_t len)
{
	const char *v = value;
	size_t plen, pre;

	if (p->kind != kind)
		return false;
	switch (kind) {
	case PEER_IP:
		return cidr_match_bytes(&p->net, value, len);
	case PEER_CN:
		return strlen(p->text) == len && memcmp(p->text, v, len) == 0;
	case PEER_DNS:
		/* One trailing dot names the same host (absolute form). */
		if (len > 0 && v[len - 1] == '.')
			len--;
		if (memchr(v, '\0', len) != NULL)
			return false;
		return match_tokens(p->text, strlen(p->text), v, len, '.', true);
	case PEER_URI:
		plen = strlen(p->text);
		pre = uri_prefix_len(p->text, plen);
		if (memchr(v, '\0', len) != NULL || len < pre ||
		    uri_prefix_len(v, len) != pre ||
		    strncasecmp(p->text, v, pre) != 0)
			return false;
		return match_tokens(p->text + pre, plen - pre, v + pre, len - pre,
		    '/', false);
	}
	return false;
}

void
peer_pattern_format(const struct peer_pattern *p, char *buf, size_t len)
{
	snprintf(buf, len, "%s:%s", kind_names[p->kind], p->text);
}
