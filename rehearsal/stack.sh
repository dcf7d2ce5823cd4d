#!/usr/bin/env bash
# The production rehearsal on one machine: the AWS topology of
# infrastructure/ with real processes.
#
#   rehearsal/stack.sh up [INSTANCES]   bring it up (default 3 instances)
#   rehearsal/stack.sh roll             rolling update to ITEMS_API_BIN
#                                          (default build/items-api)
#   rehearsal/stack.sh rollback         rolling update back to the release
#                                          that ran before the last roll
#   rehearsal/stack.sh status           what runs, and the balancer's view
#   rehearsal/stack.sh snapshot [NAME]  pg_dump of the database (RDS snapshot)
#   rehearsal/stack.sh restore NAME     restore a snapshot into a new database
#                                          and roll the instances onto it
#   rehearsal/stack.sh failover         the database primary's host dies; the
#                                          standby is promoted, the name moves
#   rehearsal/stack.sh failback         rebuild a synchronous standby in the
#                                          other zone (fresh base backup)
#   rehearsal/stack.sh az-loss a|b      a whole zone dies (instances, database)
#   rehearsal/stack.sh az-restore a|b   the zone is back: standby, instances
#   rehearsal/stack.sh scale-out|scale-in [K]   the Auto Scaling group's
#                                          capacity changes (asg.sh)
#   rehearsal/stack.sh scaler start|stop  target tracking (scaler.py)
#   rehearsal/stack.sh down             tear everything down
#
#   internet (NS pub 192.168.200.10)            machine's loopback 127.0.0.1:PORT
#        |                                                 |
#   [router NS vpc: forwarding + nftables "NACL"; dnsmasq: items-db.<name>.internal]
#        |                                                 |
#   public subnet NS lb 10.0.0.10:80  HAProxy = ALB  <-----+ (HAProxy's second listener)
#        |
#   app subnets  NS appa 10.0.10.10 | NS appb 10.0.11.10 :8080..  N instances,
#                each under supervise.sh, spread a, b, a, ... (as the ASG)
#        |  (by name: items-db.<name>.internal, TTL 5 s)
#   DB subnets   NS dba 10.0.20.10 | NS dbb 10.0.21.10 :5432  PostgreSQL 15
#                primary in one zone, synchronous streaming standby in the other
#
# Each namespace also has its own nftables "security group" (input chain).
# Files live in STACK_DIR (var/stack, 0700): url, api-key, haproxy.cfg,
# log/, run/, snapshots/, and `runtime`, the name of the runtime directory
# (/run/items-api-<name>.XXXXXX, 0755) that holds what the instances' user
# and PostgreSQL's must reach: releases/, secrets/, pg/ (see lib.sh).
# Needs root (namespaces, nftables).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=rehearsal/lib.sh
source "$HERE/lib.sh"
export STACK_NAME STACK_DIR LB_SETTINGS


# ------------------------------------------------------------------ network

# veth pair between the router and a subnet namespace, created directly in
# the namespaces (never in the machine's own).
net_link() {
    local ns=$1 tier=$2 addr=$3 gw=$4
    ip -n "$NS_VPC" link add "r-$tier" type veth peer name eth0 netns "$ns"
    ip -n "$NS_VPC" addr add "$gw/24" dev "r-$tier"
    ip -n "$NS_VPC" link set "r-$tier" up
    ip -n "$ns" addr add "$addr/24" dev eth0
    ip -n "$ns" link set eth0 up
    ip -n "$ns" route add default via "$gw"
}

nft_in() {
    local ns=$1
    ip netns exec "$ns" nft -f -
}

