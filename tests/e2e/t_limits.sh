#!/bin/bash
# Descriptors as a budget: mtlsd raises its soft RLIMIT_NOFILE to the hard
# limit, and when connections would not fit it turns clients away before
# any handshake (reason=out_of_descriptors) instead of completing one and
# then failing to open the upstream.  It recovers when descriptors return.
. "$(dirname "$0")/lib.sh"

make_pki || { not_ok "PKI"; finish; }
read -r P_ECHO P_SRV <<< "$(free_ports 2)"
conf lim <<EOF2
[global]
workers = 1
ca = $T/pki/ca.crt
cert = $T/pki/server.crt
key = $T/pki/server.key

[in]
mode = server
listen = 127.0.0.1:$P_SRV
connect = 127.0.0.1:$P_ECHO
EOF2
bg_peer echo echo --listen 127.0.0.1:$P_ECHO
# A soft limit of 100 under a hard one of 120: mtlsd raises it to 120.
bg lim bash -c "ulimit -S -n 100 && ulimit -H -n 120 && exec '$MTLSD' run -c '$T/lim.ini'"
wait_log "$T/lim.log" 'event=started' 15 || { not_ok "mtlsd starts"; sed 's/^/# /' "$T/lim.log"; finish; }
check "the soft descriptor limit is raised to the hard one" \
	log_has "$T/lim.log" "event=fd_budget nofile=120 raised_from=100"
check "... and the routes' max_connections that cannot fit are warned about" \
	log_has "$T/lim.log" "event=fd_budget status=short"

# TLS clients that hold their connections (until stdin closes) and say
# how many were carried and how many turned away.
cat > "$T/hold.py" <<'PY'
import socket, ssl, sys
host, port, pki, n = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
ctx = ssl.create_default_context(cafile=pki + "/ca.crt")
ctx.load_cert_chain(pki + "/client.crt", pki + "/client.key")
held, refused = [], 0
for i in range(n):
    try:
        s = ctx.wrap_socket(socket.create_connection((host, port), timeout=10),
                            server_hostname="localhost")
        s.sendall(b"ping")
        if s.recv(4) != b"ping":
            raise OSError("no echo")
        held.append(s)
    except OSError:
        refused += 1
print("held=%d refused=%d" % (len(held), refused), flush=True)
sys.stdin.read()
PY
# 32 connections: more than 120 descriptors allow (two each, above a
# reserve of 64 and what is open at start).  Each one turned away pauses
# accepting for up to a second.
exec 7> >(timeout 60 python3 "$T/hold.py" 127.0.0.1 "$P_SRV" "$T/pki" 32 > "$T/hold.out")
wait_for 50 grep -q held= "$T/hold.out"
out=$(cat "$T/hold.out")
held=$(sed -n 's/held=\([0-9]*\).*/\1/p' <<< "$out") refused=$(sed -n 's/.*refused=\([0-9]*\)/\1/p' <<< "$out")
check "some connections are carried, the rest turned away ($out)" \
	test "${held:-0}" -gt 0 -a "${refused:-0}" -gt 0
check "those turned away are refused before the handshake: reason=out_of_descriptors" \
	log_has "$T/lim.log" "route=in event=refused .*reason=out_of_descriptors"
check "... so no handshake completed only to fail on the upstream" \
	bash -c "! grep -qE 'route=in event=close .*reason=upstream_error' '$T/lim.log'"
exec 7>&-
gone() { test "$(count_log "$T/lim.log" 'route=in event=close')" -ge "$held"; }
check "the held connections close" wait_for 20 gone
again() { echo | timeout 10 python3 "$T/hold.py" 127.0.0.1 "$P_SRV" "$T/pki" 1 | grep -q 'held=1'; }
check "once descriptors are back, a new client is served" wait_for 10 again
stop_mtlsd lim
finish
