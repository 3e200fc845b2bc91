#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# failure.sh WORKDIR CASE : a draft-05 challenge that must fail, with a clear
# error and a non-zero exit, and nothing stored on the token (no key or
# certificate under the label or label.next).
#   wrong-otp      token seed differs from csca's: exactly one answer POSTed
#   totp-replay    two enrollments in the same 30 s TOTP step: the second
#                  waits for the next step instead of replaying it
#   expired-admin  cert-01 with an expired administrator certificate
#   admin-unregistered  cert-01 with an admin cert that chains to the anchor
#                  but is not registered for the organisation
#   otp-wrong      otp-01 program gives a wrong code: one answer, refused
#   otp-program-fails  otp-01 program exits 1: nothing answered
#   ppkp-unreg     ppkp-01 with a key csca does not know
#   forbidden      org requires cert-01, identity allows only totp-01: the
#                  agent refuses and never answers it (forbidden-named: the
#                  message must name cert-01 -- fails, agent bug)
#   policy-forbids identity lists cert-01, the policy forbids it: exit 6
#                  before any order or authorization at the CA
. "$(dirname "$0")/lib.sh"
d_setup "$1"
case=$2
CFG=$W/agent.ini
L=release-signing
case "$case" in
wrong-otp)
    csca_org totp-01
    otp_setup totp totp-1 release-totp
    new_seed "$W/other.b32"
    tcsa otp-import otp-import --label release-totp --file "$W/other.b32" --force
    check_rc "re-import a DIFFERENT seed under release-totp (--force)" 0
    csca_start
    identity release $L totp-01 "otp_secret = release-totp" | d_config "$CFG"
    register "$CFG"
    stats_reset
    csa enroll "$CFG" enroll release
    check_rc_nonzero "enroll with a wrong TOTP seed"
    check_rc "a CA refusal is exit 5" 5
    check_out "the error names the refusal" "incorrectResponse"
    check_out "the error names the challenge type" "totp-01"
    st=$(stats)
    check_eq "answers POSTed to the challenge (exactly one attempt)" 1 "$(stat_of "$st" challenge)"
    check_eq "csca refused one answer (log: chall -> 400 incorrectResponse)" 1 \
        "$(csca_saw 'POST /chall/[^ ]+ -> 400.*incorrectResponse')"
    check_eq "no finalize" 0 "$(stat_of "$st" finalize)"
    check_nothing_stored $L
    ;;
totp-replay)
    csca_org totp-01
    otp_setup totp totp-1 release-totp
    csca_start
    identity release $L totp-01 "otp_secret = release-totp" | d_config "$CFG"
    register "$CFG"
    # both enrollments well inside one 30 s step
    s=$(( $(date +%s) % 30 ))
    if [ "$s" -gt 22 ]; then info "waiting $((31 - s)) s for a fresh TOTP step"; sleep $((31 - s)); fi
    step0=$(( $(date +%s) / 30 ))
    csa enroll "$CFG" enroll release
    check_rc "first enrollment in TOTP step $step0" 0
    status_serial "$CFG" release
    first=$SERIAL
    check_ne "first enrollment: a serial in csagent status" "" "$first"
    t0=$(date +%s)
    csa enroll "$CFG" enroll release
    step1=$(( $(date +%s) / 30 ))
    # The agent never answers a step twice for one seed: it waits for the
    # next step (agt_totp_step), and csca has nothing to refuse.
    check_rc "second enrollment in the same step waits for the next one" 0
    check_out "the agent says it waits for the next step" "was used already; waiting"
    check "second enrollment ended in a later step than the first ($step1 > $step0)" \
        test "$step1" -gt "$step0"
    check_eq "csca refused no answer" 0 \
        "$(csca_saw 'POST /chall/[^ ]+ -> 400.*incorrectResponse')"
    status_serial "$CFG" release
    check_ne "the second certificate is in place" "$first" "$SERIAL"
    ;;
expired-admin)
    csca_org cert-01
    admin_ca
    # an admin leaf that expires one second after it starts (openssl ca with
    # explicit dates; openssl 3.0 x509 -req has no -not_after)
    mkdir -p "$W/admin/new" && : >"$W/admin/index.txt"
    cat >"$W/admin/ca.cnf" <<C
