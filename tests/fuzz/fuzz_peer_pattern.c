/*
 * fuzz_peer_pattern.c: identity patterns, parsed and matched.
 *
 * Input: one byte picking the value's kind and a format buffer size, then
 * the pattern (up to the first NUL) and the value (the rest: raw bytes, not
 * NUL-terminated, in a buffer exactly their size, as tls/ passes SANs).
 * Checked: a failure says why; what peer_pattern_format() writes parses
 * again to the same pattern, and fits any buffer size; a pattern without
 * '*' matches its own text (an IP prefix its network address), and the
 * trailing dot of an absolute DNS name; a kind mismatch never matches.
 */
#include <string.h>
#include <sys/socket.h>

#include "config/peer_pattern.h"
#include "tests/fuzz/fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct peer_pattern p, q;
	const char *why = NULL;
	const uint8_t *nul;
	enum peer_kind kind;
	size_t plen, vlen, fmt_len;
	char *pat, *val, fmt[PEER_PATTERN_MAX + 16], *small;
	int rc;

	if (size < 1)
		return 0;
	kind = (enum peer_kind)(data[0] & 3);
	fmt_len = data[0] >> 2;
	data++;
	size--;
	nul = memchr(data, '\0', size);
	plen = nul != NULL ? (size_t)(nul - data) : size;
	vlen = nul != NULL ? size - plen - 1 : 0;
	pat = fuzz_strndup(data, plen);
	val = malloc(vlen > 0 ? vlen : 1);
	FUZZ_SETUP(val != NULL, "oom");
	if (vlen > 0)
		memcpy(val, nul + 1, vlen);

	rc = peer_pattern_parse(pat, &p, &why);
	FUZZ_CHECK(rc == 0 || (rc == -1 && why != NULL && why[0] != '\0'),
	    "rc %d without a message", rc);
	if (rc == 0) {
		FUZZ_CHECK(memchr(p.text, '\0', sizeof(p.text)) != NULL, "unterminated");
		peer_pattern_format(&p, fmt, sizeof(fmt));
		why = NULL;
		FUZZ_CHECK(peer_pattern_parse(fmt, &q, &why) == 0, "formatted '%s' of "
		    "'%s' does not parse: %s", fmt, pat, why);
		FUZZ_CHECK(p.kind == q.kind && strcmp(p.text, q.text) == 0 &&
		    (p.kind != PEER_IP || (p.net.family == q.net.family &&
		    p.net.prefix == q.net.prefix && memcmp(p.net.addr, q.net.addr, 16) == 0)),
		    "'%s' and '%s' differ", pat, fmt);
		small = malloc(fmt_len > 0 ? fmt_len : 1);
		FUZZ_SETUP(small != NULL, "oom");
		peer_pattern_format(&p, small, fmt_len);
		FUZZ_CHECK(fmt_len == 0 || strncmp(small, fmt, fmt_len - 1) == 0,
		    "a short format is not a prefix");
		free(small);

		/* The value, as each kind. */
		for (int k = PEER_URI; k <= PEER_IP; k++) {
			bool m = peer_pattern_match(&p, (enum peer_kind)k, val, vlen);
			FUZZ_CHECK(!m || k == (int)p.kind, "kind %d matched a kind %d "
			    "pattern", k, (int)p.kind);
		}
		(void)peer_pattern_match(&p, kind, val, vlen);

		/* Itself. */
		if (p.kind == PEER_IP) {
			size_t alen = p.net.family == AF_INET ? 4 : 16;
			FUZZ_CHECK(peer_pattern_match(&p, PEER_IP, p.net.addr, alen),
			    "'%s' misses its own network address", pat);
		} else if (strchr(p.text, '*') == NULL) {
			size_t tlen = strlen(p.text);
			char *self = malloc(tlen + 1);
			FUZZ_SETUP(self != NULL, "oom");
			memcpy(self, p.text, tlen);
			FUZZ_CHECK(peer_pattern_match(&p, p.kind, self, tlen),
			    "'%s' does not match its own text", pat);
			if (p.kind == PEER_DNS) {
				self[tlen] = '.';
				FUZZ_CHECK(peer_pattern_match(&p, p.kind, self, tlen + 1),
				    "'%s' does not match its absolute form", pat);
			}
			free(self);
		}
	}
	free(pat);
	free(val);
	return 0;
}
