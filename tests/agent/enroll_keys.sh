#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Full enrollment against Pebble (always-valid, 5% nonce rejection on) with
# EC P-256, P-384 and RSA 3072 account and certificate keys: the stored chain
# verifies to Pebble's root, the token key signs a CMS through
# pkcs11-provider that verifies with the issued certificate, and the token
# holds exactly one non-extractable sensitive key and one certificate under
# the label.
#   enroll_keys.sh WORKDIR
. "$(dirname "$0")/lib.sh"
agt_setup "$1" agt-enroll --always-valid
echo "release artefact 1.2.3" >"$W/artefact"

for kt in p256 p384 rsa3072; do
    say "== key type $kt (account key and certificate key)"
    CFG=$W/agent-$kt.ini
    label=sign-$kt
    agt_config "$CFG" account_key="acct-$kt" account_key_type="$kt" \
        < <(identity "id-$kt" "$label" "$kt" "$kt.build.example.com")
    # p256 at debug level: every HTTP request and PKCS#11 call is logged,
    # and the PIN check at the end covers all of it.
    v=; [ $kt = p256 ] && v=-v
    csa "enroll-$kt" "$CFG" $v enroll "id-$kt"
    check_rc "enroll id-$kt" 0
    check_out "enroll reports the serial and label" "enrolled id-$kt: serial [0-9A-F]+, label \"$label\""
    pem=$STATE/id-$kt.pem
    check "state file $pem written" test -s "$pem"
    # leaf and intermediate apart
    awk -v d="$W/$kt" '/BEGIN CERT/{n++} {print > (d "-part" n ".pem")}' "$pem"
    check_eq "$kt: PEM chain holds leaf + intermediate" 2 "$(grep -c 'BEGIN CERT' "$pem")"
    if "$OPENSSL_BIN" verify -CAfile "$PEBBLE_ROOTS" -untrusted "$W/$kt-part2.pem" \
        "$W/$kt-part1.pem" >"$W/verify-$kt.log" 2>&1; then
        pass "$kt: openssl verify -CAfile roots -untrusted intermediate leaf: $(tail -1 "$W/verify-$kt.log")"
    else
        fail "$kt: chain does not verify: $(cat "$W/verify-$kt.log")"
    fi
    # the leaf's key type is the one asked for
    ktxt=$("$OPENSSL_BIN" x509 -in "$W/$kt-part1.pem" -noout -text)
    case $kt in
    p256) want='NIST CURVE: P-256|prime256v1' ;;
    p384) want='NIST CURVE: P-384|secp384r1' ;;
    rsa3072) want='Public-Key: \(3072 bit\)' ;;
    esac
    check "$kt: the leaf's public key is $kt" grep -Eq "$want" <<<"$ktxt"
    check "$kt: the leaf names $kt.build.example.com" grep -q "DNS:$kt.build.example.com" <<<"$ktxt"

    # the account key is of the configured type, in the token
    csa_list || fail "list"
    check_eq "$kt: one account private key 'acct-$kt'" 1 "$(count private-key "acct-$kt")"
    check_eq "$kt: one private key labelled '$label'" 1 "$(count private-key "$label")"
    check_eq "$kt: one certificate labelled '$label'" 1 "$(count certificate "$label")"
    check_eq "$kt: one chain certificate labelled '$label.chain'" 1 "$(count certificate "$label.chain")"
    attrs=$(privkey_attrs "$label")
    check "$kt: key is sensitive=yes extractable=no ($attrs)" \
        grep -q 'sensitive=yes extractable=no always-sensitive=yes never-extractable=yes token=yes private=yes' <<<"$attrs"
    check "$kt: account key is sensitive=yes extractable=no" \
        grep -q 'sensitive=yes extractable=no' <<<"$(privkey_attrs "acct-$kt")"
    check_eq "$kt: no .next objects" "" "$(labels_with_suffix next)"

    # the certificate in the token equals the one in the state file
    if token_cert "$label" "$W/$kt-tok.pem"; then
        check "$kt: token certificate (via pkcs11-provider) = leaf in $pem" \
            cmp -s <("$OPENSSL_BIN" x509 -in "$W/$kt-tok.pem" -outform DER) \
            <("$OPENSSL_BIN" x509 -in "$W/$kt-part1.pem" -outform DER)
    else
        fail "$kt: read the certificate via pkcs11-provider: $(cat "$W/$kt-tok.pem.err")"
    fi
    check_key_matches_cert "$label"

    # sign with the token key through pkcs11-provider, verify with the cert
    uri="pkcs11:${CSA_TOKEN_URI#pkcs11:};object=$label"
    if p11ssl cms -sign -binary -in "$W/artefact" -signer "$W/$kt-tok.pem" \
        -inkey "$uri;type=private" -certfile "$W/$kt-part2.pem" -outform DER \
        -out "$W/$kt.p7s" >"$W/cms-sign-$kt.log" 2>&1; then
        pass "$kt: openssl cms -sign with -inkey \"$uri;type=private\""
    else
        fail "$kt: cms -sign through pkcs11-provider: $(cat "$W/cms-sign-$kt.log")"
    fi
    if "$OPENSSL_BIN" cms -verify -binary -inform DER -in "$W/$kt.p7s" \
        -content "$W/artefact" -CAfile "$PEBBLE_ROOTS" -purpose any \
        -out /dev/null >"$W/cms-verify-$kt.log" 2>&1; then
        pass "$kt: openssl cms -verify -CAfile Pebble root: $(tail -1 "$W/cms-verify-$kt.log")"
    else
        fail "$kt: cms -verify: $(cat "$W/cms-verify-$kt.log")"
    fi
    # and a tampered artefact is refused (the check can fail)
    echo tampered >"$W/artefact.bad"
    if "$OPENSSL_BIN" cms -verify -binary -inform DER -in "$W/$kt.p7s" \
        -content "$W/artefact.bad" -CAfile "$PEBBLE_ROOTS" -purpose any \
        -out /dev/null >/dev/null 2>&1; then
        fail "$kt: cms -verify accepted a tampered artefact"
    else
        pass "$kt: cms -verify refuses a tampered artefact"
    fi
done

# Pebble rejects 5% of good nonces; the debug log shows the retries.
nb=$(grep -c 'badNonce from' "$W"/logs/*enroll-p256.err 2>/dev/null || true)
say "  info - badNonce rejections retried during the debug-level p256 enrollment: ${nb:-0}"

# One debug-level run, so that the PIN check also covers every PKCS#11 call.
csa "status-verbose" "$CFG" -v status
check_rc "csagent -v status" 0
status_serial "$CFG" id-rsa3072
check "status shows id-rsa3072's serial ($SERIAL)" grep -Eq '^[0-9A-F]+$' <<<"$SERIAL"
check_eq "status serial = the leaf's serial" \
    "$("$OPENSSL_BIN" x509 -in "$W/rsa3072-part1.pem" -noout -serial | sed 's/^serial=//')" "$SERIAL"
agt_finish
