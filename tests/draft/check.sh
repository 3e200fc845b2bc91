#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# check.sh WORKDIR : `csagent check` decides on configuration + policy only.
# The config names a token that does not exist (and, in a second run, a
# module file that does not exist) and a PIN file that does not exist, and a
# CA directory on a local port where a listener counts connections.
#   - a policy that forbids a configured challenge type: exit 6, the type
#     and the rule named in the output
#   - the same config with the default policy: exit 0
#   - no connection reached the listener; no state directory was created
. "$(dirname "$0")/lib.sh"
[ -x "${CSAGENT:-}" ] || skip "CSAGENT not set"
command -v python3 >/dev/null || skip "python3 not installed"
rm -rf "$1" && mkdir -p "$1/logs" && W=$(cd "$1" && pwd)
# a listener that records every connection (in place of a CA)
python3 - "$W/port" "$W/connections" <<'PY' &
import os, socket, sys
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(8)
open(sys.argv[1] + ".tmp", "w").write(str(s.getsockname()[1]))
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
while True:
    c, a = s.accept()
    open(sys.argv[2], "a").write("connection from %s\n" % (a,))
    c.close()
PY
LPID=$!
trap 'kill $LPID 2>/dev/null' EXIT
for _ in $(seq 50); do [ -s "$W/port" ] && break; sleep 0.1; done
[ -s "$W/port" ] || fatal "listener did not start"
port=$(cat "$W/port")
module=${SOFTHSM2_MODULE:-/usr/lib/softhsm/libsofthsm2.so}
mkconf() { # FILE MODULE
    cat >"$1" <<EOF
[token]
module = $2
uri = pkcs11:token=no-such-token-$$
pin_file = $W/no-such-pin
[ca]
directory = https://127.0.0.1:$port/directory
contact = mailto:release@example.com
terms_agreed = yes
[agent]
state_dir = $W/state
policy = $W/policy.ini
[identity release]
label = release-signing
key_type = p256
profile = codesigning
domain = example.com
challenges = cert-01, totp-01
otp_secret = release-totp
cert_key = admin-alice
EOF
}
mkconf "$W/agent.ini" "$module"
mkconf "$W/agent-nomodule.ini" "$W/no-such-module.so"
printf '[challenges]\nallowed = totp-01, hotp-01, ppkp-01\nautomatic = totp-01, hotp-01, ppkp-01\n' >"$W/policy.ini"
for cfg in agent.ini agent-nomodule.ini; do
    csa check-forbid "$W/$cfg" check
    check_rc "$cfg: check with a policy forbidding cert-01" 6
    check_out "$cfg: cert-01 is named as refused" "REFUSED.*cert-01"
    check_out "$cfg: the policy rule is named" "challenges.allowed"
    check_no_out "$cfg: totp-01 is not refused" "REFUSED challenge totp-01"
    check_no_out "$cfg: no token error" "no-such-token|no-such-module|no-such-pin|C_Initialize"
done
: >"$W/policy.ini"
for cfg in agent.ini agent-nomodule.ini; do
    csa check-ok "$W/$cfg" check
    check_rc "$cfg: check with the default policy" 0
    check_out "$cfg: says ok" "check: ok"
    check_out "$cfg: explains cert-01 as automatic" "challenge cert-01: allowed \\(automatic\\)"
done
sleep 0.2
check_eq "connections to the CA directory's port" 0 "$(cat "$W/connections" 2>/dev/null | wc -l)"
check "no state directory created" test ! -e "$W/state"
chk_result
