# SPDX-License-Identifier: Apache-2.0
# Shared set-up for the end-to-end tests of csagent against csca with the
# challenge types of draft-ietf-acme-client-05 (sourced, bash).
#
# Each test runs as  SCRIPT WORKDIR [ARGS]  with CSAGENT, CSCA, OPENSSL_BIN,
# PKCS11_PROVIDER and SOFTHSM2_MODULE in the environment (ctest sets them).
# d_setup makes a throwaway SoftHSM token and an empty csca state dir under
# WORKDIR; the test fills the registry (csca org/otp/eab/... add), starts its
# own csca on 127.0.0.1 with --port 0 (csca_start, stopped on exit), writes a
# csagent configuration (d_config) and runs csagent through `csa` (output
# kept under WORKDIR/logs).  Every check prints what it checked.
# Exit status: 0 all passed, 1 a check failed, 77 skipped.
set -uo pipefail

D_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
D_SRC=$(cd "$D_HERE/../.." && pwd)
D_MKTOKEN=$D_SRC/softhsm-conf/mktoken.sh
OPENSSL_BIN=${OPENSSL_BIN:-$(command -v openssl || true)}
D_NLOG=0
CSCA_PID=""
CHK_LAST=D CHK_DUMP=d_dump_last
. "$(dirname "${BASH_SOURCE[0]}")/../support/check.sh"

d_dump_last() {
    [ -n "${D_OUT:-}" ] || return 0
    say "    --- last command: ${D_CMD:-?} (exit ${D_RC:-?})"
    sed 's/^/    | /' "$D_OUT" "$D_ERR" 2>/dev/null | tail -25
}

d_cleanup() {
    local rc=$?
    csca_stop
    exit $rc
}

# d_setup WORKDIR : token + empty csca state directory, provider config.
d_setup() {
    local work=$1 rc out
    [ -x "${CSAGENT:-}" ] || skip "CSAGENT not set to the csagent binary"
    [ -x "${CSCA:-}" ] || skip "CSCA not set to the csca binary"
    [ -x "$OPENSSL_BIN" ] || skip "openssl not installed"
    command -v curl >/dev/null || skip "curl not installed"
    rm -rf "$work" && mkdir -p "$work/logs" || fatal "cannot create $work"
    W=$(cd "$work" && pwd)
    export CSAGENT
    out=$(CSAGENT=$CSAGENT "$D_MKTOKEN" "$W/tok" draft-test 2>"$W/mktoken.err"); rc=$?
    [ $rc = 77 ] && skip "$(cat "$W/mktoken.err")"
    [ $rc = 0 ] || fatal "mktoken.sh failed: $(cat "$W/mktoken.err")"
    eval "$(echo "$out" | sed 's/^/export /')"
    trap d_cleanup EXIT
    trap 'exit 130' INT TERM
    CS=$W/csca
    mkdir -p "$CS" && chmod 700 "$CS"
    STATE=$W/state
    POLICY=$W/policy.ini
    : >"$POLICY"
    ORG="Example Corp"
    # EAB key binding the account to the organisation.
    head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n' >"$W/eab.key"
    d_provider_conf ||
        skip "pkcs11-provider not installed (PKCS11_PROVIDER=${PKCS11_PROVIDER:-unset})"
    say "setup: token '$CSA_TOKEN_LABEL' in $W/tok, csca state $CS"
}

# csca_org FACTOR[,FACTOR...] [PROFILE...] : org $ORG for example.com,
# plus the EAB key eab-1.
csca_org() {
    local f=$1 args=() p; shift
    local IFS_SAVE=$IFS
    IFS=' '
    for p in $f; do args+=(--factor "$p"); done
    IFS=$IFS_SAVE
    for p in "${@:-codesigning}"; do args+=(--profile "$p"); done
    cs org add --name "$ORG" --domain example.com "${args[@]}" ||
        fatal "csca org add failed"
    cs eab add --kid eab-1 --org "$ORG" --key-file "$W/eab.key" ||
        fatal "csca eab add failed"
}

# cs SUBCOMMAND ... : csca registry command on our state dir (logged).
cs() {
    local sub=$1 verb=$2; shift 2
    "$CSCA" "$sub" "$verb" --state "$CS" "$@" >>"$W/logs/csca-registry.log" 2>&1
}

