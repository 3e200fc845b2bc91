#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# ephemeral.sh WORKDIR : csagent exec --ephemeral against csca (hotp-01).
#   1. a signature with a one-use key: the command gets a pinned pair whose
#      certificate ends after --lifetime (newOrder notAfter), signs with it
#      through pkcs11-provider; afterwards every object of the run is gone,
#      the chain file too, and audit.log has one line that names the
#      serial, certificate digest, key id, command, artifact digest, exit
#   2. a failing command: its exit status, objects destroyed, audit line
#   3. SIGTERM to csagent while the command runs: passed on, objects
#      destroyed, exit 143
#   4. kill -9 of csagent while the command runs: the objects stay until
#      the next csagent start, which destroys them ("interrupted" line)
#   5. refusals before the command: a lifetime outside the policy's
#      [ephemeral] range (exit 6), a CA that refuses notAfter (exit 5);
#      the command never runs, nothing stays on the token
#   6. --revoke: csca records the revocation (reason superseded)
#   7. [ephemeral] required: exec without --ephemeral and enroll refuse
#      the identity (exit 6, rule named)
# The HOTP counter is shared by the runs (csca refuses a replayed one).
. "$(dirname "$0")/lib.sh"
d_setup "$1"
csca_org hotp-01
otp_setup hotp hotp-1 rel-hotp
cat >"$POLICY" <<P
[ephemeral]
min_lifetime = 30s
max_lifetime = 10m
P
CFG=$W/agent.ini
# ca_up CSCA-OPTIONS... : (re)starts csca and points the config at it
ca_up() {
    csca_start "$@"
    d_config "$CFG" < <(identity rel release hotp-01 "otp_secret = rel-hotp")
}
ca_up --min-validity 20s --validity 1h
register "$CFG"

# eph_objects : token objects whose label contains ".eph-"
eph_objects() {
    csa_list >/dev/null || { echo "list failed"; return; }
    grep -cE '^[a-z-]+ +label="[^"]*[.]eph-' "$W/list.txt" || true
}
audit_last() { tail -1 "$STATE/audit.log" 2>/dev/null; }
jget() { # JSON KEY : a member of a JSON object (null -> "null")
    python3 -c 'import json,sys; v=json.loads(sys.argv[1]).get(sys.argv[2]); print("null" if v is None else (json.dumps(v) if isinstance(v,(list,dict,bool)) else v))' "$1" "$2"
}

# The command of run 1: signs the artifact through the provider with the
# pinned URIs, keeps copies of what it was given.
cat >"$W/sign.sh" <<S
#!/bin/sh
set -e
env | grep '^CSAGENT_' | sort >"$W/env-1"
cp "\$CSAGENT_CHAIN_FILE" "$W/chain-1.pem"
sed '1,/END CERTIFICATE/d' "\$CSAGENT_CHAIN_FILE" >"$W/issuers-1.pem"
OPENSSL_CONF=$W/openssl-p11.cnf "$OPENSSL_BIN" cms -sign -binary -md sha256 \\
    -in "$W/release.tar" -signer "\$CSAGENT_CERT_URI" -inkey "\$CSAGENT_KEY_URI" \\
    -certfile "$W/issuers-1.pem" -outform DER -out "$W/release.tar.p7s"
S
chmod 755 "$W/sign.sh"
head -c 100000 /dev/urandom >"$W/release.tar"

say "== 1. one signature, one key"
csa eph1 "$CFG" exec --ephemeral --lifetime 2m --artifact "$W/release.tar.p7s" rel -- "$W/sign.sh"
check_rc "exec --ephemeral signs" 0
check "the command got a key URI pinned by id under release.eph-*" \
    grep -qE '^CSAGENT_KEY_URI=pkcs11:token=[^;]+;object=release[.]eph-[0-9a-f]{32};id=(%[0-9A-F]{2})+;type=private$' "$W/env-1"
