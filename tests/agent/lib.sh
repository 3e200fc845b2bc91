# SPDX-License-Identifier: Apache-2.0
# Shared set-up for the agent's end-to-end tests (sourced, bash).
#
# Each test script runs as   SCRIPT WORKDIR   with CSAGENT, PEBBLE,
# PEBBLE_CHALLTESTSRV, OPENSSL_BIN, PKCS11_PROVIDER and SOFTHSM2_MODULE in
# the environment (ctest sets them).  It calls agt_setup to get a throwaway
# SoftHSM token and its own Pebble on 127.0.0.1 (stopped on exit), writes an
# agent configuration with agt_config, runs csagent through `csa` (every
# output kept under WORKDIR/logs and checked for the PIN at the end) and
# states each expectation with the check_* helpers, which print what they
# checked.  Exit status: 0 all passed, 1 a check failed, 77 skipped.
set -uo pipefail

AGT_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
AGT_SRC=$(cd "$AGT_HERE/../.." && pwd)
AGT_PEBBLE_SH=$AGT_SRC/tests/support/pebble.sh
AGT_MKTOKEN=$AGT_SRC/softhsm-conf/mktoken.sh
OPENSSL_BIN=${OPENSSL_BIN:-$(command -v openssl || true)}
export OPENSSL_BIN
AGT_NLOG=0
CHK_LAST=AGT CHK_DUMP=agt_dump_last
. "$(dirname "${BASH_SOURCE[0]}")/../support/check.sh"

agt_dump_last() {
    [ -n "${AGT_OUT:-}" ] || return 0
    say "    --- last command: ${AGT_CMD:-?} (exit ${AGT_RC:-?})"
    sed 's/^/    | /' "$AGT_OUT" "$AGT_ERR" 2>/dev/null | tail -25
}

agt_cleanup() {
    local rc=$?
    [ -n "${AGT_PEBBLE_DIR:-}" ] && "$AGT_PEBBLE_SH" stop "$AGT_PEBBLE_DIR" \
        >/dev/null 2>&1
    exit $rc
}

# agt_setup WORKDIR TOKENLABEL [pebble.sh options...]
agt_setup() {
    local work=$1 label=$2 rc
    shift 2
    [ -x "${CSAGENT:-}" ] || skip "CSAGENT not set to the csagent binary"
    [ -x "$OPENSSL_BIN" ] || skip "openssl not installed"
    rm -rf "$work" && mkdir -p "$work/logs" || fatal "cannot create $work"
    W=$(cd "$work" && pwd)
    export CSAGENT
    local out
    out=$("$AGT_MKTOKEN" "$W/tok" "$label" 2>"$W/mktoken.err"); rc=$?
    [ $rc = 77 ] && skip "$(cat "$W/mktoken.err")"
    [ $rc = 0 ] || fatal "mktoken.sh failed: $(cat "$W/mktoken.err")"
    eval "$(echo "$out" | sed 's/^/export /')"
    PIN=$(cat "$CSA_PIN_FILE")
    [ -n "$PIN" ] || fatal "empty PIN"
    AGT_PEBBLE_DIR=$W/pebble
    trap agt_cleanup EXIT
    trap 'exit 130' INT TERM
    "$AGT_PEBBLE_SH" start "$AGT_PEBBLE_DIR" "$@" >"$W/pebble-start.log" 2>&1
    rc=$?
    [ $rc = 77 ] && skip "$(cat "$W/pebble-start.log")"
    [ $rc = 0 ] || fatal "pebble.sh start failed: $(cat "$W/pebble-start.log")"
    set -a; . "$AGT_PEBBLE_DIR/env"; set +a
    STATE=$W/state
    POLICY=$W/policy.ini
    agt_policy "$POLICY"
    # A hook that accepts (with --always-valid Pebble validates nothing).
    HOOK_OK=$W/hook-ok.sh
    printf '#!/bin/sh\n[ -n "${HOOK_LOG:-}" ] && echo "$CSAGENT_HOOK_METHOD $CSAGENT_CHALLENGE_TYPE $CSAGENT_IDENTIFIER" >>"$HOOK_LOG"\nexit 0\n' \
        >"$HOOK_OK"
    chmod 755 "$HOOK_OK"
    agt_provider_conf ||
        skip "pkcs11-provider not installed (PKCS11_PROVIDER=${PKCS11_PROVIDER:-unset})"
    say "setup: token '$label' in $W/tok, Pebble at $PEBBLE_DIR_URL ($*)"
}

