#!/usr/bin/env bash
# Releases one image to the AWS stack: what the pipeline's deploy job runs,
# and what an operator runs by hand (same steps, same checks).
#
#   release/deploy.sh [--tag TAG] [--image REF | --no-push] [--var-file FILE]...
#   release/deploy.sh --plan-only [--tag TAG] [--var-file FILE]...
#
#   1. terraform init (S3 backend) and read the current release: the previous
#      image tag is the rollback target (none on the very first deploy)
#   2. the image: already in ECR, or a local image built from commit TAG
#   3. terraform plan -var image_tag=TAG; refuse plans that destroy anything
#      (ALLOW_DESTROY=1 overrides)
#   4. push the image to ECR as <repository>:TAG (skipped with --no-push, or
#      when ECR already has TAG: tags are immutable)
#   5. terraform apply of that plan: a new launch template version runs TAG
#   6. start an instance refresh of the Auto Scaling group (rolling, minimum
#      healthy percentage, checkpoints, auto-rollback on the deploy-guard
#      alarms: the preferences come from Terraform's outputs) and wait for it
#   7. smoke test through the load balancer: GET /healthz and an authenticated
#      GET /v1/items, SMOKE_PASSES times in a row. The API key goes only to an
#      https:// URL, or to http:// on a loopback address (a tunnel): a plain
#      http:// URL elsewhere (SMOKE_URL, or the service_url the plan would
#      give) is refused before anything changes
#   8. on any failure after the apply started: apply the previous tag again, refresh
#      (unless the group already rolled itself back), smoke test, and exit 1
#
# First run: if the state has no ECR repository yet (a fresh stack deployed by
# hand), the repository is created first with a targeted apply, then the
# image is pushed, then the whole stack is applied. (The pipeline's first run
# needs the stack's OIDC role, so an administrator applies once by hand:
# docs/cicd.md.)
#
# Options:
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
#   TF_STATE_KEY                         state key (default items-api/production/terraform.tfstate)
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
#   IMAGE_ENGINE                         docker|podman (default: image/engine.sh decides)
#   ALLOW_DESTROY=1                      apply plans that destroy resources
#
# Exit status: 0 deployed; 1 failed and rolled back to the previous tag;
# 2 refused before changing the stack (bad input, credentials, plan);
# 3 failed and NOT rolled back (no previous tag, or the rollback failed too):
# a human must look. Every exit but --help writes the job summary
# (DEPLOY_SUMMARY, else GITHUB_STEP_SUMMARY) and result= to GITHUB_OUTPUT.
#
# Never prints a secret: the API key goes from the CLI into a 0600 header
# file that curl reads (-H @file), never into argv or the log.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

started=$(date +%s)
log() { printf 'deploy [%4ss]: %s\n' "$(($(date +%s) - started))" "$*" >&2; }
fail_reason=
die() {
    local code=$1
    shift
    fail_reason=$*
    log "ERROR: $*"
    exit "$code"
}

# What the summary reports; set as the run goes.
previous_tag=
ecr_url=
digest=
asg=
refresh_id=
refresh_result=
rollback_refresh=
plan_line=
smoke_base=
plan_only=0
summary_written=0
repo_created=0   # a first deploy created the ECR repository
applied=         # the tags of the release applies that started, in order
summary_file=${DEPLOY_SUMMARY:-${GITHUB_STEP_SUMMARY:-}}
work=

# summary RESULT [NOTE]: the job summary (and step outputs) of this run.
summary() {
    local result=$1 note=${2:-}
    summary_written=1
    log "result: $result"
    if [[ -n ${GITHUB_OUTPUT:-} ]]; then
        {
            echo "tag=$tag"
            echo "previous_tag=$previous_tag"
            echo "url=${smoke_base:-}"
            echo "result=$result"
        } >>"$GITHUB_OUTPUT"
    fi
    [[ -n $summary_file ]] || return 0
    {
        if ((plan_only)); then echo "### Terraform plan: $result"; else echo "### Deploy: $result"; fi
        echo
        [[ -z $note ]] || printf '%s\n\n' "$note"
        echo "| | |"
        echo "| --- | --- |"
        echo "| image | \`${ecr_url:-?}:$tag\` |"
        echo "| digest | \`${digest:-?}\` |"
        echo "| previous tag | \`${previous_tag:-none (first deploy)}\` |"
        echo "| service URL | ${smoke_base:-?} |"
        echo "| Auto Scaling group | \`${asg:-?}\` |"
        echo "| instance refresh | \`${refresh_id:-none}\` |"
        [[ -z ${rollback_refresh:-} ]] || echo "| rollback refresh | \`$rollback_refresh\` |"
        echo "| plan | ${plan_line:-?} |"
        echo "| duration | $(($(date +%s) - started)) s |"
    } >>"$summary_file"
}

