#!/bin/bash
# tests/fuzz/long.sh BUILD CPU_SECONDS JOBS TARGET...: a long fuzzing
# campaign.  Each libFuzzer target BUILD/fuzz_TARGET runs, at nice 19, until
# it has used CPU_SECONDS of CPU (user + system, read from /proc, so a busy
# machine stretches the wall time, not the work), then gets SIGINT.  JOBS
# targets run at once.  The grown corpus is kept in BUILD/long/TARGET/, the
# log in BUILD/long/TARGET.log; a crash, leak or sanitizer report fails the
# target (inputs in BUILD/long/TARGET.artifacts/).
#
# Bash for wait -n.  `make fuzz-long` calls this, then tests/fuzz/coverage.sh over the
# corpora.  libFuzzer's own -max_total_time counts wall seconds, which is
# why the budget is enforced here.
set -u
BUILD=$1
BUDGET=$2
JOBS=$3
shift 3
TOP=$(cd "$(dirname "$0")/../.." && pwd)
case "$BUILD" in /*) ;; *) BUILD="$TOP/$BUILD" ;; esac
HZ=$(getconf CLK_TCK)
. "$TOP/tests/fuzz/lib.sh"
OUT="$BUILD/long"
mkdir -p "$OUT"

# CPU seconds a process has used: fields 14 and 15 of /proc/PID/stat,
# counted after the ")" that ends the command name.
cpu_of() {
	sed 's/.*) //' "/proc/$1/stat" 2>/dev/null |
	    awk -v hz="$HZ" '{ printf "%d\n", ($12 + $13) / hz }'
}

one() {
	t=$1
	bin="$BUILD/fuzz_$t"
	work="$OUT/$t"
	art="$OUT/$t.artifacts"
	log="$OUT/$t.log"
	fuzz_prepare "$t" "$work" "$art"
	start=$(date +%s)
	# shellcheck disable=SC2086
	( FUZZ_NICE=19 fuzz_exec "$bin" "$art" $DICT "$work" ) > "$log" 2>&1 &
	pid=$!
	used=0
	asked=
	# SIGINT makes libFuzzer print its final stats and exit; one that came
	# before its handler was in place is lost (an asynchronous command of
	# a script starts with SIGINT ignored), so it is sent again, and after
	# 30 s more the target is killed.
	while kill -0 "$pid" 2>/dev/null; do
		now=$(cpu_of "$pid")
		[ -n "$now" ] && used=$now
		if [ "$used" -ge "$BUDGET" ]; then
			[ -n "$asked" ] || asked=$(date +%s)
			if [ $(( $(date +%s) - asked )) -gt 30 ]; then
				kill -KILL "$pid" 2>/dev/null
			else
				kill -INT "$pid" 2>/dev/null
			fi
		fi
		sleep 5
	done
	wait "$pid"
	rc=$?
	wall=$(( $(date +%s) - start ))
	rm -rf "$SCRATCH"
	crash=$(find "$art" -type f 2>/dev/null | head -n 1)
	runs=$(final_stat number_of_executed_units "$log")
	[ -n "$runs" ] || runs=$(grep -E '^#[0-9]+' "$log" | tail -n 1 | sed 's/^#\([0-9]*\).*/\1/')
	# A SIGINT'd libFuzzer exits 0 or 72 ("run interrupted").
	if [ -z "$crash" ] && [ "$used" -ge "$BUDGET" ] && ! fuzz_failed "$log"; then
		printf 'PASS  fuzz/%-12s %6d CPU-s (%ds wall) %11s runs  cov %-5s ft %-6s corpus %s\n' \
		    "$t" "$used" "$wall" "${runs:-?}" "$(stat_of cov "$log")" \
		    "$(stat_of ft "$log")" "$(find "$work" -type f | wc -l | tr -d ' ')"
	else
		printf 'FAIL  fuzz/%-12s exit %d after %s CPU-s, input: %s, log: %s\n' \
		    "$t" "$rc" "$used" "${crash:-none}" "$log"
		fuzz_report "$log"
		return 1
	fi
}

# A pool of JOBS at a time; each target's result line goes to its own file
# so that lines from parallel jobs do not interleave.
failed=0
running=0
for t in "$@"; do
	one "$t" > "$OUT/$t.result" 2>&1 &
	running=$((running + 1))
	if [ "$running" -ge "$JOBS" ]; then
		wait -n 2>/dev/null || wait
		running=$((running - 1))
	fi
done
wait
for t in "$@"; do
	cat "$OUT/$t.result"
	grep -q '^PASS' "$OUT/$t.result" || failed=$((failed + 1))
done
[ "$failed" -eq 0 ] || { echo "fuzz-long: $failed target(s) failed"; exit 1; }
