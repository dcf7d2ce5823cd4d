# shellcheck shell=bash
# Drills 10 and 11 of tests/drills/run.sh (sourced by it; it defines, never
# runs): bad releases rolled out under load, which the roll must stop at the
# first instance and roll back (rehearsal/roll.sh), with the previous
# release on every instance after and `current` unchanged.
#
#   badready   a release that is never ready (rehearsal/bad-release.sh
#              never-ready): 0 non-2xx, 0 connection errors (the balancer
#              never sends it a request); `make stack-status` polled during
#              the roll, while the bad release crash-loops, prints no error.
#   bad5xx     a release that answers its health checks but fails every /v1
#              request (bad-release.sh no-privileges): the deploy guard
#              (infrastructure/deploy-guard.json, periods compressed by
#              STACK_TIME_FACTOR) stops the roll; the clients' errors are
#              bounded by the first instance's share of the traffic while it
#              served.
#
# Each bad release wraps a build of the same sources with another version
# string (tests/drills/variant.mk), so every instance can say whether it
# runs the bad build. Uses run.sh's helpers (ev, load_start, steady, ...).

# A readiness timeout per mode: the roll's own time for a release to become
# ready (STACK_READY_TIMEOUT, default 60 s). CI uses 10 s: this service is
# ready within 2 s of its start even on the busy CI machine (drill 1's
# "started+ready"), and every second here is a second of CI.
case $MODE in
ci) BAD_READY_TIMEOUT=${DRILLS_READY_TIMEOUT:-10} ;;
*) BAD_READY_TIMEOUT=${DRILLS_READY_TIMEOUT:-60} ;;
esac

# bad_release_bin NAME KIND: build the variant, wrap it as a bad release of
# KIND, print the wrapper's path (for ITEMS_API_BIN).
bad_release_bin() {
    local name=$1 kind=$2 dir=$OUT/variant-$1 version
    version=$("$STACK_DIR/current/items-api" version | awk '{ print $2 }')-$name
    make -C "$ROOT" --no-print-directory -f Makefile -f tests/drills/variant.mk \
        VARIANT_DIR="$dir" VERSION="$version" drills-variant >"$OUT/$name/variant-build.log" 2>&1 || {
        cat "$OUT/$name/variant-build.log" >&2
        return 1
    }
    ev "$OUT/$name" version_bad "$version"
    "$ROOT/rehearsal/bad-release.sh" "$kind" "$dir/items-api"
}

# `stack.sh status` twice a second (stdout and stderr apart), for the
# regression of its "dirname: invalid option" error on an instance with no
# process.
status_poller_start() {
    local dir=$1
    (
        while :; do
            echo "--- $(now_us)"
            "$ROOT/rehearsal/stack.sh" status 2>>"$dir/status-errors.txt" || true
            sleep 0.5
        done
    ) >"$dir/status-during.txt" 2>&1 &
    BG+=($!)
}

# The facts both drills check after the roll: figures into DIR's events.
after_bad_roll() {
    local dir=$1 current_before=$2 t0=$3 i n up=0 rels=()
    n=$(stack_instances)
    for ((i = 1; i <= n; i++)); do
        [[ $(lb_server_status "$i") == UP ]] && up=$((up + 1))
        rels+=("$(cat "$S_RUN/app$i.release")")
    done
    ev "$dir" instances "$n"
    ev "$dir" instances_up "$up"
    ev "$dir" releases_after "${rels[*]}"
    ev "$dir" current_before "$current_before"
    ev "$dir" current_after "$(basename "$(readlink -f "$STACK_DIR/current")")"
    ev "$dir" pinned_after "$(find "$STACK_DIR/instances" -name 'app*.release' | wc -l)"
    ev "$dir" versions_after "$(instance_versions)"
    awk -v t="$t0" '$1 >= t && $2 != "guard-period"' "$STACK_DIR/roll-events.log" >"$dir/release-events.txt"
    # The roll's events, as KEY_us=time (the first of each).
    awk -v t="$t0" '$1 >= t { k = $2; gsub(/-/, "_", k); if (k == "roll_start") k = "roll_began"; if (!(k in seen)) { seen[k] = 1; print k "_us=" $1 } }' \
        "$STACK_DIR/roll-events.log" >>"$dir/events.env"
    "$ROOT/rehearsal/stack.sh" status >"$dir/status-after.txt" 2>"$dir/status-after.err" || true
    ev "$dir" status_after_errors "$(wc -l <"$dir/status-after.err")"
}

