#!/usr/bin/env bash
# The plan path: what a release of TAG would change, read-only. What pull
# requests run with the read-only plan role (ci-cd.yml's plan job); the
# same as release/deploy.sh --plan-only.
#
#   release/plan.sh [--environment NAME] [--tag TAG] [--var-file FILE]...
#
# --environment NAME plans that environment's stack (its state key and
# infrastructure/environments/NAME.tfvars, as release/deploy.sh): the pull
# request's plan job runs once per environment.
#
#   1. terraform init (S3 backend) and read the current release
#   2. whether ECR has the image (nothing is pushed)
#   3. terraform plan -lock=false -var image_tag=TAG (no first-run
#      repository, no destroy refusal: nothing is applied)
#
# The job summary gets the counts and the addresses that change (it is
# public in a public repository); the full plan goes only to DEPLOY_PLAN_FILE
# when set. PLAN_REFRESH=false plans without reading the live resources
# (-refresh=false). --image and --no-push are accepted, as by
# deploy.sh --plan-only, and change nothing. Options, environment and exit
# status otherwise as release/deploy.sh (--help there).
set -euo pipefail

# shellcheck source=release/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# plan_summary: the counts and the addresses that change, never the plan
# itself (account id, policies, endpoints): the summary is public in a
# public repository.
plan_summary() {
    echo "### Terraform plan${environment:+ of $environment}: image_tag \`$tag\`"
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
}

plan_only=1
start_run "$@"
check_inputs
preflight
current_release
check_image

group "terraform plan (image_tag=$tag)"
plan "$tag" read-only || die 2 "terraform plan failed or was refused; nothing changed"
endgroup

tf show -no-color "$work/tfplan" >"$work/plan.txt" 2>&1 || cp "$work/plan.log" "$work/plan.txt"
[[ -z ${DEPLOY_PLAN_FILE:-} ]] || cp "$work/plan.txt" "$DEPLOY_PLAN_FILE"
if [[ -n $summary_file ]]; then plan_summary >>"$summary_file"; fi
summary_written=1
log "plan only: nothing changed"
exit 0
