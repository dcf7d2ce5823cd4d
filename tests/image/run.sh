#!/usr/bin/env bash
# Runs the items-api image the way production does and checks it.
#
#   tests/image/run.sh [IMAGE]            default items-api:dev (make test-image builds it)
#
# 0. the build context (build/image/rootfs, rootfs.data) is readable by the
#    user who runs `docker build` (CI: the runner user, after a debian:12
#    container assembled it as root): checked as the checkout's owner, and,
#    on Debian, by assembling a copy for `nobody` (IMAGE_OWNER) and reading it
#    as nobody; in the image every file is root's and only /var/lib/items-api
#    is 10001's (not world-writable), whoever owned the context
# 1. the image's configuration: non-root numeric user, volume, port, stop
#    signal, health check, OCI labels, no shell, size <= IMAGE_MAX_MB (30)
# 2. SQLite on a named volume, read-only root filesystem: /healthz, /readyz,
#    401 without a key, an authenticated create and read, the HEALTHCHECK
#    command, uid 10001, no capabilities; `stop` exits 0 within the drain
#    time; the data survives a new container on the same volume
# 3. PostgreSQL, configured like the instances do it (infrastructure/modules/
#    user_data): secrets as 0400 files owned by 10001 mounted read-only
#    (DATABASE_URL_FILE, API_KEYS_FILE), --read-only, --cap-drop ALL,
#    no-new-privileges, a memory limit: the same checks, and the row is in
#    the database
#
# The engine is podman here, docker where a daemon runs (image/engine.sh).
# Containers use the host network (no bridge or port mapping to set up) on
# free ports. PostgreSQL: a throwaway server (lib/pg.sh), or the one
# named by IMAGE_TEST_PG_URL (CI: a service container).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
# shellcheck source=image/engine.sh
source image/engine.sh
if [[ -z ${IMAGE_TEST_PG_URL:-} ]]; then
    # shellcheck source=lib/pg.sh
    source lib/pg.sh
fi

image=${1:-items-api:dev}
max_mb=${IMAGE_MAX_MB:-30}
drain=2
key="image-test-key-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
work=$(mktemp -d "${TMPDIR:-/tmp}/items-api-image-test.XXXXXX")
chmod 0755 "$work"
run_id=$$
containers=()
volumes=()
pg_started=0
# shellcheck source=tests/lib/checks.sh
source tests/lib/checks.sh

# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
    local c v
    for c in "${containers[@]}"; do engine rm -f -v "$c" >/dev/null 2>&1 || true; done
    for v in "${volumes[@]}"; do engine volume rm -f "$v" >/dev/null 2>&1 || true; done
    ((pg_started)) && pg_stop
    if ((failed == 0)); then rm -rf "$work"; else echo "image test: logs kept in $work" >&2; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# http METHOD URL [curl args...]: prints the status code; body in $work/body
http() {
    local method=$1 url=$2
    shift 2
    curl -sS -o "$work/body" -w '%{http_code}' --max-time 10 -X "$method" "$@" "$url" 2>>"$work/curl.err" || echo 000
}

wait_healthy() {
    local port=$1 name=$2 _
    for _ in $(seq 1 100); do
        if [[ $(http GET "http://127.0.0.1:$port/healthz") == 200 ]]; then return 0; fi
        if [[ $(engine inspect --format '{{.State.Running}}' "$name" 2>/dev/null) != true ]]; then
            break
        fi
        sleep 0.2
    done
    echo "image test: $name did not answer /healthz; its log:" >&2
    engine logs "$name" >&2 2>&1 || true
    return 1
}

# Starts a container: start NAME PORT [engine run args...]
start() {
    local name=$1 port=$2
    shift 2
    local extra=()
    # podman adds tmpfs mounts on /tmp, /run, /var/tmp to read-only
    # containers by default; docker (production) does not: match docker.
    [[ $ENGINE == podman ]] && extra+=(--read-only-tmpfs=false)
    containers+=("$name")
    # podman wants systemd for periodic health checks and says so on stderr;
    # the check is run on demand below.
    engine run -d --name "$name" --network host --read-only "${extra[@]}" \
        --cap-drop ALL --security-opt no-new-privileges \
        -e "PORT=$port" -e "DRAIN_SECONDS=$drain" -e SHUTDOWN_TIMEOUT_SECONDS=5 \
        "$@" "$image" >"$work/$name.run" 2>&1 || {
        cat "$work/$name.run" >&2
        return 1
    }
    wait_healthy "$port" "$name"
}

