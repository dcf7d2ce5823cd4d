#!/usr/bin/env bash
# `make bench`: items-api against its physical references on this machine.
#
# Starts a throwaway PostgreSQL (lib/pg.sh), the release build on it
# (ACCESS_LOG=off, logs under build/bench/), seeds 10,000 items, then for
# GET /healthz, GET /v1/items/{random id}, GET /v1/items?limit=20 and
# POST /v1/items runs wrk (-t2 -c64, a warm-up run first, then BENCH_RUNS
# runs; medians reported). In the same run, interleaved run by run with the
# service so that drift on a shared machine hits both alike, it measures the
# references: nginx `return 200` with as many workers as the service has
# threads, and pgbench -M prepared at the same client count, both the
# built-in -S and a custom script with the service's exact one-row SELECT
# (the denominator of the GET ratio), and for POST a custom script with the
# service's exact INSERT (the denominator of the POST ratio). Also: the service's peak RSS and the
# time from exec to the first /readyz 200 on an empty SQLite database.
# Last, on a fresh service and a fresh nginx: KiB of RSS per idle keep-alive
# connection (BENCH_IDLE_CONNECTIONS connections that made one request each
# and stay open; tests/bench/idle_conns.py), service and nginx in the same run.
#
# Prints a table and writes it as Markdown to build/bench/results.md. Exit
# status 0 even when a target is missed (this is a benchmark, not a test);
# misses are listed at the end. Non-zero only when the benchmark itself
# could not run.
#
# Knobs (environment):
#   BENCH_DURATION=10        seconds per measured run
#   BENCH_WARMUP=3           seconds of the warm-up run before each series
#   BENCH_RUNS=3             measured runs per figure (median reported)
#   BENCH_CONNECTIONS=64     wrk -c and pgbench -c
#   BENCH_WRK_THREADS=2      wrk -t and pgbench -j
#   BENCH_WORKER_THREADS=2   the service's WORKER_THREADS (nginx gets as many workers)
#   BENCH_DB_POOL_SIZE=16    the service's DB_POOL_SIZE (its default, docs/capacity.md)
#   BENCH_STARTUP_REPS=10    start-up repetitions
#   BENCH_IDLE_CONNECTIONS=5000  idle keep-alive connections for the KiB/connection figure
#   BENCH_PROFILE=0          1: one more GET run under `perf record -g -p`,
#                            top symbols in build/bench/profile-get.txt
#   BENCH_COMPARE=0          1: also Express (npm) and Flask on the same box
#   BENCH_OUT=build/bench    where results, raw outputs and logs go
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
# shellcheck source=tests/bench/lib.sh
source "$ROOT/tests/bench/lib.sh"

# How this run was asked for, for the report: the make target and any knobs.
BENCH_ASKED="${BENCH_COMMAND:-tests/bench/run.sh}"
while IFS= read -r kv; do
    case $kv in
    BENCH_COMMAND=* | BENCH_OUT=* | BENCH_API_KEY=*) ;;
    *) BENCH_ASKED="$kv $BENCH_ASKED" ;;
    esac
done < <(env | grep '^BENCH_' | sort)

BENCH_DURATION=${BENCH_DURATION:-10}
BENCH_WARMUP=${BENCH_WARMUP:-3}
BENCH_RUNS=${BENCH_RUNS:-3}
BENCH_CONNECTIONS=${BENCH_CONNECTIONS:-64}
BENCH_WRK_THREADS=${BENCH_WRK_THREADS:-2}
# Defaults chosen by tests/bench/sweep.sh on the 2-core box (docs/performance.md).
BENCH_WORKER_THREADS=${BENCH_WORKER_THREADS:-2}
BENCH_DB_POOL_SIZE=${BENCH_DB_POOL_SIZE:-16}
BENCH_STARTUP_REPS=${BENCH_STARTUP_REPS:-10}
BENCH_PROFILE=${BENCH_PROFILE:-0}
BENCH_COMPARE=${BENCH_COMPARE:-0}
BENCH_IDLE_CONNECTIONS=${BENCH_IDLE_CONNECTIONS:-5000}
BENCH_ITEMS=10000
BENCH_API_KEY="bench-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export BENCH_API_KEY BENCH_ITEMS

