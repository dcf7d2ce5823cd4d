# shellcheck shell=bash
# shellcheck disable=SC2034,SC2154  # run.sh's helpers and state (work, STUB_DIR, STUB_REAL_AWS, ...)
# Two environments and promotion by digest (issue 14), against moto plus
# stubs: sourced by tests/deploy/run.sh, with its helpers (run_deploy,
# calls, refreshes, out_has, ...).
#
# Two copies of the stand-in stack, staging and production, each with its own
# state key (items-api/<env>/terraform.tfstate, deploy.sh's default for
# --environment) and its own environments/<env>.tfvars (name
# items-api-<env>), both running images from one shared repository that
# "bootstrap" created (ecr_repository_name). The curl stub serves each
# stack's own deployed image (per host), so one can fail while the other
# serves.
#
#   env-state-key-guard    --environment staging with production's TF_STATE_KEY: refused
#   staging-deploy         push, apply, refresh, smoke; digest= in GITHUB_OUTPUT
#   promote-unverified     production refuses a digest staging has not verified
#                          (exit 2, no release, nothing pushed)
#   verify-staging         release/verify.sh: traffic through staging's URL (the key
#                          from the stack's secret), then the verified-staging tag
#   verify-again           the record exists already: nothing to do
#   promote                production deploys that digest, by digest: no push,
#                          no tag written, the same digest runs in both
#   verify-fails           5xx under traffic: exit 1, no record
#   promote-unverified-2   refused again, production keeps running its release
#   promote-override-fails --allow-unverified (loud), the smoke test fails:
#                          production rolls back to its previous digest; staging's
#                          state and service untouched
#   redeploy-digest        a named digest re-deployed to staging, by digest
#   plan-production        a pull request's plan of production (its stack, its summary)

echo "=== environments: staging, then production, the same digest"
shared=items-api-shared
"$STUB_REAL_AWS" ecr create-repository --repository-name "$shared" --image-tag-mutability IMMUTABLE >/dev/null
for env in staging production; do
    cp -r tests/deploy/stack "$work/stack-$env"
    mkdir -p "$work/stack-$env/environments"
    printf 'name                = "items-api-%s"\necr_repository_name = "%s"\n' "$env" "$shared" \
        >"$work/stack-$env/environments/$env.tfvars"
done
rm -f "$STUB_DIR/bad-tags"

# env_deploy ENV NAME WANT_RC [deploy.sh args]: run_deploy on ENV's stack with
# deploy.sh's defaults for --environment ENV (no TF_STATE_KEY).
env_deploy() {
    local env=$1 name=$2 want=$3
    shift 3
    DEPLOY_ENV=(TF_DIR="$work/stack-$env" TF_STATE_KEY= "${DEPLOY_ENV[@]}")
    run_deploy "$name" "$want" --environment "$env" "$@"
}
# run_verify NAME WANT_RC [verify.sh args]
run_verify() {
    local name=$1 want=$2 rc=0
    shift 2
    : >"$STUB_DIR/calls.log"
    rm -f "$work/summary.md" "$work/gh-output"
    env -u GITHUB_ACTIONS -u GITHUB_STEP_SUMMARY -u SMOKE_API_KEY VERIFY_SUMMARY="$work/summary.md" \
        GITHUB_OUTPUT="$work/gh-output" release/verify.sh "$@" >"$work/out/$name.log" 2>&1 || rc=$?
    cp "$STUB_DIR/calls.log" "$work/out/$name.calls"
    [[ ! -f $work/summary.md ]] || cp "$work/summary.md" "$work/out/$name.summary"
    echo "--- $name"
    if [[ $rc == "$want" ]]; then ok "$name: exit $rc"; else not_ok "$name: exit $rc, want $want" "$(tail -n 15 "$work/out/$name.log")"; fi
}
output_of() { sed -n "s/^$1=//p" "$work/gh-output" | tail -n 1; }
state_of() { "$STUB_REAL_AWS" s3api head-object --bucket "$bucket" --key "items-api/$1/terraform.tfstate" --query ETag --output text 2>/dev/null || echo none; }
served() { cat "$STUB_DIR/deployed-tag.items-api-$1-app" 2>/dev/null || true; }
record() { "$STUB_REAL_AWS" ecr describe-images --repository-name "$shared" --image-ids "imageTag=$1" --query 'imageDetails[0].imageDigest' --output text 2>/dev/null || true; }