# The checks both databases share. service_checks LABEL NAME PORT
service_checks() {
    local label=$1 name=$2 port=$3 base="http://127.0.0.1:$3" pid status location
    expect "$label: GET /healthz is 200" 200 "$(http GET "$base/healthz")"
    expect "$label: GET /readyz is 200" 200 "$(http GET "$base/readyz")"
    expect "$label: GET /v1/items without a key is 401" 401 "$(http GET "$base/v1/items")"
    status=$(http POST "$base/v1/items" -D "$work/headers" -H "Authorization: Bearer $key" \
        -H 'Content-Type: application/json' -d "{\"name\":\"from-$name\",\"data\":{\"image\":true}}")
    expect "$label: POST /v1/items with a key is 201" 201 "$status"
    location=$(tr -d '\r' <"$work/headers" | awk -F': ' 'tolower($1) == "location" {print $2}')
    status=$(http GET "$base$location" -H "X-API-Key: $key")
    expect "$label: GET $location is 200" 200 "$status"
    check "$label: the item read back is the one created" grep -q "\"name\":\"from-$name\"" "$work/body"
    if [[ $ENGINE == podman ]]; then
        check "$label: HEALTHCHECK command reports healthy" engine healthcheck run "$name"
    else
        check "$label: HEALTHCHECK command succeeds" engine exec "$name" /usr/local/bin/items-api healthcheck
    fi
    pid=$(engine inspect --format '{{.State.Pid}}' "$name")
    expect "$label: process runs as uid 10001" "10001 10001 10001 10001" \
        "$(awk '$1 == "Uid:" {print $2, $3, $4, $5}' "/proc/$pid/status")"
    expect "$label: process has no capabilities" 0000000000000000 "$(awk '$1 == "CapEff:" {print $2}' "/proc/$pid/status")"
    expect "$label: root filesystem is read-only" true "$(engine inspect --format '{{.HostConfig.ReadonlyRootfs}}' "$name")"
}

# stop_checks LABEL NAME: `stop` sends SIGTERM; the service drains $drain s and exits 0.
stop_checks() {
    local label=$1 name=$2 t0 t1 elapsed code
    t0=$(date +%s%N)
    engine stop --time 30 "$name" >/dev/null 2>&1
    t1=$(date +%s%N)
    elapsed=$(((t1 - t0) / 1000000))
    code=$(engine inspect --format '{{.State.ExitCode}}' "$name")
    expect "$label: exits 0 on stop (SIGTERM)" 0 "$code"
    if ((elapsed >= drain * 1000 - 200 && elapsed <= (drain + 4) * 1000)); then
        ok "$label: stop took ${elapsed} ms (drain ${drain} s, well before the 30 s kill)"
    else
        not_ok "$label: stop took ${elapsed} ms; expected about the drain time (${drain} s)"
    fi
    engine logs "$name" >"$work/$name.log" 2>&1 || true
}

echo "=== image test: $image ($ENGINE)"
if ! engine image inspect "$image" >/dev/null 2>&1; then
    echo "image test: no image $image (make image)" >&2
    exit 1
fi

# --- 0. the build context and ownership in the image --------------------------------
# unreadable_as UID:GID DIR: what that user cannot read of DIR's build context
# (rootfs, rootfs.data); then reads it all the way the docker CLI does (tar).
unreadable_as() {
    local ids=$1 dir=$2 bad
    local as=(setpriv --reuid "${ids%:*}" --regid "${ids#*:}" --clear-groups)
    bad=$("${as[@]}" find "$dir/rootfs" "$dir/rootfs.data" \
        \( -type d \( ! -readable -o ! -executable \) -print \) -o \
        \( ! -type d ! -type l ! -readable -print \) 2>&1) || true
    if [[ -n $bad ]]; then
        printf 'unreadable as %s: %s\n' "$ids" "$(head -n 5 <<<"$bad" | tr '\n' ' ')"
        return 1
    fi
    "${as[@]}" tar -cf - -C "$dir" rootfs rootfs.data | wc -c >/dev/null
}
echo "--- the build context"
owner=$(stat -c %u:%g .)
check "context: build/image is readable by the checkout's owner ($owner), who runs docker build" \
    unreadable_as "$owner" build/image
