/*
 * certs.c: `mtlsd certs`, the command line.
 *
 * Every argument is checked before anything is generated or written, so a
 * usage error (exit 2) never leaves a file behind.  The parser is our own
 * rather than getopt_long(): getopt keeps global state and permutes argv,
 * and certs_main() must be callable more than once in a process (the tests
 * do) without touching argv.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <mbedtls/error.h>
#include <psa/crypto.h>

#include "certs/certs_int.h"
#include "certs/certs.h"

#define EXIT_USAGE	2
#define HELP_SHOWN	(-1)	/* parse_args: --help printed the usage; exit 0 */
#define SKEW_SECONDS	(5 * 60)	/* default not_before: now minus clock skew */
#define HOURS_MAX	(CERTS_DAYS_MAX * 24)

enum opt_flag {
	OPT_DIR = 1 << 0, OPT_NAME = 1 << 1, OPT_SAN = 1 << 2,
	OPT_DAYS = 1 << 3, OPT_NOT_BEFORE = 1 << 4, OPT_FORCE = 1 << 5
};

static const struct option_def {
	const char *name;
	enum opt_flag flag;
	bool has_value;
} options[] = {
	{ "dir", OPT_DIR, true },
	{ "name", OPT_NAME, true },
	{ "san", OPT_SAN, true },
	{ "days", OPT_DAYS, true },
	{ "not-before", OPT_NOT_BEFORE, true },
	{ "force", OPT_FORCE, false },
};

static const char usage_text[] =
    "usage: mtlsd certs init-ca --dir DIR [--name NAME] [--days N] [--not-before WHEN] [--force]\n"
    "       mtlsd certs issue --dir DIR --name NAME [--san dns:X,ip:Y,uri:Z]... [--days N]\n"
    "                         [--not-before WHEN] [--force]\n"
    "       mtlsd certs show FILE\n"
    "WHEN is YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS (UTC), or -Nd, +Nd, -Nh, +Nh from now\n";

static void
vwarn_line(const char *why, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void
vwarn_line(const char *why, const char *fmt, va_list ap)
{
	char msg[1024];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (why != NULL)
		fprintf(stderr, "mtlsd certs: %s: %s\n", msg, why);
	else
		fprintf(stderr, "mtlsd certs: %s\n", msg);
}

void
certs_warn(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	vwarn_line(strerror(saved), fmt, ap);
	va_end(ap);
	errno = saved;
}

void
certs_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vwarn_line(NULL, fmt, ap);
	va_end(ap);
}

void
certs_warn_tls(int ret, const char *fmt, ...)
{
	char why[160];
	va_list ap;

	mbedtls_strerror(ret, why, sizeof(why));
	va_start(ap, fmt);
	vwarn_line(why, fmt, ap);
	va_end(ap);
}

/* A usage error: the reason, then the usage, on stderr; the exit status. */
static int
usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int
usage_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vwarn_line(NULL, fmt, ap);
	va_end(ap);
	fputs(usage_text, stderr);
	return EXIT_USAGE;
}

bool
certs_dns_name_ok(const char *p, size_t len, bool wildcard)
{
	size_t i, label = 0;
	bool all_digits = true;

	if (wildcard && len > 2 && p[0] == '*' && p[1] == '.') {
		p += 2;
		len -= 2;
	}
	if (len == 0 || len > 253)
		return false;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c == '.') {
			if (label == 0 || p[i - 1] == '-')
				return false;
			label = 0;
			all_digits = true;
			continue;
		}
		if (!isalnum(c) && c != '-')
			return false;
		if (c == '-' && label == 0)
			return false;
		if (!isdigit(c))
			all_digits = false;
		if (++label > 63)
			return false;
	}
	/* An all-digit last label would make "10.0.0.1" a host name. */
	return label > 0 && p[len - 1] != '-' && !all_digits;
}

const char *
certs_fmt_time(char *buf, size_t len, time_t t)
{
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(buf, len, "%Y-%m-%d %H:%M:%SZ", &tm) == 0)
		snprintf(buf, len, "(time out of range)");
	return buf;
}

/* Strict unsigned decimal in [min, max]: no sign, no space, no suffix. */
static int
parse_number(const char *s, size_t n, long min, long max, long *v)
{
	long x = 0;
	size_t i;

	if (n == 0 || n > 9)
		return -1;
	for (i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -1;
		x = x * 10 + (s[i] - '0');
	}
	if (x < min || x > max)
		return -1;
	*v = x;
	return 0;
}

