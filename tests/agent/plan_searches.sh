#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Planning many identities searches the token once, not once per identity
# (issue 12): on a file-backed token every search reads every object, so a
# search per identity makes a start cost N times the token's size.
#
# Eight identities are enrolled by one `run --once`; a second `run --once`
# (nothing due) goes through tests/p11shim, which counts the key holder's
# C_FindObjectsInit.  Every identity must still be planned from its
# certificate on the token, with fewer searches than identities.  Then one
# identity's certificate is replaced behind the agent's back (a renewal by
# `csagent enroll`), and the plan still reads the new one.
#   plan_searches.sh WORKDIR
. "$(dirname "$0")/lib.sh"
agt_need_shim
agt_setup "$1" agt-plan --always-valid
N=8
CFG=$W/agent.ini
agt_config "$CFG" < <(for i in $(seq 1 $N); do
    identity "p$i" "p$i-key" p256 "p$i.plan.example.com"
done)
agt_shim_config "$CFG"
csa register "$CFG" account register
check_rc "account register" 0

say "== one run --once enrolls all $N"
csa enroll-all "$CFG" run --once
check_rc "run --once (first enrollments)" 0
csa_list
for i in $(seq 1 $N); do
    [ "$(count certificate "p$i-key")" = 1 ] || fail "p$i has no certificate"
done

say "== run --once with nothing due, searches counted"
P11SHIM_COUNT_FILE=$W/plan.counts csa plan "$W/shim.ini" run --once
check_rc "run --once (nothing due)" 0
finds=$(awk '$1 == "C_FindObjectsInit" { print $2 }' "$W/plan.counts")
say "  C_FindObjectsInit: ${finds:-0} for $N identities"
[ -n "$finds" ] && [ "$finds" -gt 0 ] || fail "no search counted (shim not used?)"
[ "$finds" -lt "$N" ] && pass "fewer searches ($finds) than identities ($N)" ||
    fail "$finds searches to plan $N identities: one per identity"
planned=$(grep -c 'next action' "$AGT_ERR" || true)
[ "$planned" = "$N" ] || fail "$planned of $N identities planned"
if grep -q 'no certificate on the token yet' "$AGT_ERR"; then
    fail "an identity was planned without its certificate"
fi
grep -q 'renewing' "$AGT_ERR" && fail "an identity was renewed though nothing was due"

# plan_serial ID: the serial the last run planned ID from (status.json).
plan_serial() {
    jq -r --arg id "$1" '.[] | select(.identity == $id) | .serial' "$STATE/status.json"
}
# Each identity planned from its own certificate: the serial in status.json
# is the one `csagent status` reads from the token for that identity.
check_plans() { # WHEN
    local i ok=0
    for i in $(seq 1 $N); do
        status_serial "$CFG" "p$i"
        if [ -n "$SERIAL" ] && [ "$SERIAL" != - ] && [ "$(plan_serial "p$i")" = "$SERIAL" ]; then
            ok=$((ok + 1))
        else
            fail "$1: p$i planned from serial '$(plan_serial "p$i")', the token has '$SERIAL'"
        fi
    done
    [ "$ok" = "$N" ] && pass "$1: every identity planned from its own certificate"
}
check_plans "after the counted run"

say "== p3 renewed by another csagent since: the next plan reads its new certificate"
old=$(plan_serial p3)
csa renew-p3 "$CFG" enroll p3
check_rc "enroll p3" 0
csa plan2 "$CFG" run --once
check_rc "run --once (after p3's renewal)" 0
[ "$(plan_serial p3)" != "$old" ] || fail "p3 still planned from its old certificate $old"
check_plans "after p3's renewal"
agt_finish
