#!/usr/bin/env bash
# Runs the libFuzzer harnesses built by mk/fuzz.mk.
#
#   run.sh fuzz HARNESS...     fuzz each for $FUZZ_SECONDS (default 60), $FUZZ_JOBS at
#                              a time (default 1); fails if any harness finds anything
#   run.sh regress HARNESS...  run each harness once over its seed corpus and over
#                              every file in tests/fuzz/regressions/<harness>/; fails
#                              if any input crashes
#
# Binaries and working state live in $FUZZ_DIR (default build/fuzz):
#   corpus/<h>/     working corpus, seeded from tests/fuzz/corpus/<h> (grows locally)
#   artifacts/<h>/  crash-*, leak-*, timeout-*, oom-* inputs
#   logs/<h>.log    the last run's libFuzzer output
set -uo pipefail

mode=${1:?usage: run.sh fuzz|regress HARNESS...}
shift
dir=${FUZZ_DIR:-build/fuzz}
secs=${FUZZ_SECONDS:-60}
jobs=${FUZZ_JOBS:-1}
src=tests/fuzz
vectors=../shared/http-vectors

# Per-harness input size limit: long enough for the limits each parser enforces
# (an 8 KiB request line, a 16 KiB head), short enough to stay fast.
max_len() {
    case $1 in
    http) echo 20000 ;;
    json) echo 8192 ;;
    merge_patch) echo 4096 ;;
    *) echo 512 ;;
    esac
}

# The shared desync vectors (if present beside the repo) as extra read-only
# seeds for the HTTP harness: extracted at run time, never committed.
extract_vectors() {
    local out=$dir/vectors/http
    [[ -d $vectors ]] && command -v python3 >/dev/null || return 1
    if [[ ! -d $out ]]; then
        mkdir -p "$out"
        python3 - "$vectors" "$out" <<'EOF' || return 1
import hashlib, json, pathlib, sys
src, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
for f in sorted(src.glob("*.json")):
    for v in json.loads(f.read_text()):
        p = v["payload"].encode("latin-1", "replace")
        (out / hashlib.sha1(p).hexdigest()).write_bytes(p)
EOF
    fi
    echo "$out"
}

# Fuzzes one harness; the report goes to $dir/logs/<h>.summary (printed by the
# caller, so parallel runs do not interleave).
fuzz_one() {
    local h=$1
    local bin=$dir/fuzz_$h log=$dir/logs/$h.log
    local corpus=$dir/corpus/$h arts=$dir/artifacts/$h extra=()
    mkdir -p "$corpus" "$arts" "$dir/logs"
    exec >"$dir/logs/$h.summary"
    cp -n "$src/corpus/$h/"* "$corpus/" 2>/dev/null
    if [[ $h == http ]] && v=$(extract_vectors); then
        extra=("$v")
    fi
    local dict=()
    [[ -f $src/dict/$h.dict ]] && dict=(-dict="$src/dict/$h.dict")
    "$bin" -max_total_time="$secs" -max_len="$(max_len "$h")" -timeout=10 -rss_limit_mb=2048 \
        "${dict[@]}" -print_final_stats=1 -artifact_prefix="$arts/" \
        "$corpus" "${extra[@]}" >"$log" 2>&1
    local rc=$?
    local execs secs_run found
    execs=$(awk '/stat::number_of_executed_units/ {print $2}' "$log" | tail -n1)
    secs_run=$(grep -oE 'Done [0-9]+ runs in [0-9]+ second' "$log" | awk '{print $5}' | tail -n1)
    found=$(grep -oE 'Test unit written to [^ ]+' "$log" | awk '{print $5}' | tr '\n' ' ')
    if ((rc == 0)) && [[ -z $found ]]; then
        printf 'fuzz %-12s ok     %10s execs in %ss, corpus %s files, nothing found\n' \
            "$h" "${execs:-?}" "${secs_run:-$secs}" "$(find "$corpus" -type f | wc -l)"
        return 0
    fi
    printf 'fuzz %-12s FAILED %10s execs; found: %s(log: %s)\n' "$h" "${execs:-?}" \
        "${found:-nothing saved, exit $rc }" "$log"
    grep -E '^==FUZZ==|ERROR: (Address|Leak|libFuzzer|UndefinedBehavior)|runtime error|^SUMMARY' \
        "$log" | head -n 12 | sed 's/^/    /'
    # The top frames below the sanitizer/libFuzzer/abort machinery.
    grep -E '^ +#[0-9]+ ' "$log" |
        grep -vE 'sanitizer|fuzzer::|libc\.so|pthread_kill|raise\.c|abort\.c|fuzz_fail' |
        head -n 6 | sed 's/^ */    /'
    echo "    next: minimize it and keep it as a regression (see tests/fuzz/README.md):"
    echo "      $bin -minimize_crash=1 -runs=100000 -exact_artifact_path=$src/regressions/$h/<name> <crash file>"
    return 1
}

regress_one() {
    local h=$1
    local bin=$dir/fuzz_$h log=$dir/logs/$h.regress.log failed=0 n_reg=0
    local arts=(-artifact_prefix="$dir/artifacts/regress-$h-")
    mkdir -p "$dir/logs" "$dir/artifacts"
    local seeds=("$src/corpus/$h/"*)
    if [[ -e ${seeds[0]} ]]; then
        if ! "$bin" "${arts[@]}" -runs=0 "$src/corpus/$h" >"$log" 2>&1; then
            echo "fuzz-regress $h: a seed input fails (log: $log)"
            grep -E '^==FUZZ==|ERROR: |^SUMMARY' "$log" | head -n 6 | sed 's/^/    /'
            failed=1
        fi
    fi
    for f in "$src/regressions/$h/"*; do
        [[ -f $f ]] || continue
        n_reg=$((n_reg + 1))
        if ! "$bin" "${arts[@]}" "$f" >"$log.one" 2>&1; then
            echo "fuzz-regress $h: FAILED $f"
            grep -E '^==FUZZ==|ERROR: |^SUMMARY' "$log.one" | head -n 6 | sed 's/^/    /'
            failed=1
        fi
    done
    if ((failed == 0)); then
        printf 'fuzz-regress %-12s ok (%d seeds, %d regressions)\n' "$h" "${#seeds[@]}" "$n_reg"
    fi
    return "$failed"
}

status=0
case $mode in
fuzz)
    if [[ -n ${FUZZ_TOLERATE:-} ]]; then
        echo "fuzz: tolerating known bugs: $FUZZ_TOLERATE (exploration only; CI never sets this)"
    fi
    echo "fuzz: $* for ${secs}s each, $jobs at a time"
    running=0
    for h in "$@"; do
        (fuzz_one "$h") &
        running=$((running + 1))
        if ((running >= jobs)); then
            wait -n || status=1
            running=$((running - 1))
        fi
    done
    while ((running > 0)); do
        wait -n || status=1
        running=$((running - 1))
    done
    for h in "$@"; do
        cat "$dir/logs/$h.summary"
    done
    ;;
regress)
    unset FUZZ_TOLERATE # a known bug keeps failing until it is fixed
    for h in "$@"; do
        regress_one "$h" || status=1
    done
    ;;
*)
    echo "run.sh: unknown mode $mode" >&2
    exit 2
    ;;
esac
exit "$status"
