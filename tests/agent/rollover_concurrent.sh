#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The account lock and journal of the account key rollover
# (agent/agt_account.c, docs/operations.md "Account key rollover").
#
# Processes are stopped at named points, never raced: CSAGENT_HOLD_AT=
# <point>:<fifo> (test-only) makes csagent write "held" into the FIFO and
# wait until the test writes into it; a challenge hook does the same.
#  1. a rollover held after generating its key ("generated") and after the
#     CA accepted it ("changed") while `csagent enroll` starts: the
#     enrollment waits for the account lock (proved by its own stop at
#     "account-lock-wait"), then runs with the new key; the account
#     survives, no key is lost; a wait that runs out (CSAGENT_ACCOUNT_LOCK_
#     WAIT=1) is an error naming account.lock;
#  2. a rollover started while an enrollment holds the lock shared (its
#     hook stands still) waits, generates nothing meanwhile, then completes;
#  3. a crash (CSAGENT_ACCOUNT_CRASH_AT, and a kill right after
#     C_GenerateKeyPair through p11shim) at each step: the next `account
#     show` leaves one account key, the old or the new one as the CA
#     decided, the CA accepts it, and no journal;
#  4. a foreign key labelled "<account_key>.next" (another CKA_ID, no
#     journal) survives settles, rollovers and crash recoveries;
#  5. `csagent run` holds the lock only while it renews: a rollover while
#     it sleeps does not wait, and its next renewal uses the new key;
#  6. what an older csagent left (a ".next" key the CA knows, no journal):
#     it becomes the account key, the old key is kept under ".retired".
#   rollover_concurrent.sh WORKDIR   (P11SHIM = path of p11shim.so)
. "$(dirname "$0")/lib.sh"
agt_need_shim
command -v mkfifo >/dev/null && command -v timeout >/dev/null ||
    skip "mkfifo or timeout missing"
# Authorizations are never reused, so the hook runs on every enrollment.
export PEBBLE_AUTHZREUSE=0
agt_setup "$1" agt-rollconc --always-valid
CFG=$W/agent.ini
ACCT=csagent-account
JOURNAL=$STATE/account.journal
agt_config "$CFG" < <(identity app app-key p256 app.build.example.com)
agt_shim_config "$CFG"
acct_url() { sed -n 's/^account: //p' "$AGT_OUT"; }
# pub_of LABEL|URI: a short digest of that key's public key ("" if none)
pub_of() {
    "$CSAGENT" -c "$CFG" pubkey --label "$1" --pem 2>/dev/null </dev/null |
        md5sum | cut -c1-16 | grep -v '^d41d8cd98f00b204'
}
# a pkcs11: URI for the key with this hex CKA_ID
id_uri() { printf 'pkcs11:id=%s' "$(printf '%s' "$1" | sed 's/../%&/g')"; }
journal_new_id() { sed -n 's/.*"new_id": *"\([0-9a-f]*\)".*/\1/p' "$JOURNAL" 2>/dev/null; }

# bg NAME CONFIG ARGS...: csagent in the background (at most 90 s), its
# output kept like csa's; BG_PID and BG_BASE name it for bg_wait.
bg() {
    local name=$1 cfg=$2; shift 2
    AGT_NLOG=$((AGT_NLOG + 1))
    BG_BASE=$W/logs/$(printf '%02d' $AGT_NLOG)-$name
    timeout 90 "$CSAGENT" -c "$cfg" "$@" >"$BG_BASE.out" 2>"$BG_BASE.err" </dev/null &
    BG_PID=$!
    say "  bg   - csagent -c $cfg $* (pid $BG_PID)"
}
# bg_wait PID BASE: waits for it; sets AGT_RC, AGT_OUT, AGT_ERR.
bg_wait() {
    wait "$1"
    AGT_RC=$? AGT_OUT=$2.out AGT_ERR=$2.err AGT_CMD="(background) $2"
    say "  done - $(basename "$2") -> exit $AGT_RC"
}
# held FIFO: returns once the process standing at FIFO got there (60 s at
# most); release FIFO lets it go on.
held() { timeout 60 cat "$1" >/dev/null; }
release() { timeout 60 sh -c 'echo go >"$1"' sh "$1"; }
running() { kill -0 "$1" 2>/dev/null; }

