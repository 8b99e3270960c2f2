-- Sign-in reads "has this user signed in from here lately?" and "how many
-- wrong passwords in the last day?" (issue 13): both by user and action from
-- a time on, so their cost stays a few index entries however many other
-- events (token refreshes) the user has. Without it, the first took 65 ms
-- of PostgreSQL CPU for a user with 90k refreshes.
CREATE INDEX audit_events_by_user_action_time ON audit_events (user_id, action, occurred_at DESC);

-- "Has this user had a session from this address?" (the trust score's
-- known-address signal, at every sign-in) without a scan of every session.
CREATE INDEX sessions_by_user_ip ON sessions (user_id, ip);