# csca_start [serve options...] : csca on 127.0.0.1, port 0; sets PORT, DIR_URL.
csca_start() {
    csca_stop
    rm -f "$CS/port"
    D_NCSCA=$(( ${D_NCSCA:-0} + 1 ))
    CSCA_LOG=$W/logs/csca-$D_NCSCA.log
    "$CSCA" serve --state "$CS" --port 0 --port-file "$CS/port" "$@" \
        >"$CSCA_LOG" 2>&1 &
    CSCA_PID=$!
    local i
    for i in $(seq 1 100); do
        [ -s "$CS/port" ] && break
        kill -0 "$CSCA_PID" 2>/dev/null || break
        sleep 0.1
    done
    [ -s "$CS/port" ] || fatal "csca did not start: $(cat "$CSCA_LOG")"
    PORT=$(cat "$CS/port")
    DIR_URL=https://127.0.0.1:$PORT/directory
    say "  csca - started (pid $CSCA_PID) at $DIR_URL $*"
}
csca_stop() {
    if [ -n "${CSCA_PID:-}" ]; then
        kill "$CSCA_PID" 2>/dev/null
        wait "$CSCA_PID" 2>/dev/null
        CSCA_PID=""
    fi
}

# stats : csca's request counters (JSON) on stdout
# (csca's management endpoints take the token csca wrote in its state dir)
stats() {
    curl -sS --cacert "$CS/tls-root.pem" \
        -H "Authorization: Bearer $(cat "$CS/mgmt.token")" \
        "https://127.0.0.1:$PORT/csca/stats"
}
stats_reset() {
    curl -sS --fail --cacert "$CS/tls-root.pem" \
        -H "Authorization: Bearer $(cat "$CS/mgmt.token")" -X POST \
        "https://127.0.0.1:$PORT/csca/stats/reset" >/dev/null
}
# stat_of JSON ENDPOINT : by_endpoint count (0 when absent)
stat_of() {
    python3 -c 'import json,sys; print(json.loads(sys.argv[1]).get("by_endpoint",{}).get(sys.argv[2],0))' "$1" "$2"
}

# d_config FILE : writes the agent config (CA part) followed by stdin.
d_config() {
    {
        echo "[token]"
        echo "module = $CSA_MODULE"
        echo "uri = $CSA_TOKEN_URI"
        echo "pin_file = $CSA_PIN_FILE"
        echo "[ca]"
        echo "directory = $DIR_URL"
        echo "ca_bundle = $CS/tls-root.pem"
        echo "trust_anchor = $CS/root.pem"
        echo "contact = mailto:release@example.com"
        echo "terms_agreed = yes"
        echo "eab_kid = eab-1"
        echo "eab_key_file = $W/eab.key"
        echo "[agent]"
        echo "state_dir = $STATE"
        echo "policy = $POLICY"
        [ -n "${NOTIFY:-}" ] && echo "notify = $NOTIFY"
        cat
    } >"$1"
}

# csa NAME CONFIG ARGS... : csagent -c CONFIG ARGS; sets D_RC, D_OUT, D_ERR.
csa() {
    local name=$1 cfg=$2; shift 2
    D_NLOG=$((D_NLOG + 1))
    local base
    base=$W/logs/$(printf '%02d' $D_NLOG)-$name
    D_OUT=$base.out D_ERR=$base.err
    D_CMD="csagent -c $cfg $*"
    "$CSAGENT" -c "$cfg" "$@" >"$D_OUT" 2>"$D_ERR" </dev/null
    D_RC=$?
    say "  ran  - $D_CMD -> exit $D_RC"
    return 0
}
# tcsa NAME ARGS... : csagent token command (list, keygen, pubkey, otp-import)
tcsa() {
    local name=$1 cmd=$2; shift 2
    D_NLOG=$((D_NLOG + 1))
    local base
    base=$W/logs/$(printf '%02d' $D_NLOG)-$name
    D_OUT=$base.out D_ERR=$base.err
    D_CMD="csagent $cmd $*"
    "$CSAGENT" "$cmd" --module "$CSA_MODULE" --token "$CSA_TOKEN_URI" \
        --pin-file "$CSA_PIN_FILE" "$@" >"$D_OUT" 2>"$D_ERR" </dev/null
    D_RC=$?
    say "  ran  - $D_CMD -> exit $D_RC"
    return 0
}

