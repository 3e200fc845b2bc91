#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# csagent --version: the library versions always; the module's C_GetInfo
# when the configuration names a module, without a PIN (pin_file names a
# file that does not exist) and without a token (the URI matches none);
# exit 4 and the library versions first when the module cannot be loaded.
# usage: version.sh WORKDIR   (CSAGENT, SOFTHSM2_MODULE in the environment)
set -uo pipefail
work=${1:?usage: version.sh WORKDIR}
rm -rf "$work" && mkdir -p "$work"
fail=0
check() { # description, command...
    local what=$1
    shift
    if "$@"; then echo "ok: $what"; else echo "FAIL: $what"; fail=1; fi
}

out=$(env -u CSAGENT_CONFIG "$CSAGENT" --version)
rc=$?
check "exit 0 without a configuration" [ "$rc" -eq 0 ]
check "csagent's version first" grep -Eq '^csagent [0-9]+\.[0-9]+\.[0-9]+$' <<<"$out"
for lib in OpenSSL libcurl json-c; do
    check "$lib version" grep -Eq "^  $lib +[^ ]" <<<"$out"
done
check "no module without a configuration" \
    bash -c '! grep -q "PKCS#11 module" <<<"$1"' _ "$out"

printf '[token]\nmodule = /nonexistent/module.so\n' >"$work/bad.ini"
out=$(CSAGENT_CONFIG=$work/bad.ini "$CSAGENT" --version 2>"$work/err")
rc=$?
check "exit 4 when the module cannot be loaded" [ "$rc" -eq 4 ]
check "library versions still printed" grep -q '^  OpenSSL' <<<"$out"
check "the error names the module" grep -q '/nonexistent/module.so' "$work/err"

if [ -z "${SOFTHSM2_MODULE:-}" ] || [ ! -f "$SOFTHSM2_MODULE" ]; then
    echo "SoftHSM module not found: C_GetInfo part skipped"
    [ "$fail" -eq 0 ] && exit 77
    exit 1
fi
mkdir -p "$work/tokens"
printf 'directories.tokendir = %s\nobjectstore.backend = file\n' \
    "$work/tokens" >"$work/softhsm2.conf"
cat >"$work/ok.ini" <<INI
[token]
module = $SOFTHSM2_MODULE
uri = pkcs11:token=no-such-token
pin_file = $work/no-such-pin-file
INI
out=$(SOFTHSM2_CONF=$work/softhsm2.conf "$CSAGENT" --version -c "$work/ok.ini")
rc=$?
check "exit 0 with a module, no PIN file and no token" [ "$rc" -eq 0 ]
check "the module's path" grep -qF "PKCS#11 module $SOFTHSM2_MODULE" <<<"$out"
check "manufacturer from C_GetInfo" grep -Eq '^  manufacturer +SoftHSM' <<<"$out"
check "library version" grep -Eq '^  library version +[0-9]+\.[0-9]+$' <<<"$out"
check "cryptoki version" grep -Eq '^  cryptoki version +[0-9]+\.[0-9]+$' <<<"$out"
exit "$fail"
