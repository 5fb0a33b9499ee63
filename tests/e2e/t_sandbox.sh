#!/bin/bash
# After start-up mtlsd confines itself: no-new-privileges, a seccomp
# filter, and Landlock where the kernel has it.  A reload still reads the
# files it knew at start (rotation works); one that points at a directory
# it did not know is refused with a clear message, and mtlsd serves on.
. "$(dirname "$0")/lib.sh"

make_pki || { not_ok "PKI"; finish; }
read -r P_ECHO P_SRV P_SRV2 P_ADMIN <<< "$(free_ports 4)"
mkdir -p "$T/conf" "$T/live" "$T/elsewhere"
cp -p "$T/pki/server.crt" "$T/pki/server.key" "$T/live/"
cp -p "$T/pki/server.crt" "$T/pki/server.key" "$T/elsewhere/"
routes() { # CERT_DIR
	printf '[in]\nmode = server\nlisten = 127.0.0.1:%s\nconnect = 127.0.0.1:%s\ncert = %s/server.crt\nkey = %s/server.key\n' \
		"$P_SRV" "$P_ECHO" "$1" "$1"
}
{ printf '[global]\nworkers = 2\nca = %s\nadmin_listen = 127.0.0.1:%s\n\n' "$T/pki/ca.crt" "$P_ADMIN"; routes "$T/live"; } > "$T/conf/s.ini"
bg_peer echo echo --listen 127.0.0.1:$P_ECHO
start_mtlsd s "$T/conf/s.ini" || { not_ok "mtlsd starts"; finish; }
pid=${PID_OF[s]}
status() { grep -E "^$1:" "/proc/$pid/status" | awk '{print $2}'; }

check "the daemon runs with no-new-privileges" test "$(status NoNewPrivs)" = 1
check "... and a seccomp filter (Seccomp: 2)" test "$(status Seccomp)" = 2
abi=$(python3 -c 'import ctypes; l = ctypes.CDLL(None, use_errno=True); print(max(l.syscall(444, None, 0, 1), 0))')
if [ "$abi" -gt 0 ]; then
	check "... and Landlock (this kernel's ABI $abi), as it logs" \
		log_has "$T/s.log" "event=sandbox no_new_privs=yes landlock=abi$abi seccomp=yes"
else
	check "no Landlock in this kernel: mtlsd says so and runs on" \
		log_has "$T/s.log" "event=sandbox landlock=unavailable"
fi
serves() {
	printf 'ping\n' | timeout 10 openssl s_client -quiet -connect 127.0.0.1:$P_SRV \
		-servername localhost -CAfile "$T/pki/ca.crt" -cert "$T/pki/client.crt" \
		-key "$T/pki/client.key" 2>/dev/null | grep -q ping
}
check "it serves" serves
denied_metric() {
	curl -s "http://127.0.0.1:$P_ADMIN/metrics" | awk '$1 == "mtlsd_sandbox_denied_syscalls_total" { print $2 }'
}
check "/metrics counts the calls seccomp refused: none" test "$(denied_metric)" = 0

# Rotation in the directory it knew at start: the reload reads it.
$MTLSD certs issue --dir "$T/pki" --name server2 --san dns:localhost,ip:127.0.0.1 > /dev/null
cp "$T/pki/server2.crt" "$T/live/server.crt.new" && mv "$T/live/server.crt.new" "$T/live/server.crt"
cp -p "$T/pki/server2.key" "$T/live/server.key.new" && mv "$T/live/server.key.new" "$T/live/server.key"
kill -HUP "$pid"
check "a reload of rotated files in a known directory works" \
	wait_log "$T/s.log" "route=in event=reload status=ok"
check "... and the new certificate is served" serves

# The config now names a directory the sandbox never allowed (the config's
# own directory, $T/conf, and the certificates', $T/live and $T/pki, are).
if [ "$abi" -gt 0 ]; then
	{ printf '[global]\nworkers = 2\nca = %s\n\n' "$T/pki/ca.crt"; routes "$T/elsewhere"; } > "$T/conf/s.ini.new"
	mv "$T/conf/s.ini.new" "$T/conf/s.ini"
	kill -HUP "$pid"
	check "a reload that needs a new directory fails, saying why" \
		wait_log "$T/s.log" "event=reload status=failed .*hint=\"mtlsd runs sandboxed: a reload reads only the directories known at start"
	check "... and mtlsd runs on with what it had" eval 'kill -0 $pid && serves'
else
	skip "Landlock is not in this kernel: no directory is refused"
fi
stop_mtlsd s

# check warns of a TLS file that is a symlink out of its directory.
ln -s "$T/elsewhere/server.crt" "$T/live/linked.crt"
{ printf '[global]\nca = %s\n\n' "$T/pki/ca.crt"; routes "$T/live" |
	sed "s#^cert = .*#cert = $T/live/linked.crt#; s#^key = .*#key = $T/elsewhere/server.key#"; } > "$T/conf/link.ini"
out=$("$MTLSD" check -c "$T/conf/link.ini" 2>&1)
check "check warns of a certificate symlinked out of its directory" \
	grep -q "warning: cert: '$T/live/linked.crt' leads to '$T/elsewhere/server.crt', outside its directory" <<< "$out"

# sandbox = no: the operator's choice, said loudly.
{ printf '[global]\nsandbox = no\nca = %s\n\n' "$T/pki/ca.crt"; routes "$T/live"; } > "$T/off.ini"
start_mtlsd off "$T/off.ini" || { not_ok "mtlsd starts with sandbox = no"; finish; }
pid=${PID_OF[off]}
check "sandbox = no: no seccomp filter, and a warning" eval \
	'test "$(status Seccomp)" = 0 && log_has "$T/off.log" "event=sandbox status=off"'
stop_mtlsd off
finish
