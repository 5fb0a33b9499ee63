/*
 * utf8.c: UTF-8 decoding with U+FFFD for ill-formed input (utf8.h).
 */
#include "proxy/utf8.h"

size_t
utf8_next(const unsigned char *s, size_t len, int32_t *cp)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xbf;
	size_t need, i;
	int32_t v;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		need = 1;
		v = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		need = 2;
		v = c & 0x0f;
		if (c == 0xe0)
			lo = 0xa0;	/* below: overlong */
		else if (c == 0xed)
			hi = 0x9f;	/* above: UTF-16 surrogates */
	} else if (c >= 0xf0 && c <= 0xf4) {
		need = 3;
		v = c & 0x07;
		if (c == 0xf0)
			lo = 0x90;	/* below: overlong */
		else if (c == 0xf4)
			hi = 0x8f;	/* above: beyond U+10FFFF */
	} else {
		/* Continuation bytes, C0/C1 (always overlong), F5..FF. */
		*cp = -1;
		return 1;
	}
	for (i = 1; i <= need; i++) {
		if (i >= len || s[i] < lo || s[i] > hi) {
			*cp = -1;
			return i;
		}
		v = (v << 6) | (s[i] & 0x3f);
		lo = 0x80;
		hi = 0xbf;
	}
	*cp = v;
	return need + 1;
}

bool
utf8_escaped(int32_t cp)
{
	return cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f) ||
	    cp == 0x200e || cp == 0x200f || (cp >= 0x2028 && cp <= 0x202e) ||
	    (cp >= 0x2066 && cp <= 0x2069);
}

size_t
utf8_escape_next(const unsigned char *s, size_t len, char esc[UTF8_ESC_MAX],
    const char **out, size_t *outlen)
{
	static const char hex[] = "0123456789abcdef";
	int32_t cp;
	size_t n = utf8_next(s, len, &cp);

	*outlen = 2;
	switch (cp) {
	case -1:	*out = "\\ufffd"; *outlen = 6; break;
	case '"':	*out = "\\\""; break;
	case '\\':	*out = "\\\\"; break;
	case '\b':	*out = "\\b"; break;
	case '\f':	*out = "\\f"; break;
	case '\n':	*out = "\\n"; break;
	case '\r':	*out = "\\r"; break;
	case '\t':	*out = "\\t"; break;
	default:
		if (utf8_escaped(cp)) {
			esc[0] = '\\';
			esc[1] = 'u';
			esc[2] = hex[(cp >> 12) & 15];
			esc[3] = hex[(cp >> 8) & 15];
			esc[4] = hex[(cp >> 4) & 15];
			esc[5] = hex[cp & 15];
			esc[6] = '\0';
			*out = esc;
			*outlen = 6;
		} else {
			*out = (const char *)s;
			*outlen = n;
		}
	}
	return n;
}
