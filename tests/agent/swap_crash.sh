#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Crash safety of the swap-in (invariant 3).  After a good enrollment, each
# renewal is aborted right after a journalled step (CSAGENT_CRASH_AT=keygen,
# storing, stored, aside, promoted), and once with a real kill -9 of the agent
# from its own challenge hook.  Right after the crash the label must resolve
# to exactly one key and its certificate (the kills inside the step that
# changes the label are tests/agent/swap_torn_relabel.sh); after the next
# ordinary start (account show) exactly one key and one certificate carry
# the label, nothing is left under .next/.retired, the certificate's key is
# the token key, the journal is gone and the state PEM is the token's cert.
#   swap_crash.sh WORKDIR
. "$(dirname "$0")/lib.sh"
# Authorizations are never reused, so the hook runs on every renewal.
export PEBBLE_AUTHZREUSE=0
agt_enrolled "$1" agt-swap swap.build.example.com
[ "$AGT_RC" = 0 ] || agt_finish

# The leaf of the state directory's PEM equals the token's certificate.
check_state_pem() {
    token_cert "$LABEL" "$W/tok-now.pem" || { fail "read token cert"; return; }
    if cmp -s <("$OPENSSL_BIN" x509 -in "$W/tok-now.pem" -outform DER) \
        <("$OPENSSL_BIN" x509 -in "$STATE/$ID.pem" -outform DER 2>/dev/null); then
        pass "$1: $STATE/$ID.pem holds the token's current certificate"
    else
        fail "STATE-PEM-STALE (regression, fixed in d118c43) $1: $STATE/$ID.pem is not the token's current certificate (serial $("$OPENSSL_BIN" x509 -in "$STATE/$ID.pem" -noout -serial 2>/dev/null) vs token $("$OPENSSL_BIN" x509 -in "$W/tok-now.pem" -noout -serial)): a signer using it with object=$LABEL signs with a key that does not match"
    fi
}

# What a signing tool does at this instant: key and certificate both by
# object=LABEL through pkcs11-provider; the signature must verify.
check_signer() {
    local uri="pkcs11:${CSA_TOKEN_URI#pkcs11:};object=$LABEL"
    echo "artefact" >"$W/art"
    if token_cert "$LABEL" "$W/signer.pem" &&
        token_cert "$LABEL.chain" "$W/signer-chain.pem" &&
        p11ssl cms -sign -binary -in "$W/art" -signer "$W/signer.pem" \
            -inkey "$uri;type=private" -certfile "$W/signer-chain.pem" \
            -outform DER -out "$W/art.p7s" >"$W/signer.log" 2>&1 &&
        "$OPENSSL_BIN" cms -verify -binary -inform DER -in "$W/art.p7s" \
            -content "$W/art" -CAfile "$PEBBLE_ROOTS" \
            -purpose any -out /dev/null >>"$W/signer.log" 2>&1; then
        ${2:-pass} "$1: cms -sign with object=$LABEL (key and cert by URI) verifies"
    else
        ${3:-fail} "$1: a signer using object=$LABEL gets no verifying signature: $(tail -3 "$W/signer.log" | tr '\n' ' ')"
    fi
}

pub_now() {
    "$CSAGENT" -c "$CFG" pubkey --label "$LABEL" --pem 2>/dev/null </dev/null | md5sum | cut -c1-12
}