# csa_list : `csagent list` into $W/list.txt
csa_list() {
    tcsa list list
    cp "$D_OUT" "$W/list.txt"
    [ "$D_RC" = 0 ] || { say "  list failed (exit $D_RC): $(cat "$D_ERR")"; return 1; }
}
# count CLASS LABEL : objects of that class with exactly that label
count() {
    grep -cE "^$1 +label=\"$(printf '%s' "$2" | sed 's/[.]/[.]/g')\" " \
        "$W/list.txt" || true
}
# attrs CLASS LABEL : the security attribute line of that object
attrs() {
    awk -v c="$1" -v l="label=\"$2\"" '$1==c && $2==l {getline; print; exit}' \
        "$W/list.txt" | sed 's/^ *//'
}
# objects labelled LABEL.next / LABEL.retired (after csa_list)
pending_objects() {
    grep -oE "label=\"$(printf '%s' "$1" | sed 's/[.]/[.]/g')[.](next|retired)\"" \
        "$W/list.txt" | tr '\n' ' '
}
# A snapshot of every object on the token (class, label, id), sorted.
token_snapshot() { # OUTFILE
    csa_list >/dev/null || return 1
    grep -E '^[a-z-]+ +label=' "$W/list.txt" | sort >"$1"
}

# status_serial CONFIG IDENTITY : sets SERIAL (empty when none)
status_serial() {
    csa status "$1" status
    SERIAL=$(awk -v id="$2:" '$1==id {f=1; next} /^[^ ]/ {f=0} f && $1=="serial" {print $2}' "$D_OUT")
}

# The issued leaf (state_dir copy): EKU / SAN text
eku_of() { "$OPENSSL_BIN" x509 -in "$1" -noout -ext extendedKeyUsage 2>/dev/null | sed -n '2p' | sed 's/^ *//'; }
san_of() { "$OPENSSL_BIN" x509 -in "$1" -noout -ext subjectAltName 2>/dev/null | sed -n '2p' | sed 's/^ *//'; }

d_provider_conf() {
    [ -n "${PKCS11_PROVIDER:-}" ] && [ -f "$PKCS11_PROVIDER" ] || return 1
    "$(dirname "${BASH_SOURCE[0]}")/../../softhsm-conf/openssl-provider.sh" \
        "$W/openssl-p11.cnf" "$CSA_MODULE" "$CSA_PIN_FILE" "$PKCS11_PROVIDER"
}
p11ssl() { OPENSSL_CONF=$W/openssl-p11.cnf "$OPENSSL_BIN" "$@"; }

# ---- credentials ---------------------------------------------------------

# new_seed FILE : random 160-bit base32 seed
new_seed() { head -c 20 /dev/urandom | base32 | tr -d '=\n' >"$1"; }

# otp_setup TYPE(totp|hotp) ID LABEL : OTP credential at csca + the same
# seed in the token
otp_setup() {
    new_seed "$W/$2.b32"
    # OTP_DIGITS / OTP_ALG / OTP_PERIOD: csca's hints (default 6, SHA1, 30)
    local extra=(--period "${OTP_PERIOD:-30}")
    [ "$1" = hotp ] && extra=(--counter 0)
    cs otp add --id "$2" --org "$ORG" --type "$1" --digits "${OTP_DIGITS:-6}" \
        --algorithm "${OTP_ALG:-SHA1}" "${extra[@]}" --seed-file "$W/$2.b32" ||
        fatal "csca otp add $2 failed: $(tail -2 "$W/logs/csca-registry.log")"
    tcsa otp-import otp-import --label "$3" --file "$W/$2.b32"
    [ "$D_RC" = 0 ] || fatal "otp-import $3 failed: $(cat "$D_ERR")"
}

# d_setup_hotp WORKDIR: d_setup, an organisation whose factor is hotp-01,
# the HOTP seed hotp-1 in csca and as release-hotp in the token, csca
# started; CFG=$W/agent.ini (not yet written).
d_setup_hotp() {
    d_setup "$1"
    csca_org hotp-01
    otp_setup hotp hotp-1 release-hotp
    csca_start
    CFG=$W/agent.ini
}

