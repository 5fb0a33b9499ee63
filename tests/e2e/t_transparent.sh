#!/bin/bash
# Transparent routes between two network namespaces, node A and node B,
# joined by a veth pair.  On A, nftables redirects outbound TCP for B to A's
# transparent route; on B, a server route with connect = original ends the
# tunnel.  The apps dial each other's real addresses and ports, as gloo and
# NCCL do.  A sniffer on B's end of the wire shows that no plaintext
# crosses it.  Needs root (namespaces, nftables).
. "$(dirname "$0")/lib.sh"

if [ "$(id -u)" != 0 ] || ! command -v nft > /dev/null || ! command -v ip > /dev/null; then
	skip "transparent routes need root, ip and nft (scripts/install-deps.sh)"
	finish
fi
NSA=mtlsd-a-$$
NSB=mtlsd-b-$$
trap 'cleanup; ip netns del "$NSA" 2>/dev/null; ip netns del "$NSB" 2>/dev/null' EXIT
# Commands on a node.  nsenter execs the command itself, so bg's PID_OF
# holds mtlsd's own pid (a shell function would be a subshell's).
inA="nsenter --net=/run/netns/$NSA"
inB="nsenter --net=/run/netns/$NSB"
TUNNEL="python3 $TOP/tests/e2e/tunnel.py"

# The wire: A is 10.77.0.1 and fd77::1; B is 10.77.0.2 and fd77::2, and
# also 10.77.0.3, which B's certificate (made for 10.77.0.2 and fd77::2)
# does not name, though B's server route answers there too.  IPv6 tunnels
# use port 7444.
{
	ip netns add "$NSA" && ip netns add "$NSB" &&
	ip link add vA netns "$NSA" type veth peer name vB netns "$NSB" &&
	$inA ip addr add 10.77.0.1/24 dev vA && $inA ip link set vA up && $inA ip link set lo up &&
	$inB ip addr add 10.77.0.2/24 dev vB && $inB ip addr add 10.77.0.3/24 dev vB &&
	$inA ip addr add fd77::1/64 dev vA nodad && $inB ip addr add fd77::2/64 dev vB nodad &&
	$inB ip link set vB up && $inB ip link set lo up &&
	# Everything for B goes to the transparent route, except mtlsd's own
	# port.  10.77.0.9:7443 is a deliberately wrong rule: it redirects the
	# peers' port itself, which mtlsd must refuse rather than loop.
	$inA nft -f - <<-EOF
	table ip mtlsd_test {
		chain out {
			type nat hook output priority -100; policy accept;
			ip daddr { 10.77.0.2, 10.77.0.3 } tcp dport != 7443 redirect to :15001
			ip daddr 10.77.0.9 tcp dport 7443 redirect to :15001
		}
	}
	table ip6 mtlsd_test {
		chain out {
			type nat hook output priority -100; policy accept;
			ip6 daddr fd77::2 tcp dport != 7444 redirect to :15001
		}
	}
	EOF
	# On B, a rule without the local-address guard: B's own hand-off to
	# its app on 10.77.0.2:6001 goes into B's transparent route, which
	# must refuse it (redirect_loop) rather than tunnel to itself.
	$inB nft -f - <<-EOF
	table ip mtlsd_test {
		chain out {
			type nat hook output priority -100; policy accept;
			ip daddr 10.77.0.2 tcp dport 6001 redirect to :15002
		}
	}
	EOF
} > "$T/net.log" 2>&1 || { not_ok "network namespaces and nftables"; sed 's/^/#   /' "$T/net.log"; finish; }

{
	$MTLSD certs init-ca --dir "$T/pki" --name "mesh CA" &&
	$MTLSD certs issue --dir "$T/pki" --name nodea --san ip:10.77.0.1,uri:spiffe://mesh/node/a &&
	$MTLSD certs issue --dir "$T/pki" --name nodeb --san ip:10.77.0.2,ip:fd77::2,uri:spiffe://mesh/node/b &&
	$MTLSD certs issue --dir "$T/pki" --name outsider --san uri:spiffe://other/x
} > "$T/pki.log" 2>&1 || { not_ok "PKI"; finish; }