if [[ -x build/items-api ]] && grep -qx 'ID=debian' /etc/os-release 2>/dev/null; then
    mkdir -p "$work/context"
    if IMAGE_OWNER=65534:65534 image/assemble-rootfs.sh build/items-api "$work/context/rootfs" >"$work/assemble.log" 2>&1; then
        expect "context: IMAGE_OWNER=65534:65534 owns the assembled tree and the data directory" \
            "65534:65534 65534:65534" "$(stat -c %u:%g "$work/context/rootfs" "$work/context/rootfs.data" | tr '\n' ' ' | sed 's/ $//')"
        check "context: assembled as root for user nobody, nobody can read all of it" \
            unreadable_as 65534:65534 "$work/context"
    else
        not_ok "context: image/assemble-rootfs.sh with IMAGE_OWNER=65534:65534 failed" "$(tail -n 5 "$work/assemble.log")"
    fi
    rm -rf "$work/context"
else
    echo "  skip  context: assembling a copy for nobody needs Debian and build/items-api (CI assembles in debian:12)"
fi
# The image's files: ownership comes from the Dockerfile, not from the context.
owners_name=items-api-test-owners-$run_id
containers+=("$owners_name")
if engine create --name "$owners_name" "$image" >/dev/null 2>&1 &&
    engine export "$owners_name" >"$work/export.tar" 2>"$work/export.err"; then
    ownership=$(python3 - "$work/export.tar" <<'PY'
import sys, tarfile
bad, data = [], None
for m in tarfile.open(sys.argv[1]):
    name = m.name.lstrip("./").rstrip("/")
    if name == "var/lib/items-api":
        data = "%d:%d%s" % (m.uid, m.gid, " world-writable" if m.mode & 0o002 else "")
    elif not name.startswith("var/lib/items-api/") and (m.uid, m.gid) != (0, 0) and name not in ("", "dev", "proc", "sys", "etc/hosts", "etc/hostname", "etc/resolv.conf", "run"):
        bad.append("%s %d:%d" % (name, m.uid, m.gid))
print("data=%s others=%s" % (data, ",".join(bad[:5]) or "root"))
PY
    )
    expect "image: every file is root's (/var and /var/lib too), /var/lib/items-api is 10001:10001" \
        "data=10001:10001 others=root" "$ownership"
else
    not_ok "image: could not export a container of $image" "$(head -c 400 "$work/export.err" 2>/dev/null)"
fi
engine rm -f "$owners_name" >/dev/null 2>&1 || true
rm -f "$work/export.tar"

# --- 1. configuration ------------------------------------------------------------
engine image inspect "$image" >"$work/inspect.json"
# cfg EXPR: a Python expression over c (the image's Config) and i (the whole
# inspect record; podman keeps Healthcheck there, docker in Config).
cfg() {
    python3 -c 'import json, sys
i = json.load(open(sys.argv[1]))[0]
c = i["Config"]
v = eval(sys.argv[2])
print(v if isinstance(v, str) else json.dumps(v, separators=(",", ":")))' "$work/inspect.json" "$1"
}
expect "config: user is numeric non-root 10001:10001" 10001:10001 "$(cfg 'c.get("User")')"
expect "config: volume /var/lib/items-api" true "$(cfg '"/var/lib/items-api" in (c.get("Volumes") or {})')"
expect "config: working directory is the volume" /var/lib/items-api "$(cfg 'c.get("WorkingDir")')"
expect "config: exposes 8080/tcp" true "$(cfg '"8080/tcp" in (c.get("ExposedPorts") or {})')"
expect "config: stop signal SIGTERM" SIGTERM "$(cfg 'c.get("StopSignal")')"
expect "config: HEALTHCHECK runs items-api healthcheck" '["CMD","/usr/local/bin/items-api","healthcheck"]' \
    "$(cfg '(c.get("Healthcheck") or i.get("Healthcheck") or {}).get("Test")')"
expect "config: entrypoint is the binary" '["/usr/local/bin/items-api"]' "$(cfg 'c.get("Entrypoint")')"
expect "config: DATABASE_URL not preset (it would conflict with DATABASE_URL_FILE)" false \
    "$(cfg 'any(e.startswith("DATABASE_URL") for e in c.get("Env") or [])')"
for label in source revision version; do
    value=$(cfg "(c.get('Labels') or {}).get('org.opencontainers.image.$label', '')")
    if [[ -n $value ]]; then ok "config: label org.opencontainers.image.$label=$value"; else not_ok "config: label org.opencontainers.image.$label missing"; fi
