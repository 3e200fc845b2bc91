#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Benchmark (issue 12): what a search, an attribute read, a create and a
# delete cost on a SoftHSM token as its object count grows: the floor under
# a renewal's time on that token (a renewal in a round creates four
# objects and deletes six; a single renewal also searches).  Prints
# milliseconds per call on a token with SMALL objects and on one with
# LARGE, and their ratio; asserts nothing (not part of `make check`).
#
#   bench/softhsm-ops.sh [BUILD_DIR [SMALL [LARGE [REPEAT]]]]
#                         (defaults: build 40 4000 20; the build's csagent
#                          initialises the tokens, softhsm-conf/mktoken.sh)
#
# The objects are data objects (SoftHSM's file store keeps every object,
# key or certificate alike, as one file plus a lock file).  Tokens live in
# a temporary directory, removed on exit.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
small=${2:-40} large=${3:-4000} repeat=${4:-20}
export CSAGENT=$build/agent/csagent
[ -x "$CSAGENT" ] || { echo "not built: $CSAGENT"; exit 77; }
module=${SOFTHSM2_MODULE:-/usr/lib/softhsm/libsofthsm2.so}
[ -e "$module" ] || { echo "SoftHSM not installed ($module)"; exit 77; }
work=$(mktemp -d /tmp/softhsm-ops.XXXXXX)
trap 'rm -rf "$work"' EXIT
cc -O2 -I/usr/include/p11-kit-1 -o "$work/ops" "$root/bench/softhsm-ops.c" -ldl
declare -A ms
for n in "$small" "$large"; do
  eval "$("$root/softhsm-conf/mktoken.sh" "$work/tok-$n" "ops$n" | sed 's/^/export /')"
  "$work/ops" "$module" "$CSA_PIN_FILE" fill "$n"
  while read -r op v; do ms[$op-$n]=$v; done < <("$work/ops" "$module" "$CSA_PIN_FILE" "$repeat")
done
printf '| call | ms, %s objects | ms, %s objects | ratio |\n| --- | --- | --- | --- |\n' "$small" "$large"
for op in search get_attribute create destroy; do
  a=${ms[$op-$small]} b=${ms[$op-$large]}
  printf '| %s | %s | %s | %s |\n' "$op" "$a" "$b" "$(printf '%.1f' "$(echo "$b / ($a + 0.0005)" | bc -l)")"
done
