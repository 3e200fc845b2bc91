#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# csagent exec (docs/cli.md, docs/signing.md).  After a first enrollment:
#  1. the environment COMMAND gets: URIs pinned by the current key's id=,
#     the chain file whose leaf is the token's certificate, the PIN file's
#     path and never the PIN (read from /proc of the running command, which
#     is csagent's own process: exec replaces itself);
#  2. exit codes: COMMAND's own, 128+N for a signal, 127 for a missing
#     command, 126 for one that is not executable, 2/3 for usage/config;
#  3. refusals before COMMAND runs: no key, no certificate, two keys, a
#     certificate for another key, a stale chain file;
#  4. the docs/signing.md recipes: openssl cms through pkcs11-provider (and
#     a batch in one exec), osslsigncode through libp11 when installed;
#  5. a renewal waits for exec (command blocked on a FIFO): while it waits
#     the label still resolves to the old pair and the command still signs;
#     released, the renewal completes and the label moves on;
#  6. with signer_wait = 1s the renewal gives up (exit 1, journal at
#     "stored", old pair in place); a second exec meanwhile still signs with
#     the old pair; after the signer ends, `csagent run --once` finishes it.
# No step sleeps and hopes: the command under exec reports on files and
# waits on a FIFO; the test waits (bounded) for those files or log lines.
#   exec.sh WORKDIR
. "$(dirname "$0")/lib.sh"
agt_enrolled "$1" agt-exec exec.build.example.com
[ "$AGT_RC" = 0 ] || agt_finish

# The recipe's OpenSSL configuration (docs/signing.md), verbatim: module
# and PIN file from the environment csagent exec sets.
SIGNCNF=$W/signing.cnf
"$(dirname "$0")/../../softhsm-conf/openssl-provider.sh" "$SIGNCNF" \
    '$ENV::CSAGENT_MODULE' '$ENV::CSAGENT_PIN_FILE' "$PKCS11_PROVIDER" ||
    fatal "cannot write $SIGNCNF"
export SIGNCNF OPENSSL_BIN

# The command under exec for the blocking parts: reports its pid on
# $DIR/ready, then obeys lines from the FIFO $DIR/ctl: "sign N" signs
# $DIR/art with the pinned URIs into $DIR/art.N.p7s and reports on
# $DIR/done.N; "exit" ends it.  Everything it does is logged to $DIR/log.
HOLD=$W/hold.sh
cat >"$HOLD" <<'H'
#!/bin/sh
d=$1
exec 2>>"$d/log"
env | grep '^CSAGENT_' | sort >"$d/env"
echo $$ >"$d/ready.tmp" && mv "$d/ready.tmp" "$d/ready"
while read -r op n; do
    case $op in
    sign)
        OPENSSL_CONF=$SIGNCNF "$OPENSSL_BIN" cms -sign -binary -nocerts -in "$d/art" \
            -signer "$CSAGENT_CERT_URI" -inkey "$CSAGENT_KEY_URI" \
            -certfile "$CSAGENT_CHAIN_FILE" -outform DER -out "$d/art.$n.p7s"
        echo $? >"$d/done.$n.tmp" && mv "$d/done.$n.tmp" "$d/done.$n" ;;
    exit) exit 0 ;;
    esac
done <"$d/ctl"
exit 3
H
chmod 755 "$HOLD"

# wait_file / wait_grep: bounded wait for a condition another process
# makes true (never a fixed sleep); returns 1 when it did not happen.
wait_file() { # FILE SECONDS
    local i=0
    while [ ! -e "$1" ] && [ $i -lt $(($2 * 10)) ]; do sleep 0.1; i=$((i + 1)); done
    [ -e "$1" ]
}
wait_grep() { # ERE FILE SECONDS
    local i=0
    while ! grep -Eq -- "$1" "$2" 2>/dev/null && [ $i -lt $(($3 * 10)) ]; do
        sleep 0.1; i=$((i + 1))
    done
    grep -Eq -- "$1" "$2" 2>/dev/null
}

