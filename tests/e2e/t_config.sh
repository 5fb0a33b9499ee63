#!/bin/bash
# Bad input at start-up: mtlsd check and mtlsd run refuse it with
# FILE:LINE and exit 1; good input passes check.
. "$(dirname "$0")/lib.sh"

make_pki || { not_ok "PKI"; finish; }
read -r P1 P2 P_BUSY <<< "$(free_ports 3)"

good() {
	cat <<EOF
[global]
cert = $T/pki/server.crt
key = $T/pki/server.key
ca = $T/pki/ca.crt

[in]
mode = server
listen = 127.0.0.1:$P1
connect = 127.0.0.1:$P2
EOF
}
good > "$T/good.ini"
out=$("$MTLSD" check -c "$T/good.ini" 2>&1); rc=$?
check "mtlsd check accepts a good config (rc=$rc: $out)" test $rc -eq 0

# refused NAME EXPECTED_LINE REGEX: check and run both exit 1 with FILE:LINE.
refused() {
	local name=$1 line=$2 re=$3 out rc
	out=$("$MTLSD" check -c "$T/$name.ini" 2>&1); rc=$?
	check "check refuses $name with exit 1 (rc=$rc)" test $rc -eq 1
	check "check names $name.ini:$line and says why ($out)" \
		grep -qE "^$T/$name.ini:$line: .*$re" <<< "$out"
	out=$(timeout 10 "$MTLSD" run -c "$T/$name.ini" 2>&1); rc=$?
	check "run refuses $name too, with the same FILE:LINE (rc=$rc)" \
		eval 'test $rc -eq 1 && grep -qE "^$T/$name.ini:$line: " <<< "$out"'
}

good | sed 's/^mode = server/mode = proxy/' > "$T/badmode.ini"
refused badmode 7 "mode: expected server, client or transparent"
good | sed 's/^listen = .*/lissen = 127.0.0.1:1/' > "$T/typo.ini"
refused typo 8 "unknown key 'lissen'"
good | sed '/^listen/d' > "$T/nolisten.ini"
refused nolisten 6 "missing 'listen'"
good | sed 's/^connect = .*/connect = 127.0.0.1:99999/' > "$T/badport.ini"
refused badport 9 "port must be a number from 1 to 65535"
{ good; printf '\n[dup]\nmode = server\nlisten = 127.0.0.1:%s\nconnect = 127.0.0.1:1\n' $P1; } > "$T/duplisten.ini"
refused duplisten 13 "clashes with route \[in\]"
good | sed "s|^ca = .*|ca = $T/pki/nonexistent.crt|" > "$T/noca.ini"
refused noca 4 "cannot read '$T/pki/nonexistent.crt'"
printf '[global]\nhandshake_timeout = 10\n' > "$T/dur.ini"
refused dur 2 "a duration needs a unit"

# Certificates and keys are checked too, with the line of the key that names them.
cp "$T/pki/server.key" "$T/loose.key"; chmod 644 "$T/loose.key"
good | sed "s|^key = .*|key = $T/loose.key|" > "$T/loosekey.ini"
refused loosekey 3 "mode 0644.*chmod 600 $T/loose.key"
good | sed "s|^key = .*|key = $T/pki/client.key|" > "$T/mismatch.ini"
refused mismatch 3 "does not match the certificate"
good | sed "s|^cert = .*|cert = $T/pki/expired.crt|; s|^key = .*|key = $T/pki/expired.key|" > "$T/ownexpired.ini"
refused ownexpired 2 "expired on"
printf 'not a certificate\n' > "$T/junk.crt"
good | sed "s|^ca = .*|ca = $T/junk.crt|" > "$T/junkca.ini"
refused junkca 4 "cannot parse CA certificate"

# A certificate that expires within 7 days: check warns, and still passes;
# run warns at start.
"$MTLSD" certs issue --dir "$T/pki" --name shortlived --san dns:localhost --days 3 > /dev/null
good | sed "s|^cert = .*|cert = $T/pki/shortlived.crt|; s|^key = .*|key = $T/pki/shortlived.key|" > "$T/soon.ini"
out=$("$MTLSD" check -c "$T/soon.ini" 2>&1); rc=$?
check "check warns of a certificate expiring within 7 days, and passes (rc=$rc: $out)" \
	eval 'test $rc -eq 0 && grep -q "soon.ini:2: warning: cert: .*expires in 2 day" <<< "$out"'
# A route ending tunnels with a certificate that names no address: the
# transparent routes that dial this node would fail their name check.
good | sed "s|^connect = .*|connect = original\nallow_ports = $P2|;
    s|^cert = .*|cert = $T/pki/client.crt|; s|^key = .*|key = $T/pki/client.key|" > "$T/noip.ini"
