#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A renewal round finds each identity's objects in one listing of the
# token made at the round's start (issue 12), not with searches of its
# own: on a file-backed token every search reads every object.  Each
# handle from that listing is read back before it is used, and a label
# another process changed since is searched again.
#
# a) Through tests/p11shim, which counts the key holder's
#    C_FindObjectsInit: a round of four first enrollments makes no more
#    searches than a round of two.  Then POST /csca/ari-past makes two of
#    the six due, then all six: the round of six renewals makes no more
#    searches than the round of two (before, each renewal searched its
#    label and "<label>.chain"); every pair is clean and new.
# b) Three identities due, parallel = 2 (a round with the listing): s1 and
#    s3 start; s1's hook runs `csagent enroll s2` (another process) and then
#    lets s3's hook end, so s2 starts only after that other renewal, with
#    the round's listing of s2 stale (s2.pem is a new file since).  s2's
#    renewal must notice, search the label, and end with one clean pair,
#    the one it swapped in itself, and s2.pem must hold it.
. "$(dirname "$0")/lib.sh"
[ -f "${P11SHIM:-}" ] || skip "p11shim.so not built (P11SHIM=${P11SHIM:-unset})"
N=6
doms=()
for i in $(seq 1 $N); do doms+=("r$i.example.com"); done
d_setup "$1" dsnap "${doms[@]}" s1.example.com s2.example.com s3.example.com
csca_start --validity 1h --always-valid

say "== a) rounds of 2 and of $N renewals, searches counted"
CFG=$W/agent.ini
d_config "$CFG" parallel=2 < <(for i in $(seq 1 $N); do
    identity "r$i" "r$i-key" "r$i.example.com"
done)
csa register account register
check_rc "account register" 0
# first enrollments: r1 and r2 alone, then the other four
d_config "$W/agent-two.ini" parallel=2 < <(for i in 1 2; do
    identity "r$i" "r$i-key" "r$i.example.com"
done)
d_shim_round enroll-2 "$W/agent-two.ini"
check_rc "run --once (r1 and r2 first enrolled)" 0
check "two first enrollments in one round" grep -q "2 renewal(s) due, 2 at a time" "$ERR"
enroll2=$FINDS
d_shim_round enroll-4 "$W/agent.ini"
check_rc "run --once (r3 to r6 first enrolled)" 0
check "four first enrollments in one round" grep -q "4 renewal(s) due, 2 at a time" "$ERR"
info "C_FindObjectsInit: $enroll2 in a round of 2 first enrollments, $FINDS in a round of 4"
check_eq "a round of 4 first enrollments searches no more than a round of 2" \
    "$enroll2" "$FINDS"
for i in 1 2; do
    id=$(csca_certid "$(token_serial "r$i-key")")
    check_eq "POST /csca/ari-past?certid=<r$i's>" 1 "$(csca_post "/csca/ari-past?certid=$id" | jq -r .updated)"
done
d_shim_round round-2 "$W/agent.ini"
check_rc "run --once (r1 and r2 due)" 0
check "two renewed in one round" grep -q "2 renewal(s) due, 2 at a time" "$ERR"
finds2=$FINDS
declare -A before
for i in $(seq 1 $N); do before[$i]=$(token_serial "r$i-key"); done
check_ge "POST /csca/ari-past: every certificate due" $N \
    "$(csca_post /csca/ari-past | jq -r .updated)"
d_shim_round round-all "$W/agent.ini"
check_rc "run --once (all $N due)" 0
check "all $N renewed in one round" grep -q "$N renewal(s) due, 2 at a time" "$ERR"
info "C_FindObjectsInit: $finds2 in a round of 2 renewals, $FINDS in a round of $N"
check_ge "searches counted (the shim was used)" 1 "$FINDS"
# each renewal used to search its label and "<label>.chain": 2 more each
check_eq "a round of $N searches no more than a round of 2" "$finds2" "$FINDS"
for i in $(seq 1 $N); do
    check_clean_pair "r$i" "r$i-key" "r$i after the round"
    check_ne "r$i: a new certificate" "${before[$i]}" "$(token_serial "r$i-key")"
done
CFG=$W/agent.ini

say "== b) a label renewed by another process during the round"
NESTED=$W/hook-nested.sh
cat >"$NESTED" <<H
#!/bin/sh
# s1's "begin" in an armed round: renew s2 with another csagent, once
if [ -e "$W/nested.arm" ] && [ ! -e "$W/nested.done" ] &&
    [ "\$CSAGENT_HOOK_METHOD" = begin ] && [ "\$CSAGENT_IDENTIFIER" = s1.example.com ]; then
    touch "$W/nested.done"
    SOFTHSM2_CONF="$SOFTHSM2_CONF" "$CSAGENT" -c "$W/agent2.ini" enroll s2 >"$W/nested.log" 2>&1
    echo "exit \$?" >>"$W/nested.log"
    touch "$W/nested.over"
fi
exit 0
H
chmod 755 "$NESTED"
# s3's hook, in an armed round: waits (at most 60 s) until s1's hook is over
WAITER=$W/hook-wait.sh
cat >"$WAITER" <<H
#!/bin/sh
if [ -e "$W/nested.arm" ] && [ "\$CSAGENT_HOOK_METHOD" = begin ]; then
    i=0
    while [ ! -e "$W/nested.over" ] && [ \$i -lt 600 ]; do sleep 0.1; i=\$((i + 1)); done
fi
exit 0
H
chmod 755 "$WAITER"
CFG=$W/agent2.ini
d_config "$CFG" parallel=2 < <(
    identity s1 s1-key s1.example.com "$NESTED"
    identity s3 s3-key s3.example.com "$WAITER"
    identity s2 s2-key s2.example.com)
csa enroll-s run --once
check_rc "run --once (s1, s3, s2 enrolled)" 0
s2_first=$(token_serial s2-key)
check_ge "POST /csca/ari-past: s1, s3 and s2 due" 3 "$(csca_post /csca/ari-past | jq -r .updated)"
touch "$W/nested.arm"
csa round2 run --once
check_rc "run --once (s1, s3 and s2 due, parallel = 2)" 0
check "one round of three, two at a time" grep -q "3 renewal(s) due, 2 at a time" "$ERR"
check "s3's hook waited for s1's (no time-out)" test -e "$W/nested.over"
check "s1's hook renewed s2 with another csagent (exit 0)" grep -qx "exit 0" "$W/nested.log"
check "the round then swapped in s2 itself" grep -q "s2: certificate swapped in" "$ERR"
check_clean_pair s1 s1-key "s1 after the round"
check_clean_pair s3 s3-key "s3 after the round"
check_clean_pair s2 s2-key "s2 after the round and the other process"
s2_now=$(token_serial s2-key)
check_ne "s2: a new certificate" "$s2_first" "$s2_now"
check_eq "s2.pem holds the certificate under s2-key" "$s2_now" \
    "$("$OPENSSL_BIN" x509 -in "$STATE/s2.pem" -noout -serial | cut -d= -f2)"
d_finish