/* --not-before: YYYY-MM-DD, YYYY-MM-DDTHH:MM:SS[Z] (UTC), or [+-]N(d|h). */
static int
parse_when(const char *s, time_t now, time_t *t)
{
	static const char shape[] = "dddd-dd-ddTdd:dd:dd";
	size_t i, len = strlen(s);
	long n, year, mon, day, hour = 0, min = 0, sec = 0;
	struct tm tm, check;

	if (s[0] == '+' || s[0] == '-') {
		if (len < 3 || (s[len - 1] != 'd' && s[len - 1] != 'h'))
			return -1;
		if (parse_number(s + 1, len - 2, 0,
		    s[len - 1] == 'd' ? CERTS_DAYS_MAX : HOURS_MAX, &n) == -1)
			return -1;
		n *= s[len - 1] == 'd' ? 86400 : 3600;
		*t = s[0] == '+' ? now + n : now - n;
		return 0;
	}
	if (len == 20 && s[19] == 'Z')
		len = 19;
	if (len != 10 && len != 19)
		return -1;
	for (i = 0; i < len; i++)
		if (shape[i] == 'd' ? !isdigit((unsigned char)s[i]) : s[i] != shape[i])
			return -1;
	if (parse_number(s, 4, 1970, 9999, &year) == -1 ||
	    parse_number(s + 5, 2, 1, 12, &mon) == -1 ||
	    parse_number(s + 8, 2, 1, 31, &day) == -1)
		return -1;
	if (len == 19 && (parse_number(s + 11, 2, 0, 23, &hour) == -1 ||
	    parse_number(s + 14, 2, 0, 59, &min) == -1 ||
	    parse_number(s + 17, 2, 0, 59, &sec) == -1))
		return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = (int)year - 1900;
	tm.tm_mon = (int)mon - 1;
	tm.tm_mday = (int)day;
	tm.tm_hour = (int)hour;
	tm.tm_min = (int)min;
	tm.tm_sec = (int)sec;
	*t = timegm(&tm);
	/* timegm() quietly turns Feb 30 into March 2; a round trip catches it. */
	if (gmtime_r(t, &check) == NULL || check.tm_mday != (int)day ||
	    check.tm_mon != (int)mon - 1)
		return -1;
	return 0;
}

/* A URI needs a scheme (RFC 3986) and no spaces or control characters. */
static bool
uri_ok(const char *p, size_t len)
{
	size_t i;

	if (len == 0 || !isalpha((unsigned char)p[0]))
		return false;
	for (i = 1; i < len && p[i] != ':'; i++)
		if (!isalnum((unsigned char)p[i]) && strchr("+-.", p[i]) == NULL)
			return false;
	if (i + 1 >= len)
		return false;
	for (; i < len; i++)
		if ((unsigned char)p[i] <= ' ' || (unsigned char)p[i] >= 0x7f)
			return false;
	return true;
}

/* One --san argument: comma-separated dns:X, ip:Y, uri:Z items.  Returns 0
 * or the usage exit status after printing why. */
static int
parse_san(const char *arg, struct certs_opts *o)
{
	const char *item = arg, *end, *colon;
	struct certs_san *san;
	char ipbuf[INET6_ADDRSTRLEN];
	size_t klen, vlen;

	for (;; item = end + 1) {
		if ((end = strchr(item, ',')) == NULL)
			end = item + strlen(item);
		if (end == item)
			return usage_error("--san %s: empty item", arg);
		colon = memchr(item, ':', (size_t)(end - item));
		if (colon == NULL || colon + 1 == end)
			return usage_error("--san: '%.*s' is not kind:value "
			    "(dns:, ip: or uri:)", (int)(end - item), item);
		if (o->nsans == CERTS_MAX_SANS)
			return usage_error("--san: more than %d names",
			    CERTS_MAX_SANS);
		san = &o->sans[o->nsans];
		klen = (size_t)(colon - item);
		san->p = colon + 1;
		san->len = vlen = (size_t)(end - san->p);
		if (klen == 3 && strncasecmp(item, "dns", 3) == 0) {
			san->kind = CERTS_SAN_DNS;
			if (!certs_dns_name_ok(san->p, vlen, true))
				return usage_error("--san: '%.*s' is not a DNS "
				    "name", (int)vlen, san->p);
		} else if (klen == 2 && strncasecmp(item, "ip", 2) == 0) {
			san->kind = CERTS_SAN_IP;
			if (vlen >= sizeof(ipbuf))
				goto bad_ip;
			memcpy(ipbuf, san->p, vlen);
			ipbuf[vlen] = '\0';
			if (inet_pton(AF_INET, ipbuf, san->ip) == 1)
				san->len = 4;
			else if (inet_pton(AF_INET6, ipbuf, san->ip) == 1)
				san->len = 16;
			else
				goto bad_ip;
			san->p = (const char *)san->ip;
		} else if (klen == 3 && strncasecmp(item, "uri", 3) == 0) {
			san->kind = CERTS_SAN_URI;
			if (!uri_ok(san->p, vlen))
				return usage_error("--san: '%.*s' is not a URI "
				    "(scheme:rest, no spaces)", (int)vlen, san->p);
		} else
			return usage_error("--san: unknown kind '%.*s' (use "
			    "dns:, ip: or uri:)", (int)klen, item);
		o->nsans++;
		if (*end == '\0')
			return 0;
	}
bad_ip:
	return usage_error("--san: '%.*s' is not an IPv4 or IPv6 address",
	    (int)vlen, colon + 1);
}

