#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# 7. What the running agent tells an operator.  Two identities, a few
#    renewals (SIGUSR1): `csagent status --json` shows for each identity
#    label, key_id (the CKA_ID of the token key), serial (the token's
#    certificate), not_after, next_renewal (in the future) and why; the
#    Prometheus textfile has csagent_certificate_not_after_seconds and
#    csagent_renewal_failures_total for each identity, matching the token.
. "$(dirname "$0")/lib.sh"
d_setup "$1" dstat p.example.com q.example.com
csca_start --validity 1h --always-valid
CFG=$W/agent.ini
MET=$W/metrics/csagent.prom
mkdir -p "$W/metrics"
d_config "$CFG" retry_base=2s retry_max=8s metrics_file="$MET" < <(
    identity p stat-p p.example.com
    identity q stat-q q.example.com)
csa register account register
check_rc "account register" 0
LOG=$W/daemon.log
daemon_start "$LOG"
# No certificate yet: the daemon enrolls both at once.
wait_log "$LOG" "certificate swapped in" 2 30 || fail "first enrollments by the daemon: $(tail -3 "$LOG")"
for r in 1 2 3; do
    n=$(count_log "$LOG" "certificate swapped in")
    kill -USR1 $DPID
    wait_log "$LOG" "certificate swapped in" $((n + 2)) 30 || fail "round $r of renewals: $(tail -2 "$LOG")"
done
sleep 0.5
check_eq "renewals: 'swapped in' lines" 8 "$(count_log "$LOG" 'certificate swapped in')"
csa status status --json
check_rc "csagent status --json" 0
S=$OUT
jq . "$S" >/dev/null 2>&1 && pass "status --json is JSON" || fail "status --json is not JSON: $(head -3 "$S")"
now=$(date +%s)
tok_list
for id in p q; do
    label=stat-$id
    o=$(jq -c --arg i $id '.[] | select(.identity == $i)' "$S")
    info "$id: $o"
    check_eq "$id: label" "$label" "$(echo "$o" | jq -r .label)"
    kid=$(grep -E "^private-key +label=\"$label\" " "$W/list.txt" | sed -n 's/.* id=\([^ ]*\) .*/\1/p')
    check_eq "$id: key_id = CKA_ID of the token key" "$kid" "$(echo "$o" | jq -r .key_id)"
    token_cert $label "$W/$id.pem"
    ser=$("$OPENSSL_BIN" x509 -in "$W/$id.pem" -noout -serial | cut -d= -f2)
    check_eq "$id: serial = the token's certificate" "$ser" "$(echo "$o" | jq -r .serial)"
    na=$(date -u -d "$("$OPENSSL_BIN" x509 -in "$W/$id.pem" -noout -enddate | cut -d= -f2)" +%s)
    check_eq "$id: not_after = the certificate's notAfter" "$(date -u -d @$na +%Y-%m-%dT%H:%M:%SZ)" "$(echo "$o" | jq -r .not_after)"
    nr=$(echo "$o" | jq -r '.next_renewal // empty')
    nrs=$(date -u -d "$nr" +%s 2>/dev/null || echo 0)
    if [ "$nrs" -gt "$now" ] && [ "$nrs" -le "$na" ]; then
        pass "$id: next_renewal $nr is after now and not after notAfter"
    else
        fail "$id: next_renewal '$nr' is not in (now, notAfter]"
    fi
    check_ne "$id: why" "" "$(echo "$o" | jq -r '.why // empty')"
    check_eq "$id: last_error" "" "$(echo "$o" | jq -r '.last_error // empty')"
    m=$(awk -v k="csagent_certificate_not_after_seconds{identity=\"$id\",label=\"$label\"}" '$1 == k {print $2}' "$MET")
    check_eq "$id: metrics csagent_certificate_not_after_seconds" "$na" "$m"
    m=$(awk -v k="csagent_renewal_failures_total{identity=\"$id\",label=\"$label\"}" '$1 == k {print $2}' "$MET")
    check_eq "$id: metrics csagent_renewal_failures_total" 0 "$m"
    m=$(awk -v k="csagent_renewals_total{identity=\"$id\",label=\"$label\"}" '$1 == k {print $2}' "$MET")
    check_eq "$id: metrics csagent_renewals_total" 4 "$m"
done
check "metrics file: TYPE lines for both metrics" \
    grep -q "^# TYPE csagent_certificate_not_after_seconds gauge" "$MET"
check "metrics file: renewal failures is a counter" \
    grep -q "^# TYPE csagent_renewal_failures_total counter" "$MET"
# A failure is counted: csca down, forced renewal.
csca_stop
kill -USR1 $DPID
wait_log "$LOG" "renewal failed" 2 20 || fail "no failures logged with csca down"
sleep 0.5
for id in p q; do
    m=$(awk -v k="csagent_renewal_failures_total{identity=\"$id\",label=\"stat-$id\"}" '$1 == k {print $2}' "$MET")
    check_eq "$id: csagent_renewal_failures_total after a failed renewal" 1 "$m"
done
csa status-down status --json
check_ne "status --json: last_error of p with csca down" "" "$(jq -r '.[] | select(.identity == "p") | .last_error' "$OUT")"
daemon_stop
check_eq "daemon exit on SIGTERM" 0 "$DRC"
check_no_pin "$LOG" "$W"/logs/* "$MET"
d_finish
