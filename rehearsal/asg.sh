# shellcheck shell=bash
# The Auto Scaling group's capacity changes in the rehearsal, sourced by
# rehearsal/stack.sh (it uses the stack's launch and balancer functions):
#
#   stack.sh scale-out [K]   launch K instances (default 1), as the ASG does
#   stack.sh scale-in [K]    remove K instances, as the ASG does with the ALB
#   stack.sh scaler start|stop   the target-tracking scaler (rehearsal/scaler.py)
#
# Capacity numbers (min, max) come from infrastructure/capacity-model.json,
# the same file the Terraform defaults follow. The balancer has a slot for
# every instance up to the maximum (declared disabled by gen-haproxy.py),
# and the network lets the balancer reach every slot's port, so a launch
# changes neither: it registers a target, as on the ALB. A scaling activity
# and a roll exclude each other (the roll lock): the one that comes second
# fails at once, and the scaler tries again at its next datapoint.

CAPACITY_MODEL=${CAPACITY_MODEL:-$STACK_ROOT/infrastructure/capacity-model.json}

# A number of the model's "defaults": capacity_setting asg_max_size
capacity_setting() {
    python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["defaults"][sys.argv[2]])' "$CAPACITY_MODEL" "$1"
}

# Slots for INSTANCES at bring-up: the group's maximum, or more when the
# stack was brought up with more instances than that.
asg_slots() {
    local max
    max=$(capacity_setting asg_max_size)
    if (($1 > max)); then echo "$1"; else echo "$max"; fi
}
stack_slots() { cat "$STACK_DIR/instances/slots" 2>/dev/null || stack_instances; }

# The zone of the next launch: the one with fewer running instances (the
# ASG's Availability Zone balancing), the slot's home zone on a tie.
asg_next_zone() {
    local slot=$1 n=$2 j na=0 nb=0
    for ((j = 1; j < slot; j++)); do
        if [[ $(instance_zone "$j") == a ]]; then na=$((na + 1)); else nb=$((nb + 1)); fi
    done
    if ((na < nb)); then
        echo a
    elif ((nb < na)); then
        echo b
    else
        instance_home_zone "$slot"
    fi
}

# Stop instance I's supervisor (SIGTERM: the instance drains for
# DRAIN_SECONDS, then exits) and forget the instance's files.
asg_terminate() {
    local i=$1 sup
    sup=$(cat "$S_RUN/app$i.supervisor.pid" 2>/dev/null || true)
    if [[ -n $sup ]] && pid_alive "$sup"; then
        kill -TERM "$sup"
        wait_until $((LB_DEREGISTRATION_DELAY_SECONDS + LB_SHUTDOWN_TIMEOUT_SECONDS + 10)) 0.05 \
            eval "! pid_alive $sup" || stack_die "app$i's supervisor (pid $sup) did not exit after SIGTERM"
    fi
    rm -f "$STACK_DIR/instances/app$i.env" "$STACK_DIR/instances/app$i.zone" "$S_SECRETS/app$i.database-url"
}

# One launch: instance I in zone Z, started and ready (launch_in_zone), then
# registered; prints "I Z launch_us ready_us in_service_us".
asg_launch_one() {
    local i=$1 z=$2 t0 t_ready
    t0=$(now_us)
    if ! (launch_in_zone "$i" "$z"); then
        hactl "set server app/app$i state maint" >/dev/null || true
        asg_terminate "$i"
        stack_die "launch of app$i in zone $z failed: terminated"
    fi
    t_ready=$(now_us)
    register_target "$i"
    echo "$i $z $t0 $t_ready $(now_us)"
}

