#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Runs test_tok GROUP through p11shim (in front of SoftHSM) with the given
# P11SHIM_* settings, then checks how many times C_Login reached the shim.
#   shim-check.sh SHIM TEST_TOK GROUP EXPECTED_LOGINS [VAR=VALUE...]
# Expects with-token.sh's environment.
set -euo pipefail
shim=$1 test_tok=$2 group=$3 expected=$4; shift 4
work=$(dirname "$CSA_PIN_FILE")
counts=$work/counts.$group
rm -f "$counts"
printf 'not-the-pin\n' >"$work/bad-pin"
chmod 600 "$work/bad-pin"
export P11SHIM_MODULE=$CSA_MODULE P11SHIM_COUNT_FILE=$counts
export CSA_MODULE=$shim CSA_BAD_PIN_FILE=$work/bad-pin
for kv in "$@"; do export "${kv?}"; done
"$test_tok" "$group"
got=$(awk '$1=="C_Login"{print $2}' "$counts" 2>/dev/null || true)
got=${got:-0}
echo "C_Login calls: $got (expected $expected)"
[ "$got" = "$expected" ]
