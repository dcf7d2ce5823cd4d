# shellcheck shell=bash
# Drill 9, sourced by tests/drills/run.sh (it uses run.sh's helpers): the
# stack scales like the Auto Scaling group. The scaler (rehearsal/scaler.py,
# target tracking from infrastructure/capacity-model.json, time compressed
# by STACK_TIME_FACTOR) runs while the generator sends a ramp through the
# balancer, in units of the rehearsal's requests-per-target target T (per
# second) and of the instances at the start, N:
#
#   low 0.5 x N x T (3 periods), 0.9 x N x T (2 periods: just below target),
#   high 1.3 x N x T until a scale-out has put an instance in service
#     (target tracking wants ceil(1.3 N); for N = 3 that is 4 instances, at
#     which each target sees 0.975 T: no second scale-out, no scale-in),
#   [full form only] max x T until the group has scaled out again (to max),
#   low 0.5 x min x T until the group is back at its minimum
#
# The generator moves to the next step when the drill sees the scaling it
# waits for (SIGUSR1), so the drill lasts as long as AWS's alarm periods
# (compressed) plus real launches and drains take. Afterwards, outside the
# load, the group goes back to N instances for the drills that follow.

# The scaler's numbers (scaler.py --params) as SC_<KEY> variables.
scale_params() {
    local k v
    while IFS='=' read -r k v; do
        [[ -n $k ]] && declare -g "SC_${k^^}=$v"
    done <"$1"
}

# Lines of the scaler's event log matching EVENT, written after SINCE_US.
scale_events_since() {
    awk -v t="$1" -v e="$2" '$1 >= t && $2 == e' "$STACK_DIR/scaler/events.log" 2>/dev/null | wc -l
}

# wait_until's condition: at least N EVENT lines since SINCE_US.
scale_seen() { (($(scale_events_since "$1" "$2") >= $3)); }

# The scaling activity's bound, for the waits (not for the checks): the
# alarm's datapoints plus a launch (readiness 60 s, then the healthy
# threshold of checks) or a drain (deregistration delay + the service's
# drain + shutdown), with a minute's slack for a loaded machine.
scale_wait_s() {
    local datapoints=$1
    awk -v n="$datapoints" -v p="$SC_PERIOD_S" -v extra=$((60 + LB_HEALTH_CHECK_INTERVAL_SECONDS * (LB_HEALTH_CHECK_HEALTHY_THRESHOLD + 1) + LB_DEREGISTRATION_DELAY_SECONDS * 2 + LB_SHUTDOWN_TIMEOUT_SECONDS + 60)) \
        'BEGIN { printf "%d", (n + 3) * p + extra }'
}

