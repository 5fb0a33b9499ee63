#!/bin/sh
# bench/run.sh [BUILD]: mtlsd side by side with plain TCP, a stunnel pair,
# stunnel->hitch and stunnel->haproxy, on loopback, in one run.  `make bench`.
#
#   plain            mtlsd-bench -> sink/echo                      (the ceiling)
#   mtlsd            mtlsd-bench -> mtlsd client -> mtlsd server -> sink/echo
#   mtlsd-ktls       the same with ktls = on (only where the kernel has the
#                    tls ULP; otherwise a row that says why not)
#   stunnel          mtlsd-bench -> stunnel client -> stunnel server -> ...
#   stunnel-hitch    mtlsd-bench -> stunnel client -> hitch -> ...
#   stunnel-haproxy  mtlsd-bench -> stunnel client -> haproxy (mode tcp) -> ...
#
# Every pair: ECDSA P-256 certificates from `mtlsd certs` (one CA), TLS 1.3
# with TLS_AES_128_GCM_SHA256 forced, the server requires and verifies the
# client certificate, the client verifies the server's chain and name.
#
# Measures per system: bulk throughput (1 and N streams, N = online CPUs, at
# least 2), CPU-seconds per GiB of each side's process, 1 KiB request/response
# latency percentiles, full and resumed handshakes per second, RSS per idle
# connection; and mbedTLS's own AES-128-GCM speed on one core.  Writes
# BUILD/bench/results.md, results.json, throughput.png, handshakes.png and
# every process's log under BUILD/bench/logs/, then prints the tables.
#
# Knobs (environment):
#   BENCH_BYTES=1G            bytes per throughput run through a proxy pair
#   BENCH_PLAIN_BYTES=4G      bytes per throughput run over plain TCP
#   BENCH_RR_COUNT=20000      recorded 1 KiB round trips
#   BENCH_CONN_SECONDS=5      seconds per handshake-rate run
#   BENCH_CONN_CONCURRENCY=   connecting threads (default 2 x N)
#   BENCH_IDLE_CONNS=1000     idle connections for the RSS figure
#   BENCH_GCM_SECONDS=2       seconds per mbedTLS AES-GCM figure
#   BENCH_STRACE=1            syscall counts (strace -c) of mtlsd and stunnel
#   BENCH_QUIET_WAIT=30       seconds to wait, before each system, for other
#                             work to leave the CPUs (0: do not wait)
#   BENCH_RETRIES=1           times to measure a system again when other work
#                             took over 15% of the CPUs meanwhile (the
#                             quietest attempt is kept)
#   BENCH_SYSTEMS="plain mtlsd mtlsd-ktls stunnel stunnel-hitch stunnel-haproxy"
#
# Root is not needed; as root, hitch's workers run as nobody (hitch refuses
# root workers) and the rest keeps the caller's user.  Needs bash, python3
# (the report), gnuplot (the charts), ss, stunnel4, hitch, haproxy, strace.
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
BENCH_CONN_SECONDS=${BENCH_CONN_SECONDS:-5}
BENCH_CONN_CONCURRENCY=${BENCH_CONN_CONCURRENCY:-$(( 2 * N ))}
BENCH_IDLE_CONNS=${BENCH_IDLE_CONNS:-1000}
BENCH_GCM_SECONDS=${BENCH_GCM_SECONDS:-2}
BENCH_STRACE=${BENCH_STRACE:-1}
BENCH_QUIET_WAIT=${BENCH_QUIET_WAIT:-30}
BENCH_RETRIES=${BENCH_RETRIES:-1}
BENCH_SYSTEMS=${BENCH_SYSTEMS:-plain mtlsd mtlsd-ktls stunnel stunnel-hitch stunnel-haproxy}

say() { echo "bench: $*" >&2; }
die() { say "$*"; exit 1; }

[ -x "$MTLSD" ] && [ -x "$BENCH" ] || die "build first (make): no $MTLSD or $BENCH"
command -v python3 > /dev/null || die "python3 is needed for the report"

# --- processes ----------------------------------------------------------------

declare -A PID=()	# name -> pid of everything started, until stopped

# pid_of NAME: the pid of a started process, or nothing.
pid_of() { [ -n "$1" ] && echo "${PID[$1]:-}"; }

# is_alive PID: running (a zombie counts as gone).
is_alive() {
	local st
	[ -r "/proc/$1/stat" ] || return 1
	read -r st 2>/dev/null < "/proc/$1/stat" || return 1
	st=${st##*) }
	[ "${st%% *}" != Z ]
}

# tree PID: PID and all its descendants.
tree() {
	local f line p rest out="" queue=$1
	declare -A kids=()
	for f in /proc/[0-9]*/stat; do
		read -r line 2>/dev/null < "$f" || continue
		p=${line%% *}
		rest=${line##*) }
		set -- $rest
		kids[$2]="${kids[$2]:-} $p"
	done
	while [ -n "${queue// /}" ]; do
		set -- $queue
		p=$1; shift; queue="$*"
		out="$out $p"
		queue="$queue ${kids[$p]:-}"
	done
	echo $out
}

# cpu_ticks PID: utime + stime (fields 14, 15 of /proc/PID/stat: every thread
# of the process) summed over PID and its descendants, in clock ticks.
cpu_ticks() {
	local p line sum=0
	[ -n "$1" ] || { echo 0; return; }
	for p in $(tree "$1"); do
		read -r line 2>/dev/null < "/proc/$p/stat" || continue
		line=${line##*) }
		set -- $line
		sum=$(( sum + ${12} + ${13} ))
	done
	echo $sum
}

# rss_kib PID: VmRSS summed over PID and its descendants.
rss_kib() {
	local p k v sum=0
	[ -n "$1" ] || { echo 0; return; }
	for p in $(tree "$1"); do
		while read -r k v _; do
			[ "$k" = VmRSS: ] && sum=$(( sum + v ))
		done 2>/dev/null < "/proc/$p/status"
	done
	echo $sum
}

# all_ticks PID... [children]: utime + stime + cutime + cstime summed over the
# PIDs; with "children" last, only cutime + cstime (what reaped children took).
all_ticks() {
	local p line sum=0 reaped=0
	[ "${*: -1}" = children ] && reaped=1
	for p in "$@"; do
		[ "$p" = children ] && continue
		read -r line 2>/dev/null < "/proc/$p/stat" || continue
		line=${line##*) }
		set -- $line
		if [ $reaped = 1 ]; then
			sum=$(( sum + ${14} + ${15} ))
		else
			sum=$(( sum + ${12} + ${13} + ${14} + ${15} ))
		fi
	done
	echo $sum
}

ORPHAN_TICKS=0	# CPU time of our processes that init reaped (see stop)

# cpu_snapshot: "TOTAL BUSY OURS" in clock ticks: every CPU's time since boot,
# the part not idle (steal included: it is taken from us too), and the part
# this script and everything it started have used (reaped children's time
# is in our cutime/cstime, live ones are read directly).  Busy - ours is
# what other work on the machine took while the bench ran.
cpu_snapshot() {
	local line total=0 busy ours=0 v
	read -r line < /proc/stat
	set -- ${line#cpu }
	for v in "$@"; do total=$(( total + v )); done
	busy=$(( total - $4 - $5 ))	# idle, iowait
	ours=$(( $(all_ticks $(tree $$)) + ORPHAN_TICKS ))
	echo "$total $busy $ours"
}

# wait_quiet: up to BENCH_QUIET_WAIT seconds until other work takes under
# 15% of the CPUs (over half a second), so every system gets the same machine.
wait_quiet() {
	local end=$(( $(date +%s) + BENCH_QUIET_WAIT )) a b pct
	[ "$BENCH_QUIET_WAIT" -gt 0 ] || return 0
	while :; do
		a=($(cpu_snapshot))
		sleep 0.5
		b=($(cpu_snapshot))
		pct=$(( ((b[1] - a[1]) - (b[2] - a[2])) * 100 / (b[0] > a[0] ? b[0] - a[0] : 1) ))
		[ "$pct" -lt 15 ] && return 0
		if [ "$(date +%s)" -ge "$end" ]; then
			say "other work takes ${pct}% of the CPUs; measuring anyway"
			return 1
		fi
	done
}

# start NAME CMD...: runs CMD in the background, output in $LOGS/NAME.log.
start() {
	local name=$1; shift
	"$@" > "$LOGS/$name.log" 2>&1 &
	PID[$name]=$!
	echo "$*" > "$LOGS/$name.cmd"
}

# listens PID PORT: PID or one of its children listens on PORT.  The ports
# are picked free, but another program may take one first: where ss can name
# the owner (-p, as root), a listener that is not ours does not count.
listens() {
	local l p
	l=$(ss -Hltnp "sport = :$2" 2>/dev/null)
	[ -n "$l" ] || return 1
	case "$l" in *pid=*) ;; *) return 0 ;; esac
	for p in $(tree "$1"); do
		case "$l" in *"pid=$p,"*) return 0 ;; esac
	done
	return 1
}

# wait_listen NAME PORT [SECS]: until NAME's process listens on PORT, or it
# is gone; no fixed sleeps.
wait_listen() {
	local name=$1 port=$2 secs=${3:-15} end
	end=$(( $(date +%s%N) / 1000000 + secs * 1000 ))
	while :; do
		listens "${PID[$name]}" "$port" && return 0
		is_alive "${PID[$name]}" || { say "$name exited while starting"; return 1; }
		[ $(( $(date +%s%N) / 1000000 )) -lt "$end" ] || { say "$name: nothing listens on :$port after ${secs}s"; return 1; }
		sleep 0.02
	done
}

# stop NAME: SIGTERM, up to 15 s for the process and its children to go, then
# SIGKILL; reaps it.  Fails when SIGTERM was not enough.
stop() {
	local name=$1 p pids end rc=0 left q pre c0
	[ -n "$name" ] || return 0
	p=${PID[$name]:-}
	[ -n "$p" ] || return 0
	pids=$(tree "$p")
	pre=$(all_ticks $pids)
	c0=$(all_ticks $$ children)
	kill -TERM "$p" 2>/dev/null
	end=$(( $(date +%s) + 15 ))
	while :; do
		left=""
		for q in $pids; do is_alive "$q" && left="$left $q"; done
		[ -n "$left" ] || break
		if [ "$(date +%s)" -ge "$end" ]; then
			say "$name did not stop on SIGTERM; killing$left"
			kill -KILL $left 2>/dev/null
			rc=1
			sleep 0.1
			break
		fi
		sleep 0.02
	done
	wait "$p" 2>/dev/null
	unset "PID[$name]"
	# A child that its parent leaves behind (hitch's workers outlive its
	# master) is reaped by init, and its CPU time never reaches ours.
	c0=$(( $(all_ticks $$ children) - c0 ))
	[ "$pre" -le "$c0" ] || ORPHAN_TICKS=$(( ORPHAN_TICKS + pre - c0 ))
	return $rc
}

cleanup() {
	local n p
	for n in "${!PID[@]}"; do
		p=${PID[$n]}
		kill -TERM $(tree "$p") 2>/dev/null
	done
	for n in "${!PID[@]}"; do
		wait "${PID[$n]}" 2>/dev/null
	done
}
trap cleanup EXIT
trap 'say "interrupted: stopping everything it started"; exit 130' INT TERM HUP

# free_ports N: N distinct free TCP ports on 127.0.0.1.
free_ports() {
	python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

# to_bytes SIZE: 1G -> 1073741824 (K, M, G are powers of 1024).
to_bytes() {
	local s=$1 m=1
	case "$s" in
	*[kK]) m=1024; s=${s%?} ;;
	*[mM]) m=1048576; s=${s%?} ;;
	*[gG]) m=1073741824; s=${s%?} ;;
	esac
	echo $(( s * m ))
}

