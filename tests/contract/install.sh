#!/usr/bin/env bash
# Installs the OpenAPI tools pinned in tests/contract/package-lock.json
# (@stoplight/prism-cli for the API suite's Prism check, @redocly/cli for
# make test-lint) into build/contract; reinstalls only when the lock file
# changed. Prints the directory whose node_modules/.bin holds prism and
# redocly.
#
#   tests/contract/install.sh        ->  build/contract
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
out=$root/build/contract
mkdir -p "$out"
if ! cmp -s "$root/tests/contract/package-lock.json" "$out/package-lock.json" ||
    [[ ! -x $out/node_modules/.bin/prism || ! -x $out/node_modules/.bin/redocly ]]; then
    command -v npm >/dev/null || {
        echo "contract/install.sh: npm is not installed (tools/deps.sh test)" >&2
        exit 1
    }
    echo "contract/install.sh: npm ci (@stoplight/prism-cli, @redocly/cli) into build/contract" >&2
    rm -f "$out/package-lock.json"
    cp "$root/tests/contract/package.json" "$out/"
    cp "$root/tests/contract/package-lock.json" "$out/package-lock.json.new"
    mv "$out/package-lock.json.new" "$out/package-lock.json"
    (cd "$out" && npm ci --no-audit --no-fund --loglevel=error >&2)
fi
echo "$out"
