#!/usr/bin/env bash
# `make capacity`: the measurements the capacity model (docs/capacity.md,
# infrastructure/capacity-model.json) is derived from, on this machine, each
# with its reference in the same run:
#
#   1. the pool: POST /v1/items (wrk -c64, tests/bench/wrk/post_item.lua)
#      against pgbench running the service's own single-row INSERT
#      (tests/bench/pgbench/insert_item.sql) at the same 64 clients, for each
#      DB_POOL_SIZE in CAPACITY_POOLS, interleaved run by run; with the
#      machine's busy CPU share during the POST runs (an idle CPU with a slow
#      POST means the pool, not CPU or disk, is the limit);
#   2. the database alone: pgbench -c64 with the drills' mix, 70 % the
#      service's one-row SELECT and 30 % its INSERT, and PostgreSQL's CPU
#      per transaction (/proc, postmaster and backends);
#   3. one instance: the drills' load generator (tests/drills/loadgen.c, the
#      same 70/30 mix over 64 keep-alive connections, paced) first unpaced
#      (saturation), then paced at CAPACITY_STEPS fractions of that rate;
#      per step the p99, the service's and PostgreSQL's CPU per request and
#      the machine's busy share. The capacity at the bound is the highest
#      step served in full (≥ 97 % of the offered rate, no errors) with
#      p99 ≤ CAPACITY_P99_MS.
#
# Writes build/bench/capacity.json (the figures tools/capacity/derive.py
# turns into the model) and build/bench/capacity.md (tables), then prints
# what the model derives from them and how that differs from
# infrastructure/capacity-model.json (`make capacity-update` writes it).
# Exit status 0 unless the measurement itself could not run.
#
# Knobs (environment): BENCH_DURATION (10 s per run), BENCH_WARMUP (3),
# BENCH_RUNS (3), BENCH_CONNECTIONS (64), BENCH_WRK_THREADS (2),
# CAPACITY_WORKER_THREADS (2), CAPACITY_POOLS ("4 8 16"), CAPACITY_MIX_POOL
# (16), CAPACITY_P99_MS (50), CAPACITY_STEPS ("0.4 0.55 0.7 0.8 0.9 1.0"),
# BENCH_OUT (build/bench).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
# shellcheck source=tests/bench/lib.sh
source "$ROOT/tests/bench/lib.sh"

BENCH_DURATION=${BENCH_DURATION:-10}
BENCH_WARMUP=${BENCH_WARMUP:-3}
BENCH_RUNS=${BENCH_RUNS:-3}
BENCH_CONNECTIONS=${BENCH_CONNECTIONS:-64}
BENCH_WRK_THREADS=${BENCH_WRK_THREADS:-2}
WORKERS=${CAPACITY_WORKER_THREADS:-2}
read -r -a POOLS <<<"${CAPACITY_POOLS:-4 8 16}"
MIX_POOL=${CAPACITY_MIX_POOL:-16}
P99_MS=${CAPACITY_P99_MS:-50}
read -r -a STEPS <<<"${CAPACITY_STEPS:-0.4 0.55 0.7 0.8 0.9 1.0}"
WRITE_PCT=30
BENCH_ITEMS=10000
BENCH_API_KEY="bench-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export BENCH_API_KEY BENCH_ITEMS
LOADGEN=build/bench/loadgen

bench_require capacity "make capacity builds the load generator; tools/deps.sh bench" \
    wrk python3 "$PG_BIN/pgbench" "$LOADGEN"

bench_init
rm -f "$BENCH_OUT"/raw/cap.*.txt
KEYFILE="$BENCH_TMP/api-key"
echo "$BENCH_API_KEY" >"$KEYFILE"

declare -A R=() # KEY -> space-separated values, one per run
rec() { R[$1]="${R[$1]:-}${R[$1]:+ }$2"; }
med() {
    local v
    read -r -a v <<<"${R[$1]:-n/a}"
    median "${v[@]}"
}

PGB_INSERT=(-f "$ROOT/tests/bench/pgbench/insert_item.sql")
PGB_MIX=(-D "items=$BENCH_ITEMS" -f "$ROOT/tests/bench/pgbench/get_item.sql@$((100 - WRITE_PCT))"
    -f "$ROOT/tests/bench/pgbench/insert_item.sql@$WRITE_PCT")

