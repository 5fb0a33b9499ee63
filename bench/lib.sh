# bench/lib.sh: helpers for bench/run.sh, sourced by it (bash): starting,
# watching and stopping processes, their CPU time and memory, free ports,
# config templates, and the raw records (raw.jsonl) every measurement writes.
#
# Uses the caller's LOGS (log directory), TOP (the repository), RAW (the
# raw.jsonl being written) and BENCH_QUIET_WAIT.

say() { echo "bench: $*" >&2; }
die() { say "$*"; exit 1; }

# --- processes ----------------------------------------------------------------

declare -A PID=()	# name -> pid of everything started, until stopped

# pid_of NAME: the pid of a started process, or nothing.
pid_of() { [ -n "$1" ] && echo "${PID[$1]:-}"; }

# is_alive PID: running (a zombie counts as gone).
is_alive() {
	local st
	[ -r "/proc/$1/stat" ] || return 1
	read -r st 2>/dev/null < "/proc/$1/stat" || return 1
	st=${st##*) }
	[ "${st%% *}" != Z ]
}

# tree PID: PID and all its descendants.
tree() {
	local f line p rest out="" queue=$1
	declare -A kids=()
	for f in /proc/[0-9]*/stat; do
		read -r line 2>/dev/null < "$f" || continue
		p=${line%% *}
		rest=${line##*) }
		set -- $rest
		kids[$2]="${kids[$2]:-} $p"
	done
	while [ -n "${queue// /}" ]; do
		set -- $queue
		p=$1; shift; queue="$*"
		out="$out $p"
		queue="$queue ${kids[$p]:-}"
	done
	echo $out
}

# cpu_ticks PID: utime + stime (fields 14, 15 of /proc/PID/stat: every thread
# of the process) summed over PID and its descendants, in clock ticks.
cpu_ticks() {
	local p line sum=0
	[ -n "$1" ] || { echo 0; return; }
	for p in $(tree "$1"); do
		read -r line 2>/dev/null < "/proc/$p/stat" || continue
		line=${line##*) }
		set -- $line
		sum=$(( sum + ${12} + ${13} ))
	done
	echo $sum
}

# thread_ticks PID: {"TID":ticks,...}, utime + stime of each live thread of
# PID (/proc/PID/task/TID/stat), to see how the work spread over them.
thread_ticks() {
	local f line tid out=""
	[ -n "$1" ] || { echo '{}'; return; }
	for f in /proc/"$1"/task/[0-9]*/stat; do
		read -r line 2>/dev/null < "$f" || continue
		tid=${line%% *}
		line=${line##*) }
		set -- $line
		out="$out,\"$tid\":$(( ${12} + ${13} ))"
	done
	echo "{${out#,}}"
}

# ctx_switches PID: "VOLUNTARY INVOLUNTARY" context switches summed over the
# live threads of PID (/proc/PID/task/TID/status): sleeps (waiting for I/O
# or a lock) and preemptions.
ctx_switches() {
	local f k v vol=0 inv=0
	[ -n "$1" ] || { echo "0 0"; return; }
	for f in /proc/"$1"/task/[0-9]*/status; do
		while read -r k v; do
			case "$k" in
			voluntary_ctxt_switches:) vol=$(( vol + v )) ;;
			nonvoluntary_ctxt_switches:) inv=$(( inv + v )) ;;
			esac
		done 2>/dev/null < "$f"
	done
	echo "$vol $inv"
}

# rss_kib PID: VmRSS summed over PID and its descendants.
rss_kib() {
	local p k v sum=0
	[ -n "$1" ] || { echo 0; return; }
	for p in $(tree "$1"); do
		while read -r k v _; do
			[ "$k" = VmRSS: ] && sum=$(( sum + v ))
		done 2>/dev/null < "/proc/$p/status"
	done
	echo $sum
}

# all_ticks PID... [children]: utime + stime + cutime + cstime summed over the
# PIDs; with "children" last, only cutime + cstime (what reaped children took).
all_ticks() {
	local p line sum=0 reaped=0
	[ "${*: -1}" = children ] && reaped=1
	for p in "$@"; do
		[ "$p" = children ] && continue
		read -r line 2>/dev/null < "/proc/$p/stat" || continue
		line=${line##*) }
		set -- $line
		if [ $reaped = 1 ]; then
			sum=$(( sum + ${14} + ${15} ))
		else
			sum=$(( sum + ${12} + ${13} + ${14} + ${15} ))
		fi
	done
	echo $sum
}

ORPHAN_TICKS=0	# CPU time of our processes that init reaped (see stop)

# cpu_snapshot: "TOTAL BUSY OURS" in clock ticks: every CPU's time since boot,
# the part not idle (steal included: it is taken from us too), and the part
# this script and everything it started have used (reaped children's time
# is in our cutime/cstime, live ones are read directly).  Busy - ours is
# what other work on the machine took while the bench ran.
cpu_snapshot() {
	local line total=0 busy ours=0 v
	read -r line < /proc/stat
	set -- ${line#cpu }
	for v in "$@"; do total=$(( total + v )); done
	busy=$(( total - $4 - $5 ))	# idle, iowait
	ours=$(( $(all_ticks $(tree $$)) + ORPHAN_TICKS ))
	echo "$total $busy $ours"
}

# wait_quiet: up to BENCH_QUIET_WAIT seconds until other work takes under
# 15% of the CPUs (over half a second), so every system gets the same machine.
wait_quiet() {
	local end=$(( $(date +%s) + BENCH_QUIET_WAIT )) a b pct
	[ "$BENCH_QUIET_WAIT" -gt 0 ] || return 0
	while :; do
		a=($(cpu_snapshot))
		sleep 0.5
		b=($(cpu_snapshot))
		pct=$(( ((b[1] - a[1]) - (b[2] - a[2])) * 100 / (b[0] > a[0] ? b[0] - a[0] : 1) ))
		[ "$pct" -lt 15 ] && return 0
		if [ "$(date +%s)" -ge "$end" ]; then
			say "other work takes ${pct}% of the CPUs; measuring anyway"
			return 1
		fi
	done
}

# start NAME CMD...: runs CMD in the background, output in $LOGS/NAME.log.
start() {
	local name=$1; shift
	"$@" > "$LOGS/$name.log" 2>&1 &
	PID[$name]=$!
	echo "$*" > "$LOGS/$name.cmd"
}

# listens PID PORT: PID or one of its children listens on PORT.  The ports
# are picked free, but another program may take one first: where ss can name
# the owner (-p, as root), a listener that is not ours does not count.
listens() {
	local l p
	l=$(ss -Hltnp "sport = :$2" 2>/dev/null)
	[ -n "$l" ] || return 1
	case "$l" in *pid=*) ;; *) return 0 ;; esac
	for p in $(tree "$1"); do
		case "$l" in *"pid=$p,"*) return 0 ;; esac
	done
	return 1
}

# wait_listen NAME PORT [SECS]: until NAME's process listens on PORT, or it
# is gone; no fixed sleeps.
wait_listen() {
	local name=$1 port=$2 secs=${3:-15} end
	end=$(( $(date +%s%N) / 1000000 + secs * 1000 ))
	while :; do
		listens "${PID[$name]}" "$port" && return 0
		is_alive "${PID[$name]}" || { say "$name exited while starting"; return 1; }
		[ $(( $(date +%s%N) / 1000000 )) -lt "$end" ] || { say "$name: nothing listens on :$port after ${secs}s"; return 1; }
		sleep 0.02
	done
}

# stop NAME: SIGTERM, up to 15 s for the process and its children to go, then
# SIGKILL; reaps it.  Fails when SIGTERM was not enough.
stop() {
	local name=$1 p pids end rc=0 left q pre c0
	[ -n "$name" ] || return 0
	p=${PID[$name]:-}
	[ -n "$p" ] || return 0
	pids=$(tree "$p")
	pre=$(all_ticks $pids)
	c0=$(all_ticks $$ children)
	kill -TERM "$p" 2>/dev/null
	end=$(( $(date +%s) + 15 ))
	while :; do
		left=""
		for q in $pids; do is_alive "$q" && left="$left $q"; done
		[ -n "$left" ] || break
		if [ "$(date +%s)" -ge "$end" ]; then
			say "$name did not stop on SIGTERM; killing$left"
			kill -KILL $left 2>/dev/null
			rc=1
			sleep 0.1
			break
		fi
		sleep 0.02
	done
	wait "$p" 2>/dev/null
	unset "PID[$name]"
	# A child that its parent leaves behind (hitch's workers outlive its
	# master) is reaped by init, and its CPU time never reaches ours.
	c0=$(( $(all_ticks $$ children) - c0 ))
	[ "$pre" -le "$c0" ] || ORPHAN_TICKS=$(( ORPHAN_TICKS + pre - c0 ))
	return $rc
}

# cleanup: SIGTERM to every process still started, then reap them (run.sh
# calls it on exit).
cleanup() {
	local n p
	for n in "${!PID[@]}"; do
		p=${PID[$n]}
		kill -TERM $(tree "$p") 2>/dev/null
	done
	for n in "${!PID[@]}"; do
		wait "${PID[$n]}" 2>/dev/null
	done
}

# free_ports N: N distinct free TCP ports on 127.0.0.1.
free_ports() { python3 "$TOP/scripts/free-ports.py" "$1"; }

# to_bytes SIZE: 1G -> 1073741824 (K, M, G are powers of 1024).
to_bytes() {
	local s=$1 m=1
	case "$s" in
	*[kK]) m=1024; s=${s%?} ;;
	*[mM]) m=1048576; s=${s%?} ;;
	*[gG]) m=1073741824; s=${s%?} ;;
	esac
	echo $(( s * m ))
}

