#!/usr/bin/env bash
# infrastructure/scripts/github-oidc-subject.sh against a stub `gh` (part of
# make test-infra): it PUTs exactly infrastructure/github-oidc-subject.json to
# the repository's OIDC subject endpoint, reads it back, and --check fails on
# GitHub's default subject.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
infra=$(cd "$here/../.." && pwd)
script=$infra/scripts/github-oidc-subject.sh
work=$(mktemp -d "${TMPDIR:-/tmp}/items-api-oidc-subject.XXXXXX")
trap 'rm -rf "$work"' EXIT
passed=0
failed=0
ok() {
    passed=$((passed + 1))
    echo "  ok    $1"
}
not_ok() {
    failed=$((failed + 1))
    echo "  FAIL  $1"
}
expect() { if [[ $2 == "$3" ]]; then ok "$1"; else not_ok "$1: want '$2', got '$3'"; fi; }

# The stub: GET prints $work/state (GitHub's default until a PUT), PUT
# stores its --input file there; every call is recorded.
mkdir -p "$work/bin"
cat >"$work/bin/gh" <<'STUB'
#!/usr/bin/env bash
set -euo pipefail
echo "gh $*" >>"$STUB_DIR/calls"
[[ $1 == api ]] || exit 2
shift
method=GET input= path=
while (($# > 0)); do
    case $1 in
    --method) method=$2; shift 2 ;;
    --input) input=$2; shift 2 ;;
    *) path=$1; shift ;;
    esac
done
[[ $path == repos/example-org/items-api/actions/oidc/customization/sub ]] || { echo "gh: 404 $path" >&2; exit 1; }
case $method in
GET) cat "$STUB_DIR/state" ;;
PUT) if [[ -z ${STUB_BROKEN_PUT:-} ]]; then cp "$input" "$STUB_DIR/state"; fi; echo '{}' ;;
*) exit 2 ;;
esac
STUB
chmod +x "$work/bin/gh"
export PATH="$work/bin:$PATH" STUB_DIR=$work
echo '{"use_default":true}' >"$work/state"

rc=0
"$script" --check example-org/items-api 2>/dev/null || rc=$?
expect "--check fails on GitHub's default subject" 1 "$rc"

rc=0
"$script" example-org/items-api 2>"$work/apply.err" || rc=$?
expect "applies the customization" 0 "$rc"
expect "PUTs github-oidc-subject.json to the repository's subject endpoint" 1 \
    "$(grep -c "^gh api --method PUT repos/example-org/items-api/actions/oidc/customization/sub --input .*/github-oidc-subject.json$" "$work/calls")"
expect "what GitHub stores is the template" "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])))' "$infra/github-oidc-subject.json")" \
    "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])))' "$work/state")"
expect "the template pins the workflow: use_default false, job_workflow_ref included" "False True" \
    "$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["use_default"], "job_workflow_ref" in d["include_claim_keys"])' "$infra/github-oidc-subject.json")"

rc=0
"$script" --check example-org/items-api 2>/dev/null || rc=$?
expect "--check passes once applied" 0 "$rc"

echo '{"use_default":true}' >"$work/state"
rc=0
STUB_BROKEN_PUT=1 "$script" example-org/items-api 2>/dev/null || rc=$?
expect "a PUT that does not read back fails" 1 "$rc"

rc=0
"$script" 'example-org/*' 2>/dev/null || rc=$?
expect "refuses a repository with a wildcard" 2 "$rc"

echo "oidc subject script: $passed passed, $failed failed"
((failed == 0))
