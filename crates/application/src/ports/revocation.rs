use super::StoreError;
use async_trait::async_trait;
use time::Duration;

/// Access tokens are stateless JWTs; this list holds the token ids (`jti`) and
/// session ids (`sid`) that must be refused before they expire on their own.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait RevocationList: Send + Sync {
    /// Remembers `id` as revoked for `ttl` (then the token has expired anyway).
    async fn revoke(&self, id: &str, ttl: Duration) -> Result<(), StoreError>;
    /// True if any of `ids` is revoked.
    async fn any_revoked(&self, ids: &[String]) -> Result<bool, StoreError>;
}
