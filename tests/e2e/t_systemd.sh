#!/bin/bash
# systemd and operations: the sd_notify messages (READY, RELOADING with
# MONOTONIC_USEC, a failed reload in STATUS, STOPPING with the extended stop
# timeout) read by an independent datagram listener in Python, on a path and
# an abstract socket; drain_grace (503 at once, new connections served for
# the grace, then refused while a live one finishes); a real logrotate run
# against a daemon that dropped to nobody; the shipped unit and logrotate
# files checked by systemd-analyze and logrotate themselves.
. "$(dirname "$0")/lib.sh"

unset NOTIFY_SOCKET	# a test run from a systemd unit must not inherit one
make_pki || { not_ok "PKI"; finish; }
read -r P_ECHO P_SRV P_ADMIN P_ROT <<< "$(free_ports 4)"

# The listener: one line per datagram, with the sender's pid (SO_PASSCRED),
# the receiver's CLOCK_MONOTONIC in microseconds, and the message's lines
# joined by '|'.
cat > "$T/notify.py" <<'EOF'
import os, socket, struct, sys, time
addr, out = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
s.bind("\0" + addr[1:] if addr.startswith("@") else addr)
print("ready", flush=True)
with open(out, "a", buffering=1) as f:
    while True:
        msg, anc, _, _ = s.recvmsg(4096, socket.CMSG_SPACE(12))
        pid = 0
        for lvl, typ, data in anc:
            if lvl == socket.SOL_SOCKET and typ == socket.SCM_CREDENTIALS:
                pid = struct.unpack("iII", data[:12])[0]
        now = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        f.write("pid=%d mono=%d %s\n" % (pid, now, msg.decode().strip("\n").replace("\n", "|")))
EOF
# A client that holds one TLS connection: one echo, "connected", then a
# second echo once $T/go exists, then a clean close.
cat > "$T/hold.py" <<EOF
import os, socket, ssl, sys, time
ctx = ssl.create_default_context(cafile="$T/pki/ca.crt")
ctx.load_cert_chain("$T/pki/client.crt", "$T/pki/client.key")
t = ctx.wrap_socket(socket.create_connection(("127.0.0.1", $P_SRV), timeout=30),
                    server_hostname="localhost")
def echo(b):
    t.sendall(b)
    got = b""
    while len(got) < len(b):
        d = t.recv(100)
        if not d: break
        got += d
    return got
print("first", echo(b"first\n") == b"first\n", flush=True)
print("connected", flush=True)
while not os.path.exists("$T/go"):
    time.sleep(0.05)
print("second", echo(b"second\n") == b"second\n", flush=True)
t.close()
EOF

notes() { grep -E -- "$2" "$1" | tail -1; }
readyz() { curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$P_ADMIN/readyz"; }
# One echo through a server route on PORT with the client certificate,
# then a clean close.
cat > "$T/ping.py" <<EOF
import socket, ssl, sys
ctx = ssl.create_default_context(cafile="$T/pki/ca.crt")
ctx.load_cert_chain("$T/pki/client.crt", "$T/pki/client.key")
t = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10),
                    server_hostname="localhost")
t.sendall(b"ping\\n")
got = b""
while len(got) < 5:
    d = t.recv(100)
    if not d: break
    got += d
t.close()
sys.exit(got != b"ping\\n")
EOF
ping_srv() { python3 "$T/ping.py" $P_SRV; }

# ---- 1. notify on a path socket, reloads, drain_grace -------------------------
bg notify python3 "$T/notify.py" "$T/notify.sock" "$T/notify.msgs"
wait_log "$T/notify.log" '^ready' 10 || { not_ok "notify listener starts"; finish; }
: > "$T/notify.msgs"
cp "$T/pki/server.crt" "$T/pki/server.key" "$T/pki/ca.crt" "$T/"
conf sd <<EOF
[global]
workers = 2
admin_listen = 127.0.0.1:$P_ADMIN
drain_grace = 10s
drain_timeout = 20s
cert = $T/server.crt
key = $T/server.key
ca = $T/pki/ca.crt

[in]
mode = server
listen = 127.0.0.1:$P_SRV
connect = 127.0.0.1:$P_ECHO
EOF
cp "$T/sd.ini" "$T/sd.good"
bg_peer echo echo --listen 127.0.0.1:$P_ECHO
NOTIFY_SOCKET="$T/notify.sock" start_mtlsd sd "$T/sd.ini" || { not_ok "mtlsd starts"; finish; }
PID=${PID_OF[sd]}
check "READY=1 reaches \$NOTIFY_SOCKET" wait_log "$T/notify.msgs" 'READY=1' 5
check "... and listeners are up by then" port_open $P_SRV
check "... sent by mtlsd's own process (SCM_CREDENTIALS pid $PID)" \
	log_has "$T/notify.msgs" "^pid=$PID .*READY=1"
