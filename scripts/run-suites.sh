#!/usr/bin/env bash
# Runs each make target given, keeps going after a failure, prints one summary
# line per suite with its duration, and fails if any suite failed.
set -uo pipefail
declare -a results=()
failed=0
for target in "$@"; do
    echo "=== make $target"
    start=$(date +%s)
    if make --no-print-directory "$target"; then
        status=PASS
    else
        status=FAIL
        failed=1
    fi
    results+=("$(printf '%-22s %s %5ss' "$target" "$status" $(($(date +%s) - start)))")
done
echo "=== summary"
printf '  %s\n' "${results[@]}"
exit "$failed"
