/*
 * test_audit.c: proxy/audit.c, the JSON-lines audit trail.
 *
 * The heart is that every line is valid JSON whatever bytes a peer puts in
 * its certificate, so besides exact expected lines every file the tests
 * write is read back by Python's json module (the checker below, written
 * into each test's temp dir): strict UTF-8, one object per line, keys in the
 * documented order, no raw control characters, and each peer_id decoding to
 * exactly what Python's bytes.decode("utf-8", "replace") makes of the input.
 * Then the buffer: nothing written before a flush, flushes when full,
 * EAGAIN and short writes kept, hard errors counted, logrotate's rename and
 * reopen, and two threads sharing one sink.
 *
 * The formatting cases are tables (tests/unit/table.h): line_rows (a record
 * and its exact line), peer_rows (peer_id bytes and their escaped text),
 * cap_rows (an over-long string and what is kept of it), schema_rows (a
 * record the schema must refuse or take); a new case is one row.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proxy/audit.h"
#include "tests/unit/table.h"

/* 2026-11-29T07:24:31.955Z */
static const struct timespec fixed_ts = { 1795937071, 955000000 };
#define TS_PREFIX "{\"ts\":\"2026-11-29T07:24:31.955Z\",\"schema_version\":1"
#define ELLIPSIS "\xe2\x80\xa6"

/*
 * The checker.  argv: FILE EXPECTED_LINES [HEXFILE].  HEXFILE has one line a
 * record: the peer_id's input bytes in hex, whose replace-decoding must
 * equal the decoded peer_id; "P:" before the hex means the value was
 * shortened: it ends in U+2026 and what precedes is a prefix of that.
 */
static const char checker[] =
"import json, sys\n"
"ORDER = ['ts','schema_version','event','conn','conn_id','host','route',\n"
"         'peer_addr','peer_id','peer_serial','peer_fingerprint_sha256',\n"
"         'peer_issuer','sni','target','upstream','tls_version','cipher',\n"
"         'bytes_in','bytes_out','duration_ms','reason','detail','path',\n"
"         'record_layer','truncated']\n"
"def raw_forbidden(c):\n"
"    o = ord(c)\n"
"    return (o < 0x20 or o == 0x7f or 0x80 <= o <= 0x9f or o in (0x200e, 0x200f)\n"
"            or 0x2028 <= o <= 0x202e or 0x2066 <= o <= 0x2069)\n"
"data = open(sys.argv[1], 'rb').read()\n"
"text = data.decode('utf-8')\n"
"assert text == '' or text.endswith('\\n'), 'last line unterminated'\n"
"lines = text.split('\\n')[:-1]\n"
"hexes = None\n"
"if len(sys.argv) > 3:\n"
"    hexes = open(sys.argv[3]).read().split('\\n')[:-1]\n"
"    assert len(hexes) == len(lines), '%d lines, %d expectations' % (len(lines), len(hexes))\n"
"for i, line in enumerate(lines):\n"
"    for c in line:\n"
"        assert not raw_forbidden(c), 'line %d: raw U+%04X' % (i + 1, ord(c))\n"
"    obj = json.loads(line)\n"
"    assert isinstance(obj, dict)\n"
"    keys = list(obj)\n"
"    assert keys == [k for k in ORDER if k in obj], 'line %d: order %r' % (i + 1, keys)\n"
"    assert keys[:3] == ['ts', 'schema_version', 'event'], 'line %d: starts %r' % (i + 1, keys)\n"
"    assert obj['schema_version'] == 1\n"
"    for k in ('conn', 'bytes_in', 'bytes_out', 'duration_ms'):\n"
"        assert k not in obj or type(obj[k]) is int, k\n"
"    if hexes is not None:\n"
"        h = hexes[i]\n"
"        if h.startswith('P:'):\n"
"            want = bytes.fromhex(h[2:]).decode('utf-8', 'replace')\n"
"            got = obj['peer_id']\n"
"            assert got.endswith('\\u2026') and want.startswith(got[:-1]), 'line %d: %r' % (i + 1, got)\n"
"            assert obj.get('truncated') is True\n"
"        else:\n"
"            want = bytes.fromhex(h).decode('utf-8', 'replace')\n"
"            assert obj['peer_id'] == want, 'line %d: %r != %r' % (i + 1, obj['peer_id'], want)\n"
"n = int(sys.argv[2])\n"
"if n >= 0 and len(lines) != n:\n"
"    sys.exit('%d lines, expected %d' % (len(lines), n))\n";

struct fx {
	char dir[64];
	char path[128];		/* dir/audit.log */
	char hexpath[128];	/* dir/expect.hex */
	char checker[128];	/* dir/check.py */
};

static int
setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	FILE *f;

	if (fx == NULL)
		return -1;
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/test_audit.XXXXXX");
	if (mkdtemp(fx->dir) == NULL)
		return -1;
	snprintf(fx->path, sizeof(fx->path), "%s/audit.log", fx->dir);
	snprintf(fx->hexpath, sizeof(fx->hexpath), "%s/expect.hex", fx->dir);
	snprintf(fx->checker, sizeof(fx->checker), "%s/check.py", fx->dir);
	if ((f = fopen(fx->checker, "w")) == NULL)
		return -1;
	fputs(checker, f);
	fclose(f);
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *fx = *state;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx->dir);
	if (system(cmd) != 0)
		return -1;
	free(fx);
	return 0;
}

/* The whole file, NUL-terminated; *len its size.  Fails the test if unreadable. */
static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	if (f == NULL)
		fail_msg("open %s: %s", path, strerror(errno));
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	if (len != NULL)
		*len = (size_t)n;
	return buf;
}

static size_t
count_lines(const char *path)
{
	size_t len, n = 0;
	char *buf = slurp(path, &len);

	for (size_t i = 0; i < len; i++)
		n += buf[i] == '\n';
	free(buf);
	return n;
}

static off_t
file_size(const char *path)
{
	struct stat st;

	if (stat(path, &st) == -1)
		return -1;
	return st.st_size;
}

/* Runs the Python checker on file; expect < 0: any number of lines. */
static void
check_json(const struct fx *fx, const char *file, long expect, bool with_hex)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "python3 '%s' '%s' %ld %s%s%s", fx->checker,
	    file, expect, with_hex ? "'" : "", with_hex ? fx->hexpath : "",
	    with_hex ? "'" : "");
	if (system(cmd) != 0)
		fail_msg("JSON check failed: %s", cmd);
}

static void
hex_line(FILE *f, const char *prefix, const char *s, size_t len)
{
	fputs(prefix, f);
	for (size_t i = 0; i < len; i++)
		fprintf(f, "%02x", (unsigned char)s[i]);
	fputc('\n', f);
}

/* A fully populated record. */
/* What the tests put in peer_id: a literal and its length, NULs and all. */
#define PEER_ID(lit)	.peer_id = (lit), .peer_id_len = sizeof(lit) - 1

/* A fully populated record, as an initializer and as a value. */
#define FULL_FIELDS \
	.event = AUDIT_CLOSE, .conn = 42, .route = "api", \
	.peer_addr = "10.0.0.7:51234", PEER_ID("spiffe://train.example/worker/7"), \
	.tls_version = "TLSv1.3", .cipher = "TLS1-3-AES-128-GCM-SHA256", \
	.has_counts = true, .bytes_in = 1200, .bytes_out = 5600, \
	.duration_ms = 3021, .reason = "eof", .detail = "peer closed", .path = "ktls"

static struct audit_record
full_record(void)
{
	return (struct audit_record){ FULL_FIELDS };
}

#define SERIAL "4d2f0c19a8b3e7016c55"
#define SHA256 "9b1c6a3e0f2d4b5a7c8e9f0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e"

