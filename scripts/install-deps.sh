#!/bin/sh
# install-deps.sh: install what mtlsd needs to build and test, on Debian 12 or 13.
#
#   scripts/install-deps.sh          build and test dependencies
#   scripts/install-deps.sh --bench  also the peers the benchmark compares against
#
# Idempotent: a package already present is left alone. mbedTLS 3.6 LTS is not in
# Debian 12 (bookworm ships 2.28), so there the four libmbedtls packages are taken
# from trixie through a private apt state directory; the system's sources stay as
# they are and nothing else is upgraded. trixie's packages need only libc6 >= 2.33,
# which bookworm has.
set -eu

BENCH=0
for a in "$@"; do
	case "$a" in
	--bench) BENCH=1 ;;
	-h|--help) sed -n '2,11p' "$0"; exit 0 ;;
	*) echo "install-deps: unknown argument '$a'" >&2; exit 2 ;;
	esac
done

say() { echo "install-deps: $*"; }

BUILD_PKGS="gcc make pkg-config libevent-dev libinih-dev libcmocka-dev libgcrypt20-dev"
TEST_PKGS="openssl curl python3 python3-jsonschema python3-torch user-mode-linux busybox-static procps iproute2 nftables iptables clang libclang-rt-dev logrotate mandoc man-db lintian dpkg-dev"
BENCH_PKGS="stunnel4 haproxy hitch gnuplot-nox strace"
MBEDTLS_PKGS="libmbedtls-dev libmbedtls21 libmbedx509-7 libmbedcrypto16"

want="$BUILD_PKGS $TEST_PKGS"
[ "$BENCH" = 1 ] && want="$want $BENCH_PKGS"

missing=""
for p in $want; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing="$missing $p"
done

# mbedTLS: the installed dev package must be 3.6 or newer (3.x ABI, TLS 1.3, PSA).
mbedtls_ok() {
	v=$(dpkg-query -W -f='${Version}' libmbedtls-dev 2>/dev/null) || return 1
	dpkg --compare-versions "$v" ge 3.6
}
need_mbedtls=0
mbedtls_ok || need_mbedtls=1

if [ -z "$missing" ] && [ "$need_mbedtls" = 0 ]; then
	say "all dependencies present"
	exit 0
fi

if [ "$(id -u)" != 0 ]; then
	say "missing:${missing}$( [ "$need_mbedtls" = 1 ] && echo " mbedTLS>=3.6")"
	say "run as root: sudo $0 $*"
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive
if [ -n "$missing" ]; then
	say "installing:$missing"
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing
fi

if [ "$need_mbedtls" = 1 ]; then
	if apt-cache policy libmbedtls-dev 2>/dev/null | awk '/Candidate:/ {print $2}' |
		xargs -I{} dpkg --compare-versions {} ge 3.6 2>/dev/null; then
		say "installing mbedTLS 3.6 from this release's archive"
		# shellcheck disable=SC2086
		apt-get install -y -qq --no-install-recommends $MBEDTLS_PKGS
	else
		say "this release has no mbedTLS 3.6; taking trixie's $MBEDTLS_PKGS"
		say "(private apt state, system sources untouched, nothing else upgraded)"
		tmp=$(mktemp -d /tmp/mtlsd-deps.XXXXXX)
		trap 'rm -rf "$tmp"' EXIT
		mkdir -p "$tmp/lists/partial" "$tmp/cache/archives/partial" "$tmp/debs"
		mirror=${MTLSD_TRIXIE_MIRROR:-http://deb.debian.org/debian}
		echo "deb $mirror trixie main" > "$tmp/sources.list"
		opts="-o Dir::Etc::SourceList=$tmp/sources.list -o Dir::Etc::SourceParts=/dev/null
		      -o Dir::State::Lists=$tmp/lists -o Dir::Cache=$tmp/cache -qq"
		# shellcheck disable=SC2086
		apt-get $opts update
		# shellcheck disable=SC2086
		(cd "$tmp/debs" && apt-get $opts download $MBEDTLS_PKGS)
		apt-get install -y -qq --no-install-recommends "$tmp"/debs/*.deb
	fi
	mbedtls_ok || { say "mbedTLS >= 3.6 still not installed"; exit 1; }
fi
say "done: $(dpkg-query -W -f='libmbedtls-dev ${Version}' libmbedtls-dev)"