conf a <<EOF
[global]
workers = 1
cert = $T/pki/nodea.crt
key = $T/pki/nodea.key
ca = $T/pki/ca.crt
audit_log = $T/a-audit.jsonl

[mesh-out]
mode = transparent
listen = 127.0.0.1:15001
connect = original:7443
expect_peers = uri:spiffe://mesh/node/*

[mesh-out6]
mode = transparent
listen = [::1]:15001
connect = original:7444
EOF
conf b <<EOF
[global]
workers = 1
cert = $T/pki/nodeb.crt
key = $T/pki/nodeb.key
ca = $T/pki/ca.crt
audit_log = $T/b-audit.jsonl
admin_listen = 127.0.0.1:9901
handshake_timeout = 3s

[mesh-in]
mode = server
listen = 0.0.0.0:7443
connect = original
allow_ports = 5000, 6000-6001
allow_peers = uri:spiffe://mesh/node/*
send_proxy = v2

[mesh-in6]
mode = server
listen = [fd77::2]:7444
connect = original
allow_ports = 5000
allow_peers = uri:spiffe://mesh/node/*

[loop-out]
mode = transparent
listen = 127.0.0.1:15002
connect = original:7443
EOF

bg sniff $inB $TUNNEL sniff vB "$T/wire.bin"
wait_log "$T/sniff.log" '^ready' || { not_ok "sniffer starts"; finish; }
bg app $inB python3 "$TOP/tests/e2e/pp2.py" backend 5000 10.77.0.2
wait_log "$T/app.log" '^ready' || { not_ok "app on B starts"; finish; }
bg other $inB $PEER echo --listen 10.77.0.2:5001
wait_log "$T/other.log" '^ready'
bg app6 $inB $PEER echo --listen "[fd77::2]:5000"
wait_log "$T/app6.log" '^ready'
bg a $inA "$MTLSD" run -c "$T/a.ini"
bg b $inB "$MTLSD" run -c "$T/b.ini"
wait_log "$T/a.log" 'event=started' && wait_log "$T/b.log" 'event=started' ||
	{ not_ok "mtlsd starts on both nodes"; sed 's/^/#   /' "$T/a.log" "$T/b.log"; finish; }

# An app on A dials B's app; it never knows mtlsd is there.
MARK=secret-$RANDOM-$RANDOM-payload
reply=$($inA $PEER halfclose --connect 10.77.0.2:5000 --send "$MARK")
check "an app on A reaches B's app at its own address and port ($reply)" test "$reply" = "$MARK"
check "B's app learns the sender app's address and node A's verified identity" \
	log_has "$T/app.log" '^header src=10\.77\.0\.1:[0-9]+ dst=10\.77\.0\.2:5000 peer_id=spiffe://mesh/node/a '
check "A's close line names the destination and B's identity" \
	log_has "$T/a.log" 'route=mesh-out event=close .*target=10\.77\.0\.2:5000 id=spiffe://mesh/node/b .*reason=eof'
check "B's close line names the destination and A's identity" \
	log_has "$T/b.log" 'route=mesh-in event=close .*target=10\.77\.0\.2:5000 id=spiffe://mesh/node/a .*reason=eof'
# The audit lines reach their files within a second (each worker flushes).
check "both audit trails record the tunnel's destination" eval \
	'wait_for 5 log_has "$T/a-audit.jsonl" "\"event\":\"close\".*\"target\":\"10\.77\.0\.2:5000\"" &&
	 wait_for 5 log_has "$T/b-audit.jsonl" "\"event\":\"close\".*\"peer_id\":\"spiffe://mesh/node/a\".*\"target\":\"10\.77\.0\.2:5000\""'
check "2 MiB go through the tunnel and back intact" \
	$inA $PEER roundtrip --connect 10.77.0.2:5000 --bytes 2097152
check "... on a resumed session: A kept B's ticket from the first tunnel" \
	log_has "$T/a.log" 'route=mesh-out event=close .*target=10\.77\.0\.2:5000 id=spiffe://mesh/node/b .* resumed=yes .*reason=eof'
check "... and B saw node A's identity on it too" \
	log_has "$T/b.log" 'route=mesh-in event=close .*id=spiffe://mesh/node/a .* resumed=yes .*reason=eof' 