/* A record with every field the schema knows. */
#define EVERY_FIELDS \
	.event = AUDIT_CLOSE, .conn = 42, .conn_id = "5f0c9a1e2b3d4c6f-42", \
	.host = "node-a", .route = "mesh-out", .peer_addr = "10.77.0.1:40000", \
	PEER_ID("spiffe://mesh/node/a"), .peer_serial = SERIAL, \
	.peer_fingerprint = SHA256, .peer_issuer = "CN=mesh CA, O=example", \
	.sni = "10.77.0.2", .target = "10.77.0.2:5000", \
	.upstream = "10.77.0.2:15001", .tls_version = "TLSv1.3", \
	.cipher = "TLS_AES_128_GCM_SHA256", .has_counts = true, \
	.bytes_in = 10, .bytes_out = 20, .duration_ms = 30, .reason = "eof", \
	.path = "userspace", .record_layer = "libgcrypt"

static struct audit_record
every_field(void)
{
	return (struct audit_record){ EVERY_FIELDS };
}

/* audit_format()s r at fixed_ts: exactly want, and nothing cut. */
static void
expect_line(const struct audit_record *r, const char *want)
{
	char line[16384];
	bool cut = true;
	size_t n = audit_format(line, sizeof(line), r, &fixed_ts, &cut);

	line[n] = '\0';
	row_string_equal(line, want);
	row_int_equal(n, strlen(want));
	row_false(cut);
}

/* Opens a sink on path and a buffer of cap bytes in front of it. */
static void
sink_open(struct audit_sink *s, struct audit_buf *b, const char *path, size_t cap)
{
	assert_int_equal(audit_open(s, path), 0);
	assert_int_equal(audit_buf_init(b, s, cap), 0);
}

/* Frees the buffer (a last flush) and closes the sink. */
static void
sink_close(struct audit_sink *s, struct audit_buf *b)
{
	audit_buf_free(b);
	audit_close(s);
}

/* The buffer's three counters. */
static void
expect_counts(const struct audit_buf *b, uint64_t written, uint64_t dropped,
    uint64_t truncated)
{
	assert_int_equal(audit_buf_written(b), written);
	assert_int_equal(audit_buf_dropped(b), dropped);
	assert_int_equal(audit_buf_truncated(b), truncated);
}

/* A record and the one line audit_format makes of it. */
struct line_row {
	const char *name;
	struct audit_record r;
	const char *want;
};

#define LINE(name, want, ...)	{ name, { __VA_ARGS__ }, TS_PREFIX want "}\n" }

static const struct line_row line_rows[] = {
	LINE("line: every common field",
	    ",\"event\":\"close\",\"conn\":42,\"route\":\"api\","
	    "\"peer_addr\":\"10.0.0.7:51234\",\"peer_id\":\"spiffe://train.example/worker/7\","
	    "\"tls_version\":\"TLSv1.3\",\"cipher\":\"TLS1-3-AES-128-GCM-SHA256\","
	    "\"bytes_in\":1200,\"bytes_out\":5600,\"duration_ms\":3021,"
	    "\"reason\":\"eof\",\"detail\":\"peer closed\",\"path\":\"ktls\"",
	    FULL_FIELDS),
	/* Every field, in the schema's order. */
	LINE("line: every schema field",
	    ",\"event\":\"close\",\"conn\":42,"
	    "\"conn_id\":\"5f0c9a1e2b3d4c6f-42\",\"host\":\"node-a\","
	    "\"route\":\"mesh-out\",\"peer_addr\":\"10.77.0.1:40000\","
	    "\"peer_id\":\"spiffe://mesh/node/a\",\"peer_serial\":\"" SERIAL "\","
	    "\"peer_fingerprint_sha256\":\"" SHA256 "\","
	    "\"peer_issuer\":\"CN=mesh CA, O=example\",\"sni\":\"10.77.0.2\","
	    "\"target\":\"10.77.0.2:5000\",\"upstream\":\"10.77.0.2:15001\","
	    "\"tls_version\":\"TLSv1.3\",\"cipher\":\"TLS_AES_128_GCM_SHA256\","
	    "\"bytes_in\":10,\"bytes_out\":20,\"duration_ms\":30,\"reason\":\"eof\","
	    "\"path\":\"userspace\",\"record_layer\":\"libgcrypt\"",
	    EVERY_FIELDS),
	LINE("line: accept",
	    ",\"event\":\"accept\",\"conn\":7,\"route\":\"api\",\"peer_addr\":\"10.0.0.7:51234\"",
	    .event = AUDIT_ACCEPT, .conn = 7, .route = "api", .peer_addr = "10.0.0.7:51234"),
	LINE("line: handshake_ok",
	    ",\"event\":\"handshake_ok\",\"conn\":7,\"route\":\"api\","
	    "\"peer_addr\":\"10.0.0.7:51234\",\"peer_id\":\"spiffe://x/y\","
	    "\"tls_version\":\"TLSv1.3\",\"cipher\":\"TLS1-3-AES-256-GCM-SHA384\","
	    "\"path\":\"userspace\"",
	    .event = AUDIT_HANDSHAKE_OK, .conn = 7, .route = "api",
	    .peer_addr = "10.0.0.7:51234", PEER_ID("spiffe://x/y"),
	    .tls_version = "TLSv1.3", .cipher = "TLS1-3-AES-256-GCM-SHA384",
	    .path = "userspace"),
	LINE("line: handshake_fail",
	    ",\"event\":\"handshake_fail\",\"conn\":8,\"route\":\"api\","
	    "\"peer_addr\":\"10.0.0.8:4000\",\"reason\":\"bad_cert\","
	    "\"detail\":\"certificate expired\"",
	    .event = AUDIT_HANDSHAKE_FAIL, .conn = 8, .route = "api",
	    .peer_addr = "10.0.0.8:4000", .reason = "bad_cert",
	    .detail = "certificate expired"),
	LINE("line: denied",
	    ",\"event\":\"denied\",\"conn\":9,\"route\":\"api\","
	    "\"peer_addr\":\"10.0.0.9:4000\",\"peer_id\":\"cn:intruder\","
	    "\"reason\":\"peer_not_allowed\"",
	    .event = AUDIT_DENIED, .conn = 9, .route = "api",
	    .peer_addr = "10.0.0.9:4000", PEER_ID("cn:intruder"),
	    .reason = "peer_not_allowed"),
	/* No connection id: "conn" is left out, not null. */
	LINE("line: refused, no conn",
	    ",\"event\":\"refused\",\"route\":\"api\","
	    "\"peer_addr\":\"192.0.2.1:555\",\"reason\":\"max_connections\"",
	    .event = AUDIT_REFUSED, .route = "api", .peer_addr = "192.0.2.1:555",
	    .reason = "max_connections"),
	LINE("line: close, largest counts",
	    ",\"event\":\"close\",\"conn\":18446744073709551615,"
	    "\"bytes_in\":18446744073709551615,\"bytes_out\":0,\"duration_ms\":1",
	    .event = AUDIT_CLOSE, .conn = UINT64_MAX, .has_counts = true,
	    .bytes_in = UINT64_MAX, .bytes_out = 0, .duration_ms = 1),
	/* Nothing but the two fields always known. */
	LINE("line: event alone", ",\"event\":\"accept\"", .event = AUDIT_ACCEPT),
	/* A length without a pointer is no peer_id; a pointer with 0 is "". */
	LINE("line: peer_id length, no pointer", ",\"event\":\"accept\"",
	    .event = AUDIT_ACCEPT, .peer_id_len = 5),
	LINE("line: peer_id pointer, length 0", ",\"event\":\"accept\",\"peer_id\":\"\"",
	    .event = AUDIT_ACCEPT, .peer_id = "x", .peer_id_len = 0),
	LINE("line: empty detail kept",
	    ",\"event\":\"close\",\"conn\":3,\"detail\":\"\",\"path\":\"userspace\"",
	    .event = AUDIT_CLOSE, .conn = 3, .detail = "", .path = "userspace"),
};

static void
test_line(void **state)
{
	const struct line_row *row = *state;

	row_at("%s", row->name);
	expect_line(&row->r, row->want);
}

