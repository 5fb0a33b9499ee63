# bench/systems.sh: the proxy pairs, sourced by bench/run.sh (bash).  Starts
# and stops each system's two sides in front of a backend, reads mtlsd's
# /metrics and close lines, and probes each server side with an independent
# TLS client.  Uses lib.sh and the driver's settings (MTLSD, PKI, WORK, N,
# HITCH_USER_LINE, HAPROXY_MAXCONN, MTLSD_RESUMPTION, KTLS_ULP).

MTLSD_WORKERS=$BENCH_WORKERS	# mtlsd's `workers` (the workers phase sets 1 and N)

# Set by start_system: where the load connects, and the two proxy processes.
CP=""
CLIENT=""	# name in PID[] of the client-side proxy, "" for plain
SERVER=""	# name in PID[] of the server-side proxy
SYS_SERVER_PORT=""

# sys_unavailable SYS: when SYS cannot run on this machine (a program is
# missing, the kernel has no TLS ULP), prints why and succeeds; otherwise
# fails.  Both the per-system phases and the latency phase skip such a SYS.
sys_unavailable() {
	case "$1" in
	stunnel*) command -v stunnel > /dev/null || { echo "stunnel is not installed"; return 0; } ;;
	esac
	case "$1" in
	stunnel-hitch) command -v hitch > /dev/null || { echo "hitch is not installed"; return 0; } ;;
	stunnel-haproxy) command -v haproxy > /dev/null || { echo "haproxy is not installed"; return 0; } ;;
	mtlsd-ktls) [ "$KTLS_ULP" = 1 ] || { echo "n/a: kernel has no tls ULP"; return 0; } ;;
	esac
	return 1
}

# mtlsd_layer SYS: the record_layer SYS's mtlsd pair runs with.  The workers
# comparison asks about mbedTLS's record path (PSA's key-slot mutex), so it
# keeps mbedTLS's records.
mtlsd_layer() {
	case "$1" in
	mtlsd-ktls) echo kernel ;;
	mtlsd-mbedtls|mtlsd-workers) echo mbedtls ;;
	*) echo libgcrypt ;;
	esac
}

# start_system SYS BACKEND_PORT RESUME TAG: starts SYS's pair in front of the
# backend.  RESUME is on or off (session resumption on the client side).
# TAG names the phase (sink, echo, full, w1, wN, rr): logs/SYS.TAG.{client,server}.
# The mtlsd systems differ in record_layer (mtlsd_layer); mtlsd-workers runs
# MTLSD_WORKERS workers a side.
start_system() {
	local sys=$1 backend=$2 resume=$3 tag=$4 pc ps pa pb res layer lvl
	local base="$sys.$tag"
	set -- $(free_ports 4)
	pc=$1 ps=$2 pa=$3 pb=$4
	CLIENT="" SERVER="" CP="" SYS_SERVER_PORT=$ps
	case "$sys" in
	plain)
		CP=$backend
		return 0 ;;
	mtlsd|mtlsd-mbedtls|mtlsd-ktls|mtlsd-workers)
		layer=$(mtlsd_layer "$sys")
		res=""
		[ "$MTLSD_RESUMPTION" = 1 ] && res="session_resumption = $resume"
		# Close lines (TLS version, cipher, data path) only where the
		# connections are few: not while handshakes are counted.
		lvl=warn
		case "$tag" in sink|w*) lvl=info ;; esac
		render mtlsd-server.ini.in "$WORK/$base.server.ini" PKI="$PKI" \
		    LAYER=$layer ADMIN_PORT=$pb LISTEN_PORT=$ps BACKEND_PORT=$backend \
		    RESUMPTION="$res" LOG_LEVEL=$lvl WORKERS="$MTLSD_WORKERS" || return 1
		render mtlsd-client.ini.in "$WORK/$base.client.ini" PKI="$PKI" \
		    LAYER=$layer ADMIN_PORT=$pa LISTEN_PORT=$pc SERVER_PORT=$ps \
		    RESUMPTION="$res" LOG_LEVEL=$lvl WORKERS="$MTLSD_WORKERS" || return 1
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

# close_summary SIDE LOG: "SIDE":{"tls":{...},"cipher":{...},"path":{...},"layer":{...}},
# each a count of the values the close lines show.
close_summary() {
	printf '"%s":{' "$1"
	local k first=1
	for k in tls cipher path layer; do
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
# the client certificate it must get TLS 1.3 and its byte back; without one
# it must get nothing back.  The suite it gets is recorded, not required: a
# peer answers with the TLS_AES_128_GCM_SHA256 its config forces, mtlsd
# (which forces none) with the client's first choice.  Which suite each pair
# negotiated between its own two sides comes from elsewhere: the peers'
# configs, mtlsd's close lines (close_summary).
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
