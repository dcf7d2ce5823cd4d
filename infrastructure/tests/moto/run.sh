#!/usr/bin/env bash
# Layer 3 of the infrastructure tests: the whole stack against moto.
#
#   1. start a private moto_server (tests/lib/moto.sh)
#   2. bootstrap/: create the state bucket (local state, in the work dir)
#   3. root module: terraform init with the S3 backend in that bucket
#      (use_lockfile), import a certificate into moto's ACM, full apply with
#      -var-file=tests/moto.tfvars
#   4. read back with boto3 (checks.py readback), incl. "the API key and the
#      database password are not in the state"
#   5. second plan, without the API keys (as the pipeline runs it): fail on
#      any change that is not known emulator drift
#   6. destroy (without a refresh: the second plan has just refreshed); nothing
#      may be left but the state bucket
#   7. environments: bootstrap/ again, now with the shared image repository and
#      the OIDC provider; staging and production applied side by side from
#      environments/<env>.tfvars.example (+ tests/moto/environments.tfvars),
#      each with its own state key; isolation.py: neither deploy or plan role
#      may write to the other environment's resources, each may to its own;
#      both destroyed
#   8. destroy bootstrap/; nothing may be left at all
#   9. stop moto (also on failure)
#
# Nothing is written to the working tree: Terraform's data dirs, plans and
# logs live in a temporary work dir (kept on failure, or with KEEP_WORKDIR=1).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
infra=$(cd "$here/../.." && pwd)
root=$(cd "$infra/.." && pwd)
python=${PYTHON:-python3}
started=$(date +%s)
work=$(mktemp -d "${TMPDIR:-/tmp}/items-api-moto.XXXXXX")
tfvars=tests/moto.tfvars

step() { printf '=== [%3ss] %s\n' "$(($(date +%s) - started))" "$*"; }
# tfvars value of a simple `key = "value"` line
var() { sed -n -E "s/^$1[[:space:]]*=[[:space:]]*\"([^\"]*)\".*/\1/p" "$infra/$tfvars"; }

finish() {
    local rc=$?
    "$root/tests/lib/moto.sh" stop "$work" || true
    if ((rc == 0)) && [[ -z ${KEEP_WORKDIR:-} ]]; then
        rm -rf "$work"
    else
        echo "moto test: work dir kept for inspection: $work" >&2
    fi
    step "done (exit $rc)"
    exit "$rc"
}
trap finish EXIT

# A failing terraform command prints the tail of its log.
run_logged() {
    local log=$1
    shift
    if ! "$@" >"$log" 2>&1; then
        echo "moto test: command failed: $*" >&2
        tail -n 60 "$log" >&2
        return 1
    fi
}

# shellcheck source-path=SCRIPTDIR source=../../../lib/tf-env.sh
source "$root/lib/tf-env.sh"
export TF_IN_AUTOMATION=1 TF_INPUT=0
region=$(var aws_region)
bucket=$(var tf_state_bucket)
key=$(var tf_state_key)
export AWS_DEFAULT_REGION=$region AWS_REGION=$region

step "starting moto_server"
# server/sitecustomize.py: unique RDS resource IDs (two databases side by side)
eval "$(PYTHONPATH="$here/server${PYTHONPATH:+:$PYTHONPATH}" "$root/tests/lib/moto.sh" start "$work")"
echo "moto on $AWS_ENDPOINT_URL (pid $MOTO_PID), work dir $work"

common_moto_vars=(-var s3_use_path_style=true -var provider_max_retries=3)

step "bootstrap/: state bucket $bucket (in the background)"
cp -r "$infra/bootstrap" "$work/bootstrap"
# bootstrap/ uses ../modules/registry (the shared repository)
mkdir -p "$work/modules"
cp -r "$infra/modules/registry" "$work/modules/registry"
rm -rf "$work/bootstrap/.terraform" "$work/bootstrap/terraform.tfstate"*
bootstrap_vars=(-var "aws_region=$region" -var "bucket_name=$bucket" -var force_destroy=true -var deny_insecure_transport=false "${common_moto_vars[@]}")
# The bucket exists within seconds; its lifecycle configuration takes the
# provider about a minute (it waits for the rules to read back stable). The
# root module only needs the bucket, so it goes ahead meanwhile, and the
# bootstrap apply is awaited before the read-back checks the bucket settings.
(
    cd "$work/bootstrap"
    run_logged "$work/bootstrap-init.log" terraform init -no-color
    run_logged "$work/bootstrap-apply.log" terraform apply -no-color -auto-approve "${bootstrap_vars[@]}"
) &
bootstrap_pid=$!
"$python" "$here/checks.py" wait-bucket "$bucket"

step "importing a certificate into moto's ACM (for the HTTPS listener)"
cert_arn=$("$python" "$here/checks.py" import-cert)
echo "$cert_arn" >"$work/certificate_arn"
root_vars=(-var-file="$tfvars" -var "certificate_arn=$cert_arn")

export TF_DATA_DIR=$work/root.terraform
cd "$infra"
step "root module: init with the S3 backend (use_lockfile) in moto"
run_logged "$work/root-init.log" terraform init -no-color \
    -backend-config="bucket=$bucket" -backend-config="key=$key" -backend-config="region=$region" \
    -backend-config=use_path_style=true

