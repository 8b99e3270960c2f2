-- The admin audit query (issue 11): newest first by (occurred_at, id), each
-- filter led by its column so a page is an index range scan, not a sort.
-- Plans on a million rows: docs/benchmarks.md.
CREATE INDEX audit_events_by_time ON audit_events (occurred_at DESC, id DESC);
CREATE INDEX audit_events_by_user_time ON audit_events (user_id, occurred_at DESC, id DESC);
CREATE INDEX audit_events_by_action_time ON audit_events (action, occurred_at DESC, id DESC);
CREATE INDEX audit_events_by_severity_time ON audit_events (severity, occurred_at DESC, id DESC);
CREATE INDEX audit_events_by_ip_time ON audit_events (ip, occurred_at DESC, id DESC);
