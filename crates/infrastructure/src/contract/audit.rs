use super::users::now;
use portcullis_application::ports::{AuditCursor, AuditFilter, AuditLog, StoreError};
use portcullis_domain::audit::{AuditAction, AuditEvent, RequestContext, Severity};
use portcullis_domain::ids::UserId;
use serde_json::json;
use std::sync::Arc;

fn event(user: Option<UserId>, action: AuditAction, n: u32) -> AuditEvent {
    let ctx = RequestContext {
        ip: Some("198.51.100.7".into()),
        user_agent: Some("curl/8".into()),
        request_id: Some(format!("req-{n}")),
        route: None,
        device: None,
    };
    AuditEvent::new(action, user, &ctx, now(), json!({ "n": n }))
}

fn at(event: AuditEvent, minutes_ago: i64, ip: &str) -> AuditEvent {
    AuditEvent { occurred_at: now() - time::Duration::minutes(minutes_ago), ip: Some(ip.into()), ..event }
}

contract_suite! { $ audit_log_contract for audit;

/// The admin query: every filter, newest first by time (not insertion), and
/// a cursor that pages through without gaps or repeats.
pub async fn the_query_filters_and_pages_by_time(log: Arc<dyn AuditLog>) {
    let (ada, bob) = (UserId::new(), UserId::new());
    let written = [
        at(event(Some(ada), AuditAction::LoginSucceeded, 0), 50, "203.0.113.1"),
        at(event(Some(bob), AuditAction::LoginFailed, 1), 40, "203.0.113.2"),
        at(event(Some(ada), AuditAction::LoginFailed, 2), 30, "203.0.113.1"),
        at(event(None, AuditAction::RateLimitExceeded, 3), 20, "203.0.113.9"),
        at(event(Some(ada), AuditAction::RefreshTokenReuseDetected, 4), 10, "203.0.113.1"),
        // Written last, but the oldest.
        at(event(Some(bob), AuditAction::LoginSucceeded, 5), 60, "203.0.113.2"),
    ];
    for e in &written {
        log.append(e).await.unwrap();
    }
    let ns = |events: &[AuditEvent]| events.iter().map(|e| e.details["n"].as_u64().unwrap()).collect::<Vec<_>>();
    let all = log.query(&AuditFilter::default(), None, 100).await.unwrap();
    assert_eq!(ns(&all), [4, 3, 2, 1, 0, 5]);

    let table: [(AuditFilter, &[u64]); 6] = [
        (AuditFilter { user_id: Some(ada), ..Default::default() }, &[4, 2, 0]),
        (AuditFilter { action: Some(AuditAction::LoginFailed), ..Default::default() }, &[2, 1]),
        (AuditFilter { severity: Some(Severity::Critical), ..Default::default() }, &[4]),
        (AuditFilter { ip: Some("203.0.113.2".into()), ..Default::default() }, &[1, 5]),
        (
            AuditFilter {
                from: Some(now() - time::Duration::minutes(45)),
                to: Some(now() - time::Duration::minutes(15)),
                ..Default::default()
            },
            &[3, 2, 1],
        ),
        (AuditFilter { user_id: Some(bob), action: Some(AuditAction::LoginSucceeded), ..Default::default() }, &[5]),
    ];
    for (filter, expected) in table {
        assert_eq!(ns(&log.query(&filter, None, 100).await.unwrap()), expected, "{filter:?}");
    }

    let mut cursor = None;
    let mut paged = Vec::new();
    loop {
        let page = log.query(&AuditFilter::default(), cursor, 2).await.unwrap();
        let Some(last) = page.last() else { break };
        cursor = Some(AuditCursor { occurred_at: last.occurred_at, id: last.id });
        paged.extend(ns(&page));
    }
    assert_eq!(paged, [4, 3, 2, 1, 0, 5]);
}

pub async fn lists_newest_first_with_cursor(log: Arc<dyn AuditLog>) {
    let user = UserId::new();
    let mut written = Vec::new();
    for n in 0..5 {
        let e = event(Some(user), AuditAction::LoginSucceeded, n);
        log.append(&e).await.unwrap();
        written.push(e);
    }
    let page1 = log.list_for_user(user, None, 2).await.unwrap();
    assert_eq!(page1, vec![written[4].clone(), written[3].clone()]);
    let page2 = log.list_for_user(user, Some(page1[1].id), 2).await.unwrap();
    assert_eq!(page2, vec![written[2].clone(), written[1].clone()]);
    let page3 = log.list_for_user(user, Some(page2[1].id), 2).await.unwrap();
    assert_eq!(page3, vec![written[0].clone()]);
}

pub async fn only_the_users_events(log: Arc<dyn AuditLog>) {
    let (ada, bob) = (UserId::new(), UserId::new());
    log.append(&event(Some(ada), AuditAction::Logout, 1)).await.unwrap();
    log.append(&event(Some(bob), AuditAction::Logout, 2)).await.unwrap();
    log.append(&event(None, AuditAction::RateLimitExceeded, 3)).await.unwrap();
    let listed = log.list_for_user(ada, None, 10).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].user_id, Some(ada));
}

