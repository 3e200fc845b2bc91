#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Token errors at each step of a renewal (invariant 5): p11shim makes the
# n-th C_GenerateKeyPair / C_CreateObject / C_CopyObject / C_DestroyObject
# of an `enroll` fail with CKR_DEVICE_ERROR.  Before the label changes an
# error fails the enrollment (exit 4, the token's answer named) and leaves
# the old pair; inside the step that changes the label a failed copy falls
# back to a relabel in place and a failed delete is tried once more, so
# the swap completes; after it, a failed delete of a .next original fails
# the enrollment with the new pair already in place.  Right after each,
# the label is never mixed, and the next ordinary start (account show)
# leaves exactly one pair, nothing under .next/.retired and no journal.
#   swap_token_errors.sh WORKDIR   (P11SHIM = path of p11shim.so)
. "$(dirname "$0")/lib.sh"
agt_need_shim
agt_enrolled "$1" agt-tokerr tokerr.build.example.com
agt_shim_config "$CFG"

# A rotated-key renewal: key pair generated (C_GenerateKeyPair 1),
# certificate stored under .next (C_CreateObject 1); the old certificate,
# private and public key deleted (C_DestroyObject 1-3), the new ones
# copied to the label (C_CopyObject 1-3); the .next originals deleted
# (C_DestroyObject 4-6).  SPEC:EXPECTED-EXIT
for spec in C_GenerateKeyPair:1:4 C_CreateObject:1:4 \
    C_DestroyObject:1:0 C_DestroyObject:2:0 C_DestroyObject:3:0 \
    C_CopyObject:1:0 C_CopyObject:2:0 C_CopyObject:3:0 \
    C_DestroyObject:4:4 C_DestroyObject:5:4 C_DestroyObject:6:4; do
    IFS=: read -r fn n want <<<"$spec"
    say "== $fn fails (call $n)"
    status_serial "$CFG" "$ID"; before=$SERIAL
    P11SHIM_FAIL="$fn:CKR_DEVICE_ERROR:$n" csa "fail-$fn-$n" "$W/shim.ini" enroll "$ID"
    check_rc "enroll with $fn #$n failing" "$want"
    if [ "$want" = 4 ]; then
        check_out "the error names the token's answer" "CKR_DEVICE_ERROR"
        check_no_out "nothing claims success" "^enrolled"
    else
        check_out "the swap went on after the token's error" "CKR_DEVICE_ERROR"
    fi
    csa_list || fail "list"
    check_never_mixed "right after $fn #$n failed" "$LABEL" "$ID"
    csa "recover-$fn-$n" "$CFG" account show
    check_rc "account show after the failed renewal" 0
    check_clean_pair "$ID" "$LABEL" "$CFG"
    status_serial "$CFG" "$ID"
    case $fn:$n in
    C_GenerateKeyPair:1 | C_CreateObject:1)
        check_eq "the old certificate stays" "$before" "$SERIAL" ;;
    *) check_ne "the renewed certificate is in place" "$before" "$SERIAL" ;;
    esac
done
agt_finish
