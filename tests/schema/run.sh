#!/usr/bin/env bash
# Schemathesis (PyPI) over the OpenAPI document, against the in-memory server,
# with every check and an authenticated token. Any failure fails the run.
#
#   tests/schema/run.sh [path/to/portcullis]     (default: target/debug/portcullis)
#
# Needs `pip install schemathesis` (`.ci/run` installs it). SCHEMATHESIS_MAX_TIME
# bounds the fuzzing phase (seconds, default 60).
set -euo pipefail
# The server's log is kept (and its path printed) when KEEP_SERVER_LOG is set,
# and printed on failure.
cd "$(dirname "$0")/../.."
BIN=${1:-${CARGO_TARGET_DIR:-target}/debug/portcullis}
command -v st >/dev/null || { echo "schemathesis missing: python3 -m pip install schemathesis" >&2; exit 2; }
[ -x "$BIN" ] || { echo "no binary at $BIN: cargo build -p portcullis" >&2; exit 2; }

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
BASE="http://127.0.0.1:$PORT"
LOG=$(mktemp)
# In memory (whatever the caller's environment points at), fast (real)
# Argon2id, budgets no fuzzer exhausts.
env -u DATABASE_URL -u REDIS_URL -u SMTP_HOST -u JWT_PRIVATE_KEY_PATH -u ENCRYPTION_KEYS -u ENCRYPTION_KEY_ID -u METRICS_BEARER_TOKEN \
  -u OTEL_EXPORTER_OTLP_ENDPOINT HOST=127.0.0.1 PORT=$PORT LOG_LEVEL=warn ARGON2_MEMORY_KIB=64 ARGON2_ITERATIONS=1 \
  RATE_LIMIT_AUTH_MAX_REQUESTS=100000000 RATE_LIMIT_MAX_REQUESTS=100000000 \
  "$BIN" serve >"$LOG" 2>&1 &
SERVER=$!
trap 'status=$?; kill $SERVER 2>/dev/null || true; wait $SERVER 2>/dev/null || true; if [ $status -ne 0 ]; then echo "--- server log (last 50 lines) ---"; tail -n 50 "$LOG"; fi; [ -n "${KEEP_SERVER_LOG:-}" ] && echo "server log: $LOG" || rm -f "$LOG"' EXIT
for _ in $(seq 1 100); do
  curl -fs "$BASE/health/live" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fs "$BASE/health/live" >/dev/null || { cat "$LOG"; echo "server did not start" >&2; exit 1; }

token() { # email -> access token of a fresh account
  local body="{\"email\":\"$1\",\"password\":\"Fuzz-Lantern-91!x\"}"
  curl -fs -X POST "$BASE/api/v1/auth/register" -H 'Content-Type: application/json' -d "$body" >/dev/null
  curl -fs -X POST "$BASE/api/v1/auth/login" -H 'Content-Type: application/json' -d "$body" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])'
}

run() { # token, extra schemathesis arguments...
  local t=$1; shift
  st --config-file tests/schema/schemathesis.toml run "$BASE/api-docs/openapi.json" \
    --checks all -H "Authorization: Bearer $t" --max-time "${SCHEMATHESIS_MAX_TIME:-60}" \
    --request-timeout 30 \
    --seed "${SCHEMATHESIS_SEED:-20261126}" "$@"
}

# Everything but logout (which would revoke the token the rest runs with)...
run "$(token fuzz@example.com)" --exclude-path /api/v1/auth/logout
# ...then logout, with a token of its own.
run "$(token fuzz-logout@example.com)" --include-path /api/v1/auth/logout
