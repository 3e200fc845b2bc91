#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# PKCS#11 calls per enrollment and per renewal (issue 12: target <= 40 per
# renewal).  One P-256 identity on a throwaway SoftHSM token, enrolled once
# and renewed once against a local Pebble (validation skipped, 127.0.0.1),
# with tests/p11shim in front of SoftHSM counting every call the key holder
# makes (the `csagent __net` child never loads the module).  Prints the
# calls per function of each run, and pkcs11-spy's total as a second,
# independent count when OpenSC's pkcs11-spy is installed.  Counts only: no
# timing, nothing asserted.
#
#   bench/p11-calls.sh [BUILD_DIR]
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
# The same programs the build's tests use (CMakeCache.txt).
cache() { sed -n "s/^$1:[A-Z]*=//p" "$build/CMakeCache.txt"; }
export CSAGENT=$build/agent/csagent PEBBLE=${PEBBLE:-$(command -v pebble)}
export SOFTHSM2_MODULE=${SOFTHSM2_MODULE:-$(cache SOFTHSM2_MODULE)}
export PKCS11_PROVIDER=${PKCS11_PROVIDER:-$(cache PKCS11_PROVIDER)}
export P11SHIM=${P11SHIM:-$build/tests/p11shim/p11shim.so}
. "$root/tests/agent/lib.sh"
agt_need_shim
agt_setup "$build/bench-p11-calls" p11calls --always-valid >/dev/null
ID=calls LABEL=calls-key
agt_config "$W/agent.ini" < <(identity "$ID" "$LABEL" p256 calls.bench.example.com)
agt_shim_config "$W/agent.ini"
spy=""
for f in /usr/lib/*/pkcs11-spy.so; do [ -f "$f" ] && spy=$f; done

# run NAME: `csagent enroll` through the shim; the counts land in
# $W/NAME.counts ("C_Name N" lines), pkcs11-spy's log in $W/NAME.spy.
run() {
    local cfg=$W/shim.ini
    if [ -n "$spy" ]; then
        sed "s|^module = .*|module = $spy|" "$W/shim.ini" >"$W/spy.ini"
        cfg=$W/spy.ini
        export PKCS11SPY=$P11SHIM PKCS11SPY_OUTPUT=$W/$1.spy
    fi
    P11SHIM_COUNT_FILE=$W/$1.counts csa "$1" "$cfg" enroll "$ID" >/dev/null
    [ "$AGT_RC" = 0 ] || fatal "$1 failed: $(tail -3 "$AGT_ERR")"
}
# show NAME WHAT: the calls per function, most frequent first, and the sum.
show() {
    printf '%s: %d PKCS#11 calls\n' "$2" "$(awk '{s += $2} END {print s}' "$W/$1.counts")"
    sort -k2,2nr -k1,1 "$W/$1.counts" | awk '{printf "  %-22s %4d\n", $1, $2}'
    [ -f "$W/$1.spy" ] &&
        printf '  (pkcs11-spy: %d calls)\n' "$(grep -cE '^[0-9]+: C_' "$W/$1.spy")"
    return 0
}
run enroll
run renew
printf 'one P-256 identity, Pebble (always valid) on 127.0.0.1, SoftHSM\n'
show enroll "first enrollment (account registered on the way)"
show renew "renewal (new key)"
