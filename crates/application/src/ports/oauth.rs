use async_trait::async_trait;
use portcullis_domain::secret::Secret;
use time::Duration;

/// A sign-in begun at a provider: where to send the browser, and what the
/// callback must match (kept server-side, never in the browser).
#[derive(Debug, Clone)]
pub struct AuthorizationStart {
    pub url: String,
    /// The `state` parameter (CSRF protection): the callback must bring it back.
    pub state: Secret,
    /// PKCE (S256): the verifier whose hash went to the provider.
    pub pkce_verifier: Secret,
    /// OpenID Connect's `nonce`, which the ID token must carry (none for
    /// plain OAuth providers such as GitHub).
    pub nonce: Option<Secret>,
}

/// Who the provider says signed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderIdentity {
    /// The provider's stable id for the user (`sub`, GitHub's numeric id).
    pub subject: String,
    pub email: Option<String>,
    /// The provider vouches for the address.
    pub email_verified: bool,
    pub name: Option<String>,
}

/// The provider's tokens (kept sealed by the Cipher, never in the clear).
#[derive(Debug, Clone)]
pub struct ProviderTokens {
    pub access_token: Secret,
    pub refresh_token: Option<Secret>,
    pub expires_in: Option<Duration>,
}

/// Why a provider's answer was refused (the client's or the provider's
/// doing, never a fault on our side).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OAuthRefusal {
    /// The provider refused the code (used already, expired, another client).
    CodeRejected,
    /// The ID token's signature, issuer, audience or expiry does not verify.
    InvalidIdToken,
    /// The ID token carries another nonce than the one sent.
    NonceMismatch,
    /// The provider's answer names no user.
    NoIdentity,
    /// The provider gave no usable email address (one is needed to create
    /// or find an account).
    NoEmail,
    /// The user (or the provider) declined the authorization.
    Denied,
}

impl OAuthRefusal {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CodeRejected => "code_rejected",
            Self::InvalidIdToken => "invalid_id_token",
            Self::NonceMismatch => "nonce_mismatch",
            Self::NoIdentity => "no_identity",
            Self::NoEmail => "no_email",
            Self::Denied => "denied",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    #[error("no such provider is configured")]
    UnknownProvider,
    #[error("the provider's answer was refused: {}", .0.as_str())]
    Refused(OAuthRefusal),
    /// The provider could not be reached, or answered nonsense.
    #[error("the provider is unavailable: {0}")]
    Unavailable(crate::Cause),
}

/// The configured OAuth 2.0 / OpenID Connect providers (`OAUTH_PROVIDERS`).
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait IdentityProviders: Send + Sync {
    /// The providers' names, as configured.
    fn names(&self) -> Vec<String>;
    /// A new authorization request (state, PKCE S256, and a nonce for OIDC)
    /// whose callback is `redirect_uri`.
    async fn start(&self, provider: &str, redirect_uri: &str) -> Result<AuthorizationStart, ProviderError>;
    /// Exchanges the callback's code (with the PKCE verifier), verifies the
    /// ID token (signature by the provider's JWKS, `iss`, `aud`, `exp`,
    /// `nonce`) or reads the profile (GitHub), and says who signed in.
    async fn finish(
        &self,
        provider: &str,
        redirect_uri: &str,
        code: &Secret,
        pkce_verifier: &Secret,
        nonce: Option<Secret>,
    ) -> Result<(ProviderIdentity, ProviderTokens), ProviderError>;
}

/// A provider account linked to a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkedAccount {
    pub id: uuid::Uuid,
    pub user_id: portcullis_domain::ids::UserId,
    pub provider: String,
    /// The provider's id for the user.
    pub subject: String,
    /// The address the provider gave when linking (shown, not trusted).
    pub email: Option<String>,
    /// The provider's tokens, sealed by the [`super::Cipher`].
    pub sealed_tokens: Option<Vec<u8>>,
    pub created_at: time::OffsetDateTime,
    pub last_used_at: Option<time::OffsetDateTime>,
}

/// Linked provider accounts (the database: source of truth).
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait LinkedAccountStore: Send + Sync {
    /// `Conflict("provider_subject")` when the provider account is linked
    /// already (to anyone).
    async fn link(&self, account: &LinkedAccount) -> Result<(), super::StoreError>;
    async fn find(&self, provider: &str, subject: &str) -> Result<Option<LinkedAccount>, super::StoreError>;
    /// A user's linked accounts, oldest first.
    async fn list(
        &self,
        user: portcullis_domain::ids::UserId,
    ) -> Result<Vec<LinkedAccount>, super::StoreError>;
    /// `false` when the user has no such link.
    async fn unlink(
        &self,
        user: portcullis_domain::ids::UserId,
        id: uuid::Uuid,
    ) -> Result<bool, super::StoreError>;
    /// Records a sign-in through the link, with the provider's new tokens.
    async fn record_use(
        &self,
        id: uuid::Uuid,
        sealed_tokens: Option<Vec<u8>>,
        now: time::OffsetDateTime,
    ) -> Result<bool, super::StoreError>;
}