pub async fn duplicate_id_conflicts(log: Arc<dyn AuditLog>) {
    let e = event(Some(UserId::new()), AuditAction::Logout, 1);
    log.append(&e).await.unwrap();
    assert_eq!(log.append(&e).await, Err(StoreError::Conflict("audit event id")));
}

/// A batch is stored whole or not at all.
pub async fn append_many_is_all_or_nothing(log: Arc<dyn AuditLog>) {
    let user = UserId::new();
    let (a, b) = (event(Some(user), AuditAction::LoginSucceeded, 1), event(Some(user), AuditAction::Logout, 2));
    log.append_many(&[a.clone(), b.clone()]).await.unwrap();
    assert_eq!(log.list_for_user(user, None, 10).await.unwrap().len(), 2);
    let c = event(Some(user), AuditAction::TokenRefreshed, 3);
    assert_eq!(log.append_many(&[c.clone(), a]).await, Err(StoreError::Conflict("audit event id")));
    assert_eq!(log.append_many(&[c.clone(), c]).await, Err(StoreError::Conflict("audit event id")));
    assert_eq!(log.list_for_user(user, None, 10).await.unwrap().len(), 2, "nothing of a refused batch");
    log.append_many(&[]).await.unwrap();
}

pub async fn details_round_trip(log: Arc<dyn AuditLog>) {
    let user = UserId::new();
    let ctx = RequestContext::default();
    let e = AuditEvent::new(
        AuditAction::ProfileUpdated,
        Some(user),
        &ctx,
        now(),
        json!({ "previous": { "display_name": "A" }, "new": { "display_name": null }, "token": "t" }),
    );
    log.append(&e).await.unwrap();
    let stored = log.list_for_user(user, None, 1).await.unwrap();
    assert_eq!(stored, vec![e]);
    assert_eq!(stored[0].details["token"], "[REDACTED]");
}

pub async fn count_recent_counts_one_action_since_a_time_up_to_a_cap(log: Arc<dyn AuditLog>) {
    let (ada, bob) = (UserId::new(), UserId::new());
    for (n, minutes_ago) in [(1, 120), (2, 30), (3, 20), (4, 10)] {
        log.append(&at(event(Some(ada), AuditAction::LoginFailed, n), minutes_ago, "198.51.100.7")).await.unwrap();
    }
    log.append(&event(Some(bob), AuditAction::LoginFailed, 5)).await.unwrap();
    // Many unrelated events afterwards change nothing.
    for n in 0..60 {
        log.append(&event(Some(ada), AuditAction::TokenRefreshed, n + 6)).await.unwrap();
    }
    let hour_ago = now() - time::Duration::hours(1);
    assert_eq!(log.count_recent(ada, AuditAction::LoginFailed, hour_ago, 10).await.unwrap(), 3);
    assert_eq!(log.count_recent(ada, AuditAction::LoginFailed, hour_ago, 2).await.unwrap(), 2);
    assert_eq!(log.count_recent(ada, AuditAction::LoginFailed, hour_ago - time::Duration::hours(2), 10).await.unwrap(), 4);
    assert_eq!(log.count_recent(bob, AuditAction::LoginFailed, hour_ago, 10).await.unwrap(), 1);
    assert_eq!(log.count_recent(ada, AuditAction::Logout, hour_ago, 10).await.unwrap(), 0);
    assert_eq!(log.count_recent(UserId::new(), AuditAction::LoginFailed, hour_ago, 10).await.unwrap(), 0);
}

pub async fn seen_from_matches_user_ip_action_and_time(log: Arc<dyn AuditLog>) {
    let (ada, bob) = (UserId::new(), UserId::new());
    let login = event(Some(ada), AuditAction::LoginSucceeded, 1);
    log.append(&login).await.unwrap();
    // Many unrelated events afterwards do not hide it.
    for n in 0..60 {
        log.append(&event(Some(ada), AuditAction::TokenRefreshed, n + 2)).await.unwrap();
    }
    let ip = "198.51.100.7";
    let signed_in = [AuditAction::LoginSucceeded, AuditAction::UserRegistered];
    let before = login.occurred_at - time::Duration::days(1);
    assert!(log.seen_from(ada, ip, &signed_in, before).await.unwrap());
    assert!(!log.seen_from(ada, "203.0.113.9", &signed_in, before).await.unwrap());
    assert!(!log.seen_from(bob, ip, &signed_in, before).await.unwrap());
    assert!(!log.seen_from(ada, ip, &[AuditAction::Logout], before).await.unwrap());
    let after = login.occurred_at + time::Duration::seconds(1);
    assert!(!log.seen_from(ada, ip, &signed_in, after).await.unwrap());
}
}
