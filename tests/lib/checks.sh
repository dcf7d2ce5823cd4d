# shellcheck shell=bash
# The check helpers of the shell test suites (tests/deploy/run.sh,
# tests/image/run.sh): each check prints one `  ok    NAME` or `  FAIL  NAME`
# line (and, on failure, what went wrong, indented) and counts it.
#
#   source tests/lib/checks.sh
#   check NAME COMMAND...     the command's success is the check's
#   expect NAME WANT GOT      GOT must equal WANT
#   ok NAME / not_ok NAME [DETAIL]
#   ((failed == 0))           at the end: $passed and $failed are the counts

passed=0
failed=0

ok() {
    passed=$((passed + 1))
    printf '  ok    %s\n' "$1"
}
# not_ok NAME [DETAIL]: DETAIL's first 30 lines, indented
not_ok() {
    failed=$((failed + 1))
    printf '  FAIL  %s\n' "$1"
    [[ -z ${2:-} ]] || printf '%s\n' "$2" | sed 's/^/        /' | head -n 30
}
# expect NAME WANT GOT
expect() { if [[ $2 == "$3" ]]; then ok "$1"; else not_ok "$1" "want '$2', got '$3'"; fi; }
# check NAME COMMAND...: on failure, the command's output (400 bytes) or its
# command line
check() {
    local name=$1 out
    shift
    if out=$("$@" 2>&1); then
        ok "$name"
    else
        not_ok "$name" "${out:+${out:0:400}$'\n'}command failed: $*"
    fi
}