# render TEMPLATE OUTFILE KEY=VALUE...: @KEY@ -> VALUE.
render() {
	local in="$TOP/bench/configs/$1" out=$2 kv args=()
	shift 2
	for kv in "$@"; do
		args+=(-e "s|@${kv%%=*}@|${kv#*=}|g")
	done
	sed "${args[@]}" "$in" > "$out"
	if grep -q '@[A-Z_]*@' "$out"; then
		say "render $1: placeholders left: $(grep -o '@[A-Z_]*@' "$out" | sort -u | tr '\n' ' ')"
		return 1
	fi
}

# --- results ------------------------------------------------------------------

# jstr TEXT: TEXT as a JSON string.
jstr() {
	local s=${1//\\/\\\\}
	s=${s//\"/\\\"}
	s=${s//$'\n'/ }
	s=${s//$'\t'/ }
	printf '"%s"' "$s"
}

# emit SYSTEM TEST CMD RESULT [EXTRA]: one raw record; RESULT and EXTRA are
# JSON objects (EXTRA's members are added to the record).
emit() {
	local extra=${5:-}
	[ -n "$extra" ] && extra=",${extra#\{}" && extra=${extra%\}}
	printf '{"system":%s,"test":%s,"cmd":%s,"result":%s%s}\n' \
	    "$(jstr "$1")" "$(jstr "$2")" "$(jstr "$3")" "${4:-null}" "$extra" >> "$RAW"
}

# fail SYSTEM TEST WHY: a measurement (or the system) that did not work.
fail() {
	say "$1 $2: $3"
	printf '{"system":%s,"test":%s,"error":%s}\n' "$(jstr "$1")" \
	    "$(jstr "$2")" "$(jstr "$3")" >> "$RAW"
}

# last_json FILE: its last line that looks like a JSON object.
last_json() { grep '^{' "$1" 2>/dev/null | tail -n 1; }
