# SPDX-License-Identifier: Apache-2.0
# Shared set-up for the tests of the long-running agent (`csagent run`),
# sourced by every script in tests/daemon.
#
# Each script runs as   SCRIPT WORKDIR   with CSAGENT, CSCA, OPENSSL_BIN,
# PKCS11_PROVIDER and SOFTHSM2_MODULE in the environment (ctest sets them).
# d_setup gives it a throwaway SoftHSM token and a csca state (organisation
# "Daemon Org" whose factor is dns-01; csca runs with --always-valid and
# the agent's hook exits 0), all under WORKDIR.  csca listens on 127.0.0.1
# only; every process started here is killed on exit.  Every check prints
# what it checked.  Exit: 0 passed, 1 a check failed, 77 skipped.
set -uo pipefail

D_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
D_SRC=$(cd "$D_HERE/../.." && pwd)
D_MKTOKEN=$D_SRC/softhsm-conf/mktoken.sh
OPENSSL_BIN=${OPENSSL_BIN:-$(command -v openssl || true)}
D_PIDS=()
CHK_LAST="" CHK_DUMP=d_dump_last
. "$(dirname "${BASH_SOURCE[0]}")/../support/check.sh"
d_dump_last() {
    [ -n "${OUT:-}" ] || return 0
    tail -5 "$OUT" "$ERR" 2>/dev/null | sed 's/^/    | /'
}
# defect ID MESSAGE: a bug of this suite's own daemon_bug_* tests.  It fails
# when the test runs in that bug's mode (D_STRICT holds its id), else it is
# reported as known.
D_STRICT=""
defect() {
    local id=$1; shift
    case " $D_STRICT " in
    *" $id "*) bug "$id" "$@" ;;
    *) known_bug "$id" "daemon_bug_$(echo "$id" | tr 'A-Z-' 'a-z_')" "$@" ;;
    esac
}

d_cleanup() {
    local rc=$? p
    for p in "${D_PIDS[@]}"; do
        kill "$p" 2>/dev/null
    done
    sleep 0.2
    for p in "${D_PIDS[@]}"; do
        kill -9 "$p" 2>/dev/null
    done
    exit $rc
}
d_track() { D_PIDS+=("$1"); }

# d_setup WORKDIR TOKENLABEL [DOMAIN...]: token, csca registry, hook, policy
d_setup() {
    local work=$1 label=$2 rc out dom
    shift 2
    [ -x "${CSAGENT:-}" ] || skip "CSAGENT not set to the csagent binary"
    [ -x "${CSCA:-}" ] || skip "CSCA not set to the csca binary"
    [ -x "$OPENSSL_BIN" ] || skip "openssl not installed"
    command -v jq >/dev/null || skip "jq not installed"
    command -v curl >/dev/null || skip "curl not installed"
    [ -n "${PKCS11_PROVIDER:-}" ] && [ -f "$PKCS11_PROVIDER" ] ||
        skip "pkcs11-provider not installed (PKCS11_PROVIDER=${PKCS11_PROVIDER:-unset})"
    rm -rf "$work" && mkdir -p "$work/logs" || fatal "cannot create $work"
    W=$(cd "$work" && pwd)
    trap d_cleanup EXIT
    trap 'exit 130' INT TERM
    export CSAGENT
    out=$("$D_MKTOKEN" "$W/tok" "$label" 2>"$W/mktoken.err"); rc=$?
    [ $rc = 77 ] && skip "$(cat "$W/mktoken.err")"
    [ $rc = 0 ] || fatal "mktoken.sh failed: $(cat "$W/mktoken.err")"
    eval "$(echo "$out" | sed 's/^/export /')"
    PIN=$(cat "$CSA_PIN_FILE")
    CSCA_STATE=$W/csca
    mkdir -p "$CSCA_STATE"
    head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n' >"$W/eab.key"
    local doms=()
    for dom in "${@:-example.com}"; do doms+=(--domain "$dom"); done
    "$CSCA" org add --state "$CSCA_STATE" --name "Daemon Org" "${doms[@]}" \
        --factor dns-01 --profile codesigning >"$W/csca-setup.log" 2>&1 &&
        "$CSCA" eab add --state "$CSCA_STATE" --kid daemon-eab \
            --org "Daemon Org" --key-file "$W/eab.key" >>"$W/csca-setup.log" 2>&1 ||
        fatal "csca set-up failed: $(cat "$W/csca-setup.log")"
    STATE=$W/state
    POLICY=$W/policy.ini
    printf '[hooks]\nallowed = true\n' >"$POLICY"
    HOOK_OK=$W/hook-ok.sh
    printf '#!/bin/sh\nexit 0\n' >"$HOOK_OK"
    chmod 755 "$HOOK_OK"
    "$(dirname "${BASH_SOURCE[0]}")/../../softhsm-conf/openssl-provider.sh" \
        "$W/openssl-p11.cnf" "$CSA_MODULE" "$CSA_PIN_FILE" "$PKCS11_PROVIDER"
    CSCA_PORT=0
    say "setup: token '$label' in $W/tok, csca state $CSCA_STATE"
}