# The test policy: test-tls allowed (Pebble's leaves), hooks allowed,
# Pebble's 5-year lifetime accepted, chains verified to Pebble's root.
agt_policy() {
    cat >"$1" <<EOF
[hooks]
allowed = true
[certificate]
max_lifetime = 1900d
[profile.test-tls]
enabled = true
${AGT_POLICY_EXTRA:-}
EOF
}

# agt_config FILE [KEY=VALUE overrides...] then identity blocks on stdin.
# Overrides: directory ca_bundle trust_anchor account_key_type eab_kid
# eab_key_file account_key
agt_config() {
    local file=$1; shift
    local directory=$PEBBLE_DIR_URL ca_bundle=$PEBBLE_CA_BUNDLE
    local trust_anchor=$PEBBLE_ROOTS account_key_type=p256 eab_kid="" eab_key_file=""
    local account_key=csagent-account kv
    for kv in "$@"; do
        case "$kv" in
        directory=*) directory=${kv#*=} ;;
        ca_bundle=*) ca_bundle=${kv#*=} ;;
        trust_anchor=*) trust_anchor=${kv#*=} ;;
        account_key_type=*) account_key_type=${kv#*=} ;;
        account_key=*) account_key=${kv#*=} ;;
        eab_kid=*) eab_kid=${kv#*=} ;;
        eab_key_file=*) eab_key_file=${kv#*=} ;;
        *) fatal "agt_config: unknown override $kv" ;;
        esac
    done
    {
        echo "[token]"
        echo "module = $CSA_MODULE"
        echo "uri = $CSA_TOKEN_URI"
        echo "pin_file = $CSA_PIN_FILE"
        echo "[ca]"
        echo "directory = $directory"
        echo "ca_bundle = $ca_bundle"
        echo "trust_anchor = $trust_anchor"
        echo "contact = mailto:ops@build.example.com"
        echo "terms_agreed = yes"
        echo "account_key = $account_key"
        echo "account_key_type = $account_key_type"
        [ -n "$eab_kid" ] && echo "eab_kid = $eab_kid"
        [ -n "$eab_key_file" ] && echo "eab_key_file = $eab_key_file"
        echo "[agent]"
        echo "state_dir = $STATE"
        echo "policy = $POLICY"
        # what the tests' hooks read besides CSAGENT_* (csagent passes
        # nothing else of its environment on)
        echo "hook_env = CTS_MGMT_URL, HOOK_LOG, HOOK_CORRUPT, HOLD_DIR, KILL_MARK"
        cat
    } >"$file"
}

# identity NAME LABEL KEYTYPE DOMAIN [PROFILE] [HOOK]  (prints a block)
identity() {
    cat <<EOF
[identity $1]
label = $2
key_type = $3
profile = ${5:-test-tls}
domain = $4
challenges = http-01
hook = ${6:-$HOOK_OK}
EOF
}

# csa NAME CONFIG ARGS... : runs csagent -c CONFIG ARGS, output kept in
# $W/logs/NN-NAME.out/.err; sets AGT_RC, AGT_OUT, AGT_ERR.
csa() {
    local name=$1 cfg=$2; shift 2
    AGT_NLOG=$((AGT_NLOG + 1))
    local base
    base=$W/logs/$(printf '%02d' $AGT_NLOG)-$name
    AGT_OUT=$base.out AGT_ERR=$base.err
    AGT_CMD="csagent -c $cfg $*"
    # (the group's 2>/dev/null only silences bash's "Aborted"/"Killed"
    # notice when a crash test kills the agent on purpose)
    { "$CSAGENT" -c "$cfg" "$@" >"$AGT_OUT" 2>"$AGT_ERR" </dev/null; } 2>/dev/null
    AGT_RC=$?
    say "  ran  - $AGT_CMD -> exit $AGT_RC"
    return 0
}

# csa_list CONFIG : `csagent list` for the test token into $W/list.txt
csa_list() {
    "$CSAGENT" list --module "$CSA_MODULE" --token "$CSA_TOKEN_URI" \
        --pin-file "$CSA_PIN_FILE" >"$W/list.txt" 2>"$W/list.err"
    local rc=$?
    cat "$W/list.txt" "$W/list.err" >>"$W/logs/list-all.log"
    [ $rc = 0 ] || { say "  list failed (exit $rc): $(cat "$W/list.err")"; return 1; }
}

# count CLASS LABEL : objects of that class with exactly that label (from
# the last csa_list).
count() {
    grep -cE "^$1 +label=\"$(printf '%s' "$2" | sed 's/[.]/[.]/g')\" " \
        "$W/list.txt" || true
}
# Labels of objects that end with a suffix (e.g. .next) after the last list.
labels_with_suffix() {
    grep -oE "label=\"[^\"]*[.]$1\"" "$W/list.txt" | sort -u | tr '\n' ' '
}

