/*
 * audit.c: the audit trail: JSON lines, per-worker buffers, the shared sink.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "proxy/log.h"
#include "proxy/utf8.h"
#include "proxy/audit.h"

/* Ends a shortened string: U+2026 HORIZONTAL ELLIPSIS. */
#define MARK		"\xe2\x80\xa6"
#define MARK_LEN	(sizeof(MARK) - 1)
#define TRUNC_KEY	",\"truncated\":true"
#define TRUNC_LEN	(sizeof(TRUNC_KEY) - 1)

/* The string fields, in the order they are written (audit.h); the counts
 * go after cipher. */
enum { F_CONN_ID, F_HOST, F_ROUTE, F_PEER_ADDR, F_PEER_ID, F_PEER_SERIAL,
	F_PEER_SHA256, F_PEER_ISSUER, F_SNI, F_TARGET, F_UPSTREAM, F_TLS_VERSION,
	F_CIPHER, F_REASON, F_DETAIL, F_PATH, F_RECORD_LAYER, NFIELDS };
#define F_COUNTS_BEFORE	F_REASON

static const char *const field_keys[NFIELDS] = { "conn_id", "host", "route",
	"peer_addr", "peer_id", "peer_serial", "peer_fingerprint_sha256",
	"peer_issuer", "sni", "target", "upstream", "tls_version", "cipher",
	"reason", "detail", "path", "record_layer" };

static const char *const event_names[] = { "accept", "handshake_ok",
	"handshake_fail", "denied", "refused", "close" };

struct field {
	const unsigned char *s;		/* NULL: omitted */
	size_t len;
};

/* Where formatted bytes go; p == NULL only counts them. */
struct out {
	char *p;
	size_t n;
};

static void
put(struct out *o, const char *s, size_t len)
{
	if (o->p != NULL)
		memcpy(o->p + o->n, s, len);
	o->n += len;
}

#define PUT_LIT(o, lit)	put((o), (lit), sizeof(lit) - 1)

static void
put_u64(struct out *o, uint64_t v)
{
	char num[24];
	int n = snprintf(num, sizeof(num), "%" PRIu64, v);

	put(o, num, (size_t)n);
}

/*
 * Writes s[0..len) as the inside of a JSON string in at most budget bytes,
 * using at most AUDIT_STR_MAX input bytes.  What does not fit is cut at a
 * character boundary and MARK appended (when budget leaves it room).
 * Returns the bytes produced; *cut says whether it was shortened.
 */
static size_t
json_string(struct out *o, const unsigned char *s, size_t len, size_t budget,
    bool *cut)
{
	size_t start = o->n, keep = o->n, i = 0;
	size_t lim = len < AUDIT_STR_MAX ? len : AUDIT_STR_MAX;
	size_t mroom = budget >= MARK_LEN ? budget - MARK_LEN : 0;

	while (i < len) {
		char esc[UTF8_ESC_MAX];
		const char *ep;
		size_t en, n = utf8_escape_next(s + i, len - i, esc, &ep, &en);

		if (i + n > lim)
			break;
		if (o->n - start + en > budget)
			break;
		put(o, ep, en);
		i += n;
		/* The last point a marker could still follow, should we stop. */
		if (o->n - start <= mroom)
			keep = o->n;
	}
	*cut = i < len;
	if (*cut) {
		o->n = keep;
		if (budget >= MARK_LEN)
			PUT_LIT(o, MARK);
	}
	return o->n - start;
}

static void
put_field(struct out *o, int i, const struct field *f, size_t budget,
    size_t *produced, bool *cut)
{
	bool c;

	*produced = 0;
	if (f->s == NULL)
		return;
	PUT_LIT(o, ",\"");
	put(o, field_keys[i], strlen(field_keys[i]));
	PUT_LIT(o, "\":\"");
	*produced = json_string(o, f->s, f->len, budget, &c);
	PUT_LIT(o, "\"");
	*cut |= c;
}

/*
 * Writes (or counts, o->p == NULL) the whole line.  f and budget per string
 * field; produced[] receives each string's escaped length.  Returns whether
 * any string was shortened.
 */
static bool
emit(struct out *o, const struct audit_record *r, const char *stamp,
    const struct field *f, const size_t *budget, size_t *produced)
{
	bool cut = false;
	int i;

	PUT_LIT(o, "{\"ts\":\"");
	put(o, stamp, strlen(stamp));
	PUT_LIT(o, "\",\"schema_version\":");
	put_u64(o, AUDIT_SCHEMA_VERSION);
	PUT_LIT(o, ",\"event\":\"");
	put(o, audit_event_name(r->event), strlen(audit_event_name(r->event)));
	PUT_LIT(o, "\"");
	if (r->conn != 0) {
		PUT_LIT(o, ",\"conn\":");
		put_u64(o, r->conn);
	}
	for (i = 0; i < NFIELDS; i++) {
		if (i == F_COUNTS_BEFORE && r->has_counts) {
			PUT_LIT(o, ",\"bytes_in\":");
			put_u64(o, r->bytes_in);
			PUT_LIT(o, ",\"bytes_out\":");
			put_u64(o, r->bytes_out);
			PUT_LIT(o, ",\"duration_ms\":");
			put_u64(o, r->duration_ms);
		}
		put_field(o, i, &f[i], budget[i], &produced[i], &cut);
	}
	if (cut)
		PUT_LIT(o, TRUNC_KEY);
	PUT_LIT(o, "}\n");
	return cut;
}

