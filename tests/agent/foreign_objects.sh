#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Another program's objects on csagent's token (invariant 3: "recovery
# deletes only objects whose CKA_ID and label the journal named").  Made
# with pkcs11-tool (OpenSC) before anything is crashed:
#   - an EC P-256 pair with no label and no id (--keypairgen without
#     --label/--id: what a module killed inside C_GenerateKeyPair, or any
#     other program, can leave);
#   - a labelled RSA pair (foreign-rsa, id f00d01), a certificate
#     (foreign-cert, id f00d02), a data object (foreign-data);
#   - objects under csagent's own derived labels that no journal named: an
#     EC pair "<label>.next" (id f00d03) and a certificate "<label>.retired"
#     (id f00d04).
# Every one of them is snapshotted attribute for attribute (pkcs11-tool
# --list-objects and csagent list, filtered to them, plus --read-object of
# their public values and a signature by each labelled private key).  Then
# csagent renewals are crashed at every journal step (CSAGENT_CRASH_AT) and
# killed right after every token-changing call (P11SHIM_KILL_AFTER, the
# calls counted first with P11SHIM_COUNT_FILE on one clean renewal), also
# with rotate = no and with retire_grace; each is recovered by the next
# start (account show), and after each the foreign objects must be there,
# unchanged (recovery never makes an object of another program's, so this
# also covers the instant of the crash), and csagent's own label must hold
# one clean pair.  Last,
# `csagent orphans` lists the unlabelled pair, deletes nothing by itself,
# and `--delete NAME` deletes exactly the object(s) listed under NAME.
#   foreign_objects.sh WORKDIR   (P11SHIM = path of p11shim.so)
. "$(dirname "$0")/lib.sh"
agt_need_shim
command -v pkcs11-tool >/dev/null || skip "pkcs11-tool not installed (Debian package opensc)"
command -v jq >/dev/null || skip "jq not installed"
ulimit -c 0 # the aborts on purpose leave no core files behind
agt_enrolled "$1" agt-foreign foreign.build.example.com
[ "$AGT_RC" = 0 ] || agt_finish
CFG_ROT=$CFG
CFG_KEEP=$W/agent-keep.ini
agt_config "$CFG_KEEP" < <(identity "$ID" "$LABEL" p256 foreign.build.example.com; echo "rotate = no")
CFG_GRACE=$W/agent-grace.ini
agt_config "$CFG_GRACE" < <(identity "$ID" "$LABEL" p256 foreign.build.example.com; echo "retire_grace = 1h")
P11=$W/p11tool
mkdir -p "$P11"

# pkcs11-tool (OpenSC 0.23) takes the user PIN only from its command line
# (--pin) or from a terminal: its prompt (util_getpass) needs stdout to be a
# tty, so neither a pipe nor a file can feed it.  The PIN is therefore on
# pkcs11-tool's command line here, and only here: it is this test's
# throwaway token with a random PIN, and csagent itself reads it from the
# PIN file only (checked at the end: no PIN in csagent's outputs).
p11tool() {
    pkcs11-tool --module "$CSA_MODULE" --token-label "$CSA_TOKEN_LABEL" \
        --login --pin "$PIN" "$@" </dev/null
}

say "== another program's objects (pkcs11-tool)"
"$OPENSSL_BIN" req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$P11/c1.key" -subj "/CN=foreign certificate" -days 30 \
    -outform DER -out "$P11/foreign-cert.der" 2>"$P11/req.err" ||
    fatal "openssl req: $(cat "$P11/req.err")"
"$OPENSSL_BIN" req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$P11/c2.key" -subj "/CN=foreign retired" -days 30 \
    -outform DER -out "$P11/foreign-retired.der" 2>>"$P11/req.err" ||
    fatal "openssl req: $(cat "$P11/req.err")"
