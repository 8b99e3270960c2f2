use super::StoreError;
use async_trait::async_trait;
use time::Duration;

/// What the revocation cache knows about a set of ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheAnswer {
    /// One of the ids is listed.
    Revoked,
    /// None is listed, and the cache is complete (it was built from the
    /// database since it last started empty).
    NotRevoked,
    /// The cache started empty (a restart without persistence, a flush) and
    /// has not been rebuilt: "not listed" means nothing.
    Cold,
}

/// A cache of revoked access-token ids (`jti`) and session ids (`sid`) in
/// front of the database, which is the source of truth (a revoked session is
/// a `sessions` row with `revoked_at`). Entries expire when the tokens they
/// name would have expired anyway.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait RevocationList: Send + Sync {
    /// Remembers `id` as revoked for `ttl` (never shortening an entry).
    async fn revoke(&self, id: &str, ttl: Duration) -> Result<(), StoreError>;
    /// Asks about `ids` (an empty list is `NotRevoked` once warm).
    async fn check(&self, ids: &[String]) -> Result<CacheAnswer, StoreError>;
    /// Adds `entries` (id, ttl) and marks the cache complete: what a rebuild
    /// from the database calls.
    async fn warm(&self, entries: &[(String, Duration)]) -> Result<(), StoreError>;
}
