/*
 * test_log.c: proxy/log.c's log_value(), the logfmt value every free-text
 * or peer-supplied field of the operator log goes through.
 *
 * Exact outputs for each rule (bare, quoted, the escapes, U+FFFD for bytes
 * that are not UTF-8, the cut); then, on random bytes and every buffer
 * size, that the output is always one well-formed logfmt value: bare
 * printable ASCII, or quoted with only the escapes go-logfmt's decoder
 * reads and no raw control character.  (e2e/t_audit reads real log lines
 * with a strict logfmt parser.)
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "proxy/log.h"

static void
expect(const char *in, size_t len, const char *want)
{
	char buf[256];

	assert_ptr_equal(log_value(in, len, buf, sizeof(buf)), buf);
	assert_string_equal(buf, want);
}

#define EXPECT(lit, want) expect((lit), sizeof(lit) - 1, (want))

static void
test_bare_and_quoted(void **state)
{
	(void)state;
	EXPECT("eof", "eof");
	EXPECT("spiffe://test/client", "spiffe://test/client");
	EXPECT("10.0.0.7:5000", "10.0.0.7:5000");
	/* Empty: a value, not nothing. */
	EXPECT("", "\"\"");
	EXPECT("peer closed TCP", "\"peer closed TCP\"");
	/* What a bare value cannot hold. */
	EXPECT("a=b", "\"a=b\"");
	EXPECT("a\"b", "\"a\\\"b\"");
	EXPECT("a\\b", "\"a\\\\b\"");
	EXPECT("tab\there", "\"tab\\there\"");
	EXPECT("two\nlines\r", "\"two\\nlines\\r\"");
	EXPECT("\x01\x1f\x7f", "\"\\u0001\\u001f\\u007f\"");
	EXPECT("\b\f", "\"\\b\\f\"");
	expect("a\0b", 3, "\"a\\u0000b\"");
	/* UTF-8 as it is; C1, bidi and line separators escaped; bytes that
	 * are not UTF-8 one U+FFFD per maximal ill-formed subsequence. */
	EXPECT("caf\xc3\xa9", "\"caf\xc3\xa9\"");
	EXPECT("\xc2\x9b", "\"\\u009b\"");
	EXPECT("x\xe2\x80\xaey", "\"x\\u202ey\"");
	EXPECT("\xe2\x80\xa8", "\"\\u2028\"");
	EXPECT("\xff\xfe", "\"\\ufffd\\ufffd\"");
	EXPECT("\xe2\x82", "\"\\ufffd\"");
	EXPECT("evil\"\nname\\x\xff\xfe", "\"evil\\\"\\nname\\\\x\\ufffd\\ufffd\"");
}

static void
test_cut(void **state)
{
	char buf[16];

	(void)state;
	/* A bare value too long for buf is quoted and cut, marked "...". */
	log_value("abcdefghijklmnopqrstuvwxyz", 26, buf, sizeof(buf));
	assert_string_equal(buf, "\"abcdefghij...\"");
	assert_int_equal(strlen(buf), sizeof(buf) - 1);
	/* Never inside an escape or a character. */
	log_value("aaaaaaaa\"\"\"\"\"\"", 14, buf, sizeof(buf));
	assert_string_equal(buf, "\"aaaaaaaa\\\"...\"");
	log_value("aaaaaaaaa\xe6\x97\xa5\xe6\x97\xa5", 15, buf, sizeof(buf));
	assert_string_equal(buf, "\"aaaaaaaaa...\"");
	/* Exactly full: no mark. */
	log_value("a b cdefghijk", 13, buf, sizeof(buf));
	assert_string_equal(buf, "\"a b cdefghijk\"");
	/* Tiny buffers still give a value or nothing. */
	log_value("x y", 3, buf, 3);
	assert_string_equal(buf, "\"\"");
	log_value("x y", 3, buf, 5);
	assert_string_equal(buf, "\"\"");
	log_value("x y", 3, buf, 6);
	assert_string_equal(buf, "\"x y\"");
	log_value("x", 1, buf, 1);
	assert_string_equal(buf, "");
	assert_ptr_equal(log_value("x", 1, NULL, 0), NULL);
}

static uint32_t
next_rand(uint64_t *x)
{
	*x = *x * 6364136223846793005ULL + 1442695040888963407ULL;
	return (uint32_t)(*x >> 33);
}

/* Whether v is one logfmt value go-logfmt reads: see the file comment. */
static bool
well_formed(const char *v)
{
	size_t n = strlen(v), i;

	if (n == 0)
		return true;
	if (v[0] != '"') {
		for (i = 0; i < n; i++)
			if ((unsigned char)v[i] <= ' ' || (unsigned char)v[i] >= 0x7f ||
			    v[i] == '"' || v[i] == '=' || v[i] == '\\')
				return false;
		return true;
	}
	if (n < 2 || v[n - 1] != '"')
		return false;
	for (i = 1; i < n - 1; i++) {
		unsigned char c = (unsigned char)v[i];
		if (c < 0x20 || c == 0x7f || c == '"')
			return false;
		if (c != '\\')
			continue;
		if (i + 1 >= n - 1)
			return false;
		/* go-logfmt unquotes as encoding/json does: \b and \f too. */
		if (strchr("\"\\bfnrt", v[i + 1]) != NULL) {
			i++;
		} else if (v[i + 1] == 'u' && i + 5 < n - 1 &&
		    strspn(v + i + 2, "0123456789abcdef") >= 4) {
			i += 5;
		} else {
			return false;
		}
	}
	return true;
}

static void
test_random_bytes(void **state)
{
	char in[64], buf[200], whole[6 * 64 + 3];
	uint64_t x = 7;

	(void)state;
	for (int k = 0; k < 20000; k++) {
		size_t len = next_rand(&x) % sizeof(in), cap = 1 + next_rand(&x) % sizeof(buf);
		for (size_t i = 0; i < len; i++)
			in[i] = (char)(next_rand(&x) % 4 == 0 ? 0x80 + next_rand(&x) % 128 :
			    next_rand(&x) % 128);
		log_value(in, len, buf, cap);
		assert_true(strlen(buf) < cap);
		if (!well_formed(buf))
			fail_msg("not a logfmt value (cap %zu): %s", cap, buf);
		/* Room for the worst case (6 bytes an input byte): never cut. */
		log_value(in, len, whole, sizeof(whole));
		if (cap >= 6 * len + 3)
			assert_string_equal(buf, whole);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bare_and_quoted),
		cmocka_unit_test(test_cut),
		cmocka_unit_test(test_random_bytes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