DEPLOY_ENV=(TF_STATE_KEY=items-api/production/terraform.tfstate)
run_deploy env-state-key-guard 2 --environment staging --tag "$A"
check "env-state-key-guard: a TF_STATE_KEY naming another environment is refused" \
    out_has env-state-key-guard 'TF_STATE_KEY=items-api/production/terraform.tfstate does not name the environment staging'

V=$(printf '9%.0s' {1..40})
W=$(printf 'ab%.0s' {1..20})
add_image "items-api:$V" "$V"
env_deploy staging staging-deploy 0 --tag "$V"
DV=$(output_of digest)
expect "staging-deploy: pushes V to the shared repository" 1 "$(calls "^docker push .*/$shared:$V$")"
check "staging-deploy: state at items-api/staging/terraform.tfstate (deploy.sh's default)" test "$(state_of staging)" != none
expect "staging-deploy: the staging stack runs V" "$V" "$(current_image "$work/stack-staging")"
expect "staging-deploy: staging's service runs V" "$V" "$(served staging)"
check "staging-deploy: GITHUB_OUTPUT digest=sha256:..." test "${DV:0:7}" = sha256:
expect "staging-deploy: GITHUB_OUTPUT environment" staging "$(output_of environment)"
expect "staging-deploy: GITHUB_OUTPUT repository" "$shared" "$(output_of repository)"
check "staging-deploy: the summary names the environment" grep -q '^### Deploy to staging: deployed' "$work/out/staging-deploy.summary"

env_deploy production promote-unverified 2 --digest "$DV" --require-verified staging
check "promote-unverified: says staging has not verified the digest" \
    out_has promote-unverified "$DV has no verified-staging-${DV:7:12} tag"
expect "promote-unverified: no refresh" 0 "$(refreshes)"
expect "promote-unverified: nothing pushed, no tag written" 0 "$(calls '^(docker (login|push)|aws ecr put-image)')"
expect "promote-unverified: production has no launch template (only the registry lookup of a first deploy)" 0 \
    "$(terraform -chdir="$work/stack-production" state list 2>/dev/null | grep -c aws_launch_template || true)"
check "promote-unverified: the summary says refused" grep -q '^### Deploy to production: refused' "$work/out/promote-unverified.summary"

secret=$(terraform -chdir="$work/stack-staging" output -raw api_keys_secret_arn)
verify_args=(--url https://items-api-staging-alb.test.invalid --seconds 2 --rate 5 --secret-arn "$secret"
    --mark staging --repository "$shared" --digest "$DV")
run_verify verify-staging 0 "${verify_args[@]}"
expect "verify-staging: 10 requests" 10 "$(calls '^curl (POST )?https://items-api-staging-alb.test.invalid/v1/items.* auth=yes$')"
expect "verify-staging: 3 of them writes (30%)" 3 "$(calls '^curl POST ')"
expect "verify-staging: verified-staging-<12 hex> names the digest" "$DV" "$(record "verified-staging-${DV:7:12}")"
check "verify-staging: the summary has the figures" grep -q '10 requests in 2s: 0 5xx, 0 connection errors' "$work/out/verify-staging.summary"
expect "verify-staging: GITHUB_OUTPUT verify=passed" passed "$(output_of verify)"
run_verify verify-again 0 "${verify_args[@]}"
check "verify-again: the record exists: nothing to write" out_has verify-again 'already names'

