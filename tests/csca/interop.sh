#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Independent ACME clients against csca: lego or uacme registers and obtains
# a certificate with dns-01 in --always-valid mode.  Only 127.0.0.1 is
# contacted: lego's propagation resolver is pointed at 127.0.0.1 and its
# exec DNS "provider" is /bin/true; its one recursive DNS query goes to
# fakedns.py on 127.0.0.1.
#   interop.sh CSCA WORKDIR lego|uacme      exit 0 pass, 1 fail, 77 skip
set -u
CSCA=$1 WORK=$2/interop-$3 CLIENT=$3
command -v "$CLIENT" >/dev/null 2>&1 || { echo "$CLIENT not installed"; exit 77; }
command -v openssl >/dev/null 2>&1 || { echo "openssl missing"; exit 77; }
rm -rf "$WORK" && mkdir -p "$WORK" || exit 1

PID=
ANCHOR=
cleanup() {
    [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
    if [ -n "$ANCHOR" ]; then
        rm -f "$ANCHOR"
        update-ca-certificates >/dev/null 2>&1
    fi
}
trap cleanup EXIT INT TERM

"$CSCA" serve --state "$WORK/state" --port 0 --port-file "$WORK/port" \
    --always-valid --validity 1d >/dev/null 2>"$WORK/csca.log" &
PID=$!
i=0
while [ ! -s "$WORK/port" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
[ -s "$WORK/port" ] || { echo "csca did not start"; cat "$WORK/csca.log"; exit 1; }
PORT=$(cat "$WORK/port")
DIR="https://127.0.0.1:$PORT/directory"
ROOT="$WORK/state/tls-root.pem"

run_lego() {
    python3 "$(dirname "$0")/fakedns.py" "$WORK/dnsport" &
    DNSPID=$!
    i=0
    while [ ! -s "$WORK/dnsport" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
    EXEC_PATH=/bin/true EXEC_PROPAGATION_TIMEOUT=2 EXEC_POLLING_INTERVAL=1 \
    LEGO_CA_CERTIFICATES="$ROOT" timeout 90 lego --accept-tos \
        --email ops@example.com --server "$DIR" --path "$WORK/lego" \
        --key-type ec256 --domains interop.example --dns exec \
        --dns.disable-cp --dns.resolvers "127.0.0.1:$(cat "$WORK/dnsport")" \
        run >"$WORK/client.log" 2>&1
    rc=$?
    kill "$DNSPID" 2>/dev/null
    [ $rc = 0 ] || return 1
    CERT="$WORK/lego/certificates/interop.example.crt"
}

run_uacme() {
    if [ "$(id -u)" != 0 ] || ! command -v update-ca-certificates >/dev/null
    then
        echo "uacme trusts only the system store; need root and"
        echo "update-ca-certificates to add csca's TLS root"
        exit 77
    fi
    # Debian's uacme ignores CURL_CA_BUNDLE: trust csca's TLS root for the
    # run only (removed again by cleanup).
    ANCHOR=/usr/local/share/ca-certificates/csca-test-$$.crt
    cp "$ROOT" "$ANCHOR" && update-ca-certificates >/dev/null 2>&1 || return 1
    cat >"$WORK/hook.sh" <<'HOOK'
#!/bin/sh
# uacme hook: accept dns-01 only (csca --always-valid), decline others.
[ "$1" = begin ] && [ "$2" != dns-01 ] && exit 1
exit 0
HOOK
    chmod +x "$WORK/hook.sh"
    timeout 90 uacme -v -y -t EC -c "$WORK/uacme" -a "$DIR" new \
        ops@example.com >"$WORK/client.log" 2>&1 || return 1
    timeout 90 uacme -v -t EC -c "$WORK/uacme" -a "$DIR" -h "$WORK/hook.sh" \
        issue interop.example >>"$WORK/client.log" 2>&1 || return 1
    CERT="$WORK/uacme/interop.example/cert.pem"
}

if ! run_$CLIENT || [ ! -s "$CERT" ]; then
    echo "$CLIENT failed"; tail -30 "$WORK/client.log"; tail -30 "$WORK/csca.log"
    exit 1
fi
# The chain the client saved verifies to csca's issuing root.
curl -sf --cacert "$ROOT" "https://127.0.0.1:$PORT/roots/0" >"$WORK/root.pem" \
    || { echo "cannot fetch /roots/0"; exit 1; }
openssl verify -CAfile "$WORK/root.pem" -untrusted "$CERT" "$CERT" \
    >/dev/null || { echo "issued chain does not verify"; exit 1; }
grep -q "POST /new-account -> 201" "$WORK/csca.log" || exit 1
echo "PASS $CLIENT"