static void
test_event_names(void **state)
{
	static const struct { enum audit_event ev; const char *name; } rows[] = {
		{ AUDIT_ACCEPT, "accept" }, { AUDIT_HANDSHAKE_OK, "handshake_ok" },
		{ AUDIT_HANDSHAKE_FAIL, "handshake_fail" }, { AUDIT_DENIED, "denied" },
		{ AUDIT_REFUSED, "refused" }, { AUDIT_CLOSE, "close" },
		{ (enum audit_event)99, "unknown" },
	};

	(void)state;
	for (size_t i = 0; i < ROWS(rows); i++) {
		row_at("event %d", (int)rows[i].ev);
		row_string_equal(audit_event_name(rows[i].ev), rows[i].name);
	}
	assert_int_equal(AUDIT_SCHEMA_VERSION, 1);
}

static void
test_field_order(void **state)
{
	static const char *const keys[] = { "\"ts\"", "\"schema_version\"",
		"\"event\"", "\"conn\"", "\"host\"",
		"\"route\"", "\"peer_addr\"", "\"peer_id\"", "\"tls_version\"",
		"\"cipher\"", "\"bytes_in\"", "\"bytes_out\"", "\"duration_ms\"",
		"\"reason\"", "\"detail\"", "\"path\"" };
	struct fx *fx = *state;
	struct audit_record r = full_record();
	struct audit_sink s;
	struct audit_buf b;
	const char *prev = NULL;
	char *text;

	sink_open(&s, &b, fx->path, 65536);
	audit_write(&b, &r);
	sink_close(&s, &b);

	text = slurp(fx->path, NULL);
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const char *p = strstr(text, keys[i]);

		if (p == NULL)
			fail_msg("%s missing", keys[i]);
		if (prev != NULL && p <= prev)
			fail_msg("%s out of order", keys[i]);
		prev = p;
	}
	/* Same line as audit_format makes, but for the time, and with the
	 * host the sink read at audit_open. */
	r.host = s.host;
	{
		char want[2048];
		size_t n = audit_format(want, sizeof(want) - 1, &r, &fixed_ts, NULL);
		want[n] = '\0';
		assert_non_null(strstr(want, "\"conn\":42,\"host\":\""));
		assert_int_equal(strlen(text), n);
		assert_string_equal(text + strlen(TS_PREFIX), want + strlen(TS_PREFIX));
	}
	free(text);
	check_json(fx, fx->path, 1, false);
}

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static void
test_timestamp(void **state)
{
	/* A clock and how the line starts. */
	static const struct { struct timespec ts; const char *want; } edges[] = {
		{ { 0, 0 }, "{\"ts\":\"1970-01-01T00:00:00.000Z\"" },
		{ { 951782400 + 86399, 999999999 },	/* leap day */
		    "{\"ts\":\"2000-02-29T23:59:59.999Z\"" },
		{ { 1795937071, 1000000 }, "{\"ts\":\"2026-11-29T07:24:31.001Z\"" },
	};
	struct fx *fx = *state;
	struct audit_record r = { .event = AUDIT_ACCEPT, .conn = 1 };
	struct audit_sink s;
	struct audit_buf b;
	struct tm tm = { 0 };
	char *text, ts[25], line[256];
	time_t before, after, t;
	size_t n;

	before = time(NULL);
	sink_open(&s, &b, fx->path, AUDIT_BUF_MIN);
	audit_write(&b, &r);
	sink_close(&s, &b);
	after = time(NULL);

	text = slurp(fx->path, NULL);
	assert_memory_equal(text, "{\"ts\":\"", 7);
	memcpy(ts, text + 7, 24);
	ts[24] = '\0';
	assert_int_equal(text[7 + 24], '"');
	free(text);
	/* YYYY-MM-DDTHH:MM:SS.mmmZ */
	for (int i = 0; i < 24; i++) {
		switch (i) {
		case 4: case 7:	assert_int_equal(ts[i], '-'); break;
		case 10:	assert_int_equal(ts[i], 'T'); break;
		case 13: case 16: assert_int_equal(ts[i], ':'); break;
		case 19:	assert_int_equal(ts[i], '.'); break;
		case 23:	assert_int_equal(ts[i], 'Z'); break;
		default:
			if (!is_digit(ts[i]))
				fail_msg("ts %s: position %d not a digit", ts, i);
		}
	}
	/* UTC and now. */
	assert_non_null(strptime(ts, "%Y-%m-%dT%H:%M:%S", &tm));
	t = timegm(&tm);
	assert_true(t >= before && t <= after);

	for (size_t i = 0; i < ROWS(edges); i++) {
		row_at("ts %s", edges[i].want);
		n = audit_format(line, sizeof(line), &r, &edges[i].ts, NULL);
		row_true(n > 31);
		row_memory_equal(line, edges[i].want, 32);
	}
}

/* peer_id bytes in, the escaped JSON text expected between the quotes. */
/* peer_id bytes in, the escaped JSON text expected between the quotes. */
static void
expect_peer_id(const char *in, size_t len, const char *want)
{
	struct audit_record r = { .event = AUDIT_ACCEPT, .peer_id = in,
		.peer_id_len = len };
	char exp[16384];

	snprintf(exp, sizeof(exp), "%s,\"event\":\"accept\",\"peer_id\":\"%s\"}\n",
	    TS_PREFIX, want);
	expect_line(&r, exp);
}

/* peer_id's bytes (a literal, NULs and all) and their escaped JSON text. */
struct peer_row {
	const char *in;
	size_t len;
	const char *want;
};

#define PEER(lit, want)	{ (lit), sizeof(lit) - 1, (want) }

static const struct peer_row peer_rows[] = {
	PEER("plain", "plain"),
	PEER("a\"b", "a\\\"b"),
	PEER("a\\b", "a\\\\b"),
	PEER("\"\\\"", "\\\"\\\\\\\""),
	PEER("l1\nl2\r\n", "l1\\nl2\\r\\n"),
	PEER("\t\b\f", "\\t\\b\\f"),
	PEER("a\0b", "a\\u0000b"),
	PEER("\0\0", "\\u0000\\u0000"),
	PEER("\x01\x1f\x1b[31m", "\\u0001\\u001f\\u001b[31m"),
	PEER("del\x7f", "del\\u007f"),
	PEER("/ is fine", "/ is fine"),

	/* Valid UTF-8 passes through. */
	PEER("caf\xc3\xa9", "caf\xc3\xa9"),
	PEER("\xe6\x97\xa5\xe6\x9c\xac", "\xe6\x97\xa5\xe6\x9c\xac"),
	PEER("\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80"),
	PEER("\xef\xbf\xbd", "\xef\xbf\xbd"),		/* U+FFFD itself */
	PEER("\xf4\x8f\xbf\xbf", "\xf4\x8f\xbf\xbf"),	/* U+10FFFF */
	PEER("\xed\x9f\xbf", "\xed\x9f\xbf"),		/* U+D7FF */
	PEER("\xc2\xa0", "\xc2\xa0"),			/* U+00A0 */

	/* Allowed by JSON but escaped: C1, line separators, bidi controls. */
	PEER("\xc2\x80\xc2\x85\xc2\x9b\xc2\x9f", "\\u0080\\u0085\\u009b\\u009f"),
	PEER("\xe2\x80\xa8\xe2\x80\xa9", "\\u2028\\u2029"),
	PEER("user\xe2\x80\xaegpj.exe", "user\\u202egpj.exe"),
	PEER("\xe2\x81\xa6\xe2\x81\xa9\xe2\x80\x8e", "\\u2066\\u2069\\u200e"),

	/* Ill-formed: one U+FFFD per maximal subpart. */
	PEER("\x80", "\\ufffd"),
	PEER("a\xbf" "b", "a\\ufffdb"),
	PEER("\xc0\x80", "\\ufffd\\ufffd"),			/* overlong NUL */
	PEER("\xc1\xbf", "\\ufffd\\ufffd"),
	PEER("\xe0\x80\xaf", "\\ufffd\\ufffd\\ufffd"),		/* overlong '/' */
	PEER("\xf0\x80\x80\xaf", "\\ufffd\\ufffd\\ufffd\\ufffd"),
	PEER("\xed\xa0\x80", "\\ufffd\\ufffd\\ufffd"),		/* U+D800 */
	PEER("\xed\xbf\xbf", "\\ufffd\\ufffd\\ufffd"),		/* U+DFFF */
	PEER("\xed\xa0\xbd\xed\xb8\x80",			/* CESU-8 pair */
	    "\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd"),
	PEER("\xf4\x90\x80\x80", "\\ufffd\\ufffd\\ufffd\\ufffd"),	/* U+110000 */
	PEER("\xf5\x80\x80\x80", "\\ufffd\\ufffd\\ufffd\\ufffd"),
	PEER("\xf8\x88\x80\x80\x80", "\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd"),
	PEER("\xfe\xff", "\\ufffd\\ufffd"),
	PEER("\xe6\x97", "\\ufffd"),				/* truncated at end */
	PEER("\xe6\x97x", "\\ufffdx"),
	PEER("\xf0\x9f\x98", "\\ufffd"),
	PEER("\xf0\x9f\x98\"", "\\ufffd\\\""),			/* no quote swallowed */
	PEER("\xc3", "\\ufffd"),
	PEER("\xc3\xc3\xa9", "\\ufffd\xc3\xa9"),
	PEER("\xe6\x97\xa5\x80\xe6\x9c\xac", "\xe6\x97\xa5\\ufffd\xe6\x9c\xac"),
	PEER("\xe6\x97\0", "\\ufffd\\u0000"),
};

