use super::lock;
use async_trait::async_trait;
use portcullis_application::ports::{AttemptGate, Clock, LockoutPolicy, LoginAttempts, StoreError};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use time::{Duration, OffsetDateTime};

#[derive(Default)]
struct State {
    /// key -> (attempts in the current window, window end)
    counters: HashMap<String, (u32, OffsetDateTime)>,
    /// key -> lock end
    locks: HashMap<String, OffsetDateTime>,
}

/// Same rules as the Redis script (`redis::login_attempts`), under one mutex.
pub struct MemoryLoginAttempts {
    clock: Arc<dyn Clock>,
    state: Mutex<State>,
}

impl MemoryLoginAttempts {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self { clock, state: Mutex::new(State::default()) }
    }
}

#[async_trait]
impl LoginAttempts for MemoryLoginAttempts {
    async fn begin(&self, key: &str, policy: &LockoutPolicy) -> Result<AttemptGate, StoreError> {
        let now = self.clock.now();
        let mut state = lock(&self.state);
        match state.locks.get(key) {
            Some(until) if *until > now => {
                return Ok(AttemptGate::Locked { retry_after: *until - now });
            }
            Some(_) => {
                state.locks.remove(key);
            }
            None => {}
        }
        let entry = state.counters.entry(key.to_owned()).or_insert((0, now + policy.window));
        if entry.1 <= now {
            *entry = (0, now + policy.window);
        }
        if entry.0 >= policy.threshold {
            // Every counted attempt is still in flight or failed: refuse,
            // uncounted, until the window ends (or a failure turns it into a lock).
            return Ok(AttemptGate::Locked { retry_after: (entry.1 - now).max(Duration::SECOND) });
        }
        entry.0 += 1;
        Ok(AttemptGate::Allowed { attempt: entry.0 })
    }

    async fn release(&self, key: &str) -> Result<(), StoreError> {
        let now = self.clock.now();
        let mut state = lock(&self.state);
        if let Some(entry) = state.counters.get_mut(key).filter(|e| e.1 > now) {
            entry.0 = entry.0.saturating_sub(1);
        }
        Ok(())
    }

    async fn lock(&self, key: &str, lock_for: Duration) -> Result<(), StoreError> {
        let now = self.clock.now();
        let mut state = lock(&self.state);
        state.locks.insert(key.to_owned(), now + lock_for);
        state.counters.remove(key);
        Ok(())
    }

    async fn succeed(&self, key: &str) -> Result<(), StoreError> {
        lock(&self.state).counters.remove(key);
        Ok(())
    }

    async fn reset(&self, key: &str) -> Result<(), StoreError> {
        let mut state = lock(&self.state);
        state.counters.remove(key);
        state.locks.remove(key);
        Ok(())
    }
}
