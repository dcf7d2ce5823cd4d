# shellcheck shell=bash
# shellcheck disable=SC2034,SC2154  # the run record and the configuration live in release/lib.sh
# Steps 4-8 of a release (release/deploy.sh): the first deploy's ECR
# repository, the push, terraform apply, the instance refresh, the smoke
# test, and the rollback when any of them fails. Sourced after
# release/lib.sh and release/smoke.sh.
#
#   create_repository          first deploy: terraform apply -target=module.registry
#   push_image                 image_ref -> <repository>:TAG in ECR
#   release TAG                apply the saved plan, refresh (watched by the deploy
#                              guard, release/guard.sh), smoke test, bake
#   roll_back FAILURE SELF     back to previous_tag (previous_digest when the
#                              previous release ran by digest) after release TAG
#                              failed; this stack (environment) only
#
# Waiting for instance refreshes is bounded: REFRESH_TIMEOUT for each wait,
# 2 x REFRESH_TIMEOUT for all of a run's waits together (refresh_budget).

refresh_timeout=${REFRESH_TIMEOUT:-2700}
poll_interval=${POLL_INTERVAL:-30}
# Seconds of refresh waiting left in this run: 2 x REFRESH_TIMEOUT in all.
refresh_budget=$((2 * refresh_timeout))
# 1: the next refresh is a release's, watched by the deploy guard; 0: the
# rollback's, which puts the known-good tag back without the alarms.
guarded=1

# create_repository: the very first deploy of a stack by hand: the repository
# must exist before the push, and before the plan (a saved plan goes stale
# when the state changes). With a shared repository (ecr_repository_name) the
# stack creates none: the targeted apply only reads it into the state
# (data.aws_ecr_repository.shared), so that ecr_repository_url is known.
create_repository() {
    group "first deploy: creating the ECR repository (terraform apply -target=module.registry)"
    set_tf_vars "$tag"
    tf apply -no-color -input=false -auto-approve -lock-timeout=10m \
        -target=module.registry -target=data.aws_ecr_repository.shared \
        "${var_files[@]}" "${tf_vars[@]}" >"$work/bootstrap.log" 2>&1 || {
        tail -n 40 "$work/bootstrap.log" >&2
        die 3 "creating the ECR repository failed"
    }
    repo_created=1
    load_outputs
    set_repository "$(tf_out ecr_repository_url)"
    [[ -n $ecr_url ]] || die 3 "the state has no ecr_repository_url output after creating the repository"
    log "created $ecr_url"
    endgroup
}

