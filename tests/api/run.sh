#!/usr/bin/env bash
# Runs the black-box API suite against the real binary, once per backend.
#
#   tests/api/run.sh [-v] [-k PATTERN]... BACKEND...    BACKEND: sqlite | postgres
#
# Environment:
#   ITEMS_API_BIN   binary under test (default build/items-api)
#   PYTHON          interpreter (default python3): standard library, PyYAML, and
#                   openapi-schema-validator (or jsonschema: Debian's
#                   python3-jsonschema) to check every response against
#                   openapi.yaml (contract.py); openapi-spec-validator for t00
#   KEEP_OUTPUT=1   keep server logs and databases even when everything passed
#   ITEMS_API_TEST_PG_URL  an external PostgreSQL (e.g. a CI service container,
#                   database "items", a user that may CREATE DATABASE/ROLE) instead
#                   of the throwaway one; the pg_ctl tests skip with their reason
# For the postgres backend a throwaway PostgreSQL is started (lib/pg.sh)
# and stopped on exit. Prints per-backend counts; exits non-zero if any test
# failed or any server wrote a sanitizer report to stderr.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"

PYTHON=${PYTHON:-python3}
export ITEMS_API_BIN=${ITEMS_API_BIN:-build/items-api}

runner_args=()
backends=()
while (($# > 0)); do
    case $1 in
    -v | -f) runner_args+=("$1") ;;
    -k)
        runner_args+=("-k" "$2")
        shift
        ;;
    sqlite | postgres) backends+=("$1") ;;
    *)
        echo "usage: $0 [-v] [-f] [-k PATTERN]... sqlite|postgres..." >&2
        exit 2
        ;;
    esac
    shift
done
if ((${#backends[@]} == 0)); then
    echo "usage: $0 [-v] [-f] [-k PATTERN]... sqlite|postgres..." >&2
    exit 2
fi
if [[ ! -x $ITEMS_API_BIN ]]; then
    echo "run.sh: $ITEMS_API_BIN is not built (make build)" >&2
    exit 2
fi

# Stoplight Prism for t59_contract's second opinion (run on the sqlite
# backend only): pinned in tests/contract/package-lock.json, installed into
# build/contract when the lock file changed.
for backend in "${backends[@]}"; do
    if [[ $backend == sqlite ]]; then
        tests/contract/install.sh >/dev/null
        break
    fi
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/items-api-api-tests.XXXXXX")
# The PostgreSQL server runs as another user when we are root: let it in.
chmod 0755 "$WORK"
PG_STARTED=0
failed=0

# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
    if ((PG_STARTED == 1)); then
        pg_stop || true
    fi
    if ((failed == 0)) && [[ -z ${KEEP_OUTPUT:-} ]]; then
        rm -rf "$WORK"
    else
        echo "run.sh: server logs and databases kept in $WORK" >&2
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# shellcheck source=lib/pg.sh
source "$ROOT/lib/pg.sh"

# Greps every server's stderr for sanitizer reports (ASan, LSan, UBSan).
sanitizer_reports() {
    local dir=$1
    grep -lE 'ERROR: (Address|Leak|Thread)Sanitizer|runtime error:|SUMMARY: (Address|Leak|UndefinedBehavior)Sanitizer' \
        "$dir"/servers/*.err 2>/dev/null || true
}

declare -a summaries=()
start_all=$SECONDS
for backend in "${backends[@]}"; do
    out="$WORK/$backend"
    mkdir -p "$out"
    if [[ $backend == postgres && -n ${ITEMS_API_TEST_PG_URL:-} ]] && ((PG_STARTED == 0)); then
        # An external server (CI's PostgreSQL service container): the suite
        # creates its databases there; the tests that stop and start the
        # server (pg_ctl) skip with a printed reason.
        echo "=== using the external PostgreSQL in ITEMS_API_TEST_PG_URL"
        eval "$("$PYTHON" - "$ITEMS_API_TEST_PG_URL" <<'PY'
import shlex, sys, urllib.parse
u = urllib.parse.urlsplit(sys.argv[1])
for k, v in (("PG_URL", sys.argv[1]), ("PG_HOST", u.hostname or "127.0.0.1"),
             ("PG_PORT", str(u.port or 5432)), ("PG_DBUSER", urllib.parse.unquote(u.username or "")),
             ("PG_PASSWORD", urllib.parse.unquote(u.password or "")),
             ("PG_ADMIN_DB", u.path.lstrip("/") or "postgres")):
    print("%s=%s" % (k, shlex.quote(v)))
PY
)"
        PG_BIN=${PG_BIN:-$(dirname "$(command -v psql)")}
        ITEMS_API_PG_EXTERNAL=1
        export PG_URL PG_HOST PG_PORT PG_DBUSER PG_PASSWORD PG_ADMIN_DB PG_BIN ITEMS_API_PG_EXTERNAL
        PG_STARTED=2
    fi
    if [[ $backend == postgres ]] && ((PG_STARTED == 0)); then
        echo "=== starting a throwaway PostgreSQL"
        # Throwaway data: no fsync, so that a database per server (CREATE
        # DATABASE copies the template) and shutdown checkpoints stay cheap.
        export PG_EXTRA_OPTS=${PG_EXTRA_OPTS:--c fsync=off -c synchronous_commit=off -c full_page_writes=off}
        pg_start "$WORK/pg"
        PG_STARTED=1
    fi
    echo "=== API tests: backend=$backend binary=$ITEMS_API_BIN"
    start=$SECONDS
    rc=0
    ITEMS_API_BACKEND=$backend ITEMS_API_TEST_OUT=$out \
        "$PYTHON" tests/api/runner.py "${runner_args[@]}" 2>&1 | tee "$out/runner.log" || rc=$?
    # pipefail: rc is the runner's status even through tee.
    summary=$(grep -a '^SUMMARY ' "$out/runner.log" | tail -n 1 || true)
    [[ -n $summary ]] || rc=1
    # Every response checked against openapi.yaml (tests/api/contract.py).
    contract=$(grep -a '^CONTRACT ' "$out/runner.log" | tail -n 1 || true)
    [[ -n $contract ]] || rc=1
    reports=$(sanitizer_reports "$out")
    if [[ -n $reports ]]; then
        echo "run.sh: sanitizer reports in server stderr:" >&2
        for f in $reports; do
            echo "--- $f" >&2
            head -n 60 "$f" >&2
        done
        rc=1
    fi
    if ((rc != 0)); then
        failed=1
        summaries+=("FAIL ${summary:-SUMMARY backend=$backend (no summary: runner crashed)} wall=$((SECONDS - start))s")
    else
        summaries+=("PASS $summary wall=$((SECONDS - start))s")
    fi
    summaries+=("     ${contract:-CONTRACT backend=$backend (no contract line: runner crashed)}")
done

echo "=== API test summary (binary=$ITEMS_API_BIN, $((SECONDS - start_all))s)"
printf '  %s\n' "${summaries[@]}"
exit "$failed"
