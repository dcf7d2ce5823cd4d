#!/usr/bin/env bash
# Verification under traffic: after a deploy passed its smoke test, a short,
# steady read/write mix through the service URL, judged by numbers; on a
# pass, optionally the record in ECR that this environment verified the
# image (release/deploy.sh --require-verified ENV checks it before a
# promotion).
#
#   release/verify.sh --url URL [--seconds 60] [--rate 5] [--writes 30] [--p99-ms 500]
#                     [--mark ENV --repository NAME --digest sha256:HEX]
#
#   --url URL         the service, https:// (or http:// to a loopback address:
#                     the same rule as the smoke test, the requests carry a key)
#   --seconds N       how long to send (default VERIFY_SECONDS, else 60)
#   --rate R          requests per second, paced, each its own curl (default
#                     VERIFY_RATE, else 5: modest, a staging stack's floor)
#   --writes P        percent of POST /v1/items; the rest GET /v1/items?limit=10
#                     (default 30)
#   --p99-ms MS       the bound on the 99th percentile of curl's time_total
#                     (default VERIFY_P99_MS, else 500)
#   --mark ENV        on a pass, tag the digest verified-ENV-<first 12 hex> in
#                     the repository (ecr put-image of the same manifest; the
#                     tag is immutable like every tag there; already there and
#                     pointing at the digest: nothing to do)
#
# Pass: every request answered 2xx (so 0 5xx, 0 connection errors or
# timeouts, 0 429 or 401) and p99 <= the bound. The figures go to the log,
# the job summary (VERIFY_SUMMARY, else GITHUB_STEP_SUMMARY) and
# GITHUB_OUTPUT (verify=passed|failed, p99_ms=, requests=).
#
# The API key: SMOKE_API_KEY, else the first key in the secret --secret-arn
# ARN (read with the deploy role, as the smoke test does). It goes into a
# 0600 header file that curl reads (-H @file), never into argv or the log.
#
# Exit status: 0 passed (and marked, with --mark); 1 failed the criteria;
# 2 could not run (bad input, no key, a URL the key may not go to);
# 3 passed, but the mark could not be written.
set -euo pipefail

release_dir=$(dirname "${BASH_SOURCE[0]}")
started=$(date +%s)
log() { printf 'verify [%4ss]: %s\n' "$(($(date +%s) - started))" "$*" >&2; }
die() {
    local code=$1
    shift
    log "ERROR: $*"
    exit "$code"
}
in_actions=0
[[ ${GITHUB_ACTIONS:-} == true ]] && in_actions=1
work=$(mktemp -d "${TMPDIR:-/tmp}/items-api-verify.XXXXXX")
chmod 0700 "$work"
trap 'rm -rf "$work"' EXIT
# shellcheck source=release/smoke.sh
source "$release_dir/smoke.sh" # key_url_ok, safe_url: where a key may go

url=''
seconds=${VERIFY_SECONDS:-60}
rate=${VERIFY_RATE:-5}
writes=30
p99_bound=${VERIFY_P99_MS:-500}
mark_env=''
repository=''
digest=''
secret_arn=${VERIFY_SECRET_ARN:-}
region=${AWS_REGION:-${AWS_DEFAULT_REGION:-}}
while (($# > 0)); do
    [[ $1 == -h || $1 == --help ]] && {
        sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//' >&2
        exit 0
    }
    [[ -n ${2:-} ]] || die 2 "$1 needs a value (--help)"
    case $1 in
    --url) url=${2%/} ;;
    --seconds) seconds=$2 ;;
    --rate) rate=$2 ;;
    --writes) writes=$2 ;;
    --p99-ms) p99_bound=$2 ;;
    --mark) mark_env=$2 ;;
    --repository) repository=$2 ;;
    --digest) digest=$2 ;;
    --secret-arn) secret_arn=$2 ;;
    *) die 2 "unknown argument '$1' (--help)" ;;
    esac
    shift 2
done
for n in "$seconds" "$rate" "$writes" "$p99_bound"; do
    [[ $n =~ ^[0-9]+$ ]] || die 2 "not a whole number: $n"
done
((seconds > 0 && rate > 0 && writes <= 100)) || die 2 "--seconds and --rate must be > 0, --writes at most 100"
[[ -n $url ]] || die 2 "--url is required"
key_url_ok "$url" || die 2 "refusing to send an API key to $(safe_url "$url"): plain HTTP to a host that is not loopback"
if [[ -n $mark_env ]]; then
    [[ $mark_env =~ ^[a-z][a-z0-9-]{0,31}$ ]] || die 2 "--mark: not an environment name: $mark_env"
    [[ $digest =~ ^sha256:[0-9a-f]{64}$ ]] || die 2 "--mark needs --digest sha256:<64 hex>"
    [[ -n $repository ]] || die 2 "--mark needs --repository (the ECR repository name)"
    [[ -n $region ]] || die 2 "--mark needs AWS_REGION"
fi

