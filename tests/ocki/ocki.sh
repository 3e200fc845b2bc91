#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# ocki.sh WORKDIR : csagent, unchanged, against a second PKCS#11
# implementation: openCryptoki's software token (swtok), RSA 3072 only.
#
#  - openCryptoki keeps its configuration, token data, lock files, the slot
#    daemon's socket and pid file and its shared memory at fixed system
#    paths (/etc/opencryptoki, /var/lib/opencryptoki, /var/lock/opencryptoki,
#    /var/run/pkcsslotd.*, SysV and POSIX shared memory; no environment
#    variable moves them).  So the test re-runs itself in private mount, IPC
#    and PID namespaces (unshare) where a throwaway directory under WORKDIR
#    is bind-mounted over /etc/opencryptoki (an opencryptoki.conf with the
#    software token only) and /var/lib/opencryptoki, and fresh tmpfs are
#    mounted on /run (/var/run, /var/lock) and /dev/shm.  Its own pkcsslotd
#    runs there and is stopped at the end (trap, also on failure); when the
#    namespace's first process exits the kernel kills whatever is left in
#    it.  Nothing is visible to the host or to tests running in parallel;
#    the outer half checks that the host's openCryptoki paths are unchanged.
#  - token: `csagent token-init` with openCryptoki's factory SO PIN
#    (C_InitToken wants the current SO PIN), 8-digit user PIN; then
#    pkcsconf -P sets our own SO PIN (csagent cannot change an SO PIN).
#    Every PIN comes from a 0600 file, never a command line.
#  - csagent: keygen rsa3072, otp-import of a TOTP seed, an RSA account
#    (RS256 JWS), a codesigning enrollment at csca with totp-01, a renewal
#    that swaps in a new certificate, CSAGENT_CRASH_AT=stored then recovery
#    by `csagent run --once`, revoke; then wrong PINs on a token that
#    really counts them (COUNT_LOW, FINAL_TRY).  After each step: exit
#    code, objects on the token (csagent list), the key sensitive and not
#    extractable, and the certificate's public key equal to the token key.
# Exit: 0 passed, 1 a check failed, 77 skipped (a prerequisite missing).
set -uo pipefail
OCKI_SELF=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
# openCryptoki's factory SO PIN of a new soft token (its documentation
# tells every user to change it): not a secret.
OCKI_FACTORY_SO_PIN=87654321
OCKI_TOKEN=csagent-ocki
OCKI_SYS_DIRS=(/etc/opencryptoki /var/lib/opencryptoki /var/lock/opencryptoki)

ocki_module() {
    local m
    for m in "${OPENCRYPTOKI_MODULE:-}" \
        /usr/lib/*/pkcs11/libopencryptoki.so /usr/lib64/pkcs11/libopencryptoki.so \
        /usr/lib/opencryptoki/libopencryptoki.so; do
        [ -n "$m" ] && [ -f "$m" ] && { echo "$m"; return 0; }
    done
    return 1
}

# What the host has under openCryptoki's paths (path, type, mode, size).
ocki_host_snapshot() {
    local d
    for d in "${OCKI_SYS_DIRS[@]}" /var/run/pkcsslotd.socket /var/run/pkcsslotd.pid; do
        if [ -e "$d" ]; then
            find "$d" -printf '%p %y %m %s\n' 2>/dev/null | sort
        else
            echo "$d absent"
        fi
    done
}

# The ASan build: openCryptoki 3.8 never frees what its soft token
# (libpkcs11_sw.so) allocates in C_Initialize/C_Login, as tests/lsan.supp
# says of SoftHSM.  Its C_Finalize unloads that library, which leaves the
# leaks' frames nameless and LeakSanitizer seconds per run to give up on
# them; so csagent runs through a wrapper that preloads the ASan runtime
# (it must come first) and the soft token library, which then stays mapped
# and is named by the run's own suppressions.  The normal build runs
# csagent as it is.
ocki_asan_setup() {
    local asan sw sup="" lo
    asan=$(ldd "$CSAGENT" 2>/dev/null | awk '$1 ~ /^libasan/ {print $3; exit}')
    [ -n "$asan" ] || return 0
    sw=$(ls "$(dirname "$OPENCRYPTOKI_MODULE")"/../opencryptoki/stdll/libpkcs11_sw.so \
        /usr/lib/*/opencryptoki/stdll/libpkcs11_sw.so 2>/dev/null | head -1)
    [ -n "$sw" ] || fatal "libpkcs11_sw.so (openCryptoki's soft token) not found"
    [[ ${LSAN_OPTIONS:-} =~ (^|:)suppressions=([^:]*) ]] && sup=${BASH_REMATCH[2]}
    {
        [ -n "$sup" ] && [ -f "$sup" ] && cat "$sup"
        echo "leak:libpkcs11_sw.so"
        echo "leak:libopencryptoki.so"
    } >"$W/lsan.supp"
    lo=$(sed -E 's/(^|:)suppressions=[^:]*//' <<<"${LSAN_OPTIONS:-}")
    lo=${lo#:}
    export LSAN_OPTIONS="${lo:+$lo:}suppressions=$W/lsan.supp"
    printf '#!/bin/sh\nLD_PRELOAD=%s:%s exec %s "$@"\n' "$asan" "$sw" "$CSAGENT" \
        >"$W/csagent-asan"
    chmod 755 "$W/csagent-asan"
    info "ASan build: csagent runs with $(basename "$sw") preloaded; LSan suppressions $W/lsan.supp"
    CSAGENT=$W/csagent-asan
}

