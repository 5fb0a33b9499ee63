#!/bin/bash
# mtlsd check catches what would break later: each mistake here passed
# check once, then run failed at start, or (the worst) run started and
# every reload after failed.  check now exits 1 naming FILE:LINE and the
# key, run refuses the same config, and a config without the mistake
# passes both.  Cases: a key only root can read with user = nobody (and
# the config itself, and the directories reloads watch), an audit_log
# whose directory is missing or out of the user's reach, listen names that
# do not resolve and addresses this host lacks, unix listeners in a
# missing directory, record_layer = kernel (ktls = on) without the tls ULP.
. "$(dirname "$0")/lib.sh"

make_pki || { not_ok "PKI"; finish; }
M="$MTLSD certs"
read -r P_SRV P_ECHO P_ADMIN <<< "$(free_ports 3)"
# The user = nobody cases need nobody to reach $T (mktemp makes it 0700).
chmod 755 "$T"

# base [EXTRA_GLOBAL_LINES]: a good config; cert, key and ca come from
# $CERT, $KEY, $CA.
base() {
	cat <<EOF
[global]
${1:-log_level = info}
cert = $CERT
key = $KEY
ca = $CA

[in]
mode = server
listen = 127.0.0.1:$P_SRV
connect = 127.0.0.1:$P_ECHO
EOF
}
CERT=$T/pki/server.crt KEY=$T/pki/server.key CA=$T/pki/ca.crt

# line_of NAME REGEX: the line of $T/NAME.ini that matches.
line_of() { grep -nE -- "$2" "$T/$1.ini" | head -1 | cut -d: -f1; }

# refused NAME LINE REGEX: check exits 1 with "FILE:LINE: ...REGEX"; run
# exits 1 too, before it serves, with the same FILE:LINE.
refused() {
	local name=$1 line=$2 re=$3 out rc
	out=$("$MTLSD" check -c "$T/$name.ini" 2>&1); rc=$?
	check "check refuses $name, exit 1 (rc=$rc)" test $rc -eq 1
	check "... naming $name.ini:$line and the key ($out)" \
		grep -qE -- "^$T/$name.ini:$line: $re" <<< "$out"
	out=$(timeout 10 "$MTLSD" run -c "$T/$name.ini" 2>&1); rc=$?
	check "... and run refuses it, exit 1, at the same FILE:LINE, before serving (rc=$rc)" \
		eval 'test $rc -eq 1 && grep -qE -- "^$T/$name.ini:$line: " <<< "$out" &&
		    ! grep -q "event=started" <<< "$out"'
	LAST_RUN=$out
}

# passes NAME: check exits 0 and says OK; its output is left in $OUT.
passes() {
	OUT=$("$MTLSD" check -c "$T/$1.ini" 2>&1)
	check "check passes $1 ($OUT)" eval 'test $? -eq 0 && grep -q ": OK (" <<< "$OUT"'
}

