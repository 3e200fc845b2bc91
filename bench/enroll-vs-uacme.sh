#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Benchmark: N enrollments against one local Pebble (validation skipped),
# csagent with SoftHSM keys vs uacme with file keys, run in turn in the
# same run (these machines are noisy: only the ratio means anything).
# Prints the median wall time of each, the ratio csagent/uacme, and the
# PKCS#11 C_Sign and C_Login calls per csagent enrollment, counted by
# OpenSC's pkcs11-spy in front of SoftHSM (independent of csagent's own
# logging).  Target: ratio <= 1.5, one C_Login per run.
#
#   bench/enroll-vs-uacme.sh [BUILD_DIR] [N]
#
# Debian's uacme trusts only the system store, so Pebble's TLS root is
# added with update-ca-certificates for the run and removed afterwards
# (needs root).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
n=${2:-20}
csagent=$build/agent/csagent
spy=""
for f in /usr/lib/*/pkcs11-spy.so; do [ -f "$f" ] && spy=$f; done
command -v uacme >/dev/null || { echo "uacme not installed"; exit 77; }
[ -n "$spy" ] || { echo "pkcs11-spy (opensc-pkcs11) not installed"; exit 77; }
[ "$(id -u)" -eq 0 ] || { echo "needs root (system CA store for uacme)"; exit 77; }
work=$build/bench-enroll
rm -rf "$work"; mkdir -p "$work"; cd "$work"
anchor=/usr/local/share/ca-certificates/csagent-bench-pebble.crt
cleanup() {
  "$root/tests/support/pebble.sh" stop "$work/pebble" >/dev/null 2>&1 || true
  rm -f "$anchor"; update-ca-certificates --fresh >/dev/null 2>&1 || true
}
trap cleanup EXIT
"$root/tests/support/pebble.sh" start "$work/pebble" --always-valid >/dev/null
. "$work/pebble/env"
cp "$PEBBLE_CA_BUNDLE" "$anchor"; update-ca-certificates >/dev/null 2>&1

CSAGENT=$csagent "$root/softhsm-conf/mktoken.sh" "$work/token" bench >/dev/null
. "$work/token/token.env"; export SOFTHSM2_CONF
printf '#!/bin/sh\nexit 0\n' >hook.sh; chmod +x hook.sh
printf '[hooks]\nallowed = true\n[profile.test-tls]\nenabled = true\n[certificate]\nmax_lifetime = 1900d\n' >policy.ini
cat >agent.ini <<CONF
[token]
module = $spy
uri = $CSA_TOKEN_URI
pin_file = $CSA_PIN_FILE
[ca]
directory = $PEBBLE_DIR_URL
ca_bundle = $PEBBLE_CA_BUNDLE
trust_anchor = $PEBBLE_ROOTS
terms_agreed = yes
[agent]
state_dir = $work/state
policy = $work/policy.ini
[identity bench]
label = bench
key_type = p256
profile = test-tls
domain = bench.example.com
challenges = http-01
hook = $work/hook.sh
CONF
export PKCS11SPY=$CSA_MODULE
PKCS11SPY_OUTPUT=$work/spy-setup.log "$csagent" -q -c agent.ini account register >/dev/null
uacme -y -c "$work/uacme" -a "$PEBBLE_DIR_URL" -t EC new >/dev/null 2>&1

now() { date +%s.%N; }
# One timed successful run of "$@"; a failed attempt (Pebble rejects 5% of
# good nonces, and uacme does not retry badNonce) is counted and retried.
failures=0
timed() {
  local t0 t1 try
  for try in 1 2 3; do
    t0=$(now)
    if "$@" >/dev/null 2>&1; then
      t1=$(now); echo "$t1 - $t0" | bc -l; return 0
    fi
    failures=$((failures + 1))
  done
  echo "bench: $1 failed 3 times in a row" >&2; return 1
}
declare -a ta tu
for i in $(seq 1 "$n"); do
  export PKCS11SPY_OUTPUT=$work/spy-$i.log
  ta+=("$(timed "$csagent" -q -c agent.ini enroll bench)")
  tu+=("$(timed uacme -y -f -c "$work/uacme" -a "$PEBBLE_DIR_URL" -t EC \
          -h "$work/hook.sh" issue bench.example.com)")
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
ma=$(median "${ta[@]}"); mu=$(median "${tu[@]}")
signs=$(cat spy-[0-9]*.log | grep -cE '^[0-9]+: C_Sign$' || true)
logins=$(cat spy-[0-9]*.log | grep -cE '^[0-9]+: C_Login$' || true)
printf 'enrollments: %d each, Pebble (always valid) on 127.0.0.1\n' "$n"
printf 'median wall time: csagent %.3fs  uacme %.3fs\n' "$ma" "$mu"
printf 'ratio csagent/uacme: %.2f (target <= 1.5)\n' "$(echo "$ma / $mu" | bc -l)"
printf 'failed attempts retried (both clients): %d\n' "$failures"
printf 'per csagent enrollment: C_Sign %.1f, C_Login %.1f (target 1)\n' \
  "$(echo "$signs / $n" | bc -l)" "$(echo "$logins / $n" | bc -l)"
# Every PKCS#11 call per renewal, by function (issue 12: target <= 40).
total=$(cat spy-[0-9]*.log | grep -cE '^[0-9]+: C_' || true)
printf 'per csagent enrollment: %.1f PKCS#11 calls:' "$(echo "$total / $n" | bc -l)"
cat spy-[0-9]*.log | sed -nE 's/^[0-9]+: (C_[A-Za-z]+)$/\1/p' | sort | uniq -c |
  sort -rn | awk -v n="$n" '{printf " %s %.1f", $2, $1 / n}'
echo
