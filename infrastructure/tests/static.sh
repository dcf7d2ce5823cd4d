#!/usr/bin/env bash
# Layers 1 and 2 of the infrastructure tests (make test-infra), offline:
#
#   1. terraform fmt -check -recursive; terraform init -backend=false against
#      the local provider mirror and terraform validate for the root module,
#      every module under modules/, bootstrap/ and the user_data render harness
#   2. terraform test (mock_provider "aws"): every tests/*.tftest.hcl file,
#      three at a time; then tests/environments/ once per environment's
#      variables file (environments/*.tfvars.example)
#   +  the generated variables/outputs reference in README.md is up to date
#   +  the scaling and pool defaults equal infrastructure/capacity-model.json
#      (capacity_model.sh, tools/capacity/check.py)
#   +  scripts/github-oidc-subject.sh (the OIDC subject setup) against a stub gh
#
# Terraform's data dirs go to build/terraform/ (git-ignored). Lock files are
# committed only for the roots (infrastructure/ and bootstrap/): a child
# module that needs a provider is validated against the root's lock file
# (copied in for init and validate, -lockfile=readonly, removed after), so
# it must accept the provider the root pins.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
infra=$(cd "$here/.." && pwd)
root=$(cd "$infra/.." && pwd)
started=$(date +%s)

# shellcheck source-path=SCRIPTDIR source=../../lib/tf-env.sh
source "$root/lib/tf-env.sh"
data=$root/build/terraform/data
mkdir -p "$data"

step() { printf '=== [%3ss] %s\n' "$(($(date +%s) - started))" "$*"; }

step "terraform fmt -check -recursive"
terraform -chdir="$infra" fmt -check -recursive -diff

# validate DIR: init without backend into a private data dir, then validate
# (each loads the AWS provider's schema: a few CPU seconds, so three at a time)
validate() {
    local dir=$1 name
    name=$(realpath --relative-to="$infra" "$dir" | tr '/' '_')
    [[ $name == . ]] && name=root
    export TF_DATA_DIR=$data/$name
    local lock=() borrowed=
    if [[ $dir == "$infra"/modules/* ]] && grep -q required_providers "$dir"/*.tf; then
        cp "$infra/.terraform.lock.hcl" "$dir/.terraform.lock.hcl"
        borrowed=$dir/.terraform.lock.hcl
        lock=(-lockfile=readonly)
    fi
    local rc=0 out=
    if ! terraform -chdir="$dir" init -backend=false -input=false -no-color "${lock[@]}" >"$data/$name.init.log" 2>&1; then
        cat "$data/$name.init.log" >&2
        rc=1
    elif ! out=$(terraform -chdir="$dir" validate -no-color 2>&1); then
        printf '%s\n' "$out" >&2
        rc=1
    fi
    # validate reads the lock file too, so it goes only now
    [[ -z $borrowed ]] || rm -f "$borrowed"
    ((rc == 0)) || return 1
    echo "  $(realpath --relative-to="$root" "$dir"): $(head -n 1 <<<"$out")"
}
export -f validate
export infra root data

step "terraform init -backend=false + validate"
dirs=("$infra" "$infra"/modules/* "$infra/bootstrap" "$here/user_data/render")
# shellcheck disable=SC2016  # $1 belongs to the inner bash
printf '%s\n' "${dirs[@]}" | xargs -P 3 -I{} bash -c 'validate "$1"' _ {}

step "terraform test (mocked AWS)"
export TF_DATA_DIR=$data/root
cd "$infra"
files=(tests/*.tftest.hcl)
rm -rf "$data/test-logs"
mkdir -p "$data/test-logs"
# One process per file, three at a time (the runs inside a file are sequential).
# shellcheck disable=SC2016  # $1 and $2 belong to the inner sh
printf '%s\n' "${files[@]}" | xargs -P 3 -I{} sh -c \
    'terraform test -no-color -filter="$1" >"$2/$(basename "$1").log" 2>&1 || touch "$2/$(basename "$1").failed"' _ {} "$data/test-logs"
status=0
for f in "${files[@]}"; do
    log=$data/test-logs/$(basename "$f").log
    result=$(grep -E '^(Success|Failure)!' "$log" || echo "no result")
    printf '  %-36s %s\n' "$f" "$result"
    if [[ -e $data/test-logs/$(basename "$f").failed ]]; then
        rm -f "$data/test-logs/$(basename "$f").failed"
        sed 's/^/    /' "$log" >&2
        status=1
    fi
done
((status == 0))

step "terraform test: each environment's variables file (environments/)"
for vars in environments/*.tfvars.example; do
    log=$data/test-logs/environment-$(basename "$vars" .tfvars.example).log
    if terraform test -no-color -test-directory=tests/environments -var-file="$vars" >"$log" 2>&1; then
        printf '  %-36s %s\n' "$vars" "$(grep -E '^Success!' "$log")"
    else
        sed 's/^/    /' "$log" >&2
        exit 1
    fi
done

step "capacity model: Terraform and service defaults = infrastructure/capacity-model.json"
"$here/capacity_model.sh"

step "README reference is generated from variables.tf and outputs.tf"
python3 "$infra/scripts/gen-reference.py" --check

step "OIDC subject setup script (stub gh)"
"$here/oidc_subject/run.sh"

step "done"
