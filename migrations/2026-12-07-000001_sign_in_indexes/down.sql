DROP INDEX audit_events_by_user_action_time;
DROP INDEX sessions_by_user_ip;