# render TEMPLATE OUTFILE KEY=VALUE...: @KEY@ -> VALUE.
render() {
	local in="$TOP/bench/configs/$1" out=$2 kv args=()
	shift 2
	for kv in "$@"; do
		args+=(-e "s|@${kv%%=*}@|${kv#*=}|g")
	done
	sed "${args[@]}" "$in" > "$out"
	if grep -q '@[A-Z_]*@' "$out"; then
		say "render $1: placeholders left: $(grep -o '@[A-Z_]*@' "$out" | sort -u | tr '\n' ' ')"
		return 1
	fi
}

# --- results ------------------------------------------------------------------

# jstr TEXT: TEXT as a JSON string.
jstr() {
	local s=${1//\\/\\\\}
	s=${s//\"/\\\"}
	s=${s//$'\n'/ }
	s=${s//$'\t'/ }
	printf '"%s"' "$s"
}

# emit SYSTEM TEST CMD RESULT [EXTRA]: one raw record; RESULT and EXTRA are
# JSON objects (EXTRA's members are added to the record).
emit() {
	local extra=${5:-}
	[ -n "$extra" ] && extra=",${extra#\{}" && extra=${extra%\}}
	printf '{"system":%s,"test":%s,"cmd":%s,"result":%s%s}\n' \
	    "$(jstr "$1")" "$(jstr "$2")" "$(jstr "$3")" "${4:-null}" "$extra" >> "$RAW"
}

# fail SYSTEM TEST WHY: a measurement (or the system) that did not work.
fail() {
	say "$1 $2: $3"
	printf '{"system":%s,"test":%s,"error":%s}\n' "$(jstr "$1")" \
	    "$(jstr "$2")" "$(jstr "$3")" >> "$RAW"
}

# last_json FILE: its last line that looks like a JSON object.
last_json() { grep '^{' "$1" 2>/dev/null | tail -n 1; }

# --- the systems --------------------------------------------------------------

MTLSD_RESUMPTION=0	# 1 when this mtlsd knows session_resumption

# Set by start_system: where the load connects, and the two proxy processes.
CP=""
CLIENT=""	# name in PID[] of the client-side proxy, "" for plain
SERVER=""	# name in PID[] of the server-side proxy
SYS_SERVER_PORT=""

# start_system SYS BACKEND_PORT RESUME TAG: starts SYS's pair in front of the
# backend.  RESUME is on or off (session resumption on the client side).
start_system() {
	local sys=$1 backend=$2 resume=$3 tag=$4 pc ps pa pb res ktls lvl
	local base="$sys.$tag"
	set -- $(free_ports 4)
	pc=$1 ps=$2 pa=$3 pb=$4
	CLIENT="" SERVER="" CP="" SYS_SERVER_PORT=$ps
	case "$sys" in
	plain)
		CP=$backend
		return 0 ;;
	mtlsd|mtlsd-ktls)
		ktls=off
		[ "$sys" = mtlsd-ktls ] && ktls=on
		res=""
		[ "$MTLSD_RESUMPTION" = 1 ] && res="session_resumption = $resume"
		# Close lines (TLS version, cipher, data path) only where the
		# connections are few: not while handshakes are counted.
		lvl=warn
		[ "$tag" = sink ] && lvl=info
		render mtlsd-server.ini.in "$WORK/$base.server.ini" PKI="$PKI" \
		    KTLS=$ktls ADMIN_PORT=$pb LISTEN_PORT=$ps BACKEND_PORT=$backend \
		    RESUMPTION="$res" LOG_LEVEL=$lvl || return 1
		render mtlsd-client.ini.in "$WORK/$base.client.ini" PKI="$PKI" \
		    KTLS=$ktls ADMIN_PORT=$pa LISTEN_PORT=$pc SERVER_PORT=$ps \
		    RESUMPTION="$res" LOG_LEVEL=$lvl || return 1
		"$MTLSD" check -c "$WORK/$base.server.ini" > "$LOGS/$base.server.check.log" 2>&1 &&
		"$MTLSD" check -c "$WORK/$base.client.ini" > "$LOGS/$base.client.check.log" 2>&1 || {
			say "$sys: mtlsd check refused a config (logs/$base.*.check.log)"; return 1; }
		start "$base.server" "$MTLSD" run -c "$WORK/$base.server.ini"
		SERVER="$base.server"
		wait_listen "$SERVER" "$ps" || return 1
		start "$base.client" "$MTLSD" run -c "$WORK/$base.client.ini"
		CLIENT="$base.client"
		wait_listen "$CLIENT" "$pc" || return 1
		MTLSD_ADMIN="$pa $pb" ;;
	stunnel|stunnel-hitch|stunnel-haproxy)
		case "$sys" in
		stunnel)
			render stunnel-server.conf.in "$WORK/$base.server.conf" \
			    PKI="$PKI" LISTEN_PORT=$ps BACKEND_PORT=$backend || return 1
			start "$base.server" stunnel "$WORK/$base.server.conf" ;;
		stunnel-hitch)
			# hitch refuses to run its workers as root.
			render hitch.conf.in "$WORK/$base.server.conf" PKI="$PKI" \
			    WORK="$WORK" WORKERS=$N LISTEN_PORT=$ps \
			    BACKEND_PORT=$backend USER_LINE="$HITCH_USER_LINE" || return 1
			start "$base.server" hitch --config="$WORK/$base.server.conf" ;;
		stunnel-haproxy)
			render haproxy.cfg.in "$WORK/$base.server.conf" PKI="$PKI" \
			    WORKERS=$N LISTEN_PORT=$ps BACKEND_PORT=$backend \
			    MAXCONN=$HAPROXY_MAXCONN || return 1
			start "$base.server" haproxy -db -f "$WORK/$base.server.conf" ;;
		esac
		SERVER="$base.server"
		wait_listen "$SERVER" "$ps" || return 1
		render stunnel-client.conf.in "$WORK/$base.client.conf" PKI="$PKI" \
		    LISTEN_PORT=$pc SERVER_PORT=$ps \
		    RESUME="$( [ "$resume" = on ] && echo yes || echo no )" || return 1
		start "$base.client" stunnel "$WORK/$base.client.conf"
		CLIENT="$base.client"
		wait_listen "$CLIENT" "$pc" || return 1 ;;
	*)
		say "unknown system $sys"
		return 1 ;;
	esac
	CP=$pc
}

