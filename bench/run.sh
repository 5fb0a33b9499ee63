#!/bin/bash
# bench/run.sh [BUILD]: `make bench`, mtlsd side by side with plain TCP and
# the peers on loopback (the systems: bench/README.md).  One CA and ECDSA
# P-256 certificates from `mtlsd certs`, TLS 1.3, mutual authentication; the
# peers forced to TLS_AES_128_GCM_SHA256, mtlsd with its defaults.
#
# Per system, in its own slot: throughput into the sink (1 stream, N streams)
# with each side's CPU time, system calls per 16 KiB, the probe, RSS per
# idle connection, resumed and full handshakes per second.  Then every pair
# up at once for the 1 KiB latency in interleaved rounds, then the training
# figure (bench/training.sh).  Before the systems: the AEADs on one core and
# libmbedtls's record path (nm -D).  Each measurement appends a record to
# BUILD/bench/raw.jsonl; report.py writes the report, plot.gp the charts.
#
# Knobs (environment), with their defaults:
#   BENCH_BYTES=1G BENCH_PLAIN_BYTES=4G   bytes per throughput run (proxied, plain)
#   BENCH_RR_COUNT=20000 BENCH_RR_ROUNDS=5  1 KiB round trips, over all rounds
#   BENCH_CONN_SECONDS=5 BENCH_CONN_CONCURRENCY=2N   handshake-rate runs
#   BENCH_IDLE_CONNS=1000   BENCH_GCM_SECONDS=2 (whole seconds, per AEAD figure)
#   BENCH_STRACE=1   BENCH_WORKERS=N (mtlsd's workers)   BENCH_WORKERS_RUNS=3
#   BENCH_QUIET_WAIT=30   seconds to wait for other work to leave the CPUs
#   BENCH_TRAINING_RUNS=5   0 skips it
#   BENCH_SYSTEMS="plain mtlsd mtlsd-mbedtls mtlsd-ktls stunnel stunnel-hitch stunnel-haproxy mtlsd-workers"
# A quick check: BENCH_BYTES=64M BENCH_PLAIN_BYTES=128M BENCH_RR_COUNT=1000
# BENCH_CONN_SECONDS=1 BENCH_IDLE_CONNS=100 BENCH_GCM_SECONDS=1
# BENCH_QUIET_WAIT=0 BENCH_WORKERS_RUNS=1 BENCH_TRAINING_RUNS=1.
# Needs python3, ss, stunnel4, hitch, haproxy, strace, nm, gnuplot (charts).
# As root hitch's workers run as nobody (hitch refuses root workers).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u
shopt -s nullglob
T_START=$(date +%s)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
TOP=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-build}
case "$BUILD" in /*) ;; *) BUILD="$PWD/$BUILD" ;; esac
MTLSD=$BUILD/mtlsd BENCH=$BUILD/mtlsd-bench OUT=$BUILD/bench
LOGS=$OUT/logs WORK=$OUT/work PKI=$OUT/work/pki RAW=$OUT/raw.jsonl
NCPU=$(getconf _NPROCESSORS_ONLN)
N=$(( NCPU < 2 ? 2 : NCPU ))
KNOBS="BENCH_BYTES BENCH_PLAIN_BYTES BENCH_RR_COUNT BENCH_RR_ROUNDS BENCH_CONN_SECONDS
BENCH_CONN_CONCURRENCY BENCH_IDLE_CONNS BENCH_GCM_SECONDS BENCH_STRACE BENCH_WORKERS
BENCH_WORKERS_RUNS BENCH_QUIET_WAIT BENCH_TRAINING_RUNS"
: "${BENCH_BYTES:=1G}" "${BENCH_PLAIN_BYTES:=4G}" "${BENCH_RR_COUNT:=20000}"
: "${BENCH_RR_ROUNDS:=5}" "${BENCH_CONN_SECONDS:=5}" "${BENCH_CONN_CONCURRENCY:=$(( 2 * N ))}"
: "${BENCH_IDLE_CONNS:=1000}" "${BENCH_GCM_SECONDS:=2}" "${BENCH_STRACE:=1}"
: "${BENCH_WORKERS:=$N}" "${BENCH_WORKERS_RUNS:=3}" "${BENCH_QUIET_WAIT:=30}"
: "${BENCH_TRAINING_RUNS:=5}"
: "${BENCH_SYSTEMS:=plain mtlsd mtlsd-mbedtls mtlsd-ktls stunnel stunnel-hitch stunnel-haproxy mtlsd-workers}"

# --- records --------------------------------------------------------------

say() { echo "bench: $*" >&2; }
die() { say "$*"; exit 1; }
jstr() { local s=${1//\\/\\\\}; s=${s//\"/\\\"}; s=${s//$'\t'/ }; printf '"%s"' "${s//$'\n'/ }"; }
last_json() { grep '^{' "$1" 2>/dev/null | tail -n 1; }

# emit SYS TEST CMD OBJECT [MEMBERS]: one raw record; MEMBERS ("k":v,...)
# are added to OBJECT, the result.
emit() {
	local o=$4
	[ -n "${5:-}" ] && o="${o%\}},$5}"
	printf '{"system":%s,"test":%s,"cmd":%s,"result":%s}\n' "$(jstr "$1")" \
	    "$(jstr "$2")" "$(jstr "$3")" "$o" >> "$RAW"
}

# fail SYS TEST WHY: what did not work.  A "start" failure is the whole row.
fail() {
	say "$1 $2: $3"
	printf '{"system":%s,"test":%s,"error":%s}\n' "$(jstr "$1")" "$(jstr "$2")" \
	    "$(jstr "$3")" >> "$RAW"
}

# --- processes and the CPU ------------------------------------------------

declare -A PID=()	# name -> pid of every process started, until stopped
ORPHAN=0		# CPU ticks of our processes that init reaped (stop)

# start NAME CMD...: CMD in the background, its output in logs/NAME.log.
start() {
	local n=$1
	shift
	"$@" > "$LOGS/$n.log" 2>&1 &
	PID[$n]=$!
	echo "$*" > "$LOGS/$n.cmd"
}

alive() {
	local st
	read -r st 2>/dev/null < "/proc/$1/stat" || return 1
	st=${st##*) }
	[ "${st%% *}" != Z ]
}

# tree PID: PID and all its descendants.
tree() {
	local f line p q=$1 out=""
	local -A kids=()
	for f in /proc/[0-9]*/stat; do
		read -r line 2>/dev/null < "$f" || continue
		p=${line%% *}
		set -- ${line##*) }
		kids[$2]+=" $p"
	done
	while [ -n "${q// /}" ]; do
		set -- $q
		p=$1
		shift
		q="$* ${kids[$p]:-}"
		out+=" $p"
	done
	echo $out
}

