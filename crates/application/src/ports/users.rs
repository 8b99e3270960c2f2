use super::{OutboxMessage, StoreError};
use async_trait::async_trait;
use portcullis_domain::email::Email;
use portcullis_domain::ids::UserId;
use portcullis_domain::user::{PasswordHash, ProfileChanges, User};
use time::OffsetDateTime;

/// Accounts. Emails are unique (already normalised by [`Email`]).
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait UserRepository: Send + Sync {
    /// `Err(Conflict("email"))` when the email is taken. The new account
    /// holds the system `user` role (same write).
    async fn insert(&self, user: &User) -> Result<(), StoreError>;
    /// Stores a new account together with what its creation promised (the
    /// verification mail) in the outbox, atomically: both or neither.
    /// `Err(Conflict("email"))` when the email is taken.
    async fn insert_promising(
        &self,
        user: &User,
        promised: &[OutboxMessage],
        now: OffsetDateTime,
    ) -> Result<(), StoreError>;
    async fn find_by_id(&self, id: UserId) -> Result<Option<User>, StoreError>;
    /// The account as this instance may have read it recently: a write made
    /// through another instance shows here once its invalidation arrives
    /// (over the same channel as revocations, well under a second) and never
    /// later than the cache's age limit (ADR 0017). For answers that show the
    /// account (`GET /auth/me`, a refresh's answer); a decision on a
    /// credential reads [`Self::find_by_id`]. Without a cache, the same.
    async fn find_by_id_cached(&self, id: UserId) -> Result<Option<User>, StoreError> {
        self.find_by_id(id).await
    }
    async fn find_by_email(&self, email: &Email) -> Result<Option<User>, StoreError>;
    /// Applies the changes and returns the updated user; `Err(NotFound)` if absent.
    async fn update_profile(
        &self,
        id: UserId,
        changes: &ProfileChanges,
        now: OffsetDateTime,
    ) -> Result<User, StoreError>;
    /// Records the verification (keeps the first time); `Err(NotFound)` if absent.
    async fn mark_email_verified(&self, id: UserId, now: OffsetDateTime) -> Result<User, StoreError>;
    /// Locks (`Some(when)`) or unlocks (`None`) the account; `Err(NotFound)` if absent.
    async fn set_locked(&self, id: UserId, locked_at: Option<OffsetDateTime>) -> Result<User, StoreError>;
    /// Accounts matching `filter`, newest first (by id), strictly older than
    /// `before`, at most `limit`.
    async fn search(
        &self,
        filter: &UserFilter,
        before: Option<UserId>,
        limit: u32,
    ) -> Result<Vec<User>, StoreError>;
    /// `Err(NotFound)` if absent.
    async fn set_password_hash(
        &self,
        id: UserId,
        hash: &PasswordHash,
        now: OffsetDateTime,
    ) -> Result<(), StoreError>;
}

/// What the admin's user list narrows to (every part optional).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserFilter {
    /// Part of the (normalised, lower-case) email.
    pub email_contains: Option<String>,
    /// Holders of this role.
    pub role: Option<portcullis_domain::ids::RoleId>,
    /// Locked (`true`) or not.
    pub locked: Option<bool>,
    /// Address verified (`true`) or not.
    pub verified: Option<bool>,
}

impl UserFilter {
    /// Every part but the role (which needs the assignments).
    pub fn matches(&self, u: &User) -> bool {
        self.email_contains.as_deref().is_none_or(|part| u.email.as_str().contains(&part.to_lowercase()))
            && self.locked.is_none_or(|l| u.locked_at.is_some() == l)
            && self.verified.is_none_or(|v| u.email_verified_at.is_some() == v)
    }
}
