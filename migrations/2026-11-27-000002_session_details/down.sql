ALTER TABLE sessions DROP COLUMN sign_in_method, DROP COLUMN trust_score;
