#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# challenge.sh WORKDIR TYPE : one draft-05 challenge type end to end against
# csca.  TYPE: totp hotp otp cert ppkp clientauth, and variants with other
# server hints / key types: totp-sha256 (8 digits, SHA256, 60 s),
# hotp-sha512 (8 digits, SHA512), cert-rsa (RSA 3072 admin key),
# ppkp-p384 (ES384).
#   - csca offers newAuthz and the agent pre-authorizes with it
#   - order, finalize, certificate swapped into the token (csagent list)
#   - the issued leaf carries codeSigning EKU (clientAuth + rfc822Name SAN
#     for the clientauth identity with an email identifier)
. "$(dirname "$0")/lib.sh"
d_setup "$1"
type=$2
case "$type" in
totp-sha256) type=totp OTP_DIGITS=8 OTP_ALG=SHA256 OTP_PERIOD=60 ;;
hotp-sha512) type=hotp OTP_DIGITS=8 OTP_ALG=SHA512 ;;
cert-rsa) type=cert KEYTYPE=rsa3072 ;;
ppkp-p384) type=ppkp KEYTYPE=p384 ;;
esac
info "variant: ${OTP_DIGITS:-6} digits, ${OTP_ALG:-SHA1}, period ${OTP_PERIOD:-30}, credential key ${KEYTYPE:-p256}"
ch=$type-01
profile=codesigning
case "$type" in
totp | hotp)
    csca_org "$ch"
    otp_setup "$type" "$type-1" "$type-seed"
    extra=("otp_secret = $type-seed")
    ;;
otp)
    csca_org otp-01
    cs otp add --id rsa-token-1 --org "$ORG" --type otp || fatal "otp add"
    # csca's verifier accepts one code (no shell, env replaced: absolute paths)
    # (each code once: csca refuses a replayed otp-01 code)
    printf '314159\n271828\n' >"$W/valid-codes"
    cp "$W/valid-codes" "$W/person-codes"
    cat >"$W/verify-otp.sh" <<V
#!/bin/sh
echo "\$CSCA_OTP_CREDENTIAL" >>"$W/verifier-calls"
/bin/grep -qx "\$CSCA_OTP_CODE" "$W/valid-codes"
V
    # the agent's otp_program: what the person holding the token types
    cat >"$W/ask-person.sh" <<V
#!/bin/sh
echo "\$CSAGENT_IDENTITY \$CSAGENT_CHALLENGE_TYPE" >>"$W/asked"
head -1 "$W/person-codes"
sed -i 1d "$W/person-codes"
V
    chmod 755 "$W/verify-otp.sh" "$W/ask-person.sh"
    CSCA_EXTRA=(--otp-program "$W/verify-otp.sh")
    extra=("otp_program = $W/ask-person.sh")
    ;;
cert)
    csca_org cert-01
    admin_ca
    admin_leaf admin-alice "$W/admin/alice.pem" -days 10
    cs admin add --org "$ORG" --cert "$W/admin/alice.pem" || fatal "admin add --cert"
    extra=("cert_key = admin-alice" "cert_chain = $W/admin/alice.pem")
    ;;
ppkp)
    csca_org ppkp-01
    ppkp_key release-ppkp register
    extra=("ppkp_key = release-ppkp")
    ;;
clientauth | clientauth-cn)
    # clientauth-cn: common_name = a person's name (docs/config.md allows it;
    # DESIGN.md: "clientauth: CN = user or device name")
    [ "$type" = clientauth-cn ] && COMMON_NAME="Alice Example"
    ch=totp-01
    profile=clientauth
    csca_org totp-01 codesigning clientauth
    otp_setup totp totp-1 totp-seed
    extra=("otp_secret = totp-seed")
    ;;
*) fatal "unknown type $type" ;;
esac
csca_start "${CSCA_EXTRA[@]}"
if [ "$profile" = clientauth ]; then
    d_config "$W/agent.ini" <<EOF2
[identity alice]
label = alice-client
key_type = p256
profile = clientauth
email = alice@example.com
${COMMON_NAME:+common_name = $COMMON_NAME}
challenges = totp-01
otp_secret = totp-seed
EOF2
    idn=alice label=alice-client
else
    identity release release-signing "$ch" "${extra[@]}" | d_config "$W/agent.ini"
    idn=release label=release-signing
fi
CFG=$W/agent.ini
dir=$(curl -sS --cacert "$CS/tls-root.pem" "$DIR_URL")
check "csca's directory offers newAuthz (pre-authorization)" \
    grep -q '"newAuthz"' <<<"$dir"
