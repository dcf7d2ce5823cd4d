#!/usr/bin/env bash
# image/build.sh's labels without building an image (run by make
# test-workflows with the other delivery-script checks): the source label
# never carries the credentials of the remote URL it is taken from.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
passed=0
failed=0
# source_label REMOTE-URL: the source label build.sh writes for that origin
# URL (given to git through GIT_CONFIG_*, the repository's config untouched).
source_label() {
    env -u SOURCE -u GITHUB_REPOSITORY GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=remote.origin.url GIT_CONFIG_VALUE_0="$1" \
        "$root/image/build.sh" --labels | sed -n 's/^org.opencontainers.image.source=//p'
}
expect() {
    if [[ $2 == "$3" ]]; then
        passed=$((passed + 1))
        echo "  ok    $1"
    else
        failed=$((failed + 1))
        echo "  FAIL  $1: want '$2', got '$3'"
    fi
}

expect "a token in an https remote is dropped" https://github.com/example-org/items-api.git \
    "$(source_label https://x-access-token:ghs_SECRET123@github.com/example-org/items-api.git)"
expect "user and password are dropped" https://git.example.com/items-api \
    "$(source_label 'https://alice:p%40ss@git.example.com/items-api?private_token=SECRET#frag')"
expect "a user name alone is dropped" ssh://git.example.com:2222/items-api.git "$(source_label ssh://bob@git.example.com:2222/items-api.git)"
expect "a plain remote is kept" https://github.com/example-org/items-api.git "$(source_label https://github.com/example-org/items-api.git)"
expect "an scp-like remote is kept" git@github.com:example-org/items-api.git "$(source_label git@github.com:example-org/items-api.git)"
expect "SOURCE is cleaned too" https://github.com/example-org/items-api \
    "$(SOURCE=https://tok@github.com/example-org/items-api "$root/image/build.sh" --labels | sed -n 's/^org.opencontainers.image.source=//p')"

echo "image labels: $passed passed, $failed failed"
((failed == 0))
