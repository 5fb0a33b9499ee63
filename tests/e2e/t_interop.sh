#!/bin/bash
# Independent TLS peers against mtlsd: OpenSSL's s_client and curl on a
# server route; Python's ssl module as the server behind a client route.
. "$(dirname "$0")/lib.sh"

make_pki || { not_ok "PKI"; finish; }
read -r P_REPLY P_SRV P_HTTP P_WEB P_PYTLS P_CLI P_OSSL P_CLI2 <<< "$(free_ports 8)"
mkdir -p "$T/www"
head -c 300000 /dev/urandom > "$T/www/blob.bin"
echo "mtlsd health page" > "$T/www/health.txt"

conf srv <<EOF
[global]
workers = 1
cert = $T/pki/server.crt
key = $T/pki/server.key
ca = $T/pki/ca.crt

[reply]
mode = server
listen = 127.0.0.1:$P_SRV
connect = 127.0.0.1:$P_REPLY

[web]
mode = server
listen = 127.0.0.1:$P_WEB
connect = 127.0.0.1:$P_HTTP

[to-python]
mode = client
listen = 127.0.0.1:$P_CLI
connect = 127.0.0.1:$P_PYTLS
server_name = localhost
cert = $T/pki/client.crt
key = $T/pki/client.key

[to-openssl]
mode = client
listen = 127.0.0.1:$P_CLI2
connect = 127.0.0.1:$P_OSSL
server_name = localhost
cert = $T/pki/client.crt
key = $T/pki/client.key
EOF

bg_peer reply reply --listen 127.0.0.1:$P_REPLY
bg http python3 -m http.server --bind 127.0.0.1 --directory "$T/www" "$P_HTTP"
wait_for 10 python3 -c "import socket; socket.create_connection(('127.0.0.1', $P_HTTP)).close()"
start_mtlsd srv "$T/srv.ini" || { not_ok "mtlsd starts"; finish; }

# OpenSSL s_client with a good client certificate.
printf 'ping\n' | timeout 20 openssl s_client -connect 127.0.0.1:$P_SRV \
	-servername localhost -CAfile "$T/pki/ca.crt" -verify_return_error \
	-cert "$T/pki/client.crt" -key "$T/pki/client.key" -ign_eof > "$T/sc.out" 2>&1
check "openssl s_client negotiates TLS 1.3 with mtlsd" grep -qE '^New, TLSv1.3, Cipher is TLS_' "$T/sc.out"
check "openssl s_client verifies mtlsd's certificate" grep -q 'Verify return code: 0 (ok)' "$T/sc.out"
check "openssl s_client's bytes reach the backend and the answer comes back" grep -q '^got:ping' "$T/sc.out"

# curl with a client certificate, python's http.server behind the route.
body=$(timeout 20 curl -sS --cacert "$T/pki/ca.crt" --cert "$T/pki/client.crt" \
	--key "$T/pki/client.key" "https://localhost:$P_WEB/health.txt" 2>&1)
check "curl with a client certificate fetches a page through mtlsd ($body)" \
	test "$body" = "mtlsd health page"
timeout 20 curl -sS --cacert "$T/pki/ca.crt" --cert "$T/pki/client.crt" \
	--key "$T/pki/client.key" -o "$T/blob.got" "https://localhost:$P_WEB/blob.bin"
check "curl downloads a 300 KB file intact" cmp -s "$T/www/blob.bin" "$T/blob.got"
ver=$(timeout 20 curl -sS -o /dev/null -w '%{ssl_verify_result}' --cacert "$T/pki/ca.crt" \
	--cert "$T/pki/client.crt" --key "$T/pki/client.key" --tlsv1.3 \
	"https://localhost:$P_WEB/health.txt")
check "curl insisting on TLS 1.3 succeeds and verifies (result $ver)" test "$ver" = 0

# Python's ssl as the server behind a client route: mtlsd must present the
# client certificate and verify Python's.
cat > "$T/pytls.py" <<EOF
import socket, ssl
ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile="$T/pki/ca.crt")
ctx.load_cert_chain("$T/pki/server.crt", "$T/pki/server.key")
ctx.verify_mode = ssl.CERT_REQUIRED
ctx.minimum_version = ssl.TLSVersion.TLSv1_3
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", $P_PYTLS)); s.listen(5); print("ready", flush=True)
while True:
    c, _ = s.accept()
    try:
        t = ctx.wrap_socket(c, server_side=True)
        uri = [v for k, v in t.getpeercert().get("subjectAltName", ()) if k == "URI"]
        line = t.recv(100)
        t.sendall(b"python saw " + uri[0].encode() + b" say " + line)
        t.unwrap()
        t.close()
    except Exception as e:
        print("error", e, flush=True)
EOF
bg pytls python3 "$T/pytls.py"
wait_log "$T/pytls.log" '^ready'
reply=$($PEER halfclose --connect 127.0.0.1:$P_CLI --send "hi")
check "Python's ssl server sees mtlsd's client identity over TLS 1.3 ($reply)" \
	test "$reply" = "python saw spiffe://test/client say hi"

# Key exchange.  mtlsd prefers P-256 (cheaper in mbedTLS than X25519) but
# must still take an OpenSSL client's X25519 share without a retry, and must
# answer a server that wants only X25519 (a HelloRetryRequest).
printf 'ping\n' | timeout 20 openssl s_client -connect 127.0.0.1:$P_SRV \
	-servername localhost -CAfile "$T/pki/ca.crt" -verify_return_error \
	-cert "$T/pki/client.crt" -key "$T/pki/client.key" -ign_eof -msg > "$T/sc-x.out" 2>&1
check "mtlsd's server takes the X25519 share OpenSSL offers first" \
	grep -q 'Server Temp Key: X25519' "$T/sc-x.out"
check "... in one ClientHello, without a HelloRetryRequest" \
	test "$(grep -c 'ClientHello' "$T/sc-x.out")" = 1
# s_server_once GROUPS: one mTLS connection to openssl s_server from the
# to-openssl client route; its protocol trace goes to $T/ss-GROUPS.trace.
s_server_once() {
	bg "ss-$1" timeout 20 openssl s_server -accept "$P_OSSL" -naccept 1 \
		-cert "$T/pki/server.crt" -key "$T/pki/server.key" -CAfile "$T/pki/ca.crt" \
		-Verify 1 -verify_return_error -groups "$1" -rev -trace -msgfile "$T/ss-$1.trace"
	wait_log "$T/ss-$1.log" "^ACCEPT"
	$PEER halfclose --connect 127.0.0.1:$P_CLI2 --send "olleh"
}
reply=$(s_server_once P-256:X25519)
check "mtlsd's client reaches openssl s_server ($reply)" test "$reply" = hello
check "mtlsd's client offers a P-256 share first" \
	grep -q 'NamedGroup: secp256r1' "$T/ss-P-256:X25519.trace"
check "... and OpenSSL takes it in one ClientHello" \
	test "$(grep -c 'ClientHello' "$T/ss-P-256:X25519.trace")" = 1
reply=$(s_server_once X25519)
check "mtlsd's client completes with a server that wants only X25519 ($reply)" \
	test "$reply" = hello
check "... after the server's HelloRetryRequest (two ClientHellos)" \
	test "$(grep -c 'ClientHello' "$T/ss-X25519.trace")" = 2

stop_mtlsd srv
finish
