//! WebAuthn from the user's side: registering passkeys (a first factor) and
//! security keys (a second factor), listing, renaming and removing them, and
//! signing in with a passkey. A ceremony's state waits in the ephemeral
//! store for `CEREMONY_TTL` under the hash of an id the client holds, and is
//! taken once.

use super::notices::Notices;
use super::second_factor::SecondFactors;
use super::{Authenticated, SessionIssuer, SignIn};
use crate::audit_trail::AuditTrail;
use crate::error::AppError;
use crate::mail::SecurityEvent;
use crate::ports::{
    AccessClaims, CeremonyError, CeremonyRefusal, Clock, CredentialOwner, CredentialStore, EphemeralStore,
    StoreError, TokenGenerator, UserRepository, WebauthnCeremonies, WebauthnCredential,
};
use portcullis_domain::ValidationErrors;
use portcullis_domain::audit::{AuditAction, RequestContext};
use portcullis_domain::ids::UserId;
use portcullis_domain::secret::{Secret, TokenHash};
use portcullis_domain::session::SignInMethod;
use portcullis_domain::webauthn::{CredentialKind, MAX_CREDENTIALS_PER_USER, credential_name};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::sync::Arc;
use time::Duration;

/// How long a begun ceremony can be finished.
pub const CEREMONY_TTL: Duration = Duration::minutes(5);

/// What a ceremony was begun for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "for", rename_all = "snake_case")]
pub(crate) enum Purpose {
    Register {
        user_id: uuid::Uuid,
        kind: CredentialKind,
    },
    SignIn,
    /// Answering the sign-in challenge stored under this key.
    Challenge {
        challenge_key: String,
    },
}

#[derive(Serialize, Deserialize)]
struct Pending {
    purpose: Purpose,
    state: Vec<u8>,
}

/// A ceremony begun: its id (shown once) and the browser's options.
#[derive(Debug, Clone)]
pub struct Ceremony {
    pub id: Secret,
    pub options: Value,
    pub expires_in: Duration,
}

fn ceremony_key(id: &Secret) -> String {
    format!("webauthn-ceremony:{}", TokenHash::of(id).to_hex())
}

fn refused(e: CeremonyError) -> AppError {
    match e {
        CeremonyError::Refused(reason) => AppError::WebauthnRefused(reason),
        CeremonyError::Internal(cause) => AppError::Internal(cause),
    }
}

/// The part every WebAuthn flow shares: the store, the ceremonies, where
/// their state waits.
#[derive(Clone)]
pub struct Ceremonies {
    pub credentials: Arc<dyn CredentialStore>,
    pub ceremonies: Arc<dyn WebauthnCeremonies>,
    pub states: Arc<dyn EphemeralStore>,
    pub tokens: Arc<dyn TokenGenerator>,
    pub clock: Arc<dyn Clock>,
}

impl Ceremonies {
    pub(crate) async fn begin(
        &self,
        purpose: Purpose,
        start: Result<crate::ports::CeremonyStart, CeremonyError>,
    ) -> Result<Ceremony, AppError> {
        let start = start.map_err(refused)?;
        let id = self.tokens.refresh_token();
        let pending = serde_json::to_vec(&Pending { purpose, state: start.state })
            .map_err(|e| AppError::Internal(crate::Cause::context("could not encode a ceremony", e)))?;
        self.states.put(&ceremony_key(&id), &pending, CEREMONY_TTL).await?;
        Ok(Ceremony { id, options: start.options, expires_in: CEREMONY_TTL })
    }

    /// Takes a begun ceremony (once); unknown, expired or finished: 401
    /// WEBAUTHN_CEREMONY_INVALID.
    async fn take(&self, id: &Secret) -> Result<(Purpose, Vec<u8>), AppError> {
        if id.expose().is_empty() || id.expose().len() > 256 {
            return Err(AppError::CeremonyInvalid);
        }
        let raw = self.states.take(&ceremony_key(id)).await?.ok_or(AppError::CeremonyInvalid)?;
        let pending: Pending = serde_json::from_slice(&raw).map_err(|_| AppError::CeremonyInvalid)?;
        Ok((pending.purpose, pending.state))
    }

    /// Takes the ceremony `id`, which must have been begun for `purpose`.
    pub(crate) async fn take_for(&self, id: &Secret, purpose: &Purpose) -> Result<Vec<u8>, AppError> {
        match self.take(id).await? {
            (found, state) if &found == purpose => Ok(state),
            _ => Err(AppError::CeremonyInvalid),
        }
    }