# stop_system SYS: stops both sides (client first); notes one that had to be
# killed.
stop_system() {
	local n
	for n in $CLIENT $SERVER; do
		stop "$n" || fail "$1" stop "$n did not stop on SIGTERM (see logs/$n.log)"
	done
	CLIENT="" SERVER=""
}

# mtlsd_metric PORTS NAME: NAME summed over both sides' /metrics.
mtlsd_metric() {
	local p sum=0 v
	command -v curl > /dev/null || { echo null; return; }
	for p in $1; do
		v=$(curl -s --max-time 5 "http://127.0.0.1:$p/metrics" |
		    awk -v m="$2" '$1 ~ "^"m"({|$)" { s += $2 } END { printf "%d", s }')
		sum=$(( sum + ${v:-0} ))
	done
	echo $sum
}

# close_summary SIDE LOG: "SIDE":{"tls":{...},"cipher":{...},"path":{...}},
# each a count of the values the close lines show.
close_summary() {
	printf '"%s":{' "$1"
	local k first=1
	for k in tls cipher path; do
		[ $first = 1 ] || printf ','
		first=0
		printf '"%s":{%s}' "$k" "$(grep 'event=close' "$2" 2>/dev/null |
		    grep -o " $k=[^ ]*" | sort | uniq -c |
		    awk '{ sub(/^[^=]*=/, "", $2); printf "%s\"%s\":%d", n++ ? "," : "", $2, $1 }')"
	done
	printf '}'
}

# probe SYS: a TLS client independent of both proxies (Python's ssl, i.e.
# OpenSSL) talks to the server side directly, behind which an echo runs: with
# the client certificate it must get TLS 1.3 with AES-128-GCM and its byte
# back; without one it must get nothing back.
probe() {
	local sys=$1 out
	out=$(python3 - "$SYS_SERVER_PORT" "$PKI" <<'EOF' 2>&1
import socket, ssl, sys
port, pki = int(sys.argv[1]), sys.argv[2]
def attempt(cert):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(pki + "/ca.crt")
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    if cert:
        ctx.load_cert_chain(pki + "/client.crt", pki + "/client.key")
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    t = ctx.wrap_socket(s, server_hostname="localhost")
    info = (t.version(), t.cipher()[0])
    try:
        t.sendall(b"p")
        got = t.recv(1)
    except (ssl.SSLError, OSError) as e:
        got = b""
    t.close()
    return info, got
(v, c), got = attempt(True)
(v2, c2), got2 = attempt(False)
# Python offers AES-256-GCM first: only a server that forces the suite
# answers with AES-128-GCM.
ok = v == "TLSv1.3" and got == b"p" and got2 == b""
print('{"version":"%s","cipher":"%s","echo_with_cert":%s,"echo_without_cert":%s,"ok":%s}'
      % (v, c, str(got == b"p").lower(), str(got2 == b"p").lower(), str(ok).lower()))
EOF
)
	echo "$out" > "$LOGS/$sys.probe.log"
	out=$(echo "$out" | grep '^{' | tail -n 1)
	if [ -n "$out" ]; then
		emit "$sys" probe "python3 ssl client -> server side :$SYS_SERVER_PORT" "$out"
	else
		fail "$sys" probe "TLS probe failed (see logs/$sys.probe.log)"
	fi
}

# --- measurements -------------------------------------------------------------

# start_backends SYS: a fresh sink and echo server for SYS's pair to forward
# to (mtlsd-bench's own, one epoll thread each); sets SINK_PORT, ECHO_PORT.
start_backends() {
	local sys=$1
	set -- $(free_ports 2)
	SINK_PORT=$1 ECHO_PORT=$2
	start "$sys.backend-sink" "$BENCH" sink --listen "127.0.0.1:$SINK_PORT"
	start "$sys.backend-echo" "$BENCH" echo --listen "127.0.0.1:$ECHO_PORT"
	wait_listen "$sys.backend-sink" "$SINK_PORT" &&
	    wait_listen "$sys.backend-echo" "$ECHO_PORT"
}

# backend_note SYS KIND: text to add to a failure when the sink or echo
# server behind the pair has gone, for the failure is then not the pair's.
backend_note() {
	is_alive "${PID[$1.backend-$2]:-}" || printf ' (the %s server behind the pair had exited: logs/%s.backend-%s.log)' "$2" "$1" "$2"
}

# throughput SYS: 1 stream (with each side's CPU time) and N streams, to sink.
throughput() {
	local sys=$1 bytes total per c0 s0 c1 s1 cmd log m
	if [ "$sys" = plain ]; then bytes=$BENCH_PLAIN_BYTES; else bytes=$BENCH_BYTES; fi
	total=$(to_bytes "$bytes")
	if ! start_system "$sys" "$SINK_PORT" on sink; then
		fail "$sys" start "failed to start (see logs/$sys.sink.*.log)"
		stop_system "$sys"
		return 1
	fi
	say "$sys: throughput, 1 stream, $bytes"
	log="$LOGS/$sys.source1.log"
	cmd="mtlsd-bench source --connect 127.0.0.1:$CP --bytes $total --streams 1 --json"
	c0=$(cpu_ticks "$(pid_of "$CLIENT")") s0=$(cpu_ticks "$(pid_of "$SERVER")")
	"$BENCH" source --connect "127.0.0.1:$CP" --bytes "$total" --streams 1 --json > "$log" 2>&1
	c1=$(cpu_ticks "$(pid_of "$CLIENT")") s1=$(cpu_ticks "$(pid_of "$SERVER")")
	if grep -q '"ok":true' "$log"; then
		emit "$sys" throughput1 "$cmd" "$(last_json "$log")" \
		    "{\"client_cpu_ticks\":$((c1 - c0)),\"server_cpu_ticks\":$((s1 - s0)),\"clk_tck\":$CLK_TCK,\"has_proxies\":$([ -n "$CLIENT" ] && echo true || echo false)}"
	else
		fail "$sys" throughput1 "source failed: $(tail -n 3 "$log" | tr '\n' ' ')$(backend_note "$sys" sink)"
	fi

	per=$(( total / N ))
	say "$sys: throughput, $N streams, $per bytes each"
	log="$LOGS/$sys.sourceN.log"
	cmd="mtlsd-bench source --connect 127.0.0.1:$CP --bytes $per --streams $N --json"
	c0=$(cpu_ticks "$(pid_of "$CLIENT")") s0=$(cpu_ticks "$(pid_of "$SERVER")")
	"$BENCH" source --connect "127.0.0.1:$CP" --bytes "$per" --streams "$N" --json > "$log" 2>&1
	c1=$(cpu_ticks "$(pid_of "$CLIENT")") s1=$(cpu_ticks "$(pid_of "$SERVER")")
	if grep -q '"ok":true' "$log"; then
		emit "$sys" throughputN "$cmd" "$(last_json "$log")" \
		    "{\"client_cpu_ticks\":$((c1 - c0)),\"server_cpu_ticks\":$((s1 - s0)),\"clk_tck\":$CLK_TCK}"
	else
		fail "$sys" throughputN "source failed: $(tail -n 3 "$log" | tr '\n' ' ')$(backend_note "$sys" sink)"
	fi
	case "$sys" in mtlsd*)
		m="\"ktls_conns\":$(mtlsd_metric "$MTLSD_ADMIN" mtlsd_connections_ktls_total),\"conns\":$(mtlsd_metric "$MTLSD_ADMIN" mtlsd_connections_total)" ;;
	esac
	[ "$BENCH_STRACE" = 1 ] && syscalls "$sys"
	stop_system "$sys"
	# What the pair negotiated and which data path each side took, from
	# their close lines (info level in this phase).
	case "$sys" in mtlsd*)
		emit "$sys" paths "grep event=close logs/$sys.sink.{client,server}.log; curl /metrics" \
		    "{$m,$(close_summary client "$LOGS/$sys.sink.client.log"),$(close_summary server "$LOGS/$sys.sink.server.log")}" ;;
	esac
}

# syscalls SYS: strace -c -f on each side during a 256 MiB, 1-stream run;
# the figure is syscalls per 16 KiB moved (one full TLS record).
syscalls() {
	local sys=$1 side name sp=() n bytes=$((256 * 1048576)) log cmd
	case "$sys" in mtlsd|mtlsd-ktls|stunnel) ;; *) return 0 ;; esac
	command -v strace > /dev/null || return 0
	for side in client server; do
		name=$CLIENT; [ $side = server ] && name=$SERVER
		strace -c -f -o "$LOGS/$sys.strace.$side.txt" -p "${PID[$name]}" \
		    > "$LOGS/$sys.strace.$side.log" 2>&1 &
		sp+=($!)
	done
	# strace says "attached" per thread on stderr once it holds them.
	for side in client server; do
		n=0
		until grep -q 'attached' "$LOGS/$sys.strace.$side.log" 2>/dev/null; do
			n=$((n + 1)); [ $n -lt 250 ] || break; sleep 0.02
		done
	done
	log="$LOGS/$sys.strace.source.log"
	cmd="strace -c -f -p <each side> during: mtlsd-bench source --connect 127.0.0.1:$CP --bytes $bytes --streams 1"
	"$BENCH" source --connect "127.0.0.1:$CP" --bytes "$bytes" --streams 1 --json > "$log" 2>&1
	kill -INT "${sp[@]}" 2>/dev/null
	wait "${sp[@]}" 2>/dev/null
	python3 - "$LOGS/$sys.strace.client.txt" "$LOGS/$sys.strace.server.txt" "$bytes" > "$LOGS/$sys.strace.json" <<'EOF'
