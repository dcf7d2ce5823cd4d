#!/usr/bin/env bash
# Runs the cmocka unit-test binaries and sums up their results.
#
#   tests/unit/run.sh BIN...      (make test-unit passes build/asan/unit/test_*)
#
# Each binary reports in TAP (CMOCKA_MESSAGE_OUTPUT=TAP); this prints one
# line per binary (passed/failed/skipped), the full output of any binary
# that failed or crashed, then a total. Exit status: 0 iff every binary ran
# every planned test and none failed.
#
# The storage tests run on SQLite always and on PostgreSQL when
# ITEMS_TEST_PG_URL names a database. When it is unset, a throwaway server
# is started here (lib/pg.sh) and stopped on exit, so that a plain
# `make test-unit` covers both back ends.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

if (($# == 0)); then
    echo "usage: $0 UNIT_TEST_BINARY..." >&2
    exit 2
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/items-unit.XXXXXX")
PG_STARTED=0

cleanup() {
    if ((PG_STARTED)); then
        pg_stop
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

if [[ -z ${ITEMS_TEST_PG_URL:-} ]]; then
    # shellcheck source=lib/pg.sh
    source "$ROOT/lib/pg.sh"
    # The server runs as another user when we are root: it must be able to
    # reach its data directory under ours.
    chmod 0755 "$WORK"
    echo "unit: starting a throwaway PostgreSQL for the storage tests"
    if ! pg_start "$WORK/pg"; then
        echo "unit: could not start PostgreSQL (set ITEMS_TEST_PG_URL to use an existing one)" >&2
        exit 1
    fi
    PG_STARTED=1
    export ITEMS_TEST_PG_URL=$PG_URL
fi

# Sanitizer reports must fail the run and say where.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export CMOCKA_MESSAGE_OUTPUT=TAP

total_pass=0
total_fail=0
total_skip=0
failed_bins=()

for bin in "$@"; do
    name=$(basename "$bin")
    log="$WORK/$name.log"
    rc=0
    "$bin" >"$log" 2>&1 || rc=$?

    # TAP: "1..N" per group, "ok N - name", "not ok N - name",
    # "not ok N # SKIP name".
    planned=$(awk '/^1\.\.[0-9]+$/ { sub(/^1\.\./, ""); n += $0 } END { print n + 0 }' "$log")
    pass=$(grep -c '^ok [0-9]' "$log" || true)
    skip=$(grep -c '^not ok [0-9]* # SKIP' "$log" || true)
    fail=$(($(grep -c '^not ok [0-9]' "$log" || true) - skip))
    ran=$((pass + fail + skip))

    status=ok
    if ((fail > 0)); then
        status=FAILED
    elif ((rc != 0)); then
        status="CRASHED (exit $rc)"
    elif ((ran != planned || planned == 0)); then
        status="INCOMPLETE ($ran of $planned ran)"
    fi
    printf '  %-24s %4d passed %4d failed %4d skipped  %s\n' "$name" "$pass" "$fail" "$skip" "$status"
    # Binaries with several groups (the storage tests: one per database)
    # get a line per group.
    if (($(grep -cE '^# (not )?ok - ' "$log" || true) > 1)); then
        awk '/^1\.\.[0-9]+$/ { p = 0; f = 0; s = 0; next }
             /^ok [0-9]/ { p++; next }
             /^not ok [0-9]+ # SKIP/ { s++; next }
             /^not ok [0-9]/ { f++; next }
             /^# (not )?ok - / { g = $0; sub(/^# (not )?ok - /, "", g)
                                 printf "      %-20s %4d passed %4d failed %4d skipped\n", g, p, f, s }' "$log"
    fi
    # Notices the binaries print for the reader (e.g. a skipped back end).
    grep -E '^(note|notice|skipping)' "$log" | sed 's/^/      /' || true

    if [[ $status != ok ]]; then
        failed_bins+=("$name")
        # Everything but the passing tests: failures with their diagnostics,
        # sanitizer reports, anything printed before a crash.
        echo "----- $name: failures -----"
        grep -v -E '^(ok [0-9]|1\.\.[0-9]+$)' "$log" || true
        echo "----- end of $name -----"
        if ((fail == 0)); then
            fail=1 # a crash or a short run counts as a failure
        fi
    fi
    total_pass=$((total_pass + pass))
    total_fail=$((total_fail + fail))
    total_skip=$((total_skip + skip))
done

printf 'unit: %d passed, %d failed, %d skipped in %d binaries\n' \
    "$total_pass" "$total_fail" "$total_skip" "$#"
if ((${#failed_bins[@]} > 0)); then
    echo "unit: FAILED: ${failed_bins[*]}" >&2
    exit 1
fi
