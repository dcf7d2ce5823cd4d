# shellcheck shell=bash
# What the plan path (release/plan.sh) and the release path (release/deploy.sh
# with release/rollout.sh and release/smoke.sh) share: arguments and
# configuration, the log, the run record and its job summary, Terraform
# (init, outputs, plan) and ECR lookups, and steps 1-3 of a run: preflight,
# the current release, the image.
#
#   source release/lib.sh
#   start_run "$@"        # the traps, then the arguments
#   check_inputs          # 1. tag, configuration, tools (no network)
#   preflight             # 1. work dir, credentials, terraform init
#   current_release       # 2. ecr_url, previous_tag/previous_digest (the rollback target)
#   check_image           # 3. digest, or the local image_ref to push
#   check_verified        # 3. the promotion rule: --require-verified ENV
#
# The run record below is the one piece of state the whole run shares: the
# job summary (summary, on_exit) reports it, so it is set as the run goes.
# Everything else passes arguments and results explicitly where bash allows.

release_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=release/mark.sh
source "$release_root/release/mark.sh"

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

# --- the run record: what the summary reports; set as the run goes ---------------
tag=${GITHUB_SHA:-}
environment=     # --environment NAME: a stack of the shared root module
by_digest=0      # 1: --digest: the release runs <repository>@digest (image_digest)
previous_tag=
previous_digest= # the digest the rollback target names
previous_pinned=0  # 1: the current release runs by digest, and so will its rollback
verified_record= # what the promotion check found (--require-verified)
ecr_url=
digest=
asg=
refresh_id=
refresh_result=
rollback_refresh=
plan_line=
smoke_base=
plan_only=0        # 1: the plan path (release/plan.sh, deploy.sh --plan-only)
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
            echo "environment=$environment"
            echo "tag=$tag"
            echo "digest=$digest"
            echo "repository=${repo_name:-}"
            echo "previous_tag=$previous_tag"
            echo "url=${smoke_base:-}"
            echo "result=$result"
            # For release/verify.sh's key (an ARN, not the key).
            if [[ -n $work && -f $work/outputs.json ]]; then echo "api_keys_secret_arn=$(tf_out api_keys_secret_arn)"; fi
        } >>"$GITHUB_OUTPUT"
    fi
    [[ -n $summary_file ]] || return 0
    {
        if ((plan_only)); then echo "### Terraform plan${environment:+ ($environment)}: $result"; else echo "### Deploy${environment:+ to $environment}: $result"; fi
        echo
        [[ -z $note ]] || printf '%s\n\n' "$note"
        echo "| | |"
        echo "| --- | --- |"
        [[ -z $environment ]] || echo "| environment | $environment |"
        if ((by_digest)); then echo "| image | \`${ecr_url:-?}@$digest\` (by digest; tag \`$tag\`) |"; else echo "| image | \`${ecr_url:-?}:$tag\` |"; fi
        echo "| digest | \`${digest:-?}\` |"
        [[ -z $verified_record ]] || echo "| promotion record | $verified_record |"
        echo "| previous tag | \`${previous_tag:-none (first deploy)}\`${previous_digest:+ (\`$previous_digest\`)} |"
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

# --- arguments and configuration ---------------------------------------------
image_ref=
push=1
var_files=()
require_verified=  # --require-verified ENV: the digest must carry verified-ENV-<hex>
allow_unverified=0 # --allow-unverified: deploy without that record (loudly)
tag_given=0        # --tag given (with --digest: must name the same image)
# usage: the entry script's header comment, up to `set -euo pipefail`.
usage() { sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//' >&2; }
parse_args() {
    while (($# > 0)); do
        case $1 in
        --tag)
            [[ -n ${2:-} ]] || die 2 "--tag needs a value"
            tag=$2
            tag_given=1
            shift
            ;;
        --image)
            [[ -n ${2:-} ]] || die 2 "--image needs a value"
            image_ref=$2
            shift
            ;;
        --no-push) push=0 ;;
        --plan-only) plan_only=1 ;;
        --environment)
            [[ ${2:-} =~ ^[a-z][a-z0-9-]{0,31}$ ]] || die 2 "--environment needs a name (lower case letters, digits, -)"
            environment=$2
            shift
            ;;
        --digest)
            [[ ${2:-} =~ ^sha256:[0-9a-f]{64}$ ]] || die 2 "--digest needs sha256:<64 hex digits>"
            digest=$2
            by_digest=1
            push=0
            shift
            ;;
        --require-verified)
            [[ ${2:-} =~ ^[a-z][a-z0-9-]{0,31}$ ]] || die 2 "--require-verified needs an environment name"
            require_verified=$2
            shift
            ;;
        --allow-unverified) allow_unverified=1 ;;
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
}

region=${AWS_REGION:-${AWS_DEFAULT_REGION:-}}
state_bucket=${TF_STATE_BUCKET:-}
state_key=${TF_STATE_KEY:-items-api/production/terraform.tfstate}
tf_dir=${TF_DIR:-$release_root/infrastructure}
in_actions=0
[[ ${GITHUB_ACTIONS:-} == true ]] && in_actions=1

