#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# An account key rollover interrupted after the CA accepted keyChange.
#
# p11shim makes the token refuse every relabel (C_SetAttributeValue ->
# CKR_DEVICE_ERROR) right after the CA accepted the new key, which is where
# a kill -9 would also leave things.  The old key still carries the label,
# the new one "<account_key>.next".  The next contact with the CA settles
# it (agent/agt_account.c): the account journal (state_dir/account.journal)
# says the CA accepted the .next key, so it is promoted and the old one
# (its CKA_ID journalled) deleted; the account is the same, no new account
# is registered and no key is orphaned.  (Before the fix the old key was
# destroyed first and the next enroll registered a new account.)  The
# account lock and the crashes at every step: rollover_concurrent.sh.
# Then rollovers killed at each relabel and after each copy (below).
#   rollover_interrupted.sh WORKDIR   (P11SHIM = path of p11shim.so)
. "$(dirname "$0")/lib.sh"
agt_need_shim
agt_setup "$1" agt-rollover --always-valid
CFG=$W/agent.ini
agt_config "$CFG" < <(identity app app-key p256 app.build.example.com)
csa enroll-1 "$CFG" enroll app
check_rc "first enrollment (creates the account)" 0
csa show-1 "$CFG" account show
url1=$(sed -n 's/^account: //p' "$AGT_OUT")
check "account URL known ($url1)" test -n "$url1"

# The same configuration through p11shim: the token refuses every relabel.
agt_shim_config "$CFG"
P11SHIM_FAIL='C_SetAttributeValue:CKR_DEVICE_ERROR:*' \
    csa rollover-fails "$W/shim.ini" -v account rollover
check_rc_nonzero "rollover with a token that refuses the relabel fails"
check_out "the CA had accepted the keyChange" "rollover-account-key -> HTTP 200"
check_out "the error names the relabel" "relabel"

csa_list
nacct=$(count private-key csagent-account) nnext=$(count private-key csagent-account.next)
# A token that refuses every relabel cannot finish the promotion: the new
# key stays under .next until the next contact with the CA settles it.
check "after the failed rollover the keys are as before or pending ($nacct under the label, $nnext under .next)" \
    test "$nacct" = 1 -a "$nnext" -le 1
csa show-2 "$CFG" account show
check_out "account show settles the interrupted rollover with the CA" "finishing an interrupted rollover"
csa_list
check_eq "after settling: one key labelled 'csagent-account'" 1 "$(count private-key csagent-account)"
check_eq "after settling: none under 'csagent-account.next'" 0 "$(count private-key csagent-account.next)"
if [ "$AGT_RC" = 0 ] && [ "$(sed -n 's/^account: //p' "$AGT_OUT")" = "$url1" ]; then
    pass "account show still finds account $url1"
else
    bug ROLLOVER-NOT-ATOMIC "account show (exit $AGT_RC) no longer finds the account: $(grep -m1 error "$AGT_ERR")"
fi
csa enroll-2 "$CFG" enroll app
check_rc "enroll after the failed rollover" 0
if grep -q '(created)' "$AGT_ERR"; then
    bug ROLLOVER-NOT-ATOMIC "enroll silently registered a NEW account: $(grep -m1 -o 'account https://[^ ]* (created)' "$AGT_ERR")"
fi
csa show-3 "$CFG" account show
check_eq "the account is still the original one" "$url1" "$(sed -n 's/^account: //p' "$AGT_OUT")"
csa_list
check_eq "no orphan key left under 'csagent-account.next'" 0 "$(count private-key csagent-account.next)"

# A rollover killed after the CA accepted: inside the relabel of the old
# key to .retired (P11SHIM_TEAR: the module loses the object, as SoftHSM's
# file store does), or right after the new key was copied to the label
# (P11SHIM_KILL_AFTER).  The new key, the only one the CA accepts now, is
# never relabelled in place, so it survives; the next contact settles.
for kill in ${ROLL_KILLS:-TEAR=1 TEAR=2 KILL_AFTER=C_CopyObject:1 KILL_AFTER=C_CopyObject:2}; do
    say "== rollover killed: P11SHIM_$kill"
    "$CSAGENT" -c "$CFG" pubkey --label csagent-account >"$W/acct-before.jwk" 2>/dev/null
    env "P11SHIM_$kill" "$CSAGENT" -c "$W/shim.ini" -v account rollover \
        >"$W/kill.out" 2>"$W/kill.err" </dev/null
    rc=$?
    check_eq "rollover killed (P11SHIM_$kill): exit status" 137 "$rc"
    check "the CA had accepted the keyChange before the kill" \
        grep -q "rollover-account-key -> HTTP 200" "$W/kill.err"
    csa_list
    info "account objects after the kill: $(grep -o '^[a-z-]* *label="csagent-account[^"]*" id=[0-9a-f]*' "$W/list.txt" | tr -s ' ' | tr '\n' ';')"
    csa "show-$kill" "$CFG" -v account show
    check_rc "account show after the killed rollover" 0
    check_eq "the account is still the original one" "$url1" "$(sed -n 's/^account: //p' "$AGT_OUT")"
    csa_list
    check_eq "one key labelled 'csagent-account'" 1 "$(count private-key csagent-account)"
    check_eq "nothing left under .next/.retired" "" "$(labels_with_suffix next)$(labels_with_suffix retired)"
    "$CSAGENT" -c "$CFG" pubkey --label csagent-account >"$W/acct-after.jwk" 2>/dev/null
    check "the account key is the new one" test "$(cat "$W/acct-before.jwk")" != "$(cat "$W/acct-after.jwk")"
done
csa enroll-3 "$CFG" enroll app
check_rc "enroll after the killed rollovers" 0
check_no_out "no new account was registered" "[(]created[)]"
agt_finish
