use super::lock;
use super::{MemoryOutboxStore, MemoryRoleStore};
use async_trait::async_trait;
use portcullis_application::ports::{OutboxMessage, StoreError, UserFilter, UserRepository};
use portcullis_domain::email::Email;
use portcullis_domain::ids::UserId;
use portcullis_domain::user::{PasswordHash, ProfileChanges, User};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use time::OffsetDateTime;

#[derive(Default)]
struct State {
    by_id: HashMap<UserId, User>,
    by_email: HashMap<String, UserId>,
}

/// Accounts, the outbox their creation writes to (shared with the relay when
/// wired with [`MemoryUserRepository::with_outbox`]), and the role store that
/// learns of each new account (its `user` role).
#[derive(Default)]
pub struct MemoryUserRepository(Mutex<State>, Arc<MemoryOutboxStore>, Arc<MemoryRoleStore>);

impl MemoryUserRepository {
    pub fn with_outbox(outbox: Arc<MemoryOutboxStore>) -> Self {
        Self(Mutex::default(), outbox, Arc::default())
    }

    /// Shares `outbox` and `roles` (what the application wires).
    pub fn with_outbox_and_roles(outbox: Arc<MemoryOutboxStore>, roles: Arc<MemoryRoleStore>) -> Self {
        Self(Mutex::default(), outbox, roles)
    }

    fn add(&self, user: &User, promised: &[OutboxMessage], now: OffsetDateTime) -> Result<(), StoreError> {
        let mut state = lock(&self.0);
        if state.by_email.contains_key(user.email.as_str()) {
            return Err(StoreError::Conflict("email"));
        }
        if state.by_id.contains_key(&user.id) {
            return Err(StoreError::Conflict("id"));
        }
        state.by_email.insert(user.email.as_str().to_owned(), user.id);
        state.by_id.insert(user.id, user.clone());
        self.2.account_created(user.id);
        // Under the same lock: nobody sees the user without its promises.
        for message in promised {
            self.1.push(message, now);
        }
        Ok(())
    }
}

#[async_trait]
impl UserRepository for MemoryUserRepository {
    async fn insert(&self, user: &User) -> Result<(), StoreError> {
        self.add(user, &[], user.created_at)
    }

    async fn insert_promising(
        &self,
        user: &User,
        promised: &[OutboxMessage],
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.add(user, promised, now)
    }

    async fn find_by_id(&self, id: UserId) -> Result<Option<User>, StoreError> {
        Ok(lock(&self.0).by_id.get(&id).cloned())
    }

    async fn find_by_email(&self, email: &Email) -> Result<Option<User>, StoreError> {
        let state = lock(&self.0);
        Ok(state.by_email.get(email.as_str()).and_then(|id| state.by_id.get(id)).cloned())
    }

    async fn update_profile(
        &self,
        id: UserId,
        changes: &ProfileChanges,
        now: OffsetDateTime,
    ) -> Result<User, StoreError> {
        let mut state = lock(&self.0);
        let user = state.by_id.get_mut(&id).ok_or(StoreError::NotFound)?;
        if let Some(name) = &changes.display_name {
            user.display_name = name.clone();
        }
        user.updated_at = now;
        Ok(user.clone())
    }

    async fn mark_email_verified(&self, id: UserId, now: OffsetDateTime) -> Result<User, StoreError> {
        let mut state = lock(&self.0);
        let user = state.by_id.get_mut(&id).ok_or(StoreError::NotFound)?;
        user.email_verified_at.get_or_insert(now);
        Ok(user.clone())
    }

    async fn set_locked(&self, id: UserId, locked_at: Option<OffsetDateTime>) -> Result<User, StoreError> {
        let mut state = lock(&self.0);
        let user = state.by_id.get_mut(&id).ok_or(StoreError::NotFound)?;
        user.locked_at = locked_at;
        Ok(user.clone())
    }

    async fn search(
        &self,
        filter: &UserFilter,
        before: Option<UserId>,
        limit: u32,
    ) -> Result<Vec<User>, StoreError> {
        let holders = filter.role.map(|role| self.2.holders(role));
        let state = lock(&self.0);
        let mut found: Vec<User> = state
            .by_id
            .values()
            .filter(|u| filter.matches(u))
            .filter(|u| holders.as_ref().is_none_or(|h| h.contains(&u.id)))
            .filter(|u| before.is_none_or(|b| u.id < b))
            .cloned()
            .collect();
        found.sort_by_key(|u| std::cmp::Reverse(u.id));
        found.truncate(limit as usize);
        Ok(found)
    }

    async fn set_password_hash(
        &self,
        id: UserId,
        hash: &PasswordHash,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut state = lock(&self.0);
        let user = state.by_id.get_mut(&id).ok_or(StoreError::NotFound)?;
        user.password_hash = hash.clone();
        user.updated_at = now;
        Ok(())
    }
}
