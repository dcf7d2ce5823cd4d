#!/usr/bin/env bash
# Failure drills under load against the local production rehearsal
# (rehearsal/stack.sh), each printing its figures:
#
#   roll       rolling update of every instance under ~1,000 req/s, to a
#              build of the same sources with another version string
#   kill       kill -9 one instance under the same load
#   pg         PostgreSQL restart -m fast, then -m immediate, under load
#   partition  nftables drop between the instances and PostgreSQL for 20 s
#   slowloris  slowhttptest (200 connections) through the balancer
#   failover   the database primary's host dies (SIGKILL) under the same
#              load; the synchronous standby in the other zone is promoted
#              and the database's name moves to it
#   failback   a new synchronous standby (fresh base backup) under load,
#              then a second failover
#   azloss     a whole Availability Zone dies under load (its instances and
#              database server, kill -9): first the standby's zone, then,
#              after az-restore, the primary's (CI: the primary's only)
#   scale      the scaler (target tracking, rehearsal/scaler.py) under a
#              load ramp low -> high -> low: scale-out, then scale-in to the
#              minimum without a failed request (tests/drills/scale.sh)
#   badready   a release that is never ready, rolled under load: stopped at
#              the first instance and rolled back (tests/drills/releases.sh)
#   bad5xx     a release that fails real requests: the deploy guard stops
#              and rolls back the roll (tests/drills/releases.sh)
#
#   tests/drills/run.sh                 every drill, full load phases (make drills)
#   DRILLS_MODE=ci tests/drills/run.sh  shorter load phases (make test-drills)
#   tests/drills/run.sh kill pg         some of them
#
# The drills bring up their own stack (STACK_NAME=drills, var/stack-drills),
# never a developer's `make stack`, and tear it down at the end. The load
# generator (tests/drills/loadgen.c, compiled here) runs in the "internet"
# namespace against the balancer's public address and records every request
# and every acknowledged write; each drill then checks the acknowledged
# writes against the database. Figures go to build/drills/<drill>/ and
# build/drills/results.md. Knobs: DRILLS_RATE (1000), DRILLS_CONNS (64),
# DRILLS_PARTITION_CONNS (6 x the rate: the partition drill's requests take
# up to ~5 s each, so it needs rate x 5 connections to keep the rate),
# DRILLS_WRITE_PCT (30), DRILLS_PRE / DRILLS_POST (seconds of load before and
# after each fault), DRILLS_SLOW_SECONDS, DRILLS_KEEP_STACK=1, DRILLS_IMG_DIR
# (also copy the timelines of drills 6-11 there as drill-<name>.svg, e.g.
# docs/img), DRILLS_READY_TIMEOUT (drill 10's readiness timeout for the
# roll), STACK_TIME_FACTOR (time compression of drill 9's scaler and drill
# 11's guard; drill 9's default from infrastructure/capacity-model.json
# "rehearsal").
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export STACK_NAME=${DRILLS_STACK_NAME:-drills}
export STACK_DIR=${DRILLS_STACK_DIR:-$ROOT/var/stack-drills}
# shellcheck source=rehearsal/lib.sh
source "$ROOT/rehearsal/lib.sh"

MODE=${DRILLS_MODE:-full}
case $MODE in
full) PRE=${DRILLS_PRE:-30} POST=${DRILLS_POST:-30} SLOW_SECONDS=${DRILLS_SLOW_SECONDS:-120} ;;
ci) PRE=${DRILLS_PRE:-5} POST=${DRILLS_POST:-5} SLOW_SECONDS=${DRILLS_SLOW_SECONDS:-30} ;;
*)
    echo "DRILLS_MODE must be full or ci" >&2
    exit 2
    ;;
esac
RATE=${DRILLS_RATE:-1000}
CONNS=${DRILLS_CONNS:-64}
PARTITION_CONNS=${DRILLS_PARTITION_CONNS:-$((RATE * 6))}
WRITE_PCT=${DRILLS_WRITE_PCT:-30}
PARTITION_SECONDS=20
SLOW_CONNECTIONS=200
OUT=${DRILLS_OUT:-$ROOT/build/drills}
LOADGEN=$OUT/loadgen
# Drill 9 (scale) runs before drill 8: the short form of drill 8 skips its
# zone restore only when it is the last drill of its stack.
ALL_DRILLS=(roll kill pg partition slowloris failover failback scale azloss badready bad5xx)

