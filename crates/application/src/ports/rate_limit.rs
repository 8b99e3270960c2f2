use super::StoreError;
use async_trait::async_trait;
use time::Duration;

/// Outcome of one request against a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitDecision {
    pub allowed: bool,
    pub limit: u32,
    /// Requests that could still be made at once.
    pub remaining: u32,
    /// Allowed: until the budget is full again. Refused: until the next
    /// request would be allowed (the `Retry-After`). Always positive.
    pub reset_after: Duration,
}

/// One budget a request is counted against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitKey<'a> {
    pub key: &'a str,
    pub limit: u32,
    pub window: Duration,
}

/// `limit` requests per `key` per `window`, by GCRA
/// ([`portcullis_domain::rate`]): a burst of `limit` at once, then one
/// request every `window / limit`. Refused requests are not counted.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait RateLimiter: Send + Sync {
    async fn hit(&self, key: &str, limit: u32, window: Duration) -> Result<RateLimitDecision, StoreError>;

    /// Counts one request against each budget, each decided on its own (a
    /// refusal by one does not undo the count of another), in one round trip
    /// where the adapter has a network between it and its state. Decisions
    /// come back in the order of `keys`.
    async fn hit_all<'a>(&self, keys: &[RateLimitKey<'a>]) -> Result<Vec<RateLimitDecision>, StoreError> {
        let mut decisions = Vec::with_capacity(keys.len());
        for k in keys {
            decisions.push(self.hit(k.key, k.limit, k.window).await?);
        }
        Ok(decisions)
    }
}
