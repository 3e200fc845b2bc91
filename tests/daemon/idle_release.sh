#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# 8. The idle daemon lets the token go (agt_daemon_release): certificates
#    valid 1 h, so nothing is due for more than AGT_IDLE_RELEASE (300 s).
#  a) It logs "token released until ...", its network process `csagent
#     __net` is gone (/proc/PID/task/*/children) and the module was
#     finalised (tests/p11shim's counts: one C_Login, one C_Finalize).
#  b) SIGUSR1 reopens it ("token reopened") and renews: the certificate
#     is swapped in (a new serial on the token), with one more C_Login,
#     and the token is let go again.
#  c) The token is absent at reopen (its directory moved away): a failed
#     round, no login tried, retried after retry_base; with the token back
#     the identity is renewed.
#  d) The PIN file holds a wrong PIN at reopen: the daemon exits 4 after
#     exactly one C_Login, and tries no other.
#  e) pin_file = fd:N: the token stays open (logged once at start; no
#     release before SIGTERM).
. "$(dirname "$0")/lib.sh"
d_setup "$1" didle example.com
[ -f "${P11SHIM:-}" ] || skip "p11shim.so not built (P11SHIM=${P11SHIM:-unset})"
csca_start --validity 1h --always-valid
CFG=$W/agent.ini
ID=idle LABEL=idle-sig
d_config "$CFG" retry_base=2s retry_max=8s < <(identity $ID $LABEL example.com)
csa register account register
check_rc "account register" 0
csa enroll enroll $ID
check_rc "first enrollment" 0
PLAIN=$CFG
SHIM=$W/agent-shim.ini
d_shim_config "$PLAIN" "$SHIM"
COUNTS=$W/p11-counts
LOG=$W/daemon.log

# children PID: the pids of PID's children, space-separated
children() { cat /proc/"$1"/task/*/children 2>/dev/null | tr -s ' \n' ' ' | sed 's/ $//'; }
serial_now() {
    token_cert "$LABEL" "$W/cur.pem" &&
        "$OPENSSL_BIN" x509 -in "$W/cur.pem" -noout -serial | cut -d= -f2
}
counts() { d_shim_counts "$COUNTS" C_Initialize C_Login C_Finalize | tr '\n' ' ' | sed 's/ $//'; }

say "== a) idle: the token is released"
serial0=$(serial_now)
CFG=$SHIM daemon_start "$LOG" P11SHIM_COUNT_FILE="$COUNTS"
if wait_log "$LOG" "token released until " 1 30; then
    pass "released: $(grep -m1 'token released until' "$LOG" | sed 's/.*\] //')"
else
    fatal "no 'token released' in 30 s: $(tail -3 "$LOG")"
fi
check_eq "children of csagent run (pid $DPID) after the release" "" "$(children $DPID)"
check_eq "PKCS#11 calls after the release" \
    "C_Initialize=1 C_Login=1 C_Finalize=1" "$(counts)"

say "== b) SIGUSR1: reopened, renewed, released again"
kill -USR1 $DPID
wait_log "$LOG" "token reopened \(SIGUSR1\)" 1 20 &&
    pass "reopened on SIGUSR1" || fail "no 'token reopened': $(tail -3 "$LOG")"
if wait_log "$LOG" "$ID: certificate swapped in" 1 30; then
    pass "renewed after the reopen"
else
    fail "no renewal after the reopen: $(tail -3 "$LOG" | cut -c1-200)"
fi
wait_log "$LOG" "token released until " 2 20 &&
    pass "released again after the renewal" ||
    fail "not released after the renewal: $(tail -3 "$LOG")"
serial1=$(serial_now)
check "the token holds a new certificate (serial $serial0 -> $serial1)" \
    test -n "$serial1" -a "$serial1" != "$serial0"
check_eq "children after the second release" "" "$(children $DPID)"
check_eq "PKCS#11 calls after the second release" \
    "C_Initialize=2 C_Login=2 C_Finalize=2" "$(counts)"
# planning every identity again (certificate read, ARI asked) is for the
# start and SIGHUP; a reopen keeps the schedule
check_eq "identities planned from scratch (at start only)" 1 \
    "$(count_log "$LOG" "$ID: next action")"

say "== c) the token is absent at reopen: a failed round, retried"
tokdir=$(ls -d "$W"/tok/tokens/*/ | head -1)
mv "$tokdir" "$W/tok/away" || fatal "cannot move the token directory away"
kill -USR1 $DPID
if wait_log "$LOG" "cannot reopen the token" 1 20; then
    pass "logged: $(grep -m1 'cannot reopen the token' "$LOG" | sed 's/.*\] //' | cut -c1-160)"
