//! Keeps rate limiting alive when Redis is not: requests are then limited by
//! the in-process limiter (per instance, so looser across a fleet) instead of
//! failing. Each fallback is counted through a hook (the binary wires it to a
//! Prometheus counter) and logged at most every 30 seconds.

use async_trait::async_trait;
use portcullis_application::ports::{RateLimitDecision, RateLimiter, StoreError};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};
use time::Duration;

pub type FallbackHook = Arc<dyn Fn() + Send + Sync>;

pub struct FallbackRateLimiter {
    primary: Arc<dyn RateLimiter>,
    fallback: Arc<dyn RateLimiter>,
    on_fallback: FallbackHook,
    last_warning_secs: AtomicU64,
    started: Instant,
}

const WARN_EVERY_SECS: u64 = 30;

impl FallbackRateLimiter {
    pub fn new(
        primary: Arc<dyn RateLimiter>,
        fallback: Arc<dyn RateLimiter>,
        on_fallback: FallbackHook,
    ) -> Self {
        Self { primary, fallback, on_fallback, last_warning_secs: AtomicU64::new(0), started: Instant::now() }
    }

    fn warn(&self, error: &StoreError) {
        let now = self.started.elapsed().as_secs() + WARN_EVERY_SECS;
        let last = self.last_warning_secs.load(Ordering::Relaxed);
        if now >= last + WARN_EVERY_SECS
            && self
                .last_warning_secs
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            let at = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default();
            tracing::warn!(%error, at, "rate limiter backend unavailable; falling back to the in-process limiter");
        }
    }
}

#[async_trait]
impl RateLimiter for FallbackRateLimiter {
    async fn hit(&self, key: &str, limit: u32, window: Duration) -> Result<RateLimitDecision, StoreError> {
        match self.primary.hit(key, limit, window).await {
            Err(error @ StoreError::Unavailable(_)) => {
                self.warn(&error);
                (self.on_fallback)();
                self.fallback.hit(key, limit, window).await
            }
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SystemClock;
    use crate::memory::MemoryRateLimiter;
    use std::sync::atomic::AtomicUsize;

    struct Down;

    #[async_trait]
    impl RateLimiter for Down {
        async fn hit(&self, _: &str, _: u32, _: Duration) -> Result<RateLimitDecision, StoreError> {
            Err(StoreError::Unavailable("connection refused".into()))
        }
    }

    #[tokio::test]
    async fn unavailable_primary_falls_back_and_counts() {
        let count = Arc::new(AtomicUsize::new(0));
        let c = count.clone();
        let limiter = FallbackRateLimiter::new(
            Arc::new(Down),
            Arc::new(MemoryRateLimiter::new(Arc::new(SystemClock))),
            Arc::new(move || {
                c.fetch_add(1, Ordering::Relaxed);
            }),
        );
        let w = Duration::minutes(1);
        assert!(limiter.hit("k", 2, w).await.unwrap().allowed);
        assert!(limiter.hit("k", 2, w).await.unwrap().allowed);
        assert!(!limiter.hit("k", 2, w).await.unwrap().allowed);
        assert_eq!(count.load(Ordering::Relaxed), 3);
    }
}