register "$CFG"
stats_reset
csa enroll "$CFG" enroll "$idn"
if [ -n "${COMMON_NAME:-}" ] && grep -q 'badCSR: CSR subject CN' "$D_ERR"; then
    bug csca-clientauth-cn "csca refuses a clientauth CSR whose CN is the configured common_name '$COMMON_NAME' (DESIGN.md: CN = user or device name; csagent config allows common_name): $(grep -o 'urn:[^ ]*badCSR.*' "$D_ERR")"
    check_nothing_stored alice-client
    d_finish
fi
check_rc "enroll $idn with $ch" 0
check_out "the agent reports the serial" "enrolled $idn: serial"
st=$(stats)
info "csca stats after the enrollment: $st"
check_eq "newAuthz requests (pre-authorization, one factor)" 1 "$(stat_of "$st" newAuthz)"
check_eq "challenge answers POSTed (exactly one)" 1 "$(stat_of "$st" challenge)"
check_eq "newOrder requests" 1 "$(stat_of "$st" newOrder)"
check_eq "finalize requests" 1 "$(stat_of "$st" finalize)"
check "csca validated a $ch challenge (log: challenge -> 200)" \
    grep -qE 'POST /chall/[^ ]+ -> 200' "$CSCA_LOG"
check_enrolled "$label"
if [ "$profile" = clientauth ]; then want="CN=${COMMON_NAME:-alice@example.com}"; else want="CN=example.com"; fi
check "csagent list shows the certificate '$label' with $want: $(attrs certificate "$label")" \
    grep -q "subject=.*$want" <<<"$(attrs certificate "$label")"
leaf=$STATE/$idn.pem
check "issued chain stored in $leaf" test -s "$leaf"
eku=$(eku_of "$leaf")
if [ "$profile" = clientauth ]; then
    check_eq "leaf EKU" "TLS Web Client Authentication" "$eku"
    check_eq "leaf SAN" "email:alice@example.com" "$(san_of "$leaf")"
else
    check_eq "leaf EKU" "Code Signing" "$eku"
    check_eq "leaf subject CN/O" "O=Example Corp, CN=example.com" \
        "$("$OPENSSL_BIN" x509 -in "$leaf" -noout -subject -nameopt RFC2253 | sed 's/^subject=//' | awk -F, '{print $2", "$1}')"
fi
# the token's certificate is the issued one (same serial as state_dir copy)
p11ssl x509 -in "pkcs11:${CSA_TOKEN_URI#pkcs11:};object=$label;type=cert" \
    -noout -serial >"$W/tokserial" 2>"$W/tokserial.err"
check_eq "the token's certificate is the issued leaf (serial)" \
    "$("$OPENSSL_BIN" x509 -in "$leaf" -noout -serial)" "$(cat "$W/tokserial")"
case "$type" in
totp | hotp | clientauth*) cred="secret-key ${type/clientauth*/totp}-seed" ;;
cert) cred="private-key admin-alice" ;;
ppkp) cred="private-key release-ppkp" ;;
*) cred="" ;;
esac
if [ -n "$cred" ]; then
    a=$(attrs $cred)
    check "the $ch credential ($cred) stays sensitive=yes extractable=no after use: $a" \
        grep -q "sensitive=yes extractable=no" <<<"$a"
fi
case "$type" in
hotp) check_eq "HOTP counter persisted in $STATE/release.hotp" 1 \
    "$(tr -d '\n' <"$STATE/release.hotp")" ;;
otp)
    check_eq "otp_program asked once (CSAGENT_IDENTITY, CSAGENT_CHALLENGE_TYPE)" "release otp-01" "$(cat "$W/asked" 2>/dev/null)"
    check_eq "csca's verifier ran once for the credential" rsa-token-1 \
        "$(cat "$W/verifier-calls" 2>/dev/null)" ;;
esac
# a second enrollment (renewal) works the same way: every order proves again
# (TOTP: not within the same time step; replay is tested in failure.sh)
[ "$ch" = totp-01 ] && d_finish
serial1=$("$OPENSSL_BIN" x509 -in "$leaf" -noout -serial)
csa enroll "$CFG" enroll "$idn"
check_rc "second enroll (renewal) of $idn with $ch" 0
check_ne "renewal swapped in a new certificate" "$serial1" "$("$OPENSSL_BIN" x509 -in "$leaf" -noout -serial)"
check_enrolled "$label"
case "$type" in
hotp) check_eq "HOTP counter advanced to 2 after the second enrollment" 2 \
    "$(tr -d '\n' <"$STATE/release.hotp")" ;;
otp) check_eq "verifier ran twice in all (one code per enrollment)" 2 \
    "$(wc -l <"$W/verifier-calls")" ;;
esac
d_finish
