DROP INDEX audit_events_by_time;
DROP INDEX audit_events_by_user_time;
DROP INDEX audit_events_by_action_time;
DROP INDEX audit_events_by_severity_time;
DROP INDEX audit_events_by_ip_time;