# 1. user = nobody and the files reloads read.
if [ "$(id -u)" = 0 ] && id nobody > /dev/null 2>&1; then
	mkdir -p "$T/own"
	cp "$T/pki/server.crt" "$T/pki/server.key" "$T/pki/ca.crt" "$T/own/"
	chmod 755 "$T/own"
	CERT=$T/own/server.crt KEY=$T/own/server.key CA=$T/own/ca.crt

	# A key root owns, 0600: run as root reads it at start, nobody never again.
	base "user = nobody" > "$T/rootkey.ini"
	refused rootkey "$(line_of rootkey '^key =')" \
		"key: cannot read '$T/own/server.key': Permission denied \(as user 'nobody'"
	check "... and run says why it refuses: the user and the failing reload ($LAST_RUN)" \
		eval 'grep -q "rootkey.ini:2: user: mtlsd runs as .nobody. after start-up, and every reload would fail" <<< "$LAST_RUN" &&
		    grep -q "event=start status=refused user=nobody" <<< "$LAST_RUN"'
	out=$("$MTLSD" check -c "$T/rootkey.ini" 2>&1)
	check "check names the user line too ($out)" \
		grep -q "^$T/rootkey.ini:2: user: mtlsd runs as 'nobody'" <<< "$out"

	# The same key owned by nobody: check passes, run starts as nobody,
	# and reloads work, by rename and by SIGHUP.
	chown nobody "$T/own/server.key"
	base "user = nobody" > "$T/nobodykey.ini"
	passes nobodykey
	bg_peer echo echo --listen 127.0.0.1:$P_ECHO
	if start_mtlsd nobodykey "$T/nobodykey.ini"; then
		pid=${PID_OF[nobodykey]}
		check "run starts, as nobody" test "$(ps -o user= -p "$pid" | tr -d ' ')" = nobody
		$M issue --dir "$T/pki" --name rotated --san dns:localhost > /dev/null
		cp "$T/pki/rotated.crt" "$T/own/new.crt"; cp "$T/pki/rotated.key" "$T/own/new.key"
		chown nobody "$T/own/new.key"
		mv "$T/own/new.key" "$T/own/server.key"; mv "$T/own/new.crt" "$T/own/server.crt"
		check "... a rotation by rename reloads as nobody" \
			wait_log "$T/nobodykey.log" "route=in event=reload status=ok" 10
		served=$(timeout 10 openssl s_client -connect 127.0.0.1:$P_SRV -servername localhost \
			-cert "$T/pki/client.crt" -key "$T/pki/client.key" < /dev/null 2>/dev/null |
			openssl x509 -noout -serial)
		check "... and the new certificate is served ($served)" \
			test "$served" = "$(openssl x509 -noout -serial -in "$T/pki/rotated.crt")"
		kill -HUP "$pid"
		check "... and a SIGHUP reload succeeds as nobody" \
			wait_log "$T/nobodykey.log" "event=reload trigger=sighup status=ok" 10
		stop_mtlsd nobodykey
	else
		not_ok "run starts with a key nobody owns"
	fi

	# The config itself: every reload re-reads it.
	base "user = nobody" > "$T/cfgperm.ini"
	chmod 600 "$T/cfgperm.ini"
	out=$("$MTLSD" check -c "$T/cfgperm.ini" 2>&1); rc=$?
	check "a config only root can read, with user = nobody: check exits 1 and says so ($out)" \
		eval 'test $rc -eq 1 &&
		    grep -q "^$T/cfgperm.ini: cannot open: Permission denied (as user .nobody." <<< "$out" &&
		    grep -q "^$T/cfgperm.ini:2: user: " <<< "$out"'
	out=$(timeout 10 "$MTLSD" run -c "$T/cfgperm.ini" 2>&1); rc=$?
	check "... and run refuses it (rc=$rc)" \
		eval 'test $rc -eq 1 && grep -q "cfgperm.ini:2: user: " <<< "$out" && ! grep -q event=started <<< "$out"'

	# A directory nobody may search (0711 lets it open the files, not list
	# them): inotify cannot watch it, so only SIGHUP reloads; a warning.
	mkdir -p "$T/blind"
	cp -p "$T/own/server.crt" "$T/own/server.key" "$T/own/ca.crt" "$T/blind/"
	chmod 711 "$T/blind"
	CERT=$T/blind/server.crt KEY=$T/blind/server.key CA=$T/blind/ca.crt
	base "user = nobody" > "$T/blind.ini"
	passes blind
	check "... warning that nobody cannot watch the directory, at the first file's line" \
		grep -q "^$T/blind.ini:3: warning: cert: cannot watch '$T/blind' for rotated files (Permission denied)" <<< "$OUT"
	CERT=$T/own/server.crt KEY=$T/own/server.key CA=$T/own/ca.crt

	# An audit log the sandbox (applied as nobody) cannot reach.
	mkdir -p "$T/private/logs"; chmod 700 "$T/private"
	base "user = nobody
audit_log = $T/private/logs/audit.jsonl" > "$T/auditreach.ini"
	refused auditreach 3 "audit_log: the sandbox cannot reach '$T/private/logs': Permission denied \(as user 'nobody'"
	# A log directory only root may write: run starts, SIGUSR1 would not reopen.
	mkdir -p "$T/rootlogs"; chmod 755 "$T/rootlogs"
	base "user = nobody
audit_log = $T/rootlogs/audit.jsonl" > "$T/auditdir.ini"
	passes auditdir
	check "... warning that SIGUSR1 could not reopen the log as nobody" \
		grep -q "^$T/auditdir.ini:3: warning: audit_log: neither '$T/rootlogs/audit.jsonl' nor its directory is writable.*as user 'nobody'" <<< "$OUT"
	check "... and check created nothing there" test ! -e "$T/rootlogs/audit.jsonl"
	stop echo
else
	skip "user = nobody cases need root and a 'nobody' user"