# Security attributes of the private key(s) with this label.
privkey_attrs() {
    awk -v l="label=\"$1\"" '$1=="private-key" && $2==l {getline; print}' \
        "$W/list.txt"
}

# status_serial CONFIG IDENTITY: runs `csagent status`, sets SERIAL to the
# identity's serial ("-" when none).
status_serial() {
    csa status "$1" status
    # "NAME:" then indented "serial VALUE" lines (or one line
    # "NAME: label=... serial=VALUE ..." in older builds)
    SERIAL=$(awk -v id="$2" '
        $0 == id ":" { inb = 1; next }
        /^[^ ]/ { inb = 0 }
        inb && $1 == "serial" { print $2; exit }
        index($0, id ": ") == 1 && match($0, /serial=[^ ]*/) {
            print substr($0, RSTART + 7, RLENGTH - 7); exit }' "$AGT_OUT")
}

# pkcs11-provider set-up: OPENSSL_CONF for the provider, PIN from the file.
agt_provider_conf() {
    [ -n "${PKCS11_PROVIDER:-}" ] && [ -f "$PKCS11_PROVIDER" ] || return 1
    "$(dirname "${BASH_SOURCE[0]}")/../../softhsm-conf/openssl-provider.sh" \
        "$W/openssl-p11.cnf" "$CSA_MODULE" "$CSA_PIN_FILE" "$PKCS11_PROVIDER"
    return 0
}
# p11ssl ARGS... : openssl through pkcs11-provider
p11ssl() { OPENSSL_CONF=$W/openssl-p11.cnf "$OPENSSL_BIN" "$@"; }

# The certificate labelled LABEL, read from the token (via the provider
# when present, else the state directory's copy is not good enough: fail).
token_cert() { # LABEL OUTFILE
    p11ssl x509 -in "pkcs11:${CSA_TOKEN_URI#pkcs11:};object=$1;type=cert" \
        -out "$2" 2>"$2.err"
}

# Invariant 3 after recovery: exactly one key pair + one certificate under
# LABEL, no .next/.retired left, the certificate's key is the token key,
# and no journal for IDENTITY.
check_clean_pair() { # IDENTITY LABEL CONFIG
    local id=$1 label=$2 cfg=$3
    csa_list || { fail "list the token"; return; }
    check_eq "$label: private keys labelled '$label'" 1 "$(count private-key "$label")"
    check_eq "$label: certificates labelled '$label'" 1 "$(count certificate "$label")"
    check_eq "$label: private keys labelled '$label.next'" 0 "$(count private-key "$label.next")"
    check_eq "$label: objects labelled '$label.next'/'$label.retired'" "" \
        "$(grep -oE "label=\"$label[.](next|retired)\"" "$W/list.txt" | tr '\n' ' ')"
    check "$label: no journal file $STATE/$id.journal" test ! -e "$STATE/$id.journal"
    check_key_matches_cert "$label"
}

# The token key's public key equals the certificate's (read from the token).
check_key_matches_cert() { # LABEL
    local label=$1 kp cp
    "$CSAGENT" -c "$CFG" pubkey --label "$label" --pem >"$W/pub-key.pem" \
        2>"$W/pub-key.err" </dev/null
    cat "$W/pub-key.pem" "$W/pub-key.err" >>"$W/logs/pubkey-all.log"
    if ! token_cert "$label" "$W/tokcert.pem"; then
        fail "$label: read the certificate from the token via pkcs11-provider: $(cat "$W/tokcert.pem.err")"
        return
    fi
    "$OPENSSL_BIN" x509 -in "$W/tokcert.pem" -noout -pubkey >"$W/pub-cert.pem"
    kp=$(cat "$W/pub-key.pem"); cp=$(cat "$W/pub-cert.pem")
    if [ -n "$kp" ] && [ "$kp" = "$cp" ]; then
        pass "$label: csagent pubkey --pem equals the public key of the token's certificate"
    else
        fail "$label: token key ($(head -c 60 "$W/pub-key.pem" | tail -c 20)...; $(cat "$W/pub-key.err")) differs from the certificate's key"
    fi
}

# Invariant 2: the PIN appears in no csagent output of this test.
check_no_pin_in_logs() {
    if grep -rqF -- "$PIN" "$W/logs"; then
        fail "the PIN appears in csagent output: $(grep -rlF -- "$PIN" "$W/logs" | tr '\n' ' ')"
    else
        pass "the PIN appears in none of the $(ls "$W/logs" | wc -l) csagent output files"
    fi
}

