#!/bin/bash
# Every refusal the README promises, each shown with a real peer: no byte
# reaches the backend, the peer gets nothing back, the log says why.
. "$(dirname "$0")/lib.sh"

make_pki || { not_ok "PKI"; finish; }
read -r P_REPLY P_SRV P_STRICT P_CLI_BAD P_CLI_FOREIGN P_FOREIGN_SRV <<< "$(free_ports 6)"

conf srv <<EOF
[global]
workers = 1
ca = $T/pki/ca.crt
handshake_timeout = 5s

[in]
mode = server
listen = 127.0.0.1:$P_SRV
connect = 127.0.0.1:$P_REPLY
cert = $T/pki/server.crt
key = $T/pki/server.key

[strict]
mode = server
listen = 127.0.0.1:$P_STRICT
connect = 127.0.0.1:$P_REPLY
cert = $T/pki/server.crt
key = $T/pki/server.key
allow_peers = uri:spiffe://test/someone-else

[foreign-server]
; a server whose certificate comes from another CA
mode = server
listen = 127.0.0.1:$P_FOREIGN_SRV
connect = 127.0.0.1:$P_REPLY
cert = $T/foreign/client.crt
key = $T/foreign/client.key

[wrong-name]
mode = client
listen = 127.0.0.1:$P_CLI_BAD
connect = 127.0.0.1:$P_SRV
server_name = wrong.example
cert = $T/pki/client.crt
key = $T/pki/client.key

[to-foreign]
mode = client
listen = 127.0.0.1:$P_CLI_FOREIGN
connect = 127.0.0.1:$P_FOREIGN_SRV
server_name = localhost
cert = $T/pki/client.crt
key = $T/pki/client.key
EOF

bg_peer reply reply --listen 127.0.0.1:$P_REPLY
start_mtlsd srv "$T/srv.ini" || { not_ok "mtlsd starts"; finish; }

# s_client PORT ARGS...: sends "ping", prints everything s_client said.
s_client() {
	local port=$1; shift
	printf 'ping\n' | timeout 20 openssl s_client -connect 127.0.0.1:$port \
		-servername localhost -CAfile "$T/pki/ca.crt" -ign_eof "$@" 2>&1
}

# refused DESC REASON PORT S_CLIENT_ARGS...: the peer gets no answer, the
# backend sees no connection, mtlsd logs reason=REASON.
refused() {
	local desc=$1 reason=$2 port=$3; shift 3
	local before after out
	before=$(count_log "$T/reply.log" '^accepted')
	out=$(s_client "$port" "$@")
	after=$(count_log "$T/reply.log" '^accepted')
	if grep -q '^got:' <<< "$out"; then
		not_ok "$desc: data got through"; return
	fi
	check "$desc: the backend never sees a connection" test "$before" = "$after"
	check "$desc: mtlsd logs reason=$reason" wait_log "$T/srv.log" "event=close .*reason=$reason" 5
}

refused "no client certificate" no_cert $P_SRV
refused "a certificate from a foreign CA" unknown_ca $P_SRV \
	-cert "$T/foreign/client.crt" -key "$T/foreign/client.key"
refused "an expired certificate" expired $P_SRV \
	-cert "$T/pki/expired.crt" -key "$T/pki/expired.key"
refused "a valid certificate whose identity is not in allow_peers" denied $P_STRICT \
	-cert "$T/pki/client.crt" -key "$T/pki/client.key"
check "the denied peer's identity is in the log" \
	log_has "$T/srv.log" "route=strict event=close .*id=spiffe://test/client .*reason=denied"
refused "a TLS 1.2 client when tls_min_version is 1.3" protocol $P_SRV \
	-tls1_2 -cert "$T/pki/client.crt" -key "$T/pki/client.key"

# The control: the same route lets a good certificate through.
out=$(s_client $P_SRV -cert "$T/pki/client.crt" -key "$T/pki/client.key")
check "a good certificate gets through the same route" grep -q '^got:ping' <<< "$out"

# Client routes refuse servers: a name that does not match server_name, and
# a certificate from another CA.  The local app gets EOF and no data.
before=$(count_log "$T/reply.log" '^accepted')
reply=$($PEER halfclose --connect 127.0.0.1:$P_CLI_BAD --send "ping
")
check "client route: a server whose name does not match server_name gets no data" \
	test -z "$reply"
check "client route: mtlsd logs reason=name_mismatch" \
	wait_log "$T/srv.log" "route=wrong-name event=close .*reason=name_mismatch" 5
check "... its detail names the name expected and the certificate's names (read as logfmt)" \
	eval 'python3 "$TOP/tests/e2e/logfmt.py" --match "route=wrong-name event=close" "$T/srv.log" |
	    grep -qF "\"detail\": \"server_name wrong.example is not among the certificate'"'"'s names (dns:localhost, ip:127.0.0.1, uri:spiffe://test/server)\""'
reply=$($PEER halfclose --connect 127.0.0.1:$P_CLI_FOREIGN --send "ping
")
check "client route: a server with a foreign CA's certificate gets no data" test -z "$reply"
check "client route: mtlsd logs reason=unknown_ca" \
	wait_log "$T/srv.log" "route=to-foreign event=close .*reason=unknown_ca" 5
after=$(count_log "$T/reply.log" '^accepted')
# The server side of those two handshakes saw no valid client either way:
# the backend was never reached.
check "no refused handshake reached a backend" test "$before" = "$after"

stop_mtlsd srv
finish
