#!/bin/bash
# Operations: the audit trail (valid JSON whatever the peer's name, every
# event kind, flushed within a second, reopened on SIGUSR1), /metrics moving
# by exactly what the test did, /healthz and /readyz, drain on SIGTERM.
. "$(dirname "$0")/lib.sh"

make_pki || { not_ok "PKI"; finish; }
read -r P_ECHO P_SRV P_STRICT P_DENY P_ADMIN P_DEAD P_DEADSRV <<< "$(free_ports 7)"

# Hostile names, made with OpenSSL and signed by our CA: a CN with quotes, a
# newline, a backslash, and bytes that are not UTF-8; no SAN, so the CN is
# the identity mtlsd logs.
# string_mask = nombstr makes OpenSSL store the bytes as they are (a
# T61String), so 0xff 0xfe reach the certificate as invalid UTF-8.
openssl ecparam -name prime256v1 -genkey -noout -out "$T/hostile.key" 2>/dev/null
chmod 600 "$T/hostile.key"
printf '[req]\ndistinguished_name=dn\nstring_mask=nombstr\n[dn]\n' > "$T/req.cnf"
openssl req -new -key "$T/hostile.key" -config "$T/req.cnf" \
	-subj $'/CN=evil"\nname\\\\x\xff\xfe' -out "$T/hostile.csr" 2>/dev/null
printf 'extendedKeyUsage=clientAuth\n' > "$T/ext"
openssl x509 -req -in "$T/hostile.csr" -CA "$T/pki/ca.crt" -CAkey "$T/pki/ca.key" \
	-CAcreateserial -days 2 -extfile "$T/ext" -out "$T/hostile.crt" 2>/dev/null
check "OpenSSL made a certificate with a hostile CN" test -s "$T/hostile.crt"

conf ops <<EOF
[global]
workers = 2
audit_log = $T/audit.jsonl
admin_listen = 127.0.0.1:$P_ADMIN
readyz_upstream = yes
metrics_peer_limit = 1
drain_timeout = 20s
cert = $T/pki/server.crt
key = $T/pki/server.key
ca = $T/pki/ca.crt

[in]
mode = server
listen = 127.0.0.1:$P_SRV
connect = 127.0.0.1:$P_ECHO

[strict]
mode = server
listen = 127.0.0.1:$P_STRICT
connect = 127.0.0.1:$P_ECHO
allow_peers = uri:spiffe://test/nobody

[deny]
mode = server
listen = 127.0.0.1:$P_DENY
connect = 127.0.0.1:$P_ECHO
deny_cidr = 127.0.0.0/8
EOF

bg_peer echo echo --listen 127.0.0.1:$P_ECHO
start_mtlsd ops "$T/ops.ini" || { not_ok "mtlsd starts"; finish; }

metrics() { curl -s "http://127.0.0.1:$P_ADMIN/metrics"; }
metric() { # NAME LABELS: the value, 0 if absent
	local v
	v=$(grep -F "$1{$2}" <<< "$M" | awk '{print $2}')
	echo "${v:-0}"
}
ping_as() { # CERT KEY PORT: one echo through s_client
	printf 'ping\n' | timeout 10 openssl s_client -connect 127.0.0.1:$3 -servername localhost \
		-CAfile "$T/pki/ca.crt" ${1:+-cert "$1" -key "$2"} 2>/dev/null > /dev/null
}

# /healthz and /readyz.
check "/healthz answers 200" test "$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$P_ADMIN/healthz)" = 200
check "/readyz answers 200 while every route and upstream is fine" \
	test "$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$P_ADMIN/readyz)" = 200

M=$(metrics)
c0=$(metric mtlsd_connections_total 'route="in"')
b0=$(metric mtlsd_bytes_in_total 'route="in"')
o0=$(metric mtlsd_bytes_out_total 'route="in"')
f0=$(metric mtlsd_handshake_failures_total 'route="in",reason="no_cert"')
d0=$(metric mtlsd_handshake_failures_total 'route="strict",reason="denied"')
r0=$(metric mtlsd_connections_refused_total 'route="deny",reason="source_address"')
h0=$(metric mtlsd_handshake_duration_seconds_count 'route="in"')

