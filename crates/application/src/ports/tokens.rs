use portcullis_domain::ids::{SessionId, UserId};
use portcullis_domain::secret::Secret;
use time::{Duration, OffsetDateTime};

/// What a verified access token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessClaims {
    pub user_id: UserId,
    pub session_id: SessionId,
    pub token_id: String,
    pub issued_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    /// The session's trust score (0–100) when the token was issued.
    pub trust_score: u8,
    /// How the user authenticated (RFC 8176 references, e.g. `pwd`, `otp`, `mfa`).
    pub amr: Vec<String>,
    /// When the user last authenticated in this session (sign-in or step-up).
    pub auth_time: OffsetDateTime,
}

/// What an access token is issued for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccessGrant {
    pub user_id: UserId,
    pub session_id: SessionId,
    /// The token never outlives this (the session's idle and absolute
    /// deadlines): it expires at the earlier of `now + ttl()` and this.
    pub not_after: OffsetDateTime,
    pub trust_score: u8,
    /// What the session's sign-in proved, and when.
    pub authentication: portcullis_domain::session::Authentication,
}

#[derive(Debug, Clone)]
pub struct IssuedAccessToken {
    pub token: Secret,
    pub claims: AccessClaims,
    pub expires_in: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("token is invalid")]
    Invalid,
    #[error("token has expired")]
    Expired,
    #[error("token signing failed")]
    Signing(#[source] crate::cause::Cause),
}

/// Signs and verifies access tokens (JWT), and publishes the verification keys.
/// Synchronous: signing and verifying take microseconds.
#[cfg_attr(feature = "mock", mockall::automock)]
pub trait AccessTokenIssuer: Send + Sync {
    fn issue(&self, grant: &AccessGrant, now: OffsetDateTime) -> Result<IssuedAccessToken, TokenError>;
    fn verify(&self, token: &str, now: OffsetDateTime) -> Result<AccessClaims, TokenError>;
    /// The JSON Web Key Set with the public key(s).
    fn jwks(&self) -> serde_json::Value;
    fn ttl(&self) -> Duration;
}

/// Unguessable tokens.
#[cfg_attr(feature = "mock", mockall::automock)]
pub trait TokenGenerator: Send + Sync {
    /// 32 random bytes, base64url.
    fn refresh_token(&self) -> Secret;
    /// A backup code: 16 characters of lowercase base32 (80 bits), canonical
    /// form (see `portcullis_domain::mfa::normalize_code`).
    fn backup_code(&self) -> Secret;
    /// A code to text: `SMS_CODE_DIGITS` decimal digits, uniformly random.
    fn sms_code(&self) -> Secret;
}