# admin_ca : a test administrator CA (openssl, files in $W/admin)
admin_ca() {
    mkdir -p "$W/admin"
    "$OPENSSL_BIN" req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
        -nodes -keyout "$W/admin/ca-key.pem" -out "$W/admin/ca.pem" \
        -subj "/O=Example Corp/CN=Example Corp Admin CA" -days 30 \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" 2>>"$W/logs/openssl.log" ||
        fatal "admin CA"
    cs admin add --org "$ORG" --anchor "$W/admin/ca.pem" || fatal "csca admin add --anchor"
}

# admin_leaf LABEL OUT [X509 -req options...] : admin key generated in the
# token, CSR through pkcs11-provider, signed by the admin CA.
admin_leaf() {
    local label=$1 out=$2; shift 2
    tcsa keygen keygen --label "$label" --type "${KEYTYPE:-p256}"
    [ "$D_RC" = 0 ] || fatal "keygen $label failed: $(cat "$D_ERR")"
    p11ssl req -new -key "pkcs11:${CSA_TOKEN_URI#pkcs11:};object=$label;type=private" \
        -subj "/O=Example Corp/CN=$label" -out "$W/admin/$label.csr" \
        2>>"$W/logs/openssl.log" || fatal "CSR for $label via pkcs11-provider: $(tail -3 "$W/logs/openssl.log")"
    printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n' \
        >"$W/admin/leaf.ext"
    "$OPENSSL_BIN" x509 -req -in "$W/admin/$label.csr" -CA "$W/admin/ca.pem" \
        -CAkey "$W/admin/ca-key.pem" -CAcreateserial -extfile "$W/admin/leaf.ext" \
        -out "$out" "$@" 2>>"$W/logs/openssl.log" || fatal "sign $label: $(tail -3 "$W/logs/openssl.log")"
}

# ppkp_key LABEL [register] : key in the token, registered at csca
ppkp_key() {
    tcsa keygen keygen --label "$1" --type "${KEYTYPE:-p256}"
    [ "$D_RC" = 0 ] || fatal "keygen $1 failed: $(cat "$D_ERR")"
    tcsa pubkey pubkey --label "$1"
    cp "$D_OUT" "$W/$1.json"
    if [ "${2:-}" = register ]; then
        "$CSCA" ppkp add --state "$CS" --org "$ORG" <"$W/$1.json" \
            >>"$W/logs/csca-registry.log" 2>&1 || fatal "csca ppkp add: $(tail -2 "$W/logs/csca-registry.log")"
    fi
}

# identity NAME LABEL CHALLENGES [extra lines...]
identity() {
    local n=$1 l=$2 c=$3; shift 3
    printf '[identity %s]\nlabel = %s\nkey_type = p256\nprofile = codesigning\ndomain = example.com\norganization = Example Corp\nchallenges = %s\n' \
        "$n" "$l" "$c"
    local x
    for x in "$@"; do printf '%s\n' "$x"; done
}

# register CONFIG : account register, fatal when it fails
register() {
    csa register "$1" account register
    [ "$D_RC" = 0 ] || fatal "account register failed"
}

# check_nothing_stored LABEL : no key/cert under LABEL or LABEL.next
check_nothing_stored() {
    csa_list || { fail "list the token"; return; }
    check_eq "$1: private keys labelled '$1'" 0 "$(count private-key "$1")"
    check_eq "$1: certificates labelled '$1'" 0 "$(count certificate "$1")"
    check_eq "$1: objects labelled '$1.next'/'$1.retired'" "" "$(pending_objects "$1")"
}
# check_enrolled LABEL : exactly one key + cert under LABEL, nothing pending
check_enrolled() {
    csa_list || { fail "list the token"; return; }
    check_eq "$1: private keys labelled '$1' on the token" 1 "$(count private-key "$1")"
    check_eq "$1: certificates labelled '$1' on the token" 1 "$(count certificate "$1")"
    check_eq "$1: no '$1.next'/'$1.retired' objects" "" "$(pending_objects "$1")"
}

# csca_saw PATTERN : lines in csca's current log matching the ERE
csca_saw() { grep -cE -- "$1" "$CSCA_LOG" || true; }

d_finish() {
    if grep -rqF -- "$(cat "$CSA_PIN_FILE")" "$W/logs"; then
        fail "the PIN appears in output: $(grep -rlF -- "$(cat "$CSA_PIN_FILE")" "$W/logs" | tr '\n' ' ')"
    fi
    chk_result
}