# ticks MODE PID...: clock ticks over the PIDs (/proc/PID/stat): self is
# utime + stime (every thread), reaped what their reaped children took, all
# both.
ticks() {
	local mode=$1 p line sum=0
	shift
	for p in "$@"; do
		read -r line 2>/dev/null < "/proc/$p/stat" || continue
		set -- ${line##*) }
		case $mode in
		self) sum=$(( sum + ${12} + ${13} )) ;;
		reaped) sum=$(( sum + ${14} + ${15} )) ;;
		all) sum=$(( sum + ${12} + ${13} + ${14} + ${15} )) ;;
		esac
	done
	echo $sum
}

# cpu_of NAME, rss_of NAME: CPU ticks, VmRSS KiB of NAME's process tree.
cpu_of() { if [ -n "$1" ]; then ticks self $(tree "${PID[$1]}"); else echo 0; fi; }
rss_of() {
	local p k v sum=0
	for p in $( [ -n "$1" ] && tree "${PID[$1]}"); do
		while read -r k v _; do
			[ "$k" = VmRSS: ] && sum=$(( sum + v ))
		done 2>/dev/null < "/proc/$p/status"
	done
	echo $sum
}

# snap: "TOTAL BUSY OURS" ticks: all CPUs' time since boot, the part not idle
# (steal included), and the part this script's tree took.  Busy less ours
# between two snaps is what other work on the machine took.
snap() {
	local line total=0 v
	read -r line < /proc/stat
	set -- ${line#cpu }
	for v; do total=$(( total + v )); done
	echo "$total $(( total - $4 - $5 )) $(( $(ticks all $(tree $$)) + ORPHAN ))"
}

# others T0 B0 O0 T1 B1 O1: the share (%) of the CPUs other work took.
others() {
	local p=$(( $4 > $1 ? (($5 - $2) - ($6 - $3)) * 100 / ($4 - $1) : 0 ))
	echo $(( p < 0 ? 0 : p ))
}

# wait_quiet: up to BENCH_QUIET_WAIT s until other work takes under 15%.
wait_quiet() {
	local end=$(( SECONDS + BENCH_QUIET_WAIT )) a b
	while [ "$BENCH_QUIET_WAIT" -gt 0 ]; do
		a=($(snap))
		sleep 0.5
		b=($(snap))
		[ "$(others ${a[*]} ${b[*]})" -lt 15 ] && return 0
		[ $SECONDS -lt $end ] || { say "other work keeps the CPUs busy; measuring anyway"; return 1; }
	done
}

# wait_listen NAME PORT: until NAME's tree listens on PORT (where ss names
# the owner, as root, another program's listener does not count).
wait_listen() {
	local end=$(( SECONDS + 15 )) l p
	while alive "${PID[$1]}"; do
		l=$(ss -Hltnp "sport = :$2" 2>/dev/null)
		case "$l" in
		"") ;;
		*pid=*) for p in $(tree "${PID[$1]}"); do
				case "$l" in *"pid=$p,"*) return 0 ;; esac
			done ;;
		*) return 0 ;;
		esac
		[ $SECONDS -lt $end ] || { say "$1: nothing listens on :$2 after 15 s"; return 1; }
		sleep 0.05
	done
	say "$1 exited while starting (logs/$1.log)"
	return 1
}

