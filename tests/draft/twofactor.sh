#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# twofactor.sh WORKDIR : an organisation requiring cert-01 AND totp-01; the
# identity's challenges = cert-01, totp-01; the agent completes both
# authorizations (one per factor, pre-authorized with newAuthz) and gets a
# code-signing certificate.
. "$(dirname "$0")/lib.sh"
d_setup "$1"
csca_org "cert-01 totp-01"
admin_ca
admin_leaf admin-alice "$W/admin/alice.pem" -days 10
cs admin add --org "$ORG" --cert "$W/admin/alice.pem" || fatal "admin add --cert"
otp_setup totp totp-1 release-totp
# cert_chain not set: the agent takes the token's certificate object with the
# admin key's CKA_ID, so store the admin certificate on the token with it.
akid=$(awk '$1=="private-key" && $2=="label=\"admin-alice\"" {sub("id=","",$3); print $3}' \
    <(csa_list >/dev/null; cat "$W/list.txt"))
[ -n "$akid" ] || fatal "no id for admin-alice"
"$OPENSSL_BIN" x509 -in "$W/admin/alice.pem" -outform DER -out "$W/admin/alice.der"
if command -v pkcs11-tool >/dev/null; then
    pkcs11-tool --module "$CSA_MODULE" --token-label "$CSA_TOKEN_LABEL" --login \
        --pin "$(cat "$CSA_PIN_FILE")" --write-object "$W/admin/alice.der" \
        --type cert --id "$akid" --label admin-alice >"$W/logs/pkcs11-tool.log" 2>&1 ||
        fatal "pkcs11-tool --write-object: $(cat "$W/logs/pkcs11-tool.log")"
    chain_line=""
    info "admin certificate stored on the token with the key's CKA_ID $akid (no cert_chain)"
else
    chain_line="cert_chain = $W/admin/alice.pem"
    info "pkcs11-tool missing: admin certificate given as cert_chain file"
fi
csca_start
identity release release-signing "cert-01, totp-01" \
    "otp_secret = release-totp" "cert_key = admin-alice" $chain_line | d_config "$W/agent.ini"
CFG=$W/agent.ini
register "$CFG"
stats_reset
csa enroll "$CFG" enroll release
check_rc "enroll with two factors (cert-01 + totp-01)" 0
check_out "the agent answered cert-01" "answering cert-01 for example.com"
check_out "the agent answered totp-01" "answering totp-01 for example.com"
st=$(stats)
# csca creates one pre-authorization per newAuthz call (one factor each);
# the agent calls newAuthz once per identifier, and the order then carries
# the remaining factor's authorization, which it also completes.
na=$(stat_of "$st" newAuthz)
check "newAuthz used for pre-authorization ($na call(s); csca wants one per factor for all to be pre-authorized)" \
    test "$na" -ge 1
[ "$na" = 1 ] && info "the agent pre-authorized 1 of 2 factors with newAuthz; the second came with newOrder"
check_eq "challenge answers (one per factor)" 2 "$(stat_of "$st" challenge)"
check_eq "finalize" 1 "$(stat_of "$st" finalize)"
check_eq "accepted challenge answers in csca's log" 2 "$(csca_saw 'POST /chall/[^ ]+ -> 200')"
check_enrolled release-signing
check_eq "leaf EKU" "Code Signing" "$(eku_of "$STATE/release.pem")"
d_finish
