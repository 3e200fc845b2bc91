#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# External Account Binding required by Pebble (--eab): without EAB and with
# a wrong (but well-formed) MAC key the account is refused with a clear
# error, non-zero exit and nothing enrolled; with the right key the
# enrollment succeeds.  The MAC key never appears in csagent's output.
#   eab.sh WORKDIR
. "$(dirname "$0")/lib.sh"
agt_setup "$1" agt-eab --always-valid --eab
(umask 077 && "$OPENSSL_BIN" rand 32 | base64 -w0 | tr '+/' '-_' | tr -d '=' >"$W/wrong-eab.key")
check_ne "the wrong key differs from Pebble's" "$(cat "$PEBBLE_EAB_KEY_FILE")" "$(cat "$W/wrong-eab.key")"
ids() { identity rel rel-key p256 rel.build.example.com; }

# 1. no EAB at all
agt_config "$W/none.ini" < <(ids)
csa enroll-no-eab "$W/none.ini" enroll rel
check_rc "enroll without EAB against a CA whose directory requires it: configuration error" 3
check_out "the error says EAB is required" "externalAccountRequired|[Ee]xternal [Aa]ccount"

# 2. the wrong MAC key
agt_config "$W/wrong.ini" eab_kid="$PEBBLE_EAB_KID" eab_key_file="$W/wrong-eab.key" < <(ids)
csa enroll-wrong-eab "$W/wrong.ini" enroll rel
check_rc "enroll with a wrong EAB MAC key: CA error" 5
check_out "the error names the external account binding" "[Ee]xternal [Aa]ccount|EAB|externalAccountBinding"
check_out "the error carries the CA's problem" "urn:ietf:params:acme:error:"
csa show-after-wrong "$W/wrong.ini" account show
check_rc_nonzero "no account exists after the refused binding (account show)"
csa_list
check_eq "nothing enrolled under 'rel-key'" 0 "$(grep -c 'label="rel-key' "$W/list.txt")"
check "no journal left" test ! -e "$STATE/rel.journal"

# 3. the right key
agt_config "$W/right.ini" eab_kid="$PEBBLE_EAB_KID" eab_key_file="$PEBBLE_EAB_KEY_FILE" < <(ids)
csa enroll-right-eab "$W/right.ini" enroll rel
check_rc "enroll with the right EAB key" 0
check_out "enrolled" "enrolled rel: serial [0-9A-F]+"
CFG=$W/right.ini
check_clean_pair rel rel-key "$CFG"
csa show "$W/right.ini" account show
check_rc "account show after the bound registration" 0
check_out "account is valid" "^status: valid"

for f in "$PEBBLE_EAB_KEY_FILE" "$W/wrong-eab.key"; do
    if grep -rqF -- "$(cat "$f")" "$W/logs"; then
        fail "EAB MAC key $f appears in csagent output"
    else
        pass "EAB MAC key $(basename "$f") appears in no csagent output"
    fi
done
agt_finish
