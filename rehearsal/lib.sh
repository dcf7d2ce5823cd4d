# shellcheck shell=bash disable=SC2034  # the variables are for the scripts that source this
# Shared by rehearsal/*.sh, tests/stack and tests/drills: the stack's
# names, addresses and small helpers. Source it; it defines, never runs.
#
# One stack = one STACK_NAME (prefix of its network namespaces) and one
# STACK_DIR (its files). `make stack` uses the defaults; the tests bring up
# their own stacks under other names so they never touch a developer's.

STACK_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STACK_NAME=${STACK_NAME:-itemsapi}
STACK_DIR=${STACK_DIR:-$STACK_ROOT/var/stack}
LB_SETTINGS=${LB_SETTINGS:-$STACK_ROOT/infrastructure/lb-settings.json}

if [[ ! $STACK_NAME =~ ^[a-z][a-z0-9]{0,15}$ ]]; then
    echo "STACK_NAME must be 1-16 lowercase letters/digits, starting with a letter (got '$STACK_NAME')" >&2
    return 2
fi

# Network namespaces: the "internet", the public subnet (ALB), the private
# app subnets (the Auto Scaling group), the private DB subnets (RDS), the VPC
# router between them, and a name for the machine's own namespace so that
# HAProxy can open its forwarded listener there. App and DB subnets come in
# two Availability Zones, a and b, as in infrastructure/ (one subnet per AZ
# and tier): namespaces <name>-appa, -appb, -dba, -dbb.
ZONES=(a b)
NS_PUB=$STACK_NAME-pub
NS_LB=$STACK_NAME-lb
NS_VPC=$STACK_NAME-vpc
NS_HOST=$STACK_NAME-host
app_ns() { echo "$STACK_NAME-app$1"; }
db_ns() { echo "$STACK_NAME-db$1"; }
STACK_NAMESPACES=("$NS_VPC" "$NS_PUB" "$NS_LB" "$STACK_NAME-appa" "$STACK_NAME-appb" "$STACK_NAME-dba" "$STACK_NAME-dbb")

# Addresses: the VPC's 10.0.0.0/16 like infrastructure/variables.tf, one /24
# per tier and zone (app a 10.0.10.0/24, app b 10.0.11.0/24, DB a
# 10.0.20.0/24, DB b 10.0.21.0/24); the "internet" is another private range.
# They exist only inside these namespaces.
IP_PUB=192.168.200.10
IP_LB=10.0.0.10
GW_PUB=192.168.200.1
GW_LB=10.0.0.1
declare -gA APP_IP=([a]=10.0.10.10 [b]=10.0.11.10) APP_GW=([a]=10.0.10.1 [b]=10.0.11.1)
declare -gA DB_IP=([a]=10.0.20.10 [b]=10.0.21.10) DB_GW=([a]=10.0.20.1 [b]=10.0.21.1)
NET_APP=10.0.10.0/23 # both app subnets
NET_DB=10.0.20.0/23  # both DB subnets
LB_PORT=80
DB_PORT=5432
other_zone() { if [[ $1 == a ]]; then echo b; else echo a; fi; }

# The database's endpoint, as on RDS: a DNS name, served to the app subnets
# by dnsmasq on the router (the VPC resolver's stand-in) with RDS's 5 s TTL.
# A failover changes its record; nothing else.
DB_HOST=items-db.$STACK_NAME.internal
DNS_TTL=5

# Files. STACK_DIR (default var/stack in the checkout) is root's: url,
# api-key, logs, the balancer's config and sockets, snapshots; it is made
# 0700, like the home directory a checkout often sits in. What the
# unprivileged users must reach — the releases the instances (user nobody)
# execute, the secrets they read, PostgreSQL's data directory (user
# postgres) — lives in the runtime directory instead: a fresh 0755
# directory under STACK_RUNTIME_PARENT (/run), named in $STACK_DIR/runtime
# and removed by stack-down. stack_paths sets the S_* names from it.
S_RUN=$STACK_DIR/run
S_LOG=$STACK_DIR/log
HAPROXY_SOCK=$S_RUN/haproxy.sock
STACK_RUNTIME_PARENT=${STACK_RUNTIME_PARENT:-/run}
stack_paths() {
    S_RT=
    if [[ -f $STACK_DIR/runtime ]]; then
        S_RT=$(cat "$STACK_DIR/runtime")
    fi
    # Before bring-up (or after a failed one) the names point nowhere.
    local rt=${S_RT:-$STACK_DIR/no-runtime}
    S_SECRETS=$rt/secrets
    S_RELEASES=$rt/releases
    S_PG=$rt/pg
    S_DNS=$rt/dns
}
stack_paths

