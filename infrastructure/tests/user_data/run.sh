#!/usr/bin/env bash
# Instance bootstrap test (make test-bootstrap).
#
# Renders modules/user_data through tests/user_data/render (the module the
# launch template uses), lints the result and the container start script
# (ShellCheck), then runs the rendered script in a sandbox: every file it writes
# goes under a temporary root (the module's path_prefix), and aws, docker,
# systemctl, curl, dnf, chown and sleep are stubs (tests/user_data/stubs) that
# record their arguments. It then plays systemd: runs items-api-run start and
# refresh as the units would. Checked: the calls made, the files written and
# their modes, the readiness signal (CONTINUE, or ABANDON on timeout and on
# error), and that no secret value appears in any log, argument list,
# configuration file or unit.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
infra=$(cd "$here/../.." && pwd)
root=$(cd "$infra/.." && pwd)
module=$infra/modules/user_data
work=$(mktemp -d "${TMPDIR:-/tmp}/items-api-bootstrap.XXXXXX")
passed=0
failed=0

cleanup() {
    local rc=$?
    if ((rc == 0)) && [[ -z ${KEEP_WORKDIR:-} ]]; then
        rm -rf "$work"
    else
        echo "bootstrap test: work dir kept: $work" >&2
    fi
    exit "$rc"
}
trap cleanup EXIT

ok() {
    if eval "$2"; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "  FAIL: $1" >&2
    fi
}
# called CALLS_LOG ERE: a recorded call matches
called() { grep -qE -- "$2" "$1"; }
mode() { stat -c '%a' "$1"; }

# shellcheck source-path=SCRIPTDIR source=../../../lib/tf-env.sh
source "$root/lib/tf-env.sh"