    /// The registered credential an assertion names.
    pub(crate) async fn asserted(&self, response: &Value) -> Result<WebauthnCredential, AppError> {
        let id = self.ceremonies.credential_id_of(response).map_err(refused)?;
        self.credentials
            .find_by_credential_id(&id)
            .await?
            .ok_or(AppError::WebauthnRefused(CeremonyRefusal::UnknownCredential))
    }

    /// Verifies an assertion by `credential` and records its counter: a
    /// counter that did not go up (checked by the ceremony against the
    /// stored one, and again by the store against a concurrent use) is a
    /// cloned authenticator. `Ok(Err(_))`: refused by the client's fault.
    pub(crate) async fn verify(
        &self,
        credential: &WebauthnCredential,
        response: &Value,
        state: &[u8],
    ) -> Result<Result<(), CeremonyRefusal>, AppError> {
        let assertion = match self.ceremonies.finish_authentication(credential, response, state) {
            Ok(assertion) => assertion,
            Err(CeremonyError::Refused(reason)) => return Ok(Err(reason)),
            Err(CeremonyError::Internal(cause)) => return Err(AppError::Internal(cause)),
        };
        let now = self.clock.now();
        if !self.credentials.record_use(credential.id, assertion.sign_count, &assertion.data, now).await? {
            return Ok(Err(CeremonyRefusal::CounterWentBack));
        }
        Ok(Ok(()))
    }
}

/// Registered credentials, as listed.
pub type Credentials = Vec<WebauthnCredential>;

#[derive(Clone)]
pub struct WebauthnService {
    pub users: Arc<dyn UserRepository>,
    pub parts: Ceremonies,
    pub second: SecondFactors,
    pub issuer: SessionIssuer,
    pub notices: Notices,
    pub audit: AuditTrail,
    pub clock: Arc<dyn Clock>,
    pub reauth_window: Duration,
}

impl WebauthnService {
    async fn user(&self, id: UserId) -> Result<portcullis_domain::user::User, AppError> {
        self.users.find_by_id(id).await?.ok_or(AppError::Unauthorized)
    }

    /// Begins registering a passkey or a security key. Adding a way in
    /// needs a recent sign-in.
    pub async fn start_registration(
        &self,
        claims: &AccessClaims,
        kind: CredentialKind,
    ) -> Result<Ceremony, AppError> {
        super::require_recent(claims, self.clock.now(), self.reauth_window)?;
        let user = self.user(claims.user_id).await?;
        let existing = self.parts.credentials.list(user.id).await?;
        if existing.len() >= MAX_CREDENTIALS_PER_USER {
            return Err(AppError::Validation(ValidationErrors::single(
                "kind",
                "too_many",
                format!("an account has at most {MAX_CREDENTIALS_PER_USER} passkeys and security keys"),
            )));
        }
        let owner = CredentialOwner {
            handle: user.id.as_uuid(),
            name: user.email.as_str().to_owned(),
            display_name: user.name_for_mail().unwrap_or(user.email.as_str()).to_owned(),
        };
        let exclude: Vec<Vec<u8>> = existing.into_iter().map(|c| c.credential_id).collect();
        let start = self.parts.ceremonies.start_registration(kind, &owner, &exclude);
        self.parts.begin(Purpose::Register { user_id: user.id.as_uuid(), kind }, start).await
    }

    /// Finishes a registration begun by the same user. A first security key
    /// (the account's first second factor) comes with ten backup codes.
    pub async fn finish_registration(
        &self,
        claims: &AccessClaims,
        kind: CredentialKind,
        ceremony_id: &Secret,
        name: Option<&str>,
        response: &Value,
        ctx: &RequestContext,
    ) -> Result<(WebauthnCredential, Vec<String>), AppError> {
        let name = credential_name(name.unwrap_or(kind.default_name()))?;
        let user = self.user(claims.user_id).await?;
        let purpose = Purpose::Register { user_id: user.id.as_uuid(), kind };
        let state = self.parts.take_for(ceremony_id, &purpose).await?;
        let new = self.parts.ceremonies.finish_registration(kind, response, &state).map_err(refused)?;
        let now = self.clock.now();
        // A security key is a second factor: the account's first brings backup codes.
        let (codes, hashes) = match kind {
            CredentialKind::SecurityKey => {
                self.second.backup_codes_for_first_factor(&self.second.factors.summary(user.id).await?)
            }
            CredentialKind::Passkey => (Vec::new(), Vec::new()),
        };
        let credential = WebauthnCredential {
            id: uuid::Uuid::now_v7(),
            user_id: user.id,
            kind,
            credential_id: new.credential_id,
            name,
            data: new.data,
            sign_count: new.sign_count,
            created_at: now,
            last_used_at: None,
        };
        match self.parts.credentials.add(&credential).await {
            Err(StoreError::Conflict(_)) => {
                return Err(AppError::Validation(ValidationErrors::single(
                    "credential",
                    "already_registered",
                    "this authenticator is registered already",
                )));
            }
            other => other?,
        }
        if !hashes.is_empty() {
            self.second.factors.replace_backup_codes(user.id, &hashes, now).await?;
        }
        let event = match kind {
            CredentialKind::Passkey => SecurityEvent::PasskeyAdded,
            CredentialKind::SecurityKey => SecurityEvent::MfaEnabled,
        };
        self.notices.security_alert(&user, event, ctx).await;
        let details = json!({ "credential": credential.id, "kind": kind.as_str() });
        self.audit.record(AuditAction::WebauthnRegistered, Some(user.id), ctx, details).await;
        Ok((credential, codes))
    }

