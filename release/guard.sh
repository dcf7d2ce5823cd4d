# shellcheck shell=bash
# shellcheck disable=SC2034,SC2154  # the run record and the configuration live in release/lib.sh
# The deploy guard of a release (release/deploy.sh): the alarms that the
# instance refresh's AlarmSpecification names (monitoring's target-5xx alarm,
# whose numbers are infrastructure/deploy-guard.json, and unhealthy hosts)
# are watched while the release's refresh runs and for a bake time after it.
# Sourced after release/lib.sh, by release/rollout.sh.
#
#   guard_start PREFS     the alarms and the bake from the refresh preferences
#   guard_poll STATUS     at each poll of the refresh: an alarm in ALARM stops it
#   guard_bake            after the refresh: watch until the bake is over
#   guard_off PREFS       the preferences of a rollback's refresh: no alarms
#
# guard_tripped is the reason the guard stopped the release (empty: it did
# not). AWS's auto-rollback acts on the same alarms while the refresh runs
# (BakeTime included); the guard makes the deploy say which alarm and why,
# rolls the refresh back itself if AWS has not yet, and covers the time
# after the refresh, when AWS can no longer roll it back: then rollout.sh
# redeploys the previous tag.
#
# The bake: BAKE_SECONDS, default the refresh's BakeTime, which Terraform
# derives from the guard alarms (evaluation window plus one period: 240 s for
# deploy-guard.json's 3 x 60 s). It counts from the first poll that sees the
# refresh Baking (AWS bakes first) or finished, so the two bakes overlap.

guard_alarms=()
guard_bake_seconds=0
guard_since=     # when the refresh was first seen Baking or finished
guard_tripped=
guard_missing_logged=0

# guard_start PREFS: reads the alarm names and BakeTime from the preferences
# JSON and logs the rule each alarm applies (as CloudWatch has it).
guard_start() {
    local prefs=$1 parsed
    guard_since=
    guard_tripped=
    parsed=$(python3 -c 'import json, sys
p = json.loads(sys.argv[1])
print(int(p.get("BakeTime") or 0))
for a in (p.get("AlarmSpecification") or {}).get("Alarms") or []:
    print(a)' "$prefs") || parsed=0
    guard_bake_seconds=${BAKE_SECONDS:-$(head -n 1 <<<"$parsed")}
    mapfile -t guard_alarms < <(tail -n +2 <<<"$parsed")
    if ((${#guard_alarms[@]} == 0)); then
        log "deploy guard: the refresh preferences name no alarms; only the refresh's own outcome and the smoke test judge this release"
        return 0
    fi
    aws cloudwatch describe-alarms --region "$region" --alarm-names "${guard_alarms[@]}" --output text \
        --query 'MetricAlarms[].[AlarmName,MetricName,Statistic,Threshold,Period,DatapointsToAlarm,EvaluationPeriods,StateValue]' \
        2>/dev/null | while IFS=$'\t' read -r name metric stat threshold period points periods state; do
        log "deploy guard: $name: $stat of $metric > $threshold per ${period}s in $points of $periods periods (now $state)"
    done || true
    log "deploy guard: watching ${guard_alarms[*]} during the refresh and ${guard_bake_seconds}s of bake after it"
}

# guard_firing: prints "NAME: REASON" of the first guard alarm in ALARM.
guard_firing() {
    local out
    ((${#guard_alarms[@]} > 0)) || return 0
    out=$(aws cloudwatch describe-alarms --region "$region" --alarm-names "${guard_alarms[@]}" --output text \
        --query "MetricAlarms[?StateValue=='ALARM'].[AlarmName,StateReason]" 2>/dev/null) || {
        if ((guard_missing_logged == 0)); then
            log "deploy guard: cannot read the alarms' state (cloudwatch:DescribeAlarms); AWS's auto-rollback still watches them"
            guard_missing_logged=1
        fi
        return 0
    }
    out=$(head -n 1 <<<"$out")
    [[ -z $out || $out == None ]] || printf '%s' "${out/$'\t'/: }"
}

# guard_poll STATUS: called at each poll of the release's refresh. An alarm in
# ALARM while the refresh can still be rolled back rolls it back (what
# auto-rollback does; whichever of AWS and the deploy is first).
guard_poll() {
    local status=$1 firing
    if [[ -z $guard_since && $status =~ ^(Baking|Successful)$ ]]; then guard_since=$(date +%s); fi
    # Once the refresh has ended (or is rolling back) it cannot be rolled
    # back: guard_bake judges what follows.
    [[ -z $guard_tripped && $status =~ ^(Pending|InProgress|Baking)$ ]] || return 0
    firing=$(guard_firing)
    [[ -n $firing ]] || return 0
    guard_tripped="deploy guard: alarm $firing (refresh $status)"
    log "$guard_tripped"
    log "deploy guard: rolling the refresh back"
    aws autoscaling rollback-instance-refresh --region "$region" --auto-scaling-group-name "$asg" >/dev/null 2>&1 ||
        log "deploy guard: rollback-instance-refresh refused (AWS may be rolling back already)"
}

# guard_bake: after the refresh succeeded, watches the alarms until the bake
# (counted from guard_since) is over. Sets guard_tripped when one fires.
guard_bake() {
    local until firing now
    [[ -n $guard_since ]] || guard_since=$(date +%s)
    until=$((guard_since + guard_bake_seconds))
    [[ -z $guard_tripped ]] || return 0
    now=$(date +%s)
    ((now < until)) && log "deploy guard: baking $((until - now))s more (of ${guard_bake_seconds}s)"
    while :; do
        firing=$(guard_firing)
        if [[ -n $firing ]]; then
            guard_tripped="deploy guard: alarm $firing (during the bake after the refresh)"
            log "$guard_tripped"
            return 0
        fi
        now=$(date +%s)
        ((now < until)) || break
        sleep "$((until - now < poll_interval ? until - now : poll_interval))"
    done
    ((${#guard_alarms[@]} == 0)) || log "deploy guard: no alarm during the refresh and the ${guard_bake_seconds}s bake"
}

# guard_off PREFS: the preferences without alarms and bake, for the refresh
# that puts the previous tag back: the bad release's alarm stays in ALARM for
# its evaluation window, and would otherwise roll the rollback back.
guard_off() {
    python3 -c 'import json, sys
p = json.loads(sys.argv[1])
p.pop("AlarmSpecification", None)
p["BakeTime"] = 0
print(json.dumps(p, separators=(",", ":")))' "$1"
}