/* RFC 3339, UTC, milliseconds: 24 characters for years 0..9999. */
static void
format_stamp(char *stamp, size_t len, const struct timespec *ts)
{
	time_t sec = ts->tv_sec;
	struct tm tm;

	if (gmtime_r(&sec, &tm) == NULL || tm.tm_year + 1900 > 9999 ||
	    tm.tm_year + 1900 < 0) {
		snprintf(stamp, len, "%s", "1970-01-01T00:00:00.000Z");
		return;
	}
	snprintf(stamp, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
	    tm.tm_sec, (int)(ts->tv_nsec / 1000000 % 1000));
}

static void
fields_of(const struct audit_record *r, struct field *f)
{
	const char *s[NFIELDS] = { r->conn_id, r->host, r->route, r->peer_addr,
	    NULL, r->peer_serial, r->peer_fingerprint, r->peer_issuer, r->sni,
	    r->target, r->upstream, r->tls_version, r->cipher, r->reason,
	    r->detail, r->path, r->record_layer };
	int i;

	for (i = 0; i < NFIELDS; i++) {
		f[i].s = (const unsigned char *)s[i];
		f[i].len = s[i] != NULL ? strlen(s[i]) : 0;
	}
	f[F_PEER_ID].s = (const unsigned char *)r->peer_id;
	f[F_PEER_ID].len = r->peer_id != NULL ? r->peer_id_len : 0;
}

/*
 * Sets budget[] so the line fits cap bytes and returns an upper bound of its
 * length, or 0 if nothing can make it fit.  Strings longer than a common
 * limit x are cut to x, x as large as fits: the longest give way first and
 * every string keeps as much as the others allow.
 */
static size_t
plan(const struct audit_record *r, const char *stamp, const struct field *f,
    size_t cap, size_t *budget)
{
	struct out o = { NULL, 0 };
	size_t full[NFIELDS], fixed, avail, lo, hi, sum;
	int i;
	bool cut;

	for (i = 0; i < NFIELDS; i++)
		budget[i] = SIZE_MAX;
	cut = emit(&o, r, stamp, f, budget, full);
	if (o.n <= cap)
		return o.n;
	fixed = o.n + (cut ? 0 : TRUNC_LEN);
	hi = 0;
	for (i = 0; i < NFIELDS; i++) {
		fixed -= full[i];
		if (full[i] > hi)
			hi = full[i];
	}
	if (fixed > cap)
		return 0;
	avail = cap - fixed;
	/* Largest x in [0, hi) with sum(min(full, x)) <= avail; 0 always fits. */
	lo = 0;
	while (lo + 1 < hi) {
		size_t x = lo + (hi - lo) / 2;

		for (sum = 0, i = 0; i < NFIELDS; i++)
			sum += full[i] < x ? full[i] : x;
		if (sum <= avail)
			lo = x;
		else
			hi = x;
	}
	for (sum = fixed, i = 0; i < NFIELDS; i++) {
		if (full[i] > lo)
			budget[i] = lo;
		sum += full[i] < lo ? full[i] : lo;
	}
	return sum;
}

const char *
audit_event_name(enum audit_event ev)
{
	if ((unsigned)ev >= sizeof(event_names) / sizeof(event_names[0]))
		return "unknown";
	return event_names[ev];
}

size_t
audit_format(char *dst, size_t cap, const struct audit_record *r,
    const struct timespec *ts, bool *truncated)
{
	struct field f[NFIELDS];
	size_t budget[NFIELDS], produced[NFIELDS];
	struct out o = { dst, 0 };
	char stamp[64];
	bool cut;

	format_stamp(stamp, sizeof(stamp), ts);
	fields_of(r, f);
	if (plan(r, stamp, f, cap, budget) == 0)
		return 0;
	cut = emit(&o, r, stamp, f, budget, produced);
	if (truncated != NULL)
		*truncated = cut;
	return o.n;
}

static int
open_file(const char *path)
{
	int fd;

	/* O_NONBLOCK: a FIFO without a reader fails (ENXIO) instead of
	 * hanging start-up, and a full one says EAGAIN; files ignore it. */
	do
		fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC |
		    O_NOCTTY | O_NONBLOCK, 0640);
	while (fd == -1 && errno == EINTR);
	return fd;
}

int
audit_open(struct audit_sink *s, const char *path)
{
	int saved;

	s->fd = -1;
	s->path = NULL;
	/* Once, at start: the name the records carry even if it changes. */
	if (gethostname(s->host, sizeof(s->host)) == -1 || s->host[0] == '\0')
		snprintf(s->host, sizeof(s->host), "%s", "unknown");
	s->host[sizeof(s->host) - 1] = '\0';
	if (strcmp(path, "-") == 0) {
		s->fd = STDOUT_FILENO;
		return 0;
	}
	if ((s->path = strdup(path)) == NULL)
		return -1;
	if ((s->fd = open_file(path)) == -1) {
		saved = errno;
		free(s->path);
		s->path = NULL;
		errno = saved;
		return -1;
	}
	return 0;
}