# ---- outer half: prerequisites, then the namespaces ----------------------
if [ "${OCKI_IN_NS:-}" != 1 ]; then
    . "$(dirname "$0")/../support/check.sh"
    work=${1:?usage: ocki.sh WORKDIR}
    [ -x "${CSAGENT:-}" ] || skip "CSAGENT not set to the csagent binary"
    [ -x "${CSCA:-}" ] || skip "CSCA not set to the csca binary"
    OPENSSL_BIN=${OPENSSL_BIN:-$(command -v openssl || true)}
    [ -x "$OPENSSL_BIN" ] || skip "openssl not installed"
    command -v curl >/dev/null || skip "curl not installed"
    command -v python3 >/dev/null || skip "python3 not installed"
    [ -n "${PKCS11_PROVIDER:-}" ] && [ -f "$PKCS11_PROVIDER" ] ||
        skip "pkcs11-provider not installed (PKCS11_PROVIDER=${PKCS11_PROVIDER:-unset})"
    PKCSSLOTD=${PKCSSLOTD:-/usr/sbin/pkcsslotd} PKCSCONF=${PKCSCONF:-/usr/sbin/pkcsconf}
    [ -x "$PKCSSLOTD" ] && [ -x "$PKCSCONF" ] ||
        skip "openCryptoki not installed (no pkcsslotd/pkcsconf; scripts/install-deps.sh installs the opencryptoki package)"
    OPENCRYPTOKI_MODULE=$(ocki_module) ||
        skip "libopencryptoki.so not found (package opencryptoki)"
    [ -n "${PKCS11_SPY:-}" ] && [ -f "$PKCS11_SPY" ] ||
        skip "pkcs11-spy.so not installed (package opensc-pkcs11; PKCS11_SPY=${PKCS11_SPY:-unset})"
    command -v unshare >/dev/null || skip "unshare (util-linux) not installed"
    # Mount namespaces, bind mounts and the pkcs11 group of the slot
    # daemon's socket need root (a user namespace cannot map that group).
    [ "$(id -u)" = 0 ] ||
        skip "needs root: pkcsslotd runs in a private mount/IPC/PID namespace"
    getent group pkcs11 >/dev/null ||
        fatal "the group pkcs11 does not exist although openCryptoki is installed (its postinst creates it; openCryptoki refuses a socket of another group)"
    [ -d /var/lib/opencryptoki ] && [ -d /etc/opencryptoki ] ||
        fatal "/var/lib/opencryptoki or /etc/opencryptoki missing although openCryptoki is installed"
    rm -rf "$work" && mkdir -p "$work/logs" || fatal "cannot create $work"
    W=$(cd "$work" && pwd)
    ocki_host_snapshot >"$W/host-before.txt"
    # Not a skip: a root that cannot make namespaces is a broken set-up.
    if ! unshare --mount --ipc --pid --fork --propagation private true \
        2>"$W/unshare-probe.err"; then
        fatal "unshare --mount --ipc --pid fails as root: $(cat "$W/unshare-probe.err")"
    fi
    ocki_asan_setup
    export OCKI_IN_NS=1 OCKI_WORK=$W CSAGENT CSCA OPENSSL_BIN PKCS11_PROVIDER \
        PKCS11_SPY PKCSSLOTD PKCSCONF OPENCRYPTOKI_MODULE
    # --kill-child: if unshare dies (ctest timeout), so does the namespace.
    unshare --mount --ipc --pid --fork --mount-proc --propagation private \
        --kill-child "$OCKI_SELF" "$W"
    rc=$?
    say ""
    say "host (outside the namespaces):"
    ocki_host_snapshot >"$W/host-after.txt"
    if cmp -s "$W/host-before.txt" "$W/host-after.txt"; then
        pass "the host's openCryptoki directories, socket and pid file are as before ($(wc -l <"$W/host-after.txt") entries)"
    else
        fail "the host's openCryptoki paths changed: $(diff "$W/host-before.txt" "$W/host-after.txt" | head -5 | tr '\n' ' ')"
    fi
    # The kernel ends a PID namespace's processes with its first one; show
    # that none of ours (pkcsslotd, csca) outlived it.
    ns=$(cat "$W/pidns" 2>/dev/null)
    left=""
    for p in /proc/[0-9]*; do
        [ -n "$ns" ] && [ "$(readlink "$p/ns/pid" 2>/dev/null)" = "$ns" ] &&
            left="$left ${p#/proc/}"
    done
    if [ -z "$ns" ]; then
        fail "the test in the namespace recorded no PID namespace"
    else
        check_eq "no process of the test's PID namespace $ns is left (pkcsslotd, csca)" \
            "" "$left"
    fi
    # One summary for both halves: the inner one left its counts.
    if [ -s "$W/inner.counts" ]; then
        read -r n f <"$W/inner.counts"
        CHK_CHECKS=$((CHK_CHECKS + n)) CHK_FAILS=$((CHK_FAILS + f))
    else
        fail "the test in the namespace ended early (exit $rc; see above)"
    fi
    chk_result "bugs shown by this test"
