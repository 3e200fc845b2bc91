#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Starts (or stops) a throwaway Pebble, optionally with pebble-challtestsrv,
# on 127.0.0.1 with free ports, a generated config and a generated TLS
# certificate, all inside a directory the caller names (under the build
# tree).  Exit status 77 when a program is missing (ctest: skipped).
#
#   pebble.sh start DIR [--always-valid] [--eab] [--challtestsrv]
#   pebble.sh stop DIR
#   pebble.sh tls DIR      (only the TLS CA + localhost certificate, for
#                           other throwaway servers: DIR/tls-ca.pem,
#                           DIR/tls.pem, DIR/tls.key)
#
# "start" writes DIR/env (shell syntax) with:
#   PEBBLE_DIR_URL  PEBBLE_CA_BUNDLE  PEBBLE_MGMT_URL  PEBBLE_PORT
#   PEBBLE_MGMT_PORT PEBBLE_PID  PEBBLE_ROOTS (file of /roots/0, PEM)
#   PEBBLE_ROOTS_ALT (/roots/1: Pebble runs with one alternate chain)
#   PEBBLE_EAB_KID  PEBBLE_EAB_KEY_FILE          (with --eab)
#   CTS_MGMT_URL  CTS_HTTP_PORT  CTS_DNS_PORT  CTS_PID (with --challtestsrv)
# Pebble keeps its default 5% rejection of good nonces.
set -euo pipefail

PEBBLE=${PEBBLE:-$(command -v pebble || true)}
PEBBLE_CHALLTESTSRV=${PEBBLE_CHALLTESTSRV:-$(command -v pebble-challtestsrv || true)}
OPENSSL_BIN=${OPENSSL_BIN:-$(command -v openssl || true)}
CURL_BIN=${CURL_BIN:-$(command -v curl || true)}

die() { echo "pebble.sh: $*" >&2; exit 1; }
skip() { echo "pebble.sh: SKIP: $*" >&2; exit 77; }

# A port nobody listens on now.  Ports are then held by our own processes;
# a race with another program is possible but harmless (start fails).
used_ports=" "
free_port() {
    local p i
    for i in $(seq 1 200); do
        p=$((20000 + RANDOM % 40000))
        case "$used_ports" in *" $p "*) continue ;; esac
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            used_ports="$used_ports$p "
            echo "$p"
            return 0
        fi
    done
    die "no free port found"
}

make_tls() {
    local d=$1
    "$OPENSSL_BIN" req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
        -nodes -keyout "$d/tls-ca.key" -out "$d/tls-ca.pem" -days 2 \
        -subj "/CN=csagent test TLS CA" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign" 2>/dev/null
    "$OPENSSL_BIN" req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$d/tls.key" -out "$d/tls.csr" -subj "/CN=localhost" \
        2>/dev/null
    printf '%s\n' "subjectAltName=IP:127.0.0.1,DNS:localhost" \
        "extendedKeyUsage=serverAuth" "basicConstraints=CA:FALSE" \
        >"$d/tls.ext"
    "$OPENSSL_BIN" x509 -req -in "$d/tls.csr" -CA "$d/tls-ca.pem" \
        -CAkey "$d/tls-ca.key" -CAcreateserial -out "$d/tls.pem" -days 2 \
        -extfile "$d/tls.ext" 2>/dev/null
}

write_config() {
    local d=$1 eab=$2 eab_json=""
    if [ "$eab" = 1 ]; then
        eab_json=", \"externalAccountMACKeys\": {\"$PEBBLE_EAB_KID\": \"$(cat "$d/eab.key")\"}"
    fi
    cat >"$d/pebble.json" <<JSON
{
  "pebble": {
    "listenAddress": "127.0.0.1:$PEBBLE_PORT",
    "managementListenAddress": "127.0.0.1:$PEBBLE_MGMT_PORT",
    "certificate": "$d/tls.pem",
    "privateKey": "$d/tls.key",
    "httpPort": $CTS_HTTP_PORT,
    "tlsPort": $CTS_TLS_PORT,
    "ocspResponderURL": "",
    "externalAccountBindingRequired": $([ "$eab" = 1 ] && echo true || echo false)$eab_json
  }
}
JSON
}

wait_up() {
    local url=$1 i
    for i in $(seq 1 100); do
        if "$CURL_BIN" -sf --cacert "$DIR/tls-ca.pem" "$url" >/dev/null 2>&1; then
            return 0
        fi
        sleep 0.1
    done
    return 1
}

start_cts() {
    CTS_MGMT_PORT=$(free_port)
    CTS_DNS_PORT=$(free_port)
    "$PEBBLE_CHALLTESTSRV" -management "127.0.0.1:$CTS_MGMT_PORT" \
        -http01 "127.0.0.1:$CTS_HTTP_PORT" -https01 "" -tlsalpn01 "" \
        -dns01 "127.0.0.1:$CTS_DNS_PORT" -defaultIPv4 127.0.0.1 \
        -defaultIPv6 "" >"$DIR/challtestsrv.log" 2>&1 &
    CTS_PID=$!
    echo "CTS_PID=$CTS_PID" >>"$DIR/pids"
    CTS_MGMT_URL="http://127.0.0.1:$CTS_MGMT_PORT"
}

