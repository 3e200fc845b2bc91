# SPDX-License-Identifier: Apache-2.0
# The recipes of docs/signing.md, one shell function each (sourced by
# run.sh after s_setup).  Each takes the exec mode as its first argument,
# the words that stand between `csagent -c CFG` and IDENTITY: "exec" runs
# the recipe with the identity's enrolled pair; the same function runs
# with any other mode that exports the same CSAGENT_* variables (such as
# a one-use key: "exec --ephemeral --lifetime 5m").  Nothing here assumes
# the pair stays on the token: the command under exec copies the chain
# file and the serial it was given (S_CAPTURE), and every check uses
# those copies.
#
# The signing commands are those of docs/signing.md, with the PIN read
# from CSAGENT_PIN_FILE by the tool (libp11's pin-source=file:, or
# pkcs11-provider's pkcs11-module-token-pin = file:), never on argv.

# The preamble of every command under exec: DIR/chain.pem, DIR/serial,
# DIR/leaf.pem (the pinned certificate, the chain's first) and
# DIR/issuers.pem (the rest).  exec checked that the chain file starts
# with the token's certificate, so the leaf is the pinned one.
S_CAPTURE='d=$1; cp "$CSAGENT_CHAIN_FILE" "$d/chain.pem" &&
    printf "%s\n" "$CSAGENT_SERIAL" >"$d/serial" &&
    "$OPENSSL_BIN" x509 -in "$CSAGENT_CHAIN_FILE" -out "$d/leaf.pem" &&
    sed "1,/END CERTIFICATE/d" "$CSAGENT_CHAIN_FILE" >"$d/issuers.pem" || exit 90
'

# s_dir NAME : a fresh directory $W/NAME for one recipe run, in R.
s_dir() {
    R=$W/$1
    rm -rf "$R" && mkdir -p "$R" || fatal "cannot create $R"
}

# s_signer_serial DIR : the serial the command was given (uppercase hex).
s_signer_serial() { tr -d '\n' <"$1/serial" 2>/dev/null; }

# s_build_pe DIR : DIR/app.exe (a Windows console program) and DIR/app.efi
# (a UEFI application, PE32+ subsystem 10) from C source with MinGW: no
# binary is kept in the repository.  -s strips the COFF symbol table, which
# would otherwise trail the last section and be outside the signed image
# (sbsign warns "gaps between PE/COFF sections").
s_build_pe() {
    local cc=x86_64-w64-mingw32-gcc
    printf '#include <stdio.h>\nint main(void) { puts("signed under csagent exec"); return 0; }\n' \
        >"$1/app.c"
    printf 'typedef unsigned long long UINTN;\nUINTN efi_main(void *image, void *systab)\n{\n    (void)image;\n    (void)systab;\n    return 0;\n}\n' \
        >"$1/efi.c"
    "$cc" -s -o "$1/app.exe" "$1/app.c" >"$1/cc.log" 2>&1 &&
        "$cc" -s -nostdlib -ffreestanding -mno-red-zone -Wl,--subsystem,10 \
            -e efi_main -o "$1/app.efi" "$1/efi.c" >>"$1/cc.log" 2>&1 ||
        fatal "MinGW could not build the PE files: $(cat "$1/cc.log")"
    objdump -p "$1/app.efi" >"$1/app.efi.objdump" 2>&1
    check "the test-built UEFI application is PE32+ with subsystem 10 (EFI application)" \
        bash -c 'grep -Eq "^Magic\s+020b\s+\(PE32\+\)" "$1" &&
            grep -Eq "^Subsystem\s+0000000a\s+\(EFI application\)" "$1"' _ "$1/app.efi.objdump"
}

# s_ossl_verify NAME FILE [osslsigncode verify options...] : runs
# osslsigncode verify -in FILE with csca's root as CA and TSA CA file;
# output in FILE.NAME.log; returns its exit status.
s_ossl_verify() {
    local name=$1 f=$2
    shift 2
    osslsigncode verify -CAfile "$ROOT" -TSA-CAfile "$ROOT" "$@" -in "$f" \
        >"$f.$name.log" 2>&1
}

