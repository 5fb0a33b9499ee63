#!/bin/sh
# tests/fuzz/coverage.sh COVBUILD CORPORA TARGET...: the line coverage a
# fuzzing campaign's corpora reach.  COVBUILD/fuzz_TARGET is the target
# built with clang's source-based coverage (make fuzz-long builds it in
# build/fuzz-cov); each input of CORPORA/TARGET/ runs once through it, and
# llvm-cov reports, per target, the lines covered in the sources the target
# is there to test (listed below), and their total.
set -u
COV=$1
CORPORA=$2
shift 2
TOP=$(cd "$(dirname "$0")/../.." && pwd)
cd "$TOP" || exit 1
PROFDATA=$(command -v llvm-profdata || ls /usr/bin/llvm-profdata-* 2>/dev/null | tail -n 1)
LLVMCOV=$(command -v llvm-cov || ls /usr/bin/llvm-cov-* 2>/dev/null | tail -n 1)
[ -n "$PROFDATA" ] && [ -n "$LLVMCOV" ] ||
    { echo "fuzz coverage: needs llvm-profdata and llvm-cov (Debian: llvm)" >&2; exit 2; }

# The sources each target exists to exercise.
sources_of() {
	case $1 in
	config)       echo config/config.c config/config_check.c config/config_keys.c ;;
	parse)        echo config/parse.c ;;
	peer_pattern) echo config/peer_pattern.c ;;
	proxy_proto)  echo proxy/proxy_proto.c ;;
	audit)        echo proxy/audit.c proxy/utf8.c ;;
	record)       echo tls/tls_rec.c ;;
	handshake)    echo tls/tls_conn.c tls/tls_peer.c tls/tls_ticket.c tls/tls_io.c ;;
	*)            echo ;;
	esac
}

status=0
printf '%-13s %-24s %7s %7s %7s\n' target file lines covered percent
for t in "$@"; do
	bin="$COV/fuzz_$t"
	dir="$CORPORA/$t"
	out="$COV/profile/$t"
	rm -rf "$out"
	mkdir -p "$out"
	if [ ! -x "$bin" ] || [ ! -d "$dir" ]; then
		echo "fuzz coverage: $t: no $bin or no corpus $dir" >&2
		status=1
		continue
	fi
	tmp=$(mktemp -d)
	# -runs=0: each input once; the profile is written at exit.
	TMPDIR="$tmp" LLVM_PROFILE_FILE="$out/%p.profraw" \
	    "$bin" -runs=0 "$dir" > "$out/run.log" 2>&1
	rm -rf "$tmp"
	"$PROFDATA" merge -sparse "$out"/*.profraw -o "$out/merged.profdata" || { status=1; continue; }
	# shellcheck disable=SC2046
	"$LLVMCOV" report "$bin" -instr-profile="$out/merged.profdata" \
	    $(sources_of "$t") > "$out/report.txt" 2>&1 || { status=1; continue; }
	# llvm-cov's columns: Filename Regions Missed Cover Functions Missed
	# Executed Lines Missed Cover ...; a file is named as listed above
	# (llvm-cov cuts the prefix the files share).
	awk -v t="$t" -v srcs="$(sources_of "$t")" '
	    BEGIN { n = split(srcs, src, " ") }
	    $1 ~ /\.c$/ || $1 == "TOTAL" {
		name = $1
		for (i = 1; i <= n; i++)
			if (substr(src[i], length(src[i]) - length($1) + 1) == $1 ||
			    substr($1, length($1) - length(src[i]) + 1) == src[i])
				name = src[i]
		lines = $8; missed = $9
		if (lines + 0 == 0) next
		printf "%-13s %-24s %7d %7d %6.1f%%\n", t, name, lines, lines - missed,
		    100 * (lines - missed) / lines
	    }' "$out/report.txt"
done
exit $status