# hold_start NAME CONFIG: csagent -c CONFIG exec sig -- hold.sh in the
# background, with its control FIFO opened on descriptor 7.  Sets HD (its
# directory) and HPID.
hold_start() {
    HD=$W/$1
    rm -rf "$HD" && mkdir -p "$HD" && mkfifo "$HD/ctl"
    echo "artefact of $1" >"$HD/art"
    "$CSAGENT" -c "$2" exec "$ID" -- "$HOLD" "$HD" \
        >"$W/logs/$1.out" 2>"$W/logs/$1.err" </dev/null &
    HPID=$!
    if ! wait_file "$HD/ready" 30; then
        fail "$1: the command under exec did not start: $(cat "$W/logs/$1.err")"
        return 1
    fi
    # Read-write: opening never blocks, whatever the command does.
    exec 7<>"$HD/ctl"
}
# hold_sign N: the held command signs once; returns its openssl status.
hold_sign() {
    echo "sign $1" >&7
    wait_file "$HD/done.$1" 30 || { echo timeout; return 1; }
    return "$(cat "$HD/done.$1")"
}
# hold_end: the held command exits; sets HRC to exec's exit status.
hold_end() {
    echo exit >&7
    exec 7>&-
    wait "$HPID"; HRC=$?
}
# verify_p7s P7S CONTENT: the CMS verifies to Pebble's root (with the
# chain it carries); prints the signer certificate's serial.
verify_p7s() {
    "$OPENSSL_BIN" cms -verify -binary -inform DER -in "$1" -content "$2" \
        -CAfile "$PEBBLE_ROOTS" -purpose any -out /dev/null \
        -signer "$1.signer.pem" >"$1.verify.log" 2>&1 || return 1
    "$OPENSSL_BIN" x509 -in "$1.signer.pem" -noout -serial | sed 's/^serial=//'
}
# serial of the certificate the token's label resolves to right now
token_serial() {
    token_cert "$LABEL" "$W/now.pem" &&
        "$OPENSSL_BIN" x509 -in "$W/now.pem" -noout -serial | sed 's/^serial=//'
}
# the id of the key labelled LABEL, as a URI's id= (%XX per byte)
pct_id() { sed 's/\(..\)/%\1/g' <<<"$1" | tr a-f A-F; }

status_serial "$CFG" "$ID"; SERIAL0=$SERIAL
csa_list
KEYID0=$(ids_of private-key "$LABEL" | tr -d ' ')
check "the enrolled key has an id ($KEYID0)" grep -Eq '^[0-9a-f]+$' <<<"$KEYID0"

say "== 1. the environment of COMMAND"
ENVCMD=$W/env.sh
printf '#!/bin/sh\nenv | grep "^CSAGENT_" | sort >"$1"\nprintf "%%s\\n" "$@" >"$1.argv"\n' >"$ENVCMD"
chmod 755 "$ENVCMD"
csa env "$CFG" exec "$ID" -- "$ENVCMD" "$W/env.txt"
check_rc "exec $ID -- env.sh" 0
ev() { sed -n "s/^$1=//p" "$W/env.txt"; }
tok_enc=$(printf '%s' "$CSA_TOKEN_LABEL" | sed 's/[^A-Za-z0-9._~-]/-/g')
[ "$tok_enc" = "$CSA_TOKEN_LABEL" ] || fatal "test token label needs no encoding"
want="pkcs11:token=$CSA_TOKEN_LABEL;object=$LABEL;id=$(pct_id "$KEYID0");type=private"
check_eq "CSAGENT_KEY_URI pins the current key by id=" "$want" "$(ev CSAGENT_KEY_URI)"
check_eq "CSAGENT_CERT_URI is the same with type=cert" "${want%;type=private};type=cert" \
    "$(ev CSAGENT_CERT_URI)"
