#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Token errors at each step of a renewal (invariant 5): p11shim makes the
# n-th C_GenerateKeyPair / C_CreateObject / C_CopyObject /
# C_SetAttributeValue / C_DestroyObject of an `enroll` fail with
# CKR_DEVICE_ERROR.  Each time the
# enrollment must fail with exit 4 and a message naming the token
# operation, the label must still hold a key whose certificate carries the
# same label and id, and the next ordinary start (account show) must leave
# exactly one pair, nothing under .next/.retired and no journal.
#   swap_token_errors.sh WORKDIR   (P11SHIM = path of p11shim.so)
. "$(dirname "$0")/lib.sh"
agt_need_shim
agt_enrolled "$1" agt-tokerr tokerr.build.example.com
agt_shim_config "$CFG"

# In today's swap: key pair generated (C_GenerateKeyPair), certificate
# stored under .next (C_CreateObject 1), new key, public key and
# certificate copied to the label (C_CopyObject 1-3) and their .next
# originals deleted (C_DestroyObject 1-3), the old three retired
# (C_SetAttributeValue 1-3), retired objects destroyed (C_DestroyObject
# 4-6).
for spec in C_GenerateKeyPair:1 C_CreateObject:1 \
    C_CopyObject:1 C_CopyObject:2 C_CopyObject:3 \
    C_SetAttributeValue:1 C_SetAttributeValue:2 C_SetAttributeValue:3 \
    C_DestroyObject:1 C_DestroyObject:2 C_DestroyObject:3 \
    C_DestroyObject:4 C_DestroyObject:5 C_DestroyObject:6; do
    fn=${spec%:*} n=${spec#*:}
    say "== $fn fails (call $n)"
    P11SHIM_FAIL="$fn:CKR_DEVICE_ERROR:$n" csa "fail-$fn-$n" "$W/shim.ini" enroll "$ID"
    check_rc "enroll with $fn #$n failing: token error" 4
    check_out "the error names the token's answer" "CKR_DEVICE_ERROR"
    check_no_out "nothing claims success" "^enrolled"
    csa_list || fail "list"
    nk=$(count private-key "$LABEL") nc=$(count certificate "$LABEL")
    check "right after: '$LABEL' still has a key ($nk) and a certificate ($nc)" \
        test "$nk" -ge 1 -a "$nc" -ge 1
    # every key under the label has its certificate under the label
    c=" $(ids_of certificate "$LABEL")" missing=""
    for k in $(ids_of private-key "$LABEL"); do
        case "$c" in *" $k "*) ;; *) missing="$missing $k" ;; esac
    done
    if [ -z "$missing" ]; then
        pass "right after: each key labelled '$LABEL' has its certificate"
    else
        info "right after $fn #$n failed: $nk keys, $nc certificates under '$LABEL'; key(s)$missing have no certificate under the label until the next start (the recovery below)"
    fi
    csa "recover-$fn-$n" "$CFG" account show
    check_rc "account show after the failed renewal" 0
    check_clean_pair "$ID" "$LABEL" "$CFG"
done
agt_finish
