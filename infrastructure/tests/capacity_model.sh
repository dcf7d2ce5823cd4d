#!/usr/bin/env bash
# The capacity model's drift check (tools/capacity/check.py): it passes on
# this checkout, and it fails, naming the file, on a copy where one default
# moved away from infrastructure/capacity-model.json.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
check=$root/tools/capacity/check.py

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

python3 "$check" >"$work/check.txt" || {
    cat "$work/check.txt" >&2
    exit 1
}
echo "  ok    $(tail -n 1 "$work/check.txt")"
files=(infrastructure/capacity-model.json infrastructure/variables.tf app/src/config.c README.md
    tests/bench/run.sh docs/capacity.md infrastructure/modules/user_data/templates/items-api-run.sh)
mapfile -t -O "${#files[@]}" files < <(cd "$root" && ls infrastructure/modules/*/variables.tf)

# drifted FILE SED_EXPRESSION WHAT: a fresh copy with one edit must fail on WHAT.
drifted() {
    local file=$1 expr=$2 what=$3 out
    rm -rf "$work/copy"
    mkdir -p "$work/copy"
    (cd "$root" && cp --parents "${files[@]}" "$work/copy")
    sed -i -e "$expr" "$work/copy/$file"
    cmp -s "$root/$file" "$work/copy/$file" && {
        echo "  capacity model: the edit '$expr' changed nothing in $file" >&2
        exit 1
    }
    if out=$(python3 "$check" --root "$work/copy"); then
        echo "  capacity model: a drifted $file passed the check" >&2
        exit 1
    fi
    grep -q "FAIL  .*$what" <<<"$out" || {
        echo "  capacity model: the drift in $file was not reported as '$what':" >&2
        printf '%s\n' "$out" >&2
        exit 1
    }
    echo "  ok    caught: $what"
}

drifted infrastructure/variables.tf '/^variable "asg_max_size"/,/^}/ s/^  default     = [0-9]*/  default     = 97/' \
    'variables.tf default of asg_max_size'
drifted infrastructure/modules/user_data/variables.tf '/^variable "db_pool_size"/,/^}/ s/^  default     = [0-9]*$/  default     = 97/' \
    'user_data/variables.tf default of db_pool_size'
drifted app/src/config.c 's/{"DB_POOL_SIZE", VAR_INT, "[0-9]*"/{"DB_POOL_SIZE", VAR_INT, "97"/' \
    'config.c DB_POOL_SIZE default'
drifted infrastructure/capacity-model.json 's/"requests_per_target": [0-9]*/"requests_per_target": 97/' \
    'default requests_per_target follows from measured'
drifted docs/capacity.md 's/^| \*\*default\*\* | \*\*asg_max_size\*\* | [0-9]* |/| **default** | **asg_max_size** | 97 |/' \
    'docs/capacity.md generated table'
