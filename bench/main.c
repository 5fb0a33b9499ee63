/*
 * main.c: mtlsd-bench's command line: subcommand, options, usage, dispatch.
 *
 * Exit status: 0 success, 1 a network error or failed check, 2 bad usage.
 */
#include <math.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench.h"

enum kind { K_ADDR, K_FLAG, K_SIZE, K_COUNT, K_SECS };

/* One option: where its value goes and what it may be. */
static const struct opt {
	const char *name;
	enum kind kind;
	size_t off;
	unsigned long long min, max;
} opts[] = {
#define O(n, k, f, lo, hi) { n, k, offsetof(struct bench_opts, f), lo, hi }
	O("listen", K_ADDR, addr, 0, 0),
	O("connect", K_ADDR, addr, 0, 0),
	O("json", K_FLAG, json, 0, 0),
	O("bytes", K_SIZE, bytes, 1, UINT64_MAX),
	O("chunk", K_SIZE, chunk, 1, 64u << 20),
	O("size", K_SIZE, size, 1, 64u << 20),
	O("streams", K_COUNT, streams, 1, 1024),
	O("count", K_COUNT, count, 1, 100000000),
	O("warmup", K_COUNT, warmup, 0, 100000000),
	O("conns", K_COUNT, conns, 1, 1000000),
	O("concurrency", K_COUNT, concurrency, 1, 1024),
	O("seconds", K_SECS, seconds, 0, 1000000),
	O("hold", K_SECS, hold, 0, 10000000),
#undef O
};

/* A command: the options it takes (first the required ones, by name). */
static const struct cmd {
	const char *name, *required, *optional;
	int mode;		/* enum bench_mode, or -1 */
} cmds[] = {
	{ "echo", "listen", "", -1 },
	{ "sink", "listen", "", -1 },
	{ "push", "connect bytes", "streams chunk json", M_PUSH },
	{ "source", "connect bytes", "streams chunk json", M_SOURCE },
	{ "rr", "connect", "size count warmup json", M_RR },
	{ "connrate", "connect seconds", "concurrency json", M_CONNRATE },
	{ "idle", "connect conns", "hold concurrency json", M_IDLE },
	{ "aead", "", "seconds", -1 },
};

static void
usage(FILE *f)
{
	fputs(
"usage: mtlsd-bench echo|sink --listen ADDR\n"
"       mtlsd-bench push|source --connect ADDR --bytes SIZE [--streams N]\n"
"                  [--chunk SIZE] [--json]\n"
"       mtlsd-bench rr --connect ADDR [--size SIZE] [--count N] [--warmup N]\n"
"                  [--json]\n"
"       mtlsd-bench connrate --connect ADDR --seconds S [--concurrency C]\n"
"                  [--json]\n"
"       mtlsd-bench idle --connect ADDR --conns N [--hold S] [--concurrency C]\n"
"                  [--json]\n"
"       mtlsd-bench aead [--seconds S]\n"
"\n"
"ADDR is host:port, [v6]:port or unix:/path; SIZE is bytes or a number with\n"
"K, M or G (powers of 1024).  push checks every byte of the echo; source\n"
"sends into a sink.  --bytes is per stream, --chunk each send (256K).  rr:\n"
"--size 1K --count 20000 --warmup 1000.  connrate: C threads (1) connect,\n"
"send a byte, read its echo and close, for S seconds.  idle: opens N\n"
"connections (each proved by an 8-byte echo) and holds them S seconds, or\n"
"until stdin ends.  aead: the AEADs on one core, S seconds a figure (2).\n", f);
}

static int
has(const char *list, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = strstr(list, name); p != NULL; p = strstr(p + 1, name))
		if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
			return 1;
	return 0;
}

/* Reads one option's value into *o; -1 after saying what is wrong. */
static int
set_option(struct bench_opts *o, const struct opt *op, const char *val)
{
	void *dst = (char *)o + op->off;
	const char *why = "out of range";
	uint64_t v = 0;
	char *end;
	double d;

	switch (op->kind) {
	case K_FLAG:
		*(bool *)dst = true;
		return 0;
	case K_ADDR:
		if (parse_addr(val, true, dst, &why) == 0)
			return 0;
		break;
	case K_SIZE:
		if (parse_size(val, &v, &why) == 0 &&
		    v >= op->min && v <= op->max) {
			*(uint64_t *)dst = v;
			return 0;
		}
		break;
	case K_COUNT:
		if (parse_uint(val, op->min, op->max, dst, &why) == 0)
			return 0;
		break;
	case K_SECS:
		d = strtod(val, &end);
		if (*val >= '0' && *val <= '9' && *end == '\0' && isfinite(d) &&
		    d > 0 && d <= op->max) {
			*(double *)dst = d;
			return 0;
		}
		why = "expected a positive number of seconds";
		break;
	}
	bench_warnx("--%s %s: %s", op->name, val, why);
	return -1;
}

int
main(int argc, char **argv)
{
	struct bench_opts o = {
		.chunk = BENCH_BUF, .size = 1024, .streams = 1, .count = 20000,
		.warmup = 1000, .concurrency = 1, .seconds = 2, .hold = -1,
	};
	const struct cmd *cmd = NULL;
	const struct opt *op;
	char seen[256] = "";

	if (argc >= 2 && (strcmp(argv[1], "help") == 0 ||
	    strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		usage(stdout);
		return 0;
	}
	for (size_t i = 0; argc >= 2 && i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (strcmp(argv[1], cmds[i].name) == 0)
			cmd = &cmds[i];
	if (cmd == NULL) {
		if (argc >= 2)
			bench_warnx("unknown command '%s'", argv[1]);
		goto usage;
	}
	for (int i = 2; i < argc; i++) {
		op = NULL;
		for (size_t k = 0; k < sizeof(opts) / sizeof(opts[0]); k++)
			if (strncmp(argv[i], "--", 2) == 0 &&
			    strcmp(argv[i] + 2, opts[k].name) == 0)
				op = &opts[k];
		if (op == NULL || (!has(cmd->required, op->name) &&
		    !has(cmd->optional, op->name))) {
			bench_warnx("%s: unknown option %s", cmd->name, argv[i]);
			goto usage;
		}
		if (op->kind != K_FLAG && ++i == argc) {
			bench_warnx("%s: --%s needs a value", cmd->name, op->name);
			goto usage;
		}
		if (set_option(&o, op, argv[i]) == -1)
			goto usage;
		if (strlen(seen) + strlen(op->name) + 2 < sizeof(seen)) {
			strcat(seen, " ");
			strcat(seen, op->name);
		}
	}
	for (size_t k = 0; k < sizeof(opts) / sizeof(opts[0]); k++) {
		if (has(cmd->required, opts[k].name) && !has(seen, opts[k].name)) {
			bench_warnx("%s: --%s is required", cmd->name, opts[k].name);
			goto usage;
		}
	}
	/* A peer that vanishes must be an error return, never a kill. */
	signal(SIGPIPE, SIG_IGN);
	o.mode = cmd->mode >= 0 ? (enum bench_mode)cmd->mode : M_PUSH;
	if (strcmp(cmd->name, "aead") == 0)
		return aead_run(&o) == 0 ? 0 : 1;
	if (cmd->mode < 0)
		return srv_run(&o, strcmp(cmd->name, "echo") == 0) == 0 ? 0 : 1;
	return client_run(&o) == 0 ? 0 : 1;

usage:
	usage(stderr);
	return 2;
}
