#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# notify.sh WORKDIR : the [agent] notify program (policy [hooks] allowed).
#   - it receives CSAGENT_IDENTITY, CSAGENT_LABEL, CSAGENT_SERIAL,
#     CSAGENT_NOT_AFTER, CSAGENT_CHAIN_PATH equal to what `csagent status`
#     and the issued chain show
#   - a failing notify program does not fail the enrollment (warning only)
#   - without [hooks] allowed it is not run at all
. "$(dirname "$0")/lib.sh"
d_setup_hotp "$1"
printf '[hooks]\nallowed = true\n' >"$POLICY"
NOTIFY=$W/notify.sh
cat >"$NOTIFY" <<N
#!/bin/sh
env | grep '^CSAGENT_' | sort >"$W/notify-env.\$\$"
mv "$W/notify-env.\$\$" "$W/notify-env"
echo run >>"$W/notify-runs"
exit \$(cat "$W/notify-exit" 2>/dev/null || echo 0)
N
chmod 755 "$NOTIFY"
identity release release-signing hotp-01 "otp_secret = release-hotp" | d_config "$CFG"
register "$CFG"
csa enroll "$CFG" enroll release
check_rc "enroll with a notify program" 0
check_eq "notify ran once" 1 "$(wc -l <"$W/notify-runs" 2>/dev/null || echo 0)"
ev() { sed -n "s/^$1=//p" "$W/notify-env"; }
csa status "$CFG" status
st_serial=$(awk '$1=="serial" {print $2}' "$D_OUT")
st_na=$(awk '$1=="not_after" {print $2}' "$D_OUT")
info "status: serial=$st_serial not_after=$st_na; notify env: $(tr '\n' ' ' <"$W/notify-env")"
check_eq "CSAGENT_IDENTITY" release "$(ev CSAGENT_IDENTITY)"
check_eq "CSAGENT_LABEL" release-signing "$(ev CSAGENT_LABEL)"
check_eq "CSAGENT_SERIAL equals csagent status's serial" "$st_serial" "$(ev CSAGENT_SERIAL)"
check_eq "CSAGENT_NOT_AFTER equals csagent status's not_after" "$st_na" "$(ev CSAGENT_NOT_AFTER)"
check_eq "CSAGENT_CHAIN_PATH" "$STATE/release.pem" "$(ev CSAGENT_CHAIN_PATH)"
leaf_serial=$("$OPENSSL_BIN" x509 -in "$(ev CSAGENT_CHAIN_PATH)" -noout -serial 2>/dev/null | cut -d= -f2)
check_eq "CSAGENT_SERIAL is the serial of the leaf at CSAGENT_CHAIN_PATH" \
    "$(echo "$leaf_serial" | sed 's/^0*//')" "$(ev CSAGENT_SERIAL | sed 's/^0*//')"
p11ssl x509 -in "pkcs11:${CSA_TOKEN_URI#pkcs11:};object=release-signing;type=cert" \
    -noout -serial >"$W/tokserial" 2>/dev/null
check_eq "CSAGENT_SERIAL is the serial of the token's certificate" \
    "$(cut -d= -f2 <"$W/tokserial" | sed 's/^0*//')" "$(ev CSAGENT_SERIAL | sed 's/^0*//')"
# a failing notify program
echo 3 >"$W/notify-exit"
old=$st_serial
csa enroll-failing-notify "$CFG" enroll release
check_rc "enroll with a notify program that exits 3 still succeeds" 0
check_out "the failure is logged" "notify program .* exited with 3"
check_eq "notify ran again" 2 "$(wc -l <"$W/notify-runs")"
status_serial "$CFG" release
check_ne "the new certificate was swapped in" "$old" "$SERIAL"
check_eq "CSAGENT_SERIAL of the second run equals status" "$SERIAL" "$(ev CSAGENT_SERIAL)"
check_enrolled release-signing
# hooks not allowed: not run
: >"$POLICY"
rm -f "$W/notify-exit"
csa enroll-hooks-off "$CFG" enroll release
check_rc "enroll with hooks not allowed by the policy" 0
check_out "the agent says why notify did not run" "notify program not run"
check_eq "notify did not run a third time" 2 "$(wc -l <"$W/notify-runs")"
d_finish