# Every exit but --help leaves a summary: the paths that write none
# themselves (refusals, exit 3 before a rollback was possible, errors,
# signals) get one here.
# shellcheck disable=SC2317  # invoked by the EXIT trap
on_exit() {
    local rc=$? note
    if ((rc != 0 && summary_written == 0)); then
        case $rc in
        130) fail_reason="interrupted (SIGINT)" ;;
        143) fail_reason="interrupted (SIGTERM)" ;;
        esac
        [[ -n $fail_reason ]] || fail_reason="unexpected error (exit $rc): see the log"
        if [[ -z $applied ]]; then
            note="Nothing was released: the service still runs ${previous_tag:-what it ran before}."
            ((repo_created == 0)) || note+=" (The ECR repository was created for the first deploy.)"
        else
            note="NOT rolled back: terraform applied image_tag $applied"
            note+="${refresh_id:+, instance refresh $refresh_id (${refresh_result:-status unknown})}"
            note+=". A human must look (docs/cicd.md, Rolling back by hand)."
        fi
        if ((rc == 2)); then
            summary "refused ($fail_reason)" "$note" || true
        else
            summary "FAILED ($fail_reason)" "$note" || true
        fi
    fi
    [[ -z $work ]] || rm -rf "$work"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- arguments and configuration ---------------------------------------------
tag=${GITHUB_SHA:-}
image_ref=
push=1
var_files=()
usage() { sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//' >&2; }
while (($# > 0)); do
    case $1 in
    --tag)
        [[ -n ${2:-} ]] || die 2 "--tag needs a value"
        tag=$2
        shift
        ;;
    --image)
        [[ -n ${2:-} ]] || die 2 "--image needs a value"
        image_ref=$2
        shift
        ;;
    --no-push) push=0 ;;
    --plan-only) plan_only=1 ;;
    --var-file)
        [[ -n ${2:-} ]] || die 2 "--var-file needs a value"
        [[ -f $2 ]] || die 2 "no such var file: $2"
        var_files+=("-var-file=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")")
        shift
        ;;
    -h | --help)
        usage
        exit 0
        ;;
    *) die 2 "unknown argument '$1' (--help)" ;;
    esac
    shift
done

region=${AWS_REGION:-${AWS_DEFAULT_REGION:-}}
state_bucket=${TF_STATE_BUCKET:-}
state_key=${TF_STATE_KEY:-items-api/production/terraform.tfstate}
tf_dir=${TF_DIR:-$root/infrastructure}
smoke_attempts=${SMOKE_ATTEMPTS:-20}
smoke_interval=${SMOKE_INTERVAL:-6}
smoke_passes=${SMOKE_PASSES:-3}
refresh_timeout=${REFRESH_TIMEOUT:-2700}
poll_interval=${POLL_INTERVAL:-30}
# Seconds of refresh waiting left in this run: 2 x REFRESH_TIMEOUT in all.
refresh_budget=$((2 * refresh_timeout))
in_actions=0
[[ ${GITHUB_ACTIONS:-} == true ]] && in_actions=1

work=$(mktemp -d "${TMPDIR:-/tmp}/items-api-deploy.XXXXXX")
chmod 0700 "$work"

group() { if ((in_actions)); then echo "::group::$*"; else log "== $*"; fi; }
endgroup() { if ((in_actions)); then echo "::endgroup::"; fi; }