# stop NAME: SIGTERM, 15 s for its tree to go, then SIGKILL (and fails).
stop() {
	local p=${PID[$1]:-} pids pre c0 left rc=0 end=$(( SECONDS + 15 ))
	[ -n "$p" ] || return 0
	pids=$(tree "$p")
	pre=$(ticks all $pids)
	c0=$(ticks reaped $$)
	kill -TERM "$p" 2>/dev/null
	while left=$(for q in $pids; do alive "$q" && echo "$q"; done); [ -n "$left" ]; do
		if [ $SECONDS -ge $end ]; then
			say "$1 did not stop on SIGTERM; killing it"
			kill -KILL $left 2>/dev/null
			rc=1
			sleep 0.2
			break
		fi
		sleep 0.05
	done
	wait "$p" 2>/dev/null
	unset "PID[$1]"
	# hitch's workers outlive their master: init reaps them, and their CPU
	# time never reaches ours.
	c0=$(( $(ticks reaped $$) - c0 ))
	[ "$pre" -le "$c0" ] || ORPHAN=$(( ORPHAN + pre - c0 ))
	return $rc
}

cleanup() {
	local n
	for n in "${!PID[@]}"; do kill -TERM $(tree "${PID[$n]}") 2>/dev/null; done
	for n in "${!PID[@]}"; do wait "${PID[$n]}" 2>/dev/null; done
}

free_ports() { python3 "$TOP/scripts/free-ports.py" "$1"; }
to_bytes() {
	case $1 in
	*[kK]) echo $(( ${1%?} << 10 )) ;;
	*[mM]) echo $(( ${1%?} << 20 )) ;;
	*[gG]) echo $(( ${1%?} << 30 )) ;;
	*) echo "$1" ;;
	esac
}

# render TEMPLATE OUT KEY=VALUE...: bench/configs/TEMPLATE with @KEY@ filled.
render() {
	local in=$TOP/bench/configs/$1 out=$2 kv a=()
	shift 2
	for kv; do a+=(-e "s|@${kv%%=*}@|${kv#*=}|g"); done
	sed "${a[@]}" "$in" > "$out" && ! grep -q '@[A-Z_]*@' "$out" ||
		{ say "render $1: placeholders left in $out"; return 1; }
}

# --- the systems ----------------------------------------------------------

# unavailable SYS: prints why SYS cannot run here and succeeds, or fails.
unavailable() {
	case $1 in
	stunnel*) command -v stunnel > /dev/null || { echo "n/a: stunnel is not installed"; return 0; } ;;&
	stunnel-hitch) command -v hitch > /dev/null || { echo "n/a: hitch is not installed"; return 0; } ;;
	stunnel-haproxy) command -v haproxy > /dev/null || { echo "n/a: haproxy is not installed"; return 0; } ;;
	mtlsd-ktls) [ "$KTLS" = 1 ] || { echo "n/a: this kernel has no tls ULP"; return 0; } ;;
	esac
	return 1
}

# The record_layer of SYS's mtlsd pair; the workers comparison asks about
# mbedTLS's record path, so it keeps mbedTLS's records.
layer_of() {
	case $1 in
	mtlsd-ktls) echo kernel ;;
	mtlsd-mbedtls|mtlsd-workers) echo mbedtls ;;
	*) echo libgcrypt ;;
	esac
}

