use super::lock;
use async_trait::async_trait;
use portcullis_application::ports::{CacheGeneration, Clock, Grants, PermissionCache, StoreError};
use portcullis_domain::ids::UserId;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use time::{Duration, OffsetDateTime};

#[derive(Default)]
struct State {
    generation: u64,
    entries: HashMap<UserId, (u64, Grants, OffsetDateTime)>,
}

/// Effective permissions per user, with a TTL on the injected clock and a
/// generation that [`PermissionCache::invalidate`] bumps (one process: the
/// memory mode).
pub struct MemoryPermissionCache {
    clock: Arc<dyn Clock>,
    state: Mutex<State>,
}

impl MemoryPermissionCache {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self { clock, state: Mutex::default() }
    }
}

#[async_trait]
impl PermissionCache for MemoryPermissionCache {
    async fn get(&self, user: UserId) -> Result<(Option<Grants>, CacheGeneration), StoreError> {
        let now = self.clock.now();
        let mut state = lock(&self.state);
        let current = state.generation;
        let hit = match state.entries.get(&user) {
            Some((generation, grants, expires)) if *generation == current && now < *expires => {
                Some(grants.clone())
            }
            Some(_) => {
                state.entries.remove(&user);
                None
            }
            None => None,
        };
        Ok((hit, CacheGeneration(current)))
    }

    async fn put(
        &self,
        user: UserId,
        grants: &Grants,
        seen: CacheGeneration,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let expires = self.clock.now() + ttl;
        let mut state = lock(&self.state);
        if seen.0 == state.generation {
            state.entries.insert(user, (seen.0, grants.clone(), expires));
        }
        Ok(())
    }

    async fn invalidate(&self) -> Result<(), StoreError> {
        let mut state = lock(&self.state);
        state.generation += 1;
        state.entries.clear();
        Ok(())
    }
}
