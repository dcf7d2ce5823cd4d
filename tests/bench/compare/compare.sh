# shellcheck shell=bash
# BENCH_COMPARE=1: the stacks items-api replaces, on the same box in the same
# run, with the same wrk settings and interleaved run by run with items-api:
#   - Express 5 + node-postgres (npm install into build/bench/express, cached),
#     one process per service worker thread (node:cluster), pool of 10 each;
#     GET /healthz and GET /v1/items/{id} (same prepared SELECT).
#   - Flask on Werkzeug's threaded server (gunicorn is not installed here);
#     GET /healthz, and GET /v1/items/{id} only if psycopg/psycopg2 exists.
# Sourced by run.sh after the main runs (uses measure_wrk, rec, med, R).

CMP_NOTES=()

compare_express_deps() {
    local dir="$BENCH_OUT/express"
    mkdir -p "$dir"
    local f
    for f in package.json app.js; do
        # Only when changed: a fresh mtime on package.json would re-run npm.
        cmp -s "$ROOT/tests/bench/compare/express/$f" "$dir/$f" ||
            cp "$ROOT/tests/bench/compare/express/$f" "$dir/$f"
    done
    if [[ -d $dir/node_modules/express && -d $dir/node_modules/pg &&
        $dir/node_modules/.package-lock.json -nt $dir/package.json ]]; then
        return 0
    fi
    bench_log "compare: npm install express pg (into $dir)"
    bench_fg timeout 300 npm install --prefix "$dir" --no-audit --no-fund --loglevel=error \
        >"$BENCH_OUT/raw/npm-install.log" 2>&1
}

# compare_warm KEY URL LUA: one unrecorded warm-up run.
compare_warm() { wrk_run "$1.warmup" "$2" "$3" "$BENCH_WARMUP"; }

compare_run() {
    local flask_pid="" express_pid="" flask_item=0 r

    # Flask
    if command -v python3 >/dev/null && python3 -c 'import flask' 2>/dev/null; then
        local fport
        fport=$(bench_free_port)
        bench_spawn "$BENCH_OUT/flask.log" env PORT="$fport" DATABASE_URL="$PG_URL" \
            API_KEYS="$BENCH_API_KEY" python3 "$ROOT/tests/bench/compare/flask_app.py"
        flask_pid=$BENCH_LAST_PID
        FLASK_URL="http://127.0.0.1:$fport"
        if bench_wait_http "$FLASK_URL/healthz" 30 "$flask_pid"; then
            if python3 -c 'import psycopg' 2>/dev/null || python3 -c 'import psycopg2' 2>/dev/null; then
                flask_item=1
            fi
            ((flask_item)) || CMP_NOTES+=("Flask: GET /v1/items/{id} not measured: neither psycopg nor psycopg2 is installed here, so only /healthz.")
        else
            CMP_NOTES+=("Flask: did not start (see build/bench/flask.log).")
            bench_stop_pid "$flask_pid"
            flask_pid=""
        fi
    else
        CMP_NOTES+=("Flask: not installed; skipped.")
    fi

    # Express
    if command -v node >/dev/null && command -v npm >/dev/null && compare_express_deps; then
        local eport
        eport=$(bench_free_port)
        bench_spawn "$BENCH_OUT/express.log" env PORT="$eport" DATABASE_URL="$PG_URL" \
            API_KEYS="$BENCH_API_KEY" WORKERS="$BENCH_WORKER_THREADS" \
            node "$BENCH_OUT/express/app.js"
        express_pid=$BENCH_LAST_PID
        EXPRESS_URL="http://127.0.0.1:$eport"
        if ! bench_wait_http "$EXPRESS_URL/healthz" 30 "$express_pid"; then
            CMP_NOTES+=("Express: did not start (see build/bench/express.log).")
            bench_stop_pid "$express_pid"
            express_pid=""
        fi
    else
        CMP_NOTES+=("Express: node/npm missing or npm install failed (build/bench/raw/npm-install.log); skipped.")
    fi

    # /healthz: items-api, Flask, Express interleaved
    bench_log "compare: GET /healthz"
    compare_warm cmp_api_hz "$SVC_URL/healthz" -
    [[ -z $flask_pid ]] || compare_warm cmp_flask_hz "$FLASK_URL/healthz" -
    [[ -z $express_pid ]] || compare_warm cmp_express_hz "$EXPRESS_URL/healthz" -
    for ((r = 1; r <= BENCH_RUNS; r++)); do
        measure_wrk cmp_api_hz "$r" "$SVC_URL/healthz" - "$SVC_PID"
        if [[ -n $flask_pid ]]; then
            rss_poll_start "$flask_pid"
            measure_wrk cmp_flask_hz "$r" "$FLASK_URL/healthz" - "$flask_pid"
            rec cmp_flask.rss "$(rss_max_since 0)"
            rss_poll_stop
        fi
        if [[ -n $express_pid ]]; then
            rss_poll_start "$express_pid"
            measure_wrk cmp_express_hz "$r" "$EXPRESS_URL/healthz" - "$express_pid"
            rec cmp_express.rss "$(rss_max_since 0)"
            rss_poll_stop
        fi
    done

    # GET /v1/items/{id}
    bench_log "compare: GET /v1/items/{id}"
    local lua=tests/bench/wrk/get_item.lua
    compare_warm cmp_api_item "$SVC_URL" "$lua"
    ((flask_item == 0)) || compare_warm cmp_flask_item "$FLASK_URL" "$lua"
    [[ -z $express_pid ]] || compare_warm cmp_express_item "$EXPRESS_URL" "$lua"
    for ((r = 1; r <= BENCH_RUNS; r++)); do
        measure_wrk cmp_api_item "$r" "$SVC_URL" "$lua" "$SVC_PID"
        if ((flask_item)); then
            rss_poll_start "$flask_pid"
            measure_wrk cmp_flask_item "$r" "$FLASK_URL" "$lua" "$flask_pid"
            rec cmp_flask.rss "$(rss_max_since 0)"
            rss_poll_stop
        fi
        if [[ -n $express_pid ]]; then
            rss_poll_start "$express_pid"
            measure_wrk cmp_express_item "$r" "$EXPRESS_URL" "$lua" "$express_pid"
            rec cmp_express.rss "$(rss_max_since 0)"
            rss_poll_stop
        fi
    done
    [[ -z $flask_pid ]] || bench_stop_pid "$flask_pid"
    [[ -z $express_pid ]] || bench_stop_pid "$express_pid"
    if [[ -n $express_pid ]]; then
        CMP_NOTES+=("Express $(node -p 'require(process.argv[1] + "/node_modules/express/package.json").version' "$BENCH_OUT/express") + pg $(node -p 'require(process.argv[1] + "/node_modules/pg/package.json").version' "$BENCH_OUT/express") on Node $(node --version): $BENCH_WORKER_THREADS processes (node:cluster), pool of 10 connections each, RSS summed over the processes.")
    fi
    if [[ -n $flask_pid ]]; then
        CMP_NOTES+=("Flask $(python3 -c 'import importlib.metadata as m; print(m.version("flask"))') on Werkzeug's threaded server, one process (the GIL uses one core); a gunicorn deployment (not installed here) would use both cores, still at tens of times items-api's CPU per request.")
    fi
}

