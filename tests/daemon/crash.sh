#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# 2. Crash safety of a renewal (invariant 3, DESIGN.md swap-in protocol).
#  a) For each journal step keygen, stored, promoted, retired:
#     CSAGENT_CRASH_AT=<step> csagent enroll  -> aborts; at that moment a
#     signer using only the URI still signs with a valid certificate and its
#     key; then `csagent run --once` recovers: exactly one key and one
#     certificate under the label, no .next/.retired, no journal, the
#     certificate's key is the token key, the state file's leaf is the
#     token's certificate; then a renewal completes.
#  b) The same crash inside the daemon: `csagent run` with
#     CSAGENT_CRASH_AT=stored, SIGUSR1 -> SIGABRT; a restarted daemon
#     finishes the swap.
#  c) kill -9 of `csagent run` at random moments of forced (SIGUSR1)
#     renewals, repeated; the label signs after every kill; after the last
#     restart the token is clean and holds no orphan keys.
#  d) kill -9 of `csagent run` the moment the journal names each step
#     (a watcher polls the journal), then a restart recovers.
#
#   crash.sh WORKDIR                        all parts; ORPHAN-KEY-AFTER-KILL
#                                           is reported as KNOWN BUG
#   crash.sh WORKDIR orphan-key-after-kill  part c only, 40 kills early in
#                                           the renewal; FAILS on it
# BUG orphan-key-after-kill: a kill -9 inside C_GenerateKeyPair (journal
#   step keygen) can leave a private key with no label, no CKA_ID and no
#   curve (`csagent list`: private-key label="" id=- type=EC): SoftHSM
#   writes the new object file before its attributes, and recovery only
#   destroys objects labelled <label>.next, so the orphan stays for good
#   (invariant 3: "no orphan keys are left behind").  Seen in 2 of 3 runs.
. "$(dirname "$0")/lib.sh"
MODE=${2:-all}
KILLS=${DAEMON_KILLS:-10} KILL_MS=300
case $MODE in
all) ;;
orphan-key-after-kill) D_STRICT=ORPHAN-KEY-AFTER-KILL KILLS=40 KILL_MS=80 ;;
*) fatal "unknown mode $MODE" ;;
esac
d_setup "$1" dcrash example.com
csca_start --validity 1h --always-valid
CFG=$W/agent.ini
ID=cr LABEL=crash-sig
d_config "$CFG" retry_base=2s retry_max=10s < <(identity $ID $LABEL example.com)
csa register account register
check_rc "account register" 0
csa enroll-first enroll $ID
check_rc "first enrollment" 0

leaf_serial() { "$OPENSSL_BIN" x509 -in "$1" -noout -serial 2>/dev/null | cut -d= -f2; }
tok_serial() { token_cert $LABEL "$W/cur.pem" && leaf_serial "$W/cur.pem"; }

# At the moment of a crash: what does pkcs11:object=<label> give a signer?
check_at_crash() { # WHEN
    local nk nc
    local signed=0
    tok_list || return
    nk=$(count private-key $LABEL) nc=$(count certificate $LABEL)
    check_ge "$1: private keys labelled '$LABEL'" 1 "$nk"
    check_ge "$1: certificates labelled '$LABEL'" 1 "$nc"
    sign_by_uri $LABEL "$1" && signed=1
    if [ "$nk" -gt 1 ] || [ "$nc" -gt 1 ]; then
        # DESIGN.md swap-in step 4: both pairs carry the label until the
        # next start (tests/agent promoted_both_valid checks their pairing
        # by CKA_ID); a signer looking key and certificate up separately
        # by label may pair them crosswise meanwhile.
        info "$1: $nk private keys and $nc certificates carry '$LABEL' until the next start; URI signer: $([ $signed = 1 ] && echo "ok this time (cert $SIGN_SERIAL)" || echo "$SIGN_WHY")"
    elif [ $signed = 1 ]; then
        pass "$1: a signer using $(uri_of $LABEL private) signs and verifies (cert $SIGN_SERIAL, valid)"
    else
        bug URI-BROKEN-AT-CRASH "$1: $SIGN_WHY"
    fi
}

check_state_pem() { # WHEN
    local f s t
    f=$(leaf_serial "$STATE/$ID.pem") t=$(tok_serial)
    if [ -n "$f" ] && [ "$f" = "$t" ]; then
        pass "$1: $STATE/$ID.pem leaf is the token's certificate ($t)"
    else
        bug STATE-PEM-STALE "$1: $STATE/$ID.pem leaf is $f but the token's certificate '$LABEL' is $t"
    fi
}

