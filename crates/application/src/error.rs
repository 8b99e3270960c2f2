//! What a use case can fail with. The http crate alone maps these to status
//! codes; nothing here knows about HTTP.

pub use crate::cause::{Cause, chain};
use crate::ports::{HashError, StoreError};
use portcullis_domain::ValidationErrors;
use time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("validation failed: {0}")]
    Validation(ValidationErrors),
    #[error("an account with this email already exists")]
    EmailTaken,
    #[error("invalid email or password")]
    InvalidCredentials,
    #[error("account temporarily locked")]
    AccountLocked { retry_after: Duration },
    #[error("server is busy")]
    Overloaded { retry_after: Duration },
    #[error("refresh token was already used; the session has been revoked")]
    RefreshTokenReused,
    #[error("authentication required")]
    Unauthorized,
    #[error("token is invalid")]
    InvalidToken,
    #[error("token has expired")]
    TokenExpired,
    #[error("the email address has not been verified yet")]
    EmailNotVerified,
    /// An admin locked the account.
    #[error("this account is locked; ask an administrator")]
    AccountDisabled,
    #[error("not allowed")]
    Forbidden,
    #[error("{0} not found")]
    NotFound(&'static str),
    /// Another role has this name.
    #[error("a role with this name already exists")]
    RoleNameTaken,
    /// A system role would lose its name or defining permissions, or be deleted.
    #[error("{0}")]
    RoleProtected(portcullis_domain::role::RoleRuleViolation),
    /// An invitation to an address that has an account, accepted by
    /// someone else than its signed-in owner.
    #[error("{0}")]
    InvitationMismatch(portcullis_domain::invitation::InvitationMismatch),
    /// The upload passed `MAX_FILE_SIZE` (bytes).
    #[error("the file is larger than {limit} bytes")]
    FileTooLarge { limit: u64 },
    /// The bytes are none of the allowed types (`ALLOWED_FILE_TYPES`).
    #[error("the file type is not accepted")]
    UnsupportedFileType { allowed: Vec<&'static str> },
    #[error("the file is empty")]
    EmptyFile,
    /// The client's body ended or failed before the file was complete.
    #[error("the upload was interrupted")]
    UploadInterrupted(#[source] Cause),
    /// The owner has `MAX_FILES_PER_USER` files already.
    #[error("file quota of {quota} reached")]
    QuotaExceeded { quota: u32 },
    /// Only a `ready` file can be downloaded.
    #[error("the file is not ready")]
    FileNotReady { status: portcullis_domain::files::FileStatus },
    /// A presigned upload was confirmed before any bytes reached its URL.
    #[error("nothing was uploaded to the URL yet")]
    UploadMissing,
    /// A storage link whose signature does not match (tampered, or not ours).
    #[error("the link's signature is not valid")]
    InvalidSignature,
    /// A storage link past its expiry.
    #[error("the link has expired")]
    UrlExpired,
    /// A second-factor code that is wrong, used already, or of no factor.
    #[error("the code is not valid")]
    InvalidCode,
    /// The sign-in challenge is unknown, answered already or expired.
    #[error("the sign-in challenge is unknown, answered or expired")]
    ChallengeInvalid,
    #[error("a second factor is on already")]
    MfaAlreadyEnabled,
    #[error("no second factor is on")]
    MfaNotEnabled,
    /// An OAuth callback's state (or an offered link) is unknown, used or
    /// expired, or for another provider.
    #[error("the sign-in request is unknown, used or expired; start again")]
    OAuthStateInvalid,
    /// The provider's answer was refused.
    #[error("the provider's answer was refused: {}", .0.as_str())]
    OAuthRefused(crate::ports::OAuthRefusal),
    /// The provider does not vouch for the address: no account is made
    /// for it, and none is linked by it.
    #[error(
        "the provider has not verified this email address; verify it there, or sign in and link the provider"
    )]
    OAuthEmailUnverified,
    /// The provider account is linked to another user.
    #[error("this provider account is linked to another user")]
    OAuthAccountLinked,
    /// Removing this would leave the account no way to sign in.
    #[error("this is the account's last way to sign in")]
    LastSignInMethod,
    /// A WebAuthn ceremony is unknown, finished or expired.
    #[error("the passkey ceremony is unknown, finished or expired")]
    CeremonyInvalid,
    /// The authenticator's answer did not verify.
    #[error("the authenticator's answer was refused: {}", .0.as_str())]
    WebauthnRefused(crate::ports::CeremonyRefusal),
    /// A sensitive operation needs a sign-in within `REAUTH_WINDOW`.
    #[error("sign in again (or reauthenticate) to do this")]
    ReauthenticationRequired,
    /// Too many of one kind of request (texted codes per user or number).
    #[error("too many requests")]
    RateLimited { retry_after: Duration },
    #[error("a backend is unavailable")]
    Unavailable(#[source] Cause),
    #[error("internal error")]
    Internal(#[source] Cause),
}

impl From<ValidationErrors> for AppError {
    fn from(value: ValidationErrors) -> Self {
        Self::Validation(value)
    }
}

impl From<StoreError> for AppError {
    fn from(value: StoreError) -> Self {
        match value {
            StoreError::NotFound => Self::NotFound("resource"),
            conflict @ StoreError::Conflict(_) => Self::Internal(Cause::new(conflict)),
            unavailable @ StoreError::Unavailable(_) => Self::Unavailable(Cause::new(unavailable)),
        }
    }
}

impl From<HashError> for AppError {
    fn from(value: HashError) -> Self {
        match value {
            HashError::Overloaded { retry_after } => Self::Overloaded { retry_after },
            HashError::Rejected(errors) => Self::Validation(errors),
            internal @ HashError::Internal(_) => Self::Internal(Cause::new(internal)),
        }
    }
}

impl From<portcullis_domain::invitation::InvitationMismatch> for AppError {
    fn from(value: portcullis_domain::invitation::InvitationMismatch) -> Self {
        Self::InvitationMismatch(value)
    }
}
