#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Runs a command with a fresh throwaway SoftHSM token (or two):
#   with-token.sh WORKDIR LABEL[,LABEL2] -- COMMAND...
# Exports SOFTHSM2_CONF, CSA_MODULE, CSA_TOKEN_URI, CSA_PIN_FILE (first
# token) and CSA_TOKEN2_URI when a second label is given.
set -euo pipefail
work=$1 labels=$2; shift 3
here=$(cd "$(dirname "$0")" && pwd)
rm -rf "$work"
IFS=, read -r first second <<<"$labels"
out=$("$here/../../softhsm-conf/mktoken.sh" "$work" "$first") || exit $?
eval "$(echo "$out" | sed 's/^/export /')"
if [ -n "${second:-}" ]; then
  "$here/../../softhsm-conf/mktoken.sh" "$work" "$second" "$CSA_SO_PIN_FILE" \
    "$CSA_PIN_FILE" >/dev/null
  export CSA_TOKEN2_URI="pkcs11:token=$second"
fi
exec "$@"
