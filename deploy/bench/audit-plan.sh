#!/usr/bin/env bash
# The admin audit query on a million rows: fills a scratch database with the
# migrations and 1,000,000 audit events, then prints EXPLAIN (ANALYZE,
# BUFFERS) of the queries GET /api/v1/admin/audit-logs makes (first page, each
# filter, a page deep in the trail). Figures go to docs/benchmarks.md.
#
#   deploy/bench/audit-plan.sh            (DATABASE_URL: a server where a scratch
#                                          database may be created; default the
#                                          local test server)
set -euo pipefail
cd "$(dirname "$0")/../.."
BASE=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}
DB=portcullis_audit_plan
SERVER=${BASE%/*}
psql "$BASE" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
trap 'psql "$BASE" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)"' EXIT
URL="$SERVER/$DB"
for up in migrations/*/up.sql; do psql "$URL" -q -v ON_ERROR_STOP=1 -f "$up"; done

# 1,000,000 events over 30 days: 10,000 users, 20 addresses, the real action
# mix (mostly sign-ins and refreshes, few critical events).
psql "$URL" -q -v ON_ERROR_STOP=1 <<'SQL'
INSERT INTO audit_events (id, occurred_at, action, severity, user_id, ip, user_agent, request_id, details)
SELECT gen_random_uuid(),
       now() - (n * interval '2.592 seconds'),
       (ARRAY['auth.login.succeeded','auth.token.refreshed','auth.token.refreshed','auth.token.refreshed',
              'auth.login.failed','file.uploaded','auth.logout','security.rate_limit.exceeded'])[1 + n % 8],
       CASE WHEN n % 8 IN (4, 7) THEN 'warning' WHEN n % 5003 = 0 THEN 'critical' ELSE 'info' END,
       ('00000000-0000-4000-8000-' || lpad(to_hex(n % 10000), 12, '0'))::uuid,
       '203.0.113.' || (n % 20),
       'bench', 'req-' || n, '{}'::jsonb
FROM generate_series(1, 1000000) AS n;
ANALYZE audit_events;
SQL

plan() {
  echo "--- $1"
  psql "$URL" -qAt -c "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) $2" | grep -v '^Planning:$'
  echo
}
SELECT="SELECT * FROM audit_events"
ORDER="ORDER BY occurred_at DESC, id DESC LIMIT 51"
USER="'00000000-0000-4000-8000-00000000002a'"
plan "first page, no filter" "$SELECT $ORDER"
plan "action = auth.login.failed" "$SELECT WHERE action = 'auth.login.failed' $ORDER"
plan "one user" "$SELECT WHERE user_id = $USER $ORDER"
plan "severity = critical (rare)" "$SELECT WHERE severity = 'critical' $ORDER"
plan "one address, one day, ten days ago" "$SELECT WHERE ip = '203.0.113.7' AND occurred_at >= now() - interval '11 days' AND occurred_at < now() - interval '10 days' $ORDER"
plan "a page 20 days deep (cursor)" "$SELECT WHERE (occurred_at, id) < (now() - interval '20 days', '00000000-0000-0000-0000-000000000000') $ORDER"
