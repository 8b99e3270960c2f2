#!/usr/bin/env bash
# Round trips per answer on PostgreSQL + Redis (part of `make bench`; issue 13):
# for each scenario, N sequential requests, then the growth of PostgreSQL's
# committed transactions (`pg_stat_database.xact_commit`) and of Redis'
# commands (`INFO commandstats`) divided by N. Counts, not timings: any build
# gives the same figures (BIN, default the debug binary). Nothing else may use
# the bench database or the local Redis meanwhile. Workers do not run in the
# server (RUN_WORKERS_IN_PROCESS=false), so their polling is not counted.
set -euo pipefail
cd "$(dirname "$0")/../.."

N=${N:-200}
PORT=${PORT:-18090}
DB=portcullis_trips
: "${BIN:=target/debug/portcullis}"
[ -x "$BIN" ] || cargo build -q -p portcullis
API="http://127.0.0.1:$PORT/api/v1"

psql -h 127.0.0.1 -U postgres -d test -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB" >/dev/null
env DATABASE_URL="postgres://postgres@127.0.0.1:5432/$DB" REDIS_URL=redis://127.0.0.1:6379 \
  REDIS_KEY_PREFIX="trips-$$:" JWT_PRIVATE_KEY_PATH=crates/infrastructure/testdata/ed25519.pem \
  ENCRYPTION_KEYS=bench:dGVzdCBrZXkgZm9yIGludGVncmF0aW9uIHRlc3RzISE= \
  PORT=$PORT HOST=127.0.0.1 WORKERS=1 ARGON2_MEMORY_KIB=64 ARGON2_ITERATIONS=1 \
  RATE_LIMIT_MAX_REQUESTS=1000000000 RATE_LIMIT_AUTH_MAX_REQUESTS=1000000000 \
  LOGIN_LOCKOUT_THRESHOLD=1000000000 LOG_LEVEL=error RUN_WORKERS_IN_PROCESS=false \
  "$BIN" serve >/tmp/portcullis-trips.log 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/health/live" >/dev/null && break; sleep 0.2; done

xacts() { psql -h 127.0.0.1 -U postgres -d test -tAc "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = '$DB'"; }
# Redis commands by name, as "name calls" lines.
commands() { redis-cli INFO commandstats | tr -d '\r' | sed -n 's/^cmdstat_\([^:]*\):calls=\([0-9]*\).*/\1 \2/p' | sort; }
# Statistics reach pg_stat_database when a backend reports (at most every
# second): wait for them to settle before reading.
settle() { sleep 1.5; }

report() { # name, before xacts, before commands file
  local after_x; after_x=$(xacts)
  commands > /tmp/trips-after
  local per_x; per_x=$(echo "scale=2; ($after_x - $2) / $N" | bc)
  local redis; redis=$(join -a2 -e0 -o 0,1.2,2.2 /tmp/trips-before /tmp/trips-after \
    | awk -v n="$N" '{ d = $3 - $2; if (d >= n / 2) { printf "%s %.2f, ", $1, d / n; total += d } } END { printf "total %.2f", total / n }')
  printf '| %s | %s | %s |\n' "$1" "$per_x" "$redis"
}

curl -sf -X POST "$API/auth/register" -H 'content-type: application/json' \
  -d '{"email":"trips@example.com","password":"Quartz-Lantern-91!"}' >/dev/null
login() { curl -sf -X POST "$API/auth/login" -H 'content-type: application/json' \
  -d '{"email":"trips@example.com","password":"Quartz-Lantern-91!"}'; }
TOKENS=$(login)
ACCESS=$(echo "$TOKENS" | jq -r .access_token)
REFRESH=$(echo "$TOKENS" | jq -r .refresh_token)
settle

echo "| scenario ($N sequential answers) | PostgreSQL transactions per answer | Redis commands per answer (each ≥ 0.5) |"
echo "|---|---|---|"

before=$(xacts); commands > /tmp/trips-before
for _ in $(seq 1 "$N"); do curl -sf "$API/auth/me" -H "authorization: Bearer $ACCESS" >/dev/null; done
settle; report "bearer GET /auth/me" "$before"

before=$(xacts); commands > /tmp/trips-before
for _ in $(seq 1 "$N"); do
  REFRESH=$(curl -sf -X POST "$API/auth/refresh" -H 'content-type: application/json' \
    -d "{\"refresh_token\":\"$REFRESH\"}" | jq -r .refresh_token)
done
settle; report "refresh rotation" "$before"

before=$(xacts); commands > /tmp/trips-before
for _ in $(seq 1 "$N"); do login >/dev/null; done
settle; report "password login" "$before"