import json, sys
def parse(path):
    calls = {}
    try:
        for line in open(path):
            f = line.split()
            if len(f) >= 5 and f[0][0].isdigit() and f[-1] not in ("total", "syscall"):
                calls[f[-1]] = int(f[3])
    except OSError:
        pass
    return calls
b = int(sys.argv[3])
out = {"bytes": b}
for side, path in (("client", sys.argv[1]), ("server", sys.argv[2])):
    c = parse(path)
    top = sorted(c.items(), key=lambda kv: -kv[1])[:6]
    out[side] = {"total": sum(c.values()), "per_16k": round(sum(c.values()) / (b / 16384), 2),
                 "top": {k: round(v / (b / 16384), 2) for k, v in top}}
print(json.dumps(out))
EOF
	if grep -q '"ok":true' "$log" && [ -s "$LOGS/$sys.strace.json" ]; then
		emit "$sys" syscalls "$cmd" "$(cat "$LOGS/$sys.strace.json")"
	else
		fail "$sys" syscalls "strace run failed (see logs/$sys.strace.*)"
	fi
}

# echo_tests SYS: latency, RSS per idle connection, handshakes/s; then the
# handshake rate once more with session resumption off (full handshakes).
echo_tests() {
	local sys=$1 log cmd r0c r0s r1c r1s ip n label
	if ! start_system "$sys" "$ECHO_PORT" on echo; then
		fail "$sys" start "failed to start (see logs/$sys.echo.*.log)"
		stop_system "$sys"
		return 1
	fi
	[ "$sys" != plain ] && probe "$sys"

	say "$sys: latency, $BENCH_RR_COUNT x 1 KiB round trips"
	log="$LOGS/$sys.rr.log"
	cmd="mtlsd-bench rr --connect 127.0.0.1:$CP --size 1K --count $BENCH_RR_COUNT --json"
	if "$BENCH" rr --connect "127.0.0.1:$CP" --size 1K --count "$BENCH_RR_COUNT" --json > "$log" 2>&1; then
		emit "$sys" rr "$cmd" "$(last_json "$log")"
	else
		fail "$sys" rr "rr failed: $(tail -n 3 "$log" | tr '\n' ' ')$(backend_note "$sys" echo)"
	fi

	if [ "$sys" != plain ]; then
		say "$sys: RSS, $BENCH_IDLE_CONNS idle connections"
		log="$LOGS/$sys.idle.log"
		cmd="mtlsd-bench idle --connect 127.0.0.1:$CP --conns $BENCH_IDLE_CONNS --hold 3600 --json"
		r0c=$(rss_kib "$(pid_of "$CLIENT")") r0s=$(rss_kib "$(pid_of "$SERVER")")
		start "$sys.idle" "$BENCH" idle --connect "127.0.0.1:$CP" \
		    --conns "$BENCH_IDLE_CONNS" --hold 3600 --json
		ip=${PID[$sys.idle]}
		n=0
		until grep -q '^{' "$log" 2>/dev/null || ! is_alive "$ip"; do
			n=$((n + 1)); [ $n -lt 9000 ] || break; sleep 0.02
		done
		# Counted once every connection has echoed; let the last ones settle.
		sleep 0.5
		r1c=$(rss_kib "$(pid_of "$CLIENT")") r1s=$(rss_kib "$(pid_of "$SERVER")")
		stop "$sys.idle"
		if grep -q '^{' "$log"; then
			emit "$sys" idle "$cmd" "$(last_json "$log")" \
			    "{\"client_rss_kib_before\":$r0c,\"client_rss_kib_after\":$r1c,\"server_rss_kib_before\":$r0s,\"server_rss_kib_after\":$r1s}"
			grep -q '"failed":0' "$log" ||
				fail "$sys" idle "not every connection opened: $(grep -v '^{' "$log" | tail -n 3 | tr '\n' ' ')$(backend_note "$sys" echo)"
		else
			fail "$sys" idle "idle failed: $(tail -n 3 "$log" | tr '\n' ' ')$(backend_note "$sys" echo)"
		fi
	fi

	# With resumption on (every client side's default): the resumed rate.
	label=resumed
	case "$sys" in
	plain) label=tcp ;;
	mtlsd|mtlsd-ktls) [ "$MTLSD_RESUMPTION" = 1 ] || label=default ;;
	esac
	connrate "$sys" "$label"
	stop_system "$sys"

	[ "$sys" = plain ] && return 0
	[ "$label" = default ] && return 0
	if ! start_system "$sys" "$ECHO_PORT" off full; then
		fail "$sys" start "failed to start with resumption off (see logs/$sys.full.*.log)"
		stop_system "$sys"
		return 1
	fi
	connrate "$sys" full
	stop_system "$sys"
}

# connrate SYS LABEL: handshakes (connect + 1-byte echo) per second.
connrate() {
	local sys=$1 label=$2 log cmd c0 s0 c1 s1
	say "$sys: handshakes/s ($label), $BENCH_CONN_SECONDS s, $BENCH_CONN_CONCURRENCY threads"
	log="$LOGS/$sys.connrate.$label.log"
	cmd="mtlsd-bench connrate --connect 127.0.0.1:$CP --seconds $BENCH_CONN_SECONDS --concurrency $BENCH_CONN_CONCURRENCY --json"
	c0=$(cpu_ticks "$(pid_of "$CLIENT")") s0=$(cpu_ticks "$(pid_of "$SERVER")")
	"$BENCH" connrate --connect "127.0.0.1:$CP" --seconds "$BENCH_CONN_SECONDS" \
	    --concurrency "$BENCH_CONN_CONCURRENCY" --json > "$log" 2>&1
	c1=$(cpu_ticks "$(pid_of "$CLIENT")") s1=$(cpu_ticks "$(pid_of "$SERVER")")
	if grep -q '^{' "$log"; then
		emit "$sys" "connrate_$label" "$cmd" "$(last_json "$log")" \
		    "{\"client_cpu_ticks\":$((c1 - c0)),\"server_cpu_ticks\":$((s1 - s0)),\"clk_tck\":$CLK_TCK}"
		grep -q '"ok":true' "$log" ||
			fail "$sys" "connrate_$label" "connections failed: $(grep -v '^{' "$log" | tail -n 3 | tr '\n' ' ')$(backend_note "$sys" echo)"
	else
		fail "$sys" "connrate_$label" "connrate failed: $(tail -n 3 "$log" | tr '\n' ' ')$(backend_note "$sys" echo)"
	fi
}

# measure_system SYS: every measurement of SYS against fresh backends; writes
# the share of the CPUs other work took meanwhile to $OUT/others.SYS.ATTEMPT.
measure_system() {
	local sys=$1 t0 b0 o0
	set -- $(cpu_snapshot)
	t0=$1 b0=$2 o0=$3
	if start_backends "$sys"; then
		throughput "$sys"
		echo_tests "$sys"
	else
		fail "$sys" start "the sink or echo server did not start (logs/$sys.backend-*.log)"
	fi
	stop "$sys.backend-sink"
	stop "$sys.backend-echo"
	set -- $(cpu_snapshot)
	emit "$sys" interference "/proc/stat busy ticks - this script's tree's ticks" \
	    "{\"total_ticks\":$(( $1 - t0 )),\"busy_ticks\":$(( $2 - b0 )),\"our_ticks\":$(( $3 - o0 ))}"
	echo $(( $1 > t0 ? ((($2 - b0) - ($3 - o0)) * 100 / ($1 - t0)) : 0 )) |
	    sed 's/^-.*/0/' > "$OUT/others.$sys.$attempt"
}

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
render mtlsd-client.ini.in "$WORK/probe-resumption.ini" PKI="$PKI" KTLS=off \
    ADMIN_PORT=3 LISTEN_PORT=1 SERVER_PORT=2 RESUMPTION="session_resumption = on" \
    LOG_LEVEL=warn
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

# mbedTLS's own AES-128-GCM figure on one core, the userspace path's ceiling.
wait_quiet
say "mbedTLS AES-128-GCM speed (${BENCH_GCM_SECONDS}s per figure)"
if cc -std=c11 -O2 -Wall -Wextra -o "$OUT/gcmspeed" "$TOP/bench/gcmspeed/gcmspeed.c" \
    $(pkg-config --cflags --libs mbedcrypto 2>/dev/null || echo -lmbedcrypto) \
    > "$LOGS/gcmspeed.build.log" 2>&1 &&
    "$OUT/gcmspeed" "$BENCH_GCM_SECONDS" > "$LOGS/gcmspeed.log" 2>&1; then
	emit mbedtls gcmspeed "build/bench/gcmspeed $BENCH_GCM_SECONDS" "$(last_json "$LOGS/gcmspeed.log")"
