#!/bin/bash
# Slow clients and a slow backend, small versions of make soak's
# (tests/soak/scenarios.sh):
# - 1,000 slowloris clients at once, in a network namespace of this test's
#   own, cause no listen overflow (TcpExt ListenOverflows/ListenDrops, read
#   in that namespace), are all accepted, and are all closed by the 5 s
#   handshake timeout, none left open, while a good client is served.
#   With `backlog = 128` (SLOW_BACKLOG=128) the same crowd overflows (some
#   300-540 overflows per run here, and at times clients left open that
#   mtlsd never accepted), so the test shows the backlog is the route's.
# - a backend that reads at 256 KiB/s for 2 s while 32 MiB is pushed
#   through a client and a server route: memory stays flat, bytes intact.
if [ -z "${MTLSD_SLOW_NS:-}" ]; then
	if [ "$(id -u)" != 0 ] || ! unshare -n true 2>/dev/null; then
		echo "ok 1 - slow clients need a network namespace of their own # SKIP not root"
		echo "1..1"; exit 0
	fi
	MTLSD_SLOW_NS=1 exec unshare -n bash "$0" "$@"
fi
. "$(dirname "$0")/lib.sh"
. "$TOP/tests/soak/scenarios.sh"

ip link set lo up
make_pki || { not_ok "PKI"; finish; }
scenario_slowloris "${SLOW_N:-1000}" 5 ${SLOW_BACKLOG:-}
scenario_slow_backend $((32 << 20)) 2 $((256 << 10))
finish
