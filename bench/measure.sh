# bench/measure.sh: the measurements, sourced by bench/run.sh (bash).  Each
# starts what it needs (systems.sh), runs mtlsd-bench against it and appends
# one raw record per figure to $RAW (lib.sh's emit and fail).  Uses the
# driver's settings (BENCH, LOGS, OUT, N, CLK_TCK and the BENCH_* knobs).

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
	case "$sys" in mtlsd|mtlsd-mbedtls|mtlsd-ktls|stunnel) ;; *) return 0 ;; esac
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

# echo_tests SYS: RSS per idle connection, handshakes/s; then the handshake
# rate once more with session resumption off (full handshakes).  The
# latency is not measured here but in latency_phase, interleaved.
echo_tests() {
	local sys=$1 log cmd r0c r0s r1c r1s ip n label
	if ! start_system "$sys" "$ECHO_PORT" on echo; then
		fail "$sys" start "failed to start (see logs/$sys.echo.*.log)"
		stop_system "$sys"
		return 1
	fi
	[ "$sys" != plain ] && probe "$sys"

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
	mtlsd*) [ "$MTLSD_RESUMPTION" = 1 ] || label=default ;;
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

RR_WARMUP=200	# unrecorded round trips before each round's recorded ones

# latency_phase SYS...: the 1 KiB request/response latency of every SYS,
# measured interleaved.  This machine drifts by tens of percent within
# minutes, so one measurement per system in its own slot compared the
# moments more than the systems.  Here every pair is up at once, each in
# front of its own echo server (idle pairs take no CPU), and each of
# BENCH_RR_ROUNDS rounds runs mtlsd-bench rr through every SYS in turn,
# starting one system further each round so that none is always first.
# One rr_round record per system and round (with the machine's CPU ticks
# around it, to tell a disturbed one); the report takes the medians.
latency_phase() {
	local systems=("$@") up=() order=() count r i n sys log cmd port rc a b
	local -A cp=() client=() server=()
	[ "$BENCH_RR_ROUNDS" -ge 1 ] 2>/dev/null || die "BENCH_RR_ROUNDS must be a positive integer"
	count=$(( BENCH_RR_COUNT / BENCH_RR_ROUNDS ))
	[ "$count" -ge 1 ] || count=1
	say "=== latency: ${systems[*]}, $BENCH_RR_ROUNDS rounds of $count x 1 KiB round trips each"
	for sys in "${systems[@]}"; do
		# Plain TCP is the echo server itself.  mtlsd runs with the config
		# of its echo phase (warn level, resumption on, BENCH_WORKERS).
		port=$(free_ports 1)
		start "$sys.rr.backend-echo" "$BENCH" echo --listen "127.0.0.1:$port"
		if ! wait_listen "$sys.rr.backend-echo" "$port"; then
			fail "$sys" rr "the echo server of the latency phase did not start (logs/$sys.rr.backend-echo.log)"
			stop "$sys.rr.backend-echo"
			continue
		fi
		if ! start_system "$sys" "$port" on rr; then
			fail "$sys" rr "failed to start for the latency phase (see logs/$sys.rr.*.log)"
			stop_system "$sys"
			stop "$sys.rr.backend-echo"
			continue
		fi
		cp[$sys]=$CP client[$sys]=$CLIENT server[$sys]=$SERVER
		up+=("$sys")
	done
	n=${#up[@]}
	emit latency rr_phase "BENCH_RR_ROUNDS=$BENCH_RR_ROUNDS BENCH_RR_COUNT=$BENCH_RR_COUNT" \
	    "{\"rounds\":$BENCH_RR_ROUNDS,\"count\":$count,\"warmup\":$RR_WARMUP,\"systems\":$(jstr "${up[*]}")}"
	for (( r = 1; n > 0 && r <= BENCH_RR_ROUNDS; r++ )); do
		wait_quiet
		order=()
		for (( i = 0; i < n; i++ )); do order+=("${up[(r - 1 + i) % n]}"); done
		say "latency round $r of $BENCH_RR_ROUNDS: ${order[*]}"
		for (( i = 0; i < n; i++ )); do
			sys=${order[i]}
			log="$LOGS/$sys.rr.$r.log"
			cmd="mtlsd-bench rr --connect 127.0.0.1:${cp[$sys]} --size 1K --count $count --warmup $RR_WARMUP --json"
			a=($(cpu_snapshot))
			"$BENCH" rr --connect "127.0.0.1:${cp[$sys]}" --size 1K --count "$count" \
			    --warmup "$RR_WARMUP" --json > "$log" 2>&1
			rc=$?
			b=($(cpu_snapshot))
			if [ "$rc" = 0 ] && [ -n "$(last_json "$log")" ]; then
				emit "$sys" rr_round "$cmd" "$(last_json "$log")" \
				    "{\"round\":$r,\"position\":$(( i + 1 )),\"total_ticks\":$(( b[0] - a[0] )),\"busy_ticks\":$(( b[1] - a[1] )),\"our_ticks\":$(( b[2] - a[2] ))}"
			else
				fail "$sys" rr "round $r: rr failed: $(tail -n 3 "$log" | tr '\n' ' ')$(backend_note "$sys.rr" echo)"
			fi
		done
	done
	for sys in "${up[@]}"; do
		CLIENT=${client[$sys]} SERVER=${server[$sys]}
		stop_system "$sys"
		stop "$sys.rr.backend-echo"
	done
}

# workers_run WORKERS RUN: the mtlsd pair with WORKERS workers a side and N
# streams of BENCH_BYTES in all into the sink: each side's CPU time, how it
# spread over that side's threads, and how busy the machine's CPUs were.
workers_run() {
	local w=$1 run=$2 tag="w$1.$2" total per log cmd c0 s0 c1 s1 tc0 ts0 tc1 ts1 sk0 sk1 a b
	local xc0 xs0 xc1 xs1 x
	total=$(to_bytes "$BENCH_BYTES")
	per=$(( total / N ))
	MTLSD_WORKERS=$w
	if ! start_system mtlsd-workers "$SINK_PORT" on "$tag"; then
		MTLSD_WORKERS=$BENCH_WORKERS
		fail mtlsd-workers "workers_$w" "failed to start with workers = $w (see logs/mtlsd-workers.$tag.*.log)"
		stop_system mtlsd-workers
		return 1
	fi
	MTLSD_WORKERS=$BENCH_WORKERS
	say "mtlsd-workers: workers = $w, $N streams, $per bytes each (run $run)"
	log="$LOGS/mtlsd-workers.$tag.source.log"
	cmd="mtlsd-bench source --connect 127.0.0.1:$CP --bytes $per --streams $N --json"
	a=($(cpu_snapshot))
	c0=$(cpu_ticks "$(pid_of "$CLIENT")") s0=$(cpu_ticks "$(pid_of "$SERVER")")
	sk0=$(cpu_ticks "$(pid_of mtlsd-workers.backend-sink)")
	tc0=$(thread_ticks "$(pid_of "$CLIENT")") ts0=$(thread_ticks "$(pid_of "$SERVER")")
	xc0=($(ctx_switches "$(pid_of "$CLIENT")")) xs0=($(ctx_switches "$(pid_of "$SERVER")"))
	"$BENCH" source --connect "127.0.0.1:$CP" --bytes "$per" --streams "$N" --json > "$log" 2>&1
	xc1=($(ctx_switches "$(pid_of "$CLIENT")")) xs1=($(ctx_switches "$(pid_of "$SERVER")"))
	tc1=$(thread_ticks "$(pid_of "$CLIENT")") ts1=$(thread_ticks "$(pid_of "$SERVER")")
	sk1=$(cpu_ticks "$(pid_of mtlsd-workers.backend-sink)")
	c1=$(cpu_ticks "$(pid_of "$CLIENT")") s1=$(cpu_ticks "$(pid_of "$SERVER")")
	b=($(cpu_snapshot))
	stop_system mtlsd-workers
	if grep -q '"ok":true' "$log"; then
		# The started lines say how many workers each side really ran.
		x="\"workers\":$w,\"run\":$run,\"clk_tck\":$CLK_TCK"
		x="$x,\"client_cpu_ticks\":$((c1 - c0)),\"server_cpu_ticks\":$((s1 - s0))"
		x="$x,\"sink_cpu_ticks\":$((sk1 - sk0))"
		x="$x,\"client_threads_before\":$tc0,\"client_threads_after\":$tc1"
		x="$x,\"server_threads_before\":$ts0,\"server_threads_after\":$ts1"
		x="$x,\"client_csw\":[$(( xc1[0] - xc0[0] )),$(( xc1[1] - xc0[1] ))]"
		x="$x,\"server_csw\":[$(( xs1[0] - xs0[0] )),$(( xs1[1] - xs0[1] ))]"
		x="$x,\"machine_total_ticks\":$(( b[0] - a[0] )),\"machine_busy_ticks\":$(( b[1] - a[1] ))"
		x="$x,\"our_ticks\":$(( b[2] - a[2] ))"
		x="$x,\"client_started\":$(jstr "$(grep -o 'event=started.*' "$LOGS/mtlsd-workers.$tag.client.log")")"
		x="$x,\"server_started\":$(jstr "$(grep -o 'event=started.*' "$LOGS/mtlsd-workers.$tag.server.log")")"
		# The suite and data path the pair negotiated (close lines, info here).
		x="$x,$(close_summary client_close "$LOGS/mtlsd-workers.$tag.client.log")"
		emit mtlsd-workers workers "$cmd" "$(last_json "$log")" "{$x}"
	else
		fail mtlsd-workers "workers_$w" "source failed: $(tail -n 3 "$log" | tr '\n' ' ')$(backend_note mtlsd-workers sink)"
	fi
}

# workers_cmp: issue 5's question, whether a second worker helps or a lock
# shared by the workers costs: the mtlsd pair with workers = 1 and = N under
# N streams, alternated BENCH_WORKERS_RUNS times, each run on a fresh pair.
workers_cmp() {
	local run=1
	while [ "$run" -le "$BENCH_WORKERS_RUNS" ]; do
		workers_run 1 "$run"
		workers_run "$N" "$run"
		run=$((run + 1))
	done
}

# mbedtls_check: which AEAD API libmbedtls's record path calls, from the
# dynamic symbols of the libmbedtls that mtlsd links (psa_aead_* where it
# was built with MBEDTLS_USE_PSA_CRYPTO, mbedtls_cipher_auth_* otherwise),
# and whether libmbedcrypto has MBEDTLS_THREADING_C's PSA key-slot mutex.
mbedtls_check() {
	local tls crypto out
	tls=$(ldd "$MTLSD" 2>/dev/null | awk '/libmbedtls\.so/ { print $3; exit }')
	crypto=$(ldd "$MTLSD" 2>/dev/null | awk '/libmbedcrypto\.so/ { print $3; exit }')
	command -v nm > /dev/null || { fail mbedtls record_path "nm is not installed (binutils)"; return; }
	[ -n "$tls" ] || { fail mbedtls record_path "mtlsd does not link a shared libmbedtls (ldd)"; return; }
	out=$(python3 - "$tls" "$crypto" "$MTLSD" <<'EOF2' 2> "$LOGS/mbedtls-check.log"
import json, os, subprocess, sys
def syms(path):
    """(imported, defined) dynamic symbol names of path."""
    imp, dfn = set(), set()
    if not path:
        return imp, dfn
    for line in subprocess.run(["nm", "-D", path], capture_output=True, text=True).stdout.splitlines():
        f = line.split()
        if len(f) == 2 and f[0] == "U":
            imp.add(f[1].split("@")[0])
        elif len(f) == 3:
            dfn.add(f[2].split("@")[0])
    return imp, dfn
tls, crypto, mtlsd = sys.argv[1], sys.argv[2], sys.argv[3]
ti, _ = syms(tls)
_, cd = syms(crypto)
mi, _ = syms(mtlsd)
print(json.dumps({
    "libmbedtls": os.path.realpath(tls), "libmbedcrypto": os.path.realpath(crypto) if crypto else None,
    "psa_aead": sorted(s for s in ti if s.startswith("psa_aead_")),
    "cipher_aead": sorted(s for s in ti if s.startswith("mbedtls_cipher_auth_")),
    "psa_imports": sorted(s for s in ti if s.startswith("psa_")),
    "key_slot_mutex": "mbedtls_threading_key_slot_mutex" in cd,
    "mtlsd_psa": sorted(s for s in mi if s.startswith("psa_")),
}))
EOF2
)
	if [ -n "$out" ]; then
		emit mbedtls record_path "nm -D $tls; nm -D ${crypto:-libmbedcrypto}; nm -D mtlsd" "$out"
	else
		fail mbedtls record_path "the nm check failed (see logs/mbedtls-check.log)"
	fi
}

# measure_system SYS: every measurement of SYS against fresh backends (for
# mtlsd-workers, workers_cmp); writes the share of the CPUs other work took
# meanwhile to $OUT/others.SYS.ATTEMPT.
measure_system() {
	local sys=$1 t0 b0 o0
	set -- $(cpu_snapshot)
	t0=$1 b0=$2 o0=$3
	if ! start_backends "$sys"; then
		fail "$sys" start "the sink or echo server did not start (logs/$sys.backend-*.log)"
	elif [ "$sys" = mtlsd-workers ]; then
		workers_cmp
	else
		throughput "$sys"
		echo_tests "$sys"
	fi
	stop "$sys.backend-sink"
	stop "$sys.backend-echo"
	set -- $(cpu_snapshot)
	emit "$sys" interference "/proc/stat busy ticks - this script's tree's ticks" \
	    "{\"total_ticks\":$(( $1 - t0 )),\"busy_ticks\":$(( $2 - b0 )),\"our_ticks\":$(( $3 - o0 ))}"
	echo $(( $1 > t0 ? ((($2 - b0) - ($3 - o0)) * 100 / ($1 - t0)) : 0 )) |
	    sed 's/^-.*/0/' > "$OUT/others.$sys.$attempt"
}
