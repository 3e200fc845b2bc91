#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A module registered with p11-kit (by name), and OpenSC's pkcs11-spy as a
# logging proxy in front of SoftHSM, both work unchanged.
#   modules.sh CSAGENT PKCS11_SPY   (with-token.sh's environment)
set -euo pipefail
csagent=$1 spy=$2
[ -f "$spy" ] || { echo "pkcs11-spy (opensc-pkcs11) not installed"; exit 77; }
work=$(dirname "$CSA_PIN_FILE")
tok=(--token "$CSA_TOKEN_URI" --pin-file "$CSA_PIN_FILE")

# Debian's softhsm2 package registers the module with p11-kit as
# "softhsm2"; the token is still the throwaway one (SOFTHSM2_CONF).
p11-kit list-modules 2>/dev/null | grep -q '^softhsm2:' ||
  { echo "FAIL: softhsm2 is not registered with p11-kit"; exit 1; }
"$csagent" -q keygen --module softhsm2 "${tok[@]}" --label via-p11kit --type p256
"$csagent" list --module p11-kit:softhsm2 "${tok[@]}" >"$work/p11kit.out"
grep -q 'private-key  label="via-p11kit"' "$work/p11kit.out"
echo "ok: module registered with p11-kit found by name"
if "$csagent" -q list --module no-such-module "${tok[@]}" 2>"$work/nomod.err"; then
  echo "FAIL: an unknown module name was accepted"; exit 1
fi
grep -q "no PKCS#11 module named 'no-such-module' is registered" "$work/nomod.err"
echo "ok: an unknown module name is a clear error"

# pkcs11-spy in front of the real module logs every call.
export PKCS11SPY=$CSA_MODULE PKCS11SPY_OUTPUT=$work/spy.log
"$csagent" -q keygen --module "$spy" "${tok[@]}" --label via-spy --type p256
"$csagent" -q pubkey --module "$spy" "${tok[@]}" --label via-spy >/dev/null
grep -q 'C_GenerateKeyPair' "$work/spy.log"
[ "$(grep -cE '^[0-9]+: C_Login$' "$work/spy.log")" = 2 ]
echo "ok: pkcs11-spy in front of SoftHSM: C_GenerateKeyPair seen, one C_Login per run"
