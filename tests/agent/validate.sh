#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Real http-01 validation: Pebble without --always-valid fetches the key
# authorization from pebble-challtestsrv, where tests/acme/hook-challtestsrv.sh
# published what csagent computed.  Passing proves the account key's JWK
# thumbprint, computed from the public key read from the token, is right.
# A hook that publishes a corrupted key authorization must make the
# enrollment fail with nothing stored (so the check can fail).
#   validate.sh WORKDIR
. "$(dirname "$0")/lib.sh"
export PEBBLE_AUTHZREUSE=0
agt_setup "$1" agt-validate --challtestsrv
command -v curl >/dev/null || skip "curl not installed"
export CTS_MGMT_URL HOOK_LOG=$W/hook.log
HOOK=$AGT_SRC/tests/acme/hook-challtestsrv.sh
# The hook is a child of the network process's hook runner: on "begin"
# (mid-renewal) it records what the runner and its parent, the network
# process, have mapped and open, their command lines and their flags.
MAPHOOK=$W/hook-maps.sh
cat >"$MAPHOOK" <<EOF
#!/bin/sh
if [ "\$CSAGENT_HOOK_METHOD" = begin ]; then
    run=\$PPID
    net=\$(sed -n 's/^PPid:[[:space:]]*//p' /proc/\$run/status)
    cat /proc/\$run/comm >"$W/runner.comm"
    cat /proc/\$run/status >"$W/runner.status"
    for fd in /proc/\$run/fd/*; do readlink "\$fd"; done >"$W/runner.fds"
    tr '\\000' ' ' </proc/\$net/cmdline >"$W/net.cmdline"
    cat /proc/\$net/maps >"$W/net.maps"
    cat /proc/\$net/status >"$W/net.status"
    readlink /proc/\$net/fd/3 >"$W/net.fd3"
    holder=\$(sed -n 's/^PPid:[[:space:]]*//p' /proc/\$net/status)
    cat /proc/\$holder/status >"$W/holder.status"
fi
exec "$HOOK" "\$@"
EOF
chmod 755 "$MAPHOOK"
CFG=$W/agent.ini
agt_config "$CFG" account_key_type=p384 < <(
    identity web web-key p256 web.build.example.com test-tls "$MAPHOOK"
    identity bad bad-key p256 bad.build.example.com test-tls "$HOOK")

csa enroll-web "$CFG" enroll web
check_rc "enroll web with real http-01 validation" 0
check_out "the agent answered http-01" "answering http-01 for web.build.example.com"
check "hook published (begin) and withdrew (done) the http-01 answer" \
    grep -qx "begin http-01 web.build.example.com" "$HOOK_LOG"
check "hook ran 'done' after Pebble validated" grep -qx "done http-01 web.build.example.com" "$HOOK_LOG"
check "Pebble fetched the key authorization from challtestsrv" \
    grep -q "web.build.example.com" "$AGT_PEBBLE_DIR/pebble.log"
check_clean_pair web web-key "$CFG"

# The process that speaks to the CA is a fresh image with no token in it
# (docs/security.md, "Two processes").
check "the hook's parent is the hook runner (csagent-hooks)" \
    grep -qx "csagent-hooks" "$W/runner.comm"
check "the hook recorded the network process's memory map" test -s "$W/net.maps"
check "the runner's parent is the network process (csagent __net)" \
    grep -q -- "__net" "$W/net.cmdline"
check "the network process holds the holder's socket as descriptor 3" \
    grep -q '^socket:' "$W/net.fd3"
check "the runner does not hold the holder's socket" \
    sh -c "! grep -qxF '$(cat "$W/net.fd3")' '$W/runner.fds'"
check "the network process has libcurl mapped (it is the one on the wire)" \
    grep -q "libcurl" "$W/net.maps"
mod=$(basename "$(readlink -f "$CSA_MODULE")")
check "the network process never mapped the PKCS#11 module ($mod)" \
    sh -c "! grep -q -F '$mod' '$W/net.maps'"
# (libp11-kit.so itself comes with GnuTLS under libcurl; it loads no module
# unless asked to.)
check "nor any SoftHSM, openCryptoki, p11shim or p11-kit proxy module" \
    sh -c "! grep -q -E 'softhsm|opencryptoki|p11shim|p11-kit-proxy|/pkcs11/' '$W/net.maps'"
# Each adds one filter to what the holder runs under (none, unless a
# container added its own): the allow list, or the runner's deny list,
# which it loaded before the network process loaded the allow list.  That
# the allow list refuses execve is test_sandbox_network (tests/agent_unit).
filters() { sed -n 's/^Seccomp_filters:[[:space:]]*//p' "$W/$1.status"; }
for p in net runner; do
    check "the $p process runs with no_new_privs" \
        grep -qE '^NoNewPrivs:[[:space:]]+1' "$W/$p.status"
    check "the $p process runs under a seccomp filter (mode 2)" \
        grep -qE '^Seccomp:[[:space:]]+2' "$W/$p.status"
    check_eq "the $p process has one filter more than the holder" \
        $(($(filters holder) + 1)) "$(filters $p)"
done

# The thumbprint in the published key authorization is the one of the
# account key csagent reads from the token (csagent pubkey).
thumb=$("$CSAGENT" -c "$CFG" pubkey --label csagent-account 2>/dev/null </dev/null |
    sed -n 's/.*"thumbprint":"\([^"]*\)".*/\1/p')
check "account key thumbprint printed by csagent pubkey ($thumb)" test -n "$thumb"
# independent RFC 7638 thumbprint of the P-384 account key from its PEM
"$CSAGENT" -c "$CFG" pubkey --label csagent-account --pem >"$W/acct.pem" 2>/dev/null </dev/null
b64u() { base64 -w0 | tr '+/' '-_' | tr -d '='; }
pt=$("$OPENSSL_BIN" ec -pubin -in "$W/acct.pem" -outform DER 2>/dev/null | tail -c 97 | xxd -p | tr -d '\n')
x=$(echo "${pt:2:96}" | xxd -r -p | b64u) y=$(echo "${pt:98:96}" | xxd -r -p | b64u)
mine=$(printf '{"crv":"P-384","kty":"EC","x":"%s","y":"%s"}' "$x" "$y" |
    "$OPENSSL_BIN" dgst -sha256 -binary | b64u)
check_eq "RFC 7638 thumbprint computed here from the token's public key" "$mine" "$thumb"

# Negative: the hook publishes a wrong key authorization.
HOOK_CORRUPT=1 csa enroll-bad "$CFG" enroll bad
check_rc "enroll with a corrupted key authorization fails with a CA error" 5
check_out "the error names the failed authorization" "bad.build.example.com"
check_out "Pebble's problem is shown" "unauthorized|incorrect|does not match|invalid"
csa_list
check_eq "nothing stored under 'bad-key'" 0 "$(grep -c 'label="bad-key' "$W/list.txt")"
check "no journal left for bad" test ! -e "$STATE/bad.journal"
check "hook ran 'failed' to clean up" grep -qx "failed http-01 bad.build.example.com" "$HOOK_LOG"
agt_finish