fi

# ---- inner half: in the namespaces ---------------------------------------
. "$(dirname "$0")/../draft/lib.sh"
W=$OCKI_WORK
OCK=$W/ock
SLOTD_PID=""
CSA_MODULE=$OPENCRYPTOKI_MODULE
CSA_TOKEN_URI=pkcs11:token=$OCKI_TOKEN
CSA_TOKEN_LABEL=$OCKI_TOKEN
PINS=$W/pins
CSA_PIN_FILE=$PINS/user-pin
export CSA_MODULE CSA_TOKEN_URI CSA_TOKEN_LABEL CSA_PIN_FILE

# Stops the slot daemon: SIGTERM, then SIGKILL after 5 s.  Returns 0 when
# it is gone (a zombie of ours counts as gone).
slotd_stop() {
    local st
    [ -n "$SLOTD_PID" ] || return 0
    kill "$SLOTD_PID" 2>/dev/null
    for _ in $(seq 1 50); do
        st=$(awk '{print $3}' "/proc/$SLOTD_PID/stat" 2>/dev/null)
        [ -z "$st" ] || [ "$st" = Z ] && break
        sleep 0.1
    done
    st=$(awk '{print $3}' "/proc/$SLOTD_PID/stat" 2>/dev/null)
    if [ -n "$st" ] && [ "$st" != Z ]; then
        kill -9 "$SLOTD_PID" 2>/dev/null
        SLOTD_PID=""
        return 1
    fi
    SLOTD_PID=""
    return 0
}
ocki_cleanup() {
    local rc=$?
    csca_stop
    slotd_stop
    exit $rc
}
trap ocki_cleanup EXIT
trap 'exit 130' INT TERM

# The private openCryptoki: its paths hidden behind throwaway ones.
ocki_mounts() {
    mkdir -p "$OCK/etc" "$OCK/lib/swtok/TOK_OBJ" || fatal "cannot create $OCK"
    printf 'version opencryptoki-3.1\n\nslot 0\n{\nstdll = libpkcs11_sw.so\n}\n' \
        >"$OCK/etc/opencryptoki.conf"
    chgrp -R pkcs11 "$OCK/lib" && chmod -R 0770 "$OCK/lib" ||
        fatal "cannot give $OCK/lib to the pkcs11 group"
    mount -t tmpfs -o mode=0755,size=16m ocki-run /run &&
        mkdir -m 1777 /run/lock &&
        mount -t tmpfs -o mode=1777,size=64m ocki-shm /dev/shm &&
        mount --bind "$OCK/lib" /var/lib/opencryptoki &&
        mount --bind "$OCK/etc" /etc/opencryptoki ||
        fatal "cannot mount the private openCryptoki directories"
    # openCryptoki names /var/run and /var/lock: on Debian links into /run,
    # so now on the new tmpfs; anywhere else they get a tmpfs of their own.
    [ "$(readlink -f /var/run)" = /run ] ||
        mount -t tmpfs -o mode=0755,size=16m ocki-varrun /var/run ||
        fatal "cannot mount a tmpfs on /var/run"
    [ "$(readlink -f /var/lock)" = /run/lock ] ||
        mount -t tmpfs -o mode=0755,size=16m ocki-varlock /var/lock ||
        fatal "cannot mount a tmpfs on /var/lock"
    mkdir -p /var/lock/opencryptoki/swtok &&
        chgrp -R pkcs11 /var/lock/opencryptoki &&
        chmod -R 0770 /var/lock/opencryptoki ||
        fatal "cannot create /var/lock/opencryptoki"
}