# csca_start [serve options...]: starts csca on 127.0.0.1 (port CSCA_PORT,
# 0 = any; the bound port is kept in CSCA_PORT for a restart).
csca_start() {
    rm -f "$CSCA_STATE/port"
    "$CSCA" serve --state "$CSCA_STATE" --port "$CSCA_PORT" \
        --port-file "$CSCA_STATE/port" "$@" >>"$W/csca.log" 2>&1 &
    CSCA_PID=$!
    d_track $CSCA_PID
    local i
    for i in $(seq 1 100); do [ -s "$CSCA_STATE/port" ] && break; sleep 0.1; done
    [ -s "$CSCA_STATE/port" ] || fatal "csca did not start: $(tail -5 "$W/csca.log")"
    CSCA_PORT=$(cat "$CSCA_STATE/port")
    CSCA_URL=https://127.0.0.1:$CSCA_PORT
    info "csca pid $CSCA_PID on $CSCA_URL ($*)"
}
csca_stop() {
    kill "$CSCA_PID" 2>/dev/null
    wait "$CSCA_PID" 2>/dev/null
    info "csca pid $CSCA_PID stopped"
}
# csca management endpoints (TLS root of this csca trusted, nothing else)
csca_get() { curl -sS --cacert "$CSCA_STATE/tls-root.pem" -H "Authorization: Bearer $(cat "$CSCA_STATE/mgmt.token")" "$CSCA_URL$1"; }
csca_post() { curl -sS --cacert "$CSCA_STATE/tls-root.pem" -H "Authorization: Bearer $(cat "$CSCA_STATE/mgmt.token")" -X POST "$CSCA_URL$1"; }
csca_total() { csca_get /csca/stats | jq -r '.total // 0'; }

# d_config FILE [agent key=value...] < identity blocks
d_config() {
    local file=$1 kv; shift
    {
        echo "[token]"
        echo "module = $CSA_MODULE"
        echo "uri = $CSA_TOKEN_URI"
        echo "pin_file = $CSA_PIN_FILE"
        echo "[ca]"
        echo "directory = $CSCA_URL/directory"
        echo "ca_bundle = $CSCA_STATE/tls-root.pem"
        echo "trust_anchor = $CSCA_STATE/root.pem"
        echo "contact = mailto:ops@example.com"
        echo "terms_agreed = yes"
        echo "eab_kid = daemon-eab"
        echo "eab_key_file = $W/eab.key"
        echo "[agent]"
        echo "state_dir = $STATE"
        echo "policy = $POLICY"
        for kv in "$@"; do echo "${kv%%=*} = ${kv#*=}"; done
        cat
    } >"$file"
}
# identity NAME LABEL DOMAIN [HOOK]
identity() {
    cat <<EOF
[identity $1]
label = $2
key_type = p256
profile = codesigning
domain = $3
challenges = dns-01
hook = ${4:-$HOOK_OK}
EOF
}

# csa NAME ARGS... : csagent -c $CFG ARGS, output in $W/logs/NAME.{out,err};
# sets RC, OUT, ERR.
D_NLOG=0
csa() {
    local name=$1; shift
    D_NLOG=$((D_NLOG + 1))
    local base
    base=$W/logs/$(printf '%03d' $D_NLOG)-$name
    OUT=$base.out ERR=$base.err
    # (the group's 2>/dev/null only silences bash's "Aborted"/"Killed"
    # notice when a crash test kills csagent on purpose)
    { "$CSAGENT" -c "$CFG" "$@" >"$OUT" 2>"$ERR" </dev/null; } 2>/dev/null
    RC=$?
    say "  ran  - csagent -c $CFG $* -> exit $RC"
}

