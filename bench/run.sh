#!/bin/sh
# bench/run.sh [BUILD]: mtlsd side by side with plain TCP, a stunnel pair,
# stunnel->hitch and stunnel->haproxy, on loopback, in one run.  `make bench`.
#
#   plain            mtlsd-bench -> sink/echo                      (the ceiling)
#   mtlsd            mtlsd-bench -> mtlsd client -> mtlsd server -> sink/echo,
#                    record_layer = libgcrypt (mtlsd's own records; the
#                    report's "mtlsd (libgcrypt)")
#   mtlsd-mbedtls    the same with record_layer = mbedtls ("mtlsd (mbedTLS
#                    records)")
#   mtlsd-ktls       the same with record_layer = kernel (only where the
#                    kernel has the tls ULP; otherwise a row that says why not)
#   stunnel          mtlsd-bench -> stunnel client -> stunnel server -> ...
#   stunnel-hitch    mtlsd-bench -> stunnel client -> hitch -> ...
#   stunnel-haproxy  mtlsd-bench -> stunnel client -> haproxy (mode tcp) -> ...
#   mtlsd-workers    the mtlsd-mbedtls pair with workers = 1 and with
#                    workers = N, each under N streams (issue 5's workers
#                    question, about mbedTLS's record path)
#
# Every pair: ECDSA P-256 certificates from `mtlsd certs` (one CA), TLS 1.3,
# the server requires and verifies the client certificate, the client
# verifies the server's chain and name.  The peers are forced to
# TLS_AES_128_GCM_SHA256; mtlsd keeps its own default (AES-128-GCM first
# with record_layer = libgcrypt or kernel, ChaCha20-Poly1305 first with
# mbedtls), and the report shows the suite each pair negotiated.
#
# Measures per system, in its own slot: bulk throughput (1 and N streams,
# N = online CPUs, at least 2), CPU-seconds per GiB of each side's process,
# full and resumed handshakes per second, RSS per idle connection.  Then,
# every pair up at once, 1 KiB request/response latency percentiles in
# BENCH_RR_ROUNDS interleaved rounds.  And the ciphers' own speed on one
# core: libgcrypt's AES-128/256-GCM and ChaCha20-Poly1305, mbedTLS's
# AES-128-GCM and ChaCha20-Poly1305, OpenSSL's AES-128-GCM.
#
# This file is the driver: settings, the order of the run, the record of the
# machine.  lib.sh holds the process helpers, systems.sh starts and stops the
# pairs, measure.sh measures, and report.py turns BUILD/bench/raw.jsonl and
# machine.json into results.md, summary.md, results.json and the charts'
# .dat files; plot.gp draws throughput.png and handshakes.png.  Every
# process's log goes under BUILD/bench/logs/.
#
# Knobs (environment):
#   BENCH_BYTES=1G            bytes per throughput run through a proxy pair
#   BENCH_PLAIN_BYTES=4G      bytes per throughput run over plain TCP
#   BENCH_RR_COUNT=20000      recorded 1 KiB round trips per system, over
#                             all rounds of the latency phase
#   BENCH_RR_ROUNDS=5         rounds of the latency phase (each system
#                             BENCH_RR_COUNT / BENCH_RR_ROUNDS a round)
#   BENCH_CONN_SECONDS=5      seconds per handshake-rate run
#   BENCH_CONN_CONCURRENCY=   connecting threads (default 2 x N)
#   BENCH_IDLE_CONNS=1000     idle connections for the RSS figure
#   BENCH_GCM_SECONDS=2       seconds per gcmspeed figure (the ciphers alone)
#   BENCH_STRACE=1            syscall counts (strace -c) of the mtlsd pairs and stunnel
#   BENCH_WORKERS=            mtlsd's `workers` in the mtlsd rows (default N)
#   BENCH_WORKERS_RUNS=3      runs of each variant in the workers comparison
#   BENCH_QUIET_WAIT=30       seconds to wait, before each system, for other
#                             work to leave the CPUs (0: do not wait)
#   BENCH_RETRIES=1           times to measure a system again when other work
#                             took over 15% of the CPUs meanwhile (the
#                             quietest attempt is kept)
#   BENCH_TRAINING_RUNS=5    runs, plain and through mtlsd each, of the training
#                             figure (bench/training.sh; 0: not measured)
#   BENCH_SYSTEMS="plain mtlsd mtlsd-mbedtls mtlsd-ktls stunnel stunnel-hitch stunnel-haproxy mtlsd-workers"
#
# Root is not needed; as root, hitch's workers run as nobody (hitch refuses
# root workers) and the rest keeps the caller's user.  Needs bash, python3
# (the report), gnuplot (the charts), ss, stunnel4, hitch, haproxy, strace,
# nm (binutils).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u
shopt -s nullglob