check "... with STATUS= naming routes and connections" \
	log_has "$T/notify.msgs" 'READY=1\|STATUS=1 route, 0 connections$'

# A good reload: RELOADING=1 with MONOTONIC_USEC= near the listener's clock,
# then READY=1 and "reload ok at HH:MM:SS".
kill -HUP "$PID"
check "SIGHUP: READY=1 after the reload, STATUS says it went well" \
	wait_log "$T/notify.msgs" 'READY=1\|STATUS=1 route, 0 connections; reload ok at [0-9]{2}:[0-9]{2}:[0-9]{2}$' 10
line=$(notes "$T/notify.msgs" 'RELOADING=1')
mono_sent=$(sed -n 's/.*MONOTONIC_USEC=\([0-9]*\).*/\1/p' <<< "$line")
mono_got=$(sed -n 's/^pid=[0-9]* mono=\([0-9]*\) .*/\1/p' <<< "$line")
check "... preceded by RELOADING=1 with MONOTONIC_USEC= from CLOCK_MONOTONIC ($mono_sent, received at $mono_got)" \
	test -n "$mono_sent" -a -n "$mono_got" -a "${mono_sent:-0}" -le "${mono_got:-0}" \
	-a $(( ${mono_got:-0} - ${mono_sent:-0} )) -lt 5000000
order=$(grep -E 'RELOADING=1|READY=1' "$T/notify.msgs" | tail -2 | cut -d' ' -f3 | cut -d'|' -f1 | tr '\n' ' ')
check "... in that order: RELOADING=1 then READY=1 ($order)" test "$order" = "RELOADING=1 READY=1 "

# A reload that fails on the config: READY=1 again (still serving), and the
# failure with its time and FILE:LINE in STATUS, as systemctl status shows.
sed -i 's/^drain_timeout = 20s$/drain_timeout = 20s\nlissen = oops/' "$T/sd.ini"
kill -HUP "$PID"
check "a failed reload (config) is in STATUS: reload failed at HH:MM:SS: FILE:LINE: reason" \
	wait_log "$T/notify.msgs" "READY=1\|STATUS=1 route, [0-9]+ connections?; reload failed at [0-9]{2}:[0-9]{2}:[0-9]{2}: $T/sd.ini:6: unknown key 'lissen'" 10
cp "$T/sd.good" "$T/sd.ini"
# A reload that fails on a route's material: a certificate that is no PEM.
# The watcher reloads on its own when the file changes, and so does SIGHUP;
# both report the failure the same way.
printf 'not a certificate\n' > "$T/server.crt.new" && mv "$T/server.crt.new" "$T/server.crt"
kill -HUP "$PID"
check "a failed reload (certificate) names the key and file in STATUS" \
	wait_log "$T/notify.msgs" "STATUS=.*reload failed at [0-9:]{8}: $T/sd.ini:[0-9]+: cert: " 10
check "... while the old certificate keeps serving" ping_srv
cp "$T/pki/server.crt" "$T/server.crt.new" && mv "$T/server.crt.new" "$T/server.crt"
kill -HUP "$PID"
check "... and the next good reload clears it" \
	wait_log "$T/notify.msgs" 'READY=1\|STATUS=1 route, [0-9]+ connections?; reload ok at' 10

# STATUS follows the connection count (refreshed every 5 s).
rm -f "$T/go"
bg hold python3 "$T/hold.py"
wait_log "$T/hold.log" '^connected' 10
check "STATUS counts a live connection" \
	wait_log "$T/notify.msgs" 'STATUS=1 route, 1 connection; reload ok' 8

# SIGTERM with drain_grace = 10s: long enough for a new client to start and
# connect on a loaded machine.
: > "$T/grace.marks"
kill -TERM "$PID"
check "SIGTERM: STOPPING=1 at once, with EXTEND_TIMEOUT_USEC= covering grace + drain + 5 s" \
	wait_log "$T/notify.msgs" 'STOPPING=1\|EXTEND_TIMEOUT_USEC=35000000\|STATUS=drain_grace' 2
check "... /readyz answers 503 at once" wait_for 1 eval 'test "$(readyz)" = 503'
check "... saying the grace runs" \
	grep -q 'shutting down (drain_grace: still accepting)' <<< "$(curl -s http://127.0.0.1:$P_ADMIN/readyz)"
