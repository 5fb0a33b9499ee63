#!/bin/bash
# Least privilege: identity allow-lists of each kind (uri, dns, cn, ip) on
# server routes, expect_peers on client routes, source-address ACLs, and key
# protection (permissions, owner, encrypted keys).
. "$(dirname "$0")/lib.sh"

make_pki || { not_ok "PKI"; finish; }
M="$MTLSD certs"
{
	$M issue --dir "$T/pki" --name w1 --san uri:spiffe://train.example/ns/a/sa/worker
	$M issue --dir "$T/pki" --name w2 --san uri:spiffe://train.example/ns/a/b/sa/worker
	$M issue --dir "$T/pki" --name d1 --san dns:node7.train.internal
	$M issue --dir "$T/pki" --name d2 --san dns:node7.evil.internal
	$M issue --dir "$T/pki" --name node_7
	$M issue --dir "$T/pki" --name node_8
	$M issue --dir "$T/pki" --name i1 --san ip:10.1.2.3
	$M issue --dir "$T/pki" --name i2 --san ip:192.168.1.1
} > "$T/pki2.log" 2>&1 || { not_ok "extra certificates"; cat "$T/pki2.log"; finish; }

read -r P_REPLY P_URI P_DNS P_CN P_IP P_DENY P_ALLOW P_V6 P_CLI_EXP P_CLI_ANY P_ENC <<< "$(free_ports 11)"
route() { # NAME PORT EXTRA...
	printf '[%s]\nmode = server\nlisten = 127.0.0.1:%s\nconnect = 127.0.0.1:%s\n' "$1" "$2" "$P_REPLY"
	shift 2
	printf '%s\n' "$@"
	echo
}
{
	printf '[global]\nworkers = 1\ncert = %s\nkey = %s\nca = %s\n\n' \
		"$T/pki/server.crt" "$T/pki/server.key" "$T/pki/ca.crt"
	route uri $P_URI "allow_peers = uri:spiffe://train.example/ns/*/sa/worker"
	route dns $P_DNS "allow_peers = dns:*.train.internal"
	route cn $P_CN "allow_peers = cn:node_7"
	route ip $P_IP "allow_peers = ip:10.0.0.0/8"
	route deny $P_DENY "deny_cidr = 127.0.0.0/8"
	route allow $P_ALLOW "allow_cidr = 10.0.0.0/8, 192.168.0.0/16"
	printf '[v6]\nmode = server\nlisten = [::1]:%s\nconnect = 127.0.0.1:%s\nallow_cidr = ::1/128\ndeny_cidr = 127.0.0.0/8\n\n' $P_V6 $P_REPLY
	printf '[expect]\nmode = client\nlisten = 127.0.0.1:%s\nconnect = 127.0.0.1:%s\nserver_name = localhost\ncert = %s\nkey = %s\nexpect_peers = uri:spiffe://test/not-the-server\n\n' \
		$P_CLI_EXP $P_URI "$T/pki/w1.crt" "$T/pki/w1.key"
	printf '[any]\nmode = client\nlisten = 127.0.0.1:%s\nconnect = 127.0.0.1:%s\nserver_name = localhost\ncert = %s\nkey = %s\nexpect_peers = uri:spiffe://test/server\n\n' \
		$P_CLI_ANY $P_URI "$T/pki/w1.crt" "$T/pki/w1.key"
} > "$T/pol.ini"

bg_peer reply reply --listen 127.0.0.1:$P_REPLY
start_mtlsd pol "$T/pol.ini" || { not_ok "mtlsd starts"; finish; }

# as NAME PORT [HOST]: does a ping from certificate NAME get an answer?
as() {
	printf 'ping\n' | timeout 10 openssl s_client -connect "${3:-127.0.0.1}:$2" \
		-servername localhost -CAfile "$T/pki/ca.crt" -cert "$T/pki/$1.crt" \
		-key "$T/pki/$1.key" -ign_eof 2>/dev/null | grep -q '^got:ping'
}
denied() { # NAME PORT ROUTE ID
	local name=$1 port=$2
	check "allow_peers on [$3] refuses $4" eval '! as $name $port'
	check "... and logs reason=denied with the identity it presented" \
		wait_log "$T/pol.log" "route=$3 event=close .*id=$4 .*reason=denied" 5
}

check "uri:.../ns/*/sa/worker admits spiffe://train.example/ns/a/sa/worker" as w1 $P_URI
denied w2 $P_URI uri "spiffe://train.example/ns/a/b/sa/worker"
note "('*' is one path segment: ns/a/b does not match ns/*)"
check "dns:*.train.internal admits node7.train.internal" as d1 $P_DNS
denied d2 $P_DNS dns node7.evil.internal
check "cn:node_7 admits CN=node_7" as node_7 $P_CN
denied node_8 $P_CN cn node_8
check "ip:10.0.0.0/8 admits an IP SAN of 10.1.2.3" as i1 $P_IP
denied i2 $P_IP ip i2
note "(a certificate with only an IP SAN is known in logs by its CN)"
denied client $P_URI uri spiffe://test/client