# The account and its key are whole: show finds the original account with
# the key under the label, which is the only one; nothing pending.
check_account_whole() { # WHAT
    csa "show" "$CFG" account show
    check_rc "$1: account show" 0
    check_eq "$1: the account is the original one" "$url1" "$(acct_url)"
    check "$1: no account journal left" test ! -e "$JOURNAL"
    csa_list
    check_eq "$1: one private key labelled '$ACCT'" 1 "$(count private-key "$ACCT")"
    check_eq "$1: one public key labelled '$ACCT'" 1 "$(count public-key "$ACCT")"
    check_eq "$1: no csagent key left under .next/.retired" "$FOREIGN_NEXT" \
        "$(ids_of private-key "$ACCT.next")$(ids_of private-key "$ACCT.retired")$(ids_of public-key "$ACCT.retired")"
}
FOREIGN_NEXT=""

csa enroll-1 "$CFG" enroll app
check_rc "first enrollment (creates the account)" 0
csa show-1 "$CFG" account show
url1=$(acct_url)
check "account URL known ($url1)" test -n "$url1"
mkfifo "$W/roll.fifo" "$W/enroll.fifo" "$W/hook.fifo" || fatal "mkfifo"

# --- 1. a rollover held at a point while an enrollment starts ----------
for point in generated changed; do
    say "== rollover held at '$point' while csagent enroll starts"
    pub0=$(pub_of "$ACCT")
    CSAGENT_HOLD_AT=$point:$W/roll.fifo bg "roll-$point" "$CFG" account rollover
    rpid=$BG_PID rbase=$BG_BASE
    if ! held "$W/roll.fifo"; then
        fail "the rollover never reached '$point'"
        kill "$rpid" 2>/dev/null; bg_wait "$rpid" "$rbase"; continue
    fi
    pass "the rollover stands at '$point', holding the account lock exclusive"
    csa_list
    check_eq "at '$point': the new key exists under '$ACCT.next'" 1 "$(count private-key "$ACCT.next")"
    check "at '$point': the account journal names it" test -s "$JOURNAL"
    pubnew=$(pub_of "$(id_uri "$(journal_new_id)")")
    CSAGENT_HOLD_AT=account-lock-wait:$W/enroll.fifo bg "enroll-during-$point" "$CFG" enroll app
    epid=$BG_PID ebase=$BG_BASE
    if held "$W/enroll.fifo"; then
        pass "the enrollment found the account lock held by the rollover"
    else
        fail "the enrollment never waited for the account lock"
    fi
    release "$W/enroll.fifo"
    if [ "$point" = generated ]; then
        CSAGENT_ACCOUNT_LOCK_WAIT=1 csa show-timeout "$CFG" account show
        check_rc "a wait for the account lock that runs out is an error" 1
        check_out "the error names the account lock" "account[.]lock is held by another process for longer than the wait allowed"
    fi
    check "the rollover ($rpid) is still held" running "$rpid"
    check "the enrollment ($epid) still waits for the account lock" running "$epid"
    csa_list
    check_eq "while held: the old key still under '$ACCT'" 1 "$(count private-key "$ACCT")"
    release "$W/roll.fifo"
    bg_wait "$rpid" "$rbase"
    check_rc "the rollover held at '$point' completes" 0
    check_out "it rolled over" "rolled over"
    bg_wait "$epid" "$ebase"
    check_rc "the enrollment that waited for it succeeds" 0
    check_out "the enrollment waited for the account lock" "waiting up to 300s for an account key rollover"
    check_no_out "the enrollment registered no new account" "[(]created[)]"
    check_account_whole "after the rollover held at '$point'"
    check_eq "the account key is the rollover's new key" "$pubnew" "$(pub_of "$ACCT")"
    check_ne "the account key changed" "$pub0" "$(pub_of "$ACCT")"
