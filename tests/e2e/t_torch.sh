#!/bin/bash
# A real PyTorch job (gloo: the store, an all_reduce, DDP) between two nodes
# whose only encryption is mtlsd's transparent routes, with the rules of
# 'mtlsd nft'.  Three network namespaces on one bridge (in a fourth): nodes
# A and B, and an outsider O.  A sniffer on A's bridge port sees the wire.
# A plain run first (no mtlsd, no rules) is the control: its capture shows
# the job's marker and other ports, and O reaches its store.  Needs root,
# nft and python3-torch.
. "$(dirname "$0")/lib.sh"

PY=
for p in /usr/bin/python3 python3; do
	"$p" -c 'import torch.distributed as d; assert d.is_gloo_available()' 2>/dev/null && { PY=$p; break; }
done
if [ "$(id -u)" != 0 ] || [ -z "$PY" ] || ! command -v nft > /dev/null; then
	skip "PyTorch through mtlsd needs root, nft and python3-torch (scripts/install-deps.sh)"
	finish
fi
JOB="$PY $TOP/tests/e2e/torch_job.py"
NSW=mtlsd-tw-$$ NSA=mtlsd-ta-$$ NSB=mtlsd-tb-$$ NSO=mtlsd-to-$$
trap 'cleanup; for n in $NSA $NSB $NSO $NSW; do ip netns del $n 2>/dev/null; done' EXIT
at() { local n=$1; shift; nsenter --net="/run/netns/$n" "$@"; }
# nsenter execs the command itself, so bg's PID_OF holds the process's pid.
inW="nsenter --net=/run/netns/$NSW" inA="nsenter --net=/run/netns/$NSA"
inB="nsenter --net=/run/netns/$NSB" inO="nsenter --net=/run/netns/$NSO"

# The bridge br0 lives in NSW; each node's mesh0 is a veth to port pX there.
. "$TOP/tests/e2e/mesh_node.sh"
lladdr() { mesh_lladdr "$1"; }
ll_ready() { [ -n "$(lladdr "$NSA")" ] && [ -n "$(lladdr "$NSB")" ]; }
{ mesh_net "$NSW" "$NSA" "$NSB" "$NSO" && wait_for 10 ll_ready; } > "$T/net.log" 2>&1 ||
	{ not_ok "three namespaces on a bridge"; sed 's/^/#   /' "$T/net.log"; finish; }
LLA=$(lladdr "$NSA") LLB=$(lladdr "$NSB")
ADDRS_A=10.77.1.1,fd77:1::1,$LLA ADDRS_B=10.77.1.2,fd77:1::2,$LLB
note "A: $ADDRS_A  B: $ADDRS_B"

{
	$MTLSD certs init-ca --dir "$T/pki" --name "mesh CA" &&
	$MTLSD certs issue --dir "$T/pki" --name a --san ip:10.77.1.1,ip:fd77:1::1,uri:spiffe://mesh/node/a &&
	$MTLSD certs issue --dir "$T/pki" --name b --san ip:10.77.1.2,ip:fd77:1::2,uri:spiffe://mesh/node/b
} > "$T/pki.log" 2>&1 || { not_ok "PKI"; sed 's/^/#   /' "$T/pki.log"; finish; }

# Each node's config: tests/e2e/mesh_node.sh (shared with the bench).
mesh_node_conf "$T" a 1 b "audit_log = $T/a-audit.jsonl"
mesh_node_conf "$T" b 2 a "audit_log = $T/b-audit.jsonl"

