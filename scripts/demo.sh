#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# make demo: the main job on an embedded default, end to end.
#   1. a throwaway SoftHSM token
#   2. csca, the project's ACME CA, on 127.0.0.1, with an organisation that
#      requires a totp-01 pre-authorization for example.com
#   3. the TOTP seed imported into the token (sensitive, not extractable)
#   4. csagent registers an ACME account (key in the token) and enrolls a
#      code-signing certificate (key in the token, CSR signed in the token,
#      totp-01 answered by in-token HMAC)
#   5. a file signed with the token's key and certificate through OpenSSL's
#      pkcs11-provider by URI, and verified
# Everything stays in build/demo/; build/demo/demo.env lets you go on with
# your own signing tools.  Running it again starts afresh.
set -euo pipefail

build=${1:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "$build" && pwd)
demo=$build/demo
csagent=$build/agent/csagent
csca=$build/testca/csca
step() { printf '\n== %s\n' "$*"; }

for p in "$csagent" "$csca"; do
  [ -x "$p" ] || { echo "demo: $p is missing; run make build first" >&2; exit 1; }
done
provider=""
for f in /usr/lib/*/ossl-modules/pkcs11.so; do [ -f "$f" ] && provider=$f; done
[ -n "$provider" ] || { echo "demo: pkcs11-provider is not installed" >&2; exit 1; }

# A previous run's CA may still be up.
[ -f "$demo/csca.pid" ] && kill "$(cat "$demo/csca.pid")" 2>/dev/null || true
rm -rf "$demo"
mkdir -p "$demo"
cd "$demo"
umask 077

step "1. throwaway SoftHSM token (build/demo/token)"
CSAGENT=$csagent "$root/softhsm-conf/mktoken.sh" "$demo/token" csagent-demo >/dev/null
. "$demo/token/token.env"
export SOFTHSM2_CONF
echo "token 'csagent-demo' in $demo/token (PIN in token/pin, mode 0600)"

step "2. csca: local ACME CA with organisation 'Example Corp' (example.com)"
mkdir -p csca
head -c 20 /dev/urandom | base32 >seed.b32
# The account is bound to the organisation by External Account Binding.
head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n' >eab.key
"$csca" org add --state csca --name "Example Corp" --domain example.com \
  --factor totp-01 --profile codesigning
"$csca" otp add --state csca --id release-totp --org "Example Corp" \
  --type totp --digits 6 --algorithm SHA1 --period 30 --seed-file seed.b32
"$csca" eab add --state csca --kid demo-eab --org "Example Corp" \
  --key-file eab.key
"$csca" serve --state csca --port 0 --port-file csca/port >csca.log 2>&1 &
echo $! >csca.pid
trap 'kill "$(cat "$demo/csca.pid")" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do [ -s csca/port ] && break; sleep 0.1; done
[ -s csca/port ] || { echo "demo: csca did not start:"; cat csca.log; exit 1; }
port=$(cat csca/port)
echo "csca listening on https://127.0.0.1:$port (log: build/demo/csca.log)"

step "3. TOTP seed into the token (HMAC secret, never extractable)"
"$csagent" -q otp-import --module "$CSA_MODULE" --token "$CSA_TOKEN_URI" \
  --pin-file "$CSA_PIN_FILE" --label release-totp --file seed.b32
rm -f seed.b32
echo "seed imported as 'release-totp'; the file copy was deleted"

cat >csagent.ini <<CONF
# csagent configuration written by make demo (docs/config.md)
[token]
module = $CSA_MODULE
uri = $CSA_TOKEN_URI
pin_file = $CSA_PIN_FILE

[ca]
directory = https://127.0.0.1:$port/directory
ca_bundle = $demo/csca/tls-root.pem
trust_anchor = $demo/csca/root.pem
contact = mailto:release@example.com
terms_agreed = yes
eab_kid = demo-eab
eab_key_file = $demo/eab.key

[agent]
state_dir = $demo/state

[identity release]
label = release-signing
key_type = p256
profile = codesigning
domain = example.com
organization = Example Corp
challenges = totp-01
otp_secret = release-totp
CONF

step "4. ACME account and code-signing enrollment (keys never leave the token)"
"$csagent" -c csagent.ini account register
"$csagent" -c csagent.ini enroll release
"$csagent" -c csagent.ini list

step "5. sign a file with the token's key by PKCS#11 URI, then verify"
"$root/softhsm-conf/openssl-provider.sh" "$demo/openssl.cnf" "$CSA_MODULE" \
  "$CSA_PIN_FILE" "$provider"
uri="$CSA_TOKEN_URI;object=release-signing"
echo "csagent demo release artefact $(date -u +%FT%TZ)" >artifact.txt
openssl x509 -in state/release.pem -out signer.pem
awk '/BEGIN CERTIFICATE/ {n++} n > 1' state/release.pem >intermediates.pem
OPENSSL_CONF=$demo/openssl.cnf openssl cms -sign -binary -in artifact.txt \
  -signer signer.pem -inkey "$uri;type=private" -certfile intermediates.pem \
  -outform DER \
  -out artifact.txt.p7s -nodetach
openssl cms -verify -binary -inform DER -in artifact.txt.p7s \
  -CAfile csca/root.pem -purpose any \
  -out artifact.verified >/dev/null
cmp artifact.txt artifact.verified
openssl x509 -in signer.pem -noout -subject -ext extendedKeyUsage,keyUsage
echo "signed artifact.txt with $uri and verified it against csca's root"

cat >demo.env <<ENV
# source me: the demo's token, configuration and identity
export SOFTHSM2_CONF=$SOFTHSM2_CONF
export CSAGENT_CONFIG=$demo/csagent.ini
export CSAGENT_PIN_FILE=$CSA_PIN_FILE
export CSAGENT_IDENTITY_URI='$uri'
export CSAGENT_CA_ROOT=$demo/csca/root.pem
# OpenSSL with pkcs11-provider for the token: OPENSSL_CONF=$demo/openssl.cnf
ENV
step "done"
echo "used: totp-01 pre-authorization answered by HMAC inside the token"
echo "next: . $demo/demo.env  (csca was stopped; restart it with"
echo "      $csca serve --state $demo/csca --port $port)"