# The key, into a header file only curl reads (smoke.sh's, from the secret).
[[ -n ${SMOKE_API_KEY:-} || -n $secret_arn ]] || die 2 "no API key: set SMOKE_API_KEY or pass --secret-arn"
prepare_smoke_key "$secret_arn" || die 2 "no API key: set SMOKE_API_KEY or pass --secret-arn"
unset SMOKE_API_KEY
printf 'Content-Type: application/json\n' >"$work/json-header"

# request I: one request, one line "KIND STATUS SECONDS" appended to
# results (a short line, one write: atomic under O_APPEND). Connection
# errors and timeouts are status 000.
run_id=$(date +%s)-$$
request() {
    local i=$1 kind=R line
    local args=(-sS -o /dev/null -w '%{http_code} %{time_total}' --max-time 10 -H "@$work/auth-header")
    if (((i + 1) * writes / 100 != i * writes / 100)); then
        kind=W
        printf '{"name":"verify %s %d","data":{"verify":true}}' "$run_id" "$i" >"$work/body-$i"
        args+=(-X POST -H "@$work/json-header" --data-binary "@$work/body-$i")
        line=$(curl "${args[@]}" "$url/v1/items" 2>/dev/null) || true
        rm -f "$work/body-$i"
    else
        line=$(curl "${args[@]}" "$url/v1/items?limit=10" 2>/dev/null) || true
    fi
    [[ $line =~ ^[0-9]{3}\ [0-9.]+$ ]] || line="000 0"
    printf '%s %s\n' "$kind" "$line" >>"$work/results"
}

total=$((seconds * rate))
log "verifying $(safe_url "$url"): $total requests over ${seconds}s at ${rate}/s, ${writes}% writes; pass: all 2xx, p99 <= ${p99_bound} ms"
: >"$work/results"
# Paced from one clock (microseconds) so a slow request delays none after it.
t0=${EPOCHREALTIME/./}
for ((i = 0; i < total; i++)); do
    due=$((t0 + i * 1000000 / rate))
    now=${EPOCHREALTIME/./}
    ((due <= now)) || sleep "$(printf '%d.%06d' $(((due - now) / 1000000)) $(((due - now) % 1000000)))"
    request "$i" &
done
wait

# The figures: counts per class, percentiles of time_total.
read -r requests ok5xx conn other p50 p99 max < <(python3 - "$work/results" <<'PY'
import sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
codes = [r[1] for r in rows]
times = sorted(float(r[2]) * 1000 for r in rows if r[1] != "000")
def pct(p):
    return round(times[min(len(times) - 1, int(p / 100 * len(times)))]) if times else 0
print(len(rows), sum(c.startswith("5") for c in codes), codes.count("000"),
      sum(not c.startswith(("2", "5")) and c != "000" for c in codes), pct(50), pct(99), round(times[-1]) if times else 0)
PY
)
result=passed
why=
((requests == total)) || why+="${why:+, }$((total - requests)) requests unrecorded"
((ok5xx == 0)) || why+="${why:+, }$ok5xx 5xx"
((conn == 0)) || why+="${why:+, }$conn connection errors or timeouts"
((other == 0)) || why+="${why:+, }$other non-2xx (4xx) answers"
((p99 <= p99_bound)) || why+="${why:+, }p99 ${p99} ms > ${p99_bound} ms"
[[ -z $why ]] || result=failed
figures="$requests requests in ${seconds}s: $ok5xx 5xx, $conn connection errors, $other other non-2xx; p50 $p50 ms, p99 $p99 ms (bound $p99_bound), max $max ms"
log "verification $result: $figures${why:+ ($why)}"

marked=
if [[ $result == passed && -n $mark_env ]]; then
    mark_tag="verified-$mark_env-${digest:7:12}"
    # shellcheck source=release/mark.sh
    source "$release_dir/mark.sh"
    if mark_digest "$repository" "$digest" "$mark_tag"; then marked="\`$mark_tag\`"; else marked="FAILED"; fi
fi

summary_file=${VERIFY_SUMMARY:-${GITHUB_STEP_SUMMARY:-}}
if [[ -n $summary_file ]]; then
    {
        echo "### Verification under traffic${mark_env:+ ($mark_env)}: $result"
        echo
        echo "| | |"
        echo "| --- | --- |"
        echo "| service URL | $(safe_url "$url") |"
        [[ -z $digest ]] || echo "| digest | \`$digest\` |"
        echo "| traffic | ${seconds} s at ${rate}/s, ${writes}% writes |"
        echo "| figures | $figures |"
        [[ -z $why ]] || echo "| failed on | $why |"
        [[ -z $marked ]] || echo "| record | $marked |"
    } >>"$summary_file"
fi
if [[ -n ${GITHUB_OUTPUT:-} ]]; then
    printf 'verify=%s\np99_ms=%s\nrequests=%s\n' "$result" "$p99" "$requests" >>"$GITHUB_OUTPUT"
fi
[[ $result == passed ]] || exit 1
[[ $marked != FAILED ]] || die 3 "verified, but the record $mark_tag could not be written: promotion will refuse this digest"
exit 0
