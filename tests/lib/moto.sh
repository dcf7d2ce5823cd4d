#!/usr/bin/env bash
# Start and stop a private moto_server (AWS emulator) for a test run.
#
#   eval "$(tests/lib/moto.sh start DIR)"   # prints exports: MOTO_PORT, MOTO_PID, AWS_ENDPOINT_URL, dummy credentials
#   tests/lib/moto.sh stop DIR              # kills exactly the server started for DIR
#
# DIR holds moto.pid, moto.port and moto.log. The server binds 127.0.0.1 on a
# free port, with MOTO_IAM_LOAD_MANAGED_POLICIES=true so AWS managed policies
# (AmazonSSMManagedInstanceCore, ReadOnlyAccess) can be attached.
set -euo pipefail

cmd=${1:-}
dir=${2:-}
if [[ -z $cmd || -z $dir ]]; then
    echo "usage: $0 start|stop DIR" >&2
    exit 2
fi
python=${PYTHON:-python3}

case $cmd in
start)
    mkdir -p "$dir"
    command -v moto_server >/dev/null || { echo "moto.sh: moto_server not found" >&2; exit 1; }
    port=$("$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
    MOTO_IAM_LOAD_MANAGED_POLICIES=true setsid moto_server -H 127.0.0.1 -p "$port" >"$dir/moto.log" 2>&1 &
    pid=$!
    echo "$pid" >"$dir/moto.pid"
    echo "$port" >"$dir/moto.port"
    for _ in $(seq 1 150); do
        if "$python" - "$port" <<'PY' 2>/dev/null; then
import sys, urllib.request
urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/moto-api/", timeout=1)
PY
            break
        fi
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "moto.sh: moto_server exited; log follows" >&2
            cat "$dir/moto.log" >&2
            exit 1
        fi
        sleep 0.2
    done
    cat <<ENV
export MOTO_PORT=$port MOTO_PID=$pid
export AWS_ENDPOINT_URL=http://127.0.0.1:$port
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_SESSION_TOKEN=testing
export AWS_DEFAULT_REGION=\${AWS_DEFAULT_REGION:-eu-west-1} AWS_PAGER=
unset AWS_PROFILE
ENV
    ;;
stop)
    if [[ -f $dir/moto.pid ]]; then
        pid=$(cat "$dir/moto.pid")
        # setsid made the server its own process group leader: end that group only.
        kill -- "-$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 -- "-$pid" 2>/dev/null || true
        rm -f "$dir/moto.pid"
    fi
    ;;
*)
    echo "usage: $0 start|stop DIR" >&2
    exit 2
    ;;
esac
