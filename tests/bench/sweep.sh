#!/usr/bin/env bash
# `make bench-sweep`: which WORKER_THREADS × DB_POOL_SIZE serves
# GET /v1/items/{id} best relative to pgbench (the service's SELECT) on this
# machine, with POST /v1/items alongside (writes need connections to share
# commits), and /healthz relative to nginx for each WORKER_THREADS. Every
# configuration is measured interleaved with its reference, run by run.
# Writes build/bench/sweep.md. Informational; exit status 0 unless the
# benchmark itself cannot run.
#
#   BENCH_SWEEP_WORKERS="1 2"   BENCH_SWEEP_POOLS="2 4 8"
#   BENCH_DURATION (default 5 here), BENCH_WARMUP (2), BENCH_RUNS (3),
#   BENCH_CONNECTIONS (64), BENCH_WRK_THREADS (2), BENCH_OUT
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
# shellcheck source=tests/bench/lib.sh
source "$ROOT/tests/bench/lib.sh"

BENCH_DURATION=${BENCH_DURATION:-5}
BENCH_WARMUP=${BENCH_WARMUP:-2}
BENCH_RUNS=${BENCH_RUNS:-3}
BENCH_CONNECTIONS=${BENCH_CONNECTIONS:-64}
BENCH_WRK_THREADS=${BENCH_WRK_THREADS:-2}
BENCH_ITEMS=10000
BENCH_API_KEY="bench-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export BENCH_API_KEY BENCH_ITEMS
read -r -a WORKERS <<<"${BENCH_SWEEP_WORKERS:-1 2}"
read -r -a POOLS <<<"${BENCH_SWEEP_POOLS:-2 4 8}"

bench_require bench-sweep "tools/deps.sh bench"
bench_init

one() { # KIND NAME ARGS... -> ONE="rps p50 p99 requests errors"
    local kind=$1 name=$2
    shift 2
    if [[ $kind == wrk ]]; then
        wrk_run "$name" "$@" "$BENCH_DURATION"
        ONE=$WRK_OUT
    else
        pgbench_run "$name" items "$BENCH_DURATION" "$@"
        ONE=$PGB_OUT
    fi
}

bench_pg_start
PG_PID=$(bench_pg_pid)
svc_start 1 1 # migrations
bench_seed "$BENCH_ITEMS"
svc_stop

PGB_ITEM=(-D "items=$BENCH_ITEMS" -f "$ROOT/tests/bench/pgbench/get_item.sql")
LUA=tests/bench/wrk/get_item.lua
POST_LUA=tests/bench/wrk/post_item.lua
rows=()
HZ_RATIO=()
HZ_RPS=()

for w in "${WORKERS[@]}"; do
    # /healthz vs nginx with as many workers
    nginx_start "$w"
    svc_start "$w" 4
    wrk_run "sweep.nginx.w$w.warmup" "$NGINX_URL" - "$BENCH_WARMUP"
    wrk_run "sweep.healthz.w$w.warmup" "$SVC_URL/healthz" - "$BENCH_WARMUP"
    hz=() ng=()
    for ((r = 1; r <= BENCH_RUNS; r++)); do
        one wrk "sweep.nginx.w$w.$r" "$NGINX_URL" -
        read -r a _ <<<"$ONE"
        one wrk "sweep.healthz.w$w.$r" "$SVC_URL/healthz" -
        read -r b _ <<<"$ONE"
        ng+=("$a")
        hz+=("$b")
        bench_log "WORKER_THREADS=$w: healthz $(fmt_int "$b") vs nginx $(fmt_int "$a") req/s"
    done
    HZ_RATIO[w]=$(ratio "$(median "${hz[@]}")" "$(median "${ng[@]}")")
    HZ_RPS[w]=$(median "${hz[@]}")
    svc_stop
    nginx_stop

    for p in "${POOLS[@]}"; do
        ((p >= w)) || continue
        svc_start "$w" "$p"
        wrk_run "sweep.item.w$w.p$p.warmup" "$SVC_URL" "$LUA" "$BENCH_WARMUP"
        pgbench_run "sweep.pgb.w$w.p$p.warmup" items "$BENCH_WARMUP" "${PGB_ITEM[@]}" 2>/dev/null || true
        it=() pg=() p50=() p99=() cpu=() pgcpu=()
        for ((r = 1; r <= BENCH_RUNS; r++)); do
            one pgbench "sweep.pgb.w$w.p$p.$r" "${PGB_ITEM[@]}"
            read -r a _ <<<"$ONE"
            s0=$(cpu_ticks "$SVC_PID")
            q0=$(cpu_ticks "$PG_PID")
            one wrk "sweep.item.w$w.p$p.$r" "$SVC_URL" "$LUA"
            read -r b c d n _ <<<"$ONE"
            s1=$(cpu_ticks "$SVC_PID")
            q1=$(cpu_ticks "$PG_PID")
            pg+=("$a")
            it+=("$b")
            p50+=("$c")
            p99+=("$d")
            cpu+=("$(cpu_us_per_req $((s1 - s0)) "$n")")
            pgcpu+=("$(cpu_us_per_req $((q1 - q0)) "$n")")
            bench_log "WORKER_THREADS=$w DB_POOL_SIZE=$p: item $(fmt_int "$b") vs pgbench $(fmt_int "$a")"
        done
        # Writes: each is its own transaction, so the pool size bounds how
        # many commits can share a WAL flush.
        wrk_run "sweep.post.w$w.p$p.warmup" "$SVC_URL" "$POST_LUA" "$BENCH_WARMUP"
        po=()
        for ((r = 1; r <= BENCH_RUNS; r++)); do
            one wrk "sweep.post.w$w.p$p.$r" "$SVC_URL" "$POST_LUA"
            read -r a _ <<<"$ONE"
            po+=("$a")
        done
        bench_log "WORKER_THREADS=$w DB_POOL_SIZE=$p: POST $(fmt_int "$(median "${po[@]}")") req/s"
        rows+=("| $w | $p | $(fmt_int "$(median "${it[@]}")") | $(fmt_ms "$(median "${p50[@]}")") | $(fmt_ms "$(median "${p99[@]}")") | $(median "${cpu[@]}") | $(median "${pgcpu[@]}") | $(fmt_int "$(median "${pg[@]}")") | **$(ratio "$(median "${it[@]}")" "$(median "${pg[@]}")")** | $(fmt_int "$(median "${po[@]}")") | $(fmt_int "${HZ_RPS[w]}") | ${HZ_RATIO[w]} |")
        svc_stop
    done
done

{
    echo "## items-api settings sweep"
    echo
    echo "- command: \`make bench-sweep\` (tests/bench/sweep.sh), $(date -u '+%Y-%m-%d %H:%M UTC'), build $BENCH_REV"
    echo "- machine: $(bench_machine)"
    echo "- machine load: $(bench_machine_load)"
    echo "- wrk -t$BENCH_WRK_THREADS -c$BENCH_CONNECTIONS, pgbench -M prepared -c$BENCH_CONNECTIONS -j$BENCH_WRK_THREADS, ${BENCH_DURATION}s runs, median of $BENCH_RUNS, interleaved; healthz measured with DB_POOL_SIZE=4"
    echo
    echo "| WORKER_THREADS | DB_POOL_SIZE | item req/s | p50 | p99 | service CPU µs/req | PostgreSQL CPU µs/req | pgbench tps | item ÷ pgbench | POST req/s | healthz req/s | healthz ÷ nginx |"
    echo "| --: | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: |"
    printf '%s\n' "${rows[@]}"
} >"$BENCH_OUT/sweep.md"
cat "$BENCH_OUT/sweep.md"