check_eq "CSAGENT_IDENTITY" "$ID" "$(ev CSAGENT_IDENTITY)"
check_eq "CSAGENT_LABEL" "$LABEL" "$(ev CSAGENT_LABEL)"
check_eq "CSAGENT_KEY_ID is the key's CKA_ID" "$KEYID0" "$(ev CSAGENT_KEY_ID)"
check_eq "CSAGENT_SERIAL is the enrolled serial" "$SERIAL0" "$(ev CSAGENT_SERIAL)"
check_eq "CSAGENT_CHAIN_FILE" "$STATE/$ID.pem" "$(ev CSAGENT_CHAIN_FILE)"
check_eq "CSAGENT_PIN_FILE is the PIN file's absolute path" \
    "$(realpath "$CSA_PIN_FILE")" "$(ev CSAGENT_PIN_FILE)"
check_eq "no CSAGENT_PIN_FD for a PIN file" "" "$(ev CSAGENT_PIN_FD)"
check_eq "CSAGENT_MODULE" "$CSA_MODULE" "$(ev CSAGENT_MODULE)"
check_eq "COMMAND's argv is exactly what followed --" "$W/env.txt" "$(cat "$W/env.txt.argv")"
# The certificate URI resolves, through pkcs11-provider, to the token's
# certificate, and the chain file starts with that very certificate.
if p11ssl x509 -in "$(ev CSAGENT_CERT_URI)" -outform DER -out "$W/uri-cert.der" 2>"$W/uri-cert.err"; then
    check "CSAGENT_CHAIN_FILE's first certificate is the one CSAGENT_CERT_URI names" \
        cmp -s "$W/uri-cert.der" <("$OPENSSL_BIN" x509 -in "$STATE/$ID.pem" -outform DER)
    check_eq "its serial" "$SERIAL0" \
        "$("$OPENSSL_BIN" x509 -inform DER -in "$W/uri-cert.der" -noout -serial | sed 's/^serial=//')"
else
    fail "pkcs11-provider cannot load CSAGENT_CERT_URI: $(cat "$W/uri-cert.err")"
fi
check_eq "the chain file holds leaf and issuer" 2 "$(grep -c 'BEGIN CERT' "$STATE/$ID.pem")"
csa by-label "$CFG" exec "$LABEL" -- sh -c 'echo "$CSAGENT_IDENTITY"'
check_rc "exec by the identity's label" 0
check_out "the label names the identity" "^$ID\$"

say "== 1b. the PIN is in neither argv nor environment of the running command"
if hold_start pin "$CFG"; then
    pid=$(cat "$HD/ready")
    check_eq "COMMAND runs in csagent's own process (execvp: same pid)" "$HPID" "$pid"
    check "/proc/$pid/cmdline is the command (hold.sh)" \
        grep -q "hold.sh" <(tr '\0' ' ' <"/proc/$pid/cmdline")
    if grep -qF -- "$PIN" "/proc/$pid/cmdline" "/proc/$pid/environ"; then
        fail "the PIN is in /proc/$pid/cmdline or environ of the command"
    else
        pass "the PIN is in neither /proc/$pid/cmdline nor /proc/$pid/environ ($(tr '\0' '\n' <"/proc/$pid/environ" | grep -c .) variables)"
    fi
    check "the PIN is in no environment variable the command saw" \
        bash -c '! grep -qF -- "$1" "$2"' _ "$PIN" "$HD/env"
    # The use lock is held shared: another shared holder gets it, an
    # exclusive one does not.
    check "while the command runs, $STATE/$ID.use cannot be taken exclusive" \
        bash -c '! flock -n -x "$1" true' _ "$STATE/$ID.use"
    check "... and can be taken shared (signers run side by side)" \
        flock -n -s "$STATE/$ID.use" true
    hold_end
    check_eq "exec exits with the held command's status" 0 "$HRC"
    check "after exec ended, the use lock is free" flock -n -x "$STATE/$ID.use" true
fi

say "== 1c. fd:N PIN source: /dev/fd/N, readable by the command (more than once)"
sed "s|^pin_file = .*|pin_file = fd:5|" "$CFG" >"$W/agent-fd.ini"
"$CSAGENT" -c "$W/agent-fd.ini" exec "$ID" -- sh -c \
    'c=$(eval "cat <&$CSAGENT_PIN_FD"); a=$(cat "$CSAGENT_PIN_FILE");
     b=$(cat "/dev/fd/$CSAGENT_PIN_FD");
     [ -n "$a" ] && [ "$a" = "$b" ] && [ "$a" = "$c" ] &&
         echo "fd=$CSAGENT_PIN_FD file=$CSAGENT_PIN_FILE same"' \
    5< <(cat "$CSA_PIN_FILE") >"$W/logs/fd.out" 2>"$W/logs/fd.err" </dev/null
