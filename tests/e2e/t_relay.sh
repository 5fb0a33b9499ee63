#!/bin/bash
# A client route and a server route in series: bytes arrive intact both
# ways, half-close is kept, unix sockets work on the plain side.
. "$(dirname "$0")/lib.sh"

make_pki || { not_ok "PKI"; finish; }
read -r P_ECHO P_SRV P_CLI P_SRV_UNIX P_CLI_UNIX P_SRV_MB P_CLI_MB <<< "$(free_ports 7)"

conf pair <<EOF
[global]
workers = 2
ca = $T/pki/ca.crt

[in]
mode = server
listen = 127.0.0.1:$P_SRV
connect = 127.0.0.1:$P_ECHO
backlog = 2000
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

[in-mbedtls-limited]
; mbedTLS's records cannot change keys: at key_update_records an AES-GCM
; connection must end rather than overrun its key
mode = server
listen = 127.0.0.1:$P_SRV_MB
connect = 127.0.0.1:$P_ECHO
cert = $T/pki/server.crt
key = $T/pki/server.key
record_layer = mbedtls
key_update_records = 8

[out-to-mbedtls]
mode = client
listen = 127.0.0.1:$P_CLI_MB
connect = 127.0.0.1:$P_SRV_MB
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

# The listen backlog is the route's (not libevent's 128): ss shows it as
# a listener's Send-Q, capped by the kernel's somaxconn.
backlog_of() { ss -Hltn "sport = :$1" | awk '{print $3; exit}'; }
somax=$(cat /proc/sys/net/core/somaxconn)
want=$(( somax < 2000 ? somax : 2000 )) want_default=$(( somax > 1024 ? somax : 1024 ))
check "backlog = 2000 is the listener's backlog ($(backlog_of $P_SRV), somaxconn $somax)" \
	test "$(backlog_of $P_SRV)" = "$want"
check "the default backlog is somaxconn, at least 1024 ($(backlog_of $P_CLI))" \
	test "$(backlog_of $P_CLI)" -ge "$(( want_default < somax ? want_default : somax ))" -a "$(backlog_of $P_CLI)" -gt 128

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

# A server route on mbedTLS's record layer, its client on libgcrypt's
# (AES-128-GCM): a small exchange is intact; past 8 records the server
# route ends the connection instead of sealing on with one key.
reply=$($PEER halfclose --connect 127.0.0.1:$P_CLI_MB --send "mixed layers")
check "libgcrypt's records to mbedTLS's and back: a request and its reply intact" \
	test "$reply" = "mixed layers"
check "... with each side naming its record layer" \
	log_has "$T/pair.log" "route=in-mbedtls-limited event=close .*AES-128-GCM.* layer=mbedtls"
out=$($PEER roundtrip --connect 127.0.0.1:$P_CLI_MB --bytes $((1 << 20)))
check "past key_update_records an AES-GCM stream on mbedTLS's layer is cut ($out)" \
	grep -q 'match=no' <<< "$out"
check "... and logged with reason=key_limit" \
	wait_log "$T/pair.log" "route=in-mbedtls-limited event=close .*reason=key_limit"

stop_mtlsd pair
check "the unix listener's socket file is removed at exit" test ! -e "$T/app.sock"
finish
