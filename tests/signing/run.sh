#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# run.sh WORKDIR RECIPE [MODE] : one recipe of docs/signing.md end to end
# against csca (with its time-stamp authority) and a SoftHSM token.
#   RECIPE  osslsigncode  Authenticode: PE and .ps1, -ac, -ts
#           expired       a timestamped PE verifies after its certificate
#                         expired (csca --validity 20s)
#           sbsign        UEFI Secure Boot (RSA 3072 key)
#           cms           openssl cms, then an RFC 3161 timestamp of it
#   MODE    the exec mode, default "exec" (see recipes.sh)
# Every tool comes from scripts/install-deps.sh: a missing one fails the
# test (exit 1), it is never skipped.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/recipes.sh"
[ $# -ge 2 ] || fatal "usage: $0 WORKDIR RECIPE [MODE]"
work=$1 recipe=$2 exec_mode=${3:-exec}
case $recipe in
osslsigncode | cms) s_setup "$work" p256 ;;
# UEFI firmware verifies RSA signatures (the smallest RSA key csagent
# makes is 3072 bits).
sbsign) s_setup "$work" rsa3072 ;;
# 20 s: long enough to enroll and sign, short enough to wait out.
expired) s_setup "$work" p256 --validity 20s ;;
*) fatal "unknown recipe '$recipe'" ;;
esac
say "== recipe $recipe, mode '$exec_mode'"
"recipe_$recipe" "$exec_mode"
d_finish
