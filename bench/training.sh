#!/bin/bash
# bench/training.sh BUILD OUT: the training figure of `make bench`.
# tests/e2e/torch_job.py (gloo, 2 ranks: a 4M-float all_reduce timed 5
# times after a barrier, then 8 DDP steps of a small MLP) between network
# namespaces A and B on a bridge, BENCH_TRAINING_RUNS times in the clear and
# as many through mtlsd's transparent routes with `mtlsd nft`'s rules,
# interleaved (the first of each pair alternating), each mode in its own
# namespaces (the addresses of tests/e2e/t_torch.sh).  Appends to
# OUT/raw.jsonl a "training" "train_run" record per run (each rank's ms), a
# "train_phase" and a "train_tunnels" record, or a "start" error saying why
# not ("n/a: ...").  Logs: OUT/logs/training/.  Needs root, nft, nsenter and
# python3-torch.  Removes every namespace and process it made.
set -u
TOP=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-build}
OUT=${2:-$BUILD/bench}
case "$BUILD" in /*) ;; *) BUILD="$PWD/$BUILD" ;; esac
case "$OUT" in /*) ;; *) OUT="$PWD/$OUT" ;; esac
MTLSD="$BUILD/mtlsd"
RAW="$OUT/raw.jsonl"
L="$OUT/logs/training"
RUNS=${BENCH_TRAINING_RUNS:-5}
mkdir -p "$L"

say() { echo "bench: training: $*" >&2; }
jstr() { local s=${1//\\/\\\\}; s=${s//\"/\\\"}; printf '"%s"' "${s//$'\n'/ }"; }
nope() {
	say "$1"
	printf '{"system":"training","test":"start","error":%s}\n' "$(jstr "$1")" >> "$RAW"
	exit 0
}

PY=
for p in /usr/bin/python3 python3; do
	"$p" -c 'import torch.distributed as d; assert d.is_gloo_available()' 2>/dev/null && { PY=$p; break; }
done
[ -n "$PY" ] || nope "n/a: python3-torch not installed"
[ "$(id -u)" = 0 ] || nope "n/a: needs root (network namespaces, nft)"
for c in nft nsenter ip; do
	command -v $c > /dev/null || nope "n/a: no $c"
done
[ -x "$MTLSD" ] || nope "n/a: no $MTLSD"
JOB="$PY $TOP/tests/e2e/torch_job.py"

# Two sets of namespaces: p* for the plain runs, m* for mtlsd's.
NS_ALL=""
for s in p m; do
	for r in w a b; do
		eval "NS_$s$r=mtlsd-bt$s$r-$$"
		NS_ALL="$NS_ALL mtlsd-bt$s$r-$$"
	done
done
declare -A PID_OF=()
cleanup() {
	local n
	for n in "${!PID_OF[@]}"; do kill -TERM "${PID_OF[$n]}" 2>/dev/null; done
	for n in "${!PID_OF[@]}"; do wait "${PID_OF[$n]}" 2>/dev/null; done
	for n in $NS_ALL; do ip netns del "$n" 2>/dev/null; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP
wait_for() { # SECONDS CMD...
	local end=$(( $(date +%s) + $1 )); shift
	until "$@"; do [ "$(date +%s)" -lt "$end" ] || return 1; sleep 0.1; done
}
log_has() { grep -qE -- "$2" "$1"; }

. "$TOP/tests/e2e/mesh_node.sh"
ll_ready() { [ -n "$(mesh_lladdr "$1")" ] && [ -n "$(mesh_lladdr "$2")" ]; }
{ mesh_net "$NS_pw" "$NS_pa" "$NS_pb" && mesh_net "$NS_mw" "$NS_ma" "$NS_mb" &&
  wait_for 10 ll_ready "$NS_pa" "$NS_pb" && wait_for 10 ll_ready "$NS_ma" "$NS_mb"; } > "$L/net.log" 2>&1 ||
	nope "failed: network namespaces (logs/training/net.log)"

{
	"$MTLSD" certs init-ca --dir "$L/pki" --name "mesh CA" &&
	"$MTLSD" certs issue --dir "$L/pki" --name a --san ip:10.77.1.1,ip:fd77:1::1,uri:spiffe://mesh/node/a &&
	"$MTLSD" certs issue --dir "$L/pki" --name b --san ip:10.77.1.2,ip:fd77:1::2,uri:spiffe://mesh/node/b
} > "$L/pki.log" 2>&1 || nope "failed: certificates (logs/training/pki.log)"

# Each node's config, as in e2e/t_torch (tests/e2e/mesh_node.sh).
mesh_node_conf "$L" a 1 b
mesh_node_conf "$L" b 2 a
"$MTLSD" check -c "$L/a.ini" > "$L/check.log" 2>&1 || nope "failed: mtlsd check (logs/training/check.log)"
for x in a b; do
	ns=$NS_ma; [ $x = b ] && ns=$NS_mb
	{ "$MTLSD" nft -c "$L/$x.ini" > "$L/$x.nft" && mesh_at "$ns" nft -f "$L/$x.nft"; } 2> "$L/nft-$x.log" ||
		nope "failed: mtlsd nft's rules on node $x (logs/training/nft-$x.log)"
done
# nsenter itself, not mesh_at(): $! must be the process (nsenter execs mtlsd).
nsenter --net="/run/netns/$NS_ma" "$MTLSD" run -c "$L/a.ini" > "$L/mtlsd-a.log" 2>&1 & PID_OF[mtlsd-a]=$!
nsenter --net="/run/netns/$NS_mb" "$MTLSD" run -c "$L/b.ini" > "$L/mtlsd-b.log" 2>&1 & PID_OF[mtlsd-b]=$!
wait_for 15 log_has "$L/mtlsd-a.log" 'event=started' && wait_for 15 log_has "$L/mtlsd-b.log" 'event=started' ||
	nope "failed: mtlsd did not start in the namespaces (logs/training/mtlsd-[ab].log)"

# one MODE RUN POS PORT: both ranks, rank 0 first; the hold file exists
# beforehand, so each rank goes straight on to its final barrier.
val() { sed -nE "s/^$2.* $3=([^ ]+).*/\1/p" "$1" | head -n1; }
one() {
	local mode=$1 run=$2 pos=$3 port=$4 a b r p0 p1 rc0 rc1 f0 f1
	if [ "$mode" = plain ]; then a=$NS_pa b=$NS_pb; else a=$NS_ma b=$NS_mb; fi
	f0="$L/$mode.$run.0.log" f1="$L/$mode.$run.1.log"
	touch "$L/release"
	# timeout: a rank whose peer died waits no longer than 120 s.
	timeout 120 nsenter --net="/run/netns/$a" env GLOO_SOCKET_IFNAME=mesh0 $JOB job 0 "$port" \
	    "bench-$mode-$run" "$L/release" > "$f0" 2>&1 & p0=$!
	timeout 120 nsenter --net="/run/netns/$b" env GLOO_SOCKET_IFNAME=mesh0 $JOB job 1 "$port" \
	    "bench-$mode-$run" "$L/release" > "$f1" 2>&1 & p1=$!
	PID_OF[r0]=$p0 PID_OF[r1]=$p1
	wait "$p0"; rc0=$?; wait "$p1"; rc1=$?
	unset "PID_OF[r0]" "PID_OF[r1]"
	local ar0 ar1 dd0 dd1 ex0 ex1
	ar0=$(val "$f0" allreduce ms) ar1=$(val "$f1" allreduce ms)
	dd0=$(val "$f0" ddp step_ms) dd1=$(val "$f1" ddp step_ms)
	ex0=$(val "$f0" allreduce exact) ex1=$(val "$f1" allreduce exact)
	if [ $rc0 != 0 ] || [ $rc1 != 0 ] || [ -z "$ar0" ] || [ -z "$ar1" ] || [ -z "$dd0" ] || [ -z "$dd1" ]; then
		say "$mode run $run failed (exit $rc0, $rc1; logs/training/$mode.$run.[01].log)"
		printf '{"system":"training","test":"train_run","error":%s}\n' \
		    "$(jstr "$mode run $run: exit $rc0/$rc1, see logs/training/$mode.$run.[01].log")" >> "$RAW"
		return
	fi
	say "$mode run $run: all_reduce ms $ar0/$ar1, DDP step ms $dd0/$dd1"
	printf '{"system":"training","test":"train_run","cmd":%s,"result":{"mode":"%s","run":%d,"position":%d,"allreduce_ms":[%s,%s],"ddp_step_ms":[%s,%s],"exact":[%s,%s]}}\n' \
	    "$(jstr "GLOO_SOCKET_IFNAME=mesh0 $JOB job RANK $port MARKER HOLD")" "$mode" "$run" "$pos" \
	    "$ar0" "$ar1" "$dd0" "$dd1" "${ex0:-0}" "${ex1:-0}" >> "$RAW"
}

