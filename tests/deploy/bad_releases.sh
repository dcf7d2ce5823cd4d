# shellcheck shell=bash
# shellcheck disable=SC2034,SC2154  # run.sh's helpers and state (work, STUB_DIR, STUB_REAL_AWS, ...)
# Bad releases on AWS stop themselves (issue 13, section 3), against moto plus
# stubs: sourced by tests/deploy/run.sh, with its helpers (run_deploy,
# refreshes, refresh_field, current_image, deployed, ...).
#
#   guard-contract        the stand-in's guard alarm = infrastructure/deploy-guard.json;
#                         the deploy role may read alarm states
#   guard-good            a good release (run.sh's deploy) passed the guard
#   never-ready           the refresh fails (instances never healthy): previous tag
#                         redeployed, exit 1 naming the reason
#   alarm-in-bake         the guard alarm fires while the refresh bakes: the deploy
#                         rolls the refresh back, exit 1 naming the alarm
#   alarm-after-refresh   the alarm fires after the refresh ended, during the
#                         deploy's bake: the previous tag is redeployed by a refresh
#                         without the alarms (the stub fails one started with a
#                         firing alarm, as AWS fails one whose alarm fires), exit 1
#                         naming the alarm
#
# Sourced where the stack serves what its state records (after run.sh's
# manual-rollback), and leaves it so. Each bad release must leave the
# previous tag serving (the stub's deployed tag) and recorded as current (the
# state's image output). Waits are compressed: POLL_INTERVAL=0 and
# BAKE_SECONDS=2 (a real bake is 240 s).

guard_alarm=items-api-deploy-guard
# alarm_ok: the guard alarm back to OK (CloudWatch would once the bad
# release's datapoints leave the window).
alarm_ok() {
    "$STUB_REAL_AWS" cloudwatch set-alarm-state --alarm-name "$guard_alarm" --state-value OK \
        --state-reason "reset by the test" >/dev/null
}
# bad_release NAME: the checks every bad release shares: exit 1 (run_deploy),
# the previous tag R serving and current, a summary that says rolled back.
bad_release() {
    expect "$1: the previous release serves again" "$R" "$(deployed)"
    expect "$1: the state (the recorded current release) runs the previous tag" "$R" "$(current_image)"
    check "$1: the summary says rolled back to the previous tag" grep -q "rolled back to $R" "$work/out/$1.summary"
    check "$1: the last line says which release serves and why the new one failed" \
        out_has "$1" "rolled back to $R, which serves again; $2 failed: "
}

echo "=== bad releases (deploy guard)"
guard_json=$(python3 -c 'import json; g = json.load(open("infrastructure/deploy-guard.json"))
print(g["metric"], g["statistic"], g["period_seconds"], g["evaluation_periods"], g["datapoints_to_alarm"], float(g["threshold"]))')
expect "guard-contract: the stand-in's guard alarm = infrastructure/deploy-guard.json" "$guard_json" \
    "$("$STUB_REAL_AWS" cloudwatch describe-alarms --alarm-names "$guard_alarm" --output text \
        --query 'MetricAlarms[0].[MetricName,Statistic,Period,EvaluationPeriods,DatapointsToAlarm,Threshold]' | tr '\t' ' ')"
check "guard-contract: the deploy role may read the alarms' state (cloudwatch:Describe*)" \
    grep -q '"cloudwatch:Describe\*"' infrastructure/modules/github_oidc/main.tf

# The previous release: what the stack runs and records when this is sourced.
R=$(current_image)
check "bad releases start from a consistent stack: it serves what it records ($R)" test "$(deployed)" = "$R"
S=$(printf '6%.0s' {1..40})
T=$(printf '7%.0s' {1..40})
U=$(printf '8%.0s' {1..40})
for t in "$S" "$T" "$U"; do add_image "items-api:$t" "$t"; done
guard_env=(BAKE_SECONDS=2)

# A good release passes the guard: run.sh's "deploy" scenario (BAKE_SECONDS=0).
check "guard-good: the deploy states the alarm's rule as CloudWatch has it" \
    out_has deploy "deploy guard: $guard_alarm: Sum of HTTPCode_Target_5XX_Count > 10.0 per 60s in 2 of 3 periods"
check "guard-good: the deploy watched the alarm, found none, and deployed" \
    out_has deploy 'deploy guard: no alarm during the refresh and the 0s bake'

# (a) A release that never becomes ready: the refresh fails.
echo NeverReady >"$STUB_DIR/refresh-plan"
DEPLOY_ENV=("${guard_env[@]}")
run_deploy never-ready 1 --tag "$S"
bad_release never-ready "$S"
check "never-ready: the failure names the refresh's reason" \
    out_has never-ready "deploy of $S failed: the instance refresh ended Failed: .*never became healthy"
expect "never-ready: the release's refresh bakes the guard's window plus a period (3 x 60 s + 60 s)" 240 \
    "$(refresh_field 1 'r["preferences"]["BakeTime"]')"
expect "never-ready: a second refresh rolls out R" "$R" "$(refresh_field 2 'r["image"].rsplit(":", 1)[1]')"
expect "never-ready: the rollback refresh has no alarm guard" null "$(refresh_field 2 'r["preferences"].get("AlarmSpecification")')"

# (b) Healthy but failing real requests, caught while the refresh bakes: the
# deploy rolls the refresh back (as auto-rollback would), no second refresh.
echo AlarmInBake >"$STUB_DIR/refresh-plan"
DEPLOY_ENV=("${guard_env[@]}")
run_deploy alarm-in-bake 1 --tag "$T"
alarm_ok
bad_release alarm-in-bake "$T"
check "alarm-in-bake: the failure names the alarm and CloudWatch's reason" \
    out_has alarm-in-bake "deploy of $T failed: the instance refresh rolled back: deploy guard: alarm $guard_alarm: Threshold Crossed"
expect "alarm-in-bake: the deploy rolled the refresh back" 1 "$(calls '^aws autoscaling rollback-instance-refresh')"
expect "alarm-in-bake: no second refresh (the group rolled itself back)" 1 "$(refreshes)"

# (b) The alarm fires after the refresh ended (no longer roll-back-able): the
# previous tag goes out again in a refresh without the alarms.
echo AlarmAfter >"$STUB_DIR/refresh-plan"
DEPLOY_ENV=("${guard_env[@]}")
run_deploy alarm-after-refresh 1 --tag "$U"
alarm_ok
bad_release alarm-after-refresh "$U"
check "alarm-after-refresh: the failure names the alarm, during the bake" \
    out_has alarm-after-refresh "deploy of $U failed: deploy guard: alarm $guard_alarm: Threshold Crossed.*during the bake"
expect "alarm-after-refresh: a second refresh rolls out R" "$R" "$(refresh_field 2 'r["image"].rsplit(":", 1)[1]')"
expect "alarm-after-refresh: ... without the alarms (one in ALARM would stop it)" null \
    "$(refresh_field 2 'r["preferences"].get("AlarmSpecification")')"
expect "alarm-after-refresh: ... and without a bake" 0 "$(refresh_field 2 'r["preferences"]["BakeTime"]')"
