# SPDX-License-Identifier: Apache-2.0
# Shared set-up of the signing recipe tests (docs/signing.md), sourced by
# run.sh.  Built on tests/draft/lib.sh: a throwaway SoftHSM token, csca on
# 127.0.0.1 (port 0) with its time-stamp authority (--tsa-port 0), and a
# code-signing identity enrolled with hotp-01 (HOTP: an identity can be
# enrolled again at once, as the ephemeral runs do).
#
# Every tool these tests use comes from scripts/install-deps.sh, so a
# missing one is a failure, never a skip: a green `make check` means the
# recipes ran.
. "$(dirname "${BASH_SOURCE[0]}")/../draft/lib.sh"

# d_setup and friends skip on a missing prerequisite; here that fails.
skip() { fatal "prerequisite missing (scripts/install-deps.sh installs it): $*"; }

S_ENGINE_SO=$(ls /usr/lib/*/engines-3/pkcs11.so 2>/dev/null | head -1)

# s_need COMMAND... : each command is installed.
s_need() {
    local c
    for c in "$@"; do
        command -v "$c" >/dev/null || skip "$c not installed"
    done
}

# s_csca_start [serve options...] : csca with its TSA listener; sets
# TSA_URL (plain HTTP on 127.0.0.1, POST /tsa) and TSA_PORT.
s_csca_start() {
    rm -f "$CS/tsa.port"
    csca_start --tsa-port 0 --tsa-port-file "$CS/tsa.port" "$@"
    # csca writes the TSA port file before the main one (docs/csca.md),
    # which csca_start waited for: no second wait.
    [ -s "$CS/tsa.port" ] ||
        fatal "csca wrote no TSA port file ($CS/tsa.port): is the time-stamp authority (csca serve --tsa-port) built? $(tail -3 "$CSCA_LOG")"
    TSA_PORT=$(cat "$CS/tsa.port")
    TSA_URL=http://127.0.0.1:$TSA_PORT/tsa
    say "  csca - TSA at $TSA_URL"
    export TSA_URL
}

# s_setup WORKDIR KEY_TYPE [serve options...] : token, csca (with TSA),
# organisation with the codesigning profile and hotp-01, agent
# configuration $CFG with identity $ID (label $LABEL) of KEY_TYPE,
# account registered, identity enrolled.  ROOT is csca's root, TSA_CERT
# the TSA's certificate.
s_setup() {
    local work=$1 kt=$2
    shift 2
    s_need osslsigncode sbsign sbverify x86_64-w64-mingw32-gcc
    [ -n "$S_ENGINE_SO" ] || skip "libp11's pkcs11 engine (libengine-pkcs11-openssl)"
    d_setup "$work"
    csca_org hotp-01
    otp_setup hotp hotp-1 release-hotp
    s_csca_start "$@"
    ROOT=$CS/root.pem
    TSA_CERT=$CS/tsa.pem
    [ -s "$TSA_CERT" ] || fatal "csca wrote no TSA certificate $TSA_CERT"
    ID=release LABEL=release-signing CFG=$W/agent.ini
    d_config "$CFG" <<EOF
[identity $ID]
label = $LABEL
key_type = $kt
profile = codesigning
domain = example.com
organization = Example Corp
challenges = hotp-01
otp_secret = release-hotp
EOF
    register "$CFG"
    csa enroll "$CFG" enroll "$ID"
    [ "$D_RC" = 0 ] || fatal "enroll $ID ($kt) failed"
    check_eq "enrolled $ID ($kt): leaf EKU" "Code Signing" "$(eku_of "$STATE/$ID.pem")"
    s_signing_conf
}

# The two OpenSSL configurations of docs/signing.md, verbatim: module and
# PIN file come from the environment csagent exec sets.
#   SIGNCNF  pkcs11-provider (openssl cms, openssl x509)
#   ENGCNF   libp11's pkcs11 engine (sbsign)
s_signing_conf() {
    SIGNCNF=$W/signing.cnf ENGCNF=$W/engine.cnf
    "$D_SRC/softhsm-conf/openssl-provider.sh" "$SIGNCNF" \
        '$ENV::CSAGENT_MODULE' '$ENV::CSAGENT_PIN_FILE' "$PKCS11_PROVIDER" ||
        fatal "cannot write $SIGNCNF"
    cat >"$ENGCNF" <<CNF
openssl_conf = openssl_init
[openssl_init]
engines = engine_sect
[engine_sect]
pkcs11 = pkcs11_sect
[pkcs11_sect]
engine_id = pkcs11
dynamic_path = $S_ENGINE_SO
MODULE_PATH = \$ENV::CSAGENT_MODULE
init = 0
CNF
    export SIGNCNF ENGCNF S_ENGINE_SO OPENSSL_BIN ROOT TSA_CERT
}

# s_exec NAME MODE -- COMMAND... : csagent -c $CFG MODE $ID -- COMMAND
# (MODE: "exec", later "exec --ephemeral ..."; split on blanks).
s_exec() {
    local name=$1 mode
    read -ra mode <<<"$2"
    shift 3
    csa "$name" "$CFG" "${mode[@]}" "$ID" -- "$@"
}

# s_check_ephemeral DIR ARTIFACT : after an `exec --ephemeral` recipe run,
# the last audit line is that run's (the serial its command was given,
# exit 0, the artifact's digest, objects destroyed), and no object of the
# run is left on the token.
s_check_ephemeral() {
    local line serial
    line=$(tail -1 "$STATE/audit.log" 2>/dev/null)
    serial=$(tr -d '\n' <"$1/serial")
    info "audit: $line"
    check "the audit line is the run's: outcome ok, exit 0, serial $serial" \
        python3 -c 'import json,sys
a = json.loads(sys.argv[1])
assert a["outcome"] == "ok" and a["exit"] == 0, a
assert a["serial"] == sys.argv[2], (a["serial"], sys.argv[2])
assert a["ephemeral"] is True and a["objects_destroyed"] >= 3, a' "$line" "$serial"
    check_eq "the audit line has the artifact's SHA-256" \
        "$(sha256sum <"$2" | cut -d' ' -f1)" \
        "$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["artifacts"][0]["sha256"])' "$line" 2>&1)"
    csa_list >/dev/null || fail "list the token"
    check_eq "no object of the ephemeral run is left on the token" 0 \
        "$(grep -cE '^[a-z-]+ +label="[^"]*[.]eph-' "$W/list.txt" || true)"
    check_eq "the identity's long-lived pair is untouched" 1 "$(count private-key "$LABEL")"
}
