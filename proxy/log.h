/*
 * log.h: mtlsd's operator log, on stderr.
 *
 * One line per event: "TIME LEVEL message", the message itself key=value with
 * the connection id first where there is one.  Each line goes out in a single
 * write(2), so lines from worker threads never interleave.  Never log key
 * material or payload.
 */
#ifndef MTLSD_PROXY_LOG_H
#define MTLSD_PROXY_LOG_H

#include <stdbool.h>

#include "config/config.h"

/* Sets the threshold; messages above it are dropped.  Thread-safe. */
void log_set_level(enum log_level level);

/* Whether a message of this level would be written (to skip costly formatting). */
bool log_enabled(enum log_level level);

/* warn with ": strerror(errno)" appended; warnx without. */
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Logs at error level and exits with status 1. */
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/*
 * Writes s[0..slen) (any bytes) into buf (len >= 3 bytes, NUL-terminated) as
 * one logfmt value, the way go-logfmt writes one and every logfmt parser
 * reads it: bare when it is not empty and all printable ASCII other than
 * space, '=', '"' and '\\'; otherwise in double quotes, with \" \\ \n \r
 * \t, \u00XX for the other C0 controls and DEL, \uXXXX for the characters
 * utf8.h escapes, and \ufffd for each ill-formed UTF-8 subsequence; other
 * UTF-8 as it is.  A value longer than buf is cut at a character boundary,
 * ending in "..." inside its quotes.  Returns buf.
 */
const char *log_value(const char *s, size_t slen, char *buf, size_t len);

#endif /* MTLSD_PROXY_LOG_H */