fi
CERT=$T/pki/server.crt KEY=$T/pki/server.key CA=$T/pki/ca.crt

# 2. An audit_log in a directory that does not exist.
base "audit_log = $T/nodir/audit.jsonl" > "$T/auditmissing.ini"
refused auditmissing 2 "audit_log: cannot create '$T/nodir/audit.jsonl' in '$T/nodir': No such file or directory"
base "audit_log = $T/audit.jsonl" > "$T/auditok.ini"
passes auditok
check "... and check did not create the log" test ! -e "$T/audit.jsonl"

# 3. listen and admin_listen: names that do not resolve (.invalid never
# does, RFC 6761), an address no interface has (TEST-NET-1), a unix socket
# in a missing directory.
base | sed "s|^listen = .*|listen = no-such-host.invalid:$P_SRV|" > "$T/lname.ini"
refused lname "$(line_of lname '^listen')" "listen no-such-host.invalid:$P_SRV: cannot resolve"
base | sed "s|^listen = .*|listen = localhost:$P_SRV|" > "$T/llocalhost.ini"
passes llocalhost
base | sed "s|^listen = .*|listen = 192.0.2.1:$P_SRV|" > "$T/lnotlocal.ini"
refused lnotlocal "$(line_of lnotlocal '^listen')" "listen 192.0.2.1:$P_SRV: Cannot assign requested address"
base | sed "s|^listen = .*|listen = unix:$T/nodir/in.sock|" > "$T/lunix.ini"
refused lunix "$(line_of lunix '^listen')" "listen unix:$T/nodir/in.sock: cannot create the socket in '$T/nodir': No such file or directory"
base "admin_listen = no-such-host.invalid:$P_ADMIN" > "$T/aname.ini"
refused aname 2 "admin_listen: listen no-such-host.invalid:$P_ADMIN: cannot resolve"
# A port a live daemon holds is no error for check: it binds port 0 only.
bg_peer busy echo --listen 127.0.0.1:$P_SRV
base > "$T/busy.ini"
passes busy
stop busy

# An upstream name is looked up per connection: a warning, not an error.
base | sed "s|^connect = .*|connect = no-such-host.invalid:$P_ECHO|" > "$T/cname.ini"
passes cname
check "... warning that the upstream name does not resolve now" \
	grep -q "^$T/cname.ini:$(line_of cname '^connect'): warning: connect no-such-host.invalid:$P_ECHO: the name does not resolve now" <<< "$OUT"

# 4. record_layer = kernel and ktls = on insist on the kernel's tls ULP.
has_ulp() {
	python3 - <<'EOF'
import socket, sys
l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(1)
c = socket.create_connection(l.getsockname()); a, _ = l.accept()
try:
    c.setsockopt(socket.SOL_TCP, 31, b"tls")  # TCP_ULP
except OSError:
    sys.exit(1)
EOF
}
base | sed "s|^connect = .*|&\nrecord_layer = kernel|" > "$T/kernel.ini"
base | sed "s|^connect = .*|&\nktls = on|" > "$T/ktlson.ini"
base "record_layer = kernel" > "$T/kernelglobal.ini"
if has_ulp; then
	note "this kernel has the tls ULP: record_layer = kernel must pass"
	passes kernel
	passes ktlson
	passes kernelglobal
else
	refused kernel "$(line_of kernel '^record_layer')" \
		"record_layer: \[in\]: record_layer = kernel, but this kernel offers no tls ULP"
	refused ktlson "$(line_of ktlson '^ktls')" \
		"ktls: \[in\]: ktls = on, but this kernel offers no tls ULP"
	refused kernelglobal 2 "record_layer: \[in\]: record_layer = kernel, but this kernel offers no tls ULP"
fi
base | sed "s|^connect = .*|&\nrecord_layer = auto|" > "$T/auto.ini"
passes auto

# Every mistake above at once: check reports them all, not just the first.
base "audit_log = $T/nodir/audit.jsonl" | sed "s|^listen = .*|listen = no-such-host.invalid:$P_SRV|" > "$T/all.ini"
out=$("$MTLSD" check -c "$T/all.ini" 2>&1)
check "check reports several such mistakes in one go ($out)" \
	eval 'grep -q "all.ini:2: audit_log" <<< "$out" && grep -q "all.ini:[0-9]*: listen no-such-host" <<< "$out"'
chmod 700 "$T"
finish
