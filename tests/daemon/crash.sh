#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# 2. Crash safety of a renewal (invariant 3, agent/agt_swap.h).  Every
# crash lands at a named point: nothing here waits and hopes to be in time.
#  a) CSAGENT_CRASH_AT=<step> csagent enroll for each journal step
#     (keygen storing stored aside promoted) -> abort; at that instant the
#     label resolves to exactly one pair that signs by URI (none of these
#     points is inside the gap of step aside); then `csagent run --once`
#     recovers (rolls back before "stored", forward from it): one clean
#     pair, nothing under .next, no journal, the state PEM is the token's.
#  b) The same crash inside the daemon: `csagent run` with
#     CSAGENT_CRASH_AT=stored, SIGUSR1 -> SIGABRT; a restarted daemon
#     finishes the swap.
#  c) Deterministic kill -9 inside `csagent run`: the calls that change the
#     token during one forced renewal (SIGUSR1) are counted first
#     (P11SHIM_COUNT_FILE); then one forced renewal per kill point, killed
#     by p11shim right after the n-th call of that function
#     (P11SHIM_KILL_AFTER).  Right after each kill the label resolves to
#     one matching pair, or (only when the journal says "aside", with a
#     rotated key) to no complete pair; never two keys, two certificates of
#     different keys, or a key with another key's certificate (csagent
#     list, CKA_IDs compared; a signer by URI must sign and verify whenever
#     a pair is there; "key values mismatch" is always a failure).  A
#     restarted daemon recovers to one clean pair.  Rotated key, then
#     rotate = no (where two certificates of the one key may carry the
#     label inside "aside").  At the end: no object with no label and no id
#     (`csagent orphans`), nothing under .next, and a renewal completes.
#  d) `csagent run` killed with SIGKILL by CSAGENT_CRASH_AT=<step>:kill at
#     each step (exit status 137); the label still resolves to one pair;
#     a restarted daemon recovers.
#
#   crash.sh WORKDIR [PARTS]    PARTS: letters of the parts to run
#                               (default abcd), e.g. "c"
# Environment: P11SHIM = path of tests/p11shim's p11shim.so (part c);
# DAEMON_CRASH_MAX_KILLS caps the kill points of one series (default 40: if
# a renewal makes more token-changing calls, every call of the functions
# that act inside step aside is kept and a spread of the others).
. "$(dirname "$0")/lib.sh"
PARTS=${2:-abcd}
case $PARTS in
*[!abcd]* | "") fatal "unknown parts '$PARTS' (letters of abcd)" ;;
esac
want() { case $PARTS in *$1*) return 0 ;; esac; return 1; }
MAX_KILLS=${DAEMON_CRASH_MAX_KILLS:-40}
if want c; then
    [ -f "${P11SHIM:-}" ] || skip "p11shim.so not built (P11SHIM=${P11SHIM:-unset})"
fi
ulimit -c 0 # the aborts on purpose leave no core files behind
d_setup "$1" dcrash example.com
csca_start --validity 1h --always-valid
CFG=$W/agent.ini
ID=cr LABEL=crash-sig
d_config "$CFG" retry_base=2s retry_max=10s < <(identity $ID $LABEL example.com)
CFG_ROT=$CFG
CFG_KEEP=$W/agent-keep.ini
d_config "$CFG_KEEP" retry_base=2s retry_max=10s < <(identity $ID $LABEL example.com; echo "rotate = no")
csa register account register
check_rc "account register" 0
csa enroll-first enroll $ID
check_rc "first enrollment" 0
[ "$RC" = 0 ] || d_finish
STEPS="keygen storing stored aside promoted"

