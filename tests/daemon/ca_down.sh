#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# 4. CA down for a while.  60-second certificates, retry_base 2s,
#    retry_max 16s.  csca is stopped right after the daemon starts; when the
#    renewal falls due it fails, and the daemon retries with growing
#    intervals ("next try in 2s", 4s, 8s, 16s: exponential back-off, no
#    storm); status.json shows the failure.  csca restarted on the same
#    port and state: the next try renews; csca counts the requests from its
#    restart to a few seconds after the renewal: a bounded number.
. "$(dirname "$0")/lib.sh"
d_setup "$1" ddown example.com
csca_start --validity 60s --always-valid
CFG=$W/agent.ini
ID=down LABEL=down-sig
d_config "$CFG" retry_base=2s retry_max=16s < <(identity $ID $LABEL example.com)
csa register account register
check_rc "account register" 0
csa enroll enroll $ID
check_rc "first enrollment" 0
token_cert $LABEL "$W/c0.pem"
s0=$("$OPENSSL_BIN" x509 -in "$W/c0.pem" -noout -serial | cut -d= -f2)
LOG=$W/daemon.log
daemon_start "$LOG"
wait_log "$LOG" "next action" 1 15 || fatal "daemon did not start: $(tail -3 "$LOG")"
csca_stop
t_down=$(date +%s)
info "csca is down; the renewal is due at ~2/3 of 60 s"
if wait_log "$LOG" "renewal failed: .*next try in" 4 120; then
    pass "4 failed tries while csca is down"
else
    fail "fewer than 4 failed tries: $(grep -c 'renewal failed' "$LOG")"
fi
delays=$(grep -oE "$ID: renewal failed: .*next try in [0-9]+s" "$LOG" | grep -oE '[0-9]+s$' | tr -d s | tr '\n' ' ')
info "back-off delays logged: $delays"
check_eq "first four delays (exponential from retry_base 2s)" "2 4 8 16" "$(echo $delays | cut -d' ' -f1-4)"
info "first error: $(grep -m1 "$ID: renewal failed" "$LOG" | sed 's/.*renewal failed: //' | cut -c1-160)"
jq . "$STATE/status.json" >"$W/status-down.json"
check_eq "status.json: failures" 4 "$(jq -r '.[0].failures' "$W/status-down.json")"
check_eq "status.json: next_renewal_why" "back-off after 4 failure(s)" "$(jq -r '.[0].next_renewal_why' "$W/status-down.json")"
check_ne "status.json: last_error" "" "$(jq -r '.[0].last_error' "$W/status-down.json")"
nfail=$(count_log "$LOG" "renewal failed")
check_le "failed tries during $(( $(date +%s) - t_down )) s of outage (no storm)" 5 "$nfail"
check "the daemon is still running" kill -0 $DPID
# While the CA is down, the label still resolves to a key and certificate
# (possibly expired by now: the CA is down, not the agent's fault).
tok_list && check_eq "private keys labelled '$LABEL' during the outage" 1 "$(count private-key $LABEL)"

n=$(count_log "$LOG" "swapped in")
csca_start --validity 60s --always-valid
t_up=$(date +%s)
if wait_log "$LOG" "$ID: certificate swapped in" 1 30; then
    pass "renewed $(( $(date +%s) - t_up )) s after csca came back (max back-off 16 s)"
else
    fail "no renewal within 30 s of csca coming back: $(tail -3 "$LOG")"
fi
sleep 5
total=$(csca_total)
info "csca stats since its restart: $(csca_get /csca/stats | jq -c .by_endpoint)"
check_le "requests at csca from its restart to 5 s after the renewal (stats call included)" 30 "$total"
check_eq "'renewal failed' lines after csca came back" "$nfail" "$(count_log "$LOG" 'renewal failed')"
jq . "$STATE/status.json" >"$W/status-up.json"
check_eq "status.json after the renewal: failures" 0 "$(jq -r '.[0].failures' "$W/status-up.json")"
check_eq "status.json after the renewal: last_error" "" "$(jq -r '.[0].last_error' "$W/status-up.json")"
token_cert $LABEL "$W/c1.pem"
check_ne "new serial on the token" "$s0" "$("$OPENSSL_BIN" x509 -in "$W/c1.pem" -noout -serial | cut -d= -f2)"
daemon_stop
check_eq "daemon exit on SIGTERM" 0 "$DRC"
check_clean_pair $ID $LABEL "after the outage"
check_no_pin "$LOG" "$W"/logs/*
d_finish
