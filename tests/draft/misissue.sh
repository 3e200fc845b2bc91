#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# misissue.sh WORKDIR : policy end to end (issue 7).  An identity enrolled
# against a normal csca; then csca is restarted on the same state dir with
# --misissue=wrong-eku, long-lifetime, other-key in turn.  Each time the
# renewal is refused before swap-in: exit 6, a message naming the rule,
# what was expected and what was found; `csagent status` shows the same
# serial before and after, the token's objects are exactly as before, and
# no label.next objects are left.
. "$(dirname "$0")/lib.sh"
d_setup_hotp "$1"
L=release-signing
# (each csca start picks a new port: the config is rewritten with it; the
# account is found again by its key)
cfg() { identity release $L hotp-01 "otp_secret = release-hotp" | d_config "$CFG"; }
cfg
register "$CFG"
csa enroll "$CFG" enroll release
check_rc "enrollment against a normal csca" 0 || true
status_serial "$CFG" release
good=$SERIAL
check_ne "status shows a serial" "" "$good"
token_snapshot "$W/snap-good.txt" || fatal "snapshot"
for kind in wrong-eku long-lifetime other-key; do
    say "--- csca --misissue=$kind"
    case $kind in
    wrong-eku) rule='extended_key_usage'; exp='expected codeSigning'; act='got serverAuth' ;;
    # 460 d = 39744000 s (policy default), 1460 d = 126144000 s (csca 460 d + 1000 d)
    long-lifetime) rule='max_lifetime'; exp='expected <= 39744000 s'; act='got 126144000 s' ;;
    other-key) rule='public_key'; exp='expected SPKI sha256:[0-9a-f]+'; act='got SPKI sha256:[0-9a-f]+' ;;
    esac
    csca_start --misissue=$kind
    cfg
    csa enroll-$kind "$CFG" enroll release
    check_rc "renewal with --misissue=$kind is refused by verification" 6
    check_out "$kind: the message names the rule" "refused by policy rule [a-z_.]*$rule"
    check_out "$kind: the message gives the expected value" "$exp"
    check_out "$kind: the message gives the actual value" "$act"
    info "$kind: $(grep -h 'error' "$D_ERR" | tail -1)"
    if [ $kind = other-key ]; then
        e=$(grep -oE 'expected SPKI sha256:[0-9a-f]+' "$D_ERR" | cut -d: -f2)
        a=$(grep -oE 'got SPKI sha256:[0-9a-f]+' "$D_ERR" | cut -d: -f2)
        check_ne "other-key: expected and actual SPKI differ" "$e" "$a"
    fi
    check_eq "$kind: csca did issue (log line for the issued certificate)" 1 \
        "$(grep -ciE 'issued|serial' "$CSCA_LOG" | awk '{print ($1>0)}')"
    status_serial "$CFG" release
    check_eq "$kind: csagent status serial unchanged" "$good" "$SERIAL"
    token_snapshot "$W/snap-$kind.txt"
    if cmp -s "$W/snap-good.txt" "$W/snap-$kind.txt"; then
        pass "$kind: the token's objects (class, label, id) are exactly as before"
    else
        fail "$kind: the token's objects changed: $(diff "$W/snap-good.txt" "$W/snap-$kind.txt" | grep '^[<>]' | tr '\n' ' ')"
    fi
    check_eq "$kind: no $L.next/.retired objects" "" "$(pending_objects $L)"
    check "$kind: no swap journal left" test ! -e "$STATE/release.journal"
done
# and the agent still renews once csca behaves again
csca_start
cfg
csa enroll-good "$CFG" enroll release
check_rc "renewal against the normal csca again" 0
status_serial "$CFG" release
check_ne "a new serial after the good renewal" "$good" "$SERIAL"
d_finish
