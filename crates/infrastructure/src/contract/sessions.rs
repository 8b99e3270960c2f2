use super::users::{now, user};
use portcullis_application::ports::{Purged, RotateOutcome, SessionStore, UserRepository};
use portcullis_domain::ids::{SessionId, UserId};
use portcullis_domain::secret::{Secret, TokenHash};
use portcullis_domain::session::{NewRefreshToken, RotationRules, Session, SessionLimits, SignInMethod};
use std::sync::Arc;
use time::{Duration, OffsetDateTime};

/// The session store plus a user repository (sessions belong to users).
pub type Ports = (Arc<dyn SessionStore>, Arc<dyn UserRepository>);

const GRACE: Duration = Duration::seconds(10);

/// Limits far beyond what these cases span, but for the timeout case.
fn rules(grace: Duration) -> RotationRules {
    RotationRules { grace, limits: SessionLimits { idle: Duration::days(30), absolute: Duration::days(90) } }
}

fn token(name: &str, now: OffsetDateTime) -> (TokenHash, NewRefreshToken) {
    let hash = TokenHash::of(&Secret::new(format!("{name}-{}", uuid::Uuid::new_v4())));
    (
        hash,
        NewRefreshToken {
            hash,
            expires_at: now + Duration::days(7),
            sealed_for_parent: name.as_bytes().to_vec(),
        },
    )
}

async fn open(ports: &Ports, user_id: Option<UserId>) -> (Session, TokenHash, OffsetDateTime) {
    let user_id = match user_id {
        Some(id) => id,
        None => {
            let u = user(&format!("{}@example.com", uuid::Uuid::new_v4().simple()));
            ports.1.insert(&u).await.unwrap();
            u.id
        }
    };
    let t = now();
    let session = Session {
        id: SessionId::new(),
        user_id,
        created_at: t,
        last_used_at: t,
        revoked_at: None,
        ip: Some("203.0.113.9".into()),
        user_agent: Some("contract-test".into()),
        sign_in_method: SignInMethod::MagicLink,
        trust_score: 55,
        device_id: None,
        second_factor: None,
        auth_time: t,
    };
    let (hash, first) = token("first", t);
    ports.0.create(&session, &first).await.unwrap();
    (session, hash, t)
}