[ca]
default_ca = d
[d]
database = $W/admin/index.txt
new_certs_dir = $W/admin/new
serial = $W/admin/serial
default_md = sha256
policy = p
unique_subject = no
copy_extensions = none
[p]
organizationName = optional
commonName = supplied
[ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
C
    echo 01 >"$W/admin/serial"
    tcsa keygen keygen --label admin-old --type p256
    p11ssl req -new -key "pkcs11:${CSA_TOKEN_URI#pkcs11:};object=admin-old;type=private" \
        -subj "/O=Example Corp/CN=admin-old" -out "$W/admin/old.csr" 2>>"$W/logs/openssl.log" ||
        fatal "CSR via provider"
    nb=$(date -u -d "$("$OPENSSL_BIN" x509 -in "$W/admin/ca.pem" -noout -startdate | cut -d= -f2)" +%Y%m%d%H%M%SZ)
    na=$(date -u -d "@$(( $(date +%s) + 1 ))" +%Y%m%d%H%M%SZ)
    "$OPENSSL_BIN" ca -batch -config "$W/admin/ca.cnf" -extensions ext -notext \
        -cert "$W/admin/ca.pem" -keyfile "$W/admin/ca-key.pem" -in "$W/admin/old.csr" \
        -startdate "$nb" -enddate "$na" -out "$W/admin/old.pem" >>"$W/logs/openssl.log" 2>&1 ||
        fatal "openssl ca: $(tail -3 "$W/logs/openssl.log")"
    cs admin add --org "$ORG" --cert "$W/admin/old.pem" || fatal "admin add --cert"
    sleep 2
    check "the admin certificate has expired (openssl x509 -checkend 0 fails)" \
        bash -c "! '$OPENSSL_BIN' x509 -in '$W/admin/old.pem' -noout -checkend 0 >/dev/null"
    csca_start
    identity release $L cert-01 "cert_key = admin-old" "cert_chain = $W/admin/old.pem" | d_config "$CFG"
    register "$CFG"
    csa enroll "$CFG" enroll release
    check_rc_nonzero "enroll with an expired administrator certificate"
    check_rc "a CA refusal is exit 5" 5
    check_out "the error says the certificate expired" "[Ee]xpired|not valid|validity"
    check_out "the error names cert-01" "cert-01"
    check_nothing_stored $L
    ;;
admin-unregistered)
    # the admin certificate chains to the registered anchor but was never
    # registered for the organisation (csca admin add --cert not run)
    csca_org cert-01
    admin_ca
    admin_leaf admin-bob "$W/admin/bob.pem" -days 10
    csca_start
    identity release $L cert-01 "cert_key = admin-bob" "cert_chain = $W/admin/bob.pem" | d_config "$CFG"
    register "$CFG"
    stats_reset
    csa enroll "$CFG" enroll release
    check_rc "enroll with an unregistered administrator certificate" 5
    check_out "the error names cert-01" "cert-01"
    check_out "the error says the certificate is not registered" "[Rr]egistered|not one of|unknown"
    check_eq "answers POSTed (one)" 1 "$(stat_of "$(stats)" challenge)"
    check_nothing_stored $L
    ;;
otp-wrong | otp-program-fails)
    # otp-01: the person's program gives a wrong code (csca refuses, one
    # attempt), or fails (exit 1: nothing is sent at all)
    csca_org otp-01
    cs otp add --id rsa-token-1 --org "$ORG" --type otp || fatal "otp add"
    printf '#!/bin/sh\n[ "$CSCA_OTP_CODE" = 314159 ]\n' >"$W/verify.sh"
    if [ "$case" = otp-wrong ]; then
        printf '#!/bin/sh\necho 000000\n' >"$W/ask.sh"
    else
        printf '#!/bin/sh\necho "no token in reach" >&2\nexit 1\n' >"$W/ask.sh"
    fi
    chmod 755 "$W/verify.sh" "$W/ask.sh"
    csca_start --otp-program "$W/verify.sh"
    identity release $L otp-01 "otp_program = $W/ask.sh" | d_config "$CFG"
    register "$CFG"
    stats_reset
    csa enroll "$CFG" enroll release
    check_rc_nonzero "enroll with otp-01 ($case)"
    if [ "$case" = otp-wrong ]; then
        check_rc "a CA refusal is exit 5" 5
        check_out "csca refused the code" "incorrectResponse"
        check_eq "answers POSTed (one)" 1 "$(stat_of "$(stats)" challenge)"
    else
        check_out "the error names the otp_program and its exit status" "otp_program .*ask.sh exited with 1"
        check_eq "answers POSTed (none)" 0 "$(stat_of "$(stats)" challenge)"
    fi
    check_nothing_stored $L
    ;;
ppkp-unreg)
    csca_org ppkp-01
    ppkp_key release-ppkp          # not registered at csca
    csca_start
    identity release $L ppkp-01 "ppkp_key = release-ppkp" | d_config "$CFG"
    register "$CFG"
    stats_reset
    csa enroll "$CFG" enroll release
    check_rc_nonzero "enroll with an unregistered ppkp-01 key"
    check_rc "a CA refusal is exit 5" 5
    check_out "the error names ppkp-01" "ppkp-01"
    check_out "the error says the key is not registered" "[Rr]egistered|unknown|not known"
    check_eq "answers POSTed (one)" 1 "$(stat_of "$(stats)" challenge)"
    check_nothing_stored $L
    ;;
forbidden)
    csca_org cert-01
    otp_setup totp totp-1 release-totp
    csca_start
    identity release $L totp-01 "otp_secret = release-totp" | d_config "$CFG"
    register "$CFG"
    stats_reset
    csa enroll "$CFG" enroll release
    check_rc_nonzero "enroll when the org requires cert-01 and the identity allows only totp-01"
    check_rc "refused as policy/configuration (exit 6)" 6
    check_out "the message names what the CA asks and what the identity allows" "the CA asks for cert-01, but this identity may answer only totp-01"
    st=$(stats)
    check_eq "challenge answers csca received" 0 "$(stat_of "$st" challenge)"
    check_eq "csca's log has no POST to a challenge" 0 "$(csca_saw 'POST /chall/')"
    check_nothing_stored $L
    ;;
policy-forbids)
    # the identity lists cert-01 but the policy does not allow it: refused
    # before anything is sent to the CA or generated in the token
    csca_org cert-01
    csca_start
    identity release $L cert-01 "cert_key = admin-alice" | d_config "$CFG"
    register "$CFG"
    printf '[challenges]\nallowed = totp-01\nautomatic = totp-01\n' >"$POLICY"
    stats_reset
    csa enroll "$CFG" enroll release
    check_rc "enroll with cert-01 configured and a policy allowing only totp-01" 6
    check_out "the message names cert-01 and the rule" "challenges.allowed.*cert-01|cert-01.*challenges.allowed"
    st=$(stats)
    info "csca stats: $(tr -d ' \n' <<<"$st")"
    # (the session looks up the directory and the account before the
    # identity's policy check: those two are expected)
    for e in newAuthz newOrder authz challenge finalize; do
        check_eq "csca received no $e request" 0 "$(stat_of "$st" $e)"
    done
    check_nothing_stored $L
    ;;
*) fatal "unknown case $case" ;;
esac
d_finish
