#!/usr/bin/env bash
# HTTP load run (part of `make bench`; issue 13): the release binary under wrk,
# the scenarios of docs/benchmarks.md, one Markdown row each with answers/s,
# p50/p90/p99, answers by status, and the CPU the server, PostgreSQL and
# Redis used (percent of one core over the run).
#   1. bearer GET /api/v1/auth/me, 32 connections;
#   2. refresh-token chains, 16 at once (one connection each);
#   3. password login at 4, then 8 connections, beside the Argon2id ceiling
#      that `hash-ceiling` measures on this machine first;
#   4. bearer GET, 32 connections, during a 64-connection login flood, and
#      the flood's answers (only 200 and 503 OVERLOADED are expected).
# BACKENDS=real (default: PostgreSQL database portcullis_bench, recreated,
# and the local Redis) or BACKENDS=memory. The load generator is wrk (Debian
# package; C, one event loop per thread, so it costs the server little CPU
# on a 2-core machine, and Lua for the refresh chains and status counts).
# WORKERS (HTTP workers, default 2) and PIN=1 (server on core 0, wrk on core
# 1) change the setup. Only loopback traffic; each run lasts DURATION.
set -euo pipefail
cd "$(dirname "$0")/../.."
export BENCH_DIR="$PWD/deploy/bench"

DURATION=${DURATION:-10s}
PORT=${PORT:-18089}
WORKERS=${WORKERS:-2}
BACKENDS=${BACKENDS:-real}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/portcullis/target}"

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
command -v jq >/dev/null || { apt-get update -qq && apt-get install -y -qq jq; }
cargo build --release -q -p portcullis -p portcullis-bench --bins
BIN="$CARGO_TARGET_DIR/release/portcullis"

SERVER_PIN=(); WRK_PIN=()
if [ "${PIN:-0}" = 1 ]; then SERVER_PIN=(taskset -c 0); WRK_PIN=(taskset -c 1); fi

REAL_ENV=()
if [ "$BACKENDS" = real ]; then
  psql -h 127.0.0.1 -U postgres -d test -qc "DROP DATABASE IF EXISTS portcullis_bench WITH (FORCE)" \
    -c "CREATE DATABASE portcullis_bench" >/dev/null
  REAL_ENV=(DATABASE_URL=postgres://postgres@127.0.0.1:5432/portcullis_bench REDIS_URL=redis://127.0.0.1:6379
            REDIS_KEY_PREFIX="bench-$$:" JWT_PRIVATE_KEY_PATH=crates/infrastructure/testdata/ed25519.pem
            ENCRYPTION_KEYS=bench:dGVzdCBrZXkgZm9yIGludGVncmF0aW9uIHRlc3RzISE=)
fi

"$CARGO_TARGET_DIR/release/hash-ceiling"
echo
echo "### backends: $BACKENDS, $WORKERS HTTP worker(s), ${DURATION} per run$([ "${PIN:-0}" = 1 ] && echo ', server pinned to core 0, wrk to core 1')"

# Starts the server (extra environment as arguments) and waits for it.
start_server() {
  env "${REAL_ENV[@]}" PORT=$PORT HOST=127.0.0.1 WORKERS="$WORKERS" \
  RATE_LIMIT_MAX_REQUESTS=1000000000 RATE_LIMIT_AUTH_MAX_REQUESTS=1000000000 \
  LOGIN_LOCKOUT_THRESHOLD=1000000000 LOGIN_ACCOUNT_LOCKOUT_THRESHOLD=1000000000 LOG_LEVEL=error "$@" \
    "${SERVER_PIN[@]}" "$BIN" serve >/tmp/portcullis-bench.log 2>&1 &
  SERVER=$!
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/health/live" >/dev/null && break; sleep 0.2; done
}
start_server
trap 'kill $SERVER 2>/dev/null || true' EXIT

API="http://127.0.0.1:$PORT/api/v1"
curl -sf "$API/auth/register" -H 'content-type: application/json' \
  -d '{"email":"bench@example.com","password":"Quartz-Lantern-91!"}' >/dev/null
login() { curl -sf "$API/auth/login" -H 'content-type: application/json' \
  -d '{"email":"bench@example.com","password":"Quartz-Lantern-91!"}'; }
export BEARER; BEARER=$(login | jq -r .access_token)

