# shellcheck shell=bash
# The stack's database as RDS Multi-AZ runs it: a PostgreSQL primary in one
# zone's DB subnet and a synchronous streaming standby in the other's
# (synchronous_standby_names names it, synchronous_commit = on: a commit is
# acknowledged once its WAL is flushed on both), reached by the instances
# through DB_HOST only. Sourced by rehearsal/stack.sh (needs its spawn,
# close_fds and dns_point); defines, never runs.
#
# shellcheck disable=SC2030,SC2031,SC2317  # pg.sh's variables, set per subshell; functions called through wait_until
# Per zone Z: data directory $S_PG/Z/data (user postgres), log
# $S_PG/Z/server.log, connection facts in secrets/pg-Z.env (the lib/pg.sh
# variables); secrets/pg.env is a copy of the primary's, for the tools
# (pg_psql, snapshots, the drills). $STACK_DIR/db/primary and db/standby
# name the zones; db/events.log has one line per role change:
# "<epoch us> <event> <zone>".

PG_LIB=$STACK_ROOT/lib/pg.sh

db_standby_zone() { cat "$STACK_DIR/db/standby" 2>/dev/null || true; }

# db_event EVENT ZONE [EPOCH_US]
db_event() {
    printf '%s %s %s\n' "${3:-$(now_us)}" "$1" "$2" >>"$STACK_DIR/db/events.log"
}

# The lib/pg.sh variables of zone Z's server (run in a subshell).
db_env() {
    # shellcheck source=/dev/null
    source "$S_SECRETS/pg-$1.env"
    # shellcheck source=lib/pg.sh
    source "$PG_LIB"
}

db_psql() {
    local z=$1
    shift
    (
        db_env "$z"
        pg_psql "$@"
    )
}

db_write_env() {
    local z=$1
    (
        umask 077
        {
            printf 'PG_NETNS=%q\nPG_LISTEN=%q\nPG_PORT=%q\nPG_HBA_ALLOW=%q\n' "$(db_ns "$z")" "${DB_IP[$z]}" "$DB_PORT" "$NET_APP"
            printf 'PG_DIR=%q\nPG_BIN=%q\nPG_USER=%q\nPG_PASSWORD=%q\nPG_URL=%q\n' "$S_PG/$z" "$PG_BIN" "$PG_USER" "$PG_PASSWORD" \
                "postgres://items:$PG_PASSWORD@${DB_IP[$z]}:$DB_PORT/items?sslmode=disable"
            echo 'export PG_NETNS PG_LISTEN PG_PORT PG_HBA_ALLOW PG_DIR PG_BIN PG_USER PG_PASSWORD PG_URL'
        } >"$S_SECRETS/pg-$z.env"
    )
}

db_set_primary() {
    echo "$1" >"$STACK_DIR/db/primary"
    install -m 0600 "$S_SECRETS/pg-$1.env" "$S_SECRETS/pg.env.tmp"
    mv -f "$S_SECRETS/pg.env.tmp" "$S_SECRETS/pg.env"
}

# The primary at bring-up, in zone Z: lib/pg.sh's throwaway server, plus
# replication logins from the DB subnets and the synchronous settings. The
# instances' DATABASE_URL names DB_HOST, with target_session_attrs so that
# libpq itself refuses a server that is not (or no longer) the primary.
db_start_primary() {
    local z=$1
    mkdir -p "$STACK_DIR/db" "$S_PG"
    (
        close_fds
        PG_NETNS=$(db_ns "$z")
        # shellcheck disable=SC2030  # for pg.sh, in this subshell only
        export PG_NETNS PG_LISTEN=${DB_IP[$z]} PG_PORT=$DB_PORT PG_HBA_ALLOW=$NET_APP
        # shellcheck source=lib/pg.sh
        source "$PG_LIB"
        pg_start "$S_PG/$z" >/dev/null
        printf 'host replication items %s scram-sha-256\n' "$NET_DB" >>"$PG_DIR/data/pg_hba.conf"
        pg_psql -c "ALTER SYSTEM SET synchronous_commit = on" \
            -c "ALTER SYSTEM SET synchronous_standby_names = ''" \
            -c "SELECT pg_reload_conf()" >/dev/null
        # The standbys' password, for primary_conninfo and pg_basebackup.
        printf '*:*:*:items:%s\n' "$PG_PASSWORD" >"$S_PG/pgpass"
        chown "$PG_USER" "$S_PG/pgpass"
        chmod 0600 "$S_PG/pgpass"
        db_write_env "$z"
        printf 'postgres://items:%s@%s:%s/items?sslmode=disable&target_session_attrs=read-write\n' \
            "$PG_PASSWORD" "$DB_HOST" "$DB_PORT" >"$S_SECRETS/database-url"
    )
    db_set_primary "$z"
    db_event primary "$z"
}