net_up() {
    local ns ports z
    for ns in "${STACK_NAMESPACES[@]}"; do
        ip netns add "$ns"
        ip -n "$ns" link set lo up
    done
    # HAProxy opens its forwarded listener in the machine's namespace by name.
    ip netns attach "$NS_HOST" $$
    net_link "$NS_PUB" pub "$IP_PUB" "$GW_PUB"
    net_link "$NS_LB" lb "$IP_LB" "$GW_LB"
    for z in "${ZONES[@]}"; do
        net_link "$(app_ns "$z")" "app$z" "${APP_IP[$z]}" "${APP_GW[$z]}"
        net_link "$(db_ns "$z")" "db$z" "${DB_IP[$z]}" "${DB_GW[$z]}"
    done
    ip netns exec "$NS_VPC" sysctl -qw net.ipv4.ip_forward=1
    # Every slot's port: the group can grow to its maximum (asg.sh).
    ports="$LB_APP_PORT-$((LB_APP_PORT + $(stack_slots) - 1))"

    # The router: what may cross between tiers (network ACLs + route tables).
    # Anything else is refused with a TCP reset / ICMP "administratively
    # prohibited", so a forbidden path fails at once instead of timing out.
    # Both zones' subnets of a tier get the same rules (an instance may run
    # in either zone, the database primary may be in either).
    nft_in "$NS_VPC" <<EOF
table inet vpc {
    counter refused {}
    chain forward {
        type filter hook forward priority filter; policy drop;
        ct state established,related accept
        ct state invalid drop
        iifname "r-pub" oifname "r-lb" ip daddr $IP_LB tcp dport $LB_PORT accept comment "internet -> load balancer listener"
        iifname "r-lb" oifname { "r-appa", "r-appb" } ip saddr $IP_LB ip daddr { ${APP_IP[a]}, ${APP_IP[b]} } tcp dport $ports accept comment "load balancer -> instances"
        iifname { "r-appa", "r-appb" } oifname { "r-dba", "r-dbb" } ip saddr { ${APP_IP[a]}, ${APP_IP[b]} } ip daddr { ${DB_IP[a]}, ${DB_IP[b]} } tcp dport $DB_PORT accept comment "instances -> database"
        iifname "r-dba" oifname "r-dbb" ip saddr ${DB_IP[a]} ip daddr ${DB_IP[b]} tcp dport $DB_PORT accept comment "database a -> b (replication)"
        iifname "r-dbb" oifname "r-dba" ip saddr ${DB_IP[b]} ip daddr ${DB_IP[a]} tcp dport $DB_PORT accept comment "database b -> a (replication)"
        counter name refused meta l4proto tcp reject with tcp reset
        counter name refused reject with icmpx type admin-prohibited
    }
}
EOF
    # Security groups, one per tier, on the receiving side.
    nft_in "$NS_LB" <<EOF
table inet sg {
    chain input {
        type filter hook input priority filter; policy drop;
        iif lo accept
        ct state established,related accept
        tcp dport $LB_PORT accept comment "ALB SG: listener from anywhere"
        meta l4proto tcp reject with tcp reset
    }
}
EOF
    for z in "${ZONES[@]}"; do
        nft_in "$(app_ns "$z")" <<EOF
table inet sg {
    chain input {
        type filter hook input priority filter; policy drop;
        iif lo accept
        ct state established,related accept
        ip saddr $IP_LB tcp dport $ports accept comment "app SG: app ports from the ALB only"
        meta l4proto tcp reject with tcp reset
    }
}
EOF
        nft_in "$(db_ns "$z")" <<EOF
table inet sg {
    chain input {
        type filter hook input priority filter; policy drop;
        iif lo accept
        ct state established,related accept
        ip saddr $NET_APP tcp dport $DB_PORT accept comment "DB SG: PostgreSQL from the app subnets only"
        ip saddr $NET_DB tcp dport $DB_PORT accept comment "DB SG: replication from the other zone's database"
        meta l4proto tcp reject with tcp reset
    }
}
EOF
        # The app subnets' resolver: the router's address in the subnet (the
        # VPC resolver's stand-in), through the namespace's own resolv.conf
        # (`ip netns exec` bind-mounts /etc/netns/<ns>/resolv.conf).
        mkdir -p "/etc/netns/$(app_ns "$z")"
        printf 'nameserver %s\noptions timeout:1 attempts:2\n' "${APP_GW[$z]}" >"/etc/netns/$(app_ns "$z")/resolv.conf"
    done
    nft_in "$NS_PUB" <<EOF
table inet sg {
    chain input {
        type filter hook input priority filter; policy drop;
        iif lo accept
        ct state established,related accept
    }
}
EOF
    # Record the namespaces' identities: stack-down and its test prove that
    # no process is left in any of them.
    for ns in "${STACK_NAMESPACES[@]}"; do
        printf '%s %s\n' "$ns" "$(stat -L -c %i "/run/netns/$ns")"
    done >"$STACK_DIR/namespaces"
}

net_down() {
    local ns pids pid i
    for ns in "${STACK_NAMESPACES[@]}"; do
        [[ -e /run/netns/$ns ]] || continue
        # Whatever still runs in a namespace of ours is ours.
        for i in 1 2 3 4 5 6 7 8 9 10; do
            pids=$(ip netns pids "$ns" 2>/dev/null || true)
            [[ -z $pids ]] && break
            for pid in $pids; do
                if ((i == 1)); then
                    stack_log "killing leftover process $pid ($(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | cut -c1-80)) in $ns"
                fi
                kill -KILL "$pid" 2>/dev/null || true
            done
            sleep 0.2
        done
    done
    for ns in "${STACK_NAMESPACES[@]}" "$NS_HOST"; do
        if [[ -e /run/netns/$ns ]]; then
            ip netns delete "$ns" || stack_log "could not delete namespace $ns"
        fi
        if [[ -d /etc/netns/$ns ]]; then
            rm -rf "/etc/netns/$ns"
        fi
    done
    rmdir /etc/netns 2>/dev/null || true
}

# ------------------------------------------------------------------ DNS

# dnsmasq on the router, answering the app subnets for DB_HOST from one
# hosts file (runtime dir, readable by dnsmasq's unprivileged user) with a
# TTL of DNS_TTL seconds; nothing else is resolved (no upstream, no
# /etc/hosts). dns_point ZONE rewrites the record and SIGHUPs dnsmasq,
# which re-reads the file: the RDS endpoint's CNAME moving to the new
# primary.
start_dns() {
    local z=$1
    mkdir -p "$S_DNS"
    chmod 0755 "$S_DNS"
    printf '%s %s\n' "${DB_IP[$z]}" "$DB_HOST" >"$S_DNS/hosts"
    chmod 0644 "$S_DNS/hosts"
    spawn "$S_LOG/dnsmasq.log" ip netns exec "$NS_VPC" dnsmasq --keep-in-foreground --conf-file=/dev/null \
        --pid-file= --user=nobody --group=nogroup --no-resolv --no-hosts --no-poll --local=/internal/ \
        --addn-hosts="$S_DNS/hosts" --local-ttl="$DNS_TTL" --log-facility=- --log-queries \
        --bind-interfaces --listen-address="${APP_GW[a]},${APP_GW[b]}" --port=53
    echo $! >"$S_RUN/dnsmasq.pid"
    # shellcheck disable=SC2016  # expanded by eval
    wait_until 10 0.05 eval '[[ $(dns_lookup "$DB_HOST" a) == "${DB_IP[$z]}" ]]' ||
        stack_die "dnsmasq does not answer for $DB_HOST"
}

