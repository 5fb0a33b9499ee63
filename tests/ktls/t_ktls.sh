#!/bin/bash
# Kernel TLS, end to end (run inside user-mode Linux by tests/ktls/run.sh):
# bytes intact both ways through a kTLS sidecar pair, close_notify both ways,
# OpenSSL as the peer in both directions (its two NewSessionTickets dropped),
# TLS 1.2 and AES-256 key derivation, a KeyUpdate closed with its reason,
# fallback to user space, re-authorization of a live kTLS connection, the
# end of a transparent route's tunnel, and a transparent route on kTLS.
. "$(dirname "$0")/../e2e/lib.sh"

check "the kernel offers the tls ULP here" grep -qw tls /proc/sys/net/ipv4/tcp_available_ulp
make_pki || { not_ok "PKI"; finish; }
read -r P_ECHO P_SRV P_CLI P_OSSL P_TO_OSSL P_REPLY P_SRV12 P_AUTO P_ADMIN P_TUN \
    P_TOUT P_TIN <<< "$(free_ports 12)"

conf k <<EOF
[global]
workers = 1
log_level = debug
ktls = on
ca = $T/pki/ca.crt
cert = $T/pki/server.crt
key = $T/pki/server.key
admin_listen = 127.0.0.1:$P_ADMIN

[in]
mode = server
listen = 127.0.0.1:$P_SRV
connect = 127.0.0.1:$P_ECHO
allow_peers = uri:spiffe://test/client

[in12]
mode = server
listen = 127.0.0.1:$P_SRV12
connect = 127.0.0.1:$P_REPLY
tls_min_version = 1.2

[auto]
mode = server
listen = 127.0.0.1:$P_AUTO
connect = 127.0.0.1:$P_REPLY
ktls = auto
tls_min_version = 1.2

[out]
mode = client
listen = 127.0.0.1:$P_CLI
connect = 127.0.0.1:$P_SRV
server_name = localhost
cert = $T/pki/client.crt
key = $T/pki/client.key

[tunnel-in]
mode = server
listen = 127.0.0.1:$P_TUN
connect = original
allow_ports = $P_ECHO

; A transparent route and the server route its tunnels reach, on 127.0.0.3
; (a "node" of its own on lo).  Peers are checked against server_name: the
; test certificate carries no 127.0.0.3.
[mesh-out]
mode = transparent
listen = 127.0.0.1:$P_TOUT
connect = original:$P_TIN
server_name = localhost
cert = $T/pki/client.crt
key = $T/pki/client.key

[mesh-in]
mode = server
listen = 127.0.0.3:$P_TIN
connect = original
allow_ports = $P_ECHO

[to-openssl]
mode = client
listen = 127.0.0.1:$P_TO_OSSL
connect = 127.0.0.1:$P_OSSL
server_name = localhost
cert = $T/pki/client.crt
key = $T/pki/client.key
EOF

bg echo "$BUILD/mtlsd-bench" echo --listen 127.0.0.1:$P_ECHO
bg_peer reply reply --listen 127.0.0.1:$P_REPLY
wait_log "$T/echo.log" '^listening' 
start_mtlsd k "$T/k.ini" || { not_ok "mtlsd starts with ktls = on"; finish; }

closes() { count_log "$T/k.log" "route=$1 event=close .*path=$2"; }

# 1. A sidecar pair, both ends on kTLS.  mtlsd-bench push checks every byte
# of the echo against what it sent.
out=$("$BUILD/mtlsd-bench" push --connect 127.0.0.1:$P_CLI --bytes 8M 2>&1)
check "8 MiB each way through a kTLS pair, every byte checked ($(tail -1 <<< "$out"))" \
	grep -q 'integrity OK' <<< "$out"
check "the server route's close line says path=ktls and reason=eof" \
	wait_log "$T/k.log" "route=in event=close .*bytes_in=8388608 bytes_out=8388608 .*path=ktls reason=eof"
check "the client route's close line says path=ktls and reason=eof" \
	wait_log "$T/k.log" "route=out event=close .*bytes_in=8388608 bytes_out=8388608 .*path=ktls reason=eof"
check "close_notify went both ways: no side saw a truncated stream" \
	eval '! log_has "$T/k.log" "without close_notify"'
m=$(curl -s "http://127.0.0.1:$P_ADMIN/metrics")
check "metrics count the kTLS connections" \
	grep -q 'mtlsd_connections_ktls_total{route="in"} 1' <<< "$m"