# daemon_start LOG [ENV=VALUE...]: csagent -c $CFG run in the background.
daemon_start() {
    local log=$1; shift
    env "$@" "$CSAGENT" -c "$CFG" run >>"$log" 2>&1 </dev/null &
    DPID=$!
    d_track $DPID
    info "csagent run started, pid $DPID, log $log"
}
# Stops the daemon with SIGTERM; sets DRC to its exit status.
daemon_stop() {
    kill -TERM "$DPID" 2>/dev/null
    daemon_wait 30
}
# daemon_exit_or_log SECONDS FILE ERE COUNT: waits until the daemon exits
# (returns 0, DRC = its status) or FILE has COUNT lines matching ERE
# (returns 1, the daemon still runs); 2 when neither happened in time.
daemon_exit_or_log() {
    local end=$(( $(date +%s) + $1 ))
    while [ "$(date +%s)" -le "$end" ]; do
        if ! kill -0 "$DPID" 2>/dev/null; then
            wait "$DPID" 2>/dev/null
            DRC=$?
            return 0
        fi
        [ "$(grep -cE -- "$3" "$2" 2>/dev/null)" -ge "$4" ] && return 1
        sleep 0.05
    done
    return 2
}
# daemon_wait SECONDS: waits for the daemon to exit (DRC = its status); one
# that is still running after SECONDS is killed and reported.
daemon_wait() {
    local end=$(( $(date +%s) + $1 ))
    while kill -0 "$DPID" 2>/dev/null && [ "$(date +%s)" -lt "$end" ]; do
        sleep 0.1
    done
    if kill -0 "$DPID" 2>/dev/null; then
        fail "csagent run (pid $DPID) still running $1 s later; killed"
        kill -9 "$DPID" 2>/dev/null
    fi
    wait "$DPID" 2>/dev/null
    DRC=$?
}
# wait_log FILE ERE COUNT TIMEOUT: until FILE has COUNT lines matching ERE.
wait_log() {
    local f=$1 re=$2 n=$3 t=$4 end
    end=$(( $(date +%s) + t ))
    while [ "$(date +%s)" -le "$end" ]; do
        [ "$(grep -cE -- "$re" "$f" 2>/dev/null)" -ge "$n" ] && return 0
        sleep 0.1
    done
    return 1
}
count_log() { grep -cE -- "$2" "$1" 2>/dev/null || true; }

# Token inspection through `csagent list`.
tok_list() {
    "$CSAGENT" list --module "$CSA_MODULE" --token "$CSA_TOKEN_URI" \
        --pin-file "$CSA_PIN_FILE" >"$W/list.txt" 2>"$W/list.err" </dev/null
    local rc=$?
    [ $rc = 0 ] || { say "  list failed (exit $rc): $(tail -2 "$W/list.err")"; return 1; }
}
count() { # CLASS LABEL (after tok_list)
    grep -cE "^$1 +label=\"$(printf '%s' "$2" | sed 's/[.]/[.]/g')\" " \
        "$W/list.txt" || true
}

# ids_of CLASS LABEL: the CKA_IDs of the objects of CLASS labelled LABEL
# (after tok_list), sorted, one per word.
ids_of() {
    grep -E "^$1 +label=\"$(printf '%s' "$2" | sed 's/[.]/[.]/g')\" " "$W/list.txt" |
        sed -n 's/.* id=\([^ ]*\) .*/\1/p' | sort | tr '\n' ' '
}

# d_shim_config CONFIG OUT: CONFIG with tests/p11shim in front of the
# token's module (P11SHIM = path of p11shim.so, exported P11SHIM_MODULE).
d_shim_config() {
    sed "s|^module = .*|module = $P11SHIM|" "$1" >"$2"
    export P11SHIM_MODULE=$CSA_MODULE
}
# d_shim_round NAME CONFIG: `csagent run --once` with CONFIG's module
# replaced by tests/p11shim, counting into $W/NAME.counts (P11SHIM_FAIL as
# the caller sets it); FINDS = its C_FindObjectsInit
d_shim_round() {
    d_shim_config "$2" "$W/shim.ini"
    CFG=$W/shim.ini P11SHIM_COUNT_FILE=$W/$1.counts \
        P11SHIM_FAIL=${P11SHIM_FAIL:-} csa "$1" run --once
    FINDS=$(d_shim_counts "$W/$1.counts" C_FindObjectsInit | cut -d= -f2)
}
# d_shim_counts FILE FUNCTION...: "FUNCTION=N" for each (0 when the count
# file written by P11SHIM_COUNT_FILE does not list it).
d_shim_counts() {
    local f=$1 fn; shift
    for fn in "$@"; do
        echo "$fn=$(awk -v f="$fn" '$1 == f { n = $2 } END { print n + 0 }' "$f" 2>/dev/null || echo 0)"
    done
}