# start_run ARGS...: the traps (every exit writes the summary), then the
# arguments, then the environment's defaults.
start_run() {
    trap on_exit EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    parse_args "$@"
    use_environment
}

# use_environment: --environment NAME is one stack of the root module: its
# own state key and variables file (name, sizes: the Terraform side). An
# explicit TF_STATE_KEY must name the environment: a key left over from the
# single-environment setup (a repository variable both environments' jobs
# see) would otherwise make staging apply to production's state.
use_environment() {
    [[ -n $environment ]] || return 0
    if [[ -z ${TF_STATE_KEY:-} ]]; then
        state_key=items-api/$environment/terraform.tfstate
    elif [[ $state_key != *"$environment"* ]]; then
        die 2 "TF_STATE_KEY=$state_key does not name the environment $environment: set it per environment (docs/cicd.md), or unset it for items-api/$environment/terraform.tfstate"
    fi
    local file=$tf_dir/environments/$environment.tfvars
    # First, so that --var-file files and the -var below override it.
    if [[ -f $file ]]; then var_files=("-var-file=$(cd "$(dirname "$file")" && pwd)/$(basename "$file")" "${var_files[@]}"); fi
}

group() { if ((in_actions)); then echo "::group::$*"; else log "== $*"; fi; }
endgroup() { if ((in_actions)); then echo "::endgroup::"; fi; }

# --- Terraform and ECR ------------------------------------------------------------
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

# digest_tag DIGEST: a tag ECR has for DIGEST (not a verified-* record; the
# commit SHA the pipeline pushed it as), else sha256-<12 hex> when ECR has it
# untagged by a release; empty when ECR lacks DIGEST.
digest_tag() {
    local tags t
    tags=$(aws ecr describe-images --region "$region" --repository-name "$repo_name" \
        --image-ids "imageDigest=$1" --query 'imageDetails[0].imageTags' --output text 2>/dev/null) || return 0
    [[ -n $tags ]] || return 0
    for t in $tags; do
        [[ $t == verified-* || $t == None ]] || {
            printf '%s' "$t"
            return 0
        }
    done
    printf 'sha256-%s' "${1:7:12}"
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
    "$release_root/image/engine.sh" "$@"
}

# set_tf_vars TAG [DIGEST]: the variables every plan and apply gets (after the
# var files, so these win): the release (by digest when DIGEST is given:
# <repository>@DIGEST), and the backend the deploy role is scoped to.
set_tf_vars() {
    tf_vars=(-var "image_tag=$1" -var "aws_region=$region"
        -var "tf_state_bucket=$state_bucket" -var "tf_state_key=$state_key")
    if [[ -n ${2:-} ]]; then tf_vars+=(-var "image_digest=$2"); fi
    if [[ -n ${GITHUB_REPOSITORY:-} ]]; then tf_vars+=(-var "github_repository=$GITHUB_REPOSITORY"); fi
    if [[ -n ${AWS_ACCOUNT_ID:-} ]]; then tf_vars+=(-var "allowed_account_ids=[\"$AWS_ACCOUNT_ID\"]"); fi
}

# plan TAG MODE [DIGEST]: terraform plan with the tag (and digest) into
# $work/tfplan; sets plan_line.
# MODE read-only: -lock=false (-refresh=false with PLAN_REFRESH=false), any
# plan accepted; MODE release: takes the state lock, refuses plans that
# destroy (ALLOW_DESTROY=1 overrides). Returns 2 when the plan itself fails
# or is refused (nothing changed).
plan() {
    local t=$1 mode=$2 rc=0
    set_tf_vars "$t" "${3:-}"
    local lock=(-lock-timeout=10m)
    if [[ $mode == read-only ]]; then
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
    if [[ $mode == read-only ]]; then
        return 0
    fi
    if [[ ${destroys:-0} != 0 && ${ALLOW_DESTROY:-0} != 1 ]]; then
        grep -E '^  # .* (will be destroyed|must be replaced)' "$work/plan.log" >&2 || true
        log "the plan destroys $destroys resource(s): refused (ALLOW_DESTROY=1 to apply anyway)"
        return 2
    fi
    return 0
}

# --- 1. preflight --------------------------------------------------------------
# check_inputs: what needs no network: the tag, the configuration, the tools.
check_inputs() {
    local tool
    [[ -n $tag ]] || tag=$(git -C "$release_root" rev-parse --verify -q HEAD 2>/dev/null || true)
    [[ -n $tag ]] || die 2 "no tag: pass --tag (the commit SHA)"
    valid_tag "$tag" || die 2 "image tag '$tag' is not an immutable Docker tag (letters, digits, _ . -; not latest)"
    [[ -n $region ]] || die 2 "AWS_REGION is not set"
    [[ -n $state_bucket ]] || die 2 "TF_STATE_BUCKET is not set"
    [[ -d $tf_dir ]] || die 2 "no Terraform root at $tf_dir"
    for tool in aws terraform curl python3; do
        command -v "$tool" >/dev/null || die 2 "$tool is not installed"
    done
}

