#!/usr/bin/env bash
# The local production rehearsal's own test (make test-stack):
#
#   1. the HAProxy config is generated from infrastructure/lb-settings.json
#      (change a number there, the config follows) with the ALB's rules and
#      disabled slots up to the group's maximum; the scaler's decisions
#      follow target tracking's rules (tests/stack/scaler_policy.py);
#   2. a stack comes up (its own STACK_NAME, never a developer's stack) and
#      the allowed paths work: internet -> balancer, machine -> forwarded
#      port, balancer -> instances, instances -> database (by its name,
#      through the stack's resolver), database <-> database (replication);
#      the instances are spread over zones a and b, the database has a
#      synchronous standby in the other zone;
#   3. the forbidden paths are refused by the network: internet ->
#      instance, internet -> database, balancer -> database (and database ->
#      instance, instance -> instance across zones), each next to an allowed path to the same port so the
#      refusal is the firewall's, not an absent listener's;
#   4. the runbook's local rehearsal: a new API key and a database restore
#      from a snapshot go live with one rolling update;
#   4b. stack-status names each instance's release, with no error for an
#      instance that has no process;
#   5. stack-down leaves nothing (a running scaler included): no process (by pid, by network namespace,
#      by command line), no namespace, no nftables table, no veth, no file
#      (the stack directory, the runtime directory, /etc/netns/<ns>, an
#      empty var/);
#   6. a bring-up that fails half-way tears down what it started.
#
# Prints one line per check; exits 1 if any failed. Needs root.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export STACK_NAME=${STACKTEST_NAME:-stacktest}
export STACK_DIR=$ROOT/var/stack-$STACK_NAME
# shellcheck source=rehearsal/lib.sh
source "$ROOT/rehearsal/lib.sh"
STACK=$ROOT/rehearsal/stack.sh
WORK=

failures=0
pass() { printf '  ok      %s\n' "$*"; }
fail() {
    printf '  FAIL    %s\n' "$*"
    failures=$((failures + 1))
}
check() {
    local what=$1
    shift
    if "$@"; then pass "$what"; else fail "$what"; fi
}

cleanup() {
    local rc=$?
    if [[ -d $STACK_DIR ]] || [[ -e /run/netns/$NS_VPC ]]; then
        "$STACK" down >/dev/null 2>&1 || true
    fi
    [[ -z $WORK ]] || rm -rf "$WORK"
    exit "$rc"
}
(($(id -u) == 0)) || {
    echo "test-stack: needs root (network namespaces, nftables)" >&2
    exit 1
}
# One run at a time (the stack's name is fixed).
mkdir -p "$ROOT/build"
exec 9>"$ROOT/build/.stack-test.lock"
if ! flock -n 9; then
    echo "test-stack: another run holds build/.stack-test.lock: waiting for it"
    flock -w 900 9 || exit 1
fi
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
WORK=$(mktemp -d /tmp/stack-test.XXXXXX)