slotd_start() {
    "$PKCSSLOTD" >"$W/logs/pkcsslotd.log" 2>&1 ||
        fatal "pkcsslotd failed to start (exit $?): $(cat "$W/logs/pkcsslotd.log")"
    # It forks into the background; wait (bounded) for its socket.
    for _ in $(seq 1 50); do
        [ -S /var/run/pkcsslotd.socket ] && [ -s /var/run/pkcsslotd.pid ] && break
        sleep 0.1
    done
    [ -S /var/run/pkcsslotd.socket ] ||
        fatal "pkcsslotd made no socket /var/run/pkcsslotd.socket: $(cat "$W/logs/pkcsslotd.log")"
    SLOTD_PID=$(cat /var/run/pkcsslotd.pid)
    kill -0 "$SLOTD_PID" 2>/dev/null || fatal "pkcsslotd (pid $SLOTD_PID) is not running"
    info "pkcsslotd pid $SLOTD_PID (in the test's PID namespace)"
}

# ock_conf ARGS... : openCryptoki's pkcsconf, output into $W/pkcsconf.txt
ock_conf() { "$PKCSCONF" "$@" >"$W/pkcsconf.txt" 2>&1 </dev/null; }
lacks() { ! grep -q -- "$1" <<<"$2"; } # WORD TEXT
token_flags() { ock_conf -t && sed -n 's/^[[:space:]]*Flags: //p' "$W/pkcsconf.txt" | head -1; }