# One bad roll under load: bad_roll DIR BIN [ENV...]
bad_roll() {
    local dir=$1 bin=$2 current t0 rc=0
    shift 2
    steady
    current=$(basename "$(readlink -f "$STACK_DIR/current")")
    ev "$dir" versions_before "$(instance_versions)"
    ev "$dir" bad_release_bin "$bin"
    sampler_start "$dir"
    load_start "$dir"
    sleep "$PRE"
    t0=$(now_us)
    ev "$dir" roll_start_us "$t0"
    env "$@" ITEMS_API_BIN="$bin" "$ROOT/rehearsal/stack.sh" roll >"$dir/roll.log" 2>&1 || rc=$?
    sed 's/^/    /' "$dir/roll.log"
    ev "$dir" roll_rc "$rc"
    ev "$dir" roll_ms $((($(now_us) - t0) / 1000))
    ev "$dir" roll_names_app1 "$(grep -c 'stopped at app1' "$dir/roll.log" || true)"
    sleep "$POST"
    load_stop "$dir"
    sampler_stop
    after_bad_roll "$dir" "$current" "$t0"
    check_writes "$dir"
}

drill_badready() {
    local dir bin
    dir=$(new_drill badready)
    log "10. a release that is never ready (cannot reach its database), rolled under load"
    bin=$(bad_release_bin badready never-ready)
    load_lb_settings
    ev "$dir" ready_timeout_s "$BAD_READY_TIMEOUT"
    # The roll's own time: the sum of the limits it waits under
    # (rehearsal/roll.sh), for the bad instance and then its rollback: each
    # a deregistration (the delay), a stop (delay + shutdown timeout + 10 s)
    # and a start (the readiness timeout); then the healthy threshold of
    # checks (interval x (threshold + 1) + timeout + 5 s) and the UP wait
    # (5 s). On a loaded machine the steps take longer than on an idle one,
    # never longer than these.
    local stop_s=$((LB_DEREGISTRATION_DELAY_SECONDS + LB_SHUTDOWN_TIMEOUT_SECONDS + 10))
    ev "$dir" roll_bound_ms $(((2 * (LB_DEREGISTRATION_DELAY_SECONDS + stop_s + BAD_READY_TIMEOUT) + LB_HEALTH_CHECK_INTERVAL_SECONDS * (LB_HEALTH_CHECK_HEALTHY_THRESHOLD + 1) + LB_HEALTH_CHECK_TIMEOUT_SECONDS + 10) * 1000))
    status_poller_start "$dir"
    bad_roll "$dir" "$bin" STACK_READY_TIMEOUT="$BAD_READY_TIMEOUT"
    local p=${BG[-1]}
    kill -TERM "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
    unset 'BG[-1]'
    ev "$dir" ready_reason "$(grep -c 'not ready within' "$dir/roll.log" || true)"
    ev "$dir" status_samples "$(grep -c '^---' "$dir/status-during.txt" || true)"
    ev "$dir" status_errors "$(wc -l <"$dir/status-errors.txt" 2>/dev/null || echo 0)"
    ev "$dir" status_bad_on_app1 "$(grep -c '^  app1 .*release [^ ]* (pinned' "$dir/status-during.txt" || true)"
    ev "$dir" status_app1_no_process "$(grep -c '^  app1 .*(not running)' "$dir/status-during.txt" || true)"
    timeline "$dir" badready "Drill 10: a release that is never ready, rolled under $RATE req/s ($MODE)"
    analyze badready "$dir"
}

drill_bad5xx() {
    local dir bin
    dir=$(new_drill bad5xx)
    log "11. a release that passes its health checks but fails every /v1 request, rolled under load"
    bin=$(bad_release_bin bad5xx no-privileges)
    load_deploy_guard
    ev "$dir" time_factor "$STACK_TIME_FACTOR"
    ev "$dir" guard_period_ms "$GUARD_PERIOD_MS"
    ev "$dir" guard_period_s "$GUARD_PERIOD_SECONDS"
    ev "$dir" guard_threshold "$GUARD_THRESHOLD"
    ev "$dir" guard_periods "$GUARD_EVALUATION_PERIODS"
    ev "$dir" guard_datapoints "$GUARD_DATAPOINTS_TO_ALARM"
    bad_roll "$dir" "$bin" STACK_READY_TIMEOUT="$BAD_READY_TIMEOUT"
    ev "$dir" guard_reason "$(grep -c 'deploy guard tripped on app1' "$dir/roll.log" || true)"
    timeline "$dir" bad5xx "Drill 11: a release that fails real requests, rolled under $RATE req/s ($MODE)"
    analyze bad5xx "$dir"
}