out=$("$MTLSD" check -c "$T/noip.ini" 2>&1); rc=$?
check "check warns when a tunnel-ending route's certificate has no ip: SAN (rc=$rc: $out)" \
	eval 'test $rc -eq 0 && grep -q "noip.ini:2: warning: cert: \[in\].s certificate has no ip: SAN" <<< "$out"'
out=$(good | sed "s|^connect = .*|connect = original\nallow_ports = $P2|" > "$T/withip.ini";
    "$MTLSD" check -c "$T/withip.ini" 2>&1)
check "... and not when it has one ($out)" eval '! grep -q warning <<< "$out"'
bg noip "$MTLSD" run -c "$T/noip.ini"
check "run warns of it at start (event=cert_no_ip_san)" \
	wait_log "$T/noip.log" "route=in event=cert_no_ip_san: " 10
stop noip
bg soon "$MTLSD" run -c "$T/soon.ini"
check "run warns of it at start (event=cert_expiring days_left=2)" \
	wait_log "$T/soon.log" "route=in event=cert_expiring days_left=2 " 10
stop soon

# A port another process holds: run says which, exits 1.
bg_peer busy echo --listen 127.0.0.1:$P_BUSY
good | sed "s|^listen = .*|listen = 127.0.0.1:$P_BUSY|" > "$T/busy.ini"
out=$(timeout 10 "$MTLSD" run -c "$T/busy.ini" 2>&1); rc=$?
check "run refuses a port in use, naming it (rc=$rc: $out)" \
	eval 'test $rc -eq 1 && grep -q "listen 127.0.0.1:$P_BUSY: Address already in use" <<< "$out"'

out=$("$MTLSD" check -c "$T/missing.ini" 2>&1); rc=$?
check "a missing config file: exit 1, 'cannot open' ($out)" \
	eval 'test $rc -eq 1 && grep -q "missing.ini: cannot open" <<< "$out"'
out=$("$MTLSD" frobnicate 2>&1); rc=$?
check "an unknown command: usage and exit 2" test $rc -eq 2

# mtlsd nft: the shipped example's rules are what it makes of the shipped
# config, and nftables accepts them; a transparent route without its peer
# networks, or with a prefix of the other family, is refused by name.
mkdir -p "$T/ex"
sed "s#/etc/mtlsd/#$T/ex/#g; s#/var/log/mtlsd/#$T/ex/#g" \
	"$TOP/examples/transparent-node.ini" > "$T/ex/mtlsd.ini"
cp -p "$T/pki/server.crt" "$T/ex/node.crt"; cp -p "$T/pki/server.key" "$T/ex/node.key"
cp -p "$T/pki/ca.crt" "$T/ex/ca.crt"
"$MTLSD" nft -c "$T/ex/mtlsd.ini" > "$T/ex/rules.nft" 2> "$T/ex/err"; rc=$?
check "mtlsd nft makes the example's rules (rc=$rc: $(cat "$T/ex/err"))" test $rc -eq 0
check "... and they are examples/transparent-node.nft, line for line" \
	diff <(sed "s#from $T/ex/mtlsd.ini#from /etc/mtlsd/mtlsd.ini#" "$T/ex/rules.nft") \
	"$TOP/examples/transparent-node.nft"
if command -v nft > /dev/null; then
	check "... which nftables accepts (nft -c)" nft -c -f "$T/ex/rules.nft"
else
	skip "nft -c: nftables is not installed"
fi
check "... with the loop guard first, the redirect, and the inbound drop" eval \
	'grep -q "fib daddr type local return" "$T/ex/rules.nft" &&
	 grep -q "ip daddr { 10.0.0.0/24 } tcp dport != 7443 redirect to :15001" "$T/ex/rules.nft" &&
	 grep -q "tcp dport { 7443, 22 } accept" "$T/ex/rules.nft" &&
	 grep -q "meta l4proto tcp ct state new drop" "$T/ex/rules.nft"'
grep -v '^redirect' "$T/ex/mtlsd.ini" > "$T/ex/noredir.ini"
out=$("$MTLSD" nft -c "$T/ex/noredir.ini" 2>&1); rc=$?
check "a transparent route without redirect: nft exits 1 and names it ($out)" \
	eval 'test $rc -eq 1 && grep -q "noredir.ini:[0-9]*: \[mesh-out\]: mtlsd nft needs redirect" <<< "$out"'
out=$("$MTLSD" check -c "$T/ex/noredir.ini" 2>&1)
check "... and check warns of it" grep -q "warning: \[mesh-out\] has no redirect" <<< "$out"
sed 's#^redirect = .*#redirect = fd00::/64#' "$T/ex/mtlsd.ini" > "$T/ex/fam.ini"
out=$("$MTLSD" check -c "$T/ex/fam.ini" 2>&1); rc=$?
check "an IPv6 redirect on a route listening on 127.0.0.1 is an error ($out)" \
	eval 'test $rc -eq 1 && grep -q "fam.ini:[0-9]*: \[mesh-out\]: redirect fd00::/64 is IPv6" <<< "$out"'
finish
