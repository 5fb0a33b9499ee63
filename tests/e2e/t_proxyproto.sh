#!/bin/bash
# PROXY protocol v2, both ways, checked by an independent parser and builder
# (Python, written from the spec): send_proxy = v2 gives the backend the
# client's address and verified identity; accept_proxy = yes takes the
# address from a load balancer's header and refuses malformed or missing ones.
. "$(dirname "$0")/lib.sh"

make_pki || { not_ok "PKI"; finish; }
read -r P_BACK P_SEND P_ACCEPT P_BOTH <<< "$(free_ports 4)"

conf pp <<EOF
[global]
workers = 1
cert = $T/pki/server.crt
key = $T/pki/server.key
ca = $T/pki/ca.crt
handshake_timeout = 3s

[send]
mode = server
listen = 127.0.0.1:$P_SEND
connect = 127.0.0.1:$P_BACK
send_proxy = v2

[accept]
mode = server
listen = 127.0.0.1:$P_ACCEPT
connect = 127.0.0.1:$P_BACK
accept_proxy = yes
send_proxy = v2
EOF

bg backend python3 "$TOP/tests/e2e/pp2.py" backend $P_BACK
wait_log "$T/backend.log" '^ready'
start_mtlsd pp "$T/pp.ini" || { not_ok "mtlsd starts"; finish; }
lb() { timeout 20 python3 "$TOP/tests/e2e/pp2.py" "$1" "$2" "$T/pki"; }
headers() { count_log "$T/backend.log" '^header'; }

# send_proxy = v2: the backend learns who connected, and who they proved to be.
out=$(lb none $P_SEND)
check "send_proxy: the echo comes back through the route ($out)" test "$out" = "reply=hello"
line=$(grep '^header' "$T/backend.log" | tail -1)
check "send_proxy: the backend's header has the client's address ($line)" \
	grep -q 'src=127.0.0.1:[0-9]* dst=127.0.0.1:'$P_SEND <<< "$line"
check "send_proxy: ... the verified identity in TLV 0xE0" grep -q 'peer_id=spiffe://test/client ' <<< "$line"
check "send_proxy: ... an SSL TLV saying SSL + cert verified (client=7, verify=0)" \
	grep -q 'client=7 verify=0 version=TLSv1.3' <<< "$line"

# accept_proxy = yes: the address a load balancer reports is the peer's.
out=$(lb proxy $P_ACCEPT)
check "accept_proxy: a connection with a v2 header is served ($out)" test "$out" = "reply=hello"
check "accept_proxy: the log names the client from the header, via the balancer" \
	wait_log "$T/pp.log" "route=accept event=close peer=203.0.113.7:4242 via=127.0.0.1:[0-9]+ "
line=$(grep '^header' "$T/backend.log" | tail -1)
check "accept_proxy + send_proxy: the backend sees the original client ($line)" \
	grep -q 'src=203.0.113.7:4242 dst=10.0.0.5:443' <<< "$line"
out=$(lb local $P_ACCEPT)
check "accept_proxy: a LOCAL header (load balancer health check) is accepted ($out)" \
	test "$out" = "reply=hello"

# Malformed or missing headers: closed with a logged reason, nothing reaches
# the backend.
for kind in none v1 badver short garbage; do
	before=$(headers)
	out=$(lb $kind $P_ACCEPT)
	check "accept_proxy refuses a connection with header '$kind' ($out)" \
		eval 'test "$out" != "reply=hello" && test "$(headers)" = "$before"'
done
check "each refusal is logged with reason=proxy_header and why" \
	eval 'test "$(count_log "$T/pp.log" "route=accept event=close .*reason=proxy_header detail=")" -ge 4'
check "PROXY v1 is refused with a message that says so" \
	wait_log "$T/pp.log" 'reason=proxy_header detail="PROXY v1 is not accepted'

stop_mtlsd pp
finish
