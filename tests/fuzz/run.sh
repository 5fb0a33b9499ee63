#!/bin/sh
# tests/fuzz/run.sh BUILD SECONDS TARGET...: runs each libFuzzer target
# BUILD/fuzz_TARGET for SECONDS on a scratch copy of its seed corpus
# (tests/fuzz/corpus/TARGET/ -> BUILD/work/TARGET/), with
# tests/fuzz/TARGET.dict when there is one.  One line per target; a crash,
# leak, sanitizer report, failed check or timeout fails it, and the run
# exits 1.  Crashing inputs land in BUILD/artifacts/TARGET/, logs in
# BUILD/logs/.  Replay one: BUILD/fuzz_TARGET FILE.  SECONDS 0 only runs
# the seeds, once each.
set -u
BUILD=$1
SECS=$2
shift 2
TOP=$(cd "$(dirname "$0")/../.." && pwd)
case "$BUILD" in /*) ;; *) BUILD="$TOP/$BUILD" ;; esac
failed=0
case "$SECS" in
0) limit=-runs=0 ;;
*[!0-9]*|'') echo "fuzz: SECONDS must be a number, not '$SECS'" >&2; exit 2 ;;
*) limit=-max_total_time=$SECS ;;
esac

. "$TOP/tests/fuzz/lib.sh"

mkdir -p "$BUILD/logs"
for t in "$@"; do
	bin="$BUILD/fuzz_$t"
	work="$BUILD/work/$t"
	art="$BUILD/artifacts/$t"
	log="$BUILD/logs/$t.log"
	rm -rf "$work"
	fuzz_prepare "$t" "$work" "$art"
	seeds=$(find "$work" -type f | wc -l | tr -d ' ')
	start=$(date +%s)
	# shellcheck disable=SC2086
	( fuzz_exec "$bin" "$art" $limit $DICT "$work" ) > "$log" 2>&1
	rc=$?
	secs=$(( $(date +%s) - start ))
	runs=$(final_stat number_of_executed_units "$log")
	speed=$(final_stat average_exec_per_sec "$log")
	cov=$(stat_of cov "$log")
	ft=$(stat_of ft "$log")
	corp=$(stat_of corp "$log")
	crash=$(find "$art" -type f 2>/dev/null | head -n 1)
	if [ "$rc" -eq 0 ] && [ -z "$crash" ]; then
		printf 'PASS  fuzz/%-12s %9s runs %7s/s  cov %-5s ft %-6s corpus %-10s seeds %-3s (%ds)\n' \
		    "$t" "${runs:-?}" "${speed:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$seeds" "$secs"
	else
		failed=$((failed + 1))
		printf 'FAIL  fuzz/%-12s exit %d after %s runs (%ds), input: %s, log: %s\n' \
		    "$t" "$rc" "${runs:-?}" "$secs" "${crash:-none}" "$log"
		fuzz_report "$log"
		[ -n "$crash" ] && echo "    replay: $bin $crash"
	fi
	rm -rf "$SCRATCH"
done
[ "$failed" -eq 0 ] || { echo "fuzz: $failed target(s) failed"; exit 1; }
