use super::lock;
use async_trait::async_trait;
use portcullis_application::ports::{Clock, RateLimitDecision, RateLimiter, StoreError};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use time::{Duration, OffsetDateTime};

/// Sliding-window log per key, like the Redis script: timestamps of the
/// accepted requests inside the window.
pub struct MemoryRateLimiter {
    clock: Arc<dyn Clock>,
    windows: Mutex<HashMap<String, VecDeque<OffsetDateTime>>>,
}

/// Above this many keys, empty windows are swept so memory stays bounded.
const SWEEP_AT: usize = 10_000;

impl MemoryRateLimiter {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self { clock, windows: Mutex::new(HashMap::new()) }
    }
}

#[async_trait]
impl RateLimiter for MemoryRateLimiter {
    async fn hit(&self, key: &str, limit: u32, window: Duration) -> Result<RateLimitDecision, StoreError> {
        let now = self.clock.now();
        let floor = now - window;
        let mut windows = lock(&self.windows);
        if windows.len() > SWEEP_AT {
            windows.retain(|_, log| log.back().is_some_and(|t| *t > floor));
        }
        let log = windows.entry(key.to_owned()).or_default();
        while log.front().is_some_and(|t| *t <= floor) {
            log.pop_front();
        }
        let allowed = (log.len() as u64) < u64::from(limit);
        if allowed {
            log.push_back(now);
        }
        let reset_after = log.front().map_or(window, |oldest| *oldest + window - now);
        Ok(RateLimitDecision {
            allowed,
            limit,
            remaining: limit.saturating_sub(log.len() as u32),
            reset_after,
        })
    }
}