# preflight: the private work directory, the credentials (and their
# account), terraform init, the outputs.
preflight() {
    local account kv backend
    work=$(mktemp -d "${TMPDIR:-/tmp}/items-api-deploy.XXXXXX")
    chmod 0700 "$work"
    group "preflight: ${environment:+environment $environment, }tag $tag, region $region, state $state_key"
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
}

# --- 2. the current release -------------------------------------------------------
# set_repository URL: ecr_url and the repository name in it.
set_repository() {
    ecr_url=$1
    repo_name=${ecr_url#*/}
}

# current_release: ecr_url (empty before the first deploy) and previous_tag
# and previous_digest, the rollback target (empty when ECR lacks what the
# state names). A release by digest (<repository>@sha256:...) is rolled back
# to by digest again (previous_pinned), its tag only names it.
current_release() {
    local previous_image
    group "current release"
    set_repository "$(tf_out ecr_repository_url)"
    previous_image=$(tf_out image)
    if [[ -z $ecr_url ]]; then
        log "no ECR repository in the state yet: first deploy of this stack"
    elif [[ $previous_image == "$ecr_url@sha256:"* ]]; then
        previous_digest=${previous_image#*@}
        # shellcheck disable=SC2034  # read by release/rollout.sh (roll_back)
        previous_pinned=1
        previous_tag=$(digest_tag "$previous_digest")
        if [[ -z $previous_tag ]]; then
            log "the state names $previous_digest, which is not in ECR: no rollback target"
            previous_digest=
        fi
    elif [[ $previous_image == "$ecr_url:"* ]]; then
        previous_tag=${previous_image##*:}
        previous_digest=$(ecr_digest "$previous_tag")
        if [[ -z $previous_digest ]]; then
            log "the state names $previous_tag, which is not in ECR: no rollback target"
            previous_tag=
        fi
    fi
    [[ $previous_tag == "$tag" ]] && log "$tag is already the current release: redeploying it"
    log "repository ${ecr_url:-none yet}; previous tag: ${previous_tag:-none (first deploy)}"
    endgroup
}

# --- 3. the image: what will be deployed (before the plan: fail fast) ----------
# check_image: sets digest (ECR's, empty when TAG is not there yet) and, when
# the image is to be pushed, image_ref (checked: present, built from TAG).
check_image() {
    local revision
    group "image"
    if ((by_digest)); then
        check_digest
        endgroup
        return 0
    fi
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
}

# check_digest: --digest: ECR must hold the digest already (a release by
# digest pushes nothing); tag becomes the tag ECR has for it (an explicit
# --tag must name the same image).
check_digest() {
    local t
    if [[ -z $ecr_url ]]; then
        log "--digest $digest: the stack's state names no repository yet: checked after the first deploy's registry apply"
        return 0
    fi
    t=$(digest_tag "$digest")
    [[ -n $t ]] || die 2 "--digest: ECR has no image $digest in $repo_name: deploy it to the environment that pushes first"
    if ((tag_given)); then
        [[ $(ecr_digest "$tag") == "$digest" ]] || die 2 "--tag $tag does not name $digest in ECR"
    else
        tag=$t
    fi
    log "$ecr_url@$digest is in ECR (tag $tag): deploying by digest, nothing to push"
}

# check_verified: the promotion rule. With --require-verified ENV the digest
# must carry ENV's record (release/mark.sh: verified-ENV-<12 hex>, written by
# release/verify.sh after ENV deployed and verified it); without it the
# deploy is refused before anything changes (exit 2), unless
# --allow-unverified (the first bootstrap, an emergency): then it goes on,
# and the log and the summary say so.
check_verified() {
    local record
    [[ -n $require_verified || $allow_unverified == 1 ]] || return 0
    group "promotion record"
    if [[ -n $require_verified ]]; then
        [[ -n $digest ]] || die 2 "--require-verified $require_verified: ECR has no image $tag, so no record either"
        record=$(mark_tag "$require_verified" "$digest")
        if mark_points_at "$repo_name" "$record" "$digest"; then
            verified_record="\`$record\`: $require_verified deployed and verified this digest"
            log "promotion: $digest carries $record"
            endgroup
            return 0
        fi
    fi
    if ((allow_unverified)); then
        verified_record="**OVERRIDE (--allow-unverified): deployed without a verified-${require_verified:-staging} record**"
        log "WARNING: --allow-unverified: deploying $digest without a ${require_verified:-staging} verification record"
        ((in_actions == 0)) || echo "::warning::deploying $digest without a verified-${require_verified:-staging} record (--allow-unverified)"
        endgroup
        return 0
    fi
    die 2 "$digest has no $record tag: $require_verified has not deployed and verified it (release/verify.sh --mark $require_verified). Deploy it to $require_verified first; --allow-unverified only for a bootstrap or an emergency"
}
