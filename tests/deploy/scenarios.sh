# shellcheck shell=bash
# shellcheck disable=SC2034,SC2154  # run.sh's helpers and state (work, STUB_DIR, bucket, ...)
# The single-stack scenarios of release/deploy.sh (sourced by
# tests/deploy/run.sh, with its helpers run_deploy, calls, refreshes,
# out_has, ...): first deploy, deploy, plan-only, redeploy, rollbacks,
# refusals, somebody else's refresh, manual rollback, failed first deploys,
# and the bad releases the deploy guard stops (bad_releases.sh). They build
# on each other: one stand-in stack, in order.

echo "=== scenarios"

add_image "items-api:$A" "$A"
run_deploy first-deploy 0 --tag "$A"
check "first-deploy: creates the ECR repository before pushing" out_has first-deploy 'creating the ECR repository'
expect "first-deploy: pushes <repo>:A once" 1 "$(calls "^docker push .*/items-api:$A$")"
expect "first-deploy: logs in to ECR with a token from the CLI" 1 "$(calls '^aws ecr get-login-password')"
expect "first-deploy: one instance refresh" 1 "$(refreshes)"
expect "first-deploy: refresh is Rolling" Rolling "$(refresh_field 1 'r["strategy"]')"
expect "first-deploy: refresh targets launch template version 1" 1 "$(refresh_field 1 'r["desired"]["LaunchTemplate"]["Version"]')"
expect "first-deploy: refresh keeps 100% healthy" 100 "$(refresh_field 1 'r["preferences"]["MinHealthyPercentage"]')"
expect "first-deploy: refresh has auto-rollback" true "$(refresh_field 1 'r["preferences"]["AutoRollback"]')"
expect "first-deploy: refresh rolls out image A" "$A" "$(refresh_field 1 'r["image"].rsplit(":", 1)[1]')"
check "first-deploy: smoke test read /healthz" grep -q 'curl https://items-api-alb.test.invalid/healthz auth=no' "$STUB_DIR/calls.log"
check "first-deploy: smoke test read /v1/items with a key" grep -q 'curl https://items-api-alb.test.invalid/v1/items?limit=1 auth=yes' "$STUB_DIR/calls.log"
expect "first-deploy: the state runs A" "$A" "$(current_image)"
check "first-deploy: summary says deployed, no previous tag" grep -q "none (first deploy)" "$work/out/first-deploy.summary"
check "first-deploy: step outputs for the workflow" grep -qx "result=deployed $A" "$work/gh-output"

add_image "items-api:$B" "$B"
DEPLOY_ENV=(GITHUB_ACTIONS=true AWS_ACCOUNT_ID=123456789012)
run_deploy deploy 0 --tag "$B"
expect "deploy: pushes B" 1 "$(calls "^docker push .*:$B$")"
expect "deploy: refresh targets launch template version 2" 2 "$(refresh_field 1 'r["desired"]["LaunchTemplate"]["Version"]')"
expect "deploy: the state runs B" "$B" "$(current_image)"
expect "deploy: the service runs B" "$B" "$(deployed)"
check "deploy: previous tag A in the summary" grep -q "previous tag | \`$A\`" "$work/out/deploy.summary"
check "deploy: GitHub log groups" out_has deploy '^::group::'
check "deploy: the smoke key is masked in GitHub logs" out_has deploy '^::add-mask::'

DEPLOY_ENV=(DEPLOY_PLAN_FILE="$work/out/plan.txt" PLAN_REFRESH=false)
run_deploy plan-only 0 --plan-only --tag "$C"
check "plan-only: the plan changes the launch template" grep -q 'aws_launch_template.this' "$work/out/plan.txt"
check "plan-only: the summary says what the plan does" grep -q 'Terraform plan: image_tag' "$work/out/plan-only.summary"
check "plan-only: the summary lists the address that changes" grep -qxF "| \`aws_launch_template.this\` | update |" "$work/out/plan-only.summary"
check "plan-only: the summary has no plan content (attributes, AMI, account)" \
    lacks 'ami-12c6146b|user_data|123456789012|arn:aws:' "$work/out/plan-only.summary"