check "during the grace a NEW connection through the route is served" ping_srv
check "... and that was before the drain began" eval '! log_has "$T/sd.log" "phase=drain timeout"'
check "after the grace the drain starts (logged)" wait_log "$T/sd.log" 'event=shutdown phase=drain timeout_ms=20000' 15
check "... and new connections are refused" wait_for 5 eval '! port_open $P_SRV'
check "... STOPPING's status moves on to draining" wait_log "$T/notify.msgs" 'STATUS=draining: 1 connection open' 8
touch "$T/go"
wait "${PID_OF[hold]}"; unset "PID_OF[hold]"
check "... while the live connection finishes its exchange" log_has "$T/hold.log" '^second True'
rc=0; wait "$PID" || rc=$?; unset "PID_OF[sd]"
check "mtlsd exits 0 once that connection closed (well before drain_timeout)" test $rc = 0
check "... its close logged as a normal end, not a shutdown" \
	eval '! log_has "$T/sd.log" "reason=shutdown"'

# ---- 2. logrotate as shipped, after dropping to nobody ------------------------
if [ "$(id -u)" = 0 ] && id nobody > /dev/null 2>&1 && command -v logrotate > /dev/null; then
	NOGROUP=$(id -gn nobody)
	R="$T/rot"
	mkdir -p "$R/etc" "$R/log"
	cp "$T/pki/server.crt" "$T/pki/server.key" "$T/pki/ca.crt" "$R/etc/"
	chown nobody "$R/etc/server.key"
	chown nobody:"$NOGROUP" "$R/log"; chmod 750 "$R/log"
	chmod 755 "$T" "$R" "$R/etc"
	conf rot <<EOF
[global]
user = nobody
audit_log = $R/log/audit.jsonl
cert = $R/etc/server.crt
key = $R/etc/server.key
ca = $R/etc/ca.crt

