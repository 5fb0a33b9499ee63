#!/bin/bash
# Rotation without downtime: atomic renames during a transfer, a bad
# rotation that changes nothing, a CRL that arrives by reload and closes a
# live connection, SIGHUP, and stale CRLs.
. "$(dirname "$0")/lib.sh"

make_pki || { not_ok "PKI"; finish; }
read -r P_ECHO P_SRV P_CLI <<< "$(free_ports 3)"
M="$MTLSD certs"

# The live files mtlsd reads, in their own directory, replaced by rename.
mkdir -p "$T/live"
cp "$T/pki/server.crt" "$T/live/node.crt"
cp "$T/pki/server.key" "$T/live/node.key"
cp "$T/pki/ca.crt" "$T/live/ca.crt"

# An openssl CA database to make CRLs with, for our CA.
cat > "$T/ca.cnf" <<EOF
[ ca ]
default_ca = CA_default
[ CA_default ]
database = $T/index.txt
crlnumber = $T/crlnumber
default_md = sha256
default_crl_days = 7
EOF
touch "$T/index.txt"; echo 01 > "$T/crlnumber"
gencrl() { openssl ca -config "$T/ca.cnf" -gencrl -keyfile "$T/pki/ca.key" \
	-cert "$T/pki/ca.crt" -out "$1" "${@:2}" > /dev/null 2>&1; }
gencrl "$T/empty.crl"
$M issue --dir "$T/pki" --name client2k --san uri:spiffe://test/client2k > /dev/null
cp "$T/empty.crl" "$T/live/ca.crl"

conf rot <<EOF
[global]
workers = 2
log_level = debug
ca = $T/live/ca.crt
crl = $T/live/ca.crl

[in]
mode = server
listen = 127.0.0.1:$P_SRV
connect = 127.0.0.1:$P_ECHO
cert = $T/live/node.crt
key = $T/live/node.key

[out]
mode = client
listen = 127.0.0.1:$P_CLI
connect = 127.0.0.1:$P_SRV
server_name = localhost
cert = $T/pki/client.crt
key = $T/pki/client.key
EOF

bg_peer echo echo --listen 127.0.0.1:$P_ECHO
start_mtlsd rot "$T/rot.ini" || { not_ok "mtlsd starts"; finish; }

serial_served() {
	timeout 10 openssl s_client -connect 127.0.0.1:$P_SRV -servername localhost \
		-CAfile "$T/pki/ca.crt" -cert "$T/pki/client.crt" -key "$T/pki/client.key" \
		< /dev/null 2>/dev/null | openssl x509 -noout -serial 2>/dev/null
}
serial_of() { openssl x509 -noout -serial -in "$1"; }
replace() { cp "$1" "$2.tmp" && chmod --reference="$1" "$2.tmp" && mv -f "$2.tmp" "$2"; }
reloads() { count_log "$T/rot.log" 'event=reload trigger=.* status='; }
wait_reloads() { local want=$1; wait_for 10 eval 'test "$(reloads)" -ge '"$want"; }

old=$(serial_of "$T/pki/server.crt")
check "mtlsd serves the first certificate ($old)" test "$(serial_served)" = "$old"

# 1. Rotation by atomic rename while 64 MiB flow through the route.
$M issue --dir "$T/pki" --name server2 --san dns:localhost,ip:127.0.0.1 > /dev/null
new=$(serial_of "$T/pki/server2.crt")
$PEER roundtrip --connect 127.0.0.1:$P_CLI --bytes $((64 << 20)) > "$T/big.out" &
big=$!
wait_log "$T/rot.log" "route=in event=handshake_ok" 10
n=$(reloads)
replace "$T/pki/server2.key" "$T/live/node.key"
replace "$T/pki/server2.crt" "$T/live/node.crt"
wait_reloads $((n + 1))
check "the rename is picked up without a signal (inotify)" \
	wait_log "$T/rot.log" "route=in event=reload status=ok" 10
wait $big; rc=$?
check "the 64 MiB transfer that was live during the rotation completes intact ($(cat "$T/big.out"))" \
	eval 'test $rc -eq 0 && grep -q match=yes "$T/big.out"'
check "new connections get the new certificate ($new)" test "$(serial_served)" = "$new"

# 2. A bad rotation changes nothing: garbage, a key that does not match,
# an expired certificate.  Each is logged with its reason and counted.
bad_rotation() {
	local desc=$1 why=$2
	check "bad rotation ($desc): logged as failed with the reason" \
		wait_log "$T/rot.log" "route=in event=reload status=failed error=.*$why.*action=kept_previous" 10
	check "bad rotation ($desc): the previous certificate keeps serving" \
		test "$(serial_served)" = "$new"
}
printf 'garbage\n' > "$T/junk.crt"
replace "$T/junk.crt" "$T/live/node.crt"
bad_rotation "unparsable" "cannot parse certificate"
replace "$T/pki/client.crt" "$T/live/node.crt"
bad_rotation "key does not match" "does not match the certificate"
replace "$T/pki/expired.key" "$T/live/node.key"
replace "$T/pki/expired.crt" "$T/live/node.crt"
bad_rotation "expired certificate" "expired on"
check "mtlsd is still running after three bad rotations" kill -0 "${PID_OF[rot]}"
replace "$T/pki/server2.key" "$T/live/node.key"
replace "$T/pki/server2.crt" "$T/live/node.crt"
wait_log "$T/rot.log" "route=in event=reload status=ok" 10