else
	fail mbedtls gcmspeed "gcmspeed failed (see logs/gcmspeed*.log)"
fi

for sys in $BENCH_SYSTEMS; do
	case "$sys" in
	stunnel*) command -v stunnel > /dev/null || { fail "$sys" start "stunnel is not installed"; continue; } ;;
	esac
	case "$sys" in
	stunnel-hitch) command -v hitch > /dev/null || { fail "$sys" start "hitch is not installed"; continue; } ;;
	stunnel-haproxy) command -v haproxy > /dev/null || { fail "$sys" start "haproxy is not installed"; continue; } ;;
	mtlsd-ktls) [ "$KTLS_ULP" = 1 ] || { fail "$sys" start "n/a: kernel has no tls ULP"; continue; } ;;
	esac
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
	printf '"openssl":%s,' "$(jstr "$(ver openssl version)")"
	printf '"stunnel":%s,' "$(jstr "$(stunnel -version 2>&1 | awk '/^stunnel/ { v = $1 " " $2 }
	    /^Running/ { sub(/^Running +/, ""); r = $0 } END { print v " (" r ")" }')")"
	printf '"haproxy":%s,' "$(jstr "$(haproxy -v 2>&1 | head -n 1 | sed 's/ - https.*//')")"
	printf '"hitch":%s,' "$(jstr "$(ver hitch --version)")"
	printf '"tls_ulp":%s,' "$( [ "$KTLS_ULP" = 1 ] && echo true || echo false)"
	printf '"ulp_list":%s,' "$(jstr "$(cat /proc/sys/net/ipv4/tcp_available_ulp 2>/dev/null)")"
	printf '"mtlsd_resumption_key":%s,' "$( [ "$MTLSD_RESUMPTION" = 1 ] && echo true || echo false)"
	printf '"settings":{"BENCH_BYTES":%s,"BENCH_PLAIN_BYTES":%s,"BENCH_RR_COUNT":%s,"BENCH_CONN_SECONDS":%s,"BENCH_CONN_CONCURRENCY":%s,"BENCH_IDLE_CONNS":%s,"BENCH_GCM_SECONDS":%s,"BENCH_QUIET_WAIT":%s,"BENCH_RETRIES":%s},' \
	    "$(jstr "$BENCH_BYTES")" "$(jstr "$BENCH_PLAIN_BYTES")" "$BENCH_RR_COUNT" \
	    "$BENCH_CONN_SECONDS" "$BENCH_CONN_CONCURRENCY" "$BENCH_IDLE_CONNS" "$BENCH_GCM_SECONDS" \
	    "$BENCH_QUIET_WAIT" "$BENCH_RETRIES"
	printf '"systems":%s,' "$(jstr "$BENCH_SYSTEMS")"
	printf '"loadavg_start":%s,"loadavg_end":%s,' "$(jstr "$LOAD_START")" "$(jstr "$(cut -d' ' -f1-3 /proc/loadavg)")"
	printf '"seconds":%s' $(( T_END - T_START ))
	printf '}\n'
} > "$OUT/machine.json"

# --- the report ---------------------------------------------------------------