stack_log() { printf '%s stack: %s\n' "$(date -u +%H:%M:%S.%3N)" "$*" >&2; }
stack_die() {
    stack_log "ERROR: $*"
    exit 1
}

# Microseconds since the epoch (the load generator uses the same clock).
now_us() {
    local t=$EPOCHREALTIME
    echo "${t/[.,]/}"
}

# A number from infrastructure/lb-settings.json: lb_setting KEY
lb_setting() {
    python3 - "$LB_SETTINGS" "$1" <<'PY'
import json, sys
v = json.load(open(sys.argv[1]))[sys.argv[2]]
print(v)
PY
}

# Time compression of the rehearsal's control loops: what AWS does per
# period of P seconds (an alarm's evaluation period, a scaling policy's
# warm-up) the stack does per P / STACK_TIME_FACTOR seconds, so a drill
# takes minutes. Counts per period (an alarm's threshold) are kept as they
# are: per second, the compressed guard is the stricter one.
STACK_TIME_FACTOR=${STACK_TIME_FACTOR:-10}
if [[ ! $STACK_TIME_FACTOR =~ ^[1-9][0-9]{0,2}$ ]]; then
    echo "STACK_TIME_FACTOR must be a whole number 1-999 (got '$STACK_TIME_FACTOR')" >&2
    return 2
fi
DEPLOY_GUARD=${DEPLOY_GUARD:-$STACK_ROOT/infrastructure/deploy-guard.json}