printf '{"system":"training","test":"train_phase","cmd":%s,"result":{"runs":%d,"python":%s,"torch":%s}}\n' \
    "$(jstr "BENCH_TRAINING_RUNS=$RUNS bash bench/training.sh $BUILD $OUT")" "$RUNS" "$(jstr "$PY")" \
    "$(jstr "$($PY -c 'import torch; print(torch.__version__)' 2>/dev/null)")" >> "$RAW"
for i in $(seq 1 "$RUNS"); do
	if [ $((i % 2)) = 1 ]; then order="plain mtlsd"; else order="mtlsd plain"; fi
	pos=0
	for mode in $order; do
		pos=$((pos + 1))
		# A fresh MASTER_PORT each run: no TIME_WAIT on the store's port.
		one "$mode" "$i" "$pos" $((29500 + 2 * i + pos - 1))
	done
done

for x in a b; do kill -TERM "${PID_OF[mtlsd-$x]}" 2>/dev/null; done
for x in a b; do wait "${PID_OF[mtlsd-$x]}" 2>/dev/null; unset "PID_OF[mtlsd-$x]"; done
# That the mtlsd runs went through mtlsd: the tunnels A's close lines count.
printf '{"system":"training","test":"train_tunnels","result":{"a_closes":%d}}\n' \
    "$(grep -c 'event=close' "$L/mtlsd-a.log")" >> "$RAW"
exit 0