# report OUT: results.md, results.json and the charts' .dat files, from
# raw.jsonl (one record per measurement) and machine.json.
report() {
	python3 - "$1" <<'PY'
import json, os, sys

out = sys.argv[1]
machine = json.load(open(os.path.join(out, "machine.json")))
recs = [json.loads(l) for l in open(os.path.join(out, "raw.jsonl")) if l.strip()]
SYSTEMS = machine["systems"].split()
PEERS = [s for s in ("stunnel", "stunnel-hitch", "stunnel-haproxy") if s in SYSTEMS]
GIB = float(1 << 30)
N = machine["n_streams"]

res, errs = {}, {}
for r in recs:
    if "error" in r:
        errs.setdefault(r["system"], []).append((r["test"], r["error"]))
    else:
        res[(r["system"], r["test"])] = r


def get(sys_, test):
    return res.get((sys_, test))


def start_error(s):
    for t, e in errs.get(s, []):
        if t == "start":
            return e
    return None


def test_error(s, test):
    for t, e in errs.get(s, []):
        if t == test:
            return e
    return None


# --- the figures -----------------------------------------------------------
fig = {s: {} for s in SYSTEMS}
cmds = {}
for s in SYSTEMS:
    f = fig[s]
    for test, key in (("throughput1", "thr1"), ("throughputN", "thrN")):
        r = get(s, test)
        if r is None:
            continue
        cmds.setdefault("throughput", []).append((s, r["cmd"]))
        f[key + "_gbps"] = r["result"]["gbps"]
        f[key + "_Bps"] = r["result"]["bytes"] / r["result"]["seconds"]
        if s != "plain":
            gib = r["result"]["bytes"] / GIB
            f[key + "_cpu_client"] = r["client_cpu_ticks"] / r["clk_tck"] / gib
            f[key + "_cpu_server"] = r["server_cpu_ticks"] / r["clk_tck"] / gib
    r = get(s, "rr")
    if r:
        cmds.setdefault("rr", []).append((s, r["cmd"]))
        for k in ("p50_us", "p99_us", "p999_us", "max_us"):
            f["rr_" + k] = r["result"][k]
    r = get(s, "idle")
    if r:
        cmds.setdefault("idle", []).append((s, r["cmd"]))
        ok = r["result"]["ok"]
        f["idle_ok"] = ok
        f["idle_conns"] = r["result"]["conns"]
        if ok > 0:
            f["rss_client"] = (r["client_rss_kib_after"] - r["client_rss_kib_before"]) / ok
            f["rss_server"] = (r["server_rss_kib_after"] - r["server_rss_kib_before"]) / ok
        for k in ("client_rss_kib_before", "client_rss_kib_after",
                  "server_rss_kib_before", "server_rss_kib_after"):
            f["idle_" + k] = r[k]
    for label in ("full", "resumed", "default", "tcp"):
        r = get(s, "connrate_" + label)
        if not r:
            continue
        cmds.setdefault("connrate", []).append((s + " (" + label + ")", r["cmd"]))
        # Without a session_resumption key, mtlsd has no resumption: its
        # default handshakes are full ones.
        key = {"default": "full", "tcp": "full"}.get(label, label)
        rr_ = r["result"]
        f["hs_" + key] = rr_["conns_per_s"]
        f["hs_" + key + "_p50_ms"] = rr_["p50_us"] / 1000
        f["hs_" + key + "_p99_ms"] = rr_["p99_us"] / 1000
        f["hs_" + key + "_errors"] = rr_["errors"]
        if rr_["conns"] > 0 and s != "plain":
            f["hs_" + key + "_cpu_client_ms"] = r["client_cpu_ticks"] / r["clk_tck"] / rr_["conns"] * 1000
            f["hs_" + key + "_cpu_server_ms"] = r["server_cpu_ticks"] / r["clk_tck"] / rr_["conns"] * 1000
    r = get(s, "syscalls")
    if r:
        f["syscalls"] = r["result"]
        cmds.setdefault("syscalls", []).append((s, r["cmd"]))
    r = get(s, "probe")
    if r:
        f["probe"] = r["result"]
    r = get(s, "paths")
    if r:
        f["paths"] = r["result"]
    r = get(s, "attempts")
    if r:
        f["attempts"], f["attempt_kept"] = r["result"]["attempts"], r["result"]["kept"]
    r = get(s, "interference")
    if r and r["result"]["total_ticks"] > 0:
        x = r["result"]
        f["others_cpu_pct"] = max(0, x["busy_ticks"] - x["our_ticks"]) / x["total_ticks"] * 100
if "plain" in fig and "rr_p99_us" in fig["plain"]:
    for s in SYSTEMS:
        if "rr_p99_us" in fig[s]:
            fig[s]["rr_added_p99_us"] = fig[s]["rr_p99_us"] - fig["plain"]["rr_p99_us"]
gcm = get("mbedtls", "gcmspeed")
gcm = gcm["result"] if gcm else None


# --- formatting ------------------------------------------------------------
def num(v, d=2):
    if v is None:
        return "n/a"
    return f"{v:,.{d}f}"


def best_peer(key, higher):
    vals = [(fig[p][key], p) for p in PEERS if fig[p].get(key) is not None]
    if not vals:
        return None, None
    v, p = (max if higher else min)(vals)
    return v, p


def ratio(v, ref):
    if v is None or ref is None or ref == 0:
        return "—"
    return f"{v / ref:.2f}×"


def why_missing(s, test=None):
    e = start_error(s)
    if e:
        return e
    if test:
        e = test_error(s, test)
        if e:
            return e
    return "n/a"


md = []
w = md.append
w("# mtlsd benchmark: side by side with stunnel, hitch and haproxy")
w("")
w(f"Machine: Linux {machine['kernel']}, {machine['cpu']}, {machine['nproc']} online CPUs; "
  f"run {machine['date']}, took {machine['seconds']} s.  ")
w(f"Software: {machine['mtlsd']}; mbedTLS {machine['mbedtls']} (gcmspeed reports "
  f"{gcm['mbedtls'] if gcm else '?'}); {machine['openssl']}; {machine['stunnel']}; "
  f"{machine['haproxy']}; {machine['hitch']}.  ")
w(f"Kernel TLS: tcp_available_ulp = `{machine['ulp_list']}`"
  f"{'' if machine['tls_ulp'] else ' (no tls ULP: the kTLS row is n/a)'}.  ")
st = machine["settings"]
w("")
w("Produced by `make bench` (that is, `sh bench/run.sh build`) with "
  + ", ".join(f"{k}={v}" for k, v in st.items())
  + f"; N = {N} streams.  Every process's log is in build/bench/logs/, the raw figures in "
  "build/bench/results.json (and raw.jsonl).")
w("")
w("Setup: loopback only.  One CA and two ECDSA P-256 certificates made by `mtlsd certs` "
  "(server: dns:localhost, ip:127.0.0.1; client: dns:client.bench.localhost), the same for "
  "every system.  TLS 1.3 only, TLS_AES_128_GCM_SHA256 forced on every peer (stunnel "
  "`ciphersuites`, hitch `ciphersuites` + `tls-protos = TLSv1.3`, haproxy `ciphersuites` on the "
  "bind); every server requires and verifies the client certificate against the CA, every "
  "client verifies the server's chain (stunnel `verifyChain` + `checkHost = localhost`; mtlsd "
  "`server_name = localhost`).  The load is `mtlsd-bench` (plain TCP) against its own sink or "
  "echo server behind each pair.  One run each: expect a few percent of noise.")
w("")
w("| system | client side | server side | other work's CPU during its runs |")
w("|---|---|---|---:|")
desc = {
    "plain": ("— (mtlsd-bench connects straight to the sink/echo)", "—"),
    "mtlsd": ("mtlsd client route, ktls = off", "mtlsd server route, ktls = off"),
    "mtlsd-ktls": ("mtlsd client route, ktls = on", "mtlsd server route, ktls = on"),
    "stunnel": ("stunnel, client mode (threads)", "stunnel, server mode (threads)"),
    "stunnel-hitch": ("stunnel, client mode", f"hitch, {N} worker processes"),
    "stunnel-haproxy": ("stunnel, client mode", f"haproxy, mode tcp, {N} threads"),
}
for s in SYSTEMS:
    c, sv = desc.get(s, ("?", "?"))
    o = fig[s].get("others_cpu_pct")
    o = "—" if o is None else f"{o:.0f}%"
    if fig[s].get("attempts", 1) > 1:
        o += f" (attempt {fig[s]['attempt_kept']} of {fig[s]['attempts']} kept)"
    w(f"| {s} | {c} | {sv} | {o} |")
busy = {s: fig[s]["others_cpu_pct"] for s in SYSTEMS if fig[s].get("others_cpu_pct") is not None}
w("")
w("\"Other work's CPU\" is the machine's busy time (/proc/stat, steal included) during that "
  "system's runs less the CPU time of everything the bench started, as a share of all CPUs: "
  "what the figures had to share the machine with.  A system whose runs saw over 15% is "
  f"measured again (up to BENCH_RETRIES={st.get('BENCH_RETRIES', 0)} times) and the quietest "
  f"attempt kept.  Load average at start {machine['loadavg_start']}, at end {machine['loadavg_end']}.")
if busy and max(busy.values()) > 10:
    w("")
    w(f"**Warning: other work took up to {max(busy.values()):.0f}% of the machine's CPU while this "
      "ran; the figures are disturbed and the systems were not measured under the same "
      "conditions.  Rerun `make bench` on a quiet machine before quoting them.**")
w("")
w("Ratios: \"× plain\" divides by plain TCP's figure; \"× best peer\" by the best of "
  + ", ".join(PEERS) + " for that column (highest throughput and handshake rate, lowest "
  "CPU, latency and memory).")


def row_or_fail(s, cells_fn, ncols, test=None):
    e = start_error(s)
    if e:
        w(f"| {s} | " + " | ".join([e] + [""] * (ncols - 1)) + " |")
        return
    w(f"| {s} | " + " | ".join(cells_fn(s)) + " |")


def cmd_block(key):
    if key in cmds:
        w("")
        w("The commands (each port is that system's client side, picked free at run time):")
        w("")
        w("```")
        width = max(len(s) for s, _ in cmds[key]) + 1
        for s, c in cmds[key]:
            w(f"{s + ':':<{width}} {c}")
        w("```")


# 1. throughput
w("")
w("## 1. Bulk throughput")
w("")
w(f"`mtlsd-bench source` into the sink: one stream of BENCH_BYTES ({st['BENCH_BYTES']}; plain "
  f"TCP {st['BENCH_PLAIN_BYTES']}), then {N} streams sharing the same total.  Gbit/s, timed "
  "until the sink has closed every stream.")
w("")
w(f"| system | 1 stream Gbit/s | × plain | × best peer | {N} streams Gbit/s | × plain | × best peer |")
w("|---|---:|---:|---:|---:|---:|---:|")
b1, p1 = best_peer("thr1_gbps", True)
bN, pN = best_peer("thrN_gbps", True)
pl = fig.get("plain", {})


def thr_cells(s):
    f = fig[s]
    a = f.get("thr1_gbps")
    b = f.get("thrN_gbps")
    return [num(a) if a is not None else why_missing(s, "throughput1"), ratio(a, pl.get("thr1_gbps")), ratio(a, b1),
            num(b) if b is not None else why_missing(s, "throughputN"), ratio(b, pl.get("thrN_gbps")), ratio(b, bN)]


for s in SYSTEMS:
    row_or_fail(s, thr_cells, 6)
w("")
w(f"Best peer: {p1 or 'none'} (1 stream), {pN or 'none'} ({N} streams).")
cmd_block("throughput")

# 2. CPU
w("")
w("## 2. CPU-seconds per GiB moved, each side")
w("")
w("utime + stime (fields 14 and 15 of /proc/PID/stat, every thread; for hitch summed over its "
  "worker processes) of each side's proxy, read before and after the run, divided by the GiB "
  "moved.  1-stream run, and the N-stream run beside it.")
w("")
w(f"| system | client CPU-s/GiB | × best peer | server CPU-s/GiB | × best peer | client, {N} streams | server, {N} streams |")
w("|---|---:|---:|---:|---:|---:|---:|")
bc, pc_ = best_peer("thr1_cpu_client", False)
bs, ps_ = best_peer("thr1_cpu_server", False)


def cpu_cells(s):
    f = fig[s]
    if s == "plain":
        return ["— (no proxy)", "", "—", "", "—", "—"]
    c, sv = f.get("thr1_cpu_client"), f.get("thr1_cpu_server")
    return [num(c) if c is not None else why_missing(s, "throughput1"), ratio(c, bc),
            num(sv) if sv is not None else "n/a", ratio(sv, bs),
            num(f.get("thrN_cpu_client")), num(f.get("thrN_cpu_server"))]


for s in SYSTEMS:
    row_or_fail(s, cpu_cells, 6)
w("")
w(f"Best peer: {pc_ or 'none'} (client side), {ps_ or 'none'} (server side).")

# 3. latency
w("")
w("## 3. Request/response latency, 1 KiB")
w("")
w(f"`mtlsd-bench rr`: {st['BENCH_RR_COUNT']} round trips of 1 KiB through the pair to the echo "
  "(after 1000 unrecorded), one connection, microseconds.  Added = this system's p99 − plain "
  "TCP's p99.")
w("")
w("| system | p50 µs | p99 µs | p99.9 µs | added p99 µs | p99 × plain | p99 × best peer |")
w("|---|---:|---:|---:|---:|---:|---:|")
bl, pl_ = best_peer("rr_p99_us", False)


def rr_cells(s):
    f = fig[s]
    if "rr_p99_us" not in f:
        return [why_missing(s, "rr"), "", "", "", "", ""]
    return [num(f["rr_p50_us"], 1), num(f["rr_p99_us"], 1), num(f["rr_p999_us"], 1),
            num(f.get("rr_added_p99_us"), 1) if s != "plain" else "—",
            ratio(f["rr_p99_us"], pl.get("rr_p99_us")), ratio(f["rr_p99_us"], bl)]


for s in SYSTEMS:
    row_or_fail(s, rr_cells, 6)
w("")
w(f"Best peer: {pl_ or 'none'}.")
cmd_block("rr")

# 4. handshakes
w("")
w("## 4. Handshakes per second through the pair")
w("")
w(f"`mtlsd-bench connrate`: {st['BENCH_CONN_CONCURRENCY']} threads for {st['BENCH_CONN_SECONDS']} s, "
  "each in a loop: connect to the client side, send 1 byte, read its echo (so the mTLS "
  "handshake between the two proxies really completed), close.  Full: session resumption off "
  "on the client side (stunnel `sessionResume = no`; mtlsd `session_resumption = off`).  "
  "Resumed: the default, resumption on (the stunnel client resumes with the server's TLS 1.3 "
  "tickets).  CPU ms per handshake is each side's CPU time over the run divided by the "
  "connections made.  plain: TCP connections/s, no TLS.")
w("")
w("| system | full /s | × best peer full | resumed /s | × best peer full | full p50 / p99 ms | CPU ms per full handshake, client / server | errors |")
w("|---|---:|---:|---:|---:|---:|---:|---:|")
bh, ph_ = best_peer("hs_full", True)


def hs_cells(s):
    f = fig[s]
    full, resd = f.get("hs_full"), f.get("hs_resumed")
    if s.startswith("mtlsd") and not machine["mtlsd_resumption_key"]:
        resd_txt = "n/a: this mtlsd has no session_resumption key"
    else:
        resd_txt = num(resd, 0) if resd is not None else why_missing(s, "connrate_resumed")
    if s == "plain":
        return [num(full, 0) + " (TCP)" if full is not None else why_missing(s, "connrate_tcp"),
                "—", "—", "—", num(f.get("hs_full_p50_ms"), 2) + " / " + num(f.get("hs_full_p99_ms"), 2),
                "—", str(f.get("hs_full_errors", "n/a"))]
    errors = sum(f.get(k, 0) for k in ("hs_full_errors", "hs_resumed_errors"))
    return [num(full, 0) if full is not None else why_missing(s, "connrate_full"), ratio(full, bh),
            resd_txt, ratio(resd, bh),
            num(f.get("hs_full_p50_ms"), 2) + " / " + num(f.get("hs_full_p99_ms"), 2),
            num(f.get("hs_full_cpu_client_ms"), 2) + " / " + num(f.get("hs_full_cpu_server_ms"), 2),
            str(errors)]


for s in SYSTEMS:
    row_or_fail(s, hs_cells, 7)
w("")
w(f"Best peer (full handshakes): {ph_ or 'none'}.")
if not machine["mtlsd_resumption_key"]:
    w("")
    w("This mtlsd build refuses the `session_resumption` key (`mtlsd check`), so it was run with "
      "its defaults only; its handshakes there are full ones.")
cmd_block("connrate")

# 5. RSS
w("")
w("## 5. Memory per idle connection")
w("")
w(f"`mtlsd-bench idle` opens {st['BENCH_IDLE_CONNS']} connections through the pair (each proves "
  "itself with an 8-byte echo) and holds them; VmRSS of each side's process (hitch: summed over "
  "its processes) before and after, divided by the connections open.  KiB per connection.")
w("")
w("| system | client KiB/conn | × best peer | server KiB/conn | × best peer | open | client RSS KiB before → after | server RSS KiB before → after |")
w("|---|---:|---:|---:|---:|---:|---:|---:|")
brc, prc = best_peer("rss_client", False)
brs, prs = best_peer("rss_server", False)


def rss_cells(s):
    f = fig[s]
    if s == "plain":
        return ["— (no proxy)", "", "—", "", "", "", ""]
    if "rss_client" not in f:
        return [why_missing(s, "idle"), "", "", "", "", "", ""]
    return [num(f["rss_client"], 1), ratio(f["rss_client"], brc),
            num(f["rss_server"], 1), ratio(f["rss_server"], brs),
            f"{f['idle_ok']} / {f['idle_conns']}",
            f"{f['idle_client_rss_kib_before']:,} → {f['idle_client_rss_kib_after']:,}",
            f"{f['idle_server_rss_kib_before']:,} → {f['idle_server_rss_kib_after']:,}"]


for s in SYSTEMS:
    row_or_fail(s, rss_cells, 7)
w("")
w(f"Best peer: {prc or 'none'} (client side), {prs or 'none'} (server side).")
cmd_block("idle")

# 6. mbedTLS AES-GCM
w("")
w("## 6. mbedTLS's own AES-128-GCM, one core")
w("")
if gcm:
    w(f"bench/gcmspeed (built by run.sh against -lmbedcrypto), {gcm['seconds']} s per figure, 16 KiB "
      f"records, in this run before the systems: the best {gcm.get('slice', 0.1)} s slice (what one "
      "core does when nothing else takes it; the figure the targets use) and the mean.")
    w("")
    w("| what | best GB/s | best Gbit/s | mean GB/s |")
    w("|---|---:|---:|---:|")
    for k, name in (("encrypt", "mbedtls_gcm_crypt_and_tag (encrypt)"),
                    ("decrypt", "mbedtls_gcm_auth_decrypt (decrypt + verify)"),
                    ("psa_encrypt", "psa_aead_encrypt (the TLS 1.3 record path)")):
        b, mean = gcm[k + "_Bps"], gcm.get(k + "_mean_Bps")
        w(f"| {name} | {b / 1e9:.3f} | {b * 8 / 1e9:.2f} | {num(mean / 1e9 if mean else None, 3)} |")
    m = fig.get("mtlsd", {})
    if m.get("thr1_Bps"):
        w(f"| mtlsd userspace pair, 1 stream (section 1) | {m['thr1_Bps'] / 1e9:.3f} | {m['thr1_gbps']:.2f} | |")
else:
    w(f"gcmspeed failed: {test_error('mbedtls', 'gcmspeed')}")

# 7. syscalls
sc = [s for s in SYSTEMS if "syscalls" in fig[s]]
if sc:
    w("")
    w("## 7. System calls per 16 KiB moved")
    w("")
    w("`strace -c -f` attached to each side during a separate 256 MiB, 1-stream run (strace slows "
      "the run; only the counts matter).  Calls per 16 KiB of payload, i.e. per full TLS record.")
    w("")
    w("| system | client side | server side | client: top calls | server: top calls |")
    w("|---|---:|---:|---|---|")
    for s in sc:
        r = fig[s]["syscalls"]
        top = lambda d: ", ".join(f"{k} {v}" for k, v in d["top"].items() if v >= 0.01)
        w(f"| {s} | {r['client']['per_16k']} | {r['server']['per_16k']} | {top(r['client'])} | {top(r['server'])} |")
    cmd_block("syscalls")

# Checks that the pairs did what the table says.
w("")
w("## Checks")
w("")
w("A TLS client independent of both proxies (Python's ssl module, OpenSSL; it offers "
  "AES-256-GCM first) connects straight to each server side with the echo behind it: with the "
  "client certificate it must get TLS 1.3 and its byte back, without one nothing.")
w("")
w("| system | TLS | cipher chosen | echo with client cert | echo without |")
w("|---|---|---|---|---|")
for s in SYSTEMS:
    if s == "plain":
        continue
    p = fig[s].get("probe")
    if p is None:
        w(f"| {s} | {why_missing(s, 'probe')} | | | |")
        continue
    yn = lambda b: "yes" if b else "no"
    w(f"| {s} | {p['version']} | {p['cipher']} | {yn(p['echo_with_cert'])} | "
      f"{yn(p['echo_without_cert'])}{'' if p['ok'] else ' (CHECK FAILED)'} |")
for s in SYSTEMS:
    p = fig[s].get("paths")
    if not p:
        continue
    fmt = lambda d: ", ".join(f"{k} ×{v}" for k, v in d.items()) or "none"
    w("")
    w(f"{s}: the pair's close lines in the throughput phase say: client side {fmt(p['client']['tls'])}, "
      f"{fmt(p['client']['cipher'])}, path {fmt(p['client']['path'])}; server side "
      f"{fmt(p['server']['cipher'])}, path {fmt(p['server']['path'])}; /metrics: "
      f"{p.get('ktls_conns')} of {p.get('conns')} connections on kTLS.  (mtlsd has no cipher-suite "
      "setting; it prefers AES-128-GCM, so against itself it negotiates it, and the probe above "
      "shows it honours a client's preference for AES-256-GCM.)")
    if s == "mtlsd-ktls" and not p.get("ktls_conns"):
        w("")
        w("**Warning: no mtlsd-ktls connection took the kTLS path (see the close lines in "
          "logs/mtlsd-ktls.sink.*.log): its figures are the userspace path's.**")

# Targets
w("")
w("## Targets (issue 5)")
w("")
tg = []


def target(name, status, detail):
    tg.append({"target": name, "status": status, "detail": detail})
    w(f"| {name} | **{status}** | {detail} |")


w("| target | status | figures |")
w("|---|---|---|")
m = fig.get("mtlsd", {})
if gcm and m.get("thr1_Bps"):
    pct = m["thr1_Bps"] / gcm["encrypt_Bps"] * 100
    d = (f"mtlsd 1 stream {m['thr1_Bps'] / 1e9:.3f} GB/s = {pct:.0f}% of mbedTLS AES-128-GCM "
         f"encrypt {gcm['encrypt_Bps'] / 1e9:.3f} GB/s a core (decrypt {gcm['decrypt_Bps'] / 1e9:.3f}, "
         f"PSA {gcm['psa_encrypt_Bps'] / 1e9:.3f})")
    if pct >= 85:
        target("userspace path ≥ 85% of mbedTLS's single-core AES-GCM", "met", d)
    else:
        cipher_s = GIB / gcm["encrypt_Bps"]	# CPU-s per GiB the cipher alone takes
        worst = max(m.get("thr1_cpu_client") or 0, m.get("thr1_cpu_server") or 0)
        why = (f"; why: each side of the pair needs a core of its own for the cipher alone "
               f"({cipher_s:.2f} CPU-s/GiB), and here {machine['nproc']} CPUs also run the load "
               f"source and the sink")
        if worst > 0:
            why += (f"; each side spent client {m['thr1_cpu_client']:.2f} / server "
                    f"{m['thr1_cpu_server']:.2f} CPU-s/GiB, so the cipher is "
                    f"{cipher_s / m['thr1_cpu_client'] * 100:.0f}% / {cipher_s / m['thr1_cpu_server'] * 100:.0f}% "
                    f"of their CPU, and with a core per side the pair would move "
                    f"{1 / worst * GIB / 1e9:.3f} GB/s = {GIB / worst / gcm['encrypt_Bps'] * 100:.0f}% of the cipher's figure")
        if busy and max(busy.values()) > 10:
            why += "; other work on the machine disturbed this run (see the top)"
        target("userspace path ≥ 85% of mbedTLS's single-core AES-GCM", "missed", d + why)
else:
    target("userspace path ≥ 85% of mbedTLS's single-core AES-GCM", "n/a here",
           "no mtlsd or gcmspeed figure: " + why_missing("mtlsd", "throughput1"))
k = fig.get("mtlsd-ktls", {})
if k.get("thr1_gbps") is not None and b1:
    okr = k["thr1_gbps"] >= 1.5 * b1
    okc = max(k["thr1_cpu_client"], k["thr1_cpu_server"]) <= 0.5
    d = (f"kTLS {k['thr1_gbps']:.2f} Gbit/s = {k['thr1_gbps'] / b1:.2f}× best peer ({p1}, {b1:.2f}); "
         f"CPU-s/GiB client {k['thr1_cpu_client']:.2f}, server {k['thr1_cpu_server']:.2f}")
    target("kTLS ≥ 1.5× best peer at ≤ 0.5 CPU-s/GiB a side", "met" if okr and okc else "missed", d)
else:
    target("kTLS ≥ 1.5× best peer at ≤ 0.5 CPU-s/GiB a side", "n/a here", why_missing("mtlsd-ktls", "throughput1"))
if m.get("rss_client") is not None:
    worst = max(m["rss_client"], m["rss_server"])
    peers_txt = "; ".join(f"{p} {num(fig[p].get('rss_client'), 1)} / {num(fig[p].get('rss_server'), 1)}"
                          for p in PEERS)
    d = f"mtlsd client {m['rss_client']:.1f}, server {m['rss_server']:.1f} KiB/conn (peers, client / server: {peers_txt})"
    target("≤ 64 KiB RSS per idle mTLS connection", "met" if worst <= 64 else "missed", d)
else:
    target("≤ 64 KiB RSS per idle mTLS connection", "n/a here", why_missing("mtlsd", "idle"))
st_ = fig.get("stunnel", {})
if m.get("rr_added_p99_us") is not None and st_.get("rr_added_p99_us") is not None:
    d = (f"mtlsd p99 {m['rr_p99_us']:.1f} µs (added {m['rr_added_p99_us']:.1f}); stunnel p99 "
         f"{st_['rr_p99_us']:.1f} µs (added {st_['rr_added_p99_us']:.1f}); plain {pl['rr_p99_us']:.1f}")
    target("p99 added latency ≤ stunnel's", "met" if m["rr_added_p99_us"] <= st_["rr_added_p99_us"] else "missed", d)
else:
    target("p99 added latency ≤ stunnel's", "n/a here", "missing figure: " + why_missing("mtlsd", "rr"))
peers_full = "; ".join(f"{p} {num(fig[p].get('hs_full'), 0)}" for p in PEERS)
if not machine["mtlsd_resumption_key"]:
    target("resumed handshakes/s ≥ the peers' full handshakes/s", "n/a here",
           f"this mtlsd has no session_resumption key yet; its full handshakes: "
           f"{num(m.get('hs_full'), 0)}/s at {num(m.get('hs_full_cpu_client_ms'))} / "
           f"{num(m.get('hs_full_cpu_server_ms'))} CPU-ms per handshake (client / server); peers' full: {peers_full}")
elif m.get("hs_resumed") is not None and bh is not None:
    d = f"mtlsd resumed {m['hs_resumed']:.0f}/s, full {num(m.get('hs_full'), 0)}/s; peers' full: {peers_full}"
    target("resumed handshakes/s ≥ the peers' full handshakes/s", "met" if m["hs_resumed"] >= bh else "missed", d)
else:
    target("resumed handshakes/s ≥ the peers' full handshakes/s", "n/a here", why_missing("mtlsd", "connrate_resumed"))

# Failures
other = [(s, t, e) for s in errs for (t, e) in errs[s] if not (t == "start" and e.startswith("n/a"))]
if other:
    w("")
    w("## Failures in this run")
    w("")
    for s, t, e in other:
        w(f"- {s} {t}: {e}")

w("")
w("## Peer configuration notes")
w("")
w("- Configs are rendered from bench/configs/*.in into build/bench/work/.  Peers log warnings "
  "only; mtlsd logs at warn (info, with close lines, in the throughput phase, which has "
  "only a few connections).")
w("- stunnel runs with `foreground = yes` (one process, one thread per connection), "
  "`sslVersionMin = TLSv1.3`, `ciphersuites = TLS_AES_128_GCM_SHA256`, TCP_NODELAY on both "
  "sockets; the server side has `verifyChain = yes` + `requireCert = yes`, the client side "
  "`verifyChain = yes` + `checkHost = localhost`.")
w("- hitch needs the key and certificate concatenated in one PEM, and refuses to run its "
  "workers as root: as root the bench sets `user = \"nobody\"` (the PEM is read before the "
  f"switch).  `daemon = off`, {N} workers, `client-verify = required`.")
w("- haproxy runs in the foreground (`-db`), `mode tcp`, `verify required` with `ca-file`; "
  "it refuses a `maxconn` whose descriptors exceed `ulimit -n`, so maxconn is derived from it.")
w("- The mtlsd server route also checks the client's identity (`allow_peers = "
  "dns:client.bench.localhost`), which the peers do not do; it is cheap and it is how mtlsd "
  "is deployed.")

# results.json
json.dump({"machine": machine, "figures": fig, "mbedtls_gcm": gcm, "targets": tg,
           "errors": [{"system": s, "test": t, "error": e} for s in errs for (t, e) in errs[s]],
           "commands": {k: [{"system": s, "cmd": c} for s, c in v] for k, v in cmds.items()}, "raw": recs},
          open(os.path.join(out, "results.json"), "w"), indent=1)
open(os.path.join(out, "results.md"), "w").write("\n".join(md) + "\n")


# chart data: "?" marks a missing figure
def q(v):
    return "?" if v is None else f"{v:.3f}"


def note(s, *keys):
    """What the chart writes at the foot of a system's missing bars."""
    f = fig[s]
    if all(f.get(k) is None for k in keys):
        return "n/a" if (start_error(s) or "").startswith("n/a") else "failed"
    if any(f.get(k) is None for k in keys):
        return "(" + ", ".join(k.split("_")[-1] + " n/a" for k in keys if f.get(k) is None) + ")"
    return "-"


with open(os.path.join(out, "throughput.dat"), "w") as f:
    f.write(f"# system\tGbit/s, 1 stream\tGbit/s, {N} streams\tnote\n")
    for s in SYSTEMS:
        f.write(f"{s}\t{q(fig[s].get('thr1_gbps'))}\t{q(fig[s].get('thrN_gbps'))}\t"
                f"{note(s, 'thr1_gbps', 'thrN_gbps')}\n")
with open(os.path.join(out, "handshakes.dat"), "w") as f:
    f.write("# system\tfull handshakes/s\tresumed handshakes/s\tnote\n")
    for s in SYSTEMS:
        if s == "plain":
            continue
        f.write(f"{s}\t{q(fig[s].get('hs_full'))}\t{q(fig[s].get('hs_resumed'))}\t"
                f"{note(s, 'hs_full', 'hs_resumed')}\n")
PY
}
report "$OUT" || die "report failed"

if command -v gnuplot > /dev/null; then
	term=png
	gnuplot -e 'set terminal' 2>&1 | grep -qw pngcairo && term=pngcairo
	gnuplot -e "outdir='$OUT'; term='$term'; nstreams=$N" "$TOP/bench/plot.gp" > "$LOGS/gnuplot.log" 2>&1 ||
		say "gnuplot failed (logs/gnuplot.log)"
else
	say "no gnuplot: no charts"
fi

cat "$OUT/results.md"
say "done in $(( $(date +%s) - T_START )) s: $OUT/results.md, results.json, throughput.png, handshakes.png"
