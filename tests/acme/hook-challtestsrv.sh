#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
#
# Test challenge hook: publishes http-01 and dns-01 answers through
# pebble-challtestsrv's management API (CTS_MGMT_URL, inherited from the
# test's environment), so that Pebble validates for real.  Declines every
# other challenge type with exit status 1.  HOOK_LOG, if set, gets one line
# per call (method type identifier) so a test can check what ran.
set -eu
: "${CTS_MGMT_URL:?}"
method=$CSAGENT_HOOK_METHOD
type=$CSAGENT_CHALLENGE_TYPE
[ -n "${HOOK_LOG:-}" ] && echo "$method $type $CSAGENT_IDENTIFIER" >>"$HOOK_LOG"

post() {
    curl -sf -X POST -d "$2" "$CTS_MGMT_URL/$1" >/dev/null
}

# HOOK_CORRUPT=1 publishes a wrong key authorization (negative test)
ka=$CSAGENT_KEY_AUTH
[ "${HOOK_CORRUPT:-0}" = 1 ] && ka="${ka}x"

case "$type" in
http-01)
    case "$method" in
    begin) post add-http01 "{\"token\":\"$CSAGENT_TOKEN\",\"content\":\"$ka\"}" ;;
    *) post del-http01 "{\"token\":\"$CSAGENT_TOKEN\"}" ;;
    esac
    ;;
dns-01)
    case "$method" in
    begin) post set-txt "{\"host\":\"$CSAGENT_DNS01_NAME.\",\"value\":\"$CSAGENT_DNS01_TXT\"}" ;;
    *) post clear-txt "{\"host\":\"$CSAGENT_DNS01_NAME.\"}" ;;
    esac
    ;;
*) exit 1 ;;
esac
