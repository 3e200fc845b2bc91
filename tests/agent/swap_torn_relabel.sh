#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A relabel torn by a kill (invariant 3).  SoftHSM's file store rewrites
# an object in place (truncate, then write): a process killed inside
# C_SetAttributeValue loses that object.  p11shim's P11SHIM_TEAR=n
# reproduces it: the n-th C_SetAttributeValue of an `enroll` destroys its
# object and SIGKILLs the process.  Calls 1-3 promote the new key, public
# key and certificate (journal "stored"), 4-6 retire the old ones
# ("promoted"); with rotate = no, 1 promotes the certificate, 2 retires
# the old one.  Each time: right after the kill the label still has a key
# whose certificate carries the same id; the next start recovers to
# exactly one pair whose key matches its certificate (rolled back when the
# new pair lost a piece, rolled forward otherwise), and a renewal then
# succeeds.
#   swap_torn_relabel.sh WORKDIR   (P11SHIM = path of p11shim.so)
. "$(dirname "$0")/lib.sh"
[ -f "${P11SHIM:-}" ] || skip "p11shim.so not built (P11SHIM=${P11SHIM:-unset})"
agt_setup "$1" agt-torn --always-valid
CFG=$W/agent.ini
ID=sig LABEL=sig-key
agt_config "$CFG" < <(identity "$ID" "$LABEL" p256 torn.build.example.com)
csa enroll-first "$CFG" enroll "$ID"
check_rc "first enrollment" 0
export P11SHIM_MODULE=$CSA_MODULE

tok_serial() {
    token_cert "$LABEL" "$W/cur.pem" &&
        "$OPENSSL_BIN" x509 -in "$W/cur.pem" -noout -serial | cut -d= -f2
}

# tear_each CONFIG N KIND: tears C_SetAttributeValue 1..N of a renewal.
tear_each() {
    local cfg=$1 max=$2 kind=$3 n
    sed "s|^module = .*|module = $P11SHIM|" "$cfg" >"$W/shim.ini"
    for n in $(seq 1 "$max"); do
        say "== $kind: C_SetAttributeValue #$n torn by a kill"
        before=$(tok_serial)
        P11SHIM_TEAR=$n csa "tear-$n" "$W/shim.ini" enroll "$ID"
        check_rc "enroll killed inside C_SetAttributeValue #$n" 137
        check_out "the shim destroyed the object and killed csagent" "P11SHIM_TEAR: object"
        step=$(jq -r .step "$STATE/$ID.journal" 2>/dev/null || echo none)
        info "journal after the kill: $step"
        csa_list || fail "list"
        nk=$(count private-key "$LABEL") nc=$(count certificate "$LABEL")
        check "right after: '$LABEL' still has a key ($nk) and a certificate ($nc)" \
            test "$nk" -ge 1 -a "$nc" -ge 1
        c=" $(ids_of certificate "$LABEL") " paired=0
        for k in $(ids_of private-key "$LABEL"); do
            case "$c" in *" $k "*) paired=1 ;; esac
        done
        check_eq "right after: a key labelled '$LABEL' has its certificate under the label" 1 "$paired"
        csa "recover-$n" "$cfg" account show
        check_rc "account show after the kill (recovery)" 0
        if [ "$step" = stored ] && grep -q "is gone from the token" "$AGT_ERR"; then
            pass "recovery saw the lost piece of the new pair and rolled back"
            check_eq "the previous certificate stays" "$before" "$(tok_serial)"
        elif [ "$step" = stored ] || [ "$step" = promoted ]; then
            check_out "recovery finished the swap" "finishing a swap interrupted at step $step"
            check_ne "the renewed certificate is in place" "$before" "$(tok_serial)"
        fi
        check_clean_pair "$ID" "$LABEL" "$cfg"
        csa "renew-$n" "$cfg" enroll "$ID"
        check_rc "a renewal after the recovery" 0
        check_clean_pair "$ID" "$LABEL" "$cfg"
    done
}
tear_each "$CFG" 6 "new key"

# rotate = no: only the certificates are relabelled (new: call 1, old: 2).
CFG=$W/agent-keep.ini
agt_config "$CFG" < <(identity "$ID" "$LABEL" p256 torn.build.example.com; echo "rotate = no")
tear_each "$CFG" 2 "kept key"
agt_finish
