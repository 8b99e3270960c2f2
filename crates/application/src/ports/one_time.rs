use super::StoreError;
use async_trait::async_trait;
use portcullis_domain::ids::UserId;
use portcullis_domain::one_time::TokenPurpose;
use portcullis_domain::secret::TokenHash;
use time::OffsetDateTime;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consumed {
    /// The token was valid and is now used up.
    Valid(UserId),
    Expired,
    /// Unknown, already used, superseded, or issued for another purpose.
    Invalid,
}

/// Single-use tokens, stored as hashes.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait OneTimeTokenStore: Send + Sync {
    /// Stores a new token; the user's older unused tokens of this purpose stop
    /// working (atomically).
    async fn issue(
        &self,
        purpose: TokenPurpose,
        user_id: UserId,
        hash: &TokenHash,
        now: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> Result<(), StoreError>;
    /// Uses the token up if it is valid for `purpose`; exactly one of many
    /// concurrent callers gets `Valid`.
    async fn consume(
        &self,
        purpose: TokenPurpose,
        hash: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<Consumed, StoreError>;
    /// What `consume` would answer, without using the token up (to check a
    /// new password against the account before spending the link).
    async fn peek(
        &self,
        purpose: TokenPurpose,
        hash: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<Consumed, StoreError>;
    /// Ends every unused token of the user for these purposes (a credential
    /// changed: links mailed before must not work after); returns how many.
    async fn invalidate(
        &self,
        user_id: UserId,
        purposes: &[TokenPurpose],
        now: OffsetDateTime,
    ) -> Result<u64, StoreError>;
}