step "root module: apply"
run_logged "$work/apply.log" terraform apply -no-color -auto-approve -parallelism=20 "${root_vars[@]}"
applied=$(sed -n -E 's/^Apply complete! Resources: ([0-9]+) added.*/\1/p' "$work/apply.log")
echo "applied $applied resources"
terraform output -no-color -json >"$work/outputs.json"
terraform state pull >"$work/state.json"
echo "state serial $("$python" -c 'import json,sys; print(json.load(open(sys.argv[1]))["serial"])' "$work/state.json"), $(terraform state list | wc -l) resources in state"

step "waiting for bootstrap/ to finish"
wait "$bootstrap_pid"
grep -E '^Apply complete' "$work/bootstrap-apply.log"

step "read-back with boto3"
"$python" "$here/checks.py" readback "$work"

# Like the pipeline's applies: no API keys given (the stored value stays).
step "second plan, without the API keys: only known emulator drift allowed"
set +e
terraform plan -no-color -detailed-exitcode -parallelism=20 -out="$work/second.tfplan" "${root_vars[@]}" -var api_keys=null >"$work/second-plan.log" 2>&1
plan_rc=$?
set -e
if ((plan_rc == 1)); then
    tail -n 60 "$work/second-plan.log" >&2
    exit 1
fi
terraform show -no-color -json "$work/second.tfplan" >"$work/second-plan.json"
"$python" "$here/checks.py" drift "$work/second-plan.json"

step "root module: destroy"
run_logged "$work/destroy.log" terraform destroy -no-color -auto-approve -refresh=false -parallelism=20 "${root_vars[@]}"
grep -E '^Destroy complete' "$work/destroy.log"
# (the certificate serves the environments below too)
"$python" "$here/checks.py" leftovers --keep-bucket "$bucket" --keep-cert "$cert_arn"

# Phase 2: the environments. bootstrap/ adds what they share (one repository,
# one OIDC provider per account); it could not before, as the single stack
# above owns both under the same names.
step "bootstrap/: the shared image repository and the OIDC provider"
bootstrap_vars+=(-var ecr_repository_name=items-api -var create_github_oidc_provider=true)
(
    cd "$work/bootstrap"
    unset TF_DATA_DIR
    run_logged "$work/bootstrap-shared.log" terraform apply -no-color -auto-approve "${bootstrap_vars[@]}"
)

envs=(staging production)
# env_tf ENV ARGS...: terraform on ENV's own data dir (backend key) in infrastructure/
env_tf() {
    local env=$1
    shift
    TF_DATA_DIR=$work/$env.terraform terraform "$@"
}
env_vars() {
    printf '%s\n' -var-file="environments/$1.tfvars.example" -var-file=tests/moto/environments.tfvars -var "certificate_arn=$cert_arn"
}

step "environments: init and apply ${envs[*]} side by side"
pids=()
for env in "${envs[@]}"; do
    (
        env_key=$(sed -n -E 's/^tf_state_key[[:space:]]*=[[:space:]]*"([^"]*)".*/\1/p' "environments/$env.tfvars.example")
        run_logged "$work/$env-init.log" env_tf "$env" init -no-color \
            -backend-config="bucket=$bucket" -backend-config="key=$env_key" -backend-config="region=$region" \
            -backend-config=use_path_style=true
        mapfile -t vars < <(env_vars "$env")
        run_logged "$work/$env-apply.log" env_tf "$env" apply -no-color -auto-approve -parallelism=20 "${vars[@]}"
        env_tf "$env" state pull >"$work/$env-state.json"
        env_tf "$env" output -no-color -json >"$work/$env-outputs.json"
    ) &
    pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid"; done
for env in "${envs[@]}"; do
    echo "$env: $(sed -n -E 's/^Apply complete! Resources: ([0-9]+) added.*/\1/p' "$work/$env-apply.log") resources applied"
done

step "environments: isolation of the CI roles (isolation.py)"
"$python" "$here/isolation.py" "$work" "${envs[@]}"

step "environments: destroy ${envs[*]} side by side"
pids=()
for env in "${envs[@]}"; do
    (
        mapfile -t vars < <(env_vars "$env")
        run_logged "$work/$env-destroy.log" env_tf "$env" destroy -no-color -auto-approve -refresh=false -parallelism=20 "${vars[@]}"
    ) &
    pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid"; done
"$python" "$here/checks.py" delete-cert "$cert_arn"

step "bootstrap/: destroy"
"$python" "$here/checks.py" empty-bucket "$bucket"
(
    cd "$work/bootstrap"
    unset TF_DATA_DIR
    run_logged "$work/bootstrap-destroy.log" terraform destroy -no-color -auto-approve -refresh=false "${bootstrap_vars[@]}"
)
"$python" "$here/checks.py" leftovers

elapsed=$(($(date +%s) - started))
echo "moto test: PASS: $applied resources applied, read back, re-planned and destroyed, then ${envs[*]} applied, isolated and destroyed, in ${elapsed}s"
if ((elapsed > 840)); then
    echo "moto test: WARNING: took ${elapsed}s, over the 14 minute budget" >&2
fi