if [ "$MODE" = all ]; then
say "== a) CSAGENT_CRASH_AT=<step> csagent enroll, then csagent run --once"
for step in keygen stored promoted retired; do
    before=$(tok_serial)
    CSAGENT_CRASH_AT=$step csa crash-$step enroll $ID
    if [ "$RC" != 0 ] && grep -q "CSAGENT_CRASH_AT=$step: aborting on purpose" "$ERR"; then
        pass "$step: renewal aborted right after journal step $step (exit $RC)"
    else
        fail "$step: expected an abort at $step, got exit $RC: $(tail -1 "$ERR")"
    fi
    check "$step: the journal $STATE/$ID.journal is left behind" test -e "$STATE/$ID.journal"
    check_at_crash "crash at $step"
    csa recover-$step run --once
    check_rc "$step: csagent run --once after the crash" 0
    if [ $step = keygen ]; then
        check "$step: recovery rolled back" grep -q "rolling back a renewal interrupted" "$ERR"
    else
        check "$step: recovery rolled forward" grep -q "finishing a swap interrupted at step $step" "$ERR"
    fi
    check_clean_pair $ID $LABEL "after recovery from $step"
    after=$(tok_serial)
    if [ $step = keygen ]; then
        check_eq "$step: the old certificate stays in place" "$before" "$after"
    else
        check_ne "$step: the interrupted renewal's certificate is in place" "$before" "$after"
    fi
    check_state_pem "after recovery from $step"
    csa renew-after-$step enroll $ID
    check_rc "$step: a renewal after recovery" 0
    check_ne "$step: the renewal changed the serial" "$after" "$(tok_serial)"
    check_clean_pair $ID $LABEL "after the renewal following $step"
done

say "== b) CSAGENT_CRASH_AT=stored inside csagent run (SIGUSR1)"
LOG=$W/daemon-b.log
before=$(tok_serial)
daemon_start "$LOG" CSAGENT_CRASH_AT=stored
wait_log "$LOG" "next action" 1 15 || fail "daemon did not schedule: $(tail -3 "$LOG")"
kill -USR1 $DPID
daemon_wait 30
check_eq "csagent run aborts (SIGABRT) at step stored: exit status" 134 "$DRC"
check_at_crash "daemon crash at stored"
daemon_start "$LOG"
wait_log "$LOG" "finishing a swap interrupted at step stored" 1 15 &&
    pass "the restarted daemon finishes the swap" ||
    fail "the restarted daemon did not finish the swap: $(tail -3 "$LOG")"
wait_log "$LOG" "next action" 2 15 || fail "restarted daemon did not schedule"
daemon_stop
check_eq "daemon stops on SIGTERM: exit status" 0 "$DRC"
check_clean_pair $ID $LABEL "after the daemon's recovery"
check_ne "the crashed renewal's certificate is in place" "$before" "$(tok_serial)"
fi

say "== c) kill -9 of csagent run during forced renewals, $KILLS times"
LOG=$W/daemon-c.log
: >"$LOG"
declare -A seen
ok_sign=0 both=0
# Killed inside the relabels: more than one key or certificate carries the
# label (the journal still says "stored").
in_relabel_window() {
    tok_list || return 1
    [ "$(count private-key $LABEL)" -gt 1 ] || [ "$(count certificate $LABEL)" -gt 1 ]
}
for i in $(seq 1 "$KILLS"); do
    n=$(count_log "$LOG" "next action")
    daemon_start "$LOG"
    wait_log "$LOG" "next action" $((n + 1)) 20 || { fail "kill $i: daemon did not start: $(tail -3 "$LOG")"; break; }
    kill -USR1 $DPID
    # A forced renewal takes ~0.1-0.5 s: kill somewhere in the first
    # KILL_MS ms (the key is generated some 40-100 ms in).
    delay=$(printf '0.%03d' $(( (RANDOM * 7 + i * 97) % KILL_MS )))
    sleep "$delay"
    kill -9 $DPID; daemon_wait 10
    j=$(jq -r .step "$STATE/$ID.journal" 2>/dev/null || echo none)
    seen[$j]=1
    if sign_by_uri $LABEL "kill-$i"; then
        ok_sign=$((ok_sign + 1))
        info "kill -9 #$i after ${delay}s (journal: $j): URI signature ok, cert $SIGN_SERIAL"
    elif [ "$j" = promoted ] || { [ "$j" = stored ] && in_relabel_window; }; then
        # DESIGN.md swap-in step 4: both pairs carry the label until the
        # next start (journal "promoted", or "stored" with the kill inside
        # the relabels); a signer that looks key and certificate up by label
        # separately may pair them crosswise.  Recovery is checked below.
        both=$((both + 1))
        info "kill -9 #$i after ${delay}s inside swap-in step 4 (journal: $j; two pairs until restart): $SIGN_WHY"
    else
        bug URI-BROKEN-AFTER-KILL "kill -9 #$i after ${delay}s (journal: $j): $SIGN_WHY"
    fi
