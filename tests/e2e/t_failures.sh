#!/bin/bash
# What goes wrong around mtlsd closes only the connection it concerns:
# refused and dying backends, silent, idle and garbage-sending peers, too
# many connections.  After each, mtlsd still serves.
. "$(dirname "$0")/lib.sh"

make_pki || { not_ok "PKI"; finish; }
read -r P_ECHO P_DEAD P_DIES P_FULL P_SRV P_SRV_DEAD P_SRV_DIES P_SRV_FULL P_CLI P_CLI_DEAD P_CLI_DIES P_CLI_LIM \
	<<< "$(free_ports 12)"

server_route() { # NAME LISTEN CONNECT [EXTRA]
	printf '[%s]\nmode = server\nlisten = 127.0.0.1:%s\nconnect = 127.0.0.1:%s\n%s\n\n' "$@"
}
client_route() { # NAME LISTEN CONNECT [EXTRA]
	printf '[%s]\nmode = client\nlisten = 127.0.0.1:%s\nconnect = 127.0.0.1:%s\nserver_name = localhost\ncert = %s\nkey = %s\n%s\n\n' \
		"$1" "$2" "$3" "$T/pki/client.crt" "$T/pki/client.key" "${4:-}"
}
{
	printf '[global]\nworkers = 1\nlog_level = debug\nca = %s\ncert = %s\nkey = %s\nhandshake_timeout = 1s\nconnect_timeout = 1s\n\n' \
		"$T/pki/ca.crt" "$T/pki/server.crt" "$T/pki/server.key"
	server_route ok $P_SRV $P_ECHO "idle_timeout = 1s"
	server_route dead $P_SRV_DEAD $P_DEAD
	server_route dies $P_SRV_DIES $P_DIES
	server_route full $P_SRV_FULL $P_FULL
	client_route cli $P_CLI $P_SRV
	client_route cli-dead $P_CLI_DEAD $P_SRV_DEAD
	client_route cli-dies $P_CLI_DIES $P_SRV_DIES
	client_route cli-limit $P_CLI_LIM $P_SRV "max_connections = 2"
} > "$T/f.ini"

bg_peer echo echo --listen 127.0.0.1:$P_ECHO
bg_peer dies dies --listen 127.0.0.1:$P_DIES --after 100000
start_mtlsd f "$T/f.ini" || { not_ok "mtlsd starts"; finish; }

still_serves() {
	$PEER roundtrip --connect 127.0.0.1:$P_CLI --bytes 65536 | grep -q 'match=yes'
}

# A backend that refuses: the client gets a clean EOF, no data.
reply=$(timeout 10 $PEER halfclose --connect 127.0.0.1:$P_CLI_DEAD --send "x")
check "a refused backend closes the client cleanly with no data" test -z "$reply"
check "mtlsd logs reason=upstream_refused" wait_log "$T/f.log" "route=dead event=close .*reason=upstream_refused"
check "the client route sees the server's close_notify as a clean EOF" \
	wait_log "$T/f.log" "route=cli-dead event=close .*reason=eof"
check "mtlsd still serves after a refused backend" still_serves

# The same, with the app's bytes sent only after the server route has
# closed: the server lingers (reads and drops them) instead of answering
# with a reset, so the client route still ends cleanly.
closes() { count_log "$T/f.log" "$1"; }
dead0=$(closes "route=dead event=close") cli0=$(closes "route=cli-dead event=close .*reason=eof")
timeout 15 python3 - "$P_CLI_DEAD" "$T/f.log" "$dead0" <<'PY'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
end = time.monotonic() + 10
while sum("route=dead event=close" in l for l in open(sys.argv[2])) <= int(sys.argv[3]):
    if time.monotonic() > end:
        sys.exit("the server route never closed")
    time.sleep(0.02)
s.sendall(b"late"); s.shutdown(socket.SHUT_WR)
s.settimeout(10)
sys.exit(0 if s.recv(100) == b"" else "data from a dead backend")
PY
check "bytes sent after the server route closed get a clean EOF back" test $? -eq 0
late_eof() { test "$(closes "route=cli-dead event=close .*reason=eof")" -gt "$cli0"; }
check "... and the client route logs reason=eof, not upstream_reset" wait_for 10 late_eof