# orphans_count: `csagent orphans` (lists, deletes nothing); prints the N of
# its last line "N object(s) with no label and no id", or "?" (output in
# $W/orphans.txt).
orphans_count() {
    "$CSAGENT" orphans --module "$CSA_MODULE" --token "$CSA_TOKEN_URI" \
        --pin-file "$CSA_PIN_FILE" >"$W/orphans.txt" 2>"$W/orphans.err" </dev/null ||
        { echo "?"; return; }
    tail -1 "$W/orphans.txt" | sed -n 's/^\([0-9][0-9]*\) object(s) with no label and no id$/\1/p' |
        grep . || echo "?"
}

p11ssl() { OPENSSL_CONF=$W/openssl-p11.cnf "$OPENSSL_BIN" "$@"; }
uri_of() { echo "pkcs11:${CSA_TOKEN_URI#pkcs11:};object=$1;type=$2"; }
token_cert() { # LABEL OUTFILE: the certificate labelled LABEL, via the provider
    p11ssl x509 -in "$(uri_of "$1" cert)" -out "$2" 2>"$2.err"
}
# token_serial LABEL: the serial of the certificate labelled LABEL
token_serial() {
    token_cert "$1" "$W/c.pem" && "$OPENSSL_BIN" x509 -in "$W/c.pem" -noout -serial | cut -d= -f2
}
# csca_certid SERIAL: csca's ARI CertID of the certificate with that serial
csca_certid() {
    jq -r --arg s "$1" '.certs | to_entries[] | select(.value.serial == $s) | .value.certid' "$CSCA_STATE/state.json"
}

# sign_by_uri LABEL TAG: what a signing tool does, knowing only the URI:
# certificate from the token (pkcs11-provider; SIGN_T0 = when that began,
# epoch milliseconds), then the key by URI, CMS signature,
# then verification to csca's root and a validity check of the signer
# certificate.  Returns 0 when all of it worked; SIGN_WHY says what failed
# and SIGN_SERIAL is the serial signed with.  SIGN_KIND says how it failed:
#   nocert    no certificate found under the label
#   nokey     no private key found under the label
#   mismatch  the key under the label is not the certificate's ("key
#             values mismatch": what a mixed pair gives)
#   badsig    a signature was made but does not verify with the
#             certificate it carries (a signer that does not compare key
#             and certificate would ship it)
#   expired   the certificate has expired
#   other     anything else
sign_by_uri() {
    local label=$1 tag=$2 d=$W/sign
    mkdir -p "$d"
    SIGN_WHY="" SIGN_SERIAL="" SIGN_KIND="" SIGN_T0=$(date +%s%3N)
    echo "artefact $tag $(date +%s.%N)" >"$d/art"
    if ! token_cert "$label" "$d/signer.pem"; then
        SIGN_WHY="storeutl/x509 of $(uri_of "$label" cert): $(tail -1 "$d/signer.pem.err")"
        if grep -q "Could not read certificate from" "$d/signer.pem.err"; then
            SIGN_KIND=nocert
        else
            SIGN_KIND=other
        fi
        return 1
    fi
    SIGN_SERIAL=$("$OPENSSL_BIN" x509 -in "$d/signer.pem" -noout -serial | cut -d= -f2)
    if ! p11ssl cms -sign -binary -in "$d/art" -signer "$d/signer.pem" \
        -inkey "$(uri_of "$label" private)" -certfile "$CSCA_STATE/intermediate.pem" \
        -outform DER -out "$d/art.p7s" -nodetach >"$d/sign.log" 2>&1; then
        SIGN_WHY="$(date -u +%T.%3N) cms -sign with $(uri_of "$label" private) and the certificate just read from $(uri_of "$label" cert) (serial $SIGN_SERIAL, notBefore $("$OPENSSL_BIN" x509 -in "$d/signer.pem" -noout -startdate | cut -d= -f2)): $(grep -m1 -iE 'error|mismatch|not match' "$d/sign.log" || tail -1 "$d/sign.log")"
        cp "$d/sign.log" "$W/logs/sign-fail-$(echo "$tag" | tr -c 'A-Za-z0-9_.\n-' '_').log"
        if grep -qiE "key values mismatch|private key does not match" "$d/sign.log"; then
            SIGN_KIND=mismatch
        elif grep -q "Could not read signing key from" "$d/sign.log"; then
            SIGN_KIND=nokey
        else
            SIGN_KIND=other
        fi
        return 1
    fi
    if ! "$OPENSSL_BIN" cms -verify -binary -inform DER -in "$d/art.p7s" \
        -noverify -out "$d/art.out" >"$d/verify.log" 2>&1 ||
        ! cmp -s "$d/art" "$d/art.out"; then
        SIGN_WHY="cms -verify -noverify (the signature against the certificate it carries, serial $SIGN_SERIAL): $(tail -1 "$d/verify.log")"
        SIGN_KIND=badsig
        cp "$d/verify.log" "$W/logs/sign-badsig-$(echo "$tag" | tr -c 'A-Za-z0-9_.\n-' '_').log"
        return 1
    fi
    if ! "$OPENSSL_BIN" x509 -in "$d/signer.pem" -noout -checkend 0 >/dev/null; then
        SIGN_WHY="the token's certificate $SIGN_SERIAL has expired ($("$OPENSSL_BIN" x509 -in "$d/signer.pem" -noout -enddate))"
        SIGN_KIND=expired
        return 1
    fi
    if ! "$OPENSSL_BIN" cms -verify -binary -inform DER -in "$d/art.p7s" \
        -CAfile "$CSCA_STATE/root.pem" -purpose any -out "$d/art.out" \
        >"$d/verify.log" 2>&1 || ! cmp -s "$d/art" "$d/art.out"; then
        SIGN_WHY="cms -verify -CAfile csca root: $(tail -1 "$d/verify.log")"
        SIGN_KIND=other
        return 1
    fi
    return 0
}

