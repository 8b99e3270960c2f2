//! Sign-in with OAuth 2.0 / OpenID Connect providers: the authorization
//! request (state, PKCE and nonce kept server-side for `OAUTH_STATE_TTL`),
//! the callback (sign in a linked user, link to the signed-in user, offer an
//! existing account a link it must prove with its password, or create an
//! account), and the linked accounts' list and removal.

use super::notices::Notices;
use super::passwords::{Checked, Passwords};
use super::second_factor::SecondFactors;
use super::{Authenticated, SessionIssuer, SignIn};
use crate::audit_trail::AuditTrail;
use crate::error::AppError;
use crate::ports::{
    AccessClaims, Cipher, Clock, CredentialStore, EphemeralStore, IdentityProviders, LinkedAccount,
    LinkedAccountStore, OAuthRefusal, ProviderError, ProviderIdentity, ProviderTokens, StoreError,
    TokenGenerator, UserRepository,
};
use portcullis_domain::audit::{AuditAction, RequestContext};
use portcullis_domain::email::Email;
use portcullis_domain::secret::{Secret, TokenHash};
use portcullis_domain::session::SignInMethod;
use portcullis_domain::user::{DisplayName, PasswordHash, User};
use portcullis_domain::webauthn::CredentialKind;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::sync::Arc;
use time::Duration;

/// How long an authorization request (and an offered link) can be completed.
pub const OAUTH_STATE_TTL: Duration = Duration::minutes(10);

/// What an authorization request remembers until its callback.
#[derive(Serialize, Deserialize)]
struct PendingAuthorization {
    provider: String,
    pkce_verifier: String,
    nonce: Option<String>,
    /// Set when a signed-in user links a provider account.
    link_user: Option<uuid::Uuid>,
}

/// A link offered to an existing account, until its owner proves it.
#[derive(Serialize, Deserialize)]
struct PendingLink {
    provider: String,
    subject: String,
    email: String,
    sealed_tokens: Vec<u8>,
    user_id: uuid::Uuid,
}

/// How a callback ended.
#[derive(Debug, Clone)]
pub enum OAuthOutcome {
    /// Signed in (or a second-factor challenge).
    SignedIn(SignIn),
    /// The provider account is now linked to the signed-in user.
    Linked(LinkedAccount),
    /// An account has the provider's (verified) address: its owner must
    /// prove it (`confirm_link` with the password) before it is linked.
    LinkRequired { link_id: Secret, provider: String, email: String, expires_in: Duration },
}

#[derive(Debug, Clone)]
pub struct OAuthSettings {
    /// Callbacks are `{base}/api/v1/oauth/{provider}/callback`
    /// (`OAUTH_REDIRECT_BASE_URL`, default `APP_BASE_URL`).
    pub redirect_base_url: String,
    pub reauth_window: Duration,
}

#[derive(Clone)]
pub struct OAuthService {
    pub users: Arc<dyn UserRepository>,
    pub providers: Arc<dyn IdentityProviders>,
    pub linked: Arc<dyn LinkedAccountStore>,
    pub credentials: Arc<dyn CredentialStore>,
    pub states: Arc<dyn EphemeralStore>,
    pub cipher: Arc<dyn Cipher>,
    pub tokens: Arc<dyn TokenGenerator>,
    pub passwords: Passwords,
    pub second: SecondFactors,
    pub issuer: SessionIssuer,
    pub notices: Notices,
    pub audit: AuditTrail,
    pub clock: Arc<dyn Clock>,
    pub settings: OAuthSettings,
}

fn state_key(state: &Secret) -> String {
    format!("oauth-state:{}", TokenHash::of(state).to_hex())
}

fn link_key(id: &Secret) -> String {
    format!("oauth-link:{}", TokenHash::of(id).to_hex())
}

