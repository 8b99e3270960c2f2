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

/// A user's phone for texted codes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsFactor {
    pub user_id: UserId,
    /// E.164 (`portcullis_domain::phone::PhoneNumber`).
    pub phone: String,
    pub created_at: OffsetDateTime,
    /// `None` until a texted code proved the number is the user's.
    pub confirmed_at: Option<OffsetDateTime>,
}

/// Which factors a user has, read in one go (every sign-in asks).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FactorSummary {
    pub totp_confirmed: bool,
    pub totp_pending: bool,
    pub sms_confirmed: bool,
    pub sms_pending: bool,
    pub backup_codes_left: usize,
    /// Registered security keys (WebAuthn credentials of that kind).
    pub security_keys: usize,
}

impl FactorSummary {
    /// A second factor is on.
    pub fn any_confirmed(&self) -> bool {
        self.totp_confirmed || self.sms_confirmed || self.security_keys > 0
    }
}

/// Second factors and backup codes (the database: source of truth).
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait FactorStore: Send + Sync {
    /// Every factor's state and the backup codes left, in one read.
    async fn summary(&self, user: UserId) -> Result<FactorSummary, StoreError>;
    async fn totp(&self, user: UserId) -> Result<Option<TotpFactor>, StoreError>;
    /// Starts (or restarts) enrolment with a new pending secret. `false`,
    /// changing nothing, when a confirmed factor exists.
    async fn begin_totp(
        &self,
        user: UserId,
        sealed_secret: &[u8],
        now: OffsetDateTime,
    ) -> Result<bool, StoreError>;
    /// Confirms the pending factor with the step of its first code and, when
    /// `backup_codes` is not empty, replaces the backup codes; all or nothing.
    /// `false` when nothing is pending (never enrolled, or confirmed already
    /// by a concurrent call).
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
    async fn sms(&self, user: UserId) -> Result<Option<SmsFactor>, StoreError>;
    /// Starts (or restarts) enrolling `phone` (E.164), pending until a texted
    /// code confirms it. `false`, changing nothing, when a confirmed phone exists.
    async fn begin_sms(&self, user: UserId, phone: &str, now: OffsetDateTime) -> Result<bool, StoreError>;
    /// Confirms the pending phone and, when `backup_codes` is not empty,
    /// replaces the backup codes; all or nothing. `false` when nothing is pending.
    async fn confirm_sms(
        &self,
        user: UserId,
        backup_codes: &[TokenHash],
        now: OffsetDateTime,
    ) -> Result<bool, StoreError>;
    /// Removes every second factor (app, phone, security keys; pending or
    /// confirmed) and every backup code, in one transaction. Passkeys (a
    /// first factor) stay. `true` when a confirmed factor was removed.
    async fn remove_all(&self, user: UserId) -> Result<bool, StoreError>;
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

/// A text message as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextMessage {
    /// E.164.
    pub to: String,
    pub body: String,
}

/// Sends text messages (Twilio, or an in-memory outbox).
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait SmsSender: Send + Sync {
    /// Sends `body` to `to` (E.164).
    async fn send(&self, to: &str, body: &str) -> Result<(), SmsError>;
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SmsError {
    /// The provider refused the message for good (a number it cannot reach,
    /// bad credentials): retrying will not help.
    #[error("the text message was refused: {0}")]
    Rejected(crate::Cause),
    /// The provider could not be reached or asked to slow down: retry later.
    #[error("the text message provider is unavailable: {0}")]
    Unavailable(crate::Cause),
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