check "plan-only: the full plan is in DEPLOY_PLAN_FILE only" grep -q 'ami-12c6146b\|user_data' "$work/out/plan.txt"
expect "plan-only: nothing pushed" 0 "$(calls '^docker (login|push)')"
expect "plan-only: no refresh" 0 "$(refreshes)"
expect "plan-only: the state still runs B" "$B" "$(current_image)"

# Through a tunnel: plain HTTP to a loopback address may carry the key.
DEPLOY_ENV=(SMOKE_URL=http://127.0.0.1:18080)
run_deploy redeploy-same-tag 0 --tag "$B"
check "redeploy-same-tag: does not push an immutable tag again" out_has redeploy-same-tag 'not pushing again'
check "redeploy-same-tag: the key went to the loopback SMOKE_URL" grep -q 'curl http://127.0.0.1:18080/v1/items?limit=1 auth=yes' "$STUB_DIR/calls.log"
expect "redeploy-same-tag: no docker push" 0 "$(calls '^docker push')"
check "redeploy-same-tag: plan has no changes" out_has redeploy-same-tag 'plan for .*: No changes'
expect "redeploy-same-tag: the state runs B" "$B" "$(current_image)"

add_image "items-api:$C" "$C"
echo "$C" >"$STUB_DIR/bad-tags"
run_deploy smoke-fails 1 --tag "$C"
expect "smoke-fails: two refreshes (C, then back to B)" 2 "$(refreshes)"
expect "smoke-fails: second refresh rolls out B" "$B" "$(refresh_field 2 'r["image"].rsplit(":", 1)[1]')"
expect "smoke-fails: the state runs B again" "$B" "$(current_image)"
expect "smoke-fails: the service runs B again" "$B" "$(deployed)"
check "smoke-fails: summary says rolled back" grep -q "rolled back to $B" "$work/out/smoke-fails.summary"

add_image "items-api:$D" "$D"
echo RollbackSuccessful >"$STUB_DIR/refresh-plan"
run_deploy refresh-auto-rollback 1 --tag "$D"
expect "refresh-auto-rollback: no second refresh (the group rolled itself back)" 1 "$(refreshes)"
expect "refresh-auto-rollback: the state runs B again" "$B" "$(current_image)"
expect "refresh-auto-rollback: the service still runs B" "$B" "$(deployed)"
check "refresh-auto-rollback: smoke test after the rollback" grep -q 'auth=yes' "$STUB_DIR/calls.log"

add_image "items-api:$E" "$E"
echo Hang >"$STUB_DIR/refresh-plan"
# The hung refresh gets REFRESH_TIMEOUT, rolling it back what is left of 2 x
# REFRESH_TIMEOUT. The hang spends the clock, not the machine's time: each
# poll of it moves the stubs' clock 30 s (tests/deploy/stubs/date), so it
# times out by the 4th poll (120 s >= 100 s; the 3rd when the machine's own
# seconds add 10) and leaves 80 s or more for the rollback's few polls, which
# a loaded machine cannot eat (it did with a 4 s
# REFRESH_TIMEOUT: the budget ran out, "exit 3, want 1", rollback refresh
# NotStarted).
echo 30 >"$STUB_DIR/hang-step"
DEPLOY_ENV=(REFRESH_TIMEOUT=100 POLL_INTERVAL=0)
run_deploy refresh-timeout 1 --tag "$E"
rm -f "$STUB_DIR/hang-step" "$STUB_DIR/clock-offset"
check "refresh-timeout: timed out within 4 polls of the clock (30 s each), not on the machine's time" \
    out_has refresh-timeout 'no terminal status after 1[0-9][0-9]s \(REFRESH_TIMEOUT 100s'
expect "refresh-timeout: rolls the hanging refresh back" 1 "$(calls '^aws autoscaling rollback-instance-refresh')"
expect "refresh-timeout: the state runs B again" "$B" "$(current_image)"
expect "refresh-timeout: the service still runs B" "$B" "$(deployed)"
check "refresh-timeout: summary says rolled back" grep -q "rolled back to $B" "$work/out/refresh-timeout.summary"

add_image items-api:applyfail-1 applyfail-1
run_deploy apply-fails 1 --tag applyfail-1
check "apply-fails: says the apply failed" out_has apply-fails 'terraform apply failed'
expect "apply-fails: no refresh started" 0 "$(refreshes)"
expect "apply-fails: the state runs B again" "$B" "$(current_image)"

run_deploy refuse-latest 2 --tag latest
expect "refuse-latest: nothing pushed" 0 "$(calls '^docker push')"
check "refuse-latest: a summary says refused, and why" grep -q "^### Deploy: refused (image tag 'latest'" "$work/out/refuse-latest.summary"
check "refuse-latest: step output result=refused" grep -q '^result=refused' "$work/gh-output"
run_deploy refuse-bad-argument 2 --tag "$F" --frobnicate
check "refuse-bad-argument: a summary says refused" grep -q "^### Deploy: refused (unknown argument '--frobnicate'" "$work/out/refuse-bad-argument.summary"
run_deploy refuse-missing-tag 2 --no-push --tag "$F"
check "refuse-missing-tag: says ECR lacks it" out_has refuse-missing-tag 'ECR has no image'
check "refuse-missing-tag: a summary says refused, nothing released" \
    grep -q "Nothing was released: the service still runs $B" "$work/out/refuse-missing-tag.summary"
expect "refuse-missing-tag: the state still runs B" "$B" "$(current_image)"
add_image items-api:dev "$G"
run_deploy refuse-other-revision 2 --tag "$F"
check "refuse-other-revision: refuses to publish items-api:dev under F" out_has refuse-other-revision 'refusing to publish'
expect "refuse-other-revision: nothing pushed" 0 "$(calls '^docker push')"
add_image "items-api:$P" "$P"
touch "$STUB_DIR/push-fails"
run_deploy refuse-push-fails 2 --tag "$P"
rm -f "$STUB_DIR/push-fails"
check "refuse-push-fails: says the push failed" out_has refuse-push-fails 'push to .* failed'
expect "refuse-push-fails: the state still runs B" "$B" "$(current_image)"
DEPLOY_ENV=(AWS_ACCOUNT_ID=999999999999)
run_deploy refuse-wrong-account 2 --tag "$B"
check "refuse-wrong-account: names the account mismatch" out_has refuse-wrong-account 'not AWS_ACCOUNT_ID=999999999999'
printf 'name = "items-api-renamed"\n' >"$work/rename.tfvars"
run_deploy refuse-destroy 2 --tag "$B" --var-file "$work/rename.tfvars"
check "refuse-destroy: refuses a plan that destroys" out_has refuse-destroy 'destroys [0-9]+ resource\(s\): refused'
expect "refuse-destroy: the state still runs B" "$B" "$(current_image)"

# HTTPS by default: an API key never goes over plain HTTP to a host that is
# not loopback. Refused before anything changes (exit 2), whether the URL is
# SMOKE_URL or the service_url the plan gives.
for url in http://items-api-alb.test.invalid HTTP://items-api-alb.test.invalid "http://127.0.0.1@evil.example" \
    http://localhost.evil.example http://127.0.0.1.nip.io items-api-alb.test.invalid; do
    DEPLOY_ENV=(SMOKE_URL="$url")
    run_deploy refuse-plain-http-url 2 --no-push --tag "$B"
    check "refuse-plain-http-url: $url is refused, and why" out_has refuse-plain-http-url 'refusing to send an API key to .*plain HTTP'
    expect "refuse-plain-http-url: $url: no request carried the key" 0 "$(calls 'auth=yes')"
done
check "refuse-plain-http-url: a summary says refused" grep -q '^### Deploy: refused (refusing to send an API key' "$work/out/refuse-plain-http-url.summary"
printf 'plain_http = true\n' >"$work/plain-http.tfvars"
run_deploy refuse-plain-http-stack 2 --no-push --tag "$B" --var-file "$work/plain-http.tfvars"
check "refuse-plain-http-stack: refuses the stack's http:// service_url" out_has refuse-plain-http-stack "refusing to send an API key to http://items-api-alb.test.invalid \(the stack's service_url\)"
expect "refuse-plain-http-stack: nothing applied, no refresh" 0 "$(refreshes)"
expect "refuse-plain-http-stack: no request carried the key" 0 "$(calls 'auth=yes')"
expect "refuse-plain-http-stack: the state still runs B" "$B" "$(current_image)"
check "refuse-plain-http-stack: the state still serves https" test "$(terraform -chdir="$work/stack" output -raw service_url)" = https://items-api-alb.test.invalid

add_image "items-api:$G" "$G"
aws stub-seed-refresh items-api-app
run_deploy wait-for-other-refresh 0 --tag "$G"
check "wait-for-other-refresh: waits for the running refresh" out_has wait-for-other-refresh 'waiting for it to finish first'
expect "wait-for-other-refresh: the service runs G" "$G" "$(deployed)"

run_deploy manual-rollback 0 --no-push --tag "$A"
expect "manual-rollback: nothing pushed" 0 "$(calls '^docker push')"
expect "manual-rollback: the state runs A" "$A" "$(current_image)"
expect "manual-rollback: the service runs A" "$A" "$(deployed)"

# Bad releases stop themselves: the deploy guard (release/guard.sh).
# shellcheck source=tests/deploy/bad_releases.sh
source tests/deploy/bad_releases.sh

add_image "items-api:$H" "$H"
echo "$H" >"$STUB_DIR/bad-tags"
printf 'name = "items-api-second"\n' >"$work/second.tfvars"
DEPLOY_ENV=(TF_DIR="$work/stack2" TF_STATE_KEY=items-api/second/terraform.tfstate)
run_deploy first-deploy-fails 3 --tag "$H" --var-file "$work/second.tfvars"
expect "first-deploy-fails: one refresh, no rollback" 1 "$(refreshes)"
check "first-deploy-fails: says there is nothing to roll back to" out_has first-deploy-fails 'nothing to roll back to'
expect "first-deploy-fails: the new stack's state runs H" "$H" "$(current_image "$work/stack2")"
check "first-deploy-fails: summary says there is no previous release" grep -q "no previous release to roll back to" "$work/out/first-deploy-fails.summary"

# A third stack in a new state, named like the first: its repository exists
# already, so the first deploy's targeted apply fails (exit 3).
cp -r tests/deploy/stack "$work/stack3"
DEPLOY_ENV=(TF_DIR="$work/stack3" TF_STATE_KEY=items-api/third/terraform.tfstate)
run_deploy first-deploy-ecr-fails 3 --tag "$H"
check "first-deploy-ecr-fails: says creating the repository failed" out_has first-deploy-ecr-fails 'creating the ECR repository failed'
expect "first-deploy-ecr-fails: nothing pushed" 0 "$(calls '^docker push')"
expect "first-deploy-ecr-fails: no refresh" 0 "$(refreshes)"
check "first-deploy-ecr-fails: a summary says why" \
    grep -q '^### Deploy: FAILED (creating the ECR repository failed)' "$work/out/first-deploy-ecr-fails.summary"
check "first-deploy-ecr-fails: the summary says nothing was released" \
    grep -q 'Nothing was released' "$work/out/first-deploy-ecr-fails.summary"
check "first-deploy-ecr-fails: step output result=FAILED" grep -q '^result=FAILED (creating the ECR repository failed)' "$work/gh-output"

# Somebody else's refresh that outlasts REFRESH_TIMEOUT: the apply is done,
# no refresh is started, exit 3, and the summary says what was left.
Q=$(printf '4%.0s' {1..40})
add_image "items-api:$Q" "$Q"
aws stub-seed-refresh items-api-app Hang
DEPLOY_ENV=(REFRESH_TIMEOUT=2 POLL_INTERVAL=1)
run_deploy other-refresh-timeout 3 --tag "$Q"
expect "other-refresh-timeout: started no refresh" 0 "$(refreshes)"
check "other-refresh-timeout: says it is still running" out_has other-refresh-timeout "somebody else's refresh .* is still running"
check "other-refresh-timeout: a summary says FAILED, not rolled back" \
    grep -q "^### Deploy: FAILED (somebody else's refresh" "$work/out/other-refresh-timeout.summary"
check "other-refresh-timeout: the summary names the applied tag" \
    grep -q "NOT rolled back: terraform applied image_tag $Q" "$work/out/other-refresh-timeout.summary"
aws autoscaling cancel-instance-refresh --auto-scaling-group-name items-api-app >/dev/null
