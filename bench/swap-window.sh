#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Benchmark: how long the label has no complete pair while a rotated key
# is swapped in, and how many PKCS#11 calls that step makes (the window
# docs/operations.md states).  N renewals of one P-256 identity against a
# local Pebble (validation skipped) on a throwaway SoftHSM token; csagent
# logs "label '<label>' changed in X ms" for each.  Prints the median and
# the maximum, and the same for rotate = no (where a pair is there all
# along).  These machines are noisy: compare runs made the same day.
#
#   bench/swap-window.sh [BUILD_DIR] [N]
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
n=${2:-30}
# The same programs the build's tests use (CMakeCache.txt).
cache() { sed -n "s/^$1:[A-Z]*=//p" "$build/CMakeCache.txt"; }
export CSAGENT=$build/agent/csagent PEBBLE=${PEBBLE:-$(command -v pebble)}
export SOFTHSM2_MODULE=${SOFTHSM2_MODULE:-$(cache SOFTHSM2_MODULE)}
export PKCS11_PROVIDER=${PKCS11_PROVIDER:-$(cache PKCS11_PROVIDER)}
. "$root/tests/agent/lib.sh"
agt_enrolled "$build/bench-swap-window" bench-swap swap.bench.example.com
[ "$AGT_RC" = 0 ] || { echo "first enrollment failed"; exit 1; }

# window CONFIG WHAT: N renewals, then the median and maximum window.
window() {
    local i f=$W/window-$2.txt
    : >"$f"
    for i in $(seq 1 "$n"); do
        csa "renew-$2-$i" "$1" enroll "$ID"
        [ "$AGT_RC" = 0 ] || { echo "renewal $i failed: $(tail -1 "$AGT_ERR")"; exit 1; }
        sed -n "s/.*label '$LABEL' changed in \([0-9.]*\) ms.*/\1/p" "$AGT_ERR" >>"$f"
    done
    sort -n "$f" | awk -v what="$2" '{v[NR]=$1} END {
        printf "%-28s renewals %d  median %.1f ms  max %.1f ms\n", what, NR,
            v[int((NR+1)/2)], v[NR] }'
}
window "$CFG" "new key (no pair meanwhile)"
agt_config "$W/keep.ini" < <(identity "$ID" "$LABEL" p256 swap.bench.example.com; echo "rotate = no")
window "$W/keep.ini" "kept key (pair all along)"
