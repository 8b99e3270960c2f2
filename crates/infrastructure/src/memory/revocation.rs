use super::lock;
use async_trait::async_trait;
use portcullis_application::ports::{Clock, RevocationList, StoreError};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use time::{Duration, OffsetDateTime};

/// Revoked ids with their expiry, swept as they lapse.
pub struct MemoryRevocationList {
    clock: Arc<dyn Clock>,
    entries: Mutex<HashMap<String, OffsetDateTime>>,
}

impl MemoryRevocationList {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self { clock, entries: Mutex::new(HashMap::new()) }
    }
}

#[async_trait]
impl RevocationList for MemoryRevocationList {
    async fn revoke(&self, id: &str, ttl: Duration) -> Result<(), StoreError> {
        let now = self.clock.now();
        let mut entries = lock(&self.entries);
        entries.retain(|_, until| *until > now);
        let until = now + ttl.max(Duration::MILLISECOND);
        let slot = entries.entry(id.to_owned()).or_insert(until);
        *slot = (*slot).max(until);
        Ok(())
    }

    async fn any_revoked(&self, ids: &[String]) -> Result<bool, StoreError> {
        let now = self.clock.now();
        let entries = lock(&self.entries);
        Ok(ids.iter().any(|id| entries.get(id).is_some_and(|until| *until > now)))
    }
}
