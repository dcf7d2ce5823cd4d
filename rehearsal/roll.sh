# shellcheck shell=bash
# The rolling update of rehearsal/stack.sh (sourced by it; it defines, never
# runs): an Auto Scaling group's instance refresh, with its automatic
# rollback.
#
# One instance at a time: deregister (drain) -> stop -> start the new
# release -> ready -> the balancer's healthy threshold of checks -> in
# service. The roll pins each instance it replaces to the new release
# (instances/appN.release, read by supervise.sh); `current` moves to the new
# release only when every instance runs it. So a bad release never becomes
# what a later restart starts, as a failed refresh leaves the group's
# launch template where it was.
#
# A roll stops and rolls back (every instance it touched is replaced again
# by the previous release, `current` unchanged, exit 1 with the instance and
# the reason) when
#   - the new release is not ready within STACK_READY_TIMEOUT seconds
#     (default 60): it cannot reach its database, its migration fails, it
#     crashes; the balancer never sends it a request;
#   - the deploy guard trips during the first instance's bake: the numbers
#     of the CloudWatch alarm that stops an instance refresh
#     (infrastructure/deploy-guard.json: more than `threshold` 5xx in
#     `datapoints_to_alarm` of `evaluation_periods` periods), counted on the
#     instance's own 5xx answers at the balancer (HAProxy's per-server
#     hrsp_5xx, the ALB's per-target HTTPCode_Target_5XX_Count), each period
#     compressed by STACK_TIME_FACTOR (lib.sh). A release that answers
#     /healthz but fails real requests is caught here.
# Events go to roll-events.log ("<epoch us> <event> <instance|->") for the
# drills' timelines; figures to roll.log.

roll_event() { printf '%s %s %s\n' "$(now_us)" "$1" "${2:--}" >>"$STACK_DIR/roll-events.log"; }

# Why a roll stops: kept in a file, as roll_one runs in a subshell (a
# stack_die there ends the subshell, and cmd_roll rolls back).
roll_fail() {
    printf '%s\n' "$*" >"$S_RUN/roll.failure"
    stack_die "$*"
}

# The release an instance's supervisor last started (supervise.sh).
instance_release() { cat "$S_RUN/app$1.release" 2>/dev/null || echo -; }

pin_instance() {
    ln -sfn "$S_RELEASES/$2" "$STACK_DIR/instances/app$1.release.tmp"
    mv -Tf "$STACK_DIR/instances/app$1.release.tmp" "$STACK_DIR/instances/app$1.release"
}
unpin_instances() { rm -f "$STACK_DIR"/instances/app*.release; }

# The instance's last words, for a roll's error message: the last distinct
# lines of its log (JSON lines: level, message, error), one line each.
instance_last_words() {
    tail -n 50 "$S_LOG/app$1.log" 2>/dev/null | python3 -c '
import json, sys
out = []
for line in sys.stdin:
    try:
        j = json.loads(line)
        text = " ".join(str(j[k]) for k in ("level", "message", "error") if k in j)
    except ValueError:
        text = line
    text = " ".join(text.split())[:240]
    if text and text not in out[-1:]:
        out.append(text)
for text in out[-3:]:
    print("  " + text)
'
}

# Balancer registration is stack.sh's (deregister_target, register_target);
# the roll adds its timeline events, from the moment a target is in rotation
# (the drills' timelines and bounds start there), and its failure record.
roll_in_service() { roll_event in-service "app$1"; }
roll_rolled_back() { roll_event rolled-back "app$1"; }

