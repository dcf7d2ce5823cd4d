# shellcheck shell=bash
# Shared helpers for tests/bench/run.sh and tests/bench/sweep.sh: process
# bookkeeping with cleanup, PostgreSQL + seed, the service, nginx, wrk and
# pgbench runs with their output parsed, medians, RSS and CPU sampling.
#
# Sourced after `set -euo pipefail`; the caller sets ROOT and calls
# bench_init, which installs the EXIT trap that stops everything started
# here and removes the temporary directory.

# shellcheck source=lib/pg.sh
source "$ROOT/lib/pg.sh"

BENCH_PIDS=()      # session leaders we started, stopped in reverse order
BENCH_CHILDREN=()  # plain background children (perf), killed on exit
BENCH_FG_PID=""    # the load generator bench_fg is waiting for
BENCH_TMP=""       # temporary directory, removed on exit
BENCH_PG_STARTED=0
BENCH_CLK_TCK=$(getconf CLK_TCK)

# ---- preconditions ----

# bench_require NAME HINT TOOL...: every TOOL on PATH (or an executable
# path) and build/items-api built, else exit 1 naming what is missing and
# HINT, the command that provides it. Before bench_init: nothing started.
bench_require() {
    local name=$1 hint=$2 tool
    shift 2
    for tool in "$@"; do
        command -v "$tool" >/dev/null || {
            echo "$name: $tool not found ($hint)" >&2
            exit 1
        }
    done
    [[ -x $ROOT/build/items-api ]] || {
        echo "$name: build/items-api missing; run make build" >&2
        exit 1
    }
}

# ---- lifecycle ----

