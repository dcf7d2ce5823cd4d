#!/usr/bin/env bash
# `make bench-idle`: only the idle keep-alive figure of `make bench` (KiB of
# RSS per idle connection, items-api and nginx in the same run), in about
# half a minute. BENCH_IDLE_CONNECTIONS (default 5000), BENCH_WORKER_THREADS
# and BENCH_DB_POOL_SIZE as in tests/bench/run.sh. Exit status 0 even when
# the target (<= 2 KiB) is missed; non-zero when the measurement failed.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
# shellcheck source=tests/bench/lib.sh
source "$ROOT/tests/bench/lib.sh"

BENCH_IDLE_CONNECTIONS=${BENCH_IDLE_CONNECTIONS:-5000}
BENCH_WORKER_THREADS=${BENCH_WORKER_THREADS:-2}
BENCH_DB_POOL_SIZE=${BENCH_DB_POOL_SIZE:-16}
BENCH_API_KEY="bench-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
T_IDLE_KIB=2

bench_require bench-idle "tools/deps.sh bench" nginx curl python3

bench_init
bench_pg_start
bench_idle_figures "$BENCH_IDLE_CONNECTIONS"
[[ $IDLE_SVC != n/a && $IDLE_NG != n/a ]] || exit 1
printf '| RSS per idle keep-alive connection (%s) | items-api %s KiB | nginx %s KiB | %s × nginx | target ≤ %s KiB | **%s** |\n' \
    "$BENCH_IDLE_CONNECTIONS" "$IDLE_SVC" "$IDLE_NG" "$(ratio "$IDLE_SVC" "$IDLE_NG")" "$T_IDLE_KIB" \
    "$(at_most "$IDLE_SVC" "$T_IDLE_KIB")"
echo "items-api $(fmt_mib "$IDLE_SVC_B") → $(fmt_mib "$IDLE_SVC_A") with $IDLE_SVC_N connections; nginx $(fmt_mib "$IDLE_NG_B") → $(fmt_mib "$IDLE_NG_A") with $IDLE_NG_N (build $BENCH_REV)"
