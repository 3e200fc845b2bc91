#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# 1. Renewal loop.  csca issues 60-second certificates; three identities;
# `csagent run` for ~150 s renews each of them at least twice (new serials,
# "swapped in" log lines), and meanwhile, every ~2 s (0.5 s pause plus the
# signing itself), a signer that knows only the PKCS#11 URI (certificate
# and key from the token through pkcs11-provider) signs with every label,
# and the signature must verify, with a currently valid certificate, to
# csca's root (invariant 3 seen from the signer's side).
#
# Each attempt is counted by its outcome (sign_by_uri's SIGN_KIND):
#   ok        signed and verified;
#   mismatch  "key values mismatch": the key under the label is not the
#             certificate the signer read: a failure, unless the label's
#             certificate changed between the signer's two lookups (kind
#             "straddle", below);
#   straddle  "key values mismatch" where the certificate the signer read
#             is no longer under the label right after the attempt and the
#             daemon logged that identity's swap after the signer began:
#             a signer that looks the certificate and then the key up by
#             label, in two steps, had the whole swap fall between them.
#             No order of the swap can prevent that (signers that must not
#             see a swap run under `csagent exec`); it is counted and
#             reported, and accepted only when the next attempt succeeds;
#   badsig    a signature that does not verify with the certificate it
#             carries (key and certificate of different pairs): always a
#             failure;
#   nocert/nokey  the signer found no certificate (or no key) under the
#             label: with a rotated key the label has no complete pair for
#             a moment inside swap step "aside" (agent/agt_swap.h); this
#             is accepted only when the daemon swapped that identity in
#             within 3 s and the very next attempt succeeds;
#   anything else fails the test.
. "$(dirname "$0")/lib.sh"
DURATION=${DAEMON_LOOP_SECONDS:-150}
d_setup "$1" dloop a.example.com b.example.com c.example.com
csca_start --validity 60s --always-valid
CFG=$W/agent.ini
d_config "$CFG" retry_base=2s retry_max=10s < <(
    identity a loop-a a.example.com
    identity b loop-b b.example.com
    identity c loop-c c.example.com)
csa register account register
check_rc "account register" 0
declare -A first
for id in a b c; do
    csa enroll-$id enroll $id
    check_rc "first enrollment of $id" 0
    token_cert loop-$id "$W/first-$id.pem"
    first[$id]=$("$OPENSSL_BIN" x509 -in "$W/first-$id.pem" -noout -serial | cut -d= -f2)
done

LOG=$W/daemon.log
daemon_start "$LOG"
declare -A serials signs sfail gap
KINDS="ok mismatch badsig straddle gap other"
declare -A kinds
for k in $KINDS; do kinds[$k]=0; done
for id in a b c; do
    serials[$id]="${first[$id]}" signs[$id]=0 sfail[$id]=0 gap[$id]=0