# An 8-digit PIN (openCryptoki's soft token takes 4 to 8 characters).
new_pin() {
    local p=""
    while [ ${#p} -lt 8 ]; do
        p=$p$(od -An -N4 -tu4 /dev/urandom | tr -dc 0-9)
    done
    printf '%s' "${p:0:8}" >"$1"
}

# ocki_config FILE : agent configuration (RSA account key) + stdin
ocki_config() {
    {
        echo "[token]"
        echo "module = $CSA_MODULE"
        echo "uri = $CSA_TOKEN_URI"
        echo "pin_file = $CSA_PIN_FILE"
        echo "[ca]"
        echo "directory = $DIR_URL"
        echo "ca_bundle = $CS/tls-root.pem"
        echo "trust_anchor = $CS/root.pem"
        echo "contact = mailto:release@example.com"
        echo "terms_agreed = yes"
        echo "eab_kid = eab-1"
        echo "eab_key_file = $W/eab.key"
        echo "account_key_type = rsa3072"
        echo "[agent]"
        echo "state_dir = $STATE"
        echo "policy = $POLICY"
        cat
    } >"$1"
}

# The TOTP period csca announces; each OTP answer must fall in a later
# time step than the one before (csca never accepts a step twice), so
# before an enrollment wait for the step after the last one used.
OTP_PERIOD=5
LAST_STEP=-1
fresh_totp_step() {
    while [ $(($(date +%s) / OTP_PERIOD)) -le "$LAST_STEP" ]; do sleep 0.2; done
}
totp_used() { LAST_STEP=$(($(date +%s) / OTP_PERIOD)); }

# The private key labelled LABEL (after csa_list): sensitive, not
# extractable, RSA 3072.
check_key_attrs() { # WHEN LABEL
    local a
    a=$(attrs private-key "$2")
    check "$1: private key '$2' is sensitive, not extractable, always sensitive, never extractable, token, private ($a)" \
        grep -q 'sensitive=yes extractable=no always-sensitive=yes never-extractable=yes token=yes private=yes' <<<"$a"
    check "$1: '$2' is an RSA 3072 key" \
        grep -qE "^private-key +label=\"$2\" .*type=RSA 3072" "$W/list.txt"
}

# The certificate labelled $2 read from the token (pkcs11-provider) carries
# the token key's public key (csagent pubkey --pem).
check_cert_matches_key() { # WHEN LABEL
    local when=$1 label=$2
    csa pubkey "$CFG" pubkey --label "$label" --pem
    cp "$D_OUT" "$W/pub-key.pem"
    if ! p11ssl x509 -in "pkcs11:token=$OCKI_TOKEN;object=$label;type=cert" \
        -out "$W/tokcert.pem" 2>"$W/tokcert.err"; then
        fail "$when: read certificate '$label' from the token via pkcs11-provider: $(head -3 "$W/tokcert.err")"
        return
    fi
    "$OPENSSL_BIN" x509 -in "$W/tokcert.pem" -noout -pubkey >"$W/pub-cert.pem"
    if [ -s "$W/pub-key.pem" ] && cmp -s "$W/pub-key.pem" "$W/pub-cert.pem"; then
        pass "$when: the token certificate '$label' carries the token key '$label' (csagent pubkey --pem)"
    else
        fail "$when: the certificate '$label' on the token does not carry the key '$label' (pubkey exit $D_RC: $(head -c 200 "$D_ERR"))"
    fi
    TOK_SERIAL=$("$OPENSSL_BIN" x509 -in "$W/tokcert.pem" -noout -serial | cut -d= -f2)
}

# Exactly one key + certificate under LABEL, nothing pending, no journal,
# the key's attributes and the certificate's key.
check_pair() { # WHEN
    csa_list || { fail "$1: list the token"; return; }
    check_eq "$1: private keys labelled '$LABEL'" 1 "$(count private-key "$LABEL")"
    check_eq "$1: public keys labelled '$LABEL'" 1 "$(count public-key "$LABEL")"
    check_eq "$1: certificates labelled '$LABEL'" 1 "$(count certificate "$LABEL")"
    check_eq "$1: no '$LABEL.next'/'$LABEL.retired' objects" "" "$(pending_objects "$LABEL")"
    check "$1: no journal $STATE/$ID.journal" test ! -e "$STATE/$ID.journal"
    check_key_attrs "$1" "$LABEL"
    check_cert_matches_key "$1" "$LABEL"
}

# ---- set-up ---------------------------------------------------------------
# PINs, the OTP seed and the EAB key are secrets: every file is 0600.
umask 077
readlink /proc/self/ns/pid >"$W/pidns"
ocki_mounts
slotd_start
mkdir -p "$PINS" && chmod 700 "$PINS"
printf '%s' "$OCKI_FACTORY_SO_PIN" >"$PINS/factory-so-pin"
new_pin "$PINS/so-pin"
new_pin "$CSA_PIN_FILE"
check "the PIN files are mode 0600" test "$(stat -c %a "$PINS/so-pin" "$CSA_PIN_FILE" | sort -u)" = 600
ock_conf -s
check_eq "pkcsconf: exactly one slot (the software token of our opencryptoki.conf)" 1 \
    "$(grep -c '^Slot #' "$W/pkcsconf.txt")"
fl=$(token_flags)
info "fresh software token: flags $fl"

# ---- token-init -------------------------------------------------------------
# openCryptoki's C_InitToken checks the SO PIN against the current one (the
# factory PIN on a new token; SoftHSM takes any SO PIN for an empty slot),
# so csagent token-init gets the factory SO PIN and sets label + user PIN.
tcsa_init() {
    D_NLOG=$((D_NLOG + 1))
    D_OUT=$W/logs/$(printf '%02d' $D_NLOG)-token-init.out D_ERR=${D_OUT%.out}.err
    D_CMD="csagent token-init --module $CSA_MODULE --label $OCKI_TOKEN ..."
    "$CSAGENT" token-init --module "$CSA_MODULE" --label "$OCKI_TOKEN" \
        --so-pin-file "$1" --pin-file "$CSA_PIN_FILE" >"$D_OUT" 2>"$D_ERR" </dev/null
    D_RC=$?
    say "  ran  - $D_CMD -> exit $D_RC"
}
tcsa_init "$PINS/factory-so-pin"
check_rc "csagent token-init (factory SO PIN, 8-digit user PIN from files)" 0
fl=$(token_flags)
check "token flags after token-init: TOKEN_INITIALIZED and USER_PIN_INITIALIZED ($fl)" \
    grep -q 'USER_PIN_INITIALIZED.*TOKEN_INITIALIZED' <<<"$fl"
check "the user PIN need not be changed (no USER_PIN_TO_BE_CHANGED)" \
    lacks USER_PIN_TO_BE_CHANGED "$fl"
check "pkcsconf shows the label '$OCKI_TOKEN'" grep -q "Label: $OCKI_TOKEN" "$W/pkcsconf.txt"
# csagent has no command to change an SO PIN (C_SetPIN as SO): openCryptoki's
# pkcsconf -P does it, reading old, new and new again from stdin (the files).
{ cat "$PINS/factory-so-pin"; echo; cat "$PINS/so-pin"; echo; cat "$PINS/so-pin"; echo; } |
    "$PKCSCONF" -P -c 0 >"$W/logs/pkcsconf-P.log" 2>&1
check "pkcsconf -P -c 0: our own SO PIN set from the file" test $? = 0
fl=$(token_flags)
check "the SO PIN is no longer the factory one (no SO_PIN_TO_BE_CHANGED: $fl)" \
    lacks SO_PIN_TO_BE_CHANGED "$fl"
tcsa list list
check_rc "csagent list logs in with the user PIN" 0
check_out "the token is empty" "token \"$OCKI_TOKEN\": 0 object"

# ---- keygen rsa3072 ----------------------------------------------------------
tcsa keygen keygen --label ocki-keygen --type rsa3072
check_rc "csagent keygen --type rsa3072" 0
csa_list
check_eq "private keys labelled 'ocki-keygen'" 1 "$(count private-key ocki-keygen)"
check_eq "public keys labelled 'ocki-keygen'" 1 "$(count public-key ocki-keygen)"
check_key_attrs "keygen" ocki-keygen
tcsa keygen-again keygen --label ocki-keygen --type rsa3072
check_rc "a second keygen under the same label is refused" 1
check_out "... saying the label exists" "already exists"
tcsa pubkey pubkey --label ocki-keygen --pem
cp "$D_OUT" "$W/keygen-pub.pem"
check "csagent pubkey --pem is a 3072-bit RSA key" \
    grep -q "Public-Key: (3072 bit)" <("$OPENSSL_BIN" pkey -pubin -in "$W/keygen-pub.pem" -noout -text 2>&1)
# A signer that finds the key by URI only (pkcs11-provider).  pkeyutl over
# a digest: `openssl dgst -sign` through pkcs11-provider 1.0 makes a
# PKCS#1 signature without the DigestInfo on this token (it lacks
# CKM_SHA256_RSA_PKCS and the provider's fallback to CKM_RSA_PKCS drops the
# DigestInfo); csagent builds the DigestInfo itself.
d_provider_conf || fatal "pkcs11-provider configuration"
echo "data signed by URI" >"$W/data.txt"
"$OPENSSL_BIN" dgst -sha256 -binary -out "$W/data.sha256" "$W/data.txt"
p11ssl pkeyutl -sign -inkey "pkcs11:token=$OCKI_TOKEN;object=ocki-keygen;type=private" \
    -pkeyopt digest:sha256 -in "$W/data.sha256" -out "$W/data.sig" 2>"$W/logs/pkeyutl.err"
check "pkcs11-provider signs with pkcs11:token=$OCKI_TOKEN;object=ocki-keygen" test $? = 0
check "the signature verifies with csagent's public key" \
    "$OPENSSL_BIN" pkeyutl -verify -pubin -inkey "$W/keygen-pub.pem" -pkeyopt digest:sha256 \
    -in "$W/data.sha256" -sigfile "$W/data.sig"

# ---- csca, otp-import, account -----------------------------------------------
CS=$W/csca STATE=$W/state POLICY=$W/policy.ini ORG="Example Corp"
mkdir -p "$CS" && chmod 700 "$CS"
: >"$POLICY"
head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n' >"$W/eab.key"
csca_org totp-01
otp_setup totp totp-1 release-totp # csca otp add + csagent otp-import
check_rc "csagent otp-import of the TOTP seed" 0
csa_list
check_eq "secret keys labelled 'release-totp'" 1 "$(count secret-key release-totp)"
a=$(attrs secret-key release-totp)
check "the OTP seed is sensitive and not extractable ($a)" \
    grep -q 'sensitive=yes extractable=no' <<<"$a"
csca_start
CFG=$W/agent.ini ID=release LABEL=release-signing
ocki_config "$CFG" <<EOF
[identity $ID]
label = $LABEL
key_type = rsa3072
profile = codesigning
domain = example.com
organization = $ORG
challenges = totp-01
otp_secret = release-totp
EOF
csa register "$CFG" account register
check_rc "account register with an RSA 3072 account key" 0
csa_list
check_eq "private keys labelled 'csagent-account'" 1 "$(count private-key csagent-account)"
check_key_attrs "account key" csagent-account
check "csca holds the account's JWK as RSA" grep -qE '"kty" *: *"RSA"' "$CS/state.json"
# RS256 seen at the token: OpenSC's pkcs11-spy in front of openCryptoki logs
# each call; a JWS (account show: POST-as-GET) must be C_Sign with
# CKM_RSA_PKCS over a SHA-256 DigestInfo (51 bytes), not PSS.
sed "s|^module = .*|module = $PKCS11_SPY|" "$CFG" >"$W/spy.ini"
PKCS11SPY=$CSA_MODULE PKCS11SPY_OUTPUT=$W/spy.log csa account-show-spy "$W/spy.ini" account show
check_rc "account show through pkcs11-spy" 0
spy_pkcs1() {
    grep -q 'pMechanism->type = CKM_RSA_PKCS ' "$W/spy.log" &&
        ! grep -q CKM_RSA_PKCS_PSS "$W/spy.log"
}
check "the JWS was signed with CKM_RSA_PKCS (no PSS)" spy_pkcs1
check "... over a SHA-256 DigestInfo: RS256 (RFC 7518 §3.3)" \
    grep -q '00000000  30 31 30 0D 06 09 60 86 48 01 65 03 04 02 01 05' "$W/spy.log"

# ---- enroll -------------------------------------------------------------------
fresh_totp_step
stats_reset
csa enroll "$CFG" enroll "$ID"
totp_used
check_rc "enroll $ID (codesigning, totp-01, RSA 3072)" 0
check_out "the agent reports the serial" "enrolled $ID: serial"
st=$(stats)
check_eq "one totp-01 answer POSTed" 1 "$(stat_of "$st" challenge)"
check_eq "one finalize (CSR signed in the token)" 1 "$(stat_of "$st" finalize)"
check_pair "enroll"
SERIAL1=$TOK_SERIAL
check "the issued leaf has the codeSigning EKU" \
    grep -q "Code Signing" <<<"$(eku_of "$STATE/$ID.pem")"
id1=$(sed -n "s/^private-key  label=\"$LABEL\" id=\([^ ]*\) .*/\1/p" "$W/list.txt")

# ---- renewal --------------------------------------------------------------------
fresh_totp_step
csa renew "$CFG" -v enroll "$ID"
totp_used
check_rc "renewal: enroll $ID again" 0
# How the new pair reached the label (DESIGN.md swap-in step 4 prefers
# C_CopyObject; openCryptoki supports it): for the log, not a check.
info "renewal: C_CopyObject -> CKR_OK $(grep -c 'C_CopyObject -> CKR_OK' "$D_ERR") times, C_SetAttributeValue -> CKR_OK $(grep -c 'C_SetAttributeValue -> CKR_OK' "$D_ERR") times; refused: $(grep -oE 'C_(CopyObject|SetAttributeValue|CreateObject|DestroyObject) -> CKR_[A-Z_]+' "$D_ERR" | grep -v CKR_OK | sort | uniq -c | tr -s ' \n' ' ')"
check_pair "renewal"
SERIAL2=$TOK_SERIAL
check_ne "renewal: the token holds a new certificate (serial)" "$SERIAL1" "$SERIAL2"
id2=$(sed -n "s/^private-key  label=\"$LABEL\" id=\([^ ]*\) .*/\1/p" "$W/list.txt")
info "key id before the renewal $id1, after $id2"

# ---- CSAGENT_CRASH_AT=stored, then recovery ----------------------------------------
fresh_totp_step
D_NLOG=$((D_NLOG + 1))
D_OUT=$W/logs/$(printf '%02d' $D_NLOG)-crash-stored.out D_ERR=${D_OUT%.out}.err
D_CMD="CSAGENT_CRASH_AT=stored csagent -c $CFG enroll $ID"
{ CSAGENT_CRASH_AT=stored "$CSAGENT" -c "$CFG" enroll "$ID" >"$D_OUT" 2>"$D_ERR" </dev/null; } 2>/dev/null
D_RC=$?
totp_used
say "  ran  - $D_CMD -> exit $D_RC"
check_rc_nonzero "the enrollment aborts on purpose after journal step 'stored'"
check_out "... saying so" "CSAGENT_CRASH_AT=stored"
check "a journal $STATE/$ID.journal is left" test -e "$STATE/$ID.journal"
csa_list
check_eq "at the crash: the old pair is still under '$LABEL' (private keys)" 1 "$(count private-key "$LABEL")"
check_eq "at the crash: certificates under '$LABEL'" 1 "$(count certificate "$LABEL")"
check_eq "at the crash: the new certificate waits under '$LABEL.next'" 1 "$(count certificate "$LABEL.next")"
if p11ssl x509 -in "pkcs11:token=$OCKI_TOKEN;object=$LABEL.next;type=cert" \
    -out "$W/next.pem" 2>"$W/next.err"; then
    SERIAL3=$("$OPENSSL_BIN" x509 -in "$W/next.pem" -noout -serial | cut -d= -f2)
else
    SERIAL3=""
    fail "read the pending certificate '$LABEL.next': $(head -2 "$W/next.err")"
fi
csa recover "$CFG" run --once
check_rc "csagent run --once recovers" 0
check_pair "after recovery"
check_eq "after recovery: '$LABEL' holds the certificate stored before the crash" \
    "$SERIAL3" "$TOK_SERIAL"
check_eq "after recovery: exactly one private key on the token carries '$LABEL'" 1 \
    "$(grep -cE "^private-key +label=\"$LABEL\" " "$W/list.txt")"

# ---- revoke ---------------------------------------------------------------------
stats_reset
csa revoke "$CFG" revoke "$ID"
check_rc "revoke $ID (signed by the RSA account key)" 0
check_out "revoke reports it" "revoked the certificate of $ID"
check_eq "csca received one revokeCert" 1 "$(stat_of "$(stats)" revokeCert)"
csa revoke-again "$CFG" revoke "$ID" --with-cert-key
check_rc_nonzero "a second revoke (signed by the certificate's own key) is refused"
check_out "csca says it is already revoked" "alreadyRevoked|already revoked"
csa_list
check_eq "revoke leaves the pair on the token (private keys)" 1 "$(count private-key "$LABEL")"

# ---- wrong PINs on a token that counts them ---------------------------------------
# SoftHSM never locks a PIN; openCryptoki's soft token sets
# USER_PIN_COUNT_LOW after one wrong login, USER_PIN_FINAL_TRY after two
# and locks the PIN at the third.  csagent tries once per run, refuses a
# PIN of a length the token does not take, and does not try at FINAL_TRY.
new_pin "$PINS/wrong-pin"
while cmp -s "$PINS/wrong-pin" "$CSA_PIN_FILE"; do new_pin "$PINS/wrong-pin"; done
new_pin "$PINS/long-pin"
printf '7' >>"$PINS/long-pin" # 9 digits: more than the soft token's 8
CSA_PIN_FILE=$PINS/wrong-pin tcsa wrong-pin-1 list
check_rc "a wrong PIN: token/PIN error" 4
check_out "... the token refused it" "CKR_PIN_INCORRECT"
fl=$(token_flags)
one_try_used() { grep -q USER_PIN_COUNT_LOW <<<"$1" && lacks FINAL_TRY "$1"; }
check "one wrong login counted, no more (USER_PIN_COUNT_LOW, not FINAL_TRY: $fl)" \
    one_try_used "$fl"
CSA_PIN_FILE=$PINS/long-pin tcsa long-pin list
check_rc "a 9-character PIN: token/PIN error" 4
check_out "... refused before C_Login, naming the token's range" "takes PINs of 4 to 8 characters"
check_eq "... and it cost no try (flags unchanged)" "$fl" "$(token_flags)"
CSA_PIN_FILE=$PINS/wrong-pin tcsa wrong-pin-2 list
check_rc "a second wrong PIN" 4
fl=$(token_flags)
check "the token is on its final try (USER_PIN_FINAL_TRY: $fl)" grep -q USER_PIN_FINAL_TRY <<<"$fl"
tcsa right-pin-final-try list
check_rc "the right PIN at the final try: csagent does not try it" 4
check_out "... and says why" "next wrong PIN locks the token"
fl=$(token_flags)
check "the PIN is not locked ($fl)" lacks USER_PIN_LOCKED "$fl"
# What an operator does (docs/operations.md): log in by hand once, here
# while changing the user PIN with pkcsconf -p (old, new, new on stdin).
cp "$CSA_PIN_FILE" "$PINS/user-pin.old"
new_pin "$PINS/user-pin.new"
{ cat "$PINS/user-pin.old"; echo; cat "$PINS/user-pin.new"; echo; cat "$PINS/user-pin.new"; echo; } |
    "$PKCSCONF" -p -c 0 >"$W/logs/pkcsconf-p.log" 2>&1
fl=$(token_flags)
check "pkcsconf -p: a login by hand clears USER_PIN_FINAL_TRY ($fl)" lacks FINAL_TRY "$fl"
cp "$PINS/user-pin.new" "$CSA_PIN_FILE"
tcsa new-pin list
check_rc "csagent logs in with the new user PIN" 0
check_eq "... and the pair is still there" 1 "$(grep -cE "^private-key +label=\"$LABEL\" " "$D_OUT")"

# ---- end ---------------------------------------------------------------------------
csca_stop
pid=$SLOTD_PID
slotd_stop
check "pkcsslotd (pid $pid) stopped on SIGTERM" test $? = 0
for f in "$PINS/user-pin.old" "$PINS/user-pin.new" "$PINS/so-pin"; do
    if grep -rqF -- "$(cat "$f")" "$W/logs"; then
        fail "the PIN of $f appears in output: $(grep -rlF -- "$(cat "$f")" "$W/logs" | tr '\n' ' ')"
    else
        pass "the PIN of $(basename "$f") appears in none of the $(ls "$W/logs" | wc -l) output files"
    fi
done
# The outer half prints the summary (with its own checks of the host).
echo "$CHK_CHECKS $CHK_FAILS" >"$W/inner.counts"
say ""
say "in the namespace: $CHK_CHECKS checks, $CHK_FAILS failed"
trap - EXIT
exit 0