int
audit_reopen(struct audit_sink *s)
{
	int fd, r, saved;

	if (s->path == NULL)
		return 0;
	if ((fd = open_file(s->path)) == -1)
		return -1;
	/*
	 * Replaces the file under the same descriptor number in one step: a
	 * worker's write lands wholly in the old file or the new one.  dup3,
	 * not dup2, keeps close-on-exec.
	 */
	do
		r = dup3(fd, s->fd, O_CLOEXEC);
	while (r == -1 && errno == EINTR);
	saved = errno;
	close(fd);
	errno = saved;
	return r == -1 ? -1 : 0;
}

void
audit_close(struct audit_sink *s)
{
	if (s->path != NULL && s->fd != -1)
		close(s->fd);
	free(s->path);
	s->path = NULL;
	s->fd = -1;
}

int
audit_buf_init(struct audit_buf *b, struct audit_sink *s, size_t cap)
{
	b->sink = s;
	b->data = NULL;
	b->cap = b->off = b->len = b->lines = 0;
	b->broken = b->failing = false;
	atomic_init(&b->written, 0);
	atomic_init(&b->dropped, 0);
	atomic_init(&b->truncated, 0);
	if (cap < AUDIT_BUF_MIN) {
		errno = EINVAL;
		return -1;
	}
	if ((b->data = malloc(cap)) == NULL)
		return -1;
	b->cap = cap;
	return 0;
}

void
audit_buf_free(struct audit_buf *b)
{
	if (b->data == NULL)
		return;
	audit_flush(b);
	counter_add(&b->dropped, b->lines);
	free(b->data);
	b->data = NULL;
	b->cap = b->off = b->len = b->lines = 0;
}

void
audit_flush(struct audit_buf *b)
{
	char nl = '\n';
	struct iovec iov[2];
	int iovcnt = 0;
	size_t done, k;
	ssize_t n;
	const char *p, *end;

	if (b->data == NULL || b->off == b->len)
		return;
	if (b->broken)
		iov[iovcnt++] = (struct iovec){ .iov_base = &nl, .iov_len = 1 };
	iov[iovcnt++] = (struct iovec){ .iov_base = b->data + b->off,
	    .iov_len = b->len - b->off };
	do
		n = writev(b->sink->fd, iov, iovcnt);
	while (n == -1 && errno == EINTR);
	if (n == -1) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return;
		if (!b->failing)
			log_warn("event=audit_write path=%s dropped=%zu",
			    b->sink->path != NULL ? b->sink->path : "-", b->lines);
		b->failing = true;
		counter_add(&b->dropped, b->lines);
		/* A line's head is out: end it so the next lines stay whole. */
		if (b->off > 0 && b->data[b->off - 1] != '\n')
			b->broken = true;
		b->off = b->len = b->lines = 0;
		return;
	}
	b->failing = false;
	done = (size_t)n;
	if (b->broken && done > 0) {
		b->broken = false;
		done--;
	}
	for (k = 0, p = b->data + b->off, end = p + done;
	    (p = memchr(p, '\n', (size_t)(end - p))) != NULL; p++)
		k++;
	counter_add(&b->written, k);
	b->lines -= k;
	b->off += done;
	if (b->off == b->len)
		b->off = b->len = 0;
}

void
audit_write(struct audit_buf *b, const struct audit_record *r)
{
	struct field f[NFIELDS];
	size_t budget[NFIELDS], produced[NFIELDS], need;
	struct audit_record rec = *r;
	struct timespec now;
	struct out o;
	char stamp[64];

	if (b->data == NULL)
		return;
	rec.host = b->sink->host;
	r = &rec;
	clock_gettime(CLOCK_REALTIME, &now);
	format_stamp(stamp, sizeof(stamp), &now);
	fields_of(r, f);
	need = plan(r, stamp, f, b->cap, budget);
	if (need == 0) {
		counter_add(&b->dropped, 1);
		return;
	}
	if (b->cap - b->len < need) {
		audit_flush(b);
		if (b->off > 0) {
			/* A short write's tail: move it down to make room. */
			memmove(b->data, b->data + b->off, b->len - b->off);
			b->len -= b->off;
			b->off = 0;
		}
		if (b->cap - b->len < need) {
			counter_add(&b->dropped, 1);
			return;
		}
	}
	o.p = b->data + b->len;
	o.n = 0;
	if (emit(&o, r, stamp, f, budget, produced))
		counter_add(&b->truncated, 1);
	b->len += o.n;
	b->lines++;
}

uint64_t
audit_buf_written(const struct audit_buf *b)
{
	return counter_get(&b->written);
}

uint64_t
audit_buf_dropped(const struct audit_buf *b)
{
	return counter_get(&b->dropped);
}

uint64_t
audit_buf_truncated(const struct audit_buf *b)
{
	return counter_get(&b->truncated);
}
