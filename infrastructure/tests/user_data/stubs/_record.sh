# Sourced by every stub: append "<name> <args...>" (shell-quoted) to $STUB_LOG.
# shellcheck shell=bash
record() {
    local line
    printf -v line '%q ' "$(basename "$0")" "$@"
    printf '%s\n' "${line% }" >>"${STUB_LOG:?}"
}
