#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Creates a throwaway SoftHSM token directory and config under DIR and
# initialises a token in it, then prints the variables tests need (as shell
# assignments, also written to DIR/token.env).  Never touches the system
# token directory.  PINs are written to files (mode 0600) and handed to
# csagent token-init by file, never on a command line.
#
#   mktoken.sh DIR LABEL [SO_PIN_FILE USER_PIN_FILE]
#
# Without PIN files, random PINs are generated into DIR/so-pin and DIR/pin.
# Re-running with the same DIR and LABEL keeps an existing token.  Set
# CSAGENT to the csagent binary and SOFTHSM2_MODULE to libsofthsm2.so when
# they are not found on their usual paths.
set -euo pipefail

usage() { echo "usage: $0 DIR LABEL [SO_PIN_FILE USER_PIN_FILE]" >&2; exit 2; }
[ $# -eq 2 ] || [ $# -eq 4 ] || usage
dir=$1 label=$2
here=$(cd "$(dirname "$0")" && pwd)

module=${SOFTHSM2_MODULE:-}
if [ -z "$module" ]; then
  for m in /usr/lib/softhsm/libsofthsm2.so \
           /usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so \
           /usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so; do
    [ -f "$m" ] && { module=$m; break; }
  done
fi
[ -n "$module" ] || { echo "mktoken: libsofthsm2.so not found (install softhsm2)" >&2; exit 77; }
csagent=${CSAGENT:-$(command -v csagent || true)}
[ -x "$csagent" ] || { echo "mktoken: csagent binary not found (set CSAGENT)" >&2; exit 77; }

mkdir -p "$dir/tokens"
dir=$(cd "$dir" && pwd)
chmod 700 "$dir"
conf=$dir/softhsm2.conf
sed "s|@TOKENDIR@|$dir/tokens|" "$here/softhsm2.conf.in" >"$conf"
export SOFTHSM2_CONF=$conf

umask 077
if [ $# -eq 4 ]; then
  so_pin=$3 pin=$4
else
  so_pin=$dir/so-pin pin=$dir/pin
  [ -s "$so_pin" ] || od -An -N8 -tx1 /dev/urandom | tr -d ' \n' >"$so_pin"
  [ -s "$pin" ] || od -An -N8 -tx1 /dev/urandom | tr -d ' \n' >"$pin"
fi

# A token with this label already here? Then keep it.
if ! "$csagent" -q list --module "$module" --token "pkcs11:token=$label" \
      --pin-file "$pin" >/dev/null 2>&1; then
  "$csagent" -q token-init --module "$module" --label "$label" \
    --so-pin-file "$so_pin" --pin-file "$pin" >/dev/null
fi

{
  echo "SOFTHSM2_CONF=$conf"
  echo "CSA_MODULE=$module"
  echo "CSA_TOKEN_URI=pkcs11:token=$label"
  echo "CSA_TOKEN_LABEL=$label"
  echo "CSA_PIN_FILE=$pin"
  echo "CSA_SO_PIN_FILE=$so_pin"
} | tee "$dir/token.env"
