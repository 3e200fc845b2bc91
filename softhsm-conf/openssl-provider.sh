#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Writes an OpenSSL configuration that loads pkcs11-provider for a token,
# so that openssl (cms, req, pkeyutl, storeutl...) uses keys by PKCS#11 URI:
#
#   openssl-provider.sh OUT_FILE PKCS11_MODULE PIN_FILE [PROVIDER_SO]
#
# then OPENSSL_CONF=OUT_FILE openssl ... -inkey "pkcs11:token=...;object=..."
# With PKCS11_MODULE '$ENV::CSAGENT_MODULE' and PIN_FILE
# '$ENV::CSAGENT_PIN_FILE' it is docs/signing.md's file for csagent exec.
# The PIN is referenced by file, never copied.  "no-deinit" keeps the
# provider from calling C_Finalize after OpenSSL's own clean-up (SoftHSMv2
# #729).  Exit 77 when pkcs11-provider is not installed.
set -euo pipefail
[ $# -ge 3 ] || { echo "usage: $0 OUT_FILE PKCS11_MODULE PIN_FILE [PROVIDER_SO]" >&2; exit 2; }
out=$1 module=$2 pin=$3 provider=${4:-}
if [ -z "$provider" ]; then
  for f in /usr/lib/*/ossl-modules/pkcs11.so; do [ -f "$f" ] && provider=$f; done
fi
[ -n "$provider" ] && [ -f "$provider" ] ||
  { echo "openssl-provider.sh: pkcs11-provider is not installed" >&2; exit 77; }
cat >"$out" <<CNF
openssl_conf = openssl_init
[openssl_init]
providers = provider_sect
[provider_sect]
default = default_sect
pkcs11 = pkcs11_sect
[default_sect]
activate = 1
[pkcs11_sect]
module = $provider
pkcs11-module-path = $module
pkcs11-module-token-pin = file:$pin
pkcs11-module-quirks = no-deinit no-operation-state
activate = 1
CNF
