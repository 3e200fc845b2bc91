#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A renewal killed inside swap-in step 5/6 (invariant 3).  SoftHSM's file
# store rewrites an object in place (truncate, then write): a process
# killed inside C_SetAttributeValue loses that object.  csagent therefore
# promotes the new pair by copy (C_CopyObject, then delete the .next
# original) and relabels in place only the old pair it retires, or
# everything when the module refuses copies.
#
# p11shim kills `enroll` at each of those points:
#  - P11SHIM_TEAR=n: the n-th C_SetAttributeValue destroys its object and
#    SIGKILLs (SoftHSM's loss);
#  - P11SHIM_KILL_AFTER=C_CopyObject:n: SIGKILL right after the n-th copy;
#  - both with P11SHIM_FAIL=C_CopyObject:CKR_FUNCTION_NOT_SUPPORTED:*
#    ("nocopy"), a module without copies, where the new pair's own
#    relabels can be torn: recovery must then roll back to the old pair.
# Each time: right after the kill the label still has a key whose
# certificate carries the same id; the next start recovers to exactly one
# pair whose key matches its certificate (rolled back when the new pair
# lost a piece, rolled forward otherwise).  After each series an ordinary
# renewal succeeds.  Rotated key: 3 copies, then 3 relabels of the old
# pair (without copies: 3 relabels of the new pair first); kept key
# (rotate = no): 1 copy, 1 relabel.
#   swap_torn_relabel.sh WORKDIR   (P11SHIM = path of p11shim.so)
. "$(dirname "$0")/lib.sh"
agt_need_shim
agt_enrolled "$1" agt-torn torn.build.example.com
NOCOPY=C_CopyObject:CKR_FUNCTION_NOT_SUPPORTED:*

tok_serial() {
    token_cert "$LABEL" "$W/cur.pem" &&
        "$OPENSSL_BIN" x509 -in "$W/cur.pem" -noout -serial | cut -d= -f2
}

# kill_at CONFIG KIND [nocopy] VAR=VALUE: one killed renewal and recovery.
kill_at() {
    local cfg=$1 kind=$2 fail="" step before c k paired nk nc
    shift 2
    if [ "$1" = nocopy ]; then fail=$NOCOPY; shift; fi
    say "== $kind: P11SHIM_$1${fail:+ (module without C_CopyObject)}"
    agt_shim_config "$cfg"
    before=$(tok_serial)
    export P11SHIM_FAIL=$fail "P11SHIM_$1"
    csa "kill-$1" "$W/shim.ini" enroll "$ID"
    unset P11SHIM_FAIL P11SHIM_TEAR P11SHIM_KILL_AFTER
    check_rc "enroll killed at P11SHIM_$1" 137
    check_out "the shim killed csagent" "P11SHIM_(TEAR: object|KILL_AFTER)"
    step=$(jq -r .step "$STATE/$ID.journal" 2>/dev/null || echo none)
    info "journal after the kill: $step"
    csa_list || fail "list"
    nk=$(count private-key "$LABEL") nc=$(count certificate "$LABEL")
    check "right after: '$LABEL' still has a key ($nk) and a certificate ($nc)" \
        test "$nk" -ge 1 -a "$nc" -ge 1
    c=" $(ids_of certificate "$LABEL") " paired=0
    for k in $(ids_of private-key "$LABEL"); do
        case "$c" in *" $k "*) paired=1 ;; esac
    done
    check_eq "right after: a key labelled '$LABEL' has its certificate under the label" 1 "$paired"
    csa "recover-$1" "$cfg" account show
    check_rc "account show after the kill (recovery)" 0
    if grep -q "is gone from the token" "$AGT_ERR"; then
        check_eq "only a torn relabel of the new pair (no copies) is rolled back" \
            "stored nocopy" "$step ${fail:+nocopy}"
        check_eq "the previous certificate stays" "$before" "$(tok_serial)"
    else
        check_out "recovery finished the swap" "finishing a swap interrupted at step $step"
        check_ne "the renewed certificate is in place" "$before" "$(tok_serial)"
    fi
    check_clean_pair "$ID" "$LABEL" "$cfg"
}
# renew CONFIG WHEN: an ordinary renewal after the recoveries.
renew() {
    csa "renew" "$1" enroll "$ID"
    check_rc "a renewal after $2" 0
    check_clean_pair "$ID" "$LABEL" "$1"
}

for n in 1 2 3; do kill_at "$CFG" "new key" "KILL_AFTER=C_CopyObject:$n"; done
for n in 1 2 3; do kill_at "$CFG" "new key" "TEAR=$n"; done
# (without copies, relabels 4-6 retire the old pair: the same as TEAR=1-3)
for n in 1 2 3; do kill_at "$CFG" "new key" nocopy "TEAR=$n"; done
renew "$CFG" "the kills of a rotated-key renewal"

# A module without copies and no kill: the relabel in place works.
agt_shim_config "$CFG"
P11SHIM_FAIL=$NOCOPY csa nocopy "$W/shim.ini" enroll "$ID"
check_rc "renewal with a module that refuses C_CopyObject" 0
check_clean_pair "$ID" "$LABEL" "$CFG"

CFG=$W/agent-keep.ini
agt_config "$CFG" < <(identity "$ID" "$LABEL" p256 torn.build.example.com; echo "rotate = no")
kill_at "$CFG" "kept key" "KILL_AFTER=C_CopyObject:1"
kill_at "$CFG" "kept key" "TEAR=1"
kill_at "$CFG" "kept key" nocopy "TEAR=1"
renew "$CFG" "the kills of a kept-key renewal"

# A first enrollment torn the same way has no old pair to fall back to:
# recovery leaves the label empty, and enrolling again works.
say "== first enrollment: P11SHIM_TEAR=1 (module without C_CopyObject)"
CFG=$W/agent-first.ini
agt_config "$CFG" < <(identity first first-key p256 torn.build.example.com)
agt_shim_config "$CFG"
export P11SHIM_FAIL=$NOCOPY P11SHIM_TEAR=1
csa first-kill "$W/shim.ini" enroll first
unset P11SHIM_FAIL P11SHIM_TEAR
check_rc "first enrollment killed inside C_SetAttributeValue #1" 137
csa first-recover "$CFG" account show
check_rc "account show after the kill (recovery)" 0
check_out "recovery saw the lost piece and rolled back" "is gone from the token"
csa_list || fail "list"
check_eq "nothing labelled 'first-key' or 'first-key.next' is left" "" \
    "$(grep -oE 'label="first-key(\.next)?"' "$W/list.txt" | tr '\n' ' ')"
check "no journal left" test ! -e "$STATE/first.journal"
csa first-again "$CFG" enroll first
check_rc "enrolling again" 0
check_clean_pair first first-key "$CFG"
agt_finish
