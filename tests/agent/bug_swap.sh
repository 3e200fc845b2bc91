#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Agent bugs found by swap_crash.sh, one ctest test each, so that a fix
# turns exactly one test green.  These FAIL until the agent is fixed.
#
#   bug_swap.sh WORKDIR state-pem-stale      (fixed in d118c43; now a
#                                             regression test)
#     After a crash at "stored" (or "promoted"), the next start rolls the
#     swap forward in the token but leaves STATE_DIR/<identity>.pem with the
#     OLD chain: the PEM is only written at the end of an uninterrupted
#     commit (agent/agt_swap.c agt_swap_commit -> agt_write_pem; recovery,
#     agt_swap_forward, never rewrites it, nor "<label>.chain").  A signer
#     that takes -signer from the state file and -inkey object=<label> then
#     signs with the new key under the old certificate.
#
#   bug_swap.sh WORKDIR one-pair-at-every-step
#     A crash after "stored", "aside" or "promoted" leaves exactly one key
#     and its certificate under the label (older versions left both pairs
#     there after "promoted" until the next start), and recovery one pair.
. "$(dirname "$0")/lib.sh"
mode=$2
agt_enrolled "$1" agt-bug bug.build.example.com
case $mode in
state-pem-stale)
    CSAGENT_CRASH_AT=stored csa crash-stored "$CFG" enroll "$ID"
    check_rc_nonzero "renewal with CSAGENT_CRASH_AT=stored aborts"
    csa recover "$CFG" account show
    check_rc "account show finishes the swap" 0
    check_out "recovery rolled forward" "finishing a swap interrupted at step stored"
    token_cert "$LABEL" "$W/tok.pem" || fail "read the token certificate"
    tok_serial=$("$OPENSSL_BIN" x509 -in "$W/tok.pem" -noout -serial)
    file_serial=$("$OPENSSL_BIN" x509 -in "$STATE/$ID.pem" -noout -serial)
    if [ "$tok_serial" = "$file_serial" ]; then
        pass "$STATE/$ID.pem leaf is the token's certificate ($tok_serial)"
    else
        bug STATE-PEM-STALE "$STATE/$ID.pem leaf $file_serial, token certificate '$LABEL' $tok_serial"
    fi
    # What a signer using the state file suffers:
    uri="pkcs11:${CSA_TOKEN_URI#pkcs11:};object=$LABEL;type=private"
    echo artefact >"$W/art"
    if p11ssl cms -sign -binary -in "$W/art" -signer "$STATE/$ID.pem" \
        -inkey "$uri" -outform DER -out "$W/art.p7s" >"$W/sign.log" 2>&1; then
        pass "cms -sign -signer $STATE/$ID.pem -inkey $uri works"
    else
        fail "cms -sign -signer $STATE/$ID.pem -inkey $uri: $(grep -m1 -o 'private key does not match certificate\|key values mismatch' "$W/sign.log" || tail -1 "$W/sign.log")"
    fi
    ;;
one-pair-at-every-step)
    # Invariant 3 (the never-mixed swap; it replaced DESIGN.md's older step
    # 4, where both pairs carried the label between "promoted" and
    # "retired"): a crash right after each journalled step leaves exactly
    # one key and one certificate under the label, and a URI with the
    # key's id= resolves exactly that key.
    for step in stored aside promoted; do
        CSAGENT_CRASH_AT=$step csa "crash-$step" "$CFG" enroll "$ID"
        check_rc_nonzero "renewal with CSAGENT_CRASH_AT=$step aborts"
        csa_list || fail "list"
        check_eq "$step: one private key carries '$LABEL'" 1 "$(count private-key "$LABEL")"
        check_eq "$step: one certificate carries '$LABEL'" 1 "$(count certificate "$LABEL")"
        check_pairs "right after the crash at $step" "$LABEL"
        for id in $(ids_of private-key "$LABEL"); do
            uri="pkcs11:object=$LABEL;id=$(printf '%s' "$id" | sed 's/../%&/g')"
            "$CSAGENT" -c "$CFG" pubkey --label "$uri" --pem >"$W/logs/pub-$id.pem" \
                2>"$W/logs/pub-$id.err" </dev/null
            check_eq "$uri resolves exactly one key" 0 "$?"
        done
        csa "recover-$step" "$CFG" account show
        check_rc "the next start finishes the swap" 0
        check_clean_pair "$ID" "$LABEL" "$CFG"
    done
    ;;
*) fatal "unknown mode '$mode'" ;;
esac
agt_finish