# The name's address as an instance would see it (the resolver of zone
# $2's app subnet, default a).
dns_lookup() {
    ip netns exec "$(app_ns "${2:-a}")" getent ahostsv4 "$1" 2>/dev/null | awk 'NR == 1 { print $1 }'
}

dns_point() {
    local z=$1
    printf '%s %s\n' "${DB_IP[$z]}" "$DB_HOST" >"$S_DNS/hosts.tmp"
    chmod 0644 "$S_DNS/hosts.tmp"
    mv -f "$S_DNS/hosts.tmp" "$S_DNS/hosts"
    kill -HUP "$(cat "$S_RUN/dnsmasq.pid")"
    # Returns once the resolver answers with the new address.
    # shellcheck disable=SC2016  # expanded by eval
    wait_until 5 0.01 eval '[[ $(dns_lookup "$DB_HOST" "$z") == "${DB_IP[$z]}" ]]' ||
        stack_die "the resolver still does not answer ${DB_IP[$z]} for $DB_HOST"
}

# ------------------------------------------------------------------ releases

# Copy a binary into releases/<id>/ and print the id.
install_release() {
    local bin=$1 id
    [[ -x $bin ]] || stack_die "no executable at $bin (make build)"
    id=$(date -u +%Y%m%dT%H%M%S%3NZ)-$(sha256sum "$bin" | cut -c1-12)
    mkdir -p "$S_RELEASES/$id"
    install -m 0755 "$bin" "$S_RELEASES/$id/items-api"
    "$S_RELEASES/$id/items-api" version >"$S_RELEASES/$id/version" 2>&1 || true
    echo "$id"
}

# Point `current` at a release atomically (the supervisors read it at start).
set_current() {
    ln -sfn "$S_RELEASES/$1" "$STACK_DIR/current.tmp"
    mv -Tf "$STACK_DIR/current.tmp" "$STACK_DIR/current"
}

# ------------------------------------------------------------------ pieces

# shellcheck source=rehearsal/db.sh
source "$HERE/db.sh"
# shellcheck source=rehearsal/asg.sh
source "$HERE/asg.sh"
# shellcheck source=rehearsal/roll.sh
source "$HERE/roll.sh"

# Close every descriptor above 2 in the current (sub)shell, so that the
# long-running processes started from it inherit no lock, pipe or socket of
# whoever called us (make's jobserver, a test's lock file).
close_fds() {
    local fd
    for fd in /proc/"$BASHPID"/fd/*; do
        fd=${fd##*/}
        if ((fd > 2)); then
            eval "exec $fd>&-" 2>/dev/null || true
        fi
    done
}

# spawn LOG CMD...: CMD in the background in a session of its own, stdin
# from /dev/null, output to LOG, no inherited descriptors. $! is CMD's pid
# (the subshell execs it; setsid execs too, as it is not a group leader).
spawn() {
    local log=$1
    shift
    (
        close_fds
        exec setsid "$@" </dev/null >>"$log" 2>&1
    ) &
}

write_instance_env() {
    local i=$1
    {
        echo "PATH=/usr/sbin:/usr/bin:/sbin:/bin"
        echo "PORT=$(instance_port "$i")"
        echo "BIND_ADDRESS=$(instance_addr "$i")"
        # The instance's own copy of the database-url secret, written by its
        # supervisor from secrets/database-url at each start: a restore
        # reaches an instance when the roll replaces it, never before.
        echo "DATABASE_URL_FILE=$S_SECRETS/app$i.database-url"
        echo "API_KEYS_FILE=$S_SECRETS/api-keys"
        # The ALB's deregistration delay is the service's drain, by design.
        echo "DRAIN_SECONDS=$LB_DEREGISTRATION_DELAY_SECONDS"
        echo "SHUTDOWN_TIMEOUT_SECONDS=$LB_SHUTDOWN_TIMEOUT_SECONDS"
        echo "MAX_HEADER_BYTES=$LB_MAX_HEADER_BYTES"
        # Above the balancer's idle timeout, so the balancer closes first.
        echo "KEEPALIVE_TIMEOUT_SECONDS=$((LB_IDLE_TIMEOUT_SECONDS + 15))"
        echo "WORKER_THREADS=${STACK_WORKER_THREADS:-2}"
        echo "DB_POOL_SIZE=${STACK_DB_POOL_SIZE:-4}"
        echo "ACCESS_LOG=${STACK_ACCESS_LOG:-off}"
        echo "LOG_LEVEL=${STACK_LOG_LEVEL:-info}"
    } >"$STACK_DIR/instances/app$i.env"
}

start_supervisor() {
    local i=$1
    spawn "$S_LOG/app$i.supervisor.log" ip netns exec "$(instance_ns "$i")" "$HERE/supervise.sh" "$i"
}

instance_ready() { probe_url "$NS_LB" "http://$(instance_addr "$1"):$(instance_port "$1")/readyz"; }
lb_server_up() { [[ $(lb_server_status "$1" 2>/dev/null) == UP ]]; }