for step in keygen storing stored aside promoted; do
    say "== crash at step '$step'"
    status_serial "$CFG" "$ID"; before=$SERIAL
    pub_before=$(pub_now)
    CSAGENT_CRASH_AT=$step csa "crash-$step" "$CFG" -v enroll "$ID"
    check_rc_nonzero "renewal with CSAGENT_CRASH_AT=$step aborts"
    check_out "the abort names the step" "CSAGENT_CRASH_AT=$step: aborting on purpose"
    check "journal $STATE/$ID.journal left behind" test -s "$STATE/$ID.journal"
    check "journal records step '$step'" grep -q "\"step\": *\"$step\"" "$STATE/$ID.journal"

    # The instant after the crash (list and status never recover): the
    # label resolves to one key and its certificate, old or new.
    csa_list || fail "list after the crash"
    nk=$(count private-key "$LABEL") nc=$(count certificate "$LABEL")
    check_eq "after crash at $step: exactly one private key labelled '$LABEL'" 1 "$nk"
    check_eq "after crash at $step: exactly one certificate labelled '$LABEL'" 1 "$nc"
    check_pairs "after crash at $step" "$LABEL"
    check_key_matches_cert "$LABEL"
    check_signer "after crash at $step"
    status_serial "$CFG" "$ID"; s=$SERIAL
    check_rc "csagent status right after the crash" 0
    check "status shows a serial right after the crash ($s)" test -n "$s" -a "$s" != "-"
    check "journal still there (status does not touch it)" test -s "$STATE/$ID.journal"

    # Recovery by an ordinary start.
    csa "recover-$step" "$CFG" account show
    check_rc "account show recovers after a crash at $step" 0
    check_out "account show prints the account" "^account: https://"
    case $step in
    keygen | storing) check_out "recovery says it rolled back" "rolling back a renewal" ;;
    *) check_out "recovery says it finished the swap" "finishing a swap interrupted at step $step" ;;
    esac
    check_clean_pair "$ID" "$LABEL" "$CFG"
    status_serial "$CFG" "$ID"; after=$SERIAL
    pub_after=$(pub_now)
    case $step in
    keygen | storing)
        check_eq "rolled back: serial unchanged" "$before" "$after"
        check_eq "rolled back: same key" "$pub_before" "$pub_after" ;;
    *)
        check_ne "rolled forward: the renewed certificate is in place" "$before" "$after"
        check_ne "rolled forward: the new key is in place" "$pub_before" "$pub_after" ;;
    esac
    check_state_pem "after crash at $step and recovery"
done

# A real kill -9: the challenge hook kills the agent (the key holder, the
# parent of the network process whose hook runner started the hook) on
# "begin", i.e. after the next key was generated and before any order
# completes.
say "== kill -9 of the agent from its http-01 hook"
KILLHOOK=$W/hook-kill.sh
cat >"$KILLHOOK" <<'EOF'
#!/bin/sh
[ "$CSAGENT_HOOK_METHOD" = begin ] && [ -n "${KILL_MARK:-}" ] && {
    net=$(awk '/^PPid:/ { print $2 }' "/proc/$PPID/status")
    victim=$(awk '/^PPid:/ { print $2 }' "/proc/$net/status")
    case $KILL_MARK in *.net) victim=$net ;; esac
    echo "$victim" >"$KILL_MARK"
    kill -9 "$victim"
    sleep 1
}
exit 0
EOF
chmod 755 "$KILLHOOK"
CFGK=$W/agent-kill.ini
# A name never ordered before: no valid authorization can be reused, so the
# hook always runs.
agt_config "$CFGK" < <(identity "$ID" "$LABEL" p256 kill.build.example.com test-tls "$KILLHOOK")
CFG_SAVED=$CFG CFG=$CFGK
status_serial "$CFGK" "$ID"; before=$SERIAL
pub_before=$(pub_now)
KILL_MARK=$W/killed.pid csa kill9 "$CFGK" -v enroll "$ID"
check_eq "the agent died of SIGKILL (exit 128+9)" 137 "$AGT_RC"
check "the hook ran and killed its parent" test -s "$W/killed.pid"
check "journal left behind by the kill" test -s "$STATE/$ID.journal"
csa_list || fail "list after kill -9"
check_eq "after kill -9: one private key labelled '$LABEL'" 1 "$(count private-key "$LABEL")"
check_eq "after kill -9: one certificate labelled '$LABEL'" 1 "$(count certificate "$LABEL")"
check_eq "after kill -9: the pending key exists under '$LABEL.next'" 1 "$(count private-key "$LABEL.next")"
check_key_matches_cert "$LABEL"
csa "recover-kill" "$CFGK" account show
check_rc "account show after kill -9" 0
check_out "recovery says it rolled back" "rolling back a renewal"
check_clean_pair "$ID" "$LABEL" "$CFGK"
status_serial "$CFGK" "$ID"
check_eq "after kill -9 and recovery: serial unchanged" "$before" "$SERIAL"
check_eq "after kill -9 and recovery: same key" "$pub_before" "$(pub_now)"
# kill -9 of the network process alone: the key holder sees the
# conversation end, rolls the renewal back at once and keeps the old pair.
KILL_MARK=$W/killed.net csa kill9-net "$CFGK" enroll "$ID"
check_rc_nonzero "a renewal whose network process was killed fails"
check "the hook killed the network process" test -s "$W/killed.net"
check_out "the holder names the network process" "network process"
check "no journal left: rolled back by the holder itself" test ! -e "$STATE/$ID.journal"
check_clean_pair "$ID" "$LABEL" "$CFGK"
status_serial "$CFGK" "$ID"
check_eq "after the network process was killed: serial unchanged" "$before" "$SERIAL"
check_eq "after the network process was killed: same key" "$pub_before" "$(pub_now)"
# and the identity still renews normally afterwards
csa "enroll-after-kill" "$CFG_SAVED" enroll "$ID"
check_rc "renewal after the kill -9 recovery" 0
check_clean_pair "$ID" "$LABEL" "$CFG_SAVED"
check_state_pem "after the final renewal"

