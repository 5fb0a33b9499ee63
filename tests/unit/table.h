/*
 * table.h: for table-driven unit tests.  A driver walks a static table of
 * rows, names the row it is on with row_at(), and checks with the row_*
 * assertions: each is the cmocka assertion of the same name, preceded on
 * failure by a "# row: ..." line, so that a failure says which row broke
 * and not only which line of the driver.  Include after <cmocka.h>.
 */
#ifndef MTLSD_TESTS_TABLE_H
#define MTLSD_TESTS_TABLE_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* The number of rows in a static table. */
#define ROWS(t)	(sizeof(t) / sizeof((t)[0]))

/* Appends the tests of a static array of cmocka tests to tests[n++]. */
#define TESTS_APPEND(tests, n, fixed) \
	for (size_t test_i_ = 0; test_i_ < ROWS(fixed); test_i_++) \
		(tests)[(n)++] = (fixed)[test_i_]

/*
 * Appends one cmocka test per row of the static table rows to tests[n++]:
 * named by the row's name member, running func with *state the row.  A
 * table whose rows are tests of their own gets a TAP line per row.
 */
#define ROW_TESTS(tests, n, rows, func) \
	for (size_t row_i_ = 0; row_i_ < ROWS(rows); row_i_++) \
		(tests)[(n)++] = (struct CMUnitTest){ .name = (rows)[row_i_].name, \
		    .test_func = (func), .initial_state = (void *)&(rows)[row_i_] }

static char table_row[1024];	/* what row_at() last named */

/* Names the row under test (printf-style), for the failures that follow. */
__attribute__((format(printf, 1, 2), unused)) static void
row_at(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(table_row, sizeof(table_row), fmt, ap);
	va_end(ap);
}

__attribute__((unused)) static void
row_report(void)
{
	print_error("# row: %s\n", table_row);
}

#define row_true(c) \
	row_true_(cast_to_largest_integral_type(c), #c, __FILE__, __LINE__)
#define row_false(c) \
	row_true_(!(cast_to_largest_integral_type(c)), "!(" #c ")", __FILE__, __LINE__)
#define row_non_null(c) \
	row_true_(cast_ptr_to_largest_integral_type(c), #c, __FILE__, __LINE__)
#define row_int_equal(a, b) \
	row_int_equal_(cast_to_largest_integral_type(a), \
	    cast_to_largest_integral_type(b), __FILE__, __LINE__)
#define row_string_equal(a, b) \
	row_string_equal_((const char *)(a), (const char *)(b), __FILE__, __LINE__)
#define row_memory_equal(a, b, n) \
	row_memory_equal_((const void *)(a), (const void *)(b), (n), __FILE__, __LINE__)

__attribute__((unused)) static void
row_true_(LargestIntegralType v, const char *expr, const char *file, int line)
{
	if (!v)
		row_report();
	_assert_true(v, expr, file, line);
}

__attribute__((unused)) static void
row_int_equal_(LargestIntegralType a, LargestIntegralType b, const char *file,
    int line)
{
	if (a != b)
		row_report();
	_assert_int_equal(a, b, file, line);
}

__attribute__((unused)) static void
row_string_equal_(const char *a, const char *b, const char *file, int line)
{
	if (a == NULL || b == NULL || strcmp(a, b) != 0)
		row_report();
	_assert_string_equal(a, b, file, line);
}

__attribute__((unused)) static void
row_memory_equal_(const void *a, const void *b, size_t n, const char *file,
    int line)
{
	if (memcmp(a, b, n) != 0)
		row_report();
	_assert_memory_equal(a, b, n, file, line);
}

#endif