done
csa enroll-after-1 "$CFG" enroll app
check_rc "a further enrollment with the rolled-over key" 0
check_out "it uses the same account" "account $url1 [(]existing[)]"

# --- 2. a rollover started while an enrollment holds the lock shared ----
say "== rollover started while an enrollment stands in its challenge hook"
HOOK_HOLD=$W/hook-hold.sh
cat >"$HOOK_HOLD" <<EOF
#!/bin/sh
if [ "\$CSAGENT_HOOK_METHOD" = begin ] && mkdir "$W/hook-held.d" 2>/dev/null; then
    echo held >"$W/hook.fifo"
    read go <"$W/hook.fifo"
fi
exit 0
EOF
chmod 755 "$HOOK_HOLD"
CFGH=$W/agent-hook.ini
agt_config "$CFGH" < <(identity hooked hooked-key p256 hooked.build.example.com test-tls "$HOOK_HOLD")
pub0=$(pub_of "$ACCT")
bg enroll-hooked "$CFGH" enroll hooked
epid=$BG_PID ebase=$BG_BASE
if held "$W/hook.fifo"; then
    pass "the enrollment stands in its hook, holding the account lock shared"
else
    fail "the enrollment's hook never ran"
fi
CSAGENT_HOLD_AT=account-lock-wait:$W/roll.fifo bg roll-waits "$CFG" account rollover
rpid=$BG_PID rbase=$BG_BASE
if held "$W/roll.fifo"; then
    pass "the rollover found the account lock held by the enrollment"
else
    fail "the rollover never waited for the account lock"
fi
release "$W/roll.fifo"
check "the rollover ($rpid) still waits while the enrollment runs" running "$rpid"
csa_list
check_eq "the waiting rollover generated no key" 0 "$(count private-key "$ACCT.next")"
check "the waiting rollover wrote no journal" test ! -e "$JOURNAL"
release "$W/hook.fifo"
bg_wait "$epid" "$ebase"
check_rc "the enrollment completes" 0
check_out "the enrollment used the account key as it was" "account $url1 [(]existing[)]"
bg_wait "$rpid" "$rbase"
check_rc "the rollover that waited completes" 0
check_out "the rollover waited for the enrollment" "waiting up to 900s for the users of the account key"
check_out "it rolled over" "rolled over"
check_account_whole "after the rollover that waited"
check_ne "the account key changed" "$pub0" "$(pub_of "$ACCT")"
csa enroll-after-2 "$CFG" enroll app
check_rc "a further enrollment with the rolled-over key" 0
check_out "it uses the same account" "account $url1 [(]existing[)]"