static void
test_escaping(void **state)
{
	(void)state;
	for (size_t i = 0; i < ROWS(peer_rows); i++) {
		row_at("peer_rows[%zu]: want \"%s\"", i, peer_rows[i].want);
		expect_peer_id(peer_rows[i].in, peer_rows[i].len, peer_rows[i].want);
	}
}

static void
test_every_byte(void **state)
{
	struct fx *fx = *state;
	char in[256], want[4096], *w = want;
	struct audit_record r = { .event = AUDIT_DENIED, .conn = 1,
		.peer_id = in, .peer_id_len = sizeof(in) };
	struct audit_sink s;
	struct audit_buf b;
	FILE *hex;

	for (int i = 0; i < 256; i++) {
		unsigned char c = (unsigned char)i;

		in[i] = (char)c;
		if (c == '"' || c == '\\') {
			*w++ = '\\';
			*w++ = (char)c;
		} else if (c >= 0x20 && c < 0x7f) {
			*w++ = (char)c;
		} else if (c == '\b' || c == '\f' || c == '\n' || c == '\r' || c == '\t') {
			*w++ = '\\';
			*w++ = c == '\b' ? 'b' : c == '\f' ? 'f' : c == '\n' ? 'n' :
			    c == '\r' ? 'r' : 't';
		} else if (c < 0x80) {
			w += sprintf(w, "\\u%04x", c);
		} else {
			/* Alone, or followed by a byte that cannot continue it. */
			w += sprintf(w, "\\ufffd");
		}
	}
	*w = '\0';
	row_at("every byte, 0 to 255");
	expect_peer_id(in, sizeof(in), want);

	/* And reversed, and through a file to Python. */
	sink_open(&s, &b, fx->path, 65536);
	assert_non_null(hex = fopen(fx->hexpath, "w"));
	audit_write(&b, &r);
	hex_line(hex, "", in, sizeof(in));
	for (int i = 0; i < 128; i++) {
		char t = in[i];

		in[i] = in[255 - i];
		in[255 - i] = t;
	}
	audit_write(&b, &r);
	hex_line(hex, "", in, sizeof(in));
	fclose(hex);
	sink_close(&s, &b);
	check_json(fx, fx->path, 2, true);
}

/* xorshift64: reproducible "random" bytes. */
static uint64_t
next_rand(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

static void
test_hostile_python(void **state)
{
	static const char *const frag[] = { "a", "Z", " ", "\"", "\\", "\n",
		"\r", "\t", "\x01", "\x7f", "\xc3\xa9", "\xe6\x97\xa5",
		"\xf0\x9f\x98\x80", "\xe6\x97", "\xf0\x9f", "\x80", "\xbf", "\xc0",
		"\xc1\xbf", "\xe0\x80\xaf", "\xed\xa0\x80", "\xed\xbf\xbf",
		"\xf4\x90\x80\x80", "\xf5", "\xff", "\xc2\x85", "\xe2\x80\xa8",
		"\xe2\x80\xae", "\xef\xbb\xbf", "\xf4\x8f\xbf\xbf", "u", "\\u0000",
		"\xe2\x80\xa6" };
	static const struct { const char *s; size_t len; } fixed[] = {
#define S(lit) { lit, sizeof(lit) - 1 }
		S("quote\"in\"side"), S("back\\slash\\"), S("new\nline"),
		S("cr\rhere"), S("tab\there"), S("nul\0in\0the\0middle"), S("\0"),
		S(""), S("\xc3\xa9"), S("\xe6\x97\xa5\xe6\x9c\xac"),
		S("\xf0\x9f\x98\x80"), S("spiffe://a/\xc3\xa9/\xe6\x97\xa5/\xf0\x9f\x98\x80"),
		S("\x80"), S("\xc0\x80"), S("\xe0\x80\x80"), S("\xed\xa0\x80"),
		S("\xf4\x90\x80\x80"), S("\xe6\x97"), S("\xf0\x9f\x98"),
		S("\"}\n{\"event\":\"forged\""), S("\\\"\\"),
#undef S
	};
	struct fx *fx = *state;
	struct audit_sink s;
	struct audit_buf b;
	struct audit_record r = full_record();
	char str[2048];
	uint64_t x = 0x9e3779b97f4a7c15ULL;
	size_t nrec = 0;
	FILE *hex;
	char cmd[512];

	assert_int_equal(audit_open(&s, fx->path), 0);
	assert_int_equal(audit_buf_init(&b, &s, 8192), 0);
	assert_non_null(hex = fopen(fx->hexpath, "w"));

	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
		r.peer_id = fixed[i].s;
		r.peer_id_len = fixed[i].len;
		/* The other strings get hostile text too (NUL-terminated). */
		r.detail = fixed[i].s;
		r.route = fixed[i].s;
		audit_write(&b, &r);
		hex_line(hex, "", fixed[i].s, fixed[i].len);
		nrec++;
	}
	/* Random bytes. */
	for (int i = 0; i < 300; i++) {
		size_t len = next_rand(&x) % 400;

		for (size_t j = 0; j < len; j++)
			str[j] = (char)next_rand(&x);
		r.peer_id = str;
		r.peer_id_len = len;
		r.detail = NULL;
		r.route = "api";
		audit_write(&b, &r);
		hex_line(hex, "", str, len);
		nrec++;
	}
	/* Random sequences of tricky fragments, so they meet each other. */
	for (int i = 0; i < 500; i++) {
		size_t len = 0, k = next_rand(&x) % 60;

		for (size_t j = 0; j < k; j++) {
			const char *f = frag[next_rand(&x) % (sizeof(frag) / sizeof(frag[0]))];

			memcpy(str + len, f, strlen(f));
			len += strlen(f);
		}
		str[len] = '\0';
		r.peer_id = str;
		r.peer_id_len = len;
		r.detail = str;	/* up to its first NUL, if any */
		audit_write(&b, &r);
		hex_line(hex, "", str, len);
		nrec++;
	}
	fclose(hex);
	audit_buf_free(&b);
	assert_int_equal(audit_buf_written(&b), nrec);
	assert_int_equal(audit_buf_dropped(&b), 0);
	assert_int_equal(audit_buf_truncated(&b), 0);
	audit_close(&s);
	assert_int_equal(count_lines(fx->path), nrec);
	check_json(fx, fx->path, (long)nrec, true);

	/* The plain form: every line parses. */
	snprintf(cmd, sizeof(cmd), "python3 -c 'import json,sys; "
	    "[json.loads(l) for l in open(sys.argv[1])]' '%s'", fx->path);
	assert_int_equal(system(cmd), 0);
}

