use super::lock;
use async_trait::async_trait;
use portcullis_application::ports::{Clock, EphemeralStore, StoreError};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use time::{Duration, OffsetDateTime};

/// Short-lived values with a TTL on the injected clock (one process: the
/// memory mode). Expired entries are dropped when met, and swept on writes.
pub struct MemoryEphemeralStore {
    clock: Arc<dyn Clock>,
    entries: Mutex<HashMap<String, (Vec<u8>, OffsetDateTime)>>,
}

impl MemoryEphemeralStore {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self { clock, entries: Mutex::default() }
    }
}

#[async_trait]
impl EphemeralStore for MemoryEphemeralStore {
    async fn put(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), StoreError> {
        let now = self.clock.now();
        let mut entries = lock(&self.entries);
        entries.retain(|_, (_, expires)| *expires > now);
        entries.insert(key.to_owned(), (value.to_vec(), now + ttl));
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let now = self.clock.now();
        let mut entries = lock(&self.entries);
        match entries.get(key) {
            Some((value, expires)) if *expires > now => Ok(Some(value.clone())),
            Some(_) => {
                entries.remove(key);
                Ok(None)
            }
            None => Ok(None),
        }
    }

    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let now = self.clock.now();
        Ok(lock(&self.entries).remove(key).filter(|(_, expires)| *expires > now).map(|(value, _)| value))
    }
}
