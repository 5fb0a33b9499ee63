#!/bin/bash
# A client route and a server route in series: bytes arrive intact both
# ways, half-close is kept, unix sockets work on the plain side.
. "$(dirname "$0")/lib.sh"

make_pki || { not_ok "PKI"; finish; }
read -r P_ECHO P_SRV P_CLI P_SRV_UNIX P_CLI_UNIX <<< "$(free_ports 5)"

conf pair <<EOF
[global]
workers = 2
ca = $T/pki/ca.crt

[in]
mode = server
listen = 127.0.0.1:$P_SRV
connect = 127.0.0.1:$P_ECHO
cert = $T/pki/server.crt
key = $T/pki/server.key
allow_peers = uri:spiffe://test/client

[out]
mode = client
listen = 127.0.0.1:$P_CLI
connect = 127.0.0.1:$P_SRV
server_name = localhost
cert = $T/pki/client.crt
key = $T/pki/client.key

[in-unix-backend]
; the app behind a server route listens on a unix socket
mode = server
listen = 127.0.0.1:$P_SRV_UNIX
connect = unix:$T/backend.sock
cert = $T/pki/server.crt
key = $T/pki/server.key

[out-to-unix-backend]
mode = client
listen = 127.0.0.1:$P_CLI_UNIX
connect = 127.0.0.1:$P_SRV_UNIX
server_name = localhost
cert = $T/pki/client.crt
key = $T/pki/client.key

[out-unix]
mode = client
listen = unix:$T/app.sock
connect = 127.0.0.1:$P_SRV
server_name = localhost
cert = $T/pki/client.crt
key = $T/pki/client.key
EOF

bg_peer echo echo --listen 127.0.0.1:$P_ECHO
bg_peer unixecho echo --listen "unix:$T/backend.sock"
start_mtlsd pair "$T/pair.ini" || { not_ok "mtlsd starts"; finish; }

out=$($PEER roundtrip --connect 127.0.0.1:$P_CLI --bytes $((16 << 20)))
check "16 MiB each way through client + server routes, sha256 equal ($out)" \
	grep -q 'match=yes' <<< "$out"

wait_log "$T/pair.log" "route=in event=close .*reason=eof" 10
check "server route logs one close line with identity, both byte counts, reason=eof" \
	log_has "$T/pair.log" "route=in event=close .*id=spiffe://test/client .*bytes_in=16777216 bytes_out=16777216 .*reason=eof"
check "client route's close line names the server's identity and TLS 1.3" \
	log_has "$T/pair.log" "route=out event=close .*id=spiffe://test/server .*tls=TLSv1.3"

reply=$($PEER halfclose --connect 127.0.0.1:$P_CLI --send "half-closed request")
check "half-close: the client shuts its write side and still reads the whole reply" \
	test "$reply" = "half-closed request"

out=$($PEER roundtrip --connect "unix:$T/app.sock" --bytes $((1 << 20)))
check "a unix-socket client route carries 1 MiB intact ($out)" grep -q 'match=yes' <<< "$out"

out=$($PEER roundtrip --connect 127.0.0.1:$P_CLI_UNIX --bytes $((1 << 20)))
check "a server route forwards to a unix-socket backend, 1 MiB intact ($out)" grep -q 'match=yes' <<< "$out"

# Several streams at once, spread over both workers.
pids=()
for i in 1 2 3 4; do
	$PEER roundtrip --connect 127.0.0.1:$P_CLI --bytes $((2 << 20)) > "$T/par$i.out" &
	pids+=($!)
done
allok=yes
for p in "${pids[@]}"; do wait "$p" || allok=no; done
check "4 concurrent streams of 2 MiB are all intact" test "$allok" = yes

stop_mtlsd pair
check "the unix listener's socket file is removed at exit" test ! -e "$T/app.sock"
finish