leaf_serial() { "$OPENSSL_BIN" x509 -in "$1" -noout -serial 2>/dev/null | cut -d= -f2; }
tok_serial() { token_cert $LABEL "$W/cur.pem" && leaf_serial "$W/cur.pem"; }
journal_step() { jq -r .step "$STATE/$ID.journal" 2>/dev/null || echo none; }
words() { echo $#; }

# check_instant WHEN STEP ROTATE: what pkcs11:object=<label> gives right
# after a crash or kill, the journal saying STEP ("none": no journal),
# ROTATE yes|no.  The label resolves to one matching pair (it must sign and
# verify by URI), or, only inside step aside with a rotated key, to no
# complete pair (a signer then finds no certificate or no key: never a
# mismatch).  Sets INSTANT to pair|gap.
check_instant() {
    local when=$1 step=$2 rot=$3 kid pid cid certids bad="" complete=0 kp cp
    INSTANT=""
    tok_list || { fail "$when: list the token"; return; }
    kid=$(ids_of private-key "$LABEL" | xargs) pid=$(ids_of public-key "$LABEL" | xargs)
    cid=$(ids_of certificate "$LABEL" | xargs)
    certids=$(printf '%s\n' $cid | sort -u | xargs)
    [ "$(words $kid)" -le 1 ] || bad="$bad; two private keys ($kid)"
    [ "$(words $pid)" -le 1 ] || bad="$bad; two public keys ($pid)"
    [ "$(words $certids)" -le 1 ] || bad="$bad; certificates of different keys ($cid)"
    if [ "$(words $cid)" -gt 1 ] && [ "$(words $certids)" = 1 ] &&
        ! { [ "$rot" = no ] && [ "$step" = aside ]; }; then
        bad="$bad; two certificates of one key outside step aside of a kept-key renewal ($cid)"
    fi
    if [ -n "$kid" ] && [ -n "$cid" ] && [ "$(words $kid)" = 1 ]; then
        if [ "$certids" = "$kid" ]; then
            complete=1
        else
            bad="$bad; the key (id $kid) has another key's certificate (id $cid)"
        fi
    fi
    if [ -n "$kid" ] && [ -n "$pid" ] && [ "$kid" != "$pid" ]; then
        bad="$bad; the public key (id $pid) is not the private key's (id $kid)"
    fi
    if [ $complete = 0 ] && [ -z "$bad" ]; then
        if [ "$step" != aside ] || [ "$rot" != yes ]; then
            bad="$bad; no complete pair (keys: ${kid:-none}, certificates: ${cid:-none}) although the journal says '$step'${rot:+ (rotate $rot)}: only step aside of a rotated key may have none"
        fi
    fi
    if sign_by_uri $LABEL "$when"; then
        if [ $complete = 1 ]; then
            pass "$when (journal: $step): one pair under '$LABEL' (key id $kid, $(words $cid) certificate(s) of it), a signer by URI signs and verifies (cert $SIGN_SERIAL)"
        elif [ -z "$bad" ]; then
            bad="; a signer by URI signed with no complete pair under the label (cert $SIGN_SERIAL)"
        fi
    elif [ $complete = 1 ]; then
        bad="$bad; a signer by URI fails on a complete pair [$SIGN_KIND]: $SIGN_WHY"
    elif [ "$SIGN_KIND" = nocert ] || [ "$SIGN_KIND" = nokey ]; then
        [ -n "$bad" ] ||
            pass "$when (journal: $step): inside the gap of step aside: keys ${kid:-none} / ${pid:-none}, no complete pair; a signer by URI finds nothing to pair ($SIGN_KIND)"
    else
        bad="$bad; a signer by URI failed [$SIGN_KIND] on an incomplete pair: $SIGN_WHY"
    fi
    if [ $complete = 1 ]; then
        "$CSAGENT" -c "$CFG" pubkey --label "$LABEL" --pem >"$W/pub-key.pem" \
            2>"$W/pub-key.err" </dev/null
        "$OPENSSL_BIN" x509 -in "$W/sign/signer.pem" -noout -pubkey >"$W/pub-cert.pem" 2>/dev/null
        kp=$(cat "$W/pub-key.pem") cp=$(cat "$W/pub-cert.pem")
        [ -n "$kp" ] && [ "$kp" = "$cp" ] ||
            bad="$bad; csagent pubkey --label $LABEL differs from the key of the certificate under the label ($(tail -1 "$W/pub-key.err"))"
    fi
    if [ -n "$bad" ]; then
        bug MIXED-PAIR "$when (journal: $step):${bad#;} [token: $(grep -E "label=\"$LABEL\"" "$W/list.txt" | tr -s ' ' | tr '\n' ';')]"
    fi
    INSTANT=$([ $complete = 1 ] && echo pair || echo gap)
}

check_state_pem() { # WHEN
    local f t
    f=$(leaf_serial "$STATE/$ID.pem") t=$(tok_serial)
    if [ -n "$f" ] && [ "$f" = "$t" ]; then
        pass "$1: $STATE/$ID.pem leaf is the token's certificate ($t)"
    else
        bug STATE-PEM-STALE "$1: $STATE/$ID.pem leaf is $f but the token's certificate '$LABEL' is $t"
    fi
}