rc=$?
check_eq "exec with pin_file = fd:5 (a pipe) exits 0" 0 "$rc"
check "the command read the PIN from descriptor 5, then twice from /dev/fd/5 (exec's login consumed nothing)" \
    grep -qx 'fd=5 file=/dev/fd/5 same' "$W/logs/fd.out"
# (the PIN itself went to a variable of the child shell only; logs/ is
# checked for it at the end)

say "== 2. exit codes"
csa rc7 "$CFG" exec "$ID" -- sh -c 'exit 7'
check_rc "COMMAND exits 7" 7
csa sig "$CFG" exec "$ID" -- sh -c 'kill -TERM $$'
check_rc "COMMAND killed by SIGTERM: 128+15 as for any process" 143
csa missing "$CFG" exec "$ID" -- "$W/no-such-command"
check_rc "COMMAND does not exist" 127
check_out "the error names the command" "cannot execute '.*no-such-command'"
printf 'not executable\n' >"$W/noexec"; chmod 644 "$W/noexec"
csa noexec "$CFG" exec "$ID" -- "$W/noexec"
check_rc "COMMAND is not executable" 126
csa nocmd "$CFG" exec "$ID" --
check_rc "no COMMAND" 2
csa noid "$CFG" exec nobody -- true
check_rc "unknown identity" 3
check_out "the error names it" "no identity named 'nobody'"

say "== 3. refusals: COMMAND does not run"
# A second identity on the same token that was never enrolled.
CFGB=$W/agent-bare.ini
agt_config "$CFGB" < <(identity "$ID" "$LABEL" p256 exec.build.example.com;
    identity bare bare-key p256 bare.build.example.com)
MARK=$W/ran
refused() { # NAME RC ERE DESCRIPTION [CONFIG]
    rm -f "$MARK"
    csa "$1" "${5:-$CFGB}" exec "${6:-bare}" -- sh -c ": >'$MARK'"
    check_rc "$4" "$2"
    check_out "$4: the error says what was found" "$3"
    check "$4: COMMAND did not run" test ! -e "$MARK"
}
refused no-key 1 "no private key is labelled 'bare-key'" "no key under the label"
"$CSAGENT" -c "$CFGB" keygen --label bare-key --type p256 >/dev/null 2>"$W/keygen.err" </dev/null ||
    fatal "keygen bare-key: $(cat "$W/keygen.err")"
refused no-cert 1 "no certificate labelled 'bare-key' carries the key's id [0-9a-f]+ \(0 certificate" \
    "a key without a certificate"
# A certificate with the key's label and id but another key's public key
# (Pebble's root), written as a public object with OpenSC's pkcs11-tool.
csa_list
BAREID=$(ids_of private-key bare-key | tr -d ' ')
if command -v pkcs11-tool >/dev/null; then
    "$OPENSSL_BIN" x509 -in "$PEBBLE_ROOTS" -outform DER -out "$W/other.der"
    if pkcs11-tool --module "$CSA_MODULE" --token-label "$CSA_TOKEN_LABEL" \
        --write-object "$W/other.der" --type cert --label bare-key --id "$BAREID" \
        >"$W/p11tool.log" 2>&1 </dev/null; then
        refused wrong-cert 6 "is not for the private key with id $BAREID: their public keys differ" \
            "a certificate for another key under the label"
    else
        info "pkcs11-tool could not write a certificate without login; mismatch case not run: $(tail -1 "$W/p11tool.log")"
    fi
else
    info "pkcs11-tool (opensc) not installed: the key/certificate mismatch case is not run"
