#!/usr/bin/env bash
# Control-flow tests of release/deploy.sh, against moto plus stubs.
#
#   tests/deploy/run.sh [--part all|core|environments]
#
# --part: the single-stack scenarios (core: tests/deploy/scenarios.sh, with
# bad_releases.sh) or the two environments (environments.sh), each with its
# own moto and work dir, so that make test-deploy runs the two side by side;
# default all, one after the other.
#
# Real: terraform (S3 backend with lock file, in moto), the aws CLI for
# everything moto implements (STS, S3, ECR, EC2 launch templates, Auto
# Scaling groups, Secrets Manager). Stubbed (tests/deploy/stubs, first on
# PATH): the instance-refresh calls moto lacks (aws), docker (push creates the
# image in moto's ECR), curl (the service behind the load balancer, healthy
# or not depending on the image tag the last refresh rolled out) and date
# (a clock that a hanging refresh moves on).
# The Terraform root is tests/deploy/stack, a seconds-to-apply stand-in with
# the interface of infrastructure/; a contract check keeps the two in step.
#
# Scenarios: first deploy (no state at all), a normal deploy, a pull
# request's read-only plan (--plan-only), a redeploy of
# the same tag, smoke failure -> rollback, the group's own auto-rollback, a
# refresh that hangs, an apply that fails half-way, refusals that change
# nothing (tag latest, tag not in ECR, image from another revision, a failed
# push, wrong account, a plan that destroys, an API key that would go over
# plain HTTP), waiting for somebody else's refresh, a
# manual rollback with --no-push, a failed first deploy (nothing to roll
# back to), a first deploy whose ECR repository cannot be created, and
# somebody else's refresh that outlasts REFRESH_TIMEOUT, and the bad
# releases the deploy guard stops (tests/deploy/bad_releases.sh), and two
# environments with promotion by digest, the verification under traffic and
# its record, refusals and a rollback of one environment
# (tests/deploy/environments.sh). Every failure and refusal writes a job
# summary. Secrets never reach argv, logs or summaries.
set -euo pipefail

part=all
if [[ ${1:-} == --part ]]; then
    part=${2:-}
    shift 2 || true
fi
case $part in
all | core | environments) ;;
*)
    echo "usage: tests/deploy/run.sh [--part all|core|environments]" >&2
    exit 2
    ;;
esac

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
started=$(date +%s)
work=$(mktemp -d "${TMPDIR:-/tmp}/items-api-deploy-test.XXXXXX")
# shellcheck source=tests/lib/checks.sh
source tests/lib/checks.sh