# run_job NAME PORT MARKER: both ranks, rank 0 first; waits until both hold.
run_job() {
	bg "$1-0" $inA env GLOO_SOCKET_IFNAME=mesh0 $JOB job 0 "$2" "$3" "$T/release-$1"
	bg "$1-1" $inB env GLOO_SOCKET_IFNAME=mesh0 $JOB job 1 "$2" "$3" "$T/release-$1"
	wait_log "$T/$1-0.log" '^holding' 180 && wait_log "$T/$1-1.log" '^holding' 60 ||
		{ note "job $1 did not get to its end:"; tail -n 8 "$T/$1-0.log" "$T/$1-1.log" | sed 's/^/#   /'; }
}
# end_job NAME: releases the ranks; both must say done and exit 0.
end_job() {
	local r0 r1
	touch "$T/release-$1"
	stop_wait "$1-0"; r0=$?; stop_wait "$1-1"; r1=$?
	check "$1 job: both ranks finish and exit 0 ($r0, $r1)" eval \
		"[ $r0 = 0 ] && [ $r1 = 0 ] && log_has $T/$1-0.log ^done && log_has $T/$1-1.log ^done"
}
# stop_wait NAME: waits (at most 90 s: torch's import alone takes 10 s on a
# loaded 2-core machine) for a background process to exit.
stop_wait() {
	local p=${PID_OF[$1]}
	wait_for 90 bash -c "! kill -0 $p" || kill -TERM "$p"
	wait "$p"; local rc=$?; unset "PID_OF[$1]"; return $rc
}
val() { sed -nE "s/^$2.* $3=([^ ]+).*/\1/p" "$T/$1.log" | head -n1; }
# probes NAME PORT...: O probes A at each port over IPv4 and link-local IPv6.
probes() {
	local name=$1 p pids=(); shift
	for p in "$@"; do
		$inO $JOB probe 10.77.1.1 "$p" > "$T/$name-v4-$p" & pids+=($!)
		$inO $JOB probe "$LLA%mesh0" "$p" > "$T/$name-ll-$p" & pids+=($!)
	done
	wait "${pids[@]}"
}
# gloo_port: the port of A's gloo pair, which rank 1 dialed (gloo closes
# its listener once the pair is connected).
gloo_port() {
	$inA ss -Htnp state established src 10.77.1.1 | awk '/python/ { n = split($3, l, ":");
		m = split($4, r, ":") } /python/ && l[n] >= 32768 && r[m] !~ /^295/ { print l[n]; exit }'
}
sniff() { bg "sniff-$1" $inW $JOB sniff p1 "$T/$1.pcap"; wait_log "$T/sniff-$1.log" '^ready'; }
stop_sniff() {
	kill -TERM "${PID_OF[sniff-$1]}"; stop_wait "sniff-$1"
	wait_log "$T/sniff-$1.log" '^drops' 5; $JOB scan "$T/$1.pcap" "$2" "$ADDRS_A" "$ADDRS_B" > "$T/$1.scan"
	note "$1 capture: $(cat "$T/$1.scan"), $(tail -n1 "$T/sniff-$1.log")"
}

# The control: the same job in the clear, no mtlsd, no rules.
MARKP=plain-$RANDOM$RANDOM-marker
sniff plain
run_job plain 29510 "$MARKP"
GP=$(gloo_port)
probes plain 29510 "$GP"
check "control: O reaches the plain job's store (29510) over IPv4" grep -qx open "$T/plain-v4-29510"
check "control: ... and the store over IPv6 link-local ($(cat "$T/plain-ll-29510"))" grep -qx open "$T/plain-ll-29510"
note "control: gloo's port $GP: $(cat "$T/plain-v4-$GP") over IPv4, $(cat "$T/plain-ll-$GP") link-local"
end_job plain
stop_sniff plain "$MARKP"
check "control: the capture shows the marker and ports other than 7443" \
	grep -qE 'marker=seen other=[1-9]' "$T/plain.scan"

# Now the rules of 'mtlsd nft' on both nodes, then mtlsd.
for x in a b; do
	{ $MTLSD nft -c "$T/$x.ini" > "$T/$x.nft" && at "mtlsd-t$x-$$" nft -f "$T/$x.nft"; } 2> "$T/nft-$x.log" ||
		{ not_ok "mtlsd nft's rules load on node $x"; sed 's/^/#   /' "$T/nft-$x.log"; finish; }
done
ok "mtlsd nft's rules load on both nodes"
bg a $inA "$MTLSD" run -c "$T/a.ini"
bg b $inB "$MTLSD" run -c "$T/b.ini"
wait_log "$T/a.log" 'event=started' 60 && wait_log "$T/b.log" 'event=started' 60 ||
	{ not_ok "mtlsd starts on both nodes"; sed 's/^/#   /' "$T/a.log" "$T/b.log"; finish; }

MARK=mesh-$RANDOM$RANDOM-marker
sniff mesh
run_job mesh 29500 "$MARK"
for r in 0 1; do
	check "rank $r: the 4M-float all_reduce sum is exact" log_has "$T/mesh-$r.log" '^allreduce exact=1'
	check "rank $r: got the other rank's marker (all_gather_object and the store)" \
		log_has "$T/mesh-$r.log" '^markers ok=1'