# What the test does: 3 good connections of 100000 bytes each way, one
# without a certificate, one denied, one refused by address, one hostile.
pids=()
for i in 1 2 3; do
	head -c 100000 /dev/urandom | timeout 10 openssl s_client -connect 127.0.0.1:$P_SRV \
		-servername localhost -CAfile "$T/pki/ca.crt" -cert "$T/pki/client.crt" \
		-key "$T/pki/client.key" -quiet > "$T/got$i" 2>/dev/null &
	pids+=($!)
done
wait "${pids[@]}"
ping_as "" "" $P_SRV
ping_as "$T/pki/client.crt" "$T/pki/client.key" $P_STRICT
ping_as "$T/pki/client.crt" "$T/pki/client.key" $P_DENY
ping_as "$T/hostile.crt" "$T/hostile.key" $P_SRV
sleep_until_counted() { M=$(metrics); test "$(metric mtlsd_connections_open 'route="in"')" = 0; }
wait_for 10 sleep_until_counted
M=$(metrics)
c1=$(metric mtlsd_connections_total 'route="in"')
b1=$(metric mtlsd_bytes_in_total 'route="in"')
o1=$(metric mtlsd_bytes_out_total 'route="in"')
# Three s_client streams of 100000 bytes each way, the no-cert attempt,
# the hostile one with 5 bytes each way ("ping\n").
check "connections_total moved by exactly 5 ($c0 -> $c1)" test $((c1 - c0)) = 5
check "bytes_in moved by exactly 300005 ($b0 -> $b1)" test $((b1 - b0)) = 300005
check "bytes_out moved by exactly 300005 ($o0 -> $o1)" test $((o1 - o0)) = 300005
check "handshake_failures{reason=no_cert} moved by 1" \
	test $(( $(metric mtlsd_handshake_failures_total 'route="in",reason="no_cert"') - f0 )) = 1
check "handshake_failures{route=strict,reason=denied} moved by 1" \
	test $(( $(metric mtlsd_handshake_failures_total 'route="strict",reason="denied"') - d0 )) = 1
check "connections_refused{reason=source_address} moved by 1" \
	test $(( $(metric mtlsd_connections_refused_total 'route="deny",reason="source_address"') - r0 )) = 1
check "the handshake histogram counted the 4 completed handshakes" \
	test $(( $(metric mtlsd_handshake_duration_seconds_count 'route="in"') - h0 )) = 4
check "per-identity series: spiffe://test/client's 3 connections, summed over workers" \
	grep -q 'mtlsd_peer_connections_total{route="in",peer_id="spiffe://test/client"} 3' <<< "$M"
series=$(grep -c '^mtlsd_peer_connections_total{route="in"' <<< "$M")
total=$(( $(grep '^mtlsd_peer_connections_total{route="in"' <<< "$M" | awk '{s += $NF} END {print s}') + \
	$(metric mtlsd_peer_others_connections_total 'route="in"') ))
check "... bounded: at most metrics_peer_limit (1) series per worker (2): $series" test "$series" -le 2
check "... and nothing lost: series plus others count all 4 verified connections ($total)" test "$total" = 4
check "the exposition stays valid UTF-8 text whatever the peer's name (percent-encoded)" \
	python3 -c "import sys; sys.stdin.buffer.read().decode('utf-8')" <<< "$M"
check "certificate expiry is exported in seconds" \
	grep -qE '^mtlsd_certificate_expiry_seconds\{route="in"\} [0-9]{6,}$' <<< "$M"

# The audit trail: flushed within a second or so, without a stop.
check "audit lines reach the file while mtlsd runs (flushed every second)" \
	wait_log "$T/audit.jsonl" '"event":"close"' 3