head -c 200 /dev/urandom >"$P11/foreign-data.bin"
made=0
p11tool --keypairgen --key-type EC:prime256v1 >"$P11/gen1.log" 2>&1 && made=$((made + 1))
p11tool --keypairgen --key-type rsa:2048 --label foreign-rsa --id f00d01 \
    >"$P11/gen2.log" 2>&1 && made=$((made + 1))
p11tool --write-object "$P11/foreign-cert.der" --type cert --label foreign-cert \
    --id f00d02 >"$P11/w1.log" 2>&1 && made=$((made + 1))
p11tool --write-object "$P11/foreign-data.bin" --type data --label foreign-data \
    --application-label foreign-app >"$P11/w2.log" 2>&1 && made=$((made + 1))
p11tool --keypairgen --key-type EC:prime256v1 --label "$LABEL.next" --id f00d03 \
    >"$P11/gen3.log" 2>&1 && made=$((made + 1))
p11tool --write-object "$P11/foreign-retired.der" --type cert --label "$LABEL.retired" \
    --id f00d04 >"$P11/w3.log" 2>&1 && made=$((made + 1))
[ $made = 6 ] || fatal "pkcs11-tool made $made of 6 foreign objects: $(tail -n2 "$P11"/*.log)"
csa_list || fatal "list"
check_eq "the token lists the unlabelled foreign pair as 2 objects with no label and no id" 2 \
    "$(grep -c 'unattributed: no label and no id' "$W/list.txt")"

# snapshot FILE: every foreign object as the token shows it, one line per
# object or value, sorted; objects with no label and no id start with
# "orphan" (csagent gives every object of its own a label and an id, so
# one of its own that lost both would show up here as a change).
#  - pkcs11-tool --list-objects: the objects with no CKA_ID (the
#    unlabelled pair, the data object) or one of f00d01-f00d04, all their
#    lines joined (the handle in a data object's heading dropped: handles
#    are per session);
#  - csagent list, the same objects;
#  - the value of each public object read back (--read-object), hashed;
#  - each labelled foreign private key signs, and the signature verifies
#    with its public key read back: the key is still the same key.
snapshot() {
    local out=$1 t
    {
        p11tool --list-objects 2>/dev/null | sed 's/^Data object [0-9]*/Data object/' |
            awk 'function flush() {
                     if (b == "") return
                     if (b !~ /\| *ID: / && b ~ /\| *label: *(\||$)/) print "orphan " b
                     else if (b !~ /\| *ID: / || b ~ /\| *ID: +f00d0[1-4]( |$)/) print "p11tool " b
                 }
                 /^[^ ]/ { flush(); b = $0; next }
                 { b = b " |" $0 }
                 END { flush() }'
        "$CSAGENT" list --module "$CSA_MODULE" --token "$CSA_TOKEN_URI" \
            --pin-file "$CSA_PIN_FILE" 2>/dev/null </dev/null |
            awk 'function flush() {
                     if (b ~ /label="" id=- /) print "orphan " b
                     else if (b ~ / id=(-|f00d0[1-4]) /) print "csagent " b
                 }
                 /^[a-z]/ { flush(); b = $0; next }
                 /^ / { b = b " |" $0 }
                 END { flush() }'
        for t in "pubkey --id f00d01" "cert --id f00d02" "data --label foreign-data" \
            "pubkey --id f00d03" "cert --id f00d04"; do
            rm -f "$P11/read.bin"
            # shellcheck disable=SC2086
            p11tool --read-object --type $t -o "$P11/read.bin" >/dev/null 2>&1
            echo "read $t: $(sha256sum <"$P11/read.bin" 2>/dev/null | cut -c1-64)"
        done
        echo "sign f00d01: $(foreign_signs f00d01 SHA256-RSA-PKCS)"
        echo "sign f00d03: $(foreign_signs f00d03 ECDSA)"
    } | sort >"$out"
}
# foreign_signs ID MECHANISM: "verifies" when the private key of that id
# signs and its public key (read back) verifies the signature.  ECDSA:
# SoftHSM has no CKM_ECDSA_SHA256 (DESIGN.md), so the digest is made here
# and signed with CKM_ECDSA.
foreign_signs() {
    echo "foreign artefact" >"$P11/art"
    if [ "$2" = ECDSA ]; then
        "$OPENSSL_BIN" dgst -sha256 -binary -out "$P11/art.in" "$P11/art"
    else
        cp "$P11/art" "$P11/art.in"
    fi
    p11tool --read-object --type pubkey --id "$1" -o "$P11/pub.der" >/dev/null 2>&1 &&
        p11tool --sign --id "$1" --mechanism "$2" --signature-format openssl \
            -i "$P11/art.in" -o "$P11/art.sig" >/dev/null 2>&1 &&
        "$OPENSSL_BIN" dgst -sha256 -verify "$P11/pub.der" -keyform DER \
            -signature "$P11/art.sig" "$P11/art" >/dev/null 2>&1 &&
        echo verifies || echo "FAILS"
}