if (($# > 0)); then
    DRILLS=("$@")
else
    DRILLS=("${ALL_DRILLS[@]}")
fi
for d in "${DRILLS[@]}"; do
    [[ " ${ALL_DRILLS[*]} " == *" $d "* ]] || {
        echo "unknown drill '$d' (known: ${ALL_DRILLS[*]})" >&2
        exit 2
    }
done

log() { printf '%s drills: %s\n' "$(date -u +%H:%M:%S)" "$*"; }

# ------------------------------------------------------------------ cleanup

# Each drill runs in a subshell (so that `set -e` holds inside it) whose
# trap stops what it started in the background.
BG=()
LOADGEN_PID=
drill_cleanup() {
    local p
    for p in "${BG[@]}" $LOADGEN_PID; do
        kill -TERM "$p" 2>/dev/null || true
    done
    for p in "${BG[@]}" $LOADGEN_PID; do
        wait "$p" 2>/dev/null || true
    done
}

cleanup() {
    local rc=$?
    if [[ -e /run/netns/$NS_VPC ]]; then
        ip netns exec "$NS_VPC" nft delete table inet partition 2>/dev/null || true
    fi
    if [[ ${DRILLS_KEEP_STACK:-0} != 1 ]]; then
        "$ROOT/rehearsal/stack.sh" down >"$OUT/stack-down.log" 2>&1 || {
            echo "stack-down failed:" >&2
            cat "$OUT/stack-down.log" >&2
            rc=1
        }
    fi
    exit "$rc"
}

# ------------------------------------------------------------------ helpers

ev() { printf '%s=%s\n' "$2" "$3" >>"$1/events.env"; }

# The load generator in the "internet" namespace, against the public
# listener: load_start DIR [CONNECTIONS]
load_start() {
    local dir=$1 conns=${2:-$CONNS}
    ip netns exec "$NS_PUB" "$LOADGEN" -a "$IP_LB" -p "$LB_PORT" -k "$STACK_DIR/api-key" \
        -r "$RATE" -c "$conns" -w "$WRITE_PCT" -t 30 -o "$dir" -v >"$dir/loadgen.log" 2>&1 &
    LOADGEN_PID=$!
}

load_stop() {
    local dir=$1
    kill -TERM "$LOADGEN_PID" 2>/dev/null || true
    wait "$LOADGEN_PID" || {
        echo "load generator failed:" >&2
        cat "$dir/loadgen.log" >&2
        return 1
    }
    LOADGEN_PID=
    grep -E '^(achieved_rate|ok_2xx|non_2xx|connection_errors|writes_acked|skipped_slots)=' "$dir/summary.txt" | tr '\n' ' '
    echo
}

# Every write the service acknowledged (201) must be in the database, with
# the name it was given. (The primary's, wherever it is now: pg.env.)
check_writes() {
    local dir=$1 res
    # shellcheck source=/dev/null
    source "$S_SECRETS/pg.env"
    res=$(
        {
            echo "CREATE TEMP TABLE acked (id bigint, name text);"
            echo "\\copy acked FROM '$dir/acked.csv' WITH (FORMAT csv)"
            echo "SELECT count(*) || ' ' || count(*) FILTER (WHERE i.id IS NULL)"
            echo "  FROM acked a LEFT JOIN items i ON i.id = a.id AND i.name = a.name;"
        } | pg_psql -v ON_ERROR_STOP=1 -f -
    )
    ev "$dir" writes_acked "${res%% *}"
    ev "$dir" writes_missing "${res##* }"
}

instances_ready() {
    local i n
    n=$(stack_instances)
    for ((i = 1; i <= n; i++)); do
        [[ $(lb_server_status "$i" 2>/dev/null) == UP ]] || return 1
        probe_url "$NS_LB" "http://$(instance_addr "$i"):$(instance_port "$i")/readyz" || return 1
    done
}

steady() {
    wait_until 90 0.2 instances_ready || {
        log "the stack is not steady (every instance UP and ready) within 90 s"
        "$ROOT/rehearsal/stack.sh" status || true
        return 1
    }
}

new_drill() {
    local dir=$OUT/$1
    rm -rf "$dir"
    mkdir -p "$dir"
    : >"$dir/events.env"
    echo "$dir"
}

# First line of the balancer's log matching REGEX at or after SINCE_US,
# as microseconds (its log lines start with an ISO-8601 timestamp).
lb_log_time_after() {
    local since=$1 re=$2 ts us
    while read -r ts; do
        us=$(date -d "$ts" +%s%6N)
        if ((us >= since)); then
            echo "$us"
            return 0
        fi
    done < <(awk -v re="$re" '/^20[0-9][0-9]-/ && $0 ~ re { print $1 }' "$S_LOG/haproxy.log")
    return 1
}

# PostgreSQL's "ready to accept connections" at or after SINCE_US (server.log
# lines start with "YYYY-MM-DD HH:MM:SS.mmm UTC").
pg_ready_after() {
    local since=$1 ts us
    while read -r ts; do
        us=$(date -d "$ts" +%s%6N)
        if ((us >= since)); then
            echo "$us"
            return 0
        fi
    done < <(awk '/database system is ready to accept connections/ { print $1 " " $2 " " $3 }' "$PG_DIR/server.log")
    return 1
}

analyze() { python3 "$ROOT/tests/drills/analyze.py" "$1" "$2"; }

# The version each instance reports (items_api_build_info in its /metrics),
# asked from the balancer's namespace at the instance's own address.
instance_version() {
    ip netns exec "$NS_LB" python3 - "http://$(instance_addr "$1"):$(instance_port "$1")/metrics" "$STACK_DIR/api-key" <<'PY'
import re, sys, urllib.request
key = open(sys.argv[2]).read().strip()
req = urllib.request.Request(sys.argv[1], headers={"Authorization": "Bearer " + key})
try:
    body = urllib.request.urlopen(req, timeout=5).read().decode()
    m = re.search(r'^items_api_build_info\{version="([^"]*)"', body, re.M)
    print(m.group(1) if m else "none")
except Exception as e:
    print("error:%s" % type(e).__name__)
PY
}

instance_versions() {
    local i n
    n=$(stack_instances)
    for ((i = 1; i <= n; i++)); do
        printf '%s ' "$(instance_version "$i")"
    done
}

instance_pids() {
    local i n
    n=$(stack_instances)
    for ((i = 1; i <= n; i++)); do
        printf '%s ' "$(cat "$S_RUN/app$i.pid")"
    done
}

# ------------------------------------------------------------------ drills

drill_roll() {
    local dir before after rel i n replaced=0 t0 rc=0 old new old_version new_version
    dir=$(new_drill roll)
    log "1. rolling update under load ($RATE req/s, ${PRE}s before, ${POST}s after)"
    # The new build: the same sources as the running release, another
    # version string (tests/drills/variant.mk), so the roll really changes
    # the bytes and every instance can say which build it runs.
    old_version=$("$STACK_DIR/current/items-api" version | awk '{ print $2 }')
    new_version=$old_version-drill$(date -u +%H%M%S)
    make -C "$ROOT" --no-print-directory -f Makefile -f tests/drills/variant.mk \
        VARIANT_DIR="$OUT/variant" VERSION="$new_version" drills-variant >"$dir/variant-build.log" 2>&1 || {
        cat "$dir/variant-build.log" >&2
        return 1
    }
    log "   rolling from version $old_version to $new_version ($OUT/variant/items-api)"
    ev "$dir" version_old "$old_version"
    ev "$dir" version_new "$new_version"
    ev "$dir" binaries_differ "$(cmp -s "$STACK_DIR/current/items-api" "$OUT/variant/items-api" && echo 0 || echo 1)"
    steady
    n=$(stack_instances)
    read -r -a before <<<"$(instance_pids)"
    ev "$dir" versions_before "$(instance_versions)"
    load_start "$dir"
    sleep "$PRE"
    t0=$(now_us)
    ev "$dir" roll_start_us "$t0"
    ITEMS_API_BIN=$OUT/variant/items-api "$ROOT/rehearsal/stack.sh" roll >"$dir/roll.log" 2>&1 || rc=$?
    sed 's/^/    /' "$dir/roll.log"
    ev "$dir" roll_rc "$rc"
    ev "$dir" roll_ms $((($(now_us) - t0) / 1000))
    sleep "$POST"
    load_stop "$dir"
    rel=$(readlink -f "$STACK_DIR/current")
    read -r -a after <<<"$(instance_pids)"
    for ((i = 0; i < n; i++)); do
        old=${before[i]} new=${after[i]:-}
        if [[ -n $new && $new != "$old" ]] && pid_alive "$new" &&
            [[ $(readlink -f "/proc/$new/exe") == "$rel/items-api" ]]; then
            replaced=$((replaced + 1))
        fi
    done
    ev "$dir" instances "$n"
    ev "$dir" replaced "$replaced"
    ev "$dir" versions_after "$(instance_versions)"
    check_writes "$dir"
    analyze roll "$dir"
}

drill_kill() {
    local dir victim=2 pid t_kill t_detect t_poll t_ready t_back new=
    dir=$(new_drill kill)
    log "2. kill -9 one instance under load"
    steady
    load_lb_settings
    ev "$dir" check_window_ms $(((LB_HEALTH_CHECK_UNHEALTHY_THRESHOLD * LB_HEALTH_CHECK_INTERVAL_SECONDS + LB_HEALTH_CHECK_TIMEOUT_SECONDS) * 1000))
    pid=$(cat "$S_RUN/app$victim.pid")
    load_start "$dir"
    sleep "$PRE"
    t_kill=${EPOCHREALTIME/[.,]/}
    kill -KILL "$pid"
    log "   killed app$victim (pid $pid)"
    # The balancer's view, polled; its own log has the exact moment.
    wait_until 60 0.01 eval "[[ \$(lb_server_status $victim) != UP ]]" || true
    t_poll=$(now_us)
    if t_detect=$(lb_log_time_after "$t_kill" "Server app/app$victim is DOWN"); then
        ev "$dir" detect_source "balancer log"
    else
        t_detect=$t_poll
        ev "$dir" detect_source "runtime API poll"
    fi
    # shellcheck disable=SC2317  # called through wait_until
    new_ready() {
        new=$(cat "$S_RUN/app$victim.pid" 2>/dev/null || true)
        [[ -n $new && $new != "$pid" ]] && pid_alive "$new" &&
            probe_url "$NS_LB" "http://$(instance_addr "$victim"):$(instance_port "$victim")/readyz"
    }
    wait_until 60 0.05 new_ready || true
    t_ready=$(now_us)
    if wait_until 90 0.1 eval "[[ \$(lb_server_status $victim) == UP ]]"; then
        ev "$dir" back 1
    else
        ev "$dir" back 0
    fi
    t_back=$(now_us)
    log "   detection $(((t_detect - t_kill) / 1000)) ms, new process ready $(((t_ready - t_kill) / 1000)) ms, back in rotation $(((t_back - t_kill) / 1000)) ms"
    sleep "$POST"
    load_stop "$dir"
    ev "$dir" victim "app$victim"
    ev "$dir" victim_pid "$pid"
    ev "$dir" new_pid "$new"
    ev "$dir" kill_us "$t_kill"
    ev "$dir" detect_us "$t_detect"
    ev "$dir" ready_us "$t_ready"
    ev "$dir" back_us "$t_back"
    # The balancer's log around the kill: state changes and failed requests.
    grep -E '^20[0-9][0-9]-' "$S_LOG/haproxy.log" | grep -v 'Health check' |
        awk -v t="$(date -u -d "@$((t_kill / 1000000))" +%Y-%m-%dT%H:%M:%S)" '$1 >= t' |
        grep -E 'app/app'"$victim"'|<NOSRV>' | head -n 20 | cut -c1-220 | sed 's/^/    balancer: /' || true
    check_writes "$dir"
    analyze kill "$dir"
}

drill_pg() {
    local dir mode t0 t_accept
    dir=$(new_drill pg)
    log "3. PostgreSQL restart -m fast and -m immediate under load"
    steady
    load_start "$dir"
    sleep "$PRE"
    for mode in fast immediate; do
        t0=$(now_us)
        pg_ctl_do restart -m "$mode" >"$dir/pg_ctl-$mode.log" 2>&1
        t_accept=$(pg_ready_after "$t0") || t_accept=$(now_us)
        log "   -m $mode: accepting connections again after $(((t_accept - t0) / 1000)) ms"
        # Give the service time to show its recovery, then note the window.
        sleep 4
        ev "$dir" "${mode}_begin_us" "$t0"
        ev "$dir" "${mode}_accept_us" "$t_accept"
        ev "$dir" "${mode}_end_us" "$(now_us)"
        sleep 2
    done
    sleep "$POST"
    load_stop "$dir"
    check_writes "$dir"
    analyze pg "$dir"
}

drill_partition() {
    local dir before after t_part t_heal n i ok=0 total=0 notup=0 restarts=0 p
    dir=$(new_drill partition)
    log "4. network partition instances <-> PostgreSQL for ${PARTITION_SECONDS}s (nftables drop), $PARTITION_CONNS connections"
    steady
    n=$(stack_instances)
    read -r -a before <<<"$(instance_pids)"
    load_start "$dir" "$PARTITION_CONNS"
    sleep "$PRE"
    # /healthz of every instance, as the balancer checks it, and the
    # balancer's own view, twice a second.
    (
        while :; do
            for ((i = 1; i <= n; i++)); do
                if probe_url "$NS_LB" "http://$(instance_addr "$i"):$(instance_port "$i")/healthz"; then
                    echo "healthz app$i ok"
                else
                    echo "healthz app$i FAIL $(now_us)"
                fi
            done
            # Only the instances in service: the balancer also holds
            # a disabled slot (MAINT) for every instance the group may
            # add up to its maximum.
            lb_servers_fields status | awk -v n="$n" 'substr($1, 4) + 0 <= n { print "lb " $0 }'
            sleep 0.5
        done
    ) >"$dir/probes.log" 2>&1 &
    BG+=($!)
    ip netns exec "$NS_VPC" nft -f - <<EOF
table inet partition {
    chain forward {
        type filter hook forward priority filter - 10; policy accept;
        iifname "r-app*" oifname "r-db*" drop
        iifname "r-db*" oifname "r-app*" drop
    }
}
EOF
    # The partition is in place once nft has returned (on a loaded machine
    # that can be a few hundred ms after it was started): the clock starts
    # there.
    t_part=$(now_us)
    log "   partition in place"
    sleep "$PARTITION_SECONDS"
    ip netns exec "$NS_VPC" nft delete table inet partition
    t_heal=$(now_us)
    log "   partition healed"
    sleep $((POST > 12 ? POST : 12))
    load_stop "$dir"
    p=${BG[-1]}
    kill -TERM "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
    unset 'BG[-1]'
    total=$(grep -c '^healthz' "$dir/probes.log" || true)
    ok=$(grep -c '^healthz .* ok$' "$dir/probes.log" || true)
    notup=$(grep '^lb ' "$dir/probes.log" | grep -vc ' UP$' || true)
    read -r -a after <<<"$(instance_pids)"
    for ((i = 0; i < n; i++)); do
        [[ ${after[i]:-} == "${before[i]}" ]] || restarts=$((restarts + 1))
    done
    ev "$dir" partition_us "$t_part"
    ev "$dir" heal_us "$t_heal"
    ev "$dir" bound_ms 7000
    ev "$dir" recovery_bound_ms 10000
    ev "$dir" healthz_ok "$ok"
    ev "$dir" healthz_total "$total"
    ev "$dir" lb_not_up "$notup"
    ev "$dir" restarts "$restarts"
    check_writes "$dir"
    analyze partition "$dir"
}

drill_slowloris() {
    local dir t0 t1 peak=0 cur verdict p
    dir=$(new_drill slowloris)
    log "5. slowloris through the balancer ($SLOW_CONNECTIONS connections, ${SLOW_SECONDS}s) while normal clients run"
    steady
    load_start "$dir"
    sleep "$PRE"
    t0=$(now_us)
    (cd "$dir" && exec ip netns exec "$NS_PUB" slowhttptest -H -c "$SLOW_CONNECTIONS" -r "$SLOW_CONNECTIONS" \
        -i 10 -x 24 -p 3 -l "$SLOW_SECONDS" -t GET -u "http://$IP_LB:$LB_PORT/healthz" \
        -g -o "$dir/slowhttptest") >"$dir/slowhttptest.log" 2>&1 &
    p=$!
    BG+=("$p")
    while kill -0 "$p" 2>/dev/null; do
        cur=$(hactl "show info" | awk -F': ' '$1 == "CurrConns" { print $2 }')
        ((${cur:-0} > peak)) && peak=$cur
        sleep 1
    done
    wait "$p" || true
    unset 'BG[-1]'
    t1=$(now_us)
    sleep "$POST"
    load_stop "$dir"
    verdict=$(grep -a 'service available' "$dir/slowhttptest.log" | tail -n 1 | sed 's/.*service available: *//; s/\x1b\[[0-9;]*m//g' || true)
    ev "$dir" attack_start_us "$t0"
    ev "$dir" attack_end_us "$t1"
    ev "$dir" slow_connections "$SLOW_CONNECTIONS"
    ev "$dir" slow_seconds "$SLOW_SECONDS"
    ev "$dir" lb_peak_conns "$peak"
    ev "$dir" slow_held "$(awk -F, 'NR > 1 && $4 > m { m = $4 } END { print m + 0 }' "$dir/slowhttptest.csv" 2>/dev/null || echo 0)"
    ev "$dir" slowhttptest_verdict "${verdict:-unknown}"
    check_writes "$dir"
    analyze slowloris "$dir"
}

# ------------------------------------------------------------------ zones and the database

# The balancer's servers in service, twice a second, for the timelines:
# "<epoch us> <servers UP>" lines in DIR/lb-samples.txt. Stopped by
# sampler_stop (or the drill's cleanup).
sampler_start() {
    local dir=$1
    (
        while :; do
            printf '%s %s\n' "$(now_us)" "$(lb_servers_fields status 2>/dev/null | awk '$2 == "UP" { n++ } END { print n + 0 }')"
            sleep 0.5
        done
    ) >"$dir/lb-samples.txt" 2>/dev/null &
    BG+=($!)
}

sampler_stop() {
    local p=${BG[-1]}
    kill -TERM "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
    unset 'BG[-1]'
}

# The database's role changes during the drill (db/events.log), for the
# timeline and the report.
db_events_since() {
    awk -v t="$2" '$1 >= t' "$STACK_DIR/db/events.log" >"$1/db-events.txt"
}

# KEY=VALUE lines of a file the stack wrote, into the drill's events with
# a prefix: ev_file DIR FILE PREFIX
ev_file() {
    local k v
    while IFS='=' read -r k v; do
        [[ -n $k ]] && ev "$1" "$3$k" "$v"
    done <"$2"
}

# The drill's timeline (tests/drills/timeline.py): $OUT/timeline-NAME.svg,
# and docs/img/drill-NAME.svg too when DRILLS_IMG_DIR names docs/img.
timeline() {
    local dir=$1 name=$2 title=$3
    python3 "$ROOT/tests/drills/timeline.py" "$dir" "$OUT/timeline-$name.svg" "$title" >/dev/null 2>"$dir/timeline.err" || {
        log "   (timeline of $name not rendered: $(tail -n 1 "$dir/timeline.err"))"
        return 0
    }
    if [[ -n ${DRILLS_IMG_DIR:-} ]]; then
        cp "$OUT/timeline-$name.svg" "$DRILLS_IMG_DIR/drill-$name.svg"
    fi
}

# The database has a synchronous standby (rebuilt outside the load phase
# if an earlier drill left the primary alone).
ensure_protected() {
    if [[ -z $(cat "$STACK_DIR/db/standby" 2>/dev/null) ]]; then
        log "   (preparation: rebuilding the standby, make stack-failback)"
        "$ROOT/rehearsal/stack.sh" failback >"$1/prepare-failback.log" 2>&1 || {
            cat "$1/prepare-failback.log" >&2
            return 1
        }
    fi
}

restarts_since() {
    local -n before_=$1
    local i n r=0
    read -r -a now_ <<<"$(instance_pids)"
    n=${#before_[@]}
    for ((i = 0; i < n; i++)); do
        [[ ${now_[i]:-} == "${before_[i]}" ]] || r=$((r + 1))
    done
    echo "$r"
}

# One failover under load, figures into DIR with PREFIX.
failover_under_load() {
    local dir=$1 rc=0
    "$ROOT/rehearsal/stack.sh" failover >"$dir/failover.log" 2>&1 || rc=$?
    sed 's/^/    /' "$dir/failover.log"
    ev "$dir" failover_rc "$rc"
    ((rc == 0)) || return 0
    ev_file "$dir" "$STACK_DIR/db/last-failover.env" ""
    dns_queries "$dir"
}

# The instances' queries for the database's name after it moved
# (dnsmasq's query log): libpq resolves the name at every new connection,
# so each instance's reconnects show up here with the new address.
dns_queries() {
    local dir=$1 from
    from=$(sed -n 's/^dns_log_lines=//p' "$STACK_DIR/db/last-failover.env")
    ev "$dir" dns_queries_after_move "$(tail -n +"$((from + 1))" "$S_LOG/dnsmasq.log" |
        grep -c "query\[A\] $DB_HOST from 10\.0\.1[01]\.10" || true)"
}

drill_failover() {
    local dir before t0
    dir=$(new_drill failover)
    log "6. database failover under load: the primary's host dies (SIGKILL), the standby in the other zone is promoted, $DB_HOST moves"
    ensure_protected "$dir"
    steady
    read -r -a before <<<"$(instance_pids)"
    t0=$(now_us)
    sampler_start "$dir"
    load_start "$dir"
    sleep "$PRE"
    failover_under_load "$dir"
    sleep "$POST"
    load_stop "$dir"
    sampler_stop
    db_events_since "$dir" "$t0"
    ev "$dir" restarts "$(restarts_since before)"
    check_writes "$dir"
    timeline "$dir" failover "Drill 6: database failover under $RATE req/s ($MODE)"
    analyze failover "$dir"
}

drill_failback() {
    local dir before t0 t1 t2 rc=0
    dir=$(new_drill failback)
    log "7. failback under load: a new synchronous standby from a fresh base backup, then a second failover"
    if [[ -n $(cat "$STACK_DIR/db/standby" 2>/dev/null) ]]; then
        log "   (preparation: a failover first, so that there is something to fail back)"
        "$ROOT/rehearsal/stack.sh" failover >"$dir/prepare-failover.log" 2>&1 || {
            cat "$dir/prepare-failover.log" >&2
            return 1
        }
    fi
    steady
    read -r -a before <<<"$(instance_pids)"
    t0=$(now_us)
    sampler_start "$dir"
    load_start "$dir"
    sleep "$PRE"
    t1=$(now_us)
    "$ROOT/rehearsal/stack.sh" failback >"$dir/failback.log" 2>&1 || rc=$?
    t2=$(now_us)
    sed 's/^/    /' "$dir/failback.log"
    ev "$dir" failback_rc "$rc"
    ev "$dir" failback_start_us "$t1"
    ev "$dir" failback_end_us "$t2"
    ev_file "$dir" "$STACK_DIR/db/last-rebuild.env" ""
    sleep "$PRE"
    failover_under_load "$dir"
    sleep "$POST"
    load_stop "$dir"
    sampler_stop
    db_events_since "$dir" "$t0"
    ev "$dir" restarts "$(restarts_since before)"
    check_writes "$dir"
    timeline "$dir" failback "Drill 7: failback (new standby) then a second failover under $RATE req/s ($MODE)"
    analyze failback "$dir"
}

# One zone lost under load, then restored (outside the load phase) unless
# RESTORE is 0: azloss_one ZONE [RESTORE]
azloss_one() {
    local z=$1 restore=${2:-1} dir before t0 rc=0 i n survivors=() kind
    dir=$(new_drill "azloss-$z")
    ensure_protected "$dir"
    kind=standby
    [[ $(cat "$STACK_DIR/db/primary") != "$z" ]] || kind=primary
    steady
    n=$(stack_instances)
    read -r -a before <<<"$(instance_pids)"
    for ((i = 1; i <= n; i++)); do
        [[ $(instance_zone "$i") == "$z" ]] || survivors+=("$i:${before[i - 1]}")
    done
    log "   zone $z: instances $(for ((i = 1; i <= n; i++)); do [[ $(instance_zone "$i") == "$z" ]] && printf 'app%s ' "$i"; done)and the database $(if [[ $(cat "$STACK_DIR/db/primary") == "$z" ]]; then echo primary; else echo standby; fi)"
    load_lb_settings
    ev "$dir" check_window_ms $(((LB_HEALTH_CHECK_UNHEALTHY_THRESHOLD * LB_HEALTH_CHECK_INTERVAL_SECONDS + LB_HEALTH_CHECK_TIMEOUT_SECONDS) * 1000))
    ev "$dir" rise_window_ms $(((LB_HEALTH_CHECK_INTERVAL_SECONDS * (LB_HEALTH_CHECK_HEALTHY_THRESHOLD + 1) + LB_HEALTH_CHECK_TIMEOUT_SECONDS) * 1000))
    t0=$(now_us)
    sampler_start "$dir"
    load_start "$dir"
    sleep "$PRE"
    rm -f "$STACK_DIR/db/last-failover.env"
    "$ROOT/rehearsal/stack.sh" az-loss "$z" >"$dir/az-loss.log" 2>&1 || rc=$?
    sed 's/^/    /' "$dir/az-loss.log"
    ev "$dir" azloss_rc "$rc"
    ((rc != 0)) || ev_file "$dir" "$STACK_DIR/db/last-azloss.env" ""
    if [[ -f $STACK_DIR/db/last-failover.env ]]; then
        ev_file "$dir" "$STACK_DIR/db/last-failover.env" ""
        dns_queries "$dir"
    fi
    sleep "$POST"
    load_stop "$dir"
    sampler_stop
    db_events_since "$dir" "$t0"
    local restarted=0 s
    for s in "${survivors[@]}"; do
        [[ $(cat "$S_RUN/app${s%%:*}.pid") == "${s#*:}" ]] || restarted=$((restarted + 1))
    done
    ev "$dir" survivors "${#survivors[@]}"
    ev "$dir" restarts "$restarted"
    check_writes "$dir"
    rc=0
    if [[ $kind == primary ]]; then
        timeline "$dir" azloss "Drill 8: loss of zone $z (instances + database primary) under $RATE req/s ($MODE)"
    else
        timeline "$dir" azloss-standby "Drill 8: loss of zone $z (instances + database standby) under $RATE req/s ($MODE)"
    fi
    analyze azloss "$dir" || rc=1
    ((restore)) || return "$rc"
    "$ROOT/rehearsal/stack.sh" az-restore "$z" >"$dir/az-restore.log" 2>&1 || {
        cat "$dir/az-restore.log" >&2
        return 1
    }
    log "   zone $z restored: $(tail -n 1 "$dir/az-restore.log" | sed 's/.*stack: //')"
    return "$rc"
}

drill_azloss() {
    local first rc=0 last=1
    [[ ${DRILLS[-1]} == azloss ]] || last=0
    if [[ $MODE == ci ]]; then
        # CI: the primary's zone only (instances and a failover at once),
        # and no restore when nothing follows (the stack is torn down).
        log "8. loss of a whole Availability Zone under load: the primary's"
        azloss_one "$(cat "$STACK_DIR/db/primary")" $((!last))
        return
    fi
    log "8. loss of a whole Availability Zone under load: the standby's zone, then the primary's"
    # The standby's zone first (the primary keeps running, unprotected),
    # then, after the restore, the primary's (a failover as well).
    first=$(other_zone "$(cat "$STACK_DIR/db/primary")")
    azloss_one "$first" || rc=1
    azloss_one "$(other_zone "$first")" || rc=1
    return "$rc"
}

# shellcheck source=tests/drills/scale.sh
source "$ROOT/tests/drills/scale.sh"
# shellcheck source=tests/drills/releases.sh
source "$ROOT/tests/drills/releases.sh"

# ------------------------------------------------------------------ main

(($(id -u) == 0)) || {
    echo "drills: need root (network namespaces, nftables)" >&2
    exit 1
}
command -v slowhttptest >/dev/null || {
    echo "drills: slowhttptest missing (tools/deps.sh stack)" >&2
    exit 1
}
mkdir -p "$OUT"
# One drills run at a time on this machine (same stack name, same output
# directory, and two would skew each other's figures).
exec 9>"$OUT/.lock"
if ! flock -n 9; then
    log "another drills run holds $OUT/.lock: waiting for it"
    flock -w 1800 9 || {
        echo "drills: gave up waiting for $OUT/.lock" >&2
        exit 1
    }
fi
if [[ ! -x $LOADGEN || $ROOT/tests/drills/loadgen.c -nt $LOADGEN ]]; then
    gcc -std=c17 -O2 -Wall -Wextra -Werror -o "$LOADGEN" "$ROOT/tests/drills/loadgen.c"
fi
rm -f "$OUT/results.jsonl" "$OUT/results.md"
start=$(date +%s)
log "mode $MODE: ${PRE}s of load before and ${POST}s after each fault, $RATE req/s, $CONNS connections, $WRITE_PCT% writes"
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
if [[ -d $STACK_DIR ]]; then
    log "a previous drills stack exists: tearing it down"
    "$ROOT/rehearsal/stack.sh" down >/dev/null 2>&1 || true
fi
"$ROOT/rehearsal/stack.sh" up >"$OUT/stack-up.log" 2>&1 9>&- || {
    cat "$OUT/stack-up.log"
    exit 1
}
log "stack up: $(cat "$STACK_DIR/url-public") (and $(cat "$STACK_DIR/url")), runtime $(cat "$STACK_DIR/runtime")"
stack_paths
# shellcheck source=/dev/null
source "$S_SECRETS/pg.env"
# shellcheck source=lib/pg.sh
source "$ROOT/lib/pg.sh"

failed=()
for d in "${DRILLS[@]}"; do
    t=$(date +%s)
    set +e
    (
        set -e
        trap drill_cleanup EXIT
        "drill_$d"
    )
    rc=$?
    set -e
    if ((rc == 0)); then
        log "drill $d: PASS ($(($(date +%s) - t)) s)"
    else
        log "drill $d: FAIL ($(($(date +%s) - t)) s)"
        failed+=("$d")
    fi
done
python3 "$ROOT/tests/drills/analyze.py" --report "$OUT/results.jsonl" "$OUT/results.md" || true
log "figures in $OUT/results.md, the stack's logs in $OUT/stack-logs"
rm -rf "$OUT/stack-logs"
cp -r "$S_LOG" "$OUT/stack-logs"
log "total $(($(date +%s) - start)) s"
if ((${#failed[@]})); then
    log "FAILED: ${failed[*]}"
    exit 1
fi
log "all drills passed"