# rotate = no: the renewal keeps the key; crash where old and new
# certificates share the key's CKA_ID.
say "== rotate = no (the key is kept), crash at stored, aside and promoted"
CFGR=$W/agent-keep.ini
agt_config "$CFGR" < <(identity "$ID" "$LABEL" p256 swap.build.example.com; echo "rotate = no")
CFG=$CFGR
pub_keep=$(pub_now)
for step in stored aside promoted; do
    status_serial "$CFGR" "$ID"; before=$SERIAL
    CSAGENT_CRASH_AT=$step csa "keep-crash-$step" "$CFGR" enroll "$ID"
    check_rc_nonzero "rotate=no renewal with CSAGENT_CRASH_AT=$step aborts"
    csa_list || fail "list"
    check_eq "rotate=no, crash at $step: one private key labelled '$LABEL'" 1 "$(count private-key "$LABEL")"
    check_eq "rotate=no, crash at $step: one certificate labelled '$LABEL'" 1 "$(count certificate "$LABEL")"
    check_pairs "rotate=no, crash at $step" "$LABEL"
    csa "keep-recover-$step" "$CFGR" account show
    check_rc "account show recovers (rotate=no, $step)" 0
    check_clean_pair "$ID" "$LABEL" "$CFGR"
    check_eq "rotate=no: the key is unchanged" "$pub_keep" "$(pub_now)"
    status_serial "$CFGR" "$ID"
    check_ne "rotate=no: the renewed certificate is in place" "$before" "$SERIAL"
done

# A first enrollment that crashes after its certificate was stored is
# completed by the next start.
say "== first enrollment of a new identity, crash at stored"
CFGF=$W/agent-first.ini
agt_config "$CFGF" < <(identity "$ID" "$LABEL" p256 swap.build.example.com
                       identity first first-key p384 first.build.example.com)
CSAGENT_CRASH_AT=stored csa first-crash "$CFGF" enroll first
check_rc_nonzero "first enrollment with CSAGENT_CRASH_AT=stored aborts"
csa first-recover "$CFGF" account show
check_rc "account show completes the first enrollment" 0
CFG=$CFGF
check_clean_pair first first-key "$CFGF"
if [ -s "$STATE/first.pem" ]; then
    pass "state PEM $STATE/first.pem written by the recovery"
else
    fail "STATE-PEM-STALE (regression) the recovered first enrollment has no $STATE/first.pem (the token holds the certificate)"
fi
agt_finish
