#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# csagent against an independent hostile ACME CA (issue 11):
#   hostile.sh WORKDIR [CASE...]
#
# tests/hostile/hostile_ca.py is a small ACME server (Python standard
# library + openssl CLI) started once per case on 127.0.0.1, port 0, with
# --case NAME selecting its misbehaviour; it logs every request it gets
# (the decoded JWS protected header and payload) for the checks below.
# The token is a throwaway SoftHSM token (softhsm-conf/mktoken.sh); the
# agent's configuration is written here with the keys tests/agent/lib.sh's
# agt_config writes.  First the identity is enrolled against the
# well-behaved CA ("normal"), then every case runs as a renewal of it:
#
#   - csagent enroll runs under `timeout 150` and must end with exit 0, 5
#     or 6: never 124 (a hang) nor >= 128 (killed by a signal), and no
#     crash of the network process;
#   - nothing the agent signed (JWS protected header or payload) carries
#     the CA's text, and no challenge with a CA-chosen, non-base64url or
#     wrong-length token was answered (no signature over it);
#   - when it fails, the old certificate stays under the label (same
#     serial in `csagent status` and in state_dir/<id>.pem, one key and one
#     certificate on the token, nothing .next/.retired, no journal);
#   - the error names what was wrong (the member, the URL, the CA's detail);
#   - no nonce was used twice, no OTP was answered twice in one step.
#
# Without CASE arguments every case runs ("normal" always runs first).
# Environment: CSAGENT, OPENSSL_BIN, SOFTHSM2_MODULE (as ctest sets them
# for tests/agent); HOSTILE_TIMEOUT (default 150 s per csagent run).
# Exit status: 0 all passed, 1 a check failed, 77 skipped.
. "$(dirname "$0")/../agent/lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
CA_PY=$HERE/hostile_ca.py
CALOG=$HERE/calog.py
LIMIT=${HOSTILE_TIMEOUT:-150}
HOSTILE_TEXT="I authorize transfer of account 42."
CA_PID=""

ALL_CASES="normal normal-cert normal-totp null-algorithm null-algorithm-hotp
 digits-string digits-wrap digits-float period-huge period-negative
 account-status-null token-text token-text-ppkp token-long token-long-cert
 token-short token-129 token-128 misissue-other-key chain-garbage
 foreign-url pending-error retry-after-huge no-preauth-reuse flaky-5xx
 flaky-5xx-safe"

h_cleanup() {
    local rc=$?
    ca_stop
    exit $rc
}

# ---- set-up ---------------------------------------------------------------

h_setup() {
    local work=$1 out rc
    [ -x "${CSAGENT:-}" ] || skip "CSAGENT not set to the csagent binary"
    [ -x "$OPENSSL_BIN" ] || skip "openssl not installed"
    command -v python3 >/dev/null || skip "python3 not installed"
    command -v timeout >/dev/null || skip "timeout (coreutils) not installed"
    rm -rf "$work" && mkdir -p "$work/logs" "$work/ca" || fatal "cannot create $work"
    W=$(cd "$work" && pwd)
    export CSAGENT OPENSSL_BIN
    out=$("$AGT_MKTOKEN" "$W/tok" hostile-test 2>"$W/mktoken.err"); rc=$?
    [ $rc = 77 ] && skip "$(cat "$W/mktoken.err")"
    [ $rc = 0 ] || fatal "mktoken.sh failed: $(cat "$W/mktoken.err")"
    eval "$(echo "$out" | sed 's/^/export /')"
    PIN=$(cat "$CSA_PIN_FILE")
    [ -n "$PIN" ] || fatal "empty PIN"
    trap h_cleanup EXIT
    trap 'exit 130' INT TERM
    STATE=$W/state PKI=$W/pki POLICY=$W/policy.ini CFG=$W/agent.ini
    ID=rel LABEL=rel-sign
    : >"$POLICY" # the defaults: CS BRs (codesigning, 460 days, ...)
    # The credentials the draft's challenges use, in the token.
    tcsa keygen-ppkp keygen --label hostile-ppkp --type p256
    [ "$AGT_RC" = 0 ] || fatal "keygen hostile-ppkp: $(cat "$AGT_ERR")"
    tcsa keygen-admin keygen --label hostile-admin --type p256
    [ "$AGT_RC" = 0 ] || fatal "keygen hostile-admin: $(cat "$AGT_ERR")"
    head -c 20 /dev/urandom | base32 | tr -d '=\n' >"$W/otp.b32"
    tcsa otp-import otp-import --label hostile-otp --file "$W/otp.b32"
    [ "$AGT_RC" = 0 ] || fatal "otp-import: $(cat "$AGT_ERR")"
    tcsa pubkey-ppkp pubkey --label hostile-ppkp --pem
    cp "$AGT_OUT" "$W/ppkp-pub.pem"
    # cert-01: an administrator certificate for the token's admin key
    # (openssl x509 -force_pubkey: no private key leaves the token)
    tcsa pubkey-admin pubkey --label hostile-admin --pem
    cp "$AGT_OUT" "$W/admin-pub.pem"
    mkdir -p "$W/admin"
    {
        "$OPENSSL_BIN" req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
            -nodes -keyout "$W/admin/ca-key.pem" -out "$W/admin/ca.pem" \
            -subj "/O=Example Corp/CN=Example Corp Admin CA" -days 30 \
            -addext "basicConstraints=critical,CA:TRUE" \
            -addext "keyUsage=critical,keyCertSign,cRLSign" &&
            "$OPENSSL_BIN" req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
                -nodes -keyout "$W/admin/throwaway.key" -subj "/O=Example Corp/CN=admin" \
                -out "$W/admin/admin.csr" &&
            printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n' \
                >"$W/admin/leaf.ext" &&
            "$OPENSSL_BIN" x509 -req -in "$W/admin/admin.csr" \
                -force_pubkey "$W/admin-pub.pem" -CA "$W/admin/ca.pem" \
                -CAkey "$W/admin/ca-key.pem" -set_serial 0x0a11ce -days 10 \
                -extfile "$W/admin/leaf.ext" -out "$W/admin/admin.pem"
    } >>"$W/logs/openssl.log" 2>&1 || fatal "admin certificate: $(tail -3 "$W/logs/openssl.log")"
    say "setup: token '$CSA_TOKEN_LABEL' in $W/tok; ppkp/admin keys and an OTP seed in it"
}

