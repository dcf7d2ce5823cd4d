# shellcheck shell=bash
# shellcheck disable=SC2154  # the configuration lives in release/lib.sh
# Step 7 of a release (release/deploy.sh): the smoke test through the load
# balancer, and the rule for where its API key may go. Sourced after
# release/lib.sh.
#
#   smoke                      GET /healthz and an authenticated GET /v1/items,
#                              SMOKE_PASSES times in a row
#   key_url_ok URL             may the key go to URL? https://, or http:// to loopback
#   check_smoke_url            refuses (exit 2) a plain-HTTP SMOKE_URL, before anything
#   check_planned_url          refuses (exit 2) a plain-HTTP service_url the plan gives
#
# The key goes from the CLI (or SMOKE_API_KEY) into a 0600 header file that
# curl reads (-H @file), never into argv or the log.

smoke_attempts=${SMOKE_ATTEMPTS:-20}
smoke_interval=${SMOKE_INTERVAL:-6}
smoke_passes=${SMOKE_PASSES:-3}

# key_url_ok URL: whether the smoke test may send an API key to URL: https://,
# or http:// whose host is a loopback address (an SSH or Session Manager
# tunnel). Anything else (plain http:// to another host, no scheme, which
# curl would take as http) would put the key on the network in clear text.
key_url_ok() {
    local url=$1 lower host
    lower=${url,,}
    host=$(url_host "$url")
    [[ -n $host ]] || return 1
    case $lower in
    https://*) return 0 ;;
    http://*) [[ $host == localhost || $host == "[::1]" || $host =~ ^127\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}$ ]] ;;
    *) return 1 ;;
    esac
}
# url_host URL: prints URL's host in lower case (no user info, no port);
# nothing without a scheme.
url_host() {
    local rest authority host
    [[ $1 == *://* ]] || return 0
    rest=${1#*://}
    authority=${rest%%[/?#]*}
    authority=${authority##*@}
    if [[ $authority == \[* ]]; then
        host=${authority%%]*}]
    else
        host=${authority%%:*}
    fi
    printf '%s' "${host,,}"
}
# safe_url URL: scheme://host of URL, for messages (no user info, path or query).
safe_url() {
    local host
    host=$(url_host "$1")
    if [[ -n $host ]]; then printf '%s://%s' "${1%%://*}" "$host"; else printf '%s' '<no scheme or host>'; fi
}
# refuse_plain_http URL WHAT: exit 2 (nothing changed), saying why.
refuse_plain_http() {
    die 2 "refusing to send an API key to $(safe_url "$1") ($2): plain HTTP to a host that is not loopback carries the key in clear text. Serve HTTPS (certificate_arn or domain_name; allow_plain_http = false), or set SMOKE_URL to an https:// URL or to http://127.0.0.1:PORT through a tunnel"
}

# check_smoke_url: a SMOKE_URL the key may not go to is refused up front.
check_smoke_url() {
    if [[ -n ${SMOKE_URL:-} ]]; then
        key_url_ok "$SMOKE_URL" || refuse_plain_http "$SMOKE_URL" "SMOKE_URL"
    fi
    return 0
}

# planned_service_url: the service_url output the saved plan gives, empty
# when it is unknown until the apply.
planned_service_url() {
    tf show -no-color -json "$work/tfplan" 2>/dev/null | python3 -c '
import json, sys
try:
    plan = json.load(sys.stdin)
except ValueError:
    sys.exit(0)
out = (plan.get("planned_values") or {}).get("outputs", {}).get("service_url") or {}
value = out.get("value")
if isinstance(value, str):
    print(value)
' || true
}

# check_planned_url: where the smoke test will send the key (without
# SMOKE_URL: the service_url the plan gives, else the current one): refused
# now, before the push and the apply, rather than after the release.
check_planned_url() {
    local planned_url
    [[ -z ${SMOKE_URL:-} ]] || return 0
    planned_url=$(planned_service_url)
    [[ -n $planned_url ]] || planned_url=$(tf_out service_url)
    if [[ -n $planned_url ]] && ! key_url_ok "$planned_url"; then
        refuse_plain_http "$planned_url" "the stack's service_url"
    fi
    return 0
}

# prepare_smoke_key [SECRET_ARN]: the API key (SMOKE_API_KEY, else the first
# key in the API-keys secret: SECRET_ARN, default the stack's output) into a
# header file only curl reads. Shared with release/verify.sh.
prepare_smoke_key() {
    local key=${SMOKE_API_KEY:-} arn=${1:-}
    if [[ -z $key ]]; then
        [[ -n $arn ]] || arn=$(tf_out api_keys_secret_arn)
        [[ -n $arn ]] || {
            log "no SMOKE_API_KEY and no api_keys_secret_arn output"
            return 1
        }
        key=$(aws secretsmanager get-secret-value --region "$region" --secret-id "$arn" \
            --query SecretString --output text | awk 'NF && $1 !~ /^#/ {print $1; exit}') || true
    fi
    [[ -n $key ]] || {
        log "no API key for the smoke test (the secret is empty?)"
        return 1
    }
    ((in_actions)) && echo "::add-mask::$key"
    (
        umask 077
        printf 'Authorization: Bearer %s\n' "$key" >"$work/auth-header"
    )
}

# http PATH [curl args]: prints the status code; the body goes to $work/body.
http() {
    local path=$1
    shift
    curl -sS -o "$work/body" -w '%{http_code}' --max-time 10 "$@" "$smoke_base$path" 2>"$work/curl.err" || true
}

# smoke: SMOKE_PASSES consecutive good rounds (several instances behind the
# load balancer answer) within SMOKE_ATTEMPTS tries. Sets smoke_base (the
# run record's service URL).
smoke() {
    local attempt good=0 h r
    smoke_base=${SMOKE_URL:-$(tf_out service_url)}
    [[ -n $smoke_base ]] || smoke_base="http://$(tf_out alb_dns_name)"
    smoke_base=${smoke_base%/}
    if ! key_url_ok "$smoke_base"; then
        log "refusing to send an API key to $(safe_url "$smoke_base"): plain HTTP to a host that is not loopback"
        return 1
    fi
    prepare_smoke_key "" || return 1 # "": the stack's secret
    for ((attempt = 1; attempt <= smoke_attempts; attempt++)); do
        h=$(http /healthz)
        r=000
        [[ $h == 200 ]] && r=$(http '/v1/items?limit=1' -H "@$work/auth-header")
        if [[ $h == 200 && $r == 200 ]] && grep -q '"items"' "$work/body"; then
            good=$((good + 1))
            if ((good >= smoke_passes)); then
                log "smoke test passed: $smoke_base/healthz 200, authenticated /v1/items 200 ($good in a row)"
                return 0
            fi
            continue
        fi
        good=0
        log "smoke attempt $attempt/$smoke_attempts: /healthz $h, /v1/items $r $(head -c 200 "$work/curl.err" 2>/dev/null)"
        ((attempt == smoke_attempts)) || sleep "$smoke_interval"
    done
    log "smoke test failed against $smoke_base"
    return 1
}
