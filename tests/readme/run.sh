#!/usr/bin/env bash
# The README's application commands, run as a reader would: `make run`,
# the CLI lines, and the curl examples (taken from README.md itself, so the
# test fails when the README drifts from the service).
set -euo pipefail
cd "$(dirname "$0")/../.."

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
work=$(mktemp -d)
pid=
cleanup() {
    if [[ -n $pid ]]; then
        kill -TERM -- "-$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "readme: FAIL: $*" >&2; exit 1; }
pass=0
ok() { echo "  ok  $*"; pass=$((pass + 1)); }

# make run: a server on SQLite with a freshly generated key, printed once.
# Its own process group, like a terminal's foreground job, so Ctrl-C can be
# sent to the group as a terminal would.
DATABASE_URL="sqlite:$work/items.db" PORT=$port setsid make --no-print-directory run \
    >"$work/run.out" 2>&1 &
pid=$!
for _ in $(seq 100); do
    curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
    sleep 0.1
done
curl -fs "http://127.0.0.1:$port/healthz" >/dev/null || fail "make run did not serve (see $work/run.out)"
KEY=$(sed -n 's/^  API key: //p' "$work/run.out")
[[ $KEY =~ ^dev-[0-9a-f]{48}$ ]] || fail "make run printed no API key"
ok "make run serves on 127.0.0.1 and prints a fresh key"
grep -q '^PORT=18080 make run ' README.md || fail "the quick start does not show how to pick another port"
grep -q "URL:     http://127.0.0.1:$port\$" "$work/run.out" || fail "PORT=$port make run did not announce port $port"
ok "PORT=N make run, as the quick start shows, serves on port N"
[[ $(grep -c -- "$KEY" "$work/run.out") -eq 2 ]] || fail "the key is printed more than once"
ok "the key is printed once (plus the example curl line)"

# The API examples: the README's code block after "Example:".
examples=$(awk '/^Example:/{f=1; next} f && /^```sh/{g=1; next} g && /^```/{exit} g' README.md)
[[ -n $examples ]] || fail "no example block found in README.md"
examples=${examples//127.0.0.1:8080/127.0.0.1:$port}
# The block starts with "KEY=...": the reader pastes the printed key there.
examples=${examples//KEY=.../KEY=$KEY}
out=$(bash -c "set -e; $examples") || fail "README examples failed"
# curl -s prints the bodies back to back: decode them as a stream.
python3 - "$out" <<'PY' || fail "README examples returned unexpected bodies"
import json, sys
text, docs, i = sys.argv[1], [], 0
dec = json.JSONDecoder()
while i < len(text):
    doc, i = dec.raw_decode(text, i)
    docs.append(doc)
c, r, p = docs
assert c["name"] == "first" and c["version"] == 1 and c["data"] == {"color": "red"}, c
assert r == c, (r, c)
assert p["version"] == 2 and p["data"] == {"color": "red", "size": 3}, p
PY
ok "README curl examples: create, read, conditional merge patch"

# The CLI lines of the Application section.
build/items-api --help | grep -q DATABASE_URL || fail "--help"
build/items-api version | grep -q '^items-api ' || fail "version"
DATABASE_URL="sqlite:$work/m.db" API_KEYS=readme-key-0123456789 build/items-api migrate >/dev/null || fail "migrate"
build/items-api healthcheck "http://127.0.0.1:$port/healthz" || fail "healthcheck"
! build/items-api healthcheck "http://127.0.0.1:1/healthz" 2>/dev/null || fail "healthcheck of nothing"
ok "CLI: --help, version, migrate, healthcheck (up and down)"

# Ctrl-C (SIGINT to the foreground process group) drains and exits.
kill -INT -- "-$pid"
for _ in $(seq 50); do
    grep -q '"message":"stopped"' "$work/run.out" && break
    sleep 0.1
done
wait "$pid" 2>/dev/null || true
pid=
grep -q '"message":"stopped"' "$work/run.out" || fail "make run did not stop cleanly"
ok "make run stops on Ctrl-C"
echo "readme: $pass checks passed"
