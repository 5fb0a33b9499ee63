# tests/soak/scenarios.sh: mtlsd under load and attack, one bash function per
# scenario, sized by its arguments.  Sourced after tests/e2e/lib.sh, by
# tests/soak/one.sh (make soak: the full sizes) and by tests/e2e/t_slow.sh
# and t_crowd.sh (make test: small versions of the same code).
#
# Each scenario asserts through lib.sh's check/ok/not_ok, and prints its
# figures as "# figure SCENARIO.KEY=VALUE" lines, which tests/soak/run.sh
# gathers into its summary table.
CROWD="python3 $TOP/tests/soak/crowd.py"

figure() { echo "# figure $1=$2"; }

# await NAME: waits for a background process to end by itself; its status.
await() {
	local p=${PID_OF[$1]:-} rc
	[ -n "$p" ] || return 0
	wait "$p"; rc=$?
	unset "PID_OF[$1]"
	return $rc
}

# bg_crowd NAME ARGS...: a crowd.py server; waits for it to listen.
bg_crowd() {
	local name=$1; shift
	bg "$name" $CROWD "$@"
	wait_log "$T/$name.log" '^ready' 10 || { note "$name did not start"; cat "$T/$name.log"; return 1; }
}

# check_mem DESC CMD...: check, except in an AddressSanitizer build (make
# asan), whose redzones and quarantine say nothing of mtlsd's own memory.
check_mem() {
	if ldd "$MTLSD" 2>/dev/null | grep -q libasan; then
		skip "$1: not measured under AddressSanitizer"
	else
		check "$@"
	fi
}

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
nfds() { ls "/proc/$1/fd" | wc -l; }
# cpu_ticks PID: user + system clock ticks so far.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# tcpext NAME: a TcpExt counter of this network namespace (/proc/net/netstat
# is per namespace, so other processes' traffic does not count in ours).
tcpext() {
	awk -v k="$1" '$1 == "TcpExt:" { if (!n) { for (i = 2; i <= NF; i++) col[$i] = i; n = 1 }
		else print $col[k] }' /proc/net/netstat
}

# metric ADMIN_PORT NAME LABELS: one sample's value, 0 when absent.
metric() {
	curl -s "http://127.0.0.1:$1/metrics" |
		awk -v m="$2{$3}" 'index($0, m " ") == 1 { print $2; f = 1 } END { if (!f) print 0 }'
}