maxv() { awk '{m = 0; for (i = 1; i <= NF; i++) if ($i > m) m = $i; print m}' <<<"${R[$1]:-0}"; }

# The Markdown table of the comparison (needs PEAK_KB from run.sh).
compare_table() {
    local k label api_key stack rps rss
    echo "Comparison with the stacks items-api replaces (BENCH_COMPARE=1; same box, same wrk settings, interleaved with items-api run by run):"
    echo
    echo "| stack | endpoint | req/s | p50 | p99 | CPU µs/req | peak RSS | items-api ÷ stack (req/s) |"
    echo "| --- | --- | --: | --: | --: | --: | --: | --: |"
    for k in api_hz:"items-api:GET /healthz" flask_hz:"Flask:GET /healthz" \
        express_hz:"Express:GET /healthz" api_item:"items-api:GET /v1/items/{id}" \
        flask_item:"Flask:GET /v1/items/{id}" express_item:"Express:GET /v1/items/{id}"; do
        label=${k#*:}
        k=cmp_${k%%:*}
        [[ -n ${R[$k.rps]:-} ]] || continue
        stack=${label%%:*}
        case $stack in
        items-api) rss=$(fmt_mib "$PEAK_KB") ;;
        Flask) rss=$(fmt_mib "$(maxv cmp_flask.rss)") ;;
        Express) rss=$(fmt_mib "$(maxv cmp_express.rss)") ;;
        esac
        api_key=cmp_api_${k##*_}
        rps=$(med "$k.rps")
        printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$stack" "${label#*:}" \
            "$(fmt_int "$rps")" "$(fmt_ms "$(med "$k.p50")")" "$(fmt_ms "$(med "$k.p99")")" \
            "$(med "$k.cpu")" "$rss" "$(ratio "$(med "$api_key.rps")" "$rps")"
    done
    echo
    local n
    for n in "${CMP_NOTES[@]}"; do
        echo "- $n"
    done
}
