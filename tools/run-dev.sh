#!/usr/bin/env bash
# `make run`: serve on http://127.0.0.1:8080 with the SQLite default and a
# freshly generated development API key, printed once here (the service
# itself never prints keys).
set -euo pipefail
cd "$(dirname "$0")/.."
key="dev-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
port=${PORT:-8080}
# Shown without its password, like the service's own logs show it.
shown=$(printf '%s' "${DATABASE_URL:-sqlite:var/items.db}" |
    sed -E 's#(://[^:/@]*):[^@/]*@#\1:***@#; s#([?&]password=)[^&]*#\1***#g')
cat >&2 <<MSG

  items-api development server
  URL:     http://127.0.0.1:${port}
  API key: ${key}
  try:     curl -H 'Authorization: Bearer ${key}' http://127.0.0.1:${port}/v1/items
  data:    ${shown}     (Ctrl-C stops; drains for 1 s)

MSG
export API_KEYS=$key BIND_ADDRESS=${BIND_ADDRESS:-127.0.0.1} PORT=$port
export DRAIN_SECONDS=${DRAIN_SECONDS:-1}
exec build/items-api serve