# s_check_ossl_ok DESCRIPTION FILE LOGNAME SERIAL [timestamped] : the
# verification log says ok and names SERIAL as signer; with "timestamped",
# it verified a timestamp from csca's TSA.
s_check_ossl_ok() {
    local log=$2.$3.log
    check "$1: osslsigncode verify says 'Signature verification: ok'" \
        grep -q '^Signature verification: ok' "$log"
    check "$1: ... signed by the pinned certificate (serial $4)" \
        grep -Eq "Serial : $4\$" "$log"
    if [ "${5:-}" = timestamped ]; then
        check "$1: ... with a verified timestamp from csca's TSA" \
            bash -c '! grep -q "Timestamp is not available" "$1" &&
                grep -q "Timestamp Server Signature verification: ok" "$1"' _ "$log"
        local tsa
        tsa=$("$OPENSSL_BIN" x509 -in "$TSA_CERT" -noout -serial | sed 's/^serial=//')
        check "$1: ... signed by csca's TSA certificate tsa.pem (serial $tsa)" \
            grep -Eq "Serial : $tsa\$" "$log"
    fi
}

# recipe_osslsigncode MODE : Authenticode with osslsigncode through
# libp11's engine: a PE program and a PowerShell script, each with the
# issuers (-ac) and a timestamp from csca's TSA (-ts); both verify to
# csca's root.  Control: the PE signed without -ac does not.
recipe_osslsigncode() {
    s_dir osslsigncode
    s_build_pe "$R"
    printf 'Write-Output "signed under csagent exec"\r\n' >"$R/app.ps1"
    s_exec osslsigncode "$1" -- sh -c "$S_CAPTURE"'
        for f in app.exe app.ps1; do
            osslsigncode sign -pkcs11engine "$S_ENGINE_SO" \
                -pkcs11module "$CSAGENT_MODULE" \
                -pkcs11cert "$CSAGENT_CERT_URI" \
                -key "$CSAGENT_KEY_URI?pin-source=file:$CSAGENT_PIN_FILE" \
                -ac "$CSAGENT_CHAIN_FILE" \
                -h sha256 -n "Example App" -ts "$TSA_URL" \
                -in "$d/$f" -out "$d/signed-$f" || exit 1
        done
        osslsigncode sign -pkcs11engine "$S_ENGINE_SO" \
            -pkcs11module "$CSAGENT_MODULE" -pkcs11cert "$CSAGENT_CERT_URI" \
            -key "$CSAGENT_KEY_URI?pin-source=file:$CSAGENT_PIN_FILE" \
            -h sha256 -in "$d/app.exe" -out "$d/noac-app.exe"' _ "$R"
    check_rc "$1 -- osslsigncode sign (PE and .ps1, -ac, -ts)" 0
    local serial f
    serial=$(s_signer_serial "$R")
    for f in app.exe app.ps1; do
        s_ossl_verify verify "$R/signed-$f"
        check_eq "osslsigncode verify -CAfile root -TSA-CAfile root signed-$f" 0 $?
        s_check_ossl_ok "signed-$f" "$R/signed-$f" verify "$serial" timestamped
    done
    check "the .ps1 carries its signature as a PowerShell comment block" \
        grep -q '^# SIG # Begin signature block' "$R/signed-app.ps1"
    s_ossl_verify verify "$R/noac-app.exe"
    check_ne "control: the PE signed without -ac does not verify" 0 $?
    check "control: ... because the intermediate is missing" \
        grep -q "unable to get local issuer certificate" "$R/noac-app.exe.verify.log"
}

# recipe_expired MODE : run against a csca whose certificates live for a
# few seconds (s_setup ... --validity 20s).  A PE signed with -ts still
# verifies after the signing certificate expired; the same PE signed
# without -ts verifies before and not after (the control).
recipe_expired() {
    s_dir expired
    s_build_pe "$R"
    s_exec expired-sign "$1" -- sh -c "$S_CAPTURE"'
        for ts in ts nots; do
            set -- -ts "$TSA_URL"
            [ $ts = ts ] || set --
            osslsigncode sign -pkcs11engine "$S_ENGINE_SO" \
                -pkcs11module "$CSAGENT_MODULE" \
                -pkcs11cert "$CSAGENT_CERT_URI" \
                -key "$CSAGENT_KEY_URI?pin-source=file:$CSAGENT_PIN_FILE" \
                -ac "$CSAGENT_CHAIN_FILE" -h sha256 -n "Example App" "$@" \
                -in "$d/app.exe" -out "$d/$ts-app.exe" || exit 1
        done' _ "$R"
    check_rc "$1 -- osslsigncode sign, with and without -ts" 0
    local serial na now
    serial=$(s_signer_serial "$R")
    na=$(date -d "$("$OPENSSL_BIN" x509 -in "$R/leaf.pem" -noout -enddate | sed 's/^notAfter=//')" +%s) ||
        fatal "cannot read the signing certificate's notAfter"
    now=$(date +%s)
    info "the signing certificate (serial $serial) expires at $(date -u -d "@$na"), in $((na - now)) s"
    check_le "its lifetime left is short enough to wait out (s)" 60 $((na - now))
    s_ossl_verify before "$R/ts-app.exe"
    check_eq "before expiry: the timestamped PE verifies" 0 $?
    s_ossl_verify before "$R/nots-app.exe"
    check_eq "before expiry: the PE without timestamp verifies too" 0 $?
    # notAfter is the last second of validity (RFC 5280 §4.1.2.5): wait
    # until the clock is past it.  A wait for a known instant, not a race.
    now=$(date +%s)
    [ "$now" -gt "$na" ] || sleep $((na - now + 1))
    check "the signing certificate has now expired" \
        bash -c '! "$0" x509 -in "$1" -noout -checkend 0 >/dev/null' "$OPENSSL_BIN" "$R/leaf.pem"
    s_ossl_verify after "$R/ts-app.exe"
    check_eq "after expiry: the timestamped PE still verifies" 0 $?
    s_check_ossl_ok "after expiry" "$R/ts-app.exe" after "$serial" timestamped
    s_ossl_verify after "$R/nots-app.exe"
    check_ne "control: after expiry the PE without timestamp does not verify" 0 $?
    check "control: ... because the certificate has expired" \
        grep -q "certificate has expired" "$R/nots-app.exe.after.log"
}