snapshot "$W/foreign-0.txt"
nsnap=$(wc -l <"$W/foreign-0.txt")
info "foreign snapshot ($nsnap lines): $W/foreign-0.txt"
check_eq "the snapshot's objects with no label and no id (the EC pair, by pkcs11-tool and csagent list)" \
    4 "$(grep -c '^orphan ' "$W/foreign-0.txt")"
check_eq "the snapshot's other foreign objects (RSA pair, certificate, data object, .next pair, .retired certificate; by pkcs11-tool and csagent list)" \
    14 "$(grep -cE '^(p11tool|csagent) ' "$W/foreign-0.txt")"
check_eq "both labelled foreign private keys sign and verify" \
    2 "$(grep -c ': verifies$' "$W/foreign-0.txt")"
check_eq "foreign values read back (none empty)" 5 \
    "$(grep -E '^read ' "$W/foreign-0.txt" | grep -cvE ': (e3b0c44298fc1c14[0-9a-f]*)?$')"

# check_foreign WHEN: the foreign objects are all there, unchanged.
check_foreign() {
    snapshot "$W/foreign-now.txt"
    if cmp -s "$W/foreign-0.txt" "$W/foreign-now.txt"; then
        pass "$1: every foreign object is there, unchanged ($nsnap attributes/values compared)"
    else
        bug FOREIGN-OBJECT-CHANGED "$1: another program's objects changed: $(diff "$W/foreign-0.txt" "$W/foreign-now.txt" | grep '^[<>]' | cut -c1-200 | tr '\n' ';')"
    fi
}

# check_own WHEN: csagent's label holds one clean pair; nothing of
# csagent's own under .next; under .retired only csagent's retired pair
# when GRACE is set (ids other than f00d01-f00d04 are csagent's).
check_own() {
    local when=$1 own
    csa_list || { fail "$when: list"; return; }
    check_eq "$when: private keys labelled '$LABEL'" 1 "$(count private-key "$LABEL")"
    check_eq "$when: certificates labelled '$LABEL'" 1 "$(count certificate "$LABEL")"
    own=$(grep -E "label=\"${LABEL}[.]next\"" "$W/list.txt" | grep -vE " id=f00d0[1-4] " | tr -s ' ' | tr '\n' ';')
    check_eq "$when: csagent's own objects under '$LABEL.next'" "" "$own"
    own=$(grep -E "label=\"${LABEL}[.]retired\"" "$W/list.txt" | grep -vcE " id=f00d0[1-4] ")
    if [ -n "${GRACE:-}" ]; then
        check "$when: csagent's retired pair under '$LABEL.retired' (0 or 3 objects: $own)" \
            test "$own" = 0 -o "$own" = 3
    else
        check_eq "$when: csagent's own objects under '$LABEL.retired' (no retire_grace)" 0 "$own"
    fi
    check "$when: no journal $STATE/$ID.journal" test ! -e "$STATE/$ID.journal"
    check_key_matches_cert "$LABEL"
}