drill_scale() {
    local dir factor n0 t0 sched rates lg_pid t_next phase_p rc=0
    dir=$(new_drill scale)
    if [[ $MODE == ci ]]; then
        factor=${STACK_TIME_FACTOR:-$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["rehearsal"]["time_factor_ci"])' "$ROOT/infrastructure/capacity-model.json")}
    else
        factor=${STACK_TIME_FACTOR:-$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["rehearsal"]["time_factor"])' "$ROOT/infrastructure/capacity-model.json")}
    fi
    export STACK_TIME_FACTOR=$factor
    STACK_DIR=$STACK_DIR python3 "$ROOT/rehearsal/scaler.py" --params >"$dir/params.env"
    scale_params "$dir/params.env"
    ev_file "$dir" "$dir/params.env" "param_"
    load_lb_settings
    ev "$dir" rise_window_ms $(((LB_HEALTH_CHECK_INTERVAL_SECONDS * (LB_HEALTH_CHECK_HEALTHY_THRESHOLD + 1) + LB_HEALTH_CHECK_TIMEOUT_SECONDS) * 1000))
    steady
    n0=$(stack_instances)
    # The schedule: rates from T and N, step lengths in metric periods (the
    # long steps are cut short by SIGUSR1).
    rates=$(awk -v t="$SC_REQUESTS_TARGET_PER_MIN" -v n="$n0" -v min="$SC_MIN" -v max="$SC_MAX" -v p="$SC_PERIOD_S" -v full="$([[ $MODE == full ]] && echo 1 || echo 0)" 'BEGIN {
        r = t / 60
        s = sprintf("%.2f:%.1f,%.2f:%.1f,%.2f:900", 0.5 * n * r, 3 * p, 0.9 * n * r, 2 * p, 1.3 * n * r)
        if (full) s = s sprintf(",%.2f:900", max * r)
        print s sprintf(",%.2f:1800", 0.5 * min * r)
    }')
    sched=$rates
    phase_p=$(awk -v p="$SC_PERIOD_S" 'BEGIN { printf "%.1f", 2 * p }')
    log "9. scaling under a load ramp: target tracking from capacity-model.json, time x$factor (a metric period is ${SC_PERIOD_S}s)"
    log "   target $SC_REQUESTS_TARGET_PER_MIN requests per target per minute (AWS $SC_AWS_REQUESTS_TARGET_PER_MIN x $SC_FRACTION_OF_AWS_INSTANCE / $SC_RATE_FACTOR), CPU $SC_CPU_TARGET_PCT % of $SC_ENTITLED_CORES cores; $n0 instances, min $SC_MIN, max $SC_MAX"
    log "   load schedule (req/s:seconds): $sched"
    ev "$dir" instances_start "$n0"
    ev "$dir" schedule "$sched"
    t0=$(now_us)
    ev "$dir" drill_start_us "$t0"
    sampler_start "$dir"
    "$ROOT/rehearsal/stack.sh" scaler start >"$dir/scaler-start.log" 2>&1
    ip netns exec "$NS_PUB" "$LOADGEN" -a "$IP_LB" -p "$LB_PORT" -k "$STACK_DIR/api-key" \
        -s "$sched" -c "$CONNS" -w "$WRITE_PCT" -t 30 -o "$dir" -v >"$dir/loadgen.log" 2>&1 &
    LOADGEN_PID=$!
    lg_pid=$LOADGEN_PID
    # High: until an instance launched for it is in service, then two more
    # periods to show the new capacity.
    if wait_until "$(scale_wait_s "$SC_OUT_DATAPOINTS")" 0.2 scale_seen "$t0" scale-out-done 1; then
        log "   scaled out: $(stack_instances) instances"
    else
        log "   no scale-out within $(scale_wait_s "$SC_OUT_DATAPOINTS") s"
        rc=1
    fi
    sleep "$phase_p"
    if [[ $MODE == full ]] && ((rc == 0)); then
        kill -USR1 "$lg_pid"
        ev "$dir" top_us "$(now_us)"
        if wait_until "$(scale_wait_s "$SC_OUT_DATAPOINTS")" 0.2 scale_seen "$t0" scale-out-done 2; then
            log "   scaled out again: $(stack_instances) instances"
        else
            log "   no second scale-out"
        fi
        sleep "$phase_p"
    fi
    kill -USR1 "$lg_pid"
    t_next=$(now_us)
    ev "$dir" down_us "$t_next"
    log "   load down to the low rate: the group should come back to its minimum ($SC_MIN)"
    # shellcheck disable=SC2317  # called through wait_until
    at_min() { scale_seen "$t_next" scale-in-done 1 && (($(stack_instances) == SC_MIN)); }
    if wait_until "$(scale_wait_s "$SC_IN_DATAPOINTS")" 0.2 at_min; then
        log "   scaled in: $(stack_instances) instances"
    else
        log "   not back at the minimum within $(scale_wait_s "$SC_IN_DATAPOINTS") s ($(stack_instances) instances)"
    fi
    sleep "$phase_p"
    load_stop "$dir"
    "$ROOT/rehearsal/stack.sh" scaler stop >>"$dir/scaler-start.log" 2>&1
    sampler_stop
    ev "$dir" instances_end "$(stack_instances)"
    awk -v t="$t0" '$1 >= t' "$STACK_DIR/scaler/events.log" >"$dir/scaler-events.txt"
    awk -v t="$t0" '$1 >= t' "$STACK_DIR/scaler/datapoints.log" >"$dir/scaler-datapoints.txt"
    # The scaling events as the timeline draws them ("<us> <event> <arg>").
    awk '$2 ~ /^scale-(out|in)-start$/ { for (i = 3; i <= NF; i++) if ($i ~ /^desired=/) print $1, $2, substr($i, 9) }
         $2 == "launched" { for (i = 3; i <= NF; i++) { if ($i ~ /^instance=/) n = substr($i, 10); if ($i ~ /^in_service_us=/) u = substr($i, 15) } print u, "in-service", "app" n }
         $2 == "removed" { for (i = 3; i <= NF; i++) { if ($i ~ /^instance=/) n = substr($i, 10); if ($i ~ /^terminated_us=/) u = substr($i, 15) } print u, "terminated", "app" n }' \
        "$dir/scaler-events.txt" | sort -n >"$dir/scale-events.txt"
    check_writes "$dir"
    timeline "$dir" scale "Drill 9: scaling under a load ramp ($MODE, time x$factor)"
    analyze scale "$dir" || rc=1
    # Back to the drills' usual capacity, outside the load.
    local n
    n=$(stack_instances)
    if ((n < n0)); then
        "$ROOT/rehearsal/stack.sh" scale-out $((n0 - n)) >"$dir/restore.log" 2>&1 || rc=1
    elif ((n > n0)); then
        "$ROOT/rehearsal/stack.sh" scale-in $((n - n0)) >"$dir/restore.log" 2>&1 || rc=1
    fi
    log "   (the group back at $(stack_instances) instances for the drills that follow)"
    return "$rc"
}