static void
test_buffered_until_flush(void **state)
{
	struct fx *fx = *state;
	struct audit_record r = full_record();
	struct audit_sink s;
	struct audit_buf b;

	assert_int_equal(audit_open(&s, fx->path), 0);
	assert_int_equal(file_size(fx->path), 0);
	assert_int_equal(audit_buf_init(&b, &s, 65536), 0);
	for (int i = 0; i < 3; i++) {
		r.conn = (uint64_t)i + 1;
		audit_write(&b, &r);
	}
	assert_int_equal(file_size(fx->path), 0);
	assert_int_equal(audit_buf_written(&b), 0);
	audit_flush(&b);
	assert_int_equal(count_lines(fx->path), 3);
	assert_int_equal(audit_buf_written(&b), 3);
	audit_flush(&b);	/* nothing more to write */
	assert_int_equal(count_lines(fx->path), 3);

	/* audit_buf_free flushes. */
	audit_write(&b, &r);
	assert_int_equal(count_lines(fx->path), 3);
	audit_buf_free(&b);
	assert_int_equal(count_lines(fx->path), 4);
	expect_counts(&b, 4, 0, 0);
	audit_buf_free(&b);	/* twice is harmless */
	audit_close(&s);
	audit_close(&s);
	check_json(fx, fx->path, 4, false);
}

static void
test_full_buffer_flushes(void **state)
{
	struct fx *fx = *state;
	struct audit_record r = full_record();
	struct audit_sink s;
	struct audit_buf b;
	char line[1024];
	size_t len, per, cap = 4096;

	assert_int_equal(audit_open(&s, fx->path), 0);
	r.host = s.host;	/* as audit_write stamps it */
	len = audit_format(line, sizeof(line), &r, &fixed_ts, NULL);
	assert_true(len > 100);
	per = cap / len;

	assert_int_equal(audit_buf_init(&b, &s, cap), 0);
	for (size_t i = 0; i < per; i++)
		audit_write(&b, &r);
	assert_int_equal(file_size(fx->path), 0);
	/* One more does not fit: the buffered lines go out first. */
	audit_write(&b, &r);
	assert_int_equal(count_lines(fx->path), per);
	assert_int_equal(file_size(fx->path), (off_t)(per * len));
	assert_int_equal(audit_buf_written(&b), per);
	for (size_t i = 0; i < 10 * per; i++)
		audit_write(&b, &r);
	sink_close(&s, &b);
	expect_counts(&b, 11 * per + 1, 0, 0);
	assert_int_equal(count_lines(fx->path), 11 * per + 1);
	check_json(fx, fx->path, (long)(11 * per + 1), false);
}

/* The peer_id's escaped value in a formatted line, NUL-terminated in place. */
static char *
value_of(char *line, const char *key)
{
	char k[32], *p, *q;

	snprintf(k, sizeof(k), "\"%s\":\"", key);
	if ((p = strstr(line, k)) == NULL)
		return NULL;
	p += strlen(k);
	for (q = p; *q != '"'; q++)
		if (*q == '\\')
			q++;
	*q = '\0';
	return p;
}

/*
 * One string longer than AUDIT_STR_MAX (or just at it): its input made of
 * up to three runs of a unit repeated; what comes out is the input's first
 * keep bytes, then tail, and cut says whether the record is marked.
 */
struct cap_row {
	const char *name;
	enum audit_event event;
	const char *key;			/* "peer_id", or "detail" (NUL-terminated) */
	struct { const char *unit; int count; } run[3];
	size_t keep;
	const char *tail;
	bool cut;
};

static const struct cap_row cap_rows[] = {
	/* At most AUDIT_STR_MAX input bytes, then the mark. */
	{ "cap: 5000 bytes", AUDIT_ACCEPT, "peer_id", { { "a", 5000 } },
	    AUDIT_STR_MAX, ELLIPSIS, true },
	{ "cap: exactly AUDIT_STR_MAX is not cut", AUDIT_ACCEPT, "peer_id",
	    { { "a", AUDIT_STR_MAX } }, AUDIT_STR_MAX, "", false },
	/* 2 + 340 * 3 = 1022, the next character would pass 1024. */
	{ "cap: at a character boundary", AUDIT_ACCEPT, "peer_id",
	    { { "a", 2 }, { "\xe6\x97\xa5", 400 } }, 1022, ELLIPSIS, true },
	{ "cap: ill-formed byte just inside the limit still replaced",
	    AUDIT_ACCEPT, "peer_id", { { "a", 1023 }, { "\x80", 1 }, { "b", 10 } },
	    1023, "\\ufffd" ELLIPSIS, true },
	/* NUL-terminated fields are capped the same way. */
	{ "cap: detail", AUDIT_HANDSHAKE_FAIL, "detail", { { "d", 3000 } },
	    AUDIT_STR_MAX, ELLIPSIS, true },
};

static void
test_string_cap(void **state)
{
	const struct cap_row *row = *state;
	static char in[6000], line[65536];
	struct audit_record r = { .event = row->event };
	bool cut = !row->cut;
	size_t n, len = 0;
	char *v;

	row_at("%s", row->name);
	for (size_t i = 0; i < ROWS(row->run) && row->run[i].unit != NULL; i++)
		for (int k = 0; k < row->run[i].count; k++) {
			memcpy(in + len, row->run[i].unit, strlen(row->run[i].unit));
			len += strlen(row->run[i].unit);
		}
	in[len] = '\0';
	if (strcmp(row->key, "detail") == 0) {
		r.detail = in;
	} else {
		r.peer_id = in;
		r.peer_id_len = len;
	}
	n = audit_format(line, sizeof(line), &r, &fixed_ts, &cut);
	row_int_equal(cut, row->cut);
	line[n] = '\0';
	if (row->cut)
		row_memory_equal(line + n - 19, ",\"truncated\":true}\n", 19);
	else
		row_true(strstr(line, "truncated") == NULL);
	row_non_null(v = value_of(line, row->key));
	row_int_equal(strlen(v), row->keep + strlen(row->tail));
	row_memory_equal(v, in, row->keep);
	row_string_equal(v + row->keep, row->tail);
	if (strstr(row->tail, "fffd") == NULL)
		row_true(strstr(v, "fffd") == NULL);
}

