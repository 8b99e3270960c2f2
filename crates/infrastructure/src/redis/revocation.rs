use super::{RedisStore, millis, unavailable};
use async_trait::async_trait;
use deadpool_redis::redis::Script;
use portcullis_application::ports::{CacheAnswer, RevocationList, StoreError};
use std::sync::LazyLock;
use time::Duration;

/// KEYS: entries. ARGV: ttl ms per key. Sets each marker, never shortening one.
static REVOKE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
for i, key in ipairs(KEYS) do
  local left = redis.call('PTTL', key)
  if left < tonumber(ARGV[i]) then redis.call('SET', key, '1', 'PX', ARGV[i]) end
end
return 1
",
    )
});

/// KEYS: the warm marker, then the ids. -1 cold, else how many are listed.
static CHECK: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local listed = 0
if #KEYS > 1 then listed = redis.call('EXISTS', unpack(KEYS, 2)) end
if listed > 0 then return listed end
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
return 0
",
    )
});

/// One key per revoked id, expiring when the tokens it names would expire,
/// plus a marker that says the set was built from the database since Redis
/// last started empty (it has no TTL: it goes only with a restart or flush).
#[derive(Clone)]
pub struct RedisRevocationList(RedisStore);

impl RedisRevocationList {
    pub fn new(store: RedisStore) -> Self {
        Self(store)
    }

    async fn set(&self, entries: &[(String, Duration)]) -> Result<(), StoreError> {
        let mut conn = self.0.conn().await?;
        for chunk in entries.chunks(500) {
            let mut invocation = REVOKE.prepare_invoke();
            for (id, ttl) in chunk {
                invocation.key(self.0.key("revoked", id)).arg(millis(*ttl).max(1));
            }
            let _: i64 = invocation.invoke_async(&mut conn).await.map_err(unavailable)?;
        }
        Ok(())
    }
}

#[async_trait]
impl RevocationList for RedisRevocationList {
    async fn revoke(&self, id: &str, ttl: Duration) -> Result<(), StoreError> {
        self.set(&[(id.to_owned(), ttl)]).await
    }

    async fn check(&self, ids: &[String]) -> Result<CacheAnswer, StoreError> {
        let mut conn = self.0.conn().await?;
        let mut invocation = CHECK.key(self.0.key("revoked-meta", "warm"));
        for id in ids {
            invocation.key(self.0.key("revoked", id));
        }
        let answer: i64 = invocation.invoke_async(&mut conn).await.map_err(unavailable)?;
        Ok(match answer {
            n if n > 0 => CacheAnswer::Revoked,
            0 => CacheAnswer::NotRevoked,
            _ => CacheAnswer::Cold,
        })
    }

    async fn warm(&self, entries: &[(String, Duration)]) -> Result<(), StoreError> {
        let live: Vec<(String, Duration)> =
            entries.iter().filter(|(_, ttl)| ttl.is_positive()).cloned().collect();
        self.set(&live).await?;
        let mut conn = self.0.conn().await?;
        deadpool_redis::redis::cmd("SET")
            .arg(self.0.key("revoked-meta", "warm"))
            .arg("1")
            .query_async::<()>(&mut conn)
            .await
            .map_err(unavailable)
    }
}
