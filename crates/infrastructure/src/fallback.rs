//! Keeps rate limiting and the lockout counters alive when Redis is not:
//! requests are then served by the in-process twin (per instance, so looser
//! across a fleet) instead of failing. Each fallback is counted through a hook
//! (the binary wires it to a Prometheus counter) and logged at most every 30
//! seconds. (Revocations fall back to the database instead: see
//! `portcullis_application::revocation`.)

use async_trait::async_trait;
use portcullis_application::ports::{
    AttemptGate, LockoutPolicy, LoginAttempts, RateLimitDecision, RateLimitKey, RateLimiter, StoreError,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};
use time::Duration;

pub type FallbackHook = Arc<dyn Fn() + Send + Sync>;

/// Counts and logs (throttled) the calls served by the fallback.
struct Outage {
    what: &'static str,
    on_fallback: FallbackHook,
    last_warning_secs: AtomicU64,
    started: Instant,
}

const WARN_EVERY_SECS: u64 = 30;

impl Outage {
    fn new(what: &'static str, on_fallback: FallbackHook) -> Self {
        Self { what, on_fallback, last_warning_secs: AtomicU64::new(0), started: Instant::now() }
    }

    fn note(&self, error: &StoreError) {
        (self.on_fallback)();
        let now = self.started.elapsed().as_secs() + WARN_EVERY_SECS;
        let last = self.last_warning_secs.load(Ordering::Relaxed);
        if now >= last + WARN_EVERY_SECS
            && self
                .last_warning_secs
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            let at = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default();
            tracing::warn!(%error, at, store = self.what, "backend unavailable; falling back to the in-process store");
        }
    }
}

/// Runs `call` on the primary; on `Unavailable`, notes the outage and runs it
/// on the fallback.
macro_rules! with_fallback {
    ($self:ident, $port:ident => $call:expr) => {{
        let $port = &$self.primary;
        match $call.await {
            Err(error @ StoreError::Unavailable(_)) => {
                $self.outage.note(&error);
                let $port = &$self.fallback;
                $call.await
            }
            other => other,
        }
    }};
}

pub struct FallbackRateLimiter {
    primary: Arc<dyn RateLimiter>,
    fallback: Arc<dyn RateLimiter>,
    outage: Outage,
}

impl FallbackRateLimiter {
    pub fn new(
        primary: Arc<dyn RateLimiter>,
        fallback: Arc<dyn RateLimiter>,
        on_fallback: FallbackHook,
    ) -> Self {
        Self { primary, fallback, outage: Outage::new("rate limiter", on_fallback) }
    }
}

#[async_trait]
impl RateLimiter for FallbackRateLimiter {
    async fn hit(&self, key: &str, limit: u32, window: Duration) -> Result<RateLimitDecision, StoreError> {
        with_fallback!(self, port => port.hit(key, limit, window))
    }

    async fn hit_all<'a>(&self, keys: &[RateLimitKey<'a>]) -> Result<Vec<RateLimitDecision>, StoreError> {
        with_fallback!(self, port => port.hit_all(keys))
    }
}

/// Login attempts on Redis, or in-process while Redis is unreachable: sign-in
/// stays up, with the lockout counted per instance during the outage (a
/// fleet of N instances lets up to N × threshold guesses through per window).
pub struct FallbackLoginAttempts {
    primary: Arc<dyn LoginAttempts>,
    fallback: Arc<dyn LoginAttempts>,
    outage: Outage,
}

impl FallbackLoginAttempts {
    pub fn new(
        primary: Arc<dyn LoginAttempts>,
        fallback: Arc<dyn LoginAttempts>,
        on_fallback: FallbackHook,
    ) -> Self {
        Self { primary, fallback, outage: Outage::new("login attempts", on_fallback) }
    }
}

#[async_trait]
impl LoginAttempts for FallbackLoginAttempts {
    async fn begin(&self, key: &str, policy: &LockoutPolicy) -> Result<AttemptGate, StoreError> {
        with_fallback!(self, port => port.begin(key, policy))
    }

    async fn release(&self, key: &str) -> Result<(), StoreError> {
        with_fallback!(self, port => port.release(key))
    }

    async fn lock(&self, key: &str, lock_for: Duration) -> Result<(), StoreError> {
        with_fallback!(self, port => port.lock(key, lock_for))
    }

    async fn succeed(&self, key: &str) -> Result<(), StoreError> {
        with_fallback!(self, port => port.succeed(key))
    }

    async fn reset(&self, key: &str) -> Result<(), StoreError> {
        // Lift a lock wherever it may have been counted.
        let fallback = self.fallback.reset(key).await;
        with_fallback!(self, port => port.reset(key)).and(fallback)
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

    #[async_trait]
    impl LoginAttempts for Down {
        async fn begin(&self, _: &str, _: &LockoutPolicy) -> Result<AttemptGate, StoreError> {
            Err(StoreError::Unavailable("connection refused".into()))
        }
        async fn release(&self, _: &str) -> Result<(), StoreError> {
            Err(StoreError::Unavailable("connection refused".into()))
        }
        async fn lock(&self, _: &str, _: Duration) -> Result<(), StoreError> {
            Err(StoreError::Unavailable("connection refused".into()))
        }
        async fn succeed(&self, _: &str) -> Result<(), StoreError> {
            Err(StoreError::Unavailable("connection refused".into()))
        }
        async fn reset(&self, _: &str) -> Result<(), StoreError> {
            Err(StoreError::Unavailable("connection refused".into()))
        }
    }

    #[tokio::test]
    async fn login_attempts_fall_back_and_still_lock() {
        let count = Arc::new(AtomicUsize::new(0));
        let c = count.clone();
        let attempts = FallbackLoginAttempts::new(
            Arc::new(Down),
            Arc::new(crate::memory::MemoryLoginAttempts::new(Arc::new(SystemClock))),
            Arc::new(move || {
                c.fetch_add(1, Ordering::Relaxed);
            }),
        );
        let policy =
            LockoutPolicy { threshold: 2, window: Duration::minutes(1), lock_for: Duration::minutes(1) };
        assert_eq!(attempts.begin("ada", &policy).await.unwrap(), AttemptGate::Allowed { attempt: 1 });
        attempts.lock("ada", policy.lock_for).await.unwrap();
        assert!(matches!(attempts.begin("ada", &policy).await.unwrap(), AttemptGate::Locked { .. }));
        attempts.reset("ada").await.unwrap();
        assert_eq!(attempts.begin("ada", &policy).await.unwrap(), AttemptGate::Allowed { attempt: 1 });
        assert_eq!(count.load(Ordering::Relaxed), 5);
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
