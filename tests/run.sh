#!/bin/sh
# tests/run.sh BUILD [SUITE...]: runs mtlsd's test suites and totals them.
#
#   BUILD   the build directory holding mtlsd, mtlsd-bench and tests/ (build,
#           or build/asan for the sanitizer run)
#   SUITE   unit, e2e, ktls (default: all three)
#
# Every suite speaks TAP ("ok N - ...", "not ok N - ...").  A suite that
# exits non-zero without reporting a failure, or reports nothing at all,
# counts as one failure.  The last line is "N passed, N failed".
# MTLSD_VALGRIND=1 runs the unit binaries under valgrind's memcheck.
set -u
BUILD=${1:-build}
shift 2>/dev/null || true
SUITES=${*:-unit e2e ktls}
TOP=$(cd "$(dirname "$0")/.." && pwd)
case "$BUILD" in /*) ;; *) BUILD="$TOP/$BUILD" ;; esac
export MTLSD_BUILD="$BUILD" CMOCKA_MESSAGE_OUTPUT=TAP
# Debian's tools first: the suites test against what install-deps.sh puts
# there (python3 with python3-torch, openssl, curl), not a user's pyenv or
# virtualenv shims, which lack those modules and start ten times slower.
export PATH="/usr/sbin:/usr/bin:/sbin:/bin:$PATH"
LOGDIR="$BUILD/test-logs"
rm -rf "$LOGDIR" && mkdir -p "$LOGDIR"

passed=0 failed=0 skipped=0

# run_suite NAME CMD...: runs one suite, tallies its TAP lines.
run_suite() {
	name=$1; shift
	log="$LOGDIR/$(echo "$name" | tr '/' '_').log"
	start=$(date +%s)
	"$@" > "$log" 2>&1
	rc=$?
	secs=$(( $(date +%s) - start ))
	ok=$(grep -cE '^ok [0-9]+' "$log")
	skip=$(grep -cE '^ok [0-9]+.*# [Ss][Kk][Ii][Pp]' "$log")
	bad=$(grep -cE '^not ok [0-9]+' "$log")
	ok=$((ok - skip))
	if [ "$rc" -ne 0 ] && [ "$bad" -eq 0 ]; then
		bad=1
		echo "not ok - $name exited with status $rc without reporting a failure" >> "$log"
	fi
	if [ $((ok + bad + skip)) -eq 0 ]; then
		bad=1
		echo "not ok - $name reported no tests" >> "$log"
	fi
	passed=$((passed + ok)) failed=$((failed + bad)) skipped=$((skipped + skip))
	if [ "$bad" -eq 0 ]; then
		printf 'PASS  %-28s %3d ok %s(%ds)\n' "$name" "$ok" \
		    "$( [ "$skip" -gt 0 ] && echo "$skip skipped ")" "$secs"
	else
		printf 'FAIL  %-28s %3d ok, %d failed (%ds), log: %s\n' "$name" "$ok" \
		    "$bad" "$secs" "$log"
		grep -E '^not ok|^# ' "$log" | head -20 | sed 's/^/      /'
		tail -n 15 "$log" | sed 's/^/    | /'
	fi
}

for suite in $SUITES; do
	case "$suite" in
	unit)
		for t in "$BUILD"/tests/test_*; do
			[ -x "$t" ] || continue
			if [ "${MTLSD_VALGRIND:-0}" = 1 ]; then
				run_suite "unit/$(basename "$t")" valgrind -q --error-exitcode=99 \
				    --leak-check=full --errors-for-leak-kinds=definite "$t"
			else
				run_suite "unit/$(basename "$t")" "$t"
			fi
		done ;;
	e2e)
		for t in "$TOP"/tests/e2e/t_*.sh; do
			run_suite "e2e/$(basename "$t" .sh)" bash "$t"
		done ;;
	ktls)
		# MTLSD_KTLS_BUILD: another build for UML (see make asan).
		ktls_build=${MTLSD_KTLS_BUILD:-$BUILD}
		case "$ktls_build" in /*) ;; *) ktls_build="$TOP/$ktls_build" ;; esac
		run_suite "ktls/uml" env MTLSD_BUILD="$ktls_build" sh "$TOP/tests/ktls/run.sh" ;;
	*)
		echo "tests/run.sh: unknown suite '$suite'" >&2; exit 2 ;;
	esac
done

[ "$skipped" -gt 0 ] && echo "($skipped skipped: see the logs for why)"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