# logrotate: move the file, SIGUSR1, new lines go to a new file.
mv "$T/audit.jsonl" "$T/audit.jsonl.1"
kill -USR1 "${PID_OF[ops]}"
wait_log "$T/ops.log" 'event=audit_reopen' 5
ping_as "$T/pki/client.crt" "$T/pki/client.key" $P_SRV
check "after SIGUSR1 the audit trail continues in a new file" \
	wait_log "$T/audit.jsonl" '"event":"close"' 3

# /readyz with the upstream gone.
stop echo
check "/readyz answers 503 when a server route's upstream is down" \
	test "$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$P_ADMIN/readyz)" = 503
check "... and says which" grep -q "route in: upstream 127.0.0.1:$P_ECHO" <<< "$(curl -s http://127.0.0.1:$P_ADMIN/readyz)"
bg_peer echo echo --listen 127.0.0.1:$P_ECHO

# Drain: SIGTERM stops accepting; a transfer under way completes.
$PEER roundtrip --connect 127.0.0.1:$P_ECHO --bytes 1 > /dev/null   # warm
cat > "$T/slow.py" <<EOF
import socket, ssl, sys, time, hashlib
ctx = ssl.create_default_context(cafile="$T/pki/ca.crt")
ctx.load_cert_chain("$T/pki/client.crt", "$T/pki/client.key")
t = ctx.wrap_socket(socket.create_connection(("127.0.0.1", $P_SRV)), server_hostname="localhost")
print("connected", flush=True)
data = b"z" * (8 << 20)
got = 0
for i in range(16):          # 16 x 512 KiB, paced: takes a few seconds
    t.sendall(data[i << 19:(i + 1) << 19])
    time.sleep(0.15)
    t.settimeout(0.01)
    try:
        while True:
            d = t.recv(1 << 20)
            if not d: break
            got += len(d)
    except (socket.timeout, ssl.SSLWantReadError):
        pass
    t.settimeout(30)
t.sendall(b"")
sock = t.unwrap()
sock.shutdown(socket.SHUT_WR)
while True:
    d = sock.recv(1 << 20)
    if not d: break
    got += len(d)
print("received", got, flush=True)
EOF
bg slow python3 "$T/slow.py"
wait_log "$T/slow.log" '^connected' 10
kill -TERM "${PID_OF[ops]}"
check "SIGTERM starts a drain" wait_log "$T/ops.log" 'event=shutdown phase=drain' 5
check "... and the listener is closed at once: new connections are refused" \
	wait_for 5 eval '! port_open $P_SRV'
wait "${PID_OF[slow]}"; unset "PID_OF[slow]"
check "the transfer under way completes during the drain ($(tail -1 "$T/slow.log"))" \
	grep -q "^received 8388608" "$T/slow.log"
stop_mtlsd ops

# The audit file: every line valid JSON, every event kind present, the
# hostile name escaped so that it decodes to what the certificate holds.
cat "$T/audit.jsonl.1" "$T/audit.jsonl" > "$T/all.jsonl"
out=$(python3 - "$T/all.jsonl" <<'EOF'
import json, sys
lines = open(sys.argv[1], "rb").read().split(b"\n")[:-1]
events, ids = set(), set()
for l in lines:
    r = json.loads(l.decode("utf-8"))          # strict UTF-8, then strict JSON
    events.add(r["event"])
    ids.add(r.get("peer_id"))
    assert r["ts"].endswith("Z") and len(r["ts"]) == 24, r["ts"]
want = "evil\"\nname\\x" + "\ufffd\ufffd"
print("lines=%d events=%s hostile=%s" % (len(lines), ",".join(sorted(events)),
      "ok" if want in ids else "missing:" + repr([i for i in ids if i and "evil" in i])))
EOF
)
check "every audit line parses as JSON ($out)" grep -q '^lines=' <<< "$out"
check "all six event kinds are in the trail" \
	grep -q 'events=accept,close,denied,handshake_fail,handshake_ok,refused' <<< "$out"
check "the hostile CN decodes exactly (quotes, newline, backslash kept; bad bytes as U+FFFD)" \
	grep -q 'hostile=ok' <<< "$out"
check "no raw newline from the peer's name split a line" \
	eval '! grep -q "^name" "$T/all.jsonl"'
finish
