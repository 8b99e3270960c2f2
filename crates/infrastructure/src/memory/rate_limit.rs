use super::lock;
use async_trait::async_trait;
use portcullis_application::ports::{Clock, RateLimitDecision, RateLimiter, StoreError};
use portcullis_domain::rate::{gcra, window_us};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use time::Duration;

/// GCRA per key, like the Redis script: one instant (the TAT, in µs since
/// the Unix epoch) per key.
pub struct MemoryRateLimiter {
    clock: Arc<dyn Clock>,
    tats: Mutex<HashMap<String, i64>>,
}

/// Above this many keys, spent ones (TAT in the past) are swept so memory
/// stays bounded.
const SWEEP_AT: usize = 10_000;

impl MemoryRateLimiter {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self { clock, tats: Mutex::new(HashMap::new()) }
    }
}

#[async_trait]
impl RateLimiter for MemoryRateLimiter {
    async fn hit(&self, key: &str, limit: u32, window: Duration) -> Result<RateLimitDecision, StoreError> {
        let now = i64::try_from((self.clock.now() - time::OffsetDateTime::UNIX_EPOCH).whole_microseconds())
            .unwrap_or(i64::MAX);
        let mut tats = lock(&self.tats);
        if tats.len() > SWEEP_AT {
            tats.retain(|_, tat| *tat > now);
        }
        let stored = tats.get(key).copied().filter(|tat| *tat > now);
        let outcome = gcra(stored, now, limit, window_us(window));
        if outcome.allowed {
            tats.insert(key.to_owned(), outcome.tat);
        }
        Ok(RateLimitDecision {
            allowed: outcome.allowed,
            limit,
            remaining: outcome.remaining,
            reset_after: Duration::microseconds(outcome.reset_after_us),
        })
    }
}
