use super::StoreError;
use async_trait::async_trait;
use portcullis_domain::ids::UserId;
use portcullis_domain::secret::TokenHash;
use time::{Duration, OffsetDateTime};

/// A user's authenticator-app factor. The secret is kept sealed by the
/// [`super::Cipher`] (context `totp:<user id>`), never in the clear.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotpFactor {
    pub user_id: UserId,
    pub sealed_secret: Vec<u8>,
    pub created_at: OffsetDateTime,
    /// `None` while enrolment waits for the first code.
    pub confirmed_at: Option<OffsetDateTime>,
    /// The last step a code was accepted for: no step at or before it is
    /// accepted again.
    pub last_used_step: Option<u64>,
}

/// Second factors and backup codes (the database: source of truth).
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait FactorStore: Send + Sync {
    async fn totp(&self, user: UserId) -> Result<Option<TotpFactor>, StoreError>;
    /// Starts (or restarts) enrolment with a new pending secret. `false`,
    /// changing nothing, when a confirmed factor exists.
    async fn begin_totp(
        &self,
        user: UserId,
        sealed_secret: &[u8],
        now: OffsetDateTime,
    ) -> Result<bool, StoreError>;
    /// Confirms the pending factor with the step of its first code and sets
    /// the backup codes, all or nothing. `false` when nothing is pending
    /// (never enrolled, or confirmed already by a concurrent call).
    async fn confirm_totp(
        &self,
        user: UserId,
        step: u64,
        backup_codes: &[TokenHash],
        now: OffsetDateTime,
    ) -> Result<bool, StoreError>;
    /// Records `step` as used if it is later than the last used one, atomically
    /// (of two concurrent uses of one code, one wins). `false`: replayed, or no
    /// confirmed factor.
    async fn use_totp_step(&self, user: UserId, step: u64) -> Result<bool, StoreError>;
    /// Spends an unused backup code, atomically. `false`: unknown or used.
    async fn use_backup_code(
        &self,
        user: UserId,
        code: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError>;
    /// Replaces every backup code (used or not) with these.
    async fn replace_backup_codes(
        &self,
        user: UserId,
        codes: &[TokenHash],
        now: OffsetDateTime,
    ) -> Result<(), StoreError>;
    /// Unused backup codes.
    async fn backup_codes_left(&self, user: UserId) -> Result<usize, StoreError>;
    /// Removes the TOTP factor (pending or confirmed) and every backup code.
    /// `true` when a confirmed factor was removed.
    async fn remove_totp(&self, user: UserId) -> Result<bool, StoreError>;
}

/// What an authenticator app is given to enrol: the secret in base32, the
/// `otpauth://` URI, and that URI as a QR code (SVG).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotpProvisioning {
    pub secret_base32: String,
    pub otpauth_uri: String,
    pub qr_svg: String,
}

/// The TOTP algorithm (RFC 6238: HMAC-SHA1, 6 digits, 30-second steps).
/// Synchronous: a code takes microseconds.
#[cfg_attr(feature = "mock", mockall::automock)]
pub trait TotpAlgorithm: Send + Sync {
    /// A new random secret (160 bits, as RFC 4226 recommends).
    fn new_secret(&self) -> Vec<u8>;
    /// Whether `code` is the code of `secret` at `step`, compared in constant time.
    fn matches(&self, secret: &[u8], code: &str, step: u64) -> bool;
    /// The enrolment data for `account` (shown in the app beside the issuer).
    fn provisioning(&self, secret: &[u8], account: &str) -> TotpProvisioning;
}

/// Short-lived values shared by every instance (Redis, or memory): sign-in
/// challenges, and later ceremony state. Keys are the caller's; values are
/// opaque bytes.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait EphemeralStore: Send + Sync {
    /// Keeps `value` under `key` for `ttl`, replacing any earlier value.
    async fn put(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), StoreError>;
    /// The value, if it has not expired or been taken.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Removes and returns the value; of concurrent callers, one gets it.
    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
}
