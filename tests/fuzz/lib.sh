# tests/fuzz/lib.sh: what tests/fuzz/run.sh (make fuzz) and
# tests/fuzz/long.sh (make fuzz-long) share.  POSIX sh; sourced, with TOP
# set to the repository.

# fuzz_prepare TARGET WORK ART: a fresh artifact directory ART, the seed
# corpus copied into WORK (what is already there stays), and in SCRATCH a
# directory for the target's own files (the PKI, config inputs), in
# memory where it can be; DICT is the -dict= option, or empty.
fuzz_prepare() {
	rm -rf "$3"
	mkdir -p "$2" "$3"
	if [ -d "$TOP/tests/fuzz/corpus/$1" ]; then
		cp -R "$TOP/tests/fuzz/corpus/$1"/. "$2"/
	fi
	SCRATCH=$(mktemp -d /dev/shm/mtlsd-fuzz-"$1".XXXXXX 2>/dev/null) ||
	    SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/mtlsd-fuzz-$1.XXXXXX")
	DICT=
	[ -f "$TOP/tests/fuzz/$1.dict" ] && DICT="-dict=$TOP/tests/fuzz/$1.dict"
}

# fuzz_exec BIN ART [ARG...]: replaces the calling (sub)shell with the
# libFuzzer target BIN, sanitizers set to report and stop, crashing inputs
# into ART; FUZZ_NICE, when set, is its nice value.  Run it in a subshell:
# ( fuzz_exec ... ), or ( fuzz_exec ... ) & for the target's own pid.
fuzz_exec() {
	bin=$1 art=$2
	shift 2
	export TMPDIR="$SCRATCH"
	export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1}"
	export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
	exec nice -n "${FUZZ_NICE:-0}" "$bin" -print_final_stats=1 -timeout=25 \
	    -rss_limit_mb=2048 -artifact_prefix="$art/" "$@"
}

# stat_of KEY LOG: the value after "KEY:" in libFuzzer's last status line
# (DONE, pulse, NEW...), e.g. cov, ft, corp.
stat_of() {
	grep -E '^#[0-9]+[[:space:]]+(DONE|pulse|INITED|NEW|REDUCE)' "$2" | tail -n 1 |
	    sed -n "s/.* $1: \([^ ]*\).*/\1/p"
}

# final_stat KEY LOG: a -print_final_stats=1 value, e.g. number_of_executed_units.
final_stat() {
	sed -n "s/^stat::$1:[[:space:]]*//p" "$2" | tail -n 1
}

# fuzz_failed LOG: whether the log holds a crash, a sanitizer's or a
# target's own report, or a timeout.
fuzz_failed() {
	grep -qE 'fuzz (check|setup) failed|ERROR: |runtime error|deadly signal|Timeout|out-of-memory' "$1"
}

# fuzz_report LOG: from the first such line, 40 lines, indented.
fuzz_report() {
	awk '/fuzz (check|setup) failed|ERROR: |runtime error|deadly signal|Timeout|out-of-memory/ { on = 1 }
	    on && n < 40 { print "    | " $0; n++ }' "$1"
}
