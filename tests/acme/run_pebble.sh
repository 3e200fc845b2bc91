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
if [ "$mode" = nonces ]; then
    CSA_LOG_LEVEL=debug "$client" "$mode" "$work" 2>"$work/debug.log" ||
        { tail -20 "$work/debug.log" >&2; exit 1; }
    # Every request succeeded (the client exited 0).  How many of Pebble's
    # random rejections it retried is reported, not required: the retry
    # itself is proven deterministically by acme_mock (/badnonce-once).
    n=$(grep -c 'badNonce from' "$work/debug.log" || true)
    echo "badNonce retries: $n"
    exit 0
fi
if [ "$mode" = eab ]; then
    # the EAB MAC key must never reach a log, even at debug level
    CSA_LOG_LEVEL=debug "$client" "$mode" "$work" >"$work/eab.log" 2>&1 ||
        { tail -20 "$work/eab.log" >&2; exit 1; }
    if grep -qF "$(cat "$PEBBLE_EAB_KEY_FILE")" "$work/eab.log"; then
        echo "FAIL: the EAB MAC key appears in the log" >&2
        exit 1
    fi
    grep 'expected error' "$work/eab.log"
    exit 0
fi
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
