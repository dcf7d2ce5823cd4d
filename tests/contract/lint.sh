#!/usr/bin/env bash
# make test-lint: redocly lint openapi.yaml (@redocly/cli, pinned in
# tests/contract/package-lock.json, recommended rule set) with no error and
# no warning: a warning fails too (redocly itself exits 0 on warnings).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
dir=$(tests/contract/install.sh)
redocly=$dir/node_modules/.bin/redocly
# No usage data sent anywhere; no update check.
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true

json=$("$redocly" lint --format=json openapi.yaml 2>/dev/null) || true
read -r errors warnings < <(python3 -c 'import json,sys; t=json.load(sys.stdin)["totals"]; print(t["errors"], t["warnings"])' <<<"$json") || {
    echo "redocly lint: no JSON report; its output:" >&2
    "$redocly" lint openapi.yaml >&2 || true
    exit 1
}
if ((errors != 0 || warnings != 0)); then
    "$redocly" lint openapi.yaml 2>&1 | grep -v -e '^ *║' -e '^ *╔' -e '^ *╚' || true
    echo "redocly lint openapi.yaml: $errors errors, $warnings warnings (both must be 0)" >&2
    exit 1
fi
echo "  redocly lint openapi.yaml (@redocly/cli $("$redocly" --version 2>/dev/null)): 0 errors, 0 warnings"
