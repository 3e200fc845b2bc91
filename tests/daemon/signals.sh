#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# 5. Signals.
#  a) SIGHUP with a configuration that does not parse: the daemon logs that
#     it refused it, keeps running with the old one and still renews
#     (SIGUSR1).  A valid configuration that adds an identity is then
#     reloaded and the new identity enrolled.
#  b) SIGHUP with a configuration that parses but cannot be used (its
#     policy file does not exist): the old configuration must stay in
#     force too (DESIGN.md invariant 5: bad config input loses nothing).
#  c) SIGTERM in the middle of a renewal (slow challenge hook; SIGTERM at
#     several points): the daemon exits 0, the token is consistent right
#     away (one key + one certificate under the label, no journal) and
#     after a restart; and no further renewal starts after SIGTERM.
#
#   signals.sh WORKDIR            all parts; the bugs below are reported
#                                 as KNOWN BUG, not failed
#   signals.sh WORKDIR reload-loses-old-config   part b only, FAILS on it
#   signals.sh WORKDIR term-starts-next-renewal  part c only, FAILS on it
#
# BUG reload-loses-old-config: agt_daemon_reload() closes the running
#   session and frees the old configuration before it has opened the new
#   one; when the open fails ("SIGHUP: cannot reopen: policy file: ...")
#   the daemon keeps running with no session (state_dir NULL: "cannot
#   create a temporary file for (null)/status.json") and renews nothing,
#   not even on SIGUSR1, until it is restarted.
# BUG term-starts-next-renewal: SIGTERM is only looked at between rounds
#   (sigtimedwait in agt_daemon_sleep), so after a SIGTERM that arrives
#   during one identity's renewal every other due identity is still
#   renewed; agt_daemon.c says "SIGTERM and SIGINT stop after the current
#   step".  With slow hooks and many identities the stop can outlast
#   systemd's TimeoutStopSec and end in SIGKILL.
. "$(dirname "$0")/lib.sh"
MODE=${2:-all}
case $MODE in
all) ;;
reload-loses-old-config) D_STRICT=RELOAD-LOSES-OLD-CONFIG ;;
term-starts-next-renewal) D_STRICT=TERM-STARTS-NEXT-RENEWAL ;;
*) fatal "unknown mode $MODE" ;;
esac
part() { [ "$MODE" = all ] || [ "$MODE" = "$1" ]; }
d_setup "$1" dsig x.example.com y.example.com
csca_start --validity 1h --always-valid
CFG=$W/agent.ini
GOOD=$W/agent-good.ini
SLOW=$W/hook-slow.sh
printf '#!/bin/sh\nsleep 1\nexit 0\n' >"$SLOW"; chmod 755 "$SLOW"
d_config "$GOOD" retry_base=2s retry_max=8s < <(identity x sig-x x.example.com)
cp "$GOOD" "$CFG"
csa register account register
check_rc "account register" 0
csa enroll-x enroll x
check_rc "enroll x" 0
LOG=$W/daemon.log
daemon_start "$LOG"
wait_log "$LOG" "next action" 1 15 || fatal "daemon did not start: $(tail -3 "$LOG")"

if part reload-loses-old-config; then
say "== a) SIGHUP with a configuration that does not parse"
{ cat "$GOOD"; echo "renew_at = 2"; } >"$CFG"
kill -HUP $DPID
if wait_log "$LOG" "SIGHUP: the new configuration is refused, keeping the old one" 1 10; then
    pass "refused: $(grep -m1 'SIGHUP: the new configuration is refused' "$LOG" | sed 's/.*one: //')"
else
    fail "no refusal logged: $(tail -2 "$LOG")"
fi
check "the daemon still runs" kill -0 $DPID
n=$(count_log "$LOG" "swapped in")
kill -USR1 $DPID
wait_log "$LOG" "x: certificate swapped in" $((n + 1)) 20 &&
    pass "it still renews (SIGUSR1 after the refused reload)" ||
    fail "no renewal after the refused reload: $(tail -3 "$LOG")"
{ cat "$GOOD"; identity y sig-y y.example.com; } >"$CFG"
kill -HUP $DPID
wait_log "$LOG" "SIGHUP: configuration reloaded" 1 10 &&
    pass "a valid configuration is reloaded" || fail "valid reload not logged: $(tail -2 "$LOG")"
wait_log "$LOG" "y: certificate swapped in" 1 20 &&
    pass "the identity added by the reload is enrolled" ||
    fail "new identity y not enrolled after reload: $(tail -3 "$LOG")"