# recover WHEN STEP: the next start recovers (account show); STEP is what
# the journal said ("none": nothing to recover).
recover() {
    local when=$1 step=$2
    csa "recover" "$CFG" account show
    check_rc "$when: account show (recovery)" 0
    case $step in
    none) ;;
    keygen | storing) check_out "$when: recovery rolled back" "rolling back a renewal interrupted" ;;
    *) check_out "$when: recovery rolled forward" "finishing a swap interrupted at step $step" ;;
    esac
    check_own "$when"
    check_foreign "$when"
}

# crash_series NAME: CSAGENT_CRASH_AT at every journal step with $CFG.
crash_series() {
    local step
    for step in keygen storing stored aside promoted; do
        say "== $1: CSAGENT_CRASH_AT=$step"
        CSAGENT_CRASH_AT=$step csa "crash-$1-$step" "$CFG" enroll "$ID"
        check_rc "$1: renewal aborted at step $step" 134
        check_eq "$1: journal left at step" "$step" \
            "$(jq -r .step "$STATE/$ID.journal" 2>/dev/null || echo none)"
        recover "$1: crash at $step" "$step"
    done
}

MUTATORS="C_GenerateKeyPair C_CreateObject C_CopyObject C_DestroyObject C_SetAttributeValue"
# shim_count FILE FN: the count p11shim wrote for FN (0 when none).
shim_count() { awk -v f="$2" '$1 == f { n = $2 } END { print n + 0 }' "$1" 2>/dev/null || echo 0; }

# kill_series NAME [MAX]: one clean renewal through p11shim counts the
# token-changing calls (minus those of a start alone, account show); then
# one renewal killed right after each of them (with MAX, right after each
# of the first MAX calls of every function only).
kill_series() {
    local name=$1 max=${2:-} fn n i b step pts=""
    agt_shim_config "$CFG"
    P11SHIM_COUNT_FILE=$W/count-$name-base csa "count-$name-base" "$W/shim.ini" account show
    check_rc "$name: a start through p11shim" 0
    P11SHIM_COUNT_FILE=$W/count-$name csa "count-$name" "$W/shim.ini" enroll "$ID"
    check_rc "$name: a counted renewal through p11shim" 0
    check_own "$name: after the counted renewal"
    for fn in $MUTATORS; do
        n=$(shim_count "$W/count-$name" $fn) b=$(shim_count "$W/count-$name-base" $fn)
        n=$((n - b))
        [ -n "$max" ] && [ "$n" -gt "$max" ] && n=$max
        for i in $(seq 1 $n); do pts="$pts $fn:$i"; done
    done
    info "$name: kill points (every token-changing call of one renewal):$pts"
    check "$name: at least 3 token-changing calls in one renewal" test "$(echo $pts | wc -w)" -ge 3
    for pt in $pts; do
        say "== $name: P11SHIM_KILL_AFTER=$pt"
        P11SHIM_KILL_AFTER=$pt csa "kill-$name-$pt" "$W/shim.ini" enroll "$ID"
        check_rc "$name: renewal killed after $pt" 137
        step=$(jq -r .step "$STATE/$ID.journal" 2>/dev/null || echo none)
        info "$name: journal after the kill: $step"
        recover "$name: kill after $pt" "$step"
    done
}

check_foreign "after the first enrollment"
# Under ASan every kill point costs several seconds: the sanitizer build
# runs the rotated-key series and the grace series' first calls; the
# normal build runs them all.
ASAN_BUILD=0
if nm -D "$CSAGENT" 2>/dev/null | grep __asan_init >/dev/null; then ASAN_BUILD=1; fi
CFG=$CFG_ROT
crash_series rotate
kill_series rotate
if [ $ASAN_BUILD = 0 ]; then
    CFG=$CFG_KEEP
    crash_series keep
    kill_series keep
else
    info "ASan build: the rotate = no series runs in the normal build"