start_haproxy() {
    local port=$1 addrs=() i
    for ((i = 1; i <= $(stack_slots); i++)); do
        addrs+=("$(instance_addr "$i")")
    done
    python3 "$HERE/gen-haproxy.py" --settings "$LB_SETTINGS" --instances "$INSTANCES" --slots "$(stack_slots)" \
        --lb-addr "$IP_LB" --lb-port "$LB_PORT" --app-addrs "$(IFS=,; echo "${addrs[*]}")" \
        --host-ns "$NS_HOST" --host-port "$port" --socket "$HAPROXY_SOCK" \
        --admin-port "$HAPROXY_ADMIN_PORT" >"$STACK_DIR/haproxy.cfg"
    ip netns exec "$NS_LB" haproxy -c -q -f "$STACK_DIR/haproxy.cfg" ||
        stack_die "HAProxy refuses the generated $STACK_DIR/haproxy.cfg"
    spawn "$S_LOG/haproxy.log" ip netns exec "$NS_LB" haproxy -db -f "$STACK_DIR/haproxy.cfg"
    echo $! >"$S_RUN/haproxy.pid"
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# ------------------------------------------------------------------ commands

up_done=0
up_cleanup() {
    local rc=$?
    if ((!up_done)); then
        stack_log "bring-up failed (status $rc); tearing down what was started"
        for f in "$S_LOG"/*.log; do
            [[ -f $f ]] || continue
            echo "--- last lines of $f" >&2
            tail -n 15 "$f" >&2
        done
        cmd_down || true
    fi
}

cmd_up() {
    INSTANCES=${1:-${INSTANCES:-3}}
    if [[ ! $INSTANCES =~ ^[0-9]+$ ]] || ((INSTANCES < 1 || INSTANCES > 16)); then
        stack_die "INSTANCES must be 1-16 (got '$INSTANCES')"
    fi
    (($(id -u) == 0)) || stack_die "needs root (network namespaces, nftables)"
    local c
    for c in haproxy nft ip setpriv python3 sha256sum; do
        command -v "$c" >/dev/null || stack_die "$c not found (tools/deps.sh stack)"
    done
    local bin=${ITEMS_API_BIN:-$STACK_ROOT/build/items-api}
    [[ -x $bin ]] || stack_die "no binary at $bin (make build)"

    mkdir -p "$(dirname "$STACK_DIR")"
    if ! mkdir -m 0700 "$STACK_DIR" 2>/dev/null; then
        if stack_is_up; then
            stack_log "already up"
            cmd_print
            return 0
        fi
        stack_die "$STACK_DIR exists but the stack is not up: run make stack-down first"
    fi
    for ns in "${STACK_NAMESPACES[@]}" "$NS_HOST"; do
        [[ ! -e /run/netns/$ns ]] || {
            rmdir "$STACK_DIR"
            stack_die "namespace $ns already exists: run make stack-down first"
        }
    done
    trap up_cleanup EXIT
    local t0
    t0=$(date +%s%3N)
    echo starting >"$STACK_DIR/state"
    # The runtime directory: traversable by nobody and postgres wherever the
    # checkout is (a 0700 home directory included).
    local rt
    rt=$(mktemp -d "$STACK_RUNTIME_PARENT/items-api-$STACK_NAME.XXXXXX") ||
        stack_die "cannot create a runtime directory under $STACK_RUNTIME_PARENT"
    chmod 0755 "$rt"
    echo "$rt" >"$STACK_DIR/runtime"
    stack_paths
    mkdir -p "$S_RELEASES"
    mkdir -p "$S_RUN" "$S_LOG" "$STACK_DIR/instances" "$S_SECRETS"
    chgrp nogroup "$S_SECRETS"
    chmod 0750 "$S_SECRETS"
    echo "$INSTANCES" >"$STACK_DIR/instances/count"
    asg_slots "$INSTANCES" >"$STACK_DIR/instances/slots"
    load_lb_settings

    stack_log "network: namespaces ${STACK_NAMESPACES[*]:1} via $NS_VPC"
    net_up

    stack_log "database: PostgreSQL primary in $(db_ns a) at ${DB_IP[a]}:$DB_PORT, synchronous standby in $(db_ns b) at ${DB_IP[b]}"
    start_dns a
    db_start_primary a
    db_start_standby b
    stack_log "DNS: $DB_HOST -> ${DB_IP[a]} (dnsmasq on the router, TTL ${DNS_TTL}s)"

    # Secrets as files (Secrets Manager's stand-in), readable by the
    # instances' user (group nogroup) and root only.
    local key
    key=$(head -c 24 /dev/urandom | base64 | tr '+/' '-_')
    (
        umask 077
        printf '# items-api keys, one per line (rotation: add, deploy, switch clients, remove)\n%s\n' "$key" >"$S_SECRETS/api-keys"
        printf '%s\n' "$key" >"$STACK_DIR/api-key"
    )
    chgrp nogroup "$S_SECRETS/api-keys" "$S_SECRETS/database-url"
    chmod 0440 "$S_SECRETS/api-keys" "$S_SECRETS/database-url"

    local rel
    rel=$(install_release "$bin")
    set_current "$rel"
    stack_log "instances: $INSTANCES x release $rel"
    local i
    for ((i = 1; i <= INSTANCES; i++)); do
        instance_home_zone "$i" >"$STACK_DIR/instances/app$i.zone"
        write_instance_env "$i"
        start_supervisor "$i"
    done
    local ready_timeout=${STACK_READY_TIMEOUT:-60}
    for ((i = 1; i <= INSTANCES; i++)); do
        wait_until "$ready_timeout" 0.1 instance_ready "$i" ||
            stack_die "instance $i not ready on $(instance_addr "$i"):$(instance_port "$i") within ${ready_timeout}s"
    done

    local port=${STACK_PORT:-$(free_port)}
    stack_log "load balancer: HAProxy in $NS_LB at $IP_LB:$LB_PORT, forwarded to 127.0.0.1:$port"
    start_haproxy "$port"
    for ((i = 1; i <= INSTANCES; i++)); do
        wait_until 30 0.1 lb_server_up "$i" ||
            stack_die "HAProxy does not report app$i UP within 30 s"
    done
    echo "http://127.0.0.1:$port" >"$STACK_DIR/url"
    echo "http://$IP_LB:$LB_PORT" >"$STACK_DIR/url-public"
    echo up >"$STACK_DIR/state"
    up_done=1
    trap - EXIT
    stack_log "up in $(($(date +%s%3N) - t0))ms"
    cmd_print
}

cmd_print() {
    local url key
    url=$(cat "$STACK_DIR/url")
    key=$(cat "$STACK_DIR/api-key")
    cat <<EOF

  items-api stack "$STACK_NAME" is up: $(stack_instances) instances behind HAProxy.
    URL      $url    (also $(cat "$STACK_DIR/url-public") from namespace $NS_PUB)
    API key  $key
    files    $STACK_DIR/url, $STACK_DIR/api-key, logs in $S_LOG/

    curl -s -H "Authorization: Bearer \$(cat $STACK_DIR/api-key)" \\
         -H 'Content-Type: application/json' -d '{"name":"hello"}' \$(cat $STACK_DIR/url)/v1/items

EOF
}

cmd_status() {
    stack_is_up || {
        echo "stack $STACK_NAME: not up"
        return 1
    }
    local n i pid
    n=$(stack_instances)
    echo "stack $STACK_NAME: up, url $(cat "$STACK_DIR/url"), current release $(basename "$(readlink -f "$STACK_DIR/current")")"
    echo "  database: primary in zone $(db_primary_zone), synchronous standby in zone $(db_standby_zone | grep . || echo none)${S_DNS:+; $DB_HOST -> $(dns_lookup "$DB_HOST" a)}"
    # The release is the one the supervisor started (run/appN.release), not
    # /proc/PID/exe: a release may be a wrapper that execs another binary,
    # and a crashed instance waiting for its restart has no process at all
    # (that case once printed "dirname: invalid option" here).
    for ((i = 1; i <= n; i++)); do
        pid=$(cat "$S_RUN/app$i.pid" 2>/dev/null || echo -)
        pid_alive "$pid" || pid="$pid(not running)"
        printf '  app%d  zone %s  port %d  pid %s  release %s%s  balancer %s\n' "$i" "$(instance_zone "$i")" "$(instance_port "$i")" "$pid" \
            "$(instance_release "$i")" "$([[ -L $STACK_DIR/instances/app$i.release ]] && echo ' (pinned by a roll in progress)')" \
            "$(lb_server_status "$i" 2>/dev/null || echo '?')"
    done
}

# The database the instances use, from the DATABASE_URL secret.
current_db() {
    local url
    url=$(cat "$S_SECRETS/database-url")
    url=${url%%\?*}
    echo "${url##*/}"
}

