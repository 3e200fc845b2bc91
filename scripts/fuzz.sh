#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# make fuzz: runs every libFuzzer harness of a clang build for RUNS
# executions each, from the seeds kept in the tree or made by the harness,
# and prints one line per harness for docs/security.md.
#   scripts/fuzz.sh BUILD_DIR RUNS [HARNESS...]
# FUZZ_SECONDS=N also stops each harness after N seconds (the table then
# shows how many executions it reached).
set -u
build=${1:?usage: fuzz.sh BUILD_DIR RUNS [HARNESS...]}
runs=${2:?usage: fuzz.sh BUILD_DIR RUNS [HARNESS...]}
shift 2
src=$(cd "$(dirname "$0")/.." && pwd)
# harness  libFuzzer binary  seed source ("dir:PATH", "gen:BINARY" or "-")
table="acme_parse tests/acme/fuzz_acme_parse_libfuzzer -
agent_files tests/agent_unit/fuzz_agent_files_libfuzzer dir:$src/tests/agent_unit/corpus-files
holder_proto tests/agent_unit/fuzz_holder_proto_libfuzzer gen:tests/agent_unit/fuzz_holder_proto
chain tests/agent_unit/fuzz_chain_libfuzzer gen:tests/agent_unit/fuzz_chain
uri tests/pkcs11/fuzz_uri_libfuzzer gen:tests/pkcs11/fuzz_uri
pol_parse tests/policy/fuzz_pol_parse_libfuzzer gen:tests/policy/fuzz_pol_parse
csca_jws tests/csca/csca_fuzz_jws -
csca_handlers tests/csca/csca_fuzz_handlers gen:tests/csca/fuzz_handlers
csca_tsa tests/csca/csca_fuzz_tsa gen:tests/csca/fuzz_tsa"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=suppressions=$src/tests/lsan.supp
rc=0
printf '| date | harness | executions | seconds | crashes |\n| --- | --- | --- | --- | --- |\n'
while read -r name bin seeds; do
    if [ $# -gt 0 ] && ! printf '%s\n' "$@" | grep -qx "$name"; then
        continue
    fi
    if [ ! -x "$build/$bin" ]; then
        echo "fuzz.sh: $build/$bin is not built (clang needed)" >&2
        rc=1
        continue
    fi
    corpus=$build/fuzz-corpus/$name
    mkdir -p "$corpus"
    case $seeds in
    dir:*) cp -n "${seeds#dir:}"/* "$corpus"/ ;;
    gen:*) "$build/${seeds#gen:}" seeds "$corpus" "$src/docs/policy.example.ini" ;;
    esac
    log=$build/fuzz-$name.log
    start=$(date +%s)
    (cd "$build" && "$build/$bin" -runs="$runs" -max_len=8192 \
        ${FUZZ_SECONDS:+-max_total_time=$FUZZ_SECONDS} \
        -artifact_prefix="$build/fuzz-$name-" "$corpus") >"$log" 2>&1
    status=$?
    secs=$(($(date +%s) - start))
    done_line=$(grep -E '^(#[0-9]+|Done)' "$log" | tail -1)
    execs=$(printf '%s\n' "$done_line" | sed -n 's/^#\([0-9]*\).*/\1/p; s/^Done \([0-9]*\) runs.*/\1/p')
    crashes=0
    if [ $status -ne 0 ]; then
        crashes=1
        rc=1
        echo "fuzz.sh: $name failed, see $log and $build/fuzz-$name-*" >&2
    fi
    printf '| %s | `%s` | %s | %s | %s |\n' "$(date +%F)" "$name" \
        "${execs:-?}" "$secs" "$crashes"
done <<<"$table"
exit $rc