# Invariant 3 after recovery: exactly one key + one certificate under LABEL,
# no .next/.retired objects, no journal, the certificate's key is the
# token's key.
check_clean_pair() { # IDENTITY LABEL WHEN
    local id=$1 label=$2 when=$3 kp cp
    tok_list || { fail "$when: list the token"; return; }
    check_eq "$when: private keys labelled '$label'" 1 "$(count private-key "$label")"
    check_eq "$when: certificates labelled '$label'" 1 "$(count certificate "$label")"
    check_eq "$when: public keys labelled '$label'" 1 "$(count public-key "$label")"
    check_eq "$when: objects labelled '$label.next'/'$label.retired'" "" \
        "$(grep -oE "label=\"$label[.](next|retired)\"" "$W/list.txt" | tr '\n' ' ')"
    check "$when: no journal $STATE/$id.journal" test ! -e "$STATE/$id.journal"
    "$CSAGENT" -c "$CFG" pubkey --label "$label" --pem >"$W/pub-key.pem" \
        2>"$W/pub-key.err" </dev/null
    if ! token_cert "$label" "$W/tokcert.pem"; then
        fail "$when: read certificate '$label' from the token: $(tail -1 "$W/tokcert.pem.err")"
        return
    fi
    "$OPENSSL_BIN" x509 -in "$W/tokcert.pem" -noout -pubkey >"$W/pub-cert.pem"
    kp=$(cat "$W/pub-key.pem"); cp=$(cat "$W/pub-cert.pem")
    if [ -n "$kp" ] && [ "$kp" = "$cp" ]; then
        pass "$when: csagent pubkey --label $label --pem equals openssl x509 -pubkey of the token's certificate"
    else
        fail "$when: token key of '$label' ($(tail -1 "$W/pub-key.err")) differs from its certificate's key"
    fi
    if "$OPENSSL_BIN" x509 -in "$W/tokcert.pem" -noout -checkend 0 >/dev/null; then
        pass "$when: the token's certificate '$label' is currently valid"
    else
        fail "$when: the token's certificate '$label' has expired"
    fi
}

# VmRSS of a process in kB
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null; }

check_no_pin() { # FILES...
    if grep -qF -- "$PIN" "$@" 2>/dev/null; then
        fail "the PIN appears in: $(grep -lF -- "$PIN" "$@" | tr '\n' ' ')"
    else
        pass "the PIN appears in none of the $# daemon/csagent logs"
    fi
}

d_finish() {
    chk_result "agent bugs shown by this test"
}
