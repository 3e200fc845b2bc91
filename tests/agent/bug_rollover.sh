#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# BUG (fails until fixed): `csagent account rollover` is not failure-safe.
#
# agent/agt_cmd_acme.c agt_rollover(): after the CA accepted keyChange it
# first DESTROYS every object labelled <account_key> and only then relabels
# "<account_key>.next" to <account_key>, with no journal.  If the token
# fails (or the process dies) between the two, the account's only valid key
# is left under "<account_key>.next": `account show` finds no account key,
# and the next `enroll` silently generates a new account key and registers
# a NEW account, orphaning the old one (invariant 5: loses nothing; no
# orphan keys).  p11shim makes the token refuse the relabel
# (C_SetAttributeValue -> CKR_DEVICE_ERROR) at exactly that point; a kill -9
# there has the same effect.
#   bug_rollover.sh WORKDIR   (P11SHIM = path of p11shim.so)
. "$(dirname "$0")/lib.sh"
[ -f "${P11SHIM:-}" ] || skip "p11shim.so not built (P11SHIM=${P11SHIM:-unset})"
agt_setup "$1" agt-rollover --always-valid
CFG=$W/agent.ini
agt_config "$CFG" < <(identity app app-key p256 app.build.example.com)
csa enroll-1 "$CFG" enroll app
check_rc "first enrollment (creates the account)" 0
csa show-1 "$CFG" account show
url1=$(sed -n 's/^account: //p' "$AGT_OUT")
check "account URL known ($url1)" test -n "$url1"

# The same configuration through p11shim: the token refuses every relabel.
sed "s|^module = .*|module = $P11SHIM|" "$CFG" >"$W/shim.ini"
P11SHIM_MODULE=$CSA_MODULE P11SHIM_FAIL='C_SetAttributeValue:CKR_DEVICE_ERROR:*' \
    csa rollover-fails "$W/shim.ini" -v account rollover
check_rc_nonzero "rollover with a token that refuses the relabel fails"
check_out "the CA had accepted the keyChange" "rollover-account-key -> HTTP 200"
check_out "the error names the relabel" "relabel"

csa_list
nacct=$(count private-key csagent-account) nnext=$(count private-key csagent-account.next)
if [ "$nacct" = 1 ] && [ "$nnext" = 0 ]; then
    pass "one account key labelled 'csagent-account', none under .next"
else
    bug ROLLOVER-NOT-ATOMIC "after the failed rollover: $nacct key(s) labelled 'csagent-account', $nnext under 'csagent-account.next'"
fi
csa show-2 "$CFG" account show
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
agt_finish
