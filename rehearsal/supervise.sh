#!/usr/bin/env bash
# supervise.sh N: keep service instance N running, as systemd (Restart=always)
# or Docker's restart policy would on an EC2 instance.
#
# - Starts the instance's release, resolved at every start: the link
#   instances/appN.release when it exists (a roll in progress pins each
#   instance it replaces there, so that a bad release never becomes
#   `current`), else $STACK_DIR/current; as the unprivileged user nobody,
#   with the environment in instances/N.env and the secrets in files
#   (API_KEYS_FILE, DATABASE_URL_FILE). The release it started is in
#   run/appN.release (the process may be a wrapper that execs another
#   binary, so /proc/PID/exe does not tell).
# - Before each start, copies the database-url secret to the instance's own
#   file (secrets/appN.database-url, its DATABASE_URL_FILE), while no
#   process of this instance runs: the service re-reads that file before
#   each new database connection, so a changed secret (make stack-restore)
#   reaches an instance when it is replaced, not while it still serves.
# - A clean exit (status 0, e.g. after SIGTERM in a roll) is followed by an
#   immediate start; a crash (a signal or a non-zero status) by a start after
#   SUPERVISOR_RESTART_DELAY seconds, doubling up to 30 s while it keeps
#   crashing within 30 s of starting.
# - SIGTERM/SIGINT to the supervisor: SIGTERM to the instance (it drains),
#   wait for it, exit.
#
# Writes run/appN.pid (the instance), run/appN.supervisor.pid (itself) and
# log/appN.log (the instance's JSON lines, with the supervisor's own lines
# in the same JSON shape, "source":"supervisor").
set -euo pipefail

# shellcheck source=rehearsal/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

n=${1:?usage: supervise.sh N}
name=app$n
envfile=$STACK_DIR/instances/$name.env
logfile=$S_LOG/$name.log
pidfile=$S_RUN/$name.pid
restart_delay=${SUPERVISOR_RESTART_DELAY:-1}

slog() {
    local level=$1
    shift
    printf '{"time":"%s","level":"%s","source":"supervisor","instance":"%s","message":"%s"}\n' \
        "$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)" "$level" "$name" "$*" >>"$logfile"
}

stopping=0
child=
sleeper=
on_stop() {
    stopping=1
    if [[ -n $child ]]; then
        kill -TERM "$child" 2>/dev/null || true
    fi
    if [[ -n $sleeper ]]; then
        kill -TERM "$sleeper" 2>/dev/null || true
    fi
}
trap on_stop TERM INT
trap 'rm -f "$pidfile" "$S_RUN/$name.supervisor.pid"' EXIT

echo $$ >"$S_RUN/$name.supervisor.pid"
mapfile -t instance_env <"$envfile"
delay=$restart_delay
starts=0

# The instance's copy of the shared secret (0440 root:nogroup, atomically).
copy_database_url() {
    local src=$S_SECRETS/database-url dst=$S_SECRETS/$name.database-url
    install -m 0440 -g nogroup "$src" "$dst.tmp"
    mv -f "$dst.tmp" "$dst"
}

while ((!stopping)); do
    copy_database_url
    if [[ -L $STACK_DIR/instances/$name.release ]]; then
        release=$(readlink -f "$STACK_DIR/instances/$name.release")
    else
        release=$(readlink -f "$STACK_DIR/current")
    fi
    basename "$release" >"$S_RUN/$name.release.tmp"
    mv -f "$S_RUN/$name.release.tmp" "$S_RUN/$name.release"
    started=$(date +%s)
    starts=$((starts + 1))
    env -i "${instance_env[@]}" \
        setpriv --reuid=nobody --regid=nogroup --clear-groups --inh-caps=-all \
        "$release/items-api" serve </dev/null >>"$logfile" 2>&1 &
    child=$!
    echo "$child" >"$pidfile.tmp"
    mv -f "$pidfile.tmp" "$pidfile"
    slog info "started pid $child (start $starts) from release $(basename "$release")"

    # `wait` returns early when a trapped signal arrives: wait again until
    # the child is really gone, then its status is the one that counts.
    while :; do
        set +e
        wait "$child"
        rc=$?
        set -e
        kill -0 "$child" 2>/dev/null || break
    done
    child=
    if ((rc == 0)); then
        how="exited cleanly (status 0)"
    elif ((rc > 128)); then
        how="killed by signal $((rc - 128))"
    else
        how="exited with status $rc"
    fi
    if ((stopping)); then
        slog info "instance $how; supervisor stopping"
        break
    fi
    if ((rc == 0)); then
        slog info "instance $how; starting the current release"
        delay=$restart_delay
        continue
    fi
    if (($(date +%s) - started >= 30)); then
        delay=$restart_delay
    fi
    slog error "instance $how; restarting in ${delay}s"
    sleep "$delay" &
    sleeper=$!
    wait "$sleeper" || true
    sleeper=
    delay=$((delay * 2 > 30 ? 30 : delay * 2))
done