# Run a PostgreSQL client program in the database's namespace as the
# instances' user: pg_client pg_dump -d items ...
pg_client() {
    (
        # shellcheck source=/dev/null
        source "$S_SECRETS/pg.env"
        local prog=$1
        shift
        # shellcheck disable=SC2031  # set by pg.env, just above
        ip netns exec "$PG_NETNS" env PGPASSWORD="$PG_PASSWORD" "$PG_BIN/$prog" -h 127.0.0.1 -p "$PG_PORT" -U items "$@"
    )
}

# An RDS snapshot's stand-in: a pg_dump (custom format) of the live database.
cmd_snapshot() {
    stack_is_up || stack_die "stack $STACK_NAME is not up"
    local name=${1:-$(date -u +%Y%m%dT%H%M%SZ)} db
    [[ $name =~ ^[A-Za-z0-9._-]+$ ]] || stack_die "snapshot names are letters, digits, . _ -"
    db=$(current_db)
    mkdir -p "$STACK_DIR/snapshots"
    pg_client pg_dump -d "$db" -Fc >"$STACK_DIR/snapshots/$name.dump.tmp"
    mv "$STACK_DIR/snapshots/$name.dump.tmp" "$STACK_DIR/snapshots/$name.dump"
    stack_log "snapshot $name of database $db: $STACK_DIR/snapshots/$name.dump ($(stat -c %s "$STACK_DIR/snapshots/$name.dump") bytes)"
}