# global_conf NAME ADMIN_PORT [LINE...]: a [global] section with this PKI.
global_conf() {
	local name=$1 adm=$2; shift 2
	{
		printf '[global]\nca = %s\ncert = %s\nkey = %s\nadmin_listen = 127.0.0.1:%s\n' \
			"$T/pki/ca.crt" "$T/pki/server.crt" "$T/pki/server.key" "$adm"
		[ $# -gt 0 ] && printf '%s\n' "$@"
	} > "$T/$name.ini"
}

# route_conf NAME SECTION MODE LISTEN_PORT CONNECT_PORT [LINE...]: appends a route.
route_conf() {
	local name=$1 sec=$2 mode=$3 listen=$4 connect=$5; shift 5
	{
		printf '\n[%s]\nmode = %s\nlisten = 127.0.0.1:%s\nconnect = 127.0.0.1:%s\n' \
			"$sec" "$mode" "$listen" "$connect"
		[ "$mode" = client ] && printf 'server_name = localhost\ncert = %s\nkey = %s\n' \
			"$T/pki/client.crt" "$T/pki/client.key"
		[ $# -gt 0 ] && printf '%s\n' "$@"
	} >> "$T/$name.ini"
}

# held N: N idle mTLS connections held open (fewer if the descriptor limit
# cannot carry N: two each in mtlsd), all echoing; mtlsd's memory per
# connection; the time a fresh client takes while they are held.
scenario_held() {
	local want=$1 n fit p_echo p_srv p_adm pid rss0 rss1 out
	fit=$(( ($(ulimit -Hn) - 256) / 2 ))
	n=$(( want < fit ? want : fit ))
	read -r p_echo p_srv p_adm <<< "$(free_ports 3)"
	global_conf held "$p_adm" "workers = 2" "idle_timeout = 0" "max_connections = $((n + 16))"
	route_conf held in server "$p_srv" "$p_echo"
	bg_crowd echo_held echo --listen 127.0.0.1:$p_echo || { not_ok "held: echo starts"; return; }
	start_mtlsd held "$T/held.ini" || { not_ok "held: mtlsd starts"; return; }
	pid=${PID_OF[held]}
	rss0=$(rss_kib "$pid")
	exec 7> >(exec $CROWD hold --connect 127.0.0.1:$p_srv --pki "$T/pki" --n "$n" --parallel 16 \
		> "$T/held.out" 2>&1)
	wait_for $((n / 20 + 60)) grep -q held= "$T/held.out"
	rss1=$(rss_kib "$pid")
	out=$(cat "$T/held.out")
	local held open kib probe echoed
	held=$(sed -n 's/.*held=\([0-9]*\).*/\1/p' <<< "$out")
	open=$(metric "$p_adm" mtlsd_connections_open 'route="in"')
	kib=$(( held > 0 ? (rss1 - rss0) / held : 0 ))
	probe=$($CROWD probe --connect 127.0.0.1:$p_srv --pki "$T/pki")
	echo >&7
	wait_for $((n / 100 + 30)) grep -q echoed= "$T/held.out"
	echoed=$(sed -n 's/^echoed=\([0-9]*\).*/\1/p' "$T/held.out")
	exec 7>&-
	figure held.wanted "$want"
	figure held.fd_limit "$(ulimit -Hn)"
	figure held.held "${held:-0}"
	figure held.open_metric "$open"
	figure held.echoing "${echoed:-0}"
	figure held.handshakes_secs "$(sed -n 's/.*secs=\([0-9.]*\).*/\1/p' <<< "$out")"
	figure held.kib_per_conn "$kib"
	figure held.fresh_client_ms "$(sed -n 's/.*ms=\([0-9.]*\).*/\1/p' <<< "$probe")"
	check "held: all $n connections held ($out)" test "${held:-0}" -eq "$n"
	check "held: mtlsd counts $n open ($open)" test "$open" = "$n"
	check "held: all $n still echo after the fresh client (${echoed:-0})" test "${echoed:-0}" -eq "$n"
	check "held: a fresh client is served meanwhile ($probe)" grep -q 'ok=yes' <<< "$probe"
	check_mem "held: at most 64 KiB of mtlsd's memory per idle connection ($kib KiB)" test "$kib" -le 64
	closed() { test "$(metric "$p_adm" mtlsd_connections_open 'route="in"')" = 0; }
	check "held: all close when the client goes" wait_for 60 closed
	stop_mtlsd held
	stop echo_held
}

# slowloris N HANDSHAKE_TIMEOUT_S [BACKLOG]: N clients connect at once and
# send nothing, half a ClientHello or a record header, then hold, while a
# good client is served.  Run it in a network namespace of its own: the
# TcpExt counters are the namespace's.  No listen overflow, every client
# accepted, every one closed by the handshake timeout, none left open.
scenario_slowloris() {
	local n=$1 ht=$2 backlog=${3:-} p_echo p_srv p_adm
	read -r p_echo p_srv p_adm <<< "$(free_ports 3)"
	global_conf slow "$p_adm" "workers = 2" "handshake_timeout = ${ht}s" \
		"max_connections = $((n + 16))"
	route_conf slow in server "$p_srv" "$p_echo" ${backlog:+"backlog = $backlog"}
	bg_crowd echo_slow echo --listen 127.0.0.1:$p_echo || { not_ok "slowloris: echo starts"; return; }
	start_mtlsd slow "$T/slow.ini" || { not_ok "slowloris: mtlsd starts"; return; }
	local q ov0 dr0 ov1 dr1 start probe accepted timeouts left
	q=$(ss -Hltn "sport = :$p_srv" | awk '{print $3; exit}')
	ov0=$(tcpext ListenOverflows) dr0=$(tcpext ListenDrops)
	start=$(date +%s%N)
	$CROWD slow --connect 127.0.0.1:$p_srv --n "$n" --within $((ht + 10)) > "$T/slow.out" 2>&1 &
	local slow=$!
	all_in() { test "$(metric "$p_adm" mtlsd_connections_open 'route="in"')" -ge "$n"; }
	local in_at=never
	wait_for $((ht + 10)) all_in && in_at=$(( ($(date +%s%N) - start) / 1000000 ))
	# Read while the clients still hold their sockets: one that mtlsd took
	# only after its client gave up does not count.
	accepted=$(metric "$p_adm" mtlsd_connections_total 'route="in"')
	probe=$($CROWD probe --connect 127.0.0.1:$p_srv --pki "$T/pki")
	wait "$slow"
	ov1=$(tcpext ListenOverflows) dr1=$(tcpext ListenDrops)
	timeouts=$(count_log "$T/slow.log" 'route=in event=close .*reason=handshake_timeout')
	local out; out=$(cat "$T/slow.out")
	left=$(sed -n 's/.* open=\([0-9-]*\).*/\1/p' <<< "$out")
	figure slowloris.clients "$n"
	figure slowloris.backlog "$q"
	figure slowloris.listen_overflows "$((ov1 - ov0))"
	figure slowloris.listen_drops "$((dr1 - dr0))"
	figure slowloris.accepted "$accepted"
	figure slowloris.all_open_ms_from_launch "$in_at"
	figure slowloris.max_connect_ms "$(sed -n 's/.*max_connect_ms=\([0-9]*\).*/\1/p' <<< "$out")"
	figure slowloris.handshake_timeouts "$timeouts"
	figure slowloris.left_open "${left:-?}"
	figure slowloris.good_client_ms "$(sed -n 's/.*ms=\([0-9.]*\).*/\1/p' <<< "$probe")"
	check "slowloris: no listen overflow in the namespace ($((ov1 - ov0)) overflows, $((dr1 - dr0)) drops; backlog $q)" \
		test "$ov1" -eq "$ov0" -a "$dr1" -eq "$dr0"
	check "slowloris: mtlsd accepted all $n ($accepted)" \
		test "$accepted" -eq "$n"
	check "slowloris: a good client is served beside them ($probe)" grep -q 'ok=yes' <<< "$probe"
	check "slowloris: all $n closed by the ${ht} s handshake timeout ($timeouts logged)" \
		test "$timeouts" -eq "$n"
	check "slowloris: every client saw its close, none left open ($out)" \
		test "${left:-1}" = 0 -a "$(sed -n 's/.* closed=\([0-9]*\).*/\1/p' <<< "$out")" = "$n"
	stop_mtlsd slow
	stop echo_slow
}

# fds LIMIT CLIENTS: mtlsd under ulimit -n LIMIT, CLIENTS mTLS clients at once.
# Those that do not fit are turned away before any handshake (the log's and
# the metric's out_of_descriptors), no handshake is spent on a connection
# that then fails its upstream, mtlsd idles while exhausted, and it serves
# again once the held connections go.
scenario_fds() {
	local limit=$1 clients=$2 p_echo p_srv p_adm pid
	read -r p_echo p_srv p_adm <<< "$(free_ports 3)"
	global_conf fds "$p_adm" "workers = 1" "log_level = debug" "handshake_timeout = 5s"
	route_conf fds in server "$p_srv" "$p_echo"
	bg_crowd echo_fds echo --listen 127.0.0.1:$p_echo || { not_ok "fds: echo starts"; return; }
	bg fds bash -c "ulimit -n $limit && exec '$MTLSD' run -c '$T/fds.ini'"
	wait_log "$T/fds.log" 'event=started' 15 || { not_ok "fds: mtlsd starts"; sed 's/^/# /' "$T/fds.log"; return; }
	pid=${PID_OF[fds]}
	exec 7> >(exec $CROWD hold --connect 127.0.0.1:$p_srv --pki "$T/pki" --n "$clients" \
		--parallel "$clients" > "$T/fds.out" 2>&1)
	wait_for 60 grep -q held= "$T/fds.out"
	local out held hs wasted refused_m refused_log t0 c0 c1 cpu
	out=$(cat "$T/fds.out")
	held=$(sed -n 's/.*held=\([0-9]*\).*/\1/p' <<< "$out")
	# Exhausted, with the clients that gave up still queued: mtlsd idles.
	t0=$(date +%s%N) c0=$(cpu_ticks "$pid")
	sleep 3	# a measuring window, not a wait for a condition
	c1=$(cpu_ticks "$pid")
	cpu=$(( (c1 - c0) * 100 * 1000000000 / $(getconf CLK_TCK) / ($(date +%s%N) - t0) ))
	hs=$(count_log "$T/fds.log" 'route=in event=handshake_ok')
	wasted=$(count_log "$T/fds.log" 'route=in event=close .*reason=upstream_error')
	refused_m=$(metric "$p_adm" mtlsd_connections_refused_total 'route="in",reason="out_of_descriptors"')
	refused_log=$(count_log "$T/fds.log" 'route=in event=refused .*reason=out_of_descriptors')
	exec 7>&-
	gone() { test "$(metric "$p_adm" mtlsd_connections_open 'route="in"')" = 0; }
	wait_for 60 gone
	local again
	again() { $CROWD probe --connect 127.0.0.1:$p_srv --pki "$T/pki" | grep -q ok=yes; }
	local rec0=$(date +%s%N)
	wait_for 30 again; again=$?
	figure fds.limit "$limit"
	figure fds.clients "$clients"
	figure fds.held "${held:-0}"
	figure fds.turned_away_by_client "$(sed -n 's/.*refused=\([0-9]*\).*/\1/p' <<< "$out")"
	figure fds.refused_metric "$refused_m"
	figure fds.refused_log_lines "$refused_log"
	figure fds.handshakes_completed "$hs"
	figure fds.handshakes_wasted "$wasted"
	figure fds.cpu_pct_exhausted "$cpu"
	figure fds.recovery_ms "$(( ($(date +%s%N) - rec0) / 1000000 ))"
	check "fds: some clients are carried, the rest turned away ($out)" \
		test "${held:-0}" -gt 0 -a "${held:-0}" -lt "$clients"
	check "fds: the refusals are counted (out_of_descriptors: $refused_m) and logged, rate-limited ($refused_log lines)" \
		test "$refused_m" -gt 0 -a "$refused_log" -gt 0 -a "$refused_log" -le "$refused_m"
	check "fds: no handshake is wasted: $hs completed, $held carried, $wasted failed upstream" \
		test "$hs" -eq "${held:-0}" -a "$wasted" -eq 0
	check "fds: mtlsd idles while exhausted (${cpu}% CPU)" test "$cpu" -le 5
	check "fds: once the held connections go, a new client is served" test "$again" -eq 0
	stop_mtlsd fds
	stop echo_fds
}

# slow_backend BYTES SLOW_SECS RATE: an app pushes BYTES through a client
# route and a server route (two mtlsd) to a backend that reads at RATE
# bytes/s for SLOW_SECS, then at full speed.  Backpressure keeps each side's
# memory flat; every byte arrives (sha256).
scenario_slow_backend() {
	local bytes=$1 slow=$2 rate=$3 p_sink p_srv p_cli p_a p_b
	read -r p_sink p_srv p_cli p_a p_b <<< "$(free_ports 5)"
	global_conf sbsrv "$p_a" "workers = 1"
	route_conf sbsrv in server "$p_srv" "$p_sink"
	global_conf sbcli "$p_b" "workers = 1"
	route_conf sbcli out client "$p_cli" "$p_srv"
	bg_crowd sink sink --listen 127.0.0.1:$p_sink --rate "$rate" --slow-secs "$slow" ||
		{ not_ok "slow backend: sink starts"; return; }
	start_mtlsd sbsrv "$T/sbsrv.ini" || { not_ok "slow backend: server side starts"; return; }
	start_mtlsd sbcli "$T/sbcli.ini" || { not_ok "slow backend: client side starts"; return; }
	local ps=${PID_OF[sbsrv]} pc=${PID_OF[sbcli]} s0 c0 smax cmax r
	s0=$(rss_kib "$ps") c0=$(rss_kib "$pc") smax=$s0 cmax=$c0
	bg push $CROWD push --connect 127.0.0.1:$p_cli --bytes "$bytes"
	wait_log "$T/sink.log" '^accepted' 10
	# Sample both sides' memory through the slow phase and the drain.
	while kill -0 "${PID_OF[push]}" 2>/dev/null; do
		r=$(rss_kib "$ps"); [ "$r" -gt "$smax" ] && smax=$r
		r=$(rss_kib "$pc"); [ "$r" -gt "$cmax" ] && cmax=$r
		sleep 0.2
	done
	await push; local rc=$?
	wait_log "$T/sink.log" '^received=' 30
	local sent got
	sent=$(sed -n 's/.*sha256=\([0-9a-f]*\).*/\1/p' "$T/push.log")
	got=$(sed -n 's/^received=\([0-9]*\) sha256=\([0-9a-f]*\).*/\1 \2/p' "$T/sink.log")
	figure slow_backend.bytes "$bytes"
	figure slow_backend.slow_phase "${slow}s at $((rate / 1024)) KiB/s"
	figure slow_backend.rss_growth_client_side_kib "$((cmax - c0))"
	figure slow_backend.rss_growth_server_side_kib "$((smax - s0))"
	figure slow_backend.secs "$(sed -n 's/.*secs=\([0-9.]*\).*/\1/p' "$T/sink.log")"
	check "slow backend: all $bytes bytes arrive, sha256 equal ($(cat "$T/push.log"); $(cat "$T/sink.log" | tail -n 1))" \
		test "$rc" -eq 0 -a "$got" = "$bytes $sent"
	check_mem "slow backend: client side's memory stays flat (+$((cmax - c0)) KiB)" \
		test $((cmax - c0)) -le 4096
	check_mem "slow backend: server side's memory stays flat (+$((smax - s0)) KiB)" \
		test $((smax - s0)) -le 4096
	stop_mtlsd sbcli
	stop_mtlsd sbsrv
	stop sink
}

# storm BYTES SECS ROTATIONS SIGHUPS: a transfer of BYTES each way, paced
# to last SECS, through a client route and a server route, while the server
# certificate is rotated ROTATIONS times (atomic renames) and SIGHUPS
# signals land.  The transfer is intact, each new serial is served, no
# connection is dropped.
scenario_storm() {
	local bytes=$1 secs=$2 rot=$3 hups=$4 p_echo p_srv p_cli p_adm i
	read -r p_echo p_srv p_cli p_adm <<< "$(free_ports 4)"
	mkdir -p "$T/live"
	cp "$T/pki/server.crt" "$T/live/node.crt"
	cp "$T/pki/server.key" "$T/live/node.key"
	for i in $(seq 1 "$rot"); do
		$MTLSD certs issue --dir "$T/pki" --name "rot$i" --san dns:localhost,ip:127.0.0.1 \
			> /dev/null 2>&1 || { not_ok "storm: issue certificate $i"; return; }
	done
	global_conf storm "$p_adm" "workers = 2"
	route_conf storm in server "$p_srv" "$p_echo" "cert = $T/live/node.crt" "key = $T/live/node.key"
	route_conf storm out client "$p_cli" "$p_srv"
	bg_crowd echo_storm echo --listen 127.0.0.1:$p_echo || { not_ok "storm: echo starts"; return; }
	start_mtlsd storm "$T/storm.ini" || { not_ok "storm: mtlsd starts"; return; }
	local pid=${PID_OF[storm]}
	serial_served() {
		timeout 10 openssl s_client -connect 127.0.0.1:$p_srv -servername localhost \
			-CAfile "$T/pki/ca.crt" -cert "$T/pki/client.crt" -key "$T/pki/client.key" \
			< /dev/null 2>/dev/null | openssl x509 -noout -serial 2>/dev/null
	}
	replace() { cp "$1" "$2.tmp" && chmod 600 "$2.tmp" && mv -f "$2.tmp" "$2"; }
	bg transfer $CROWD roundtrip --connect 127.0.0.1:$p_cli --bytes "$bytes" \
		--rate $((bytes / secs)) --timeout $((secs * 4 + 60))
	live() { test "$(metric "$p_adm" mtlsd_connections_open 'route="out"')" = 1; }
	wait_for 10 live
	local seen=0 sent=0 per=$(( (hups + rot - 1) / rot )) want start=$(date +%s%N)
	for i in $(seq 1 "$rot"); do
		replace "$T/pki/rot$i.key" "$T/live/node.key"
		replace "$T/pki/rot$i.crt" "$T/live/node.crt"
		want=$(openssl x509 -noout -serial -in "$T/pki/rot$i.crt")
		local k
		for k in $(seq 1 "$per"); do
			[ "$sent" -lt "$hups" ] || break
			kill -HUP "$pid"; sent=$((sent + 1))
		done
		new_served() { test "$(serial_served)" = "$want"; }
		wait_for 15 new_served && seen=$((seen + 1))
	done
	local storm_ms=$(( ($(date +%s%N) - start) / 1000000 )) alive=no
	kill -0 "${PID_OF[transfer]}" 2>/dev/null && alive=yes
	await transfer; local rc=$?
	local out; out=$(cat "$T/transfer.log")
	local reloads dropped
	reloads=$(count_log "$T/storm.log" 'event=reload .*status=ok')
	dropped=$(grep -E 'route=(in|out) event=close' "$T/storm.log" | grep -vc 'reason=eof')
	figure storm.transfer "$((bytes >> 20)) MiB each way in $(sed -n 's/.*secs=\([0-9.]*\).*/\1/p' <<< "$out") s"
	figure storm.rotations "$rot"
	figure storm.new_serials_seen "$seen/$rot"
	figure storm.sighups "$sent"
	figure storm.reloads_ok "$reloads"
	figure storm.storm_ms "$storm_ms"
	figure storm.connections_dropped "$dropped"
	check "storm: the transfer was live through the whole storm" test "$alive" = yes
	check "storm: the transfer is intact ($out)" test "$rc" -eq 0
	check "storm: every rotation's new serial is served ($seen/$rot)" test "$seen" -eq "$rot"
	check "storm: $sent SIGHUPs, mtlsd still runs and reloaded ($reloads ok)" \
		eval 'kill -0 "$pid" && test "$reloads" -ge "$rot"'
	check "storm: no connection dropped (closes other than reason=eof: $dropped)" test "$dropped" -eq 0
	stop_mtlsd storm
	stop echo_storm
}

# hostile COUNT RST_COUNT: every kind of hostile TLS input crowd.py knows,
# COUNT connections each (RST_COUNT ClientHello-then-RST), PARALLEL at a
# time.  Each is closed with nothing but an alert back, nothing reaches the
# backend, and mtlsd's descriptors and memory do not grow.
scenario_hostile() {
	local count=$1 rsts=$2 par=${3:-20} p_echo p_srv p_adm pid kind rest
	read -r p_echo p_srv p_adm <<< "$(free_ports 3)"
	global_conf hostile "$p_adm" "workers = 2" "handshake_timeout = 2s"
	route_conf hostile in server "$p_srv" "$p_echo"
	bg_peer echo_hostile echo --listen 127.0.0.1:$p_echo || { not_ok "hostile: echo starts"; return; }
	start_mtlsd hostile "$T/hostile.ini" || { not_ok "hostile: mtlsd starts"; return; }
	pid=${PID_OF[hostile]}
	# One round to warm up, PARALLEL at a time as below, so that the base
	# line already has the pools, the contexts' first use and the
	# allocator's high-water mark of that many handshakes at once.
	$CROWD hostile --connect 127.0.0.1:$p_srv --kind all --count "$par" --rst-count "$par" \
		--parallel "$par" > "$T/warm.out"
	local f0 r0 f1 r1 bad refused total base
	# Settled: mtlsd has accepted all that were sent (a ClientHello then a
	# reset still costs it a server handshake, so it may lag behind the
	# senders, its queue full of them) and none is open.
	settled() {
		test "$(metric "$p_adm" mtlsd_connections_total 'route="in"')" -ge "$1" &&
		test "$(metric "$p_adm" mtlsd_connections_open 'route="in"')" = 0
	}
	wait_for 30 settled "$(sed -n 's/.* count=\([0-9]*\).*/\1/p' "$T/warm.out" | awk '{ t += $1 } END { print t + 0 }')"
	base=$(metric "$p_adm" mtlsd_connections_total 'route="in"')
	f0=$(nfds "$pid") r0=$(rss_kib "$pid")
	local t0=$(date +%s%N) t1
	$CROWD hostile --connect 127.0.0.1:$p_srv --kind all --count "$count" --rst-count "$rsts" \
		--parallel "$par" --within 10 > "$T/hostile.out"
	t1=$(date +%s%N)
	while read -r kind rest; do
		figure "hostile.${kind#kind=}" "$rest"
	done < "$T/hostile.out"
	refused=$(grep -c 'pass=yes' "$T/hostile.out") bad=$(grep -vc 'pass=yes' "$T/hostile.out")
	total=$(sed -n 's/.* count=\([0-9]*\).*/\1/p' "$T/hostile.out" | awk '{ t += $1 } END { print t + 0 }')
	grep -v 'pass=yes' "$T/hostile.out" | sed 's/^/# failed: /'
	wait_for $((total / 20 + 30)) settled $((base + total))
	local t2=$(date +%s%N)
	fds_back() { test "$(nfds "$pid")" -le "$f0"; }
	wait_for 10 fds_back
	f1=$(nfds "$pid") r1=$(rss_kib "$pid")
	local probe; probe=$($CROWD probe --connect 127.0.0.1:$p_srv --pki "$T/pki")
	local reached; reached=$(count_log "$T/echo_hostile.log" '^accepted')
	figure hostile.connections "$total"
	figure hostile.kinds_refused "$refused/$((refused + bad))"
	figure hostile.send_secs "$(( (t1 - t0) / 1000000000 ))"
	figure hostile.mtlsd_caught_up_secs_later "$(( (t2 - t1) / 1000000000 ))"
	figure hostile.accepted "$(( $(metric "$p_adm" mtlsd_connections_total 'route="in"') - base ))"
	figure hostile.fds "$f0 -> $f1"
	figure hostile.rss_kib "$r0 -> $r1"
	check "hostile: all $((refused + bad)) kinds refused, each connection closed with at most an alert" \
		test "$bad" -eq 0 -a "$refused" -ge 15
	check "hostile: none of $total connections reached the backend ($reached accepted)" \
		test "$reached" -eq 1
	check "hostile: no descriptor growth ($f0 -> $f1)" test "$f1" -le "$f0"
	check_mem "hostile: no memory growth (VmRSS $r0 -> $r1 KiB, at most +2 MiB)" test $((r1 - r0)) -le 2048
	check "hostile: a good client is served after it all ($probe)" grep -q 'ok=yes' <<< "$probe"
	stop_mtlsd hostile
	stop echo_hostile
}