T_START=$(date +%s)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
TOP=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-build}
case "$BUILD" in /*) ;; *) BUILD="$PWD/$BUILD" ;; esac
MTLSD="$BUILD/mtlsd"
BENCH="$BUILD/mtlsd-bench"
OUT="$BUILD/bench"
LOGS="$OUT/logs"
WORK="$OUT/work"
PKI="$WORK/pki"
RAW="$OUT/raw.jsonl"

NCPU=$(getconf _NPROCESSORS_ONLN 2>/dev/null || nproc)
N=$(( NCPU < 2 ? 2 : NCPU ))
CLK_TCK=$(getconf CLK_TCK)
BENCH_BYTES=${BENCH_BYTES:-1G}
BENCH_PLAIN_BYTES=${BENCH_PLAIN_BYTES:-4G}
BENCH_RR_COUNT=${BENCH_RR_COUNT:-20000}
BENCH_RR_ROUNDS=${BENCH_RR_ROUNDS:-5}
BENCH_CONN_SECONDS=${BENCH_CONN_SECONDS:-5}
BENCH_CONN_CONCURRENCY=${BENCH_CONN_CONCURRENCY:-$(( 2 * N ))}
BENCH_IDLE_CONNS=${BENCH_IDLE_CONNS:-1000}
BENCH_GCM_SECONDS=${BENCH_GCM_SECONDS:-2}
BENCH_STRACE=${BENCH_STRACE:-1}
BENCH_WORKERS=${BENCH_WORKERS:-$N}
BENCH_WORKERS_RUNS=${BENCH_WORKERS_RUNS:-3}
BENCH_QUIET_WAIT=${BENCH_QUIET_WAIT:-30}
BENCH_RETRIES=${BENCH_RETRIES:-1}
BENCH_TRAINING_RUNS=${BENCH_TRAINING_RUNS:-5}
BENCH_SYSTEMS=${BENCH_SYSTEMS:-plain mtlsd mtlsd-mbedtls mtlsd-ktls stunnel stunnel-hitch stunnel-haproxy mtlsd-workers}

. "$TOP/bench/lib.sh"
. "$TOP/bench/systems.sh"
. "$TOP/bench/measure.sh"

[ -x "$MTLSD" ] && [ -x "$BENCH" ] || die "build first (make): no $MTLSD or $BENCH"
command -v python3 > /dev/null || die "python3 is needed for the report"

trap cleanup EXIT
trap 'say "interrupted: stopping everything it started"; exit 130' INT TERM HUP

MTLSD_RESUMPTION=0	# 1 when this mtlsd knows session_resumption

# --- the run ------------------------------------------------------------------

rm -rf "$OUT"
mkdir -p "$LOGS" "$WORK/ocsp"
: > "$RAW"
ulimit -n "$(ulimit -Hn)" 2>/dev/null
ulimit -u unlimited 2>/dev/null	# stunnel: a thread per connection
[ "$(ulimit -n)" = unlimited ] || [ "$(ulimit -n)" -ge $(( 4 * BENCH_IDLE_CONNS + 256 )) ] ||
	say "warning: ulimit -n is $(ulimit -n); $BENCH_IDLE_CONNS idle connections may not fit"

# haproxy refuses a maxconn that needs more descriptors than it may open.
nofile=$(ulimit -n)
[ "$nofile" = unlimited ] && nofile=1048576
HAPROXY_MAXCONN=$(( (nofile - 200) / 2 ))
[ "$HAPROXY_MAXCONN" -le 20000 ] || HAPROXY_MAXCONN=20000
HITCH_USER_LINE=""
[ "$(id -u)" = 0 ] && HITCH_USER_LINE='user = "nobody"'

say "results in $OUT; systems: $BENCH_SYSTEMS"

# One CA, one server certificate (dns:localhost) and one client certificate
# for every system; PEM bundles (key + certificate) for hitch and haproxy.
{
	"$MTLSD" certs init-ca --dir "$PKI" --name "mtlsd bench CA" --days 90 &&
	"$MTLSD" certs issue --dir "$PKI" --name server --days 60 \
	    --san dns:localhost,ip:127.0.0.1 &&
	"$MTLSD" certs issue --dir "$PKI" --name client --days 60 \
	    --san dns:client.bench.localhost
} > "$LOGS/certs.log" 2>&1 || die "certificates: see $LOGS/certs.log"
cat "$PKI/server.key" "$PKI/server.crt" > "$PKI/server.pem"
chmod 600 "$PKI/server.pem"
"$MTLSD" certs show "$PKI/server.crt" > "$LOGS/certs.show.log" 2>&1
"$MTLSD" certs show "$PKI/client.crt" >> "$LOGS/certs.show.log" 2>&1

# Does this mtlsd know session_resumption yet?  check refuses unknown keys.
render mtlsd-client.ini.in "$WORK/probe-resumption.ini" PKI="$PKI" LAYER=libgcrypt \
    ADMIN_PORT=3 LISTEN_PORT=1 SERVER_PORT=2 RESUMPTION="session_resumption = on" \
    LOG_LEVEL=warn WORKERS=1
if "$MTLSD" check -c "$WORK/probe-resumption.ini" > "$LOGS/probe-resumption.log" 2>&1; then
	MTLSD_RESUMPTION=1
elif grep -q "session_resumption" "$LOGS/probe-resumption.log"; then
	say "this mtlsd has no session_resumption key: resumed rows are n/a"
else
	say "warning: the probe config failed for another reason (logs/probe-resumption.log)"
fi

# Kernel TLS: the tls ULP must be registered (the module may need loading).
KTLS_ULP=0
grep -qw tls /proc/sys/net/ipv4/tcp_available_ulp 2>/dev/null ||
	{ command -v modprobe > /dev/null && modprobe -q tls 2>/dev/null; }
grep -qw tls /proc/sys/net/ipv4/tcp_available_ulp 2>/dev/null && KTLS_ULP=1

# libgcrypt's and mbedTLS's own AEAD figures on one core, the user-space
# record layers' ceilings.
wait_quiet
say "libgcrypt and mbedTLS AEAD speed (${BENCH_GCM_SECONDS}s per figure)"
if cc -std=c11 -O2 -Wall -Wextra -o "$OUT/gcmspeed" "$TOP/bench/gcmspeed/gcmspeed.c" \
    $(pkg-config --cflags --libs mbedcrypto 2>/dev/null || echo -lmbedcrypto) \
    $(pkg-config --cflags --libs libgcrypt 2>/dev/null || echo -lgcrypt) \
    > "$LOGS/gcmspeed.build.log" 2>&1 &&
    "$OUT/gcmspeed" "$BENCH_GCM_SECONDS" > "$LOGS/gcmspeed.log" 2>&1; then
	emit mbedtls gcmspeed "build/bench/gcmspeed $BENCH_GCM_SECONDS" "$(last_json "$LOGS/gcmspeed.log")"
else
	fail mbedtls gcmspeed "gcmspeed failed (see logs/gcmspeed*.log)"
fi
# OpenSSL's AES-128-GCM on the same records, what the peers seal with.
cmd="openssl speed -elapsed -seconds $BENCH_GCM_SECONDS -bytes 16384 -evp aes-128-gcm"
if $cmd > "$LOGS/openssl-speed.log" 2>&1 &&
    bps=$(awk 'toupper($1) == "AES-128-GCM" { v = $NF; sub(/k$/, "", v);
        printf "%.0f", v * 1000 }' "$LOGS/openssl-speed.log") && [ -n "$bps" ]; then
	emit openssl aes_gcm_speed "$cmd" "{\"encrypt_Bps\":$bps}"
else
	fail openssl aes_gcm_speed "openssl speed failed (see logs/openssl-speed.log)"
fi


# Which AEAD API the TLS records go through, and whether PSA's key-slot
# mutex is there to contend (issue 5's workers question).
mbedtls_check

for sys in $BENCH_SYSTEMS; do
	if why=$(sys_unavailable "$sys"); then
		fail "$sys" start "$why"
		continue
	fi
	# A run that other work disturbed (over 15% of the CPUs) is repeated
	# up to BENCH_RETRIES times; the quietest attempt is kept, the others'
	# logs go to logs/SYS.attemptK/.
	best="" best_pct=101 attempt=1
	while :; do
		say "=== $sys$( [ "$attempt" -gt 1 ] && echo " (attempt $attempt)")"
		wait_quiet
		RAW="$OUT/raw.$sys.$attempt.jsonl"
		: > "$RAW"
		measure_system "$sys"
		pct=$(cat "$OUT/others.$sys.$attempt")
		if [ "$pct" -lt "$best_pct" ]; then best=$attempt best_pct=$pct; fi
		[ "$pct" -gt 15 ] && [ "$attempt" -le "$BENCH_RETRIES" ] || break
		say "$sys: other work took ${pct}% of the CPUs during its runs; measuring it again"
		mkdir -p "$LOGS/$sys.attempt$attempt"
		mv "$LOGS/$sys".[!a]* "$LOGS/$sys.attempt$attempt/" 2>/dev/null
		attempt=$((attempt + 1))
	done
	if [ "$best" != "$attempt" ]; then
		# An earlier attempt was quieter: its logs go back in place.
		mkdir -p "$LOGS/$sys.attempt$attempt"
		mv "$LOGS/$sys".[!a]* "$LOGS/$sys.attempt$attempt/" 2>/dev/null
		mv "$LOGS/$sys.attempt$best"/* "$LOGS/" && rmdir "$LOGS/$sys.attempt$best"
	fi
	RAW="$OUT/raw.jsonl"
	cat "$OUT/raw.$sys.$best.jsonl" >> "$RAW"
	emit "$sys" attempts "BENCH_RETRIES=$BENCH_RETRIES" \
	    "{\"attempts\":$attempt,\"kept\":$best,\"others_pct_kept\":$best_pct}"
	rm -f "$OUT"/raw."$sys".*.jsonl "$OUT"/others."$sys".*
done

# The 1 KiB latency of every system, measured interleaved in rounds rather
# than in each system's slot above: the machine drifts too much between
# slots for their latencies to compare (measure.sh's latency_phase).
rr_systems=()
for sys in $BENCH_SYSTEMS; do
	[ "$sys" = mtlsd-workers ] && continue
	sys_unavailable "$sys" > /dev/null && continue
	rr_systems+=("$sys")
done
[ ${#rr_systems[@]} -gt 0 ] && latency_phase "${rr_systems[@]}"

# The training-shaped figure: a gloo all_reduce and a DDP step between two
# network namespaces, plain against through mtlsd, interleaved
# (bench/training.sh; it appends to raw.jsonl and cleans up after itself).
if [ "$BENCH_TRAINING_RUNS" -gt 0 ]; then
	wait_quiet
	say "=== training (gloo, 2 ranks, network namespaces): $BENCH_TRAINING_RUNS runs each, plain and mtlsd"
	BENCH_TRAINING_RUNS=$BENCH_TRAINING_RUNS bash "$TOP/bench/training.sh" "$BUILD" "$OUT" ||
		fail training start "failed: bench/training.sh exited $? (logs/training/)"
fi

# --- the machine --------------------------------------------------------------

ver() { "$@" 2>&1 | head -n 1; }
T_END=$(date +%s)
{
	printf '{'
	printf '"kernel":%s,' "$(jstr "$(uname -r)")"
	printf '"cpu":%s,' "$(jstr "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')")"
	printf '"nproc":%s,"n_streams":%s,' "$NCPU" "$N"
	printf '"date":%s,' "$(jstr "$(date -u '+%Y-%m-%d %H:%M UTC')")"
	printf '"mtlsd":%s,' "$(jstr "$(ver "$MTLSD" version) $(cd "$TOP" && git describe --always --dirty 2>/dev/null)")"
	printf '"mbedtls":%s,' "$(jstr "$(pkg-config --modversion mbedtls 2>/dev/null)")"
	printf '"libgcrypt":%s,' "$(jstr "$(pkg-config --modversion libgcrypt 2>/dev/null)")"
	printf '"openssl":%s,' "$(jstr "$(ver openssl version)")"
	printf '"stunnel":%s,' "$(jstr "$(stunnel -version 2>&1 | awk '/^stunnel/ { v = $1 " " $2 }
	    /^Running/ { sub(/^Running +/, ""); r = $0 } END { print v " (" r ")" }')")"
	printf '"haproxy":%s,' "$(jstr "$(haproxy -v 2>&1 | head -n 1 | sed 's/ - https.*//')")"
	printf '"hitch":%s,' "$(jstr "$(ver hitch --version)")"
	printf '"tls_ulp":%s,' "$( [ "$KTLS_ULP" = 1 ] && echo true || echo false)"
	printf '"ulp_list":%s,' "$(jstr "$(cat /proc/sys/net/ipv4/tcp_available_ulp 2>/dev/null)")"
	printf '"mtlsd_resumption_key":%s,' "$( [ "$MTLSD_RESUMPTION" = 1 ] && echo true || echo false)"
	printf '"settings":{"BENCH_BYTES":%s,"BENCH_PLAIN_BYTES":%s,"BENCH_RR_COUNT":%s,"BENCH_RR_ROUNDS":%s,"BENCH_CONN_SECONDS":%s,"BENCH_CONN_CONCURRENCY":%s,"BENCH_IDLE_CONNS":%s,"BENCH_GCM_SECONDS":%s,"BENCH_WORKERS":%s,"BENCH_WORKERS_RUNS":%s,"BENCH_QUIET_WAIT":%s,"BENCH_RETRIES":%s,"BENCH_TRAINING_RUNS":%s},' \
	    "$(jstr "$BENCH_BYTES")" "$(jstr "$BENCH_PLAIN_BYTES")" "$BENCH_RR_COUNT" "$BENCH_RR_ROUNDS" \
	    "$BENCH_CONN_SECONDS" "$BENCH_CONN_CONCURRENCY" "$BENCH_IDLE_CONNS" "$BENCH_GCM_SECONDS" \
	    "$BENCH_WORKERS" "$BENCH_WORKERS_RUNS" "$BENCH_QUIET_WAIT" "$BENCH_RETRIES" "$BENCH_TRAINING_RUNS"
	printf '"systems":%s,' "$(jstr "$BENCH_SYSTEMS")"
	printf '"loadavg_start":%s,"loadavg_end":%s,' "$(jstr "$LOAD_START")" "$(jstr "$(cut -d' ' -f1-3 /proc/loadavg)")"
	printf '"seconds":%s' $(( T_END - T_START ))
	printf '}\n'
} > "$OUT/machine.json"

# --- the report ---------------------------------------------------------------

# results.md, summary.md, results.json and the charts' .dat files, from
# raw.jsonl (one record per measurement) and machine.json.
python3 -B "$TOP/bench/report.py" "$OUT" || die "report failed"

if ! grep -qv '^#' "$OUT/throughput.dat"; then
	say "no system measured: no charts"
elif command -v gnuplot > /dev/null; then
	term=png
	gnuplot -e 'set terminal' 2>&1 | grep -qw pngcairo && term=pngcairo
	gnuplot -e "outdir='$OUT'; term='$term'; nstreams=$N" "$TOP/bench/plot.gp" > "$LOGS/gnuplot.log" 2>&1 ||
		say "gnuplot failed (logs/gnuplot.log)"
else
	say "no gnuplot: no charts"
fi

cat "$OUT/results.md"
say "done in $(( $(date +%s) - T_START )) s: $OUT/results.md, results.json, throughput.png, handshakes.png"
say "summary for the README: $OUT/summary.md"