# --- helpers -----------------------------------------------------------------------
tf() { terraform -chdir="$tf_dir" "$@"; }

# The root module's outputs, read once after each state change (terraform
# output prints a warning, not an error, when the state has none).
load_outputs() {
    tf output -no-color -json >"$work/outputs.json" 2>/dev/null || echo '{}' >"$work/outputs.json"
}
# tf_out NAME: an output as raw text (strings unquoted), empty when absent or null.
tf_out() {
    python3 - "$work/outputs.json" "$1" <<'PY'
import json, sys
try:
    value = json.load(open(sys.argv[1])).get(sys.argv[2], {}).get("value")
except ValueError:
    value = None
if value is not None:
    print(value if isinstance(value, str) else json.dumps(value))
PY
}

# ecr_digest TAG: the digest ECR holds for TAG, empty when none.
ecr_digest() {
    local digest
    digest=$(aws ecr describe-images --region "$region" --repository-name "$repo_name" \
        --image-ids "imageTag=$1" --query 'imageDetails[0].imageDigest' --output text 2>/dev/null) || return 0
    [[ $digest == sha256:* ]] && printf '%s' "$digest"
    return 0
}

valid_tag() { [[ $1 =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ && ${1,,} != latest ]]; }

engine() {
    "$root/image/engine.sh" "$@"
}

# plan_and_apply TAG: plan with the tag, refuse destroys, apply the saved plan.
# Returns 2 when the plan itself fails or is refused (nothing changed), 1 when
# the apply fails.
# set_tf_vars TAG: the variables every plan and apply gets (after the var files,
# so these win): the release, and the backend the deploy role is scoped to.
set_tf_vars() {
    tf_vars=(-var "image_tag=$1" -var "aws_region=$region"
        -var "tf_state_bucket=$state_bucket" -var "tf_state_key=$state_key")
    if [[ -n ${GITHUB_REPOSITORY:-} ]]; then tf_vars+=(-var "github_repository=$GITHUB_REPOSITORY"); fi
    if [[ -n ${AWS_ACCOUNT_ID:-} ]]; then tf_vars+=(-var "allowed_account_ids=[\"$AWS_ACCOUNT_ID\"]"); fi
}

plan() {
    local t=$1 rc=0
    set_tf_vars "$t"
    local lock=(-lock-timeout=10m)
    if ((plan_only)); then
        lock=(-lock=false)
        [[ ${PLAN_REFRESH:-true} != false ]] || lock+=(-refresh=false)
    fi
    tf plan -no-color -input=false "${lock[@]}" -detailed-exitcode -out="$work/tfplan" \
        "${var_files[@]}" "${tf_vars[@]}" >"$work/plan.log" 2>&1 || rc=$?
    if ((rc == 1)); then
        tail -n 40 "$work/plan.log" >&2
        return 2
    fi
    plan_line=$(grep -E '^(Plan:|No changes\.)' "$work/plan.log" | tail -n 1 || true)
    log "plan for $t: ${plan_line:-?}"
    local destroys
    destroys=$(sed -n -E 's/^Plan: [0-9]+ to add, [0-9]+ to change, ([0-9]+) to destroy.*/\1/p' "$work/plan.log")
    if ((plan_only)); then
        return 0
    fi
    if [[ ${destroys:-0} != 0 && ${ALLOW_DESTROY:-0} != 1 ]]; then
        grep -E '^  # .* (will be destroyed|must be replaced)' "$work/plan.log" >&2 || true
        log "the plan destroys $destroys resource(s): refused (ALLOW_DESTROY=1 to apply anyway)"
        return 2
    fi
    return 0
}

apply_plan() {
    if ! tf apply -no-color -input=false -lock-timeout=10m "$work/tfplan" >"$work/apply.log" 2>&1; then
        tail -n 40 "$work/apply.log" >&2
        load_outputs
        return 1
    fi
    grep -E '^Apply complete' "$work/apply.log" >&2 || true
    load_outputs
}