# recipe_sbsign MODE : UEFI Secure Boot signature with sbsign through
# libp11's engine ($ENGCNF names the module); sbverify accepts it with
# the leaf, the intermediate or the root as trusted certificate.
# Controls: the unsigned and a tampered image fail; without --addcert the
# root alone does not reach the leaf.
recipe_sbsign() {
    s_dir sbsign
    s_build_pe "$R"
    s_exec sbsign "$1" -- sh -c "$S_CAPTURE"'
        OPENSSL_CONF=$ENGCNF sbsign --engine pkcs11 \
            --key "$CSAGENT_KEY_URI?pin-source=file:$CSAGENT_PIN_FILE" \
            --cert "$d/leaf.pem" --addcert "$d/issuers.pem" \
            --output "$d/signed.efi" "$d/app.efi" || exit 1
        OPENSSL_CONF=$ENGCNF sbsign --engine pkcs11 \
            --key "$CSAGENT_KEY_URI?pin-source=file:$CSAGENT_PIN_FILE" \
            --cert "$d/leaf.pem" --output "$d/noaddcert.efi" "$d/app.efi"' _ "$R"
    check_rc "$1 -- sbsign --engine pkcs11 --key <URI>" 0
    awk '/BEGIN CERT/ {n++} n == 1' "$R/issuers.pem" >"$R/intermediate.pem"
    local what cert
    for what in leaf intermediate root; do
        cert=$R/$what.pem
        [ $what = root ] && cert=$ROOT
        sbverify --cert "$cert" "$R/signed.efi" >"$R/sbverify-$what.log" 2>&1
        check_eq "sbverify --cert <$what> signed.efi" 0 $?
        check "... 'Signature verification OK'" \
            grep -q '^Signature verification OK' "$R/sbverify-$what.log"
    done
    sbverify --list "$R/signed.efi" >"$R/sbverify-list.log" 2>&1
    check_eq "the signature carries leaf and intermediate, once each" \
        "/O=Example Corp/CN=example.com,/O=csca test CA/CN=csca intermediate," \
        "$(sed -n 's/^ *- subject: //p' "$R/sbverify-list.log" | tr '\n' ,)"
    check "control: sbverify of the unsigned image fails" \
        bash -c '! sbverify --cert "$1" "$2" >/dev/null 2>&1' _ "$R/leaf.pem" "$R/app.efi"
    # One byte of .text flipped (its file offset from objdump).
    local off
    off=$(objdump -h "$R/signed.efi" | awk '$2 == ".text" {print $6; exit}')
    off=$((16#${off:-0}))
    [ "$off" -gt 0 ] || fatal "no .text section in $R/signed.efi"
    cp "$R/signed.efi" "$R/tampered.efi"
    printf '\xcc' | dd of="$R/tampered.efi" bs=1 seek="$off" conv=notrunc status=none
    check "control: sbverify of the image with one byte of .text changed fails" \
        bash -c '! sbverify --cert "$1" "$2" >/dev/null 2>&1' _ "$R/leaf.pem" "$R/tampered.efi"
    check "control: signed without --addcert, the root alone does not verify it" \
        bash -c '! sbverify --cert "$1" "$2" >/dev/null 2>&1' _ "$ROOT" "$R/noaddcert.efi"
}

# recipe_cms MODE : detached CMS signature with openssl cms through
# pkcs11-provider, verified to csca's root; the signature file is then
# timestamped by csca's TSA (RFC 3161 over HTTP) and the reply verified.
# Controls: a tampered artefact fails cms -verify, and the timestamp does
# not verify for another signature file.
recipe_cms() {
    s_dir cms
    head -c 100000 /dev/urandom >"$R/release.tar.gz"
    s_exec cms "$1" -- sh -c "$S_CAPTURE"'
        OPENSSL_CONF=$SIGNCNF "$OPENSSL_BIN" cms -sign -binary -md sha256 \
            -in "$d/release.tar.gz" -out "$d/release.tar.gz.p7s" -outform DER \
            -signer "$CSAGENT_CERT_URI" -inkey "$CSAGENT_KEY_URI" \
            -nocerts -certfile "$CSAGENT_CHAIN_FILE"' _ "$R"
    check_rc "$1 -- openssl cms -sign (provider, pinned URIs)" 0
    local serial p7s=$R/release.tar.gz.p7s
    serial=$(s_signer_serial "$R")
    "$OPENSSL_BIN" cms -verify -binary -inform DER -in "$p7s" \
        -content "$R/release.tar.gz" -CAfile "$ROOT" -purpose any \
        -out /dev/null -signer "$R/signer.pem" >"$R/cms-verify.log" 2>&1
    check_eq "openssl cms -verify -CAfile root -purpose any" 0 $?
    check "... 'Verification successful'" grep -q 'Verification successful' "$R/cms-verify.log"
    check_eq "... signed by the pinned certificate" "$serial" \
        "$("$OPENSSL_BIN" x509 -in "$R/signer.pem" -noout -serial 2>/dev/null | sed 's/^serial=//')"
    check_eq "... whose EKU is codeSigning" "Code Signing" "$(eku_of "$R/signer.pem")"
    check_eq "the signature carries leaf and intermediate, once each" 2 \
        "$("$OPENSSL_BIN" cms -cmsout -print -inform DER -in "$p7s" | grep -c 'subject:')"
    cp "$R/release.tar.gz" "$R/tampered.tar.gz"
    printf 'X' | dd of="$R/tampered.tar.gz" bs=1 seek=5000 conv=notrunc status=none
    check "control: the tampered artefact fails cms -verify" \
        bash -c '! "$0" cms -verify -binary -inform DER -in "$1" -content "$2" -CAfile "$3" -purpose any -out /dev/null 2>/dev/null' \
        "$OPENSSL_BIN" "$p7s" "$R/tampered.tar.gz" "$ROOT"

    # Timestamp the signature file (no key needed: outside exec).
    "$OPENSSL_BIN" ts -query -data "$p7s" -sha256 -cert -out "$p7s.tsq" \
        2>"$R/ts-query.log" || fatal "openssl ts -query: $(cat "$R/ts-query.log")"
    local ctype
    ctype=$(curl -sS --fail -H 'Content-Type: application/timestamp-query' \
        --data-binary @"$p7s.tsq" -o "$p7s.tsr" -w '%{content_type}' \
        "$TSA_URL" 2>"$R/curl.log")
    check_eq "POST $TSA_URL: the reply's Content-Type" application/timestamp-reply "$ctype"
    check "the TSA's reply is 'Granted'" \
        grep -q 'Status: Granted' <("$OPENSSL_BIN" ts -reply -in "$p7s.tsr" -text 2>&1)
    "$OPENSSL_BIN" ts -verify -data "$p7s" -in "$p7s.tsr" -CAfile "$ROOT" \
        -untrusted "$TSA_CERT" >"$R/ts-verify.log" 2>&1
    check_eq "openssl ts -verify -data <signature> -CAfile root -untrusted tsa.pem" 0 $?
    check "... 'Verification: OK'" grep -q '^Verification: OK' "$R/ts-verify.log"
    # The last byte of the DER file is the signature value's last byte.
    cp "$p7s" "$R/other.p7s"
    printf '\x5a' | dd of="$R/other.p7s" bs=1 seek=$(($(stat -c %s "$p7s") - 1)) \
        conv=notrunc status=none
    check "control: the timestamp does not verify for a signature file with one byte changed" \
        bash -c '! "$0" ts -verify -data "$1" -in "$2" -CAfile "$3" -untrusted "$4" >/dev/null 2>&1' \
        "$OPENSSL_BIN" "$R/other.p7s" "$p7s.tsr" "$ROOT" "$TSA_CERT"
}