# start_system SYS BACKEND RESUME TAG [WORKERS]: SYS's pair in front of the
# backend port, session resumption RESUME (on/off) on the client side, logs
# logs/SYS.TAG.{client,server}.log.  Sets CP (where the load connects),
# SPORT (the server side), CLIENT and SERVER (PID[] names, "" for plain).
start_system() {
	local sys=$1 be=$2 res=$3 b=$1.$4 w=${5:-$BENCH_WORKERS} lvl=warn s port pc ps
	read -r pc ps <<< "$(free_ports 2)"
	CLIENT="" SERVER="" CP=$be SPORT=$ps
	case $sys in
	plain) return 0 ;;
	mtlsd*)
		# Close lines (suite, layer) only where the connections are few.
		case $4 in sink|w*) lvl=info ;; esac
		for s in server client; do
			port=$ps
			[ $s = client ] && port=$pc
			render mtlsd-$s.ini.in "$WORK/$b.$s.ini" PKI="$PKI" LAYER="$(layer_of $sys)" \
			    LISTEN_PORT=$port SERVER_PORT=$ps BACKEND_PORT=$be LOG_LEVEL=$lvl \
			    RESUMPTION="session_resumption = $res" WORKERS="$w" || return 1
			"$MTLSD" check -c "$WORK/$b.$s.ini" > "$LOGS/$b.$s.check.log" 2>&1 ||
				{ say "$sys: mtlsd check refused logs/$b.$s.check.log"; return 1; }
			start $b.$s "$MTLSD" run -c "$WORK/$b.$s.ini"
			if [ $s = server ]; then SERVER=$b.$s; else CLIENT=$b.$s; fi
			wait_listen $b.$s $port || return 1
		done ;;
	stunnel*)
		case $sys in
		stunnel) render stunnel-server.conf.in "$WORK/$b.server.conf" PKI="$PKI" \
			    LISTEN_PORT=$ps BACKEND_PORT=$be &&
			start $b.server stunnel "$WORK/$b.server.conf" ;;
		stunnel-hitch) render hitch.conf.in "$WORK/$b.server.conf" PKI="$PKI" WORK="$WORK" \
			    WORKERS=$N LISTEN_PORT=$ps BACKEND_PORT=$be USER_LINE="$HITCH_USER" &&
			start $b.server hitch --config="$WORK/$b.server.conf" ;;
		stunnel-haproxy) render haproxy.cfg.in "$WORK/$b.server.conf" PKI="$PKI" WORKERS=$N \
			    LISTEN_PORT=$ps BACKEND_PORT=$be MAXCONN=$HAPROXY_MAXCONN &&
			start $b.server haproxy -db -f "$WORK/$b.server.conf" ;;
		esac || return 1
		SERVER=$b.server
		wait_listen $SERVER $ps &&
		render stunnel-client.conf.in "$WORK/$b.client.conf" PKI="$PKI" LISTEN_PORT=$pc \
		    SERVER_PORT=$ps RESUME=$( [ "$res" = on ] && echo yes || echo no) || return 1
		start $b.client stunnel "$WORK/$b.client.conf"
		CLIENT=$b.client
		wait_listen $CLIENT $pc || return 1 ;;
	esac
	CP=$pc
}

# stop_system SYS: both sides, the client first.
stop_system() {
	local n
	for n in $CLIENT $SERVER; do
		stop $n || fail "$1" stop "$n did not stop on SIGTERM (logs/$n.log)"
	done
	CLIENT="" SERVER=""
}

# close_summary SIDE LOG: "SIDE":{"tls":{VALUE:count,...},"cipher":...,
# "path":...,"layer":...} over mtlsd's close lines.
close_summary() {
	local k sep=""
	printf '"%s":{' "$1"
	for k in tls cipher path layer; do
		printf '%s"%s":{%s}' "$sep" $k "$(grep 'event=close' "$2" | grep -o " $k=[^ ]*" |
		    sort | uniq -c | awk '{ sub(/^[^=]*=/, "", $2); printf "%s\"%s\":%d", n++ ? "," : "", $2, $1 }')"
		sep=,
	done
	printf '}'
}

# probe SYS: Python's ssl (OpenSSL), independent of both proxies, straight to
# the server side with the echo behind it: with the client certificate it
# must get TLS 1.3 and its byte back, without one nothing.
probe() {
	local out
	out=$(python3 - "$SPORT" "$PKI" 2> "$LOGS/$1.probe.log" <<'EOF'
import socket, ssl, sys
def attempt(cert):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(sys.argv[2] + "/ca.crt")
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    if cert:
        ctx.load_cert_chain(sys.argv[2] + "/client.crt", sys.argv[2] + "/client.key")
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
    with ctx.wrap_socket(s, server_hostname="localhost") as t:
        try:
            t.sendall(b"p")
            got = t.recv(1)
        except OSError:
            got = b""
        return t.version(), t.cipher()[0], got == b"p"
v, c, echo = attempt(True)
print('{"version":"%s","cipher":"%s","echo_with_cert":%s,"echo_without_cert":%s}'
      % (v, c, str(echo).lower(), str(attempt(False)[2]).lower()))
EOF
)
	if [ -n "$out" ]; then
		emit "$1" probe "python3 ssl client -> server side" "$out"
	else
		fail "$1" probe "the TLS probe failed (logs/$1.probe.log)"
	fi
}