# roll_one N RELEASE: replace instance N's process by RELEASE.
roll_one() {
    local i=$1 rel=$2 port old new t0 t_drained t_stopped t_started t_up ready_timeout=${STACK_READY_TIMEOUT:-60}
    port=$(instance_port "$i")
    t0=$(date +%s%3N)
    roll_event out "app$i"
    deregister_target "$i"
    t_drained=$(date +%s%3N)

    pin_instance "$i" "$rel"
    old=$(cat "$S_RUN/app$i.pid")
    kill -TERM "$old"
    wait_until $((LB_DEREGISTRATION_DELAY_SECONDS + LB_SHUTDOWN_TIMEOUT_SECONDS + 10)) 0.05 \
        eval "! pid_alive $old" || roll_fail "app$i (pid $old) did not exit after SIGTERM"
    t_stopped=$(date +%s%3N)

    # shellcheck disable=SC2317  # called through wait_until
    new_started() {
        new=$(cat "$S_RUN/app$i.pid" 2>/dev/null || true)
        [[ -n $new && $new != "$old" ]] && pid_alive "$new" && instance_ready "$i"
    }
    if ! wait_until "$ready_timeout" 0.05 new_started; then
        roll_fail "app$i: release $rel not ready within ${ready_timeout}s (STACK_READY_TIMEOUT); its last log lines:
$(instance_last_words "$i")"
    fi
    t_started=$(date +%s%3N)
    [[ $(instance_release "$i") == "$rel" ]] || roll_fail "app$i runs release $(instance_release "$i"), not $rel"

    register_target "$i" roll_in_service roll_fail
    t_up=$(date +%s%3N)
    stack_log "app$i: pid $old -> $new (port $port): drained $((t_drained - t0))ms, stopped $((t_stopped - t_drained))ms, started+ready $((t_started - t_stopped))ms, healthy in balancer $((t_up - t_started))ms"
    echo "roll app$i old=$old new=$new t0=$t0 drained=$t_drained stopped=$t_stopped ready=$t_started in_service=$t_up" >>"$STACK_DIR/roll.log"
}

# guard_bake N: the deploy guard over instance N for one evaluation window,
# from the moment it is in service. Returns 1 (reason in run/roll.failure)
# as soon as enough periods breach, as the alarm would go to ALARM.
guard_bake() {
    local i=$1 t0 p base c d breaches=0 left counts=()
    t0=$(date +%s%3N)
    base=$(lb_server_field "$i" hrsp_5xx)
    stack_log "deploy guard on app$i: 5xx answers > $GUARD_THRESHOLD in $GUARD_DATAPOINTS_TO_ALARM of $GUARD_EVALUATION_PERIODS periods of ${GUARD_PERIOD_SECONDS}s (infrastructure/deploy-guard.json), each period ${GUARD_PERIOD_MS}ms here (STACK_TIME_FACTOR=$STACK_TIME_FACTOR)"
    for ((p = 1; p <= GUARD_EVALUATION_PERIODS; p++)); do
        left=$((t0 + p * GUARD_PERIOD_MS - $(date +%s%3N)))
        ((left <= 0)) || sleep "$((left / 1000)).$(printf '%03d' $((left % 1000)))"
        c=$(lb_server_field "$i" hrsp_5xx)
        d=$((c - base))
        base=$c
        counts+=("$d")
        if ((d > GUARD_THRESHOLD)) || [[ $GUARD_COMPARISON == GreaterThanOrEqualToThreshold && $d == "$GUARD_THRESHOLD" ]]; then
            breaches=$((breaches + 1))
        fi
        roll_event guard-period "app$i:$d"
        if ((breaches >= GUARD_DATAPOINTS_TO_ALARM)); then
            roll_event guard-tripped "app$i"
            printf 'deploy guard tripped on app%s: 5xx answers per period %s, above %s in %s of %s periods (%sms each)\n' \
                "$i" "${counts[*]}" "$GUARD_THRESHOLD" "$breaches" "$p" "$GUARD_PERIOD_MS" >"$S_RUN/roll.failure"
            return 1
        fi
    done
    stack_log "deploy guard on app$i: passed (5xx answers per period: ${counts[*]})"
}