# pgb KEY RUN ARGS...: one pgbench run on the items database; records tps,
# p99, PostgreSQL CPU µs per transaction and the machine's busy share.
pgb() {
    local key=$1 run=$2 p0 p1 m tps p99 n
    shift 2
    m=$(stat_mark)
    p0=$(cpu_ticks "$PG_PID")
    pgbench_run "cap.$key.$run" items "$BENCH_DURATION" "$@"
    p1=$(cpu_ticks "$PG_PID")
    read -r tps _ p99 n _ <<<"$PGB_OUT"
    rec "$key.rps" "$tps"
    rec "$key.p99" "$p99"
    rec "$key.pgcpu" "$(cpu_us_per_req $((p1 - p0)) "$n")"
    rec "$key.busy" "$(stat_busy_pct "$m")"
    bench_log "$key run $run: $(fmt_int "$tps") tps, p99 $(fmt_ms "$p99")"
}

# post KEY RUN: one wrk POST run against the running service.
post() {
    local key=$1 run=$2 s0 s1 p0 p1 m rps p99 n err
    m=$(stat_mark)
    s0=$(cpu_ticks "$SVC_PID")
    p0=$(cpu_ticks "$PG_PID")
    wrk_run "cap.$key.$run" "$SVC_URL" tests/bench/wrk/post_item.lua "$BENCH_DURATION"
    s1=$(cpu_ticks "$SVC_PID")
    p1=$(cpu_ticks "$PG_PID")
    read -r rps _ p99 n err <<<"$WRK_OUT"
    rec "$key.rps" "$rps"
    rec "$key.p99" "$p99"
    rec "$key.err" "$err"
    rec "$key.cpu" "$(cpu_us_per_req $((s1 - s0)) "$n")"
    rec "$key.pgcpu" "$(cpu_us_per_req $((p1 - p0)) "$n")"
    rec "$key.busy" "$(stat_busy_pct "$m")"
    bench_log "$key run $run: $(fmt_int "$rps") req/s, p99 $(fmt_ms "$p99"), machine $(med "$key.busy") % busy$( ((err == 0)) || echo ", ERRORS $err")"
}

# mix NAME RATE: one paced loadgen run (70/30) against the service. Sets
# MIX="offered served p99 errors service_cpu_us pg_cpu_us busy_pct own_pct":
# busy_pct the machine's busy share (neighbours included), own_pct the share
# of the machine's CPU that the service, PostgreSQL and the generator used.
mix() {
    local name=$1 rate=$2 dir="$BENCH_TMP/lg.$1" s0 s1 p0 p1 m
    mkdir -p "$dir"
    m=$(stat_mark)
    s0=$(cpu_ticks "$SVC_PID")
    p0=$(cpu_ticks "$PG_PID")
    bench_fg "$LOADGEN" -a 127.0.0.1 -p "$SVC_PORT" -k "$KEYFILE" -r "$rate" -c "$BENCH_CONNECTIONS" \
        -d "$BENCH_DURATION" -w "$WRITE_PCT" -t 10 -o "$dir" >"$BENCH_OUT/raw/cap.mix.$name.txt" 2>&1 || {
        bench_log "loadgen failed ($name):"
        cat "$BENCH_OUT/raw/cap.mix.$name.txt" >&2
        return 1
    }
    s1=$(cpu_ticks "$SVC_PID")
    p1=$(cpu_ticks "$PG_PID")
    local busy served secs p99 non2xx errs
    busy=$(stat_busy_pct "$m")
    served=$(awk -F= '$1 == "completed" {print $2}' "$dir/summary.txt")
    secs=$(awk -F= '$1 == "seconds" {print $2}' "$dir/summary.txt")
    p99=$(awk -F= '$1 == "latency_ms_p99" {print $2}' "$dir/summary.txt")
    non2xx=$(awk -F= '$1 == "non_2xx" {print $2}' "$dir/summary.txt")
    errs=$(awk -F= '$1 == "connection_errors" {print $2}' "$dir/summary.txt")
    MIX="$rate $(awk -v d="$served" -v s="$secs" 'BEGIN {printf "%.0f", d / s}') $p99 $((non2xx + errs))"
    MIX+=" $(cpu_us_per_req $((s1 - s0)) "$served") $(cpu_us_per_req $((p1 - p0)) "$served") $busy"
    MIX+=" $(awk -v t=$((s1 - s0 + p1 - p0)) -v hz="$BENCH_CLK_TCK" -v s="$secs" -v n="$(nproc)" \
        -v lg="$(awk -F= '$1 == "cpu_seconds" {print $2}' "$dir/summary.txt")" \
        'BEGIN {printf "%.0f", 100 * (t / hz + lg) / s / n}')"
    rm -rf "$dir"
}

