use super::{RedisStore, millis, unavailable};
use async_trait::async_trait;
use deadpool_redis::redis::Script;
use portcullis_application::ports::{RevocationList, StoreError};
use std::sync::LazyLock;
use time::Duration;

/// Sets the marker, never shortening an existing one.
static REVOKE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local left = redis.call('PTTL', KEYS[1])
if left < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], '1', 'PX', ARGV[1]) end
return 1
",
    )
});

/// One key per revoked id, expiring when the tokens it names would expire.
#[derive(Clone)]
pub struct RedisRevocationList(RedisStore);

impl RedisRevocationList {
    pub fn new(store: RedisStore) -> Self {
        Self(store)
    }
}

#[async_trait]
impl RevocationList for RedisRevocationList {
    async fn revoke(&self, id: &str, ttl: Duration) -> Result<(), StoreError> {
        let mut conn = self.0.conn().await?;
        let _: i64 = REVOKE
            .key(self.0.key("revoked", id))
            .arg(millis(ttl))
            .invoke_async(&mut conn)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn any_revoked(&self, ids: &[String]) -> Result<bool, StoreError> {
        if ids.is_empty() {
            return Ok(false);
        }
        let mut conn = self.0.conn().await?;
        let mut cmd = deadpool_redis::redis::cmd("EXISTS");
        for id in ids {
            cmd.arg(self.0.key("revoked", id));
        }
        let found: i64 = cmd.query_async(&mut conn).await.map_err(unavailable)?;
        Ok(found > 0)
    }
}
