#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# 3. ARI (RFC 9773).  csca issues 1-hour certificates (lifetime rule: renew
#    at ~2/3 = 40 min).  a) POST /csca/ari-past?certid=<early's certificate>
#    moves only that certificate's suggested window into the past: the
#    daemon renews "early" within seconds of starting (a tiny fraction of
#    the lifetime) and sends "replaces" = its CertID (csca's state.json:
#    the new order's replaces, the old certificate's replaced_by), while
#    "steady" is not renewed.  b) alreadyReplaced: csca misissues
#    (--misissue=wrong-eku), the agent refuses the certificates (orders
#    valid, certificates not swapped in); csca restarted correctly: the
#    retry (the windows now in the past) gets 409 alreadyReplaced, the agent orders without replaces and
#    succeeds.
. "$(dirname "$0")/lib.sh"
d_setup "$1" dari early.example.com steady.example.com
csca_start --validity 1h --always-valid
CFG=$W/agent.ini
d_config "$CFG" retry_base=2s retry_max=8s < <(
    identity early ari-early early.example.com
    identity steady ari-steady steady.example.com)
csa register account register
check_rc "account register" 0
csa enroll-early enroll early
check_rc "enroll early" 0
csa enroll-steady enroll steady
check_rc "enroll steady" 0
e0=$(token_serial ari-early) s0=$(token_serial ari-steady)
e0_id=$(csca_certid "$e0")
[ -n "$e0_id" ] || fatal "no certid for $e0 in csca's state.json"
nb=$("$OPENSSL_BIN" x509 -in "$STATE/early.pem" -noout -startdate | cut -d= -f2)
nb=$(date -d "$nb" +%s)
info "early: serial $e0, CertID $e0_id; steady: serial $s0"

say "== a) window in the past for one certificate"
r=$(csca_post "/csca/ari-past?certid=$e0_id")
check_eq "POST /csca/ari-past?certid=$e0_id" 1 "$(echo "$r" | jq -r .updated)"
win=$(csca_get "/renewal-info/$e0_id" | jq -c .suggestedWindow)
info "renewalInfo for early now: $win"
LOG=$W/daemon.log
daemon_start "$LOG"
if wait_log "$LOG" "early: certificate swapped in" 1 20; then
    t=$(date +%s)
    pct=$(( (t - nb) * 100 / 3600 ))
    pass "early renewed $((t - nb)) s after notBefore = ${pct}% of the 1 h lifetime"
    check_le "early renewed well before 2/3 of the lifetime (percent)" 10 "$pct"
else
    fail "early was not renewed within 20 s: $(tail -3 "$LOG")"
fi
check "the daemon's reason was the CA's ARI window" \
    grep -q "early: renewing (random time in the CA's ARI window)" "$LOG"
sleep 3
check_eq "steady: renewals while its window is in the future" 0 "$(count_log "$LOG" 'steady: certificate swapped in')"
check_eq "steady: serial unchanged" "$s0" "$(token_serial ari-steady)"
check_eq "early: renewed exactly once (its new window is in the future)" 1 "$(count_log "$LOG" 'early: certificate swapped in')"
e1=$(token_serial ari-early)
check_ne "early: new serial" "$e0" "$e1"
order=$(jq -r --arg c "$e0_id" '.orders | to_entries[] | select(.value.replaces == $c) | .key' "$CSCA_STATE/state.json")
check_ne "csca's state.json: an order with replaces = $e0_id" "" "$order"
newcert=$(jq -r --arg o "$order" '.orders[$o].cert // empty' "$CSCA_STATE/state.json")
check_eq "that order issued the new certificate" "$e1" \
    "$(jq -r --arg c "$newcert" '.certs[$c].serial // empty' "$CSCA_STATE/state.json")"
check_eq "csca: the old certificate's replaced_by" "$order" \
    "$(jq -r --arg s "$e0" '.certs[] | select(.serial == $s) | .replaced_by // empty' "$CSCA_STATE/state.json")"
check_ge "csca stats: renewalInfo requests" 2 "$(csca_get /csca/stats | jq -r '.by_endpoint.renewalInfo // 0')"
why=$(jq -r '.[] | select(.identity == "steady") | .next_renewal_why' "$STATE/status.json")
info "steady: status.json next_renewal_why = '$why'"
check_clean_pair early ari-early "after the early renewal"

say "== b) alreadyReplaced after refused (misissued) certificates"
csca_stop
csca_start --validity 1h --always-valid --misissue=wrong-eku
# Every certificate due now (a forced SIGUSR1 renewal alone is not retried
# with back-off when the certificate is not due: the next round re-checks
# ARI and goes back to the CA's schedule).
check_ge "POST /csca/ari-past (every certificate): updated" 2 "$(csca_post /csca/ari-past | jq -r .updated)"
kill -USR1 $DPID
wait_log "$LOG" "steady: renewal failed" 1 20 &&
    pass "steady: the misissued certificate is refused: $(grep -m1 'steady: renewal failed' "$LOG" | sed 's/.*renewal failed: //' | cut -c1-150)" ||
    fail "no refused renewal with --misissue=wrong-eku: $(tail -3 "$LOG")"
check_eq "steady: serial unchanged after the refusal" "$s0" "$(token_serial ari-steady)"
check_clean_pair steady ari-steady "after the refused certificate"
csca_stop
n=$(count_log "$LOG" "swapped in")
csca_start --validity 1h --always-valid
if wait_log "$LOG" "swapped in" $((n + 2)) 30; then
    pass "both identities renewed once csca issues correctly again"
else
    fail "renewals did not complete after csca came back: $(tail -3 "$LOG")"
fi
check "the agent saw alreadyReplaced and ordered without replaces" \
    grep -q "steady: the CA says the certificate was already replaced; ordering without replaces" "$LOG"
check_ge "csca answered 409 (alreadyReplaced)" 1 "$(csca_get /csca/stats | jq -r '.by_status["409"] // 0')"
check_ne "steady: new serial" "$s0" "$(token_serial ari-steady)"
daemon_stop
check_eq "daemon exit on SIGTERM" 0 "$DRC"
check_clean_pair steady ari-steady "at the end (steady)"
check_clean_pair early ari-early "at the end (early)"
check_no_pin "$LOG" "$W"/logs/*
d_finish