check "CSAGENT_IDENTITY is the configured identity" grep -qx 'CSAGENT_IDENTITY=rel' "$W/env-1"
check "no use lock is handed over (nothing else uses the pair)" sh -c "! grep -q '^CSAGENT_LOCK_FD=' '$W/env-1'"
nb=$(date -d "$("$OPENSSL_BIN" x509 -in "$W/chain-1.pem" -noout -startdate | cut -d= -f2)" +%s)
na=$(date -d "$("$OPENSSL_BIN" x509 -in "$W/chain-1.pem" -noout -enddate | cut -d= -f2)" +%s)
life=$((na - nb + 1))
check "the certificate lives at most the 2 minutes asked for (got ${life}s)" test "$life" -le 120 -a "$life" -ge 90
check_eq "the certificate is a code-signing one" "Code Signing" "$(eku_of "$W/chain-1.pem")"
check "the signature verifies with csca's root, after the key was destroyed" \
    "$OPENSSL_BIN" cms -verify -binary -inform DER -in "$W/release.tar.p7s" \
    -content "$W/release.tar" -CAfile "$CS/root.pem" -purpose any -out /dev/null
check_eq "no object of the run is left on the token" 0 "$(eph_objects)"
check "no chain file, journal or record of the run is left" \
    sh -c "! ls '$STATE' | grep -q '[.]eph-'"
check_eq "one audit line" 1 "$(wc -l <"$STATE/audit.log")"
line=$(audit_last)
info "audit: $line"
serial=$("$OPENSSL_BIN" x509 -in "$W/chain-1.pem" -noout -serial | cut -d= -f2)
fp=$("$OPENSSL_BIN" x509 -in "$W/chain-1.pem" -outform DER | sha256sum | cut -d' ' -f1)
kid=$(sed -n 's/^CSAGENT_KEY_ID=//p' "$W/env-1")
check_eq "audit: identity" rel "$(jget "$line" identity)"
check_eq "audit: outcome" ok "$(jget "$line" outcome)"
check_eq "audit: exit" 0 "$(jget "$line" exit)"
check_eq "audit: serial" "$serial" "$(jget "$line" serial)"
check_eq "audit: certificate SHA-256" "$fp" "$(jget "$line" cert_sha256)"
check_eq "audit: key id" "$kid" "$(jget "$line" key_id)"
check_eq "audit: command" "[\"$W/sign.sh\"]" "$(jget "$line" command)"
check_eq "audit: artifact digest" "$(sha256sum <"$W/release.tar.p7s" | cut -d' ' -f1)" \
    "$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["artifacts"][0]["sha256"])' "$line")"
check_eq "audit: objects destroyed (key pair, certificate, issuer)" 4 "$(jget "$line" objects_destroyed)"
check_eq "audit.log is private (0600)" 600 "$(stat -c %a "$STATE/audit.log")"

say "== 2. a failing command"
csa eph2 "$CFG" exec --ephemeral rel -- sh -c 'exit 3'
check_rc "exec returns the command's status" 3
check_eq "no object of the run is left" 0 "$(eph_objects)"
line=$(audit_last)
check_eq "audit: outcome" "command failed" "$(jget "$line" outcome)"
check_eq "audit: exit" 3 "$(jget "$line" exit)"

say "== 3. SIGTERM to csagent while the command runs"
# The command sends csagent (its parent) SIGTERM and waits to be ended by
# it: only a forwarded signal ends the wait before 60 s.
csa eph3 "$CFG" exec --ephemeral rel -- sh -c 'kill -TERM $PPID; i=0; while [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done; exit 9'
check_rc "the command was ended by the forwarded SIGTERM" 143
check_eq "no object of the run is left" 0 "$(eph_objects)"
check_eq "audit: exit" 143 "$(jget "$(audit_last)" exit)"

say "== 4. kill -9 of csagent while the command runs"
csa eph4 "$CFG" exec --ephemeral rel -- sh -c 'kill -KILL $PPID; exit 0'
check_rc "csagent died of SIGKILL" 137
n=$(eph_objects)
check "the run's key, certificate and issuer are still on the token (got $n)" test "$n" -ge 3
check "its record is in state_dir" sh -c "ls '$STATE' | grep -q '[.]eph-[0-9a-f]*[.]ephemeral\$'"
csa next "$CFG" account show
check_rc "the next csagent start" 0
check "it says it destroys what an interrupted run left" grep -q "ephemeral run was interrupted" "$D_ERR"
check_eq "no object of the run is left" 0 "$(eph_objects)"
check "no record or file of the run is left" sh -c "! ls '$STATE' | grep -q '[.]eph-'"
check_eq "audit: outcome of the killed run" interrupted "$(jget "$(audit_last)" outcome)"