    pub async fn list(&self, claims: &AccessClaims) -> Result<Credentials, AppError> {
        Ok(self.parts.credentials.list(claims.user_id).await?)
    }

    pub async fn rename(&self, claims: &AccessClaims, id: uuid::Uuid, name: &str) -> Result<(), AppError> {
        let name = credential_name(name)?;
        if !self.parts.credentials.rename(claims.user_id, id, &name).await? {
            return Err(AppError::NotFound("credential"));
        }
        Ok(())
    }

    /// Removes a credential; needs a recent sign-in.
    pub async fn remove(
        &self,
        claims: &AccessClaims,
        id: uuid::Uuid,
        ctx: &RequestContext,
    ) -> Result<(), AppError> {
        super::require_recent(claims, self.clock.now(), self.reauth_window)?;
        let user = self.user(claims.user_id).await?;
        let kind =
            self.parts.credentials.list(user.id).await?.into_iter().find(|c| c.id == id).map(|c| c.kind);
        let Some(kind) = kind else { return Err(AppError::NotFound("credential")) };
        if !self.parts.credentials.remove(user.id, id).await? {
            return Err(AppError::NotFound("credential"));
        }
        self.notices.security_alert(&user, SecurityEvent::PasskeyRemoved, ctx).await;
        let details = json!({ "credential": id, "kind": kind.as_str() });
        self.audit.record(AuditAction::WebauthnRemoved, Some(user.id), ctx, details).await;
        Ok(())
    }

    /// Begins a passkey sign-in with no account named: the browser offers
    /// the passkeys it holds for this site (no enumeration: the answer is
    /// the same for everyone).
    pub async fn start_sign_in(&self) -> Result<Ceremony, AppError> {
        let start = self.parts.ceremonies.start_discoverable();
        self.parts.begin(Purpose::SignIn, start).await
    }

    /// Finishes a passkey sign-in: a first factor, so it ends in a challenge
    /// when the account has a second factor.
    pub async fn finish_sign_in(
        &self,
        ceremony_id: &Secret,
        response: &Value,
        ctx: &RequestContext,
    ) -> Result<SignIn, AppError> {
        let state = self.parts.take_for(ceremony_id, &Purpose::SignIn).await?;
        let outcome = async {
            let credential = self.parts.asserted(response).await?;
            if credential.kind != CredentialKind::Passkey {
                return Err(AppError::WebauthnRefused(CeremonyRefusal::UnknownCredential));
            }
            self.parts.verify(&credential, response, &state).await?.map_err(AppError::WebauthnRefused)?;
            Ok(credential)
        }
        .await;
        let credential = match outcome {
            Ok(credential) => credential,
            Err(AppError::WebauthnRefused(reason)) => {
                let details = json!({ "method": "passkey", "reason": reason.as_str() });
                self.audit.record(AuditAction::LoginFailed, None, ctx, details).await;
                return Err(AppError::WebauthnRefused(reason));
            }
            Err(other) => return Err(other),
        };
        let user = self.users.find_by_id(credential.user_id).await?.ok_or(AppError::Unauthorized)?;
        if user.locked_at.is_some() {
            return Err(AppError::AccountDisabled);
        }
        if let Some(challenge) = self.second.challenge(&user, SignInMethod::Passkey, ctx).await? {
            return Ok(SignIn::MfaRequired(challenge));
        }
        let tokens = self.issuer.start(&user, SignInMethod::Passkey, None, ctx).await?;
        let details = json!({ "method": "passkey", "credential": credential.id });
        self.audit.record(AuditAction::LoginSucceeded, Some(user.id), ctx, details).await;
        Ok(SignIn::Complete(Authenticated { tokens, user }))
    }
}
