#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Benchmark (issue 12 part 5): N identities (P-256, default 1,000) on one
# SoftHSM token against a local csca (--always-valid: dns-01 is valid on
# any answer, the hook exits 0).  Prints ratios and counts only; nothing
# here asserts a time (not part of `make check`).
#
#   bench/scale.sh [BUILD_DIR] [N]
#
#   1. `csagent run --once` enrolls all N (every one is due), then
#      POST /csca/ari-past moves every renewal window into the past and a
#      second `run --once` renews all N.  [agent] parallel is left at its
#      default; the value used is read from the agent's own log.  Wall and
#      CPU (user+sys of csagent and the children it waited for: its
#      `csagent __net` processes and the hooks), CPU per renewal,
#      renewals per second.  SCALE_PARALLEL="1 8" adds one renewal round of
#      all N per value, for comparison.
#   2. The idle daemon: `csagent run` after enrollment, once it has written
#      status.json: RSS, Pss and anonymous memory (smaps_rollup) of the
#      daemon and its network process(es), summed; then the context
#      switches of all their threads over SCALE_IDLE seconds (default 60).
#   3. PKCS#11 calls by function (tests/p11shim's counter in front of
#      SoftHSM): a `run --once` with nothing due (the cost of N identities
#      at start), the same with one identity due (the difference is one
#      renewal), and one `csagent enroll`.
#   4. One renewal (`csagent enroll`) through the shim without and with
#      2 ms added to every PKCS#11 call (P11SHIM_LATENCY_US=2000), median
#      of SCALE_REPEAT runs each (default 3).
#   5. One enrollment, csagent (a token of its own with one identity) vs
#      uacme (file keys), against the same csca, alternated SCALE_REPEAT
#      times: median wall and CPU.  That csca is a second one with a state
#      of its own: the first one's state.json holds the N identities'
#      orders and certificates (3 MB at 1,000) and is rewritten on every
#      request that changes it, which adds the same tens of milliseconds
#      to each client's requests and says nothing of either client.
#      uacme trusts only the system CA store, so that csca's TLS root is
#      added for the run and removed afterwards: needs root, else this
#      part is skipped.
#
# SCALE_RENEW=K renews only the first K identities in part 1 (their ARI
# windows alone are moved).  SCALE_REUSE=1 keeps the work directory of the
# last run and skips the first enrollment (its line is printed again from
# that run's logs): enrolling 1,000 takes a long time on a busy machine.
#
# Services listen on 127.0.0.1 only, on ports chosen at run time, and are
# stopped on exit.  Work files: BUILD_DIR/bench-scale.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
n=${2:-1000}
idle=${SCALE_IDLE:-60}
repeat=${SCALE_REPEAT:-3}
renew=${SCALE_RENEW:-$n}
csagent=$build/agent/csagent
csca=$build/testca/csca
shim=$build/tests/p11shim/p11shim.so
timebin=/usr/bin/time
for x in "$csagent" "$csca" "$shim"; do
  [ -e "$x" ] || { echo "not built: $x"; exit 77; }
done
for x in jq curl bc openssl "$timebin"; do
  command -v "$x" >/dev/null || { echo "$x not installed"; exit 77; }
done
work=$build/bench-scale
reuse=${SCALE_REUSE:-0}
if [ "$reuse" = 1 ]; then
  [ -s "$work/tok/token.env" ] && [ -s "$work/logs/enroll-all.time" ] ||
    { echo "SCALE_REUSE=1: no finished enrollment round in $work"; exit 1; }
  cd "$work"
else
  rm -rf "$work"; mkdir -p "$work/logs"; cd "$work"
fi

