#!/bin/bash
# items-api-run: start the items-api container, or refresh its secrets.
# Installed by the instance bootstrap as /usr/local/libexec/items-api/items-api-run.
#
#   items-api-run start     items-api.service: fetch secrets and the RDS CA, log in
#                           to ECR, pull the image, exec `docker run` in the foreground
#   items-api-run refresh   items-api-refresh.timer: re-read the secrets; swap a rotated
#                           database password in place, restart only for new API keys
#                           the service when they changed (RDS rotates its managed
#                           master password; API keys are rotated by operators)
#
# Configuration comes from the environment (systemd EnvironmentFile
# /etc/items-api/items-api.env). Secrets never travel through argv, the
# environment, stdout or a log: they go from the aws CLI through a pipe into
# files (0400, owned by the container user) in $ITEMS_API_RUN_DIR/secrets on
# tmpfs, whose parent is root-only (0700), and are mounted read-only into the
# container at $CONTAINER_SECRETS_DIR. Never add `set -x` here.
set -euo pipefail
umask 077

: "${AWS_REGION:?}" "${IMAGE:?}" "${ECR_REGISTRY:?}" "${API_KEYS_SECRET_ARN:?}" "${DB_SECRET_ARN:?}"
: "${DB_HOST:?}" "${DB_PORT:?}" "${DB_NAME:?}" "${LOG_GROUP:?}" "${INSTANCE_ID:?}" "${APP_PORT:?}"
: "${ITEMS_API_RUN_DIR:?}" "${CONTAINER_SECRETS_DIR:?}" "${CONTAINER_UID:?}" "${RDS_CA_URL:?}"
: "${DRAIN_SECONDS:?}" "${SHUTDOWN_TIMEOUT_SECONDS:?}" "${STOP_TIMEOUT_SECONDS:?}" "${CONTAINER_MEMORY_MB:?}"

container=items-api
secrets_dir=$ITEMS_API_RUN_DIR/secrets

log() { printf 'items-api-run: %s\n' "$*" >&2; }

# Turns the RDS-managed secret (JSON with username and password, on stdin) into
# the libpq URI the service reads from DATABASE_URL_FILE. User and password are
# percent-encoded. Error messages never include the input.
read -r -d '' database_url_py <<'PY' || true
import json, os, sys, urllib.parse
try:
    secret = json.load(sys.stdin)
    user, password = secret["username"], secret["password"]
except Exception:
    sys.exit("items-api-run: the database secret is not JSON with username and password")
quote = lambda v: urllib.parse.quote(str(v), safe="")
sys.stdout.write("postgres://%s:%s@%s:%s/%s?sslmode=verify-full&sslrootcert=%s/rds-ca.pem\n" % (
    quote(user), quote(password), os.environ["DB_HOST"], os.environ["DB_PORT"],
    os.environ["DB_NAME"], os.environ["CONTAINER_SECRETS_DIR"]))
PY

secret_string() {
    aws secretsmanager get-secret-value --region "$AWS_REGION" --secret-id "$1" \
        --query SecretString --output text
}

# Writes api-keys and database-url into directory $1.
fetch_secrets() {
    secret_string "$API_KEYS_SECRET_ARN" >"$1/api-keys"
    secret_string "$DB_SECRET_ARN" | python3 -c "$database_url_py" >"$1/database-url"
}

# Moves $1 to $2 with mode $3, owned by the container user. rename() keeps the
# swap atomic for a reader inside the container.
install_for_container() {
    chown "$CONTAINER_UID:$CONTAINER_UID" "$1"
    chmod "$3" "$1"
    mv -f "$1" "$2"
}

prepare_secrets() {
    install -d -m 0700 "$ITEMS_API_RUN_DIR"
    install -d -m 0500 "$secrets_dir"
    chown "$CONTAINER_UID:$CONTAINER_UID" "$secrets_dir"
    local tmp
    tmp=$(mktemp -d "$ITEMS_API_RUN_DIR/fetch.XXXXXX")
    # shellcheck disable=SC2064  # expand $tmp now
    trap "rm -rf '$tmp'" EXIT

    fetch_secrets "$tmp"
    curl -fsS --retry 5 --max-time 30 -o "$tmp/rds-ca.pem" "$RDS_CA_URL"
    grep -q 'BEGIN CERTIFICATE' "$tmp/rds-ca.pem" || { log "RDS CA bundle is not PEM"; return 1; }

    install_for_container "$tmp/api-keys" "$secrets_dir/api-keys" 0400
    install_for_container "$tmp/database-url" "$secrets_dir/database-url" 0400
    install_for_container "$tmp/rds-ca.pem" "$secrets_dir/rds-ca.pem" 0444
    rm -rf "$tmp"
    trap - EXIT
}