# --- the measurements -----------------------------------------------------

# load SYS TEST ARGS...: mtlsd-bench ARGS --json against the pair, with each
# side's CPU ticks and the machine's around it (and LOAD_X's members).  The
# figures are kept when it printed them; it failed unless "ok":true.
LOAD_X=""
load() {
	local sys=$1 test=$2 log=$LOGS/$1.$2.log c0 s0 a b x
	shift 2
	a=($(snap))
	c0=$(cpu_of "$CLIENT") s0=$(cpu_of "$SERVER")
	"$BENCH" "$@" --json > "$log" 2>&1
	x="\"client_ticks\":$(( $(cpu_of "$CLIENT") - c0 )),\"server_ticks\":$(( $(cpu_of "$SERVER") - s0 ))"
	b=($(snap))
	x+=",\"machine_ticks\":[$(( b[0] - a[0] )),$(( b[1] - a[1] )),$(( b[2] - a[2] ))]${LOAD_X:+,$LOAD_X}"
	[ -n "$(last_json "$log")" ] && emit "$sys" "$test" "mtlsd-bench $*" "$(last_json "$log")" "$x"
	grep -q '"ok":true' "$log" ||
		fail "$sys" "$test" "$(grep -v '^{' "$log" | tail -n 3 | tr '\n' ' ')(logs/$sys.$test.log)"
}

# syscalls SYS: strace -c -f on each side during a 256 MiB, 1-stream run.
syscalls() {
	local sys=$1 s n x sp=() bytes=$(( 256 << 20 ))
	for s in client server; do
		n=$CLIENT
		[ $s = server ] && n=$SERVER
		strace -c -f -o "$LOGS/$sys.strace.$s.txt" -p "${PID[$n]}" 2> "$LOGS/$sys.strace.$s.log" &
		sp+=($!)
	done
	# strace says "attached" on stderr once it holds the threads.
	for s in client server; do
		for n in $(seq 250); do grep -q attached "$LOGS/$sys.strace.$s.log" && break; sleep 0.02; done
	done
	"$BENCH" source --connect 127.0.0.1:$CP --bytes $bytes --json > "$LOGS/$sys.strace.source.log" 2>&1
	kill -INT "${sp[@]}" 2>/dev/null
	wait "${sp[@]}" 2>/dev/null
	if ! grep -q '"ok":true' "$LOGS/$sys.strace.source.log"; then
		fail "$sys" syscalls "the strace run failed (logs/$sys.strace.*)"
		return
	fi
	x="\"bytes\":$bytes"
	for s in client server; do
		x+=",\"$s\":{$(awk '$1 ~ /^[0-9]/ && NF >= 5 && $NF != "total" {
		    printf "%s\"%s\":%d", n++ ? "," : "", $NF, $4 }' "$LOGS/$sys.strace.$s.txt")}"
	done
	emit "$sys" syscalls "strace -c -f -p SIDE during: mtlsd-bench source --bytes $bytes" "{$x}"
}

# idle SYS: VmRSS of each side before and after BENCH_IDLE_CONNS idle
# connections (each proved alive by an echo).
idle() {
	local sys=$1 log=$LOGS/$1.idle.log c0 s0 x
	c0=$(rss_of "$CLIENT") s0=$(rss_of "$SERVER")
	start $sys.idle "$BENCH" idle --connect 127.0.0.1:$CP --conns $BENCH_IDLE_CONNS \
	    --concurrency 4 --hold 3600 --json
	until grep -q '^{' "$log" || ! alive "${PID[$sys.idle]}"; do sleep 0.05; done
	sleep 0.5	# the last connections settle
	x="\"rss_kib\":[$c0,$(rss_of "$CLIENT"),$s0,$(rss_of "$SERVER")]"
	stop $sys.idle
	[ -n "$(last_json "$log")" ] &&
		emit "$sys" idle "mtlsd-bench idle --connect 127.0.0.1:$CP --conns $BENCH_IDLE_CONNS" "$(last_json "$log")" "$x"
	grep -q '"ok":true' "$log" || fail "$sys" idle "$(grep -v '^{' "$log" | tail -n 3 | tr '\n' ' ')"
}