# check_recovery_log FILE STEP WHEN: the recovery message for a journal at
# STEP ("none": no journal, nothing to recover).
check_recovery_log() {
    case $2 in
    none) ;;
    keygen | storing)
        if grep -q "$ID: rolling back a renewal interrupted" "$1"; then
            pass "$3: recovery rolled back (journal at $2)"
        else
            fail "$3: no 'rolling back a renewal interrupted' for a journal at $2: $(tail -2 "$1" | tr '\n' ' ')"
        fi ;;
    *)
        if grep -q "$ID: finishing a swap interrupted at step $2" "$1"; then
            pass "$3: recovery rolled forward from step $2"
        else
            fail "$3: no 'finishing a swap interrupted at step $2': $(tail -2 "$1" | tr '\n' ' ')"
        fi ;;
    esac
}
# check_outcome STEP BEFORE WHEN: after recovery, the old certificate is in
# place when the journal was before "stored", the new one from it on.
check_outcome() {
    local now
    now=$(tok_serial)
    case $1 in
    none) ;;
    keygen | storing) check_eq "$3: rolled back, the old certificate stays in place" "$2" "$now" ;;
    *) check_ne "$3: rolled forward, the renewed certificate is in place" "$2" "$now" ;;
    esac
}

# restart_recover LOG STEP BEFORE WHEN: a plain daemon recovers, is stopped.
restart_recover() {
    local log=$1 step=$2 before=$3 when=$4
    : >"$log.restart"
    daemon_start "$log.restart"
    if ! wait_log "$log.restart" "next action" 1 20; then
        fail "$when: the restarted daemon did not start: $(tail -3 "$log.restart" | tr '\n' ' ')"
        daemon_stop
        cat "$log.restart" >>"$log"
        return
    fi
    daemon_stop
    check_eq "$when: the restarted daemon stops on SIGTERM: exit status" 0 "$DRC"
    check_recovery_log "$log.restart" "$step" "$when"
    cat "$log.restart" >>"$log"
    check_clean_pair $ID $LABEL "$when, after the restart"
    check_outcome "$step" "$before" "$when"
}

if want a; then
    say "== a) CSAGENT_CRASH_AT=<step> csagent enroll, then csagent run --once"
    for step in $STEPS; do
        before=$(tok_serial)
        CSAGENT_CRASH_AT=$step csa crash-$step enroll $ID
        if [ "$RC" = 134 ] && grep -q "CSAGENT_CRASH_AT=$step: aborting on purpose" "$ERR"; then
            pass "a/$step: renewal aborted (SIGABRT) right after journal step $step (exit $RC)"
        else
            fail "a/$step: expected an abort at $step, got exit $RC: $(tail -1 "$ERR")"
        fi
        check_eq "a/$step: the journal $STATE/$ID.journal is left at step" "$step" "$(journal_step)"
        check_instant "a/crash at $step" "$(journal_step)" yes
        check_eq "a/$step: at the crash the label resolves to" pair "$INSTANT"
        csa recover-$step run --once
        check_rc "a/$step: csagent run --once after the crash" 0
        check_recovery_log "$ERR" $step "a/$step"
        check_clean_pair $ID $LABEL "a/after recovery from $step"
        check_outcome $step "$before" "a/$step"
        check_state_pem "a/after recovery from $step"
    done
    before=$(tok_serial)
    csa renew-after-a enroll $ID
    check_rc "a: a renewal after the recoveries" 0
    check_ne "a: the renewal changed the serial" "$before" "$(tok_serial)"
    check_clean_pair $ID $LABEL "a: after the renewal following the crashes"
fi

