use super::{OutboxMessage, StoreError};
use async_trait::async_trait;
use portcullis_domain::ids::{InvitationId, UserId};
use portcullis_domain::invitation::Invitation;
use portcullis_domain::secret::TokenHash;
use time::OffsetDateTime;

/// Invitations and their single-use tokens (kept only as hashes).
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait InvitationStore: Send + Sync {
    /// Stores the invitation with the mail it promises (the outbox), both or
    /// neither.
    async fn insert(
        &self,
        invitation: &Invitation,
        promised: &[OutboxMessage],
        now: OffsetDateTime,
    ) -> Result<(), StoreError>;
    /// Every invitation, newest first, at most `limit`.
    async fn list(&self, limit: u32) -> Result<Vec<Invitation>, StoreError>;
    async fn find_by_token(&self, token: &TokenHash) -> Result<Option<Invitation>, StoreError>;
    /// Withdraws a pending invitation; `false` if there is none (unknown,
    /// accepted, withdrawn already).
    async fn revoke(&self, id: InvitationId, now: OffsetDateTime) -> Result<bool, StoreError>;
    /// Replaces the token of a pending invitation (the mail job mints the
    /// token it sends, so no raw token waits in a queue); returns the
    /// invitation, or `None` when it is no longer pending at `now`.
    async fn reissue(
        &self,
        id: InvitationId,
        token: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<Option<Invitation>, StoreError>;
    /// Marks the invitation of `token` accepted by `user` if it is still
    /// pending at `now` (not accepted, withdrawn or expired), atomically:
    /// of concurrent calls, one wins. Returns it then; `None` otherwise.
    async fn redeem(
        &self,
        token: &TokenHash,
        user: UserId,
        now: OffsetDateTime,
    ) -> Result<Option<Invitation>, StoreError>;
}