# shellcheck disable=SC2317  # invoked by the EXIT trap
finish() {
    local rc=$?
    tests/lib/moto.sh stop "$work/moto" || true
    if ((rc == 0 && failed == 0)) && [[ -z ${KEEP_WORKDIR:-} ]]; then
        rm -rf "$work"
    else
        echo "deploy test: work dir kept: $work" >&2
    fi
    exit "$rc"
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# calls PATTERN: how many recorded stub calls match (extended regex)
calls() { grep -cE "$1" "$STUB_DIR/calls.log" || true; }

# --- 1. contract: the stand-in and deploy.sh match infrastructure/ --------------
# (once: the environments part, run beside the core part, skips it)
check_contract() {
    echo "=== contract with infrastructure/"
    infra=infrastructure
    mapfile -t outputs < <(cat release/*.sh | grep -oE 'tf_out [a-z_]+' | awk '{print $2}' | sort -u)
    mapfile -t stand_in_outputs < <(sed -n -E 's/^output "([a-z_]+)".*/\1/p' tests/deploy/stack/main.tf)
    mapfile -t variables < <(cat release/*.sh | grep -oE -- '-var "[a-z_]+=' | sed -E 's/-var "([a-z_]+)=/\1/' | sort -u)
    for out in "${outputs[@]}"; do
        if grep -qE "^output \"$out\"" "$infra/outputs.tf"; then
            ok "infrastructure/ has output $out (read by deploy.sh)"
        else
            not_ok "infrastructure/outputs.tf lacks output \"$out\", which deploy.sh reads"
        fi
    done
    for out in "${stand_in_outputs[@]}"; do
        grep -qE "^output \"$out\"" "$infra/outputs.tf" || not_ok "the stand-in's output $out is not in infrastructure/outputs.tf"
    done
    for var in "${variables[@]}"; do
        if grep -qE "^variable \"$var\"" "$infra/variables.tf"; then
            ok "infrastructure/ has variable $var (set by deploy.sh)"
        else
            not_ok "infrastructure/variables.tf lacks variable \"$var\", which deploy.sh sets"
        fi
    done
    check 'infrastructure/ has module "registry" (the first-deploy target)' grep -qE '^module "registry"' "$infra/main.tf"
    check 'infrastructure/ has data "aws_ecr_repository" "shared" (the first-deploy target with a shared repository)' \
        grep -qE '^data "aws_ecr_repository" "shared"' "$infra/main.tf"
    policy=$infra/modules/github_oidc/main.tf
    for action in autoscaling:StartInstanceRefresh autoscaling:RollbackInstanceRefresh autoscaling:CancelInstanceRefresh \
        autoscaling:Describe ecr:GetAuthorizationToken ecr:PutImage ecr:DescribeImages ecr:BatchGetImage s3:PutObject; do
        check "the deploy role may $action" grep -q "\"$action" "$policy"
    done
    check "the deploy role may read the API-keys secret (smoke test): secretsmanager:* on <name>/*" \
        grep -qE 'Action += \["secretsmanager:\*"\]' "$policy"
}
[[ $part == environments ]] || check_contract

# --- 2. moto, stubs and the stand-in stack ----------------------------------------
echo "=== setting up moto, stubs and the stand-in stack"
# shellcheck source=lib/tf-env.sh
source lib/tf-env.sh
export AWS_REGION=eu-west-1 AWS_DEFAULT_REGION=eu-west-1 AWS_EC2_METADATA_DISABLED=true
eval "$(tests/lib/moto.sh start "$work/moto")"
STUB_REAL_AWS=$(command -v aws)
STUB_DIR=$work/stub
export STUB_REAL_AWS STUB_DIR
mkdir -p "$STUB_DIR" "$work/out"
export PATH="$root/tests/deploy/stubs:$PATH"
[[ $(command -v aws) == "$root/tests/deploy/stubs/aws" ]] || {
    echo "deploy test: the aws stub is not first on PATH" >&2
    exit 1
}

bucket=items-api-deploy-test-state
"$STUB_REAL_AWS" s3api create-bucket --bucket "$bucket" \
    --create-bucket-configuration LocationConstraint="$AWS_REGION" >/dev/null
cp -r tests/deploy/stack "$work/stack"
cp -r tests/deploy/stack "$work/stack2"
smoke_key="smoke-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
printf '%s\n' "$smoke_key" >"$STUB_DIR/expected-key"
export TF_VAR_smoke_api_key=$smoke_key
: >"$STUB_DIR/calls.log"

A=$(printf 'a%.0s' {1..40})
B=$(printf 'b%.0s' {1..40})
C=$(printf 'c%.0s' {1..40})
D=$(printf 'd%.0s' {1..40})
E=$(printf 'e%.0s' {1..40})
F=$(printf 'f%.0s' {1..40})
G=$(printf '1%.0s' {1..40})
H=$(printf '2%.0s' {1..40})
P=$(printf '3%.0s' {1..40})

# run_deploy NAME WANT_RC [deploy.sh args...]; environment overrides via
# DEPLOY_ENV (an array of NAME=VALUE).
DEPLOY_ENV=()
run_deploy() {
    local name=$1 want=$2 rc=0 t0=$SECONDS
    shift 2
    : >"$STUB_DIR/calls.log"
    rm -f "$STUB_DIR/refreshes.log" "$work/summary.md" "$work/gh-output"
    env -u GITHUB_ACTIONS -u GITHUB_STEP_SUMMARY -u GITHUB_SHA -u GITHUB_OUTPUT -u AWS_ACCOUNT_ID \
        TF_DIR="$work/stack" TF_STATE_BUCKET="$bucket" TF_STATE_KEY=items-api/test/terraform.tfstate \
        TF_BACKEND_CONFIG=use_path_style=true GITHUB_REPOSITORY=example-org/items-api \
        IMAGE_ENGINE=docker SMOKE_ATTEMPTS=3 SMOKE_INTERVAL=0 SMOKE_PASSES=2 POLL_INTERVAL=0 REFRESH_TIMEOUT=60 BAKE_SECONDS=0 \
        DEPLOY_SUMMARY="$work/summary.md" GITHUB_OUTPUT="$work/gh-output" \
        "${DEPLOY_ENV[@]}" release/deploy.sh "$@" >"$work/out/$name.log" 2>&1 || rc=$?
    cp "$STUB_DIR/calls.log" "$work/out/$name.calls"
    [[ ! -f $work/summary.md ]] || cp "$work/summary.md" "$work/out/$name.summary"
    DEPLOY_ENV=()
    echo "--- $name ($((SECONDS - t0)) s)"
    if [[ $rc == "$want" ]]; then
        ok "$name: exit $rc"
    else
        not_ok "$name: exit $rc, want $want" "$(tail -n 25 "$work/out/$name.log")"
    fi
}
out_has() { grep -qE -- "$2" "$work/out/$1.log"; }
lacks() { ! grep -qE -- "$1" "$2"; }
# current_image [DIR]: the tag the stack's state runs
current_image() { terraform -chdir="${1:-$work/stack}" output -raw image 2>/dev/null | sed 's/.*://'; }
deployed() { cat "$STUB_DIR/deployed-tag" 2>/dev/null || true; }
refreshes() { if [[ -f $STUB_DIR/refreshes.log ]]; then wc -l <"$STUB_DIR/refreshes.log" | tr -d ' '; else echo 0; fi; }
# refresh_field N PYTHON-EXPR over r (the Nth refresh started in this run)
refresh_field() {
    python3 -c 'import json, sys
r = [json.loads(l) for l in open(sys.argv[1])][int(sys.argv[2]) - 1]
v = eval(sys.argv[3])
print(v if isinstance(v, str) else json.dumps(v))' "$STUB_DIR/refreshes.log" "$1" "$2"
}
add_image() { echo "$1 $2" >>"$STUB_DIR/images"; }

# --- 3. scenarios ---------------------------------------------------------------------
case $part in
all | core)
    # shellcheck source=tests/deploy/scenarios.sh
    source tests/deploy/scenarios.sh
    ;;
esac
case $part in
all | environments)
    # Staging and production side by side, promotion by digest (issue 14).
    # shellcheck source=tests/deploy/environments.sh
    source tests/deploy/environments.sh
    ;;
esac

# --- 4. no secret anywhere ------------------------------------------------------------
leaks=$(grep -rF "$smoke_key" "$work/out" | grep -vF "::add-mask::$smoke_key" || true)
if [[ -z $leaks ]]; then
    ok "the API key appears in no output, summary or recorded command line (only in ::add-mask::)"
else
    not_ok "the API key appears in an output, a summary or a recorded command line" "${leaks%%:*}"
fi

echo "=== deploy tests ($part): $passed passed, $failed failed ($(($(date +%s) - started)) s)"
((failed == 0))
