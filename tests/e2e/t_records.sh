#!/bin/bash
# mtlsd's own record layer (libgcrypt, after mbedTLS's handshake) against
# independent peers: OpenSSL's s_client and s_server for each AEAD in TLS 1.3
# and 1.2, OpenSSL's KeyUpdates (k, K) and mtlsd's own (key_update_records),
# mtlsd <-> mtlsd (also against mbedTLS's records), and hostile records from
# a man in the middle (recmangle.py) that must close the connection before a
# bad byte reaches the backend.
. "$(dirname "$0")/lib.sh"
RM="python3 $TOP/tests/e2e/recmangle.py"

make_pki || { not_ok "PKI"; finish; }
read -r P_ADMIN P_SWAP P_ECHO P_SINK P_IN P_KIN P_SS P_OUT13 P_OUT12 P_KOUT P_KOUT_BIG P_KOUT12 \
	P_PAIR_IN P_PAIR_OUT P_GC_IN P_MB_IN P_MB_OUT P_GC_OUT P_MID P_MG_IN P_MG_OUT \
	<<< "$(free_ports 21)"

# route NAME MODE LISTEN CONNECT [LINE...]: one route's section.
route() {
	local name=$1 mode=$2 listen=$3 connect=$4; shift 4
	printf '\n[%s]\nmode = %s\nlisten = 127.0.0.1:%s\nconnect = 127.0.0.1:%s\n' \
		"$name" "$mode" "$listen" "$connect"
	[ "$mode" = client ] && printf 'server_name = localhost\ncert = %s\nkey = %s\n' \
		"$T/pki/client.crt" "$T/pki/client.key"
	[ $# -gt 0 ] && printf '%s\n' "$@"
}
{
	cat <<EOF
[global]
workers = 2
ca = $T/pki/ca.crt
cert = $T/pki/server.crt
key = $T/pki/server.key
admin_listen = 127.0.0.1:$P_ADMIN
; explicit, so that a host with kernel TLS (auto) tests the same layer
record_layer = libgcrypt
EOF
	route ossl-in server $P_IN $P_SWAP "tls_min_version = 1.2"
	route ku-in server $P_KIN $P_ECHO
	route ossl-out13 client $P_OUT13 $P_SS
	route ossl-out12 client $P_OUT12 $P_SS "tls_min_version = 1.2"
	route ku-out client $P_KOUT $P_SS "key_update_records = 4"
	route ku-out-big client $P_KOUT_BIG $P_SS "key_update_records = 4" "buffer_size = 1M"
	route ku-out12 client $P_KOUT12 $P_SS "key_update_records = 4" "tls_min_version = 1.2"
	route pair-in server $P_PAIR_IN $P_ECHO "key_update_records = 16"
	route pair-out client $P_PAIR_OUT $P_PAIR_IN "key_update_records = 16"
	route gc-in server $P_GC_IN $P_ECHO
	route mb-in server $P_MB_IN $P_ECHO "record_layer = mbedtls"
	route mb-out client $P_MB_OUT $P_GC_IN "record_layer = mbedtls"
	route gc-out client $P_GC_OUT $P_MB_IN
	route mangle-out client $P_MG_OUT $P_MID
	route mangle-in server $P_MG_IN $P_SINK
} > "$T/rec.ini"

# Payloads: up (to the backend or s_server), down (to s_client or mtlsd).
mkdir -p "$T/www" "$T/sink"
head -c $(((1 << 20) + 4321)) /dev/urandom > "$T/up"
head -c $(((1 << 20) + 1234)) /dev/urandom > "$T/www/down.bin"
head -c $((2 << 20)) /dev/urandom > "$T/up2"
{ echo "sha256:$(sha256sum < "$T/up" | cut -d' ' -f1)"; cat "$T/www/down.bin"; } > "$T/expect-in"
printf 'GET /down.bin HTTP/1.0\r\n\r\n' > "$T/get"
mkfifo "$T/quiet" && exec 9<> "$T/quiet"	# s_server's stdin: open, silent

bg_peer echo echo --listen 127.0.0.1:$P_ECHO
bg swap $RM swap --listen 127.0.0.1:$P_SWAP --expect "$(stat -c %s "$T/up")" --send "$T/www/down.bin"
bg sink $RM sink --listen 127.0.0.1:$P_SINK --dir "$T/sink"
wait_log "$T/swap.log" '^ready' && wait_log "$T/sink.log" '^ready'
start_mtlsd rec "$T/rec.ini" || { not_ok "mtlsd starts"; finish; }

metric() { # NAME ROUTE: the value, 0 when absent
	local v
	v=$(curl -s "http://127.0.0.1:$P_ADMIN/metrics" | awk -v k="$1{route=\"$2\"}" '$1 == k { print $2 }')
	echo "${v:-0}"
}
updates_ge() { [ "$(metric mtlsd_key_updates_total "$1")" -ge "$2" ]; }
updates_eq() { wait_for 5 updates_ge "$1" "$2"; [ "$(metric mtlsd_key_updates_total "$1")" = "$2" ]; }
closed_n() { [ "$(grep -cE "route=$1 event=close " "$T/rec.log")" -ge "$2" ]; }
# close_line ROUTE N: the route's Nth close line, once there.
close_line() {
	wait_for 10 closed_n "$1" "$2"
	grep -E "route=$1 event=close " "$T/rec.log" | sed -n "${2}p"
}
# close_has ROUTE N STRING...: the route's Nth close line has each STRING.
close_has() {
	local line s
	line=$(close_line "$1" "$2"); shift 2
	for s; do
		[[ $line == *"$s"* ]] || { note "close line: ${line:-none}"; return 1; }
	done
}
# detail TEXT: a close line's detail= field as mtlsd writes it (logfmt:
# quoted, as these texts have spaces and no quote or backslash).
detail() { printf 'detail="%s"' "$1"; }
# prefix GOT SENT MAX: GOT is a prefix of SENT, at most MAX bytes long.
prefix() {
	local n; n=$(stat -c %s "$1")
	[ "$n" -le "$3" ] && cmp -s -n "$n" "$1" "$2" || { note "got $n bytes, limit $3"; return 1; }
}
listening() { ss -Hltn "sport = :$1" | grep -q .; }
# s_server NAME VER SUITE ARGS...: openssl s_server for one connection on
# P_SS, in $T/www; what it receives goes to $T/NAME.out.
s_server() {
	local name=$1 ver=$2 suite=$3; shift 3
	( cd "$T/www" && exec timeout 30 openssl s_server -accept $P_SS -naccept 1 -quiet \
		-cert "$T/pki/server.crt" -key "$T/pki/server.key" -CAfile "$T/pki/ca.crt" \
		-Verify 1 -verify_return_error $(ossl_opts "$ver" "$suite") "$@" \
		< "$T/quiet" > "$T/$name.out" 2> "$T/$name.err" ) &
	PID_OF[$name]=$!
	wait_for 10 listening $P_SS
}
ossl_opts() { # VER SUITE: openssl's options for one suite
	case $1 in
	1.3) echo "-tls1_3 -ciphersuites $2" ;;
	1.2) echo "-tls1_2 -cipher $2" ;;
	esac
}
# TLS version, OpenSSL's name for the suite, mbedTLS's (in close lines).
SUITES="1.3 TLS_AES_128_GCM_SHA256 TLS1-3-AES-128-GCM-SHA256
1.3 TLS_AES_256_GCM_SHA384 TLS1-3-AES-256-GCM-SHA384
1.3 TLS_CHACHA20_POLY1305_SHA256 TLS1-3-CHACHA20-POLY1305-SHA256
1.2 ECDHE-ECDSA-AES128-GCM-SHA256 TLS-ECDHE-ECDSA-WITH-AES-128-GCM-SHA256
1.2 ECDHE-ECDSA-AES256-GCM-SHA384 TLS-ECDHE-ECDSA-WITH-AES-256-GCM-SHA384
1.2 ECDHE-ECDSA-CHACHA20-POLY1305 TLS-ECDHE-ECDSA-WITH-CHACHA20-POLY1305-SHA256"