done
# swapped_after ID MS: did the daemon log a swap of ID at or after MS
# (epoch milliseconds)?
swapped_after() {
    local t
    while read -r t; do
        t=$(date -d "$t" +%s%3N 2>/dev/null) || continue
        [ "$t" -ge "$2" ] && return 0
    done < <(grep "\] $1: certificate swapped in" "$LOG" | cut -d' ' -f1)
    return 1
}
# raced_swap ID EPOCH: did the daemon swap ID in within 3 s of EPOCH?  (A
# bounded wait: "swapped in" is logged when the swap is finished.)
raced_swap() {
    local t i
    for i in $(seq 1 20); do
        sleep 0.2
        while read -r t; do
            t=$(date -d "$t" +%s 2>/dev/null) || continue
            [ $((t - $2)) -le 3 ] && [ $(($2 - t)) -le 3 ] && return 0
        done < <(grep "\] $1: certificate swapped in" "$LOG" | cut -d' ' -f1)
        [ "$(date +%s)" -gt $(($2 + 3)) ] && [ "$i" -ge 5 ] && break
    done
    return 1
}
end=$(( $(date +%s) + DURATION ))
rounds=0
while [ "$(date +%s)" -lt "$end" ]; do
    kill -0 "$DPID" 2>/dev/null || { fail "the daemon died: $(tail -3 "$LOG")"; break; }
    rounds=$((rounds + 1))
    for id in a b c; do
        signs[$id]=$((signs[$id] + 1))
        if sign_by_uri loop-$id "$id-$rounds"; then
            kinds[ok]=$((kinds[ok] + 1))
            case " ${serials[$id]} " in *" $SIGN_SERIAL "*) ;;
            *) serials[$id]="${serials[$id]} $SIGN_SERIAL" ;; esac
            continue
        fi
        kind=$SIGN_KIND why=$SIGN_WHY at=$(date +%s) t0=$SIGN_T0 read=$SIGN_SERIAL
        if [ "$kind" = mismatch ]; then
            # The daemon logs "swapped in" once the swap is finished, which
            # can be a second after the label changed: a bounded wait.
            for _ in $(seq 1 50); do
                swapped_after "$id" "$t0" && break
                sleep 0.2
            done
            now=$(token_cert loop-$id "$W/now-$id.pem" &&
                "$OPENSSL_BIN" x509 -in "$W/now-$id.pem" -noout -serial | cut -d= -f2)
            if [ -n "$now" ] && [ "$now" != "$read" ] && swapped_after "$id" "$t0"; then
                if sign_by_uri loop-$id "$id-$rounds-again"; then
                    kinds[straddle]=$((kinds[straddle] + 1))
                    info "sign #${signs[$id]} with loop-$id straddled a swap (certificate $read read, then the swap to $now, then the key): $why; the next attempt succeeded"
                    continue
                fi
                why="$why; and the next attempt failed too [$SIGN_KIND]: $SIGN_WHY"
            fi
        fi
        case $kind in
        mismatch | badsig)
            kinds[$kind]=$((kinds[$kind] + 1))
            sfail[$id]=$((sfail[$id] + 1))
            bug MIXED-PAIR "$(date -u +%T) sign #${signs[$id]} with label loop-$id [$kind]: the label gave a key and a certificate of different pairs (certificate $read, no swap between the two lookups to explain it): $why" ;;
        nocert | nokey)
            if raced_swap "$id" "$at" && sign_by_uri loop-$id "$id-$rounds-again"; then
                # The moment of step aside where a rotated key has no
                # complete pair under the label; right after, it is whole.
                kinds[gap]=$((kinds[gap] + 1))
                gap[$id]=$((gap[$id] + 1))
                info "sign #${signs[$id]} with loop-$id found no pair [$kind] during a swap, then succeeded: $why"
            else
                kinds[other]=$((kinds[other] + 1))
                sfail[$id]=$((sfail[$id] + 1))
                fail "$(date -u +%T) sign #${signs[$id]} with label loop-$id [$kind] away from any swap (or the next attempt failed too: ${SIGN_KIND:-ok}): $why"
            fi ;;
        *)
            kinds[other]=$((kinds[other] + 1))
            sfail[$id]=$((sfail[$id] + 1))
            fail "$(date -u +%T) sign #${signs[$id]} with label loop-$id failed [$kind]: $why" ;;
        esac
    done
    sleep 0.5
done
daemon_stop
check_eq "csagent run stops on SIGTERM with exit status" 0 "$DRC"
info "daemon log: $(count_log "$LOG" 'swapped in') swaps, $(count_log "$LOG" 'renewal failed') failures"
for id in a b c; do
    n=$(count_log "$LOG" "\] $id: certificate swapped in under label 'loop-$id'")
    check_ge "identity $id: 'certificate swapped in' lines in the daemon log" 2 "$n"
    nser=$(echo ${serials[$id]} | wc -w)
    check_ge "identity $id: distinct serials seen by the signer (first ${first[$id]}: ${serials[$id]})" 3 "$nser"
    check_eq "identity $id: failed URI signatures out of ${signs[$id]} (${gap[$id]} found no pair during a swap and succeeded right after)" 0 "${sfail[$id]}"
    check_clean_pair $id loop-$id "after the loop ($id)"
done
info "URI signatures by outcome: $(for k in $KINDS; do printf '%s=%s ' "$k" "${kinds[$k]}"; done)"
check_eq "signatures by a key and a certificate of different pairs (key values mismatch with no swap between the signer's lookups)" 0 "${kinds[mismatch]}"
check_eq "signatures that do not verify with the certificate they carry" 0 "${kinds[badsig]}"
check_ge "signatures that signed and verified" 1 "${kinds[ok]}"
check_eq "'renewal failed' lines in the daemon log" 0 "$(count_log "$LOG" 'renewal failed')"
check_no_pin "$LOG" "$W"/logs/*
d_finish
