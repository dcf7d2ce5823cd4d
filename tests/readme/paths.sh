#!/usr/bin/env bash
# docs/architecture.md names files and folders in backticks: every one must
# exist, so the map for the next engineer stays true as the code moves.
set -euo pipefail
cd "$(dirname "$0")/../.."

doc=docs/architecture.md
missing=0
checked=0
# Paths are the backticked words that contain a slash or name a root file;
# URL paths (/healthz) start with a slash and are not files.
# The backticks in the patterns below are literal characters.
# shellcheck disable=SC2016
while IFS= read -r path; do
    checked=$((checked + 1))
    if [[ ! -e $path ]]; then
        echo "  architecture: $doc names $path, which does not exist" >&2
        missing=$((missing + 1))
    fi
done < <(grep -o '`[^` ]*`' "$doc" | tr -d '`' | grep -E '/|^(Dockerfile|Makefile)$' | grep -v '^/' | sort -u)
((checked > 30)) || { echo "  architecture: only $checked paths found in $doc" >&2; exit 1; }
((missing == 0)) || exit 1
echo "  ok  $doc: all $checked paths it names exist"
