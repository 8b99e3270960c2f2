use super::{RedisStore, millis, unavailable};
use async_trait::async_trait;
use deadpool_redis::redis;
use portcullis_application::ports::{EphemeralStore, StoreError};
use time::Duration;

/// Short-lived values in Redis, one key each with its TTL (`SET PX`);
/// `take` is `GETDEL`, so of concurrent takers exactly one gets the value.
#[derive(Clone)]
pub struct RedisEphemeralStore(RedisStore);

impl RedisEphemeralStore {
    pub fn new(store: RedisStore) -> Self {
        Self(store)
    }
}

#[async_trait]
impl EphemeralStore for RedisEphemeralStore {
    async fn put(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), StoreError> {
        let mut conn = self.0.conn().await?;
        let _: () = redis::cmd("SET")
            .arg(self.0.key("ephemeral", key))
            .arg(value)
            .arg("PX")
            .arg(millis(ttl))
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let mut conn = self.0.conn().await?;
        redis::cmd("GET").arg(self.0.key("ephemeral", key)).query_async(&mut conn).await.map_err(unavailable)
    }

    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let mut conn = self.0.conn().await?;
        redis::cmd("GETDEL")
            .arg(self.0.key("ephemeral", key))
            .query_async(&mut conn)
            .await
            .map_err(unavailable)
    }
}