# A backend that dies mid-stream (RST after 100000 bytes).
out=$(timeout 30 $PEER roundtrip --connect 127.0.0.1:$P_CLI_DIES --bytes $((4 << 20)))
rc=$?
check "a backend dying mid-stream ends the client's stream (no hang: rc=$rc)" test $rc -ne 124
check "the client sees the stream cut short, not completed ($out)" grep -q 'match=no' <<< "$out"
check "mtlsd logs reason=upstream_reset for the dead backend" \
	wait_log "$T/f.log" "route=dies event=close .*reason=upstream_reset"
check "mtlsd still serves after a backend died mid-stream" still_serves

# A peer that connects and sends nothing: dropped at handshake_timeout.
out=$($PEER silent --connect 127.0.0.1:$P_SRV --within 8)
secs=$(sed -n 's/.*after=\([0-9.]*\).*/\1/p' <<< "$out")
check "a silent peer is dropped ($out)" grep -q 'closed=yes' <<< "$out"
check "... after the 1 s handshake timeout, not before" \
	python3 -c "import sys; sys.exit(0 if 0.9 <= $secs <= 5 else 1)"
check "mtlsd logs reason=handshake_timeout" wait_log "$T/f.log" "route=ok event=close .*reason=handshake_timeout"

# An idle relayed connection: dropped at idle_timeout (1 s on route ok).
out=$($PEER silent --connect 127.0.0.1:$P_CLI --within 8)
check "an idle connection is closed ($out)" grep -q 'closed=yes' <<< "$out"
check "mtlsd logs reason=idle_timeout" wait_log "$T/f.log" "route=ok event=close .*reason=idle_timeout"

# Garbage instead of a ClientHello.
head -c 4096 /dev/urandom | timeout 10 python3 -c "
import socket, sys
s = socket.create_connection(('127.0.0.1', $P_SRV)); s.sendall(sys.stdin.buffer.read())
s.settimeout(5)
try:
    while s.recv(4096): pass
except OSError: pass"
check "garbage from a peer closes that connection with reason=protocol" \
	wait_log "$T/f.log" "route=ok event=close .*reason=protocol"
check "mtlsd still serves after garbage" still_serves

# max_connections = 2: a third connection is refused and logged.
exec 7> >($PEER hold --connect 127.0.0.1:$P_CLI_LIM > "$T/h1.out")
exec 8> >($PEER hold --connect 127.0.0.1:$P_CLI_LIM > "$T/h2.out")
wait_for 10 grep -q connected "$T/h1.out"
wait_for 10 grep -q connected "$T/h2.out"
handshakes() { test "$(count_log "$T/f.log" 'route=cli-limit event=handshake_ok')" -ge 2; }
check "two held connections complete their handshakes" wait_for 10 handshakes
reply=$(timeout 10 $PEER halfclose --connect 127.0.0.1:$P_CLI_LIM --send "third")
check "a connection over max_connections gets nothing" test -z "$reply"
check "the refusal is logged with reason=max_connections" \
	wait_log "$T/f.log" "route=cli-limit event=refused .*reason=max_connections"
exec 7>&- 8>&-
wait_for 10 log_has "$T/f.log" "route=cli-limit event=close"
ok_after=no
for i in 1 2 3 4 5 6 7 8 9 10; do
	r=$($PEER halfclose --connect 127.0.0.1:$P_CLI_LIM --send "again") && [ "$r" = again ] && { ok_after=yes; break; }
	sleep 0.2
done
check "once a slot frees up, a new connection gets through" test "$ok_after" = yes

# A connect that never completes: a backend whose accept queue is full
# drops further SYNs.  The filler says "filled" once a connect times out.
python3 -c "
import socket, time
s = socket.socket(); s.bind(('127.0.0.1', $P_FULL)); s.listen(0)
held = []
while True:
    x = socket.socket(); x.settimeout(0.5)
    try:
        x.connect(('127.0.0.1', $P_FULL)); held.append(x)
    except socket.timeout:
        break
print('filled', flush=True); time.sleep(60)" > "$T/full.log" 2>&1 &
PID_OF[full]=$!
wait_log "$T/full.log" '^filled'
printf 'ping\n' | timeout 10 openssl s_client -connect 127.0.0.1:$P_SRV_FULL -servername localhost \
	-CAfile "$T/pki/ca.crt" -cert "$T/pki/client.crt" -key "$T/pki/client.key" -ign_eof > /dev/null 2>&1
check "a backend connect that hangs is cut at connect_timeout" \
	wait_log "$T/f.log" "route=full event=close .*reason=connect_timeout"

stop_mtlsd f
finish