bench_log() { printf '[bench %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

bench_init() {
    BENCH_OUT=${BENCH_OUT:-$ROOT/build/bench}
    mkdir -p "$BENCH_OUT/raw"
    BENCH_TMP=$(mktemp -d /tmp/items-bench.XXXXXX)
    chmod 0755 "$BENCH_TMP" # the postgres user must reach its data directory
    # Others rebuild build/items-api while we run: measure (and profile, which
    # needs the file to resolve symbols) one copy throughout.
    BENCH_BIN="$BENCH_TMP/items-api"
    cp "$ROOT/build/items-api" "$BENCH_BIN"
    # shellcheck disable=SC2034 # read by run.sh and sweep.sh
    BENCH_REV=$(cat "$ROOT/build/version.txt" 2>/dev/null || echo unknown)
    BENCH_LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
    BENCH_STAT_START=$(head -n 1 /proc/stat)
    trap bench_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

# Stops one process group we started: TERM, up to 10 s, then KILL.
bench_stop_pid() {
    local pid=$1 i
    kill -0 "$pid" 2>/dev/null || {
        wait "$pid" 2>/dev/null || true
        return 0
    }
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL -- "-$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    local keep=() p
    for p in "${BENCH_PIDS[@]}"; do
        [[ $p == "$pid" ]] || keep+=("$p")
    done
    BENCH_PIDS=("${keep[@]}")
}

bench_cleanup() {
    local rc=$? i p
    trap - EXIT INT TERM
    for p in $BENCH_FG_PID "${BENCH_CHILDREN[@]}"; do
        kill -TERM "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    for ((i = ${#BENCH_PIDS[@]} - 1; i >= 0; i--)); do
        bench_stop_pid "${BENCH_PIDS[i]}"
    done
    if ((BENCH_PG_STARTED)); then
        pg_stop || true
    fi
    if [[ -n $BENCH_TMP && -d $BENCH_TMP ]]; then
        rm -rf "$BENCH_TMP"
    fi
    exit "$rc"
}

# bench_fg CMD...: runs CMD (a load generator, up to minutes) in the
# background and waits for it. Unlike a foreground command, `wait` returns
# at once when INT or TERM arrives, so the traps clean up right away; and
# wrk, which treats SIGINT as "stop early and report", cannot swallow a
# Ctrl-C (bash would then carry on with the next run).
bench_fg() {
    local rc=0
    "$@" &
    BENCH_FG_PID=$!
    wait "$BENCH_FG_PID" || rc=$?
    BENCH_FG_PID=""
    return "$rc"
}

# bench_spawn LOG CMD...: starts CMD as the leader of its own session and
# process group (so stopping it stops its children too); PID in BENCH_LAST_PID.
# From a non-interactive shell the background child is not a group leader,
# so setsid(1) does not fork: the PID is CMD's own.
bench_spawn() {
    local log=$1
    shift
    setsid "$@" >"$log" 2>&1 </dev/null &
    BENCH_LAST_PID=$!
    BENCH_PIDS+=("$BENCH_LAST_PID")
}

bench_free_port() { pg_free_port; }

# bench_wait_http URL [TIMEOUT_S] [PID]: until URL answers 200.
bench_wait_http() {
    local url=$1 timeout=${2:-30} pid=${3:-} i
    for ((i = 0; i < timeout * 50; i++)); do
        if curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null; then
            return 0
        fi
        if [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; then
            bench_log "process $pid exited while waiting for $url"
            return 1
        fi
        sleep 0.02
    done
    bench_log "timed out waiting for $url"
    return 1
}

# ---- machine ----

bench_cpu_model() {
    awk -F': *' '/^model name/ {print $2; exit}' /proc/cpuinfo
}

bench_machine() {
    printf '%s CPUs (nproc), %s, %s MiB RAM, kernel %s' "$(nproc)" "$(bench_cpu_model)" \
        "$(awk '/^MemTotal/ {printf "%d", $2 / 1024}' /proc/meminfo)" "$(uname -r)"
}

# How busy the machine was since bench_init: load averages then and now, and
# the share of CPU time stolen by the hypervisor (/proc/stat "steal").
bench_machine_load() {
    local now
    now=$(head -n 1 /proc/stat)
    awk -v a="$BENCH_STAT_START" -v b="$now" -v l0="$BENCH_LOAD_START" \
        -v l1="$(cut -d' ' -f1-3 /proc/loadavg)" 'BEGIN {
        n = split(a, x, " "); split(b, y, " "); tot = 0
        for (i = 2; i <= n; i++) tot += y[i] - x[i]
        steal = (n >= 9 && tot > 0) ? 100 * (y[9] - x[9]) / tot : 0
        idle = (tot > 0) ? 100 * (y[5] + y[6] - x[5] - x[6]) / tot : 0
        printf "load average %s at the start, %s at the end; over the run %.0f %% of CPU time idle, %.0f %% stolen by the hypervisor", l0, l1, idle, steal
    }'
}

# ---- PostgreSQL and data ----

bench_pg_start() {
    pg_start "$BENCH_TMP/pg"
    BENCH_PG_STARTED=1
    # shellcheck disable=SC2153 # set by pg_start
    export PGPASSWORD=$PG_PASSWORD
}

# The built-in pgbench reference lives in its own database.
bench_pgbench_init() {
    local scale=${1:-1}
    pg_psql -d postgres -c "CREATE DATABASE pgbench_ref" >/dev/null
    "$PG_BIN/pgbench" -h 127.0.0.1 -p "$PG_PORT" -U items -i -q -s "$scale" pgbench_ref \
        >"$BENCH_OUT/raw/pgbench-init.log" 2>&1
}

# N items with a small JSON document each, then VACUUM ANALYZE (as pgbench -i).
bench_seed() {
    local n=$1
    pg_psql -c "INSERT INTO items (name, data)
                SELECT 'item-' || g,
                       ('{\"n\":' || g || ',\"tag\":\"bench\",\"tags\":[\"a\",\"b\"]}')::json
                  FROM generate_series(1, $n) AS g" >/dev/null
    pg_psql -c "VACUUM ANALYZE items" >/dev/null
    local got
    got=$(pg_psql -c "SELECT count(*) FROM items")
    [[ $got -ge $n ]] || {
        bench_log "seeding failed: $got items"
        return 1
    }
}

# Postmaster PID (first line of postmaster.pid).
bench_pg_pid() { head -n 1 "$PG_DIR/data/postmaster.pid"; }

# ---- the service ----

# svc_start WORKERS POOL: release build on PostgreSQL; sets SVC_PID, SVC_URL.
svc_start() {
    local workers=$1 pool=$2
    SVC_PORT=$(bench_free_port)
    SVC_URL="http://127.0.0.1:$SVC_PORT"
    SVC_LOG="$BENCH_OUT/service-w${workers}-p${pool}.log"
    bench_spawn "$SVC_LOG" env DATABASE_URL="$PG_URL" API_KEYS="$BENCH_API_KEY" \
        PORT="$SVC_PORT" BIND_ADDRESS=127.0.0.1 WORKER_THREADS="$workers" \
        DB_POOL_SIZE="$pool" ACCESS_LOG=off DRAIN_SECONDS=0 "$BENCH_BIN" serve
    SVC_PID=$BENCH_LAST_PID
    bench_wait_http "$SVC_URL/readyz" 60 "$SVC_PID" || {
        tail -n 20 "$SVC_LOG" >&2
        return 1
    }
}

svc_stop() {
    [[ -n ${SVC_PID:-} ]] || return 0
    bench_stop_pid "$SVC_PID"
    SVC_PID=""
}

# ---- nginx reference ----

# nginx_start WORKERS: `return 200` with the same body as /healthz, no access
# log, keep-alive connections never closed by request count (the service
# does not close them either). Sets NGINX_PID, NGINX_URL.
nginx_start() {
    local workers=$1 dir="$BENCH_TMP/nginx"
    mkdir -p "$dir/tmp"
    NGINX_PORT=$(bench_free_port)
    NGINX_URL="http://127.0.0.1:$NGINX_PORT/"
    local user_line=""
    [[ $(id -u) -eq 0 ]] && user_line="user root;"
    sed -e "s|@WORKERS@|$workers|g" -e "s|@PORT@|$NGINX_PORT|g" -e "s|@DIR@|$dir|g" \
        -e "s|@USER@|$user_line|g" "$ROOT/tests/bench/nginx.conf.in" >"$dir/nginx.conf"
    bench_spawn "$BENCH_OUT/raw/nginx.log" nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log"
    NGINX_PID=$BENCH_LAST_PID
    bench_wait_http "$NGINX_URL" 10 "$NGINX_PID" || {
        cat "$dir/error.log" >&2
        return 1
    }
}

nginx_stop() {
    [[ -n ${NGINX_PID:-} ]] || return 0
    bench_stop_pid "$NGINX_PID"
    NGINX_PID=""
}

# ---- memory per idle keep-alive connection ----

# bench_idle_figures N: N idle keep-alive connections (one GET /healthz each,
# then left open; tests/bench/idle_conns.py) to a fresh service on the
# running PostgreSQL, then to a fresh nginx. Fresh processes, because a
# process that served load has freed buffers in its heap that new
# connections would reuse. The figure is (VmRSS with N idle connections -
# VmRSS before) / N in KiB; for nginx the master's and the workers' VmRSS
# summed. Sets IDLE_SVC, IDLE_SVC_B, IDLE_SVC_A, IDLE_SVC_N (KiB per
# connection, kB before, kB after, connections made) and IDLE_NG* for nginx.
# Stops both; leaves SVC_PID and NGINX_PID empty.
bench_idle_figures() {
    local n=$1
    bench_log "idle keep-alive connections: $n to a fresh service, then to a fresh nginx"
    svc_start "${BENCH_WORKER_THREADS:-2}" "${BENCH_DB_POOL_SIZE:-16}"
    read -r IDLE_SVC IDLE_SVC_B IDLE_SVC_A IDLE_SVC_N _ < <(bench_idle_one service "$n" \
        --port "$SVC_PORT" --pid "$SVC_PID")
    svc_stop
    nginx_start "${BENCH_WORKER_THREADS:-2}"
    read -r IDLE_NG IDLE_NG_B IDLE_NG_A IDLE_NG_N _ < <(bench_idle_one nginx "$n" \
        --port "$NGINX_PORT" --pid "$NGINX_PID" --children)
    nginx_stop
    bench_log "idle keep-alive connection: service $IDLE_SVC KiB ($IDLE_SVC_N connections," \
        "$(fmt_mib "$IDLE_SVC_B") → $(fmt_mib "$IDLE_SVC_A")), nginx $IDLE_NG KiB ($IDLE_NG_N," \
        "$(fmt_mib "$IDLE_NG_B") → $(fmt_mib "$IDLE_NG_A")): $(ratio "$IDLE_SVC" "$IDLE_NG") × nginx"
}

# bench_idle_one NAME N ARGS...: prints "KIB_PER_CONN BEFORE AFTER N OPEN"
# (n/a on failure; raw output in raw/idle-NAME.*).
bench_idle_one() {
    local name=$1 n=$2
    shift 2
    if python3 "$ROOT/tests/bench/idle_conns.py" -n "$n" "$@" \
        >"$BENCH_OUT/raw/idle-$name.txt" 2>"$BENCH_OUT/raw/idle-$name.err"; then
        cat "$BENCH_OUT/raw/idle-$name.txt"
    else
        bench_log "idle connections ($name) failed: $(head -c 300 "$BENCH_OUT/raw/idle-$name.err")"
        echo "n/a 0 0 0 0"
    fi
}

# ---- CPU and memory accounting ----

# cpu_ticks PID...: user+system clock ticks of each PID, its reaped children
# and its live direct children (PostgreSQL backends, nginx workers).
cpu_ticks() {
    local pid kids=() total=0 t
    for pid in "$@"; do
        mapfile -t kids < <(ps -o pid= --ppid "$pid" 2>/dev/null | tr -d ' ')
        for t in "$pid" "${kids[@]}"; do
            [[ -n $t && -r /proc/$t/stat ]] || continue
            # Fields after the ")" of comm: utime is the 12th, cstime the 15th.
            t=$(sed -e 's/^.*) //' "/proc/$t/stat" 2>/dev/null |
                awk '{print $12 + $13 + $14 + $15}') || t=0
            total=$((total + ${t:-0}))
        done
    done
    echo "$total"
}

# µs of CPU per request from a tick delta and a request count.
cpu_us_per_req() {
    awk -v t="$1" -v n="$2" -v hz="$BENCH_CLK_TCK" \
        'BEGIN { if (n > 0) printf "%.1f", t * 1e6 / hz / n; else print "n/a" }'
}

# rss_poll_start PID...: samples the summed VmRSS (kB) of the PIDs and their
# direct children every 100 ms into a file; rss_mark/rss_max_since give the
# peak over a stretch of it.
rss_poll_start() {
    RSS_FILE="$BENCH_TMP/rss.$1"
    : >"$RSS_FILE"
    # shellcheck disable=SC2016 # the loop is the child's script, expanded there
    bench_spawn "$BENCH_TMP/rss.$1.log" bash -c '
        out=$1; shift
        while kill -0 "$1" 2>/dev/null; do
            sum=0
            for p in "$@" $(ps -o pid= --ppid "$(IFS=,; echo "$*")" 2>/dev/null); do
                r=$(awk "/^VmRSS:/ {print \$2}" "/proc/$p/status" 2>/dev/null) || r=0
                sum=$((sum + ${r:-0}))
            done
            echo "$sum" >>"$out"
            sleep 0.1
        done' rss-poll "$RSS_FILE" "$@"
    RSS_POLL_PID=$BENCH_LAST_PID
}

rss_poll_stop() {
    [[ -n ${RSS_POLL_PID:-} ]] || return 0
    bench_stop_pid "$RSS_POLL_PID"
    RSS_POLL_PID=""
}

rss_mark() { wc -l <"$RSS_FILE"; }

# Peak kB sampled after line MARK of the current RSS file.
rss_max_since() {
    tail -n "+$(($1 + 1))" "$RSS_FILE" | sort -n | tail -n 1 | awk '{print ($1 == "" ? 0 : $1)}'
}

# VmHWM (kB): the kernel's own peak resident set of one process.
vm_hwm() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }

# ---- statistics ----

median() {
    printf '%s\n' "$@" | awk '$1 != "n/a" && $1 != ""' | sort -g | awk '
        { v[NR] = $1 }
        END {
            if (NR == 0) { print "n/a"; exit }
            if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2
        }'
}

# ---- load generators ----

# wrk_run NAME URL LUA|- DURATION: one wrk run (raw output kept under
# raw/NAME.txt). Sets WRK_OUT to "rps p50_ms p99_ms requests errors", where
# errors counts non-2xx/3xx responses and socket errors.
wrk_run() {
    local name=$1 url=$2 lua=$3 duration=$4 raw="$BENCH_OUT/raw/$1.txt"
    local args=(-t "$BENCH_WRK_THREADS" -c "$BENCH_CONNECTIONS" -d "${duration}s" --latency
        --timeout 10s)
    [[ $lua == - ]] || args+=(-s "$lua")
    WRK_OUT=""
    bench_fg wrk "${args[@]}" "$url" >"$raw" 2>&1 || {
        bench_log "wrk failed ($name):"
        cat "$raw" >&2
        return 1
    }
    # shellcheck disable=SC2034 # the result, read by the callers
    WRK_OUT=$(wrk_parse "$raw")
}

wrk_parse() {
    awk '
        function ms(v) {
            if (v ~ /us$/) return v / 1000
            if (v ~ /ms$/) return v + 0
            if (v ~ /m$/) return v * 60000
            if (v ~ /s$/) return v * 1000
            return v + 0
        }
        /^Requests\/sec:/ { rps = $2 }
        /^ +50%/ { p50 = ms($2) }
        /^ +99%/ { p99 = ms($2) }
        / requests in / { reqs = $1 }
        /Non-2xx or 3xx responses:/ { err += $NF }
        /Socket errors:/ {
            gsub(/,/, "")
            err += $4 + $6 + $8 + $10
        }
        END {
            if (rps == "") exit 1
            printf "%s %.3f %.3f %d %d\n", rps, p50, p99, reqs, err
        }' "$1"
}

# pgbench_run NAME DB DURATION ARGS...: one pgbench run at the same client
# count as wrk, 10 % of transactions logged for the latency percentiles.
# Sets PGB_OUT to "tps p50_ms p99_ms transactions failed".
pgbench_run() {
    local name=$1 db=$2 duration=$3
    shift 3
    local raw="$BENCH_OUT/raw/$name.txt" logdir="$BENCH_TMP/pgblog.$name"
    mkdir -p "$logdir"
    PGB_OUT=""
    bench_fg "$PG_BIN/pgbench" -h 127.0.0.1 -p "$PG_PORT" -U items -n -M prepared \
        -c "$BENCH_CONNECTIONS" -j "$BENCH_WRK_THREADS" -T "$duration" \
        -l --sampling-rate=0.1 --log-prefix="$logdir/log" "$@" "$db" >"$raw" 2>&1 || {
        bench_log "pgbench failed ($name):"
        cat "$raw" >&2
        return 1
    }
    local pct
    pct=$(cat "$logdir"/log.* 2>/dev/null | awk '{print $3 / 1000}' | sort -g | awk '
        { v[NR] = $1 }
        END {
            if (NR == 0) { print "n/a n/a"; exit }
            i50 = int(NR * 0.50); if (i50 < 1) i50 = 1
            i99 = int(NR * 0.99); if (i99 < 1) i99 = 1
            printf "%.3f %.3f\n", v[i50], v[i99]
        }') || pct="n/a n/a"
    rm -rf "$logdir"
    # shellcheck disable=SC2034 # the result, read by the callers
    PGB_OUT=$(awk -v pct="$pct" '
        /^tps = / { tps = $3 }
        /^number of transactions actually processed:/ { n = $NF; sub(/\/.*/, "", n) }
        /^number of failed transactions:/ { f = $5 }
        END {
            if (tps == "") exit 1
            printf "%s %s %d %d\n", tps, pct, n, f
        }' "$raw")
}

# ---- formatting ----

fmt_int() { LC_ALL=C awk -v v="$1" 'BEGIN {
    if (v == "n/a") { print v; exit }
    s = sprintf("%d", v + 0.5); o = ""
    while (length(s) > 3) { o = "," substr(s, length(s) - 2) o; s = substr(s, 1, length(s) - 3) }
    print s o }'; }
fmt_ms() { awk -v v="$1" 'BEGIN { if (v == "n/a") print v; else if (v < 10) printf "%.2f ms", v; else printf "%.1f ms", v }'; }
fmt_mib() { awk -v v="$1" 'BEGIN { printf "%.1f MiB", v / 1024 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
# at_least VALUE THRESHOLD → PASS|FAIL ; at_most likewise
at_least() { awk -v a="$1" -v b="$2" 'BEGIN { print (a != "n/a" && a + 0 >= b + 0) ? "PASS" : "FAIL" }'; }
at_most() { awk -v a="$1" -v b="$2" 'BEGIN { print (a != "n/a" && a + 0 <= b + 0) ? "PASS" : "FAIL" }'; }

# ---- whole-machine CPU ----

# stat_mark: the /proc/stat "cpu" line now; stat_busy_pct MARK: the share of
# CPU time (all cores) that was neither idle nor iowait since MARK, in %.
stat_mark() { head -n 1 /proc/stat; }
stat_busy_pct() {
    awk -v a="$1" -v b="$(head -n 1 /proc/stat)" 'BEGIN {
        n = split(a, x, " "); split(b, y, " "); tot = 0
        for (i = 2; i <= n; i++) tot += y[i] - x[i]
        idle = y[5] + y[6] - x[5] - x[6]
        printf "%.0f", (tot > 0) ? 100 * (tot - idle) / tot : 0
    }'
}
