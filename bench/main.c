/*
 * main.c: mtlsd-bench's command line: subcommand, options, usage, dispatch.
 *
 * Exit status: 0 success, 1 a network error or failed check, 2 bad usage.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench.h"

enum opt {
	O_LISTEN = 1, O_CONNECT, O_ONCE, O_BYTES, O_STREAMS, O_CHUNK, O_JSON,
	O_SIZE, O_COUNT, O_WARMUP, O_CONNS, O_HOLD, O_SECONDS, O_CONCURRENCY,
	O_HELP
};

#define BIT(o)	(1u << (o))

struct cmd {
	const char *name;
	unsigned allowed;	/* BIT()s of the options it takes */
	unsigned required;
	int (*run)(const struct bench_opts *);
};

static const struct cmd cmds[] = {
	{ "echo", BIT(O_LISTEN) | BIT(O_ONCE), BIT(O_LISTEN), srv_echo },
	{ "sink", BIT(O_LISTEN) | BIT(O_ONCE), BIT(O_LISTEN), srv_sink },
	{ "push", BIT(O_CONNECT) | BIT(O_BYTES) | BIT(O_STREAMS) | BIT(O_CHUNK) |
	    BIT(O_JSON), BIT(O_CONNECT) | BIT(O_BYTES), cmd_push },
	{ "source", BIT(O_CONNECT) | BIT(O_BYTES) | BIT(O_STREAMS) |
	    BIT(O_CHUNK) | BIT(O_JSON), BIT(O_CONNECT) | BIT(O_BYTES),
	    cmd_source },
	{ "rr", BIT(O_CONNECT) | BIT(O_SIZE) | BIT(O_COUNT) | BIT(O_WARMUP) |
	    BIT(O_JSON), BIT(O_CONNECT), cmd_rr },
	{ "idle", BIT(O_CONNECT) | BIT(O_CONNS) | BIT(O_HOLD) | BIT(O_JSON),
	    BIT(O_CONNECT) | BIT(O_CONNS), cmd_idle },
	{ "connrate", BIT(O_CONNECT) | BIT(O_SECONDS) | BIT(O_CONCURRENCY) |
	    BIT(O_JSON), BIT(O_CONNECT) | BIT(O_SECONDS), cmd_connrate },
};

static const struct option longopts[] = {
	{ "listen",	required_argument,	NULL, O_LISTEN },
	{ "connect",	required_argument,	NULL, O_CONNECT },
	{ "once",	no_argument,		NULL, O_ONCE },
	{ "bytes",	required_argument,	NULL, O_BYTES },
	{ "streams",	required_argument,	NULL, O_STREAMS },
	{ "chunk",	required_argument,	NULL, O_CHUNK },
	{ "json",	no_argument,		NULL, O_JSON },
	{ "size",	required_argument,	NULL, O_SIZE },
	{ "count",	required_argument,	NULL, O_COUNT },
	{ "warmup",	required_argument,	NULL, O_WARMUP },
	{ "conns",	required_argument,	NULL, O_CONNS },
	{ "hold",	required_argument,	NULL, O_HOLD },
	{ "seconds",	required_argument,	NULL, O_SECONDS },
	{ "concurrency", required_argument,	NULL, O_CONCURRENCY },
	{ "help",	no_argument,		NULL, O_HELP },
	{ NULL, 0, NULL, 0 }
};

static void
usage(FILE *f)
{
	fputs(
"usage: mtlsd-bench echo   --listen ADDR [--once]\n"
"       mtlsd-bench sink   --listen ADDR [--once]\n"
"       mtlsd-bench push   --connect ADDR --bytes SIZE [--streams N]\n"
"                          [--chunk SIZE] [--json]\n"
"       mtlsd-bench source --connect ADDR --bytes SIZE [--streams N]\n"
"                          [--chunk SIZE] [--json]\n"
"       mtlsd-bench rr     --connect ADDR [--size SIZE] [--count N]\n"
"                          [--warmup N] [--json]\n"
"       mtlsd-bench idle   --connect ADDR --conns N [--hold SECONDS] [--json]\n"
"       mtlsd-bench connrate --connect ADDR --seconds S [--concurrency C]\n"
"                          [--json]\n"
"\n"
"ADDR is host:port, [v6]:port or unix:/path (port 0 with --listen picks one;\n"
"\"listening ADDR\" shows it).  SIZE is bytes, or a number with K, M or G\n"
"(powers of 1024).  --bytes is per stream; --chunk is the size of each send\n"
"(default 256K).  rr defaults: --size 1K --count 20000 --warmup 1000.\n"
"idle holds until stdin ends or SIGINT/SIGTERM unless --hold is given.\n"
"connrate: C threads (default 1) each connect, send 1 byte, read its echo and\n"
"close, in a loop for S seconds; reports connections/s, errors and p50/p99\n"
"connect+echo time (run it against an echo server, through the proxies).\n"
"Exit status: 0 ok, 1 network error or failed check, 2 usage.\n", f);
}

/* SIZE: a decimal number with an optional K, M or G (powers of 1024). */
static int
parse_size(const char *s, uint64_t *v)
{
	unsigned long long n;
	uint64_t mult = 1;
	char *end;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	n = strtoull(s, &end, 10);
	if (errno != 0)
		return -1;
	if (*end != '\0') {
		if (end[1] != '\0')
			return -1;
		switch (*end) {
		case 'K': case 'k': mult = 1ULL << 10; break;
		case 'M': case 'm': mult = 1ULL << 20; break;
		case 'G': case 'g': mult = 1ULL << 30; break;
		default: return -1;
		}
	}
	if (n > UINT64_MAX / mult)
		return -1;
	*v = n * mult;
	return 0;
}