# The status of refresh $1: Pending|InProgress|Successful|Failed|Cancelling|
# Cancelled|RollbackInProgress|RollbackFailed|RollbackSuccessful|Baking
refresh_status() {
    aws autoscaling describe-instance-refreshes --region "$region" --auto-scaling-group-name "$asg" \
        --instance-refresh-ids "$1" --query 'InstanceRefreshes[0].[Status,PercentageComplete,StatusReason]' \
        --output text
}

terminal() { [[ $1 =~ ^(Successful|Failed|Cancelled|RollbackFailed|RollbackSuccessful)$ ]]; }

# wait_refresh ID: polls until a terminal status or the timeout; sets
# wait_result to the status, or Timeout. Each wait lasts at most
# REFRESH_TIMEOUT, and what is left of the run's budget (refresh_budget).
wait_refresh() {
    local id=$1 t0 limit deadline line status last=
    t0=$(date +%s)
    limit=$((refresh_budget < refresh_timeout ? refresh_budget : refresh_timeout))
    ((limit > 0)) || limit=0
    deadline=$((t0 + limit))
    while :; do
        line=$(refresh_status "$id") || line="Unknown"
        status=${line%%$'\t'*}
        if [[ $line != "$last" ]]; then
            log "refresh $id: $(tr '\t' ' ' <<<"$line")"
            last=$line
        fi
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
    local desired prefs
    desired=$(tf_out instance_refresh_desired_configuration)
    prefs=$(tf_out instance_refresh_preferences)
    [[ -n $desired && -n $prefs ]] || {
        log "Terraform outputs instance_refresh_desired_configuration / instance_refresh_preferences are missing"
        refresh_result=Failed
        return 0
    }
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
    wait_refresh "$refresh_id"
    refresh_result=$wait_result
    if [[ $refresh_result == Timeout ]]; then
        log "refresh $refresh_id did not finish in time: rolling it back"
        if aws autoscaling rollback-instance-refresh --region "$region" --auto-scaling-group-name "$asg" >/dev/null 2>&1 ||
            aws autoscaling cancel-instance-refresh --region "$region" --auto-scaling-group-name "$asg" >/dev/null 2>&1; then
            wait_refresh "$refresh_id"
            refresh_result=$wait_result
            [[ $refresh_result != Timeout ]] || refresh_result=Failed
        else
            refresh_result=Failed
        fi
    fi
    log "refresh $refresh_id: $refresh_result"
}