start() {
    local always_valid=0 eab=0 cts=0 a
    for a in "$@"; do
        case "$a" in
        --always-valid) always_valid=1 ;;
        --eab) eab=1 ;;
        --challtestsrv) cts=1 ;;
        *) die "unknown option $a" ;;
        esac
    done
    [ -x "$PEBBLE" ] || skip "pebble not installed"
    [ -x "$OPENSSL_BIN" ] || skip "openssl not installed"
    [ -x "$CURL_BIN" ] || skip "curl not installed"
    [ "$cts" = 0 ] || [ -x "$PEBBLE_CHALLTESTSRV" ] ||
        skip "pebble-challtestsrv not installed"
    rm -rf "$DIR" && mkdir -p "$DIR" && : >"$DIR/pids"
    make_tls "$DIR"
    PEBBLE_PORT=$(free_port)
    PEBBLE_MGMT_PORT=$(free_port)
    CTS_HTTP_PORT=$(free_port)
    CTS_TLS_PORT=$(free_port)
    PEBBLE_EAB_KID=kid-csagent
    if [ "$eab" = 1 ]; then
        (umask 077 && "$OPENSSL_BIN" rand 32 | base64 -w0 | tr '+/' '-_' |
            tr -d '=' >"$DIR/eab.key")
    fi
    write_config "$DIR" "$eab"
    local dns_args=()
    if [ "$cts" = 1 ]; then
        start_cts
        dns_args=(-dnsserver "127.0.0.1:$CTS_DNS_PORT")
    fi
    (
        export PEBBLE_VA_NOSLEEP=1
        # one alternate chain, so that Link rel="alternate" is exercised
        export PEBBLE_ALTERNATE_ROOTS=1
        [ "$always_valid" = 1 ] && export PEBBLE_VA_ALWAYS_VALID=1
        exec "$PEBBLE" -config "$DIR/pebble.json" "${dns_args[@]}" \
            >"$DIR/pebble.log" 2>&1
    ) &
    PEBBLE_PID=$!
    echo "PEBBLE_PID=$PEBBLE_PID" >>"$DIR/pids"
    if ! wait_up "https://127.0.0.1:$PEBBLE_PORT/dir"; then
        cat "$DIR/pebble.log" >&2 || true
        stop
        die "Pebble did not come up"
    fi
    "$CURL_BIN" -sf --cacert "$DIR/tls-ca.pem" \
        "https://127.0.0.1:$PEBBLE_MGMT_PORT/roots/0" >"$DIR/roots.pem"
    "$CURL_BIN" -sf --cacert "$DIR/tls-ca.pem" \
        "https://127.0.0.1:$PEBBLE_MGMT_PORT/roots/1" >"$DIR/roots1.pem"
    {
        echo "PEBBLE_DIR_URL=https://127.0.0.1:$PEBBLE_PORT/dir"
        echo "PEBBLE_CA_BUNDLE=$DIR/tls-ca.pem"
        echo "PEBBLE_MGMT_URL=https://127.0.0.1:$PEBBLE_MGMT_PORT"
        echo "PEBBLE_PORT=$PEBBLE_PORT"
        echo "PEBBLE_MGMT_PORT=$PEBBLE_MGMT_PORT"
        echo "PEBBLE_PID=$PEBBLE_PID"
        echo "PEBBLE_ROOTS=$DIR/roots.pem"
        echo "PEBBLE_ROOTS_ALT=$DIR/roots1.pem"
        if [ "$eab" = 1 ]; then
            echo "PEBBLE_EAB_KID=$PEBBLE_EAB_KID"
            echo "PEBBLE_EAB_KEY_FILE=$DIR/eab.key"
        fi
        if [ "$cts" = 1 ]; then
            echo "CTS_MGMT_URL=$CTS_MGMT_URL"
            echo "CTS_HTTP_PORT=$CTS_HTTP_PORT"
            echo "CTS_DNS_PORT=$CTS_DNS_PORT"
            echo "CTS_PID=$CTS_PID"
        fi
    } >"$DIR/env"
}

# Kills only the processes this script started (their PIDs are recorded).
stop() {
    local line pid
    [ -f "$DIR/pids" ] || return 0
    while IFS='=' read -r _ pid; do
        if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
            kill "$pid" 2>/dev/null || true
            for _ in 1 2 3 4 5 6 7 8 9 10; do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.1
            done
            kill -9 "$pid" 2>/dev/null || true
        fi
    done <"$DIR/pids"
    rm -f "$DIR/pids"
}

cmd=${1:-}
DIR=${2:-}
[ -n "$cmd" ] && [ -n "$DIR" ] || die "usage: pebble.sh start|stop DIR [options]"
shift 2
case "$cmd" in
start) start "$@" ;;
stop) stop ;;
tls)
    [ -x "$OPENSSL_BIN" ] || skip "openssl not installed"
    mkdir -p "$DIR" && make_tls "$DIR"
    ;;
*) die "unknown command $cmd" ;;
esac
