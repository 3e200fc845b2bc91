#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Runs one pebble_client scenario against its own Pebble (and
# challtestsrv), and stops them at the end, even on failure.
#   run_pebble.sh PEBBLE_CLIENT SUPPORT_DIR WORK_DIR MODE [pebble.sh options]
set -euo pipefail
client=$1 support=$2 work=$3 mode=$4
shift 4
here=$(cd "$(dirname "$0")" && pwd)

stop() { "$support/pebble.sh" stop "$work/pebble" || true; }
trap stop EXIT
rc=0
"$support/pebble.sh" start "$work/pebble" "$@" || rc=$?
[ "$rc" = 0 ] || exit "$rc"
set -a
# shellcheck disable=SC1091
. "$work/pebble/env"
set +a
export ACME_TEST_HOOK="$here/hook-challtestsrv.sh"
export HOOK_LOG="$work/hook.log"
: >"$HOOK_LOG"
"$client" "$mode" "$work"
if [ "$mode" = flow ]; then
    # the issued chain verifies to Pebble's root (from /roots/0), both the
    # default chain and the alternate one to its own root
    "${OPENSSL_BIN:-openssl}" verify -CAfile "$PEBBLE_ROOTS" \
        -untrusted "$work/chain.pem" "$work/chain.pem"
    "${OPENSSL_BIN:-openssl}" verify -CAfile "$PEBBLE_ROOTS_ALT" \
        -untrusted "$work/chain-alt.pem" "$work/chain-alt.pem"
    grep -q '^begin http-01 ' "$HOOK_LOG"
    grep -q '^done http-01 ' "$HOOK_LOG"
fi