# 1. Interop, every suite.  Server route: s_client sends 1 MiB up; the
# backend answers its sha256 and 1 MiB down.  Client route (one for each
# version): 1 MiB up to s_server (kept as it arrives), then 1 MiB down from
# s_server -WWW.
n_in=0
declare -A n_out=([1.3]=0 [1.2]=0) out_port=([1.3]=$P_OUT13 [1.2]=$P_OUT12)
while read -r ver suite mname; do
	n_in=$((n_in + 1))
	timeout 30 openssl s_client -connect 127.0.0.1:$P_IN -servername localhost -quiet \
		-CAfile "$T/pki/ca.crt" -verify_return_error -cert "$T/pki/client.crt" \
		-key "$T/pki/client.key" $(ossl_opts "$ver" "$suite") \
		< "$T/up" > "$T/sc.out" 2> "$T/sc.err"
	check "s_client $ver $suite: 1 MiB up intact at the backend (sha256), 1 MiB down intact" \
		cmp -s "$T/sc.out" "$T/expect-in"
	check "... server route's close line: TLSv$ver, cipher=$mname, layer=libgcrypt" \
		close_has ossl-in $n_in "tls=TLSv$ver " "cipher=$mname " " layer=libgcrypt"

	out=ossl-out${ver/./} n=$((n_out[$ver] + 2)); n_out[$ver]=$n
	s_server ss-up "$ver" "$suite"
	$RM send --connect 127.0.0.1:${out_port[$ver]} --file "$T/up" --out "$T/none.out"
	wait "${PID_OF[ss-up]}"; rc=$?; unset 'PID_OF[ss-up]'
	check "s_server $ver $suite: 1 MiB from the client route arrives intact (s_server status $rc)" \
		cmp -s "$T/ss-up.out" "$T/up"
	s_server ss-www "$ver" "$suite" -WWW
	$RM send --connect 127.0.0.1:${out_port[$ver]} --file "$T/get" --out "$T/www.out" --hold --body
	wait "${PID_OF[ss-www]}"; unset 'PID_OF[ss-www]'
	check "... and 1 MiB from s_server -WWW arrives intact through the client route" \
		cmp -s "$T/www.out" "$T/www/down.bin"
	check "... $out's close lines: TLSv$ver, cipher=$mname, layer=libgcrypt" \
		eval 'close_has $out $((n - 1)) "tls=TLSv$ver " "cipher=$mname " " layer=libgcrypt" &&
		close_has $out $n "tls=TLSv$ver " "cipher=$mname " " layer=libgcrypt"'
