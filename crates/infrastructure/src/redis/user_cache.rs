//! Accounts read on the hot paths (`GET /auth/me`, a refresh's answer) from
//! this instance's memory (issue 13, ADR 0017). The database stays the
//! source of truth: a write through any instance drops the row here and
//! publishes its id on `{REDIS_KEY_PREFIX}users:events`, and every instance
//! drops what it hears. The cache answers only while this instance is
//! subscribed; each (re)subscription and each loss empties it, since an
//! invalidation published meanwhile was missed. A row read from the database
//! is kept only if nothing was invalidated while it was being read, so a
//! read that raced a write can never be kept after the write's invalidation.
//! Rows are kept at most [`MAX_AGE`] (a bound should a publish fail).
//! Only [`UserRepository::find_by_id_cached`] reads the cache; every other
//! read and every write goes to the database.

use super::RedisStore;
use super::listener::{Heard, Listener};
use async_trait::async_trait;
use portcullis_application::ports::{OutboxMessage, StoreError, UserFilter, UserRepository};
use portcullis_domain::email::Email;
use portcullis_domain::ids::UserId;
use portcullis_domain::user::{PasswordHash, ProfileChanges, User};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};
use time::OffsetDateTime;
use uuid::Uuid;

/// The longest a row is served from memory.
const MAX_AGE: Duration = Duration::from_secs(30);
/// Rows kept at most; past it, old ones are swept (all if none is old).
const CAPACITY: usize = 100_000;

struct Rows {
    entries: HashMap<UserId, (User, Instant)>,
    subscribed: bool,
    /// Bumped by every invalidation, subscription and loss.
    epoch: u64,
}

impl Rows {
    fn forget(&mut self, id: Option<UserId>) {
        match id {
            Some(id) => {
                self.entries.remove(&id);
            }
            None => self.entries.clear(),
        }
        self.epoch += 1;
    }
}

struct Shared {
    rows: Mutex<Rows>,
    listener: Listener,
}

fn lock(rows: &Mutex<Rows>) -> MutexGuard<'_, Rows> {
    rows.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Heard for Shared {
    fn subscribed(&self) {
        let mut rows = lock(&self.rows);
        rows.forget(None);
        rows.subscribed = true;
    }

    fn message(&self, payload: &[u8]) {
        match std::str::from_utf8(payload).ok().and_then(|s| Uuid::parse_str(s).ok()) {
            Some(id) => lock(&self.rows).forget(Some(UserId(id))),
            None => tracing::warn!("unreadable message on the user channel ignored"),
        }
    }

    fn lost(&self) {
        let mut rows = lock(&self.rows);
        rows.forget(None);
        rows.subscribed = false;
    }
}

/// [`UserRepository`] over another one (the database's), with the cache.
#[derive(Clone)]
pub struct RedisCachedUsers {
    inner: Arc<dyn UserRepository>,
    store: RedisStore,
    shared: Arc<Shared>,
}

impl RedisCachedUsers {
    pub fn new(inner: Arc<dyn UserRepository>, store: RedisStore, url: &str) -> Self {
        let listener = Listener::new(url, store.key("users", "events"));
        let rows = Rows { entries: HashMap::new(), subscribed: false, epoch: 0 };
        Self { inner, store, shared: Arc::new(Shared { rows: Mutex::new(rows), listener }) }
    }

    /// After a write (whatever its outcome: a failed write may still have
    /// committed), drops the row here, then tells every instance. The write
    /// stands either way; if the message cannot be sent, the others serve
    /// their copy until it ages out ([`MAX_AGE`]).
    async fn write<T>(&self, id: UserId, result: Result<T, StoreError>) -> Result<T, StoreError> {
        lock(&self.shared.rows).forget(Some(id));
        let channel = self.shared.listener.channel();
        if let Err(error) = self.store.publish(channel, &id.as_uuid().to_string()).await {
            tracing::warn!(
                %error,
                max_age_secs = MAX_AGE.as_secs(),
                "user invalidation not published; other instances may serve the old row until it ages out"
            );
        }
        result
    }
}

#[async_trait]
impl UserRepository for RedisCachedUsers {
    async fn insert(&self, user: &User) -> Result<(), StoreError> {
        self.inner.insert(user).await
    }

    async fn insert_promising(
        &self,
        user: &User,
        promised: &[OutboxMessage],
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.inner.insert_promising(user, promised, now).await
    }

    async fn find_by_id(&self, id: UserId) -> Result<Option<User>, StoreError> {
        self.inner.find_by_id(id).await
    }

    async fn find_by_id_cached(&self, id: UserId) -> Result<Option<User>, StoreError> {
        self.shared.listener.ensure(&self.shared).await;
        let epoch = {
            let rows = lock(&self.shared.rows);
            if !rows.subscribed {
                None
            } else if let Some((user, _)) = rows.entries.get(&id).filter(|(_, at)| at.elapsed() < MAX_AGE) {
                return Ok(Some(user.clone()));
            } else {
                Some(rows.epoch)
            }
        };
        let read_at = Instant::now();
        let found = self.inner.find_by_id(id).await?;
        if let (Some(user), Some(epoch)) = (&found, epoch) {
            let mut rows = lock(&self.shared.rows);
            if rows.subscribed && rows.epoch == epoch {
                crate::bounded::make_room(&mut rows.entries, CAPACITY, |_, (_, at)| at.elapsed() < MAX_AGE);
                rows.entries.insert(id, (user.clone(), read_at));
            }
        }
        Ok(found)
    }

    async fn find_by_email(&self, email: &Email) -> Result<Option<User>, StoreError> {
        self.inner.find_by_email(email).await
    }

    async fn update_profile(
        &self,
        id: UserId,
        changes: &ProfileChanges,
        now: OffsetDateTime,
    ) -> Result<User, StoreError> {
        let result = self.inner.update_profile(id, changes, now).await;
        self.write(id, result).await
    }

    async fn mark_email_verified(&self, id: UserId, now: OffsetDateTime) -> Result<User, StoreError> {
        let result = self.inner.mark_email_verified(id, now).await;
        self.write(id, result).await
    }

    async fn set_locked(&self, id: UserId, locked_at: Option<OffsetDateTime>) -> Result<User, StoreError> {
        let result = self.inner.set_locked(id, locked_at).await;
        self.write(id, result).await
    }

    async fn search(
        &self,
        filter: &UserFilter,
        before: Option<UserId>,
        limit: u32,
    ) -> Result<Vec<User>, StoreError> {
        self.inner.search(filter, before, limit).await
    }

    async fn set_password_hash(
        &self,
        id: UserId,
        hash: &PasswordHash,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let result = self.inner.set_password_hash(id, hash, now).await;
        self.write(id, result).await
    }
}