# A standby in zone Z from a fresh base backup of the primary, streaming
# synchronously once this returns (the primary's synchronous_standby_names
# names it only when it streams: until then the primary runs unprotected,
# as RDS does while it replaces a lost standby). Prints its figures.
db_start_standby() {
    local z=$1 p t0 t_backup t_stream t_sync
    p=$(db_primary_zone)
    [[ $z != "$p" ]] || stack_die "zone $z holds the primary"
    t0=$(now_us)
    db_kill "$z"
    (
        close_fds
        db_env "$p"
        PG_DIR=$S_PG/$z PG_NETNS=$(db_ns "$z") PG_LISTEN=${DB_IP[$z]}
        rm -rf "$PG_DIR"
        mkdir -p "$PG_DIR"
        chmod 0755 "$PG_DIR"
        chown "$PG_USER" "$PG_DIR"
        pg__as env PGPASSFILE="$S_PG/pgpass" "$PG_BIN/pg_basebackup" -h "${DB_IP[$p]}" -p "$DB_PORT" -U items \
            -D "$PG_DIR/data" -X stream -c fast --no-password >"$PG_DIR/basebackup.log" 2>&1 || {
            cat "$PG_DIR/basebackup.log" >&2
            exit 1
        }
        {
            echo "synchronous_standby_names = ''"
            echo "primary_conninfo = 'host=${DB_IP[$p]} port=$DB_PORT user=items passfile=$S_PG/pgpass application_name=db$z'"
        } >>"$PG_DIR/data/postgresql.auto.conf"
        pg__as touch "$PG_DIR/data/standby.signal"
        pg_ctl_do start >/dev/null || {
            tail -n 20 "$PG_DIR/server.log" >&2
            exit 1
        }
        db_write_env "$z"
    ) || stack_die "standby in zone $z: base backup or start failed"
    t_backup=$(now_us)
    streaming() { [[ $(db_psql "$p" -c "SELECT state FROM pg_stat_replication WHERE application_name = 'db$z'") == streaming ]]; }
    wait_until 60 0.05 streaming || stack_die "standby db$z does not stream from the primary in zone $p"
    t_stream=$(now_us)
    db_psql "$p" -c "ALTER SYSTEM SET synchronous_standby_names = '\"db$z\"'" -c "SELECT pg_reload_conf()" >/dev/null
    synced() { [[ $(db_psql "$p" -c "SELECT sync_state FROM pg_stat_replication WHERE application_name = 'db$z'") == sync ]]; }
    wait_until 30 0.05 synced || stack_die "standby db$z is not synchronous"
    t_sync=$(now_us)
    echo "$z" >"$STACK_DIR/db/standby"
    db_event standby "$z"
    stack_log "standby in zone $z (${DB_IP[$z]}): base backup + start $(((t_backup - t0) / 1000)) ms, streaming after $(((t_stream - t0) / 1000)) ms, synchronous after $(((t_sync - t0) / 1000)) ms"
    printf 'rebuild_zone=%s\nrebuild_start_us=%s\nrebuild_backup_us=%s\nrebuild_stream_us=%s\nrebuild_sync_us=%s\n' \
        "$z" "$t0" "$t_backup" "$t_stream" "$t_sync" >"$STACK_DIR/db/last-rebuild.env"
}