say "== b) SIGHUP with a configuration that parses but names a missing policy file"
cp "$CFG" "$GOOD"
sed "s|^policy = .*|policy = $W/no-such-policy.ini|" "$GOOD" >"$CFG"
kill -HUP $DPID
sleep 1
grep "SIGHUP" "$LOG" | tail -1 | sed 's/^/    | /'
if grep -q "SIGHUP: cannot reopen" "$LOG"; then
    defect RELOAD-LOSES-OLD-CONFIG "a configuration that parses but cannot be opened replaced the old one: log says '$(grep -m1 'SIGHUP: cannot reopen' "$LOG" | sed 's/.*\] //')'"
else
    pass "no 'cannot reopen' after the unusable configuration"
fi
if kill -0 $DPID 2>/dev/null; then
    pass "the daemon still runs after the unusable configuration"
    n=$(count_log "$LOG" "x: certificate swapped in")
    kill -USR1 $DPID
    if wait_log "$LOG" "x: certificate swapped in" $((n + 1)) 15; then
        pass "it still renews after the unusable configuration"
    elif kill -0 $DPID 2>/dev/null; then
        defect RELOAD-LOSES-OLD-CONFIG "no renewal after SIGHUP with an unusable configuration + SIGUSR1; log: $(tail -2 "$LOG" | cut -c1-200 | tr '\n' ' ')"
    else
        wait $DPID; DRC=$?
        defect RELOAD-LOSES-OLD-CONFIG "the daemon died (exit status $DRC) on SIGUSR1 after SIGHUP with an unusable configuration; log: $(tail -2 "$LOG" | cut -c1-200 | tr '\n' ' ')"
    fi
else
    wait $DPID; DRC=$?
    defect RELOAD-LOSES-OLD-CONFIG "the daemon died (exit status $DRC) after SIGHUP with an unusable configuration"
fi
cp "$GOOD" "$CFG"
fi
daemon_stop

if part term-starts-next-renewal; then
say "== c) SIGTERM in the middle of a renewal (slow hook)"
d_config "$CFG" retry_base=2s retry_max=8s < <(
    identity x sig-x x.example.com "$SLOW"
    identity y sig-y y.example.com "$SLOW")
if [ "$MODE" != all ]; then csa enroll-y enroll y; check_rc "enroll y" 0; fi
for at in "0.05:SIGUSR1" "answering dns-01:hook" "generated p256 key:keygen" "finalized:finalize"; do
    delay=${at%%:*} tag=${at#*:}
    LOG=$W/daemon-term-$tag.log
    daemon_start "$LOG"
    wait_log "$LOG" "next action" 1 15 || { fail "$tag: daemon did not start"; continue; }
    kill -USR1 $DPID
    case $delay in
    0.*) sleep "$delay" ;;
    *) wait_log "$LOG" "$delay" 1 15 || fail "$tag: no '$delay' in the log" ;;
    esac
    t0=$(date +%s.%N) ts=$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)
    kill -TERM $DPID
    daemon_wait 60
    t=$(echo "$(date +%s.%N) - $t0" | bc)
    check_eq "$tag: exit status after SIGTERM (at '$delay')" 0 "$DRC"
    info "$tag: stopped ${t}s after SIGTERM; swaps: $(count_log "$LOG" 'swapped in'), log: $(grep -E 'renewing|stopping' "$LOG" | sed 's/.*\] //' | tr '\n' ';')"
    check_le "$tag: seconds to stop" 10 "$(printf '%.0f' "$t")"
    # agt_daemon.c: "SIGTERM and SIGINT stop after the current step (a
    # renewal in progress completes or rolls back)" -- no new renewal
    # should start once SIGTERM has arrived.
    late=$(awk -v ts="$ts" '$1 > ts && / renewing \(/ {sub(/.*\] /, ""); print}' "$LOG" | tr '\n' ';')
    if [ -z "$late" ]; then
        pass "$tag: no renewal started after SIGTERM ($ts)"
    else
        defect TERM-STARTS-NEXT-RENEWAL "$tag: SIGTERM at $ts, yet afterwards: '$late' (the whole round runs before the signal is looked at; agt_daemon.c promises a stop after the current step)"
    fi
    check_clean_pair x sig-x "$tag: right after the stop (x)"
    check_clean_pair y sig-y "$tag: right after the stop (y)"
done
csa restart run --once
check_rc "csagent run --once after the stops" 0
check_clean_pair x sig-x "after a restart (x)"
check_clean_pair y sig-y "after a restart (y)"
fi
check_no_pin "$W"/daemon*.log "$W"/logs/*
d_finish
