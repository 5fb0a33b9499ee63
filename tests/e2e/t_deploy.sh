#!/bin/bash
# Deployment: the shipped examples pass `mtlsd check` once their
# certificates exist; the load-balancer backend works the way an ALB
# connects (TLS 1.2, no client certificate, health-check path); privileges
# are dropped to `user` and reload still works afterwards; the drain timeout
# cuts what is left.
. "$(dirname "$0")/lib.sh"

make_pki || { not_ok "PKI"; finish; }
M="$MTLSD certs"

# 1. examples/*.ini, with /etc/mtlsd pointing at a test PKI.
mkdir -p "$T/etc"
{
	$M init-ca --dir "$T/etc"
	$M issue --dir "$T/etc" --name node-a --san uri:spiffe://train.example/node/a,dns:node-a.train.internal
	$M issue --dir "$T/etc" --name node-b --san uri:spiffe://train.example/node/b,dns:node-b.train.internal
	$M issue --dir "$T/etc" --name backend --san dns:backend.internal
	$M issue --dir "$T/etc" --name node --san ip:10.0.0.2,uri:spiffe://train.example/node/2
} > "$T/etc.log" 2>&1
# The copies go beside the PKI, as they would in /etc/mtlsd: mtlsd.ini's
# relative paths (node.crt) are read from its own directory.  check tries
# the audit log's directory too: /var/log/mtlsd becomes $T/log.
mkdir -p "$T/log"
for ex in "$TOP"/examples/*.ini; do
	sed "s|/etc/mtlsd|$T/etc|g; s|/var/log/mtlsd|$T/log|g" "$ex" > "$T/etc/$(basename "$ex")"
	out=$("$MTLSD" check -c "$T/etc/$(basename "$ex")" 2>&1)
	check "mtlsd check accepts examples/$(basename "$ex") ($out)" grep -q ': OK' <<< "$out"
done

# 2. The load-balancer backend, connected to the way an ALB does.
read -r P_HTTP P_LB P_ADMIN <<< "$(free_ports 3)"
mkdir -p "$T/www"
echo "healthy" > "$T/www/health"
bg http python3 -m http.server --bind 127.0.0.1 --directory "$T/www" "$P_HTTP"
wait_for 10 port_open "$P_HTTP"
sed "s|/etc/mtlsd|$T/etc|g; s|^listen = .*|listen = 127.0.0.1:$P_LB|; s|^connect = .*|connect = 127.0.0.1:$P_HTTP|; s|^allow_cidr = .*|allow_cidr = 127.0.0.0/8|" \
	"$TOP/examples/lb-backend.ini" > "$T/lb.ini"
start_mtlsd lb "$T/lb.ini" || { not_ok "mtlsd starts with the lb-backend example"; finish; }
alb() { timeout 10 curl -sS --cacert "$T/etc/ca.crt" --resolve backend.internal:$P_LB:127.0.0.1 "$@" \
	"https://backend.internal:$P_LB/health" 2>&1; }
check "an ALB-style client: TLS 1.2, ECDHE-ECDSA-AES128-GCM, no client certificate ($(alb --tls-max 1.2))" \
	test "$(alb --tlsv1.2 --tls-max 1.2 --ciphers ECDHE-ECDSA-AES128-GCM-SHA256)" = healthy
check "the same with TLS 1.3" test "$(alb --tlsv1.3)" = healthy
out=$(alb --tlsv1.2 --tls-max 1.2 --ciphers ECDHE-ECDSA-AES128-SHA)
check "a CBC suite is refused: AEAD suites only, even on TLS 1.2 ($out)" test "$out" != healthy
check "the health-check path answers through mtlsd" \
	test "$(timeout 10 curl -s -o /dev/null -w '%{http_code}' --cacert "$T/etc/ca.crt" \
		--resolve backend.internal:$P_LB:127.0.0.1 https://backend.internal:$P_LB/health)" = 200
stop_mtlsd lb

# 3. user = nobody: privileges dropped after binding; reload still works.
read -r P_ECHO P_SRV <<< "$(free_ports 2)"
if [ "$(id -u)" = 0 ] && id nobody > /dev/null 2>&1; then
	mkdir -p "$T/drop"
	cp "$T/pki/server.crt" "$T/pki/server.key" "$T/pki/ca.crt" "$T/drop/"
	chown nobody "$T/drop/server.key"
	chmod 755 "$T" "$T/drop"
	conf drop <<EOF
[global]
user = nobody
cert = $T/drop/server.crt
key = $T/drop/server.key
ca = $T/drop/ca.crt

[in]
mode = server
listen = 127.0.0.1:$P_SRV
connect = 127.0.0.1:$P_ECHO
EOF
	bg_peer echo echo --listen 127.0.0.1:$P_ECHO
	start_mtlsd drop "$T/drop.ini"
	pid=${PID_OF[drop]}
	check "user = nobody: the process runs as nobody after start-up" \
		test "$(ps -o user= -p "$pid" | tr -d ' ')" = nobody
	check "... and logged the switch" log_has "$T/drop.log" "event=privileges_dropped user=nobody"
	check "... and cannot get root back (NoNewPrivs)" \
		grep -q '^NoNewPrivs:[[:space:]]*1' "/proc/$pid/status"
	$M issue --dir "$T/pki" --name server3 --san dns:localhost > /dev/null
	cp "$T/pki/server3.crt" "$T/drop/new.crt"; cp "$T/pki/server3.key" "$T/drop/new.key"
	chown nobody "$T/drop/new.key"
	mv "$T/drop/new.key" "$T/drop/server.key"; mv "$T/drop/new.crt" "$T/drop/server.crt"
	check "... and a rotation is still picked up as nobody" \
		wait_log "$T/drop.log" "route=in event=reload status=ok" 10
	served=$(timeout 10 openssl s_client -connect 127.0.0.1:$P_SRV -servername localhost \
		-cert "$T/pki/client.crt" -key "$T/pki/client.key" < /dev/null 2>/dev/null |
		openssl x509 -noout -serial)
	check "... and serves the new certificate" test "$served" = "$(openssl x509 -noout -serial -in "$T/pki/server3.crt")"
	stop_mtlsd drop
	chmod 700 "$T"
else
	skip "privilege drop needs root and a 'nobody' user"
fi

# 4. drain_timeout: what has not finished by then is closed.
read -r P_ECHO2 P_SRV2 <<< "$(free_ports 2)"
conf drain <<EOF
[global]
log_level = debug
drain_timeout = 1s
cert = $T/pki/server.crt
key = $T/pki/server.key
ca = $T/pki/ca.crt

[in]
mode = server
listen = 127.0.0.1:$P_SRV2
connect = 127.0.0.1:$P_ECHO2
EOF
bg_peer echo2 echo --listen 127.0.0.1:$P_ECHO2

# stop_with SIGNAL: mtlsd with one idle client connected, stopped by SIGNAL;
# sets rc (its exit status) and ms (how long it took to exit).
stop_with() {
	: > "$T/drain.log"
	start_mtlsd drain "$T/drain.ini"
	exec 7> >(timeout 30 openssl s_client -connect 127.0.0.1:$P_SRV2 -servername localhost \
		-CAfile "$T/pki/ca.crt" -cert "$T/pki/client.crt" -key "$T/pki/client.key" \
		-quiet > /dev/null 2>&1)
	wait_log "$T/drain.log" "event=handshake_ok" 10
	local started=$(date +%s%N)
	kill -"$1" "${PID_OF[drain]}"
	wait "${PID_OF[drain]}"; rc=$?; unset "PID_OF[drain]"
	ms=$(( ($(date +%s%N) - started) / 1000000 ))
	exec 7>&-
}

stop_with TERM
check "with an idle connection open, SIGTERM exits after drain_timeout (1 s: took ${ms} ms, rc $rc)" \
	eval 'test $rc -eq 0 && test $ms -ge 900 && test $ms -lt 5000'
check "... closing that connection with reason=shutdown" log_has "$T/drain.log" "event=close .*reason=shutdown"

# SIGINT: exit now, whatever drain_timeout says.
sed -i 's/^drain_timeout = .*/drain_timeout = 30s/' "$T/drain.ini"
stop_with INT
check "SIGINT exits at once with a connection open (took ${ms} ms, rc $rc; drain_timeout is 30 s)" \
	eval 'test $rc -eq 0 && test $ms -lt 3000'
check "... closing it with reason=shutdown" log_has "$T/drain.log" "event=close .*reason=shutdown"
finish
