#!/bin/bash
# tests/soak/run.sh BUILD: make soak.  mtlsd's heavy scenarios against the
# release build, each in a network namespace of its own (its TcpExt
# counters, its ports), with their figures and a summary table at the end.
# Exits non-zero if any scenario fails.  Not part of make test: the small
# versions of the same scenarios (tests/soak/scenarios.sh) are, in
# e2e/t_slow, e2e/t_crowd and e2e/t_limits.
#
#   held          10,000 idle mTLS connections (as many as the fd limit allows)
#   slowloris     1,000 slow clients at once beside a good client
#   fds           ulimit -n 128 and 300 clients at once, then recovery
#   slow_backend  512 MiB pushed to a backend reading at 64 KiB/s for 30 s
#   storm         20 rotations and 50 SIGHUPs during a 512 MiB transfer
#   hostile       15 kinds of hostile TLS input, 10,000 ClientHello-then-RST
#
# SOAK_ONLY="held storm" runs only those; SOAK_HELD_N, SOAK_SLOW_N,
# SOAK_RST_N change the sizes.  Needs root (network namespaces).
set -u
BUILD=${1:-build}
TOP=$(cd "$(dirname "$0")/../.." && pwd)
case "$BUILD" in /*) ;; *) BUILD="$TOP/$BUILD" ;; esac
export MTLSD_BUILD="$BUILD"
LOGDIR="$BUILD/soak-logs"
rm -rf "$LOGDIR" && mkdir -p "$LOGDIR"

if [ "$(id -u)" != 0 ] || ! unshare -n true 2>/dev/null; then
	echo "make soak: needs root, for a network namespace per scenario" >&2
	exit 2
fi
[ -x "$BUILD/mtlsd" ] || { echo "make soak: no $BUILD/mtlsd; run make first" >&2; exit 2; }

# Descriptors: root may raise its own hard limit (this process tree only,
# no sysctl); then the soft one to it.  mtlsd raises its soft one itself.
ulimit -Hn 65536 2>/dev/null || true
ulimit -Sn "$(ulimit -Hn)"

SCENARIOS=(
	"held ${SOAK_HELD_N:-10000}"
	"slowloris ${SOAK_SLOW_N:-1000} 10"
	"fds 128 300"
	"slow_backend $((512 << 20)) 30 65536"
	"storm $((512 << 20)) 30 20 50"
	"hostile 200 ${SOAK_RST_N:-10000} 50"
)

failed=0
declare -a SUMMARY=()
for s in "${SCENARIOS[@]}"; do
	set -- $s
	name=$1
	case " ${SOAK_ONLY:-$name} " in *" $name "*) ;; *) continue ;; esac
	log="$LOGDIR/$name.log"
	echo "== $name ($s)"
	start=$(date +%s)
	unshare -n bash "$TOP/tests/soak/one.sh" "$@" > "$log" 2>&1
	rc=$?
	secs=$(( $(date +%s) - start ))
	sed 's/^/   /' "$log" | grep -E '^   (ok|not ok|# )'
	bad=$(grep -c '^not ok' "$log")
	if [ "$rc" -eq 0 ] && [ "$bad" -eq 0 ] && grep -q '^ok' "$log"; then
		verdict=PASS
	else
		verdict=FAIL failed=$((failed + 1))
	fi
	echo "== $name: $verdict (${secs}s, log: $log)"
	SUMMARY+=("$name|$verdict|${secs}s|$(sed -n "s/^# figure $name\.//p" "$log" | tr '\n' ';')")
done

echo
echo "make soak: summary ($(uname -r), $(nproc) CPUs, fd limit $(ulimit -Hn))"
printf '%-13s %-5s %6s  %s\n' scenario res time figures
for row in "${SUMMARY[@]}"; do
	IFS='|' read -r name verdict secs figs <<< "$row"
	first=yes
	IFS=';' read -ra fs <<< "$figs"
	for f in "${fs[@]}"; do
		if [ $first = yes ]; then
			printf '%-13s %-5s %6s  %s\n' "$name" "$verdict" "$secs" "$f"; first=no
		else
			printf '%-13s %-5s %6s  %s\n' "" "" "" "$f"
		fi
	done
done
echo "make soak: $(( ${#SUMMARY[@]} - failed )) of ${#SUMMARY[@]} scenarios passed"
[ "$failed" -eq 0 ]
