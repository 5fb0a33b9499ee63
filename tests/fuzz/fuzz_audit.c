/*
 * fuzz_audit.c: the audit record formatter (audit_format) and the buffer
 * in front of a sink (audit_write, audit_flush), on records whose strings
 * are any bytes.
 *
 * Checked against proxy/audit.h: the line fits the buffer, ends in its only
 * newline, is strict UTF-8 and one flat JSON object; keys in the documented
 * order, each present exactly when known; no raw control, C1, line
 * separator or bidi character; every string decodes to what Python's
 * decode("utf-8", "replace") makes of its input, or, shortened, to a prefix
 * of it from at most AUDIT_STR_MAX input bytes followed by U+2026, and then
 * "truncated":true; schema_version is AUDIT_SCHEMA_VERSION; counts and conn
 * are the record's; nothing is refused
 * with cap >= AUDIT_BUF_MIN.  Through a buffer on /dev/null the record is
 * one line written and none dropped.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "proxy/audit.h"
#include "tests/fuzz/fuzz.h"

#define NSTR 17
static const char *const order[] = { "ts", "schema_version", "event", "conn",
	"conn_id", "host", "route", "peer_addr", "peer_id", "peer_serial",
	"peer_fingerprint_sha256", "peer_issuer", "sni", "target", "upstream",
	"tls_version", "cipher", "bytes_in", "bytes_out", "duration_ms", "reason",
	"detail", "path", "record_layer", "truncated" };
#define NORDER (sizeof(order) / sizeof(order[0]))
/* Places in order[]: the numbers', and the string fields'. */
enum { K_TS, K_VERSION, K_EVENT, K_CONN, K_BYTES_IN = 17, K_BYTES_OUT,
	K_DURATION };
static const int str_key[NSTR] = { 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
	20, 21, 22, 23 };
/* peer_id's place among the strings: any bytes, with a length. */
#define F_PEER_ID 4

static int devnull = -1;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
	FUZZ_SETUP(devnull != -1, "open /dev/null");
	return 0;
}

/* ---- a reference: UTF-8 with U+FFFD for each maximal ill-formed
 * subsequence (Unicode 3.9, Table 3-7; what Python's "replace" does). */

struct ustr {
	int32_t *cp;
	size_t *end;		/* input bytes used up to and including cp[i] */
	size_t n;
};

/* One character of s[0..len), len >= 1: its length, *cp (U+FFFD for a
 * maximal ill-formed subsequence). */
static size_t
ref_next(const uint8_t *s, size_t len, int32_t *cp)
{
	uint8_t c = s[0], lo = 0x80, hi = 0xbf;
	size_t need = 0, j;
	int32_t v;

	if (c < 0x80) {
		*cp = c;
		return 1;
	} else if (c >= 0xc2 && c <= 0xdf) {
		need = 1, v = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		need = 2, v = c & 0x0f;
		if (c == 0xe0)
			lo = 0xa0;
		if (c == 0xed)
			hi = 0x9f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		need = 3, v = c & 0x07;
		if (c == 0xf0)
			lo = 0x90;
		if (c == 0xf4)
			hi = 0x8f;
	} else {
		*cp = 0xfffd;
		return 1;
	}
	for (j = 1; j <= need; j++) {
		if (j >= len || s[j] < lo || s[j] > hi) {
			*cp = 0xfffd;
			return j;
		}
		v = v << 6 | (s[j] & 0x3f);
		lo = 0x80, hi = 0xbf;
	}
	*cp = v;
	return need + 1;
}

static void
ref_decode(const uint8_t *s, size_t len, struct ustr *u)
{
	size_t i = 0;

	u->cp = malloc((len + 1) * sizeof(*u->cp));
	u->end = malloc((len + 1) * sizeof(*u->end));
	FUZZ_SETUP(u->cp != NULL && u->end != NULL, "oom");
	u->n = 0;
	while (i < len) {
		i += ref_next(s + i, len - i, &u->cp[u->n]);
		u->end[u->n++] = i;
	}
}

static void
ustr_free(struct ustr *u)
{
	free(u->cp);
	free(u->end);
}

/* ---- a strict reader of the line ---- */

struct jp {
	const char *p, *end;
};

