#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Error paths (invariant 5: a clear error, nothing lost, nothing
# half-written).  With identity A enrolled, each failure below must give
# the documented exit code and a message naming the problem, leave A's
# certificate and key in place (same serial, same key) with nothing under
# A's label.next and no journal, and leave no objects at all for a
# never-enrolled identity N:
#   CA unreachable (closed port) -> 5;  TLS that does not verify -> 5;
#   issued chain not verifying to the configured trust anchor -> 6;
#   challenge hook declining, after the next key was generated -> non-zero;
#   wrong PIN -> 4 (and that PIN is not printed either).
#   errors.sh WORKDIR
. "$(dirname "$0")/lib.sh"
export PEBBLE_AUTHZREUSE=0
agt_setup "$1" agt-errors --always-valid
CFG=$W/good.ini
ids() { identity A a-key p256 a.build.example.com "" "${1:-$HOOK_OK}"
        identity N n-key p256 n.build.example.com "" "${1:-$HOOK_OK}"; }
agt_config "$CFG" < <(ids)
csa enroll-good "$CFG" enroll A
check_rc "enroll A" 0
status_serial "$CFG" A; serial0=$SERIAL
pubA() { "$CSAGENT" -c "$CFG" pubkey --label a-key --pem 2>/dev/null </dev/null | md5sum; }
pub0=$(pubA)
csa_list; nobj0=$(grep -c 'label=' "$W/list.txt")

nothing_lost() { # WHAT
    CFG=$W/good.ini
    check_clean_pair A a-key "$CFG"
    status_serial "$CFG" A
    check_eq "$1: A keeps its certificate" "$serial0" "$SERIAL"
    check_eq "$1: A keeps its key" "$pub0" "$(pubA)"
    csa_list
    check_eq "$1: no object labelled n-key* on the token" 0 "$(grep -c 'label="n-key' "$W/list.txt")"
    check_eq "$1: the token holds the same number of objects" "$nobj0" "$(grep -c 'label=' "$W/list.txt")"
    check "$1: no journal for A or N" test ! -e "$STATE/A.journal" -a ! -e "$STATE/N.journal"
}

say "== CA unreachable"
port=$(for i in $(seq 200); do p=$((20000 + RANDOM % 40000))
       (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo $p; break; }; done)
agt_config "$W/closed.ini" directory="https://127.0.0.1:$port/dir" < <(ids)
for id in A N; do
    t0=$(date +%s)
    csa "closed-$id" "$W/closed.ini" enroll $id
    check_rc "enroll $id with the CA on a closed port" 5
    check_out "the error names the directory URL" "127\\.0\\.0\\.1:$port"
    check_out "the error says the connection failed" "[Cc]onnect|refused|unreachable"
    check "it failed fast ($(( $(date +%s) - t0 ))s <= 20s)" test $(( $(date +%s) - t0 )) -le 20
done
nothing_lost "CA unreachable"

say "== TLS that does not verify (ca_bundle = another CA)"
agt_config "$W/badtls.ini" ca_bundle="$PEBBLE_ROOTS" < <(ids)
for id in A N; do
    csa "badtls-$id" "$W/badtls.ini" enroll $id
    check_rc "enroll $id with a CA bundle that does not match the server" 5
    check_out "the error mentions the certificate / TLS verification" \
        "[Cc]ertificate|TLS|SSL|verif"
done
nothing_lost "TLS failure"

say "== issued chain does not verify to the configured trust anchor"
agt_config "$W/anchor.ini" trust_anchor="$PEBBLE_CA_BUNDLE" < <(ids)
csa anchor-A "$W/anchor.ini" enroll A
check_rc "renew A with a trust anchor that is not Pebble's root" 6
check_out "the error names chain verification" "chain|verif|issuer"
check_out "the error says the issued certificate was refused" "refused"
csa anchor-N "$W/anchor.ini" enroll N
check_rc "enroll N with the wrong trust anchor" 6
nothing_lost "wrong trust anchor"

say "== challenge hook declines (after the next key was generated)"
NO=$W/hook-no.sh
printf '#!/bin/sh\nexit 1\n' >"$NO"; chmod 755 "$NO"
agt_config "$W/decline.ini" < <(identity A a-key p256 a2.build.example.com "" "$NO"
                                 identity N n-key p256 n2.build.example.com "" "$NO")
for id in A N; do
    csa "decline-$id" "$W/decline.ini" enroll $id
    check_rc_nonzero "enroll $id with a hook that declines http-01"
    check_out "the error says no challenge was accepted" "accepted by the hook|hook"
    check_out "the pending key was generated first (so the roll-back is exercised)" \
        "generated .* key '${id,,}-key.next'"
done
nothing_lost "hook declined"

say "== wrong PIN"
echo "wrong-pin-$RANDOM$RANDOM" >"$W/wrong-pin"
chmod 600 "$W/wrong-pin"
sed "s|^pin_file = .*|pin_file = $W/wrong-pin|" "$W/good.ini" >"$W/wrongpin.ini"
csa wrong-pin "$W/wrongpin.ini" -v enroll A
check_rc "enroll with a wrong PIN: token/PIN error" 4
check_out "the error says the PIN was refused" "PIN|C_Login"
check "the wrong PIN is not printed either" \
    bash -c '! grep -qF "$(cat "$1")" "$2" "$3"' _ "$W/wrong-pin" "$AGT_OUT" "$AGT_ERR"
check_eq "C_Login was tried once, never retried" 1 "$(grep -c 'C_Login ->' "$AGT_ERR")"
nothing_lost "wrong PIN"

say "== secret files others could read, and PINs on the command line"
cp "$CSA_PIN_FILE" "$W/pin-0640"; chmod 640 "$W/pin-0640"
ln -sf "$CSA_PIN_FILE" "$W/pin-link"
for f in pin-0640 pin-link; do
    sed "s|^pin_file = .*|pin_file = $W/$f|" "$W/good.ini" >"$W/$f.ini"
    csa "secret-$f" "$W/$f.ini" -v enroll A
    check_rc "enroll with pin_file = $f: refused as a configuration error" 3
    check_out "the error names the file" "secret file $W/$f"
    check_no_out "no C_Login was made with it" "C_Login ->"
done
check_out "the fix is named" "symbolic link"
csa secret-0640-list "$W/good.ini" list --pin-file "$W/pin-0640"
check_out "list refuses it too and says how to fix it" "chmod 600"
csa pin-flag "$W/good.ini" list --pin "$PIN"
check_rc "--pin is refused" 2
check_out "the refusal says why" "a PIN never goes on the command line"
csa pin-abbrev "$W/good.ini" list --pin-f "$PIN"
check_rc "an abbreviated --pin-file is refused" 2
check_out "the refusal says options are never abbreviated" "never abbreviated"
for n in $(seq $((AGT_NLOG - 1)) "$AGT_NLOG"); do
    check "the PIN given on the command line is not echoed ($n)" \
        bash -c '! grep -qF "$1" "$2"/logs/"$3"-*' _ "$PIN" "$W" "$(printf %02d "$n")"
done
agt_finish