staging_state=$(state_of staging)
env_deploy production promote 0 --digest "$DV" --require-verified staging
expect "promote: production runs the digest staging ran (by digest)" "${DV#sha256:}" "$(current_image "$work/stack-production")"
expect "promote: production's service runs it" "${DV#sha256:}" "$(served production)"
expect "promote: nothing pushed, no tag written (production only reads the repository)" 0 \
    "$(calls '^(docker|aws ecr (put-image|batch-get-image|get-login-password))')"
check "promote: the summary shows the record" grep -q "verified-staging-${DV:7:12}\`: staging deployed and verified" "$work/out/promote.summary"
expect "promote: GITHUB_OUTPUT digest is staging's" "$DV" "$(output_of digest)"
expect "promote: staging's state untouched" "$staging_state" "$(state_of staging)"
expect "promote: staging still serves V" "$V" "$(served staging)"

add_image "items-api:$W" "$W"
env_deploy staging staging-deploy-2 0 --tag "$W"
DW=$(output_of digest)
printf '%s\n%s\n' "$W" "${DW#sha256:}" >"$STUB_DIR/bad-tags"
run_verify verify-fails 1 --url https://items-api-staging-alb.test.invalid --seconds 2 --rate 5 --secret-arn "$secret" \
    --mark staging --repository "$shared" --digest "$DW"
check "verify-fails: the summary counts the 5xx" grep -q 'failed on | 10 5xx' "$work/out/verify-fails.summary"
expect "verify-fails: no record" "" "$(record "verified-staging-${DW:7:12}")"

env_deploy production promote-unverified-2 2 --digest "$DW" --require-verified staging
expect "promote-unverified-2: no refresh" 0 "$(refreshes)"
expect "promote-unverified-2: production still runs DV" "${DV#sha256:}" "$(current_image "$work/stack-production")"

staging_state=$(state_of staging)
env_deploy production promote-override-fails 1 --digest "$DW" --allow-unverified
check "promote-override-fails: the override is loud in the summary" grep -q 'OVERRIDE (--allow-unverified)' "$work/out/promote-override-fails.summary"
check "promote-override-fails: the rollback plans by digest" out_has promote-override-fails "rollback: terraform plan \(image_tag=$V, image_digest=$DV\)"
expect "promote-override-fails: production runs DV again" "${DV#sha256:}" "$(current_image "$work/stack-production")"
expect "promote-override-fails: production serves DV again" "${DV#sha256:}" "$(served production)"
expect "promote-override-fails: no refresh of staging's group" 0 "$(grep -c items-api-staging-app "$STUB_DIR/refreshes.log" || true)"
expect "promote-override-fails: staging's state untouched" "$staging_state" "$(state_of staging)"
expect "promote-override-fails: staging still serves W" "$W" "$(served staging)"
rm -f "$STUB_DIR/bad-tags"

env_deploy staging redeploy-digest 0 --no-push --digest "$DV"
expect "redeploy-digest: staging runs DV by digest" "${DV#sha256:}" "$(current_image "$work/stack-staging")"
expect "redeploy-digest: nothing pushed" 0 "$(calls '^docker push')"
check "redeploy-digest: the rollback target is W" grep -q "previous tag | \`$W\`" "$work/out/redeploy-digest.summary"

# A pull request's plan of one environment (ci-cd.yml's plan matrix).
DEPLOY_ENV=(PLAN_REFRESH=false DEPLOY_PLAN_FILE="$work/out/plan-production.txt")
env_deploy production plan-production 0 --plan-only --tag "$W"
check "plan-production: the summary names the environment" \
    grep -q '^### Terraform plan of production: image_tag' "$work/out/plan-production.summary"
check "plan-production: it plans production's stack" grep -q 'items-api-production-app' "$work/out/plan-production.txt"
expect "plan-production: production still runs DV" "${DV#sha256:}" "$(current_image "$work/stack-production")"