# render OUT [terraform apply args...]
render() {
    local out=$1 dir
    shift
    dir=$(mktemp -d "$work/render.XXXXXX")
    (
        cd "$here/render"
        export TF_DATA_DIR=$dir/.terraform
        terraform init -no-color -input=false -backend-config="path=$dir/terraform.tfstate" >"$dir/init.log"
        terraform apply -no-color -input=false -auto-approve "$@" >"$dir/apply.log"
        terraform output -no-color -raw user_data >"$out"
    ) || {
        cat "$dir"/*.log >&2
        return 1
    }
}

# ---------------------------------------------------------------------------
echo "--- render and lint (the script exactly as instances get it)"
render "$work/user_data.sh"
script=$work/user_data.sh
size=$(wc -c <"$script")
ok "rendered script under the 16 KB user data limit ($size bytes)" "((size < 16384))"
ok "shellcheck: rendered user_data" "shellcheck -s bash '$script'"
ok "shellcheck: items-api-run" "shellcheck -s bash '$module/templates/items-api-run.sh'"
ok "shellcheck: the test and its stubs" "shellcheck -x '$here/run.sh' '$here'/stubs/*"
ok "no set -x / xtrace anywhere in the bootstrap" "! grep -nE '^[^#]*(set -[a-wyz]*x|set -o xtrace|bash -x)' '$script' '$module/templates/items-api-run.sh'"
ok "strict mode" "grep -q '^set -Eeuo pipefail' '$script' && grep -q '^set -euo pipefail' '$module/templates/items-api-run.sh'"
ok "files go to the real paths on instances" "grep -q \"^prefix=''\" '$script' && grep -q 'ITEMS_API_RUN_DIR=\"/run/items-api\"' '$script'"
ok "no secret ARN value is fetched by the bootstrap itself" "! grep -q 'get-secret-value' <(sed '/<<.ITEMS_API_RUN.$/,/^ITEMS_API_RUN$/d' '$script')"

# ---------------------------------------------------------------------------
# Sandbox: secrets the stubs hand out, and the scan for leaks.
api_key_1=test-key-9d4c8b7a6f5e4d3c2b1a0f9e8d7c6b5a
api_key_2=test-key-0a1b2c3d4e5f60718293a4b5c6d7e8f9
db_password='p@ss/w:rd #?&x%Q7'
db_password_encoded='p%40ss%2Fw%3Ard%20%23%3F%26x%25Q7'
ecr_token=ecr-token-SECRET-5b8e1f0c3a7d
secrets=("$api_key_1" "$api_key_2" "$db_password" "$db_password_encoded" "$ecr_token")

# sandbox NAME: fresh root, state and call log; sets sb, state, calls
sandbox() {
    sb=$work/$1
    state=$sb/stub-state
    calls=$sb/calls.log
    mkdir -p "$sb/root" "$state" "$sb/logs"
    : >"$calls"
    printf '%s\n%s\n' "$api_key_1" "$api_key_2" >"$state/api-keys"
    printf '{"username":"items_admin","password":"%s"}' "$db_password" >"$state/db-secret.json"
    printf '%s' "$ecr_token" >"$state/ecr-token"
}

# run_script LOG SCRIPT [ARGS...]: like cloud-init/systemd: clean environment, stubs first on PATH
run_script() {
    local log=$1
    shift
    env -i PATH="$here/stubs:/usr/local/bin:/usr/bin:/bin" HOME="$sb/home" LANG=C.UTF-8 \
        STUB_LOG="$calls" STUB_STATE="$state" STUB_READY_AFTER="${STUB_READY_AFTER:-2}" \
        ${STUB_DNF_FAIL:+STUB_DNF_FAIL=1} \
        bash "$@" >"$log" 2>&1
}

# as_systemd LOG COMMAND: run items-api-run with the unit's EnvironmentFile
as_systemd() {
    local log=$1 cmd=$2 envfile=$sb/root/etc/items-api/items-api.env
    run_script "$log" -c "set -a; source '$envfile'; set +a; exec '$sb/root/usr/local/libexec/items-api/items-api-run' $cmd"
}

no_leaks() {
    local where=("$@") s
    for s in "${secrets[@]}"; do
        if grep -rqF -- "$s" "${where[@]}"; then
            grep -rlF -- "$s" "${where[@]}" >&2
            return 1
        fi
    done
}

# ---------------------------------------------------------------------------
echo "--- happy path: install, configure, start, signal CONTINUE"
sandbox happy
render "$sb/user_data.sh" -var "path_prefix=$sb/root"
ok "user_data exits 0" "run_script '$sb/logs/cloud-init-output.log' '$sb/user_data.sh'"
r=$sb/root
ok "reads the instance ID with an IMDSv2 token" "called '$calls' '^curl .*-X PUT .*169.254.169.254/latest/api/token' && called '$calls' 'X-aws-ec2-metadata-token:\\\\ imds-session-token.*meta-data/instance-id'"
ok "installs Docker with dnf" "called '$calls' '^dnf install -y --quiet docker$'"
ok "enables Docker" "called '$calls' '^systemctl enable --now docker.service$'"
ok "reloads systemd and starts the service and the refresh timer" "called '$calls' '^systemctl daemon-reload$' && called '$calls' '^systemctl enable --now items-api.service items-api-refresh.timer$'"
ok "polls /readyz until it answers" "[[ \$(cat '$state/readyz-checks') == 3 ]] && called '$calls' '^curl -fsS -o /dev/null --max-time 2 http://127.0.0.1:8080/readyz$'"
ok "signals CONTINUE for this instance once ready" "called '$calls' '^aws autoscaling complete-lifecycle-action --region eu-west-1 --auto-scaling-group-name items-api-app --lifecycle-hook-name wait-for-readyz --instance-id i-0123456789abcdef0 --lifecycle-action-result CONTINUE$'"
ok "never signals ABANDON on success" "! called '$calls' 'ABANDON'"
ok "the bootstrap itself reads no secret" "! called '$calls' 'get-secret-value|get-login-password'"
env_file=$r/etc/items-api/items-api.env
ok "writes the configuration file (0644)" "[[ \$(mode '$env_file') == 644 ]]"
ok "configuration names the image by immutable tag" "grep -qx 'IMAGE=\"123456789012.dkr.ecr.eu-west-1.amazonaws.com/items-api:0123456789abcdef0123456789abcdef01234567\"' '$env_file'"
ok "configuration has the instance ID" "grep -qx 'INSTANCE_ID=\"i-0123456789abcdef0\"' '$env_file'"
ok "DRAIN_SECONDS equals the deregistration delay of lb-settings.json" "grep -qx \"DRAIN_SECONDS=\\\"\$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[\"deregistration_delay_seconds\"])' '$infra/lb-settings.json')\\\"\" '$env_file'"
ok "installs items-api-run (0755) identical to the template" "[[ \$(mode '$r/usr/local/libexec/items-api/items-api-run') == 755 ]] && cmp -s '$r/usr/local/libexec/items-api/items-api-run' '$module/templates/items-api-run.sh'"
unit=$r/etc/systemd/system/items-api.service
ok "unit restarts the container forever" "grep -qx 'Restart=always' '$unit' && grep -qx 'StartLimitIntervalSec=0' '$unit'"
ok "unit stops with docker stop after drain + shutdown (35 s)" "grep -qx 'ExecStop=/usr/bin/docker stop --time 35 items-api' '$unit' && grep -qx 'TimeoutStopSec=50' '$unit'"
ok "unit and timer installed" "[[ -f '$r/etc/systemd/system/items-api-refresh.service' && -f '$r/etc/systemd/system/items-api-refresh.timer' ]] && grep -qx 'OnUnitActiveSec=5min' '$r/etc/systemd/system/items-api-refresh.timer'"

echo "--- systemd starts items-api.service: secrets, registry login, docker run"
: >"$calls"
ok "items-api-run start exits 0 (docker run ran in the foreground)" "as_systemd '$sb/logs/items-api-start.log' start"
ok "reads the API keys secret with the instance role" "called '$calls' '^aws secretsmanager get-secret-value --region eu-west-1 --secret-id arn:aws:secretsmanager:eu-west-1:123456789012:secret:items-api/api-keys-AbCdEf --query SecretString --output text$'"
ok "reads the RDS-managed database secret" "called '$calls' '^aws secretsmanager get-secret-value --region eu-west-1 --secret-id arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds\\\\!db-3f9c2e7a-1b8d-4f6e-0a5c-9b2d7e1f4a8c-XyZ123 --query SecretString --output text$'"
ok "fetches the RDS CA bundle over HTTPS" "called '$calls' '^curl -fsS --retry 5 --max-time 30 -o .*/rds-ca.pem https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem$'"
ok "logs in to ECR with the token on stdin" "called '$calls' '^docker login --username AWS --password-stdin 123456789012.dkr.ecr.eu-west-1.amazonaws.com$' && grep -q 'token received on stdin' '$state/docker-checks'"
ok "pulls the image by tag" "called '$calls' '^docker pull --quiet 123456789012.dkr.ecr.eu-west-1.amazonaws.com/items-api:0123456789abcdef0123456789abcdef01234567$'"
run_line=$(grep '^docker run ' "$calls" || true)
has() { [[ " $run_line " == *" $1 "* ]]; }
ok "docker run: read-only root filesystem, non-root user 10001" "has --read-only && has '--user 10001:10001'"
ok "docker run: no capabilities, no privilege escalation" "has '--cap-drop ALL' && has '--security-opt no-new-privileges:true'"
ok "docker run: memory limit" "has '--memory 1536m' && has '--memory-swap 1536m'"
ok "docker run: stop timeout above drain + shutdown" "has '--stop-signal SIGTERM' && has '--stop-timeout 35'"
ok "docker run: publishes the app port" "has '--publish 8080:8080'"
ok "docker run: secrets mounted read-only at /run/items-api" "has '--mount type=bind\\,source=$r/run/items-api/secrets\\,target=/run/items-api\\,readonly'"
ok "docker run: awslogs driver to the log group, one stream per instance" "has '--log-driver awslogs' && has '--log-opt awslogs-group=/items-api/app' && has '--log-opt awslogs-stream=i-0123456789abcdef0' && has '--log-opt awslogs-region=eu-west-1'"
# The pool's default is the capacity model's (docs/capacity.md).
model_pool=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["defaults"]["db_pool_size"])' "$infra/capacity-model.json")
ok "docker run: service configuration by env" "has '--env DATABASE_URL_FILE=/run/items-api/database-url' && has '--env API_KEYS_FILE=/run/items-api/api-keys' && has '--env DRAIN_SECONDS=5' && has '--env SHUTDOWN_TIMEOUT_SECONDS=20' && has '--env PORT=8080' && has '--env LOG_LEVEL=info' && has '--env DB_POOL_SIZE=$model_pool'"
ok "docker run: the image last" "[[ \$(awk '{print \$NF}' <<<\"\$run_line\") == 123456789012.dkr.ecr.eu-west-1.amazonaws.com/items-api:0123456789abcdef0123456789abcdef01234567 ]]"
ok "docker run: no secret on the command line" "! grep -qE -- '--env (DATABASE_URL|API_KEYS)=' <<<\"\$run_line\""
sec=$r/run/items-api
ok "run dir is root-only (0700)" "[[ \$(mode '$sec') == 700 ]]"
ok "secrets dir 0500, handed to uid 10001" "[[ \$(mode '$sec/secrets') == 500 ]] && called '$calls' '^chown 10001:10001 $sec/secrets$'"
ok "secret files 0400 owned by uid 10001, CA 0444" "[[ \$(mode '$sec/secrets/api-keys') == 400 && \$(mode '$sec/secrets/database-url') == 400 && \$(mode '$sec/secrets/rds-ca.pem') == 444 ]] && [[ \$(grep -c '^chown 10001:10001 ' '$calls') == 4 ]]"
ok "API keys file holds the keys, one per line" "[[ \$(cat '$sec/secrets/api-keys') == \$(cat '$state/api-keys') ]]"
expected_url="postgres://items_admin:${db_password_encoded}@items-api-db.c9akciq32.eu-west-1.rds.amazonaws.com:5432/items?sslmode=verify-full&sslrootcert=/run/items-api/rds-ca.pem"
ok "database URL: percent-encoded credentials, verify-full against the mounted CA" "[[ \$(cat '$sec/secrets/database-url') == '$expected_url' ]]"
ok "the container saw all three files" "[[ \$(wc -l <'$state/mounted-files') == 3 ]]"
ok "registry credentials kept on tmpfs under the root-only run dir" "[[ -d '$sec/docker' && \$(mode '$sec/docker') == 700 ]]"
ok "no temporary secret files left behind" "! compgen -G '$sec/fetch.*' >/dev/null"

echo "--- refresh timer: unchanged secrets, then a rotated database password"
: >"$calls"
ok "refresh with unchanged secrets exits 0" "as_systemd '$sb/logs/refresh-1.log' refresh"
ok "unchanged secrets: no restart" "! called '$calls' '^systemctl'"
printf '{"username":"items_admin","password":"%s"}' "${db_password}-rotated" >"$state/db-secret.json"
secrets+=("${db_password}-rotated")
ok "refresh after rotation exits 0" "as_systemd '$sb/logs/refresh-2.log' refresh"
ok "rotated password: no restart (the service re-reads DATABASE_URL_FILE on reconnect)" "! called '$calls' '^systemctl'"
ok "rotated password: the database-url file holds the new password, mode 0400" "grep -qF -- '${db_password_encoded}-rotated' '$sec/secrets/database-url' && [[ \$(mode '$sec/secrets/database-url') == 400 ]]"
: >"$calls"
printf '%s\n%s\n' "$api_key_1" "rotated-key-0123456789abcdef" >"$state/api-keys"
secrets+=("rotated-key-0123456789abcdef")
ok "refresh after a key change exits 0" "as_systemd '$sb/logs/refresh-3.log' refresh"
ok "changed API keys: the service restarts (keys are read at start-up)" "called '$calls' '^systemctl try-restart items-api.service$'"
ok "refresh leaves no temporary files" "! compgen -G '$sec/refresh.*' >/dev/null"

echo "--- leak scan"
ok "positive control: the secret files do hold the secrets" "grep -qF -- '$api_key_1' '$sec/secrets/api-keys' && grep -qF -- '$db_password_encoded' '$sec/secrets/database-url'"
ok "no secret in cloud-init output, service logs, recorded arguments, configuration, units or the script" \
    "no_leaks '$sb/logs' '$calls' '$r/etc' '$r/usr' '$sb/user_data.sh' '$script'"

# ---------------------------------------------------------------------------
echo "--- never ready: ABANDON after the timeout"
sandbox timeout
render "$sb/user_data.sh" -var "path_prefix=$sb/root" -var readiness_timeout_seconds=15
ok "user_data fails when /readyz never answers" "! STUB_READY_AFTER=1000 run_script '$sb/logs/cloud-init-output.log' '$sb/user_data.sh'"
ok "polls readiness_timeout / interval times (3), sleeping between" "[[ \$(cat '$state/readyz-checks') == 3 ]] && [[ \$(grep -c '^sleep 5$' '$calls') == 3 ]]"
ok "signals ABANDON, never CONTINUE" "called '$calls' '--lifecycle-action-result ABANDON$' && ! called '$calls' 'CONTINUE'"
ok "no secret in the logs" "no_leaks '$sb/logs' '$calls'"

echo "--- a failing step: ABANDON from the error trap"
sandbox error
render "$sb/user_data.sh" -var "path_prefix=$sb/root"
ok "user_data fails when dnf fails" "! STUB_DNF_FAIL=1 run_script '$sb/logs/cloud-init-output.log' '$sb/user_data.sh'"
ok "signals ABANDON once and stops" "[[ \$(grep -c 'ABANDON' '$calls') == 1 ]] && ! called '$calls' '^systemctl enable --now items-api'"
ok "says which line failed" "grep -q 'bootstrap failed at line' '$sb/logs/cloud-init-output.log'"

echo "bootstrap test: $passed passed, $failed failed"
((failed == 0))
