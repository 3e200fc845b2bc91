#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Account life cycle against Pebble: enroll creates the account; account
# show prints it; a second enroll finds the same account; rollover replaces
# the account key in the token (exactly one key under the label, a new
# public key, same account URL) and a further enroll signs with the new key;
# revoke revokes the current certificate (a second revoke is refused by the
# CA, which proves the first one took effect).
#   account.sh WORKDIR
. "$(dirname "$0")/lib.sh"
agt_setup "$1" agt-account --always-valid
CFG=$W/agent.ini
agt_config "$CFG" < <(identity app app-key p256 app.build.example.com)
acct_url() { sed -n 's/^account: //p' "$AGT_OUT"; }
acct_pub() {
    "$CSAGENT" -c "$CFG" pubkey --label csagent-account --pem 2>/dev/null </dev/null | md5sum | cut -c1-16
}

csa show-none "$CFG" account show
check_rc_nonzero "account show before any account exists (never creates one)"
csa_list
check_eq "account show generated no account key" 0 "$(count private-key csagent-account)"

csa enroll-1 "$CFG" enroll app
check_rc "first enroll (creates the account)" 0
check_out "the account was created" "account https://.* \\(created\\)|created"
csa show-1 "$CFG" account show
check_rc "account show" 0
url1=$(acct_url)
check "account show prints the account URL ($url1)" grep -Eq '^https://127\.0\.0\.1:[0-9]+/my-account/' <<<"$url1"
check_out "account show prints the status" "^status: valid"
check_out "account show prints the contact" "^contact: mailto:ops@build.example.com"

status_serial "$CFG" app; s1=$SERIAL
csa enroll-2 "$CFG" enroll app
check_rc "second enroll (renewal, existing account)" 0
check_out "the existing account was found" "\\(existing\\)"
csa show-2 "$CFG" account show
check_eq "same account URL after the second enroll" "$url1" "$(acct_url)"
status_serial "$CFG" app; s2=$SERIAL
check_ne "renewal swapped in a new certificate" "$s1" "$s2"

pub1=$(acct_pub)
csa rollover "$CFG" account rollover
check_rc "account rollover" 0
check_out "rollover reports the new key" "rolled over"
pub2=$(acct_pub)
check_ne "the account key in the token changed" "$pub1" "$pub2"
csa_list
check_eq "exactly one account private key after rollover" 1 "$(count private-key csagent-account)"
check_eq "no account key left under .next" 0 "$(count private-key csagent-account.next)"
check "account key still sensitive=yes extractable=no" \
    grep -q 'sensitive=yes extractable=no' <<<"$(privkey_attrs csagent-account)"
csa show-3 "$CFG" account show
check_rc "account show with the new key" 0
check_eq "same account URL after rollover (the CA bound the new key)" "$url1" "$(acct_url)"

csa enroll-3 "$CFG" enroll app
check_rc "enroll signed with the rolled-over account key" 0
check_out "enroll used the existing account" "\\(existing\\)"
status_serial "$CFG" app; s3=$SERIAL
check_ne "a new certificate after the rollover" "$s2" "$s3"
check_clean_pair app app-key "$CFG"

csa revoke "$CFG" revoke app --reason 4
check_rc "revoke app --reason 4 (superseded)" 0
check_out "revoke reports it" "revoked the certificate of app"
# Pebble's management interface knows the certificate's status.
cstat=$(curl -sf --cacert "$PEBBLE_CA_BUNDLE" \
    "$PEBBLE_MGMT_URL/cert-status-by-serial/$(echo "$s3" | tr 'A-F' 'a-f' | sed 's/^0*//')" || true)
check "Pebble reports serial $s3 as revoked ($(tr -d '\n' <<<"$cstat" | cut -c1-80))" \
    grep -qi '"status": *"revoked"' <<<"$cstat"
csa revoke-again "$CFG" revoke app
check_rc_nonzero "a second revoke of the same certificate is refused by the CA"
check_out "the CA says it is already revoked" "alreadyRevoked|already revoked"
agt_finish