fi
"$CSAGENT" -c "$CFGB" keygen --label bare-key --type p256 --force >/dev/null 2>>"$W/keygen.err" </dev/null
refused two-keys 1 "2 private keys are labelled 'bare-key' .*ids [0-9a-f]+, [0-9a-f]+" "two keys under the label"
# The enrolled identity with a chain file that is not its certificate's.
cp "$STATE/$ID.pem" "$W/chain.keep"
cp "$PEBBLE_ROOTS" "$STATE/$ID.pem"
refused stale-chain 6 "chain file .*$ID.pem starts with certificate serial [0-9A-F]+, but the token's certificate labelled '$LABEL' is serial $SERIAL0" \
    "a chain file whose leaf is not the token's certificate" "$CFG" "$ID"
cp "$W/chain.keep" "$STATE/$ID.pem"

say "== 4. recipes of docs/signing.md"
echo "release artefact" >"$W/artefact"
# 4a. openssl cms -sign through pkcs11-provider with the pinned URIs
csa cms "$CFG" exec "$ID" -- sh -c '
    OPENSSL_CONF=$SIGNCNF "$OPENSSL_BIN" cms -sign -binary -nocerts -in "$1" \
        -signer "$CSAGENT_CERT_URI" -inkey "$CSAGENT_KEY_URI" \
        -certfile "$CSAGENT_CHAIN_FILE" -outform DER -out "$1.p7s"' _ "$W/artefact"
check_rc "exec -- openssl cms -sign (provider, pinned URIs)" 0
s=$(verify_p7s "$W/artefact.p7s" "$W/artefact")
check_eq "the CMS verifies with openssl cms -verify -CAfile <root>, signed by the enrolled certificate" \
    "$SERIAL0" "$s"
check_eq "the CMS carries leaf and issuer, once each (-nocerts -certfile chain)" 2 \
    "$("$OPENSSL_BIN" cms -cmsout -print -inform DER -in "$W/artefact.p7s" | grep -c 'subject:')"
echo tampered >"$W/artefact.bad"
check "and a tampered artefact is refused" bash -c '! "$0" cms -verify -binary -inform DER -in "$1" -content "$2" -CAfile "$3" -purpose any -out /dev/null 2>/dev/null' \
    "$OPENSSL_BIN" "$W/artefact.p7s" "$W/artefact.bad" "$PEBBLE_ROOTS"
