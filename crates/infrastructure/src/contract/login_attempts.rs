use portcullis_application::ports::{AttemptGate, LockoutPolicy, LoginAttempts};
use std::sync::Arc;
use time::Duration;

const POLICY: LockoutPolicy =
    LockoutPolicy { threshold: 3, window: Duration::minutes(1), lock_for: Duration::minutes(2) };

async fn attempt(store: &Arc<dyn LoginAttempts>, key: &str, policy: &LockoutPolicy) -> u32 {
    match store.begin(key, policy).await.unwrap() {
        AttemptGate::Allowed { attempt } => attempt,
        AttemptGate::Locked { retry_after } => panic!("unexpectedly locked for {retry_after}"),
    }
}

contract_suite! { $ login_attempts_contract for login_attempts;

pub async fn a_lock_refuses_attempts(store: Arc<dyn LoginAttempts>) {
    for n in 1..=3 {
        assert_eq!(attempt(&store, "ada", &POLICY).await, n);
    }
    store.lock("ada", POLICY.lock_for).await.unwrap();
    match store.begin("ada", &POLICY).await.unwrap() {
        AttemptGate::Locked { retry_after } => {
            assert!(retry_after > Duration::minutes(1) && retry_after <= POLICY.lock_for, "{retry_after}")
        }
        other => panic!("expected Locked, got {other:?}"),
    }
    // Other accounts are unaffected; the lock cleared the count.
    assert_eq!(attempt(&store, "bob", &POLICY).await, 1);
}

pub async fn success_resets_the_count(store: Arc<dyn LoginAttempts>) {
    for n in 1..=2 {
        assert_eq!(attempt(&store, "ada", &POLICY).await, n);
    }
    assert_eq!(attempt(&store, "ada", &POLICY).await, 3);
    store.succeed("ada").await.unwrap();
    assert_eq!(attempt(&store, "ada", &POLICY).await, 1);
}

pub async fn concurrent_attempts_capped_at_threshold(store: Arc<dyn LoginAttempts>) {
    let policy = LockoutPolicy { threshold: 5, ..POLICY };
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let store = store.clone();
        tasks.spawn(async move { store.begin("ada", &policy).await.unwrap() });
    }
    let gates = tasks.join_all().await;
    let mut allowed: Vec<u32> = gates
        .iter()
        .filter_map(|g| match g {
            AttemptGate::Allowed { attempt } => Some(*attempt),
            AttemptGate::Locked { .. } => None,
        })
        .collect();
    allowed.sort();
    assert_eq!(allowed, vec![1, 2, 3, 4, 5]);
}

pub async fn lock_expires(store: Arc<dyn LoginAttempts>) {
    let policy = LockoutPolicy { threshold: 1, window: Duration::minutes(1), lock_for: Duration::seconds(1) };
    assert_eq!(attempt(&store, "ada", &policy).await, 1);
    store.lock("ada", policy.lock_for).await.unwrap();
    assert!(matches!(store.begin("ada", &policy).await.unwrap(), AttemptGate::Locked { .. }));
    tokio::time::sleep(std::time::Duration::from_millis(1300)).await;
    assert_eq!(attempt(&store, "ada", &policy).await, 1);
}

/// An attempt given back (no verdict) does not count; the count never goes
/// below zero, and a release does not lift a lock.
pub async fn released_attempts_do_not_count(store: Arc<dyn LoginAttempts>) {
    for _ in 0..10 {
        assert_eq!(attempt(&store, "ada", &POLICY).await, 1);
        store.release("ada").await.unwrap();
    }
    store.release("ada").await.unwrap();
    store.release("nobody").await.unwrap();
    assert_eq!(attempt(&store, "ada", &POLICY).await, 1);
    assert_eq!(attempt(&store, "ada", &POLICY).await, 2);
    store.lock("ada", POLICY.lock_for).await.unwrap();
    store.release("ada").await.unwrap();
    assert!(matches!(store.begin("ada", &POLICY).await.unwrap(), AttemptGate::Locked { .. }));
}

/// Parallel attempts that all end without a verdict leave the account as it was.
pub async fn concurrent_releases_restore_the_budget(store: Arc<dyn LoginAttempts>) {
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let store = store.clone();
        tasks.spawn(async move {
            if let AttemptGate::Allowed { .. } = store.begin("ada", &POLICY).await.unwrap() {
                store.release("ada").await.unwrap();
            }
        });
    }
    tasks.join_all().await;
    assert_eq!(attempt(&store, "ada", &POLICY).await, 1);
}

/// A reset (the owner proved control another way) lifts a lock and the count.
pub async fn reset_lifts_a_lock(store: Arc<dyn LoginAttempts>) {
    assert_eq!(attempt(&store, "ada", &POLICY).await, 1);
    store.lock("ada", POLICY.lock_for).await.unwrap();
    assert!(matches!(store.begin("ada", &POLICY).await.unwrap(), AttemptGate::Locked { .. }));
    store.reset("ada").await.unwrap();
    assert_eq!(attempt(&store, "ada", &POLICY).await, 1);
    store.reset("nobody").await.unwrap();
}
}