# tcsa NAME COMMAND ARGS... : a token command of csagent (no configuration)
tcsa() {
    local name=$1 cmd=$2; shift 2
    AGT_NLOG=$((AGT_NLOG + 1))
    AGT_OUT=$W/logs/$(printf '%02d' $AGT_NLOG)-$name.out
    AGT_ERR=${AGT_OUT%.out}.err
    AGT_CMD="csagent $cmd $*"
    "$CSAGENT" "$cmd" --module "$CSA_MODULE" --token "$CSA_TOKEN_URI" \
        --pin-file "$CSA_PIN_FILE" "$@" >"$AGT_OUT" 2>"$AGT_ERR" </dev/null
    AGT_RC=$?
}

# h_config : the agent configuration for the CA at $CA_URL (the keys
# agt_config writes), one codesigning identity answering every draft type.
h_config() {
    cat >"$CFG" <<EOF
[token]
module = $CSA_MODULE
uri = $CSA_TOKEN_URI
pin_file = $CSA_PIN_FILE
[ca]
directory = $CA_URL
ca_bundle = $PKI/tls-root.pem
trust_anchor = $PKI/root.pem
contact = mailto:ops@build.example.com
terms_agreed = yes
account_key = csagent-account
account_key_type = p256
[agent]
state_dir = $STATE
policy = $POLICY
[identity $ID]
label = $LABEL
key_type = p256
profile = codesigning
domain = example.com
organization = Example Corp
challenges = ppkp-01, cert-01, totp-01, hotp-01
otp_secret = hostile-otp
ppkp_key = hostile-ppkp
cert_key = hostile-admin
cert_chain = $W/admin/admin.pem
EOF
}

# ---- the CA ---------------------------------------------------------------

# ca_start CASE : hostile_ca.py --case CASE on 127.0.0.1:0; sets CA_URL,
# CA_LOG (its request log), CA_PID.
ca_start() {
    ca_stop
    CA_LOG=$W/ca/$1.jsonl
    rm -f "$W/ca/url" "$CA_LOG"
    python3 "$CA_PY" --case "$1" --pki "$PKI" --work "$W/ca/work" \
        --url-file "$W/ca/url" --log "$CA_LOG" --otp-seed-file "$W/otp.b32" \
        --ppkp-pub "$W/ppkp-pub.pem" --openssl "$OPENSSL_BIN" \
        >>"$W/ca/$1.stderr" 2>&1 &
    CA_PID=$!
    local _
    for _ in $(seq 1 300); do
        [ -s "$W/ca/url" ] && break
        kill -0 "$CA_PID" 2>/dev/null || break
        sleep 0.1
    done
    [ -s "$W/ca/url" ] || fatal "hostile_ca.py --case $1 did not start: $(tail -5 "$W/ca/$1.stderr")"
    CA_URL=$(cat "$W/ca/url")
    case "$CA_URL" in
    https://127.0.0.1:*) ;;
    *) fatal "hostile_ca.py listens on $CA_URL, not 127.0.0.1" ;;
    esac
}
ca_stop() {
    if [ -n "${CA_PID:-}" ]; then
        kill "$CA_PID" 2>/dev/null
        wait "$CA_PID" 2>/dev/null
        CA_PID=""
    fi
}