if want b; then
    say "== b) CSAGENT_CRASH_AT=stored inside csagent run (SIGUSR1)"
    LOG=$W/daemon-b.log
    before=$(tok_serial)
    daemon_start "$LOG" CSAGENT_CRASH_AT=stored
    wait_log "$LOG" "next action" 1 15 || fail "b: daemon did not schedule: $(tail -3 "$LOG")"
    kill -USR1 $DPID
    daemon_wait 30
    check_eq "b: csagent run aborts (SIGABRT) at step stored: exit status" 134 "$DRC"
    check_instant "b/daemon crash at stored" "$(journal_step)" yes
    check_eq "b: at the crash the label resolves to" pair "$INSTANT"
    daemon_start "$LOG"
    wait_log "$LOG" "finishing a swap interrupted at step stored" 1 15 &&
        pass "b: the restarted daemon finishes the swap" ||
        fail "b: the restarted daemon did not finish the swap: $(tail -3 "$LOG")"
    wait_log "$LOG" "next action" 2 15 || fail "b: restarted daemon did not schedule"
    daemon_stop
    check_eq "b: daemon stops on SIGTERM: exit status" 0 "$DRC"
    check_clean_pair $ID $LABEL "b: after the daemon's recovery"
    check_ne "b: the crashed renewal's certificate is in place" "$before" "$(tok_serial)"
fi

# The functions that change the token during a renewal, and those of them
# that act inside step aside (all of their calls are kept when a series has
# to be thinned out).
MUTATORS="C_GenerateKeyPair C_CreateObject C_CopyObject C_DestroyObject C_SetAttributeValue"
ASIDE_FNS=" C_CopyObject C_DestroyObject C_SetAttributeValue "

# kill_points COUNTS: "FN:n" for every call, or (more than MAX_KILLS) every
# call of the ASIDE_FNS and, of the others, the first, middle and last.
kill_points() {
    local total=0 kv fn n i pts=""
    for kv in $1; do total=$((total + ${kv#*=})); done
    for kv in $1; do
        fn=${kv%%=*} n=${kv#*=}
        [ "$n" -gt 0 ] || continue
        if [ "$total" -le "$MAX_KILLS" ] || case $ASIDE_FNS in *" $fn "*) true ;; *) false ;; esac; then
            for i in $(seq 1 "$n"); do pts="$pts $fn:$i"; done
        else
            for i in $(printf '%s\n' 1 $(( (n + 1) / 2 )) "$n" | sort -nu); do pts="$pts $fn:$i"; done
        fi
    done
    echo $pts
}

# kill_series NAME ROTATE: count, then kill at every point, with CFG (plain)
# and $W/shim-NAME.ini (through p11shim).
kill_series() {
    local name=$1 rot=$2 shim=$W/shim-$1.ini log=$W/daemon-c-$1.log counts pts pt
    local n s kv before step gaps=0 pairs=0
    d_shim_config "$CFG" "$shim"
    : >"$log"
    say "== c/$name: count the token-changing calls of one forced renewal"
    # Baseline: a daemon that starts and stops; then one that renews once.
    CFG=$shim daemon_start "$log" P11SHIM_COUNT_FILE="$W/count-$name-base"
    wait_log "$log" "next action" 1 20 || fail "c/$name: counting daemon did not start: $(tail -3 "$log")"
    daemon_stop
    CFG=$shim daemon_start "$log" P11SHIM_COUNT_FILE="$W/count-$name-renew"
    wait_log "$log" "next action" 2 20 || fail "c/$name: counting daemon did not start: $(tail -3 "$log")"
    n=$(count_log "$log" "swapped in")
    kill -USR1 $DPID
    wait_log "$log" "swapped in" $((n + 1)) 30 || fail "c/$name: the counted renewal did not complete: $(tail -3 "$log")"
    daemon_stop
    check_eq "c/$name: the counting daemon stops on SIGTERM: exit status" 0 "$DRC"
    counts=""
    for kv in $(d_shim_counts "$W/count-$name-renew" $MUTATORS); do
        s=$(d_shim_counts "$W/count-$name-base" "${kv%%=*}")
        counts="$counts ${kv%%=*}=$(( ${kv#*=} - ${s#*=} ))"
    done
    info "c/$name: token-changing calls of one renewal:$counts"
    s=0
    for kv in $counts; do s=$((s + ${kv#*=})); done
    check_ge "c/$name: token-changing calls counted in one renewal" 3 "$s"
    pts=$(kill_points "$counts")
    info "c/$name: kill points: $pts"
    for pt in $pts; do
        say "-- c/$name: P11SHIM_KILL_AFTER=$pt"
        before=$(tok_serial)
        n=$(count_log "$log" "next action")
        CFG=$shim daemon_start "$log" P11SHIM_KILL_AFTER="$pt"
        if ! wait_log "$log" "next action" $((n + 1)) 20; then
            fail "c/$name/$pt: daemon did not start: $(tail -3 "$log")"
            daemon_stop
            continue
        fi
        s=$(count_log "$log" "swapped in")
        kill -USR1 $DPID
        daemon_exit_or_log 30 "$log" "swapped in" $((s + 1))
        case $? in
        0) check_eq "c/$name/$pt: csagent run killed by p11shim: exit status" 137 "$DRC" ;;
        1) fail "c/$name/$pt: the renewal completed without reaching the kill point"
           daemon_stop; continue ;;
        *) fail "c/$name/$pt: the daemon neither died nor renewed: $(tail -3 "$log" | tr '\n' ' ')"
           daemon_stop; continue ;;
        esac
        step=$(journal_step)
        check_instant "c/$name: killed after $pt" "$step" "$rot"
        case $INSTANT in pair) pairs=$((pairs + 1)) ;; gap) gaps=$((gaps + 1)) ;; esac
        restart_recover "$log" "$step" "$before" "c/$name/$pt"
    done
    info "c/$name: right after the kills: $pairs times one pair, $gaps times the gap of step aside"
    [ "$rot" = no ] && check_eq "c/$name: kills that found no complete pair (a kept key has no gap)" 0 "$gaps"
}