# 4b. a batch: many files, one exec, one lock hold
mkdir -p "$W/batch"
for i in 1 2 3 4 5; do echo "file $i" >"$W/batch/f$i.bin"; done
csa batch "$CFG" exec "$ID" -- sh -c '
    set -e
    for f in "$1"/*.bin; do
        OPENSSL_CONF=$SIGNCNF "$OPENSSL_BIN" cms -sign -binary -nocerts -in "$f" \
            -signer "$CSAGENT_CERT_URI" -inkey "$CSAGENT_KEY_URI" \
            -certfile "$CSAGENT_CHAIN_FILE" -outform DER -out "$f.p7s"
    done' _ "$W/batch"
check_rc "exec -- a shell loop signing 5 files" 0
ok=0
for i in 1 2 3 4 5; do
    [ "$(verify_p7s "$W/batch/f$i.bin.p7s" "$W/batch/f$i.bin")" = "$SERIAL0" ] && ok=$((ok + 1))
done
check_eq "batch signatures that verify to the root" 5 "$ok"
# 4c. osslsigncode (Authenticode) through libp11's pkcs11 engine
ENGINE=$(ls /usr/lib/*/engines-3/pkcs11.so 2>/dev/null | head -1)
MINGW=$(command -v x86_64-w64-mingw32-gcc || true)
if command -v osslsigncode >/dev/null && [ -n "$ENGINE" ] && [ -n "$MINGW" ]; then
    printf '#include <stdio.h>\nint main(void) { puts("signed by csagent exec"); return 0; }\n' >"$W/hello.c"
    "$MINGW" -o "$W/hello.exe" "$W/hello.c" >"$W/mingw.log" 2>&1 ||
        fatal "mingw: $(cat "$W/mingw.log")"
    csa osslsigncode "$CFG" exec "$ID" -- sh -c '
        osslsigncode sign -pkcs11engine "$2" -pkcs11module "$CSAGENT_MODULE" \
            -pkcs11cert "$CSAGENT_CERT_URI" \
            -key "$CSAGENT_KEY_URI?pin-source=file:$CSAGENT_PIN_FILE" \
            -ac "$CSAGENT_CHAIN_FILE" -h sha256 -n "Example App" \
            -in "$1" -out "$1.signed.exe"' _ "$W/hello.exe" "$ENGINE"
    check_rc "exec -- osslsigncode sign (libp11 engine, pin-source=file:)" 0
    osslsigncode verify -CAfile "$PEBBLE_ROOTS" -in "$W/hello.exe.signed.exe" \
        >"$W/ossl-verify.log" 2>&1
    # Pebble's leaves carry serverAuth/clientAuth, not codeSigning, so
    # osslsigncode's verdict is "failed" on the purpose alone; everything
    # else is checked: digest, signer, and the chain built from the
    # signature's own certificates (-ac) up to the root given as CAfile.
    check "osslsigncode verify: the PE digest matches the signed one" \
        awk '/^Current message digest/{c=$NF} /^Calculated message digest/{k=$NF} END{exit !(c!="" && c==k)}' \
        "$W/ossl-verify.log"
    check "osslsigncode verify: signed by the pinned certificate (serial $SERIAL0)" \
        grep -Eq "Serial : $SERIAL0\$" "$W/ossl-verify.log"
    check "osslsigncode verify: PKCS7_verify accepts signature and chain (-ac carried the issuer)" \
        bash -c '! grep -Eq "PKCS7_verify error|unable to get local issuer" "$1" && grep -q "Signing certificate chain verified using" "$1" && grep -q "Subject: /CN=Pebble Intermediate" "$1"' _ "$W/ossl-verify.log"
    check_eq "osslsigncode verify: the only complaint is the missing codeSigning EKU of Pebble's leaf" \
        "Unsupported Signer's certificate purpose XKU_CODE_SIGN" \
        "$(grep -iE "unsupported|error|invalid" "$W/ossl-verify.log" | sort -u | tr '\n' ' ' | sed 's/ $//')"
    # The control: without -ac the same signature's chain does not verify.
    csa osslsigncode-noac "$CFG" exec "$ID" -- sh -c '
        osslsigncode sign -pkcs11engine "$2" -pkcs11module "$CSAGENT_MODULE" \
            -pkcs11cert "$CSAGENT_CERT_URI" \
            -key "$CSAGENT_KEY_URI?pin-source=file:$CSAGENT_PIN_FILE" \
            -h sha256 -in "$1" -out "$1.noac.exe"' _ "$W/hello.exe" "$ENGINE"
    check_rc "exec -- osslsigncode sign without -ac" 0
    check "without -ac the chain does not verify (unable to get local issuer certificate)" \
        grep -q "unable to get local issuer certificate" \
        <(osslsigncode verify -CAfile "$PEBBLE_ROOTS" -in "$W/hello.exe.noac.exe" 2>&1)
else
    info "osslsigncode, libp11's engine (libengine-pkcs11-openssl) or MinGW (gcc-mingw-w64-x86-64-win32) missing: the Authenticode recipe is not run"
fi

