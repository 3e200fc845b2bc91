#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Invariants 4 and 5 against Pebble, whose leaves carry serverAuth +
# clientAuth.  Identity A is enrolled with the test-tls profile; then, under
# a policy that does not enable test-tls:
#  - A renewed as clientauth: Pebble issues, csagent verifies the leaf and
#    refuses it because the clientauth profile forbids serverAuth: exit 6,
#    an error naming the EKU rule;
#  - A renewed as codesigning: refused too (Pebble 2.4 refuses to finalize a
#    CSR whose dns identifier is only in the CN, which is how csagent builds
#    code-signing CSRs, draft section 4; so the refusal comes from the CA,
#    exit 5, before the EKU check could run);
#  - A renewed as codesigning with csr_san = yes (the domain also in a
#    SAN): Pebble issues, and the default codesigning profile refuses the
#    serverAuth/clientAuth leaf: exit 6 naming the EKU rule;
#  - a never-enrolled identity refused the same ways leaves nothing.
# After each refusal the token is untouched: same serial, same key, no
# .next objects, no journal, state PEM unchanged.
#   policy_refusal.sh WORKDIR
. "$(dirname "$0")/lib.sh"
export PEBBLE_AUTHZREUSE=0
agt_setup "$1" agt-policy --always-valid
CFG=$W/tls.ini
agt_config "$CFG" < <(identity A a-key p256 a.build.example.com test-tls)
csa enroll-tls "$CFG" enroll A
check_rc "enroll A with the test-tls profile" 0
status_serial "$CFG" A; serial0=$SERIAL
pub0=$("$CSAGENT" -c "$CFG" pubkey --label a-key --pem 2>/dev/null </dev/null | md5sum)
cp "$STATE/A.pem" "$W/A.pem.before"

# The defaults (test-tls disabled), with hooks and Pebble's 5-year lifetime
# allowed so that the EKU is what fails.
POLICY=$W/policy-default.ini
printf '[hooks]\nallowed = true\n[certificate]\nmax_lifetime = 1900d\n' >"$POLICY"

untouched() { # CONFIG WHAT
    CFG=$1
    check_clean_pair A a-key "$1"
    status_serial "$1" A
    check_eq "$2: A keeps its previous certificate (status serial)" "$serial0" "$SERIAL"
    check_eq "$2: A keeps its previous key" "$pub0" \
        "$("$CSAGENT" -c "$1" pubkey --label a-key --pem 2>/dev/null </dev/null | md5sum)"
    check "$2: state PEM of A unchanged" cmp -s "$W/A.pem.before" "$STATE/A.pem"
}

say "== A renewed as clientauth: the issued leaf has serverAuth"
CA=$W/clientauth.ini
agt_config "$CA" < <(identity A a-key p256 a.build.example.com clientauth
                     identity C c-key p256 c.build.example.com clientauth)
csa enroll-clientauth "$CA" enroll A
check_rc "renew A as clientauth: refused by verification" 6
check_out "the error names the EKU rule" "extended_key_usage|accept_eku_serverauth"
check_out "the error names the forbidden serverAuth" "serverAuth"
check_out "the error says the issued certificate was refused for identity A" "issued certificate for identity A was refused"
check_no_out "nothing claims success" "^enrolled"
untouched "$CA" "after the clientauth refusal"

say "== A renewed as codesigning (policy default: test-tls disabled)"
CS=$W/codesigning.ini
agt_config "$CS" < <(identity A a-key p256 a.build.example.com codesigning
                     identity B b-key p256 b.build.example.com codesigning)
csa enroll-codesigning "$CS" enroll A
check_rc_nonzero "renew A as codesigning against Pebble: refused"
check_out "the error says why (Pebble refuses the CN-only CSR, or the EKU rule)" \
    "finaliz.*(CSR|identifiers)|extended_key_usage"
check_no_out "nothing claims success" "^enrolled"
untouched "$CS" "after the codesigning refusal"

say "== A renewed as codesigning with the domain also in a SAN (csr_san)"
# Pebble wants the dns identifier in a SAN; with csr_san = yes it issues,
# and the default codesigning profile refuses its serverAuth leaf.
CSS=$W/codesigning-san.ini
agt_config "$CSS" < <(identity A a-key p256 a.build.example.com codesigning
                      echo "csr_san = yes")
csa enroll-codesigning-san "$CSS" enroll A
check_rc "renew A as codesigning (SAN): refused by verification" 6
check_out "the error names the EKU rule and codeSigning" "extended_key_usage.*codeSigning|codeSigning.*extended_key_usage"
check_no_out "nothing claims success" "^enrolled"
untouched "$CSS" "after the codesigning (SAN) refusal"

say "== never-enrolled identities refused"
csa enroll-c "$CA" enroll C
check_rc "first enrollment of clientauth identity C: refused" 6
csa enroll-b "$CS" enroll B
check_rc_nonzero "first enrollment of codesigning identity B: refused"
csa_list
check_eq "no object labelled c-key* or b-key* on the token" 0 \
    "$(grep -cE 'label="(b|c)-key' "$W/list.txt")"
check "no journal and no state PEM for B or C" \
    test ! -e "$STATE/B.journal" -a ! -e "$STATE/C.journal" -a ! -e "$STATE/B.pem" -a ! -e "$STATE/C.pem"
agt_finish
