#!/bin/bash
# Session resumption between a client route and a server route: reconnects
# resume (both sides say so, both keep the peer's identity), across workers;
# a reload that changes the policy ends every ticket; session_resumption =
# off never resumes.
. "$(dirname "$0")/lib.sh"

make_pki || { not_ok "PKI"; finish; }
read -r P_ECHO P_SRV P_CLI P_CLI_OFF P_SRV_OFF P_ADMIN <<< "$(free_ports 6)"

conf r <<EOF
[global]
workers = 2
admin_listen = 127.0.0.1:$P_ADMIN
ca = $T/pki/ca.crt

[in]
mode = server
listen = 127.0.0.1:$P_SRV
connect = 127.0.0.1:$P_ECHO
cert = $T/pki/server.crt
key = $T/pki/server.key
allow_peers = uri:spiffe://test/client

[in-off]
mode = server
listen = 127.0.0.1:$P_SRV_OFF
connect = 127.0.0.1:$P_ECHO
cert = $T/pki/server.crt
key = $T/pki/server.key
session_resumption = off

[out]
mode = client
listen = 127.0.0.1:$P_CLI
connect = 127.0.0.1:$P_SRV
server_name = localhost
cert = $T/pki/client.crt
key = $T/pki/client.key

[out-off]
mode = client
listen = 127.0.0.1:$P_CLI_OFF
connect = 127.0.0.1:$P_SRV_OFF
server_name = localhost
cert = $T/pki/client.crt
key = $T/pki/client.key
session_resumption = off
EOF

bg_peer echo echo --listen 127.0.0.1:$P_ECHO
start_mtlsd r "$T/r.ini" || { not_ok "mtlsd starts"; finish; }

through() { # PORT: one echo round trip through a route
	$PEER roundtrip --connect 127.0.0.1:$1 --bytes 20000 | grep -q match=yes
}
resumed() { count_log "$T/r.log" "route=$1 event=close .*resumed=yes"; }
closes() { count_log "$T/r.log" "route=$1 event=close"; }

check "a first connection goes through (a full handshake)" through $P_CLI
wait_for 5 eval 'test $(closes in) -ge 1'
check "... and did not resume" test "$(resumed in)" = 0
# Six reconnects: with two workers on each side, tickets must be shared by
# the workers of a route, or about half would fall back to full handshakes.
for i in 1 2 3 4 5 6; do through $P_CLI || not_ok "reconnect $i"; done
wait_for 5 eval 'test $(closes in) -ge 7'
check "all six reconnects resumed on the server route ($(resumed in) of 6)" test "$(resumed in)" = 6
check "... and on the client route ($(resumed out) of 6)" test "$(resumed out)" = 6
check "a resumed session keeps the client's identity (from the ticket)" \
	log_has "$T/r.log" "route=in event=close .*id=spiffe://test/client .*resumed=yes"
check "... and the server's, on the client side" \
	log_has "$T/r.log" "route=out event=close .*id=spiffe://test/server .*resumed=yes"
m=$(curl -s "http://127.0.0.1:$P_ADMIN/metrics")
check "metrics count resumed handshakes" grep -q 'mtlsd_handshakes_resumed_total{route="in"} 6' <<< "$m"

# A reload that changes the policy: every ticket issued before is void.
sed -i 's|^allow_peers = .*|allow_peers = uri:spiffe://test/client, uri:spiffe://test/other|' "$T/r.ini"
kill -HUP "${PID_OF[r]}"
wait_log "$T/r.log" "route=in event=reload status=ok" 10
before=$(resumed in)
check "after a reload that changed the allow-list, the next connection goes through" through $P_CLI
wait_for 5 eval 'test $(closes in) -ge 8'
check "... with a full handshake (the old ticket key is gone)" test "$(resumed in)" = "$before"

# session_resumption = off: never.
for i in 1 2 3; do through $P_CLI_OFF || not_ok "off $i"; done
wait_for 5 eval 'test $(closes in-off) -ge 3'
check "session_resumption = off: no connection resumes" test "$(resumed in-off)" = 0
stop_mtlsd r
finish