/* NAME for issue is also a file name: no path tricks, no hidden files. */
static int
check_file_name(const char *name)
{
	size_t i, len = strlen(name);

	if (len == 0 || len > CERTS_NAME_MAX)
		return usage_error("--name: must be 1 to %d characters",
		    CERTS_NAME_MAX);
	if (name[0] == '.')
		return usage_error("--name %s: must not start with '.'", name);
	for (i = 0; i < len; i++)
		if (!isalnum((unsigned char)name[i]) && strchr("._-", name[i]) == NULL)
			return usage_error("--name %s: only letters, digits, "
			    "'.', '_' and '-' are allowed", name);
	/* DIR/ca.key is the CA's: --force must not be able to replace it. */
	if (strcmp(name, "ca") == 0)
		return usage_error("--name ca: reserved for the CA's own files");
	return 0;
}

/* The CA's NAME only becomes a CN, so anything printable goes. */
static int
check_ca_name(const char *name)
{
	size_t i, len = strlen(name);

	if (len == 0 || len > CERTS_NAME_MAX)
		return usage_error("--name: must be 1 to %d bytes", CERTS_NAME_MAX);
	for (i = 0; i < len; i++)
		if ((unsigned char)name[i] < ' ' || name[i] == 0x7f)
			return usage_error("--name: control characters are not "
			    "allowed");
	return 0;
}

/* Reads the options of one command; argv[0] is the command.  Returns 0,
 * HELP_SHOWN, or the usage exit status after printing why. */
static int
parse_args(int argc, char **argv, unsigned allowed, struct certs_opts *o,
    const char **operand)
{
	const struct option_def *def;
	const char *arg, *val, *eq;
	unsigned seen = 0;
	time_t now = time(NULL);
	long days = 0;
	bool only_operands = false;
	size_t i, nlen;
	int r;

	o->not_before = now - SKEW_SECONDS;
	for (int ai = 1; ai < argc; ai++) {
		arg = argv[ai];
		if (only_operands || arg[0] != '-' || strcmp(arg, "-") == 0) {
			if (operand == NULL || *operand != NULL)
				return usage_error("%s: unexpected argument '%s'",
				    argv[0], arg);
			*operand = arg;
			continue;
		}
		if (strcmp(arg, "--") == 0) {
			only_operands = true;
			continue;
		}
		if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
			fputs(usage_text, stdout);
			return HELP_SHOWN;
		}
		if (strncmp(arg, "--", 2) != 0)
			return usage_error("%s: unknown option %s", argv[0], arg);
		eq = strchr(arg + 2, '=');
		nlen = eq != NULL ? (size_t)(eq - arg - 2) : strlen(arg + 2);
		def = NULL;
		for (i = 0; i < sizeof(options) / sizeof(options[0]); i++)
			if (strlen(options[i].name) == nlen &&
			    strncmp(options[i].name, arg + 2, nlen) == 0)
				def = &options[i];
		if (def == NULL || (def->flag & allowed) == 0)
			return usage_error("%s: unknown option %.*s", argv[0],
			    (int)nlen + 2, arg);
		if (!def->has_value && eq != NULL)
			return usage_error("--%s takes no value", def->name);
		val = eq != NULL ? eq + 1 : "";
		if (def->has_value && eq == NULL) {
			if (ai + 1 == argc)
				return usage_error("--%s needs a value", def->name);
			val = argv[++ai];
		}
		if ((seen & def->flag) && def->flag != OPT_SAN)
			return usage_error("--%s given twice", def->name);
		seen |= def->flag;
		switch (def->flag) {
		case OPT_DIR:
			if (*val == '\0')
				return usage_error("--dir: empty path");
			o->dir = val;
			break;
		case OPT_NAME:
			o->name = val;
			break;
		case OPT_SAN:
			o->san_given = true;
			if ((r = parse_san(val, o)) != 0)
				return r;
			break;
		case OPT_DAYS:
			if (parse_number(val, strlen(val), 1, CERTS_DAYS_MAX,
			    &days) == -1)
				return usage_error("--days %s: expected a whole "
				    "number from 1 to %d", val, CERTS_DAYS_MAX);
			o->days = (int)days;
			break;
		case OPT_NOT_BEFORE:
			if (parse_when(val, now, &o->not_before) == -1)
				return usage_error("--not-before %s: expected "
				    "YYYY-MM-DD, YYYY-MM-DDTHH:MM:SS, or -Nd, +Nd, "
				    "-Nh, +Nh (N up to %d days)", val,
				    CERTS_DAYS_MAX);
			break;
		case OPT_FORCE:
			o->force = true;
			break;
		}
	}
	if ((allowed & OPT_DIR) && o->dir == NULL)
		return usage_error("%s: --dir is required", argv[0]);
	return 0;
}