pids=()
anchor=""
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  if [ -n "$anchor" ]; then
    rm -f "$anchor"; update-ca-certificates >/dev/null 2>&1 || true
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { printf '%s\n' "$*"; }
# div A B [SCALE]: A/B with SCALE decimals, nan when B is 0
div() { [ "$(echo "$2 == 0" | bc)" = 1 ] && echo nan || echo "scale=${3:-3}; $1 / $2" | bc -l; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
# timed NAME CMD...: runs CMD under /usr/bin/time; sets WALL, CPU (user+sys
# of CMD and the children it waited for) and RC; output in logs/NAME.*
timed() {
  local name=$1; shift
  RC=0
  "$timebin" -f '%e %U %S' -o "logs/$name.time" "$@" \
    >"logs/$name.out" 2>"logs/$name.err" </dev/null || RC=$?
  read -r WALL u s < <(tail -1 "logs/$name.time")
  CPU=$(echo "$u + $s" | bc)
}
# csca's own CPU seconds so far (utime + stime from /proc/PID/stat)
csca_cpu() { awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$csca_pid/stat"; }

# --- token, csca, configuration -------------------------------------------
cstate=$work/csca
if [ "$reuse" != 1 ]; then
CSAGENT=$csagent "$root/softhsm-conf/mktoken.sh" "$work/tok" scale >/dev/null
mkdir -p "$cstate"
head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n' >eab.key
chmod 600 eab.key
"$csca" org add --state "$cstate" --name "Scale Org" --domain example.com \
  --factor dns-01 --profile codesigning >logs/csca-setup.log 2>&1
# one EAB key per account: the N identities' token, and the token of part 5
for kid in scale-eab scale-eab-1; do
  "$csca" eab add --state "$cstate" --kid $kid --org "Scale Org" \
    --key-file eab.key >>logs/csca-setup.log 2>&1
done
fi
. "$work/tok/token.env"; export SOFTHSM2_CONF
rm -f "$cstate/port"
"$csca" serve --state "$cstate" --port 0 --port-file "$cstate/port" \
  --always-valid >logs/csca.log 2>&1 &
csca_pid=$!; pids+=("$csca_pid")
for _ in $(seq 1 100); do [ -s "$cstate/port" ] && break; sleep 0.1; done
[ -s "$cstate/port" ] || { echo "csca did not start"; tail -5 logs/csca.log; exit 1; }
url=https://127.0.0.1:$(cat "$cstate/port")
mgmt() { curl -sS --cacert "$cstate/tls-root.pem" \
  -H "Authorization: Bearer $(cat "$cstate/mgmt.token")" -X POST "$url$1"; }

printf '[hooks]\nallowed = true\n' >policy.ini
printf '#!/bin/sh\nexit 0\n' >hook.sh; chmod 755 hook.sh
# config FILE STATE_DIR MODULE [agent key=value...] < identity blocks
# (EAB kid: $eab_kid)
eab_kid=scale-eab
config() {
  local file=$1 state=$2 module=$3 kv; shift 3
  {
    printf '[token]\nmodule = %s\nuri = %s\npin_file = %s\n' \
      "$module" "$CSA_TOKEN_URI" "$CSA_PIN_FILE"
    printf '[ca]\ndirectory = %s/directory\nca_bundle = %s\n' "$url" "$cstate/tls-root.pem"
    printf 'trust_anchor = %s\nterms_agreed = yes\n' "$cstate/root.pem"
    printf 'eab_kid = %s\neab_key_file = %s\n' "$eab_kid" "$work/eab.key"
    printf '[agent]\nstate_dir = %s\npolicy = %s\n' "$state" "$work/policy.ini"
    for kv in "$@"; do echo "${kv%%=*} = ${kv#*=}"; done
    cat
  } >"$file"
}
identities() { # COUNT
  local i
  for i in $(seq -w 1 "$1"); do
    printf '[identity id%s]\nlabel = scale-%s\nkey_type = p256\n' "$i" "$i"
    printf 'profile = codesigning\ndomain = id%s.example.com\n' "$i"
    printf 'challenges = dns-01\nhook = %s\n' "$work/hook.sh"
  done
}
identities "$n" >ids.ini
config agent.ini "$work/state" "$CSA_MODULE" <ids.ini
config shim.ini "$work/state" "$shim" <ids.ini
export P11SHIM_MODULE=$CSA_MODULE
[ "$reuse" = 1 ] ||
  "$csagent" -c agent.ini account register >logs/register.out 2>&1 ||
  { echo "account register failed"; tail -5 logs/register.out; exit 1; }
first=$(sed -n '1s/^\[identity \(.*\)\]$/\1/p' ids.ini)

say "scale: $n identities (p256) on one SoftHSM token, csca --always-valid on 127.0.0.1"
say "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at start"

# --- 1. enroll all, renew all ------------------------------------------------
swapped() { grep -c "certificate swapped in" "logs/$1.err" || true; }
failed() { grep -c "renewal failed" "logs/$1.err" || true; }
# report NAME WHAT WANT CSCA_CPU: one line from logs/NAME.{time,err}
report() {
  local p rc wall u s cpu
  p=$(sed -n 's/.* renewal(s) due, \([0-9]*\) at a time.*/\1/p' "logs/$1.err" | head -1)
  rc=$(sed -n 's/^Command exited with non-zero status \([0-9]*\)$/\1/p' "logs/$1.time")
  read -r wall u s < <(tail -1 "logs/$1.time")
  cpu=$(echo "$u + $s" | bc)
  printf '%-28s parallel %-3s wall %7.2f s  CPU %7.2f s  CPU/renewal %6.1f ms  renewals/s %6.1f  done %d/%d  failed %d  exit %d  (csca CPU %.2f s)\n' \
    "$2" "${p:-1}" "$wall" "$cpu" "$(div "$cpu * 1000" "$(swapped "$1")" 1)" \
    "$(div "$(swapped "$1")" "$wall" 1)" "$(swapped "$1")" "$3" "$(failed "$1")" \
    "${rc:-0}" "$4"
}
round() { # NAME WHAT CONFIG WANT
  local c0 c1
  c0=$(csca_cpu)
  # counted when CONFIG goes through the shim (its counts: logs/NAME.p11)
  P11SHIM_COUNT_FILE=$work/logs/$1.p11 timed "$1" "$csagent" -c "$3" run --once
  c1=$(csca_cpu)
  report "$1" "$2" "$4" "$(echo "$c1 - $c0" | bc)"
}
# the CertID csca gave the current certificate of identity ID
certid_of() {
  local serial
  serial=$(openssl x509 -in "state/$1.pem" -noout -serial | cut -d= -f2)
  jq -r --arg s "$serial" '.certs[] | select(.serial == $s) | .certid' "$cstate/state.json"
}
# past: every ARI window into the past (SCALE_RENEW=K: those of the first K
# identities only); prints how many certificates csca changed
past() {
  local id k=0
  if [ "$renew" -ge "$n" ]; then mgmt /csca/ari-past | jq -r .updated; return; fi
  for id in $(sed -n 's/^\[identity \(.*\)\]$/\1/p' ids.ini | head -n "$renew"); do
    k=$((k + $(mgmt "/csca/ari-past?certid=$(certid_of "$id")" | jq -r .updated)))
  done
  echo "$k"
}
say ""
say "== 1. run --once: first enrollment of all, then renewal of all (ARI windows in the past)"
if [ "$reuse" = 1 ]; then
  report enroll-all "first enrollment (last run)" "$n" nan
else
  round enroll-all "first enrollment" agent.ini "$n"
fi
say "csca: ARI windows moved into the past: $(past) certificate(s) (old ones included)"
# through tests/p11shim, which counts the calls (part 3); it adds no delay
round renew-all "renewal (default)" shim.ini "$renew"
for p in ${SCALE_PARALLEL:-}; do
  config "agent-p$p.ini" "$work/state" "$CSA_MODULE" "parallel=$p" <ids.ini
  say "csca: ARI windows moved into the past: $(past) certificate(s) (old ones included)"
  round "renew-p$p" "renewal (parallel = $p)" "agent-p$p.ini" "$renew"
done

# --- 2. the idle daemon ------------------------------------------------------
say ""
say "== 2. idle daemon (csagent run) with $n identities"
rm -f state/status.json
"$csagent" -c agent.ini run >logs/daemon.log 2>&1 </dev/null &
dpid=$!; pids+=("$dpid")
t0=$(date +%s.%N)
for _ in $(seq 1 1200); do [ -s state/status.json ] && break; sleep 0.1; done
[ -s state/status.json ] || { echo "daemon wrote no status.json"; tail -5 logs/daemon.log; exit 1; }
say "status.json written $(printf '%.1f' "$(echo "$(date +%s.%N) - $t0" | bc)") s after start; $(grep -c 'renewing (' logs/daemon.log || true) renewals at start"
sleep 2
# (no child once the daemon has let the token and its network process go)
procs="$dpid $(pgrep -P "$dpid" | tr '\n' ' ' || true)"
tot_rss=0 tot_pss=0 tot_anon=0 tot_pd=0
for p in $procs; do
  read -r rss pss anon pd < <(awk '/^Rss:/ {r=$2} /^Pss:/ {p=$2} /^Anonymous:/ {a=$2}
    /^Private_Dirty:/ {d=$2} END {print r, p, a, d}' "/proc/$p/smaps_rollup")
  printf '  pid %-7s %-22s Rss %6d kB  Pss %6d kB  Anonymous %6d kB  Private_Dirty %6d kB\n' \
    "$p" "$(tr '\0' ' ' <"/proc/$p/cmdline" | cut -c1-22)" "$rss" "$pss" "$anon" "$pd"
  tot_rss=$((tot_rss + rss)) tot_pss=$((tot_pss + pss))
  tot_anon=$((tot_anon + anon)) tot_pd=$((tot_pd + pd))
done
printf 'summed over %d processes: Rss %.1f MiB  Pss %.1f MiB  Anonymous %.1f MiB  Private_Dirty %.1f MiB (target: anonymous <= 8 MiB)\n' \
  "$(echo $procs | wc -w)" "$(div $tot_rss 1024 1)" "$(div $tot_pss 1024 1)" \
  "$(div $tot_anon 1024 1)" "$(div $tot_pd 1024 1)"
# context switches of every thread of the daemon and its children
switches() {
  local p
  for p in $procs; do cat /proc/"$p"/task/*/status 2>/dev/null; done |
    awk '/^(non)?voluntary_ctxt_switches:/ {s += $2} END {print s + 0}'
}
s0=$(switches); sleep "$idle"; s1=$(switches)
say "context switches in $idle s idle: $((s1 - s0)) (daemon and children, all threads; target 0)"
kill -TERM "$dpid"; wait "$dpid" 2>/dev/null || true

# --- 3. PKCS#11 calls ----------------------------------------------------------
say ""
say "== 3. PKCS#11 calls (tests/p11shim counting in front of SoftHSM)"
counted() { # NAME ARGS...: csagent through the shim, counts in logs/NAME.p11
  P11SHIM_COUNT_FILE=$work/logs/$1.p11 timed "$@"
}
total() { awk '{s += $2} END {print s + 0}' "$1"; }
by_fn() { sort -k2,2gr "$1" | awk '{printf " %s %s", $1, $2}'; }
counted p11-idle "$csagent" -c shim.ini run --once
say "run --once, nothing due: $(total logs/p11-idle.p11) calls = $(div "$(total logs/p11-idle.p11)" "$n" 1) per identity:$(by_fn logs/p11-idle.p11)"
if [ -s logs/renew-all.p11 ] && [ "$(swapped renew-all)" -gt 0 ]; then
  join -a1 -a2 -e0 -o 0,1.2,2.2 <(sort logs/renew-all.p11) <(sort logs/p11-idle.p11) |
    awk -v k="$(swapped renew-all)" '{d = ($2 - $3) / k; if (d) printf "%s %.1f\n", $1, d}' >logs/p11-round.diff
  say "renewal round of part 1 ($(swapped renew-all) renewed, parallel): $(total logs/renew-all.p11) calls; per renewal, less the cost of a run with nothing due: $(total logs/p11-round.diff) (target <= 40):$(by_fn logs/p11-round.diff)"
fi
say "ARI window of $first moved into the past: $(mgmt "/csca/ari-past?certid=$(certid_of "$first")" | jq -r .updated)"
counted p11-one "$csagent" -c shim.ini run --once
say "run --once, one due (renewed: $(swapped p11-one)): $(total logs/p11-one.p11) calls"
join -a1 -a2 -e0 -o 0,1.2,2.2 <(sort logs/p11-one.p11) <(sort logs/p11-idle.p11) |
  awk '{d = $2 - $3; if (d) print $1, d}' >logs/p11-renewal.diff
say "one renewal (difference): $(total logs/p11-renewal.diff) calls (target <= 40):$(by_fn logs/p11-renewal.diff)"
counted p11-enroll "$csagent" -c shim.ini enroll "$first"
say "csagent enroll $first (one process, one renewal): $(total logs/p11-enroll.p11) calls:$(by_fn logs/p11-enroll.p11)"

# --- 4. 2 ms per PKCS#11 call ------------------------------------------------
say ""
say "== 4. one renewal (csagent enroll) with 2 ms added to every PKCS#11 call"
declare -a w0 w2 c0 c2
for i in $(seq 1 "$repeat"); do
  P11SHIM_LATENCY_US=0 timed "lat0-$i" "$csagent" -c shim.ini enroll "$first"
  [ "$RC" = 0 ] || { echo "enroll failed"; tail -3 "logs/lat0-$i.err"; exit 1; }
  w0+=("$WALL"); c0+=("$CPU")
  P11SHIM_LATENCY_US=2000 timed "lat2-$i" "$csagent" -c shim.ini enroll "$first"
  [ "$RC" = 0 ] || { echo "enroll failed"; tail -3 "logs/lat2-$i.err"; exit 1; }
  w2+=("$WALL"); c2+=("$CPU")
done
m0=$(median "${w0[@]}") m2=$(median "${w2[@]}")
printf 'median of %d: wall %.2f s without, %.2f s with 2 ms/call: ratio %.2f (target <= 1.3); CPU %.2f / %.2f s\n' \
  "$repeat" "$m0" "$m2" "$(div "$m2" "$m0" 2)" "$(median "${c0[@]}")" "$(median "${c2[@]}")"

# --- 5. one enrollment: csagent vs uacme ----------------------------------------
say ""
say "== 5. one enrollment, csagent (P-256 in SoftHSM) vs uacme (EC key in a file), same csca (a second one, fresh state)"
if ! command -v uacme >/dev/null; then
  say "skipped: uacme not installed"
elif [ "$(id -u)" -ne 0 ] || ! command -v update-ca-certificates >/dev/null; then
  say "skipped: uacme trusts only the system CA store (needs root and update-ca-certificates)"
else
  # a csca of its own (made once; SCALE_REUSE keeps it with the token,
  # account and uacme account below)
  cstate5=$work/csca5
  if [ ! -d "$cstate5" ]; then
    rm -rf "$work/state1" "$work/tok1" "$work/uacme"
    mkdir -p "$cstate5"
    "$csca" org add --state "$cstate5" --name "Scale Org" --domain example.com \
      --factor dns-01 --profile codesigning >>logs/csca-setup.log 2>&1
    "$csca" eab add --state "$cstate5" --kid scale-eab-1 --org "Scale Org" \
      --key-file eab.key >>logs/csca-setup.log 2>&1
  fi
  rm -f "$cstate5/port"
  "$csca" serve --state "$cstate5" --port 0 --port-file "$cstate5/port" \
    --always-valid >logs/csca5.log 2>&1 &
  pids+=("$!")
  for _ in $(seq 1 100); do [ -s "$cstate5/port" ] && break; sleep 0.1; done
  [ -s "$cstate5/port" ] || { echo "second csca did not start"; tail -5 logs/csca5.log; exit 1; }
  url=https://127.0.0.1:$(cat "$cstate5/port") cstate=$cstate5
  anchor=/usr/local/share/ca-certificates/csagent-bench-scale-$$.crt
  cp "$cstate/tls-root.pem" "$anchor"; update-ca-certificates >/dev/null 2>&1
  printf '#!/bin/sh\n[ "$1" = begin ] && [ "$2" != dns-01 ] && exit 1\nexit 0\n' >uacme-hook.sh
  chmod 755 uacme-hook.sh
  [ -d "$work/uacme" ] ||
    uacme -y -t EC -c "$work/uacme" -a "$url/directory" new ops@example.com \
    >logs/uacme-new.log 2>&1 || { echo "uacme new failed"; tail -5 logs/uacme-new.log; exit 1; }
  # csagent: a token of its own with one identity, so that the N above do
  # not weigh on it
  # (SCALE_REUSE: the token and account of the last run, if it got here)
  [ -d "$work/state1" ] ||
    CSAGENT=$csagent "$root/softhsm-conf/mktoken.sh" "$work/tok1" one >"$work/tok1.env"
  ( . "$work/tok1/token.env"
    eab_kid=scale-eab-1
    config one.ini "$work/state1" "$CSA_MODULE" < <(identities 1) )
  [ -d "$work/state1" ] ||
    SOFTHSM2_CONF=$work/tok1/softhsm2.conf "$csagent" -c one.ini account register \
    >logs/register1.out 2>&1 || { echo "account register (one) failed"; exit 1; }
  declare -a wa wu ca cu
  for i in $(seq 1 "$repeat"); do
    SOFTHSM2_CONF=$work/tok1/softhsm2.conf timed "one-csagent-$i" "$csagent" -c one.ini enroll id1
    [ "$RC" = 0 ] || { echo "csagent enroll failed"; tail -3 "logs/one-csagent-$i.err"; exit 1; }
    wa+=("$WALL"); ca+=("$CPU")
    timed "one-uacme-$i" uacme -y -f -t EC -c "$work/uacme" -a "$url/directory" \
      -h "$work/uacme-hook.sh" issue "u$i.example.com"
    [ "$RC" = 0 ] || { echo "uacme issue failed"; tail -3 "logs/one-uacme-$i.err"; exit 1; }
    wu+=("$WALL"); cu+=("$CPU")
  done
  ma=$(median "${wa[@]}") mu=$(median "${wu[@]}") mca=$(median "${ca[@]}") mcu=$(median "${cu[@]}")
  printf 'median of %d: wall csagent %.3f s, uacme %.3f s: ratio %.2f (target <= 0.5)\n' \
    "$repeat" "$ma" "$mu" "$(div "$ma" "$mu" 2)"
  printf 'median of %d: CPU  csagent %.3f s, uacme %.3f s: ratio %.2f (target <= 0.25)\n' \
    "$repeat" "$mca" "$mcu" "$(div "$mca" "$mcu" 2)"
fi
say ""
say "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg); work files in $work"
