-- What a session list shows (issue 11): how the session was opened and the
-- trust score it was given at sign-in.
ALTER TABLE sessions
    ADD COLUMN sign_in_method text NOT NULL DEFAULT 'password',
    ADD COLUMN trust_score smallint NOT NULL DEFAULT 0 CHECK (trust_score BETWEEN 0 AND 100);
