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
    /// `Err(NotFound)` if absent.
    async fn set_password_hash(
        &self,
        id: UserId,
        hash: &PasswordHash,
        now: OffsetDateTime,
    ) -> Result<(), StoreError>;
}
