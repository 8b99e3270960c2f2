DROP TABLE IF EXISTS audit_events;
DROP FUNCTION IF EXISTS audit_events_reject_change();
DROP TABLE IF EXISTS refresh_tokens;
DROP TABLE IF EXISTS sessions;
DROP TABLE IF EXISTS users;
