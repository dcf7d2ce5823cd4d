#!/usr/bin/env bash
# Database faults, hostile clients and the sandbox (issue 3), against the real
# binaries, a throwaway PostgreSQL and real HTTP over loopback.
#
#   tests/faults/run.sh            every test
#   tests/faults/run.sh NAME...    some of them (names below)
#
# Each test is a Python script that prints its figures and exits 0 (pass),
# 1 (fail) or 77 (skipped, with the reason printed). This script starts one
# PostgreSQL cluster for all of them (each test creates its own database) and
# its trap removes everything a test may have left behind: service processes,
# nftables tables, the cluster and the scratch directory.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"

ALL_TESTS=(db_restart db_drop pool_exhaustion slow_clients fd_exhaustion rate_limit vectors sandbox
    held_bodies idle_conns patch_memory)
declare -A SCRIPT=(
    [db_restart]=tests/faults/test_db_restart.py
    [db_drop]=tests/faults/test_db_drop.py
    [pool_exhaustion]=tests/faults/test_pool_exhaustion.py
    [slow_clients]=tests/faults/test_slow_clients.py
    [fd_exhaustion]=tests/faults/test_fd_exhaustion.py
    [rate_limit]=tests/faults/test_rate_limit.py
    [vectors]=tests/vectors/replay.py
    [sandbox]=tests/faults/test_sandbox.py
    [held_bodies]=tests/faults/test_held_bodies.py
    [idle_conns]=tests/faults/test_idle_conns.py
    [patch_memory]=tests/faults/test_patch_memory.py
)

if (($# > 0)); then
    TESTS=("$@")
else
    TESTS=("${ALL_TESTS[@]}")
fi
for t in "${TESTS[@]}"; do
    if [[ -z ${SCRIPT[$t]:-} ]]; then
        echo "run.sh: unknown test '$t' (known: ${!SCRIPT[*]})" >&2
        exit 2
    fi
done

# The tests (tests/lib/itemstest) run ITEMS_API_BIN / ITEMS_API_TEST_BIN when set (e.g. a
# build of another revision, to measure before and after a change).
for bin in "${ITEMS_API_BIN:-build/items-api}" "${ITEMS_API_TEST_BIN:-build/test/items-api}"; do
    if [[ ! -x $bin ]]; then
        echo "run.sh: $bin is missing (make build build-test)" >&2
        exit 2
    fi
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/items-faults.XXXXXX")
chmod 0755 "$WORK"
export FAULTS_STATE_DIR=$WORK/state
mkdir -p "$FAULTS_STATE_DIR"

# shellcheck source=lib/pg.sh disable=SC1091
source lib/pg.sh

child=
# shellcheck disable=SC2317  # invoked by the traps below
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    # A test still running: SIGTERM lets it remove its own rules and services.
    if [[ -n $child ]] && kill -0 "$child" 2>/dev/null; then
        kill -TERM "$child" 2>/dev/null || true
        wait "$child" 2>/dev/null || true
    fi
    # Services a test started and did not stop (a killed test, a crash).
    if [[ -f $FAULTS_STATE_DIR/pids ]]; then
        while read -r pid; do
            [[ -n $pid ]] || continue
            if [[ -r /proc/$pid/cmdline ]] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q items-api; then
                kill -KILL "$pid" 2>/dev/null || true
            fi
        done <"$FAULTS_STATE_DIR/pids"
    fi
    # Firewall tables the DB-drop test created (it removes them itself;
    # this is the safety net if it was killed).
    if [[ -f $FAULTS_STATE_DIR/nft-tables ]]; then
        while read -r table; do
            [[ -n $table ]] || continue
            nft delete table inet "$table" 2>/dev/null || true
        done <"$FAULTS_STATE_DIR/nft-tables"
    fi
    pg_stop || true
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "faults: starting PostgreSQL"
pg_start "$WORK/pg"
echo "faults: PostgreSQL on 127.0.0.1:$PG_PORT ($PG_BIN)"
export PG_URL PG_PORT PG_DIR PG_BIN PG_USER PG_PASSWORD

declare -a results=()
failed=0
for t in "${TESTS[@]}"; do
    start=$(date +%s)
    # In the background so that a signal reaches the traps at once.
    python3 "${SCRIPT[$t]}" &
    child=$!
    set +e
    wait "$child"
    rc=$?
    set -e
    child=
    case $rc in
    0) status=PASS ;;
    77) status=SKIP ;;
    *)
        status=FAIL
        failed=1
        ;;
    esac
    results+=("$(printf '%-18s %s %4ss' "$t" "$status" $(($(date +%s) - start)))")
done

echo "=== faults summary"
printf '  %s\n' "${results[@]}"
exit "$failed"