# restore_instance N: instance N back on `current` (the release the roll
# started from): deregistered if it serves, its supervisor replaced (a
# crash-looping release may be sleeping before its next start, so the
# instance is replaced, as the ASG replaces one with the previous launch
# template), in service after the healthy threshold.
restore_instance() {
    local i=$1 t0 ready_timeout=${STACK_READY_TIMEOUT:-60}
    t0=$(date +%s%3N)
    roll_event rollback-out "app$i"
    deregister_target "$i"
    rm -f "$STACK_DIR/instances/app$i.release"
    stop_pidfile "$S_RUN/app$i.supervisor.pid" TERM $((LB_DEREGISTRATION_DELAY_SECONDS + LB_SHUTDOWN_TIMEOUT_SECONDS + 10))
    rm -f "$S_RUN/app$i.pid"
    start_supervisor "$i"
    wait_until "$ready_timeout" 0.05 instance_ready "$i" ||
        roll_fail "rollback: app$i not ready on $(basename "$(readlink -f "$STACK_DIR/current")") within ${ready_timeout}s"
    register_target "$i" roll_rolled_back roll_fail
    stack_log "app$i back on release $(instance_release "$i") and in service after $(($(date +%s%3N) - t0)) ms"
}

# The roll stopped at instance N after touching instances 1..N: each of
# them back on the previous release, last first; then exit 1.
roll_abort() {
    local i=$1 rel=$2 prev=$3 why j
    why=$(cat "$S_RUN/roll.failure" 2>/dev/null || echo "unknown (see the log above)")
    roll_event stopped "app$i"
    stack_log "roll to $rel stopped at app$i: $why"
    if [[ $rel == "$prev" ]]; then
        unpin_instances
        stack_die "roll of release $rel (already current) failed at app$i; nothing to roll back to"
    fi
    stack_log "rolling back: app$i..app1 to release $prev"
    for ((j = i; j >= 1; j--)); do
        # In the background and waited for: `set -e` holds in the subshell
        # (a subshell tested by || would run with it off).
        restore_instance "$j" &
        wait $! || {
            unpin_instances
            stack_die "rollback of app$j failed: $(cat "$S_RUN/roll.failure" 2>/dev/null)"
        }
    done
    unpin_instances
    roll_event roll-failed -
    stack_log "ERROR: release $rel rolled back after $(($(date +%s%3N) - ROLL_T0)) ms: stopped at app$i: ${why%%$'\n'*}"
    stack_log "every instance runs release $prev again; the current release is unchanged ($prev)"
    exit 1
}

cmd_roll() {
    stack_is_up || stack_die "stack $STACK_NAME is not up (make stack)"
    exec 8>"$S_RUN/roll.lock"
    flock -n 8 || stack_die "another roll is running"
    load_lb_settings
    load_deploy_guard
    local rel=${1:-} prev n i guard=1
    if [[ -z $rel ]]; then
        rel=$(install_release "${ITEMS_API_BIN:-$STACK_ROOT/build/items-api}")
    fi
    [[ -x $S_RELEASES/$rel/items-api ]] || stack_die "no release $rel"
    prev=$(basename "$(readlink -f "$STACK_DIR/current")")
    n=$(stack_instances)
    ROLL_T0=$(date +%s%3N)
    rm -f "$S_RUN/roll.failure"
    # Rolling onto the release that runs (a restore's new secret) has no
    # other release to fall back to, so no guard either.
    [[ $rel != "$prev" ]] || guard=0
    stack_log "rolling $n instances from $prev to $rel"
    roll_event roll-start -
    for ((i = 1; i <= n; i++)); do
        roll_one "$i" "$rel" &
        wait $! || roll_abort "$i" "$rel" "$prev"
        # The first instance is the canary: the guard's whole evaluation
        # window before the next one is touched (the refresh's checkpoint).
        if ((guard && i == 1)); then
            guard_bake "$i" || roll_abort "$i" "$rel" "$prev"
        fi
    done
    if [[ $prev != "$rel" ]]; then
        ln -sfn "$S_RELEASES/$prev" "$STACK_DIR/previous.tmp"
        mv -Tf "$STACK_DIR/previous.tmp" "$STACK_DIR/previous"
        set_current "$rel"
    fi
    unpin_instances
    roll_event roll-done -
    stack_log "rolled $n instances to $rel in $(($(date +%s%3N) - ROLL_T0))ms"
}

cmd_rollback() {
    stack_is_up || stack_die "stack $STACK_NAME is not up"
    [[ -L $STACK_DIR/previous ]] || stack_die "no previous release to roll back to"
    cmd_roll "$(basename "$(readlink -f "$STACK_DIR/previous")")"
}
