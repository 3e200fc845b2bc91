#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# check-symbols.sh NM ARCHIVE...: fails when an object of an ARCHIVE refers
# to a symbol of the token layer (tok_*) or of PKCS#11 (C_*), which the
# network process's libraries must never do (tests/net/CMakeLists.txt).
set -u
nm=${1:?usage: check-symbols.sh NM ARCHIVE...}
shift
[ $# -gt 0 ] || { echo "check-symbols.sh: no archive given" >&2; exit 2; }
rc=0
for lib in "$@"; do
    if ! undef=$("$nm" -u "$lib"); then
        echo "check-symbols.sh: $nm -u $lib failed" >&2
        exit 2
    fi
    bad=$(printf '%s\n' "$undef" |
          awk '/:$/ { obj = $0 } $1 == "U" && $2 ~ /^(tok_|C_)/ {
                   print "  " obj " " $2 }')
    if [ -n "$bad" ]; then
        echo "$lib refers to token or PKCS#11 code:"
        printf '%s\n' "$bad"
        rc=1
    else
        echo "$lib: no tok_* or C_* reference"
    fi
done
exit $rc