say "== 5. a renewal waits for exec"
CFGW=$W/agent-wait.ini
agt_config "$CFGW" < <(echo "signer_wait = 60s"; identity "$ID" "$LABEL" p256 exec.build.example.com)
if hold_start wait "$CFGW"; then
    "$CSAGENT" -c "$CFGW" enroll "$ID" >"$W/logs/renew-wait.out" 2>"$W/logs/renew-wait.err" </dev/null 7>&- &
    rpid=$!
    if wait_grep "waiting up to 60s for the signers of identity '$ID'" "$W/logs/renew-wait.err" 30; then
        pass "the renewal logs that it waits for the signers: $(grep -m1 'waiting up to' "$W/logs/renew-wait.err")"
        check "the renewal is still waiting" kill -0 "$rpid"
        check_eq "meanwhile the label resolves to the old certificate" "$SERIAL0" "$(token_serial)"
        csa_list
        check_eq "... one private key under the label" 1 "$(count private-key "$LABEL")"
        check_eq "... one certificate under the label" 1 "$(count certificate "$LABEL")"
        hold_sign 1; rc=$?
        check_eq "the held command signs while the renewal waits" 0 "$rc"
        check_eq "... with the pinned (old) pair; it verifies to the root" "$SERIAL0" \
            "$(verify_p7s "$HD/art.1.p7s" "$HD/art")"
    else
        fail "the renewal never said it waits for the signers: $(tail -3 "$W/logs/renew-wait.err" | tr '\n' ' ')"
    fi
    hold_end
    check_eq "exec ends with its command" 0 "$HRC"
    wait "$rpid"; rrc=$?
    check_eq "the renewal, no longer held, completes" 0 "$rrc"
    [ "$rrc" = 0 ] || say "    $(grep -i error "$W/logs/renew-wait.err" | head -2)"
    SERIAL1=$(token_serial)
    check_ne "the label resolves to the new certificate" "$SERIAL0" "$SERIAL1"
    check_clean_pair "$ID" "$LABEL" "$CFG"
    csa after "$CFG" exec "$ID" -- sh -c 'echo "$CSAGENT_SERIAL $CSAGENT_KEY_ID"'
    check_out "the next exec pins the new certificate" "^$SERIAL1 "
fi

say "== 6. signer_wait = 1s: the renewal gives up, the next command finishes it"
CFG1=$W/agent-1s.ini
agt_config "$CFG1" < <(echo "signer_wait = 1s"; identity "$ID" "$LABEL" p256 exec.build.example.com)
SERIAL1=${SERIAL1:-$(token_serial)}
if hold_start giveup "$CFG1"; then
    csa renew-1s "$CFG1" enroll "$ID"
    check_rc "the renewal that waited 1s fails" 1
    check_out "it says why" "held by another process for longer than the wait allowed"
    check "its journal is left in $STATE/$ID.journal" test -s "$STATE/$ID.journal"
    check_eq "the journal is at step 'stored'" stored \
        "$(sed -n 's/.*"step" *: *"\([^"]*\)".*/\1/p' "$STATE/$ID.journal" 2>/dev/null)"
    check_eq "the label still resolves to the pinned certificate" "$SERIAL1" "$(token_serial)"
    csa_list
    check_eq "... one private key under the label" 1 "$(count private-key "$LABEL")"
    check_eq "... one certificate under the label" 1 "$(count certificate "$LABEL")"
    check_pairs "while the swap is pending" "$LABEL"
    if token_cert "$LABEL.next" "$W/next.pem"; then
        SERIAL2=$("$OPENSSL_BIN" x509 -in "$W/next.pem" -noout -serial | sed 's/^serial=//')
        pass "the renewed certificate waits under '$LABEL.next' (serial $SERIAL2)"
    else
        fail "no certificate under '$LABEL.next' while the swap is pending"
    fi
    # Another signer starting now: the pending swap cannot take the lock
    # from the running one, so it signs with the pair in place.
    csa exec-pending "$CFG1" exec "$ID" -- sh -c 'echo "serial=$CSAGENT_SERIAL"'
    check_rc "a second exec while the swap is pending" 0
    check_out "... is given the pair the label resolves to" "^serial=$SERIAL1\$"
    hold_sign 1; rc=$?
    check_eq "the held command still signs after the renewal gave up" 0 "$rc"
    check_eq "... with the pinned pair" "$SERIAL1" "$(verify_p7s "$HD/art.1.p7s" "$HD/art")"
    hold_end
    check_eq "exec ends with its command" 0 "$HRC"
    csa run-once "$CFG" run --once
    check_rc "csagent run --once after the signer ended" 0
    check "the journal is gone" test ! -e "$STATE/$ID.journal"
    check_eq "the label resolves to the renewed certificate" "${SERIAL2:-?}" "$(token_serial)"
    check_clean_pair "$ID" "$LABEL" "$CFG"
    check "the chain file's leaf is the renewed certificate" \
        cmp -s <("$OPENSSL_BIN" x509 -in "$STATE/$ID.pem" -outform DER) \
        <("$OPENSSL_BIN" x509 -in "$W/now.pem" -outform DER)
fi
agt_finish
