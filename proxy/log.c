/*
 * log.c: leveled, thread-safe, one-write-per-line logging to stderr.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "proxy/utf8.h"
#include "proxy/log.h"

static atomic_int log_level = LOG_LEVEL_INFO;

static const char *const level_names[] = { "error", "warn", "info", "debug" };

void
log_set_level(enum log_level level)
{
	atomic_store(&log_level, (int)level);
}

bool
log_enabled(enum log_level level)
{
	return (int)level <= atomic_load_explicit(&log_level, memory_order_relaxed);
}

static void
log_vwrite(enum log_level level, int errnum, const char *fmt, va_list ap)
{
	char line[4096];
	struct timespec ts;
	struct tm tm;
	size_t n;
	int r;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
	r = snprintf(line + n, sizeof(line) - n, ".%03ldZ %s ",
	    ts.tv_nsec / 1000000, level_names[level]);
	n += (size_t)r;
	r = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	n = r < 0 ? n : (n + (size_t)r >= sizeof(line) ? sizeof(line) - 1 : n + (size_t)r);
	if (errnum != 0 && n < sizeof(line) - 1) {
		r = snprintf(line + n, sizeof(line) - n, ": %s", strerror(errnum));
		n = r < 0 ? n : (n + (size_t)r >= sizeof(line) ? sizeof(line) - 1 : n + (size_t)r);
	}
	if (n >= sizeof(line) - 1)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	/* One write: lines from different threads do not interleave. */
	while (write(STDERR_FILENO, line, n) == -1 && errno == EINTR)
		;
}

#define LOG_FN(name, level, with_errno)					\
void									\
name(const char *fmt, ...)						\
{									\
	int saved = errno;						\
	va_list ap;							\
									\
	if (!log_enabled(level))					\
		return;							\
	va_start(ap, fmt);						\
	log_vwrite(level, with_errno ? saved : 0, fmt, ap);		\
	va_end(ap);							\
	errno = saved;							\
}

LOG_FN(log_warn, LOG_LEVEL_WARN, 1)
LOG_FN(log_warnx, LOG_LEVEL_WARN, 0)
LOG_FN(log_error, LOG_LEVEL_ERROR, 0)
LOG_FN(log_info, LOG_LEVEL_INFO, 0)
LOG_FN(log_debug, LOG_LEVEL_DEBUG, 0)

void
fatal(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_LEVEL_ERROR, saved, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_LEVEL_ERROR, 0, fmt, ap);
	va_end(ap);
	exit(1);
}

/* Whether s can go bare: logfmt's quoting rules, plus '\\' for clarity. */
static bool
bare_ok(const char *s, size_t slen)
{
	if (slen == 0)
		return false;
	for (size_t i = 0; i < slen; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= 0x20 || c >= 0x7f || c == '"' || c == '=' || c == '\\')
			return false;
	}
	return true;
}

const char *
log_value(const char *s, size_t slen, char *buf, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t o = 1, keep = 1, i = 0;

	if (len < 3) {
		if (len > 0)
			buf[0] = '\0';
		return buf;
	}
	if (bare_ok(s, slen) && slen < len) {
		memcpy(buf, s, slen);
		buf[slen] = '\0';
		return buf;
	}
	buf[0] = '"';
	while (i < slen) {
		char esc[UTF8_ESC_MAX];
		const char *ep;
		size_t en, n = utf8_escape_next(u + i, slen - i, esc, &ep, &en);

		/* Room for this, the closing quote and the NUL; else back to
		 * the last point "..." fits after. */
		if (o + en + 2 > len) {
			o = keep;
			if (o + 5 <= len) {
				memcpy(buf + o, "...", 3);
				o += 3;
			}
			break;
		}
		memcpy(buf + o, ep, en);
		o += en;
		i += n;
		if (o + 5 <= len)
			keep = o;
	}
	buf[o++] = '"';
	buf[o] = '\0';
	return buf;
}
