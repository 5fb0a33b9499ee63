#!/bin/bash
# tests/soak/one.sh SCENARIO ARGS...: one scenario of scenarios.sh as a TAP
# file of its own (tests/soak/run.sh runs each in a fresh network namespace).
. "$(dirname "$0")/../e2e/lib.sh"
. "$TOP/tests/soak/scenarios.sh"

ip link set lo up 2>/dev/null
make_pki || { not_ok "PKI"; finish; }
"scenario_$1" "${@:2}"
finish