done <<< "$SUITES"
check "mtlsd_connections_libgcrypt_total counts the 6 s_client connections" \
	test "$(metric mtlsd_connections_libgcrypt_total ossl-in)" = 6

# A client route (tls_min_version = 1.2) holding a TLS 1.3 ticket for a
# server that now speaks only TLS 1.2: mbedTLS offers only TLS 1.3 with the
# ticket, which that server refuses.  The route must not stay stuck: the
# next connection (without the ticket) must get through.
s_server ss-t13 1.3 TLS_AES_128_GCM_SHA256
$RM send --connect 127.0.0.1:$P_OUT12 --file "$T/get" --out "$T/none.out"
wait "${PID_OF[ss-t13]}"; unset 'PID_OF[ss-t13]'
for try in 1 2; do
	s_server ss-t12-$try 1.2 ECDHE-ECDSA-AES128-GCM-SHA256 -WWW
	$RM send --connect 127.0.0.1:$P_OUT12 --file "$T/get" --out "$T/t12-$try.out" --hold --body 2>/dev/null
	wait "${PID_OF[ss-t12-$try]}"; unset "PID_OF[ss-t12-$try]"
done
n=$((n_out[1.2] + 2))
cmp -s "$T/t12-1.out" "$T/www/down.bin" ||
	note "the first try failed: $(close_line ossl-out12 $n | grep -o 'reason=.*')"
check "a TLS 1.2-only server after a TLS 1.3 ticket: the route's next try gets through" \
	cmp -s "$T/t12-2.out" "$T/www/down.bin"

