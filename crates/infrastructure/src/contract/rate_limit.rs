use portcullis_application::ports::{RateLimitKey, RateLimiter};
use std::sync::Arc;
use time::Duration;

const MINUTE: Duration = Duration::minutes(1);

contract_suite! { $ rate_limiter_contract for rate_limit;

pub async fn allows_up_to_limit(limiter: Arc<dyn RateLimiter>) {
    for expected_remaining in [2, 1, 0] {
        let d = limiter.hit("ip:1", 3, MINUTE).await.unwrap();
        assert!(d.allowed);
        assert_eq!((d.limit, d.remaining), (3, expected_remaining));
        assert!(d.reset_after > Duration::ZERO && d.reset_after <= MINUTE, "{d:?}");
    }
    let d = limiter.hit("ip:1", 3, MINUTE).await.unwrap();
    assert!(!d.allowed);
    assert_eq!(d.remaining, 0);
    assert!(d.reset_after > Duration::ZERO && d.reset_after <= MINUTE, "{d:?}");
}

pub async fn keys_are_independent(limiter: Arc<dyn RateLimiter>) {
    assert!(limiter.hit("a", 1, MINUTE).await.unwrap().allowed);
    assert!(!limiter.hit("a", 1, MINUTE).await.unwrap().allowed);
    assert!(limiter.hit("b", 1, MINUTE).await.unwrap().allowed);
}

/// GCRA: after a burst, the budget refills one request per `window /
/// limit`, not all at once; a refusal says when the next slot frees.
pub async fn budget_refills_steadily(limiter: Arc<dyn RateLimiter>) {
    let window = Duration::seconds(1);
    assert!(limiter.hit("slide", 2, window).await.unwrap().allowed);
    assert!(limiter.hit("slide", 2, window).await.unwrap().allowed);
    let refused = limiter.hit("slide", 2, window).await.unwrap();
    assert!(!refused.allowed);
    assert!(refused.reset_after > Duration::ZERO && refused.reset_after <= Duration::milliseconds(500), "{refused:?}");
    tokio::time::sleep(std::time::Duration::from_millis(650)).await;
    let d = limiter.hit("slide", 2, window).await.unwrap();
    assert!(d.allowed, "one slot freed after one interval: {d:?}");
    assert_eq!(d.remaining, 0, "only one: {d:?}");
    assert!(!limiter.hit("slide", 2, window).await.unwrap().allowed);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let d = limiter.hit("slide", 2, window).await.unwrap();
    assert!(d.allowed, "{d:?}");
    assert_eq!(d.remaining, 1, "a quiet window refills the whole burst: {d:?}");
}

/// Several budgets in one call, each decided on its own.
pub async fn hit_all_decides_each_key(limiter: Arc<dyn RateLimiter>) {
    let keys = [
        RateLimitKey { key: "all:ip", limit: 3, window: MINUTE },
        RateLimitKey { key: "all:user", limit: 1, window: MINUTE },
    ];
    let first = limiter.hit_all(&keys).await.unwrap();
    assert_eq!(first.iter().map(|d| (d.allowed, d.limit, d.remaining)).collect::<Vec<_>>(), [(true, 3, 2), (true, 1, 0)]);
    let second = limiter.hit_all(&keys).await.unwrap();
    assert_eq!(second.iter().map(|d| (d.allowed, d.remaining)).collect::<Vec<_>>(), [(true, 1), (false, 0)]);
    assert!(second[1].reset_after > Duration::ZERO && second[1].reset_after <= MINUTE);
    // The same budgets as single hits see those counts.
    assert_eq!(limiter.hit("all:ip", 3, MINUTE).await.unwrap().remaining, 0);
    assert!(limiter.hit_all(&[]).await.unwrap().is_empty());
}

pub async fn concurrent_hits_never_exceed_limit(limiter: Arc<dyn RateLimiter>) {
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..40 {
        let limiter = limiter.clone();
        tasks.spawn(async move { limiter.hit("burst", 10, MINUTE).await.unwrap().allowed });
    }
    let allowed = tasks.join_all().await.into_iter().filter(|a| *a).count();
    assert_eq!(allowed, 10);
}
}
