#!/usr/bin/env bash
# HTTP load run (part of `make bench`): the release binary, pinned to core 0;
# wrk pinned to core 1. Measures
#   1. GET /api/v1/auth/me (JWT verify + revocation check + per-user limit),
#   2. the same while a login flood hits the Argon2 pool,
#   3. the login flood itself,
#   4. refresh-token rotation: 4 independent sessions, each a chain of refreshes.
# BACKENDS=memory (default) or BACKENDS=real (PostgreSQL database
# portcullis_bench, recreated, and the local Redis).
# Only loopback traffic; every run is bounded by DURATION.
set -euo pipefail
cd "$(dirname "$0")/../.."

DURATION=${DURATION:-10s}
PORT=${PORT:-18089}
CONNECTIONS=${CONNECTIONS:-32}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/portcullis/target}"

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
command -v taskset >/dev/null || { echo "taskset (util-linux) is required" >&2; exit 1; }

cargo build --release -p portcullis
BIN="$CARGO_TARGET_DIR/release/portcullis"

BACKENDS=${BACKENDS:-memory}
REAL_ENV=()
if [ "$BACKENDS" = real ]; then
  psql -h 127.0.0.1 -U postgres -d test -qc "DROP DATABASE IF EXISTS portcullis_bench WITH (FORCE)" \
    -c "CREATE DATABASE portcullis_bench" >/dev/null
  REAL_ENV=(DATABASE_URL=postgres://postgres@127.0.0.1:5432/portcullis_bench REDIS_URL=redis://127.0.0.1:6379
            REDIS_KEY_PREFIX="bench-$$:" JWT_PRIVATE_KEY_PATH=crates/infrastructure/testdata/ed25519.pem
            ENCRYPTION_KEYS=bench:dGVzdCBrZXkgZm9yIGludGVncmF0aW9uIHRlc3RzISE=)
fi
echo "### backends: $BACKENDS"

env "${REAL_ENV[@]}" PORT=$PORT HOST=127.0.0.1 WORKERS=1 MAX_HASH_CONCURRENCY=1 HASH_QUEUE_SIZE=16 \
RATE_LIMIT_MAX_REQUESTS=1000000000 RATE_LIMIT_AUTH_MAX_REQUESTS=1000000000 \
LOGIN_LOCKOUT_THRESHOLD=1000000000 LOG_LEVEL=error \
  taskset -c 0 "$BIN" serve >/tmp/portcullis-bench.log 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$PORT/health/live" >/dev/null && break; sleep 0.2; done

API="http://127.0.0.1:$PORT/api/v1"
curl -sf "$API/auth/register" -H 'content-type: application/json' \
  -d '{"email":"bench@example.com","password":"Quartz-Lantern-91!"}' >/dev/null
TOKEN=$(curl -sf "$API/auth/login" -H 'content-type: application/json' \
  -d '{"email":"bench@example.com","password":"Quartz-Lantern-91!"}' | sed -E 's/.*"access_token":"([^"]+)".*/\1/')

LOGIN_LUA=$(mktemp)
cat >"$LOGIN_LUA" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"email":"bench@example.com","password":"Quartz-Lantern-91!"}'
LUA

echo "### 1. GET /auth/me, ${CONNECTIONS} connections, ${DURATION}"
taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency -H "Authorization: Bearer $TOKEN" "$API/auth/me"

echo "### 2. GET /auth/me during a login flood (64 connections on /auth/login)"
taskset -c 1 wrk -t1 -c64 -d"$DURATION" -s "$LOGIN_LUA" "$API/auth/login" >/tmp/portcullis-flood.txt &
FLOOD=$!
sleep 1
taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency -H "Authorization: Bearer $TOKEN" "$API/auth/me"
wait $FLOOD

echo "### 3. The login flood itself (non-2xx = 503 OVERLOADED answers)"
cat /tmp/portcullis-flood.txt
rm -f "$LOGIN_LUA"

# Each chain presents the token it was just given, so it never trips reuse
# detection; one connection per chain, four chains in parallel.
REFRESH_LUA=$(mktemp)
cat >"$REFRESH_LUA" <<'LUA'
local token = os.getenv("REFRESH_TOKEN")
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  return wrk.format(nil, nil, nil, '{"refresh_token":"' .. token .. '"}')
end
response = function(status, headers, body)
  local next_token = body:match('"refresh_token":"([^"]+)"')
  if next_token then token = next_token end
end
LUA
echo "### 4. Refresh rotation: 4 chains x 1 connection, ${DURATION}"
CHAINS=()
for i in 1 2 3 4; do
  REFRESH=$(curl -sf "$API/auth/login" -H 'content-type: application/json' \
    -d '{"email":"bench@example.com","password":"Quartz-Lantern-91!"}' | sed -E 's/.*"refresh_token":"([^"]+)".*/\1/')
  REFRESH_TOKEN=$REFRESH taskset -c 1 wrk -t1 -c1 -d"$DURATION" --latency -s "$REFRESH_LUA" "$API/auth/refresh" \
    >"/tmp/portcullis-refresh-$i.txt" &
  CHAINS+=($!)
done
wait "${CHAINS[@]}"
grep -h -E "Requests/sec|Non-2xx|50%|99%" /tmp/portcullis-refresh-*.txt
rm -f "$REFRESH_LUA"