# tcp_probe NS ADDR PORT -> open | refused | unreachable | timeout | error
tcp_probe() {
    local out rc=0
    # shellcheck disable=SC2016  # expanded by the inner bash
    out=$(ip netns exec "$1" timeout 3 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$2" "$3" 2>&1) || rc=$?
    if ((rc == 0)); then
        echo open
    elif ((rc == 124)); then
        echo timeout
    elif [[ $out == *refused* ]]; then
        echo refused
    elif [[ $out == *"No route"* || $out == *unreachable* ]]; then
        echo unreachable
    else
        echo "error: $out"
    fi
}

expect_path() {
    local what=$1 want=$2 ns=$3 addr=$4 port=$5 got
    got=$(tcp_probe "$ns" "$addr" "$port")
    if [[ $got == "$want" ]]; then
        pass "$what ($ns -> $addr:$port: $got)"
    else
        fail "$what ($ns -> $addr:$port: expected $want, got $got)"
    fi
}

# http METHOD URL [KEY] [BODY] -> "status body" (python3: no curl needed)
http() {
    python3 - "$@" <<'PY'
import sys, urllib.request, urllib.error
method, url = sys.argv[1], sys.argv[2]
key = sys.argv[3] if len(sys.argv) > 3 and sys.argv[3] else None
body = sys.argv[4].encode() if len(sys.argv) > 4 else None
req = urllib.request.Request(url, data=body, method=method)
if key:
    req.add_header("Authorization", "Bearer " + key)
if body is not None:
    req.add_header("Content-Type", "application/json")
try:
    with urllib.request.urlopen(req, timeout=5) as r:
        print(r.status, r.read().decode())
except urllib.error.HTTPError as e:
    print(e.code, e.read().decode())
except Exception as e:
    print(0, e)
PY
}

# ------------------------------------------------------------------ 1
echo "--- the balancer's config comes from infrastructure/lb-settings.json"
python3 - "$LB_SETTINGS" "$WORK/lb-settings.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
s.update(health_check_path="/drill-health", health_check_interval_seconds=7,
         health_check_timeout_seconds=3, health_check_healthy_threshold=4,
         health_check_unhealthy_threshold=5, idle_timeout_seconds=33, max_header_bytes=32768, app_port=9100)
json.dump(s, open(sys.argv[2], "w"))
PY
gen() {
    python3 "$ROOT/rehearsal/gen-haproxy.py" --settings "$1" --instances 2 --lb-addr 10.0.0.10 \
        --lb-port 80 --app-addr 10.0.10.10 --host-ns x-host --host-port 1234 --socket /tmp/x.sock --admin-port 9999
}
gen "$WORK/lb-settings.json" >"$WORK/changed.cfg"
gen "$LB_SETTINGS" >"$WORK/real.cfg"
has() { grep -qE -- "$2" "$1"; }
load_lb_settings
check "health check path follows the settings file" has "$WORK/changed.cfg" 'uri /drill-health '
check "interval, thresholds follow it" has "$WORK/changed.cfg" 'inter 7s fastinter 7s downinter 7s rise 4 fall 5 '
check "check timeout follows it" has "$WORK/changed.cfg" 'timeout check 3s$'
check "idle timeout follows it" has "$WORK/changed.cfg" 'timeout client 33s$'
check "header size limit follows it" has "$WORK/changed.cfg" 'tune.bufsize 33792$'
check "instance ports follow app_port" has "$WORK/changed.cfg" 'server app2 10.0.10.10:9101$'
check "real settings: health check path $LB_HEALTH_CHECK_PATH" has "$WORK/real.cfg" "uri $LB_HEALTH_CHECK_PATH "
check "real settings: interval ${LB_HEALTH_CHECK_INTERVAL_SECONDS}s rise $LB_HEALTH_CHECK_HEALTHY_THRESHOLD fall $LB_HEALTH_CHECK_UNHEALTHY_THRESHOLD" \
    has "$WORK/real.cfg" "inter ${LB_HEALTH_CHECK_INTERVAL_SECONDS}s .* rise $LB_HEALTH_CHECK_HEALTHY_THRESHOLD fall $LB_HEALTH_CHECK_UNHEALTHY_THRESHOLD "
check "request URLs over the ALB's 16 KiB request line get 414" has "$WORK/real.cfg" 'deny status 414 .* if \{ url_len gt 16384 \}$'
check "no retries (retries 0)" has "$WORK/real.cfg" '^    retries 0$'
check "no redispatch" has "$WORK/real.cfg" '^    no option redispatch$'
check "X-Forwarded-For" has "$WORK/real.cfg" '^    option forwardfor$'
check "invalid header names dropped (drop_invalid_header_fields)" has "$WORK/real.cfg" 'http-restrict-req-hdr-names delete'
if ! grep -q 'option redispatch' <(grep -v 'no option redispatch' "$WORK/real.cfg") &&
    ! grep -qE '^\s*retries [1-9]' "$WORK/real.cfg"; then
    pass "nothing re-enables retries or redispatch"
else
    fail "something re-enables retries or redispatch"
fi
echo "--- the scaler decides as target tracking does (tests/stack/scaler_policy.py, no stack)"
check "scaler policy: every case above" python3 "$ROOT/tests/stack/scaler_policy.py"

# The Auto Scaling group's room to grow (rehearsal/asg.sh): slots past the
# instances are declared, disabled (no traffic, no checks) until a launch.
python3 "$ROOT/rehearsal/gen-haproxy.py" --settings "$LB_SETTINGS" --instances 2 --slots 4 --lb-addr 10.0.0.10 \
    --lb-port 80 --app-addrs 10.0.10.10,10.0.11.10,10.0.10.10,10.0.11.10 --host-ns x-host --host-port 1234 \
    --socket /tmp/x.sock --admin-port 9999 >"$WORK/slots.cfg"
check "slots past the instances are declared disabled" has "$WORK/slots.cfg" "server app4 10.0.11.10:$((LB_APP_PORT + 3)) disabled$"
check "the instances' own slots are enabled" has "$WORK/slots.cfg" "server app2 10.0.11.10:$((LB_APP_PORT + 1))$"
if python3 "$ROOT/rehearsal/gen-haproxy.py" --settings /dev/null --instances 1 --lb-addr a --lb-port 1 \
    --app-addr b --host-ns c --host-port 2 --socket d --admin-port 3 >/dev/null 2>&1; then
    fail "a broken settings file is refused"
else
    pass "a broken settings file is refused"
fi

# ------------------------------------------------------------------ 2
echo "--- bring-up ($STACK_NAME, ${STACKTEST_INSTANCES:-3} instances)"
if [[ -d $STACK_DIR || -e /run/netns/$NS_VPC ]]; then
    "$STACK" down >/dev/null 2>&1 || true
fi
nft list tables >"$WORK/nft-before" 2>&1 || true
t0=$(date +%s)
"$STACK" up "${STACKTEST_INSTANCES:-3}" >"$WORK/up.log" 2>&1 9>&- || {
    cat "$WORK/up.log"
    fail "stack up"
    exit 1
}
pass "stack up in $(($(date +%s) - t0)) s"
stack_paths
N=$(stack_instances)
URL=$(cat "$STACK_DIR/url")
KEY=$(cat "$STACK_DIR/api-key")
check "url and api-key files written" test -s "$STACK_DIR/url" -a -s "$STACK_DIR/api-key"
check "the printed URL is the forwarded loopback port" grep -q "URL      $URL" "$WORK/up.log"
check "the printed key is the one in api-key" grep -q "API key  $KEY" "$WORK/up.log"
check "the api-key file is private (0600)" test "$(stat -c %a "$STACK_DIR/api-key")" = 600
check "instances drain for the deregistration delay (DRAIN_SECONDS)" \
    grep -qx "DRAIN_SECONDS=$LB_DEREGISTRATION_DELAY_SECONDS" "$STACK_DIR/instances/app1.env"
pid1=$(cat "$S_RUN/app1.pid")
check "instances run unprivileged (nobody)" test "$(stat -c %U "/proc/$pid1")" = nobody
# The stack directory is private, as a checkout in a 0700 home directory
# would be; the instances (nobody) and PostgreSQL (postgres) run from the
# runtime directory, which they can traverse.
check "the stack directory is private (0700)" test "$(stat -c %a "$STACK_DIR")" = 700
check "the runtime directory $S_RT is 0755 root, outside the checkout" \
    test "$(stat -c '%a %U' "$S_RT")" = "755 root" -a "${S_RT#"$ROOT"/}" = "$S_RT"
runs_from_runtime() { [[ $(readlink -f "/proc/$pid1/exe") == "$S_RELEASES"/*/items-api ]]; }
check "instances execute a release in the runtime directory" runs_from_runtime
check "PostgreSQL runs (as postgres) from the runtime directory" \
    test "$(stat -c %U "/proc/$(head -n 1 "$S_PG/a/data/postmaster.pid")")" = postgres

echo "--- two zones, a synchronous standby, the database by name"
zones_of_instances=$(for ((i = 1; i <= N; i++)); do instance_zone "$i"; done | sort -u | tr -d '\n')
check "instances spread over zones a and b (as the ASG does): $zones_of_instances" test "$zones_of_instances" = ab
in_zone_ns() {
    local i=$1 ino want
    ino=$(stat -L -c %i "/proc/$(cat "$S_RUN/app$i.pid")/ns/net")
    want=$(stat -L -c %i "/run/netns/$(instance_ns "$i")")
    [[ $ino == "$want" ]]
}
for ((i = 1; i <= N; i++)); do
    check "app$i runs in its zone's app subnet ($(instance_ns "$i"), $(instance_addr "$i"))" in_zone_ns "$i"
done
check "the primary is in zone a, the standby in zone b" test "$(db_primary_zone)/$(cat "$STACK_DIR/db/standby")" = a/b
# psql on the primary (zone a), from its own namespace
psql_a() {
    (
        # shellcheck source=/dev/null
        source "$S_SECRETS/pg-a.env"
        ip netns exec "$PG_NETNS" env PGPASSWORD="$PG_PASSWORD" "$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U items -d items -qAt "$@"
    )
}
sync_state=$(psql_a -c "SELECT application_name || ' ' || state || ' ' || sync_state FROM pg_stat_replication")
check "the standby streams synchronously from the primary ($sync_state)" test "$sync_state" = "dbb streaming sync"
check "synchronous_commit is on" test "$(psql_a -c 'SHOW synchronous_commit')" = on
url_host() { sed -n 's|^postgres://[^@]*@\([^:/]*\).*|\1|p' "$S_SECRETS/database-url"; }
check "DATABASE_URL names the database by $DB_HOST, not an address" test "$(url_host)" = "$DB_HOST"
for z in "${ZONES[@]}"; do
    check "$DB_HOST resolves to the primary (${DB_IP[a]}) in app subnet $z" \
        test "$(ip netns exec "$(app_ns "$z")" getent ahostsv4 "$DB_HOST" | awk 'NR == 1 { print $1 }')" = "${DB_IP[a]}"
done
ttl=$(ip netns exec "$(app_ns a)" python3 - "${APP_GW[a]}" "$DB_HOST" <<'PY'
import socket, struct, sys
server, name = sys.argv[1], sys.argv[2]
q = struct.pack(">HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0)
q += b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0" + struct.pack(">HH", 1, 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(3)
s.sendto(q, (server, 53))
r = s.recv(512)
i = len(q)
i += 2 + 2 + 2  # name pointer, type, class
print(struct.unpack(">I", r[i:i + 4])[0])
PY
)
check "the name's TTL is ${DNS_TTL} s, as the RDS endpoint's (got $ttl)" test "$ttl" = "$DNS_TTL"

echo "--- allowed paths"
r=$(http GET "$URL/healthz")
check "machine -> forwarded port -> balancer: GET /healthz 200 ($URL)" test "${r%% *}" = 200
r=$(http POST "$URL/v1/items" "$KEY" '{"name":"stack-test"}')
check "machine -> balancer -> instance -> database: POST /v1/items 201" test "${r%% *}" = 201
id=$(sed -n 's/.*"id":\([0-9]*\).*/\1/p' <<<"$r")
r=$(http GET "$URL/v1/items/$id" "$KEY")
check "GET it back: 200" test "${r%% *}" = 200
r=$(http GET "$URL/v1/items/$id")
check "without a key: 401" test "${r%% *}" = 401
long_url() { python3 -c 'import sys; print("/v1/items?q=" + "a" * (int(sys.argv[1]) - 12))' "$1"; }
# (the service's own limit is 8 KiB: it answers 414 too, with its own body)
from_balancer() { [[ $r == "414 "*"load balancer: request line over 16 KiB"* ]]; }
from_service() { [[ $r != 0* && $r != *"load balancer: request line"* ]]; }
r=$(http GET "$URL$(long_url 16385)" "$KEY")
check "a 16,385-byte URL: 414 from the balancer (the ALB's request-line quota)" from_balancer
r=$(http GET "$URL$(long_url 16384)" "$KEY")
check "a 16,384-byte URL passes the balancer (the service answers: ${r:0:60})" from_service
expect_path "internet -> balancer listener" open "$NS_PUB" "$IP_LB" "$LB_PORT"
check "internet -> balancer: GET /healthz 200" probe_url "$NS_PUB" "http://$IP_LB:$LB_PORT/healthz"
for ((i = 1; i <= N; i++)); do
    expect_path "balancer -> instance $i" open "$NS_LB" "$(instance_addr "$i")" "$(instance_port "$i")"
    check "balancer -> instance $i: GET /readyz 200 (so instance -> database works)" \
        probe_url "$NS_LB" "http://$(instance_addr "$i"):$(instance_port "$i")/readyz"
done
for z in "${ZONES[@]}"; do
    for zd in "${ZONES[@]}"; do
        expect_path "instances in zone $z -> database in zone $zd" open "$(app_ns "$z")" "${DB_IP[$zd]}" "$DB_PORT"
    done
done
expect_path "database b -> database a (replication)" open "$(db_ns b)" "${DB_IP[a]}" "$DB_PORT"
expect_path "database a -> database b (replication)" open "$(db_ns a)" "${DB_IP[b]}" "$DB_PORT"

echo "--- runbook rehearsal: add an API key and restore a snapshot, in one rolling update"
r=$(http POST "$URL/v1/items" "$KEY" '{"name":"before-snapshot"}')
id_a=$(sed -n 's/.*"id":\([0-9]*\).*/\1/p' <<<"$r")
check "snapshot" "$STACK" snapshot rehearsal
r=$(http POST "$URL/v1/items" "$KEY" '{"name":"after-snapshot"}')
id_b=$(sed -n 's/.*"id":\([0-9]*\).*/\1/p' <<<"$r")
new_key=$(head -c 24 /dev/urandom | base64 | tr '+/' '-_')
echo "$new_key" >>"$S_SECRETS/api-keys"
r=$(http GET "$URL/v1/items/$id_a" "$new_key")
check "a key added to the file is not accepted before the instances restart (401)" test "${r%% *}" = 401
t0=$(date +%s)
if "$STACK" restore rehearsal >"$WORK/restore.log" 2>&1 9>&-; then
    pass "restore + rolling update in $(($(date +%s) - t0)) s"
else
    fail "restore: $(tail -n 5 "$WORK/restore.log")"
fi
all_status() {
    local want=$1 path=$2 key=$3 r _
    for _ in 1 2 3 4 5 6; do
        r=$(http GET "$URL$path" "$key")
        [[ ${r%% *} == "$want" ]] || return 1
    done
}
check "the new key works on every instance" all_status 200 "/v1/items/$id_a" "$new_key"
check "the old key still works on every instance (both active)" all_status 200 "/v1/items/$id_a" "$KEY"
check "the restored database has the item written before the snapshot, not the one after" \
    all_status 404 "/v1/items/$id_b" "$KEY"
check "the DATABASE_URL secret names the restored database" grep -q '/items_restored_' "$S_SECRETS/database-url"
each_instance_restored() {
    local i
    for ((i = 1; i <= N; i++)); do
        grep -q /items_restored_ "$S_SECRETS/app$i.database-url" || return 1
    done
}
check "every instance's own DATABASE_URL_FILE names it (each switched at its replacement)" each_instance_restored
# Each instance got the new URL only when it was replaced: its copy was
# written after its old process had drained (SIGTERM + DRAIN_SECONDS: the
# old process serves until then) and before the new one was ready.
restore_order_ok() {
    local i t_copy t_term t_ready
    for ((i = 1; i <= N; i++)); do
        t_copy=$(date -r "$S_SECRETS/app$i.database-url" +%s%3N)
        read -r t_term t_ready < <(awk -v a="app$i" '$2 == a { d = $6; r = $8 } END { sub(/drained=/, "", d); sub(/ready=/, "", r); print d, r }' "$STACK_DIR/roll.log")
        [[ $t_term =~ ^[0-9]+$ && $t_ready =~ ^[0-9]+$ ]] || return 1
        ((t_copy >= t_term + LB_DEREGISTRATION_DELAY_SECONDS * 1000 && t_copy <= t_ready)) || {
            echo "    app$i: copy at $t_copy, SIGTERM at $t_term, drain ${LB_DEREGISTRATION_DELAY_SECONDS}s, new process ready at $t_ready"
            return 1
        }
    done
}
check "no instance saw the restored database's URL before its old process had drained" restore_order_ok

echo "--- forbidden paths"
refused_before=$(ip netns exec "$NS_VPC" nft list counter inet vpc refused | awk '/packets/ { print $2 }')
for ((i = 1; i <= N; i++)); do
    expect_path "internet -> instance $i refused" refused "$NS_PUB" "$(instance_addr "$i")" "$(instance_port "$i")"
done
for z in "${ZONES[@]}"; do
    expect_path "internet -> database $z refused" refused "$NS_PUB" "${DB_IP[$z]}" "$DB_PORT"
    expect_path "balancer -> database $z refused" refused "$NS_LB" "${DB_IP[$z]}" "$DB_PORT"
done
expect_path "database a -> instance 1 refused" refused "$(db_ns a)" "$(instance_addr 1)" "$(instance_port 1)"
expect_path "database b -> instance 2 refused" refused "$(db_ns b)" "$(instance_addr 2)" "$(instance_port 2)"
expect_path "instance subnet a -> instance 2 (zone b) refused" refused "$(app_ns a)" "$(instance_addr 2)" "$(instance_port 2)"
expect_path "balancer -> instance on a port that is not an app port refused" refused "$NS_LB" "$(instance_addr 1)" 22
refused_after=$(ip netns exec "$NS_VPC" nft list counter inet vpc refused | awk '/packets/ { print $2 }')
check "the refusals are the router's rules (counter $refused_before -> $refused_after)" \
    test $((refused_after - refused_before)) -ge $((N + 7))
# With the router's rule gone, the instance's own security group still refuses.
ip netns exec "$NS_VPC" nft insert rule inet vpc forward iifname r-pub oifname '{ "r-appa", "r-appb" }' accept
expect_path "internet -> instance 1 refused by the instance's security group alone" refused "$NS_PUB" "$(instance_addr 1)" "$(instance_port 1)"
expect_path "internet -> instance 2 refused by the instance's security group alone" refused "$NS_PUB" "$(instance_addr 2)" "$(instance_port 2)"
ip netns exec "$NS_VPC" nft flush chain inet vpc forward
ip netns exec "$NS_VPC" nft delete table inet vpc
ip netns exec "$NS_VPC" nft add table inet vpc
ip netns exec "$NS_VPC" nft add chain inet vpc forward '{ type filter hook forward priority filter; policy accept; }'
for z in "${ZONES[@]}"; do
    expect_path "internet -> database $z refused by the database's security group alone" refused "$NS_PUB" "${DB_IP[$z]}" "$DB_PORT"
    expect_path "balancer -> database $z refused by the database's security group alone" refused "$NS_LB" "${DB_IP[$z]}" "$DB_PORT"
done

echo "--- stack-status, also for an instance with no process"
# An instance between a crash and its restart has no process: stack-status
# once printed "dirname: invalid option" for it (issue 13). Its supervisor
# is held (SIGSTOP) while its process is killed, so the moment lasts.
sup=$(cat "$S_RUN/app1.supervisor.pid")
pid=$(cat "$S_RUN/app1.pid")
kill -STOP "$sup"
kill -KILL "$pid"
wait_until 5 0.05 eval "! pid_alive $pid" || true
"$STACK" status >"$WORK/status.out" 2>"$WORK/status.err" || true
kill -CONT "$sup"
check "stack-status prints no error when an instance has no process" test ! -s "$WORK/status.err"
check "stack-status says app1 is not running and names its release" \
    grep -q "^  app1 .*pid $pid(not running)  release $(basename "$(readlink -f "$STACK_DIR/current")")  " "$WORK/status.out"

# ------------------------------------------------------------------ 4
echo "--- stack-down leaves nothing behind"
# The scaler too (it runs in the machine's namespace, not the stack's).
"$STACK" scaler start >"$WORK/scaler.log" 2>&1 || fail "scaler start: $(cat "$WORK/scaler.log")"
check "the scaler runs (pid file)" pid_alive "$(cat "$S_RUN/scaler.pid")"
pids=$(cat "$S_RUN"/*.pid 2>/dev/null | tr '\n' ' ')
for z in "${ZONES[@]}"; do
    pids+=" $(head -n 1 "$S_PG/$z/data/postmaster.pid" 2>/dev/null || true)"
done
check "dnsmasq runs (pid file)" pid_alive "$(cat "$S_RUN/dnsmasq.pid")"
runtime=$S_RT
mapfile -t nsinodes < <(awk '{ print $2 }' "$STACK_DIR/namespaces")
port=${URL##*:}

leftovers() {
    local p ino link
    for p in $pids; do
        if pid_alive "$p"; then echo "process $p ($(tr '\0' ' ' <"/proc/$p/cmdline" | cut -c1-80)) still runs"; fi
    done
    for link in /proc/[0-9]*/ns/net; do
        ino=$(stat -L -c %i "$link" 2>/dev/null) || continue
        for i in "${nsinodes[@]}"; do
            if [[ $ino == "$i" ]]; then
                p=${link#/proc/}
                echo "process ${p%%/*} still runs in one of the stack's network namespaces"
            fi
        done
    done
    # (the pattern comes from a file so that grep's own command line does
    # not match it)
    printf '%s\n' "$STACK_DIR" >"$WORK/pattern"
    while read -r link; do
        p=${link#/proc/}
        echo "process ${p%%/*} ($(tr '\0' ' ' <"$link" 2>/dev/null | cut -c1-80)) mentions $STACK_DIR"
    done < <(grep -laFf "$WORK/pattern" /proc/[0-9]*/cmdline 2>/dev/null || true)
    for ns in "${STACK_NAMESPACES[@]}" "$NS_HOST"; do
        [[ ! -e /run/netns/$ns ]] || echo "namespace $ns still exists"
    done
    if ip netns list | grep -q "^$STACK_NAME-"; then echo "ip netns list still shows $STACK_NAME-*"; fi
    for ns in "${STACK_NAMESPACES[@]}" "$NS_HOST"; do
        [[ ! -e /etc/netns/$ns ]] || echo "/etc/netns/$ns still exists"
    done
    for ns in r-pub r-lb r-appa r-appb r-dba r-dbb; do
        if ip link show "$ns" >/dev/null 2>&1; then echo "interface $ns in the machine's namespace"; fi
    done
    nft list tables >"$WORK/nft-after" 2>&1 || true
    if ! diff -q "$WORK/nft-before" "$WORK/nft-after" >/dev/null; then
        echo "the machine's nftables tables changed: $(diff "$WORK/nft-before" "$WORK/nft-after" | tr '\n' ' ')"
    fi
    if (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "127.0.0.1:$port still accepts connections"; fi
    [[ ! -e $STACK_DIR ]] || echo "$STACK_DIR still exists: $(find "$STACK_DIR" | head -n 5 | tr '\n' ' ')"
    [[ -z $runtime || ! -e $runtime ]] || echo "the runtime directory $runtime still exists"
    local rt
    for rt in "$STACK_RUNTIME_PARENT/items-api-$STACK_NAME".*; do
        [[ ! -e $rt ]] || echo "a runtime directory $rt is left"
    done
    # var/ goes too when the stack was all it held (other stacks, e.g. the
    # drills', may still be there).
    if [[ -d $ROOT/var && -z $(ls -A "$ROOT/var") ]]; then echo "an empty $ROOT/var is left"; fi
}

t0=$(date +%s)
"$STACK" down >"$WORK/down.log" 2>&1 || fail "stack down exits 0: $(cat "$WORK/down.log")"
pass "stack down in $(($(date +%s) - t0)) s"
left=$(leftovers)
if [[ -z $left ]]; then
    pass "no process, namespace, nftables table, interface, port or file left"
else
    fail "left behind after stack-down:"
    printf '            %s\n' "$left"
fi
check "stack-down again (nothing up) succeeds" "$STACK" down

# ------------------------------------------------------------------ 5
echo "--- a failed bring-up cleans up after itself"
install -m 0755 /bin/false "$WORK/broken-items-api"
if ITEMS_API_BIN=$WORK/broken-items-api STACK_READY_TIMEOUT=3 "$STACK" up 1 >"$WORK/up-broken.log" 2>&1 9>&-; then
    fail "a bring-up whose instances never start fails"
else
    pass "a bring-up whose instances never start fails"
fi
pids=""
nsinodes=()
runtime=
left=$(leftovers)
if [[ -z $left ]]; then
    pass "and leaves nothing behind"
else
    fail "a failed bring-up left behind:"
    printf '            %s\n' "$left"
fi

if ((failures)); then
    echo "test-stack: $failures check(s) FAILED"
    exit 1
fi
echo "test-stack: all checks passed"
