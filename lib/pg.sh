#!/usr/bin/env bash
# A throwaway PostgreSQL for tests and benchmarks: its own data directory,
# a free loopback port, password authentication, torn down by pg_stop.
#
#   source lib/pg.sh
#   pg_start DIR        # sets PG_URL, PG_PORT, PG_DIR, PG_BIN, PG_USER
#   pg_stop             # stops it and removes DIR
#
# The server refuses to run as root, so as root it runs as the `postgres`
# user (created if missing); otherwise as the current user.
#
# Optional, for a server inside a network namespace (rehearsal/'s stack);
# unset, nothing changes:
#   PG_NETNS      run the server and every client command (psql, pg_ctl) in
#                 this network namespace (`ip netns exec`; needs root); the
#                 port defaults to 5432 there
#   PG_LISTEN     an address to listen on besides 127.0.0.1; PG_URL uses it
#   PG_HBA_ALLOW  space-separated CIDRs allowed to log in with a password
#                 besides loopback

PG_BIN=${PG_BIN:-$(pg_config --bindir 2>/dev/null)}
if [[ ! -x $PG_BIN/postgres ]]; then
    PG_BIN=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n 1)
fi

# Run a command in PG_NETNS when one is set.
pg__ns() {
    if [[ -n ${PG_NETNS:-} ]]; then
        ip netns exec "$PG_NETNS" "$@"
    else
        "$@"
    fi
}

pg__as() {
    if [[ $(id -u) -eq 0 ]]; then
        # runuser keeps no tty and needs no password; cd so the user can stat cwd
        (cd / && pg__ns runuser -u "$PG_USER" -- "$@")
    else
        pg__ns "$@"
    fi
}

# listen_addresses: loopback, plus PG_LISTEN when given.
pg__listen() {
    if [[ -n ${PG_LISTEN:-} && $PG_LISTEN != 127.0.0.1 ]]; then
        printf '127.0.0.1,%s' "$PG_LISTEN"
    else
        printf '127.0.0.1'
    fi
}

pg__opts() {
    printf '%s' "-p $PG_PORT -k $PG_DIR -c listen_addresses=$(pg__listen) -c max_connections=300 ${PG_EXTRA_OPTS:-}"
}

# A loopback port that binds now, picked at random in 20000-32767: below the
# kernel's ephemeral range (32768-60999), so no outgoing connection takes it
# before the server binds it, and apart from suites running side by side
# (tests/lib/itemstest/ports.py picks the same way).
pg_free_port() {
    python3 - <<'PY'
import random, socket
for _ in range(500):
    port = random.SystemRandom().randint(20000, 32767)
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            continue
    print(port)
    break
else:
    raise SystemExit("pg_free_port: no free loopback port in 20000-32767")
PY
}

pg_start() {
    PG_DIR=$1
    if [[ $(id -u) -eq 0 ]]; then
        PG_USER=postgres
        id -u "$PG_USER" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$PG_USER"
    else
        PG_USER=$(id -un)
    fi
    mkdir -p "$PG_DIR"
    chmod 0755 "$PG_DIR"
    [[ $(id -u) -eq 0 ]] && chown "$PG_USER" "$PG_DIR"
    if [[ -n ${PG_NETNS:-} ]]; then
        PG_PORT=${PG_PORT:-5432}
    else
        PG_PORT=${PG_PORT:-$(pg_free_port)}
    fi
    PG_PASSWORD=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
    local pwfile=$PG_DIR/pwfile
    printf '%s\n' "$PG_PASSWORD" >"$pwfile"
    [[ $(id -u) -eq 0 ]] && chown "$PG_USER" "$pwfile"
    pg__as "$PG_BIN/initdb" -D "$PG_DIR/data" -U items --auth=scram-sha-256 \
        --pwfile="$pwfile" -E UTF8 --locale=C.UTF-8 >"$PG_DIR/initdb.log" 2>&1 || {
        cat "$PG_DIR/initdb.log" >&2
        return 1
    }
    rm -f "$pwfile"
    local cidr
    for cidr in ${PG_HBA_ALLOW:-}; do
        printf 'host all all %s scram-sha-256\n' "$cidr" >>"$PG_DIR/data/pg_hba.conf"
    done
    pg__as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 30 \
        -o "$(pg__opts)" start >/dev/null || {
        cat "$PG_DIR/server.log" >&2
        return 1
    }
    pg__ns env PGPASSWORD="$PG_PASSWORD" "$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U items -d postgres \
        -qAtc "CREATE DATABASE items" >/dev/null
    PG_URL="postgres://items:${PG_PASSWORD}@${PG_LISTEN:-127.0.0.1}:${PG_PORT}/items?sslmode=disable"
    export PG_URL PG_PORT PG_DIR PG_BIN PG_USER PG_PASSWORD
}

# psql against the test database: pg_psql -c "SELECT 1"
pg_psql() {
    pg__ns env PGPASSWORD="$PG_PASSWORD" "$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U items -d items -qAt "$@"
}

# pg_ctl against the test server: pg_ctl_do restart -m fast
pg_ctl_do() {
    pg__as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 \
        -o "$(pg__opts)" "$@"
}

pg_stop() {
    [[ -n ${PG_DIR:-} && -d $PG_DIR/data ]] || return 0
    pg__as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$PG_DIR"
}
