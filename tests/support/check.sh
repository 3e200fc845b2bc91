# SPDX-License-Identifier: Apache-2.0
# Check helpers of the shell test suites (tests/agent, tests/draft,
# tests/daemon), sourced by their lib.sh.  Every check prints what it
# checked; chk_result prints the summary and exits 0 (all passed) or 1.
#
# The suite sets, before or after sourcing:
#   CHK_LAST  prefix of the variables its command runner fills for the
#             last command: <prefix>_RC, <prefix>_OUT, <prefix>_ERR, or
#             RC, OUT, ERR when empty (used by check_rc, check_rc_nonzero,
#             check_out, check_no_out);
#   CHK_DUMP  a function that shows the last command's output when such a
#             check fails, and on fatal (default: none).
# Files the tests write are private, as an operator's would be: csagent
# refuses secret files (PINs, EAB keys, OTP seeds) that others can read.
umask 077
CHK_FAILS=0
CHK_CHECKS=0
CHK_BUGS=()
CHK_T0=$(date +%s)
CHK_LAST=${CHK_LAST:-}
CHK_DUMP=${CHK_DUMP:-:}

say() { printf '%s\n' "$*"; }
skip() { say "SKIP: $*"; exit 77; }
fatal() { say "FATAL: $*"; "$CHK_DUMP"; exit 1; }
info() { say "  info - $*"; }
pass() { CHK_CHECKS=$((CHK_CHECKS + 1)); say "  ok   - $*"; }
fail() {
    CHK_CHECKS=$((CHK_CHECKS + 1)); CHK_FAILS=$((CHK_FAILS + 1))
    say "  FAIL - $*"
}
# bug ID MESSAGE: a failure that shows a bug in the code under test (listed
# again at the end).
bug() {
    local id=$1; shift
    CHK_BUGS+=("$id: $*")
    fail "BUG[$id] $*"
}
# known_bug ID TEST MESSAGE: a bug that has its own failing ctest test:
# printed, not failed again here, so that this test keeps guarding
# everything else.
known_bug() {
    local id=$1 t=$2; shift 2
    say "  KNOWN BUG[$id] (failing test: $t) - $*"
}

check() { # DESCRIPTION COMMAND...
    local what=$1; shift
    if "$@"; then pass "$what"; else fail "$what"; fi
}
check_eq() { # DESCRIPTION EXPECTED ACTUAL
    if [ "$2" = "$3" ]; then pass "$1 (= $3)"
    else fail "$1: expected '$2', got '$3'"; fi
}
check_ne() { # DESCRIPTION UNEXPECTED ACTUAL
    if [ "$2" != "$3" ]; then pass "$1 ('$3' != '$2')"
    else fail "$1: expected something else than '$2'"; fi
}
check_ge() { # DESCRIPTION MIN ACTUAL
    if [ "$3" -ge "$2" ] 2>/dev/null; then pass "$1 ($3 >= $2)"
    else fail "$1: expected >= $2, got '$3'"; fi
}
check_le() { # DESCRIPTION MAX ACTUAL
    if [ "$3" -le "$2" ] 2>/dev/null; then pass "$1 ($3 <= $2)"
    else fail "$1: expected <= $2, got '$3'"; fi
}

# The last command's RC, OUT or ERR (see CHK_LAST).
chk_last() { local v=${CHK_LAST:+${CHK_LAST}_}$1; printf '%s' "${!v:-}"; }
check_rc() { # DESCRIPTION EXPECTED_RC  (of the last command)
    local rc
    rc=$(chk_last RC)
    if [ "$rc" = "$2" ]; then pass "$1: exit $rc"
    else fail "$1: expected exit $2, got $rc"; "$CHK_DUMP"; fi
}
check_rc_nonzero() { # DESCRIPTION
    local rc
    rc=$(chk_last RC)
    if [ "$rc" != 0 ]; then pass "$1: exit $rc (non-zero)"
    else fail "$1: expected a non-zero exit, got 0"; "$CHK_DUMP"; fi
}
check_out() { # DESCRIPTION ERE  (stdout+stderr of the last command)
    if grep -Eq -- "$2" "$(chk_last OUT)" "$(chk_last ERR)"; then
        pass "$1 (output matches /$2/)"
    else fail "$1: output does not match /$2/"; "$CHK_DUMP"; fi
}
check_no_out() { # DESCRIPTION ERE
    if ! grep -Eq -- "$2" "$(chk_last OUT)" "$(chk_last ERR)"; then
        pass "$1 (no /$2/ in output)"
    else fail "$1: output matches /$2/"; "$CHK_DUMP"; fi
}

# chk_result [HEADING]: the bugs shown (under HEADING), the totals, and
# exit 1 if a check failed, else 0.
chk_result() {
    local t=$(( $(date +%s) - CHK_T0 ))
    say ""
    if [ ${#CHK_BUGS[@]} -gt 0 ]; then
        say "${1:-bugs shown by this test}:"
        printf '  - %s\n' "${CHK_BUGS[@]}"
    fi
    if [ "$CHK_FAILS" -gt 0 ]; then
        say "RESULT: $CHK_FAILS of $CHK_CHECKS checks FAILED (${t}s)"
        exit 1
    fi
    say "RESULT: all $CHK_CHECKS checks passed (${t}s)"
    exit 0
}