# measure SYS: every figure of SYS, in front of a fresh sink and echo.
measure() {
	local sys=$1 sink echo total run w res
	read -r sink echo <<< "$(free_ports 2)"
	start $sys.sink "$BENCH" sink --listen 127.0.0.1:$sink
	start $sys.echo "$BENCH" echo --listen 127.0.0.1:$echo
	if ! wait_listen $sys.sink $sink || ! wait_listen $sys.echo $echo; then
		fail $sys start "the sink or echo did not start (logs/$sys.sink.log, $sys.echo.log)"
	elif [ $sys = mtlsd-workers ]; then
		# workers = 1 against N under N streams, alternated, fresh pairs.
		total=$(to_bytes $BENCH_BYTES)
		for (( run = 1; run <= BENCH_WORKERS_RUNS; run++ )); do
			for w in 1 $N; do
				say "$sys: workers = $w, $N streams (run $run)"
				if start_system $sys $sink on w$w.$run $w; then
					LOAD_X="\"workers\":$w,\"run\":$run"
					load $sys workers source --connect 127.0.0.1:$CP --bytes $(( total / N )) --streams $N
					LOAD_X=""
				else
					fail $sys workers "workers = $w did not start (logs/$sys.w$w.$run.*.log)"
				fi
				stop_system $sys
			done
		done
	elif start_system $sys $sink on sink; then
		total=$(to_bytes $BENCH_BYTES)
		[ $sys = plain ] && total=$(to_bytes $BENCH_PLAIN_BYTES)
		say "$sys: throughput, 1 stream and $N streams"
		load $sys throughput1 source --connect 127.0.0.1:$CP --bytes $total
		load $sys throughputN source --connect 127.0.0.1:$CP --bytes $(( total / N )) --streams $N
		case $sys in mtlsd|mtlsd-mbedtls|mtlsd-ktls|stunnel)
			[ "$BENCH_STRACE" = 1 ] && command -v strace > /dev/null && syscalls $sys ;;
		esac
		stop_system $sys
		case $sys in mtlsd*)
			emit $sys paths "grep event=close logs/$sys.sink.*.log" \
			    "{$(close_summary client $LOGS/$sys.sink.client.log),$(close_summary server $LOGS/$sys.sink.server.log)}" ;;
		esac
		# Handshakes: resumed (the default), then full; plain: TCP.
		for res in on off; do
			[ $sys = plain ] && [ $res = off ] && break
			if ! start_system $sys $echo $res echo.$res; then
				fail $sys connrate_$res "the pair did not start (logs/$sys.echo.$res.*.log)"
			else
				[ $sys != plain ] && [ $res = on ] && { probe $sys; say "$sys: RSS"; idle $sys; }
				say "$sys: handshakes/s, session resumption $res"
				load $sys connrate_$res connrate --connect 127.0.0.1:$CP \
				    --seconds $BENCH_CONN_SECONDS --concurrency $BENCH_CONN_CONCURRENCY
			fi
			stop_system $sys
		done
	else
		fail $sys start "the pair did not start (logs/$sys.sink.*.log)"
		stop_system $sys
	fi
	stop $sys.sink
	stop $sys.echo
}

# latency SYS...: 1 KiB round trips through every SYS, measured
# interleaved: this machine drifts by tens of percent within minutes, so a
# figure per slot compared the moments more than the systems.  Every pair is
# up at once (idle pairs take no CPU) before its own echo, mtlsd with its
# echo phase's config; each of BENCH_RR_ROUNDS rounds takes every SYS in
# turn, one further each round, so that none always goes first.
latency() {
	local up=() s r i n a b port log count=$(( BENCH_RR_COUNT / BENCH_RR_ROUNDS ))
	local -A cp=() cl=() sv=()
	[ $count -ge 1 ] || count=1
	for s; do
		port=$(free_ports 1)
		start $s.rr.echo "$BENCH" echo --listen 127.0.0.1:$port
		if wait_listen $s.rr.echo $port && start_system $s $port on rr; then
			cp[$s]=$CP cl[$s]=$CLIENT sv[$s]=$SERVER
			up+=($s)
		else
			fail $s rr "the pair did not start for the latency phase (logs/$s.rr.*.log)"
			stop_system $s
			stop $s.rr.echo
		fi
	done
	n=${#up[@]}
	emit latency rr_phase "BENCH_RR_ROUNDS=$BENCH_RR_ROUNDS BENCH_RR_COUNT=$BENCH_RR_COUNT" \
	    "{\"rounds\":$BENCH_RR_ROUNDS,\"count\":$count,\"warmup\":200}"
	for (( r = 1; n > 0 && r <= BENCH_RR_ROUNDS; r++ )); do
		wait_quiet
		say "latency round $r of $BENCH_RR_ROUNDS"
		for (( i = 0; i < n; i++ )); do
			s=${up[(r - 1 + i) % n]}
			log=$LOGS/$s.rr.$r.log
			a=($(snap))
			"$BENCH" rr --connect 127.0.0.1:${cp[$s]} --count $count --warmup 200 --json > "$log" 2>&1
			b=($(snap))
			if grep -q '"ok":true' "$log"; then
				emit $s rr_round "mtlsd-bench rr --connect 127.0.0.1:${cp[$s]} --count $count --warmup 200" \
				    "$(last_json "$log")" "\"round\":$r,\"position\":$(( i + 1 )),\"others_pct\":$(others ${a[*]} ${b[*]})"
			else
				fail $s rr "round $r: $(grep -v '^{' "$log" | tail -n 3 | tr '\n' ' ')"
			fi
		done
	done
	for s in "${up[@]}"; do
		CLIENT=${cl[$s]} SERVER=${sv[$s]}
		stop_system $s
		stop $s.rr.echo
	done
}

# imports LIB PREFIX: LIB's undefined dynamic symbols that start with PREFIX.
imports() {
	nm -D "$1" 2>/dev/null | awk -v p="$2" '$1 == "U" && index($2, p) == 1 {
	    sub(/@.*/, "", $2); printf "%s\"%s\"", n++ ? "," : "", $2 }'
}

