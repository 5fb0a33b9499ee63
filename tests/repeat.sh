#!/bin/sh
# tests/repeat.sh BUILD N: runs every suite (tests/run.sh) N times in a row
# and says which runs failed and what.  Exit status 1 if any run failed.
# The logs of a failed run are kept in BUILD/test-repeat/RUN/.
set -u
BUILD=${1:-build}
N=${2:-20}
TOP=$(cd "$(dirname "$0")/.." && pwd)
case "$BUILD" in /*) ;; *) BUILD="$TOP/$BUILD" ;; esac
OUT="$BUILD/test-repeat"
rm -rf "$OUT" && mkdir -p "$OUT"
bad=0
i=1
while [ "$i" -le "$N" ]; do
	sh "$TOP/tests/run.sh" "$BUILD" > "$OUT/run$i.txt" 2>&1
	rc=$?
	tally=$(tail -n 1 "$OUT/run$i.txt")
	if [ "$rc" -ne 0 ]; then
		bad=$((bad + 1))
		cp -r "$BUILD/test-logs" "$OUT/run$i-logs"
		echo "run $i: FAILED: $tally"
		grep -E '^FAIL|^      not ok' "$OUT/run$i.txt" | sed 's/^/  /'
	else
		echo "run $i: $tally"
	fi
	i=$((i + 1))
done
echo "$((N - bad)) of $N runs passed"
[ "$bad" -eq 0 ]