start() {
    prepare_secrets

    # The registry token is a credential too: straight from the CLI into
    # docker's stdin, and docker keeps it under the root-only run dir (tmpfs).
    export DOCKER_CONFIG=$ITEMS_API_RUN_DIR/docker
    install -d -m 0700 "$DOCKER_CONFIG"
    aws ecr get-login-password --region "$AWS_REGION" |
        docker login --username AWS --password-stdin "$ECR_REGISTRY" >/dev/null
    log "pulling $IMAGE"
    docker pull --quiet "$IMAGE" >/dev/null
    docker rm --force "$container" >/dev/null 2>&1 || true

    log "starting $IMAGE"
    exec docker run --rm --name "$container" \
        --read-only --user "$CONTAINER_UID:$CONTAINER_UID" \
        --cap-drop ALL --security-opt no-new-privileges:true \
        --memory "${CONTAINER_MEMORY_MB}m" --memory-swap "${CONTAINER_MEMORY_MB}m" --pids-limit 512 \
        --stop-signal SIGTERM --stop-timeout "$STOP_TIMEOUT_SECONDS" \
        --publish "$APP_PORT:$APP_PORT" \
        --mount "type=bind,source=$secrets_dir,target=$CONTAINER_SECRETS_DIR,readonly" \
        --log-driver awslogs \
        --log-opt "awslogs-region=$AWS_REGION" \
        --log-opt "awslogs-group=$LOG_GROUP" \
        --log-opt "awslogs-stream=$INSTANCE_ID" \
        --log-opt mode=non-blocking --log-opt max-buffer-size=4m \
        --env "PORT=$APP_PORT" \
        --env "DATABASE_URL_FILE=$CONTAINER_SECRETS_DIR/database-url" \
        --env "API_KEYS_FILE=$CONTAINER_SECRETS_DIR/api-keys" \
        --env "DRAIN_SECONDS=$DRAIN_SECONDS" \
        --env "SHUTDOWN_TIMEOUT_SECONDS=$SHUTDOWN_TIMEOUT_SECONDS" \
        --env "LOG_LEVEL=${LOG_LEVEL:-info}" \
        --env "DB_POOL_SIZE=${DB_POOL_SIZE:-16}" \
        "$IMAGE"
}

refresh() {
    if [[ ! -d $secrets_dir ]]; then
        log "no secrets yet; nothing to refresh"
        return 0
    fi
    local tmp changed=0
    tmp=$(mktemp -d "$ITEMS_API_RUN_DIR/refresh.XXXXXX")
    # shellcheck disable=SC2064  # expand $tmp now
    trap "rm -rf '$tmp'" EXIT
    fetch_secrets "$tmp"
    # A rotated database password (RDS does it on a schedule): swap the file.
    # The service re-reads DATABASE_URL_FILE before every new connection and
    # its open sessions outlive the change, so nothing restarts.
    if ! cmp -s "$tmp/database-url" "$secrets_dir/database-url"; then
        install_for_container "$tmp/database-url" "$secrets_dir/database-url" 0400
        log "database credentials changed; the service picks them up on its next connection"
    fi
    # API keys are read at start-up only: a change needs a restart. Rotations
    # should go through an instance refresh (drained at the ALB); this is the
    # safety net if one is forgotten.
    if ! cmp -s "$tmp/api-keys" "$secrets_dir/api-keys"; then
        changed=1
    fi
    if ((changed)); then
        log "API keys changed; restarting items-api.service"
        systemctl try-restart items-api.service
    fi
}

case ${1:-} in
start) start ;;
refresh) refresh ;;
*)
    echo "usage: $0 start|refresh" >&2
    exit 2
    ;;
esac
