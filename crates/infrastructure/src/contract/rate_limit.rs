use portcullis_application::ports::RateLimiter;
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

pub async fn window_slides(limiter: Arc<dyn RateLimiter>) {
    let window = Duration::seconds(1);
    assert!(limiter.hit("slide", 2, window).await.unwrap().allowed);
    assert!(limiter.hit("slide", 2, window).await.unwrap().allowed);
    assert!(!limiter.hit("slide", 2, window).await.unwrap().allowed);
    tokio::time::sleep(std::time::Duration::from_millis(1300)).await;
    let d = limiter.hit("slide", 2, window).await.unwrap();
    assert!(d.allowed, "{d:?}");
    assert_eq!(d.remaining, 1);
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
