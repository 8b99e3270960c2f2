use super::{RedisStore, millis, unavailable};
use async_trait::async_trait;
use deadpool_redis::redis::Script;
use portcullis_application::ports::{RateLimitDecision, RateLimiter, StoreError};
use std::sync::LazyLock;
use time::Duration;
use uuid::Uuid;

/// Sliding-window log in a sorted set (score = arrival in ms, Redis server
/// time so every app instance agrees). Trim, count, maybe add, read the
/// oldest — all in one script, so concurrent requests cannot overshoot.
static SLIDING_WINDOW: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
local allowed = 0
if count < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  count = count + 1
  allowed = 1
end
redis.call('PEXPIRE', KEYS[1], window)
local reset = window
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if oldest[2] then reset = tonumber(oldest[2]) + window - now end
return {allowed, count, reset}
",
    )
});

#[derive(Clone)]
pub struct RedisRateLimiter(RedisStore);

impl RedisRateLimiter {
    pub fn new(store: RedisStore) -> Self {
        Self(store)
    }
}

#[async_trait]
impl RateLimiter for RedisRateLimiter {
    async fn hit(&self, key: &str, limit: u32, window: Duration) -> Result<RateLimitDecision, StoreError> {
        let mut conn = self.0.conn().await?;
        let (allowed, count, reset): (i64, i64, i64) = SLIDING_WINDOW
            .key(self.0.key("rl", key))
            .arg(limit)
            .arg(millis(window))
            // Unique member: two requests in the same millisecond both count.
            .arg(Uuid::new_v4().to_string())
            .invoke_async(&mut conn)
            .await
            .map_err(unavailable)?;
        Ok(RateLimitDecision {
            allowed: allowed == 1,
            limit,
            remaining: limit.saturating_sub(u32::try_from(count).unwrap_or(u32::MAX)),
            reset_after: Duration::milliseconds(reset.max(0)),
        })
    }
}