done
if [[ -n ${EXPECT_REVISION:-} ]]; then
    expect "config: revision label is $EXPECT_REVISION" "$EXPECT_REVISION" \
        "$(cfg "(c.get('Labels') or {}).get('org.opencontainers.image.revision', '')")"
fi
bytes=$(engine image inspect --format '{{.Size}}' "$image")
mb=$(awk -v b="$bytes" 'BEGIN {printf "%.1f", b / 1000000}')
if awk -v b="$bytes" -v m="$max_mb" 'BEGIN {exit !(b <= m * 1000000)}'; then
    ok "config: size ${mb} MB <= ${max_mb} MB"
else
    not_ok "config: size ${mb} MB > ${max_mb} MB"
fi
if engine run --rm --entrypoint /bin/sh "$image" -c true >/dev/null 2>&1; then
    not_ok "config: the image has no shell"
else
    ok "config: the image has no shell"
fi
version_out=$(engine run --rm --network none --read-only "$image" version 2>/dev/null || true)
check "config: \`items-api version\` runs (every library present)" grep -q '^items-api ' <<<"$version_out"

# --- 2. SQLite on a volume ---------------------------------------------------------
echo "--- SQLite on a named volume"
vol=items-api-test-$run_id
volumes+=("$vol")
engine volume create "$vol" >/dev/null
port=$(free_port)
name=items-api-test-sqlite-$run_id
if start "$name" "$port" -e "API_KEYS=$key" -v "$vol:/var/lib/items-api"; then
    service_checks sqlite "$name" "$port"
    stop_checks sqlite "$name"
    check "sqlite: the log says the drain happened" grep -q -i 'drain' "$work/$name.log"
    # The data is on the volume, not in the container: a new container sees it.
    name2=items-api-test-sqlite2-$run_id
    port=$(free_port)
    if start "$name2" "$port" -e "API_KEYS=$key" -v "$vol:/var/lib/items-api"; then
        expect "sqlite: a new container on the same volume reads the item" 200 \
            "$(http GET "http://127.0.0.1:$port/v1/items/1" -H "X-API-Key: $key")"
        stop_checks "sqlite (second container)" "$name2"
    else
        not_ok "sqlite: second container on the volume did not start"
    fi
else
    not_ok "sqlite: container did not start" "$(tail -n 5 "$work/$name.run")"
fi

# --- 3. PostgreSQL, secrets as files -------------------------------------------------
echo "--- PostgreSQL, secrets in read-only files"
if [[ -n ${IMAGE_TEST_PG_URL:-} ]]; then
    db_url=$IMAGE_TEST_PG_URL
else
    PG_EXTRA_OPTS=${PG_EXTRA_OPTS:--c fsync=off}
    export PG_EXTRA_OPTS
    pg_start "$work/pg" >/dev/null
    pg_started=1
    db_url=$PG_URL
fi
secrets=$work/secrets
install -d -m 0500 "$secrets"
printf '%s\n' "$db_url" >"$secrets/database-url"
printf '# rotated keys may sit side by side\n%s\n' "$key" >"$secrets/api-keys"
chmod 0400 "$secrets/database-url" "$secrets/api-keys"
chown -R 10001:10001 "$secrets"
port=$(free_port)
name=items-api-test-postgres-$run_id
if start "$name" "$port" --user 10001:10001 --memory 256m --pids-limit 512 \
    --mount "type=bind,source=$secrets,target=/run/items-api,readonly" \
    -e DATABASE_URL_FILE=/run/items-api/database-url -e API_KEYS_FILE=/run/items-api/api-keys; then
    service_checks postgres "$name" "$port"
    if ((pg_started)); then
        expect "postgres: the item is in PostgreSQL" 1 \
            "$(pg_psql -c "SELECT count(*) FROM items WHERE name = 'from-$name'" 2>&1)"
    fi
    stop_checks postgres "$name"
    password=${db_url#*://}
    password=${password%%@*}
    password=${password#*:}
    if grep -qF -e "$key" -e "$password" "$work/$name.log"; then
        not_ok "postgres: the container log shows the key or the password"
    else
        ok "postgres: neither the key nor the password is in the container log"
    fi
else
    not_ok "postgres: container did not start" "$(tail -n 5 "$work/$name.run")"
fi

echo "=== image test: $passed passed, $failed failed; image $image is $bytes bytes (${mb} MB)"
((failed == 0))