/* Refuses a validity the X.509 time formats cannot hold. */
static int
check_validity(const struct certs_opts *o)
{
	time_t end = o->not_before + (time_t)o->days * 86400;
	struct tm tm;

	if (gmtime_r(&o->not_before, &tm) == NULL || tm.tm_year + 1900 < 1970)
		return usage_error("--not-before: before 1970");
	if (gmtime_r(&end, &tm) == NULL || tm.tm_year + 1900 > 9999)
		return usage_error("--days: the certificate would end after "
		    "the year 9999");
	return 0;
}

static int
cmd_init_ca(int argc, char **argv)
{
	struct certs_opts o;
	int r;

	memset(&o, 0, sizeof(o));
	r = parse_args(argc, argv, OPT_DIR | OPT_NAME | OPT_DAYS |
	    OPT_NOT_BEFORE | OPT_FORCE, &o, NULL);
	if (r != 0)
		return r == HELP_SHOWN ? 0 : r;
	if (o.name == NULL)
		o.name = "mtlsd CA";
	if (o.days == 0)
		o.days = 3650;
	if ((r = check_ca_name(o.name)) != 0 || (r = check_validity(&o)) != 0)
		return r;
	return certs_init_ca(&o) == 0 ? 0 : 1;
}

static int
cmd_issue(int argc, char **argv)
{
	struct certs_opts o;
	int r;

	memset(&o, 0, sizeof(o));
	r = parse_args(argc, argv, OPT_DIR | OPT_NAME | OPT_SAN | OPT_DAYS |
	    OPT_NOT_BEFORE | OPT_FORCE, &o, NULL);
	if (r != 0)
		return r == HELP_SHOWN ? 0 : r;
	if (o.name == NULL)
		return usage_error("issue: --name is required");
	if (o.days == 0)
		o.days = 365;
	if ((r = check_file_name(o.name)) != 0 || (r = check_validity(&o)) != 0)
		return r;
	if (!o.san_given) {
		if (certs_dns_name_ok(o.name, strlen(o.name), false)) {
			o.sans[0].kind = CERTS_SAN_DNS;
			o.sans[0].p = o.name;
			o.sans[0].len = strlen(o.name);
			o.nsans = 1;
			printf("note: no --san given; using dns:%s\n", o.name);
		} else
			printf("note: no --san given and %s is not a DNS name; "
			    "the certificate has no subjectAltName\n", o.name);
	}
	return certs_issue(&o) == 0 ? 0 : 1;
}

static int
cmd_show(int argc, char **argv)
{
	struct certs_opts o;
	const char *file = NULL;
	int r;

	memset(&o, 0, sizeof(o));
	if ((r = parse_args(argc, argv, 0, &o, &file)) != 0)
		return r == HELP_SHOWN ? 0 : r;
	if (file == NULL)
		return usage_error("show: FILE is required");
	return certs_show(file) == 0 ? 0 : 1;
}

int
certs_main(int argc, char **argv)
{
	const char *cmd;
	int status;

	/* mbedTLS 3.6 routes some hashing through PSA; the call is idempotent. */
	if (psa_crypto_init() != PSA_SUCCESS) {
		certs_warnx("cannot initialise PSA crypto");
		return 1;
	}
	if (argc < 2)
		return usage_error("a command is required");
	cmd = argv[1];
	if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 ||
	    strcmp(cmd, "help") == 0) {
		fputs(usage_text, stdout);
		return 0;
	}
	if (strcmp(cmd, "init-ca") == 0)
		status = cmd_init_ca(argc - 1, argv + 1);
	else if (strcmp(cmd, "issue") == 0)
		status = cmd_issue(argc - 1, argv + 1);
	else if (strcmp(cmd, "show") == 0)
		status = cmd_show(argc - 1, argv + 1);
	else
		return usage_error("unknown command '%s'", cmd);
	fflush(stdout);
	return status;
}