# Targets (issue 3).
T_HEALTHZ=0.9   # × nginx
T_ITEM=0.7      # × pgbench -S -M prepared (the issue's reference) and × pgbench running the service's SELECT
T_RSS_MIB=20
T_STARTUP_MS=50
T_IDLE_KIB=2    # KiB of RSS per idle keep-alive connection (issue 10)

bench_tools=(wrk nginx curl python3 "$PG_BIN/pgbench")
[[ $BENCH_PROFILE != 1 ]] || bench_tools+=(perf)
bench_require bench "tools/deps.sh bench" "${bench_tools[@]}"
PROBE=build/bench/startup-probe
[[ -x $PROBE && $PROBE -nt tests/bench/startup_probe.c ]] || make -s --no-print-directory "$PROBE"

bench_init
rm -f "$BENCH_OUT"/raw/*.txt

declare -A R=() # KEY -> space-separated values, one per run

rec() { R[$1]="${R[$1]:-}${R[$1]:+ }$2"; }
med() {
    local v
    read -r -a v <<<"${R[$1]:-n/a}"
    median "${v[@]}"
}

# measure_wrk KEY RUN URL LUA SERVER_PID: one wrk run; records rps, p50,
# p99, errors, and CPU µs per request of the server and of PostgreSQL.
measure_wrk() {
    local key=$1 run=$2 url=$3 lua=$4 spid=$5 s0 p0 s1 p1
    s0=$(cpu_ticks "$spid")
    p0=$(cpu_ticks "$PG_PID")
    wrk_run "$key.$run" "$url" "$lua" "$BENCH_DURATION"
    s1=$(cpu_ticks "$spid")
    p1=$(cpu_ticks "$PG_PID")
    local rps p50 p99 n err
    read -r rps p50 p99 n err <<<"$WRK_OUT"
    rec "$key.rps" "$rps"
    rec "$key.p50" "$p50"
    rec "$key.p99" "$p99"
    rec "$key.err" "$err"
    rec "$key.cpu" "$(cpu_us_per_req $((s1 - s0)) "$n")"
    rec "$key.pgcpu" "$(cpu_us_per_req $((p1 - p0)) "$n")"
    bench_log "$key run $run: $(fmt_int "$rps") req/s, p50 $(fmt_ms "$p50"), p99 $(fmt_ms "$p99")$( ((err == 0)) || echo ", ERRORS $err")"
}

# measure_pgbench KEY RUN DB ARGS...
measure_pgbench() {
    local key=$1 run=$2 db=$3 p0 p1
    shift 3
    p0=$(cpu_ticks "$PG_PID")
    pgbench_run "$key.$run" "$db" "$BENCH_DURATION" "$@"
    p1=$(cpu_ticks "$PG_PID")
    local tps p50 p99 n failed
    read -r tps p50 p99 n failed <<<"$PGB_OUT"
    rec "$key.rps" "$tps"
    rec "$key.p50" "$p50"
    rec "$key.p99" "$p99"
    rec "$key.err" "$failed"
    rec "$key.pgcpu" "$(cpu_us_per_req $((p1 - p0)) "$n")"
    bench_log "$key run $run: $(fmt_int "$tps") tps, p50 $(fmt_ms "$p50"), p99 $(fmt_ms "$p99")"
}

warm_wrk() { wrk_run "$1.warmup" "$2" "$3" "$BENCH_WARMUP"; }
warm_pgbench() {
    local key=$1 db=$2
    shift 2
    # 64 connections may take most of a short warm-up to open: no result is fine.
    pgbench_run "$key.warmup" "$db" "$BENCH_WARMUP" "$@" 2>/dev/null || true
}

# ---- 1. start-up, on a quiet machine (nothing else started yet) ----

bench_log "start-up: exec to first /readyz 200 on an empty SQLite database, ${BENCH_STARTUP_REPS}x"
startup_port=$(bench_free_port)
mkdir -p "$BENCH_TMP/startup"
startup_env=(API_KEYS="$BENCH_API_KEY" PORT="$startup_port" BIND_ADDRESS=127.0.0.1
    ACCESS_LOG=off DRAIN_SECONDS=0 WORKER_THREADS="$BENCH_WORKER_THREADS")
# -f: a new database file each time, so the figure includes the migrations.
env "${startup_env[@]}" "$PROBE" -n "$BENCH_STARTUP_REPS" -f -p "$startup_port" \
    -d "$BENCH_TMP/startup" -l "$BENCH_OUT/raw/startup-service.log" -- "$BENCH_BIN" serve \
    >"$BENCH_OUT/raw/startup-fresh.txt"
# The same, on a file that already holds the schema (a restart).
env "${startup_env[@]}" "$PROBE" -n "$BENCH_STARTUP_REPS" -p "$startup_port" \
    -d "$BENCH_TMP/startup" -l "$BENCH_OUT/raw/startup-service.log" -- "$BENCH_BIN" serve \
    >"$BENCH_OUT/raw/startup-existing.txt"
mapfile -t xs <"$BENCH_OUT/raw/startup-fresh.txt"
STARTUP_MS=$(median "${xs[@]}")
STARTUP_MAX=$(printf '%s\n' "${xs[@]}" | sort -g | tail -n 1)
mapfile -t xs <"$BENCH_OUT/raw/startup-existing.txt"
STARTUP_EXISTING_MS=$(median "${xs[@]}")
bench_log "start-up: median $(fmt_ms "$STARTUP_MS") (max $(fmt_ms "$STARTUP_MAX")); existing database $(fmt_ms "$STARTUP_EXISTING_MS")"

# ---- 2. PostgreSQL, the service, data, references ----

bench_log "PostgreSQL, service (WORKER_THREADS=$BENCH_WORKER_THREADS DB_POOL_SIZE=$BENCH_DB_POOL_SIZE), seed $BENCH_ITEMS items"
bench_pg_start
PG_PID=$(bench_pg_pid)
svc_start "$BENCH_WORKER_THREADS" "$BENCH_DB_POOL_SIZE" # applies the migrations
bench_seed "$BENCH_ITEMS"
bench_pgbench_init 1
nginx_start "$BENCH_WORKER_THREADS"
rss_poll_start "$SVC_PID"

declare -A PEAK=() # phase -> peak polled VmRSS (kB)

# ---- 3. GET /healthz vs nginx ----

bench_log "GET /healthz vs nginx return 200 ($BENCH_WORKER_THREADS workers)"
warm_wrk nginx "$NGINX_URL" -
warm_wrk healthz "$SVC_URL/healthz" -
mark=$(rss_mark)
# Interleaved, the order alternating run by run, so that drift on a shared
# machine (neighbours, frequency) falls on both sides of the ratio alike.
for ((r = 1; r <= BENCH_RUNS; r++)); do
    if ((r % 2)); then
        measure_wrk nginx "$r" "$NGINX_URL" - "$NGINX_PID"
        measure_wrk healthz "$r" "$SVC_URL/healthz" - "$SVC_PID"
    else
        measure_wrk healthz "$r" "$SVC_URL/healthz" - "$SVC_PID"
        measure_wrk nginx "$r" "$NGINX_URL" - "$NGINX_PID"
    fi
done
PEAK[healthz]=$(rss_max_since "$mark")

# ---- 4. GET /v1/items/{id} vs pgbench ----

bench_log "GET /v1/items/{id} vs pgbench -S and pgbench -f (the service's SELECT)"
PGB_ITEM=(-D "items=$BENCH_ITEMS" -f "$ROOT/tests/bench/pgbench/get_item.sql")
warm_pgbench pgb_s pgbench_ref -S
warm_pgbench pgb_item items "${PGB_ITEM[@]}"
warm_wrk item "$SVC_URL" tests/bench/wrk/get_item.lua
mark=$(rss_mark)
for ((r = 1; r <= BENCH_RUNS; r++)); do
    if ((r % 2)); then
        measure_pgbench pgb_s "$r" pgbench_ref -S
        measure_pgbench pgb_item "$r" items "${PGB_ITEM[@]}"
        measure_wrk item "$r" "$SVC_URL" tests/bench/wrk/get_item.lua "$SVC_PID"
    else
        measure_wrk item "$r" "$SVC_URL" tests/bench/wrk/get_item.lua "$SVC_PID"
        measure_pgbench pgb_item "$r" items "${PGB_ITEM[@]}"
        measure_pgbench pgb_s "$r" pgbench_ref -S
    fi
done
PEAK[item]=$(rss_max_since "$mark")

# ---- 5. GET /v1/items?limit=20 ----

bench_log "GET /v1/items?limit=20"
warm_wrk list "$SVC_URL" tests/bench/wrk/list_items.lua
mark=$(rss_mark)
for ((r = 1; r <= BENCH_RUNS; r++)); do
    measure_wrk list "$r" "$SVC_URL" tests/bench/wrk/list_items.lua "$SVC_PID"
done
PEAK[list]=$(rss_max_since "$mark")

# ---- 6. POST /v1/items (last: it grows the table) ----

bench_log "POST /v1/items vs pgbench -f (the service's INSERT)"
PGB_INSERT=(-f "$ROOT/tests/bench/pgbench/insert_item.sql")
warm_pgbench pgb_insert items "${PGB_INSERT[@]}"
warm_wrk post "$SVC_URL" tests/bench/wrk/post_item.lua
mark=$(rss_mark)
for ((r = 1; r <= BENCH_RUNS; r++)); do
    if ((r % 2)); then
        measure_pgbench pgb_insert "$r" items "${PGB_INSERT[@]}"
        measure_wrk post "$r" "$SVC_URL" tests/bench/wrk/post_item.lua "$SVC_PID"
    else
        measure_wrk post "$r" "$SVC_URL" tests/bench/wrk/post_item.lua "$SVC_PID"
        measure_pgbench pgb_insert "$r" items "${PGB_INSERT[@]}"
    fi
done
PEAK[post]=$(rss_max_since "$mark")

HWM_KB=$(vm_hwm "$SVC_PID")
# What the resident set is made of: the largest mappings, by RSS.
awk '/^[0-9a-f]+-[0-9a-f]+ / { name = (NF >= 6 ? $6 : "[anon]") }
     /^Rss:/ { rss[name] += $2 }
     END { for (n in rss) if (rss[n] > 0) printf "%8d kB  %s\n", rss[n], n }' \
    "/proc/$SVC_PID/smaps" | sort -rn >"$BENCH_OUT/raw/service-rss-by-mapping.txt" || true
RSS_PARTS=$(awk '/^(RssAnon|RssFile|RssShmem|Threads):/ {
    sub(/:$/, "", $1); printf "%s%s %s", sep, $1, ($1 == "Threads" ? $2 : sprintf("%.1f MiB", $2 / 1024)); sep = ", " }' \
    "/proc/$SVC_PID/status")
POLL_KB=$(rss_max_since 0)
rss_poll_stop
nginx_stop

# ---- 7. optional: where the GET path spends CPU ----

if [[ $BENCH_PROFILE == 1 ]]; then
    bench_log "profile: perf record -g -p $SVC_PID during one more GET run"
    perf_data="$BENCH_OUT/perf-get.data"
    perf record -q -F 999 -g -p "$SVC_PID" -o "$perf_data" -- sleep "$BENCH_DURATION" \
        >"$BENCH_OUT/raw/perf-record.log" 2>&1 &
    perf_pid=$!
    BENCH_CHILDREN+=("$perf_pid")
    sleep 0.3
    wrk_run item.profile "$SVC_URL" tests/bench/wrk/get_item.lua "$BENCH_DURATION"
    wait "$perf_pid" || bench_log "perf record failed: see $BENCH_OUT/raw/perf-record.log"

    bench_log "profile: perf stat (syscalls, context switches) during one more GET run"
    stat_out="$BENCH_OUT/raw/perf-stat-get.txt"
    perf stat -x, -o "$stat_out" -p "$SVC_PID" -e task-clock,context-switches,raw_syscalls:sys_enter \
        -e syscalls:sys_enter_read,syscalls:sys_enter_sendto,syscalls:sys_enter_recvfrom \
        -e syscalls:sys_enter_epoll_wait -- sleep "$((BENCH_DURATION + 1))" \
        >"$BENCH_OUT/raw/perf-stat.log" 2>&1 &
    perf_pid=$!
    BENCH_CHILDREN+=("$perf_pid")
    sleep 0.3
    wrk_run item.stat "$SVC_URL" tests/bench/wrk/get_item.lua "$BENCH_DURATION"
    read -r _ _ _ stat_n _ <<<"$WRK_OUT"
    wait "$perf_pid" || bench_log "perf stat failed: see $BENCH_OUT/raw/perf-stat.log"

    perf_rep() { perf report -i "$perf_data" --stdio "$@" 2>/dev/null | grep -v -e '^#' -e '^$'; }
    {
        echo "== items-api during GET /v1/items/{id} (wrk -t$BENCH_WRK_THREADS -c$BENCH_CONNECTIONS), perf record -F 999 -g -p PID"
        echo
        echo "== CPU by shared object (self time)"
        perf_rep --no-children --sort dso -g none
        echo
        echo "== where kernel time goes: system calls, including their callees (children)"
        perf_rep --children --sort symbol -g none | grep -E '\[k\] (__x64_sys_|ksys_read|do_epoll_wait|tcp_v4_rcv|__seccomp_filter)' || true
        echo
        echo "== top symbols, self time (>= 0.5 %)"
        perf_rep --no-children --sort dso,symbol -g none --percent-limit 0.5
        echo
        echo "== per request, from perf stat over $stat_n requests"
        awk -F, -v n="$stat_n" '$1 ~ /^[0-9.]+$/ && n > 0 {
            unit = ($3 == "task-clock") ? " µs CPU" : ""
            v = ($3 == "task-clock") ? $1 * 1000 / n : $1 / n
            printf "  %-32s %8.3f%s\n", $3, v, unit }' "$stat_out"
    } >"$BENCH_OUT/profile-get.txt" || true
    bench_log "profile: $BENCH_OUT/profile-get.txt"
fi

# ---- 8. optional: Express and Flask on the same box ----

if [[ $BENCH_COMPARE == 1 ]]; then
    # shellcheck source=tests/bench/compare/compare.sh
    source "$ROOT/tests/bench/compare/compare.sh"
    compare_run
fi

svc_stop

# ---- 9. memory per idle keep-alive connection, service and nginx ----

# Fresh processes (the runs above leave freed buffers in the service's heap
# that new connections would reuse), warmed by idle_conns.py itself. The
# figure is (VmRSS with N idle connections - VmRSS before) / N; for nginx the
# master's and its workers' VmRSS summed.
bench_idle_figures "$BENCH_IDLE_CONNECTIONS"

# ---- 10. the table ----

REV=$BENCH_REV
LOAD=$(bench_machine_load)
HZ=$(med healthz.rps)
NG=$(med nginx.rps)
IT=$(med item.rps)
PGI=$(med pgb_item.rps)
PGS=$(med pgb_s.rps)
LS=$(med list.rps)
PO=$(med post.rps)
PGW=$(med pgb_insert.rps)
PEAK_KB=$((HWM_KB > POLL_KB ? HWM_KB : POLL_KB))
PEAK_MIB=$(awk -v k="$PEAK_KB" 'BEGIN { printf "%.1f", k / 1024 }')

R_HZ=$(ratio "$HZ" "$NG")
R_IT=$(ratio "$IT" "$PGI")
R_IT_S=$(ratio "$IT" "$PGS")
R_LS=$(ratio "$LS" "$PGI")
R_PO=$(ratio "$PO" "$PGW")
V_HZ=$(at_least "$R_HZ" "$T_HEALTHZ")
V_IT=$(at_least "$R_IT" "$T_ITEM")
V_IT_S=$(at_least "$R_IT_S" "$T_ITEM")
V_RSS=$(at_most "$PEAK_MIB" "$T_RSS_MIB")
V_ST=$(at_most "$STARTUP_MS" "$T_STARTUP_MS")
V_IDLE=$(at_most "$IDLE_SVC" "$T_IDLE_KIB")
R_IDLE=$(ratio "$IDLE_SVC" "$IDLE_NG")

errs() {
    local e
    e=$(awk '{for (i = 1; i <= NF; i++) s += $i} END {print s + 0}' <<<"${R[$1.err]:-0}")
    ((e == 0)) || printf ' (%s errors)' "$e"
}

# paired A B: the per-run ratios A_i / B_i and their median.
paired() {
    local a b i list="" rs=()
    read -r -a a <<<"${R[$1.rps]:-}"
    read -r -a b <<<"${R[$2.rps]:-}"
    for ((i = 0; i < ${#a[@]} && i < ${#b[@]}; i++)); do
        rs+=("$(ratio "${a[i]}" "${b[i]}")")
        list+="${list:+, }${rs[i]}"
    done
    printf '%s (median %s)' "$list" "$(median "${rs[@]}")"
}

row() { # name rps p50 p99 reference ratio target verdict
    printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$@"
}

{
    echo "## items-api benchmark"
    echo
    echo "- command: \`$BENCH_ASKED\` (tests/bench/run.sh), $(date -u '+%Y-%m-%d %H:%M UTC'), build $REV"
    echo "- machine: $(bench_machine)"
    echo "- load: wrk -t$BENCH_WRK_THREADS -c$BENCH_CONNECTIONS, ${BENCH_DURATION}s per run, ${BENCH_WARMUP}s warm-up," \
        "median of $BENCH_RUNS runs; pgbench -M prepared -c$BENCH_CONNECTIONS -j$BENCH_WRK_THREADS; wrk, PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}'), nginx and the service share the machine"
    echo "- machine load: $LOAD"
    echo "- service: release build, WORKER_THREADS=$BENCH_WORKER_THREADS DB_POOL_SIZE=$BENCH_DB_POOL_SIZE ACCESS_LOG=off SANDBOX=on; $BENCH_ITEMS items seeded"
    echo
    row "endpoint" "req/s" "p50" "p99" "reference (req/s)" "ratio" "target" "result"
    row "---" "--:" "--:" "--:" "---" "--:" "---" "---"
    row "GET /healthz$(errs healthz)" "$(fmt_int "$HZ")" "$(fmt_ms "$(med healthz.p50)")" \
        "$(fmt_ms "$(med healthz.p99)")" "nginx \`return 200\`, $BENCH_WORKER_THREADS workers ($(fmt_int "$NG"))" \
        "$R_HZ" "≥ $T_HEALTHZ" "**$V_HZ**"
    row "GET /v1/items/{id}$(errs item)" "$(fmt_int "$IT")" "$(fmt_ms "$(med item.p50)")" \
        "$(fmt_ms "$(med item.p99)")" "pgbench -f, the service's SELECT ($(fmt_int "$PGI"))" \
        "$R_IT" "≥ $T_ITEM" "**$V_IT**"
    row "GET /v1/items/{id}" "" "" "" "pgbench -S -M prepared, built-in ($(fmt_int "$PGS"))" "$R_IT_S" "≥ $T_ITEM" "**$V_IT_S**"
    row "GET /v1/items?limit=20$(errs list)" "$(fmt_int "$LS")" "$(fmt_ms "$(med list.p50)")" \
        "$(fmt_ms "$(med list.p99)")" "pgbench -f one-row SELECT ($(fmt_int "$PGI")) ¹" "$R_LS" "—" "info"
    row "POST /v1/items$(errs post)" "$(fmt_int "$PO")" "$(fmt_ms "$(med post.p50)")" \
        "$(fmt_ms "$(med post.p99)")" "pgbench -f, the service's INSERT ($(fmt_int "$PGW")) ²" "$R_PO" "—" "info"
    row "peak RSS (VmHWM, 64 connections)" "$PEAK_MIB MiB" "" "" "" "" "≤ $T_RSS_MIB MiB" "**$V_RSS**"
    row "start-up, exec → /readyz 200 (empty SQLite)" "$(fmt_ms "$STARTUP_MS")" "" "" \
        "median of $BENCH_STARTUP_REPS; max $(fmt_ms "$STARTUP_MAX"); existing DB $(fmt_ms "$STARTUP_EXISTING_MS")" \
        "" "≤ $T_STARTUP_MS ms" "**$V_ST**"
    row "RSS per idle keep-alive connection ($BENCH_IDLE_CONNECTIONS) ³" "$IDLE_SVC KiB" "" "" \
        "nginx, $BENCH_WORKER_THREADS workers ($IDLE_NG KiB)" "$R_IDLE" "≤ $T_IDLE_KIB KiB" "**$V_IDLE**"
    echo
    echo "¹ 20 rows per request against a one-row reference: informational, no target."
    echo "² one INSERT + COMMIT (WAL flush) per request, against pgbench running the same statement at the same client" \
        "count (tests/bench/pgbench/insert_item.sql): how much of the database's write rate the pool passes on" \
        "(DB_POOL_SIZE=$BENCH_DB_POOL_SIZE; make capacity measures it by pool size, docs/capacity.md). Informational, no target."
    echo "³ (VmRSS with the connections idle − VmRSS before) ÷ connections, each after one GET /healthz, on a fresh" \
        "process of each (nginx: master + workers); the ratio is service ÷ nginx (lower is better)." \
        "Service $(fmt_mib "$IDLE_SVC_B") → $(fmt_mib "$IDLE_SVC_A") with $IDLE_SVC_N connections;" \
        "nginx $(fmt_mib "$IDLE_NG_B") → $(fmt_mib "$IDLE_NG_A") with $IDLE_NG_N."
    echo
    echo "Run-by-run ratios (each pair measured back to back): /healthz ÷ nginx $(paired healthz nginx);" \
        "item ÷ pgbench $(paired item pgb_item); POST ÷ pgbench INSERT $(paired post pgb_insert)."
    echo "CPU per request (drift moves it much less than throughput): items-api /healthz $(med healthz.cpu) µs vs nginx $(med nginx.cpu) µs" \
        "(nginx spends $(ratio "$(med nginx.cpu)" "$(med healthz.cpu)")× as much); GET item: items-api $(med item.cpu) µs + PostgreSQL $(med item.pgcpu) µs" \
        "vs PostgreSQL $(med pgb_item.pgcpu) µs under pgbench (pgbench's own CPU not counted)."
    echo
    echo "Service memory after the runs: $RSS_PARTS (VmHWM $(fmt_mib "$HWM_KB"), highest polled VmRSS $(fmt_mib "$POLL_KB"))."
    echo
    echo "References and CPU cost (medians; CPU = user+system time of the process tree / requests):"
    echo
    echo "| run | req/s | p50 | p99 | server CPU µs/req | PostgreSQL CPU µs/req | peak RSS in phase |"
    echo "| --- | --: | --: | --: | --: | --: | --: |"
    for k in nginx:"nginx return 200" healthz:"items-api GET /healthz" \
        pgb_s:"pgbench -S -M prepared (scale 1)" pgb_item:"pgbench -f the service's SELECT" \
        item:"items-api GET /v1/items/{id}" list:"items-api GET /v1/items?limit=20" \
        pgb_insert:"pgbench -f the service's INSERT" post:"items-api POST /v1/items"; do
        key=${k%%:*}
        case $key in
        healthz | item | list | post) peak=$(fmt_mib "${PEAK[$key]}") ;;
        *) peak="" ;;
        esac
        cpu=$(med "$key.cpu")
        [[ $key == pgb_* ]] && cpu="—"
        printf '| %s | %s | %s | %s | %s | %s | %s |\n' "${k#*:}" "$(fmt_int "$(med "$key.rps")")" \
            "$(fmt_ms "$(med "$key.p50")")" "$(fmt_ms "$(med "$key.p99")")" "$cpu" \
            "$(med "$key.pgcpu")" "$peak"
    done
    if [[ $BENCH_COMPARE == 1 ]]; then
        echo
        compare_table
    fi
} >"$BENCH_OUT/results.md"

cat "$BENCH_OUT/results.md"
echo
misses=()
[[ $V_HZ == PASS ]] || misses+=("GET /healthz: $R_HZ × nginx, target ≥ $T_HEALTHZ")
[[ $V_IT == PASS ]] || misses+=("GET /v1/items/{id}: $R_IT × pgbench -f (the service's SELECT), target ≥ $T_ITEM")
[[ $V_IT_S == PASS ]] || misses+=("GET /v1/items/{id}: $R_IT_S × pgbench -S -M prepared, target ≥ $T_ITEM")
[[ $V_RSS == PASS ]] || misses+=("peak RSS: $PEAK_MIB MiB, target ≤ $T_RSS_MIB MiB")
[[ $V_ST == PASS ]] || misses+=("start-up: $STARTUP_MS ms, target ≤ $T_STARTUP_MS ms")
[[ $V_IDLE == PASS ]] || misses+=("idle keep-alive connection: $IDLE_SVC KiB ($R_IDLE × nginx's $IDLE_NG KiB), target ≤ $T_IDLE_KIB KiB")
if ((${#misses[@]})); then
    echo "TARGETS MISSED (${#misses[@]}):"
    printf '  MISS  %s\n' "${misses[@]}"
else
    echo "All targets met."
fi
echo "Markdown: $BENCH_OUT/results.md; raw outputs: $BENCH_OUT/raw/"
exit 0