# 2. OpenSSL's KeyUpdates: s_client's k (not requested) and K (requested)
# between lines echoed back through a server route.  (SIGPIPE ignored: a
# dead s_client fails its checks rather than ending this script.)
trap '' PIPE
coproc SC { exec timeout 30 openssl s_client -connect 127.0.0.1:$P_KIN -servername localhost \
	-CAfile "$T/pki/ca.crt" -cert "$T/pki/client.crt" -key "$T/pki/client.key" 2>&1; }
exec {sc_in}>&"${SC[1]}" {sc_out}<&"${SC[0]}"
eval "exec ${SC[1]}>&- ${SC[0]}<&-"	# only our copies: closing sc_in is s_client's EOF
sc_pid=$SC_PID
say() { printf '%s\n' "$1" >&"$sc_in"; }
see() { # LINE: waits for it in s_client's output
	local l
	while read -t 10 -r -u "$sc_out" l; do [ "$l" = "$1" ] && return 0; done
	return 1
}
# A 16 KB line (more than one record), different each time: lower-case hex,
# since s_client takes a read of its stdin that begins with Q, R, k or K as
# a command.
big() { printf '%s-%s' "$1" "$(head -c 8000 /dev/urandom | od -An -vtx1 | tr -d ' \n')"; }
l1=$(big one) l2=$(big two) l3=$(big three)
say "$l1"
check "s_client's first line comes back through the server route" see "$l1"
k0=$(metric mtlsd_key_updates_total ku-in)
say k; see KEYUPDATE; say "$l2"
check "after s_client's KeyUpdate (k, not requested) a line still goes and comes back intact" see "$l2"
check "... mtlsd_key_updates_total counts the one received: $k0 -> $((k0 + 1))" updates_eq ku-in $((k0 + 1))
say K; see KEYUPDATE; say "$l3"
check "after K (update requested) a line still goes and comes back under both new keys" see "$l3"
check "... mtlsd counts the one received and the one it answered: -> $((k0 + 3))" updates_eq ku-in $((k0 + 3))
exec {sc_in}>&-
wait "$sc_pid"; rc=$?
trap - PIPE
check "s_client exits (status $rc) at its stdin's end, with close_notify: a clean eof" \
	eval '[ $rc = 0 ] && close_has ku-in 1 " layer=libgcrypt" "reason=eof" &&
	[[ $(close_line ku-in 1) != *without* ]]'

