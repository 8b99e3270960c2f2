//! Redis adapters: GCRA rate limiter, login-attempt counter and the
//! access-token revocation list. Every multi-step operation is one Lua script,
//! so it is atomic across all app instances sharing the Redis.

mod ephemeral;
mod events;
mod jobs;
mod listener;
mod login_attempts;
mod permission_cache;
mod pool;
mod rate_limit;
mod revocation;
mod user_cache;

pub use ephemeral::RedisEphemeralStore;
pub use events::RedisEventBus;
pub use jobs::RedisJobQueue;
pub use login_attempts::RedisLoginAttempts;
pub use permission_cache::RedisPermissionCache;
pub use rate_limit::{LeasePolicy, RedisRateLimiter};
pub use revocation::RedisRevocationList;
pub use user_cache::RedisCachedUsers;

use async_trait::async_trait;
use deadpool::managed::Timeouts;
use pool::{Connection, Pool};
use portcullis_application::Cause;
use portcullis_application::ports::{HealthCheck, StoreError};
use std::time::Duration as StdDuration;

/// A pooled Redis connection plus the key prefix that namespaces this
/// deployment (and, in tests, each test).
#[derive(Clone)]
pub struct RedisStore {
    pool: Pool,
    prefix: String,
}

#[derive(Debug, thiserror::Error)]
#[error("invalid REDIS_URL: {0}")]
pub struct RedisConfigError(String);

impl RedisStore {
    /// Builds the pool; connections are made lazily, and each wait, connect or
    /// recycle is bounded so an unreachable Redis fails fast instead of hanging.
    pub fn new(url: &str, prefix: &str, max_size: usize) -> Result<Self, RedisConfigError> {
        let timeouts = Timeouts {
            wait: Some(StdDuration::from_secs(2)),
            create: Some(StdDuration::from_secs(2)),
            recycle: Some(StdDuration::from_secs(1)),
        };
        let pool = pool::build(url, max_size.max(1), timeouts).map_err(RedisConfigError)?;
        Ok(Self { pool, prefix: prefix.to_owned() })
    }

    pub(crate) fn key(&self, kind: &str, id: &str) -> String {
        format!("{}{kind}:{id}", self.prefix)
    }

    pub(crate) async fn conn(&self) -> Result<Connection, StoreError> {
        self.pool
            .get()
            .await
            .map(Connection::from)
            .map_err(|e| StoreError::Unavailable(Cause::context("redis pool", e)))
    }

    /// Sends `payload` to the subscribers of `channel`.
    pub(crate) async fn publish(&self, channel: &str, payload: &str) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        deadpool_redis::redis::cmd("PUBLISH")
            .arg(channel)
            .arg(payload)
            .query_async::<i64>(&mut conn)
            .await
            .map(|_| ())
            .map_err(unavailable)
    }

    /// Sends PING.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        deadpool_redis::redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .map(|_| ())
            .map_err(unavailable)
    }
}

/// A pub/sub connection subscribed to `channel` (each listener holds one).
pub(crate) async fn subscribe(
    client: &deadpool_redis::redis::Client,
    channel: &str,
) -> Result<deadpool_redis::redis::aio::PubSub, deadpool_redis::redis::RedisError> {
    let mut pubsub = client.get_async_pubsub().await?;
    pubsub.subscribe(channel).await?;
    Ok(pubsub)
}

pub(crate) fn unavailable(e: deadpool_redis::redis::RedisError) -> StoreError {
    StoreError::Unavailable(Cause::context("redis", e))
}

/// Milliseconds for Redis, at least 1 (0 would mean "no expiry" or an error).
pub(crate) fn millis(d: time::Duration) -> i64 {
    (d.whole_milliseconds().clamp(1, i128::from(i64::MAX))) as i64
}

#[async_trait]
impl HealthCheck for RedisStore {
    fn name(&self) -> &'static str {
        "redis"
    }

    async fn check(&self) -> Result<(), StoreError> {
        self.ping().await
    }
}