# The deploy guard (infrastructure/deploy-guard.json, the numbers of the
# CloudWatch alarm that stops an instance refresh), as GUARD_<KEY> shell
# variables, plus GUARD_PERIOD_MS: the period compressed by STACK_TIME_FACTOR.
load_deploy_guard() {
    local line
    while IFS= read -r line; do
        declare -g "$line"
    done < <(python3 - "$DEPLOY_GUARD" "$STACK_TIME_FACTOR" <<'PY'
import json, sys
g = json.load(open(sys.argv[1]))
for k in ("period_seconds", "evaluation_periods", "datapoints_to_alarm", "threshold"):
    if not isinstance(g.get(k), int) or g[k] < 0:
        sys.exit("deploy-guard.json: %s must be a whole number" % k)
# What the stack can count: each target's 5xx answers at the balancer.
if g.get("metric") != "HTTPCode_Target_5XX_Count" or g.get("statistic") != "Sum":
    sys.exit("deploy-guard.json: the stack's guard counts HTTPCode_Target_5XX_Count (Sum), not %s (%s)"
             % (g.get("metric"), g.get("statistic")))
# The Terraform alarm's comparison (GreaterThanThreshold) unless the file says otherwise.
op = g.get("comparison_operator", "GreaterThanThreshold")
if op not in ("GreaterThanThreshold", "GreaterThanOrEqualToThreshold"):
    sys.exit("deploy-guard.json: comparison_operator %s is not one the stack's guard knows" % op)
for k in ("period_seconds", "evaluation_periods", "datapoints_to_alarm", "threshold"):
    print("GUARD_%s=%d" % (k.upper(), g[k]))
print("GUARD_COMPARISON=%s" % op)
print("GUARD_PERIOD_MS=%d" % (g["period_seconds"] * 1000 // int(sys.argv[2])))
PY
)
    [[ -n ${GUARD_PERIOD_MS:-} ]] || {
        echo "cannot read the deploy guard from $DEPLOY_GUARD" >&2
        return 1
    }
}

# Everything lb-settings.json holds, as LB_<KEY> shell variables.
load_lb_settings() {
    local line
    while IFS= read -r line; do
        declare -g "$line"
    done < <(python3 - "$LB_SETTINGS" <<'PY'
import json, re, sys
for k, v in json.load(open(sys.argv[1])).items():
    if not re.fullmatch(r"[a-z0-9_]+", k) or not re.fullmatch(r"[A-Za-z0-9_./-]+", str(v)):
        sys.exit("lb-settings.json: unexpected entry %r" % k)
    print("LB_%s=%s" % (k.upper(), v))
PY
)
}

# Instance count and ports (instance i listens on app_port + i - 1).
stack_instances() { cat "$STACK_DIR/instances/count"; }
instance_port() { echo $((${LB_APP_PORT:-$(lb_setting app_port)} + $1 - 1)); }
# Zones, as the ASG spreads them: instance i's home zone alternates a, b,
# a, ...; the zone it runs in now is in instances/appN.zone (a zone loss
# moves it to the other one, az-restore moves it home).
instance_home_zone() { echo "${ZONES[($1 - 1) % 2]}"; }
instance_zone() { cat "$STACK_DIR/instances/app$1.zone" 2>/dev/null || instance_home_zone "$1"; }
instance_addr() { echo "${APP_IP[$(instance_zone "$1")]}"; }
instance_ns() { app_ns "$(instance_zone "$1")"; }
# The zone of the database primary (db/primary; a at bring-up).
db_primary_zone() { cat "$STACK_DIR/db/primary" 2>/dev/null || echo a; }

# The HAProxy runtime API: hactl "show stat". Over TCP on the balancer's
# loopback (bash speaks TCP, not unix sockets; rehearsal/hactl.py speaks
# to the unix socket run/haproxy.sock for people).
HAPROXY_ADMIN_PORT=9999
# shellcheck disable=SC2016  # expanded by the inner bash
hactl() {
    ip netns exec "$NS_LB" bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" && printf "%s\n" "$2" >&3 && cat <&3' \
        hactl "$HAPROXY_ADMIN_PORT" "$*"
}

# Fields of `show stat` for the app backend's servers, one line per server:
# lb_servers_fields status scur -> "app1 UP 0"
lb_servers_fields() {
    hactl "show stat" | awk -F, -v want="$*" '
        NR == 1 { sub(/^# /, ""); for (i = 1; i <= NF; i++) col[$i] = i; n = split(want, w, " "); next }
        $1 == "app" && $2 != "BACKEND" && $2 != "FRONTEND" {
            line = $2
            for (j = 1; j <= n; j++) { v = $(col[w[j]]); gsub(/ /, "_", v); line = line " " v }
            print line
        }'
}

# One field of one server: lb_server_field 2 scur. The status is UP, DOWN,
# MAINT, DRAIN, "UP_1/3" (going down), "DOWN_1/2" (coming up), ...
lb_server_field() { lb_servers_fields "$2" | awk -v s="app$1" '$1 == s { print $2 }'; }
lb_server_status() { lb_server_field "$1" status; }

# wait_until TIMEOUT_S INTERVAL_S CMD...: true once CMD succeeds.
wait_until() {
    local timeout=$1 interval=$2 deadline
    shift 2
    deadline=$(($(date +%s%3N) + ${timeout%.*} * 1000))
    while ! "$@"; do
        (($(date +%s%3N) < deadline)) || return 1
        sleep "$interval"
    done
}

# True when PID is alive and not a zombie.
pid_alive() {
    local state
    [[ -n ${1:-} && -r /proc/$1/stat ]] || return 1
    state=$(sed 's/^.*) \(.\).*/\1/' "/proc/$1/stat" 2>/dev/null) || return 1
    [[ -n $state && $state != Z ]]
}

# The service's own probe (no curl needed), run from a namespace:
# probe_url NS URL -> exit 0 iff GET URL answers 200.
probe_url() {
    local ns=$1 url=$2 bin
    bin=$(readlink -f "$STACK_DIR/current")/items-api
    ip netns exec "$ns" "$bin" healthcheck "$url" >/dev/null 2>&1
}

stack_is_up() { [[ -f $STACK_DIR/state && $(cat "$STACK_DIR/state") == up ]]; }
