#!/usr/bin/env bash
# One-time setup (and check) of the repository's GitHub Actions OIDC subject,
# which the deploy and plan roles' trust policies are written for.
#
#   infrastructure/scripts/github-oidc-subject.sh OWNER/REPO          apply it
#   infrastructure/scripts/github-oidc-subject.sh --check OWNER/REPO  exit 1 unless applied
#
# GitHub's default subject, repo:OWNER/REPO:environment:production, names no
# branch and no workflow: a workflow on any branch that names the environment
# gets it. The customization in infrastructure/github-oidc-subject.json makes
# every token of the repository carry the workflow file and its ref:
#
#   repo:OWNER/REPO:environment:production:job_workflow_ref:OWNER/REPO/.github/workflows/ci-cd.yml@refs/heads/main
#
# and the deploy role trusts exactly those of the deploy workflows on the
# deploy branch (infrastructure/modules/github_oidc). Needs the GitHub CLI
# (`gh`), logged in as a repository administrator:
#
#   PUT /repos/OWNER/REPO/actions/oidc/customization/sub
#
# Run it after the administrator's first `terraform apply` (which writes the
# trust for the new format) and before the first pipeline run: until then,
# the roles refuse every token (they fail closed). docs/cicd.md has the steps.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
template=$here/../github-oidc-subject.json
check=0
if [[ ${1:-} == --check ]]; then
    check=1
    shift
fi
repo=${1:-}
if [[ ! $repo =~ ^[A-Za-z0-9-]+/[A-Za-z0-9._-]+$ ]]; then
    echo "usage: $0 [--check] OWNER/REPO" >&2
    exit 2
fi
command -v gh >/dev/null || {
    echo "github-oidc-subject: the GitHub CLI (gh) is not installed" >&2
    exit 2
}
endpoint=repos/$repo/actions/oidc/customization/sub

# matches: the repository's current customization equals the template.
matches() {
    local current
    current=$(gh api "$endpoint") || return 1
    python3 - "$template" "$current" <<'PY'
import json, sys
want = json.load(open(sys.argv[1]))
have = json.loads(sys.argv[2])
ok = have.get("use_default") is False and have.get("include_claim_keys") == want["include_claim_keys"]
print(f"github-oidc-subject: {'applied' if ok else 'NOT applied'}: use_default={have.get('use_default')}, "
      f"include_claim_keys={have.get('include_claim_keys')} (want {want['include_claim_keys']})", file=sys.stderr)
sys.exit(0 if ok else 1)
PY
}

if ((check)); then
    matches
    exit
fi

echo "github-oidc-subject: $endpoint <- $(tr -d ' \n' <"$template")" >&2
gh api --method PUT "$endpoint" --input "$template" >/dev/null
matches || {
    echo "github-oidc-subject: the customization did not read back as written" >&2
    exit 1
}
