use super::users::now;
use portcullis_application::ports::{AuditLog, StoreError};
use portcullis_domain::audit::{AuditAction, AuditEvent, RequestContext};
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

contract_suite! { $ audit_log_contract for audit;

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
