use super::{ObjectKey, ObjectStoreError};
use async_trait::async_trait;
use time::OffsetDateTime;

/// A request a client makes itself, straight to the store: where, how, until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresignedUrl {
    pub url: String,
    /// `PUT` or `GET`.
    pub method: &'static str,
    /// Headers the client must send as given (they are part of the signature).
    pub headers: Vec<(String, String)>,
    pub expires_at: OffsetDateTime,
}

/// Signs URLs for a client to upload or download an object without going
/// through the API: S3's own presigned URLs, or, for the memory and local
/// stores, HMAC-signed links to Portcullis's `/storage` routes.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait UrlPresigner: Send + Sync {
    /// A PUT of exactly `size` bytes to `key`.
    async fn presign_put(
        &self,
        key: &ObjectKey,
        size: u64,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<PresignedUrl, ObjectStoreError>;
    /// A GET of `key`, saved by the browser as `filename`.
    async fn presign_get(
        &self,
        key: &ObjectKey,
        filename: &str,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<PresignedUrl, ObjectStoreError>;
}

/// What a self-served link allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkAccess {
    Put { size: u64 },
    Get { filename: String },
}

/// Checks the links [`UrlPresigner`] made for Portcullis's own `/storage`
/// routes (memory and local stores). Compares in constant time.
#[cfg_attr(feature = "mock", mockall::automock)]
pub trait LinkVerifier: Send + Sync {
    /// Whether `signature` is the one issued for this key, access and expiry
    /// (unix seconds).
    fn verify(&self, key: &ObjectKey, access: &LinkAccess, expires: i64, signature: &str) -> bool;
}
