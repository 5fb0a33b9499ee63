#!/bin/bash
# The audit trail as a SIEM correlates it, and the operator log as logfmt:
# each record's host, conn_id (the operator log's conn=, unique across a
# restart), peer certificate serial / SHA-256 / issuer as OpenSSL reads the
# same certificate, the SNI sent and received, the upstream, IANA cipher
# names for TLS 1.3 and 1.2; a hostile huge issuer cut, marked and counted
# in /metrics; records lost to a full disk (/dev/full) counted there too;
# every operator log line read by a strict logfmt parser, a hostile name
# and the details decoding exactly.  lib.sh's finish then validates every
# record against examples/mtlsd-audit.schema.json.
. "$(dirname "$0")/lib.sh"

make_pki || { not_ok "PKI"; finish; }
read -r P_ECHO P_SRV P_CLI P_ADMIN P_FULL P_FULLADM <<< "$(free_ports 6)"
LOGFMT="python3 $TOP/tests/e2e/logfmt.py"
A="$T/audit.jsonl"

# Certificates made by OpenSSL: a hostile CN signed by our CA (quotes, a
# newline, a backslash, bytes that are not UTF-8; no SAN, so the CN is the
# identity), and a self-signed one whose issuer DN is ~1.5 KB.
openssl ecparam -name prime256v1 -genkey -noout -out "$T/hostile.key" 2>/dev/null
chmod 600 "$T/hostile.key"
printf '[req]\ndistinguished_name=dn\nstring_mask=nombstr\n[dn]\n' > "$T/req.cnf"
openssl req -new -key "$T/hostile.key" -config "$T/req.cnf" \
	-subj $'/CN=evil"\nname\\\\x\xff\xfe' -out "$T/hostile.csr" 2>/dev/null
printf 'extendedKeyUsage=clientAuth\n' > "$T/ext"
openssl x509 -req -in "$T/hostile.csr" -CA "$T/pki/ca.crt" -CAkey "$T/pki/ca.key" \
	-CAcreateserial -days 2 -extfile "$T/ext" -out "$T/hostile.crt" 2>/dev/null
subj="/CN=huge"
for i in $(seq 1 24); do subj="$subj/OU=$(printf "unit-%02d-%055d" "$i" 0)"; done
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
	-keyout "$T/huge.key" -out "$T/huge.crt" -days 2 -subj "$subj" 2>/dev/null
chmod 600 "$T/huge.key"
check "OpenSSL made the hostile and the huge-issuer certificates" \
	test -s "$T/hostile.crt" -a -s "$T/huge.crt"

# One worker: its records reach the file in the order of the connections
# (two workers' buffers flush independently), so "the first TLS 1.3 record"
# below is the ChaCha20 one.
conf a <<EOF
[global]
workers = 1
audit_log = $A
admin_listen = 127.0.0.1:$P_ADMIN
cert = $T/pki/server.crt
key = $T/pki/server.key
ca = $T/pki/ca.crt

[in]
mode = server
listen = 127.0.0.1:$P_SRV
connect = 127.0.0.1:$P_ECHO
tls_min_version = 1.2

[out]
mode = client
listen = 127.0.0.1:$P_CLI
connect = 127.0.0.1:$P_SRV
server_name = localhost
cert = $T/pki/client.crt
key = $T/pki/client.key
EOF

bg_peer echo echo --listen 127.0.0.1:$P_ECHO
start_mtlsd a "$T/a.ini" || { not_ok "mtlsd starts"; finish; }

