#!/usr/bin/env bash
# Releases one image to the AWS stack: what the pipeline's deploy job runs,
# and what an operator runs by hand (same steps, same checks).
#
#   release/deploy.sh [--environment NAME] [--tag TAG] [--image REF | --no-push] [--var-file FILE]...
#   release/deploy.sh --environment NAME --digest sha256:HEX [--require-verified ENV | --allow-unverified]
#   release/deploy.sh --plan-only [--environment NAME] [--tag TAG] [--var-file FILE]...   (runs release/plan.sh)
#
#   1. terraform init (S3 backend) and read the current release: the previous
#      image tag is the rollback target (none on the very first deploy)
#   2. the image: already in ECR, or a local image built from commit TAG; with
#      --digest, a digest ECR holds (pushed by another environment's deploy);
#      with --require-verified ENV, the digest must carry ENV's record, the
#      tag verified-ENV-<12 hex> that release/verify.sh writes after ENV ran
#      and verified it (refused otherwise, exit 2, nothing changed)
#   3. terraform plan -var image_tag=TAG (and -var image_digest=DIGEST with
#      --digest: the instances run <repository>@DIGEST); refuse plans that
#      destroy anything (ALLOW_DESTROY=1 overrides)
#   4. push the image to ECR as <repository>:TAG (skipped with --no-push, or
#      when ECR already has TAG: tags are immutable)
#   5. terraform apply of that plan: a new launch template version runs TAG
#   6. start an instance refresh of the Auto Scaling group (rolling, minimum
#      healthy percentage, checkpoints, a bake time, auto-rollback on the
#      deploy-guard alarms: the preferences come from Terraform's outputs) and
#      wait for it, watching the alarms (release/guard.sh): one in ALARM rolls
#      the refresh back
#   7. smoke test through the load balancer: GET /healthz and an authenticated
#      GET /v1/items, SMOKE_PASSES times in a row. The API key goes only to an
#      https:// URL, or to http:// on a loopback address (a tunnel): a plain
#      http:// URL elsewhere (SMOKE_URL, or the service_url the plan would
#      give) is refused before anything changes
#   7b. bake: the deploy-guard alarms stay watched until the bake time after
#      the refresh is over (BakeTime of the preferences: the target-5xx alarm's
#      evaluation window, infrastructure/deploy-guard.json, plus one period)
#   8. on any failure after the apply started (the refresh failed or rolled
#      back, an alarm fired, the smoke test failed): apply the previous tag
#      (by digest when the previous release ran by digest) again, in this
#      environment only, refresh without the alarms (unless the group already rolled
#      itself back), smoke test, and exit 1 naming the failure
#
# First run: if the state has no ECR repository yet (a fresh stack deployed by
# hand), the repository is created first with a targeted apply, then the
# image is pushed, then the whole stack is applied. (The pipeline's first run
# needs the stack's OIDC role, so an administrator applies once by hand:
# docs/cicd.md.)
#
# Options:
#   --environment NAME  one stack of the root module (staging, production, ...):
#                    TF_STATE_KEY defaults to items-api/NAME/terraform.tfstate
#                    (when set, it must contain NAME), and
#                    <TF_DIR>/environments/NAME.tfvars, when present, is the
#                    first -var-file; NAME is in the summary and GITHUB_OUTPUT
#   --digest sha256:HEX  deploy the image ECR holds under that digest, by
#                    digest (implies --no-push; the tag is the one ECR has for
#                    it, or --tag when it names the same image)
#   --require-verified ENV  refuse (exit 2) a digest without ENV's
#                    verified-ENV-<12 hex> tag in the repository (production:
#                    --require-verified staging)
#   --allow-unverified  deploy without that record: the first bootstrap or an
#                    emergency; a warning in the log and the summary
#   --tag TAG        image tag = the commit SHA (default $GITHUB_SHA, else git HEAD)
#   --image REF      local image to push (default items-api:TAG if present, else
#                    items-api:dev); its org.opencontainers.image.revision label
#                    must equal TAG when TAG is a commit SHA
#   --no-push        deploy a tag that is already in ECR (manual rollback/redeploy)
#   --var-file FILE  extra terraform -var-file (repeatable)
#   --plan-only      steps 1-3 only, read-only (terraform plan -lock=false, no
#                    first-run repository): what pull requests run with the
#                    plan role; the job summary gets the counts and the
#                    addresses that change (it is public in a public
#                    repository), the full plan goes only to DEPLOY_PLAN_FILE
#                    when set; PLAN_REFRESH=false plans
#                    without reading the live resources (-refresh=false)
#
# Environment:
#   AWS_REGION (or AWS_DEFAULT_REGION)  region of the stack (required)
#   TF_STATE_BUCKET                      state bucket (required)
#   TF_STATE_KEY                         state key (default items-api/NAME/terraform.tfstate with
#                                        --environment NAME, else items-api/production/terraform.tfstate)
#   AWS_ACCOUNT_ID                       when set, the credentials must belong to it, and
#                                        Terraform gets allowed_account_ids = [it]
#   GITHUB_REPOSITORY                    when set, passed as -var github_repository
#   TF_DIR                               Terraform root (default infrastructure/)
#   TF_BACKEND_CONFIG                    extra space-separated -backend-config key=value pairs
#   SMOKE_URL                            base URL for the smoke test (default: output service_url);
#                                        https://, or http:// to 127.0.0.0/8, localhost or [::1]
#   SMOKE_API_KEY                        key for the authenticated read (default: the first key
#                                        in the API-keys secret, read with the deploy role)
#   SMOKE_ATTEMPTS (20), SMOKE_INTERVAL (6 s), SMOKE_PASSES (3)
#   REFRESH_TIMEOUT (2700 s), POLL_INTERVAL (30 s)
#                                        REFRESH_TIMEOUT bounds each wait for one
#                                        instance refresh; all of a run's waits
#                                        together (the release's refresh, one
#                                        somebody else started, rolling back a hung
#                                        one, the rollback's refresh) stop at
#                                        2 x REFRESH_TIMEOUT. The credentials and
#                                        the job must outlast that plus the rest
#                                        (minutes): ci-cd.yml has the arithmetic
#   BAKE_SECONDS                         the bake of step 7b (default: the refresh
#                                        preferences' BakeTime, from Terraform)
#   IMAGE_ENGINE                         docker|podman (default: image/engine.sh decides)
#   ALLOW_DESTROY=1                      apply plans that destroy resources
#
# Exit status: 0 deployed; 1 failed and rolled back to the previous tag;
# 2 refused before changing the stack (bad input, credentials, plan);
# 3 failed and NOT rolled back (no previous tag, or the rollback failed too):
# a human must look. Every exit but --help writes the job summary
# (DEPLOY_SUMMARY, else GITHUB_STEP_SUMMARY) and result= to GITHUB_OUTPUT,
# with environment=, tag=, digest= (what the next environment promotes),
# repository=, url= and api_keys_secret_arn= (release/verify.sh's key).
#
# Never prints a secret: the API key goes from the CLI into a 0600 header
# file that curl reads (-H @file), never into argv or the log.
set -euo pipefail