# key_url_ok URL: whether the smoke test may send an API key to URL: https://,
# or http:// whose host is a loopback address (an SSH or Session Manager
# tunnel). Anything else (plain http:// to another host, no scheme, which
# curl would take as http) would put the key on the network in clear text.
key_url_ok() {
    local url=$1 lower host
    lower=${url,,}
    url_host "$url"
    host=$url_host
    [[ -n $host ]] || return 1
    case $lower in
    https://*) return 0 ;;
    http://*) [[ $host == localhost || $host == "[::1]" || $host =~ ^127\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}$ ]] ;;
    *) return 1 ;;
    esac
}
# url_host URL: sets url_host to URL's host in lower case (no user info, no
# port); empty without a scheme.
url_host() {
    local rest authority
    url_host=
    [[ $1 == *://* ]] || return 0
    rest=${1#*://}
    authority=${rest%%[/?#]*}
    authority=${authority##*@}
    if [[ $authority == \[* ]]; then
        url_host=${authority%%]*}]
    else
        url_host=${authority%%:*}
    fi
    url_host=${url_host,,}
}
# safe_url URL: scheme://host of URL, for messages (no user info, path or query).
safe_url() {
    url_host "$1"
    if [[ -n $url_host ]]; then printf '%s://%s' "${1%%://*}" "$url_host"; else printf '%s' '<no scheme or host>'; fi
}
refuse_plain_http() {
    die 2 "refusing to send an API key to $(safe_url "$1") ($2): plain HTTP to a host that is not loopback carries the key in clear text. Serve HTTPS (certificate_arn or domain_name; allow_plain_http = false), or set SMOKE_URL to an https:// URL or to http://127.0.0.1:PORT through a tunnel"
}

# planned_service_url: the service_url output the saved plan gives, empty
# when it is unknown until the apply.
planned_service_url() {
    tf show -no-color -json "$work/tfplan" 2>/dev/null | python3 -c '
import json, sys
try:
    plan = json.load(sys.stdin)
except ValueError:
    sys.exit(0)
out = (plan.get("planned_values") or {}).get("outputs", {}).get("service_url") or {}
value = out.get("value")
if isinstance(value, str):
    print(value)
' || true
}

# The smoke test's API key, into a header file only curl reads.
prepare_smoke_key() {
    local key=${SMOKE_API_KEY:-} arn
    if [[ -z $key ]]; then
        arn=$(tf_out api_keys_secret_arn)
        [[ -n $arn ]] || {
            log "no SMOKE_API_KEY and no api_keys_secret_arn output"
            return 1
        }
        key=$(aws secretsmanager get-secret-value --region "$region" --secret-id "$arn" \
            --query SecretString --output text | awk 'NF && $1 !~ /^#/ {print $1; exit}') || true
    fi
    [[ -n $key ]] || {
        log "no API key for the smoke test (the secret is empty?)"
        return 1
    }
    ((in_actions)) && echo "::add-mask::$key"
    (
        umask 077
        printf 'Authorization: Bearer %s\n' "$key" >"$work/auth-header"
    )
}

# http PATH [curl args]: prints the status code; the body goes to $work/body.
http() {
    local path=$1
    shift
    curl -sS -o "$work/body" -w '%{http_code}' --max-time 10 "$@" "$smoke_base$path" 2>"$work/curl.err" || true
}

# smoke: SMOKE_PASSES consecutive good rounds (several instances behind the
# load balancer answer) within SMOKE_ATTEMPTS tries.
smoke() {
    local attempt good=0 h r
    smoke_base=${SMOKE_URL:-$(tf_out service_url)}
    [[ -n $smoke_base ]] || smoke_base="http://$(tf_out alb_dns_name)"
    smoke_base=${smoke_base%/}
    if ! key_url_ok "$smoke_base"; then
        log "refusing to send an API key to $(safe_url "$smoke_base"): plain HTTP to a host that is not loopback"
        return 1
    fi
    prepare_smoke_key || return 1
    for ((attempt = 1; attempt <= smoke_attempts; attempt++)); do
        h=$(http /healthz)
        r=000
        [[ $h == 200 ]] && r=$(http '/v1/items?limit=1' -H "@$work/auth-header")
        if [[ $h == 200 && $r == 200 ]] && grep -q '"items"' "$work/body"; then
            good=$((good + 1))
            if ((good >= smoke_passes)); then
                log "smoke test passed: $smoke_base/healthz 200, authenticated /v1/items 200 ($good in a row)"
                return 0
            fi
            continue
        fi
        good=0
        log "smoke attempt $attempt/$smoke_attempts: /healthz $h, /v1/items $r $(head -c 200 "$work/curl.err" 2>/dev/null)"
        ((attempt == smoke_attempts)) || sleep "$smoke_interval"
    done
    log "smoke test failed against $smoke_base"
    return 1
}

# --- 1. preflight --------------------------------------------------------------
[[ -n $tag ]] || tag=$(git -C "$root" rev-parse --verify -q HEAD 2>/dev/null || true)
[[ -n $tag ]] || die 2 "no tag: pass --tag (the commit SHA)"
valid_tag "$tag" || die 2 "image tag '$tag' is not an immutable Docker tag (letters, digits, _ . -; not latest)"
[[ -n $region ]] || die 2 "AWS_REGION is not set"
[[ -n $state_bucket ]] || die 2 "TF_STATE_BUCKET is not set"
[[ -d $tf_dir ]] || die 2 "no Terraform root at $tf_dir"
for tool in aws terraform curl python3; do
    command -v "$tool" >/dev/null || die 2 "$tool is not installed"
done
if [[ -n ${SMOKE_URL:-} ]] && ((plan_only == 0)); then
    key_url_ok "$SMOKE_URL" || refuse_plain_http "$SMOKE_URL" "SMOKE_URL"
fi

group "preflight: tag $tag, region $region"
account=$(aws sts get-caller-identity --query Account --output text) || die 2 "no AWS credentials"
log "AWS account $account"
if [[ -n ${AWS_ACCOUNT_ID:-} && $account != "$AWS_ACCOUNT_ID" ]]; then
    die 2 "the credentials are for account $account, not AWS_ACCOUNT_ID=$AWS_ACCOUNT_ID"
fi

backend=(-backend-config="bucket=$state_bucket" -backend-config="key=$state_key" -backend-config="region=$region")
for kv in ${TF_BACKEND_CONFIG:-}; do backend+=(-backend-config="$kv"); done
tf init -no-color -input=false -reconfigure "${backend[@]}" >"$work/init.log" 2>&1 || {
    cat "$work/init.log" >&2
    die 2 "terraform init failed"
}
load_outputs
endgroup

# --- 2. the current release -------------------------------------------------------
group "current release"
ecr_url=$(tf_out ecr_repository_url)
previous_image=$(tf_out image)
registry=${ecr_url%%/*}
repo_name=${ecr_url#*/}
if [[ -z $ecr_url ]]; then
    log "no ECR repository in the state yet: first deploy of this stack"
elif [[ $previous_image == "$ecr_url:"* ]]; then
    previous_tag=${previous_image##*:}
    if [[ -z $(ecr_digest "$previous_tag") ]]; then
        log "the state names $previous_tag, which is not in ECR: no rollback target"
        previous_tag=
    fi
fi
[[ $previous_tag == "$tag" ]] && log "$tag is already the current release: redeploying it"
log "repository ${ecr_url:-none yet}; previous tag: ${previous_tag:-none (first deploy)}"
endgroup

# --- 3. the image: what will be deployed (before the plan: fail fast) ----------
group "image"
digest=
if [[ -n $ecr_url ]]; then digest=$(ecr_digest "$tag"); fi
if ((push == 0 || plan_only)); then
    if [[ -n $digest ]]; then
        log "$ecr_url:$tag is in ECR ($digest)"
    elif ((plan_only)); then
        log "$tag is not in ECR (yet): a plan only"
    else
        die 2 "--no-push: ECR has no image ${ecr_url:-<no repository yet>}:$tag"
    fi
elif [[ -n $digest ]]; then
    log "ECR already has $ecr_url:$tag ($digest): not pushing again (tags are immutable)"
else
    if [[ -z $image_ref ]]; then
        if engine image inspect "items-api:$tag" >/dev/null 2>&1; then image_ref=items-api:$tag; else image_ref=items-api:dev; fi
    fi
    engine image inspect "$image_ref" >/dev/null 2>&1 || die 2 "no local image $image_ref (make image, or --image)"
    revision=$(engine image inspect --format '{{index .Config.Labels "org.opencontainers.image.revision"}}' "$image_ref" 2>/dev/null || true)
    if [[ $tag =~ ^[0-9a-f]{40}$ && $revision != "$tag" ]]; then
        die 2 "$image_ref was built from revision '${revision:-?}', not $tag: refusing to publish it under that tag"
    fi
    log "will push $image_ref (revision ${revision:-?})"
fi
endgroup

# The very first deploy of a stack by hand: the repository must exist before
# the push, and before the plan (a saved plan goes stale when the state changes).
if [[ -z $ecr_url ]] && ((plan_only == 0)); then
    group "first deploy: creating the ECR repository (terraform apply -target=module.registry)"
    set_tf_vars "$tag"
    tf apply -no-color -input=false -auto-approve -lock-timeout=10m -target=module.registry \
        "${var_files[@]}" "${tf_vars[@]}" >"$work/bootstrap.log" 2>&1 || {
        tail -n 40 "$work/bootstrap.log" >&2
        die 3 "creating the ECR repository failed"
    }
    repo_created=1
    load_outputs
    ecr_url=$(tf_out ecr_repository_url)
    [[ -n $ecr_url ]] || die 3 "the state has no ecr_repository_url output after creating the repository"
    registry=${ecr_url%%/*}
    repo_name=${ecr_url#*/}
    log "created $ecr_url"
    endgroup
fi

# --- 4. plan -------------------------------------------------------------------------
group "terraform plan (image_tag=$tag)"
plan "$tag" || die 2 "terraform plan failed or was refused; nothing changed"
if [[ -z ${SMOKE_URL:-} ]] && ((plan_only == 0)); then
    # Where the smoke test will send the key: refused now, before the push
    # and the apply, rather than after the release.
    planned_url=$(planned_service_url)
    [[ -n $planned_url ]] || planned_url=$(tf_out service_url)
    if [[ -n $planned_url ]] && ! key_url_ok "$planned_url"; then
        refuse_plain_http "$planned_url" "the stack's service_url"
    fi
fi
endgroup

if ((plan_only)); then
    tf show -no-color "$work/tfplan" >"$work/plan.txt" 2>&1 || cp "$work/plan.log" "$work/plan.txt"
    [[ -z ${DEPLOY_PLAN_FILE:-} ]] || cp "$work/plan.txt" "$DEPLOY_PLAN_FILE"
    # The summary is public in a public repository: the counts and the
    # addresses that change, never the plan itself (account id, policies,
    # endpoints); the full plan goes only to DEPLOY_PLAN_FILE.
    if [[ -n $summary_file ]]; then
        {
            echo "### Terraform plan: image_tag \`$tag\`"
            echo
            echo "${plan_line:-?} Current release: \`${previous_tag:-none}\`."
            echo
            tf show -no-color -json "$work/tfplan" >"$work/plan.json" 2>/dev/null || echo '{}' >"$work/plan.json"
            python3 - "$work/plan.json" <<'PY' || true
import json, sys
try:
    changes = json.load(open(sys.argv[1])).get("resource_changes") or []
except ValueError:
    changes = []
rows = [(c["address"], "/".join(c["change"]["actions"])) for c in changes
        if c.get("change", {}).get("actions") not in (["no-op"], ["read"])]
if rows:
    print("| resource | change |")
    print("| --- | --- |")
    for address, actions in rows[:200]:
        print(f"| `{address}` | {actions} |")
    if len(rows) > 200:
        print(f"\n{len(rows) - 200} more not listed.")
PY
        } >>"$summary_file"
    fi
    summary_written=1
    log "plan only: nothing changed"
    exit 0
fi

# --- 5. push ----------------------------------------------------------------------------
if [[ -z $digest ]]; then
    group "push"
    log "pushing $image_ref as $ecr_url:$tag"
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
fi

# --- 6-8. apply, refresh, smoke; roll back on failure ---------------------------------
# release TAG: sets failure (empty on success) and self_rolled_back.
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
    case $refresh_result in
    Successful) ;;
    RollbackSuccessful)
        self_rolled_back=1
        failure="the instance refresh rolled back (alarm or failed instances)"
        return
        ;;
    *)
        failure="the instance refresh ended $refresh_result"
        return
        ;;
    esac
    group "smoke test"
    smoke || failure="smoke test failed"
    endgroup
}

release "$tag"
if [[ -z $failure ]]; then
    summary "deployed $tag"
    exit 0
fi
log "deploy of $tag failed: $failure"

if [[ -z $previous_tag || $previous_tag == "$tag" ]]; then
    summary "FAILED ($failure); no previous release to roll back to"
    die 3 "nothing to roll back to: the stack runs what the failed deploy left; fix forward or deploy a known good tag with --no-push --tag TAG"
fi

log "rolling back to $previous_tag"
first_failure=$failure
first_refresh=$refresh_id
group "rollback: terraform plan (image_tag=$previous_tag)"
if ! plan "$previous_tag"; then
    endgroup
    summary "FAILED ($first_failure); rollback plan failed"
    die 3 "rollback to $previous_tag: terraform plan failed"
fi
endgroup
if ((self_rolled_back)); then
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
    release "$previous_tag"
fi
rollback_refresh=$refresh_id
refresh_id=${first_refresh:-}
if [[ -n $failure ]]; then
    summary "FAILED ($first_failure); rollback to $previous_tag FAILED ($failure)"
    die 3 "rollback to $previous_tag failed: $failure"
fi
summary "FAILED ($first_failure); rolled back to $previous_tag"
log "rolled back to $previous_tag"
exit 1