# Client routes: expect_peers on top of the name check.
reply=$(timeout 10 $PEER halfclose --connect 127.0.0.1:$P_CLI_EXP --send "ping
")
check "expect_peers: a server outside the list gets no data" test -z "$reply"
check "... and the client route logs reason=denied with the server's identity" \
	wait_log "$T/pol.log" "route=expect event=close .*id=spiffe://test/server .*reason=denied" 5
reply=$(timeout 10 $PEER halfclose --connect 127.0.0.1:$P_CLI_ANY --send "ping
")
check "expect_peers: the listed server is accepted ($reply)" test "$reply" = "got:ping"

# Source address ACLs: refused at accept, before any TLS work.
tls_started() { count_log "$T/pol.log" "route=$1 event=(handshake_ok|close)"; }
before=$(tls_started deny)
check "deny_cidr = 127.0.0.0/8 refuses a peer from 127.0.0.1" eval '! as client $P_DENY'
check "... logged as event=refused reason=source_address" \
	wait_log "$T/pol.log" "route=deny event=refused .*reason=source_address" 5
check "... with no TLS work done for it" test "$(tls_started deny)" = "$before"
check "allow_cidr = 10.0.0.0/8, 192.168.0.0/16 refuses 127.0.0.1" eval '! as client $P_ALLOW'
check "... logged as event=refused reason=source_address" \
	wait_log "$T/pol.log" "route=allow event=refused .*reason=source_address" 5
if python3 -c "import socket; s=socket.socket(socket.AF_INET6); s.bind(('::1', 0))" 2>/dev/null; then
	check "IPv6: allow_cidr = ::1/128 admits ::1 (deny 127/8 does not apply)" as client $P_V6 "[::1]"
else
	skip "no IPv6 loopback here"
fi

stop_mtlsd pol

# Key protection.
read -r P1 P2 <<< "$(free_ports 2)"
keyconf() { # NAME KEYFILE [EXTRA]
	printf '[global]\ncert = %s\nkey = %s\nca = %s\n%s\n[in]\nmode = server\nlisten = 127.0.0.1:%s\nconnect = 127.0.0.1:%s\n' \
		"$T/pki/server.crt" "$2" "$T/pki/ca.crt" "${3:-}" "$P1" "$P2" > "$T/$1.ini"
}
cp "$T/pki/server.key" "$T/group.key"; chmod 640 "$T/group.key"
keyconf group "$T/group.key"
out=$("$MTLSD" check -c "$T/group.ini" 2>&1)
check "a key readable by its group is refused, with the chmod to run ($out)" \
	grep -q "group.ini:3: key: .*mode 0640.*run 'chmod 600 $T/group.key'" <<< "$out"
keyconf groupok "$T/group.key" "insecure_key_permissions = yes"
check "insecure_key_permissions = yes overrides it" "$MTLSD" check -c "$T/groupok.ini"
cp "$T/pki/server.key" "$T/other.key"; chmod 600 "$T/other.key"
if [ "$(id -u)" = 0 ] && chown nobody "$T/other.key" 2>/dev/null; then
	keyconf other "$T/other.key"
	out=$("$MTLSD" check -c "$T/other.ini" 2>&1)
	check "a key owned by another user is refused, with the chown to run ($out)" \
		grep -q "key: .*owned by uid [0-9]*.*run 'chown 0 $T/other.key'" <<< "$out"
else
	skip "owner check needs root to chown a file to another user"
fi

# An encrypted key (PKCS#8, AES-256) with key_password_file.
printf 's3cret pass\n' > "$T/pw.txt"; chmod 600 "$T/pw.txt"
openssl pkcs8 -topk8 -v2 aes-256-cbc -in "$T/pki/server.key" -out "$T/enc.key" \
	-passout file:"$T/pw.txt" 2>/dev/null; chmod 600 "$T/enc.key"
check "openssl wrote an encrypted key" grep -q 'BEGIN ENCRYPTED PRIVATE KEY' "$T/enc.key"
keyconf enc "$T/enc.key" "key_password_file = $T/pw.txt"
sed -i "s/^listen = .*/listen = 127.0.0.1:$P_ENC/; s/^connect = .*/connect = 127.0.0.1:$P_REPLY/" "$T/enc.ini"
start_mtlsd enc "$T/enc.ini"
check "an encrypted key loads with key_password_file and serves" as client $P_ENC
stop_mtlsd enc
keyconf nopw "$T/enc.key"
out=$("$MTLSD" check -c "$T/nopw.ini" 2>&1)
check "an encrypted key without key_password_file is refused, saying so ($out)" \
	grep -q "key: .*encrypted; set key_password_file" <<< "$out"
printf 'wrong\n' > "$T/bad.txt"; chmod 600 "$T/bad.txt"
keyconf badpw "$T/enc.key" "key_password_file = $T/bad.txt"
out=$("$MTLSD" check -c "$T/badpw.ini" 2>&1)
check "a wrong password is refused at the key_password_file line ($out)" \
	grep -q "badpw.ini:5: key_password_file: .*wrong password" <<< "$out"
finish