# The same over IPv6: ip6 nat, IPv6's SO_ORIGINAL_DST, an INET6 header.
MARK6=six-$RANDOM-$RANDOM-payload
reply=$($inA $PEER halfclose --connect "[fd77::2]:5000" --send "$MARK6")
check "over IPv6 too ($reply)" test "$reply" = "$MARK6"
check "... with a full handshake: tickets are kept per peer address" \
	log_has "$T/a.log" 'route=mesh-out6 event=close .*target=\[fd77::2\]:5000 .*cipher=[^ ]+ bytes_in'
check "... both sides name [fd77::2]:5000 as the target" eval \
	'log_has "$T/a.log" "route=mesh-out6 event=close .*target=\[fd77::2\]:5000 id=spiffe://mesh/node/b .*reason=eof" &&
	 log_has "$T/b.log" "route=mesh-in6 event=close .*target=\[fd77::2\]:5000 id=spiffe://mesh/node/a .*reason=eof"'

# A loop: B's hand-off to its app is redirected back into B's own
# transparent route ([loop-out]), which refuses it instead of tunneling
# to itself without end.
bg loop_app $inB $PEER echo --listen 10.77.0.2:6001
wait_log "$T/loop_app.log" '^ready'
$inA $PEER halfclose --connect 10.77.0.2:6001 --send "loop" > /dev/null 2>&1
check "B refuses its own hand-off redirected back to it (redirect_loop)" \
	wait_log "$T/b.log" "route=loop-out event=close .*target=10\.77\.0\.2:6001 .*reason=redirect_loop detail=.*own hand-off"
check "... and tunnels nothing to itself: one tunnel to :6001, not a loop" \
	test "$(count_log "$T/b.log" "route=mesh-in event=close .*target=10\.77\.0\.2:6001")" -eq 1