# 3. A CRL added by reload closes a live connection from the revoked peer.
exec 7> >($PEER hold --connect 127.0.0.1:$P_CLI > "$T/held.out")
wait_for 10 grep -q connected "$T/held.out"
# The client route's handshake with the server route is done when both logged it.
hs() { test "$(count_log "$T/rot.log" 'route=in event=handshake_ok')" -ge 3; }
wait_for 10 hs
openssl ca -config "$T/ca.cnf" -revoke "$T/pki/client.crt" -keyfile "$T/pki/ca.key" \
	-cert "$T/pki/ca.crt" > /dev/null 2>&1
gencrl "$T/revoked.crl"
n=$(reloads)
replace "$T/revoked.crl" "$T/live/ca.crl"
check "the new CRL is loaded by reload" wait_reloads $((n + 1))
check "the live connection from the revoked peer is closed (reason=reauth_revoked)" \
	wait_log "$T/rot.log" "route=in event=close .*id=spiffe://test/client .*reason=reauth_revoked" 10
exec 7>&-
out=$(printf 'ping\n' | timeout 10 openssl s_client -connect 127.0.0.1:$P_SRV -servername localhost \
	-CAfile "$T/pki/ca.crt" -cert "$T/pki/client.crt" -key "$T/pki/client.key" -ign_eof 2>&1)
check "a new connection from the revoked peer is refused (reason=revoked)" \
	wait_log "$T/rot.log" "route=in event=close .*reason=revoked" 10

# reauthorize = keep: a live connection outlives the reload that would
# refuse it now; only new connections meet the new policy.
openssl ca -config "$T/ca.cnf" -revoke "$T/pki/client2k.crt" -keyfile "$T/pki/ca.key" \
	-cert "$T/pki/ca.crt" > /dev/null 2>&1
sed -i 's/^\[in\]$/[in]\nreauthorize = keep/' "$T/rot.ini"
kill -HUP "${PID_OF[rot]}"
wait_log "$T/rot.log" "event=reload trigger=sighup" 10
exec 8> >(timeout 30 openssl s_client -connect 127.0.0.1:$P_SRV -servername localhost \
	-CAfile "$T/pki/ca.crt" -cert "$T/pki/client2k.crt" -key "$T/pki/client2k.key" \
	-quiet -no_ign_eof \
	> "$T/keep.out" 2>&1)
wait_log "$T/rot.log" "route=in event=handshake_ok .*id=spiffe://test/client2k" 10
gencrl "$T/revoked2.crl"
n=$(reloads)
replace "$T/revoked2.crl" "$T/live/ca.crl"
wait_reloads $((n + 1))
check "reauthorize = keep: the revoked peer's live connection stays open" \
	eval '! log_has "$T/rot.log" "id=spiffe://test/client2k .*reason=reauth"'
exec 8>&-
check "... until it ends by itself" wait_log "$T/rot.log" "route=in event=close .*id=spiffe://test/client2k .*reason=eof" 10
sed -i '/^reauthorize = keep$/d' "$T/rot.ini"
kill -HUP "${PID_OF[rot]}"

# 4. SIGHUP reloads too; with nothing changed, nothing is swapped.
n=$(reloads)
kill -HUP "${PID_OF[rot]}"
check "SIGHUP reloads (changed=0 when nothing changed)" \
	wait_log "$T/rot.log" "event=reload trigger=sighup status=ok changed=0" 10

# 5. A stale CRL (nextUpdate in the past) is logged loudly; with the default
# crl_stale = warn it is still used; with crl_stale = refuse, nobody gets in.
$M issue --dir "$T/pki" --name client2 --san uri:spiffe://test/client2 > /dev/null
ping_as() {
	printf 'ping\n' | timeout 10 openssl s_client -connect 127.0.0.1:$P_SRV \
		-servername localhost -CAfile "$T/pki/ca.crt" -cert "$T/pki/$1.crt" \
		-key "$T/pki/$1.key" -ign_eof 2>&1 | grep -q '^got\|^ping'
}
gencrl "$T/stale.crl" -crl_lastupdate 20200101000000Z -crl_nextupdate 20200102000000Z
if openssl crl -in "$T/stale.crl" -noout -nextupdate 2>/dev/null | grep -q 2020; then
	replace "$T/stale.crl" "$T/live/ca.crl"
	check "a stale CRL is logged loudly at reload" \
		wait_log "$T/rot.log" "route=in event=crl_stale .*policy=warn" 10
	check "crl_stale = warn: the stale CRL is used and unrevoked peers get in" ping_as client2
	check "... and the admission on a stale CRL is logged where it happens" \
		wait_log "$T/rot.log" "route=in event=crl_stale_used" 5
	sed -i 's/^crl = .*/&\ncrl_stale = refuse/' "$T/rot.ini"
	kill -HUP "${PID_OF[rot]}"
	check "crl_stale = refuse is applied by SIGHUP and logged as an error" \
		wait_log "$T/rot.log" "route=in event=crl_stale .*policy=refuse" 10
	check "crl_stale = refuse: nobody gets through a route with a stale CRL" \
		eval '! ping_as client2'
	check "the refusal names the stale CRL (reason=crl_stale)" \
		wait_log "$T/rot.log" "event=close .*reason=crl_stale" 10
else
	skip "openssl cannot back-date a CRL here"
fi

stop_mtlsd rot
finish