fi
# retire_grace: the current pair is copied under "<label>.retired", next to
# the foreign certificate of that label; the next renewal deletes the
# retired pair the grace file names, and only it.
CFG=$CFG_GRACE GRACE=1
csa grace-1 "$CFG" enroll "$ID"
check_rc "grace: a renewal that keeps the retired pair" 0
check_own "grace: after a renewal"
check_foreign "grace: after a renewal"
[ $ASAN_BUILD = 0 ] && crash_series grace
# Kills right after the first 3 copies and the first 3 deletions: with a
# retired pair kept, those are the calls that act under '<label>.retired'
# (the previous retired pair deleted, the current one copied there).
kill_series grace 3
# (the retired pair stays under '<label>.retired' for its hour: GRACE
# stays set for the checks below)
CFG=$CFG_ROT

say "== csagent orphans"
orphans() { # NAME ARGS...
    local name=$1; shift
    AGT_NLOG=$((AGT_NLOG + 1))
    AGT_OUT=$W/logs/$(printf '%02d' $AGT_NLOG)-$name.out AGT_ERR=${AGT_OUT%.out}.err
    AGT_CMD="csagent orphans $*"
    "$CSAGENT" orphans --module "$CSA_MODULE" --token "$CSA_TOKEN_URI" \
        --pin-file "$CSA_PIN_FILE" "$@" >"$AGT_OUT" 2>"$AGT_ERR" </dev/null
    AGT_RC=$?
    say "  ran  - $AGT_CMD -> exit $AGT_RC"
}
names_of() { grep -oE '^orphan-[0-9a-f]+ ' "$AGT_OUT" | sort | tr -d ' ' | tr '\n' ' '; }
orphans list-1
check_rc "csagent orphans" 0
check_out "csagent orphans counts the unlabelled foreign pair" "^2 object\\(s\\) with no label and no id$"
check_eq "csagent orphans lists 2 objects" 2 "$(grep -cE '^orphan-[0-9a-f]{16} ' "$AGT_OUT")"
check_eq "one private and one public key" "private-key public-key" \
    "$(grep -E '^orphan-' "$AGT_OUT" | awk '{print $2}' | sort | tr '\n' ' ' | sed 's/ $//')"
names=$(names_of)
orphans list-2
check_eq "csagent orphans again: the same objects (nothing deleted without --delete)" "$names" "$(names_of)"
check_foreign "after csagent orphans without --delete"
orphans delete-none --delete orphan-0000000000000000
check_rc_nonzero "csagent orphans --delete of a name that is not listed"
check_out "it says nothing was deleted for it" "nothing deleted for it"
orphans list-3
check_eq "still the same objects" "$names" "$(names_of)"
first=$(echo $names | cut -d' ' -f1)
nfirst=$(echo $names | tr ' ' '\n' | grep -cx "$first")
orphans delete-one --delete "$first"
check_rc "csagent orphans --delete $first" 0
check_eq "it deleted the $nfirst object(s) named $first" "$nfirst" "$(grep -cx "$first  deleted" "$AGT_OUT")"
rest=$(echo $names | tr ' ' '\n' | grep -vx "$first" | tr '\n' ' ')
orphans list-4
check_eq "the other orphans are still there" "$rest" "$(names_of)"
check_out "the count is down by $nfirst" "^$((2 - nfirst)) object\\(s\\) with no label and no id$"
# Every other foreign object is unchanged: the snapshot without the
# objects that have no label and no id.
noorphan() { grep -v '^orphan ' "$1"; }
snapshot "$W/foreign-after.txt"
if cmp -s <(noorphan "$W/foreign-0.txt") <(noorphan "$W/foreign-after.txt"); then
    pass "after --delete $first: every other foreign object is there, unchanged"
else
    bug ORPHANS-DELETED-MORE "after --delete $first: $(diff <(noorphan "$W/foreign-0.txt") <(noorphan "$W/foreign-after.txt") | grep '^[<>]' | cut -c1-200 | tr '\n' ';')"
fi
check_eq "after --delete $first: objects with no label and no id left (csagent list)" \
    $((2 - nfirst)) "$(csa_list && grep -c 'unattributed: no label and no id' "$W/list.txt")"
check_own "after csagent orphans --delete"
agt_finish