fn provider_error(e: ProviderError) -> AppError {
    match e {
        ProviderError::UnknownProvider => AppError::NotFound("provider"),
        ProviderError::Refused(reason) => AppError::OAuthRefused(reason),
        ProviderError::Unavailable(cause) => AppError::Unavailable(cause),
    }
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, AppError> {
    serde_json::to_vec(value)
        .map_err(|e| AppError::Internal(crate::Cause::context("could not encode OAuth state", e)))
}

/// The context provider tokens are sealed under: a sealed blob moved to
/// another link does not open.
fn token_context(provider: &str, subject: &str) -> Vec<u8> {
    format!("oauth:{provider}:{subject}").into_bytes()
}

impl OAuthService {
    fn redirect_uri(&self, provider: &str) -> String {
        format!("{}/api/v1/oauth/{provider}/callback", self.settings.redirect_base_url.trim_end_matches('/'))
    }

    pub fn provider_names(&self) -> Vec<String> {
        self.providers.names()
    }

    /// Where to send the browser. With `link_for` (a signed-in user, whose
    /// sign-in is recent: adding a way in), the callback links instead.
    pub async fn authorize(
        &self,
        provider: &str,
        link_for: Option<&AccessClaims>,
    ) -> Result<String, AppError> {
        if let Some(claims) = link_for {
            super::require_recent(claims, self.clock.now(), self.settings.reauth_window)?;
        }
        let start =
            self.providers.start(provider, &self.redirect_uri(provider)).await.map_err(provider_error)?;
        let pending = PendingAuthorization {
            provider: provider.to_owned(),
            pkce_verifier: start.pkce_verifier.expose().to_owned(),
            nonce: start.nonce.as_ref().map(|n| n.expose().to_owned()),
            link_user: link_for.map(|c| c.user_id.as_uuid()),
        };
        self.states.put(&state_key(&start.state), &encode(&pending)?, OAUTH_STATE_TTL).await?;
        Ok(start.url)
    }

    /// The provider sent the browser back with `code` and `state`.
    pub async fn callback(
        &self,
        provider: &str,
        code: &Secret,
        state: &Secret,
        ctx: &RequestContext,
    ) -> Result<OAuthOutcome, AppError> {
        if state.expose().is_empty() || state.expose().len() > 256 || code.expose().len() > 2048 {
            return Err(AppError::OAuthStateInvalid);
        }
        // Taken once: a replayed callback finds nothing.
        let raw = self.states.take(&state_key(state)).await?.ok_or(AppError::OAuthStateInvalid)?;
        let pending: PendingAuthorization =
            serde_json::from_slice(&raw).map_err(|_| AppError::OAuthStateInvalid)?;
        if pending.provider != provider {
            return Err(AppError::OAuthStateInvalid);
        }
        let nonce = pending.nonce.map(Secret::new);
        let verifier = Secret::new(pending.pkce_verifier);
        let finished =
            self.providers.finish(provider, &self.redirect_uri(provider), code, &verifier, nonce).await;
        let (identity, tokens) = match finished {
            Ok(done) => done,
            Err(e) => {
                let error = provider_error(e);
                if let AppError::OAuthRefused(reason) = &error {
                    let details =
                        json!({ "method": "oauth", "provider": provider, "reason": reason.as_str() });
                    self.audit.record(AuditAction::LoginFailed, None, ctx, details).await;
                }
                return Err(error);
            }
        };
        let sealed = self.seal(provider, &identity.subject, &tokens)?;
        let now = self.clock.now();
        if let Some(link) = self.linked.find(provider, &identity.subject).await? {
            if pending.link_user.is_some_and(|u| u != link.user_id.as_uuid()) {
                return Err(AppError::OAuthAccountLinked);
            }
            self.linked.record_use(link.id, Some(sealed), now).await?;
            if pending.link_user.is_some() {
                return Ok(OAuthOutcome::Linked(link));
            }
            let user = self.users.find_by_id(link.user_id).await?.ok_or(AppError::Unauthorized)?;
            return Ok(OAuthOutcome::SignedIn(self.sign_in(&user, provider, ctx).await?));
        }
        if let Some(user_id) = pending.link_user {
            let user = self
                .users
                .find_by_id(portcullis_domain::ids::UserId(user_id))
                .await?
                .ok_or(AppError::Unauthorized)?;
            let link = self.link(&user, provider, &identity, sealed, ctx).await?;
            return Ok(OAuthOutcome::Linked(link));
        }
        let email = identity
            .email
            .as_deref()
            .and_then(|e| Email::parse(e).ok())
            .ok_or(AppError::OAuthRefused(OAuthRefusal::NoEmail))?;
        match self.users.find_by_email(&email).await? {
            // An address is no proof of who holds the account: its owner
            // proves it, and only for an address the provider verified.
            Some(existing) if identity.email_verified => {
                let link_id = self.tokens.refresh_token();
                let offer = PendingLink {
                    provider: provider.to_owned(),
                    subject: identity.subject.clone(),
                    email: email.as_str().to_owned(),
                    sealed_tokens: sealed,
                    user_id: existing.id.as_uuid(),
                };
                self.states.put(&link_key(&link_id), &encode(&offer)?, OAUTH_STATE_TTL).await?;
                Ok(OAuthOutcome::LinkRequired {
                    link_id,
                    provider: provider.to_owned(),
                    email: email.as_str().to_owned(),
                    expires_in: OAUTH_STATE_TTL,
                })
            }
            // An account is made only for an address the provider verified:
            // otherwise whoever controls the provider account could claim an
            // address, and keep a way into the account once its real owner
            // takes it over by a password reset (pre-account takeover).
            Some(_) => Err(AppError::OAuthEmailUnverified),
            None if !identity.email_verified => Err(AppError::OAuthEmailUnverified),
            None => {
                let user = self.create(&email, &identity, ctx).await?;
                self.link(&user, provider, &identity, sealed, ctx).await?;
                Ok(OAuthOutcome::SignedIn(self.sign_in(&user, provider, ctx).await?))
            }
        }
    }

    /// The owner of an existing account accepts an offered link with the
    /// account's password (counted like a login), and is signed in.
    pub async fn confirm_link(
        &self,
        link_id: &Secret,
        password: &Secret,
        ctx: &RequestContext,
    ) -> Result<SignIn, AppError> {
        if link_id.expose().is_empty() || link_id.expose().len() > 256 {
            return Err(AppError::OAuthStateInvalid);
        }
        let key = link_key(link_id);
        let raw = self.states.get(&key).await?.ok_or(AppError::OAuthStateInvalid)?;
        let offer: PendingLink = serde_json::from_slice(&raw).map_err(|_| AppError::OAuthStateInvalid)?;
        let user = self
            .users
            .find_by_id(portcullis_domain::ids::UserId(offer.user_id))
            .await?
            .ok_or(AppError::OAuthStateInvalid)?;
        let (checked, _) =
            self.passwords.counted_check(&user.email, Some(&user), password, "oauth_link", ctx).await?;
        if checked == Checked::Mismatch {
            return Err(AppError::InvalidCredentials);
        }
        // Of two right answers, one links.
        if self.states.take(&key).await?.is_none() {
            return Err(AppError::OAuthStateInvalid);
        }
        let identity = ProviderIdentity {
            subject: offer.subject,
            email: Some(offer.email),
            email_verified: true,
            name: None,
        };
        self.link(&user, &offer.provider, &identity, offer.sealed_tokens, ctx).await?;
        self.sign_in(&user, &offer.provider, ctx).await
    }

    pub async fn accounts(&self, claims: &AccessClaims) -> Result<Vec<LinkedAccount>, AppError> {
        Ok(self.linked.list(claims.user_id).await?)
    }

    /// Removes a link (recent sign-in needed). Refused (409
    /// LAST_SIGN_IN_METHOD) when it is the account's only way in: no
    /// password, no passkey, no other link.
    pub async fn unlink(
        &self,
        claims: &AccessClaims,
        id: uuid::Uuid,
        ctx: &RequestContext,
    ) -> Result<(), AppError> {
        super::require_recent(claims, self.clock.now(), self.settings.reauth_window)?;
        let user = self.users.find_by_id(claims.user_id).await?.ok_or(AppError::Unauthorized)?;
        let links = self.linked.list(user.id).await?;
        let Some(link) = links.iter().find(|l| l.id == id) else {
            return Err(AppError::NotFound("linked account"));
        };
        let other_links = links.len() > 1;
        let passkeys =
            self.credentials.list(user.id).await?.iter().any(|c| c.kind == CredentialKind::Passkey);
        if !other_links && !passkeys && !user.password_hash.is_usable() {
            return Err(AppError::LastSignInMethod);
        }
        if !self.linked.unlink(user.id, id).await? {
            return Err(AppError::NotFound("linked account"));
        }
        let details = json!({ "provider": link.provider, "linked_account": id });
        self.audit.record(AuditAction::OAuthUnlinked, Some(user.id), ctx, details).await;
        Ok(())
    }

    fn seal(&self, provider: &str, subject: &str, tokens: &ProviderTokens) -> Result<Vec<u8>, AppError> {
        let plain = json!({
            "access_token": tokens.access_token.expose(),
            "refresh_token": tokens.refresh_token.as_ref().map(|t| t.expose().to_owned()),
            "expires_in": tokens.expires_in.map(|d| d.whole_seconds()),
        });
        Ok(self.cipher.encrypt(plain.to_string().as_bytes(), &token_context(provider, subject)))
    }

    async fn link(
        &self,
        user: &User,
        provider: &str,
        identity: &ProviderIdentity,
        sealed: Vec<u8>,
        ctx: &RequestContext,
    ) -> Result<LinkedAccount, AppError> {
        let now = self.clock.now();
        let link = LinkedAccount {
            id: uuid::Uuid::now_v7(),
            user_id: user.id,
            provider: provider.to_owned(),
            subject: identity.subject.clone(),
            email: identity.email.clone(),
            sealed_tokens: Some(sealed),
            created_at: now,
            last_used_at: Some(now),
        };
        match self.linked.link(&link).await {
            Err(StoreError::Conflict(_)) => return Err(AppError::OAuthAccountLinked),
            other => other?,
        }
        let details = json!({ "provider": provider, "linked_account": link.id });
        self.audit.record(AuditAction::OAuthLinked, Some(user.id), ctx, details).await;
        Ok(link)
    }

    /// A new account for a provider identity whose address the provider
    /// verified: no password (it signs in through the provider; a reset can
    /// add one).
    async fn create(
        &self,
        email: &Email,
        identity: &ProviderIdentity,
        ctx: &RequestContext,
    ) -> Result<User, AppError> {
        let now = self.clock.now();
        let user = User {
            id: portcullis_domain::ids::UserId::new(),
            email: email.clone(),
            display_name: identity.name.as_deref().and_then(|n| DisplayName::parse(n).ok()),
            password_hash: PasswordHash::unusable(),
            created_at: now,
            updated_at: now,
            email_verified_at: Some(now),
            locked_at: None,
        };
        match self.users.insert(&user).await {
            Err(StoreError::Conflict(_)) => return Err(AppError::EmailTaken),
            other => other?,
        }
        let details = json!({ "email": email.as_str(), "method": "oauth" });
        self.audit.record(AuditAction::UserRegistered, Some(user.id), ctx, details).await;
        Ok(user)
    }

    /// A provider is a first factor: the usual challenge when the account
    /// has a second one.
    async fn sign_in(&self, user: &User, provider: &str, ctx: &RequestContext) -> Result<SignIn, AppError> {
        if user.locked_at.is_some() {
            return Err(AppError::AccountDisabled);
        }
        if let Some(challenge) = self.second.challenge(user, SignInMethod::OAuth, ctx).await? {
            return Ok(SignIn::MfaRequired(challenge));
        }
        let tokens = self.issuer.start(user, SignInMethod::OAuth, None, ctx).await?;
        let details = json!({ "method": "oauth", "provider": provider });
        self.audit.record(AuditAction::LoginSucceeded, Some(user.id), ctx, details).await;
        Ok(SignIn::Complete(Authenticated { tokens, user: user.clone() }))
    }
}