# A stream that ends part-way through a record, from an independent peer.
out=$($PEER roundtrip --connect 127.0.0.1:$P_CLI --bytes 1234567)
check "an odd-sized stream (1234567 bytes) is intact over kTLS, sha256 equal" grep -q match=yes <<< "$out"
# The first connection's ticket was read by mbedTLS before the client's RX
# went to the kernel; this second one resumed from it, still on kTLS.
check "a resumed session runs on kTLS too (server side)" \
	wait_log "$T/k.log" "route=in event=close .*resumed=yes .*bytes_in=1234567 .*path=ktls reason=eof"
check "... and on the client side" \
	wait_log "$T/k.log" "route=out event=close .*resumed=yes .*bytes_in=1234567 .*path=ktls reason=eof"

# 2. OpenSSL's client against a kTLS server route.
s_client() { # PORT ARGS...
	local port=$1; shift
	printf 'ping\n' | timeout 20 openssl s_client -connect 127.0.0.1:$port \
		-servername localhost -CAfile "$T/pki/ca.crt" -cert "$T/pki/client.crt" \
		-key "$T/pki/client.key" -ign_eof "$@" 2>&1
}
n0=$(closes in12 ktls)
out=$(s_client $P_SRV12)
check "openssl s_client (TLS 1.3) gets its answer through a kTLS server route" grep -q '^got:ping' <<< "$out"
out=$(s_client $P_SRV12 -tls1_2)
check "openssl s_client with TLS 1.2 (AES-GCM, PRF key block) works over kTLS" grep -q '^got:ping' <<< "$out"
check "... on the kTLS path both times" wait_for 10 eval 'test $(closes in12 ktls) -ge $((n0 + 2))'
out=$(s_client $P_SRV12 -ciphersuites TLS_AES_256_GCM_SHA384)
check "AES-256-GCM (SHA-384 key schedule) works over kTLS" grep -q '^got:ping' <<< "$out"
check "... with path=ktls" wait_log "$T/k.log" "route=in12 event=close .*TLS1-3-AES-256-GCM-SHA384 .*path=ktls"

# 3. ktls = auto falls back to user space for what the kernel cannot take:
# ChaCha20-Poly1305, before its modules are loaded (uml-init.sh loads only
# AES-GCM's), is refused by the kernel at TLS_TX, after the ULP is on.
out=$(s_client $P_AUTO -ciphersuites TLS_CHACHA20_POLY1305_SHA256)
check "ktls = auto: a ChaCha20 session the kernel cannot take still works" grep -q '^got:ping' <<< "$out"
check "... in user space, saying why" \
	wait_log "$T/k.log" "route=auto event=ktls status=fallback path=userspace reason="