# calog ARGS... : query the current case's request log (calog.py)
calog() { python3 "$CALOG" "$CA_LOG" "$@"; }

# ---- csagent --------------------------------------------------------------

# hcsa NAME ARGS... : csagent -c $CFG ARGS under timeout $LIMIT; sets
# AGT_RC, AGT_OUT, AGT_ERR (for check_rc/check_out) and ELAPSED (s).
hcsa() {
    local name=$1 t0; shift
    AGT_NLOG=$((AGT_NLOG + 1))
    AGT_OUT=$W/logs/$(printf '%02d' $AGT_NLOG)-$name.out
    AGT_ERR=${AGT_OUT%.out}.err
    AGT_CMD="timeout $LIMIT csagent -c $CFG $*"
    t0=$(date +%s)
    { timeout -k 10 "$LIMIT" "$CSAGENT" -c "$CFG" "$@" >"$AGT_OUT" 2>"$AGT_ERR" </dev/null; } 2>/dev/null
    AGT_RC=$?
    ELAPSED=$(($(date +%s) - t0))
    say "  ran  - csagent -c agent.ini $* -> exit $AGT_RC (${ELAPSED} s)"
}

# the serial of the identity per `csagent status` (SERIAL) and of the
# first certificate of state_dir/<id>.pem (PEM_SERIAL), leading zeros cut
h_serials() {
    local a=$AGT_RC o=$AGT_OUT e=$AGT_ERR c=$AGT_CMD
    status_serial "$CFG" "$ID"
    SERIAL=$(printf '%s' "${SERIAL:-}" | sed 's/^0*//')
    PEM_SERIAL=$("$OPENSSL_BIN" x509 -in "$STATE/$ID.pem" -noout -serial 2>/dev/null |
        sed 's/^serial=//; s/^0*//')
    AGT_RC=$a AGT_OUT=$o AGT_ERR=$e AGT_CMD=$c
}

# exactly one key and one certificate under the label, nothing pending
h_token_clean() { # WHAT
    csa_list || { fail "$1: list the token"; return; }
    check_eq "$1: private keys labelled '$LABEL'" 1 "$(count private-key "$LABEL")"
    check_eq "$1: certificates labelled '$LABEL'" 1 "$(count certificate "$LABEL")"
    check_eq "$1: objects labelled '$LABEL.next'/'$LABEL.retired'" "" \
        "$(grep -oE "label=\"${LABEL}[.](next|retired)\"" "$W/list.txt" | tr '\n' ' ')"
    check "$1: no journal $STATE/$ID.journal" test ! -e "$STATE/$ID.journal"
}

# ---- per-case expectations --------------------------------------------------

# check_err DESCRIPTION ERE : the agent's error line ("csagent: error: ...")
# matches ERE (the log lines before it do not count)
check_err() {
    local e
    e=$(grep -h '^csagent: error:' "$AGT_ERR" | head -3)
    if grep -Eq -- "$2" <<<"$e"; then
        pass "$1 (error matches /$2/)"
    else
        fail "$1: the error '${e:-none}' does not match /$2/"
    fi
}
# the same, as a shortcoming of the agent (listed at the end)
check_err_bug() { # ID DESCRIPTION ERE
    local e
    e=$(grep -h '^csagent: error:' "$AGT_ERR" | head -3)
    if grep -Eq -- "$3" <<<"$e"; then
        pass "$2 (error matches /$3/)"
    else
        bug "$1" "$2: the error '${e:-none}' does not match /$3/"
    fi
}

check_no_answer() { # WHY
    check_eq "$CASE: no challenge answer was POSTed ($1)" 0 "$(calog count --answers)"
}
# the last run's exit code is $1 (the code the design gives this case)
check_exit() { check_rc "$CASE: $2" "$1"; }