# --- 3. a crash at each step, then recovery ------------------------------
# crash_at WHAT CONFIG EXPECTED_RC NEW|OLD [env...]: a rollover that dies,
# then `account show` settles it.
crash_at() {
    local what=$1 cfg=$2 rc=$3 which=$4 new pubold pubnew want
    shift 4
    say "== rollover crashed: $what"
    pubold=$(pub_of "$ACCT")
    # (the group's 2>/dev/null only silences bash's "Aborted" notice)
    { env "$@" "$CSAGENT" -c "$cfg" -v account rollover >"$W/logs/crash-$what.out" \
        2>"$W/logs/crash-$what.err" </dev/null; } 2>/dev/null
    check_eq "rollover crashed at $what: exit status" "$rc" "$?"
    check "after the crash at $what: the account journal is there" test -s "$JOURNAL"
    new=$(journal_new_id)
    pubnew=$(pub_of "$(id_uri "$new")")
    csa_list
    info "account objects after the crash: $(grep -o "^[a-z-]* *label=\"$ACCT[^\"]*\" id=[0-9a-f]*" "$W/list.txt" | tr -s ' ' | tr '\n' ';')"
    check_account_whole "recovery after the crash at $what"
    check_out "recovery names what it did" "interrupted rollover|rolling it back|never accepted"
    [ "$which" = new ] && want=$pubnew || want=$pubold
    check "after the crash at $what: the account key is the $which one" \
        test -n "$want" -a "$(pub_of "$ACCT")" = "$want"
    check "after the crash at $what: the journal named the new key's id" test -n "$new"
    check_eq "after the crash at $what: objects of the new key ($new) under '$ACCT'" \
        "$([ "$which" = new ] && echo 2 || echo 0)" "$(grep -c "label=\"$ACCT\" id=${new:-none} " "$W/list.txt")"
    check_eq "after the crash at $what: objects of the new key elsewhere" 0 \
        "$(grep " id=${new:-none} " "$W/list.txt" | grep -vc "label=\"$ACCT\" ")"
}
crash_at keygen "$CFG" 134 old CSAGENT_ACCOUNT_CRASH_AT=keygen
crash_at generated "$CFG" 134 old CSAGENT_ACCOUNT_CRASH_AT=generated
crash_at C_GenerateKeyPair "$W/shim.ini" 137 old P11SHIM_KILL_AFTER=C_GenerateKeyPair:1
crash_at accepted "$CFG" 134 new CSAGENT_ACCOUNT_CRASH_AT=accepted
crash_at changed "$CFG" 134 new CSAGENT_ACCOUNT_CRASH_AT=changed
crash_at retired "$CFG" 134 new CSAGENT_ACCOUNT_CRASH_AT=retired
crash_at promoted "$CFG" 134 new CSAGENT_ACCOUNT_CRASH_AT=promoted
csa enroll-after-3 "$CFG" enroll app
check_rc "an enrollment after the crashes" 0
check_out "it uses the same account" "account $url1 [(]existing[)]"

# --- 4. a foreign key labelled <account_key>.next ------------------------
say "== a foreign key labelled '$ACCT.next'"
"$CSAGENT" -c "$CFG" keygen --label "$ACCT.next" --type p256 >"$W/logs/foreign.out" 2>&1 </dev/null
check_eq "another program's key under '$ACCT.next' (csagent keygen)" 0 "$?"
csa_list
FOREIGN_NEXT=$(ids_of private-key "$ACCT.next")
fid1=${FOREIGN_NEXT% }
check "its id is known ($fid1)" test -n "$fid1"
pubf=$(pub_of "$(id_uri "$fid1")")
check_account_whole "with a foreign '$ACCT.next'"
check_out "settle reports it as not attributable, by label and id" \
    "private key '$ACCT[.]next' id $fid1: no account journal names it"
csa roll-foreign "$CFG" account rollover
check_rc "a rollover beside the foreign key" 0
check_account_whole "after a rollover beside the foreign key"
crash_at "generated-beside-foreign" "$CFG" 134 old CSAGENT_ACCOUNT_CRASH_AT=generated
crash_at "changed-beside-foreign" "$CFG" 134 new CSAGENT_ACCOUNT_CRASH_AT=changed
"$CSAGENT" -c "$CFG" keygen --label "$ACCT.next" --type p256 --force >"$W/logs/foreign2.out" 2>&1 </dev/null
check_eq "a second foreign key under '$ACCT.next' (keygen --force)" 0 "$?"
csa_list
FOREIGN_NEXT=$(ids_of private-key "$ACCT.next")
crash_at "generated-beside-two-foreign" "$CFG" 134 old CSAGENT_ACCOUNT_CRASH_AT=generated
crash_at "promoted-beside-two-foreign" "$CFG" 134 new CSAGENT_ACCOUNT_CRASH_AT=promoted
check_eq "the first foreign key is still the same key" "$pubf" "$(pub_of "$(id_uri "$fid1")")"