static int
parse_count(const char *s, unsigned long min, unsigned long max,
    unsigned long *v)
{
	unsigned long long n;
	char *end;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	n = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || n < min || n > max)
		return -1;
	*v = (unsigned long)n;
	return 0;
}

static const char *
opt_name(int opt)
{
	for (const struct option *lo = longopts; lo->name != NULL; lo++)
		if (lo->val == opt)
			return lo->name;
	return "?";
}

/* Reads one option's value into *o; -1 after saying what is wrong with it. */
static int
set_option(struct bench_opts *o, int opt, const char *val)
{
	const char *why = NULL, *name = opt_name(opt);
	char *end;

	switch (opt) {
	case O_LISTEN:
	case O_CONNECT:
		if (net_parse_addr(val, &o->addr, &why) == -1)
			goto bad;
		if (opt == O_CONNECT && !o->addr.is_unix &&
		    strcmp(o->addr.port, "0") == 0) {
			why = "cannot connect to port 0";
			goto bad;
		}
		return 0;
	case O_ONCE:
		o->once = true;
		return 0;
	case O_JSON:
		o->json = true;
		return 0;
	case O_BYTES:
		if (parse_size(val, &o->bytes) == -1)
			goto bad_size;
		return 0;
	case O_CHUNK:
		if (parse_size(val, &o->chunk) == -1)
			goto bad_size;
		if (o->chunk == 0 || o->chunk > (64u << 20)) {
			why = "must be from 1 to 64M";
			goto bad;
		}
		return 0;
	case O_SIZE:
		if (parse_size(val, &o->size) == -1)
			goto bad_size;
		if (o->size == 0 || o->size > (64u << 20)) {
			why = "must be from 1 to 64M";
			goto bad;
		}
		return 0;
	case O_STREAMS:
		if (parse_count(val, 1, 1024, &o->streams) == -1) {
			why = "expected a number from 1 to 1024";
			goto bad;
		}
		return 0;
	case O_COUNT:
	case O_WARMUP:
		if (parse_count(val, opt == O_COUNT ? 1 : 0, 100000000,
		    opt == O_COUNT ? &o->count : &o->warmup) == -1) {
			why = "expected a number up to 100000000";
			goto bad;
		}
		return 0;
	case O_CONNS:
		if (parse_count(val, 1, 1000000, &o->conns) == -1) {
			why = "expected a number from 1 to 1000000";
			goto bad;
		}
		return 0;
	case O_SECONDS:
		o->seconds = strtod(val, &end);
		if (*val < '0' || *val > '9' || *end != '\0' ||
		    !isfinite(o->seconds) || o->seconds <= 0 ||
		    o->seconds > 1e6) {
			why = "expected a positive number of seconds";
			goto bad;
		}
		return 0;
	case O_CONCURRENCY:
		if (parse_count(val, 1, 1024, &o->concurrency) == -1) {
			why = "expected a number from 1 to 1024";
			goto bad;
		}
		return 0;
	case O_HOLD:
		o->hold = strtod(val, &end);
		if (*val < '0' || *val > '9' || *end != '\0' ||
		    !isfinite(o->hold) || o->hold > 1e7) {
			why = "expected a number of seconds";
			goto bad;
		}
		return 0;
	}
	why = "unknown option";
	goto bad;

bad_size:
	why = "expected a size such as 65536, 64K, 256M or 1G";
bad:
	bench_warnx("--%s %s: %s", name, val != NULL ? val : "", why);
	return -1;
}

int
main(int argc, char **argv)
{
	struct bench_opts o = {
		.chunk = BENCH_BUF, .size = 1024, .streams = 1, .count = 20000,
		.warmup = 1000, .hold = -1, .concurrency = 1,
	};
	const struct cmd *cmd = NULL;
	unsigned seen = 0;
	int opt;

	if (argc < 2)
		goto usage;
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (strcmp(argv[1], cmds[i].name) == 0)
			cmd = &cmds[i];
	if (cmd == NULL) {
		bench_warnx("unknown command '%s'", argv[1]);
		goto usage;
	}

	/* getopt sees the subcommand as argv[0]; "+:" keeps order, reports ':' */
	opterr = 0;
	optind = 1;
	while ((opt = getopt_long(argc - 1, argv + 1, "+:h", longopts,
	    NULL)) != -1) {
		if (opt == 'h' || opt == O_HELP) {
			usage(stdout);
			return 0;
		}
		if (opt == ':') {
			bench_warnx("%s: option %s needs a value", cmd->name,
			    argv[optind]);
			goto usage;
		}
		if (opt == '?' || opt <= 0 || opt > O_HELP) {
			/* argv[optind] is getopt's argv[optind - 1] */
			bench_warnx("%s: unknown option %s", cmd->name,
			    argv[optind > 1 ? optind : 2]);
			goto usage;
		}
		if ((cmd->allowed & BIT(opt)) == 0) {
			bench_warnx("%s: option --%s does not apply", cmd->name,
			    opt_name(opt));
			goto usage;
		}
		if (set_option(&o, opt, optarg) == -1)
			goto usage;
		seen |= BIT(opt);
	}
	if (optind < argc - 1) {
		bench_warnx("%s: unexpected argument '%s'", cmd->name,
		    argv[optind + 1]);
		goto usage;
	}
	if ((seen & cmd->required) != cmd->required) {
		for (int i = O_LISTEN; i <= O_HELP; i++)
			if ((cmd->required & ~seen & BIT(i)) != 0)
				bench_warnx("%s: --%s is required", cmd->name,
				    opt_name(i));
		goto usage;
	}

	/* A peer that vanishes must be an error return, never a kill. */
	signal(SIGPIPE, SIG_IGN);
	return cmd->run(&o) == 0 ? 0 : 1;

usage:
	usage(stderr);
	return 2;
}
