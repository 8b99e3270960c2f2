use portcullis_infrastructure::redis::RedisStore;

pub fn redis_url() -> String {
    std::env::var("REDIS_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| panic!("REDIS_URL must be set for the Redis integration tests"))
}

/// A Redis store under a key prefix of its own; checks Redis answers.
pub async fn redis_store() -> RedisStore {
    let prefix = portcullis_infrastructure::contract::unique_prefix();
    let store = RedisStore::new(&redis_url(), &prefix, 8).unwrap();
    store.ping().await.unwrap_or_else(|e| panic!("Redis at REDIS_URL is unreachable: {e}"));
    store
}
