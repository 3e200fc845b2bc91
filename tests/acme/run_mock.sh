#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Runs acme_mock_client against mock_ca.py (scripted failure paths) with a
# throwaway TLS certificate; stops the mock at the end, even on failure.
#   run_mock.sh MOCK_CLIENT SUPPORT_DIR WORK_DIR
set -euo pipefail
client=$1 support=$2 work=$3
here=$(cd "$(dirname "$0")" && pwd)
command -v python3 >/dev/null || { echo "SKIP: python3 missing"; exit 77; }
rm -rf "$work" && mkdir -p "$work"
"$support/pebble.sh" tls "$work"
pid=
stop() { [ -z "$pid" ] || kill "$pid" 2>/dev/null || true; }
trap stop EXIT
python3 "$here/mock_ca.py" "$work/tls.pem" "$work/tls.key" "$work/port" \
    2>"$work/mock.log" &
pid=$!
for _ in $(seq 1 50); do [ -f "$work/port" ] && break; sleep 0.1; done
[ -f "$work/port" ] || { cat "$work/mock.log" >&2; exit 1; }
"$client" "https://127.0.0.1:$(cat "$work/port")" "$work/tls-ca.pem"
