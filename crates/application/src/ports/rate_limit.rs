use super::StoreError;
use async_trait::async_trait;
use time::Duration;

/// Outcome of one request against a sliding-window limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitDecision {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    /// Until the oldest counted request leaves the window (when a slot frees).
    pub reset_after: Duration,
}

/// Sliding-window limiter: at most `limit` requests per `key` in any `window`.
/// Rejected requests are not counted.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait RateLimiter: Send + Sync {
    async fn hit(&self, key: &str, limit: u32, window: Duration) -> Result<RateLimitDecision, StoreError>;
}