[in]
mode = server
listen = 127.0.0.1:$P_ROT
connect = 127.0.0.1:$P_ECHO
EOF
	# The notify socket is abstract here: no file for nobody to reach.
	: > "$T/abs.msgs"
	bg notify2 python3 "$T/notify.py" "@mtlsd-t-systemd-$$" "$T/abs.msgs"
	wait_log "$T/notify2.log" '^ready' 10
	NOTIFY_SOCKET="@mtlsd-t-systemd-$$" start_mtlsd rot "$T/rot.ini" || { not_ok "mtlsd starts as nobody"; finish; }
	RPID=${PID_OF[rot]}
	check "user = nobody: running as nobody" test "$(ps -o user= -p "$RPID" | tr -d ' ')" = nobody
	check "READY=1 on an abstract socket (@name)" wait_log "$T/abs.msgs" "^pid=$RPID .*READY=1" 5
	check "a log directory owned by the user gives no rotation warning" \
		eval '! log_has "$T/rot.log" "rotation_blocked"'
	kill -HUP "$RPID"
	check "after the drop and inside the sandbox, a reload still notifies" \
		wait_log "$T/abs.msgs" 'READY=1\|STATUS=1 route, 0 connections; reload ok' 10

	rping() { python3 "$T/ping.py" $P_ROT; }
	closes() { cat "$1" 2>/dev/null | grep -c '"event":"close"'; true; }
	rping
	wait_log "$R/log/audit.jsonl" '"event":"close"' 5

	# The shipped file, pointed at the test's log, user and process.
	sed -e "s|^/var/log/mtlsd/\*.jsonl|$R/log/*.jsonl|" \
	    -e "s|su mtlsd adm|su nobody $NOGROUP|" \
	    -e "s|create 0640 mtlsd adm|create 0640 nobody $NOGROUP|" \
	    -e "s|systemctl kill .*|kill -USR1 $RPID|" \
	    "$TOP/examples/mtlsd.logrotate" > "$R/logrotate.conf"
	check "the test's logrotate config is the shipped one, retargeted" \
		grep -q "kill -USR1 $RPID" "$R/logrotate.conf"
	logrotate -v -f -s "$R/state" "$R/logrotate.conf" > "$R/lr1.log" 2>&1
	check "logrotate -f rotates the audit log (rc 0)" test $? = 0 -a -f "$R/log/audit.jsonl.1"
	check "... its postrotate SIGUSR1 reopens the log as nobody" \
		wait_log "$T/rot.log" "event=audit_reopen path=$R/log/audit.jsonl$" 5
	check "... with no reopen failure" eval '! log_has "$T/rot.log" "audit_reopen.*kept_previous"'
	old=$(stat -c %s "$R/log/audit.jsonl.1")
	check "the file logrotate created is nobody's, 0640" \
		test "$(stat -c '%U %a' "$R/log/audit.jsonl")" = "nobody 640"
	rping
	check "new records go to the new file" wait_log "$R/log/audit.jsonl" '"event":"close"' 5
	check "... and the rotated one stopped growing ($old bytes)" \
		test "$(stat -c %s "$R/log/audit.jsonl.1")" = "$old"

	# Second rotation without "create": mtlsd makes the file itself, which
	# needs the directory to be the user's.
	sed -i 's/^\tcreate .*/\tnocreate/' "$R/logrotate.conf"
	n0=$(count_log "$T/rot.log" 'event=audit_reopen')
	logrotate -f -s "$R/state" "$R/logrotate.conf" > "$R/lr2.log" 2>&1
	rc=$?
	check "logrotate -f again, nocreate (rc $rc; the first rotation now compressed)" \
		test $rc = 0 -a -f "$R/log/audit.jsonl.2.gz" -a -f "$R/log/audit.jsonl.1"
	wait_for 5 eval 'test "$(count_log "$T/rot.log" "event=audit_reopen")" -gt "$n0"'
	check "... mtlsd created the new file itself, as nobody" \
		test "$(stat -c '%U %a' "$R/log/audit.jsonl" 2>/dev/null)" = "nobody 640"
	old=$(stat -c %s "$R/log/audit.jsonl.1")
	rping
	check "... and writes its records there" wait_log "$R/log/audit.jsonl" '"event":"close"' 5
	check "... not to the rotated file" test "$(stat -c %s "$R/log/audit.jsonl.1")" = "$old"

	# The layout that broke before: a root-owned directory, no "create".
	# The reopen fails with EACCES and says what to do; no record is lost.
	chown root:root "$R/log"; chmod 755 "$R/log"
	mv "$R/log/audit.jsonl" "$R/log/moved.jsonl"
	kill -USR1 "$RPID"
	check "root-owned directory: the reopen fails and mtlsd says why and how to fix it" \
		wait_log "$T/rot.log" 'event=audit_log status=reopen_failed .*chown the directory' 5
	n=$(closes "$R/log/moved.jsonl")
	rping
	check "... and records go on into the file it has" \
		wait_for 5 eval 'test "$(closes "$R/log/moved.jsonl")" -gt "$n"'
	stop_mtlsd rot
	check "STOPPING=1 on the abstract socket too" log_has "$T/abs.msgs" 'STOPPING=1'
	start_mtlsd rot2 "$T/rot.ini"
	check "... and at start mtlsd warns of that layout" \
		log_has "$T/rot2.log" 'event=audit_log status=rotation_blocked'
	check "without \$NOTIFY_SOCKET nothing is sent and nothing is said" \
		eval '! log_has "$T/rot2.log" "sd_notify"'
	stop_mtlsd rot2
	chmod 700 "$T"

	# The shipped file as it is (a dry run, -d); where the package has not
	# made the user mtlsd, its su and create lines name nobody instead.
	shipped="$TOP/examples/mtlsd.logrotate"
	if ! id mtlsd > /dev/null 2>&1; then
		sed 's/ mtlsd adm$/ nobody adm/' "$shipped" > "$R/shipped.conf"
		shipped="$R/shipped.conf"
	fi
	logrotate -d -s "$R/state.dry" "$shipped" > "$R/dry.log" 2>&1; rc=$?
	check "examples/mtlsd.logrotate parses cleanly (logrotate -d: rc $rc)" \
		eval '[ $rc = 0 ] && ! grep -qiE "^error|unknown|bad " "$R/dry.log"'
else
	skip "logrotate after a privilege drop needs root, a 'nobody' user and logrotate"
fi

# ---- 3. the unit --------------------------------------------------------------
if command -v systemd-analyze > /dev/null; then
	# verify wants the binaries where the unit says: point it at the build.
	sed -e "s|/usr/local/sbin/mtlsd|$MTLSD|g" "$TOP/examples/mtlsd.service" > "$T/mtlsd.service"
	out=$(systemd-analyze verify --man=no "$T/mtlsd.service" 2>&1)
	check "systemd-analyze verify: the unit has no error or unknown setting${out:+ ($out)}" test -z "$out"
	score=$(systemd-analyze security --offline=true --no-pager "$T/mtlsd.service" 2>/dev/null |
		sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
	note "systemd-analyze security --offline=true: exposure $score (the unit before this: 4.1)"
	check "... security exposure at most 1.5 (got $score)" \
		awk -v s="${score:-99}" 'BEGIN { exit !(s <= 1.5) }'
	check "... Type=notify, User=mtlsd, no ambient capability" \
		eval 'grep -qx "Type=notify" "$T/mtlsd.service" && grep -qx "User=mtlsd" "$T/mtlsd.service" && grep -qx "AmbientCapabilities=" "$T/mtlsd.service"'
else
	skip "systemd-analyze is not installed"
fi

finish