else
    fail "no 'cannot reopen the token': $(tail -3 "$LOG")"
fi
wait_log "$LOG" "$ID: renewal failed" 1 10 &&
    pass "the due identity backs off as a failed renewal" ||
    fail "no back-off logged: $(tail -2 "$LOG")"
check "the daemon still runs" kill -0 $DPID
check_eq "C_Login while the token was absent" "C_Login=2" \
    "$(d_shim_counts "$COUNTS" C_Login)"
mv "$W/tok/away" "$tokdir" || fatal "cannot move the token directory back"
if wait_log "$LOG" "$ID: certificate swapped in" 2 40; then
    pass "renewed once the token is back ($(count_log "$LOG" 'cannot reopen the token') failed reopen(s))"
else
    fail "no renewal after the token came back: $(tail -3 "$LOG" | cut -c1-200)"
fi
wait_log "$LOG" "token released until " 3 20 ||
    fail "not released after that renewal: $(tail -2 "$LOG")"
logins=$(d_shim_counts "$COUNTS" C_Login | cut -d= -f2)

say "== d) a wrong PIN at reopen: exit 4 after one C_Login"
cp "$CSA_PIN_FILE" "$W/pin.good"
# same length, other digits: a PIN the token takes and refuses
tr '0-9a-f' '1-9a-f0' <"$W/pin.good" >"$CSA_PIN_FILE"
nfail=$(count_log "$LOG" "$ID: renewal failed")
kill -USR1 $DPID
# exits, or (the bug) treats the login like any failed round
daemon_exit_or_log 30 "$LOG" "$ID: renewal failed" $((nfail + 1))
case $? in
0) check_eq "exit status after a failed login at reopen" 4 "$DRC" ;;
1) fail "a failed login was taken for a failed round: $(tail -2 "$LOG" | cut -c1-200)"
   kill -9 $DPID 2>/dev/null ;;
*) fail "the daemon still runs 30 s after the wrong PIN: $(tail -3 "$LOG")"
   kill -9 $DPID 2>/dev/null ;;
esac
check_eq "C_Login calls: one more, the failed one" "C_Login=$((logins + 1))" \
    "$(d_shim_counts "$COUNTS" C_Login)"
check_eq "'cannot log in to the token again' logged" 1 \
    "$(count_log "$LOG" "cannot log in to the token again")"
grep -m1 "cannot log in to the token again" "$LOG" | sed 's/^/    | /' | cut -c1-220
cp "$W/pin.good" "$CSA_PIN_FILE"
CFG=$PLAIN
check_clean_pair $ID $LABEL "after the failed reopen"

say "== e) pin_file = fd:3: the token stays open"
LOG2=$W/daemon-fd.log
sed "s|^pin_file = .*|pin_file = fd:3|" "$PLAIN" >"$W/agent-fd.ini"
"$CSAGENT" -c "$W/agent-fd.ini" run >>"$LOG2" 2>&1 </dev/null 3<"$CSA_PIN_FILE" &
DPID=$!
d_track $DPID
wait_log "$LOG2" "token stays open while idle" 1 20 &&
    pass "logged: $(grep -m1 'token stays open' "$LOG2" | sed 's/.*\] //')" ||
    fail "no 'token stays open' line: $(tail -3 "$LOG2")"
wait_log "$LOG2" "$ID: next action" 1 20 || fail "daemon did not plan: $(tail -3 "$LOG2")"
kill -USR1 $DPID
wait_log "$LOG2" "$ID: certificate swapped in" 1 30 &&
    pass "renews with the session it kept" ||
    fail "no renewal with fd:3: $(tail -3 "$LOG2" | cut -c1-200)"
# the control for a): with its session the daemon has its network process
kid=$(children $DPID)
if [ -n "$kid" ] && tr '\0' ' ' <"/proc/${kid%% *}/cmdline" | grep -q "__net"; then
    pass "with fd:3 its network process runs (pid $kid: $(tr '\0' ' ' <"/proc/${kid%% *}/cmdline"))"
else
    fail "with fd:3 no csagent __net child found in /proc/$DPID/task/*/children ('$kid')"
fi
daemon_stop
check_eq "daemon (fd:3) exit on SIGTERM" 0 "$DRC"
# the SIGTERM is taken in the sleep, after any release would have happened
check_eq "'token released' with fd:3" 0 "$(count_log "$LOG2" "token released")"
check_no_pin "$LOG" "$LOG2" "$W"/logs/*
d_finish