# --- the run --------------------------------------------------------------

[ -x "$MTLSD" ] && [ -x "$BENCH" ] || die "build first (make): no $MTLSD or $BENCH"
command -v python3 > /dev/null || die "python3 is needed"
trap cleanup EXIT
trap 'say "interrupted: stopping everything it started"; exit 130' INT TERM HUP
rm -rf "$OUT"
mkdir -p "$LOGS" "$WORK/ocsp"
: > "$RAW"
ulimit -n "$(ulimit -Hn)" 2>/dev/null
ulimit -u unlimited 2>/dev/null	# stunnel: a thread per connection
# haproxy refuses a maxconn that needs more descriptors than it may open.
nofile=$(ulimit -n)
[ "$nofile" = unlimited ] && nofile=1048576
HAPROXY_MAXCONN=$(( (nofile - 200) / 2 > 20000 ? 20000 : (nofile - 200) / 2 ))
HITCH_USER=""
[ "$(id -u)" = 0 ] && HITCH_USER='user = "nobody"'
KTLS=0
grep -qw tls /proc/sys/net/ipv4/tcp_available_ulp 2>/dev/null || modprobe -q tls 2>/dev/null
grep -qw tls /proc/sys/net/ipv4/tcp_available_ulp 2>/dev/null && KTLS=1
say "results in $OUT; systems: $BENCH_SYSTEMS"

# One CA, one server certificate (dns:localhost) and one client certificate
# for every system; hitch and haproxy take key and certificate in one PEM.
{
	"$MTLSD" certs init-ca --dir "$PKI" --name "mtlsd bench CA" --days 90 &&
	"$MTLSD" certs issue --dir "$PKI" --name server --days 60 --san dns:localhost,ip:127.0.0.1 &&
	"$MTLSD" certs issue --dir "$PKI" --name client --days 60 --san dns:client.bench.localhost
} > "$LOGS/certs.log" 2>&1 || die "certificates: see $LOGS/certs.log"
cat "$PKI/server.key" "$PKI/server.crt" > "$PKI/server.pem"
chmod 600 "$PKI/server.pem"

wait_quiet
say "the AEADs alone, one core (${BENCH_GCM_SECONDS}s a figure)"
if "$BENCH" aead --seconds "$BENCH_GCM_SECONDS" > "$LOGS/aead.log" 2>&1; then
	emit aead speed "mtlsd-bench aead --seconds $BENCH_GCM_SECONDS" "$(last_json "$LOGS/aead.log")"
else
	fail aead speed "mtlsd-bench aead failed (logs/aead.log)"
fi
cmd="openssl speed -elapsed -seconds $BENCH_GCM_SECONDS -bytes 16384 -evp aes-128-gcm"
$cmd > "$LOGS/openssl-speed.log" 2>&1
bps=$(awk 'toupper($1) == "AES-128-GCM" { v = $NF; sub(/k$/, "", v); printf "%.0f", v * 1000 }' "$LOGS/openssl-speed.log")
if [ -n "$bps" ]; then
	emit openssl speed "$cmd" "{\"aes128gcm_Bps\":$bps}"
else
	fail openssl speed "openssl speed failed (logs/openssl-speed.log)"
fi