static void
test_long_record(void **state)
{
	struct fx *fx = *state;
	static char id[3000], detail[201], line[AUDIT_BUF_MIN], big[8][5000];
	struct audit_record r = full_record();
	uint64_t x = 12345;
	struct audit_sink s;
	struct audit_buf b;
	bool cut = false;
	size_t n;
	char *v;
	FILE *hex;

	for (size_t i = 0; i < sizeof(id); i++)
		id[i] = (char)next_rand(&x);
	memset(detail, 'd', 200);
	r.peer_id = id;
	r.peer_id_len = sizeof(id);
	r.detail = detail;

	/* The longest string gives way; the shorter detail stays whole. */
	n = audit_format(line, sizeof(line), &r, &fixed_ts, &cut);
	assert_true(cut);
	assert_true(n <= sizeof(line));
	assert_true(n >= sizeof(line) - 16);
	assert_memory_equal(line + n - 19, ",\"truncated\":true}\n", 19);
	line[n - 1] = '\0';
	assert_non_null(strstr(line, ELLIPSIS "\",\"tls_version\":\"TLSv1.3\""));
	assert_non_null(v = value_of(line, "detail"));
	assert_int_equal(strlen(v), 200);

	/* Too small for even the fixed fields. */
	assert_int_equal(audit_format(line, 60, &r, &fixed_ts, &cut), 0);

	/* Through a minimal buffer, with every string long and escaped 6:1. */
	sink_open(&s, &b, fx->path, AUDIT_BUF_MIN);
	assert_non_null(hex = fopen(fx->hexpath, "w"));
	audit_write(&b, &r);
	hex_line(hex, "P:", id, sizeof(id));
	for (int i = 0; i < 8; i++) {
		memset(big[i], 1 + i, sizeof(big[i]) - 1);
		big[i][sizeof(big[i]) - 1] = '\0';
	}
	r.route = big[0];
	r.peer_addr = big[1];
	r.peer_id = big[2];
	r.peer_id_len = sizeof(big[2]) - 1;
	r.tls_version = big[3];
	r.cipher = big[4];
	r.reason = big[5];
	r.detail = big[6];
	r.path = big[7];
	audit_write(&b, &r);
	hex_line(hex, "P:", big[2], sizeof(big[2]) - 1);
	/* Multi-byte characters at the cut: never split. */
	for (size_t i = 0; i + 4 <= sizeof(id); i += 4)
		memcpy(id + i, "\xf0\x9f\x98\x80", 4);
	r = full_record();
	r.peer_id = id;
	r.peer_id_len = sizeof(id);
	audit_write(&b, &r);
	hex_line(hex, "P:", id, sizeof(id));
	fclose(hex);
	sink_close(&s, &b);
	expect_counts(&b, 3, 0, 3);
	check_json(fx, fx->path, 3, true);
}

static void
write_tagged(struct audit_buf *b, uint64_t conn)
{
	struct audit_record r = full_record();

	r.conn = conn;
	audit_write(b, &r);
}

/* Whether file holds exactly the conns listed, in order. */
static void
expect_conns(const char *path, const uint64_t *conns, size_t n)
{
	char *text = slurp(path, NULL), *p = text;
	size_t i = 0;

	while ((p = strstr(p, "\"conn\":")) != NULL) {
		p += 7;
		assert_true(i < n);
		assert_int_equal(strtoull(p, NULL, 10), conns[i]);
		i++;
	}
	assert_int_equal(i, n);
	free(text);
}

static void
test_reopen(void **state)
{
	struct fx *fx = *state;
	struct audit_sink s;
	struct audit_buf b;
	char old[160], sub[160], moved[160], subpath[200];
	static const uint64_t first[] = { 1, 2, 3 }, second[] = { 4, 5 };

	sink_open(&s, &b, fx->path, 4096);
	write_tagged(&b, 1);
	write_tagged(&b, 2);
	audit_flush(&b);
	/* logrotate: rename, then signal; lines until the reopen go to the old file. */
	snprintf(old, sizeof(old), "%s.1", fx->path);
	assert_int_equal(rename(fx->path, old), 0);
	write_tagged(&b, 3);
	audit_flush(&b);
	assert_int_equal(file_size(fx->path), -1);
	assert_int_equal(audit_reopen(&s), 0);
	assert_int_equal(file_size(fx->path), 0);
	write_tagged(&b, 4);
	write_tagged(&b, 5);
	audit_flush(&b);
	/* Close-on-exec survives the swap. */
	assert_true(fcntl(s.fd, F_GETFD) & FD_CLOEXEC);
	sink_close(&s, &b);
	expect_conns(old, first, 3);
	expect_conns(fx->path, second, 2);
	check_json(fx, old, 3, false);
	check_json(fx, fx->path, 2, false);

	/* A failed reopen keeps the old file. */
	snprintf(sub, sizeof(sub), "%s/sub", fx->dir);
	snprintf(moved, sizeof(moved), "%s/moved", fx->dir);
	snprintf(subpath, sizeof(subpath), "%s/audit.log", sub);
	assert_int_equal(mkdir(sub, 0700), 0);
	sink_open(&s, &b, subpath, 4096);
	assert_int_equal(rename(sub, moved), 0);
	errno = 0;
	assert_int_equal(audit_reopen(&s), -1);
	assert_int_equal(errno, ENOENT);
	write_tagged(&b, 9);
	sink_close(&s, &b);
	snprintf(subpath, sizeof(subpath), "%s/audit.log", moved);
	assert_int_equal(count_lines(subpath), 1);
}

#define PER_THREAD	20000
#define NTHREADS	2

struct writer {
	struct audit_sink *sink;
	uint64_t base;
	atomic_int *progress;		/* records written, all threads */
	atomic_bool *reopened;
	uint64_t written, dropped;
	int err;
};

static void *
writer_main(void *arg)
{
	struct writer *w = arg;
	struct audit_buf b;

	if (audit_buf_init(&b, w->sink, 4096) == -1) {
		w->err = errno;
		return NULL;
	}
	for (int i = 0; i < PER_THREAD; i++) {
		struct audit_record r = full_record();
		char detail[64];

		/* Make sure some lines go before the rotation and some after. */
		if (i == PER_THREAD * 3 / 4) {
			audit_flush(&b);
			while (!atomic_load(w->reopened))
				sched_yield();
		}
		snprintf(detail, sizeof(detail), "thread \"%llu\" line\n%d",
		    (unsigned long long)w->base, i);
		r.conn = w->base + (uint64_t)i;
		r.detail = detail;
		audit_write(&b, &r);
		atomic_fetch_add(w->progress, 1);
		if (i % 97 == 0)
			audit_flush(&b);	/* the timer, at odd moments */
	}
	audit_buf_free(&b);
	w->written = audit_buf_written(&b);
	w->dropped = audit_buf_dropped(&b);
	return NULL;
}

/* Counts lines of path, marking each conn in seen[]; fails on repeats. */
static size_t
tally(const char *path, unsigned char *seen)
{
	char *text = slurp(path, NULL), *line = text, *nl;
	size_t n = 0;

	while ((nl = strchr(line, '\n')) != NULL) {
		char *p = strstr(line, "\"conn\":");
		unsigned long long c;
		size_t t, i;

		assert_non_null(p);
		assert_true(p < nl);
		c = strtoull(p + 7, NULL, 10);
		t = (size_t)(c / 1000000) - 1;
		i = (size_t)(c % 1000000);
		assert_true(t < NTHREADS && i < PER_THREAD);
		if (seen[t * PER_THREAD + i]++)
			fail_msg("conn %llu twice", c);
		n++;
		line = nl + 1;
	}
	assert_int_equal(*line, '\0');
	free(text);
	return n;
}

static void
test_threads(void **state)
{
	struct fx *fx = *state;
	struct audit_sink s;
	struct writer w[NTHREADS];
	pthread_t th[NTHREADS];
	atomic_int progress = 0;
	atomic_bool reopened = false;
	unsigned char *seen;
	char old[160];
	size_t n1, n2;

	assert_int_equal(audit_open(&s, fx->path), 0);
	for (int i = 0; i < NTHREADS; i++) {
		w[i] = (struct writer){ .sink = &s, .base = (uint64_t)(i + 1) * 1000000,
			.progress = &progress, .reopened = &reopened };
		assert_int_equal(pthread_create(&th[i], NULL, writer_main, &w[i]), 0);
	}
	/* Rotate while both write. */
	while (atomic_load(&progress) < PER_THREAD / 2)
		sched_yield();
	snprintf(old, sizeof(old), "%s.1", fx->path);
	assert_int_equal(rename(fx->path, old), 0);
	assert_int_equal(audit_reopen(&s), 0);
	atomic_store(&reopened, true);
	for (int i = 0; i < NTHREADS; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(w[i].err, 0);
		assert_int_equal(w[i].written, PER_THREAD);
		assert_int_equal(w[i].dropped, 0);
	}
	audit_close(&s);

	assert_non_null(seen = calloc(NTHREADS * PER_THREAD, 1));
	n1 = tally(old, seen);
	n2 = tally(fx->path, seen);
	free(seen);
	assert_true(n1 > 0);
	assert_true(n2 > 0);
	assert_int_equal(n1 + n2, NTHREADS * PER_THREAD);
	check_json(fx, old, (long)n1, false);
	check_json(fx, fx->path, (long)n2, false);
}