contract_suite! { $ session_store_contract for sessions;

pub async fn sessions_are_listed_newest_first_with_their_details(ports: Ports) {
    let (first, _, _) = open(&ports, None).await;
    let user = first.user_id;
    let (second, _, _) = open(&ports, Some(user)).await;
    let (third, _, t) = open(&ports, Some(user)).await;
    let (_stranger, _, _) = open(&ports, None).await;
    ports.0.revoke(second.id, t).await.unwrap();
    let listed = ports.0.list_active(user).await.unwrap();
    let ids: Vec<SessionId> = listed.iter().map(|s| s.id).collect();
    assert_eq!(ids, [third.id, first.id], "active only, newest first");
    assert_eq!(listed[1], first, "stored as given: method, trust score, ip, agent");
    assert!(ports.0.list_active(UserId::new()).await.unwrap().is_empty());

    assert!(ports.0.seen_ip(user, "203.0.113.9").await.unwrap());
    assert!(!ports.0.seen_ip(user, "198.51.100.1").await.unwrap());
    assert!(!ports.0.seen_ip(UserId::new(), "203.0.113.9").await.unwrap());
}

/// A session idle past its limit, or older than its absolute limit, does
/// not rotate, whatever the token's own expiry.
pub async fn sessions_end_at_their_idle_and_absolute_limits(ports: Ports) {
    let idle = RotationRules {
        grace: GRACE,
        limits: SessionLimits { idle: Duration::minutes(15), absolute: Duration::days(1) },
    };
    let (_, first, t) = open(&ports, None).await;
    let (_, child) = token("child", t);
    let outcome = ports.0.rotate(&first, &child, t + Duration::minutes(16), &idle).await.unwrap();
    assert_eq!(outcome, RotateOutcome::Expired);

    let (_, first, t) = open(&ports, None).await;
    let (second, child) = token("child", t);
    let at = t + Duration::minutes(14);
    assert!(matches!(ports.0.rotate(&first, &child, at, &idle).await.unwrap(), RotateOutcome::Rotated { .. }));
    let (_, next) = token("next", at);
    let later = at + Duration::minutes(14);
    assert!(
        matches!(ports.0.rotate(&second, &next, later, &idle).await.unwrap(), RotateOutcome::Rotated { .. }),
        "each use restarts the idle clock"
    );
    let short = RotationRules { grace: GRACE, limits: SessionLimits { idle: Duration::hours(1), absolute: Duration::minutes(20) } };
    let (_, last) = token("last", later);
    assert_eq!(ports.0.rotate(&next.hash, &last, later + Duration::minutes(1), &short).await.unwrap(), RotateOutcome::Expired);
}

pub async fn rotation_chain(ports: Ports) {
    let (session, first, t) = open(&ports, None).await;
    assert_eq!(ports.0.get(session.id).await.unwrap(), Some(session.clone()));
    let (second, child) = token("second", t);
    let later = t + Duration::seconds(30);
    match ports.0.rotate(&first, &child, later, &rules(GRACE)).await.unwrap() {
        RotateOutcome::Rotated { session: s } => {
            assert_eq!(s.id, session.id);
            assert_eq!(s.last_used_at, later);
        }
        other => panic!("expected Rotated, got {other:?}"),
    }
    let (_, grandchild) = token("third", t);
    assert!(matches!(
        ports.0.rotate(&second, &grandchild, later + Duration::seconds(60), &rules(GRACE)).await.unwrap(),
        RotateOutcome::Rotated { .. }
    ));
}

pub async fn parent_within_grace_gets_sealed_child(ports: Ports) {
    let (_, first, t) = open(&ports, None).await;
    let (_, child) = token("child", t);
    ports.0.rotate(&first, &child, t, &rules(GRACE)).await.unwrap();
    let (_, unused) = token("unused", t);
    match ports.0.rotate(&first, &unused, t + GRACE, &rules(GRACE)).await.unwrap() {
        RotateOutcome::Grace { sealed_child, .. } => assert_eq!(sealed_child, b"child".to_vec()),
        other => panic!("expected Grace, got {other:?}"),
    }
}

pub async fn reuse_revokes_the_family(ports: Ports) {
    let (session, first, t) = open(&ports, None).await;
    let (second, child) = token("second", t);
    ports.0.rotate(&first, &child, t, &rules(GRACE)).await.unwrap();
    let (_, other) = token("other", t);
    let late = t + GRACE + Duration::seconds(1);
    match ports.0.rotate(&first, &other, late, &rules(GRACE)).await.unwrap() {
        RotateOutcome::Reused { session: s } => assert_eq!(s.revoked_at, Some(late)),
        other => panic!("expected Reused, got {other:?}"),
    }
    // The newest token of the family is dead too.
    assert_eq!(ports.0.rotate(&second, &other, late, &rules(GRACE)).await.unwrap(), RotateOutcome::Revoked);
    assert!(ports.0.get(session.id).await.unwrap().unwrap().revoked_at.is_some());
}

pub async fn zero_grace_treats_parent_as_reuse(ports: Ports) {
    let (_, first, t) = open(&ports, None).await;
    let (_, child) = token("child", t);
    ports.0.rotate(&first, &child, t, &rules(Duration::ZERO)).await.unwrap();
    let (_, other) = token("other", t);
    assert!(matches!(
        ports.0.rotate(&first, &other, t, &rules(Duration::ZERO)).await.unwrap(),
        RotateOutcome::Reused { .. }
    ));
}

pub async fn expired_and_unknown_tokens(ports: Ports) {
    let (_, first, t) = open(&ports, None).await;
    let (_, child) = token("child", t);
    assert_eq!(
        ports.0.rotate(&first, &child, t + Duration::days(8), &rules(GRACE)).await.unwrap(),
        RotateOutcome::Expired
    );
    let (stranger, _) = token("stranger", t);
    assert_eq!(ports.0.rotate(&stranger, &child, t, &rules(GRACE)).await.unwrap(), RotateOutcome::Unknown);
}

pub async fn concurrent_rotation_mints_one_child(ports: Ports) {
    let (_, first, t) = open(&ports, None).await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..16 {
        let store = ports.0.clone();
        tasks.spawn(async move {
            let (_, child) = token(&format!("child{i}"), t);
            store.rotate(&first, &child, t, &rules(GRACE)).await.unwrap()
        });
    }
    let outcomes = tasks.join_all().await;
    let rotated = outcomes.iter().filter(|o| matches!(o, RotateOutcome::Rotated { .. })).count();
    assert_eq!(rotated, 1, "{outcomes:?}");
    // Everyone else was handed the one child that won.
    let sealed: std::collections::HashSet<Vec<u8>> = outcomes
        .iter()
        .filter_map(|o| match o {
            RotateOutcome::Grace { sealed_child, .. } => Some(sealed_child.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(sealed.len(), 1, "{outcomes:?}");
    assert_eq!(outcomes.len(), 16);
}

/// A revocation racing a rotation: whichever wins, once the revocation has
/// returned, no token of the session rotates any more.
pub async fn a_revocation_racing_a_rotation_ends_the_session(ports: Ports) {
    for i in 0..20 {
        let (session, first, t) = open(&ports, None).await;
        let (child_hash, child) = token(&format!("raced{i}"), t);
        let store = ports.0.clone();
        let rotation = tokio::spawn(async move { store.rotate(&first, &child, t, &rules(GRACE)).await.unwrap() });
        assert!(ports.0.revoke(session.id, t).await.unwrap());
        let outcome = rotation.await.unwrap();
        assert!(
            matches!(outcome, RotateOutcome::Rotated { .. } | RotateOutcome::Revoked),
            "{outcome:?}"
        );
        let (_, grandchild) = token(&format!("after{i}"), t);
        for presented in [first, child_hash] {
            let again = ports.0.rotate(&presented, &grandchild, t, &rules(GRACE)).await.unwrap();
            assert!(
                matches!(again, RotateOutcome::Revoked | RotateOutcome::Unknown),
                "round {i}: {again:?}"
            );
        }
    }
}

pub async fn revoke_one_and_all_but_one(ports: Ports) {
    let (a, _, t) = open(&ports, None).await;
    let (b, _, _) = open(&ports, Some(a.user_id)).await;
    let (c, _, _) = open(&ports, Some(a.user_id)).await;
    let (other_user, _, _) = open(&ports, None).await;

    assert!(ports.0.revoke(a.id, t).await.unwrap());
    assert!(!ports.0.revoke(a.id, t).await.unwrap(), "second revoke is a no-op");
    assert!(!ports.0.revoke(SessionId::new(), t).await.unwrap());

    let revoked = ports.0.revoke_all_for_user(a.user_id, Some(c.id), t).await.unwrap();
    assert_eq!(revoked, vec![b.id]);
    assert!(ports.0.get(c.id).await.unwrap().unwrap().revoked_at.is_none());
    assert!(ports.0.get(other_user.id).await.unwrap().unwrap().revoked_at.is_none());
    let mut all = ports.0.revoke_all_for_user(a.user_id, None, t).await.unwrap();
    all.sort();
    assert_eq!(all, vec![c.id]);
}

/// Step-up: `auth_time` moves forward (never back), a factor is recorded,
/// and a revoked session cannot be stepped up.
pub async fn a_step_up_moves_auth_time_forward_on_live_sessions_only(ports: Ports) {
    use portcullis_domain::mfa::SecondFactor;
    let (s, _, t) = open(&ports, None).await;
    let later = t + Duration::minutes(20);
    let stepped = ports.0.reauthenticated(s.id, Some(SecondFactor::Totp), later).await.unwrap().unwrap();
    assert_eq!((stepped.auth_time, stepped.second_factor), (later, Some(SecondFactor::Totp)));
    assert_eq!(stepped.sign_in_method, SignInMethod::MagicLink, "the first factor stays");
    let stale = ports.0.reauthenticated(s.id, None, t).await.unwrap().unwrap();
    assert_eq!((stale.auth_time, stale.second_factor), (later, Some(SecondFactor::Totp)));
    assert_eq!(ports.0.get(s.id).await.unwrap().unwrap().auth_time, later);
    ports.0.revoke(s.id, later).await.unwrap();
    assert_eq!(ports.0.reauthenticated(s.id, None, later).await.unwrap(), None);
    assert_eq!(ports.0.reauthenticated(SessionId::new(), None, later).await.unwrap(), None);
}

pub async fn purge_removes_what_can_no_longer_be_used(ports: Ports) {
    let (live, first, t) = open(&ports, None).await;
    let (revoked_long_ago, _, _) = open(&ports, Some(live.user_id)).await;
    let (revoked_recently, _, _) = open(&ports, Some(live.user_id)).await;
    ports.0.revoke(revoked_long_ago.id, t).await.unwrap();
    ports.0.revoke(revoked_recently.id, t + Duration::days(2)).await.unwrap();
    // The live session rotates once: its first token stays (rotated) until it expires.
    let (_, child) = token("child", t + Duration::days(6));
    ports.0.rotate(&first, &child, t + Duration::days(6), &rules(GRACE)).await.unwrap();

    // Eight days on: the three first tokens (7-day expiry) are gone; the live
    // session keeps its child; both revoked sessions go (one revoked long ago,
    // the other left without tokens).
    let purged = ports.0.purge_expired(t + Duration::days(8), t + Duration::days(1)).await.unwrap();
    assert_eq!(purged, Purged { refresh_tokens: 3, sessions: 2 });
    assert!(ports.0.get(live.id).await.unwrap().is_some());
    assert!(ports.0.get(revoked_long_ago.id).await.unwrap().is_none());
    assert!(ports.0.get(revoked_recently.id).await.unwrap().is_none());
    let (_, next) = token("next", t + Duration::days(8));
    assert!(matches!(
        ports.0.rotate(&child.hash, &next, t + Duration::days(8), &rules(GRACE)).await.unwrap(),
        RotateOutcome::Rotated { .. }
    ));
    assert_eq!(
        ports.0.purge_expired(t + Duration::days(8), t + Duration::days(1)).await.unwrap(),
        Purged::default()
    );
}

pub async fn revoked_since_lists_recent_revocations(ports: Ports) {
    let (a, _, t) = open(&ports, None).await;
    let (b, _, _) = open(&ports, Some(a.user_id)).await;
    let (live, _, _) = open(&ports, Some(a.user_id)).await;
    ports.0.revoke(a.id, t).await.unwrap();
    ports.0.revoke(b.id, t + Duration::minutes(10)).await.unwrap();
    let listed = ports.0.revoked_since(t + Duration::minutes(5)).await.unwrap();
    assert_eq!(listed, vec![(b.id, t + Duration::minutes(10))]);
    let mut all: Vec<SessionId> =
        ports.0.revoked_since(t).await.unwrap().into_iter().map(|(id, _)| id).collect();
    all.sort();
    let mut expected = vec![a.id, b.id];
    expected.sort();
    assert_eq!(all, expected);
    assert!(!all.contains(&live.id));
}
}
