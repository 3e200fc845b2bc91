#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# grace.sh WORKDIR : retire_grace keeps the previous pair as
# "<label>.retired" after a renewal and deletes it once the period is over
# (at the next start); without it the retired pair goes at once.
. "$(dirname "$0")/lib.sh"
d_setup_hotp "$1"
identity release release-signing hotp-01 "otp_secret = release-hotp" \
    "retire_grace = 3s" | d_config "$CFG"
register "$CFG"
csa enroll-1 "$CFG" enroll release
check_rc "first enrollment" 0
csa enroll-2 "$CFG" enroll release
check_rc "renewal with retire_grace = 3s" 0
check_out "the agent says it keeps the retired pair" "keeping the retired pair"
csa list-1 "$CFG" list
check_eq "the previous key is kept as release-signing.retired" 1 \
    "$(grep -c '^private-key  label="release-signing.retired"' "$D_OUT")"
check_eq "the previous certificate is kept as release-signing.retired" 1 \
    "$(grep -c '^certificate  label="release-signing.retired"' "$D_OUT")"
check_eq "one key still carries release-signing" 1 \
    "$(grep -c '^private-key  label="release-signing"' "$D_OUT")"
check "the grace deadline is recorded" test -s "$STATE/release.retired"
sleep 4
csa show "$CFG" account show
check_rc "a later start" 0
check_out "it deletes the retired pair once the grace period is over" "grace period over"
csa list-2 "$CFG" list
check_eq "no object labelled release-signing.retired is left" 0 \
    "$(grep -c 'label="release-signing.retired"' "$D_OUT")"
check "the grace record is gone" test ! -e "$STATE/release.retired"
d_finish
