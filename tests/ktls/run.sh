#!/bin/sh
# tests/ktls/run.sh: the kernel-TLS suite (tests/ktls/t_ktls.sh), run inside
# Debian's user-mode Linux kernel, which has the tls ULP that this machine's
# kernel may lack.  Uses $MTLSD_BUILD's binaries.  Prints the suite's TAP and
# exits with its status.
#
# Needs user-mode-linux and busybox-static (scripts/install-deps.sh installs
# them).  Throughput inside UML means nothing (one CPU, generic AES): this
# suite checks correctness only.
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${MTLSD_BUILD:-$TOP/build}
SUITE=${1:-$TOP/tests/ktls/t_ktls.sh}

if ! command -v linux.uml > /dev/null || [ ! -x /bin/busybox ]; then
	echo "ok 1 - kernel TLS suite # SKIP user-mode-linux or busybox-static missing (make deps)"
	exit 0
fi
OUT=$(mktemp -d "${TMPDIR:-/tmp}/mtlsd-uml.XXXXXX")
trap 'rm -rf "$OUT"' EXIT
# Certificates are made here, on the host: processes start slowly in UML.
MTLSD_BUILD="$BUILD" MTLSD_PKI_CACHE="$OUT/pki-cache" bash -c \
	". '$TOP/tests/e2e/lib.sh' && make_pki" > /dev/null || {
	echo "not ok - making the test PKI on the host failed"; exit 1; }
# An OpenSSL client that can send a KeyUpdate (s_client only does so from a
# terminal).  Without OpenSSL's headers that one test is skipped.
cc -O2 -o "$OUT/keyupdate" "$TOP/tests/ktls/keyupdate.c" -lssl -lcrypto 2>/dev/null ||
	rm -f "$OUT/keyupdate"
cat > "$OUT/cmd.sh" <<CMD
cd '$TOP' || exit 126
export MTLSD_BUILD='$BUILD' MTLSD_IN_UML=1 MTLSD_PKI_CACHE=/run/out/pki-cache
export MTLSD_KEYUPDATE=/run/out/keyupdate
exec bash '$SUITE'
CMD
# SIGTERM first: a SIGKILLed linux.uml leaves its helper processes behind.
timeout --kill-after=10 "${UML_TIMEOUT:-300}" linux.uml mem="${UML_MEM:-768M}" \
	rootfstype=hostfs rootflags=/ ro init="$TOP/tests/ktls/uml-init.sh" \
	mtlsd_out="$OUT" con=null con0=null,fd:1 < /dev/null > "$OUT/console.log" 2>&1
urc=$?
# The kernel's own lines come first; the suite's start at our marker.
sed -n '/^# UML up/,$p' "$OUT/console.log" | grep -v '^reboot: '
if [ -f "$OUT/rc" ]; then
	exit "$(cat "$OUT/rc")"
fi
echo "not ok - user-mode Linux reported no result (linux.uml status $urc)"
tail -n 30 "$OUT/console.log" | sed 's/^/# /'
exit 1
