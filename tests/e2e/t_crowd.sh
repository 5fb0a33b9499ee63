#!/bin/bash
# Crowds and storms, small versions of make soak's (tests/soak/scenarios.sh):
# - 100 idle mTLS connections held and echoing, at most 64 KiB of mtlsd's
#   memory each, a fresh client served meanwhile;
# - 3 certificate rotations and 10 SIGHUPs during a 16 MiB transfer: intact,
#   each new serial served, no connection dropped;
# - every kind of hostile TLS input crowd.py knows (garbage, HTTP,
#   truncated, oversized records and handshakes, empty records, alerts,
#   ChangeCipherSpec floods, SSLv2, SSLv3, TLS 1.0/1.1 hellos), 4 of each,
#   and 200 ClientHello-then-RST: all refused with at most an alert, nothing
#   reaches the backend, no descriptor or memory growth.
# Descriptor exhaustion's small version is e2e/t_limits.
. "$(dirname "$0")/lib.sh"
. "$TOP/tests/soak/scenarios.sh"

make_pki || { not_ok "PKI"; finish; }
scenario_held 100
scenario_storm $((16 << 20)) 6 3 10
scenario_hostile 4 200
finish