# push_image: pushes image_ref as <repository>:TAG; sets digest.
push_image() {
    group "push"
    log "pushing $image_ref as $ecr_url:$tag"
    local registry=${ecr_url%%/*}
    aws ecr get-login-password --region "$region" | engine login --username AWS --password-stdin "$registry" >/dev/null ||
        die 2 "docker login to $registry failed"
    engine tag "$image_ref" "$ecr_url:$tag"
    engine push "$ecr_url:$tag" >"$work/push.log" 2>&1 || {
        tail -n 20 "$work/push.log" >&2
        die 2 "push to $ecr_url failed"
    }
    digest=$(ecr_digest "$tag")
    [[ -n $digest ]] || die 2 "ECR does not list $ecr_url:$tag after the push"
    log "pushed $digest"
    endgroup
}

# apply_plan: terraform apply of the saved plan ($work/tfplan), then the outputs.
apply_plan() {
    if ! tf apply -no-color -input=false -lock-timeout=10m "$work/tfplan" >"$work/apply.log" 2>&1; then
        tail -n 40 "$work/apply.log" >&2
        load_outputs
        return 1
    fi
    grep -E '^Apply complete' "$work/apply.log" >&2 || true
    load_outputs
}

# --- instance refresh -------------------------------------------------------------
# The status of refresh $1: Pending|InProgress|Successful|Failed|Cancelling|
# Cancelled|RollbackInProgress|RollbackFailed|RollbackSuccessful|Baking
refresh_status() {
    aws autoscaling describe-instance-refreshes --region "$region" --auto-scaling-group-name "$asg" \
        --instance-refresh-ids "$1" --query 'InstanceRefreshes[0].[Status,PercentageComplete,StatusReason]' \
        --output text
}

terminal() { [[ $1 =~ ^(Successful|Failed|Cancelled|RollbackFailed|RollbackSuccessful)$ ]]; }

# wait_refresh ID [ON_POLL]: polls until a terminal status or the timeout;
# sets wait_result to the status, or Timeout, and wait_reason to AWS's
# StatusReason. ON_POLL STATUS runs at each poll (the deploy guard). Each
# wait lasts at most REFRESH_TIMEOUT, and what is left of the run's budget
# (refresh_budget, which it spends: hence a global result, not a subshell's
# output).
wait_refresh() {
    local id=$1 on_poll=${2:-} t0 limit deadline line status reason last=
    wait_reason=
    t0=$(date +%s)
    limit=$((refresh_budget < refresh_timeout ? refresh_budget : refresh_timeout))
    ((limit > 0)) || limit=0
    deadline=$((t0 + limit))
    while :; do
        line=$(refresh_status "$id") || line="Unknown"
        IFS=$'\t' read -r status _ reason <<<"$line" || true
        [[ -z $reason || $reason == None ]] || wait_reason=$reason
        if [[ $line != "$last" ]]; then
            log "refresh $id: $(tr '\t' ' ' <<<"$line")"
            last=$line
        fi
        [[ -z $on_poll ]] || "$on_poll" "$status"
        if terminal "$status"; then
            wait_result=$status
            break
        fi
        if (($(date +%s) >= deadline)); then
            wait_result=Timeout
            break
        fi
        sleep "$poll_interval"
    done
    refresh_budget=$((refresh_budget - ($(date +%s) - t0)))
    if [[ $wait_result == Timeout ]]; then
        log "refresh $id: no terminal status after $(($(date +%s) - t0))s (REFRESH_TIMEOUT ${refresh_timeout}s; ${refresh_budget}s of the run's 2 x REFRESH_TIMEOUT left)"
    fi
    return 0
}

# A refresh somebody else started (a manual one) must finish first.
wait_for_other_refresh() {
    local line id status
    line=$(aws autoscaling describe-instance-refreshes --region "$region" --auto-scaling-group-name "$asg" \
        --max-records 1 --query 'InstanceRefreshes[0].[InstanceRefreshId,Status]' --output text 2>/dev/null) || return 0
    id=${line%%$'\t'*}
    status=${line#*$'\t'}
    [[ -n $id && $id != None ]] || return 0
    terminal "$status" && return 0
    log "refresh $id is $status already; waiting for it to finish first"
    wait_refresh "$id"
    [[ $wait_result != Timeout ]] || die 3 "somebody else's refresh $id is still running; started none"
}

# refresh: starts one to the launch template version Terraform just wrote and
# waits. Sets refresh_id and refresh_result (a terminal status or Timeout;
# a timed-out refresh is rolled back, or cancelled, first).
refresh() {
    local desired prefs on_poll=
    desired=$(tf_out instance_refresh_desired_configuration)
    prefs=$(tf_out instance_refresh_preferences)
    [[ -n $desired && -n $prefs ]] || {
        log "Terraform outputs instance_refresh_desired_configuration / instance_refresh_preferences are missing"
        refresh_result=Failed
        return 0
    }
    if ((guarded)); then
        guard_start "$prefs"
        on_poll=guard_poll
    else
        prefs=$(guard_off "$prefs")
        guard_alarms=()
        guard_tripped=
        log "rollback refresh: without the deploy-guard alarms and bake (the failed release's alarm may still be in ALARM)"
    fi
    wait_for_other_refresh
    if ((refresh_budget <= 0)); then
        log "no time left for another refresh (2 x REFRESH_TIMEOUT = $((2 * refresh_timeout))s of waiting used)"
        refresh_id=
        refresh_result=NotStarted
        return 0
    fi
    refresh_id=$(aws autoscaling start-instance-refresh --region "$region" --auto-scaling-group-name "$asg" \
        --strategy Rolling --desired-configuration "$desired" --preferences "$prefs" \
        --query InstanceRefreshId --output text) || {
        log "start-instance-refresh failed"
        refresh_id=
        refresh_result=Failed
        return 0
    }
    log "instance refresh $refresh_id started on $asg (desired $desired)"
    wait_refresh "$refresh_id" "$on_poll"
    refresh_result=$wait_result
    if [[ $refresh_result == Timeout ]]; then
        log "refresh $refresh_id did not finish in time: rolling it back"
        if aws autoscaling rollback-instance-refresh --region "$region" --auto-scaling-group-name "$asg" >/dev/null 2>&1 ||
            aws autoscaling cancel-instance-refresh --region "$region" --auto-scaling-group-name "$asg" >/dev/null 2>&1; then
            wait_refresh "$refresh_id" "$on_poll"
            refresh_result=$wait_result
            [[ $refresh_result != Timeout ]] || refresh_result=Failed
        else
            refresh_result=Failed
        fi
    fi
    log "refresh $refresh_id: $refresh_result"
}

# --- 6-8. apply, refresh, smoke; roll back on failure ---------------------------------
# release TAG: apply the saved plan for TAG, refresh, smoke test. Sets failure
# (empty on success) and self_rolled_back (1: the group rolled itself back).
release() {
    local t=$1
    failure=
    self_rolled_back=0
    group "terraform apply (image_tag=$t)"
    applied="${applied:+$applied, then }$t"
    if ! apply_plan; then
        failure="terraform apply failed"
        endgroup
        return
    fi
    asg=$(tf_out asg_name)
    endgroup
    [[ -n $asg ]] || {
        failure="no asg_name output"
        return
    }
    group "instance refresh of $asg"
    refresh
    endgroup
    local why=${guard_tripped:-${wait_reason:-no reason given}}
    case $refresh_result in
    Successful)
        if [[ -n $guard_tripped ]]; then
            failure=$guard_tripped
            return
        fi
        ;;
    RollbackSuccessful)
        self_rolled_back=1
        failure="the instance refresh rolled back: $why"
        return
        ;;
    *)
        failure="the instance refresh ended $refresh_result: $why"
        return
        ;;
    esac
    group "smoke test"
    if ! smoke; then
        failure="smoke test failed"
        endgroup
        return
    fi
    endgroup
    if ((guarded)); then
        group "bake (deploy guard)"
        guard_bake
        endgroup
        failure=$guard_tripped
    fi
}

# roll_back FIRST_FAILURE SELF_ROLLED_BACK: after release TAG failed, back to
# previous_tag: plan, apply, and (unless the group rolled itself back or no
# refresh ran) refresh; smoke test. Writes the summary; exits 1 when the
# rollback worked, 3 when it did not.
roll_back() {
    local first_failure=$1 self=$2 first_refresh=$refresh_id pin=
    # What ran before, as it ran: by digest when it was pinned to one.
    ((previous_pinned == 0)) || pin=$previous_digest
    log "rolling back to $previous_tag${pin:+ ($pin)}"
    group "rollback: terraform plan (image_tag=$previous_tag${pin:+, image_digest=$pin})"
    if ! plan "$previous_tag" release "$pin"; then
        endgroup
        summary "FAILED ($first_failure); rollback plan failed"
        die 3 "rollback to $previous_tag: terraform plan failed"
    fi
    endgroup
    if ((self)); then
        # The group is back on the previous launch template version already; the
        # apply only makes Terraform's latest version run the previous tag again.
        group "rollback: terraform apply (image_tag=$previous_tag)"
        if apply_plan; then failure=; else failure="rollback apply failed"; fi
        endgroup
        if [[ -z $failure ]]; then
            group "rollback: smoke test"
            smoke || failure="smoke test failed after the rollback"
            endgroup
        fi
    elif [[ $first_failure == "terraform apply failed" ]]; then
        # No refresh ran: the instances still run the previous tag.
        group "rollback: terraform apply (image_tag=$previous_tag)"
        if apply_plan; then failure=; else failure="rollback apply failed"; fi
        endgroup
    else
        guarded=0
        release "$previous_tag"
    fi
    rollback_refresh=$refresh_id
    refresh_id=${first_refresh:-}
    if [[ -n $failure ]]; then
        summary "FAILED ($first_failure); rollback to $previous_tag FAILED ($failure)"
        die 3 "rollback to $previous_tag failed: $failure"
    fi
    summary "FAILED ($first_failure); rolled back to $previous_tag"
    log "rolled back to $previous_tag, which serves again; $tag failed: $first_failure"
    exit 1
}