bench_log "PostgreSQL, seed $BENCH_ITEMS items"
bench_pg_start
PG_PID=$(bench_pg_pid)
svc_start "$WORKERS" "${POOLS[0]}" # applies the migrations
bench_seed "$BENCH_ITEMS"
svc_stop

# ---- 1. the pool: POST against pgbench's INSERT ----

for p in "${POOLS[@]}"; do
    bench_log "POST /v1/items (WORKER_THREADS=$WORKERS DB_POOL_SIZE=$p) vs pgbench INSERT, 64 clients"
    svc_start "$WORKERS" "$p"
    wrk_run "cap.post$p.warmup" "$SVC_URL" tests/bench/wrk/post_item.lua "$BENCH_WARMUP"
    pgbench_run "cap.insert$p.warmup" items "$BENCH_WARMUP" "${PGB_INSERT[@]}" 2>/dev/null || true
    for ((r = 1; r <= BENCH_RUNS; r++)); do
        if ((r % 2)); then
            pgb "insert$p" "$r" "${PGB_INSERT[@]}"
            post "post$p" "$r"
        else
            post "post$p" "$r"
            pgb "insert$p" "$r" "${PGB_INSERT[@]}"
        fi
    done
    svc_stop
done

# ---- 2. the database alone, the drills' mix ----

bench_log "pgbench, the drills' mix ($((100 - WRITE_PCT)) % SELECT, $WRITE_PCT % INSERT), 64 clients"
pgbench_run "cap.dbmix.warmup" items "$BENCH_WARMUP" "${PGB_MIX[@]}" 2>/dev/null || true
for ((r = 1; r <= BENCH_RUNS; r++)); do
    pgb dbmix "$r" "${PGB_MIX[@]}"
done

# ---- 3. one instance, the drills' mix, paced steps ----

bench_log "service (DB_POOL_SIZE=$MIX_POOL), loadgen 70/30: saturation, then paced steps"
svc_start "$WORKERS" "$MIX_POOL"
mix warmup 200000 >/dev/null
sat=()
for ((r = 1; r <= BENCH_RUNS; r++)); do
    mix "sat$r" 200000
    read -r _ got _ <<<"$MIX"
    sat+=("$got")
    rec sat "$MIX"
    bench_log "unpaced run $r: $(fmt_int "$got") req/s ($MIX)"
done
SAT=$(median "${sat[@]}")
steps_json=""
steps_md=""
for f in "${STEPS[@]}"; do
    rate=$(awk -v s="$SAT" -v f="$f" 'BEGIN {printf "%.0f", s * f}')
    mix "step$f" "$rate"
    read -r off got p99 errs scpu pcpu busy own <<<"$MIX"
    bench_log "step $f: offered $(fmt_int "$off"), served $(fmt_int "$got") req/s, p99 $(fmt_ms "$p99"), $errs errors, service $scpu µs + PostgreSQL $pcpu µs CPU/req, machine $busy % busy ($own % ours)"
    steps_json+="${steps_json:+,
    }{\"fraction\": $f, \"offered_rps\": $off, \"served_rps\": $got, \"p99_ms\": $p99, \"errors\": $errs, \"service_cpu_us\": $scpu, \"pg_cpu_us\": $pcpu, \"machine_busy_pct\": $busy, \"own_cpu_pct\": $own}"
    steps_md+="| $f | $(fmt_int "$off") | $(fmt_int "$got") | $(fmt_ms "$p99") | $errs | $scpu | $pcpu | $own % | $busy % |"$'\n'
done
svc_stop

# ---- results ----

LOAD=$(bench_machine_load)
pools_json=""
pools_md=""
for p in "${POOLS[@]}"; do
    ratio_p=$(ratio "$(med "post$p.rps")" "$(med "insert$p.rps")")
    pools_json+="${pools_json:+,
    }\"$p\": {\"post_rps\": $(med "post$p.rps"), \"insert_tps\": $(med "insert$p.rps"), \"ratio\": $ratio_p, \"post_p99_ms\": $(med "post$p.p99"), \"machine_busy_pct\": $(med "post$p.busy"), \"service_cpu_us\": $(med "post$p.cpu"), \"pg_cpu_us\": $(med "post$p.pgcpu"), \"insert_pg_cpu_us\": $(med "insert$p.pgcpu")}"
    pools_md+="| $p | $(fmt_int "$(med "post$p.rps")") | $(fmt_ms "$(med "post$p.p99")") | $(med "post$p.busy") % | $(fmt_int "$(med "insert$p.rps")") | $(med "insert$p.busy") % | **$ratio_p** |"$'\n'