# --- 5. the daemon holds the lock only while it renews -------------------
say "== csagent run does not hold the account lock while it sleeps"
rm -f "$STATE/status.json"
DLOG=$W/logs/daemon.log
"$CSAGENT" -c "$CFG" run >"$DLOG" 2>&1 </dev/null &
DPID=$!
# stopped below; killed on the way out if a check went wrong before
trap 'r=$?; kill -9 "$DPID" 2>/dev/null; (exit $r); agt_cleanup' EXIT
# status.json is written after the first round, once the session is open
# (a readiness wait, bounded; nothing races it).
for _ in $(seq 300); do [ -s "$STATE/status.json" ] && break; sleep 0.1; done
check "the daemon finished its first round and sleeps (status.json)" test -s "$STATE/status.json"
pub0=$(pub_of "$ACCT")
CSAGENT_ACCOUNT_LOCK_WAIT=0 csa roll-daemon "$CFG" account rollover
check_rc "a rollover while the daemon sleeps gets the account lock at once" 0
check_no_out "it did not wait for the daemon" "waiting up to"
check_ne "the account key changed" "$pub0" "$(pub_of "$ACCT")"
kill -USR1 "$DPID"
for _ in $(seq 600); do
    grep -Eq "app: certificate swapped in|renewal failed" "$DLOG" && break
    sleep 0.1
done
check "the daemon renews with the rolled-over key (SIGUSR1)" grep -q "app: certificate swapped in" "$DLOG"
check "with the same account" grep -q "account $url1 (existing)" "$DLOG"
check "and registers no new account" test "$(grep -c '(created)' "$DLOG")" = 0
kill -TERM "$DPID" 2>/dev/null
wait "$DPID"
check_eq "the daemon stops on SIGTERM" 0 "$?"
trap agt_cleanup EXIT

# --- 6. what an older csagent left: a .next key the CA knows, no journal --
say "== an older csagent's interrupted rollover (no journal)"
pubold=$(pub_of "$ACCT")
{ CSAGENT_ACCOUNT_CRASH_AT=changed "$CSAGENT" -c "$CFG" account rollover \
    >"$W/logs/legacy.out" 2>"$W/logs/legacy.err" </dev/null; } 2>/dev/null
check_eq "rollover crashed after the CA accepted" 134 "$?"
new=$(journal_new_id)
pubnew=$(pub_of "$(id_uri "$new")")
csa_list
oldid=$(ids_of private-key "$ACCT")
rm -f "$JOURNAL" # as an older csagent, which kept no journal
csa legacy-show "$CFG" account show
check_rc "account show settles it with the CA" 0
check_eq "the account is the original one" "$url1" "$(acct_url)"
check_out "it says what it found" "left by an interrupted rollover of an older csagent"
check_out "it tells how to delete the kept old key" "kept as '$ACCT[.]retired' id ${oldid% }.*delete it yourself"
csa_list
check_eq "the key the CA knows is the account key" "$pubnew" "$(pub_of "$ACCT")"
check_eq "one private key labelled '$ACCT'" 1 "$(count private-key "$ACCT")"
check_eq "the old key is kept under '$ACCT.retired', not deleted" "$oldid" "$(ids_of private-key "$ACCT.retired")"
check_eq "the foreign keys are untouched" "$FOREIGN_NEXT" "$(ids_of private-key "$ACCT.next")"
check "no journal was written" test ! -e "$JOURNAL"
csa legacy-show-2 "$CFG" account show
check_rc "a second account show" 0
check_out "the kept key is reported, not deleted" "'$ACCT[.]retired' id ${oldid% }: no account journal names it"
csa_list
check_eq "the old key is still under '$ACCT.retired'" "$oldid" "$(ids_of private-key "$ACCT.retired")"
csa enroll-last "$CFG" enroll app
check_rc "an enrollment after all that" 0
check_out "it uses the same account" "account $url1 [(]existing[)]"
agt_finish