# s_client CERT KEY ARGS...: one line through route in; its handshake
# summary in $T/sc.out.
s_client() {
	local cert=$1 key=$2; shift 2
	printf 'ping\n' | timeout 10 openssl s_client -connect 127.0.0.1:$P_SRV \
		-servername localhost -CAfile "$T/pki/ca.crt" \
		${cert:+-cert "$cert" -key "$key"} "$@" > "$T/sc.out" 2>&1
}
metric() { # NAME PORT: the unlabelled metric's value at that admin port, 0 if absent
	local v
	v=$(curl -s "http://127.0.0.1:$2/metrics" | awk -v k="$1" '$1 == k { print $2 }')
	echo "${v:-0}"
}
# records FILTER: the audit records (one JSON a line) a Python expression
# on r keeps, e.g. 'r["event"] == "close"'.
records() {
	python3 -c 'import json, sys
for l in open(sys.argv[1], encoding="utf-8"):
    r = json.loads(l)
    if '"$1"': print(json.dumps(r))' "$A"
}
# field FILTER KEY: KEY of the first record FILTER keeps ("" if none).
field() {
	python3 -c 'import json, sys
for l in open(sys.argv[1], encoding="utf-8"):
    r = json.loads(l)
    if '"$1"':
        print(r.get(sys.argv[2], "")); break' "$A" "$2"
}
closes() { test "$(records "r[\"event\"] == \"close\"" | wc -l)" -ge "$1"; }

# 1. OpenSSL's client: TLS 1.3, ChaCha20; TLS 1.2, ECDHE-ECDSA AES-128-GCM;
# a client without a certificate; the hostile name.
s_client "$T/pki/client.crt" "$T/pki/client.key" -tls1_3 \
	-ciphersuites TLS_CHACHA20_POLY1305_SHA256
ossl13=$(sed -n 's/.*Cipher is \(TLS_[A-Z0-9_]*\).*/\1/p' "$T/sc.out" | head -n 1)
s_client "$T/pki/client.crt" "$T/pki/client.key" -tls1_2 \
	-cipher ECDHE-ECDSA-AES128-GCM-SHA256
s_client "" ""
s_client "$T/hostile.crt" "$T/hostile.key"
s_client "$T/huge.crt" "$T/huge.key"
# 2. Through both routes: OpenSSL-free, mtlsd's client to mtlsd's server.
out=$($PEER roundtrip --connect 127.0.0.1:$P_CLI --bytes 4096)
check "a connection through route out and route in ($out)" grep -q 'match=yes' <<< "$out"
check "the audit trail has the 7 closes (flushed each second)" wait_for 10 closes 7

ok13='r["event"] == "handshake_ok" and r["route"] == "in" and r["tls_version"] == "TLSv1.3" and r.get("peer_id") == "spiffe://test/client"'
ok12='r["event"] == "handshake_ok" and r["tls_version"] == "TLSv1.2"'
serial=$(openssl x509 -in "$T/pki/client.crt" -noout -serial | sed 's/^serial=//' | tr 'A-F' 'a-f')
fp=$(openssl x509 -in "$T/pki/client.crt" -noout -fingerprint -sha256 | sed 's/^.*=//; s/://g' | tr 'A-F' 'a-f')
issuer=$(openssl x509 -in "$T/pki/client.crt" -noout -issuer -nameopt RFC2253 | sed 's/^issuer=//')
check "peer_serial is the serial OpenSSL reads ($serial)" \
	test "$(field "$ok13" peer_serial)" = "$serial"
check "peer_fingerprint_sha256 is OpenSSL's SHA-256 fingerprint ($fp)" \
	test "$(field "$ok13" peer_fingerprint_sha256)" = "$fp"
check "peer_issuer is the CA's DN ($issuer)" test "$(field "$ok13" peer_issuer)" = "$issuer"
check "sni is the name the client sent (localhost)" test "$(field "$ok13" sni)" = localhost
check "cipher is the IANA name, as OpenSSL's client names it ($ossl13)" \
	test "$(field "$ok13" cipher)" = "$ossl13" -a "$ossl13" = TLS_CHACHA20_POLY1305_SHA256
check "... and for TLS 1.2: TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256" \
	test "$(field "$ok12" cipher)" = TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
check "host is this machine's name ($(hostname))" \
	test "$(field 'r["event"] == "close"' host)" = "$(hostname)"
check "a server route's close names its upstream, the app (127.0.0.1:$P_ECHO)" \
	test "$(field 'r["event"] == "close" and r["route"] == "in"' upstream)" = "127.0.0.1:$P_ECHO"
cli='r["event"] == "close" and r["route"] == "out"'
check "a client route's close names its upstream, the peer's mtlsd (127.0.0.1:$P_SRV)" \
	test "$(field "$cli" upstream)" = "127.0.0.1:$P_SRV"
check "... and the SNI it sent (localhost)" test "$(field "$cli" sni)" = localhost
check "... and the server certificate's fingerprint" test "$(field "$cli" peer_fingerprint_sha256)" = \
	"$(openssl x509 -in "$T/pki/server.crt" -noout -fingerprint -sha256 | sed 's/^.*=//; s/://g' | tr 'A-F' 'a-f')"
check "the operator log's close line names it too (upstream=127.0.0.1:$P_SRV)" \
	log_has "$T/a.log" "route=out event=close .* upstream=127\.0\.0\.1:$P_SRV "

# conn_id: the run id of the started line, then the number; the operator
# log's conn= is the same string for the same connection.
run=$(sed -n 's/.*event=started .*run=\([0-9a-f]*\).*/\1/p' "$T/a.log")
check "the started line gives the run id ($run)" grep -qE '^[0-9a-f]{16}$' <<< "$run"
ids_ok() {
	python3 - "$A" "$T/a.log" "$run" <<'EOF'
import json, re, sys
recs = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
log = open(sys.argv[2], encoding="utf-8", errors="replace").read()
run = sys.argv[3]
n = 0
for r in recs:
    if "conn" not in r:
        continue
    assert r["conn_id"] == "%s-%d" % (run, r["conn"]), r
    if r["event"] == "close":
        # The close line of the same connection: same id, same peer.
        m = re.search(r"conn=%s route=%s event=close peer=%s " % (
            re.escape(r["conn_id"]), r["route"], re.escape(r["peer_addr"])), log)
        assert m, "no close line for %s" % r["conn_id"]
        n += 1
assert n >= 7, n
print("# matched", n)
EOF
}
check "every record's conn_id is RUN-conn, and each close line has the record's id" ids_ok

# The hostile, huge issuer: cut at 1024 bytes, marked, counted.
huge='r["event"] == "handshake_fail" and r.get("peer_id") == "huge"'
check "the huge self-signed certificate fails (unknown_ca)" \
	test "$(field "$huge" reason)" = unknown_ca
check "... its issuer is cut and ends in U+2026, the record marked truncated" \
	test "$(records "$huge and r[\"peer_issuer\"].endswith(\"\\u2026\") and r[\"truncated\"] is True" | wc -l)" = 1
ntrunc=$(records 'r.get("truncated")' | wc -l)
check "mtlsd_audit_records_truncated_total counts the $ntrunc truncated records" \
	test "$(metric mtlsd_audit_records_truncated_total $P_ADMIN)" = "$ntrunc"
written_eq() { test "$(metric mtlsd_audit_records_written_total $P_ADMIN)" = "$(wc -l < "$A")"; }
check "mtlsd_audit_records_written_total equals the file's lines ($(wc -l < "$A"))" \
	wait_for 5 written_eq
check "... and none dropped" test "$(metric mtlsd_audit_records_dropped_total $P_ADMIN)" = 0

# The operator log as logfmt: every line parses; the values decode.
check "every line of the operator log reads as logfmt" eval '$LOGFMT "$T/a.log" > "$T/a.logfmt"'
decoded() { # FILTER (Python on d, a line's pairs): whether one line matches
	python3 -c 'import json, sys
sys.exit(0 if any('"$1"' for d in map(json.loads, open(sys.argv[1]))) else 1)' "$T/a.logfmt"
}
check "the hostile name decodes exactly from id= (quote, newline, backslash; U+FFFD)" \
	decoded 'd.get("event") == "close" and d.get("id") == "evil\"\nname\\x\ufffd\ufffd"'
check "a detail with spaces decodes whole (detail=\"...\", logfmt quoting)" \
	decoded 'd.get("event") == "close" and d.get("reason") == "unknown_ca" and d.get("detail") == "The certificate is not correctly signed by the trusted CA"'
check "no \\x20 escapes are left in the log" eval '! grep -q "\\\\x20" "$T/a.log"'

# A restart: numbers start again at 1, ids do not repeat.
stop_mtlsd a
start_mtlsd a2 "$T/a.ini" || { not_ok "mtlsd restarts"; finish; }
s_client "$T/pki/client.crt" "$T/pki/client.key"
check "the restarted mtlsd's records reach the file" wait_for 10 closes 8
stop_mtlsd a2
uniq_ok() {
	python3 - "$A" <<'EOF'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
firsts = {r["conn_id"] for r in recs if r.get("conn") == 1 and r["event"] == "accept"}
closes = [r["conn_id"] for r in recs if r["event"] == "close"]
assert len(firsts) == 2, firsts
assert len(closes) == len(set(closes)), closes
print("#", sorted(firsts))
EOF
}
check "conn 1 of each run has its own conn_id, no close shares one" uniq_ok

# A full disk: records dropped, counted, never written.
conf full <<EOF
[global]
workers = 1
audit_log = /dev/full
admin_listen = 127.0.0.1:$P_FULLADM
cert = $T/pki/server.crt
key = $T/pki/server.key
ca = $T/pki/ca.crt

[in]
mode = server
listen = 127.0.0.1:$P_FULL
connect = 127.0.0.1:$P_ECHO
EOF
start_mtlsd full "$T/full.ini" || { not_ok "mtlsd starts on /dev/full"; finish; }
printf 'ping\n' | timeout 10 openssl s_client -connect 127.0.0.1:$P_FULL -servername localhost \
	-CAfile "$T/pki/ca.crt" -cert "$T/pki/client.crt" -key "$T/pki/client.key" > /dev/null 2>&1
dropped3() { test "$(metric mtlsd_audit_records_dropped_total $P_FULLADM)" = 3; }
check "on a full disk the 3 records (accept, handshake_ok, close) count as dropped" \
	wait_for 10 dropped3
check "... none as written" test "$(metric mtlsd_audit_records_written_total $P_FULLADM)" = 0
check "... and the failure is logged once, with its errno" \
	test "$(count_log "$T/full.log" 'event=audit_write path=/dev/full .*No space left on device')" = 1
stop_mtlsd full
finish
