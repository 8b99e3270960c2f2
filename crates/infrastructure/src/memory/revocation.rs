use super::lock;
use async_trait::async_trait;
use portcullis_application::ports::{CacheAnswer, Clock, RevocationList, StoreError};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use time::{Duration, OffsetDateTime};

#[derive(Default)]
struct State {
    entries: HashMap<String, OffsetDateTime>,
    /// Built from the database since this process started.
    warm: bool,
}

/// Revoked ids with their expiry, swept as they lapse. Starts cold, like a
/// Redis that restarted empty: the first check asks for a rebuild.
pub struct MemoryRevocationList {
    clock: Arc<dyn Clock>,
    state: Mutex<State>,
}

impl MemoryRevocationList {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self { clock, state: Mutex::new(State::default()) }
    }

    /// Forgets everything, as a Redis restart without persistence would.
    pub fn wipe(&self) {
        *lock(&self.state) = State::default();
    }

    fn insert(state: &mut State, id: &str, until: OffsetDateTime) {
        let slot = state.entries.entry(id.to_owned()).or_insert(until);
        *slot = (*slot).max(until);
    }
}

#[async_trait]
impl RevocationList for MemoryRevocationList {
    async fn revoke(&self, id: &str, ttl: Duration) -> Result<(), StoreError> {
        let now = self.clock.now();
        let mut state = lock(&self.state);
        state.entries.retain(|_, until| *until > now);
        Self::insert(&mut state, id, now + ttl.max(Duration::MILLISECOND));
        Ok(())
    }

    async fn check(&self, ids: &[String]) -> Result<CacheAnswer, StoreError> {
        let now = self.clock.now();
        let state = lock(&self.state);
        if ids.iter().any(|id| state.entries.get(id).is_some_and(|until| *until > now)) {
            return Ok(CacheAnswer::Revoked);
        }
        Ok(if state.warm { CacheAnswer::NotRevoked } else { CacheAnswer::Cold })
    }

    async fn warm(&self, entries: &[(String, Duration)]) -> Result<(), StoreError> {
        let now = self.clock.now();
        let mut state = lock(&self.state);
        for (id, ttl) in entries.iter().filter(|(_, ttl)| ttl.is_positive()) {
            Self::insert(&mut state, id, now + *ttl);
        }
        state.warm = true;
        Ok(())
    }
}