# 3. mtlsd's own KeyUpdates (key_update_records = 4) taken by s_server.  A
# key seals at most 4 records, its KeyUpdate the last: 3 of data, so 2 MiB
# (at least 128 records) takes at least 42 updates.  OpenSSL's trace shows
# what each key sealed.  Also with a 1 MiB buffer (one read: 63 records).
for r in ku-out:$P_KOUT ku-out-big:$P_KOUT_BIG; do
	name=${r%%:*}
	s_server ss-ku 1.3 TLS_AES_128_GCM_SHA256 -trace -msgfile "$T/$name.trace"
	$RM send --connect 127.0.0.1:${r#*:} --file "$T/up2" --out "$T/none.out"
	wait "${PID_OF[ss-ku]}"; unset 'PID_OF[ss-ku]'
	check "$name: 2 MiB through mtlsd's KeyUpdates every 4 records reach s_server intact" \
		cmp -s "$T/ss-ku.out" "$T/up2"
	check "... $name sent at least 42 KeyUpdates ($(metric mtlsd_key_updates_total $name))" \
		updates_ge $name 42
	most=$(awk '/Inner Content Type = ApplicationData/ { n++ } n > m { m = n }
		/KeyUpdate, Length/ { if (n + 1 > m) m = n + 1; n = 0 } END { print m + 0 }' "$T/$name.trace")
	check "... no key of $name's sealed more than 4 records, KeyUpdate included (most: $most)" \
		test "$most" -le 4
done
# TLS 1.2 cannot change keys.  At the limit AES-GCM must close (reason
# key_limit, counted), having sealed at most 4 records; ChaCha20-Poly1305,
# good for 2^64 records, runs on (README, key_update_records).
s_server ss-ku12 1.2 ECDHE-ECDSA-AES128-GCM-SHA256
$RM send --connect 127.0.0.1:$P_KOUT12 --file "$T/up2" --out "$T/none.out" 2>/dev/null
wait "${PID_OF[ss-ku12]}"; unset 'PID_OF[ss-ku12]'
check "TLS 1.2 AES-GCM at key_update_records = 4: closed with reason=key_limit" \
	close_has ku-out12 1 "reason=key_limit"
check "... s_server got a prefix of at most 4 records" prefix "$T/ss-ku12.out" "$T/up2" $((4 * 16384))
check "... counted in mtlsd_key_limit_closes_total" \
	test "$(metric mtlsd_key_limit_closes_total ku-out12)" = 1
s_server ss-ku12 1.2 ECDHE-ECDSA-CHACHA20-POLY1305
$RM send --connect 127.0.0.1:$P_KOUT12 --file "$T/up2" --out "$T/none.out" 2>/dev/null
wait "${PID_OF[ss-ku12]}"; unset 'PID_OF[ss-ku12]'
check "TLS 1.2 ChaCha20-Poly1305 at key_update_records = 4: 2 MiB intact, the limit not applied" \
	cmp -s "$T/ss-ku12.out" "$T/up2"

# 4. mtlsd <-> mtlsd: key_update_records = 16 both ways (1024 records each
# way, 15 a key: at least 68 sent and 68 received per side); and each side
# on mbedTLS's records against the other on libgcrypt (no KeyUpdates there).
out=$($PEER roundtrip --connect 127.0.0.1:$P_PAIR_OUT --bytes $((16 << 20)))
check "16 MiB each way through key_update_records = 16 on both sides, intact ($out)" \
	grep -q 'match=yes' <<< "$out"
for r in pair-out pair-in; do
	check "... $r counted at least 136 KeyUpdates ($(metric mtlsd_key_updates_total $r))" \
		updates_ge $r 136
done
check "... the server route's close line: libgcrypt, every byte, clean eof" close_has pair-in 1 \
	" layer=libgcrypt" "bytes_in=16777216 bytes_out=16777216" "reason=eof"
for p in mb-out:$P_MB_OUT:mbedtls:gc-in:libgcrypt gc-out:$P_GC_OUT:libgcrypt:mb-in:mbedtls; do
	IFS=: read -r cr port cl sr sl <<< "$p"
	out=$($PEER roundtrip --connect 127.0.0.1:$port --bytes $((4 << 20)))
	check "client on $cl's records, server on $sl's: 4 MiB each way intact ($out)" \
		grep -q 'match=yes' <<< "$out"
	check "... the close lines name each side's layer" eval \
		'close_has $cr 1 " layer=$cl" "reason=eof" && close_has $sr 1 " layer=$sl" "reason=eof"'
done

# 5. Hostile records between a client route and a server route.  Each bad
# connection must end at the server route, the backend (sink) having got a
# prefix of what was sent that stops before the bad record; then a fresh
# connection through the same routes must work.
MANGLES="replay tls_error a record failed authentication
reorder tls_error a record failed authentication
truncate eof peer closed TCP without close_notify
oversize tls_error a record longer than the limit
flip tls_error a record failed authentication"
mangle() { $RM mangle --app 127.0.0.1:$P_MG_OUT --listen 127.0.0.1:$P_MID \
	--upstream 127.0.0.1:$P_MG_IN --mode "$1" --sent "$T/sent-$1"; }
k=0
while read -r mode reason text; do
	k=$((k + 1))
	out=$(mangle "$mode")
	check "$mode: the server route closes it: reason=$reason, $text" \
		close_has mangle-in $k "reason=$reason " "$(detail "$text")"
	wait_log "$T/sink.log" "^closed $k\$"
	at=${out#at=}; at=${at%% *}
	check "... the backend got a prefix of the stream, none of the bad record or after ($out)" \
		prefix "$T/sink/$k.bin" "$T/sent-$mode" "$at"
	k=$((k + 1))
	out=$(mangle none)
	check "... then a fresh connection through both routes is served intact ($out)" \
		eval 'grep -q "match=yes" <<< "$out" && close_has mangle-in $k "reason=eof"'
done <<< "$MANGLES"

stop_mtlsd rec
finish