say "== 4b. kill -9 at each step of the enrollment (the swap's crash points)"
token_snapshot "$W/before-4b" || fail "snapshot"
for step in keygen storing stored promoted; do
    CSAGENT_CRASH_AT=$step:kill csa "eph4b-$step" "$CFG" exec --ephemeral rel -- touch "$W/ran-4b"
    check_rc "$step: csagent died of SIGKILL at the crash point" 137
    check "$step: the command did not run" test ! -e "$W/ran-4b"
    check "$step: its record is in state_dir" sh -c "ls '$STATE' | grep -q '[.]eph-[0-9a-f]*[.]ephemeral\$'"
    n=$(eph_objects)
    # (keygen: journalled before the key is made, so none yet)
    [ $step = keygen ] ||
        check "$step: objects of the run are on the token (got $n)" test "$n" -ge 1
    csa "next4b-$step" "$CFG" account show
    check_rc "$step: the next csagent start" 0
    check_eq "$step: no object of the run is left" 0 "$(eph_objects)"
    check "$step: no record or file of the run is left" sh -c "! ls '$STATE' | grep -q '[.]eph-'"
done
token_snapshot "$W/after-4b" || fail "snapshot"
check "every other object on the token is as it was" cmp -s "$W/before-4b" "$W/after-4b"

say "== 4c. another csagent start leaves a live run alone"
# The command starts csagent itself (a start that reaps), then signs with
# its pinned key: the key must still be there.
cat >"$W/nested.sh" <<S
#!/bin/sh
"$CSAGENT" -c "$CFG" account show >"$W/nested.out" 2>"$W/nested.err" || exit 20
OPENSSL_CONF=$W/openssl-p11.cnf "$OPENSSL_BIN" cms -sign -binary -md sha256 \\
    -in "$W/release.tar" -signer "\$CSAGENT_CERT_URI" -inkey "\$CSAGENT_KEY_URI" \\
    -outform DER -out "$W/nested.p7s" || exit 21
S
chmod 755 "$W/nested.sh"
csa eph4c "$CFG" exec --ephemeral rel -- "$W/nested.sh"
check_rc "the nested start left the key in place, the command signed after it" 0
check "the nested start reaped nothing" sh -c "! grep -q 'interrupted' '$W/nested.err'"
check_eq "no object of the run is left afterwards" 0 "$(eph_objects)"

say "== 5. refusals before the command"
rm -f "$W/ran"
csa eph5a "$CFG" exec --ephemeral --lifetime 1h rel -- touch "$W/ran"
check_rc "a lifetime above [ephemeral] max_lifetime" 6
check "the error names the rule" grep -q "ephemeral.max_lifetime" "$D_ERR"
check "the command did not run" test ! -e "$W/ran"
ca_up --validity 1h
csa eph5b "$CFG" exec --ephemeral rel -- touch "$W/ran"
check_rc "a CA that refuses notAfter" 5
check "the command did not run" test ! -e "$W/ran"
check_eq "no object of the run is left" 0 "$(eph_objects)"
check_eq "audit: outcome" "not run" "$(jget "$(audit_last)" outcome)"
ca_up --min-validity 20s --validity 1h --misissue=late-not-after
csa eph5c "$CFG" exec --ephemeral --lifetime 2m rel -- touch "$W/ran"
check_rc "a certificate that ends after the notAfter asked for" 6
check "the error says so" grep -q "after the notAfter asked for" "$D_ERR"
check "the command did not run" test ! -e "$W/ran"
check_eq "no object of the run is left" 0 "$(eph_objects)"
ca_up --min-validity 20s --validity 1h