expect_normal() {
    check_exit 0 "enrollment against the well-behaved CA"
    check_out "$CASE: the agent reports the serial" "enrolled $ID: serial"
    check_eq "$CASE: newAuthz requests (pre-authorization)" 1 "$(calog count --path /new-authz)"
    check_eq "$CASE: challenge answers" 1 "$(calog count --answers)"
    check_eq "$CASE: the order reused the valid pre-authorization" 1 \
        "$(calog values authz_reused | grep -c '"')"
    check_eq "$CASE: the CA verified the ppkp-01 signature" '"ok"' \
        "$(calog values signature_check | sort -u | tr '\n' ' ' | sed 's/ $//')"
    check_eq "$CASE: finalize requests" 1 "$(calog count --suffix /finalize)"
    check_eq "$CASE: certificate downloads" 1 "$(calog count --prefix /cert/)"
}
expect_normal_cert() {
    check_exit 0 "renewal with cert-01"
    check_eq "$CASE: challenge answers" 1 "$(calog count --answers)"
    check_eq "$CASE: the CA verified the cert-01 signature with the x5c leaf" '"ok"' \
        "$(calog values signature_check | sort -u | tr '\n' ' ' | sed 's/ $//')"
}
expect_normal_totp() {
    check_exit 0 "renewal with totp-01"
    check_eq "$CASE: challenge answers" 1 "$(calog count --answers)"
    check_eq "$CASE: the CA accepted the TOTP" '"ok"' "$(calog values verdict | sort -u | tr '\n' ' ' | sed 's/ $//')"
}
hint_case() { # MEMBER-REGEX
    check_exit 5 "a bad hint is the CA's protocol error"
    check_err "$CASE: the error names the member" "$1"
    check_err "$CASE: the error names the challenge URL" "$CA_URL_BASE/chall/"
    check_no_answer "no OTP computed from a bad hint"
}
expect_null_algorithm() { hint_case '"algorithm"'; }
expect_null_algorithm_hotp() {
    hint_case '"algorithm"'
    check_eq "$CASE: the HOTP counter was not consumed ($STATE/$ID.hotp)" \
        "$HOTP_BEFORE" "$(cat "$STATE/$ID.hotp" 2>/dev/null || echo absent)"
}
expect_digits_string() { hint_case '"digits"'; }
expect_digits_wrap() { hint_case 'digits.*4294967302|"digits"'; }
expect_digits_float() { hint_case '"digits"'; }
expect_period_huge() { hint_case 'period.*99999999999|"period"'; }
expect_period_negative() { hint_case 'period.*-30|"period"'; }
expect_account_status_null() {
    check_exit 5 "an account with status null is not used"
    check_err "$CASE: the error names the member" '"status"'
    check_err "$CASE: the error names the account URL" "$CA_URL_BASE/acct/"
    check_eq "$CASE: no newOrder/newAuthz with that account" 0 \
        "$(($(calog count --path /new-order) + $(calog count --path /new-authz)))"
}
token_case() {
    check_exit 5 "a CA-chosen token is refused"
    check_no_answer "nothing signed over the CA's token"
    check_err_bug "$CASE-message" \
        "$CASE: the error names the challenge URL and says its token was refused" \
        "$CA_URL_BASE/chall/[^ ]*: the token|token.*$CA_URL_BASE/chall/"
    local tok
    tok=$(calog values token | head -1 | tr -d '"')
    check "$CASE: the CA offered its token (${tok:0:40}...)" test -n "$tok"
    [ -n "$tok" ] && check_eq "$CASE: JWS carrying the token in what the agent signed" 0 \
        "$(calog signed-contains -- "$tok")"
}
expect_token_text() { token_case; }
expect_token_text_ppkp() { token_case; }
expect_token_long() { token_case; }
expect_token_long_cert() { token_case; }
expect_token_short() { token_case; }
expect_token_129() { token_case; }
expect_token_128() {
    check_exit 0 "a 128-character base64url token (the upper bound) is answered"
    check_eq "$CASE: challenge answers" 1 "$(calog count --answers)"
    check_eq "$CASE: the CA verified the ppkp-01 signature" '"ok"' \
        "$(calog values signature_check | sort -u | tr '\n' ' ' | sed 's/ $//')"
}
expect_misissue_other_key() {
    check_exit 6 "a certificate for another key is refused by verification"
    check_err "$CASE: the error says the public key differs" "public.key|public_key"
    check_eq "$CASE: the certificate was downloaded (the refusal is the agent's)" 1 \
        "$(calog count --prefix /cert/)"
}
expect_chain_garbage() {
    check_exit 5 "a broken certificate chain is the CA's error"
    check_err "$CASE: the error says the chain holds no certificate" "certificate|chain|PEM"
}
expect_foreign_url() {
    case "$AGT_RC" in
    5 | 6) pass "$CASE: exit $AGT_RC: a challenge URL on another origin is not answered" ;;
    *) fail "$CASE: expected exit 5 or 6, got $AGT_RC" ;;
    esac
    check_eq "$CASE: requests that reached the CA as https://localhost:PORT" 0 \
        "$(calog values host | grep -c '"localhost')"
    check_no_answer "no JWS signed for another origin"
    check_err "$CASE: the error says why (the URL is not on the configured CA)" \
        "not on the configured CA|localhost"
}
expect_pending_error() {
    check_exit 5 "a challenge kept pending with an error fails the order"
    check_err "$CASE: the CA's detail is shown" "wrong one-time password, try again"
    check_err "$CASE: the error says the authorization is still pending" "still pending"
    check_eq "$CASE: challenge answers (one, not retried)" 1 "$(calog count --answers)"
    check_le "$CASE: authorization polls after the answer" 3 \
        "$(calog count --prefix /authz/ --post-as-get)"
}
expect_retry_after_huge() {
    check_exit 5 "an order processing forever ends in a timeout error"
    check_err "$CASE: the error says the order is still processing" "processing"
    check_err "$CASE: the error names the order URL" "$CA_URL_BASE/order/"
    local polls
    polls=$(($(calog count --prefix /order/ --post-as-get)))
    check_le "$CASE: order polls (Retry-After clamped, bounded)" 10 "$polls"
    check_ge "$CASE: the order was polled while processing" 1 "$polls"
    check_eq "$CASE: no certificate download" 0 "$(calog count --prefix /cert/)"
}
expect_no_preauth_reuse() {
    check_exit 0 "renewal when pre-authorizations are not reused"
    check_eq "$CASE: newAuthz requests" 1 "$(calog count --path /new-authz)"
    check_eq "$CASE: challenge answers (pre-authorization + the order's fresh one)" 2 \
        "$(calog count --answers)"
    calog answers >"$W/ca/$CASE.answers"
    sed 's/^/    | /' "$W/ca/$CASE.answers"
    check_eq "$CASE: distinct TOTP steps among the answers" 2 \
        "$(awk '$3 != "-" {print $3}' "$W/ca/$CASE.answers" | sort -u | wc -l)"
    check_eq "$CASE: distinct OTP values among the answers" 2 \
        "$(awk '{print $2}' "$W/ca/$CASE.answers" | sort -u | wc -l)"
    check_eq "$CASE: every answer accepted" '"ok"' \
        "$(calog values verdict | sort -u | tr '\n' ' ' | sed 's/ $//')"
}
flaky_case() {
    case "$AGT_RC" in
    0 | 5) pass "$CASE: exit $AGT_RC (success, or a CA error after bounded retries)" ;;
    *) fail "$CASE: expected exit 0 or 5, got $AGT_RC" ;;
    esac
    info "$CASE: $(calog count --flaked) request(s) answered 500, $(calog count) request(s) in all"
    # requests a client must not repeat after an unknown outcome
    local p n
    for p in /new-order /new-authz; do
        n=$(calog count --path "$p")
        check_le "$CASE: $p sent at most once (never repeated after a 500)" 1 "$n"
    done
    check_le "$CASE: challenge answers sent at most once" 1 "$(calog count --answers)"
    if [ "$AGT_RC" = 5 ]; then
        check_err "$CASE: the error names the HTTP status" "HTTP 500"
        check_err "$CASE: the error names the URL" "$CA_URL_BASE/"
        info "$CASE: gave up: $(grep 'error:' "$AGT_ERR" | head -1)"
    fi
}
expect_flaky_5xx() { flaky_case; }
expect_flaky_5xx_safe() {
    flaky_case
    if [ "$AGT_RC" != 0 ]; then
        info "$CASE: every failed request here was one the agent may repeat (GET, HEAD, POST-as-GET, newAccount, finalize); the agent did not recover"
    fi
}