# A sanitizer report of any csagent process (the key holder, its network
# process, the hook runner: they share stderr) fails the test, whatever
# that process's exit status did to the command.
check_no_sanitizer_reports() {
    local f
    f=$(grep -rlE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$W/logs" 2>/dev/null | tr '\n' ' ')
    [ -z "$f" ] || fail "a sanitizer report in csagent output: $f"
}

agt_finish() {
    check_no_pin_in_logs
    check_no_sanitizer_reports
    chk_result "agent bugs shown by this test"
}

# ids of objects of CLASS labelled LABEL (from the last csa_list), sorted
ids_of() { # CLASS LABEL
    grep -E "^$1 +label=\"$(printf '%s' "$2" | sed 's/[.]/[.]/g')\" " "$W/list.txt" |
        sed -n 's/.* id=\([^ ]*\) .*/\1/p' | sort | tr '\n' ' '
}
# Every private key labelled LABEL has a certificate with the same CKA_ID
# and the same label (what a signer resolving object=LABEL relies on).
check_pairs() { # DESCRIPTION LABEL
    local k c missing=""
    c=" $(ids_of certificate "$2")"
    for k in $(ids_of private-key "$2"); do
        case "$c" in *" $k "*) ;; *) missing="$missing $k" ;; esac
    done
    if [ -n "$(ids_of private-key "$2")" ] && [ -z "$missing" ]; then
        pass "$1: each private key labelled '$2' has its certificate (ids: $(ids_of private-key "$2"))"
    else
        fail "$1: private keys labelled '$2' without a certificate of the same id:${missing:- (no key at all)}"
    fi
}

# Invariant 3 at any instant (from the last csa_list): LABEL resolves to one
# key and its certificate, or, only while the journal of IDENTITY is at
# step "aside" (the label changes), to no complete pair.  Never two keys,
# and never a certificate of another key (with a kept key, two
# certificates of that same key are allowed inside "aside").
check_never_mixed() { # DESCRIPTION LABEL IDENTITY
    local keys certs step k c
    keys=$(ids_of private-key "$2") certs=$(ids_of certificate "$2")
    step=$(jq -r .step "$STATE/$3.journal" 2>/dev/null || echo none)
    set -- "$1" "$2" "$3" $keys
    if [ $# -gt 4 ]; then
        fail "$1: two private keys carry '$2' (ids: $keys)"
        return
    fi
    k=${4:-}
    for c in $certs; do
        if [ -n "$k" ] && [ "$c" != "$k" ]; then
            fail "$1: '$2' has key $k with a certificate of key $c"
            return
        fi
    done
    if [ "$(echo $certs | wc -w)" -gt 1 ] && { [ -z "$k" ] || [ "$step" != aside ]; }; then
        fail "$1: $(echo $certs | wc -w) certificates carry '$2' (ids: $certs; journal: $step)"
    elif [ -n "$k" ] && [ -n "$certs" ]; then
        pass "$1: '$2' resolves to one key and its certificate (id $k; journal: $step)"
    elif [ "$step" = aside ]; then
        pass "$1: '$2' has no complete pair (key: ${k:-none}, certificates: ${certs:-none}) only inside step aside"
    else
        fail "$1: '$2' has no complete pair (key: ${k:-none}, certificates: ${certs:-none}) outside step aside (journal: $step)"
    fi
}

# agt_enrolled WORKDIR TOKENLABEL DOMAIN: agt_setup (Pebble always valid),
# config $CFG with identity ID=sig labelled LABEL=sig-key (P-256, DOMAIN),
# enrolled once.
agt_enrolled() {
    agt_setup "$1" "$2" --always-valid
    CFG=$W/agent.ini ID=sig LABEL=sig-key
    agt_config "$CFG" < <(identity "$ID" "$LABEL" p256 "$3")
    csa enroll-first "$CFG" enroll "$ID"
    check_rc "first enrollment" 0
}

# p11shim (tests/p11shim) in front of the token's module.
agt_need_shim() {
    [ -f "${P11SHIM:-}" ] || skip "p11shim.so not built (P11SHIM=${P11SHIM:-unset})"
}
# agt_shim_config CONFIG: writes $W/shim.ini, CONFIG through p11shim.
agt_shim_config() {
    sed "s|^module = .*|module = $P11SHIM|" "$1" >"$W/shim.ini"
    export P11SHIM_MODULE=$CSA_MODULE
}
