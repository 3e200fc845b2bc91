#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A renewal killed inside the swap step that changes the label (invariant
# 3, docs/operations.md "Swap-in").  With a new key the label goes: old
# certificate deleted, old private and public key deleted, new public and
# private key copied in from <label>.next, new certificate copied last;
# then the .next originals are deleted.  With a kept key (rotate = no) the
# new certificate is copied in before the old one is deleted.
#
# p11shim kills `enroll` at each of those points:
#  - P11SHIM_KILL_AFTER=C_DestroyObject:n / C_CopyObject:n: SIGKILL right
#    after the n-th call;
#  - P11SHIM_TEAR=n with P11SHIM_FAIL=C_CopyObject:CKR_FUNCTION_NOT_SUPPORTED:*
#    ("nocopy"): a module without copies, where the new objects are
#    relabelled in place and SoftHSM loses the one being rewritten when
#    the process dies (its file store truncates, then writes).
# Right after each kill the label resolves to one key and its certificate,
# or, only while the journal says "aside", to no complete pair; never to
# two keys or to a key with another key's certificate.  The next start
# recovers to exactly one pair whose key matches its certificate: rolled
# forward, or rolled back when the new pair lost a piece.  After each
# series an ordinary renewal succeeds.
#   swap_torn_relabel.sh WORKDIR   (P11SHIM = path of p11shim.so)
. "$(dirname "$0")/lib.sh"
agt_need_shim
agt_enrolled "$1" agt-torn torn.build.example.com
NOCOPY=C_CopyObject:CKR_FUNCTION_NOT_SUPPORTED:*

tok_serial() {
    token_cert "$LABEL" "$W/cur.pem" 2>/dev/null &&
        "$OPENSSL_BIN" x509 -in "$W/cur.pem" -noout -serial | cut -d= -f2
}

# kill_at CONFIG KIND [nocopy] VAR=VALUE: one killed renewal and recovery.
kill_at() {
    local cfg=$1 kind=$2 fail="" step before
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
    check_never_mixed "right after the kill" "$LABEL" "$ID"
    csa "recover-$1" "$cfg" account show
    check_rc "account show after the kill (recovery)" 0
    if grep -q "is gone from the token" "$AGT_ERR"; then
        check_eq "only a torn relabel of the new pair (no copies) is rolled back" \
            "nocopy" "${fail:+nocopy}"
    else
        check_out "recovery finished the swap" "finishing a swap interrupted at step $step"
        check_ne "the renewed certificate is in place" "$before" "$(tok_serial)"
    fi
    LAST_BEFORE=$before
}
# renew CONFIG WHEN: an ordinary renewal after the recoveries.
renew() {
    csa "renew" "$1" enroll "$ID"
    check_rc "a renewal after $2" 0
    check_clean_pair "$ID" "$LABEL" "$1"
}

# New key: destroys 1-3 take the old pair off the label, copies 1-3 bring
# the new one, destroys 4-6 drop the .next originals.
for n in 1 2 3 4 5 6; do
    kill_at "$CFG" "new key" "KILL_AFTER=C_DestroyObject:$n"
    check_clean_pair "$ID" "$LABEL" "$CFG"
done
for n in 1 2 3; do
    kill_at "$CFG" "new key" "KILL_AFTER=C_CopyObject:$n"
    check_clean_pair "$ID" "$LABEL" "$CFG"
done
# Without copies the new objects are relabelled in place; a torn one is
# lost and the renewal rolled back.  The old pair was already deleted
# (no grace period): the label holds no pair until the next renewal.
for n in 1 2 3; do
    kill_at "$CFG" "new key" nocopy "TEAR=$n"
    check_out "recovery saw the lost piece and rolled back" "is gone from the token"
    csa_list || fail "list"
    check_eq "after the rollback: no key and no certificate under '$LABEL' until the next renewal" \
        "0 0" "$(count private-key "$LABEL") $(count certificate "$LABEL")"
    check "no journal left" test ! -e "$STATE/$ID.journal"
    renew "$CFG" "a rolled-back torn relabel"
done
renew "$CFG" "the kills of a rotated-key renewal"

# A module without copies and no kill: the relabel in place works.
agt_shim_config "$CFG"
P11SHIM_FAIL=$NOCOPY csa nocopy "$W/shim.ini" enroll "$ID"
check_rc "renewal with a module that refuses C_CopyObject" 0
check_clean_pair "$ID" "$LABEL" "$CFG"

# Kept key: copy 1 adds the new certificate, destroy 1 removes the old
# one, destroy 2 the .next original.
CFG=$W/agent-keep.ini
agt_config "$CFG" < <(identity "$ID" "$LABEL" p256 torn.build.example.com; echo "rotate = no")
for kill in KILL_AFTER=C_CopyObject:1 KILL_AFTER=C_DestroyObject:1 \
    KILL_AFTER=C_DestroyObject:2; do
    kill_at "$CFG" "kept key" "$kill"
    check_clean_pair "$ID" "$LABEL" "$CFG"
done
# Without copies the new certificate is relabelled in place; torn, it is
# lost, and the old certificate (deleted only after the new one is in)
# still matches the key.
kill_at "$CFG" "kept key" nocopy "TEAR=1"
check_out "recovery saw the lost piece and rolled back" "is gone from the token"
check_clean_pair "$ID" "$LABEL" "$CFG"
check_eq "the previous certificate stays" "$LAST_BEFORE" "$(tok_serial)"
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
