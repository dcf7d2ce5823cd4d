#!/usr/bin/env bash
# Runs the test suites (make targets), keeps going after a failure, prints
# one summary line per suite with its duration, and fails if any failed.
#
#   tests/lib/run-suites.sh --order "a b+c d" --targets "a b c d e"
#
# Suites run in --order, then any other --targets. "b+c" runs b and c at the
# same time (their output is buffered and printed when both are done): for
# suites that mostly wait on emulators and timers, not for CPU-bound ones.
set -uo pipefail
order=() targets=()
while (($#)); do
    case $1 in
    --order) read -r -a order <<<"$2"; shift 2 ;;
    --targets) read -r -a targets <<<"$2"; shift 2 ;;
    *) targets+=("$1"); shift ;;
    esac
done

declare -A wanted=() placed=()
for t in "${targets[@]}"; do wanted[$t]=1; done

# Build the plan: groups from --order restricted to the targets, then the rest.
plan=()
for entry in "${order[@]}"; do
    IFS=+ read -r -a parts <<<"$entry"
    keep=()
    for p in "${parts[@]}"; do
        [[ -n ${wanted[$p]:-} ]] && keep+=("$p") && placed[$p]=1
    done
    ((${#keep[@]})) && plan+=("$(IFS=+; echo "${keep[*]}")")
done
for t in "${targets[@]}"; do
    [[ -z ${placed[$t]:-} ]] && plan+=("$t")
done

logdir=$(mktemp -d)
trap 'rm -rf "$logdir"' EXIT
declare -a results=()
failed=0
record() { # suite status seconds
    results+=("$(printf '%-22s %s %5ss' "$1" "$2" "$3")")
    [[ $2 == PASS ]] || failed=1
}

for step in "${plan[@]}"; do
    IFS=+ read -r -a group <<<"$step"
    if ((${#group[@]} == 1)); then
        echo "=== make ${group[0]}"
        start=$(date +%s)
        if make --no-print-directory "${group[0]}"; then s=PASS; else s=FAIL; fi
        record "${group[0]}" "$s" $(($(date +%s) - start))
        continue
    fi
    echo "=== make ${group[*]} (in parallel)"
    declare -A pids=() starts=()
    for t in "${group[@]}"; do
        starts[$t]=$(date +%s)
        make --no-print-directory "$t" >"$logdir/$t.log" 2>&1 &
        pids[$t]=$!
    done
    for t in "${group[@]}"; do
        if wait "${pids[$t]}"; then s=PASS; else s=FAIL; fi
        echo "=== make $t (output)"
        cat "$logdir/$t.log"
        record "$t" "$s" $(($(date +%s) - starts[$t]))
    done
    unset pids starts
done

echo "=== summary"
printf '  %s\n' "${results[@]}"
exit "$failed"