done
info "journal steps found after the kills: ${!seen[*]}"
check_eq "URI signatures right after each kill -9 (except at promoted)" "$KILLS" "$((ok_sign + both))"
n=$(count_log "$LOG" "next action")
daemon_start "$LOG"
wait_log "$LOG" "next action" $((n + 1)) 20 || fail "final daemon did not start"
kill -USR1 $DPID
n=$(count_log "$LOG" "swapped in")
wait_log "$LOG" "swapped in" $((n + 1)) 20 &&
    pass "a renewal completes after the kills" || fail "no renewal after the kills: $(tail -3 "$LOG")"
daemon_stop
check_clean_pair $ID $LABEL "after $KILLS kill -9 and a restart"
# Invariant 3: "no orphan keys are left behind".  Seen once (1 run in 3):
# a private key with no label, no CKA_ID and no curve, left by a kill -9
# inside C_GenerateKeyPair (SoftHSM writes a new object file before its
# attributes); recovery only destroys objects labelled <label>.next.
if tok_list; then
    nk=$(grep -c '^private-key' "$W/list.txt")
    if [ "$nk" = 2 ]; then
        pass "private keys on the token: 2 (account + $LABEL, no orphans)"
    else
        defect ORPHAN-KEY-AFTER-KILL "$nk private keys on the token after the kills, expected 2: $(grep '^private-key' "$W/list.txt" | tr -s ' ' | tr '\n' ';')"
    fi
fi
check_state_pem "after the kills"
say "== d) kill -9 of csagent run the moment the journal reaches a step"
# A watcher polls the journal and sends SIGKILL as soon as it names the
# step: a real kill -9 inside the swap (not abort() at a crash point).
cat >"$W/killat.py" <<'PY'
import os, signal, sys, time
pid, path, step, limit = int(sys.argv[1]), sys.argv[2], sys.argv[3], time.time() + float(sys.argv[4])
want = '"step":"%s"' % step
while time.time() < limit:
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        continue
    if want in text.replace(" ", "").replace("\n", ""):
        os.kill(pid, signal.SIGKILL)
        sys.exit(0)
sys.exit(1)
PY
if [ "$MODE" != all ]; then
    :
elif ! command -v python3 >/dev/null; then
    info "python3 missing: part d skipped"
else
    LOG=$W/daemon-d.log
    for step in keygen stored promoted retired; do
        # The watcher polls; a step that lasts less than a poll is missed:
        # then the renewal completes, the daemon is stopped and we retry.
        killed=0
        for try in 1 2 3 4 5; do
            n=$(count_log "$LOG" "next action")
            daemon_start "$LOG"
            wait_log "$LOG" "next action" $((n + 1)) 20 || { fail "d/$step: daemon did not start"; break; }
            python3 "$W/killat.py" $DPID "$STATE/$ID.journal" $step 5 &
            wpid=$!
            sleep 0.2
            kill -USR1 $DPID
            wait $wpid; wrc=$?
            if [ $wrc != 0 ]; then
                info "d/$step: try $try: the watcher missed step $step; stopping the daemon"
                daemon_stop
                continue
            fi
            daemon_wait 10
            killed=1
            break
        done
        [ $killed = 1 ] || { fail "d/$step: could not kill the daemon at step $step in 5 tries"; continue; }
        j=$(jq -r .step "$STATE/$ID.journal" 2>/dev/null || echo none)
        if [ $DRC = 137 ]; then
            pass "d/$step: csagent run killed by SIGKILL when the journal said $step (journal now: $j)"
        else
            fail "d/$step: daemon exit status $DRC, expected 137 (journal: $j)"
        fi
        check_at_crash "d/kill -9 at $step"
        n=$(count_log "$LOG" "next action")
        daemon_start "$LOG"
        wait_log "$LOG" "next action" $((n + 1)) 20 || fail "d/$step: restarted daemon did not start"
        daemon_stop
        check_clean_pair $ID $LABEL "d/after kill -9 at $step and a restart"
    done
    check_state_pem "after part d"
fi
check_no_pin "$W"/daemon-*.log "$W"/logs/*
d_finish