# Start order: the app on B listens only after A's app dialed it.  Plain
# TCP would have been refused and retried by the app; through mtlsd, B's
# route retries the refused connect within connect_timeout instead.
metric_b() { $inB curl -s http://127.0.0.1:9901/metrics | awk -v m="$1" '$1 ~ "^"m"[{]" { s += $2 } END { print s + 0 }'; }
retries0=$(metric_b mtlsd_upstream_retries_total)
LATE=late-$RANDOM-start
$inA $PEER halfclose --connect 10.77.0.2:6000 --send "$LATE" > "$T/late.out" 2>&1 &
late_pid=$!
retried() { test "$(metric_b mtlsd_upstream_retries_total)" -gt "$retries0"; }
check "B retries a refused connect to an app that does not listen yet" wait_for 10 retried
bg late_app $inB $PEER echo --listen 10.77.0.2:6000
wait "$late_pid"
check "... and once it listens, the tunnel reaches it (the echo, behind its PROXY header)" \
	grep -aq "$LATE" "$T/late.out"
check "... and both ends close cleanly" \
	wait_log "$T/b.log" "route=mesh-in event=close .*target=10\.77\.0\.2:6000 .*reason=eof"

# The wire.  A control: the same kind of marker sent in cleartext to B's
# mtlsd port (not redirected) shows the sniffer would see it.
CONTROL=control-$RANDOM-$RANDOM-cleartext
$inA $PEER halfclose --connect 10.77.0.2:7443 --send "$CONTROL" > /dev/null 2>&1
wait_for 5 grep -aq "$CONTROL" "$T/wire.bin"
check "the sniffer on B's end of the wire sees cleartext (the control)" grep -aq "$CONTROL" "$T/wire.bin"
check "... and saw the 2 MiB cross ($(stat -c %s "$T/wire.bin") bytes captured)" \
	test "$(stat -c %s "$T/wire.bin")" -gt 2097152
check "... but never the app's bytes: they crossed encrypted" \
	bash -c "! grep -aqE '$MARK|$MARK6' '$T/wire.bin'"

# Least privilege on B: a port with an app listening, not in allow_ports.
# (Only data counts as an answer: peer.py's notes on a reset do not.)
no_data() { test -z "$(grep -v '^halfclose: ' <<< "$1")"; }
reply=$($inA $PEER halfclose --connect 10.77.0.2:5001 --send hi 2>&1)
check "a port outside allow_ports is refused though an app listens there (got '$reply')" \
	no_data "$reply"
check "... B says why" log_has "$T/b.log" 'event=close .*target=10\.77\.0\.2:5001 .*reason=port_denied detail="port 5001 is not in allow_ports"'
wait_for 5 log_has "$T/b-audit.jsonl" '"event":"denied".*"target":"10\.77\.0\.2:5001".*"reason":"port_denied"'
check "... and audits it as denied" \
	log_has "$T/b-audit.jsonl" '"event":"denied".*"target":"10\.77\.0\.2:5001".*"reason":"port_denied"'
check "... and B's app on 5001 never saw a connection" bash -c "! grep -q accepted '$T/other.log'"

# A's side: the peer must prove it is the address the app dialed.  B
# answers at 10.77.0.3 too, with the same route and so the same ticket key.
# Tickets are kept per address, so A offers none there: a full handshake,
# and the name check refuses.  (Offered the ticket it holds for 10.77.0.2,
# mbedTLS would refuse it under another name and fail the connection as a
# protocol error: one ticket per route would break every second peer.)
reply=$($inA $PEER halfclose --connect 10.77.0.3:5000 --send hi 2>&1)
check "a peer whose certificate lacks the dialed address is refused (got '$reply')" \
	no_data "$reply"
check "... A logs the failed name check: no ticket of another address was offered" \
	log_has "$T/a.log" 'event=close .*target=10\.77\.0\.3:5000 .*reason=name_mismatch'
check "... so B never forwarded a tunnel for 10.77.0.3" \
	bash -c "! grep -q 'target=10\.77\.0\.3' '$T/b.log'"

# Connections that were not redirected, or would loop.
$inA $PEER halfclose --connect 127.0.0.1:15001 --send hi > /dev/null 2>&1
check "a connection straight to the transparent listener is refused" \
	log_has "$T/a.log" 'event=close .*reason=not_redirected'
$inA $PEER halfclose --connect 10.77.0.9:7443 --send hi > /dev/null 2>&1
check "a redirect of the peers' own port is refused, not looped" \
	log_has "$T/a.log" 'event=close .*target=10\.77\.0\.9:7443 .*reason=redirect_loop'

# B's side against an independent tunnel client (Python's ssl, and the
# PROXY v2 header built by pp2.py).
reply=$($inA $TUNNEL client 10.77.0.2:7443 "$T/pki" nodea 10.77.0.2:5000)
check "an independent client's tunnel (header and data in one record) works ($reply)" \
	test "$reply" = hello
reply=$($inA $TUNNEL client 10.77.0.2:7443 "$T/pki" nodea 10.77.0.5:5000)
check "a tunnel to another host is refused ($reply)" test "$reply" = closed
check "... as tunnel_target" log_has "$T/b.log" 'event=close .*target=10\.77\.0\.5:5000 .*reason=tunnel_target'
reply=$($inA $TUNNEL client 10.77.0.2:7443 "$T/pki" nodea none)
check "a connection without a tunnel header is refused ($reply)" test "$reply" = closed
check "... as tunnel_header" log_has "$T/b.log" 'route=mesh-in event=close .*reason=tunnel_header'
reply=$($inA $TUNNEL client 10.77.0.2:7443 "$T/pki" outsider 10.77.0.2:5000 2>&1)
check "a certificate outside allow_peers opens no tunnel ($reply)" test "$reply" = closed
check "... B names it" log_has "$T/b.log" 'route=mesh-in event=close .*id=spiffe://other/x .*reason=denied detail="identity'

# port_denied, tunnel_target and tunnel_header: three tunnels refused.
m=$($inB curl -s http://127.0.0.1:9901/metrics)
check "B's metrics count the refused tunnels" \
	grep -q 'mtlsd_connections_refused_total{route="mesh-in",reason="tunnel"} 3' <<< "$m"

check "examples/transparent-node.nft is valid nftables" \
	nft -c -f "$TOP/examples/transparent-node.nft"

stop_mtlsd a
stop_mtlsd b
finish