# Restore as on RDS: into a new database (the old one stays, untouched),
# then point the DATABASE_URL secret at it and replace the instances one at
# a time (a rolling update of the current release), so the switch costs no
# request. Each instance reads its own copy of the secret, which its
# supervisor writes when it starts the replacement process: an instance not
# yet rolled keeps using the old database for every connection, old or new,
# and switches at its own replacement (as an EC2 instance launched by the
# refresh reads the secret at boot). Writes made after the snapshot are not
# in the restored copy.
cmd_restore() {
    stack_is_up || stack_die "stack $STACK_NAME is not up"
    local name=${1:?usage: restore SNAPSHOT} dump db url base query
    dump=$STACK_DIR/snapshots/$name.dump
    [[ -f $dump ]] || stack_die "no snapshot $name (ls $STACK_DIR/snapshots)"
    db=items_restored_$(date -u +%Y%m%d%H%M%S)
    pg_client psql -qAt -d postgres -v ON_ERROR_STOP=1 -c "CREATE DATABASE $db" >/dev/null
    pg_client pg_restore --exit-on-error --no-owner -d "$db" <"$dump"
    stack_log "snapshot $name restored into database $db"
    url=$(cat "$S_SECRETS/database-url")
    query=${url#*\?}
    base=${url%%\?*}
    printf '%s/%s?%s\n' "${base%/*}" "$db" "$query" >"$S_SECRETS/database-url.tmp"
    chgrp nogroup "$S_SECRETS/database-url.tmp"
    chmod 0440 "$S_SECRETS/database-url.tmp"
    mv -f "$S_SECRETS/database-url.tmp" "$S_SECRETS/database-url"
    stack_log "DATABASE_URL now names $db: rolling the instances onto it (each switches when it is replaced)"
    cmd_roll "$(basename "$(readlink -f "$STACK_DIR/current")")"
}

# ------------------------------------------------------------------ zones

# RDS Multi-AZ failover: the primary's host dies (SIGKILL of every process
# of its server), the standby is promoted, the endpoint's name moves to it.
# Returns when a write through the name succeeds.
cmd_failover() {
    stack_is_up || stack_die "stack $STACK_NAME is not up"
    exec 8>"$S_RUN/db.lock"
    flock -n 8 || stack_die "another database operation is running"
    local p s t0
    p=$(db_primary_zone)
    s=$(other_zone "$p")
    [[ $(db_standby_zone) == "$s" ]] || stack_die "no standby in zone $s to fail over to (make stack-failback rebuilds it)"
    t0=$(now_us)
    db_kill "$p"
    db_event killed "$p" "$t0"
    stack_log "primary in zone $p killed (SIGKILL to its postmaster and every child)"
    db_takeover "$s" "$t0"
}

# Protection again: the lost server's zone gets a new synchronous standby
# from a fresh base backup of the current primary.
cmd_failback() {
    stack_is_up || stack_die "stack $STACK_NAME is not up"
    exec 8>"$S_RUN/db.lock"
    flock -n 8 || stack_die "another database operation is running"
    local p s
    p=$(db_primary_zone)
    s=$(other_zone "$p")
    if [[ $(db_standby_zone) == "$s" ]]; then
        stack_log "the primary in zone $p already has a synchronous standby in zone $s"
        return 0
    fi
    db_start_standby "$s"
}

# The balancer's view of one server: lb_server_down N -> true once DOWN/MAINT.
lb_server_out() { [[ $(lb_server_status "$1" 2>/dev/null) =~ ^(DOWN|MAINT) ]]; }

# A new instance N in zone Z, registered with the balancer under N's slot
# (a new target with a new address), in service once its health checks
# pass. The old one must be gone.
launch_in_zone() {
    local i=$1 z=$2
    echo "$z" >"$STACK_DIR/instances/app$i.zone"
    write_instance_env "$i"
    start_supervisor "$i"
    wait_until 60 0.05 instance_ready "$i" || stack_die "app$i not ready in zone $z within 60 s"
    hactl "set server app/app$i addr $(instance_addr "$i") port $(instance_port "$i")" >/dev/null
}

# A whole Availability Zone disappears: SIGKILL to everything in its app
# and DB subnets (supervisors, instances, PostgreSQL) at once. Then the
# control planes react, as on AWS: RDS fails over if the primary was there
# (or stops waiting for a lost standby), the balancer's health checks take
# the dead targets out, and the Auto Scaling group replaces them in the
# other zone. Writes db/last-azloss.env.
cmd_az_loss() {
    local z=${1:-} o t0 i n lost=() pids t_out t_cap p
    [[ $z == a || $z == b ]] || stack_die "usage: az-loss a|b"
    stack_is_up || stack_die "stack $STACK_NAME is not up"
    exec 8>"$S_RUN/db.lock"
    flock -n 8 || stack_die "another database operation is running"
    load_lb_settings
    o=$(other_zone "$z")
    n=$(stack_instances)
    p=$(db_primary_zone)
    for ((i = 1; i <= n; i++)); do
        [[ $(instance_zone "$i") == "$z" ]] && lost+=("$i")
    done
    t0=$(now_us)
    pids="$(ip netns pids "$(app_ns "$z")") $(ip netns pids "$(db_ns "$z")")"
    # shellcheck disable=SC2086  # a list of pids
    kill -KILL $pids 2>/dev/null || true
    db_event zone-lost "$z" "$t0"
    for i in "${lost[@]}"; do
        rm -f "$S_RUN/app$i.pid" "$S_RUN/app$i.supervisor.pid"
    done
    stack_log "zone $z lost: instances ${lost[*]/#/app} and its database server killed"
    if [[ $p == "$z" ]]; then
        [[ $(db_standby_zone) == "$o" ]] || stack_die "the primary was in zone $z and there is no standby"
        db_takeover "$o" "$t0"
    elif [[ $(db_standby_zone) == "$z" ]]; then
        db_degrade "$z"
    fi
    # The balancer: every lost target out of rotation.
    all_out() {
        local j
        for j in "${lost[@]}"; do lb_server_out "$j" || return 1; done
    }
    local check_ms=$(((LB_HEALTH_CHECK_UNHEALTHY_THRESHOLD * LB_HEALTH_CHECK_INTERVAL_SECONDS + LB_HEALTH_CHECK_TIMEOUT_SECONDS) * 1000))
    wait_until $((check_ms / 1000 + 10)) 0.02 all_out || stack_die "the balancer still routes to zone $z"
    t_out=$(now_us)
    # The exact moment is in the balancer's log (this script polled only
    # after the failover above): the last of the lost targets' first "is
    # DOWN" line after the loss.
    local j ts us latest=0
    for j in "${lost[@]}"; do
        while read -r ts; do
            us=$(date -d "$ts" +%s%6N)
            if ((us >= t0)); then
                ((us > latest)) && latest=$us
                break
            fi
        done < <(awk -v s="Server app/app$j is DOWN" '/^20[0-9][0-9]-/ && index($0, s) { print $1 }' "$S_LOG/haproxy.log")
    done
    ((latest == 0)) || t_out=$latest
    stack_log "the balancer has taken zone $z's targets out after $(((t_out - t0) / 1000)) ms"
    # The Auto Scaling group: replacements in the surviving zone.
    for i in "${lost[@]}"; do
        launch_in_zone "$i" "$o"
    done
    all_up() {
        local j
        for j in "${lost[@]}"; do lb_server_up "$j" || return 1; done
    }
    local up_wait=$((LB_HEALTH_CHECK_INTERVAL_SECONDS * (LB_HEALTH_CHECK_HEALTHY_THRESHOLD + 1) + LB_HEALTH_CHECK_TIMEOUT_SECONDS + 10))
    wait_until "$up_wait" 0.05 all_up || stack_die "the replacements in zone $o are not in service within ${up_wait}s"
    t_cap=$(now_us)
    stack_log "capacity restored in zone $o (${lost[*]/#/app}) $(((t_cap - t0) / 1000)) ms after the loss"
    printf 'zone=%s\nlost_instances=%s\nprimary_was=%s\nloss_us=%s\nlb_out_us=%s\ncapacity_us=%s\n' \
        "$z" "${lost[*]}" "$p" "$t0" "$t_out" "$t_cap" >"$STACK_DIR/db/last-azloss.env"
    echo "$z" >>"$STACK_DIR/zones-lost"
}

# Move instance N to zone Z, as the ASG's AZ rebalancing does: drain it
# (deregistration), stop it, launch it in Z, in service after its checks.
move_instance() {
    local i=$1 z=$2 t0 sup
    t0=$(date +%s%3N)
    deregister_target "$i"
    sup=$(cat "$S_RUN/app$i.supervisor.pid")
    kill -TERM "$sup"
    wait_until $((LB_DEREGISTRATION_DELAY_SECONDS + LB_SHUTDOWN_TIMEOUT_SECONDS + 10)) 0.05 \
        eval "! pid_alive $sup" || stack_die "app$i's supervisor (pid $sup) did not exit after SIGTERM"
    launch_in_zone "$i" "$z"
    register_target "$i"
    stack_log "app$i back in zone $z after $(($(date +%s%3N) - t0)) ms"
}

# Deregistration, as on the ALB: no new requests (drain); done when the
# target has nothing in flight or after the deregistration delay, whichever
# comes first; then out of the balancer (maintenance).
deregister_target() {
    local i=$1 scur deadline
    hactl "set server app/app$i state drain" >/dev/null
    deadline=$(($(date +%s%3N) + LB_DEREGISTRATION_DELAY_SECONDS * 1000))
    while :; do
        scur=$(lb_server_field "$i" scur)
        [[ $scur == 0 ]] && break
        (($(date +%s%3N) < deadline)) || break
        sleep 0.1
    done
    hactl "set server app/app$i state maint" >/dev/null
}

# A (re)started instance joins as a new ALB target does: traffic only after
# the healthy threshold of checks. HAProxy would put a server leaving
# maintenance straight back in rotation, so: into drain (still no traffic),
# health forced down, the checks bring it up, then ready.
#   register_target N [ON_READY [ON_FAIL]]
# ON_READY N runs the moment the target is in rotation (the roll's timeline
# event); ON_FAIL MESSAGE ends the caller (default stack_die; the roll's
# roll_fail also keeps the reason for its rollback).
register_target() {
    local i=$1 on_ready=${2:-:} on_fail=${3:-stack_die} up_wait
    hactl "set server app/app$i state drain" >/dev/null
    hactl "set server app/app$i health down" >/dev/null
    up_wait=$((LB_HEALTH_CHECK_INTERVAL_SECONDS * (LB_HEALTH_CHECK_HEALTHY_THRESHOLD + 1) + LB_HEALTH_CHECK_TIMEOUT_SECONDS + 5))
    # shellcheck disable=SC2317  # called through wait_until
    passed_checks() { (($(lb_server_field "$i" check_health) >= LB_HEALTH_CHECK_HEALTHY_THRESHOLD)); }
    wait_until "$up_wait" 0.1 passed_checks ||
        "$on_fail" "app$i not healthy in the balancer (zone $(instance_zone "$i")) within ${up_wait}s"
    hactl "set server app/app$i state ready" >/dev/null
    "$on_ready" "$i"
    wait_until 5 0.05 lb_server_up "$i" || "$on_fail" "app$i not UP in the balancer after its checks passed"
}

# The zone is back: its database server is rebuilt as the standby (if the
# primary is elsewhere and has none), and the instances whose home it is
# move back, so both zones serve again.
cmd_az_restore() {
    local z=${1:-} i n t0
    [[ $z == a || $z == b ]] || stack_die "usage: az-restore a|b"
    stack_is_up || stack_die "stack $STACK_NAME is not up"
    exec 8>"$S_RUN/db.lock"
    flock -n 8 || stack_die "another database operation is running"
    load_lb_settings
    t0=$(date +%s%3N)
    if [[ $(db_primary_zone) != "$z" && -z $(db_standby_zone) ]]; then
        db_start_standby "$z"
    fi
    # The moves run side by side (each drains one target; the other zone
    # serves meanwhile).
    local movers=() rc=0 m
    n=$(stack_instances)
    for ((i = 1; i <= n; i++)); do
        if [[ $(instance_home_zone "$i") == "$z" && $(instance_zone "$i") != "$z" ]]; then
            move_instance "$i" "$z" &
            movers+=($!)
        fi
    done
    for m in "${movers[@]}"; do
        wait "$m" || rc=1
    done
    ((rc == 0)) || stack_die "moving the instances back to zone $z failed"
    stack_log "zone $z restored in $(($(date +%s%3N) - t0)) ms"
}

stop_pidfile() {
    local pidfile=$1 sig=$2 timeout=$3 pid
    # A supervisor removes its pid file as it exits: gone is stopped.
    pid=$(cat "$pidfile" 2>/dev/null) || return 0
    pid_alive "$pid" || return 0
    kill "-$sig" "$pid" 2>/dev/null || true
    if ! wait_until "$timeout" 0.1 eval "! pid_alive $pid"; then
        stack_log "pid $pid ($pidfile) still alive after ${timeout}s: SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
    fi
}

cmd_down() {
    local t0 f drain=5 shutdown=20
    t0=$(date +%s%3N)
    if [[ -f $LB_SETTINGS ]]; then
        drain=$(lb_setting deregistration_delay_seconds)
        shutdown=$(lb_setting shutdown_timeout_seconds)
    fi
    if [[ -d $STACK_DIR ]]; then
        [[ -f $STACK_DIR/state ]] && echo stopping >"$STACK_DIR/state"
        # The scaler first, with a scaling activity it may be running (its
        # process group: it is a session leader, see spawn): everything
        # goes anyway, and no launch may start now.
        if [[ -f $S_RUN/scaler.pid ]]; then
            kill -KILL -- "-$(cat "$S_RUN/scaler.pid")" 2>/dev/null || true
            rm -f "$S_RUN/scaler.pid"
        fi
        stop_pidfile "$S_RUN/haproxy.pid" TERM 5
        # Supervisors forward SIGTERM; instances drain, then exit.
        for f in "$S_RUN"/app*.supervisor.pid; do
            [[ -f $f ]] || continue
            kill -TERM "$(cat "$f")" 2>/dev/null || true
        done
        for f in "$S_RUN"/app*.supervisor.pid; do
            [[ -f $f ]] || continue
            stop_pidfile "$f" TERM $((drain + shutdown + 5))
        done
        stop_pidfile "$S_RUN/dnsmasq.pid" TERM 5
        stop_postgres
    fi
    net_down
    local rt=
    [[ -f $STACK_DIR/runtime ]] && rt=$(cat "$STACK_DIR/runtime")
    if [[ -d $STACK_DIR ]]; then
        rm -rf "$STACK_DIR"
    fi
    # The runtime directory, only if it is one that cmd_up made.
    if [[ -n $rt ]]; then
        if [[ $rt == /*/items-api-"$STACK_NAME".?????? && -d $rt && ! -L $rt ]]; then
            rm -rf "$rt"
        else
            stack_log "not removing '$rt' (named in the runtime file, but not a runtime directory of this stack)"
        fi
    fi
    # var/ itself when the stack was its last content (never anything else).
    if [[ $(dirname "$STACK_DIR") == "$STACK_ROOT/var" ]]; then
        rmdir "$STACK_ROOT/var" 2>/dev/null || true
    fi
    stack_log "down in $(($(date +%s%3N) - t0))ms"
}

case ${1:-} in
up) cmd_up "${2:-}" ;;
down) cmd_down ;;
roll) cmd_roll ;;
rollback) cmd_rollback ;;
snapshot) cmd_snapshot "${2:-}" ;;
restore) cmd_restore "${2:-}" ;;
status) cmd_status ;;
url) cmd_print ;;
failover) cmd_failover ;;
failback) cmd_failback ;;
az-loss) cmd_az_loss "${2:-}" ;;
az-restore) cmd_az_restore "${2:-}" ;;
scale-out) cmd_scale_out "${2:-}" ;;
scale-in) cmd_scale_in "${2:-}" ;;
scaler) cmd_scaler "${2:-}" ;;
*)
    echo "usage: $0 up [INSTANCES] | roll | rollback | snapshot [NAME] | restore NAME | status | failover | failback | az-loss a|b | az-restore a|b | scale-out [K] | scale-in [K] | scaler start|stop | down" >&2
    exit 2
    ;;
esac
