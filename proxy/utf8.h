/*
 * utf8.h: reading peer-supplied bytes as UTF-8, shared by the two writers
 * of text a peer can reach: the audit trail (JSON) and the operator log
 * (logfmt).  Both pass well-formed UTF-8 through, turn each ill-formed
 * subsequence into one U+FFFD and escape the characters below, so the same
 * bytes read the same in both.
 */
#ifndef MTLSD_PROXY_UTF8_H
#define MTLSD_PROXY_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Decodes the character starting s[0..len), len >= 1, per RFC 3629.
 * Returns its length and sets *cp; for ill-formed input sets *cp = -1 and
 * returns the length of the maximal subpart (at least 1), which becomes one
 * U+FFFD: the Unicode practice, and what Python's decode("utf-8",
 * "replace") does, so readers agree with us.
 */
size_t utf8_next(const unsigned char *s, size_t len, int32_t *cp);

/*
 * Whether cp must never be written raw: C0 and DEL, the C1 controls (a
 * terminal may act on U+009B), U+2028/9 (line breaks to JavaScript and
 * splitlines()), and the bidirectional controls, which would let a peer
 * make its name read differently from what it is.
 */
bool utf8_escaped(int32_t cp);

/* Room utf8_escape_next() needs for an escape: "\\uXXXX" and a NUL. */
#define UTF8_ESC_MAX	7

/*
 * The next character of s[0..len), len >= 1, as it goes inside a JSON
 * string (logfmt's quoted values use the same escapes): sets *out to the
 * bytes to write, the character itself or its escape built in esc, and
 * *outlen to their length.  Returns the input bytes consumed.
 */
size_t utf8_escape_next(const unsigned char *s, size_t len,
    char esc[UTF8_ESC_MAX], const char **out, size_t *outlen);

#endif /* MTLSD_PROXY_UTF8_H */
