# tests/e2e/lib.sh: shared by the end-to-end tests (bash).  Source it first.
#
# Gives each test file: a temp dir $T (removed on exit unless KEEP=1), TAP
# output (ok/not_ok/check/finish), free ports, waits on conditions (a port
# that accepts, a line in a log) instead of sleeps, a throwaway PKI, and
# start/stop of mtlsd and background peers with their exit status checked.
set -u
# Debian's tools first, as tests/run.sh does (a file may be run alone).
export PATH="/usr/sbin:/usr/bin:/sbin:/bin:$PATH"
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${MTLSD_BUILD:-$TOP/build}
MTLSD="$BUILD/mtlsd"
PEER="python3 $TOP/tests/e2e/peer.py"
T=$(mktemp -d "${TMPDIR:-/tmp}/mtlsd-e2e.XXXXXX")
N=0
FAILS=0
declare -A PID_OF=()

# stop_all: SIGTERM to every background process left, and waits for each.
stop_all() {
	local p
	for p in "${PID_OF[@]}"; do
		kill -TERM "$p" 2>/dev/null
	done
	for p in "${PID_OF[@]}"; do
		wait "$p" 2>/dev/null
	done
	PID_OF=()
}

# audit_files: the audit logs this test's configs name (audit_log = PATH,
# relative to the config's directory), with their rotated copies (PATH.*,
# gzip-compressed ones too), those that exist under $T.
audit_files() {
	local ini p f
	while IFS= read -r ini; do
		sed -n 's/^[[:space:]]*audit_log[[:space:]]*=[[:space:]]*//p' "$ini" |
		while IFS= read -r p; do
			p=${p%"${p##*[![:space:]]}"}
			[ -n "$p" ] && [ "$p" != - ] || continue
			case $p in /*) ;; *) p="$(dirname "$ini")/$p" ;; esac
			# Only this test's own files (a packaged example names
			# /var/log/mtlsd, which is not the test's).
			case $p in "$T"/*) ;; *) continue ;; esac
			for f in "$p" "$p".*; do
				[ -f "$f" ] && echo "$f"
			done
		done
	done < <(find "$T" -name '*.ini' -type f 2>/dev/null) | sort -u
}

# check_seccomp: every sandboxed daemon the test ran made only the calls
# proxy/seccomp.c allows (a refused one is logged as status=denied): one
# TAP line, none when no daemon was sandboxed.  Called by check_audit,
# after stop_all.
check_seccomp() {
	local logs denied
	stop_all
	mapfile -t logs < <(grep -l 'event=sandbox no_new_privs=yes' "$T"/*.log 2>/dev/null)
	[ ${#logs[@]} -gt 0 ] || return 0
	denied=$(grep -h 'event=sandbox status=denied' "${logs[@]}" | sort -u)
	if [ -z "$denied" ]; then
		ok "no sandboxed mtlsd made a system call its seccomp allow-list lacks (${#logs[@]} daemons)"
	else
		not_ok "no sandboxed mtlsd made a system call its seccomp allow-list lacks"
		head -n 10 <<< "$denied" | sed 's/^/#   /'
	fi
}

# check_audit: once, at the end: stops what still runs (each mtlsd flushes
# its audit lines as it exits), then every record of every audit file the
# test wrote must validate against examples/mtlsd-audit.schema.json, keys
# in order (tests/e2e/audit_check.py): one TAP line, none without files.
AUDIT_CHECKED=0
check_audit() {
	local files out
	[ "$AUDIT_CHECKED" = 1 ] && return 0
	AUDIT_CHECKED=1
	check_seccomp
	mapfile -t files < <(audit_files)
	[ ${#files[@]} -gt 0 ] || return 0
	stop_all
	if out=$(python3 "$TOP/tests/e2e/audit_check.py" 	    "$TOP/examples/mtlsd-audit.schema.json" "${files[@]}" 2>&1); then
		ok "every audit record validates against the schema (${out##*$'\n'})"
	else
		not_ok "every audit record validates against the schema"
		head -n 20 <<< "$out" | sed 's/^/#   /'
	fi
}

cleanup() {
	local rc=$?
	# A test that ended without finish still has its records checked.
	if [ "$AUDIT_CHECKED" = 0 ]; then
		check_audit
		[ "$FAILS" -eq 0 ] || rc=1
	fi
	stop_all
	if [ "${KEEP:-0}" = 1 ]; then echo "# kept $T"; else rm -rf "$T"; fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ok()     { N=$((N + 1)); echo "ok $N - $*"; }
not_ok() { N=$((N + 1)); FAILS=$((FAILS + 1)); echo "not ok $N - $*"; }
skip()   { N=$((N + 1)); echo "ok $N - $* # SKIP"; }
note()   { echo "# $*"; }

# check DESC CMD...: ok if CMD succeeds.
check() {
	local desc=$1; shift
	if "$@"; then ok "$desc"; else not_ok "$desc"; fi
}

# finish: the audit records checked, the plan line, and the exit status
# run.sh reads.
finish() {
	check_audit
	echo "1..$N"
	[ "$FAILS" -eq 0 ]
	exit $?
}

# free_ports N: prints N distinct free TCP ports on 127.0.0.1.  Inside
# user-mode Linux (its own network, nothing else listening) they are fixed,
# which saves a slow interpreter start there.
free_ports() {
	if [ -n "${MTLSD_IN_UML:-}" ]; then
		seq -s ' ' 20001 $((20000 + $1))
		return
	fi
	python3 "$TOP/scripts/free-ports.py" "$1"
}

# wait_for SECS CMD...: polls CMD every 50 ms until it succeeds or SECS pass.
wait_for() {
	local secs=$1; shift
	local end=$(( $(date +%s%N) / 1000000 + secs * 1000 ))
	while ! "$@" 2>/dev/null; do
		[ $(( $(date +%s%N) / 1000000 )) -ge "$end" ] && return 1
		sleep 0.05
	done
}

log_has() { grep -qE -- "$2" "$1"; }

# wait_log FILE REGEX [SECS]: waits until FILE has a line matching REGEX.
wait_log() { wait_for "${3:-10}" log_has "$1" "$2"; }

# count_log FILE REGEX: number of matching lines.
count_log() { grep -cE -- "$2" "$1"; }

# bg NAME CMD...: starts CMD in the background, output in $T/NAME.log.
bg() {
	local name=$1; shift
	"$@" > "$T/$name.log" 2>&1 &
	PID_OF[$name]=$!
}

# bg_peer NAME ARGS...: a peer.py server; waits for it to listen.
bg_peer() {
	local name=$1; shift
	bg "$name" $PEER "$@"
	wait_log "$T/$name.log" '^ready' 30 || { note "$name did not start"; cat "$T/$name.log"; return 1; }
}

# stop NAME: SIGTERM, then wait; returns the exit status.
stop() {
	local p=${PID_OF[$1]:-}
	[ -n "$p" ] || return 0
	kill -TERM "$p" 2>/dev/null
	wait "$p"
	local rc=$?
	unset "PID_OF[$1]"
	return $rc
}

# start_mtlsd NAME CONFIG: runs mtlsd; waits until it says it started.
start_mtlsd() {
	bg "$1" "$MTLSD" run -c "$2"
	if ! wait_log "$T/$1.log" 'event=started' 15; then
		note "mtlsd $1 did not start:"; sed 's/^/#   /' "$T/$1.log"
		return 1
	fi
}

# stop_mtlsd NAME: SIGTERM; ok when it drains and exits 0 and the sanitizers
# (in the asan build) found nothing.
stop_mtlsd() {
	local rc
	stop "$1"; rc=$?
	if [ $rc -eq 0 ] && ! grep -qE 'AddressSanitizer|LeakSanitizer|runtime error:' "$T/$1.log"; then
		ok "mtlsd $1 exits cleanly on SIGTERM"
	else
		not_ok "mtlsd $1 exits cleanly on SIGTERM (status $rc)"
		grep -E -A20 'Sanitizer|runtime error:' "$T/$1.log" | head -40 | sed 's/^/#   /'
	fi
}

# make_pki: a CA and certificates under $T/pki, and a foreign CA's under
# $T/foreign.  server: dns:localhost, ip:127.0.0.1; client: a SPIFFE URI.
# With MTLSD_PKI_CACHE set, a PKI already there is copied instead (the
# kernel-TLS suite makes it on the host, where processes start fast).
make_pki() {
	local m="$MTLSD certs"
	if [ -n "${MTLSD_PKI_CACHE:-}" ] && [ -f "$MTLSD_PKI_CACHE/pki/ca.crt" ]; then
		cp -a "$MTLSD_PKI_CACHE/pki" "$MTLSD_PKI_CACHE/foreign" "$T/"
		return
	fi
	{
		$m init-ca --dir "$T/pki" --name "mtlsd test CA" &&
		$m issue --dir "$T/pki" --name server \
		    --san dns:localhost,ip:127.0.0.1,uri:spiffe://test/server &&
		$m issue --dir "$T/pki" --name client --san uri:spiffe://test/client &&
		$m issue --dir "$T/pki" --name expired --san uri:spiffe://test/expired \
		    --not-before -10d --days 1 &&
		$m issue --dir "$T/pki" --name wrongname --san dns:wrong.example &&
		$m init-ca --dir "$T/foreign" --name "foreign CA" &&
		$m issue --dir "$T/foreign" --name client --san uri:spiffe://test/client
	} > "$T/pki.log" 2>&1 || { note "PKI setup failed:"; sed 's/^/#   /' "$T/pki.log"; return 1; }
	if [ -n "${MTLSD_PKI_CACHE:-}" ]; then
		mkdir -p "$MTLSD_PKI_CACHE" && cp -a "$T/pki" "$T/foreign" "$MTLSD_PKI_CACHE/"
	fi
}

# port_open PORT: whether 127.0.0.1:PORT accepts (bash's /dev/tcp, no exec).
port_open() { (exec 3<> "/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# conf NAME <<EOF ... EOF: writes $T/NAME.ini from stdin.
conf() { cat > "$T/$1.ini"; }