done

cat >"$BENCH_OUT/capacity.json" <<EOF
{
  "when": "$(date -u '+%Y-%m-%d %H:%M UTC')",
  "build": "$BENCH_REV",
  "machine": {"cpus": $(nproc), "cpu_model": "$(bench_cpu_model)", "load": "$LOAD"},
  "method": {"connections": $BENCH_CONNECTIONS, "seconds_per_run": $BENCH_DURATION, "runs": $BENCH_RUNS, "worker_threads": $WORKERS, "write_pct": $WRITE_PCT, "p99_bound_ms": $P99_MS, "mix_pool": $MIX_POOL},
  "pool": {
    $pools_json
  },
  "database_mix": {"tps": $(med dbmix.rps), "p99_ms": $(med dbmix.p99), "pg_cpu_us": $(med dbmix.pgcpu), "machine_busy_pct": $(med dbmix.busy)},
  "service_mix": {
    "saturation_rps": $SAT,
    "steps": [
    $steps_json
    ]
  }
}
EOF

{
    echo "## items-api capacity measurement"
    echo
    echo "- command: \`make capacity\` (tests/bench/capacity.sh), $(date -u '+%Y-%m-%d %H:%M UTC'), build $BENCH_REV"
    echo "- machine: $(bench_machine)"
    echo "- machine load: $LOAD"
    echo "- ${BENCH_DURATION}s per run, median of $BENCH_RUNS; $BENCH_CONNECTIONS connections/clients; WORKER_THREADS=$WORKERS; the service, PostgreSQL and the load generators share the machine"
    echo
    echo "POST /v1/items (wrk) against pgbench running the service's INSERT, by DB_POOL_SIZE:"
    echo
    echo "| DB_POOL_SIZE | POST req/s | POST p99 | machine busy | pgbench INSERT tps | machine busy | POST ÷ INSERT |"
    echo "| --: | --: | --: | --: | --: | --: | --: |"
    printf '%s' "$pools_md"
    echo
    echo "The database alone, pgbench -c$BENCH_CONNECTIONS, 70 % SELECT / 30 % INSERT: $(fmt_int "$(med dbmix.rps)") tps," \
        "p99 $(fmt_ms "$(med dbmix.p99)"), PostgreSQL $(med dbmix.pgcpu) µs CPU per transaction, machine $(med dbmix.busy) % busy."
    echo
    echo "One instance (DB_POOL_SIZE=$MIX_POOL), the drills' load generator, 70/30 over $BENCH_CONNECTIONS connections:" \
        "unpaced $(fmt_int "$SAT") req/s; paced steps (p99 bound $P99_MS ms):"
    echo
    echo "| fraction of unpaced | offered req/s | served req/s | p99 | errors | service CPU µs/req | PostgreSQL CPU µs/req | CPU: service + PostgreSQL + generator | machine busy |"
    echo "| --: | --: | --: | --: | --: | --: | --: | --: | --: |"
    printf '%s' "$steps_md"
} >"$BENCH_OUT/capacity.md"

cat "$BENCH_OUT/capacity.md"
echo
python3 tools/capacity/derive.py "$BENCH_OUT/capacity.json" || bench_log "derive.py failed"
echo "Markdown: $BENCH_OUT/capacity.md; figures: $BENCH_OUT/capacity.json; raw outputs: $BENCH_OUT/raw/"