# CPU ticks (user + system) of the server, all postgres processes and
# redis-server, as "server postgres redis".
ticks() {
  local s p r
  s=$(awk '{ print $14 + $15 }' "/proc/$SERVER/stat")
  p=$( { for pid in $(pgrep -x postgres); do awk '{ print $14 + $15 }' "/proc/$pid/stat" 2>/dev/null; done; } | awk '{ t += $1 } END { print t + 0 }')
  r=$( { for pid in $(pgrep -x redis-server); do awk '{ print $14 + $15 }' "/proc/$pid/stat" 2>/dev/null; done; } | awk '{ t += $1 } END { print t + 0 }')
  echo "$s $p $r"
}
HZ=$(getconf CLK_TCK)
cpu_row() { # before, after, seconds
  read -r s0 p0 r0 <<<"$1"; read -r s1 p1 r1 <<<"$2"
  awk -v hz="$HZ" -v t="$3" -v s=$((s1 - s0)) -v p=$((p1 - p0)) -v r=$((r1 - r0)) \
    'BEGIN { printf "server %.0f%%, postgres %.0f%%, redis %.0f%%", 100 * s / hz / t, 100 * p / hz / t, 100 * r / hz / t }'
}
SECONDS_PER_RUN=${DURATION%s}

echo
# PostgreSQL transactions committed or rolled back in the bench database.
xacts() {
  if [ "$BACKENDS" = real ]; then
    psql -h 127.0.0.1 -U postgres -d test -tAc \
      "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = 'portcullis_bench'"
  else echo 0; fi
}

echo "| scenario | answers/s | p50 | p90 | p99 | answers by status | CPU (% of one core) | PostgreSQL transactions per answer |"
echo "|---|---|---|---|---|---|---|---|"
# The scenarios after the refresh chains start on a vacuumed database: the
# 35k rotated tokens and audit events the chains left are autovacuum's work,
# not the logins'. (Not before the first two: statistics taken on near-empty
# tables would make PostgreSQL cache sequential-scan plans for the refresh
# statements, a cold-start artefact a deployment outgrows at its first
# autovacuum ANALYZE.)
settle() {
  if [ "$BACKENDS" = real ]; then
    psql -h 127.0.0.1 -U postgres -d portcullis_bench -qc "VACUUM ANALYZE" >/dev/null
  fi
}

run() { # scenario name, then wrk arguments
  local name=$1; shift
  local before; before=$(ticks)
  local x0; x0=$(xacts)
  local row; row=$(SCENARIO="$name" "${WRK_PIN[@]}" wrk "$@" -d"$DURATION" | grep '^| ')
  local cpu; cpu=$(cpu_row "$before" "$(ticks)" "$SECONDS_PER_RUN")
  sleep 1.5 # pg_stat_database is updated when a backend reports (at most every second)
  local answers; answers=$(echo "$row" | awk -F'|' '{ print $3 }' | awk -v t="$SECONDS_PER_RUN" '{ print $1 * t }')
  local per; per=$(awk -v d=$(( $(xacts) - x0 )) -v n="$answers" 'BEGIN { if (n > 0) printf "%.2f", d / n; else print "-" }')
  echo "$row $cpu | $per |"
}

run "bearer GET /auth/me, 32 connections" -t2 -c32 -s "$BENCH_DIR/get.lua" "$API/auth/me"

TOKENS=""
for _ in $(seq 1 16); do TOKENS="$TOKENS,$(login | jq -r .refresh_token)"; done
REFRESH_TOKENS=${TOKENS#,} run "refresh chains, 16 connections" -t16 -c16 -s "$BENCH_DIR/refresh.lua" "$API/auth/refresh"

settle
run "password login, 4 connections" -t1 -c4 -s "$BENCH_DIR/login.lua" "$API/auth/login"
settle
run "password login, 8 connections" -t1 -c8 -s "$BENCH_DIR/login.lua" "$API/auth/login"

settle
SCENARIO="the login flood itself, 64 connections" "${WRK_PIN[@]}" wrk -t1 -c64 -d"$((SECONDS_PER_RUN + 2))s" \
  -s "$BENCH_DIR/login.lua" "$API/auth/login" | grep '^| ' >/tmp/portcullis-flood.txt &
FLOOD=$!
sleep 1
run "bearer GET during the login flood, 32 connections" -t1 -c32 -s "$BENCH_DIR/get.lua" "$API/auth/me"
wait $FLOOD
echo "$(cat /tmp/portcullis-flood.txt) (overlaps the row above) | |"

# Budgets under 128 per window are never leased (ADR 0017): 127 per
# millisecond is never reached here, so this row is the exact path, one Redis
# round trip per request, as with the default limits. Its own key prefix: the
# keys of the run above hold TATs for a budget of another size.
if [ "$BACKENDS" = real ]; then
  kill $SERVER; wait $SERVER 2>/dev/null || true
  start_server REDIS_KEY_PREFIX="bench-$$-exact:" RATE_LIMIT_MAX_REQUESTS=127 RATE_LIMIT_TRUSTED_MAX_REQUESTS=127 RATE_LIMIT_WINDOW_MS=1
  run "bearer GET, budgets too small to lease (one Redis round trip each), 32 connections" \
    -t2 -c32 -s "$BENCH_DIR/get.lua" "$API/auth/me"
fi