# With the modules, the kernel takes ChaCha20-Poly1305 (TLS 1.3 and, from
# the PRF's key block with a 12-byte IV, TLS 1.2).
mods=$(ls -d /usr/lib/uml/modules/*/kernel | head -n 1)
for m in lib/crypto/libchacha lib/crypto/libpoly1305 crypto/chacha_generic \
    crypto/poly1305_generic crypto/chacha20poly1305; do
	/bin/busybox insmod "$mods/$m.ko" 2>/dev/null || note "insmod $m failed"
done
out=$(s_client $P_AUTO -ciphersuites TLS_CHACHA20_POLY1305_SHA256)
check "ChaCha20-Poly1305 (TLS 1.3) goes over kTLS once the kernel has it" grep -q '^got:ping' <<< "$out"
check "... with path=ktls" \
	wait_log "$T/k.log" "route=auto event=close .*TLS1-3-CHACHA20-POLY1305-SHA256 .*path=ktls"
out=$(s_client $P_AUTO -tls1_2 -cipher ECDHE-ECDSA-CHACHA20-POLY1305)
check "ChaCha20-Poly1305 with TLS 1.2 over kTLS" grep -q '^got:ping' <<< "$out"
check "... with path=ktls" \
	wait_log "$T/k.log" "route=auto event=close .*TLS-ECDHE-ECDSA-WITH-CHACHA20-POLY1305-SHA256 .*path=ktls"

# 4. OpenSSL's server behind a kTLS client route: it sends two
# NewSessionTickets right after the handshake, which the kernel hands to
# mtlsd as control records.
openssl s_server -accept $P_OSSL -cert "$T/pki/server.crt" -key "$T/pki/server.key" \
	-CAfile "$T/pki/ca.crt" -Verify 2 -rev > "$T/ossl.log" 2>&1 &
PID_OF[ossl]=$!
wait_for 10 grep -q ACCEPT "$T/ossl.log"
reply=$(exec 3<> "/dev/tcp/127.0.0.1/$P_TO_OSSL"; printf 'stressed\n' >&3
	read -r -t 10 line <&3; echo "$line")
check "a kTLS client route talks to openssl s_server (-rev: $reply)" test "$reply" = "desserts"
check "... on the kTLS path" wait_log "$T/k.log" "route=to-openssl event=close .*path=ktls" 10
check "... with OpenSSL's NewSessionTickets dropped, not taken for data" \
	eval '! log_has "$T/k.log" "route=to-openssl event=close .*reason=tls_error"'

# 5. A KeyUpdate cannot be followed with the kernel's fixed keys: mtlsd
# closes the connection and logs why.
if [ -x "${MTLSD_KEYUPDATE:-}" ]; then
	out=$(timeout 20 "$MTLSD_KEYUPDATE" 127.0.0.1 $P_SRV "$T/pki/ca.crt" \
		"$T/pki/client.crt" "$T/pki/client.key" 2>&1)
	check "before the KeyUpdate, bytes flow over kTLS ($(tr '\n' ' ' <<< "$out"))" \
		grep -q echoed-before <<< "$out"
	check "after it, the connection is closed, not carried on with stale keys" \
		eval 'grep -q closed <<< "$out" && ! grep -q "got: after" <<< "$out"'
	check "... and the log says KeyUpdate is not supported on kTLS" \
		wait_log "$T/k.log" "route=in event=close .*reason=tls_error detail=\"KeyUpdate" 10
else
	skip "KeyUpdate test: OpenSSL's headers (libssl-dev) are missing"
fi

# 6. Re-authorization reaches kTLS connections too (their mbedTLS session is
# gone; the peer's certificate was kept).
exec 7> >($PEER hold --connect 127.0.0.1:$P_CLI > "$T/held.out")
wait_for 10 grep -q connected "$T/held.out"
hs() { test "$(count_log "$T/k.log" 'route=in event=handshake_ok')" -ge 3; }
wait_for 10 hs
sed -i 's|^allow_peers = .*|allow_peers = uri:spiffe://test/nobody|' "$T/k.ini"
kill -HUP "${PID_OF[k]}"
check "after a reload that drops its identity, the live kTLS connection is closed" \
	wait_log "$T/k.log" "route=in event=close .*id=spiffe://test/client .*path=ktls reason=reauth_denied" 10
exec 7>&-

# The end of a transparent route's tunnel: its PROXY v2 header is read in
# mbedTLS, then the kernel takes over.  Python's client sends the header
# and its first bytes in one record, so some of them are still inside
# mbedTLS at the switch: RX must wait until mbedTLS has handed them out.
reply=$(timeout 60 python3 "$TOP/tests/e2e/tunnel.py" client 127.0.0.1:$P_TUN \
	"$T/pki" client 127.0.0.1:$P_ECHO 2>&1)
check "a tunnel (header and data in one record) to a kTLS server route ($reply)" \
	test "$reply" = hello
check "... on the kTLS path" \
	wait_log "$T/k.log" "route=tunnel-in event=close .*target=127\.0\.0\.1:$P_ECHO .*path=ktls" 10

# A transparent route on kTLS, both ends: its tunnel header goes out
# through mbedTLS, then TX is the kernel's.  iptables (legacy: this kernel
# has no nftables NAT) redirects what 127.0.0.5 sends to 127.0.0.3:P_ECHO;
# mtlsd's own connections leave from 127.0.0.1 and are not redirected.
for m in net/ipv4/netfilter/nf_defrag_ipv4 net/ipv6/netfilter/nf_defrag_ipv6 \
    net/netfilter/nf_conntrack net/netfilter/nf_nat net/netfilter/x_tables \
    net/ipv4/netfilter/ip_tables net/ipv4/netfilter/iptable_nat net/netfilter/xt_tcpudp \
    net/netfilter/xt_REDIRECT; do
	/bin/busybox insmod "$mods/$m.ko" 2>/dev/null || note "insmod $m failed"
done
bg echo3 "$BUILD/mtlsd-bench" echo --listen 127.0.0.3:$P_ECHO
wait_log "$T/echo3.log" '^listening'
check "iptables redirects 127.0.0.5 -> 127.0.0.3:$P_ECHO to the transparent route" \
	iptables-legacy -t nat -A OUTPUT -p tcp -s 127.0.0.5 -d 127.0.0.3 --dport $P_ECHO \
	-j REDIRECT --to-ports $P_TOUT
out=$(timeout 120 $PEER roundtrip --connect 127.0.0.3:$P_ECHO --source 127.0.0.5 --bytes 4194304 2>&1)
check "4 MiB through a transparent route and back, intact ($out)" grep -q 'match=yes' <<< "$out"
check "... on kTLS at the sending end" \
	wait_log "$T/k.log" "route=mesh-out event=close .*target=127\.0\.0\.3:$P_ECHO .*path=ktls reason=eof" 10
check "... and at the receiving end" \
	wait_log "$T/k.log" "route=mesh-in event=close .*target=127\.0\.0\.3:$P_ECHO .*path=ktls reason=eof" 10

stop_mtlsd k
finish
