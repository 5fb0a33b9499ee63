#!/bin/sh
# scripts/demo.sh [BUILD]: two mtlsd sidecars and 256 MiB of traffic.
#
#   worker --plain--> [node A: client route] ==mTLS 1.3==> [node B: server route] --plain--> echo
#
# Makes a throwaway CA and two node certificates under BUILD/demo, starts an
# echo backend and the two sidecars, pushes 256 MiB through and back with a
# byte-for-byte check, prints throughput and the close log lines, stops
# everything it started.  Run by `make demo`.
set -eu
BUILD=${1:-build}
MTLSD="$BUILD/mtlsd"
BENCH="$BUILD/mtlsd-bench"
DEMO="$BUILD/demo"
BYTES=${DEMO_BYTES:-256M}

[ -x "$MTLSD" ] && [ -x "$BENCH" ] || { echo "demo: build first (make)" >&2; exit 1; }
rm -rf "$DEMO"
mkdir -p "$DEMO"
DEMO=$(cd "$DEMO" && pwd)
pids=""
cleanup() {
	for p in $pids; do kill -TERM "$p" 2>/dev/null || true; done
	for p in $pids; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT INT TERM

# wait_line FILE REGEX: up to 10 s for a line to appear.
wait_line() {
	i=0
	until grep -qE "$2" "$1" 2>/dev/null; do
		i=$((i + 1))
		[ $i -le 200 ] || { echo "demo: timed out waiting for '$2' in $1" >&2; cat "$1" >&2; exit 1; }
		sleep 0.05
	done
}

echo "== 1. a throwaway CA and one certificate per node ($DEMO/pki)"
# Thirty days: long enough that 'mtlsd check' has no expiry to warn about
# (it warns within seven), short enough to stay throwaway.
"$MTLSD" certs init-ca --dir "$DEMO/pki" --name "mtlsd demo CA" --days 31 > /dev/null
"$MTLSD" certs issue --dir "$DEMO/pki" --name node-a --days 30 \
	--san uri:spiffe://demo.local/node/a,dns:node-a.demo.local > /dev/null
"$MTLSD" certs issue --dir "$DEMO/pki" --name node-b --days 30 \
	--san uri:spiffe://demo.local/node/b,dns:localhost,ip:127.0.0.1 > /dev/null
"$MTLSD" certs show "$DEMO/pki/node-b.crt" | sed 's/^/   /'

set -- $(python3 -c '
import socket
s = [socket.socket() for _ in range(3)]
for x in s: x.bind(("127.0.0.1", 0))
print(" ".join(str(x.getsockname()[1]) for x in s))')
P_ECHO=$1 P_B=$2 P_A=$3

cat > "$DEMO/node-b.ini" <<EOF
; node B: terminates mTLS, lets only node A in, forwards to the local app
[global]
cert = pki/node-b.crt
key = pki/node-b.key
ca = pki/ca.crt

[trainer-in]
mode = server
listen = 127.0.0.1:$P_B
connect = 127.0.0.1:$P_ECHO
allow_peers = uri:spiffe://demo.local/node/a
EOF
cat > "$DEMO/node-a.ini" <<EOF
; node A: the local worker connects in plaintext, mtlsd carries it over mTLS
[global]
cert = pki/node-a.crt
key = pki/node-a.key
ca = pki/ca.crt

[trainer-out]
mode = client
listen = 127.0.0.1:$P_A
connect = 127.0.0.1:$P_B
server_name = localhost
expect_peers = uri:spiffe://demo.local/node/b
EOF

echo "== 2. echo backend on 127.0.0.1:$P_ECHO, node B on :$P_B, node A on :$P_A"
"$BENCH" echo --listen "127.0.0.1:$P_ECHO" > "$DEMO/echo.log" 2>&1 &
pids="$pids $!"
"$MTLSD" check -c "$DEMO/node-b.ini"
"$MTLSD" check -c "$DEMO/node-a.ini"
"$MTLSD" run -c "$DEMO/node-b.ini" > "$DEMO/node-b.log" 2>&1 &
pids="$pids $!"
"$MTLSD" run -c "$DEMO/node-a.ini" > "$DEMO/node-a.log" 2>&1 &
pids="$pids $!"
wait_line "$DEMO/echo.log" '^listening'
wait_line "$DEMO/node-b.log" 'event=started'
wait_line "$DEMO/node-a.log" 'event=started'

echo "== 3. $BYTES through the pair and back, every byte checked"
"$BENCH" push --connect "127.0.0.1:$P_A" --bytes "$BYTES" | sed 's/^/   /'

echo "== 4. the close lines each sidecar logged"
wait_line "$DEMO/node-b.log" 'event=close'
wait_line "$DEMO/node-a.log" 'event=close'
grep -h 'event=close' "$DEMO/node-a.log" "$DEMO/node-b.log" | sed 's/^/   /'

echo "== 5. stopping (SIGTERM drains, then exits)"
cleanup
pids=""
echo "demo OK: logs and configs are in $DEMO"
