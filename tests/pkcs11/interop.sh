#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# csagent keys used, unchanged, by OpenSSL 3's pkcs11-provider by URI, in
# both directions; and the PIN never appears in csagent's debug output.
#   interop.sh CSAGENT PKCS11_PROVIDER   (with-token.sh's environment)
set -euo pipefail
csagent=$1 provider=$2
[ -f "$provider" ] || { echo "pkcs11-provider not installed ($provider)"; exit 77; }
work=$(dirname "$CSA_PIN_FILE")
tok=(--module "$CSA_MODULE" --token "$CSA_TOKEN_URI" --pin-file "$CSA_PIN_FILE")
label=${CSA_TOKEN_URI#pkcs11:token=}
"$(dirname "$0")/../../softhsm-conf/openssl-provider.sh" "$work/openssl.cnf" \
  "$CSA_MODULE" "$CSA_PIN_FILE" "$provider"
export OPENSSL_CONF=$work/openssl.cnf
echo "release 1.2.3" >"$work/data"
for type in p256 p384 rsa3072; do
  "$csagent" -q keygen "${tok[@]}" --label "io-$type" --type "$type"
  "$csagent" -q pubkey "${tok[@]}" --label "io-$type" --pem >"$work/$type.csagent.pem"
  uri="pkcs11:token=$label;object=io-$type"
  # Provider signs with the csagent key; csagent's public key verifies.
  openssl dgst -sha256 -sign "$uri;type=private" -out "$work/$type.sig" "$work/data"
  openssl dgst -sha256 -verify "$work/$type.csagent.pem" -signature "$work/$type.sig" "$work/data"
  # The provider reads the same public key csagent reads.
  openssl pkey -pubin -in "$uri;type=public" -out "$work/$type.provider.pem"
  cmp "$work/$type.csagent.pem" "$work/$type.provider.pem"
  # A CSR made through the provider with the csagent key verifies.
  openssl req -new -key "$uri;type=private" -subj /CN=example.com -out "$work/$type.csr"
  openssl req -verify -noout -in "$work/$type.csr"
  echo "ok: $type interoperates"
done
# The PIN never shows up in debug logs (every PKCS#11 call is logged).
unset OPENSSL_CONF
"$csagent" -v list "${tok[@]}" >"$work/list.out" 2>"$work/list.err"
grep -q C_Login "$work/list.err"
if grep -qF "$(cat "$CSA_PIN_FILE")" "$work/list.err" "$work/list.out"; then
  echo "FAIL: the PIN appears in csagent's output"; exit 1
fi
grep -q 'sensitive=yes extractable=no always-sensitive=yes never-extractable=yes' "$work/list.out"
echo "ok: PIN absent from debug output"
