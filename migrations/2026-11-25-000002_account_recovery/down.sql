DROP TABLE IF EXISTS one_time_tokens;
ALTER TABLE users DROP COLUMN IF EXISTS email_verified_at;
