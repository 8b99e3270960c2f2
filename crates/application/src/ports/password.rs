use async_trait::async_trait;
use portcullis_domain::ValidationErrors;
use portcullis_domain::password::PasswordPolicy;
use portcullis_domain::secret::Secret;
use portcullis_domain::user::PasswordHash;
use time::Duration;

/// A strength estimate to run on the hashing pool before hashing (zxcvbn costs
/// milliseconds, so it stays off the request workers too).
#[derive(Debug, Clone)]
pub struct StrengthCheck {
    pub policy: PasswordPolicy,
    pub field: &'static str,
    /// The account's own words (email, name): a password built from them is weak.
    pub context: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verification {
    Match { needs_rehash: bool },
    Mismatch,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HashError {
    /// The bounded hashing pool and its queue are full.
    #[error("hashing pool is full")]
    Overloaded { retry_after: Duration },
    /// The strength check failed.
    #[error("password rejected: {0}")]
    Rejected(ValidationErrors),
    #[error("hashing failed")]
    Internal(#[source] crate::cause::Cause),
}

/// Memory-hard password hashing on a bounded pool.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait PasswordHasher: Send + Sync {
    async fn hash(&self, password: &Secret, check: Option<StrengthCheck>) -> Result<PasswordHash, HashError>;
    /// Only the strength estimate, on the same pool: used when other rules
    /// already failed, so the client still hears about every broken rule.
    async fn estimate(&self, password: &Secret, check: StrengthCheck) -> Result<ValidationErrors, HashError>;
    async fn verify(&self, password: &Secret, hash: &PasswordHash) -> Result<Verification, HashError>;
    /// Burns the same time as a real verification, for unknown accounts, so a
    /// response's timing does not reveal whether an email is registered.
    async fn verify_dummy(&self, password: &Secret) -> Result<(), HashError>;
    /// `Some(retry_after)` when the pool is full at this moment, so a caller
    /// can refuse before spending database and cache round trips on a request
    /// the pool would turn away anyway (a login flood). Only a hint: a pool
    /// with room now may still be full when the hash is submitted.
    fn saturated(&self) -> Option<time::Duration> {
        None
    }
}