done
H0=$(val mesh-0 ddp hash) H1=$(val mesh-1 ddp hash) HP=$(val plain-0 ddp hash)
check "DDP: both ranks' parameters hash the same ($H0)" eval '[ -n "$H0" ] && [ "$H0" = "$H1" ]'
check "... and the same as in the plain run ($HP)" test "$H0" = "$HP"
GM=$(gloo_port)
probes mesh 29500 "$GM" 7443
for p in 29500 "$GM"; do
	check "O cannot connect to A:$p over IPv4 ($(cat "$T/mesh-v4-$p")) nor link-local IPv6 ($(cat "$T/mesh-ll-$p"))" \
		eval '[ -n "$GM" ] && ! grep -qx open "$T/mesh-v4-$p" "$T/mesh-ll-$p"'
done
check "... but reaches mtlsd's TLS listener on A:7443" grep -qx open "$T/mesh-v4-7443"
end_job mesh
stop_sniff mesh "$MARK"
check "the wire between the nodes carried only TCP on 7443, >16 MiB of it" \
	eval 'grep -qE "other=0 *$" "$T/mesh.scan" && [ "$(sed -nE "s/.*tls_bytes=([0-9]+).*/\1/p" "$T/mesh.scan")" -gt 16777216 ]'
check "... and never the marker" grep -q 'marker=absent' "$T/mesh.scan"
check "... with no frame lost by the sniffer" grep -qx 'drops 0' "$T/sniff-mesh.log"
note "all_reduce (16 MiB) ms: plain $(val plain-0 allreduce ms)/$(val plain-1 allreduce ms)," \
	"mtlsd $(val mesh-0 allreduce ms)/$(val mesh-1 allreduce ms)"
note "DDP step ms: plain $(val plain-0 ddp step_ms)/$(val plain-1 ddp step_ms)," \
	"mtlsd $(val mesh-0 ddp step_ms)/$(val mesh-1 ddp step_ms)"

# The tunnels, with the peers' identities, on the close lines and audited.
check "B's close line for the store connection names A's identity" \
	wait_log "$T/b.log" 'route=mesh-out event=close .*target=10\.77\.1\.1:29500 id=spiffe://mesh/node/a '
check "A's close line for it names B's identity" \
	wait_log "$T/a.log" 'route=mesh-in event=close .*target=10\.77\.1\.1:29500 id=spiffe://mesh/node/b '
check "A's audit trail records it" wait_for 5 log_has "$T/a-audit.jsonl" \
	'"event":"close".*"peer_id":"spiffe://mesh/node/b".*"target":"10\.77\.1\.1:29500"'
check "gloo's pair connections went through tunnels too" eval \
	'grep -qE "event=close .*target=10\.77\.1\.[12]:[3-6][0-9]{4} id=spiffe://mesh/node/" "$T/a.log" "$T/b.log"'

# Start order: rank 1 first.  A's mesh-in cannot hand its store connection
# on yet; it retries the refused connect until rank 0 listens.
retries() { $inA curl -s http://127.0.0.1:9901/metrics | awk '$1 ~ /^mtlsd_upstream_retries_total[{]/ { s += $2 } END { print s + 0 }'; }
retries0=$(retries)
bg order-1 $inB env GLOO_SOCKET_IFNAME=mesh0 $JOB job 1 29501 x "$T/none" join
wait_for 60 eval '[ "$(retries)" -gt "$retries0" ]' || note "A counted no retry of rank 1's store connection"
bg order-0 $inA env GLOO_SOCKET_IFNAME=mesh0 $JOB job 0 29501 x "$T/none" join
stop_wait order-1; r1=$?
[ $r1 = 0 ] || kill -TERM "${PID_OF[order-0]}"
stop_wait order-0; r0=$?
check "rank 1 started before rank 0 still joins (exit $r1, rank 0 $r0; A retried $(( $(retries) - retries0 )) times)" \
	eval '[ $r0 = 0 ] && [ $r1 = 0 ] && log_has "$T/order-1.log" "^joined sum_ok=1"'
[ $r1 = 0 ] || tail -n 3 "$T/order-1.log" | sed 's/^/#   rank 1: /'

stop_mtlsd a
stop_mtlsd b
finish
