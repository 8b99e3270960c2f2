use super::StoreError;
use async_trait::async_trait;
use portcullis_domain::ids::UserId;
use portcullis_domain::webauthn::CredentialKind;
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

/// A registered WebAuthn credential. Nothing here is secret: the private
/// key never leaves the authenticator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebauthnCredential {
    pub id: Uuid,
    pub user_id: UserId,
    pub kind: CredentialKind,
    /// The authenticator's credential id (unique across all users).
    pub credential_id: Vec<u8>,
    pub name: String,
    /// The ceremony adapter's serialised credential (public key, counter,
    /// flags), opaque to the use cases.
    pub data: String,
    /// The last signature counter seen (0: the authenticator keeps none).
    pub sign_count: u32,
    pub created_at: OffsetDateTime,
    pub last_used_at: Option<OffsetDateTime>,
}

/// WebAuthn credentials (the database: source of truth).
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait CredentialStore: Send + Sync {
    /// `Conflict("credential_id")` when the authenticator's id is registered
    /// already (to anyone).
    async fn add(&self, credential: &WebauthnCredential) -> Result<(), StoreError>;
    /// A user's credentials, oldest first.
    async fn list(&self, user: UserId) -> Result<Vec<WebauthnCredential>, StoreError>;
    async fn find_by_credential_id(
        &self,
        credential_id: &[u8],
    ) -> Result<Option<WebauthnCredential>, StoreError>;
    /// `false` when the user has no such credential.
    async fn rename(&self, user: UserId, id: Uuid, name: &str) -> Result<bool, StoreError>;
    /// `false` when the user has no such credential.
    async fn remove(&self, user: UserId, id: Uuid) -> Result<bool, StoreError>;
    /// Records a verified assertion: the new counter and data, only if the
    /// counter advances (`domain::webauthn::counter_advances`), atomically —
    /// of two uses with one counter value, one wins. `false`: it went back.
    async fn record_use(
        &self,
        id: Uuid,
        sign_count: u32,
        data: &str,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError>;
}

/// Who a credential is registered for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialOwner {
    /// The WebAuthn user handle: stable, not personal (the user's id).
    pub handle: Uuid,
    pub name: String,
    pub display_name: String,
}

/// A ceremony begun: the options for the browser
/// (`navigator.credentials.create/get`), and the state that finishes it
/// (kept server-side in the ephemeral store, never sent).
#[derive(Debug, Clone, PartialEq)]
pub struct CeremonyStart {
    pub options: Value,
    pub state: Vec<u8>,
}

/// A registration verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCredential {
    pub credential_id: Vec<u8>,
    pub data: String,
    pub sign_count: u32,
}

/// An assertion verified: the counter it carried and the credential's data
/// brought up to date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assertion {
    pub sign_count: u32,
    pub data: String,
}

/// Why a ceremony's answer was refused (the client's doing, never ours).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CeremonyRefusal {
    /// Unreadable, or not an answer to this ceremony's challenge.
    Malformed,
    /// Made for another site: the origin or RP id does not match.
    WrongOrigin,
    /// The signature (or attestation) does not verify.
    BadSignature,
    /// The authenticator did not verify the user (a passkey needs it).
    UserNotVerified,
    /// The signature counter did not go up: a cloned authenticator.
    CounterWentBack,
    /// A credential the ceremony did not allow, or that is not registered.
    UnknownCredential,
}

impl CeremonyRefusal {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::WrongOrigin => "wrong_origin",
            Self::BadSignature => "bad_signature",
            Self::UserNotVerified => "user_not_verified",
            Self::CounterWentBack => "counter_went_back",
            Self::UnknownCredential => "unknown_credential",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CeremonyError {
    #[error("the authenticator's answer was refused: {}", .0.as_str())]
    Refused(CeremonyRefusal),
    /// Our side failed (state that does not decode, a broken setting).
    #[error("the ceremony failed: {0}")]
    Internal(crate::Cause),
}

/// The WebAuthn ceremonies (webauthn-rs): relying party id and origin are
/// the adapter's configuration. Synchronous: each step is a few signature
/// checks.
#[cfg_attr(feature = "mock", mockall::automock)]
pub trait WebauthnCeremonies: Send + Sync {
    /// Begins registering a credential of `kind`; `exclude` lists credential
    /// ids the authenticator must not register again.
    fn start_registration(
        &self,
        kind: CredentialKind,
        owner: &CredentialOwner,
        exclude: &[Vec<u8>],
    ) -> Result<CeremonyStart, CeremonyError>;
    fn finish_registration(
        &self,
        kind: CredentialKind,
        response: &Value,
        state: &[u8],
    ) -> Result<NewCredential, CeremonyError>;
    /// Begins an assertion by one of `credentials` (all of one kind).
    fn start_authentication(
        &self,
        kind: CredentialKind,
        credentials: &[WebauthnCredential],
    ) -> Result<CeremonyStart, CeremonyError>;
    /// Begins a passkey assertion with no account named: the authenticator
    /// offers its discoverable credentials.
    fn start_discoverable(&self) -> Result<CeremonyStart, CeremonyError>;
    /// The credential id an assertion says it was made with (to look it up).
    fn credential_id_of(&self, response: &Value) -> Result<Vec<u8>, CeremonyError>;
    /// Verifies an assertion by `credential` against the ceremony's state.
    fn finish_authentication(
        &self,
        credential: &WebauthnCredential,
        response: &Value,
        state: &[u8],
    ) -> Result<Assertion, CeremonyError>;
}
