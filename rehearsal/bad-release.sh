#!/usr/bin/env bash
# Make a bad release for a running stack, to roll out on purpose
# (tests/drills/releases.sh, or by hand):
#
#   rehearsal/bad-release.sh never-ready [BIN]     prints the path of a release
#   rehearsal/bad-release.sh no-privileges [BIN]   for ITEMS_API_BIN
#
#   never-ready     its database secret names a port the database subnet
#                   refuses, and it gives up after BAD_STARTUP_TIMEOUT (5)
#                   seconds (its DB_STARTUP_TIMEOUT_SECONDS) and exits, so the
#                   supervisor restarts it with growing delays: it never
#                   answers /readyz and crash-loops, as a release that cannot
#                   reach its database (a wrong secret or security group) or
#                   whose migration fails does.
#   no-privileges   its database secret names a role (items_noaccess, made
#                   here) that may log in and read schema_migrations but has
#                   no privilege on the items table: /healthz and /readyz
#                   answer 200, every /v1 request fails with a 5xx (a
#                   release deployed with the wrong database role).
#
# The release is a small wrapper, installed by `stack.sh roll` like any
# binary, that execs BIN (default: the stack's current release) with
# DATABASE_URL_FILE pointing at its own secret. Both live in the stack's
# runtime directory (readable by the instances' user; the secret 0440
# root:nogroup like the others), so `make stack-down` removes them.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=rehearsal/lib.sh
source "$HERE/lib.sh"

kind=${1:-}
stack_is_up || stack_die "stack $STACK_NAME is not up"
bin=${2:-$(readlink -f "$STACK_DIR/current")/items-api}
[[ -x $bin ]] || stack_die "no executable at $bin"

secret=$S_SECRETS/bad-$kind.database-url
url=$(cat "$S_SECRETS/database-url")
case $kind in
never-ready)
    # The database's name, another port: refused by the network, at once.
    printf '%s\n' "${url/:$DB_PORT\//:$((DB_PORT + 1))/}" >"$secret.tmp"
    ;;
no-privileges)
    password=$(head -c 18 /dev/urandom | base64 | tr '+/' '-_')
    db=${url%%\?*}
    db=${db##*/}
    # shellcheck source=/dev/null
    source "$S_SECRETS/pg.env"
    # shellcheck source=lib/pg.sh
    source "$STACK_ROOT/lib/pg.sh"
    # The start-up migration check needs the migrations table (and CREATE
    # on the schema for its CREATE TABLE IF NOT EXISTS); nothing else.
    pg_psql -v ON_ERROR_STOP=1 -f - >/dev/null <<EOF
\\connect $db
DO \$\$ BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'items_noaccess') THEN
        CREATE ROLE items_noaccess LOGIN;
    END IF;
END \$\$;
ALTER ROLE items_noaccess PASSWORD '$password';
GRANT USAGE, CREATE ON SCHEMA public TO items_noaccess;
GRANT SELECT ON schema_migrations TO items_noaccess;
REVOKE ALL ON items FROM items_noaccess;
EOF
    # shellcheck disable=SC2001  # a regular expression, not a pattern
    sed "s|^postgres://[^:]*:[^@]*@|postgres://items_noaccess:$password@|" <<<"$url" >"$secret.tmp"
    ;;
*)
    echo "usage: $0 never-ready|no-privileges [BIN]" >&2
    exit 2
    ;;
esac
chgrp nogroup "$secret.tmp"
chmod 0440 "$secret.tmp"
mv -f "$secret.tmp" "$secret"

dir=$S_RT/bad-releases/$kind.$(date -u +%Y%m%dT%H%M%S%3N)
mkdir -p "$dir"
chmod 0755 "$S_RT/bad-releases" "$dir"
install -m 0755 "$bin" "$dir/items-api.real"
extra=
[[ $kind != never-ready ]] || extra="DB_STARTUP_TIMEOUT_SECONDS=${BAD_STARTUP_TIMEOUT:-5} "
cat >"$dir/items-api" <<EOF
#!/bin/sh
# A bad release ($kind), made by rehearsal/bad-release.sh: $bin with
# another database secret.
${extra}DATABASE_URL_FILE=$secret exec $dir/items-api.real "\$@"
EOF
chmod 0755 "$dir/items-api"
echo "$dir/items-api"
