use super::{RedisStore, millis, unavailable};
use async_trait::async_trait;
use deadpool_redis::redis::Script;
use portcullis_application::ports::{AttemptGate, LockoutPolicy, LoginAttempts, StoreError};
use std::sync::LazyLock;
use time::Duration;

/// KEYS: counter, lock. ARGV: threshold, window ms.
/// Locked -> {0, ms left}. With `threshold` attempts already counted (in
/// flight or failed) the attempt is refused, uncounted, until the window ends
/// -> {0, ms}; else it is counted -> {1, attempt}.
static BEGIN: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local locked = redis.call('PTTL', KEYS[2])
if locked > 0 then return {0, locked} end
local counted = tonumber(redis.call('GET', KEYS[1]) or '0')
if counted >= tonumber(ARGV[1]) then
  local left = redis.call('PTTL', KEYS[1])
  if left < 1000 then left = 1000 end
  return {0, left}
end
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return {1, n}
",
    )
});

/// KEYS: counter, lock. ARGV: lock ms.
static LOCK: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
redis.call('SET', KEYS[2], '1', 'PX', ARGV[1])
redis.call('DEL', KEYS[1])
return 1
",
    )
});

/// KEYS: counter. Gives one attempt back, never below zero; keeps the TTL.
static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n > 0 then redis.call('DECR', KEYS[1]) end
return 1
",
    )
});

#[derive(Clone)]
pub struct RedisLoginAttempts(RedisStore);

impl RedisLoginAttempts {
    pub fn new(store: RedisStore) -> Self {
        Self(store)
    }

    fn keys(&self, key: &str) -> (String, String) {
        (self.0.key("login:count", key), self.0.key("login:lock", key))
    }

    async fn delete(&self, keys: &[String]) -> Result<(), StoreError> {
        let mut conn = self.0.conn().await?;
        deadpool_redis::redis::cmd("DEL")
            .arg(keys)
            .query_async::<i64>(&mut conn)
            .await
            .map(|_| ())
            .map_err(unavailable)
    }
}

#[async_trait]
impl LoginAttempts for RedisLoginAttempts {
    async fn begin(&self, key: &str, policy: &LockoutPolicy) -> Result<AttemptGate, StoreError> {
        let (count, lock) = self.keys(key);
        let mut conn = self.0.conn().await?;
        let (allowed, value): (i64, i64) = BEGIN
            .key(count)
            .key(lock)
            .arg(policy.threshold)
            .arg(millis(policy.window))
            .invoke_async(&mut conn)
            .await
            .map_err(unavailable)?;
        Ok(if allowed == 1 {
            AttemptGate::Allowed { attempt: u32::try_from(value).unwrap_or(u32::MAX) }
        } else {
            AttemptGate::Locked { retry_after: Duration::milliseconds(value) }
        })
    }

    async fn release(&self, key: &str) -> Result<(), StoreError> {
        let (count, _) = self.keys(key);
        let mut conn = self.0.conn().await?;
        let _: i64 = RELEASE.key(count).invoke_async(&mut conn).await.map_err(unavailable)?;
        Ok(())
    }

    async fn lock(&self, key: &str, lock_for: Duration) -> Result<(), StoreError> {
        let (count, lock) = self.keys(key);
        let mut conn = self.0.conn().await?;
        let _: i64 = LOCK
            .key(count)
            .key(lock)
            .arg(millis(lock_for))
            .invoke_async(&mut conn)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn succeed(&self, key: &str) -> Result<(), StoreError> {
        let (count, _) = self.keys(key);
        self.delete(&[count]).await
    }

    async fn reset(&self, key: &str) -> Result<(), StoreError> {
        let (count, lock) = self.keys(key);
        self.delete(&[count, lock]).await
    }
}
