#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# [agent] parallel: renewals of several identities at once in `run`.
#
# Part 1: three identities are due; each one's http-01 hook waits at a
# barrier until all three hooks have started.  Only renewals that really
# overlap get past it (a serial agent would leave the first hook waiting
# until its time-out).  Each hook's parent is a different network process.
# Part 2 (control): the same with parallel = 1 meets the barrier never.
# Part 3: the key holder is killed (kill -9, from a hook) while three
# renewals are in flight; the next start rolls each back from its own
# journal, and the next round enrolls all three.
#   parallel.sh WORKDIR
. "$(dirname "$0")/lib.sh"
export PEBBLE_AUTHZREUSE=0
agt_setup "$1" agt-par --always-valid
BARRIER=$W/hook-barrier.sh
cat >"$BARRIER" <<'H'
#!/bin/sh
# On "begin": registers, then waits (at most $HOLD_DIR/wait seconds) until
# $HOLD_DIR/want hooks have registered.  KILL_MARK: once the barrier is
# met, the identity named in it kills the key holder (the parent of the
# network process, whose hook runner is our parent).
if [ "$CSAGENT_HOOK_METHOD" = begin ]; then
    net=$(awk '/^PPid:/ { print $2 }' "/proc/$PPID/status")
    echo "$net" >"$HOLD_DIR/in-$CSAGENT_IDENTIFIER"
    want=$(cat "$HOLD_DIR/want") limit=$(($(cat "$HOLD_DIR/wait") * 10)) i=0
    while [ "$(ls "$HOLD_DIR" | grep -c '^in-')" -lt "$want" ] && [ $i -lt "$limit" ]; do
        sleep 0.1
        i=$((i + 1))
    done
    if [ $i -lt "$limit" ]; then r=met; else r=timeout; fi
    echo "$r $CSAGENT_IDENTIFIER" >>"$HOOK_LOG"
    if [ -n "${KILL_MARK:-}" ] && [ "$r" = met ] && [ "$CSAGENT_IDENTIFIER" = "$(cat "$KILL_MARK")" ]; then
        kill -9 "$(awk '/^PPid:/ { print $2 }' "/proc/$net/status")"
        sleep 1
    fi
fi
exit 0
H
chmod 755 "$BARRIER"
export HOLD_DIR=$W/hold HOOK_LOG=$W/hook.log
barrier() { # WANT WAIT
    rm -rf "$HOLD_DIR" "$HOOK_LOG"
    mkdir -p "$HOLD_DIR"
    echo "$1" >"$HOLD_DIR/want"
    echo "$2" >"$HOLD_DIR/wait"
}
ids() { # PARALLEL NAME...
    echo "parallel = $1"
    shift
    for n in "$@"; do identity "$n" "$n-key" p256 "$n.par.example.com" test-tls "$BARRIER"; done
}

say "== part 1: parallel = 3, three identities due"
CFG=$W/agent.ini
agt_config "$CFG" < <(ids 3 a b c)
csa register "$CFG" account register
check_rc "account register" 0
barrier 3 60
csa once "$CFG" run --once
check_rc "run --once renews all three" 0
check_out "the round says how many at once" "3 renewal\\(s\\) due, 3 at a time"
check_eq "all three hooks met at the barrier" 3 "$(grep -c '^met ' "$HOOK_LOG")"
check_eq "no hook timed out" 0 "$(grep -c '^timeout ' "$HOOK_LOG")"
check_eq "three different network processes ran the hooks" 3 \
    "$(cat "$HOLD_DIR"/in-* | sort -u | wc -l)"
for n in a b c; do check_clean_pair "$n" "$n-key" "$CFG"; done
check "no journal left" sh -c "! ls '$STATE'/*.journal 2>/dev/null | grep -q ."

say "== part 2 (control): parallel = 1 never meets the barrier"
CFG1=$W/agent-serial.ini
agt_config "$CFG1" < <(ids 1 s1 s2)
barrier 2 2
csa once-serial "$CFG1" run --once
check_rc "run --once with parallel = 1" 0
check_eq "the first hook waited alone until its time-out" 1 "$(grep -c '^timeout ' "$HOOK_LOG")"
for n in s1 s2; do check_clean_pair "$n" "$n-key" "$CFG1"; done

say "== part 3: kill -9 of the key holder with three renewals in flight"
CFGK=$W/agent-kill.ini
agt_config "$CFGK" < <(ids 3 k1 k2 k3)
barrier 3 60
echo k2.par.example.com >"$W/kill-who"
KILL_MARK=$W/kill-who csa killed "$CFGK" run --once
check_eq "the agent died of SIGKILL" 137 "$AGT_RC"
# (k2 killed only after it met the barrier: all three had registered)
check "k2 met the barrier before the kill" grep -qx "met k2.par.example.com" "$HOOK_LOG"
check_eq "all three were in flight" 3 "$(ls "$HOLD_DIR" | grep -c '^in-')"
n_j=$(ls "$STATE"/k[123].journal 2>/dev/null | wc -l)
check_eq "each renewal left its own journal" 3 "$n_j"
csa_list || fail "list after the kill"
check_eq "pending keys under k*-key.next before recovery" 3 \
    "$(grep -c 'private-key.*label="k[123]-key.next"' "$W/list.txt")"
csa recover "$CFGK" account show
check_rc "the next start recovers" 0
check_eq "each renewal rolled back" 3 "$(grep -c 'rolling back a renewal' "$AGT_ERR")"
csa_list || fail "list after recovery"
check_eq "no k*-key.next object left" 0 "$(grep -c 'label="k[123]-key.next' "$W/list.txt")"
check_eq "no journal left" 0 "$(ls "$STATE"/k[123].journal 2>/dev/null | wc -l)"
# No barrier here: whether the killed round's challenges were validated
# (so the CA may answer an order "ready" with no hook) is up to timing.
barrier 1 60
csa again "$CFGK" run --once
check_rc "the next round enrolls all three" 0
for n in k1 k2 k3; do check_clean_pair "$n" "$n-key" "$CFGK"; done
agt_finish