# Which AEAD API libmbedtls's records go through (psa_aead_* where it was
# built with MBEDTLS_USE_PSA_CRYPTO, mbedtls_cipher_auth_* otherwise), and
# whether libmbedcrypto has PSA's key-slot mutex (MBEDTLS_THREADING_C).
tls=$(ldd "$MTLSD" | awk '/libmbedtls\./ { print $3; exit }')
crypto=$(ldd "$MTLSD" | awk '/libmbedcrypto\./ { print $3; exit }')
if command -v nm > /dev/null && [ -n "$tls" ]; then
	mutex=false
	nm -D "$crypto" 2>/dev/null | grep -q ' mbedtls_threading_key_slot_mutex$' && mutex=true
	emit mbedtls record_path "nm -D $tls; nm -D $crypto" "{\"libmbedtls\":$(jstr "$(readlink -f "$tls")"),\
\"psa_aead\":[$(imports "$tls" psa_aead_)],\"cipher_aead\":[$(imports "$tls" mbedtls_cipher_auth_)],\"key_slot_mutex\":$mutex}"
else
	fail mbedtls record_path "no nm (binutils), or mtlsd links no shared libmbedtls"
fi

for sys in $BENCH_SYSTEMS; do
	if why=$(unavailable $sys); then
		fail $sys start "$why"
		continue
	fi
	say "=== $sys"
	wait_quiet
	a=($(snap))
	measure $sys
	b=($(snap))
	emit $sys interference "/proc/stat busy less this script's tree" "{\"others_pct\":$(others ${a[*]} ${b[*]})}"
done

rr=()
for sys in $BENCH_SYSTEMS; do
	[ $sys = mtlsd-workers ] || unavailable $sys > /dev/null || rr+=($sys)
done
[ ${#rr[@]} -gt 0 ] && say "=== latency: ${rr[*]}" && latency "${rr[@]}"

if [ "$BENCH_TRAINING_RUNS" -gt 0 ]; then
	wait_quiet
	say "=== training: $BENCH_TRAINING_RUNS runs each, plain and through mtlsd"
	bash "$TOP/bench/training.sh" "$BUILD" "$OUT" || fail training start "bench/training.sh exited $? (logs/training/)"
fi

ver() { "$@" 2>&1 | head -n 1; }
{
	printf '{"kernel":%s,"cpu":%s,"nproc":%s,"n_streams":%s,"clk_tck":%s,' "$(jstr "$(uname -r)")" \
	    "$(jstr "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')")" \
	    "$NCPU" "$N" "$(getconf CLK_TCK)"
	printf '"date":%s,"mtlsd":%s,"mbedtls":%s,"libgcrypt":%s,"openssl":%s,' \
	    "$(jstr "$(date -u '+%Y-%m-%d %H:%M UTC')")" \
	    "$(jstr "$(ver "$MTLSD" version) $(git -C "$TOP" describe --always --dirty 2>/dev/null)")" \
	    "$(jstr "$(pkg-config --modversion mbedtls)")" "$(jstr "$(pkg-config --modversion libgcrypt)")" \
	    "$(jstr "$(ver openssl version)")"
	printf '"stunnel":%s,"haproxy":%s,"hitch":%s,"ulp_list":%s,"tls_ulp":%s,' \
	    "$(jstr "$(stunnel -version 2>&1 | awk '/^stunnel/ { print $1 " " $2; exit }')")" \
	    "$(jstr "$(haproxy -v 2>&1 | head -n 1 | sed 's/ - https.*//')")" "$(jstr "$(ver hitch --version)")" \
	    "$(jstr "$(cat /proc/sys/net/ipv4/tcp_available_ulp 2>/dev/null)")" \
	    "$( [ $KTLS = 1 ] && echo true || echo false)"
	printf '"settings":{'
	sep=""
	for k in $KNOBS; do printf '%s"%s":%s' "$sep" $k "$(jstr "${!k}")"; sep=,; done
	printf '},"systems":%s,"loadavg_start":%s,"loadavg_end":%s,"seconds":%s}\n' "$(jstr "$BENCH_SYSTEMS")" \
	    "$(jstr "$LOAD_START")" "$(jstr "$(cut -d' ' -f1-3 /proc/loadavg)")" $(( $(date +%s) - T_START ))
} > "$OUT/machine.json"

python3 -B "$TOP/bench/report.py" "$OUT" || die "report failed"
if command -v gnuplot > /dev/null; then
	term=png
	gnuplot -e 'set terminal' 2>&1 | grep -qw pngcairo && term=pngcairo
	gnuplot -e "outdir='$OUT'; term='$term'; nstreams=$N" "$TOP/bench/plot.gp" > "$LOGS/gnuplot.log" 2>&1 ||
		say "gnuplot failed (logs/gnuplot.log)"
else
	say "no gnuplot: no charts"
fi
cat "$OUT/summary.md"
say "done in $(( $(date +%s) - T_START )) s: $OUT/results.md, results.json, throughput.png, handshakes.png"
say "summary for the README: $OUT/summary.md"