# Zone Z's database host dies: SIGKILL to every process in its DB subnet
# (the postmaster and all its children at once, as a host that loses power;
# the kernel then resets their connections).
db_kill() {
    local pids
    pids=$(ip netns pids "$(db_ns "$1")" 2>/dev/null || true)
    if [[ -n $pids ]]; then
        # shellcheck disable=SC2086  # a list of pids
        kill -KILL $pids 2>/dev/null || true
        wait_until 10 0.02 eval "[[ -z \$(ip netns pids $(db_ns "$1")) ]]" || true
    fi
}

# A write through the name, as an instance makes it, from zone Z's app
# subnet: true once the name leads to a primary that accepts writes.
db_writable_via_name() {
    (
        # shellcheck source=/dev/null
        source "$S_SECRETS/pg.env"
        # shellcheck disable=SC2031
        ip netns exec "$(app_ns "$1")" env PGPASSWORD="$PG_PASSWORD" "$PG_BIN/psql" -qAt \
            "host=$DB_HOST port=$DB_PORT dbname=items user=items connect_timeout=2 target_session_attrs=read-write" \
            -c "SELECT txid_current()" >/dev/null 2>&1
    )
}

# The standby in zone Z becomes the primary: promote, point the name at
# it, wait until a write through the name succeeds. T0 is when the old
# primary was lost. Prints the figures; writes db/last-failover.env.
db_takeover() {
    local z=$1 t0=$2 old t_promoted t_dns t_writable
    old=$(db_primary_zone)
    (
        db_env "$z"
        pg_ctl_do promote >/dev/null
    ) || stack_die "pg_ctl promote of the standby in zone $z failed"
    t_promoted=$(now_us)
    rm -f "$STACK_DIR/db/standby"
    db_set_primary "$z"
    db_event promoted "$z"
    # Where dnsmasq's query log stood when the name moved: the queries after
    # it show the instances resolving the name again at each new connection.
    # The name has moved when dnsmasq gets its SIGHUP (dns_point returns
    # only once a lookup answers the new address, which on a busy machine
    # can take a few hundred ms more): that moment is t_dns, the start of
    # the 2 s recovery bound.
    local dns_lines
    dns_lines=$(wc -l <"$S_LOG/dnsmasq.log")
    t_dns=$(now_us)
    dns_point "$z"
    db_event dns "$z" "$t_dns"
    wait_until 30 0.02 db_writable_via_name "$z" || stack_die "no write through $DB_HOST within 30 s of the promotion"
    t_writable=$(now_us)
    db_event writable "$z"
    printf 'old_primary=%s\nnew_primary=%s\nlost_us=%s\npromoted_us=%s\ndns_us=%s\nwritable_us=%s\ndns_log_lines=%s\n' \
        "$old" "$z" "$t0" "$t_promoted" "$t_dns" "$t_writable" "$dns_lines" >"$STACK_DIR/db/last-failover.env"
    stack_log "failover $old -> $z: promoted $(((t_promoted - t0) / 1000)) ms after the primary was lost, $DB_HOST -> ${DB_IP[$z]} at $(((t_dns - t0) / 1000)) ms, writes through the name at $(((t_writable - t0) / 1000)) ms"
    stack_log "the primary in zone $z runs without a standby until make stack-failback"
}

# The standby in zone Z is lost: the primary stops waiting for it
# (synchronous_standby_names emptied, which also releases the commits
# waiting for it), as RDS keeps the primary writable while it replaces a
# lost standby.
db_degrade() {
    local z=$1 p
    p=$(db_primary_zone)
    db_psql "$p" -c "ALTER SYSTEM SET synchronous_standby_names = ''" -c "SELECT pg_reload_conf()" >/dev/null
    rm -f "$STACK_DIR/db/standby"
    db_event standby-lost "$z"
    stack_log "standby in zone $z lost: the primary in zone $p runs unprotected until it is rebuilt"
}

stop_postgres() {
    local f
    for f in "$S_SECRETS"/pg-?.env; do
        [[ -f $f ]] || continue
        (
            # shellcheck source=/dev/null
            source "$f"
            # shellcheck source=lib/pg.sh
            source "$PG_LIB"
            pg_ctl_do stop -m fast >/dev/null 2>&1 || true
            pg_stop
        )
    done
}
