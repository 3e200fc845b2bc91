#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# run.sh WORKDIR RECIPE [MODE] : one recipe of docs/signing.md end to end
# against csca (with its time-stamp authority) and a SoftHSM token.
#   RECIPE  osslsigncode  Authenticode: PE and .ps1, -ac, -ts
#           expired       a timestamped PE verifies after its certificate
#                         expired (csca --validity 20s)
#           sbsign        UEFI Secure Boot (RSA 3072 key)
#           cms           openssl cms, then an RFC 3161 timestamp of it
#   MODE    the exec mode, default "exec" (see recipes.sh); "ephemeral":
#           csagent exec --ephemeral (one key and certificate for the
#           recipe, csca with --min-validity), then the run's audit line
#           and that nothing of the run is left on the token
# Every tool comes from scripts/install-deps.sh: a missing one fails the
# test (exit 1), it is never skipped.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/recipes.sh"
[ $# -ge 2 ] || fatal "usage: $0 WORKDIR RECIPE [MODE]"
work=$1 recipe=$2 exec_mode=${3:-exec}
eph=()
[ "$exec_mode" = ephemeral ] && eph=(--min-validity 5s)
case $recipe in
osslsigncode | cms) s_setup "$work" p256 "${eph[@]}" ;;
# UEFI firmware verifies RSA signatures (the smallest RSA key csagent
# makes is 3072 bits).
sbsign) s_setup "$work" rsa3072 "${eph[@]}" ;;
# 20 s: long enough to enroll and sign, short enough to wait out.
expired) s_setup "$work" p256 --validity 20s "${eph[@]}" ;;
*) fatal "unknown recipe '$recipe'" ;;
esac
if [ "$exec_mode" = ephemeral ]; then
    # the artifact each recipe's command writes (recipes.sh), digested
    # into the audit line
    case $recipe in
    osslsigncode) art=signed-app.exe life=5m ;;
    expired) art=ts-app.exe life=15s ;;
    sbsign) art=signed.efi life=5m ;;
    cms) art=release.tar.gz.p7s life=5m ;;
    esac
    printf '[ephemeral]\nmin_lifetime = 10s\nmax_lifetime = 10m\n' >"$POLICY"
    exec_mode="exec --ephemeral --lifetime $life --artifact $W/$recipe/$art"
fi
say "== recipe $recipe, mode '$exec_mode'"
"recipe_$recipe" "$exec_mode"
if [ "${exec_mode#exec --ephemeral}" != "$exec_mode" ]; then
    s_check_ephemeral "$W/$recipe" "$W/$recipe/$art"
fi
d_finish
