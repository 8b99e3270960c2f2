DROP INDEX IF EXISTS sessions_revoked_at;