# The plan path is release/plan.sh; the release path is below, over
# release/lib.sh (steps 1-3, the summary), release/smoke.sh (step 7),
# release/guard.sh (the alarms that stop a bad release, step 6-7) and
# release/rollout.sh (steps 4-8: push, apply, refresh, rollback).
release_dir=$(dirname "${BASH_SOURCE[0]}")
# shellcheck source=release/lib.sh
source "$release_dir/lib.sh"
# shellcheck source=release/smoke.sh
source "$release_dir/smoke.sh"
# shellcheck source=release/guard.sh
source "$release_dir/guard.sh"
# shellcheck source=release/rollout.sh
source "$release_dir/rollout.sh"

start_run "$@"
if ((plan_only)); then
    exec "$release_dir/plan.sh" "$@"
fi

# --- 1-3. preflight, the current release, the image ----------------------------
check_inputs
check_smoke_url
preflight
current_release
check_image
if [[ -z $ecr_url ]]; then
    create_repository
    # A new environment's first deploy by digest: the (shared) repository
    # is in its state now.
    ((by_digest == 0)) || check_digest
fi
check_verified
pin=
((by_digest == 0)) || pin=$digest

# --- 4. plan -------------------------------------------------------------------------
group "terraform plan (image_tag=$tag${pin:+, image_digest=$pin})"
plan "$tag" release "$pin" || die 2 "terraform plan failed or was refused; nothing changed"
check_planned_url
endgroup

# --- 5. push ----------------------------------------------------------------------------
if [[ -z $digest ]]; then
    push_image
fi

# --- 6-8. apply, refresh, smoke; roll back on failure ---------------------------------
release "$tag"
if [[ -z $failure ]]; then
    summary "deployed $tag"
    exit 0
fi
log "deploy of $tag failed: $failure"

if [[ -z $previous_tag || ($previous_tag == "$tag" && ${previous_digest:-$digest} == "$digest") ]]; then
    summary "FAILED ($failure); no previous release to roll back to"
    die 3 "nothing to roll back to: the stack runs what the failed deploy left; fix forward or deploy a known good tag with --no-push --tag TAG"
fi
roll_back "$failure" "$self_rolled_back"