static void
test_stdout(void **state)
{
	struct fx *fx = *state;
	int status;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* No cmocka here: report by exit status. */
		struct audit_record r = full_record();
		struct audit_sink s;
		struct audit_buf b;
		int fd = open(fx->path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		if (fd == -1 || dup2(fd, STDOUT_FILENO) == -1)
			_exit(10);
		close(fd);
		if (audit_open(&s, "-") != 0 || s.fd != STDOUT_FILENO)
			_exit(11);
		if (audit_buf_init(&b, &s, 4096) != 0)
			_exit(12);
		audit_write(&b, &r);
		r.event = AUDIT_REFUSED;
		r.conn = 0;
		audit_write(&b, &r);
		audit_buf_free(&b);
		if (audit_buf_written(&b) != 2)
			_exit(13);
		if (audit_reopen(&s) != 0)	/* no-op for stdout */
			_exit(14);
		audit_close(&s);
		if (fcntl(STDOUT_FILENO, F_GETFD) == -1)	/* not closed */
			_exit(15);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(count_lines(fx->path), 2);
	check_json(fx, fx->path, 2, false);
}

static void
test_open_errors(void **state)
{
	struct fx *fx = *state;
	struct audit_sink s;
	struct audit_buf b;
	struct stat st;
	char bad[200];
	mode_t old;

	snprintf(bad, sizeof(bad), "%s/missing/audit.log", fx->dir);
	errno = 0;
	assert_int_equal(audit_open(&s, bad), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(s.fd, -1);
	audit_close(&s);	/* no-op */

	errno = 0;
	assert_int_equal(audit_buf_init(&b, &s, AUDIT_BUF_MIN - 1), -1);
	assert_int_equal(errno, EINVAL);
	audit_buf_free(&b);	/* safe */
	audit_write(&b, &(struct audit_record){ .event = AUDIT_ACCEPT });

	/* Created 0640, appended to. */
	old = umask(022);
	assert_int_equal(audit_open(&s, fx->path), 0);
	umask(old);
	assert_int_equal(fstat(s.fd, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0640);
	assert_true(fcntl(s.fd, F_GETFL) & O_APPEND);
	assert_true(fcntl(s.fd, F_GETFD) & FD_CLOEXEC);
	assert_int_equal(audit_buf_init(&b, &s, 4096), 0);
	write_tagged(&b, 1);
	sink_close(&s, &b);
	sink_open(&s, &b, fx->path, 4096);
	write_tagged(&b, 2);
	sink_close(&s, &b);
	expect_conns(fx->path, (const uint64_t[]){ 1, 2 }, 2);
}

/* Fills a non-blocking pipe to the brim. */
static void
fill_pipe(int fd)
{
	static const char page[4096];
	ssize_t n;

	while ((n = write(fd, page, sizeof(page))) > 0)
		;
	assert_int_equal(errno, EAGAIN);
	while ((n = write(fd, page, 1)) > 0)
		;
}

/* Reads what the pipe holds; returns the bytes (caller frees). */
static char *
drain_pipe(int fd, size_t *len)
{
	size_t cap = 1 << 20, n = 0;
	char *buf = malloc(cap);
	ssize_t r;

	assert_non_null(buf);
	while ((r = read(fd, buf + n, cap - n)) > 0)
		n += (size_t)r;
	assert_int_equal(errno, EAGAIN);
	*len = n;
	return buf;
}

static void
test_eagain(void **state)
{
	struct fx *fx = *state;
	struct audit_record r = full_record();
	struct audit_sink s;
	struct audit_buf b;
	int p[2];
	size_t len, k, nl = 0;
	char *got;

	assert_int_equal(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
	assert_int_equal(audit_open(&s, fx->path), 0);
	assert_true(dup2(p[1], s.fd) == s.fd);
	fill_pipe(s.fd);

	/* Full pipe: kept, not dropped, until the buffer itself is full. */
	assert_int_equal(audit_buf_init(&b, &s, AUDIT_BUF_MIN), 0);
	audit_write(&b, &r);
	audit_flush(&b);
	expect_counts(&b, 0, 0, 0);
	for (int i = 1; i < 10; i++)
		audit_write(&b, &r);
	k = 10 - audit_buf_dropped(&b);
	assert_true(k >= 2 && k < 10);
	assert_int_equal(audit_buf_written(&b), 0);

	/* The reader catches up: the kept lines go out whole. */
	free(drain_pipe(p[0], &len));
	audit_flush(&b);
	assert_int_equal(audit_buf_written(&b), k);
	got = drain_pipe(p[0], &len);
	for (size_t i = 0; i < len; i++)
		nl += got[i] == '\n';
	assert_int_equal(nl, k);
	assert_memory_equal(got, "{\"ts\":", 6);
	assert_int_equal(got[len - 1], '\n');
	free(got);

	/* Freed while the pipe is full: what is left is counted lost. */
	fill_pipe(s.fd);
	audit_write(&b, &r);
	audit_write(&b, &r);
	audit_buf_free(&b);
	expect_counts(&b, k, 10 - k + 2, 0);
	audit_close(&s);
	close(p[0]);
	close(p[1]);
}

static void
test_short_write_and_error(void **state)
{
	struct fx *fx = *state;
	struct audit_record r = full_record();
	struct audit_sink s;
	struct audit_buf b;
	char fname[200], *got;
	int p[2], full, fd;
	size_t len, first;
	uint64_t w1;

	full = open("/dev/full", O_WRONLY | O_CLOEXEC);
	if (full == -1)
		skip();
	assert_int_equal(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
	assert_int_equal(audit_open(&s, fx->path), 0);
	assert_true(dup2(p[1], s.fd) == s.fd);
	fill_pipe(s.fd);
	/* Room for exactly one page: a bigger write is cut short. */
	{
		char page[4096];

		assert_int_equal(read(p[0], page, sizeof(page)), sizeof(page));
	}

	assert_int_equal(audit_buf_init(&b, &s, 32768), 0);
	r.detail = "some detail to make the line length odd";
	for (int i = 0; i < 40; i++)
		audit_write(&b, &r);
	assert_true(b.len > 4096);
	audit_flush(&b);
	w1 = audit_buf_written(&b);
	assert_true(w1 > 0 && w1 < 40);
	assert_int_equal(b.off, 4096);
	assert_true(b.data[b.off - 1] != '\n');	/* mid-line */
	assert_int_equal(b.lines, 40 - w1);

	/* The disk fills up: the rest is counted lost. */
	assert_true(dup2(full, s.fd) == s.fd);
	audit_flush(&b);
	expect_counts(&b, w1, 40 - w1, 0);
	audit_write(&b, &r);
	audit_flush(&b);	/* still full: logged once, counted again */
	assert_int_equal(audit_buf_dropped(&b), 41 - w1);

	/* Space again: the broken line is ended first, then whole lines. */
	snprintf(fname, sizeof(fname), "%s/after.log", fx->dir);
	fd = open(fname, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_true(dup2(fd, s.fd) == s.fd);
	close(fd);
	audit_write(&b, &r);
	audit_write(&b, &r);
	audit_flush(&b);
	assert_int_equal(audit_buf_written(&b), w1 + 2);
	audit_write(&b, &r);
	audit_flush(&b);
	expect_counts(&b, w1 + 3, 41 - w1, 0);
	got = slurp(fname, &len);
	assert_int_equal(got[0], '\n');
	for (char *l = got + 1, *e; *l != '\0'; l = e + 1) {
		assert_non_null(e = strchr(l, '\n'));
		assert_memory_equal(l, "{\"ts\":\"", 7);
		assert_int_equal(e[-1], '}');
	}
	free(got);
	assert_int_equal(count_lines(fname), 4);
	/* The lines that reached the pipe: the page we freed, whole lines first. */
	got = drain_pipe(p[0], &len);
	first = len - 4096;
	assert_memory_equal(got + first, "{\"ts\":", 6);
	{
		size_t nl = 0;

		for (size_t i = first; i < len; i++)
			nl += got[i] == '\n';
		assert_int_equal(nl, w1);
	}
	free(got);
	sink_close(&s, &b);
	close(full);
	close(p[0]);
	close(p[1]);
}

/*
 * The repository's top directory, where examples/mtlsd-audit.schema.json
 * and tests/e2e/audit_check.py are: the working directory (make test runs
 * from there) or above $MTLSD_BUILD (tests/run.sh sets it).
 */
static void
find_top(char *top, size_t len)
{
	static const char *const ups[] = { ".", "..", "../..", "../../.." };
	const char *build = getenv("MTLSD_BUILD");
	char probe[1024];

	for (size_t i = 0; i < sizeof(ups) / sizeof(ups[0]); i++) {
		snprintf(top, len, "%s", ups[i]);
		snprintf(probe, sizeof(probe), "%s/examples/mtlsd-audit.schema.json", top);
		if (access(probe, R_OK) == 0)
			return;
		if (build == NULL)
			continue;
		snprintf(top, len, "%s/%s", build, ups[i]);
		snprintf(probe, sizeof(probe), "%s/examples/mtlsd-audit.schema.json", top);
		if (access(probe, R_OK) == 0)
			return;
	}
	fail_msg("examples/mtlsd-audit.schema.json not found (run from the top "
	    "directory or set MTLSD_BUILD)");
}

/* Runs tests/e2e/audit_check.py (the schema, as the e2e tests do) on file:
 * its exit status (0: every record valid). */
static int
schema_check(const char *file)
{
	char top[600], cmd[2048];
	int st;

	find_top(top, sizeof(top));
	snprintf(cmd, sizeof(cmd), "python3 '%s/tests/e2e/audit_check.py' "
	    "'%s/examples/mtlsd-audit.schema.json' '%s' >&2", top, top, file);
	st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* An every_field() record with these changed, and the schema's verdict. */
struct schema_row {
	const char *name;
	const char *host, *conn_id, *cipher;
	bool unknown_key;	/* a key the schema does not know, added */
	int status;		/* audit_check.py's: 1 refused, 0 valid */
};

static const struct schema_row schema_rows[] = {
	{ "schema: no host (audit_format alone)", NULL, "5f0c9a1e2b3d4c6f-42",
	    "TLS_AES_128_GCM_SHA256", false, 1 },
	{ "schema: a mbedTLS cipher name", "h", "5f0c9a1e2b3d4c6f-42",
	    "TLS1-3-AES-128-GCM-SHA256", false, 1 },
	{ "schema: a conn_id of another form", "h", "42",
	    "TLS_AES_128_GCM_SHA256", false, 1 },
	{ "schema: an unknown key", "h", "5f0c9a1e2b3d4c6f-42",
	    "TLS_AES_128_GCM_SHA256", true, 1 },
	/* ... and the same record made right. */
	{ "schema: valid", "h", "5f0c9a1e2b3d4c6f-42",
	    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", false, 0 },
};

static void
test_new_fields(void **state)
{
	struct fx *fx = *state;
	struct audit_record r = every_field();
	static char issuer[3000];
	char host[256] = "", bad[128], line[8192];
	struct audit_sink s;
	struct audit_buf b;
	char *text;
	FILE *f;
	size_t n;

	/* Through a sink: the host is gethostname()'s, whatever the record
	 * said; every event kind validates against the schema. */
	assert_int_equal(gethostname(host, sizeof(host) - 1), 0);
	assert_int_equal(audit_open(&s, fx->path), 0);
	assert_string_equal(s.host, host);
	assert_int_equal(audit_buf_init(&b, &s, 65536), 0);
	r.host = "not-this-one";
	audit_write(&b, &r);
	r = (struct audit_record){ .event = AUDIT_ACCEPT, .conn = 43,
		.conn_id = "5f0c9a1e2b3d4c6f-43", .route = "in", .peer_addr = "[::1]:5" };
	audit_write(&b, &r);
	r = every_field();
	r.event = AUDIT_HANDSHAKE_OK;
	r.has_counts = false;
	r.reason = r.path = r.record_layer = NULL;
	audit_write(&b, &r);
	r.event = AUDIT_DENIED;
	r.reason = "denied";
	r.detail = "identity not in the allow-list";
	audit_write(&b, &r);
	r = (struct audit_record){ .event = AUDIT_REFUSED, .route = "in",
		.peer_addr = "192.0.2.1:555", .reason = "max_connections" };
	audit_write(&b, &r);
	/* A hostile, huge issuer: cut, marked, counted, still valid. */
	memset(issuer, 'O', sizeof(issuer) - 1);
	memcpy(issuer, "O=\xff\n\"", 5);
	r = every_field();
	r.event = AUDIT_HANDSHAKE_FAIL;
	r.has_counts = false;
	r.path = r.record_layer = NULL;
	r.tls_version = r.cipher = NULL;
	r.reason = "unknown_ca";
	r.peer_issuer = issuer;
	audit_write(&b, &r);
	sink_close(&s, &b);
	expect_counts(&b, 6, 0, 1);
	text = slurp(fx->path, NULL);
	snprintf(line, sizeof(line), "\"conn\":42,\"conn_id\":\"5f0c9a1e2b3d4c6f-42\","
	    "\"host\":\"%s\",", host);
	assert_non_null(strstr(text, line));
	assert_null(strstr(text, "not-this-one"));
	assert_non_null(strstr(text, "\"peer_issuer\":\"O=\\ufffd\\n\\\"OOO"));
	assert_non_null(strstr(text, "OOO" ELLIPSIS "\",\"sni\""));
	free(text);
	check_json(fx, fx->path, 6, false);
	assert_int_equal(schema_check(fx->path), 0);

	/* Records the schema refuses (1) or takes (0). */
	r = every_field();
	snprintf(bad, sizeof(bad), "%s/bad.jsonl", fx->dir);
	for (size_t i = 0; i < ROWS(schema_rows); i++) {
		const struct schema_row *row = &schema_rows[i];

		row_at("%s", row->name);
		r.host = row->host;
		r.conn_id = row->conn_id;
		r.cipher = row->cipher;
		n = audit_format(line, sizeof(line), &r, &fixed_ts, NULL);
		row_true(n > 0);
		if (row->unknown_key)
			memcpy(line + n - 2, ",\"x\":1}\n", 8), n += 6;
		row_non_null(f = fopen(bad, "w"));
		row_int_equal(fwrite(line, 1, n, f), n);
		fclose(f);
		row_int_equal(schema_check(bad), row->status);
	}
}

int
main(void)
{
	static const struct CMUnitTest fixed[] = {
		cmocka_unit_test(test_event_names),
		cmocka_unit_test_setup_teardown(test_field_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timestamp, setup, teardown),
		cmocka_unit_test(test_escaping),
		cmocka_unit_test_setup_teardown(test_every_byte, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_python, setup, teardown),
		cmocka_unit_test_setup_teardown(test_buffered_until_flush, setup, teardown),
		cmocka_unit_test_setup_teardown(test_full_buffer_flushes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_long_record, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stdout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_eagain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_short_write_and_error, setup, teardown),
		cmocka_unit_test_setup_teardown(test_new_fields, setup, teardown),
	};
	struct CMUnitTest tests[ROWS(line_rows) + ROWS(fixed) + ROWS(cap_rows)];
	size_t n = 0;

	ROW_TESTS(tests, n, line_rows, test_line);
	TESTS_APPEND(tests, n, fixed);
	ROW_TESTS(tests, n, cap_rows, test_string_cap);
	signal(SIGPIPE, SIG_IGN);
	return _cmocka_run_group_tests("audit", tests, n, NULL, NULL);
}