cmd_scale_out() {
    local k=${1:-1} n slots i z pids=() p rc=0 out
    [[ $k =~ ^[1-9][0-9]*$ ]] || stack_die "usage: scale-out [K]"
    stack_is_up || stack_die "stack $STACK_NAME is not up"
    exec 8>"$S_RUN/roll.lock"
    flock -n 8 || stack_die "a roll or another scaling activity is running"
    load_lb_settings
    n=$(stack_instances)
    slots=$(stack_slots)
    ((n + k <= slots)) || stack_die "$n + $k instances is above the group's maximum ($slots)"
    out=$(mktemp "$S_RUN/scale-out.XXXXXX")
    # The launches run side by side, as one scaling activity.
    for ((i = n + 1; i <= n + k; i++)); do
        z=$(asg_next_zone "$i" "$n")
        echo "$z" >"$STACK_DIR/instances/app$i.zone"
        asg_launch_one "$i" "$z" >>"$out" &
        pids+=($!)
    done
    for p in "${pids[@]}"; do
        wait "$p" || rc=1
    done
    if ((rc != 0)); then
        # All or nothing: the launches that did succeed go too.
        for ((i = n + 1; i <= n + k; i++)); do
            hactl "set server app/app$i state maint" >/dev/null || true
            asg_terminate "$i"
        done
        rm -f "$out"
        stack_die "scale-out from $n to $((n + k)) failed"
    fi
    echo $((n + k)) >"$STACK_DIR/instances/count"
    while read -r i z t0 tr tu; do
        stack_log "app$i launched in zone $z: ready $(((tr - t0) / 1000)) ms, in service $(((tu - t0) / 1000)) ms after launch"
        echo "launched instance=$i zone=$z launch_us=$t0 ready_us=$tr in_service_us=$tu"
    done <"$out"
    rm -f "$out"
}

# Scale-in of K instances: the newest ones (the highest slots; the
# zone-balanced launches put the newest in the zone with more instances, or
# the zones are even), which is the ASG's default termination policy's
# first rule (balance the zones). Each is deregistered (drain: no new
# requests; done when nothing is in flight or after the deregistration
# delay, as on the ALB), then terminated (SIGTERM; the service drains too),
# never below the group's minimum.
cmd_scale_in() {
    local k=${1:-1} n min i pids=() p rc=0 t0 t1
    [[ $k =~ ^[1-9][0-9]*$ ]] || stack_die "usage: scale-in [K]"
    stack_is_up || stack_die "stack $STACK_NAME is not up"
    exec 8>"$S_RUN/roll.lock"
    flock -n 8 || stack_die "a roll or another scaling activity is running"
    load_lb_settings
    n=$(stack_instances)
    min=$(capacity_setting asg_min_size)
    ((n - k >= min)) || stack_die "$n - $k instances is below the group's minimum ($min)"
    for ((i = n - k + 1; i <= n; i++)); do
        (
            t0=$(now_us)
            deregister_target "$i"
            t1=$(now_us)
            asg_terminate "$i"
            echo "removed instance=$i deregister_us=$t0 deregistered_us=$t1 terminated_us=$(now_us)"
        ) &
        pids+=($!)
    done
    for p in "${pids[@]}"; do
        wait "$p" || rc=1
    done
    ((rc == 0)) || stack_die "scale-in from $n to $((n - k)) failed"
    echo $((n - k)) >"$STACK_DIR/instances/count"
    stack_log "scaled in from $n to $((n - k)) instances"
}

cmd_scaler() {
    stack_is_up || stack_die "stack $STACK_NAME is not up"
    case ${1:-} in
    start)
        if [[ -f $S_RUN/scaler.pid ]] && pid_alive "$(cat "$S_RUN/scaler.pid")"; then
            stack_log "the scaler already runs (pid $(cat "$S_RUN/scaler.pid"))"
            return 0
        fi
        spawn "$S_LOG/scaler.log" python3 "$HERE/scaler.py"
        echo $! >"$S_RUN/scaler.pid"
        stack_log "scaler started (pid $!, log $S_LOG/scaler.log)"
        ;;
    stop)
        # It finishes a scaling activity in progress before it exits.
        load_lb_settings
        stop_pidfile "$S_RUN/scaler.pid" TERM $((LB_DEREGISTRATION_DELAY_SECONDS + LB_SHUTDOWN_TIMEOUT_SECONDS + 90))
        rm -f "$S_RUN/scaler.pid"
        ;;
    *) stack_die "usage: scaler start|stop" ;;
    esac
}