# ---- one case ---------------------------------------------------------------

run_case() {
    CASE=$1
    local fn=expect_${1//-/_} old_serial="" old_pem=""
    declare -F "$fn" >/dev/null || fatal "no expectations for case $1"
    say ""
    say "== $CASE: $(python3 "$CA_PY" --list-cases | awk -v c="$CASE" '$1 == c {sub(/^[^ ]+ +/, ""); print}')"
    if [ -e "$CFG" ]; then
        h_serials
        old_serial=$SERIAL old_pem=$PEM_SERIAL
    fi
    HOTP_BEFORE=$(cat "$STATE/$ID.hotp" 2>/dev/null || echo absent)
    ca_start "$CASE"
    CA_URL_BASE=${CA_URL%/directory}
    h_config
    # (an order that stays processing is polled until the poll deadline:
    # 120 s by default, 10 s here through the test-only variable)
    if [ "$CASE" = retry-after-huge ]; then export CSAGENT_POLL_DEADLINE=10; fi
    hcsa "enroll-$CASE" enroll "$ID"
    unset CSAGENT_POLL_DEADLINE
    ca_stop
    cp "$CA_LOG" "$W/logs/ca-$CASE.jsonl" 2>/dev/null

    # -- every case: bounded, no crash, a defined exit code
    if [ "$AGT_RC" = 124 ] || [ "$AGT_RC" = 137 ]; then
        bug "$CASE-hang" "csagent enroll did not end within $LIMIT s (exit $AGT_RC)"
    elif [ "$AGT_RC" -ge 128 ]; then
        bug "$CASE-signal" "csagent enroll was killed by signal $((AGT_RC - 128))"
    fi
    case "$AGT_RC" in
    0 | 5 | 6) pass "$CASE: exit $AGT_RC is success, CA error or refusal (0, 5, 6)" ;;
    *) bug "$CASE-exit" "csagent enroll exited $AGT_RC (expected 0, 5 or 6): $(grep 'error:' "$AGT_ERR" | head -1)" ;;
    esac
    if grep -qE 'stopping the network process|Segmentation fault|Aborted|AddressSanitizer|runtime error:|core dumped|double free|Assertion' \
        "$AGT_OUT" "$AGT_ERR"; then
        bug "$CASE-crash" "a csagent process crashed: $(grep -hE 'network process|Segmentation|Aborted|Sanitizer|runtime error|Assertion' "$AGT_OUT" "$AGT_ERR" | head -2)"
    else
        pass "$CASE: no crash of the key holder or the network process"
    fi
    [ "$AGT_RC" != 0 ] && info "$CASE: $(grep 'error:' "$AGT_ERR" | head -1 | cut -c1-400)"
    # -- what the agent signed
    local n
    n=$(calog signed-contains -- "$HOSTILE_TEXT")
    if [ "$n" = 0 ]; then
        pass "$CASE: the CA's text appears in nothing the agent signed"
    else
        bug "$CASE-signed" "the CA's text '$HOSTILE_TEXT' is in $n JWS the agent signed"
    fi
    check_eq "$CASE: nonces used twice or never issued" 0 \
        "$(calog values note | grep -c nonce)"
    check_eq "$CASE: protected url differing from the request URL" 0 \
        "$(calog values note | grep -c 'protected url')"
    "$fn"

    # -- the certificate under the label
    h_serials
    if [ -z "$old_serial" ]; then
        check "$CASE: a certificate is enrolled (serial $SERIAL)" test -n "$SERIAL"
    elif [ "$AGT_RC" = 0 ]; then
        check_ne "$CASE: renewal swapped in a new certificate" "$old_serial" "$SERIAL"
    elif [ "$SERIAL" = "$old_serial" ] && [ "$PEM_SERIAL" = "$old_pem" ]; then
        pass "$CASE: the old certificate is kept (serial $SERIAL in status and $STATE/$ID.pem)"
    else
        bug "$CASE-oldcert" "the old certificate was not kept: serial $old_serial/$old_pem before, $SERIAL/$PEM_SERIAL after"
    fi
    h_token_clean "$CASE"
}

# ---- main -------------------------------------------------------------------

h_setup "$1"
shift
cases=${*:-$ALL_CASES}
case " $cases " in *" normal "*) ;; *) cases="normal $cases" ;; esac
cases="normal $(printf '%s\n' $cases | grep -vx normal | tr '\n' ' ')"
for c in $cases; do
    python3 "$CA_PY" --list-cases | awk '{print $1}' | grep -qx -- "$c" ||
        fatal "unknown case '$c' (hostile_ca.py --list-cases)"
done
say "cases: $cases"
for c in $cases; do
    run_case "$c"
    if [ "$c" = normal ] && [ "$AGT_RC" != 0 ]; then
        fatal "the well-behaved CA could not issue: nothing else can be judged"
    fi
done
say ""
agt_finish