static bool
raw_forbidden(int32_t cp)
{
	return cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f) || cp == 0x200e ||
	    cp == 0x200f || (cp >= 0x2028 && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

/* One strictly well-formed UTF-8 character from the line. */
static int32_t
line_char(struct jp *j)
{
	int32_t cp;
	size_t n = ref_next((const uint8_t *)j->p, (size_t)(j->end - j->p), &cp);

	FUZZ_CHECK(cp != 0xfffd || (n == 3 && memcmp(j->p, "\xef\xbf\xbd", 3) == 0),
	    "ill-formed UTF-8 in the line at byte 0x%02x", (uint8_t)*j->p);
	j->p += n;
	return cp;
}

static int
hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 :
	    c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* A JSON string at j->p, decoded into out (code points). */
static void
json_str(struct jp *j, struct ustr *out)
{
	size_t cap = (size_t)(j->end - j->p) + 1;

	out->cp = malloc(cap * sizeof(*out->cp));
	out->end = NULL;
	out->n = 0;
	FUZZ_SETUP(out->cp != NULL, "oom");
	FUZZ_CHECK(j->p < j->end && *j->p == '"', "string expected");
	j->p++;
	for (;;) {
		int32_t cp;
		FUZZ_CHECK(j->p < j->end, "unterminated string");
		if (*j->p == '"') {
			j->p++;
			return;
		}
		if (*j->p == '\\') {
			FUZZ_CHECK(j->end - j->p >= 2, "lone backslash");
			switch (j->p[1]) {
			case '"': cp = '"'; break;
			case '\\': cp = '\\'; break;
			case '/': cp = '/'; break;
			case 'b': cp = '\b'; break;
			case 'f': cp = '\f'; break;
			case 'n': cp = '\n'; break;
			case 'r': cp = '\r'; break;
			case 't': cp = '\t'; break;
			case 'u':
				FUZZ_CHECK(j->end - j->p >= 6, "short \\u");
				cp = 0;
				for (int k = 2; k < 6; k++) {
					int h = hexval(j->p[k]);
					FUZZ_CHECK(h >= 0, "bad \\u digit");
					cp = cp << 4 | h;
				}
				FUZZ_CHECK(cp < 0xd800 || cp > 0xdfff, "surrogate escape");
				j->p += 4;
				break;
			default:
				FUZZ_CHECK(false, "bad escape \\%c", j->p[1]);
			}
			j->p += 2;
		} else {
			cp = line_char(j);
			FUZZ_CHECK(!raw_forbidden(cp), "raw U+%04" PRIX32 " in a string", cp);
		}
		out->cp[out->n++] = cp;
	}
}

static uint64_t
json_uint(struct jp *j)
{
	uint64_t v = 0;
	const char *start = j->p;

	while (j->p < j->end && *j->p >= '0' && *j->p <= '9') {
		FUZZ_CHECK(v <= (UINT64_MAX - (uint64_t)(*j->p - '0')) / 10, "number overflow");
		v = v * 10 + (uint64_t)(*j->p - '0');
		j->p++;
	}
	FUZZ_CHECK(j->p > start, "number expected");
	FUZZ_CHECK(j->p - start == 1 || *start != '0', "leading zero");
	return v;
}

static bool
ustr_is_ascii(const struct ustr *u, const char *s)
{
	size_t n = strlen(s);

	if (u->n != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (u->cp[i] != (unsigned char)s[i])
			return false;
	return true;
}

/* The decoded value v of a string whose input was in[0..len). */
static bool
check_value(const struct ustr *v, const uint8_t *in, size_t len, size_t cap,
    const char *key)
{
	struct ustr ref;
	size_t k = v->n;
	bool shortened = false;

	ref_decode(in, len, &ref);
	if (v->n != ref.n || memcmp(v->cp, ref.cp, ref.n * sizeof(*ref.cp)) != 0) {
		shortened = true;
		if (k > 0 && v->cp[k - 1] == 0x2026)
			k--;
		else
			FUZZ_CHECK(cap < AUDIT_BUF_MIN, "%s: shortened without U+2026", key);
		FUZZ_CHECK(k < ref.n && memcmp(v->cp, ref.cp, k * sizeof(*ref.cp)) == 0,
		    "%s: not a shorter prefix of its input (%zu of %zu characters)", key,
		    k, ref.n);
		FUZZ_CHECK(k == 0 || ref.end[k - 1] <= AUDIT_STR_MAX,
		    "%s: %zu input bytes used, more than AUDIT_STR_MAX", key, ref.end[k - 1]);
	} else {
		FUZZ_CHECK(len <= AUDIT_STR_MAX, "%s: %zu bytes kept whole", key, len);
	}
	ustr_free(&ref);
	return shortened;
}

struct input {
	struct audit_record r;
	const uint8_t *raw[NSTR];	/* each string's input bytes */
	size_t len[NSTR];
	char *owned[NSTR];
	struct timespec ts;
	size_t cap;
};

static void
check_line(const struct input *in, const char *line, size_t n, bool truncated)
{
	struct jp j = { line, line + n };
	size_t next = 0;
	bool seen[NORDER] = { false }, any_short = false;
	const char *s[NSTR] = { in->r.conn_id, in->r.host, in->r.route,
	    in->r.peer_addr, in->r.peer_id, in->r.peer_serial, in->r.peer_fingerprint,
	    in->r.peer_issuer, in->r.sni, in->r.target, in->r.upstream,
	    in->r.tls_version, in->r.cipher, in->r.reason, in->r.detail, in->r.path,
	    in->r.record_layer };

	FUZZ_CHECK(n >= 2 && line[n - 1] == '\n' && memchr(line, '\n', n - 1) == NULL,
	    "not one line");
	j.end--;
	FUZZ_CHECK(*j.p == '{', "not an object");
	j.p++;
	for (;;) {
		struct ustr key, val;
		size_t k;

		json_str(&j, &key);
		for (k = next; k < NORDER; k++)
			if (ustr_is_ascii(&key, order[k]))
				break;
		FUZZ_CHECK(k < NORDER, "unknown, repeated or misplaced key");
		next = k + 1;
		seen[k] = true;
		FUZZ_CHECK(j.p < j.end && *j.p == ':', "':' expected");
		j.p++;
		if (k == K_VERSION || k == K_CONN || (k >= K_BYTES_IN && k <= K_DURATION)) {
			uint64_t v = json_uint(&j), want = k == K_VERSION ?
			    AUDIT_SCHEMA_VERSION : k == K_CONN ? in->r.conn :
			    k == K_BYTES_IN ? in->r.bytes_in : k == K_BYTES_OUT ?
			    in->r.bytes_out : in->r.duration_ms;
			FUZZ_CHECK(v == want, "%s: %" PRIu64 ", not %" PRIu64, order[k], v, want);
		} else if (k == NORDER - 1) {
			FUZZ_CHECK(j.end - j.p >= 4 && memcmp(j.p, "true", 4) == 0,
			    "truncated: not true");
			j.p += 4;
		} else {
			json_str(&j, &val);
			if (k == K_TS) {
				FUZZ_CHECK(val.n == 24 && val.cp[4] == '-' && val.cp[10] == 'T' &&
				    val.cp[19] == '.' && val.cp[23] == 'Z', "ts form");
			} else if (k == K_EVENT) {
				FUZZ_CHECK(ustr_is_ascii(&val, audit_event_name(in->r.event)),
				    "event name");
			} else {
				for (int f = 0; f < NSTR; f++)
					if (str_key[f] == (int)k)
						any_short |= check_value(&val, in->raw[f],
						    in->len[f], in->cap, order[k]);
			}
			free(val.cp);
		}
		free(key.cp);
		FUZZ_CHECK(j.p < j.end, "unterminated object");
		if (*j.p == '}')
			break;
		FUZZ_CHECK(*j.p == ',', "',' expected");
		j.p++;
	}
	FUZZ_CHECK(j.p + 1 == j.end, "bytes after the object");
	FUZZ_CHECK(seen[K_TS] && seen[K_VERSION] && seen[K_EVENT],
	    "ts, schema_version or event missing");
	FUZZ_CHECK(seen[K_CONN] == (in->r.conn != 0), "conn present: %d", seen[K_CONN]);
	FUZZ_CHECK(seen[K_BYTES_IN] == in->r.has_counts &&
	    seen[K_BYTES_OUT] == in->r.has_counts &&
	    seen[K_DURATION] == in->r.has_counts, "counts present");
	for (int f = 0; f < NSTR; f++)
		FUZZ_CHECK(seen[str_key[f]] == (s[f] != NULL), "%s present: %d",
		    order[str_key[f]], seen[str_key[f]]);
	FUZZ_CHECK(seen[NORDER - 1] == truncated, "truncated key %d, flag %d",
	    seen[NORDER - 1], truncated);
	FUZZ_CHECK(!any_short || truncated, "a string was shortened, not flagged");
}

static uint64_t
take_u64(struct fuzz_in *in)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | fuzz_u8(in);
	return v;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in fi = { data, size };
	struct input in;
	uint16_t flags = fuzz_u16(&fi);
	uint32_t strs = flags & 0x3ffu;		/* which strings are set */
	const char **dst[NSTR];
	char *line;
	size_t n;
	bool truncated = false;

	memset(&in, 0, sizeof(in));
	dst[0] = &in.r.conn_id, dst[1] = &in.r.host, dst[2] = &in.r.route;
	dst[3] = &in.r.peer_addr, dst[4] = &in.r.peer_id, dst[5] = &in.r.peer_serial;
	dst[6] = &in.r.peer_fingerprint, dst[7] = &in.r.peer_issuer;
	dst[8] = &in.r.sni, dst[9] = &in.r.target, dst[10] = &in.r.upstream;
	dst[11] = &in.r.tls_version, dst[12] = &in.r.cipher, dst[13] = &in.r.reason;
	dst[14] = &in.r.detail, dst[15] = &in.r.path, dst[16] = &in.r.record_layer;
	strs |= (uint32_t)(fuzz_u16(&fi) & 0x7fu) << 10;
	in.r.event = (enum audit_event)((flags >> 12 & 7) % 7);
	in.r.has_counts = flags & (1u << 10);
	in.cap = fuzz_u16(&fi) % 6000;
	in.ts.tv_sec = (time_t)take_u64(&fi);
	in.ts.tv_nsec = (long)(fuzz_u16(&fi) * 16000u % 1000000000u);
	if (flags & (1u << 11))
		in.r.conn = take_u64(&fi);
	if (in.r.has_counts) {
		in.r.bytes_in = take_u64(&fi);
		in.r.bytes_out = take_u64(&fi);
		in.r.duration_ms = take_u64(&fi);
	}
	for (int f = 0; f < NSTR; f++) {
		size_t got, len;
		const uint8_t *p;
		if (!(strs & (1u << f)))
			continue;
		len = fuzz_u16(&fi) % 2100;
		p = fuzz_bytes(&fi, len, &got);
		if (f == F_PEER_ID) {
			/* peer_id: any bytes, NULs included, not terminated. */
			in.owned[f] = malloc(got > 0 ? got : 1);
			FUZZ_SETUP(in.owned[f] != NULL, "oom");
			if (got > 0)
				memcpy(in.owned[f], p, got);
			in.r.peer_id_len = got;
			in.len[f] = got;
		} else {
			in.len[f] = strnlen((const char *)p, got);
			in.owned[f] = fuzz_strndup(p, in.len[f]);
		}
		in.raw[f] = (const uint8_t *)in.owned[f];
		*dst[f] = in.owned[f];
	}

	line = malloc(in.cap > 0 ? in.cap : 1);
	FUZZ_SETUP(line != NULL, "oom");
	n = audit_format(line, in.cap, &in.r, &in.ts, &truncated);
	FUZZ_CHECK(n <= in.cap, "%zu bytes in a %zu-byte buffer", n, in.cap);
	FUZZ_CHECK(n > 0 || in.cap < AUDIT_BUF_MIN, "refused with cap %zu", in.cap);
	if (n > 0)
		check_line(&in, line, n, truncated);
	free(line);

	/* Through a worker's buffer, into /dev/null. */
	if (flags & (1u << 15)) {
		struct audit_sink sink = { .fd = devnull, .path = NULL };
		struct audit_buf b;
		size_t cap = AUDIT_BUF_MIN + in.cap;
		FUZZ_SETUP(audit_buf_init(&b, &sink, cap) == 0, "audit_buf_init");
		audit_write(&b, &in.r);
		audit_flush(&b);
		FUZZ_CHECK(audit_buf_written(&b) == 1 && audit_buf_dropped(&b) == 0,
		    "written %" PRIu64 ", dropped %" PRIu64, audit_buf_written(&b),
		    audit_buf_dropped(&b));
		audit_buf_free(&b);
		FUZZ_CHECK(audit_buf_dropped(&b) == 0, "dropped at free");
	}
	for (int f = 0; f < NSTR; f++)
		free(in.owned[f]);
	return 0;
}
