#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# keys.sh WORKDIR : the OTP seeds (otp-import) and the cert-01 / ppkp-01
# keys (keygen) are sensitive and not extractable: `csagent list` shows
# sensitive=yes extractable=no, and reading their value through PKCS#11
# (pkcs11-tool --read-object) fails.  No CA needed.
. "$(dirname "$0")/lib.sh"
d_setup "$1"
new_seed "$W/seed.b32"
tcsa otp-import otp-import --label release-totp --file "$W/seed.b32"
check_rc "otp-import of a TOTP seed" 0
tcsa otp-import otp-import --label release-hotp --file "$W/seed.b32"
check_rc "otp-import of a HOTP seed" 0
tcsa keygen keygen --label admin-alice --type p256
check_rc "keygen of the cert-01 administrator key" 0
tcsa keygen keygen --label release-ppkp --type p384
check_rc "keygen of the ppkp-01 key" 0
csa_list || fatal "list"
for o in "secret-key release-totp" "secret-key release-hotp" \
         "private-key admin-alice" "private-key release-ppkp"; do
    set -- $o
    a=$(attrs "$1" "$2")
    info "$1 $2: $a"
    check "$1 '$2' is sensitive=yes" grep -q "sensitive=yes" <<<"$a"
    check "$1 '$2' is extractable=no" grep -q "extractable=no" <<<"$a"
    check "$1 '$2' is a token object (token=yes)" grep -q "token=yes" <<<"$a"
    check "$1 '$2' is private (private=yes)" grep -q "private=yes" <<<"$a"
done
for o in "private-key admin-alice" "private-key release-ppkp"; do
    set -- $o
    a=$(attrs "$1" "$2")
    check "$1 '$2' generated in the token: always-sensitive=yes never-extractable=yes" \
        grep -q "always-sensitive=yes never-extractable=yes" <<<"$a"
done
if command -v pkcs11-tool >/dev/null; then
    # (pkcs11-tool cannot read private keys at all: only the seeds are tried;
    # the private keys' CKA_EXTRACTABLE=FALSE is checked above)
    for o in "secrkey release-totp" "secrkey release-hotp"; do
        set -- $o
        # PIN through a file descriptor is not supported by pkcs11-tool; the
        # PIN check at the end covers csagent's output only.
        if pkcs11-tool --module "$CSA_MODULE" --token-label "$CSA_TOKEN_LABEL" \
            --login --pin "$(cat "$CSA_PIN_FILE")" --read-object --type "$1" \
            --label "$2" -o "$W/extracted-$2" >"$W/read-$2.log" 2>&1 && [ -s "$W/extracted-$2" ]; then
            fail "pkcs11-tool read the value of $1 '$2' ($(wc -c <"$W/extracted-$2") bytes)"
        else
            pass "pkcs11-tool cannot read the value of $1 '$2': $(grep -o 'CKR_[A-Z_]*' "$W/read-$2.log" | head -1)"
        fi
    done
else
    info "pkcs11-tool not installed: raw read attempt skipped"
fi
d_finish
