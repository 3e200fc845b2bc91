#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# hotp_counter.sh WORKDIR : the agent's HOTP counter (state_dir/<id>.hotp).
#   - two enrollments: the counter file advances by exactly one each time
#     and csca accepts both answers
#   - a crash after the counter was persisted but before the answer was
#     sent (simulated: the file is advanced by one by hand) leaves a gap;
#     the next enrollment uses the fresh counter and csca's look-ahead
#     window (10) still accepts it
#   - a replayed counter (the file lowered by hand) is refused by csca and
#     the old certificate stays in place
. "$(dirname "$0")/lib.sh"
d_setup_hotp "$1"
identity release release-signing hotp-01 "otp_secret = release-hotp" | d_config "$CFG"
register "$CFG"
H=$STATE/release.hotp
ctr() { tr -d '\n' <"$H" 2>/dev/null; }
check "no counter file before the first enrollment" test ! -e "$H"
stats_reset
csa enroll "$CFG" enroll release
check_rc "enrollment 1 (HOTP counter 0)" 0
check_eq "counter file after enrollment 1" 1 "$(ctr)"
csa enroll "$CFG" enroll release
check_rc "enrollment 2 (HOTP counter 1)" 0
check_eq "counter file after enrollment 2 (advanced by exactly one)" 2 "$(ctr)"
check_eq "csca accepted both answers (chall -> 200)" 2 "$(csca_saw 'POST /chall/[^ ]+ -> 200')"
check_eq "two answers POSTed in all" 2 "$(stat_of "$(stats)" challenge)"
check_eq "counter file mode" 600 "$(stat -c %a "$H")"
# crash after persisting counter 2 (file = 3), before sending it
echo 3 >"$H"
info "simulated kill -9 after persisting counter 2: $H = 3, counter 2 never sent"
status_serial "$CFG" release
before=$SERIAL
csa enroll "$CFG" enroll release
check_rc "enrollment after the simulated crash uses counter 3 (csca's look-ahead)" 0
check_eq "counter file after it" 4 "$(ctr)"
status_serial "$CFG" release
check_ne "a new certificate was swapped in" "$before" "$SERIAL"
check_enrolled release-signing
# a counter that was already used (file lowered to 1) must be refused
echo 1 >"$H"
before=$SERIAL
stats_reset
csa enroll "$CFG" enroll release
check_rc "enrollment with a replayed HOTP counter (1) is refused by csca" 5
check_out "csca says the code was wrong or used" "wrong or already used"
check_eq "exactly one answer POSTed" 1 "$(stat_of "$(stats)" challenge)"
status_serial "$CFG" release
check_eq "old certificate still in place" "$before" "$SERIAL"
check_enrolled release-signing
d_finish
