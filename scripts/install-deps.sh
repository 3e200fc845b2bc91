#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Idempotent: installs, as root via apt, the Debian packages csagent needs when
# they are missing.  pkcs11-provider comes from bookworm-backports; its source
# entry is derived from the machine's existing Debian entry, so no mirror host
# is ever written into this repository.
set -euo pipefail

PKGS=(
  build-essential cmake pkg-config clang-format
  libssl-dev openssl libcurl4-openssl-dev libjson-c-dev libinih-dev
  libmicrohttpd-dev libcmocka-dev libp11-kit-dev p11-kit libp11-dev
  libsystemd-dev libseccomp-dev
  softhsm2 opensc pebble uacme lego curl ca-certificates
  # tests/ocki: openCryptoki's software token and its slot daemon (run by
  # the test in its own namespaces with unshare from util-linux; python3
  # reads csca's statistics)
  opencryptoki util-linux python3
  # tests/agent/exec.sh: the Authenticode recipe of docs/signing.md
  # (libp11's engine, and a PE file built by the MinGW cross compiler)
  libengine-pkcs11-openssl gcc-mingw-w64-x86-64-win32 jq
  # tests/signing: the UEFI Secure Boot recipe (sbsign, sbverify); the
  # Authenticode recipes use osslsigncode (below), the engine and MinGW
  sbsigntool
  # tests/man: mandoc -Tlint on the manual pages; packaging (debian/,
  # docs/operations.md "Packaging"): debhelper's cmake build, lintian
  mandoc debhelper lintian
)
# From bookworm-backports: pkcs11-provider, and osslsigncode 2.9 (the
# version docs/signing.md's recipe was written against).
BPO_PKGS=(pkcs11-provider osslsigncode)

missing=()
for p in "${PKGS[@]}" "${BPO_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
    missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages: ${missing[*]}" >&2
  echo "install-deps: run as root (or: sudo $0) to install them" >&2
  exit 1
fi

# Derive a bookworm-backports entry from the first Debian main entry.
codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
bpo=/etc/apt/sources.list.d/csagent-backports.sources
if ! grep -rqs "${codename}-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
  uri=""
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    # deb822: the URIs line of the stanza whose Suites has the plain codename.
    uri=$(awk -v c="$codename" '
      /^URIs:/ {u=$2} /^Suites:/ {for(i=2;i<=NF;i++) if($i==c) {print u; exit}}
      /^$/ {u=""}' /etc/apt/sources.list.d/debian.sources)
  fi
  if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
    uri=$(awk -v c="$codename" '$1=="deb" && $3==c {print $2; exit}' /etc/apt/sources.list)
  fi
  if [ -z "$uri" ]; then
    echo "install-deps: no Debian '$codename' source entry found to derive backports from" >&2
    exit 1
  fi
  keyring=/usr/share/keyrings/debian-archive-keyring.gpg
  {
    echo "Types: deb"
    echo "URIs: $uri"
    echo "Suites: ${codename}-backports"
    echo "Components: main"
    [ -f "$keyring" ] && echo "Signed-By: $keyring"
  } >"$bpo"
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
normal=()
for p in "${missing[@]}"; do
  case " ${BPO_PKGS[*]} " in *" $p "*) ;; *) normal+=("$p") ;; esac
done
[ ${#normal[@]} -eq 0 ] || apt-get install -y -qq --no-install-recommends "${normal[@]}"
for p in "${BPO_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
    apt-get install -y -qq --no-install-recommends -t "${codename}-backports" "$p"
done
