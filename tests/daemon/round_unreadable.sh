#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A renewal round lists every object on the token once (round_snapshot.sh)
# and reads each object's class, label and id.  An object another program
# deletes between that search and its read answers
# CKR_OBJECT_HANDLE_INVALID: the list is then incomplete, the round says
# "listing the token's objects: 1 could not be read; looking each
# identity's up alone", drops the list, and every renewal searches the
# token itself.  It must not renew from the incomplete list (an object
# missing from it would be left behind or taken for absent), lose an
# object, or mix a key and a certificate.
#
# Three identities, parallel = 2, first enrolled by one `run --once`.
# POST /csca/ari-past makes all three due; `run --once` through
# tests/p11shim, whose P11SHIM_FAIL fails the C_GetAttributeValue calls
# that read one object of the round's listing, as a deleted object would
# fail them.  Checked: exit 0, the warning once and after "3 renewal(s)
# due" (the round's listing, not the schedule's list of certificates made
# before it), three new certificates, a clean pair under each label, the
# same objects under every label as before the round (nothing lost,
# nothing left behind, no .next), and, counting C_FindObjectsInit, that
# the round searched each label and "<label>.chain" itself: at least 2
# searches per identity more than a round of the same size without the
# fault, run afterwards.
. "$(dirname "$0")/lib.sh"
[ -f "${P11SHIM:-}" ] || skip "p11shim.so not built (P11SHIM=${P11SHIM:-unset})"
N=3
doms=()
for i in $(seq 1 $N); do doms+=("u$i.example.com"); done
d_setup "$1" dunread "${doms[@]}"
csca_start --validity 1h --always-valid
# objects FILE: "class label" of every object on the token, sorted, into
# FILE (ids change with each renewal, classes and labels must not)
objects() {
    tok_list || { fail "list the token's objects"; return; }
    sed -nE 's/^([a-z-]+) +label="([^"]*)".*/\1 \2/p' "$W/list.txt" | sort >"$1"
}
CFG=$W/agent.ini
d_config "$CFG" parallel=2 < <(for i in $(seq 1 $N); do
    identity "u$i" "u$i-key" "u$i.example.com"
done)
csa register account register
check_rc "account register" 0
csa enroll run --once
check_rc "run --once (u1 to u$N first enrolled)" 0
check "$N first enrollments in one round" grep -q "$N renewal(s) due, 2 at a time" "$ERR"

WARN="could not be read; looking each identity's up alone"

say "== a) one object of the round's listing cannot be read"
# K: the first C_GetAttributeValue of the third object the round's listing
# reads.  In this configuration (3 identities enrolled, all due, parallel
# = 2) the key holder makes 15 C_GetAttributeValue calls between
# C_Initialize and the round's listing (the account key's look-up and the
# schedule's list of certificates), then reads each listed object with one
# call of CKA_CLASS, CKA_LABEL and CKA_ID (calls 16, 17, 18...).  Found by
# running this round through OpenSC's pkcs11-spy (module = pkcs11-spy.so,
# PKCS11SPY=<softhsm .so>, PKCS11SPY_OUTPUT=<log>) and counting the
# "C_GetAttributeValue" entries before the C_FindObjectsInit whose
# template is empty.  None of those calls depends on timing (the
# renewals' own token calls, whose order does, all come after the
# listing).  SoftHSM lists objects by handle, and gives handles as
# searches first find objects: the account key pair first, then the
# certificates (the schedule's list), so the third object is a
# certificate (which identity's, and whether leaf or chain, varies).  A
# deleted object fails every read: the three attributes at once (K), then
# one at a time CKA_ID (K+1) and CKA_CLASS (K+2), after which the object
# counts as unread (pkcs11/tok_object.c tok_labelled_read).  Should a
# change move the listing, the checks of the warning below fail: derive K
# again as above.
K=18
FAIL="C_GetAttributeValue:CKR_OBJECT_HANDLE_INVALID:$K"
FAIL+=";C_GetAttributeValue:CKR_OBJECT_HANDLE_INVALID:$((K + 1))"
FAIL+=";C_GetAttributeValue:CKR_OBJECT_HANDLE_INVALID:$((K + 2))"
declare -A before
for i in $(seq 1 $N); do before[$i]=$(token_serial "u$i-key"); done
objects "$W/objects-before"
check_ge "POST /csca/ari-past: every certificate due" $N \
    "$(csca_post /csca/ari-past | jq -r .updated)"
P11SHIM_FAIL=$FAIL d_shim_round unread "$W/agent.ini"
check_rc "run --once (all $N due, one listed object unreadable)" 0
check "all $N renewed in one round" grep -q "$N renewal(s) due, 2 at a time" "$ERR"
check_eq "the warning, once" 1 "$(grep -c "$WARN" "$ERR")"
check "it names one object" grep -q "listing the token's objects: 1 $WARN" "$ERR"
due_at=$(grep -n -m1 "$N renewal(s) due" "$ERR" | cut -d: -f1)
warn_at=$(grep -n -m1 "$WARN" "$ERR" | cut -d: -f1)
check "the warning is the round's (line ${warn_at:-none}, after \"due\" on line ${due_at:-none}): K hit the round's listing" \
    test "${warn_at:-0}" -gt "${due_at:-0}" -a "${due_at:-0}" -gt 0
unread=$FINDS
for i in $(seq 1 $N); do
    check_clean_pair "u$i" "u$i-key" "u$i after the round"
    check_ne "u$i: a new certificate" "${before[$i]}" "$(token_serial "u$i-key")"
done
objects "$W/objects-after"
# (an object missing from a list kept incomplete is not retired: a
# second certificate under "<label>.chain")
check "the same objects under every label as before the round (class and label; $(wc -l <"$W/objects-before") objects)" \
    cmp -s "$W/objects-before" "$W/objects-after"
diff "$W/objects-before" "$W/objects-after" | sed 's/^/    | /'

say "== b) the same round without the fault"
for i in $(seq 1 $N); do before[$i]=$(token_serial "u$i-key"); done
check_ge "POST /csca/ari-past: every certificate due" $N \
    "$(csca_post /csca/ari-past | jq -r .updated)"
d_shim_round clean "$W/agent.ini"
check_rc "run --once (all $N due, no fault)" 0
check "all $N renewed in one round" grep -q "$N renewal(s) due, 2 at a time" "$ERR"
check_eq "no warning" 0 "$(grep -c "$WARN" "$ERR")"
for i in $(seq 1 $N); do
    check_ne "u$i: a new certificate" "${before[$i]}" "$(token_serial "u$i-key")"
done
objects "$W/objects-clean"
check "the same objects under every label again" \
    cmp -s "$W/objects-before" "$W/objects-clean"
diff "$W/objects-before" "$W/objects-clean" | sed 's/^/    | /'
info "C_FindObjectsInit: $unread in the round with an unreadable object, $FINDS without"
check_ge "searches counted (the shim was used)" 1 "$FINDS"
# without the list each renewal searches at least its label
# (tok_label_census) and "<label>.chain" itself
check_ge "the round with an unreadable object searched each label and its chain itself (>= $FINDS + 2 x $N)" \
    $((FINDS + 2 * N)) "$unread"
d_finish
