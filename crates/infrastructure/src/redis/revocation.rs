//! The revocation list as an in-process mirror kept current over Redis
//! pub/sub (issue 13, ADR 0015): checking a token costs no network round
//! trip. Each instance holds the revoked ids with their expiry; a revocation
//! is added locally and published on `{REDIS_KEY_PREFIX}revoked:events`, and
//! every instance's listener adds what it hears. The database stays the
//! source of truth:
//! - until this instance's subscription is up, and after every
//!   resubscription (messages published meanwhile are lost to it), the mirror
//!   says `Cold`, and the application rebuilds it from the database;
//! - while the subscription is down, `check` fails unless the id is listed,
//!   and the application asks the database.
//!
//! A rebuild only makes the mirror `Warm` if no resubscription happened since
//! the `Cold` answer that asked for it: a database read that began before a
//! gap in the subscription cannot cover revocations made during the gap.

use super::RedisStore;
use super::listener::{Heard, Listener};
use async_trait::async_trait;
use portcullis_application::Cause;
use portcullis_application::ports::{CacheAnswer, RevocationList, StoreError};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration as StdDuration, Instant};
use time::Duration;

/// Sweep lapsed entries once the mirror holds more than this many.
const SWEEP_AT: usize = 50_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Link {
    /// No subscription: what others revoke cannot reach this instance.
    Down,
    /// Subscribed, but what was revoked before is not known to be loaded.
    Cold,
    /// Subscribed and rebuilt from the database since.
    Warm,
}

struct Mirror {
    entries: HashMap<String, Instant>,
    link: Link,
    /// Bumped by every (re)subscription.
    generation: u64,
    /// The generation of the last `Cold` answer (what a rebuild answers).
    cold_answered: Option<u64>,
}

impl Mirror {
    fn insert(&mut self, id: &str, until: Instant) {
        if self.entries.len() >= SWEEP_AT {
            let now = Instant::now();
            self.entries.retain(|_, t| *t > now);
        }
        let slot = self.entries.entry(id.to_owned()).or_insert(until);
        *slot = (*slot).max(until);
    }
}

struct Shared {
    mirror: Mutex<Mirror>,
    listener: Listener,
}

impl Heard for Shared {
    fn subscribed(&self) {
        let mut mirror = lock(&self.mirror);
        mirror.generation += 1;
        mirror.link = Link::Cold;
    }

    fn message(&self, payload: &[u8]) {
        match decode(payload) {
            Some((ttl, id)) => lock(&self.mirror).insert(id, Instant::now() + ttl),
            None => tracing::warn!("unreadable message on the revocation channel ignored"),
        }
    }

    fn lost(&self) {
        lock(&self.mirror).link = Link::Down;
        tracing::warn!("revocation subscription lost; checking in the database until it is back");
    }
}

fn lock(m: &Mutex<Mirror>) -> MutexGuard<'_, Mirror> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[derive(Clone)]
pub struct RedisRevocationList {
    store: RedisStore,
    shared: Arc<Shared>,
}

impl RedisRevocationList {
    pub fn new(store: RedisStore, url: &str) -> Self {
        let listener = Listener::new(url, store.key("revoked", "events"));
        let mirror = Mirror { entries: HashMap::new(), link: Link::Down, generation: 0, cold_answered: None };
        Self { store, shared: Arc::new(Shared { mirror: Mutex::new(mirror), listener }) }
    }

    async fn listening(&self) {
        self.shared.listener.ensure(&self.shared).await;
    }
}

/// `"<ttl ms> <id>"`.
fn encode(id: &str, ttl: Duration) -> String {
    format!("{} {id}", ttl.whole_milliseconds().max(1))
}

fn decode(payload: &[u8]) -> Option<(StdDuration, &str)> {
    let text = std::str::from_utf8(payload).ok()?;
    let (ttl, id) = text.split_once(' ')?;
    let ttl: u64 = ttl.parse().ok()?;
    (!id.is_empty()).then_some((StdDuration::from_millis(ttl), id))
}

fn until(ttl: Duration) -> Instant {
    let ms = u64::try_from(ttl.whole_milliseconds()).unwrap_or(0).max(1);
    Instant::now() + StdDuration::from_millis(ms)
}

#[async_trait]
impl RevocationList for RedisRevocationList {
    async fn revoke(&self, id: &str, ttl: Duration) -> Result<(), StoreError> {
        self.listening().await;
        lock(&self.shared.mirror).insert(id, until(ttl));
        self.store.publish(self.shared.listener.channel(), &encode(id, ttl)).await
    }

    async fn check(&self, ids: &[String]) -> Result<CacheAnswer, StoreError> {
        self.listening().await;
        let now = Instant::now();
        let mut mirror = lock(&self.shared.mirror);
        if ids.iter().any(|id| mirror.entries.get(id).is_some_and(|t| *t > now)) {
            return Ok(CacheAnswer::Revoked);
        }
        match mirror.link {
            Link::Warm => Ok(CacheAnswer::NotRevoked),
            Link::Cold => {
                mirror.cold_answered = Some(mirror.generation);
                Ok(CacheAnswer::Cold)
            }
            Link::Down => Err(StoreError::Unavailable(Cause::from("the revocation subscription is down"))),
        }
    }

    async fn warm(&self, entries: &[(String, Duration)]) -> Result<(), StoreError> {
        self.listening().await;
        let mut mirror = lock(&self.shared.mirror);
        for (id, ttl) in entries.iter().filter(|(_, ttl)| ttl.is_positive()) {
            mirror.insert(id, until(*ttl));
        }
        match mirror.link {
            Link::Down => Err(StoreError::Unavailable(Cause::from("the revocation subscription is down"))),
            Link::Cold if mirror.cold_answered.is_none_or(|g| g == mirror.generation) => {
                mirror.link = Link::Warm;
                Ok(())
            }
            // Resubscribed since the rebuild was asked for: it may have
            // missed revocations made in the gap; the next check asks again.
            Link::Cold | Link::Warm => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_and_garbage_is_refused() {
        let wire = encode("a b", Duration::seconds(2));
        assert_eq!(decode(wire.as_bytes()), Some((StdDuration::from_secs(2), "a b")));
        assert_eq!(decode(b"x id"), None);
        assert_eq!(decode(b"12"), None);
        assert_eq!(decode(b"12 "), None);
        assert_eq!(decode(&[0xff, b' ', b'a']), None);
    }
}