if want c; then
    say "== c) kill -9 of csagent run right after each token-changing call of a forced renewal"
    n0=$(orphans_count)
    check_eq "c: objects with no label and no id before the kills (csagent orphans)" 0 "$n0"
    CFG=$CFG_ROT kill_series rotate yes
    CFG=$CFG_KEEP kill_series keep no
    CFG=$CFG_ROT
    LOG=$W/daemon-c-final.log
    daemon_start "$LOG"
    wait_log "$LOG" "next action" 1 20 || fail "c: final daemon did not start"
    kill -USR1 $DPID
    wait_log "$LOG" "swapped in" 1 20 &&
        pass "c: a renewal completes after the kills" || fail "c: no renewal after the kills: $(tail -3 "$LOG")"
    daemon_stop
    check_clean_pair $ID $LABEL "c: after the kills and a renewal"
    # Recovery never deletes an object that has no label and no id (it may be
    # another program's); kills right after calls leave none.
    check_eq "c: objects with no label and no id after the kills (csagent orphans: $(tail -1 "$W/orphans.txt" 2>/dev/null))" \
        0 "$(orphans_count)"
    tok_list && check_eq "c: objects labelled '$LABEL.next' after the kills" "" \
        "$(grep -E "label=\"${LABEL}[.]next\"" "$W/list.txt" | tr -s ' ' | tr '\n' ';')"
    check_eq "c: private keys on the token (account + $LABEL)" 2 "$(grep -c '^private-key' "$W/list.txt")"
    check_state_pem "c: after the kills"
fi

if want d; then
    say "== d) csagent run killed (SIGKILL) by CSAGENT_CRASH_AT=<step>:kill"
    LOG=$W/daemon-d.log
    : >"$LOG"
    for step in $STEPS; do
        before=$(tok_serial)
        n=$(count_log "$LOG" "next action")
        daemon_start "$LOG" CSAGENT_CRASH_AT=$step:kill
        wait_log "$LOG" "next action" $((n + 1)) 20 || { fail "d/$step: daemon did not start"; daemon_stop; continue; }
        s=$(count_log "$LOG" "swapped in")
        kill -USR1 $DPID
        daemon_exit_or_log 30 "$LOG" "swapped in" $((s + 1))
        case $? in
        0) check_eq "d/$step: csagent run killed itself with SIGKILL at step $step: exit status" 137 "$DRC" ;;
        *) fail "d/$step: the daemon was not killed at step $step"; daemon_stop; continue ;;
        esac
        check "d/$step: the log names the kill point" grep -q "CSAGENT_CRASH_AT=$step:kill: killing myself" "$LOG"
        check_eq "d/$step: the journal is left at step" "$step" "$(journal_step)"
        check_instant "d/killed at $step" "$(journal_step)" yes
        check_eq "d/$step: at the kill the label resolves to" pair "$INSTANT"
        restart_recover "$LOG" "$step" "$before" "d/$step"
    done
    check_state_pem "d: after the kills"
fi
check_no_pin "$W"/daemon-*.log "$W"/logs/*
d_finish