say "== 5d. the PIN from a descriptor (fd:N): only the command gets it"
# The command starts csagent (a start that reaps) and then signs: the
# run's record stays locked, its key in place; the network process never
# holds the PIN's descriptor, the command reads the PIN from it.
cat >"$W/fdcheck.sh" <<S
#!/bin/sh
# csagent's other children (its network process): none holds the PIN
: >"$W/fd-net"
for c in \$(cat /proc/\$PPID/task/*/children); do
    [ "\$c" = \$\$ ] && continue
    echo "\$c \$(tr '\\0' ' ' </proc/\$c/cmdline)" >>"$W/fd-net"
    ls -l /proc/\$c/fd/ 2>/dev/null | grep -q 'memfd:csagent-pin' && exit 23
done
"$CSAGENT" -c "$CFG" account show >"$W/fd-nested.out" 2>"$W/fd-nested.err" || exit 20
cmp -s "/dev/fd/\$CSAGENT_PIN_FD" "$CSA_PIN_FILE" || exit 22
OPENSSL_CONF=$W/openssl-p11.cnf "$OPENSSL_BIN" cms -sign -binary -md sha256 \\
    -in "$W/release.tar" -signer "\$CSAGENT_CERT_URI" -inkey "\$CSAGENT_KEY_URI" \\
    -outform DER -out "$W/fd.p7s" || exit 21
S
chmod 755 "$W/fdcheck.sh"
D_NLOG=$((D_NLOG + 1))
D_OUT=$W/logs/$D_NLOG-fd.out D_ERR=$W/logs/$D_NLOG-fd.err D_CMD="exec --ephemeral --pin-file fd:0 (PIN on stdin)"
"$CSAGENT" -c "$CFG" exec --ephemeral --pin-file fd:0 rel -- "$W/fdcheck.sh" \
    <"$CSA_PIN_FILE" >"$D_OUT" 2>"$D_ERR"
D_RC=$?
check_rc "exec --ephemeral with the PIN on descriptor 0: the nested start left the key, the command read the PIN and signed" 0
check "the nested start reaped nothing" sh -c "! grep -q 'interrupted' '$W/fd-nested.err'"
check "the network process was looked at (and held no PIN descriptor)" grep -q "__net" "$W/fd-net"
check_eq "no object of the run is left" 0 "$(eph_objects)"

say "== 6. --revoke"
csa eph6 "$CFG" exec --ephemeral --revoke rel -- sh -c 'echo "$CSAGENT_SERIAL" >'"$W/serial-6"
check_rc "exec --ephemeral --revoke" 0
check_eq "audit: revoked" true "$(jget "$(audit_last)" revoked)"
check "csca revoked it" grep -qE "POST /revoke-cert -> 200" "$CSCA_LOG"
check_eq "no object of the run is left" 0 "$(eph_objects)"

say "== 6b. csagent sign: the same, options also after IDENTITY"
n0=$(wc -l <"$STATE/audit.log")
csa sign1 "$CFG" sign rel --lifetime 2m --artifact "$W/release.tar" -- sh -c 'test -n "$CSAGENT_KEY_URI"'
check_rc "csagent sign IDENTITY --lifetime 2m -- COMMAND" 0
check_eq "one more audit line" $((n0 + 1)) "$(wc -l <"$STATE/audit.log")"
check_eq "audit: outcome" ok "$(jget "$(audit_last)" outcome)"
check_eq "no object of the run is left" 0 "$(eph_objects)"
csa sign2 "$CFG" sign rel true
check_rc "csagent sign without --" 2

say "== 7. [ephemeral] required"
printf '[ephemeral]\nmin_lifetime = 30s\nmax_lifetime = 10m\nrequired = rel\n' >"$POLICY"
csa req1 "$CFG" exec rel -- true
check_rc "exec without --ephemeral" 6
check "the error names the rule" grep -q "ephemeral.required" "$D_ERR"
csa req2 "$CFG" enroll rel
check_rc "enroll of a long-lived pair" 6
check "the error names the rule" grep -q "ephemeral.required" "$D_ERR"
csa_list >/dev/null; check_eq "no long-lived key under 'release'" 0 "$(count private-key release)"
csa req3 "$CFG" exec --ephemeral rel -- true
check_rc "exec --ephemeral is what it allows" 0
d_finish
